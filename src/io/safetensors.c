/*
** safetensors.c -- the safetensors reader and the atomic writer.
**
** The reader trusts nothing in the file: it checks the header length against
** the file, parses the header with the strict JSON reader, checks every
** entry and then the layout of the data buffer before it allocates a single
** tensor, so a hostile length or shape cannot make it allocate more than the
** file holds. Like the reference implementation it requires the tensors to
** tile the data buffer exactly: no overlaps, no holes, no trailing bytes.
**
** The checksum (safetensors.h) is computed over the bytes as they are read
** or written, in file order. The reader reads 1 MB at a time into one buffer,
** hashes it there, in cache (XXH64 runs at 18 GB/s here), and copies it into
** the tensor. Reading straight into the fresh tensor and hashing it there
** had every new page touched twice, by the kernel and then by the hash: on a
** VM where first touches are dear, a 100 MB load went from 290 to 430 ms;
** through the buffer it takes 285. The writer puts a placeholder of the same
** length in the header and writes the digits over it after the data, before
** the fsync and the rename.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "safetensors.h"

/* Tensor bytes go to and from the file as they are in memory. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this implementation needs a little-endian host"
#endif

static const struct {
    const char *name;
    sy_dtype dtype;
} st_dtypes[] = {{"F32", SY_F32}, {"F64", SY_F64}, {"I64", SY_I64}, {"U8", SY_U8}, {"BOOL", SY_BOOL}};

#define ST_NDTYPES (sizeof st_dtypes / sizeof st_dtypes[0])

static const char *st_dtype_name(sy_dtype dt) {
    size_t i;
    for (i = 0; i < ST_NDTYPES; i++)
        if (st_dtypes[i].dtype == dt) return st_dtypes[i].name;
    return NULL;
}

/* calloc that never returns NULL for a zero count, so "no tensors" is not
** mistaken for an allocation failure. */
static void *calloc_n(size_t n, size_t size) { return calloc(n ? n : 1, size); }

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

/* ================================================================ XXH64 */

/* XXH64 as its specification gives it (seed 0): four lanes over 32-byte
** stripes, then the tail and a final avalanche. Chosen over a CRC because it
** is a standard with tools to check it (xxhsum) and runs several times
** faster than a table-driven CRC in portable C. */
#define XXH_P1 0x9E3779B185EBCA87ULL
#define XXH_P2 0xC2B2AE3D27D4EB4FULL
#define XXH_P3 0x165667B19E3779F9ULL
#define XXH_P4 0x85EBCA77C2B2AE63ULL
#define XXH_P5 0x27D4EB2F165667C5ULL

static uint64_t rotl64(uint64_t x, int r) { return x << r | x >> (64 - r); }

static uint64_t xxh_round(uint64_t acc, uint64_t input) {
    return rotl64(acc + input * XXH_P2, 31) * XXH_P1;
}

static uint64_t xxh_merge(uint64_t acc, uint64_t lane) {
    return (acc ^ xxh_round(0, lane)) * XXH_P1 + XXH_P4;
}

/* Little-endian loads (the host is little-endian, checked above). */
static uint64_t load64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint32_t load32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

void sy_xxh64_init(sy_xxh64 *h) {
    h->v[0] = XXH_P1 + XXH_P2;
    h->v[1] = XXH_P2;
    h->v[2] = 0;
    h->v[3] = 0 - XXH_P1;
    h->buflen = 0;
    h->total = 0;
}

void sy_xxh64_update(sy_xxh64 *h, const void *data, size_t n) {
    const unsigned char *p = data, *end = p + n;
    uint64_t v0, v1, v2, v3;
    if (n == 0) return;
    h->total += n;
    if (h->buflen) {
        size_t take = 32 - h->buflen < n ? 32 - h->buflen : n;
        memcpy(h->buf + h->buflen, p, take);
        h->buflen += take;
        p += take;
        if (h->buflen < 32) return;
        h->v[0] = xxh_round(h->v[0], load64(h->buf));
        h->v[1] = xxh_round(h->v[1], load64(h->buf + 8));
        h->v[2] = xxh_round(h->v[2], load64(h->buf + 16));
        h->v[3] = xxh_round(h->v[3], load64(h->buf + 24));
        h->buflen = 0;
    }
    v0 = h->v[0];
    v1 = h->v[1];
    v2 = h->v[2];
    v3 = h->v[3];
    for (; end - p >= 32; p += 32) {
        v0 = xxh_round(v0, load64(p));
        v1 = xxh_round(v1, load64(p + 8));
        v2 = xxh_round(v2, load64(p + 16));
        v3 = xxh_round(v3, load64(p + 24));
    }
    h->v[0] = v0;
    h->v[1] = v1;
    h->v[2] = v2;
    h->v[3] = v3;
    if (p < end) {
        memcpy(h->buf, p, (size_t)(end - p));
        h->buflen = (size_t)(end - p);
    }
}

