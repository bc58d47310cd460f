/*
** attention.c -- scaled dot-product attention over [B, H, L, E] as one
** kernel, forward and backward (see attention.h). Per (batch, head) matrix
** the products and the rest -- mask, softmax, dropout -- in one pass; the
** (b, h) pairs are split across the pool.
**
** Float attention over at most SMALL_DIM queries and keys (the paper's
** PatchTST: 15 patches, 16 per head) runs here on eight-lane vectors: a BLAS
** call costs more than such a product, and so does every step done
** element by element or through a general routine. Each (b, h) keeps its
** [Lq, Lk] matrices (scores, weights, their gradients) in scratch rows of
** Lkp = Lk rounded up to 8, the lanes past Lk held at zero, so that the
** products, the softmax and its backward all work on whole vectors; K and V
** are transposed into such rows once per (b, h), 8x8 at a time (16-lane
** vectors for the products where the processor has AVX-512: mm_zmm).
** Products with a head dim over SMALL_DIM, double attention and longer
** sequences go to the general product on the calling thread
** (sy_gemm_serial: BLAS, or for float synlua's own kernel where it runs).
**
** Backward, with P the weights, D = keep * keep_scale and Pd = P * D:
**   dV = Pd^T dOut
**   dP = (dOut V^T) * D + dWeights
**   dS = P * (dP - rowsum(dP * P))          (softmax backward)
**   dQ = dS K / sqrt(E),  dK = dS^T Q / sqrt(E)
**
** The general path is written once over SY_REAL and compiled for float
** and double by including itself, like rnn.c.
*/
#ifndef SY_REAL

#include <math.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/threads.h"
#include "attention.h"
#include "gemm.h"
#include "simd.h"

#define SMALL_DIM 64

/* The (b, h) matrices of a [B, H, rows, cols] operand whose rows are
** contiguous: matrix (b, h) starts at data + b*sb + h*sh (elements), rows
** are ld apart. Inputs and results alike: a result may be a view too (the
** heads of a [B, L, H*E] tensor), so the heads are merged as they are
** written. */
typedef struct mats {
    void *data;
    int64_t sb, sh;
    int ld;
} mats;

/* A [B, H, Lq, Lk] mask, bool or of the kernel's dtype, any strides. */
typedef struct mask_view {
    const void *data;
    int64_t stride[4];
    int is_bool;
} mask_view;

#define SY_REAL float
#define SY_DT SY_F32
#define SY_FN(name) name##_f32
#define SY_GEMM sy_gemm_serial_f32
#include "attention.c"
#undef SY_REAL
#undef SY_DT
#undef SY_FN
#undef SY_GEMM

#define SY_REAL double
#define SY_DT SY_F64
#define SY_FN(name) name##_f64
#define SY_GEMM sy_gemm_serial_f64
#include "attention.c"
#undef SY_REAL
#undef SY_DT
#undef SY_FN
#undef SY_GEMM

/* ------------------------------------------- float, Lq and Lk <= SMALL_DIM */

#if defined(__clang__)
#define SHUF(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define SHUF(a, b, ...) __builtin_shuffle(a, b, (sy_v8i){__VA_ARGS__})
#endif

typedef unsigned char sy_v8u8 __attribute__((vector_size(8)));

static const sy_v8i lane_index = {0, 1, 2, 3, 4, 5, 6, 7};
static const float zero_row[8];

/* The row stride of the scratch matrices: n rounded up to 8. */
static int padded(int n) { return (n + 7) / 8 * 8; }

/* Every lane = the max of v's lanes (NaN lanes lose every comparison). */
SY_INLINE void v8_hmax(sy_v8f *v) {
    sy_v8f t = SHUF(*v, *v, 4, 5, 6, 7, 0, 1, 2, 3);
    sy_v8_select(v, t > *v, &t, v);
    t = SHUF(*v, *v, 2, 3, 0, 1, 6, 7, 4, 5);
    sy_v8_select(v, t > *v, &t, v);
    t = SHUF(*v, *v, 1, 0, 3, 2, 5, 4, 7, 6);
    sy_v8_select(v, t > *v, &t, v);
}

/* Every lane = ((v0 + v4) + (v1 + v5)) + ((v2 + v6) + (v3 + v7)), as
** sy_v8_sum adds (float addition is commutative, so the lanes agree). */
SY_INLINE void v8_hsum(sy_v8f *v) {
    *v += SHUF(*v, *v, 4, 5, 6, 7, 0, 1, 2, 3);
    *v += SHUF(*v, *v, 1, 0, 3, 2, 5, 4, 7, 6);
    *v += SHUF(*v, *v, 2, 3, 0, 1, 6, 7, 4, 5);
}

/* e^x[i] for i < n (n <= 8) and x <= 0 (or -inf, or NaN): sy_v8_exp without
** its overflow handling, which x <= 0 never needs, so the same bits; the n
** vectors' steps interleaved (sy_v8_exp_parts_n). The lanes below FLT_MIN's
** logarithm, which come out 0, go through the steps as e^0: as e^-87.34
** (2^-126 (1 + q)) their 2^-126 q would be subnormal, and on some
** processors (AMD Zen) every vector holding one takes a slow microcode path
** -- each row of scores whose length is not a multiple of 8 has such lanes. */
SY_INLINE void v8_exp_nonpos_n(sy_v8f *x, int n) {
    sy_v8i under[8];
    sy_v8f r[8], p[8], q[8], vlo, zero = {0};
    int i;
    sy_v8_set1(&vlo, -87.33654f);   /* below, e^x is under FLT_MIN: 0, as sy_v8_exp gives */
    for (i = 0; i < n; i++) {
        under[i] = x[i] < vlo;
        sy_v8_select(&r[i], under[i], &zero, &x[i]);
    }
    sy_v8_exp_parts_n(r, p, q, n);
    for (i = 0; i < n; i++) {
        const sy_v8f y = p[i] + p[i] * q[i];
        sy_v8_select(&x[i], under[i], &zero, &y);
    }
}

