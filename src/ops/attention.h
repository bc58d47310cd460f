/*
** attention.h -- fused kernels for softmax and log_softmax (softmax.c),
** scaled dot-product attention (attention.c), dropout (dropout.c) and the
** regression losses MSE, L1 and Huber (loss.c), forward and backward, with
** PyTorch's formulas.
**
** Preconditions (checked by the differentiable front ends in
** src/autograd/attention_grad.c): tensors are on the CPU, float32 or float64
** (masks excepted, see below), of one dtype per call and of the shapes
** stated; outputs are contiguous and are overwritten, not accumulated.
** Optional arguments (NULL) are stated with each function.
*/
#ifndef SY_ATTENTION_H
#define SY_ATTENTION_H

#include "../core/rng.h"
#include "../core/tensor.h"

/* --- softmax.c --- */
/* y = softmax(x) (log_softmax when take_log) along `dim` (0 for a 0-d tensor),
** with the row maximum subtracted first. x and y contiguous, one shape;
** y may be x. Fails only when its workspace cannot be allocated. */
sy_status sy_softmax_forward(sy_tensor *y, const sy_tensor *x, int dim, int take_log);
/* From y, the forward's output, and dy:
**   softmax      dx = y * (dy - sum(dy * y))
**   log_softmax  dx = dy - exp(y) * sum(dy)
** (sums along dim). All contiguous, one shape; dx may be dy. */
sy_status sy_softmax_backward(sy_tensor *dx, const sy_tensor *dy, const sy_tensor *y, int dim,
                              int take_log);
/* The same on `rows` contiguous rows of n elements (float or double as dt
** says), for kernels that own their buffers; y may be x, dx may be dy. A row
** that is entirely -inf gives NaN, as in PyTorch. */
void sy_softmax_rows(sy_dtype dt, void *y, const void *x, int64_t rows, int64_t n, int take_log);
void sy_softmax_rows_backward(sy_dtype dt, void *dx, const void *dy, const void *y, int64_t rows,
                              int64_t n, int take_log);

/* --- dropout.c --- */
/* The factor kept elements are multiplied by: 1/(1-p), and 0 for p = 1 (every
** element dropped). */
double sy_dropout_scale(double p);
/* Fills keep, a contiguous uint8 tensor, with 1 (kept, probability 1 - p)
** or 0 from g (NULL: the default generator): the same draw as
** sy_rng_bernoulli(keep, g, 1 - p). */
void sy_dropout_mask(sy_tensor *keep, sy_rng *g, double p);
/* out = x * keep * scale: the forward (x the input) and the backward (x the
** incoming gradient) alike. keep is uint8 0/1; out, x, keep contiguous, one
** shape; out may be x. */
void sy_dropout_apply(sy_tensor *out, const sy_tensor *x, const sy_tensor *keep, double scale);

/* --- attention.c --- */
/* Per batch b and head h, with E the head dim of q and k:
**   S = q k^T / sqrt(E) + mask    (bool mask: -inf where true)
**   weights = softmax(S) along the keys
**   out = (weights * keep * keep_scale) v   (no dropout when keep is NULL)
** q [B,H,Lq,E], k [B,H,Lk,E], v [B,H,Lk,Ev]: the last dim has stride 1 and
** each (b, h) matrix has one row stride >= its row length (views such as a
** [B,L,H,E] tensor transposed to [B,H,L,E] are read in place; stride 0 over
** b or h repeats a matrix). All of Lq, Lk, E, Ev >= 1 and, like the row
** strides, within int range. out [B,H,Lq,Ev] may be such a view too (no two
** elements at one address): a [B,Lq,H,Ev] tensor transposed gets the heads
** merged. weights [B,H,Lq,Lk] contiguous. mask NULL, or bool or of q's dtype with shape [B,H,Lq,Lk]
** (any strides: expanded views broadcast it). keep NULL or uint8 contiguous
** [B,H,Lq,Lk], drawn by sy_dropout_mask; keep_scale from sy_dropout_scale.
** Fails only when its workspace cannot be allocated. */
sy_status sy_attention_forward(sy_tensor *out, sy_tensor *weights, const sy_tensor *q,
                               const sy_tensor *k, const sy_tensor *v, const sy_tensor *mask,
                               const sy_tensor *keep, double keep_scale);
/* Gradients of the inputs from those of out and weights (either NULL: no
** gradient reached it), with q, k, v, weights and keep as in the forward.
** dq, dk, dv are shaped like q, k, v and dout like out, each contiguous or
** a view as described for q (the three gradients may be views into one
** tensor, like the q, k, v of sy_ag_packed_attention); NULL ones are skipped.
** The mask gets no gradient. */
sy_status sy_attention_backward(sy_tensor *dq, sy_tensor *dk, sy_tensor *dv, const sy_tensor *dout,
                                const sy_tensor *dweights, const sy_tensor *q, const sy_tensor *k,
                                const sy_tensor *v, const sy_tensor *weights, const sy_tensor *keep,
                                double keep_scale);

/* --- loss.c --- */
typedef enum sy_loss_kind { SY_LOSS_MSE = 0, SY_LOSS_L1, SY_LOSS_HUBER } sy_loss_kind;
typedef enum sy_loss_reduction {
    SY_LOSS_MEAN = 0, SY_LOSS_SUM, SY_LOSS_NONE
} sy_loss_reduction;

/* With d = input - target, elementwise:
**   mse    d^2
**   l1     |d|
**   huber  0.5 d^2 if |d| < delta, else delta (|d| - 0.5 delta)   (delta > 0)
** then the mean or sum over all elements into a 0-d out (accumulated in
** double; the mean of no elements is NaN), or none: out shaped like input.
** input, target and out contiguous, one dtype; input and target one shape. */
void sy_loss_forward(sy_tensor *out, sy_loss_kind kind, sy_loss_reduction red,
                     const sy_tensor *input, const sy_tensor *target, double delta);
/* dinput = dout * dloss/dd (divided by the element count for the mean) and
** dtarget = -dinput; dout is shaped like out, contiguous. The L1 gradient is
** sign(d), 0 at d = 0, as in PyTorch. Either output may be NULL. */
void sy_loss_backward(sy_tensor *dinput, sy_tensor *dtarget, sy_loss_kind kind,
                      sy_loss_reduction red, const sy_tensor *dout, const sy_tensor *input,
                      const sy_tensor *target, double delta);

#endif
