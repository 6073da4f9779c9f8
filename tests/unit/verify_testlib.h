/* verify_testlib — makes the test vectors of the verify suites with the OpenSSL API, at test time:
 * signing keys, a private Sigstore instance (Fulcio-like root + intermediate CA issuing 10-minute
 * leaf certificates with Fulcio's extensions, a Rekor-like log key signing SETs and checkpoints
 * over real RFC 6962 Merkle trees), its trusted_root.json, and the cosign objects (simple-signing
 * payloads, `.sig` manifests, Sigstore bundles, referrer manifests) in an in-memory verify_source.
 *
 * Everything here is written from the formats' specifications (cosign, protobuf-specs, Rekor,
 * RFC 6962/9162, DSSE) independently of src/verify, so a shared misunderstanding would have to be
 * made twice; tests/integration/verify.sh adds vectors made by the openssl CLI and a second
 * verifier (@sigstore/verify). Header-only because each test_*.c is its own program. */
#ifndef AIRFACTORY_TEST_VERIFY_TESTLIB_H
#define AIRFACTORY_TEST_VERIFY_TESTLIB_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/ct.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/base64.h"
#include "airfactory/buffer.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/memory.h"
#include "airfactory/verify.h"

#define TL __attribute__((unused)) static

/* Fixed times keep the vectors deterministic in meaning (signatures are randomized anyway). */
#define TL_T0 1750000000LL        /* 2025-06-15T15:06:40Z: leaf notBefore */
#define TL_LEAF_LIFETIME 600      /* Fulcio leaves live ten minutes */
#define TL_SIGNED_AT (TL_T0 + 60) /* integratedTime of good entries */
#define TL_CA_FROM 1577836800LL   /* 2020-01-01 */
#define TL_CA_UNTIL 2082758400LL  /* 2036-01-01 */
#define TL_ISSUER "https://accounts.example.com"
#define TL_EMAIL "alice@example.com"

TL void tl_die(const char *what)
{
    fprintf(stderr, "verify_testlib: %s failed\n", what);
    ERR_print_errors_fp(stderr);
    abort();
}

/* ------------------------------------------------------------------------------------ keys */

/* type: "P-256", "P-384", "RSA" (2048), "RSA-PSS" (2048), "ED25519", "RSA-1024" (too weak). */
TL EVP_PKEY *tl_keygen(const char *type)
{
    EVP_PKEY *k = NULL;
    if (strcmp(type, "P-256") == 0 || strcmp(type, "P-384") == 0 || strcmp(type, "P-224") == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", type);
    else if (strcmp(type, "RSA") == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    else if (strcmp(type, "RSA-1024") == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    else if (strcmp(type, "RSA-PSS") == 0) {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
        if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) <= 0 ||
            EVP_PKEY_generate(ctx, &k) <= 0)
            k = NULL;
        EVP_PKEY_CTX_free(ctx);
    } else if (strcmp(type, "ED25519") == 0)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!k)
        tl_die(type);
    return k;
}

TL char *tl_bio_take(BIO *bio)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *s = xstrndup(data, (size_t)n);
    BIO_free(bio);
    return s;
}

TL char *tl_pubkey_pem(EVP_PKEY *k)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio || !PEM_write_bio_PUBKEY(bio, k))
        tl_die("PEM_write_bio_PUBKEY");
    return tl_bio_take(bio);
}

TL char *tl_privkey_pem(EVP_PKEY *k)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio || !PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL))
        tl_die("PEM_write_bio_PrivateKey");
    return tl_bio_take(bio);
}

TL void tl_pubkey_der(EVP_PKEY *k, struct buffer *out)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    if (n <= 0)
        tl_die("i2d_PUBKEY");
    buffer_append(out, der, (size_t)n);
    OPENSSL_free(der);
}

TL void tl_key_id(EVP_PKEY *k, unsigned char id[32])
{
    struct buffer der = BUFFER_INIT;
    tl_pubkey_der(k, &der);
    sha256_bytes(der.data, der.len, id);
    buffer_free(&der);
}

TL char *tl_key_fingerprint(EVP_PKEY *k)
{
    unsigned char id[32];
    char hex[65];
    tl_key_id(k, id);
    hex_encode(id, 32, hex);
    return xasprintf("sha256:%s", hex);
}

/* Write a file in dir; returns the path. */
TL char *tl_write(const char *dir, const char *name, const void *data, size_t len)
{
    char *path = xasprintf("%s/%s", dir, name);
    struct error err = {0};
    if (fs_write_file_atomic(path, data, len, 0644, &err) != 0)
        tl_die(err.message);
    return path;
}

/* md: "SHA256"/"SHA384"/"SHA512", NULL for Ed25519. pss: RSA-PSS padding (salt = digest length). */
TL void tl_sign(EVP_PKEY *k, const char *md, bool pss, const void *msg, size_t len, struct buffer *sig)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    if (!ctx || EVP_DigestSignInit_ex(ctx, &pctx, md, NULL, NULL, k, NULL) != 1)
        tl_die("EVP_DigestSignInit_ex");
    if (pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
                EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0))
        tl_die("PSS padding");
    size_t n = 0;
    if (EVP_DigestSign(ctx, NULL, &n, msg, len) != 1)
        tl_die("EVP_DigestSign size");
    unsigned char *out = xmalloc(n);
    if (EVP_DigestSign(ctx, out, &n, msg, len) != 1)
        tl_die("EVP_DigestSign");
    buffer_reset(sig);
    buffer_append(sig, out, n);
    free(out);
    EVP_MD_CTX_free(ctx);
}

TL char *tl_b64(const void *data, size_t len)
{
    struct buffer b = BUFFER_INIT;
    base64_encode(data, len, &b);
    return buffer_take(&b);
}

TL char *tl_sha256_digest(const void *data, size_t len)
{
    char hex[65];
    sha256_hex(data, len, hex);
    return xasprintf("sha256:%s", hex);
}

/* ---------------------------------------------------------------------------- certificates */

struct tl_cert_spec {
    const char *cn; /* subject CN; NULL for an empty subject (Fulcio leaves) */
    bool ca;
    const char *san;       /* OpenSSL syntax: "email:a@b", "URI:https://…", "otherName:…" */
    const char *issuer_v1; /* raw extension 1.3.6.1.4.1.57264.1.1 */
    const char *issuer_v2; /* DER UTF8String extension 1.3.6.1.4.1.57264.1.8 */
    bool code_signing;     /* extendedKeyUsage codeSigning */
    const char *eku;       /* other extendedKeyUsage value, e.g. "serverAuth" */
    int64_t not_before, not_after;
};

TL void tl_add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
    if (!ext || !X509_add_ext(x, ext, -1))
        tl_die(value);
    X509_EXTENSION_free(ext);
}

TL void tl_add_raw_ext(X509 *x, const char *oid, const void *data, size_t len)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    if (!obj || !os || !ASN1_OCTET_STRING_set(os, data, (int)len))
        tl_die("octet string");
    X509_EXTENSION *ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
    if (!ext || !X509_add_ext(x, ext, -1))
        tl_die(oid);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
}

