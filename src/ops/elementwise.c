/*
** elementwise.c -- broadcasting binary ops, unary ops, clamp and where:
** the front ends (argument checks, result dtype and shape) and the CPU
** kernels. float32 and float64 operands of one dtype take typed loops that
** the compiler vectorises (AVX2 where the CPU has it: SY_SIMD_CLONES); mixed
** dtypes go through double. The CPU kernels run through sy_iter_run_split,
** which splits large tensors across the pool (the row functions only read
** their context).
*/
#include <math.h>
#include <string.h>

#include "../core/backend.h"
#include "../core/iter.h"
#include "cpu.h"
#include "ops.h"
#include "simd.h"

static const char *const binop_names[SY_BINOP_COUNT] = {
    "add", "sub", "mul", "div", "pow", "maximum", "minimum", "fmod",
    "eq",  "ne",  "lt",  "le",  "gt",  "ge",      "logical_and", "logical_or"};
static const char *const unop_names[SY_UNOP_COUNT] = {
    "neg",  "abs",  "exp",   "log",  "sqrt",  "rsqrt", "tanh",  "sigmoid", "relu",   "sin", "cos",
    "floor", "ceil", "round", "sign", "logical_not", "log1p", "expm1", "square", "reciprocal",
    "isnan"};

const char *sy_binop_name(sy_binop op) { return op < SY_BINOP_COUNT ? binop_names[op] : "?"; }
const char *sy_unop_name(sy_unop op) { return op < SY_UNOP_COUNT ? unop_names[op] : "?"; }

static int binop_is_predicate(sy_binop op) { return op >= SY_OP_EQ; }

/* ------------------------------------------------------------- scalar math */

static double bin_apply(sy_binop op, double x, double y) {
    switch (op) {
    case SY_OP_ADD: return x + y;
    case SY_OP_SUB: return x - y;
    case SY_OP_MUL: return x * y;
    case SY_OP_DIV: return x / y;
    case SY_OP_POW: return pow(x, y);
    case SY_OP_MAXIMUM: return (x != x || x > y) ? x : y;   /* NaN propagates */
    case SY_OP_MINIMUM: return (x != x || x < y) ? x : y;
    case SY_OP_FMOD: return fmod(x, y);
    case SY_OP_EQ: return x == y;
    case SY_OP_NE: return x != y;
    case SY_OP_LT: return x < y;
    case SY_OP_LE: return x <= y;
    case SY_OP_GT: return x > y;
    case SY_OP_GE: return x >= y;
    case SY_OP_AND: return x != 0 && y != 0;
    case SY_OP_OR: return x != 0 || y != 0;
    default: return 0;
    }
}

static double un_apply(sy_unop op, double x) {
    switch (op) {
    case SY_OP_NEG: return -x;
    case SY_OP_ABS: return fabs(x);
    case SY_OP_EXP: return exp(x);
    case SY_OP_LOG: return log(x);
    case SY_OP_SQRT: return sqrt(x);
    case SY_OP_RSQRT: return 1.0 / sqrt(x);
    case SY_OP_TANH: return tanh(x);
    case SY_OP_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case SY_OP_RELU: return x > 0 ? x : (x != x ? x : 0);
    case SY_OP_SIN: return sin(x);
    case SY_OP_COS: return cos(x);
    case SY_OP_FLOOR: return floor(x);
    case SY_OP_CEIL: return ceil(x);
    case SY_OP_ROUND: return nearbyint(x);   /* half to even, as torch.round */
    case SY_OP_SIGN: return x > 0 ? 1 : x < 0 ? -1 : x;
    case SY_OP_NOT: return x == 0;
    case SY_OP_LOG1P: return log1p(x);
    case SY_OP_EXPM1: return expm1(x);
    case SY_OP_SQUARE: return x * x;
    case SY_OP_RECIPROCAL: return 1.0 / x;
    case SY_OP_ISNAN: return x != x;
    default: return 0;
    }
}

/* --------------------------------------------------------- binary kernels */

struct bin_ctx {
    sy_binop op;
    sy_dtype dt[3];   /* out, a, b */
};

