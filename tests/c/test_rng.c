/*
** test_rng.c -- Philox4x32-10 against the Random123 known answers, the
** stream layout (a fill split into pieces equals one pass; strided views
** follow row-major order), the statistics of the fills, permutations, and
** the argument errors.
*/
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/alloc.h"
#include "core/rng.h"
#include "ops/ops.h"

static sy_tensor *make(sy_dtype dt, int64_t n) {
    sy_tensor *t = NULL;
    CHECK_OK(sy_tensor_new(&t, dt, 1, &n));
    return t;
}

static double at(const sy_tensor *t, int64_t i) { return sy_tensor_get(t, &i); }

static void test_known_answers(void) {
    static const struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    size_t k;
    for (k = 0; k < sizeof kat / sizeof kat[0]; k++) {
        uint32_t out[4];
        sy_philox4x32(out, kat[k].ctr, kat[k].key);
        CHECK(memcmp(out, kat[k].out, sizeof out) == 0);
        if (memcmp(out, kat[k].out, sizeof out) != 0)
            fprintf(stderr, "  vector %d: got %08x %08x %08x %08x\n", (int)k, out[0], out[1], out[2],
                    out[3]);
    }
    {
        /* block b of seed s is philox(ctr = {b lo, b hi, 0, 0}, key = {s lo, s hi}) */
        sy_rng g = {UINT64_C(0x299f31d0a4093822), 0};
        uint32_t a[4], b[4], ctr[4] = {0x85a308d3, 0x243f6a88, 0, 0}, key[2] = {0xa4093822, 0x299f31d0};
        sy_rng_block(a, &g, UINT64_C(0x243f6a8885a308d3));
        sy_philox4x32(b, ctr, key);
        CHECK(memcmp(a, b, sizeof a) == 0);
    }
}

/* A fill of n elements in one pass, and the same fill as pieces on
** block-aligned narrow views with the offset each piece starts at: a thread
** or device block split works the same way. */
typedef sy_status (*fill_fn)(sy_tensor *t, sy_rng *g);
static sy_status f_uniform(sy_tensor *t, sy_rng *g) { return sy_rng_uniform(t, g, -2, 3); }
static sy_status f_normal(sy_tensor *t, sy_rng *g) { return sy_rng_normal(t, g, 1, 2); }
static sy_status f_bernoulli(sy_tensor *t, sy_rng *g) { return sy_rng_bernoulli(t, g, 0.4); }
static sy_status f_randint(sy_tensor *t, sy_rng *g) { return sy_rng_randint(t, g, -50, 1000); }

static void check_chunks(fill_fn fill, sy_dtype dt, int words) {
    const int64_t n = 1003, cuts[] = {0, 256, 500, 1000, 1003};   /* cuts are multiples of 4 */
    sy_tensor *whole = make(dt, n), *pieces = make(dt, n), *part = NULL;
    sy_rng g = {12345, 77}, h;
    size_t k;
    CHECK_OK(fill(whole, &g));
    CHECK(g.offset == 77 + (uint64_t)(n * words + 3) / 4);
    for (k = 0; k + 1 < sizeof cuts / sizeof cuts[0]; k++) {
        h.seed = 12345;
        h.offset = 77 + (uint64_t)(cuts[k] * words / 4);
        CHECK_OK(sy_tensor_narrow(&part, pieces, 0, cuts[k], cuts[k + 1] - cuts[k]));
        CHECK_OK(fill(part, &h));
        sy_tensor_release(part);
    }
    CHECK(h.offset == g.offset);
    CHECK(memcmp(sy_tensor_data(whole), sy_tensor_data(pieces), (size_t)(n * sy_dtype_size(dt))) == 0);
    sy_tensor_release(whole);
    sy_tensor_release(pieces);
}

/* sy_rng_blocks (32 blocks at a time on AVX-512, sixteen on AVX2) gives
** sy_rng_block's words: runs of every length 1..80 (tails past the groups
** of 32 and sixteen), from offsets whose low word carries into the high one
** inside a group (in its first and second eight and sixteen), and a seed
** with both key words set. */
static void test_blocks_equal_block(void) {
    const uint64_t firsts[] = {0, 5, UINT64_C(0xFFFFFFFC), UINT64_C(0x1FFFFFFF3),
                               UINT64_C(0x2FFFFFFEB), UINT64_C(0xFFFFFFFFFFFFFFB0)};
    sy_rng g;
    uint32_t many[4 * 80], one[4];
    size_t f;
    int64_t n, b;
    int j, bad = 0;
    sy_rng_set_seed(&g, UINT64_C(0x0123456789ABCDEF));
    for (f = 0; f < sizeof firsts / sizeof firsts[0]; f++)
        for (n = 1; n <= 80; n++) {
            sy_rng_blocks(many, &g, firsts[f], n);
            for (b = 0; b < n; b++) {
                sy_rng_block(one, &g, firsts[f] + (uint64_t)b);
                for (j = 0; j < 4; j++) bad += many[4 * b + j] != one[j];
            }
        }
    CHECK(bad == 0);
}

