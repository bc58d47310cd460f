/*
** gru.c -- the GRU over a whole sequence, forward and backward (see
** recurrent.h), in PyTorch's formulation with row order r, z, n:
**   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr), z likewise,
**   n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1 - z) n + z h.
** Because r multiplies the recurrent part of n, that part (hn) is kept apart
** from the input part, and the gradients on the two sides differ.
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
#include "gru.c"
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
#include "gru.c"
#undef SY_REAL
#undef SY_FN
#undef SY_GEMM
#undef SY_VSIGMOID
#undef SY_VTANH

#define DISPATCH(dt, fn, ...) ((dt) == SY_F32 ? fn##_f32(__VA_ARGS__) : fn##_f64(__VA_ARGS__))

static void *ptr(const sy_tensor *t) { return t ? sy_tensor_data(t) : NULL; }

/* Cache record per (b, t): [r z n (activated) | hn = W_hn h_{t-1} + b_hn | h_{t-1}]. */
int64_t sy_gru_cache_width(int64_t hidden) { return 5 * hidden; }

void sy_gru_forward(sy_tensor *out, sy_tensor *h_n, sy_tensor *cache, const sy_tensor *x,
                    const sy_tensor *h0, const sy_tensor *w_ih, const sy_tensor *w_hh,
                    const sy_tensor *b_ih, const sy_tensor *b_hh) {
    const int64_t B = x->size[0], T = x->size[1], D = x->size[2], H = w_hh->size[1];
    sy_recurrent_input_proj(x->dtype, ptr(cache), 5 * H, 4 * H, ptr(x), ptr(h0), ptr(w_ih),
                            ptr(b_ih), ptr(b_hh), 2 * H, B, T, D, 3 * H, H);
    DISPATCH(x->dtype, gru_steps, ptr(out), ptr(h_n), ptr(cache), ptr(w_hh),
             b_hh ? (void *)((char *)ptr(b_hh) + 2 * H * sy_dtype_size(x->dtype)) : NULL, B, T, H);
}

sy_status sy_gru_backward(sy_tensor *dx, sy_tensor *dh0, sy_tensor *dw_ih, sy_tensor *dw_hh,
                          sy_tensor *db_ih, sy_tensor *db_hh, const sy_tensor *dout,
                          const sy_tensor *dh_n, const sy_tensor *cache, const sy_tensor *x,
                          const sy_tensor *w_ih, const sy_tensor *w_hh) {
    const int64_t B = x->size[0], T = x->size[1], D = x->size[2], H = w_hh->size[1];
    const int64_t es = sy_dtype_size(x->dtype), ndg = B * T * 3 * H;
    /* workspace: dgi and dgh [B, T, 3H], the pre-activation gradients of
    ** every step on the input and the recurrent side, then dh [B, H] */
    const size_t nbytes = (size_t)((2 * ndg + B * H) * es);
    char *work = sy_mem_alloc(nbytes);
    void *dgi = work, *dgh, *dh;
    if (!work) return SY_ERR_OOM;
    dgh = work + ndg * es;
    dh = work + 2 * ndg * es;
    DISPATCH(x->dtype, gru_bptt, dgi, dgh, dh, ptr(dh0), ptr(dout), ptr(dh_n),
             ptr(cache), ptr(w_hh), B, T, H);
    sy_recurrent_weight_grads(x->dtype, ptr(dx), ptr(dw_ih), ptr(dw_hh), ptr(db_ih), ptr(db_hh),
                              dgi, dgh, ptr(x), (char *)ptr(cache) + 4 * H * es, 5 * H, ptr(w_ih),
                              B * T, D, 3 * H, H);
    sy_mem_free(work, nbytes);
    return SY_OK;
}

#else /* ------------------------------------------- typed body (SY_REAL) */

/* Records of one step are T*W apart, so each step's GEMMs read its input
** states and write its gates in place (lda = ldc = T*W): r and z add into
** the input projection, hn gets a column block of its own. */
static void SY_FN(gru_steps)(SY_REAL *out, SY_REAL *h_n, SY_REAL *cache, const SY_REAL *w_hh,
                             const SY_REAL *b_hn, int64_t B, int64_t T, int64_t H) {
    const int64_t W = 5 * H, ld = T * W;
    int64_t b, t, j;
    for (t = 0; t < T; t++) {
        SY_REAL *rec = cache + t * W;
        SY_GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)(2 * H), (int)H, 1,
                rec + 4 * H, (int)ld, w_hh, (int)H, 1, rec, (int)ld);
        SY_GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)H, (int)H, 1, rec + 4 * H,
                (int)ld, w_hh + 2 * H * H, (int)H, 0, rec + 3 * H, (int)ld);
        for (b = 0; b < B; b++) {
            SY_REAL *g = rec + b * ld, *hp = g + 4 * H, *h = out + (b * T + t) * H;
            SY_VSIGMOID(g, g, 2 * H);   /* r, z */
            for (j = 0; j < H; j++) {
                g[3 * H + j] += b_hn ? b_hn[j] : 0;
                g[2 * H + j] += g[j] * g[3 * H + j];
            }
            SY_VTANH(g + 2 * H, g + 2 * H, H);
            for (j = 0; j < H; j++) h[j] = (1 - g[H + j]) * g[2 * H + j] + g[H + j] * hp[j];
            if (t + 1 < T) memcpy(g + W + 4 * H, h, sizeof *h * (size_t)H);
        }
    }
    for (b = 0; b < B; b++) memcpy(h_n + b * H, out + (b * T + T - 1) * H, sizeof *h_n * (size_t)H);
}

static void SY_FN(gru_bptt)(SY_REAL *dgi, SY_REAL *dgh, SY_REAL *dh, SY_REAL *dh0,
                            const SY_REAL *dout, const SY_REAL *dh_n, const SY_REAL *cache,
                            const SY_REAL *w_hh, int64_t B, int64_t T, int64_t H) {
    const int64_t G = 3 * H, W = 5 * H;
    int64_t b, t, j;
    if (dh_n) memcpy(dh, dh_n, sizeof *dh * (size_t)(B * H));
    else memset(dh, 0, sizeof *dh * (size_t)(B * H));
    for (t = T - 1; t >= 0; t--) {
        for (b = 0; b < B; b++) {
            const int64_t row = b * T + t;
            const SY_REAL *g = cache + row * W, *hp = g + 4 * H;
            const SY_REAL *dob = dout ? dout + row * H : NULL;
            SY_REAL *dir = dgi + row * G, *dhr = dgh + row * G, *dhb = dh + b * H;
            for (j = 0; j < H; j++) {
                const SY_REAL r = g[j], z = g[H + j], n = g[2 * H + j], hn = g[3 * H + j];
                const SY_REAL dhv = dhb[j] + (dob ? dob[j] : 0);
                const SY_REAL dn = dhv * (1 - z) * (1 - n * n);
                const SY_REAL dz = dhv * (hp[j] - n) * z * (1 - z);
                const SY_REAL dr = dn * hn * r * (1 - r);
                dir[j] = dhr[j] = dr;
                dir[H + j] = dhr[H + j] = dz;
                dir[2 * H + j] = dn;
                dhr[2 * H + j] = dn * r;
                dhb[j] = dhv * z;   /* the direct path; the GEMM adds the gates' */
            }
        }
        if (t > 0 || dh0)
            SY_GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)H, (int)G, 1,
                    dgh + t * G, (int)(T * G), w_hh, (int)H, 1, dh, (int)H);
    }
    if (dh0) memcpy(dh0, dh, sizeof *dh * (size_t)(B * H));
}

#endif
