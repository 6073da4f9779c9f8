/* verify_image on cosign's legacy `sha256-<hex>.sig` signatures: key-based (each key type) and
 * keyless (certificate + chain + Rekor bundle), every positive path and each way to be wrong. */
#include <stdlib.h>
#include <string.h>

#include "airfactory/verify.h"
#include "test.h"
#include "verify_testlib.h"

static struct tl_world W;

/* A key-signed layer for image with key (md, pss as the signer uses them). */
static struct tl_layer key_layer(const char *payload, EVP_PKEY *key, const char *md, bool pss, char **sig_b64)
{
    struct buffer sig = BUFFER_INIT;
    tl_sign(key, md, pss, payload, strlen(payload), &sig);
    *sig_b64 = tl_b64(sig.data, sig.len);
    buffer_free(&sig);
    struct tl_layer l = {payload, *sig_b64, NULL, NULL, NULL, NULL, NULL};
    return l;
}

static void key_signatures_of_each_type_verify(void)
{
    static const struct {
        const char *type, *md;
        bool pss;
    } cases[] = {{"P-256", "SHA256", false},
                 {"P-384", "SHA384", false},
                 {"RSA", "SHA256", false},
                 {"RSA", "SHA256", true},
                 {"ED25519", NULL, false}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct tl_run t;
        memset(&t, 0, sizeof t);
        t.image = tl_image(&t.src, cases[i].type);
        EVP_PKEY *key = tl_keygen(cases[i].type);
        char *payload = tl_simple_payload(t.image), *sig = NULL;
        struct tl_layer l = key_layer(payload, key, cases[i].md, cases[i].pss, &sig);
        tl_publish_legacy(&t.src, t.image, &l, 1);
        struct verify_policy p;
        tl_key_policy(W.dir, &p, &key, 1);
        tl_run_verify(&t, &p);
        CHECK_INT(t.rc, 0);
        if (t.rc != 0)
            printf("  %s: %s\n", cases[i].type, t.err.message);
        CHECK_STR(t.r.method, "cosign-key");
        CHECK_STR(t.r.policy, "key-test");
        char *fp = tl_key_fingerprint(key);
        CHECK_STR(t.r.key_fingerprint, fp);
        CHECK_INT(t.r.log_index, -1);
        CHECK_INT(t.r.integrated_time, -1);
        CHECK_STR(t.r.detail, "");
        free(fp);
        verify_policy_free(&p);
        free(payload);
        free(sig);
        EVP_PKEY_free(key);
        tl_source_free(&t.src);
    }
}

static void any_policy_key_may_match_and_any_layer_may_verify(void)
{
    struct tl_run t;
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "two");
    EVP_PKEY *keys[2] = {tl_keygen("P-256"), tl_keygen("P-256")};
    EVP_PKEY *stranger = tl_keygen("P-256");
    char *payload = tl_simple_payload(t.image), *s1 = NULL, *s2 = NULL;
    struct tl_layer layers[2] = {key_layer(payload, stranger, "SHA256", false, &s1),
                                 key_layer(payload, keys[1], "SHA256", false, &s2)};
    tl_publish_legacy(&t.src, t.image, layers, 2);
    struct verify_policy p;
    tl_key_policy(W.dir, &p, keys, 2);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, 0);
    char *fp = tl_key_fingerprint(keys[1]);
    CHECK_STR(t.r.key_fingerprint, fp);
    free(fp);
    verify_policy_free(&p);
    free(payload);
    free(s1);
    free(s2);
    EVP_PKEY_free(keys[0]);
    EVP_PKEY_free(keys[1]);
    EVP_PKEY_free(stranger);
    tl_source_free(&t.src);
}

