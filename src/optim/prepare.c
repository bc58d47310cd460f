/*
** prepare.c -- checks shared by the optimizer steps, contiguous inputs for
** the fused loops, and optimizer state allocation.
*/
#include <stdio.h>

#include "../autograd/autograd.h"
#include "prepare.h"

void sy_optim_state_clear(sy_optim_state *s) {
    sy_tensor_release(s->momentum_buffer);
    sy_tensor_release(s->exp_avg);
    sy_tensor_release(s->exp_avg_sq);
    sy_tensor_release(s->max_exp_avg_sq);
    s->momentum_buffer = s->exp_avg = s->exp_avg_sq = s->max_exp_avg_sq = NULL;
    s->step = 0;
}

/* `what` ("its gradient", "its state 'exp_avg'") must match the parameter. */
static sy_status check_like(const char *who, const char *what, const sy_tensor *t,
                            const sy_tensor *param, int need_contiguous) {
    char a[SY_SHAPE_STRLEN], b[SY_SHAPE_STRLEN];
    if (!sy_tensor_same_shape(t, param))
        return sy_error(SY_ERR_SHAPE, "%s: %s has shape %s, the parameter %s", who, what,
                        sy_shape_str(a, sizeof a, t->ndim, t->size),
                        sy_shape_str(b, sizeof b, param->ndim, param->size));
    if (t->dtype != param->dtype)
        return sy_error(SY_ERR_DTYPE, "%s: %s is %s, the parameter %s", who, what,
                        sy_dtype_name(t->dtype), sy_dtype_name(param->dtype));
    if (t->storage->device != SY_CPU)
        return sy_error(SY_ERR_DEVICE, "%s: %s is not on the CPU", who, what);
    if (need_contiguous && !sy_tensor_is_contiguous(t))
        return sy_error(SY_ERR_ARG, "%s: %s is not contiguous", who, what);
    return SY_OK;
}

sy_status sy_optim_check_param(const char *who, const sy_tensor *param, const sy_optim_state *state,
                               const sy_tensor *mask) {
    char a[SY_SHAPE_STRLEN], b[SY_SHAPE_STRLEN];
    sy_status st;
    if (param->dtype != SY_F32 && param->dtype != SY_F64)
        return sy_error(SY_ERR_DTYPE, "%s is %s; optimizers update float32 or float64 tensors", who,
                        sy_dtype_name(param->dtype));
    if (param->storage->device != SY_CPU)
        return sy_error(SY_ERR_DEVICE, "%s is not on the CPU", who);
    /* Updating a computed tensor in place would corrupt the graph behind it. */
    if (param->grad_fn)
        return sy_error(SY_ERR_ARG, "%s is not a leaf tensor (it was computed by %s); optimize the "
                                    "leaves it came from", who, param->grad_fn->name);
    if (!sy_tensor_is_contiguous(param))
        return sy_error(SY_ERR_ARG, "%s is not contiguous (shape %s, strides %s)", who,
                        sy_shape_str(a, sizeof a, param->ndim, param->size),
                        sy_shape_str(b, sizeof b, param->ndim, param->stride));
    if (param->grad && (st = check_like(who, "its gradient", param->grad, param, 0))) return st;
    if (mask) {
        if (!sy_tensor_same_shape(mask, param))
            return sy_error(SY_ERR_SHAPE, "%s: its mask has shape %s, the parameter %s", who,
                            sy_shape_str(a, sizeof a, mask->ndim, mask->size),
                            sy_shape_str(b, sizeof b, param->ndim, param->size));
        if (mask->dtype != SY_U8 && mask->dtype != SY_BOOL)
            return sy_error(SY_ERR_DTYPE, "%s: its mask is %s; masks are uint8 or bool", who,
                            sy_dtype_name(mask->dtype));
        if (mask->storage->device != SY_CPU)
            return sy_error(SY_ERR_DEVICE, "%s: its mask is not on the CPU", who);
    }
    if (!state) return SY_OK;
    if (state->step < 0) return sy_error(SY_ERR_ARG, "%s: its step count is negative", who);
    if (state->momentum_buffer &&
        (st = check_like(who, "its state 'momentum_buffer'", state->momentum_buffer, param, 1)))
        return st;
    if (state->exp_avg && (st = check_like(who, "its state 'exp_avg'", state->exp_avg, param, 1)))
        return st;
    if (state->exp_avg_sq &&
        (st = check_like(who, "its state 'exp_avg_sq'", state->exp_avg_sq, param, 1)))
        return st;
    if (state->max_exp_avg_sq &&
        (st = check_like(who, "its state 'max_exp_avg_sq'", state->max_exp_avg_sq, param, 1)))
        return st;
    return SY_OK;
}

sy_status sy_optim_check_all(const char *who, sy_tensor *const *params,
                             const sy_optim_state *states, sy_tensor *const *masks, int64_t n) {
    char label[64];
    int64_t i;
    sy_status st;
    if (n < 0) return sy_error(SY_ERR_ARG, "%s: negative parameter count %lld", who, (long long)n);
    for (i = 0; i < n; i++) {
        if (!params[i])
            return sy_error(SY_ERR_ARG, "%s: parameter %lld is NULL", who, (long long)i);
        snprintf(label, sizeof label, "%s: parameter %lld", who, (long long)i);
        if ((st = sy_optim_check_param(label, params[i], &states[i], masks ? masks[i] : NULL)))
            return st;
    }
    return SY_OK;
}

sy_status sy_optim_inputs_get(sy_optim_inputs *in, sy_tensor *param, const sy_tensor *mask) {
    sy_status st;
    in->grad_c = in->mask_c = NULL;
    in->numel = sy_tensor_numel(param);
    in->param = sy_tensor_data(param);
    in->mask = NULL;
    if ((st = sy_tensor_contiguous(&in->grad_c, param->grad))) return st;
    in->grad = sy_tensor_data(in->grad_c);
    if (mask) {
        if ((st = sy_tensor_contiguous(&in->mask_c, mask))) {
            sy_optim_inputs_release(in);
            return st;
        }
        in->mask = sy_tensor_data(in->mask_c);
    }
    return SY_OK;
}

void sy_optim_inputs_release(sy_optim_inputs *in) {
    sy_tensor_release(in->grad_c);
    sy_tensor_release(in->mask_c);
    in->grad_c = in->mask_c = NULL;
}

sy_status sy_optim_state_ensure(sy_tensor **slot, const sy_tensor *param, int zero, int *fresh) {
    sy_status st;
    *fresh = 0;
    if (*slot) return SY_OK;
    st = zero ? sy_tensor_new(slot, param->dtype, param->ndim, param->size)
              : sy_tensor_empty(slot, param->dtype, param->ndim, param->size);
    if (st == SY_OK) *fresh = 1;
    return st;
}
