/*
** test_recurrent.c -- the recurrent kernels and their differentiable front
** ends: the vectorised float activations against libm, a one-step LSTM
** against a hand computation (forward and every gradient), all three layers
** against a naive step-by-step reference in double (float32 and float64,
** with and without biases and initial states), backward with only some
** gradients requested, argument errors with their messages, and allocation
** failures in forward and backward.
*/
#include <float.h>
#include <math.h>
#include <string.h>

#include "autograd/autograd.h"
#include "autograd/recurrent_grad.h"
#include "check.h"
#include "core/alloc.h"
#include "core/tensor.h"
#include "ops/recurrent.h"

enum { RNN, LSTM, GRU };
static const int n_gates[] = {1, 4, 3};

/* ------------------------------------------------------------- helpers */

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static double uniform(void) {   /* in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / (double)(1ull << 52) - 1.0;
}

#define SHAPE(...) ((const int64_t[]){__VA_ARGS__})

/* A float64 tensor holding v (or random values when v is NULL). */
static sy_tensor *tensor_of(int nd, const int64_t *size, const double *v) {
    sy_tensor *t = NULL;
    int64_t i, n;
    if (sy_tensor_empty(&t, SY_F64, nd, size)) return NULL;
    n = sy_tensor_numel(t);
    for (i = 0; i < n; i++) ((double *)sy_tensor_data(t))[i] = v ? v[i] : uniform();
    return t;
}

static sy_tensor *as_dtype(sy_tensor *t, sy_dtype dt) {
    sy_tensor *r = NULL;
    if (!t) return NULL;
    CHECK_OK(sy_tensor_to_dtype(&r, t, dt));
    return r;
}

static double at(const sy_tensor *t, int64_t i) {
    return sy_value_load((const char *)sy_tensor_data(t) + i * sy_dtype_size(t->dtype), t->dtype);
}

static double max_diff(const sy_tensor *a, const sy_tensor *b) {
    double worst = 0;
    int64_t i, n = sy_tensor_numel(a);
    if (!sy_tensor_same_shape(a, b)) return INFINITY;
    for (i = 0; i < n; i++) worst = fmax(worst, fabs(at(a, i) - at(b, i)));
    return worst;
}

static double sigmoid(double v) { return 1 / (1 + exp(-v)); }

/* ------------------------------------------------------ activations */

/* Distance from ref in units of the float spacing at ref. */
static double ulps(float y, double ref) {
    float r = (float)fabs(ref);
    double spacing = r == 0 ? FLT_TRUE_MIN : nextafterf(r, INFINITY) - r;
    return fabs(y - ref) / spacing;
}

/* The vectorised float sigmoid and tanh against libm in double, over
** [-30, 30] densely, tiny arguments (tanh x ~ x must stay relatively
** accurate), lengths that leave a partial vector, and the special values. */
static void test_activations(void) {
    enum { N = 1 << 18 };
    static float x[N], ys[N], yt[N];
    const float special[7] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 100.0f, -100.0f};
    float s_out[7], t_out[7];
    double worst_s = 0, worst_t = 0, worst_tiny = 0, tail = 0;
    int i, n;
    for (i = 0; i < N; i++) x[i] = ((float)i / N - 0.5f) * 60;
    sy_sigmoid_f32(ys, x, N);
    sy_tanh_f32(yt, x, N);
    for (i = 0; i < N; i++) {
        double s = 1 / (1 + exp(-(double)x[i]));
        if (x[i] > -87) worst_s = fmax(worst_s, ulps(ys[i], s));
        else tail = fmax(tail, fabs(ys[i] - s));
        worst_t = fmax(worst_t, ulps(yt[i], tanh((double)x[i])));
    }
    for (i = 0; i < N; i++) x[i] = ldexpf(1.0f + (float)i / N, -(i % 120)) * (i % 2 ? 1 : -1);
    sy_tanh_f32(yt, x, N);
    for (i = 0; i < N; i++) worst_tiny = fmax(worst_tiny, ulps(yt[i], tanh((double)x[i])));
    CHECK(worst_s <= 3);
    CHECK(worst_t <= 3);
    CHECK(worst_tiny <= 3);
    CHECK(tail <= 1e-38);
    printf("activations: sigmoid %.2f ulp, tanh %.2f ulp (%.2f near 0)\n", worst_s, worst_t,
           worst_tiny);
    for (n = 1; n <= 7; n++) {   /* in place, with a partial last vector */
        float buf[7] = {-3, -1, -0.25f, 0, 0.5f, 2, 4};
        sy_sigmoid_f32(buf, buf, n);
        for (i = 0; i < 7; i++) {
            const float v[7] = {-3, -1, -0.25f, 0, 0.5f, 2, 4};
            CHECK(i < n ? ulps(buf[i], 1 / (1 + exp(-(double)v[i]))) <= 3 : buf[i] == v[i]);
        }
    }
    sy_sigmoid_f32(s_out, special, 7);
    sy_tanh_f32(t_out, special, 7);
    CHECK(s_out[0] == 0.5f && s_out[1] == 0.5f && s_out[2] == 1 && s_out[3] < 1e-38f);
    CHECK(isnan(s_out[4]) && s_out[5] == 1 && s_out[6] < 1e-38f);
    CHECK(t_out[0] == 0 && !signbit(t_out[0]) && t_out[1] == 0 && signbit(t_out[1]));
    CHECK(t_out[2] == 1 && t_out[3] == -1 && isnan(t_out[4]) && t_out[5] == 1 && t_out[6] == -1);
}

