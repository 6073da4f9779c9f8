/* json — see json.h. */
#include "core/json.h"
#include "core/memory.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- parser */

struct parser {
    const char *p, *end, *start;
    const char *line_start;
    int line;
    int depth;
    const char *what;
    struct error *err;
};

static int fail(struct parser *ps, const char *msg)
{
    return error_set(ps->err, ERROR_INPUT, "%s:%d:%d: invalid JSON: %s", ps->what, ps->line,
                     (int)(ps->p - ps->line_start) + 1, msg);
}

static void skip_space(struct parser *ps)
{
    while (ps->p < ps->end) {
        char c = *ps->p;
        if (c == '\n') {
            ps->line++;
            ps->line_start = ps->p + 1;
        } else if (c != ' ' && c != '\t' && c != '\r') {
            return;
        }
        ps->p++;
    }
}

static struct json_value *new_value(struct parser *ps, enum json_type type)
{
    struct json_value *v = xcalloc(1, sizeof *v);
    v->type = type;
    v->line = ps->line;
    v->column = (int)(ps->p - ps->line_start) + 1;
    return v;
}

static void append_utf8(struct buffer *b, uint32_t cp)
{
    char u[4];
    if (cp < 0x80) {
        u[0] = (char)cp;
        buffer_append(b, u, 1);
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        buffer_append(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        buffer_append(b, u, 3);
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        buffer_append(b, u, 4);
    }
}

/* Length of the valid UTF-8 sequence at p (0 if invalid). */
static size_t utf8_sequence(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n;
    uint32_t cp, min;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        n = 2;
        cp = c & 0x1f;
        min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3;
        cp = c & 0x0f;
        min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4;
        cp = c & 0x07;
        min = 0x10000;
    } else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

static int hex4(struct parser *ps, uint32_t *out)
{
    if (ps->end - ps->p < 4)
        return fail(ps, "truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = ps->p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return fail(ps, "bad hex digit in \\u escape");
    }
    ps->p += 4;
    *out = v;
    return 0;
}

static int parse_string_raw(struct parser *ps, struct buffer *b)
{
    ps->p++; /* opening quote */
    for (;;) {
        if (ps->p >= ps->end)
            return fail(ps, "unterminated string");
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') {
            ps->p++;
            buffer_reserve(b, 0);
            return 0;
        }
        if (c < 0x20)
            return fail(ps, "control character in string (escape it)");
        if (c == '\\') {
            ps->p++;
            if (ps->p >= ps->end)
                return fail(ps, "unterminated escape");
            char e = *ps->p++;
            switch (e) {
            case '"': buffer_append_char(b, '"'); break;
            case '\\': buffer_append_char(b, '\\'); break;
            case '/': buffer_append_char(b, '/'); break;
            case 'b': buffer_append_char(b, '\b'); break;
            case 'f': buffer_append_char(b, '\f'); break;
            case 'n': buffer_append_char(b, '\n'); break;
            case 'r': buffer_append_char(b, '\r'); break;
            case 't': buffer_append_char(b, '\t'); break;
            case 'u': {
                uint32_t cp;
                if (hex4(ps, &cp) != 0)
                    return -1;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    uint32_t lo;
                    if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u')
                        return fail(ps, "unpaired UTF-16 surrogate in \\u escape");
                    ps->p += 2;
                    if (hex4(ps, &lo) != 0)
                        return -1;
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return fail(ps, "unpaired UTF-16 surrogate in \\u escape");
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                    return fail(ps, "unpaired UTF-16 surrogate in \\u escape");
                }
                append_utf8(b, cp);
                break;
            }
            default: ps->p--; return fail(ps, "unknown escape");
            }
            continue;
        }
        size_t n = utf8_sequence((const unsigned char *)ps->p, (const unsigned char *)ps->end);
        if (n == 0)
            return fail(ps, "invalid UTF-8 in string");
        buffer_append(b, ps->p, n);
        ps->p += n;
    }
}

static int parse_value(struct parser *ps, struct json_value **out);

static int parse_number(struct parser *ps, struct json_value **out)
{
    const char *s = ps->p;
    const char *p = s;
    if (p < ps->end && *p == '-')
        p++;
    if (p >= ps->end || !(*p >= '0' && *p <= '9'))
        return fail(ps, "expected a value");
    if (*p == '0') {
        p++;
    } else {
        while (p < ps->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < ps->end && *p == '.') {
        p++;
        if (p >= ps->end || !(*p >= '0' && *p <= '9'))
            return fail(ps, "digit expected after decimal point");
        while (p < ps->end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < ps->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < ps->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= ps->end || !(*p >= '0' && *p <= '9'))
            return fail(ps, "digit expected in exponent");
        while (p < ps->end && *p >= '0' && *p <= '9')
            p++;
    }
    struct json_value *v = new_value(ps, JSON_NUMBER);
    v->text = xstrndup(s, (size_t)(p - s));
    v->text_len = (size_t)(p - s);
    ps->p = p;
    *out = v;
    return 0;
}

static int parse_literal(struct parser *ps, const char *word, struct json_value **out, enum json_type t, bool b)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return fail(ps, "expected a value");
    struct json_value *v = new_value(ps, t);
    v->boolean = b;
    ps->p += n;
    *out = v;
    return 0;
}

