/*
** iter.c -- the strided loop nest behind elementwise kernels.
*/
#include "iter.h"

void sy_iter_run(int nops, const sy_tensor *const *ops, int ndim, const int64_t *size,
                 sy_row_fn fn, void *ctx) {
    int64_t sz[SY_MAX_DIMS], st[SY_ITER_MAX_OPS][SY_MAX_DIMS], idx[SY_MAX_DIMS] = {0};
    char *base[SY_ITER_MAX_OPS], *ptr[SY_ITER_MAX_OPS];
    int64_t inner[SY_ITER_MAX_OPS];
    int nd = 0, i, k;

    for (i = 0; i < ndim; i++)
        if (size[i] == 0) return;
    /* Drop size-1 dims, then merge dim i into the previous one when every
    ** operand is contiguous across the pair. */
    for (i = 0; i < ndim; i++) {
        if (size[i] == 1) continue;
        if (nd > 0) {
            int merge = 1;
            for (k = 0; k < nops; k++)
                if (st[k][nd - 1] != ops[k]->stride[i] * size[i]) { merge = 0; break; }
            if (merge) {
                sz[nd - 1] *= size[i];
                for (k = 0; k < nops; k++) st[k][nd - 1] = ops[k]->stride[i];
                continue;
            }
        }
        sz[nd] = size[i];
        for (k = 0; k < nops; k++) st[k][nd] = ops[k]->stride[i];
        nd++;
    }
    for (k = 0; k < nops; k++) {
        int64_t es = sy_dtype_size(ops[k]->dtype);
        base[k] = (char *)sy_tensor_data(ops[k]);
        for (i = 0; i < nd; i++) st[k][i] *= es;
        inner[k] = nd > 0 ? st[k][nd - 1] : es;
    }
    if (nd == 0) {   /* a single element */
        fn(1, base, inner, ctx);
        return;
    }
    for (;;) {
        for (k = 0; k < nops; k++) {
            ptr[k] = base[k];
            for (i = 0; i < nd - 1; i++) ptr[k] += idx[i] * st[k][i];
        }
        fn(sz[nd - 1], ptr, inner, ctx);
        for (i = nd - 2; i >= 0; i--) {
            if (++idx[i] < sz[i]) break;
            idx[i] = 0;
        }
        if (i < 0) return;
    }
}
