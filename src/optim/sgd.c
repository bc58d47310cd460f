/*
** sgd.c -- stochastic gradient descent with momentum, dampening, Nesterov
** momentum and L2 weight decay, as torch.optim.SGD: one fused loop per
** parameter, with the pruning mask re-applied in the same pass.
*/
#include <math.h>

#include "prepare.h"

sy_status sy_sgd_check_options(const sy_sgd_options *o) {
    if (!(isfinite(o->lr) && o->lr >= 0))
        return sy_error(SY_ERR_ARG, "SGD: lr must be a finite number >= 0, got %g", o->lr);
    if (!(isfinite(o->momentum) && o->momentum >= 0))
        return sy_error(SY_ERR_ARG, "SGD: momentum must be a finite number >= 0, got %g",
                        o->momentum);
    if (!isfinite(o->dampening))
        return sy_error(SY_ERR_ARG, "SGD: dampening must be a finite number, got %g", o->dampening);
    if (!(isfinite(o->weight_decay) && o->weight_decay >= 0))
        return sy_error(SY_ERR_ARG, "SGD: weight_decay must be a finite number >= 0, got %g",
                        o->weight_decay);
    if (o->nesterov && (o->momentum <= 0 || o->dampening != 0))
        return sy_error(SY_ERR_ARG,
                        "SGD: nesterov needs momentum > 0 and dampening = 0 (got momentum %g, "
                        "dampening %g)",
                        o->momentum, o->dampening);
    return SY_OK;
}

/* The scalars are rounded to the parameter's type once, as PyTorch does
** when it applies a Python float to a float32 tensor, and each add(x, alpha)
** of torch.optim.SGD is one fused multiply-add. `first`: the momentum buffer
** is new and takes d itself (torch.clone(d_p)), without dampening. */
#define SGD_LOOP(T)                                                                    \
    static void sgd_loop_##T(const sy_optim_inputs *in, T *buf, int first,             \
                             const sy_sgd_options *o) {                                \
        T *p = in->param;                                                              \
        const T *g = in->grad;                                                         \
        const uint8_t *mask = in->mask;                                                \
        const T wd = (T)o->weight_decay, mom = (T)o->momentum;                         \
        const T damp1 = (T)(1.0 - o->dampening), neg_lr = (T)(-o->lr);                \
        const int decay = o->weight_decay != 0, nesterov = o->nesterov;                \
        int64_t i, n = in->numel;                                                      \
        for (i = 0; i < n; i++) {                                                      \
            T d = g[i], v;                                                             \
            if (decay) d = SY_MADD_##T(p[i], wd, d);                                   \
            if (buf) {                                                                 \
                T b = first ? d : SY_MADD_##T(d, damp1, buf[i] * mom);                 \
                buf[i] = b;                                                            \
                d = nesterov ? SY_MADD_##T(b, mom, d) : b;                             \
            }                                                                          \
            v = SY_MADD_##T(d, neg_lr, p[i]);                                          \
            p[i] = (mask && !mask[i]) ? (T)0 : v;                                      \
        }                                                                              \
    }

SGD_LOOP(float)
SGD_LOOP(double)

sy_status sy_sgd_step(sy_tensor *const *params, sy_optim_state *states, sy_tensor *const *masks,
                      int64_t n, const sy_sgd_options *o) {
    int64_t i;
    sy_status st;
    if ((st = sy_sgd_check_options(o))) return st;
    if ((st = sy_optim_check_all("SGD", params, states, masks, n))) return st;
    for (i = 0; i < n; i++) {
        sy_tensor *p = params[i], *buf = NULL;
        sy_optim_inputs in;
        int first = 0;
        if (!p->grad) continue;
        if ((st = sy_optim_inputs_get(&in, p, masks ? masks[i] : NULL))) return st;
        if (o->momentum != 0) {
            if ((st = sy_optim_state_ensure(&states[i].momentum_buffer, p, 0, &first))) {
                sy_optim_inputs_release(&in);
                return st;
            }
            buf = states[i].momentum_buffer;
        }
        if (p->dtype == SY_F32) sgd_loop_float(&in, buf ? sy_tensor_data(buf) : NULL, first, o);
        else sgd_loop_double(&in, buf ? sy_tensor_data(buf) : NULL, first, o);
        sy_optim_inputs_release(&in);
        states[i].step++;
    }
    return SY_OK;
}
