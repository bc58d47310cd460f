/*
** gemm.h -- the kernels' matrix product: row-major
**   C [M, N] = alpha op(A) op(B) + beta C
** through BLAS (OpenBLAS, kept at one thread: see threads.h), with the
** product split across synlua's pool when it is big enough to pay for it.
** Each thread computes whole rows (or whole columns) of C with the full inner
** dimension, in parts fixed by the thread count, so results are the same on
** every run; across thread counts they may differ by rounding, as BLAS
** kernels may round a block of rows differently from the whole product. Empty products are settled
** here (BLAS rejects leading dimensions of 0): nothing happens when M or N is
** 0, and C = beta C when K is 0. Leading dimensions and sizes must fit BLAS's
** int.
*/
#ifndef SY_GEMM_H
#define SY_GEMM_H

#include <stdint.h>

void sy_gemm_f32(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                 int64_t ldc);
void sy_gemm_f64(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, double alpha,
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
