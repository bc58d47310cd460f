/*
** norm.c -- layer normalisation (over the last dim of each row) and batch
** normalisation (per channel over batch and length), forward and backward,
** with PyTorch's formulas (see layers.h).
**
** Both backwards are the fused form of the gradient through the statistics:
** with xhat = (x - mean) rstd and g = dy w, over the n values normalised
** together,
**     dx = rstd (g - mean(g) - xhat mean(g xhat)),
** dw = sum(dy xhat), db = sum(dy). The sums within a channel (batch norm)
** and a double row run in double. Float layer norm rows, the hot path of
** the encoders, run on eight float lanes (SY_SIMD_CLONES, see simd.h) with
** double kept where it buys precision cheaply: the per-row scalars, the
** mean above all (layer_norm_rows_f32); PyTorch accumulates float rows in
** float too. A short row is mostly a chain of dependent latencies, so a few
** rows go through each pass together, each with the operations it would do
** alone. dw and db sum over rows in the tensors' dtype.
**
** Layer norm's rows are split across the pool, and its dw and db (sums over
** rows) by columns, each column summed over the rows in order, so results do
** not depend on the thread count.
**
** The kernels are written once over SY_REAL: this file includes itself
** twice, for float and double, and the public functions below dispatch on
** the dtype.
*/
#ifndef SY_REAL

#include <float.h>
#include <math.h>
#include <string.h>

#include "../core/threads.h"
#include "layers.h"
#include "simd.h"

/* columns of double layer norm's dw and db summed per pass (layer_norm_dwb) */
#define LN_DWB_BLOCK 64

/* Float layer norm: rows taken together, forward (ln_fwd_rows) and in dx
** (ln_dx_rows: fewer, as each has two sums and 16 of them would not stay in
** AVX2's 16 registers), and vectors of columns whose dw and db sums stay in
** registers (ln_dwb_cols). Timed on [960, 16 .. 128]. */
#define LN_FWD_ROWS 8
#define LN_DX_ROWS 4
#define LN_DWB_VECS 4

/* Float row r with every sum and the output in double: the rows whose
** float sums overflow or underflow (layer_norm_rows_f32). */
static void layer_norm_row_wide(float *y, float *mean, float *rstd, const float *x,
                                const float *w, const float *b, int64_t r, int64_t D,
                                double eps) {
    const float *xr = x + r * D;
    float *yr = y + r * D;
    double s = 0, v = 0, m, rs;
    int64_t j;
    for (j = 0; j < D; j++) s += xr[j];
    m = s / (double)D;
    for (j = 0; j < D; j++) v += (xr[j] - m) * (xr[j] - m);
    rs = 1 / sqrt(v / (double)D + eps);
    mean[r] = (float)m;
    rstd[r] = (float)rs;
    for (j = 0; j < D; j++) {
        double h = (xr[j] - m) * rs;
        if (w) h *= w[j];
        if (b) h += b[j];
        yr[j] = (float)h;
    }
}

/* Pass 3 of a float row: y = ((x - mh) - ml) rs w + b, with c0, c1, c2 the
** broadcast mh, ml, rs; has_w and has_b are constants where the row is
** unswitched. Whole vectors, then one partial. */
SY_INLINE void ln_y_row(float *yr, const float *xr, const float *w, const float *b, int64_t D,
                        const sy_v8f *c0, const sy_v8f *c1, const sy_v8f *c2, int has_w,
                        int has_b) {
    sy_v8f t, wv, bv;
    int64_t j;
    int n;
    #pragma GCC unroll 4
    for (j = 0; j + 8 <= D; j += 8) {
        sy_v8_load(&t, xr + j, 8);
        t = ((t - *c0) - *c1) * *c2;
        if (has_w) {
            sy_v8_load(&wv, w + j, 8);
            t *= wv;
        }
        if (has_b) {
            sy_v8_load(&bv, b + j, 8);
            t += bv;
        }
        sy_v8_store(yr + j, &t, 8);
    }
    if ((n = (int)(D - j)) > 0) {
        sy_v8_load(&t, xr + j, n);
        t = ((t - *c0) - *c1) * *c2;
        if (has_w) {
            sy_v8_load(&wv, w + j, n);
            t *= wv;
        }
        if (has_b) {
            sy_v8_load(&bv, b + j, n);
            t += bv;
        }
        sy_v8_store(yr + j, &t, n);
    }
}

