/*
** attention_grad.c -- the differentiable softmax, log_softmax, dropout,
** scaled dot-product attention and losses of attention_grad.h: argument
** checks, the kernels of src/ops/attention.h, and one node per call whose
** backward is the fused backward kernel.
*/
#include <limits.h>

#include "attention_grad.h"
#include "autograd.h"

#define TRY(call)                              \
    do {                                       \
        if ((st = (call)) != SY_OK) goto done; \
    } while (0)

#define SDPA "scaled_dot_product_attention"

static sy_status check_float(const char *op, const char *arg, const sy_tensor *t) {
    if (!t) return sy_error(SY_ERR_ARG, "%s: %s is required", op, arg);
    if (t->dtype != SY_F32 && t->dtype != SY_F64)
        return sy_error(SY_ERR_DTYPE, "%s: %s must be float32 or float64, got %s", op, arg,
                        sy_dtype_name(t->dtype));
    if (t->storage->device != SY_CPU)
        return sy_error(SY_ERR_DEVICE, "%s: %s is not on the CPU; this kernel runs on the CPU only",
                        op, arg);
    return SY_OK;
}

static sy_status check_same_dtype(const char *op, const char *arg, const sy_tensor *t,
                                  const char *ref_arg, const sy_tensor *ref) {
    if (t->dtype != ref->dtype)
        return sy_error(SY_ERR_DTYPE, "%s: %s is %s but %s is %s; convert one with :float() or "
                        ":double()", op, arg, sy_dtype_name(t->dtype), ref_arg,
                        sy_dtype_name(ref->dtype));
    return SY_OK;
}

/* A contiguous gradient in dtype dt (incoming gradients may be expanded
** views, as from sum's backward, or of another dtype); NULL stays NULL. */
static sy_status dense_grad(sy_tensor **out, const sy_tensor *g, sy_dtype dt) {
    *out = NULL;
    if (!g) return SY_OK;
    if (g->dtype != dt) return sy_tensor_to_dtype(out, g, dt);
    return sy_tensor_contiguous(out, g);
}

/* ------------------------------------------------------------- softmax */

static sy_status softmax_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    sy_tensor *y = n->saved[0], *g = NULL;
    sy_status st = SY_OK;
    if (!go[0]) return SY_OK;
    TRY(dense_grad(&g, go[0], y->dtype));
    TRY(sy_tensor_empty(&gi[0], y->dtype, y->ndim, y->size));
    st = sy_softmax_backward(gi[0], g, y, (int)n->ints[0], (int)n->ints[1]);
done:
    sy_tensor_release(g);
    return st;
}

static sy_status softmax_any(sy_tensor **out, sy_tensor *x, int dim, int log) {
    const char *op = log ? "log_softmax" : "softmax";
    sy_tensor *c = NULL;
    sy_node *node = NULL;
    sy_status st;
    *out = NULL;
    TRY(check_float(op, "x", x));
    if (x->ndim == 0 ? dim != 0 : dim < 0 || dim >= x->ndim) {
        st = sy_error(SY_ERR_INDEX, "%s: dim %d out of range for a %d-d tensor (0-based)", op, dim,
                      x->ndim);
        goto done;
    }
    TRY(sy_tensor_contiguous(&c, x));
    TRY(sy_tensor_empty(out, x->dtype, x->ndim, x->size));
    TRY(sy_softmax_forward(*out, c, dim, log));
    if (sy_ag_any_requires_grad(1, &x)) {
        TRY(sy_node_new(&node, log ? "LogSoftmaxBackward" : "SoftmaxBackward", softmax_backward, 1,
                        &x, 1));
        node->ints[0] = dim;
        node->ints[1] = log;
        TRY(sy_node_save(node, 0, *out));
        sy_node_attach(node, *out, 0);
    }
done:
    sy_node_release(node);   /* the output holds it now */
    sy_tensor_release(c);
    if (st) {
        sy_tensor_release(*out);
        *out = NULL;
    }
    return st;
}

sy_status sy_ag_softmax(sy_tensor **out, sy_tensor *x, int dim) {
    return softmax_any(out, x, dim, 0);
}

