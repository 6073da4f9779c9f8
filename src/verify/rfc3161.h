/* rfc3161 — RFC 3161 signed timestamps as Sigstore bundles carry them
 * (verificationMaterial.timestampVerificationData.rfc3161Timestamps[].signedTimestamp: a DER
 * TimeStampResp, protobuf-specs sigstore_common.proto RFC3161SignedTimestamp), verified offline
 * against the timestamp authorities of a trusted root.
 *
 * A timestamp is accepted when, for one timestampAuthorities entry of the trusted root:
 *   - the response status is granted (or granted with modifications) and its TSTInfo is version 1;
 *   - the CMS signature over the TSTInfo verifies, with the ESS signing-certificate attribute
 *     naming the signer (OpenSSL's TS_RESP_verify_response);
 *   - the signer chains to the entry's last certificate (trust anchor) through the entry's other
 *     certificates AT genTime, carries the critical timeStamping extended key usage, and, when the
 *     entry lists a leaf (two or more certificates), is that leaf: certificates inside the response
 *     are never trusted on their own (sigstore-go pkg/root/timestamping_authority.go);
 *   - genTime lies inside the entry's validFor window;
 *   - the message imprint is SHA-256, SHA-384 or SHA-512 of exactly the bytes given (for a bundle:
 *     the signature bytes).
 * The OpenSSL TS API does the CMS, ESS and imprint work; this file chooses the trust inputs and
 * the time. */
#ifndef AIRFACTORY_RFC3161_H
#define AIRFACTORY_RFC3161_H

#include <stddef.h>
#include <stdint.h>

#include "airfactory/error.h"
#include "verify/trusted_root.h"

#define RFC3161_MAX_SIZE (64 * 1024)

struct rfc3161_time {
    int64_t time;                             /* genTime, Unix seconds (a fraction is dropped) */
    const struct trusted_root_authority *tsa; /* the authority that verified it */
};

/* Verify one DER TimeStampResp over signed_bytes. ERROR_INPUT names what failed (status, imprint,
 * signature, chain, window), per timestamp authority tried; ERROR_RUNTIME on an OpenSSL failure. */
int rfc3161_verify(const void *der, size_t len, const void *signed_bytes, size_t signed_len,
                   const struct trusted_root *root, const char *what, struct rfc3161_time *out, struct error *err);

#endif
