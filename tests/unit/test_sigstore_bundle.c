/* verify_image on Sigstore bundle referrers (DSSE in-toto), keyless and key-based, and the order
 * bundle-then-legacy. */
#include <stdlib.h>
#include <string.h>

#include "airfactory/verify.h"
#include "test.h"
#include "verify_testlib.h"

static struct tl_world W;

/* Everything a keyless DSSE bundle is made of, so tests can change one part at a time. */
struct parts {
    const char *payload_type;
    char *statement;
    struct buffer pae, sig;
    char *envelope;
    char *body;
    struct tl_entry entry;
    const char *kind, *version;
    bool promise, proof;
    char *material_extra; /* replaces the certificate material when set */
    const char *media_type;
};

static void parts_sign(struct parts *p, const char *statement, EVP_PKEY *key)
{
    p->statement = xstrdup(statement);
    tl_pae(p->payload_type, p->statement, &p->pae);
    tl_sign(key, "SHA256", false, p->pae.data, p->pae.len, &p->sig);
    p->envelope = tl_envelope(p->payload_type, p->statement, &p->sig);
}

static void parts_init(struct parts *p, const char *digest)
{
    memset(p, 0, sizeof *p);
    p->payload_type = "application/vnd.in-toto+json";
    p->kind = "dsse";
    p->version = "0.0.1";
    p->promise = p->proof = true;
    char *st = tl_statement(digest);
    parts_sign(p, st, W.leaf_key);
    free(st);
    p->body = tl_body_dsse(p->statement, strlen(p->statement), p->envelope, &p->sig, W.leaf_pem);
    tl_entry_make(&p->entry, W.rekor_key, p->body, TL_SIGNED_AT);
}

static void parts_relog(struct parts *p, const char *body, EVP_PKEY *log_key, int64_t t)
{
    char *copy = xstrdup(body); /* body may be p->body itself */
    free(p->body);
    p->body = copy;
    tl_entry_free(&p->entry);
    tl_entry_make(&p->entry, log_key, p->body, t);
}

static char *parts_bundle(struct parts *p)
{
    char *tlog = tl_tlog_entry(&p->entry, p->kind, p->version, p->promise, p->proof);
    char *cert = tl_cert_b64(W.leaf);
    char *material = p->material_extra
                         ? xasprintf("%s,\"tlogEntries\":[%s]", p->material_extra, tlog)
                         : xasprintf("\"certificate\":{\"rawBytes\":\"%s\"},\"tlogEntries\":[%s]", cert, tlog);
    char *b = tl_bundle(p->media_type, material, p->envelope);
    free(tlog);
    free(cert);
    free(material);
    return b;
}

static void parts_free(struct parts *p)
{
    free(p->statement);
    buffer_free(&p->pae);
    buffer_free(&p->sig);
    free(p->envelope);
    free(p->body);
    free(p->material_extra);
    tl_entry_free(&p->entry);
}

/* Publish p for t's image and verify with the keyless policy. */
static void publish_and_verify(struct tl_run *t, struct parts *p)
{
    char *bundle = parts_bundle(p);
    tl_publish_bundle(&t->src, t->image, bundle, NULL, NULL);
    free(bundle);
    struct verify_policy pol;
    tl_keyless_policy(&W, &pol, NULL, NULL);
    tl_run_verify(t, &pol);
    verify_policy_free(&pol);
}

static void keyless_bundle_verifies_with_receipt(void)
{
    struct tl_run t;
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "bundle");
    struct parts p;
    parts_init(&p, t.image);
    publish_and_verify(&t, &p);
    CHECK_INT(t.rc, 0);
    if (t.rc)
        printf("  %s\n", t.err.message);
    CHECK_STR(t.r.method, "sigstore-bundle");
    CHECK_STR(t.r.identity, TL_EMAIL);
    CHECK_STR(t.r.issuer, TL_ISSUER);
    char *fp = tl_cert_fingerprint(W.leaf);
    CHECK_STR(t.r.cert_fingerprint, fp);
    CHECK_STR(t.r.key_fingerprint, ""); /* keyless: the certificate names the signer */
    free(fp);
    CHECK_INT(t.r.log_index, 123456789);
    CHECK_INT(t.r.integrated_time, TL_SIGNED_AT);
    parts_free(&p);
    tl_source_free(&t.src);
}

