/* secureboot — see secureboot.h. */
#include "imager/secureboot.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>
#include <openssl/rand.h>
#include <openssl/bn.h>
#include <openssl/sha.h>

#include "core/base64.h"
#include "core/digest.h"
#include "core/endian.h"
#include "core/fs.h"
#include "core/memory.h"

#define PEM_MAX (1u << 20)

static int openssl_error(struct error *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int openssl_error(struct error *err, int code, const char *fmt, ...)
{
    unsigned long e = ERR_get_error();
    char text[256] = "";
    if (e)
        ERR_error_string_n(e, text, sizeof text);
    ERR_clear_error();
    struct buffer what = BUFFER_INIT;
    va_list ap;
    va_start(ap, fmt);
    buffer_vappendf(&what, fmt, ap);
    va_end(ap);
    if (text[0])
        buffer_appendf(&what, " (%s)", text);
    error_set(err, code, "%s", buffer_cstr(&what));
    buffer_free(&what);
    return -1;
}

/* Refuse to prompt for a pass phrase: encrypted keys are an input error with a hint. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    *(bool *)u = true;
    return -1;
}

static int load_rsa_key(const char *path, const char *what, EVP_PKEY **out, struct error *err)
{
    struct buffer text = BUFFER_INIT;
    if (fs_read_file(path, PEM_MAX, &text, err) != 0) {
        if (err)
            err->code = ERROR_INPUT;
        return error_prefix(err, "secureboot %s: ", what);
    }
    BIO *bio = BIO_new_mem_buf(text.data ? text.data : "", (int)text.len);
    bool encrypted = false;
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_password, &encrypted) : NULL;
    BIO_free(bio);
    buffer_free(&text);
    if (!key) {
        ERR_clear_error();
        if (encrypted)
            return error_set(err, ERROR_INPUT,
                             "%s: secureboot %s is encrypted; decrypt it (openssl rsa -in %s -out "
                             "KEY.pem) and keep it on the build host only",
                             path, what, path);
        return error_set(err, ERROR_INPUT,
                         "%s: secureboot %s is not a PEM private key (expected \"-----BEGIN RSA "
                         "PRIVATE KEY-----\" or \"-----BEGIN PRIVATE KEY-----\"); make one with `airfactory keygen "
                         "--secureboot`",
                         path, what);
    }
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
        EVP_PKEY_free(key);
        return error_set(err, ERROR_INPUT,
                         "%s: secureboot %s is not an RSA key; UEFI SecureBoot and Talos need RSA "
                         "(2048 or 4096 bits)",
                         path, what);
    }
    int bits = EVP_PKEY_get_bits(key);
    if (bits < 2048 || bits > 8192) {
        EVP_PKEY_free(key);
        return error_set(err, ERROR_INPUT, "%s: secureboot %s is RSA %d bits; use 2048 to 4096 bits", path, what, bits);
    }
    *out = key;
    return 0;
}

void secureboot_signer_free(struct secureboot_signer *s)
{
    if (!s)
        return;
    if (s->pcr_key != s->key)
        EVP_PKEY_free(s->pcr_key);
    EVP_PKEY_free(s->key);
    X509_free(s->cert);
    free(s->cert_pem);
    OPENSSL_free(s->cert_der);
    free(s);
}

int secureboot_signer_load(const char *key_path, const char *cert_path, const char *pcr_key_path,
                           struct secureboot_signer **out, struct error *err)
{
    *out = NULL;
    if (!key_path || !cert_path)
        return error_set(err, ERROR_INPUT,
                         "secureboot: both a signing key and its certificate are needed; give "
                         "secureboot: {signing_key: KEY.pem, signing_cert: CERT.pem} in the manifest");
    struct secureboot_signer *s = xcalloc(1, sizeof *s);
    if (load_rsa_key(key_path, "signing key", &s->key, err) != 0) {
        secureboot_signer_free(s);
        return -1;
    }
    struct buffer text = BUFFER_INIT;
    if (fs_read_file(cert_path, PEM_MAX, &text, err) != 0) {
        if (err)
            err->code = ERROR_INPUT;
        secureboot_signer_free(s);
        return error_prefix(err, "secureboot signing certificate: ");
    }
    BIO *bio = BIO_new_mem_buf(text.data ? text.data : "", (int)text.len);
    s->cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    buffer_free(&text);
    if (!s->cert) {
        ERR_clear_error();
        secureboot_signer_free(s);
        return error_set(err, ERROR_INPUT,
                         "%s: secureboot signing certificate is not a PEM X.509 certificate "
                         "(\"-----BEGIN CERTIFICATE-----\"); give the certificate of the signing key",
                         cert_path);
    }
    if (X509_check_private_key(s->cert, s->key) != 1) {
        ERR_clear_error();
        secureboot_signer_free(s);
        return error_set(err, ERROR_INPUT,
                         "%s: secureboot signing certificate does not belong to the signing key %s; "
                         "give the matching pair (compare `openssl x509 -noout -pubkey -in CERT` with `openssl pkey "
                         "-pubout -in KEY`)",
                         cert_path, key_path);
    }
    if (pcr_key_path) {
        if (load_rsa_key(pcr_key_path, "PCR signing key", &s->pcr_key, err) != 0) {
            secureboot_signer_free(s);
            return -1;
        }
    } else {
        s->pcr_key = s->key;
    }
    BIO *mem = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n = 0;
    if (!mem || !PEM_write_bio_X509(mem, s->cert) || (n = BIO_get_mem_data(mem, &data)) <= 0) {
        BIO_free(mem);
        secureboot_signer_free(s);
        return openssl_error(err, ERROR_RUNTIME, "%s: cannot encode the certificate", cert_path);
    }
    s->cert_pem = xmalloc((size_t)n + 1);
    memcpy(s->cert_pem, data, (size_t)n);
    s->cert_pem[n] = '\0';
    BIO_free(mem);
    int der = i2d_X509(s->cert, &s->cert_der);
    if (der <= 0) {
        secureboot_signer_free(s);
        return openssl_error(err, ERROR_RUNTIME, "%s: cannot encode the certificate", cert_path);
    }
    s->cert_der_len = (size_t)der;
    *out = s;
    return 0;
}

/* ---- keygen ---- */

static int write_pem_file(const char *path, mode_t mode, bool force, int (*writer)(BIO *, void *), void *arg,
                          struct error *err)
{
    if (!force && fs_exists(path))
        return error_set(err, ERROR_INPUT, "%s exists; give --force to replace it", path);
    BIO *mem = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n = 0;
    if (!mem || !writer(mem, arg) || (n = BIO_get_mem_data(mem, &data)) <= 0) {
        BIO_free(mem);
        return openssl_error(err, ERROR_RUNTIME, "%s: cannot encode", path);
    }
    int rc = fs_write_file_atomic(path, data, (size_t)n, mode, err);
    BIO_free(mem);
    return rc;
}

static int write_key(BIO *b, void *k)
{
    /* "traditional" = PKCS#1 "RSA PRIVATE KEY", the form of Talos' uki-signing-key.pem */
    return PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL, NULL);
}

