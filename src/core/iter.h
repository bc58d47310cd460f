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

/* Elementwise work of at least this many elements is split across the pool.
** Measured on float32 a + b at 2 threads: a loss below ~40k elements (the
** parts cost more to hand out than they save), 9.3 -> 7.2 us at 61440 (the
** encoder's residual add). */
#define SY_ELEMENTWISE_SPLIT_MIN ((int64_t)3 << 14)

/* The number of tasks for n elements of elementwise work: 1 below the
** threshold, else up to sy_parallel_width(). */
int sy_elementwise_tasks(int64_t n);

/* sy_iter_run for a true elementwise kernel, ops[0] its output: each output
** element depends on the inputs' elements at its own index alone. Large
** iterations are split across the pool (sy_parallel_run) in contiguous
** parts of the elements in row-major order, rows cut where parts meet; fn
** is then called concurrently with the same ctx, which it must only read.
** Results do not depend on the split. Runs on the calling thread when the
** output has an expanded dim or an input overlaps the output other than as
** the same view. Not for reductions or anything that carries state from
** row to row. */
void sy_iter_run_split(int nops, const sy_tensor *const *ops, int ndim, const int64_t *size,
                       sy_row_fn fn, void *ctx);

#endif
