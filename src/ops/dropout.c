/*
** dropout.c -- inverted dropout: a keep mask drawn from the synlua RNG and
** one multiply by mask * 1/(1-p), used by the forward and the backward alike
** (see attention.h).
*/
#include "attention.h"

double sy_dropout_scale(double p) { return p < 1 ? 1 / (1 - p) : 0; }

sy_status sy_dropout_mask(sy_tensor *keep, sy_rng *g, double p) {
    return sy_rng_bernoulli(keep, g, 1 - p);
}

void sy_dropout_apply(sy_tensor *out, const sy_tensor *x, const sy_tensor *keep, double scale) {
    const int64_t n = sy_tensor_numel(x);
    const unsigned char *m = sy_tensor_data(keep);
    int64_t i;
    if (x->dtype == SY_F32) {
        const float *xs = sy_tensor_data(x), s = (float)scale;
        float *o = sy_tensor_data(out);
        for (i = 0; i < n; i++) o[i] = m[i] ? xs[i] * s : 0;
    } else {
        const double *xs = sy_tensor_data(x);
        double *o = sy_tensor_data(out);
        for (i = 0; i < n; i++) o[i] = m[i] ? xs[i] * scale : 0;
    }
}
