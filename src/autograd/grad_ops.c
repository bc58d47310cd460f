/*
** grad_ops.c -- differentiable reductions, matmul, joining, indexing and
** selection. Gradients that land on positions chosen by an index (max over a
** dim, gather, sort, topk, kthvalue) share one scatter-add helper.
*/
#include <math.h>
#include <string.h>

#include "autograd.h"

#define TRY(call)                              \
    do {                                       \
        if ((st = (call)) != SY_OK) goto done; \
    } while (0)

static sy_status record(sy_node **node, sy_tensor *out, const char *name, sy_backward_fn bw, int n,
                        sy_tensor *const *inputs) {
    sy_status st;
    *node = NULL;
    if (!sy_dtype_is_float(out->dtype) || !sy_ag_any_requires_grad(n, inputs)) return SY_OK;
    if ((st = sy_node_new(node, name, bw, n, inputs, 1))) return st;
    sy_node_attach(*node, out, 0);
    sy_node_release(*node);
    return SY_OK;
}

static void drop(sy_tensor **t) {
    sy_tensor_release(*t);
    *t = NULL;
}

/* dst[i with position `dim` replaced by index[i]] += src[i], for every i in
** index's shape (torch.scatter_add_). dst is contiguous; index is int64. */
static sy_status scatter_add(sy_tensor *dst, int dim, const sy_tensor *index, const sy_tensor *src) {
    sy_tensor *ci = NULL, *cs = NULL;
    int64_t n, k, pos[SY_MAX_DIMS] = {0};
    sy_status st;
    int d;
    if ((st = sy_tensor_contiguous(&ci, index))) return st;
    if ((st = sy_tensor_to_dtype(&cs, src, dst->dtype))) {
        sy_tensor_release(ci);
        return st;
    }
    n = sy_tensor_numel(ci);
    for (k = 0; k < n; k++) {
        const int64_t *idx = (const int64_t *)sy_tensor_data(ci);
        int64_t off = 0;
        for (d = 0; d < ci->ndim; d++) off += (d == dim ? idx[k] : pos[d]) * dst->stride[d];
        if (dst->dtype == SY_F32) ((float *)sy_tensor_data(dst))[off] += ((const float *)sy_tensor_data(cs))[k];
        else ((double *)sy_tensor_data(dst))[off] += ((const double *)sy_tensor_data(cs))[k];
        for (d = ci->ndim - 1; d >= 0; d--) {   /* next multi-index */
            if (++pos[d] < ci->size[d]) break;
            pos[d] = 0;
        }
    }
    sy_tensor_release(ci);
    sy_tensor_release(cs);
    return SY_OK;
}

/* A zero tensor like `a` receiving g at the index positions along dim;
** g and index have the same shape (keepdim layout). */
static sy_status scatter_grad(sy_tensor **out, const sy_tensor *a, int dim, const sy_tensor *index,
                              const sy_tensor *g) {
    sy_status st = sy_tensor_new(out, a->dtype, a->ndim, a->size);
    if (st) return st;
    if ((st = scatter_add(*out, dim, index, g))) drop(out);
    return st;
}

/* ---------------------------------------------------------------- reduce */

/* g reshaped so it broadcasts against the input: the reduced dim back as 1. */
static sy_status keepdim_view(sy_tensor **out, sy_tensor *g, const sy_node *n) {
    int dim = (int)n->ints[1], keepdim = (int)n->ints[2];
    if (dim == SY_ALL_DIMS || keepdim) {
        *out = sy_tensor_retain(g);
        return SY_OK;
    }
    return sy_tensor_unsqueeze(out, g, dim);
}

