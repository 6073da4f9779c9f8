/* x509_chain — Fulcio certificate chains and identities (see x509_chain.h). */
#include "verify/x509_chain.h"

#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/ct.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "airfactory/buffer.h"
#include "core/digest.h"
#include "core/endian.h"
#include "core/memory.h"

#define X509_CHAIN_PEM_MAX (256 * 1024)
#define X509_CHAIN_MAX_CERTS 16

int x509_chain_parse_der(const unsigned char *der, size_t len, const char *what, X509 **out, struct error *err)
{
    if (len == 0 || len > X509_CHAIN_PEM_MAX)
        return error_set(err, ERROR_INPUT, "%s: %zu bytes is not a DER certificate", what, len);
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (!x || p != der + len) {
        X509_free(x);
        ERR_clear_error();
        return error_set(err, ERROR_INPUT, "%s: not a DER X.509 certificate", what);
    }
    *out = x;
    return 0;
}

int x509_chain_parse_pem(const char *pem, size_t len, const char *what, STACK_OF(X509) * *out, struct error *err)
{
    if (len > X509_CHAIN_PEM_MAX)
        return error_set(err, ERROR_INPUT, "%s: %zu bytes is too large for a certificate chain", what, len);
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    STACK_OF(X509) *certs = sk_X509_new_null();
    if (!bio || !certs) {
        BIO_free(bio);
        sk_X509_free(certs);
        return error_set(err, ERROR_RUNTIME, "%s: out of memory", what);
    }
    int rc = 0;
    for (;;) {
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!x) {
            unsigned long e = ERR_peek_last_error();
            bool at_end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
            ERR_clear_error();
            if (!at_end)
                rc = error_set(err, ERROR_INPUT, "%s: certificate %d is not valid PEM/DER", what, sk_X509_num(certs) + 1);
            break;
        }
        if (sk_X509_num(certs) >= X509_CHAIN_MAX_CERTS || !sk_X509_push(certs, x)) {
            X509_free(x);
            rc = error_set(err, ERROR_INPUT, "%s: more than %d certificates", what, X509_CHAIN_MAX_CERTS);
            break;
        }
    }
    BIO_free(bio);
    if (rc == 0 && sk_X509_num(certs) == 0)
        rc = error_set(err, ERROR_INPUT, "%s: no PEM certificate (expected -----BEGIN CERTIFICATE-----)", what);
    if (rc != 0) {
        sk_X509_pop_free(certs, X509_free);
        return -1;
    }
    *out = certs;
    return 0;
}

void x509_chain_fingerprint(X509 *cert, char out[80])
{
    unsigned char *der = NULL;
    int n = i2d_X509(cert, &der);
    if (n <= 0) {
        ERR_clear_error();
        snprintf(out, 80, "sha256:?");
        return;
    }
    unsigned char md[SHA256_BYTES];
    sha256_bytes(der, (size_t)n, md);
    OPENSSL_free(der);
    char hex[SHA256_HEX_LEN + 1];
    hex_encode(md, SHA256_BYTES, hex);
    snprintf(out, 80, "sha256:%s", hex);
}

int x509_chain_equal(X509 *a, X509 *b)
{
    char fa[80], fb[80];
    x509_chain_fingerprint(a, fa);
    x509_chain_fingerprint(b, fb);
    return strcmp(fa, fb) == 0 && strcmp(fa, "sha256:?") != 0;
}

static int asn1_time_to_unix(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm))
        return -1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

/* Go's rule (crypto/x509 checkChainForKeyUsage): a certificate without the extension allows any
 * usage; one with it must list codeSigning or anyExtendedKeyUsage. The leaf must list it. */
static int check_code_signing(STACK_OF(X509) * chain, const char *what, struct error *err)
{
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *c = sk_X509_value(chain, i);
        uint32_t flags = X509_get_extension_flags(c);
        if (flags & EXFLAG_INVALID)
            return error_set(err, ERROR_INPUT, "%s: certificate %d of the chain has invalid extensions", what, i);
        bool has = (flags & EXFLAG_XKUSAGE) != 0;
        uint32_t xku = X509_get_extended_key_usage(c);
        if (i == 0 && (!has || !(xku & XKU_CODE_SIGN)))
            return error_set(err, ERROR_INPUT,
                             "%s: signing certificate lacks the codeSigning extended key usage; it is not a "
                             "code-signing certificate",
                             what);
        if (i > 0 && has && !(xku & (XKU_CODE_SIGN | XKU_ANYEKU)))
            return error_set(err, ERROR_INPUT, "%s: CA certificate %d of the chain does not allow codeSigning", what, i);
    }
    return 0;
}

