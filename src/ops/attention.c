/*
** attention.c -- scaled dot-product attention over [B, H, L, E] as one
** kernel, forward and backward (see attention.h). Per (batch, head) matrix
** the products and the rest -- mask, softmax, dropout -- one pass over the
** [Lq, Lk] scores, which live in the weights output itself. The (b, h)
** pairs are split across the pool. Float products of small matrices (every
** side at most SMALL_DIM, as in the paper's PatchTST: 15 patches, 16 per
** head) run in a register-blocked SIMD kernel here: a BLAS call costs more
** than such a product. Double and bigger products go to BLAS.
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
#include "../core/threads.h"
#include "attention.h"
#include "simd.h"

#define SMALL_DIM 64
/* op(B) packed in rows of N rounded up to 8, then C's rows padded alike */
#define SMALL_WORK (2 * SMALL_DIM * SMALL_DIM)

/* The (b, h) matrices of a [B, H, rows, cols] operand whose rows are
** contiguous: matrix (b, h) starts at data + b*sb + h*sh (elements), rows
** are ld apart. Inputs and results alike: a result may be a view too (the
** heads of a [B, L, H*E] tensor), so the heads are merged as they are
** written. */
typedef struct mats {
    void *data;
    int64_t sb, sh;
    int ld;
} mats;

/* A [B, H, Lq, Lk] mask, bool or of the kernel's dtype, any strides. */
typedef struct mask_view {
    const void *data;
    int64_t stride[4];
    int is_bool;
} mask_view;

/* ------------------------------------------------ small float products */

/* Rows i0 .. i0+rows-1 (rows <= 4) and columns n0 .. n0+8*nv-1 (nv 1 or 2)
** of c = alpha a b, a(i, k) at a[i*sai + k*sak], b [K, >= n0+8*nv] with
** rows ldb apart, c's rows ldc apart: 4 x 2 accumulators in registers, k in
** order. */
SY_INLINE void small_block_f32(float *c, int ldc, const float *a, int sai, int sak, const float *b,
                               int ldb, int K, float alpha, int i0, int rows, int n0, int nv) {
    sy_v8f acc[4][2], av = {0}, b0, b1 = {0};
    int r, k;
    for (r = 0; r < 4; r++) acc[r][0] = acc[r][1] = (sy_v8f){0};
    for (k = 0; k < K; k++) {
        sy_v8_load(&b0, b + (int64_t)k * ldb + n0, 8);
        if (nv == 2) sy_v8_load(&b1, b + (int64_t)k * ldb + n0 + 8, 8);
        for (r = 0; r < rows; r++) {
            sy_v8_set1(&av, a[(i0 + r) * sai + k * sak]);
            acc[r][0] += av * b0;
            if (nv == 2) acc[r][1] += av * b1;
        }
    }
    for (r = 0; r < rows; r++) {
        if (alpha != 1) {
            sy_v8f al;
            sy_v8_set1(&al, alpha);
            acc[r][0] *= al;
            acc[r][1] *= al;
        }
        sy_v8_store(c + (int64_t)(i0 + r) * ldc + n0, &acc[r][0], 8);
        if (nv == 2) sy_v8_store(c + (int64_t)(i0 + r) * ldc + n0 + 8, &acc[r][1], 8);
    }
}

