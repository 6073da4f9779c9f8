/* error — how failures travel: one struct filled by the callee, printed once by the caller.
 *
 * Convention for the whole library: a function returns 0 (or a value) on success and -1 on
 * failure after filling *err. Messages read "where: what; how to fix", e.g.
 * "manifest.yaml:12:5: unknown platform 'metl'; expected one of metal, aws, ...".
 * code is the process exit status the CLI uses: 2 for bad input or usage, 1 for runtime failures. */
#ifndef AIRFACTORY_ERROR_H
#define AIRFACTORY_ERROR_H

#include <stddef.h>

enum error_code {
    ERROR_NONE = 0,
    ERROR_RUNTIME = 1, /* I/O, out of space, a tool failed: exit status 1 */
    ERROR_INPUT = 2,   /* bad input or usage: exit status 2 */
};

#define ERROR_MESSAGE_MAX 4096

struct error {
    int code;
    char message[ERROR_MESSAGE_MAX];
};

/* Fill err (when err is not NULL) and return -1, so callers can write `return error_set(...)`. */
int error_set(struct error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Like error_set with ERROR_RUNTIME, appending ": strerror(errno_value)". */
int error_errno(struct error *err, int errno_value, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prepend context ("while reading X: ") to an error already set; returns -1. */
int error_prefix(struct error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void error_clear(struct error *err);
/* Whether text read from an input file may be quoted in an error: a short name (at most 64 of
 * letters, digits, '_', '-', '.', starting with a letter or '_'), as a mistyped field is. Any
 * other text is described, never shown: a manifest or schematic path that points at /etc/shadow
 * by mistake must not put its first line into a log. */
int error_text_is_name(const char *text);

#endif
