/* base64 — RFC 4648 standard alphabet with padding (what cosign annotations and Talos'
 * INSTALLER_META_BASE64 use). Decoding is strict: bad characters or padding are errors. */
#ifndef AIRFACTORY_BASE64_H
#define AIRFACTORY_BASE64_H

#include <stddef.h>

#include "airfactory/buffer.h"

void base64_encode(const void *data, size_t len, struct buffer *out);
/* Appends the decoded bytes to out; returns -1 (out unchanged) on malformed input.
 * Whitespace (\n, \r, space, \t) is skipped, as PEM and cosign's line-wrapped outputs need. */
int base64_decode(const char *text, size_t len, struct buffer *out);

#endif