static void wrong_key_is_named_with_key_and_payload(void)
{
    struct tl_run t;
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "wrong-key");
    EVP_PKEY *signer = tl_keygen("P-256"), *trusted = tl_keygen("P-256");
    char *payload = tl_simple_payload(t.image), *sig = NULL;
    struct tl_layer l = key_layer(payload, signer, "SHA256", false, &sig);
    tl_publish_legacy(&t.src, t.image, &l, 1);
    struct verify_policy p;
    tl_key_policy(W.dir, &p, &trusted, 1);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK_INT(t.err.code, ERROR_INPUT);
    char *fp = tl_key_fingerprint(trusted), *pd = tl_sha256_digest(payload, strlen(payload));
    char *want = xasprintf("signature by key %s does not verify over payload %s", fp, pd);
    CHECK(tl_run_error_has(&t, want));
    CHECK(strncmp(t.err.message, t.image, strlen(t.image)) == 0); /* the message starts with the digest */
    CHECK(tl_run_error_has(&t, "add the signer's public key to the policy's keys, or set insecure: true"));
    free(want);
    free(fp);
    free(pd);
    verify_policy_free(&p);
    free(payload);
    free(sig);
    EVP_PKEY_free(signer);
    EVP_PKEY_free(trusted);
    tl_source_free(&t.src);
}

static void signature_for_another_digest_is_refused(void)
{
    struct tl_run t;
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "target");
    const char *other = tl_image(&t.src, "other");
    EVP_PKEY *key = tl_keygen("P-256");
    /* A perfectly valid signature of ANOTHER image, replayed under this image's tag. */
    char *payload = tl_simple_payload(other), *sig = NULL;
    struct tl_layer l = key_layer(payload, key, "SHA256", false, &sig);
    tl_publish_legacy(&t.src, t.image, &l, 1);
    struct verify_policy p;
    tl_key_policy(W.dir, &p, &key, 1);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    char *want = xasprintf("payload signs %s, not %s: this is a signature for another image", other, t.image);
    CHECK(tl_run_error_has(&t, want));
    free(want);
    verify_policy_free(&p);
    free(payload);
    free(sig);
    EVP_PKEY_free(key);
    tl_source_free(&t.src);
}

static void payload_is_verified_as_stored(void)
{
    EVP_PKEY *key = tl_keygen("P-256");
    struct verify_policy p;
    tl_key_policy(W.dir, &p, &key, 1);
    /* 1. tampered payload: a space added (same meaning as JSON, different bytes) */
    struct tl_run t;
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "tamper");
    char *payload = tl_simple_payload(t.image), *sig = NULL;
    struct tl_layer l = key_layer(payload, key, "SHA256", false, &sig);
    char *tampered = xasprintf("%s ", payload);
    l.payload = tampered;
    tl_publish_legacy(&t.src, t.image, &l, 1);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK(tl_run_error_has(&t, "does not verify over payload"));
    tl_source_free(&t.src);
    /* 2. a payload with an unexpected type */
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "type");
    char *odd = xasprintf("{\"critical\":{\"identity\":{\"docker-reference\":\"r\"},\"image\":{\"docker-manifest-"
                          "digest\":\"%s\"},\"type\":\"atomic container signature\"},\"optional\":null}",
                          t.image);
    free(sig);
    l = key_layer(odd, key, "SHA256", false, &sig);
    tl_publish_legacy(&t.src, t.image, &l, 1);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK(tl_run_error_has(&t, "payload type is 'atomic container signature', not 'cosign container image signature'"));
    tl_source_free(&t.src);
    /* 3. duplicate keys in the payload: two readers could disagree, so it is refused */
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "dup");
    char *dup = xasprintf("{\"critical\":{\"identity\":{\"docker-reference\":\"r\"},\"image\":{\"docker-manifest-"
                          "digest\":\"sha256:%064d\",\"docker-manifest-digest\":\"%s\"},\"type\":\"cosign container "
                          "image signature\"},\"optional\":null}",
                          0, t.image);
    free(sig);
    l = key_layer(dup, key, "SHA256", false, &sig);
    tl_publish_legacy(&t.src, t.image, &l, 1);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK(tl_run_error_has(&t, "duplicate"));
    tl_source_free(&t.src);
    free(dup);
    free(odd);
    free(tampered);
    free(payload);
    free(sig);
    verify_policy_free(&p);
    EVP_PKEY_free(key);
}

