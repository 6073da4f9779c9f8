/* Unit tests for the building blocks of src/verify: public_key, trusted_root, x509_chain,
 * rekor_entry (SET payload, Merkle inclusion, checkpoints, bodies) and the policy/receipt API. */
#include <stdlib.h>
#include <string.h>

#include "verify/public_key.h"
#include "verify/rekor_entry.h"
#include "verify/sigstore_bundle.h"
#include "verify/trusted_root.h"
#include "airfactory/verify.h"
#include "verify/verify_trust.h"
#include "verify/x509_chain.h"
#include "test.h"
#include "verify_testlib.h"

static struct tl_world W;

/* ------------------------------------------------------------------------------ public_key */

static void public_key_fingerprint_is_sha256_of_der_spki(void)
{
    EVP_PKEY *k = tl_keygen("P-256");
    char *pem = tl_pubkey_pem(k);
    struct public_key *pk = NULL;
    struct error err = {0};
    CHECK_INT(public_key_from_pem(pem, strlen(pem), "test", &pk, &err), 0);
    /* Independent path: the PEM body IS the base64 of the DER SPKI. */
    const char *b = strstr(pem, "-----\n") + 6, *e = strstr(pem, "-----END");
    struct buffer der = BUFFER_INIT;
    CHECK_INT(base64_decode(b, (size_t)(e - b), &der), 0);
    char *want = tl_sha256_digest(der.data, der.len);
    CHECK_STR(public_key_fingerprint(pk), want);
    CHECK_STR(public_key_describe(pk), "ECDSA P-256");
    struct public_key *again = NULL;
    CHECK_INT(public_key_from_der((const unsigned char *)der.data, der.len, "der", &again, &err), 0);
    CHECK(public_key_equal(pk, again));
    public_key_free(again);
    public_key_free(pk);
    buffer_free(&der);
    free(want);
    free(pem);
    EVP_PKEY_free(k);
}

static void public_key_verifies_each_scheme_cosign_uses(void)
{
    static const struct {
        const char *type, *md;
        bool pss;
        const char *describe;
    } cases[] = {
        {"P-256", "SHA256", false, "ECDSA P-256"},   {"P-384", "SHA384", false, "ECDSA P-384"},
        {"P-384", "SHA256", false, "ECDSA P-384"},   {"RSA", "SHA256", false, "RSA 2048"},
        {"RSA", "SHA256", true, "RSA 2048"},         {"RSA", "SHA512", false, "RSA 2048"},
        {"RSA-PSS", "SHA256", true, "RSA-PSS 2048"}, {"ED25519", NULL, false, "Ed25519"},
    };
    const char *msg = "{\"critical\":{}}";
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        EVP_PKEY *k = tl_keygen(cases[i].type);
        char *pem = tl_pubkey_pem(k);
        struct public_key *pk = NULL;
        struct error err = {0};
        CHECK_INT(public_key_from_pem(pem, strlen(pem), cases[i].type, &pk, &err), 0);
        CHECK_STR(public_key_describe(pk), cases[i].describe);
        struct buffer sig = BUFFER_INIT;
        tl_sign(k, cases[i].md, cases[i].pss, msg, strlen(msg), &sig);
        CHECK_INT(public_key_verify(pk, PUBLIC_KEY_ANY_HASH, msg, strlen(msg), sig.data, sig.len, &err), 1);
        /* one changed byte of message or signature */
        CHECK_INT(public_key_verify(pk, PUBLIC_KEY_ANY_HASH, "{\"critical\":{ }", 15, sig.data, sig.len, &err), 0);
        sig.data[sig.len / 2] ^= 1;
        CHECK_INT(public_key_verify(pk, PUBLIC_KEY_ANY_HASH, msg, strlen(msg), sig.data, sig.len, &err), 0);
        CHECK_INT(public_key_verify(pk, PUBLIC_KEY_ANY_HASH, msg, strlen(msg), "", 0, &err), 0);
        buffer_free(&sig);
        public_key_free(pk);
        free(pem);
        EVP_PKEY_free(k);
    }
}

static void public_key_strict_sha256_refuses_other_hashes(void)
{
    EVP_PKEY *k = tl_keygen("P-256");
    char *pem = tl_pubkey_pem(k);
    struct public_key *pk = NULL;
    struct error err = {0};
    CHECK_INT(public_key_from_pem(pem, strlen(pem), "k", &pk, &err), 0);
    struct buffer sig = BUFFER_INIT;
    tl_sign(k, "SHA384", false, "m", 1, &sig);
    CHECK_INT(public_key_verify(pk, PUBLIC_KEY_ANY_HASH, "m", 1, sig.data, sig.len, &err), 1);
    CHECK_INT(public_key_verify(pk, PUBLIC_KEY_SHA256, "m", 1, sig.data, sig.len, &err), 0);
    buffer_free(&sig);
    public_key_free(pk);
    free(pem);
    EVP_PKEY_free(k);
}

