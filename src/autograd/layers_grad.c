/*
** layers_grad.c -- the differentiable feed-forward layers: argument checks,
** the fused kernels of src/ops/layers.h, and one node per call whose
** backward is the fused backward kernel (see layers_grad.h).
**
** Kernels want contiguous tensors: each front end takes contiguous versions
** of its arguments (the arguments themselves when they already are) and
** saves those for the backward.
*/
#include <limits.h>
#include <math.h>

#include "autograd.h"
#include "layers_grad.h"

#define TRY(call)                              \
    do {                                       \
        if ((st = (call)) != SY_OK) goto done; \
    } while (0)

/* The input must be float32 or float64 on the CPU. */
static sy_status check_input(const char *layer, const sy_tensor *x) {
    if (x->dtype != SY_F32 && x->dtype != SY_F64)
        return sy_error(SY_ERR_DTYPE, "%s: input must be float32 or float64, got %s", layer,
                        sy_dtype_name(x->dtype));
    if (x->storage->device != SY_CPU)
        return sy_error(SY_ERR_DEVICE, "%s: input is not on the CPU; the layer kernels run on the "
                        "CPU only", layer);
    return SY_OK;
}

/* An optional parameter `what` (NULL passes) must be [size] of x's dtype on
** the CPU; `of` says where size comes from, `ref` (called ref_name) is the
** tensor it comes from, whose shape the message quotes. */
static sy_status check_vector(const char *layer, const char *what, const sy_tensor *t,
                              const sy_tensor *x, int64_t size, const char *of,
                              const char *ref_name, const sy_tensor *ref) {
    char s1[SY_SHAPE_STRLEN], s2[SY_SHAPE_STRLEN];
    if (!t) return SY_OK;
    if (t->dtype != x->dtype)
        return sy_error(SY_ERR_DTYPE, "%s: %s is %s but the input is %s; all tensors must have one "
                        "dtype", layer, what, sy_dtype_name(t->dtype), sy_dtype_name(x->dtype));
    if (t->storage->device != SY_CPU)
        return sy_error(SY_ERR_DEVICE, "%s: %s is not on the CPU", layer, what);
    if (t->ndim != 1 || t->size[0] != size)
        return sy_error(SY_ERR_SHAPE, "%s: %s has shape %s; expected [%lld] (%s, %s shape %s)",
                        layer, what, sy_shape_str(s1, sizeof s1, t->ndim, t->size),
                        (long long)size, of, ref_name,
                        sy_shape_str(s2, sizeof s2, ref->ndim, ref->size));
    return SY_OK;
}

static sy_status check_eps(const char *layer, double eps) {
    if (!(eps >= 0) || isinf(eps))
        return sy_error(SY_ERR_ARG, "%s: eps must be a finite number >= 0, got %g", layer, eps);
    return SY_OK;
}

/* NULL for NULL, else a contiguous version of t. */
static sy_status dense(sy_tensor **out, const sy_tensor *t) {
    *out = NULL;
    return t ? sy_tensor_contiguous(out, t) : SY_OK;
}

/* The incoming gradient, contiguous and in dtype dt (it may be an expanded
** view, as from sum's backward, or of another dtype). */
static sy_status dense_grad(sy_tensor **out, const sy_tensor *g, sy_dtype dt) {
    if (g->dtype != dt) return sy_tensor_to_dtype(out, g, dt);
    return sy_tensor_contiguous(out, g);
}

/* A fresh gradient tensor for every input of n that needs one. */
static sy_status alloc_grads(sy_node *n, sy_tensor **gi) {
    sy_status st;
    int k;
    for (k = 0; k < n->n_inputs; k++) {
        const sy_tensor *in = n->inputs[k];
        if (n->needs_grad[k] && (st = sy_tensor_empty(&gi[k], in->dtype, in->ndim, in->size)))
            return st;
    }
    return SY_OK;
}

/* A node for `out` when grad mode is on and an input requires grad, else
** NULL. The caller saves what the backward needs and releases its reference
** (out holds one). */
static sy_status record(sy_node **node, sy_tensor *out, const char *name, sy_backward_fn bw, int n,
                        sy_tensor *const *inputs) {
    sy_status st;
    *node = NULL;
    if (!sy_ag_any_requires_grad(n, inputs)) return SY_OK;
    if ((st = sy_node_new(node, name, bw, n, inputs, 1))) return st;
    sy_node_attach(*node, out, 0);
    return SY_OK;
}

