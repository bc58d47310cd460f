/*
** engine.c -- autograd nodes, grad mode, and the backward pass.
*/
#include <stdlib.h>
#include <string.h>

#include "../core/alloc.h"
#include "autograd.h"

static _Thread_local int grad_disabled;

int sy_grad_enabled(void) { return !grad_disabled; }

int sy_set_grad_enabled(int enabled) {
    int prev = !grad_disabled;
    grad_disabled = !enabled;
    return prev;
}

int sy_ag_any_requires_grad(int n, sy_tensor *const *inputs) {
    int i;
    if (grad_disabled) return 0;
    for (i = 0; i < n; i++)
        if (inputs[i] && inputs[i]->requires_grad) return 1;
    return 0;
}

/* ------------------------------------------------------------ node life */

static void node_free_saved(sy_node *n) {
    int i;
    for (i = 0; i < SY_NODE_MAX_SAVED; i++) {
        sy_tensor_release(n->saved[i]);
        n->saved[i] = NULL;
    }
    if (n->extra && n->free_extra) n->free_extra(n->extra);
    n->extra = NULL;
}

static void node_free(sy_node *n) {
    int i;
    for (i = 0; i < n->n_inputs; i++) sy_tensor_release(n->inputs[i]);
    node_free_saved(n);
    if (n->grad_accum)
        for (i = 0; i < n->n_outputs; i++) sy_tensor_release(n->grad_accum[i]);
    sy_mem_free(n->inputs, sizeof(sy_tensor *) * (size_t)n->n_inputs);
    sy_mem_free(n->needs_grad, (size_t)n->n_inputs);
    sy_mem_free(n->grad_accum, sizeof(sy_tensor *) * (size_t)n->n_outputs);
    sy_mem_free(n, sizeof *n);
}

/* Freeing a long chain (an unrolled sequence, a long training graph) would
** recurse once per node; a queue keeps the C stack flat. */
static _Thread_local struct {
    sy_node **items;
    int64_t len, cap;
    int draining;
} release_queue;

void sy_node_release(sy_node *n) {
    if (!n || --n->refcount > 0) return;
    if (release_queue.len == release_queue.cap) {
        int64_t cap = release_queue.cap ? release_queue.cap * 2 : 256;
        sy_node **items = realloc(release_queue.items, sizeof *items * (size_t)cap);
        if (!items) {   /* no room to queue: free directly (recursion is bounded by memory) */
            node_free(n);
            return;
        }
        release_queue.items = items;
        release_queue.cap = cap;
    }
    release_queue.items[release_queue.len++] = n;
    if (release_queue.draining) return;
    release_queue.draining = 1;
    while (release_queue.len > 0) node_free(release_queue.items[--release_queue.len]);
    release_queue.draining = 0;
}

sy_status sy_node_new(sy_node **out, const char *name, sy_backward_fn backward, int n_inputs,
                      sy_tensor *const *inputs, int n_outputs) {
    sy_node *n = sy_mem_alloc(sizeof *n);
    int i;
    *out = NULL;
    if (!n) return SY_ERR_OOM;
    memset(n, 0, sizeof *n);
    n->inputs = sy_mem_alloc(sizeof(sy_tensor *) * (size_t)n_inputs);
    n->needs_grad = sy_mem_alloc((size_t)n_inputs);
    n->grad_accum = sy_mem_alloc(sizeof(sy_tensor *) * (size_t)n_outputs);
    if (!n->inputs || !n->needs_grad || !n->grad_accum) {
        sy_mem_free(n->inputs, sizeof(sy_tensor *) * (size_t)n_inputs);
        sy_mem_free(n->needs_grad, (size_t)n_inputs);
        sy_mem_free(n->grad_accum, sizeof(sy_tensor *) * (size_t)n_outputs);
        sy_mem_free(n, sizeof *n);
        return SY_ERR_OOM;
    }
    n->name = name;
    n->backward = backward;
    n->refcount = 1;
    n->n_inputs = n_inputs;
    n->n_outputs = n_outputs;
    for (i = 0; i < n_inputs; i++) {
        n->inputs[i] = sy_tensor_retain(inputs[i]);
        n->needs_grad[i] = inputs[i] && inputs[i]->requires_grad;
    }
    for (i = 0; i < n_outputs; i++) n->grad_accum[i] = NULL;
    *out = n;
    return SY_OK;
}

void sy_node_attach(sy_node *node, sy_tensor *t, int output_nr) {
    node->refcount++;
    sy_node_release(t->grad_fn);
    t->grad_fn = node;
    t->output_nr = output_nr;
    t->requires_grad = 1;
}