/* ------------------------------------------- one-step LSTM by hand */

/* B = D = H = T = 1: every quantity is a scalar, so the forward and the
** gradients of L = h_n + 2 c_n can be written out from the formulas. */
static void test_lstm_one_step(void) {
    const double x = 0.5, h0 = 0.3, c0 = -0.2;
    const double wi[4] = {0.1, -0.4, 0.7, 0.2}, wh[4] = {0.3, 0.5, -0.6, 0.8};
    const double bi[4] = {0.05, 0.4, -0.1, 0.0}, bh[4] = {-0.2, 0.1, 0.3, -0.3};
    double pre[4], i, f, g, o, c, h, dh, dc, dpre[4], dx = 0, dh0 = 0;
    sy_tensor *tx = tensor_of(3, SHAPE(1, 1, 1), &x), *th0 = tensor_of(2, SHAPE(1, 1), &h0);
    sy_tensor *tc0 = tensor_of(2, SHAPE(1, 1), &c0), *twi = tensor_of(2, SHAPE(4, 1), wi);
    sy_tensor *twh = tensor_of(2, SHAPE(4, 1), wh), *tbi = tensor_of(1, SHAPE(4), bi);
    sy_tensor *tbh = tensor_of(1, SHAPE(4), bh), *out = NULL, *hn = NULL, *cn = NULL;
    sy_tensor *seed_h = tensor_of(2, SHAPE(1, 1), (const double[]){1.0});
    sy_tensor *seed_c = tensor_of(2, SHAPE(1, 1), (const double[]){2.0});
    sy_tensor *leaves[7] = {tx, th0, tc0, twi, twh, tbi, tbh};
    int k;
    for (k = 0; k < 4; k++) pre[k] = wi[k] * x + bi[k] + wh[k] * h0 + bh[k];
    i = sigmoid(pre[0]);
    f = sigmoid(pre[1]);
    g = tanh(pre[2]);
    o = sigmoid(pre[3]);
    c = f * c0 + i * g;
    h = o * tanh(c);
    dh = 1;
    dc = 2 + dh * o * (1 - tanh(c) * tanh(c));
    dpre[0] = dc * g * i * (1 - i);
    dpre[1] = dc * c0 * f * (1 - f);
    dpre[2] = dc * i * (1 - g * g);
    dpre[3] = dh * tanh(c) * o * (1 - o);
    for (k = 0; k < 4; k++) {
        dx += dpre[k] * wi[k];
        dh0 += dpre[k] * wh[k];
    }

    for (k = 0; k < 7; k++) leaves[k]->requires_grad = 1;
    CHECK_OK(sy_ag_lstm(&out, &hn, &cn, tx, th0, tc0, twi, twh, tbi, tbh));
    if (!out) return;
    CHECK_NEAR(at(out, 0), h, 1e-15);
    CHECK_NEAR(at(hn, 0), h, 1e-15);
    CHECK_NEAR(at(cn, 0), c, 1e-15);
    CHECK_OK(sy_backward(hn, seed_h, 1));
    CHECK_OK(sy_backward(cn, seed_c, 0));
    CHECK_NEAR(at(tx->grad, 0), dx, 1e-15);
    CHECK_NEAR(at(th0->grad, 0), dh0, 1e-15);
    CHECK_NEAR(at(tc0->grad, 0), dc * f, 1e-15);
    for (k = 0; k < 4; k++) {
        CHECK_NEAR(at(twi->grad, k), dpre[k] * x, 1e-15);
        CHECK_NEAR(at(twh->grad, k), dpre[k] * h0, 1e-15);
        CHECK_NEAR(at(tbi->grad, k), dpre[k], 1e-15);
        CHECK_NEAR(at(tbh->grad, k), dpre[k], 1e-15);
    }
    for (k = 0; k < 7; k++) sy_tensor_release(leaves[k]);
    sy_tensor_release(out);
    sy_tensor_release(hn);
    sy_tensor_release(cn);
    sy_tensor_release(seed_h);
    sy_tensor_release(seed_c);
}

