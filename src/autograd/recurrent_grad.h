/*
** recurrent_grad.h -- the differentiable recurrent layers (one layer, batch
** first, PyTorch's formulas and parameter layouts; see src/ops/recurrent.h):
**   x [B, T, D], w_ih [G, D], w_hh [G, H], b_ih, b_hh [G] (G = H for the tanh
**   RNN, 4H for the LSTM, 3H for the GRU), h0, c0 [B, H] -> out [B, T, H],
**   h_n, c_n [B, H].
** h0, c0 and the biases may be NULL (zero state, no bias). h0 and c0 are one
** layer's state, [B, H]; PyTorch's [layers, B, H] is for stacked layers,
** which are built from single layers.
**
** Every argument is checked (errors name the layer, the argument and the
** shapes). When grad mode is on and an input requires grad, the call records
** one node with the layer's outputs as its outputs; its backward is the fused
** BPTT kernel and gives gradients for x, h0, c0, the weights and the biases.
*/
#ifndef SY_RECURRENT_GRAD_H
#define SY_RECURRENT_GRAD_H

#include "../core/tensor.h"

sy_status sy_ag_rnn_tanh(sy_tensor **out, sy_tensor **h_n, sy_tensor *x, sy_tensor *h0,
                         sy_tensor *w_ih, sy_tensor *w_hh, sy_tensor *b_ih, sy_tensor *b_hh);
sy_status sy_ag_lstm(sy_tensor **out, sy_tensor **h_n, sy_tensor **c_n, sy_tensor *x,
                     sy_tensor *h0, sy_tensor *c0, sy_tensor *w_ih, sy_tensor *w_hh,
                     sy_tensor *b_ih, sy_tensor *b_hh);
sy_status sy_ag_gru(sy_tensor **out, sy_tensor **h_n, sy_tensor *x, sy_tensor *h0,
                    sy_tensor *w_ih, sy_tensor *w_hh, sy_tensor *b_ih, sy_tensor *b_hh);

#endif
