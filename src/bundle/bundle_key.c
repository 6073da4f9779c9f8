/* bundle_key — see include/airfactory/bundle_key.h. */
#include "airfactory/bundle_key.h"

#include <errno.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "airfactory/digest.h"
#include "airfactory/fs.h"
#include "airfactory/memory.h"

/* PEM files are a few hundred bytes; anything much larger is not a key. */
#define KEY_FILE_MAX (64 * 1024)

struct bundle_key {
    EVP_PKEY *pkey;
    bool is_private;
    char *source;
    char fingerprint[BUNDLE_KEY_FINGERPRINT_SIZE];
};

/* The most specific OpenSSL reason, then the queue is cleared so the next call starts clean. */
static const char *openssl_reason(char *buf, size_t size)
{
    unsigned long code = ERR_peek_last_error();
    if (code == 0)
        snprintf(buf, size, "unknown OpenSSL error");
    else
        ERR_error_string_n(code, buf, size);
    ERR_clear_error();
    return buf;
}

/* Never prompt on a terminal for a passphrase: refusing is the only safe answer in a build. */
static int refuse_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static bool is_p256(EVP_PKEY *pkey)
{
    if (!EVP_PKEY_is_a(pkey, "EC"))
        return false;
    char group[64];
    size_t len = 0;
    if (EVP_PKEY_get_group_name(pkey, group, sizeof group, &len) != 1)
        return false;
    return !strcasecmp(group, "prime256v1") || !strcasecmp(group, "P-256") || !strcasecmp(group, "secp256r1");
}

static int finish_key(EVP_PKEY *pkey, bool is_private, const char *source, struct bundle_key **out,
                      struct error *err)
{
    if (!is_p256(pkey)) {
        EVP_PKEY_free(pkey);
        return error_set(err, ERROR_INPUT,
                         "%s: not an ECDSA P-256 key; bundles are signed with P-256 only "
                         "(make one with 'airfactory keygen')", source);
    }
    unsigned char *der = NULL;
    int der_len = i2d_PUBKEY(pkey, &der);
    if (der_len <= 0) {
        char why[256];
        EVP_PKEY_free(pkey);
        return error_set(err, ERROR_RUNTIME, "%s: cannot encode public key: %s", source,
                         openssl_reason(why, sizeof why));
    }
    struct bundle_key *key = xcalloc(1, sizeof *key);
    key->pkey = pkey;
    key->is_private = is_private;
    key->source = xstrdup(source);
    char hex[SHA256_HEX_LEN + 1];
    sha256_hex(der, (size_t)der_len, hex);
    OPENSSL_free(der);
    snprintf(key->fingerprint, sizeof key->fingerprint, "sha256:%s", hex);
    *out = key;
    return 0;
}

static int read_pem(const char *path, struct buffer *pem, struct error *err)
{
    if (fs_read_file(path, KEY_FILE_MAX, pem, err) != 0)
        return -1;
    if (!strstr(buffer_cstr(pem), "-----BEGIN ")) {
        buffer_free(pem);
        return error_set(err, ERROR_INPUT, "%s: not a PEM file (no '-----BEGIN' line)", path);
    }
    return 0;
}

int bundle_key_load_private(const char *path, struct bundle_key **out, struct error *err)
{
    struct buffer pem = BUFFER_INIT;
    if (read_pem(path, &pem, err) != 0)
        return -1;
    if (strstr(pem.data, "ENCRYPTED")) {
        buffer_free(&pem);
        return error_set(err, ERROR_INPUT,
                         "%s: the private key is encrypted; bundles are signed with an unencrypted "
                         "PKCS#8 key kept on the build host (make one with 'airfactory keygen', or "
                         "'openssl pkcs8 -topk8 -nocrypt -in KEY -out PLAIN.key')", path);
    }
    BIO *bio = BIO_new_mem_buf(pem.data, (int)pem.len);
    if (!bio)
        abort();
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, refuse_passphrase, NULL);
    BIO_free(bio);
    buffer_free(&pem);
    if (!pkey) {
        char why[256];
        return error_set(err, ERROR_INPUT, "%s: not a PEM private key (%s); expected 'BEGIN PRIVATE KEY' "
                         "or 'BEGIN EC PRIVATE KEY'", path, openssl_reason(why, sizeof why));
    }
    return finish_key(pkey, true, path, out, err);
}

int bundle_key_parse_public(const char *pem, size_t len, const char *what, struct bundle_key **out,
                            struct error *err)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        abort();
    EVP_PKEY *pkey = PEM_read_bio_PUBKEY(bio, NULL, refuse_passphrase, NULL);
    BIO_free(bio);
    if (!pkey) {
        char why[256];
        return error_set(err, ERROR_INPUT, "%s: not a PEM public key (%s); expected 'BEGIN PUBLIC KEY' "
                         "as written by 'airfactory keygen' or cosign", what, openssl_reason(why, sizeof why));
    }
    return finish_key(pkey, false, what, out, err);
}

int bundle_key_load_public(const char *path, struct bundle_key **out, struct error *err)
{
    struct buffer pem = BUFFER_INIT;
    if (read_pem(path, &pem, err) != 0)
        return -1;
    if (strstr(pem.data, "PRIVATE KEY")) {
        buffer_free(&pem);
        return error_set(err, ERROR_INPUT, "%s: is a private key; pass the public key (.pub) to verify, "
                         "the private key never needs to leave the build host", path);
    }
    int rc = bundle_key_parse_public(pem.data, pem.len, path, out, err);
    buffer_free(&pem);
    return rc;
}

void bundle_key_free(struct bundle_key *key)
{
    if (!key)
        return;
    EVP_PKEY_free(key->pkey);
    free(key->source);
    free(key);
}

