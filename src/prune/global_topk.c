/*
** global_topk.c -- pruning updates: the k-th smallest active magnitude over
** a set of weight tensors by radix selection, then one pass that prunes.
**
** Keys are |w|'s bits (sign bit cleared) in a uint64: 31 significant bits
** for float32, 63 for float64; key order is magnitude order, NaN above inf.
** Pass 1 counts the active weights per tensor and histograms the top 11 key
** bits; pass 2 copies the keys of the bucket holding rank k into a buffer;
** the buffer is then narrowed 11 bits at a time (counts only, no sort), which
** yields the k-th key tau and the number of active keys below it. Pass 3
** prunes the active weights with key < tau; in exact mode the first
** (k - below) with key == tau in tensor order, then flat index, are pruned
** too: the buffer keeps positions and stays in position order, so they are
** its first entries. The passes are branch-free on the mask, whose 0/1
** pattern is unpredictable.
*/
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../core/alloc.h"
#include "prune.h"

#define DIGIT_BITS 11
#define DIGIT_SIZE (1 << DIGIT_BITS)
#define HIST_WAYS 4

typedef struct prune_view {
    void *w;
    uint8_t *m;
    int64_t n;
    int64_t base;       /* position of w[0] in the scope: earlier tensors' sizes */
    int64_t active;     /* before the update */
} prune_view;

/* A key of the selected bucket and where it comes from in the scope. */
typedef struct prune_cand {
    uint64_t key;
    int64_t pos;
} prune_cand;

static uint64_t key_at(const prune_view *v, sy_dtype dt, int64_t i) {
    if (dt == SY_F32) {
        uint32_t b;
        memcpy(&b, (const float *)v->w + i, sizeof b);
        return b & UINT32_C(0x7fffffff);
    } else {
        uint64_t b;
        memcpy(&b, (const double *)v->w + i, sizeof b);
        return b & UINT64_C(0x7fffffffffffffff);
    }
}

/* Pass 1 over one tensor: active count and histogram of key >> shift
** (active weights only). Neighbours often fall in the same bucket, so
** HIST_WAYS histograms (summed by the caller) keep consecutive increments
** from waiting on each other. NaN and Inf land in the top buckets, which
** the caller checks instead of tracking the largest key here (a running
** maximum was a dependency chain through every element: a third of the pass). */
#define HIST_LOOP(T, U)                                                                 \
    static void hist_##T(prune_view *v, int shift, int64_t *hist) {                     \
        const unsigned char *w = v->w;                                                  \
        const uint8_t *m = v->m;                                                        \
        const U sign_off = (U)~((U)1 << (sizeof(U) * 8 - 1));                           \
        int64_t i, active = 0;                                                          \
        for (i = 0; i < v->n; i++) {                                                    \
            U key, on = (U)(m[i] != 0);                                                 \
            memcpy(&key, w + (size_t)i * sizeof key, sizeof key);                       \
            key &= sign_off;                                                            \
            hist[(i & (HIST_WAYS - 1)) * DIGIT_SIZE + (int64_t)(key >> shift)] += (int64_t)on; \
            active += (int64_t)on;                                                      \
        }                                                                               \
        v->active = active;                                                             \
    }

HIST_LOOP(u32, uint32_t)
HIST_LOOP(u64, uint64_t)

/* Pass 2 over one tensor: appends the active keys with key >> shift ==
** bucket, with their positions, in position order. */
#define GATHER_LOOP(T, U)                                                                 \
    static int64_t gather_##T(const prune_view *v, int shift, uint64_t bucket, prune_cand *buf) { \
        const unsigned char *w = v->w;                                                    \
        const uint8_t *m = v->m;                                                          \
        const U sign_off = (U)~((U)1 << (sizeof(U) * 8 - 1));                             \
        int64_t i, c = 0;                                                                 \
        for (i = 0; i < v->n; i++) {                                                      \
            U key;                                                                        \
            memcpy(&key, w + (size_t)i * sizeof key, sizeof key);                         \
            key &= sign_off;                                                              \
            buf[c].key = (uint64_t)key;                                                   \
            buf[c].pos = v->base + i;                                                     \
            c += (m[i] != 0) & ((uint64_t)(key >> shift) == bucket);                      \
        }                                                                                 \
        return c;                                                                         \
    }

GATHER_LOOP(u32, uint32_t)
GATHER_LOOP(u64, uint64_t)