/* Row-major C [M, N] (rows ldc apart) = alpha op(A) op(B) for M, N, K at
** most SMALL_DIM. The kernel works on whole 8-column vectors: when N is a
** multiple of 8 it reads an untransposed B and writes C in place; else op(B)
** is packed into work as K rows of Np = N rounded up to 8 (zero padded) and
** C's rows are computed padded in the rest of work and copied out. In the
** paper's PatchTST (head dim 16, 15 patches) four of the seven products per
** head and pass take the direct path. Sums run over k in order, like BLAS's;
** either path gives the same bits. */
SY_INLINE void small_mm_f32(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                            int lda, const float *B, int ldb, float *C, int ldc, float *work) {
    const int Np = (N + 7) / 8 * 8, sai = ta ? 1 : lda, sak = ta ? lda : 1;
    const int direct_b = !tb && Np == N, direct_c = Np == N;
    const float *b = direct_b ? B : work;
    float *c = direct_c ? C : work + SMALL_DIM * SMALL_DIM;
    const int bs = direct_b ? ldb : Np, cs = direct_c ? ldc : Np;
    int i, k, n;
    if (!direct_b)
        for (k = 0; k < K; k++) {
            float *bk = work + k * Np;
            if (tb)
                for (n = 0; n < N; n++) bk[n] = B[(int64_t)n * ldb + k];
            else
                for (n = 0; n < N; n++) bk[n] = B[(int64_t)k * ldb + n];
            for (n = N; n < Np; n++) bk[n] = 0;
        }
    for (n = 0; n < Np; n += 16) {
        const int nv = Np - n >= 16 ? 2 : 1;
        for (i = 0; i + 4 <= M; i += 4)
            small_block_f32(c, cs, A, sai, sak, b, bs, K, alpha, i, 4, n, nv);
        switch (M - i) {
        case 3: small_block_f32(c, cs, A, sai, sak, b, bs, K, alpha, i, 3, n, nv); break;
        case 2: small_block_f32(c, cs, A, sai, sak, b, bs, K, alpha, i, 2, n, nv); break;
        case 1: small_block_f32(c, cs, A, sai, sak, b, bs, K, alpha, i, 1, n, nv); break;
        }
    }
    if (!direct_c)
        for (i = 0; i < M; i++)
            for (n = 0; n < N; n++) C[(int64_t)i * ldc + n] = c[i * Np + n];
}

#define SY_SMALL_MM 1
#define SY_REAL float
#define SY_DT SY_F32
#define SY_FN(name) name##_f32
#define SY_GEMM cblas_sgemm
#include "attention.c"
#undef SY_REAL
#undef SY_DT
#undef SY_FN
#undef SY_GEMM

#undef SY_SMALL_MM
#define SY_SMALL_MM 0
#define SY_REAL double
#define SY_DT SY_F64
#define SY_FN(name) name##_f64
#define SY_GEMM cblas_dgemm
#include "attention.c"
#undef SY_REAL
#undef SY_DT
#undef SY_FN
#undef SY_GEMM
#undef SY_SMALL_MM

#define DISPATCH(dt, fn, ...) ((dt) == SY_F32 ? fn##_f32(__VA_ARGS__) : fn##_f64(__VA_ARGS__))

/* NULL gives a matrix set with no data. */
static mats mats_of(const sy_tensor *t) {
    mats m = {0};
    if (!t) return m;
    m.data = sy_tensor_data(t);
    m.sb = t->stride[0];
    m.sh = t->stride[1];
    /* a one-row matrix has no meaningful row stride; BLAS wants ld >= cols */
    m.ld = (int)(t->size[2] > 1 ? t->stride[2] : t->size[3]);
    return m;
}

static void *ptr(const sy_tensor *t) { return t ? sy_tensor_data(t) : NULL; }

/* The workspace of one task, in elements: small_mm_f32's, then for the
** forward the dropped-out weights of one (b, h), for the backward those and
** the weights' gradient. */
static int64_t work_per_task(int64_t Lq, int64_t Lk, int backward) {
    return SMALL_WORK + (backward ? 2 : 1) * Lq * Lk;
}

static int n_tasks_for(int64_t B, int64_t H, int64_t Lq, int64_t Lk, int64_t E) {
    /* about 2^16 multiply-adds per task at least, or waking the pool costs more */
    const int64_t work = B * H * Lq * Lk * E;
    return work < ((int64_t)1 << 17) ? 1 : sy_parallel_width();
}

typedef struct {
    sy_dtype dt;
    void *weights, *work;
    const void *dweights, *cweights;
    mats out, dq, dk, dv, dout, q, k, v;
    const mask_view *mask;
    const unsigned char *keep;
    double keep_scale;
    int64_t B, H, per_task;
    int Lq, Lk, E, Ev, backward;
} attn_job;

static void attn_task(void *ctx, int task, int n_tasks) {
    const attn_job *j = ctx;
    void *w = (char *)j->work + task * j->per_task * sy_dtype_size(j->dt);
    int64_t lo, hi;
    sy_split(j->B * j->H, 1, task, n_tasks, &lo, &hi);
    if (lo == hi) return;
    if (j->backward)
        DISPATCH(j->dt, backward, j->dq, j->dk, j->dv, j->dout, j->dweights, j->q, j->k, j->v,
                 j->cweights, j->keep, j->keep_scale, w, lo, hi, j->H, j->Lq, j->Lk, j->E, j->Ev);
    else
        DISPATCH(j->dt, forward, j->out, j->weights, j->q, j->k, j->v, j->mask, j->keep,
                 j->keep_scale, w, lo, hi, j->H, j->Lq, j->Lk, j->E, j->Ev);
}

