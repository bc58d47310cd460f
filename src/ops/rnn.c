/*
** rnn.c -- the tanh RNN over a whole sequence, and what every recurrent
** layer shares: the input projection of all steps before the time loop, the
** weight gradients after it, the gate activations and the split of the
** batch across threads (see recurrent.h).
**
** The time loops run on synlua's pool with the batch split between tasks:
** a step's product only mixes a batch entry's own state with the weights, so
** each task runs the whole sequence for its entries with no synchronisation,
** and every output element is computed by one task in a fixed order.
**
** The drivers are written once over SY_REAL: this file includes itself
** twice, for float and double, and the public functions dispatch on the
** dtype. The per-step elementwise passes are separate: float on eight SIMD
** lanes (simd.h), double in plain loops through libm.
*/
#ifndef SY_REAL

#include <math.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/threads.h"
#include "gemm.h"
#include "recurrent.h"
#include "simd.h"

/* ---------------------------------------------------------- activations */

SY_SIMD_CLONES void sy_sigmoid_f32(float *y, const float *x, int64_t n) {
    APPLY8(sy_v8_sigmoid, y, x, n);
}

SY_SIMD_CLONES void sy_tanh_f32(float *y, const float *x, int64_t n) {
    APPLY8(sy_v8_tanh, y, x, n);
}

void sy_sigmoid_f64(double *y, const double *x, int64_t n) {
    int64_t i;
    for (i = 0; i < n; i++) y[i] = 1 / (1 + exp(-x[i]));
}

void sy_tanh_f64(double *y, const double *x, int64_t n) {
    int64_t i;
    for (i = 0; i < n; i++) y[i] = tanh(x[i]);
}

/* ------------------------------------------- RNN elementwise step passes */

/* For rows 0..nb-1 of one step (records ld apart, outputs ld_out apart):
** h = tanh(pre) in place, copied to the output row; when next is nonzero,
** also to the input-state slot `next` elements further on, and the biases
** are added to the next record's pre-activation (the record right after). */
SY_INLINE void rnn_fwd_vec(float *h, float *o, float *hn, int64_t j, int m) {
    sy_v8f v;
    sy_v8_load(&v, h + j, m);
    sy_v8_tanh(&v);
    sy_v8_store(h + j, &v, m);
    sy_v8_store(o + j, &v, m);
    if (hn) sy_v8_store(hn + j, &v, m);
}

SY_SIMD_CLONES static void rnn_fwd_rows_f32(float *rec, int64_t ld, float *out, int64_t ld_out,
                                            int64_t next, const float *b_ih, const float *b_hh,
                                            int64_t nb, int64_t H) {
    int64_t b, j;
    for (b = 0; b < nb; b++) {
        float *h = rec + b * ld, *o = out + b * ld_out, *hn = next ? h + next : NULL;
        for (j = 0; j + 8 <= H; j += 8) rnn_fwd_vec(h, o, hn, j, 8);
        if (j < H) rnn_fwd_vec(h, o, hn, j, (int)(H - j));
        if (next) sy_add_biases_f32(h + 2 * H, b_ih, H, b_hh, H);
    }
}

static void rnn_fwd_rows_f64(double *rec, int64_t ld, double *out, int64_t ld_out, int64_t next,
                             const double *b_ih, const double *b_hh, int64_t nb, int64_t H) {
    int64_t b, j;
    for (b = 0; b < nb; b++) {
        double *h = rec + b * ld, *o = out + b * ld_out;
        for (j = 0; j < H; j++) {
            o[j] = h[j] = tanh(h[j]);
            if (next) h[next + j] = o[j];
        }
        if (next) sy_add_biases_f64(h + 2 * H, b_ih, H, b_hh, H);
    }
}

/* dg = (dh + dout) (1 - h^2) for rows 0..nb-1 of one step; dout may be NULL. */
SY_INLINE void rnn_bwd_vec(float *dg, const float *h, const float *dh, const float *dout,
                           int64_t j, int m) {
    sy_v8f d, hv, o;
    sy_v8_load(&d, dh + j, m);
    if (dout) {
        sy_v8_load(&o, dout + j, m);
        d += o;
    }
    sy_v8_load(&hv, h + j, m);
    d = d * (1 - hv * hv);
    sy_v8_store(dg + j, &d, m);
}

