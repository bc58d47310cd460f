/*
** attention.c -- scaled dot-product attention over [B, H, L, E] as one
** kernel, forward and backward (see attention.h). Per (batch, head) matrix
** the products are BLAS calls and the rest -- mask, softmax, dropout -- one
** pass over the [Lq, Lk] scores, which live in the weights output itself.
**
** Backward, with P the weights, D = keep * keep_scale and Pd = P * D:
**   dV = Pd^T dOut
**   dP = (dOut V^T) * D + dWeights
**   dS = P * (dP - rowsum(dP * P))          (softmax backward)
**   dQ = dS K / sqrt(E),  dK = dS^T Q / sqrt(E)
**
** Written once over SY_REAL and compiled for float and double by including
** itself, like rnn.c.
*/
#ifndef SY_REAL

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "../core/alloc.h"
#include "attention.h"

/* The (b, h) matrices of a [B, H, rows, cols] operand whose rows are
** contiguous: matrix (b, h) starts at data + b*sb + h*sh (elements), rows
** are ld apart. */
typedef struct mats {
    const void *data;
    int64_t sb, sh;
    int ld;
} mats;

/* A [B, H, Lq, Lk] mask, bool or of the kernel's dtype, any strides. */
typedef struct mask_view {
    const void *data;
    int64_t stride[4];
    int is_bool;
} mask_view;

#define SY_REAL float
#define SY_DT SY_F32
#define SY_FN(name) name##_f32
#define SY_GEMM cblas_sgemm
#include "attention.c"
#undef SY_REAL
#undef SY_DT
#undef SY_FN
#undef SY_GEMM

#define SY_REAL double
#define SY_DT SY_F64
#define SY_FN(name) name##_f64
#define SY_GEMM cblas_dgemm
#include "attention.c"
#undef SY_REAL
#undef SY_DT
#undef SY_FN
#undef SY_GEMM

#define DISPATCH(dt, fn, ...) ((dt) == SY_F32 ? fn##_f32(__VA_ARGS__) : fn##_f64(__VA_ARGS__))

static mats mats_of(const sy_tensor *t) {
    /* a one-row matrix has no meaningful row stride; BLAS wants ld >= cols */
    mats m = {sy_tensor_data(t), t->stride[0], t->stride[1],
              (int)(t->size[2] > 1 ? t->stride[2] : t->size[3])};
    return m;
}

static void *ptr(const sy_tensor *t) { return t ? sy_tensor_data(t) : NULL; }

sy_status sy_attention_forward(sy_tensor *out, sy_tensor *weights, const sy_tensor *q,
                               const sy_tensor *k, const sy_tensor *v, const sy_tensor *mask,
                               const sy_tensor *keep, double keep_scale) {
    const int64_t B = q->size[0], H = q->size[1], Lq = q->size[2], Lk = k->size[2];
    const int64_t E = q->size[3], Ev = v->size[3];
    /* the dropped-out weights of one (b, h), when there is dropout */
    const size_t nbytes = keep ? (size_t)(Lq * Lk * sy_dtype_size(q->dtype)) : 0;
    void *work = NULL;
    mask_view mv = {0};
    int d;
    if (keep && !(work = sy_mem_alloc(nbytes))) return SY_ERR_OOM;
    if (mask) {
        mv.data = sy_tensor_data(mask);
        for (d = 0; d < 4; d++) mv.stride[d] = mask->stride[d];
        mv.is_bool = mask->dtype == SY_BOOL;
    }
    DISPATCH(q->dtype, forward, ptr(out), ptr(weights), mats_of(q), mats_of(k), mats_of(v),
             mask ? &mv : NULL, ptr(keep), keep_scale, work, B, H, (int)Lq, (int)Lk, (int)E,
             (int)Ev);
    sy_mem_free(work, nbytes);
    return SY_OK;
}

sy_status sy_attention_backward(sy_tensor *dq, sy_tensor *dk, sy_tensor *dv, const sy_tensor *dout,
                                const sy_tensor *dweights, const sy_tensor *q, const sy_tensor *k,
                                const sy_tensor *v, const sy_tensor *weights, const sy_tensor *keep,
                                double keep_scale) {
    const int64_t B = q->size[0], H = q->size[1], Lq = q->size[2], Lk = k->size[2];
    const int64_t E = q->size[3], Ev = v->size[3];
    /* the dropped-out weights and the weights' gradient of one (b, h) */
    const size_t nbytes = (size_t)(2 * Lq * Lk * sy_dtype_size(q->dtype));
    void *work = sy_mem_alloc(nbytes);
    if (!work) return SY_ERR_OOM;
    DISPATCH(q->dtype, backward, ptr(dq), ptr(dk), ptr(dv), ptr(dout), ptr(dweights), mats_of(q),
             mats_of(k), mats_of(v), ptr(weights), ptr(keep), keep_scale, work, B, H, (int)Lq,
             (int)Lk, (int)E, (int)Ev);
    sy_mem_free(work, nbytes);
    return SY_OK;
}

#else /* ------------------------------------------- typed body (SY_REAL) */

static const SY_REAL *SY_FN(mat)(mats m, int64_t b, int64_t h) {
    return (const SY_REAL *)m.data + b * m.sb + h * m.sh;
}

