/*
** sgemm_avx512.c -- synlua's own float32 GEMM for CPUs with AVX-512:
**   C [M, N] = alpha op(A) op(B) + beta C, row-major,
** the kernel sy_gemm_f32 runs instead of cblas_sgemm when the CPU has
** AVX-512F (the choice is gemm.c's; see gemm.h).
**
** Why synlua has one: its layers' products are small (a few hundred rows,
** 64-256 columns, an inner dimension of 64-1024), and OpenBLAS runs them
** with the kernels its runtime detection or OPENBLAS_CORETYPE picks -- on
** this project's machines the Haswell ones, eight lanes per FMA -- while the
** CPU has sixteen-lane FMAs. On the encoder's shapes this kernel runs at
** about twice OpenBLAS's rate there (bench/layers.lua prints both). Doubles,
** other CPUs, other compilers and SYNLUA_GEMM=blas stay on BLAS.
**
** The scheme is Goto's, cut down to what such sizes need: C in blocks of
** MR = 6 rows by NR = 64 columns (four vectors), held in 24 accumulators
** while k runs over a chunk of at most KC; the block's six values of op(A)
** for a k are broadcast from A as it lies (adjacent when A is transposed,
** lda apart when not: no packing), and its row k of op(B) is four loads
** from B as it lies, except when B is transposed: then the columns of a
** block are first copied into a KC x NR panel on the stack, once for all
** the rows. Columns past N are masked off in loads and stores; a product
** of fewer than 16 columns with A transposed (a weight gradient of a layer
** with few outputs) runs as its transpose (see transposed).
**
** Every element of C is one chain of FMAs over k in order within a chunk,
** scaled by alpha, and the chunks are added in order: the same bits for any
** split of the rows or columns between threads, and on every run.
*/
#include "gemm.h"

#if SY_SGEMM_AVX512

#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#define MR 6
#define NR 64
#define KC 256
/* A product of fewer than 16 columns is computed transposed (see
** transposed), C^T's columns MT at a time */
#define MT 256

#define TARGET __attribute__((target("avx512f")))

