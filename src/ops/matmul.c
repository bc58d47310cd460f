/*
** matmul.c -- matrix products with torch.matmul semantics (sy_matmul), the
** CPU batched-gemm kernel behind the backend's bmm entry, and a raw sgemm
** timer that benchmarks set the front end's cost against.
**
** Products are split across synlua's pool (gemm.h, threads.h). Operands
** reach BLAS as they lie in memory whenever their last two
** dimensions are row-major or transposed with a leading dimension (views
** from narrow, transpose, t, expand of batch dimensions); only other layouts
** are copied.
*/
#include <cblas.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#include "../core/alloc.h"
#include "../core/backend.h"
#include "../core/threads.h"
#include "cpu.h"
#include "gemm.h"
#include "ops.h"

/* ---------------------------------------------------------------- layouts */

/* How one rows x cols matrix with element strides (rs, cs) is described to
** gemm: row-major with leading dimension ld, or transposed (column-major).
** Strides of size-1 dimensions mean nothing, so they never disqualify. */
struct gemm_layout {
    int trans;
    int64_t ld;
};

/* 1 if gemm can read the matrix in place; fills *lay. */
static int gemm_layout(struct gemm_layout *lay, int64_t rows, int64_t cols, int64_t rs,
                       int64_t cs) {
    if (cols == 1 || cs == 1) {
        lay->trans = 0;
        lay->ld = rows == 1 ? cols : rs;
        if (lay->ld >= cols && lay->ld >= 1 && lay->ld <= INT_MAX) return 1;
    }
    if (rows == 1 || rs == 1) {
        lay->trans = 1;
        lay->ld = cols == 1 ? rows : cs;
        if (lay->ld >= rows && lay->ld >= 1 && lay->ld <= INT_MAX) return 1;
    }
    return 0;
}

static int matrix_layout(struct gemm_layout *lay, const sy_tensor *t) {
    int nd = t->ndim;
    return gemm_layout(lay, t->size[nd - 2], t->size[nd - 1], t->stride[nd - 2], t->stride[nd - 1]);
}

/* ------------------------------------------------------------- CPU kernel */

/* Below this many multiply-adds in all, a batch of products runs on the
** calling thread (gemm.c's threshold for splitting one product). */
#define BMM_SPLIT_MIN_MACS ((int64_t)1 << 18)

typedef struct {
    const sy_tensor *a, *b, *c;
    struct gemm_layout la, lb, lc;
    int64_t m, n, k, batch;
} bmm_job;

/* Batch entries [lo, hi) of the job, one BLAS call each (on the calling
** thread: a region started from a task runs inline). Entry t's matrices are
** found by unravelling t over the batch dimensions, so a task can start
** anywhere; an expanded (stride 0) dimension simply reuses its matrix. */
static void bmm_entries(const bmm_job *j, int64_t lo, int64_t hi) {
    const int nd = j->c->ndim, nb = nd - 2;
    const int64_t es = sy_dtype_size(j->c->dtype);
    int64_t t, rest;
    int i;
    for (t = lo; t < hi; t++) {
        const char *pa = sy_tensor_data(j->a), *pb = sy_tensor_data(j->b);
        char *pc = sy_tensor_data(j->c);
        for (i = nb - 1, rest = t; i >= 0; i--) {
            const int64_t idx = rest % j->c->size[i];
            rest /= j->c->size[i];
            pa += idx * j->a->stride[i] * es;
            pb += idx * j->b->stride[i] * es;
            pc += idx * j->c->stride[i] * es;
        }
        if (j->c->dtype == SY_F32)
            sy_gemm_f32(j->la.trans, j->lb.trans, j->m, j->n, j->k, 1.0f, (const float *)pa,
                        j->la.ld, (const float *)pb, j->lb.ld, 0.0f, (float *)pc, j->lc.ld);
        else
            sy_gemm_f64(j->la.trans, j->lb.trans, j->m, j->n, j->k, 1.0, (const double *)pa,
                        j->la.ld, (const double *)pb, j->lb.ld, 0.0, (double *)pc, j->lc.ld);
    }
}

static void bmm_task(void *ctx, int task, int n_tasks) {
    const bmm_job *j = ctx;
    int64_t lo, hi;
    sy_split(j->batch, 1, task, n_tasks, &lo, &hi);
    bmm_entries(j, lo, hi);
}

