/*
** softmax.c -- softmax and log_softmax along one dimension, forward and
** backward (see attention.h).
**
** A contiguous tensor is [outer, n, inner] around the softmax dim. The last
** dim (inner = 1) runs row by row; any other dim runs over whole inner-long
** rows at a time with a running maximum and sum per column, so memory is
** still read in order.
**
** Written once over SY_REAL and compiled for float and double by including
** itself, like rnn.c.
*/
#ifndef SY_REAL

#include <math.h>

#include "../core/alloc.h"
#include "attention.h"

#define SY_REAL float
#define SY_FN(name) name##_f32
#define SY_EXP expf
#define SY_LOG logf
#include "softmax.c"
#undef SY_REAL
#undef SY_FN
#undef SY_EXP
#undef SY_LOG

#define SY_REAL double
#define SY_FN(name) name##_f64
#define SY_EXP exp
#define SY_LOG log
#include "softmax.c"
#undef SY_REAL
#undef SY_FN
#undef SY_EXP
#undef SY_LOG

#define DISPATCH(dt, fn, ...) ((dt) == SY_F32 ? fn##_f32(__VA_ARGS__) : fn##_f64(__VA_ARGS__))

void sy_softmax_rows(sy_dtype dt, void *y, const void *x, int64_t rows, int64_t n, int take_log) {
    DISPATCH(dt, rows_forward, y, x, rows, n, take_log);
}

void sy_softmax_rows_backward(sy_dtype dt, void *dx, const void *dy, const void *y, int64_t rows,
                              int64_t n, int take_log) {
    DISPATCH(dt, rows_backward, dx, dy, y, rows, n, take_log);
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
        sy_softmax_rows(x->dtype, sy_tensor_data(y), sy_tensor_data(x), outer, n, take_log);
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
        sy_softmax_rows_backward(y->dtype, sy_tensor_data(dx), sy_tensor_data(dy),
                                 sy_tensor_data(y), outer, n, take_log);
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
