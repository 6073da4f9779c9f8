/* fuzz_verify — libFuzzer target for every parser that reads attacker-supplied signature material
 * in src/verify: trusted_root.json, legacy Rekor bundles, bundle tlog entries, Rekor bodies,
 * checkpoints, certificate PEM, simple-signing payloads, in-toto statements and whole Sigstore
 * bundles. The first input byte picks the parser; the rest is its input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "verify/cosign_legacy.h"
#include "core/json.h"
#include "verify/public_key.h"
#include "verify/rekor_entry.h"
#include "verify/sigstore_bundle.h"
#include "verify/trusted_root.h"
#include "verify/verify_trust.h"
#include "verify/x509_chain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct public_key *checkpoint_key;

static struct public_key *fixed_key(void)
{
    if (checkpoint_key)
        return checkpoint_key;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    struct error err = {0};
    if (!k || public_key_from_evp(k, "fuzz", &checkpoint_key, &err) != 0)
        abort();
    EVP_PKEY_free(k);
    return checkpoint_key;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned which = data[0] % 9;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    char *s = strndup(text, len); /* NUL-terminated copy for the string APIs */
    if (!s)
        return 0;
    struct error err = {0};
    const char *digest = "sha256:35b6021450b858574e182bbee95d6b9c8ab95f3623fdcc38e62997f763af631e";
    switch (which) {
    case 0: {
        struct trusted_root *r = NULL;
        if (trusted_root_parse(text, len, "fuzz", &r, &err) == 0)
            trusted_root_free(r);
        break;
    }
    case 1: {
        struct rekor_entry e;
        if (rekor_entry_from_cosign_bundle(text, len, "fuzz", &e, &err) == 0) {
            struct buffer b = BUFFER_INIT;
            rekor_entry_set_payload(&e, &b);
            buffer_free(&b);
            rekor_entry_free(&e);
        }
        break;
    }
    case 2: {
        struct json_value *doc = NULL;
        struct rekor_entry e;
        if (json_parse(text, len, "fuzz", &doc, &err) == 0 && rekor_entry_from_bundle_json(doc, "fuzz", &e, &err) == 0)
            rekor_entry_free(&e);
        json_free(doc);
        break;
    }
    case 3: {
        struct rekor_body b;
        if (rekor_body_parse(text, len, "fuzz", &b, &err) == 0)
            rekor_body_free(&b);
        break;
    }
    case 4: {
        uint64_t tree = 0;
        unsigned char root[REKOR_HASH_BYTES];
        rekor_checkpoint_verify(s, fixed_key(), NULL, "fuzz", &tree, root, &err);
        break;
    }
    case 5: {
        STACK_OF(X509) *certs = NULL;
        if (x509_chain_parse_pem(text, len, "fuzz", &certs, &err) == 0) {
            for (int i = 0; i < sk_X509_num(certs); i++) {
                struct x509_chain_identity id;
                if (x509_chain_identity_read(sk_X509_value(certs, i), "fuzz", &id, &err) == 0)
                    x509_chain_identity_free(&id);
            }
            sk_X509_pop_free(certs, X509_free);
        }
        break;
    }
    case 6: cosign_legacy_check_payload(text, len, digest, "fuzz", &err); break;
    case 7: sigstore_bundle_check_statement(text, len, digest, "fuzz", &err); break;
    case 8: {
        /* A whole bundle against a trust with one key: exercises envelope, material and PAE. */
        struct verify_policy policy = {0};
        policy.name = "fuzz";
        struct public_key *keys[1] = {fixed_key()};
        struct verify_trust trust;
        memset(&trust, 0, sizeof trust);
        trust.policy = &policy;
        trust.keys = keys;
        trust.key_count = 1;
        struct verify_receipt r;
        memset(&r, 0, sizeof r);
        sigstore_bundle_verify(&trust, text, len, "fuzz", digest, &r, &err);
        break;
    }
    }
    free(s);
    return 0;
}