/* ----------------------------------------------------------------- linear */

enum { LIN_X, LIN_W, LIN_B };

static sy_status linear_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    sy_tensor *dy = NULL;
    sy_status st;
    if (!go[0]) return SY_OK;
    TRY(dense_grad(&dy, go[0], n->inputs[LIN_W]->dtype));
    TRY(alloc_grads(n, gi));
    sy_linear_backward(gi[LIN_X], gi[LIN_W], gi[LIN_B], dy, n->saved[LIN_X], n->saved[LIN_W],
                       n->ints[0], n->ints[1], n->ints[2]);
done:
    sy_tensor_release(dy);
    return st;
}

sy_status sy_ag_linear(sy_tensor **y, sy_tensor *x, sy_tensor *w, sy_tensor *b) {
    sy_tensor *in[3] = {x, w, b}, *c[3] = {NULL, NULL, NULL};
    char s1[SY_SHAPE_STRLEN], s2[SY_SHAPE_STRLEN];
    int64_t size[SY_MAX_DIMS], N = 1, IN, OUT;
    sy_node *node = NULL;
    sy_status st;
    int d, k;
    *y = NULL;
    TRY(check_input("linear", x));
    if (x->ndim < 1)
        return sy_error(SY_ERR_SHAPE, "linear: input must have at least 1 dimension (features), "
                        "got a 0-d tensor");
    if (w->dtype != x->dtype)
        return sy_error(SY_ERR_DTYPE, "linear: weight is %s but the input is %s; all tensors must "
                        "have one dtype", sy_dtype_name(w->dtype), sy_dtype_name(x->dtype));
    if (w->storage->device != SY_CPU)
        return sy_error(SY_ERR_DEVICE, "linear: weight is not on the CPU");
    if (w->ndim != 2)
        return sy_error(SY_ERR_SHAPE, "linear: weight must be 2-d [out_features, in_features], got "
                        "shape %s", sy_shape_str(s1, sizeof s1, w->ndim, w->size));
    OUT = w->size[0];
    IN = w->size[1];
    if (x->size[x->ndim - 1] != IN)
        return sy_error(SY_ERR_SHAPE, "linear: input has %lld features, weight expects %lld "
                        "(input shape %s, weight shape %s)", (long long)x->size[x->ndim - 1],
                        (long long)IN, sy_shape_str(s1, sizeof s1, x->ndim, x->size),
                        sy_shape_str(s2, sizeof s2, w->ndim, w->size));
    TRY(check_vector("linear", "bias", b, x, OUT, "the weight's out_features", "weight", w));
    for (d = 0; d < x->ndim - 1; d++) {
        N *= x->size[d];
        size[d] = x->size[d];
    }
    size[x->ndim - 1] = OUT;
    if (N > INT_MAX || IN > INT_MAX || OUT > INT_MAX)
        return sy_error(SY_ERR_ARG, "linear: input %s with weight %s is too large for BLAS's int "
                        "dimensions", sy_shape_str(s1, sizeof s1, x->ndim, x->size),
                        sy_shape_str(s2, sizeof s2, w->ndim, w->size));
    for (k = 0; k < 3; k++) TRY(dense(&c[k], in[k]));
    TRY(sy_tensor_empty(y, x->dtype, x->ndim, size));
    sy_linear_forward(*y, c[LIN_X], c[LIN_W], c[LIN_B], N, IN, OUT);
    TRY(record(&node, *y, "LinearBackward", linear_backward, 3, in));
    if (node) {
        node->ints[0] = N;
        node->ints[1] = IN;
        node->ints[2] = OUT;
        /* dw needs x, dx needs w */
        if (node->needs_grad[LIN_W]) TRY(sy_node_save(node, LIN_X, c[LIN_X]));
        if (node->needs_grad[LIN_X]) TRY(sy_node_save(node, LIN_W, c[LIN_W]));
    }
done:
    sy_node_release(node);
    for (k = 0; k < 3; k++) sy_tensor_release(c[k]);
    if (st) {
        sy_tensor_release(*y);
        *y = NULL;
    }
    return st;
}

/* ------------------------------------------------------------- layer norm */

enum { NORM_X, NORM_W, NORM_B };
enum { SAVED_X, SAVED_MEAN, SAVED_RSTD, SAVED_W };