/* One gemm per batch entry. A single product (the front end folds batches
** into one where it can) is split across the pool by sy_gemm; a batch of
** products is split by entries, each computed whole by one task, so the
** results do not depend on the thread count. */
sy_status sy_cpu_bmm(sy_tensor *c, const sy_tensor *a, const sy_tensor *b) {
    const int nd = c->ndim, nb = nd - 2;
    bmm_job j;
    int i;
    j.a = a;
    j.b = b;
    j.c = c;
    j.m = c->size[nd - 2];
    j.n = c->size[nd - 1];
    j.k = a->size[nd - 1];
    if (j.m > INT_MAX || j.n > INT_MAX || j.k > INT_MAX)
        return sy_error(SY_ERR_ARG, "bmm: a %lld x %lld by %lld x %lld product exceeds BLAS's int sizes",
                        (long long)j.m, (long long)j.k, (long long)j.k, (long long)j.n);
    if ((c->dtype != SY_F32 && c->dtype != SY_F64) || a->dtype != c->dtype || b->dtype != c->dtype ||
        !matrix_layout(&j.la, a) || !matrix_layout(&j.lb, b) || !matrix_layout(&j.lc, c) || j.lc.trans)
        return sy_error(SY_ERR_INTERNAL, "bmm: operands gemm cannot take (dtype or layout; matmul.c)");
    for (j.batch = 1, i = 0; i < nb; i++) j.batch *= c->size[i];
    if (j.batch > 1 && j.batch * j.m * j.n * j.k >= BMM_SPLIT_MIN_MACS)
        sy_parallel_run(bmm_task, &j, sy_parallel_width());
    else
        bmm_entries(&j, 0, j.batch);
    return SY_OK;
}

/* -------------------------------------------------------------- front end */

/* The kernel's operands are views whose headers live on sy_matmul's stack:
** they borrow the storage of tensors that outlive the call, so a product of
** gemm-readable operands allocates nothing but its result. */
static void stack_view(sy_tensor *v, const sy_tensor *t, int ndim) {
    memset(v, 0, sizeof *v);
    v->storage = t->storage;
    v->offset = t->offset;
    v->dtype = t->dtype;
    v->refcount = 1;
    v->ndim = ndim;
}

/* The matrix dims of operand t: a 1-d lhs is a row [1,k], a 1-d rhs a
** column [k,1]. size/stride receive rows and cols. */
static void matrix_dims(int64_t *size, int64_t *stride, const sy_tensor *t, int rhs) {
    int nd = t->ndim;
    if (nd == 1) {
        size[0] = rhs ? t->size[0] : 1;
        size[1] = rhs ? 1 : t->size[0];
        stride[0] = rhs ? t->stride[0] : 0;   /* a size-1 dim's stride is never used */
        stride[1] = rhs ? 0 : t->stride[0];
        return;
    }
    size[0] = t->size[nd - 2];
    size[1] = t->size[nd - 1];
    stride[0] = t->stride[nd - 2];
    stride[1] = t->stride[nd - 1];
}

/* t itself when gemm can read it as it lies (retained), else a contiguous
** copy in dtype dt. */
static sy_status gemm_source(sy_tensor **out, const sy_tensor *t, sy_dtype dt, int rhs) {
    struct gemm_layout lay;
    int64_t size[2], stride[2];
    matrix_dims(size, stride, t, rhs);
    if (t->dtype != dt) return sy_tensor_to_dtype(out, t, dt);
    if (!gemm_layout(&lay, size[0], size[1], stride[0], stride[1])) return sy_tensor_clone(out, t);
    *out = sy_tensor_retain((sy_tensor *)t);
    return SY_OK;
}

/* v = t as [batch..., rows, cols] over the nb broadcast batch dims; batch
** dims t lacks or has as 1 get stride 0 (gemm re-reads the same matrix). */
static void batch_view(sy_tensor *v, const sy_tensor *t, int nb, const int64_t *bsize, int rhs) {
    int tb = t->ndim > 2 ? t->ndim - 2 : 0, i;
    stack_view(v, t, nb + 2);
    for (i = 0; i < nb; i++) {
        int j = i - (nb - tb);
        v->size[i] = bsize[i];
        v->stride[i] = j < 0 || t->size[j] == 1 ? 0 : t->stride[j];
    }
    matrix_dims(v->size + nb, v->stride + nb, t, rhs);
}

