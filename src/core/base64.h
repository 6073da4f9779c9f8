/* base64 — RFC 4648 standard alphabet with padding (what cosign annotations and Talos'
 * INSTALLER_META_BASE64 use). Decoding is strict: bad characters or padding are errors.
 * base64_decode_any is the one lenient reader, for protobuf JSON `bytes` fields (Sigstore bundles,
 * trusted_root.json), which the protobuf JSON mapping defines as standard or URL-safe base64 with
 * or without padding. */
#ifndef AIRFACTORY_BASE64_H
#define AIRFACTORY_BASE64_H

#include <stddef.h>

#include "airfactory/buffer.h"

void base64_encode(const void *data, size_t len, struct buffer *out);
/* Appends the decoded bytes to out; returns -1 (out unchanged) on malformed input.
 * Whitespace (\n, \r, space, \t) is skipped, as PEM and cosign's line-wrapped outputs need. */
int base64_decode(const char *text, size_t len, struct buffer *out);
/* The same, also accepting the URL-safe alphabet (- and _, not mixed with + and /) and missing
 * padding (https://protobuf.dev/programming-guides/json/, bytes). */
int base64_decode_any(const char *text, size_t len, struct buffer *out);

#endif
