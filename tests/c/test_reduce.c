/*
** test_reduce.c -- sy_reduce against naive loops over random data (every op,
** dtype, dim and keepdim; contiguous, transposed, sliced, permuted and
** expanded inputs), plus ties, NaN, empty inputs, result dtypes, precision,
** argument errors, allocation failures and the no-copy promise.
*/
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "core/alloc.h"
#include "core/tensor.h"
#include "ops/ops.h"

static const char *const op_names[SY_REDOP_COUNT] = {"sum", "mean", "prod", "max", "min",
                                                     "argmax", "argmin", "var", "std"};

/* ----------------------------------------------------------------- helpers */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng_next(void) {   /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

/* Small integers make ties common; floats are uniform in [-2, 2). */
static double rng_value(sy_dtype dt) {
    uint64_t r = rng_next() >> 11;
    switch (dt) {
    case SY_BOOL: return (double)(r & 1);
    case SY_U8: return (double)(r % 4);
    case SY_I64: return (double)((int64_t)(r % 7) - 3);
    default: return (double)r / 9007199254740992.0 * 4.0 - 2.0;
    }
}

static int next_index(int64_t *idx, int ndim, const int64_t *size) {
    int i;
    for (i = ndim - 1; i >= 0; i--) {
        if (++idx[i] < size[i]) return 1;
        idx[i] = 0;
    }
    return 0;
}

static sy_tensor *random_tensor(sy_dtype dt, int ndim, const int64_t *size) {
    sy_tensor *t;
    int64_t idx[SY_MAX_DIMS] = {0};
    if (sy_tensor_empty(&t, dt, ndim, size) != SY_OK) return NULL;
    if (sy_tensor_numel(t) == 0) return t;
    do sy_tensor_set(t, idx, rng_value(dt));
    while (next_index(idx, ndim, size));
    return t;
}

static sy_tensor *from_values(sy_dtype dt, int ndim, const int64_t *size, const double *v) {
    sy_tensor *t;
    int64_t idx[SY_MAX_DIMS] = {0}, k = 0;
    if (sy_tensor_empty(&t, dt, ndim, size) != SY_OK) return NULL;
    if (sy_tensor_numel(t) == 0) return t;
    do sy_tensor_set(t, idx, v[k++]);
    while (next_index(idx, ndim, size));
    return t;
}

static int64_t i64_at(const sy_tensor *t, const int64_t *idx) {
    int64_t off = t->offset;
    int i;
    for (i = 0; i < t->ndim; i++) off += idx[i] * t->stride[i];
    return ((const int64_t *)t->storage->data)[off];
}

/* Reference over one line of values: plain loops in long double. */
static double reference(sy_redop op, const double *v, int64_t n, int correction, int64_t *pos) {
    long double s = 0, p = 1, ss = 0, mean;
    int64_t k, best = 0;
    *pos = -1;
    switch (op) {
    case SY_RED_SUM:
    case SY_RED_MEAN:
        for (k = 0; k < n; k++) s += v[k];
        return op == SY_RED_SUM ? (double)s : (double)(s / (long double)n);
    case SY_RED_PROD:
        for (k = 0; k < n; k++) p *= v[k];
        return (double)p;
    case SY_RED_VAR:
    case SY_RED_STD:
        for (k = 0; k < n; k++) s += v[k];
        mean = s / (long double)n;
        for (k = 0; k < n; k++) ss += (v[k] - mean) * (v[k] - mean);
        ss /= (long double)(n > correction ? n - correction : 0);
        return op == SY_RED_STD ? sqrt((double)ss) : (double)ss;
    default:
        for (k = 1; k < n; k++) {
            int want_max = op == SY_RED_MAX || op == SY_RED_ARGMAX;
            if (isnan(v[best])) break;
            if (isnan(v[k]) || (want_max ? v[k] > v[best] : v[k] < v[best])) best = k;
        }
        *pos = best;
        return op == SY_RED_ARGMAX || op == SY_RED_ARGMIN ? (double)best : v[best];
    }
}

static sy_dtype expected_dtype(sy_redop op, sy_dtype in) {
    int fl = in == SY_F32 || in == SY_F64;
    switch (op) {
    case SY_RED_SUM:
    case SY_RED_PROD: return fl ? in : SY_I64;
    case SY_RED_MEAN:
    case SY_RED_VAR:
    case SY_RED_STD: return fl ? in : SY_F32;
    case SY_RED_ARGMAX:
    case SY_RED_ARGMIN: return SY_I64;
    default: return in;
    }
}

static int close_enough(double got, double want, sy_dtype dt) {
    double tol;
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == want;
    tol = dt == SY_F64 ? 1e-12 : dt == SY_F32 ? 2e-6 : 0;
    return fabs(got - want) <= tol * (1 + fabs(want));
}

/* Checks sy_reduce(op, a, dim, keepdim) element by element against the
** reference; returns the number of mismatches (reporting the first). */
static int compare_one(sy_redop op, const sy_tensor *a, int dim, int keepdim, int correction,
                       const char *what) {
    sy_tensor *out = NULL, *ind = NULL;
    int64_t oidx[SY_MAX_DIMS] = {0}, aidx[SY_MAX_DIMS] = {0}, pos, n, k;
    int64_t lsize[SY_MAX_DIMS];
    static double vals[16384];
    int bad = 0, i, want_ind = op == SY_RED_MAX || op == SY_RED_MIN, lnd;
    sy_status st = sy_reduce(&out, want_ind ? &ind : NULL, op, a, dim, keepdim, correction);
    if (st != SY_OK) {
        fprintf(stderr, "%s %s dim %d: failed: %s\n", what, op_names[op], dim, sy_error_message());
        return 1;
    }
    /* shape: the "line" index space is a's shape with the reduced dim(s) at 1 */
    for (i = 0; i < a->ndim; i++) lsize[i] = (dim == SY_ALL_DIMS || i == dim) ? 1 : a->size[i];
    lnd = a->ndim;
    if (out->dtype != expected_dtype(op, a->dtype)) {
        fprintf(stderr, "%s %s: dtype %s\n", what, op_names[op], sy_dtype_name(out->dtype));
        bad++;
    }
    if (keepdim) {
        if (out->ndim != a->ndim || memcmp(out->size, lsize, sizeof(int64_t) * (size_t)lnd) != 0)
            bad++;
    } else if (out->ndim != (dim == SY_ALL_DIMS ? 0 : a->ndim - 1)) {
        bad++;
    }
    if (ind && (ind->dtype != SY_I64 || !sy_tensor_same_shape(ind, out))) bad++;
    if (bad) fprintf(stderr, "%s %s dim %d keepdim %d: wrong result shape or dtype\n", what,
                     op_names[op], dim, keepdim);
    for (i = 0; i < lnd; i++)
        if (lsize[i] == 0) goto done;
    do {
        int64_t ridx[SY_MAX_DIMS];
        double got, want;
        int rn = 0;
        /* gather the line */
        n = 0;
        memcpy(aidx, oidx, sizeof aidx);
        if (dim == SY_ALL_DIMS) {
            int64_t z[SY_MAX_DIMS] = {0};
            if (sy_tensor_numel(a) > 0) {
                do vals[n++] = sy_tensor_get(a, z);
                while (next_index(z, a->ndim, a->size));
            }
        } else {
            for (k = 0; k < a->size[dim]; k++) {
                aidx[dim] = k;
                vals[n++] = sy_tensor_get(a, aidx);
            }
        }
        want = reference(op, vals, n, correction, &pos);
        for (i = 0; i < lnd; i++)
            if (keepdim) ridx[rn++] = oidx[i];
            else if (dim != SY_ALL_DIMS && i != dim) ridx[rn++] = oidx[i];
        got = out->dtype == SY_I64 ? (double)i64_at(out, ridx) : sy_tensor_get(out, ridx);
        if (!close_enough(got, want, a->dtype == SY_F64 ? SY_F64 : out->dtype) ||
            (ind && i64_at(ind, ridx) != pos)) {
            if (!bad)
                fprintf(stderr, "%s %s dim %d keepdim %d: got %.9g (pos %lld), want %.9g (pos %lld)\n",
                        what, op_names[op], dim, keepdim, got,
                        ind ? (long long)i64_at(ind, ridx) : -1LL, want, (long long)pos);
            bad++;
        }
    } while (next_index(oidx, lnd, lsize));
done:
    sy_tensor_release(out);
    sy_tensor_release(ind);
    return bad;
}

/* Every op, dim (and all dims), keepdim and a few corrections. */
static void compare_all(const sy_tensor *a, const char *what) {
    int op, dim, keepdim;
    int bad = 0;
    CHECK(sy_tensor_numel(a) <= 16384);   /* compare_one gathers lines into 16384 slots */
    for (op = 0; op < SY_REDOP_COUNT; op++)
        for (dim = SY_ALL_DIMS; dim < a->ndim; dim++)
            for (keepdim = 0; keepdim <= 1; keepdim++) {
                if (op == SY_RED_VAR || op == SY_RED_STD) {
                    bad += compare_one((sy_redop)op, a, dim, keepdim, 0, what);
                    bad += compare_one((sy_redop)op, a, dim, keepdim, 1, what);
                } else {
                    bad += compare_one((sy_redop)op, a, dim, keepdim, 1, what);
                }
            }
    if (bad) fprintf(stderr, "  ... in %s (%s)\n", what, sy_dtype_name(a->dtype));
    CHECK(bad == 0);
}

/* ------------------------------------------------------------------- tests */

static void test_random_contiguous(void) {
    static const int64_t shapes[][4] = {{1, 37}, {2, 5, 7}, {3, 3, 4, 6}, {2, 2, 4099},
                                        {2, 1, 9}, {3, 3, 600, 2}};
    static const sy_dtype dts[] = {SY_F32, SY_F64, SY_I64, SY_U8, SY_BOOL};
    size_t s, d;
    for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (d = 0; d < sizeof dts / sizeof dts[0]; d++) {
            sy_tensor *a = random_tensor(dts[d], (int)shapes[s][0], shapes[s] + 1);
            CHECK(a != NULL);
            if (a) compare_all(a, "contiguous");
            sy_tensor_release(a);
        }
}

static void test_random_strided(void) {
    static const sy_dtype dts[] = {SY_F32, SY_F64, SY_I64, SY_U8};
    size_t d;
    for (d = 0; d < sizeof dts / sizeof dts[0]; d++) {
        int64_t s2[2] = {6, 290}, s3[3] = {4, 5, 6}, s1[2] = {1, 7}, e2[2] = {5, 7};
        int perm[3] = {2, 0, 1};
        sy_tensor *a = random_tensor(dts[d], 2, s2), *b = random_tensor(dts[d], 3, s3);
        sy_tensor *c = random_tensor(dts[d], 2, s1), *v;
        if (sy_tensor_transpose(&v, a, 0, 1) == SY_OK) {   /* [290,6], strides (1,290) */
            compare_all(v, "transposed");
            sy_tensor_release(v);
        }
        if (sy_tensor_narrow(&v, a, 1, 3, 280) == SY_OK) {   /* rows with a gap */
            compare_all(v, "narrowed");
            sy_tensor_release(v);
        }
        if (sy_tensor_permute(&v, b, perm) == SY_OK) {
            compare_all(v, "permuted");
            sy_tensor_release(v);
        }
        if (sy_tensor_select(&v, b, 2, 3) == SY_OK) {   /* [4,5], strides (30,6) */
            compare_all(v, "selected");
            sy_tensor_release(v);
        }
        if (sy_tensor_expand(&v, c, 2, e2) == SY_OK) {   /* stride 0 on dim 0 */
            compare_all(v, "expanded");
            sy_tensor_release(v);
        }
        sy_tensor_release(a);
        sy_tensor_release(b);
        sy_tensor_release(c);
    }
}

static sy_tensor *reduce_ok(sy_redop op, const sy_tensor *a, int dim, int keepdim) {
    sy_tensor *out = NULL;
    CHECK_OK(sy_reduce(&out, NULL, op, a, dim, keepdim, 1));
    return out;
}

static double get1(const sy_tensor *t, int64_t i) {
    int64_t idx[SY_MAX_DIMS] = {0};
    if (t->ndim > 0) idx[t->ndim - 1] = i;
    return t->dtype == SY_I64 ? (double)i64_at(t, idx) : sy_tensor_get(t, idx);
}

static void test_ties_first_occurrence(void) {
    static const double row[] = {1, 3, 3, 2, 1, 3};
    static const double cols[] = {3, 1, 5,   /* [3,3]: ties down each column */
                                  3, 1, 5,
                                  2, 1, 5};
    int64_t n6[1] = {6}, s33[2] = {3, 3};
    sy_tensor *a = from_values(SY_F32, 1, n6, row), *b = from_values(SY_I64, 2, s33, cols);
    sy_tensor *v = NULL, *ind = NULL, *t;
    CHECK_OK(sy_reduce(&v, &ind, SY_RED_MAX, a, 0, 0, 1));
    if (v && ind) {
        CHECK(get1(v, 0) == 3);
        CHECK(i64_at(ind, NULL) == 1);
    }
    sy_tensor_release(v);
    sy_tensor_release(ind);
    t = reduce_ok(SY_RED_ARGMIN, a, SY_ALL_DIMS, 0);
    if (t) CHECK(get1(t, 0) == 0);
    sy_tensor_release(t);
    /* column path: reducing dim 0 walks three columns at once */
    CHECK_OK(sy_reduce(&v, &ind, SY_RED_MAX, b, 0, 0, 1));
    if (v && ind) {
        CHECK(get1(ind, 0) == 0 && get1(ind, 1) == 0 && get1(ind, 2) == 0);
        CHECK(get1(v, 0) == 3 && get1(v, 1) == 1 && get1(v, 2) == 5);
    }
    sy_tensor_release(v);
    sy_tensor_release(ind);
    CHECK_OK(sy_reduce(&v, &ind, SY_RED_MIN, b, 0, 1, 1));
    if (v && ind) {
        CHECK(ind->ndim == 2 && ind->size[0] == 1 && ind->size[1] == 3);
        CHECK(get1(ind, 0) == 2 && get1(ind, 1) == 0 && get1(ind, 2) == 0);
    }
    sy_tensor_release(v);
    sy_tensor_release(ind);
    sy_tensor_release(a);
    sy_tensor_release(b);
}

static void test_nan(void) {
    const double nan = NAN;
    const double row[] = {1, nan, 5, nan, -7};
    const double first[] = {nan, 9, -9};
    /* [3,2]: column 1 has a NaN in the middle */
    const double cols[] = {1, 2, 4, nan, 3, 8};
    int64_t n5[1] = {5}, n3[1] = {3}, s32[2] = {3, 2};
    sy_tensor *a = from_values(SY_F32, 1, n5, row), *b = from_values(SY_F64, 1, n3, first);
    sy_tensor *c = from_values(SY_F32, 2, s32, cols);
    sy_tensor *v = NULL, *ind = NULL, *t;
    int op;
    for (op = SY_RED_MAX; op <= SY_RED_MIN; op++) {
        CHECK_OK(sy_reduce(&v, &ind, (sy_redop)op, a, 0, 0, 1));
        if (v && ind) CHECK(isnan(get1(v, 0)) && i64_at(ind, NULL) == 1);
        sy_tensor_release(v);
        sy_tensor_release(ind);
        t = reduce_ok((sy_redop)op, b, SY_ALL_DIMS, 0);   /* NaN in front stays */
        if (t) CHECK(isnan(get1(t, 0)));
        sy_tensor_release(t);
    }
    t = reduce_ok(SY_RED_ARGMAX, a, 0, 0);
    if (t) CHECK(get1(t, 0) == 1);
    sy_tensor_release(t);
    t = reduce_ok(SY_RED_ARGMIN, b, SY_ALL_DIMS, 0);
    if (t) CHECK(get1(t, 0) == 0);
    sy_tensor_release(t);
    t = reduce_ok(SY_RED_SUM, a, 0, 0);
    if (t) CHECK(isnan(get1(t, 0)));
    sy_tensor_release(t);
    CHECK_OK(sy_reduce(&v, &ind, SY_RED_MAX, c, 0, 0, 1));
    if (v && ind) {
        CHECK(get1(v, 0) == 4 && get1(ind, 0) == 1);
        CHECK(isnan(get1(v, 1)) && get1(ind, 1) == 1);
    }
    sy_tensor_release(v);
    sy_tensor_release(ind);
    t = reduce_ok(SY_RED_ARGMIN, c, 0, 0);
    if (t) CHECK(get1(t, 0) == 0 && get1(t, 1) == 1);
    sy_tensor_release(t);
    sy_tensor_release(a);
    sy_tensor_release(b);
    sy_tensor_release(c);
}

static void test_empty(void) {
    int64_t z[1] = {0}, s30[2] = {3, 0}, s03[2] = {0, 3};
    sy_tensor *e = NULL, *r = NULL, *c = NULL, *t, *ind;
    CHECK_OK(sy_tensor_new(&e, SY_F32, 1, z));
    CHECK_OK(sy_tensor_new(&r, SY_F32, 2, s30));
    CHECK_OK(sy_tensor_new(&c, SY_I64, 2, s03));
    if (!e || !r || !c) goto done;
    t = reduce_ok(SY_RED_SUM, e, SY_ALL_DIMS, 0);
    if (t) CHECK(t->ndim == 0 && get1(t, 0) == 0);
    sy_tensor_release(t);
    t = reduce_ok(SY_RED_PROD, e, 0, 0);
    if (t) CHECK(t->ndim == 0 && get1(t, 0) == 1);
    sy_tensor_release(t);
    t = reduce_ok(SY_RED_MEAN, e, SY_ALL_DIMS, 0);
    if (t) CHECK(isnan(get1(t, 0)));
    sy_tensor_release(t);
    t = reduce_ok(SY_RED_VAR, e, SY_ALL_DIMS, 0);
    if (t) CHECK(isnan(get1(t, 0)));
    sy_tensor_release(t);
    t = reduce_ok(SY_RED_SUM, r, 1, 0);   /* three empty rows sum to zeros */
    if (t) CHECK(t->ndim == 1 && t->size[0] == 3 && get1(t, 0) == 0 && get1(t, 2) == 0);
    sy_tensor_release(t);
    t = reduce_ok(SY_RED_SUM, c, 0, 0);   /* int64 sums of nothing */
    if (t) CHECK(t->ndim == 1 && t->size[0] == 3 && t->dtype == SY_I64 && get1(t, 1) == 0);
    sy_tensor_release(t);
    t = reduce_ok(SY_RED_MAX, c, 1, 1);   /* nothing to reduce over [0,3] along dim 1 */
    if (t) CHECK(t->ndim == 2 && t->size[0] == 0 && t->size[1] == 1);
    sy_tensor_release(t);
    CHECK_FAILS(sy_reduce(&t, NULL, SY_RED_MAX, e, SY_ALL_DIMS, 0, 1), SY_ERR_SHAPE);
    CHECK(t == NULL);
    CHECK(strstr(sy_error_message(), "max: cannot reduce over an empty dimension") != NULL);
    CHECK(strstr(sy_error_message(), "[0]") != NULL);
    ind = e;   /* must be reset to NULL on failure */
    CHECK_FAILS(sy_reduce(&t, &ind, SY_RED_MIN, r, 1, 0, 1), SY_ERR_SHAPE);
    CHECK(t == NULL && ind == NULL);
    CHECK(strstr(sy_error_message(), "[3,0]") != NULL);
    CHECK_FAILS(sy_reduce(&t, NULL, SY_RED_ARGMAX, c, 0, 0, 1), SY_ERR_SHAPE);
    CHECK(strstr(sy_error_message(), "argmax") != NULL);
    CHECK_FAILS(sy_reduce(&t, NULL, SY_RED_ARGMIN, e, SY_ALL_DIMS, 0, 1), SY_ERR_SHAPE);
done:
    sy_tensor_release(e);
    sy_tensor_release(r);
    sy_tensor_release(c);
}

static void test_shapes_and_dtypes(void) {
    int64_t s[3] = {2, 3, 4};
    sy_tensor *a = random_tensor(SY_BOOL, 3, s), *t;
    if (!a) return;
    t = reduce_ok(SY_RED_SUM, a, 1, 1);
    if (t) CHECK(t->ndim == 3 && t->size[0] == 2 && t->size[1] == 1 && t->size[2] == 4 &&
                 t->dtype == SY_I64);
    sy_tensor_release(t);
    t = reduce_ok(SY_RED_SUM, a, 1, 0);
    if (t) CHECK(t->ndim == 2 && t->size[0] == 2 && t->size[1] == 4);
    sy_tensor_release(t);
    t = reduce_ok(SY_RED_MEAN, a, SY_ALL_DIMS, 1);
    if (t) CHECK(t->ndim == 3 && t->size[0] == 1 && t->size[1] == 1 && t->size[2] == 1 &&
                 t->dtype == SY_F32);
    sy_tensor_release(t);
    t = reduce_ok(SY_RED_MAX, a, SY_ALL_DIMS, 0);
    if (t) CHECK(t->ndim == 0 && t->dtype == SY_BOOL);
    sy_tensor_release(t);
    t = reduce_ok(SY_RED_ARGMAX, a, 2, 0);
    if (t) CHECK(t->ndim == 2 && t->dtype == SY_I64);
    sy_tensor_release(t);
    sy_tensor_release(a);
    /* a 0-d input reduces over all dims to a 0-d result */
    CHECK_OK(sy_scalar(&a, SY_F64, 2.5));
    t = reduce_ok(SY_RED_SUM, a, SY_ALL_DIMS, 0);
    if (t) CHECK(t->ndim == 0 && get1(t, 0) == 2.5);
    sy_tensor_release(t);
    t = reduce_ok(SY_RED_ARGMAX, a, SY_ALL_DIMS, 1);
    if (t) CHECK(t->ndim == 0 && get1(t, 0) == 0);
    sy_tensor_release(t);
    sy_tensor_release(a);
}

static void test_values(void) {
    static const double v4[] = {1, 2, 3, 4};
    static const double big[] = {4611686018427387904.0, 1, 1};   /* 2^62 */
    int64_t n4[1] = {4}, n3[1] = {3}, n1[1] = {1}, n1001[1] = {1001};
    sy_tensor *a = from_values(SY_F32, 1, n4, v4), *b, *t = NULL;
    float *f;
    int64_t *q, k;
    if (!a) return;
    CHECK_OK(sy_reduce(&t, NULL, SY_RED_VAR, a, 0, 0, 1));
    if (t) CHECK_NEAR(get1(t, 0), 5.0 / 3.0, 1e-6);
    sy_tensor_release(t);
    CHECK_OK(sy_reduce(&t, NULL, SY_RED_VAR, a, 0, 0, 0));
    if (t) CHECK_NEAR(get1(t, 0), 1.25, 1e-7);
    sy_tensor_release(t);
    CHECK_OK(sy_reduce(&t, NULL, SY_RED_STD, a, SY_ALL_DIMS, 0, 1));
    if (t) CHECK_NEAR(get1(t, 0), sqrt(5.0 / 3.0), 1e-6);
    sy_tensor_release(t);
    CHECK_OK(sy_reduce(&t, NULL, SY_RED_VAR, a, 0, 0, 4));   /* divisor 0 */
    if (t) CHECK(isinf(get1(t, 0)) && get1(t, 0) > 0);
    sy_tensor_release(t);
    t = reduce_ok(SY_RED_PROD, a, 0, 0);
    if (t) CHECK(get1(t, 0) == 24);
    sy_tensor_release(t);
    t = reduce_ok(SY_RED_MEAN, a, 0, 0);
    if (t) CHECK(get1(t, 0) == 2.5);
    sy_tensor_release(t);
    sy_tensor_release(a);

    a = from_values(SY_F32, 1, n1, v4);   /* one sample: unbiased variance is NaN */
    t = a ? reduce_ok(SY_RED_VAR, a, 0, 0) : NULL;
    if (t) CHECK(isnan(get1(t, 0)));
    sy_tensor_release(t);
    sy_tensor_release(a);

    /* int64 stays exact beyond 2^53 */
    if (sy_tensor_empty(&b, SY_I64, 1, n3) == SY_OK) {
        q = sy_tensor_data(b);
        q[0] = (int64_t)big[0], q[1] = 1, q[2] = 1;
        t = reduce_ok(SY_RED_SUM, b, 0, 0);
        if (t) CHECK(i64_at(t, NULL) == (int64_t)big[0] + 2);
        sy_tensor_release(t);
        q[1] = (int64_t)big[0] + 1;
        t = reduce_ok(SY_RED_MAX, b, SY_ALL_DIMS, 0);
        if (t) CHECK(i64_at(t, NULL) == (int64_t)big[0] + 1);
        sy_tensor_release(t);
        t = reduce_ok(SY_RED_MEAN, b, 0, 0);
        if (t) CHECK(t->dtype == SY_F32);
        sy_tensor_release(t);
        sy_tensor_release(b);
    }

    /* float32 sums accumulate in double: 2^24 + 1000 ones is exact, where a
    ** float accumulator would stay at 2^24 */
    if (sy_tensor_empty(&b, SY_F32, 1, n1001) == SY_OK) {
        f = sy_tensor_data(b);
        f[0] = 16777216.0f;
        for (k = 1; k < 1001; k++) f[k] = 1.0f;
        t = reduce_ok(SY_RED_SUM, b, 0, 0);
        if (t) CHECK(get1(t, 0) == 16778216.0);
        sy_tensor_release(t);
        t = reduce_ok(SY_RED_MEAN, b, SY_ALL_DIMS, 0);
        if (t) CHECK_NEAR(get1(t, 0), 16778216.0 / 1001.0, 1e-3);
        sy_tensor_release(t);
        sy_tensor_release(b);
    }
}

static void test_errors(void) {
    int64_t s[2] = {2, 3};
    sy_tensor *a = random_tensor(SY_F32, 2, s), *t = NULL, *z = NULL;
    if (!a) return;
    CHECK_FAILS(sy_reduce(&t, NULL, SY_RED_SUM, a, 2, 0, 1), SY_ERR_INDEX);
    CHECK(t == NULL);
    CHECK(strstr(sy_error_message(), "sum: dimension 2 out of range for a 2-d tensor") != NULL);
    CHECK_FAILS(sy_reduce(&t, NULL, SY_RED_MEAN, a, -3, 0, 1), SY_ERR_INDEX);
    CHECK_FAILS(sy_reduce(&t, NULL, SY_RED_VAR, a, 0, 0, -1), SY_ERR_ARG);
    CHECK(strstr(sy_error_message(), "var: correction -1 must not be negative") != NULL);
    CHECK_FAILS(sy_reduce(&t, NULL, SY_REDOP_COUNT, a, 0, 0, 1), SY_ERR_ARG);
    CHECK_OK(sy_scalar(&z, SY_F32, 1));
    if (z) {
        CHECK_FAILS(sy_reduce(&t, NULL, SY_RED_SUM, z, 0, 0, 1), SY_ERR_INDEX);
        CHECK(strstr(sy_error_message(), "0-d tensor") != NULL);
    }
    sy_tensor_release(z);
    sy_tensor_release(a);
}

/* Every allocation sy_reduce makes may fail; each failure must be reported
** and leave nothing allocated. */
static void test_alloc_failures(void) {
    int64_t s[2] = {7, 5};
    sy_tensor *a = random_tensor(SY_F32, 2, s), *tr = NULL, *t, *ind;
    int64_t before;
    int k, failures = 0, leaks = 0, done = 0;
    if (!a || sy_tensor_transpose(&tr, a, 0, 1) != SY_OK) return;
    before = sy_mem_in_use();
    for (k = 1; k <= 16 && !done; k++) {
        sy_status st1, st2;
        sy_mem_fail_after(k);
        st1 = sy_reduce(&t, &ind, SY_RED_MAX, tr, 1, 0, 1);
        sy_tensor_release(t);
        sy_tensor_release(ind);
        sy_mem_fail_after(k);
        st2 = sy_reduce(&t, NULL, SY_RED_ARGMAX, tr, SY_ALL_DIMS, 0, 1);   /* copies tr */
        sy_tensor_release(t);
        sy_mem_fail_after(0);
        if (st1 == SY_ERR_OOM || st2 == SY_ERR_OOM) failures++;
        else if (st1 == SY_OK && st2 == SY_OK) done = 1;
        if (sy_mem_in_use() != before) leaks++;
    }
    CHECK(done);
    CHECK(failures >= 3);
    CHECK(leaks == 0);
    sy_tensor_release(tr);
    sy_tensor_release(a);
}

/* Reductions read strided inputs in place: a transposed 512 KiB tensor is
** never copied, over one dim or (order-free ops) over all of them; the
** kernel's work space is a few bytes per output. */
static void test_no_copy(void) {
    int64_t s[2] = {256, 512};
    sy_tensor *a = random_tensor(SY_F32, 2, s), *tr = NULL, *t;
    int64_t before;
    if (!a || sy_tensor_transpose(&tr, a, 0, 1) != SY_OK) return;
    before = sy_mem_in_use();
    sy_mem_reset_peak();
    t = reduce_ok(SY_RED_SUM, tr, SY_ALL_DIMS, 0);
    sy_tensor_release(t);
    t = reduce_ok(SY_RED_VAR, tr, 0, 0);   /* 256 outputs of 4 bytes */
    sy_tensor_release(t);
    t = reduce_ok(SY_RED_MAX, tr, 1, 0);
    sy_tensor_release(t);
    CHECK(sy_mem_peak() - before < 64 * 1024);
    sy_tensor_release(tr);
    sy_tensor_release(a);
}

int main(void) {
    test_random_contiguous();
    test_random_strided();
    test_ties_first_occurrence();
    test_nan();
    test_empty();
    test_shapes_and_dtypes();
    test_values();
    test_errors();
    test_alloc_failures();
    test_no_copy();
    return check_summary("reduce");
}