/* One typed loop per (type, op): a contiguous variant, a scalar-b variant
** (the common `t * 2`), and a strided fallback. */
#define BIN_ROW(T, EXPR)                                                                  \
    do {                                                                                  \
        const int64_t es = (int64_t)sizeof(T);                                            \
        if (bs[0] == es && bs[1] == es && bs[2] == es) {                                  \
            T *o = (T *)p[0];                                                             \
            const T *xa = (const T *)p[1], *xb = (const T *)p[2];                         \
            for (i = 0; i < n; i++) { T x = xa[i], y = xb[i]; o[i] = (EXPR); }            \
        } else if (bs[0] == es && bs[1] == es && bs[2] == 0) {                            \
            T *o = (T *)p[0];                                                             \
            const T *xa = (const T *)p[1];                                                \
            const T y = *(const T *)p[2];                                                 \
            for (i = 0; i < n; i++) { T x = xa[i]; o[i] = (EXPR); }                       \
        } else {                                                                          \
            for (i = 0; i < n; i++) {                                                     \
                T x = *(const T *)(p[1] + i * bs[1]), y = *(const T *)(p[2] + i * bs[2]); \
                *(T *)(p[0] + i * bs[0]) = (EXPR);                                        \
            }                                                                             \
        }                                                                                 \
    } while (0)

/* x ^ e for a scalar e that PyTorch computes by multiplication or sqrt
** (its pow_tensor_scalar: e = 0.5, 1, 2, 3, -1, -2; here -2 is (1/x)^2,
** which stays nonzero where x^2 overflows); libm's pow costs ~8 ns an
** element here. Other exponents fall through to pow. sqrt differs from pow
** at -0 and -inf only. */
#define POW_SCALAR(T, SQRTF)                                                     \
    do {                                                                         \
        T e;                                                                     \
        if (bs[2] != 0) break;                                                   \
        e = *(const T *)p[2];                                                    \
        if (e == 2) BIN_ROW(T, ((void)y, x * x));                                \
        else if (e == 3) BIN_ROW(T, ((void)y, x * x * x));                       \
        else if (e == 1) BIN_ROW(T, ((void)y, x));                               \
        else if (e == -1) BIN_ROW(T, ((void)y, (T)1 / x));                       \
        else if (e == -2) BIN_ROW(T, ((void)y, ((T)1 / x) * ((T)1 / x)));         \
        else if (e == (T)0.5) /* +0 at -0 and +inf at -inf, as pow gives */      \
            BIN_ROW(T, ((void)y, x == 0 ? (T)0 : x == -(T)INFINITY ? (T)INFINITY : SQRTF(x))); \
        else break;                                                              \
        return 1;                                                                \
    } while (0)

#define BIN_FLOAT_CASES(T, POWF, FMODF, SQRTF)                                   \
    switch (c->op) {                                                             \
    case SY_OP_ADD: BIN_ROW(T, x + y); return 1;                                 \
    case SY_OP_SUB: BIN_ROW(T, x - y); return 1;                                 \
    case SY_OP_MUL: BIN_ROW(T, x * y); return 1;                                 \
    case SY_OP_DIV: BIN_ROW(T, x / y); return 1;                                 \
    case SY_OP_POW:                                                              \
        POW_SCALAR(T, SQRTF);                                                    \
        BIN_ROW(T, POWF(x, y));                                                  \
        return 1;                                                                \
    case SY_OP_MAXIMUM: BIN_ROW(T, (x != x || x > y) ? x : y); return 1;         \
    case SY_OP_MINIMUM: BIN_ROW(T, (x != x || x < y) ? x : y); return 1;         \
    case SY_OP_FMOD: BIN_ROW(T, FMODF(x, y)); return 1;                          \
    default: return 0;                                                           \
    }

SY_SIMD_CLONES static int bin_row_f32(const struct bin_ctx *c, int64_t n, char **p, const int64_t *bs) {
    int64_t i;
    BIN_FLOAT_CASES(float, powf, fmodf, sqrtf)
}

SY_SIMD_CLONES static int bin_row_f64(const struct bin_ctx *c, int64_t n, char **p, const int64_t *bs) {
    int64_t i;
    BIN_FLOAT_CASES(double, pow, fmod, sqrt)
}

