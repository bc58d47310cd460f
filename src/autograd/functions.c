/*
** functions.c -- differentiable elementwise ops and views: each sy_ag_*
** runs the pure op and, when an input requires grad, records a node whose
** backward is defined next to it.
*/
#include <math.h>
#include <string.h>

#include "../ops/layers.h"
#include "autograd.h"

#define TRY(call)                          \
    do {                                   \
        if ((st = (call)) != SY_OK) goto done; \
    } while (0)

/* Records a node for `out` if any input requires grad; *node is NULL
** otherwise. The node is owned by out. */
static sy_status record(sy_node **node, sy_tensor *out, const char *name, sy_backward_fn bw, int n,
                        sy_tensor *const *inputs) {
    sy_status st;
    *node = NULL;
    if (!sy_ag_any_requires_grad(n, inputs)) return SY_OK;
    if ((st = sy_node_new(node, name, bw, n, inputs, 1))) return st;
    sy_node_attach(*node, out, 0);
    sy_node_release(*node);   /* out holds it now */
    return SY_OK;
}

/* Brings a gradient computed at the output's shape and dtype back to input
** `in`: sums broadcast dims, converts dtype. Consumes g. */
static sy_status finish(sy_tensor **gi, sy_tensor *g, const sy_tensor *in) {
    sy_tensor *s = NULL;
    sy_status st = sy_ag_sum_to(&s, g, in->ndim, in->size);
    sy_tensor_release(g);
    if (st) return st;
    if (s->dtype != in->dtype) {
        st = sy_tensor_to_dtype(gi, s, in->dtype);
        sy_tensor_release(s);
        return st;
    }
    *gi = s;
    return SY_OK;
}

static sy_status scalar_like(sy_tensor **out, const sy_tensor *t, double v) {
    return sy_scalar(out, t->dtype, v);
}

/* ------------------------------------------------------------- binary ops */

