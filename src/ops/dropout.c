/*
** dropout.c -- inverted dropout: a keep mask drawn from the synlua RNG and
** one multiply by mask * 1/(1-p), used by the forward and the backward alike
** (see attention.h). The multiply has no branch on the random mask, and, as
** in PyTorch, a dropped inf or NaN stays NaN.
*/
#include <math.h>

#include "attention.h"

double sy_dropout_scale(double p) { return p < 1 ? 1 / (1 - p) : 0; }

/* The stream of sy_rng_bernoulli(keep, g, 1 - p) -- element i is kept when
** word i of the draw, times 2^-32, is below 1 - p -- written out for a
** contiguous uint8 mask: one Philox block per four elements, no per-element
** dispatch. For an integer word w, w * 2^-32 < 1 - p exactly when
** w < ceil((1 - p) * 2^32) (the scaling by 2^32 is exact). */
void sy_dropout_mask(sy_tensor *keep, sy_rng *g, double p) {
    enum { CHUNK = 256 };   /* blocks drawn at a time: 4 KB of words */
    const uint64_t n = (uint64_t)sy_tensor_numel(keep);
    const uint64_t limit = (uint64_t)ceil((1 - p) * 4294967296.0);
    unsigned char *m = sy_tensor_data(keep);
    uint64_t first, done, k;
    uint32_t w[4 * CHUNK];
    if (!g) g = sy_rng_default();
    first = sy_rng_reserve(g, (n + 3) / 4);
    for (done = 0; done < n; done += 4 * CHUNK) {
        const uint64_t left = n - done, words = left < 4 * CHUNK ? left : 4 * CHUNK;
        sy_rng_blocks(w, g, first + done / 4, (int64_t)((words + 3) / 4));
        if (limit > UINT32_MAX) /* p = 0: every word is below 2^32 */
            for (k = 0; k < words; k++) m[done + k] = 1;
        else /* a 32-bit compare, which vectorises */
            for (k = 0; k < words; k++) m[done + k] = w[k] < (uint32_t)limit;
    }
}

void sy_dropout_apply(sy_tensor *out, const sy_tensor *x, const sy_tensor *keep, double scale) {
    const int64_t n = sy_tensor_numel(x);
    const unsigned char *m = sy_tensor_data(keep);
    int64_t i;
    if (x->dtype == SY_F32) {
        const float *xs = sy_tensor_data(x), s = (float)scale;
        float *o = sy_tensor_data(out);
        for (i = 0; i < n; i++) o[i] = xs[i] * ((float)m[i] * s);
    } else {
        const double *xs = sy_tensor_data(x);
        double *o = sy_tensor_data(out);
        for (i = 0; i < n; i++) o[i] = xs[i] * ((double)m[i] * scale);
    }
}
