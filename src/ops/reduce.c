/*
** reduce.c -- reductions over one dimension or over all elements: sum, mean,
** prod, max, min, argmax, argmin, var, std. The front end checks arguments,
** picks the result dtype and shape (as PyTorch does) and dispatches to the
** device's reduce_dim; the CPU kernel reads the input through its strides,
** so transposed or sliced inputs are never copied for a one-dim reduction.
*/
#include <math.h>

#include "../core/alloc.h"
#include "../core/backend.h"
#include "cpu.h"
#include "ops.h"

static const char *const redop_names[SY_REDOP_COUNT] = {
    "sum", "mean", "prod", "max", "min", "argmax", "argmin", "var", "std"};

static int redop_is_extreme(sy_redop op) {
    return op == SY_RED_MAX || op == SY_RED_MIN || op == SY_RED_ARGMAX || op == SY_RED_ARGMIN;
}

/* ------------------------------------------------------------- CPU kernel */

/* Outputs reduced together when the reduced dim is not the innermost one in
** memory: the inner loop then runs across up to MAX_COLS neighbouring
** outputs, so a contiguous input streams in memory order while the
** accumulators stay in cache. */
#define MAX_COLS 4096
/* Fixed-count inner loops of LANES columns, which the compiler turns into
** vector code. */
#define LANES 8

/* One reduction job: n elements along the reduced dim at byte stride rs;
** neighbouring outputs ("columns") are cs bytes apart in the input and
** ocs / ics bytes apart in out / indices. */
struct red_job {
    sy_redop op;
    int64_t n, rs, cs, ocs, ics;
    int correction;
};

/* Per-column work space of one kernel call: acc holds sums (ACC) or the best
** values so far (T); each slot has room for 8 bytes per column. */
struct red_scratch {
    void *acc;
    double *mean, *ss;
    int64_t *pos;
};
#define SCRATCH_SLOTS 4

#define OUT(T, base, stride, j) (*(T *)((base) + (j) * (stride)))
#define ISNAN_F(v) ((v) != (v))
#define ISNAN_NEVER(v) 0

/* Kernels for one input element type T.
**   ACC    accumulator of sums and products: double for floats (float32 sums
**          keep far more digits than the result needs), uint64_t for integers
**          (wraps like int64 arithmetic, without undefined overflow)
**   SUMT   C type of a sum/prod result; MEANT of mean/var/std
**   ACC_D  an accumulator as double (for the mean)
**   ISNAN  NaN test (constant 0 for integers)
** rowsum_/rowss_  one row: the sum, and the squared deviations from its
**          mean, in several partial sums (no single chain of dependent adds;
**          the order is fixed, so results repeat)
** colsum_/colss_  the same for m columns at once
**          (var is two-pass in double: the second pass has no cancellation,
**          unlike a sum of squares)
** rowext_/colext_ first maximum (minimum) and its position; NaN wins and the
**          first NaN is kept, as PyTorch on CPU
** block_   one block of m <= MAX_COLS outputs, written to out (and indices) */
#define RED_KERNELS(SUF, T, ACC, SUMT, MEANT, ACC_D, ISNAN)                                        \
static ACC rowsum_##SUF(const char *p, int64_t n, int64_t rs) {                                    \
    ACC r0 = 0, r1 = 0, r2 = 0, r3 = 0, r4 = 0, r5 = 0, r6 = 0, r7 = 0;                            \
    int64_t k = 0;                                                                                 \
    if (rs == (int64_t)sizeof(T)) {                                                                \
        const T *x = (const T *)p;                                                                 \
        for (; k + 8 <= n; k += 8) {                                                               \
            r0 += (ACC)x[k], r1 += (ACC)x[k + 1], r2 += (ACC)x[k + 2], r3 += (ACC)x[k + 3];        \
            r4 += (ACC)x[k + 4], r5 += (ACC)x[k + 5], r6 += (ACC)x[k + 6], r7 += (ACC)x[k + 7];    \
        }                                                                                          \
    }                                                                                              \
    for (; k < n; k++) r0 += (ACC) * (const T *)(p + k * rs);                                      \
    return ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));                                      \
}                                                                                                  \
                                                                                                   \