static void keyless_bundle_forms_cosign_and_rekor_write(void)
{
    /* SET only (no proof) in a v0.1 bundle; intoto 0.0.2 body; x509CertificateChain in a v0.2 bundle */
    for (int variant = 0; variant < 3; variant++) {
        struct tl_run t;
        memset(&t, 0, sizeof t);
        t.image = tl_image(&t.src, "forms");
        struct parts p;
        parts_init(&p, t.image);
        if (variant == 0) {
            p.proof = false;
            p.media_type = "application/vnd.dev.sigstore.bundle+json;version=0.1";
        }
        if (variant == 1) {
            char *body = tl_body_intoto(p.statement, strlen(p.statement), &p.sig, W.leaf_pem);
            parts_relog(&p, body, W.rekor_key, TL_SIGNED_AT);
            free(body);
            p.kind = "intoto";
            p.version = "0.0.2";
        }
        if (variant == 2) {
            char *leaf = tl_cert_b64(W.leaf), *inter = tl_cert_b64(W.inter);
            p.material_extra = xasprintf("\"x509CertificateChain\":{\"certificates\":[{\"rawBytes\":\"%s\"},"
                                         "{\"rawBytes\":\"%s\"}]}",
                                         leaf, inter);
            p.media_type = "application/vnd.dev.sigstore.bundle+json;version=0.2";
            free(leaf);
            free(inter);
        }
        publish_and_verify(&t, &p);
        CHECK_INT(t.rc, 0);
        if (t.rc)
            printf("  variant %d: %s\n", variant, t.err.message);
        CHECK_STR(t.r.method, "sigstore-bundle");
        parts_free(&p);
        tl_source_free(&t.src);
    }
}

static void transparency_log_evidence_must_hold(void)
{
    struct {
        int what;
        const char *message;
    } cases[] = {
        {0, "does not lead to its root hash"},          /* bad inclusion proof */
        {1, "checkpoint is not signed by the log key"}, /* checkpoint by another key */
        {2, "no trusted signing time: the log entry (dsse 0.0.1) carries no signed entry timestamp"},
        {3, "signed entry timestamp of Rekor entry 123456789 does not verify"}, /* forged SET */
        {4, "kindVersion hashedrekord 0.0.1 does not match the logged body's dsse 0.0.1"},
        {5, "the Rekor entry's spec.payloadHash.value is sha256:"}, /* body about another payload */
        {6, "keyless bundle has no transparency log entry"},
        {7, "is not in trusted root"}, /* logged by an unknown log */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct tl_run t;
        memset(&t, 0, sizeof t);
        t.image = tl_image(&t.src, "tlog");
        struct parts p;
        parts_init(&p, t.image);
        EVP_PKEY *other = tl_keygen("P-256");
        switch (cases[i].what) {
        case 0: p.entry.hashes[2][0] ^= 1; break;
        case 1: {
            free(p.entry.checkpoint);
            p.entry.checkpoint = tl_checkpoint(other, "rekor.test - 42", p.entry.tree_size, p.entry.root_hash);
            break;
        }
        case 2: p.promise = false; break;
        case 3: {
            char *b64 = tl_b64(p.body, strlen(p.body));
            char *payload = tl_set_payload(b64, TL_SIGNED_AT + 1, p.entry.log_id, p.entry.log_index);
            tl_sign(W.rekor_key, "SHA256", false, payload, strlen(payload), &p.entry.set); /* signs another time */
            free(b64);
            free(payload);
            break;
        }
        case 4: p.kind = "hashedrekord"; break;
        case 5: {
            char *body = tl_body_dsse("other", 5, p.envelope, &p.sig, W.leaf_pem);
            parts_relog(&p, body, W.rekor_key, TL_SIGNED_AT);
            free(body);
            break;
        }
        case 6: break;
        case 7: parts_relog(&p, p.body, other, TL_SIGNED_AT); break;
        }
        if (cases[i].what == 6) {
            char *cert = tl_cert_b64(W.leaf);
            char *material = xasprintf("\"certificate\":{\"rawBytes\":\"%s\"},\"tlogEntries\":[]", cert);
            char *b = tl_bundle(NULL, material, p.envelope);
            tl_publish_bundle(&t.src, t.image, b, NULL, NULL);
            struct verify_policy pol;
            tl_keyless_policy(&W, &pol, NULL, NULL);
            tl_run_verify(&t, &pol);
            verify_policy_free(&pol);
            free(cert);
            free(material);
            free(b);
        } else {
            publish_and_verify(&t, &p);
        }
        CHECK_INT(t.rc, -1);
        CHECK_INT(t.err.code, ERROR_INPUT);
        CHECK(tl_run_error_has(&t, cases[i].message));
        CHECK(tl_run_error_has(&t, "Sigstore bundle referrer sha256:"));
        EVP_PKEY_free(other);
        parts_free(&p);
        tl_source_free(&t.src);
    }
}

