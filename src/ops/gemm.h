/*
** gemm.h -- the kernels' matrix product: row-major
**   C [M, N] = alpha op(A) op(B) + beta C
** through BLAS (OpenBLAS, kept at one thread: see threads.h) or, for float32
** on CPUs with AVX-512, synlua's own kernel (sgemm_avx512.c), with the
** product split across synlua's pool when it is big enough to pay for it.
** Each thread computes whole rows (or whole columns) of C with the full inner
** dimension, in parts fixed by the thread count, so results are the same on
** every run; across thread counts BLAS's may differ by rounding, as its
** kernels may round a block of rows differently from the whole product
** (synlua's own kernel gives the same bits for any split). Empty products are
** settled here (BLAS rejects leading dimensions of 0): nothing happens when M
** or N is 0, and C = beta C when K is 0. Leading dimensions and sizes must fit
** BLAS's int.
*/
#ifndef SY_GEMM_H
#define SY_GEMM_H

#include <stdint.h>

/* synlua's own float32 kernel exists in builds by GCC for x86-64 glibc (not
** under ThreadSanitizer), the same builds as the other AVX-512 paths. */
#if defined(__x86_64__) && defined(__GLIBC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define SY_SGEMM_AVX512 1
#else
#define SY_SGEMM_AVX512 0
#endif

/* The float32 kernel sy_gemm_f32 runs: "avx512" (synlua's own, the default
** where the build has it and the CPU has AVX-512F, unless the environment
** sets SYNLUA_GEMM=blas) or "blas". */
const char *sy_gemm_kernel(void);
/* 1 where the build has synlua's own kernel and the CPU has AVX-512F */
int sy_gemm_avx512_available(void);
/* Selects it: 0 on success, -1 for a name that is not one of the two or
** "avx512" where the build or the CPU lacks it. Not while products run. */
int sy_gemm_set_kernel(const char *name);

#if SY_SGEMM_AVX512
/* The kernel itself, on the calling thread, with BLAS's arguments and
** rules (C not read when beta is 0; C = beta C when K or alpha is 0). Only
** on a CPU with AVX-512F. Its scratch is on the stack: about 80 KB. */
void sy_sgemm_avx512(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                     const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                     float *C, int64_t ldc);
#endif

void sy_gemm_f32(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                 int64_t ldc);
void sy_gemm_f64(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                 const double *A, int64_t lda, const double *B, int64_t ldb, double beta,
                 double *C, int64_t ldc);

/* The same product on the calling thread only (for kernels that split
** their work across the pool themselves), by the same kernel. */
void sy_gemm_serial_f32(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                        const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                        float *C, int64_t ldc);
void sy_gemm_serial_f64(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                        const double *A, int64_t lda, const double *B, int64_t ldb, double beta,
                        double *C, int64_t ldc);

/* C [M, N] = op(A) op(B) + bias, the bias [N] added to every row (NULL: no
** bias), split like the above; each part of C is initialised from the bias
** by the thread that computes it. */
void sy_gemm_bias_f32(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, const float *A,
                      int64_t lda, const float *B, int64_t ldb, const float *bias, float *C,
                      int64_t ldc);
void sy_gemm_bias_f64(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                      const double *A, int64_t lda, const double *B, int64_t ldb,
                      const double *bias, double *C, int64_t ldc);

#endif
