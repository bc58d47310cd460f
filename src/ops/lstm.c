/*
** lstm.c -- the LSTM over a whole sequence, forward and backward (see
** recurrent.h). Gates in PyTorch's row order i, f, g, o:
**   i, f, o = sigmoid(.), g = tanh(.), c_t = f c_{t-1} + i g, h_t = o tanh(c_t).
**
** Written once over SY_REAL and compiled for float and double by including
** itself, like rnn.c.
*/
#ifndef SY_REAL

#include <cblas.h>
#include <string.h>

#include "../core/alloc.h"
#include "recurrent.h"

#define SY_REAL float
#define SY_FN(name) name##_f32
#define SY_GEMM cblas_sgemm
#define SY_VSIGMOID sy_sigmoid_f32
#define SY_VTANH sy_tanh_f32
#include "lstm.c"
#undef SY_REAL
#undef SY_FN
#undef SY_GEMM
#undef SY_VSIGMOID
#undef SY_VTANH

#define SY_REAL double
#define SY_FN(name) name##_f64
#define SY_GEMM cblas_dgemm
#define SY_VSIGMOID sy_sigmoid_f64
#define SY_VTANH sy_tanh_f64
#include "lstm.c"
#undef SY_REAL
#undef SY_FN
#undef SY_GEMM
#undef SY_VSIGMOID
#undef SY_VTANH

#define DISPATCH(dt, fn, ...) ((dt) == SY_F32 ? fn##_f32(__VA_ARGS__) : fn##_f64(__VA_ARGS__))

static void *ptr(const sy_tensor *t) { return t ? sy_tensor_data(t) : NULL; }

/* Cache record per (b, t): [i f g o (activated) | c_t | tanh c_t | h_{t-1}].
** tanh c_t is kept because the backward needs it at every step. */
int64_t sy_lstm_cache_width(int64_t hidden) { return 7 * hidden; }

void sy_lstm_forward(sy_tensor *out, sy_tensor *h_n, sy_tensor *c_n, sy_tensor *cache,
                     const sy_tensor *x, const sy_tensor *h0, const sy_tensor *c0,
                     const sy_tensor *w_ih, const sy_tensor *w_hh, const sy_tensor *b_ih,
                     const sy_tensor *b_hh) {
    const int64_t B = x->size[0], T = x->size[1], D = x->size[2], H = w_hh->size[1];
    sy_recurrent_input_proj(x->dtype, ptr(cache), 7 * H, 6 * H, ptr(x), ptr(h0), ptr(w_ih),
                            ptr(b_ih), ptr(b_hh), 4 * H, B, T, D, 4 * H, H);
    DISPATCH(x->dtype, lstm_steps, ptr(out), ptr(h_n), ptr(c_n), ptr(cache), ptr(c0), ptr(w_hh), B,
             T, H);
}

sy_status sy_lstm_backward(sy_tensor *dx, sy_tensor *dh0, sy_tensor *dc0, sy_tensor *dw_ih,
                           sy_tensor *dw_hh, sy_tensor *db_ih, sy_tensor *db_hh,
                           const sy_tensor *dout, const sy_tensor *dh_n, const sy_tensor *dc_n,
                           const sy_tensor *cache, const sy_tensor *x, const sy_tensor *c0,
                           const sy_tensor *w_ih, const sy_tensor *w_hh) {
    const int64_t B = x->size[0], T = x->size[1], D = x->size[2], H = w_hh->size[1];
    const int64_t es = sy_dtype_size(x->dtype), ndg = B * T * 4 * H;
    /* workspace: dg [B, T, 4H], the gate pre-activation gradients of every
    ** step, then dh and dc [B, H], the gradients reaching h_t and c_t from
    ** later steps */
    const size_t nbytes = (size_t)((ndg + 2 * B * H) * es);
    char *work = sy_mem_alloc(nbytes);
    void *dg = work, *dh, *dc;
    if (!work) return SY_ERR_OOM;
    dh = work + ndg * es;
    dc = work + (ndg + B * H) * es;
    DISPATCH(x->dtype, lstm_bptt, dg, dh, dc, ptr(dh0),
             ptr(dc0), ptr(dout), ptr(dh_n), ptr(dc_n), ptr(cache), ptr(c0), ptr(w_hh), B, T, H);
    sy_recurrent_weight_grads(x->dtype, ptr(dx), ptr(dw_ih), ptr(dw_hh), ptr(db_ih), ptr(db_hh),
                              dg, dg, ptr(x), (char *)ptr(cache) + 6 * H * es, 7 * H,
                              ptr(w_ih), B * T, D, 4 * H, H);
    sy_mem_free(work, nbytes);
    return SY_OK;
}