static void malformed_signature_objects_are_input_errors(void)
{
    EVP_PKEY *key = tl_keygen("P-256");
    struct verify_policy p;
    tl_key_policy(W.dir, &p, &key, 1);
    struct {
        const char *signature, *message;
    } cases[] = {
        {"not base64!", "annotation dev.cosignproject.cosign/signature is not standard base64"},
        {NULL, "layer has no dev.cosignproject.cosign/signature annotation"},
    };
    for (size_t i = 0; i < 2; i++) {
        struct tl_run t;
        memset(&t, 0, sizeof t);
        t.image = tl_image(&t.src, "malformed");
        char *payload = tl_simple_payload(t.image);
        struct tl_layer l = {payload, cases[i].signature, NULL, NULL, NULL, NULL, NULL};
        tl_publish_legacy(&t.src, t.image, &l, 1);
        tl_run_verify(&t, &p);
        CHECK_INT(t.rc, -1);
        CHECK_INT(t.err.code, ERROR_INPUT);
        CHECK(tl_run_error_has(&t, cases[i].message));
        free(payload);
        tl_source_free(&t.src);
    }
    /* a manifest that is not JSON */
    struct tl_run t;
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "notjson");
    const char *m = tl_add_blob(&t.src, "{\"layers\":[", 11);
    char tag[80];
    snprintf(tag, sizeof tag, "sha256-%s.sig", t.image + 7);
    tl_tag(&t.src, tag, m);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK(tl_run_error_has(&t, "cosign signature sha256-"));
    CHECK(tl_run_error_has(&t, ".sig:1:12: invalid JSON"));
    tl_source_free(&t.src);
    /* a manifest without simple-signing layers */
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "nolayers");
    char *payload = tl_simple_payload(t.image);
    struct tl_layer l = {payload, "AAAA", NULL, NULL, NULL, "application/vnd.oci.image.layer.v1.tar+gzip", NULL};
    tl_publish_legacy(&t.src, t.image, &l, 1);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK(tl_run_error_has(&t, "manifest has no application/vnd.dev.cosign.simplesigning.v1+json layer"));
    tl_source_free(&t.src);
    /* the payload blob is absent */
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "noblob");
    l.media_type = NULL;
    tl_publish_legacy(&t.src, t.image, &l, 1);
    t.src.omit_blobs = true;
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK(tl_run_error_has(&t, "is missing from the source"));
    tl_source_free(&t.src);
    free(payload);
    verify_policy_free(&p);
    EVP_PKEY_free(key);
}

static void missing_signature_and_insecure_policies(void)
{
    EVP_PKEY *key = tl_keygen("P-256");
    struct verify_policy p;
    tl_key_policy(W.dir, &p, &key, 1);
    struct tl_run t;
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "unsigned");
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK_INT(t.err.code, ERROR_INPUT);
    char *want = xasprintf("%s: no signature found: neither a Sigstore bundle referrer nor the tag sha256-%s.sig; "
                           "sign the image or set insecure: true in policy key-test",
                           t.image, t.image + 7);
    CHECK_STR(t.err.message, want);
    free(want);
    /* insecure: accepted, and the receipt says why */
    p.insecure = true;
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, 0);
    CHECK_STR(t.r.method, "insecure");
    CHECK(strncmp(t.r.detail, "no signature found", 18) == 0);
    CHECK_STR(t.r.key_fingerprint, "");
    tl_source_free(&t.src);
    /* insecure with an invalid signature: accepted as insecure, the failure recorded */
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "invalid");
    EVP_PKEY *stranger = tl_keygen("P-256");
    char *payload = tl_simple_payload(t.image), *sig = NULL;
    struct tl_layer l = key_layer(payload, stranger, "SHA256", false, &sig);
    tl_publish_legacy(&t.src, t.image, &l, 1);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, 0);
    CHECK_STR(t.r.method, "insecure");
    CHECK(strstr(t.r.detail, "signature present but not valid: ") == t.r.detail);
    CHECK(strstr(t.r.detail, "does not verify over payload") != NULL);
    tl_source_free(&t.src);
    /* insecure with a valid signature: recorded by its real method */
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "valid");
    free(payload);
    free(sig);
    payload = tl_simple_payload(t.image);
    l = key_layer(payload, key, "SHA256", false, &sig);
    tl_publish_legacy(&t.src, t.image, &l, 1);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, 0);
    CHECK_STR(t.r.method, "cosign-key");
    CHECK_STR(t.r.detail, "");
    /* a source failure is never an insecure acceptance */
    t.src.fail = true;
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK_INT(t.err.code, ERROR_RUNTIME);
    CHECK(tl_run_error_has(&t, "test source: listing referrers failed"));
    tl_source_free(&t.src);
    /* a bad digest argument */
    memset(&t, 0, sizeof t);
    t.image = "sha512:abcd";
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK_INT(t.err.code, ERROR_INPUT);
    free(payload);
    free(sig);
    verify_policy_free(&p);
    EVP_PKEY_free(key);
    EVP_PKEY_free(stranger);
}

