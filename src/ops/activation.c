/*
** activation.c -- GELU, exact (erf) and tanh-approximated as PyTorch defines
** them, with their derivatives (see layers.h):
**   exact:  y = x Phi(x),  y' = Phi(x) + x phi(x),
**           Phi(x) = (1 + erf(x / sqrt 2)) / 2, phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
**   tanh:   y = x (1 + t) / 2 with t = tanh(u), u = sqrt(2/pi) (x + 0.044715 x^3),
**           y' = (1 + t) / 2 + x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2) / 2
**
** Each pass is split across the pool above SY_ELEMENTWISE_SPLIT_MIN values
** (act_run). ReLU's backward is one branch-free pass: both operands are
** loaded before the select, so the loop vectorises (a branch on random
** signs mispredicts half the time).
**
** float32 GELU runs on eight lanes (simd.h), in forms chosen so that the
** negative tail keeps its relative accuracy (1 + erf(x / sqrt 2) and
** 1 + tanh(u) cancel there):
**   exact:  Phi(x) = e G(|x|) for x < 0, 1 - e G(x) otherwise, with
**           e = exp(-x^2/2) = sqrt(2 pi) phi(x) and G = sy_v8_normal_tail,
**           so y' = e (G(|x|) + x / sqrt(2 pi)) for x < 0,
**                   1 + e (x / sqrt(2 pi) - G(x)) otherwise
**   tanh:   (1 + t) / 2 = s = 1 / (1 + E) (x >= 0) or E / (1 + E) (x < 0),
**           E = exp(-2|u|), 1 - s the other one, 1 - t^2 = 4 s (1 - s).
** x is clamped where the result no longer changes (e, E are 0 there), so
** that x = -inf gives -0, not -inf * 0.
**
** The scalar kernels are written once over SY_REAL: this file includes
** itself twice, for float (ReLU's backward) and double (everything, on
** libm), and the public functions below dispatch on the dtype.
*/
#ifndef SY_REAL

#include <math.h>

#include "../core/iter.h"
#include "../core/threads.h"
#include "layers.h"
#include "simd.h"

#define SQRT1_2 0.70710678118654752440     /* 1 / sqrt(2) */
#define INV_SQRT_2PI 0.39894228040143267794 /* 1 / sqrt(2 pi) */
#define SQRT_2_PI 0.79788456080286535588    /* sqrt(2 / pi) */
#define GELU_C 0.044715

#define SY_REAL float
#define SY_FN(name) name##_f32
#include "activation.c"
#undef SY_REAL
#undef SY_FN

#define SY_REAL double
#define SY_FN(name) name##_f64
#define SY_ERF erf
#define SY_EXP exp
#define SY_TANH tanh
#include "activation.c"
#undef SY_REAL
#undef SY_FN
#undef SY_ERF
#undef SY_EXP
#undef SY_TANH

/* the clamps: e^(-x^2/2) is 0 from |x| = 13.2 on (sy_v8_exp_nsq), E from
** |x| = 10.1 on */
#define ERF_XMAX 14.0f
#define TANH_XMAX 20.0f

/* Phi(x) for the exact form: e = e^(-x^2/2), g = G(|x|), xc = x clamped */
SY_INLINE void gelu_erf_parts(const sy_v8f *x, sy_v8f *xc, sy_v8f *e, sy_v8f *g) {
    *xc = *x;
    sy_v8_clamp(xc, -ERF_XMAX, ERF_XMAX);
    *e = *xc;
    sy_v8_exp_nsq(e, 0.5f);
    *g = (sy_v8f)((sy_v8i)*xc & INT32_MAX);
    sy_v8_normal_tail(g);
}

SY_INLINE void gelu_erf_v8(sy_v8f *x) {
    sy_v8f xc, e, g, t, phi, one_minus;
    gelu_erf_parts(x, &xc, &e, &g);
    t = e * g;
    one_minus = 1 - t;
    sy_v8_select(&phi, *x < 0, &t, &one_minus);
    sy_v8_select(x, *x < 0, &xc, x);
    *x = *x * phi;
}

