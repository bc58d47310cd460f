/*
** test_safetensors.c -- the safetensors reader and writer: round trips of
** every dtype, the exact bytes of a small file, determinism, atomic writes,
** leniency towards valid files from other writers, and a corpus of malformed
** files that must each fail with SY_ERR_FORMAT and a message that names the
** file and the problem; the XXH64 checksum against reference digests, and
** damaged data caught by it.
*/
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "core/alloc.h"
#include "core/tensor.h"
#include "io/safetensors.h"

static char dir[64];

/* dir/name in one of 4 rotating buffers: copy a path that must outlive
** later calls. */
static const char *path_in(const char *name) {
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(data, 1, n, f) == n);
    fclose(f);
}

/* The whole file, malloc'ed; *n receives its length. NULL if unreadable. */
static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long len;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)len + 1);
    *n = fread(buf, 1, (size_t)len, f);
    fclose(f);
    return buf;
}

static int same_file_bytes(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    unsigned char *x = read_bytes(a, &na), *y = read_bytes(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* A file made of an 8-byte length prefix for `header`, the header and data. */
static void make_file(const char *path, const char *header, const void *data, size_t ndata) {
    size_t hlen = strlen(header), i;
    unsigned char *buf = malloc(8 + hlen + ndata + 1);
    for (i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(buf + 8, header, hlen);
    if (ndata) memcpy(buf + 8 + hlen, data, ndata);
    write_bytes(path, buf, 8 + hlen + ndata);
    free(buf);
}

static sy_tensor *tensor_of(sy_dtype dt, int ndim, const int64_t *size, const void *values) {
    sy_tensor *t = NULL;
    CHECK_OK(sy_tensor_new(&t, dt, ndim, size));   /* zeros without values: files are compared byte for byte */
    if (t && values) memcpy(sy_tensor_data(t), values, (size_t)(sy_tensor_numel(t) * sy_dtype_size(dt)));
    return t;
}

/* Index of name in f, or -1. */
static int find(const sy_st_file *f, const char *name) {
    int i;
    for (i = 0; i < f->n; i++)
        if (strcmp(f->names[i], name) == 0) return i;
    return -1;
}

static int no_temp_files(void) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int clean = 1;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) clean = 0;
    closedir(d);
    return clean;
}

/* ------------------------------------------------------------ round trips */

static void test_round_trip_all_dtypes(void) {
    const float f32[6] = {-1.5f, 0.0f, 3.25f, 1e-30f, -7.0f, 65504.0f};
    const double f64[3] = {1e300, -0.0, 3.141592653589793};
    const int64_t i64[4] = {INT64_MIN, -1, 0, INT64_MAX};
    const uint8_t u8[4] = {0, 1, 200, 255};
    const uint8_t b[5] = {1, 0, 0, 1, 1};
    const float scalar = 42.5f;
    const int64_t s23[2] = {2, 3}, s3[1] = {3}, s22[2] = {2, 2}, s4[1] = {4}, s5[1] = {5},
                  s03[2] = {0, 3}, s20[2] = {2, 0};
    const char *names[] = {"w.f32", "w.f64", "idx", "bytes", "layer.0.weight.mask", "scalar",
                           "empty_f32", "empty_i64"};
    const sy_tensor *ts[8];
    const char *keys[] = {"epoch", "note", "unicode"};
    const char *values[] = {"12", "quote \" backslash \\ newline \n tab \t ctrl \x01 end", "caf\xc3\xa9 \xf0\x9f\x98\x80"};
    sy_tensor *own[8];
    sy_st_file *f = NULL;
    const char *path = path_in("all.safetensors");
    int i, k;
    int64_t before = sy_mem_in_use();

    own[0] = tensor_of(SY_F32, 2, s23, f32);
    own[1] = tensor_of(SY_F64, 1, s3, f64);
    own[2] = tensor_of(SY_I64, 2, s22, i64);
    own[3] = tensor_of(SY_U8, 1, s4, u8);
    own[4] = tensor_of(SY_BOOL, 1, s5, b);
    own[5] = tensor_of(SY_F32, 0, NULL, &scalar);
    own[6] = tensor_of(SY_F32, 2, s03, NULL);
    own[7] = tensor_of(SY_I64, 2, s20, NULL);
    for (i = 0; i < 8; i++) ts[i] = own[i];
    CHECK_OK(sy_safetensors_write(path, 8, names, ts, 3, keys, values));
    CHECK_OK(sy_safetensors_read(&f, path));
    if (f) {
        CHECK(f->n == 8);
        for (i = 1; i < f->n; i++) CHECK(strcmp(f->names[i - 1], f->names[i]) < 0);   /* by name */
        for (i = 0; i < 8; i++) {
            const sy_tensor *a = own[i], *r;
            k = find(f, names[i]);
            CHECK(k >= 0);
            if (k < 0) continue;
            r = f->tensors[k];
            CHECK(r->dtype == a->dtype);
            CHECK(sy_tensor_same_shape(r, a));
            CHECK(sy_tensor_numel(r) == 0 || sy_tensor_is_contiguous(r));
            CHECK(memcmp(sy_tensor_data(r), sy_tensor_data(a),
                         (size_t)(sy_tensor_numel(a) * sy_dtype_size(a->dtype))) == 0);
        }
        k = find(f, "scalar");
        CHECK(k >= 0 && f->tensors[k]->ndim == 0 && sy_tensor_numel(f->tensors[k]) == 1);
        k = find(f, "empty_f32");
        CHECK(k >= 0 && f->tensors[k]->ndim == 2 && f->tensors[k]->size[0] == 0 && f->tensors[k]->size[1] == 3);
        /* -0.0 keeps its sign bit: the bytes travel unchanged */
        k = find(f, "w.f64");
        CHECK(k >= 0 && ((const uint64_t *)sy_tensor_data(f->tensors[k]))[1] == UINT64_C(0x8000000000000000));
        CHECK(f->nmeta == 3);
        for (i = 0; i < 3 && f->nmeta == 3; i++) {
            CHECK(strcmp(f->keys[i], keys[i]) == 0);   /* keys come back sorted; these already are */
            CHECK(strcmp(f->values[i], values[i]) == 0);
        }
    }
    sy_safetensors_free(f);
    for (i = 0; i < 8; i++) sy_tensor_release(own[i]);
    CHECK(sy_mem_in_use() == before);
}

static void test_no_tensors(void) {
    const char *path = path_in("none.safetensors");
    const char *key = "k", *value = "v";
    sy_st_file *f = NULL;
    size_t n = 0;
    unsigned char *bytes;
    static const char empty[] = "{\"__metadata__\":{\"synlua.checksum\":\"xxh64:ef46db3751d8e999\"}}   ";
    CHECK_OK(sy_safetensors_write(path, 0, NULL, NULL, 0, NULL, NULL));
    bytes = read_bytes(path, &n);
    /* only the checksum of no bytes, padded to 8 bytes */
    CHECK(sizeof empty - 1 == 64);
    CHECK(n == 72 && bytes && bytes[0] == 64 && memcmp(bytes + 8, empty, 64) == 0);
    free(bytes);
    CHECK_OK(sy_safetensors_read(&f, path));
    CHECK(f && f->n == 0 && f->nmeta == 0);
    sy_safetensors_free(f);
    f = NULL;
    CHECK_OK(sy_safetensors_write(path, 0, NULL, NULL, 1, &key, &value));
    CHECK_OK(sy_safetensors_read(&f, path));
    CHECK(f && f->n == 0 && f->nmeta == 1 && strcmp(f->keys[0], "k") == 0 && strcmp(f->values[0], "v") == 0);
    sy_safetensors_free(f);
}

static void test_non_contiguous(void) {
    const float v[6] = {0, 1, 2, 3, 4, 5};   /* [[0,1,2],[3,4,5]] */
    const int64_t s23[2] = {2, 3}, s1[1] = {1}, s24[2] = {2, 4};
    const float one = 7.0f;
    sy_tensor *base = tensor_of(SY_F32, 2, s23, v), *tr = NULL, *nar = NULL, *src1, *ex = NULL;
    const char *names[3] = {"transposed", "narrowed", "expanded"};
    const sy_tensor *ts[3];
    const char *path = path_in("views.safetensors");
    sy_st_file *f = NULL;
    int k;
    src1 = tensor_of(SY_F32, 1, s1, &one);
    CHECK_OK(sy_tensor_transpose(&tr, base, 0, 1));     /* [3,2]: 0,3,1,4,2,5 */
    CHECK_OK(sy_tensor_narrow(&nar, base, 1, 1, 2));    /* [2,2]: 1,2,4,5 */
    CHECK_OK(sy_tensor_expand(&ex, src1, 2, s24));      /* [2,4] of 7, stride 0 */
    CHECK(tr && !sy_tensor_is_contiguous(tr));
    CHECK(nar && !sy_tensor_is_contiguous(nar));
    ts[0] = tr;
    ts[1] = nar;
    ts[2] = ex;
    CHECK_OK(sy_safetensors_write(path, 3, names, ts, 0, NULL, NULL));
    CHECK_OK(sy_safetensors_read(&f, path));
    if (f && f->n == 3) {
        const float want_tr[6] = {0, 3, 1, 4, 2, 5}, want_nar[4] = {1, 2, 4, 5};
        const float *p;
        int i;
        k = find(f, "transposed");
        CHECK(k >= 0 && f->tensors[k]->size[0] == 3 && f->tensors[k]->size[1] == 2);
        if (k >= 0)
            CHECK(memcmp(sy_tensor_data(f->tensors[k]), want_tr, sizeof want_tr) == 0);
        k = find(f, "narrowed");
        if (k >= 0)
            CHECK(memcmp(sy_tensor_data(f->tensors[k]), want_nar, sizeof want_nar) == 0);
        k = find(f, "expanded");
        CHECK(k >= 0 && sy_tensor_numel(f->tensors[k]) == 8);
        if (k >= 0) {
            p = sy_tensor_data(f->tensors[k]);
            for (i = 0; i < 8; i++) CHECK(p[i] == 7.0f);
        }
    }
    sy_safetensors_free(f);
    sy_tensor_release(tr);
    sy_tensor_release(nar);
    sy_tensor_release(ex);
    sy_tensor_release(src1);
    sy_tensor_release(base);
}

/* --------------------------------------------------- exact bytes, determinism */

static void test_exact_bytes(void) {
    /* Written by hand from the format description: metadata first (sorted,
    ** with the checksum: XXH64 of the 11 data bytes, from the xxHash library),
    ** tensors by name, compact JSON, 200 header bytes (no padding needed). */
    static const char header[] =
        "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"a\\\"b\\\\c\\n\","
        "\"synlua.checksum\":\"xxh64:c2542523f3fb842f\"},"
        "\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[3,11]}}";
    static const unsigned char prefix[8] = {0xC8, 0, 0, 0, 0, 0, 0, 0};
    static const unsigned char data[11] = {1, 2, 3, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0x40};
    const uint8_t u8[3] = {1, 2, 3};
    const float f32[2] = {1.0f, 2.0f};
    const int64_t s3[1] = {3}, s2[1] = {2};
    sy_tensor *a = tensor_of(SY_U8, 1, s3, u8), *b = tensor_of(SY_F32, 1, s2, f32);
    const char *names[2] = {"b", "a"};
    const sy_tensor *ts[2];
    const char *keys[2] = {"note", "format"}, *values[2] = {"a\"b\\c\n", "pt"};
    const char *path = path_in("exact.safetensors");
    unsigned char *got;
    size_t n = 0;
    CHECK(sizeof header - 1 == 200);
    ts[0] = b;
    ts[1] = a;
    CHECK_OK(sy_safetensors_write(path, 2, names, ts, 2, keys, values));
    got = read_bytes(path, &n);
    CHECK(got && n == 8 + 200 + 11);
    if (got && n == 8 + 200 + 11) {
        CHECK(memcmp(got, prefix, 8) == 0);
        CHECK(memcmp(got + 8, header, 200) == 0);
        CHECK(memcmp(got + 208, data, 11) == 0);
        if (memcmp(got + 8, header, 200) != 0) fprintf(stderr, "header was: %.200s\n", (const char *)got + 8);
    }
    free(got);
    sy_tensor_release(a);
    sy_tensor_release(b);
}

static void test_deterministic(void) {
    const float v[4] = {1, 2, 3, 4};
    const int64_t s4[1] = {4};
    sy_tensor *x = tensor_of(SY_F32, 1, s4, v), *y = tensor_of(SY_I64, 1, s4, NULL);
    const char *n1[3] = {"x", "y", "z"}, *n2[3] = {"z", "x", "y"};
    const sy_tensor *t1[3], *t2[3];
    const char *k1[2] = {"a", "b"}, *v1[2] = {"1", "2"}, *k2[2] = {"b", "a"}, *v2[2] = {"2", "1"};
    t1[0] = x;
    t1[1] = y;
    t1[2] = x;
    t2[0] = x;
    t2[1] = x;
    t2[2] = y;
    CHECK_OK(sy_safetensors_write(path_in("d1.safetensors"), 3, n1, t1, 2, k1, v1));
    CHECK_OK(sy_safetensors_write(path_in("d2.safetensors"), 3, n2, t2, 2, k2, v2));
    CHECK_OK(sy_safetensors_write(path_in("d3.safetensors"), 3, n1, t1, 2, k1, v1));
    CHECK(same_file_bytes(path_in("d1.safetensors"), path_in("d2.safetensors")));
    CHECK(same_file_bytes(path_in("d1.safetensors"), path_in("d3.safetensors")));
    sy_tensor_release(x);
    sy_tensor_release(y);
}

/* ---------------------------------------------------------------- atomicity */

static void test_atomic_write(void) {
    const float v[2] = {1, 2};
    const int64_t s2[1] = {2}, big_size[1] = {1000};
    sy_tensor *x = tensor_of(SY_F32, 1, s2, v), *big = NULL, *tr = NULL, *m = NULL;
    const char *name = "x";
    const sy_tensor *tp;
    char target[512], tmp[600], msg[1024];
    struct stat sb;
    sy_st_file *f = NULL;

    snprintf(target, sizeof target, "%s", path_in("atomic.safetensors"));   /* path_in's buffers rotate */
    /* a directory that does not exist: clean failure naming path and reason */
    tp = x;
    CHECK_FAILS(sy_safetensors_write(path_in("no/such/dir/w.safetensors"), 1, &name, &tp, 0, NULL, NULL),
                SY_ERR_IO);
    CHECK(strstr(sy_error_message(), "no/such/dir/w.safetensors") != NULL);
    CHECK(strstr(sy_error_message(), strerror(ENOENT)) != NULL);

    /* overwriting a larger file replaces it completely */
    CHECK_OK(sy_tensor_new(&big, SY_F64, 1, big_size));
    tp = big;
    CHECK_OK(sy_safetensors_write(target, 1, &name, &tp, 0, NULL, NULL));
    tp = x;
    CHECK_OK(sy_safetensors_write(target, 1, &name, &tp, 0, NULL, NULL));
    CHECK(stat(target, &sb) == 0 && sb.st_size < 200);
    CHECK_OK(sy_safetensors_read(&f, target));
    CHECK(f && f->n == 1 && f->tensors[0]->dtype == SY_F32 && f->tensors[0]->size[0] == 2);
    sy_safetensors_free(f);
    f = NULL;
    CHECK(no_temp_files());

    /* the temporary file cannot be created (a directory is in its way): the
    ** target keeps its old bytes */
    CHECK_OK(sy_safetensors_write(path_in("keep.safetensors"), 1, &name, &tp, 0, NULL, NULL));
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", target, (long)getpid());
    CHECK(mkdir(tmp, 0700) == 0);
    tp = big;
    CHECK_FAILS(sy_safetensors_write(target, 1, &name, &tp, 0, NULL, NULL), SY_ERR_IO);
    snprintf(msg, sizeof msg, "%s", sy_error_message());
    CHECK(strstr(msg, target) != NULL && strstr(msg, strerror(EISDIR)) != NULL);
    CHECK(same_file_bytes(target, path_in("keep.safetensors")));
    CHECK(rmdir(tmp) == 0);

    /* rename fails (the target is a non-empty directory): the temporary file
    ** is removed */
    {
        const char *dtarget = path_in("isdir.safetensors");
        char inner[300];
        CHECK(mkdir(dtarget, 0700) == 0);
        snprintf(inner, sizeof inner, "%s/inside", dtarget);
        write_bytes(inner, "x", 1);
        CHECK_FAILS(sy_safetensors_write(dtarget, 1, &name, &tp, 0, NULL, NULL), SY_ERR_IO);
        CHECK(strstr(sy_error_message(), dtarget) != NULL);
        CHECK(no_temp_files());
        CHECK(unlink(inner) == 0 && rmdir(dtarget) == 0);
    }

    /* running out of memory while making a view contiguous: target untouched,
    ** no temporary file left behind */
    CHECK_OK(sy_tensor_new(&m, SY_F32, 2, (const int64_t[]){3, 4}));
    CHECK_OK(sy_tensor_transpose(&tr, m, 0, 1));
    tp = tr;
    sy_mem_fail_after(1);
    CHECK_FAILS(sy_safetensors_write(target, 1, &name, &tp, 0, NULL, NULL), SY_ERR_OOM);
    sy_mem_fail_after(0);
    CHECK(same_file_bytes(target, path_in("keep.safetensors")));
    CHECK(no_temp_files());

    sy_tensor_release(tr);
    sy_tensor_release(m);
    sy_tensor_release(big);
    sy_tensor_release(x);
}

static void test_write_argument_errors(void) {
    const int64_t s1[1] = {1};
    sy_tensor *x = tensor_of(SY_F32, 1, s1, NULL);
    const sy_tensor *ts[2];
    const char *dup[2] = {"w", "w"}, *reserved[1] = {"__metadata__"}, *badutf[1] = {"bad\xff"};
    const char *ok[1] = {"w"}, *keys[2] = {"k", "k"}, *values[2] = {"1", "2"};
    const char *path = path_in("args.safetensors");
    struct stat sb;
    ts[0] = ts[1] = x;
    CHECK_FAILS(sy_safetensors_write(path, 2, dup, ts, 0, NULL, NULL), SY_ERR_ARG);
    CHECK(strstr(sy_error_message(), "'w' is given twice") != NULL);
    CHECK_FAILS(sy_safetensors_write(path, 1, reserved, ts, 0, NULL, NULL), SY_ERR_ARG);
    CHECK(strstr(sy_error_message(), "reserved") != NULL);
    CHECK_FAILS(sy_safetensors_write(path, 1, badutf, ts, 0, NULL, NULL), SY_ERR_ARG);
    CHECK(strstr(sy_error_message(), "UTF-8") != NULL);
    CHECK_FAILS(sy_safetensors_write(path, 1, ok, ts, 2, keys, values), SY_ERR_ARG);
    CHECK(strstr(sy_error_message(), "metadata key 'k' is given twice") != NULL);
    CHECK(stat(path, &sb) != 0);    /* nothing was written */
    CHECK(no_temp_files());
    sy_tensor_release(x);
}

/* --------------------------------------------------------------- leniency */

/* Valid files as other writers may produce them: any order, extra fields,
** escapes, padding, empty tensors sharing an offset. */
static void test_reads_other_writers(void) {
    const char *path = path_in("other.safetensors");
    /* b's bytes come first; names use JSON escapes */
    static const char header[] =
        "{ \"b\" : {\"shape\":[2], \"dtype\":\"I64\", \"data_offsets\":[0,16], \"extra\":null},\n"
        "  \"a\\/\\u00e9\\ud83d\\ude00\": {\"data_offsets\":[16,20],\"dtype\":\"F32\",\"shape\":[]},"
        "  \"e1\": {\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[20,20]},"
        "  \"e2\": {\"dtype\":\"BOOL\",\"shape\":[3,0],\"data_offsets\":[20,20]},"
        "  \"__metadata__\": {\"format\": \"pt\"} }       ";
    unsigned char data[20];
    const int64_t bvals[2] = {-5, 1LL << 40};
    const float aval = 0.25f;
    sy_st_file *f = NULL;
    int k;
    memcpy(data, bvals, 16);
    memcpy(data + 16, &aval, 4);
    make_file(path, header, data, sizeof data);
    CHECK_OK(sy_safetensors_read(&f, path));
    if (!f) return;
    CHECK(f->n == 4 && f->nmeta == 1);
    k = find(f, "a/\xc3\xa9\xf0\x9f\x98\x80");
    CHECK(k >= 0);
    if (k >= 0) {
        CHECK(f->tensors[k]->ndim == 0 && f->tensors[k]->dtype == SY_F32);
        CHECK(*(const float *)sy_tensor_data(f->tensors[k]) == 0.25f);
    }
    k = find(f, "b");
    CHECK(k >= 0);
    if (k >= 0) {
        CHECK(((const int64_t *)sy_tensor_data(f->tensors[k]))[0] == -5);
        CHECK(((const int64_t *)sy_tensor_data(f->tensors[k]))[1] == 1LL << 40);
    }
    k = find(f, "e2");
    CHECK(k >= 0 && f->tensors[k]->dtype == SY_BOOL && sy_tensor_numel(f->tensors[k]) == 0);
    CHECK(strcmp(f->keys[0], "format") == 0 && strcmp(f->values[0], "pt") == 0);
    sy_safetensors_free(f);
}

/* ------------------------------------------------------------ malformed */

static int malformed_cases;

/* path must fail to load with SY_ERR_FORMAT, a message naming the file and
** containing `phrase`, no result and no leaked tensor memory. */
static void expect_format_at(const char *path, const char *phrase, int line) {
    static sy_st_file sentinel;
    sy_st_file *f = &sentinel;   /* the reader must reset it to NULL */
    int64_t before = sy_mem_in_use();
    sy_status st = sy_safetensors_read(&f, path);
    const char *msg = sy_error_message();
    malformed_cases++;
    if (st != SY_ERR_FORMAT || !strstr(msg, phrase) || !strstr(msg, path) || f != NULL) {
        check_failed++;
        fprintf(stderr, "%s:%d: expected a format error with \"%s\", got status %d: %s\n", __FILE__, line,
                phrase, (int)st, msg);
    } else check_passed++;
    CHECK(sy_mem_in_use() == before);
    if (st == SY_OK) sy_safetensors_free(f);
}

#define EXPECT_FORMAT(path, phrase) expect_format_at(path, phrase, __LINE__)

/* A header (and data) case in one step. */
static void bad_header(const char *header, const void *data, size_t ndata, const char *phrase, int line) {
    const char *path = path_in("bad.safetensors");
    make_file(path, header, data, ndata);
    expect_format_at(path, phrase, line);
}

#define BAD(header, ndata, phrase) bad_header(header, zeros, ndata, phrase, __LINE__)

static void test_malformed(void) {
    static unsigned char zeros[64];
    const char *path = path_in("bad.safetensors");
    unsigned char raw[64];
    char *deep;
    int i;

    /* the length prefix */
    write_bytes(path, "", 0);
    EXPECT_FORMAT(path, "too short");
    write_bytes(path, "\x02\0\0\0\0", 5);
    EXPECT_FORMAT(path, "too short");
    memset(raw, 0, sizeof raw);
    raw[0] = 100;   /* 100-byte header, 4 bytes follow */
    memcpy(raw + 8, "{}  ", 4);
    write_bytes(path, raw, 12);
    EXPECT_FORMAT(path, "larger than the rest of the file");
    memset(raw, 0, 8);
    raw[0] = 0x01;
    raw[4] = 0x01;   /* 2^32 + 1 */
    write_bytes(path, raw, 12);
    EXPECT_FORMAT(path, "exceeds the limit of 100000000 bytes");
    memset(raw, 0xFF, 8);   /* 2^64 - 1 */
    write_bytes(path, raw, 12);
    EXPECT_FORMAT(path, "exceeds the limit");

    /* the JSON itself */
    BAD("", 0, "not valid JSON");
    BAD("{\"a\":", 0, "not valid JSON");
    BAD("{\"a\":{\"dtype\":\"F32\",}}", 0, "not valid JSON");
    BAD("\xff\xfe\x00garbage", 0, "byte 0xFF");
    BAD("{\"\xc3\x28\":{}}", 0, "invalid UTF-8");
    BAD("{\"\xed\xa0\x80\":{}}", 0, "invalid UTF-8");            /* UTF-8-encoded surrogate */
    BAD("{\"\xc0\xaf\":{}}", 0, "invalid UTF-8");                /* overlong '/' */
    BAD("{\"a\\ud800\":{}}", 0, "surrogate");
    BAD("{\"a\\q\":{}}", 0, "invalid escape");
    BAD("{\"a\tb\":{}}", 0, "control character");
    BAD("{} x", 0, "nothing after the JSON value");
    BAD("{\"a\": 01}", 0, "not valid JSON");
    BAD("{\"a\": tru}", 0, "not valid JSON");
    BAD("[]      ", 0, "expected a JSON object");
    BAD("\"str\"", 0, "expected a JSON object");
    deep = malloc(200001);
    for (i = 0; i < 100000; i++) {
        deep[i] = '[';
        deep[100000 + i] = ']';
    }
    deep[200000] = '\0';
    BAD(deep, 0, "nesting deeper than");
    free(deep);

    /* entries */
    BAD("{\"a\":[1,2]}", 0, "tensor 'a' is described by an array");
    BAD("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a': missing \"dtype\"");
    BAD("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "missing \"shape\"");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "missing \"data_offsets\"");
    BAD("{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "\"dtype\" is a number");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", 4, "\"shape\" is a string");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{}}}", 4, "\"data_offsets\" is an object");
    BAD("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
        "field \"dtype\" appears twice");
    BAD("{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}}", 2,
        "dtype \"F16\" is not supported");
    BAD("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "not supported");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape entry 1 (-1) is negative");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,1.5],\"data_offsets\":[0,4]}}", 4,
        "shape entry 2 (1.5) is not an integer");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1e0],\"data_offsets\":[0,4]}}", 4, "is not an integer");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, "(a string) is not a number");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", 4, "is too large");
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
        "element count of shape [4294967296,4294967296] overflows 64 bits");
    BAD("{\"a\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,4]}}", 4,
        "byte size of shape [2305843009213693952] overflows");
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
        "shape has 9 dimensions, synlua supports at most 8");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, "has 3 entries, expected 2");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, "data_offsets begin (-4) is negative");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8, "end before they begin");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20,
        "hold 20 bytes, but F32 of shape [2,3] needs 24");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
        "run past the end of the data buffer (4 bytes)");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "tensor 'b' (data_offsets [4,12]) overlaps tensor 'a'");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "overlaps");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "tensor 'a' appears twice");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12,
        "bytes [4,8) of the data buffer belong to no tensor (the buffer must be fully indexed)");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "bytes [0,4) of the data buffer");
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8,
        "4 trailing bytes of the data buffer belong to no tensor (the buffer must be fully indexed)");
    BAD("{}", 3, "3 trailing bytes");
    BAD("{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "NUL character");

    /* metadata */
    BAD("{\"__metadata__\":[\"x\"]}", 0, "\"__metadata__\" is an array, expected an object of strings");
    BAD("{\"__metadata__\":{\"epoch\":3}}", 0, "metadata 'epoch' is a number, expected a string");
    BAD("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "metadata key 'k' appears twice");
    BAD("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "\"__metadata__\" appears twice");

    /* data */
    raw[0] = 1;
    raw[1] = 0;
    raw[2] = 2;
    bad_header("{\"m\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[0,3]}}", raw, 3,
               "tensor 'm': BOOL element 2 is 2, expected 0 or 1", __LINE__);
}

static void test_io_errors(void) {
    sy_st_file *f = NULL;
    const char *missing = path_in("missing.safetensors");
    CHECK_FAILS(sy_safetensors_read(&f, missing), SY_ERR_IO);
    CHECK(strstr(sy_error_message(), missing) != NULL);
    CHECK(strstr(sy_error_message(), strerror(ENOENT)) != NULL);
    CHECK(f == NULL);
    CHECK_FAILS(sy_safetensors_read(&f, dir), SY_ERR_IO);
    CHECK(strstr(sy_error_message(), strerror(EISDIR)) != NULL);
    CHECK(f == NULL);
}

/* Every allocation of a read failing in turn: SY_ERR_OOM, nothing leaked
** (ASan checks the malloc side, sy_mem_in_use the tensor side). */
static void test_read_out_of_memory(void) {
    const char *path = path_in("all.safetensors");   /* from the round trip */
    int64_t before = sy_mem_in_use();
    sy_st_file *f = NULL;
    sy_status st = SY_ERR_OOM;
    int k, failures = 0;
    for (k = 1; k < 200 && st != SY_OK; k++) {
        sy_mem_fail_after(k);
        st = sy_safetensors_read(&f, path);
        sy_mem_fail_after(0);
        if (st != SY_OK) {
            failures++;
            CHECK(st == SY_ERR_OOM);
            CHECK(f == NULL);
            CHECK(strstr(sy_error_message(), "all.safetensors") != NULL);
            CHECK(sy_mem_in_use() == before);
        }
    }
    CHECK(st == SY_OK);
    CHECK(failures >= 8);   /* at least one failure point per tensor */
    sy_safetensors_free(f);
    CHECK(sy_mem_in_use() == before);
}

/* ------------------------------------------------------------- checksum */

/* The bytes i*7 % 251 for i < n: a pattern without short periods. */
static unsigned char *pattern(size_t n) {
    unsigned char *p = malloc(n ? n : 1);
    size_t i;
    for (i = 0; i < n; i++) p[i] = (unsigned char)(i * 7 % 251);
    return p;
}

/* Digests from the xxHash library (libxxhash XXH64, seed 0). */
static void test_xxh64(void) {
    static const struct {
        size_t n;
        uint64_t want;
    } cases[] = {{0, 0xef46db3751d8e999ULL}, {1000003, 0x96ab1f2d959335aaULL}};
    unsigned char bytes256[256], *big;
    sy_xxh64 h;
    size_t i, off, step;
    for (i = 0; i < 256; i++) bytes256[i] = (unsigned char)i;
    sy_xxh64_init(&h);
    sy_xxh64_update(&h, "a", 1);
    CHECK(sy_xxh64_digest(&h) == 0xd24ec4f1a98c6e5bULL);
    sy_xxh64_init(&h);
    sy_xxh64_update(&h, "abc", 3);
    CHECK(sy_xxh64_digest(&h) == 0x44bc2cf5ad770999ULL);
    sy_xxh64_init(&h);
    sy_xxh64_update(&h, "synlua", 6);
    CHECK(sy_xxh64_digest(&h) == 0x452f2617ca7b4135ULL);
    sy_xxh64_init(&h);
    sy_xxh64_update(&h, bytes256, 100);   /* stripes and every kind of tail */
    CHECK(sy_xxh64_digest(&h) == 0x6ac1e58032166597ULL);
    sy_xxh64_init(&h);
    sy_xxh64_update(&h, bytes256, 256);
    CHECK(sy_xxh64_digest(&h) == 0x1facbe8406cd904bULL);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        big = pattern(cases[i].n);
        /* in one piece, and in uneven pieces that split stripes */
        for (step = 0; step < 3; step++) {
            size_t piece = step == 0 ? cases[i].n + 1 : step == 1 ? 13 : 4097;
            sy_xxh64_init(&h);
            for (off = 0; off < cases[i].n; off += piece)
                sy_xxh64_update(&h, big + off, cases[i].n - off < piece ? cases[i].n - off : piece);
            CHECK(sy_xxh64_digest(&h) == cases[i].want);
        }
        free(big);
    }
}

