/* x509_chain — the X.509 side of keyless (Fulcio) signing: parse the signer's certificate and the
 * chain that travels with it, verify that it chains to a certificate authority of the trusted root
 * AT THE SIGNING TIME (the "hybrid model" Sigstore uses: a Fulcio leaf lives 10 minutes, so it is
 * checked at Rekor's integrated time, never at the wall clock), and read the identity Fulcio wrote
 * into it: subject alternative names and the OIDC issuer extension.
 *
 * Chain rules, as sigstore-go applies them: the CA entry's validFor must cover the time; its last
 * certificate is the trust anchor (accepted even if not self-signed, like Go's root pool), its
 * other certificates are the intermediates. Certificates a signature carries besides its leaf
 * (a bundle's x509CertificateChain, cosign's chain annotation) take no part: an intermediate
 * brought along could reopen a CA entry whose window has closed, so the chain comes from the
 * trusted root alone (protobuf-specs VerificationMaterial; sigstore-go uses the leaf). The leaf must
 * carry the codeSigning extended key usage, and any CA certificate that restricts extended key
 * usage must allow codeSigning. When the trusted root lists CT logs, the leaf must also embed a
 * signed certificate timestamp (RFC 6962 precertificate SCT) that verifies with one of them, as
 * cosign and sigstore-go require; a root without CT logs (private Fulcio) requires none. */
#ifndef AIRFACTORY_X509_CHAIN_H
#define AIRFACTORY_X509_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>
#include <openssl/x509.h>

#include "airfactory/error.h"
#include "verify/trusted_root.h"

/* Fulcio certificate extensions (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md). */
#define X509_CHAIN_OID_ISSUER_V1 "1.3.6.1.4.1.57264.1.1" /* raw bytes of the issuer URL */
#define X509_CHAIN_OID_ISSUER_V2 "1.3.6.1.4.1.57264.1.8" /* DER UTF8String */
#define X509_CHAIN_OID_OTHERNAME "1.3.6.1.4.1.57264.1.7" /* SAN otherName: username identities */

/* Every CERTIFICATE block of a PEM text, in order; at least one. */
int x509_chain_parse_pem(const char *pem, size_t len, const char *what, STACK_OF(X509) * *out, struct error *err);
/* One DER certificate; trailing bytes are an error. */
int x509_chain_parse_der(const unsigned char *der, size_t len, const char *what, X509 **out, struct error *err);

/* Verify leaf against root's certificate authorities at Unix time at. ERROR_INPUT says why no CA accepted it (expired at that time, unknown issuer, …). */
int x509_chain_verify(X509 *leaf, const struct trusted_root *root, int64_t at, const char *what, struct error *err);

struct x509_chain_identity {
    char **sans; /* URI, email and Fulcio otherName SANs, in certificate order */
    size_t san_count;
    char *issuer;         /* OIDC issuer (v2 extension, else v1), NULL when absent */
    char fingerprint[80]; /* "sha256:<hex>" of the DER certificate */
    int64_t not_before, not_after;
};

/* Read the identity. A SAN or issuer holding a NUL byte, or a certificate carrying two different
 * issuer values, is ERROR_INPUT: such a certificate is built to confuse string comparisons. */
int x509_chain_identity_read(X509 *leaf, const char *what, struct x509_chain_identity *out, struct error *err);
void x509_chain_identity_free(struct x509_chain_identity *id);

/* SHA-256 fingerprint "sha256:<hex>" of a certificate's DER encoding. */
void x509_chain_fingerprint(X509 *cert, char out[80]);
/* True when a and b are the same certificate (same DER). */
int x509_chain_equal(X509 *a, X509 *b);

#endif