/* Pass 3 over one tensor: prunes the active weights with key < tau (the
** weight's bits are cleared: +0). Branch-free, since which weights fall
** below tau is as unpredictable as the mask. Returns the number pruned. */
#define PRUNE_LOOP(T, U)                                                                \
    static int64_t prune_##T(const prune_view *v, uint64_t tau) {                       \
        unsigned char *w = v->w;                                                        \
        uint8_t *m = v->m;                                                              \
        const U sign_off = (U)~((U)1 << (sizeof(U) * 8 - 1)), t = (U)tau;               \
        int64_t i, pruned = 0;                                                          \
        for (i = 0; i < v->n; i++) {                                                    \
            U bits, cut, keep;                                                          \
            memcpy(&bits, w + (size_t)i * sizeof bits, sizeof bits);                    \
            cut = (U)(m[i] != 0) & (U)((bits & sign_off) < t);                          \
            keep = cut - 1; /* all ones, or 0 when cut */                               \
            m[i] = (uint8_t)(m[i] & (uint8_t)keep);                                     \
            bits &= keep;                                                               \
            memcpy(w + (size_t)i * sizeof bits, &bits, sizeof bits);                    \
            pruned += (int64_t)cut;                                                     \
        }                                                                               \
        return pruned;                                                                  \
    }

PRUNE_LOOP(u32, uint32_t)
PRUNE_LOOP(u64, uint64_t)

/* Exact mode's ties: prunes the weights at the first `ties` positions of
** cand (ascending positions in the scope, all with key tau). */
static int64_t prune_ties(const prune_view *views, sy_dtype dt, const prune_cand *cand,
                          int64_t ties) {
    int64_t j, t = 0;
    for (j = 0; j < ties; j++) {
        int64_t i;
        while (cand[j].pos >= views[t].base + views[t].n) t++;
        i = cand[j].pos - views[t].base;
        views[t].m[i] = 0;
        if (dt == SY_F32) ((float *)views[t].w)[i] = 0.0f;
        else ((double *)views[t].w)[i] = 0.0;
    }
    return ties;
}

/* The bucket of hist holding rank r (1-based); *below gets the count of the
** buckets before it and r becomes the rank inside the bucket. */
static uint64_t find_bucket(const int64_t *hist, int64_t size, int64_t *r, int64_t *below) {
    int64_t b, cum = 0;
    for (b = 0; b < size - 1 && cum + hist[b] < *r; b++) cum += hist[b];
    *r -= cum;
    *below += cum;
    return (uint64_t)b;
}

/* The r-th smallest active key (1-based, 1 <= r <= active) over views,
** and the number of active keys strictly below it. hist was filled by pass 1
** with shift `shift`; buf has room for the bucket's keys plus one (the
** gather loop stores before it decides to keep). On return buf[0..) holds
** the active keys equal to tau, in position order. */
static void select_key(uint64_t *tau, int64_t *below, const prune_view *views, int64_t n,
                       sy_dtype dt, int shift, int64_t *hist, int64_t r, prune_cand *buf) {
    int64_t i, total = 0;
    uint64_t prefix;
    *below = 0;
    prefix = find_bucket(hist, DIGIT_SIZE, &r, below);
    for (i = 0; i < n; i++)
        total += dt == SY_F32 ? gather_u32(&views[i], shift, prefix, buf + total)
                              : gather_u64(&views[i], shift, prefix, buf + total);
    while (shift > 0) {
        int d = shift < DIGIT_BITS ? shift : DIGIT_BITS;
        uint64_t digit_mask = ((uint64_t)1 << d) - 1, digit;
        int64_t kept = 0;
        shift -= d;
        memset(hist, 0, DIGIT_SIZE * sizeof *hist);
        for (i = 0; i < total; i++) hist[(buf[i].key >> shift) & digit_mask]++;
        digit = find_bucket(hist, (int64_t)1 << d, &r, below);
        /* in place and in order: positions stay ascending */
        for (i = 0; i < total; i++) {
            buf[kept] = buf[i];
            kept += ((buf[i].key >> shift) & digit_mask) == digit;
        }
        total = kept;
        prefix = (prefix << d) | digit;
    }
    *tau = prefix;
}

static double key_value(uint64_t key, sy_dtype dt) {
    if (dt == SY_F32) {
        uint32_t b = (uint32_t)key;
        float f;
        memcpy(&f, &b, sizeof f);
        return f;
    } else {
        double d;
        memcpy(&d, &key, sizeof d);
        return d;
    }
}

