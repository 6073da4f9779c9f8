/* rekor_entry — offline checks of a transparency-log entry, Rekor v1 and Rekor v2 (rekor-tiles), in
 * both forms cosign stores: the legacy `dev.sigstore.cosign/bundle` annotation
 * ({SignedEntryTimestamp, Payload{body, integratedTime, logIndex, logID}}) and a Sigstore bundle's
 * verificationMaterial.tlogEntries[].
 *
 * What makes an entry trustworthy offline:
 *   - the Signed Entry Timestamp (SET, "inclusion promise", Rekor v1 only): the log's ECDSA
 *     signature over the RFC 8785 canonical JSON {"body":<base64 body>,"integratedTime":N,
 *     "logID":"<hex>","logIndex":N}; only a verified SET makes integratedTime a trusted signing
 *     time;
 *   - the inclusion proof: RFC 6962/9162 Merkle audit path from leaf hash SHA-256(0x00 || body) to
 *     rootHash, and the checkpoint, a C2SP signed note ("origin\nsize\nbase64(root)\n\n— name
 *     base64(keyhint4 || sig)\n", c2sp.org/signed-note, c2sp.org/tlog-checkpoint) signed by the same
 *     log key over that root and size. The key hint is the signed-note key ID (rekor_note_key_hint).
 *     A Rekor v2 entry has no SET and no trusted time: it is proven by its inclusion proof alone
 *     (required), its checkpoint must be named after the log (the host of the trusted root's
 *     baseUrl), and the signing time must come from an RFC 3161 timestamp (rfc3161.h).
 * The log is found in the trusted root by log ID (SHA-256 of its DER public key, or the keyId the
 * trusted root stores: for an Ed25519 Rekor v2 log that is the full signed-note key ID) and its
 * validFor must cover integratedTime.
 *
 * The entry body says what was logged; rekor_body reads it (hashedrekord 0.0.1, dsse 0.0.1,
 * intoto 0.0.2 from Rekor v1; hashedrekord 0.0.2 and dsse 0.0.2 from Rekor v2) so callers can
 * require that it binds THEIR signature, key/certificate and signed content. */
#ifndef AIRFACTORY_REKOR_ENTRY_H
#define AIRFACTORY_REKOR_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "airfactory/buffer.h"
#include "airfactory/error.h"
#include "core/json.h"
#include "verify/public_key.h"
#include "verify/trusted_root.h"

#define REKOR_HASH_BYTES 32
#define REKOR_MAX_PROOF_HASHES 64

struct rekor_entry {
    struct buffer body;      /* canonicalized body bytes */
    char *body_base64;       /* the body as the SET signs it */
    int64_t integrated_time; /* 0 when absent */
    int64_t log_index;       /* the log-wide index the SET signs */
    unsigned char log_id[64];
    size_t log_id_len;
    struct buffer signed_entry_timestamp; /* empty when the entry has no inclusion promise */
    bool has_inclusion_proof;
    int64_t proof_log_index, proof_tree_size; /* index within the (shard) tree */
    unsigned char proof_root_hash[REKOR_HASH_BYTES];
    unsigned char (*proof_hashes)[REKOR_HASH_BYTES];
    size_t proof_hash_count;
    char *checkpoint;
    char kind[32], version[16]; /* kindVersion of a bundle entry; empty for the legacy form */
    bool rekor_v2;              /* kindVersion names a Rekor v2 body (hashedrekord/dsse 0.0.2) */
};

/* The legacy annotation JSON. */
int rekor_entry_from_cosign_bundle(const char *json, size_t len, const char *what, struct rekor_entry *out,
                                   struct error *err);
/* One element of a Sigstore bundle's verificationMaterial.tlogEntries (protobuf JSON: int64 as
 * strings or numbers, bytes as standard base64). */
int rekor_entry_from_bundle_json(const struct json_value *obj, const char *what, struct rekor_entry *out,
                                 struct error *err);
void rekor_entry_free(struct rekor_entry *e);

struct rekor_entry_result {
    const struct trusted_root_log *log;
    bool set_verified;       /* integrated_time is trustworthy */
    bool inclusion_verified; /* Merkle proof + signed checkpoint */
};

