/*
** test_index.c -- cat, stack, index_select and gather against naive
** element-by-element implementations on random data, with non-contiguous
** and expanded inputs, plus argument errors and allocation failures.
*/
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "core/alloc.h"
#include "core/tensor.h"
#include "ops/ops.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint64_t rnd(void) {   /* xorshift64*: fixed seed, reproducible */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Du;
}

static int64_t rnd_below(int64_t n) { return (int64_t)(rnd() % (uint64_t)n); }

/* Random contents: small integers for integer dtypes, fractions for floats. */
static void fill_random(sy_tensor *t) {
    int64_t idx[SY_MAX_DIMS] = {0}, n = sy_tensor_numel(t), k;
    int d;
    for (k = 0; k < n; k++) {
        double v = (double)rnd_below(2001) - 1000;
        sy_tensor_set(t, idx, sy_dtype_is_float(t->dtype) ? v / 8 : v);
        for (d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->size[d]) break;
            idx[d] = 0;
        }
    }
}

/* Steps idx through shape (ndim, size) in row-major order; 0 at the end. */
static int next_index(int64_t *idx, int ndim, const int64_t *size) {
    int d;
    for (d = ndim - 1; d >= 0; d--) {
        if (++idx[d] < size[d]) return 1;
        idx[d] = 0;
    }
    return 0;
}

/* A random tensor of the given shape that is a transposed (so
** non-contiguous) view when ndim >= 2. */
static sy_tensor *random_view(sy_dtype dt, int ndim, const int64_t *size) {
    int64_t s[SY_MAX_DIMS];
    sy_tensor *base, *v;
    memcpy(s, size, sizeof(int64_t) * (size_t)ndim);
    if (ndim >= 2) {
        s[0] = size[ndim - 1];
        s[ndim - 1] = size[0];
    }
    if (sy_tensor_empty(&base, dt, ndim, s)) return NULL;
    fill_random(base);
    if (ndim < 2) return base;
    sy_tensor_transpose(&v, base, 0, ndim - 1);
    sy_tensor_release(base);
    return v;
}

/* ------------------------------------------------------------------- cat */

static void test_cat_random(void) {
    int trial;
    for (trial = 0; trial < 60; trial++) {
        int ndim = 1 + (int)rnd_below(3), dim = (int)rnd_below(ndim), n = 1 + (int)rnd_below(4);
        int64_t shape[SY_MAX_DIMS], idx[SY_MAX_DIMS] = {0}, total = 0, bad = 0;
        sy_tensor *ts[4], *out;
        static const sy_dtype dts[3] = {SY_F32, SY_F64, SY_I64};
        sy_dtype want;
        int i, d;
        for (d = 0; d < ndim; d++) shape[d] = 1 + rnd_below(4);
        for (i = 0; i < n; i++) {
            int64_t s[SY_MAX_DIMS];
            memcpy(s, shape, sizeof s);
            s[dim] = rnd_below(4);   /* zero-length parts too */
            ts[i] = random_view(dts[(trial + i) % 3], ndim, s);
            total += s[dim];
        }
        want = ts[0]->dtype;
        for (i = 1; i < n; i++) want = sy_dtype_promote(want, ts[i]->dtype);
        CHECK_OK(sy_cat(&out, (const sy_tensor *const *)ts, n, dim));
        if (!out) continue;
        CHECK(out->dtype == want && out->ndim == ndim && out->size[dim] == total);
        if (total > 0) {
            do {
                /* find the part holding out[idx] */
                int64_t j = idx[dim], src[SY_MAX_DIMS];
                for (i = 0; j >= ts[i]->size[dim]; i++) j -= ts[i]->size[dim];
                memcpy(src, idx, sizeof src);
                src[dim] = j;
                if (sy_tensor_get(out, idx) != sy_tensor_get(ts[i], src)) bad++;
            } while (next_index(idx, ndim, out->size));
        }
        CHECK(bad == 0);
        sy_tensor_release(out);
        for (i = 0; i < n; i++) sy_tensor_release(ts[i]);
    }
}

