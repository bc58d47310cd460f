/*
** recurrent.h -- fused whole-sequence kernels of the recurrent layers: the
** tanh RNN (rnn.c), LSTM (lstm.c) and GRU (gru.c), one layer each, with
** PyTorch's formulas and parameter layouts, forward and backward (BPTT).
**
** Shapes (B batch, T steps, D features, H hidden, G = gates * H with
** 1 gate for the RNN, 4 for the LSTM in row order i, f, g, o, and 3 for the
** GRU in row order r, z, n):
**   x [B, T, D] (batch first), w_ih [G, D], w_hh [G, H], b_ih [G], b_hh [G],
**   h0, c0, h_n, c_n [B, H], out [B, T, H].
**
** Preconditions (checked by the differentiable front ends sy_ag_rnn_tanh,
** sy_ag_lstm and sy_ag_gru in src/autograd/recurrent_grad.c): every tensor is
** contiguous, on the CPU, of one dtype (float32 or float64) and of the shape
** above; B, T, D, H >= 1 and every matrix the kernels hand to BLAS fits its
** int dimensions. Optional tensors (biases, h0, c0, and on the backward side
** every gradient output and incoming gradient) may be NULL: a missing bias or
** initial state is zero, a missing incoming gradient is zero and a missing
** gradient output is not computed.
**
** The forward fills `cache` [B, T, <layer>_cache_width(H)]: one record per
** (batch, step) holding the activated gates and the step's input state, which
** is everything the backward reads besides x and the weights. Gradient
** outputs are overwritten, not accumulated.
**
** With sy_set_num_threads(n > 1) the time loops split the batch across the
** pool (sy_recurrent_tasks) and the weight gradients split by output rows
** or columns. Results are the same on every run at a given thread count;
** across thread counts they may differ by rounding, where BLAS rounds a
** product with fewer rows differently.
*/
#ifndef SY_RECURRENT_H
#define SY_RECURRENT_H

#include "../core/tensor.h"

int64_t sy_rnn_cache_width(int64_t hidden);
int64_t sy_lstm_cache_width(int64_t hidden);
int64_t sy_gru_cache_width(int64_t hidden);

/* h_t = tanh(x_t w_ih^T + b_ih + h_{t-1} w_hh^T + b_hh) */
void sy_rnn_forward(sy_tensor *out, sy_tensor *h_n, sy_tensor *cache, const sy_tensor *x,
                    const sy_tensor *h0, const sy_tensor *w_ih, const sy_tensor *w_hh,
                    const sy_tensor *b_ih, const sy_tensor *b_hh);
sy_status sy_rnn_backward(sy_tensor *dx, sy_tensor *dh0, sy_tensor *dw_ih, sy_tensor *dw_hh,
                          sy_tensor *db_ih, sy_tensor *db_hh, const sy_tensor *dout,
                          const sy_tensor *dh_n, const sy_tensor *cache, const sy_tensor *x,
                          const sy_tensor *w_ih, const sy_tensor *w_hh);

/* gates i, f, g, o; c_t = f c_{t-1} + i g; h_t = o tanh(c_t) */
void sy_lstm_forward(sy_tensor *out, sy_tensor *h_n, sy_tensor *c_n, sy_tensor *cache,
                     const sy_tensor *x, const sy_tensor *h0, const sy_tensor *c0,
                     const sy_tensor *w_ih, const sy_tensor *w_hh, const sy_tensor *b_ih,
                     const sy_tensor *b_hh);
sy_status sy_lstm_backward(sy_tensor *dx, sy_tensor *dh0, sy_tensor *dc0, sy_tensor *dw_ih,
                           sy_tensor *dw_hh, sy_tensor *db_ih, sy_tensor *db_hh,
                           const sy_tensor *dout, const sy_tensor *dh_n, const sy_tensor *dc_n,
                           const sy_tensor *cache, const sy_tensor *x, const sy_tensor *c0,
                           const sy_tensor *w_ih, const sy_tensor *w_hh);

/* r, z = sigmoid(W_i x + b_i + W_h h + b_h); n = tanh(W_in x + b_in + r (W_hn h + b_hn));
** h' = (1 - z) n + z h */
void sy_gru_forward(sy_tensor *out, sy_tensor *h_n, sy_tensor *cache, const sy_tensor *x,
                    const sy_tensor *h0, const sy_tensor *w_ih, const sy_tensor *w_hh,
                    const sy_tensor *b_ih, const sy_tensor *b_hh);
sy_status sy_gru_backward(sy_tensor *dx, sy_tensor *dh0, sy_tensor *dw_ih, sy_tensor *dw_hh,
                          sy_tensor *db_ih, sy_tensor *db_hh, const sy_tensor *dout,
                          const sy_tensor *dh_n, const sy_tensor *cache, const sy_tensor *x,
                          const sy_tensor *w_ih, const sy_tensor *w_hh);

/* The gate activations over n elements (y may be x): float on eight SIMD
** lanes (simd.h), accurate to a few ulp, double through libm. */
void sy_sigmoid_f32(float *y, const float *x, int64_t n);
void sy_tanh_f32(float *y, const float *x, int64_t n);
void sy_sigmoid_f64(double *y, const double *x, int64_t n);
void sy_tanh_f64(double *y, const double *x, int64_t n);

/* How many tasks a layer's time loops get (rnn.c): the pool's width, but
** one for work too small to share and at most one per batch entry. Task k
** of n takes batch entries sy_split(B, 1, k, n) and runs every step for
** them. */
int sy_recurrent_tasks(int64_t B, int64_t T, int64_t G, int64_t H);

/* The start of every forward task, shared by the three layers (rnn.c): for
** batch entries b0 <= b < b1, the input projection of all their steps in one
** GEMM into the first G columns of each cache record (records W elements
** apart), b_ih on all G columns and b_hh on the first n_hh of each entry's
** step-0 record (the step passes add them to the later records, so each
** is added while its record is in cache), then each entry's step-0 input
** state, at column off_hprev of record (b, 0), from h0 or zeros. Pointers
** are float or double as dt says. */
void sy_recurrent_input_proj(sy_dtype dt, void *cache, int64_t W, int64_t off_hprev, const void *x,
                             const void *h0, const void *w_ih, const void *b_ih, const void *b_hh,
                             int64_t n_hh, int64_t b0, int64_t b1, int64_t T, int64_t D, int64_t G,
                             int64_t H);

/* The end of every backward, shared by the three layers (rnn.c): from the
** pre-activation gradients of all steps, dgi [B*T, G] on the input side and
** dgh [B*T, G] on the recurrent side (the same buffer for the RNN and LSTM),
** one GEMM each for dx = dgi w_ih, dw_ih = dgi^T x and dw_hh = dgh^T hprev,
** where hprev [B*T, H] (row stride ld_hprev) holds each step's input state;
** db_ih and db_hh are the column sums of dgi and dgh. NULL outputs are
** skipped. The products (gemm.h) and sums are split across the pool by
** output rows or columns, each element summed whole by one thread; the
** bias sums run over the rows in order on any split. Pointers are float or
** double as dt says. */
void sy_recurrent_weight_grads(sy_dtype dt, void *dx, void *dw_ih, void *dw_hh, void *db_ih,
                               void *db_hh, const void *dgi, const void *dgh, const void *x,
                               const void *hprev, int64_t ld_hprev, const void *w_ih, int64_t BT,
                               int64_t D, int64_t G, int64_t H);

#endif
