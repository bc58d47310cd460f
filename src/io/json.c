/*
** json.c -- strict JSON parsing into a small tree, UTF-8 validation and
** JSON string escaping.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* ------------------------------------------------------------------ UTF-8 */

/* Length of the well-formed UTF-8 sequence at s (n bytes available), or 0.
** The second-byte ranges exclude overlong forms, surrogates and code points
** above U+10FFFF (Unicode 15, table 3-7). */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    size_t len, i;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

int sy_utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, k;
    while (i < n) {
        if ((k = utf8_seq(p + i, n - i)) == 0) return 0;
        i += k;
    }
    return 1;
}

/* ---------------------------------------------------------------- strbuf */

void sy_strbuf_append(sy_strbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->cap - b->len < n + 1) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;
        while (cap - b->len < n + 1) {
            if (cap > SIZE_MAX / 2) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        if (!(p = realloc(b->data, cap))) {
            b->oom = 1;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void sy_strbuf_puts(sy_strbuf *b, const char *s) { sy_strbuf_append(b, s, strlen(s)); }

void sy_strbuf_free(sy_strbuf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

void sy_json_append_string(sy_strbuf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    size_t i, run = 0;
    sy_strbuf_append(b, "\"", 1);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
        size_t elen = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            if (c >= 0x20) continue;
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        sy_strbuf_append(b, s + run, i - run);
        sy_strbuf_append(b, esc, elen);
        run = i + 1;
    }
    sy_strbuf_append(b, s + run, n - run);
    sy_strbuf_append(b, "\"", 1);
}

/* ---------------------------------------------------------------- parser */

typedef struct parser {
    const unsigned char *s;
    size_t len, pos;
    int depth;
} parser;

/* Names the byte at the parse position for error messages. */
static const char *describe(const parser *p, char *buf, size_t n) {
    unsigned char c;
    if (p->pos >= p->len) return "the end of the header";
    c = p->s[p->pos];
    if (c >= 0x20 && c < 0x7F) snprintf(buf, n, "'%c'", c);
    else snprintf(buf, n, "byte 0x%02X", c);
    return buf;
}

static sy_status unexpected(const parser *p, const char *expected) {
    char buf[16];
    return sy_error(SY_ERR_FORMAT, "byte %zu: expected %s, got %s", p->pos, expected,
                    describe(p, buf, sizeof buf));
}

static sy_status oom(void) { return sy_error(SY_ERR_OOM, "out of memory while parsing JSON"); }

static void skip_ws(parser *p) {
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int hex4(const unsigned char *s, unsigned *out) {
    unsigned v = 0;
    int i;
    for (i = 0; i < 4; i++) {
        unsigned char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

static void put_utf8(sy_strbuf *b, unsigned cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12);
        u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | cp >> 18);
        u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    sy_strbuf_append(b, u, n);
}

/* \uXXXX at p->pos (just after the backslash-u), with a surrogate pair. */
static sy_status parse_escape_u(parser *p, sy_strbuf *b) {
    unsigned cp, lo;
    size_t start = p->pos - 2;
    if (p->len - p->pos < 4 || !hex4(p->s + p->pos, &cp))
        return sy_error(SY_ERR_FORMAT, "byte %zu: \\u must be followed by 4 hex digits", start);
    p->pos += 4;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return sy_error(SY_ERR_FORMAT, "byte %zu: unpaired UTF-16 surrogate \\u%04X", start, cp);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (p->len - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
            !hex4(p->s + p->pos + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
            return sy_error(SY_ERR_FORMAT, "byte %zu: unpaired UTF-16 surrogate \\u%04X", start, cp);
        p->pos += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    put_utf8(b, cp);
    return SY_OK;
}

/* A string at p->pos (on the opening quote) into v. */
static sy_status parse_string(parser *p, sy_json *v) {
    sy_strbuf b = {0};
    sy_status st = SY_OK;
    size_t start = p->pos, run;
    p->pos++;
    run = p->pos;
    for (;;) {
        unsigned char c;
        size_t k;
        if (p->pos >= p->len) {
            st = sy_error(SY_ERR_FORMAT, "byte %zu: string is not terminated", start);
            break;
        }
        c = p->s[p->pos];
        if (c == '"') {
            sy_strbuf_append(&b, (const char *)p->s + run, p->pos - run);
            p->pos++;
            break;
        }
        if (c < 0x20) {
            st = sy_error(SY_ERR_FORMAT, "byte %zu: control character 0x%02X inside a string", p->pos, c);
            break;
        }
        if (c >= 0x80) {
            if ((k = utf8_seq(p->s + p->pos, p->len - p->pos)) == 0) {
                st = sy_error(SY_ERR_FORMAT, "byte %zu: invalid UTF-8 inside a string", p->pos);
                break;
            }
            p->pos += k;
            continue;
        }
        if (c != '\\') {
            p->pos++;
            continue;
        }
        sy_strbuf_append(&b, (const char *)p->s + run, p->pos - run);
        if (p->pos + 1 >= p->len) {
            st = sy_error(SY_ERR_FORMAT, "byte %zu: string is not terminated", start);
            break;
        }
        p->pos += 2;
        switch (p->s[p->pos - 1]) {
        case '"': sy_strbuf_append(&b, "\"", 1); break;
        case '\\': sy_strbuf_append(&b, "\\", 1); break;
        case '/': sy_strbuf_append(&b, "/", 1); break;
        case 'b': sy_strbuf_append(&b, "\b", 1); break;
        case 'f': sy_strbuf_append(&b, "\f", 1); break;
        case 'n': sy_strbuf_append(&b, "\n", 1); break;
        case 'r': sy_strbuf_append(&b, "\r", 1); break;
        case 't': sy_strbuf_append(&b, "\t", 1); break;
        case 'u': st = parse_escape_u(p, &b); break;
        default:
            st = sy_error(SY_ERR_FORMAT, "byte %zu: invalid escape sequence in a string", p->pos - 2);
        }
        if (st) break;
        run = p->pos;
    }
    if (st == SY_OK) {
        /* An empty string still needs its own buffer for str. */
        sy_strbuf_append(&b, "", 0);
        if (b.oom) st = oom();
    }
    if (st) {
        sy_strbuf_free(&b);
        return st;
    }
    v->type = SY_JSON_STRING;
    v->str = b.data;
    v->len = b.len;
    return SY_OK;
}

static int is_digit(const parser *p) {
    return p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9';
}

static sy_status parse_number(parser *p, sy_json *v) {
    size_t start = p->pos;
    if (p->s[p->pos] == '-') p->pos++;
    if (!is_digit(p)) return unexpected(p, "a digit");
    if (p->s[p->pos] == '0') p->pos++;
    else
        while (is_digit(p)) p->pos++;
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++;
        if (!is_digit(p)) return unexpected(p, "a digit after the decimal point");
        while (is_digit(p)) p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (!is_digit(p)) return unexpected(p, "a digit in the exponent");
        while (is_digit(p)) p->pos++;
    }
    if (!(v->str = malloc(p->pos - start + 1))) return oom();
    memcpy(v->str, p->s + start, p->pos - start);
    v->str[p->pos - start] = '\0';
    v->len = p->pos - start;
    v->type = SY_JSON_NUMBER;
    return SY_OK;
}

static sy_status parse_value(parser *p, sy_json *v);

/* Makes room for one more child; the new slots are zeroed so a partly
** parsed tree can always be freed. */
static sy_status grow(sy_json *v, size_t *cap) {
    size_t ncap = *cap ? *cap * 2 : 4;
    sy_json *items, *keys;
    if (v->n < *cap) return SY_OK;
    if (ncap > SIZE_MAX / sizeof *items) return oom();
    if (!(items = realloc(v->items, ncap * sizeof *items))) return oom();
    v->items = items;
    memset(items + *cap, 0, (ncap - *cap) * sizeof *items);
    if (v->type == SY_JSON_OBJECT) {
        if (!(keys = realloc(v->keys, ncap * sizeof *keys))) return oom();
        v->keys = keys;
        memset(keys + *cap, 0, (ncap - *cap) * sizeof *keys);
    }
    *cap = ncap;
    return SY_OK;
}

/* An array or object at p->pos (on the opening bracket) into v. */
static sy_status parse_container(parser *p, sy_json *v, sy_json_type type) {
    const char close = type == SY_JSON_ARRAY ? ']' : '}';
    size_t cap = 0;
    sy_status st;
    if (++p->depth > SY_JSON_MAX_DEPTH)
        return sy_error(SY_ERR_FORMAT, "byte %zu: nesting deeper than %d levels", p->pos,
                        SY_JSON_MAX_DEPTH);
    v->type = type;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        p->depth--;
        return SY_OK;
    }
    for (;;) {
        if ((st = grow(v, &cap))) return st;
        v->n++;
        if (type == SY_JSON_OBJECT) {
            if (p->pos >= p->len || p->s[p->pos] != '"') return unexpected(p, "a string key");
            v->keys[v->n - 1].pos = p->pos;
            if ((st = parse_string(p, &v->keys[v->n - 1]))) return st;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') return unexpected(p, "':' after an object key");
            p->pos++;
            skip_ws(p);
        }
        if ((st = parse_value(p, &v->items[v->n - 1]))) return st;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            skip_ws(p);
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) break;
        return unexpected(p, type == SY_JSON_ARRAY ? "',' or ']' in an array" : "',' or '}' in an object");
    }
    p->pos++;
    p->depth--;
    return SY_OK;
}

static sy_status parse_literal(parser *p, sy_json *v, const char *word, sy_json_type type, int b) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) return unexpected(p, "a JSON value");
    p->pos += n;
    v->type = type;
    v->boolean = b;
    return SY_OK;
}