/* int64 arithmetic stays exact (no trip through double). */
static int bin_row_i64(const struct bin_ctx *c, int64_t n, char **p, const int64_t *bs) {
    int64_t i;
    switch (c->op) {
    case SY_OP_ADD: BIN_ROW(int64_t, (int64_t)((uint64_t)x + (uint64_t)y)); return 1;
    case SY_OP_SUB: BIN_ROW(int64_t, (int64_t)((uint64_t)x - (uint64_t)y)); return 1;
    case SY_OP_MUL: BIN_ROW(int64_t, (int64_t)((uint64_t)x * (uint64_t)y)); return 1;
    case SY_OP_MAXIMUM: BIN_ROW(int64_t, x > y ? x : y); return 1;
    case SY_OP_MINIMUM: BIN_ROW(int64_t, x < y ? x : y); return 1;
    default: return 0;
    }
}

/* float32 comparisons into bool: dense rows, dense against a scalar (the
** common `t:gt(0)`), and strided. */
SY_SIMD_CLONES static int cmp_row_f32(const struct bin_ctx *c, int64_t n, char **p,
                                      const int64_t *bs) {
    int64_t i;
#define CMP(EXPR)                                                              \
    do {                                                                       \
        uint8_t *o = (uint8_t *)p[0];                                          \
        const float *xa = (const float *)p[1], *xb = (const float *)p[2];      \
        if (bs[0] == 1 && bs[1] == 4 && bs[2] == 4) {                          \
            for (i = 0; i < n; i++) {                                          \
                const float x = xa[i], y = xb[i];                              \
                o[i] = (uint8_t)(EXPR);                                        \
            }                                                                  \
        } else if (bs[0] == 1 && bs[1] == 4 && bs[2] == 0) {                   \
            const float y = xb[0];                                             \
            for (i = 0; i < n; i++) {                                          \
                const float x = xa[i];                                         \
                o[i] = (uint8_t)(EXPR);                                        \
            }                                                                  \
        } else {                                                               \
            for (i = 0; i < n; i++) {                                          \
                const float x = *(const float *)(p[1] + i * bs[1]);            \
                const float y = *(const float *)(p[2] + i * bs[2]);            \
                *(uint8_t *)(p[0] + i * bs[0]) = (uint8_t)(EXPR);              \
            }                                                                  \
        }                                                                      \
        return 1;                                                              \
    } while (0)
    switch (c->op) {
    case SY_OP_EQ: CMP(x == y);
    case SY_OP_NE: CMP(x != y);
    case SY_OP_LT: CMP(x < y);
    case SY_OP_LE: CMP(x <= y);
    case SY_OP_GT: CMP(x > y);
    case SY_OP_GE: CMP(x >= y);
    default: return 0;
    }
#undef CMP
}

static void bin_row(int64_t n, char **p, const int64_t *bs, void *ctx) {
    const struct bin_ctx *c = ctx;
    int64_t i;
    if (c->dt[0] == c->dt[1] && c->dt[1] == c->dt[2]) {
        if (c->dt[0] == SY_F32 && bin_row_f32(c, n, p, bs)) return;
        if (c->dt[0] == SY_F64 && bin_row_f64(c, n, p, bs)) return;
        if (c->dt[0] == SY_I64 && bin_row_i64(c, n, p, bs)) return;
    }
    if (c->dt[0] == SY_BOOL && c->dt[1] == SY_F32 && c->dt[2] == SY_F32 &&
        cmp_row_f32(c, n, p, bs))
        return;
    for (i = 0; i < n; i++) {
        double x = sy_value_load(p[1] + i * bs[1], c->dt[1]);
        double y = sy_value_load(p[2] + i * bs[2], c->dt[2]);
        sy_value_store(p[0] + i * bs[0], c->dt[0], bin_apply(c->op, x, y));
    }
}

void sy_cpu_binary(sy_binop op, sy_tensor *out, const sy_tensor *a, const sy_tensor *b) {
    struct bin_ctx c = {op, {out->dtype, a->dtype, b->dtype}};
    const sy_tensor *ops[3] = {out, a, b};
    sy_iter_run_split(3, ops, out->ndim, out->size, bin_row, &c);
}

/* ---------------------------------------------------------- unary kernels */

struct un_ctx {
    sy_unop op;
    sy_dtype dt[2];
};

#define UN_ROW(T, EXPR)                                                          \
    do {                                                                         \
        const int64_t es = (int64_t)sizeof(T);                                   \
        if (bs[0] == es && bs[1] == es) {                                        \
            T *o = (T *)p[0];                                                    \
            const T *xa = (const T *)p[1];                                       \
            for (i = 0; i < n; i++) { T x = xa[i]; o[i] = (EXPR); }              \
        } else {                                                                 \
            for (i = 0; i < n; i++) {                                            \
                T x = *(const T *)(p[1] + i * bs[1]);                            \
                *(T *)(p[0] + i * bs[0]) = (EXPR);                               \
            }                                                                    \
        }                                                                        \
    } while (0)

