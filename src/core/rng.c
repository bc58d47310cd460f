/*
** rng.c -- Philox4x32-10 and the random fills (see rng.h for the stream
** layout every backend must follow).
*/
#include <math.h>

#include "iter.h"
#include "rng.h"

#define PHILOX_M0 UINT32_C(0xD2511F53)
#define PHILOX_M1 UINT32_C(0xCD9E8D57)
#define PHILOX_W0 UINT32_C(0x9E3779B9)
#define PHILOX_W1 UINT32_C(0xBB67AE85)
#define TWO_PI 6.283185307179586476925286766559

void sy_philox4x32(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
    int r;
    for (r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        if (r > 0) {   /* the key schedule bumps before every round but the first */
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        c0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        c1 = (uint32_t)p1;
        c2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c3 = (uint32_t)p0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

static sy_rng default_rng = {SY_RNG_DEFAULT_SEED, 0};

sy_rng *sy_rng_default(void) { return &default_rng; }

void sy_rng_set_seed(sy_rng *g, uint64_t seed) {
    g->seed = seed;
    g->offset = 0;
}

void sy_rng_block(uint32_t out[4], const sy_rng *g, uint64_t block) {
    uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), 0, 0};
    uint32_t key[2] = {(uint32_t)g->seed, (uint32_t)(g->seed >> 32)};
    sy_philox4x32(out, ctr, key);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define PHILOX_AVX2 1

/* The 32 x 32 -> 64-bit products a * m of eight lanes, as high and low
** words in the lanes' order: even lanes directly, odd ones shifted down. */
__attribute__((target("avx2"))) static inline void mulhilo8(__m256i a, __m256i m, __m256i *hi,
                                                           __m256i *lo) {
    const __m256i even = _mm256_mul_epu32(a, m), odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
    *hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
    *lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}

/* Counter words of blocks first .. first+7, one a lane: the low word
** lo + i, the high word hi plus the carry out of it. */
__attribute__((target("avx2"))) static inline void counters8(uint64_t first, __m256i *c0,
                                                            __m256i *c1) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const uint32_t lo = (uint32_t)first, hi = (uint32_t)(first >> 32);
    /* unsigned i > UINT32_MAX - lo, as a signed compare of sign-flipped words */
    const __m256i carry = _mm256_cmpgt_epi32(
        _mm256_xor_si256(lane, _mm256_set1_epi32(INT32_MIN)),
        _mm256_set1_epi32((int)((UINT32_MAX - lo) ^ 0x80000000u)));
    *c0 = _mm256_add_epi32(_mm256_set1_epi32((int)lo), lane);
    *c1 = _mm256_sub_epi32(_mm256_set1_epi32((int)hi), carry);   /* carry is -1 where set */
}

/* Blocks first .. first+15 by the rounds of sy_philox4x32, one a lane in two
** independent groups of eight (a round's multiply-xor chain is long; two
** chains keep the core busy). */
__attribute__((target("avx2"))) static void philox16(uint32_t *out, uint64_t first, uint32_t k0,
                                                     uint32_t k1) {
    const __m256i m0 = _mm256_set1_epi32((int)PHILOX_M0), m1 = _mm256_set1_epi32((int)PHILOX_M1);
    __m256i c[2][4], h0, l0, h1, l1, kv0, kv1;
    uint32_t w[2][4][8];
    int r, g, i, j;
    for (g = 0; g < 2; g++) {
        counters8(first + 8 * (uint64_t)g, &c[g][0], &c[g][1]);
        c[g][2] = c[g][3] = _mm256_setzero_si256();
    }
    for (r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        kv0 = _mm256_set1_epi32((int)k0);
        kv1 = _mm256_set1_epi32((int)k1);
        for (g = 0; g < 2; g++) {
            mulhilo8(c[g][0], m0, &h0, &l0);
            mulhilo8(c[g][2], m1, &h1, &l1);
            c[g][0] = _mm256_xor_si256(_mm256_xor_si256(h1, c[g][1]), kv0);
            c[g][1] = l1;
            c[g][2] = _mm256_xor_si256(_mm256_xor_si256(h0, c[g][3]), kv1);
            c[g][3] = l0;
        }
    }
    for (g = 0; g < 2; g++)
        for (j = 0; j < 4; j++) _mm256_storeu_si256((__m256i *)w[g][j], c[g][j]);
    for (g = 0; g < 2; g++)
        for (i = 0; i < 8; i++)
            for (j = 0; j < 4; j++) out[4 * (8 * g + i) + j] = w[g][j][i];
}

/* The same with sixteen lanes where the CPU has AVX-512: blocks first ..
** first+31 in two groups of sixteen. */
__attribute__((target("avx512f"))) static inline void mulhilo16(__m512i a, __m512i m, __m512i *hi,
                                                              __m512i *lo) {
    const __m512i even = _mm512_mul_epu32(a, m), odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
    *hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
    *lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
}

__attribute__((target("avx512f"))) static inline void counters16(uint64_t first, __m512i *c0,
                                                               __m512i *c1) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const uint32_t lo = (uint32_t)first, hi = (uint32_t)(first >> 32);
    const __mmask16 carry = _mm512_cmpgt_epu32_mask(lane, _mm512_set1_epi32((int)(UINT32_MAX - lo)));
    *c0 = _mm512_add_epi32(_mm512_set1_epi32((int)lo), lane);
    *c1 = _mm512_mask_add_epi32(_mm512_set1_epi32((int)hi), carry, _mm512_set1_epi32((int)hi),
                                _mm512_set1_epi32(1));
}

