/*
** recurrent_grad.c -- the differentiable recurrent layers (tanh RNN, LSTM,
** GRU): argument checks, the fused whole-sequence kernels of
** src/ops/recurrent.h, and one node per call whose backward is the fused
** BPTT kernel. The node has the layer's outputs (out, h_n and, for the LSTM,
** c_n) as its outputs and x, h0, c0, w_ih, w_hh, b_ih, b_hh as its inputs,
** absent ones as NULL.
*/
#include <limits.h>

#include "../ops/recurrent.h"
#include "autograd.h"
#include "recurrent_grad.h"

typedef enum { RNN_TANH, LSTM, GRU } layer_kind;

enum { IN_X, IN_H0, IN_C0, IN_W_IH, IN_W_HH, IN_B_IH, IN_B_HH, N_IN };
/* The backward reads contiguous copies (or the inputs themselves) and the cache. */
enum { SAVED_X, SAVED_W_IH, SAVED_W_HH, SAVED_C0, SAVED_CACHE };

static const char *const input_names[N_IN] = {"x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh"};

static const struct layer {
    const char *name;        /* as the Lua face calls it, for messages */
    const char *node_name;
    int gates;
    const char *n_rows;      /* for messages: the weights' row count ("4*hidden") */
    const char *rows;        /* and the gate order of their row blocks */
    int64_t (*cache_width)(int64_t hidden);
} layers[] = {
    [RNN_TANH] = {"rnn_tanh", "RNNTanhBackward", 1, "hidden", "", sy_rnn_cache_width},
    [LSTM] = {"lstm", "LSTMBackward", 4, "4*hidden", " (row blocks i, f, g, o)",
              sy_lstm_cache_width},
    [GRU] = {"gru", "GRUBackward", 3, "3*hidden", " (row blocks r, z, n)", sy_gru_cache_width},
};

#define TRY(call)                              \
    do {                                       \
        if ((st = (call)) != SY_OK) goto done; \
    } while (0)

/* Checks every argument; on success sets the sizes. Messages name the layer,
** the argument and the shapes involved. */
static sy_status check_args(const struct layer *ly, sy_tensor *const *in, int64_t *B, int64_t *T,
                            int64_t *D, int64_t *H) {
    const sy_tensor *x = in[IN_X], *w_ih = in[IN_W_IH], *w_hh = in[IN_W_HH];
    char s1[SY_SHAPE_STRLEN], s2[SY_SHAPE_STRLEN];
    int64_t G, W;
    int i;
    if (!x || !w_ih || !w_hh)
        return sy_error(SY_ERR_ARG, "%s: x, w_ih and w_hh are required", ly->name);
    if (x->dtype != SY_F32 && x->dtype != SY_F64)
        return sy_error(SY_ERR_DTYPE, "%s: x must be float32 or float64, got %s", ly->name,
                        sy_dtype_name(x->dtype));
    for (i = 0; i < N_IN; i++) {
        if (!in[i]) continue;
        if (in[i]->dtype != x->dtype)
            return sy_error(SY_ERR_DTYPE, "%s: %s is %s but x is %s; all tensors must have one dtype",
                            ly->name, input_names[i], sy_dtype_name(in[i]->dtype),
                            sy_dtype_name(x->dtype));
        if (in[i]->storage->device != SY_CPU)
            return sy_error(SY_ERR_DEVICE, "%s: %s is not on the CPU; the recurrent kernels run on "
                            "the CPU only", ly->name, input_names[i]);
    }
    if (x->ndim != 3)
        return sy_error(SY_ERR_SHAPE, "%s: x must be 3-d [batch, seq_len, features], got shape %s",
                        ly->name, sy_shape_str(s1, sizeof s1, x->ndim, x->size));
    if (x->size[0] < 1 || x->size[1] < 1 || x->size[2] < 1)
        return sy_error(SY_ERR_SHAPE, "%s: x has shape %s; batch, sequence length and features "
                        "must all be at least 1", ly->name,
                        sy_shape_str(s1, sizeof s1, x->ndim, x->size));
    *B = x->size[0];
    *T = x->size[1];
    *D = x->size[2];
    if (w_hh->ndim != 2 || w_hh->size[1] < 1 || w_hh->size[0] != ly->gates * w_hh->size[1])
        return sy_error(SY_ERR_SHAPE, "%s: w_hh has shape %s; expected [%s, hidden]%s with hidden "
                        ">= 1", ly->name, sy_shape_str(s1, sizeof s1, w_hh->ndim, w_hh->size),
                        ly->n_rows, ly->rows);
    *H = w_hh->size[1];
    G = ly->gates * *H;
    if (w_ih->ndim != 2 || w_ih->size[0] != G)
        return sy_error(SY_ERR_SHAPE, "%s: w_ih has shape %s; expected [%s, features] = [%lld, %lld]"
                        "%s (hidden = %lld from w_hh %s)", ly->name,
                        sy_shape_str(s1, sizeof s1, w_ih->ndim, w_ih->size), ly->n_rows,
                        (long long)G, (long long)*D, ly->rows, (long long)*H,
                        sy_shape_str(s2, sizeof s2, w_hh->ndim, w_hh->size));
    if (w_ih->size[1] != *D)
        return sy_error(SY_ERR_SHAPE, "%s: x has %lld features, w_ih expects %lld (x %s, w_ih %s)",
                        ly->name, (long long)*D, (long long)w_ih->size[1],
                        sy_shape_str(s1, sizeof s1, x->ndim, x->size),
                        sy_shape_str(s2, sizeof s2, w_ih->ndim, w_ih->size));
    for (i = IN_B_IH; i <= IN_B_HH; i++) {
        const sy_tensor *b = in[i];
        if (b && (b->ndim != 1 || b->size[0] != G))
            return sy_error(SY_ERR_SHAPE, "%s: %s has shape %s; expected [%lld] (%s)", ly->name,
                            input_names[i], sy_shape_str(s1, sizeof s1, b->ndim, b->size),
                            (long long)G, ly->n_rows);
    }
    for (i = IN_H0; i <= IN_C0; i++) {
        const sy_tensor *s = in[i];
        if (s && (s->ndim != 2 || s->size[0] != *B || s->size[1] != *H))
            return sy_error(SY_ERR_SHAPE, "%s: %s has shape %s; expected [batch, hidden] = "
                            "[%lld, %lld] (one layer's state)", ly->name, input_names[i],
                            sy_shape_str(s1, sizeof s1, s->ndim, s->size), (long long)*B,
                            (long long)*H);
    }
    /* BLAS takes int dimensions; the largest are B*T rows and the T*W
    ** stride between one step's cache records. */
    W = ly->cache_width(*H);
    if (*B > INT_MAX / *T || *T > INT_MAX / W || *D > INT_MAX)
        return sy_error(SY_ERR_ARG, "%s: x of shape %s with hidden size %lld is too large for "
                        "BLAS's int dimensions", ly->name,
                        sy_shape_str(s1, sizeof s1, x->ndim, x->size), (long long)*H);
    return SY_OK;
}