/* The stored checksum of a file: the digits after "xxh64:". */
static uint64_t stored_sum(const char *path) {
    size_t n = 0;
    unsigned char *bytes = read_bytes(path, &n);
    const char *at;
    uint64_t v = 0;
    CHECK(bytes != NULL);
    if (!bytes) return 0;
    bytes[n] = '\0';
    at = strstr((const char *)bytes + 8, "\"synlua.checksum\":\"xxh64:");
    CHECK(at != NULL);
    if (at) v = strtoull(at + strlen("\"synlua.checksum\":\"xxh64:"), NULL, 16);
    free(bytes);
    return v;
}

/* Flips one bit of the byte at offset `at` from the end of the file. */
static void flip_from_end(const char *path, size_t at) {
    size_t n = 0;
    unsigned char *bytes = read_bytes(path, &n);
    CHECK(bytes && n > at);
    if (!bytes || n <= at) return;
    bytes[n - 1 - at] ^= 0x10;
    write_bytes(path, bytes, n);
    free(bytes);
}

static void test_checksum(void) {
    const int64_t s_big[1] = {3000001}, s4[1] = {4};
    const uint8_t flags[4] = {1, 0, 1, 1};
    unsigned char *big = pattern(3000001);
    sy_tensor *t = tensor_of(SY_U8, 1, s_big, big), *b = tensor_of(SY_BOOL, 1, s4, flags);
    const char *names[2] = {"pattern", "z_flags"};
    const sy_tensor *ts[2];
    const char *keys[3] = {"epoch", SY_SAFETENSORS_CHECKSUM_KEY, "note"};
    const char *values[3] = {"7", "xxh64:0123456789abcdef", "kept as it is"};
    const char *path = path_in("sum.safetensors");
    sy_st_file *f = NULL;
    ts[0] = t;
    ts[1] = b;

    /* One tensor: the stored digest is the library's for its bytes; the
    ** caller's checksum entry is replaced. */
    CHECK_OK(sy_safetensors_write(path, 1, names, ts, 3, keys, values));
    CHECK(stored_sum(path) == 0x79bab532d7f0798bULL);
    CHECK_OK(sy_safetensors_read(&f, path));
    if (f) {
        /* the user's metadata as given, the checksum not among it */
        CHECK(f->nmeta == 2 && strcmp(f->keys[0], "epoch") == 0 && strcmp(f->values[0], "7") == 0 &&
              strcmp(f->keys[1], "note") == 0 && strcmp(f->values[1], "kept as it is") == 0);
        CHECK(f->n == 1 && memcmp(sy_tensor_data(f->tensors[0]), big, 3000001) == 0);
    }
    sy_safetensors_free(f);
    f = NULL;

    /* a flipped bit anywhere in the data: in the first, a middle and the last byte */
    flip_from_end(path, 0);
    EXPECT_FORMAT(path, "the data does not match its checksum (stored xxh64:79bab532d7f0798b, computed xxh64:");
    EXPECT_FORMAT(path, "the file is truncated or corrupted");
    CHECK_OK(sy_safetensors_write(path, 1, names, ts, 0, NULL, NULL));
    flip_from_end(path, 1500000);
    EXPECT_FORMAT(path, "does not match its checksum");
    CHECK_OK(sy_safetensors_write(path, 1, names, ts, 0, NULL, NULL));
    flip_from_end(path, 3000000);
    EXPECT_FORMAT(path, "does not match its checksum");

    /* A damaged BOOL byte is reported as damage, not as a bad value. */
    CHECK_OK(sy_safetensors_write(path, 2, names, ts, 0, NULL, NULL));
    flip_from_end(path, 2);   /* flags[1]: 0 -> 16 */
    EXPECT_FORMAT(path, "does not match its checksum");

    /* Truncated: the header's offsets no longer fit (the checksum is not even reached). */
    CHECK_OK(sy_safetensors_write(path, 1, names, ts, 0, NULL, NULL));
    if (truncate(path, 8 + 64 + 3000000) == 0) EXPECT_FORMAT(path, "run past the end of the data buffer");

    sy_tensor_release(t);
    sy_tensor_release(b);
    free(big);
}

