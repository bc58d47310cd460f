/*
** test_prune.c -- the pruning core (src/prune): exact counts on hand-made
** tensors, ties inside and across tensors, each quirk of the reference code
** in compat mode (k - 1 pruned, nothing with ties, one change per target,
** fully pruned tensors leaving the denominator, k == 0 and k >= active doing
** nothing), global against layer scope, the radix selection against a naive
** sort on random sets (float32 and float64, duplicates, zeros, random
** masks, bool masks), NaN, argument errors and allocation failures leaving
** everything untouched, and mask apply/count.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/alloc.h"
#include "core/tensor.h"
#include "prune/prune.h"

/* ----------------------------------------------------------------- helpers */

static sy_tensor *vec(sy_dtype dt, int64_t n, const double *v) {
    sy_tensor *t;
    int64_t i;
    if (sy_tensor_empty(&t, dt, 1, &n) != SY_OK) return NULL;
    for (i = 0; i < n; i++) sy_tensor_set(t, &i, v ? v[i] : 1.0);
    return t;
}

static double at(const sy_tensor *t, int64_t i) {
    return sy_value_load((const char *)sy_tensor_data(t) + i * sy_dtype_size(t->dtype), t->dtype);
}

static int mask_at(const sy_tensor *m, int64_t i) { return ((const uint8_t *)sy_tensor_data(m))[i]; }

/* The mask as a string of 0/1, for compact checks. */
static const char *bits(const sy_tensor *m) {
    static char buf[256];
    int64_t i, n = sy_tensor_numel(m);
    for (i = 0; i < n && i < 255; i++) buf[i] = mask_at(m, i) ? '1' : '0';
    buf[i] = 0;
    return buf;
}

static sy_tensor *ones_mask(int64_t n) { return vec(SY_U8, n, NULL); }

static void release_all(sy_tensor **t, int n) {
    int i;
    for (i = 0; i < n; i++) sy_tensor_release(t[i]);
}

/* ------------------------------------------------------------ exact mode */

static void test_exact_counts(void) {
    static const double a[4] = {0.5, -0.1, 0.3, 0.2}, b[4] = {-0.4, 0.05, 0.6, -0.7};
    sy_tensor *w[2] = {vec(SY_F32, 4, a), vec(SY_F32, 4, b)};
    sy_tensor *m[2] = {ones_mask(4), ones_mask(4)};
    sy_prune_result r;
    CHECK_OK(sy_prune_update(&r, w, m, 2, 0.5, SY_PRUNE_EXACT, SY_PRUNE_GLOBAL, NULL));
    /* the 4 smallest of 8: 0.05, 0.1, 0.2, 0.3 */
    CHECK(r.total == 8 && r.active == 8 && r.k == 4 && r.pruned == 4);
    CHECK(strcmp(bits(m[0]), "1000") == 0);
    CHECK(strcmp(bits(m[1]), "1011") == 0);
    CHECK(at(w[0], 1) == 0 && at(w[0], 2) == 0 && at(w[0], 3) == 0 && at(w[1], 1) == 0);
    CHECK_NEAR(at(w[0], 0), 0.5, 1e-7);
    CHECK_NEAR(at(w[1], 3), -0.7, 1e-7);
    CHECK_NEAR(r.threshold, 0.3, 1e-7);   /* the 4th smallest magnitude */
    /* the same target again: nothing left to do */
    CHECK_OK(sy_prune_update(&r, w, m, 2, 0.5, SY_PRUNE_EXACT, SY_PRUNE_GLOBAL, NULL));
    CHECK(r.pruned == 0 && r.k == 0 && r.active == 4 && isnan(r.threshold));
    /* 0.8 of 8 = 6.4 -> 6: two more, 0.4 then 0.5 */
    CHECK_OK(sy_prune_update(&r, w, m, 2, 0.8, SY_PRUNE_EXACT, SY_PRUNE_GLOBAL, NULL));
    CHECK(r.pruned == 2 && r.k == 2);
    CHECK(strcmp(bits(m[0]), "0000") == 0);
    CHECK(strcmp(bits(m[1]), "0011") == 0);
    /* a lower target never revives a weight */
    CHECK_OK(sy_prune_update(&r, w, m, 2, 0.1, SY_PRUNE_EXACT, SY_PRUNE_GLOBAL, NULL));
    CHECK(r.pruned == 0 && strcmp(bits(m[1]), "0011") == 0);
    release_all(w, 2);
    release_all(m, 2);
}

