/*
** rnn.c -- the tanh RNN over a whole sequence, and what every recurrent
** layer shares: the input projection of all steps before the time loop, the
** weight gradients after it, and the gate activations (see recurrent.h).
**
** The kernels are written once over SY_REAL: this file includes itself
** twice, for float (cblas_sgemm, the vectorised activations below) and
** double (cblas_dgemm, libm), and the public functions dispatch on the dtype.
*/
#ifndef SY_REAL

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "../core/alloc.h"
#include "recurrent.h"

#define SY_REAL float
#define SY_FN(name) name##_f32
#define SY_GEMM cblas_sgemm
#define SY_VTANH sy_tanh_f32
#include "rnn.c"
#undef SY_REAL
#undef SY_FN
#undef SY_GEMM
#undef SY_VTANH

#define SY_REAL double
#define SY_FN(name) name##_f64
#define SY_GEMM cblas_dgemm
#define SY_VTANH sy_tanh_f64
#include "rnn.c"
#undef SY_REAL
#undef SY_FN
#undef SY_GEMM
#undef SY_VTANH

/* ---------------------------------------------------------- activations */

/* The gates' sigmoid and tanh dominate a float forward when they go through
** libm one element at a time (about 3/4 of an LSTM step at H = 64), so the
** float versions work on four lanes at once with GCC/Clang vector types
** (SSE2 or NEON, both baseline) from one exponential:
**   e^y = 2^k (1 + q),  e^y - 1 = 2^k q + (2^k - 1),
** k = round(y / ln 2), r = y - k ln 2 in [-ln2/2, ln2/2] (ln 2 split in a
** short head, so k * LN2_HI is exact, and a tail), q = e^r - 1 by its Taylor
** series to r^7 (truncation below 2e-8 relative). Writing e^y - 1 that way
** keeps tanh(x) = (e^2x - 1) / (e^2x + 1) accurate near 0. */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

#define LN2_HI 0.693359375f
#define LN2_LO (-2.12194440e-4f)
#define LOG2E 1.44269504088896341f
/* 1.5 * 2^23: adding it rounds to an integer held in the low mantissa bits */
#define ROUNDER 12582912.0f
#define ROUNDER_BITS 0x4B400000

static inline v4f select4(v4i mask, v4f a, v4f b) {
    return (v4f)((mask & (v4i)a) | (~mask & (v4i)b));
}

/* 2^k and e^r - 1 for y in [-87, 88], so 2^k stays a normal float. */
static inline void exp_parts(v4f y, v4f *p, v4f *q) {
    v4f t = y * LOG2E + ROUNDER, k = t - ROUNDER;
    v4f r = y - k * LN2_HI - k * LN2_LO;
    *q = r * (1 + r * (1.0f / 2 + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 +
                                                       r * (1.0f / 720 + r * (1.0f / 5040)))))));
    *p = (v4f)(((v4i)t - ROUNDER_BITS + 127) << 23);
}

/* 1 / (1 + e^-x); the exponent is clamped where the result is 0 or 1 in
** float anyway. NaN stays NaN (comparisons with it are false). */
static inline v4f sigmoid4(v4f x) {
    v4f y = -x, p, q;
    y = select4(y > 88.0f, (v4f){88, 88, 88, 88}, y);
    y = select4(y < -87.0f, (v4f){-87, -87, -87, -87}, y);
    exp_parts(y, &p, &q);
    return 1 / (1 + (p + p * q));
}

/* sign(x) (e^2|x| - 1) / (e^2|x| + 1), with 2|x| clamped at 18 where tanh
** is 1 in float. */
static inline v4f tanh4(v4f x) {
    const v4i sign = (v4i)x & INT32_MIN;
    v4f y = (v4f)((v4i)x & INT32_MAX) * 2, p, q, e;
    y = select4(y > 18.0f, (v4f){18, 18, 18, 18}, y);
    exp_parts(y, &p, &q);
    e = p * q + (p - 1);
    return (v4f)((v4i)(e / (e + 2)) | sign);
}

/* f over n floats, four at a time; the last partial vector goes through a
** zero-padded copy. Inlined with f, so nothing is called per vector. */
static inline void apply4(v4f (*f)(v4f), float *y, const float *x, int64_t n) {
    int64_t i = 0;
    v4f v;
    for (; i + 4 <= n; i += 4) {
        memcpy(&v, x + i, sizeof v);
        v = f(v);
        memcpy(y + i, &v, sizeof v);
    }
    if (i < n) {
        const size_t rest = sizeof *x * (size_t)(n - i);
        v = (v4f){0, 0, 0, 0};
        memcpy(&v, x + i, rest);
        v = f(v);
        memcpy(y + i, &v, rest);
    }
}

