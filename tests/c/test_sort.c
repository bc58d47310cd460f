/*
** test_sort.c -- sort, topk and kthvalue against a naive reference (qsort of
** (value, position) pairs with NaN largest and ties kept in position order)
** on random rows with ties, NaN, infinities and signed zeros, strided
** inputs, every dim, k = 1 and k = n; argument errors; and selection on
** 1e6 elements checked by counting.
*/
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/alloc.h"
#include "core/tensor.h"
#include "ops/ops.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Du;

static uint64_t rnd(void) {   /* xorshift64*: fixed seed, reproducible */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Du;
}

static int64_t rnd_below(int64_t n) { return (int64_t)(rnd() % (uint64_t)n); }

/* Values with many ties; floats also get NaN, +-inf and -0. */
static double random_value(sy_dtype dt) {
    int64_t r = rnd_below(100);
    if (sy_dtype_is_float(dt)) {
        if (r < 5) return NAN;
        if (r < 8) return INFINITY;
        if (r < 11) return -INFINITY;
        if (r < 15) return -0.0;
        return (double)(rnd_below(41) - 20) / 4;
    }
    if (dt == SY_I64) return (double)(rnd_below(41) - 20);
    return (double)rnd_below(dt == SY_BOOL ? 2 : 256);
}

static int next_index(int64_t *idx, int ndim, const int64_t *size) {
    int d;
    for (d = ndim - 1; d >= 0; d--) {
        if (++idx[d] < size[d]) return 1;
        idx[d] = 0;
    }
    return 0;
}

/* A random tensor of the given shape; for ndim >= 2 a transposed view, so
** the sorted dimension is strided. */
static sy_tensor *random_tensor(sy_dtype dt, int ndim, const int64_t *size) {
    int64_t s[SY_MAX_DIMS], idx[SY_MAX_DIMS] = {0};
    sy_tensor *base, *v;
    memcpy(s, size, sizeof(int64_t) * (size_t)ndim);
    if (ndim >= 2) {
        s[0] = size[ndim - 1];
        s[ndim - 1] = size[0];
    }
    sy_tensor_empty(&base, dt, ndim, s);
    if (sy_tensor_numel(base) > 0) {
        do sy_tensor_set(base, idx, random_value(dt));
        while (next_index(idx, ndim, s));
    }
    if (ndim < 2) return base;
    sy_tensor_transpose(&v, base, 0, ndim - 1);
    sy_tensor_release(base);
    return v;
}

/* ------------------------------------------------------------ reference */

typedef struct ref_pair {
    double v;
    int64_t pos;
} ref_pair;

static int ref_desc;

/* NaN above everything, -0 == +0, equal values in position order. */
static int ref_cmp(const void *pa, const void *pb) {
    const ref_pair *a = pa, *b = pb;
    int an = a->v != a->v, bn = b->v != b->v, c;
    if (an || bn) c = an - bn;
    else c = (a->v > b->v) - (a->v < b->v);
    if (ref_desc) c = -c;
    if (c) return c;
    return (a->pos > b->pos) - (a->pos < b->pos);
}

static int same_value(double a, double b) { return a == b || (a != a && b != b); }

/* The reference order of row `idx` (idx[dim] ignored) of t. */
static void ref_row(ref_pair *p, const sy_tensor *t, const int64_t *idx, int dim, int desc) {
    int64_t at[SY_MAX_DIMS], j;
    memcpy(at, idx, sizeof at);
    for (j = 0; j < t->size[dim]; j++) {
        at[dim] = j;
        p[j].v = sy_tensor_get(t, at);
        p[j].pos = j;
    }
    ref_desc = desc;
    qsort(p, (size_t)t->size[dim], sizeof *p, ref_cmp);
}

/* Walks every row of shape (ndim, size) along dim: idx[dim] stays 0. */
static int next_row(int64_t *idx, int ndim, const int64_t *size, int dim) {
    int d;
    for (d = ndim - 1; d >= 0; d--) {
        if (d == dim) continue;
        if (++idx[d] < size[d]) return 1;
        idx[d] = 0;
    }
    return 0;
}

enum { OP_SORT, OP_TOPK, OP_KTH };