/* Equal magnitudes across layers: taken in tensor order, then flat index. */
static void test_exact_ties(void) {
    static const double a[4] = {1, -1, 1, -1}, b[4] = {-1, 1, 1, 1};
    sy_tensor *w[2] = {vec(SY_F64, 4, a), vec(SY_F64, 4, b)};
    sy_tensor *m[2] = {ones_mask(4), ones_mask(4)};
    sy_prune_result r;
    CHECK_OK(sy_prune_update(&r, w, m, 2, 0.25, SY_PRUNE_EXACT, SY_PRUNE_GLOBAL, NULL));
    CHECK(r.pruned == 2);
    CHECK(strcmp(bits(m[0]), "0011") == 0 && strcmp(bits(m[1]), "1111") == 0);
    CHECK_OK(sy_prune_update(&r, w, m, 2, 0.75, SY_PRUNE_EXACT, SY_PRUNE_GLOBAL, NULL));
    CHECK(r.pruned == 4);
    CHECK(strcmp(bits(m[0]), "0000") == 0 && strcmp(bits(m[1]), "0011") == 0);
    CHECK(at(w[1], 2) == 1 && at(w[1], 1) == 0);
    release_all(w, 2);
    release_all(m, 2);
}

/* Smaller magnitudes go first even when tied values sit before them. */
static void test_exact_ties_after_smaller(void) {
    static const double a[5] = {2, 2, 1, 2, 3};
    sy_tensor *w = vec(SY_F32, 5, a), *m = ones_mask(5);
    sy_prune_result r;
    CHECK_OK(sy_prune_update(&r, &w, &m, 1, 0.4, SY_PRUNE_EXACT, SY_PRUNE_GLOBAL, NULL));
    CHECK(r.pruned == 2 && strcmp(bits(m), "01011") == 0);
    sy_tensor_release(w);
    sy_tensor_release(m);
}

static void test_exact_rejects_targets(void) {
    sy_tensor *w = vec(SY_F32, 3, NULL), *m = ones_mask(3);
    sy_prune_result r;
    CHECK_FAILS(sy_prune_update(&r, &w, &m, 1, 1.0, SY_PRUNE_EXACT, SY_PRUNE_GLOBAL, NULL), SY_ERR_ARG);
    CHECK(strstr(sy_error_message(), "outside [0, 1)") != NULL);
    CHECK_FAILS(sy_prune_update(&r, &w, &m, 1, -0.1, SY_PRUNE_EXACT, SY_PRUNE_GLOBAL, NULL), SY_ERR_ARG);
    CHECK_FAILS(sy_prune_update(&r, &w, &m, 1, NAN, SY_PRUNE_EXACT, SY_PRUNE_GLOBAL, NULL), SY_ERR_ARG);
    CHECK_FAILS(sy_prune_update(&r, &w, &m, 1, NAN, SY_PRUNE_COMPAT, SY_PRUNE_GLOBAL, NULL), SY_ERR_ARG);
    CHECK(strcmp(bits(m), "111") == 0);
    sy_tensor_release(w);
    sy_tensor_release(m);
}

/* ----------------------------------------------------------- compat mode */

