/*
** simd.h -- eight-lane float math for the kernels' elementwise passes: exp,
** sigmoid, tanh and erf on GCC/Clang vector types, plus loads and stores of
** partial vectors.
**
** A kernel that uses these is marked SY_SIMD_CLONES: on x86-64 with glibc
** the compiler then builds it twice, for AVX2 and for the baseline (where
** each eight-lane operation is two SSE2 halves), and picks one when the
** program loads. Both builds do the same IEEE operations in the same order
** (no FMA: ISO C mode keeps contraction off), so results do not depend on
** which one runs. Elsewhere the baseline build is the only one, and so it
** is under ThreadSanitizer, whose runtime is not up yet when the loader
** runs the clones' resolvers.
**
** Vectors are passed by pointer: passing 32-byte vectors by value to
** functions built without AVX changes their ABI (GCC's -Wpsabi).
*/
#ifndef SY_SIMD_H
#define SY_SIMD_H

#include <stdint.h>
#include <string.h>

typedef float sy_v8f __attribute__((vector_size(32)));
typedef int32_t sy_v8i __attribute__((vector_size(32)));

#if defined(__x86_64__) && defined(__GLIBC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define SY_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SY_SIMD_CLONES
#endif

#define SY_INLINE static inline __attribute__((always_inline))

/* n <= 8 floats; the lanes past n of a load are 0 */
SY_INLINE void sy_v8_load(sy_v8f *v, const float *p, int n) {
    if (n == 8) {
        memcpy(v, p, sizeof *v);
    } else {
        *v = (sy_v8f){0};
        memcpy(v, p, sizeof(float) * (size_t)n);
    }
}

SY_INLINE void sy_v8_store(float *p, const sy_v8f *v, int n) {
    memcpy(p, v, n == 8 ? sizeof *v : sizeof(float) * (size_t)n);
}

/* a shuffle of lane 0 compiles to one broadcast; a brace list of eight
** copies may be built lane by lane */
SY_INLINE void sy_v8_set1(sy_v8f *v, float x) {
    const sy_v8f t = {x};
#if defined(__clang__)
    *v = __builtin_shufflevector(t, t, 0, 0, 0, 0, 0, 0, 0, 0);
#else
    *v = __builtin_shuffle(t, (sy_v8i){0});
#endif
}

/* *r = a where mask is set (all ones), else b. A macro rather than a
** function so that no 32-byte vector is passed by value (that changes the
** ABI without AVX, and clang warns with -Wpsabi). */
#define sy_v8_select(r, mask, a, b)                                            \
    do {                                                                       \
        const sy_v8i sy_mask_ = (mask);                                        \
        *(r) = (sy_v8f)((sy_mask_ & (sy_v8i) * (a)) | (~sy_mask_ & (sy_v8i) * (b))); \
    } while (0)

/* ((v0 + v4) + (v1 + v5)) + ((v2 + v6) + (v3 + v7)): the first four sums
** as one add of the two halves (fewer instructions than lane by lane). */
SY_INLINE float sy_v8_sum(const sy_v8f *v) {
    typedef float v4f_ __attribute__((vector_size(16)));
    v4f_ lo, hi;
    memcpy(&lo, v, sizeof lo);
    memcpy(&hi, (const char *)v + sizeof lo, sizeof hi);
    lo += hi;
    return (lo[0] + lo[1]) + (lo[2] + lo[3]);
}

SY_INLINE float sy_v8_max(const sy_v8f *v) {
    float m = (*v)[0];
    int i;
    for (i = 1; i < 8; i++) m = (*v)[i] > m ? (*v)[i] : m;
    return m;
}

/* f (one of the functions below) over n floats, eight at a time, the
** last partial vector zero-padded; y may be x. */
#define APPLY8(f, y, x, n)                                \
    do {                                                  \
        int64_t i_ = 0;                                   \
        sy_v8f v_;                                        \
        for (; i_ + 8 <= (n); i_ += 8) {                  \
            sy_v8_load(&v_, (x) + i_, 8);                 \
            f(&v_);                                       \
            sy_v8_store((y) + i_, &v_, 8);                \
        }                                                 \
        if (i_ < (n)) {                                   \
            sy_v8_load(&v_, (x) + i_, (int)((n) - i_));   \
            f(&v_);                                       \
            sy_v8_store((y) + i_, &v_, (int)((n) - i_));  \
        }                                                 \
    } while (0)

/* y[0:na] += a, then y[0:nb] += b (a or b may be NULL): the recurrent
** layers' biases, added in this order so results stay as they were. Plain
** loops, vectorised by the compiler for the clone they are inlined into;
** the double twin serves the double paths. */
SY_INLINE void sy_add_biases_f32(float *y, const float *a, int64_t na, const float *b, int64_t nb) {
    int64_t j;
    if (a)
        for (j = 0; j < na; j++) y[j] += a[j];
    if (b)
        for (j = 0; j < nb; j++) y[j] += b[j];
}

