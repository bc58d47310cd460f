/*
** test_optim.c -- the optimizer kernels on steps computed by hand: SGD
** (plain, momentum with dampening and weight decay, Nesterov), Adam (L2
** decay, AMSGrad), AdamW, in float64 and float32; masks re-applied in the
** same pass; parameters without gradients skipped; non-contiguous gradients
** and masks; validation before any write; allocation failures; and
** gradient-norm clipping for the 1-, 2-, p- and inf-norms.
*/
#include <math.h>
#include <string.h>

#include "autograd/autograd.h"
#include "check.h"
#include "core/alloc.h"
#include "core/tensor.h"
#include "optim/optim.h"

/* ----------------------------------------------------------------- helpers */

static sy_tensor *vec(sy_dtype dt, int64_t n, const double *v) {
    sy_tensor *t;
    int64_t i;
    if (sy_tensor_empty(&t, dt, 1, &n) != SY_OK) return NULL;
    for (i = 0; i < n; i++) sy_tensor_set(t, &i, v[i]);
    return t;
}

/* Element i of a contiguous tensor in row-major order. */
static double at(const sy_tensor *t, int64_t i) {
    return sy_value_load((const char *)sy_tensor_data(t) + i * sy_dtype_size(t->dtype), t->dtype);
}

/* Gives p a fresh gradient with the values g. */
static void set_grad(sy_tensor *p, const double *g) {
    sy_tensor_release(p->grad);
    p->grad = vec(p->dtype, sy_tensor_numel(p), g);
}

static void release_param(sy_tensor *p) {
    sy_tensor_release(p->grad);
    p->grad = NULL;
    sy_tensor_release(p);
}

static const sy_sgd_options sgd_plain = {0.1, 0, 0, 0, 0};

/* -------------------------------------------------------------------- SGD */

static void test_sgd_plain(void) {
    static const double p0[2] = {1, 2}, g[2] = {0.5, -1};
    sy_tensor *p = vec(SY_F64, 2, p0);
    sy_optim_state s = {0};
    set_grad(p, g);
    CHECK_OK(sy_sgd_step(&p, &s, NULL, 1, &sgd_plain));
    CHECK_NEAR(at(p, 0), 0.95, 1e-15);
    CHECK_NEAR(at(p, 1), 2.1, 1e-15);
    CHECK(s.momentum_buffer == NULL);   /* no momentum, no buffer */
    CHECK(s.step == 1);
    sy_optim_state_clear(&s);
    release_param(p);
}

/* momentum 0.9, dampening 0.5, weight decay 0.1, lr 0.1, p = 1, g = 2:
**   step 1: d = 2 + 0.1 * 1 = 2.1, buf = d = 2.1 (no dampening on the first
**           step), p = 1 - 0.21 = 0.79
**   step 2: d = 2 + 0.079 = 2.079, buf = 0.9 * 2.1 + 0.5 * 2.079 = 2.9295,
**           p = 0.79 - 0.29295 = 0.49705 */
static void test_sgd_momentum(sy_dtype dt, double tol) {
    static const double p0[1] = {1}, g[1] = {2};
    const sy_sgd_options o = {0.1, 0.9, 0.5, 0.1, 0};
    sy_tensor *p = vec(dt, 1, p0);
    sy_optim_state s = {0};
    set_grad(p, g);
    CHECK_OK(sy_sgd_step(&p, &s, NULL, 1, &o));
    CHECK_NEAR(at(p, 0), 0.79, tol);
    CHECK(s.momentum_buffer != NULL);
    if (s.momentum_buffer) CHECK_NEAR(at(s.momentum_buffer, 0), 2.1, tol);
    CHECK_OK(sy_sgd_step(&p, &s, NULL, 1, &o));
    if (s.momentum_buffer) CHECK_NEAR(at(s.momentum_buffer, 0), 2.9295, tol);
    CHECK_NEAR(at(p, 0), 0.49705, tol);
    sy_optim_state_clear(&s);
    CHECK(s.momentum_buffer == NULL && s.step == 0);
    release_param(p);
}