static int write_cert(BIO *b, void *c)
{
    return PEM_write_bio_X509(b, c);
}

static int add_ext(X509 *cert, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return 0;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

int secureboot_keygen(const char *prefix, const char *common_name, int bits, uint32_t not_before, bool force,
                      struct error *err)
{
    if (bits != 2048 && bits != 3072 && bits != 4096)
        return error_set(err, ERROR_INPUT, "secureboot key size %d: use 2048, 3072 or 4096 bits", bits);
    char *key_path = xasprintf("%s.key", prefix), *cert_path = xasprintf("%s.crt", prefix);
    int rc = 0;
    if (!force && (fs_exists(key_path) || fs_exists(cert_path)))
        rc = error_set(err, ERROR_INPUT, "%s exists; give --force to replace it",
                       fs_exists(key_path) ? key_path : cert_path);
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    if (rc == 0 && !(key = EVP_RSA_gen((unsigned)bits)))
        rc = openssl_error(err, ERROR_RUNTIME, "generating an RSA key for %s failed", prefix);
    if (rc == 0) {
        cert = X509_new();
        unsigned char serial[16];
        X509_NAME *name = cert ? X509_get_subject_name(cert) : NULL;
        ASN1_INTEGER *sn = ASN1_INTEGER_new();
        BIGNUM *bn = NULL;
        if (!cert || !name || !sn || RAND_bytes(serial, sizeof serial) != 1 ||
            !(bn = BN_bin2bn(serial, sizeof serial, NULL)) || !BN_to_ASN1_INTEGER(bn, sn) ||
            !X509_set_serialNumber(cert, sn) || !X509_set_version(cert, 2) ||
            !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)common_name, -1, -1, 0) ||
            !X509_set_issuer_name(cert, name) || !ASN1_TIME_set(X509_getm_notBefore(cert), (time_t)not_before) ||
            !ASN1_TIME_set(X509_getm_notAfter(cert), (time_t)not_before + (time_t)20 * 365 * 86400) ||
            !X509_set_pubkey(cert, key) || !add_ext(cert, NID_subject_key_identifier, "hash") ||
            !add_ext(cert, NID_key_usage, "critical,digitalSignature") ||
            !add_ext(cert, NID_ext_key_usage, "codeSigning") || !X509_sign(cert, key, EVP_sha256()))
            rc = openssl_error(err, ERROR_RUNTIME, "making the certificate for %s failed", common_name);
        BN_free(bn);
        ASN1_INTEGER_free(sn);
    }
    if (rc == 0)
        rc = write_pem_file(key_path, 0600, force, write_key, key, err);
    if (rc == 0)
        rc = write_pem_file(cert_path, 0644, force, write_cert, cert, err);
    X509_free(cert);
    EVP_PKEY_free(key);
    free(key_path);
    free(cert_path);
    return rc;
}

