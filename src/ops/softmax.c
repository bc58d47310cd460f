/*
** softmax.c -- softmax and log_softmax along one dimension, forward and
** backward (see attention.h).
**
** A contiguous tensor is [outer, n, inner] around the softmax dim. The last
** dim (inner = 1) runs row by row -- float rows on eight SIMD lanes with the
** vectorised exponential of simd.h, double rows through libm -- and many
** rows are split across the pool; any other dim runs over whole inner-long
** rows at a time with a running maximum and sum per column, so memory is
** still read in order.
**
** Written once over SY_REAL and compiled for float and double by including
** itself, like rnn.c.
*/
#ifndef SY_REAL

#include <math.h>

#include "../core/alloc.h"
#include "../core/threads.h"
#include "attention.h"
#include "simd.h"

/* ------------------------------------------------------ float rows, SIMD */

/* Rows of n >= 8 go eight lanes at a time, the last vector ending at the
** row's end and overlapping the one before (a partial vector would need a
** masked load); the overlap is loaded before anything is written, since
** the output may be the input, and the lanes seen before count once in the
** sum. Shorter rows go through zero-padded copies. */
static const sy_v8i lane_index = {0, 1, 2, 3, 4, 5, 6, 7};

/* The row's maximum, in two chains (padding lanes are -inf). NaN never
** wins a comparison but poisons the sum later, so a row holding NaN comes
** out NaN. */
SY_INLINE float row_max(const float *xr, int64_t n) {
    sy_v8f v, v2, vm, vm2, ninf;
    int64_t j;
    if (n < 8) {
        sy_v8_set1(&ninf, -INFINITY);
        sy_v8_load(&v, xr, (int)n);
        sy_v8_select(&v, lane_index >= (int)n, &ninf, &v);
        return sy_v8_max(&v);
    }
    sy_v8_load(&vm, xr + n - 8, 8);
    vm2 = vm;
    for (j = 0; j + 16 <= n; j += 16) {
        sy_v8_load(&v, xr + j, 8);
        sy_v8_load(&v2, xr + j + 8, 8);
        sy_v8_select(&vm, v > vm, &v, &vm);
        sy_v8_select(&vm2, v2 > vm2, &v2, &vm2);
    }
    if (j + 8 <= n) {
        sy_v8_load(&v, xr + j, 8);
        sy_v8_select(&vm, v > vm, &v, &vm);
    }
    sy_v8_select(&vm, vm2 > vm, &vm2, &vm);
    return sy_v8_max(&vm);
}

