/*
** lstm.c -- the LSTM over a whole sequence, forward and backward (see
** recurrent.h). Gates in PyTorch's row order i, f, g, o:
**   i, f, o = sigmoid(.), g = tanh(.), c_t = f c_{t-1} + i g, h_t = o tanh(c_t).
**
** Each step is one GEMM for the recurrent product and one fused
** elementwise pass over the step's rows (biases, activations, cell, output
** in the forward; all four gate gradients and the cell gradient in the
** backward). The passes are written for float on eight SIMD lanes and for
** double in plain loops; the drivers once over SY_REAL, compiled for both by
** including this file, like rnn.c. The batch is split across the pool as in
** rnn.c.
*/
#ifndef SY_REAL

#include <math.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/threads.h"
#include "gemm.h"
#include "recurrent.h"
#include "simd.h"

/* Cache record per (b, t): [i f g o (activated) | c_t | tanh c_t | h_{t-1}].
** tanh c_t is kept because the backward needs it at every step. */
int64_t sy_lstm_cache_width(int64_t hidden) { return 7 * hidden; }

/* ---------------------------------------------- elementwise step passes */

/* Forward, lanes j..j+m of one row after the gate activations: g holds
** the record (activated gates), cp the previous cell or NULL (zero), h the
** output row, hn the next record's input-state slot or NULL. */
SY_INLINE void lstm_cell_vec(float *g, const float *cp, float *h, float *hn, int64_t H, int64_t j,
                             int m) {
    sy_v8f i, f, gg, o, c, tc;
    sy_v8_load(&i, g + j, m);
    sy_v8_load(&gg, g + 2 * H + j, m);
    c = i * gg;
    if (cp) {
        sy_v8_load(&f, g + H + j, m);
        sy_v8_load(&tc, cp + j, m);
        c = c + f * tc;
    }
    tc = c;
    sy_v8_tanh(&tc);
    sy_v8_store(g + 4 * H + j, &c, m);
    sy_v8_store(g + 5 * H + j, &tc, m);
    sy_v8_load(&o, g + 3 * H + j, m);
    c = o * tc;
    sy_v8_store(h + j, &c, m);
    if (hn) sy_v8_store(hn + j, &c, m);
}

/* Rows 0..nb-1 of one step: records ld apart, previous cells ld_cp apart
** (cp NULL: zero), outputs ld_h apart. When there is a next step, h also
** goes to the next record's input-state slot and the biases onto its gates
** (that record follows this one directly). */
SY_SIMD_CLONES static void lstm_fwd_rows_f32(float *rec, int64_t ld, const float *cp,
                                             int64_t ld_cp, float *h, int64_t ld_h, int has_next,
                                             const float *b_ih, const float *b_hh, int64_t nb,
                                             int64_t H) {
    int64_t b, j;
    for (b = 0; b < nb; b++) {
        float *g = rec + b * ld, *hb = h + b * ld_h, *hn = has_next ? g + 13 * H : NULL;
        const float *cb = cp ? cp + b * ld_cp : NULL;
        if (has_next) /* the next record's gates, read and written below */
            for (j = 0; j < 4 * H; j += 16) __builtin_prefetch(g + 7 * H + j, 1);
        APPLY8(sy_v8_sigmoid, g, g, 2 * H);   /* i, f */
        APPLY8(sy_v8_tanh, g + 2 * H, g + 2 * H, H);
        APPLY8(sy_v8_sigmoid, g + 3 * H, g + 3 * H, H);
        for (j = 0; j + 8 <= H; j += 8) lstm_cell_vec(g, cb, hb, hn, H, j, 8);
        if (j < H) lstm_cell_vec(g, cb, hb, hn, H, j, (int)(H - j));
        if (has_next) sy_add_biases_f32(g + 7 * H, b_ih, 4 * H, b_hh, 4 * H);
    }
}

static double sigmoid(double x) { return 1 / (1 + exp(-x)); }