/* An error naming the first active NaN of views (numbered from first). */
static sy_status nan_check(const prune_view *views, int64_t n, sy_dtype dt, uint64_t nan_above,
                           int64_t first, const char *const *names) {
    int64_t t, i;
    for (t = 0; t < n; t++)
        for (i = 0; i < views[t].n; i++)
            if (views[t].m[i] && key_at(&views[t], dt, i) > nan_above) {
                if (names && names[first + t])
                    return sy_error(SY_ERR_ARG,
                                    "prune: weight '%s' holds NaN at flat index %lld; magnitudes "
                                    "cannot be ranked (did training diverge?)",
                                    names[first + t], (long long)i);
                return sy_error(SY_ERR_ARG,
                                "prune: weight %lld holds NaN at flat index %lld; magnitudes cannot "
                                "be ranked (did training diverge?)",
                                (long long)(first + t + 1), (long long)i);
            }
    return SY_OK;
}

typedef struct prune_job {
    sy_dtype dt;
    int bits;            /* significant key bits: 31 or 63 */
    uint64_t nan_above;  /* keys above this are NaN */
    double target;
    sy_prune_mode mode;
    int64_t *hist;       /* HIST_WAYS * DIGIT_SIZE counters */
    prune_cand *buf;     /* NULL: allocate per scope */
    const char *const *names;
} prune_job;

/* Pass 1 over views[0..n): job->hist[0..DIGIT_SIZE) gets the top-digit
** histogram of the active keys. Returns whether an active key may be NaN:
** one is in the bucket of Inf or above (nan_check then looks exactly). */
static int histogram(prune_view *views, int64_t n, const prune_job *job) {
    const int shift = job->bits - DIGIT_BITS;
    int64_t i, b, suspect = 0;
    int way;
    memset(job->hist, 0, HIST_WAYS * DIGIT_SIZE * sizeof *job->hist);
    for (i = 0; i < n; i++) {
        if (job->dt == SY_F32) hist_u32(&views[i], shift, job->hist);
        else hist_u64(&views[i], shift, job->hist);
    }
    for (way = 1; way < HIST_WAYS; way++)
        for (b = 0; b < DIGIT_SIZE; b++) job->hist[b] += job->hist[way * DIGIT_SIZE + b];
    for (b = (int64_t)(job->nan_above >> shift); b < DIGIT_SIZE; b++) suspect += job->hist[b];
    return suspect > 0;
}

/* One scope: views[0..n) (the set's tensors first..first+n-1) ranked together. */
static sy_status update_scope(sy_prune_result *res, prune_view *views, int64_t n, int64_t first,
                              const prune_job *job) {
    const int shift = job->bits - DIGIT_BITS;
    int64_t i, total = 0, active = 0, k, below;
    uint64_t tau;
    prune_cand *buf = job->buf;
    size_t nbytes = 0;
    double want;
    int suspect;
    sy_status st;
    for (i = 0; i < n; i++) views[i].base = i ? views[i - 1].base + views[i - 1].n : 0;
    suspect = histogram(views, n, job);
    for (i = 0; i < n; i++) {
        active += views[i].active;
        /* compat: a fully pruned tensor leaves the denominator */
        if (job->mode == SY_PRUNE_EXACT || views[i].active > 0) total += views[i].n;
    }
    if (suspect && (st = nan_check(views, n, job->dt, job->nan_above, first, job->names))) return st;
    res->total += total;
    res->active += active;
    /* Compared in double before any conversion, so compat targets such as
    ** 1.2 or 1e300 cannot overflow an integer. */
    want = floor(job->target * (double)total) - (double)(total - active);
    if (want <= 0 || active == 0) return SY_OK;
    if (job->mode == SY_PRUNE_COMPAT && want >= (double)active) return SY_OK;
    /* exact mode never asks for every active weight (target < 1); the clamp
    ** only guards the selection against a rounding of target * total */
    k = want >= (double)active ? active : (int64_t)want;
    if (!buf) {
        int64_t r = k, skipped = 0;
        nbytes = (size_t)(job->hist[find_bucket(job->hist, DIGIT_SIZE, &r, &skipped)] + 1) *
                 sizeof *buf;
        if (!(buf = sy_mem_alloc(nbytes))) return SY_ERR_OOM;
    }
    select_key(&tau, &below, views, n, job->dt, shift, job->hist, k, buf);
    res->k += k;
    res->threshold = key_value(tau, job->dt);
    for (i = 0; i < n; i++)
        res->pruned += job->dt == SY_F32 ? prune_u32(&views[i], tau) : prune_u64(&views[i], tau);
    /* compat prunes only the keys below tau; exact also takes k - below of
    ** the keys equal to tau, which buf lists in position order */
    if (job->mode == SY_PRUNE_EXACT) res->pruned += prune_ties(views, job->dt, buf, k - below);
    if (nbytes) sy_mem_free(buf, nbytes);
    return SY_OK;
}

