/*
** test_creation.c -- arange, linspace and eye: values, counts, dtypes,
** exact endpoints and the argument errors.
*/
#include <string.h>

#include "check.h"
#include "core/alloc.h"
#include "ops/ops.h"

static double at(const sy_tensor *t, int64_t i) { return sy_tensor_get(t, &i); }

/* t is 1-d with exactly the n values v. */
static int equals(const sy_tensor *t, const double *v, int64_t n) {
    int64_t i;
    if (!t || t->ndim != 1 || t->size[0] != n) return 0;
    for (i = 0; i < n; i++)
        if (at(t, i) != v[i]) return 0;
    return 1;
}

static void test_arange(void) {
    sy_tensor *t = NULL;
    static const double r5[] = {0, 1, 2, 3, 4}, r14[] = {1, 2, 3}, down[] = {5, 3.5, 2, 0.5};
    CHECK_OK(sy_arange(&t, 0, 5, 1, SY_I64));
    CHECK(equals(t, r5, 5) && t->dtype == SY_I64);
    sy_tensor_release(t);
    CHECK_OK(sy_arange(&t, 1, 4, 1, SY_F32));
    CHECK(equals(t, r14, 3) && t->dtype == SY_F32);
    sy_tensor_release(t);
    CHECK_OK(sy_arange(&t, 5, 0, -1.5, SY_F64));
    CHECK(equals(t, down, 4));
    sy_tensor_release(t);
    /* the count is ceil((end - start) / step): 1 is not reached */
    CHECK_OK(sy_arange(&t, 0, 1, 0.1, SY_F64));
    CHECK(t->size[0] == 10);
    CHECK_NEAR(at(t, 9), 0.9, 1e-15);
    sy_tensor_release(t);
    CHECK_OK(sy_arange(&t, 0, 1.05, 0.1, SY_F32));
    CHECK(t->size[0] == 11);
    CHECK_NEAR(at(t, 10), 1.0, 1e-7);
    sy_tensor_release(t);
    CHECK_OK(sy_arange(&t, 3, 3, 1, SY_I64));
    CHECK(t->ndim == 1 && t->size[0] == 0);
    sy_tensor_release(t);

    CHECK_FAILS(sy_arange(&t, 0, 5, 0, SY_F32), SY_ERR_ARG);
    CHECK(t == NULL && strcmp(sy_error_message(), "arange: step must not be zero") == 0);
    CHECK_FAILS(sy_arange(&t, 0, 5, -1, SY_F32), SY_ERR_ARG);
    CHECK(strcmp(sy_error_message(), "arange: step -1 goes away from end (start=0, end=5)") == 0);
    CHECK_FAILS(sy_arange(&t, 5, 0, 1, SY_I64), SY_ERR_ARG);
    CHECK_FAILS(sy_arange(&t, 0, NAN, 1, SY_F32), SY_ERR_ARG);
    CHECK_FAILS(sy_arange(&t, 0, 1e300, 1, SY_F32), SY_ERR_ARG);
    CHECK(strstr(sy_error_message(), "too many elements") != NULL);
    CHECK_FAILS(sy_arange(&t, 0, 2, 1, SY_BOOL), SY_ERR_DTYPE);
}

static void test_linspace(void) {
    sy_tensor *t = NULL;
    static const double q[] = {0, 0.25, 0.5, 0.75, 1}, one[] = {-2.5};
    int64_t i;
    int mono = 1;
    CHECK_OK(sy_linspace(&t, 0, 1, 5, SY_F32));
    CHECK(equals(t, q, 5));
    sy_tensor_release(t);
    /* both endpoints exact even when the step is not representable */
    CHECK_OK(sy_linspace(&t, 0.1, 0.7, 7, SY_F64));
    CHECK(at(t, 0) == 0.1 && at(t, 6) == 0.7);
    CHECK_NEAR(at(t, 3), 0.4, 1e-15);
    sy_tensor_release(t);
    CHECK_OK(sy_linspace(&t, 3, -1, 1001, SY_F64));
    CHECK(at(t, 0) == 3 && at(t, 1000) == -1);
    CHECK_NEAR(at(t, 500), 1, 1e-15);
    for (i = 1; i < 1001; i++) mono = mono && at(t, i) < at(t, i - 1);
    CHECK(mono);
    sy_tensor_release(t);
    CHECK_OK(sy_linspace(&t, -2.5, 10, 1, SY_F32));
    CHECK(equals(t, one, 1));
    sy_tensor_release(t);
    CHECK_OK(sy_linspace(&t, 0, 1, 0, SY_F32));
    CHECK(t->ndim == 1 && t->size[0] == 0);
    sy_tensor_release(t);
    CHECK_FAILS(sy_linspace(&t, 0, 1, -1, SY_F32), SY_ERR_ARG);
    CHECK(t == NULL && strcmp(sy_error_message(), "linspace: steps must be >= 0, got -1") == 0);
    CHECK_FAILS(sy_linspace(&t, 0, INFINITY, 3, SY_F32), SY_ERR_ARG);
}

static void test_eye(void) {
    sy_tensor *t = NULL;
    int64_t i, j;
    int ok = 1;
    CHECK_OK(sy_eye(&t, 3, 4, SY_F32));
    CHECK(t->ndim == 2 && t->size[0] == 3 && t->size[1] == 4);
    for (i = 0; i < 3; i++)
        for (j = 0; j < 4; j++) {
            int64_t idx[2] = {i, j};
            ok = ok && sy_tensor_get(t, idx) == (i == j);
        }
    CHECK(ok);
    sy_tensor_release(t);
    CHECK_OK(sy_eye(&t, 4, 2, SY_I64));
    {
        int64_t idx[2] = {1, 1}, off[2] = {3, 1};
        CHECK(sy_tensor_get(t, idx) == 1 && sy_tensor_get(t, off) == 0);
    }
    sy_tensor_release(t);
    CHECK_OK(sy_eye(&t, 0, 3, SY_BOOL));
    CHECK(sy_tensor_numel(t) == 0);
    sy_tensor_release(t);
    CHECK_FAILS(sy_eye(&t, -1, 3, SY_F32), SY_ERR_ARG);
    CHECK(t == NULL && strcmp(sy_error_message(), "eye: sizes must be >= 0, got n=-1, m=3") == 0);
}

/* An allocation failure anywhere is a status, never a leak or a crash. */
static void test_out_of_memory(void) {
    sy_tensor *t = NULL;
    int64_t n, before = sy_mem_in_use();
    int fails = 0, ok = 1;
    for (n = 1; n <= 4; n++) {
        sy_status st[3];
        int k;
        sy_mem_fail_after(n);
        st[0] = sy_arange(&t, 0, 10, 1, SY_F32);
        sy_tensor_release(t);
        sy_mem_fail_after(n);
        st[1] = sy_linspace(&t, 0, 1, 10, SY_F32);
        sy_tensor_release(t);
        sy_mem_fail_after(n);
        st[2] = sy_eye(&t, 3, 3, SY_F32);
        sy_tensor_release(t);
        for (k = 0; k < 3; k++) {
            ok = ok && (st[k] == SY_OK || st[k] == SY_ERR_OOM);
            fails += st[k] == SY_ERR_OOM;
        }
    }
    sy_mem_fail_after(0);
    CHECK(ok);
    CHECK(fails > 0);
    CHECK(sy_mem_in_use() == before);
}

int main(void) {
    int64_t before = sy_mem_in_use();
    test_arange();
    test_linspace();
    test_eye();
    test_out_of_memory();
    CHECK(sy_mem_in_use() == before);
    return check_summary("test_creation");
}
