/*
** mask.c -- pruning masks: the checks every weight/mask pair passes, applying
** masks to weights (Algorithm 5) and counting pruned entries (Algorithm 6).
*/
#include <stdio.h>

#include "prune.h"

sy_status sy_prune_check_pair(const char *who, const sy_tensor *weight, const sy_tensor *mask) {
    char a[SY_SHAPE_STRLEN], b[SY_SHAPE_STRLEN];
    if (weight->dtype != SY_F32 && weight->dtype != SY_F64)
        return sy_error(SY_ERR_DTYPE, "%s is %s; only float32 and float64 weights are pruned", who,
                        sy_dtype_name(weight->dtype));
    if (weight->storage->device != SY_CPU || mask->storage->device != SY_CPU)
        return sy_error(SY_ERR_DEVICE, "%s: weight and mask must be on the CPU", who);
    if (!sy_tensor_is_contiguous(weight))
        return sy_error(SY_ERR_ARG, "%s is not contiguous (shape %s, strides %s)", who,
                        sy_shape_str(a, sizeof a, weight->ndim, weight->size),
                        sy_shape_str(b, sizeof b, weight->ndim, weight->stride));
    if (!sy_tensor_same_shape(mask, weight))
        return sy_error(SY_ERR_SHAPE, "%s: its mask has shape %s, the weight %s", who,
                        sy_shape_str(a, sizeof a, mask->ndim, mask->size),
                        sy_shape_str(b, sizeof b, weight->ndim, weight->size));
    if (mask->dtype != SY_U8 && mask->dtype != SY_BOOL)
        return sy_error(SY_ERR_DTYPE, "%s: its mask is %s; masks are uint8 or bool", who,
                        sy_dtype_name(mask->dtype));
    if (!sy_tensor_is_contiguous(mask))
        return sy_error(SY_ERR_ARG, "%s: its mask is not contiguous", who);
    return SY_OK;
}

sy_status sy_mask_apply(sy_tensor *const *weights, sy_tensor *const *masks, int64_t n) {
    char who[64];
    int64_t t, i;
    sy_status st;
    for (t = 0; t < n; t++) {
        snprintf(who, sizeof who, "mask apply: weight %lld", (long long)t + 1);
        if ((st = sy_prune_check_pair(who, weights[t], masks[t]))) return st;
    }
    for (t = 0; t < n; t++) {
        const uint8_t *m = sy_tensor_data(masks[t]);
        int64_t len = sy_tensor_numel(weights[t]);
        if (weights[t]->dtype == SY_F32) {
            float *w = sy_tensor_data(weights[t]);
            for (i = 0; i < len; i++) w[i] = m[i] ? w[i] : 0.0f;
        } else {
            double *w = sy_tensor_data(weights[t]);
            for (i = 0; i < len; i++) w[i] = m[i] ? w[i] : 0.0;
        }
    }
    return SY_OK;
}

sy_status sy_mask_count(int64_t *zeros, sy_tensor *const *masks, int64_t n) {
    int64_t t, i;
    sy_status st;
    for (t = 0; t < n; t++) {
        sy_tensor *c;
        const uint8_t *m;
        int64_t len = sy_tensor_numel(masks[t]), z = 0;
        uint8_t top = 0;
        if (masks[t]->dtype != SY_U8 && masks[t]->dtype != SY_BOOL)
            return sy_error(SY_ERR_DTYPE, "mask count: mask %lld is %s; masks are uint8 or bool",
                            (long long)t + 1, sy_dtype_name(masks[t]->dtype));
        if (masks[t]->storage->device != SY_CPU)
            return sy_error(SY_ERR_DEVICE, "mask count: mask %lld is not on the CPU", (long long)t + 1);
        if ((st = sy_tensor_contiguous(&c, masks[t]))) return st;
        m = sy_tensor_data(c);
        for (i = 0; i < len; i++) {
            z += m[i] == 0;
            top = m[i] > top ? m[i] : top;
        }
        sy_tensor_release(c);
        if (top > 1)
            return sy_error(SY_ERR_ARG, "mask count: mask %lld holds the value %d; masks hold 0 "
                                        "(pruned) and 1 (active)",
                            (long long)t + 1, (int)top);
        zeros[t] = z;
    }
    return SY_OK;
}
