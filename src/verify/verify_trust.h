/* verify_trust — a verify_policy made ready to check signatures, and the checks both cosign
 * storage forms share.
 *
 * Loading turns every policy mistake into an ERROR_INPUT before any image is looked at: unreadable
 * or weak keys, a half-configured keyless identity, a bad trusted root, an identity regexp POSIX
 * cannot compile. The regexp is a POSIX extended regular expression searched anywhere in the SAN,
 * like Go's regexp.MatchString that cosign uses: write ^…$ to anchor it. (RE2 classes such as \d
 * do not exist in POSIX ERE; use [0-9].)
 *
 * verify_trust_check_signer holds the keyless rules: chain to a Fulcio CA at the signing time,
 * codeSigning, a SAN matching the identity regexp, the OIDC issuer equal to the policy's. */
#ifndef AIRFACTORY_VERIFY_TRUST_H
#define AIRFACTORY_VERIFY_TRUST_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>
#include <openssl/x509.h>

#include "airfactory/error.h"
#include "verify/public_key.h"
#include "verify/trusted_root.h"
#include "airfactory/verify.h"

struct verify_trust {
    const struct verify_policy *policy;
    struct public_key **keys;
    size_t key_count;
    bool keyless;
    struct trusted_root *root;
    regex_t identity;
    bool identity_compiled;
};

int verify_trust_load(const struct verify_policy *policy, struct verify_trust *trust, struct error *err);
void verify_trust_free(struct verify_trust *trust);
/* True when the policy can check anything (keys or keyless configured). */
bool verify_trust_can_verify(const struct verify_trust *trust);

/* A keyless signer that passed every check. */
struct verify_trust_signer {
    char identity[256];
    char issuer[256];
    char cert_fingerprint[80];
    struct public_key *key; /* the certificate's key; owned */
};

/* Check leaf as a keyless signer at Unix time at; its chain comes from the trusted root alone. */
int verify_trust_check_signer(const struct verify_trust *trust, X509 *leaf, int64_t at, const char *what,
                              struct verify_trust_signer *out, struct error *err);
void verify_trust_signer_free(struct verify_trust_signer *signer);

/* Verify signature over message with the policy keys; *matched is the key that verified. Returns 1
 * verified, 0 no key verified (err untouched), -1 internal failure. */
int verify_trust_check_keys(const struct verify_trust *trust, const void *message, size_t message_len,
                            const void *signature, size_t signature_len, const struct public_key **matched,
                            struct error *err);
/* "sha256:aa…, sha256:bb…" naming the policy keys, for messages. */
void verify_trust_describe_keys(const struct verify_trust *trust, char *out, size_t size);

#endif
