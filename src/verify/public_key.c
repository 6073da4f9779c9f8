/* public_key — load, name and verify with cosign/Sigstore signature keys (see public_key.h). */
#include "verify/public_key.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "airfactory/buffer.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/memory.h"

enum key_kind { KEY_ECDSA, KEY_RSA, KEY_RSA_PSS, KEY_ED25519 };

struct public_key {
    EVP_PKEY *pkey;
    enum key_kind kind;
    unsigned char *der; /* SubjectPublicKeyInfo */
    size_t der_len;
    unsigned char id[SHA256_BYTES];
    char fingerprint[8 + SHA256_HEX_LEN];
    char description[32];
};

#define PUBLIC_KEY_PEM_MAX (64 * 1024)

/* Decide whether the key is one we accept and fill kind/description. */
static int classify(struct public_key *k, const char *what, struct error *err)
{
    EVP_PKEY *p = k->pkey;
    if (EVP_PKEY_is_a(p, "EC")) {
        char group[64] = "";
        size_t group_len = 0;
        if (!EVP_PKEY_get_utf8_string_param(p, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &group_len))
            return error_set(err, ERROR_INPUT, "%s: EC key without a named curve; use P-256, P-384 or P-521", what);
        const char *name = NULL;
        if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
            name = "ECDSA P-256";
        else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
            name = "ECDSA P-384";
        else if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0)
            name = "ECDSA P-521";
        if (!name)
            return error_set(err, ERROR_INPUT, "%s: EC curve %s is not accepted; use P-256, P-384 or P-521", what, group);
        k->kind = KEY_ECDSA;
        snprintf(k->description, sizeof k->description, "%s", name);
        return 0;
    }
    if (EVP_PKEY_is_a(p, "RSA") || EVP_PKEY_is_a(p, "RSA-PSS")) {
        int bits = EVP_PKEY_get_bits(p);
        if (bits < 2048)
            return error_set(err, ERROR_INPUT, "%s: RSA key of %d bits is too small; use 2048 bits or more", what, bits);
        k->kind = EVP_PKEY_is_a(p, "RSA-PSS") ? KEY_RSA_PSS : KEY_RSA;
        snprintf(k->description, sizeof k->description, "%s %d", k->kind == KEY_RSA ? "RSA" : "RSA-PSS", bits);
        return 0;
    }
    if (EVP_PKEY_is_a(p, "ED25519")) {
        k->kind = KEY_ED25519;
        snprintf(k->description, sizeof k->description, "Ed25519");
        return 0;
    }
    return error_set(err, ERROR_INPUT, "%s: key type %s is not accepted; use ECDSA P-256/P-384/P-521, RSA or Ed25519",
                     what, EVP_PKEY_get0_type_name(p) ? EVP_PKEY_get0_type_name(p) : "unknown");
}

/* Takes ownership of pkey. */
static int finish(EVP_PKEY *pkey, const char *what, struct public_key **out, struct error *err)
{
    struct public_key *k = xcalloc(1, sizeof *k);
    k->pkey = pkey;
    if (classify(k, what, err) != 0) {
        public_key_free(k);
        return -1;
    }
    int n = i2d_PUBKEY(pkey, NULL);
    if (n <= 0) {
        public_key_free(k);
        ERR_clear_error();
        return error_set(err, ERROR_INPUT, "%s: public key cannot be encoded as SubjectPublicKeyInfo", what);
    }
    k->der = xmalloc((size_t)n);
    unsigned char *p = k->der;
    if (i2d_PUBKEY(pkey, &p) != n) {
        public_key_free(k);
        ERR_clear_error();
        return error_set(err, ERROR_RUNTIME, "%s: encoding the public key failed", what);
    }
    k->der_len = (size_t)n;
    sha256_bytes(k->der, k->der_len, k->id);
    char hex[SHA256_HEX_LEN + 1];
    hex_encode(k->id, SHA256_BYTES, hex);
    snprintf(k->fingerprint, sizeof k->fingerprint, "sha256:%s", hex);
    *out = k;
    return 0;
}

int public_key_from_der(const unsigned char *der, size_t len, const char *what, struct public_key **out, struct error *err)
{
    const unsigned char *p = der;
    if (len == 0 || len > PUBLIC_KEY_PEM_MAX)
        return error_set(err, ERROR_INPUT, "%s: public key of %zu bytes is not a DER SubjectPublicKeyInfo", what, len);
    EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)len);
    if (!pkey || p != der + len) {
        /* A PKCS#1 RSAPublicKey (trusted-root keyDetails PKCS1_RSA_PKCS1V5, which Sigstore's staging
         * root still uses): SEQUENCE {modulus, exponent}, never mistaken for an SPKI, whose first
         * element is a SEQUENCE. */
        EVP_PKEY_free(pkey);
        p = der;
        pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)len);
    }
    if (!pkey || p != der + len) {
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        return error_set(err, ERROR_INPUT,
                         "%s: not a DER SubjectPublicKeyInfo public key (nor a PKCS#1 RSA public key)", what);
    }
    ERR_clear_error();
    return finish(pkey, what, out, err);
}