sy_status sy_node_save(sy_node *node, int slot, const sy_tensor *t) {
    sy_tensor *alias;
    sy_status st;
    if (slot < 0 || slot >= SY_NODE_MAX_SAVED)
        return sy_error(SY_ERR_INTERNAL, "%s: saved-tensor slot %d out of range", node->name, slot);
    if ((st = sy_tensor_alias(&alias, t))) return st;
    sy_tensor_release(node->saved[slot]);
    node->saved[slot] = alias;
    return SY_OK;
}

/* --------------------------------------------------------------- helpers */

sy_status sy_ag_accumulate(sy_tensor **dst, const sy_tensor *src) {
    if (!*dst) return sy_tensor_clone(dst, src);
    return sy_binary_out(*dst, SY_OP_ADD, *dst, src);
}

/* Nothing else holds t or its storage: it may be kept or written in place. */
static int exclusive(const sy_tensor *t) {
    return t->refcount == 1 && t->storage->refcount == 1 && sy_tensor_is_contiguous(t);
}

/* A gradient src (the backward's own reference, consumed) into a node's
** output slot. The first one is kept as it is, not copied: backward
** functions only read their incoming gradients, so it may be shared (add
** passes one tensor to both inputs). A second one is added in place when
** the slot's tensor is nobody else's, else into a new tensor. */
static sy_status accumulate_slot(sy_tensor **dst, sy_tensor *src) {
    sy_tensor *sum = NULL;
    sy_status st = SY_OK;
    if (!*dst && sy_tensor_is_contiguous(src)) {
        *dst = src;
        return SY_OK;
    }
    if (!*dst) st = sy_tensor_clone(dst, src);
    else if (exclusive(*dst)) st = sy_binary_out(*dst, SY_OP_ADD, *dst, src);
    else if ((st = sy_binary(&sum, SY_OP_ADD, *dst, src)) == SY_OK) {
        sy_tensor_release(*dst);
        *dst = sum;
    }
    sy_tensor_release(src);
    return st;
}

/* A gradient src (consumed) into a leaf's grad, which the user sees: taken
** over when nothing else holds it (as PyTorch's AccumulateGrad steals),
** else copied, so that no two leaves share a grad; later ones are added in
** place. */
static sy_status accumulate_leaf(sy_tensor **dst, sy_tensor *src) {
    sy_status st = SY_OK;
    if (!*dst && exclusive(src)) {
        *dst = src;
        return SY_OK;
    }
    st = sy_ag_accumulate(dst, src);
    sy_tensor_release(src);
    return st;
}

sy_status sy_ag_sum_to(sy_tensor **out, const sy_tensor *g, int ndim, const int64_t *size) {
    sy_tensor *cur = sy_tensor_retain((sy_tensor *)g), *next;
    int lead = g->ndim - ndim, d;
    sy_status st = SY_OK;
    *out = NULL;
    if (lead < 0) {
        sy_tensor_release(cur);
        return sy_error(SY_ERR_INTERNAL, "sum_to: gradient has fewer dimensions than its input");
    }
    /* Leading broadcast dims first (dim 0 repeatedly), then size-1 dims. */
    for (d = 0; d < lead && st == SY_OK; d++) {
        st = sy_reduce(&next, NULL, SY_RED_SUM, cur, 0, 0, 0);
        sy_tensor_release(cur);
        cur = next;
    }
    for (d = 0; d < ndim && st == SY_OK; d++) {
        if (size[d] == 1 && cur->size[d] != 1) {
            st = sy_reduce(&next, NULL, SY_RED_SUM, cur, d, 1, 0);
            sy_tensor_release(cur);
            cur = next;
        }
    }
    if (st) return st;
    *out = cur;
    return SY_OK;
}

/* --------------------------------------------------------------- backward */

typedef struct {
    sy_node **items;
    int64_t len, cap;
} node_stack;

static sy_status stack_push(node_stack *s, sy_node *n) {
    if (s->len == s->cap) {
        int64_t cap = s->cap ? s->cap * 2 : 64;
        sy_node **items = realloc(s->items, sizeof *items * (size_t)cap);
        if (!items) return sy_error(SY_ERR_OOM, "backward: out of memory for the graph walk");
        s->items = items;
        s->cap = cap;
    }
    s->items[s->len++] = n;
    return SY_OK;
}

static sy_status seed_gradient(sy_tensor **seed, const sy_tensor *root, const sy_tensor *grad) {
    char a[SY_SHAPE_STRLEN], b[SY_SHAPE_STRLEN];
    if (grad) {
        if (!sy_tensor_same_shape(grad, root))
            return sy_error(SY_ERR_SHAPE, "backward: gradient of shape %s for a tensor of shape %s",
                            sy_shape_str(a, sizeof a, grad->ndim, grad->size),
                            sy_shape_str(b, sizeof b, root->ndim, root->size));
        return sy_tensor_to_dtype(seed, grad, root->dtype);
    }
    if (sy_tensor_numel(root) != 1)
        return sy_error(SY_ERR_SHAPE,
                        "backward: the gradient can only be implied for a tensor with one element; "
                        "this one has shape %s (pass a gradient)",
                        sy_shape_str(a, sizeof a, root->ndim, root->size));
    {
        sy_status st = sy_tensor_empty(seed, root->dtype, root->ndim, root->size);
        if (st == SY_OK) st = sy_tensor_fill_(*seed, 1.0);
        return st;
    }
}