static void statement_and_envelope_must_be_cosign_s(void)
{
    struct {
        int what;
        const char *message;
    } cases[] = {
        {0, "statement subject is sha256:"}, /* another digest */
        {1, "statement predicateType is 'https://slsa.dev/provenance/v1'"},
        {2, "DSSE payloadType is 'application/json'"},
        {3, "DSSE signature does not verify with the bundle's certificate"}, /* tampered payload */
        {4, "DSSE envelope must carry exactly one signature (has 2)"},
        {5, "bundle holds a messageSignature, not a DSSE envelope"},
        {6, "mediaType application/vnd.dev.sigstore.bundle.v0.9+json is not a Sigstore bundle version"},
        {7, "invalid JSON"},
        {8, "dsseEnvelope.payload is not valid base64"},
        {9, "statement _type is 'https://in-toto.io/Statement/v0.1'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct tl_run t;
        memset(&t, 0, sizeof t);
        t.image = tl_image(&t.src, "statement");
        const char *other = tl_image(&t.src, "other image");
        struct parts p;
        parts_init(&p, t.image);
        char *bundle = NULL;
        if (cases[i].what == 0 || cases[i].what == 1 || cases[i].what == 2 || cases[i].what == 9) {
            char *st = cases[i].what == 0 ? tl_statement(other) : tl_statement(t.image);
            if (cases[i].what == 1) {
                char *pos = strstr(st, "https://sigstore.dev/cosign/sign/v1");
                char *fixed = xasprintf("%.*shttps://slsa.dev/provenance/v1%s", (int)(pos - st), st,
                                        pos + strlen("https://sigstore.dev/cosign/sign/v1"));
                free(st);
                st = fixed;
            }
            if (cases[i].what == 9) {
                char *pos = strstr(st, "Statement/v1");
                char *fixed = xasprintf("%.*sStatement/v0.1%s", (int)(pos - st), st, pos + strlen("Statement/v1"));
                free(st);
                st = fixed;
            }
            if (cases[i].what == 2)
                p.payload_type = "application/json";
            /* a genuine, fully logged signature over the wrong statement */
            free(p.statement);
            free(p.envelope);
            parts_sign(&p, st, W.leaf_key);
            free(st);
            char *body = tl_body_dsse(p.statement, strlen(p.statement), p.envelope, &p.sig, W.leaf_pem);
            parts_relog(&p, body, W.rekor_key, TL_SIGNED_AT);
            free(body);
            bundle = parts_bundle(&p);
        } else if (cases[i].what == 3) {
            char *st = tl_statement(t.image);
            st[2] = 'X'; /* "_Xype": the payload bytes differ from what was signed */
            char *env = tl_envelope(p.payload_type, st, &p.sig);
            free(p.envelope);
            p.envelope = env;
            free(st);
            bundle = parts_bundle(&p);
        } else if (cases[i].what == 4) {
            char *s = tl_b64(p.sig.data, p.sig.len), *pl = tl_b64(p.statement, strlen(p.statement));
            free(p.envelope);
            p.envelope = xasprintf("{\"payload\":\"%s\",\"payloadType\":\"%s\",\"signatures\":[{\"sig\":\"%s\"},"
                                   "{\"sig\":\"%s\"}]}",
                                   pl, p.payload_type, s, s);
            free(s);
            free(pl);
            bundle = parts_bundle(&p);
        } else if (cases[i].what == 5) {
            bundle =
                xasprintf("{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\","
                          "\"verificationMaterial\":{\"publicKey\":{\"hint\":\"x\"}},\"messageSignature\":{"
                          "\"messageDigest\":{\"algorithm\":\"SHA2_256\",\"digest\":\"AAAA\"},\"signature\":\"AAAA\"}}");
        } else if (cases[i].what == 6) {
            p.media_type = "application/vnd.dev.sigstore.bundle.v0.9+json";
            bundle = parts_bundle(&p);
        } else if (cases[i].what == 7) {
            bundle = xstrdup("{\"mediaType\":");
        } else if (cases[i].what == 8) {
            free(p.envelope);
            p.envelope = xstrdup("{\"payload\":\"***\",\"payloadType\":\"application/vnd.in-toto+json\","
                                 "\"signatures\":[{\"sig\":\"AAAA\"}]}");
            bundle = parts_bundle(&p);
        }
        tl_publish_bundle(&t.src, t.image, bundle, NULL, NULL);
        struct verify_policy pol;
        tl_keyless_policy(&W, &pol, NULL, NULL);
        tl_run_verify(&t, &pol);
        CHECK_INT(t.rc, -1);
        CHECK_INT(t.err.code, ERROR_INPUT);
        CHECK(tl_run_error_has(&t, cases[i].message));
        verify_policy_free(&pol);
        free(bundle);
        parts_free(&p);
        tl_source_free(&t.src);
    }
}

static void key_bundle_verifies_against_policy_keys(void)
{
    EVP_PKEY *key = tl_keygen("P-256"), *stranger = tl_keygen("P-256");
    for (int good = 1; good >= 0; good--) {
        struct tl_run t;
        memset(&t, 0, sizeof t);
        t.image = tl_image(&t.src, "key-bundle");
        char *st = tl_statement(t.image);
        struct buffer pae = BUFFER_INIT, sig = BUFFER_INIT;
        tl_pae("application/vnd.in-toto+json", st, &pae);
        tl_sign(good ? key : stranger, "SHA256", false, pae.data, pae.len, &sig);
        char *env = tl_envelope("application/vnd.in-toto+json", st, &sig);
        /* Image Factory's hint: base64(SHA-256(PKIX DER)) */
        unsigned char id[32];
        tl_key_id(key, id);
        char *hint = tl_b64(id, 32);
        char *material = xasprintf("\"publicKey\":{\"hint\":\"%s\"},\"tlogEntries\":[]", hint);
        char *bundle = tl_bundle(NULL, material, env);
        tl_publish_bundle(&t.src, t.image, bundle, NULL, NULL);
        struct verify_policy p;
        tl_key_policy(W.dir, &p, &key, 1);
        tl_run_verify(&t, &p);
        char *fp = tl_key_fingerprint(key);
        if (good) {
            CHECK_INT(t.rc, 0);
            if (t.rc)
                printf("  %s\n", t.err.message);
            CHECK_STR(t.r.method, "sigstore-bundle");
            CHECK_STR(t.r.key_fingerprint, fp);
            CHECK_INT(t.r.log_index, -1);
        } else {
            CHECK_INT(t.rc, -1);
            char *want = xasprintf("DSSE signature by key %s does not verify over statement sha256:", fp);
            CHECK(tl_run_error_has(&t, want));
            free(want);
        }
        /* a keyless-only policy facing a key bundle */
        verify_policy_free(&p);
        tl_keyless_policy(&W, &p, NULL, NULL);
        tl_run_verify(&t, &p);
        CHECK_INT(t.rc, -1);
        CHECK(tl_run_error_has(&t, "bundle was signed with a key but policy keyless-test has no public keys"));
        verify_policy_free(&p);
        free(fp);
        free(st);
        free(env);
        free(hint);
        free(material);
        free(bundle);
        buffer_free(&pae);
        buffer_free(&sig);
        tl_source_free(&t.src);
    }
    EVP_PKEY_free(key);
    EVP_PKEY_free(stranger);
}

static void bundle_is_checked_first_then_legacy(void)
{
    EVP_PKEY *key = tl_keygen("P-256");
    struct verify_policy p;
    tl_keyless_policy(&W, &p, NULL, NULL);
    p.public_keys = xcalloc(1, sizeof *p.public_keys);
    char *pem = tl_pubkey_pem(key);
    p.public_keys[0] = tl_write(W.dir, "order.pub", pem, strlen(pem));
    p.public_key_count = 1;
    free(pem);
    /* both valid: the bundle wins */
    struct tl_run t;
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "both");
    char *bundle = tl_keyless_bundle(&W, t.image, true, true);
    tl_publish_bundle(&t.src, t.image, bundle, NULL, NULL);
    char *payload = tl_simple_payload(t.image);
    struct buffer sig = BUFFER_INIT;
    tl_sign(key, "SHA256", false, payload, strlen(payload), &sig);
    char *sig_b64 = tl_b64(sig.data, sig.len);
    struct tl_layer l = {payload, sig_b64, NULL, NULL, NULL, NULL, NULL};
    tl_publish_legacy(&t.src, t.image, &l, 1);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, 0);
    CHECK_STR(t.r.method, "sigstore-bundle");
    tl_source_free(&t.src);
    /* the bundle invalid (wrong identity would be the same): the legacy signature still counts */
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "both");
    const char *other = tl_image(&t.src, "another");
    char *wrong = tl_keyless_bundle(&W, other, true, true);
    tl_publish_bundle(&t.src, t.image, wrong, NULL, NULL);
    tl_publish_legacy(&t.src, t.image, &l, 1);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, 0);
    CHECK_STR(t.r.method, "cosign-key");
    tl_source_free(&t.src);
    /* both invalid: both reasons are reported */
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "both");
    other = tl_image(&t.src, "another");
    tl_publish_bundle(&t.src, t.image, wrong, NULL, NULL);
    char *other_payload = tl_simple_payload(other);
    struct buffer other_sig = BUFFER_INIT;
    tl_sign(key, "SHA256", false, other_payload, strlen(other_payload), &other_sig);
    char *other_b64 = tl_b64(other_sig.data, other_sig.len);
    struct tl_layer replay = {other_payload, other_b64, NULL, NULL, NULL, NULL, NULL};
    tl_publish_legacy(&t.src, t.image, &replay, 1);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK(tl_run_error_has(&t, "statement subject is"));
    CHECK(tl_run_error_has(&t, "payload signs"));
    CHECK(tl_run_error_has(&t, "check the policy's keys and keyless identity, or set insecure: true in it"));
    tl_source_free(&t.src);
    free(other_payload);
    buffer_free(&other_sig);
    free(other_b64);
    free(wrong);
    free(bundle);
    free(payload);
    buffer_free(&sig);
    free(sig_b64);
    verify_policy_free(&p);
    EVP_PKEY_free(key);
}