/* issuer NULL: self-signed with key. */
TL X509 *tl_cert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, const struct tl_cert_spec *s)
{
    static long serial = 1000;
    X509 *x = X509_new();
    if (!x || !X509_set_version(x, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(x), serial++))
        tl_die("X509_new");
    X509_NAME *name = X509_NAME_new();
    if (s->cn) {
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"airfactory-test", -1, -1, 0);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)s->cn, -1, -1, 0);
    }
    X509_set_subject_name(x, name);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509_NAME_free(name);
    if (!ASN1_TIME_set(X509_getm_notBefore(x), (time_t)s->not_before) ||
        !ASN1_TIME_set(X509_getm_notAfter(x), (time_t)s->not_after) || !X509_set_pubkey(x, key))
        tl_die("X509 fields");
    if (s->ca) {
        tl_add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
        tl_add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
        tl_add_ext(x, issuer, NID_subject_key_identifier, "hash");
    } else {
        tl_add_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
    }
    if (s->code_signing || s->eku) {
        char eku[128];
        snprintf(eku, sizeof eku, "%s%s%s", s->code_signing ? "codeSigning" : "", s->code_signing && s->eku ? "," : "",
                 s->eku ? s->eku : "");
        tl_add_ext(x, issuer, NID_ext_key_usage, eku);
    }
    if (issuer)
        tl_add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
    if (s->san) {
        char san[512];
        snprintf(san, sizeof san, "%s%s", s->cn ? "" : "critical,", s->san);
        tl_add_ext(x, issuer, NID_subject_alt_name, san);
    }
    if (s->issuer_v1)
        tl_add_raw_ext(x, "1.3.6.1.4.1.57264.1.1", s->issuer_v1, strlen(s->issuer_v1));
    if (s->issuer_v2) {
        size_t n = strlen(s->issuer_v2);
        unsigned char der[130];
        if (n > 127)
            tl_die("issuer too long for the short DER form");
        der[0] = 0x0c; /* UTF8String */
        der[1] = (unsigned char)n;
        memcpy(der + 2, s->issuer_v2, n);
        tl_add_raw_ext(x, "1.3.6.1.4.1.57264.1.8", der, n + 2);
    }
    const EVP_MD *md = EVP_PKEY_is_a(issuer_key, "ED25519")                                     ? NULL
                       : EVP_PKEY_is_a(issuer_key, "EC") && EVP_PKEY_get_bits(issuer_key) > 256 ? EVP_sha384()
                                                                                                : EVP_sha256();
    if (!X509_sign(x, issuer_key, md))
        tl_die("X509_sign");
    return x;
}

TL char *tl_cert_pem(X509 *x)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio || !PEM_write_bio_X509(bio, x))
        tl_die("PEM_write_bio_X509");
    return tl_bio_take(bio);
}

TL void tl_cert_der(X509 *x, struct buffer *out)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    if (n <= 0)
        tl_die("i2d_X509");
    buffer_append(out, der, (size_t)n);
    OPENSSL_free(der);
}

TL char *tl_cert_b64(X509 *x)
{
    struct buffer der = BUFFER_INIT;
    tl_cert_der(x, &der);
    char *s = tl_b64(der.data, der.len);
    buffer_free(&der);
    return s;
}

TL char *tl_cert_fingerprint(X509 *x)
{
    struct buffer der = BUFFER_INIT;
    tl_cert_der(x, &der);
    char *s = tl_sha256_digest(der.data, der.len);
    buffer_free(&der);
    return s;
}

/* ---------------------------------------------------------------------- a Sigstore instance */

struct tl_world {
    char dir[64];
    EVP_PKEY *root_key, *inter_key, *rekor_key, *leaf_key;
    X509 *root, *inter, *leaf;
    char *trusted_root_path;
    char *leaf_pem, *chain_pem;
};

/* A leaf as Fulcio issues it: empty subject, critical SAN, codeSigning, issuer v1 + v2. */
TL X509 *tl_fulcio_leaf(struct tl_world *w, EVP_PKEY *key, const char *san, const char *issuer, int64_t not_before)
{
    struct tl_cert_spec s = {NULL, false, san, issuer, issuer, true, NULL, not_before, not_before + TL_LEAF_LIFETIME};
    return tl_cert(key, w->inter, w->inter_key, &s);
}

/* trusted_root.json for one CA chain (intermediate, root) and one Rekor key; extra_tlog adds a
 * second log (unused) and ca_valid_for / log_valid_for override the validFor JSON. */
TL char *tl_trusted_root_json(X509 *inter, X509 *root, EVP_PKEY *rekor_key, const char *ca_valid_for,
                              const char *log_valid_for)
{
    struct buffer der = BUFFER_INIT;
    tl_pubkey_der(rekor_key, &der);
    char *key_b64 = tl_b64(der.data, der.len);
    unsigned char id[32];
    sha256_bytes(der.data, der.len, id);
    char *id_b64 = tl_b64(id, 32);
    buffer_free(&der);
    char *inter_b64 = inter ? tl_cert_b64(inter) : NULL;
    char *root_b64 = tl_cert_b64(root);
    char *chain = inter ? xasprintf("{\"rawBytes\":\"%s\"},{\"rawBytes\":\"%s\"}", inter_b64, root_b64)
                        : xasprintf("{\"rawBytes\":\"%s\"}", root_b64);
    char *json = xasprintf(
        "{\n  \"mediaType\": \"application/vnd.dev.sigstore.trustedroot+json;version=0.1\",\n"
        "  \"tlogs\": [{\"baseUrl\": \"https://rekor.test\", \"hashAlgorithm\": \"SHA2_256\",\n"
        "    \"publicKey\": {\"rawBytes\": \"%s\", \"keyDetails\": \"PKIX_ECDSA_P256_SHA_256\", \"validFor\": %s},\n"
        "    \"logId\": {\"keyId\": \"%s\"}}],\n"
        "  \"certificateAuthorities\": [{\"subject\": {\"organization\": \"airfactory-test\", \"commonName\": "
        "\"fulcio\"},\n    \"uri\": \"https://fulcio.test\", \"certChain\": {\"certificates\": [%s]},\n"
        "    \"validFor\": %s}],\n"
        "  \"ctlogs\": [],\n  \"timestampAuthorities\": []\n}\n",
        key_b64, log_valid_for ? log_valid_for : "{\"start\": \"2020-01-01T00:00:00Z\"}", id_b64, chain,
        ca_valid_for ? ca_valid_for : "{\"start\": \"2020-01-01T00:00:00.000Z\", \"end\": \"2035-12-31T23:59:59Z\"}");
    free(key_b64);
    free(id_b64);
    free(inter_b64);
    free(root_b64);
    free(chain);
    return json;
}

/* The same trusted root with one CT log (ct_key) added. */
TL char *tl_trusted_root_json_ct(X509 *inter, X509 *root, EVP_PKEY *rekor_key, EVP_PKEY *ct_key)
{
    char *json = tl_trusted_root_json(inter, root, rekor_key, NULL, NULL);
    struct buffer der = BUFFER_INIT;
    tl_pubkey_der(ct_key, &der);
    char *key_b64 = tl_b64(der.data, der.len);
    unsigned char id[32];
    sha256_bytes(der.data, der.len, id);
    char *id_b64 = tl_b64(id, 32);
    buffer_free(&der);
    char *ct = xasprintf("\"ctlogs\": [{\"baseUrl\": \"https://ctfe.test\", \"hashAlgorithm\": \"SHA2_256\", "
                         "\"publicKey\": {\"rawBytes\": \"%s\", \"keyDetails\": \"PKIX_ECDSA_P256_SHA_256\", "
                         "\"validFor\": {\"start\": \"2020-01-01T00:00:00Z\"}}, \"logId\": {\"keyId\": \"%s\"}}]",
                         key_b64, id_b64);
    char *pos = strstr(json, "\"ctlogs\": []");
    char *out = xasprintf("%.*s%s%s", (int)(pos - json), json, ct, pos + strlen("\"ctlogs\": []"));
    free(json);
    free(ct);
    free(key_b64);
    free(id_b64);
    return out;
}

