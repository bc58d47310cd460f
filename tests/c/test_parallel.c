/*
** test_parallel.c -- synlua's thread pool and the kernels that use it, and
** the eight-lane float paths: sy_split's partitions; every task of a region
** run exactly once (busy and sleeping workers, nested regions inline);
** sy_gemm split across threads against a naive product; the recurrent
** layers with their batch split over threads (run to run bitwise equal, and
** equal to one thread within rounding); softmax and log_softmax rows
** against double references, special values and in-place use; attention
** (small SIMD products and the BLAS path) against a naive reference and
** across thread counts; linear across thread counts; layer norm against a
** naive reference and across thread counts; elementwise ops split over the
** pool (bit for bit across thread counts); Adam's vectorised float loop
** (with and without a mask, split over threads) against a scalar reference,
** bit for bit.
*/
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "core/tensor.h"
#include "core/threads.h"
#include "ops/attention.h"
#include "ops/gemm.h"
#include "ops/layers.h"
#include "ops/ops.h"
#include "ops/recurrent.h"
#include "optim/prepare.h"

/* ------------------------------------------------------------- helpers */

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static double uniform(void) {   /* in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / (double)(1ull << 52) - 1.0;
}

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})

/* Uniform in [-scale, scale). */
static sy_tensor *rand_scaled(sy_dtype dt, int nd, const int64_t *size, double scale) {
    sy_tensor *t = NULL;
    int64_t i, n;
    if (sy_tensor_empty(&t, dt, nd, size)) return NULL;
    n = sy_tensor_numel(t);
    for (i = 0; i < n; i++)
        sy_value_store((char *)sy_tensor_data(t) + i * sy_dtype_size(dt), dt, scale * uniform());
    return t;
}

static sy_tensor *rand_tensor(sy_dtype dt, int nd, const int64_t *size) {
    return rand_scaled(dt, nd, size, 1);
}

static sy_tensor *empty(sy_dtype dt, int nd, const int64_t *size) {
    sy_tensor *t = NULL;
    CHECK_OK(sy_tensor_empty(&t, dt, nd, size));
    return t;
}

static double at(const sy_tensor *t, int64_t i) {
    return sy_value_load((const char *)sy_tensor_data(t) + i * sy_dtype_size(t->dtype), t->dtype);
}

/* Largest |a - b| / (1 + |b|) over the elements. */
static double rel_diff(const sy_tensor *a, const sy_tensor *b) {
    double worst = 0;
    int64_t i, n = sy_tensor_numel(a);
    for (i = 0; i < n; i++) worst = fmax(worst, fabs(at(a, i) - at(b, i)) / (1 + fabs(at(b, i))));
    return worst;
}

static int same_bits(const sy_tensor *a, const sy_tensor *b) {
    return sy_tensor_numel(a) == sy_tensor_numel(b) &&
           memcmp(sy_tensor_data(a), sy_tensor_data(b),
                  (size_t)(sy_tensor_numel(a) * sy_dtype_size(a->dtype))) == 0;
}

static void release_all(sy_tensor **t, int n) {
    int i;
    for (i = 0; i < n; i++) {
        sy_tensor_release(t[i]);
        t[i] = NULL;
    }
}

/* ------------------------------------------------------------- sy_split */

static void test_split(void) {
    const int64_t sizes[] = {0, 1, 5, 16, 64, 100, 1000};
    const int64_t aligns[] = {1, 8, 16};
    int ok = 1;
    size_t si, ai;
    int n, k;
    for (si = 0; si < sizeof sizes / sizeof *sizes; si++)
        for (ai = 0; ai < sizeof aligns / sizeof *aligns; ai++)
            for (n = 1; n <= 7; n++) {
                int64_t next = 0, lo, hi;
                for (k = 0; k < n; k++) {
                    sy_split(sizes[si], aligns[ai], k, n, &lo, &hi);
                    ok = ok && lo == next && hi >= lo && hi <= sizes[si];
                    ok = ok && (hi == sizes[si] || hi % aligns[ai] == 0);
                    next = hi;
                }
                ok = ok && next == sizes[si];
            }
    CHECK(ok);
    {   /* even halves of an even batch */
        int64_t lo, hi;
        sy_split(64, 1, 1, 2, &lo, &hi);
        CHECK(lo == 32 && hi == 64);
    }
}

/* ----------------------------------------------------------------- pool */

enum { MAX_TASKS = 8 };

typedef struct {
    int count[MAX_TASKS], seen_n[MAX_TASKS];
    int nested_width, nested_ran;
} pool_probe;

static void count_task(void *ctx, int task, int n_tasks) {
    pool_probe *p = ctx;
    if (task < 0 || task >= MAX_TASKS) return;
    p->count[task]++;
    p->seen_n[task] = n_tasks;
}

static void nested_inner(void *ctx, int task, int n_tasks) {
    pool_probe *p = ctx;
    if (task == 0 && n_tasks == 1) p->nested_ran++;
}

static void nested_task(void *ctx, int task, int n_tasks) {
    pool_probe *p = (pool_probe *)ctx + task;
    (void)n_tasks;
    p->nested_width = sy_parallel_width();
    sy_parallel_run(nested_inner, p, 4);
}

static void test_pool(void) {
    pool_probe p, nest[4];
    const struct timespec pause = {0, 1000000};   /* long enough for the workers to sleep */
    int i, k, ok;
    memset(&p, 0, sizeof p);
    sy_set_num_threads(4);
    CHECK(sy_get_num_threads() == 4);
    CHECK(sy_parallel_width() == 4);
    for (i = 0; i < 3000; i++) sy_parallel_run(count_task, &p, 4);
    for (i = 0; i < 20; i++) {
        nanosleep(&pause, NULL);
        sy_parallel_run(count_task, &p, 4);
    }
    for (k = 0, ok = 1; k < MAX_TASKS; k++)
        ok = ok && p.count[k] == (k < 4 ? 3020 : 0) && p.seen_n[k] == (k < 4 ? 4 : 0);
    CHECK(ok);
    memset(nest, 0, sizeof nest);
    sy_parallel_run(nested_task, nest, 4);
    for (k = 0, ok = 1; k < 4; k++) ok = ok && nest[k].nested_width == 1 && nest[k].nested_ran == 1;
    CHECK(ok);
    /* fewer tasks than threads, more than threads, and one thread */
    memset(&p, 0, sizeof p);
    sy_parallel_run(count_task, &p, 2);
    CHECK(p.count[0] == 1 && p.count[1] == 1 && p.count[2] == 0 && p.seen_n[1] == 2);
    memset(&p, 0, sizeof p);
    sy_parallel_run(count_task, &p, 6);
    CHECK(p.count[3] == 1 && p.count[4] == 0 && p.seen_n[0] == 4);
    sy_set_num_threads(1);
    CHECK(sy_parallel_width() == 1);
    memset(&p, 0, sizeof p);
    sy_parallel_run(count_task, &p, 4);
    CHECK(p.count[0] == 1 && p.count[1] == 0 && p.seen_n[0] == 1);
    memset(nest, 0, sizeof nest);
    sy_parallel_run(nested_task, nest, 4);
    CHECK(nest[0].nested_ran == 1 && nest[1].nested_ran == 0);
}

/* ----------------------------------------------------------------- gemm */

/* C = alpha op(A) op(B) + beta C in double, naively. */
static void naive_gemm(double *C, int ta, int tb, int64_t M, int64_t N, int64_t K, double alpha,
                       const double *A, int64_t lda, const double *B, int64_t ldb, double beta,
                       int64_t ldc) {
    int64_t i, j, k;
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++) {
            double s = 0;
            for (k = 0; k < K; k++)
                s += (ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
            C[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * C[i * ldc + j]);
        }
}

static void test_gemm(void) {
    /* rows split (M >= N), columns split, and too small to split */
    const int64_t shapes[][3] = {{200, 70, 50}, {40, 300, 64}, {7, 5, 3}};
    const double betas[] = {0, 1, 0.5};
    size_t s, b;
    int ta, tb, ok32 = 1, ok64 = 1;
    sy_set_num_threads(2);
    for (s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (ta = 0; ta < 2; ta++)
            for (tb = 0; tb < 2; tb++)
                for (b = 0; b < sizeof betas / sizeof *betas; b++) {
                    const int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                    const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
                    const int64_t na = (ta ? K : M) * lda, nb = (tb ? N : K) * ldb, nc = M * ldc;
                    static double A[320 * 330], Bm[320 * 330], C[320 * 330], R[320 * 330];
                    static float Af[320 * 330], Bf[320 * 330], Cf[320 * 330];
                    int64_t i;
                    for (i = 0; i < na; i++) Af[i] = (float)(A[i] = uniform());
                    for (i = 0; i < nb; i++) Bf[i] = (float)(Bm[i] = uniform());
                    for (i = 0; i < nc; i++) Cf[i] = (float)(C[i] = R[i] = uniform());
                    naive_gemm(R, ta, tb, M, N, K, 0.75, A, lda, Bm, ldb, betas[b], ldc);
                    sy_gemm_f64(ta, tb, M, N, K, 0.75, A, lda, Bm, ldb, betas[b], C, ldc);
                    sy_gemm_f32(ta, tb, M, N, K, 0.75f, Af, lda, Bf, ldb, (float)betas[b], Cf, ldc);
                    for (i = 0; i < M * ldc; i++) {
                        if (i % ldc >= N) continue;   /* the gaps between rows */
                        ok64 = ok64 && fabs(C[i] - R[i]) <= 1e-12 * (1 + fabs(R[i]));
                        ok32 = ok32 && fabs(Cf[i] - R[i]) <= 1e-4 * (1 + fabs(R[i]));
                    }
                }
    CHECK(ok64);
    CHECK(ok32);
    {   /* K = 0: C = beta C; M = 0: nothing */
        float c[6] = {1, 2, 3, 4, 5, 6};
        sy_gemm_f32(0, 0, 2, 2, 0, 1, c, 1, c, 1, 0.5f, c, 3);
        CHECK(c[0] == 0.5f && c[1] == 1 && c[2] == 3 && c[3] == 2 && c[4] == 2.5f && c[5] == 6);
        sy_gemm_f32(0, 0, 2, 2, 0, 1, c, 1, c, 1, 0, c, 3);
        CHECK(c[0] == 0 && c[1] == 0 && c[2] == 3 && c[3] == 0 && c[4] == 0);
        sy_gemm_f32(0, 0, 0, 2, 4, 1, c, 4, c, 2, 0, c, 2);
        CHECK(c[2] == 3 && c[5] == 6);
    }
    sy_set_num_threads(1);
}

/* sy_gemm_bias: op(A) op(B) + bias in every row, with the products split by
** rows and by columns at 2 threads and not split, and with K = 0 and no
** bias. The bias is written by the task that computes each part. */
static void test_gemm_bias(void) {
    const int64_t shapes[][3] = {{200, 70, 50}, {40, 300, 64}, {7, 5, 3}, {3, 4, 0}};
    size_t s;
    int ta, tb, nb, ok = 1;
    sy_set_num_threads(2);
    for (s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (ta = 0; ta < 2; ta++)
            for (tb = 0; tb < 2; tb++)
                for (nb = 0; nb < 2; nb++) {
                    const int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                    const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
                    static double A[320 * 330], Bm[320 * 330], R[320 * 330], bias[330];
                    static float Af[320 * 330], Bf[320 * 330], Cf[320 * 330], biasf[330];
                    int64_t i;
                    for (i = 0; i < (ta ? K : M) * lda; i++) Af[i] = (float)(A[i] = uniform());
                    for (i = 0; i < (tb ? N : K) * ldb; i++) Bf[i] = (float)(Bm[i] = uniform());
                    for (i = 0; i < N; i++) biasf[i] = (float)(bias[i] = uniform());
                    for (i = 0; i < M * ldc; i++) Cf[i] = 1e30f;   /* must all be overwritten */
                    naive_gemm(R, ta, tb, M, N, K, 1, A, lda, Bm, ldb, 0, ldc);
                    sy_gemm_bias_f32(ta, tb, M, N, K, Af, lda, Bf, ldb, nb ? NULL : biasf, Cf,
                                     ldc);
                    for (i = 0; i < M * ldc; i++) {
                        const double want = R[i] + (nb ? 0 : bias[i % ldc]);
                        if (i % ldc >= N) continue;
                        ok = ok && fabs(Cf[i] - want) <= 1e-4 * (1 + fabs(want));
                    }
                }
    CHECK(ok);
    sy_set_num_threads(1);
}

/* ------------------------------------------------------ recurrent layers */

enum { RNN, LSTM, GRU };
static const int n_gates[] = {1, 4, 3};

/* Inputs x, h0, c0, w_ih, w_hh, b_ih, b_hh and incoming gradients dout,
** dh_n, dc_n for one layer. */
typedef struct {
    sy_tensor *in[7], *grad[3];
} layer_args;

/* Weights as PyTorch initialises them, U(-1/sqrt(H), 1/sqrt(H)): larger
** ones make the recurrence chaotic, and rounding differences would grow
** without bound over the steps. */
static void make_layer(layer_args *a, int kind, sy_dtype dt, int64_t B, int64_t T, int64_t D,
                       int64_t H) {
    const int64_t G = n_gates[kind] * H;
    const double k = 1 / sqrt((double)H);
    a->in[0] = rand_tensor(dt, 3, SHAPE(B, T, D));
    a->in[1] = rand_tensor(dt, 2, SHAPE(B, H));
    a->in[2] = kind == LSTM ? rand_tensor(dt, 2, SHAPE(B, H)) : NULL;
    a->in[3] = rand_scaled(dt, 2, SHAPE(G, D), k);
    a->in[4] = rand_scaled(dt, 2, SHAPE(G, H), k);
    a->in[5] = rand_scaled(dt, 1, SHAPE(G), k);
    a->in[6] = rand_scaled(dt, 1, SHAPE(G), k);
    a->grad[0] = rand_tensor(dt, 3, SHAPE(B, T, H));
    a->grad[1] = rand_tensor(dt, 2, SHAPE(B, H));
    a->grad[2] = kind == LSTM ? rand_tensor(dt, 2, SHAPE(B, H)) : NULL;
}

/* Forward and backward into r: out, h_n, c_n, then dx, dh0, dc0, dw_ih,
** dw_hh, db_ih, db_hh (c_n and dc0 only for the LSTM). */
static void run_layer(sy_tensor **r, const layer_args *a, int kind) {
    sy_tensor *const *in = a->in, *const *g = a->grad, *cache;
    const sy_dtype dt = in[0]->dtype;
    const int64_t B = in[0]->size[0], T = in[0]->size[1], H = in[4]->size[1];
    const int64_t W = kind == RNN ? sy_rnn_cache_width(H)
                      : kind == LSTM ? sy_lstm_cache_width(H) : sy_gru_cache_width(H);
    int k;
    cache = empty(dt, 3, SHAPE(B, T, W));
    r[0] = empty(dt, 3, SHAPE(B, T, H));
    r[1] = empty(dt, 2, SHAPE(B, H));
    r[2] = kind == LSTM ? empty(dt, 2, SHAPE(B, H)) : NULL;
    for (k = 0; k < 7; k++) r[3 + k] = in[k] ? empty(dt, in[k]->ndim, in[k]->size) : NULL;
    switch (kind) {
    case RNN:
        sy_rnn_forward(r[0], r[1], cache, in[0], in[1], in[3], in[4], in[5], in[6]);
        CHECK_OK(sy_rnn_backward(r[3], r[4], r[6], r[7], r[8], r[9], g[0], g[1], cache, in[0],
                                 in[3], in[4]));
        break;
    case LSTM:
        sy_lstm_forward(r[0], r[1], r[2], cache, in[0], in[1], in[2], in[3], in[4], in[5], in[6]);
        CHECK_OK(sy_lstm_backward(r[3], r[4], r[5], r[6], r[7], r[8], r[9], g[0], g[1], g[2],
                                  cache, in[0], in[2], in[3], in[4]));
        break;
    case GRU:
        sy_gru_forward(r[0], r[1], cache, in[0], in[1], in[3], in[4], in[5], in[6]);
        CHECK_OK(sy_gru_backward(r[3], r[4], r[6], r[7], r[8], r[9], g[0], g[1], cache, in[0],
                                 in[3], in[4]));
        break;
    }
    sy_tensor_release(cache);
}

/* The batch split over threads: two runs on 2 or 3 threads agree bit for
** bit, and agree with one thread within float rounding (the BLAS kernels
** may round a product differently when it has fewer rows). Batch sizes
** above, at and below the thread count. */
static void test_recurrent_threads(void) {
    const int64_t batches[] = {64, 3, 1};
    int kind, d, ok_same = 1, ok_close = 1, i, nt;
    size_t bi;
    for (nt = 2; nt <= 3; nt++) {
        for (kind = RNN; kind <= GRU; kind++) {
            for (d = 0; d < 2; d++) {
                for (bi = 0; bi < sizeof batches / sizeof *batches; bi++) {
                    const sy_dtype dt = d ? SY_F64 : SY_F32;
                    const int64_t B = batches[bi], T = B == 64 ? 20 : 300;
                    layer_args a;
                    sy_tensor *one[10] = {0}, *many[10] = {0}, *again[10] = {0};
                    make_layer(&a, kind, dt, B, T, 10, 64);
                    sy_set_num_threads(1);
                    run_layer(one, &a, kind);
                    sy_set_num_threads(nt);
                    run_layer(many, &a, kind);
                    run_layer(again, &a, kind);
                    sy_set_num_threads(1);
                    for (i = 0; i < 10; i++) {
                        if (!one[i]) continue;
                        ok_same = ok_same && same_bits(many[i], again[i]);
                        ok_close = ok_close && rel_diff(many[i], one[i]) <= (d ? 1e-12 : 1e-4);
                    }
                    release_all(one, 10);
                    release_all(many, 10);
                    release_all(again, 10);
                    release_all(a.in, 7);
                    release_all(a.grad, 3);
                }
            }
        }
    }
    CHECK(ok_same);
    CHECK(ok_close);
}

/* -------------------------------------------------------------- softmax */

/* Distance from ref in units of the float spacing at ref. */
static double ulps(float y, double ref) {
    float r = (float)fabs(ref);
    double spacing = r < FLT_MIN ? FLT_TRUE_MIN : nextafterf(r, INFINITY) - r;
    return fabs(y - ref) / spacing;
}

/* Rows of every length 1..40 (vector-wide, partial and overlapping tails)
** with values spread over [-60, 60]: softmax within a few ulp of the
** double result from the same float differences x - max (their rounding is
** PyTorch's too) where it is above FLT_MIN, log_softmax within 1e-5
** absolute; in place equal to out of place; the backward likewise. */
static void test_softmax_rows(void) {
    enum { MAXN = 40 };
    float x[MAXN], y[MAXN], yl[MAXN], z[MAXN], dy[MAXN], dx[MAXN], dz[MAXN];
    double worst = 0, worst_log = 0, worst_bwd = 0;
    int n, j, rep, same = 1;
    for (rep = 0; rep < 50; rep++)
        for (n = 1; n <= MAXN; n++) {
            float m = -INFINITY, d[MAXN];
            double s = 0, sd = 0;
            for (j = 0; j < n; j++) {
                x[j] = (float)(uniform() * (rep % 2 ? 60 : 3));
                dy[j] = (float)uniform();
                m = fmaxf(m, x[j]);
            }
            for (j = 0; j < n; j++) s += exp(d[j] = x[j] - m);
            sy_softmax_rows(SY_F32, y, x, 1, n, 0);
            sy_softmax_rows(SY_F32, yl, x, 1, n, 1);
            for (j = 0; j < n; j++) {
                const double p = exp(d[j]) / s;
                if (p > FLT_MIN) worst = fmax(worst, ulps(y[j], p));
                worst_log = fmax(worst_log, fabs(yl[j] - ((double)x[j] - m - log(s))));
                sd += (double)dy[j] * y[j];
            }
            memcpy(z, x, sizeof x);
            sy_softmax_rows(SY_F32, z, z, 1, n, 0);
            same = same && memcmp(z, y, sizeof(float) * (size_t)n) == 0;
            sy_softmax_rows_backward(SY_F32, dx, dy, y, 1, n, 0);
            for (j = 0; j < n; j++)
                worst_bwd = fmax(worst_bwd, fabs(dx[j] - (double)y[j] * (dy[j] - sd)));
            memcpy(dz, dy, sizeof dy);
            sy_softmax_rows_backward(SY_F32, dz, dz, y, 1, n, 0);
            same = same && memcmp(dz, dx, sizeof(float) * (size_t)n) == 0;
            sy_softmax_rows_backward(SY_F32, dx, dy, yl, 1, n, 1);
            memcpy(dz, dy, sizeof dy);
            sy_softmax_rows_backward(SY_F32, dz, dz, yl, 1, n, 1);
            same = same && memcmp(dz, dx, sizeof(float) * (size_t)n) == 0;
        }
    printf("softmax rows: %.2f ulp, log_softmax %.2g, backward %.2g\n", worst, worst_log,
           worst_bwd);
    CHECK(worst <= 4);
    CHECK(worst_log <= 1e-5);
    CHECK(worst_bwd <= 1e-6);
    CHECK(same);
    {   /* -inf entries weigh 0; a row of -inf, or holding NaN or +inf, is NaN */
        const float a[9] = {-INFINITY, 0, 0, -INFINITY, 0, 0, 0, 0, 0};
        const float b[3] = {-INFINITY, -INFINITY, -INFINITY}, c[9] = {1, 2, NAN, 3, 4, 5, 6, 7, 8};
        const float e[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, INFINITY};
        float r[10];
        sy_softmax_rows(SY_F32, r, a, 1, 9, 0);
        CHECK(r[0] == 0 && r[3] == 0 && fabsf(r[1] - 1.0f / 7) < 1e-7f);
        sy_softmax_rows(SY_F32, r, b, 1, 3, 0);
        CHECK(isnan(r[0]) && isnan(r[2]));
        sy_softmax_rows(SY_F32, r, c, 1, 9, 0);
        CHECK(isnan(r[0]) && isnan(r[8]));
        sy_softmax_rows(SY_F32, r, e, 1, 10, 0);
        CHECK(isnan(r[9]));
        sy_softmax_rows(SY_F32, r, (const float[3]){-1000, 0, 1000}, 1, 3, 0);
        CHECK(r[0] == 0 && r[1] == 0 && r[2] == 1);
    }
}

/* ------------------------------------------------------------ attention */

/* out = softmax(q k^T / sqrt(E)) v for every (b, h), naively in double. */
static void naive_attention(double *out, const sy_tensor *q, const sy_tensor *k,
                            const sy_tensor *v) {
    const int64_t BH = q->size[0] * q->size[1], L = q->size[2], E = q->size[3];
    int64_t bh, i, j, e;
    for (bh = 0; bh < BH; bh++)
        for (i = 0; i < L; i++) {
            double s[128], m = -INFINITY, z = 0;
            for (j = 0; j < L; j++) {
                s[j] = 0;
                for (e = 0; e < E; e++) s[j] += at(q, (bh * L + i) * E + e) * at(k, (bh * L + j) * E + e);
                s[j] /= sqrt((double)E);
                m = fmax(m, s[j]);
            }
            for (j = 0; j < L; j++) z += s[j] = exp(s[j] - m);
            for (e = 0; e < E; e++) {
                double o = 0;
                for (j = 0; j < L; j++) o += s[j] / z * at(v, (bh * L + j) * E + e);
                out[(bh * L + i) * E + e] = o;
            }
        }
}

/* Small products (L 15, E 16: the SIMD kernel) and big ones (L 70 > 64:
** BLAS): the forward against the naive reference; forward and backward on
** 3 threads bitwise equal to one thread (each (b, h) is one task's). */
static void test_attention(void) {
    const int64_t Ls[2] = {15, 70}, Es[2] = {16, 12};
    static double ref[4 * 2 * 70 * 16];
    int c, t, i, ok_ref = 1, ok_threads = 1;
    for (c = 0; c < 2; c++) {
        const int64_t B = 4, H = 2, L = Ls[c], E = Es[c];
        sy_tensor *q = rand_tensor(SY_F32, 4, SHAPE(B, H, L, E));
        sy_tensor *k = rand_tensor(SY_F32, 4, SHAPE(B, H, L, E));
        sy_tensor *v = rand_tensor(SY_F32, 4, SHAPE(B, H, L, E));
        sy_tensor *dout = rand_tensor(SY_F32, 4, SHAPE(B, H, L, E));
        sy_tensor *r[2][5];
        for (t = 0; t < 2; t++) {
            sy_set_num_threads(t ? 3 : 1);
            r[t][0] = empty(SY_F32, 4, SHAPE(B, H, L, E));
            r[t][1] = empty(SY_F32, 4, SHAPE(B, H, L, L));
            for (i = 2; i < 5; i++) r[t][i] = empty(SY_F32, 4, SHAPE(B, H, L, E));
            CHECK_OK(sy_attention_forward(r[t][0], r[t][1], q, k, v, NULL, NULL, 1));
            CHECK_OK(sy_attention_backward(r[t][2], r[t][3], r[t][4], dout, NULL, q, k, v, r[t][1],
                                           NULL, 1));
        }
        sy_set_num_threads(1);
        naive_attention(ref, q, k, v);
        for (i = 0; i < B * H * L * E; i++) ok_ref = ok_ref && fabs(at(r[0][0], i) - ref[i]) < 1e-5;
        for (i = 0; i < 5; i++) ok_threads = ok_threads && same_bits(r[0][i], r[1][i]);
        for (t = 0; t < 2; t++) release_all(r[t], 5);
        sy_tensor_release(q);
        sy_tensor_release(k);
        sy_tensor_release(v);
        sy_tensor_release(dout);
    }
    CHECK(ok_ref);
    CHECK(ok_threads);
}

/* ---------------------------------------------------------------- linear */

/* Big enough for the products and the bias sums to be split: 3 threads run
** to run bitwise equal, and equal to one thread within rounding (BLAS may
** sum the 960 terms of dw in another order for a block of rows). */
static void test_linear_threads(void) {
    const int64_t N = 960, in = 64, out = 256;
    sy_tensor *x = rand_tensor(SY_F32, 2, SHAPE(N, in)), *w = rand_tensor(SY_F32, 2, SHAPE(out, in));
    sy_tensor *b = rand_tensor(SY_F32, 1, SHAPE(out)), *dy = rand_tensor(SY_F32, 2, SHAPE(N, out));
    sy_tensor *r[3][4];
    int t, i, ok_same = 1, ok_close = 1;
    for (t = 0; t < 3; t++) {
        sy_set_num_threads(t ? 3 : 1);
        r[t][0] = empty(SY_F32, 2, SHAPE(N, out));
        r[t][1] = empty(SY_F32, 2, SHAPE(N, in));
        r[t][2] = empty(SY_F32, 2, SHAPE(out, in));
        r[t][3] = empty(SY_F32, 1, SHAPE(out));
        sy_linear_forward(r[t][0], x, w, b, N, in, out);
        sy_linear_backward(r[t][1], r[t][2], r[t][3], dy, x, w, N, in, out);
    }
    sy_set_num_threads(1);
    for (i = 0; i < 4; i++) {
        ok_same = ok_same && same_bits(r[1][i], r[2][i]);
        ok_close = ok_close && rel_diff(r[1][i], r[0][i]) <= 1e-4;
    }
    CHECK(same_bits(r[0][3], r[1][3]));   /* column sums: the same order on any split */
    CHECK(ok_same);
    CHECK(ok_close);
    for (t = 0; t < 3; t++) release_all(r[t], 4);
    sy_tensor_release(x);
    sy_tensor_release(w);
    sy_tensor_release(b);
    sy_tensor_release(dy);
}

/* ------------------------------------------------------------ layer norm */

/* Float rows (D a multiple of 4 and not) against a naive double reference,
** forward and every gradient; 3 threads bitwise equal to one (rows are one
** task's, dw and db sum over rows in order on any split). */
static void test_layer_norm(void) {
    const int64_t Ds[2] = {64, 37};
    int c, t, i, ok_ref = 1, ok_threads = 1;
    for (c = 0; c < 2; c++) {
        const int64_t N = 900, D = Ds[c];
        sy_tensor *x = rand_tensor(SY_F32, 2, SHAPE(N, D)), *dy = rand_tensor(SY_F32, 2, SHAPE(N, D));
        sy_tensor *w = rand_tensor(SY_F32, 1, SHAPE(D)), *b = rand_tensor(SY_F32, 1, SHAPE(D));
        sy_tensor *r[2][6];
        int64_t n, j;
        for (t = 0; t < 2; t++) {
            sy_set_num_threads(t ? 3 : 1);
            r[t][0] = empty(SY_F32, 2, SHAPE(N, D));
            r[t][1] = empty(SY_F32, 1, SHAPE(N));
            r[t][2] = empty(SY_F32, 1, SHAPE(N));
            r[t][3] = empty(SY_F32, 2, SHAPE(N, D));
            r[t][4] = empty(SY_F32, 1, SHAPE(D));
            r[t][5] = empty(SY_F32, 1, SHAPE(D));
            sy_layer_norm_forward(r[t][0], r[t][1], r[t][2], x, w, b, N, D, 1e-5);
            sy_layer_norm_backward(r[t][3], r[t][4], r[t][5], dy, x, r[t][1], r[t][2], w, N, D);
        }
        sy_set_num_threads(1);
        for (i = 0; i < 6; i++) ok_threads = ok_threads && same_bits(r[0][i], r[1][i]);
        for (n = 0; n < N; n++) {   /* y and dx of row n in double */
            double m = 0, v = 0, rs, sg = 0, sgx = 0;
            for (j = 0; j < D; j++) m += at(x, n * D + j) / (double)D;
            for (j = 0; j < D; j++) v += (at(x, n * D + j) - m) * (at(x, n * D + j) - m) / (double)D;
            rs = 1 / sqrt(v + 1e-5);
            for (j = 0; j < D; j++) {
                const double xh = (at(x, n * D + j) - m) * rs, g = at(dy, n * D + j) * at(w, j);
                ok_ref = ok_ref && fabs(at(r[0][0], n * D + j) - (xh * at(w, j) + at(b, j))) < 1e-5;
                sg += g;
                sgx += g * xh;
            }
            for (j = 0; j < D; j++) {
                const double xh = (at(x, n * D + j) - m) * rs, g = at(dy, n * D + j) * at(w, j);
                ok_ref = ok_ref &&
                         fabs(at(r[0][3], n * D + j) - rs * (g - sg / D - xh * sgx / D)) < 1e-4;
            }
        }
        for (j = 0; j < D; j++) {   /* dw, db */
            double sw = 0, sb = 0;
            for (n = 0; n < N; n++) {
                sw += at(dy, n * D + j) * (at(x, n * D + j) - at(r[0][1], n)) * at(r[0][2], n);
                sb += at(dy, n * D + j);
            }
            ok_ref = ok_ref && fabs(at(r[0][4], j) - sw) < 1e-3 && fabs(at(r[0][5], j) - sb) < 1e-3;
        }
        for (t = 0; t < 2; t++) release_all(r[t], 6);
        sy_tensor_release(x);
        sy_tensor_release(dy);
        sy_tensor_release(w);
        sy_tensor_release(b);
    }
    CHECK(ok_ref);
    CHECK(ok_threads);
}

/* ----------------------------------------------------------- elementwise */

/* Every elementwise op over [1000, 257] float32 (above the split threshold,
** so parts cut rows mid-way) at 2 and 3 threads equals one thread bit for
** bit: binary ops contiguous, broadcast (bias) and with a 0-d operand, a
** comparison, a transposed (strided) input, float64, unary ops through libm,
** clamp, where, ReLU's and GELU's kernels; and an in-place add whose second
** operand is the output shifted by one element, which must not be split. */
#define EW_RESULTS 17
static void ew_results(sy_tensor **r, sy_tensor *a, sy_tensor *b, sy_tensor *bias,
                       sy_tensor *a64, const sy_tensor *shift0) {
    const int64_t N = a->size[0], D = a->size[1], n = N * D;
    sy_tensor *two = NULL, *zero = NULL, *aT = NULL, *cond = NULL, *buf = NULL, *dst = NULL,
              *src = NULL;
    int i = 0;
    CHECK_OK(sy_scalar(&two, SY_F32, 2));
    CHECK_OK(sy_scalar(&zero, SY_F32, 0));
    CHECK_OK(sy_tensor_transpose(&aT, b, 0, 1));
    CHECK_OK(sy_binary(&r[i++], SY_OP_ADD, a, b));
    CHECK_OK(sy_binary(&r[i++], SY_OP_ADD, a, bias));
    CHECK_OK(sy_binary(&r[i++], SY_OP_DIV, a, two));
    CHECK_OK(sy_binary(&cond, SY_OP_GT, a, zero));
    CHECK_OK(sy_tensor_to_dtype(&r[i++], cond, SY_F32));
    CHECK_OK(sy_unary(&r[i++], SY_OP_NEG, aT));   /* b^T: strided rows */
    CHECK_OK(sy_binary(&r[i++], SY_OP_MUL, a64, a64));
    CHECK_OK(sy_unary(&r[i++], SY_OP_EXP, a));
    CHECK_OK(sy_unary(&r[i++], SY_OP_TANH, a));
    CHECK_OK(sy_unary(&r[i++], SY_OP_RELU, a));
    CHECK_OK(sy_clamp(&r[i++], a, -0.5, 0.25));
    CHECK_OK(sy_where(&r[i++], cond, a, b));
    r[i] = empty(SY_F32, 2, SHAPE(N, D));
    sy_relu_backward(r[i++], b, a, n);
    r[i] = empty(SY_F32, 2, SHAPE(N, D));
    sy_gelu_forward(r[i++], a, n, SY_GELU_NONE);
    r[i] = empty(SY_F32, 2, SHAPE(N, D));
    sy_gelu_forward(r[i++], a, n, SY_GELU_TANH);
    r[i] = empty(SY_F32, 2, SHAPE(N, D));
    sy_gelu_backward(r[i++], b, a, n, SY_GELU_NONE);
    r[i] = empty(SY_F32, 2, SHAPE(N, D));
    sy_gelu_backward(r[i++], b, a, n, SY_GELU_TANH);
    /* buf[0:n] += buf[1:n+1] in place */
    CHECK_OK(sy_tensor_clone(&buf, shift0));
    CHECK_OK(sy_tensor_narrow(&dst, buf, 0, 0, n));
    CHECK_OK(sy_tensor_narrow(&src, buf, 0, 1, n));
    CHECK_OK(sy_binary_out(dst, SY_OP_ADD, dst, src));
    r[i++] = buf;
    CHECK(i == EW_RESULTS);
    sy_tensor_release(two);
    sy_tensor_release(zero);
    sy_tensor_release(aT);
    sy_tensor_release(cond);
    sy_tensor_release(dst);
    sy_tensor_release(src);
}

static void test_elementwise_threads(void) {
    const int64_t N = 1000, D = 257;
    sy_tensor *a = rand_scaled(SY_F32, 2, SHAPE(N, D), 3), *b = rand_tensor(SY_F32, 2, SHAPE(N, D));
    sy_tensor *bias = rand_tensor(SY_F32, 1, SHAPE(D)), *a64 = rand_tensor(SY_F64, 2, SHAPE(N, D));
    sy_tensor *shift0 = rand_tensor(SY_F32, 1, SHAPE(N * D + 1)), *r[3][EW_RESULTS];
    int t, i, ok = 1;
    for (t = 0; t < 3; t++) {
        sy_set_num_threads(t + 1);
        ew_results(r[t], a, b, bias, a64, shift0);
    }
    sy_set_num_threads(1);
    for (t = 1; t < 3; t++)
        for (i = 0; i < EW_RESULTS; i++) ok = ok && same_bits(r[t][i], r[0][i]);
    CHECK(ok);
    /* spot checks that the results are the ops' */
    CHECK(at(r[0][0], 12345) == (float)(at(a, 12345) + at(b, 12345)));
    CHECK(at(r[0][1], 3 * D + 7) == (float)(at(a, 3 * D + 7) + at(bias, 7)));
    CHECK(at(r[0][4], 999) == -at(b, 999 * D));   /* b^T[0][999] */
    CHECK(at(r[0][16], 500) == (float)(at(shift0, 500) + at(shift0, 501)));
    for (t = 0; t < 3; t++) release_all(r[t], EW_RESULTS);
    sy_tensor_release(a);
    sy_tensor_release(b);
    sy_tensor_release(bias);
    sy_tensor_release(a64);
    sy_tensor_release(shift0);
}

/* ----------------------------------------------------------------- Adam */

/* Three Adam steps on a float32 parameter big enough to be split over the
** pool (odd length: partial vectors and parts), with and without a mask, on
** 1 and 2 threads: every path equals a scalar loop with torch.optim.Adam's
** operations bit for bit, pruned entries exactly +0. */
static void test_adam_threads(void) {
    const int64_t n = 40007;
    const sy_adam_options o = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    int masked, threads, step, ok_ref = 1, ok_zero = 1;
    for (masked = 0; masked < 2; masked++) {
        sy_tensor *p0 = rand_tensor(SY_F32, 1, SHAPE(n)), *mask = NULL;
        float *ref = malloc(sizeof(float) * (size_t)(3 * n)), *rm = ref + n, *rv = ref + 2 * n;
        int64_t i;
        CHECK(ref != NULL);
        if (!ref) return;
        if (masked) {
            CHECK_OK(sy_tensor_new(&mask, SY_U8, 1, SHAPE(n)));
            for (i = 0; i < n; i++) ((uint8_t *)sy_tensor_data(mask))[i] = uniform() > -0.4;
        }
        for (threads = 1; threads <= 2; threads++) {
            sy_tensor *p = NULL;
            sy_optim_state st = {0};
            CHECK_OK(sy_tensor_clone(&p, p0));
            p->grad = rand_tensor(SY_F32, 1, SHAPE(n));
            memcpy(ref, sy_tensor_data(p0), sizeof(float) * (size_t)n);
            memset(rm, 0, sizeof(float) * (size_t)(2 * n));
            sy_set_num_threads(threads);
            for (step = 1; step <= 3; step++) {
                const float *g = sy_tensor_data(p->grad);
                const double bc2 = sqrt(1.0 - pow(o.beta2, step));
                const float neg = (float)(-o.lr / (1.0 - pow(o.beta1, step)));
                const float b1 = (float)o.beta1, omb1 = (float)(1.0 - o.beta1);
                const float b2 = (float)o.beta2, omb2 = (float)(1.0 - o.beta2);
                CHECK_OK(sy_adam_step(&p, &st, masked ? &mask : NULL, 1, &o));
                for (i = 0; i < n; i++) {
                    const float mi = SY_MADD_float(g[i], omb1, rm[i] * b1);
                    const float vi = SY_MADD_float(omb2 * g[i], g[i], rv[i] * b2);
                    rm[i] = mi;
                    rv[i] = vi;
                    ref[i] = ref[i] + neg * mi / (sqrtf(vi) / (float)bc2 + (float)o.eps);
                    if (masked && !((uint8_t *)sy_tensor_data(mask))[i]) ref[i] = 0;
                }
            }
            sy_set_num_threads(1);
            ok_ref = ok_ref && memcmp(sy_tensor_data(p), ref, sizeof(float) * (size_t)n) == 0 &&
                     memcmp(sy_tensor_data(st.exp_avg), rm, sizeof(float) * (size_t)n) == 0 &&
                     memcmp(sy_tensor_data(st.exp_avg_sq), rv, sizeof(float) * (size_t)n) == 0;
            for (i = 0; masked && i < n; i++)
                if (!((uint8_t *)sy_tensor_data(mask))[i])
                    ok_zero = ok_zero && signbit(((float *)sy_tensor_data(p))[i]) == 0 &&
                              ((float *)sy_tensor_data(p))[i] == 0;
            sy_optim_state_clear(&st);
            sy_tensor_release(p->grad);
            p->grad = NULL;
            sy_tensor_release(p);
        }
        free(ref);
        sy_tensor_release(mask);
        sy_tensor_release(p0);
    }
    CHECK(ok_ref);
    CHECK(ok_zero);
}

int main(void) {
    test_split();
    test_pool();
    test_gemm();
    test_gemm_bias();
    test_recurrent_threads();
    test_softmax_rows();
    test_attention();
    test_linear_threads();
    test_layer_norm();
    test_elementwise_threads();
    test_adam_threads();
    return check_summary("parallel");
}