/* Nesterov, momentum 0.9, lr 0.1, p = 1, g = 1:
**   step 1: buf = 1, d = 1 + 0.9 = 1.9, p = 0.81
**   step 2: buf = 1.9, d = 1 + 1.71 = 2.71, p = 0.539 */
static void test_sgd_nesterov(void) {
    static const double p0[1] = {1}, g[1] = {1};
    const sy_sgd_options o = {0.1, 0.9, 0, 0, 1};
    sy_tensor *p = vec(SY_F64, 1, p0);
    sy_optim_state s = {0};
    set_grad(p, g);
    CHECK_OK(sy_sgd_step(&p, &s, NULL, 1, &o));
    CHECK_NEAR(at(p, 0), 0.81, 1e-15);
    CHECK_OK(sy_sgd_step(&p, &s, NULL, 1, &o));
    CHECK_NEAR(at(p, 0), 0.539, 1e-15);
    sy_optim_state_clear(&s);
    release_param(p);
}

/* ------------------------------------------------------------------- Adam */

/* Reference Adam for one scalar, written out from torch.optim.Adam's docs. */
struct ref_adam {
    double p, m, v, vmax;
    int t;
};

static void ref_adam_step(struct ref_adam *r, double g, const sy_adam_options *o) {
    double bc1, bc2, v;
    r->t++;
    if (o->decoupled) r->p *= 1 - o->lr * o->weight_decay;
    else g += o->weight_decay * r->p;
    r->m = o->beta1 * r->m + (1 - o->beta1) * g;
    r->v = o->beta2 * r->v + (1 - o->beta2) * g * g;
    if (r->v > r->vmax) r->vmax = r->v;
    v = o->amsgrad ? r->vmax : r->v;
    bc1 = 1 - pow(o->beta1, r->t);
    bc2 = 1 - pow(o->beta2, r->t);
    r->p -= o->lr / bc1 * r->m / (sqrt(v) / sqrt(bc2) + o->eps);
}

/* The first Adam step moves each weight by lr * sign(g) (up to eps):
** m = 0.1 g, v = 0.001 g^2, so m / bc1 = g and sqrt(v / bc2) = |g|. */
static void test_adam_first_step(void) {
    static const double p0[3] = {1, -2, 0.5}, g[3] = {0.5, -3, 1e-3};
    const sy_adam_options o = {0.01, 0.9, 0.999, 1e-8, 0, 0, 0};
    sy_tensor *p = vec(SY_F64, 3, p0);
    sy_optim_state s = {0};
    int k;
    set_grad(p, g);
    CHECK_OK(sy_adam_step(&p, &s, NULL, 1, &o));
    for (k = 0; k < 3; k++)
        CHECK_NEAR(at(p, k), p0[k] - 0.01 * (g[k] > 0 ? 1 : -1) * fabs(g[k]) / (fabs(g[k]) + 1e-8),
                   1e-15);
    CHECK(s.step == 1);
    CHECK(s.exp_avg && s.exp_avg_sq && !s.max_exp_avg_sq);
    if (s.exp_avg) CHECK_NEAR(at(s.exp_avg, 1), -0.3, 1e-15);
    if (s.exp_avg_sq) CHECK_NEAR(at(s.exp_avg_sq, 1), 0.009, 1e-15);
    sy_optim_state_clear(&s);
    release_param(p);
}