/* ---------------------------------------------------------------------------------- keyless */

struct keyless {
    char *payload, *sig_b64, *bundle, *body;
    struct buffer sig;
    struct tl_entry entry;
};

/* Sign image's payload with leaf_key/leaf and log it (hashedrekord) with log_key at t. */
static void keyless_make(struct keyless *k, const char *image, EVP_PKEY *leaf_key, const char *leaf_pem,
                         EVP_PKEY *log_key, int64_t t)
{
    memset(k, 0, sizeof *k);
    k->payload = tl_simple_payload(image);
    tl_sign(leaf_key, "SHA256", false, k->payload, strlen(k->payload), &k->sig);
    k->sig_b64 = tl_b64(k->sig.data, k->sig.len);
    k->body = tl_body_hashedrekord(k->payload, strlen(k->payload), &k->sig, leaf_pem);
    tl_entry_make(&k->entry, log_key, k->body, t);
    k->bundle = tl_cosign_bundle(&k->entry);
}

static void keyless_free(struct keyless *k)
{
    free(k->payload);
    free(k->sig_b64);
    free(k->bundle);
    free(k->body);
    buffer_free(&k->sig);
    tl_entry_free(&k->entry);
}

static void keyless_publish(struct tl_run *t, struct keyless *k, const char *cert_pem, const char *chain)
{
    struct tl_layer l = {k->payload, k->sig_b64, cert_pem, chain, k->bundle, NULL, NULL};
    tl_publish_legacy(&t->src, t->image, &l, 1);
}

static void keyless_signature_verifies_with_receipt(void)
{
    struct tl_run t;
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "keyless");
    struct keyless k;
    keyless_make(&k, t.image, W.leaf_key, W.leaf_pem, W.rekor_key, TL_SIGNED_AT);
    keyless_publish(&t, &k, W.leaf_pem, W.chain_pem);
    struct verify_policy p;
    tl_keyless_policy(&W, &p, NULL, NULL);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, 0);
    if (t.rc)
        printf("  %s\n", t.err.message);
    CHECK_STR(t.r.method, "cosign-keyless");
    CHECK_STR(t.r.identity, TL_EMAIL);
    CHECK_STR(t.r.issuer, TL_ISSUER);
    char *fp = tl_cert_fingerprint(W.leaf);
    CHECK_STR(t.r.cert_fingerprint, fp);
    CHECK_STR(t.r.key_fingerprint, "");
    free(fp);
    CHECK_INT(t.r.log_index, 123456789);
    CHECK_INT(t.r.integrated_time, TL_SIGNED_AT);
    /* the chain annotation is optional: the trusted root carries the intermediate */
    tl_source_free(&t.src);
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "keyless");
    keyless_publish(&t, &k, W.leaf_pem, NULL);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, 0);
    tl_source_free(&t.src);
    keyless_free(&k);
    verify_policy_free(&p);
}

