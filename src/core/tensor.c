/*
** tensor.c -- storage, tensor headers, views, copies and broadcasting.
*/
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "iter.h"
#include "tensor.h"

/* ---------------------------------------------------------------- dtypes */

static const struct {
    const char *name;
    int64_t size;
} dtype_info[SY_DTYPE_COUNT] = {
    [SY_F32] = {"float32", 4}, [SY_F64] = {"float64", 8}, [SY_I64] = {"int64", 8},
    [SY_U8] = {"uint8", 1},    [SY_BOOL] = {"bool", 1},
};

int64_t sy_dtype_size(sy_dtype dt) { return dtype_info[dt].size; }
const char *sy_dtype_name(sy_dtype dt) { return dtype_info[dt].name; }
int sy_dtype_is_float(sy_dtype dt) { return dt == SY_F32 || dt == SY_F64; }

int sy_dtype_from_name(const char *name, sy_dtype *out) {
    static const struct { const char *alias; sy_dtype dt; } aliases[] = {
        {"float", SY_F32}, {"double", SY_F64}, {"long", SY_I64}, {"byte", SY_U8},
    };
    size_t i;
    for (i = 0; i < SY_DTYPE_COUNT; i++)
        if (strcmp(name, dtype_info[i].name) == 0) { *out = (sy_dtype)i; return 1; }
    for (i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(name, aliases[i].alias) == 0) { *out = aliases[i].dt; return 1; }
    return 0;
}

sy_dtype sy_dtype_promote(sy_dtype a, sy_dtype b) {
    static const int rank[SY_DTYPE_COUNT] = {
        [SY_BOOL] = 0, [SY_U8] = 1, [SY_I64] = 2, [SY_F32] = 3, [SY_F64] = 4};
    return rank[a] >= rank[b] ? a : b;
}

/* ------------------------------------------------------------ life cycle */

