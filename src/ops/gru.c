/*
** gru.c -- the GRU over a whole sequence, forward and backward (see
** recurrent.h), in PyTorch's formulation with row order r, z, n:
**   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr), z likewise,
**   n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1 - z) n + z h.
** Because r multiplies the recurrent part of n, that part (hn) is kept apart
** from the input part, and the gradients on the two sides differ.
**
** Like lstm.c: per step the recurrent products and one fused elementwise
** pass, float on eight SIMD lanes and double in plain loops; drivers once
** over SY_REAL; the batch split across the pool as in rnn.c.
*/
#ifndef SY_REAL

#include <math.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/threads.h"
#include "gemm.h"
#include "recurrent.h"
#include "simd.h"

/* Cache record per (b, t): [r z n (activated) | hn = W_hn h_{t-1} + b_hn | h_{t-1}]. */
int64_t sy_gru_cache_width(int64_t hidden) { return 5 * hidden; }

/* ---------------------------------------------- elementwise step passes */

/* Forward, lanes j..j+m of one row: g the record (pre-activations with
** their biases in the r, z, n columns, W_hn h in the hn column), b_hn the
** recurrent bias of n or NULL, h the output row, hn_next the next record's
** input-state slot or NULL. */
SY_INLINE void gru_fwd_vec(float *g, float *h, float *hn_next, const float *b_hn, int64_t H,
                           int64_t j, int m) {
    sy_v8f r, z, n, hn, hp;
    sy_v8_load(&r, g + j, m);
    sy_v8_load(&z, g + H + j, m);
    sy_v8_load(&n, g + 2 * H + j, m);
    sy_v8_load(&hn, g + 3 * H + j, m);
    if (b_hn) {
        sy_v8_load(&hp, b_hn + j, m);
        hn += hp;
    }
    sy_v8_sigmoid(&r);
    sy_v8_sigmoid(&z);
    n = n + r * hn;
    sy_v8_tanh(&n);
    sy_v8_load(&hp, g + 4 * H + j, m);
    sy_v8_store(g + j, &r, m);
    sy_v8_store(g + H + j, &z, m);
    sy_v8_store(g + 2 * H + j, &n, m);
    sy_v8_store(g + 3 * H + j, &hn, m);
    hp = (1 - z) * n + z * hp;
    sy_v8_store(h + j, &hp, m);
    if (hn_next) sy_v8_store(hn_next + j, &hp, m);
}

/* Rows 0..nb-1 of one step: records ld apart, outputs ld_h apart. When
** there is a next step, h also goes to the next record's input-state slot
** and the biases onto its gates (b_ih on r, z, n; b_hh on r, z). */
SY_SIMD_CLONES static void gru_fwd_rows_f32(float *rec, int64_t ld, float *h, int64_t ld_h,
                                            int has_next, const float *b_ih, const float *b_hh,
                                            int64_t nb, int64_t H) {
    const float *b_hn = b_hh ? b_hh + 2 * H : NULL;
    int64_t b, j;
    for (b = 0; b < nb; b++) {
        float *g = rec + b * ld, *hb = h + b * ld_h, *hn = has_next ? g + 9 * H : NULL;
        for (j = 0; j + 8 <= H; j += 8) gru_fwd_vec(g, hb, hn, b_hn, H, j, 8);
        if (j < H) gru_fwd_vec(g, hb, hn, b_hn, H, j, (int)(H - j));
        if (has_next) sy_add_biases_f32(g + 5 * H, b_ih, 3 * H, b_hh, 2 * H);
    }
}

static double sigmoid(double x) { return 1 / (1 + exp(-x)); }

static void gru_fwd_rows_f64(double *rec, int64_t ld, double *h, int64_t ld_h, int has_next,
                             const double *b_ih, const double *b_hh, int64_t nb, int64_t H) {
    int64_t b, j;
    for (b = 0; b < nb; b++) {
        double *g = rec + b * ld, *hb = h + b * ld_h;
        for (j = 0; j < H; j++) {
            const double r = sigmoid(g[j]), z = sigmoid(g[H + j]);
            const double hn = g[3 * H + j] + (b_hh ? b_hh[2 * H + j] : 0);
            const double n = tanh(g[2 * H + j] + r * hn);
            g[j] = r;
            g[H + j] = z;
            g[2 * H + j] = n;
            g[3 * H + j] = hn;
            hb[j] = (1 - z) * n + z * g[4 * H + j];
            if (has_next) g[9 * H + j] = hb[j];
        }
        if (has_next) sy_add_biases_f64(g + 5 * H, b_ih, 3 * H, b_hh, 2 * H);
    }
}

