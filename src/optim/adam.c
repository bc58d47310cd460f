/*
** adam.c -- Adam (L2 weight decay in the gradient) and AdamW (decoupled
** weight decay), optionally AMSGrad, as torch.optim.Adam and AdamW: one fused
** loop per parameter, with the pruning mask re-applied in the same pass.
**
** The common case (float32, no weight decay, no AMSGrad: every Adam of the
** study) has a branch-free loop that the compiler vectorises (AVX2 clone)
** and, for big parameters, is split across the pool by element ranges.
** Each element sees the same IEEE operations in the same order as in the
** general loop, so results are bitwise the same on any path and any thread
** count.
*/
#include <math.h>
#include <string.h>

#include "../core/threads.h"
#include "../ops/simd.h"
#include "prepare.h"

static const char *adam_name(const sy_adam_options *o) { return o->decoupled ? "AdamW" : "Adam"; }

sy_status sy_adam_check_options(const sy_adam_options *o) {
    const char *who = adam_name(o);
    if (!(isfinite(o->lr) && o->lr >= 0))
        return sy_error(SY_ERR_ARG, "%s: lr must be a finite number >= 0, got %g", who, o->lr);
    if (!(o->beta1 >= 0 && o->beta1 < 1))
        return sy_error(SY_ERR_ARG, "%s: beta1 (betas[1]) must be in [0, 1), got %g", who,
                        o->beta1);
    if (!(o->beta2 >= 0 && o->beta2 < 1))
        return sy_error(SY_ERR_ARG, "%s: beta2 (betas[2]) must be in [0, 1), got %g", who,
                        o->beta2);
    if (!(isfinite(o->eps) && o->eps >= 0))
        return sy_error(SY_ERR_ARG, "%s: eps must be a finite number >= 0, got %g", who, o->eps);
    if (!(isfinite(o->weight_decay) && o->weight_decay >= 0))
        return sy_error(SY_ERR_ARG, "%s: weight_decay must be a finite number >= 0, got %g", who,
                        o->weight_decay);
    return SY_OK;
}

/* Per-step scalars, computed in double as PyTorch computes them in Python. */
struct adam_scalars {
    double step_size;     /* lr / (1 - beta1^t) */
    double bc2_sqrt;      /* sqrt(1 - beta2^t) */
};

/* Each scalar is rounded to the parameter's type once and the operations
** follow torch.optim.Adam's kernels: add(x, alpha) and addcmul are fused
** multiply-adds, mul_ and addcdiv ((s * m) / d, then +) are not. float32
** results then agree with PyTorch's bit for bit, up to rare ties. */
#define ADAM_LOOP(T, SQRT)                                                              \
    static void adam_loop_##T(const sy_optim_inputs *in, T *m, T *v, T *vmax,           \
                              const sy_adam_options *o, const struct adam_scalars *s) { \
        T *p = in->param;                                                               \
        const T *g = in->grad;                                                          \
        const uint8_t *mask = in->mask;                                                 \
        const T wd = (T)o->weight_decay, keep = (T)(1.0 - o->lr * o->weight_decay);     \
        const T b1 = (T)o->beta1, omb1 = (T)(1.0 - o->beta1);                           \
        const T b2 = (T)o->beta2, omb2 = (T)(1.0 - o->beta2);                           \
        const T bc2_sqrt = (T)s->bc2_sqrt, eps = (T)o->eps, neg_step = (T)(-s->step_size); \
        const int l2 = !o->decoupled && o->weight_decay != 0;                           \
        const int decay = o->decoupled && o->weight_decay != 0;                         \
        int64_t i, n = in->numel;                                                       \
        for (i = 0; i < n; i++) {                                                       \
            T gi = g[i], pi = p[i], mi, vi;                                             \
            if (l2) gi = SY_MADD_##T(pi, wd, gi);                                       \
            if (decay) pi = pi * keep;                                                  \
            mi = SY_MADD_##T(gi, omb1, m[i] * b1);                                      \
            vi = SY_MADD_##T(omb2 * gi, gi, v[i] * b2);                                 \
            m[i] = mi;                                                                  \
            v[i] = vi;                                                                  \
            if (vmax) { /* torch.maximum: NaN wins */                                   \
                T x = vmax[i];                                                          \
                vi = (x != x || x > vi) ? x : vi;                                       \
                vmax[i] = vi;                                                           \
            }                                                                           \
            pi = pi + neg_step * mi / (SQRT(vi) / bc2_sqrt + eps);                      \
            p[i] = (mask && !mask[i]) ? (T)0 : pi;                                      \
        }                                                                               \
    }

ADAM_LOOP(float, sqrtf)
ADAM_LOOP(double, sqrt)

/* The float32 loop without weight decay or AMSGrad: the body of
** adam_loop_float with those branches gone, the mask (when there is one) a
** select, so that it vectorises. */
typedef struct {
    float *p, *m, *v;
    const float *g;
    const uint8_t *mask;
    int64_t n;
    float b1, omb1, b2, omb2, bc2_sqrt, eps, neg_step;
} adam_plain_job;