/* Runs op on a random tensor and compares each row with the reference.
** Returns the number of mismatching elements. */
static int64_t check_random(int op, sy_dtype dt, int ndim, const int64_t *shape, int dim,
                            int64_t k, int flag) {
    sy_tensor *t = random_tensor(dt, ndim, shape), *vals = NULL, *inds = NULL;
    int64_t idx[SY_MAX_DIMS] = {0}, at[SY_MAX_DIMS], bad = 0, j, n = shape[dim];
    ref_pair *p = malloc(sizeof *p * (size_t)(n > 0 ? n : 1));
    sy_status st;
    if (op == OP_SORT) st = sy_sort(&vals, &inds, t, dim, flag);
    else if (op == OP_TOPK) st = sy_topk(&vals, &inds, t, k, dim, flag);
    else st = sy_kthvalue(&vals, &inds, t, k, dim, flag);
    CHECK_OK(st);
    if (st) {
        free(p);
        sy_tensor_release(t);
        return 1;
    }
    CHECK(vals->dtype == dt && inds->dtype == SY_I64);
    CHECK(vals->ndim == (op == OP_KTH && !flag ? ndim - 1 : ndim));
    if (sy_tensor_numel(t) > 0 && n > 0) {
        do {
            ref_row(p, t, idx, dim, op == OP_KTH ? 0 : flag);
            memcpy(at, idx, sizeof at);
            if (op == OP_KTH) {
                /* value of rank k; the index must point at an element of that value */
                double v, w;
                int64_t i;
                if (!flag) memmove(at + dim, at + dim + 1, sizeof(int64_t) * (size_t)(ndim - dim - 1));
                v = sy_tensor_get(vals, at);
                i = (int64_t)sy_tensor_get(inds, at);
                memcpy(at, idx, sizeof at);
                at[dim] = i;
                w = i >= 0 && i < n ? sy_tensor_get(t, at) : 0;
                if (!same_value(v, p[k - 1].v) || i < 0 || i >= n || !same_value(w, v)) bad++;
            } else {
                int64_t m = op == OP_SORT ? n : k;
                for (j = 0; j < m; j++) {
                    at[dim] = j;
                    /* exact positions: ties keep input order, so topk agrees with sort */
                    if (!same_value(sy_tensor_get(vals, at), p[j].v) ||
                        (int64_t)sy_tensor_get(inds, at) != p[j].pos)
                        bad++;
                    if (dt == SY_F32 || dt == SY_F64) {   /* signed zeros come back as they were */
                        int64_t src[SY_MAX_DIMS];
                        memcpy(src, idx, sizeof src);
                        src[dim] = p[j].pos;
                        if (signbit(sy_tensor_get(vals, at)) != signbit(sy_tensor_get(t, src))) bad++;
                    }
                }
                CHECK(vals->size[dim] == m && inds->size[dim] == m);
            }
        } while (next_row(idx, ndim, shape, dim));
    }
    free(p);
    sy_tensor_release(vals);
    sy_tensor_release(inds);
    sy_tensor_release(t);
    return bad;
}

static const sy_dtype dtypes[5] = {SY_F32, SY_F64, SY_I64, SY_U8, SY_BOOL};

static void random_shape(int *ndim, int64_t *shape, int *dim) {
    int d;
    *ndim = 1 + (int)rnd_below(3);
    for (d = 0; d < *ndim; d++) shape[d] = 1 + rnd_below(5);
    *dim = (int)rnd_below(*ndim);
    shape[*dim] = rnd_below(90);   /* long enough rows to pass the selection cut-off */
}

static void test_sort_random(void) {
    int trial;
    for (trial = 0; trial < 200; trial++) {
        int ndim, dim;
        int64_t shape[SY_MAX_DIMS];
        random_shape(&ndim, shape, &dim);
        CHECK(check_random(OP_SORT, dtypes[trial % 5], ndim, shape, dim, 0, trial % 2) == 0);
    }
}

static void test_topk_random(void) {
    int trial;
    for (trial = 0; trial < 300; trial++) {
        int ndim, dim;
        int64_t shape[SY_MAX_DIMS], n, k;
        random_shape(&ndim, shape, &dim);
        n = shape[dim];
        /* k = 0, 1, n and values between */
        k = trial % 4 == 0 ? 1 : trial % 4 == 1 ? n : trial % 4 == 2 ? 0 : rnd_below(n + 1);
        if (k > n) k = n;
        CHECK(check_random(OP_TOPK, dtypes[trial % 5], ndim, shape, dim, k, (trial / 4) % 2) == 0);
    }
}

static void test_kthvalue_random(void) {
    int trial;
    for (trial = 0; trial < 300; trial++) {
        int ndim, dim;
        int64_t shape[SY_MAX_DIMS], n, k;
        random_shape(&ndim, shape, &dim);
        if (shape[dim] == 0) shape[dim] = 1;
        n = shape[dim];
        k = trial % 3 == 0 ? 1 : trial % 3 == 1 ? n : 1 + rnd_below(n);
        CHECK(check_random(OP_KTH, dtypes[trial % 5], ndim, shape, dim, k, (trial / 3) % 2) == 0);
    }
}

/* ------------------------------------------------------------ fixed cases */

