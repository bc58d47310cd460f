/*
** error.h -- status codes and the last-error message of the synlua core.
**
** The core never exits, aborts or longjmps: every fallible function returns a
** sy_status and, on failure, leaves a human-readable message that
** sy_error_message() returns (per thread). Only the Lua binding turns these
** into Lua errors.
*/
#ifndef SY_ERROR_H
#define SY_ERROR_H

typedef enum sy_status {
    SY_OK = 0,
    SY_ERR_ARG,      /* bad argument value (negative size, unknown option) */
    SY_ERR_SHAPE,    /* shapes do not match or cannot broadcast */
    SY_ERR_INDEX,    /* index or dimension out of range */
    SY_ERR_DTYPE,    /* operation not defined for this dtype */
    SY_ERR_OOM,      /* allocation failed */
    SY_ERR_IO,       /* file could not be read or written */
    SY_ERR_FORMAT,   /* malformed input file */
    SY_ERR_DEVICE,   /* device not available / mismatched devices */
    SY_ERR_INTERNAL  /* a bug in synlua; the message says where */
} sy_status;

/* Sets the message (printf-style) and returns `status`, so callers write
** `return sy_error(SY_ERR_SHAPE, "matmul: ...", ...);`. */
sy_status sy_error(sy_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Message of the most recent failure on this thread ("" if none). */
const char *sy_error_message(void);

/* Short name of a status code ("shape error", ...). */
const char *sy_status_name(sy_status status);

#endif