sy_status sy_ag_log_softmax(sy_tensor **out, sy_tensor *x, int dim) {
    return softmax_any(out, x, dim, 1);
}

/* ------------------------------------------------------------- dropout */

static sy_status check_p(const char *op, const char *arg, double p) {
    if (!(p >= 0 && p <= 1))
        return sy_error(SY_ERR_ARG, "%s: %s must be between 0 and 1, got %g", op, arg, p);
    return SY_OK;
}

static sy_status dropout_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    sy_tensor *x = n->inputs[0], *g = NULL;
    sy_status st = SY_OK;
    if (!go[0]) return SY_OK;
    TRY(dense_grad(&g, go[0], x->dtype));
    TRY(sy_tensor_empty(&gi[0], x->dtype, x->ndim, x->size));
    sy_dropout_apply(gi[0], g, n->saved[0], n->scalars[0]);
done:
    sy_tensor_release(g);
    return st;
}

sy_status sy_ag_dropout(sy_tensor **out, sy_tensor *x, double p, int training) {
    sy_tensor *c = NULL, *keep = NULL;
    sy_node *node = NULL;
    sy_status st;
    const double scale = sy_dropout_scale(p);
    *out = NULL;
    TRY(check_float("dropout", "x", x));
    TRY(check_p("dropout", "p", p));
    if (!training || p == 0) {
        *out = sy_tensor_retain(x);
        return SY_OK;
    }
    TRY(sy_tensor_contiguous(&c, x));
    TRY(sy_tensor_empty(&keep, SY_U8, x->ndim, x->size));
    sy_dropout_mask(keep, NULL, p);
    TRY(sy_tensor_empty(out, x->dtype, x->ndim, x->size));
    sy_dropout_apply(*out, c, keep, scale);
    if (sy_ag_any_requires_grad(1, &x)) {
        TRY(sy_node_new(&node, "DropoutBackward", dropout_backward, 1, &x, 1));
        node->scalars[0] = scale;
        TRY(sy_node_save(node, 0, keep));
        sy_node_attach(node, *out, 0);
    }
done:
    sy_node_release(node);
    sy_tensor_release(c);
    sy_tensor_release(keep);
    if (st) {
        sy_tensor_release(*out);
        *out = NULL;
    }
    return st;
}

/* ----------------------------------------------------------- attention */

enum { SAVED_Q, SAVED_K, SAVED_V, SAVED_WEIGHTS, SAVED_KEEP };

static sy_status check_attention(sy_tensor *const *in) {
    static const char *const names[3] = {"q", "k", "v"};
    const sy_tensor *q = in[0], *k = in[1], *v = in[2];
    char s1[SY_SHAPE_STRLEN], s2[SY_SHAPE_STRLEN];
    sy_status st;
    int i, d;
    for (i = 0; i < 3; i++) {
        if ((st = check_float(SDPA, names[i], in[i]))) return st;
        if (i > 0 && (st = check_same_dtype(SDPA, names[i], in[i], "q", q))) return st;
        if (in[i]->ndim != 4)
            return sy_error(SY_ERR_SHAPE,
                            SDPA ": %s must be 4-d [batch, heads, seq_len, head_dim], got shape %s",
                            names[i],
                            sy_shape_str(s1, sizeof s1, in[i]->ndim, in[i]->size));
        for (d = 2; d < 4; d++)
            if (in[i]->size[d] < 1 || in[i]->size[d] > INT_MAX)
                return sy_error(SY_ERR_SHAPE,
                                SDPA ": %s has shape %s; its sequence length and head dim must "
                                "be between 1 and %d", names[i],
                                sy_shape_str(s1, sizeof s1, in[i]->ndim, in[i]->size), INT_MAX);
    }
    for (i = 1; i < 3; i++)
        if (in[i]->size[0] != q->size[0] || in[i]->size[1] != q->size[1])
            return sy_error(SY_ERR_SHAPE, SDPA ": q has shape %s but %s has %s; batch and heads "
                            "(dims 1 and 2) must match", sy_shape_str(s1, sizeof s1, 4, q->size),
                            names[i], sy_shape_str(s2, sizeof s2, 4, in[i]->size));
    if (k->size[3] != q->size[3])
        return sy_error(SY_ERR_SHAPE, SDPA ": q has head dim %lld but k has %lld (q %s, k %s)",
                        (long long)q->size[3], (long long)k->size[3],
                        sy_shape_str(s1, sizeof s1, 4, q->size),
                        sy_shape_str(s2, sizeof s2, 4, k->size));
    if (v->size[2] != k->size[2])
        return sy_error(SY_ERR_SHAPE, SDPA ": k has %lld keys but v has %lld values (k %s, v %s)",
                        (long long)k->size[2], (long long)v->size[2],
                        sy_shape_str(s1, sizeof s1, 4, k->size),
                        sy_shape_str(s2, sizeof s2, 4, v->size));
    return SY_OK;
}

