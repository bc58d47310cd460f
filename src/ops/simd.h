/*
** simd.h -- eight-lane float math for the kernels' elementwise passes: exp,
** log, log1p, sigmoid, tanh and erf on GCC/Clang vector types, plus loads
** and stores of partial vectors.
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
typedef uint32_t sy_v8u __attribute__((vector_size(32)));

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

/* The largest lane by halving: the two halves, then pairs, then lanes
** (a NaN lane loses every comparison but may be kept when compared first). */
SY_INLINE float sy_v8_max(const sy_v8f *v) {
    typedef float v4f_ __attribute__((vector_size(16)));
    typedef int32_t v4i_ __attribute__((vector_size(16)));
    v4f_ lo, hi;
    v4i_ gt;
    float a, b;
    memcpy(&lo, v, sizeof lo);
    memcpy(&hi, (const char *)v + sizeof lo, sizeof hi);
    gt = hi > lo;
    lo = (v4f_)((gt & (v4i_)hi) | (~gt & (v4i_)lo));
    a = lo[1] > lo[0] ? lo[1] : lo[0];
    b = lo[3] > lo[2] ? lo[3] : lo[2];
    return b > a ? b : a;
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

/* The same for f(v, k) over k <= 8 vectors at once (sy_v8_exp_n): four
** at a time, then the rest one by one. */
#define APPLY8X4(f, y, x, n)                              \
    do {                                                  \
        int64_t i_ = 0;                                   \
        sy_v8f v_[4];                                     \
        for (; i_ + 32 <= (n); i_ += 32) {                \
            sy_v8_load(&v_[0], (x) + i_, 8);              \
            sy_v8_load(&v_[1], (x) + i_ + 8, 8);          \
            sy_v8_load(&v_[2], (x) + i_ + 16, 8);         \
            sy_v8_load(&v_[3], (x) + i_ + 24, 8);         \
            f(v_, 4);                                     \
            sy_v8_store((y) + i_, &v_[0], 8);             \
            sy_v8_store((y) + i_ + 8, &v_[1], 8);         \
            sy_v8_store((y) + i_ + 16, &v_[2], 8);        \
            sy_v8_store((y) + i_ + 24, &v_[3], 8);        \
        }                                                 \
        for (; i_ + 8 <= (n); i_ += 8) {                  \
            sy_v8_load(&v_[0], (x) + i_, 8);              \
            f(v_, 1);                                     \
            sy_v8_store((y) + i_, &v_[0], 8);             \
        }                                                 \
        if (i_ < (n)) {                                   \
            sy_v8_load(&v_[0], (x) + i_, (int)((n) - i_)); \
            f(v_, 1);                                     \
            sy_v8_store((y) + i_, &v_[0], (int)((n) - i_)); \
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

/* Whether any lane of a comparison's mask is set: on x86-64 the two
** halves OR-ed and their sign bits gathered (SSE's movmskps, in every
** clone), elsewhere the four 64-bit words OR-ed. */
SY_INLINE int sy_v8_any(const sy_v8i *mask) {
#if defined(__SSE__)
    typedef float v4f_ __attribute__((vector_size(16)));
    typedef int32_t v4i_ __attribute__((vector_size(16)));
    v4i_ lo, hi;
    memcpy(&lo, mask, sizeof lo);
    memcpy(&hi, (const char *)mask + sizeof lo, sizeof hi);
    return __builtin_ia32_movmskps((v4f_)(lo | hi)) != 0;
#else
    uint64_t w[4];
    memcpy(w, mask, sizeof w);
    return ((w[0] | w[1]) | (w[2] | w[3])) != 0;
#endif
}

/* One exponential for all the functions below:
**   e^y = 2^k (1 + q),  e^y - 1 = 2^k q + (2^k - 1),
** k = round(y / ln 2), r = y - k ln 2 in [-ln2/2, ln2/2] (ln 2 split in a
** short head, so k * LN2_HI is exact, and a tail), q = e^r - 1 by its Taylor
** series to r^7 (truncation below 2e-8 relative). Writing e^y - 1 that way
** keeps tanh(x) = (e^2x - 1) / (e^2x + 1) accurate near 0.
** sy_v8_exp_tq_n gives t (k + 1.5 * 2^23, as a float) and q for n <= 8
** vectors, each step on all of them before the next, so that their chains
** of dependent operations run side by side (one after the other each would
** wait on its own latency); the same bits as n single calls.
** sy_v8_exp_parts_n gives *p = 2^k, for y in [-87.34, 88.37] (so that 2^k
** is a normal float). */
SY_INLINE void sy_v8_exp_tq_n(const sy_v8f *y, sy_v8f *t, sy_v8f *q, int n) {
    const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f, log2e = 1.44269504088896341f;
    const float rounder = 12582912.0f;   /* 1.5 * 2^23: adding it rounds to an integer */
    sy_v8f r[8];
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
}

/* k << 23, k in the exponent field: the low bits of t hold k + 2^22 (t is
** in [2^23, 2^24)), and shifted up the 2^22 falls off the top */
SY_INLINE void sy_v8_exp_kbits(sy_v8u *kbits, const sy_v8f *t) {
    *kbits = (sy_v8u)*t << 23;
}

SY_INLINE void sy_v8_exp_parts_n(const sy_v8f *y, sy_v8f *p, sy_v8f *q, int n) {
    sy_v8f t[8];
    sy_v8u kb;
    int i;
    sy_v8_exp_tq_n(y, t, q, n);
    for (i = 0; i < n; i++) {
        sy_v8_exp_kbits(&kb, &t[i]);
        p[i] = (sy_v8f)(kb + (127u << 23));
    }
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

/* e^x within 2 ulp (1.22 at most over every float); 0 where e^x is below
** FLT_MIN (x < -87.34: subnormal results are flushed), inf above FLT_MAX
** (x > 88.72), NaN stays NaN.
** sy_v8_exp_n does n <= 8 vectors: when every |x| <= 87.33 (results and
** 2^k normal, or NaN, which the polynomial carries through) they take the
** short way, p + p q, interleaved; otherwise each vector is clamped and,
** for x > 1, the power of two built as 2^(k-1) and the result doubled, so
** that k = 128 (x near 88.7) stays finite. A doubling is exact, so a lane
** gets the same bits either way whatever its neighbours are. */
SY_INLINE void sy_v8_exp_wide(sy_v8f *x) {
    const sy_v8i under = *x < -87.33654f, over = *x > 88.72283f;
    sy_v8f y = *x, p, q, one, scale, zero = {0}, inf;
    sy_v8i big;
    sy_v8_clamp(&y, -87.33654f, 88.72283f);
    sy_v8_exp_parts(&y, &p, &q);   /* p has inf's bits where k = 128 */
    sy_v8_set1(&one, 1);
    big = y > one;
    p = (sy_v8f)((sy_v8i)p - (big & (1 << 23)));
    scale = (sy_v8f)((sy_v8i)one + (big & (1 << 23)));   /* 2 or 1 */
    y = (p + p * q) * scale;
    sy_v8_set1(&inf, __builtin_inff());
    sy_v8_select(&y, under, &zero, &y);
    sy_v8_select(x, over, &inf, &y);
}

SY_INLINE void sy_v8_exp_n(sy_v8f *x, int n) {
    sy_v8f t[8], q[8];
    sy_v8u kb;
    sy_v8i wide = (sy_v8f)((sy_v8i)x[0] & INT32_MAX) > 87.33f;
    int i;
    for (i = 1; i < n; i++) wide |= (sy_v8f)((sy_v8i)x[i] & INT32_MAX) > 87.33f;
    if (!sy_v8_any(&wide)) {
        /* 2^k (1 + q) by adding k to the exponent of 1 + q: the same
        ** bits as p + p q, one operation fewer */
        sy_v8_exp_tq_n(x, t, q, n);
        for (i = 0; i < n; i++) {
            sy_v8_exp_kbits(&kb, &t[i]);
            x[i] = (sy_v8f)((sy_v8u)(1 + q[i]) + kb);
        }
    } else {
        for (i = 0; i < n; i++) sy_v8_exp_wide(&x[i]);
    }
}

SY_INLINE void sy_v8_exp(sy_v8f *x) {
    sy_v8_exp_n(x, 1);
}

/* log x within 1 ulp (0.84 at most over every float): x = 2^k m, m in
** [sqrt(1/2), sqrt 2) (the mantissa's bits offset so that the split falls
** at sqrt 2), f = m - 1 (exact), s = f / (2 + f), and
**   log m = 2 atanh s = f - f^2/2 + s (f^2/2 + R(s^2))
** with R(z) = z P2(z) fitted to 2 atanh(s)/s - 2 on s in [0, 0.1716]
** (least squares, reweighted towards minimax: 8.2e-10 of log m). f is
** exact, so the rounding of the division only touches the small terms.
** Vectors with a lane outside [FLT_MIN, FLT_MAX] take the careful way:
** subnormals are scaled by 2^23 first; log 0 = -inf (either sign), log of
** a negative is NaN, log inf = inf, NaN stays NaN.
** sy_v8_log_c adds c / x for a c below half an ulp of x (log1p's rounding
** of 1 + x), as c 2^-k (1 - f + f^2): 1/m to f^3, enough for a term that
** small, added with the low part of k ln 2. */
SY_INLINE void sy_v8_log_c(sy_v8f *x, const sy_v8f *c) {
    const float ln2_hi = 0.693145751953125f;   /* 16 bits: k * ln2_hi is exact */
    const float ln2_lo = 1.4286068203094172e-06f;
    const int32_t sqrt_half_bits = 0x3f3504f3;
    const sy_v8i special = ~((*x >= 1.17549435e-38f) & (*x <= 3.40282347e+38f));
    sy_v8f a = *x, m, f, s, z, R, hfsq, k, lo, y;
    sy_v8i ix, kb = {0};
    if (sy_v8_any(&special)) {
        const sy_v8i sub = a < 1.17549435e-38f;
        const sy_v8f scaled = a * 8388608.0f;   /* 2^23 */
        sy_v8_select(&a, sub, &scaled, &a);
        kb = sub & -23;
    }
    ix = (sy_v8i)a + (0x3f800000 - sqrt_half_bits);
    kb += (ix >> 23) - 127;
    m = (sy_v8f)((ix & 0x007fffff) + sqrt_half_bits);
    f = m - 1;
    s = f / (2 + f);
    z = s * s;
    R = z * (0.6666677665636075f + z * (0.39977495229981624f + z * 0.29873253606077155f));
    hfsq = 0.5f * f * f;
    k = __builtin_convertvector(kb, sy_v8f);
    lo = k * ln2_lo;
    if (c) {   /* 2^-min(k, 126): from k = 127 on, c / x is far below an ulp */
        const sy_v8i kc = kb - ((kb > 126) & (kb - 126));
        const sy_v8f scale = (sy_v8f)((127 - kc) << 23);
        lo += *c * scale * ((1 - f) + 2 * hfsq);
    }
    y = k * ln2_hi - ((hfsq - (s * (hfsq + R) + lo)) - f);
    if (sy_v8_any(&special)) {
        sy_v8f inf, ninf, nan;
        sy_v8_set1(&inf, __builtin_inff());
        sy_v8_set1(&ninf, -__builtin_inff());
        sy_v8_set1(&nan, __builtin_nanf(""));
        sy_v8_select(&y, *x == inf, &inf, &y);
        sy_v8_select(&y, *x == 0, &ninf, &y);
        sy_v8_select(x, ~(*x >= 0), &nan, &y);
    } else {
        *x = y;
    }
}

SY_INLINE void sy_v8_log(sy_v8f *x) {
    sy_v8_log_c(x, NULL);
}

/* log(1 + x) within 1 ulp (0.89 at most over every float): log u + c / u
** for u = 1 + x rounded and c its rounding error, exact by Fast2Sum (the
** larger of 1 and x first). Where u is 1, that is x itself; -0 stays -0,
** log1p(-1) = -inf, below -1 NaN. */
SY_INLINE void sy_v8_log1p(sy_v8f *x) {
    const sy_v8f u = 1 + *x, small = *x - (u - 1), large = 1 - (u - *x);
    sy_v8f c, y = u;
    sy_v8_select(&c, *x > 1, &large, &small);
    sy_v8_log_c(&y, &c);
    sy_v8_select(x, *x == 0, x, &y);
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