/* One block: C [mr, 16 nv] (the last vector's lanes in `last`) = alpha
** op(A) op(B) over kc values of k, + beta C unless beta is 0 (C not read).
** a: op(A)'s element (0, 0) of the block; b: op(B)'s row 0 of the block,
** rows ldb apart. mr, nv and ta are constants where this is expanded. */
__attribute__((target("avx512f"), always_inline)) static inline void
block(const int mr, const int nv, const int ta, __mmask16 last, int64_t kc, const float *a,
      int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc, float alpha, float beta) {
    const int64_t sai = ta ? 1 : lda, sak = ta ? lda : 1;
    __m512 acc[MR][4], bv[4], x;
    int64_t k;
    int r, v;
#pragma GCC unroll 6
    for (r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (v = 0; v < nv; v++) acc[r][v] = _mm512_setzero_ps();
    for (k = 0; k < kc; k++, a += sak, b += ldb) {
#pragma GCC unroll 4
        for (v = 0; v < nv; v++)
            bv[v] = v == nv - 1 ? _mm512_maskz_loadu_ps(last, b + 16 * v) : _mm512_loadu_ps(b + 16 * v);
#pragma GCC unroll 6
        for (r = 0; r < mr; r++) {
            const __m512 av = _mm512_set1_ps(a[r * sai]);
#pragma GCC unroll 4
            for (v = 0; v < nv; v++) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 6
    for (r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (v = 0; v < nv; v++) {
            const __mmask16 m = v == nv - 1 ? last : (__mmask16)0xffff;
            float *cv = c + r * ldc + 16 * v;
            x = _mm512_mul_ps(acc[r][v], _mm512_set1_ps(alpha));
            if (beta != 0)
                x = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(m, cv), x);
            _mm512_mask_storeu_ps(cv, m, x);
        }
}

typedef void (*block_fn)(__mmask16 last, int64_t kc, const float *a, int64_t lda, const float *b,
                         int64_t ldb, float *c, int64_t ldc, float alpha, float beta);

/* The 2 x MR x 4 expansions: (transposed A?, rows, vectors) */
#define BLOCK(mr, nv, ta)                                                                          \
    TARGET static void block_##mr##_##nv##_##ta(__mmask16 last, int64_t kc, const float *a,      \
                                                 int64_t lda, const float *b, int64_t ldb,       \
                                                 float *c, int64_t ldc, float alpha, float beta) { \
        block(mr, nv, ta, last, kc, a, lda, b, ldb, c, ldc, alpha, beta);                          \
    }
#define BLOCK_NV(mr, ta) BLOCK(mr, 1, ta) BLOCK(mr, 2, ta) BLOCK(mr, 3, ta) BLOCK(mr, 4, ta)
#define BLOCK_MR(ta)                                                                               \
    BLOCK_NV(1, ta) BLOCK_NV(2, ta) BLOCK_NV(3, ta) BLOCK_NV(4, ta) BLOCK_NV(5, ta) BLOCK_NV(6, ta)
BLOCK_MR(0)
BLOCK_MR(1)

#define ROW_NV(mr, ta) {block_##mr##_1_##ta, block_##mr##_2_##ta, block_##mr##_3_##ta, block_##mr##_4_##ta}
#define ROW_MR(ta)                                                                                 \
    {ROW_NV(1, ta), ROW_NV(2, ta), ROW_NV(3, ta), ROW_NV(4, ta), ROW_NV(5, ta), ROW_NV(6, ta)}
static const block_fn blocks[2][MR][4] = {ROW_MR(0), ROW_MR(1)};

/* A 16 x 16 transpose in registers, in four rounds: round d swaps the
** d x d blocks off the diagonal of each 2d x 2d block, rows i and i + d
** (bit d of i clear) exchanging their lanes with bit d set and clear. */
__attribute__((target("avx512f"), always_inline)) static inline void transpose16(__m512 *r) {
    int d, i, c;
#pragma GCC unroll 4
    for (d = 8; d >= 1; d /= 2) {
        int32_t lo[16], hi[16];
        for (c = 0; c < 16; c++) {
            lo[c] = c & d ? 16 + c - d : c;   /* row i: its own lanes, i + d's shifted in */
            hi[c] = c & d ? 16 + c : c + d;   /* row i + d: i's lanes shifted out, its own */
        }
        const __m512i ilo = _mm512_loadu_si512(lo), ihi = _mm512_loadu_si512(hi);
#pragma GCC unroll 16
        for (i = 0; i < 16; i++)
            if (!(i & d)) {
                const __m512 a = r[i], b = r[i + d];
                r[i] = _mm512_permutex2var_ps(a, ilo, b);
                r[i + d] = _mm512_permutex2var_ps(a, ihi, b);
            }
    }
}

/* panel [kc, w] (rows NR apart) = op(B) = B^T's rows 0..kc-1, columns
** 0..w-1, for B's rows ldb apart: 16 x 16 tiles transposed in registers.
** A tile's lanes past kc are not loaded (zero) and its rows past w are
** zero; both land only where the block kernels mask lanes off or never
** reach. */
TARGET static void pack_bt(float *panel, const float *b, int64_t ldb, int64_t kc, int64_t w) {
    __m512 r[16];
    int64_t j, k;
    int i;
    for (k = 0; k < kc; k += 16) {
        const int kn = kc - k < 16 ? (int)(kc - k) : 16;
        const __mmask16 km = (__mmask16)(kn == 16 ? 0xffff : (1u << kn) - 1);
        for (j = 0; j < w; j += 16) {
            for (i = 0; i < 16; i++)
                r[i] = j + i < w ? _mm512_maskz_loadu_ps(km, b + (j + i) * ldb + k)
                                 : _mm512_setzero_ps();
            transpose16(r);
            for (i = 0; i < kn; i++) _mm512_storeu_ps(panel + (k + i) * NR + j, r[i]);
        }
    }
}

/* C = beta C, not read when beta is 0 (BLAS's rule, also for alpha = 0) */
static void scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc) {
    int64_t i, j;
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++) C[i * ldc + j] = beta == 0 ? 0.0f : beta * C[i * ldc + j];
}

