/* buffer — a growable byte string, always NUL-terminated after len for convenience.
 * Used for small documents (manifests, JSON, YAML, cpio headers); never for whole assets. */
#ifndef AIRFACTORY_BUFFER_H
#define AIRFACTORY_BUFFER_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct buffer {
    char *data; /* NULL until the first append; then data[len] == '\0' */
    size_t len;
    size_t cap;
};

#define BUFFER_INIT                                                                                                    \
    {                                                                                                                  \
        NULL, 0, 0                                                                                                     \
    }

void buffer_reserve(struct buffer *b, size_t extra);
void buffer_append(struct buffer *b, const void *data, size_t len);
void buffer_append_str(struct buffer *b, const char *s);
void buffer_append_char(struct buffer *b, char c);
/* v in decimal ("%llu" without printf: the server's per-request head and log line use it) */
void buffer_append_u64(struct buffer *b, uint64_t v);
/* The same digits at out (room for 20), not terminated; returns the end. */
char *decimal_put_u64(char *out, uint64_t v);
void buffer_appendf(struct buffer *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buffer_vappendf(struct buffer *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void buffer_reset(struct buffer *b);       /* len = 0, keeps memory */
char *buffer_take(struct buffer *b);       /* returns data (never NULL), buffer becomes empty */
const char *buffer_cstr(struct buffer *b); /* never NULL */
void buffer_free(struct buffer *b);

#endif
