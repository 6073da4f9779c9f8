/* public_key — the signature keys cosign and Sigstore use: loading (PEM or DER
 * SubjectPublicKeyInfo), naming (sha256 fingerprint of the DER SPKI, as cosign and Image Factory's
 * key hint do) and verifying one signature over a message.
 *
 * Accepted keys: ECDSA P-256/P-384/P-521, RSA (2048 bits or more; PKCS#1 v1.5 or PSS), RSA-PSS,
 * Ed25519. Anything else (DSA, small RSA, other curves) is refused when the key is loaded, so a
 * weak key in a policy is an error at load time rather than a silent acceptance later.
 *
 * Hash choice. cosign signs with the key's default hash (P-256/SHA-256, P-384/SHA-384,
 * P-521/SHA-512, RSA/SHA-256) but `cosign verify --key` defaults to SHA-256, and Image Factory can
 * be configured for SHA-224..512; so a signature made by a policy key is accepted under
 * SHA-256, SHA-384 or SHA-512 (PUBLIC_KEY_ANY_HASH). Transparency-log structures (Rekor SET,
 * checkpoints) are verified under exactly SHA-256 (PUBLIC_KEY_SHA256), as Rekor signs them. */
#ifndef AIRFACTORY_PUBLIC_KEY_H
#define AIRFACTORY_PUBLIC_KEY_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/types.h>

#include "airfactory/error.h"

struct public_key;

enum public_key_hashes {
    PUBLIC_KEY_ANY_HASH, /* SHA-256, SHA-384 or SHA-512 (Ed25519: pure EdDSA) */
    PUBLIC_KEY_SHA256,   /* exactly SHA-256 (Ed25519: pure EdDSA) */
};

/* A PEM file holding one public key ("PUBLIC KEY", as `cosign generate-key-pair` and
 * `openssl pkey -pubout` write). ERROR_INPUT names the path and what is wrong. */
int public_key_load_pem_file(const char *path, struct public_key **out, struct error *err);
/* what names the input in messages ("annotation …", "trusted_root.json tlogs[0]"). */
int public_key_from_pem(const char *pem, size_t len, const char *what, struct public_key **out, struct error *err);
/* DER SubjectPublicKeyInfo, or a DER PKCS#1 RSAPublicKey; trailing bytes are an error. */
int public_key_from_der(const unsigned char *der, size_t len, const char *what, struct public_key **out,
                        struct error *err);
/* Takes its own reference to pkey (e.g. a certificate's key). */
int public_key_from_evp(EVP_PKEY *pkey, const char *what, struct public_key **out, struct error *err);
void public_key_free(struct public_key *key);

/* "sha256:<hex>" of the DER SubjectPublicKeyInfo. */
const char *public_key_fingerprint(const struct public_key *key);
/* The raw SHA-256 of the DER SubjectPublicKeyInfo (a Rekor log ID is exactly this). */
const unsigned char *public_key_id(const struct public_key *key);
/* DER SubjectPublicKeyInfo bytes, for comparing two keys. */
const unsigned char *public_key_der(const struct public_key *key, size_t *len);
/* "ECDSA P-256", "RSA 4096", "Ed25519", … for messages. */
const char *public_key_describe(const struct public_key *key);
EVP_PKEY *public_key_evp(const struct public_key *key);
bool public_key_equal(const struct public_key *a, const struct public_key *b);

/* Returns 1 when signature verifies over message, 0 when it does not (no error set), -1 on an
 * internal failure (err set, ERROR_RUNTIME). ECDSA signatures are ASN.1 DER, as cosign writes. */
int public_key_verify(const struct public_key *key, enum public_key_hashes hashes, const void *message,
                      size_t message_len, const void *signature, size_t signature_len, struct error *err);

#endif