/* kthvalue then strict <: k - 1 weights, and a second event at the same
** target finds k = 1 and prunes nothing. */
static void test_compat_k_minus_one(void) {
    static const double a[10] = {0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4, 0.5, 1.0};
    sy_tensor *w = vec(SY_F32, 10, a), *m = ones_mask(10);
    sy_prune_result r;
    CHECK_OK(sy_prune_update(&r, &w, &m, 1, 0.5, SY_PRUNE_COMPAT, SY_PRUNE_GLOBAL, NULL));
    CHECK(r.k == 5 && r.pruned == 4);
    CHECK_NEAR(r.threshold, 0.5, 1e-7);
    CHECK(strcmp(bits(m), "1010101011") == 0);
    CHECK_OK(sy_prune_update(&r, &w, &m, 1, 0.5, SY_PRUNE_COMPAT, SY_PRUNE_GLOBAL, NULL));
    CHECK(r.k == 1 && r.pruned == 0);
    CHECK_NEAR(r.threshold, 0.5, 1e-7);
    /* exact mode on the same weights prunes all 5 */
    {
        sy_tensor *w2 = vec(SY_F32, 10, a), *m2 = ones_mask(10);
        CHECK_OK(sy_prune_update(&r, &w2, &m2, 1, 0.5, SY_PRUNE_EXACT, SY_PRUNE_GLOBAL, NULL));
        CHECK(r.pruned == 5 && strcmp(bits(m2), "1010101001") == 0);
        sy_tensor_release(w2);
        sy_tensor_release(m2);
    }
    sy_tensor_release(w);
    sy_tensor_release(m);
}

/* With every magnitude equal the threshold is that magnitude and nothing
** lies strictly below it. */
static void test_compat_ties_prune_nothing(void) {
    static const double a[4] = {0.25, -0.25, 0.25, -0.25}, b[4] = {0.25, 0.25, -0.25, 2};
    sy_tensor *w[2] = {vec(SY_F32, 4, a), vec(SY_F32, 4, b)};
    sy_tensor *m[2] = {ones_mask(4), ones_mask(4)};
    sy_prune_result r;
    CHECK_OK(sy_prune_update(&r, w, m, 2, 0.5, SY_PRUNE_COMPAT, SY_PRUNE_GLOBAL, NULL));
    CHECK(r.k == 4 && r.pruned == 0);
    CHECK(strcmp(bits(m[0]), "1111") == 0 && strcmp(bits(m[1]), "1111") == 0);
    release_all(w, 2);
    release_all(m, 2);
}

/* A tensor that becomes fully pruned leaves N_total, so the real sparsity
** overshoots the target: 0.7 reached for a target of 0.6. */
static void test_compat_denominator_overshoot(void) {
    static const double a[5] = {0.01, 0.02, 0.03, 0.04, 0.05}, b[5] = {1, 2, 3, 4, 5};
    sy_tensor *w[2] = {vec(SY_F32, 5, a), vec(SY_F32, 5, b)};
    sy_tensor *m[2] = {ones_mask(5), ones_mask(5)};
    sy_prune_result r;
    CHECK_OK(sy_prune_update(&r, w, m, 2, 0.5, SY_PRUNE_COMPAT, SY_PRUNE_GLOBAL, NULL));
    CHECK(r.total == 10 && r.k == 5 && r.pruned == 4);
    CHECK_OK(sy_prune_update(&r, w, m, 2, 0.6, SY_PRUNE_COMPAT, SY_PRUNE_GLOBAL, NULL));
    CHECK(r.total == 10 && r.k == 2 && r.pruned == 1);
    CHECK(strcmp(bits(m[0]), "00000") == 0 && strcmp(bits(m[1]), "11111") == 0);
    /* the first tensor has left the denominator: N_total = 5, k = 3 */
    CHECK_OK(sy_prune_update(&r, w, m, 2, 0.6, SY_PRUNE_COMPAT, SY_PRUNE_GLOBAL, NULL));
    CHECK(r.total == 5 && r.active == 5 && r.k == 3 && r.pruned == 2);
    CHECK(strcmp(bits(m[1]), "00111") == 0);   /* 7 of 10 pruned */
    CHECK_OK(sy_prune_update(&r, w, m, 2, 0.6, SY_PRUNE_COMPAT, SY_PRUNE_GLOBAL, NULL));
    CHECK(r.k == 1 && r.pruned == 0);
    /* exact mode holds the target on the same weights: 6 of 10 */
    {
        sy_tensor *w2[2] = {vec(SY_F32, 5, a), vec(SY_F32, 5, b)};
        sy_tensor *m2[2] = {ones_mask(5), ones_mask(5)};
        int i;
        for (i = 0; i < 3; i++)
            CHECK_OK(sy_prune_update(&r, w2, m2, 2, 0.6, SY_PRUNE_EXACT, SY_PRUNE_GLOBAL, NULL));
        CHECK(r.total == 10 && strcmp(bits(m2[1]), "01111") == 0);
        release_all(w2, 2);
        release_all(m2, 2);
    }
    release_all(w, 2);
    release_all(m, 2);
}

