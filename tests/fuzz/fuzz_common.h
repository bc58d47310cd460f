/*
** fuzz_common.h -- what the fuzz targets share: a private temporary
** directory for the files the readers take by path, sanitizer defaults, and
** the leak check on the core's byte accounting.
*/
#ifndef SY_FUZZ_COMMON_H
#define SY_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"

/* Allocations above 256 MB fail as they would on a machine without the
** memory, instead of tripping libFuzzer's malloc limit: a request the core
** cannot serve must become an error, which is what the targets check. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
    return "allocator_may_return_null=1:max_allocation_size_mb=256";
}

static char fuzz_dir[64];

static inline void fuzz_remove_dir(void) {
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir);
}

/* Creates the private directory once; files named by the targets live in it. */
static inline void fuzz_make_dir(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/synlua-fuzz-XXXXXX", tmp && strlen(tmp) < 32 ? tmp : "/tmp");
    if (!mkdtemp(fuzz_dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fuzz_remove_dir);
}

static inline void fuzz_path(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", fuzz_dir, name); }

static inline void fuzz_write_file(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror("fuzz: writing the input file");
        abort();
    }
}

/* A failed call must leave a message for people. */
static inline void fuzz_check_message(sy_status st, const char *what) {
    if (st != SY_OK && sy_error_message()[0] == '\0') {
        fprintf(stderr, "fuzz: %s failed (%s) without a message\n", what, sy_status_name(st));
        abort();
    }
}

/* Everything the core allocated for one input must be freed by its end. */
static inline void fuzz_check_no_leak(int64_t baseline, const char *what) {
    if (sy_mem_in_use() != baseline) {
        fprintf(stderr, "fuzz: %s leaked %lld bytes of core memory\n", what,
                (long long)(sy_mem_in_use() - baseline));
        abort();
    }
}

#endif