/* Several steps with changing gradients against the reference, for Adam with
** L2 decay, AMSGrad, and AdamW, in both dtypes. The gradient sequence makes
** v shrink (large then small gradients), so AMSGrad's max matters. */
static void test_adam_trajectory(sy_dtype dt, double tol, int decoupled, int amsgrad) {
    static const double p0[2] = {0.7, -1.3};
    static const double gs[6][2] = {{2, -1}, {1.5, 0.5}, {0.1, -0.2}, {-0.05, 0.01},
                                    {0.3, 0.02}, {-1, 4}};
    const sy_adam_options o = {0.05, 0.8, 0.95, 1e-6, 0.1, amsgrad, decoupled};
    sy_tensor *p = vec(dt, 2, p0);
    sy_optim_state s = {0};
    struct ref_adam r[2] = {{0.7, 0, 0, 0, 0}, {-1.3, 0, 0, 0, 0}};
    int step, k;
    for (step = 0; step < 6; step++) {
        set_grad(p, gs[step]);
        CHECK_OK(sy_adam_step(&p, &s, NULL, 1, &o));
        for (k = 0; k < 2; k++) {
            ref_adam_step(&r[k], gs[step][k], &o);
            CHECK_NEAR(at(p, k), r[k].p, tol);
            if (s.exp_avg_sq) CHECK_NEAR(at(s.exp_avg_sq, k), r[k].v, tol);
            if (amsgrad && s.max_exp_avg_sq) CHECK_NEAR(at(s.max_exp_avg_sq, k), r[k].vmax, tol);
        }
    }
    CHECK(s.step == 6);
    CHECK((s.max_exp_avg_sq != NULL) == (amsgrad != 0));
    /* the gradients shrank after step 2, so the max lags behind v */
    if (amsgrad && s.max_exp_avg_sq && s.exp_avg_sq)
        CHECK(at(s.max_exp_avg_sq, 0) > at(s.exp_avg_sq, 0));
    sy_optim_state_clear(&s);
    release_param(p);
}

/* AdamW decays the weight itself: with g = 0 and wd = 0.1, lr = 0.5 the
** moments stay 0 and p just shrinks by (1 - 0.05) per step; Adam's L2 decay
** goes through the moments instead. */
static void test_adamw_decoupled(void) {
    static const double p0[1] = {2}, g[1] = {0};
    sy_adam_options o = {0.5, 0.9, 0.999, 1e-8, 0.1, 0, 1};
    sy_tensor *p = vec(SY_F64, 1, p0);
    sy_optim_state s = {0};
    set_grad(p, g);
    CHECK_OK(sy_adam_step(&p, &s, NULL, 1, &o));
    CHECK_OK(sy_adam_step(&p, &s, NULL, 1, &o));
    CHECK_NEAR(at(p, 0), 2 * 0.95 * 0.95, 1e-15);
    if (s.exp_avg) CHECK(at(s.exp_avg, 0) == 0);
    sy_optim_state_clear(&s);
    o.decoupled = 0;   /* Adam: g = 0.2, so the first step is lr * sign */
    sy_tensor_fill_(p, 2);
    CHECK_OK(sy_adam_step(&p, &s, NULL, 1, &o));
    CHECK_NEAR(at(p, 0), 2 - 0.5 * 0.2 / (0.2 + 1e-8), 1e-14);
    sy_optim_state_clear(&s);
    release_param(p);
}

/* ---------------------------------------------------------------- masks */

/* A masked weight stays exactly 0 for 100 Adam steps with non-zero
** gradients; the others move. uint8 and bool masks, both optimizers. */
static void test_masks(void) {
    static const double p0[4] = {1, 2, 3, 4}, g[4] = {0.3, -0.7, 0.2, 1.1}, keep[4] = {1, 0, 1, 0};
    const sy_adam_options o = {0.01, 0.9, 0.999, 1e-8, 0.01, 0, 1};
    const sy_sgd_options so = {0.1, 0.9, 0, 0, 1};
    sy_tensor *p = vec(SY_F32, 4, p0), *mask = vec(SY_U8, 4, keep), *bmask = vec(SY_BOOL, 4, keep);
    sy_optim_state s = {0};
    int step, zero_ok = 1;
    set_grad(p, g);
    for (step = 0; step < 100; step++) {
        CHECK_OK(sy_adam_step(&p, &s, &mask, 1, &o));
        if (at(p, 1) != 0 || at(p, 3) != 0) zero_ok = 0;
    }
    CHECK(zero_ok);
    CHECK(!signbit(at(p, 1)));
    CHECK(at(p, 0) < 1 - 0.5 && at(p, 2) < 3 - 0.5);   /* ~lr per step */
    sy_optim_state_clear(&s);
    sy_tensor_fill_(p, 1);
    CHECK_OK(sy_sgd_step(&p, &s, &bmask, 1, &so));
    CHECK(at(p, 1) == 0 && at(p, 3) == 0);
    CHECK_NEAR(at(p, 0), 1 - 0.1 * 0.3 * 1.9, 1e-6);
    sy_optim_state_clear(&s);
    sy_tensor_release(mask);
    sy_tensor_release(bmask);
    release_param(p);
}