/* k == 0 and k >= active do nothing: small targets, and targets >= 1. */
static void test_compat_no_op_cases(void) {
    static const double a[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    sy_tensor *w = vec(SY_F32, 10, a), *m = ones_mask(10);
    sy_prune_result r;
    CHECK_OK(sy_prune_update(&r, &w, &m, 1, 0.05, SY_PRUNE_COMPAT, SY_PRUNE_GLOBAL, NULL));
    CHECK(r.k == 0 && r.pruned == 0);                     /* floor(0.5) = 0 */
    CHECK_OK(sy_prune_update(&r, &w, &m, 1, 1.2, SY_PRUNE_COMPAT, SY_PRUNE_GLOBAL, NULL));
    CHECK(r.k == 0 && r.pruned == 0);                     /* k = 12 >= 10 */
    CHECK_OK(sy_prune_update(&r, &w, &m, 1, 1.0, SY_PRUNE_COMPAT, SY_PRUNE_GLOBAL, NULL));
    CHECK(r.k == 0 && r.pruned == 0);                     /* k = 10 = active */
    CHECK_OK(sy_prune_update(&r, &w, &m, 1, 1e300, SY_PRUNE_COMPAT, SY_PRUNE_GLOBAL, NULL));
    CHECK(r.k == 0 && r.pruned == 0);
    CHECK_OK(sy_prune_update(&r, &w, &m, 1, -0.5, SY_PRUNE_COMPAT, SY_PRUNE_GLOBAL, NULL));
    CHECK(r.k == 0 && r.pruned == 0);
    CHECK(strcmp(bits(m), "1111111111") == 0);
    CHECK_OK(sy_prune_update(&r, &w, &m, 1, 0.99, SY_PRUNE_COMPAT, SY_PRUNE_GLOBAL, NULL));
    CHECK(r.k == 9 && r.pruned == 8 && strcmp(bits(m), "0000000011") == 0);
    /* 2 active, 8 counted as pruned: floor(1.0 * 10) - 8 = 2 >= 2 */
    CHECK_OK(sy_prune_update(&r, &w, &m, 1, 1.0, SY_PRUNE_COMPAT, SY_PRUNE_GLOBAL, NULL));
    CHECK(r.k == 0 && r.pruned == 0);
    sy_tensor_release(w);
    sy_tensor_release(m);
}

/* ---------------------------------------------------------------- scope */

static void test_scope(void) {
    static const double small[4] = {0.1, 0.2, 0.3, 0.4}, big[4] = {10, 20, 30, 40};
    sy_prune_result r;
    int mode;
    for (mode = 0; mode < 2; mode++) {
        sy_tensor *w[2] = {vec(SY_F32, 4, small), vec(SY_F32, 4, big)};
        sy_tensor *m[2] = {ones_mask(4), ones_mask(4)};
        sy_tensor *wl[2] = {vec(SY_F32, 4, small), vec(SY_F32, 4, big)};
        sy_tensor *ml[2] = {ones_mask(4), ones_mask(4)};
        /* exact: global takes the whole small tensor, layer half of each;
        ** compat (k - 1): 3 of the small one, and 1 of each */
        CHECK_OK(sy_prune_update(&r, w, m, 2, 0.5, (sy_prune_mode)mode, SY_PRUNE_GLOBAL, NULL));
        CHECK_OK(sy_prune_update(&r, wl, ml, 2, 0.5, (sy_prune_mode)mode, SY_PRUNE_LAYER, NULL));
        CHECK(isnan(r.threshold) && r.total == 8);
        if (mode == SY_PRUNE_EXACT) {
            CHECK(strcmp(bits(m[0]), "0000") == 0 && strcmp(bits(m[1]), "1111") == 0);
            CHECK(strcmp(bits(ml[0]), "0011") == 0 && strcmp(bits(ml[1]), "0011") == 0);
            CHECK(r.k == 4 && r.pruned == 4);
        } else {
            CHECK(strcmp(bits(m[0]), "0001") == 0 && strcmp(bits(m[1]), "1111") == 0);
            CHECK(strcmp(bits(ml[0]), "0111") == 0 && strcmp(bits(ml[1]), "0111") == 0);
            CHECK(r.k == 4 && r.pruned == 2);
        }
        release_all(w, 2);
        release_all(m, 2);
        release_all(wl, 2);
        release_all(ml, 2);
    }
}

/* --------------------------------------------- against a naive reference */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t next_rand(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double uniform(void) { return (double)(next_rand() >> 11) / 9007199254740992.0; }

typedef struct ref_entry {
    double mag;
    int t;
    int64_t i;
} ref_entry;

static int ref_cmp(const void *pa, const void *pb) {
    const ref_entry *a = pa, *b = pb;
    if (a->mag != b->mag) return a->mag < b->mag ? -1 : 1;
    if (a->t != b->t) return a->t < b->t ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* The reference's rules written the slow way: sort every active magnitude. */
static void naive_update(uint8_t **masks, const double *const *w, const int64_t *len, int n,
                         double target, int compat) {
    int64_t count = 0, total = 0, active = 0, k, j, i;
    ref_entry *e;
    int t;
    for (t = 0; t < n; t++) {
        int64_t a = 0;
        for (i = 0; i < len[t]; i++) a += masks[t][i] != 0;
        active += a;
        if (!compat || a > 0) total += len[t];
        count += len[t];
    }
    k = (int64_t)floor(target * (double)total) - (total - active);
    if (k <= 0 || (compat && k >= active)) return;
    e = malloc((size_t)count * sizeof *e);
    j = 0;
    for (t = 0; t < n; t++)
        for (i = 0; i < len[t]; i++)
            if (masks[t][i]) e[j].mag = fabs(w[t][i]), e[j].t = t, e[j].i = i, j++;
    qsort(e, (size_t)active, sizeof *e, ref_cmp);
    if (compat) {
        double tau = e[k - 1].mag;
        for (j = 0; j < active && e[j].mag < tau; j++) masks[e[j].t][e[j].i] = 0;
    } else {
        for (j = 0; j < k; j++) masks[e[j].t][e[j].i] = 0;
    }
    free(e);
}

static void test_random_against_naive(void) {
    int trial, failures = 0;
    for (trial = 0; trial < 300; trial++) {
        sy_dtype dt = trial % 2 ? SY_F64 : SY_F32;
        int n = 1 + (int)(next_rand() % 4), t, ev, compat = (trial / 2) % 2, layer = (trial / 4) % 2;
        /* quantised values make many ties; some trials spread over binades */
        int levels = trial % 3 == 0 ? 7 : 0;
        sy_tensor *w[4], *m[4];
        double *ref_w[4];
        uint8_t *ref_m[4];
        int64_t len[4];
        for (t = 0; t < n; t++) {
            int64_t i, sz = (int64_t)(next_rand() % (trial % 5 == 0 ? 3000 : 60));
            len[t] = sz;
            w[t] = vec(dt, sz, NULL);
            m[t] = ones_mask(sz);
            ref_w[t] = malloc((size_t)(sz + 1) * sizeof(double));
            ref_m[t] = malloc((size_t)(sz + 1));
            for (i = 0; i < sz; i++) {
                double v = levels ? (double)(next_rand() % levels) * 0.125
                                  : (uniform() - 0.5) * pow(2.0, (double)(next_rand() % 40) - 20);
                if (next_rand() % 2) v = -v;
                ref_m[t][i] = next_rand() % 5 != 0;
                /* pruned earlier: zero, as an update leaves them */
                sy_tensor_set(w[t], &i, ref_m[t][i] ? v : 0.0);
                ref_w[t][i] = at(w[t], i);   /* rounded to the dtype */
                ((uint8_t *)sy_tensor_data(m[t]))[i] = ref_m[t][i];
            }
        }
        for (ev = 0; ev < 3; ev++) {
            double target = compat ? uniform() * 1.3 - 0.1 : uniform() * 0.999;
            sy_prune_result r;
            int64_t before = 0, after = 0, i;
            for (t = 0; t < n; t++)
                for (i = 0; i < len[t]; i++) before += ref_m[t][i] != 0;
            if (sy_prune_update(&r, w, m, n, target, compat ? SY_PRUNE_COMPAT : SY_PRUNE_EXACT,
                                layer ? SY_PRUNE_LAYER : SY_PRUNE_GLOBAL, NULL) != SY_OK) {
                failures++;
                continue;
            }
            if (layer)
                for (t = 0; t < n; t++)
                    naive_update(ref_m + t, (const double *const *)ref_w + t, len + t, 1, target, compat);
            else
                naive_update(ref_m, (const double *const *)ref_w, len, n, target, compat);
            for (t = 0; t < n; t++)
                for (i = 0; i < len[t]; i++) {
                    int want = ref_m[t][i] != 0;
                    after += want;
                    if (want != (mask_at(m[t], i) != 0) || (!want && at(w[t], i) != 0)) {
                        if (failures++ < 5)
                            fprintf(stderr, "trial %d event %d (%s, %s, %s, target %g): tensor %d index %lld\n",
                                    trial, ev, compat ? "compat" : "exact", layer ? "layer" : "global",
                                    sy_dtype_name(dt), target, t, (long long)i);
                    }
                }
            if (r.pruned != before - after) failures++;
        }
        for (t = 0; t < n; t++) {
            free(ref_w[t]);
            free(ref_m[t]);
        }
        release_all(w, n);
        release_all(m, n);
    }
    CHECK(failures == 0);
}

/* A large set whose magnitudes share the top bits: the narrowing levels. */
static void test_narrow_bucket(void) {
    int64_t n = 100000, i;
    sy_tensor *w = vec(SY_F32, n, NULL), *m = ones_mask(n);
    float *p = sy_tensor_data(w);
    sy_prune_result r;
    int64_t kept_small = 0;
    for (i = 0; i < n; i++) p[i] = 1.0f + (float)((i * 7919) % n) * 1e-7f;
    CHECK_OK(sy_prune_update(&r, &w, &m, 1, 0.3, SY_PRUNE_EXACT, SY_PRUNE_GLOBAL, NULL));
    CHECK(r.pruned == 30000);
    /* all survivors are at least as large as the threshold, all pruned were not larger */
    for (i = 0; i < n; i++) {
        float v = 1.0f + (float)((i * 7919) % n) * 1e-7f;
        if (mask_at(m, i)) kept_small += v < (float)r.threshold;
        else kept_small += v > (float)r.threshold;
    }
    CHECK(kept_small == 0);
    sy_tensor_release(w);
    sy_tensor_release(m);
}

/* -------------------------------------------------------------- failures */

static void test_nan(void) {
    static const double a[4] = {1, 2, 3, 4}, b[3] = {5, 6, 7};
    sy_tensor *w[2] = {vec(SY_F32, 4, a), vec(SY_F32, 3, b)};
    sy_tensor *m[2] = {ones_mask(4), ones_mask(3)};
    const char *names[2] = {"fc1.weight", "fc2.weight"};
    sy_prune_result r;
    int64_t idx = 1;
    int scope;
    sy_tensor_set(w[1], &idx, NAN);
    for (scope = 0; scope < 2; scope++) {
        CHECK_FAILS(sy_prune_update(&r, w, m, 2, 0.5, SY_PRUNE_EXACT, (sy_prune_scope)scope, names),
                    SY_ERR_ARG);
        CHECK(strstr(sy_error_message(), "'fc2.weight' holds NaN at flat index 1") != NULL);
        CHECK(strcmp(bits(m[0]), "1111") == 0 && at(w[0], 0) == 1);   /* nothing written */
    }
    /* a pruned NaN is not ranked */
    ((uint8_t *)sy_tensor_data(m[1]))[1] = 0;
    CHECK_OK(sy_prune_update(&r, w, m, 2, 0.5, SY_PRUNE_EXACT, SY_PRUNE_GLOBAL, names));
    CHECK(r.pruned == 2 && strcmp(bits(m[0]), "0011") == 0);
    release_all(w, 2);
    release_all(m, 2);
}

/* Inf is a magnitude like any other (the largest): it lands in the top
** bucket with the NaNs, so the exact check must let it through. */
static void test_inf(void) {
    static const double a[4] = {4, 1, 3, 2};
    sy_dtype dts[2] = {SY_F32, SY_F64};
    int d;
    for (d = 0; d < 2; d++) {
        sy_tensor *w = vec(dts[d], 4, a), *m = ones_mask(4);
        sy_prune_result r;
        int64_t idx = 0;
        sy_tensor_set(w, &idx, -INFINITY);
        CHECK_OK(sy_prune_update(&r, &w, &m, 1, 0.5, SY_PRUNE_EXACT, SY_PRUNE_GLOBAL, NULL));
        CHECK(r.pruned == 2 && strcmp(bits(m), "1010") == 0);
        CHECK_OK(sy_prune_update(&r, &w, &m, 1, 0.75, SY_PRUNE_EXACT, SY_PRUNE_LAYER, NULL));
        CHECK(strcmp(bits(m), "1000") == 0 && isinf(at(w, 0)));
        sy_tensor_release(w);
        sy_tensor_release(m);
    }
}

static void test_argument_errors(void) {
    sy_tensor *w32 = vec(SY_F32, 4, NULL), *w64 = vec(SY_F64, 4, NULL), *m4 = ones_mask(4);
    sy_tensor *m3 = ones_mask(3), *mf = vec(SY_F32, 4, NULL), *wi = vec(SY_I64, 4, NULL);
    sy_tensor *w[2], *m[2], *wt, *w2d;
    int64_t sz[2] = {2, 2};
    int perm[2] = {1, 0};
    sy_prune_result r;
    w[0] = w32, w[1] = w64, m[0] = m[1] = m4;
    CHECK_FAILS(sy_prune_update(&r, w, m, 2, 0.5, SY_PRUNE_EXACT, SY_PRUNE_GLOBAL, NULL), SY_ERR_DTYPE);
    CHECK(strstr(sy_error_message(), "one dtype") != NULL);
    CHECK_FAILS(sy_prune_update(&r, &w32, &m3, 1, 0.5, SY_PRUNE_EXACT, SY_PRUNE_GLOBAL, NULL), SY_ERR_SHAPE);
    CHECK(strstr(sy_error_message(), "mask has shape [3], the weight [4]") != NULL);
    CHECK_FAILS(sy_prune_update(&r, &w32, &mf, 1, 0.5, SY_PRUNE_EXACT, SY_PRUNE_GLOBAL, NULL), SY_ERR_DTYPE);
    CHECK_FAILS(sy_prune_update(&r, &wi, &m4, 1, 0.5, SY_PRUNE_EXACT, SY_PRUNE_GLOBAL, NULL), SY_ERR_DTYPE);
    CHECK_FAILS(sy_prune_update(&r, &w32, &m4, 0, 0.5, SY_PRUNE_EXACT, SY_PRUNE_GLOBAL, NULL), SY_ERR_ARG);
    CHECK_FAILS(sy_prune_update(&r, &w32, &m4, 1, 0.5, (sy_prune_mode)7, SY_PRUNE_GLOBAL, NULL), SY_ERR_ARG);
    CHECK_FAILS(sy_prune_update(&r, &w32, &m4, 1, 0.5, SY_PRUNE_EXACT, (sy_prune_scope)7, NULL), SY_ERR_ARG);
    CHECK_OK(sy_tensor_view(&w2d, w32, 2, sz));
    CHECK_OK(sy_tensor_permute(&wt, w2d, perm));
    {
        sy_tensor *mv;
        CHECK_OK(sy_tensor_view(&mv, m4, 2, sz));
        CHECK_FAILS(sy_prune_update(&r, &wt, &mv, 1, 0.5, SY_PRUNE_EXACT, SY_PRUNE_GLOBAL, NULL), SY_ERR_ARG);
        CHECK(strstr(sy_error_message(), "not contiguous") != NULL);
        sy_tensor_release(mv);
    }
    CHECK(strcmp(bits(m4), "1111") == 0);
    sy_tensor_release(w2d);
    sy_tensor_release(wt);
    sy_tensor_release(w32);
    sy_tensor_release(w64);
    sy_tensor_release(m4);
    sy_tensor_release(m3);
    sy_tensor_release(mf);
    sy_tensor_release(wi);
}

static void test_allocation_failure(void) {
    static const double a[6] = {1, 2, 3, 4, 5, 6};
    sy_tensor *w = vec(SY_F32, 6, a), *m = ones_mask(6);
    sy_prune_result r;
    int scope, nth;
    for (scope = 0; scope < 2; scope++)
        for (nth = 1; nth <= 2; nth++) {
            sy_mem_fail_after(nth);
            CHECK_FAILS(sy_prune_update(&r, &w, &m, 1, 0.5, SY_PRUNE_EXACT, (sy_prune_scope)scope, NULL),
                        SY_ERR_OOM);
            sy_mem_fail_after(0);
            CHECK(strcmp(bits(m), "111111") == 0 && at(w, 0) == 1);
        }
    CHECK_OK(sy_prune_update(&r, &w, &m, 1, 0.5, SY_PRUNE_EXACT, SY_PRUNE_LAYER, NULL));
    CHECK(strcmp(bits(m), "000111") == 0);
    sy_tensor_release(w);
    sy_tensor_release(m);
}

/* ----------------------------------------------------------------- masks */

static void test_bool_masks_and_mask_ops(void) {
    static const double a[5] = {-3, 1, 4, -1, 5}, mv[5] = {1, 0, 1, 1, 0};
    sy_tensor *w = vec(SY_F64, 5, a), *m = vec(SY_BOOL, 5, mv), *bad = vec(SY_U8, 2, NULL);
    sy_tensor *mf = vec(SY_F32, 2, NULL);
    int64_t zeros[2], idx = 1;
    sy_prune_result r;
    CHECK_OK(sy_mask_apply(&w, &m, 1));
    CHECK(at(w, 0) == -3 && at(w, 1) == 0 && at(w, 4) == 0 && at(w, 3) == -1);
    CHECK_OK(sy_mask_count(zeros, &m, 1));
    CHECK(zeros[0] == 2);
    /* 3 active of 5, target 0.6 -> floor(3) - 2 = 1 more: |-1| */
    CHECK_OK(sy_prune_update(&r, &w, &m, 1, 0.6, SY_PRUNE_EXACT, SY_PRUNE_GLOBAL, NULL));
    CHECK(r.pruned == 1 && strcmp(bits(m), "10100") == 0 && at(w, 3) == 0);
    sy_tensor_set(bad, &idx, 2);
    CHECK_FAILS(sy_mask_count(zeros, &bad, 1), SY_ERR_ARG);
    CHECK(strstr(sy_error_message(), "holds the value 2") != NULL);
    CHECK_FAILS(sy_mask_count(zeros, &mf, 1), SY_ERR_DTYPE);
    CHECK_FAILS(sy_mask_apply(&w, &bad, 1), SY_ERR_SHAPE);
    sy_tensor_release(w);
    sy_tensor_release(m);
    sy_tensor_release(bad);
    sy_tensor_release(mf);
}

int main(void) {
    test_exact_counts();
    test_exact_ties();
    test_exact_ties_after_smaller();
    test_exact_rejects_targets();
    test_compat_k_minus_one();
    test_compat_ties_prune_nothing();
    test_compat_denominator_overshoot();
    test_compat_no_op_cases();
    test_scope();
    test_random_against_naive();
    test_narrow_bucket();
    test_nan();
    test_inf();
    test_argument_errors();
    test_allocation_failure();
    test_bool_masks_and_mask_ops();
    return check_summary("prune");
}
