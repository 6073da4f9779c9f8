/* bundle_key — the ECDSA P-256 key pair that signs a bundle's index.db.
 *
 * Owns: generating key pairs (`airfactory keygen`), loading PEM keys, the key fingerprint, and
 * signing/verifying bytes. Signatures are ASN.1 DER ECDSA over SHA-256 of the signed bytes: the
 * form `openssl dgst -sha256 -sign/-verify` and cosign `sign-blob`/`verify-blob` use, so a bundle
 * can be checked with either tool, not only with ours. Signing is deterministic ECDSA (RFC 6979).
 *
 * Keys are PEM: private keys as PKCS#8 ("BEGIN PRIVATE KEY", what `keygen` writes and OpenSSL 3
 * emits) or SEC1 ("BEGIN EC PRIVATE KEY", as Image Factory's e2e signing key); public keys as
 * SubjectPublicKeyInfo ("BEGIN PUBLIC KEY", cosign's .pub). Only P-256 is accepted: one curve,
 * one answer to "which keys can sign a bundle". Encrypted keys are refused with a hint. */
#ifndef AIRFACTORY_BUNDLE_KEY_H
#define AIRFACTORY_BUNDLE_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/buffer.h"
#include "airfactory/error.h"

/* "sha256:" + 64 hex + NUL */
#define BUNDLE_KEY_FINGERPRINT_SIZE 72

struct bundle_key; /* opaque: wraps an OpenSSL EVP_PKEY */

/* Load a private key (PEM, P-256); it can sign and verify. */
int bundle_key_load_private(const char *path, struct bundle_key **out, struct error *err);
/* Load a public key (PEM SubjectPublicKeyInfo, P-256); it can only verify. */
int bundle_key_load_public(const char *path, struct bundle_key **out, struct error *err);
/* Same from PEM text held in memory; `what` names it in errors. */
int bundle_key_parse_public(const char *pem, size_t len, const char *what, struct bundle_key **out, struct error *err);
void bundle_key_free(struct bundle_key *key);

/* "sha256:<hex>" of the DER SubjectPublicKeyInfo — the same value as cosign's key hint
 * (hex instead of base64) and the `signing_key` row of a bundle's meta table. */
const char *bundle_key_fingerprint(const struct bundle_key *key);
/* Where the key was loaded from (for messages). */
const char *bundle_key_source(const struct bundle_key *key);
/* Append the public half as PEM ("-----BEGIN PUBLIC KEY-----..."). */
void bundle_key_public_pem(const struct bundle_key *key, struct buffer *out);

/* DER ECDSA signature over SHA-256(data), appended to der_out. Needs a private key.
 * Deterministic (RFC 6979): the nonce is derived from the key and SHA-256(data), so the same key
 * and bytes always give the same signature — what makes two builds of a bundle byte-identical —
 * and any ECDSA verifier accepts it. s is not normalised to the low half (RFC 6979 does not;
 * OpenSSL, cosign and Go accept both). Each signature is verified before it is returned. */
int bundle_key_sign(const struct bundle_key *key, const void *data, size_t len, struct buffer *der_out,
                    struct error *err);
/* 0 when der is a valid signature of SHA-256(data) by key; otherwise -1 with ERROR_INPUT naming
 * `what` (e.g. "bundle/index.db") and the key fingerprint. */
int bundle_key_verify(const struct bundle_key *key, const void *data, size_t len, const void *der, size_t der_len,
                      const char *what, struct error *err);
/* The same over the next `len` bytes read from fd, streamed through a small buffer that stays in
 * the CPU cache (no copy of the file, no mapping: on a VM, faulting in a 21 MB mapping costs as
 * much as hashing it). A short read is ERROR_INPUT (the file shrank), a read error ERROR_RUNTIME. */
int bundle_key_verify_fd(const struct bundle_key *key, int fd, uint64_t len, const void *der, size_t der_len,
                         const char *what, struct error *err);

/* Write a new key pair: <prefix>.key (PKCS#8 PEM, mode 0600) and <prefix>.pub (PEM, 0644).
 * Existing files are never overwritten (ERROR_INPUT) unless force is set. fingerprint_out
 * (optional) receives the new key's fingerprint. */
int bundle_key_generate(const char *prefix, bool force, char fingerprint_out[BUNDLE_KEY_FINGERPRINT_SIZE],
                        struct error *err);

#endif
