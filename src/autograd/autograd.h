/*
** autograd.h -- reverse-mode automatic differentiation over the core ops.
**
** Ops in src/ops are pure: they compute and know nothing of gradients. The
** sy_ag_* functions (src/autograd/functions.c) call them and, when grad mode
** is on and an input requires grad, record a node: the op's backward
** function, its inputs (retained) and whatever it saved. The result tensor
** points at its node (grad_fn); a node never points at its outputs, so the
** graph has no reference cycles. Fused layers (LSTM, attention, ...) are one
** node each, with a backward over the whole batch and sequence.
**
** sy_backward() walks the graph from a root in reverse topological order,
** accumulating each node's output gradients, and adds leaf gradients into
** leaf->grad. It then frees the graph (saved tensors are released), unless
** asked to retain it. Backward runs with grad mode off (no higher order).
*/
#ifndef SY_AUTOGRAD_H
#define SY_AUTOGRAD_H

#include "../core/tensor.h"
#include "../ops/ops.h"

typedef struct sy_node sy_node;

/* grad_out[k]: gradient of output k (NULL when no gradient reached it: treat
** as zeros). Sets grad_in[i] (a new reference, shaped and typed like input i)
** for every input i with node->needs_grad[i]; NULL means "no contribution". */
typedef sy_status (*sy_backward_fn)(sy_node *node, sy_tensor *const *grad_out, sy_tensor **grad_in);

#define SY_NODE_MAX_SAVED 8

struct sy_node {
    const char *name;            /* "AddBackward", "LSTMBackward", ... for messages */
    sy_backward_fn backward;
    int refcount;
    int n_inputs;
    sy_tensor **inputs;          /* retained; NULL entries for non-tensor arguments */
    unsigned char *needs_grad;   /* per input */
    int n_outputs;
    sy_tensor *saved[SY_NODE_MAX_SAVED];   /* retained, never with a grad_fn */
    double scalars[8];
    int64_t ints[SY_MAX_DIMS + 8];
    /* For fused layers: a cache the backward needs (freed with the node). */
    void *extra;
    void (*free_extra)(void *extra);
    /* traversal state, owned by sy_backward */
    sy_tensor **grad_accum;      /* n_outputs slots */
    int pending;
    int mark;
    int released;                /* saved state freed after a backward */
};

/* --- grad mode (per thread) --- */
int sy_grad_enabled(void);
/* Returns the previous setting. */
int sy_set_grad_enabled(int enabled);

/* --- recording (for sy_ag_* functions and fused layers) --- */
/* True when grad mode is on and any of the n inputs requires grad. */
int sy_ag_any_requires_grad(int n, sy_tensor *const *inputs);
/* New node with n inputs (retained; NULL allowed) and n_outputs outputs. */
sy_status sy_node_new(sy_node **out, const char *name, sy_backward_fn backward, int n_inputs,
                      sy_tensor *const *inputs, int n_outputs);
/* Makes `t` output `output_nr` of `node` (takes a new reference to node). */
void sy_node_attach(sy_node *node, sy_tensor *t, int output_nr);
/* Saves a tensor the backward needs: an alias sharing t's storage, so saving
** an op's own output creates no cycle. */
sy_status sy_node_save(sy_node *node, int slot, const sy_tensor *t);

/* --- running --- */
/* Backpropagates from root. grad may be NULL when root has one element
** (gradient 1). retain_graph keeps saved tensors for another backward. */
sy_status sy_backward(sy_tensor *root, const sy_tensor *grad, int retain_graph);

/* --- helpers for backward functions --- */
/* Sums g over broadcast dimensions so it has shape (ndim, size). */
sy_status sy_ag_sum_to(sy_tensor **out, const sy_tensor *g, int ndim, const int64_t *size);
/* dst += src (allocating dst as a copy when *dst is NULL). */
sy_status sy_ag_accumulate(sy_tensor **dst, const sy_tensor *src);

/* --- differentiable versions of the core ops (same signatures) --- */
sy_status sy_ag_binary(sy_tensor **out, sy_binop op, sy_tensor *a, sy_tensor *b);
sy_status sy_ag_unary(sy_tensor **out, sy_unop op, sy_tensor *a);
sy_status sy_ag_clamp(sy_tensor **out, sy_tensor *a, double lo, double hi);
sy_status sy_ag_where(sy_tensor **out, sy_tensor *cond, sy_tensor *a, sy_tensor *b);
sy_status sy_ag_to_dtype(sy_tensor **out, sy_tensor *t, sy_dtype dt);
sy_status sy_ag_clone(sy_tensor **out, sy_tensor *t);
sy_status sy_ag_contiguous(sy_tensor **out, sy_tensor *t);
/* views */
sy_status sy_ag_narrow(sy_tensor **out, sy_tensor *t, int dim, int64_t start, int64_t length);
sy_status sy_ag_select(sy_tensor **out, sy_tensor *t, int dim, int64_t index);
sy_status sy_ag_transpose(sy_tensor **out, sy_tensor *t, int dim0, int dim1);
sy_status sy_ag_permute(sy_tensor **out, sy_tensor *t, const int *dims);
sy_status sy_ag_view(sy_tensor **out, sy_tensor *t, int ndim, const int64_t *size);
sy_status sy_ag_reshape(sy_tensor **out, sy_tensor *t, int ndim, const int64_t *size);
sy_status sy_ag_expand(sy_tensor **out, sy_tensor *t, int ndim, const int64_t *size);
sy_status sy_ag_unsqueeze(sy_tensor **out, sy_tensor *t, int dim);
sy_status sy_ag_squeeze(sy_tensor **out, sy_tensor *t, int dim);
sy_status sy_ag_unfold(sy_tensor **out, sy_tensor *t, int dim, int64_t size, int64_t step);
/* reductions, matmul, joining, indexing, selection (grad_ops.c) */
sy_status sy_ag_reduce(sy_tensor **out, sy_tensor **indices, sy_redop op, sy_tensor *a, int dim,
                       int keepdim, int correction);
sy_status sy_ag_matmul(sy_tensor **out, sy_tensor *a, sy_tensor *b);
sy_status sy_ag_cat(sy_tensor **out, sy_tensor *const *ts, int n, int dim);
sy_status sy_ag_stack(sy_tensor **out, sy_tensor *const *ts, int n, int dim);
sy_status sy_ag_index_select(sy_tensor **out, sy_tensor *t, int dim, const sy_tensor *index);
sy_status sy_ag_gather(sy_tensor **out, sy_tensor *t, int dim, const sy_tensor *index);
sy_status sy_ag_sort(sy_tensor **values, sy_tensor **indices, sy_tensor *t, int dim, int descending);
sy_status sy_ag_topk(sy_tensor **values, sy_tensor **indices, sy_tensor *t, int64_t k, int dim,
                     int largest);
sy_status sy_ag_kthvalue(sy_tensor **values, sy_tensor **indices, sy_tensor *t, int64_t k, int dim,
                         int keepdim);
/* in-place ops refuse tensors that take part in autograd while grad mode is on */
sy_status sy_ag_check_inplace(const char *op, const sy_tensor *t);

#endif
