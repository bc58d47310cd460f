/*
** clip.c -- gradient-norm clipping with torch.nn.utils.clip_grad_norm_'s
** semantics: one norm over all gradients together, and one scale factor.
** Sums are accumulated in double; gradients may be any strided view.
*/
#include <math.h>

#include "../core/iter.h"
#include "optim.h"

struct norm_ctx {
    sy_dtype dtype;
    double p;
    double acc;   /* sum of |x|^p, or max |x| for p = inf */
};

static double load(const char *ptr, sy_dtype dt) {
    return dt == SY_F32 ? (double)*(const float *)ptr : *(const double *)ptr;
}

static void norm_row(int64_t n, char **ptr, const int64_t *bs, void *vctx) {
    struct norm_ctx *c = vctx;
    const char *x = ptr[0];
    double acc = c->acc;
    int64_t i;
    if (isinf(c->p)) {
        for (i = 0; i < n; i++, x += bs[0]) {
            double a = fabs(load(x, c->dtype));
            if (a != a || a > acc) acc = a;   /* NaN wins, as torch.max */
            if (acc != acc) break;
        }
    } else if (c->p == 2) {
        for (i = 0; i < n; i++, x += bs[0]) {
            double a = load(x, c->dtype);
            acc += a * a;
        }
    } else if (c->p == 1) {
        for (i = 0; i < n; i++, x += bs[0]) acc += fabs(load(x, c->dtype));
    } else {
        for (i = 0; i < n; i++, x += bs[0]) acc += pow(fabs(load(x, c->dtype)), c->p);
    }
    c->acc = acc;
}

struct scale_ctx {
    sy_dtype dtype;
    double coef;
};

static void scale_row(int64_t n, char **ptr, const int64_t *bs, void *vctx) {
    const struct scale_ctx *c = vctx;
    char *x = ptr[0];
    int64_t i;
    if (c->dtype == SY_F32) {
        const float k = (float)c->coef;
        for (i = 0; i < n; i++, x += bs[0]) *(float *)x *= k;
    } else {
        for (i = 0; i < n; i++, x += bs[0]) *(double *)x *= c->coef;
    }
}

sy_status sy_clip_grad_norm(double *total_norm, sy_tensor *const *grads, int64_t n, double max_norm,
                            double norm_type) {
    struct norm_ctx nc;
    struct scale_ctx sc;
    double total;
    int64_t i;
    *total_norm = 0;
    if (!(max_norm >= 0))
        return sy_error(SY_ERR_ARG, "clip_grad_norm: max_norm must be >= 0, got %g", max_norm);
    if (!(norm_type > 0))
        return sy_error(SY_ERR_ARG, "clip_grad_norm: norm_type must be > 0 (or inf), got %g",
                        norm_type);
    if (n < 0)
        return sy_error(SY_ERR_ARG, "clip_grad_norm: negative gradient count %lld", (long long)n);
    for (i = 0; i < n; i++) {
        const sy_tensor *g = grads[i];
        if (!g) continue;
        if (g->dtype != SY_F32 && g->dtype != SY_F64)
            return sy_error(SY_ERR_DTYPE,
                            "clip_grad_norm: gradient %lld is %s, expected float32 or float64",
                            (long long)i, sy_dtype_name(g->dtype));
        if (g->storage->device != SY_CPU)
            return sy_error(SY_ERR_DEVICE, "clip_grad_norm: gradient %lld is not on the CPU",
                            (long long)i);
    }
    nc.p = norm_type;
    nc.acc = 0;
    for (i = 0; i < n; i++) {
        const sy_tensor *g = grads[i];
        if (!g) continue;
        nc.dtype = g->dtype;
        sy_iter_run(1, &g, g->ndim, g->size, norm_row, &nc);
    }
    total = isinf(norm_type) ? nc.acc
            : norm_type == 2 ? sqrt(nc.acc)
            : norm_type == 1 ? nc.acc
                             : pow(nc.acc, 1.0 / norm_type);
    *total_norm = total;
    /* clamp(max_norm / (total + 1e-6), max=1): a NaN factor is applied too,
    ** as PyTorch does when error_if_nonfinite is off. */
    sc.coef = max_norm / (total + 1e-6);
    if (sc.coef >= 1.0) return SY_OK;
    for (i = 0; i < n; i++) {
        const sy_tensor *g = grads[i];
        if (!g) continue;
        sc.dtype = g->dtype;
        sy_iter_run(1, &g, g->ndim, g->size, scale_row, &sc);
    }
    return SY_OK;
}
