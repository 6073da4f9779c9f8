/* digest — SHA-256, the one hash of the OCI world: content addresses, schematic IDs, cache keys.
 * Streaming (sha256_stream) so multi-GB blobs are hashed while they are copied. */
#ifndef AIRFACTORY_DIGEST_H
#define AIRFACTORY_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/error.h"

#define SHA256_BYTES 32
#define SHA256_HEX_LEN 64 /* hex digits, without the "sha256:" prefix */

struct sha256_stream {
    void *ctx; /* EVP_MD_CTX, hidden so callers need not include OpenSSL */
    uint64_t bytes;
};

void sha256_stream_init(struct sha256_stream *s);
void sha256_stream_update(struct sha256_stream *s, const void *data, size_t len);
/* Writes the digest and frees the context; s may be re-initialised afterwards. */
void sha256_stream_final(struct sha256_stream *s, unsigned char out[SHA256_BYTES]);
void sha256_stream_final_hex(struct sha256_stream *s, char hex[SHA256_HEX_LEN + 1]);
void sha256_stream_abort(struct sha256_stream *s);

void sha256_bytes(const void *data, size_t len, unsigned char out[SHA256_BYTES]);
void sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1]);
void hex_encode(const unsigned char *bytes, size_t len, char *out /* 2*len+1 */);
/* The value of one hex digit (either case), or -1. */
int hex_digit_value(int c);
/* Decode the len hex digits at hex (even, at most 2*max) into out; *out_len bytes. -1 on anything
 * else (odd length, a non-hex character, too long); out is then unspecified. */
int hex_decode(const char *hex, size_t len, unsigned char *out, size_t max, size_t *out_len);

/* Hash a whole file by streaming it; size may be NULL. */
int sha256_file_hex(const char *path, char hex[SHA256_HEX_LEN + 1], uint64_t *size, struct error *err);

/* True if s is exactly 64 lowercase hex digits. */
bool sha256_hex_valid(const char *s);
/* Parse "sha256:<64 lowercase hex>" into hex; anything else (other algorithms, upper case,
 * wrong length) is ERROR_INPUT naming the bad value. */
int digest_parse(const char *digest, char hex[SHA256_HEX_LEN + 1], struct error *err);

#endif