/* The float rows [r, r + k) in three passes over eight float lanes:
**  1. the sum of x - x[0] (shifted by the first value, so a row with a large
**     mean loses no precision in the sum); mean = x[0] + sum / D in double;
**  2. the sum of squared deviations d = (x - mh) - ml, the mean split in a
**     float head mh and tail ml: x - mh is exact when x is near the mean,
**     so d carries the double mean's precision;
**  3. y = d rstd w + b.
** The lanes are summed by a fixed tree (sy_v8_sum), the scalar tail and the
** per-row scalars in double. Rows whose float sum of squares overflowed (or
** is NaN), or underflowed with an eps too small to hide it, are redone in
** double (layer_norm_row_wide).
** A short row is a chain of dependent latencies (each pass's adds, the
** lanes' sum, the square root), so each step but the output is taken on
** all k <= LN_FWD_ROWS rows (a constant where inlined) before the next, as
** sy_v8_exp_n does, and the chains run side by side; each row does the same
** operations in the same order as alone. */
SY_INLINE void ln_fwd_rows(float *y, float *mean, float *rstd, const float *x, const float *w,
                           const float *b, int64_t r, int k, int64_t D, double inv_d, double eps,
                           int has_w, int has_b) {
    const int64_t D8 = D & ~(int64_t)7;
    const float *xr[LN_FWD_ROWS];
    sy_v8f acc[LN_FWD_ROWS], c0, c1, c2, t;
    float x0[LN_FWD_ROWS], mh[LN_FWD_ROWS], ml[LN_FWD_ROWS], rs[LN_FWD_ROWS];
    double s, v[LN_FWD_ROWS], m;
    int64_t j;
    int i, wide[LN_FWD_ROWS];
    #pragma GCC unroll 8
    for (i = 0; i < k; i++) {
        xr[i] = x + (r + i) * D;
        x0[i] = D > 0 ? xr[i][0] : 0;
        acc[i] = (sy_v8f){0};
    }
    for (j = 0; j < D8; j += 8)
        #pragma GCC unroll 8
        for (i = 0; i < k; i++) {
            sy_v8_set1(&c0, x0[i]);
            sy_v8_load(&t, xr[i] + j, 8);
            acc[i] += t - c0;
        }
    #pragma GCC unroll 8
    for (i = 0; i < k; i++) {
        for (s = sy_v8_sum(&acc[i]), j = D8; j < D; j++) s += xr[i][j] - x0[i];
        m = x0[i] + s * inv_d;
        mh[i] = (float)m;
        ml[i] = (float)(m - mh[i]);
        acc[i] = (sy_v8f){0};
    }
    for (j = 0; j < D8; j += 8)
        #pragma GCC unroll 8
        for (i = 0; i < k; i++) {
            sy_v8_set1(&c0, mh[i]);
            sy_v8_set1(&c1, ml[i]);
            sy_v8_load(&t, xr[i] + j, 8);
            t = (t - c0) - c1;
            acc[i] += t * t;
        }
    #pragma GCC unroll 8
    for (i = 0; i < k; i++)
        for (v[i] = sy_v8_sum(&acc[i]), j = D8; j < D; j++) {
            const float d = (xr[i][j] - mh[i]) - ml[i];
            v[i] += d * d;
        }
    /* rstd of every row, the wide ones too (theirs is not used), so that the
    ** square roots and divisions go as vector operations */
    #pragma GCC unroll 8
    for (i = 0; i < k; i++) rs[i] = (float)(1 / sqrt(v[i] * inv_d + eps));
    #pragma GCC unroll 8
    for (i = 0; i < k; i++) wide[i] = !(v[i] <= FLT_MAX) || (v[i] * inv_d < 1e-30 && eps < 1e-30);
    for (i = 0; i < k; i++) {
        float *yr = y + (r + i) * D;
        if (wide[i]) {
            layer_norm_row_wide(y, mean, rstd, x, w, b, r + i, D, eps);
            continue;
        }
        mean[r + i] = mh[i];
        rstd[r + i] = rs[i];
        sy_v8_set1(&c0, mh[i]);
        sy_v8_set1(&c1, ml[i]);
        sy_v8_set1(&c2, rs[i]);
        ln_y_row(yr, xr[i], w, b, D, &c0, &c1, &c2, has_w, has_b);
    }
}

