/*
** prepare.h -- what the optimizer steps share (src/optim/sgd.c, adam.c):
** validating a whole step before anything is written, giving each parameter
** contiguous inputs for its fused loop, and allocating state on first use.
*/
#ifndef SY_OPTIM_PREPARE_H
#define SY_OPTIM_PREPARE_H

#include <math.h>
#include <stdint.h>

#include "optim.h"

/* a * b + c rounded once, as PyTorch's CPU kernels compute add(x, alpha)
** and addcmul (they are built with FMA contraction). For float the product is
** exact in double, so one addition in double and one rounding to float give
** the fused result (but for rare double-rounding ties); for double, fma(). */
#define SY_MADD_float(a, b, c) ((float)((double)(a) * (double)(b) + (double)(c)))
#define SY_MADD_double(a, b, c) fma((a), (b), (c))

/* sy_optim_check_param on every parameter ("<who>: parameter <i>"). */
sy_status sy_optim_check_all(const char *who, sy_tensor *const *params,
                             const sy_optim_state *states, sy_tensor *const *masks, int64_t n);

/* One parameter's operands for a fused loop: pointers to contiguous data.
** grad and mask are the caller's tensors or copies that
** sy_optim_inputs_release frees. */
typedef struct sy_optim_inputs {
    int64_t numel;
    void *param;
    const void *grad;
    const uint8_t *mask;   /* NULL: no mask */
    sy_tensor *grad_c, *mask_c;
} sy_optim_inputs;

sy_status sy_optim_inputs_get(sy_optim_inputs *in, sy_tensor *param, const sy_tensor *mask);
void sy_optim_inputs_release(sy_optim_inputs *in);

/* Unless *slot is already set: *slot = a new tensor shaped and typed like
** param, zero-filled when `zero`, and *fresh = 1. */
sy_status sy_optim_state_ensure(sy_tensor **slot, const sy_tensor *param, int zero, int *fresh);

#endif
