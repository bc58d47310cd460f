/*
** test_oom.c -- out of memory in the core: a tensor too large for any
** machine, sizes whose byte count overflows, and, for a set of scenarios
** (matmul and reductions, sort and top-k, an LSTM forward and backward, a
** safetensors write and read, a CSV read), a sweep that makes allocation n
** fail for every n up to the scenario's allocation count. Each failure must
** be SY_ERR_OOM with a message, and leave nothing allocated.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autograd/autograd.h"
#include "autograd/recurrent_grad.h"
#include "check.h"
#include "core/alloc.h"
#include "core/tensor.h"
#include "io/csv.h"
#include "io/safetensors.h"
#include "ops/ops.h"

/* Under AddressSanitizer an impossible allocation must come back as NULL,
** as it does from the C library, rather than stop the process. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

static char dir[64];

static const char *path_in(const char *name) {
    static char buf[2][128];
    static int next;
    char *p = buf[next++ % 2];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

/* A new float32 tensor with fixed, varied values. */
static sy_status filled(sy_tensor **out, int ndim, const int64_t *size, float scale) {
    sy_status st = sy_tensor_empty(out, SY_F32, ndim, size);
    int64_t i, n;
    float *p;
    if (st != SY_OK) return st;
    n = sy_tensor_numel(*out);
    p = sy_tensor_data(*out);
    for (i = 0; i < n; i++) p[i] = scale * sinf(0.37f * (float)i + 0.1f);
    return SY_OK;
}

static void release_all(sy_tensor **ts, int n) {
    int i;
    for (i = 0; i < n; i++) {
        sy_tensor_release(ts[i]);
        ts[i] = NULL;
    }
}

#define TRY(call)                    \
    do {                             \
        st = (call);                 \
        if (st != SY_OK) goto done;  \
    } while (0)

static sy_status matmul_and_reductions(void) {
    sy_tensor *t[10] = {NULL};
    sy_status st;
    int64_t sa[2] = {8, 5}, sb[2] = {5, 300};
    TRY(filled(&t[0], 2, sa, 1.0f));
    TRY(filled(&t[1], 2, sb, 0.5f));
    TRY(sy_matmul(&t[2], t[0], t[1]));
    TRY(sy_reduce(&t[3], NULL, SY_RED_SUM, t[2], 1, 0, 0));
    TRY(sy_reduce(&t[4], &t[5], SY_RED_MAX, t[2], 0, 1, 0));
    TRY(sy_reduce(&t[6], NULL, SY_RED_STD, t[2], -1, 0, 1));
    TRY(sy_sort(&t[7], &t[8], t[2], 1, 1));
    sy_tensor_release(t[7]);
    sy_tensor_release(t[8]);
    t[7] = t[8] = NULL;
    TRY(sy_topk(&t[7], &t[8], t[2], 3, 1, 1));
    TRY(sy_tensor_contiguous(&t[9], t[4]));
done:
    release_all(t, 10);
    return st;
}

static sy_status lstm_forward_backward(void) {
    sy_tensor *t[12] = {NULL};
    sy_status st;
    int64_t sx[3] = {2, 5, 3}, sih[2] = {16, 3}, shh[2] = {16, 4}, sbias[1] = {16};
    TRY(filled(&t[0], 3, sx, 1.0f));
    TRY(filled(&t[1], 2, sih, 0.3f));
    TRY(filled(&t[2], 2, shh, 0.2f));
    TRY(filled(&t[3], 1, sbias, 0.1f));
    t[1]->requires_grad = t[2]->requires_grad = t[3]->requires_grad = 1;
    TRY(sy_ag_lstm(&t[4], &t[5], &t[6], t[0], NULL, NULL, t[1], t[2], t[3], NULL));
    TRY(sy_ag_unary(&t[7], SY_OP_TANH, t[4]));
    TRY(sy_ag_reduce(&t[8], NULL, SY_RED_SUM, t[7], -1, 0, 0));
    TRY(sy_backward(t[8], NULL, 0));
    st = t[1]->grad && t[2]->grad && t[3]->grad ? SY_OK : sy_error(SY_ERR_INTERNAL, "no gradient");
done:
    release_all(t, 12);   /* a leaf's grad goes with it */
    return st;
}