static void run_forward(layer_kind kind, sy_tensor **outs, sy_tensor *cache, sy_tensor *const *c) {
    switch (kind) {
    case RNN_TANH:
        sy_rnn_forward(outs[0], outs[1], cache, c[IN_X], c[IN_H0], c[IN_W_IH], c[IN_W_HH],
                       c[IN_B_IH], c[IN_B_HH]);
        break;
    case LSTM:
        sy_lstm_forward(outs[0], outs[1], outs[2], cache, c[IN_X], c[IN_H0], c[IN_C0], c[IN_W_IH],
                        c[IN_W_HH], c[IN_B_IH], c[IN_B_HH]);
        break;
    case GRU:
        sy_gru_forward(outs[0], outs[1], cache, c[IN_X], c[IN_H0], c[IN_W_IH], c[IN_W_HH],
                       c[IN_B_IH], c[IN_B_HH]);
        break;
    }
}

/* A contiguous gradient in dtype dt (incoming gradients may be expanded
** views, as from sum's backward, or of another dtype). */
static sy_status dense_grad(sy_tensor **out, const sy_tensor *g, sy_dtype dt) {
    *out = NULL;
    if (!g) return SY_OK;
    if (g->dtype != dt) return sy_tensor_to_dtype(out, g, dt);
    return sy_tensor_contiguous(out, g);
}

static sy_status recurrent_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    layer_kind kind = (layer_kind)n->ints[0];
    sy_tensor *const *s = n->saved;
    sy_tensor *g[3] = {NULL, NULL, NULL};
    sy_status st = SY_OK;
    int k, any = 0;
    for (k = 0; k < n->n_outputs; k++) any |= go[k] != NULL;
    if (!any) return SY_OK;
    for (k = 0; k < n->n_outputs; k++) TRY(dense_grad(&g[k], go[k], s[SAVED_X]->dtype));
    for (k = 0; k < N_IN; k++) {
        const sy_tensor *in = n->inputs[k];
        if (n->needs_grad[k]) TRY(sy_tensor_empty(&gi[k], in->dtype, in->ndim, in->size));
    }
    switch (kind) {
    case RNN_TANH:
        st = sy_rnn_backward(gi[IN_X], gi[IN_H0], gi[IN_W_IH], gi[IN_W_HH], gi[IN_B_IH],
                             gi[IN_B_HH], g[0], g[1], s[SAVED_CACHE], s[SAVED_X], s[SAVED_W_IH],
                             s[SAVED_W_HH]);
        break;
    case LSTM:
        st = sy_lstm_backward(gi[IN_X], gi[IN_H0], gi[IN_C0], gi[IN_W_IH], gi[IN_W_HH],
                              gi[IN_B_IH], gi[IN_B_HH], g[0], g[1], g[2], s[SAVED_CACHE],
                              s[SAVED_X], s[SAVED_C0], s[SAVED_W_IH], s[SAVED_W_HH]);
        break;
    case GRU:
        st = sy_gru_backward(gi[IN_X], gi[IN_H0], gi[IN_W_IH], gi[IN_W_HH], gi[IN_B_IH],
                             gi[IN_B_HH], g[0], g[1], s[SAVED_CACHE], s[SAVED_X], s[SAVED_W_IH],
                             s[SAVED_W_HH]);
        break;
    }
