/* error — see include/airfactory/error.h. */
#include "airfactory/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int error_set(struct error *err, int code, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->code = code;
    return -1;
}

int error_errno(struct error *err, int errno_value, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof err->message)
        snprintf(err->message + n, sizeof err->message - (size_t)n, ": %s", strerror(errno_value));
    err->code = ERROR_RUNTIME;
    return -1;
}

int error_prefix(struct error *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    char prefix[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* prefix first, then as much of the old message as fits: truncation is intended */
    char old[ERROR_MESSAGE_MAX];
    memcpy(old, err->message, sizeof old);
    size_t plen = strlen(prefix), olen = strnlen(old, sizeof old - 1);
    if (plen > sizeof err->message - 1)
        plen = sizeof err->message - 1;
    if (plen + olen > sizeof err->message - 1)
        olen = sizeof err->message - 1 - plen;
    memcpy(err->message, prefix, plen);
    memcpy(err->message + plen, old, olen);
    err->message[plen + olen] = '\0';
    if (err->code == ERROR_NONE)
        err->code = ERROR_RUNTIME;
    return -1;
}

void error_clear(struct error *err)
{
    if (err) {
        err->code = ERROR_NONE;
        err->message[0] = '\0';
    }
}

int error_text_is_name(const char *text)
{
    if (!text || !((*text >= 'a' && *text <= 'z') || (*text >= 'A' && *text <= 'Z') || *text == '_'))
        return 0;
    size_t n = 0;
    for (const char *p = text; *p; p++, n++) {
        char c = *p;
        if (n >= 64 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                         c == '-' || c == '.'))
            return 0;
    }
    return 1;
}