/* ----------------------------------------------------- lists and layouts */

/* A parameter without a gradient is skipped: value, state and step count. */
static void test_skip_without_grad(void) {
    static const double a0[2] = {1, 2}, b0[1] = {5}, g[2] = {1, 1};
    const sy_adam_options o = {0.1, 0.9, 0.999, 1e-8, 0, 0, 0};
    sy_tensor *ps[2];
    sy_optim_state s[2] = {{0}, {0}};
    ps[0] = vec(SY_F32, 2, a0);
    ps[1] = vec(SY_F32, 1, b0);
    set_grad(ps[0], g);
    CHECK_OK(sy_adam_step(ps, s, NULL, 2, &o));
    CHECK(at(ps[1], 0) == 5);
    CHECK(s[1].step == 0 && s[1].exp_avg == NULL);
    CHECK(s[0].step == 1);
    CHECK_NEAR(at(ps[0], 0), 0.9, 1e-6);
    sy_optim_state_clear(&s[0]);
    release_param(ps[0]);
    release_param(ps[1]);
}

/* A transposed gradient and a sliced mask give the same result as
** contiguous ones. */
static void test_noncontiguous_inputs(void) {
    static const double p0[6] = {1, 2, 3, 4, 5, 6}, gt[6] = {1, 4, 2, 5, 3, 6};
    static const double m0[12] = {1, 0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 0};
    const int64_t size[2] = {2, 3}, tsize[2] = {3, 2}, msize[2] = {2, 6};
    sy_tensor *p, *g, *gv, *m, *mv, *ms;
    sy_optim_state s = {0};
    sy_tensor_empty(&p, SY_F64, 2, size);
    sy_tensor_empty(&g, SY_F64, 2, tsize);
    sy_tensor_empty(&m, SY_U8, 2, msize);
    memcpy(sy_tensor_data(p), p0, sizeof p0);
    memcpy(sy_tensor_data(g), gt, sizeof gt);
    {
        int64_t i;
        uint8_t *md = sy_tensor_data(m);
        for (i = 0; i < 12; i++) md[i] = (uint8_t)m0[i];
    }
    CHECK_OK(sy_tensor_transpose(&gv, g, 0, 1));   /* [[1,2,3],[4,5,6]], strided */
    CHECK_OK(sy_tensor_narrow(&ms, m, 1, 0, 3));   /* [[1,0,1],[1,0,1]], row stride 6 */
    mv = ms;
    p->grad = gv;
    CHECK(!sy_tensor_is_contiguous(gv) && !sy_tensor_is_contiguous(mv));
    CHECK_OK(sy_sgd_step(&p, &s, &mv, 1, &sgd_plain));
    CHECK_NEAR(at(p, 0), 1 - 0.1, 1e-15);
    CHECK(at(p, 1) == 0);
    CHECK_NEAR(at(p, 2), 3 - 0.3, 1e-15);
    CHECK_NEAR(at(p, 3), 4 - 0.4, 1e-15);
    CHECK(at(p, 4) == 0);
    CHECK_NEAR(at(p, 5), 6 - 0.6, 1e-15);
    sy_tensor_release(g);
    sy_tensor_release(m);
    sy_tensor_release(mv);
    release_param(p);
}