static sy_status parse_value(parser *p, sy_json *v) {
    v->pos = p->pos;
    if (p->pos >= p->len) return unexpected(p, "a JSON value");
    switch (p->s[p->pos]) {
    case '{': return parse_container(p, v, SY_JSON_OBJECT);
    case '[': return parse_container(p, v, SY_JSON_ARRAY);
    case '"': return parse_string(p, v);
    case 't': return parse_literal(p, v, "true", SY_JSON_BOOL, 1);
    case 'f': return parse_literal(p, v, "false", SY_JSON_BOOL, 0);
    case 'n': return parse_literal(p, v, "null", SY_JSON_NULL, 0);
    default:
        if (p->s[p->pos] == '-' || is_digit(p)) return parse_number(p, v);
        return unexpected(p, "a JSON value");
    }
}

static void free_node(sy_json *v) {
    size_t i;
    for (i = 0; i < v->n; i++) {
        free_node(&v->items[i]);
        if (v->keys) free_node(&v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
}

void sy_json_free(sy_json *v) {
    if (!v) return;
    free_node(v);
    free(v);
}

sy_status sy_json_parse(sy_json **out, const char *text, size_t len) {
    parser p;
    sy_json *v = calloc(1, sizeof *v);
    sy_status st;
    *out = NULL;
    if (!v) return oom();
    p.s = (const unsigned char *)text;
    p.len = len;
    p.pos = 0;
    p.depth = 0;
    skip_ws(&p);
    if ((st = parse_value(&p, v)) == SY_OK) {
        skip_ws(&p);
        if (p.pos < p.len) st = unexpected(&p, "nothing after the JSON value");
    }
    if (st) {
        sy_json_free(v);
        return st;
    }
    *out = v;
    return SY_OK;
}

const char *sy_json_type_name(sy_json_type type) {
    switch (type) {
    case SY_JSON_NULL: return "null";
    case SY_JSON_BOOL: return "a boolean";
    case SY_JSON_NUMBER: return "a number";
    case SY_JSON_STRING: return "a string";
    case SY_JSON_ARRAY: return "an array";
    case SY_JSON_OBJECT: return "an object";
    }
    return "an unknown value";
}