/* Embed an RFC 6962 precertificate SCT from ct_key into x (issued by issuer/issuer_key) and
 * re-sign it, as Fulcio does. corrupt: sign something else, so the SCT does not verify. */
TL void tl_embed_sct(X509 *x, X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY *ct_key, int64_t when, bool corrupt)
{
    unsigned char *tbs = NULL;
    int tbs_len = i2d_re_X509_tbs(x, &tbs);
    struct buffer spki = BUFFER_INIT, data = BUFFER_INIT, sig = BUFFER_INIT;
    tl_pubkey_der(X509_get0_pubkey(issuer), &spki);
    unsigned char issuer_hash[32], log_id[32];
    sha256_bytes(spki.data, spki.len, issuer_hash);
    tl_key_id(ct_key, log_id);
    uint64_t ms = (uint64_t)when * 1000;
    unsigned char head[12] = {0, 0};
    for (int i = 0; i < 8; i++)
        head[2 + i] = (unsigned char)(ms >> (56 - 8 * i));
    head[10] = 0;
    head[11] = 1; /* precert_entry */
    buffer_append(&data, head, 12);
    buffer_append(&data, issuer_hash, 32);
    unsigned char len3[3] = {(unsigned char)(tbs_len >> 16), (unsigned char)(tbs_len >> 8), (unsigned char)tbs_len};
    buffer_append(&data, len3, 3);
    buffer_append(&data, tbs, (size_t)tbs_len);
    buffer_append(&data, "\0\0", 2); /* no extensions */
    if (corrupt)
        data.data[20] ^= 1;
    tl_sign(ct_key, "SHA256", false, data.data, data.len, &sig);
    SCT *sct = SCT_new();
    STACK_OF(SCT) *list = sk_SCT_new_null();
    if (!sct || !list || !SCT_set_version(sct, SCT_VERSION_V1) ||
        !SCT_set_log_entry_type(sct, CT_LOG_ENTRY_TYPE_PRECERT) || !SCT_set1_log_id(sct, log_id, 32) ||
        !SCT_set_signature_nid(sct, NID_ecdsa_with_SHA256) ||
        !SCT_set1_signature(sct, (unsigned char *)sig.data, sig.len) || !sk_SCT_push(list, sct))
        tl_die("SCT");
    SCT_set_timestamp(sct, ms);
    if (X509_add1_ext_i2d(x, NID_ct_precert_scts, list, 0, X509V3_ADD_APPEND) != 1 ||
        !X509_sign(x, issuer_key, EVP_sha384()))
        tl_die("embedding the SCT");
    SCT_LIST_free(list);
    OPENSSL_free(tbs);
    buffer_free(&spki);
    buffer_free(&data);
    buffer_free(&sig);
}

TL void tl_world_init(struct tl_world *w)
{
    memset(w, 0, sizeof *w);
    snprintf(w->dir, sizeof w->dir, "/tmp/airfactory-verify-test.XXXXXX");
    if (!mkdtemp(w->dir))
        tl_die("mkdtemp");
    w->root_key = tl_keygen("P-384");
    w->inter_key = tl_keygen("P-384");
    w->rekor_key = tl_keygen("P-256");
    w->leaf_key = tl_keygen("P-256");
    struct tl_cert_spec root = {"test-fulcio-root", true, NULL, NULL, NULL, false, NULL, TL_CA_FROM, TL_CA_UNTIL};
    w->root = tl_cert(w->root_key, NULL, w->root_key, &root);
    struct tl_cert_spec inter = {
        "test-fulcio-intermediate", true, NULL, NULL, NULL, true, NULL, TL_CA_FROM, TL_CA_UNTIL};
    w->inter = tl_cert(w->inter_key, w->root, w->root_key, &inter);
    w->leaf = tl_fulcio_leaf(w, w->leaf_key, "email:" TL_EMAIL, TL_ISSUER, TL_T0);
    w->leaf_pem = tl_cert_pem(w->leaf);
    char *inter_pem = tl_cert_pem(w->inter), *root_pem = tl_cert_pem(w->root);
    w->chain_pem = xasprintf("%s%s", inter_pem, root_pem);
    free(inter_pem);
    free(root_pem);
    char *json = tl_trusted_root_json(w->inter, w->root, w->rekor_key, NULL, NULL);
    w->trusted_root_path = tl_write(w->dir, "trusted_root.json", json, strlen(json));
    free(json);
}

TL void tl_world_free(struct tl_world *w)
{
    EVP_PKEY_free(w->root_key);
    EVP_PKEY_free(w->inter_key);
    EVP_PKEY_free(w->rekor_key);
    EVP_PKEY_free(w->leaf_key);
    X509_free(w->root);
    X509_free(w->inter);
    X509_free(w->leaf);
    free(w->trusted_root_path);
    free(w->leaf_pem);
    free(w->chain_pem);
    struct error err = {0};
    fs_remove_tree(w->dir, &err);
    memset(w, 0, sizeof *w);
}

/* A keyless policy for the world; strings are owned by the policy (verify_policy_free). */
TL void tl_keyless_policy(struct tl_world *w, struct verify_policy *p, const char *identity, const char *issuer)
{
    memset(p, 0, sizeof *p);
    p->name = xstrdup("keyless-test");
    p->keyless_issuer = xstrdup(issuer ? issuer : TL_ISSUER);
    p->keyless_identity_regexp = xstrdup(identity ? identity : "^alice@example\\.com$");
    p->trusted_root_path = xstrdup(w->trusted_root_path);
}

/* A key policy with the given public keys written under dir. */
TL void tl_key_policy(const char *dir, struct verify_policy *p, EVP_PKEY **keys, size_t n)
{
    memset(p, 0, sizeof *p);
    p->name = xstrdup("key-test");
    p->public_keys = xcalloc(n ? n : 1, sizeof *p->public_keys);
    for (size_t i = 0; i < n; i++) {
        char *pem = tl_pubkey_pem(keys[i]);
        char name[32];
        snprintf(name, sizeof name, "key%zu.pub", i);
        p->public_keys[i] = tl_write(dir, name, pem, strlen(pem));
        free(pem);
    }
    p->public_key_count = n;
}

/* ------------------------------------------------------------------------ Merkle and Rekor */

TL void tl_leaf_hash(const void *d, size_t n, unsigned char out[32])
{
    struct buffer b = BUFFER_INIT;
    buffer_append(&b, "\0", 1);
    buffer_append(&b, d, n);
    sha256_bytes(b.data, b.len, out);
    buffer_free(&b);
}

TL void tl_node_hash(const unsigned char l[32], const unsigned char r[32], unsigned char out[32])
{
    unsigned char b[65];
    b[0] = 1;
    memcpy(b + 1, l, 32);
    memcpy(b + 33, r, 32);
    sha256_bytes(b, 65, out);
}

