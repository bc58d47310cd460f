/*
** linear.c -- y = x w^T + b over all rows at once, and its backward: one
** GEMM for the forward, one each for dx and dw (see layers.h), each split
** across the pool when it is big (gemm.h) -- on two threads dx and dw run
** side by side instead -- and the bias gradient's column sums split by
** columns.
**
** The kernels are written once over SY_REAL: this file includes itself
** twice, for float and double, and the public functions below dispatch on
** the dtype.
*/
#ifndef SY_REAL

#include <string.h>

#include "../core/threads.h"
#include "gemm.h"
#include "layers.h"
#include "simd.h"

/* Below this many multiply-adds per product, backward's two products stay
** on the calling thread (gemm.c's threshold for splitting one). */
#define LINEAR_PAIR_MIN_MACS ((int64_t)1 << 18)

/* Columns per pass of the bias gradient: a local block of sums that the
** compiler keeps in vector registers (summing into db itself, it must
** assume db may alias dy and goes one element at a time). */
#define COLSUM_BLOCK 64

#define SY_TYPED_BODY "linear.c"
#include "typed.h"

void sy_linear_forward(sy_tensor *y, const sy_tensor *x, const sy_tensor *w, const sy_tensor *b,
                       int64_t N, int64_t in, int64_t out) {
    SY_DISPATCH(x->dtype, linear_fwd, sy_data_or_null(y), sy_data_or_null(x), sy_data_or_null(w), sy_data_or_null(b), N, in, out);
}

void sy_linear_backward(sy_tensor *dx, sy_tensor *dw, sy_tensor *db, const sy_tensor *dy,
                        const sy_tensor *x, const sy_tensor *w, int64_t N, int64_t in,
                        int64_t out) {
    SY_DISPATCH(dy->dtype, linear_bwd, sy_data_or_null(dx), sy_data_or_null(dw), sy_data_or_null(db), sy_data_or_null(dy), sy_data_or_null(x), sy_data_or_null(w), N, in, out);
}

#else /* ------------------------------------------- typed body (SY_REAL) */

static void SY_FN(linear_fwd)(SY_REAL *y, const SY_REAL *x, const SY_REAL *w, const SY_REAL *b,
                              int64_t N, int64_t in, int64_t out) {
    SY_GEMM_BIAS(0, 1, N, out, in, x, in, w, in, b, y, out);
}

typedef struct {
    SY_REAL *db;
    const SY_REAL *dy;
    int64_t N, out;
} SY_FN(colsum_job);

/* db = column sums of dy, columns split between tasks, each column summed
** over the rows in order (the same bits for any split). */
SY_SIMD_CLONES static void SY_FN(colsum)(void *ctx, int task, int n_tasks) {
    const SY_FN(colsum_job) *j = ctx;
    SY_REAL acc[COLSUM_BLOCK];
    int64_t lo, hi, c0, r, c, n;
    sy_split(j->out, 16, task, n_tasks, &lo, &hi);
    for (c0 = lo; c0 < hi; c0 += COLSUM_BLOCK) {
        n = hi - c0 < COLSUM_BLOCK ? hi - c0 : COLSUM_BLOCK;
        for (c = 0; c < n; c++) acc[c] = 0;
        for (r = 0; r < j->N; r++) {
            const SY_REAL *g = j->dy + r * j->out + c0;
            for (c = 0; c < n; c++) acc[c] += g[c];
        }
        memcpy(j->db + c0, acc, sizeof *acc * (size_t)n);
    }
}

typedef struct {
    SY_REAL *dx, *dw;
    const SY_REAL *dy, *x, *w;
    const SY_FN(colsum_job) *cj;
    int64_t N, in, out;
} SY_FN(bwd_job);

/* Task 0: dx, then db; task 1: dw. The bias sums go with dx: dw's product
** (K = the batch rows, M and N the layer's widths) is the slower of the two
** in OpenBLAS at the encoder's shapes, and with db beside it the caller
** waited ~30 us a call for the worker (2-thread encoder step, instrumented
** pool: 85 -> 15-21 ms of waiting over 405 steps). */
static void SY_FN(bwd_pair)(void *ctx, int task, int n_tasks) {
    const SY_FN(bwd_job) *j = ctx;
    (void)n_tasks;
    if (task == 0) {
        SY_GEMM(0, 0, j->N, j->in, j->out, 1, j->dy, j->out, j->w, j->in, 0, j->dx, j->in);
        if (j->cj->db) SY_FN(colsum)((void *)j->cj, 0, 1);
        return;
    }
    SY_GEMM(1, 0, j->out, j->in, j->N, 1, j->dy, j->out, j->x, j->in, 0, j->dw, j->in);
}

static void SY_FN(linear_bwd)(SY_REAL *dx, SY_REAL *dw, SY_REAL *db, const SY_REAL *dy,
                              const SY_REAL *x, const SY_REAL *w, int64_t N, int64_t in,
                              int64_t out) {
    SY_FN(colsum_job) cj = {db, dy, N, out};
    SY_FN(bwd_job) bj = {dx, dw, dy, x, w, &cj, N, in, out};
    /* On two threads dx and dw (the same multiply-adds) run side by side, one
    ** whole product per thread: splitting each of them instead makes both
    ** threads pack the shared operand and run narrower kernels. */
    if (dx && dw && N * in * out >= LINEAR_PAIR_MIN_MACS && sy_parallel_width() == 2) {
        sy_parallel_run(SY_FN(bwd_pair), &bj, 2);
        return;
    }
    if (dx) SY_GEMM(0, 0, N, in, out, 1, dy, out, w, in, 0, dx, in);
    if (dw) SY_GEMM(1, 0, out, in, N, 1, dy, out, x, in, 0, dw, in);
    if (db) sy_parallel_run(SY_FN(colsum), &cj, N * out < (1 << 16) ? 1 : sy_parallel_width());
}

#endif
