/* cosign_legacy — cosign's original signature storage: a manifest tagged `sha256-<hex>.sig` in the
 * image's repository, one layer per signature, each layer
 *   - of media type application/vnd.dev.cosign.simplesigning.v1+json,
 *   - whose blob is the simple-signing payload JSON, signed AS STORED (never re-serialized):
 *     {"critical":{"identity":{"docker-reference":…},"image":{"docker-manifest-digest":"sha256:…"},
 *      "type":"cosign container image signature"},"optional":…},
 *   - annotated dev.cosignproject.cosign/signature = standard base64 of the signature, and for
 *     keyless signing dev.sigstore.cosign/certificate (PEM leaf), dev.sigstore.cosign/chain (PEM
 *     intermediates and root) and dev.sigstore.cosign/bundle (Rekor SET bundle JSON).
 *
 * A layer is accepted when its signature verifies with a policy key, or (keyless) when the Rekor
 * bundle's SET verifies, its body logs this signature, certificate and payload hash, the
 * certificate passes verify_trust_check_signer at the integrated time, and the certificate's key
 * verifies the signature; then the payload must name the image digest and the cosign type.
 * Like `cosign verify`, docker-reference is not enforced (mirrors rename repositories). */
#ifndef AIRFACTORY_COSIGN_LEGACY_H
#define AIRFACTORY_COSIGN_LEGACY_H

#include <stddef.h>

#include "airfactory/error.h"
#include "airfactory/verify.h"
#include "verify/verify_trust.h"

#define COSIGN_LEGACY_LAYER_MEDIA_TYPE "application/vnd.dev.cosign.simplesigning.v1+json"
#define COSIGN_LEGACY_SIGNATURE_ANNOTATION "dev.cosignproject.cosign/signature"
#define COSIGN_LEGACY_CERTIFICATE_ANNOTATION "dev.sigstore.cosign/certificate"
#define COSIGN_LEGACY_CHAIN_ANNOTATION "dev.sigstore.cosign/chain"
#define COSIGN_LEGACY_BUNDLE_ANNOTATION "dev.sigstore.cosign/bundle"
#define COSIGN_LEGACY_TIMESTAMP_ANNOTATION "dev.sigstore.cosign/rfc3161timestamp"
#define COSIGN_LEGACY_PAYLOAD_TYPE "cosign container image signature"
#define COSIGN_LEGACY_PAYLOAD_MAX (1024 * 1024)
#define COSIGN_LEGACY_MAX_LAYERS 64

/* Returns 1 when a layer verified (receipt filled), 0 when there is no `sha256-<hex>.sig` tag, -1
 * otherwise: ERROR_INPUT listing why each signature was rejected, or the source's ERROR_RUNTIME. */
int cosign_legacy_verify(const struct verify_trust *trust, const struct verify_source *source,
                         const char *manifest_digest, struct verify_receipt *receipt, struct error *err);

/* The simple-signing payload must name manifest_digest and the cosign signature type. */
int cosign_legacy_check_payload(const char *payload, size_t len, const char *manifest_digest, const char *what,
                                struct error *err);

#endif
