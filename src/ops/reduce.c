/*
** reduce.c -- reductions over one dimension or over all elements: sum, mean,
** prod, max, min, argmax, argmin, var, std. The front end checks arguments,
** picks the result dtype and shape (as PyTorch does) and dispatches to the
** device's reduce_dim; the CPU kernel reads the input through its strides,
** so transposed or sliced inputs are never copied for a one-dim reduction.
*/
#include <math.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/backend.h"
#include "cpu.h"
#include "ops.h"
#include "simd.h"

static const char *const redop_names[SY_REDOP_COUNT] = {
    "sum", "mean", "prod", "max", "min", "argmax", "argmin", "var", "std"};

static int redop_is_extreme(sy_redop op) {
    return op == SY_RED_MAX || op == SY_RED_MIN || op == SY_RED_ARGMAX || op == SY_RED_ARGMIN;
}

/* ------------------------------------------------------------- CPU kernel */

/* Outputs reduced together when the reduced dim is not the innermost one in
** memory: the inner loop then runs across up to MAX_COLS neighbouring
** outputs, so a contiguous input streams in memory order while the
** accumulators stay in cache. */
#define MAX_COLS 4096
/* Fixed-count inner loops of LANES columns, which the compiler turns into
** vector code. */
#define LANES 8

/* One reduction job: n elements along the reduced dim at byte stride rs;
** neighbouring outputs are cs bytes apart in the input and ocs / ics bytes
** apart in out / indices. They are reduced as rows, one after the other
** (rows), or as columns, together. */
struct red_job {
    sy_redop op;
    int64_t n, rs, cs, ocs, ics;
    int correction, rows;
};

/* Per-column work space of one kernel call: acc holds sums (ACC) or the best
** values so far (T); each slot has room for 8 bytes per column. */
struct red_scratch {
    void *acc;
    double *mean, *ss;
    int64_t *pos;
};
#define SCRATCH_SLOTS 4

#define OUT(T, base, stride, j) (*(T *)((base) + (j) * (stride)))
#define ISNAN_F(v) ((v) != (v))
#define ISNAN_NEVER(v) 0

/* Sums of integers and bools: uint64_t accumulators, which wrap like int64
** arithmetic without undefined overflow. Modular sums and products do not
** depend on the order, so these need no fixed one.
** rowsum_/rowss_  m rows, cs bytes apart: the sums (products), and the
**          squared deviations from their means (in double), each row in
**          several partial sums
** colsum_/colss_  the same for m columns at once */
#define INT_SUM_KERNELS(SUF, T)                                                                    \
static uint64_t rowsum1_##SUF(int prod, const char *p, int64_t n, int64_t rs) {                    \
    uint64_t r0 = 0, r1 = 0, r2 = 0, r3 = 0, r4 = 0, r5 = 0, r6 = 0, r7 = 0;                       \
    int64_t k = 0;                                                                                 \
    if (prod) {                                                                                    \
        for (r0 = 1; k < n; k++) r0 *= (uint64_t) * (const T *)(p + k * rs);                       \
        return r0;                                                                                 \
    }                                                                                              \
    if (rs == (int64_t)sizeof(T)) {                                                                \
        const T *x = (const T *)p;                                                                 \
        for (; k + 8 <= n; k += 8) {                                                               \
            r0 += (uint64_t)x[k], r1 += (uint64_t)x[k + 1], r2 += (uint64_t)x[k + 2];              \
            r3 += (uint64_t)x[k + 3], r4 += (uint64_t)x[k + 4], r5 += (uint64_t)x[k + 5];          \
            r6 += (uint64_t)x[k + 6], r7 += (uint64_t)x[k + 7];                                    \
        }                                                                                          \
    }                                                                                              \
    for (; k < n; k++) r0 += (uint64_t) * (const T *)(p + k * rs);                                 \
    return ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));                                      \
}                                                                                                  \
                                                                                                   \
static double rowss1_##SUF(const char *p, int64_t n, int64_t rs, double mean) {                    \
    double r0 = 0, r1 = 0, r2 = 0, r3 = 0, d0, d1, d2, d3;                                         \
    int64_t k = 0;                                                                                 \
    if (rs == (int64_t)sizeof(T)) {                                                                \
        const T *x = (const T *)p;                                                                 \
        for (; k + 4 <= n; k += 4) {                                                               \
            d0 = (double)x[k] - mean, d1 = (double)x[k + 1] - mean;                                \
            d2 = (double)x[k + 2] - mean, d3 = (double)x[k + 3] - mean;                            \
            r0 += d0 * d0, r1 += d1 * d1, r2 += d2 * d2, r3 += d3 * d3;                            \
        }                                                                                          \
    }                                                                                              \
    for (; k < n; k++) {                                                                           \
        d0 = (double)*(const T *)(p + k * rs) - mean;                                              \
        r0 += d0 * d0;                                                                             \
    }                                                                                              \
    return (r0 + r1) + (r2 + r3);                                                                  \
}                                                                                                  \
                                                                                                   \
static void rowsum_##SUF(int prod, const char *p, int64_t n, int64_t rs, int64_t m, int64_t cs,    \
                         uint64_t *restrict acc) {                                                 \
    int64_t j;                                                                                     \
    for (j = 0; j < m; j++) acc[j] = rowsum1_##SUF(prod, p + j * cs, n, rs);                       \
}                                                                                                  \
                                                                                                   \
