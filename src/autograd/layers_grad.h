/*
** layers_grad.h -- the differentiable feed-forward layers (fused kernels of
** src/ops/layers.h, PyTorch's formulas and layouts):
**   linear      x [..., in], w [out, in], b [out] -> [..., out]
**   layer_norm  x [..., D] normalised over the last dim, w, b [D]
**   batch_norm  x [N, C] or [N, C, L], per channel; w, b, running stats [C]
**   embedding   ids int64 [...] counting from `base`, w [num, D] -> [..., D]
**   gelu        elementwise, exact (erf) or tanh-approximated
** Weights and biases may be NULL (no affine part / no bias); so may the
** running stats of batch_norm in training mode.
**
** Every argument is checked (errors name the layer, the argument and the
** shapes). When grad mode is on and an input requires grad, each call
** records one node whose backward is the fused kernel.
*/
#ifndef SY_LAYERS_GRAD_H
#define SY_LAYERS_GRAD_H

#include "../core/tensor.h"
#include "../ops/layers.h"

sy_status sy_ag_linear(sy_tensor **y, sy_tensor *x, sy_tensor *w, sy_tensor *b);
/* eps >= 0, inside the square root: (x - mean) / sqrt(var + eps), biased var. */
sy_status sy_ag_layer_norm(sy_tensor **y, sy_tensor *x, sy_tensor *w, sy_tensor *b, double eps);
/* Training: batch statistics, running stats (if given) updated in place with
** the unbiased variance: running = (1 - momentum) running + momentum batch.
** Evaluation: the running stats (required) normalise. */
sy_status sy_ag_batch_norm(sy_tensor **y, sy_tensor *x, sy_tensor *running_mean,
                           sy_tensor *running_var, sy_tensor *w, sy_tensor *b, int training,
                           double momentum, double eps);
/* base: the id of the table's first row (1 at the Lua face, 0 from C). */
sy_status sy_ag_embedding(sy_tensor **out, sy_tensor *ids, sy_tensor *w, int64_t base);
sy_status sy_ag_gelu(sy_tensor **y, sy_tensor *x, sy_gelu_approx approx);

#endif