void sy_sigmoid_f32(float *y, const float *x, int64_t n) { apply4(sigmoid4, y, x, n); }
void sy_tanh_f32(float *y, const float *x, int64_t n) { apply4(tanh4, y, x, n); }

void sy_sigmoid_f64(double *y, const double *x, int64_t n) {
    int64_t i;
    for (i = 0; i < n; i++) y[i] = 1 / (1 + exp(-x[i]));
}

void sy_tanh_f64(double *y, const double *x, int64_t n) {
    int64_t i;
    for (i = 0; i < n; i++) y[i] = tanh(x[i]);
}

/* ------------------------------------------------------- shared phases */

#define DISPATCH(dt, fn, ...) ((dt) == SY_F32 ? fn##_f32(__VA_ARGS__) : fn##_f64(__VA_ARGS__))

static void *ptr(const sy_tensor *t) { return t ? sy_tensor_data(t) : NULL; }

int64_t sy_rnn_cache_width(int64_t hidden) { return 2 * hidden; }

void sy_recurrent_input_proj(sy_dtype dt, void *cache, int64_t W, int64_t off_hprev, const void *x,
                             const void *h0, const void *w_ih, const void *b_ih, const void *b_hh,
                             int64_t n_hh, int64_t B, int64_t T, int64_t D, int64_t G, int64_t H) {
    DISPATCH(dt, input_proj, cache, W, off_hprev, x, h0, w_ih, b_ih, b_hh, n_hh, B, T, D, G, H);
}

void sy_recurrent_weight_grads(sy_dtype dt, void *dx, void *dw_ih, void *dw_hh, void *db_ih,
                               void *db_hh, const void *dgi, const void *dgh, const void *x,
                               const void *hprev, int64_t ld_hprev, const void *w_ih, int64_t BT,
                               int64_t D, int64_t G, int64_t H) {
    DISPATCH(dt, weight_grads, dx, dw_ih, dw_hh, db_ih, db_hh, dgi, dgh, x, hprev, ld_hprev, w_ih,
             BT, D, G, H);
}

/* Cache record per (b, t): [h_t | h_{t-1}]. */
void sy_rnn_forward(sy_tensor *out, sy_tensor *h_n, sy_tensor *cache, const sy_tensor *x,
                    const sy_tensor *h0, const sy_tensor *w_ih, const sy_tensor *w_hh,
                    const sy_tensor *b_ih, const sy_tensor *b_hh) {
    const int64_t B = x->size[0], T = x->size[1], D = x->size[2], H = w_hh->size[1];
    sy_recurrent_input_proj(x->dtype, ptr(cache), 2 * H, H, ptr(x), ptr(h0), ptr(w_ih), ptr(b_ih),
                            ptr(b_hh), H, B, T, D, H, H);
    DISPATCH(x->dtype, rnn_steps, ptr(out), ptr(h_n), ptr(cache), ptr(w_hh), B, T, H);
}

sy_status sy_rnn_backward(sy_tensor *dx, sy_tensor *dh0, sy_tensor *dw_ih, sy_tensor *dw_hh,
                          sy_tensor *db_ih, sy_tensor *db_hh, const sy_tensor *dout,
                          const sy_tensor *dh_n, const sy_tensor *cache, const sy_tensor *x,
                          const sy_tensor *w_ih, const sy_tensor *w_hh) {
    const int64_t B = x->size[0], T = x->size[1], D = x->size[2], H = w_hh->size[1];
    const int64_t es = sy_dtype_size(x->dtype);
    /* workspace: dg [B, T, H], the pre-activation gradients of every step,
    ** then dh [B, H], the gradient reaching h_t from later steps */
    const size_t nbytes = (size_t)((B * T * H + B * H) * es);
    char *work = sy_mem_alloc(nbytes);
    void *dg = work, *dh;
    if (!work) return SY_ERR_OOM;
    dh = work + B * T * H * es;
    DISPATCH(x->dtype, rnn_bptt, dg, dh, ptr(dh0), ptr(dout), ptr(dh_n),
             ptr(cache), ptr(w_hh), B, T, H);
    sy_recurrent_weight_grads(x->dtype, ptr(dx), ptr(dw_ih), ptr(dw_hh), ptr(db_ih), ptr(db_hh),
                              dg, dg, ptr(x), (char *)ptr(cache) + H * es, 2 * H, ptr(w_ih),
                              B * T, D, H, H);
    sy_mem_free(work, nbytes);
    return SY_OK;
}

#else /* ------------------------------------------- typed body (SY_REAL) */