static void test_chunks_equal_whole(void) {
    check_chunks(f_uniform, SY_F32, 1);
    check_chunks(f_uniform, SY_F64, 2);
    check_chunks(f_normal, SY_F32, 1);
    check_chunks(f_normal, SY_F64, 2);
    check_chunks(f_bernoulli, SY_U8, 1);
    check_chunks(f_bernoulli, SY_F32, 1);
    check_chunks(f_randint, SY_I64, 2);
    check_chunks(f_randint, SY_F64, 2);
}

/* A transposed (non-contiguous) view is filled in its own row-major order. */
static void test_strided_order(void) {
    int64_t size[2] = {7, 5}, tsize[2] = {5, 7}, i, j;
    sy_tensor *base = NULL, *tr = NULL, *ref = NULL;
    sy_rng g = {99, 0}, h = {99, 0};
    int same = 1;
    CHECK_OK(sy_tensor_new(&base, SY_F32, 2, size));
    CHECK_OK(sy_tensor_transpose(&tr, base, 0, 1));
    CHECK_OK(sy_tensor_new(&ref, SY_F32, 2, tsize));
    CHECK_OK(sy_rng_normal(tr, &g, 0, 1));
    CHECK_OK(sy_rng_normal(ref, &h, 0, 1));
    for (i = 0; i < 5; i++)
        for (j = 0; j < 7; j++) {
            int64_t idx[2] = {i, j};
            same = same && sy_tensor_get(tr, idx) == sy_tensor_get(ref, idx);
        }
    CHECK(same);
    CHECK(g.offset == h.offset);
    sy_tensor_release(base);
    sy_tensor_release(tr);
    sy_tensor_release(ref);
}

static void test_reproducible(void) {
    sy_tensor *a = make(SY_F32, 100), *b = make(SY_F32, 100), *c = make(SY_F32, 100);
    sy_rng *d = sy_rng_default();
    sy_rng saved;
    sy_rng_set_seed(d, 7);
    CHECK(d->seed == 7 && d->offset == 0);
    CHECK_OK(sy_rng_uniform(a, NULL, 0, 1));
    saved = *d;
    CHECK_OK(sy_rng_uniform(c, NULL, 0, 1));
    sy_rng_set_seed(d, 7);
    CHECK_OK(sy_rng_uniform(b, NULL, 0, 1));
    CHECK(memcmp(sy_tensor_data(a), sy_tensor_data(b), 400) == 0);
    /* the second draw continues the stream instead of repeating it */
    CHECK(memcmp(sy_tensor_data(a), sy_tensor_data(c), 400) != 0);
    /* a saved state replays the next draw */
    *d = saved;
    CHECK_OK(sy_rng_uniform(b, NULL, 0, 1));
    CHECK(memcmp(sy_tensor_data(b), sy_tensor_data(c), 400) == 0);
    sy_rng_set_seed(d, 8);
    CHECK_OK(sy_rng_uniform(b, NULL, 0, 1));
    CHECK(memcmp(sy_tensor_data(a), sy_tensor_data(b), 400) != 0);
    CHECK(sy_rng_reserve(d, 10) == 25 && d->offset == 35);
    sy_tensor_release(a);
    sy_tensor_release(b);
    sy_tensor_release(c);
}

struct moments {
    double mean, var, min, max;
};

static struct moments moments_of(const sy_tensor *t) {
    struct moments m = {0, 0, INFINITY, -INFINITY};
    int64_t i, n = sy_tensor_numel(t);
    double s = 0, s2 = 0;
    for (i = 0; i < n; i++) {
        double v = at(t, i);
        s += v;
        if (v < m.min) m.min = v;
        if (v > m.max) m.max = v;
    }
    m.mean = s / (double)n;
    for (i = 0; i < n; i++) s2 += (at(t, i) - m.mean) * (at(t, i) - m.mean);
    m.var = s2 / (double)(n - 1);
    return m;
}

