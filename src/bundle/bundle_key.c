/* bundle_key — see bundle_key.h. */
#include "airfactory/bundle_key.h"

#include <errno.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/digest.h"
#include "core/fs.h"
#include "core/memory.h"

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

static int finish_key(EVP_PKEY *pkey, bool is_private, const char *source, struct bundle_key **out, struct error *err)
{
    if (!is_p256(pkey)) {
        EVP_PKEY_free(pkey);
        return error_set(err, ERROR_INPUT,
                         "%s: not an ECDSA P-256 key; bundles are signed with P-256 only "
                         "(make one with 'airfactory keygen')",
                         source);
    }
    unsigned char *der = NULL;
    int der_len = i2d_PUBKEY(pkey, &der);
    if (der_len <= 0) {
        char why[256];
        EVP_PKEY_free(pkey);
        return error_set(err, ERROR_RUNTIME, "%s: cannot encode public key: %s", source, openssl_reason(why, sizeof why));
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
                         "'openssl pkcs8 -topk8 -nocrypt -in KEY -out PLAIN.key')",
                         path);
    }
    BIO *bio = BIO_new_mem_buf(pem.data, (int)pem.len);
    if (!bio)
        abort();
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, refuse_passphrase, NULL);
    BIO_free(bio);
    buffer_free(&pem);
    if (!pkey) {
        char why[256];
        return error_set(err, ERROR_INPUT,
                         "%s: not a PEM private key (%s); expected 'BEGIN PRIVATE KEY' "
                         "or 'BEGIN EC PRIVATE KEY'",
                         path, openssl_reason(why, sizeof why));
    }
    return finish_key(pkey, true, path, out, err);
}