SY_SIMD_CLONES static void rnn_bwd_rows_f32(float *dg, int64_t ld_dg, const float *rec, int64_t ld,
                                            const float *dh, const float *dout, int64_t ld_out,
                                            int64_t nb, int64_t H) {
    int64_t b, j;
    for (b = 0; b < nb; b++) {
        float *g = dg + b * ld_dg;
        const float *h = rec + b * ld, *dhb = dh + b * H, *ob = dout ? dout + b * ld_out : NULL;
        for (j = 0; j + 8 <= H; j += 8) rnn_bwd_vec(g, h, dhb, ob, j, 8);
        if (j < H) rnn_bwd_vec(g, h, dhb, ob, j, (int)(H - j));
    }
}

static void rnn_bwd_rows_f64(double *dg, int64_t ld_dg, const double *rec, int64_t ld,
                             const double *dh, const double *dout, int64_t ld_out, int64_t nb,
                             int64_t H) {
    int64_t b, j;
    for (b = 0; b < nb; b++) {
        const double *h = rec + b * ld, *dhb = dh + b * H, *ob = dout ? dout + b * ld_out : NULL;
        for (j = 0; j < H; j++) dg[b * ld_dg + j] = (dhb[j] + (ob ? ob[j] : 0)) * (1 - h[j] * h[j]);
    }
}

/* ------------------------------------------------ typed drivers, twice */

#define SY_TYPED_BODY "rnn.c"
#include "typed.h"

/* ------------------------------------------------------- shared phases */


/* Below this much step work (B T G H multiply-adds) a layer runs on one
** thread: the pool's wake-up would cost more than the split saves. */
#define SPLIT_MIN_WORK ((int64_t)1 << 20)

int sy_recurrent_tasks(int64_t B, int64_t T, int64_t G, int64_t H) {
    const int width = sy_parallel_width();
    if (width < 2 || B < 2 || B * T * G * H < SPLIT_MIN_WORK) return 1;
    return B < width ? (int)B : width;
}

int64_t sy_rnn_cache_width(int64_t hidden) { return 2 * hidden; }

void sy_recurrent_input_proj(sy_dtype dt, void *cache, int64_t W, int64_t off_hprev, const void *x,
                             const void *h0, const void *w_ih, const void *b_ih, const void *b_hh,
                             int64_t n_hh, int64_t b0, int64_t b1, int64_t T, int64_t D, int64_t G,
                             int64_t H) {
    SY_DISPATCH(dt, input_proj, cache, W, off_hprev, x, h0, w_ih, b_ih, b_hh, n_hh, b0, b1, T, D, G,
             H);
}

void sy_recurrent_weight_grads(sy_dtype dt, void *dx, void *dw_ih, void *dw_hh, void *db_ih,
                               void *db_hh, const void *dgi, const void *dgh, const void *x,
                               const void *hprev, int64_t ld_hprev, const void *w_ih, int64_t BT,
                               int64_t D, int64_t G, int64_t H) {
    SY_DISPATCH(dt, weight_grads, dx, dw_ih, dw_hh, db_ih, db_hh, dgi, dgh, x, hprev, ld_hprev, w_ih,
             BT, D, G, H);
}

/* Cache record per (b, t): [h_t | h_{t-1}]. */
void sy_rnn_forward(sy_tensor *out, sy_tensor *h_n, sy_tensor *cache, const sy_tensor *x,
                    const sy_tensor *h0, const sy_tensor *w_ih, const sy_tensor *w_hh,
                    const sy_tensor *b_ih, const sy_tensor *b_hh) {
    const int64_t B = x->size[0], T = x->size[1], D = x->size[2], H = w_hh->size[1];
    SY_DISPATCH(x->dtype, rnn_forward, sy_data_or_null(out), sy_data_or_null(h_n), sy_data_or_null(cache), sy_data_or_null(x), sy_data_or_null(h0), sy_data_or_null(w_ih),
             sy_data_or_null(w_hh), sy_data_or_null(b_ih), sy_data_or_null(b_hh), B, T, D, H);
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
    if (!work) return SY_ERR_OOM;
    void *dg = work, *dh = work + B * T * H * es;
    SY_DISPATCH(x->dtype, rnn_bptt, dg, dh, sy_data_or_null(dh0), sy_data_or_null(dout), sy_data_or_null(dh_n), sy_data_or_null(cache), sy_data_or_null(w_hh), B,
             T, H);
    sy_recurrent_weight_grads(x->dtype, sy_data_or_null(dx), sy_data_or_null(dw_ih), sy_data_or_null(dw_hh), sy_data_or_null(db_ih), sy_data_or_null(db_hh),
                              dg, dg, sy_data_or_null(x), (char *)sy_data_or_null(cache) + H * es, 2 * H, sy_data_or_null(w_ih),
                              B * T, D, H, H);
    sy_mem_free(work, nbytes);
    return SY_OK;
}