/* Backward, lanes j..j+m of one row: g the record, dout the output's
** gradient or NULL, dh the gradient reaching h_t, replaced by its direct
** part z dh (the step's product adds the gates' part); dgi and dgh receive
** the input-side and recurrent-side pre-activation gradients. */
SY_INLINE void gru_bwd_vec(float *dgi, float *dgh, const float *g, const float *dout, float *dh,
                           int64_t H, int64_t j, int m) {
    sy_v8f r, z, n, hn, hp, dhv, dn, dz, dr, t;
    sy_v8_load(&r, g + j, m);
    sy_v8_load(&z, g + H + j, m);
    sy_v8_load(&n, g + 2 * H + j, m);
    sy_v8_load(&hn, g + 3 * H + j, m);
    sy_v8_load(&hp, g + 4 * H + j, m);
    sy_v8_load(&dhv, dh + j, m);
    if (dout) {
        sy_v8_load(&t, dout + j, m);
        dhv += t;
    }
    dn = dhv * (1 - z) * (1 - n * n);
    dz = dhv * (hp - n) * z * (1 - z);
    dr = dn * hn * r * (1 - r);
    sy_v8_store(dgi + j, &dr, m);
    sy_v8_store(dgh + j, &dr, m);
    sy_v8_store(dgi + H + j, &dz, m);
    sy_v8_store(dgh + H + j, &dz, m);
    sy_v8_store(dgi + 2 * H + j, &dn, m);
    t = dn * r;
    sy_v8_store(dgh + 2 * H + j, &t, m);
    t = dhv * z;
    sy_v8_store(dh + j, &t, m);
}

SY_SIMD_CLONES static void gru_bwd_rows_f32(float *dgi, float *dgh, int64_t ld_dg,
                                            const float *rec, int64_t ld, const float *dout,
                                            int64_t ld_out, float *dh, int64_t nb, int64_t H) {
    int64_t b, j;
    for (b = 0; b < nb; b++) {
        float *di = dgi + b * ld_dg, *dhr = dgh + b * ld_dg, *dhb = dh + b * H;
        const float *g = rec + b * ld, *ob = dout ? dout + b * ld_out : NULL;
        for (j = 0; j + 8 <= H; j += 8) gru_bwd_vec(di, dhr, g, ob, dhb, H, j, 8);
        if (j < H) gru_bwd_vec(di, dhr, g, ob, dhb, H, j, (int)(H - j));
    }
}

static void gru_bwd_rows_f64(double *dgi, double *dgh, int64_t ld_dg, const double *rec,
                             int64_t ld, const double *dout, int64_t ld_out, double *dh,
                             int64_t nb, int64_t H) {
    int64_t b, j;
    for (b = 0; b < nb; b++) {
        double *di = dgi + b * ld_dg, *dhr = dgh + b * ld_dg, *dhb = dh + b * H;
        const double *g = rec + b * ld;
        for (j = 0; j < H; j++) {
            const double r = g[j], z = g[H + j], n = g[2 * H + j], hn = g[3 * H + j];
            const double dhv = dhb[j] + (dout ? dout[b * ld_out + j] : 0);
            const double dn = dhv * (1 - z) * (1 - n * n);
            const double dz = dhv * (g[4 * H + j] - n) * z * (1 - z);
            const double dr = dn * hn * r * (1 - r);
            di[j] = dhr[j] = dr;
            di[H + j] = dhr[H + j] = dz;
            di[2 * H + j] = dn;
            dhr[2 * H + j] = dn * r;
            dhb[j] = dhv * z;
        }
    }
}

/* ------------------------------------------------ typed drivers, twice */

#define SY_TYPED_BODY "gru.c"
#include "typed.h"

void sy_gru_forward(sy_tensor *out, sy_tensor *h_n, sy_tensor *cache, const sy_tensor *x,
                    const sy_tensor *h0, const sy_tensor *w_ih, const sy_tensor *w_hh,
                    const sy_tensor *b_ih, const sy_tensor *b_hh) {
    const int64_t B = x->size[0], T = x->size[1], D = x->size[2], H = w_hh->size[1];
    SY_DISPATCH(x->dtype, gru_forward, sy_data_or_null(out), sy_data_or_null(h_n), sy_data_or_null(cache), sy_data_or_null(x), sy_data_or_null(h0), sy_data_or_null(w_ih),
             sy_data_or_null(w_hh), sy_data_or_null(b_ih), sy_data_or_null(b_hh), B, T, D, H);
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
    if (!work) return SY_ERR_OOM;
    void *dgi = work, *dgh = work + ndg * es, *dh = work + 2 * ndg * es;
    SY_DISPATCH(x->dtype, gru_bptt, dgi, dgh, dh, sy_data_or_null(dh0), sy_data_or_null(dout), sy_data_or_null(dh_n), sy_data_or_null(cache),
             sy_data_or_null(w_hh), B, T, H);
    sy_recurrent_weight_grads(x->dtype, sy_data_or_null(dx), sy_data_or_null(dw_ih), sy_data_or_null(dw_hh), sy_data_or_null(db_ih), sy_data_or_null(db_hh),
                              dgi, dgh, sy_data_or_null(x), (char *)sy_data_or_null(cache) + 4 * H * es,
                              5 * H, sy_data_or_null(w_ih), B * T, D, 3 * H, H);
    sy_mem_free(work, nbytes);
    return SY_OK;
}