uint64_t sy_xxh64_digest(const sy_xxh64 *h) {
    const unsigned char *p = h->buf, *end = h->buf + h->buflen;
    uint64_t acc;
    if (h->total >= 32) {
        acc = rotl64(h->v[0], 1) + rotl64(h->v[1], 7) + rotl64(h->v[2], 12) + rotl64(h->v[3], 18);
        acc = xxh_merge(acc, h->v[0]);
        acc = xxh_merge(acc, h->v[1]);
        acc = xxh_merge(acc, h->v[2]);
        acc = xxh_merge(acc, h->v[3]);
    } else {
        acc = XXH_P5;
    }
    acc += h->total;
    for (; end - p >= 8; p += 8) acc = rotl64(acc ^ xxh_round(0, load64(p)), 27) * XXH_P1 + XXH_P4;
    if (end - p >= 4) {
        acc = rotl64(acc ^ (uint64_t)load32(p) * XXH_P1, 23) * XXH_P2 + XXH_P3;
        p += 4;
    }
    for (; p < end; p++) acc = rotl64(acc ^ *p * XXH_P5, 11) * XXH_P1;
    acc ^= acc >> 33;
    acc *= XXH_P2;
    acc ^= acc >> 29;
    acc *= XXH_P3;
    acc ^= acc >> 32;
    return acc;
}

/* The reader's buffer: data passes through it on its way into tensors. */
#define ST_CHUNK ((size_t)1 << 20)

/* "xxh64:" and 16 hex digits: the stored form of a checksum. */
#define ST_SUM_PREFIX "xxh64:"
#define ST_SUM_LEN 22

static void format_sum(char out[ST_SUM_LEN + 1], uint64_t sum) {
    snprintf(out, ST_SUM_LEN + 1, ST_SUM_PREFIX "%016llx", (unsigned long long)sum);
}