static void test_cat_cases(void) {
    int64_t s23[2] = {2, 3}, s24[2] = {2, 4}, s0[1] = {0}, s3[1] = {3};
    sy_tensor *a, *b, *e, *z, *out, *ex;
    const sy_tensor *ts[3];
    int64_t idx[2] = {1, 2};
    sy_tensor_new(&a, SY_F32, 2, s23);
    sy_tensor_new(&b, SY_F32, 2, s24);
    sy_tensor_new(&e, SY_F32, 1, s0);
    sy_tensor_new(&z, SY_F32, 0, NULL);
    sy_tensor_fill_(a, 1);
    sy_tensor_fill_(b, 2);

    /* along dim 1 the shapes fit; along dim 0 they do not */
    ts[0] = a, ts[1] = b;
    CHECK_OK(sy_cat(&out, ts, 2, 1));
    CHECK(out && out->size[0] == 2 && out->size[1] == 7);
    if (out) {
        CHECK(sy_tensor_get(out, idx) == 1);
        idx[1] = 3;
        CHECK(sy_tensor_get(out, idx) == 2);
    }
    sy_tensor_release(out);
    CHECK_FAILS(sy_cat(&out, ts, 2, 0), SY_ERR_SHAPE);
    CHECK(out == NULL);
    CHECK(strstr(sy_error_message(), "the 2nd tensor has shape [2,4] but the 1st has shape [2,3]") != NULL);

    /* a 1-d empty tensor joins anything, wherever it stands */
    ts[0] = e, ts[1] = a, ts[2] = e;
    CHECK_OK(sy_cat(&out, ts, 3, 0));
    CHECK(out && out->ndim == 2 && out->size[0] == 2 && out->size[1] == 3);
    sy_tensor_release(out);
    ts[0] = e, ts[1] = e;
    CHECK_OK(sy_cat(&out, ts, 2, 0));
    CHECK(out && out->ndim == 1 && out->size[0] == 0);
    sy_tensor_release(out);

    /* errors */
    ts[0] = a, ts[1] = z;
    CHECK_FAILS(sy_cat(&out, ts, 2, 0), SY_ERR_SHAPE);
    CHECK(strstr(sy_error_message(), "2nd tensor is 0-d") != NULL);
    ts[0] = a, ts[1] = a;
    CHECK_FAILS(sy_cat(&out, ts, 2, 2), SY_ERR_INDEX);
    CHECK_FAILS(sy_cat(&out, ts, 2, -1), SY_ERR_INDEX);
    CHECK_FAILS(sy_cat(&out, ts, 0, 0), SY_ERR_ARG);

    /* an expanded (stride 0) input */
    {
        sy_tensor *r;
        sy_tensor_new(&r, SY_I64, 1, s3);
        for (idx[0] = 0; idx[0] < 3; idx[0]++) sy_tensor_set(r, idx, (double)(idx[0] + 5));
        sy_tensor_expand(&ex, r, 2, s23);
        ts[0] = ex, ts[1] = a;
        CHECK_OK(sy_cat(&out, ts, 2, 0));
        CHECK(out && out->dtype == SY_F32 && out->size[0] == 4);
        if (out) {
            int64_t i2[2] = {1, 2};
            CHECK(sy_tensor_get(out, i2) == 7);
            i2[0] = 2;
            CHECK(sy_tensor_get(out, i2) == 1);
        }
        sy_tensor_release(out);
        sy_tensor_release(ex);
        sy_tensor_release(r);
    }
    sy_tensor_release(a);
    sy_tensor_release(b);
    sy_tensor_release(e);
    sy_tensor_release(z);
}

/* ----------------------------------------------------------------- stack */