static void keyless_identity_and_issuer_must_match(void)
{
    struct tl_run t;
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "who");
    struct keyless k;
    keyless_make(&k, t.image, W.leaf_key, W.leaf_pem, W.rekor_key, TL_SIGNED_AT);
    keyless_publish(&t, &k, W.leaf_pem, W.chain_pem);
    struct verify_policy p;
    tl_keyless_policy(&W, &p, "^bob@example\\.com$", NULL);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK(tl_run_error_has(&t, "certificate SAN alice@example.com does not match identity regexp '^bob@example\\.com$'"));
    CHECK(tl_run_error_has(&t, "check the policy's identity regexp, issuer and trusted root, or set insecure: true"));
    verify_policy_free(&p);
    /* unanchored, as Go's MatchString: a suffix regexp matches */
    tl_keyless_policy(&W, &p, "@example\\.com$", NULL);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, 0);
    verify_policy_free(&p);
    tl_keyless_policy(&W, &p, NULL, "https://accounts.google.com");
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK(tl_run_error_has(
        &t, "certificate issuer https://accounts.example.com does not match https://accounts.google.com"));
    verify_policy_free(&p);
    /* a key-only policy facing a keyless signature says what is missing */
    EVP_PKEY *key = tl_keygen("P-256");
    tl_key_policy(W.dir, &p, &key, 1);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK(tl_run_error_has(&t, "does not verify over payload"));
    verify_policy_free(&p);
    EVP_PKEY_free(key);
    keyless_free(&k);
    tl_source_free(&t.src);
}

static void keyless_certificate_must_be_valid_at_integrated_time(void)
{
    struct verify_policy p;
    tl_keyless_policy(&W, &p, NULL, NULL);
    const struct {
        int64_t at;
        const char *message;
    } cases[] = {{TL_T0 + 3600, "certificate has expired"}, {TL_T0 - 3600, "certificate is not yet valid"}};
    for (size_t i = 0; i < 2; i++) {
        struct tl_run t;
        memset(&t, 0, sizeof t);
        t.image = tl_image(&t.src, "time");
        struct keyless k;
        /* The log vouches for a time outside the leaf's ten minutes. */
        keyless_make(&k, t.image, W.leaf_key, W.leaf_pem, W.rekor_key, cases[i].at);
        keyless_publish(&t, &k, W.leaf_pem, W.chain_pem);
        tl_run_verify(&t, &p);
        CHECK_INT(t.rc, -1);
        CHECK(tl_run_error_has(&t, cases[i].message));
        CHECK(tl_run_error_has(&t, "at the signing time"));
        keyless_free(&k);
        tl_source_free(&t.src);
    }
    verify_policy_free(&p);
}

static void keyless_chain_must_lead_to_the_trusted_root(void)
{
    EVP_PKEY *evil_key = tl_keygen("P-384");
    struct tl_cert_spec ca = {"test-fulcio-intermediate", true, NULL, NULL, NULL, true, NULL, TL_CA_FROM, TL_CA_UNTIL};
    X509 *evil = tl_cert(evil_key, NULL, evil_key, &ca);
    struct tl_cert_spec leaf = {NULL, false, "email:" TL_EMAIL, TL_ISSUER, TL_ISSUER, true, NULL, TL_T0, TL_T0 + 600};
    X509 *forged = tl_cert(W.leaf_key, evil, evil_key, &leaf);
    char *forged_pem = tl_cert_pem(forged), *evil_pem = tl_cert_pem(evil);
    struct tl_run t;
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "evil");
    struct keyless k;
    keyless_make(&k, t.image, W.leaf_key, forged_pem, W.rekor_key, TL_SIGNED_AT);
    keyless_publish(&t, &k, forged_pem, evil_pem);
    struct verify_policy p;
    tl_keyless_policy(&W, &p, NULL, NULL);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK(tl_run_error_has(&t, "certificate does not chain to a Fulcio CA of"));
    verify_policy_free(&p);
    keyless_free(&k);
    tl_source_free(&t.src);
    free(forged_pem);
    free(evil_pem);
    X509_free(forged);
    X509_free(evil);
    EVP_PKEY_free(evil_key);
}

