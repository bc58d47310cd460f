/*
** layers.h -- fused kernels of the feed-forward layers, forward and backward,
** with PyTorch's formulas: linear (linear.c), layer and batch normalisation
** (norm.c), embedding (embedding.c) and GELU (activation.c).
**
** Preconditions (checked by the differentiable front ends sy_ag_* in
** src/autograd/layers_grad.c): every tensor is contiguous, on the CPU and of
** one float dtype (float32 or float64), except the int64 ids of the
** embedding; shapes are as below and every matrix handed to BLAS fits its
** int dimensions. Tensors marked "or NULL" are optional: a missing weight is
** one, a missing bias zero, a missing gradient output is not computed.
** Gradient outputs are overwritten, not accumulated (the autograd engine
** accumulates).
*/
#ifndef SY_LAYERS_H
#define SY_LAYERS_H

#include "../core/tensor.h"

/* --- linear: x [N, in], w [out, in], b [out] or NULL -> y [N, out] ---
** y = x w^T + b as one GEMM over all N rows (leading dims flattened). */
void sy_linear_forward(sy_tensor *y, const sy_tensor *x, const sy_tensor *w, const sy_tensor *b,
                       int64_t N, int64_t in, int64_t out);
/* dx = dy w, dw = dy^T x, db = column sums of dy. */
void sy_linear_backward(sy_tensor *dx, sy_tensor *dw, sy_tensor *db, const sy_tensor *dy,
                        const sy_tensor *x, const sy_tensor *w, int64_t N, int64_t in,
                        int64_t out);

/* --- layer norm over the last dim: x, y [N, D], w, b [D] or NULL ---
** mean, rstd [N] receive each row's mean and 1/sqrt(biased var + eps), which
** the backward reads. */
void sy_layer_norm_forward(sy_tensor *y, sy_tensor *mean, sy_tensor *rstd, const sy_tensor *x,
                           const sy_tensor *w, const sy_tensor *b, int64_t N, int64_t D,
                           double eps);
void sy_layer_norm_backward(sy_tensor *dx, sy_tensor *dw, sy_tensor *db, const sy_tensor *dy,
                            const sy_tensor *x, const sy_tensor *mean, const sy_tensor *rstd,
                            const sy_tensor *w, int64_t N, int64_t D);

/* --- batch norm per channel: x, y [N, C, L] (L = 1 for [N, C]) ---
** w, b [C] or NULL; running_mean, running_var [C] or NULL.
** Training (N*L >= 2): normalises with the batch mean and biased variance and,
** when given, updates the running stats in place as PyTorch does:
** running = (1 - momentum) running + momentum batch, with the unbiased
** variance for running_var. Evaluation: normalises with the running stats
** (both required). mean, rstd [C] receive the statistics used. */
void sy_batch_norm_forward(sy_tensor *y, sy_tensor *mean, sy_tensor *rstd,
                           sy_tensor *running_mean, sy_tensor *running_var, const sy_tensor *x,
                           const sy_tensor *w, const sy_tensor *b, int64_t N, int64_t C,
                           int64_t L, int training, double momentum, double eps);
/* Training: the full gradient through the batch statistics; evaluation: the
** statistics are constants, so dx = dy w rstd. */
void sy_batch_norm_backward(sy_tensor *dx, sy_tensor *dw, sy_tensor *db, const sy_tensor *dy,
                            const sy_tensor *x, const sy_tensor *mean, const sy_tensor *rstd,
                            const sy_tensor *w, int64_t N, int64_t C, int64_t L, int training);

/* --- embedding: ids [n] int64 counting from `base`, w [num, D] -> out [n, D] ---
** Fails (naming the id as given and the table size) when an id is out of
** range; out is then partly written. */
sy_status sy_embedding_forward(sy_tensor *out, const sy_tensor *ids, const sy_tensor *w,
                               int64_t base, int64_t n, int64_t num, int64_t D);
/* dw [num, D] = rows of dy scatter-added at the ids (repeated ids add up);
** the ids were validated by the forward. */
void sy_embedding_backward(sy_tensor *dw, const sy_tensor *dy, const sy_tensor *ids,
                           int64_t base, int64_t n, int64_t num, int64_t D);

/* --- GELU, elementwise over n values --- */
typedef enum sy_gelu_approx {
    SY_GELU_NONE = 0,   /* 0.5 x (1 + erf(x / sqrt 2)) */
    SY_GELU_TANH        /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
} sy_gelu_approx;

void sy_gelu_forward(sy_tensor *y, const sy_tensor *x, int64_t n, sy_gelu_approx approx);
void sy_gelu_backward(sy_tensor *dx, const sy_tensor *dy, const sy_tensor *x, int64_t n,
                      sy_gelu_approx approx);

/* --- ReLU's backward over n contiguous values: dx = dy where x > 0, else 0
** (0 at x = 0 and for NaN, as PyTorch) --- */
void sy_relu_backward(sy_tensor *dx, const sy_tensor *dy, const sy_tensor *x, int64_t n);

#endif
