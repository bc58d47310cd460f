/*
** prune.h -- the core of the synaptic pruning engine (paper §3, Algorithms
** 3 and 5; REFERENCE.md §1-2): magnitude selection over many weight tensors
** at once, and the masks beside them. Schedules, timing, naming and
** checkpoints live in Lua (lua/synlua/prune.lua).
**
** A pruning set is n weight tensors of one dtype (float32 or float64,
** contiguous, on the CPU), each with a mask of its shape (uint8 or bool,
** contiguous, on the CPU): 0 = pruned, anything else = active. An update only
** turns masks from 1 to 0, and zeroes each weight it prunes in the same pass
** (the optimizer's fused loop re-zeroes them after every step, see optim.h).
**
** Magnitudes are ranked by the bits of |w|: for non-negative IEEE floats the
** bit pattern orders like the value. The k-th smallest active magnitude is
** found by a radix selection (a histogram of the top 11 bits over all active
** weights, then 11 bits at a time over the weights of the chosen bucket),
** not by a sort: three passes over the weights whatever the distribution.
*/
#ifndef SY_PRUNE_H
#define SY_PRUNE_H

#include "../core/tensor.h"

typedef enum sy_prune_mode {
    /* Prunes exactly floor(s*N) - (already pruned) weights, N the fixed
    ** number of weights in the scope; equal magnitudes are taken in tensor
    ** order, then flat index. Targets must be in [0, 1). */
    SY_PRUNE_EXACT = 0,
    /* The reference code's decisions: N counts only tensors that still have
    ** an active weight; k = floor(s*N) - (N - active); nothing happens when
    ** k <= 0 or k >= active; else the threshold is the k-th smallest active
    ** magnitude (1-based, torch.kthvalue) and the weights strictly below it
    ** are pruned (k - 1 of them, fewer with ties). Any number but NaN is a
    ** valid target (targets >= 1 prune nothing). */
    SY_PRUNE_COMPAT
} sy_prune_mode;

typedef enum sy_prune_scope {
    SY_PRUNE_GLOBAL = 0, /* one ranking over all tensors of the set */
    SY_PRUNE_LAYER       /* each tensor to the target on its own */
} sy_prune_scope;

/* What an update did, summed over the scopes (one for global, one per tensor
** for layer). */
typedef struct sy_prune_result {
    int64_t total;     /* the denominators N */
    int64_t active;    /* active weights before the update */
    int64_t k;         /* ranks selected (0 where nothing was selected) */
    int64_t pruned;    /* weights pruned by this update */
    double threshold;  /* global scope: the magnitude at rank k; else NaN */
} sy_prune_result;

/* Checks one weight and its mask as described above. `who` starts the
** message ("prune: weight 'fc.weight'"). */
sy_status sy_prune_check_pair(const char *who, const sy_tensor *weight, const sy_tensor *mask);

/* One pruning update of the set toward `target` (a sparsity in [0, 1) in
** exact mode). names (may be NULL) name the tensors in messages. Everything
** is checked before anything is written; a NaN among the active weights is
** an error (magnitudes cannot be ranked), as is an allocation failure. */
sy_status sy_prune_update(sy_prune_result *res, sy_tensor *const *weights, sy_tensor *const *masks,
                          int64_t n, double target, sy_prune_mode mode, sy_prune_scope scope,
                          const char *const *names);

/* Algorithm 5: weights[i] = 0 wherever masks[i] is 0. */
sy_status sy_mask_apply(sy_tensor *const *weights, sy_tensor *const *masks, int64_t n);

/* zeros[i] = the number of pruned (0) entries of masks[i] (uint8 or bool,
** any layout). A uint8 mask holding anything but 0 and 1 is an error. */
sy_status sy_mask_count(int64_t *zeros, sy_tensor *const *masks, int64_t n);

#endif
