/*
** test_tensor.c -- the tensor core: creation, views sharing storage,
** view/reshape stride rules, expand/broadcasting, copies across dtypes,
** elementwise ops against scalar loops, error statuses and accounting.
*/
#include <string.h>

#include "check.h"
#include "core/alloc.h"
#include "core/tensor.h"
#include "ops/ops.h"

static sy_tensor *arange_f32(int ndim, const int64_t *size) {
    sy_tensor *t = NULL;
    int64_t i, n;
    CHECK_OK(sy_tensor_empty(&t, SY_F32, ndim, size));
    n = sy_tensor_numel(t);
    for (i = 0; i < n; i++) ((float *)t->storage->data)[i] = (float)i;
    return t;
}

static double at2(const sy_tensor *t, int64_t i, int64_t j) {
    int64_t idx[2] = {i, j};
    return sy_tensor_get(t, idx);
}

static void test_create(void) {
    int64_t size[2] = {2, 3};
    sy_tensor *t = NULL, *s = NULL;
    CHECK_OK(sy_tensor_new(&t, SY_F64, 2, size));
    CHECK(t->ndim == 2 && t->stride[0] == 3 && t->stride[1] == 1);
    CHECK(sy_tensor_numel(t) == 6 && sy_tensor_is_contiguous(t));
    CHECK(at2(t, 1, 2) == 0.0);
    sy_tensor_release(t);
    size[1] = 0;   /* empty tensors are contiguous whichever dim is empty */
    CHECK_OK(sy_tensor_new(&t, SY_F32, 2, size));
    CHECK(sy_tensor_is_contiguous(t) && sy_tensor_numel(t) == 0);
    size[1] = 3;
    CHECK_OK(sy_scalar(&s, SY_I64, 42));
    CHECK(s->ndim == 0 && sy_tensor_numel(s) == 1 && sy_tensor_get(s, NULL) == 42);
    sy_tensor_release(t);
    sy_tensor_release(s);
    size[1] = -1;
    CHECK_FAILS(sy_tensor_new(&t, SY_F32, 2, size), SY_ERR_ARG);
    CHECK(t == NULL && strstr(sy_error_message(), "negative") != NULL);
    {
        int64_t huge[2] = {INT64_MAX / 2, 4};
        CHECK_FAILS(sy_tensor_new(&t, SY_F32, 2, huge), SY_ERR_OOM);
    }
}

static void test_views_share_storage(void) {
    int64_t size[2] = {3, 4};
    sy_tensor *t = arange_f32(2, size), *row = NULL, *col = NULL, *tr = NULL, *nar = NULL;
    CHECK_OK(sy_tensor_select(&row, t, 0, 1));
    CHECK(row->ndim == 1 && row->size[0] == 4 && row->storage == t->storage);
    CHECK_OK(sy_tensor_select(&col, t, 1, 2));
    CHECK(col->size[0] == 3 && col->stride[0] == 4);
    CHECK_OK(sy_tensor_transpose(&tr, t, 0, 1));
    CHECK(tr->size[0] == 4 && tr->size[1] == 3 && !sy_tensor_is_contiguous(tr));
    CHECK(at2(tr, 3, 2) == 11.0);
    CHECK_OK(sy_tensor_narrow(&nar, t, 1, 1, 2));
    CHECK(at2(nar, 2, 1) == 10.0);
    /* writing through a view is seen by the base tensor */
    CHECK_OK(sy_tensor_fill_(nar, -1));
    CHECK(at2(t, 0, 1) == -1 && at2(t, 2, 2) == -1 && at2(t, 2, 3) == 11);
    sy_tensor_release(row);
    CHECK_FAILS(sy_tensor_narrow(&row, t, 1, 3, 2), SY_ERR_INDEX);
    CHECK_FAILS(sy_tensor_select(&row, t, 2, 0), SY_ERR_INDEX);
    sy_tensor_release(col);
    sy_tensor_release(tr);
    sy_tensor_release(nar);
    /* the storage outlives the base tensor while a view holds it */
    CHECK_OK(sy_tensor_select(&row, t, 0, 2));
    sy_tensor_release(t);
    CHECK(sy_tensor_get(row, (int64_t[]){3}) == 11.0);
    sy_tensor_release(row);
}