static void push_item(struct json_value *v, char *key, struct json_value *item, size_t *cap)
{
    if (v->count == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        v->items = xrealloc(v->items, *cap * sizeof *v->items);
        if (v->type == JSON_OBJECT)
            v->keys = xrealloc(v->keys, *cap * sizeof *v->keys);
    }
    if (v->type == JSON_OBJECT)
        v->keys[v->count] = key;
    v->items[v->count++] = item;
}

static int parse_container(struct parser *ps, struct json_value **out, bool object)
{
    if (++ps->depth > JSON_MAX_DEPTH)
        return fail(ps, "nested too deeply");
    struct json_value *v = new_value(ps, object ? JSON_OBJECT : JSON_ARRAY);
    size_t cap = 0;
    char close = object ? '}' : ']';
    ps->p++;
    skip_space(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        ps->depth--;
        *out = v;
        return 0;
    }
    for (;;) {
        char *key = NULL;
        skip_space(ps);
        if (object) {
            if (ps->p >= ps->end || *ps->p != '"') {
                json_free(v);
                return fail(ps, "expected a string key");
            }
            struct buffer kb = BUFFER_INIT;
            const char *key_at = ps->p;
            if (parse_string_raw(ps, &kb) != 0) {
                buffer_free(&kb);
                json_free(v);
                return -1;
            }
            key = buffer_take(&kb);
            for (size_t i = 0; i < v->count; i++) {
                if (strcmp(v->keys[i], key) == 0) {
                    ps->p = key_at;
                    free(key);
                    json_free(v);
                    return fail(ps, "duplicate object key");
                }
            }
            skip_space(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free(key);
                json_free(v);
                return fail(ps, "expected ':' after key");
            }
            ps->p++;
            skip_space(ps);
        }
        struct json_value *item = NULL;
        if (parse_value(ps, &item) != 0) {
            free(key);
            json_free(v);
            return -1;
        }
        push_item(v, key, item, &cap);
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            break;
        }
        json_free(v);
        return fail(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    ps->depth--;
    *out = v;
    return 0;
}

static int parse_value(struct parser *ps, struct json_value **out)
{
    skip_space(ps);
    if (ps->p >= ps->end)
        return fail(ps, "unexpected end of input");
    switch (*ps->p) {
    case '{': return parse_container(ps, out, true);
    case '[': return parse_container(ps, out, false);
    case '"': {
        struct json_value *v = new_value(ps, JSON_STRING);
        struct buffer b = BUFFER_INIT;
        if (parse_string_raw(ps, &b) != 0) {
            buffer_free(&b);
            free(v);
            return -1;
        }
        v->text_len = b.len;
        v->text = buffer_take(&b);
        *out = v;
        return 0;
    }
    case 't': return parse_literal(ps, "true", out, JSON_BOOL, true);
    case 'f': return parse_literal(ps, "false", out, JSON_BOOL, false);
    case 'n': return parse_literal(ps, "null", out, JSON_NULL, false);
    default: return parse_number(ps, out);
    }
}

int json_parse(const char *text, size_t len, const char *what, struct json_value **out, struct error *err)
{
    struct parser ps = {text, text + len, text, text, 1, 0, what ? what : "JSON", err};
    *out = NULL;
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        return fail(&ps, "byte order mark not allowed");
    struct json_value *v = NULL;
    if (parse_value(&ps, &v) != 0)
        return -1;
    skip_space(&ps);
    if (ps.p != ps.end) {
        json_free(v);
        return fail(&ps, "trailing data after the JSON value");
    }
    *out = v;
    return 0;
}

void json_free(struct json_value *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->count; i++) {
        json_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->text);
    free(v);
}

const struct json_value *json_object_get(const struct json_value *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < obj->count; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return obj->items[i];
    return NULL;
}

const char *json_object_get_string(const struct json_value *obj, const char *key)
{
    const struct json_value *v = json_object_get(obj, key);
    return v && v->type == JSON_STRING ? v->text : NULL;
}

const struct json_value *json_object_get_array(const struct json_value *obj, const char *key)
{
    const struct json_value *v = json_object_get(obj, key);
    return v && v->type == JSON_ARRAY ? v : NULL;
}

const struct json_value *json_object_get_object(const struct json_value *obj, const char *key)
{
    const struct json_value *v = json_object_get(obj, key);
    return v && v->type == JSON_OBJECT ? v : NULL;
}