/* s [Lq, Lk] += mask (b, h): -inf where a bool mask is true, else its value. */
static void SY_FN(apply_mask)(SY_REAL *s, const mask_view *mv, int64_t b, int64_t h, int Lq,
                              int Lk) {
    const int64_t s2 = mv->stride[2], s3 = mv->stride[3];
    int i, j;
    if (mv->is_bool) {
        const unsigned char *m =
            (const unsigned char *)mv->data + b * mv->stride[0] + h * mv->stride[1];
        for (i = 0; i < Lq; i++)
            for (j = 0; j < Lk; j++)
                if (m[i * s2 + j * s3]) s[(int64_t)i * Lk + j] = -INFINITY;
    } else {
        const SY_REAL *m = (const SY_REAL *)mv->data + b * mv->stride[0] + h * mv->stride[1];
        for (i = 0; i < Lq; i++)
            for (j = 0; j < Lk; j++) s[(int64_t)i * Lk + j] += m[i * s2 + j * s3];
    }
}

/* pd = p * keep * scale over n elements; a multiply, not a branch, since
** the mask is random */
static void SY_FN(drop)(SY_REAL *pd, const SY_REAL *p, const unsigned char *keep, SY_REAL scale,
                        int64_t n) {
    int64_t i;
    for (i = 0; i < n; i++) pd[i] = p[i] * ((SY_REAL)keep[i] * scale);
}

static void SY_FN(forward)(SY_REAL *out, SY_REAL *weights, mats q, mats k, mats v,
                           const mask_view *mask, const unsigned char *keep, double keep_scale,
                           SY_REAL *pd, int64_t B, int64_t H, int Lq, int Lk, int E, int Ev) {
    const SY_REAL scale = (SY_REAL)(1 / sqrt((double)E));
    const int64_t nw = (int64_t)Lq * Lk;
    int64_t b, h;
    for (b = 0; b < B; b++)
        for (h = 0; h < H; h++) {
            const int64_t bh = b * H + h;
            SY_REAL *p = weights + bh * nw;
            SY_GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, Lq, Lk, E, scale, SY_FN(mat)(q, b, h),
                    q.ld, SY_FN(mat)(k, b, h), k.ld, 0, p, Lk);
            if (mask) SY_FN(apply_mask)(p, mask, b, h, Lq, Lk);
            sy_softmax_rows(SY_DT, p, p, Lq, Lk, 0);
            if (keep) {
                SY_FN(drop)(pd, p, keep + bh * nw, (SY_REAL)keep_scale, nw);
                p = pd;
            }
            SY_GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, Lq, Ev, Lk, 1, p, Lk,
                    SY_FN(mat)(v, b, h), v.ld, 0, out + bh * Lq * Ev, Ev);
        }
}

static void SY_FN(backward)(SY_REAL *dq, SY_REAL *dk, SY_REAL *dv, const SY_REAL *dout,
                            const SY_REAL *dweights, mats q, mats k, mats v,
                            const SY_REAL *weights, const unsigned char *keep, double keep_scale,
                            SY_REAL *work, int64_t B, int64_t H, int Lq, int Lk, int E, int Ev) {
    const SY_REAL scale = (SY_REAL)(1 / sqrt((double)E)), ks = (SY_REAL)keep_scale;
    const int64_t nw = (int64_t)Lq * Lk;
    SY_REAL *pd = work, *dp = work + nw;
    int64_t b, h, i;
    for (b = 0; b < B; b++)
        for (h = 0; h < H; h++) {
            const int64_t bh = b * H + h;
            const SY_REAL *p = weights + bh * nw, *go = dout ? dout + bh * Lq * Ev : NULL;
            const unsigned char *kp = keep ? keep + bh * nw : NULL;
            if (dv) {
                SY_REAL *g = dv + bh * Lk * Ev;
                const SY_REAL *a = p;
                if (kp) {
                    SY_FN(drop)(pd, p, kp, ks, nw);
                    a = pd;
                }
                if (go)
                    SY_GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, Lk, Ev, Lq, 1, a, Lk, go, Ev,
                            0, g, Ev);
                else
                    memset(g, 0, sizeof *g * (size_t)(Lk * Ev));
            }
            if (!dq && !dk) continue;
            if (go)
                SY_GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, Lq, Lk, Ev, 1, go, Ev,
                        SY_FN(mat)(v, b, h), v.ld, 0, dp, Lk);
            else
                memset(dp, 0, sizeof *dp * (size_t)nw);
            if (kp) SY_FN(drop)(dp, dp, kp, ks, nw);
            if (dweights)
                for (i = 0; i < nw; i++) dp[i] += dweights[bh * nw + i];
            sy_softmax_rows_backward(SY_DT, dp, dp, p, Lq, Lk, 0);
            if (dq)
                SY_GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, Lq, E, Lk, scale, dp, Lk,
                        SY_FN(mat)(k, b, h), k.ld, 0, dq + bh * Lq * E, E);
            if (dk)
                SY_GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, Lk, E, Lq, scale, dp, Lk,
                        SY_FN(mat)(q, b, h), q.ld, 0, dk + bh * Lk * E, E);
        }
}

#endif