static void test_view_reshape(void) {
    int64_t size[3] = {2, 3, 4}, v1[2] = {6, -1}, v2[2] = {4, 6}, bad[2] = {5, 5};
    sy_tensor *t = arange_f32(3, size), *v = NULL, *tr = NULL, *r = NULL;
    int perm[3] = {2, 1, 0};
    CHECK_OK(sy_tensor_view(&v, t, 2, v1));
    CHECK(v->size[1] == 4 && v->storage == t->storage);
    sy_tensor_release(v);
    CHECK_FAILS(sy_tensor_view(&v, t, 2, bad), SY_ERR_SHAPE);
    CHECK(strstr(sy_error_message(), "[5,5]") != NULL);
    CHECK_OK(sy_tensor_permute(&tr, t, perm));
    CHECK(tr->size[0] == 4 && tr->size[1] == 3 && tr->size[2] == 2);
    /* dims 1 and 2 of the reversed permutation are not one contiguous run:
    ** no view, but reshape copies */
    CHECK_FAILS(sy_tensor_view(&v, tr, 2, v2), SY_ERR_SHAPE);
    CHECK_OK(sy_tensor_reshape(&r, tr, 2, v2));
    CHECK(r->storage != t->storage && sy_tensor_is_contiguous(r));
    /* r[k][j*2+i] == t[i][j][k] */
    CHECK(at2(r, 3, 5) == 1 * 12 + 2 * 4 + 3);
    sy_tensor_release(r);
    /* narrowing the last dim keeps a viewable run in the leading dims */
    {
        sy_tensor *n = NULL;
        int64_t merged[2] = {6, 2};
        CHECK_OK(sy_tensor_narrow(&n, t, 2, 1, 2));
        CHECK_OK(sy_tensor_view(&v, n, 2, merged));
        CHECK(v->storage == t->storage && at2(v, 5, 1) == 22);
        sy_tensor_release(v);
        sy_tensor_release(n);
    }
    sy_tensor_release(tr);
    sy_tensor_release(t);
}

/* unfold: torch's shape and strides over the same storage, the 0-d case,
** and errors that name the argument and the shape. */
static void test_unfold(void) {
    int64_t size[2] = {7, 3}, idx[3] = {1, 2, 1};
    sy_tensor *t = arange_f32(2, size), *u = NULL, *s = NULL;
    CHECK_OK(sy_tensor_unfold(&u, t, 0, 3, 2));   /* windows of rows 0-2, 2-4, 4-6 */
    CHECK(u->storage == t->storage && u->ndim == 3);
    CHECK(u->size[0] == 3 && u->size[1] == 3 && u->size[2] == 3);
    CHECK(u->stride[0] == 6 && u->stride[1] == 1 && u->stride[2] == 3);
    /* window 1 (rows 2..4), column 2, its 2nd row: t[3][2] */
    CHECK(sy_tensor_get(u, idx) == 3 * 3 + 2);
    sy_tensor_release(u);
    CHECK_OK(sy_tensor_unfold(&u, t, 1, 2, 5));   /* a gap: only columns 0-1 */
    CHECK(u->size[0] == 7 && u->size[1] == 1 && u->size[2] == 2 && u->stride[1] == 5);
    sy_tensor_release(u);
    CHECK_FAILS(sy_tensor_unfold(&u, t, 0, 8, 1), SY_ERR_ARG);
    CHECK(strstr(sy_error_message(), "unfold: window size 8 must be in 1..7, the size of "
                                     "dimension 0 of shape [7,3]") != NULL);
    CHECK(u == NULL);
    CHECK_FAILS(sy_tensor_unfold(&u, t, 1, 0, 1), SY_ERR_ARG);
    CHECK_FAILS(sy_tensor_unfold(&u, t, 0, 2, 0), SY_ERR_ARG);
    CHECK(strstr(sy_error_message(), "unfold: step must be at least 1, got 0") != NULL);
    CHECK_FAILS(sy_tensor_unfold(&u, t, 2, 1, 1), SY_ERR_INDEX);
    CHECK(strstr(sy_error_message(), "unfold: dimension 2 out of range for a 2-d tensor") != NULL);
    CHECK_FAILS(sy_tensor_unfold(&u, t, -1, 1, 1), SY_ERR_INDEX);
    CHECK_OK(sy_tensor_new(&s, SY_F64, 0, NULL));
    CHECK_OK(sy_tensor_unfold(&u, s, 0, 1, 3));
    CHECK(u->ndim == 1 && u->size[0] == 1 && u->storage == s->storage);
    sy_tensor_release(u);
    CHECK_FAILS(sy_tensor_unfold(&u, s, 0, 2, 1), SY_ERR_ARG);
    CHECK_FAILS(sy_tensor_unfold(&u, s, 1, 1, 1), SY_ERR_INDEX);
    sy_tensor_release(s);
    sy_tensor_release(t);
}

