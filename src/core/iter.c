/*
** iter.c -- the strided loop nest behind elementwise kernels, run on one
** thread or split across the pool (see iter.h).
*/
#include "iter.h"

#include "threads.h"

/* The merged loop nest: nd dims of sizes sz, byte strides st per operand. */
typedef struct {
    int nops, nd;
    int64_t sz[SY_MAX_DIMS], st[SY_ITER_MAX_OPS][SY_MAX_DIMS], inner[SY_ITER_MAX_OPS];
    char *base[SY_ITER_MAX_OPS];
    sy_row_fn fn;
    void *ctx;
    int64_t total;   /* elements */
} iter_plan;

/* Drops size-1 dims, then merges dim i into the previous one when every
** operand is contiguous across the pair. Returns 0 for an empty iteration. */
static int plan_make(iter_plan *p, int nops, const sy_tensor *const *ops, int ndim,
                     const int64_t *size, sy_row_fn fn, void *ctx) {
    int nd = 0, i, k;
    for (i = 0; i < ndim; i++)
        if (size[i] == 0) return 0;
    for (i = 0; i < ndim; i++) {
        if (size[i] == 1) continue;
        if (nd > 0) {
            int merge = 1;
            for (k = 0; k < nops; k++)
                if (p->st[k][nd - 1] != ops[k]->stride[i] * size[i]) { merge = 0; break; }
            if (merge) {
                p->sz[nd - 1] *= size[i];
                for (k = 0; k < nops; k++) p->st[k][nd - 1] = ops[k]->stride[i];
                continue;
            }
        }
        p->sz[nd] = size[i];
        for (k = 0; k < nops; k++) p->st[k][nd] = ops[k]->stride[i];
        nd++;
    }
    p->total = 1;
    for (i = 0; i < nd; i++) p->total *= p->sz[i];
    for (k = 0; k < nops; k++) {
        int64_t es = sy_dtype_size(ops[k]->dtype);
        p->base[k] = (char *)sy_tensor_data(ops[k]);
        for (i = 0; i < nd; i++) p->st[k][i] *= es;
        p->inner[k] = nd > 0 ? p->st[k][nd - 1] : es;
    }
    p->nops = nops;
    p->nd = nd;
    p->fn = fn;
    p->ctx = ctx;
    return 1;
}

/* The elements [lo, hi) in row-major order over the merged dims: the rows
** they cover, the first and last possibly in part. Over [0, total) these
** are the whole rows, one call each. */
static void plan_run(const iter_plan *p, int64_t lo, int64_t hi) {
    int64_t idx[SY_MAX_DIMS], rest = lo, pos = lo;
    char *ptr[SY_ITER_MAX_OPS];
    const int nd = p->nd;
    int i, k;
    if (nd == 0) {   /* a single element */
        for (k = 0; k < p->nops; k++) ptr[k] = p->base[k];
        if (lo < hi) p->fn(1, ptr, p->inner, p->ctx);
        return;
    }
    for (i = nd - 1; i >= 0; i--) {
        idx[i] = rest % p->sz[i];
        rest /= p->sz[i];
    }
    while (pos < hi) {
        int64_t n = p->sz[nd - 1] - idx[nd - 1];
        if (n > hi - pos) n = hi - pos;
        for (k = 0; k < p->nops; k++) {
            ptr[k] = p->base[k];
            for (i = 0; i < nd; i++) ptr[k] += idx[i] * p->st[k][i];
        }
        p->fn(n, ptr, p->inner, p->ctx);
        pos += n;
        idx[nd - 1] = 0;
        for (i = nd - 2; i >= 0; i--) {
            if (++idx[i] < p->sz[i]) break;
            idx[i] = 0;
        }
    }
}

void sy_iter_run(int nops, const sy_tensor *const *ops, int ndim, const int64_t *size,
                 sy_row_fn fn, void *ctx) {
    iter_plan p;
    if (plan_make(&p, nops, ops, ndim, size, fn, ctx)) plan_run(&p, 0, p.total);
}

/* Splitting is safe when every output element is written once (no
** expanded dim in the output) and no input overlaps the output other than
** as the very same view (in-place ops read each element before writing
** it; a shifted view would read what another task already wrote). */
static int split_safe(const iter_plan *p, const sy_tensor *const *ops) {
    int i, k;
    for (i = 0; i < p->nd; i++)
        if (p->st[0][i] == 0) return 0;
    for (k = 1; k < p->nops; k++) {
        if (ops[k]->storage != ops[0]->storage) continue;
        if (p->base[k] != p->base[0] || sy_dtype_size(ops[k]->dtype) != sy_dtype_size(ops[0]->dtype))
            return 0;
        for (i = 0; i < p->nd; i++)
            if (p->st[k][i] != p->st[0][i]) return 0;
    }
    return 1;
}

static void plan_task(void *ctx, int task, int n_tasks) {
    const iter_plan *p = ctx;
    int64_t lo, hi;
    /* parts of whole 64-element blocks: vector loops and cache lines stay whole */
    sy_split(p->total, 64, task, n_tasks, &lo, &hi);
    plan_run(p, lo, hi);
}

void sy_iter_run_split(int nops, const sy_tensor *const *ops, int ndim, const int64_t *size,
                       sy_row_fn fn, void *ctx) {
    iter_plan p;
    int64_t tasks;
    if (!plan_make(&p, nops, ops, ndim, size, fn, ctx)) return;
    tasks = sy_elementwise_tasks(p.total);
    if (tasks > 1 && split_safe(&p, ops)) sy_parallel_run(plan_task, &p, (int)tasks);
    else plan_run(&p, 0, p.total);
}

int sy_elementwise_tasks(int64_t n) {
    int64_t width;
    if (n < SY_ELEMENTWISE_SPLIT_MIN) return 1;
    width = sy_parallel_width();
    /* at least half the threshold per task: smaller parts cost more to wake than they save */
    if (width > n / (SY_ELEMENTWISE_SPLIT_MIN / 2)) width = n / (SY_ELEMENTWISE_SPLIT_MIN / 2);
    return width > 1 ? (int)width : 1;
}
