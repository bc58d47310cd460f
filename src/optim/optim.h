/*
** optim.h -- optimizers of the synlua core: SGD, Adam, AdamW and gradient-norm
** clipping, with PyTorch's update formulas (torch.optim, 1.13).
**
** A step updates a list of parameters from their `grad` fields, one fused
** loop per parameter with no temporaries: the loop reads the gradient and the
** state, writes the state and the parameter, and, when a mask is given,
** re-zeroes the pruned weights in the same pass (the pruning engine's hook:
** pruned weights stay exactly 0 after every step). Parameters whose grad is
** NULL are skipped, state and step count included, as in PyTorch.
**
** The caller owns the state array (one sy_optim_state per parameter, zeroed
** before the first step). A step fills the tensors it needs the first time
** (new references the caller later drops with sy_optim_state_clear) and never
** replaces a tensor already there. Everything is validated before anything
** is written, so a bad argument leaves parameters and state untouched.
**
** float32 and float64 parameters (float64 for the tests). Gradients and masks
** may be non-contiguous (a contiguous copy is made); parameters and state
** must be contiguous.
*/
#ifndef SY_OPTIM_H
#define SY_OPTIM_H

#include "../core/tensor.h"

typedef struct sy_optim_state {
    int64_t step;                 /* steps this parameter took (Adam's t) */
    sy_tensor *momentum_buffer;   /* SGD with momentum */
    sy_tensor *exp_avg;           /* Adam/AdamW: first moment */
    sy_tensor *exp_avg_sq;        /* second moment */
    sy_tensor *max_exp_avg_sq;    /* amsgrad: running max of exp_avg_sq */
} sy_optim_state;

/* Releases the state's tensors and zeroes it. */
void sy_optim_state_clear(sy_optim_state *s);

/* Checks one parameter before a step: float32 or float64, on the CPU, a
** leaf (no grad_fn), contiguous; its grad (if any) of the same shape and dtype; its mask (may be
** NULL) of the same shape, uint8 or bool; the tensors of its state (may be
** NULL) like the parameter and contiguous. `who` starts the message, e.g.
** "Adam: parameter 'fc.weight'". The steps run this check on every parameter
** themselves ("SGD: parameter 3", counting from 0); a binding calls it first
** to name parameters its own way. A tensor listed twice is updated twice. */
sy_status sy_optim_check_param(const char *who, const sy_tensor *param, const sy_optim_state *state,
                               const sy_tensor *mask);

/* --- SGD (torch.optim.SGD) ---
**   d = g + weight_decay * p
**   buf = d on the first step, else momentum * buf + (1 - dampening) * d
**   d = nesterov ? d + momentum * buf : buf        (when momentum != 0)
**   p = p - lr * d                                                      */
typedef struct sy_sgd_options {
    double lr, momentum, dampening, weight_decay;
    int nesterov;
} sy_sgd_options;

/* lr >= 0, momentum >= 0, weight_decay >= 0, all finite; nesterov needs
** momentum > 0 and dampening == 0. */
sy_status sy_sgd_check_options(const sy_sgd_options *o);
/* masks may be NULL, and so may any masks[i]. */
sy_status sy_sgd_step(sy_tensor *const *params, sy_optim_state *states, sy_tensor *const *masks,
                      int64_t n, const sy_sgd_options *o);

/* --- Adam / AdamW (torch.optim.Adam, torch.optim.AdamW) ---
**   t += 1
**   Adam:  g = g + weight_decay * p        (L2 penalty in the gradient)
**   AdamW: p = p * (1 - lr * weight_decay) (decoupled decay)
**   m = beta1 * m + (1 - beta1) * g
**   v = beta2 * v + (1 - beta2) * g * g
**   amsgrad: vmax = max(vmax, v), used in place of v below
**   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)  */
typedef struct sy_adam_options {
    double lr, beta1, beta2, eps, weight_decay;
    int amsgrad;
    int decoupled;   /* 1: AdamW */
} sy_adam_options;

/* lr, eps, weight_decay >= 0; 0 <= beta1, beta2 < 1; all finite. */
sy_status sy_adam_check_options(const sy_adam_options *o);
sy_status sy_adam_step(sy_tensor *const *params, sy_optim_state *states, sy_tensor *const *masks,
                       int64_t n, const sy_adam_options *o);

/* --- gradient-norm clipping (torch.nn.utils.clip_grad_norm_) ---
** total = the norm_type-norm of all gradients together (norm_type > 0, or
** INFINITY for the max-abs norm); when max_norm / (total + 1e-6) < 1 every
** gradient is scaled in place by that factor. NULL entries are skipped.
** *total_norm gets the norm before clipping (0 for no gradients). */
sy_status sy_clip_grad_norm(double *total_norm, sy_tensor *const *grads, int64_t n, double max_norm,
                            double norm_type);

#endif