static sy_status layer_norm_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    sy_tensor *dy = NULL, *const *s = n->saved;
    sy_status st;
    if (!go[0]) return SY_OK;
    TRY(dense_grad(&dy, go[0], s[SAVED_X]->dtype));
    TRY(alloc_grads(n, gi));
    sy_layer_norm_backward(gi[NORM_X], gi[NORM_W], gi[NORM_B], dy, s[SAVED_X], s[SAVED_MEAN],
                           s[SAVED_RSTD], s[SAVED_W], n->ints[0], n->ints[1]);
done:
    sy_tensor_release(dy);
    return st;
}

sy_status sy_ag_layer_norm(sy_tensor **y, sy_tensor *x, sy_tensor *w, sy_tensor *b, double eps) {
    sy_tensor *in[3] = {x, w, b}, *c[3] = {NULL, NULL, NULL}, *mean = NULL, *rstd = NULL;
    sy_node *node = NULL;
    sy_status st;
    int64_t N = 1, D;
    int d, k;
    *y = NULL;
    TRY(check_input("layer_norm", x));
    if (x->ndim < 1)
        return sy_error(SY_ERR_SHAPE, "layer_norm: input must have at least 1 dimension (the one "
                        "normalised), got a 0-d tensor");
    D = x->size[x->ndim - 1];
    TRY(check_vector("layer_norm", "weight", w, x, D, "the input's last dim", "input", x));
    TRY(check_vector("layer_norm", "bias", b, x, D, "the input's last dim", "input", x));
    TRY(check_eps("layer_norm", eps));
    for (d = 0; d < x->ndim - 1; d++) N *= x->size[d];
    for (k = 0; k < 3; k++) TRY(dense(&c[k], in[k]));
    TRY(sy_tensor_empty(y, x->dtype, x->ndim, x->size));
    TRY(sy_tensor_empty(&mean, x->dtype, 1, &N));
    TRY(sy_tensor_empty(&rstd, x->dtype, 1, &N));
    sy_layer_norm_forward(*y, mean, rstd, c[NORM_X], c[NORM_W], c[NORM_B], N, D, eps);
    TRY(record(&node, *y, "LayerNormBackward", layer_norm_backward, 3, in));
    if (node) {
        node->ints[0] = N;
        node->ints[1] = D;
        TRY(sy_node_save(node, SAVED_X, c[NORM_X]));
        TRY(sy_node_save(node, SAVED_MEAN, mean));
        TRY(sy_node_save(node, SAVED_RSTD, rstd));
        if (c[NORM_W]) TRY(sy_node_save(node, SAVED_W, c[NORM_W]));
    }
done:
    sy_node_release(node);
    for (k = 0; k < 3; k++) sy_tensor_release(c[k]);
    sy_tensor_release(mean);
    sy_tensor_release(rstd);
    if (st) {
        sy_tensor_release(*y);
        *y = NULL;
    }
    return st;
}

/* ------------------------------------------------------------- batch norm */

static sy_status batch_norm_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    sy_tensor *dy = NULL, *const *s = n->saved;
    sy_status st;
    if (!go[0]) return SY_OK;
    TRY(dense_grad(&dy, go[0], s[SAVED_X]->dtype));
    TRY(alloc_grads(n, gi));
    sy_batch_norm_backward(gi[NORM_X], gi[NORM_W], gi[NORM_B], dy, s[SAVED_X], s[SAVED_MEAN],
                           s[SAVED_RSTD], s[SAVED_W], n->ints[0], n->ints[1], n->ints[2],
                           (int)n->ints[3]);
done:
    sy_tensor_release(dy);
    return st;
}