/* ---- PCR 11 ---- */

/* systemd's unified_sections[] order (what the stub measures, .pcrsig excluded) */
static const char *const measured_order[] = {".linux", ".osrel", ".cmdline", ".initrd",  ".ucode",   ".splash", ".dtb",
                                             ".uname", ".sbat",  ".pcrpkey", ".profile", ".dtbauto", ".hwids",  NULL};

#define BANKS_MAX 3

struct pcr_banks {
    const EVP_MD *md[BANKS_MAX];
    size_t count;
    unsigned char value[BANKS_MAX][EVP_MAX_MD_SIZE];
};

static int extend_digest(struct pcr_banks *b, size_t i, const unsigned char *d, struct error *err)
{
    unsigned size = (unsigned)EVP_MD_get_size(b->md[i]);
    unsigned char cat[2 * EVP_MAX_MD_SIZE];
    memcpy(cat, b->value[i], size);
    memcpy(cat + size, d, size);
    if (EVP_Digest(cat, 2 * size, b->value[i], NULL, b->md[i], NULL) != 1)
        return error_set(err, ERROR_RUNTIME, "PCR extend: digest failed");
    return 0;
}

/* extend(H(data)) in every bank, data from memory or streamed from a file */
static int extend_all(struct pcr_banks *b, const char *path, const void *data, size_t size, struct error *err)
{
    EVP_MD_CTX *ctx[BANKS_MAX] = {NULL};
    int rc = 0;
    for (size_t i = 0; i < b->count && rc == 0; i++)
        if (!(ctx[i] = EVP_MD_CTX_new()) || EVP_DigestInit_ex(ctx[i], b->md[i], NULL) != 1)
            rc = error_set(err, ERROR_RUNTIME, "PCR: cannot start a digest");
    if (rc == 0 && path) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            rc = error_errno(err, errno, "%s: cannot open", path);
        } else {
            enum { BUF = 1 << 20 };
            unsigned char *buf = xmalloc(BUF);
            for (;;) {
                ssize_t n = read(fd, buf, BUF);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n < 0) {
                    rc = error_errno(err, errno, "%s: read failed", path);
                    break;
                }
                if (n == 0)
                    break;
                for (size_t i = 0; i < b->count; i++)
                    EVP_DigestUpdate(ctx[i], buf, (size_t)n);
            }
            free(buf);
            close(fd);
        }
    } else if (rc == 0) {
        for (size_t i = 0; i < b->count; i++)
            EVP_DigestUpdate(ctx[i], data, size);
    }
    for (size_t i = 0; i < b->count && rc == 0; i++) {
        unsigned char d[EVP_MAX_MD_SIZE];
        if (EVP_DigestFinal_ex(ctx[i], d, NULL) != 1)
            rc = error_set(err, ERROR_RUNTIME, "PCR: digest failed");
        else
            rc = extend_digest(b, i, d, err);
    }
    for (size_t i = 0; i < b->count; i++)
        EVP_MD_CTX_free(ctx[i]);
    return rc;
}