/* RFC 6962 §3.2: what a CT log signs for a precertificate, rebuilt from the final certificate:
 * version 0, signature_type certificate_timestamp (0), timestamp, entry_type precert_entry (1),
 * SHA-256 of the issuer's SubjectPublicKeyInfo, the TBSCertificate without the SCT list extension
 * (the precertificate's poison extension is what the SCT list replaced), then the SCT extensions. */
static int sct_signed_data(const SCT *sct, const unsigned char *tbs, size_t tbs_len,
                           const unsigned char issuer_key_hash[SHA256_BYTES], struct buffer *out)
{
    unsigned char head[12];
    uint64_t ts = SCT_get_timestamp(sct);
    head[0] = 0;
    head[1] = 0;
    for (int i = 0; i < 8; i++)
        head[2 + i] = (unsigned char)(ts >> (56 - 8 * i));
    head[10] = 0;
    head[11] = 1;
    buffer_append(out, head, sizeof head);
    buffer_append(out, issuer_key_hash, SHA256_BYTES);
    if (tbs_len >= (1u << 24))
        return -1;
    unsigned char len3[3];
    be_put_n(len3, tbs_len, 3);
    buffer_append(out, len3, 3);
    buffer_append(out, tbs, tbs_len);
    unsigned char *ext = NULL;
    size_t ext_len = SCT_get0_extensions(sct, &ext);
    if (ext_len >= (1u << 16))
        return -1;
    unsigned char len2[2];
    be16_put(len2, (uint16_t)ext_len);
    buffer_append(out, len2, 2);
    if (ext_len)
        buffer_append(out, ext, ext_len);
    return 0;
}

static const struct trusted_root_log *find_ctlog(const struct trusted_root *root, const unsigned char *id, size_t n)
{
    for (size_t i = 0; i < root->ctlog_count; i++) {
        const struct trusted_root_log *l = &root->ctlogs[i];
        if (!l->key)
            continue;
        if ((n == SHA256_BYTES && memcmp(public_key_id(l->key), id, n) == 0) ||
            (l->key_id_len == n && memcmp(l->key_id, id, n) == 0))
            return l;
    }
    return NULL;
}

/* Cosign and sigstore-go require an embedded SCT from a CT log of the trusted root. A trusted root
 * without CT logs (a private Fulcio without CT) means there is nothing to require. */
static int verify_scts(X509 *leaf, X509 *issuer, const struct trusted_root *root, const char *what, struct error *err)
{
    if (root->ctlog_count == 0)
        return 0;
    int crit = 0;
    STACK_OF(SCT) *scts = X509_get_ext_d2i(leaf, NID_ct_precert_scts, &crit, NULL);
    if (!scts) {
        ERR_clear_error();
        return error_set(err, ERROR_INPUT,
                         "%s: certificate carries no signed certificate timestamp, but trusted root %s lists CT logs; "
                         "Fulcio certificates embed one",
                         what, root->what);
    }
    int rc = -1;
    X509 *copy = X509_dup(leaf);
    unsigned char *tbs = NULL;
    int tbs_len = -1;
    unsigned char issuer_hash[SHA256_BYTES];
    unsigned char *spki = NULL;
    int spki_len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(issuer), &spki);
    if (copy && spki_len > 0) {
        int idx = X509_get_ext_by_NID(copy, NID_ct_precert_scts, -1);
        X509_EXTENSION_free(X509_delete_ext(copy, idx));
        tbs_len = i2d_re_X509_tbs(copy, &tbs);
        sha256_bytes(spki, (size_t)spki_len, issuer_hash);
    }
    if (tbs_len <= 0) {
        error_set(err, ERROR_RUNTIME, "%s: cannot re-encode the certificate to check its SCT", what);
        goto out;
    }
    int known = 0;
    for (int i = 0; i < sk_SCT_num(scts) && rc != 0; i++) {
        const SCT *sct = sk_SCT_value(scts, i);
        unsigned char *id = NULL, *sig = NULL;
        size_t id_len = SCT_get0_log_id(sct, &id), sig_len = SCT_get0_signature(sct, &sig);
        const struct trusted_root_log *log = find_ctlog(root, id, id_len);
        if (!log || SCT_get_version(sct) != SCT_VERSION_V1 || SCT_get_signature_nid(sct) == NID_undef)
            continue;
        known++;
        int64_t when = (int64_t)(SCT_get_timestamp(sct) / 1000);
        if (when < log->valid_from || when > log->valid_until)
            continue;
        struct buffer data = BUFFER_INIT;
        int v = sct_signed_data(sct, tbs, (size_t)tbs_len, issuer_hash, &data) == 0
                    ? public_key_verify(log->key, PUBLIC_KEY_SHA256, data.data, data.len, sig, sig_len, err)
                    : 0;
        buffer_free(&data);
        if (v < 0)
            goto out;
        if (v == 1)
            rc = 0;
    }
    if (rc != 0)
        error_set(err, ERROR_INPUT,
                  "%s: none of the certificate's %d signed certificate timestamps verifies with a CT log of %s (%d "
                  "from a known log)",
                  what, sk_SCT_num(scts), root->what, known);