__attribute__((target("avx512f"))) static void philox32(uint32_t *out, uint64_t first, uint32_t k0,
                                                        uint32_t k1) {
    const __m512i m0 = _mm512_set1_epi32((int)PHILOX_M0), m1 = _mm512_set1_epi32((int)PHILOX_M1);
    __m512i c[2][4], h0, l0, h1, l1, kv0, kv1;
    uint32_t w[2][4][16];
    int r, g, i, j;
    for (g = 0; g < 2; g++) {
        counters16(first + 16 * (uint64_t)g, &c[g][0], &c[g][1]);
        c[g][2] = c[g][3] = _mm512_setzero_si512();
    }
    for (r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        kv0 = _mm512_set1_epi32((int)k0);
        kv1 = _mm512_set1_epi32((int)k1);
        for (g = 0; g < 2; g++) {
            mulhilo16(c[g][0], m0, &h0, &l0);
            mulhilo16(c[g][2], m1, &h1, &l1);
            c[g][0] = _mm512_xor_si512(_mm512_xor_si512(h1, c[g][1]), kv0);
            c[g][1] = l1;
            c[g][2] = _mm512_xor_si512(_mm512_xor_si512(h0, c[g][3]), kv1);
            c[g][3] = l0;
        }
    }
    for (g = 0; g < 2; g++)
        for (j = 0; j < 4; j++) _mm512_storeu_si512(w[g][j], c[g][j]);
    for (g = 0; g < 2; g++)
        for (i = 0; i < 16; i++)
            for (j = 0; j < 4; j++) out[4 * (16 * g + i) + j] = w[g][j][i];
}
#endif

void sy_rng_blocks(uint32_t *out, const sy_rng *g, uint64_t first, int64_t n) {
    int64_t b = 0;
#ifdef PHILOX_AVX2
    if (__builtin_cpu_supports("avx512f"))
        for (; b + 32 <= n; b += 32)
            philox32(out + 4 * b, first + (uint64_t)b, (uint32_t)g->seed, (uint32_t)(g->seed >> 32));
    if (__builtin_cpu_supports("avx2"))
        for (; b + 16 <= n; b += 16)
            philox16(out + 4 * b, first + (uint64_t)b, (uint32_t)g->seed, (uint32_t)(g->seed >> 32));
#endif
    for (; b < n; b++) sy_rng_block(out + 4 * b, g, first + (uint64_t)b);
}