TL uint64_t tl_split(uint64_t n)
{
    uint64_t k = 1;
    while (k << 1 < n)
        k <<= 1;
    return k;
}

/* RFC 6962 MTH over leaf hashes. */
TL void tl_mth(unsigned char (*leaves)[32], uint64_t n, unsigned char out[32])
{
    if (n == 1) {
        memcpy(out, leaves[0], 32);
        return;
    }
    uint64_t k = tl_split(n);
    unsigned char l[32], r[32];
    tl_mth(leaves, k, l);
    tl_mth(leaves + k, n - k, r);
    tl_node_hash(l, r, out);
}

/* RFC 6962 PATH(m, D[n]), appended to path. */
TL void tl_path(unsigned char (*leaves)[32], uint64_t m, uint64_t n, unsigned char (*path)[32], size_t *count)
{
    if (n == 1)
        return;
    uint64_t k = tl_split(n);
    if (m < k) {
        tl_path(leaves, m, k, path, count);
        tl_mth(leaves + k, n - k, path[(*count)++]);
    } else {
        tl_path(leaves + k, m - k, n - k, path, count);
        tl_mth(leaves, k, path[(*count)++]);
    }
}

struct tl_entry {
    char *body;
    int64_t integrated_time, log_index;
    unsigned char log_id[32];
    struct buffer set;
    int64_t proof_index, tree_size;
    unsigned char root_hash[32];
    unsigned char hashes[64][32];
    size_t hash_count;
    char *checkpoint;
};

TL char *tl_set_payload(const char *body_b64, int64_t t, const unsigned char log_id[32], int64_t log_index)
{
    char hex[65];
    hex_encode(log_id, 32, hex);
    return xasprintf("{\"body\":\"%s\",\"integratedTime\":%lld,\"logID\":\"%s\",\"logIndex\":%lld}", body_b64,
                     (long long)t, hex, (long long)log_index);
}

TL char *tl_checkpoint(EVP_PKEY *key, const char *origin, int64_t size, const unsigned char root[32])
{
    char *root_b64 = tl_b64(root, 32);
    char *note = xasprintf("%s\n%lld\n%s\n", origin, (long long)size, root_b64);
    struct buffer sig = BUFFER_INIT, blob = BUFFER_INIT;
    tl_sign(key, "SHA256", false, note, strlen(note), &sig);
    unsigned char id[32];
    tl_key_id(key, id);
    buffer_append(&blob, id, 4);
    buffer_append(&blob, sig.data, sig.len);
    char *sig_b64 = tl_b64(blob.data, blob.len);
    char *cp = xasprintf("%s\n\xE2\x80\x94 rekor.test %s\n", note, sig_b64);
    free(root_b64);
    free(note);
    free(sig_b64);
    buffer_free(&sig);
    buffer_free(&blob);
    return cp;
}

/* body at a fixed position (index 5 of a 13-leaf tree, so the path has every shape of step)
 * among filler leaves: e's tree size, proof index, root hash and audit path. */
TL void tl_entry_tree(struct tl_entry *e, const char *body, const char *filler)
{
    e->tree_size = 13;
    e->proof_index = 5;
    unsigned char leaves[13][32];
    for (int i = 0; i < 13; i++) {
        char other[48];
        snprintf(other, sizeof other, "%s %d", filler, i);
        if (i == 5)
            tl_leaf_hash(body, strlen(body), leaves[i]);
        else
            tl_leaf_hash(other, strlen(other), leaves[i]);
    }
    tl_mth(leaves, 13, e->root_hash);
    tl_path(leaves, 5, 13, e->hashes, &e->hash_count);
}

/* Log body in that tree, with a SET and a checkpoint signed by key. */
TL void tl_entry_make(struct tl_entry *e, EVP_PKEY *key, const char *body, int64_t t)
{
    memset(e, 0, sizeof *e);
    e->body = xstrdup(body);
    e->integrated_time = t;
    e->log_index = 123456789;
    tl_key_id(key, e->log_id);
    char *b64 = tl_b64(body, strlen(body));
    char *payload = tl_set_payload(b64, t, e->log_id, e->log_index);
    tl_sign(key, "SHA256", false, payload, strlen(payload), &e->set);
    free(payload);
    free(b64);
    tl_entry_tree(e, body, "other entry");
    e->checkpoint = tl_checkpoint(key, "rekor.test - 42", e->tree_size, e->root_hash);
}

TL void tl_entry_free(struct tl_entry *e)
{
    free(e->body);
    buffer_free(&e->set);
    free(e->checkpoint);
    memset(e, 0, sizeof *e);
}

/* dev.sigstore.cosign/bundle annotation value. */
TL char *tl_cosign_bundle(const struct tl_entry *e)
{
    char hex[65];
    hex_encode(e->log_id, 32, hex);
    char *body = tl_b64(e->body, strlen(e->body));
    char *set = tl_b64(e->set.data, e->set.len);
    char *json = xasprintf("{\"SignedEntryTimestamp\":\"%s\",\"Payload\":{\"body\":\"%s\",\"integratedTime\":%lld,"
                           "\"logIndex\":%lld,\"logID\":\"%s\"}}",
                           set, body, (long long)e->integrated_time, (long long)e->log_index, hex);
    free(body);
    free(set);
    return json;
}

/* JSON string escaping for checkpoint text (newlines) inside JSON. */
TL char *tl_json_string(const char *s)
{
    struct buffer b = BUFFER_INIT;
    json_escape(&b, s, strlen(s), false);
    return buffer_take(&b);
}

/* A bundle tlogEntries[] element. */
TL char *tl_tlog_entry(const struct tl_entry *e, const char *kind, const char *version, bool promise, bool proof)
{
    struct buffer b = BUFFER_INIT;
    char *id = tl_b64(e->log_id, 32);
    char *body = tl_b64(e->body, strlen(e->body));
    buffer_appendf(&b,
                   "{\"logIndex\":\"%lld\",\"logId\":{\"keyId\":\"%s\"},\"kindVersion\":{\"kind\":\"%s\","
                   "\"version\":\"%s\"},\"integratedTime\":\"%lld\"",
                   (long long)e->log_index, id, kind, version, (long long)e->integrated_time);
    if (promise) {
        char *set = tl_b64(e->set.data, e->set.len);
        buffer_appendf(&b, ",\"inclusionPromise\":{\"signedEntryTimestamp\":\"%s\"}", set);
        free(set);
    }
    if (proof) {
        char *root = tl_b64(e->root_hash, 32);
        char *cp = tl_json_string(e->checkpoint);
        buffer_appendf(&b,
                       ",\"inclusionProof\":{\"logIndex\":\"%lld\",\"rootHash\":\"%s\",\"treeSize\":\"%lld\","
                       "\"hashes\":[",
                       (long long)e->proof_index, root, (long long)e->tree_size);
        for (size_t i = 0; i < e->hash_count; i++) {
            char *h = tl_b64(e->hashes[i], 32);
            buffer_appendf(&b, "%s\"%s\"", i ? "," : "", h);
            free(h);
        }
        buffer_appendf(&b, "],\"checkpoint\":{\"envelope\":%s}}", cp);
        free(root);
        free(cp);
    }
    buffer_appendf(&b, ",\"canonicalizedBody\":\"%s\"}", body);
    free(id);
    free(body);
    return buffer_take(&b);
}

