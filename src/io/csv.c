/*
** csv.c -- the streaming CSV reader on libcsv, field parsers and date parts.
**
** The file is read in 1 MB blocks and handed to libcsv one physical line at a
** time, so the line being parsed is always known and errors can name it
** (libcsv keeps its state between calls, so quoted newlines still work).
** The first infer_rows rows are kept as raw text until the column kinds are
** decided, then replayed; after that each field goes straight from libcsv's
** buffer into its column.
*/
#include <csv.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

#define BLOCK_SIZE ((size_t)1 << 20)
#define SNIFF_LINES 20
#define SHOW_MAX 40          /* characters of a bad value quoted in a message */

static const char *const kind_names[SY_CSV_KIND_COUNT] = {"number", "datetime", "time", "text"};

const char *sy_csv_kind_name(sy_csv_kind k) {
    return (unsigned)k < SY_CSV_KIND_COUNT ? kind_names[k] : "?";
}

int sy_csv_kind_from_name(const char *name, sy_csv_kind *out) {
    int k;
    for (k = 0; k < SY_CSV_KIND_COUNT; k++)
        if (strcmp(name, kind_names[k]) == 0) {
            *out = (sy_csv_kind)k;
            return 1;
        }
    return 0;
}

void sy_csv_options_init(sy_csv_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->decimal = '.';
    opt->quote = '"';
    opt->header = 1;
    opt->dayfirst = 1;
    opt->default_na = 1;
    opt->infer_rows = 1000;
    opt->max_rows = -1;
}

/* ================================================================ numbers */

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int lower_eq(const char *s, size_t n, const char *word) {
    size_t i;
    if (strlen(word) != n) return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != word[i]) return 0;
    }
    return 1;
}

/* strtod on a copy with the decimal mark replaced by the locale's, for the
** numbers the exact fast path cannot do; the syntax has been checked. */
static int parse_number_slow(const char *s, size_t n, char decimal, double *out) {
    char small[128], *buf = n < sizeof small ? small : malloc(n + 1);
    const char *lp = localeconv()->decimal_point;
    char point = lp && lp[0] ? lp[0] : '.';
    size_t i;
    if (!buf) return 0;
    for (i = 0; i < n; i++) buf[i] = s[i] == decimal ? point : s[i];
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    if (buf != small) free(buf);
    return 1;
}

int sy_csv_parse_number(const char *s, size_t n, char decimal, double *out) {
    size_t i = 0;
    int neg = 0, any = 0, exact = 1, nd = 0;
    int64_t exp10 = 0;
    uint64_t mant = 0;
    if (n == 0) return 0;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        i++;
    }
    if (i < n && !is_digit(s[i]) && s[i] != decimal) {
        const char *w = s + i;
        size_t wn = n - i;
        if (lower_eq(w, wn, "nan")) *out = NAN;
        else if (lower_eq(w, wn, "inf") || lower_eq(w, wn, "infinity")) *out = neg ? -INFINITY : INFINITY;
        else return 0;
        return 1;
    }
    /* Up to 19 significant digits go into mant; later ones only shift the
    ** exponent and make the value inexact. */
    for (; i < n && is_digit(s[i]); i++) {
        int d = s[i] - '0';
        any = 1;
        if (mant == 0 && d == 0) continue;
        if (nd < 19) {
            mant = mant * 10 + (uint64_t)d;
            nd++;
        } else {
            exp10++;
            if (d) exact = 0;
        }
    }
    if (i < n && s[i] == decimal) {
        for (i++; i < n && is_digit(s[i]); i++) {
            int d = s[i] - '0';
            any = 1;
            if (mant == 0 && d == 0) {
                exp10--;
            } else if (nd < 19) {
                mant = mant * 10 + (uint64_t)d;
                nd++;
                exp10--;
            } else if (d) {
                exact = 0;
            }
        }
    }
    if (!any) return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        int eneg = 0;
        int64_t e = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
        if (i >= n || !is_digit(s[i])) return 0;
        for (; i < n && is_digit(s[i]); i++)
            if (e < 100000) e = e * 10 + (s[i] - '0');
        exp10 += eneg ? -e : e;
    }
    if (i != n) return 0;
    /* Clinger's fast path: an integer below 2^53 times or over an exact
    ** power of ten is one correctly rounded operation. */
    if (exact && mant <= ((uint64_t)1 << 53) && exp10 >= -22 && exp10 <= 22) {
        double v = (double)mant;
        v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
        *out = neg ? -v : v;
        return 1;
    }
    return parse_number_slow(s, n, decimal, out);
}

/* ============================================================= calendar */

