/*
** tensor.h -- the synlua tensor: a small view header (sizes, strides, offset,
** dtype) over a refcounted storage. Views (narrow, select, transpose, permute,
** view, expand, ...) only make a new header over the same storage; nothing is
** copied until an operation needs contiguous data.
**
** Conventions (see STYLE.md): prefix sy_, outputs first, int64_t sizes,
** dimensions counted from 0 in C (the Lua binding counts from 1), every
** fallible function returns sy_status and sets sy_error_message().
*/
#ifndef SY_TENSOR_H
#define SY_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define SY_MAX_DIMS 8

typedef enum sy_dtype {
    SY_F32 = 0,
    SY_F64,
    SY_I64,
    SY_U8,
    SY_BOOL,    /* one byte per element, 0 or 1 */
    SY_DTYPE_COUNT
} sy_dtype;

typedef enum sy_device {
    SY_CPU = 0,
    SY_CUDA,
    SY_DEVICE_COUNT
} sy_device;

typedef struct sy_storage {
    void *data;
    int64_t nbytes;
    int refcount;
    sy_device device;
} sy_storage;

struct sy_node;

typedef struct sy_tensor {
    sy_storage *storage;
    int64_t offset;                /* in elements, from storage->data */
    int64_t size[SY_MAX_DIMS];
    int64_t stride[SY_MAX_DIMS];   /* in elements; 0 for expanded dims */
    int ndim;                      /* 0 for a scalar tensor */
    sy_dtype dtype;
    int refcount;
    /* autograd (src/autograd): a leaf that requires grad accumulates into
    ** `grad`; a computed tensor points at the node that made it. Views made
    ** by sy_tensor_alias start with none of these. */
    int requires_grad;
    int output_nr;                 /* which output of grad_fn this is */
    struct sy_node *grad_fn;
    struct sy_tensor *grad;
} sy_tensor;

/* --- dtypes --- */
int64_t sy_dtype_size(sy_dtype dt);
const char *sy_dtype_name(sy_dtype dt);          /* "float32", ... */
int sy_dtype_from_name(const char *name, sy_dtype *out); /* 1 if known */
int sy_dtype_is_float(sy_dtype dt);
/* Result dtype of a binary arithmetic op (bool < u8 < i64 < f32 < f64). */
sy_dtype sy_dtype_promote(sy_dtype a, sy_dtype b);

/* --- life cycle --- */
/* New contiguous tensor, zero-filled. sizes may be NULL when ndim == 0. */
sy_status sy_tensor_new(sy_tensor **out, sy_dtype dt, int ndim, const int64_t *size);
/* Same, contents uninitialised (for outputs that are fully overwritten). */
sy_status sy_tensor_empty(sy_tensor **out, sy_dtype dt, int ndim, const int64_t *size);
sy_status sy_tensor_empty_like(sy_tensor **out, const sy_tensor *t);
sy_tensor *sy_tensor_retain(sy_tensor *t);
void sy_tensor_release(sy_tensor *t);            /* NULL is ignored */
/* Drops a reference to an autograd node (src/autograd/engine.c). */
void sy_node_release(struct sy_node *node);      /* NULL is ignored */

/* --- queries --- */
int64_t sy_tensor_numel(const sy_tensor *t);
int sy_tensor_is_contiguous(const sy_tensor *t);
int sy_tensor_same_shape(const sy_tensor *a, const sy_tensor *b);
void *sy_tensor_data(const sy_tensor *t);        /* address of the first element */
/* Formats "[2,3]" into buf (always NUL-terminated); returns buf. */
char *sy_shape_str(char *buf, size_t n, int ndim, const int64_t *size);
#define SY_SHAPE_STRLEN 160

/* Element access by full index (slow path; for printing, tables, tests). */
double sy_tensor_get(const sy_tensor *t, const int64_t *index);
void sy_tensor_set(sy_tensor *t, const int64_t *index, double v);

/* One element at address p, through double: the slow path for mixed dtypes.
** Stores to integer dtypes saturate (NaN becomes 0). */
double sy_value_load(const void *p, sy_dtype dt);
void sy_value_store(void *p, sy_dtype dt, double v);

/* --- views: new header, same storage (out gets a new reference) --- */
sy_status sy_tensor_alias(sy_tensor **out, const sy_tensor *t);
sy_status sy_tensor_narrow(sy_tensor **out, const sy_tensor *t, int dim, int64_t start, int64_t length);
sy_status sy_tensor_select(sy_tensor **out, const sy_tensor *t, int dim, int64_t index);
sy_status sy_tensor_transpose(sy_tensor **out, const sy_tensor *t, int dim0, int dim1);
sy_status sy_tensor_permute(sy_tensor **out, const sy_tensor *t, const int *dims);
/* Sliding windows (torch.Tensor.unfold): dim becomes (size_dim - size) / step + 1
** windows and a last dimension of length size is appended. A 0-d tensor unfolds
** along dim 0 with size 1 into a [1] tensor. */
sy_status sy_tensor_unfold(sy_tensor **out, const sy_tensor *t, int dim, int64_t size,
                           int64_t step);
/* size may contain one -1 (inferred). Fails if the strides do not allow a view. */
sy_status sy_tensor_view(sy_tensor **out, const sy_tensor *t, int ndim, const int64_t *size);
sy_status sy_tensor_expand(sy_tensor **out, const sy_tensor *t, int ndim, const int64_t *size);
sy_status sy_tensor_unsqueeze(sy_tensor **out, const sy_tensor *t, int dim);
/* dim < 0: drop every size-1 dimension. */
sy_status sy_tensor_squeeze(sy_tensor **out, const sy_tensor *t, int dim);

/* --- copies --- */
/* View when possible, else a contiguous copy. */
sy_status sy_tensor_reshape(sy_tensor **out, const sy_tensor *t, int ndim, const int64_t *size);
/* t itself (retained) when already contiguous, else a contiguous copy. */
sy_status sy_tensor_contiguous(sy_tensor **out, const sy_tensor *t);
sy_status sy_tensor_clone(sy_tensor **out, const sy_tensor *t);
sy_status sy_tensor_to_dtype(sy_tensor **out, const sy_tensor *t, sy_dtype dt);
/* dst[...] = src broadcast to dst's shape, converting dtype. */
sy_status sy_tensor_copy_(sy_tensor *dst, const sy_tensor *src);
sy_status sy_tensor_fill_(sy_tensor *t, double value);

/* --- broadcasting --- */
/* Broadcast shape of a and b (NumPy rules); error names both shapes. */
sy_status sy_broadcast_shape(int *ndim, int64_t *size, int na, const int64_t *sa, int nb,
                             const int64_t *sb, const char *opname);

#endif