/* Rekor bodies, keys in the canonical (sorted) order Rekor stores. */
TL char *tl_body_hashedrekord(const void *content, size_t len, const struct buffer *sig, const char *pem)
{
    char hex[65];
    sha256_hex(content, len, hex);
    char *sig_b64 = tl_b64(sig->data, sig->len), *pem_b64 = tl_b64(pem, strlen(pem));
    char *s = xasprintf("{\"apiVersion\":\"0.0.1\",\"kind\":\"hashedrekord\",\"spec\":{\"data\":{\"hash\":{"
                        "\"algorithm\":\"sha256\",\"value\":\"%s\"}},\"signature\":{\"content\":\"%s\",\"publicKey\":{"
                        "\"content\":\"%s\"}}}}",
                        hex, sig_b64, pem_b64);
    free(sig_b64);
    free(pem_b64);
    return s;
}

TL char *tl_body_dsse(const void *payload, size_t len, const char *envelope, const struct buffer *sig, const char *pem)
{
    char phex[65], ehex[65];
    sha256_hex(payload, len, phex);
    sha256_hex(envelope, strlen(envelope), ehex);
    char *sig_b64 = tl_b64(sig->data, sig->len), *pem_b64 = tl_b64(pem, strlen(pem));
    char *s = xasprintf("{\"apiVersion\":\"0.0.1\",\"kind\":\"dsse\",\"spec\":{\"envelopeHash\":{\"algorithm\":"
                        "\"sha256\",\"value\":\"%s\"},\"payloadHash\":{\"algorithm\":\"sha256\",\"value\":\"%s\"},"
                        "\"signatures\":[{\"signature\":\"%s\",\"verifier\":\"%s\"}]}}",
                        ehex, phex, sig_b64, pem_b64);
    free(sig_b64);
    free(pem_b64);
    return s;
}

TL char *tl_body_intoto(const void *payload, size_t len, const struct buffer *sig, const char *pem)
{
    char phex[65];
    sha256_hex(payload, len, phex);
    char *sig_once = tl_b64(sig->data, sig->len);
    char *sig_twice = tl_b64(sig_once, strlen(sig_once));
    char *pem_b64 = tl_b64(pem, strlen(pem));
    char *s = xasprintf("{\"apiVersion\":\"0.0.2\",\"kind\":\"intoto\",\"spec\":{\"content\":{\"envelope\":{"
                        "\"payloadType\":\"application/vnd.in-toto+json\",\"signatures\":[{\"publicKey\":\"%s\","
                        "\"sig\":\"%s\"}]},\"hash\":{\"algorithm\":\"sha256\",\"value\":\"%s\"},\"payloadHash\":{"
                        "\"algorithm\":\"sha256\",\"value\":\"%s\"}}}}",
                        pem_b64, sig_twice, phex, phex);
    free(sig_once);
    free(sig_twice);
    free(pem_b64);
    return s;
}

/* ----------------------------------------------------------------- an in-memory OCI source */

struct tl_blob {
    char *digest;
    struct buffer data;
};

struct tl_source {
    struct tl_blob blobs[64];
    size_t blob_count;
    char *tags[8], *tag_digests[8];
    size_t tag_count;
    char *referrers[16];
    size_t referrer_count;
    bool fail;       /* every callback reports an I/O failure */
    bool omit_blobs; /* read_blob finds nothing */
};

TL const char *tl_add_blob(struct tl_source *s, const void *data, size_t len)
{
    char *digest = tl_sha256_digest(data, len);
    for (size_t i = 0; i < s->blob_count; i++)
        if (strcmp(s->blobs[i].digest, digest) == 0) {
            free(digest);
            return s->blobs[i].digest;
        }
    if (s->blob_count == 64)
        tl_die("too many blobs");
    struct tl_blob *b = &s->blobs[s->blob_count++];
    b->digest = digest;
    memset(&b->data, 0, sizeof b->data);
    buffer_append(&b->data, data, len);
    return b->digest;
}

TL void tl_tag(struct tl_source *s, const char *tag, const char *digest)
{
    s->tags[s->tag_count] = xstrdup(tag);
    s->tag_digests[s->tag_count++] = xstrdup(digest);
}

TL int tl_read_blob(void *ctx, const char *digest, size_t max, struct buffer *out, struct error *err)
{
    struct tl_source *s = ctx;
    if (s->fail)
        return error_set(err, ERROR_RUNTIME, "test source: reading %s failed: Input/output error", digest);
    if (s->omit_blobs)
        return 0;
    for (size_t i = 0; i < s->blob_count; i++)
        if (strcmp(s->blobs[i].digest, digest) == 0) {
            if (s->blobs[i].data.len > max)
                return error_set(err, ERROR_INPUT, "%s: blob larger than %zu bytes", digest, max);
            buffer_reset(out);
            buffer_append(out, s->blobs[i].data.data, s->blobs[i].data.len);
            return 1;
        }
    return 0;
}

TL int tl_read_tagged_manifest(void *ctx, const char *tag, struct buffer *out, struct error *err)
{
    struct tl_source *s = ctx;
    if (s->fail)
        return error_set(err, ERROR_RUNTIME, "test source: reading tag %s failed: Input/output error", tag);
    for (size_t i = 0; i < s->tag_count; i++)
        if (strcmp(s->tags[i], tag) == 0) {
            bool omit = s->omit_blobs;
            s->omit_blobs = false;
            int rc = tl_read_blob(ctx, s->tag_digests[i], 4 << 20, out, err);
            s->omit_blobs = omit;
            return rc;
        }
    return 0;
}

TL int tl_list_referrers(void *ctx, const char *subject, char ***digests, struct error *err)
{
    struct tl_source *s = ctx;
    (void)subject;
    if (s->fail)
        return error_set(err, ERROR_RUNTIME, "test source: listing referrers failed");
    if (s->referrer_count == 0)
        return 0;
    char **list = xcalloc(s->referrer_count + 1, sizeof *list);
    for (size_t i = 0; i < s->referrer_count; i++)
        list[i] = xstrdup(s->referrers[i]);
    *digests = list;
    return 1;
}

TL struct verify_source tl_source_make(struct tl_source *s)
{
    struct verify_source v = {s, tl_read_tagged_manifest, tl_list_referrers, tl_read_blob};
    return v;
}

/* One verify_image call of a suite: the source it reads, the image digest, and what it returned. */
struct tl_run {
    struct tl_source src;
    const char *image;
    struct verify_receipt r;
    struct error err;
    int rc;
};

TL void tl_run_verify(struct tl_run *t, struct verify_policy *p)
{
    struct verify_source vs = tl_source_make(&t->src);
    memset(&t->err, 0, sizeof t->err);
    t->rc = verify_image(p, &vs, t->image, &t->r, &t->err);
}

/* Whether the run's error message names needle; prints the message when it does not. */
TL bool tl_run_error_has(const struct tl_run *t, const char *needle)
{
    if (strstr(t->err.message, needle))
        return true;
    printf("  missing '%s' in: %s\n", needle, t->err.message);
    return false;
}