static sy_status binary_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    sy_binop op = (sy_binop)n->ints[0];
    sy_tensor *a = n->inputs[0], *b = n->inputs[1], *g = go[0];
    sy_tensor *t[6] = {0}, *ga = NULL, *gb = NULL;
    sy_status st = SY_OK;
    int k;
    if (!g) return SY_OK;
    switch (op) {
    case SY_OP_ADD:
        ga = sy_tensor_retain(g);
        gb = sy_tensor_retain(g);
        break;
    case SY_OP_SUB:
        ga = sy_tensor_retain(g);
        if (n->needs_grad[1]) TRY(sy_unary(&gb, SY_OP_NEG, g));
        break;
    case SY_OP_MUL:
        if (n->needs_grad[0]) TRY(sy_binary(&ga, SY_OP_MUL, g, b));
        if (n->needs_grad[1]) TRY(sy_binary(&gb, SY_OP_MUL, g, a));
        break;
    case SY_OP_DIV:   /* d(a/b) = g/b, -g*a/b^2 */
        if (n->needs_grad[0]) TRY(sy_binary(&ga, SY_OP_DIV, g, b));
        if (n->needs_grad[1]) {
            TRY(sy_binary(&t[0], SY_OP_MUL, b, b));
            TRY(sy_binary(&t[1], SY_OP_DIV, a, t[0]));
            TRY(sy_binary(&t[2], SY_OP_MUL, g, t[1]));
            TRY(sy_unary(&gb, SY_OP_NEG, t[2]));
        }
        break;
    case SY_OP_POW:   /* g*b*a^(b-1); g*a^b*log(a), 0 where a == 0 (as PyTorch) */
        if (n->needs_grad[0]) {
            TRY(scalar_like(&t[0], b, 1));
            TRY(sy_binary(&t[1], SY_OP_SUB, b, t[0]));
            TRY(sy_binary(&t[2], SY_OP_POW, a, t[1]));
            TRY(sy_binary(&t[3], SY_OP_MUL, t[2], b));
            TRY(sy_binary(&ga, SY_OP_MUL, g, t[3]));
            for (k = 0; k < 4; k++) { sy_tensor_release(t[k]); t[k] = NULL; }
        }
        if (n->needs_grad[1]) {
            TRY(sy_binary(&t[0], SY_OP_POW, a, b));
            TRY(sy_unary(&t[1], SY_OP_LOG, a));
            TRY(sy_binary(&t[2], SY_OP_MUL, t[0], t[1]));
            TRY(scalar_like(&t[3], t[2], 0));
            TRY(sy_binary(&t[4], SY_OP_EQ, a, t[3]));
            TRY(sy_where(&t[5], t[4], t[3], t[2]));
            TRY(sy_binary(&gb, SY_OP_MUL, g, t[5]));
        }
        break;
    case SY_OP_MAXIMUM:
    case SY_OP_MINIMUM: {   /* the winner takes g; a tie splits it evenly */
        sy_binop win = op == SY_OP_MAXIMUM ? SY_OP_GT : SY_OP_LT;
        TRY(sy_binary(&t[0], win, a, b));
        TRY(sy_binary(&t[1], SY_OP_EQ, a, b));
        TRY(sy_tensor_to_dtype(&t[2], t[0], g->dtype));
        TRY(sy_tensor_to_dtype(&t[3], t[1], g->dtype));
        TRY(scalar_like(&t[4], g, 0.5));
        TRY(sy_binary_out(t[3], SY_OP_MUL, t[3], t[4]));
        TRY(sy_binary(&t[5], SY_OP_ADD, t[2], t[3]));   /* weight of a */
        if (n->needs_grad[0]) TRY(sy_binary(&ga, SY_OP_MUL, g, t[5]));
        if (n->needs_grad[1]) {
            sy_tensor *w = NULL;
            TRY(sy_binary(&w, SY_OP_SUB, t[4], t[5]));   /* 0.5 - wa, then + 0.5 */
            st = sy_binary_out(w, SY_OP_ADD, w, t[4]);
            if (st == SY_OK) st = sy_binary(&gb, SY_OP_MUL, g, w);
            sy_tensor_release(w);
            if (st) goto done;
        }
        break;
    }
    case SY_OP_FMOD:   /* a - trunc(a/b)*b */
        ga = sy_tensor_retain(g);
        if (n->needs_grad[1]) {
            TRY(sy_binary(&t[0], SY_OP_DIV, a, b));
            TRY(sy_unary(&t[1], SY_OP_SIGN, t[0]));
            TRY(sy_unary(&t[2], SY_OP_ABS, t[0]));
            TRY(sy_unary(&t[3], SY_OP_FLOOR, t[2]));
            TRY(sy_binary(&t[4], SY_OP_MUL, t[1], t[3]));
            TRY(sy_binary(&t[5], SY_OP_MUL, g, t[4]));
            TRY(sy_unary(&gb, SY_OP_NEG, t[5]));
        }
        break;
    default:
        st = sy_error(SY_ERR_INTERNAL, "%s: no gradient for op %s", n->name, sy_binop_name(op));
        goto done;
    }
    if (n->needs_grad[0] && ga) {
        st = finish(&gi[0], ga, a);
        ga = NULL;
        if (st) goto done;
    }
    if (n->needs_grad[1] && gb) {
        st = finish(&gi[1], gb, b);
        gb = NULL;
    }
done:
    for (k = 0; k < 6; k++) sy_tensor_release(t[k]);
    sy_tensor_release(ga);
    sy_tensor_release(gb);
    return st;
}

static const char *const binary_node_names[SY_BINOP_COUNT] = {
    [SY_OP_ADD] = "AddBackward",         [SY_OP_SUB] = "SubBackward",
    [SY_OP_MUL] = "MulBackward",         [SY_OP_DIV] = "DivBackward",
    [SY_OP_POW] = "PowBackward",         [SY_OP_MAXIMUM] = "MaximumBackward",
    [SY_OP_MINIMUM] = "MinimumBackward", [SY_OP_FMOD] = "FmodBackward"};