static void lstm_fwd_rows_f64(double *rec, int64_t ld, const double *cp, int64_t ld_cp, double *h,
                              int64_t ld_h, int has_next, const double *b_ih, const double *b_hh,
                              int64_t nb, int64_t H) {
    int64_t b, j;
    for (b = 0; b < nb; b++) {
        double *g = rec + b * ld, *hb = h + b * ld_h;
        for (j = 0; j < H; j++) {
            const double i = sigmoid(g[j]), f = sigmoid(g[H + j]), gg = tanh(g[2 * H + j]);
            const double o = sigmoid(g[3 * H + j]);
            double c = i * gg;
            if (cp) c = c + f * cp[b * ld_cp + j];
            g[j] = i;
            g[H + j] = f;
            g[2 * H + j] = gg;
            g[3 * H + j] = o;
            g[4 * H + j] = c;
            g[5 * H + j] = tanh(c);
            hb[j] = o * g[5 * H + j];
            if (has_next) g[13 * H + j] = hb[j];
        }
        if (has_next) sy_add_biases_f64(g + 7 * H, b_ih, 4 * H, b_hh, 4 * H);
    }
}

/* Backward, lanes j..j+m of one row: g the record, cp the previous cell or
** NULL (zero), dout the output's gradient or NULL, dh the gradient reaching
** h_t from later steps; dc, the cell's, is updated in place to c_{t-1}'s;
** dg receives the four gate pre-activation gradients. */
SY_INLINE void lstm_bwd_vec(float *dg, const float *g, const float *cp, const float *dout,
                            const float *dh, float *dc, int64_t H, int64_t j, int m) {
    sy_v8f i, f, gg, o, tc, dhv, dcv, t, r;
    sy_v8_load(&i, g + j, m);
    sy_v8_load(&f, g + H + j, m);
    sy_v8_load(&gg, g + 2 * H + j, m);
    sy_v8_load(&o, g + 3 * H + j, m);
    sy_v8_load(&tc, g + 5 * H + j, m);
    sy_v8_load(&dhv, dh + j, m);
    if (dout) {
        sy_v8_load(&t, dout + j, m);
        dhv += t;
    }
    sy_v8_load(&dcv, dc + j, m);
    dcv = dcv + dhv * o * (1 - tc * tc);
    r = dcv * gg * i * (1 - i);
    sy_v8_store(dg + j, &r, m);
    if (cp) {
        sy_v8_load(&t, cp + j, m);
        r = dcv * t * f * (1 - f);
    } else {
        r = (sy_v8f){0};
    }
    sy_v8_store(dg + H + j, &r, m);
    r = dcv * i * (1 - gg * gg);
    sy_v8_store(dg + 2 * H + j, &r, m);
    r = dhv * tc * o * (1 - o);
    sy_v8_store(dg + 3 * H + j, &r, m);
    r = dcv * f;
    sy_v8_store(dc + j, &r, m);
}

/* Rows 0..nb-1 of one step: dg rows ld_dg apart, records ld apart,
** previous cells ld_cp apart, output gradients ld_out apart, dh and dc
** rows H apart. */
SY_SIMD_CLONES static void lstm_bwd_rows_f32(float *dg, int64_t ld_dg, const float *rec,
                                             int64_t ld, const float *cp, int64_t ld_cp,
                                             const float *dout, int64_t ld_out, const float *dh,
                                             float *dc, int64_t nb, int64_t H) {
    int64_t b, j;
    for (b = 0; b < nb; b++) {
        float *dgb = dg + b * ld_dg, *dcb = dc + b * H;
        const float *g = rec + b * ld, *cb = cp ? cp + b * ld_cp : NULL;
        const float *ob = dout ? dout + b * ld_out : NULL, *dhb = dh + b * H;
        for (j = 0; j + 8 <= H; j += 8) lstm_bwd_vec(dgb, g, cb, ob, dhb, dcb, H, j, 8);
        if (j < H) lstm_bwd_vec(dgb, g, cb, ob, dhb, dcb, H, j, (int)(H - j));
    }
}

