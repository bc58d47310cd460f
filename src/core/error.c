/*
** error.c -- last-error message, one buffer per thread.
*/
#include <stdarg.h>
#include <stdio.h>

#include "error.h"

static _Thread_local char sy_errbuf[1024];

sy_status sy_error(sy_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sy_errbuf, sizeof sy_errbuf, fmt, ap);
    va_end(ap);
    return status;
}

const char *sy_error_message(void) { return sy_errbuf; }

const char *sy_status_name(sy_status status) {
    switch (status) {
    case SY_OK: return "ok";
    case SY_ERR_ARG: return "bad argument";
    case SY_ERR_SHAPE: return "shape error";
    case SY_ERR_INDEX: return "index error";
    case SY_ERR_DTYPE: return "dtype error";
    case SY_ERR_OOM: return "out of memory";
    case SY_ERR_IO: return "i/o error";
    case SY_ERR_FORMAT: return "format error";
    case SY_ERR_DEVICE: return "device error";
    case SY_ERR_INTERNAL: return "internal error";
    }
    return "unknown error";
}