/* t itself when the kernel can read it in place (rows contiguous, one row
** stride that BLAS accepts), else a contiguous copy. */
static sy_status kernel_view(sy_tensor **out, sy_tensor *t) {
    int rows_ok = t->size[2] == 1 || (t->stride[2] >= t->size[3] && t->stride[2] <= INT_MAX);
    if ((t->stride[3] == 1 || t->size[3] == 1) && rows_ok) {
        *out = sy_tensor_retain(t);
        return SY_OK;
    }
    return sy_tensor_contiguous(out, t);
}

/* The mask as a [B,H,Lq,Lk] view (stride 0 where it broadcasts), float
** masks in the scores' dtype. */
static sy_status prepare_mask(sy_tensor **out, const char *op, const sy_tensor *mask,
                              sy_dtype dt, const int64_t *scores) {
    char s1[SY_SHAPE_STRLEN], s2[SY_SHAPE_STRLEN];
    sy_tensor *conv = NULL;
    sy_status st;
    int d, off = 4 - mask->ndim;
    *out = NULL;
    if (mask->dtype != SY_BOOL && !sy_dtype_is_float(mask->dtype))
        return sy_error(SY_ERR_DTYPE,
                        "%s: mask must be bool (true = masked out) or float (added to the "
                        "scores), got %s", op, sy_dtype_name(mask->dtype));
    if (mask->storage->device != SY_CPU)
        return sy_error(SY_ERR_DEVICE, "%s: mask is not on the CPU; this kernel runs on the CPU "
                        "only", op);
    for (d = 0; d < mask->ndim; d++)
        if (off < 0 || (mask->size[d] != 1 && mask->size[d] != scores[off + d]))
            return sy_error(SY_ERR_SHAPE, "%s: mask of shape %s does not broadcast to the "
                            "scores' shape [batch, heads, Lq, Lk] = %s", op,
                            sy_shape_str(s1, sizeof s1, mask->ndim, mask->size),
                            sy_shape_str(s2, sizeof s2, 4, scores));
    if (mask->dtype != SY_BOOL && mask->dtype != dt) {
        if ((st = sy_tensor_to_dtype(&conv, mask, dt))) return st;
        mask = conv;
    }
    st = sy_tensor_expand(out, mask, 4, scores);
    sy_tensor_release(conv);
    return st;
}

static sy_status attention_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    sy_tensor *const *s = n->saved;
    sy_tensor *g[2] = {NULL, NULL};
    sy_status st = SY_OK;
    int i;
    if (!go[0] && !go[1]) return SY_OK;
    for (i = 0; i < 2; i++) TRY(dense_grad(&g[i], go[i], s[SAVED_Q]->dtype));
    for (i = 0; i < 3; i++) {
        const sy_tensor *in = n->inputs[i];
        if (n->needs_grad[i]) TRY(sy_tensor_empty(&gi[i], in->dtype, in->ndim, in->size));
    }
    st = sy_attention_backward(gi[0], gi[1], gi[2], g[0], g[1], s[SAVED_Q], s[SAVED_K], s[SAVED_V],
                               s[SAVED_WEIGHTS], s[SAVED_KEEP], n->scalars[0]);
done:
    for (i = 0; i < 2; i++) sy_tensor_release(g[i]);
    return st;   /* on failure the engine releases what gi holds */
}

