/*
** alloc.c -- aligned allocation with accounting.
*/
#include <stdlib.h>

#include "alloc.h"
#include "error.h"

static int64_t mem_in_use, mem_peak, fail_countdown;

void *sy_mem_alloc(size_t nbytes) {
    void *p = NULL;
    size_t rounded;
    if (fail_countdown > 0 && --fail_countdown == 0) {
        sy_error(SY_ERR_OOM, "out of memory: allocation of %zu bytes failed (injected)", nbytes);
        return NULL;
    }
    if (nbytes > (size_t)INT64_MAX - SY_ALIGN) {
        sy_error(SY_ERR_OOM, "out of memory: cannot allocate %zu bytes", nbytes);
        return NULL;
    }
    rounded = (nbytes + SY_ALIGN - 1) / SY_ALIGN * SY_ALIGN;
    if (rounded == 0) rounded = SY_ALIGN;
    if (posix_memalign(&p, SY_ALIGN, rounded) != 0) {
        sy_error(SY_ERR_OOM, "out of memory: cannot allocate %zu bytes", nbytes);
        return NULL;
    }
    mem_in_use += (int64_t)nbytes;
    if (mem_in_use > mem_peak) mem_peak = mem_in_use;
    return p;
}

void sy_mem_free(void *p, size_t nbytes) {
    if (!p) return;
    mem_in_use -= (int64_t)nbytes;
    free(p);
}

int64_t sy_mem_in_use(void) { return mem_in_use; }
int64_t sy_mem_peak(void) { return mem_peak; }
void sy_mem_reset_peak(void) { mem_peak = mem_in_use; }
void sy_mem_fail_after(int64_t n) { fail_countdown = n > 0 ? n : 0; }