/* A file from a writer that stores no checksum loads unchecked, damage and
** all: there is nothing to check it against. */
static void test_no_checksum_loads(void) {
    static const char header[] =
        "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    const float good[2] = {1.0f, 2.0f};
    unsigned char data[8];
    const char *path = path_in("foreign.safetensors");
    sy_st_file *f = NULL;
    memcpy(data, good, 8);
    data[7] ^= 0x01;   /* 2.0f (0x40000000) -> 8.0f (0x41000000) */
    make_file(path, header, data, 8);
    CHECK_OK(sy_safetensors_read(&f, path));
    if (f) {
        const float *p = sy_tensor_data(f->tensors[0]);
        CHECK(p[0] == 1.0f && p[1] == 8.0f);
        CHECK(f->nmeta == 1 && strcmp(f->keys[0], "format") == 0);
    }
    sy_safetensors_free(f);
}

static void test_bad_checksum_entries(void) {
    static const char *const bad[] = {
        "\"crc32:0123abcd\"", "\"xxh64:0123456789abcde\"", "\"xxh64:0123456789abcdefa\"",
        "\"xxh64:0123456789ABCDEF\"", "\"xxh64:0123456789abcdeg\"", "\"\""};
    static const char zeros[8];
    char header[256];
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(header, sizeof header,
                 "{\"__metadata__\":{\"synlua.checksum\":%s},\"w\":{\"dtype\":\"F32\",\"shape\":[2],"
                 "\"data_offsets\":[0,8]}}",
                 bad[i]);
        bad_header(header, zeros, 8, "metadata 'synlua.checksum' is", __LINE__);
        bad_header(header, zeros, 8, "expected \"xxh64:\" and 16 lowercase hex digits", __LINE__);
    }
    bad_header("{\"__metadata__\":{\"synlua.checksum\":\"xxh64:ef46db3751d8e999\","
               "\"synlua.checksum\":\"xxh64:ef46db3751d8e999\"}}",
               zeros, 0, "metadata key 'synlua.checksum' appears twice", __LINE__);
}