/* dst [0, n) = src [0, n): a scratch row into a row of a view, writing
** nothing past n (the next columns may be another head's). Rows of n >= 8
** end with a vector ending at n, overlapping the one before, so nothing
** past the row is read either. */
SY_INLINE void store_row(float *dst, const float *src, int n) {
    sy_v8f v;
    int j;
    if (n < 8) {
        for (j = 0; j < n; j++) dst[j] = src[j];
        return;
    }
    for (j = 0; j + 8 <= n; j += 8) {
        sy_v8_load(&v, src + j, 8);
        sy_v8_store(dst + j, &v, 8);
    }
    if (j < n) {
        sy_v8_load(&v, src + n - 8, 8);
        sy_v8_store(dst + n - 8, &v, 8);
    }
}

/* dst [0, n) = src [0, n) and dst [n, padded(n)) = 0: a row of a view into
** a scratch row (its padding zeroed first, then the row copied over it). */
SY_INLINE void load_row(float *dst, const float *src, int n) {
    const sy_v8f zero = {0};
    int j;
    if (n < 8) {
        for (j = 0; j < n; j++) dst[j] = src[j];
        for (; j < 8; j++) dst[j] = 0;
        return;
    }
    sy_v8_store(dst + padded(n) - 8, &zero, 8);
    store_row(dst, src, n);
}

/* The scratch row keep * ks of a row of n dropout flags (0 past n). */
SY_INLINE void keep_row(float *dst, const unsigned char *keep, int n, float ks) {
    sy_v8f v = {0}, vks;
    sy_v8u8 u;
    int j;
    if (n < 8) {
        for (j = 0; j < n; j++) dst[j] = (float)keep[j] * ks;
        for (; j < 8; j++) dst[j] = 0;
        return;
    }
    sy_v8_set1(&vks, ks);
    sy_v8_store(dst + padded(n) - 8, &v, 8);
    for (j = 0;; j += 8) {
        if (j + 8 > n) j = n - 8;
        memcpy(&u, keep + j, sizeof u);
        v = __builtin_convertvector(u, sy_v8f) * vks;
        sy_v8_store(dst + j, &v, 8);
        if (j + 8 == n) break;
    }
}

/* Row i of t (rows ldt apart) = column i of the 8 x 8 block whose rows
** start at x[0..7]. Named vectors, not arrays, so that they stay in
** registers. */
#define UNPACK_LO 0, 8, 1, 9, 4, 12, 5, 13
#define UNPACK_HI 2, 10, 3, 11, 6, 14, 7, 15
#define PAIRS_LO 0, 1, 8, 9, 4, 5, 12, 13
#define PAIRS_HI 2, 3, 10, 11, 6, 7, 14, 15
#define HALVES_LO 0, 1, 2, 3, 8, 9, 10, 11
#define HALVES_HI 4, 5, 6, 7, 12, 13, 14, 15
SY_INLINE void transpose8(float *t, int ldt, const float *const x[8]) {
    sy_v8f r0, r1, r2, r3, r4, r5, r6, r7, u0, u1, u2, u3, u4, u5, u6, u7;
    sy_v8_load(&r0, x[0], 8);
    sy_v8_load(&r1, x[1], 8);
    sy_v8_load(&r2, x[2], 8);
    sy_v8_load(&r3, x[3], 8);
    sy_v8_load(&r4, x[4], 8);
    sy_v8_load(&r5, x[5], 8);
    sy_v8_load(&r6, x[6], 8);
    sy_v8_load(&r7, x[7], 8);
    u0 = SHUF(r0, r1, UNPACK_LO);
    u1 = SHUF(r0, r1, UNPACK_HI);
    u2 = SHUF(r2, r3, UNPACK_LO);
    u3 = SHUF(r2, r3, UNPACK_HI);
    u4 = SHUF(r4, r5, UNPACK_LO);
    u5 = SHUF(r4, r5, UNPACK_HI);
    u6 = SHUF(r6, r7, UNPACK_LO);
    u7 = SHUF(r6, r7, UNPACK_HI);
    r0 = SHUF(u0, u2, PAIRS_LO);
    r1 = SHUF(u0, u2, PAIRS_HI);
    r2 = SHUF(u1, u3, PAIRS_LO);
    r3 = SHUF(u1, u3, PAIRS_HI);
    r4 = SHUF(u4, u6, PAIRS_LO);
    r5 = SHUF(u4, u6, PAIRS_HI);
    r6 = SHUF(u5, u7, PAIRS_LO);
    r7 = SHUF(u5, u7, PAIRS_HI);
    u0 = SHUF(r0, r4, HALVES_LO);
    u1 = SHUF(r1, r5, HALVES_LO);
    u2 = SHUF(r2, r6, HALVES_LO);
    u3 = SHUF(r3, r7, HALVES_LO);
    u4 = SHUF(r0, r4, HALVES_HI);
    u5 = SHUF(r1, r5, HALVES_HI);
    u6 = SHUF(r2, r6, HALVES_HI);
    u7 = SHUF(r3, r7, HALVES_HI);
    sy_v8_store(t, &u0, 8);
    sy_v8_store(t + ldt, &u1, 8);
    sy_v8_store(t + 2 * ldt, &u2, 8);
    sy_v8_store(t + 3 * ldt, &u3, 8);
    sy_v8_store(t + 4 * ldt, &u4, 8);
    sy_v8_store(t + 5 * ldt, &u5, 8);
    sy_v8_store(t + 6 * ldt, &u6, 8);
    sy_v8_store(t + 7 * ldt, &u7, 8);
}