#else /* ------------------------------------------- typed body (SY_REAL) */

/* Records of one step are T*W apart, so each step's GEMM reads its input
** states and adds into its gates in place (lda = ldc = T*W). */
static void SY_FN(lstm_steps)(SY_REAL *out, SY_REAL *h_n, SY_REAL *c_n, SY_REAL *cache,
                              const SY_REAL *c0, const SY_REAL *w_hh, int64_t B, int64_t T,
                              int64_t H) {
    const int64_t G = 4 * H, W = 7 * H, ld = T * W;
    int64_t b, t, j;
    for (t = 0; t < T; t++) {
        SY_REAL *rec = cache + t * W;
        SY_GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)G, (int)H, 1, rec + 6 * H,
                (int)ld, w_hh, (int)H, 1, rec, (int)ld);
        for (b = 0; b < B; b++) {
            SY_REAL *g = rec + b * ld, *c = g + 4 * H, *tc = g + 5 * H;
            SY_REAL *h = out + (b * T + t) * H;
            const SY_REAL *cp = t > 0 ? c - W : c0 ? c0 + b * H : NULL;
            SY_VSIGMOID(g, g, 2 * H);   /* i, f */
            SY_VTANH(g + 2 * H, g + 2 * H, H);
            SY_VSIGMOID(g + 3 * H, g + 3 * H, H);
            for (j = 0; j < H; j++) c[j] = g[j] * g[2 * H + j] + (cp ? g[H + j] * cp[j] : 0);
            SY_VTANH(tc, c, H);
            for (j = 0; j < H; j++) h[j] = g[3 * H + j] * tc[j];
            if (t + 1 < T) memcpy(g + W + 6 * H, h, sizeof *h * (size_t)H);
        }
    }
    for (b = 0; b < B; b++) {
        memcpy(h_n + b * H, out + (b * T + T - 1) * H, sizeof *h_n * (size_t)H);
        memcpy(c_n + b * H, cache + (b * T + T - 1) * W + 4 * H, sizeof *c_n * (size_t)H);
    }
}

static void SY_FN(lstm_bptt)(SY_REAL *dg, SY_REAL *dh, SY_REAL *dc, SY_REAL *dh0, SY_REAL *dc0,
                             const SY_REAL *dout, const SY_REAL *dh_n, const SY_REAL *dc_n,
                             const SY_REAL *cache, const SY_REAL *c0, const SY_REAL *w_hh,
                             int64_t B, int64_t T, int64_t H) {
    const int64_t G = 4 * H, W = 7 * H;
    const size_t state = sizeof *dh * (size_t)(B * H);
    int64_t b, t, j;
    if (dh_n) memcpy(dh, dh_n, state);
    else memset(dh, 0, state);
    if (dc_n) memcpy(dc, dc_n, state);
    else memset(dc, 0, state);
    for (t = T - 1; t >= 0; t--) {
        for (b = 0; b < B; b++) {
            const int64_t row = b * T + t;
            const SY_REAL *g = cache + row * W, *tc = g + 5 * H;
            const SY_REAL *cp = t > 0 ? g - W + 4 * H : c0 ? c0 + b * H : NULL;
            const SY_REAL *dob = dout ? dout + row * H : NULL;
            SY_REAL *dgr = dg + row * G, *dhb = dh + b * H, *dcb = dc + b * H;
            for (j = 0; j < H; j++) {
                const SY_REAL i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j];
                const SY_REAL dhv = dhb[j] + (dob ? dob[j] : 0);
                const SY_REAL dcv = dcb[j] + dhv * o * (1 - tc[j] * tc[j]);
                dgr[j] = dcv * gg * i * (1 - i);
                dgr[H + j] = cp ? dcv * cp[j] * f * (1 - f) : 0;
                dgr[2 * H + j] = dcv * i * (1 - gg * gg);
                dgr[3 * H + j] = dhv * tc[j] * o * (1 - o);
                dcb[j] = dcv * f;
            }
        }
        if (t > 0 || dh0)
            SY_GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)H, (int)G, 1,
                    dg + t * G, (int)(T * G), w_hh, (int)H, 0, dh, (int)H);
    }
    if (dh0) memcpy(dh0, dh, state);
    if (dc0) memcpy(dc0, dc, state);
}

#endif
