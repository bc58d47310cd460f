/*
** sort.c -- sort, topk and kthvalue along one dimension.
**
** Each row is loaded into a scratch array of (key, position) pairs. The key
** is the value mapped to an unsigned integer whose order is the value order
** (NaN above +inf, -0 equal to +0), complemented for descending order, so one
** comparison routine serves every dtype and direction. Ties are broken by
** position, which makes the order total: any algorithm then yields the stable
** result, and topk/kthvalue agree exactly with sort. Results copy the
** original bits, so values keep their dtype (and NaN payloads).
**
** topk and kthvalue use selection (quickselect with a median-of-3 pivot:
** O(n) expected, deterministic), falling back to sorting the remaining range
** when the partitions stay unbalanced, so the worst case is O(n log n) like
** introselect. topk then sorts only the k selected pairs.
*/
#include <string.h>

#include "../core/alloc.h"
#include "ops.h"

typedef struct sort_pair {
    uint64_t key;
    int64_t pos;
} sort_pair;

static int pair_before(const sort_pair *a, const sort_pair *b) {
    return a->key < b->key || (a->key == b->key && a->pos < b->pos);
}

static void pair_swap(sort_pair *a, sort_pair *b) {
    sort_pair t = *a;
    *a = *b;
    *b = t;
}

static void insertion_sort(sort_pair *p, int64_t n) {
    int64_t i, j;
    for (i = 1; i < n; i++) {
        sort_pair x = p[i];
        for (j = i; j > 0 && pair_before(&x, &p[j - 1]); j--) p[j] = p[j - 1];
        p[j] = x;
    }
}

#define SORT_RUN 32   /* runs sorted by insertion before merging */

/* Bottom-up merge sort; buf holds at least n pairs. */
static void pair_sort(sort_pair *p, int64_t n, sort_pair *buf) {
    sort_pair *src = p, *dst = buf, *t;
    int64_t lo, w;
    for (lo = 0; lo < n; lo += SORT_RUN) insertion_sort(p + lo, n - lo < SORT_RUN ? n - lo : SORT_RUN);
    for (w = SORT_RUN; w < n; w *= 2) {
        for (lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) dst[k++] = pair_before(&src[j], &src[i]) ? src[j++] : src[i++];
            while (i < mid) dst[k++] = src[i++];
            while (j < hi) dst[k++] = src[j++];
        }
        t = src, src = dst, dst = t;
    }
    if (src != p) memcpy(p, src, (size_t)n * sizeof *p);
}

/* Rearranges p so that p[nth] is the pair a full sort would put there, with
** smaller pairs before it and larger ones after (nth_element). */
static void pair_select(sort_pair *p, int64_t n, int64_t nth, sort_pair *buf) {
    int64_t lo = 0, hi = n, m;
    int budget = 8;   /* 2 log2(n) + 8 rounds before falling back to a sort */
    for (m = n; m > 1; m >>= 1) budget += 2;
    while (hi - lo > SORT_RUN) {
        int64_t mid = lo + (hi - lo) / 2, i, j;
        sort_pair pivot;
        if (budget-- == 0) {
            pair_sort(p + lo, hi - lo, buf);
            return;
        }
        /* median of three; p[lo] and p[hi-1] then bound the scans below */
        if (pair_before(&p[mid], &p[lo])) pair_swap(&p[mid], &p[lo]);
        if (pair_before(&p[hi - 1], &p[lo])) pair_swap(&p[hi - 1], &p[lo]);
        if (pair_before(&p[hi - 1], &p[mid])) pair_swap(&p[hi - 1], &p[mid]);
        pair_swap(&p[mid], &p[hi - 2]);
        pivot = p[hi - 2];
        i = lo;
        j = hi - 2;
        for (;;) {
            while (pair_before(&p[++i], &pivot)) {}
            while (pair_before(&pivot, &p[--j])) {}
            if (i >= j) break;
            pair_swap(&p[i], &p[j]);
        }
        pair_swap(&p[i], &p[hi - 2]);
        if (nth == i) return;
        if (nth < i) hi = i;
        else lo = i + 1;
    }
    insertion_sort(p + lo, hi - lo);
}