static void keyless_rekor_bundle_must_be_genuine_and_bind_the_signature(void)
{
    struct verify_policy p;
    tl_keyless_policy(&W, &p, NULL, NULL);
    /* forged SET: the bundle signed by a key that is not the trusted log's, same log ID */
    struct tl_run t;
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "forged-set");
    struct keyless k;
    keyless_make(&k, t.image, W.leaf_key, W.leaf_pem, W.rekor_key, TL_SIGNED_AT);
    EVP_PKEY *forger = tl_keygen("P-256");
    char *b64 = tl_b64(k.body, strlen(k.body));
    char *set_payload = tl_set_payload(b64, TL_SIGNED_AT, k.entry.log_id, k.entry.log_index);
    tl_sign(forger, "SHA256", false, set_payload, strlen(set_payload), &k.entry.set);
    free(k.bundle);
    k.bundle = tl_cosign_bundle(&k.entry);
    keyless_publish(&t, &k, W.leaf_pem, W.chain_pem);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK(tl_run_error_has(&t, "signed entry timestamp of Rekor entry 123456789 does not verify with log key"));
    tl_source_free(&t.src);
    keyless_free(&k);
    free(b64);
    free(set_payload);
    EVP_PKEY_free(forger);
    /* genuine entry, but it logged ANOTHER signature (the layer's signature swapped) */
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "swapped");
    keyless_make(&k, t.image, W.leaf_key, W.leaf_pem, W.rekor_key, TL_SIGNED_AT);
    struct buffer sig2 = BUFFER_INIT;
    tl_sign(W.leaf_key, "SHA256", false, k.payload, strlen(k.payload), &sig2); /* ECDSA: a different valid sig */
    free(k.sig_b64);
    k.sig_b64 = tl_b64(sig2.data, sig2.len);
    buffer_free(&sig2);
    keyless_publish(&t, &k, W.leaf_pem, W.chain_pem);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK(tl_run_error_has(&t, "logged a different signature than the one being verified"));
    tl_source_free(&t.src);
    keyless_free(&k);
    /* the entry logged another payload hash */
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "hash");
    keyless_make(&k, t.image, W.leaf_key, W.leaf_pem, W.rekor_key, TL_SIGNED_AT);
    free(k.body);
    k.body = tl_body_hashedrekord("something else", 14, &k.sig, W.leaf_pem);
    tl_entry_free(&k.entry);
    tl_entry_make(&k.entry, W.rekor_key, k.body, TL_SIGNED_AT);
    free(k.bundle);
    k.bundle = tl_cosign_bundle(&k.entry);
    keyless_publish(&t, &k, W.leaf_pem, W.chain_pem);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK(tl_run_error_has(&t, "the Rekor entry's spec.data.hash.value is sha256:"));
    tl_source_free(&t.src);
    keyless_free(&k);
    /* no bundle at all */
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "nobundle");
    keyless_make(&k, t.image, W.leaf_key, W.leaf_pem, W.rekor_key, TL_SIGNED_AT);
    struct tl_layer l = {k.payload, k.sig_b64, W.leaf_pem, W.chain_pem, NULL, NULL, NULL};
    tl_publish_legacy(&t.src, t.image, &l, 1);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK(tl_run_error_has(&t, "keyless signature has no Rekor bundle (annotation dev.sigstore.cosign/bundle)"));
    tl_source_free(&t.src);
    /* malformed bundle JSON and certificate PEM */
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "malformed");
    struct tl_layer bad = {k.payload, k.sig_b64, W.leaf_pem, NULL, "{\"Payload\": 1}", NULL, NULL};
    tl_publish_legacy(&t.src, t.image, &bad, 1);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK(tl_run_error_has(&t, "not a Rekor bundle (no Payload object)"));
    tl_source_free(&t.src);
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "malformed-cert");
    struct tl_layer bad_cert = {k.payload, k.sig_b64, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                                NULL,      k.bundle,  NULL,
                                NULL};
    tl_publish_legacy(&t.src, t.image, &bad_cert, 1);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK(tl_run_error_has(&t, "certificate: certificate 1 is not valid PEM/DER"));
    tl_source_free(&t.src);
    keyless_free(&k);
    verify_policy_free(&p);
}