/* The float rows [r0, r1), LN_FWD_ROWS at a time, then one by one. */
SY_SIMD_CLONES static void layer_norm_rows_f32(float *y, float *mean, float *rstd, const float *x,
                                               const float *w, const float *b, int64_t r0,
                                               int64_t r1, int64_t D, double eps) {
    const double inv_d = D > 0 ? 1.0 / (double)D : 0;
    int64_t r = r0;
    if (w && b) {   /* the usual case, unswitched */
        for (; r + LN_FWD_ROWS <= r1; r += LN_FWD_ROWS)
            ln_fwd_rows(y, mean, rstd, x, w, b, r, LN_FWD_ROWS, D, inv_d, eps, 1, 1);
    } else {
        for (; r + LN_FWD_ROWS <= r1; r += LN_FWD_ROWS)
            ln_fwd_rows(y, mean, rstd, x, w, b, r, LN_FWD_ROWS, D, inv_d, eps, w != NULL,
                        b != NULL);
    }
    for (; r < r1; r++)
        ln_fwd_rows(y, mean, rstd, x, w, b, r, 1, D, inv_d, eps, w != NULL, b != NULL);
}

/* g = dy w and xhat = (x - mean) rstd on n <= 8 lanes of a row (w: the
** row's weights when has_w). */
SY_INLINE void ln_g_xhat(sy_v8f *g, sy_v8f *xh, const float *gr, const float *w, const float *xr,
                         int n, int has_w, const sy_v8f *vm, const sy_v8f *vrs) {
    sy_v8f wv;
    sy_v8_load(g, gr, n);
    if (has_w) {
        sy_v8_load(&wv, w, n);
        *g *= wv;
    }
    sy_v8_load(xh, xr, n);
    *xh = (*xh - *vm) * *vrs;
}