/* ------------------------------------------------ naive reference */

/* Step by step in double, straight from the formulas (NULL bias or state = 0). */
static void ref_forward(int kind, double *out, double *hn, double *cn, sy_tensor *const *a,
                        int64_t B, int64_t T, int64_t D, int64_t H) {
    const int64_t G = n_gates[kind] * H;
    const sy_tensor *x = a[0], *h0 = a[1], *c0 = a[2], *wih = a[3], *whh = a[4], *bih = a[5],
                    *bhh = a[6];
    double h[16], c[16], hnew[16], gi[64], gh[64];
    int64_t b, t, j, k, d;
    for (b = 0; b < B; b++) {
        for (j = 0; j < H; j++) {
            h[j] = h0 ? at(h0, b * H + j) : 0;
            c[j] = c0 ? at(c0, b * H + j) : 0;
        }
        for (t = 0; t < T; t++) {
            for (k = 0; k < G; k++) {
                gi[k] = bih ? at(bih, k) : 0;
                gh[k] = bhh ? at(bhh, k) : 0;
                for (d = 0; d < D; d++) gi[k] += at(wih, k * D + d) * at(x, (b * T + t) * D + d);
                for (j = 0; j < H; j++) gh[k] += at(whh, k * H + j) * h[j];
            }
            for (j = 0; j < H; j++) {
                if (kind == RNN) {
                    hnew[j] = tanh(gi[j] + gh[j]);
                } else if (kind == LSTM) {
                    double i = sigmoid(gi[j] + gh[j]), f = sigmoid(gi[H + j] + gh[H + j]);
                    double g = tanh(gi[2 * H + j] + gh[2 * H + j]);
                    double o = sigmoid(gi[3 * H + j] + gh[3 * H + j]);
                    c[j] = f * c[j] + i * g;
                    hnew[j] = o * tanh(c[j]);
                } else {
                    double r = sigmoid(gi[j] + gh[j]), z = sigmoid(gi[H + j] + gh[H + j]);
                    double n = tanh(gi[2 * H + j] + r * gh[2 * H + j]);
                    hnew[j] = (1 - z) * n + z * h[j];
                }
            }
            for (j = 0; j < H; j++) out[(b * T + t) * H + j] = h[j] = hnew[j];
        }
        for (j = 0; j < H; j++) {
            hn[b * H + j] = h[j];
            if (cn) cn[b * H + j] = c[j];
        }
    }
}