/* v = the row-major stack t [..., m, k] as one [R, k] matrix, when its rows
** are evenly spaced across the batch dims: a batch times a shared matrix
** then costs one large gemm instead of many small ones. 0 if they are not. */
static int fold_rows(sy_tensor *v, const sy_tensor *t) {
    const int nd = t->ndim;
    const int64_t k = t->size[nd - 1];
    int64_t rows = 1, ld = -1, span = 0;
    int i;
    if (k > 1 && t->stride[nd - 1] != 1) return 0;
    for (i = nd - 2; i >= 0; i--) {
        if (t->size[i] == 1) continue;
        if (ld < 0) ld = t->stride[i];
        else if (t->stride[i] != span) return 0;
        span = t->stride[i] * t->size[i];
        rows *= t->size[i];
    }
    if (ld < 0) ld = k;
    if (ld < k || ld < 1 || ld > INT_MAX) return 0;
    stack_view(v, t, 2);
    v->size[0] = rows;
    v->size[1] = k;
    v->stride[0] = ld;
    v->stride[1] = 1;
    return 1;
}

/* The batch shape of a and b broadcast together; errors name the full shapes. */
static sy_status batch_shape(int *nb, int64_t *size, const sy_tensor *a, const sy_tensor *b) {
    int na = a->ndim > 2 ? a->ndim - 2 : 0, nbb = b->ndim > 2 ? b->ndim - 2 : 0, i;
    int n = na > nbb ? na : nbb;
    char s1[SY_SHAPE_STRLEN], s2[SY_SHAPE_STRLEN];
    for (i = 0; i < n; i++) {
        int64_t x = i < n - na ? 1 : a->size[i - (n - na)];
        int64_t y = i < n - nbb ? 1 : b->size[i - (n - nbb)];
        if (x != y && x != 1 && y != 1)
            return sy_error(SY_ERR_SHAPE,
                            "matmul: batch dimensions of shapes %s and %s cannot be broadcast (%lld vs %lld)",
                            sy_shape_str(s1, sizeof s1, a->ndim, a->size),
                            sy_shape_str(s2, sizeof s2, b->ndim, b->size), (long long)x, (long long)y);
        size[i] = x == 1 ? y : x;
    }
    *nb = n;
    return SY_OK;
}

static sy_status check_args(const sy_tensor *a, const sy_tensor *b) {
    char s1[SY_SHAPE_STRLEN], s2[SY_SHAPE_STRLEN];
    int64_t ka, kb;
    if (a->ndim == 0 || b->ndim == 0)
        return sy_error(SY_ERR_SHAPE, "matmul: both arguments must be at least 1-d, got shapes %s and %s",
                        sy_shape_str(s1, sizeof s1, a->ndim, a->size),
                        sy_shape_str(s2, sizeof s2, b->ndim, b->size));
    if (!sy_dtype_is_float(a->dtype) || !sy_dtype_is_float(b->dtype))
        return sy_error(SY_ERR_DTYPE, "matmul: expected float32 or float64 tensors, got %s and %s",
                        sy_dtype_name(a->dtype), sy_dtype_name(b->dtype));
    if (a->storage->device != b->storage->device)
        return sy_error(SY_ERR_DEVICE, "matmul: operands are on different devices");
    ka = a->size[a->ndim - 1];
    kb = b->size[b->ndim == 1 ? 0 : b->ndim - 2];
    if (ka != kb)
        return sy_error(SY_ERR_SHAPE, "matmul: shapes %s and %s do not match (%lld vs %lld)",
                        sy_shape_str(s1, sizeof s1, a->ndim, a->size),
                        sy_shape_str(s2, sizeof s2, b->ndim, b->size), (long long)ka, (long long)kb);
    return SY_OK;
}

/* Runs the kernel on the gemm sources sa, sb into the fresh result out. */
static sy_status dispatch(const sy_backend *be, sy_tensor *out, const sy_tensor *sa,
                          const sy_tensor *sb, int nb, const int64_t *bsize) {
    sy_tensor av, bv, cv;
    int i;
    if (nb > 0 && sb->ndim <= 2 && fold_rows(&av, sa)) {
        /* [..., m, k] @ [k, n]: one [B*m, k] @ [k, n] gemm */
        batch_view(&bv, sb, 0, bsize, 1);
        stack_view(&cv, out, 2);
        cv.size[0] = av.size[0];
    } else {
        batch_view(&av, sa, nb, bsize, 0);
        batch_view(&bv, sb, nb, bsize, 1);
        stack_view(&cv, out, nb + 2);
        for (i = 0; i < nb; i++) cv.size[i] = bsize[i];
        cv.size[nb] = av.size[nb];
    }
    cv.size[cv.ndim - 1] = bv.size[bv.ndim - 1];
    cv.stride[cv.ndim - 1] = 1;
    for (i = cv.ndim - 2; i >= 0; i--) cv.stride[i] = cv.stride[i + 1] * cv.size[i + 1];
    return be->bmm(&cv, &av, &bv);
}