#define UN_FLOAT_CASES(T, F)                                                                \
    switch (c->op) {                                                                        \
    case SY_OP_NEG: UN_ROW(T, -x); return 1;                                                \
    case SY_OP_ABS: UN_ROW(T, F(fabs)(x)); return 1;                                        \
    case SY_OP_EXP: UN_ROW(T, F(exp)(x)); return 1;                                         \
    case SY_OP_LOG: UN_ROW(T, F(log)(x)); return 1;                                         \
    case SY_OP_SQRT: UN_ROW(T, F(sqrt)(x)); return 1;                                       \
    case SY_OP_RSQRT: UN_ROW(T, (T)1 / F(sqrt)(x)); return 1;                               \
    case SY_OP_TANH: UN_ROW(T, F(tanh)(x)); return 1;                                       \
    case SY_OP_SIGMOID: UN_ROW(T, (T)1 / ((T)1 + F(exp)(-x))); return 1;                    \
    case SY_OP_RELU: UN_ROW(T, x > 0 ? x : (x != x ? x : (T)0)); return 1;                  \
    case SY_OP_SIN: UN_ROW(T, F(sin)(x)); return 1;                                         \
    case SY_OP_COS: UN_ROW(T, F(cos)(x)); return 1;                                         \
    case SY_OP_FLOOR: UN_ROW(T, F(floor)(x)); return 1;                                     \
    case SY_OP_CEIL: UN_ROW(T, F(ceil)(x)); return 1;                                       \
    case SY_OP_ROUND: UN_ROW(T, F(nearbyint)(x)); return 1;                                 \
    case SY_OP_SIGN: UN_ROW(T, x > 0 ? (T)1 : x < 0 ? (T)-1 : x); return 1;                 \
    case SY_OP_LOG1P: UN_ROW(T, F(log1p)(x)); return 1;                                     \
    case SY_OP_EXPM1: UN_ROW(T, F(expm1)(x)); return 1;                                     \
    case SY_OP_SQUARE: UN_ROW(T, x * x); return 1;                                          \
    case SY_OP_RECIPROCAL: UN_ROW(T, (T)1 / x); return 1;                                   \
    default: return 0;                                                                      \
    }

#define F32_FN(name) name##f
#define F64_FN(name) name

/* 1 / (1 + e^-x) over the whole range, n <= 8 vectors: sy_v8_sigmoid
** clamps for the recurrent gates and would give 6e-39 at x = -inf, not 0 */
SY_INLINE void sigmoid_v8_n(sy_v8f *x, int n) {
    int i;
    for (i = 0; i < n; i++) x[i] = -x[i];
    sy_v8_exp_n(x, n);
    for (i = 0; i < n; i++) x[i] = 1 / (1 + x[i]);
}

SY_SIMD_CLONES static int un_row_f32(const struct un_ctx *c, int64_t n, char **p, const int64_t *bs) {
    int64_t i;
    /* the transcendentals on dense rows on eight lanes (simd.h): 4-30x
    ** libm's scalar tanhf, expf, logf and log1pf here. exp flushes results
    ** below FLT_MIN to 0, as simd.h's exp does. */
    if (bs[0] == 4 && bs[1] == 4) {
        float *o = (float *)p[0];
        const float *x = (const float *)p[1];
        switch (c->op) {
        case SY_OP_TANH: APPLY8(sy_v8_tanh, o, x, n); return 1;
        case SY_OP_SIGMOID: APPLY8X4(sigmoid_v8_n, o, x, n); return 1;
        case SY_OP_EXP: APPLY8X4(sy_v8_exp_n, o, x, n); return 1;
        case SY_OP_LOG: APPLY8(sy_v8_log, o, x, n); return 1;
        case SY_OP_LOG1P: APPLY8(sy_v8_log1p, o, x, n); return 1;
        default: break;
        }
    }
    UN_FLOAT_CASES(float, F32_FN)
}

SY_SIMD_CLONES static int un_row_f64(const struct un_ctx *c, int64_t n, char **p, const int64_t *bs) {
    int64_t i;
    UN_FLOAT_CASES(double, F64_FN)
}