/* Check the entry against root: log known and valid at integratedTime, SET (if present) and
 * inclusion proof (if present) verify, at least one of them present; a Rekor v2 entry needs its
 * inclusion proof, at the entry's own logIndex. ERROR_INPUT says which check failed. */
int rekor_entry_verify(const struct rekor_entry *e, const struct trusted_root *root, const char *what,
                       struct rekor_entry_result *result, struct error *err);

/* The canonical JSON the SET signs (exposed for tests and for making test vectors). */
void rekor_entry_set_payload(const struct rekor_entry *e, struct buffer *out);

/* RFC 6962 hashes. */
void rekor_merkle_leaf_hash(const void *data, size_t len, unsigned char out[REKOR_HASH_BYTES]);
void rekor_merkle_node_hash(const unsigned char left[REKOR_HASH_BYTES], const unsigned char right[REKOR_HASH_BYTES],
                            unsigned char out[REKOR_HASH_BYTES]);
/* RFC 9162 §2.1.3.2: true when proof leads from leaf (at index in a tree of size) to root. */
bool rekor_merkle_verify_inclusion(uint64_t index, uint64_t size, const unsigned char leaf[REKOR_HASH_BYTES],
                                   const unsigned char (*proof)[REKOR_HASH_BYTES], size_t proof_count,
                                   const unsigned char root[REKOR_HASH_BYTES]);
/* Verify a signed-note checkpoint with key; on success the note's tree size and root hash.
 * log_name (the log's host; NULL or "" for none): a checkpoint whose origin is not Rekor v1's
 * "<host> - <tree ID>" must have exactly this origin and be signed under this name. */
int rekor_checkpoint_verify(const char *checkpoint, const struct public_key *key, const char *log_name,
                            const char *what, uint64_t *size, unsigned char root[REKOR_HASH_BYTES], struct error *err);
/* The 4-byte signed-note key hint of key signing under name: Ed25519, C2SP signed-note
 * SHA-256(name || 0x0A || 0x01 || key)[:4]; RSA, rekor-tiles' SHA-256(name || 0x0A || 0xFF ||
 * "PKIX-RSA-PKCS#1v1.5" || DER SPKI)[:4]; ECDSA, Rekor's SHA-256(DER SPKI)[:4]. */
void rekor_note_key_hint(const struct public_key *key, const char *name, size_t name_len, unsigned char hint[4]);
/* Whether a kind/version is a Rekor v2 body. */
bool rekor_kind_is_v2(const char *kind, const char *version);

/* What a log entry body says was logged. */
struct rekor_body {
    char kind[32], api_version[16];
    bool v2;                      /* a Rekor v2 body */
    struct buffer signature;      /* raw signature bytes */
    struct buffer verifier;       /* v1: PEM certificate or public key; v2: DER certificate or SPKI */
    bool verifier_der;            /* v2 */
    bool verifier_is_certificate; /* v2: x509Certificate (else publicKey) */
    char hash_algorithm[16];      /* "sha256", "sha384", "sha512" (v2's SHA2_256… written the v1 way) */
    unsigned char hash[64];
    size_t hash_len;
    char hash_field[64]; /* where the hash is, for messages ("spec.hashedRekordV002.data.digest") */
};

int rekor_body_parse(const void *body, size_t len, const char *what, struct rekor_body *out, struct error *err);
void rekor_body_free(struct rekor_body *b);

/* Require that the body logged exactly this signature, by this certificate (cert != NULL) or key,
 * over content (hashed with the body's algorithm). Which content a kind logs is the caller's
 * business: the payload for hashedrekord 0.0.1 and cosign's legacy signatures, the DSSE payload for
 * dsse and intoto, the DSSE pre-authentication encoding for a DSSE envelope logged as hashedrekord
 * 0.0.2 (Rekor v2 logs envelopes that way: sigstore-go pkg/sign/transparency.go). */
int rekor_body_check(const struct rekor_body *b, const void *signature, size_t signature_len, X509 *cert,
                     const struct public_key *key, const void *content, size_t content_len, const char *what,
                     struct error *err);

#endif