/* ------------------------------------------------------------------ keys */

/* Order-preserving maps to uint64: flip the sign bit of non-negative
** floats and every bit of negative ones; NaN goes to the top. */
static uint64_t key_f64(double v) {
    uint64_t b;
    if (v != v) return UINT64_MAX;
    if (v == 0) v = 0;   /* -0 ties with +0 */
    memcpy(&b, &v, sizeof b);
    return b >> 63 ? ~b : b | (UINT64_C(1) << 63);
}

static uint64_t key_f32(float v) {
    uint32_t b;
    if (v != v) return UINT64_MAX;
    if (v == 0) v = 0;
    memcpy(&b, &v, sizeof b);
    return b >> 31 ? (uint64_t)~b : (uint64_t)(b | (UINT32_C(1) << 31));
}

/* Loads one row (n elements, byte stride bs) as pairs. */
static void load_row(sort_pair *p, const char *row, int64_t n, int64_t bs, sy_dtype dt, int desc) {
    int64_t i;
    uint64_t flip = desc ? UINT64_MAX : 0;
    switch (dt) {
    case SY_F32:
        for (i = 0; i < n; i++) p[i].key = key_f32(*(const float *)(row + i * bs)) ^ flip;
        break;
    case SY_F64:
        for (i = 0; i < n; i++) p[i].key = key_f64(*(const double *)(row + i * bs)) ^ flip;
        break;
    case SY_I64:
        for (i = 0; i < n; i++)
            p[i].key = ((uint64_t)*(const int64_t *)(row + i * bs) ^ (UINT64_C(1) << 63)) ^ flip;
        break;
    default:   /* uint8, bool */
        for (i = 0; i < n; i++) p[i].key = (uint64_t)*(const uint8_t *)(row + i * bs) ^ flip;
        break;
    }
    for (i = 0; i < n; i++) p[i].pos = i;
}

/* -------------------------------------------------------------- the rows */

typedef enum { SEL_SORT, SEL_TOPK, SEL_KTH } sel_kind;

/* Element offset of row r of t, counting rows over every dimension but dim
** in row-major order. */
static int64_t row_offset(const sy_tensor *t, int dim, int64_t r) {
    int64_t off = t->offset;
    int d;
    for (d = t->ndim - 1; d >= 0; d--) {
        if (d == dim) continue;
        off += (r % t->size[d]) * t->stride[d];
        r /= t->size[d];
    }
    return off;
}

/* Fills values/indices (shaped like t with size k along dim) row by row.
** SEL_SORT: k == n; SEL_TOPK: the k first in key order, sorted;
** SEL_KTH: the single pair at rank k-1 (k == 1 slot along dim). */
static sy_status run_rows(const char *op, sel_kind kind, sy_tensor *values, sy_tensor *indices,
                          const sy_tensor *t, int dim, int64_t k, int desc) {
    const int64_t n = t->size[dim], es = sy_dtype_size(t->dtype);
    const int64_t nrows = n > 0 ? sy_tensor_numel(t) / n : 0;
    const int64_t in_bs = t->stride[dim] * es;
    const int64_t out_k = kind == SEL_KTH ? 1 : k;
    const char *in_base = t->storage->data;
    char *v_base = values->storage->data;
    int64_t *i_base = indices->storage->data;
    size_t bytes = (size_t)n * sizeof(sort_pair);
    sort_pair *p, *buf;
    int64_t r, j;
    if (nrows == 0 || out_k == 0) return SY_OK;
    p = sy_mem_alloc(bytes);
    buf = sy_mem_alloc(bytes);
    if (!p || !buf) {
        sy_mem_free(p, bytes);
        sy_mem_free(buf, bytes);
        return sy_error(SY_ERR_OOM, "%s: no memory for scratch rows of %lld elements", op,
                        (long long)n);
    }
    for (r = 0; r < nrows; r++) {
        const char *row = in_base + row_offset(t, dim, r) * es;
        int64_t vo = row_offset(values, dim, r), io = row_offset(indices, dim, r);
        sort_pair *sel = p;
        load_row(p, row, n, in_bs, t->dtype, desc);
        if (kind == SEL_SORT) {
            pair_sort(p, n, buf);
        } else if (kind == SEL_TOPK) {
            if (k < n) pair_select(p, n, k - 1, buf);
            pair_sort(p, k, buf);
        } else {
            pair_select(p, n, k - 1, buf);
            sel = p + (k - 1);
        }
        for (j = 0; j < out_k; j++) {
            memcpy(v_base + (vo + j * values->stride[dim]) * es, row + sel[j].pos * in_bs,
                   (size_t)es);
            i_base[io + j * indices->stride[dim]] = sel[j].pos;
        }
    }
    sy_mem_free(p, bytes);
    sy_mem_free(buf, bytes);
    return SY_OK;
}

