/* buffer — see include/airfactory/buffer.h. */
#include "airfactory/buffer.h"
#include "core/memory.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buffer_reserve(struct buffer *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    bool fresh = b->data == NULL;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
    if (fresh)
        b->data[0] = '\0';
}

void buffer_append(struct buffer *b, const void *data, size_t len)
{
    buffer_reserve(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void buffer_append_str(struct buffer *b, const char *s)
{
    buffer_append(b, s, strlen(s));
}

void buffer_append_char(struct buffer *b, char c)
{
    buffer_append(b, &c, 1);
}

char *decimal_put_u64(char *out, uint64_t v)
{
    char digits[20];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *out++ = digits[--n];
    return out;
}

void buffer_append_u64(struct buffer *b, uint64_t v)
{
    char digits[20];
    buffer_append(b, digits, (size_t)(decimal_put_u64(digits, v) - digits));
}

void buffer_vappendf(struct buffer *b, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return;
    buffer_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void buffer_appendf(struct buffer *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buffer_vappendf(b, fmt, ap);
    va_end(ap);
}

void buffer_reset(struct buffer *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *buffer_take(struct buffer *b)
{
    buffer_reserve(b, 0);
    char *p = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

const char *buffer_cstr(struct buffer *b)
{
    buffer_reserve(b, 0);
    return b->data;
}

void buffer_free(struct buffer *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