static sy_status run_layer(int kind, sy_tensor **o, sy_tensor *const *a) {
    switch (kind) {
    case RNN: return sy_ag_rnn_tanh(&o[0], &o[1], a[0], a[1], a[3], a[4], a[5], a[6]);
    case LSTM: return sy_ag_lstm(&o[0], &o[1], &o[2], a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
    default: return sy_ag_gru(&o[0], &o[1], a[0], a[1], a[3], a[4], a[5], a[6]);
    }
}

/* Arguments x, h0, c0, w_ih, w_hh, b_ih, b_hh (float64, random); biases and
** states only when asked for. */
static void make_args(sy_tensor **a, int kind, int64_t B, int64_t T, int64_t D, int64_t H,
                      int with_bias, int with_state) {
    const int64_t G = n_gates[kind] * H;
    a[0] = tensor_of(3, SHAPE(B, T, D), NULL);
    a[1] = with_state ? tensor_of(2, SHAPE(B, H), NULL) : NULL;
    a[2] = with_state && kind == LSTM ? tensor_of(2, SHAPE(B, H), NULL) : NULL;
    a[3] = tensor_of(2, SHAPE(G, D), NULL);
    a[4] = tensor_of(2, SHAPE(G, H), NULL);
    a[5] = with_bias ? tensor_of(1, SHAPE(G), NULL) : NULL;
    a[6] = with_bias ? tensor_of(1, SHAPE(G), NULL) : NULL;
}

static void release_all(sy_tensor **t, int n) {
    int k;
    for (k = 0; k < n; k++) {
        sy_tensor_release(t[k]);
        t[k] = NULL;
    }
}

static void test_against_reference(void) {
    const int64_t B = 3, T = 4, D = 5, H = 7;
    int kind, variant, k;
    for (kind = RNN; kind <= GRU; kind++) {
        for (variant = 0; variant < 3; variant++) {
            sy_tensor *a[7], *a32[7], *o[3] = {0}, *o32[3] = {0}, *want[3] = {0};
            double out[3 * 4 * 7], hn[3 * 7], cn[3 * 7];
            int n_out = kind == LSTM ? 3 : 2;
            make_args(a, kind, B, T, D, H, variant != 1, variant != 2);
            ref_forward(kind, out, hn, kind == LSTM ? cn : NULL, a, B, T, D, H);
            want[0] = tensor_of(3, SHAPE(B, T, H), out);
            want[1] = tensor_of(2, SHAPE(B, H), hn);
            if (kind == LSTM) want[2] = tensor_of(2, SHAPE(B, H), cn);
            for (k = 0; k < 7; k++) a32[k] = as_dtype(a[k], SY_F32);
            CHECK_OK(run_layer(kind, o, a));
            CHECK_OK(run_layer(kind, o32, a32));
            for (k = 0; k < n_out; k++) {
                CHECK(o[k] && o[k]->dtype == SY_F64 && o32[k] && o32[k]->dtype == SY_F32);
                if (!o[k] || !o32[k]) continue;
                CHECK(max_diff(o[k], want[k]) < 1e-13);
                CHECK(max_diff(o32[k], want[k]) < 1e-5);
                CHECK(o[k]->grad_fn == NULL);   /* nothing required grad */
            }
            release_all(a, 7);
            release_all(a32, 7);
            release_all(o, 3);
            release_all(o32, 3);
            release_all(want, 3);
        }
    }
}

/* ----------------------------------- backward with some gradients only */

/* Each gradient output is computed the same way whether or not the others
** are requested, and the missing incoming gradients count as zeros. */
static void test_partial_backward(void) {
    const int64_t B = 2, T = 3, D = 3, H = 4, W = sy_lstm_cache_width(4);
    sy_tensor *a[7], *o[3] = {0}, *cache = NULL, *full[7] = {0}, *part = NULL, *zeros = NULL;
    sy_tensor *dout, *dhn;
    make_args(a, LSTM, B, T, D, H, 1, 1);
    CHECK_OK(sy_tensor_empty(&o[0], SY_F64, 3, SHAPE(B, T, H)));
    CHECK_OK(sy_tensor_empty(&o[1], SY_F64, 2, SHAPE(B, H)));
    CHECK_OK(sy_tensor_empty(&o[2], SY_F64, 2, SHAPE(B, H)));
    CHECK_OK(sy_tensor_empty(&cache, SY_F64, 3, SHAPE(B, T, W)));
    if (!cache) return;
    sy_lstm_forward(o[0], o[1], o[2], cache, a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
    dout = tensor_of(3, SHAPE(B, T, H), NULL);
    dhn = tensor_of(2, SHAPE(B, H), NULL);
    CHECK_OK(sy_tensor_new(&zeros, SY_F64, 2, SHAPE(B, H)));
    {
        int k;
        for (k = 0; k < 7; k++) CHECK_OK(sy_tensor_empty(&full[k], SY_F64, a[k]->ndim, a[k]->size));
    }
    /* full[]: dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh with dc_n absent */
    CHECK_OK(sy_lstm_backward(full[0], full[1], full[2], full[3], full[4], full[5], full[6], dout,
                              dhn, NULL, cache, a[0], a[2], a[3], a[4]));
    CHECK_OK(sy_tensor_empty(&part, SY_F64, 2, a[4]->size));
    CHECK_OK(sy_lstm_backward(NULL, NULL, NULL, NULL, part, NULL, NULL, dout, dhn, zeros, cache, a[0],
                              a[2], a[3], a[4]));
    CHECK(max_diff(part, full[4]) == 0);
    sy_tensor_release(part);
    part = NULL;
    CHECK_OK(sy_tensor_empty(&part, SY_F64, 2, a[1]->size));
    CHECK_OK(sy_lstm_backward(NULL, part, NULL, NULL, NULL, NULL, NULL, dout, dhn, NULL, cache, a[0],
                              a[2], a[3], a[4]));
    CHECK(max_diff(part, full[1]) == 0);
    /* the two bias gradients of the LSTM are the same sums */
    CHECK(max_diff(full[5], full[6]) == 0);
    release_all(a, 7);
    release_all(o, 3);
    release_all(full, 7);
    sy_tensor_release(cache);
    sy_tensor_release(part);
    sy_tensor_release(zeros);
    sy_tensor_release(dout);
    sy_tensor_release(dhn);
}

/* --------------------------------------------------------------- errors */

static void expect_error(sy_status got, sy_status want, const char *fragment, int line) {
    if (got == want && strstr(sy_error_message(), fragment)) {
        check_passed++;
        return;
    }
    check_failed++;
    fprintf(stderr, "%s:%d: status %d (want %d), message \"%s\" (want \"%s\")\n", __FILE__, line,
            (int)got, (int)want, sy_error_message(), fragment);
}
#define EXPECT_ERROR(call, status, fragment) expect_error((call), (status), (fragment), __LINE__)

static void test_errors(void) {
    sy_tensor *x = tensor_of(3, SHAPE(2, 3, 5), NULL), *wih = tensor_of(2, SHAPE(16, 5), NULL);
    sy_tensor *whh = tensor_of(2, SHAPE(16, 4), NULL), *bad = tensor_of(2, SHAPE(2, 3), NULL);
    sy_tensor *x32 = as_dtype(x, SY_F32), *h0 = tensor_of(3, SHAPE(1, 2, 4), NULL);
    sy_tensor *out = bad, *hn = bad, *cn = bad;
    EXPECT_ERROR(sy_ag_lstm(&out, &hn, &cn, bad, NULL, NULL, wih, whh, NULL, NULL), SY_ERR_SHAPE,
                 "lstm: x must be 3-d [batch, seq_len, features], got shape [2,3]");
    CHECK(out == NULL && hn == NULL && cn == NULL);
    EXPECT_ERROR(sy_ag_gru(&out, &hn, x, NULL, wih, whh, NULL, NULL), SY_ERR_SHAPE,
                 "gru: w_hh has shape [16,4]; expected [3*hidden, hidden] (row blocks r, z, n)");
    CHECK(out == NULL && hn == NULL);
    EXPECT_ERROR(sy_ag_lstm(&out, &hn, &cn, x, NULL, NULL, bad, whh, NULL, NULL), SY_ERR_SHAPE,
                 "lstm: w_ih has shape [2,3]; expected [4*hidden, features] = [16, 5]");
    EXPECT_ERROR(sy_ag_lstm(&out, &hn, &cn, x32, NULL, NULL, wih, whh, NULL, NULL), SY_ERR_DTYPE,
                 "lstm: w_ih is float64 but x is float32");
    EXPECT_ERROR(sy_ag_lstm(&out, &hn, &cn, x, h0, NULL, wih, whh, NULL, NULL), SY_ERR_SHAPE,
                 "lstm: h0 has shape [1,2,4]; expected [batch, hidden] = [2, 4]");
    EXPECT_ERROR(sy_ag_rnn_tanh(&out, &hn, x, NULL, NULL, whh, NULL, NULL), SY_ERR_ARG,
                 "rnn_tanh: x, w_ih and w_hh are required");
    sy_tensor_release(x);
    sy_tensor_release(wih);
    sy_tensor_release(whh);
    sy_tensor_release(bad);
    sy_tensor_release(x32);
    sy_tensor_release(h0);
}

/* ---------------------------------------------------- out of memory */

/* A failed allocation anywhere in a forward with graph recording or in its
** backward is a status, never a leak or a crash. */
static void test_out_of_memory(void) {
    int64_t before = sy_mem_in_use(), n;
    int kind, ok = 1, fwd_fails = 0, bwd_fails = 0;
    for (kind = RNN; kind <= GRU; kind++) {
        for (n = 1; n <= 40; n++) {
            sy_tensor *a[7], *o[3] = {0};
            sy_status st;
            int k;
            make_args(a, kind, 2, 3, 3, 4, 1, 1);
            for (k = 0; k < 7; k++)
                if (a[k]) a[k]->requires_grad = 1;
            sy_mem_fail_after(n);
            st = run_layer(kind, o, a);
            ok = ok && (st == SY_OK || st == SY_ERR_OOM);
            fwd_fails += st == SY_ERR_OOM;
            if (st == SY_OK) {
                st = sy_backward(o[1], o[1], 0);   /* h_n itself as the incoming gradient */
                ok = ok && (st == SY_OK || st == SY_ERR_OOM);
                bwd_fails += st == SY_ERR_OOM;
            } else {
                ok = ok && o[0] == NULL && o[1] == NULL && o[2] == NULL;
            }
            sy_mem_fail_after(0);
            release_all(o, 3);
            release_all(a, 7);
        }
    }
    CHECK(ok);
    CHECK(fwd_fails > 0);
    CHECK(bwd_fails > 0);
    CHECK(sy_mem_in_use() == before);
}

int main(void) {
    test_activations();
    test_lstm_one_step();
    test_against_reference();
    test_partial_backward();
    test_errors();
    test_out_of_memory();
    return check_summary("recurrent");
}
