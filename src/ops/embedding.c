/*
** embedding.c -- row lookup in a table and its backward, a scatter-add of the
** output gradient's rows into the table's gradient (see layers.h).
**
** The forward copies rows whole, so it serves both float dtypes; the
** backward's loop is spelled out for each.
*/
#include <string.h>

#include "layers.h"

sy_status sy_embedding_forward(sy_tensor *out, const sy_tensor *ids, const sy_tensor *w,
                               int64_t base, int64_t n, int64_t num, int64_t D) {
    const int64_t *id = sy_tensor_data(ids);
    const size_t row = (size_t)(D * sy_dtype_size(w->dtype));
    const char *src = sy_tensor_data(w);
    char *dst = sy_tensor_data(out);
    int64_t i;
    for (i = 0; i < n; i++) {
        /* unsigned compare: ids below base wrap to huge values */
        uint64_t k = (uint64_t)id[i] - (uint64_t)base;
        if (k >= (uint64_t)num)
            return sy_error(SY_ERR_INDEX,
                            "embedding: id %lld is out of range for a table of %lld rows "
                            "(ids count from %lld)",
                            (long long)id[i], (long long)num, (long long)base);
        memcpy(dst + (size_t)i * row, src + k * row, row);
    }
    return SY_OK;
}

#define SCATTER_ADD(T)                                                           \
    do {                                                                         \
        T *g = sy_tensor_data(dw);                                               \
        const T *d = sy_tensor_data(dy);                                         \
        memset(g, 0, sizeof *g * (size_t)(num * D));                             \
        for (i = 0; i < n; i++) {                                                \
            T *gr = g + (id[i] - base) * D;                                      \
            const T *dr = d + i * D;                                             \
            for (j = 0; j < D; j++) gr[j] += dr[j];                              \
        }                                                                        \
    } while (0)

void sy_embedding_backward(sy_tensor *dw, const sy_tensor *dy, const sy_tensor *ids,
                           int64_t base, int64_t n, int64_t num, int64_t D) {
    const int64_t *id = sy_tensor_data(ids);
    int64_t i, j;
    if (dw->dtype == SY_F32) SCATTER_ADD(float);
    else SCATTER_ADD(double);
}