static sy_tensor *header_new(sy_dtype dt) {
    sy_tensor *t = sy_mem_alloc(sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    t->refcount = 1;
    return t;
}

static sy_status check_sizes(int ndim, const int64_t *size, int64_t *numel) {
    int64_t n = 1;
    int i;
    char buf[SY_SHAPE_STRLEN];
    if (ndim < 0 || ndim > SY_MAX_DIMS)
        return sy_error(SY_ERR_ARG, "tensor: %d dimensions requested, at most %d supported", ndim,
                        SY_MAX_DIMS);
    for (i = 0; i < ndim; i++) {
        if (size[i] < 0)
            return sy_error(SY_ERR_ARG, "tensor: negative size in shape %s",
                            sy_shape_str(buf, sizeof buf, ndim, size));
        if (size[i] > 0 && n > INT64_MAX / 16 / size[i])
            return sy_error(SY_ERR_OOM, "tensor: shape %s has too many elements",
                            sy_shape_str(buf, sizeof buf, ndim, size));
        n *= size[i];
    }
    *numel = n;
    return SY_OK;
}

sy_status sy_tensor_empty(sy_tensor **out, sy_dtype dt, int ndim, const int64_t *size) {
    int64_t numel = 0, stride = 1;
    sy_tensor *t;
    sy_storage *s;
    int i;
    sy_status st = check_sizes(ndim, size, &numel);
    *out = NULL;
    if (st) return st;
    t = header_new(dt);
    s = sy_mem_alloc(sizeof *s);
    if (!t || !s) {
        sy_mem_free(t, sizeof *t);
        sy_mem_free(s, sizeof *s);
        return SY_ERR_OOM;
    }
    s->nbytes = numel * sy_dtype_size(dt);
    s->data = sy_mem_alloc((size_t)s->nbytes);
    if (!s->data) {
        sy_mem_free(t, sizeof *t);
        sy_mem_free(s, sizeof *s);
        return SY_ERR_OOM;
    }
    s->refcount = 1;
    s->device = SY_CPU;
    t->storage = s;
    t->ndim = ndim;
    for (i = ndim - 1; i >= 0; i--) {
        t->size[i] = size[i];
        t->stride[i] = stride;
        stride *= size[i] > 0 ? size[i] : 1;
    }
    *out = t;
    return SY_OK;
}

sy_status sy_tensor_new(sy_tensor **out, sy_dtype dt, int ndim, const int64_t *size) {
    sy_status st = sy_tensor_empty(out, dt, ndim, size);
    if (st == SY_OK) memset((*out)->storage->data, 0, (size_t)(*out)->storage->nbytes);
    return st;
}

sy_status sy_tensor_empty_like(sy_tensor **out, const sy_tensor *t) {
    return sy_tensor_empty(out, t->dtype, t->ndim, t->size);
}

sy_tensor *sy_tensor_retain(sy_tensor *t) {
    if (t) t->refcount++;
    return t;
}

static void storage_release(sy_storage *s) {
    if (s && --s->refcount == 0) {
        sy_mem_free(s->data, (size_t)s->nbytes);
        sy_mem_free(s, sizeof *s);
    }
}

void sy_tensor_release(sy_tensor *t) {
    if (t && --t->refcount == 0) {
        sy_node_release(t->grad_fn);
        sy_tensor_release(t->grad);
        storage_release(t->storage);
        sy_mem_free(t, sizeof *t);
    }
}

/* --------------------------------------------------------------- queries */

int64_t sy_tensor_numel(const sy_tensor *t) {
    int64_t n = 1;
    int i;
    for (i = 0; i < t->ndim; i++) n *= t->size[i];
    return n;
}

int sy_tensor_is_contiguous(const sy_tensor *t) {
    int64_t expect = 1;
    int i;
    if (sy_tensor_numel(t) == 0) return 1;   /* no element is out of place */
    for (i = t->ndim - 1; i >= 0; i--) {
        if (t->size[i] != 1 && t->stride[i] != expect) return 0;
        expect *= t->size[i];
    }
    return 1;
}

int sy_tensor_same_shape(const sy_tensor *a, const sy_tensor *b) {
    int i;
    if (a->ndim != b->ndim) return 0;
    for (i = 0; i < a->ndim; i++)
        if (a->size[i] != b->size[i]) return 0;
    return 1;
}

void *sy_tensor_data(const sy_tensor *t) {
    return (char *)t->storage->data + t->offset * sy_dtype_size(t->dtype);
}

char *sy_shape_str(char *buf, size_t n, int ndim, const int64_t *size) {
    size_t used = 0;
    int i;
    if (n == 0) return buf;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, n, "[");
    for (i = 0; i < ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? ",%lld" : "%lld", (long long)size[i]);
    if (used < n) snprintf(buf + used, n - used, "]");
    return buf;
}

static void *element_ptr(const sy_tensor *t, const int64_t *index) {
    int64_t off = t->offset;
    int i;
    for (i = 0; i < t->ndim; i++) off += index[i] * t->stride[i];
    return (char *)t->storage->data + off * sy_dtype_size(t->dtype);
}

double sy_value_load(const void *p, sy_dtype dt) {
    switch (dt) {
    case SY_F32: return *(const float *)p;
    case SY_F64: return *(const double *)p;
    case SY_I64: return (double)*(const int64_t *)p;
    case SY_U8:
    case SY_BOOL: return *(const uint8_t *)p;
    default: return 0;
    }
}

/* Float to integer conversions saturate instead of invoking undefined
** behaviour on out-of-range values (NaN becomes 0). */
void sy_value_store(void *p, sy_dtype dt, double v) {
    switch (dt) {
    case SY_F32: *(float *)p = (float)v; break;
    case SY_F64: *(double *)p = v; break;
    case SY_I64:
        *(int64_t *)p = v != v ? 0 : v >= 9.2233720368547758e18 ? INT64_MAX
                               : v <= -9.2233720368547758e18 ? INT64_MIN : (int64_t)v;
        break;
    case SY_U8: *(uint8_t *)p = v != v || v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v; break;
    case SY_BOOL: *(uint8_t *)p = v != 0; break;
    default: break;
    }
}

double sy_tensor_get(const sy_tensor *t, const int64_t *index) {
    return sy_value_load(element_ptr(t, index), t->dtype);
}

void sy_tensor_set(sy_tensor *t, const int64_t *index, double v) {
    sy_value_store(element_ptr(t, index), t->dtype, v);
}