sy_status sy_ag_scaled_dot_product_attention(sy_tensor **out, sy_tensor **weights, sy_tensor *q,
                                             sy_tensor *k, sy_tensor *v, const sy_tensor *mask,
                                             double dropout_p, int training) {
    sy_tensor *in[3] = {q, k, v}, *c[3] = {NULL, NULL, NULL}, *m = NULL, *keep = NULL;
    sy_node *node = NULL;
    double keep_scale = 1;
    int64_t scores[4], osize[4];
    sy_status st;
    int i;
    *out = *weights = NULL;
    TRY(check_attention(in));
    TRY(check_p(SDPA, "dropout_p", dropout_p));
    scores[0] = osize[0] = q->size[0];
    scores[1] = osize[1] = q->size[1];
    scores[2] = osize[2] = q->size[2];
    scores[3] = k->size[2];
    osize[3] = v->size[3];
    if (mask) TRY(prepare_mask(&m, SDPA, mask, q->dtype, scores));
    for (i = 0; i < 3; i++) TRY(kernel_view(&c[i], in[i]));
    TRY(sy_tensor_empty(out, q->dtype, 4, osize));
    TRY(sy_tensor_empty(weights, q->dtype, 4, scores));
    if (training && dropout_p > 0) {
        TRY(sy_tensor_empty(&keep, SY_U8, 4, scores));
        sy_dropout_mask(keep, NULL, dropout_p);
        keep_scale = sy_dropout_scale(dropout_p);
    }
    TRY(sy_attention_forward(*out, *weights, c[0], c[1], c[2], m, keep, keep_scale));
    if (sy_ag_any_requires_grad(3, in)) {
        TRY(sy_node_new(&node, "ScaledDotProductAttentionBackward", attention_backward, 3, in, 2));
        node->scalars[0] = keep_scale;
        for (i = 0; i < 3; i++) TRY(sy_node_save(node, SAVED_Q + i, c[i]));
        TRY(sy_node_save(node, SAVED_WEIGHTS, *weights));
        if (keep) TRY(sy_node_save(node, SAVED_KEEP, keep));
        sy_node_attach(node, *out, 0);
        sy_node_attach(node, *weights, 1);
    }
done:
    sy_node_release(node);   /* the outputs hold it now */
    for (i = 0; i < 3; i++) sy_tensor_release(c[i]);
    sy_tensor_release(m);
    sy_tensor_release(keep);
    if (st) {
        sy_tensor_release(*out);
        sy_tensor_release(*weights);
        *out = *weights = NULL;
    }
    return st;
}

/* ---------------------------------------------------- packed attention */

#define PACKED "packed_attention"

enum { PACKED_QKV, PACKED_WEIGHTS, PACKED_KEEP };

/* Columns part*E .. part*E+E-1 of a contiguous [B, L, n*E] tensor split
** into H heads: a [B, H, L, E/H] view, which the kernels read and write in
** place. */
static sy_status head_view(sy_tensor **out, const sy_tensor *t, int part, int64_t E, int64_t H) {
    const int64_t size[4] = {t->size[0], t->size[1], H, E / H};
    sy_tensor *cols = NULL, *split = NULL;
    sy_status st;
    *out = NULL;
    if ((st = sy_tensor_narrow(&cols, t, 2, part * E, E)) == SY_OK &&
        (st = sy_tensor_view(&split, cols, 4, size)) == SY_OK)
        st = sy_tensor_transpose(out, split, 1, 2);
    sy_tensor_release(cols);
    sy_tensor_release(split);
    return st;
}

static sy_status packed_attention_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    sy_tensor *const *s = n->saved, *qkv = s[PACKED_QKV];
    sy_tensor *g[2] = {NULL, NULL}, *h[7] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    const int64_t E = n->ints[0], H = n->ints[1];
    sy_status st = SY_OK;
    int i;
    if (!go[0] && !go[1]) return SY_OK;
    for (i = 0; i < 2; i++) TRY(dense_grad(&g[i], go[i], qkv->dtype));
    TRY(sy_tensor_empty(&gi[0], qkv->dtype, 3, qkv->size));
    for (i = 0; i < 3; i++) {
        TRY(head_view(&h[i], qkv, i, E, H));
        TRY(head_view(&h[3 + i], gi[0], i, E, H));
    }
    if (g[0]) TRY(head_view(&h[6], g[0], 0, E, H));
    st = sy_attention_backward(h[3], h[4], h[5], h[6], g[1], h[0], h[1], h[2], s[PACKED_WEIGHTS],
                               s[PACKED_KEEP], n->scalars[0]);