static void test_stack(void) {
    int trial;
    for (trial = 0; trial < 30; trial++) {
        int ndim = (int)rnd_below(3), dim = (int)rnd_below(ndim + 1), n = 1 + (int)rnd_below(4);
        int64_t shape[SY_MAX_DIMS], idx[SY_MAX_DIMS] = {0}, bad = 0;
        sy_tensor *ts[4], *out;
        int i, d;
        for (d = 0; d < ndim; d++) shape[d] = 1 + rnd_below(4);
        for (i = 0; i < n; i++) ts[i] = random_view(i == 1 ? SY_I64 : SY_F64, ndim, shape);
        CHECK_OK(sy_stack(&out, (const sy_tensor *const *)ts, n, dim));
        if (!out) continue;
        CHECK(out->dtype == SY_F64 && out->ndim == ndim + 1 && out->size[dim] == n);
        do {
            int64_t src[SY_MAX_DIMS];
            for (d = 0, i = 0; d <= ndim; d++)
                if (d != dim) src[i++] = idx[d];
            if (sy_tensor_get(out, idx) != sy_tensor_get(ts[idx[dim]], src)) bad++;
        } while (next_index(idx, ndim + 1, out->size));
        CHECK(bad == 0);
        sy_tensor_release(out);
        for (i = 0; i < n; i++) sy_tensor_release(ts[i]);
    }
    {
        int64_t s2[1] = {2}, s3[1] = {3};
        sy_tensor *a, *b, *out;
        const sy_tensor *ts[3];
        sy_tensor_new(&a, SY_F32, 1, s2);
        sy_tensor_new(&b, SY_F32, 1, s3);
        ts[0] = a, ts[1] = a, ts[2] = b;
        CHECK_FAILS(sy_stack(&out, ts, 3, 0), SY_ERR_SHAPE);
        CHECK(out == NULL);
        CHECK(strstr(sy_error_message(), "the 3rd tensor has shape [3] but the 1st has shape [2]") != NULL);
        CHECK_FAILS(sy_stack(&out, ts, 2, 2), SY_ERR_INDEX);
        CHECK_FAILS(sy_stack(&out, ts, 0, 0), SY_ERR_ARG);
        CHECK_OK(sy_stack(&out, ts, 2, 1));
        CHECK(out && out->size[0] == 2 && out->size[1] == 2);
        sy_tensor_release(out);
        sy_tensor_release(a);
        sy_tensor_release(b);
    }
}

/* ---------------------------------------------------------- index_select */

/* A 1-d int64 index of length m with entries in [0, size), taken as every
** second element of a longer tensor so that it is strided. */
static sy_tensor *random_index(int64_t m, int64_t size) {
    int64_t s[1] = {2 * m + 1}, i, at[1];
    sy_tensor *base, *v, *w;
    sy_tensor_empty(&base, SY_I64, 1, s);
    for (i = 0; i < s[0]; i++) {
        at[0] = i;
        sy_tensor_set(base, at, (double)rnd_below(size));
    }
    /* every second element: view [m+?,2] and select column 0 */
    {
        int64_t sz[2] = {m, 2};
        sy_tensor_narrow(&w, base, 0, 0, 2 * m);
        sy_tensor_view(&v, w, 2, sz);
        sy_tensor_release(w);
        sy_tensor_select(&w, v, 1, 0);
        sy_tensor_release(v);
    }
    sy_tensor_release(base);
    return w;
}

static void test_index_select_random(void) {
    int trial;
    for (trial = 0; trial < 40; trial++) {
        int ndim = 1 + (int)rnd_below(3), dim = (int)rnd_below(ndim), d;
        int64_t shape[SY_MAX_DIMS], idx[SY_MAX_DIMS] = {0}, m = rnd_below(6), bad = 0;
        sy_tensor *t, *index, *out;
        for (d = 0; d < ndim; d++) shape[d] = 1 + rnd_below(4);
        t = random_view(trial % 2 ? SY_F32 : SY_I64, ndim, shape);
        index = random_index(m, shape[dim]);
        CHECK(index->ndim == 1 && (m < 2 || !sy_tensor_is_contiguous(index)));
        CHECK_OK(sy_index_select(&out, t, dim, index));
        if (out) {
            CHECK(out->dtype == t->dtype && out->size[dim] == m);
            if (m > 0) {
                do {
                    int64_t src[SY_MAX_DIMS], at[1] = {idx[dim]};
                    memcpy(src, idx, sizeof src);
                    src[dim] = (int64_t)sy_tensor_get(index, at);
                    if (sy_tensor_get(out, idx) != sy_tensor_get(t, src)) bad++;
                } while (next_index(idx, ndim, out->size));
            }
            CHECK(bad == 0);
        }
        sy_tensor_release(out);
        sy_tensor_release(index);
        sy_tensor_release(t);
    }
}

