/*
** gemm.c -- products split across the pool, each part by BLAS or, for
** float32 on CPUs with AVX-512, by synlua's own kernel (see gemm.h).
**
** Written once over SY_REAL and compiled for float and double by including
** itself, like rnn.c.
*/
#ifndef SY_REAL

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "../core/threads.h"
#include "gemm.h"

/* Below this many multiply-adds (about 5 us on one core) a product runs on
** the calling thread: waking the pool would cost more than it saves. */
#define SPLIT_MIN_MACS ((int64_t)1 << 18)
/* Parts are whole multiples of the BLAS kernels' register tiles. */
#define SPLIT_ALIGN 16

/* ------------------------------------------------ the float32 kernel */

/* 1: synlua's own, 0: BLAS, -1: not chosen yet (the first product chooses;
** a race between two first products chooses the same) */
static int own_kernel = -1;

int sy_gemm_avx512_available(void) {
#if SY_SGEMM_AVX512
    return __builtin_cpu_supports("avx512f") != 0;
#else
    return 0;
#endif
}

static int use_own_kernel(void) {
    int own = __atomic_load_n(&own_kernel, __ATOMIC_RELAXED);
    if (own < 0) {
        const char *env = getenv("SYNLUA_GEMM");
        own = env && strcmp(env, "blas") == 0 ? 0 : sy_gemm_avx512_available();
        __atomic_store_n(&own_kernel, own, __ATOMIC_RELAXED);
    }
    return own;
}

const char *sy_gemm_kernel(void) { return use_own_kernel() ? "avx512" : "blas"; }

int sy_gemm_set_kernel(const char *name) {
    int own;
    if (strcmp(name, "blas") == 0) own = 0;
    else if (strcmp(name, "avx512") == 0 && sy_gemm_avx512_available()) own = 1;
    else return -1;
    __atomic_store_n(&own_kernel, own, __ATOMIC_RELAXED);
    return 0;
}

#if SY_SGEMM_AVX512
#define SY_OWN_KERNEL sy_sgemm_avx512
#endif

#define SY_REAL float
#define SY_FN(name) name##_f32
#define SY_GEMM cblas_sgemm
#define SY_OWN(job) ((job)->own = use_own_kernel())
#include "gemm.c"
#undef SY_REAL
#undef SY_FN
#undef SY_GEMM
#undef SY_OWN
#undef SY_OWN_KERNEL

#define SY_REAL double
#define SY_FN(name) name##_f64
#define SY_GEMM cblas_dgemm
#define SY_OWN(job) ((job)->own = 0)
#include "gemm.c"
#undef SY_REAL
#undef SY_FN
#undef SY_GEMM
#undef SY_OWN

#else /* ------------------------------------------- typed body (SY_REAL) */

typedef struct {
    int trans_a, trans_b, by_rows, own;   /* own: synlua's kernel, not BLAS */
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
#ifdef SY_OWN_KERNEL
    if (j->own) {
        SY_OWN_KERNEL(j->trans_a, j->trans_b, M, N, j->K, j->alpha, A, j->lda, B, j->ldb,
                      j->beta, C, j->ldc);
        return;
    }
#endif
    SY_GEMM(CblasRowMajor, j->trans_a ? CblasTrans : CblasNoTrans,
            j->trans_b ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)j->K, j->alpha, A,
            (int)j->lda, B, (int)j->ldb, j->beta, C, (int)j->ldc);
}

static void SY_FN(gemm_run)(SY_FN(gemm_job) *job) {
    const int64_t M = job->M, N = job->N, K = job->K;
    if (M == 0 || N == 0) return;
    SY_OWN(job);
    if (M * N * K < SPLIT_MIN_MACS || (M < 2 * SPLIT_ALIGN && N < 2 * SPLIT_ALIGN)) {
        SY_FN(gemm_part)(job, 0, 1);
        return;
    }
    sy_parallel_run(SY_FN(gemm_part), job, sy_parallel_width());
}

void SY_FN(sy_gemm)(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, SY_REAL alpha,
                    const SY_REAL *A, int64_t lda, const SY_REAL *B, int64_t ldb, SY_REAL beta,
                    SY_REAL *C, int64_t ldc) {
    SY_FN(gemm_job) job = {trans_a, trans_b, M >= N, 0, M, N, K, lda, ldb, ldc, alpha, beta,
                           A, B, NULL, C};
    SY_FN(gemm_run)(&job);
}

void SY_FN(sy_gemm_serial)(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                           SY_REAL alpha, const SY_REAL *A, int64_t lda, const SY_REAL *B,
                           int64_t ldb, SY_REAL beta, SY_REAL *C, int64_t ldc) {
    SY_FN(gemm_job) job = {trans_a, trans_b, 1, 0, M, N, K, lda, ldb, ldc, alpha, beta,
                           A, B, NULL, C};
    if (M == 0 || N == 0) return;
    SY_OWN(&job);
    SY_FN(gemm_part)(&job, 0, 1);
}

void SY_FN(sy_gemm_bias)(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                         const SY_REAL *A, int64_t lda, const SY_REAL *B, int64_t ldb,
                         const SY_REAL *bias, SY_REAL *C, int64_t ldc) {
    SY_FN(gemm_job) job = {trans_a, trans_b, M >= N, 0, M, N, K, lda, ldb, ldc, 1,
                           bias ? 1 : 0, A, B, bias, C};
    SY_FN(gemm_run)(&job);
}

#endif