out:
    OPENSSL_free(tbs);
    OPENSSL_free(spki);
    X509_free(copy);
    SCT_LIST_free(scts);
    ERR_clear_error();
    return rc;
}

int x509_chain_verify(X509 *leaf, const struct trusted_root *root, int64_t at, const char *what, struct error *err)
{
    char when[32];
    trusted_root_format_time(at, when);
    if (root->certificate_authority_count == 0)
        return error_set(err, ERROR_INPUT, "%s: trusted root %s lists no certificateAuthorities (Fulcio)", what,
                         root->what);
    char last_reason[256] = "";
    size_t in_window = 0;
    for (size_t i = 0; i < root->certificate_authority_count; i++) {
        const struct trusted_root_authority *ca = &root->certificate_authorities[i];
        if (at < ca->valid_from || at > ca->valid_until)
            continue;
        in_window++;
        int n = sk_X509_num(ca->chain);
        X509 *anchor = sk_X509_value(ca->chain, n - 1);
        X509_STORE *store = X509_STORE_new();
        STACK_OF(X509) *pool = sk_X509_new_null();
        X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        int verified = 0;
        if (!store || !pool || !ctx || !X509_STORE_add_cert(store, anchor)) {
            snprintf(last_reason, sizeof last_reason, "out of memory");
            goto next;
        }
        for (int j = 0; j < n - 1; j++)
            if (!sk_X509_push(pool, sk_X509_value(ca->chain, j)))
                goto next;
        if (!X509_STORE_CTX_init(ctx, store, leaf, pool))
            goto next;
        X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
        X509_VERIFY_PARAM_set_time(param, (time_t)at);
        X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
        if (X509_verify_cert(ctx) == 1) {
            verified = 1;
            STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
            if (check_code_signing(chain, what, err) != 0 ||
                (sk_X509_num(chain) > 1 && verify_scts(leaf, sk_X509_value(chain, 1), root, what, err) != 0))
                verified = -1;
        } else {
            int e = X509_STORE_CTX_get_error(ctx);
            snprintf(last_reason, sizeof last_reason, "%s (certificate %d of the chain)",
                     X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(ctx));
        }
    next:
        X509_STORE_CTX_free(ctx);
        sk_X509_free(pool); /* the certificates belong to the caller and the trusted root */
        X509_STORE_free(store);
        ERR_clear_error();
        if (verified == 1)
            return 0;
        if (verified < 0)
            return -1;
    }
    if (in_window == 0)
        return error_set(err, ERROR_INPUT,
                         "%s: no certificate authority in %s is valid at the signing time %s; the trusted root is "
                         "too old or too new for this signature",
                         what, root->what, when);
    return error_set(err, ERROR_INPUT,
                     "%s: certificate does not chain to a Fulcio CA of %s at the signing time %s: %s; use the "
                     "trusted root of the Sigstore instance that issued it",
                     what, root->what, when, last_reason);
}

static int push_san(struct x509_chain_identity *id, const ASN1_STRING *s, const char *what, const char *kind,
                    struct error *err)
{
    const unsigned char *data = ASN1_STRING_get0_data(s);
    int len = ASN1_STRING_length(s);
    if (len <= 0)
        return 0;
    if (memchr(data, '\0', (size_t)len))
        return error_set(err, ERROR_INPUT, "%s: certificate %s SAN contains a NUL byte", what, kind);
    id->sans = xrealloc(id->sans, (id->san_count + 1) * sizeof *id->sans);
    id->sans[id->san_count++] = xstrndup((const char *)data, (size_t)len);
    return 0;
}

static int read_sans(X509 *leaf, const char *what, struct x509_chain_identity *id, struct error *err)
{
    int crit = 0;
    GENERAL_NAMES *names = X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL);
    if (!names) {
        ERR_clear_error();
        if (crit == -2)
            return error_set(err, ERROR_INPUT, "%s: certificate has two subjectAltName extensions", what);
        return 0;
    }
    ASN1_OBJECT *othername_oid = OBJ_txt2obj(X509_CHAIN_OID_OTHERNAME, 1);
    int rc = 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(names) && rc == 0; i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type == GEN_URI)
            rc = push_san(id, g->d.uniformResourceIdentifier, what, "URI", err);
        else if (g->type == GEN_EMAIL)
            rc = push_san(id, g->d.rfc822Name, what, "email", err);
        else if (g->type == GEN_OTHERNAME && othername_oid && OBJ_cmp(g->d.otherName->type_id, othername_oid) == 0 &&
                 g->d.otherName->value && g->d.otherName->value->type == V_ASN1_UTF8STRING)
            rc = push_san(id, g->d.otherName->value->value.utf8string, what, "otherName", err);
    }
    ASN1_OBJECT_free(othername_oid);
    GENERAL_NAMES_free(names);
    return rc;
}