static int measure(struct pcr_banks *b, const struct secureboot_section *sections, size_t count,
                   const char *const *phases, struct error *err)
{
    for (size_t i = 0; i < b->count; i++)
        memset(b->value[i], 0, sizeof b->value[i]);
    for (const char *const *name = measured_order; *name; name++) {
        for (size_t k = 0; k < count; k++) {
            const struct secureboot_section *s = &sections[k];
            if (strcmp(s->name, *name) != 0)
                continue;
            /* the name with its NUL, then the content */
            if (extend_all(b, NULL, s->name, strlen(s->name) + 1, err) != 0 ||
                extend_all(b, s->path, s->data, s->size, err) != 0)
                return error_prefix(err, "measuring UKI section %s: ", s->name);
            break;
        }
    }
    for (const char *const *p = phases; p && *p; p++)
        if (extend_all(b, NULL, *p, strlen(*p), err) != 0)
            return -1;
    return 0;
}

int secureboot_pcr11(const struct secureboot_section *sections, size_t count, const char *const *phases,
                     const EVP_MD *md, unsigned char *out, struct error *err)
{
    struct pcr_banks b = {.md = {md}, .count = 1};
    if (measure(&b, sections, count, phases, err) != 0)
        return -1;
    memcpy(out, b.value[0], (size_t)EVP_MD_get_size(md));
    return 0;
}

void secureboot_pcr_public_key(const struct secureboot_signer *signer, struct buffer *pem)
{
    BIO *mem = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n = 0;
    if (mem && PEM_write_bio_PUBKEY(mem, signer->pcr_key) && (n = BIO_get_mem_data(mem, &data)) > 0)
        buffer_append(pem, data, (size_t)n);
    BIO_free(mem);
}

static void append_hex(struct buffer *b, const unsigned char *d, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        buffer_append_char(b, hex[d[i] >> 4]);
        buffer_append_char(b, hex[d[i] & 15]);
    }
}