/* The bundle's certificates besides the leaf are never trusted: neither an intermediate the CA
 * signed but the trusted root does not list (it could reopen a closed CA window) nor a root the
 * bundle brings along (protobuf-specs VerificationMaterial; sigstore-go uses the leaf only). */
static void bundle_chain_certificates_are_never_trusted(void)
{
    for (int variant = 0; variant < 2; variant++) {
        struct tl_run t;
        memset(&t, 0, sizeof t);
        t.image = tl_image(&t.src, "chain");
        EVP_PKEY *ca_key = tl_keygen("P-384"), *leaf_key = tl_keygen("P-256");
        struct tl_cert_spec ca = {variant == 0 ? "unlisted-intermediate" : "rogue-root",
                                  true,
                                  NULL,
                                  NULL,
                                  NULL,
                                  true,
                                  NULL,
                                  TL_CA_FROM,
                                  TL_CA_UNTIL};
        X509 *issuer = variant == 0 ? tl_cert(ca_key, W.root, W.root_key, &ca) : tl_cert(ca_key, NULL, ca_key, &ca);
        struct tl_cert_spec ls = {NULL, false, "email:" TL_EMAIL,       TL_ISSUER, TL_ISSUER, true,
                                  NULL, TL_T0, TL_T0 + TL_LEAF_LIFETIME};
        X509 *leaf = tl_cert(leaf_key, issuer, ca_key, &ls);
        char *leaf_pem = tl_cert_pem(leaf);
        struct parts p;
        parts_init(&p, t.image);
        free(p.statement);
        free(p.envelope);
        char *st = tl_statement(t.image);
        parts_sign(&p, st, leaf_key);
        free(st);
        char *body = tl_body_dsse(p.statement, strlen(p.statement), p.envelope, &p.sig, leaf_pem);
        parts_relog(&p, body, W.rekor_key, TL_SIGNED_AT);
        free(body);
        char *l64 = tl_cert_b64(leaf), *i64 = tl_cert_b64(issuer), *r64 = tl_cert_b64(W.root);
        p.material_extra = variant == 0 ? xasprintf("\"x509CertificateChain\":{\"certificates\":[{\"rawBytes\":\"%s\"},"
                                                    "{\"rawBytes\":\"%s\"},{\"rawBytes\":\"%s\"}]}",
                                                    l64, i64, r64)
                                        : xasprintf("\"x509CertificateChain\":{\"certificates\":[{\"rawBytes\":\"%s\"},"
                                                    "{\"rawBytes\":\"%s\"}]}",
                                                    l64, i64);
        p.media_type = "application/vnd.dev.sigstore.bundle+json;version=0.2";
        publish_and_verify(&t, &p);
        CHECK_INT(t.rc, -1);
        CHECK(tl_run_error_has(&t, "certificate does not chain to a Fulcio CA"));
        free(l64);
        free(i64);
        free(r64);
        free(leaf_pem);
        X509_free(leaf);
        X509_free(issuer);
        EVP_PKEY_free(ca_key);
        EVP_PKEY_free(leaf_key);
        parts_free(&p);
        tl_source_free(&t.src);
    }
}

