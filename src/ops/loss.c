/*
** loss.c -- the regression losses MSE, L1 and Huber with mean, sum or no
** reduction, forward and backward in one pass each (see attention.h).
**
** Written once over SY_REAL and compiled for float and double by including
** itself, like rnn.c.
*/
#ifndef SY_REAL

#include <math.h>

#include "attention.h"

#define SY_REAL float
#define SY_FN(name) name##_f32
#define SY_ABS fabsf
#include "loss.c"
#undef SY_REAL
#undef SY_FN
#undef SY_ABS

#define SY_REAL double
#define SY_FN(name) name##_f64
#define SY_ABS fabs
#include "loss.c"
#undef SY_REAL
#undef SY_FN
#undef SY_ABS

#define DISPATCH(dt, fn, ...) ((dt) == SY_F32 ? fn##_f32(__VA_ARGS__) : fn##_f64(__VA_ARGS__))

void sy_loss_forward(sy_tensor *out, sy_loss_kind kind, sy_loss_reduction red,
                     const sy_tensor *input, const sy_tensor *target, double delta) {
    DISPATCH(input->dtype, forward, sy_tensor_data(out), kind, red, sy_tensor_data(input),
             sy_tensor_data(target), sy_tensor_numel(input), delta);
}

void sy_loss_backward(sy_tensor *dinput, sy_tensor *dtarget, sy_loss_kind kind,
                      sy_loss_reduction red, const sy_tensor *dout, const sy_tensor *input,
                      const sy_tensor *target, double delta) {
    DISPATCH(input->dtype, backward, dinput ? sy_tensor_data(dinput) : NULL,
             dtarget ? sy_tensor_data(dtarget) : NULL, kind, red, sy_tensor_data(dout),
             sy_tensor_data(input), sy_tensor_data(target), sy_tensor_numel(input), delta);
}

#else /* ------------------------------------------- typed body (SY_REAL) */

static SY_REAL SY_FN(value)(sy_loss_kind kind, SY_REAL d, SY_REAL delta) {
    SY_REAL a = SY_ABS(d);
    switch (kind) {
    case SY_LOSS_MSE: return d * d;
    case SY_LOSS_L1: return a;
    case SY_LOSS_HUBER:
        return a < delta ? (SY_REAL)0.5 * d * d : delta * (a - (SY_REAL)0.5 * delta);
    }
    return 0;
}

/* dloss/dd; NaN passes through */
static SY_REAL SY_FN(slope)(sy_loss_kind kind, SY_REAL d, SY_REAL delta) {
    switch (kind) {
    case SY_LOSS_MSE: return 2 * d;
    case SY_LOSS_L1: return d > 0 ? 1 : d < 0 ? -1 : d * 0;
    case SY_LOSS_HUBER: return d > delta ? delta : d < -delta ? -delta : d;
    }
    return 0;
}

static void SY_FN(forward)(SY_REAL *out, sy_loss_kind kind, sy_loss_reduction red,
                           const SY_REAL *x, const SY_REAL *t, int64_t n, double delta) {
    const SY_REAL dl = (SY_REAL)delta;
    double acc = 0;
    int64_t i;
    if (red == SY_LOSS_NONE) {
        for (i = 0; i < n; i++) out[i] = SY_FN(value)(kind, x[i] - t[i], dl);
        return;
    }
    for (i = 0; i < n; i++) acc += SY_FN(value)(kind, x[i] - t[i], dl);
    out[0] = (SY_REAL)(red == SY_LOSS_MEAN ? acc / (double)n : acc);
}

static void SY_FN(backward)(SY_REAL *dx, SY_REAL *dt, sy_loss_kind kind, sy_loss_reduction red,
                            const SY_REAL *dout, const SY_REAL *x, const SY_REAL *t, int64_t n,
                            double delta) {
    const SY_REAL dl = (SY_REAL)delta;
    const SY_REAL g0 = red == SY_LOSS_NONE ? 0
                       : red == SY_LOSS_MEAN ? (SY_REAL)(dout[0] / (double)n) : dout[0];
    int64_t i;
    for (i = 0; i < n; i++) {
        SY_REAL g = (red == SY_LOSS_NONE ? dout[i] : g0) * SY_FN(slope)(kind, x[i] - t[i], dl);
        if (dx) dx[i] = g;
        if (dt) dt[i] = -g;
    }
}

#endif