#else /* ------------------------------------------- typed body (SY_REAL) */

static void SY_FN(input_proj)(SY_REAL *cache, int64_t W, int64_t off_hprev, const SY_REAL *x,
                              const SY_REAL *h0, const SY_REAL *w_ih, const SY_REAL *b_ih,
                              const SY_REAL *b_hh, int64_t n_hh, int64_t b0, int64_t b1, int64_t T,
                              int64_t D, int64_t G, int64_t H) {
    int64_t b;
    /* the entries' rows of x, all steps, in one product straight into the
    ** gate columns */
    SY_GEMM(0, 1, (b1 - b0) * T, G, D, 1, x + b0 * T * D, D, w_ih, D, 0, cache + b0 * T * W, W);
    for (b = b0; b < b1; b++) {
        SY_REAL *hp = cache + b * T * W + off_hprev;
        SY_FN(sy_add_biases)(cache + b * T * W, b_ih, G, b_hh, n_hh);
        if (h0) memcpy(hp, h0 + b * H, sizeof *hp * (size_t)H);
        else memset(hp, 0, sizeof *hp * (size_t)H);
    }
}

typedef struct {
    SY_REAL *db[2];
    const SY_REAL *dg[2];
    int64_t BT, G;
} SY_FN(bias_job);

/* Column sums of dg, columns split between tasks, rows added in order. */
static void SY_FN(bias_sums)(void *ctx, int task, int n_tasks) {
    const SY_FN(bias_job) *j = ctx;
    int64_t lo, hi, r, c;
    int k;
    sy_split(j->G, 16, task, n_tasks, &lo, &hi);
    for (k = 0; k < 2; k++) {
        SY_REAL *db = j->db[k];
        if (!db) continue;
        if (k == 1 && j->db[0] && j->dg[1] == j->dg[0]) {   /* the same sums */
            memcpy(db + lo, j->db[0] + lo, sizeof *db * (size_t)(hi - lo));
            continue;
        }
        for (c = lo; c < hi; c++) db[c] = 0;
        for (r = 0; r < j->BT; r++) {
            const SY_REAL *g = j->dg[k] + r * j->G;
            for (c = lo; c < hi; c++) db[c] += g[c];
        }
    }
}

static void SY_FN(weight_grads)(SY_REAL *dx, SY_REAL *dw_ih, SY_REAL *dw_hh, SY_REAL *db_ih,
                                SY_REAL *db_hh, const SY_REAL *dgi, const SY_REAL *dgh,
                                const SY_REAL *x, const SY_REAL *hprev, int64_t ld_hprev,
                                const SY_REAL *w_ih, int64_t BT, int64_t D, int64_t G, int64_t H) {
    SY_FN(bias_job) bj = {{db_ih, db_hh}, {dgi, dgh}, BT, G};
    if (dx) SY_GEMM(0, 0, BT, D, G, 1, dgi, G, w_ih, D, 0, dx, D);
    if (dw_ih) SY_GEMM(1, 0, G, D, BT, 1, dgi, G, x, D, 0, dw_ih, D);
    if (dw_hh) SY_GEMM(1, 0, G, H, BT, 1, dgh, G, hprev, ld_hprev, 0, dw_hh, H);
    if (db_ih || db_hh)
        sy_parallel_run(SY_FN(bias_sums), &bj, BT * G < (1 << 16) ? 1 : sy_parallel_width());
}

typedef struct {
    SY_REAL *out, *h_n, *cache;
    const SY_REAL *x, *h0, *w_ih, *w_hh, *b_ih, *b_hh;
    int64_t B, T, D, H;
} SY_FN(rnn_fwd_job);