/* ----------------------------------------------------------------- views */

sy_status sy_tensor_alias(sy_tensor **out, const sy_tensor *t) {
    sy_tensor *v = header_new(t->dtype);
    *out = NULL;
    if (!v) return SY_ERR_OOM;
    memcpy(v, t, sizeof *v);
    v->refcount = 1;
    v->requires_grad = 0;
    v->output_nr = 0;
    v->grad_fn = NULL;
    v->grad = NULL;
    v->storage->refcount++;
    *out = v;
    return SY_OK;
}

static sy_status check_dim(const char *op, const sy_tensor *t, int dim) {
    if (dim < 0 || dim >= t->ndim)
        return sy_error(SY_ERR_INDEX, "%s: dimension %d out of range for a %d-d tensor", op, dim,
                        t->ndim);
    return SY_OK;
}

sy_status sy_tensor_narrow(sy_tensor **out, const sy_tensor *t, int dim, int64_t start,
                           int64_t length) {
    sy_status st = check_dim("narrow", t, dim);
    *out = NULL;
    if (st) return st;
    if (start < 0 || length < 0 || start > t->size[dim] - length)
        return sy_error(SY_ERR_INDEX,
                        "narrow: start %lld with length %lld is out of range for size %lld",
                        (long long)start, (long long)length, (long long)t->size[dim]);
    if ((st = sy_tensor_alias(out, t))) return st;
    (*out)->offset += start * t->stride[dim];
    (*out)->size[dim] = length;
    return SY_OK;
}

sy_status sy_tensor_select(sy_tensor **out, const sy_tensor *t, int dim, int64_t index) {
    sy_tensor *v;
    int i;
    sy_status st = check_dim("select", t, dim);
    *out = NULL;
    if (st) return st;
    if (index < 0 || index >= t->size[dim])
        return sy_error(SY_ERR_INDEX, "select: index %lld out of range for size %lld",
                        (long long)index, (long long)t->size[dim]);
    if ((st = sy_tensor_alias(&v, t))) return st;
    v->offset += index * t->stride[dim];
    for (i = dim; i < t->ndim - 1; i++) {
        v->size[i] = t->size[i + 1];
        v->stride[i] = t->stride[i + 1];
    }
    v->ndim--;
    *out = v;
    return SY_OK;
}

sy_status sy_tensor_transpose(sy_tensor **out, const sy_tensor *t, int d0, int d1) {
    sy_status st;
    int64_t tmp;
    *out = NULL;
    if ((st = check_dim("transpose", t, d0)) || (st = check_dim("transpose", t, d1))) return st;
    if ((st = sy_tensor_alias(out, t))) return st;
    tmp = (*out)->size[d0], (*out)->size[d0] = (*out)->size[d1], (*out)->size[d1] = tmp;
    tmp = (*out)->stride[d0], (*out)->stride[d0] = (*out)->stride[d1], (*out)->stride[d1] = tmp;
    return SY_OK;
}

/* torch.Tensor.unfold: windows of `size` elements every `step` along dim.
** dim shrinks to the window count and a last dimension walks inside a
** window with dim's old stride; overlapping windows (step < size) share
** elements, so the view must not be written through. */
sy_status sy_tensor_unfold(sy_tensor **out, const sy_tensor *t, int dim, int64_t size,
                           int64_t step) {
    char s1[SY_SHAPE_STRLEN];
    int64_t len, stride;
    sy_status st;
    *out = NULL;
    /* A 0-d tensor unfolds as one element along dim 0 (as in PyTorch). */
    if (t->ndim == 0 && dim != 0)
        return sy_error(SY_ERR_INDEX, "unfold: dimension %d out of range for a 0-d tensor "
                        "(expected 0)", dim);
    if (t->ndim > 0 && (st = check_dim("unfold", t, dim))) return st;
    if (t->ndim >= SY_MAX_DIMS)
        return sy_error(SY_ERR_SHAPE, "unfold: the result would have more than %d dimensions",
                        SY_MAX_DIMS);
    len = t->ndim == 0 ? 1 : t->size[dim];
    stride = t->ndim == 0 ? 1 : t->stride[dim];
    if (size < 1 || size > len)
        return sy_error(SY_ERR_ARG, "unfold: window size %lld must be in 1..%lld, the size of "
                        "dimension %d of shape %s", (long long)size, (long long)len, dim,
                        sy_shape_str(s1, sizeof s1, t->ndim, t->size));
    if (step < 1)
        return sy_error(SY_ERR_ARG, "unfold: step must be at least 1, got %lld", (long long)step);
    if ((st = sy_tensor_alias(out, t))) return st;
    if (t->ndim == 0) {
        (*out)->ndim = 1;
        (*out)->size[0] = 1;
        (*out)->stride[0] = 1;
        return SY_OK;
    }
    (*out)->size[dim] = (len - size) / step + 1;
    (*out)->stride[dim] = step * stride;
    (*out)->size[t->ndim] = size;
    (*out)->stride[t->ndim] = stride;
    (*out)->ndim = t->ndim + 1;
    return SY_OK;
}