sy_status sy_ag_binary(sy_tensor **out, sy_binop op, sy_tensor *a, sy_tensor *b) {
    sy_tensor *in[2] = {a, b};
    sy_node *node;
    sy_status st = sy_binary(out, op, a, b);
    if (st || op >= SY_OP_EQ || !binary_node_names[op]) return st;   /* predicates: no grad */
    if (!sy_dtype_is_float((*out)->dtype)) return SY_OK;
    if ((st = record(&node, *out, binary_node_names[op], binary_backward, 2, in))) goto fail;
    if (node) node->ints[0] = op;
    return SY_OK;
fail:
    sy_tensor_release(*out);
    *out = NULL;
    return st;
}

/* -------------------------------------------------------------- unary ops */

static sy_status unary_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    sy_unop op = (sy_unop)n->ints[0];
    sy_tensor *a = n->inputs[0], *y = n->saved[0], *g = go[0];
    sy_tensor *t[4] = {0}, *r = NULL;
    sy_status st = SY_OK;
    int k;
    if (!g) return SY_OK;
    switch (op) {
    case SY_OP_NEG: TRY(sy_unary(&r, SY_OP_NEG, g)); break;
    case SY_OP_ABS:
        TRY(sy_unary(&t[0], SY_OP_SIGN, a));
        TRY(sy_binary(&r, SY_OP_MUL, g, t[0]));
        break;
    case SY_OP_EXP: TRY(sy_binary(&r, SY_OP_MUL, g, y)); break;
    case SY_OP_LOG: TRY(sy_binary(&r, SY_OP_DIV, g, a)); break;
    case SY_OP_SQRT:   /* g / (2 y) */
        TRY(scalar_like(&t[0], y, 2));
        TRY(sy_binary(&t[1], SY_OP_MUL, y, t[0]));
        TRY(sy_binary(&r, SY_OP_DIV, g, t[1]));
        break;
    case SY_OP_RSQRT:   /* -g y^3 / 2 */
        TRY(scalar_like(&t[0], y, -0.5));
        TRY(sy_binary(&t[1], SY_OP_MUL, y, y));
        TRY(sy_binary(&t[2], SY_OP_MUL, t[1], y));
        TRY(sy_binary_out(t[2], SY_OP_MUL, t[2], t[0]));
        TRY(sy_binary(&r, SY_OP_MUL, g, t[2]));
        break;
    case SY_OP_TANH:   /* g (1 - y^2) */
        TRY(scalar_like(&t[0], y, 1));
        TRY(sy_binary(&t[1], SY_OP_MUL, y, y));
        TRY(sy_binary(&t[2], SY_OP_SUB, t[0], t[1]));
        TRY(sy_binary(&r, SY_OP_MUL, g, t[2]));
        break;
    case SY_OP_SIGMOID:   /* g y (1 - y) */
        TRY(scalar_like(&t[0], y, 1));
        TRY(sy_binary(&t[1], SY_OP_SUB, t[0], y));
        TRY(sy_binary(&t[2], SY_OP_MUL, y, t[1]));
        TRY(sy_binary(&r, SY_OP_MUL, g, t[2]));
        break;
    case SY_OP_RELU:   /* g where a > 0: one fused pass on the CPU */
        if (g->dtype == a->dtype && sy_tensor_same_shape(g, a) && a->storage->device == SY_CPU &&
            g->storage->device == SY_CPU) {
            TRY(sy_tensor_contiguous(&t[0], g));
            TRY(sy_tensor_contiguous(&t[1], a));
            TRY(sy_tensor_empty(&r, a->dtype, a->ndim, a->size));
            sy_relu_backward(r, t[0], t[1], sy_tensor_numel(a));
            break;
        }
        TRY(scalar_like(&t[0], a, 0));
        TRY(sy_binary(&t[1], SY_OP_GT, a, t[0]));
        TRY(scalar_like(&t[2], g, 0));
        TRY(sy_where(&r, t[1], g, t[2]));
        break;
    case SY_OP_SIN:
        TRY(sy_unary(&t[0], SY_OP_COS, a));
        TRY(sy_binary(&r, SY_OP_MUL, g, t[0]));
        break;
    case SY_OP_COS:
        TRY(sy_unary(&t[0], SY_OP_SIN, a));
        TRY(sy_unary(&t[1], SY_OP_NEG, t[0]));
        TRY(sy_binary(&r, SY_OP_MUL, g, t[1]));
        break;
    case SY_OP_FLOOR:
    case SY_OP_CEIL:
    case SY_OP_ROUND:
    case SY_OP_SIGN:   /* piecewise constant: zero gradient */
        TRY(sy_tensor_new(&r, g->dtype, g->ndim, g->size));
        break;
    case SY_OP_LOG1P:
        TRY(scalar_like(&t[0], a, 1));
        TRY(sy_binary(&t[1], SY_OP_ADD, a, t[0]));
        TRY(sy_binary(&r, SY_OP_DIV, g, t[1]));
        break;
    case SY_OP_EXPM1:
        TRY(scalar_like(&t[0], y, 1));
        TRY(sy_binary(&t[1], SY_OP_ADD, y, t[0]));
        TRY(sy_binary(&r, SY_OP_MUL, g, t[1]));
        break;
    case SY_OP_SQUARE:
        TRY(scalar_like(&t[0], a, 2));
        TRY(sy_binary(&t[1], SY_OP_MUL, a, t[0]));
        TRY(sy_binary(&r, SY_OP_MUL, g, t[1]));
        break;
    case SY_OP_RECIPROCAL:   /* -g y^2 */
        TRY(sy_binary(&t[0], SY_OP_MUL, y, y));
        TRY(sy_binary(&t[1], SY_OP_MUL, g, t[0]));
        TRY(sy_unary(&r, SY_OP_NEG, t[1]));
        break;
    default:
        st = sy_error(SY_ERR_INTERNAL, "%s: no gradient for op %s", n->name, sy_unop_name(op));
        goto done;
    }
    st = finish(&gi[0], r, a);
    r = NULL;