/* ------------------------------------------------------------- validation */

static void test_bad_options(void) {
    sy_sgd_options so = sgd_plain;
    sy_adam_options ao = {0.001, 0.9, 0.999, 1e-8, 0, 0, 0};
    so.lr = -1;
    CHECK_FAILS(sy_sgd_check_options(&so), SY_ERR_ARG);
    CHECK(strstr(sy_error_message(), "SGD: lr") != NULL);
    so.lr = NAN;
    CHECK_FAILS(sy_sgd_check_options(&so), SY_ERR_ARG);
    so = sgd_plain;
    so.nesterov = 1;   /* without momentum */
    CHECK_FAILS(sy_sgd_check_options(&so), SY_ERR_ARG);
    CHECK(strstr(sy_error_message(), "nesterov") != NULL);
    so.momentum = 0.9;
    so.dampening = 0.1;
    CHECK_FAILS(sy_sgd_check_options(&so), SY_ERR_ARG);
    so = sgd_plain;
    so.weight_decay = -0.1;
    CHECK_FAILS(sy_sgd_check_options(&so), SY_ERR_ARG);
    CHECK_OK(sy_adam_check_options(&ao));
    ao.beta1 = 1;
    CHECK_FAILS(sy_adam_check_options(&ao), SY_ERR_ARG);
    CHECK(strstr(sy_error_message(), "Adam: beta1") != NULL);
    ao.beta1 = 0.9;
    ao.beta2 = -0.1;
    CHECK_FAILS(sy_adam_check_options(&ao), SY_ERR_ARG);
    ao.beta2 = 0.999;
    ao.eps = -1;
    CHECK_FAILS(sy_adam_check_options(&ao), SY_ERR_ARG);
    ao.eps = 1e-8;
    ao.decoupled = 1;
    ao.weight_decay = -1;
    CHECK_FAILS(sy_adam_check_options(&ao), SY_ERR_ARG);
    CHECK(strstr(sy_error_message(), "AdamW: weight_decay") != NULL);
}

