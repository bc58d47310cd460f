/*
** linear.c -- y = x w^T + b over all rows at once, and its backward: one
** GEMM for the forward, one each for dx and dw (see layers.h).
**
** The kernels are written once over SY_REAL: this file includes itself
** twice, for float (cblas_sgemm) and double (cblas_dgemm), and the public
** functions below dispatch on the dtype.
*/
#ifndef SY_REAL

#include <cblas.h>
#include <string.h>

#include "layers.h"

#define SY_REAL float
#define SY_FN(name) name##_f32
#define SY_GEMM cblas_sgemm
#include "linear.c"
#undef SY_REAL
#undef SY_FN
#undef SY_GEMM

#define SY_REAL double
#define SY_FN(name) name##_f64
#define SY_GEMM cblas_dgemm
#include "linear.c"
#undef SY_REAL
#undef SY_FN
#undef SY_GEMM

#define DISPATCH(dt, fn, ...) ((dt) == SY_F32 ? fn##_f32(__VA_ARGS__) : fn##_f64(__VA_ARGS__))

static void *ptr(const sy_tensor *t) { return t ? sy_tensor_data(t) : NULL; }

void sy_linear_forward(sy_tensor *y, const sy_tensor *x, const sy_tensor *w, const sy_tensor *b,
                       int64_t N, int64_t in, int64_t out) {
    DISPATCH(x->dtype, linear_fwd, ptr(y), ptr(x), ptr(w), ptr(b), N, in, out);
}

void sy_linear_backward(sy_tensor *dx, sy_tensor *dw, sy_tensor *db, const sy_tensor *dy,
                        const sy_tensor *x, const sy_tensor *w, int64_t N, int64_t in,
                        int64_t out) {
    DISPATCH(dy->dtype, linear_bwd, ptr(dx), ptr(dw), ptr(db), ptr(dy), ptr(x), ptr(w), N, in, out);
}

#else /* ------------------------------------------- typed body (SY_REAL) */

/* Row-major C [M, N] = op(A) op(B) + beta C. BLAS rejects leading
** dimensions of 0, so empty products are settled here: nothing to write when
** M or N is 0, and C = beta C (beta is 0 or 1) when the inner size K is 0. */
static void SY_FN(gemm)(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                        const SY_REAL *A, int64_t lda, const SY_REAL *B, int64_t ldb, SY_REAL beta,
                        SY_REAL *C, int64_t ldc) {
    if (M == 0 || N == 0) return;
    if (K == 0) {
        if (beta == 0) memset(C, 0, sizeof *C * (size_t)(M * N));
        return;
    }
    SY_GEMM(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
            (int)M, (int)N, (int)K, 1, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

static void SY_FN(linear_fwd)(SY_REAL *y, const SY_REAL *x, const SY_REAL *w, const SY_REAL *b,
                              int64_t N, int64_t in, int64_t out) {
    int64_t r;
    /* the bias goes in first, so the GEMM adds onto it (beta = 1) */
    if (b)
        for (r = 0; r < N; r++) memcpy(y + r * out, b, sizeof *y * (size_t)out);
    SY_FN(gemm)(0, 1, N, out, in, x, in, w, in, b ? 1 : 0, y, out);
}

static void SY_FN(linear_bwd)(SY_REAL *dx, SY_REAL *dw, SY_REAL *db, const SY_REAL *dy,
                              const SY_REAL *x, const SY_REAL *w, int64_t N, int64_t in,
                              int64_t out) {
    int64_t r, j;
    if (dx) SY_FN(gemm)(0, 0, N, in, out, dy, out, w, in, 0, dx, in);
    if (dw) SY_FN(gemm)(1, 0, out, in, N, dy, out, x, in, 0, dw, in);
    if (db) {
        memset(db, 0, sizeof *db * (size_t)out);
        for (r = 0; r < N; r++) {
            const SY_REAL *g = dy + r * out;
            for (j = 0; j < out; j++) db[j] += g[j];
        }
    }
}

#endif
