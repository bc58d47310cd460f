/*
** iter.h -- strided N-d iteration shared by every elementwise kernel.
**
** The operands are views of one common shape (inputs already expanded to it,
** so broadcast dimensions have stride 0). Dimensions that are contiguous for
** every operand are merged, and the kernel is called once per innermost row
** with element pointers and byte strides. A kernel whose strides equal the
** element size runs a plain loop that the compiler vectorises.
*/
#ifndef SY_ITER_H
#define SY_ITER_H

#include <stdint.h>

#include "tensor.h"

#define SY_ITER_MAX_OPS 4

typedef void (*sy_row_fn)(int64_t n, char **ptr, const int64_t *bstride, void *ctx);

/* ops[0..nops-1] all have the shape (ndim, size). */
void sy_iter_run(int nops, const sy_tensor *const *ops, int ndim, const int64_t *size,
                 sy_row_fn fn, void *ctx);

#endif