/* dx of the float rows [r, r + k), with g = dy w and xhat = (x - mean) rstd:
** rstd (g - mean(g) - xhat mean(g xhat)), the two sums on eight float lanes,
** taken a step on all k <= LN_DX_ROWS rows at a time as in ln_fwd_rows (k a
** constant where inlined; each row does the same operations as alone).
** has_w is a constant where the rows are unswitched. */
SY_INLINE void ln_dx_rows(float *dx, const float *dy, const float *x, const float *w,
                          const float *mean, const float *rstd, int64_t r, int k, double inv_d,
                          int64_t D, int has_w) {
    const int64_t D8 = D & ~(int64_t)7;
    sy_v8f sg8[LN_DX_ROWS], sgx8[LN_DX_ROWS], g, xh, vm, vrs, vmg, vmgx;
    float mg[LN_DX_ROWS], mgx[LN_DX_ROWS];
    double sg, sgx;
    int64_t j;
    int i, n;
    #pragma GCC unroll 8
    for (i = 0; i < k; i++) sg8[i] = sgx8[i] = (sy_v8f){0};
    for (j = 0; j < D8; j += 8)
        #pragma GCC unroll 8
        for (i = 0; i < k; i++) {
            const int64_t o = (r + i) * D + j;
            sy_v8_set1(&vm, mean[r + i]);
            sy_v8_set1(&vrs, rstd[r + i]);
            ln_g_xhat(&g, &xh, dy + o, has_w ? w + j : NULL, x + o, 8, has_w, &vm, &vrs);
            sg8[i] += g;
            sgx8[i] += g * xh;
        }
    #pragma GCC unroll 8
    for (i = 0; i < k; i++) {
        const float *gr = dy + (r + i) * D, *xr = x + (r + i) * D;
        const float m = mean[r + i], rs = rstd[r + i];
        sg = sy_v8_sum(&sg8[i]);
        sgx = sy_v8_sum(&sgx8[i]);
        for (j = D8; j < D; j++) {
            const float gj = has_w ? gr[j] * w[j] : gr[j];
            sg += gj;
            sgx += gj * ((xr[j] - m) * rs);
        }
        mg[i] = (float)(sg * inv_d);
        mgx[i] = (float)(sgx * inv_d);
    }
    for (i = 0; i < k; i++) {
        const float *gr = dy + (r + i) * D, *xr = x + (r + i) * D;
        float *dxr = dx + (r + i) * D;
        sy_v8_set1(&vm, mean[r + i]);
        sy_v8_set1(&vrs, rstd[r + i]);
        sy_v8_set1(&vmg, mg[i]);
        sy_v8_set1(&vmgx, mgx[i]);
        #pragma GCC unroll 4
        for (j = 0; j < D8; j += 8) {
            ln_g_xhat(&g, &xh, gr + j, has_w ? w + j : NULL, xr + j, 8, has_w, &vm, &vrs);
            g = vrs * ((g - vmg) - xh * vmgx);
            sy_v8_store(dxr + j, &g, 8);
        }
        if ((n = (int)(D - j)) > 0) {
            ln_g_xhat(&g, &xh, gr + j, has_w ? w + j : NULL, xr + j, n, has_w, &vm, &vrs);
            g = vrs * ((g - vmg) - xh * vmgx);
            sy_v8_store(dxr + j, &g, n);
        }
    }
}

/* dx for the float rows [r0, r1), LN_DX_ROWS at a time, then one by one. */
SY_SIMD_CLONES static void layer_norm_dx_f32(float *dx, const float *dy, const float *x,
                                             const float *mean, const float *rstd, const float *w,
                                             int64_t r0, int64_t r1, int64_t D) {
    const double inv_d = D > 0 ? 1.0 / (double)D : 0;
    int64_t r = r0;
    if (w) {   /* the usual case, unswitched */
        for (; r + LN_DX_ROWS <= r1; r += LN_DX_ROWS)
            ln_dx_rows(dx, dy, x, w, mean, rstd, r, LN_DX_ROWS, inv_d, D, 1);
    } else {
        for (; r + LN_DX_ROWS <= r1; r += LN_DX_ROWS)
            ln_dx_rows(dx, dy, x, NULL, mean, rstd, r, LN_DX_ROWS, inv_d, D, 0);
    }
    for (; r < r1; r++) ln_dx_rows(dx, dy, x, w, mean, rstd, r, 1, inv_d, D, w != NULL);
}