static int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = floor_div(y, 400);
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
    int64_t era, doe, yoe, doy, mp;
    z += 719468;
    era = floor_div(z, 146097);
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int64_t y, int m) {
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* ISO-8601 weeks in year y: 53 when it starts on a Thursday, or on a
** Wednesday in a leap year. */
static int iso_weeks_in_year(int64_t y) {
    int64_t p = (y + floor_div(y, 4) - floor_div(y, 100) + floor_div(y, 400)) % 7;
    int64_t q = ((y - 1) + floor_div(y - 1, 4) - floor_div(y - 1, 100) + floor_div(y - 1, 400)) % 7;
    return 52 + ((p + 7) % 7 == 4 || (q + 7) % 7 == 3);
}

/* Reads between min and max digits at *i. */
static int read_digits(const char *s, size_t n, size_t *i, int min, int max, int *v) {
    int k = 0, x = 0;
    while (*i < n && k < max && is_digit(s[*i])) {
        x = x * 10 + (s[*i] - '0');
        (*i)++;
        k++;
    }
    if (k < min || (*i < n && is_digit(s[*i]))) return 0;
    *v = x;
    return 1;
}

/* H[H]:MM[:SS[.fff]] or, with dots, HH.MM.SS (three parts, so that it is
** never a number). */
static int parse_clock(const char *s, size_t n, size_t *i, double *secs) {
    int h, mi, se = 0, has_sec = 0;
    char sep;
    double frac = 0;
    if (!read_digits(s, n, i, 1, 2, &h) || *i >= n || (s[*i] != ':' && s[*i] != '.')) return 0;
    sep = s[(*i)++];
    if (!read_digits(s, n, i, 2, 2, &mi)) return 0;
    if (*i < n && s[*i] == sep) {
        (*i)++;
        if (!read_digits(s, n, i, 2, 2, &se)) return 0;
        has_sec = 1;
        if (sep == ':' && *i < n && (s[*i] == '.' || s[*i] == ',')) {
            double scale = 0.1;
            (*i)++;
            if (*i >= n || !is_digit(s[*i])) return 0;
            for (; *i < n && is_digit(s[*i]); (*i)++, scale *= 0.1) frac += (s[*i] - '0') * scale;
        }
    }
    if (sep == '.' && !has_sec) return 0;
    if (h > 23 || mi > 59 || se > 60) return 0;
    *secs = h * 3600.0 + mi * 60.0 + se + frac;
    return 1;
}

int sy_csv_parse_time(const char *s, size_t n, double *out) {
    size_t i = 0;
    double secs;
    if (!parse_clock(s, n, &i, &secs) || i != n) return 0;
    *out = secs;
    return 1;
}

int sy_csv_parse_datetime(const char *s, size_t n, int dayfirst, double *out) {
    size_t i = 0;
    int a, b, c, y, m, d, ymd;
    char sep;
    double secs = 0, tz = 0;
    /* Year first (2013-02-08, 2013/02/08) or year last (08/02/2013, 08.02.2013). */
    if (!read_digits(s, n, &i, 1, 4, &a) || i >= n) return 0;
    ymd = i == 4;
    sep = s[i];
    if (ymd ? (sep != '-' && sep != '/') : (sep != '/' && sep != '-' && sep != '.')) return 0;
    i++;
    if (!read_digits(s, n, &i, 1, 2, &b) || i >= n || s[i] != sep) return 0;
    i++;
    if (!read_digits(s, n, &i, ymd ? 1 : 4, ymd ? 2 : 4, &c)) return 0;
    if (ymd) {
        y = a, m = b, d = c;
    } else if (dayfirst) {
        d = a, m = b, y = c;
    } else {
        m = a, d = b, y = c;
    }
    if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) return 0;
    if (i < n) {
        if (s[i] != 'T' && s[i] != ' ') return 0;
        while (++i < n && s[i] == ' ') {}
        if (!parse_clock(s, n, &i, &secs)) return 0;
        if (i < n && s[i] == 'Z') {
            i++;
        } else if (i < n && (s[i] == '+' || s[i] == '-')) {
            int sign = s[i++] == '-' ? -1 : 1, th, tm;
            if (!read_digits(s, n, &i, 2, 2, &th)) return 0;
            if (i < n && s[i] == ':') i++;
            if (!read_digits(s, n, &i, 2, 2, &tm) || th > 23 || tm > 59) return 0;
            tz = sign * (th * 3600.0 + tm * 60.0);
        }
        if (i != n) return 0;
    }
    *out = (double)days_from_civil(y, m, d) * 86400.0 + secs - tz;
    return 1;
}

