/*
** alloc.h -- the core's allocator: 64-byte aligned blocks with byte
** accounting, so the binding can tell the Lua GC how much memory tensors hold
** and benchmarks can report it. Freed blocks are cached for reuse
** (see alloc.c). A failure hook lets tests make the n-th
** allocation fail.
*/
#ifndef SY_ALLOC_H
#define SY_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#define SY_ALIGN 64

/* Returns NULL (and sets the error message) on failure or when nbytes is
** absurd. Zero bytes gives a valid, unique, freeable block. */
void *sy_mem_alloc(size_t nbytes);
/* nbytes must be the size passed to sy_mem_alloc. NULL is ignored. */
void sy_mem_free(void *p, size_t nbytes);

int64_t sy_mem_in_use(void);   /* bytes currently allocated by the core */
int64_t sy_mem_cached(void);   /* freed blocks kept for reuse (not in use) */
void sy_mem_cache_clear(void); /* returns the cached blocks to the system */
int64_t sy_mem_peak(void);     /* high-water mark since start or reset */
int64_t sy_mem_allocated_total(void);   /* bytes ever allocated (monotonic) */
void sy_mem_reset_peak(void);

/* Testing: make the n-th allocation from now fail (n >= 1); 0 disables. */
void sy_mem_fail_after(int64_t n);

#endif