uint64_t sy_rng_reserve(sy_rng *g, uint64_t nblocks) {
    uint64_t first = g->offset;
    g->offset += nblocks;
    return first;
}

/* High 64 bits of a * b, without relying on a 128-bit type. */
static uint64_t mulhi64(uint64_t a, uint64_t b) {
    uint64_t alo = (uint32_t)a, ahi = a >> 32, blo = (uint32_t)b, bhi = b >> 32;
    uint64_t p0 = alo * blo, p1 = alo * bhi, p2 = ahi * blo, p3 = ahi * bhi;
    uint64_t mid = (p0 >> 32) + (uint32_t)p1 + (uint32_t)p2;
    return p3 + (p1 >> 32) + (p2 >> 32) + (mid >> 32);
}

/* ------------------------------------------------------------ the stream */

/* Word j of a draw that starts at block `base`, caching the last block:
** consecutive elements mostly share one. */
struct stream {
    sy_rng g;
    uint64_t base;
    uint64_t cached;   /* block number held in words[], or UINT64_MAX */
    uint32_t words[4];
};

static void stream_init(struct stream *s, const sy_rng *g) {
    s->g = *g;
    s->base = g->offset;
    s->cached = UINT64_MAX;
}

static uint32_t stream_word(struct stream *s, uint64_t j) {
    uint64_t block = s->base + j / 4;
    if (block != s->cached) {
        sy_rng_block(s->words, &s->g, block);
        s->cached = block;
    }
    return s->words[j % 4];
}

static uint64_t stream_word64(struct stream *s, uint64_t j) {
    return (uint64_t)stream_word(s, j) | (uint64_t)stream_word(s, j + 1) << 32;
}

/* Uniform on [0, 1) from word j (float32) or words j, j+1 (float64). */
static double unit24(struct stream *s, uint64_t j) { return (stream_word(s, j) >> 8) * 0x1p-24; }
static double unit53(struct stream *s, uint64_t j) { return (stream_word64(s, j) >> 11) * 0x1p-53; }

/* ------------------------------------------------------------ the fills */

typedef enum draw_kind { DRAW_UNIFORM, DRAW_NORMAL, DRAW_BERNOULLI, DRAW_RANDINT } draw_kind;

struct draw {
    struct stream s;
    draw_kind kind;
    sy_dtype dt;
    double a, b;         /* uniform lo, hi; normal mean, std; bernoulli p in a */
    int64_t lo;          /* randint */
    uint64_t range;      /* randint hi - lo */
    uint64_t next;       /* row-major index of the next element */
    uint64_t zpair;      /* normal: first element of the pair held in z */
    double z[2];
};

static int words_per_element(draw_kind kind, sy_dtype dt) {
    if (kind == DRAW_RANDINT) return 2;
    if (kind == DRAW_BERNOULLI) return 1;
    return dt == SY_F64 ? 2 : 1;
}

/* Element i of the draw, from its own words only. */
static double draw_value(struct draw *d, uint64_t i) {
    switch (d->kind) {
    case DRAW_UNIFORM: {
        double u = d->dt == SY_F64 ? unit53(&d->s, 2 * i) : unit24(&d->s, i);
        return d->a + (d->b - d->a) * u;
    }
    case DRAW_NORMAL: {
        /* Box-Muller on the pair (i & ~1, i | 1), both values at once; u1 in
        ** (0, 1] keeps the log finite. */
        uint64_t pair = i & ~(uint64_t)1;
        if (pair != d->zpair) {
            double u1, u2, r;
            if (d->dt == SY_F64) {
                u1 = 1.0 - unit53(&d->s, 2 * pair);
                u2 = unit53(&d->s, 2 * pair + 2);
            } else {
                u1 = 1.0 - unit24(&d->s, pair);
                u2 = unit24(&d->s, pair + 1);
            }
            r = sqrt(-2.0 * log(u1));
            d->z[0] = d->a + d->b * r * cos(TWO_PI * u2);
            d->z[1] = d->a + d->b * r * sin(TWO_PI * u2);
            d->zpair = pair;
        }
        return d->z[i & 1];
    }
    case DRAW_BERNOULLI: return stream_word(&d->s, i) * 0x1p-32 < d->a;
    case DRAW_RANDINT: break;
    }
    return 0;
}

