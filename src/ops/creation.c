/*
** creation.c -- tensors made from a rule rather than from data: arange,
** linspace, eye. Values are computed in double and stored in the requested
** dtype (integer dtypes saturate, as everywhere in the core).
*/
#include <math.h>

#include "ops.h"

/* Above this many elements the count itself is not exact in double. */
#define MAX_COUNT 0x1p53

static void store(sy_tensor *t, int64_t i, double v) {
    sy_value_store((char *)sy_tensor_data(t) + i * sy_dtype_size(t->dtype), t->dtype, v);
}

sy_status sy_arange(sy_tensor **out, double start, double end, double step, sy_dtype dt) {
    double count;
    int64_t n, i;
    sy_status st;
    *out = NULL;
    if (!isfinite(start) || !isfinite(end) || !isfinite(step))
        return sy_error(SY_ERR_ARG, "arange: start, end and step must be finite, got %g, %g, %g", start,
                        end, step);
    if (dt == SY_BOOL) return sy_error(SY_ERR_DTYPE, "arange: dtype bool is not supported");
    if (step == 0) return sy_error(SY_ERR_ARG, "arange: step must not be zero");
    if ((end - start) / step < 0)
        return sy_error(SY_ERR_ARG, "arange: step %g goes away from end (start=%g, end=%g)", step,
                        start, end);
    count = ceil((end - start) / step);
    if (!(count <= MAX_COUNT))
        return sy_error(SY_ERR_ARG, "arange: [%g, %g) in steps of %g has too many elements (%g)", start,
                        end, step, count);
    n = (int64_t)count;
    if ((st = sy_tensor_empty(out, dt, 1, &n))) return st;
    for (i = 0; i < n; i++) store(*out, i, start + (double)i * step);
    return SY_OK;
}

sy_status sy_linspace(sy_tensor **out, double start, double end, int64_t steps, sy_dtype dt) {
    double step;
    int64_t i;
    sy_status st;
    *out = NULL;
    if (!isfinite(start) || !isfinite(end))
        return sy_error(SY_ERR_ARG, "linspace: start and end must be finite, got %g, %g", start, end);
    if (steps < 0)
        return sy_error(SY_ERR_ARG, "linspace: steps must be >= 0, got %lld", (long long)steps);
    if ((st = sy_tensor_empty(out, dt, 1, &steps))) return st;
    if (steps == 1) {
        store(*out, 0, start);
        return SY_OK;
    }
    /* Each half counts from its own endpoint, so both endpoints are exact
    ** and the rounding is symmetric. */
    step = (end - start) / (double)(steps - 1);
    for (i = 0; i < steps; i++)
        store(*out, i, i < steps / 2 ? start + (double)i * step : end - (double)(steps - 1 - i) * step);
    return SY_OK;
}

sy_status sy_eye(sy_tensor **out, int64_t n, int64_t m, sy_dtype dt) {
    int64_t size[2] = {n, m}, i;
    sy_status st;
    *out = NULL;
    if (n < 0 || m < 0)
        return sy_error(SY_ERR_ARG, "eye: sizes must be >= 0, got n=%lld, m=%lld", (long long)n,
                        (long long)m);
    if ((st = sy_tensor_new(out, dt, 2, size))) return st;
    for (i = 0; i < n && i < m; i++) store(*out, i * m + i, 1);
    return SY_OK;
}
