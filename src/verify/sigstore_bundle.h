/* sigstore_bundle — cosign's newer signature storage, checked FIRST as Image Factory does: an OCI
 * referrer of the image (manifest whose subject is the image, artifactType
 * application/vnd.dev.sigstore.bundle.v0.3+json, one layer holding the bundle JSON) carrying a
 * Sigstore bundle (protobuf-specs dev.sigstore.bundle.v1.Bundle, media types v0.1–v0.3):
 *
 *   dsseEnvelope {payloadType "application/vnd.in-toto+json", payload <base64 statement>,
 *                 signatures [{sig}]}   signed over PAE = "DSSEv1 <len type> <type> <len body> <body>"
 *   statement    {_type "https://in-toto.io/Statement/v1", subject [{digest {sha256 <image>}}],
 *                 predicateType "https://sigstore.dev/cosign/sign/v1"}
 *   verificationMaterial  certificate | x509CertificateChain (keyless; v0.1/v0.2 only) |
 *                 publicKey {hint} (key), tlogEntries [...] (rekor_entry),
 *                 timestampVerificationData.rfc3161Timestamps [...] (rfc3161)
 *
 * Keyless bundles need a tlog entry (Rekor v1 or v2) that verifies and whose body logs this
 * signature, certificate and signed content: in a v0.1 bundle it needs its inclusion promise
 * (SET), in v0.2/v0.3 its inclusion proof, as sigstore-go requires. Every RFC 3161 timestamp the
 * bundle carries must verify over the signature bytes (a bad one refuses the bundle). The signing
 * times are the integrated time a verified SET vouches for and every timestamp's genTime; there
 * must be at least one (a Rekor v2 entry alone has none), and verify_trust_check_signer must
 * accept the certificate at each. Only the leaf of the bundle's certificates is used: the chain to
 * the Fulcio CA comes from the trusted root alone. Key bundles are checked against the policy keys
 * and, like Image Factory's key-based mode (cosign --insecure-ignore-tlog), without the log (their
 * timestamps, if any, still verify). messageSignature bundles are refused: cosign signs images
 * with DSSE statements. */
#ifndef AIRFACTORY_SIGSTORE_BUNDLE_H
#define AIRFACTORY_SIGSTORE_BUNDLE_H

#include <stddef.h>

#include "airfactory/buffer.h"
#include "airfactory/error.h"
#include "airfactory/verify.h"
#include "verify/verify_trust.h"

#define SIGSTORE_BUNDLE_MEDIA_TYPE_PREFIX "application/vnd.dev.sigstore.bundle"
#define SIGSTORE_BUNDLE_MEDIA_TYPE_V03 "application/vnd.dev.sigstore.bundle.v0.3+json"
#define SIGSTORE_BUNDLE_PAYLOAD_TYPE "application/vnd.in-toto+json"
#define SIGSTORE_BUNDLE_STATEMENT_TYPE "https://in-toto.io/Statement/v1"
#define SIGSTORE_BUNDLE_PREDICATE_TYPE "https://sigstore.dev/cosign/sign/v1"
#define SIGSTORE_BUNDLE_MAX_SIZE (4 * 1024 * 1024)
#define SIGSTORE_BUNDLE_MAX_REFERRERS 64
#define SIGSTORE_BUNDLE_MAX_TLOG_ENTRIES 8
#define SIGSTORE_BUNDLE_MAX_TIMESTAMPS 8

/* Returns 1 when a bundle referrer verified (receipt filled), 0 when the image has no Sigstore
 * bundle referrer, -1 otherwise: ERROR_INPUT listing why each bundle was rejected, or the source's
 * ERROR_RUNTIME. Referrers of other artifact types (SBOMs, …) and attestation bundles (annotation
 * dev.sigstore.bundle.predicateType other than cosign's signing predicate) are skipped. */
int sigstore_bundle_verify_image(const struct verify_trust *trust, const struct verify_source *source,
                                 const char *manifest_digest, struct verify_receipt *receipt, struct error *err);

/* One bundle document. */
int sigstore_bundle_verify(const struct verify_trust *trust, const char *json, size_t len, const char *what,
                           const char *manifest_digest, struct verify_receipt *receipt, struct error *err);

/* DSSE pre-authentication encoding. */
void sigstore_bundle_pae(const char *payload_type, const void *payload, size_t payload_len, struct buffer *out);
/* The in-toto statement must be cosign's signing statement about manifest_digest. */
int sigstore_bundle_check_statement(const char *statement, size_t len, const char *manifest_digest, const char *what,
                                    struct error *err);

#endif
