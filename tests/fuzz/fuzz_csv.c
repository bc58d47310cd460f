/*
** fuzz_csv.c -- libFuzzer target for the CSV reader (src/io/csv.h).
**
** The first three bytes of an input choose the reader's options (delimiter,
** decimal comma, header, day-first dates, missing-value markers, a forced
** column kind, the number of rows used to infer kinds, a row limit); the
** rest is the file. A read must either fail with a message or give a table
** whose columns all have nrows values; either way nothing may leak. The
** field parsers and the calendar parts of datetime columns run on the same
** bytes.
*/
#include "fuzz_common.h"
#include "io/csv.h"

static char csv_path[128];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz_make_dir();
    fuzz_path(csv_path, sizeof csv_path, "input.csv");
    return 0;
}

static void options_from_bytes(sy_csv_options *o, const uint8_t *b) {
    static const char delimiters[5] = {0, ',', ';', '\t', '|'};
    static const char *const text_na[1] = {"?"};
    static const double number_na[1] = {-200};
    static const char *const type_names[1] = {"a"};
    static sy_csv_kind kind[1];
    o->delimiter = delimiters[b[0] % 5];
    o->decimal = (b[0] >> 3) & 1 ? ',' : '.';
    o->header = !((b[0] >> 4) & 1);
    o->dayfirst = (b[0] >> 5) & 1;
    o->default_na = !((b[0] >> 6) & 1);
    if (b[1] & 0x80) o->infer_rows = 1 + b[1] % 8;
    if (b[1] & 0x40) o->max_rows = b[1] % 5;
    if (b[2] & 1) {
        o->n_na = 1;
        o->na = text_na;
    }
    if (b[2] & 2) {
        o->n_na_numbers = 1;
        o->na_numbers = number_na;
    }
    if (b[2] & 4) {
        kind[0] = (sy_csv_kind)((b[2] >> 3) % SY_CSV_KIND_COUNT);
        o->n_types = 1;
        o->type_names = type_names;
        o->types = kind;
    }
}

static void check_table(const sy_csv_table *t) {
    int j;
    if (t->ncols < 0 || t->nrows < 0 || t->delimiter == 0) {
        fprintf(stderr, "fuzz_csv: bad table: %d columns, %lld rows, delimiter %d\n", t->ncols,
                (long long)t->nrows, t->delimiter);
        abort();
    }
    for (j = 0; j < t->ncols; j++) {
        const sy_csv_column *c = &t->cols[j];
        if (!c->name || c->kind < 0 || c->kind >= SY_CSV_KIND_COUNT) abort();
        if (c->kind == SY_CSV_TEXT) {
            int64_t i;
            size_t total = 0;
            for (i = 0; i < t->nrows; i++)   /* every value readable (ASan checks the bounds) */
                if (c->text_offset[i] >= 0) total += strlen(c->text + c->text_offset[i]);
            (void)total;
        } else {
            if (!c->values || c->values->ndim != 1 || c->values->size[0] != t->nrows ||
                c->values->dtype != SY_F64) {
                fprintf(stderr, "fuzz_csv: column %d has the wrong values tensor\n", j);
                abort();
            }
            if (c->kind == SY_CSV_DATETIME) {
                sy_tensor *parts = NULL;
                sy_status st = sy_datetime_parts(&parts, c->values);
                fuzz_check_message(st, "sy_datetime_parts");
                sy_tensor_release(parts);
            }
        }
    }
}

static void parse_fields(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    size_t n = size < 48 ? size : 48;
    double v;
    (void)sy_csv_parse_number(s, n, '.', &v);
    (void)sy_csv_parse_number(s, n, ',', &v);
    (void)sy_csv_parse_datetime(s, n, 1, &v);
    (void)sy_csv_parse_datetime(s, n, 0, &v);
    (void)sy_csv_parse_time(s, n, &v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sy_csv_options opt;
    sy_csv_table *t = NULL;
    sy_status st;
    int64_t baseline = sy_mem_in_use();
    sy_csv_options_init(&opt);
    if (size >= 3) {
        options_from_bytes(&opt, data);
        data += 3;
        size -= 3;
    }
    parse_fields(data, size);
    fuzz_write_file(csv_path, data, size);
    st = sy_csv_read(&t, csv_path, &opt);
    fuzz_check_message(st, "sy_csv_read");
    if (st == SY_OK) check_table(t);
    sy_csv_free(t);
    fuzz_check_no_leak(baseline, "sy_csv_read");
    return 0;
}