/* The extension's value bytes, or NULL when absent. Two extensions with one OID are an error. */
static int find_extension(X509 *leaf, const char *oid, const ASN1_OCTET_STRING **out, const char *what, struct error *err)
{
    *out = NULL;
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    if (!obj)
        return error_set(err, ERROR_RUNTIME, "OpenSSL cannot parse OID %s", oid);
    int idx = X509_get_ext_by_OBJ(leaf, obj, -1);
    int again = idx >= 0 ? X509_get_ext_by_OBJ(leaf, obj, idx) : -1;
    ASN1_OBJECT_free(obj);
    if (again >= 0)
        return error_set(err, ERROR_INPUT, "%s: certificate carries extension %s twice", what, oid);
    if (idx >= 0)
        *out = X509_EXTENSION_get_data(X509_get_ext(leaf, idx));
    return 0;
}

static int read_issuer(X509 *leaf, const char *what, struct x509_chain_identity *id, struct error *err)
{
    const ASN1_OCTET_STRING *v1 = NULL, *v2 = NULL;
    if (find_extension(leaf, X509_CHAIN_OID_ISSUER_V1, &v1, what, err) != 0 ||
        find_extension(leaf, X509_CHAIN_OID_ISSUER_V2, &v2, what, err) != 0)
        return -1;
    char *issuer_v1 = NULL, *issuer_v2 = NULL;
    if (v1) {
        const unsigned char *d = ASN1_STRING_get0_data(v1);
        int n = ASN1_STRING_length(v1);
        if (n <= 0 || memchr(d, '\0', (size_t)n))
            return error_set(err, ERROR_INPUT, "%s: OIDC issuer extension %s is empty or holds a NUL byte", what,
                             X509_CHAIN_OID_ISSUER_V1);
        issuer_v1 = xstrndup((const char *)d, (size_t)n);
    }
    if (v2) {
        const unsigned char *d = ASN1_STRING_get0_data(v2), *p = d;
        long n = ASN1_STRING_length(v2);
        ASN1_UTF8STRING *s = d2i_ASN1_UTF8STRING(NULL, &p, n);
        int len = s ? ASN1_STRING_length(s) : -1;
        if (!s || p != d + n || len <= 0 || memchr(ASN1_STRING_get0_data(s), '\0', (size_t)len)) {
            ASN1_UTF8STRING_free(s);
            ERR_clear_error();
            free(issuer_v1);
            return error_set(err, ERROR_INPUT, "%s: OIDC issuer extension %s is not a DER UTF8String", what,
                             X509_CHAIN_OID_ISSUER_V2);
        }
        issuer_v2 = xstrndup((const char *)ASN1_STRING_get0_data(s), (size_t)len);
        ASN1_UTF8STRING_free(s);
    }
    if (issuer_v1 && issuer_v2 && strcmp(issuer_v1, issuer_v2) != 0) {
        int rc = error_set(err, ERROR_INPUT, "%s: certificate names two OIDC issuers, %s (%s) and %s (%s)", what,
                           issuer_v2, X509_CHAIN_OID_ISSUER_V2, issuer_v1, X509_CHAIN_OID_ISSUER_V1);
        free(issuer_v1);
        free(issuer_v2);
        return rc;
    }
    if (issuer_v2) {
        id->issuer = issuer_v2;
        free(issuer_v1);
    } else {
        id->issuer = issuer_v1;
    }
    return 0;
}

int x509_chain_identity_read(X509 *leaf, const char *what, struct x509_chain_identity *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    x509_chain_fingerprint(leaf, out->fingerprint);
    if (asn1_time_to_unix(X509_get0_notBefore(leaf), &out->not_before) != 0 ||
        asn1_time_to_unix(X509_get0_notAfter(leaf), &out->not_after) != 0) {
        ERR_clear_error();
        return error_set(err, ERROR_INPUT, "%s: certificate validity times are malformed", what);
    }
    if (read_sans(leaf, what, out, err) != 0 || read_issuer(leaf, what, out, err) != 0) {
        x509_chain_identity_free(out);
        return -1;
    }
    return 0;
}

void x509_chain_identity_free(struct x509_chain_identity *id)
{
    for (size_t i = 0; i < id->san_count; i++)
        free(id->sans[i]);
    free(id->sans);
    free(id->issuer);
    memset(id, 0, sizeof *id);
}