sy_status sy_matmul(sy_tensor **out, const sy_tensor *a, const sy_tensor *b) {
    int64_t bsize[SY_MAX_DIMS], osize[SY_MAX_DIMS];
    int nb = 0, no = 0, i;
    sy_dtype dt;
    const sy_backend *be;
    sy_tensor *sa = NULL, *sb = NULL;
    sy_status st;
    *out = NULL;
    if ((st = check_args(a, b)) || (st = batch_shape(&nb, bsize, a, b))) return st;
    if (!(be = sy_backend_for(a->storage->device))) return SY_ERR_DEVICE;
    dt = sy_dtype_promote(a->dtype, b->dtype);
    /* The result drops the dimensions a 1-d operand was promoted with. */
    for (i = 0; i < nb; i++) osize[no++] = bsize[i];
    if (a->ndim > 1) osize[no++] = a->size[a->ndim - 2];
    if (b->ndim > 1) osize[no++] = b->size[b->ndim - 1];
    if (sy_tensor_numel(a) == 0 || sy_tensor_numel(b) == 0) {
        /* empty result, or k == 0: a sum over nothing, so zeros */
        return sy_tensor_new(out, dt, no, osize);
    }
    if ((st = sy_tensor_empty(out, dt, no, osize)) || (st = gemm_source(&sa, a, dt, 0)) ||
        (st = gemm_source(&sb, b, dt, 1)) || (st = dispatch(be, *out, sa, sb, nb, bsize))) {
        sy_tensor_release(*out);
        *out = NULL;
    }
    sy_tensor_release(sa);
    sy_tensor_release(sb);
    return st;
}

/* -------------------------------------------------------------- benchmark */

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* one product of sy_bench_sgemm_seconds */
static void bench_product(int own, int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a,
                          const float *b, float *c) {
    const int64_t lda = ta ? m : k, ldb = tb ? k : n;
#if SY_SGEMM_AVX512
    if (own) {
        sy_sgemm_avx512(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
        return;
    }
#endif
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, 1.0f, a, (int)lda, b, (int)ldb, 0.0f, c, (int)n);
}

sy_status sy_bench_sgemm_seconds(double *seconds, int64_t m, int64_t n, int64_t k, int64_t reps,
                                 int own, int trans_a, int trans_b) {
    size_t na, nbytes_b, nc;
    float *a, *b, *c;
    int64_t i;
    double t0;
    *seconds = 0;
    if (m < 1 || n < 1 || k < 1 || m > INT_MAX / 4 || n > INT_MAX / 4 || k > INT_MAX / 4 ||
        reps < 1)
        return sy_error(SY_ERR_ARG, "bench_sgemm: need 1 <= m, n, k <= %d and reps >= 1, got %lld, %lld, %lld and %lld",
                        INT_MAX / 4, (long long)m, (long long)n, (long long)k, (long long)reps);
    if (own && !sy_gemm_avx512_available())
        return sy_error(SY_ERR_ARG, "bench_sgemm: synlua's own float32 kernel needs AVX-512F and a GCC x86-64 build");
    na = (size_t)m * (size_t)k * sizeof(float);
    nbytes_b = (size_t)k * (size_t)n * sizeof(float);
    nc = (size_t)m * (size_t)n * sizeof(float);
    a = sy_mem_alloc(na);
    b = sy_mem_alloc(nbytes_b);
    c = sy_mem_alloc(nc);
    if (!a || !b || !c) {
        sy_mem_free(a, na);
        sy_mem_free(b, nbytes_b);
        sy_mem_free(c, nc);
        return SY_ERR_OOM;
    }
    /* small, normal values: denormals would slow the kernel down */
    for (i = 0; i < m * k; i++) a[i] = (float)(i % 17) * 0.0625f - 0.5f;
    for (i = 0; i < k * n; i++) b[i] = (float)(i % 13) * 0.0625f - 0.375f;
    /* warm-up: thread pool start and first-touch page faults stay out of the timing */
    bench_product(own, trans_a, trans_b, m, n, k, a, b, c);
    t0 = now_seconds();
    for (i = 0; i < reps; i++) bench_product(own, trans_a, trans_b, m, n, k, a, b, c);
    *seconds = now_seconds() - t0;
    sy_mem_free(a, na);
    sy_mem_free(b, nbytes_b);
    sy_mem_free(c, nc);
    return SY_OK;
}