static void rowss_##SUF(const char *p, int64_t n, int64_t rs, int64_t m, int64_t cs,               \
                        const double *restrict mean, double *restrict ss) {                        \
    int64_t j;                                                                                     \
    for (j = 0; j < m; j++) ss[j] = rowss1_##SUF(p + j * cs, n, rs, mean[j]);                      \
}                                                                                                  \
                                                                                                   \
static void colsum_##SUF(int prod, const char *p, int64_t n, int64_t rs, int64_t m, int64_t cs,    \
                         uint64_t *restrict acc) {                                                 \
    int64_t j, k;                                                                                  \
    int u;                                                                                         \
    for (j = 0; j < m; j++) acc[j] = prod ? 1 : 0;                                                 \
    for (k = 0; k < n; k++) {                                                                      \
        const char *q = p + k * rs;                                                                \
        j = 0;                                                                                     \
        if (cs == (int64_t)sizeof(T)) {                                                            \
            const T *restrict x = (const T *)q;                                                    \
            if (prod)                                                                              \
                for (; j + LANES <= m; j += LANES)                                                 \
                    for (u = 0; u < LANES; u++) acc[j + u] *= (uint64_t)x[j + u];                  \
            else                                                                                   \
                for (; j + LANES <= m; j += LANES)                                                 \
                    for (u = 0; u < LANES; u++) acc[j + u] += (uint64_t)x[j + u];                  \
        }                                                                                          \
        for (; j < m; j++) {                                                                       \
            uint64_t x = (uint64_t) * (const T *)(q + j * cs);                                     \
            if (prod) acc[j] *= x;                                                                 \
            else acc[j] += x;                                                                      \
        }                                                                                          \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
static void colss_##SUF(const char *p, int64_t n, int64_t rs, int64_t m, int64_t cs,               \
                        const double *restrict mean, double *restrict ss) {                        \
    int64_t j, k;                                                                                  \
    int u;                                                                                         \
    double d;                                                                                      \
    for (j = 0; j < m; j++) ss[j] = 0;                                                             \
    for (k = 0; k < n; k++) {                                                                      \
        const char *q = p + k * rs;                                                                \
        j = 0;                                                                                     \
        if (cs == (int64_t)sizeof(T)) {                                                            \
            const T *restrict x = (const T *)q;                                                    \
            for (; j + LANES <= m; j += LANES)                                                     \
                for (u = 0; u < LANES; u++) {                                                      \
                    d = (double)x[j + u] - mean[j + u];                                            \
                    ss[j + u] += d * d;                                                            \
                }                                                                                  \
        }                                                                                          \
        for (; j < m; j++) {                                                                       \
            d = (double)*(const T *)(q + j * cs) - mean[j];                                        \
            ss[j] += d * d;                                                                        \
        }                                                                                          \
    }                                                                                              \
}

/* Sums of float32 and float64, accumulated in double in NL = 32 lanes (an
** array of vectors of doubles the compiler keeps in registers). Every build
** of these kernels does the same IEEE operations on each lane in the same
** order, without FMA, so the bits do not depend on the CPU:
**   _v4  vectors of 4 (SY_SIMD_CLONES: AVX2, or the baseline in SSE2 halves)
**   _v8  vectors of 8, for CPUs with AVX-512: converting floats to doubles is
**        the bottleneck, one instruction per 8 floats instead of 4 (a float32
**        sum of 245,760 values 17 -> 11 us here); under AVX2, GCC splits
**        vectors of 8 badly, hence two builds and not one type.
** rowsum_  m rows, cs bytes apart: in each, lane i takes elements i, i + NL,
**          i + 2 NL, ..., and the lanes are combined by a fixed tree
**          (LANES_FOLD). A block of NL elements that is short (the tail) or
**          strided is first gathered into a buffer padded with the identity
**          (0, or 1 for a product), so the order -- and the bits -- depend
**          on the row's length alone, not on its strides or alignment.
** rowss_   the squared deviations from each row's mean, in the same lanes
**          (a padded element is the mean itself: it adds 0)
** colsum_/colss_  m columns: each column's sum runs down its rows in one
**          chain, whatever the path (CV vectors of adjacent columns in
**          registers at a time when they are contiguous; else an array
**          updated row by row).
** var is two-pass in double: the second pass has no cancellation, unlike a
** sum of squares. */
#define NL 32
/* the column kernels hold CV vectors of adjacent columns (64 with AVX-512:
** a row of 64 floats is read whole, in memory order) */
#define CV 8
typedef double red_v4d __attribute__((vector_size(32)));
typedef double red_v8d __attribute__((vector_size(64)));

#if defined(__x86_64__) && defined(__GLIBC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define RED_V8 1
#define RED_V8_TARGET __attribute__((target("avx512f")))
#else
#define RED_V8 0
#endif

/* v = the elements at x as doubles: a brace list of floats compiles to
** whole-register conversions (__builtin_convertvector splits them) */
#define LOAD_f32_4(v, x)                                                                           \
    do {                                                                                           \
        const float *x_ = (x);                                                                     \
        (v) = (red_v4d){x_[0], x_[1], x_[2], x_[3]};                                               \
    } while (0)
#define LOAD_f32_8(v, x)                                                                           \
    do {                                                                                           \
        const float *x_ = (x);                                                                     \
        (v) = (red_v8d){x_[0], x_[1], x_[2], x_[3], x_[4], x_[5], x_[6], x_[7]};                   \
    } while (0)
#define LOAD_f64_4(v, x) memcpy(&(v), (x), sizeof(v))
#define LOAD_f64_8(v, x) memcpy(&(v), (x), sizeof(v))
#define LOAD_D(v, x) memcpy(&(v), (x), sizeof(v))

/* Over the vectors a[u] of an array of lanes: set them to id, or a[u] op=
** each vector LOADV puts in v (LOADV may use u) */
#define RED_NV(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define LANES_SET(a, id)                                                                           \
    do {                                                                                           \
        int u_;                                                                                    \
        for (u_ = 0; u_ < RED_NV(a); u_++) (a)[u_] = (__typeof__((a)[0])){0} + (id);               \
    } while (0)
#define LANES_ADD(a, v, LOADV)                                                                     \
    do {                                                                                           \
        int u;                                                                                     \
        for (u = 0; u < RED_NV(a); u++) {                                                          \
            LOADV;                                                                                 \
            (a)[u] += (v);                                                                         \
        }                                                                                          \
    } while (0)
#define LANES_MUL(a, v, LOADV)                                                                     \
    do {                                                                                           \
        int u;                                                                                     \
        for (u = 0; u < RED_NV(a); u++) {                                                          \
            LOADV;                                                                                 \
            (a)[u] *= (v);                                                                         \
        }                                                                                          \
    } while (0)
/* a[u] += (v - mv)^2, mv an expression of u */
#define LANES_SQ(a, v, LOADV, mv)                                                                  \
    do {                                                                                           \
        int u;                                                                                     \
        for (u = 0; u < RED_NV(a); u++) {                                                          \
            LOADV;                                                                                 \
            (v) -= (mv);                                                                           \
            (a)[u] += (v) * (v);                                                                   \
        }                                                                                          \
    } while (0)
/* r = the lanes folded: lane i op= lane i + 16 (i < 16), then i op= i + 8,
** then i op= i + 4, then (l0 op l2) op (l1 op l3) -- the same operations
** whatever the vector length */
#define LANES_FOLD(r, a, OP)                                                                       \
    do {                                                                                           \
        red_v4d lo_, hi_;                                                                          \
        int u_;                                                                                    \
        for (u_ = 0; u_ < RED_NV(a) / 2; u_++) (a)[u_] OP## = (a)[u_ + RED_NV(a) / 2];             \
        for (u_ = 0; u_ < RED_NV(a) / 4; u_++) (a)[u_] OP## = (a)[u_ + RED_NV(a) / 4];             \
        memcpy(&lo_, (a), sizeof lo_);                                                             \
        memcpy(&hi_, (const char *)(a) + sizeof lo_, sizeof hi_);                                  \
        lo_ OP## = hi_;                                                                            \
        (r) = (lo_[0] OP lo_[2]) OP (lo_[1] OP lo_[3]);                                            \
    } while (0)

/* row k (byte stride rs) of the columns at q, as T */
#define CROW(T, q, k) ((const T *)((q) + (k) * rs))

#define FLT_GATHER(SUF, T)                                                                         \
/* buf[0..nb) = the r <= nb elements at p (byte stride rs) as doubles, then pad */                 \
SY_INLINE void gather_##SUF(double *buf, const char *p, int64_t r, int64_t rs, double pad,         \
                            int64_t nb) {                                                          \
    int64_t i;                                                                                     \
    for (i = 0; i < r; i++) buf[i] = (double)*(const T *)(p + i * rs);                             \
    for (; i < nb; i++) buf[i] = pad;                                                              \
}