sy_status sy_tensor_permute(sy_tensor **out, const sy_tensor *t, const int *dims) {
    int seen[SY_MAX_DIMS] = {0}, i;
    sy_status st;
    *out = NULL;
    for (i = 0; i < t->ndim; i++) {
        if (dims[i] < 0 || dims[i] >= t->ndim || seen[dims[i]]++)
            return sy_error(SY_ERR_ARG, "permute: dims must be a permutation of the %d dimensions",
                            t->ndim);
    }
    if ((st = sy_tensor_alias(out, t))) return st;
    for (i = 0; i < t->ndim; i++) {
        (*out)->size[i] = t->size[dims[i]];
        (*out)->stride[i] = t->stride[dims[i]];
    }
    return SY_OK;
}

/* Resolves one -1 in `size` against numel; checks the element count. */
static sy_status infer_size(const char *op, const sy_tensor *t, int ndim, const int64_t *size,
                            int64_t *res) {
    int64_t known = 1, numel = sy_tensor_numel(t);
    int infer = -1, i;
    char a[SY_SHAPE_STRLEN], b[SY_SHAPE_STRLEN];
    if (ndim < 0 || ndim > SY_MAX_DIMS)
        return sy_error(SY_ERR_ARG, "%s: %d dimensions requested, at most %d supported", op, ndim,
                        SY_MAX_DIMS);
    for (i = 0; i < ndim; i++) {
        res[i] = size[i];
        if (size[i] == -1) {
            if (infer >= 0) return sy_error(SY_ERR_ARG, "%s: only one size may be -1", op);
            infer = i;
        } else if (size[i] < 0) {
            return sy_error(SY_ERR_ARG, "%s: invalid size %lld", op, (long long)size[i]);
        } else {
            if (size[i] > 0 && known > INT64_MAX / size[i]) known = -1; /* overflow: mismatch */
            else known *= size[i];
        }
    }
    if (infer >= 0 && known > 0 && numel % known == 0) res[infer] = numel / known;
    else if (infer >= 0 && known == 0 && numel == 0) res[infer] = 0;
    else if (infer >= 0) known = -1;
    if (infer < 0 ? known != numel : known < 0)
        return sy_error(SY_ERR_SHAPE, "%s: shape %s is invalid for a tensor of shape %s (%lld elements)",
                        op, sy_shape_str(a, sizeof a, ndim, size),
                        sy_shape_str(b, sizeof b, t->ndim, t->size), (long long)numel);
    return SY_OK;
}