sy_status sy_datetime_parts(sy_tensor **out, const sy_tensor *seconds) {
    sy_tensor *src = NULL, *res = NULL;
    int64_t n, i, size[2];
    const double *x;
    double *o;
    sy_status st;
    *out = NULL;
    if (seconds->ndim != 1 || seconds->dtype != SY_F64)
        return sy_error(SY_ERR_ARG, "datetime_parts: expected a 1-d float64 tensor of seconds, got %d-d %s",
                        seconds->ndim, sy_dtype_name(seconds->dtype));
    n = seconds->size[0];
    size[0] = n;
    size[1] = SY_DATE_NPARTS;
    if ((st = sy_tensor_contiguous(&src, seconds)) != SY_OK) return st;
    if ((st = sy_tensor_empty(&res, SY_F64, 2, size)) != SY_OK) {
        sy_tensor_release(src);
        return st;
    }
    x = sy_tensor_data(src);
    o = sy_tensor_data(res);
    for (i = 0; i < n; i++, o += SY_DATE_NPARTS) {
        int64_t days, y, yday;
        int m, d, dow, week, k;
        if (!isfinite(x[i]) || fabs(x[i]) > 1e15) {
            for (k = 0; k < SY_DATE_NPARTS; k++) o[k] = NAN;
            continue;
        }
        days = (int64_t)floor(x[i] / 86400.0);
        civil_from_days(days, &y, &m, &d);
        dow = (int)(((days % 7) + 7 + 3) % 7);  /* 1970-01-01 was a Thursday */
        yday = days - days_from_civil(y, 1, 1) + 1;
        week = (int)((yday - (dow + 1) + 10) / 7);
        if (week < 1) week = iso_weeks_in_year(y - 1);
        else if (week > iso_weeks_in_year(y)) week = 1;
        o[0] = d;
        o[1] = m;
        o[2] = week;
        o[3] = (double)y;
        o[4] = (m - 1) / 3 + 1;
        o[5] = dow;
        o[6] = dow >= 5;
    }
    sy_tensor_release(src);
    *out = res;
    return SY_OK;
}

sy_status sy_column_fill(sy_tensor *t, sy_fill_method method, int64_t *filled) {
    double *x, last = NAN, sum = 0;
    int64_t n, st, i, count = 0, present = 0;
    *filled = 0;
    if (t->ndim != 1 || t->dtype != SY_F64)
        return sy_error(SY_ERR_ARG, "fill: expected a 1-d float64 tensor, got %d-d %s", t->ndim,
                        sy_dtype_name(t->dtype));
    x = sy_tensor_data(t);
    n = t->size[0];
    st = t->stride[0];
    if (method == SY_FILL_MEAN) {
        for (i = 0; i < n; i++)
            if (x[i * st] == x[i * st]) sum += x[i * st], present++;
        last = present ? sum / (double)present : NAN;
    }
    for (i = 0; i < n; i++) {
        int64_t k = method == SY_FILL_BACKWARD ? n - 1 - i : i;
        double *v = &x[k * st];
        if (*v != *v) {
            if (last == last) {
                *v = last;
                count++;
            }
        } else if (method != SY_FILL_MEAN) {
            last = *v;
        }
    }
    *filled = count;
    return SY_OK;
}

/* ================================================================= reader */

typedef struct column {
    char *name;
    int unnamed;             /* the header gave no name */
    int forced;              /* the kind was given by the caller */
    sy_csv_kind kind;
    sy_tensor *values;       /* number, datetime, time: [cap] float64 */
    double *num;             /* its data */
    int64_t *off;            /* text */
    char *text;
    size_t tlen, tcap;
    int64_t present;         /* values that are not missing */
} column;

typedef struct sample_field {
    size_t off, len;
} sample_field;

typedef struct sample_row {
    int64_t line;
    size_t first;            /* index of its first field in the field list */
    int nfields;
} sample_row;

enum { ST_HEADER, ST_SAMPLE, ST_TYPED, ST_DONE };

typedef struct reader {
    const char *path;
    const sy_csv_options *opt;
    /* text markers of missing values, and a quick test on the first byte */
    const char **na;
    size_t *na_len;
    int n_na, na_empty;
    unsigned char na_first[256];
    int64_t file_bytes, bytes_fed;
    column *cols;
    int ncols, capcols;
    int64_t cap;             /* rows every column has room for */
    int state;
    int64_t line;            /* the physical line being fed, from 1 */
    int64_t row_line;        /* line of the current row's first field */
    int field;               /* fields seen in the current row */
    int in_row, row_blank, row_extra, row_failed;
    char row_err[512];       /* first bad value of the row, reported at its end */
    int64_t nrows;           /* rows stored, trailing blank ones included */
    int64_t pending_blank;   /* blank rows at the end so far */
    /* raw rows kept until the kinds are known */
    char *sbytes;
    size_t slen, scap;
    sample_field *sfields;
    size_t nsfields, capsfields;
    sample_row *srows;
    int64_t nsrows, capsrows;
    sy_status status;
} reader;

static const char *const default_na[] = {"", "NA", "N/A", "NaN", "nan", "null", "NULL"};
#define N_DEFAULT_NA ((int)(sizeof default_na / sizeof default_na[0]))

