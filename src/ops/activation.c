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
** The kernels are written once over SY_REAL: this file includes itself
** twice, for float (erff, expf, tanhf) and double, and the public functions
** below dispatch on the dtype.
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
#define SY_ERF erff
#define SY_EXP expf
#define SY_TANH tanhf
#include "activation.c"
#undef SY_REAL
#undef SY_FN
#undef SY_ERF
#undef SY_EXP
#undef SY_TANH

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
