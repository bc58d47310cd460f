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
#include "simd.h"

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

/* Each loss's element value and slope (dloss/dd, d = input - target),
** written without jumps so that the loops below vectorise (GCC still keeps
** L1's slope scalar: it turns the select back into jumps); NaN passes
** through. Huber's
** value is m (a - m/2) with m = min(|d|, delta): 0.5 d^2 below delta and
** delta (|d| - delta/2) above it, bit for bit (a - a/2 is exact). */
SY_INLINE SY_REAL SY_FN(mse_value)(SY_REAL d, SY_REAL dl) { (void)dl; return d * d; }
SY_INLINE SY_REAL SY_FN(mse_slope)(SY_REAL d, SY_REAL dl) { (void)dl; return 2 * d; }
SY_INLINE SY_REAL SY_FN(l1_value)(SY_REAL d, SY_REAL dl) { (void)dl; return SY_ABS(d); }
SY_INLINE SY_REAL SY_FN(l1_slope)(SY_REAL d, SY_REAL dl) {
    (void)dl;
    return d > 0 ? 1 : d < 0 ? -1 : d * 0;
}
SY_INLINE SY_REAL SY_FN(huber_value)(SY_REAL d, SY_REAL dl) {
    const SY_REAL a = SY_ABS(d), m = a < dl ? a : dl;
    return m * (a - (SY_REAL)0.5 * m);
}
SY_INLINE SY_REAL SY_FN(huber_slope)(SY_REAL d, SY_REAL dl) {
    return d > dl ? dl : d < -dl ? -dl : d;
}

/* One loop per kind: `LOOP(value, slope)` for the kind's functions. */
#define PER_KIND(LOOP)                                                       \
    switch (kind) {                                                          \
    case SY_LOSS_MSE: LOOP(SY_FN(mse_value), SY_FN(mse_slope)); break;       \
    case SY_LOSS_L1: LOOP(SY_FN(l1_value), SY_FN(l1_slope)); break;          \
    case SY_LOSS_HUBER: LOOP(SY_FN(huber_value), SY_FN(huber_slope)); break; \
    }

/* out[i] = the loss of element i */
#define VALUES(V, S) for (i = 0; i < n; i++) out[i] = V(x[i] - t[i], dl)

/* The sum in double, in eight partial sums (element i goes to sum i % 8
** while whole groups of eight remain, the tail to sum 0) added pairwise:
** the order depends on n alone. One chain of dependent adds was ~3x slower
** than PyTorch on 245,760 floats. */
#define SUM(V, S)                                                              \
    do {                                                                       \
        for (; i + 8 <= n; i += 8)                                             \
            for (u = 0; u < 8; u++) r[u] += (double)V(x[i + u] - t[i + u], dl); \
        for (; i < n; i++) r[0] += (double)V(x[i] - t[i], dl);                 \
    } while (0)

/* g[i] = the incoming gradient (dout[i], or g0 for every element when
** reduced) times the slope; two plain loops, which the compiler vectorises */
#define GRADS(V, S)                                                            \
    do {                                                                       \
        if (none)                                                              \
            for (i = 0; i < n; i++) g[i] = dout[i] * S(x[i] - t[i], dl);       \
        else                                                                   \
            for (i = 0; i < n; i++) g[i] = g0 * S(x[i] - t[i], dl);            \
    } while (0)

SY_SIMD_CLONES static void SY_FN(forward)(SY_REAL *out, sy_loss_kind kind, sy_loss_reduction red,
                                          const SY_REAL *x, const SY_REAL *t, int64_t n,
                                          double delta) {
    const SY_REAL dl = (SY_REAL)delta;
    double r[8] = {0}, acc;
    int64_t i = 0;
    int u;
    if (red == SY_LOSS_NONE) {
        PER_KIND(VALUES)
        return;
    }
    PER_KIND(SUM)
    acc = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    out[0] = (SY_REAL)(red == SY_LOSS_MEAN ? acc / (double)n : acc);
}

/* dx and dt = -dx; either may be NULL (not both) */
SY_SIMD_CLONES static void SY_FN(backward)(SY_REAL *dx, SY_REAL *dt, sy_loss_kind kind,
                                           sy_loss_reduction red, const SY_REAL *dout,
                                           const SY_REAL *x, const SY_REAL *t, int64_t n,
                                           double delta) {
    const SY_REAL dl = (SY_REAL)delta;
    const int none = red == SY_LOSS_NONE;
    const SY_REAL g0 = none ? 0 : red == SY_LOSS_MEAN ? (SY_REAL)(dout[0] / (double)n) : dout[0];
    SY_REAL *g = dx ? dx : dt;
    int64_t i;
    PER_KIND(GRADS)
    if (g == dt)
        for (i = 0; i < n; i++) dt[i] = -dt[i];
    else if (dt)
        for (i = 0; i < n; i++) dt[i] = -dx[i];
}

#undef PER_KIND
#undef VALUES
#undef SUM
#undef GRADS

#endif