/* v0.3 bundles carry the inclusion proof sigstore-go requires; a SET alone is a v0.1 bundle. */
static void bundle_version_rules_match_sigstore_go(void)
{
    struct tl_run t;
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "versions");
    struct parts p;
    parts_init(&p, t.image);
    p.proof = false;
    publish_and_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK(tl_run_error_has(&t, "a v0.3 bundle's log entry needs an inclusionProof"));
    tl_source_free(&t.src);
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "versions-0.1");
    p.proof = true;
    p.promise = false;
    p.media_type = "application/vnd.dev.sigstore.bundle+json;version=0.1";
    publish_and_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK(tl_run_error_has(&t, "a v0.1 bundle's log entry needs an inclusionPromise"));
    parts_free(&p);
    tl_source_free(&t.src);
}

static void referrers_of_other_kinds_are_skipped(void)
{
    struct verify_policy p;
    tl_keyless_policy(&W, &p, NULL, NULL);
    /* an SBOM referrer only: nothing found */
    struct tl_run t;
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "sbom");
    const char *sbom = "{\"spdxVersion\":\"SPDX-2.3\"}";
    const char *sd = tl_add_blob(&t.src, sbom, strlen(sbom));
    char *m = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                        "\"artifactType\":\"application/spdx+json\",\"config\":{\"mediaType\":"
                        "\"application/vnd.oci.empty.v1+json\",\"size\":2,\"digest\":\"sha256:44136fa355b3678a1146ad16f7e8"
                        "649e94fb4fc21fe77e8310c060f61caaff8a\"},\"layers\":[{\"mediaType\":\"application/spdx+json\","
                        "\"size\":%zu,\"digest\":\"%s\"}],\"subject\":{\"mediaType\":\"application/vnd.oci.image."
                        "manifest.v1+json\",\"size\":1,\"digest\":\"%s\"}}",
                        strlen(sbom), sd, t.image);
    const char *md = tl_add_blob(&t.src, m, strlen(m));
    t.src.referrers[t.src.referrer_count++] = xstrdup(md);
    free(m);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK(tl_run_error_has(&t, "no signature found"));
    /* an attestation stored as a bundle referrer (cosign attest): a claim, not a signature */
    char *st = tl_statement(t.image);
    char *slsa = xasprintf("{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\",\"note\":\"%s\"}", "x");
    const char *ad = tl_add_blob(&t.src, slsa, strlen(slsa));
    m = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                  "\"artifactType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\",\"config\":{\"mediaType\":"
                  "\"application/vnd.oci.empty.v1+json\",\"size\":2,\"digest\":\"sha256:44136fa355b3678a1146ad16f7e8"
                  "649e94fb4fc21fe77e8310c060f61caaff8a\"},\"layers\":[{\"mediaType\":"
                  "\"application/vnd.dev.sigstore.bundle.v0.3+json\",\"size\":%zu,\"digest\":\"%s\"}],"
                  "\"annotations\":{\"dev.sigstore.bundle.predicateType\":\"https://slsa.dev/provenance/v1\"},"
                  "\"subject\":{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"size\":1,"
                  "\"digest\":\"%s\"}}",
                  strlen(slsa), ad, t.image);
    md = tl_add_blob(&t.src, m, strlen(m));
    t.src.referrers[t.src.referrer_count++] = xstrdup(md);
    free(m);
    free(slsa);
    free(st);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    CHECK(tl_run_error_has(&t, "no signature found"));
    /* plus a valid bundle: found and verified */
    char *bundle = tl_keyless_bundle(&W, t.image, true, true);
    tl_publish_bundle(&t.src, t.image, bundle, NULL, NULL);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, 0);
    tl_source_free(&t.src);
    /* a bundle referrer whose subject is another image */
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "subject");
    const char *other = tl_image(&t.src, "someone else");
    tl_publish_bundle(&t.src, t.image, bundle, NULL, other);
    tl_run_verify(&t, &p);
    CHECK_INT(t.rc, -1);
    char *want = xasprintf("subject is %s, not %s", other, t.image);
    CHECK(tl_run_error_has(&t, want));
    free(want);
    tl_source_free(&t.src);
    free(bundle);
    verify_policy_free(&p);
}

int main(void)
{
    tl_world_init(&W);
    RUN(keyless_bundle_verifies_with_receipt);
    RUN(keyless_bundle_forms_cosign_and_rekor_write);
    RUN(transparency_log_evidence_must_hold);
    RUN(statement_and_envelope_must_be_cosign_s);
    RUN(key_bundle_verifies_against_policy_keys);
    RUN(bundle_is_checked_first_then_legacy);
    RUN(referrers_of_other_kinds_are_skipped);
    RUN(bundle_chain_certificates_are_never_trusted);
    RUN(bundle_version_rules_match_sigstore_go);
    tl_world_free(&W);
    return TEST_MAIN_END();
}