static sy_status check_batch_norm(const sy_tensor *x, const sy_tensor *rm, const sy_tensor *rv,
                                  const sy_tensor *w, const sy_tensor *b, int training,
                                  double momentum, double eps) {
    static const char *const names[4] = {"weight", "bias", "running_mean", "running_var"};
    const sy_tensor *vec[4] = {w, b, rm, rv};
    char s1[SY_SHAPE_STRLEN];
    sy_status st;
    int64_t C;
    int k;
    if ((st = check_input("batch_norm", x))) return st;
    if (x->ndim != 2 && x->ndim != 3)
        return sy_error(SY_ERR_SHAPE, "batch_norm: input must be [N, C] or [N, C, L], got shape %s",
                        sy_shape_str(s1, sizeof s1, x->ndim, x->size));
    C = x->size[1];
    for (k = 0; k < 4; k++) {
        st = check_vector("batch_norm", names[k], vec[k], x, C, "the input's channels", "input", x);
        if (st) return st;
    }
    if ((st = check_eps("batch_norm", eps))) return st;
    if (!rm != !rv)
        return sy_error(SY_ERR_ARG, "batch_norm: running_mean and running_var go together; got "
                        "only %s", rm ? "running_mean" : "running_var");
    if (!training) {
        if (!rm)
            return sy_error(SY_ERR_ARG, "batch_norm: evaluation mode (training = false) needs "
                            "running_mean and running_var");
        return SY_OK;
    }
    if (x->size[0] * (x->ndim == 3 ? x->size[2] : 1) < 2)
        return sy_error(SY_ERR_SHAPE, "batch_norm: training needs more than 1 value per channel, "
                        "got input shape %s", sy_shape_str(s1, sizeof s1, x->ndim, x->size));
    if (!isfinite(momentum))
        return sy_error(SY_ERR_ARG, "batch_norm: momentum must be a finite number, got %g",
                        momentum);
    if (rm && ((st = sy_ag_check_inplace("batch_norm (running_mean)", rm)) ||
               (st = sy_ag_check_inplace("batch_norm (running_var)", rv))))
        return st;
    return SY_OK;
}

sy_status sy_ag_batch_norm(sy_tensor **y, sy_tensor *x, sy_tensor *running_mean,
                           sy_tensor *running_var, sy_tensor *w, sy_tensor *b, int training,
                           double momentum, double eps) {
    sy_tensor *in[3] = {x, w, b}, *c[3] = {NULL, NULL, NULL}, *mean = NULL, *rstd = NULL;
    sy_tensor *rm = NULL, *rv = NULL;
    sy_node *node = NULL;
    sy_status st;
    int64_t N, C, L;
    int k;
    *y = NULL;
    TRY(check_batch_norm(x, running_mean, running_var, w, b, training, momentum, eps));
    N = x->size[0];
    C = x->size[1];
    L = x->ndim == 3 ? x->size[2] : 1;
    for (k = 0; k < 3; k++) TRY(dense(&c[k], in[k]));
    /* running stats that are strided views are updated through contiguous copies */
    TRY(dense(&rm, running_mean));
    TRY(dense(&rv, running_var));
    TRY(sy_tensor_empty(y, x->dtype, x->ndim, x->size));
    TRY(sy_tensor_empty(&mean, x->dtype, 1, &C));
    TRY(sy_tensor_empty(&rstd, x->dtype, 1, &C));
    sy_batch_norm_forward(*y, mean, rstd, rm, rv, c[NORM_X], c[NORM_W], c[NORM_B], N, C, L,
                          training, momentum, eps);
    if (training && rm != running_mean) TRY(sy_tensor_copy_(running_mean, rm));
    if (training && rv != running_var) TRY(sy_tensor_copy_(running_var, rv));
    TRY(record(&node, *y, "BatchNormBackward", batch_norm_backward, 3, in));
    if (node) {
        node->ints[0] = N;
        node->ints[1] = C;
        node->ints[2] = L;
        node->ints[3] = training;
        TRY(sy_node_save(node, SAVED_X, c[NORM_X]));
        TRY(sy_node_save(node, SAVED_MEAN, mean));
        TRY(sy_node_save(node, SAVED_RSTD, rstd));
        if (c[NORM_W]) TRY(sy_node_save(node, SAVED_W, c[NORM_W]));
    }
done:
    sy_node_release(node);
    for (k = 0; k < 3; k++) sy_tensor_release(c[k]);
    sy_tensor_release(rm);
    sy_tensor_release(rv);
    sy_tensor_release(mean);
    sy_tensor_release(rstd);
    if (st) {
        sy_tensor_release(*y);
        *y = NULL;
    }
    return st;
}

/* -------------------------------------------------------------- embedding */

enum { EMB_IDS };

static sy_status embedding_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    sy_tensor *dy = NULL;
    sy_status st;
    if (!go[0]) return SY_OK;
    TRY(dense_grad(&dy, go[0], n->inputs[0]->dtype));
    TRY(alloc_grads(n, gi));
    sy_embedding_backward(gi[0], dy, n->saved[EMB_IDS], n->ints[3], n->ints[0], n->ints[1],
                          n->ints[2]);