/* Product of all other elements of each row along dim, by prefix and
** suffix products (exact with zeros, unlike out / a). */
static sy_status prod_others(sy_tensor **out, const sy_tensor *a, int dim) {
    sy_tensor *flat = NULL, *p = NULL, *orig = NULL, *res = NULL, *back = NULL, *typed = NULL;
    int perm[SY_MAX_DIMS], inv[SY_MAX_DIMS], d, k = 0;
    int64_t rows, len, r, i;
    sy_status st;
    if (dim == SY_ALL_DIMS) {
        int64_t all[1] = {-1};
        TRY(sy_tensor_reshape(&flat, a, 1, all));
        dim = 0;
    } else {
        flat = sy_tensor_retain((sy_tensor *)a);
    }
    for (d = 0; d < flat->ndim; d++)
        if (d != dim) perm[k++] = d;
    perm[k] = dim;
    TRY(sy_tensor_permute(&p, flat, perm));
    TRY(sy_tensor_to_dtype(&orig, p, SY_F64));   /* contiguous, reduced dim last */
    TRY(sy_tensor_empty_like(&res, orig));
    len = flat->size[dim];
    rows = len ? sy_tensor_numel(orig) / len : 0;
    for (r = 0; r < rows; r++) {
        const double *x = (const double *)sy_tensor_data(orig) + r * len;
        double *y = (double *)sy_tensor_data(res) + r * len, acc = 1;
        for (i = 0; i < len; i++) {
            y[i] = acc;
            acc *= x[i];
        }
        for (acc = 1, i = len - 1; i >= 0; i--) {
            y[i] *= acc;
            acc *= x[i];
        }
    }
    for (d = 0; d < flat->ndim; d++) inv[perm[d]] = d;
    TRY(sy_tensor_permute(&back, res, inv));
    TRY(sy_tensor_to_dtype(&typed, back, a->dtype));
    st = sy_tensor_reshape(out, typed, a->ndim, a->size);
done:
    sy_tensor_release(flat);
    sy_tensor_release(p);
    sy_tensor_release(orig);
    sy_tensor_release(res);
    sy_tensor_release(back);
    sy_tensor_release(typed);
    return st;
}

static sy_status reduce_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    sy_redop op = (sy_redop)n->ints[0];
    int dim = (int)n->ints[1], correction = (int)n->ints[3];
    sy_tensor *a = n->inputs[0], *out = n->saved[0], *idx = n->saved[1];
    sy_tensor *g = NULL, *t[6] = {0}, *r = NULL;
    sy_status st = SY_OK;
    int k;
    double count = dim == SY_ALL_DIMS ? (double)sy_tensor_numel(a) : (double)a->size[dim];
    if (!go[0]) return SY_OK;
    TRY(keepdim_view(&g, go[0], n));
    switch (op) {
    case SY_RED_SUM: TRY(sy_tensor_expand(&r, g, a->ndim, a->size)); break;
    case SY_RED_MEAN:
        TRY(sy_scalar(&t[0], g->dtype, 1.0 / count));
        TRY(sy_binary(&t[1], SY_OP_MUL, g, t[0]));
        TRY(sy_tensor_expand(&r, t[1], a->ndim, a->size));
        break;
    case SY_RED_MAX:
    case SY_RED_MIN:
        if (dim != SY_ALL_DIMS) {
            TRY(keepdim_view(&t[0], idx, n));
            TRY(scatter_grad(&r, a, dim, t[0], g));
        } else {   /* the gradient is shared evenly by all extreme elements */
            TRY(sy_binary(&t[0], SY_OP_EQ, a, out));
            TRY(sy_tensor_to_dtype(&t[1], t[0], a->dtype));
            TRY(sy_reduce(&t[2], NULL, SY_RED_SUM, t[1], SY_ALL_DIMS, 0, 0));
            TRY(sy_binary(&t[3], SY_OP_DIV, g, t[2]));
            TRY(sy_binary(&r, SY_OP_MUL, t[1], t[3]));
        }
        break;
    case SY_RED_VAR:
    case SY_RED_STD: {   /* d var = 2 (a - mean) / (N - c); d std = d var / (2 std) */
        double scale = 2.0 / (count - correction);
        sy_tensor *mean = NULL;
        TRY(sy_reduce(&mean, NULL, SY_RED_MEAN, a, dim, 1, 0));
        st = sy_binary(&t[0], SY_OP_SUB, a, mean);
        sy_tensor_release(mean);
        if (st) goto done;
        TRY(sy_scalar(&t[1], a->dtype, scale));
        TRY(sy_binary(&t[2], SY_OP_MUL, t[0], t[1]));
        if (op == SY_RED_STD) {
            TRY(keepdim_view(&t[3], out, n));
            TRY(sy_scalar(&t[4], a->dtype, 2.0));
            TRY(sy_binary(&t[5], SY_OP_MUL, t[3], t[4]));
            TRY(sy_binary_out(t[2], SY_OP_DIV, t[2], t[5]));
        }
        TRY(sy_binary(&r, SY_OP_MUL, t[2], g));
        break;
    }
    case SY_RED_PROD:
        TRY(prod_others(&t[0], a, dim));
        TRY(sy_binary(&r, SY_OP_MUL, t[0], g));
        break;
    default:
        st = sy_error(SY_ERR_INTERNAL, "%s: no gradient for this reduction", n->name);
        goto done;
    }
    if (r->dtype != a->dtype) {
        TRY(sy_tensor_to_dtype(&gi[0], r, a->dtype));
    } else {
        gi[0] = r;
        r = NULL;
    }