static void test_expand_broadcast(void) {
    int64_t s1[2] = {3, 1}, s2[1] = {4}, to[2] = {3, 4}, bad[2] = {3, 5};
    int64_t out[SY_MAX_DIMS];
    int nd;
    sy_tensor *a = arange_f32(2, s1), *b = arange_f32(1, s2), *e = NULL, *c = NULL;
    CHECK_OK(sy_tensor_expand(&e, a, 2, to));
    CHECK(e->stride[1] == 0 && at2(e, 2, 3) == 2);
    sy_tensor_release(e);
    CHECK_FAILS(sy_tensor_expand(&e, b, 2, bad), SY_ERR_SHAPE);
    CHECK_OK(sy_broadcast_shape(&nd, out, 2, s1, 1, s2, "test"));
    CHECK(nd == 2 && out[0] == 3 && out[1] == 4);
    CHECK_FAILS(sy_broadcast_shape(&nd, out, 2, bad, 1, s2, "add"), SY_ERR_SHAPE);
    CHECK(strstr(sy_error_message(), "add: shapes [3,5] and [4]") != NULL);
    /* [3,1] + [4] -> [3,4], c[i][j] = i + j */
    CHECK_OK(sy_binary(&c, SY_OP_ADD, a, b));
    CHECK(c->ndim == 2 && c->size[0] == 3 && c->size[1] == 4);
    CHECK(at2(c, 2, 3) == 5 && at2(c, 1, 0) == 1);
    sy_tensor_release(c);
    sy_tensor_release(a);
    sy_tensor_release(b);
}

static void test_copy_dtypes(void) {
    int64_t size[2] = {2, 3};
    sy_tensor *f = arange_f32(2, size), *d = NULL, *i = NULL, *tr = NULL, *dst = NULL;
    CHECK_OK(sy_tensor_to_dtype(&d, f, SY_F64));
    CHECK(d->dtype == SY_F64 && at2(d, 1, 2) == 5.0);
    CHECK_OK(sy_tensor_fill_(d, 2.75));
    CHECK_OK(sy_tensor_to_dtype(&i, d, SY_I64));
    CHECK(((int64_t *)i->storage->data)[3] == 2);   /* truncation toward zero */
    sy_tensor_release(i);
    /* copy of a transposed source into a contiguous destination */
    CHECK_OK(sy_tensor_transpose(&tr, f, 0, 1));
    CHECK_OK(sy_tensor_empty(&dst, SY_F32, 2, (int64_t[]){3, 2}));
    CHECK_OK(sy_tensor_copy_(dst, tr));
    CHECK(at2(dst, 2, 1) == 5 && at2(dst, 0, 1) == 3);
    /* overlapping copy (a tensor into its own transpose view) reads the old values */
    {
        int64_t sq[2] = {3, 3};
        sy_tensor *m = arange_f32(2, sq), *mt = NULL;
        CHECK_OK(sy_tensor_transpose(&mt, m, 0, 1));
        CHECK_OK(sy_tensor_copy_(m, mt));
        CHECK(at2(m, 0, 1) == 3 && at2(m, 1, 0) == 1 && at2(m, 2, 1) == 5);
        sy_tensor_release(mt);
        sy_tensor_release(m);
    }
    /* saturating conversions never hit undefined behaviour */
    {
        sy_tensor *big = NULL, *u = NULL;
        CHECK_OK(sy_scalar(&big, SY_F64, 1e30));
        CHECK_OK(sy_tensor_to_dtype(&u, big, SY_U8));
        CHECK(sy_tensor_get(u, NULL) == 255);
        sy_tensor_release(u);
        sy_tensor_release(big);
    }
    sy_tensor_release(dst);
    sy_tensor_release(tr);
    sy_tensor_release(d);
    sy_tensor_release(f);
}

