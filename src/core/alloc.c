/*
** alloc.c -- aligned allocation with accounting, and a cache of large blocks.
**
** glibc serves blocks above its mmap threshold (128 KB) with fresh pages
** and unmaps them on free, so every large temporary pays page faults on
** first touch (about 6 us per 4 KB page on the test machines: 6 ms for a
** 4 MB result). Training loops allocate the same sizes every step, so freed
** large blocks are kept in a small cache and handed out again for the same
** size. The cache is bounded (SY_CACHE_MAX_BYTES) and not thread-safe, like
** the rest of the accounting: one thread drives the core at a time. It has
** room for every large block of a training step of the paper's models: with
** 32 slots a PatchTST step (two encoder blocks, forward and backward) freed
** more distinct blocks than it kept, and each step took ~60 page faults.
**
** Small blocks (tensor headers, autograd nodes, small tensors) are kept too,
** on a free list per size (a multiple of SY_ALIGN): a training step makes
** and frees hundreds of them, and glibc's aligned allocation and its
** consolidation of freed chunks took a third of the fixed per-step cost of
** the encoder benchmark (0.21 ms a step for a batch of one). Under
** AddressSanitizer small blocks are not kept, so that it still sees a use
** after free of a header or a node.
*/
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

#define SY_CACHE_MIN_BLOCK ((size_t)64 << 10)   /* smaller blocks go straight to malloc */
#define SY_CACHE_SLOTS 128
#define SY_CACHE_MAX_BYTES ((size_t)256 << 20)

#define SY_SMALL_CLASSES (SY_CACHE_MIN_BLOCK / SY_ALIGN)   /* sizes 64 .. 64 KB - 64 */
#define SY_SMALL_MAX_BYTES ((size_t)8 << 20)
#if defined(__SANITIZE_ADDRESS__)
#define SY_SMALL_CACHE 0
#else
#define SY_SMALL_CACHE 1
#endif

static int64_t mem_in_use, mem_peak, mem_total, fail_countdown;

/* Free lists of small blocks, one per size class; a kept block holds the
** next one's address in its first bytes. */
static struct {
    void *head[SY_SMALL_CLASSES];
    size_t bytes;
} small;

static struct {
    void *ptr[SY_CACHE_SLOTS];
    size_t size[SY_CACHE_SLOTS];
    int n;
    size_t bytes;
} cache;

static size_t rounded_size(size_t nbytes) {
    size_t r = (nbytes + SY_ALIGN - 1) / SY_ALIGN * SY_ALIGN;
    return r == 0 ? SY_ALIGN : r;
}

static void *cache_take(size_t rounded) {
    int i;
    for (i = cache.n - 1; i >= 0; i--) {   /* most recently freed first: warm in cache */
        if (cache.size[i] == rounded) {
            void *p = cache.ptr[i];
            cache.bytes -= rounded;
            cache.ptr[i] = cache.ptr[cache.n - 1];
            cache.size[i] = cache.size[cache.n - 1];
            cache.n--;
            return p;
        }
    }
    return NULL;
}

/* Keeps p for reuse; evicts the oldest blocks to stay within the bounds. */
static void cache_put(void *p, size_t rounded) {
    int i;
    if (rounded > SY_CACHE_MAX_BYTES / 4) {
        free(p);
        return;
    }
    while (cache.n == SY_CACHE_SLOTS || cache.bytes + rounded > SY_CACHE_MAX_BYTES) {
        free(cache.ptr[0]);
        cache.bytes -= cache.size[0];
        for (i = 1; i < cache.n; i++) {
            cache.ptr[i - 1] = cache.ptr[i];
            cache.size[i - 1] = cache.size[i];
        }
        cache.n--;
    }
    cache.ptr[cache.n] = p;
    cache.size[cache.n] = rounded;
    cache.n++;
    cache.bytes += rounded;
}

static void *small_take(size_t rounded) {
    const size_t c = rounded / SY_ALIGN - 1;
    void *p = small.head[c];
    if (p) {
        memcpy(&small.head[c], p, sizeof(void *));
        small.bytes -= rounded;
    }
    return p;
}

static void small_put(void *p, size_t rounded) {
    const size_t c = rounded / SY_ALIGN - 1;
    if (!SY_SMALL_CACHE || small.bytes + rounded > SY_SMALL_MAX_BYTES) {
        free(p);
        return;
    }
    memcpy(p, &small.head[c], sizeof(void *));
    small.head[c] = p;
    small.bytes += rounded;
}

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
    rounded = rounded_size(nbytes);
    p = rounded >= SY_CACHE_MIN_BLOCK ? cache_take(rounded) : small_take(rounded);
    if (!p && posix_memalign(&p, SY_ALIGN, rounded) != 0) {
        sy_mem_cache_clear();   /* the cache may be what is in the way */
        if (posix_memalign(&p, SY_ALIGN, rounded) != 0) {
            sy_error(SY_ERR_OOM, "out of memory: cannot allocate %zu bytes", nbytes);
            return NULL;
        }
    }
    mem_in_use += (int64_t)nbytes;
    mem_total += (int64_t)nbytes;
    if (mem_in_use > mem_peak) mem_peak = mem_in_use;
    return p;
}

void sy_mem_free(void *p, size_t nbytes) {
    size_t rounded;
    if (!p) return;
    mem_in_use -= (int64_t)nbytes;
    rounded = rounded_size(nbytes);
    if (rounded >= SY_CACHE_MIN_BLOCK) cache_put(p, rounded);
    else small_put(p, rounded);
}

void sy_mem_cache_clear(void) {
    size_t c;
    while (cache.n > 0) free(cache.ptr[--cache.n]);
    cache.bytes = 0;
    for (c = 0; c < SY_SMALL_CLASSES; c++)
        while (small.head[c]) {
            void *p = small.head[c];
            memcpy(&small.head[c], p, sizeof(void *));
            free(p);
        }
    small.bytes = 0;
}

int64_t sy_mem_cached(void) { return (int64_t)(cache.bytes + small.bytes); }
int64_t sy_mem_in_use(void) { return mem_in_use; }
int64_t sy_mem_allocated_total(void) { return mem_total; }
int64_t sy_mem_peak(void) { return mem_peak; }
void sy_mem_reset_peak(void) { mem_peak = mem_in_use; }
void sy_mem_fail_after(int64_t n) { fail_countdown = n > 0 ? n : 0; }