SY_SIMD_CLONES static void adam_plain_range(const adam_plain_job *j, int64_t lo, int64_t hi) {
    float *restrict p = j->p, *restrict m = j->m, *restrict v = j->v;
    const float *restrict g = j->g;
    const uint8_t *restrict mask = j->mask;
    const float b1 = j->b1, omb1 = j->omb1, b2 = j->b2, omb2 = j->omb2;
    const float bc2_sqrt = j->bc2_sqrt, eps = j->eps, neg_step = j->neg_step;
    int64_t i;
#define ADAM_PLAIN_BODY                                                        \
    const float gi = g[i];                                                     \
    const float mi = SY_MADD_float(gi, omb1, m[i] * b1);                       \
    const float vi = SY_MADD_float(omb2 * gi, gi, v[i] * b2);                  \
    const float pi = p[i] + neg_step * mi / (sqrtf(vi) / bc2_sqrt + eps);      \
    m[i] = mi;                                                                 \
    v[i] = vi;
    if (mask) {
        for (i = lo; i < hi; i++) {   /* pi, or +0 where pruned, without a branch */
            ADAM_PLAIN_BODY
            uint32_t bits;
            memcpy(&bits, &pi, sizeof bits);
            bits &= -(uint32_t)(mask[i] != 0);
            memcpy(&p[i], &bits, sizeof bits);
        }
    } else {
        for (i = lo; i < hi; i++) {
            ADAM_PLAIN_BODY
            p[i] = pi;
        }
    }
#undef ADAM_PLAIN_BODY
}

static void adam_plain_task(void *ctx, int task, int n_tasks) {
    const adam_plain_job *j = ctx;
    int64_t lo, hi;
    sy_split(j->n, 64, task, n_tasks, &lo, &hi);   /* whole cache lines per task */
    if (lo < hi) adam_plain_range(j, lo, hi);
}

/* Below this many elements a parameter is updated on the calling thread
** (about 10 us of work: less than waking the pool is worth). */
#define ADAM_SPLIT_MIN ((int64_t)1 << 14)

static void adam_plain_float(const sy_optim_inputs *in, float *m, float *v,
                             const sy_adam_options *o, const struct adam_scalars *s) {
    const adam_plain_job j = {in->param, m, v, in->grad, in->mask, in->numel,
                              (float)o->beta1, (float)(1.0 - o->beta1), (float)o->beta2,
                              (float)(1.0 - o->beta2), (float)s->bc2_sqrt, (float)o->eps,
                              (float)(-s->step_size)};
    sy_parallel_run(adam_plain_task, (void *)&j,
                    j.n < ADAM_SPLIT_MIN ? 1 : sy_parallel_width());
}

sy_status sy_adam_step(sy_tensor *const *params, sy_optim_state *states, sy_tensor *const *masks,
                       int64_t n, const sy_adam_options *o) {
    int64_t i;
    sy_status st;
    if ((st = sy_adam_check_options(o))) return st;
    if ((st = sy_optim_check_all(adam_name(o), params, states, masks, n))) return st;
    for (i = 0; i < n; i++) {
        sy_tensor *p = params[i];
        sy_optim_state *s = &states[i];
        sy_optim_inputs in;
        struct adam_scalars sc;
        int fresh;
        double t;
        if (!p->grad) continue;
        if ((st = sy_optim_inputs_get(&in, p, masks ? masks[i] : NULL))) return st;
        /* New moments start at zero, so a failure part-way leaves valid state. */
        if ((st = sy_optim_state_ensure(&s->exp_avg, p, 1, &fresh)) ||
            (st = sy_optim_state_ensure(&s->exp_avg_sq, p, 1, &fresh)) ||
            (o->amsgrad && (st = sy_optim_state_ensure(&s->max_exp_avg_sq, p, 1, &fresh)))) {
            sy_optim_inputs_release(&in);
            return st;
        }
        t = (double)++s->step;
        sc.step_size = o->lr / (1.0 - pow(o->beta1, t));
        sc.bc2_sqrt = sqrt(1.0 - pow(o->beta2, t));
        if (p->dtype == SY_F32 && !o->amsgrad && o->weight_decay == 0)
            adam_plain_float(&in, sy_tensor_data(s->exp_avg), sy_tensor_data(s->exp_avg_sq), o,
                             &sc);
        else if (p->dtype == SY_F32)
            adam_loop_float(&in, sy_tensor_data(s->exp_avg), sy_tensor_data(s->exp_avg_sq),
                            o->amsgrad ? sy_tensor_data(s->max_exp_avg_sq) : NULL, o, &sc);
        else
            adam_loop_double(&in, sy_tensor_data(s->exp_avg), sy_tensor_data(s->exp_avg_sq),
                             o->amsgrad ? sy_tensor_data(s->max_exp_avg_sq) : NULL, o, &sc);
        sy_optim_inputs_release(&in);
    }
    return SY_OK;
}