sy_status sy_attention_forward(sy_tensor *out, sy_tensor *weights, const sy_tensor *q,
                               const sy_tensor *k, const sy_tensor *v, const sy_tensor *mask,
                               const sy_tensor *keep, double keep_scale) {
    const int64_t B = q->size[0], H = q->size[1], Lq = q->size[2], Lk = k->size[2];
    const int64_t E = q->size[3], Ev = v->size[3];
    const int n_tasks = n_tasks_for(B, H, Lq, Lk, E > Ev ? E : Ev);
    const int64_t per_task = work_per_task(Lq, Lk, 0);
    const size_t nbytes = (size_t)(n_tasks * per_task * sy_dtype_size(q->dtype));
    void *work = sy_mem_alloc(nbytes);
    mask_view mv = {0};
    attn_job j = {q->dtype, ptr(weights), work, NULL, NULL, mats_of(out), mats_of(NULL),
                  mats_of(NULL), mats_of(NULL), mats_of(NULL), mats_of(q), mats_of(k), mats_of(v),
                  mask ? &mv : NULL, ptr(keep), keep_scale, B, H, per_task, (int)Lq, (int)Lk,
                  (int)E, (int)Ev, 0};
    int d;
    if (!work) return SY_ERR_OOM;
    if (mask) {
        mv.data = sy_tensor_data(mask);
        for (d = 0; d < 4; d++) mv.stride[d] = mask->stride[d];
        mv.is_bool = mask->dtype == SY_BOOL;
    }
    sy_parallel_run(attn_task, &j, n_tasks);
    sy_mem_free(work, nbytes);
    return SY_OK;
}

sy_status sy_attention_backward(sy_tensor *dq, sy_tensor *dk, sy_tensor *dv, const sy_tensor *dout,
                                const sy_tensor *dweights, const sy_tensor *q, const sy_tensor *k,
                                const sy_tensor *v, const sy_tensor *weights, const sy_tensor *keep,
                                double keep_scale) {
    const int64_t B = q->size[0], H = q->size[1], Lq = q->size[2], Lk = k->size[2];
    const int64_t E = q->size[3], Ev = v->size[3];
    const int n_tasks = n_tasks_for(B, H, Lq, Lk, E > Ev ? E : Ev);
    const int64_t per_task = work_per_task(Lq, Lk, 1);
    const size_t nbytes = (size_t)(n_tasks * per_task * sy_dtype_size(q->dtype));
    void *work = sy_mem_alloc(nbytes);
    attn_job j = {q->dtype, NULL, work, ptr(dweights), ptr(weights), mats_of(NULL), mats_of(dq),
                  mats_of(dk), mats_of(dv), mats_of(dout), mats_of(q), mats_of(k), mats_of(v),
                  NULL, ptr(keep), keep_scale, B, H, per_task, (int)Lq, (int)Lk, (int)E, (int)Ev,
                  1};
    if (!work) return SY_ERR_OOM;
    sy_parallel_run(attn_task, &j, n_tasks);
    sy_mem_free(work, nbytes);
    return SY_OK;
}

#else /* ------------------------------------------- typed body (SY_REAL) */