static void un_row(int64_t n, char **p, const int64_t *bs, void *ctx) {
    const struct un_ctx *c = ctx;
    int64_t i;
    if (c->dt[0] == c->dt[1]) {
        if (c->dt[0] == SY_F32 && un_row_f32(c, n, p, bs)) return;
        if (c->dt[0] == SY_F64 && un_row_f64(c, n, p, bs)) return;
    }
    for (i = 0; i < n; i++)
        sy_value_store(p[0] + i * bs[0], c->dt[0],
                       un_apply(c->op, sy_value_load(p[1] + i * bs[1], c->dt[1])));
}

void sy_cpu_unary(sy_unop op, sy_tensor *out, const sy_tensor *a) {
    struct un_ctx c = {op, {out->dtype, a->dtype}};
    const sy_tensor *ops[2] = {out, a};
    sy_iter_run_split(2, ops, out->ndim, out->size, un_row, &c);
}

struct clamp_ctx {
    double lo, hi;
    sy_dtype dt[2];
};

/* float32 and float64 rows; 0 for other dtypes. NaN stays NaN. */
SY_SIMD_CLONES static int clamp_row_float(const struct clamp_ctx *c, int64_t n, char **p,
                                          const int64_t *bs) {
    int64_t i;
    if (c->dt[0] == SY_F32 && c->dt[1] == SY_F32) {
        const float lo = (float)c->lo, hi = (float)c->hi;
        UN_ROW(float, x < lo ? lo : x > hi ? hi : x);
        return 1;
    }
    if (c->dt[0] == SY_F64 && c->dt[1] == SY_F64) {
        const double lo = c->lo, hi = c->hi;
        UN_ROW(double, x < lo ? lo : x > hi ? hi : x);
        return 1;
    }
    return 0;
}

static void clamp_row(int64_t n, char **p, const int64_t *bs, void *ctx) {
    const struct clamp_ctx *c = ctx;
    int64_t i;
    if (clamp_row_float(c, n, p, bs)) return;
    for (i = 0; i < n; i++) {
        double x = sy_value_load(p[1] + i * bs[1], c->dt[1]);
        sy_value_store(p[0] + i * bs[0], c->dt[0], x < c->lo ? c->lo : x > c->hi ? c->hi : x);
    }
}

void sy_cpu_clamp(sy_tensor *out, const sy_tensor *a, double lo, double hi) {
    struct clamp_ctx c = {lo, hi, {out->dtype, a->dtype}};
    const sy_tensor *ops[2] = {out, a};
    sy_iter_run_split(2, ops, out->ndim, out->size, clamp_row, &c);
}

/* float32 rows. Contiguous rows with a contiguous or scalar second branch
** (the ReLU and clamp backwards, masking) read both branches and select, a
** loop that vectorises: a branch on the condition mispredicts on random
** masks (~4 ns an element). */
SY_SIMD_CLONES static void where_row_f32(int64_t n, char **p, const int64_t *bs) {
    int64_t i;
    if (bs[0] == 4 && bs[1] == 1 && bs[2] == 4 && (bs[3] == 4 || bs[3] == 0)) {
        float *o = (float *)p[0];
        const uint8_t *c = (const uint8_t *)p[1];
        const float *x = (const float *)p[2], *y = (const float *)p[3];
        if (bs[3] == 0) {
            const float y0 = y[0];
            for (i = 0; i < n; i++) {
                const float xv = x[i];
                o[i] = c[i] ? xv : y0;
            }
        } else {
            for (i = 0; i < n; i++) {
                const float xv = x[i], yv = y[i];
                o[i] = c[i] ? xv : yv;
            }
        }
        return;
    }
    for (i = 0; i < n; i++)
        *(float *)(p[0] + i * bs[0]) = *(const uint8_t *)(p[1] + i * bs[1])
                                           ? *(const float *)(p[2] + i * bs[2])
                                           : *(const float *)(p[3] + i * bs[3]);
}

static void where_row(int64_t n, char **p, const int64_t *bs, void *ctx) {
    const sy_dtype *dt = ctx;   /* out, cond, a, b */
    int64_t i;
    if (dt[0] == SY_F32 && dt[2] == SY_F32 && dt[3] == SY_F32) {
        where_row_f32(n, p, bs);
        return;
    }
    for (i = 0; i < n; i++) {
        int take_a = *(const uint8_t *)(p[1] + i * bs[1]) != 0;
        double v = take_a ? sy_value_load(p[2] + i * bs[2], dt[2]) : sy_value_load(p[3] + i * bs[3], dt[3]);
        sy_value_store(p[0] + i * bs[0], dt[0], v);
    }
}

