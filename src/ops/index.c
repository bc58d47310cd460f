/*
** index.c -- joining (cat, stack) and indexing (index_select, gather).
**
** cat and stack copy each input into a narrowed or selected view of the
** output, so strides, dtype conversion and broadcasting all come from
** sy_tensor_copy_. index_select is a gather whose index is a 1-d tensor
** broadcast (stride 0) over every other dimension, so both share one kernel.
*/
#include <stdio.h>
#include <string.h>

#include "../core/iter.h"
#include "ops.h"

/* "1st", "2nd", ... : positions in messages read the same from C and Lua. */
static const char *ordinal(char *buf, size_t n, int i) {
    int k = i + 1;
    const char *suffix = "th";
    if (k % 100 < 11 || k % 100 > 13) {
        if (k % 10 == 1) suffix = "st";
        else if (k % 10 == 2) suffix = "nd";
        else if (k % 10 == 3) suffix = "rd";
    }
    snprintf(buf, n, "%d%s", k, suffix);
    return buf;
}

static sy_status check_cpu(const char *op, const sy_tensor *t) {
    if (t->storage->device != SY_CPU)
        return sy_error(SY_ERR_DEVICE, "%s: only CPU tensors are supported in this build", op);
    return SY_OK;
}

/* ------------------------------------------------------------ cat, stack */

/* A 1-d tensor with no elements joins anything (as in Torch), so a result
** can be grown from sy.tensor({}) in a loop. */
static int is_legacy_empty(const sy_tensor *t) { return t->ndim == 1 && t->size[0] == 0; }

sy_status sy_cat(sy_tensor **out, const sy_tensor *const *ts, int n, int dim) {
    const sy_tensor *ref;
    int64_t size[SY_MAX_DIMS], start = 0;
    sy_dtype dt;
    sy_status st;
    int i, d, r = -1;
    char o1[16], o2[16], s1[SY_SHAPE_STRLEN], s2[SY_SHAPE_STRLEN];
    *out = NULL;
    if (n < 1) return sy_error(SY_ERR_ARG, "cat: expects at least one tensor, got %d", n);
    dt = ts[0]->dtype;
    for (i = 0; i < n; i++) {
        if ((st = check_cpu("cat", ts[i]))) return st;
        dt = sy_dtype_promote(dt, ts[i]->dtype);
        if (ts[i]->ndim == 0)
            return sy_error(SY_ERR_SHAPE, "cat: the %s tensor is 0-d and cannot be concatenated "
                            "(use stack)", ordinal(o1, sizeof o1, i));
        if (r < 0 && !is_legacy_empty(ts[i])) r = i;
    }
    if (r < 0) r = 0;
    ref = ts[r];
    if (dim < 0 || dim >= ref->ndim)
        return sy_error(SY_ERR_INDEX, "cat: dimension %d out of range for %d-d tensors", dim,
                        ref->ndim);
    memcpy(size, ref->size, sizeof size);
    size[dim] = 0;
    for (i = 0; i < n; i++) {
        const sy_tensor *t = ts[i];
        if (is_legacy_empty(t) && ref->ndim != 1) continue;
        for (d = 0; d < ref->ndim; d++)
            if (t->ndim != ref->ndim || (d != dim && t->size[d] != ref->size[d])) break;
        if (d < ref->ndim)
            return sy_error(SY_ERR_SHAPE,
                            "cat: the %s tensor has shape %s but the %s has shape %s; sizes must "
                            "match except along the joined dimension",
                            ordinal(o1, sizeof o1, i), sy_shape_str(s1, sizeof s1, t->ndim, t->size),
                            ordinal(o2, sizeof o2, r),
                            sy_shape_str(s2, sizeof s2, ref->ndim, ref->size));
        size[dim] += t->size[dim];
    }
    if ((st = sy_tensor_empty(out, dt, ref->ndim, size))) return st;
    for (i = 0; i < n && st == SY_OK; i++) {
        sy_tensor *part;
        const sy_tensor *t = ts[i];
        if (t->ndim != ref->ndim) continue;   /* a skipped legacy empty */
        if ((st = sy_tensor_narrow(&part, *out, dim, start, t->size[dim]))) break;
        st = sy_tensor_copy_(part, t);
        sy_tensor_release(part);
        start += t->size[dim];
    }
    if (st) {
        sy_tensor_release(*out);
        *out = NULL;
    }
    return st;
}