#else /* ------------------------------------------- typed body (SY_REAL) */

typedef struct {
    SY_REAL *out, *h_n, *cache;
    const SY_REAL *x, *h0, *w_ih, *w_hh, *b_ih, *b_hh;
    int64_t B, T, D, H;
} SY_FN(gru_fwd_job);

/* Records of one step are T*W apart, so each step's products read its input
** states and write its gates in place (lda = ldc = T*W): r and z add into
** the input projection, hn gets a column block of its own. */
static void SY_FN(gru_forward_task)(void *ctx, int task, int n_tasks) {
    const SY_FN(gru_fwd_job) *j = ctx;
    const int64_t T = j->T, H = j->H, W = 5 * H, ld = T * W;
    int64_t b0, b1, b, t;
    sy_split(j->B, 1, task, n_tasks, &b0, &b1);
    if (b0 == b1) return;
    sy_recurrent_input_proj(sizeof(SY_REAL) == 4 ? SY_F32 : SY_F64, j->cache, W, 4 * H, j->x,
                            j->h0, j->w_ih, j->b_ih, j->b_hh, 2 * H, b0, b1, T, j->D, 3 * H, H);
    for (t = 0; t < T; t++) {
        SY_REAL *rec = j->cache + b0 * ld + t * W;
        SY_GEMM(0, 1, b1 - b0, 2 * H, H, 1, rec + 4 * H, ld, j->w_hh, H, 1, rec, ld);
        SY_GEMM(0, 1, b1 - b0, H, H, 1, rec + 4 * H, ld, j->w_hh + 2 * H * H, H, 0, rec + 3 * H,
                ld);
        SY_FN(gru_fwd_rows)(rec, ld, j->out + (b0 * T + t) * H, T * H, t + 1 < T, j->b_ih,
                            j->b_hh, b1 - b0, H);
    }
    for (b = b0; b < b1; b++)
        memcpy(j->h_n + b * H, j->out + (b * T + T - 1) * H, sizeof *j->h_n * (size_t)H);
}

static void SY_FN(gru_forward)(SY_REAL *out, SY_REAL *h_n, SY_REAL *cache, const SY_REAL *x,
                               const SY_REAL *h0, const SY_REAL *w_ih, const SY_REAL *w_hh,
                               const SY_REAL *b_ih, const SY_REAL *b_hh, int64_t B, int64_t T,
                               int64_t D, int64_t H) {
    SY_FN(gru_fwd_job) j = {out, h_n, cache, x, h0, w_ih, w_hh, b_ih, b_hh, B, T, D, H};
    sy_parallel_run(SY_FN(gru_forward_task), &j, sy_recurrent_tasks(B, T, 3 * H, H));
}

typedef struct {
    SY_REAL *dgi, *dgh, *dh, *dh0;
    const SY_REAL *dout, *dh_n, *cache, *w_hh;
    int64_t B, T, H;
} SY_FN(gru_bwd_job);

static void SY_FN(gru_bptt_task)(void *ctx, int task, int n_tasks) {
    const SY_FN(gru_bwd_job) *j = ctx;
    const int64_t T = j->T, H = j->H, G = 3 * H, W = 5 * H;
    SY_REAL *dh;
    size_t state;
    int64_t b0, b1, t;
    sy_split(j->B, 1, task, n_tasks, &b0, &b1);
    if (b0 == b1) return;
    dh = j->dh + b0 * H;
    state = sizeof *dh * (size_t)((b1 - b0) * H);
    if (j->dh_n) memcpy(dh, j->dh_n + b0 * H, state);
    else memset(dh, 0, state);
    for (t = T - 1; t >= 0; t--) {
        const int64_t row = b0 * T + t;
        SY_FN(gru_bwd_rows)(j->dgi + row * G, j->dgh + row * G, T * G, j->cache + row * W, T * W,
                            j->dout ? j->dout + row * H : NULL, T * H, dh, b1 - b0, H);
        if (t > 0 || j->dh0)
            SY_GEMM(0, 0, b1 - b0, H, G, 1, j->dgh + row * G, T * G, j->w_hh, H, 1, dh, H);
    }
    if (j->dh0) memcpy(j->dh0 + b0 * H, dh, state);
}

static void SY_FN(gru_bptt)(SY_REAL *dgi, SY_REAL *dgh, SY_REAL *dh, SY_REAL *dh0,
                            const SY_REAL *dout, const SY_REAL *dh_n, const SY_REAL *cache,
                            const SY_REAL *w_hh, int64_t B, int64_t T, int64_t H) {
    SY_FN(gru_bwd_job) j = {dgi, dgh, dh, dh0, dout, dh_n, cache, w_hh, B, T, H};
    sy_parallel_run(SY_FN(gru_bptt_task), &j, sy_recurrent_tasks(B, T, 3 * H, H));
}

#endif