/* Tolerances are about 7 standard errors at n = 1e6: a correct generator
** fails them with negligible probability, a biased one does not pass. */
static void test_statistics(void) {
    const int64_t n = 1000000;
    sy_tensor *f = make(SY_F32, n), *d = make(SY_F64, n), *b = make(SY_U8, n), *k = make(SY_I64, n);
    sy_rng g = {2024, 0};
    struct moments m;
    int64_t i, counts[12] = {0}, within = 0;

    CHECK_OK(sy_rng_uniform(f, &g, 0, 1));
    m = moments_of(f);
    CHECK_NEAR(m.mean, 0.5, 0.002);
    CHECK_NEAR(m.var, 1.0 / 12, 0.0007);
    CHECK(m.min >= 0 && m.max < 1);
    CHECK_OK(sy_rng_uniform(d, &g, -3, 5));
    m = moments_of(d);
    CHECK_NEAR(m.mean, 1, 0.016);
    CHECK_NEAR(m.var, 64.0 / 12, 0.045);
    CHECK(m.min >= -3 && m.max < 5);

    CHECK_OK(sy_rng_normal(f, &g, 0, 1));
    m = moments_of(f);
    CHECK_NEAR(m.mean, 0, 0.007);
    CHECK_NEAR(m.var, 1, 0.01);
    for (i = 0; i < n; i++) within += fabs(at(f, i)) < 1;
    CHECK_NEAR((double)within / (double)n, 0.682689, 0.0033);
    CHECK_OK(sy_rng_normal(d, &g, 2, 3));
    m = moments_of(d);
    CHECK_NEAR(m.mean, 2, 0.021);
    CHECK_NEAR(sqrt(m.var), 3, 0.015);

    CHECK_OK(sy_rng_bernoulli(b, &g, 0.3));
    m = moments_of(b);
    CHECK_NEAR(m.mean, 0.3, 0.0033);
    CHECK(m.min == 0 && m.max == 1);

    CHECK_OK(sy_rng_randint(k, &g, -5, 7));
    m = moments_of(k);
    CHECK(m.min == -5 && m.max == 6);
    for (i = 0; i < n; i++) counts[(int64_t)at(k, i) + 5]++;
    for (i = 0; i < 12; i++) CHECK_NEAR((double)counts[i] / (double)n, 1.0 / 12, 0.002);

    sy_tensor_release(f);
    sy_tensor_release(d);
    sy_tensor_release(b);
    sy_tensor_release(k);
}

static void test_edges(void) {
    sy_tensor *f = make(SY_F32, 4096), *d = make(SY_F64, 4096), *b = make(SY_BOOL, 1000),
              *k = make(SY_I64, 1000);
    sy_rng g = {5, 0};
    float hi = nextafterf(1.0f, 2.0f);
    struct moments m;
    /* [1, next float after 1): rounding up would give hi; every value must be 1 */
    CHECK_OK(sy_rng_uniform(f, &g, 1.0, hi));
    m = moments_of(f);
    CHECK(m.min == 1 && m.max == 1);
    CHECK_OK(sy_rng_uniform(d, &g, 1.0, nextafter(1.0, 2.0)));
    m = moments_of(d);
    CHECK(m.min == 1 && m.max == 1);
    CHECK_OK(sy_rng_bernoulli(b, &g, 0));
    CHECK(moments_of(b).max == 0);
    CHECK_OK(sy_rng_bernoulli(b, &g, 1));
    CHECK(moments_of(b).min == 1);
    /* the full int64 range does not overflow */
    CHECK_OK(sy_rng_randint(k, &g, INT64_MIN, INT64_MAX));
    m = moments_of(k);
    CHECK(m.min < -1e18 && m.max > 1e18);
    CHECK_OK(sy_rng_randint(k, &g, 41, 42));
    m = moments_of(k);
    CHECK(m.min == 41 && m.max == 41);
    sy_tensor_release(f);
    sy_tensor_release(d);
    sy_tensor_release(b);
    sy_tensor_release(k);
}

static int is_permutation(const sy_tensor *p) {
    int64_t n = sy_tensor_numel(p), i;
    char *seen = calloc((size_t)n + 1, 1);
    int ok = 1;
    for (i = 0; i < n && ok; i++) {
        int64_t v = (int64_t)at(p, i);
        ok = v >= 0 && v < n && !seen[v];
        if (ok) seen[v] = 1;
    }
    free(seen);
    return ok;
}

