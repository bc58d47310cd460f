/*
** fuzz_safetensors.c -- libFuzzer target for the safetensors reader
** (src/io/safetensors.h).
**
** The input is the file. A read must either fail with a message or give
** tensors that are whole (every byte readable) and that survive a round
** trip: written back with sy_safetensors_write and read again, the file has
** the same names, dtypes, shapes, bytes and metadata. Nothing may leak.
*/
#include "fuzz_common.h"
#include "io/safetensors.h"

static char in_path[128], out_path[128];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz_make_dir();
    fuzz_path(in_path, sizeof in_path, "input.safetensors");
    fuzz_path(out_path, sizeof out_path, "roundtrip.safetensors");
    return 0;
}

static size_t tensor_bytes(const sy_tensor *t) {
    int64_t n = 1;
    int d;
    for (d = 0; d < t->ndim; d++) n *= t->size[d];
    return (size_t)n * (size_t)sy_dtype_size(t->dtype);
}

static void fail(const char *what, const char *name) {
    fprintf(stderr, "fuzz_safetensors: round trip changed %s of '%s'\n", what, name);
    abort();
}

static void check_same(const sy_st_file *a, const sy_st_file *b) {
    int i, d;
    if (a->n != b->n || a->nmeta != b->nmeta) fail("the counts", "(file)");
    for (i = 0; i < a->n; i++) {
        const sy_tensor *x = a->tensors[i], *y = b->tensors[i];
        if (strcmp(a->names[i], b->names[i]) != 0) fail("the name", a->names[i]);
        if (x->dtype != y->dtype || x->ndim != y->ndim) fail("the dtype or rank", a->names[i]);
        for (d = 0; d < x->ndim; d++)
            if (x->size[d] != y->size[d]) fail("the shape", a->names[i]);
        if (!sy_tensor_is_contiguous(x) || !sy_tensor_is_contiguous(y)) fail("the layout", a->names[i]);
        if (memcmp(sy_tensor_data(x), sy_tensor_data(y), tensor_bytes(x)) != 0) fail("the data", a->names[i]);
    }
    for (i = 0; i < a->nmeta; i++)
        if (strcmp(a->keys[i], b->keys[i]) != 0 || strcmp(a->values[i], b->values[i]) != 0)
            fail("metadata", a->keys[i]);
}

static void round_trip(const sy_st_file *f) {
    sy_st_file *back = NULL;
    sy_status st = sy_safetensors_write(out_path, f->n, (const char *const *)f->names,
                                        (const sy_tensor *const *)f->tensors, f->nmeta,
                                        (const char *const *)f->keys, (const char *const *)f->values);
    if (st != SY_OK) {
        fprintf(stderr, "fuzz_safetensors: a file that reads does not write back: %s\n", sy_error_message());
        abort();
    }
    st = sy_safetensors_read(&back, out_path);
    if (st != SY_OK) {
        fprintf(stderr, "fuzz_safetensors: synlua cannot read what it wrote: %s\n", sy_error_message());
        abort();
    }
    check_same(f, back);
    sy_safetensors_free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sy_st_file *f = NULL;
    sy_status st;
    int64_t baseline = sy_mem_in_use();
    fuzz_write_file(in_path, data, size);
    st = sy_safetensors_read(&f, in_path);
    fuzz_check_message(st, "sy_safetensors_read");
    if (st == SY_OK) round_trip(f);
    sy_safetensors_free(f);
    fuzz_check_no_leak(baseline, "sy_safetensors_read");
    return 0;
}