done:
    for (k = 0; k < 4; k++) sy_tensor_release(t[k]);
    sy_tensor_release(r);
    return st;
}

static const char *const unary_node_names[SY_UNOP_COUNT] = {
    [SY_OP_NEG] = "NegBackward",       [SY_OP_ABS] = "AbsBackward",
    [SY_OP_EXP] = "ExpBackward",       [SY_OP_LOG] = "LogBackward",
    [SY_OP_SQRT] = "SqrtBackward",     [SY_OP_RSQRT] = "RsqrtBackward",
    [SY_OP_TANH] = "TanhBackward",     [SY_OP_SIGMOID] = "SigmoidBackward",
    [SY_OP_RELU] = "ReluBackward",     [SY_OP_SIN] = "SinBackward",
    [SY_OP_COS] = "CosBackward",       [SY_OP_FLOOR] = "FloorBackward",
    [SY_OP_CEIL] = "CeilBackward",     [SY_OP_ROUND] = "RoundBackward",
    [SY_OP_SIGN] = "SignBackward",     [SY_OP_LOG1P] = "Log1pBackward",
    [SY_OP_EXPM1] = "Expm1Backward",   [SY_OP_SQUARE] = "SquareBackward",
    [SY_OP_RECIPROCAL] = "ReciprocalBackward"};

sy_status sy_ag_unary(sy_tensor **out, sy_unop op, sy_tensor *a) {
    sy_node *node;
    sy_status st = sy_unary(out, op, a);
    if (st || !unary_node_names[op] || !sy_dtype_is_float((*out)->dtype)) return st;
    if ((st = record(&node, *out, unary_node_names[op], unary_backward, 1, &a))) goto fail;
    if (node) {
        node->ints[0] = op;
        if ((st = sy_node_save(node, 0, *out))) goto fail;
    }
    return SY_OK;
fail:
    sy_tensor_release(*out);
    *out = NULL;
    return st;
}