static sy_status safetensors_round_trip(void) {
    static const char *const names[2] = {"w", "b"}, *const keys[1] = {"epoch"}, *const values[1] = {"3"};
    sy_tensor *t[2] = {NULL};
    sy_st_file *f = NULL;
    sy_status st;
    int64_t sw[2] = {4, 3}, sb[1] = {3};
    TRY(filled(&t[0], 2, sw, 1.0f));
    TRY(filled(&t[1], 1, sb, 1.0f));
    TRY(sy_safetensors_write(path_in("oom.safetensors"), 2, names, (const sy_tensor *const *)t, 1, keys,
                             values));
    TRY(sy_safetensors_read(&f, path_in("oom.safetensors")));
    st = f->n == 2 && f->nmeta == 1 ? SY_OK : sy_error(SY_ERR_INTERNAL, "round trip lost entries");
done:
    sy_safetensors_free(f);
    release_all(t, 2);
    return st;
}

static sy_status csv_read(void) {
    sy_csv_options opt;
    sy_csv_table *t = NULL;
    sy_status st;
    sy_csv_options_init(&opt);
    opt.decimal = ',';
    st = sy_csv_read(&t, path_in("oom.csv"), &opt);
    if (st == SY_OK && (t->ncols != 4 || t->nrows != 3)) st = sy_error(SY_ERR_INTERNAL, "wrong table");
    sy_csv_free(t);
    return st;
}

/* Runs the scenario with allocation n failing, for n = 1, 2, ... until it
** succeeds; returns how many allocations it made. */
static int sweep(const char *name, sy_status (*scenario)(void)) {
    int64_t baseline = sy_mem_in_use();
    int n;
    CHECK_OK(scenario());   /* it works at all */
    CHECK(sy_mem_in_use() == baseline);
    for (n = 1; n < 10000; n++) {
        sy_status st;
        sy_mem_fail_after(n);
        st = scenario();
        sy_mem_fail_after(0);
        if (st == SY_OK) break;
        if (st != SY_ERR_OOM || sy_error_message()[0] == '\0') {
            fprintf(stderr, "%s: allocation %d failing gave status %d: %s\n", name, n, (int)st,
                    sy_error_message());
            CHECK(0);
        }
        if (sy_mem_in_use() != baseline) {
            fprintf(stderr, "%s: allocation %d failing leaked %lld bytes\n", name, n,
                    (long long)(sy_mem_in_use() - baseline));
            CHECK(0);
            baseline = sy_mem_in_use();   /* report each leaking n once */
        }
    }
    printf("%s: %d allocations, each failure clean\n", name, n - 1);
    return n - 1;
}

static void test_sweeps(void) {
    CHECK(sweep("matmul and reductions", matmul_and_reductions) >= 10);
    CHECK(sweep("lstm forward and backward", lstm_forward_backward) >= 10);
    CHECK(sweep("safetensors write and read", safetensors_round_trip) >= 2);
    CHECK(sweep("csv read", csv_read) >= 4);
}

static void test_too_large(void) {
    int64_t huge[2] = {1000000, 1000000}, overflow[2] = {(int64_t)1 << 62, 4}, wide[1] = {INT64_MAX};
    int64_t baseline = sy_mem_in_use();
    sy_tensor *t = NULL;
    CHECK_FAILS(sy_tensor_new(&t, SY_F32, 2, huge), SY_ERR_OOM);
    CHECK(strstr(sy_error_message(), "out of memory") != NULL);
    CHECK(t == NULL);
    /* the byte count of these overflows int64: an error, whichever */
    CHECK(sy_tensor_new(&t, SY_F32, 2, overflow) != SY_OK);
    CHECK(t == NULL);
    CHECK(sy_tensor_new(&t, SY_F64, 1, wide) != SY_OK);
    CHECK(t == NULL);
    CHECK(sy_error_message()[0] != '\0');
    CHECK(sy_mem_in_use() == baseline);
}

int main(void) {
    static const char csv[] = "date;open;close;name\n02/01/2024;1,5;2;a\n03/01/2024;1,6;NA;b\n04/01/2024;1,7;2,5;c\n";
    FILE *f;
    snprintf(dir, sizeof dir, "/tmp/synlua-oom-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    f = fopen(path_in("oom.csv"), "wb");
    if (!f) return 1;
    fputs(csv, f);
    fclose(f);
    test_too_large();
    test_sweeps();
    remove(path_in("oom.csv"));
    remove(path_in("oom.safetensors"));
    rmdir(dir);
    return check_summary("oom");
}
