/*
** safetensors.h -- reading and writing safetensors files (DESIGN.md §1.3),
** the checkpoint format shared with PyTorch's `safetensors` package:
**
**   u64 N (little-endian) | N bytes of JSON header | data buffer
**
** The header maps each tensor name to {"dtype", "shape", "data_offsets":
** [begin, end]} (byte offsets into the data buffer) and may hold
** "__metadata__", a map of string to string. synlua reads and writes the
** dtypes F32, F64, I64, U8 and BOOL.
**
** Checksum: synlua's writer stores XXH64 (seed 0) of the whole data buffer in
** the metadata, under SY_SAFETENSORS_CHECKSUM_KEY, as "xxh64:" and 16
** lowercase hex digits (`xxhsum -H1` over the bytes after the header gives
** the same digits). The reader verifies it when present and fails on a
** mismatch; files from other writers have none and load unchecked. The key
** belongs to the format, like "data_offsets": the reader leaves it out of
** the metadata it returns, and the writer replaces one given by the caller
** (so loaded metadata can be saved again as it is).
*/
#ifndef SY_SAFETENSORS_H
#define SY_SAFETENSORS_H

#include "../core/tensor.h"

#define SY_SAFETENSORS_CHECKSUM_KEY "synlua.checksum"

/* XXH64 with seed 0, fed in pieces of any size. */
typedef struct sy_xxh64 {
    uint64_t v[4];
    unsigned char buf[32];
    size_t buflen;
    uint64_t total;
} sy_xxh64;
void sy_xxh64_init(sy_xxh64 *h);
void sy_xxh64_update(sy_xxh64 *h, const void *data, size_t n);
uint64_t sy_xxh64_digest(const sy_xxh64 *h);

/* Headers longer than this are rejected, as the reference implementation does. */
#define SY_SAFETENSORS_MAX_HEADER 100000000

/* A file's contents: tensors sorted by name, metadata sorted by key. Every
** string is NUL-terminated UTF-8; the file owns the tensors' references. */
typedef struct sy_st_file {
    int n;
    char **names;
    sy_tensor **tensors;
    int nmeta;
    char **keys;
    char **values;
} sy_st_file;

/* Reads and validates the whole file. A malformed file, or one whose data
** does not match its checksum, gives SY_ERR_FORMAT with a message naming the
** file and the problem (and the tensor, where one is at fault); an unreadable
** one SY_ERR_IO with the OS reason. */
sy_status sy_safetensors_read(sy_st_file **out, const char *path);
void sy_safetensors_free(sy_st_file *f);     /* NULL is ignored */

/* Writes n tensors under their names with nmeta metadata pairs (keys and
** values may be NULL when nmeta is 0). Output is deterministic: tensors are
** laid out by name, metadata keys sorted, the header compact and padded with
** spaces to a multiple of 8 bytes; the checksum is added to the metadata.
** Non-contiguous tensors are written in logical order. The write is atomic:
** the bytes go to "<path>.tmp.<pid>", are flushed and fsync'ed, then renamed
** over path; on any failure the temporary file is removed and an existing
** file at path is left as it was. A process killed while writing leaves its
** temporary file behind (path itself is the old file or the new one, whole);
** the next successful write to path removes those of dead processes. */
sy_status sy_safetensors_write(const char *path, int n, const char *const *names,
                               const sy_tensor *const *tensors, int nmeta,
                               const char *const *keys, const char *const *values);

#endif