SY_INLINE void gelu_erf_grad_v8(sy_v8f *dy, const sy_v8f *x) {
    sy_v8f xc, e, g, w, neg, pos, d;
    gelu_erf_parts(x, &xc, &e, &g);
    w = xc * (float)INV_SQRT_2PI;
    neg = e * (g + w);
    pos = 1 + e * (w - g);
    sy_v8_select(&d, *x < 0, &neg, &pos);
    *dy = *dy * d;
}

/* the tanh form's s = (1 + t) / 2 and r = 1 - s, each without a
** difference, and xc = x clamped */
SY_INLINE void gelu_tanh_parts(const sy_v8f *x, sy_v8f *xc, sy_v8f *s, sy_v8f *r) {
    const float k = (float)SQRT_2_PI, c = (float)GELU_C;
    sy_v8f u, e, d, ed;
    *xc = *x;
    sy_v8_clamp(xc, -TANH_XMAX, TANH_XMAX);
    u = k * (*xc + c * (*xc * *xc * *xc));
    e = (sy_v8f)((sy_v8i)u | INT32_MIN) * 2;   /* -2|u| */
    sy_v8_exp(&e);
    d = 1 / (1 + e);
    ed = e * d;
    sy_v8_select(s, *x < 0, &ed, &d);
    sy_v8_select(r, *x < 0, &d, &ed);
}

SY_INLINE void gelu_tanh_v8(sy_v8f *x) {
    sy_v8f xc, s, r;
    gelu_tanh_parts(x, &xc, &s, &r);
    sy_v8_select(x, *x < 0, &xc, x);
    *x = *x * s;
}

SY_INLINE void gelu_tanh_grad_v8(sy_v8f *dy, const sy_v8f *x) {
    const float k2 = (float)(2 * SQRT_2_PI), c3 = (float)(3 * GELU_C);
    sy_v8f xc, s, r, q;
    gelu_tanh_parts(x, &xc, &s, &r);
    q = k2 * xc * r * (1 + c3 * (xc * xc));
    *dy = *dy * (s + s * q);   /* not s (1 + q): q is -1 where y' crosses 0 */
}

/* Vectors whose every |x| is at most GELU_FAST_XMAX (no NaN, no inf) take
** the short way, up to four at a time with their steps interleaved (one
** sy_v8_any test for the group): no clamps, no selects for the tails, and
** e^(-x^2/2) = 2^k (1 + q) by adding k to the exponent bits. Each lane gets
** the same bits as on the careful way above (x^2/2 <= 72, so 2^k and
** 2^k q are normal floats and p + p q rounds as 2^k (1 + q) does), whatever
** its neighbours are. The tanh form's own limit is its clamp. */
#define GELU_FAST_XMAX 12.0f

SY_INLINE int gelu_all_within(const sy_v8f *x, int n, float xmax) {
    sy_v8i wide = ~((sy_v8f)((sy_v8i)x[0] & INT32_MAX) <= xmax);
    int i;
    for (i = 1; i < n; i++) wide |= ~((sy_v8f)((sy_v8i)x[i] & INT32_MAX) <= xmax);
    return !sy_v8_any(&wide);
}

