/*
** cpu.h -- the CPU kernels behind sy_backend_cpu (src/ops/backend_cpu.c).
** Kernels get operands already checked and broadcast by the ops front ends.
*/
#ifndef SY_CPU_H
#define SY_CPU_H

#include "../core/backend.h"

void sy_cpu_binary(sy_binop op, sy_tensor *out, const sy_tensor *a, const sy_tensor *b);
void sy_cpu_unary(sy_unop op, sy_tensor *out, const sy_tensor *a);
void sy_cpu_clamp(sy_tensor *out, const sy_tensor *a, double lo, double hi);
void sy_cpu_where(sy_tensor *out, const sy_tensor *cond, const sy_tensor *a, const sy_tensor *b);
sy_status sy_cpu_reduce_dim(sy_redop op, sy_tensor *out, sy_tensor *indices, const sy_tensor *a,
                            int dim, int correction);
sy_status sy_cpu_bmm(sy_tensor *c, const sy_tensor *a, const sy_tensor *b);

#endif