int secureboot_pcr_signature(const struct secureboot_signer *signer, const struct secureboot_section *sections,
                             size_t count, struct buffer *json, struct error *err)
{
    static const char *const phases[] = {"enter-initrd", "leave-initrd", "enter-machined", NULL};
    static const char *const bank_names[BANKS_MAX] = {"sha256", "sha384", "sha512"};
    static const uint16_t tpm_alg[BANKS_MAX] = {0x000B, 0x000C, 0x000D};
    struct pcr_banks b = {.md = {EVP_sha256(), EVP_sha384(), EVP_sha512()}, .count = 3};
    if (measure(&b, sections, count, phases, err) != 0)
        return -1;
    /* pkfp: SHA-256 of the PKCS#1 RSAPublicKey DER (systemd's pubkey_fingerprint, Talos' too) */
    unsigned char *pub = NULL;
    int pub_len = i2d_PublicKey(signer->pcr_key, &pub);
    if (pub_len <= 0)
        return openssl_error(err, ERROR_RUNTIME, "secureboot: cannot encode the PCR public key");
    unsigned char fp[32];
    SHA256(pub, (size_t)pub_len, fp);
    OPENSSL_free(pub);
    buffer_append_char(json, '{');
    for (size_t i = 0; i < b.count; i++) {
        /* TPM2_PolicyPCR: H(0^32 ‖ TPM_CC_PolicyPCR ‖ TPML_PCR_SELECTION{1, alg, 3, 00 08 00} ‖ H(pcr)) */
        unsigned char msg[32 + 4 + 4 + 2 + 1 + 3 + 32];
        size_t size = (size_t)EVP_MD_get_size(b.md[i]);
        memset(msg, 0, 32);
        memcpy(msg + 32, "\x00\x00\x01\x7f\x00\x00\x00\x01", 8);
        be16_put(msg + 40, (uint16_t)tpm_alg[i]);
        memcpy(msg + 42, "\x03\x00\x08\x00", 4);
        SHA256(b.value[i], size, msg + 46);
        unsigned char pol[32];
        SHA256(msg, sizeof msg, pol);
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned char sig[1024];
        size_t sig_len = sizeof sig;
        if (!ctx || EVP_DigestSignInit(ctx, NULL, b.md[i], NULL, signer->pcr_key) != 1 ||
            EVP_DigestSign(ctx, sig, &sig_len, pol, sizeof pol) != 1) {
            EVP_MD_CTX_free(ctx);
            return openssl_error(err, ERROR_RUNTIME, "signing the PCR policy (%s) failed", bank_names[i]);
        }
        EVP_MD_CTX_free(ctx);
        buffer_appendf(json, "%s\"%s\":[{\"pcrs\":[11],\"pkfp\":\"", i ? "," : "", bank_names[i]);
        append_hex(json, fp, sizeof fp);
        buffer_append_str(json, "\",\"pol\":\"");
        append_hex(json, pol, sizeof pol);
        buffer_append_str(json, "\",\"sig\":\"");
        base64_encode(sig, sig_len, json);
        buffer_append_str(json, "\"}]");
    }
    buffer_append_char(json, '}');
    return 0;
}

/* ---- enrollment databases ---- */

/* "8be4df61-93ca-11d2-aa0d-00e098032b8c" -> EFI_GUID bytes (first three fields little-endian) */
static void efi_guid(const char *text, unsigned char out[16])
{
    unsigned char be[16];
    size_t n = 0;
    for (const char *c = text; *c && n < 16; c++) {
        if (*c == '-')
            continue;
        unsigned hi, lo;
        sscanf(c, "%1x%1x", &hi, &lo);
        be[n++] = (unsigned char)(hi << 4 | lo);
        c++;
    }
    static const int order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
    for (int i = 0; i < 16; i++)
        out[i] = be[order[i]];
}

/* Talos' owner GUID: uuid.NewHash(sha256.New(), uuid.NameSpaceX500, certificate PEM, 4). */
static void owner_guid(const struct secureboot_signer *s, unsigned char out[16])
{
    static const unsigned char x500[16] = {0x6b, 0xa7, 0xb8, 0x14, 0x9d, 0xad, 0x11, 0xd1,
                                           0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
    unsigned char d[32];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, x500, sizeof x500);
    EVP_DigestUpdate(ctx, s->cert_pem, strlen(s->cert_pem));
    EVP_DigestFinal_ex(ctx, d, NULL);
    EVP_MD_CTX_free(ctx);
    d[6] = (unsigned char)((d[6] & 0x0f) | 0x40);
    d[8] = (unsigned char)((d[8] & 0x3f) | 0x80);
    char text[37];
    snprintf(text, sizeof text, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", d[0], d[1],
             d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15]);
    efi_guid(text, out);
}

/* go-uefi SignatureDatabase.Append: an X.509 certificate joins the first list of the same
 * signature size, else starts a new EFI_SIGNATURE_LIST; lists stay in the order they were made. */
struct esl_entry {
    const unsigned char *owner; /* 16 bytes */
    const unsigned char *der;
    size_t len;
};