done:
    for (k = 0; k < 6; k++) sy_tensor_release(t[k]);
    sy_tensor_release(g);
    sy_tensor_release(r);
    return st;
}

static const char *const reduce_node_names[SY_REDOP_COUNT] = {
    [SY_RED_SUM] = "SumBackward", [SY_RED_MEAN] = "MeanBackward", [SY_RED_PROD] = "ProdBackward",
    [SY_RED_MAX] = "MaxBackward", [SY_RED_MIN] = "MinBackward",   [SY_RED_VAR] = "VarBackward",
    [SY_RED_STD] = "StdBackward"};

sy_status sy_ag_reduce(sy_tensor **out, sy_tensor **indices, sy_redop op, sy_tensor *a, int dim,
                       int keepdim, int correction) {
    sy_tensor *idx = NULL;
    sy_node *node = NULL;
    int want_idx = (op == SY_RED_MAX || op == SY_RED_MIN) && dim != SY_ALL_DIMS;
    sy_status st = sy_reduce(out, want_idx ? &idx : NULL, op, a, dim, keepdim, correction);
    if (indices) *indices = NULL;
    if (st) return st;
    if (op < SY_REDOP_COUNT && reduce_node_names[op]) {
        if ((st = record(&node, *out, reduce_node_names[op], reduce_backward, 1, &a))) goto fail;
        if (node) {
            node->ints[0] = op;
            node->ints[1] = dim;
            node->ints[2] = keepdim;
            node->ints[3] = correction;
            if ((st = sy_node_save(node, 0, *out))) goto fail;
            if (idx && (st = sy_node_save(node, 1, idx))) goto fail;
        }
    }
    if (indices) *indices = idx;
    else sy_tensor_release(idx);
    return SY_OK;
fail:
    sy_tensor_release(idx);
    drop(out);
    return st;
}

/* ---------------------------------------------------------------- matmul */

/* Views a and b as at least 2-d (a vector a becomes [1,k], b becomes [k,1])
** and g to match. */
static sy_status matmul_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    sy_tensor *a = n->inputs[0], *b = n->inputs[1];
    sy_tensor *a2 = NULL, *b2 = NULL, *g2 = NULL, *t[4] = {0};
    sy_status st = SY_OK;
    int k;
    if (!go[0]) return SY_OK;
    if (a->ndim == 1) TRY(sy_tensor_unsqueeze(&a2, a, 0));
    else a2 = sy_tensor_retain(a);
    if (b->ndim == 1) TRY(sy_tensor_unsqueeze(&b2, b, 1));
    else b2 = sy_tensor_retain(b);
    g2 = sy_tensor_retain(go[0]);
    if (a->ndim == 1) {   /* the output lost the row dim: put it back */
        sy_tensor *u = NULL;
        TRY(sy_tensor_unsqueeze(&u, g2, b->ndim == 1 ? 0 : g2->ndim - 1));
        drop(&g2);
        g2 = u;
    }
    if (b->ndim == 1) {
        sy_tensor *u = NULL;
        TRY(sy_tensor_unsqueeze(&u, g2, g2->ndim));
        drop(&g2);
        g2 = u;
    }
    if (n->needs_grad[0]) {   /* dA = dC B^T, summed over broadcast batch dims */
        TRY(sy_tensor_transpose(&t[0], b2, b2->ndim - 2, b2->ndim - 1));
        TRY(sy_matmul(&t[1], g2, t[0]));
        TRY(sy_ag_sum_to(&t[2], t[1], a2->ndim, a2->size));
        TRY(sy_tensor_reshape(&gi[0], t[2], a->ndim, a->size));
        for (k = 0; k < 3; k++) drop(&t[k]);
    }
    if (n->needs_grad[1]) {   /* dB = A^T dC */
        TRY(sy_tensor_transpose(&t[0], a2, a2->ndim - 2, a2->ndim - 1));
        TRY(sy_matmul(&t[1], t[0], g2));
        TRY(sy_ag_sum_to(&t[2], t[1], b2->ndim, b2->size));
        TRY(sy_tensor_reshape(&gi[1], t[2], b->ndim, b->size));
    }