static sy_tensor *vec(sy_dtype dt, int64_t n, const double *v) {
    sy_tensor *t;
    int64_t i;
    sy_tensor_empty(&t, dt, 1, &n);
    for (i = 0; i < n; i++) sy_tensor_set(t, &i, v[i]);
    return t;
}

static void test_cases(void) {
    static const double x[6] = {3, NAN, -1, INFINITY, 3, -INFINITY};
    sy_tensor *t = vec(SY_F32, 6, x), *v, *i;
    int64_t j;
    /* ascending: -inf, -1, 3, 3, inf, nan with the two 3s in input order */
    static const int64_t asc[6] = {5, 2, 0, 4, 3, 1}, desc[6] = {1, 3, 0, 4, 2, 5};
    CHECK_OK(sy_sort(&v, &i, t, 0, 0));
    for (j = 0; v && j < 6; j++) CHECK((int64_t)sy_tensor_get(i, &j) == asc[j]);
    CHECK(v && isnan(sy_tensor_get(v, &(int64_t){5})));
    sy_tensor_release(v), sy_tensor_release(i);
    CHECK_OK(sy_sort(&v, &i, t, 0, 1));
    for (j = 0; v && j < 6; j++) CHECK((int64_t)sy_tensor_get(i, &j) == desc[j]);
    sy_tensor_release(v), sy_tensor_release(i);

    /* topk largest 2: nan, inf; smallest 2: -inf, -1 */
    CHECK_OK(sy_topk(&v, &i, t, 2, 0, 1));
    if (v) {
        CHECK(isnan(sy_tensor_get(v, &(int64_t){0})) && sy_tensor_get(v, &(int64_t){1}) == INFINITY);
        CHECK(sy_tensor_get(i, &(int64_t){0}) == 1 && sy_tensor_get(i, &(int64_t){1}) == 3);
    }
    sy_tensor_release(v), sy_tensor_release(i);
    CHECK_OK(sy_topk(&v, &i, t, 2, 0, 0));
    if (v) CHECK(sy_tensor_get(v, &(int64_t){0}) == -INFINITY && sy_tensor_get(v, &(int64_t){1}) == -1);
    sy_tensor_release(v), sy_tensor_release(i);

    /* kthvalue: the 3rd smallest is 3; 1-d input gives 0-d results */
    CHECK_OK(sy_kthvalue(&v, &i, t, 3, 0, 0));
    if (v) {
        CHECK(v->ndim == 0 && i->ndim == 0);
        CHECK(sy_tensor_get(v, NULL) == 3);
        CHECK(sy_tensor_get(i, NULL) == 0 || sy_tensor_get(i, NULL) == 4);
    }
    sy_tensor_release(v), sy_tensor_release(i);
    CHECK_OK(sy_kthvalue(&v, &i, t, 6, 0, 1));
    if (v) CHECK(v->ndim == 1 && v->size[0] == 1 && isnan(sy_tensor_get(v, &(int64_t){0})));
    sy_tensor_release(v), sy_tensor_release(i);

    /* errors */
    CHECK_FAILS(sy_topk(&v, &i, t, 7, 0, 1), SY_ERR_INDEX);
    CHECK(v == NULL && i == NULL);
    CHECK(strstr(sy_error_message(), "k = 7 is out of range for dimension 0 of size 6") != NULL);
    CHECK_FAILS(sy_topk(&v, &i, t, -1, 0, 1), SY_ERR_INDEX);
    CHECK_FAILS(sy_kthvalue(&v, &i, t, 0, 0, 0), SY_ERR_INDEX);
    CHECK(strstr(sy_error_message(), "k counts from 1") != NULL);
    CHECK_FAILS(sy_kthvalue(&v, &i, t, 7, 0, 0), SY_ERR_INDEX);
    CHECK_FAILS(sy_sort(&v, &i, t, 1, 0), SY_ERR_INDEX);
    CHECK_FAILS(sy_sort(&v, &i, t, -1, 0), SY_ERR_INDEX);
    sy_tensor_release(t);
    sy_scalar(&t, SY_F32, 1);
    CHECK_FAILS(sy_sort(&v, &i, t, 0, 0), SY_ERR_SHAPE);
    CHECK(strstr(sy_error_message(), "0-d") != NULL);
    sy_tensor_release(t);

    /* int64 extremes keep their order (no trip through double) */
    {
        int64_t n = 4, *d;
        sy_tensor_empty(&t, SY_I64, 1, &n);
        d = sy_tensor_data(t);
        d[0] = INT64_MAX, d[1] = INT64_MIN, d[2] = INT64_MAX - 1, d[3] = -1;
        CHECK_OK(sy_sort(&v, &i, t, 0, 0));
        if (v) {
            const int64_t *o = sy_tensor_data(v), *oi = sy_tensor_data(i);
            CHECK(o[0] == INT64_MIN && o[1] == -1 && o[2] == INT64_MAX - 1 && o[3] == INT64_MAX);
            CHECK(oi[0] == 1 && oi[1] == 3 && oi[2] == 2 && oi[3] == 0);
        }
        sy_tensor_release(v), sy_tensor_release(i);
        sy_tensor_release(t);
    }
}