static void SY_FN(input_proj)(SY_REAL *cache, int64_t W, int64_t off_hprev, const SY_REAL *x,
                              const SY_REAL *h0, const SY_REAL *w_ih, const SY_REAL *b_ih,
                              const SY_REAL *b_hh, int64_t n_hh, int64_t B, int64_t T, int64_t D,
                              int64_t G, int64_t H) {
    const int64_t BT = B * T;
    int64_t r, b, j;
    /* every step's x_t w_ih^T in one GEMM, straight into the gate columns */
    SY_GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)BT, (int)G, (int)D, 1, x, (int)D, w_ih,
            (int)D, 0, cache, (int)W);
    for (r = 0; r < BT; r++) {
        SY_REAL *g = cache + r * W;
        if (b_ih)
            for (j = 0; j < G; j++) g[j] += b_ih[j];
        if (b_hh)
            for (j = 0; j < n_hh; j++) g[j] += b_hh[j];
    }
    for (b = 0; b < B; b++) {
        SY_REAL *hp = cache + b * T * W + off_hprev;
        if (h0) memcpy(hp, h0 + b * H, sizeof *hp * (size_t)H);
        else memset(hp, 0, sizeof *hp * (size_t)H);
    }
}

static void SY_FN(weight_grads)(SY_REAL *dx, SY_REAL *dw_ih, SY_REAL *dw_hh, SY_REAL *db_ih,
                                SY_REAL *db_hh, const SY_REAL *dgi, const SY_REAL *dgh,
                                const SY_REAL *x, const SY_REAL *hprev, int64_t ld_hprev,
                                const SY_REAL *w_ih, int64_t BT, int64_t D, int64_t G, int64_t H) {
    const SY_REAL *sums[2] = {dgi, dgh};
    SY_REAL *bias[2] = {db_ih, db_hh};
    int64_t r, j;
    int k;
    if (dx)
        SY_GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)BT, (int)D, (int)G, 1, dgi, (int)G,
                w_ih, (int)D, 0, dx, (int)D);
    if (dw_ih)
        SY_GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)G, (int)D, (int)BT, 1, dgi, (int)G, x,
                (int)D, 0, dw_ih, (int)D);
    if (dw_hh)
        SY_GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)G, (int)H, (int)BT, 1, dgh, (int)G,
                hprev, (int)ld_hprev, 0, dw_hh, (int)H);
    for (k = 0; k < 2; k++) {
        SY_REAL *db = bias[k];
        if (!db) continue;
        memset(db, 0, sizeof *db * (size_t)G);
        for (r = 0; r < BT; r++) {
            const SY_REAL *g = sums[k] + r * G;
            for (j = 0; j < G; j++) db[j] += g[j];
        }
    }
}

/* Records of one step are T*W apart, so each step's GEMM reads its input
** states and adds into its gates in place (lda = ldc = T*W). */
static void SY_FN(rnn_steps)(SY_REAL *out, SY_REAL *h_n, SY_REAL *cache, const SY_REAL *w_hh,
                             int64_t B, int64_t T, int64_t H) {
    const int64_t W = 2 * H, ld = T * W;
    int64_t b, t;
    for (t = 0; t < T; t++) {
        SY_REAL *rec = cache + t * W;
        SY_GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)H, (int)H, 1, rec + H,
                (int)ld, w_hh, (int)H, 1, rec, (int)ld);
        for (b = 0; b < B; b++) {
            SY_REAL *h = rec + b * ld, *o = out + (b * T + t) * H;
            SY_VTANH(h, h, H);
            memcpy(o, h, sizeof *h * (size_t)H);
            if (t + 1 < T) memcpy(h + W + H, h, sizeof *h * (size_t)H);
        }
    }
    for (b = 0; b < B; b++) memcpy(h_n + b * H, out + (b * T + T - 1) * H, sizeof *h_n * (size_t)H);
}

static void SY_FN(rnn_bptt)(SY_REAL *dg, SY_REAL *dh, SY_REAL *dh0, const SY_REAL *dout,
                            const SY_REAL *dh_n, const SY_REAL *cache, const SY_REAL *w_hh,
                            int64_t B, int64_t T, int64_t H) {
    const int64_t W = 2 * H;
    int64_t b, t, j;
    if (dh_n) memcpy(dh, dh_n, sizeof *dh * (size_t)(B * H));
    else memset(dh, 0, sizeof *dh * (size_t)(B * H));
    for (t = T - 1; t >= 0; t--) {
        for (b = 0; b < B; b++) {
            const int64_t row = b * T + t;
            const SY_REAL *h = cache + row * W, *dob = dout ? dout + row * H : NULL;
            SY_REAL *dgr = dg + row * H, *dhb = dh + b * H;
            for (j = 0; j < H; j++) {
                SY_REAL d = dhb[j] + (dob ? dob[j] : 0);
                dgr[j] = d * (1 - h[j] * h[j]);
            }
        }
        if (t > 0 || dh0)
            SY_GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)H, (int)H, 1,
                    dg + t * H, (int)(T * H), w_hh, (int)H, 0, dh, (int)H);
    }
    if (dh0) memcpy(dh0, dh, sizeof *dh * (size_t)(B * H));
}

#endif