done:
    sy_tensor_release(dy);
    return st;
}

sy_status sy_ag_embedding(sy_tensor **out, sy_tensor *ids, sy_tensor *w, int64_t base) {
    char s1[SY_SHAPE_STRLEN];
    int64_t size[SY_MAX_DIMS], n, num, D;
    sy_tensor *cw = NULL, *cids = NULL;
    sy_node *node = NULL;
    sy_status st;
    int d;
    *out = NULL;
    if (ids->dtype != SY_I64)
        return sy_error(SY_ERR_DTYPE, "embedding: ids must be an int64 tensor, got %s",
                        sy_dtype_name(ids->dtype));
    if (w->dtype != SY_F32 && w->dtype != SY_F64)
        return sy_error(SY_ERR_DTYPE, "embedding: weight must be float32 or float64, got %s",
                        sy_dtype_name(w->dtype));
    if (ids->storage->device != SY_CPU || w->storage->device != SY_CPU)
        return sy_error(SY_ERR_DEVICE, "embedding: ids and weight must be on the CPU");
    if (w->ndim != 2)
        return sy_error(SY_ERR_SHAPE, "embedding: weight must be 2-d [num_embeddings, "
                        "embedding_dim], got shape %s",
                        sy_shape_str(s1, sizeof s1, w->ndim, w->size));
    if (ids->ndim >= SY_MAX_DIMS)
        return sy_error(SY_ERR_SHAPE, "embedding: ids have %d dimensions; at most %d are allowed "
                        "(the result adds one)", ids->ndim, SY_MAX_DIMS - 1);
    num = w->size[0];
    D = w->size[1];
    n = sy_tensor_numel(ids);
    for (d = 0; d < ids->ndim; d++) size[d] = ids->size[d];
    size[ids->ndim] = D;
    /* the node keeps its own copy of the ids: the caller may refill its batch
    ** buffer before the backward runs */
    if (sy_ag_any_requires_grad(1, &w)) TRY(sy_tensor_clone(&cids, ids));
    else TRY(sy_tensor_contiguous(&cids, ids));
    TRY(sy_tensor_contiguous(&cw, w));
    TRY(sy_tensor_empty(out, w->dtype, ids->ndim + 1, size));
    TRY(sy_embedding_forward(*out, cids, cw, base, n, num, D));
    TRY(record(&node, *out, "EmbeddingBackward", embedding_backward, 1, &w));
    if (node) {
        node->ints[0] = n;
        node->ints[1] = num;
        node->ints[2] = D;
        node->ints[3] = base;
        TRY(sy_node_save(node, EMB_IDS, cids));
    }
done:
    sy_node_release(node);
    sy_tensor_release(cw);
    sy_tensor_release(cids);
    if (st) {
        sy_tensor_release(*out);
        *out = NULL;
    }
    return st;
}

/* ------------------------------------------------------------------- gelu */

static sy_status gelu_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    sy_tensor *dy = NULL, *x = n->saved[0];
    sy_status st;
    if (!go[0]) return SY_OK;
    TRY(dense_grad(&dy, go[0], x->dtype));
    TRY(alloc_grads(n, gi));
    sy_gelu_backward(gi[0], dy, x, sy_tensor_numel(x), (sy_gelu_approx)n->ints[0]);
done:
    sy_tensor_release(dy);
    return st;
}

sy_status sy_ag_gelu(sy_tensor **y, sy_tensor *x, sy_gelu_approx approx) {
    sy_tensor *cx = NULL;
    sy_node *node = NULL;
    sy_status st;
    *y = NULL;
    TRY(check_input("gelu", x));
    if (approx != SY_GELU_NONE && approx != SY_GELU_TANH)
        return sy_error(SY_ERR_ARG, "gelu: unknown approximation %d", (int)approx);
    TRY(sy_tensor_contiguous(&cx, x));
    TRY(sy_tensor_empty(y, x->dtype, x->ndim, x->size));
    sy_gelu_forward(*y, cx, sy_tensor_numel(x), approx);
    TRY(record(&node, *y, "GeluBackward", gelu_backward, 1, &x));
    if (node) {
        node->ints[0] = approx;
        TRY(sy_node_save(node, 0, cx));
    }
done:
    sy_node_release(node);
    sy_tensor_release(cx);
    if (st) {
        sy_tensor_release(*y);
        *y = NULL;
    }
    return st;
}
