/*
** csv.h -- delimited text files (CSV, `;`-separated, tab-separated) read
** through libcsv into typed columns, and the column kernels the data layer
** needs on what it read (date/time parsing, date parts, gap filling).
**
** The reader streams: the file goes through libcsv in blocks and every field
** lands in its column's buffer as it is parsed, so memory is the size of the
** result, never that of the file as strings. Column kinds are inferred from
** the first rows (see sy_csv_options.infer_rows): numbers become float64 with
** NaN for missing values; dates and date-times become float64 seconds since
** 1970-01-01 00:00 UTC; times of day become float64 seconds since midnight;
** anything else stays text. Numbers are parsed in C without the C locale's
** help, so a process locale never changes what a file means.
**
** Every error names the file, the line and (where one is at fault) the
** column: "data.csv:214: column 'close' (5): 'n/a' is not a number".
*/
#ifndef SY_CSV_H
#define SY_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "../core/tensor.h"

typedef enum sy_csv_kind {
    SY_CSV_NUMBER = 0,   /* float64, NaN = missing */
    SY_CSV_DATETIME,     /* float64 seconds since the Unix epoch (UTC) */
    SY_CSV_TIME,         /* float64 seconds since midnight */
    SY_CSV_TEXT,         /* strings; missing values have no string */
    SY_CSV_KIND_COUNT
} sy_csv_kind;

const char *sy_csv_kind_name(sy_csv_kind k);     /* "number", "datetime", "time", "text" */
int sy_csv_kind_from_name(const char *name, sy_csv_kind *out); /* 1 if known */

typedef struct sy_csv_options {
    char delimiter;      /* ',' ';' '\t' '|' ...; 0 = sniffed from the first lines */
    char decimal;        /* '.' (default) or ',' */
    char quote;          /* '"' by default */
    int header;          /* 1 (default): the first row names the columns */
    int dayfirst;        /* 1 (default): 03/04/2005 is 3 April; 0: 4 March */
    /* Missing-value markers. Text markers match a whole field (after libcsv
    ** trims the spaces around it); numeric markers match any spelling of the
    ** value in a number column ("-200" and "-200,0" both match -200). With
    ** default_na the markers "", "NA", "N/A", "NaN", "nan", "null", "NULL"
    ** are missing too. */
    int default_na;
    int n_na;
    const char *const *na;
    int n_na_numbers;
    const double *na_numbers;
    /* Kinds are inferred from this many data rows: each column takes the kind
    ** most of its non-missing values have (text on a tie); a later value of
    ** another kind is an error that names it. */
    int64_t infer_rows;
    /* Kinds forced by column name (names that match no column are an error). */
    int n_types;
    const char *const *type_names;
    const sy_csv_kind *types;
    int64_t max_rows;    /* stop after this many data rows; < 0: all */
} sy_csv_options;

void sy_csv_options_init(sy_csv_options *opt);

typedef struct sy_csv_column {
    char *name;
    sy_csv_kind kind;
    sy_tensor *values;   /* [nrows] float64 for every kind but text */
    char *text;          /* text: the values, each NUL-terminated */
    int64_t *text_offset;/* text: where row i's value starts in `text`, -1 = missing */
} sy_csv_column;

typedef struct sy_csv_table {
    int ncols;
    int64_t nrows;
    sy_csv_column *cols;
    char delimiter;      /* the one used (sniffed or given) */
} sy_csv_table;

/* Reads the file at path. Rows that are blank (no characters, or only empty
** fields) at the end of the file are ignored; in the middle they are rows of
** missing values. Trailing columns without a header name and without a value
** are dropped. A row may omit or add empty trailing fields; any other field
** count different from the header's is an error. */
sy_status sy_csv_read(sy_csv_table **out, const char *path, const sy_csv_options *opt);
void sy_csv_free(sy_csv_table *t);      /* NULL is ignored */

/* Field parsers, exported for the binding and the tests. Each returns 1 and
** sets *out when the whole of s[0..n) is one value of the kind, else 0. */
int sy_csv_parse_number(const char *s, size_t n, char decimal, double *out);
int sy_csv_parse_datetime(const char *s, size_t n, int dayfirst, double *out);
int sy_csv_parse_time(const char *s, size_t n, double *out);

/* Calendar parts of datetimes (float64 seconds since the epoch, 1-d) into out
** [n, 7] float64, columns: day of month, month, ISO-8601 week, year, quarter,
** day of week (Monday = 0), is-weekend (0/1). NaN gives a row of NaN. */
#define SY_DATE_NPARTS 7
sy_status sy_datetime_parts(sy_tensor **out, const sy_tensor *seconds);

/* Fills the NaN entries of a 1-d float64 tensor in place: FORWARD with the
** last value before each, BACKWARD with the next one after it, MEAN with the
** mean of the other values; entries with nothing to take from stay NaN.
** *filled gets the number of entries filled. */
typedef enum sy_fill_method { SY_FILL_FORWARD, SY_FILL_BACKWARD, SY_FILL_MEAN } sy_fill_method;
sy_status sy_column_fill(sy_tensor *t, sy_fill_method method, int64_t *filled);

#endif