int bundle_key_parse_public(const char *pem, size_t len, const char *what, struct bundle_key **out, struct error *err)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        abort();
    EVP_PKEY *pkey = PEM_read_bio_PUBKEY(bio, NULL, refuse_passphrase, NULL);
    BIO_free(bio);
    if (!pkey) {
        char why[256];
        return error_set(err, ERROR_INPUT,
                         "%s: not a PEM public key (%s); expected 'BEGIN PUBLIC KEY' "
                         "as written by 'airfactory keygen' or cosign",
                         what, openssl_reason(why, sizeof why));
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
        return error_set(err, ERROR_INPUT,
                         "%s: is a private key; pass the public key (.pub) to verify, "
                         "the private key never needs to leave the build host",
                         path);
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

/* ---- deterministic ECDSA (RFC 6979) ----
 *
 * Why not EVP_DigestSign: OpenSSL 3.0 draws the ECDSA nonce k at random, so the same index.db or
 * cosign payload signed twice gives two different signatures, and a cosign signature is a blob the
 * index references — two builds of one manifest would never be byte-identical (issue #6). OpenSSL
 * 3.2 added a deterministic-nonce parameter; Debian 12 ships 3.0. So k is derived here as RFC 6979
 * section 3.2 specifies, with HMAC-SHA256 over the private key and the message hash, and the
 * signature is computed with OpenSSL's EC and BN primitives. The result is an ordinary ECDSA
 * signature (same DER encoding, any verifier accepts it) that depends only on key and message.
 *
 * s is not normalised to the low half (n/2): RFC 6979 does not, OpenSSL, cosign and Go accept
 * either half, and keeping the textbook value lets the RFC's test vectors check us digit by digit.
 *
 * Side channels, with the public API only: the secret scalars (d, k, k^-1 and the intermediate
 * r·d + z) are BIGNUMs flagged BN_FLG_CONSTTIME (secure heap when one is configured); kG uses
 * OpenSSL's constant-time scalar multiplication; k^-1 is k^(n-2) by BN_mod_exp_mont_consttime (n
 * is prime); the products mod n are Montgomery multiplications (BN_mod_mul_montgomery) and the sum
 * BN_mod_add_quick, the same primitives OpenSSL's own ECDSA uses for s (it calls their internal
 * fixed-top variants, which also hide the operands' word count; ours may reveal that one scalar
 * has leading zero words, as OpenSSL 1.1.1 did). The HMAC state, the key octets and every secret
 * BIGNUM are cleared before they are freed. */

#define P256_BYTES 32 /* qlen = 256 bits = rlen; SHA-256 output = hlen = 256 bits too */

/* RFC 6979 2.3.2 bits2int: the leftmost qlen bits of the octet string as an integer. */
static int rfc6979_bits2int(const unsigned char *in, size_t len, int qlen, BIGNUM *out)
{
    if (!BN_bin2bn(in, (int)len, out))
        return -1;
    if ((int)len * 8 > qlen && !BN_rshift(out, out, (int)len * 8 - qlen))
        return -1;
    return 0;
}

/* RFC 6979 2.3.3 int2octets: the integer as exactly rlen big-endian octets. */
static int rfc6979_int2octets(const BIGNUM *value, unsigned char out[P256_BYTES])
{
    return BN_bn2binpad(value, out, P256_BYTES) == P256_BYTES ? 0 : -1;
}

/* RFC 6979 2.3.4 bits2octets: int2octets(bits2int(h) mod q). bits2int(h) < 2^qlen < 2q, so one
 * conditional subtraction is the reduction. */
static int rfc6979_bits2octets(const unsigned char *h, size_t len, const BIGNUM *order, BN_CTX *ctx,
                               unsigned char out[P256_BYTES])
{
    BN_CTX_start(ctx);
    BIGNUM *z = BN_CTX_get(ctx);
    int rc = -1;
    if (z && rfc6979_bits2int(h, len, BN_num_bits(order), z) == 0 && BN_nnmod(z, z, order, ctx) &&
        rfc6979_int2octets(z, out) == 0)
        rc = 0;
    BN_CTX_end(ctx);
    return rc;
}

/* out = HMAC-SHA256_K(V || sep || x || h): sep < 0 hashes V alone, x and h NULL leave them out. */
static int rfc6979_hmac(const unsigned char key[32], const unsigned char v[32], int sep,
                        const unsigned char x[P256_BYTES], const unsigned char h[P256_BYTES], unsigned char out[32])
{
    unsigned char msg[32 + 1 + 2 * P256_BYTES];
    size_t len = 32;
    memcpy(msg, v, 32);
    if (sep >= 0)
        msg[len++] = (unsigned char)sep;
    if (sep >= 0 && x && h) {
        memcpy(msg + len, x, P256_BYTES);
        len += P256_BYTES;
        memcpy(msg + len, h, P256_BYTES);
        len += P256_BYTES;
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    int ok = HMAC(EVP_sha256(), key, 32, msg, len, mac, &mac_len) != NULL && mac_len == 32;
    if (ok)
        memcpy(out, mac, 32);
    OPENSSL_cleanse(msg, sizeof msg);
    OPENSSL_cleanse(mac, sizeof mac);
    return ok ? 0 : -1;
}

struct rfc6979_state {
    unsigned char k[32], v[32];
};

/* RFC 6979 3.2 steps b-g: seed K and V from int2octets(x) and bits2octets(h1). */
static int rfc6979_init(struct rfc6979_state *st, const unsigned char x[P256_BYTES], const unsigned char h[P256_BYTES])
{
    memset(st->v, 0x01, sizeof st->v);
    memset(st->k, 0x00, sizeof st->k);
    if (rfc6979_hmac(st->k, st->v, 0x00, x, h, st->k) != 0 ||     /* d */
        rfc6979_hmac(st->k, st->v, -1, NULL, NULL, st->v) != 0 || /* e */
        rfc6979_hmac(st->k, st->v, 0x01, x, h, st->k) != 0 ||     /* f */
        rfc6979_hmac(st->k, st->v, -1, NULL, NULL, st->v) != 0)   /* g */
        return -1;
    return 0;
}

/* RFC 6979 3.2 step h: the next candidate k (T is one V, as qlen = hlen); retry reseeds K and V
 * first (K = HMAC_K(V || 0x00), V = HMAC_K(V)), as after a k that was out of range or gave r or
 * s = 0. */
static int rfc6979_next(struct rfc6979_state *st, bool retry, int qlen, BIGNUM *k)
{
    if (retry && (rfc6979_hmac(st->k, st->v, 0x00, NULL, NULL, st->k) != 0 ||
                  rfc6979_hmac(st->k, st->v, -1, NULL, NULL, st->v) != 0))
        return -1;
    if (rfc6979_hmac(st->k, st->v, -1, NULL, NULL, st->v) != 0)
        return -1;
    return rfc6979_bits2int(st->v, sizeof st->v, qlen, k);
}

/* Append the DER signature (r, s) of the SHA-256 digest h1 made with pkey's private scalar d:
 * k from RFC 6979, r = (kG).x mod n, s = k^-1 (z + r d) mod n with z = bits2int(h1). */
static int ecdsa_sign_deterministic(EVP_PKEY *pkey, const unsigned char h1[32], struct buffer *der_out)
{
    int rc = -1;
    BN_CTX *ctx = BN_CTX_secure_new();
    EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    EC_POINT *point = NULL;
    BN_MONT_CTX *mont = NULL;
    BIGNUM *d = NULL, *k = NULL, *kinv = NULL, *kinv_mont = NULL, *t = NULL, *z = NULL, *r = NULL, *r_mont = NULL,
           *s = NULL, *rx = NULL, *n_minus_2 = NULL;
    ECDSA_SIG *sig = NULL;
    struct rfc6979_state st;
    unsigned char x_octets[P256_BYTES], h_octets[P256_BYTES];
    if (!ctx || !group || EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1)
        goto out;
    const BIGNUM *order = EC_GROUP_get0_order(group);
    int qlen = BN_num_bits(order);
    k = BN_secure_new();
    kinv = BN_secure_new();
    kinv_mont = BN_secure_new();
    t = BN_secure_new();
    z = BN_new();
    r = BN_new();
    r_mont = BN_new();
    s = BN_new();
    rx = BN_new();
    n_minus_2 = BN_new();
    point = EC_POINT_new(group);
    mont = BN_MONT_CTX_new();
    if (!order || !k || !kinv || !kinv_mont || !t || !z || !r || !r_mont || !s || !rx || !n_minus_2 || !point ||
        !mont || BN_MONT_CTX_set(mont, order, ctx) != 1)
        goto out;
    BN_set_flags(d, BN_FLG_CONSTTIME);
    BN_set_flags(k, BN_FLG_CONSTTIME);
    BN_set_flags(kinv, BN_FLG_CONSTTIME);
    BN_set_flags(kinv_mont, BN_FLG_CONSTTIME);
    BN_set_flags(t, BN_FLG_CONSTTIME);
    if (!BN_copy(n_minus_2, order) || !BN_sub_word(n_minus_2, 2) || rfc6979_int2octets(d, x_octets) != 0 ||
        rfc6979_bits2octets(h1, 32, order, ctx, h_octets) != 0 || rfc6979_bits2int(h1, 32, qlen, z) != 0 ||
        !BN_nnmod(z, z, order, ctx) || BN_is_zero(d) || BN_cmp(d, order) >= 0 ||
        rfc6979_init(&st, x_octets, h_octets) != 0)
        goto out;
    /* A candidate is rejected with probability about 2^-32 (k >= n) plus 2^-256 (r or s = 0): a
     * second round practically never happens, a 64th is a broken HMAC, not bad luck. */
    for (int attempt = 0;; attempt++) {
        if (attempt == 64 || rfc6979_next(&st, attempt > 0, qlen, k) != 0)
            goto out;
        if (BN_is_zero(k) || BN_cmp(k, order) >= 0)
            continue;
        if (!EC_POINT_mul(group, point, k, NULL, NULL, ctx) ||
            !EC_POINT_get_affine_coordinates(group, point, rx, NULL, ctx) || !BN_nnmod(r, rx, order, ctx))
            goto out;
        if (BN_is_zero(r))
            continue;
        /* k^-1 = k^(n-2) mod n (Fermat; n is prime) by the constant-time exponentiation; then
         * t = mont(rR, d) = r·d, t = t + z, s = mont(t, k^-1·R) = t·k^-1, all mod n (z, d < n) */
        if (!BN_mod_exp_mont_consttime(kinv, k, n_minus_2, order, ctx, mont) || !BN_to_montgomery(r_mont, r, mont, ctx) ||
            !BN_mod_mul_montgomery(t, r_mont, d, mont, ctx) || !BN_mod_add_quick(t, t, z, order) ||
            !BN_to_montgomery(kinv_mont, kinv, mont, ctx) || !BN_mod_mul_montgomery(s, t, kinv_mont, mont, ctx))
            goto out;
        if (!BN_is_zero(s))
            break;
    }
    sig = ECDSA_SIG_new();
    if (!sig || ECDSA_SIG_set0(sig, r, s) != 1)
        goto out;
    r = s = NULL; /* owned by sig now */
    unsigned char *der = NULL;
    int der_len = i2d_ECDSA_SIG(sig, &der);
    if (der_len <= 0)
        goto out;
    buffer_append(der_out, der, (size_t)der_len);
    OPENSSL_free(der);
    rc = 0;
out:
    OPENSSL_cleanse(&st, sizeof st);
    OPENSSL_cleanse(x_octets, sizeof x_octets);
    OPENSSL_cleanse(h_octets, sizeof h_octets);
    BN_clear_free(d);
    BN_clear_free(k);
    BN_clear_free(kinv);
    BN_clear_free(kinv_mont);
    BN_clear_free(t);
    BN_free(z);
    BN_free(r);
    BN_free(r_mont);
    BN_free(s);
    BN_free(rx);
    BN_free(n_minus_2);
    ECDSA_SIG_free(sig);
    BN_MONT_CTX_free(mont);
    EC_POINT_clear_free(point);
    EC_GROUP_free(group);
    BN_CTX_free(ctx);
    return rc;
}

/* Whether der verifies as a signature of the digest h1: checked before a signature leaves this
 * module, because a deterministic signer that once emits a faulty s next to a good one for the
 * same message (a bit flip, a miscompiled BN path) hands out the private key. */
static bool ecdsa_verify_digest(EVP_PKEY *pkey, const unsigned char h1[32], const void *der, size_t der_len)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    bool ok = pctx && EVP_PKEY_verify_init(pctx) == 1 && EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()) == 1 &&
              EVP_PKEY_verify(pctx, der, der_len, h1, 32) == 1;
    EVP_PKEY_CTX_free(pctx);
    return ok;
}