static void esl_build(const struct esl_entry *e, size_t n, struct buffer *esl)
{
    bool *done = xcalloc(n + 1, sizeof *done);
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        uint32_t sig_size = 16 + (uint32_t)e[i].len;
        size_t members = 0;
        for (size_t k = i; k < n; k++)
            if (!done[k] && e[k].len == e[i].len)
                members++;
        /* EFI_SIGNATURE_LIST { type, list size, header size 0, signature size } + EFI_SIGNATURE_DATA... */
        unsigned char head[28];
        efi_guid("a5c059a1-94e4-4aa7-87b5-ab155c2bf072", head); /* EFI_CERT_X509_GUID */
        le32_put(head + 16, 28 + sig_size * (uint32_t)members);
        le32_put(head + 20, 0);
        le32_put(head + 24, sig_size);
        buffer_append(esl, head, sizeof head);
        for (size_t k = i; k < n; k++)
            if (!done[k] && e[k].len == e[i].len) {
                buffer_append(esl, e[k].owner, 16);
                buffer_append(esl, e[k].der, e[k].len);
                done[k] = true;
            }
    }
    free(done);
}

int secureboot_enrollment_auth(const struct secureboot_signer *s, const char *name, uint32_t timestamp,
                               struct buffer *out, struct error *err)
{
    return secureboot_enrollment_auth_with(s, name, NULL, 0, timestamp, out, err);
}

int secureboot_enrollment_auth_with(const struct secureboot_signer *s, const char *name,
                                    const struct secureboot_cert *extra, size_t extra_count, uint32_t timestamp,
                                    struct buffer *out, struct error *err)
{
    const char *vendor = !strcmp(name, "db") || !strcmp(name, "dbx") ? "d719b2cb-3d3a-4596-a3bc-dad00e67656f"
                                                                     : "8be4df61-93ca-11d2-aa0d-00e098032b8c";
    /* the signing certificate (Talos' owner GUID), then the extra ones (Microsoft's owner GUID,
     * database.go microsoftSignatureOwnerGUID) */
    unsigned char guid[16], own[16], microsoft[16];
    owner_guid(s, own);
    efi_guid("77fa9abd-0359-4d32-bd60-28f4e78f784b", microsoft);
    struct esl_entry *entries = xcalloc(extra_count + 1, sizeof *entries);
    entries[0] = (struct esl_entry){own, s->cert_der, s->cert_der_len};
    for (size_t i = 0; i < extra_count; i++)
        entries[i + 1] = (struct esl_entry){microsoft, extra[i].der, extra[i].der_len};
    struct buffer esl = BUFFER_INIT;
    esl_build(entries, extra_count + 1, &esl);
    free(entries);

    /* EFI_TIME: year, month, day, hour, minute, second; pad, nanosecond, zone, daylight all zero */
    unsigned char when[16] = {0};
    time_t t = (time_t)timestamp;
    struct tm tm;
    gmtime_r(&t, &tm);
    int year = tm.tm_year + 1900;
    le16_put(when, (uint16_t)year);
    when[2] = (unsigned char)(tm.tm_mon + 1);
    when[3] = (unsigned char)tm.tm_mday;
    when[4] = (unsigned char)tm.tm_hour;
    when[5] = (unsigned char)tm.tm_min;
    when[6] = (unsigned char)tm.tm_sec;

    /* signed: name (UTF-16LE, no NUL) ‖ vendor GUID ‖ attributes ‖ time ‖ data */
    struct buffer tbs = BUFFER_INIT;
    for (const char *c = name; *c; c++) {
        buffer_append_char(&tbs, *c);
        buffer_append_char(&tbs, 0);
    }
    efi_guid(vendor, guid);
    buffer_append(&tbs, guid, sizeof guid);
    unsigned char attrs[4];
    /* NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS | TIME_BASED_AUTHENTICATED_WRITE_ACCESS */
    le32_put(attrs, 0x27);
    buffer_append(&tbs, attrs, sizeof attrs);
    buffer_append(&tbs, when, sizeof when);
    buffer_append(&tbs, esl.data, esl.len);