TL void tl_source_free(struct tl_source *s)
{
    for (size_t i = 0; i < s->blob_count; i++) {
        free(s->blobs[i].digest);
        buffer_free(&s->blobs[i].data);
    }
    for (size_t i = 0; i < s->tag_count; i++) {
        free(s->tags[i]);
        free(s->tag_digests[i]);
    }
    for (size_t i = 0; i < s->referrer_count; i++)
        free(s->referrers[i]);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------------- cosign objects */

/* The image being verified: a small manifest stored as a blob. */
TL const char *tl_image(struct tl_source *s, const char *label)
{
    char *m = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"size\":2,"
                        "\"digest\":\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\"},"
                        "\"layers\":[],\"annotations\":{\"label\":\"%s\"}}",
                        label);
    const char *d = tl_add_blob(s, m, strlen(m));
    free(m);
    return d;
}

/* cosign's payload, byte for byte as Go's json.Marshal writes it. */
TL char *tl_simple_payload(const char *digest)
{
    return xasprintf("{\"critical\":{\"identity\":{\"docker-reference\":\"registry.test/siderolabs/installer\"},"
                     "\"image\":{\"docker-manifest-digest\":\"%s\"},\"type\":\"cosign container image signature\"},"
                     "\"optional\":null}",
                     digest);
}

struct tl_layer {
    const char *payload;     /* stored as the layer blob */
    const char *signature;   /* base64 annotation value (NULL: omitted) */
    const char *certificate; /* PEM */
    const char *chain;       /* PEM */
    const char *bundle;      /* Rekor bundle JSON */
    const char *media_type;  /* default: simple signing */
    const char *timestamp;   /* dev.sigstore.cosign/rfc3161timestamp JSON */
};

TL void tl_annotation(struct buffer *b, bool *first, const char *key, const char *value)
{
    if (!value)
        return;
    buffer_appendf(b, "%s", *first ? "" : ",");
    *first = false;
    json_escape(b, key, strlen(key), false);
    buffer_append_char(b, ':');
    json_escape(b, value, strlen(value), false);
}

/* A `sha256-<hex>.sig` manifest with the layers; tags it for image_digest. */
TL void tl_publish_legacy(struct tl_source *s, const char *image_digest, const struct tl_layer *layers, size_t n)
{
    struct buffer m = BUFFER_INIT;
    buffer_appendf(&m, "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                       "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"size\":233,"
                       "\"digest\":\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"},"
                       "\"layers\":[");
    for (size_t i = 0; i < n; i++) {
        const struct tl_layer *l = &layers[i];
        const char *d = tl_add_blob(s, l->payload, strlen(l->payload));
        buffer_appendf(&m, "%s{\"mediaType\":\"%s\",\"size\":%zu,\"digest\":\"%s\",\"annotations\":{", i ? "," : "",
                       l->media_type ? l->media_type : "application/vnd.dev.cosign.simplesigning.v1+json",
                       strlen(l->payload), d);
        bool first = true;
        tl_annotation(&m, &first, "dev.cosignproject.cosign/signature", l->signature);
        tl_annotation(&m, &first, "dev.sigstore.cosign/certificate", l->certificate);
        tl_annotation(&m, &first, "dev.sigstore.cosign/chain", l->chain);
        tl_annotation(&m, &first, "dev.sigstore.cosign/bundle", l->bundle);
        tl_annotation(&m, &first, "dev.sigstore.cosign/rfc3161timestamp", l->timestamp);
        buffer_appendf(&m, "}}");
    }
    buffer_appendf(&m, "]}");
    const char *md = tl_add_blob(s, m.data, m.len);
    char tag[80];
    snprintf(tag, sizeof tag, "sha256-%s.sig", image_digest + 7);
    tl_tag(s, tag, md);
    buffer_free(&m);
}

/* cosign's signing statement about digest. */
TL char *tl_statement(const char *digest)
{
    return xasprintf("{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[{\"digest\":{\"sha256\":\"%s\"},"
                     "\"annotations\":{}}],\"predicateType\":\"https://sigstore.dev/cosign/sign/v1\",\"predicate\":{}}",
                     digest + 7);
}

TL void tl_pae(const char *type, const char *payload, struct buffer *out)
{
    buffer_reset(out);
    buffer_appendf(out, "DSSEv1 %zu %s %zu %s", strlen(type), type, strlen(payload), payload);
}

/* The bundle JSON. material: the verificationMaterial members (without braces); envelope: the
 * dsseEnvelope object. */
TL char *tl_bundle(const char *media_type, const char *material, const char *envelope)
{
    return xasprintf("{\"mediaType\":\"%s\",\"verificationMaterial\":{%s},\"dsseEnvelope\":%s}",
                     media_type ? media_type : "application/vnd.dev.sigstore.bundle.v0.3+json", material, envelope);
}

TL char *tl_envelope(const char *payload_type, const char *payload, const struct buffer *sig)
{
    char *p = tl_b64(payload, strlen(payload)), *s = tl_b64(sig->data, sig->len);
    char *e =
        xasprintf("{\"payload\":\"%s\",\"payloadType\":\"%s\",\"signatures\":[{\"sig\":\"%s\"}]}", p, payload_type, s);
    free(p);
    free(s);
    return e;
}

/* Store bundle as an OCI referrer of image_digest, the way cosign v3 attaches it. */
TL const char *tl_publish_bundle(struct tl_source *s, const char *image_digest, const char *bundle,
                                 const char *artifact_type, const char *subject)
{
    const char *bd = tl_add_blob(s, bundle, strlen(bundle));
    const char *at = artifact_type ? artifact_type : "application/vnd.dev.sigstore.bundle.v0.3+json";
    char *m = xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{"
        "\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"size\":2,\"digest\":"
        "\"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\",\"artifactType\":\"%s\"},"
        "\"layers\":[{\"mediaType\":\"%s\",\"size\":%zu,\"digest\":\"%s\"}],\"annotations\":{"
        "\"dev.sigstore.bundle.content\":\"dsse-envelope\",\"dev.sigstore.bundle.predicateType\":"
        "\"https://sigstore.dev/cosign/sign/v1\"},\"subject\":{\"mediaType\":"
        "\"application/vnd.oci.image.manifest.v1+json\",\"size\":100,\"digest\":\"%s\"},\"artifactType\":\"%s\"}",
        at, at, strlen(bundle), bd, subject ? subject : image_digest, at);
    const char *md = tl_add_blob(s, m, strlen(m));
    free(m);
    s->referrers[s->referrer_count++] = xstrdup(md);
    return md;
}

/* A complete keyless bundle for digest signed by the world's leaf, with a dsse entry (SET +
 * proof). Caller frees. */
TL char *tl_keyless_bundle(struct tl_world *w, const char *digest, bool promise, bool proof)
{
    char *statement = tl_statement(digest);
    struct buffer pae = BUFFER_INIT, sig = BUFFER_INIT;
    tl_pae("application/vnd.in-toto+json", statement, &pae);
    tl_sign(w->leaf_key, "SHA256", false, pae.data, pae.len, &sig);
    char *envelope = tl_envelope("application/vnd.in-toto+json", statement, &sig);
    char *body = tl_body_dsse(statement, strlen(statement), envelope, &sig, w->leaf_pem);
    struct tl_entry e;
    tl_entry_make(&e, w->rekor_key, body, TL_SIGNED_AT);
    char *tlog = tl_tlog_entry(&e, "dsse", "0.0.1", promise, proof);
    char *cert = tl_cert_b64(w->leaf);
    char *material = xasprintf("\"certificate\":{\"rawBytes\":\"%s\"},\"tlogEntries\":[%s]", cert, tlog);
    char *bundle = tl_bundle(NULL, material, envelope);
    free(statement);
    free(envelope);
    free(body);
    free(tlog);
    free(cert);
    free(material);
    tl_entry_free(&e);
    buffer_free(&pae);
    buffer_free(&sig);
    return bundle;
}