int bundle_key_sign(const struct bundle_key *key, const void *data, size_t len, struct buffer *der_out, struct error *err)
{
    if (!key->is_private)
        return error_set(err, ERROR_INPUT, "%s: a public key cannot sign; pass the private key", key->source);
    unsigned char h1[32];
    unsigned int h1_len = 0;
    if (EVP_Digest(data, len, h1, &h1_len, EVP_sha256(), NULL) != 1 || h1_len != sizeof h1) {
        char why[256];
        return error_set(err, ERROR_RUNTIME, "%s: hashing for the signature failed: %s", key->source,
                         openssl_reason(why, sizeof why));
    }
    struct buffer der = BUFFER_INIT; /* appended to der_out only once it verifies */
    if (ecdsa_sign_deterministic(key->pkey, h1, &der) != 0) {
        char why[256];
        buffer_free(&der);
        return error_set(err, ERROR_RUNTIME, "%s: signing failed: %s", key->source, openssl_reason(why, sizeof why));
    }
    if (!ecdsa_verify_digest(key->pkey, h1, der.data, der.len)) {
        buffer_free(&der);
        ERR_clear_error();
        return error_set(err, ERROR_RUNTIME,
                         "%s: the signature just made does not verify with its own key; refusing to publish "
                         "it (a hardware fault or a broken OpenSSL; run again, and check the machine)",
                         key->source);
    }
    buffer_append(der_out, der.data, der.len);
    buffer_free(&der);
    return 0;
}

int bundle_key_verify(const struct bundle_key *key, const void *data, size_t len, const void *der, size_t der_len,
                      const char *what, struct error *err)
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
                     "signing, or it was signed with another key",
                     what, key->fingerprint, key->source);
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
                  "signing, or it was signed with another key",
                  what, key->fingerprint, key->source);
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
        error_set(err, ERROR_INPUT,
                  "%s: already exists; refusing to overwrite a key (choose another -o "
                  "PREFIX, or pass --force)",
                  fs_exists(key_path) ? key_path : pub_path);
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