/* sum of e^(x - m) over the row, e^(x - m) stored in yr unless take_log.
** The exponentials go four vectors at a time (sy_v8_exp_n interleaves
** them), each four summed in a tree before they join the running sum. */
SY_INLINE float row_exp_sum(float *yr, const float *xr, int64_t n, float m, int take_log) {
    sy_v8f v[4], vm, vs = {0}, zero = {0}, tail;
    const int64_t off = n - 8;
    int64_t j;
    sy_v8_set1(&vm, m);
    if (n < 8) {   /* padding lanes load as 0: e^(0 - m) is dropped */
        sy_v8_load(&v[0], xr, (int)n);
        v[0] -= vm;
        sy_v8_exp(&v[0]);
        if (!take_log) sy_v8_store(yr, &v[0], (int)n);
        sy_v8_select(&v[0], lane_index >= (int)n, &zero, &v[0]);
        return sy_v8_sum(&v[0]);
    }
    sy_v8_load(&tail, xr + off, 8);
    for (j = 0; j + 32 <= n; j += 32) {
        sy_v8_load(&v[0], xr + j, 8);
        sy_v8_load(&v[1], xr + j + 8, 8);
        sy_v8_load(&v[2], xr + j + 16, 8);
        sy_v8_load(&v[3], xr + j + 24, 8);
        v[0] -= vm;
        v[1] -= vm;
        v[2] -= vm;
        v[3] -= vm;
        sy_v8_exp_n(v, 4);
        vs += (v[0] + v[1]) + (v[2] + v[3]);
        if (!take_log) {
            sy_v8_store(yr + j, &v[0], 8);
            sy_v8_store(yr + j + 8, &v[1], 8);
            sy_v8_store(yr + j + 16, &v[2], 8);
            sy_v8_store(yr + j + 24, &v[3], 8);
        }
    }
    for (; j + 8 <= n; j += 8) {
        sy_v8_load(&v[0], xr + j, 8);
        v[0] -= vm;
        sy_v8_exp(&v[0]);
        vs += v[0];
        if (!take_log) sy_v8_store(yr + j, &v[0], 8);
    }
    if (j < n) {
        v[0] = tail - vm;
        sy_v8_exp(&v[0]);
        if (!take_log) sy_v8_store(yr + off, &v[0], 8);
        sy_v8_select(&v[0], lane_index < (int)(j - off), &zero, &v[0]);
        vs += v[0];
    }
    return sy_v8_sum(&vs);
}
/* dx = y (dy - sum(dy y)), or for log_softmax dx = dy - exp(y) sum(dy). */
SY_INLINE void row_backward(float *dxr, const float *dyr, const float *yr, int64_t n,
                            int take_log) {
    sy_v8f a, b, vs = {0}, zero = {0}, dyt, yt;
    const int64_t off = n - 8;
    int64_t j;
    if (n < 8) {   /* padded lanes load as 0 and add nothing */
        sy_v8_load(&a, dyr, (int)n);
        sy_v8_load(&b, yr, (int)n);
        vs = take_log ? a : a * b;
        sy_v8_set1(&vs, sy_v8_sum(&vs));
        if (take_log) {
            sy_v8_exp(&b);
            a = a - b * vs;
        } else {
            a = b * (a - vs);
        }
        sy_v8_store(dxr, &a, (int)n);
        return;
    }
    sy_v8_load(&dyt, dyr + off, 8);
    sy_v8_load(&yt, yr + off, 8);
    for (j = 0; j + 8 <= n; j += 8) {
        sy_v8_load(&a, dyr + j, 8);
        if (!take_log) {
            sy_v8_load(&b, yr + j, 8);
            a *= b;
        }
        vs += a;
    }
    if (j < n) {
        a = take_log ? dyt : dyt * yt;
        sy_v8_select(&a, lane_index < (int)(j - off), &zero, &a);
        vs += a;
    }
    sy_v8_set1(&vs, sy_v8_sum(&vs));
    for (j = 0; j + 8 <= n; j += 8) {
        sy_v8_load(&a, dyr + j, 8);
        sy_v8_load(&b, yr + j, 8);
        if (take_log) {
            sy_v8_exp(&b);
            a = a - b * vs;
        } else {
            a = b * (a - vs);
        }
        sy_v8_store(dxr + j, &a, 8);
    }
    if (j < n) {
        if (take_log) {
            sy_v8_exp(&yt);
            a = dyt - yt * vs;
        } else {
            a = yt * (dyt - vs);
        }
        sy_v8_store(dxr + off, &a, 8);
    }
}

/* Rows go in blocks of eight, each step over all of the block's rows before
** the next: one row's steps depend on each other (maximum, exponentials,
** sum, its reciprocal or log, the last pass), another row's do not, so the
** rows' chains overlap; and the eight sums get their reciprocals or logs
** (sy_v8_log) in one vector. Each row is read before its output is written,
** so y may be x. */
SY_SIMD_CLONES static void rows_forward_simd(float *y, const float *x, int64_t rows, int64_t n,
                                             int take_log) {
    float m[8], s[8];
    sy_v8f vs;
    int64_t r, j;
    int i, nb;
    for (r = 0; r < rows; r += nb) {
        nb = rows - r < 8 ? (int)(rows - r) : 8;
        for (i = 0; i < nb; i++) m[i] = row_max(x + (r + i) * n, n);
        for (i = 0; i < nb; i++)
            s[i] = row_exp_sum(y + (r + i) * n, x + (r + i) * n, n, m[i], take_log);
        sy_v8_load(&vs, s, nb);
        if (take_log) sy_v8_log(&vs);
        else vs = 1 / vs;
        sy_v8_store(s, &vs, nb);
        for (i = 0; i < nb; i++) {
            float *yr = y + (r + i) * n;
            const float *xr = x + (r + i) * n;
            if (take_log)
                for (j = 0; j < n; j++) yr[j] = xr[j] - m[i] - s[i];
            else
                for (j = 0; j < n; j++) yr[j] *= s[i];
        }
    }
}

SY_SIMD_CLONES static void rows_backward_simd(float *dx, const float *dy, const float *y,
                                              int64_t rows, int64_t n, int take_log) {
    int64_t r;
    for (r = 0; r < rows; r++) row_backward(dx + r * n, dy + r * n, y + r * n, n, take_log);
}

#define SY_REAL float
#define SY_FN(name) name##_f32
#define SY_EXP expf
#define SY_LOG logf
#include "softmax.c"
#undef SY_REAL
#undef SY_FN
#undef SY_EXP
#undef SY_LOG