/* e = e^(-x^2/2), g = G(|x|) for n <= 4 vectors within GELU_FAST_XMAX:
** sy_v8_exp_nsq's steps without its clamp and flush */
SY_INLINE void gelu_erf_parts_n(const sy_v8f *x, sy_v8f *e, sy_v8f *g, int n) {
    sy_v8f y[4], l[4], t[4], q[4];
    sy_v8u kb;
    int i;
    for (i = 0; i < n; i++) {
        const sy_v8f hi = (sy_v8f)((sy_v8i)x[i] & ~0xFFF), lo = x[i] - hi, h = x[i] * x[i];
        l[i] = ((hi * hi - h) + 2 * (hi * lo)) + lo * lo;
        y[i] = -(h * 0.5f);
    }
    sy_v8_exp_tq_n(y, t, q, n);
    for (i = 0; i < n; i++) {
        const sy_v8f qc = q[i] - (l[i] * 0.5f) * (1 + q[i]);
        sy_v8_exp_kbits(&kb, &t[i]);
        e[i] = (sy_v8f)((sy_v8u)(1 + qc) + kb);
    }
    for (i = 0; i < n; i++) {
        g[i] = (sy_v8f)((sy_v8i)x[i] & INT32_MAX);
        sy_v8_normal_tail(&g[i]);
    }
}

SY_INLINE void gelu_erf_n(sy_v8f *x, int n) {
    sy_v8f e[4], g[4];
    int i;
    if (!gelu_all_within(x, n, GELU_FAST_XMAX)) {
        for (i = 0; i < n; i++) gelu_erf_v8(&x[i]);
        return;
    }
    gelu_erf_parts_n(x, e, g, n);
    for (i = 0; i < n; i++) {
        const sy_v8f t = e[i] * g[i], one_minus = 1 - t;
        sy_v8f phi;
        sy_v8_select(&phi, x[i] < 0, &t, &one_minus);
        x[i] = x[i] * phi;
    }
}

SY_INLINE void gelu_erf_grad_n(sy_v8f *dy, const sy_v8f *x, int n) {
    sy_v8f e[4], g[4];
    int i;
    if (!gelu_all_within(x, n, GELU_FAST_XMAX)) {
        for (i = 0; i < n; i++) gelu_erf_grad_v8(&dy[i], &x[i]);
        return;
    }
    gelu_erf_parts_n(x, e, g, n);
    for (i = 0; i < n; i++) {
        const sy_v8f w = x[i] * (float)INV_SQRT_2PI, neg = e[i] * (g[i] + w),
                     pos = 1 + e[i] * (w - g[i]);
        sy_v8f d;
        sy_v8_select(&d, x[i] < 0, &neg, &pos);
        dy[i] = dy[i] * d;
    }
}

/* s and r of gelu_tanh_parts for n <= 4 vectors within TANH_XMAX */
SY_INLINE void gelu_tanh_parts_n(const sy_v8f *x, sy_v8f *s, sy_v8f *r, int n) {
    const float k = (float)SQRT_2_PI, c = (float)GELU_C;
    sy_v8f e[4];
    int i;
    for (i = 0; i < n; i++) {
        const sy_v8f u = k * (x[i] + c * (x[i] * x[i] * x[i]));
        e[i] = (sy_v8f)((sy_v8i)u | INT32_MIN) * 2;
    }
    sy_v8_exp_n(e, n);
    for (i = 0; i < n; i++) {
        const sy_v8f d = 1 / (1 + e[i]), ed = e[i] * d;
        sy_v8_select(&s[i], x[i] < 0, &ed, &d);
        sy_v8_select(&r[i], x[i] < 0, &d, &ed);
    }
}

SY_INLINE void gelu_tanh_n(sy_v8f *x, int n) {
    sy_v8f s[4], r[4];
    int i;
    if (!gelu_all_within(x, n, TANH_XMAX)) {
        for (i = 0; i < n; i++) gelu_tanh_v8(&x[i]);
        return;
    }
    gelu_tanh_parts_n(x, s, r, n);
    for (i = 0; i < n; i++) x[i] = x[i] * s[i];
}

SY_INLINE void gelu_tanh_grad_n(sy_v8f *dy, const sy_v8f *x, int n) {
    const float k2 = (float)(2 * SQRT_2_PI), c3 = (float)(3 * GELU_C);
    sy_v8f s[4], r[4];
    int i;
    if (!gelu_all_within(x, n, TANH_XMAX)) {
        for (i = 0; i < n; i++) gelu_tanh_grad_v8(&dy[i], &x[i]);
        return;
    }
    gelu_tanh_parts_n(x, s, r, n);
    for (i = 0; i < n; i++) {
        const sy_v8f q = k2 * x[i] * r[i] * (1 + c3 * (x[i] * x[i]));
        dy[i] = dy[i] * (s[i] + s[i] * q);
    }
}