static sy_status check_input(const char *op, const sy_tensor *t, int dim) {
    if (t->storage->device != SY_CPU)
        return sy_error(SY_ERR_DEVICE, "%s: only CPU tensors are supported in this build", op);
    if (t->ndim == 0)
        return sy_error(SY_ERR_SHAPE, "%s: expects a tensor with at least 1 dimension, got a 0-d tensor",
                        op);
    if (dim < 0 || dim >= t->ndim)
        return sy_error(SY_ERR_INDEX, "%s: dimension %d out of range for a %d-d tensor", op, dim,
                        t->ndim);
    return SY_OK;
}

/* Allocates values and indices shaped like t with size k along dim and runs
** the selection; on failure both are NULL. */
static sy_status select_op(const char *op, sel_kind kind, sy_tensor **values, sy_tensor **indices,
                           const sy_tensor *t, int dim, int64_t k, int desc) {
    int64_t size[SY_MAX_DIMS];
    sy_status st;
    *values = *indices = NULL;
    memcpy(size, t->size, sizeof size);
    size[dim] = kind == SEL_KTH ? 1 : k;
    if ((st = sy_tensor_empty(values, t->dtype, t->ndim, size)) ||
        (st = sy_tensor_empty(indices, SY_I64, t->ndim, size)) ||
        (st = run_rows(op, kind, *values, *indices, t, dim, k, desc))) {
        sy_tensor_release(*values);
        sy_tensor_release(*indices);
        *values = *indices = NULL;
    }
    return st;
}

sy_status sy_sort(sy_tensor **values, sy_tensor **indices, const sy_tensor *t, int dim,
                  int descending) {
    sy_status st;
    *values = *indices = NULL;
    if ((st = check_input("sort", t, dim))) return st;
    return select_op("sort", SEL_SORT, values, indices, t, dim, t->size[dim], descending);
}

sy_status sy_topk(sy_tensor **values, sy_tensor **indices, const sy_tensor *t, int64_t k, int dim,
                  int largest) {
    sy_status st;
    *values = *indices = NULL;
    if ((st = check_input("topk", t, dim))) return st;
    if (k < 0 || k > t->size[dim])
        return sy_error(SY_ERR_INDEX, "topk: k = %lld is out of range for dimension %d of size %lld",
                        (long long)k, dim, (long long)t->size[dim]);
    return select_op("topk", SEL_TOPK, values, indices, t, dim, k, largest);
}

sy_status sy_kthvalue(sy_tensor **values, sy_tensor **indices, const sy_tensor *t, int64_t k,
                      int dim, int keepdim) {
    sy_tensor *v, *i;
    sy_status st;
    *values = *indices = NULL;
    if ((st = check_input("kthvalue", t, dim))) return st;
    if (k < 1 || k > t->size[dim])
        return sy_error(SY_ERR_INDEX,
                        "kthvalue: k = %lld is out of range for dimension %d of size %lld "
                        "(k counts from 1)",
                        (long long)k, dim, (long long)t->size[dim]);
    if ((st = select_op("kthvalue", SEL_KTH, &v, &i, t, dim, k, 0))) return st;
    if (keepdim) {
        *values = v;
        *indices = i;
        return SY_OK;
    }
    if ((st = sy_tensor_squeeze(values, v, dim)) == SY_OK &&
        (st = sy_tensor_squeeze(indices, i, dim))) {
        sy_tensor_release(*values);
        *values = NULL;
    }
    sy_tensor_release(v);
    sy_tensor_release(i);
    return st;
}