static void test_index_select_errors(void) {
    int64_t s23[2] = {2, 3}, s2[1] = {2}, s22[2] = {2, 2}, at[1] = {1};
    sy_tensor *t, *index, *fidx, *idx2, *out;
    sy_tensor_new(&t, SY_F32, 2, s23);
    sy_tensor_new(&index, SY_I64, 1, s2);
    sy_tensor_new(&fidx, SY_F32, 1, s2);
    sy_tensor_new(&idx2, SY_I64, 2, s22);
    sy_tensor_set(index, at, 3);
    CHECK_FAILS(sy_index_select(&out, t, 1, index), SY_ERR_INDEX);
    CHECK(out == NULL);
    CHECK(strstr(sy_error_message(), "index 3 is out of range for dimension 1 of size 3") != NULL);
    sy_tensor_set(index, at, -1);
    CHECK_FAILS(sy_index_select(&out, t, 1, index), SY_ERR_INDEX);
    CHECK(strstr(sy_error_message(), "index -1") != NULL);
    sy_tensor_set(index, at, 2);
    CHECK_OK(sy_index_select(&out, t, 1, index));
    sy_tensor_release(out);
    CHECK_FAILS(sy_index_select(&out, t, 0, index), SY_ERR_INDEX);   /* 2 >= size 2 */
    CHECK_FAILS(sy_index_select(&out, t, 2, index), SY_ERR_INDEX);
    CHECK_FAILS(sy_index_select(&out, t, 1, fidx), SY_ERR_DTYPE);
    CHECK(strstr(sy_error_message(), "int64") != NULL);
    CHECK_FAILS(sy_index_select(&out, t, 1, idx2), SY_ERR_SHAPE);
    sy_tensor_release(t);
    sy_tensor_release(index);
    sy_tensor_release(fidx);
    sy_tensor_release(idx2);
}

/* ---------------------------------------------------------------- gather */

static void test_gather_random(void) {
    int trial;
    for (trial = 0; trial < 40; trial++) {
        int ndim = 1 + (int)rnd_below(3), dim = (int)rnd_below(ndim), d;
        int64_t shape[SY_MAX_DIMS], ishape[SY_MAX_DIMS], idx[SY_MAX_DIMS] = {0}, bad = 0;
        sy_tensor *t, *index, *out;
        for (d = 0; d < ndim; d++) {
            shape[d] = 1 + rnd_below(4);
            /* the index may be smaller off dim and any size along it */
            ishape[d] = d == dim ? rnd_below(6) : 1 + rnd_below(shape[d]);
        }
        t = random_view(trial % 3 == 0 ? SY_F64 : SY_F32, ndim, shape);
        index = random_view(SY_I64, ndim, ishape);
        if (sy_tensor_numel(index) > 0) {
            do sy_tensor_set(index, idx, (double)rnd_below(shape[dim]));
            while (next_index(idx, ndim, ishape));
        }
        CHECK_OK(sy_gather(&out, t, dim, index));
        if (out) {
            CHECK(out->dtype == t->dtype && sy_tensor_same_shape(out, index));
            if (sy_tensor_numel(out) > 0) {
                do {
                    int64_t src[SY_MAX_DIMS];
                    memcpy(src, idx, sizeof src);
                    src[dim] = (int64_t)sy_tensor_get(index, idx);
                    if (sy_tensor_get(out, idx) != sy_tensor_get(t, src)) bad++;
                } while (next_index(idx, ndim, ishape));
            }
            CHECK(bad == 0);
        }
        sy_tensor_release(out);
        sy_tensor_release(index);
        sy_tensor_release(t);
    }
}