/* A bad second parameter fails the step before the first is touched. */
static void test_validation_before_write(void) {
    static const double a0[2] = {1, 2}, g[3] = {1, 1, 1};
    const sy_adam_options o = {0.1, 0.9, 0.999, 1e-8, 0, 0, 0};
    const int64_t two = 2, six[2] = {2, 3};
    sy_tensor *ps[2], *masks[2] = {NULL, NULL}, *fmask, *ip, *tp, *base;
    sy_optim_state s[2] = {{0}, {0}};
    ps[0] = vec(SY_F32, 2, a0);
    ps[1] = vec(SY_F32, 2, a0);
    set_grad(ps[0], g);
    ps[1]->grad = vec(SY_F32, 3, g);
    CHECK_FAILS(sy_adam_step(ps, s, NULL, 2, &o), SY_ERR_SHAPE);
    CHECK(strstr(sy_error_message(), "parameter 1: its gradient has shape [3], the parameter [2]"));
    CHECK(at(ps[0], 0) == 1 && s[0].step == 0 && s[0].exp_avg == NULL);
    sy_tensor_release(ps[1]->grad);
    ps[1]->grad = vec(SY_F64, 2, g);   /* wrong dtype */
    CHECK_FAILS(sy_adam_step(ps, s, NULL, 2, &o), SY_ERR_DTYPE);
    set_grad(ps[1], g);
    fmask = vec(SY_F32, 2, g);
    masks[1] = fmask;
    CHECK_FAILS(sy_sgd_step(ps, s, masks, 2, &sgd_plain), SY_ERR_DTYPE);
    CHECK(strstr(sy_error_message(), "masks are uint8 or bool") != NULL);
    CHECK(at(ps[0], 0) == 1);
    /* state of the wrong shape (e.g. a bad checkpoint) */
    sy_tensor_new(&s[1].exp_avg, SY_F32, 2, six);
    CHECK_FAILS(sy_adam_step(ps, s, NULL, 2, &o), SY_ERR_SHAPE);
    CHECK(strstr(sy_error_message(), "its state 'exp_avg' has shape [2,3]") != NULL);
    sy_optim_state_clear(&s[1]);
    /* integer and non-contiguous parameters */
    sy_tensor_new(&ip, SY_I64, 1, &two);
    CHECK_FAILS(sy_sgd_step(&ip, s, NULL, 1, &sgd_plain), SY_ERR_DTYPE);
    sy_tensor_new(&base, SY_F32, 2, six);
    sy_tensor_transpose(&tp, base, 0, 1);
    CHECK_FAILS(sy_sgd_step(&tp, s, NULL, 1, &sgd_plain), SY_ERR_ARG);
    CHECK(strstr(sy_error_message(), "is not contiguous") != NULL);
    CHECK_FAILS(sy_sgd_step(&tp, s, NULL, -1, &sgd_plain), SY_ERR_ARG);
    /* a computed tensor, not a leaf */
    {
        sy_tensor *leaf = vec(SY_F32, 2, a0), *computed = NULL;
        leaf->requires_grad = 1;
        CHECK_OK(sy_ag_unary(&computed, SY_OP_NEG, leaf));
        if (computed) {
            CHECK_FAILS(sy_sgd_step(&computed, s, NULL, 1, &sgd_plain), SY_ERR_ARG);
            CHECK(strstr(sy_error_message(), "not a leaf tensor (it was computed by NegBackward)"));
        }
        sy_tensor_release(computed);
        sy_tensor_release(leaf);
    }
    sy_tensor_release(ip);
    sy_tensor_release(tp);
    sy_tensor_release(base);
    sy_tensor_release(fmask);
    release_param(ps[0]);
    release_param(ps[1]);
}

/* An allocation failure while creating state fails cleanly: no leak, and
** the next step starts from a valid state. */
static void test_alloc_failure(void) {
    static const double p0[2] = {1, 2}, g[2] = {1, -1};
    const sy_adam_options o = {0.1, 0.9, 0.999, 1e-8, 0, 1, 0};
    const sy_sgd_options so = {0.1, 0.9, 0, 0, 0};
    sy_tensor *p = vec(SY_F64, 2, p0);
    sy_optim_state s = {0};
    int64_t before;
    int k;
    set_grad(p, g);
    before = sy_mem_in_use();
    for (k = 1; k <= 3; k++) {   /* fail the 1st, 2nd, 3rd state allocation */
        sy_mem_fail_after(k);
        CHECK_FAILS(sy_adam_step(&p, &s, NULL, 1, &o), SY_ERR_OOM);
        sy_mem_fail_after(0);
        CHECK(at(p, 0) == 1 && s.step == 0);
        sy_optim_state_clear(&s);
        CHECK(sy_mem_in_use() == before);
    }
    sy_mem_fail_after(1);
    CHECK_FAILS(sy_sgd_step(&p, &s, NULL, 1, &so), SY_ERR_OOM);
    sy_mem_fail_after(0);
    CHECK(s.momentum_buffer == NULL && at(p, 0) == 1);
    CHECK_OK(sy_sgd_step(&p, &s, NULL, 1, &so));
    CHECK_NEAR(at(p, 0), 0.9, 1e-15);
    sy_optim_state_clear(&s);
    CHECK(sy_mem_in_use() == before);
    release_param(p);
}

/* --------------------------------------------------------------- clipping */