done:
    for (k = 0; k < 4; k++) sy_tensor_release(t[k]);
    sy_tensor_release(a2);
    sy_tensor_release(b2);
    sy_tensor_release(g2);
    return st;
}

sy_status sy_ag_matmul(sy_tensor **out, sy_tensor *a, sy_tensor *b) {
    sy_tensor *in[2] = {a, b};
    sy_node *node;
    sy_status st = sy_matmul(out, a, b);
    if (st) return st;
    if ((st = record(&node, *out, "MatmulBackward", matmul_backward, 2, in))) drop(out);
    return st;
}

/* ------------------------------------------------------------- cat, stack */

static sy_status join_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    int dim = (int)n->ints[0], stack = (int)n->ints[1], i;
    int64_t start = 0;
    sy_status st = SY_OK;
    if (!go[0]) return SY_OK;
    for (i = 0; i < n->n_inputs && st == SY_OK; i++) {
        sy_tensor *in = n->inputs[i], *piece = NULL;
        if (stack) {
            st = sy_tensor_select(&piece, go[0], dim, i);
        } else {
            int64_t len = in->size[dim];
            st = sy_tensor_narrow(&piece, go[0], dim, start, len);
            start += len;
        }
        if (st) break;
        if (n->needs_grad[i]) {
            if (piece->dtype != in->dtype) st = sy_tensor_to_dtype(&gi[i], piece, in->dtype);
            else gi[i] = sy_tensor_retain(piece);
        }
        sy_tensor_release(piece);
    }
    return st;
}

static sy_status join(sy_tensor **out, sy_tensor *const *ts, int n, int dim, int stack) {
    sy_node *node = NULL;
    sy_status st = stack ? sy_stack(out, (const sy_tensor *const *)ts, n, dim)
                         : sy_cat(out, (const sy_tensor *const *)ts, n, dim);
    if (st) return st;
    if ((st = record(&node, *out, stack ? "StackBackward" : "CatBackward", join_backward, n, ts))) {
        drop(out);
        return st;
    }
    if (node) {
        node->ints[0] = dim;
        node->ints[1] = stack;
    }
    return SY_OK;
}

sy_status sy_ag_cat(sy_tensor **out, sy_tensor *const *ts, int n, int dim) { return join(out, ts, n, dim, 0); }
sy_status sy_ag_stack(sy_tensor **out, sy_tensor *const *ts, int n, int dim) { return join(out, ts, n, dim, 1); }

/* ------------------------------------------------------ gather and friends */

/* Backward of ops whose output element i is input[index[i]] along dim, with
** index saved in saved[0] in the output's (keepdim) shape. */
static sy_status pick_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    sy_tensor *a = n->inputs[0], *idx = n->saved[0], *g = NULL;
    int dim = (int)n->ints[0];
    sy_status st;
    if (!go[0]) return SY_OK;
    if (go[0]->ndim < a->ndim) {   /* kthvalue without keepdim */
        if ((st = sy_tensor_unsqueeze(&g, go[0], dim))) return st;
    } else {
        g = sy_tensor_retain(go[0]);
    }
    st = scatter_grad(&gi[0], a, dim, idx, g);
    sy_tensor_release(g);
    return st;
}