/* t [n, ldt] = x^T for x [rows, n] (rows ldx apart, rows <= ldt), the
** columns past rows zero: 8x8 blocks, the last column block of x ending at
** n (overlapping the one before) and missing rows read as zero. */
SY_INLINE void transpose_rows(float *t, int ldt, const float *x, int ldx, int rows, int n) {
    const float *r[8];
    int j0, e0, i;
    if (n < 8) {
        for (i = 0; i < n; i++)
            for (j0 = 0; j0 < ldt; j0++) t[i * ldt + j0] = j0 < rows ? x[(int64_t)j0 * ldx + i] : 0;
        return;
    }
    for (j0 = 0; j0 < rows; j0 += 8)
        for (e0 = 0;; e0 += 8) {
            if (e0 + 8 > n) e0 = n - 8;
            if (j0 + 8 <= rows)
                for (i = 0; i < 8; i++) r[i] = x + (int64_t)(j0 + i) * ldx + e0;
            else
                for (i = 0; i < 8; i++)
                    r[i] = j0 + i < rows ? x + (int64_t)(j0 + i) * ldx + e0 : zero_row;
            transpose8(t + (int64_t)e0 * ldt + j0, ldt, r);
            if (e0 + 8 == n) break;
        }
}

/* Rows i0 .. i0+rows-1 (rows <= 6) and columns n0 .. n0+8*nv-1 (nv 1 or 2)
** of c = alpha a b, a(i, k) at a[i*sai + k*sak], b [K, >= n0+8*nv] with
** rows ldb apart, c's rows ldc apart: up to 6 x 2 accumulators in registers
** (named vectors: an array would go through memory), k in order. */
#define MM_ROW(r, x0, x1)                                      \
    if (rows > r) {                                            \
        sy_v8_set1(&av, a[(i0 + r) * sai + k * sak]);          \
        x0 += av * b0;                                         \
        if (nv == 2) x1 += av * b1;                            \
    }
#define MM_STORE(r, x0, x1)                                    \
    if (rows > r) {                                            \
        float *cr = c + (int64_t)(i0 + r) * ldc + n0;          \
        if (alpha != 1) {                                      \
            x0 *= al;                                          \
            x1 *= al;                                          \
        }                                                      \
        sy_v8_store(cr, &x0, 8);                               \
        if (nv == 2) sy_v8_store(cr + 8, &x1, 8);              \
    }
SY_INLINE void mm_block(float *c, int ldc, const float *a, int sai, int sak, const float *b,
                        int ldb, int K, float alpha, int i0, int rows, int n0, int nv) {
    sy_v8f c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0}, c30 = {0},
           c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0}, av, al, b0, b1 = {0};
    int k;
#pragma GCC unroll 2
    for (k = 0; k < K; k++) {
        sy_v8_load(&b0, b + (int64_t)k * ldb + n0, 8);
        if (nv == 2) sy_v8_load(&b1, b + (int64_t)k * ldb + n0 + 8, 8);
        MM_ROW(0, c00, c01)
        MM_ROW(1, c10, c11)
        MM_ROW(2, c20, c21)
        MM_ROW(3, c30, c31)
        MM_ROW(4, c40, c41)
        MM_ROW(5, c50, c51)
    }
    sy_v8_set1(&al, alpha);
    MM_STORE(0, c00, c01)
    MM_STORE(1, c10, c11)
    MM_STORE(2, c20, c21)
    MM_STORE(3, c30, c31)
    MM_STORE(4, c40, c41)
    MM_STORE(5, c50, c51)
}

/* Blocks of 6 rows, the rest as one block (5 rows at most). */
SY_INLINE void mm_rows(float *c, int ldc, const float *a, int sai, int sak, const float *b, int ldb,
                       int M, int K, float alpha, int n0, int nv) {
    int i;
    for (i = 0; i + 6 <= M; i += 6) mm_block(c, ldc, a, sai, sak, b, ldb, K, alpha, i, 6, n0, nv);
    switch (M - i) {
    case 5: mm_block(c, ldc, a, sai, sak, b, ldb, K, alpha, i, 5, n0, nv); break;
    case 4: mm_block(c, ldc, a, sai, sak, b, ldb, K, alpha, i, 4, n0, nv); break;
    case 3: mm_block(c, ldc, a, sai, sak, b, ldb, K, alpha, i, 3, n0, nv); break;
    case 2: mm_block(c, ldc, a, sai, sak, b, ldb, K, alpha, i, 2, n0, nv); break;
    case 1: mm_block(c, ldc, a, sai, sak, b, ldb, K, alpha, i, 1, n0, nv); break;
    }
}

/* Where the processor has AVX-512, mm_small takes 16 columns at a time as
** one 16-lane vector (an instruction does twice the work of two eight-lane
** ones, and a multiply takes its broadcast operand from memory): the same
** products and sums, lane by lane, so the same bits. Rows in blocks of 8 (8
** accumulators of 32 registers) and the rest as one block. As in reduce.c:
** x86-64 glibc GCC, not under ThreadSanitizer. */
#if defined(__x86_64__) && defined(__GLIBC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define SMALL_ZMM 1
typedef float zmm_f __attribute__((vector_size(64)));
typedef int32_t zmm_i __attribute__((vector_size(64)));

#define ZMM_ROW(r)                                                              \
    if (rows > r) {                                                             \
        const zmm_f t_ = {a[(i0 + r) * sai + k * sak]};                         \
        x##r += __builtin_shuffle(t_, (zmm_i){0}) * bk;                         \
    }