/* The kernels of element type T (SUF) on vectors VT of VL doubles, named
** rowsum_SUF_vVL and so on, built with ATTR. */
#define FLT_SUM_KERNELS(SUF, T, VT, VL, ATTR)                                                      \
ATTR static void rowsum_##SUF##_v##VL(int prod, const char *p, int64_t n, int64_t rs, int64_t m,   \
                                     int64_t cs, double *restrict acc) {                           \
    VT a[NL / VL], v;                                                                              \
    double buf[NL];                                                                                \
    const double id = prod ? 1.0 : 0.0;                                                            \
    int64_t j, k;                                                                                  \
    for (j = 0; j < m; j++) {                                                                      \
        const char *q = p + j * cs;                                                                \
        const T *x = (const T *)q;                                                                 \
        LANES_SET(a, id);                                                                          \
        k = 0;                                                                                     \
        if (rs == (int64_t)sizeof(T)) {                                                            \
            if (prod)                                                                              \
                for (; k + NL <= n; k += NL)                                                       \
                    LANES_MUL(a, v, LOAD_##SUF##_##VL(v, x + k + VL * u));                         \
            else                                                                                   \
                for (; k + NL <= n; k += NL)                                                       \
                    LANES_ADD(a, v, LOAD_##SUF##_##VL(v, x + k + VL * u));                         \
        }                                                                                          \
        for (; k < n; k += NL) {                                                                   \
            gather_##SUF(buf, q + k * rs, n - k < NL ? n - k : NL, rs, id, NL);                    \
            if (prod) LANES_MUL(a, v, LOAD_D(v, buf + VL * u));                                    \
            else LANES_ADD(a, v, LOAD_D(v, buf + VL * u));                                         \
        }                                                                                          \
        if (prod) LANES_FOLD(acc[j], a, *);                                                        \
        else LANES_FOLD(acc[j], a, +);                                                             \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
ATTR static void rowss_##SUF##_v##VL(const char *p, int64_t n, int64_t rs, int64_t m, int64_t cs,  \
                                    const double *restrict mean, double *restrict ss) {            \
    VT a[NL / VL], v, mv;                                                                          \
    double buf[NL];                                                                                \
    int64_t j, k;                                                                                  \
    for (j = 0; j < m; j++) {                                                                      \
        const char *q = p + j * cs;                                                                \
        LANES_SET(a, 0.0);                                                                         \
        mv = a[0] + mean[j];                                                                       \
        k = 0;                                                                                     \
        if (rs == (int64_t)sizeof(T))                                                              \
            for (; k + NL <= n; k += NL)                                                           \
                LANES_SQ(a, v, LOAD_##SUF##_##VL(v, (const T *)q + k + VL * u), mv);               \
        for (; k < n; k += NL) {                                                                   \
            gather_##SUF(buf, q + k * rs, n - k < NL ? n - k : NL, rs, mean[j], NL);               \
            LANES_SQ(a, v, LOAD_D(v, buf + VL * u), mv);                                           \
        }                                                                                          \
        LANES_FOLD(ss[j], a, +);                                                                   \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
ATTR static void colsum_##SUF##_v##VL(int prod, const char *p, int64_t n, int64_t rs, int64_t m,   \
                                     int64_t cs, double *restrict acc) {                           \
    VT a[CV], v;                                                                                   \
    double buf[CV * VL];                                                                           \
    const double id = prod ? 1.0 : 0.0;                                                            \
    int64_t j = 0, k;                                                                              \
    if (cs == (int64_t)sizeof(T)) {                                                                \
        for (; j + CV * VL <= m; j += CV * VL) {                                                   \
            const char *q = p + j * cs;                                                            \
            LANES_SET(a, id);                                                                      \
            if (prod)                                                                              \
                for (k = 0; k < n; k++)                                                            \
                    LANES_MUL(a, v, LOAD_##SUF##_##VL(v, CROW(T, q, k) + VL * u));                 \
            else                                                                                   \
                for (k = 0; k < n; k++)                                                            \
                    LANES_ADD(a, v, LOAD_##SUF##_##VL(v, CROW(T, q, k) + VL * u));                 \
            memcpy(acc + j, a, sizeof a);                                                          \
        }                                                                                          \
        if (j < m) {                                                                               \
            LANES_SET(a, id);                                                                      \
            for (k = 0; k < n; k++) {                                                              \
                gather_##SUF(buf, p + k * rs + j * cs, m - j, cs, id, CV * VL);                    \
                if (prod) LANES_MUL(a, v, LOAD_D(v, buf + VL * u));                                \
                else LANES_ADD(a, v, LOAD_D(v, buf + VL * u));                                     \
            }                                                                                      \
            memcpy(buf, a, sizeof a);                                                              \
            memcpy(acc + j, buf, sizeof(double) * (size_t)(m - j));                                \
        }                                                                                          \
        return;                                                                                    \
    }                                                                                              \
    for (j = 0; j < m; j++) acc[j] = id;                                                           \
    for (k = 0; k < n; k++) {                                                                      \
        const char *q = p + k * rs;                                                                \
        if (prod)                                                                                  \
            for (j = 0; j < m; j++) acc[j] *= (double)*(const T *)(q + j * cs);                    \
        else                                                                                       \
            for (j = 0; j < m; j++) acc[j] += (double)*(const T *)(q + j * cs);                    \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
ATTR static void colss_##SUF##_v##VL(const char *p, int64_t n, int64_t rs, int64_t m, int64_t cs,  \
                                    const double *restrict mean, double *restrict ss) {            \
    VT a[CV], v, mv[CV];                                                                           \
    double buf[CV * VL];                                                                           \
    int64_t j = 0, k;                                                                              \
    double d;                                                                                      \
    if (cs == (int64_t)sizeof(T)) {                                                                \
        for (; j < m; j += CV * VL) {                                                              \
            const int64_t w = m - j < CV * VL ? m - j : CV * VL;                                   \
            const char *q = p + j * cs;                                                            \
            memcpy(buf, mean + j, sizeof(double) * (size_t)w);                                     \
            memset(buf + w, 0, sizeof(double) * (size_t)(CV * VL - w));                            \
            memcpy(mv, buf, sizeof mv);                                                            \
            LANES_SET(a, 0.0);                                                                     \
            if (w == CV * VL)                                                                      \
                for (k = 0; k < n; k++)                                                            \
                    LANES_SQ(a, v, LOAD_##SUF##_##VL(v, CROW(T, q, k) + VL * u), mv[u]);           \
            else                                                                                   \
                for (k = 0; k < n; k++) {                                                          \
                    gather_##SUF(buf, q + k * rs, w, cs, 0.0, CV * VL);                            \
                    LANES_SQ(a, v, LOAD_D(v, buf + VL * u), mv[u]);                                \
                }                                                                                  \
            memcpy(buf, a, sizeof a);                                                              \
            memcpy(ss + j, buf, sizeof(double) * (size_t)w);                                       \
        }                                                                                          \
        return;                                                                                    \
    }                                                                                              \
    for (j = 0; j < m; j++) ss[j] = 0;                                                             \
    for (k = 0; k < n; k++) {                                                                      \
        const char *q = p + k * rs;                                                                \
        for (j = 0; j < m; j++) {                                                                  \
            d = (double)*(const T *)(q + j * cs) - mean[j];                                        \
            ss[j] += d * d;                                                                        \
        }                                                                                          \
    }                                                                                              \
}

/* The kernels block_ calls: the vectors of 8 where the CPU has AVX-512 */
#if RED_V8
#define RED_PICK(SUF, fn, ...)                                                                     \
    (__builtin_cpu_supports("avx512f") ? fn##_##SUF##_v8(__VA_ARGS__)                              \
                                       : fn##_##SUF##_v4(__VA_ARGS__))
#define FLT_V8_KERNELS(SUF, T) FLT_SUM_KERNELS(SUF, T, red_v8d, 8, RED_V8_TARGET)
#else
#define RED_PICK(SUF, fn, ...) fn##_##SUF##_v4(__VA_ARGS__)
#define FLT_V8_KERNELS(SUF, T)
#endif

#define FLT_KERNELS(SUF, T)                                                                        \
FLT_GATHER(SUF, T)                                                                                 \
FLT_SUM_KERNELS(SUF, T, red_v4d, 4, SY_SIMD_CLONES)                                                \
FLT_V8_KERNELS(SUF, T)                                                                             \
static void rowsum_##SUF(int prod, const char *p, int64_t n, int64_t rs, int64_t m, int64_t cs,    \
                         double *acc) {                                                            \
    RED_PICK(SUF, rowsum, prod, p, n, rs, m, cs, acc);                                             \
}                                                                                                  \
static void rowss_##SUF(const char *p, int64_t n, int64_t rs, int64_t m, int64_t cs,               \
                        const double *mean, double *ss) {                                          \
    RED_PICK(SUF, rowss, p, n, rs, m, cs, mean, ss);                                               \
}                                                                                                  \
static void colsum_##SUF(int prod, const char *p, int64_t n, int64_t rs, int64_t m, int64_t cs,    \
                         double *acc) {                                                            \
    RED_PICK(SUF, colsum, prod, p, n, rs, m, cs, acc);                                             \
}                                                                                                  \
static void colss_##SUF(const char *p, int64_t n, int64_t rs, int64_t m, int64_t cs,               \
                        const double *mean, double *ss) {                                          \
    RED_PICK(SUF, colss, p, n, rs, m, cs, mean, ss);                                               \
}

/* The first maximum (minimum) of a contiguous float32 row of n >= 8, as
** rowext_ finds it, in two vector passes: the extreme value and whether any
** lane is NaN (the last vector overlaps the one before it rather than being
** padded), then the first position holding a NaN, else the first equal to
** the extreme (+0 and -0 are equal, as they are to rowext_'s compare, and
** the value returned is the one stored there, so the sign is rowext_'s).
** Other rows return 0 and take rowext_'s loop. */
SY_SIMD_CLONES static int rowext_f32_vec(int want_max, const char *p, int64_t n, int64_t rs,
                                         float *best, int64_t *pos) {
    const float *x = (const float *)p;
    sy_v8f v, e, eb;
    sy_v8i nan = {0};
    int64_t i, k;
    float m;
    if (rs != (int64_t)sizeof(float) || n < 8) return 0;
    sy_v8_load(&e, x, 8);
    for (i = 8; i < n; i += 8) {
        sy_v8_load(&v, x + (i + 8 <= n ? i : n - 8), 8);
        nan |= v != v;
        if (want_max) sy_v8_select(&e, v > e, &v, &e);
        else sy_v8_select(&e, v < e, &v, &e);
    }
    nan |= e != e;   /* the first vector's NaN lanes are kept in e */
    if (sy_v8_any(&nan)) {
        for (k = 0; x[k] == x[k]; k++) {}
        *best = x[k];
        *pos = k;
        return 1;
    }
    if (want_max) {
        m = sy_v8_max(&e);
    } else {
        e = -e;
        m = -sy_v8_max(&e);
    }
    sy_v8_set1(&eb, m);
    for (i = 0;; i += 8) {
        const int64_t at = i + 8 <= n ? i : n - 8;
        sy_v8i eq;
        sy_v8_load(&v, x + at, 8);
        eq = v == eb;
        if (sy_v8_any(&eq)) {
            for (k = at; x[k] != m; k++) {}
            *best = x[k];
            *pos = k;
            return 1;
        }
    }
}

#define ROWEXT_SCALAR(want_max, p, n, rs, best, pos) 0

/* Kernels for one input element type T, on top of its sum kernels above.
**   ACC    accumulator of sums and products: double for floats (float32 sums
**          keep far more digits than the result needs), uint64_t for integers
**   SUMT   C type of a sum/prod result; MEANT of mean/var/std
**   ACC_D  an accumulator as double (for the mean)
**   ISNAN  NaN test (constant 0 for integers)
**   ROWVEC a vector row extreme that may take the row (returns 1), or
**          ROWEXT_SCALAR
** rowext_/colext_ first maximum (minimum) and its position; NaN wins and the
**          first NaN is kept, as PyTorch on CPU
** block_   one block of m <= MAX_COLS outputs, written to out (and indices):
**          m rows when jb->rows, else m columns */
#define RED_KERNELS(SUF, T, ACC, SUMT, MEANT, ACC_D, ISNAN, ROWVEC)                                \
/* !(x <= b) is x > b or x NaN: one compare per element in the common case */                      \
static void rowext_##SUF(int want_max, const char *p, int64_t n, int64_t rs, T *best,              \
                         int64_t *pos) {                                                           \
    T b = *(const T *)p;                                                                           \
    int64_t bp = 0, k;                                                                             \
    if (ROWVEC(want_max, p, n, rs, best, pos)) return;                                             \
    if (!ISNAN(b)) {                                                                               \
        if (want_max) {                                                                            \
            for (k = 1; k < n; k++) {                                                              \
                T x = *(const T *)(p + k * rs);                                                    \
                if (!(x <= b)) {                                                                   \
                    b = x, bp = k;                                                                 \
                    if (ISNAN(x)) break;                                                           \
                }                                                                                  \
            }                                                                                      \
        } else {                                                                                   \
            for (k = 1; k < n; k++) {                                                              \
                T x = *(const T *)(p + k * rs);                                                    \
                if (!(x >= b)) {                                                                   \
                    b = x, bp = k;                                                                 \
                    if (ISNAN(x)) break;                                                           \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    *best = b;                                                                                     \
    *pos = bp;                                                                                     \
}                                                                                                  \
                                                                                                   \
/* branch-free across columns; a NaN best is never replaced */                                     \
static void colext_##SUF(int want_max, const char *p, int64_t n, int64_t rs, int64_t m,            \
                         int64_t cs, T *restrict best, int64_t *restrict pos) {                    \
    int64_t j, k;                                                                                  \
    for (j = 0; j < m; j++) {                                                                      \
        best[j] = *(const T *)(p + j * cs);                                                        \
        pos[j] = 0;                                                                                \
    }                                                                                              \
    for (k = 1; k < n; k++) {                                                                      \
        const char *q = p + k * rs;                                                                \
        if (want_max) {                                                                            \
            for (j = 0; j < m; j++) {                                                              \
                T x = *(const T *)(q + j * cs), b = best[j];                                       \
                int take = !(x <= b) & !ISNAN(b);                                                  \
                best[j] = take ? x : b;                                                            \
                pos[j] = take ? k : pos[j];                                                        \
            }                                                                                      \
        } else {                                                                                   \
            for (j = 0; j < m; j++) {                                                              \
                T x = *(const T *)(q + j * cs), b = best[j];                                       \
                int take = !(x >= b) & !ISNAN(b);                                                  \
                best[j] = take ? x : b;                                                            \
                pos[j] = take ? k : pos[j];                                                        \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
}                                                                                                  \
                                                                                                   \
static void block_##SUF(const struct red_job *jb, const struct red_scratch *sc, const char *p,     \
                        char *o, char *ix, int64_t m) {                                            \
    int64_t j, n = jb->n;                                                                          \
    ACC *acc = (ACC *)sc->acc;                                                                     \
    double *mean = sc->mean, *ss = sc->ss;                                                         \
    switch (jb->op) {                                                                              \
    case SY_RED_SUM:                                                                               \
    case SY_RED_PROD:                                                                              \
    case SY_RED_MEAN:                                                                              \
        if (jb->rows) rowsum_##SUF(jb->op == SY_RED_PROD, p, n, jb->rs, m, jb->cs, acc);           \
        else colsum_##SUF(jb->op == SY_RED_PROD, p, n, jb->rs, m, jb->cs, acc);                    \
        if (jb->op == SY_RED_MEAN)                                                                 \
            for (j = 0; j < m; j++) OUT(MEANT, o, jb->ocs, j) = (MEANT)(ACC_D(acc[j]) / (double)n); \
        else                                                                                       \
            for (j = 0; j < m; j++) OUT(SUMT, o, jb->ocs, j) = (SUMT)acc[j];                       \
        break;                                                                                     \
    case SY_RED_VAR:                                                                               \
    case SY_RED_STD: {                                                                             \
        /* divisor max(0, n - correction), as PyTorch: NaN or inf, not an error */                 \
        double div = n > jb->correction ? (double)(n - jb->correction) : 0.0;                      \
        if (jb->rows) rowsum_##SUF(0, p, n, jb->rs, m, jb->cs, acc);                               \
        else colsum_##SUF(0, p, n, jb->rs, m, jb->cs, acc);                                        \
        for (j = 0; j < m; j++) mean[j] = ACC_D(acc[j]) / (double)n;                               \
        if (jb->rows) rowss_##SUF(p, n, jb->rs, m, jb->cs, mean, ss);                              \
        else colss_##SUF(p, n, jb->rs, m, jb->cs, mean, ss);                                       \
        for (j = 0; j < m; j++) {                                                                  \
            double v = ss[j] / div;                                                                \
            OUT(MEANT, o, jb->ocs, j) = (MEANT)(jb->op == SY_RED_STD ? sqrt(v) : v);               \
        }                                                                                          \
        break;                                                                                     \
    }                                                                                              \
    default: {                                                                                     \
        T *best = (T *)sc->acc;                                                                    \
        int want_max = jb->op == SY_RED_MAX || jb->op == SY_RED_ARGMAX;                            \
        if (jb->rows)                                                                              \
            for (j = 0; j < m; j++)                                                                \
                rowext_##SUF(want_max, p + j * jb->cs, n, jb->rs, best + j, sc->pos + j);          \
        else colext_##SUF(want_max, p, n, jb->rs, m, jb->cs, best, sc->pos);                       \
        if (jb->op == SY_RED_ARGMAX || jb->op == SY_RED_ARGMIN) {                                  \
            for (j = 0; j < m; j++) OUT(int64_t, o, jb->ocs, j) = sc->pos[j];                      \
        } else {                                                                                   \
            for (j = 0; j < m; j++) OUT(T, o, jb->ocs, j) = best[j];                               \
            if (ix)                                                                                \
                for (j = 0; j < m; j++) OUT(int64_t, ix, jb->ics, j) = sc->pos[j];                 \
        }                                                                                          \
    }                                                                                              \
    }                                                                                              \
}

#define ACC_D_FLOAT(x) (x)
#define ACC_D_INT(x) ((double)(int64_t)(x))

FLT_KERNELS(f32, float)
FLT_KERNELS(f64, double)
INT_SUM_KERNELS(i64, int64_t)
INT_SUM_KERNELS(u8, uint8_t)
RED_KERNELS(f32, float, double, float, float, ACC_D_FLOAT, ISNAN_F, rowext_f32_vec)
RED_KERNELS(f64, double, double, double, double, ACC_D_FLOAT, ISNAN_F, ROWEXT_SCALAR)
RED_KERNELS(i64, int64_t, uint64_t, int64_t, float, ACC_D_INT, ISNAN_NEVER, ROWEXT_SCALAR)
/* bool is stored as uint8 0/1, so it shares these */
RED_KERNELS(u8, uint8_t, uint64_t, int64_t, float, ACC_D_INT, ISNAN_NEVER, ROWEXT_SCALAR)

typedef void (*block_fn)(const struct red_job *jb, const struct red_scratch *sc, const char *p,
                         char *o, char *ix, int64_t m);

static int64_t abs64(int64_t x) { return x < 0 ? -x : x; }

/* out (and indices) have a's shape with `dim` of size 1 and the dtypes the
** front end chose; a->size[dim] > 0 for MAX/MIN/ARG*. For ARGMAX/ARGMIN the
** positions go to out and indices is NULL; for MAX/MIN indices may be NULL. */
sy_status sy_cpu_reduce_dim(sy_redop op, sy_tensor *out, sy_tensor *indices, const sy_tensor *a,
                            int dim, int correction) {
    /* kept dims (size > 1), merged where contiguous in a, out and indices */
    int64_t sz[SY_MAX_DIMS], sa[SY_MAX_DIMS], so[SY_MAX_DIMS], si[SY_MAX_DIMS];
    int64_t idx[SY_MAX_DIMS] = {0}, m = 1, j0, cols;
    const int64_t ea = sy_dtype_size(a->dtype), eo = sy_dtype_size(out->dtype), ei = 8;
    struct red_job jb;
    struct red_scratch sc;
    block_fn block;
    char *buf;
    size_t nbytes;
    int nk = 0, i, col = -1;

    for (i = 0; i < a->ndim; i++)
        if (i != dim && a->size[i] == 0) return SY_OK;   /* no outputs */
    for (i = 0; i < a->ndim; i++) {
        int64_t ist = indices ? indices->stride[i] : 0;
        if (i == dim || a->size[i] == 1) continue;
        if (nk > 0 && sa[nk - 1] == a->stride[i] * a->size[i] &&
            so[nk - 1] == out->stride[i] * a->size[i] && si[nk - 1] == ist * a->size[i]) {
            sz[nk - 1] *= a->size[i];
            sa[nk - 1] = a->stride[i], so[nk - 1] = out->stride[i], si[nk - 1] = ist;
            continue;
        }
        sz[nk] = a->size[i], sa[nk] = a->stride[i], so[nk] = out->stride[i], si[nk] = ist;
        nk++;
    }

    jb.op = op;
    jb.n = a->size[dim];
    jb.rs = a->stride[dim] * ea;
    jb.correction = correction;
    jb.cs = jb.ocs = jb.ics = 0;
    jb.rows = 1;
    /* The kept dim nearest in memory gives the outputs of one block: in
    ** column mode when it is closer together than the reduced one (reducing
    ** a non-last dim) or when rows are too short for the row kernel's lanes,
    ** else in row mode. */
    for (i = 0; i < nk; i++)
        if (col < 0 || abs64(sa[i]) < abs64(sa[col])) col = i;
    if (col >= 0) {
        jb.rows = !(abs64(sa[col]) < abs64(a->stride[dim]) || jb.n < 8);
        m = sz[col];
        jb.cs = sa[col] * ea, jb.ocs = so[col] * eo, jb.ics = si[col] * ei;
        for (i = col; i < nk - 1; i++)
            sz[i] = sz[i + 1], sa[i] = sa[i + 1], so[i] = so[i + 1], si[i] = si[i + 1];
        nk--;
    }

    switch (a->dtype) {
    case SY_F32: block = block_f32; break;
    case SY_F64: block = block_f64; break;
    case SY_I64: block = block_i64; break;
    default: block = block_u8; break;   /* SY_U8, SY_BOOL */
    }
    cols = m < MAX_COLS ? m : MAX_COLS;
    nbytes = (size_t)cols * 8 * SCRATCH_SLOTS;
    if (!(buf = sy_mem_alloc(nbytes))) return SY_ERR_OOM;
    sc.acc = buf;
    sc.mean = (double *)(buf + cols * 8);
    sc.ss = (double *)(buf + cols * 16);
    sc.pos = (int64_t *)(buf + cols * 24);

    for (;;) {
        const char *p = (const char *)sy_tensor_data(a);
        char *o = (char *)sy_tensor_data(out), *ix = indices ? (char *)sy_tensor_data(indices) : NULL;
        for (i = 0; i < nk; i++) {
            p += idx[i] * sa[i] * ea;
            o += idx[i] * so[i] * eo;
            if (ix) ix += idx[i] * si[i] * ei;
        }
        for (j0 = 0; j0 < m; j0 += cols)
            block(&jb, &sc, p + j0 * jb.cs, o + j0 * jb.ocs, ix ? ix + j0 * jb.ics : NULL,
                  m - j0 < cols ? m - j0 : cols);
        for (i = nk - 1; i >= 0; i--) {
            if (++idx[i] < sz[i]) break;
            idx[i] = 0;
        }
        if (i < 0) break;
    }
    sy_mem_free(buf, nbytes);
    return SY_OK;
}

/* ------------------------------------------------------------- front end */

/* Result dtype, following PyTorch: sums and products of integers and bools
** widen to int64; max/min keep the dtype; positions are int64. PyTorch
** refuses mean/var/std of integers; synlua gives float32 instead (the
** default float type), so `mask:mean()` is the fraction of kept weights. */
static sy_dtype result_dtype(sy_redop op, sy_dtype in) {
    switch (op) {
    case SY_RED_SUM:
    case SY_RED_PROD: return sy_dtype_is_float(in) ? in : SY_I64;
    case SY_RED_MEAN:
    case SY_RED_VAR:
    case SY_RED_STD: return sy_dtype_is_float(in) ? in : SY_F32;
    case SY_RED_ARGMAX:
    case SY_RED_ARGMIN: return SY_I64;
    default: return in;
    }
}

/* a as a 1-d tensor for a reduction over all elements. When element order
** does not matter (no positions wanted), dims are first permuted into memory
** order, so transposed or permuted inputs are viewed rather than copied. */
static sy_status flatten_input(sy_tensor **flat, const sy_tensor *a, int order_free) {
    int64_t n = sy_tensor_numel(a);
    int perm[SY_MAX_DIMS], i, k;
    sy_tensor *pv;
    sy_status st;
    if (!order_free) return sy_tensor_reshape(flat, a, 1, &n);
    for (i = 0; i < a->ndim; i++) {   /* stable insertion sort, largest stride first */
        int d = i;
        for (k = i; k > 0 && a->stride[perm[k - 1]] < a->stride[d]; k--) perm[k] = perm[k - 1];
        perm[k] = d;
    }
    if ((st = sy_tensor_permute(&pv, a, perm))) return st;
    st = sy_tensor_reshape(flat, pv, 1, &n);
    sy_tensor_release(pv);
    return st;
}

/* A new tensor of the result shape and the view of it the kernel writes:
** the input's shape with the reduced dim kept as 1 (or [1] for all dims). */
static sy_status make_result(sy_tensor **res, sy_tensor **kview, sy_dtype dt, const sy_tensor *a,
                             int dim, int keepdim) {
    int64_t rsize[SY_MAX_DIMS], ksize[SY_MAX_DIMS];
    int rn = 0, kn, i;
    sy_status st;
    for (i = 0; i < a->ndim; i++) {
        ksize[i] = (dim == SY_ALL_DIMS || i == dim) ? 1 : a->size[i];
        if (keepdim) rsize[rn++] = ksize[i];
        else if (dim != SY_ALL_DIMS && i != dim) rsize[rn++] = a->size[i];
    }
    kn = a->ndim;
    if (dim == SY_ALL_DIMS) ksize[0] = 1, kn = 1;
    *kview = NULL;
    if ((st = sy_tensor_empty(res, dt, rn, rsize))) return st;
    if ((st = sy_tensor_view(kview, *res, kn, ksize))) {
        sy_tensor_release(*res);
        *res = NULL;
    }
    return st;
}

sy_status sy_reduce(sy_tensor **out, sy_tensor **indices, sy_redop op, const sy_tensor *a, int dim,
                    int keepdim, int correction) {
    const sy_backend *be;
    const char *name;
    const sy_tensor *src = a;
    sy_tensor *flat = NULL, *ov = NULL, *iv = NULL, *res_i = NULL;
    int want_idx, rd;
    int64_t n;
    sy_status st;
    char shape[SY_SHAPE_STRLEN];

    *out = NULL;
    if (indices) *indices = NULL;
    if (op >= SY_REDOP_COUNT) return sy_error(SY_ERR_ARG, "reduce: unknown op %d", (int)op);
    name = redop_names[op];
    if (dim != SY_ALL_DIMS && (dim < 0 || dim >= a->ndim)) {
        if (a->ndim == 0)
            return sy_error(SY_ERR_INDEX,
                            "%s: dimension %d out of range for a 0-d tensor (reduce it over all "
                            "dimensions)", name, dim);
        return sy_error(SY_ERR_INDEX, "%s: dimension %d out of range for a %d-d tensor", name, dim,
                        a->ndim);
    }
    if ((op == SY_RED_VAR || op == SY_RED_STD) && correction < 0)
        return sy_error(SY_ERR_ARG, "%s: correction %d must not be negative", name, correction);
    n = dim == SY_ALL_DIMS ? sy_tensor_numel(a) : a->size[dim];
    if (redop_is_extreme(op) && n == 0)
        return sy_error(SY_ERR_SHAPE,
                        "%s: cannot reduce over an empty dimension (input shape %s): the %s of no "
                        "elements is undefined", name,
                        sy_shape_str(shape, sizeof shape, a->ndim, a->size), name);
    if (!(be = sy_backend_for(a->storage->device))) return SY_ERR_DEVICE;

    want_idx = indices && (op == SY_RED_MAX || op == SY_RED_MIN);
    if (dim == SY_ALL_DIMS) {
        if ((st = flatten_input(&flat, a, !want_idx && op != SY_RED_ARGMAX && op != SY_RED_ARGMIN)))
            return st;
        src = flat;
        rd = 0;
    } else {
        rd = dim;
    }
    if ((st = make_result(out, &ov, result_dtype(op, a->dtype), a, dim, keepdim))) goto done;
    if (want_idx && (st = make_result(&res_i, &iv, SY_I64, a, dim, keepdim))) goto done;
    st = be->reduce_dim(op, ov, iv, src, rd, correction);

done:
    sy_tensor_release(flat);
    sy_tensor_release(ov);
    sy_tensor_release(iv);
    if (st) {
        sy_tensor_release(*out);
        sy_tensor_release(res_i);
        *out = NULL;
        return st;
    }
    if (indices) *indices = res_i;
    return SY_OK;
}