static double rowss_##SUF(const char *p, int64_t n, int64_t rs, double mean) {                     \
    double r0 = 0, r1 = 0, r2 = 0, r3 = 0, d0, d1, d2, d3;                                         \
    int64_t k = 0;                                                                                 \
    if (rs == (int64_t)sizeof(T)) {                                                                \
        const T *x = (const T *)p;                                                                 \
        for (; k + 4 <= n; k += 4) {                                                               \
            d0 = (double)x[k] - mean, d1 = (double)x[k + 1] - mean;                                \
            d2 = (double)x[k + 2] - mean, d3 = (double)x[k + 3] - mean;                            \
            r0 += d0 * d0, r1 += d1 * d1, r2 += d2 * d2, r3 += d3 * d3;                            \
        }                                                                                          \
    }                                                                                              \
    for (; k < n; k++) {                                                                           \
        d0 = (double)*(const T *)(p + k * rs) - mean;                                              \
        r0 += d0 * d0;                                                                             \
    }                                                                                              \
    return (r0 + r1) + (r2 + r3);                                                                  \
}                                                                                                  \
                                                                                                   \
static void colsum_##SUF(int prod, const char *p, int64_t n, int64_t rs, int64_t m, int64_t cs,    \
                         ACC *restrict acc) {                                                      \
    int64_t j, k;                                                                                  \
    int u;                                                                                         \
    for (j = 0; j < m; j++) acc[j] = prod ? 1 : 0;                                                 \
    for (k = 0; k < n; k++) {                                                                      \
        const char *q = p + k * rs;                                                                \
        j = 0;                                                                                     \
        if (cs == (int64_t)sizeof(T)) {                                                            \
            const T *restrict x = (const T *)q;                                                    \
            if (prod)                                                                              \
                for (; j + LANES <= m; j += LANES)                                                 \
                    for (u = 0; u < LANES; u++) acc[j + u] *= (ACC)x[j + u];                       \
            else                                                                                   \
                for (; j + LANES <= m; j += LANES)                                                 \
                    for (u = 0; u < LANES; u++) acc[j + u] += (ACC)x[j + u];                       \
        }                                                                                          \
        for (; j < m; j++) {                                                                       \
            ACC x = (ACC) * (const T *)(q + j * cs);                                               \
            if (prod) acc[j] *= x;                                                                 \
            else acc[j] += x;                                                                      \
        }                                                                                          \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
static void colss_##SUF(const char *p, int64_t n, int64_t rs, int64_t m, int64_t cs,               \
                        const double *restrict mean, double *restrict ss) {                        \
    int64_t j, k;                                                                                  \
    int u;                                                                                         \
    double d;                                                                                      \
    for (j = 0; j < m; j++) ss[j] = 0;                                                             \
    for (k = 0; k < n; k++) {                                                                      \
        const char *q = p + k * rs;                                                                \
        j = 0;                                                                                     \
        if (cs == (int64_t)sizeof(T)) {                                                            \
            const T *restrict x = (const T *)q;                                                    \
            for (; j + LANES <= m; j += LANES)                                                     \
                for (u = 0; u < LANES; u++) {                                                      \
                    d = (double)x[j + u] - mean[j + u];                                            \
                    ss[j + u] += d * d;                                                            \
                }                                                                                  \
        }                                                                                          \
        for (; j < m; j++) {                                                                       \
            d = (double)*(const T *)(q + j * cs) - mean[j];                                        \
            ss[j] += d * d;                                                                        \
        }                                                                                          \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
/* !(x <= b) is x > b or x NaN: one compare per element in the common case */                      \
static void rowext_##SUF(int want_max, const char *p, int64_t n, int64_t rs, T *best,              \
                         int64_t *pos) {                                                           \
    T b = *(const T *)p;                                                                           \
    int64_t bp = 0, k;                                                                             \
    if (!ISNAN(b)) {                                                                               \
        if (want_max) {                                                                            \
            for (k = 1; k < n; k++) {                                                              \
                T x = *(const T *)(p + k * rs);                                                    \
                if (!(x <= b)) {                                                                   \
                    b = x, bp = k;                                                                 \
                    if (ISNAN(x)) break;                                                           \
                }                                                                                  \
            }                                                                                      \
        } else {                                                                                   \
            for (k = 1; k < n; k++) {                                                              \
                T x = *(const T *)(p + k * rs);                                                    \
                if (!(x >= b)) {                                                                   \
                    b = x, bp = k;                                                                 \
                    if (ISNAN(x)) break;                                                           \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    *best = b;                                                                                     \
    *pos = bp;                                                                                     \
}                                                                                                  \
                                                                                                   \
/* branch-free across columns; a NaN best is never replaced */                                     \
static void colext_##SUF(int want_max, const char *p, int64_t n, int64_t rs, int64_t m,            \
                         int64_t cs, T *restrict best, int64_t *restrict pos) {                    \
    int64_t j, k;                                                                                  \
    for (j = 0; j < m; j++) {                                                                      \
        best[j] = *(const T *)(p + j * cs);                                                        \
        pos[j] = 0;                                                                                \
    }                                                                                              \
    for (k = 1; k < n; k++) {                                                                      \
        const char *q = p + k * rs;                                                                \
        if (want_max) {                                                                            \
            for (j = 0; j < m; j++) {                                                              \
                T x = *(const T *)(q + j * cs), b = best[j];                                       \
                int take = !(x <= b) & !ISNAN(b);                                                  \
                best[j] = take ? x : b;                                                            \
                pos[j] = take ? k : pos[j];                                                        \
            }                                                                                      \
        } else {                                                                                   \
            for (j = 0; j < m; j++) {                                                              \
                T x = *(const T *)(q + j * cs), b = best[j];                                       \
                int take = !(x >= b) & !ISNAN(b);                                                  \
                best[j] = take ? x : b;                                                            \
                pos[j] = take ? k : pos[j];                                                        \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
static void block_##SUF(const struct red_job *jb, const struct red_scratch *sc, const char *p,     \
                        char *o, char *ix, int64_t m) {                                            \
    int64_t j, n = jb->n;                                                                          \
    ACC *acc = (ACC *)sc->acc;                                                                     \
    double *mean = sc->mean, *ss = sc->ss;                                                         \
    switch (jb->op) {                                                                              \
    case SY_RED_SUM:                                                                               \
    case SY_RED_PROD:                                                                              \
    case SY_RED_MEAN:                                                                              \
        if (m == 1 && jb->op != SY_RED_PROD) acc[0] = rowsum_##SUF(p, n, jb->rs);                  \
        else colsum_##SUF(jb->op == SY_RED_PROD, p, n, jb->rs, m, jb->cs, acc);                    \
        if (jb->op == SY_RED_MEAN)                                                                 \
            for (j = 0; j < m; j++) OUT(MEANT, o, jb->ocs, j) = (MEANT)(ACC_D(acc[j]) / (double)n); \
        else                                                                                       \
            for (j = 0; j < m; j++) OUT(SUMT, o, jb->ocs, j) = (SUMT)acc[j];                       \
        break;                                                                                     \
    case SY_RED_VAR:                                                                               \
    case SY_RED_STD: {                                                                             \
        /* divisor max(0, n - correction), as PyTorch: NaN or inf, not an error */                 \
        double div = n > jb->correction ? (double)(n - jb->correction) : 0.0;                      \
        if (m == 1) {                                                                              \
            mean[0] = ACC_D(rowsum_##SUF(p, n, jb->rs)) / (double)n;                               \
            ss[0] = rowss_##SUF(p, n, jb->rs, mean[0]);                                            \
        } else {                                                                                   \
            colsum_##SUF(0, p, n, jb->rs, m, jb->cs, acc);                                         \
            for (j = 0; j < m; j++) mean[j] = ACC_D(acc[j]) / (double)n;                           \
            colss_##SUF(p, n, jb->rs, m, jb->cs, mean, ss);                                        \
        }                                                                                          \
        for (j = 0; j < m; j++) {                                                                  \
            double v = ss[j] / div;                                                                \
            OUT(MEANT, o, jb->ocs, j) = (MEANT)(jb->op == SY_RED_STD ? sqrt(v) : v);               \
        }                                                                                          \
        break;                                                                                     \
    }                                                                                              \
    default: {                                                                                     \
        T *best = (T *)sc->acc;                                                                    \
        int want_max = jb->op == SY_RED_MAX || jb->op == SY_RED_ARGMAX;                            \
        if (m == 1) rowext_##SUF(want_max, p, n, jb->rs, best, sc->pos);                           \
        else colext_##SUF(want_max, p, n, jb->rs, m, jb->cs, best, sc->pos);                       \
        if (jb->op == SY_RED_ARGMAX || jb->op == SY_RED_ARGMIN) {                                  \
            for (j = 0; j < m; j++) OUT(int64_t, o, jb->ocs, j) = sc->pos[j];                      \
        } else {                                                                                   \
            for (j = 0; j < m; j++) OUT(T, o, jb->ocs, j) = best[j];                               \
            if (ix)                                                                                \
                for (j = 0; j < m; j++) OUT(int64_t, ix, jb->ics, j) = sc->pos[j];                 \
        }                                                                                          \
    }                                                                                              \
    }                                                                                              \
}

#define ACC_D_FLOAT(x) (x)
#define ACC_D_INT(x) ((double)(int64_t)(x))

RED_KERNELS(f32, float, double, float, float, ACC_D_FLOAT, ISNAN_F)
RED_KERNELS(f64, double, double, double, double, ACC_D_FLOAT, ISNAN_F)
RED_KERNELS(i64, int64_t, uint64_t, int64_t, float, ACC_D_INT, ISNAN_NEVER)
/* bool is stored as uint8 0/1, so it shares these */
RED_KERNELS(u8, uint8_t, uint64_t, int64_t, float, ACC_D_INT, ISNAN_NEVER)

typedef void (*block_fn)(const struct red_job *jb, const struct red_scratch *sc, const char *p,
                         char *o, char *ix, int64_t m);

static int64_t abs64(int64_t x) { return x < 0 ? -x : x; }

/* out (and indices) have a's shape with `dim` of size 1 and the dtypes the
** front end chose; a->size[dim] > 0 for MAX/MIN/ARG*. For ARGMAX/ARGMIN the
** positions go to out and indices is NULL; for MAX/MIN indices may be NULL. */
sy_status sy_cpu_reduce_dim(sy_redop op, sy_tensor *out, sy_tensor *indices, const sy_tensor *a,
                            int dim, int correction) {
    /* kept dims (size > 1), merged where contiguous in a, out and indices */
    int64_t sz[SY_MAX_DIMS], sa[SY_MAX_DIMS], so[SY_MAX_DIMS], si[SY_MAX_DIMS];
    int64_t idx[SY_MAX_DIMS] = {0}, m = 1, j0, cols;
    const int64_t ea = sy_dtype_size(a->dtype), eo = sy_dtype_size(out->dtype), ei = 8;
    struct red_job jb;
    struct red_scratch sc;
    block_fn block;
    char *buf;
    size_t nbytes;
    int nk = 0, i, col = -1;

    for (i = 0; i < a->ndim; i++)
        if (i != dim && a->size[i] == 0) return SY_OK;   /* no outputs */
    for (i = 0; i < a->ndim; i++) {
        int64_t ist = indices ? indices->stride[i] : 0;
        if (i == dim || a->size[i] == 1) continue;
        if (nk > 0 && sa[nk - 1] == a->stride[i] * a->size[i] &&
            so[nk - 1] == out->stride[i] * a->size[i] && si[nk - 1] == ist * a->size[i]) {
            sz[nk - 1] *= a->size[i];
            sa[nk - 1] = a->stride[i], so[nk - 1] = out->stride[i], si[nk - 1] = ist;
            continue;
        }
        sz[nk] = a->size[i], sa[nk] = a->stride[i], so[nk] = out->stride[i], si[nk] = ist;
        nk++;
    }

    jb.op = op;
    jb.n = a->size[dim];
    jb.rs = a->stride[dim] * ea;
    jb.correction = correction;
    jb.cs = jb.ocs = jb.ics = 0;
    /* Column mode when some kept dim is closer together in memory than the
    ** reduced one (reducing a non-last dim), or when rows are too short to
    ** pay for a call each. */
    for (i = 0; i < nk; i++)
        if (col < 0 || abs64(sa[i]) < abs64(sa[col])) col = i;
    if (col >= 0 && (abs64(sa[col]) < abs64(a->stride[dim]) || jb.n < 8)) {
        m = sz[col];
        jb.cs = sa[col] * ea, jb.ocs = so[col] * eo, jb.ics = si[col] * ei;
        for (i = col; i < nk - 1; i++)
            sz[i] = sz[i + 1], sa[i] = sa[i + 1], so[i] = so[i + 1], si[i] = si[i + 1];
        nk--;
    }

    switch (a->dtype) {
    case SY_F32: block = block_f32; break;
    case SY_F64: block = block_f64; break;
    case SY_I64: block = block_i64; break;
    default: block = block_u8; break;   /* SY_U8, SY_BOOL */
    }
    cols = m < MAX_COLS ? m : MAX_COLS;
    nbytes = (size_t)cols * 8 * SCRATCH_SLOTS;
    if (!(buf = sy_mem_alloc(nbytes))) return SY_ERR_OOM;
    sc.acc = buf;
    sc.mean = (double *)(buf + cols * 8);
    sc.ss = (double *)(buf + cols * 16);
    sc.pos = (int64_t *)(buf + cols * 24);

    for (;;) {
        const char *p = (const char *)sy_tensor_data(a);
        char *o = (char *)sy_tensor_data(out), *ix = indices ? (char *)sy_tensor_data(indices) : NULL;
        for (i = 0; i < nk; i++) {
            p += idx[i] * sa[i] * ea;
            o += idx[i] * so[i] * eo;
            if (ix) ix += idx[i] * si[i] * ei;
        }
        for (j0 = 0; j0 < m; j0 += cols)
            block(&jb, &sc, p + j0 * jb.cs, o + j0 * jb.ocs, ix ? ix + j0 * jb.ics : NULL,
                  m - j0 < cols ? m - j0 : cols);
        for (i = nk - 1; i >= 0; i--) {
            if (++idx[i] < sz[i]) break;
            idx[i] = 0;
        }
        if (i < 0) break;
    }
    sy_mem_free(buf, nbytes);
    return SY_OK;
}

/* ------------------------------------------------------------- front end */

/* Result dtype, following PyTorch: sums and products of integers and bools
** widen to int64; max/min keep the dtype; positions are int64. PyTorch
** refuses mean/var/std of integers; synlua gives float32 instead (the
** default float type), so `mask:mean()` is the fraction of kept weights. */
static sy_dtype result_dtype(sy_redop op, sy_dtype in) {
    switch (op) {
    case SY_RED_SUM:
    case SY_RED_PROD: return sy_dtype_is_float(in) ? in : SY_I64;
    case SY_RED_MEAN:
    case SY_RED_VAR:
    case SY_RED_STD: return sy_dtype_is_float(in) ? in : SY_F32;
    case SY_RED_ARGMAX:
    case SY_RED_ARGMIN: return SY_I64;
    default: return in;
    }
}

/* a as a 1-d tensor for a reduction over all elements. When element order
** does not matter (no positions wanted), dims are first permuted into memory
** order, so transposed or permuted inputs are viewed rather than copied. */
static sy_status flatten_input(sy_tensor **flat, const sy_tensor *a, int order_free) {
    int64_t n = sy_tensor_numel(a);
    int perm[SY_MAX_DIMS], i, k;
    sy_tensor *pv;
    sy_status st;
    if (!order_free) return sy_tensor_reshape(flat, a, 1, &n);
    for (i = 0; i < a->ndim; i++) {   /* stable insertion sort, largest stride first */
        int d = i;
        for (k = i; k > 0 && a->stride[perm[k - 1]] < a->stride[d]; k--) perm[k] = perm[k - 1];
        perm[k] = d;
    }
    if ((st = sy_tensor_permute(&pv, a, perm))) return st;
    st = sy_tensor_reshape(flat, pv, 1, &n);
    sy_tensor_release(pv);
    return st;
}

/* A new tensor of the result shape and the view of it the kernel writes:
** the input's shape with the reduced dim kept as 1 (or [1] for all dims). */
static sy_status make_result(sy_tensor **res, sy_tensor **kview, sy_dtype dt, const sy_tensor *a,
                             int dim, int keepdim) {
    int64_t rsize[SY_MAX_DIMS], ksize[SY_MAX_DIMS];
    int rn = 0, kn, i;
    sy_status st;
    for (i = 0; i < a->ndim; i++) {
        ksize[i] = (dim == SY_ALL_DIMS || i == dim) ? 1 : a->size[i];
        if (keepdim) rsize[rn++] = ksize[i];
        else if (dim != SY_ALL_DIMS && i != dim) rsize[rn++] = a->size[i];
    }
    kn = a->ndim;
    if (dim == SY_ALL_DIMS) ksize[0] = 1, kn = 1;
    *kview = NULL;
    if ((st = sy_tensor_empty(res, dt, rn, rsize))) return st;
    if ((st = sy_tensor_view(kview, *res, kn, ksize))) {
        sy_tensor_release(*res);
        *res = NULL;
    }
    return st;
}

sy_status sy_reduce(sy_tensor **out, sy_tensor **indices, sy_redop op, const sy_tensor *a, int dim,
                    int keepdim, int correction) {
    const sy_backend *be;
    const char *name;
    const sy_tensor *src = a;
    sy_tensor *flat = NULL, *ov = NULL, *iv = NULL, *res_i = NULL;
    int want_idx, rd;
    int64_t n;
    sy_status st;
    char shape[SY_SHAPE_STRLEN];

    *out = NULL;
    if (indices) *indices = NULL;
    if (op >= SY_REDOP_COUNT) return sy_error(SY_ERR_ARG, "reduce: unknown op %d", (int)op);
    name = redop_names[op];
    if (dim != SY_ALL_DIMS && (dim < 0 || dim >= a->ndim)) {
        if (a->ndim == 0)
            return sy_error(SY_ERR_INDEX,
                            "%s: dimension %d out of range for a 0-d tensor (reduce it over all "
                            "dimensions)", name, dim);
        return sy_error(SY_ERR_INDEX, "%s: dimension %d out of range for a %d-d tensor", name, dim,
                        a->ndim);
    }
    if ((op == SY_RED_VAR || op == SY_RED_STD) && correction < 0)
        return sy_error(SY_ERR_ARG, "%s: correction %d must not be negative", name, correction);
    n = dim == SY_ALL_DIMS ? sy_tensor_numel(a) : a->size[dim];
    if (redop_is_extreme(op) && n == 0)
        return sy_error(SY_ERR_SHAPE,
                        "%s: cannot reduce over an empty dimension (input shape %s): the %s of no "
                        "elements is undefined", name,
                        sy_shape_str(shape, sizeof shape, a->ndim, a->size), name);
    if (!(be = sy_backend_for(a->storage->device))) return SY_ERR_DEVICE;

    want_idx = indices && (op == SY_RED_MAX || op == SY_RED_MIN);
    if (dim == SY_ALL_DIMS) {
        if ((st = flatten_input(&flat, a, !want_idx && op != SY_RED_ARGMAX && op != SY_RED_ARGMIN)))
            return st;
        src = flat;
        rd = 0;
    } else {
        rd = dim;
    }
    if ((st = make_result(out, &ov, result_dtype(op, a->dtype), a, dim, keepdim))) goto done;
    if (want_idx && (st = make_result(&res_i, &iv, SY_I64, a, dim, keepdim))) goto done;
    st = be->reduce_dim(op, ov, iv, src, rd, correction);

done:
    sy_tensor_release(flat);
    sy_tensor_release(ov);
    sy_tensor_release(iv);
    if (st) {
        sy_tensor_release(*out);
        sy_tensor_release(res_i);
        *out = NULL;
        return st;
    }
    if (indices) *indices = res_i;
    return SY_OK;
}