static void test_randperm(void) {
    sy_tensor *p = make(SY_I64, 1000), *q = make(SY_I64, 1000), *e = make(SY_I64, 0);
    sy_tensor *small = make(SY_I64, 3);
    sy_rng g = {31, 0}, h = {31, 0};
    int64_t i, fixed = 0, counts[6] = {0};
    int all_ok = 1;
    CHECK_OK(sy_rng_randperm(p, &g));
    CHECK(is_permutation(p));
    for (i = 0; i < 1000; i++) fixed += at(p, i) == (double)i;
    CHECK(fixed < 10);   /* expected about 1 fixed point */
    CHECK(g.offset == (999 * 2 + 3) / 4);
    CHECK_OK(sy_rng_randperm(q, &h));
    CHECK(memcmp(sy_tensor_data(p), sy_tensor_data(q), 8000) == 0);
    CHECK_OK(sy_rng_randperm(e, &g));
    CHECK(g.offset == (999 * 2 + 3) / 4);
    {
        /* a strided view: every other element of a 2000-element tensor */
        int64_t sz[2] = {1000, 2};
        sy_tensor *m = NULL, *col = NULL;
        CHECK_OK(sy_tensor_new(&m, SY_I64, 2, sz));
        CHECK_OK(sy_tensor_select(&col, m, 1, 1));
        CHECK_OK(sy_rng_randperm(col, &g));
        CHECK(is_permutation(col));
        sy_tensor_release(col);
        sy_tensor_release(m);
    }
    /* all 6 orders of 3 elements, equally often */
    for (i = 0; i < 60000; i++) {
        int64_t a, b;
        all_ok = all_ok && sy_rng_randperm(small, &g) == SY_OK;
        a = (int64_t)at(small, 0);
        b = (int64_t)at(small, 1);
        counts[a * 2 + (b > a ? b - 1 : b)]++;
    }
    CHECK(all_ok);
    for (i = 0; i < 6; i++) CHECK_NEAR((double)counts[i], 10000, 600);
    sy_tensor_release(p);
    sy_tensor_release(q);
    sy_tensor_release(e);
    sy_tensor_release(small);
}

static void test_errors(void) {
    sy_tensor *f = make(SY_F32, 4), *k = make(SY_I64, 4), *u = make(SY_U8, 4), *m = NULL;
    int64_t sz[2] = {2, 2};
    sy_rng g = {1, 0};
    CHECK_FAILS(sy_rng_normal(f, &g, 0, -1), SY_ERR_ARG);
    CHECK(strstr(sy_error_message(), "normal: std must be finite and >= 0, got -1") != NULL);
    CHECK_FAILS(sy_rng_normal(f, &g, NAN, 1), SY_ERR_ARG);
    CHECK_FAILS(sy_rng_bernoulli(f, &g, 1.5), SY_ERR_ARG);
    CHECK(strstr(sy_error_message(), "bernoulli: p must be in [0, 1], got 1.5") != NULL);
    CHECK_FAILS(sy_rng_bernoulli(f, &g, NAN), SY_ERR_ARG);
    CHECK_FAILS(sy_rng_uniform(f, &g, 2, 2), SY_ERR_ARG);
    CHECK(strstr(sy_error_message(), "uniform: expects lo < hi, got lo=2, hi=2") != NULL);
    CHECK_FAILS(sy_rng_uniform(f, &g, 0, INFINITY), SY_ERR_ARG);
    CHECK_FAILS(sy_rng_uniform(f, &g, -1e308, 1e308), SY_ERR_ARG);
    CHECK_FAILS(sy_rng_uniform(k, &g, 0, 1), SY_ERR_DTYPE);
    CHECK(strstr(sy_error_message(), "uniform: tensor must be float32 or float64, got int64") != NULL);
    CHECK_FAILS(sy_rng_normal(k, &g, 0, 1), SY_ERR_DTYPE);
    CHECK_FAILS(sy_rng_randint(k, &g, 3, 3), SY_ERR_ARG);
    CHECK(strstr(sy_error_message(), "randint: expects lo < hi, got lo=3, hi=3") != NULL);
    CHECK_FAILS(sy_rng_randint(u, &g, 0, 257), SY_ERR_ARG);
    CHECK(strstr(sy_error_message(), "does not fit dtype uint8 (values must lie in 0..255)") != NULL);
    CHECK_OK(sy_rng_randint(u, &g, 0, 256));
    CHECK_FAILS(sy_rng_randint(f, &g, 0, (INT64_C(1) << 24) + 2), SY_ERR_ARG);
    CHECK_FAILS(sy_rng_randperm(f, &g), SY_ERR_DTYPE);
    CHECK_OK(sy_tensor_new(&m, SY_I64, 2, sz));
    CHECK_FAILS(sy_rng_randperm(m, &g), SY_ERR_SHAPE);
    CHECK(strstr(sy_error_message(), "randperm: tensor must be 1-d, got shape [2,2]") != NULL);
    /* failures leave the stream where it was (only the one successful randint moved it) */
    CHECK(g.offset == 2);
    sy_tensor_release(f);
    sy_tensor_release(k);
    sy_tensor_release(u);
    sy_tensor_release(m);
}

int main(void) {
    int64_t before = sy_mem_in_use();
    test_known_answers();
    test_blocks_equal_block();
    test_chunks_equal_whole();
    test_strided_order();
    test_reproducible();
    test_statistics();
    test_edges();
    test_randperm();
    test_errors();
    CHECK(sy_mem_in_use() == before);
    return check_summary("test_rng");
}