static void test_gather_cases(void) {
    /* t = [[1,2],[3,4]]; gather(t, 1, [[0,0],[1,0]]) = [[1,1],[4,3]] (torch doc example) */
    int64_t s22[2] = {2, 2}, s32[2] = {3, 2}, s2[1] = {2}, i00[2] = {0, 0}, i01[2] = {0, 1},
            i10[2] = {1, 0}, i11[2] = {1, 1};
    sy_tensor *t, *index, *out, *big, *flat;
    sy_tensor_new(&t, SY_F32, 2, s22);
    sy_tensor_new(&index, SY_I64, 2, s22);
    sy_tensor_set(t, i00, 1), sy_tensor_set(t, i01, 2), sy_tensor_set(t, i10, 3),
        sy_tensor_set(t, i11, 4);
    sy_tensor_set(index, i10, 1);
    CHECK_OK(sy_gather(&out, t, 1, index));
    if (out) {
        CHECK(sy_tensor_get(out, i00) == 1 && sy_tensor_get(out, i01) == 1);
        CHECK(sy_tensor_get(out, i10) == 4 && sy_tensor_get(out, i11) == 3);
    }
    sy_tensor_release(out);

    sy_tensor_set(index, i11, 2);
    CHECK_FAILS(sy_gather(&out, t, 1, index), SY_ERR_INDEX);
    CHECK(out == NULL);
    CHECK(strstr(sy_error_message(), "gather: index 2 is out of range for dimension 1 of size 2") != NULL);
    sy_tensor_set(index, i11, 0);

    /* an index larger than the input off the gathered dim */
    sy_tensor_new(&big, SY_I64, 2, s32);
    CHECK_FAILS(sy_gather(&out, t, 1, big), SY_ERR_SHAPE);
    CHECK(strstr(sy_error_message(), "[3,2]") != NULL && strstr(sy_error_message(), "[2,2]") != NULL);
    CHECK_OK(sy_gather(&out, t, 0, big));   /* larger along dim is fine */
    sy_tensor_release(out);
    sy_tensor_new(&flat, SY_I64, 1, s2);
    CHECK_FAILS(sy_gather(&out, t, 0, flat), SY_ERR_SHAPE);
    CHECK_FAILS(sy_gather(&out, t, 2, index), SY_ERR_INDEX);
    CHECK_FAILS(sy_gather(&out, t, 0, t), SY_ERR_DTYPE);
    sy_tensor_release(big);
    sy_tensor_release(flat);
    sy_tensor_release(index);
    sy_tensor_release(t);
}

/* ------------------------------------------------- allocation failures */

/* Every allocation an op makes may fail: it must report it, set *out to
** NULL and give back what it took. */
static void test_alloc_failures(void) {
    int64_t s23[2] = {2, 3}, s2[1] = {2};
    sy_tensor *a, *index, *index2, *out;
    const sy_tensor *ts[2];
    int64_t before, n;
    int kinds = 0;
    sy_tensor_new(&a, SY_F32, 2, s23);
    sy_tensor_new(&index, SY_I64, 1, s2);
    sy_tensor_new(&index2, SY_I64, 2, s23);
    ts[0] = a, ts[1] = a;
    before = sy_mem_in_use();
    for (n = 1; n <= 12; n++) {
        int k;
        for (k = 0; k < 4; k++) {
            sy_status st;
            sy_mem_fail_after(n);
            if (k == 0) st = sy_cat(&out, ts, 2, 0);
            else if (k == 1) st = sy_stack(&out, ts, 2, 1);
            else if (k == 2) st = sy_index_select(&out, a, 1, index);
            else st = sy_gather(&out, a, 0, index2);
            sy_mem_fail_after(0);
            /* (sy_tensor_copy_ reports a failed view allocation as a shape
            ** error, so the status alone is not checked for OOM) */
            CHECK((st == SY_OK) == (out != NULL));
            if (st != SY_OK) kinds++;
            sy_tensor_release(out);
        }
        CHECK(sy_mem_in_use() == before);
    }
    CHECK(kinds > 10);   /* the failures were really injected */
    sy_tensor_release(a);
    sy_tensor_release(index);
    sy_tensor_release(index2);
}

int main(void) {
    test_cat_random();
    test_cat_cases();
    test_stack();
    test_index_select_random();
    test_index_select_errors();
    test_gather_random();
    test_gather_cases();
    test_alloc_failures();
    return check_summary("index");
}
