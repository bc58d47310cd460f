/*
** attention_grad.h -- differentiable softmax, log_softmax, dropout, scaled
** dot-product attention and the regression losses: each checks its
** arguments (errors name the op, the argument and the shapes), runs the
** fused kernel of src/ops/attention.h and, when grad mode is on and an input
** requires grad, records one node whose backward is the fused backward
** kernel. Inputs may be any views; results are new contiguous tensors.
*/
#ifndef SY_ATTENTION_GRAD_H
#define SY_ATTENTION_GRAD_H

#include "../core/tensor.h"
#include "../ops/attention.h"

/* Along dim (0-based; 0 for a 0-d tensor). */
sy_status sy_ag_softmax(sy_tensor **out, sy_tensor *x, int dim);
sy_status sy_ag_log_softmax(sy_tensor **out, sy_tensor *x, int dim);

/* Inverted dropout with a mask from the default generator; 0 <= p <= 1.
** Without training, or with p == 0, *out is x itself (a new reference). */
sy_status sy_ag_dropout(sy_tensor **out, sy_tensor *x, double p, int training);

/* q [B,H,Lq,E], k [B,H,Lk,E], v [B,H,Lk,Ev] -> out [B,H,Lq,Ev] and the
** attention weights [B,H,Lq,Lk] before dropout (as nn.MultiheadAttention
** returns them). mask NULL, bool (true = masked out) or float (added to the
** scores, converted to q's dtype), broadcastable to [B,H,Lq,Lk]; it gets no
** gradient. Dropout with probability dropout_p on the weights when
** training. A query whose keys are all masked gets NaN, as in PyTorch. */
sy_status sy_ag_scaled_dot_product_attention(sy_tensor **out, sy_tensor **weights, sy_tensor *q,
                                             sy_tensor *k, sy_tensor *v, const sy_tensor *mask,
                                             double dropout_p, int training);

/* Self-attention over packed projections: qkv [B, L, 3E] holds q, k and v
** side by side (one linear layer with the three weights stacked), each split
** into `heads` heads of E/heads columns, head-major. out [B, L, E] has the
** heads merged back (ready for the output projection), weights [B, H, L, L]
** as above; mask and dropout as sy_ag_scaled_dot_product_attention. The
** same numbers as that op on the split heads, without copies for the split,
** the merge or their gradients: qkv's gradient is one [B, L, 3E] tensor. */
sy_status sy_ag_packed_attention(sy_tensor **out, sy_tensor **weights, sy_tensor *qkv,
                                 int64_t heads, const sy_tensor *mask, double dropout_p,
                                 int training);

/* input and target of one shape and float dtype (no broadcasting: a [N,1]
** prediction against an [N] target is an error, not an [N,N] loss);
** gradients reach both. */
sy_status sy_ag_mse_loss(sy_tensor **out, sy_tensor *input, sy_tensor *target,
                         sy_loss_reduction red);
sy_status sy_ag_l1_loss(sy_tensor **out, sy_tensor *input, sy_tensor *target,
                        sy_loss_reduction red);
/* delta > 0 */
sy_status sy_ag_huber_loss(sy_tensor **out, sy_tensor *input, sy_tensor *target, double delta,
                           sy_loss_reduction red);

#endif