const char *bundle_key_fingerprint(const struct bundle_key *key)
{
    return key->fingerprint;
}

const char *bundle_key_source(const struct bundle_key *key)
{
    return key->source;
}

void bundle_key_public_pem(const struct bundle_key *key, struct buffer *out)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio || PEM_write_bio_PUBKEY(bio, key->pkey) != 1)
        abort(); /* only fails on allocation */
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    buffer_append(out, data, (size_t)n);
    BIO_free(bio);
}

int bundle_key_sign(const struct bundle_key *key, const void *data, size_t len, struct buffer *der_out,
                    struct error *err)
{
    if (!key->is_private)
        return error_set(err, ERROR_INPUT, "%s: a public key cannot sign; pass the private key", key->source);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        abort();
    unsigned char sig[256];
    size_t sig_len = sizeof sig;
    if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key->pkey) != 1 ||
        EVP_DigestSign(ctx, sig, &sig_len, data, len) != 1) {
        char why[256];
        EVP_MD_CTX_free(ctx);
        return error_set(err, ERROR_RUNTIME, "%s: signing failed: %s", key->source, openssl_reason(why, sizeof why));
    }
    EVP_MD_CTX_free(ctx);
    buffer_append(der_out, sig, sig_len);
    return 0;
}

int bundle_key_verify(const struct bundle_key *key, const void *data, size_t len, const void *der,
                      size_t der_len, const char *what, struct error *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        abort();
    int rc = -1;
    if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key->pkey) == 1)
        rc = EVP_DigestVerify(ctx, der, der_len, data, len);
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    if (rc == 1)
        return 0;
    return error_set(err, ERROR_INPUT,
                     "%s: signature does not verify with key %s (%s); the file was modified after "
                     "signing, or it was signed with another key", what, key->fingerprint, key->source);
}

/* 256 KiB: measured on a 21 MB index.db, 64-256 KiB reads hash twice as fast as one mmap (page
 * faults and cache misses dominate there) and 1 MiB already falls out of L2. */
#define VERIFY_CHUNK (256u << 10)

int bundle_key_verify_fd(const struct bundle_key *key, int fd, uint64_t len, const void *der, size_t der_len,
                         const char *what, struct error *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        abort();
    unsigned char *chunk = xmalloc(VERIFY_CHUNK);
    int ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key->pkey) == 1;
    int rc = -1;
    uint64_t done = 0;
    while (ok && done < len) {
        size_t want = len - done < VERIFY_CHUNK ? (size_t)(len - done) : VERIFY_CHUNK;
        ssize_t n = read(fd, chunk, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            error_errno(err, errno, "%s: read", what);
            goto out;
        }
        if (n == 0) {
            error_set(err, ERROR_INPUT, "%s: shorter than it was a moment ago; it is being modified", what);
            goto out;
        }
        ok = EVP_DigestVerifyUpdate(ctx, chunk, (size_t)n) == 1;
        done += (uint64_t)n;
    }
    if (ok && EVP_DigestVerifyFinal(ctx, der, der_len) == 1)
        rc = 0;
    else
        error_set(err, ERROR_INPUT,
                  "%s: signature does not verify with key %s (%s); the file was modified after "
                  "signing, or it was signed with another key", what, key->fingerprint, key->source);
out:
    free(chunk);
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return rc;
}

static int write_bio_file(BIO *bio, const char *path, mode_t mode, struct error *err)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    return fs_write_file_atomic(path, data, (size_t)n, mode, err);
}

int bundle_key_generate(const char *prefix, bool force, char fingerprint_out[BUNDLE_KEY_FINGERPRINT_SIZE],
                        struct error *err)
{
    char *key_path = xasprintf("%s.key", prefix);
    char *pub_path = xasprintf("%s.pub", prefix);
    int rc = -1;
    EVP_PKEY *pkey = NULL;
    BIO *key_bio = NULL, *pub_bio = NULL;
    if (!force && (fs_exists(key_path) || fs_exists(pub_path))) {
        error_set(err, ERROR_INPUT, "%s: already exists; refusing to overwrite a key (choose another -o "
                  "PREFIX, or pass --force)", fs_exists(key_path) ? key_path : pub_path);
        goto out;
    }
    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!pkey) {
        char why[256];
        error_set(err, ERROR_RUNTIME, "generating a P-256 key failed: %s", openssl_reason(why, sizeof why));
        goto out;
    }
    key_bio = BIO_new(BIO_s_mem());
    pub_bio = BIO_new(BIO_s_mem());
    if (!key_bio || !pub_bio)
        abort();
    /* No cipher: OpenSSL 3 writes unencrypted PKCS#8 ("BEGIN PRIVATE KEY"). */
    if (PEM_write_bio_PrivateKey(key_bio, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
        PEM_write_bio_PUBKEY(pub_bio, pkey) != 1) {
        char why[256];
        error_set(err, ERROR_RUNTIME, "encoding the key pair failed: %s", openssl_reason(why, sizeof why));
        goto out;
    }
    if (write_bio_file(key_bio, key_path, 0600, err) != 0)
        goto out;
    if (write_bio_file(pub_bio, pub_path, 0644, err) != 0) {
        unlink(key_path); /* a key without its .pub would block the retry */
        goto out;
    }
    if (fingerprint_out) {
        struct bundle_key *loaded = NULL;
        if (bundle_key_load_public(pub_path, &loaded, err) != 0)
            goto out;
        memcpy(fingerprint_out, loaded->fingerprint, BUNDLE_KEY_FINGERPRINT_SIZE);
        bundle_key_free(loaded);
    }
    rc = 0;
out:
    BIO_free(key_bio);
    BIO_free(pub_bio);
    EVP_PKEY_free(pkey);
    free(key_path);
    free(pub_path);
    return rc;
}