/* dw and db of the float columns [c, c + 8 nv), nv <= LN_DWB_VECS (a
** constant where inlined): every row in order into sums held in registers,
** so that a row costs loads and adds, not a store and reload of each sum.
** has_dw and has_db are constants where unswitched. */
SY_INLINE void ln_dwb_cols(float *dw, float *db, const float *dy, const float *x,
                           const float *mean, const float *rstd, int64_t N, int64_t D, int64_t c,
                           int nv, int has_dw, int has_db) {
    sy_v8f sw[LN_DWB_VECS], sb[LN_DWB_VECS], g, t, vm, vrs;
    int64_t r;
    int i;
    #pragma GCC unroll 8
    for (i = 0; i < nv; i++) sw[i] = sb[i] = (sy_v8f){0};
    for (r = 0; r < N; r++) {
        const float *gr = dy + r * D + c, *xr = x + r * D + c;
        sy_v8_set1(&vm, mean[r]);
        sy_v8_set1(&vrs, rstd[r]);
        #pragma GCC unroll 8
        for (i = 0; i < nv; i++) {
            sy_v8_load(&g, gr + 8 * i, 8);
            if (has_dw) {
                sy_v8_load(&t, xr + 8 * i, 8);
                sw[i] += g * (t - vm) * vrs;
            }
            if (has_db) sb[i] += g;
        }
    }
    #pragma GCC unroll 8
    for (i = 0; i < nv; i++) {
        if (has_dw) sy_v8_store(dw + c + 8 * i, &sw[i], 8);
        if (has_db) sy_v8_store(db + c + 8 * i, &sb[i], 8);
    }
}

/* dw and db (either may be NULL) for the float columns [c0, c1), each
** summed over the rows in order: LN_DWB_VECS vectors of columns at a time,
** the other whole vectors in one pass, then the last columns one by one. */
SY_SIMD_CLONES static void layer_norm_dwb_f32(float *dw, float *db, const float *dy,
                                              const float *x, const float *mean,
                                              const float *rstd, int64_t N, int64_t D,
                                              int64_t c0, int64_t c1) {
    int64_t c = c0, r;
    if (dw && db) {   /* the usual case, unswitched */
        for (; c + 8 * LN_DWB_VECS <= c1; c += 8 * LN_DWB_VECS)
            ln_dwb_cols(dw, db, dy, x, mean, rstd, N, D, c, LN_DWB_VECS, 1, 1);
    }
    for (; c + 8 * LN_DWB_VECS <= c1; c += 8 * LN_DWB_VECS)
        ln_dwb_cols(dw, db, dy, x, mean, rstd, N, D, c, LN_DWB_VECS, dw != NULL, db != NULL);
    switch ((c1 - c) / 8) {
    case 3: ln_dwb_cols(dw, db, dy, x, mean, rstd, N, D, c, 3, dw != NULL, db != NULL); break;
    case 2: ln_dwb_cols(dw, db, dy, x, mean, rstd, N, D, c, 2, dw != NULL, db != NULL); break;
    case 1: ln_dwb_cols(dw, db, dy, x, mean, rstd, N, D, c, 1, dw != NULL, db != NULL); break;
    }
    c += (c1 - c) & ~(int64_t)7;
    for (; c < c1; c++) {
        float sw = 0, sb = 0;
        for (r = 0; r < N; r++) {
            const float g = dy[r * D + c];
            sw += g * (x[r * D + c] - mean[r]) * rstd[r];
            sb += g;
        }
        if (dw) dw[c] = sw;
        if (db) db[c] = sb;
    }
}

#define SY_REAL float
#define SY_FN(name) name##_f32
#include "norm.c"
#undef SY_REAL
#undef SY_FN

#define SY_LN_GENERIC
#define SY_REAL double
#define SY_FN(name) name##_f64
#include "norm.c"
#undef SY_REAL
#undef SY_FN
#undef SY_LN_GENERIC

#define DISPATCH(dt, fn, ...) ((dt) == SY_F32 ? fn##_f32(__VA_ARGS__) : fn##_f64(__VA_ARGS__))

static void *ptr(const sy_tensor *t) { return t ? sy_tensor_data(t) : NULL; }

typedef struct {
    sy_dtype dt;
    void *y, *mean, *rstd, *dx, *dw, *db;
    const void *x, *w, *b, *dy, *cmean, *crstd;
    int64_t N, D;
    double eps;
    int backward;
} ln_job;