static void draw_row(int64_t n, char **p, const int64_t *bs, void *ctx) {
    struct draw *d = ctx;
    int64_t k;
    for (k = 0; k < n; k++, d->next++) {
        char *dst = p[0] + k * bs[0];
        if (d->kind == DRAW_RANDINT) {
            /* int64 stays exact; the range checks make the others exact too. */
            int64_t v = (int64_t)((uint64_t)d->lo + mulhi64(stream_word64(&d->s, 2 * d->next), d->range));
            if (d->dt == SY_I64) *(int64_t *)dst = v;
            else sy_value_store(dst, d->dt, (double)v);
        } else if (d->dt == SY_F32) {
            float v = (float)draw_value(d, d->next);
            /* Rounding to float may reach hi; [lo, hi) is the promise. */
            if (d->kind == DRAW_UNIFORM && v >= (float)d->b) v = nextafterf((float)d->b, (float)d->a);
            *(float *)dst = v;
        } else if (d->dt == SY_F64) {
            double v = draw_value(d, d->next);
            if (d->kind == DRAW_UNIFORM && v >= d->b) v = nextafter(d->b, d->a);
            *(double *)dst = v;
        } else {
            sy_value_store(dst, d->dt, draw_value(d, d->next));
        }
    }
}

static sy_status check_out(const char *op, const sy_tensor *out) {
    if (out->storage->device != SY_CPU)
        return sy_error(SY_ERR_DEVICE, "%s: random fills run on the CPU only in this build", op);
    return SY_OK;
}

static sy_status check_float(const char *op, const sy_tensor *out) {
    if (!sy_dtype_is_float(out->dtype))
        return sy_error(SY_ERR_DTYPE, "%s: tensor must be float32 or float64, got %s", op,
                        sy_dtype_name(out->dtype));
    return check_out(op, out);
}

/* Runs the draw over out in row-major order and advances g past it. */
static sy_status run_draw(sy_tensor *out, sy_rng *g, struct draw *d) {
    const sy_tensor *ops[1] = {out};
    uint64_t n = (uint64_t)sy_tensor_numel(out);
    if (!g) g = sy_rng_default();
    stream_init(&d->s, g);
    d->dt = out->dtype;
    d->next = 0;
    d->zpair = UINT64_MAX;
    sy_iter_run(1, ops, out->ndim, out->size, draw_row, d);
    sy_rng_reserve(g, (n * (uint64_t)words_per_element(d->kind, d->dt) + 3) / 4);
    return SY_OK;
}

sy_status sy_rng_uniform(sy_tensor *out, sy_rng *g, double lo, double hi) {
    struct draw d = {.kind = DRAW_UNIFORM, .a = lo, .b = hi};
    sy_status st = check_float("uniform", out);
    if (st) return st;
    if (!isfinite(lo) || !isfinite(hi))
        return sy_error(SY_ERR_ARG, "uniform: bounds must be finite, got lo=%g, hi=%g", lo, hi);
    if (!(lo < hi))
        return sy_error(SY_ERR_ARG, "uniform: expects lo < hi, got lo=%g, hi=%g", lo, hi);
    if (!isfinite(hi - lo))
        return sy_error(SY_ERR_ARG, "uniform: range hi - lo overflows (lo=%g, hi=%g)", lo, hi);
    return run_draw(out, g, &d);
}