/* ------------------------------------------------------- clamp and where */

static sy_status clamp_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    sy_tensor *a = n->inputs[0], *g = go[0], *t[5] = {0};
    sy_status st = SY_OK;
    int k;
    if (!g) return SY_OK;
    /* gradient passes where lo <= a <= hi */
    TRY(scalar_like(&t[0], a, n->scalars[0]));
    TRY(scalar_like(&t[1], a, n->scalars[1]));
    TRY(sy_binary(&t[2], SY_OP_GE, a, t[0]));
    TRY(sy_binary(&t[3], SY_OP_LE, a, t[1]));
    TRY(sy_binary_out(t[2], SY_OP_AND, t[2], t[3]));
    TRY(scalar_like(&t[4], g, 0));
    {
        sy_tensor *r = NULL;
        TRY(sy_where(&r, t[2], g, t[4]));
        st = finish(&gi[0], r, a);
    }
done:
    for (k = 0; k < 5; k++) sy_tensor_release(t[k]);
    return st;
}

sy_status sy_ag_clamp(sy_tensor **out, sy_tensor *a, double lo, double hi) {
    sy_node *node;
    sy_status st = sy_clamp(out, a, lo, hi);
    if (st || !sy_dtype_is_float((*out)->dtype)) return st;
    if ((st = record(&node, *out, "ClampBackward", clamp_backward, 1, &a))) {
        sy_tensor_release(*out);
        *out = NULL;
        return st;
    }
    if (node) {
        node->scalars[0] = lo;
        node->scalars[1] = hi;
    }
    return SY_OK;
}

static sy_status where_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    sy_tensor *cond = n->inputs[0], *g = go[0], *zero = NULL, *r = NULL;
    sy_status st = SY_OK;
    if (!g) return SY_OK;
    TRY(scalar_like(&zero, g, 0));
    if (n->needs_grad[1]) {
        TRY(sy_where(&r, cond, g, zero));
        st = finish(&gi[1], r, n->inputs[1]);
        r = NULL;
        if (st) goto done;
    }
    if (n->needs_grad[2]) {
        TRY(sy_where(&r, cond, zero, g));
        st = finish(&gi[2], r, n->inputs[2]);
        r = NULL;
    }
done:
    sy_tensor_release(zero);
    sy_tensor_release(r);
    return st;
}

sy_status sy_ag_where(sy_tensor **out, sy_tensor *cond, sy_tensor *a, sy_tensor *b) {
    sy_tensor *in[3] = {NULL, a, b};
    sy_node *node;
    sy_status st = sy_where(out, cond, a, b);
    if (st || !sy_dtype_is_float((*out)->dtype)) return st;
    if ((st = record(&node, *out, "WhereBackward", where_backward, 3, in))) {
        sy_tensor_release(*out);
        *out = NULL;
        return st;
    }
    if (node) {   /* the condition is an argument, not a differentiable input */
        node->inputs[0] = sy_tensor_retain(cond);
        node->needs_grad[0] = 0;
    }
    return SY_OK;
}

/* ------------------------------------------------- copies and conversions */

static sy_status identity_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    sy_tensor *g = go[0];
    if (!g) return SY_OK;
    if (g->dtype != n->inputs[0]->dtype) return sy_tensor_to_dtype(&gi[0], g, n->inputs[0]->dtype);
    gi[0] = sy_tensor_retain(g);
    return SY_OK;
}

/* Attaches a node with backward `bw` to a freshly made result. */
static sy_status finish_unary(sy_status st, sy_tensor **out, sy_tensor *a, const char *name,
                              sy_backward_fn bw, sy_node **node) {
    *node = NULL;
    if (st) return st;
    if (!sy_dtype_is_float((*out)->dtype) || !sy_dtype_is_float(a->dtype)) return SY_OK;
    if (*out == a) {   /* contiguous() may return its input unchanged */
        return SY_OK;
    }
    if ((st = record(node, *out, name, bw, 1, &a))) {
        sy_tensor_release(*out);
        *out = NULL;
    }
    return st;
}