void sy_cpu_where(sy_tensor *out, const sy_tensor *cond, const sy_tensor *a, const sy_tensor *b) {
    sy_dtype dt[4] = {out->dtype, cond->dtype, a->dtype, b->dtype};
    const sy_tensor *ops[4] = {out, cond, a, b};
    sy_iter_run_split(4, ops, out->ndim, out->size, where_row, dt);
}

/* ------------------------------------------------------------- front ends */

static const sy_backend *backend_of(const char *op, const sy_tensor *a, const sy_tensor *b) {
    if (b && a->storage->device != b->storage->device) {
        sy_error(SY_ERR_DEVICE, "%s: operands are on different devices", op);
        return NULL;
    }
    return sy_backend_for(a->storage->device);
}

/* Expands each of n operands to (nd, size); on failure releases what it made. */
static sy_status expand_all(sy_tensor **ex, const sy_tensor *const *in, int n, int nd,
                            const int64_t *size) {
    int i;
    sy_status st;
    for (i = 0; i < n; i++) {
        if ((st = sy_tensor_expand(&ex[i], in[i], nd, size))) {
            while (i-- > 0) sy_tensor_release(ex[i]);
            return st;
        }
    }
    return SY_OK;
}

static void release_all(sy_tensor **ts, int n) {
    int i;
    for (i = 0; i < n; i++) sy_tensor_release(ts[i]);
}

sy_status sy_binary_out(sy_tensor *out, sy_binop op, const sy_tensor *a, const sy_tensor *b) {
    int64_t size[SY_MAX_DIMS];
    int nd;
    sy_tensor *ex[2];
    const sy_tensor *in[2] = {a, b};
    const sy_backend *be;
    sy_status st;
    char s1[SY_SHAPE_STRLEN], s2[SY_SHAPE_STRLEN];
    if (op >= SY_BINOP_COUNT) return sy_error(SY_ERR_ARG, "binary: unknown op %d", (int)op);
    if ((st = sy_broadcast_shape(&nd, size, a->ndim, a->size, b->ndim, b->size, binop_names[op])))
        return st;
    if (nd != out->ndim || memcmp(size, out->size, sizeof(int64_t) * (size_t)nd) != 0)
        return sy_error(SY_ERR_SHAPE, "%s: result of shape %s does not fit the output of shape %s",
                        binop_names[op], sy_shape_str(s1, sizeof s1, nd, size),
                        sy_shape_str(s2, sizeof s2, out->ndim, out->size));
    if (!(be = backend_of(binop_names[op], a, b))) return SY_ERR_DEVICE;
    if ((st = expand_all(ex, in, 2, nd, size))) return st;
    be->binary(op, out, ex[0], ex[1]);
    release_all(ex, 2);
    return SY_OK;
}

sy_status sy_binary(sy_tensor **out, sy_binop op, const sy_tensor *a, const sy_tensor *b) {
    int64_t size[SY_MAX_DIMS];
    int nd;
    sy_dtype dt;
    sy_status st;
    *out = NULL;
    if (op >= SY_BINOP_COUNT) return sy_error(SY_ERR_ARG, "binary: unknown op %d", (int)op);
    if ((st = sy_broadcast_shape(&nd, size, a->ndim, a->size, b->ndim, b->size, binop_names[op])))
        return st;
    dt = sy_dtype_promote(a->dtype, b->dtype);
    if (binop_is_predicate(op)) dt = SY_BOOL;
    else if (op == SY_OP_DIV && !sy_dtype_is_float(dt)) dt = SY_F32;   /* true division */
    if ((st = sy_tensor_empty(out, dt, nd, size))) return st;
    if ((st = sy_binary_out(*out, op, a, b))) {
        sy_tensor_release(*out);
        *out = NULL;
    }
    return st;
}