static void lstm_bwd_rows_f64(double *dg, int64_t ld_dg, const double *rec, int64_t ld,
                              const double *cp, int64_t ld_cp, const double *dout, int64_t ld_out,
                              const double *dh, double *dc, int64_t nb, int64_t H) {
    int64_t b, j;
    for (b = 0; b < nb; b++) {
        double *dgb = dg + b * ld_dg, *dcb = dc + b * H;
        const double *g = rec + b * ld, *tc = g + 5 * H;
        for (j = 0; j < H; j++) {
            const double i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j];
            const double dhv = dh[b * H + j] + (dout ? dout[b * ld_out + j] : 0);
            const double dcv = dcb[j] + dhv * o * (1 - tc[j] * tc[j]);
            dgb[j] = dcv * gg * i * (1 - i);
            dgb[H + j] = cp ? dcv * cp[b * ld_cp + j] * f * (1 - f) : 0;
            dgb[2 * H + j] = dcv * i * (1 - gg * gg);
            dgb[3 * H + j] = dhv * tc[j] * o * (1 - o);
            dcb[j] = dcv * f;
        }
    }
}

/* ------------------------------------------------ typed drivers, twice */

#define SY_TYPED_BODY "lstm.c"
#include "typed.h"

void sy_lstm_forward(sy_tensor *out, sy_tensor *h_n, sy_tensor *c_n, sy_tensor *cache,
                     const sy_tensor *x, const sy_tensor *h0, const sy_tensor *c0,
                     const sy_tensor *w_ih, const sy_tensor *w_hh, const sy_tensor *b_ih,
                     const sy_tensor *b_hh) {
    const int64_t B = x->size[0], T = x->size[1], D = x->size[2], H = w_hh->size[1];
    SY_DISPATCH(x->dtype, lstm_forward, sy_data_or_null(out), sy_data_or_null(h_n), sy_data_or_null(c_n), sy_data_or_null(cache), sy_data_or_null(x), sy_data_or_null(h0),
             sy_data_or_null(c0), sy_data_or_null(w_ih), sy_data_or_null(w_hh), sy_data_or_null(b_ih), sy_data_or_null(b_hh), B, T, D, H);
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
    if (!work) return SY_ERR_OOM;
    void *dg = work, *dh = work + ndg * es, *dc = work + (ndg + B * H) * es;
    SY_DISPATCH(x->dtype, lstm_bptt, dg, dh, dc, sy_data_or_null(dh0), sy_data_or_null(dc0), sy_data_or_null(dout), sy_data_or_null(dh_n), sy_data_or_null(dc_n),
             sy_data_or_null(cache), sy_data_or_null(c0), sy_data_or_null(w_hh), B, T, H);
    sy_recurrent_weight_grads(x->dtype, sy_data_or_null(dx), sy_data_or_null(dw_ih), sy_data_or_null(dw_hh), sy_data_or_null(db_ih), sy_data_or_null(db_hh),
                              dg, dg, sy_data_or_null(x), (char *)sy_data_or_null(cache) + 6 * H * es, 7 * H,
                              sy_data_or_null(w_ih), B * T, D, 4 * H, H);
    sy_mem_free(work, nbytes);
    return SY_OK;
}

#else /* ------------------------------------------- typed body (SY_REAL) */

typedef struct {
    SY_REAL *out, *h_n, *c_n, *cache;
    const SY_REAL *x, *h0, *c0, *w_ih, *w_hh, *b_ih, *b_hh;
    int64_t B, T, D, H;
} SY_FN(lstm_fwd_job);

/* Records of one step are T*W apart, so each step's product reads its input
** states and adds into its gates in place (lda = ldc = T*W). */
static void SY_FN(lstm_forward_task)(void *ctx, int task, int n_tasks) {
    const SY_FN(lstm_fwd_job) *j = ctx;
    const int64_t T = j->T, H = j->H, G = 4 * H, W = 7 * H, ld = T * W;
    int64_t b0, b1, b, t;
    sy_split(j->B, 1, task, n_tasks, &b0, &b1);
    if (b0 == b1) return;
    sy_recurrent_input_proj(sizeof(SY_REAL) == 4 ? SY_F32 : SY_F64, j->cache, W, 6 * H, j->x,
                            j->h0, j->w_ih, j->b_ih, j->b_hh, G, b0, b1, T, j->D, G, H);
    for (t = 0; t < T; t++) {
        SY_REAL *rec = j->cache + b0 * ld + t * W;
        const SY_REAL *cp = t > 0 ? rec - W + 4 * H : j->c0 ? j->c0 + b0 * H : NULL;
        SY_GEMM(0, 1, b1 - b0, G, H, 1, rec + 6 * H, ld, j->w_hh, H, 1, rec, ld);
        SY_FN(lstm_fwd_rows)(rec, ld, cp, t > 0 ? ld : H, j->out + (b0 * T + t) * H, T * H,
                             t + 1 < T, j->b_ih, j->b_hh, b1 - b0, H);
    }
    for (b = b0; b < b1; b++) {
        memcpy(j->h_n + b * H, j->out + (b * T + T - 1) * H, sizeof *j->h_n * (size_t)H);
        memcpy(j->c_n + b * H, j->cache + (b * T + T - 1) * W + 4 * H, sizeof *j->c_n * (size_t)H);
    }
}