/* ------------------------------------------------------------- Rekor v2 and a timestamp authority */

/* A Rekor v2 log (rekor-tiles): Ed25519 key, checkpoints named after the host of its baseUrl, log
 * ID the C2SP signed-note key ID SHA-256(name || 0x0A || 0x01 || key) as Sigstore's trusted root
 * stores it. A TSA: a self-signed root and a leaf with the critical timeStamping EKU. */
#define TL_V2_HOST "log2026-1.rekor-v2.test"
#define TL_TSA_URI "https://tsa.test/api/v1/timestamp"

struct tl_v2 {
    EVP_PKEY *log_key;
    unsigned char log_id[32];
    EVP_PKEY *tsa_root_key, *tsa_key;
    X509 *tsa_root, *tsa_leaf;
    char *trusted_root_path; /* the world's root plus this log and TSA */
};

/* The C2SP signed-note key ID of an Ed25519 key under name, written here from c2sp.org/signed-note
 * (not from src/verify). */
TL void tl_c2sp_key_id(EVP_PKEY *k, const char *name, unsigned char out[32])
{
    unsigned char raw[32];
    size_t n = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(k, raw, &n) != 1 || n != 32)
        tl_die("EVP_PKEY_get_raw_public_key");
    struct buffer b = BUFFER_INIT;
    buffer_append(&b, name, strlen(name));
    buffer_append(&b, "\n\x01", 2);
    buffer_append(&b, raw, 32);
    sha256_bytes(b.data, b.len, out);
    buffer_free(&b);
}

/* trusted_root.json of the world with the v2 log and the TSA added; tsa_valid_for overrides the
 * TSA's validFor JSON. */
TL char *tl_trusted_root_json_v2(struct tl_world *w, struct tl_v2 *v, const char *tsa_valid_for)
{
    char *json = tl_trusted_root_json(w->inter, w->root, w->rekor_key, NULL, NULL);
    struct buffer der = BUFFER_INIT;
    tl_pubkey_der(v->log_key, &der);
    char *key_b64 = tl_b64(der.data, der.len), *id_b64 = tl_b64(v->log_id, 32);
    buffer_free(&der);
    char *log = xasprintf("}, {\"baseUrl\": \"https://" TL_V2_HOST "\", \"hashAlgorithm\": \"SHA2_256\", \"publicKey\": "
                          "{\"rawBytes\": \"%s\", \"keyDetails\": \"PKIX_ED25519\", \"validFor\": {\"start\": "
                          "\"2025-01-01T00:00:00Z\", \"end\": null}}, \"logId\": {\"keyId\": \"%s\"}}],\n"
                          "  \"certificateAuthorities\"",
                          key_b64, id_b64);
    const char *anchor = "}],\n  \"certificateAuthorities\"";
    char *pos = strstr(json, anchor);
    if (!pos)
        tl_die("trusted root layout");
    char *with_log = xasprintf("%.*s%s%s", (int)(pos - json), json, log, pos + strlen(anchor));
    char *leaf = tl_cert_b64(v->tsa_leaf), *root = tl_cert_b64(v->tsa_root);
    char *tsa = xasprintf("\"timestampAuthorities\": [{\"subject\": {\"organization\": \"airfactory-test\", "
                          "\"commonName\": \"tsa\"}, \"uri\": \"" TL_TSA_URI "\", \"certChain\": {\"certificates\": "
                          "[{\"rawBytes\": \"%s\"}, {\"rawBytes\": \"%s\"}]}, \"validFor\": %s}]",
                          leaf, root, tsa_valid_for ? tsa_valid_for : "{\"start\": \"2025-01-01T00:00:00Z\"}");
    pos = strstr(with_log, "\"timestampAuthorities\": []");
    char *out = xasprintf("%.*s%s%s", (int)(pos - with_log), with_log, tsa, pos + strlen("\"timestampAuthorities\": []"));
    free(json);
    free(key_b64);
    free(id_b64);
    free(log);
    free(with_log);
    free(leaf);
    free(root);
    free(tsa);
    return out;
}

TL void tl_v2_init(struct tl_v2 *v, struct tl_world *w)
{
    memset(v, 0, sizeof *v);
    v->log_key = tl_keygen("ED25519");
    tl_c2sp_key_id(v->log_key, TL_V2_HOST, v->log_id);
    v->tsa_root_key = tl_keygen("P-384");
    v->tsa_key = tl_keygen("P-256");
    struct tl_cert_spec root = {"test-tsa-root", true, NULL, NULL, NULL, false, NULL, TL_CA_FROM, TL_CA_UNTIL};
    v->tsa_root = tl_cert(v->tsa_root_key, NULL, v->tsa_root_key, &root);
    struct tl_cert_spec leaf = {"test-tsa", false,      NULL, NULL, NULL, false, "critical,timeStamping",
                                TL_CA_FROM, TL_CA_UNTIL};
    v->tsa_leaf = tl_cert(v->tsa_key, v->tsa_root, v->tsa_root_key, &leaf);
    char *json = tl_trusted_root_json_v2(w, v, NULL);
    v->trusted_root_path = tl_write(w->dir, "trusted_root_v2.json", json, strlen(json));
    free(json);
}

TL void tl_v2_free(struct tl_v2 *v)
{
    EVP_PKEY_free(v->log_key);
    EVP_PKEY_free(v->tsa_root_key);
    EVP_PKEY_free(v->tsa_key);
    X509_free(v->tsa_root);
    X509_free(v->tsa_leaf);
    free(v->trusted_root_path);
    memset(v, 0, sizeof *v);
}

/* A C2SP checkpoint: origin line = name, signed by key (Ed25519, pure) under name. */
TL char *tl_checkpoint_v2(EVP_PKEY *key, const char *name, int64_t size, const unsigned char root[32])
{
    char *root_b64 = tl_b64(root, 32);
    char *note = xasprintf("%s\n%lld\n%s\n", name, (long long)size, root_b64);
    struct buffer sig = BUFFER_INIT, blob = BUFFER_INIT;
    tl_sign(key, NULL, false, note, strlen(note), &sig);
    unsigned char id[32];
    tl_c2sp_key_id(key, name, id);
    buffer_append(&blob, id, 4);
    buffer_append(&blob, sig.data, sig.len);
    char *sig_b64 = tl_b64(blob.data, blob.len);
    char *cp = xasprintf("%s\n\xE2\x80\x94 %s %s\n", note, name, sig_b64);
    free(root_b64);
    free(note);
    free(sig_b64);
    buffer_free(&sig);
    buffer_free(&blob);
    return cp;
}

/* A Rekor v2 entry: no SET, no integrated time; body at index 5 of a 13-leaf tree, proven by a
 * checkpoint of key under name. */
TL void tl_entry_make_v2(struct tl_entry *e, EVP_PKEY *key, const char *name, const char *body)
{
    memset(e, 0, sizeof *e);
    e->body = xstrdup(body);
    e->log_index = 5;
    tl_c2sp_key_id(key, name, e->log_id);
    tl_entry_tree(e, body, "other v2 entry");
    e->checkpoint = tl_checkpoint_v2(key, name, e->tree_size, e->root_hash);
}

