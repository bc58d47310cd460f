/*
** threads.h -- the one thread knob and the pool behind it.
**
** sy_set_num_threads(n) sizes synlua's own pool: n - 1 persistent worker
** threads plus the calling thread. OpenBLAS is kept at one thread for good:
** the kernels call BLAS from inside the pool's tasks and split the big
** products across the pool themselves (sy_gemm_*, src/ops/gemm.h), so two
** pools never spin on the same cores.
**
** A parallel region runs task k = 0 .. n-1 of a function on up to n threads
** (the caller runs task 0, then, like the workers, any task not yet claimed,
** so a worker the system has not scheduled holds nothing up) and returns
** when all are done. Tasks split their work by task number alone
** (sy_split), never by timing or thread, so every output element is
** computed by one task in a fixed order and results are the same on every
** run. Tasks must not wait for one another: two may run one after the other
** on one thread. Tasks must not allocate through the core (the allocator is not
** thread-safe) or fail: workspace is made before the region. A region
** started from inside a task runs its tasks one after another on the
** calling thread.
*/
#ifndef SY_THREADS_H
#define SY_THREADS_H

#include <stdint.h>

void sy_set_num_threads(int n);   /* n >= 1 */
int sy_get_num_threads(void);

/* fn(ctx, k, n) for k = 0 .. n-1. */
typedef void (*sy_task_fn)(void *ctx, int task, int n_tasks);

/* The number of tasks a region started now would get: 1 inside a task,
** else the thread count, less any workers that could not be started. */
int sy_parallel_width(void);

/* Runs fn over min(n_tasks, sy_parallel_width()) tasks (at least 1) and
** returns when all are done. */
void sy_parallel_run(sy_task_fn fn, void *ctx, int n_tasks);

/* Task k's share [*lo, *hi) of [0, n) in n_tasks contiguous parts whose
** inner boundaries are multiples of align (so SIMD blocks or BLAS tiles
** stay whole); a part may be empty. */
void sy_split(int64_t n, int64_t align, int task, int n_tasks, int64_t *lo, int64_t *hi);

#endif