/* dy = f(dy, x, k) over n floats, as APPLY8X4 */
#define APPLY8X4_2(f, out, dy, x, n)                                      \
    do {                                                                  \
        int64_t i_ = 0;                                                   \
        sy_v8f d_[4], v_[4];                                              \
        int k_;                                                           \
        for (; i_ + 32 <= (n); i_ += 32) {                                \
            for (k_ = 0; k_ < 4; k_++) {                                  \
                sy_v8_load(&d_[k_], (dy) + i_ + 8 * k_, 8);               \
                sy_v8_load(&v_[k_], (x) + i_ + 8 * k_, 8);                \
            }                                                             \
            f(d_, v_, 4);                                                 \
            for (k_ = 0; k_ < 4; k_++) sy_v8_store((out) + i_ + 8 * k_, &d_[k_], 8); \
        }                                                                 \
        for (; i_ + 8 <= (n); i_ += 8) {                                  \
            sy_v8_load(&d_[0], (dy) + i_, 8);                             \
            sy_v8_load(&v_[0], (x) + i_, 8);                              \
            f(d_, v_, 1);                                                 \
            sy_v8_store((out) + i_, &d_[0], 8);                           \
        }                                                                 \
        if (i_ < (n)) {                                                   \
            sy_v8_load(&d_[0], (dy) + i_, (int)((n) - i_));               \
            sy_v8_load(&v_[0], (x) + i_, (int)((n) - i_));                \
            f(d_, v_, 1);                                                 \
            sy_v8_store((out) + i_, &d_[0], (int)((n) - i_));             \
        }                                                                 \
    } while (0)

SY_SIMD_CLONES static void gelu_fwd_f32(float *y, const float *x, int64_t n,
                                        sy_gelu_approx approx) {
    if (approx == SY_GELU_TANH)
        APPLY8X4(gelu_tanh_n, y, x, n);
    else
        APPLY8X4(gelu_erf_n, y, x, n);
}

SY_SIMD_CLONES static void gelu_bwd_f32(float *dx, const float *dy, const float *x, int64_t n,
                                        sy_gelu_approx approx) {
    if (approx == SY_GELU_TANH)
        APPLY8X4_2(gelu_tanh_grad_n, dx, dy, x, n);
    else
        APPLY8X4_2(gelu_erf_grad_n, dx, dy, x, n);
}

#define DISPATCH(dt, fn, ...) ((dt) == SY_F32 ? fn##_f32(__VA_ARGS__) : fn##_f64(__VA_ARGS__))

/* One elementwise pass, split across the pool above SY_ELEMENTWISE_SPLIT_MIN
** values (each value depends on its own inputs alone, so results do not
** depend on the split). */
typedef enum { ACT_GELU_FWD, ACT_GELU_BWD, ACT_RELU_BWD } act_kind;

typedef struct {
    act_kind kind;
    sy_dtype dt;
    sy_gelu_approx approx;
    char *out;
    const char *a, *b;   /* gelu_fwd: x; backwards: dy, x */
    int64_t n;
} act_job;

static void act_task(void *ctx, int task, int n_tasks) {
    const act_job *j = ctx;
    const int64_t es = sy_dtype_size(j->dt);
    int64_t lo, hi;
    sy_split(j->n, 64, task, n_tasks, &lo, &hi);
    if (lo >= hi) return;
    switch (j->kind) {
    case ACT_GELU_FWD:
        DISPATCH(j->dt, gelu_fwd, (void *)(j->out + lo * es), (const void *)(j->a + lo * es),
                 hi - lo, j->approx);
        break;
    case ACT_GELU_BWD:
        DISPATCH(j->dt, gelu_bwd, (void *)(j->out + lo * es), (const void *)(j->a + lo * es),
                 (const void *)(j->b + lo * es), hi - lo, j->approx);
        break;
    case ACT_RELU_BWD:
        DISPATCH(j->dt, relu_bwd, (void *)(j->out + lo * es), (const void *)(j->a + lo * es),
                 (const void *)(j->b + lo * es), hi - lo);
        break;
    }
}