static void SY_FN(lstm_forward)(SY_REAL *out, SY_REAL *h_n, SY_REAL *c_n, SY_REAL *cache,
                                const SY_REAL *x, const SY_REAL *h0, const SY_REAL *c0,
                                const SY_REAL *w_ih, const SY_REAL *w_hh, const SY_REAL *b_ih,
                                const SY_REAL *b_hh, int64_t B, int64_t T, int64_t D, int64_t H) {
    SY_FN(lstm_fwd_job) j = {out, h_n, c_n, cache, x, h0, c0, w_ih, w_hh, b_ih, b_hh, B, T, D, H};
    sy_parallel_run(SY_FN(lstm_forward_task), &j, sy_recurrent_tasks(B, T, 4 * H, H));
}

typedef struct {
    SY_REAL *dg, *dh, *dc, *dh0, *dc0;
    const SY_REAL *dout, *dh_n, *dc_n, *cache, *c0, *w_hh;
    int64_t B, T, H;
} SY_FN(lstm_bwd_job);

static void SY_FN(lstm_bptt_task)(void *ctx, int task, int n_tasks) {
    const SY_FN(lstm_bwd_job) *j = ctx;
    const int64_t T = j->T, H = j->H, G = 4 * H, W = 7 * H;
    SY_REAL *dh, *dc;
    size_t state;
    int64_t b0, b1, t;
    sy_split(j->B, 1, task, n_tasks, &b0, &b1);
    if (b0 == b1) return;
    dh = j->dh + b0 * H;
    dc = j->dc + b0 * H;
    state = sizeof *dh * (size_t)((b1 - b0) * H);
    if (j->dh_n) memcpy(dh, j->dh_n + b0 * H, state);
    else memset(dh, 0, state);
    if (j->dc_n) memcpy(dc, j->dc_n + b0 * H, state);
    else memset(dc, 0, state);
    for (t = T - 1; t >= 0; t--) {
        const int64_t row = b0 * T + t;
        const SY_REAL *rec = j->cache + row * W;
        const SY_REAL *cp = t > 0 ? rec - W + 4 * H : j->c0 ? j->c0 + b0 * H : NULL;
        SY_REAL *dg = j->dg + row * G;
        SY_FN(lstm_bwd_rows)(dg, T * G, rec, T * W, cp, t > 0 ? T * W : H,
                             j->dout ? j->dout + row * H : NULL, T * H, dh, dc, b1 - b0, H);
        if (t > 0 || j->dh0) SY_GEMM(0, 0, b1 - b0, H, G, 1, dg, T * G, j->w_hh, H, 0, dh, H);
    }
    if (j->dh0) memcpy(j->dh0 + b0 * H, dh, state);
    if (j->dc0) memcpy(j->dc0 + b0 * H, dc, state);
}

static void SY_FN(lstm_bptt)(SY_REAL *dg, SY_REAL *dh, SY_REAL *dc, SY_REAL *dh0, SY_REAL *dc0,
                             const SY_REAL *dout, const SY_REAL *dh_n, const SY_REAL *dc_n,
                             const SY_REAL *cache, const SY_REAL *c0, const SY_REAL *w_hh,
                             int64_t B, int64_t T, int64_t H) {
    SY_FN(lstm_bwd_job) j = {dg, dh, dc, dh0, dc0, dout, dh_n, dc_n, cache, c0, w_hh, B, T, H};
    sy_parallel_run(SY_FN(lstm_bptt_task), &j, sy_recurrent_tasks(B, T, 4 * H, H));
}

#endif