sy_status sy_prune_update(sy_prune_result *res, sy_tensor *const *weights, sy_tensor *const *masks,
                          int64_t n, double target, sy_prune_mode mode, sy_prune_scope scope,
                          const char *const *names) {
    char who[256];
    prune_view *views;
    prune_job job;
    int64_t i, largest = 0;
    size_t nbytes, buf_bytes = 0;
    sy_status st = SY_OK;
    memset(res, 0, sizeof *res);
    res->threshold = NAN;
    if (n < 1) return sy_error(SY_ERR_ARG, "prune: no weight tensors to prune");
    if (mode != SY_PRUNE_EXACT && mode != SY_PRUNE_COMPAT)
        return sy_error(SY_ERR_ARG, "prune: unknown mode %d", (int)mode);
    if (scope != SY_PRUNE_GLOBAL && scope != SY_PRUNE_LAYER)
        return sy_error(SY_ERR_ARG, "prune: unknown scope %d", (int)scope);
    if (target != target) return sy_error(SY_ERR_ARG, "prune: target sparsity is NaN");
    if (mode == SY_PRUNE_EXACT && !(target >= 0 && target < 1))
        return sy_error(SY_ERR_ARG,
                        "prune: target sparsity %g is outside [0, 1) (only compat mode accepts "
                        "targets >= 1, which prune nothing)",
                        target);
    job.dt = weights[0]->dtype;
    for (i = 0; i < n; i++) {
        if (names && names[i]) snprintf(who, sizeof who, "prune: weight '%s'", names[i]);
        else snprintf(who, sizeof who, "prune: weight %lld", (long long)i + 1);
        if ((st = sy_prune_check_pair(who, weights[i], masks[i]))) return st;
        if (weights[i]->dtype != job.dt)
            return sy_error(SY_ERR_DTYPE, "%s is %s, the first weight %s; a pruning set has one dtype",
                            who, sy_dtype_name(weights[i]->dtype), sy_dtype_name(job.dt));
        if (sy_tensor_numel(weights[i]) > largest) largest = sy_tensor_numel(weights[i]);
    }
    job.bits = job.dt == SY_F32 ? 31 : 63;
    job.nan_above = job.dt == SY_F32 ? UINT64_C(0x7f800000) : UINT64_C(0x7ff0000000000000);
    job.target = target;
    job.mode = mode;
    job.names = names;
    job.buf = NULL;
    nbytes = (size_t)n * sizeof *views + HIST_WAYS * DIGIT_SIZE * sizeof *job.hist;
    if (!(job.hist = sy_mem_alloc(nbytes))) return SY_ERR_OOM;
    views = (prune_view *)(job.hist + HIST_WAYS * DIGIT_SIZE);
    for (i = 0; i < n; i++) {
        views[i].w = sy_tensor_data(weights[i]);
        views[i].m = sy_tensor_data(masks[i]);
        views[i].n = sy_tensor_numel(weights[i]);
        views[i].active = 0;
    }
    if (scope == SY_PRUNE_GLOBAL) {
        st = update_scope(res, views, n, 0, &job);
    } else {
        /* Layer by layer, every failure must come before the first write: a
        ** NaN anywhere is found first, and one buffer fits any tensor. */
        buf_bytes = (size_t)(largest + 1) * sizeof *job.buf;
        if (!(job.buf = sy_mem_alloc(buf_bytes))) st = SY_ERR_OOM;
        for (i = 0; i < n && st == SY_OK; i++) {
            if (histogram(views + i, 1, &job)) st = nan_check(views + i, 1, job.dt, job.nan_above, i, names);
        }
        for (i = 0; i < n && st == SY_OK; i++) st = update_scope(res, views + i, 1, i, &job);
        res->threshold = NAN;
        sy_mem_free(job.buf, buf_bytes);
    }
    sy_mem_free(job.hist, nbytes);
    return st;
}