static void act_run(act_kind kind, sy_tensor *out, const sy_tensor *a, const sy_tensor *b,
                    int64_t n, sy_gelu_approx approx) {
    act_job j = {kind, out->dtype, approx, sy_tensor_data(out), sy_tensor_data(a),
                 b ? sy_tensor_data(b) : NULL, n};
    sy_parallel_run(act_task, &j, sy_elementwise_tasks(n));
}

void sy_gelu_forward(sy_tensor *y, const sy_tensor *x, int64_t n, sy_gelu_approx approx) {
    act_run(ACT_GELU_FWD, y, x, NULL, n, approx);
}

void sy_gelu_backward(sy_tensor *dx, const sy_tensor *dy, const sy_tensor *x, int64_t n,
                      sy_gelu_approx approx) {
    act_run(ACT_GELU_BWD, dx, dy, x, n, approx);
}

void sy_relu_backward(sy_tensor *dx, const sy_tensor *dy, const sy_tensor *x, int64_t n) {
    act_run(ACT_RELU_BWD, dx, dy, x, n, SY_GELU_NONE);
}

#else /* ------------------------------------------- typed body (SY_REAL) */

SY_SIMD_CLONES static void SY_FN(relu_bwd)(SY_REAL *dx, const SY_REAL *dy, const SY_REAL *x,
                                           int64_t n) {
    int64_t i;
    for (i = 0; i < n; i++) {
        const SY_REAL g = dy[i];
        dx[i] = x[i] > 0 ? g : 0;
    }
}

#ifdef SY_ERF /* float GELU is on eight lanes, above */
static void SY_FN(gelu_fwd)(SY_REAL *y, const SY_REAL *x, int64_t n, sy_gelu_approx approx) {
    const SY_REAL half = (SY_REAL)0.5;
    int64_t i;
    if (approx == SY_GELU_TANH) {
        const SY_REAL k = (SY_REAL)SQRT_2_PI, c = (SY_REAL)GELU_C;
        for (i = 0; i < n; i++) {
            const SY_REAL v = x[i];
            y[i] = half * v * (1 + SY_TANH(k * (v + c * v * v * v)));
        }
    } else {
        const SY_REAL s = (SY_REAL)SQRT1_2;
        for (i = 0; i < n; i++) y[i] = half * x[i] * (1 + SY_ERF(x[i] * s));
    }
}

static void SY_FN(gelu_bwd)(SY_REAL *dx, const SY_REAL *dy, const SY_REAL *x, int64_t n,
                            sy_gelu_approx approx) {
    const SY_REAL half = (SY_REAL)0.5;
    int64_t i;
    if (approx == SY_GELU_TANH) {
        const SY_REAL k = (SY_REAL)SQRT_2_PI, c = (SY_REAL)GELU_C;
        for (i = 0; i < n; i++) {
            const SY_REAL v = x[i], t = SY_TANH(k * (v + c * v * v * v));
            dx[i] = dy[i] * (half * (1 + t) + half * v * (1 - t * t) * k * (1 + 3 * c * v * v));
        }
    } else {
        const SY_REAL s = (SY_REAL)SQRT1_2, p = (SY_REAL)INV_SQRT_2PI;
        for (i = 0; i < n; i++) {
            const SY_REAL v = x[i];
            dx[i] = dy[i] * (half * (1 + SY_ERF(v * s)) + v * p * SY_EXP(-half * v * v));
        }
    }
}

#endif

#endif