#define SY_ROWS_GENERIC
#define SY_REAL double
#define SY_FN(name) name##_f64
#define SY_EXP exp
#define SY_LOG log
#include "softmax.c"
#undef SY_REAL
#undef SY_FN
#undef SY_EXP
#undef SY_LOG
#undef SY_ROWS_GENERIC

#define DISPATCH(dt, fn, ...) ((dt) == SY_F32 ? fn##_f32(__VA_ARGS__) : fn##_f64(__VA_ARGS__))

void sy_softmax_rows(sy_dtype dt, void *y, const void *x, int64_t rows, int64_t n, int take_log) {
    if (dt == SY_F32) rows_forward_simd(y, x, rows, n, take_log);
    else rows_forward_f64(y, x, rows, n, take_log);
}

void sy_softmax_rows_backward(sy_dtype dt, void *dx, const void *dy, const void *y, int64_t rows,
                              int64_t n, int take_log) {
    if (dt == SY_F32) rows_backward_simd(dx, dy, y, rows, n, take_log);
    else rows_backward_f64(dx, dy, y, rows, n, take_log);
}

/* Rows split across the pool (outputs may alias their inputs row by row). */
typedef struct {
    sy_dtype dt;
    void *out;
    const void *a, *b;   /* x; or dy and y */
    int64_t rows, n;
    int take_log, backward;
} rows_job;

static void rows_task(void *ctx, int task, int n_tasks) {
    const rows_job *j = ctx;
    const int64_t es = sy_dtype_size(j->dt);
    int64_t lo, hi;
    sy_split(j->rows, 1, task, n_tasks, &lo, &hi);
    if (lo == hi) return;
    if (j->backward)
        sy_softmax_rows_backward(j->dt, (char *)j->out + lo * j->n * es,
                                 (const char *)j->a + lo * j->n * es,
                                 (const char *)j->b + lo * j->n * es, hi - lo, j->n, j->take_log);
    else
        sy_softmax_rows(j->dt, (char *)j->out + lo * j->n * es, (const char *)j->a + lo * j->n * es,
                        hi - lo, j->n, j->take_log);
}

/* Below this many elements the rows stay on the calling thread. */
#define ROWS_SPLIT_MIN ((int64_t)1 << 15)

static void run_rows(const rows_job *j) {
    sy_parallel_run(rows_task, (void *)j, j->rows * j->n < ROWS_SPLIT_MIN ? 1 : sy_parallel_width());
}
/* [outer, n, inner] around dim; a 0-d tensor is one element. */
static void split(const sy_tensor *t, int dim, int64_t *outer, int64_t *n, int64_t *inner) {
    int d;
    *outer = *inner = *n = 1;
    if (t->ndim == 0) return;
    for (d = 0; d < dim; d++) *outer *= t->size[d];
    *n = t->size[dim];
    for (d = dim + 1; d < t->ndim; d++) *inner *= t->size[d];
}

sy_status sy_softmax_forward(sy_tensor *y, const sy_tensor *x, int dim, int take_log) {
    int64_t outer, n, inner;
    size_t nbytes;
    void *work;
    split(x, dim, &outer, &n, &inner);
    if (inner == 1) {
        rows_job j = {x->dtype, sy_tensor_data(y), sy_tensor_data(x), NULL, outer, n, take_log, 0};
        run_rows(&j);
        return SY_OK;
    }
    nbytes = (size_t)(2 * inner * sy_dtype_size(x->dtype));
    if (!(work = sy_mem_alloc(nbytes))) return SY_ERR_OOM;
    DISPATCH(x->dtype, cols_forward, sy_tensor_data(y), sy_tensor_data(x), outer, n, inner,
             take_log, work);
    sy_mem_free(work, nbytes);
    return SY_OK;
}

sy_status sy_softmax_backward(sy_tensor *dx, const sy_tensor *dy, const sy_tensor *y, int dim,
                              int take_log) {
    int64_t outer, n, inner;
    size_t nbytes;
    void *work;
    split(y, dim, &outer, &n, &inner);
    if (inner == 1) {
        rows_job j = {y->dtype, sy_tensor_data(dx), sy_tensor_data(dy), sy_tensor_data(y),
                      outer, n, take_log, 1};
        run_rows(&j);
        return SY_OK;
    }
    nbytes = (size_t)(inner * sy_dtype_size(y->dtype));
    if (!(work = sy_mem_alloc(nbytes))) return SY_ERR_OOM;
    DISPATCH(y->dtype, cols_backward, sy_tensor_data(dx), sy_tensor_data(dy), sy_tensor_data(y),
             outer, n, inner, take_log, work);
    sy_mem_free(work, nbytes);
    return SY_OK;
}

