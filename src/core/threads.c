/*
** threads.c -- the thread knob and synlua's pool (see threads.h).
**
** Tasks are claimed, not assigned: a region publishes one atomic word (its
** generation, task count and next unclaimed task); the caller runs task 0
** and then claims tasks like any worker, so a region never waits for a
** worker that has not been scheduled yet -- on a loaded machine (more
** runnable threads than cores) the caller simply runs the rest itself,
** and only a task already started elsewhere is waited for. Results do not
** depend on which thread runs a task: a task's work is fixed by its number.
**
** Waking is a per-worker generation counter: the caller bumps the counters
** of the workers it wants; each worker spins on its counter for a while
** after its last task (regions come in bursts: a training step runs
** several, microseconds apart), then sleeps on a condition variable.
*/
#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "threads.h"

#define MAX_WORKERS 63
/* How an idle worker waits for the next region: it spins for SPIN_NS, then
** spins yielding its core (sched_yield: returns at once when nothing else
** wants the core) until YIELD_NS, then sleeps on the condition variable.
** The gaps between the regions of a training step (Lua, the autograd engine,
** the small ops between two layers) run up to ~100 us in the encoder
** benchmark; a worker that slept in them must be woken by a futex, which on
** these VMs costs tens of microseconds: with 50 us of spinning and no
** yielding phase the caller of the encoder's GEMMs waited for its worker
** ~30% of each region. Spinning without yielding that long instead slowed
** two 2-thread processes sharing the two cores by ~30%: there a spinning
** worker takes the time of the other process's caller. */
#define SPIN_NS 50000
#define YIELD_NS 500000

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int n_workers;                       /* started so far */
    atomic_int sleeping;                 /* workers waiting on `wake` */
    atomic_uint go[MAX_WORKERS];         /* bumped to start worker i on a region */
    unsigned go_at_start[MAX_WORKERS];   /* go[i] when worker i was created */
    /* the region: fn and ctx are written before `claim` is published and
    ** stay until every task of it is done */
    sy_task_fn fn;
    void *ctx;
    _Atomic uint64_t claim;   /* generation << 32 | n_tasks << 16 | next unclaimed task */
    atomic_int done;          /* claimed tasks finished */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static int num_threads = 1;
static _Thread_local int in_task;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Runs unclaimed tasks of the current region until none is left. A claim
** succeeds only while the region it read is still current, and a region
** cannot end while one of its tasks is claimed and unfinished, so fn and
** ctx read after a claim are that region's. */
static void run_claimed(void) {
    uint64_t w = atomic_load_explicit(&pool.claim, memory_order_acquire);
    for (;;) {
        const unsigned next = (unsigned)(w & 0xffff), n = (unsigned)(w >> 16 & 0xffff);
        if (next >= n) return;
        if (atomic_compare_exchange_weak_explicit(&pool.claim, &w, w + 1, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            pool.fn(pool.ctx, (int)next, (int)n);
            atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
            w = atomic_load_explicit(&pool.claim, memory_order_acquire);
        }
    }
}

static void *worker_main(void *arg) {
    const int id = (int)(intptr_t)arg;
    unsigned seen = pool.go_at_start[id];   /* go[id] may be bumped before this thread runs */
    in_task = 1;   /* a region started from a task runs inline */
    for (;;) {
        const int64_t start = now_ns();
        int spins = 0;
        while (atomic_load_explicit(&pool.go[id], memory_order_acquire) == seen) {
            int64_t idle;
            cpu_relax();
            if (++spins % 64 != 0) continue;
            idle = now_ns() - start;
            if (idle > SPIN_NS && idle <= YIELD_NS) sched_yield();
            if (idle > YIELD_NS) {
                /* seq_cst on `sleeping` and `go` on both sides: either the
                ** caller sees this worker asleep and broadcasts, or the
                ** worker sees the new counter and does not sleep */
                pthread_mutex_lock(&pool.lock);
                atomic_fetch_add(&pool.sleeping, 1);
                while (atomic_load(&pool.go[id]) == seen) pthread_cond_wait(&pool.wake, &pool.lock);
                atomic_fetch_sub(&pool.sleeping, 1);
                pthread_mutex_unlock(&pool.lock);
            }
        }
        seen = atomic_load_explicit(&pool.go[id], memory_order_acquire);
        run_claimed();
    }
    return NULL;
}

/* Starts workers until there are `want`, or as many as the system allows:
** after a failed start it does not try again until asked for a new count. */
static void start_workers(int want) {
    static int failed_want = -1;
    if (want > MAX_WORKERS) want = MAX_WORKERS;
    if (want == failed_want) return;
    while (pool.n_workers < want) {
        pthread_t t;
        pool.go_at_start[pool.n_workers] = atomic_load(&pool.go[pool.n_workers]);
        if (pthread_create(&t, NULL, worker_main, (void *)(intptr_t)pool.n_workers) != 0) {
            failed_want = want;
            return;
        }
        pthread_detach(t);
        pool.n_workers++;
    }
}

/* A forked child has only the thread that forked: start afresh. */
static void after_fork_child(void) {
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pool.n_workers = 0;
    atomic_store(&pool.sleeping, 0);
    atomic_store(&pool.claim, 0);
    atomic_store(&pool.done, 0);
}

void sy_set_num_threads(int n) {
    static int registered;
    if (n < 1) n = 1;
    num_threads = n;
    openblas_set_num_threads(1);
    if (!registered) registered = pthread_atfork(NULL, NULL, after_fork_child) == 0;
}

int sy_get_num_threads(void) { return num_threads; }

int sy_parallel_width(void) {
    if (in_task || num_threads < 2) return 1;
    start_workers(num_threads - 1);
    return pool.n_workers + 1 < num_threads ? pool.n_workers + 1 : num_threads;
}

void sy_parallel_run(sy_task_fn fn, void *ctx, int n_tasks) {
    static uint32_t generation;
    const int width = sy_parallel_width();
    int i, spins = 0;
    if (n_tasks > width) n_tasks = width;
    if (n_tasks <= 1) {
        const int was = in_task;
        in_task = 1;
        fn(ctx, 0, 1);
        in_task = was;
        return;
    }
    pool.fn = fn;
    pool.ctx = ctx;
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    /* task 0 is the caller's */
    atomic_store_explicit(&pool.claim, (uint64_t)++generation << 32 | (uint64_t)n_tasks << 16 | 1,
                          memory_order_release);
    for (i = 0; i < n_tasks - 1; i++) atomic_fetch_add(&pool.go[i], 1);
    if (atomic_load(&pool.sleeping) > 0) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }
    in_task = 1;
    fn(ctx, 0, n_tasks);
    run_claimed();
    in_task = 0;
    while (atomic_load_explicit(&pool.done, memory_order_acquire) < n_tasks - 1) {
        cpu_relax();
        if (++spins % 1024 == 0) sched_yield();   /* a worker may have lost its core */
    }
}

void sy_split(int64_t n, int64_t align, int task, int n_tasks, int64_t *lo, int64_t *hi) {
    const int64_t units = (n + align - 1) / align;
    const int64_t a = units * task / n_tasks * align, b = units * (task + 1) / n_tasks * align;
    *lo = a < n ? a : n;
    *hi = b < n ? b : n;
}