    int rc = -1;
    int flags = PKCS7_BINARY | PKCS7_DETACHED | PKCS7_NOATTR | PKCS7_PARTIAL;
    PKCS7 *p7 = PKCS7_sign(NULL, NULL, NULL, NULL, flags);
    BIO *bio = BIO_new_mem_buf(tbs.data, (int)tbs.len);
    unsigned char *der = NULL;
    int der_len = 0;
    if (!p7 || !bio || !PKCS7_sign_add_signer(p7, s->cert, s->key, EVP_sha256(), flags) || !PKCS7_final(p7, bio, flags)) {
        openssl_error(err, ERROR_RUNTIME, "signing %s.auth failed", name);
        goto out;
    }
    /* UEFI (and EDK2's fixed-offset digest check) wants the bare SignedData, no ContentInfo */
    der_len = i2d_PKCS7_SIGNED(p7->d.sign, &der);
    if (der_len <= 0) {
        openssl_error(err, ERROR_RUNTIME, "encoding %s.auth failed", name);
        goto out;
    }
    buffer_append(out, when, sizeof when);
    unsigned char win[8 + 16];
    le32_put(win, 8 + 16 + (uint32_t)der_len);
    win[4] = 0x00;
    win[5] = 0x02; /* WIN_CERT_REVISION_2_0 */
    win[6] = 0xf1;
    win[7] = 0x0e;                                             /* WIN_CERT_TYPE_EFI_GUID */
    efi_guid("4aafd29d-68df-49ee-8aa9-347d375665a7", win + 8); /* EFI_CERT_TYPE_PKCS7_GUID */
    buffer_append(out, win, sizeof win);
    buffer_append(out, der, (size_t)der_len);
    buffer_append(out, esl.data, esl.len);
    rc = 0;
out:
    OPENSSL_free(der);
    BIO_free(bio);
    PKCS7_free(p7);
    buffer_free(&tbs);
    buffer_free(&esl);
    return rc;
}

int secureboot_write_enrollment(const struct secureboot_signer *s, const char *dir, uint32_t timestamp, struct error *err)
{
    return secureboot_write_enrollment_with(s, NULL, 0, NULL, 0, dir, timestamp, err);
}

int secureboot_cert_load(const char *path, struct secureboot_cert *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    struct buffer file = BUFFER_INIT;
    if (fs_read_file(path, 1 << 20, &file, err) != 0)
        return error_prefix(err, "certificate %s: ", path);
    const unsigned char *p = (const unsigned char *)file.data;
    X509 *x = d2i_X509(NULL, &p, (long)file.len);
    if (!x) {
        BIO *bio = BIO_new_mem_buf(file.data, (int)file.len);
        x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
    }
    buffer_free(&file);
    ERR_clear_error();
    if (!x)
        return error_set(err, ERROR_INPUT, "certificate %s: not an X.509 certificate (DER or PEM)", path);
    int len = i2d_X509(x, NULL);
    unsigned char *der = len > 0 ? xmalloc((size_t)len) : NULL, *q = der;
    if (len <= 0 || i2d_X509(x, &q) != len) {
        X509_free(x);
        free(der);
        return error_set(err, ERROR_INPUT, "certificate %s: cannot be encoded as DER", path);
    }
    X509_free(x);
    out->der = der;
    out->der_len = (size_t)len;
    return 0;
}

void secureboot_cert_free(struct secureboot_cert *c)
{
    free(c->der);
    memset(c, 0, sizeof *c);
}

int secureboot_write_enrollment_with(const struct secureboot_signer *s, const struct secureboot_cert *kek_extra,
                                     size_t kek_count, const struct secureboot_cert *db_extra, size_t db_count,
                                     const char *dir, uint32_t timestamp, struct error *err)
{
    static const char *const names[] = {"PK", "KEK", "db"};
    const struct secureboot_cert *extra[] = {NULL, kek_extra, db_extra};
    size_t counts[] = {0, kek_count, db_count};
    if (fs_mkdir_p(dir, 0755, err) != 0)
        return -1;
    for (size_t i = 0; i < 3; i++) {
        struct buffer auth = BUFFER_INIT;
        char *file = xasprintf("%s/%s.auth", dir, names[i]);
        int rc = secureboot_enrollment_auth_with(s, names[i], extra[i], counts[i], timestamp, &auth, err);
        if (rc == 0)
            rc = fs_write_file_atomic(file, auth.data, auth.len, 0644, err);
        free(file);
        buffer_free(&auth);
        if (rc != 0)
            return -1;
    }
    return 0;
}