static void test_elementwise(void) {
    int64_t size[2] = {4, 5};
    sy_tensor *a = arange_f32(2, size), *b = NULL, *r = NULL, *two = NULL, *t = NULL;
    int64_t k;
    CHECK_OK(sy_scalar(&two, SY_F32, 2));
    CHECK_OK(sy_binary(&b, SY_OP_MUL, a, two));
    CHECK_OK(sy_binary(&r, SY_OP_SUB, b, a));   /* 2a - a == a */
    for (k = 0; k < 20; k++) CHECK(((float *)r->storage->data)[k] == (float)k);
    sy_tensor_release(r);
    /* strided operands: a^T + a^T */
    CHECK_OK(sy_tensor_transpose(&t, a, 0, 1));
    CHECK_OK(sy_binary(&r, SY_OP_ADD, t, t));
    CHECK(at2(r, 4, 3) == 2 * 19);
    sy_tensor_release(r);
    CHECK_OK(sy_binary(&r, SY_OP_GT, a, two));
    CHECK(r->dtype == SY_BOOL && at2(r, 0, 2) == 0 && at2(r, 0, 3) == 1);
    sy_tensor_release(r);
    CHECK_OK(sy_unary(&r, SY_OP_SQRT, a));
    CHECK_NEAR(at2(r, 3, 4), sqrt(19.0), 1e-6);
    sy_tensor_release(r);
    CHECK_OK(sy_unary(&r, SY_OP_SIGMOID, a));
    CHECK_NEAR(at2(r, 0, 1), 1 / (1 + exp(-1.0)), 1e-7);
    sy_tensor_release(r);
    CHECK_OK(sy_clamp(&r, a, 3, 7));
    CHECK(at2(r, 0, 0) == 3 && at2(r, 1, 1) == 6 && at2(r, 3, 4) == 7);
    sy_tensor_release(r);
    CHECK_FAILS(sy_clamp(&r, a, 7, 3), SY_ERR_ARG);
    /* in place through the out variant, aliasing the input */
    CHECK_OK(sy_binary_out(a, SY_OP_ADD, a, two));
    CHECK(at2(a, 0, 0) == 2);
    /* integer arithmetic stays integer and exact; true division gives float */
    {
        sy_tensor *i = NULL, *j = NULL, *q = NULL;
        CHECK_OK(sy_scalar(&i, SY_I64, (double)(1LL << 53)));
        CHECK_OK(sy_scalar(&j, SY_I64, 1));
        CHECK_OK(sy_binary(&q, SY_OP_ADD, i, j));
        CHECK(q->dtype == SY_I64 && *(int64_t *)sy_tensor_data(q) == (1LL << 53) + 1);
        sy_tensor_release(q);
        CHECK_OK(sy_binary(&q, SY_OP_DIV, j, i));
        CHECK(q->dtype == SY_F32);
        sy_tensor_release(q);
        sy_tensor_release(i);
        sy_tensor_release(j);
    }
    /* where with broadcasting */
    {
        sy_tensor *mask = NULL, *w = NULL;
        CHECK_OK(sy_binary(&mask, SY_OP_LT, a, two));   /* a is 2..21 now: all false but none */
        CHECK_OK(sy_where(&w, mask, a, two));
        CHECK(at2(w, 0, 0) == 2 && at2(w, 3, 4) == 2);
        sy_tensor_release(w);
        CHECK_FAILS(sy_where(&w, a, a, a), SY_ERR_DTYPE);
        sy_tensor_release(mask);
    }
    sy_tensor_release(t);
    sy_tensor_release(two);
    sy_tensor_release(b);
    sy_tensor_release(a);
}

static void test_accounting(void) {
    int64_t before = sy_mem_in_use(), size[1] = {1000};
    sy_tensor *t = NULL;
    CHECK_OK(sy_tensor_new(&t, SY_F64, 1, size));
    CHECK(sy_mem_in_use() - before >= 8000);
    sy_tensor_release(t);
    CHECK(sy_mem_in_use() == before);
    /* an injected allocation failure is a status, and leaks nothing */
    sy_mem_fail_after(2);
    CHECK_FAILS(sy_tensor_new(&t, SY_F32, 1, size), SY_ERR_OOM);
    CHECK(t == NULL && sy_mem_in_use() == before);
    sy_mem_fail_after(0);
    /* a freed large block is cached and handed out again for the same size */
    {
        int64_t big[1] = {1 << 18}, cached;
        void *first;
        sy_mem_cache_clear();
        CHECK_OK(sy_tensor_new(&t, SY_F32, 1, big));
        first = t->storage->data;
        sy_tensor_release(t);
        cached = sy_mem_cached();
        CHECK(cached >= (int64_t)4 << 18);
        CHECK(sy_mem_in_use() == before);
        CHECK_OK(sy_tensor_new(&t, SY_F32, 1, big));
        /* (its header and storage may come from the small blocks' lists) */
        CHECK(t->storage->data == first && sy_mem_cached() <= cached - ((int64_t)4 << 18));
        sy_tensor_release(t);
        sy_mem_cache_clear();
        CHECK(sy_mem_cached() == 0);
    }
    /* freed small blocks are kept per size and handed out again, last freed
    ** first (not under AddressSanitizer, which must see their reuse) */
    {
        void *a = sy_mem_alloc(100), *b = sy_mem_alloc(100);
        CHECK(a && b);
        sy_mem_free(a, 100);
        sy_mem_free(b, 100);
#if !defined(__SANITIZE_ADDRESS__)
        {
            void *c = sy_mem_alloc(120);   /* the same size class: 128 bytes */
            CHECK(c == b && sy_mem_cached() == 128);
            CHECK(((uintptr_t)c & (SY_ALIGN - 1)) == 0);
            sy_mem_free(c, 120);
            CHECK(sy_mem_cached() == 2 * 128);
        }
#endif
        CHECK(sy_mem_in_use() == before);
        sy_mem_cache_clear();
        CHECK(sy_mem_cached() == 0);
    }
}

int main(void) {
    test_create();
    test_views_share_storage();
    test_view_reshape();
    test_unfold();
    test_expand_broadcast();
    test_copy_dtypes();
    test_elementwise();
    test_accounting();
    return check_summary("test_tensor");
}