/* The product by blocks, for M, N, K >= 1 and alpha != 0. */
TARGET static void product(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                           const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                           float *C, int64_t ldc) {
    float panel[KC * NR] __attribute__((aligned(64)));
    const int ta = trans_a != 0;
    int64_t k0, j0, i;
    for (k0 = 0; k0 < K; k0 += KC) {
        const int64_t kc = K - k0 < KC ? K - k0 : KC;
        const float be = k0 == 0 ? beta : 1.0f;
        const float *ak = ta ? A + k0 * lda : A + k0;   /* op(A)'s column k0 */
        for (j0 = 0; j0 < N; j0 += NR) {
            const int64_t w = N - j0 < NR ? N - j0 : NR;
            const int nv = (int)((w + 15) / 16), tail = (int)(w - 16 * (nv - 1));
            const __mmask16 last = (__mmask16)(tail == 16 ? 0xffff : (1u << tail) - 1);
            const float *bk;
            int64_t ldbk;
            if (trans_b) {
                pack_bt(panel, B + j0 * ldb + k0, ldb, kc, w);
                bk = panel;
                ldbk = NR;
            } else {
                bk = B + k0 * ldb + j0;
                ldbk = ldb;
            }
            for (i = 0; i < M; i += MR) {
                const int mr = M - i < MR ? (int)(M - i) : MR;
                blocks[ta][mr - 1][nv - 1](last, kc, ak + (ta ? i : i * lda), lda, bk, ldbk,
                                           C + i * ldc + j0, ldc, alpha, be);
            }
        }
    }
}

/* A product of N < 16 columns leaves most lanes of every vector idle; when
** A is transposed (a weight gradient X^T dY of a layer with few outputs),
** its transpose C^T = op(B)^T op(A)^T has N rows and M columns and needs no
** packing (op(A)^T is A as it lies), so it is computed for MT columns and
** one chunk of k at a time into t, and t^T added into C as product() adds
** a chunk: C = beta C + t for the first, C + t for the others. So each
** element is rounded exactly as product() would round it, and a split of
** C's columns that leaves a part under 16 gives the same bits. With A not
** transposed, C^T would need A packed: slower than the narrow blocks. */
TARGET static void transposed(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                              float alpha, const float *A, int64_t lda, const float *B,
                              int64_t ldb, float beta, float *C, int64_t ldc) {
    float t[16 * MT] __attribute__((aligned(64)));
    int64_t i0, k0, i, j;
    for (i0 = 0; i0 < M; i0 += MT) {
        const int64_t m = M - i0 < MT ? M - i0 : MT;
        for (k0 = 0; k0 < K; k0 += KC) {
            const int64_t kc = K - k0 < KC ? K - k0 : KC;
            /* op(B)^T is B^T (transposed) when B is not, B itself when it
            ** is; op(A)^T likewise */
            product(!trans_b, !trans_a, N, m, kc, alpha, trans_b ? B + k0 : B + k0 * ldb, ldb,
                    trans_a ? A + k0 * lda + i0 : A + i0 * lda + k0, lda, 0.0f, t, m);
            for (i = 0; i < m; i++) {
                float *c = C + (i0 + i) * ldc;
                if (k0 > 0)
                    for (j = 0; j < N; j++) c[j] += t[j * m + i];
                else if (beta == 0)
                    for (j = 0; j < N; j++) c[j] = t[j * m + i];
                else
                    for (j = 0; j < N; j++) c[j] = fmaf(beta, c[j], t[j * m + i]);
            }
        }
    }
}

TARGET void sy_sgemm_avx512(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                            float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                            float beta, float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0) scale_c(M, N, beta, C, ldc);
    else if (N < 16 && trans_a) transposed(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else product(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#endif