done:
    for (i = 0; i < 2; i++) sy_tensor_release(g[i]);
    for (i = 0; i < 7; i++) sy_tensor_release(h[i]);
    return st;   /* on failure the engine releases what gi holds */
}

sy_status sy_ag_packed_attention(sy_tensor **out, sy_tensor **weights, sy_tensor *qkv,
                                 int64_t heads, const sy_tensor *mask, double dropout_p,
                                 int training) {
    char s1[SY_SHAPE_STRLEN];
    sy_tensor *c = NULL, *m = NULL, *keep = NULL, *h[4] = {NULL, NULL, NULL, NULL};
    sy_node *node = NULL;
    double keep_scale = 1;
    int64_t scores[4], osize[3], E;
    sy_status st;
    int i;
    *out = *weights = NULL;
    TRY(check_float(PACKED, "qkv", qkv));
    TRY(check_p(PACKED, "dropout_p", dropout_p));
    if (qkv->ndim != 3 || qkv->size[1] < 1 || qkv->size[2] < 3 || qkv->size[2] % 3 != 0 ||
        qkv->size[2] > INT_MAX) {
        st = sy_error(SY_ERR_SHAPE, PACKED ": qkv must be [batch, seq_len, 3 * embed_dim] (q, k "
                      "and v side by side) with seq_len >= 1, got shape %s",
                      sy_shape_str(s1, sizeof s1, qkv->ndim, qkv->size));
        goto done;
    }
    E = qkv->size[2] / 3;
    if (heads < 1 || E % heads != 0) {
        st = sy_error(SY_ERR_ARG, PACKED ": embed_dim %lld (qkv shape %s) is not divisible by "
                      "num_heads %lld", (long long)E,
                      sy_shape_str(s1, sizeof s1, qkv->ndim, qkv->size), (long long)heads);
        goto done;
    }
    scores[0] = osize[0] = qkv->size[0];
    scores[1] = heads;
    scores[2] = scores[3] = osize[1] = qkv->size[1];
    osize[2] = E;
    if (mask) TRY(prepare_mask(&m, PACKED, mask, qkv->dtype, scores));
    TRY(sy_tensor_contiguous(&c, qkv));
    TRY(sy_tensor_empty(out, qkv->dtype, 3, osize));
    TRY(sy_tensor_empty(weights, qkv->dtype, 4, scores));
    for (i = 0; i < 3; i++) TRY(head_view(&h[i], c, i, E, heads));
    TRY(head_view(&h[3], *out, 0, E, heads));
    if (training && dropout_p > 0) {
        TRY(sy_tensor_empty(&keep, SY_U8, 4, scores));
        sy_dropout_mask(keep, NULL, dropout_p);
        keep_scale = sy_dropout_scale(dropout_p);
    }
    TRY(sy_attention_forward(h[3], *weights, h[0], h[1], h[2], m, keep, keep_scale));
    if (sy_ag_any_requires_grad(1, &qkv)) {
        TRY(sy_node_new(&node, "PackedAttentionBackward", packed_attention_backward, 1, &qkv, 2));
        node->scalars[0] = keep_scale;
        node->ints[0] = E;
        node->ints[1] = heads;
        TRY(sy_node_save(node, PACKED_QKV, c));
        TRY(sy_node_save(node, PACKED_WEIGHTS, *weights));
        if (keep) TRY(sy_node_save(node, PACKED_KEEP, keep));
        sy_node_attach(node, *out, 0);
        sy_node_attach(node, *weights, 1);
    }
done:
    sy_node_release(node);   /* the outputs hold it now */
    for (i = 0; i < 4; i++) sy_tensor_release(h[i]);
    sy_tensor_release(c);
    sy_tensor_release(m);
    sy_tensor_release(keep);
    if (st) {
        sy_tensor_release(*out);
        sy_tensor_release(*weights);
        *out = *weights = NULL;
    }
    return st;
}

