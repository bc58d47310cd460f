/*
** backend.h -- the op table of one device.
**
** The ops in src/ops check arguments and allocate results on the operands'
** device, then call the kernel through the device's table. A CUDA backend
** fills in the same table (src/cuda/), so callers never change.
*/
#ifndef SY_BACKEND_H
#define SY_BACKEND_H

#include "../ops/ops.h"

typedef struct sy_backend {
    const char *name;
    /* out, a, b already broadcast to out's shape (stride 0 where expanded). */
    void (*binary)(sy_binop op, sy_tensor *out, const sy_tensor *a, const sy_tensor *b);
    void (*unary)(sy_unop op, sy_tensor *out, const sy_tensor *a);
    void (*clamp)(sy_tensor *out, const sy_tensor *a, double lo, double hi);
    void (*where)(sy_tensor *out, const sy_tensor *cond, const sy_tensor *a, const sy_tensor *b);
    /* out (and indices for MAX/MIN/ARG*) shaped like a with dim kept as 1. */
    sy_status (*reduce_dim)(sy_redop op, sy_tensor *out, sy_tensor *indices, const sy_tensor *a,
                            int dim, int correction);
    /* c[i] = a[i] @ b[i] for every batch index i: a [..., m, k], b [..., k, n],
    ** c [..., m, n], one float dtype, equal ndim >= 2 and equal batch sizes
    ** (a and b may be expanded there: stride 0 repeats a matrix). Each matrix
    ** of a and b is row-major (stride[-1] == 1, stride[-2] >= cols) or
    ** transposed (stride[-2] == 1, stride[-1] >= rows); c's are row-major and
    ** do not overlap. m, n, k >= 1: the front end handles empty products.
    ** c is overwritten. */
    sy_status (*bmm)(sy_tensor *c, const sy_tensor *a, const sy_tensor *b);
} sy_backend;

/* The table for a device; NULL (with a message) if it is not built in. */
const sy_backend *sy_backend_for(sy_device device);

extern const sy_backend sy_backend_cpu;

#endif