/* Forward: rows split. Backward: dx by rows, then dw and db by columns. */
static void ln_task(void *ctx, int task, int n_tasks) {
    const ln_job *j = ctx;
    int64_t lo, hi;
    if (!j->backward) {
        sy_split(j->N, 1, task, n_tasks, &lo, &hi);
        if (j->dt == SY_F32)
            layer_norm_rows_f32(j->y, j->mean, j->rstd, j->x, j->w, j->b, lo, hi, j->D, j->eps);
        else
            layer_norm_fwd_f64(j->y, j->mean, j->rstd, j->x, j->w, j->b, lo, hi, j->D, j->eps);
        return;
    }
    if (j->dx) {
        sy_split(j->N, 1, task, n_tasks, &lo, &hi);
        if (j->dt == SY_F32)
            layer_norm_dx_f32(j->dx, j->dy, j->x, j->cmean, j->crstd, j->w, lo, hi, j->D);
        else
            layer_norm_dx_f64(j->dx, j->dy, j->x, j->cmean, j->crstd, j->w, lo, hi, j->D);
    }
    sy_split(j->D, 16, task, n_tasks, &lo, &hi);
    DISPATCH(j->dt, layer_norm_dwb, j->dw, j->db, j->dy, j->x, j->cmean, j->crstd, j->N, j->D, lo,
             hi);
}

/* Below this many elements layer norm stays on the calling thread. */
#define LN_SPLIT_MIN ((int64_t)1 << 15)

static int ln_tasks(int64_t N, int64_t D) {
    return N * D < LN_SPLIT_MIN ? 1 : sy_parallel_width();
}

void sy_layer_norm_forward(sy_tensor *y, sy_tensor *mean, sy_tensor *rstd, const sy_tensor *x,
                           const sy_tensor *w, const sy_tensor *b, int64_t N, int64_t D,
                           double eps) {
    ln_job j = {x->dtype, ptr(y), ptr(mean), ptr(rstd), NULL, NULL, NULL, ptr(x), ptr(w), ptr(b),
                NULL, NULL, NULL, N, D, eps, 0};
    sy_parallel_run(ln_task, &j, ln_tasks(N, D));
}

void sy_layer_norm_backward(sy_tensor *dx, sy_tensor *dw, sy_tensor *db, const sy_tensor *dy,
                            const sy_tensor *x, const sy_tensor *mean, const sy_tensor *rstd,
                            const sy_tensor *w, int64_t N, int64_t D) {
    ln_job j = {dy->dtype, NULL, NULL, NULL, ptr(dx), ptr(dw), ptr(db), ptr(x), ptr(w), NULL,
                ptr(dy), ptr(mean), ptr(rstd), N, D, 0, 1};
    sy_parallel_run(ln_task, &j, ln_tasks(N, D));
}

void sy_batch_norm_forward(sy_tensor *y, sy_tensor *mean, sy_tensor *rstd,
                           sy_tensor *running_mean, sy_tensor *running_var, const sy_tensor *x,
                           const sy_tensor *w, const sy_tensor *b, int64_t N, int64_t C,
                           int64_t L, int training, double momentum, double eps) {
    DISPATCH(x->dtype, batch_norm_fwd, ptr(y), ptr(mean), ptr(rstd), ptr(running_mean),
             ptr(running_var), ptr(x), ptr(w), ptr(b), N, C, L, training, momentum, eps);
}

void sy_batch_norm_backward(sy_tensor *dx, sy_tensor *dw, sy_tensor *db, const sy_tensor *dy,
                            const sy_tensor *x, const sy_tensor *mean, const sy_tensor *rstd,
                            const sy_tensor *w, int64_t N, int64_t C, int64_t L, int training) {
    DISPATCH(dy->dtype, batch_norm_bwd, ptr(dx), ptr(dw), ptr(db), ptr(dy), ptr(x), ptr(mean),
             ptr(rstd), ptr(w), N, C, L, training);
}

#else /* ------------------------------------------- typed body (SY_REAL) */