static sy_dtype unary_result_dtype(sy_unop op, sy_dtype in) {
    switch (op) {
    case SY_OP_NOT:
    case SY_OP_ISNAN: return SY_BOOL;
    case SY_OP_NEG:
    case SY_OP_ABS:
    case SY_OP_RELU:
    case SY_OP_SIGN:
    case SY_OP_SQUARE:
    case SY_OP_FLOOR:
    case SY_OP_CEIL:
    case SY_OP_ROUND: return in == SY_BOOL ? SY_I64 : in;
    default: return sy_dtype_is_float(in) ? in : SY_F32;
    }
}

sy_status sy_unary_out(sy_tensor *out, sy_unop op, const sy_tensor *a) {
    const sy_backend *be;
    sy_tensor *ex;
    sy_status st;
    if (op >= SY_UNOP_COUNT) return sy_error(SY_ERR_ARG, "unary: unknown op %d", (int)op);
    if (!(be = backend_of(unop_names[op], a, out))) return SY_ERR_DEVICE;
    if ((st = sy_tensor_expand(&ex, a, out->ndim, out->size))) {
        char s1[SY_SHAPE_STRLEN], s2[SY_SHAPE_STRLEN];
        if (st != SY_ERR_SHAPE) return st;   /* out of memory: keep that message */
        return sy_error(SY_ERR_SHAPE, "%s: input of shape %s does not fit the output of shape %s",
                        unop_names[op], sy_shape_str(s1, sizeof s1, a->ndim, a->size),
                        sy_shape_str(s2, sizeof s2, out->ndim, out->size));
    }
    be->unary(op, out, ex);
    sy_tensor_release(ex);
    return SY_OK;
}

sy_status sy_unary(sy_tensor **out, sy_unop op, const sy_tensor *a) {
    sy_status st;
    *out = NULL;
    if (op >= SY_UNOP_COUNT) return sy_error(SY_ERR_ARG, "unary: unknown op %d", (int)op);
    if ((st = sy_tensor_empty(out, unary_result_dtype(op, a->dtype), a->ndim, a->size))) return st;
    if ((st = sy_unary_out(*out, op, a))) {
        sy_tensor_release(*out);
        *out = NULL;
    }
    return st;
}

sy_status sy_clamp(sy_tensor **out, const sy_tensor *a, double lo, double hi) {
    const sy_backend *be;
    sy_status st;
    *out = NULL;
    if (lo != lo || hi != hi) return sy_error(SY_ERR_ARG, "clamp: bounds must not be NaN");
    if (lo > hi) return sy_error(SY_ERR_ARG, "clamp: min %g is greater than max %g", lo, hi);
    if (!(be = backend_of("clamp", a, NULL))) return SY_ERR_DEVICE;
    if ((st = sy_tensor_empty(out, a->dtype == SY_BOOL ? SY_I64 : a->dtype, a->ndim, a->size)))
        return st;
    be->clamp(*out, a, lo, hi);
    return SY_OK;
}

sy_status sy_where(sy_tensor **out, const sy_tensor *cond, const sy_tensor *a, const sy_tensor *b) {
    int64_t s1[SY_MAX_DIMS], s2[SY_MAX_DIMS];
    int n1, n2;
    sy_tensor *ex[3];
    const sy_tensor *in[3] = {cond, a, b};
    const sy_backend *be;
    sy_status st;
    *out = NULL;
    if (cond->dtype != SY_BOOL && cond->dtype != SY_U8)
        return sy_error(SY_ERR_DTYPE, "where: condition must be bool or uint8, got %s",
                        sy_dtype_name(cond->dtype));
    if ((st = sy_broadcast_shape(&n1, s1, a->ndim, a->size, b->ndim, b->size, "where")) ||
        (st = sy_broadcast_shape(&n2, s2, cond->ndim, cond->size, n1, s1, "where")))
        return st;
    if (!(be = backend_of("where", a, b)) || !backend_of("where", a, cond)) return SY_ERR_DEVICE;
    if ((st = expand_all(ex, in, 3, n2, s2))) return st;
    if ((st = sy_tensor_empty(out, sy_dtype_promote(a->dtype, b->dtype), n2, s2))) {
        release_all(ex, 3);
        return st;
    }
    be->where(*out, ex[0], ex[1], ex[2]);
    release_all(ex, 3);
    return SY_OK;
}

sy_status sy_scalar(sy_tensor **out, sy_dtype dt, double v) {
    sy_status st = sy_tensor_empty(out, dt, 0, NULL);
    if (st == SY_OK) sy_value_store(sy_tensor_data(*out), dt, v);
    return st;
}