sy_status sy_ag_to_dtype(sy_tensor **out, sy_tensor *t, sy_dtype dt) {
    sy_node *node;
    return finish_unary(sy_tensor_to_dtype(out, t, dt), out, t, "ToBackward", identity_backward, &node);
}

sy_status sy_ag_clone(sy_tensor **out, sy_tensor *t) {
    sy_node *node;
    return finish_unary(sy_tensor_clone(out, t), out, t, "CloneBackward", identity_backward, &node);
}

sy_status sy_ag_contiguous(sy_tensor **out, sy_tensor *t) {
    sy_node *node;
    return finish_unary(sy_tensor_contiguous(out, t), out, t, "ContiguousBackward",
                        identity_backward, &node);
}

/* ------------------------------------------------------------------ views */

/* narrow and select: the gradient is zero except in the viewed window. */
static sy_status window_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    sy_tensor *a = n->inputs[0], *g = go[0], *z = NULL, *win = NULL;
    sy_status st;
    if (!g) return SY_OK;
    if ((st = sy_tensor_new(&z, a->dtype, a->ndim, a->size))) return st;
    if (n->ints[0] == 0) st = sy_tensor_narrow(&win, z, (int)n->ints[1], n->ints[2], n->ints[3]);
    else st = sy_tensor_select(&win, z, (int)n->ints[1], n->ints[2]);
    if (st == SY_OK) st = sy_tensor_copy_(win, g);
    sy_tensor_release(win);
    if (st) {
        sy_tensor_release(z);
        return st;
    }
    gi[0] = z;
    return SY_OK;
}

sy_status sy_ag_narrow(sy_tensor **out, sy_tensor *t, int dim, int64_t start, int64_t length) {
    sy_node *node;
    sy_status st = finish_unary(sy_tensor_narrow(out, t, dim, start, length), out, t,
                                "NarrowBackward", window_backward, &node);
    if (node) {
        node->ints[0] = 0;
        node->ints[1] = dim;
        node->ints[2] = start;
        node->ints[3] = length;
    }
    return st;
}

sy_status sy_ag_select(sy_tensor **out, sy_tensor *t, int dim, int64_t index) {
    sy_node *node;
    sy_status st = finish_unary(sy_tensor_select(out, t, dim, index), out, t, "SelectBackward",
                                window_backward, &node);
    if (node) {
        node->ints[0] = 1;
        node->ints[1] = dim;
        node->ints[2] = index;
    }
    return st;
}

static sy_status transpose_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    if (!go[0]) return SY_OK;
    return sy_tensor_transpose(&gi[0], go[0], (int)n->ints[0], (int)n->ints[1]);
}

sy_status sy_ag_transpose(sy_tensor **out, sy_tensor *t, int dim0, int dim1) {
    sy_node *node;
    sy_status st = finish_unary(sy_tensor_transpose(out, t, dim0, dim1), out, t,
                                "TransposeBackward", transpose_backward, &node);
    if (node) {
        node->ints[0] = dim0;
        node->ints[1] = dim1;
    }
    return st;
}

static sy_status permute_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    int inv[SY_MAX_DIMS], i;
    if (!go[0]) return SY_OK;
    for (i = 0; i < go[0]->ndim; i++) inv[n->ints[i]] = i;
    return sy_tensor_permute(&gi[0], go[0], inv);
}

sy_status sy_ag_permute(sy_tensor **out, sy_tensor *t, const int *dims) {
    sy_node *node;
    int i;
    sy_status st = finish_unary(sy_tensor_permute(out, t, dims), out, t, "PermuteBackward",
                                permute_backward, &node);
    if (node)
        for (i = 0; i < t->ndim; i++) node->ints[i] = dims[i];
    return st;
}

/* view, reshape, squeeze: the gradient is reshaped back to the input shape. */
static sy_status reshape_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    const sy_tensor *a = n->inputs[0];
    if (!go[0]) return SY_OK;
    return sy_tensor_reshape(&gi[0], go[0], a->ndim, a->size);
}