/* Strides for viewing t with a new shape without copying, following the
** algorithm of Torch/NumPy: each run of old dims that is contiguous in memory
** can be split or merged freely. Returns 0 when no view exists. */
static int view_strides(const sy_tensor *t, int ndim, const int64_t *size, int64_t *stride) {
    int64_t numel = sy_tensor_numel(t), chunk_base, tensor_numel = 1, view_numel = 1;
    int tensor_d, view_d = ndim - 1;
    if (numel == 0 || t->ndim == 0) {
        int64_t s = 1;
        int i;
        for (i = ndim - 1; i >= 0; i--) {
            stride[i] = s;
            s *= size[i] > 0 ? size[i] : 1;
        }
        return 1;
    }
    chunk_base = t->stride[t->ndim - 1];
    for (tensor_d = t->ndim - 1; tensor_d >= 0; tensor_d--) {
        tensor_numel *= t->size[tensor_d];
        if (tensor_d == 0 ||
            (t->size[tensor_d - 1] != 1 && t->stride[tensor_d - 1] != tensor_numel * chunk_base)) {
            while (view_d >= 0 && (view_numel < tensor_numel || size[view_d] == 1)) {
                stride[view_d] = view_numel * chunk_base;
                view_numel *= size[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel) return 0;
            if (tensor_d > 0) {
                chunk_base = t->stride[tensor_d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    return view_d == -1;
}

sy_status sy_tensor_view(sy_tensor **out, const sy_tensor *t, int ndim, const int64_t *size) {
    int64_t res[SY_MAX_DIMS], stride[SY_MAX_DIMS];
    char a[SY_SHAPE_STRLEN], b[SY_SHAPE_STRLEN];
    sy_status st = infer_size("view", t, ndim, size, res);
    int i;
    *out = NULL;
    if (st) return st;
    if (!view_strides(t, ndim, res, stride))
        return sy_error(SY_ERR_SHAPE,
                        "view: shape %s is not compatible with the strides of the %s input; "
                        "use reshape (or contiguous first)",
                        sy_shape_str(a, sizeof a, ndim, res),
                        sy_shape_str(b, sizeof b, t->ndim, t->size));
    if ((st = sy_tensor_alias(out, t))) return st;
    (*out)->ndim = ndim;
    for (i = 0; i < ndim; i++) {
        (*out)->size[i] = res[i];
        (*out)->stride[i] = stride[i];
    }
    return SY_OK;
}

sy_status sy_tensor_reshape(sy_tensor **out, const sy_tensor *t, int ndim, const int64_t *size) {
    int64_t res[SY_MAX_DIMS], stride[SY_MAX_DIMS];
    sy_tensor *c;
    sy_status st = infer_size("reshape", t, ndim, size, res);
    *out = NULL;
    if (st) return st;
    if (view_strides(t, ndim, res, stride)) return sy_tensor_view(out, t, ndim, res);
    if ((st = sy_tensor_clone(&c, t))) return st;
    st = sy_tensor_view(out, c, ndim, res);
    sy_tensor_release(c);
    return st;
}

sy_status sy_tensor_expand(sy_tensor **out, const sy_tensor *t, int ndim, const int64_t *size) {
    int i, off = ndim - t->ndim;
    char a[SY_SHAPE_STRLEN], b[SY_SHAPE_STRLEN];
    sy_tensor *v;
    sy_status st;
    *out = NULL;
    if (ndim > SY_MAX_DIMS || off < 0)
        return sy_error(SY_ERR_SHAPE, "expand: cannot expand shape %s to %s",
                        sy_shape_str(a, sizeof a, t->ndim, t->size),
                        sy_shape_str(b, sizeof b, ndim < 0 ? 0 : ndim > SY_MAX_DIMS ? SY_MAX_DIMS : ndim, size));
    for (i = 0; i < ndim; i++) {
        int64_t have = i < off ? 1 : t->size[i - off];
        int64_t want = size[i] == -1 && i >= off ? have : size[i];
        if (want < 0 || (have != want && have != 1))
            return sy_error(SY_ERR_SHAPE, "expand: cannot expand shape %s to %s",
                            sy_shape_str(a, sizeof a, t->ndim, t->size),
                            sy_shape_str(b, sizeof b, ndim, size));
    }
    if ((st = sy_tensor_alias(&v, t))) return st;
    v->ndim = ndim;
    for (i = ndim - 1; i >= 0; i--) {
        int64_t have = i < off ? 1 : t->size[i - off];
        int64_t want = size[i] == -1 && i >= off ? have : size[i];
        v->size[i] = want;
        v->stride[i] = (i < off || have != want) ? 0 : t->stride[i - off];
    }
    *out = v;
    return SY_OK;
}

sy_status sy_tensor_unsqueeze(sy_tensor **out, const sy_tensor *t, int dim) {
    sy_tensor *v;
    sy_status st;
    int i;
    *out = NULL;
    if (dim < 0 || dim > t->ndim || t->ndim >= SY_MAX_DIMS)
        return sy_error(SY_ERR_INDEX, "unsqueeze: dimension %d out of range for a %d-d tensor", dim,
                        t->ndim);
    if ((st = sy_tensor_alias(&v, t))) return st;
    for (i = t->ndim; i > dim; i--) {
        v->size[i] = t->size[i - 1];
        v->stride[i] = t->stride[i - 1];
    }
    v->size[dim] = 1;
    v->stride[dim] = dim < t->ndim ? t->size[dim] * t->stride[dim] : 1;
    v->ndim++;
    *out = v;
    return SY_OK;
}

sy_status sy_tensor_squeeze(sy_tensor **out, const sy_tensor *t, int dim) {
    sy_tensor *v;
    sy_status st;
    int i, n = 0;
    *out = NULL;
    if (dim >= t->ndim)
        return sy_error(SY_ERR_INDEX, "squeeze: dimension %d out of range for a %d-d tensor", dim,
                        t->ndim);
    if ((st = sy_tensor_alias(&v, t))) return st;
    for (i = 0; i < t->ndim; i++) {
        if (t->size[i] == 1 && (dim < 0 || dim == i)) continue;
        v->size[n] = t->size[i];
        v->stride[n] = t->stride[i];
        n++;
    }
    v->ndim = n;
    *out = v;
    return SY_OK;
}

/* ---------------------------------------------------------------- copies */

static void copy_row(int64_t n, char **p, const int64_t *bs, void *ctx) {
    const sy_dtype *dt = ctx;   /* dt[0] destination, dt[1] source */
    int64_t i;
    if (dt[0] == dt[1]) {
        int64_t es = sy_dtype_size(dt[0]);
        if (bs[0] == es && bs[1] == es) {
            memcpy(p[0], p[1], (size_t)(n * es));
        } else if (bs[0] == es && bs[1] == 0 && es == 4) {
            /* an expanded scalar made contiguous (the gradient of a sum
            ** reaching a layer that needs it dense): a fill the compiler
            ** turns into vector stores */
            float *d = (float *)p[0], v;
            memcpy(&v, p[1], sizeof v);
            for (i = 0; i < n; i++) d[i] = v;
        } else if (es == 4) {
            for (i = 0; i < n; i++) *(float *)(p[0] + i * bs[0]) = *(const float *)(p[1] + i * bs[1]);
        } else if (es == 8) {
            for (i = 0; i < n; i++)
                *(int64_t *)(p[0] + i * bs[0]) = *(const int64_t *)(p[1] + i * bs[1]);
        } else {
            for (i = 0; i < n; i++) *(p[0] + i * bs[0]) = *(p[1] + i * bs[1]);
        }
        return;
    }
    if (dt[0] == SY_F32 && dt[1] == SY_F64) {
        for (i = 0; i < n; i++)
            *(float *)(p[0] + i * bs[0]) = (float)*(const double *)(p[1] + i * bs[1]);
        return;
    }
    if (dt[0] == SY_F64 && dt[1] == SY_F32) {
        for (i = 0; i < n; i++) *(double *)(p[0] + i * bs[0]) = *(const float *)(p[1] + i * bs[1]);
        return;
    }
    for (i = 0; i < n; i++) sy_value_store(p[0] + i * bs[0], dt[0], sy_value_load(p[1] + i * bs[1], dt[1]));
}

/* One [R, C] tile-by-tile transposing copy for 4- or 8-byte elements: d
** contiguous, s(r, c) at s[r + c * sc]. */
#define TRANSPOSE_TILE 32
#define COPY_TILES(T)                                                                   \
    do {                                                                                \
        T *d = dst_;                                                                    \
        const T *s = src_;                                                              \
        for (r0 = 0; r0 < R; r0 += TRANSPOSE_TILE)                                      \
            for (c0 = 0; c0 < C; c0 += TRANSPOSE_TILE) {                                \
                const int64_t r1 = r0 + TRANSPOSE_TILE < R ? r0 + TRANSPOSE_TILE : R;   \
                const int64_t c1 = c0 + TRANSPOSE_TILE < C ? c0 + TRANSPOSE_TILE : C;   \
                for (r = r0; r < r1; r++)                                               \
                    for (c = c0; c < c1; c++) d[r * C + c] = s[r + c * sc];             \
            }                                                                           \
    } while (0)

/* A copy into a contiguous dst from a src whose last two dims are swapped in
** memory (`t:t():contiguous()`, a transpose made dense): 32 x 32 tiles, so
** that each cache line of src is read once rather than once per dst row
** ([64, 3840] floats 178 -> 88 us; tiles of 8 gave 102, 16 99, 64 83).
** 0 when the layouts are not those. */
static int copy_transposed(sy_tensor *dst, const sy_tensor *src) {
    const int nd = dst->ndim;
    const int64_t es = sy_dtype_size(dst->dtype);
    int64_t R, C, sc, outer, o, r0, c0, r, c;
    if (nd < 2 || src->dtype != dst->dtype || (es != 4 && es != 8) ||
        !sy_tensor_is_contiguous(dst))
        return 0;
    R = dst->size[nd - 2], C = dst->size[nd - 1], sc = src->stride[nd - 1];
    if (src->stride[nd - 2] != 1 || sc < 8 || R < 8 || C < 8) return 0;
    outer = sy_tensor_numel(dst) / (R * C);
    for (o = 0; o < outer; o++) {
        int64_t rest = o, off = 0;
        int k;
        void *dst_;
        const void *src_;
        for (k = nd - 3; k >= 0; k--) {   /* src's element offset of outer block o */
            off += rest % dst->size[k] * src->stride[k];
            rest /= dst->size[k];
        }
        dst_ = (char *)sy_tensor_data(dst) + o * R * C * es;
        src_ = (const char *)sy_tensor_data(src) + off * es;
        if (es == 4) COPY_TILES(uint32_t);
        else COPY_TILES(uint64_t);
    }
    return 1;
}
#undef COPY_TILES

/* Whether dims 0 .. nd-2 of t collapse into one of stride t->stride[nd-2]
** (each a whole number of the next). */
static int outer_dims_collapse(const sy_tensor *t) {
    int k;
    for (k = 0; k + 2 < t->ndim; k++)
        if (t->size[k] != 1 && t->stride[k] != t->stride[k + 1] * t->size[k + 1]) return 0;
    return 1;
}

/* A copy between the same dtypes where both sides are rows of contiguous
** elements at fixed row strides (narrow, cat, slices of rows): one memcpy a
** row, without the iterator's per-row plan (sy.cat of two [3840, 64] along
** dim 2: 67 -> 54 us). 0 when the layouts are not those, or when rows are
** shorter than 64 bytes (a call a row would cost more than the iterator's
** strided loop). */
static int copy_row_blocks(sy_tensor *dst, const sy_tensor *src) {
    const int nd = dst->ndim;
    const int64_t es = sy_dtype_size(dst->dtype);
    int64_t rows, L, r;
    char *d;
    const char *q;
    if (nd < 2 || src->dtype != dst->dtype || dst->stride[nd - 1] != 1 || src->stride[nd - 1] != 1 ||
        !outer_dims_collapse(dst) || !outer_dims_collapse(src))
        return 0;
    L = dst->size[nd - 1];
    if (L * es < 64) return 0;
    rows = sy_tensor_numel(dst) / L;
    d = sy_tensor_data(dst);
    q = sy_tensor_data(src);
    for (r = 0; r < rows; r++)
        memcpy(d + r * dst->stride[nd - 2] * es, q + r * src->stride[nd - 2] * es, (size_t)(L * es));
    return 1;
}

/* Copies overlapping storage through a temporary so that `a:copy(a:t())`
** style calls see the source as it was before the copy. */
sy_status sy_tensor_copy_(sy_tensor *dst, const sy_tensor *src) {
    sy_tensor *ex = NULL, *tmp = NULL;
    const sy_tensor *ops[2];
    sy_dtype dt[2];
    sy_status st;
    if (dst->storage->device != SY_CPU || src->storage->device != SY_CPU)
        return sy_error(SY_ERR_DEVICE, "copy: only CPU tensors are supported in this build");
    if ((st = sy_tensor_expand(&ex, src, dst->ndim, dst->size))) {
        char a[SY_SHAPE_STRLEN], b[SY_SHAPE_STRLEN];
        if (st != SY_ERR_SHAPE) return st;   /* out of memory: keep that message */
        return sy_error(SY_ERR_SHAPE, "copy: source of shape %s does not broadcast to %s",
                        sy_shape_str(a, sizeof a, src->ndim, src->size),
                        sy_shape_str(b, sizeof b, dst->ndim, dst->size));
    }
    if (src->storage == dst->storage && src != dst) {
        if ((st = sy_tensor_clone(&tmp, ex))) {
            sy_tensor_release(ex);
            return st;
        }
        sy_tensor_release(ex);
        ex = tmp;
    }
    if (!copy_transposed(dst, ex) && !copy_row_blocks(dst, ex)) {
        ops[0] = dst;
        ops[1] = ex;
        dt[0] = dst->dtype;
        dt[1] = src->dtype;
        sy_iter_run(2, ops, dst->ndim, dst->size, copy_row, dt);
    }
    sy_tensor_release(ex);
    return SY_OK;
}

sy_status sy_tensor_clone(sy_tensor **out, const sy_tensor *t) {
    sy_status st = sy_tensor_empty(out, t->dtype, t->ndim, t->size);
    if (st) return st;
    if ((st = sy_tensor_copy_(*out, t))) {
        sy_tensor_release(*out);
        *out = NULL;
    }
    return st;
}

sy_status sy_tensor_contiguous(sy_tensor **out, const sy_tensor *t) {
    if (sy_tensor_is_contiguous(t)) {
        *out = sy_tensor_retain((sy_tensor *)t);
        return SY_OK;
    }
    return sy_tensor_clone(out, t);
}

sy_status sy_tensor_to_dtype(sy_tensor **out, const sy_tensor *t, sy_dtype dt) {
    sy_status st = sy_tensor_empty(out, dt, t->ndim, t->size);
    if (st) return st;
    if ((st = sy_tensor_copy_(*out, t))) {
        sy_tensor_release(*out);
        *out = NULL;
    }
    return st;
}

struct fill_ctx {
    sy_dtype dtype;
    double value;
};

static void fill_row(int64_t n, char **p, const int64_t *bs, void *ctx) {
    const struct fill_ctx *c = ctx;
    int64_t i, es = sy_dtype_size(c->dtype);
    char one[8];
    if (c->dtype == SY_F32) {
        float f = (float)c->value;
        for (i = 0; i < n; i++) *(float *)(p[0] + i * bs[0]) = f;
        return;
    }
    sy_value_store(one, c->dtype, c->value);
    for (i = 0; i < n; i++) memcpy(p[0] + i * bs[0], one, (size_t)es);
}

sy_status sy_tensor_fill_(sy_tensor *t, double value) {
    struct fill_ctx ctx = {t->dtype, value};
    const sy_tensor *ops[1] = {t};
    if (t->storage->device != SY_CPU)
        return sy_error(SY_ERR_DEVICE, "fill: only CPU tensors are supported in this build");
    sy_iter_run(1, ops, t->ndim, t->size, fill_row, &ctx);
    return SY_OK;
}

/* ---------------------------------------------------------- broadcasting */

sy_status sy_broadcast_shape(int *ndim, int64_t *size, int na, const int64_t *sa, int nb,
                             const int64_t *sb, const char *opname) {
    int n = na > nb ? na : nb, i;
    char a[SY_SHAPE_STRLEN], b[SY_SHAPE_STRLEN];
    for (i = 0; i < n; i++) {
        int64_t x = i < n - na ? 1 : sa[i - (n - na)];
        int64_t y = i < n - nb ? 1 : sb[i - (n - nb)];
        if (x != y && x != 1 && y != 1)
            return sy_error(SY_ERR_SHAPE, "%s: shapes %s and %s cannot be broadcast (dimension %d: %lld vs %lld)",
                            opname, sy_shape_str(a, sizeof a, na, sa),
                            sy_shape_str(b, sizeof b, nb, sb), i + 1, (long long)x, (long long)y);
        size[i] = x == 1 ? y : x;
    }
    *ndim = n;
    return SY_OK;
}
