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
    const SY_REAL *A, *B;
    SY_REAL *C;
} SY_FN(gemm_job);

static void SY_FN(gemm_part)(void *ctx, int task, int n_tasks) {
    const SY_FN(gemm_job) *j = ctx;
    const SY_REAL *A = j->A, *B = j->B;
    SY_REAL *C = j->C;
    int64_t lo, hi, M = j->M, N = j->N;
    if (j->by_rows) {   /* rows lo..hi of op(A) and C */
        sy_split(M, SPLIT_ALIGN, task, n_tasks, &lo, &hi);
        A += j->trans_a ? lo : lo * j->lda;
        C += lo * j->ldc;
        M = hi - lo;
    } else {            /* columns lo..hi of op(B) and C */
        sy_split(N, SPLIT_ALIGN, task, n_tasks, &lo, &hi);
        B += j->trans_b ? lo * j->ldb : lo;
        C += lo;
        N = hi - lo;
    }
    if (M == 0 || N == 0) return;
    SY_GEMM(CblasRowMajor, j->trans_a ? CblasTrans : CblasNoTrans,
            j->trans_b ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)j->K, j->alpha, A,
            (int)j->lda, B, (int)j->ldb, j->beta, C, (int)j->ldc);
}

void SY_FN(sy_gemm)(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, SY_REAL alpha,
                    const SY_REAL *A, int64_t lda, const SY_REAL *B, int64_t ldb, SY_REAL beta,
                    SY_REAL *C, int64_t ldc) {
    SY_FN(gemm_job) job = {trans_a, trans_b, M >= N, M, N, K, lda, ldb, ldc, alpha, beta,
                           A, B, C};
    int64_t r, c;
    if (M == 0 || N == 0) return;
    if (K == 0) {
        for (r = 0; r < M; r++) {
            SY_REAL *row = C + r * ldc;
            if (beta == 0) memset(row, 0, sizeof *row * (size_t)N);
            else
                for (c = 0; c < N; c++) row[c] *= beta;
        }
        return;
    }
    if (M * N * K < SPLIT_MIN_MACS || (M < 2 * SPLIT_ALIGN && N < 2 * SPLIT_ALIGN)) {
        SY_FN(gemm_part)(&job, 0, 1);
        return;
    }
    sy_parallel_run(SY_FN(gemm_part), &job, sy_parallel_width());
}

#endif