sy_status sy_ag_view(sy_tensor **out, sy_tensor *t, int ndim, const int64_t *size) {
    sy_node *node;
    return finish_unary(sy_tensor_view(out, t, ndim, size), out, t, "ViewBackward",
                        reshape_backward, &node);
}

sy_status sy_ag_reshape(sy_tensor **out, sy_tensor *t, int ndim, const int64_t *size) {
    sy_node *node;
    return finish_unary(sy_tensor_reshape(out, t, ndim, size), out, t, "ReshapeBackward",
                        reshape_backward, &node);
}

sy_status sy_ag_squeeze(sy_tensor **out, sy_tensor *t, int dim) {
    sy_node *node;
    return finish_unary(sy_tensor_squeeze(out, t, dim), out, t, "SqueezeBackward",
                        reshape_backward, &node);
}

sy_status sy_ag_unsqueeze(sy_tensor **out, sy_tensor *t, int dim) {
    sy_node *node;
    return finish_unary(sy_tensor_unsqueeze(out, t, dim), out, t, "UnsqueezeBackward",
                        reshape_backward, &node);
}

static sy_status expand_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    const sy_tensor *a = n->inputs[0];
    if (!go[0]) return SY_OK;
    return sy_ag_sum_to(&gi[0], go[0], a->ndim, a->size);
}

sy_status sy_ag_expand(sy_tensor **out, sy_tensor *t, int ndim, const int64_t *size) {
    sy_node *node;
    return finish_unary(sy_tensor_expand(out, t, ndim, size), out, t, "ExpandBackward",
                        expand_backward, &node);
}

/* unfold: an element in k overlapping windows receives the sum of its k
** gradients. Slice j of every window (the gradient's last index j) lies on
** distinct input elements, so adding the slices one j at a time accumulates
** without an add ever reading what it writes (as PyTorch's unfold_backward). */
static sy_status unfold_backward(sy_node *n, sy_tensor *const *go, sy_tensor **gi) {
    sy_tensor *a = n->inputs[0], *g = go[0], *z = NULL;
    const int dim = (int)n->ints[0];
    const int64_t size = n->ints[1], step = n->ints[2];
    sy_status st = SY_OK;
    int64_t j;
    if (!g) return SY_OK;
    if ((st = sy_tensor_new(&z, a->dtype, a->ndim, a->size))) return st;
    for (j = 0; j < size && st == SY_OK; j++) {
        sy_tensor *dst = NULL, *src = NULL;
        /* the inputs at offset j of every window: every step-th from j (a
        ** 0-d input is its one window's one element) */
        if ((st = sy_tensor_alias(&dst, z)) == SY_OK) {
            if (a->ndim > 0) {
                dst->offset += j * z->stride[dim];
                dst->size[dim] = g->size[dim];
                dst->stride[dim] *= step;
            }
            if ((st = sy_tensor_select(&src, g, g->ndim - 1, j)) == SY_OK)
                st = sy_binary_out(dst, SY_OP_ADD, dst, src);
        }
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

sy_status sy_ag_unfold(sy_tensor **out, sy_tensor *t, int dim, int64_t size, int64_t step) {
    sy_node *node;
    sy_status st = finish_unary(sy_tensor_unfold(out, t, dim, size, step), out, t,
                                "UnfoldBackward", unfold_backward, &node);
    if (node) {
        node->ints[0] = dim;
        node->ints[1] = size;
        node->ints[2] = step;
    }
    return st;
}

sy_status sy_ag_check_inplace(const char *op, const sy_tensor *t) {
    if (sy_grad_enabled() && t->requires_grad)
        return sy_error(SY_ERR_ARG,
                        "%s: in-place change of a tensor that requires grad (%s); do it inside "
                        "sy.no_grad or on a detached copy",
                        op, t->grad_fn ? "computed by autograd" : "a leaf");
    return SY_OK;
}