#define ZMM_STORE(r)                                                            \
    if (rows > r) {                                                             \
        if (alpha != 1) x##r *= al;                                             \
        memcpy(c + (int64_t)(i0 + r) * ldc + n0, &x##r, sizeof x##r);           \
    }
__attribute__((target("avx512f"), always_inline)) static inline void
mm_zmm_block(float *c, int ldc, const float *a, int sai, int sak, const float *b, int ldb, int K,
             float alpha, int i0, int rows, int n0) {
    zmm_f x0 = {0}, x1 = {0}, x2 = {0}, x3 = {0}, x4 = {0}, x5 = {0}, x6 = {0}, x7 = {0}, bk;
    const zmm_f al1 = {alpha};
    const zmm_f al = __builtin_shuffle(al1, (zmm_i){0});
    int k;
    for (k = 0; k < K; k++) {
        memcpy(&bk, b + (int64_t)k * ldb + n0, sizeof bk);
        ZMM_ROW(0) ZMM_ROW(1) ZMM_ROW(2) ZMM_ROW(3) ZMM_ROW(4) ZMM_ROW(5) ZMM_ROW(6) ZMM_ROW(7)
    }
    ZMM_STORE(0) ZMM_STORE(1) ZMM_STORE(2) ZMM_STORE(3)
    ZMM_STORE(4) ZMM_STORE(5) ZMM_STORE(6) ZMM_STORE(7)
}

/* Columns n0 .. n0+15 of mm_small's product. */
__attribute__((target("avx512f"))) static void mm_zmm(float *c, int ldc, const float *a, int sai,
                                                      int sak, const float *b, int ldb, int M,
                                                      int K, float alpha, int n0) {
    int i;
    for (i = 0; i + 8 <= M; i += 8) mm_zmm_block(c, ldc, a, sai, sak, b, ldb, K, alpha, i, 8, n0);
    switch (M - i) {
    case 7: mm_zmm_block(c, ldc, a, sai, sak, b, ldb, K, alpha, i, 7, n0); break;
    case 6: mm_zmm_block(c, ldc, a, sai, sak, b, ldb, K, alpha, i, 6, n0); break;
    case 5: mm_zmm_block(c, ldc, a, sai, sak, b, ldb, K, alpha, i, 5, n0); break;
    case 4: mm_zmm_block(c, ldc, a, sai, sak, b, ldb, K, alpha, i, 4, n0); break;
    case 3: mm_zmm_block(c, ldc, a, sai, sak, b, ldb, K, alpha, i, 3, n0); break;
    case 2: mm_zmm_block(c, ldc, a, sai, sak, b, ldb, K, alpha, i, 2, n0); break;
    case 1: mm_zmm_block(c, ldc, a, sai, sak, b, ldb, K, alpha, i, 1, n0); break;
    }
}
#else
#define SMALL_ZMM 0
#endif

/* C [M, Np] (Np a multiple of 8, rows ldc apart) = alpha A B, A(i, k) at
** a[i*sai + k*sak], B [K, >= Np] rows ldb apart. Sums run over k in order,
** like BLAS's, scaled by alpha after. */
SY_INLINE void mm_small(float *c, int ldc, const float *a, int sai, int sak, const float *b,
                        int ldb, int M, int Np, int K, float alpha) {
    int n = 0;
#if SMALL_ZMM
    if (__builtin_cpu_supports("avx512f"))
        for (; n + 16 <= Np; n += 16) mm_zmm(c, ldc, a, sai, sak, b, ldb, M, K, alpha, n);
#endif
    for (; n + 16 <= Np; n += 16) mm_rows(c, ldc, a, sai, sak, b, ldb, M, K, alpha, n, 2);
    if (n < Np) mm_rows(c, ldc, a, sai, sak, b, ldb, M, K, alpha, n, 1);
}

/* s [M, Lkp] (rows Lkp apart) = alpha A X^T for A [M, K] (rows lda apart)
** and X [Lk, K] (rows ldx apart); t: SMALL_DIM * Lkp floats. The columns
** past Lk are zero, or unset when BLAS takes a K over SMALL_DIM. */
SY_INLINE void mm_scores(float *s, const float *a, int lda, const float *x, int ldx, int M, int Lk,
                         int K, float alpha, float *t) {
    const int Lkp = padded(Lk);
    if (K > SMALL_DIM) {
        sy_gemm_serial_f32(0, 1, M, Lk, K, alpha, a, lda, x, ldx, 0, s, Lkp);
        return;
    }
    transpose_rows(t, Lkp, x, ldx, Lk, K);
    mm_small(s, Lkp, a, lda, 1, t, Lkp, M, Lkp, K, alpha);
}

/* C [M, N] (a view, rows ldc apart) = alpha op(A) B for A a scratch matrix
** (rows lda apart; op(A) = A^T when ta) and B [K, N] a view, rows ldb apart;
** M, K <= SMALL_DIM. A B of N % 8 != 0 columns is copied into padded rows
** and C computed padded and copied out (work: 2 * SMALL_DIM^2 floats); an N
** over SMALL_DIM goes to BLAS. */
SY_INLINE void mm_out(float *C, int ldc, int ta, const float *a, int lda, const float *B, int ldb,
                      int M, int N, int K, float alpha, float *work) {
    const int Np = padded(N), sai = ta ? 1 : lda, sak = ta ? lda : 1;
    float *bp = work, *cp = work + SMALL_DIM * SMALL_DIM;
    int i;
    if (N > SMALL_DIM) {
        sy_gemm_serial_f32(ta, 0, M, N, K, alpha, a, lda, B, ldb, 0, C, ldc);
        return;
    }
    if (Np == N) {
        mm_small(C, ldc, a, sai, sak, B, ldb, M, Np, K, alpha);
        return;
    }
    for (i = 0; i < K; i++) load_row(bp + i * Np, B + (int64_t)i * ldb, N);
    mm_small(cp, Np, a, sai, sak, bp, Np, M, Np, K, alpha);
    for (i = 0; i < M; i++) store_row(C + (int64_t)i * ldc, cp + i * Np, N);
}

/* Rows 0 .. Lq-1 of the scores, s (scratch, rows Lkp apart, the lanes past
** Lk flagged in pad), become their softmax, in place and in w, the weights'
** rows (Lk apart): whole vectors when the padded row fits before wend (the
** lanes past Lk fall on the next row, written after), else Lk floats
** exactly. In three passes over all the rows -- minus the row maxima (the
** padding lanes -inf, so that they lose and come out 0), the exponentials,
** divided by the row sums -- rather than row by row: the rows of a pass are
** independent, so their chains of dependent steps run side by side. nv =
** Lkp / 8, a constant where this is inlined, so that the loops over a row's
** vectors unroll. */
SY_INLINE void softmax_rows(float *s, float *w, const float *wend, int Lq, int Lk,
                            const sy_v8i *pad, int nv) {
    const int Lkp = 8 * nv, n = Lq * nv;
    sy_v8f x[4], ninf, m, v;
    int r, c, i;
    sy_v8_set1(&ninf, -INFINITY);
    for (r = 0; r < Lq; r++) {
        float *sr = s + r * Lkp;
        /* loads and stores through v: a memcpy between memory and an array
        ** that lives in memory may become two 16-byte copies, which a
        ** 32-byte access cannot forward from */
        sy_v8_load(&v, sr + Lkp - 8, 8);
        sy_v8_select(&v, *pad, &ninf, &v);
        sy_v8_store(sr + Lkp - 8, &v, 8);
        sy_v8_load(&m, sr, 8);
        for (c = 1; c < nv; c++) {
            sy_v8_load(&v, sr + 8 * c, 8);
            sy_v8_select(&m, v > m, &v, &m);
        }
        v8_hmax(&m);
        for (c = 0; c < nv; c++) {
            sy_v8_load(&v, sr + 8 * c, 8);
            v -= m;
            sy_v8_store(sr + 8 * c, &v, 8);
        }
    }
    /* four vectors at a time, then the rest one by one */
    for (i = 0; i + 4 <= n; i += 4) {
        for (c = 0; c < 4; c++) {
            sy_v8_load(&v, s + 8 * (i + c), 8);
            x[c] = v;
        }
        v8_exp_nonpos_n(x, 4);
        for (c = 0; c < 4; c++) {
            v = x[c];
            sy_v8_store(s + 8 * (i + c), &v, 8);
        }
    }
    for (; i < n; i++) {
        sy_v8_load(&v, s + 8 * i, 8);
        x[0] = v;
        v8_exp_nonpos_n(x, 1);
        v = x[0];
        sy_v8_store(s + 8 * i, &v, 8);
    }
    for (r = 0; r < Lq; r++) {
        float *sr = s + r * Lkp, *wr = w + r * Lk;
        const int whole = wr + Lkp <= wend;
        sy_v8f sum;
        sy_v8_load(&sum, sr, 8);
        for (c = 1; c < nv; c++) {
            sy_v8_load(&v, sr + 8 * c, 8);
            sum += v;
        }
        v8_hsum(&sum);
        sum = 1 / sum;
        for (c = 0; c < nv; c++) {
            sy_v8_load(&v, sr + 8 * c, 8);
            v *= sum;
            sy_v8_store(sr + 8 * c, &v, 8);
            if (whole) sy_v8_store(wr + 8 * c, &v, 8);
        }
        if (!whole) store_row(wr, sr, Lk);
    }
}

/* Rows 0 .. Lq-1 of dP' = dP * D + dWeights (scratch, rows nv vectors
** apart) become dS = P (dP' - rowsum(dP' P)), P the weights (rows Lk apart)
** read as whole vectors where they stay inside the Lq rows, else copied into
** row first; the lanes past Lk, flagged in pad, are dropped and come out 0.
** nv is a constant where this is inlined, so that the loops over a row's
** vectors unroll. */
SY_INLINE void dsoftmax_rows(float *dp, const float *p, int Lq, int Lk, const sy_v8i *pad,
                             float *row, int nv) {
    sy_v8f x[SMALL_DIM / 8], y[SMALL_DIM / 8], sum, zero = {0}, v;
    int i, c;
    for (i = 0; i < Lq; i++) {
        float *dr = dp + i * 8 * nv;
        const float *pr = p + i * Lk;
        if (i * Lk + 8 * nv > Lq * Lk) {
            load_row(row, pr, Lk);
            pr = row;
        }
        for (c = 0; c < nv; c++) {   /* through v: see softmax_rows */
            sy_v8_load(&v, dr + 8 * c, 8);
            x[c] = v;
            sy_v8_load(&v, pr + 8 * c, 8);
            y[c] = v;
        }
        sy_v8_select(&x[nv - 1], *pad, &zero, &x[nv - 1]);
        sy_v8_select(&y[nv - 1], *pad, &zero, &y[nv - 1]);
        sum = x[0] * y[0];
        for (c = 1; c < nv; c++) sum += x[c] * y[c];
        v8_hsum(&sum);
        for (c = 0; c < nv; c++) {
            v = y[c] * (x[c] - sum);
            sy_v8_store(dr + 8 * c, &v, 8);
        }
    }
}

/* One call per vector count 1 .. SMALL_DIM/8, each with nv a constant. */
#define BY_NVEC(nvec, call)                                                     \
    switch (nvec) {                                                             \
    case 1: { const int nv_ = 1; call; } break;                                 \
    case 2: { const int nv_ = 2; call; } break;                                 \
    case 3: { const int nv_ = 3; call; } break;                                 \
    case 4: { const int nv_ = 4; call; } break;                                 \
    case 5: { const int nv_ = 5; call; } break;                                 \
    case 6: { const int nv_ = 6; call; } break;                                 \
    case 7: { const int nv_ = 7; call; } break;                                 \
    default: { const int nv_ = 8; call; } break;                                \
    }

/* The scratch of one task, in floats: three [Lq, Lkp] matrices (scores or
** the weights' gradient, dropped-out weights, dropout factors), a row, the
** transposes of K or V and mm_out's work. */
static int64_t small_work(int64_t Lq, int64_t Lk) {
    const int64_t Lkp = padded((int)Lk);
    return 3 * Lq * Lkp + Lkp + SMALL_DIM * Lkp + 2 * SMALL_DIM * SMALL_DIM;
}

/* Pairs bh0 <= b*H + h < bh1 of float attention with Lq, Lk <= SMALL_DIM. */
SY_SIMD_CLONES static void forward_small(mats out, float *weights, mats q, mats k, mats v,
                                         const mask_view *mask, const unsigned char *keep,
                                         float ks, float *work, int64_t bh0, int64_t bh1,
                                         int64_t H, int Lq, int Lk, int E, int Ev) {
    const float scale = (float)(1 / sqrt((double)E));
    const int Lkp = padded(Lk);
    const int64_t nw = (int64_t)Lq * Lk;
    const sy_v8i pad = lane_index >= Lk - (Lkp - 8);   /* the last vector's lanes past Lk */
    float *s = work, *pd = s + Lq * Lkp, *row = pd + Lq * Lkp, *t = row + Lkp;
    float *mwork = t + SMALL_DIM * Lkp;
    int64_t bh;
    int i, c;
    for (bh = bh0; bh < bh1; bh++) {
        const int64_t b = bh / H, h = bh % H;
        float *w = weights + bh * nw;
        const unsigned char *kp = keep ? keep + bh * nw : NULL;
        mm_scores(s, mat_f32(q, b, h), q.ld, mat_f32(k, b, h), k.ld, Lq, Lk, E, scale, t);
        if (mask) apply_mask_f32(s, Lkp, mask, b, h, Lq, Lk);
        BY_NVEC(Lkp / 8, softmax_rows(s, w, w + nw, Lq, Lk, &pad, nv_))
        if (kp)
            for (i = 0; i < Lq; i++) {
                float *pr = pd + i * Lkp, *sr = s + i * Lkp;
                keep_row(row, kp + i * Lk, Lk, ks);
                for (c = 0; c < Lkp; c++) pr[c] = sr[c] * row[c];
            }
        mm_out(mat_f32(out, b, h), out.ld, 0, keep ? pd : s, Lkp, mat_f32(v, b, h), v.ld, Lq, Ev,
               Lk, 1, mwork);
    }
}

SY_SIMD_CLONES static void backward_small(mats dq, mats dk, mats dv, mats dout,
                                          const float *dweights, mats q, mats k, mats v,
                                          const float *weights, const unsigned char *keep,
                                          float ks, float *work, int64_t bh0, int64_t bh1,
                                          int64_t H, int Lq, int Lk, int E, int Ev) {
    const float scale = (float)(1 / sqrt((double)E));
    const int Lkp = padded(Lk);
    const int64_t nw = (int64_t)Lq * Lk;
    const sy_v8i pad = lane_index >= Lk - (Lkp - 8);
    float *dp = work, *pd = dp + Lq * Lkp, *dm = pd + Lq * Lkp, *row = dm + Lq * Lkp;
    float *t = row + Lkp, *mwork = t + SMALL_DIM * Lkp;
    int64_t bh;
    int i, c;
    for (bh = bh0; bh < bh1; bh++) {
        const int64_t b = bh / H, h = bh % H;
        const float *go = mat_f32(dout, b, h), *p = weights + bh * nw;
        float *g = mat_f32(dv, b, h);
        if (keep)
            for (i = 0; i < Lq; i++) {
                float *dr = dm + i * Lkp, *pr = pd + i * Lkp;
                keep_row(dr, keep + bh * nw + i * Lk, Lk, ks);
                load_row(pr, p + i * Lk, Lk);
                for (c = 0; c < Lkp; c++) pr[c] *= dr[c];
            }
        if (g) {
            /* dV = Pd^T dOut, P read in place (rows Lk apart) */
            if (go && keep) mm_out(g, dv.ld, 1, pd, Lkp, go, dout.ld, Lk, Ev, Lq, 1, mwork);
            else if (go) mm_out(g, dv.ld, 1, p, Lk, go, dout.ld, Lk, Ev, Lq, 1, mwork);
            else
                for (i = 0; i < Lk; i++) memset(g + (int64_t)i * dv.ld, 0, sizeof *g * (size_t)Ev);
        }
        if (!dq.data && !dk.data) continue;
        if (go) mm_scores(dp, go, dout.ld, mat_f32(v, b, h), v.ld, Lq, Lk, Ev, 1, t);
        else memset(dp, 0, sizeof *dp * (size_t)(Lq * Lkp));
        if (keep || dweights)
            for (i = 0; i < Lq; i++) {
                float *dr = dp + i * Lkp;
                if (keep)
                    for (c = 0; c < Lkp; c++) dr[c] *= dm[i * Lkp + c];
                if (dweights) {
                    load_row(row, dweights + bh * nw + i * Lk, Lk);
                    for (c = 0; c < Lkp; c++) dr[c] += row[c];
                }
            }
        BY_NVEC(Lkp / 8, dsoftmax_rows(dp, p, Lq, Lk, &pad, row, nv_))
        if (dq.data)
            mm_out(mat_f32(dq, b, h), dq.ld, 0, dp, Lkp, mat_f32(k, b, h), k.ld, Lq, E, Lk, scale,
                   mwork);
        if (dk.data)
            mm_out(mat_f32(dk, b, h), dk.ld, 1, dp, Lkp, mat_f32(q, b, h), q.ld, Lk, E, Lq, scale,
                   mwork);
    }
}

/* ----------------------------------------------------------------- front */

#define DISPATCH(dt, fn, ...) ((dt) == SY_F32 ? fn##_f32(__VA_ARGS__) : fn##_f64(__VA_ARGS__))

/* NULL gives a matrix set with no data. */
static mats mats_of(const sy_tensor *t) {
    mats m = {0};
    if (!t) return m;
    m.data = sy_tensor_data(t);
    m.sb = t->stride[0];
    m.sh = t->stride[1];
    /* a one-row matrix has no meaningful row stride; BLAS wants ld >= cols */
    m.ld = (int)(t->size[2] > 1 ? t->stride[2] : t->size[3]);
    return m;
}

static void *ptr(const sy_tensor *t) { return t ? sy_tensor_data(t) : NULL; }

static int is_small(sy_dtype dt, int64_t Lq, int64_t Lk) {
    return dt == SY_F32 && Lq <= SMALL_DIM && Lk <= SMALL_DIM;
}

/* The workspace of one task, in elements: the small path's scratch, or for
** the BLAS path the dropped-out weights of one (b, h) and for the backward
** the weights' gradient. */
static int64_t work_per_task(sy_dtype dt, int64_t Lq, int64_t Lk, int backward) {
    return is_small(dt, Lq, Lk) ? small_work(Lq, Lk) : (backward ? 2 : 1) * Lq * Lk;
}

static int n_tasks_for(int64_t B, int64_t H, int64_t Lq, int64_t Lk, int64_t E) {
    /* about 2^16 multiply-adds per task at least, or waking the pool costs more */
    const int64_t work = B * H * Lq * Lk * E;
    return work < ((int64_t)1 << 17) ? 1 : sy_parallel_width();
}

typedef struct {
    sy_dtype dt;
    void *weights, *work;
    const void *dweights, *cweights;
    mats out, dq, dk, dv, dout, q, k, v;
    const mask_view *mask;
    const unsigned char *keep;
    double keep_scale;
    int64_t B, H, per_task;
    int Lq, Lk, E, Ev, backward;
} attn_job;

static void attn_task(void *ctx, int task, int n_tasks) {
    const attn_job *j = ctx;
    void *w = (char *)j->work + task * j->per_task * sy_dtype_size(j->dt);
    int64_t lo, hi;
    sy_split(j->B * j->H, 1, task, n_tasks, &lo, &hi);
    if (lo == hi) return;
    if (is_small(j->dt, j->Lq, j->Lk) && j->backward)
        backward_small(j->dq, j->dk, j->dv, j->dout, j->dweights, j->q, j->k, j->v, j->cweights,
                       j->keep, (float)j->keep_scale, w, lo, hi, j->H, j->Lq, j->Lk, j->E, j->Ev);
    else if (is_small(j->dt, j->Lq, j->Lk))
        forward_small(j->out, j->weights, j->q, j->k, j->v, j->mask, j->keep,
                      (float)j->keep_scale, w, lo, hi, j->H, j->Lq, j->Lk, j->E, j->Ev);
    else if (j->backward)
        DISPATCH(j->dt, backward, j->dq, j->dk, j->dv, j->dout, j->dweights, j->q, j->k, j->v,
                 j->cweights, j->keep, j->keep_scale, w, lo, hi, j->H, j->Lq, j->Lk, j->E, j->Ev);
    else
        DISPATCH(j->dt, forward, j->out, j->weights, j->q, j->k, j->v, j->mask, j->keep,
                 j->keep_scale, w, lo, hi, j->H, j->Lq, j->Lk, j->E, j->Ev);
}

sy_status sy_attention_forward(sy_tensor *out, sy_tensor *weights, const sy_tensor *q,
                               const sy_tensor *k, const sy_tensor *v, const sy_tensor *mask,
                               const sy_tensor *keep, double keep_scale) {
    const int64_t B = q->size[0], H = q->size[1], Lq = q->size[2], Lk = k->size[2];
    const int64_t E = q->size[3], Ev = v->size[3];
    const int n_tasks = n_tasks_for(B, H, Lq, Lk, E > Ev ? E : Ev);
    const int64_t per_task = work_per_task(q->dtype, Lq, Lk, 0);
    const size_t nbytes = (size_t)(n_tasks * per_task * sy_dtype_size(q->dtype));
    void *work = sy_mem_alloc(nbytes);
    mask_view mv = {0};
    attn_job j = {q->dtype, ptr(weights), work, NULL, NULL, mats_of(out), mats_of(NULL),
                  mats_of(NULL), mats_of(NULL), mats_of(NULL), mats_of(q), mats_of(k), mats_of(v),
                  mask ? &mv : NULL, ptr(keep), keep_scale, B, H, per_task, (int)Lq, (int)Lk,
                  (int)E, (int)Ev, 0};
    int d;
    if (!work) return SY_ERR_OOM;
    if (mask) {
        mv.data = sy_tensor_data(mask);
        for (d = 0; d < 4; d++) mv.stride[d] = mask->stride[d];
        mv.is_bool = mask->dtype == SY_BOOL;
    }
    sy_parallel_run(attn_task, &j, n_tasks);
    sy_mem_free(work, nbytes);
    return SY_OK;
}

sy_status sy_attention_backward(sy_tensor *dq, sy_tensor *dk, sy_tensor *dv, const sy_tensor *dout,
                                const sy_tensor *dweights, const sy_tensor *q, const sy_tensor *k,
                                const sy_tensor *v, const sy_tensor *weights, const sy_tensor *keep,
                                double keep_scale) {
    const int64_t B = q->size[0], H = q->size[1], Lq = q->size[2], Lk = k->size[2];
    const int64_t E = q->size[3], Ev = v->size[3];
    const int n_tasks = n_tasks_for(B, H, Lq, Lk, E > Ev ? E : Ev);
    const int64_t per_task = work_per_task(q->dtype, Lq, Lk, 1);
    const size_t nbytes = (size_t)(n_tasks * per_task * sy_dtype_size(q->dtype));
    void *work = sy_mem_alloc(nbytes);
    attn_job j = {q->dtype, NULL, work, ptr(dweights), ptr(weights), mats_of(NULL), mats_of(dq),
                  mats_of(dk), mats_of(dv), mats_of(dout), mats_of(q), mats_of(k), mats_of(v),
                  NULL, ptr(keep), keep_scale, B, H, per_task, (int)Lq, (int)Lk, (int)E, (int)Ev,
                  1};
    if (!work) return SY_ERR_OOM;
    sy_parallel_run(attn_task, &j, n_tasks);
    sy_mem_free(work, nbytes);
    return SY_OK;
}

#else /* ------------------------------------------- typed body (SY_REAL) */

/* Matrix (b, h) of m; NULL when m has no data. */
static SY_REAL *SY_FN(mat)(mats m, int64_t b, int64_t h) {
    return m.data ? (SY_REAL *)m.data + b * m.sb + h * m.sh : NULL;
}

/* s [Lq, Lk] (rows ld apart) += mask (b, h): -inf where a bool mask is true,
** else its value. */
static void SY_FN(apply_mask)(SY_REAL *s, int ld, const mask_view *mv, int64_t b, int64_t h,
                              int Lq, int Lk) {
    const int64_t s2 = mv->stride[2], s3 = mv->stride[3];
    int i, j;
    if (mv->is_bool) {
        const unsigned char *m =
            (const unsigned char *)mv->data + b * mv->stride[0] + h * mv->stride[1];
        for (i = 0; i < Lq; i++)
            for (j = 0; j < Lk; j++)
                if (m[i * s2 + j * s3]) s[(int64_t)i * ld + j] = -INFINITY;
    } else {
        const SY_REAL *m = (const SY_REAL *)mv->data + b * mv->stride[0] + h * mv->stride[1];
        for (i = 0; i < Lq; i++)
            for (j = 0; j < Lk; j++) s[(int64_t)i * ld + j] += m[i * s2 + j * s3];
    }
}

/* pd = p * keep * scale over n elements; a multiply, not a branch, since
** the mask is random */
static void SY_FN(drop)(SY_REAL *pd, const SY_REAL *p, const unsigned char *keep, SY_REAL scale,
                        int64_t n) {
    int64_t i;
    for (i = 0; i < n; i++) pd[i] = p[i] * ((SY_REAL)keep[i] * scale);
}

/* Row-major C [M, N] = alpha op(A) op(B) on this thread (gemm.h). */
static void SY_FN(mm)(int ta, int tb, int M, int N, int K, SY_REAL alpha, const SY_REAL *A, int lda,
                      const SY_REAL *B, int ldb, SY_REAL *C, int ldc) {
    SY_GEMM(ta, tb, M, N, K, alpha, A, lda, B, ldb, 0, C, ldc);
}

/* Pairs bh0 <= b*H + h < bh1; work: Lq*Lk elements. */
static void SY_FN(forward)(mats out, SY_REAL *weights, mats q, mats k, mats v,
                           const mask_view *mask, const unsigned char *keep, double keep_scale,
                           SY_REAL *work, int64_t bh0, int64_t bh1, int64_t H, int Lq, int Lk,
                           int E, int Ev) {
    const SY_REAL scale = (SY_REAL)(1 / sqrt((double)E));
    const int64_t nw = (int64_t)Lq * Lk;
    SY_REAL *pd = work;
    int64_t bh;
    for (bh = bh0; bh < bh1; bh++) {
        const int64_t b = bh / H, h = bh % H;
        SY_REAL *p = weights + bh * nw;
        SY_FN(mm)(0, 1, Lq, Lk, E, scale, SY_FN(mat)(q, b, h), q.ld, SY_FN(mat)(k, b, h), k.ld, p,
                  Lk);
        if (mask) SY_FN(apply_mask)(p, Lk, mask, b, h, Lq, Lk);
        sy_softmax_rows(SY_DT, p, p, Lq, Lk, 0);
        if (keep) {
            SY_FN(drop)(pd, p, keep + bh * nw, (SY_REAL)keep_scale, nw);
            p = pd;
        }
        SY_FN(mm)(0, 0, Lq, Ev, Lk, 1, p, Lk, SY_FN(mat)(v, b, h), v.ld, SY_FN(mat)(out, b, h),
                  out.ld);
    }
}

/* Pairs bh0 <= b*H + h < bh1; work: 2*Lq*Lk elements. */
static void SY_FN(backward)(mats dq, mats dk, mats dv, mats dout, const SY_REAL *dweights,
                            mats q, mats k, mats v, const SY_REAL *weights,
                            const unsigned char *keep, double keep_scale, SY_REAL *work,
                            int64_t bh0, int64_t bh1, int64_t H, int Lq, int Lk, int E, int Ev) {
    const SY_REAL scale = (SY_REAL)(1 / sqrt((double)E)), ks = (SY_REAL)keep_scale;
    const int64_t nw = (int64_t)Lq * Lk;
    SY_REAL *pd = work, *dp = pd + nw;
    int64_t bh, i;
    for (bh = bh0; bh < bh1; bh++) {
        const int64_t b = bh / H, h = bh % H;
        const SY_REAL *p = weights + bh * nw, *go = SY_FN(mat)(dout, b, h);
        const unsigned char *kp = keep ? keep + bh * nw : NULL;
        SY_REAL *g = SY_FN(mat)(dv, b, h);
        if (g) {
            const SY_REAL *a = p;
            if (kp) {
                SY_FN(drop)(pd, p, kp, ks, nw);
                a = pd;
            }
            if (go) SY_FN(mm)(1, 0, Lk, Ev, Lq, 1, a, Lk, go, dout.ld, g, dv.ld);
            else
                for (i = 0; i < Lk; i++) memset(g + i * dv.ld, 0, sizeof *g * (size_t)Ev);
        }
        if (!dq.data && !dk.data) continue;
        if (go) SY_FN(mm)(0, 1, Lq, Lk, Ev, 1, go, dout.ld, SY_FN(mat)(v, b, h), v.ld, dp, Lk);
        else memset(dp, 0, sizeof *dp * (size_t)nw);
        if (kp) SY_FN(drop)(dp, dp, kp, ks, nw);
        if (dweights)
            for (i = 0; i < nw; i++) dp[i] += dweights[bh * nw + i];
        sy_softmax_rows_backward(SY_DT, dp, dp, p, Lq, Lk, 0);
        if (dq.data)
            SY_FN(mm)(0, 0, Lq, E, Lk, scale, dp, Lk, SY_FN(mat)(k, b, h), k.ld, SY_FN(mat)(dq, b, h),
                      dq.ld);
        if (dk.data)
            SY_FN(mm)(1, 0, Lk, E, Lq, scale, dp, Lk, SY_FN(mat)(q, b, h), q.ld, SY_FN(mat)(dk, b, h),
                      dk.ld);
    }
}

#endif