sy_status sy_stack(sy_tensor **out, const sy_tensor *const *ts, int n, int dim) {
    const sy_tensor *ref;
    int64_t size[SY_MAX_DIMS];
    sy_dtype dt;
    sy_status st;
    int i, d;
    char o1[16], s1[SY_SHAPE_STRLEN], s2[SY_SHAPE_STRLEN];
    *out = NULL;
    if (n < 1) return sy_error(SY_ERR_ARG, "stack: expects at least one tensor, got %d", n);
    ref = ts[0];
    if (ref->ndim >= SY_MAX_DIMS)
        return sy_error(SY_ERR_SHAPE, "stack: the result would have more than %d dimensions",
                        SY_MAX_DIMS);
    if (dim < 0 || dim > ref->ndim)
        return sy_error(SY_ERR_INDEX, "stack: dimension %d out of range for %d-d tensors (0..%d)",
                        dim, ref->ndim, ref->ndim);
    dt = ref->dtype;
    for (i = 0; i < n; i++) {
        if ((st = check_cpu("stack", ts[i]))) return st;
        if (!sy_tensor_same_shape(ts[i], ref))
            return sy_error(SY_ERR_SHAPE,
                            "stack: the %s tensor has shape %s but the 1st has shape %s; all "
                            "tensors must have the same shape",
                            ordinal(o1, sizeof o1, i),
                            sy_shape_str(s1, sizeof s1, ts[i]->ndim, ts[i]->size),
                            sy_shape_str(s2, sizeof s2, ref->ndim, ref->size));
        dt = sy_dtype_promote(dt, ts[i]->dtype);
    }
    for (d = 0; d < dim; d++) size[d] = ref->size[d];
    size[dim] = n;
    for (d = dim; d < ref->ndim; d++) size[d + 1] = ref->size[d];
    if ((st = sy_tensor_empty(out, dt, ref->ndim + 1, size))) return st;
    for (i = 0; i < n && st == SY_OK; i++) {
        sy_tensor *slice;
        if ((st = sy_tensor_select(&slice, *out, dim, i))) break;
        st = sy_tensor_copy_(slice, ts[i]);
        sy_tensor_release(slice);
    }
    if (st) {
        sy_tensor_release(*out);
        *out = NULL;
    }
    return st;
}

/* ------------------------------------------------------- gather kernel */

struct gather_ctx {
    int64_t esize;      /* element size in bytes */
    int64_t dstride;    /* byte stride of the source along the gathered dim */
    int64_t dsize;      /* size of the source along the gathered dim */
    int bad;            /* set at the first out-of-range index */
    int64_t badval;
};

/* Operands: out, index (int64), source with the gathered dim at stride 0, so
** p[2] points at the row whose element index[i] is wanted. */
static void gather_row(int64_t n, char **p, const int64_t *bs, void *ctx) {
    struct gather_ctx *c = ctx;
    int64_t i;
    if (c->bad) return;
    for (i = 0; i < n; i++) {
        int64_t k = *(const int64_t *)(p[1] + i * bs[1]);
        const char *src;
        char *dst = p[0] + i * bs[0];
        if (k < 0 || k >= c->dsize) {
            c->bad = 1;
            c->badval = k;
            return;
        }
        src = p[2] + i * bs[2] + k * c->dstride;
        switch (c->esize) {
        case 8: memcpy(dst, src, 8); break;
        case 4: memcpy(dst, src, 4); break;
        default: memcpy(dst, src, (size_t)c->esize); break;
        }
    }
}

/* out[..., i_dim, ...] = t[..., index[...], ...] where idx already has out's
** shape (possibly with stride-0 dims). */
static sy_status gather_into(const char *op, sy_tensor *out, const sy_tensor *t, int dim,
                             const sy_tensor *idx) {
    struct gather_ctx c;
    sy_tensor *src;
    const sy_tensor *ops[3];
    sy_status st;
    if ((st = sy_tensor_alias(&src, t))) return st;
    memcpy(src->size, out->size, sizeof src->size);
    src->stride[dim] = 0;
    c.esize = sy_dtype_size(t->dtype);
    c.dstride = t->stride[dim] * c.esize;
    c.dsize = t->size[dim];
    c.bad = 0;
    c.badval = 0;
    ops[0] = out;
    ops[1] = idx;
    ops[2] = src;
    sy_iter_run(3, ops, out->ndim, out->size, gather_row, &c);
    sy_tensor_release(src);
    if (c.bad)
        return sy_error(SY_ERR_INDEX, "%s: index %lld is out of range for dimension %d of size %lld",
                        op, (long long)c.badval, dim, (long long)t->size[dim]);
    return SY_OK;
}

static sy_status check_index_args(const char *op, const sy_tensor *t, int dim,
                                  const sy_tensor *index) {
    sy_status st;
    if ((st = check_cpu(op, t)) || (st = check_cpu(op, index))) return st;
    if (index->dtype != SY_I64)
        return sy_error(SY_ERR_DTYPE, "%s: index must be an int64 tensor, got %s", op,
                        sy_dtype_name(index->dtype));
    if (dim < 0 || dim >= t->ndim)
        return sy_error(SY_ERR_INDEX, "%s: dimension %d out of range for a %d-d tensor", op, dim,
                        t->ndim);
    return SY_OK;
}