/* Gradients [3, 4] and [12]: 2-norm 13, 1-norm 19, inf-norm 12. */
static void test_clip(void) {
    static const double a[2] = {3, 4}, b[1] = {12};
    sy_tensor *g[3];
    double total, coef;
    g[0] = vec(SY_F32, 2, a);
    g[1] = NULL;   /* a parameter without a gradient */
    g[2] = vec(SY_F64, 1, b);
    CHECK_OK(sy_clip_grad_norm(&total, g, 3, 100, 2));
    CHECK_NEAR(total, 13, 1e-12);
    CHECK(at(g[0], 0) == 3 && at(g[2], 0) == 12);   /* under the limit: untouched */
    CHECK_OK(sy_clip_grad_norm(&total, g, 3, 100, 1));
    CHECK_NEAR(total, 19, 1e-12);
    CHECK_OK(sy_clip_grad_norm(&total, g, 3, 100, INFINITY));
    CHECK_NEAR(total, 12, 0);
    CHECK_OK(sy_clip_grad_norm(&total, g, 3, 100, 3));
    CHECK_NEAR(total, cbrt(27.0 + 64 + 1728), 1e-12);
    CHECK_OK(sy_clip_grad_norm(&total, g, 3, 6.5, 2));
    CHECK_NEAR(total, 13, 1e-12);
    coef = 6.5 / (13 + 1e-6);
    CHECK_NEAR(at(g[0], 0), 3 * coef, 1e-6);
    CHECK_NEAR(at(g[0], 1), 4 * coef, 1e-6);
    CHECK_NEAR(at(g[2], 0), 12 * coef, 1e-12);
    CHECK_OK(sy_clip_grad_norm(&total, g, 3, 6.5, 2));   /* now just under 6.5 */
    CHECK_NEAR(total, 6.5, 1e-5);
    CHECK_OK(sy_clip_grad_norm(&total, g, 0, 1, 2));
    CHECK(total == 0);
    CHECK_FAILS(sy_clip_grad_norm(&total, g, 3, -1, 2), SY_ERR_ARG);
    CHECK_FAILS(sy_clip_grad_norm(&total, g, 3, 1, 0), SY_ERR_ARG);
    CHECK_FAILS(sy_clip_grad_norm(&total, g, 3, 1, NAN), SY_ERR_ARG);
    sy_tensor_release(g[0]);
    sy_tensor_release(g[2]);
}

/* A transposed gradient is read and scaled through its strides. */
static void test_clip_strided(void) {
    static const double v[6] = {1, 2, 3, 4, 5, 6};
    const int64_t size[2] = {2, 3};
    sy_tensor *base, *t;
    double total;
    sy_tensor_empty(&base, SY_F64, 2, size);
    memcpy(sy_tensor_data(base), v, sizeof v);
    sy_tensor_transpose(&t, base, 0, 1);
    CHECK_OK(sy_clip_grad_norm(&total, &t, 1, 1, 2));
    CHECK_NEAR(total, sqrt(91.0), 1e-12);
    CHECK_NEAR(at(base, 5), 6 / (sqrt(91.0) + 1e-6), 1e-12);
    sy_tensor_release(t);
    sy_tensor_release(base);
}

int main(void) {
    test_sgd_plain();
    test_sgd_momentum(SY_F64, 1e-15);
    test_sgd_momentum(SY_F32, 1e-6);
    test_sgd_nesterov();
    test_adam_first_step();
    test_adam_trajectory(SY_F64, 1e-13, 0, 0);
    test_adam_trajectory(SY_F64, 1e-13, 0, 1);
    test_adam_trajectory(SY_F64, 1e-13, 1, 0);
    test_adam_trajectory(SY_F64, 1e-13, 1, 1);
    test_adam_trajectory(SY_F32, 2e-6, 0, 1);
    test_adam_trajectory(SY_F32, 2e-6, 1, 0);
    test_adamw_decoupled();
    test_masks();
    test_skip_without_grad();
    test_noncontiguous_inputs();
    test_bad_options();
    test_validation_before_write();
    test_alloc_failure();
    test_clip();
    test_clip_strided();
    return check_summary("optim");
}