SY_INLINE void sy_add_biases_f64(double *y, const double *a, int64_t na, const double *b,
                                 int64_t nb) {
    int64_t j;
    if (a)
        for (j = 0; j < na; j++) y[j] += a[j];
    if (b)
        for (j = 0; j < nb; j++) y[j] += b[j];
}

/* One exponential for all three functions:
**   e^y = 2^k (1 + q),  e^y - 1 = 2^k q + (2^k - 1),
** k = round(y / ln 2), r = y - k ln 2 in [-ln2/2, ln2/2] (ln 2 split in a
** short head, so k * LN2_HI is exact, and a tail), q = e^r - 1 by its Taylor
** series to r^7 (truncation below 2e-8 relative). Writing e^y - 1 that way
** keeps tanh(x) = (e^2x - 1) / (e^2x + 1) accurate near 0.
** For y in [-87, 88], so that 2^k stays a normal float: *p = 2^k.
** sy_v8_exp_parts_n does n <= 8 vectors, each step on all of them before
** the next, so that their chains of dependent operations run side by side
** (one after the other each would wait on its own latency); the same bits
** as n calls of sy_v8_exp_parts. */
SY_INLINE void sy_v8_exp_parts_n(const sy_v8f *y, sy_v8f *p, sy_v8f *q, int n) {
    const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f, log2e = 1.44269504088896341f;
    const float rounder = 12582912.0f;   /* 1.5 * 2^23: adding it rounds to an integer */
    const int32_t rounder_bits = 0x4B400000;
    sy_v8f t[8], r[8];
    int i;
    for (i = 0; i < n; i++) t[i] = y[i] * log2e + rounder;
    for (i = 0; i < n; i++) {
        const sy_v8f k = t[i] - rounder;
        r[i] = y[i] - k * ln2_hi - k * ln2_lo;
    }
    /* q = r (1 + r (1/2 + r (1/6 + r (1/24 + r (1/120 + r (1/720 + r / 5040)))))) */
    for (i = 0; i < n; i++) q[i] = 1.0f / 720 + r[i] * (1.0f / 5040);
    for (i = 0; i < n; i++) q[i] = 1.0f / 120 + r[i] * q[i];
    for (i = 0; i < n; i++) q[i] = 1.0f / 24 + r[i] * q[i];
    for (i = 0; i < n; i++) q[i] = 1.0f / 6 + r[i] * q[i];
    for (i = 0; i < n; i++) q[i] = 1.0f / 2 + r[i] * q[i];
    for (i = 0; i < n; i++) q[i] = r[i] * (1 + r[i] * q[i]);
    for (i = 0; i < n; i++) p[i] = (sy_v8f)(((sy_v8i)t[i] - rounder_bits + 127) << 23);
}

SY_INLINE void sy_v8_exp_parts(const sy_v8f *y, sy_v8f *p, sy_v8f *q) {
    sy_v8_exp_parts_n(y, p, q, 1);
}

SY_INLINE void sy_v8_clamp(sy_v8f *y, float lo, float hi) {
    sy_v8f vlo, vhi;
    sy_v8_set1(&vlo, lo);
    sy_v8_set1(&vhi, hi);
    sy_v8_select(y, *y > vhi, &vhi, y);
    sy_v8_select(y, *y < vlo, &vlo, y);
}

/* e^x within 2 ulp; 0 where e^x is below FLT_MIN (x < -87.34: subnormal
** results are flushed), inf above FLT_MAX (x > 88.72), NaN stays NaN. For
** k > 0 the power of two is built as 2^(k-1) and the result doubled, so
** that k = 128 (x near 88.7) stays finite. */
SY_INLINE void sy_v8_exp(sy_v8f *x) {
    const float lo = -87.33654f, hi = 88.72283f;
    const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f, log2e = 1.44269504088896341f;
    const float rounder = 12582912.0f;
    const int32_t rounder_bits = 0x4B400000;
    const sy_v8i under = *x < lo, over = *x > hi;
    sy_v8f y = *x, t, k, r, q, p, one, two, scale, zero = {0}, inf;
    sy_v8i big;
    sy_v8_clamp(&y, lo, hi);
    t = y * log2e + rounder;
    k = t - rounder;
    r = y - k * ln2_hi - k * ln2_lo;
    q = r * (1 + r * (1.0f / 2 + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 +
                                                     r * (1.0f / 720 + r * (1.0f / 5040)))))));
    big = k > zero;   /* all ones (-1) where k > 0 */
    p = (sy_v8f)(((sy_v8i)t - rounder_bits + 127 + big) << 23);
    sy_v8_set1(&one, 1);
    sy_v8_set1(&two, 2);
    sy_v8_select(&scale, big, &two, &one);
    y = (p + p * q) * scale;
    sy_v8_set1(&inf, __builtin_inff());
    sy_v8_select(&y, under, &zero, &y);
    sy_v8_select(x, over, &inf, &y);
}