/* Nodes reachable from root through inputs that need grad; counts, for each
** node, how many edges lead into it (its pending consumers). */
static sy_status collect(node_stack *all, sy_node *root) {
    node_stack todo = {0};
    sy_status st;
    int i;
    root->mark = 1;
    root->pending = 0;
    if ((st = stack_push(all, root)) || (st = stack_push(&todo, root))) goto done;
    while (todo.len > 0) {
        sy_node *n = todo.items[--todo.len];
        for (i = 0; i < n->n_inputs; i++) {
            sy_node *p;
            if (!n->needs_grad[i] || !(p = n->inputs[i]->grad_fn)) continue;
            if (!p->mark) {
                p->mark = 1;
                p->pending = 0;
                if ((st = stack_push(all, p)) || (st = stack_push(&todo, p))) goto done;
            }
            p->pending++;
        }
    }
done:
    free(todo.items);
    return st;
}

static sy_status run_node(sy_node *n, node_stack *ready, int retain_graph) {
    sy_tensor *small[8], **grad_in = small;
    sy_status st = SY_OK;
    int i;
    if (n->released)
        return sy_error(SY_ERR_ARG,
                        "backward: trying to go through %s a second time; its saved tensors were "
                        "freed after the first backward (use retain_graph)",
                        n->name);
    if (n->n_inputs > 8 && !(grad_in = calloc((size_t)n->n_inputs, sizeof *grad_in)))
        return sy_error(SY_ERR_OOM, "backward: out of memory");
    for (i = 0; i < n->n_inputs; i++) grad_in[i] = NULL;
    st = n->backward(n, n->grad_accum, grad_in);
    for (i = 0; i < n->n_inputs; i++) {
        sy_tensor *in = n->inputs[i];
        if (!n->needs_grad[i]) {
            sy_tensor_release(grad_in[i]);
            continue;
        }
        if (st == SY_OK && grad_in[i]) {
            if (in->grad_fn) st = accumulate_slot(&in->grad_fn->grad_accum[in->output_nr], grad_in[i]);
            else st = accumulate_leaf(&in->grad, grad_in[i]);
        } else {
            sy_tensor_release(grad_in[i]);
        }
        if (in->grad_fn && --in->grad_fn->pending == 0 && st == SY_OK)
            st = stack_push(ready, in->grad_fn);
    }
    if (grad_in != small) free(grad_in);
    for (i = 0; i < n->n_outputs; i++) {
        sy_tensor_release(n->grad_accum[i]);
        n->grad_accum[i] = NULL;
    }
    if (!retain_graph) {
        node_free_saved(n);
        n->released = 1;
    }
    return st;
}

sy_status sy_backward(sy_tensor *root, const sy_tensor *grad, int retain_graph) {
    node_stack all = {0}, ready = {0};
    sy_tensor *seed = NULL;
    sy_status st;
    int64_t k;
    int prev;
    if (!root->requires_grad)
        return sy_error(SY_ERR_ARG, "backward: the tensor does not require grad and has no grad_fn");
    if (!sy_dtype_is_float(root->dtype))
        return sy_error(SY_ERR_DTYPE, "backward: only float tensors have gradients, got %s",
                        sy_dtype_name(root->dtype));
    if ((st = seed_gradient(&seed, root, grad))) return st;
    prev = sy_set_grad_enabled(0);
    if (!root->grad_fn) {   /* a leaf: its gradient is the seed */
        st = sy_ag_accumulate(&root->grad, seed);
        goto out;
    }
    if ((st = collect(&all, root->grad_fn))) goto out;
    root->grad_fn->grad_accum[root->output_nr] = seed;
    seed = NULL;
    if ((st = stack_push(&ready, root->grad_fn))) goto out;
    while (st == SY_OK && ready.len > 0) st = run_node(ready.items[--ready.len], &ready, retain_graph);
out:
    for (k = 0; k < all.len; k++) {   /* on failure, drop partial gradients */
        sy_node *n = all.items[k];
        int i;
        for (i = 0; i < n->n_outputs; i++) {
            sy_tensor_release(n->grad_accum[i]);
            n->grad_accum[i] = NULL;
        }
        n->mark = 0;
        n->pending = 0;
    }
    free(all.items);
    free(ready.items);
    sy_tensor_release(seed);
    sy_set_grad_enabled(prev);
    return st;
}