int public_key_from_pem(const char *pem, size_t len, const char *what, struct public_key **out, struct error *err)
{
    if (len > PUBLIC_KEY_PEM_MAX)
        return error_set(err, ERROR_INPUT, "%s: %zu bytes is too large for a PEM public key", what, len);
    /* A policy key file must hold exactly a public key; a private key or a certificate there is a
     * mistake worth naming rather than something to guess around. */
    if (memmem(pem, len, "PRIVATE KEY-----", 16))
        return error_set(err, ERROR_INPUT, "%s: holds a PRIVATE key; give the public key (openssl pkey -pubout)", what);
    EVP_PKEY *pkey = NULL;
    OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, NULL, EVP_PKEY_PUBLIC_KEY, NULL, NULL);
    if (!dctx) {
        ERR_clear_error();
        return error_set(err, ERROR_RUNTIME, "%s: OpenSSL has no PEM public key decoder", what);
    }
    const unsigned char *data = (const unsigned char *)pem;
    size_t data_len = len;
    int ok = OSSL_DECODER_from_data(dctx, &data, &data_len);
    OSSL_DECODER_CTX_free(dctx);
    if (!ok || !pkey) {
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        return error_set(err, ERROR_INPUT, "%s: no PEM public key (expected -----BEGIN PUBLIC KEY-----)", what);
    }
    return finish(pkey, what, out, err);
}

int public_key_load_pem_file(const char *path, struct public_key **out, struct error *err)
{
    if (!fs_exists(path))
        return error_set(err, ERROR_INPUT, "%s: no such file", path);
    if (fs_is_dir(path))
        return error_set(err, ERROR_INPUT, "%s: is a directory, not a file", path);
    struct buffer b = BUFFER_INIT;
    if (fs_read_file(path, PUBLIC_KEY_PEM_MAX, &b, err) != 0) {
        buffer_free(&b);
        return -1;
    }
    int rc = public_key_from_pem(buffer_cstr(&b), b.len, path, out, err);
    buffer_free(&b);
    return rc;
}

int public_key_from_evp(EVP_PKEY *pkey, const char *what, struct public_key **out, struct error *err)
{
    if (!pkey || !EVP_PKEY_up_ref(pkey))
        return error_set(err, ERROR_INPUT, "%s: no public key, or one OpenSSL cannot decode", what);
    return finish(pkey, what, out, err);
}

void public_key_free(struct public_key *key)
{
    if (!key)
        return;
    EVP_PKEY_free(key->pkey);
    free(key->der);
    free(key);
}

const char *public_key_fingerprint(const struct public_key *key)
{
    return key->fingerprint;
}
const unsigned char *public_key_id(const struct public_key *key)
{
    return key->id;
}
const char *public_key_describe(const struct public_key *key)
{
    return key->description;
}
EVP_PKEY *public_key_evp(const struct public_key *key)
{
    return key->pkey;
}

const unsigned char *public_key_der(const struct public_key *key, size_t *len)
{
    *len = key->der_len;
    return key->der;
}

bool public_key_equal(const struct public_key *a, const struct public_key *b)
{
    return a && b && a->der_len == b->der_len && memcmp(a->der, b->der, a->der_len) == 0;
}

/* One attempt: md NULL means pure EdDSA. Returns 1 valid, 0 invalid, -1 OpenSSL failure. */
static int verify_once(const struct public_key *k, const char *md, int padding, const void *message, size_t message_len,
                       const void *signature, size_t signature_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return -1;
    EVP_PKEY_CTX *pctx = NULL;
    int rc = -1;
    if (EVP_DigestVerifyInit_ex(ctx, &pctx, md, NULL, NULL, k->pkey, NULL) != 1)
        goto out;
    if (padding != 0) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, padding) <= 0)
            goto out;
        if (padding == RSA_PKCS1_PSS_PADDING && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) <= 0)
            goto out;
    }
    int v = EVP_DigestVerify(ctx, signature, signature_len, message, message_len);
    rc = v == 1 ? 1 : 0;
out:
    EVP_MD_CTX_free(ctx);
    /* A bad signature leaves decoding errors on OpenSSL's queue; they are an answer, not news. */
    ERR_clear_error();
    return rc;
}

int public_key_verify(const struct public_key *key, enum public_key_hashes hashes, const void *message,
                      size_t message_len, const void *signature, size_t signature_len, struct error *err)
{
    if (signature_len == 0)
        return 0;
    if (key->kind == KEY_ED25519) {
        int v = verify_once(key, NULL, 0, message, message_len, signature, signature_len);
        if (v < 0)
            return error_set(err, ERROR_RUNTIME, "Ed25519 verification could not run");
        return v;
    }
    static const char *const all[] = {"SHA256", "SHA384", "SHA512"};
    size_t md_count = hashes == PUBLIC_KEY_SHA256 ? 1 : 3;
    bool any_ran = false;
    for (size_t i = 0; i < md_count; i++) {
        int paddings[2] = {0, 0};
        size_t padding_count = 1;
        if (key->kind == KEY_RSA) {
            paddings[0] = RSA_PKCS1_PADDING;
            paddings[1] = RSA_PKCS1_PSS_PADDING;
            padding_count = hashes == PUBLIC_KEY_SHA256 ? 1 : 2;
        }
        for (size_t j = 0; j < padding_count; j++) {
            int v = verify_once(key, all[i], paddings[j], message, message_len, signature, signature_len);
            if (v == 1)
                return 1;
            if (v == 0)
                any_ran = true;
        }
    }
    if (!any_ran)
        return error_set(err, ERROR_RUNTIME, "%s verification could not run", key->description);
    return 0;
}