/* Records of one step are T*W apart, so each step's product reads its input
** states and adds into its gates in place (lda = ldc = T*W). */
static void SY_FN(rnn_forward_task)(void *ctx, int task, int n_tasks) {
    const SY_FN(rnn_fwd_job) *j = ctx;
    const int64_t T = j->T, H = j->H, W = 2 * H, ld = T * W;
    int64_t b0, b1, b, t;
    sy_split(j->B, 1, task, n_tasks, &b0, &b1);
    if (b0 == b1) return;
    SY_FN(input_proj)(j->cache, W, H, j->x, j->h0, j->w_ih, j->b_ih, j->b_hh, H, b0, b1, T, j->D,
                      H, H);
    for (t = 0; t < T; t++) {
        SY_REAL *rec = j->cache + b0 * ld + t * W;
        SY_GEMM(0, 1, b1 - b0, H, H, 1, rec + H, ld, j->w_hh, H, 1, rec, ld);
        SY_FN(rnn_fwd_rows)(rec, ld, j->out + (b0 * T + t) * H, T * H, t + 1 < T ? W + H : 0,
                            j->b_ih, j->b_hh, b1 - b0, H);
    }
    for (b = b0; b < b1; b++)
        memcpy(j->h_n + b * H, j->out + (b * T + T - 1) * H, sizeof *j->h_n * (size_t)H);
}

static void SY_FN(rnn_forward)(SY_REAL *out, SY_REAL *h_n, SY_REAL *cache, const SY_REAL *x,
                               const SY_REAL *h0, const SY_REAL *w_ih, const SY_REAL *w_hh,
                               const SY_REAL *b_ih, const SY_REAL *b_hh, int64_t B, int64_t T,
                               int64_t D, int64_t H) {
    SY_FN(rnn_fwd_job) j = {out, h_n, cache, x, h0, w_ih, w_hh, b_ih, b_hh, B, T, D, H};
    sy_parallel_run(SY_FN(rnn_forward_task), &j, sy_recurrent_tasks(B, T, H, H));
}

typedef struct {
    SY_REAL *dg, *dh, *dh0;
    const SY_REAL *cache, *w_hh, *dout, *dh_n;
    int64_t B, T, H;
} SY_FN(rnn_bwd_job);

static void SY_FN(rnn_bptt_task)(void *ctx, int task, int n_tasks) {
    const SY_FN(rnn_bwd_job) *j = ctx;
    const int64_t T = j->T, H = j->H, W = 2 * H;
    SY_REAL *dh;
    int64_t b0, b1, t;
    sy_split(j->B, 1, task, n_tasks, &b0, &b1);
    if (b0 == b1) return;
    dh = j->dh + b0 * H;
    if (j->dh_n) memcpy(dh, j->dh_n + b0 * H, sizeof *dh * (size_t)((b1 - b0) * H));
    else memset(dh, 0, sizeof *dh * (size_t)((b1 - b0) * H));
    for (t = T - 1; t >= 0; t--) {
        const int64_t row = b0 * T + t;
        SY_REAL *dg = j->dg + row * H;
        SY_FN(rnn_bwd_rows)(dg, T * H, j->cache + row * W, T * W, dh,
                            j->dout ? j->dout + row * H : NULL, T * H, b1 - b0, H);
        if (t > 0 || j->dh0) SY_GEMM(0, 0, b1 - b0, H, H, 1, dg, T * H, j->w_hh, H, 0, dh, H);
    }
    if (j->dh0) memcpy(j->dh0 + b0 * H, dh, sizeof *dh * (size_t)((b1 - b0) * H));
}

static void SY_FN(rnn_bptt)(SY_REAL *dg, SY_REAL *dh, SY_REAL *dh0, const SY_REAL *dout,
                            const SY_REAL *dh_n, const SY_REAL *cache, const SY_REAL *w_hh,
                            int64_t B, int64_t T, int64_t H) {
    SY_FN(rnn_bwd_job) j = {dg, dh, dh0, cache, w_hh, dout, dh_n, B, T, H};
    sy_parallel_run(SY_FN(rnn_bptt_task), &j, sy_recurrent_tasks(B, T, H, H));
}

#endif