static void public_key_refuses_weak_wrong_or_private_keys(void)
{
    struct error err = {0};
    struct public_key *pk = NULL;
    EVP_PKEY *weak = tl_keygen("RSA-1024");
    char *pem = tl_pubkey_pem(weak);
    CHECK_INT(public_key_from_pem(pem, strlen(pem), "weak.pub", &pk, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    CHECK(strstr(err.message, "weak.pub: RSA key of 1024 bits is too small") != NULL);
    free(pem);
    EVP_PKEY_free(weak);
    EVP_PKEY *p224 = tl_keygen("P-224");
    pem = tl_pubkey_pem(p224);
    CHECK_INT(public_key_from_pem(pem, strlen(pem), "p224.pub", &pk, &err), -1);
    CHECK(strstr(err.message, "EC curve secp224r1 is not accepted") != NULL);
    free(pem);
    EVP_PKEY_free(p224);
    EVP_PKEY *k = tl_keygen("P-256");
    pem = tl_privkey_pem(k);
    CHECK_INT(public_key_from_pem(pem, strlen(pem), "cosign.key", &pk, &err), -1);
    CHECK(strstr(err.message, "cosign.key: holds a PRIVATE key") != NULL);
    free(pem);
    EVP_PKEY_free(k);
    CHECK_INT(public_key_from_pem("hello", 5, "junk.pub", &pk, &err), -1);
    CHECK(strstr(err.message, "junk.pub: no PEM public key") != NULL);
    CHECK_INT(public_key_from_der((const unsigned char *)"\x30\x03\x02\x01\x01", 5, "der", &pk, &err), -1);
    CHECK_INT(public_key_load_pem_file("/nonexistent/cosign.pub", &pk, &err), -1);
    CHECK(strstr(err.message, "/nonexistent/cosign.pub") != NULL);
}

/* ---------------------------------------------------------------------------- trusted_root */

static void trusted_root_times_parse_rfc3339(void)
{
    int64_t t = 0;
    CHECK_INT(trusted_root_parse_time("2021-10-07T13:56:59Z", 0, &t), 0);
    CHECK_INT(t, 1633615019);
    CHECK_INT(trusted_root_parse_time("2021-10-07T13:56:59.000Z", 1, &t), 0);
    CHECK_INT(t, 1633615019);
    CHECK_INT(trusted_root_parse_time("2021-10-07T13:56:59.5Z", 1, &t), 0);
    CHECK_INT(t, 1633615020); /* a window never opens early */
    CHECK_INT(trusted_root_parse_time("2021-10-07T13:56:59.5Z", 0, &t), 0);
    CHECK_INT(t, 1633615019);
    CHECK_INT(trusted_root_parse_time("2021-10-07T15:56:59+02:00", 0, &t), 0);
    CHECK_INT(t, 1633615019);
    const char *bad[] = {"",
                         "2021-10-07",
                         "2021-10-07T13:56:59",
                         "2021-13-07T13:56:59Z",
                         "2021-10-07T13:56:59Zjunk",
                         "2021-10-07T25:00:00Z",
                         "21-10-07T13:56:59Z"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_INT(trusted_root_parse_time(bad[i], 0, &t), -1);
    char out[32];
    trusted_root_format_time(1633615019, out);
    CHECK_STR(out, "2021-10-07T13:56:59Z");
}

static void trusted_root_reads_cas_and_logs(void)
{
    struct trusted_root *r = NULL;
    struct error err = {0};
    CHECK_INT(trusted_root_load(W.trusted_root_path, &r, &err), 0);
    if (!r)
        return;
    CHECK_INT(r->certificate_authority_count, 1);
    CHECK_INT(r->tlog_count, 1);
    CHECK_INT(sk_X509_num(r->certificate_authorities[0].chain), 2);
    CHECK_STR(r->certificate_authorities[0].uri, "https://fulcio.test");
    CHECK_INT(r->certificate_authorities[0].valid_from, 1577836800);
    CHECK_INT(r->certificate_authorities[0].valid_until, 2082758399);
    CHECK_INT(r->tlogs[0].valid_until, TRUSTED_ROOT_TIME_MAX);
    unsigned char id[32];
    tl_key_id(W.rekor_key, id);
    CHECK(trusted_root_find_tlog(r, id, 32) == &r->tlogs[0]);
    id[0] ^= 1;
    CHECK(trusted_root_find_tlog(r, id, 32) == NULL);
    trusted_root_free(r);
}

static void trusted_root_reports_malformed_input(void)
{
    struct {
        const char *json, *message;
    } cases[] = {
        {"[]", "a trusted root is a JSON object"},
        {"{\"mediaType\":\"application/vnd.dev.sigstore.trustedroot+json;version=9\"}", "mediaType"},
        {"{\"tlogs\":[{\"publicKey\":{\"rawBytes\":\"!!!\"}}]}", "tlogs[0].publicKey.rawBytes is not valid base64"},
        {"{\"tlogs\":[{\"publicKey\":{\"rawBytes\":\"AAAA\"}}]}", "not a DER SubjectPublicKeyInfo"},
        {"{\"certificateAuthorities\":[{\"certChain\":{\"certificates\":[{\"rawBytes\":\"AAAA\"}]}}]}",
         "certificateAuthorities[0].certChain.certificates[0].rawBytes is not a DER X.509 certificate"},
        {"{\"certificateAuthorities\":[{\"certChain\":{\"certificates\":[]}}]}", "missing or empty"},
        {"{\"tlogs\":{}}", "tlogs must be an array"},
        {"{\"tlogs\":[], \"tlogs\":[]}", "duplicate"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct trusted_root *r = NULL;
        struct error err = {0};
        CHECK_INT(trusted_root_parse(cases[i].json, strlen(cases[i].json), "root.json", &r, &err), -1);
        CHECK_INT(err.code, ERROR_INPUT);
        if (!strstr(err.message, cases[i].message))
            printf("  case %zu: %s\n", i, err.message);
        CHECK(strstr(err.message, cases[i].message) != NULL);
        CHECK(strncmp(err.message, "root.json", 9) == 0);
    }
    /* A bad validFor time is named with its place. */
    char *json = tl_trusted_root_json(W.inter, W.root, W.rekor_key, "{\"start\": \"yesterday\"}", NULL);
    struct trusted_root *r = NULL;
    struct error err = {0};
    CHECK_INT(trusted_root_parse(json, strlen(json), "root.json", &r, &err), -1);
    CHECK(strstr(err.message, "certificateAuthorities[0].validFor.start is not an RFC 3339 time") != NULL);
    free(json);
}

/* As strict as sigstore-go: a log key needs validFor.start. As tolerant as protobuf JSON: "end":
 * null, URL-safe unpadded base64, a PKCS#1 RSA log key (Sigstore's staging root has one). */
static void trusted_root_strict_and_tolerant_like_sigstore_go(void)
{
    struct trusted_root *r = NULL;
    struct error err = {0};
    const char *no_start[] = {"{}", "{\"end\": \"2030-01-01T00:00:00Z\"}", "{\"start\": null}"};
    for (int i = 0; i < 3; i++) {
        char *json = tl_trusted_root_json(W.inter, W.root, W.rekor_key, NULL, no_start[i]);
        CHECK_INT(trusted_root_parse(json, strlen(json), "root.json", &r, &err), -1);
        CHECK(strstr(err.message, "tlogs[0].publicKey.validFor.start is missing") != NULL);
        free(json);
    }
    char *json =
        tl_trusted_root_json(W.inter, W.root, W.rekor_key, "{\"start\": \"2020-01-01T00:00:00Z\", \"end\": null}",
                             "{\"start\": \"2020-01-01T00:00:00Z\", \"end\": null}");
    CHECK_INT(trusted_root_parse(json, strlen(json), "root.json", &r, &err), 0);
    if (r)
        CHECK(r->tlogs[0].valid_until == TRUSTED_ROOT_TIME_MAX &&
              r->certificate_authorities[0].valid_until == TRUSTED_ROOT_TIME_MAX);
    CHECK_STR(r ? r->tlogs[0].host : "", "rekor.test");
    trusted_root_free(r);
    r = NULL;
    free(json);
    /* the key as URL-safe base64 without padding */
    json = tl_trusted_root_json(W.inter, W.root, W.rekor_key, NULL, NULL);
    struct buffer der = BUFFER_INIT;
    tl_pubkey_der(W.rekor_key, &der);
    char *std = tl_b64(der.data, der.len), *url = xstrdup(std);
    for (char *c = url; *c; c++)
        *c = *c == '+' ? '-' : *c == '/' ? '_' : *c == '=' ? '\0' : *c;
    char *pos = strstr(json, std);
    char *j2 = xasprintf("%.*s%s%s", (int)(pos - json), json, url, pos + strlen(std));
    CHECK_INT(trusted_root_parse(j2, strlen(j2), "root.json", &r, &err), 0);
    trusted_root_free(r);
    r = NULL;
    free(j2);
    free(json);
    free(std);
    free(url);
    buffer_free(&der);
    /* a PKCS#1 RSAPublicKey as log key (keyDetails PKCS1_RSA_PKCS1V5), found by its stored logId */
    EVP_PKEY *rsa = tl_keygen("RSA");
    unsigned char *pkcs1 = NULL;
    int n = i2d_PublicKey(rsa, &pkcs1);
    CHECK(n > 0);
    char *k = tl_b64(pkcs1, (size_t)n);
    json = xasprintf("{\"tlogs\":[{\"baseUrl\":\"https://rekor.staging.test\",\"publicKey\":{\"rawBytes\":\"%s\","
                     "\"keyDetails\":\"PKCS1_RSA_PKCS1V5\",\"validFor\":{\"start\":\"2021-01-01T00:00:00Z\"}},"
                     "\"logId\":{\"keyId\":\"AAECAw==\"}}]}",
                     k);
    CHECK_INT(trusted_root_parse(json, strlen(json), "root.json", &r, &err), 0);
    if (!r)
        printf("  %s\n", err.message);
    if (r) {
        CHECK(trusted_root_find_tlog(r, (const unsigned char *)"\x00\x01\x02\x03", 4) == &r->tlogs[0]);
        CHECK_STR(public_key_describe(r->tlogs[0].key), "RSA 2048");
    }
    trusted_root_free(r);
    OPENSSL_free(pkcs1);
    free(k);
    free(json);
    EVP_PKEY_free(rsa);
}

/* ------------------------------------------------------------------------------ x509_chain */

static struct trusted_root *world_root(void)
{
    struct trusted_root *r = NULL;
    struct error err = {0};
    if (trusted_root_load(W.trusted_root_path, &r, &err) != 0)
        printf("  %s\n", err.message);
    return r;
}

static void x509_chain_verifies_at_the_signing_time_only(void)
{
    struct trusted_root *r = world_root();
    struct error err = {0};
    CHECK_INT(x509_chain_verify(W.leaf, r, TL_SIGNED_AT, "leaf", &err), 0);
    CHECK_INT(x509_chain_verify(W.leaf, r, TL_T0, "leaf", &err), 0);
    CHECK_INT(x509_chain_verify(W.leaf, r, TL_T0 + TL_LEAF_LIFETIME - 1, "leaf", &err), 0);
    /* at notAfter and after: expired at that time (OpenSSL counts notAfter itself as expired; Go
     * would still accept that one second) */
    CHECK_INT(x509_chain_verify(W.leaf, r, TL_T0 + TL_LEAF_LIFETIME + 1, "leaf", &err), -1);
    CHECK(strstr(err.message, "certificate has expired") != NULL);
    CHECK(strstr(err.message, "at the signing time 2025-06-15T15:16:41Z") != NULL);
    CHECK_INT(x509_chain_verify(W.leaf, r, TL_T0 - 1, "leaf", &err), -1);
    CHECK(strstr(err.message, "certificate is not yet valid") != NULL);
    /* outside the CA's validFor in the trusted root */
    CHECK_INT(x509_chain_verify(W.leaf, r, 2082758400LL + 10, "leaf", &err), -1);
    CHECK(strstr(err.message, "no certificate authority") != NULL);
    trusted_root_free(r);
}

static void x509_chain_refuses_untrusted_issuers_and_non_code_signing(void)
{
    struct trusted_root *r = world_root();
    struct error err = {0};
    /* A look-alike CA with the same names, not in the trusted root. */
    EVP_PKEY *evil_key = tl_keygen("P-256");
    struct tl_cert_spec spec = {
        "test-fulcio-intermediate", true, NULL, NULL, NULL, true, NULL, TL_CA_FROM, TL_CA_UNTIL};
    X509 *evil = tl_cert(evil_key, NULL, evil_key, &spec);
    struct tl_cert_spec leaf_spec = {NULL, false, "email:" TL_EMAIL, TL_ISSUER, TL_ISSUER, true,
                                     NULL, TL_T0, TL_T0 + 600};
    X509 *forged = tl_cert(W.leaf_key, evil, evil_key, &leaf_spec);
    CHECK_INT(x509_chain_verify(forged, r, TL_SIGNED_AT, "forged", &err), -1);
    CHECK(strstr(err.message, "does not chain to a Fulcio CA") != NULL);
    /* (A signature cannot bring a CA of its own: x509_chain_verify takes none, and
     * test_sigstore_bundle shows a bundle's chain certificates are ignored.) */
    /* Right CA, wrong usage. */
    struct tl_cert_spec tls = {NULL,         false, "email:" TL_EMAIL, TL_ISSUER, TL_ISSUER, false,
                               "serverAuth", TL_T0, TL_T0 + 600};
    X509 *server = tl_cert(W.leaf_key, W.inter, W.inter_key, &tls);
    CHECK_INT(x509_chain_verify(server, r, TL_SIGNED_AT, "tls", &err), -1);
    CHECK(strstr(err.message, "lacks the codeSigning extended key usage") != NULL);
    X509_free(server);
    X509_free(forged);
    X509_free(evil);
    EVP_PKEY_free(evil_key);
    trusted_root_free(r);
}

static void x509_chain_requires_an_sct_when_the_root_has_ct_logs(void)
{
    EVP_PKEY *ct = tl_keygen("P-256"), *other = tl_keygen("P-256");
    char *json = tl_trusted_root_json_ct(W.inter, W.root, W.rekor_key, ct);
    struct trusted_root *r = NULL;
    struct error err = {0};
    CHECK_INT(trusted_root_parse(json, strlen(json), "ct-root.json", &r, &err), 0);
    free(json);
    if (!r)
        return;
    CHECK_INT(r->ctlog_count, 1);
    /* a leaf without SCT: refused (the world's root, without CT logs, accepts it) */
    CHECK_INT(x509_chain_verify(W.leaf, r, TL_SIGNED_AT, "leaf", &err), -1);
    CHECK(strstr(err.message, "certificate carries no signed certificate timestamp") != NULL);
    /* a genuine SCT */
    X509 *x = tl_fulcio_leaf(&W, W.leaf_key, "email:" TL_EMAIL, TL_ISSUER, TL_T0);
    tl_embed_sct(x, W.inter, W.inter_key, ct, TL_T0, false);
    error_clear(&err);
    CHECK_INT(x509_chain_verify(x, r, TL_SIGNED_AT, "leaf", &err), 0);
    if (err.message[0])
        printf("  %s\n", err.message);
    X509_free(x);
    /* an SCT over other bytes, and one from a log the root does not list */
    const struct {
        EVP_PKEY *key;
        bool corrupt;
        const char *message;
    } bad[] = {{ct, true, "(1 from a known log)"}, {other, false, "(0 from a known log)"}};
    for (int i = 0; i < 2; i++) {
        x = tl_fulcio_leaf(&W, W.leaf_key, "email:" TL_EMAIL, TL_ISSUER, TL_T0);
        tl_embed_sct(x, W.inter, W.inter_key, bad[i].key, TL_T0, bad[i].corrupt);
        CHECK_INT(x509_chain_verify(x, r, TL_SIGNED_AT, "leaf", &err), -1);
        CHECK(strstr(err.message, "none of the certificate's 1 signed certificate timestamps verifies") != NULL);
        CHECK(strstr(err.message, bad[i].message) != NULL);
        X509_free(x);
    }
    trusted_root_free(r);
    EVP_PKEY_free(ct);
    EVP_PKEY_free(other);
}

static void x509_chain_reads_fulcio_identity(void)
{
    struct x509_chain_identity id;
    struct error err = {0};
    CHECK_INT(x509_chain_identity_read(W.leaf, "leaf", &id, &err), 0);
    CHECK_INT(id.san_count, 1);
    if (id.san_count)
        CHECK_STR(id.sans[0], TL_EMAIL);
    CHECK_STR(id.issuer, TL_ISSUER);
    char *fp = tl_cert_fingerprint(W.leaf);
    CHECK_STR(id.fingerprint, fp);
    free(fp);
    CHECK_INT(id.not_before, TL_T0);
    x509_chain_identity_free(&id);
    /* v1 only (old Fulcio), v2 only, URI SAN, otherName SAN */
    struct tl_cert_spec v1 = {NULL,
                              false,
                              "URI:https://github.com/siderolabs/talos/.github/workflows/release.yaml@refs/"
                              "tags/v1.11.0",
                              "https://token.actions.githubusercontent.com",
                              NULL,
                              true,
                              NULL,
                              TL_T0,
                              TL_T0 + 600};
    X509 *x = tl_cert(W.leaf_key, W.inter, W.inter_key, &v1);
    CHECK_INT(x509_chain_identity_read(x, "v1", &id, &err), 0);
    CHECK_STR(id.issuer, "https://token.actions.githubusercontent.com");
    CHECK_STR(id.san_count ? id.sans[0] : "", "https://github.com/siderolabs/talos/.github/workflows/release.yaml@refs/"
                                              "tags/v1.11.0");
    x509_chain_identity_free(&id);
    X509_free(x);
    struct tl_cert_spec other = {NULL,
                                 false,
                                 "otherName:1.3.6.1.4.1.57264.1.7;UTF8:bob!example.org",
                                 NULL,
                                 "https://example.org",
                                 true,
                                 NULL,
                                 TL_T0,
                                 TL_T0 + 600};
    x = tl_cert(W.leaf_key, W.inter, W.inter_key, &other);
    CHECK_INT(x509_chain_identity_read(x, "othername", &id, &err), 0);
    CHECK_STR(id.san_count ? id.sans[0] : "", "bob!example.org");
    CHECK_STR(id.issuer, "https://example.org");
    x509_chain_identity_free(&id);
    X509_free(x);
    /* Two different issuers: refuse, don't pick. */
    struct tl_cert_spec two = {
        NULL, false, "email:" TL_EMAIL, "https://accounts.google.com", "https://evil.example", true,
        NULL, TL_T0, TL_T0 + 600};
    x = tl_cert(W.leaf_key, W.inter, W.inter_key, &two);
    CHECK_INT(x509_chain_identity_read(x, "two", &id, &err), -1);
    CHECK(strstr(err.message, "names two OIDC issuers") != NULL);
    X509_free(x);
    /* NUL inside a SAN */
    struct tl_cert_spec nul = {NULL, false, "URI:https://a", NULL, TL_ISSUER, true, NULL, TL_T0, TL_T0 + 600};
    x = tl_cert(W.leaf_key, W.inter, W.inter_key, &nul);
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    X509_free(x);
    if (names) {
        ASN1_STRING_set(sk_GENERAL_NAME_value(names, 0)->d.uniformResourceIdentifier, "alice@example.com\0.evil", 23);
        x = tl_cert(W.leaf_key, W.inter, W.inter_key, &nul);
        int idx = X509_get_ext_by_NID(x, NID_subject_alt_name, -1);
        X509_EXTENSION *old = X509_delete_ext(x, idx);
        X509_EXTENSION_free(old);
        X509_add1_ext_i2d(x, NID_subject_alt_name, names, 1, X509V3_ADD_DEFAULT);
        CHECK_INT(x509_chain_identity_read(x, "nul", &id, &err), -1);
        CHECK(strstr(err.message, "SAN contains a NUL byte") != NULL);
        X509_free(x);
        GENERAL_NAMES_free(names);
    }
}

static void x509_chain_parses_pem_bundles(void)
{
    STACK_OF(X509) *certs = NULL;
    struct error err = {0};
    CHECK_INT(x509_chain_parse_pem(W.chain_pem, strlen(W.chain_pem), "chain", &certs, &err), 0);
    CHECK_INT(sk_X509_num(certs), 2);
    sk_X509_pop_free(certs, X509_free);
    CHECK_INT(x509_chain_parse_pem("junk", 4, "chain", &certs, &err), -1);
    CHECK(strstr(err.message, "chain: no PEM certificate") != NULL);
    const char *broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    CHECK_INT(x509_chain_parse_pem(broken, strlen(broken), "chain", &certs, &err), -1);
    CHECK(strstr(err.message, "certificate 1 is not valid") != NULL);
}

/* ----------------------------------------------------------------------------- rekor_entry */

static void rekor_set_payload_is_canonical_json(void)
{
    struct rekor_entry e;
    memset(&e, 0, sizeof e);
    e.body_base64 = "eyJhIjoxfQ==";
    e.integrated_time = 1661794466;
    e.log_index = 3281416;
    for (int i = 0; i < 32; i++)
        e.log_id[i] = (unsigned char)(0xc0 + (i & 15));
    e.log_id_len = 32;
    struct buffer out = BUFFER_INIT;
    rekor_entry_set_payload(&e, &out);
    CHECK_STR(buffer_cstr(&out), "{\"body\":\"eyJhIjoxfQ==\",\"integratedTime\":1661794466,\"logID\":"
                                 "\"c0c1c2c3c4c5c6c7c8c9cacbcccdcecfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf\","
                                 "\"logIndex\":3281416}");
    buffer_free(&out);
}

static void merkle_inclusion_matches_rfc6962_trees(void)
{
    unsigned char leaves[17][32], path[64][32], root[32], absent[32];
    tl_leaf_hash("absent", 6, absent);
    for (int i = 0; i < 17; i++) {
        char d[24];
        snprintf(d, sizeof d, "leaf %d", i);
        tl_leaf_hash(d, strlen(d), leaves[i]);
    }
    for (uint64_t n = 1; n <= 17; n++) {
        tl_mth(leaves, n, root);
        for (uint64_t m = 0; m < n; m++) {
            size_t count = 0;
            tl_path(leaves, m, n, path, &count);
            const unsigned char(*p)[32] = (const unsigned char(*)[32])path;
            CHECK(rekor_merkle_verify_inclusion(m, n, leaves[m], p, count, root));
            CHECK(!rekor_merkle_verify_inclusion(m, n, absent, p, count, root));
            if (count > 0) {
                path[count - 1][0] ^= 1;
                CHECK(!rekor_merkle_verify_inclusion(m, n, leaves[m], p, count, root));
                path[count - 1][0] ^= 1;
                CHECK(!rekor_merkle_verify_inclusion(m, n, leaves[m], p, count - 1, root));
            }
            if (m + 1 < n && count > 0)
                CHECK(!rekor_merkle_verify_inclusion(m + 1, n, leaves[m], p, count, root));
            CHECK(!rekor_merkle_verify_inclusion(n, n, leaves[m], p, count, root));
            /* an extra hash makes the proof too long */
            memcpy(path[count], leaves[0], 32);
            CHECK(!rekor_merkle_verify_inclusion(m, n, leaves[m], p, count + 1, root));
        }
    }
    /* The library's own hashes agree with the test's. */
    unsigned char a[32];
    rekor_merkle_leaf_hash("leaf 0", 6, a);
    CHECK(memcmp(a, leaves[0], 32) == 0);
}

static void checkpoint_verifies_only_with_the_log_key(void)
{
    unsigned char root[32], got[32];
    memset(root, 7, 32);
    char *cp = tl_checkpoint(W.rekor_key, "rekor.test - 42", 99, root);
    char *pem = tl_pubkey_pem(W.rekor_key);
    struct public_key *pk = NULL, *other_pk = NULL;
    struct error err = {0};
    CHECK_INT(public_key_from_pem(pem, strlen(pem), "rekor", &pk, &err), 0);
    uint64_t size = 0;
    CHECK_INT(rekor_checkpoint_verify(cp, pk, NULL, "cp", &size, got, &err), 0);
    CHECK_INT(size, 99);
    CHECK(memcmp(got, root, 32) == 0);
    /* tampered size */
    char *bad = xstrdup(cp);
    char *nl = strchr(bad, '\n');
    nl[2] = '8';
    CHECK_INT(rekor_checkpoint_verify(bad, pk, NULL, "cp", &size, got, &err), -1);
    CHECK(strstr(err.message, "checkpoint is not validly signed by the log key") != NULL);
    free(bad);
    /* another key */
    EVP_PKEY *other = tl_keygen("P-256");
    char *other_pem = tl_pubkey_pem(other);
    CHECK_INT(public_key_from_pem(other_pem, strlen(other_pem), "other", &other_pk, &err), 0);
    CHECK_INT(rekor_checkpoint_verify(cp, other_pk, NULL, "cp", &size, got, &err), -1);
    CHECK(strstr(err.message, "checkpoint is not signed by the log key") != NULL);
    /* not a note */
    CHECK_INT(rekor_checkpoint_verify("rekor.test\n1\nAAAA\n", pk, NULL, "cp", &size, got, &err), -1);
    CHECK(strstr(err.message, "not a signed note") != NULL);
    char *ascii = xstrdup(cp);
    char *dash = strstr(ascii, "\xE2\x80\x94");
    memcpy(dash, "--", 2);
    dash[2] = '-';
    CHECK_INT(rekor_checkpoint_verify(ascii, pk, NULL, "cp", &size, got, &err), -1);
    free(ascii);
    free(other_pem);
    EVP_PKEY_free(other);
    public_key_free(other_pk);
    public_key_free(pk);
    free(pem);
    free(cp);
}

static void rekor_entry_reads_both_forms_and_verifies(void)
{
    struct tl_entry te;
    tl_entry_make(&te, W.rekor_key, "{\"kind\":\"test\"}", TL_SIGNED_AT);
    struct trusted_root *r = world_root();
    struct error err = {0};
    struct rekor_entry e;
    struct rekor_entry_result res;
    char *legacy = tl_cosign_bundle(&te);
    CHECK_INT(rekor_entry_from_cosign_bundle(legacy, strlen(legacy), "legacy", &e, &err), 0);
    CHECK_INT(e.integrated_time, TL_SIGNED_AT);
    CHECK_INT(rekor_entry_verify(&e, r, "legacy", &res, &err), 0);
    CHECK(res.set_verified && !res.inclusion_verified);
    /* forged SET: any change to what it covers */
    e.integrated_time += 1;
    CHECK_INT(rekor_entry_verify(&e, r, "legacy", &res, &err), -1);
    CHECK(strstr(err.message, "signed entry timestamp of Rekor entry 123456789 does not verify") != NULL);
    rekor_entry_free(&e);
    free(legacy);

    char *json = tl_tlog_entry(&te, "dsse", "0.0.1", true, true);
    struct json_value *doc = NULL;
    CHECK_INT(json_parse(json, strlen(json), "entry", &doc, &err), 0);
    CHECK_INT(rekor_entry_from_bundle_json(doc, "entry", &e, &err), 0);
    CHECK_STR(e.kind, "dsse");
    CHECK_INT(e.proof_hash_count, te.hash_count);
    CHECK_INT(rekor_entry_verify(&e, r, "entry", &res, &err), 0);
    CHECK(res.set_verified && res.inclusion_verified);
    if (!e.proof_hashes || e.proof_hash_count < 2) {
        CHECK(!"the entry has an inclusion proof");
        return;
    }
    /* a bad inclusion proof */
    e.proof_hashes[1][3] ^= 0x80;
    CHECK_INT(rekor_entry_verify(&e, r, "entry", &res, &err), -1);
    CHECK(strstr(err.message, "inclusion proof of Rekor entry 123456789 (index 5 in a tree of 13) does not lead to "
                              "its root hash") != NULL);
    e.proof_hashes[1][3] ^= 0x80;
    /* a proof to another root than the signed checkpoint's */
    e.proof_root_hash[0] ^= 1;
    CHECK_INT(rekor_entry_verify(&e, r, "entry", &res, &err), -1);
    rekor_entry_free(&e);
    json_free(doc);
    free(json);

    /* a log the trusted root does not know */
    EVP_PKEY *other = tl_keygen("P-256");
    struct tl_entry unknown;
    tl_entry_make(&unknown, other, "{}", TL_SIGNED_AT);
    legacy = tl_cosign_bundle(&unknown);
    CHECK_INT(rekor_entry_from_cosign_bundle(legacy, strlen(legacy), "legacy", &e, &err), 0);
    CHECK_INT(rekor_entry_verify(&e, r, "legacy", &res, &err), -1);
    CHECK(strstr(err.message, "is not in trusted root") != NULL);
    rekor_entry_free(&e);
    free(legacy);
    tl_entry_free(&unknown);
    EVP_PKEY_free(other);

    /* the log key outside its validFor at integratedTime */
    char *json_root = tl_trusted_root_json(W.inter, W.root, W.rekor_key, NULL,
                                           "{\"start\":\"2020-01-01T00:00:00Z\",\"end\":\"2024-01-01T00:00:00Z\"}");
    struct trusted_root *old = NULL;
    CHECK_INT(trusted_root_parse(json_root, strlen(json_root), "old.json", &old, &err), 0);
    legacy = tl_cosign_bundle(&te);
    CHECK_INT(rekor_entry_from_cosign_bundle(legacy, strlen(legacy), "legacy", &e, &err), 0);
    CHECK_INT(rekor_entry_verify(&e, old, "legacy", &res, &err), -1);
    CHECK(strstr(err.message, "is not valid at the entry's integrated time 2025-06-15T15:07:40Z") != NULL);
    rekor_entry_free(&e);
    free(legacy);
    trusted_root_free(old);
    free(json_root);

    /* malformed legacy bundles */
    const char *bad[] = {"{}", "{\"Payload\":{\"body\":\"!!\",\"integratedTime\":1,\"logIndex\":1,\"logID\":\"aa\"}}",
                         "{\"SignedEntryTimestamp\":\"AA==\",\"Payload\":{\"body\":\"e30=\",\"integratedTime\":\"1\","
                         "\"logIndex\":1,\"logID\":\"aa\"}}",
                         "{\"SignedEntryTimestamp\":\"AA==\",\"Payload\":{\"body\":\"e30=\",\"integratedTime\":1,"
                         "\"logIndex\":1,\"logID\":\"xyz\"}}",
                         "not json"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_INT(rekor_entry_from_cosign_bundle(bad[i], strlen(bad[i]), "bad", &e, &err), -1);
        CHECK_INT(err.code, ERROR_INPUT);
    }
    trusted_root_free(r);
    tl_entry_free(&te);
}

static void rekor_body_reads_each_kind(void)
{
    struct buffer sig = BUFFER_INIT;
    buffer_append(&sig, "\x30\x06\x02\x01\x01\x02\x01\x01", 8);
    const char *content = "payload";
    char *bodies[3] = {tl_body_hashedrekord(content, strlen(content), &sig, W.leaf_pem),
                       tl_body_dsse(content, strlen(content), "{}", &sig, W.leaf_pem),
                       tl_body_intoto(content, strlen(content), &sig, W.leaf_pem)};
    const char *kinds[3] = {"hashedrekord", "dsse", "intoto"};
    for (int i = 0; i < 3; i++) {
        struct rekor_body b;
        struct error err = {0};
        CHECK_INT(rekor_body_parse(bodies[i], strlen(bodies[i]), "body", &b, &err), 0);
        CHECK_STR(b.kind, kinds[i]);
        CHECK_INT(b.signature.len, 8);
        CHECK_INT(rekor_body_check(&b, sig.data, sig.len, W.leaf, NULL, content, strlen(content), "body", &err), 0);
        CHECK_INT(rekor_body_check(&b, "x", 1, W.leaf, NULL, content, strlen(content), "body", &err), -1);
        CHECK(strstr(err.message, "logged a different signature") != NULL);
        CHECK_INT(rekor_body_check(&b, sig.data, sig.len, W.leaf, NULL, "other", 5, "body", &err), -1);
        CHECK(strstr(err.message, "but what was signed hashes to sha256:") != NULL);
        CHECK_INT(rekor_body_check(&b, sig.data, sig.len, W.inter, NULL, content, strlen(content), "body", &err), -1);
        CHECK(strstr(err.message, "logged a different certificate") != NULL);
        rekor_body_free(&b);
        free(bodies[i]);
    }
    struct rekor_body b;
    struct error err = {0};
    const char *rekord = "{\"apiVersion\":\"0.0.1\",\"kind\":\"rekord\",\"spec\":{}}";
    CHECK_INT(rekor_body_parse(rekord, strlen(rekord), "body", &b, &err), -1);
    CHECK(strstr(err.message, "kind rekord 0.0.1 is not supported") != NULL);
    buffer_free(&sig);
}

/* ----------------------------------------------------------------------- policy & receipts */

static void default_talos_policy_is_image_factory_s(void)
{
    struct verify_policy p;
    verify_policy_default_talos(&p);
    CHECK_STR(p.keyless_issuer, "https://accounts.google.com");
    CHECK_STR(p.keyless_identity_regexp,
              "(@siderolabs\\.com$|^releasemgr-svc@talos-production\\.iam\\.gserviceaccount\\.com$)");
    CHECK(!p.insecure && p.trusted_root_path == NULL && p.public_key_count == 0);
    /* the regexp, as POSIX ERE, accepts exactly the intended signers */
    regex_t re;
    CHECK_INT(regcomp(&re, p.keyless_identity_regexp, REG_EXTENDED | REG_NOSUB), 0);
    CHECK_INT(regexec(&re, "andrey.smirnov@siderolabs.com", 0, NULL, 0), 0);
    CHECK_INT(regexec(&re, "releasemgr-svc@talos-production.iam.gserviceaccount.com", 0, NULL, 0), 0);
    CHECK(regexec(&re, "mallory@siderolabs.com.evil.io", 0, NULL, 0) != 0);
    CHECK(regexec(&re, "x-releasemgr-svc@talos-production.iam.gserviceaccount.com", 0, NULL, 0) != 0);
    CHECK(regexec(&re, "alice@siderolabsXcom", 0, NULL, 0) != 0);
    regfree(&re);
    /* without a trusted root it cannot be used, and says why */
    struct verify_trust t;
    struct error err = {0};
    CHECK_INT(verify_trust_load(&p, &t, &err), -1);
    CHECK(strstr(err.message, "policy talos-default: keyless verification needs all three") != NULL);
    CHECK(strstr(err.message, "missing trusted-root") != NULL);
    verify_policy_free(&p);
    CHECK(p.name == NULL && p.keyless_issuer == NULL);
    verify_policy_free(&p); /* twice is harmless */
}

static void policy_mistakes_are_input_errors(void)
{
    struct verify_trust t;
    struct error err = {0};
    struct verify_policy p;
    tl_keyless_policy(&W, &p, "([unclosed", NULL);
    CHECK_INT(verify_trust_load(&p, &t, &err), -1);
    CHECK(strstr(err.message, "identity regexp '([unclosed' is not a POSIX extended regular expression") != NULL);
    verify_policy_free(&p);
    tl_keyless_policy(&W, &p, NULL, NULL);
    free(p.trusted_root_path);
    p.trusted_root_path = xstrdup("/nonexistent/trusted_root.json");
    CHECK_INT(verify_trust_load(&p, &t, &err), -1);
    CHECK(strstr(err.message, "policy keyless-test: ") == err.message);
    CHECK(strstr(err.message, "/nonexistent/trusted_root.json") != NULL);
    verify_policy_free(&p);
    memset(&p, 0, sizeof p);
    p.name = "nothing";
    CHECK_INT(verify_trust_load(&p, &t, &err), -1);
    CHECK(strstr(err.message, "policy nothing trusts nothing") != NULL);
    CHECK_INT(err.code, ERROR_INPUT);
    p.insecure = true;
    CHECK_INT(verify_trust_load(&p, &t, &err), 0);
    verify_trust_free(&t);
    char *path = "/nonexistent/cosign.pub";
    p.public_keys = &path;
    p.public_key_count = 1;
    CHECK_INT(verify_trust_load(&p, &t, &err), -1);
    CHECK(strstr(err.message, "policy nothing: ") == err.message);
}

static void receipt_json_lists_what_was_checked(void)
{
    struct verify_receipt r;
    memset(&r, 0, sizeof r);
    snprintf(r.method, sizeof r.method, "cosign-keyless");
    snprintf(r.policy, sizeof r.policy, "talos");
    snprintf(r.identity, sizeof r.identity, "a@siderolabs.com");
    snprintf(r.issuer, sizeof r.issuer, "https://accounts.google.com");
    snprintf(r.cert_fingerprint, sizeof r.cert_fingerprint, "sha256:ab");
    r.log_index = 7;
    r.integrated_time = 1700000000;
    struct buffer out = BUFFER_INIT;
    verify_receipt_to_json(&r, &out);
    CHECK_STR(buffer_cstr(&out), "{\"method\":\"cosign-keyless\",\"policy\":\"talos\",\"identity\":\"a@siderolabs.com\","
                                 "\"issuer\":\"https://accounts.google.com\",\"cert_fingerprint\":\"sha256:ab\","
                                 "\"log_index\":7,\"integrated_time\":1700000000}");
    buffer_reset(&out);
    memset(&r, 0, sizeof r);
    snprintf(r.method, sizeof r.method, "insecure");
    snprintf(r.policy, sizeof r.policy, "lab<1>");
    snprintf(r.detail, sizeof r.detail, "no signature found");
    r.log_index = r.integrated_time = -1;
    verify_receipt_to_json(&r, &out);
    CHECK_STR(buffer_cstr(&out), "{\"method\":\"insecure\",\"policy\":\"lab<1>\",\"detail\":\"no signature found\"}");
    buffer_free(&out);
}

static void json_escape_keeps_multibyte_utf8(void)
{
    /* Regression: the core writer emitted only the lead byte of a multi-byte character, which broke
     * every checkpoint (its signature lines start with U+2014) written into a bundle. */
    struct buffer b = BUFFER_INIT;
    json_escape(&b,
                "a\xE2\x80\x94"
                "b\xC3\xA9\xF0\x9F\x94\x91",
                11, false);
    CHECK_STR(buffer_cstr(&b), "\"a\xE2\x80\x94"
                               "b\xC3\xA9\xF0\x9F\x94\x91\"");
    buffer_reset(&b);
    json_escape(&b, "\xE2\x80x", 3, false);
    CHECK_STR(buffer_cstr(&b), "\"\\ufffd\\ufffdx\"");
    buffer_free(&b);
}

static void dsse_pae_matches_the_specification(void)
{
    struct buffer b = BUFFER_INIT;
    sigstore_bundle_pae("http://example.com/HelloWorld", "hello world", 11, &b);
    /* the example from the DSSE protocol document */
    CHECK_STR(buffer_cstr(&b), "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
    buffer_free(&b);
}

int main(void)
{
    tl_world_init(&W);
    RUN(public_key_fingerprint_is_sha256_of_der_spki);
    RUN(public_key_verifies_each_scheme_cosign_uses);
    RUN(public_key_strict_sha256_refuses_other_hashes);
    RUN(public_key_refuses_weak_wrong_or_private_keys);
    RUN(trusted_root_times_parse_rfc3339);
    RUN(trusted_root_reads_cas_and_logs);
    RUN(trusted_root_reports_malformed_input);
    RUN(trusted_root_strict_and_tolerant_like_sigstore_go);
    RUN(x509_chain_verifies_at_the_signing_time_only);
    RUN(x509_chain_refuses_untrusted_issuers_and_non_code_signing);
    RUN(x509_chain_requires_an_sct_when_the_root_has_ct_logs);
    RUN(x509_chain_reads_fulcio_identity);
    RUN(x509_chain_parses_pem_bundles);
    RUN(rekor_set_payload_is_canonical_json);
    RUN(merkle_inclusion_matches_rfc6962_trees);
    RUN(checkpoint_verifies_only_with_the_log_key);
    RUN(rekor_entry_reads_both_forms_and_verifies);
    RUN(rekor_body_reads_each_kind);
    RUN(default_talos_policy_is_image_factory_s);
    RUN(policy_mistakes_are_input_errors);
    RUN(receipt_json_lists_what_was_checked);
    RUN(dsse_pae_matches_the_specification);
    RUN(json_escape_keeps_multibyte_utf8);
    tl_world_free(&W);
    return TEST_MAIN_END();
}