/* 1 and the value when s is a stored checksum, else 0. */
static int parse_sum(const char *s, uint64_t *out) {
    uint64_t v = 0;
    int i;
    if (strlen(s) != ST_SUM_LEN || strncmp(s, ST_SUM_PREFIX, 6) != 0) return 0;
    for (i = 6; i < ST_SUM_LEN; i++) {
        int c = s[i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else return 0;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 1;
}

void sy_safetensors_free(sy_st_file *f) {
    int i;
    if (!f) return;
    for (i = 0; i < f->n; i++) {
        if (f->names) free(f->names[i]);
        if (f->tensors) sy_tensor_release(f->tensors[i]);
    }
    for (i = 0; i < f->nmeta; i++) {
        if (f->keys) free(f->keys[i]);
        if (f->values) free(f->values[i]);
    }
    free(f->names);
    free(f->tensors);
    free(f->keys);
    free(f->values);
    free(f);
}

/* ================================================================ reading */

typedef struct entry {
    const char *name;             /* points into the parsed header */
    sy_dtype dtype;
    int ndim;
    int64_t size[SY_MAX_DIMS];
    int64_t nbytes;
    int64_t begin, end;           /* data_offsets */
} entry;

typedef struct meta {
    const char *key, *value;      /* borrowed: from the parsed header or the caller */
} meta;

typedef struct reader {
    const char *path;
    FILE *fp;
    int64_t data_len;             /* bytes after the header */
    sy_json *header;
    entry *entries;
    int n;
    meta *meta;
    int nmeta;
    int has_sum;                  /* the header holds a checksum: sum */
    uint64_t sum;
} reader;

static sy_status bad_file(const reader *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* SY_ERR_FORMAT with the message prefixed by the file's name. */
static sy_status bad_file(const reader *r, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sy_error(SY_ERR_FORMAT, "safetensors: '%s': %s", r->path, msg);
}

static sy_status no_memory(const reader *r) {
    return sy_error(SY_ERR_OOM, "safetensors: '%s': out of memory", r->path);
}

static sy_status io_error(const char *what, const char *path, int err) {
    return sy_error(SY_ERR_IO, "safetensors: cannot %s '%s': %s", what, path, strerror(err));
}

/* A JSON number as a non-negative int64: NULL on success, else why not. */
static const char *to_count(const sy_json *v, int64_t *out) {
    int64_t x = 0;
    size_t i;
    if (v->type != SY_JSON_NUMBER) return "is not a number";
    if (v->str[0] == '-') return "is negative";
    for (i = 0; i < v->len; i++) {
        int d = v->str[i] - '0';
        if (d < 0 || d > 9) return "is not an integer";
        if (x > (INT64_MAX - d) / 10) return "is too large";
        x = x * 10 + d;
    }
    *out = x;
    return NULL;
}

/* Names are C strings; a "\u0000" inside one would silently cut it short. */
static int has_nul(const sy_json *s) { return strlen(s->str) != s->len; }

static sy_status parse_metadata(reader *r, const sy_json *v) {
    size_t i;
    if (v->type != SY_JSON_OBJECT)
        return bad_file(r, "\"__metadata__\" is %s, expected an object of strings",
                        sy_json_type_name(v->type));
    if (!(r->meta = calloc_n(v->n, sizeof *r->meta))) return no_memory(r);
    for (i = 0; i < v->n; i++) {
        const sy_json *key = &v->keys[i], *val = &v->items[i];
        if (val->type != SY_JSON_STRING)
            return bad_file(r, "metadata '%s' is %s, expected a string", key->str,
                            sy_json_type_name(val->type));
        if (has_nul(key) || has_nul(val))
            return bad_file(r, "metadata '%s' contains a NUL character", key->str);
        if (strcmp(key->str, SY_SAFETENSORS_CHECKSUM_KEY) == 0) {
            if (r->has_sum) return bad_file(r, "metadata key '%s' appears twice", key->str);
            if (!parse_sum(val->str, &r->sum))
                return bad_file(r, "metadata '%s' is \"%.40s\", expected \"" ST_SUM_PREFIX
                                   "\" and 16 lowercase hex digits",
                                key->str, val->str);
            r->has_sum = 1;
            continue;
        }
        r->meta[r->nmeta].key = key->str;
        r->meta[r->nmeta].value = val->str;
        r->nmeta++;
    }
    return SY_OK;
}

static sy_status parse_shape(reader *r, entry *e, const sy_json *v) {
    char buf[SY_SHAPE_STRLEN];
    int64_t numel = 1;
    size_t i;
    if (v->type != SY_JSON_ARRAY)
        return bad_file(r, "tensor '%s': \"shape\" is %s, expected an array of integers", e->name,
                        sy_json_type_name(v->type));
    if (v->n > SY_MAX_DIMS)
        return bad_file(r, "tensor '%s': shape has %zu dimensions, synlua supports at most %d", e->name,
                        v->n, SY_MAX_DIMS);
    for (i = 0; i < v->n; i++) {
        const char *why = to_count(&v->items[i], &e->size[i]);
        if (why)
            return bad_file(r, "tensor '%s': shape entry %zu (%s) %s, expected a non-negative integer",
                            e->name, i + 1,
                            v->items[i].type == SY_JSON_NUMBER ? v->items[i].str
                                                               : sy_json_type_name(v->items[i].type),
                            why);
    }
    e->ndim = (int)v->n;
    for (i = 0; i < v->n; i++) {
        if (e->size[i] > 0 && numel > INT64_MAX / e->size[i])
            return bad_file(r, "tensor '%s': the element count of shape %s overflows 64 bits", e->name,
                            sy_shape_str(buf, sizeof buf, e->ndim, e->size));
        numel *= e->size[i];
    }
    if (numel > INT64_MAX / sy_dtype_size(e->dtype))
        return bad_file(r, "tensor '%s': the byte size of shape %s overflows 64 bits", e->name,
                        sy_shape_str(buf, sizeof buf, e->ndim, e->size));
    e->nbytes = numel * sy_dtype_size(e->dtype);
    return SY_OK;
}

static sy_status parse_offsets(reader *r, entry *e, const sy_json *v) {
    char buf[SY_SHAPE_STRLEN];
    int64_t off[2];
    size_t i;
    if (v->type != SY_JSON_ARRAY)
        return bad_file(r, "tensor '%s': \"data_offsets\" is %s, expected an array [begin, end]",
                        e->name, sy_json_type_name(v->type));
    if (v->n != 2)
        return bad_file(r, "tensor '%s': \"data_offsets\" has %zu entries, expected 2 [begin, end]",
                        e->name, v->n);
    for (i = 0; i < 2; i++) {
        const char *why = to_count(&v->items[i], &off[i]);
        if (why)
            return bad_file(r, "tensor '%s': data_offsets %s (%s) %s, expected a non-negative integer",
                            e->name, i ? "end" : "begin",
                            v->items[i].type == SY_JSON_NUMBER ? v->items[i].str
                                                               : sy_json_type_name(v->items[i].type),
                            why);
    }
    e->begin = off[0];
    e->end = off[1];
    if (e->end < e->begin)
        return bad_file(r, "tensor '%s': data_offsets [%lld,%lld] end before they begin", e->name,
                        (long long)e->begin, (long long)e->end);
    if (e->end - e->begin != e->nbytes)
        return bad_file(r, "tensor '%s': data_offsets [%lld,%lld] hold %lld bytes, but %s of shape %s needs %lld",
                        e->name, (long long)e->begin, (long long)e->end,
                        (long long)(e->end - e->begin), st_dtype_name(e->dtype),
                        sy_shape_str(buf, sizeof buf, e->ndim, e->size), (long long)e->nbytes);
    if (e->end > r->data_len)
        return bad_file(r, "tensor '%s': data_offsets [%lld,%lld] run past the end of the data buffer (%lld bytes)",
                        e->name, (long long)e->begin, (long long)e->end, (long long)r->data_len);
    return SY_OK;
}

static sy_status parse_entry(reader *r, entry *e, const sy_json *v) {
    static const char *const fields[3] = {"dtype", "shape", "data_offsets"};
    const sy_json *field[3] = {NULL, NULL, NULL};
    size_t i, k;
    sy_status st;
    if (v->type != SY_JSON_OBJECT)
        return bad_file(r, "tensor '%s' is described by %s, expected an object", e->name,
                        sy_json_type_name(v->type));
    /* Other fields are ignored, as the reference reader does. */
    for (i = 0; i < v->n; i++)
        for (k = 0; k < 3; k++)
            if (strcmp(v->keys[i].str, fields[k]) == 0) {
                if (field[k])
                    return bad_file(r, "tensor '%s': field \"%s\" appears twice", e->name, fields[k]);
                field[k] = &v->items[i];
            }
    for (k = 0; k < 3; k++)
        if (!field[k]) return bad_file(r, "tensor '%s': missing \"%s\"", e->name, fields[k]);
    if (field[0]->type != SY_JSON_STRING)
        return bad_file(r, "tensor '%s': \"dtype\" is %s, expected a string", e->name,
                        sy_json_type_name(field[0]->type));
    for (k = 0; k < ST_NDTYPES; k++)
        if (strcmp(field[0]->str, st_dtypes[k].name) == 0) break;
    if (k == ST_NDTYPES)
        return bad_file(r, "tensor '%s': dtype \"%s\" is not supported (synlua reads F32, F64, I64, U8 and BOOL)",
                        e->name, field[0]->str);
    e->dtype = st_dtypes[k].dtype;
    if ((st = parse_shape(r, e, field[1]))) return st;
    return parse_offsets(r, e, field[2]);
}

static int cmp_entry_name(const void *a, const void *b) {
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static int cmp_meta_key(const void *a, const void *b) {
    return strcmp(((const meta *)a)->key, ((const meta *)b)->key);
}

static int cmp_entry_offsets(const void *a, const void *b) {
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* The header's tensors and metadata into r->entries and r->meta, both sorted
** and free of duplicates. */
static sy_status parse_header(reader *r) {
    const sy_json *h = r->header;
    const sy_json *metadata = NULL;
    size_t i;
    int k;
    sy_status st;
    if (h->type != SY_JSON_OBJECT)
        return bad_file(r, "the header is %s, expected a JSON object", sy_json_type_name(h->type));
    if (h->n > INT_MAX) return bad_file(r, "the header lists too many tensors (%zu)", h->n);
    if (!(r->entries = calloc_n(h->n, sizeof *r->entries))) return no_memory(r);
    for (i = 0; i < h->n; i++) {
        const sy_json *key = &h->keys[i];
        if (strcmp(key->str, "__metadata__") == 0 && !has_nul(key)) {
            if (metadata) return bad_file(r, "\"__metadata__\" appears twice");
            metadata = &h->items[i];
            continue;
        }
        if (has_nul(key)) return bad_file(r, "tensor name '%s' contains a NUL character", key->str);
        r->entries[r->n].name = key->str;
        if ((st = parse_entry(r, &r->entries[r->n], &h->items[i]))) return st;
        r->n++;
    }
    if (metadata && (st = parse_metadata(r, metadata))) return st;
    qsort(r->entries, (size_t)r->n, sizeof *r->entries, cmp_entry_name);
    for (k = 1; k < r->n; k++)
        if (strcmp(r->entries[k - 1].name, r->entries[k].name) == 0)
            return bad_file(r, "tensor '%s' appears twice in the header", r->entries[k].name);
    if (r->nmeta) qsort(r->meta, (size_t)r->nmeta, sizeof *r->meta, cmp_meta_key);
    for (k = 1; k < r->nmeta; k++)
        if (strcmp(r->meta[k - 1].key, r->meta[k].key) == 0)
            return bad_file(r, "metadata key '%s' appears twice", r->meta[k].key);
    return SY_OK;
}

/* The tensors must cover the data buffer exactly, in some order. */
static sy_status check_layout(reader *r, const entry *const *by_offset) {
    int64_t pos = 0;
    int k;
    for (k = 0; k < r->n; k++) {
        const entry *e = by_offset[k];
        if (e->begin < pos)
            return bad_file(r, "tensor '%s' (data_offsets [%lld,%lld]) overlaps tensor '%s' ([%lld,%lld])",
                            e->name, (long long)e->begin, (long long)e->end, by_offset[k - 1]->name,
                            (long long)by_offset[k - 1]->begin, (long long)by_offset[k - 1]->end);
        if (e->begin > pos)
            return bad_file(r, "bytes [%lld,%lld) of the data buffer belong to no tensor "
                               "(the buffer must be fully indexed)",
                            (long long)pos, (long long)e->begin);
        pos = e->end;
    }
    if (pos < r->data_len)
        return bad_file(r, "%lld trailing bytes of the data buffer belong to no tensor "
                           "(the buffer must be fully indexed)",
                        (long long)(r->data_len - pos));
    return SY_OK;
}

static sy_status read_exact(reader *r, void *buf, size_t n, const char *what) {
    if (fread(buf, 1, n, r->fp) == n) return SY_OK;
    if (ferror(r->fp)) return io_error("read", r->path, errno);
    return bad_file(r, "the file ended while reading %s", what);
}

/* Reads the tensors' bytes in file order into f, whose slots follow the
** name order of r->entries, and checks them against the checksum. The
** tensors tile the data buffer (check_layout), so in file order they hash
** exactly the bytes the writer hashed. */
static sy_status read_tensors(reader *r, const entry *const *by_offset, sy_st_file *f) {
    char what[256];
    sy_xxh64 hash;
    unsigned char *buf = NULL;
    int k;
    sy_status st = SY_OK;
    sy_xxh64_init(&hash);
    if (r->data_len > 0 &&
        !(buf = malloc((uint64_t)r->data_len < ST_CHUNK ? (size_t)r->data_len : ST_CHUNK)))
        return no_memory(r);
    for (k = 0; k < r->n && st == SY_OK; k++) {
        const entry *e = by_offset[k];
        int slot = (int)(e - r->entries);
        unsigned char *data;
        size_t off, len;
        if ((st = sy_tensor_empty(&f->tensors[slot], e->dtype, e->ndim, e->size))) {
            char why[512];
            snprintf(why, sizeof why, "%s", sy_error_message());
            st = sy_error(st, "safetensors: '%s': tensor '%s': %s", r->path, e->name, why);
            break;
        }
        snprintf(what, sizeof what, "the data of tensor '%s'", e->name);
        data = sy_tensor_data(f->tensors[slot]);
        for (off = 0; off < (size_t)e->nbytes; off += len) {
            len = (size_t)e->nbytes - off < ST_CHUNK ? (size_t)e->nbytes - off : ST_CHUNK;
            if ((st = read_exact(r, buf, len, what))) break;
            sy_xxh64_update(&hash, buf, len);
            memcpy(data + off, buf, len);
        }
    }
    free(buf);
    if (st) return st;
    /* A damaged file is reported as such before any value in it is judged. */
    if (r->has_sum && sy_xxh64_digest(&hash) != r->sum) {
        char stored[ST_SUM_LEN + 1], computed[ST_SUM_LEN + 1];
        format_sum(stored, r->sum);
        format_sum(computed, sy_xxh64_digest(&hash));
        return bad_file(r, "the data does not match its checksum (stored %s, computed %s): "
                           "the file is truncated or corrupted",
                        stored, computed);
    }
    for (k = 0; k < r->n; k++) {
        const entry *e = &r->entries[k];
        const unsigned char *p = sy_tensor_data(f->tensors[k]);
        int64_t i;
        if (e->dtype != SY_BOOL) continue;
        for (i = 0; i < e->nbytes; i++)
            if (p[i] > 1)
                return bad_file(r, "tensor '%s': BOOL element %lld is %u, expected 0 or 1", e->name,
                                (long long)i, p[i]);
    }
    return SY_OK;
}

/* Copies the names and metadata out of the parsed header into f. */
static sy_status fill_strings(reader *r, sy_st_file *f) {
    int k;
    for (k = 0; k < r->n; k++)
        if (!(f->names[k] = dup_str(r->entries[k].name))) return no_memory(r);
    for (k = 0; k < r->nmeta; k++)
        if (!(f->keys[k] = dup_str(r->meta[k].key)) || !(f->values[k] = dup_str(r->meta[k].value)))
            return no_memory(r);
    return SY_OK;
}

static sy_status read_file(reader *r, sy_st_file **out) {
    unsigned char prefix[8];
    uint64_t hlen = 0;
    int64_t file_size;
    char *text = NULL;
    const entry **by_offset = NULL;
    sy_st_file *f = NULL;
    struct stat sb;
    sy_status st;
    int k;

    if (fstat(fileno(r->fp), &sb) != 0) return io_error("read", r->path, errno);
    if (S_ISDIR(sb.st_mode)) return io_error("read", r->path, EISDIR);
    if (!S_ISREG(sb.st_mode)) return bad_file(r, "not a regular file");
    file_size = (int64_t)sb.st_size;
    if (file_size < 8)
        return bad_file(r, "the file is %lld bytes, too short for the 8-byte header length",
                        (long long)file_size);
    if ((st = read_exact(r, prefix, 8, "the header length"))) return st;
    for (k = 7; k >= 0; k--) hlen = hlen << 8 | prefix[k];
    if (hlen > SY_SAFETENSORS_MAX_HEADER)
        return bad_file(r, "the header length %llu exceeds the limit of %d bytes",
                        (unsigned long long)hlen, SY_SAFETENSORS_MAX_HEADER);
    if (hlen > (uint64_t)(file_size - 8))
        return bad_file(r, "the header length %llu is larger than the rest of the file (%lld bytes)",
                        (unsigned long long)hlen, (long long)(file_size - 8));
    r->data_len = file_size - 8 - (int64_t)hlen;
    if (!(text = malloc((size_t)hlen + 1))) return no_memory(r);
    if ((st = read_exact(r, text, (size_t)hlen, "the header"))) goto done;
    if ((st = sy_json_parse(&r->header, text, (size_t)hlen))) {
        if (st == SY_ERR_FORMAT) {
            char why[512];
            snprintf(why, sizeof why, "%s", sy_error_message());
            st = bad_file(r, "the header is not valid JSON: %s", why);
        }
        goto done;
    }
    if ((st = parse_header(r))) goto done;

    if (!(by_offset = calloc_n((size_t)r->n, sizeof *by_offset))) {
        st = no_memory(r);
        goto done;
    }
    for (k = 0; k < r->n; k++) by_offset[k] = &r->entries[k];
    qsort(by_offset, (size_t)r->n, sizeof *by_offset, cmp_entry_offsets);
    if ((st = check_layout(r, by_offset))) goto done;

    if (!(f = calloc(1, sizeof *f))) {
        st = no_memory(r);
        goto done;
    }
    f->n = r->n;
    f->nmeta = r->nmeta;
    if (!(f->names = calloc_n((size_t)f->n, sizeof *f->names)) ||
        !(f->tensors = calloc_n((size_t)f->n, sizeof *f->tensors)) ||
        !(f->keys = calloc_n((size_t)f->nmeta, sizeof *f->keys)) ||
        !(f->values = calloc_n((size_t)f->nmeta, sizeof *f->values))) {
        st = no_memory(r);
        goto done;
    }
    if ((st = fill_strings(r, f))) goto done;
    st = read_tensors(r, by_offset, f);

done:
    free(text);
    free(by_offset);
    if (st) sy_safetensors_free(f);
    else *out = f;
    return st;
}

sy_status sy_safetensors_read(sy_st_file **out, const char *path) {
    reader r;
    sy_status st;
    *out = NULL;
    memset(&r, 0, sizeof r);
    r.path = path;
    if (!(r.fp = fopen(path, "rb"))) return io_error("open", path, errno);
    st = read_file(&r, out);
    fclose(r.fp);
    sy_json_free(r.header);
    free(r.entries);
    free(r.meta);
    return st;
}

/* ================================================================ writing */

typedef struct wentry {
    const char *name;
    const sy_tensor *t;
} wentry;

static int cmp_wentry(const void *a, const void *b) {
    return strcmp(((const wentry *)a)->name, ((const wentry *)b)->name);
}

/* The checksum's value in the header until the data has been hashed. */
static const char sum_placeholder[ST_SUM_LEN + 1] = ST_SUM_PREFIX "0000000000000000";

/* Checks the arguments and returns the tensors sorted by name in *sorted and
** the metadata sorted by key in *msorted (each to be freed), *mcount entries:
** the caller's, less any checksum, and the checksum placeholder. */
static sy_status check_args(wentry **sorted, meta **msorted, int *mcount, int n,
                            const char *const *names, const sy_tensor *const *tensors, int nmeta,
                            const char *const *keys, const char *const *values) {
    wentry *w;
    meta *m;
    int i, nm = 0;
    *sorted = NULL;
    *msorted = NULL;
    *mcount = 0;
    if (n < 0 || nmeta < 0 || (n > 0 && (!names || !tensors)) || (nmeta > 0 && (!keys || !values)))
        return sy_error(SY_ERR_ARG, "safetensors: write: invalid tensor or metadata arrays");
    for (i = 0; i < n; i++) {
        if (!names[i] || !tensors[i])
            return sy_error(SY_ERR_ARG, "safetensors: write: %s %d is NULL",
                            names[i] ? "tensor" : "name", i + 1);
        if (!sy_utf8_valid(names[i], strlen(names[i])))
            return sy_error(SY_ERR_ARG, "safetensors: write: tensor name %d is not valid UTF-8", i + 1);
        if (strcmp(names[i], "__metadata__") == 0)
            return sy_error(SY_ERR_ARG, "safetensors: write: \"__metadata__\" is reserved and cannot name a tensor");
        if (tensors[i]->storage->device != SY_CPU)
            return sy_error(SY_ERR_DEVICE, "safetensors: write: tensor '%s' is not on the CPU", names[i]);
        if (!st_dtype_name(tensors[i]->dtype))
            return sy_error(SY_ERR_DTYPE, "safetensors: write: tensor '%s' has an unsupported dtype", names[i]);
    }
    for (i = 0; i < nmeta; i++) {
        if (!keys[i] || !values[i])
            return sy_error(SY_ERR_ARG, "safetensors: write: metadata %s %d is NULL",
                            keys[i] ? "value" : "key", i + 1);
        if (!sy_utf8_valid(keys[i], strlen(keys[i])) || !sy_utf8_valid(values[i], strlen(values[i])))
            return sy_error(SY_ERR_ARG, "safetensors: write: metadata entry %d is not valid UTF-8", i + 1);
    }
    w = calloc_n((size_t)n, sizeof *w);
    m = calloc_n((size_t)nmeta + 1, sizeof *m);
    if (!w || !m) {
        free(w);
        free(m);
        return sy_error(SY_ERR_OOM, "safetensors: write: out of memory");
    }
    for (i = 0; i < n; i++) {
        w[i].name = names[i];
        w[i].t = tensors[i];
    }
    for (i = 0; i < nmeta; i++) {
        if (strcmp(keys[i], SY_SAFETENSORS_CHECKSUM_KEY) == 0) continue;   /* replaced */
        m[nm].key = keys[i];
        m[nm].value = values[i];
        nm++;
    }
    m[nm].key = SY_SAFETENSORS_CHECKSUM_KEY;
    m[nm].value = sum_placeholder;
    nm++;
    qsort(w, (size_t)n, sizeof *w, cmp_wentry);
    qsort(m, (size_t)nm, sizeof *m, cmp_meta_key);
    *sorted = w;
    *msorted = m;
    *mcount = nm;
    for (i = 1; i < n; i++)
        if (strcmp(w[i - 1].name, w[i].name) == 0)
            return sy_error(SY_ERR_ARG, "safetensors: write: tensor name '%s' is given twice", w[i].name);
    for (i = 1; i < nm; i++)
        if (strcmp(m[i - 1].key, m[i].key) == 0)
            return sy_error(SY_ERR_ARG, "safetensors: write: metadata key '%s' is given twice", m[i].key);
    return SY_OK;
}

/* The JSON header, padded with spaces to a multiple of 8 bytes; *sum_at gets
** the offset in it of the checksum placeholder's digits. */
static sy_status build_header(sy_strbuf *b, size_t *sum_at, int n, const wentry *w, int nmeta,
                              const meta *m) {
    char num[64];
    int64_t offset = 0;
    int i, d;
    sy_strbuf_puts(b, "{");
    if (nmeta > 0) {
        sy_strbuf_puts(b, "\"__metadata__\":{");
        for (i = 0; i < nmeta; i++) {
            if (i) sy_strbuf_puts(b, ",");
            sy_json_append_string(b, m[i].key, strlen(m[i].key));
            sy_strbuf_puts(b, ":");
            if (m[i].value == sum_placeholder) *sum_at = b->len + 1 + strlen(ST_SUM_PREFIX);
            sy_json_append_string(b, m[i].value, strlen(m[i].value));
        }
        sy_strbuf_puts(b, n ? "}," : "}");
    }
    for (i = 0; i < n; i++) {
        const sy_tensor *t = w[i].t;
        int64_t nbytes = sy_tensor_numel(t) * sy_dtype_size(t->dtype);
        if (i) sy_strbuf_puts(b, ",");
        sy_json_append_string(b, w[i].name, strlen(w[i].name));
        sy_strbuf_puts(b, ":{\"dtype\":\"");
        sy_strbuf_puts(b, st_dtype_name(t->dtype));
        sy_strbuf_puts(b, "\",\"shape\":[");
        for (d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, d ? ",%lld" : "%lld", (long long)t->size[d]);
            sy_strbuf_puts(b, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%lld,%lld]}", (long long)offset,
                 (long long)(offset + nbytes));
        sy_strbuf_puts(b, num);
        offset += nbytes;
    }
    sy_strbuf_puts(b, "}");
    while (!b->oom && b->len % 8) sy_strbuf_puts(b, " ");
    if (b->oom) return sy_error(SY_ERR_OOM, "safetensors: write: out of memory building the header");
    if (b->len > SY_SAFETENSORS_MAX_HEADER)
        return sy_error(SY_ERR_ARG, "safetensors: write: the header would be %zu bytes, over the %d-byte limit readers accept",
                        b->len, SY_SAFETENSORS_MAX_HEADER);
    return SY_OK;
}

/* Writes everything to the open temporary file, the checksum over its
** placeholder last; errno explains an SY_ERR_IO. */
static sy_status write_contents(FILE *fp, const sy_strbuf *header, size_t sum_at, int n,
                                const wentry *w) {
    unsigned char prefix[8];
    uint64_t hlen = header->len;
    char sum[ST_SUM_LEN + 1];
    sy_xxh64 hash;
    int i;
    for (i = 0; i < 8; i++) prefix[i] = (unsigned char)(hlen >> (8 * i));
    if (fwrite(prefix, 1, 8, fp) != 8 || fwrite(header->data, 1, header->len, fp) != header->len)
        return SY_ERR_IO;
    sy_xxh64_init(&hash);
    for (i = 0; i < n; i++) {
        sy_tensor *c = NULL;
        size_t nbytes = (size_t)(sy_tensor_numel(w[i].t) * sy_dtype_size(w[i].t->dtype));
        size_t written;
        sy_status st;
        if (nbytes == 0) continue;
        if ((st = sy_tensor_contiguous(&c, w[i].t))) return st;
        sy_xxh64_update(&hash, sy_tensor_data(c), nbytes);
        written = fwrite(sy_tensor_data(c), 1, nbytes, fp);
        sy_tensor_release(c);
        if (written != nbytes) return SY_ERR_IO;
    }
    format_sum(sum, sy_xxh64_digest(&hash));
    if (fflush(fp) != 0 || fseek(fp, (long)(8 + sum_at), SEEK_SET) != 0 ||
        fwrite(sum + strlen(ST_SUM_PREFIX), 1, 16, fp) != 16 || fflush(fp) != 0 ||
        fsync(fileno(fp)) != 0)
        return SY_ERR_IO;
    return SY_OK;
}

/* The directory part of path (malloc'ed; NULL when out of memory). */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash) return dup_str(".");
    if (slash == path) return dup_str("/");
    if ((dir = malloc((size_t)(slash - path) + 1))) {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
    }
    return dir;
}

/* After the rename, the directory entry itself must reach the disk for the
** new file to survive a crash. Best effort: the data is already in place. */
static void sync_dir(const char *dir) {
    int fd;
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* 1 when no process pid can write any more: none exists, or it is a zombie
** (killed, not yet reaped by its parent; Linux's /proc tells). */
static int process_gone(long pid) {
    char buf[512];
    const char *end;
    FILE *f;
    size_t n;
    if (kill((pid_t)pid, 0) != 0) return errno == ESRCH;
    snprintf(buf, sizeof buf, "/proc/%ld/stat", pid);
    if (!(f = fopen(buf, "r"))) return 0;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "pid (command) state ...": the command may hold ')' itself */
    if (!(end = strrchr(buf, ')'))) return 0;
    return end[1] == ' ' && (end[2] == 'Z' || end[2] == 'X');
}

/* A writer killed mid-write (kill -9, a crash) leaves its "<path>.tmp.<pid>"
** behind: a partial copy as big as the checkpoint, which nothing reads. After
** a successful write to path, those of processes that no longer exist are
** removed, so repeated kills do not fill the disk. A pid that runs keeps its
** file (a live writer, or a reused pid: then the file stays). Pids are
** this host's: on a directory shared between hosts, another host's live
** writer could lose its temporary file, and its save then fails at the
** rename, leaving path whole. Best effort, like sync_dir. */
static void remove_stale_temps(const char *dir, const char *path) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t blen = strlen(base), dlen = strlen(dir);
    struct dirent *e;
    DIR *d = opendir(dir);
    if (!d) return;
    while ((e = readdir(d))) {
        const char *p = e->d_name;
        char *victim;
        long pid = 0;
        if (strncmp(p, base, blen) != 0 || strncmp(p + blen, ".tmp.", 5) != 0) continue;
        for (p += blen + 5; *p >= '0' && *p <= '9' && pid < 100000000; p++) pid = pid * 10 + (*p - '0');
        if (*p || p == e->d_name + blen + 5 || pid <= 0 || pid >= 100000000) continue;
        if ((pid_t)pid == getpid() || !process_gone(pid)) continue;
        if (!(victim = malloc(dlen + strlen(e->d_name) + 2))) break;
        snprintf(victim, dlen + strlen(e->d_name) + 2, "%s/%s", dir, e->d_name);
        unlink(victim);
        free(victim);
    }
    closedir(d);
}

sy_status sy_safetensors_write(const char *path, int n, const char *const *names,
                               const sy_tensor *const *tensors, int nmeta,
                               const char *const *keys, const char *const *values) {
    wentry *w = NULL;
    meta *m = NULL;
    sy_strbuf header = {0};
    size_t sum_at = 0;
    char *tmp = NULL, *dir;
    FILE *fp = NULL;
    int fd, err, nm;
    sy_status st;

    if ((st = check_args(&w, &m, &nm, n, names, tensors, nmeta, keys, values))) goto done;
    if ((st = build_header(&header, &sum_at, n, w, nm, m))) goto done;
    if (!(tmp = malloc(strlen(path) + 32))) {
        st = sy_error(SY_ERR_OOM, "safetensors: write: out of memory");
        goto done;
    }
    snprintf(tmp, strlen(path) + 32, "%s.tmp.%ld", path, (long)getpid());
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)) < 0) {
        err = errno;
        st = sy_error(SY_ERR_IO, "safetensors: cannot write '%s': %s (creating '%s')", path,
                      strerror(err), tmp);
        free(tmp);
        tmp = NULL;   /* nothing was created */
        goto done;
    }
    if (!(fp = fdopen(fd, "wb"))) {
        err = errno;
        close(fd);
        st = sy_error(SY_ERR_IO, "safetensors: cannot write '%s': %s", path, strerror(err));
        goto done;
    }
    st = write_contents(fp, &header, sum_at, n, w);
    err = errno;
    if (fclose(fp) != 0 && st == SY_OK) {
        err = errno;
        st = SY_ERR_IO;
    }
    if (st == SY_ERR_IO)
        sy_error(SY_ERR_IO, "safetensors: cannot write '%s': %s (writing '%s')", path, strerror(err), tmp);
    if (st) goto done;
    if (rename(tmp, path) != 0) {
        err = errno;
        st = sy_error(SY_ERR_IO, "safetensors: cannot write '%s': %s (renaming '%s' over it)", path,
                      strerror(err), tmp);
        goto done;
    }
    free(tmp);
    tmp = NULL;
    if ((dir = dir_of(path))) {
        sync_dir(dir);
        remove_stale_temps(dir, path);
        free(dir);
    }

done:
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    sy_strbuf_free(&header);
    free(w);
    free(m);
    return st;
}