/* An expanded input (stride 0 along the sorted dim): all equal, so indices
** come back in order. */
static void test_expanded(void) {
    int64_t one = 1, size[2] = {3, 50}, at[2], bad = 0;
    sy_tensor *s, *e, *v, *i;
    sy_tensor_empty(&s, SY_F64, 1, &one);
    sy_tensor_fill_(s, 2.5);
    sy_tensor_expand(&e, s, 2, size);
    CHECK_OK(sy_topk(&v, &i, e, 40, 1, 1));
    for (at[0] = 0; v && at[0] < 3; at[0]++)
        for (at[1] = 0; at[1] < 40; at[1]++)
            if (sy_tensor_get(v, at) != 2.5 || sy_tensor_get(i, at) != (double)at[1]) bad++;
    CHECK(bad == 0);
    sy_tensor_release(v), sy_tensor_release(i), sy_tensor_release(e), sy_tensor_release(s);
}

/* --------------------------------------------------------------- large */

/* topk and kthvalue select instead of sorting: on 1e6 elements they run in
** linear expected time. The results are checked by counting (O(n)), not
** against a sort. Patterns that defeat naive pivots (sorted, reversed, all
** equal, organ pipe) are included; no timing is asserted. */
static void test_large(void) {
    const int64_t n = 1000000, k = 10, kth = n / 2;
    int pattern;
    for (pattern = 0; pattern < 5; pattern++) {
        sy_tensor *t, *v, *i;
        float *d;
        int64_t j, less = 0, less_eq = 0, greater = 0, bad = 0;
        double kv, last;
        sy_tensor_empty(&t, SY_F32, 1, &n);
        d = sy_tensor_data(t);
        for (j = 0; j < n; j++) {
            switch (pattern) {
            case 0: d[j] = (float)(rnd_below(1 << 24)) / (1 << 20); break;
            case 1: d[j] = (float)j; break;
            case 2: d[j] = (float)(n - j); break;
            case 3: d[j] = 1.0f; break;
            default: d[j] = (float)(j < n / 2 ? j : n - j); break;
            }
        }
        CHECK_OK(sy_kthvalue(&v, &i, t, kth, 0, 0));
        if (!v) continue;
        kv = sy_tensor_get(v, NULL);
        CHECK(d[(int64_t)sy_tensor_get(i, NULL)] == kv);
        for (j = 0; j < n; j++) less += d[j] < kv, less_eq += d[j] <= kv;
        CHECK(less < kth && kth <= less_eq);   /* kv has rank kth */
        sy_tensor_release(v), sy_tensor_release(i);

        CHECK_OK(sy_topk(&v, &i, t, k, 0, 1));
        if (!v) continue;
        last = INFINITY;
        for (j = 0; j < k; j++) {
            double x = sy_tensor_get(v, &j);
            if (x > last || d[(int64_t)sy_tensor_get(i, &j)] != x) bad++;
            last = x;
        }
        CHECK(bad == 0);
        for (j = 0; j < n; j++) greater += d[j] > last;
        CHECK(greater < k);   /* nothing outside the selection is larger than its last */
        sy_tensor_release(v), sy_tensor_release(i);
        sy_tensor_release(t);
    }
}

static void test_alloc_failures(void) {
    static const double x[5] = {2, 1, 3, 0, 4};
    sy_tensor *t = vec(SY_F64, 5, x), *v, *i;
    int64_t before = sy_mem_in_use(), n;
    int failures = 0, op;
    for (n = 1; n <= 8; n++) {
        for (op = 0; op < 3; op++) {
            sy_status st;
            sy_mem_fail_after(n);
            st = op == 0 ? sy_sort(&v, &i, t, 0, 0)
               : op == 1 ? sy_topk(&v, &i, t, 2, 0, 1)
                         : sy_kthvalue(&v, &i, t, 2, 0, 0);
            sy_mem_fail_after(0);
            CHECK(st == SY_OK || (st == SY_ERR_OOM && v == NULL && i == NULL));
            failures += st != SY_OK;
            sy_tensor_release(v), sy_tensor_release(i);
        }
        CHECK(sy_mem_in_use() == before);
    }
    CHECK(failures > 10);
    sy_tensor_release(t);
}

int main(void) {
    test_sort_random();
    test_topk_random();
    test_kthvalue_random();
    test_cases();
    test_expanded();
    test_large();
    test_alloc_failures();
    return check_summary("sort");
}