/* Whether the dimensions after dim form one contiguous block, so that each
** selected slice is one run of memory: true of any contiguous tensor, and of
** windows unfolded from a series ([N, L, D] with strides (D, D, 1)), which as
** a whole are not contiguous. Size-1 dimensions have no stride to respect. */
static int inner_is_block(const sy_tensor *t, int dim) {
    int64_t expected = 1;
    int d;
    for (d = t->ndim - 1; d > dim; d--) {
        if (t->size[d] != 1 && t->stride[d] != expected) return 0;
        expected *= t->size[d];
    }
    return 1;
}

/* index_select when inner_is_block: for every index the slab of
** t->size[dim+1..] elements below it is contiguous in both source and
** output, so each is one memcpy (a batch of windows gathered for training
** is [B, L, D] rows of L*D floats) instead of one iterator step per element.
** The dimensions before dim may have any strides. */
static sy_status index_select_rows(sy_tensor *out, const sy_tensor *t, int dim,
                                   const sy_tensor *index) {
    const int64_t esize = sy_dtype_size(t->dtype), n = index->size[0];
    const char *src = sy_tensor_data(t), *ix = sy_tensor_data(index);
    char *dst = sy_tensor_data(out);
    int64_t outer = 1, inner = 1, o, i;
    int d;
    for (d = 0; d < dim; d++) outer *= t->size[d];
    for (d = dim + 1; d < t->ndim; d++) inner *= t->size[d];
    for (i = 0; i < n; i++) {
        int64_t k = *(const int64_t *)(ix + i * index->stride[0] * 8);
        if (k < 0 || k >= t->size[dim])
            return sy_error(SY_ERR_INDEX,
                            "index_select: index %lld is out of range for dimension %d of size %lld",
                            (long long)k, dim, (long long)t->size[dim]);
    }
    if (inner == 0) return SY_OK;
    for (o = 0; o < outer; o++) {
        int64_t rest = o, at = 0;
        const char *s;
        for (d = dim - 1; d >= 0; d--) {   /* o as an index over dims 0..dim-1 */
            at += rest % t->size[d] * t->stride[d];
            rest /= t->size[d];
        }
        s = src + at * esize;
        for (i = 0; i < n; i++) {
            int64_t k = *(const int64_t *)(ix + i * index->stride[0] * 8);
            memcpy(dst, s + k * t->stride[dim] * esize, (size_t)(inner * esize));
            dst += inner * esize;
        }
    }
    return SY_OK;
}

sy_status sy_index_select(sy_tensor **out, const sy_tensor *t, int dim, const sy_tensor *index) {
    int64_t size[SY_MAX_DIMS];
    sy_tensor *idx;
    sy_status st;
    char s1[SY_SHAPE_STRLEN];
    int d;
    *out = NULL;
    if ((st = check_index_args("index_select", t, dim, index))) return st;
    if (index->ndim != 1)
        return sy_error(SY_ERR_SHAPE, "index_select: index must be 1-d, got shape %s",
                        sy_shape_str(s1, sizeof s1, index->ndim, index->size));
    memcpy(size, t->size, sizeof size);
    size[dim] = index->size[0];
    if (inner_is_block(t, dim)) {
        if ((st = sy_tensor_empty(out, t->dtype, t->ndim, size))) return st;
        if ((st = index_select_rows(*out, t, dim, index))) {
            sy_tensor_release(*out);
            *out = NULL;
        }
        return st;
    }
    /* the index, broadcast over every dimension but dim */
    if ((st = sy_tensor_alias(&idx, index))) return st;
    idx->ndim = t->ndim;
    for (d = 0; d < t->ndim; d++) {
        idx->size[d] = size[d];
        idx->stride[d] = d == dim ? index->stride[0] : 0;
    }
    if ((st = sy_tensor_empty(out, t->dtype, t->ndim, size)) == SY_OK &&
        (st = gather_into("index_select", *out, t, dim, idx))) {
        sy_tensor_release(*out);
        *out = NULL;
    }
    sy_tensor_release(idx);
    return st;
}

sy_status sy_gather(sy_tensor **out, const sy_tensor *t, int dim, const sy_tensor *index) {
    char s1[SY_SHAPE_STRLEN], s2[SY_SHAPE_STRLEN];
    sy_status st;
    int d;
    *out = NULL;
    if ((st = check_index_args("gather", t, dim, index))) return st;
    for (d = 0; d < t->ndim; d++)
        if (index->ndim != t->ndim || (d != dim && index->size[d] > t->size[d])) break;
    if (d < t->ndim)
        return sy_error(SY_ERR_SHAPE,
                        "gather: index of shape %s does not fit input of shape %s (the index needs "
                        "as many dimensions, and no larger sizes except along the gathered one)",
                        sy_shape_str(s1, sizeof s1, index->ndim, index->size),
                        sy_shape_str(s2, sizeof s2, t->ndim, t->size));
    if ((st = sy_tensor_empty(out, t->dtype, index->ndim, index->size))) return st;
    if ((st = gather_into("gather", *out, t, dim, index))) {
        sy_tensor_release(*out);
        *out = NULL;
    }
    return st;
}