static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Temporary files of writers that died (reaped or still zombies) are removed
** by the next successful write to the same path; those of live processes and
** other names stay. */
static void test_stale_temps_removed(void) {
    const char *path = path_in("ckpt.safetensors");
    char dead[600], zombie[600], alive[600], other[600], odd[600];
    siginfo_t info;
    pid_t z;
    const int64_t s2[1] = {2};
    sy_tensor *t = tensor_of(SY_F32, 1, s2, NULL);
    const char *name = "w";
    const sy_tensor *ts[1];
    pid_t child = fork();
    if (child == 0) _exit(0);
    CHECK(child > 0 && waitpid(child, NULL, 0) == child);   /* a pid that no longer runs */
    z = fork();
    if (z == 0) _exit(0);
    /* exited, left unreaped: a zombie until the waitpid below */
    CHECK(z > 0 && waitid(P_PID, (id_t)z, &info, WEXITED | WNOWAIT) == 0);
    snprintf(dead, sizeof dead, "%s.tmp.%ld", path, (long)child);
    snprintf(zombie, sizeof zombie, "%s.tmp.%ld", path, (long)z);
    snprintf(alive, sizeof alive, "%s.tmp.%ld", path, (long)getppid());
    snprintf(other, sizeof other, "%s.tmp.%ld", path_in("other.safetensors"), (long)child);
    snprintf(odd, sizeof odd, "%s.tmp.12x", path);
    write_bytes(dead, "partial", 7);
    write_bytes(zombie, "partial", 7);
    write_bytes(alive, "partial", 7);
    write_bytes(other, "partial", 7);
    write_bytes(odd, "partial", 7);
    ts[0] = t;
    CHECK_OK(sy_safetensors_write(path, 1, &name, ts, 0, NULL, NULL));
    CHECK(!exists(dead));
    CHECK(!exists(zombie));
    CHECK(exists(alive) && exists(other) && exists(odd));
    CHECK(waitpid(z, NULL, 0) == z);
    unlink(alive);
    unlink(other);
    unlink(odd);
    sy_tensor_release(t);
}

static void remove_dir(void) {
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        unlink(path_in(e->d_name));
    }
    closedir(d);
    rmdir(dir);
}

int main(void) {
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/sy_st_XXXXXX", base && strlen(base) < 40 ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip_all_dtypes();
    test_no_tensors();
    test_non_contiguous();
    test_exact_bytes();
    test_deterministic();
    test_atomic_write();
    test_write_argument_errors();
    test_reads_other_writers();
    test_malformed();
    test_io_errors();
    test_read_out_of_memory();
    test_xxh64();
    test_checksum();
    test_no_checksum_loads();
    test_bad_checksum_entries();
    test_stale_temps_removed();
    printf("malformed files rejected: %d\n", malformed_cases);
    remove_dir();
    return check_summary("safetensors");
}