/* Two passes (mean, then squared deviations) rather than sum of squares, so
** rows with a large mean keep their precision. Rows [r0, r1). Float layer
** norm has its own SIMD kernels above; these serve double. */
#ifdef SY_LN_GENERIC
static void SY_FN(layer_norm_fwd)(SY_REAL *y, SY_REAL *mean, SY_REAL *rstd, const SY_REAL *x,
                                  const SY_REAL *w, const SY_REAL *b, int64_t r0, int64_t r1,
                                  int64_t D, double eps) {
    const double inv_d = D > 0 ? 1.0 / (double)D : 0;
    int64_t r, j;
    for (r = r0; r < r1; r++) {
        const SY_REAL *xr = x + r * D;
        SY_REAL *yr = y + r * D;
        double s = 0, v = 0, m, rs;
        for (j = 0; j < D; j++) s += xr[j];
        m = s * inv_d;
        for (j = 0; j < D; j++) v += (xr[j] - m) * (xr[j] - m);
        rs = 1 / sqrt(v * inv_d + eps);
        mean[r] = (SY_REAL)m;
        rstd[r] = (SY_REAL)rs;
        for (j = 0; j < D; j++) {
            double h = (xr[j] - m) * rs;
            if (w) h *= w[j];
            if (b) h += b[j];
            yr[j] = (SY_REAL)h;
        }
    }
}

static void SY_FN(layer_norm_dx)(SY_REAL *dx, const SY_REAL *dy, const SY_REAL *x,
                                 const SY_REAL *mean, const SY_REAL *rstd, const SY_REAL *w,
                                 int64_t r0, int64_t r1, int64_t D) {
    const double inv_d = D > 0 ? 1.0 / (double)D : 0;
    int64_t r, j;
    for (r = r0; r < r1; r++) {
        const SY_REAL *xr = x + r * D, *gr = dy + r * D;
        const double m = mean[r], rs = rstd[r];
        SY_REAL *dxr = dx + r * D;
        double sg = 0, sgx = 0, mg, mgx;
        for (j = 0; j < D; j++) {
            double g = w ? (double)gr[j] * w[j] : gr[j];
            sg += g;
            sgx += g * (xr[j] - m) * rs;
        }
        mg = sg * inv_d;
        mgx = sgx * inv_d;
        for (j = 0; j < D; j++) {
            double g = w ? (double)gr[j] * w[j] : gr[j];
            dxr[j] = (SY_REAL)(rs * (g - mg - (xr[j] - m) * rs * mgx));
        }
    }
}

/* dw and db for the columns [c0, c1), each summed over the rows in order,
** LN_DWB_BLOCK columns at a time in local sums that vectorise (summing into
** dw and db themselves, the compiler must assume they alias dy). */
SY_SIMD_CLONES static void SY_FN(layer_norm_dwb)(SY_REAL *dw, SY_REAL *db, const SY_REAL *dy,
                                                 const SY_REAL *x, const SY_REAL *mean,
                                                 const SY_REAL *rstd, int64_t N, int64_t D,
                                                 int64_t c0, int64_t c1) {
    SY_REAL sw[LN_DWB_BLOCK], sb[LN_DWB_BLOCK];
    int64_t b0, r, j, n;
    for (b0 = c0; b0 < c1; b0 += LN_DWB_BLOCK) {
        n = c1 - b0 < LN_DWB_BLOCK ? c1 - b0 : LN_DWB_BLOCK;
        for (j = 0; j < n; j++) sw[j] = sb[j] = 0;
        for (r = 0; r < N; r++) {
            const SY_REAL *xr = x + r * D + b0, *gr = dy + r * D + b0;
            const SY_REAL m = mean[r], rs = rstd[r];
            if (dw)
                for (j = 0; j < n; j++) sw[j] += (SY_REAL)(gr[j] * (xr[j] - m) * rs);
            if (db)
                for (j = 0; j < n; j++) sb[j] += gr[j];
        }
        if (dw) memcpy(dw + b0, sw, sizeof *sw * (size_t)n);
        if (db) memcpy(db + b0, sb, sizeof *sb * (size_t)n);
    }
}
#endif