done:
    for (k = 0; k < 3; k++) sy_tensor_release(g[k]);
    return st;   /* on failure the engine releases what gi holds */
}

static sy_status recurrent(layer_kind kind, sy_tensor **outs, sy_tensor *const *in) {
    const struct layer *ly = &layers[kind];
    const int n_out = kind == LSTM ? 3 : 2;
    sy_tensor *c[N_IN] = {NULL}, *cache = NULL;
    sy_node *node = NULL;
    sy_status st;
    int64_t B = 0, T = 0, D = 0, H = 0;
    int k;
    for (k = 0; k < n_out; k++) outs[k] = NULL;
    TRY(check_args(ly, in, &B, &T, &D, &H));
    for (k = 0; k < N_IN; k++)
        if (in[k]) TRY(sy_tensor_contiguous(&c[k], in[k]));
    TRY(sy_tensor_empty(&outs[0], in[IN_X]->dtype, 3, (const int64_t[]){B, T, H}));
    for (k = 1; k < n_out; k++)
        TRY(sy_tensor_empty(&outs[k], in[IN_X]->dtype, 2, (const int64_t[]){B, H}));
    /* the cache is the forward's workspace too, so it exists even without grad */
    TRY(sy_tensor_empty(&cache, in[IN_X]->dtype, 3, (const int64_t[]){B, T, ly->cache_width(H)}));
    run_forward(kind, outs, cache, c);
    if (sy_ag_any_requires_grad(N_IN, in)) {
        TRY(sy_node_new(&node, ly->node_name, recurrent_backward, N_IN, in, n_out));
        node->ints[0] = kind;
        TRY(sy_node_save(node, SAVED_X, c[IN_X]));
        TRY(sy_node_save(node, SAVED_W_IH, c[IN_W_IH]));
        TRY(sy_node_save(node, SAVED_W_HH, c[IN_W_HH]));
        if (c[IN_C0]) TRY(sy_node_save(node, SAVED_C0, c[IN_C0]));
        TRY(sy_node_save(node, SAVED_CACHE, cache));
        for (k = 0; k < n_out; k++) sy_node_attach(node, outs[k], k);
    }
done:
    sy_node_release(node);   /* the outputs hold it now */
    for (k = 0; k < N_IN; k++) sy_tensor_release(c[k]);
    sy_tensor_release(cache);
    if (st)
        for (k = 0; k < n_out; k++) {
            sy_tensor_release(outs[k]);
            outs[k] = NULL;
        }
    return st;
}

sy_status sy_ag_rnn_tanh(sy_tensor **out, sy_tensor **h_n, sy_tensor *x, sy_tensor *h0,
                         sy_tensor *w_ih, sy_tensor *w_hh, sy_tensor *b_ih, sy_tensor *b_hh) {
    sy_tensor *in[N_IN] = {x, h0, NULL, w_ih, w_hh, b_ih, b_hh}, *outs[2];
    sy_status st = recurrent(RNN_TANH, outs, in);
    *out = outs[0];
    *h_n = outs[1];
    return st;
}

sy_status sy_ag_lstm(sy_tensor **out, sy_tensor **h_n, sy_tensor **c_n, sy_tensor *x,
                     sy_tensor *h0, sy_tensor *c0, sy_tensor *w_ih, sy_tensor *w_hh,
                     sy_tensor *b_ih, sy_tensor *b_hh) {
    sy_tensor *in[N_IN] = {x, h0, c0, w_ih, w_hh, b_ih, b_hh}, *outs[3];
    sy_status st = recurrent(LSTM, outs, in);
    *out = outs[0];
    *h_n = outs[1];
    *c_n = outs[2];
    return st;
}

sy_status sy_ag_gru(sy_tensor **out, sy_tensor **h_n, sy_tensor *x, sy_tensor *h0,
                    sy_tensor *w_ih, sy_tensor *w_hh, sy_tensor *b_ih, sy_tensor *b_hh) {
    sy_tensor *in[N_IN] = {x, h0, NULL, w_ih, w_hh, b_ih, b_hh}, *outs[2];
    sy_status st = recurrent(GRU, outs, in);
    *out = outs[0];
    *h_n = outs[1];
    return st;
}