/* protobuf-JSON Rekor v2 Signature {content, verifier {x509Certificate {rawBytes}, keyDetails}},
 * keys in RFC 8785 order. */
TL char *tl_v2_signature(const struct buffer *sig, X509 *cert)
{
    char *s = tl_b64(sig->data, sig->len), *c = tl_cert_b64(cert);
    char *out = xasprintf("{\"content\":\"%s\",\"verifier\":{\"keyDetails\":\"PKIX_ECDSA_P256_SHA_256\","
                          "\"x509Certificate\":{\"rawBytes\":\"%s\"}}}",
                          s, c);
    free(s);
    free(c);
    return out;
}

/* A Rekor v2 body, canonical JSON: kind "hashedrekord" logs SHA-256 of content (for a DSSE
 * envelope: its PAE), kind "dsse" the payloadHash of content (the DSSE payload); one signature. */
TL char *tl_body_v2(const char *kind, const void *content, size_t len, const struct buffer *sig, X509 *cert)
{
    unsigned char md[32];
    sha256_bytes(content, len, md);
    char *d = tl_b64(md, 32), *signature = tl_v2_signature(sig, cert);
    bool dsse = strcmp(kind, "dsse") == 0;
    char *out = xasprintf("{\"apiVersion\":\"0.0.2\",\"kind\":\"%s\",\"spec\":{\"%s\":{\"%s\":{\"algorithm\":"
                          "\"SHA2_256\",\"digest\":\"%s\"},\"%s\":%s%s%s}}}",
                          kind, dsse ? "dsseV002" : "hashedRekordV002", dsse ? "payloadHash" : "data", d,
                          dsse ? "signatures" : "signature", dsse ? "[" : "", signature, dsse ? "]" : "");
    free(d);
    free(signature);
    return out;
}

/* A bundle tlogEntries[] element for a Rekor v2 entry (no integratedTime, no inclusionPromise). */
TL char *tl_tlog_entry_v2(const struct tl_entry *e, const char *kind)
{
    struct buffer b = BUFFER_INIT;
    char *id = tl_b64(e->log_id, 32), *body = tl_b64(e->body, strlen(e->body)), *root = tl_b64(e->root_hash, 32);
    char *cp = tl_json_string(e->checkpoint);
    buffer_appendf(&b,
                   "{\"logIndex\":\"%lld\",\"logId\":{\"keyId\":\"%s\"},\"kindVersion\":{\"kind\":\"%s\","
                   "\"version\":\"0.0.2\"},\"inclusionProof\":{\"logIndex\":\"%lld\",\"rootHash\":\"%s\","
                   "\"treeSize\":\"%lld\",\"hashes\":[",
                   (long long)e->log_index, id, kind, (long long)e->proof_index, root, (long long)e->tree_size);
    for (size_t i = 0; i < e->hash_count; i++) {
        char *h = tl_b64(e->hashes[i], 32);
        buffer_appendf(&b, "%s\"%s\"", i ? "," : "", h);
        free(h);
    }
    buffer_appendf(&b, "],\"checkpoint\":{\"envelope\":%s}},\"canonicalizedBody\":\"%s\"}", cp, body);
    free(id);
    free(body);
    free(root);
    free(cp);
    return buffer_take(&b);
}

__attribute__((unused)) static long tl_tsa_time_value;
TL int tl_tsa_time_cb(TS_RESP_CTX *ctx, void *data, long *sec, long *usec)
{
    (void)ctx;
    (void)data;
    *sec = tl_tsa_time_value;
    *usec = 0;
    return 1;
}

TL ASN1_INTEGER *tl_tsa_serial_cb(TS_RESP_CTX *ctx, void *data)
{
    (void)ctx;
    (void)data;
    ASN1_INTEGER *n = ASN1_INTEGER_new();
    if (!n || !ASN1_INTEGER_set(n, 42))
        tl_die("serial");
    return n;
}

/* A DER TimeStampResp from key/cert (ESSCertIDv2, SHA-256 imprint of data) at Unix time at. */
TL void tl_timestamp(EVP_PKEY *key, X509 *cert, const void *data, size_t len, int64_t at, struct buffer *out)
{
    unsigned char md[32];
    sha256_bytes(data, len, md);
    TS_REQ *req = TS_REQ_new();
    TS_MSG_IMPRINT *imprint = TS_MSG_IMPRINT_new();
    X509_ALGOR *alg = X509_ALGOR_new();
    if (!req || !imprint || !alg || !X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL) ||
        !TS_MSG_IMPRINT_set_algo(imprint, alg) || !TS_MSG_IMPRINT_set_msg(imprint, md, 32) ||
        !TS_REQ_set_version(req, 1) || !TS_REQ_set_msg_imprint(req, imprint) || !TS_REQ_set_cert_req(req, 1))
        tl_die("TS_REQ");
    unsigned char *req_der = NULL;
    int req_len = i2d_TS_REQ(req, &req_der);
    BIO *req_bio = BIO_new_mem_buf(req_der, req_len);
    TS_RESP_CTX *ctx = TS_RESP_CTX_new();
    ASN1_OBJECT *policy = OBJ_txt2obj("1.3.6.1.4.1.57264.2", 1);
    if (!req_bio || !ctx || !policy || !TS_RESP_CTX_set_signer_cert(ctx, cert) || !TS_RESP_CTX_set_signer_key(ctx, key) ||
        !TS_RESP_CTX_set_signer_digest(ctx, EVP_sha256()) || !TS_RESP_CTX_set_def_policy(ctx, policy) ||
        !TS_RESP_CTX_add_md(ctx, EVP_sha256()) || !TS_RESP_CTX_set_ess_cert_id_digest(ctx, EVP_sha256()))
        tl_die("TS_RESP_CTX");
    tl_tsa_time_value = (long)at;
    TS_RESP_CTX_set_time_cb(ctx, tl_tsa_time_cb, NULL);
    TS_RESP_CTX_set_serial_cb(ctx, tl_tsa_serial_cb, NULL);
    TS_RESP *resp = TS_RESP_create_response(ctx, req_bio);
    unsigned char *der = NULL;
    int n = resp ? i2d_TS_RESP(resp, &der) : -1;
    if (n <= 0 || ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(resp))) != 0)
        tl_die("TS_RESP_create_response");
    buffer_reset(out);
    buffer_append(out, der, (size_t)n);
    OPENSSL_free(der);
    OPENSSL_free(req_der);
    TS_RESP_free(resp);
    TS_RESP_CTX_free(ctx);
    ASN1_OBJECT_free(policy);
    BIO_free(req_bio);
    TS_MSG_IMPRINT_free(imprint);
    X509_ALGOR_free(alg);
    TS_REQ_free(req);
}

/* "timestampVerificationData":{"rfc3161Timestamps":[{"signedTimestamp":…}]} */
TL char *tl_timestamp_material(const struct buffer *der)
{
    char *b = tl_b64(der->data, der->len);
    char *out = xasprintf("\"timestampVerificationData\":{\"rfc3161Timestamps\":[{\"signedTimestamp\":\"%s\"}]}", b);
    free(b);
    return out;
}

#endif
