/*
** test_matmul.c -- sy_matmul against a naive triple loop in double on random
** data: plain, transposed, narrowed and copied layouts, batched broadcast,
** 1-d promotion, float64 and mixed dtypes, empty products, errors (with
** their messages), allocation failures, the CPU bmm kernel on its own and
** the sgemm benchmark timer.
*/
#include <float.h>
#include <string.h>

#include "check.h"
#include "core/alloc.h"
#include "core/backend.h"
#include "core/tensor.h"
#include "ops/gemm.h"
#include "ops/ops.h"

/* ------------------------------------------------------------- helpers */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double uniform(void) {   /* in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / (double)(1ull << 52) - 1.0;
}

static sy_tensor *rand_tensor(sy_dtype dt, int nd, const int64_t *size) {
    sy_tensor *t = NULL;
    int64_t i, n;
    if (sy_tensor_empty(&t, dt, nd, size)) return NULL;
    n = sy_tensor_numel(t);
    for (i = 0; i < n; i++)
        sy_value_store((char *)sy_tensor_data(t) + i * sy_dtype_size(dt), dt, uniform());
    return t;
}

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define RAND(dt, nd, ...) rand_tensor(dt, nd, SHAPE(__VA_ARGS__))

/* A view made by one of the tensor's view functions, releasing the source. */
static sy_tensor *transposed(sy_tensor *t, int d0, int d1) {
    sy_tensor *v = NULL;
    CHECK_OK(sy_tensor_transpose(&v, t, d0, d1));
    sy_tensor_release(t);
    return v;
}

static sy_tensor *narrowed(sy_tensor *t, int dim, int64_t start, int64_t len) {
    sy_tensor *v = NULL;
    CHECK_OK(sy_tensor_narrow(&v, t, dim, start, len));
    sy_tensor_release(t);
    return v;
}

/* Element of a at batch index bidx (of the nb broadcast batch dims) and
** matrix position (i, j); 1-d operands are a row (lhs) or a column (rhs). */
static double ref_elem(const sy_tensor *t, int nb, const int64_t *bidx, int64_t i, int64_t j,
                       int rhs) {
    int64_t idx[SY_MAX_DIMS];
    int tb = t->ndim > 2 ? t->ndim - 2 : 0, d;
    if (t->ndim == 1) {
        idx[0] = rhs ? i : j;
        return sy_tensor_get(t, idx);
    }
    for (d = 0; d < tb; d++) {
        int64_t bi = bidx[nb - tb + d];
        idx[d] = t->size[d] == 1 ? 0 : bi;
    }
    idx[tb] = i;
    idx[tb + 1] = j;
    return sy_tensor_get(t, idx);
}

/* Checks out's dtype and shape, and every value against the naive sum in
** double, within the forward error bound k * eps * sum |a_ip b_pj|. */
static void check_matmul(const char *label, const sy_tensor *out, const sy_tensor *a,
                         const sy_tensor *b, sy_dtype dt, int nd, const int64_t *shape) {
    int64_t bsize[SY_MAX_DIMS], bidx[SY_MAX_DIMS] = {0}, batch = 1, m, n, k, t, i, j, p;
    int nb = nd - (a->ndim > 1) - (b->ndim > 1), d, shape_ok;
    double eps = dt == SY_F32 ? FLT_EPSILON : DBL_EPSILON, worst = 0;
    int64_t pos = 0;
    CHECK(out != NULL);
    if (!out) return;
    shape_ok = out->ndim == nd && memcmp(out->size, shape, sizeof(int64_t) * (size_t)nd) == 0;
    CHECK(shape_ok);
    CHECK(out->dtype == dt);
    CHECK(sy_tensor_is_contiguous(out));
    if (!shape_ok) {
        char s1[SY_SHAPE_STRLEN], s2[SY_SHAPE_STRLEN];
        fprintf(stderr, "%s: shape %s, expected %s\n", label,
                sy_shape_str(s1, sizeof s1, out->ndim, out->size), sy_shape_str(s2, sizeof s2, nd, shape));
        return;
    }
    for (d = 0; d < nb; d++) batch *= (bsize[d] = shape[d]);
    m = a->ndim == 1 ? 1 : a->size[a->ndim - 2];
    k = a->size[a->ndim - 1];
    n = b->ndim == 1 ? 1 : b->size[b->ndim - 1];
    for (t = 0; t < batch; t++) {
        for (i = 0; i < m; i++)
            for (j = 0; j < n; j++) {
                double sum = 0, mag = 0, got, tol;
                for (p = 0; p < k; p++) {
                    double x = ref_elem(a, nb, bidx, i, p, 0) * ref_elem(b, nb, bidx, p, j, 1);
                    sum += x;
                    mag += fabs(x);
                }
                got = sy_value_load((const char *)sy_tensor_data(out) + pos * sy_dtype_size(dt), dt);
                tol = (double)(k + 1) * eps * mag + 1e-300;
                if (fabs(got - sum) / tol > worst) worst = fabs(got - sum) / tol;
                pos++;
            }
        for (d = nb - 1; d >= 0; d--) {
            if (++bidx[d] < bsize[d]) break;
            bidx[d] = 0;
        }
    }
    CHECK(worst <= 1.0);
    if (worst > 1.0) fprintf(stderr, "%s: error %.3g times the tolerance\n", label, worst);
}

/* Runs sy_matmul(a, b), checks it, and releases a, b and the result. */
static void run_case(const char *label, sy_tensor *a, sy_tensor *b, sy_dtype dt, int nd,
                     const int64_t *shape) {
    sy_tensor *out = NULL;
    CHECK(a && b);
    if (!a || !b) return;
    CHECK_OK(sy_matmul(&out, a, b));
    check_matmul(label, out, a, b, dt, nd, shape);
    sy_tensor_release(out);
    sy_tensor_release(a);
    sy_tensor_release(b);
}

/* -------------------------------------------------------------- tests */

static void test_2d(void) {
    static const int64_t mkn[][3] = {{1, 1, 1}, {2, 3, 4}, {7, 13, 5}, {64, 33, 17},
                                     {1, 9, 6}, {5, 9, 1}, {100, 100, 100}};
    size_t c;
    int f;
    for (f = 0; f < 2; f++) {
        sy_dtype dt = f ? SY_F64 : SY_F32;
        for (c = 0; c < sizeof mkn / sizeof mkn[0]; c++) {
            int64_t m = mkn[c][0], k = mkn[c][1], n = mkn[c][2];
            run_case("2d", RAND(dt, 2, m, k), RAND(dt, 2, k, n), dt, 2, SHAPE(m, n));
        }
    }
}

static void test_transposed(void) {
    /* a = (k x m)^T, b = (n x k)^T: handed to gemm as CblasTrans */
    run_case("a^T", transposed(RAND(SY_F32, 2, 9, 6), 0, 1), RAND(SY_F32, 2, 9, 4), SY_F32, 2,
             SHAPE(6, 4));
    run_case("b^T", RAND(SY_F32, 2, 6, 9), transposed(RAND(SY_F32, 2, 4, 9), 0, 1), SY_F32, 2,
             SHAPE(6, 4));
    run_case("a^T b^T", transposed(RAND(SY_F64, 2, 9, 6), 0, 1),
             transposed(RAND(SY_F64, 2, 4, 9), 0, 1), SY_F64, 2, SHAPE(6, 4));
    /* a^T of a row vector: a column whose strides are both unusual */
    run_case("col^T", transposed(RAND(SY_F32, 2, 5, 1), 0, 1), RAND(SY_F32, 2, 5, 3), SY_F32, 2,
             SHAPE(1, 3));
}

static void test_narrowed(void) {
    /* columns narrowed: row-major with a leading dimension larger than cols */
    run_case("a cols", narrowed(RAND(SY_F32, 2, 6, 14), 1, 3, 9), RAND(SY_F32, 2, 9, 4), SY_F32, 2,
             SHAPE(6, 4));
    run_case("b cols", RAND(SY_F32, 2, 6, 9), narrowed(RAND(SY_F32, 2, 9, 11), 1, 5, 4), SY_F32, 2,
             SHAPE(6, 4));
    /* rows narrowed: an offset into the storage */
    run_case("rows", narrowed(RAND(SY_F32, 2, 10, 9), 0, 2, 6), narrowed(RAND(SY_F32, 2, 12, 4), 0, 3, 9),
             SY_F32, 2, SHAPE(6, 4));
    /* narrowed then transposed: CblasTrans with a leading dimension */
    run_case("narrow^T", transposed(narrowed(RAND(SY_F64, 2, 9, 10), 1, 1, 6), 0, 1),
             transposed(narrowed(RAND(SY_F64, 2, 7, 12), 1, 2, 9), 0, 1), SY_F64, 2, SHAPE(6, 7));
}

/* Peak bytes a matmul allocates beyond its inputs: gemm-readable layouts
** must cost only the result (data plus its header), others a copy. */
static int64_t matmul_extra_bytes(const sy_tensor *a, const sy_tensor *b, int64_t *out_bytes) {
    sy_tensor *out = NULL;
    int64_t before = sy_mem_in_use(), peak;
    sy_mem_reset_peak();
    CHECK_OK(sy_matmul(&out, a, b));
    peak = sy_mem_peak();
    *out_bytes = out ? out->storage->nbytes : 0;
    sy_tensor_release(out);
    CHECK(sy_mem_in_use() == before);
    return peak - before;
}

static void test_no_copies(void) {
    const int64_t header_slack = 1024;
    int64_t out_bytes, extra;
    sy_tensor *a = transposed(RAND(SY_F32, 2, 64, 64), 0, 1);
    sy_tensor *b = narrowed(RAND(SY_F32, 2, 64, 80), 1, 8, 64);
    sy_tensor *s3 = RAND(SY_F32, 3, 64, 64, 2), *sel = NULL, *batch = RAND(SY_F32, 3, 8, 64, 64);
    extra = matmul_extra_bytes(a, b, &out_bytes);
    CHECK(out_bytes == 64 * 64 * 4);
    CHECK(extra < out_bytes + header_slack);
    /* batched (fold path) and 1-d operands are read in place too */
    extra = matmul_extra_bytes(batch, b, &out_bytes);
    CHECK(extra < out_bytes + header_slack);
    /* select on the last dim leaves no unit stride: one 64 x 64 copy */
    CHECK_OK(sy_tensor_select(&sel, s3, 2, 1));
    extra = matmul_extra_bytes(sel, b, &out_bytes);
    CHECK(extra >= out_bytes + 64 * 64 * 4);
    sy_tensor_release(a);
    sy_tensor_release(b);
    sy_tensor_release(s3);
    sy_tensor_release(sel);
    sy_tensor_release(batch);
}

static void test_copied_layouts(void) {
    sy_tensor *s3 = RAND(SY_F32, 3, 5, 7, 3), *sel = NULL, *col = RAND(SY_F32, 2, 7, 1), *ex = NULL;
    /* no unit stride in the last two dims */
    CHECK_OK(sy_tensor_select(&sel, s3, 2, 2));
    run_case("select", sel, RAND(SY_F32, 2, 7, 4), SY_F32, 2, SHAPE(5, 4));
    /* stride 0 inside the matrix (an expanded column) */
    CHECK_OK(sy_tensor_expand(&ex, col, 2, SHAPE(7, 5)));
    run_case("expanded", RAND(SY_F32, 2, 3, 7), ex, SY_F32, 2, SHAPE(3, 5));
    sy_tensor_release(s3);
    sy_tensor_release(col);
}

static void test_batched(void) {
    sy_tensor *shared = RAND(SY_F32, 2, 5, 6), *ex = NULL, *perm = NULL, *p3 = RAND(SY_F32, 3, 4, 2, 5);
    /* [..., m, k] @ [k, n]: folded into one gemm */
    run_case("fold", RAND(SY_F32, 4, 2, 3, 4, 5), RAND(SY_F32, 2, 5, 6), SY_F32, 4, SHAPE(2, 3, 4, 6));
    run_case("fold narrow", narrowed(RAND(SY_F32, 3, 2, 3, 8), 2, 1, 5), RAND(SY_F32, 2, 5, 4), SY_F32,
             3, SHAPE(2, 3, 4));
    /* rows not evenly spaced across the batch: one gemm per batch entry */
    CHECK_OK(sy_tensor_transpose(&perm, p3, 0, 1));
    run_case("no fold", perm, RAND(SY_F32, 2, 5, 3), SY_F32, 3, SHAPE(2, 4, 3));
    /* transposed matrices inside a batch */
    run_case("fold a^T", transposed(RAND(SY_F32, 3, 3, 5, 4), 1, 2), RAND(SY_F32, 2, 5, 2), SY_F32, 3,
             SHAPE(3, 4, 2));
    /* broadcast batch dims on both sides */
    run_case("broadcast", RAND(SY_F32, 4, 3, 1, 4, 5), RAND(SY_F32, 3, 2, 5, 6), SY_F32, 4,
             SHAPE(3, 2, 4, 6));
    run_case("2d @ batch", RAND(SY_F64, 2, 4, 5), RAND(SY_F64, 3, 2, 5, 6), SY_F64, 3, SHAPE(2, 4, 6));
    run_case("batch b^T", RAND(SY_F32, 3, 2, 4, 5), transposed(RAND(SY_F32, 3, 2, 6, 5), 1, 2), SY_F32,
             3, SHAPE(2, 4, 6));
    /* an operand the user expanded (stride 0 batch) */
    CHECK_OK(sy_tensor_expand(&ex, shared, 3, SHAPE(3, 5, 6)));
    run_case("expanded batch", RAND(SY_F32, 3, 3, 4, 5), ex, SY_F32, 3, SHAPE(3, 4, 6));
    sy_tensor_release(shared);
    sy_tensor_release(p3);
}

static void test_vectors(void) {
    sy_tensor *m = RAND(SY_F32, 2, 6, 4), *col = NULL;
    run_case("dot", RAND(SY_F32, 1, 7), RAND(SY_F32, 1, 7), SY_F32, 0, SHAPE(0));
    run_case("vec @ mat", RAND(SY_F32, 1, 7), RAND(SY_F32, 2, 7, 3), SY_F32, 1, SHAPE(3));
    run_case("mat @ vec", RAND(SY_F32, 2, 5, 7), RAND(SY_F32, 1, 7), SY_F32, 1, SHAPE(5));
    run_case("vec @ batch", RAND(SY_F32, 1, 7), RAND(SY_F32, 3, 2, 7, 3), SY_F32, 2, SHAPE(2, 3));
    run_case("batch @ vec", RAND(SY_F64, 4, 2, 3, 5, 7), RAND(SY_F64, 1, 7), SY_F64, 3, SHAPE(2, 3, 5));
    /* a column of a matrix: a 1-d operand with stride 4 */
    CHECK_OK(sy_tensor_select(&col, m, 1, 2));
    run_case("strided dot", col, RAND(SY_F32, 1, 6), SY_F32, 0, SHAPE(0));
    CHECK_OK(sy_tensor_select(&col, m, 1, 1));
    run_case("mat @ strided", RAND(SY_F32, 2, 3, 6), col, SY_F32, 1, SHAPE(3));
    sy_tensor_release(m);
}

static void test_exact_values(void) {
    /* the acceptance example: [[1,2],[3,4]] @ [[1],[1]] = [[3],[7]] */
    sy_tensor *a = NULL, *b = NULL, *out = NULL;
    float *pa, *pb;
    CHECK_OK(sy_tensor_empty(&a, SY_F32, 2, SHAPE(2, 2)));
    CHECK_OK(sy_tensor_empty(&b, SY_F32, 2, SHAPE(2, 1)));
    pa = sy_tensor_data(a);
    pb = sy_tensor_data(b);
    pa[0] = 1, pa[1] = 2, pa[2] = 3, pa[3] = 4;
    pb[0] = 1, pb[1] = 1;
    CHECK_OK(sy_matmul(&out, a, b));
    CHECK(out && out->ndim == 2 && out->size[0] == 2 && out->size[1] == 1);
    if (out) {
        CHECK(((float *)sy_tensor_data(out))[0] == 3.0f);
        CHECK(((float *)sy_tensor_data(out))[1] == 7.0f);
    }
    sy_tensor_release(a);
    sy_tensor_release(b);
    sy_tensor_release(out);
}

static void test_dtypes(void) {
    sy_tensor *i = NULL, *f = RAND(SY_F32, 2, 3, 3), *bo = NULL, *out = NULL;
    /* mixed float32 / float64 promotes to float64 */
    run_case("f32 @ f64", RAND(SY_F32, 2, 4, 5), RAND(SY_F64, 2, 5, 3), SY_F64, 2, SHAPE(4, 3));
    run_case("f64 @ f32 batch", RAND(SY_F64, 3, 2, 4, 5), RAND(SY_F32, 1, 5), SY_F64, 2, SHAPE(2, 4));
    CHECK_OK(sy_tensor_new(&i, SY_I64, 2, SHAPE(3, 3)));
    CHECK_OK(sy_tensor_new(&bo, SY_BOOL, 2, SHAPE(3, 3)));
    CHECK_FAILS(sy_matmul(&out, i, f), SY_ERR_DTYPE);
    CHECK(out == NULL);
    CHECK(strcmp(sy_error_message(), "matmul: expected float32 or float64 tensors, got int64 and float32") == 0);
    CHECK_FAILS(sy_matmul(&out, f, bo), SY_ERR_DTYPE);
    CHECK(strstr(sy_error_message(), "bool") != NULL);
    CHECK_FAILS(sy_matmul(&out, i, i), SY_ERR_DTYPE);
    sy_tensor_release(i);
    sy_tensor_release(f);
    sy_tensor_release(bo);
}

static void test_errors(void) {
    sy_tensor *a = RAND(SY_F32, 2, 2, 3), *b = RAND(SY_F32, 2, 4, 5), *v3 = RAND(SY_F32, 1, 3),
              *v4 = RAND(SY_F32, 1, 4), *s = NULL, *b1 = RAND(SY_F32, 3, 2, 3, 4),
              *b2 = RAND(SY_F32, 3, 3, 4, 5), *out = NULL;
    int64_t before;
    CHECK_OK(sy_scalar(&s, SY_F32, 2.0));
    before = sy_mem_in_use();
    CHECK_FAILS(sy_matmul(&out, a, b), SY_ERR_SHAPE);
    CHECK(out == NULL);
    CHECK(strcmp(sy_error_message(), "matmul: shapes [2,3] and [4,5] do not match (3 vs 4)") == 0);
    CHECK_FAILS(sy_matmul(&out, v3, v4), SY_ERR_SHAPE);
    CHECK(strcmp(sy_error_message(), "matmul: shapes [3] and [4] do not match (3 vs 4)") == 0);
    CHECK_FAILS(sy_matmul(&out, a, v4), SY_ERR_SHAPE);
    CHECK(strcmp(sy_error_message(), "matmul: shapes [2,3] and [4] do not match (3 vs 4)") == 0);
    CHECK_FAILS(sy_matmul(&out, b1, b2), SY_ERR_SHAPE);
    CHECK(strcmp(sy_error_message(),
                 "matmul: batch dimensions of shapes [2,3,4] and [3,4,5] cannot be broadcast (2 vs 3)") == 0);
    CHECK_FAILS(sy_matmul(&out, s, a), SY_ERR_SHAPE);
    CHECK(strcmp(sy_error_message(), "matmul: both arguments must be at least 1-d, got shapes [] and [2,3]") == 0);
    CHECK(out == NULL);
    CHECK(sy_mem_in_use() == before);
    sy_tensor_release(a);
    sy_tensor_release(b);
    sy_tensor_release(v3);
    sy_tensor_release(v4);
    sy_tensor_release(s);
    sy_tensor_release(b1);
    sy_tensor_release(b2);
}

static void test_empty(void) {
    sy_tensor *a = NULL, *b = NULL, *out = NULL;
    int64_t i, n;
    /* k == 0: sums over nothing are 0 */
    CHECK_OK(sy_tensor_empty(&a, SY_F32, 2, SHAPE(2, 0)));
    CHECK_OK(sy_tensor_empty(&b, SY_F32, 2, SHAPE(0, 3)));
    CHECK_OK(sy_matmul(&out, a, b));
    CHECK(out && out->ndim == 2 && out->size[0] == 2 && out->size[1] == 3);
    n = out ? sy_tensor_numel(out) : 0;
    for (i = 0; i < n; i++) CHECK(((float *)sy_tensor_data(out))[i] == 0.0f);
    sy_tensor_release(out);
    sy_tensor_release(a);
    /* m == 0 and an empty batch give empty results of the right shape */
    CHECK_OK(sy_tensor_empty(&a, SY_F32, 3, SHAPE(0, 4, 0)));
    CHECK_OK(sy_matmul(&out, a, b));
    CHECK(out && out->ndim == 3 && out->size[0] == 0 && out->size[1] == 4 && out->size[2] == 3);
    sy_tensor_release(out);
    sy_tensor_release(a);
    sy_tensor_release(b);
}

static void test_kernel_direct(void) {
    /* the backend entry a CUDA table mirrors: equal batch, c overwritten */
    sy_tensor *a = RAND(SY_F32, 3, 2, 3, 4), *b = transposed(RAND(SY_F32, 3, 2, 5, 4), 1, 2), *c = NULL;
    CHECK_OK(sy_tensor_empty(&c, SY_F32, 3, SHAPE(2, 3, 5)));
    CHECK_OK(sy_tensor_fill_(c, NAN));   /* beta = 0: stale values must not leak in */
    CHECK_OK(sy_backend_cpu.bmm(c, a, b));
    check_matmul("bmm kernel", c, a, b, SY_F32, 3, SHAPE(2, 3, 5));
    sy_tensor_release(a);
    sy_tensor_release(b);
    sy_tensor_release(c);
}

static void test_oom(void) {
    /* every allocation a matmul with copies makes, failed in turn: each
    ** failure leaves no result and no leak */
    sy_tensor *a = RAND(SY_F32, 3, 2, 4, 5), *bf = RAND(SY_F64, 2, 5, 3), *out = NULL;
    int64_t before = sy_mem_in_use();
    sy_status st = SY_ERR_OOM;
    int n;
    for (n = 1; n < 40 && st != SY_OK; n++) {
        sy_mem_fail_after(n);
        st = sy_matmul(&out, a, bf);
        sy_mem_fail_after(0);
        if (st != SY_OK) {
            CHECK(out == NULL);
            CHECK(sy_mem_in_use() == before);
        }
    }
    CHECK(st == SY_OK);
    CHECK(n > 2);
    check_matmul("after oom", out, a, bf, SY_F64, 3, SHAPE(2, 4, 3));
    sy_tensor_release(out);
    sy_tensor_release(a);
    sy_tensor_release(bf);
}

static void test_bench_timer(void) {
    double s = -1;
    CHECK_OK(sy_bench_sgemm_seconds(&s, 32, 16, 8, 3, 0, 0, 0));
    CHECK(s > 0 && s < 10);
    if (sy_gemm_avx512_available()) {
        s = -1;
        CHECK_OK(sy_bench_sgemm_seconds(&s, 32, 16, 8, 3, 1, 1, 1));
        CHECK(s > 0 && s < 10);
    } else {
        CHECK_FAILS(sy_bench_sgemm_seconds(&s, 32, 16, 8, 3, 1, 0, 0), SY_ERR_ARG);
    }
    CHECK_FAILS(sy_bench_sgemm_seconds(&s, 0, 16, 8, 3, 0, 0, 0), SY_ERR_ARG);
    CHECK_FAILS(sy_bench_sgemm_seconds(&s, 4, 4, 4, 0, 0, 1, 0), SY_ERR_ARG);
}

int main(void) {
    test_2d();
    test_transposed();
    test_narrowed();
    test_no_copies();
    test_copied_layouts();
    test_batched();
    test_vectors();
    test_exact_values();
    test_dtypes();
    test_errors();
    test_empty();
    test_kernel_direct();
    test_oom();
    test_bench_timer();
    return check_summary("matmul");
}