static sy_status record_pick(sy_tensor **out, sy_tensor *a, const sy_tensor *index, int dim,
                             const char *name) {
    sy_node *node;
    sy_tensor *idx = NULL;
    sy_status st;
    if ((st = record(&node, *out, name, pick_backward, 1, &a)) || !node) return st;
    node->ints[0] = dim;
    /* A copy: callers may rewrite the returned indices (the Lua face makes
    ** them 1-based in place). */
    if ((st = sy_tensor_clone(&idx, index))) return st;
    if (index->ndim < a->ndim) {
        sy_tensor *u = NULL;
        st = sy_tensor_unsqueeze(&u, idx, dim);
        sy_tensor_release(idx);
        if (st) return st;
        idx = u;
    }
    node->saved[0] = idx;
    return SY_OK;
}

sy_status sy_ag_gather(sy_tensor **out, sy_tensor *t, int dim, const sy_tensor *index) {
    sy_status st = sy_gather(out, t, dim, index);
    if (st) return st;
    if ((st = record_pick(out, t, index, dim, "GatherBackward"))) drop(out);
    return st;
}

#define PICK(fn, call, name)                                                     \
    do {                                                                         \
        sy_tensor *ix = NULL;                                                    \
        sy_status st_ = (call);                                                  \
        if (st_) return st_;                                                     \
        if ((st_ = record_pick(values, t, ix, dim, name))) {                     \
            drop(values);                                                        \
            sy_tensor_release(ix);                                               \
            return st_;                                                          \
        }                                                                        \
        if (indices) *indices = ix;                                              \
        else sy_tensor_release(ix);                                              \
        return SY_OK;                                                            \
    } while (0)

sy_status sy_ag_sort(sy_tensor **values, sy_tensor **indices, sy_tensor *t, int dim, int descending) {
    PICK(sort, sy_sort(values, &ix, t, dim, descending), "SortBackward");
}

sy_status sy_ag_topk(sy_tensor **values, sy_tensor **indices, sy_tensor *t, int64_t k, int dim,
                     int largest) {
    PICK(topk, sy_topk(values, &ix, t, k, dim, largest), "TopkBackward");
}

sy_status sy_ag_kthvalue(sy_tensor **values, sy_tensor **indices, sy_tensor *t, int64_t k, int dim,
                         int keepdim) {
    PICK(kthvalue, sy_kthvalue(values, &ix, t, k, dim, keepdim), "KthvalueBackward");
}

/* index_select: each selected slice sends its gradient back to its source
** slice (repeated indices add up). */
static sy_status index_select_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    sy_tensor *a = n->inputs[0], *idx = n->saved[0], *z = NULL;
    int dim = (int)n->ints[0];
    int64_t i, m;
    sy_status st;
    if (!go[0]) return SY_OK;
    if ((st = sy_tensor_new(&z, a->dtype, a->ndim, a->size))) return st;
    m = sy_tensor_numel(idx);
    for (i = 0; i < m && st == SY_OK; i++) {
        sy_tensor *dst = NULL, *src = NULL;
        int64_t where = (int64_t)sy_tensor_get(idx, &i);
        if ((st = sy_tensor_select(&dst, z, dim, where)) == SY_OK &&
            (st = sy_tensor_select(&src, go[0], dim, i)) == SY_OK)
            st = sy_binary_out(dst, SY_OP_ADD, dst, src);
        sy_tensor_release(dst);
        sy_tensor_release(src);
    }
    if (st) {
        sy_tensor_release(z);
        return st;
    }
    gi[0] = z;
    return SY_OK;
}

sy_status sy_ag_index_select(sy_tensor **out, sy_tensor *t, int dim, const sy_tensor *index) {
    sy_node *node;
    sy_status st = sy_index_select(out, t, dim, index);
    if (st) return st;
    if ((st = record(&node, *out, "IndexSelectBackward", index_select_backward, 1, &t))) goto fail;
    if (node) {
        node->ints[0] = dim;
        if ((st = sy_node_save(node, 0, index))) goto fail;
    }
    return SY_OK;
fail:
    drop(out);
    return st;
}
