/*
** ops.h -- tensor operations of the synlua core.
**
** Each op validates its arguments (naming the op and the shapes involved),
** allocates its result and dispatches to the backend of the operands' device
** (src/core/backend.h). `*out` receives a new reference; on failure it is set
** to NULL and nothing is leaked. Dimensions and indices count from 0.
*/
#ifndef SY_OPS_H
#define SY_OPS_H

#include "../core/tensor.h"

typedef enum sy_binop {
    SY_OP_ADD = 0, SY_OP_SUB, SY_OP_MUL, SY_OP_DIV, SY_OP_POW, SY_OP_MAXIMUM, SY_OP_MINIMUM,
    SY_OP_FMOD,
    /* comparisons and logic: the result is SY_BOOL */
    SY_OP_EQ, SY_OP_NE, SY_OP_LT, SY_OP_LE, SY_OP_GT, SY_OP_GE, SY_OP_AND, SY_OP_OR,
    SY_BINOP_COUNT
} sy_binop;

typedef enum sy_unop {
    SY_OP_NEG = 0, SY_OP_ABS, SY_OP_EXP, SY_OP_LOG, SY_OP_SQRT, SY_OP_RSQRT, SY_OP_TANH,
    SY_OP_SIGMOID, SY_OP_RELU, SY_OP_SIN, SY_OP_COS, SY_OP_FLOOR, SY_OP_CEIL, SY_OP_ROUND,
    SY_OP_SIGN, SY_OP_NOT, SY_OP_LOG1P, SY_OP_EXPM1, SY_OP_SQUARE, SY_OP_RECIPROCAL,
    SY_OP_ISNAN,   /* result SY_BOOL */
    SY_UNOP_COUNT
} sy_unop;

const char *sy_binop_name(sy_binop op);
const char *sy_unop_name(sy_unop op);

/* --- elementwise (src/ops/elementwise.c) --- */
/* Broadcasting binary op. Arithmetic on two integer/bool tensors stays
** integer except DIV and POW with a negative exponent, which give float32. */
sy_status sy_binary(sy_tensor **out, sy_binop op, const sy_tensor *a, const sy_tensor *b);
/* Into an existing tensor (may alias a or b elementwise): out must have the
** broadcast shape; values are converted to out's dtype. */
sy_status sy_binary_out(sy_tensor *out, sy_binop op, const sy_tensor *a, const sy_tensor *b);
/* Unary op; float ops on integer tensors give float32. */
sy_status sy_unary(sy_tensor **out, sy_unop op, const sy_tensor *a);
sy_status sy_unary_out(sy_tensor *out, sy_unop op, const sy_tensor *a);
/* min(max(a, lo), hi); pass -INFINITY / INFINITY to leave a side open. */
sy_status sy_clamp(sy_tensor **out, const sy_tensor *a, double lo, double hi);
/* cond ? a : b with broadcasting of all three; cond must be bool or uint8. */
sy_status sy_where(sy_tensor **out, const sy_tensor *cond, const sy_tensor *a, const sy_tensor *b);
/* A 0-d tensor holding v. */
sy_status sy_scalar(sy_tensor **out, sy_dtype dt, double v);

/* --- reductions (src/ops/reduce.c) --- */
typedef enum sy_redop {
    SY_RED_SUM = 0, SY_RED_MEAN, SY_RED_PROD, SY_RED_MAX, SY_RED_MIN, SY_RED_ARGMAX,
    SY_RED_ARGMIN, SY_RED_VAR, SY_RED_STD,
    SY_REDOP_COUNT
} sy_redop;

#define SY_ALL_DIMS (-1)
/* Reduces over `dim` (or all dims with SY_ALL_DIMS, giving a 0-d tensor).
** `indices` (may be NULL) receives the int64 positions for MAX/MIN.
** `correction` is the variance divisor correction (1 = unbiased). */
sy_status sy_reduce(sy_tensor **out, sy_tensor **indices, sy_redop op, const sy_tensor *a, int dim,
                    int keepdim, int correction);

/* --- linear algebra (src/ops/matmul.c) --- */
/* torch.matmul semantics: 1-d x 1-d dot, 2-d x 2-d, batched with broadcast batch dims. */
sy_status sy_matmul(sy_tensor **out, const sy_tensor *a, const sy_tensor *b);
/* Benchmark reference: seconds taken by `reps` back-to-back raw products
** C [m, n] = op(A) [m, k] op(B) [k, n] of row-major float32 matrices, op
** transposing when trans_a / trans_b (after one untimed warm-up call) on
** the calling thread, by cblas_sgemm (own = 0) or by synlua's own float32
** kernel (own = 1; SY_ERR_ARG where the build or the CPU lacks it), so
** callers can measure the front end's overhead. */
sy_status sy_bench_sgemm_seconds(double *seconds, int64_t m, int64_t n, int64_t k, int64_t reps,
                                 int own, int trans_a, int trans_b);

/* --- joining and indexing (src/ops/index.c) --- */
/* Joins n >= 1 tensors along an existing dim; sizes must match except along
** dim (a 1-d empty tensor joins anything, as in Torch). The result dtype is
** the promotion of all inputs. */
sy_status sy_cat(sy_tensor **out, const sy_tensor *const *ts, int n, int dim);
/* Joins n >= 1 tensors of one shape along a new dim (0..ndim), promoting dtypes. */
sy_status sy_stack(sy_tensor **out, const sy_tensor *const *ts, int n, int dim);
/* index: 1-d int64 tensor of positions (0-based) along dim, each checked
** against t's size there. */
sy_status sy_index_select(sy_tensor **out, const sy_tensor *t, int dim, const sy_tensor *index);
/* out[i][j] = t[index[i][j]][j] (dim 0), as torch.gather: index is int64 with
** t's ndim and no larger sizes than t except along dim; out has its shape. */
sy_status sy_gather(sy_tensor **out, const sy_tensor *t, int dim, const sy_tensor *index);

/* --- sorting and selection (src/ops/sort.c) --- */
/* values keep t's dtype, indices are int64 positions along dim (0-based),
** both new contiguous tensors. NaN sorts above +inf, -0 equals +0, and equal
** values keep their input order in either direction, so topk and kthvalue
** pick exactly the elements a stable sort would put there. */
/* Stable sort along dim. */
sy_status sy_sort(sy_tensor **values, sy_tensor **indices, const sy_tensor *t, int dim,
                  int descending);
/* k (0..size) largest (or smallest) along dim, sorted; selection, not a full sort. */
sy_status sy_topk(sy_tensor **values, sy_tensor **indices, const sy_tensor *t, int64_t k, int dim,
                  int largest);
/* k-th smallest along dim (k counts from 1, as torch.kthvalue) by selection
** (O(n) expected); dim removed unless keepdim. */
sy_status sy_kthvalue(sy_tensor **values, sy_tensor **indices, const sy_tensor *t, int64_t k,
                      int dim, int keepdim);

/* --- creation (src/ops/creation.c) --- */
sy_status sy_arange(sy_tensor **out, double start, double end, double step, sy_dtype dt);
sy_status sy_linspace(sy_tensor **out, double start, double end, int64_t steps, sy_dtype dt);
sy_status sy_eye(sy_tensor **out, int64_t n, int64_t m, sy_dtype dt);

#endif
