/*
** gemm.c -- BLAS products split across the pool (see gemm.h).
**
** Written once over SY_REAL and compiled for float and double by including
** itself, like rnn.c.
*/
#ifndef SY_REAL

#include <cblas.h>
#include <string.h>

#include "../core/threads.h"
#include "gemm.h"

/* Below this many multiply-adds (about 5 us on one core) a product runs on
** the calling thread: waking the pool would cost more than it saves. */
#define SPLIT_MIN_MACS ((int64_t)1 << 18)
/* Parts are whole multiples of the BLAS kernels' register tiles. */
#define SPLIT_ALIGN 16

#define SY_REAL float
#define SY_FN(name) name##_f32
#define SY_GEMM cblas_sgemm
#include "gemm.c"
#undef SY_REAL
#undef SY_FN
#undef SY_GEMM

#define SY_REAL double
#define SY_FN(name) name##_f64
#define SY_GEMM cblas_dgemm
#include "gemm.c"
#undef SY_REAL
#undef SY_FN
#undef SY_GEMM

#else /* ------------------------------------------- typed body (SY_REAL) */

typedef struct {
    int trans_a, trans_b, by_rows;
    int64_t M, N, K, lda, ldb, ldc;
    SY_REAL alpha, beta;
    const SY_REAL *A, *B, *bias;   /* bias: C's part starts as it (beta = 1) */
    SY_REAL *C;
} SY_FN(gemm_job);

static void SY_FN(gemm_part)(void *ctx, int task, int n_tasks) {
    const SY_FN(gemm_job) *j = ctx;
    const SY_REAL *A = j->A, *B = j->B, *bias = j->bias;
    SY_REAL *C = j->C;
    int64_t lo, hi, r, M = j->M, N = j->N;
    if (j->by_rows) {   /* rows lo..hi of op(A) and C */
        sy_split(M, SPLIT_ALIGN, task, n_tasks, &lo, &hi);
        A += j->trans_a ? lo : lo * j->lda;
        C += lo * j->ldc;
        M = hi - lo;
    } else {            /* columns lo..hi of op(B) and C */
        sy_split(N, SPLIT_ALIGN, task, n_tasks, &lo, &hi);
        B += j->trans_b ? lo * j->ldb : lo;
        if (bias) bias += lo;
        C += lo;
        N = hi - lo;
    }
    if (M == 0 || N == 0) return;
    /* each task writes the bias into its own part: no serial pass over C
    ** before the region, and the part is in this core's cache for the GEMM */
    if (bias)
        for (r = 0; r < M; r++) memcpy(C + r * j->ldc, bias, sizeof *C * (size_t)N);
    if (j->K == 0) {
        if (!bias)
            for (r = 0; r < M; r++) {
                SY_REAL *row = C + r * j->ldc;
                int64_t c;
                if (j->beta == 0) memset(row, 0, sizeof *row * (size_t)N);
                else
                    for (c = 0; c < N; c++) row[c] *= j->beta;
            }
        return;
    }
    SY_GEMM(CblasRowMajor, j->trans_a ? CblasTrans : CblasNoTrans,
            j->trans_b ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)j->K, j->alpha, A,
            (int)j->lda, B, (int)j->ldb, j->beta, C, (int)j->ldc);
}

static void SY_FN(gemm_run)(SY_FN(gemm_job) *job) {
    const int64_t M = job->M, N = job->N, K = job->K;
    if (M == 0 || N == 0) return;
    if (M * N * K < SPLIT_MIN_MACS || (M < 2 * SPLIT_ALIGN && N < 2 * SPLIT_ALIGN)) {
        SY_FN(gemm_part)(job, 0, 1);
        return;
    }
    sy_parallel_run(SY_FN(gemm_part), job, sy_parallel_width());
}

void SY_FN(sy_gemm)(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, SY_REAL alpha,
                    const SY_REAL *A, int64_t lda, const SY_REAL *B, int64_t ldb, SY_REAL beta,
                    SY_REAL *C, int64_t ldc) {
    SY_FN(gemm_job) job = {trans_a, trans_b, M >= N, M, N, K, lda, ldb, ldc, alpha, beta,
                           A, B, NULL, C};
    SY_FN(gemm_run)(&job);
}

void SY_FN(sy_gemm_bias)(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                         const SY_REAL *A, int64_t lda, const SY_REAL *B, int64_t ldb,
                         const SY_REAL *bias, SY_REAL *C, int64_t ldc) {
    SY_FN(gemm_job) job = {trans_a, trans_b, M >= N, M, N, K, lda, ldb, ldc, 1,
                           bias ? 1 : 0, A, B, bias, C};
    SY_FN(gemm_run)(&job);
}

#endif