/* 1 / (1 + e^-x); the exponent is clamped where the result is 0 or 1 in
** float anyway. NaN stays NaN (comparisons with it are false). */
SY_INLINE void sy_v8_sigmoid(sy_v8f *x) {
    sy_v8f y = -*x, p, q;
    sy_v8_clamp(&y, -87.0f, 88.0f);
    sy_v8_exp_parts(&y, &p, &q);
    *x = 1 / (1 + (p + p * q));
}

/* sign(x) (e^2|x| - 1) / (e^2|x| + 1), with 2|x| clamped at 18 where tanh
** is 1 in float. */
SY_INLINE void sy_v8_tanh(sy_v8f *x) {
    const sy_v8i sign = (sy_v8i)*x & INT32_MIN;
    sy_v8f y = (sy_v8f)((sy_v8i)*x & INT32_MAX) * 2, p, q, e, big;
    sy_v8_set1(&big, 18.0f);
    sy_v8_select(&y, y > big, &big, &y);
    sy_v8_exp_parts(&y, &p, &q);
    e = p * q + (p - 1);
    *x = (sy_v8f)((sy_v8i)(e / (e + 2)) | sign);
}

/* e^(-s x^2) for s = 1 or 1/2 (a power of two, so s x^2 is exact), within
** 2 ulp however large x^2 is: x^2 is formed exactly as h + l (Dekker's
** product on 12-bit halves, no FMA needed), e^(-s h) by the exponential
** above and the tail as e^(-s l) ~ 1 - s l (|s l| < 2^-18 where e^(-s h) is
** a normal float). Rounding x^2 to a float instead would cost up to 6e-6
** relative at x^2 = 87. 0 where s x^2 > 87 (x = +-inf too); NaN stays NaN. */
SY_INLINE void sy_v8_exp_nsq(sy_v8f *x, float s) {
    const sy_v8f hi = (sy_v8f)((sy_v8i)*x & ~0xFFF), lo = *x - hi;
    const sy_v8f h = *x * *x, l = ((hi * hi - h) + 2 * (hi * lo)) + lo * lo;
    const sy_v8i under = h * s > 87.0f;
    sy_v8f y = -(h * s), p, q, zero = {0};
    sy_v8_clamp(&y, -87.0f, 0.0f);
    sy_v8_exp_parts(&y, &p, &q);
    q = q - (l * s) * (1 + q);
    y = p + p * q;
    sy_v8_select(x, under, &zero, &y);
}

/* The normal distribution's upper tail over its density's exponential,
**   G(v) = Phi(-v) e^(v^2/2) = erfc(v / sqrt 2) e^(v^2/2) / 2,   v >= 0
** (G(0) = 1/2, G(v) ~ 1 / (v sqrt(2 pi)) for large v), as a rational
** P4(v) / Q5(v) fitted to it on [0, 13.2] (least squares on the relative
** error, reweighted towards minimax): within 5e-9 relative there, all
** coefficients positive, so Horner's sums do not cancel. Phi(-v) =
** e^(-v^2/2) G(v) then has no 1 - erf(...) in it to lose digits. */
SY_INLINE void sy_v8_normal_tail(sy_v8f *v) {
    const sy_v8f x = *v;
    const sy_v8f p = 0.50000000244831975f +
                     x * (0.43545779455485846f +
                          x * (0.18113849278875304f +
                               x * (0.039927708894497838f + x * 0.0040118708788024446f)));
    const sy_v8f q = 1 + x * (1.6688005031575568f +
                              x * (1.1937830588588473f +
                                   x * (0.46393627362965367f +
                                        x * (0.10009139191681346f + x * 0.010056123536653711f))));
    *v = p / q;
}

/* erf(x) within 1.5 ulp: x P6(x^2) for |x| < 0.9 (fitted to erf(x)/x there,
** within 3e-10 relative; summed as x + x (P6 - 1), so the polynomial's
** rounding lands on the small correction), else sign(x) (1 - 2 e^(-x^2)
** G(sqrt 2 |x|)), whose 1 - ... rounds to 1 from |x| = 3.92 on (|x| is
** clamped at 4). +-inf gives +-1, -0 stays -0, NaN stays NaN. */
SY_INLINE void sy_v8_erf(sy_v8f *x) {
    const sy_v8f z = *x, t = z * z;
    const sy_v8i sign = (sy_v8i)z & INT32_MIN;
    const sy_v8f small =
        z + z * (0.1283791667643568f +
                 t * (-0.376126349797863f +
                      t * (0.11283715031944017f +
                           t * (-0.02686050841599468f +
                                t * (0.0052038590484192304f +
                                     t * (-0.00081756380759406611f + t * 8.5130990865776683e-5f))))));
    sy_v8f a = (sy_v8f)((sy_v8i)z & INT32_MAX), four, g, e, big;
    sy_v8_set1(&four, 4.0f);
    sy_v8_select(&a, a > four, &four, &a);
    g = a * 1.41421356237309505f;
    sy_v8_normal_tail(&g);
    e = a;
    sy_v8_exp_nsq(&e, 1.0f);
    big = (sy_v8f)((sy_v8i)(1 - 2 * (e * g)) | sign);
    sy_v8_select(x, a < 0.9f, &small, &big);
}

#endif
