/*
** json.h -- a small strict JSON reader (RFC 8259) and the string-building
** helpers the safetensors writer needs. Built for untrusted input: strings
** must be valid UTF-8, nesting is limited, every failure returns a status
** and a message that gives the byte position.
*/
#ifndef SY_JSON_H
#define SY_JSON_H

#include <stddef.h>

#include "../core/error.h"

/* Deeper nesting is rejected, so a hostile header cannot exhaust the stack. */
#define SY_JSON_MAX_DEPTH 64

typedef enum sy_json_type {
    SY_JSON_NULL = 0,
    SY_JSON_BOOL,
    SY_JSON_NUMBER,
    SY_JSON_STRING,
    SY_JSON_ARRAY,
    SY_JSON_OBJECT
} sy_json_type;

typedef struct sy_json {
    sy_json_type type;
    int boolean;              /* BOOL */
    /* STRING: the decoded UTF-8 text; NUMBER: the literal as written.
    ** NUL-terminated; len excludes the terminator (a string may hold \u0000). */
    char *str;
    size_t len;
    /* ARRAY: n values; OBJECT: n values with their keys (STRING nodes) in
    ** keys[], in the order written (duplicates are kept; callers decide). */
    struct sy_json *items;
    struct sy_json *keys;
    size_t n;
    size_t pos;               /* byte offset of the value in the text */
} sy_json;

/* Parses text[0..len) as one JSON value followed only by whitespace.
** SY_ERR_FORMAT with "byte N: ..." for bad input, SY_ERR_OOM. */
sy_status sy_json_parse(sy_json **out, const char *text, size_t len);
void sy_json_free(sy_json *v);     /* NULL is ignored */
const char *sy_json_type_name(sy_json_type type);   /* "a string", "an array", ... */

/* 1 if s[0..n) is well-formed UTF-8 (no overlongs, surrogates or code
** points above U+10FFFF). */
int sy_utf8_valid(const char *s, size_t n);

/* A growable byte buffer; an allocation failure sets `oom` and later appends
** do nothing, so builders check once at the end. */
typedef struct sy_strbuf {
    char *data;
    size_t len, cap;
    int oom;
} sy_strbuf;

void sy_strbuf_append(sy_strbuf *b, const char *s, size_t n);
void sy_strbuf_puts(sy_strbuf *b, const char *s);
void sy_strbuf_free(sy_strbuf *b);
/* Appends s[0..n) as a quoted JSON string (s must be valid UTF-8). */
void sy_json_append_string(sy_strbuf *b, const char *s, size_t n);

#endif
