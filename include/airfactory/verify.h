/* verify — cosign signature verification of OCI images, offline.
 *
 * Owns: the trust policy (keys, keyless identity + trusted root, insecure), reading cosign's two
 * storage forms through a verify_source, and the receipt that records how an image was verified.
 * Order, as Image Factory does it: Sigstore bundle referrers (DSSE in-toto) first, then the legacy
 * `sha256-<hex>.sig` tag with a simple-signing payload. Nothing here touches the network: keyless
 * verification uses a Sigstore trusted_root.json given as a file.
 *
 * The oci module implements verify_source for an OCI layout; verify never parses tarballs. */
#ifndef AIRFACTORY_VERIFY_H
#define AIRFACTORY_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/buffer.h"
#include "airfactory/error.h"

/* One trust policy, as named in a manifest (`trust:`) or a --policy file. */
struct verify_policy {
    char *name;         /* for messages and receipts */
    bool insecure;      /* accept unsigned images (recorded in the receipt as "insecure") */
    char **public_keys; /* PEM file paths: ECDSA P-256/P-384, RSA, Ed25519 */
    size_t public_key_count;
    /* keyless: all three set, or none */
    char *keyless_issuer;          /* exact OIDC issuer, e.g. https://accounts.google.com */
    char *keyless_identity_regexp; /* POSIX ERE over the certificate SAN (email or URI) */
    char *trusted_root_path;       /* Sigstore trusted_root.json (Fulcio CAs, Rekor logs, TSAs) */
};

/* Image Factory's default policy for official Talos images (keyless, Google issuer, signer a
 * @siderolabs.com address or the Talos release service account). trusted_root_path is left NULL
 * and must be supplied: there is no network to fetch Sigstore's TUF root. */
void verify_policy_default_talos(struct verify_policy *p);
void verify_policy_free(struct verify_policy *p);

/* How the oci module hands signatures to verify. All callbacks return 1 found, 0 not found,
 * -1 error (err filled). Blobs handed out are verified against their digest by the source. */
struct verify_source {
    void *context;
    /* The manifest tagged `tag` (e.g. "sha256-<hex>.sig"), its bytes, as stored. */
    int (*read_tagged_manifest)(void *context, const char *tag, struct buffer *out, struct error *err);
    /* Digests of manifests whose `subject` is subject_digest (OCI referrers), NULL-terminated,
     * caller frees each string and the array. */
    int (*list_referrers)(void *context, const char *subject_digest, char ***digests, struct error *err);
    /* A blob or manifest by digest, at most max_size bytes. */
    int (*read_blob)(void *context, const char *digest, size_t max_size, struct buffer *out, struct error *err);
};

/* What was checked, stored with every imported source and copied into the bundle. */
struct verify_receipt {
    char method[32]; /* "cosign-key", "cosign-keyless", "sigstore-bundle", "insecure" */
    char policy[128];
    char key_fingerprint[80];      /* "sha256:<hex>" of the public key's DER SubjectPublicKeyInfo */
    char identity[256];            /* certificate SAN (keyless) */
    char issuer[256];              /* OIDC issuer extension (keyless) */
    char cert_fingerprint[80];     /* "sha256:<hex>" of the leaf certificate DER (keyless) */
    int64_t log_index;             /* Rekor log index, -1 if none */
    int64_t integrated_time;       /* Rekor integrated time (Unix seconds) a verified SET vouches for, -1 if none
                                   (a Rekor v2 entry has none) */
    int64_t timestamp;             /* RFC 3161 genTime (Unix seconds) of a verified timestamp, 0 if none */
    char timestamp_authority[128]; /* the trusted root's uri of the authority that signed it */
    /* Added by the verify module: why an "insecure" acceptance happened ("no signature found", or
     * "signature present but not valid: …" — an insecure policy accepts an image whose signature
     * does not verify, and this field is the record of it). Empty otherwise. */
    char detail[512];
};

/* Verify that manifest_digest ("sha256:<hex>") is signed according to policy. On success fills
 * receipt. On failure: ERROR_INPUT naming the digest, what was expected and what to do (e.g.
 * "add the signer's public key to trust.<policy>.keys, or set insecure: true"). */
int verify_image(const struct verify_policy *policy, const struct verify_source *source, const char *manifest_digest,
                 struct verify_receipt *receipt, struct error *err);

/* Receipt as a JSON object (for index tables and `airfactory sources --json`): method and policy
 * always; key_fingerprint, identity, issuer, cert_fingerprint, log_index, integrated_time,
 * timestamp, timestamp_authority, detail only when set. Keys in that order, compact, no HTML escaping. */
void verify_receipt_to_json(const struct verify_receipt *receipt, struct buffer *out);

#endif