static sy_status oom(reader *r) {
    r->status = sy_error(SY_ERR_OOM, "read_csv: %s: out of memory", r->path);
    return r->status;
}

/* Grows *p (elements of `size` bytes, capacity *cap) to hold at least need. */
static int grow(void **p, size_t size, size_t *cap, size_t need) {
    size_t c = *cap ? *cap : 64;
    void *q;
    if (need <= *cap) return 1;
    while (c < need) c *= 2;
    q = realloc(*p, c * size);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

static char *dup_bytes(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* "value" for messages: at most SHOW_MAX characters. */
static void show_value(char *buf, size_t bufn, const char *s, size_t n) {
    if (n > SHOW_MAX) snprintf(buf, bufn, "%.*s...", SHOW_MAX, s);
    else snprintf(buf, bufn, "%.*s", (int)n, s);
}

static int is_na_text(const reader *r, const char *s, size_t n) {
    int k;
    if (n == 0) return r->na_empty;
    if (!r->na_first[(unsigned char)s[0]]) return 0;
    for (k = 0; k < r->n_na; k++)
        if (r->na_len[k] == n && memcmp(r->na[k], s, n) == 0) return 1;
    return 0;
}

static int setup_na(reader *r) {
    int k, total = (r->opt->default_na ? N_DEFAULT_NA : 0) + r->opt->n_na;
    r->na = malloc((size_t)(total ? total : 1) * sizeof *r->na);
    r->na_len = malloc((size_t)(total ? total : 1) * sizeof *r->na_len);
    if (!r->na || !r->na_len) return 0;
    for (k = 0; k < total; k++) {
        const char *m = r->opt->default_na && k < N_DEFAULT_NA ? default_na[k]
                        : r->opt->na[k - (r->opt->default_na ? N_DEFAULT_NA : 0)];
        r->na[k] = m;
        r->na_len[k] = strlen(m);
        if (m[0]) r->na_first[(unsigned char)m[0]] = 1;
        else r->na_empty = 1;
    }
    r->n_na = total;
    return 1;
}

static int is_na_number(const reader *r, double v) {
    int k;
    for (k = 0; k < r->opt->n_na_numbers; k++)
        if (v == r->opt->na_numbers[k]) return 1;
    return 0;
}

/* ------------------------------------------------------------ the header */

static int add_column(reader *r, const char *s, size_t n) {
    column *c;
    size_t cap = (size_t)r->capcols;
    if (!grow((void **)&r->cols, sizeof *r->cols, &cap, (size_t)r->ncols + 1)) return 0;
    r->capcols = (int)cap;
    c = &r->cols[r->ncols++];
    memset(c, 0, sizeof *c);
    c->unnamed = n == 0;
    if (n == 0) {
        char buf[32];
        snprintf(buf, sizeof buf, "column%d", r->ncols);
        c->name = dup_bytes(buf, strlen(buf));
    } else {
        c->name = dup_bytes(s, n);
    }
    return c->name != NULL;
}

/* A second "x" becomes "x.1", a third "x.2", as pandas names them. */
static int dedupe_names(reader *r) {
    int i, j;
    for (j = 1; j < r->ncols; j++) {
        int dup = 0;
        for (i = 0; i < j; i++)
            if (strcmp(r->cols[i].name, r->cols[j].name) == 0) dup = 1;
        if (dup) {
            size_t len = strlen(r->cols[j].name) + 24;
            char *name = malloc(len);
            int k = 1, taken;
            if (!name) return 0;
            do {
                snprintf(name, len, "%s.%d", r->cols[j].name, k++);
                taken = 0;
                for (i = 0; i < r->ncols; i++)
                    if (strcmp(r->cols[i].name, name) == 0) taken = 1;
            } while (taken);
            free(r->cols[j].name);
            r->cols[j].name = name;
        }
    }
    return 1;
}

static void header_field(reader *r, const char *s, size_t n) {
    if (!add_column(r, s, n)) oom(r);
}

/* --------------------------------------------------------- typed columns */

/* Number columns are written straight into their tensors, so a grown
** column is a new tensor with the old rows copied over. */
static int reserve_rows(reader *r, int64_t c) {
    int j;
    for (j = 0; j < r->ncols; j++) {
        column *col = &r->cols[j];
        if (col->kind == SY_CSV_TEXT) {
            int64_t *q = realloc(col->off, (size_t)c * sizeof *q);
            if (!q) return 0;
            col->off = q;
        } else {
            sy_tensor *t;
            if (sy_tensor_empty(&t, SY_F64, 1, &c) != SY_OK) return 0;
            if (r->nrows) memcpy(sy_tensor_data(t), col->num, (size_t)r->nrows * sizeof(double));
            sy_tensor_release(col->values);
            col->values = t;
            col->num = sy_tensor_data(t);
        }
    }
    r->cap = c;
    return 1;
}

static int ensure_rows(reader *r, int64_t need) {
    int64_t c = r->cap ? r->cap : 1024;
    if (need <= r->cap) return 1;
    while (c < need) c *= 2;
    return reserve_rows(r, c);
}

static void set_missing(column *c, int64_t i) {
    if (c->kind == SY_CSV_TEXT) c->off[i] = -1;
    else c->num[i] = NAN;
}

static void begin_row(reader *r) {
    r->in_row = 1;
    r->row_blank = 1;
    r->row_extra = 0;
    r->row_failed = 0;
    if (!ensure_rows(r, r->nrows + 1)) oom(r);
}

static void value_error(reader *r, int j, const char *s, size_t n, const char *what) {
    char shown[SHOW_MAX + 8];
    if (r->row_failed) return;
    r->row_failed = 1;
    show_value(shown, sizeof shown, s, n);
    snprintf(r->row_err, sizeof r->row_err,
             "%s:%lld: column '%s' (%d): '%s' %s (add it to the missing-value markers with na, or "
             "read the column as text with types)",
             r->path, (long long)r->row_line, r->cols[j].name, j + 1, shown, what);
}

static void typed_field(reader *r, const char *s, size_t n, int j) {
    column *c;
    int64_t i = r->nrows;
    double v;
    if (n) r->row_blank = 0;
    if (j >= r->ncols) {
        if (n) r->row_extra = 1;
        return;
    }
    c = &r->cols[j];
    /* An empty field is missing in every column that is not text. */
    if ((n == 0 && c->kind != SY_CSV_TEXT) || is_na_text(r, s, n)) {
        set_missing(c, i);
        return;
    }
    switch (c->kind) {
    case SY_CSV_NUMBER:
        if (!sy_csv_parse_number(s, n, r->opt->decimal, &v)) {
            value_error(r, j, s, n, "is not a number");
            v = NAN;
        } else if (is_na_number(r, v) || v != v) {
            v = NAN;
        } else {
            c->present++;
        }
        c->num[i] = v;
        break;
    case SY_CSV_DATETIME:
        if (!sy_csv_parse_datetime(s, n, r->opt->dayfirst, &v)) {
            value_error(r, j, s, n, "is not a date or date-time");
            v = NAN;
        } else {
            c->present++;
        }
        c->num[i] = v;
        break;
    case SY_CSV_TIME:
        if (!sy_csv_parse_time(s, n, &v)) {
            value_error(r, j, s, n, "is not a time of day (HH:MM[:SS] or HH.MM.SS)");
            v = NAN;
        } else {
            c->present++;
        }
        c->num[i] = v;
        break;
    default:
        if (!grow((void **)&c->text, 1, &c->tcap, c->tlen + n + 1)) {
            oom(r);
            return;
        }
        c->off[i] = (int64_t)c->tlen;
        memcpy(c->text + c->tlen, s, n);
        c->text[c->tlen + n] = '\0';
        c->tlen += n + 1;
        c->present++;
        break;
    }
}

static void typed_row_end(reader *r) {
    int nf = r->field, j, named_left_out = 0;
    for (j = nf; j < r->ncols; j++) {
        set_missing(&r->cols[j], r->nrows);
        if (!r->cols[j].unnamed) named_left_out = 1;
    }
    /* A blank row is kept (as missing values) only if a real row follows. */
    if (r->row_blank) {
        r->nrows++;
        r->pending_blank++;
        return;
    }
    /* Only empty fields may be added, and only unnamed columns left out. */
    if (r->row_extra || named_left_out) {
        r->status = sy_error(SY_ERR_FORMAT, "%s:%lld: row has %d field%s, %s has %d", r->path,
                             (long long)r->row_line, nf, nf == 1 ? "" : "s",
                             r->opt->header ? "the header" : "the first row", r->ncols);
        return;
    }
    if (r->row_failed) {
        r->status = sy_error(SY_ERR_FORMAT, "%s", r->row_err);
        return;
    }
    r->nrows++;
    r->pending_blank = 0;
    if (r->opt->max_rows >= 0 && r->nrows >= r->opt->max_rows) r->state = ST_DONE;
}

/* ---------------------------------------------------- sampling and kinds */

static void sample_field_add(reader *r, const char *s, size_t n) {
    sample_field *f;
    /* + 1: the buffer exists even when every field so far is empty */
    if (!grow((void **)&r->sbytes, 1, &r->scap, r->slen + n + 1) ||
        !grow((void **)&r->sfields, sizeof *r->sfields, &r->capsfields, r->nsfields + 1)) {
        oom(r);
        return;
    }
    memcpy(r->sbytes + r->slen, s, n);
    f = &r->sfields[r->nsfields++];
    f->off = r->slen;
    f->len = n;
    r->slen += n;
}

static sy_csv_kind classify(const reader *r, const char *s, size_t n, int *missing) {
    double v;
    *missing = 0;
    if (n == 0 || is_na_text(r, s, n)) {
        *missing = 1;
        return SY_CSV_NUMBER;
    }
    if (sy_csv_parse_number(s, n, r->opt->decimal, &v)) {
        *missing = is_na_number(r, v);
        return SY_CSV_NUMBER;
    }
    if (sy_csv_parse_datetime(s, n, r->opt->dayfirst, &v)) return SY_CSV_DATETIME;
    if (sy_csv_parse_time(s, n, &v)) return SY_CSV_TIME;
    return SY_CSV_TEXT;
}

static void apply_forced_kinds(reader *r) {
    int k, j;
    for (k = 0; k < r->opt->n_types; k++) {
        int found = 0;
        for (j = 0; j < r->ncols; j++)
            if (strcmp(r->cols[j].name, r->opt->type_names[k]) == 0) {
                r->cols[j].kind = r->opt->types[k];
                r->cols[j].forced = 1;
                found = 1;
            }
        if (!found) {
            r->status = sy_error(SY_ERR_ARG, "read_csv: %s: types names column '%s', which the file does not have",
                                 r->path, r->opt->type_names[k]);
            return;
        }
    }
}

/* Kinds from the sampled rows, then the rows themselves go in as typed. */
static void finish_sample(reader *r) {
    int64_t i;
    int j, k;
    if (r->ncols == 0) return;
    apply_forced_kinds(r);
    if (r->status) return;
    for (j = 0; j < r->ncols; j++) {
        int64_t count[SY_CSV_KIND_COUNT] = {0};
        int best = SY_CSV_TEXT, missing;
        if (r->cols[j].forced) continue;
        for (i = 0; i < r->nsrows; i++) {
            const sample_row *row = &r->srows[i];
            if (j < row->nfields) {
                const sample_field *f = &r->sfields[row->first + (size_t)j];
                sy_csv_kind kind = classify(r, r->sbytes + f->off, f->len, &missing);
                if (!missing) count[kind]++;
            }
        }
        for (k = 0; k < SY_CSV_TEXT; k++)
            if (count[k] > count[best]) best = k;
        if (count[best] == 0 && best == SY_CSV_TEXT) best = SY_CSV_NUMBER;  /* nothing but missing */
        r->cols[j].kind = (sy_csv_kind)best;
    }
    r->state = ST_TYPED;
    /* Room for the whole file at the sample's bytes per row, so the columns
    ** are rarely grown. */
    if (r->nsrows > 0 && r->bytes_fed > 0) {
        double per_row = (double)r->bytes_fed / (double)r->nsrows;
        double est = (double)r->file_bytes / per_row * 1.05 + 16;
        int64_t rows = est < 1e12 ? (int64_t)est : (int64_t)1e12;
        if (r->opt->max_rows >= 0 && rows > r->opt->max_rows) rows = r->opt->max_rows;
        if (rows > r->nsrows && !reserve_rows(r, rows)) {
            oom(r);
            return;
        }
    }
    for (i = 0; i < r->nsrows && !r->status && r->state == ST_TYPED; i++) {
        const sample_row *row = &r->srows[i];
        r->row_line = row->line;
        begin_row(r);
        for (j = 0; j < row->nfields && !r->status; j++) {
            const sample_field *f = &r->sfields[row->first + (size_t)j];
            r->field = j;
            typed_field(r, r->sbytes + f->off, f->len, j);
        }
        r->field = row->nfields;
        if (!r->status) typed_row_end(r);
        r->in_row = 0;
    }
    r->field = 0;
    free(r->sbytes);
    free(r->sfields);
    free(r->srows);
    r->sbytes = NULL;
    r->sfields = NULL;
    r->srows = NULL;
}

static void sample_row_end(reader *r) {
    sample_row *row;
    size_t cap = (size_t)r->capsrows;
    if (r->ncols == 0) {   /* no header: the first row says how many columns */
        int j;
        for (j = 0; j < r->field && !r->status; j++)
            if (!add_column(r, NULL, 0)) oom(r);
        for (j = 0; j < r->ncols; j++) r->cols[j].unnamed = 0;
        if (r->status) return;
    }
    if (!grow((void **)&r->srows, sizeof *r->srows, &cap, (size_t)r->nsrows + 1)) {
        oom(r);
        return;
    }
    r->capsrows = (int64_t)cap;
    row = &r->srows[r->nsrows++];
    row->line = r->row_line;
    row->nfields = r->field;
    row->first = r->nsfields - (size_t)r->field;
    if (r->nsrows >= r->opt->infer_rows) finish_sample(r);
}

/* ------------------------------------------------------------- callbacks */

static void on_field(void *s, size_t n, void *data) {
    reader *r = data;
    const char *str = s ? (const char *)s : "";
    if (r->status || r->state == ST_DONE) return;
    if (!r->in_row) {
        r->row_line = r->line;
        if (r->state == ST_TYPED) begin_row(r);
        else r->in_row = 1;
        if (r->status) return;
    }
    if (r->state == ST_HEADER) header_field(r, str, n);
    else if (r->state == ST_SAMPLE) sample_field_add(r, str, n);
    else typed_field(r, str, n, r->field);
    r->field++;
}

static void on_row(int c, void *data) {
    reader *r = data;
    (void)c;
    if (r->status || r->state == ST_DONE || !r->in_row) return;
    if (r->state == ST_HEADER) {
        if (dedupe_names(r)) r->state = ST_SAMPLE;
        else oom(r);
    } else if (r->state == ST_SAMPLE) {
        sample_row_end(r);
    } else {
        typed_row_end(r);
    }
    r->field = 0;
    r->in_row = 0;
}

/* ---------------------------------------------------------------- driver */

/* The delimiter among , ; tab | that occurs the same (non-zero) number of
** times on each of the first lines, the most frequent if several do; else
** the most frequent on the first line; else ','. Quoted text is skipped. */
static char sniff_delimiter(const char *buf, size_t n, int whole_file, char quote) {
    static const char cand[4] = {',', ';', '\t', '|'};
    int64_t first[4] = {0}, count[4];
    int consistent[4] = {1, 1, 1, 1}, lines = 0, k, best = -1;
    size_t i = 0;
    while (i < n && lines < SNIFF_LINES) {
        int inq = 0, empty = 1;
        size_t start = i;
        memset(count, 0, sizeof count);
        for (; i < n && (inq || buf[i] != '\n'); i++) {
            if (buf[i] == quote) inq = !inq;
            else if (!inq)
                for (k = 0; k < 4; k++)
                    if (buf[i] == cand[k]) count[k]++;
            if (buf[i] != '\r' && buf[i] != ' ') empty = 0;
        }
        if (i >= n && !whole_file) break;   /* an incomplete last line says nothing */
        i++;
        if (empty || i - start == 0) continue;
        for (k = 0; k < 4; k++) {
            if (lines == 0) first[k] = count[k];
            else if (count[k] != first[k]) consistent[k] = 0;
        }
        lines++;
    }
    for (k = 0; k < 4; k++)
        if (consistent[k] && first[k] > 0 && (best < 0 || first[k] > first[best])) best = k;
    if (best < 0)
        for (k = 0; k < 4; k++)
            if (first[k] > 0 && (best < 0 || first[k] > first[best])) best = k;
    return best < 0 ? ',' : cand[best];
}

static int space_only(unsigned char c) { return c == ' '; }

static void reader_free(reader *r) {
    int j;
    for (j = 0; j < r->ncols; j++) {
        free(r->cols[j].name);
        sy_tensor_release(r->cols[j].values);
        free(r->cols[j].off);
        free(r->cols[j].text);
    }
    free(r->cols);
    free(r->sbytes);
    free(r->sfields);
    free(r->srows);
    free(r->na);
    free(r->na_len);
}

/* Feeds one block, a physical line at a time. */
static void feed(reader *r, struct csv_parser *p, const char *buf, size_t n) {
    const char *q = buf, *end = buf + n;
    while (q < end && !r->status && r->state != ST_DONE) {
        const char *nl = memchr(q, '\n', (size_t)(end - q));
        size_t len = nl ? (size_t)(nl + 1 - q) : (size_t)(end - q);
        if (csv_parse(p, q, len, on_field, on_row, r) != len && !r->status) {
            r->status = sy_error(SY_ERR_FORMAT, "%s:%lld: malformed quoted field (a quote inside an "
                                 "unquoted field, or text after a closing quote)",
                                 r->path, (long long)r->line);
            return;
        }
        if (nl) r->line++;
        q += len;
        if (r->state == ST_SAMPLE) r->bytes_fed += (int64_t)len;
    }
}

static sy_status build_table(reader *r, sy_csv_table **out) {
    sy_csv_table *t;
    int j, keep = r->ncols;
    int64_t nrows = r->nrows - r->pending_blank;
    /* Trailing columns with neither a name nor a value (the ";;" at the end
    ** of AirQualityUCI.csv) are not columns. */
    while (keep > 0 && r->cols[keep - 1].unnamed && r->cols[keep - 1].present == 0) keep--;
    t = calloc(1, sizeof *t);
    if (!t || !(t->cols = calloc((size_t)(keep ? keep : 1), sizeof *t->cols))) {
        free(t);
        return oom(r);
    }
    t->nrows = nrows;
    t->delimiter = r->opt->delimiter;
    for (j = 0; j < keep; j++) {
        column *c = &r->cols[j];
        sy_csv_column *o = &t->cols[j];
        t->ncols = j + 1;
        o->name = c->name;
        c->name = NULL;
        o->kind = c->kind;
        if (c->kind == SY_CSV_TEXT) {
            o->text = c->text ? c->text : malloc(1);
            o->text_offset = c->off ? c->off : malloc(sizeof *o->text_offset);
            c->text = NULL;
            c->off = NULL;
            if (!o->text || !o->text_offset) {
                sy_csv_free(t);
                return oom(r);
            }
        } else if (c->values && c->values->size[0] == nrows) {
            o->values = c->values;
            c->values = NULL;
        } else {
            /* A column with much spare room is copied to its size; otherwise
            ** the result is the first nrows of it. */
            sy_status st = c->values && nrows >= c->values->size[0] / 4 * 3
                               ? sy_tensor_narrow(&o->values, c->values, 0, 0, nrows)
                               : sy_tensor_empty(&o->values, SY_F64, 1, &nrows);
            if (st != SY_OK) {
                sy_csv_free(t);
                return r->status = st;
            }
            if (o->values->storage != (c->values ? c->values->storage : NULL) && nrows)
                memcpy(sy_tensor_data(o->values), c->num, (size_t)nrows * sizeof(double));
        }
    }
    *out = t;
    return SY_OK;
}

sy_status sy_csv_read(sy_csv_table **out, const char *path, const sy_csv_options *opt_in) {
    sy_csv_options opt = *opt_in;
    reader r;
    struct csv_parser p;
    FILE *f;
    char *buf;
    size_t n;
    int any = 0;
    *out = NULL;
    if (opt.decimal != '.' && opt.decimal != ',')
        return sy_error(SY_ERR_ARG, "read_csv: decimal must be '.' or ',', got '%c'", opt.decimal);
    if (opt.delimiter == '\n' || opt.delimiter == '\r' || (opt.delimiter && opt.delimiter == opt.quote))
        return sy_error(SY_ERR_ARG, "read_csv: the delimiter cannot be a line break or the quote character");
    if (opt.infer_rows < 1) opt.infer_rows = 1;
    memset(&r, 0, sizeof r);
    r.path = path;
    r.opt = &opt;
    r.line = 1;
    r.state = opt.header ? ST_HEADER : ST_SAMPLE;
    if (!setup_na(&r)) {
        reader_free(&r);
        return sy_error(SY_ERR_OOM, "read_csv: %s: out of memory", path);
    }

    if (!(f = fopen(path, "rb"))) {
        reader_free(&r);
        return sy_error(SY_ERR_IO, "read_csv: cannot open %s: %s", path, strerror(errno));
    }
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        r.file_bytes = size > 0 ? size : 0;
        rewind(f);
    }
    if (!(buf = malloc(BLOCK_SIZE))) {
        fclose(f);
        reader_free(&r);
        return sy_error(SY_ERR_OOM, "read_csv: %s: out of memory", path);
    }
    if (csv_init(&p, CSV_APPEND_NULL | CSV_STRICT | CSV_STRICT_FINI) != 0) {
        free(buf);
        fclose(f);
        reader_free(&r);
        return sy_error(SY_ERR_OOM, "read_csv: %s: out of memory", path);
    }
    while (!r.status && r.state != ST_DONE && (n = fread(buf, 1, BLOCK_SIZE, f)) > 0) {
        const char *q = buf;
        if (!any) {
            any = 1;
            if (n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) q += 3, n -= 3;
            if (!opt.delimiter) opt.delimiter = sniff_delimiter(q, n, n < BLOCK_SIZE, opt.quote);
            csv_set_delim(&p, (unsigned char)opt.delimiter);
            csv_set_quote(&p, (unsigned char)opt.quote);
            if (opt.delimiter == '\t') csv_set_space_func(&p, space_only);
        }
        feed(&r, &p, q, n);
    }
    if (!r.status && ferror(f)) r.status = sy_error(SY_ERR_IO, "read_csv: cannot read %s: %s", path, strerror(errno));
    if (!r.status && r.state != ST_DONE && csv_fini(&p, on_field, on_row, &r) != 0 && !r.status)
        r.status = sy_error(SY_ERR_FORMAT, "%s:%lld: quoted field not closed at the end of the file", path,
                            (long long)r.line);
    csv_free(&p);
    free(buf);
    fclose(f);
    if (!r.status && r.state == ST_SAMPLE) finish_sample(&r);
    if (!r.status && r.ncols == 0)
        r.status = sy_error(SY_ERR_FORMAT, "read_csv: %s is empty (no header and no rows)", path);
    if (!r.status) build_table(&r, out);
    reader_free(&r);
    return r.status;
}

void sy_csv_free(sy_csv_table *t) {
    int j;
    if (!t) return;
    for (j = 0; j < t->ncols; j++) {
        free(t->cols[j].name);
        sy_tensor_release(t->cols[j].values);
        free(t->cols[j].text);
        free(t->cols[j].text_offset);
    }
    free(t->cols);
    free(t);
}