/* Matrix (b, h) of m; NULL when m has no data. */
static SY_REAL *SY_FN(mat)(mats m, int64_t b, int64_t h) {
    return m.data ? (SY_REAL *)m.data + b * m.sb + h * m.sh : NULL;
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

/* Row-major C [M, N] = alpha op(A) op(B): small float products by
** small_mm_f32 (work: SMALL_WORK elements), the rest by BLAS. */
SY_INLINE void SY_FN(mm)(int ta, int tb, int M, int N, int K, SY_REAL alpha, const SY_REAL *A,
                         int lda, const SY_REAL *B, int ldb, SY_REAL *C, int ldc, SY_REAL *work) {
#if SY_SMALL_MM
    if (M <= SMALL_DIM && N <= SMALL_DIM && K <= SMALL_DIM) {
        small_mm_f32(ta, tb, M, N, K, alpha, A, lda, B, ldb, C, ldc, work);
        return;
    }
#else
    (void)work;
#endif
    SY_GEMM(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K,
            alpha, A, lda, B, ldb, 0, C, ldc);
}

/* Pairs bh0 <= b*H + h < bh1; work: SMALL_WORK + Lq*Lk elements. */
SY_SIMD_CLONES static void SY_FN(forward)(mats out, SY_REAL *weights, mats q, mats k, mats v,
                                          const mask_view *mask, const unsigned char *keep,
                                          double keep_scale, SY_REAL *work, int64_t bh0,
                                          int64_t bh1, int64_t H, int Lq, int Lk, int E, int Ev) {
    const SY_REAL scale = (SY_REAL)(1 / sqrt((double)E));
    const int64_t nw = (int64_t)Lq * Lk;
    SY_REAL *pd = work + SMALL_WORK;
    int64_t bh;
    for (bh = bh0; bh < bh1; bh++) {
        const int64_t b = bh / H, h = bh % H;
        SY_REAL *p = weights + bh * nw;
        SY_FN(mm)(0, 1, Lq, Lk, E, scale, SY_FN(mat)(q, b, h), q.ld, SY_FN(mat)(k, b, h), k.ld, p,
                  Lk, work);
        if (mask) SY_FN(apply_mask)(p, mask, b, h, Lq, Lk);
        sy_softmax_rows(SY_DT, p, p, Lq, Lk, 0);
        if (keep) {
            SY_FN(drop)(pd, p, keep + bh * nw, (SY_REAL)keep_scale, nw);
            p = pd;
        }
        SY_FN(mm)(0, 0, Lq, Ev, Lk, 1, p, Lk, SY_FN(mat)(v, b, h), v.ld, SY_FN(mat)(out, b, h),
                  out.ld, work);
    }
}

/* Pairs bh0 <= b*H + h < bh1; work: SMALL_WORK + 2*Lq*Lk elements. */
SY_SIMD_CLONES static void SY_FN(backward)(mats dq, mats dk, mats dv, mats dout,
                                           const SY_REAL *dweights, mats q, mats k, mats v,
                                           const SY_REAL *weights,
                                           const unsigned char *keep, double keep_scale,
                                           SY_REAL *work, int64_t bh0, int64_t bh1, int64_t H,
                                           int Lq, int Lk, int E, int Ev) {
    const SY_REAL scale = (SY_REAL)(1 / sqrt((double)E)), ks = (SY_REAL)keep_scale;
    const int64_t nw = (int64_t)Lq * Lk;
    SY_REAL *pd = work + SMALL_WORK, *dp = pd + nw;
    int64_t bh, i;
    for (bh = bh0; bh < bh1; bh++) {
        const int64_t b = bh / H, h = bh % H;
        const SY_REAL *p = weights + bh * nw, *go = SY_FN(mat)(dout, b, h);
        const unsigned char *kp = keep ? keep + bh * nw : NULL;
        SY_REAL *g = SY_FN(mat)(dv, b, h);
        if (g) {
            const SY_REAL *a = p;
            if (kp) {
                SY_FN(drop)(pd, p, kp, ks, nw);
                a = pd;
            }
            if (go) SY_FN(mm)(1, 0, Lk, Ev, Lq, 1, a, Lk, go, dout.ld, g, dv.ld, work);
            else
                for (i = 0; i < Lk; i++) memset(g + i * dv.ld, 0, sizeof *g * (size_t)Ev);
        }
        if (!dq.data && !dk.data) continue;
        if (go) SY_FN(mm)(0, 1, Lq, Lk, Ev, 1, go, dout.ld, SY_FN(mat)(v, b, h), v.ld, dp, Lk, work);
        else memset(dp, 0, sizeof *dp * (size_t)nw);
        if (kp) SY_FN(drop)(dp, dp, kp, ks, nw);
        if (dweights)
            for (i = 0; i < nw; i++) dp[i] += dweights[bh * nw + i];
        sy_softmax_rows_backward(SY_DT, dp, dp, p, Lq, Lk, 0);
        if (dq.data)
            SY_FN(mm)(0, 0, Lq, E, Lk, scale, dp, Lk, SY_FN(mat)(k, b, h), k.ld, SY_FN(mat)(dq, b, h),
                      dq.ld, work);
        if (dk.data)
            SY_FN(mm)(1, 0, Lk, E, Lq, scale, dp, Lk, SY_FN(mat)(q, b, h), q.ld, SY_FN(mat)(dk, b, h),
                      dk.ld, work);
    }
}

#endif
