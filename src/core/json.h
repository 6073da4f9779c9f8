/* json — a strict JSON parser (DOM) and a streaming writer.
 *
 * Parser: RFC 8259, UTF-8 only, duplicate object keys rejected (two parsers reading one OCI
 * manifest differently is a classic signature bypass), nesting depth capped, numbers kept as text
 * so 64-bit sizes survive exactly. Errors carry line:column.
 *
 * Writer: escapes like Go's encoding/json (<, >, & as \u003c \u003e \u0026, U+2028/2029), so
 * API bodies are byte-identical to what Image Factory sends. Set json_writer.escape_html = false
 * for canonical OCI documents, which cosign and registries write without HTML escaping. */
#ifndef AIRFACTORY_JSON_H
#define AIRFACTORY_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/buffer.h"
#include "airfactory/error.h"

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json_value {
    enum json_type type;
    bool boolean;
    char *text; /* JSON_STRING: decoded UTF-8 (may hold NUL: see text_len); JSON_NUMBER: literal */
    size_t text_len;
    size_t count; /* JSON_ARRAY / JSON_OBJECT */
    char **keys;  /* JSON_OBJECT: count keys, in document order */
    struct json_value **items;
    int line, column; /* where the value starts, 1-based */
};

#define JSON_MAX_DEPTH 64

/* what names the input in errors (a file name, "manifest sha256:…"). */
int json_parse(const char *text, size_t len, const char *what, struct json_value **out, struct error *err);
void json_free(struct json_value *v);

/* Lookups return NULL when absent or of another type. */
const struct json_value *json_object_get(const struct json_value *obj, const char *key);
const char *json_object_get_string(const struct json_value *obj, const char *key);
const struct json_value *json_object_get_array(const struct json_value *obj, const char *key);
const struct json_value *json_object_get_object(const struct json_value *obj, const char *key);
/* Integer number without fraction or exponent that fits int64. */
bool json_get_int64(const struct json_value *v, int64_t *out);
bool json_object_get_int64(const struct json_value *obj, const char *key, int64_t *out);

struct json_writer {
    struct buffer *out;
    bool escape_html; /* default true (Go's json.Marshal) */
    int depth;
    bool first[JSON_MAX_DEPTH + 1];
    bool after_key;
    const char *indent; /* NULL: compact; else indent unit, e.g. "  " (Go's MarshalIndent) */
};

void json_writer_init(struct json_writer *w, struct buffer *out);
void json_object_begin(struct json_writer *w);
void json_object_end(struct json_writer *w);
void json_array_begin(struct json_writer *w);
void json_array_end(struct json_writer *w);
void json_key(struct json_writer *w, const char *key);
void json_string(struct json_writer *w, const char *s);
void json_string_len(struct json_writer *w, const char *s, size_t len);
void json_int(struct json_writer *w, int64_t v);
void json_bool(struct json_writer *w, bool v);
void json_null(struct json_writer *w);
/* Insert an already-encoded JSON value. */
void json_raw(struct json_writer *w, const char *raw);
/* Re-emit a parsed value: objects in document order, numbers as written, strings re-escaped. */
void json_write_value(struct json_writer *w, const struct json_value *v);
/* Shorthands for key + value. */
void json_kv_string(struct json_writer *w, const char *key, const char *s);
void json_kv_int(struct json_writer *w, const char *key, int64_t v);
void json_kv_bool(struct json_writer *w, const char *key, bool v);
/* Append s as a JSON string literal to out (with quotes). */
void json_escape(struct buffer *out, const char *s, size_t len, bool escape_html);

#endif