bool json_get_int64(const struct json_value *v, int64_t *out)
{
    if (!v || v->type != JSON_NUMBER)
        return false;
    if (strpbrk(v->text, ".eE"))
        return false;
    errno = 0;
    char *end = NULL;
    long long n = strtoll(v->text, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = (int64_t)n;
    return true;
}

bool json_object_get_int64(const struct json_value *obj, const char *key, int64_t *out)
{
    return json_get_int64(json_object_get(obj, key), out);
}

/* ---------------------------------------------------------------- writer */

void json_escape(struct buffer *out, const char *s, size_t len, bool escape_html)
{
    static const char hex[] = "0123456789abcdef";
    buffer_append_char(out, '"');
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            buffer_append(out, e, 2);
        } else if (c == '\n') {
            buffer_append(out, "\\n", 2);
        } else if (c == '\r') {
            buffer_append(out, "\\r", 2);
        } else if (c == '\t') {
            buffer_append(out, "\\t", 2);
        } else if (c < 0x20 || (escape_html && (c == '<' || c == '>' || c == '&'))) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buffer_append(out, e, 6);
        } else if (c == 0xe2 && i + 2 < len && p[i + 1] == 0x80 && (p[i + 2] == 0xa8 || p[i + 2] == 0xa9)) {
            /* U+2028 / U+2029, escaped by Go for JavaScript safety */
            buffer_append_str(out, p[i + 2] == 0xa8 ? "\\u2028" : "\\u2029");
            i += 2;
        } else if (c >= 0x80) {
            size_t n = utf8_sequence(p + i, p + len);
            if (n == 0) {
                buffer_append_str(out, "\\ufffd"); /* Go replaces invalid UTF-8 the same way */
            } else {
                buffer_append(out, p + i, n); /* the whole sequence, not just its lead byte */
                i += n - 1;
            }
        } else {
            buffer_append_char(out, (char)c);
        }
    }
    buffer_append_char(out, '"');
}

void json_writer_init(struct json_writer *w, struct buffer *out)
{
    memset(w, 0, sizeof *w);
    w->out = out;
    w->escape_html = true;
    w->first[0] = true;
}

static void newline_indent(struct json_writer *w)
{
    if (!w->indent)
        return;
    buffer_append_char(w->out, '\n');
    for (int i = 0; i < w->depth; i++)
        buffer_append_str(w->out, w->indent);
}

static void before_value(struct json_writer *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0) {
        if (!w->first[w->depth])
            buffer_append_char(w->out, ',');
        newline_indent(w);
    }
    w->first[w->depth] = false;
}

static void open_container(struct json_writer *w, char c)
{
    before_value(w);
    buffer_append_char(w->out, c);
    if (w->depth < JSON_MAX_DEPTH)
        w->depth++;
    w->first[w->depth] = true;
}

static void close_container(struct json_writer *w, char c)
{
    bool empty = w->first[w->depth];
    if (w->depth > 0)
        w->depth--;
    if (!empty)
        newline_indent(w);
    buffer_append_char(w->out, c);
}

void json_object_begin(struct json_writer *w)
{
    open_container(w, '{');
}
void json_object_end(struct json_writer *w)
{
    close_container(w, '}');
}
void json_array_begin(struct json_writer *w)
{
    open_container(w, '[');
}
void json_array_end(struct json_writer *w)
{
    close_container(w, ']');
}

void json_key(struct json_writer *w, const char *key)
{
    before_value(w);
    json_escape(w->out, key, strlen(key), w->escape_html);
    buffer_append_str(w->out, w->indent ? ": " : ":");
    w->after_key = true;
}

void json_string_len(struct json_writer *w, const char *s, size_t len)
{
    before_value(w);
    json_escape(w->out, s, len, w->escape_html);
}

void json_string(struct json_writer *w, const char *s)
{
    json_string_len(w, s, strlen(s));
}

void json_int(struct json_writer *w, int64_t v)
{
    before_value(w);
    buffer_appendf(w->out, "%" PRId64, v);
}

void json_bool(struct json_writer *w, bool v)
{
    before_value(w);
    buffer_append_str(w->out, v ? "true" : "false");
}

void json_null(struct json_writer *w)
{
    before_value(w);
    buffer_append_str(w->out, "null");
}

void json_raw(struct json_writer *w, const char *raw)
{
    before_value(w);
    buffer_append_str(w->out, raw);
}

void json_kv_string(struct json_writer *w, const char *key, const char *s)
{
    json_key(w, key);
    json_string(w, s);
}
void json_kv_int(struct json_writer *w, const char *key, int64_t v)
{
    json_key(w, key);
    json_int(w, v);
}
void json_kv_bool(struct json_writer *w, const char *key, bool v)
{
    json_key(w, key);
    json_bool(w, v);
}

void json_write_value(struct json_writer *w, const struct json_value *v)
{
    switch (v->type) {
    case JSON_NULL: json_null(w); break;
    case JSON_BOOL: json_bool(w, v->boolean); break;
    case JSON_NUMBER: json_raw(w, v->text); break;
    case JSON_STRING: json_string_len(w, v->text, v->text_len); break;
    case JSON_ARRAY:
        json_array_begin(w);
        for (size_t i = 0; i < v->count; i++)
            json_write_value(w, v->items[i]);
        json_array_end(w);
        break;
    case JSON_OBJECT:
        json_object_begin(w);
        for (size_t i = 0; i < v->count; i++) {
            json_key(w, v->keys[i]);
            json_write_value(w, v->items[i]);
        }
        json_object_end(w);
        break;
    }
}
