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
*/
#ifndef SY_SAFETENSORS_H
#define SY_SAFETENSORS_H

#include "../core/tensor.h"

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

/* Reads and validates the whole file. A malformed file gives SY_ERR_FORMAT
** with a message naming the file and the problem (and the tensor, where one
** is at fault); an unreadable one SY_ERR_IO with the OS reason. */
sy_status sy_safetensors_read(sy_st_file **out, const char *path);
void sy_safetensors_free(sy_st_file *f);     /* NULL is ignored */

/* Writes n tensors under their names with nmeta metadata pairs (keys and
** values may be NULL when nmeta is 0). Output is deterministic: tensors are
** laid out by name, metadata keys sorted, the header compact and padded with
** spaces to a multiple of 8 bytes. Non-contiguous tensors are written in
** logical order. The write is atomic: the bytes go to "<path>.tmp.<pid>",
** are flushed and fsync'ed, then renamed over path; on any failure the
** temporary file is removed and an existing file at path is left as it was. */
sy_status sy_safetensors_write(const char *path, int n, const char *const *names,
                               const sy_tensor *const *tensors, int nmeta,
                               const char *const *keys, const char *const *values);

#endif