#else /* ------------------------------------------- typed body (SY_REAL) */

#ifdef SY_ROWS_GENERIC
/* Each row's elements are read before the same positions are written, so y
** may be x. NaN never wins the max comparison but poisons the sum, so a row
** holding NaN comes out NaN. */
static void SY_FN(rows_forward)(SY_REAL *y, const SY_REAL *x, int64_t rows, int64_t n,
                                int take_log) {
    int64_t r, j;
    for (r = 0; r < rows; r++) {
        const SY_REAL *xr = x + r * n;
        SY_REAL *yr = y + r * n;
        SY_REAL m = -INFINITY, s = 0;
        for (j = 0; j < n; j++)
            if (xr[j] > m) m = xr[j];
        if (take_log) {
            for (j = 0; j < n; j++) s += SY_EXP(xr[j] - m);
            s = SY_LOG(s);
            for (j = 0; j < n; j++) yr[j] = xr[j] - m - s;
        } else {
            for (j = 0; j < n; j++) s += yr[j] = SY_EXP(xr[j] - m);
            s = 1 / s;
            for (j = 0; j < n; j++) yr[j] *= s;
        }
    }
}

static void SY_FN(rows_backward)(SY_REAL *dx, const SY_REAL *dy, const SY_REAL *y, int64_t rows,
                                 int64_t n, int take_log) {
    int64_t r, j;
    for (r = 0; r < rows; r++) {
        const SY_REAL *dyr = dy + r * n, *yr = y + r * n;
        SY_REAL *dxr = dx + r * n, s = 0;
        if (take_log) {
            for (j = 0; j < n; j++) s += dyr[j];
            for (j = 0; j < n; j++) dxr[j] = dyr[j] - SY_EXP(yr[j]) * s;
        } else {
            for (j = 0; j < n; j++) s += dyr[j] * yr[j];
            for (j = 0; j < n; j++) dxr[j] = yr[j] * (dyr[j] - s);
        }
    }
}

#endif

/* work: 2 * inner elements (column maxima, then sums). */
static void SY_FN(cols_forward)(SY_REAL *y, const SY_REAL *x, int64_t outer, int64_t n,
                                int64_t inner, int take_log, SY_REAL *work) {
    SY_REAL *m = work, *s = work + inner;
    int64_t o, k, j;
    for (o = 0; o < outer; o++) {
        const SY_REAL *xo = x + o * n * inner;
        SY_REAL *yo = y + o * n * inner;
        for (j = 0; j < inner; j++) {
            m[j] = -INFINITY;
            s[j] = 0;
        }
        for (k = 0; k < n; k++)
            for (j = 0; j < inner; j++)
                if (xo[k * inner + j] > m[j]) m[j] = xo[k * inner + j];
        if (take_log) {
            for (k = 0; k < n; k++)
                for (j = 0; j < inner; j++) s[j] += SY_EXP(xo[k * inner + j] - m[j]);
            for (j = 0; j < inner; j++) s[j] = SY_LOG(s[j]);
            for (k = 0; k < n; k++)
                for (j = 0; j < inner; j++) yo[k * inner + j] = xo[k * inner + j] - m[j] - s[j];
        } else {
            for (k = 0; k < n; k++)
                for (j = 0; j < inner; j++)
                    s[j] += yo[k * inner + j] = SY_EXP(xo[k * inner + j] - m[j]);
            for (j = 0; j < inner; j++) s[j] = 1 / s[j];
            for (k = 0; k < n; k++)
                for (j = 0; j < inner; j++) yo[k * inner + j] *= s[j];
        }
    }
}

/* work: inner elements (column sums). */
static void SY_FN(cols_backward)(SY_REAL *dx, const SY_REAL *dy, const SY_REAL *y, int64_t outer,
                                 int64_t n, int64_t inner, int take_log, SY_REAL *s) {
    int64_t o, k, j;
    for (o = 0; o < outer; o++) {
        const int64_t base = o * n * inner;
        const SY_REAL *dyo = dy + base, *yo = y + base;
        SY_REAL *dxo = dx + base;
        for (j = 0; j < inner; j++) s[j] = 0;
        for (k = 0; k < n; k++)
            for (j = 0; j < inner; j++)
                s[j] += take_log ? dyo[k * inner + j] : dyo[k * inner + j] * yo[k * inner + j];
        for (k = 0; k < n; k++)
            for (j = 0; j < inner; j++) {
                const int64_t i = k * inner + j;
                dxo[i] = take_log ? dyo[i] - SY_EXP(yo[i]) * s[j] : yo[i] * (dyo[i] - s[j]);
            }
    }
}

#endif