/* -------------------------------------------------------------- losses */

static const char *const loss_names[] = {"mse_loss", "l1_loss", "huber_loss"};
static const char *const loss_nodes[] = {"MSELossBackward", "L1LossBackward", "HuberLossBackward"};

static sy_status loss_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    sy_tensor *input = n->saved[0], *g = NULL;
    sy_status st = SY_OK;
    int i;
    if (!go[0]) return SY_OK;
    TRY(dense_grad(&g, go[0], input->dtype));
    for (i = 0; i < 2; i++)
        if (n->needs_grad[i]) TRY(sy_tensor_empty(&gi[i], input->dtype, input->ndim, input->size));
    sy_loss_backward(gi[0], gi[1], (sy_loss_kind)n->ints[0], (sy_loss_reduction)n->ints[1], g,
                     input, n->saved[1], n->scalars[0]);
done:
    sy_tensor_release(g);
    return st;
}

static sy_status loss(sy_tensor **out, sy_loss_kind kind, sy_tensor *input, sy_tensor *target,
                      double delta, sy_loss_reduction red) {
    const char *op = loss_names[kind];
    char s1[SY_SHAPE_STRLEN], s2[SY_SHAPE_STRLEN];
    sy_tensor *in[2] = {input, target}, *c[2] = {NULL, NULL};
    sy_node *node = NULL;
    sy_status st;
    int i;
    *out = NULL;
    TRY(check_float(op, "input", input));
    TRY(check_float(op, "target", target));
    TRY(check_same_dtype(op, "target", target, "input", input));
    if (!sy_tensor_same_shape(input, target)) {
        st = sy_error(SY_ERR_SHAPE, "%s: input has shape %s but target has shape %s; they must "
                      "match (no broadcasting)", op,
                      sy_shape_str(s1, sizeof s1, input->ndim, input->size),
                      sy_shape_str(s2, sizeof s2, target->ndim, target->size));
        goto done;
    }
    if (kind == SY_LOSS_HUBER && !(delta > 0)) {
        st = sy_error(SY_ERR_ARG, "%s: delta must be positive, got %g", op, delta);
        goto done;
    }
    if (red != SY_LOSS_MEAN && red != SY_LOSS_SUM && red != SY_LOSS_NONE) {
        st = sy_error(SY_ERR_ARG, "%s: unknown reduction %d", op, (int)red);
        goto done;
    }
    for (i = 0; i < 2; i++) TRY(sy_tensor_contiguous(&c[i], in[i]));
    if (red == SY_LOSS_NONE) TRY(sy_tensor_empty(out, input->dtype, input->ndim, input->size));
    else TRY(sy_tensor_empty(out, input->dtype, 0, NULL));
    sy_loss_forward(*out, kind, red, c[0], c[1], delta);
    if (sy_ag_any_requires_grad(2, in)) {
        TRY(sy_node_new(&node, loss_nodes[kind], loss_backward, 2, in, 1));
        node->ints[0] = kind;
        node->ints[1] = red;
        node->scalars[0] = delta;
        for (i = 0; i < 2; i++) TRY(sy_node_save(node, i, c[i]));
        sy_node_attach(node, *out, 0);
    }
done:
    sy_node_release(node);
    for (i = 0; i < 2; i++) sy_tensor_release(c[i]);
    if (st) {
        sy_tensor_release(*out);
        *out = NULL;
    }
    return st;
}

sy_status sy_ag_mse_loss(sy_tensor **out, sy_tensor *input, sy_tensor *target,
                         sy_loss_reduction red) {
    return loss(out, SY_LOSS_MSE, input, target, 0, red);
}

sy_status sy_ag_l1_loss(sy_tensor **out, sy_tensor *input, sy_tensor *target,
                        sy_loss_reduction red) {
    return loss(out, SY_LOSS_L1, input, target, 0, red);
}

sy_status sy_ag_huber_loss(sy_tensor **out, sy_tensor *input, sy_tensor *target, double delta,
                           sy_loss_reduction red) {
    return loss(out, SY_LOSS_HUBER, input, target, delta, red);
}