sy_status sy_rng_normal(sy_tensor *out, sy_rng *g, double mean, double std) {
    struct draw d = {.kind = DRAW_NORMAL, .a = mean, .b = std};
    sy_status st = check_float("normal", out);
    if (st) return st;
    if (!isfinite(mean)) return sy_error(SY_ERR_ARG, "normal: mean must be finite, got %g", mean);
    if (!(std >= 0) || !isfinite(std))
        return sy_error(SY_ERR_ARG, "normal: std must be finite and >= 0, got %g", std);
    return run_draw(out, g, &d);
}

sy_status sy_rng_bernoulli(sy_tensor *out, sy_rng *g, double p) {
    struct draw d = {.kind = DRAW_BERNOULLI, .a = p};
    sy_status st = check_out("bernoulli", out);
    if (st) return st;
    if (!(p >= 0 && p <= 1))
        return sy_error(SY_ERR_ARG, "bernoulli: p must be in [0, 1], got %g", p);
    return run_draw(out, g, &d);
}

/* Smallest and largest integers the dtype holds exactly. */
static void exact_range(sy_dtype dt, int64_t *min, int64_t *max) {
    switch (dt) {
    case SY_F32: *min = -(INT64_C(1) << 24); *max = INT64_C(1) << 24; break;
    case SY_F64: *min = -(INT64_C(1) << 53); *max = INT64_C(1) << 53; break;
    case SY_U8: *min = 0; *max = 255; break;
    case SY_BOOL: *min = 0; *max = 1; break;
    default: *min = INT64_MIN; *max = INT64_MAX; break;
    }
}

sy_status sy_rng_randint(sy_tensor *out, sy_rng *g, int64_t lo, int64_t hi) {
    struct draw d = {.kind = DRAW_RANDINT, .lo = lo};
    int64_t min, max;
    sy_status st = check_out("randint", out);
    if (st) return st;
    if (hi <= lo)
        return sy_error(SY_ERR_ARG, "randint: expects lo < hi, got lo=%lld, hi=%lld", (long long)lo,
                        (long long)hi);
    exact_range(out->dtype, &min, &max);
    if (lo < min || hi - 1 > max)
        return sy_error(SY_ERR_ARG,
                        "randint: range [%lld, %lld) does not fit dtype %s (values must lie in %lld..%lld)",
                        (long long)lo, (long long)hi, sy_dtype_name(out->dtype), (long long)min,
                        (long long)max);
    d.range = (uint64_t)hi - (uint64_t)lo;
    return run_draw(out, g, &d);
}

sy_status sy_rng_randperm(sy_tensor *out, sy_rng *g) {
    struct stream s;
    int64_t n, stride, i, *p;
    char shape[SY_SHAPE_STRLEN];
    sy_status st = check_out("randperm", out);
    if (st) return st;
    if (out->dtype != SY_I64)
        return sy_error(SY_ERR_DTYPE, "randperm: tensor must be int64, got %s", sy_dtype_name(out->dtype));
    if (out->ndim != 1)
        return sy_error(SY_ERR_SHAPE, "randperm: tensor must be 1-d, got shape %s",
                        sy_shape_str(shape, sizeof shape, out->ndim, out->size));
    n = out->size[0];
    stride = out->stride[0];
    if (n > 1 && stride == 0)
        return sy_error(SY_ERR_ARG, "randperm: tensor is expanded (stride 0); its elements overlap");
    if (!g) g = sy_rng_default();
    p = sy_tensor_data(out);
    for (i = 0; i < n; i++) p[i * stride] = i;
    stream_init(&s, g);
    /* Swap k picks j uniformly in [0, i] for i = n-1 .. 1, from words 2k, 2k+1. */
    for (i = n - 1; i >= 1; i--) {
        uint64_t k = (uint64_t)(n - 1 - i);
        int64_t j = (int64_t)mulhi64(stream_word64(&s, 2 * k), (uint64_t)i + 1), tmp;
        tmp = p[i * stride];
        p[i * stride] = p[j * stride];
        p[j * stride] = tmp;
    }
    if (n > 1) sy_rng_reserve(g, ((uint64_t)(n - 1) * 2 + 3) / 4);
    return SY_OK;
}