/* cosign's legacy RFC 3161 annotation ({"SignedRFC3161Timestamp": base64 TimeStampResp} over the
 * raw signature bytes): verified when present, its time a second signing time the certificate
 * must cover; a bad one refuses the signature. */
static void legacy_timestamp_annotation_is_verified(void)
{
    struct tl_v2 v;
    tl_v2_init(&v, &W);
    struct {
        const char *over; /* NULL: the signature */
        int64_t at;
        const char *message;
    } cases[] = {
        {NULL, TL_SIGNED_AT + 20, NULL},
        {"other bytes", TL_SIGNED_AT, "message imprint mismatch"},
        {NULL, TL_T0 + TL_LEAF_LIFETIME + 30, "certificate has expired"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct tl_run t;
        memset(&t, 0, sizeof t);
        t.image = tl_image(&t.src, "legacy-timestamp");
        struct keyless k;
        keyless_make(&k, t.image, W.leaf_key, W.leaf_pem, W.rekor_key, TL_SIGNED_AT);
        struct buffer tst = BUFFER_INIT;
        tl_timestamp(v.tsa_key, v.tsa_leaf, cases[i].over ? cases[i].over : k.sig.data,
                     cases[i].over ? strlen(cases[i].over) : k.sig.len, cases[i].at, &tst);
        char *b = tl_b64(tst.data, tst.len);
        char *ann = xasprintf("{\"SignedRFC3161Timestamp\":\"%s\"}", b);
        struct tl_layer l = {k.payload, k.sig_b64, W.leaf_pem, W.chain_pem, k.bundle, NULL, ann};
        tl_publish_legacy(&t.src, t.image, &l, 1);
        struct verify_policy p;
        tl_keyless_policy(&W, &p, NULL, NULL);
        free(p.trusted_root_path);
        p.trusted_root_path = xstrdup(v.trusted_root_path);
        tl_run_verify(&t, &p);
        if (!cases[i].message) {
            CHECK_INT(t.rc, 0);
            if (t.rc)
                printf("  %s\n", t.err.message);
            CHECK_INT(t.r.timestamp, TL_SIGNED_AT + 20);
            CHECK_STR(t.r.timestamp_authority, TL_TSA_URI);
        } else {
            CHECK_INT(t.rc, -1);
            CHECK(tl_run_error_has(&t, cases[i].message));
        }
        verify_policy_free(&p);
        free(b);
        free(ann);
        buffer_free(&tst);
        keyless_free(&k);
        tl_source_free(&t.src);
    }
    tl_v2_free(&v);
}

int main(void)
{
    tl_world_init(&W);
    RUN(key_signatures_of_each_type_verify);
    RUN(any_policy_key_may_match_and_any_layer_may_verify);
    RUN(wrong_key_is_named_with_key_and_payload);
    RUN(signature_for_another_digest_is_refused);
    RUN(payload_is_verified_as_stored);
    RUN(malformed_signature_objects_are_input_errors);
    RUN(missing_signature_and_insecure_policies);
    RUN(keyless_signature_verifies_with_receipt);
    RUN(keyless_identity_and_issuer_must_match);
    RUN(keyless_certificate_must_be_valid_at_integrated_time);
    RUN(keyless_chain_must_lead_to_the_trusted_root);
    RUN(keyless_rekor_bundle_must_be_genuine_and_bind_the_signature);
    RUN(legacy_timestamp_annotation_is_verified);
    tl_world_free(&W);
    return TEST_MAIN_END();
}