/* Channel c's values are x[(n*C + c)*L + l] for every n and l: N runs of L
** contiguous values. */
static void SY_FN(batch_norm_fwd)(SY_REAL *y, SY_REAL *mean, SY_REAL *rstd, SY_REAL *running_mean,
                                  SY_REAL *running_var, const SY_REAL *x, const SY_REAL *w,
                                  const SY_REAL *b, int64_t N, int64_t C, int64_t L, int training,
                                  double momentum, double eps) {
    const int64_t M = N * L;
    int64_t c, n, l;
    for (c = 0; c < C; c++) {
        double m, rs, scale, shift;
        if (training) {
            double s = 0, v = 0;
            for (n = 0; n < N; n++) {
                const SY_REAL *xc = x + (n * C + c) * L;
                for (l = 0; l < L; l++) s += xc[l];
            }
            m = s / (double)M;
            for (n = 0; n < N; n++) {
                const SY_REAL *xc = x + (n * C + c) * L;
                for (l = 0; l < L; l++) v += (xc[l] - m) * (xc[l] - m);
            }
            rs = 1 / sqrt(v / (double)M + eps);
            if (running_mean)
                running_mean[c] = (SY_REAL)((1 - momentum) * running_mean[c] + momentum * m);
            if (running_var)
                running_var[c] =
                    (SY_REAL)((1 - momentum) * running_var[c] + momentum * v / (double)(M - 1));
        } else {
            m = running_mean[c];
            rs = 1 / sqrt((double)running_var[c] + eps);
        }
        mean[c] = (SY_REAL)m;
        rstd[c] = (SY_REAL)rs;
        /* y = x scale + shift folds the normalisation and the affine map */
        scale = rs * (w ? w[c] : 1);
        shift = (b ? b[c] : 0) - m * scale;
        for (n = 0; n < N; n++) {
            const SY_REAL *xc = x + (n * C + c) * L;
            SY_REAL *yc = y + (n * C + c) * L;
            for (l = 0; l < L; l++) yc[l] = (SY_REAL)(xc[l] * scale + shift);
        }
    }
}

static void SY_FN(batch_norm_bwd)(SY_REAL *dx, SY_REAL *dw, SY_REAL *db, const SY_REAL *dy,
                                  const SY_REAL *x, const SY_REAL *mean, const SY_REAL *rstd,
                                  const SY_REAL *w, int64_t N, int64_t C, int64_t L,
                                  int training) {
    const int64_t M = N * L;
    int64_t c, n, l;
    for (c = 0; c < C; c++) {
        const double m = mean[c], rs = rstd[c], wc = w ? w[c] : 1;
        double sdy = 0, sdyx = 0;   /* sum(dy), sum(dy xhat) */
        for (n = 0; n < N; n++) {
            const SY_REAL *xc = x + (n * C + c) * L, *gc = dy + (n * C + c) * L;
            for (l = 0; l < L; l++) {
                sdy += gc[l];
                sdyx += gc[l] * (xc[l] - m) * rs;
            }
        }
        if (dw) dw[c] = (SY_REAL)sdyx;
        if (db) db[c] = (SY_REAL)sdy;
        if (!dx) continue;
        for (n = 0; n < N; n++) {
            const SY_REAL *xc = x + (n * C + c) * L, *gc = dy + (n * C + c) * L;
            SY_REAL *dxc = dx + (n * C + c) * L;
            if (training) {   /* w is per channel, so mean(g) = w mean(dy), likewise for g xhat */
                const double mg = sdy / (double)M, mgx = sdyx / (double)M;
                for (l = 0; l < L; l++)
                    dxc[l] = (SY_REAL)(rs * wc * (gc[l] - mg - (xc[l] - m) * rs * mgx));
            } else {
                for (l = 0; l < L; l++) dxc[l] = (SY_REAL)(gc[l] * wc * rs);
            }
        }
    }
}

#endif
