/* Unit tests for bundle_key signing: deterministic ECDSA (RFC 6979) on P-256 with SHA-256.
 *
 * The known answers are RFC 6979 appendix A.2.5 (private key, public key, and k, r, s for the
 * messages "sample" and "test"), typed from the RFC. Each constant is cross-checked in the test
 * with OpenSSL's own EC arithmetic, independently of src/bundle: U = xG, r = (kG).x mod n and
 * s = k^-1 (SHA-256(m) + r x) mod n — so a mistyped digit fails here, not silently. Signatures are
 * then checked by three verifiers: ours (bundle_key_verify), the openssl CLI (`openssl dgst
 * -sha256 -verify`), and the cosign legacy verification of src/verify over a `sha256-<hex>.sig`
 * manifest, the path installer signatures take.
 *
 * The last test prints the time of one signature next to OpenSSL's randomized EVP_DigestSign
 * (informative, never asserted). */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/param_build.h>
#include <time.h>

#include "airfactory/bundle_key.h"
#include "airfactory/verify.h"
#include "test.h"
#include "verify_testlib.h"

/* RFC 6979 A.2.5: ECDSA, 256 bits (prime field) — NIST P-256. */
#define RFC_X "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721"
#define RFC_UX "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"
#define RFC_UY "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299"

static const struct rfc_vector {
    const char *message, *k, *r, *s;
} rfc_sha256[] = {
    {"sample", "A6E3C57DD01ABE90086538398355DD4C3B17AA873382B0F24D6129493D8AAD60",
     "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716",
     "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"},
    {"test", "D16B6AE827F17175E040871A1C7EC3500192C4C92677336EC2537ACAEE0008E0",
     "F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367",
     "019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083"},
};
#define RFC_VECTOR_COUNT (sizeof rfc_sha256 / sizeof rfc_sha256[0])

static char *scratch;
static EVP_PKEY *rfc_pkey;                                /* the RFC key as an OpenSSL key object */
static char *rfc_key_path, *rfc_sec1_path, *rfc_pub_path; /* PKCS#8, SEC1, SubjectPublicKeyInfo */

static char *make_scratch(void)
{
    const char *base = getenv("TMPDIR");
    char *dir = xasprintf("%s/af-bundle-key-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir))
        tl_die("mkdtemp");
    return dir;
}

/* A fresh random key pair scratch/name.{key,pub}; returns the private key's path. */
static char *make_key(const char *name)
{
    char *prefix = path_join(scratch, name);
    struct error err;
    if (bundle_key_generate(prefix, true, NULL, &err) != 0)
        tl_die(err.message);
    char *key = xasprintf("%s.key", prefix);
    free(prefix);
    return key;
}

static BIGNUM *hex_bn(const char *hex)
{
    BIGNUM *bn = NULL;
    if (BN_hex2bn(&bn, hex) != (int)strlen(hex))
        tl_die("BN_hex2bn");
    return bn;
}

/* 64 uppercase hex digits of a 256-bit number, leading zeros kept (the RFC's notation). */
static void bn_hex64(const BIGNUM *bn, char out[65])
{
    unsigned char bytes[32];
    if (BN_bn2binpad(bn, bytes, 32) != 32)
        tl_die("BN_bn2binpad");
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02X", bytes[i]);
}

static void write_pem(const char *path, EVP_PKEY *pkey, const char *structure, bool public_only)
{
    OSSL_ENCODER_CTX *enc = OSSL_ENCODER_CTX_new_for_pkey(pkey, public_only ? EVP_PKEY_PUBLIC_KEY : EVP_PKEY_KEYPAIR,
                                                          "PEM", structure, NULL);
    unsigned char *data = NULL;
    size_t len = 0;
    if (!enc || OSSL_ENCODER_CTX_get_num_encoders(enc) == 0 || OSSL_ENCODER_to_data(enc, &data, &len) != 1)
        tl_die(structure);
    struct error err;
    if (fs_write_file_atomic(path, data, len, 0600, &err) != 0)
        tl_die(err.message);
    OPENSSL_free(data);
    OSSL_ENCODER_CTX_free(enc);
}

/* The RFC's key from its x, Ux and Uy, written as PKCS#8, SEC1 and SPKI PEM files. */
static void make_rfc_key(void)
{
    BIGNUM *x = hex_bn(RFC_X);
    unsigned char pub[65] = {0x04};
    BIGNUM *ux = hex_bn(RFC_UX), *uy = hex_bn(RFC_UY);
    if (BN_bn2binpad(ux, pub + 1, 32) != 32 || BN_bn2binpad(uy, pub + 33, 32) != 32)
        tl_die("public point");
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, x) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub))
        tl_die("OSSL_PARAM_BLD");
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &rfc_pkey, EVP_PKEY_KEYPAIR, params) != 1)
        tl_die("EVP_PKEY_fromdata");
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(x);
    BN_free(ux);
    BN_free(uy);
    rfc_key_path = path_join(scratch, "rfc.key");
    rfc_sec1_path = path_join(scratch, "rfc-sec1.key");
    rfc_pub_path = path_join(scratch, "rfc.pub");
    write_pem(rfc_key_path, rfc_pkey, "PrivateKeyInfo", false);
    write_pem(rfc_sec1_path, rfc_pkey, "type-specific", false);
    write_pem(rfc_pub_path, rfc_pkey, "SubjectPublicKeyInfo", true);
}

static struct bundle_key *load_private(const char *path)
{
    struct bundle_key *key = NULL;
    struct error err;
    if (bundle_key_load_private(path, &key, &err) != 0)
        tl_die(err.message);
    return key;
}

/* (r, s) of a DER signature as 64-digit hex each; false when der is not an ECDSA-Sig-Value. */
static bool split_signature(const struct buffer *der, char r_hex[65], char s_hex[65])
{
    const unsigned char *p = (const unsigned char *)der->data;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der->len);
    if (!sig)
        return false;
    bool whole = p == (const unsigned char *)der->data + der->len;
    bn_hex64(ECDSA_SIG_get0_r(sig), r_hex);
    bn_hex64(ECDSA_SIG_get0_s(sig), s_hex);
    ECDSA_SIG_free(sig);
    return whole;
}

/* ---- the RFC constants, checked against each other with OpenSSL's arithmetic ---- */

static void rfc_constants_are_consistent(void)
{
    EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    BN_CTX *ctx = BN_CTX_new();
    EC_POINT *point = EC_POINT_new(group);
    BIGNUM *px = BN_new(), *py = BN_new(), *t = BN_new(), *x = hex_bn(RFC_X);
    const BIGNUM *n = EC_GROUP_get0_order(group);
    char hex[65];
    /* U = xG */
    CHECK(EC_POINT_mul(group, point, x, NULL, NULL, ctx) == 1);
    CHECK(EC_POINT_get_affine_coordinates(group, point, px, py, ctx) == 1);
    bn_hex64(px, hex);
    CHECK_STR(hex, RFC_UX);
    bn_hex64(py, hex);
    CHECK_STR(hex, RFC_UY);
    for (size_t i = 0; i < RFC_VECTOR_COUNT; i++) {
        const struct rfc_vector *v = &rfc_sha256[i];
        BIGNUM *k = hex_bn(v->k), *kinv = BN_new(), *z = NULL;
        /* r = (kG).x mod n */
        CHECK(EC_POINT_mul(group, point, k, NULL, NULL, ctx) == 1);
        CHECK(EC_POINT_get_affine_coordinates(group, point, px, NULL, ctx) == 1);
        CHECK(BN_nnmod(t, px, n, ctx) == 1);
        bn_hex64(t, hex);
        CHECK_STR(hex, v->r);
        /* s = k^-1 (z + r x) mod n, z = SHA-256(message) (qlen = hlen: bits2int keeps every bit) */
        unsigned char h[32];
        char hhex[65];
        sha256_bytes(v->message, strlen(v->message), h);
        hex_encode(h, 32, hhex);
        z = hex_bn(hhex);
        CHECK(BN_mod_mul(t, t, x, n, ctx) == 1 && BN_mod_add(t, t, z, n, ctx) == 1);
        CHECK(BN_mod_inverse(kinv, k, n, ctx) != NULL);
        CHECK(BN_mod_mul(t, t, kinv, n, ctx) == 1);
        bn_hex64(t, hex);
        CHECK_STR(hex, v->s);
        BN_free(k);
        BN_free(kinv);
        BN_free(z);
    }
    BN_free(px);
    BN_free(py);
    BN_free(t);
    BN_free(x);
    EC_POINT_free(point);
    BN_CTX_free(ctx);
    EC_GROUP_free(group);
}

/* ---- our signer against the RFC ---- */

static void signatures_are_the_rfc_6979_known_answers(void)
{
    struct bundle_key *pkcs8 = load_private(rfc_key_path), *sec1 = load_private(rfc_sec1_path);
    for (size_t i = 0; i < RFC_VECTOR_COUNT; i++) {
        const struct rfc_vector *v = &rfc_sha256[i];
        struct error err;
        struct buffer der = BUFFER_INIT, der_sec1 = BUFFER_INIT;
        CHECK_INT(bundle_key_sign(pkcs8, v->message, strlen(v->message), &der, &err), 0);
        char r[65] = "", s[65] = "";
        CHECK(split_signature(&der, r, s));
        CHECK_STR(r, v->r);
        CHECK_STR(s, v->s);
        /* the same scalar loaded from Image Factory's SEC1 form signs identically */
        CHECK_INT(bundle_key_sign(sec1, v->message, strlen(v->message), &der_sec1, &err), 0);
        CHECK(der.len == der_sec1.len && memcmp(der.data, der_sec1.data, der.len) == 0);
        /* DER exactly as OpenSSL encodes (r, s): re-encoding what we parsed gives the same bytes */
        const unsigned char *p = (const unsigned char *)der.data;
        ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der.len);
        unsigned char *again = NULL;
        int again_len = sig ? i2d_ECDSA_SIG(sig, &again) : -1;
        CHECK(again_len == (int)der.len && memcmp(again, der.data, der.len) == 0);
        OPENSSL_free(again);
        ECDSA_SIG_free(sig);
        buffer_free(&der);
        buffer_free(&der_sec1);
    }
    bundle_key_free(pkcs8);
    bundle_key_free(sec1);
}

/* ---- outside verifiers ---- */

static void openssl_cli_verifies_the_signatures(void)
{
    struct bundle_key *key = load_private(rfc_key_path);
    for (size_t i = 0; i < RFC_VECTOR_COUNT; i++) {
        const struct rfc_vector *v = &rfc_sha256[i];
        struct error err;
        struct buffer der = BUFFER_INIT;
        CHECK_INT(bundle_key_sign(key, v->message, strlen(v->message), &der, &err), 0);
        char *msg = path_join(scratch, "msg"), *sig = path_join(scratch, "sig.der"),
             *other = path_join(scratch, "other-msg");
        CHECK_INT(fs_write_file_atomic(msg, v->message, strlen(v->message), 0644, &err), 0);
        CHECK_INT(fs_write_file_atomic(other, "samplE", 6, 0644, &err), 0);
        CHECK_INT(fs_write_file_atomic(sig, der.data, der.len, 0644, &err), 0);
        char *cmd =
            xasprintf("openssl dgst -sha256 -verify '%s' -signature '%s' '%s' >/dev/null 2>&1", rfc_pub_path, sig, msg);
        CHECK_INT(system(cmd), 0);
        free(cmd);
        /* and the CLI can fail: the same signature over other bytes does not verify */
        cmd = xasprintf("openssl dgst -sha256 -verify '%s' -signature '%s' '%s' >/dev/null 2>&1", rfc_pub_path, sig,
                        other);
        CHECK(system(cmd) != 0);
        free(cmd);
        /* ours, through the public key file */
        struct bundle_key *pub = NULL;
        CHECK_INT(bundle_key_load_public(rfc_pub_path, &pub, &err), 0);
        if (pub) {
            CHECK_INT(bundle_key_verify(pub, v->message, strlen(v->message), der.data, der.len, "x", &err), 0);
            CHECK_INT(bundle_key_verify(pub, "samplE", 6, der.data, der.len, "x", &err), -1);
        }
        bundle_key_free(pub);
        free(msg);
        free(sig);
        free(other);
        buffer_free(&der);
    }
    bundle_key_free(key);
}

/* src/verify's cosign legacy path — how `airfactory verify` and clients check installer images —
 * accepts a simple-signing payload signed by bundle_key_sign, and refuses it for another image. */
static void cosign_legacy_verification_accepts_the_signatures(void)
{
    struct bundle_key *key = load_private(rfc_key_path);
    struct tl_run t;
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "deterministic");
    char *payload = tl_simple_payload(t.image);
    struct buffer der = BUFFER_INIT;
    struct error err;
    CHECK_INT(bundle_key_sign(key, payload, strlen(payload), &der, &err), 0);
    char *b64 = tl_b64(der.data, der.len);
    struct tl_layer layer = {payload, b64, NULL, NULL, NULL, NULL, NULL};
    tl_publish_legacy(&t.src, t.image, &layer, 1);
    struct verify_policy policy;
    tl_key_policy(scratch, &policy, &rfc_pkey, 1);
    tl_run_verify(&t, &policy);
    CHECK_INT(t.rc, 0);
    if (t.rc != 0)
        printf("  %s\n", t.err.message);
    CHECK_STR(t.r.method, "cosign-key");
    char *fp = tl_key_fingerprint(rfc_pkey);
    CHECK_STR(t.r.key_fingerprint, fp);
    free(fp);
    tl_source_free(&t.src);

    /* the same signature published for another image: the payload names the wrong digest */
    struct tl_run t2;
    memset(&t2, 0, sizeof t2);
    t2.image = tl_image(&t2.src, "another");
    struct tl_layer reused = {payload, b64, NULL, NULL, NULL, NULL, NULL};
    tl_publish_legacy(&t2.src, t2.image, &reused, 1);
    tl_run_verify(&t2, &policy);
    CHECK_INT(t2.rc, -1);
    tl_source_free(&t2.src);
    verify_policy_free(&policy);
    free(b64);
    free(payload);
    buffer_free(&der);
    bundle_key_free(key);
}

/* ---- determinism ---- */

static void the_same_bytes_give_the_same_signature(void)
{
    char *path = make_key("fresh");
    struct bundle_key *a = load_private(path), *b = load_private(path);
    struct error err;
    /* index.db-sized inputs are hashed first; a few sizes, including empty */
    size_t sizes[] = {0, 1, 64, 4096, 1 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *data = xmalloc(sizes[i] + 1);
        for (size_t j = 0; j < sizes[i]; j++)
            data[j] = (unsigned char)(j * 131 + i);
        struct buffer one = BUFFER_INIT, two = BUFFER_INIT, three = BUFFER_INIT;
        CHECK_INT(bundle_key_sign(a, data, sizes[i], &one, &err), 0);
        CHECK_INT(bundle_key_sign(a, data, sizes[i], &two, &err), 0);
        CHECK_INT(bundle_key_sign(b, data, sizes[i], &three, &err), 0); /* a second load of the key */
        CHECK(one.len > 8 && one.len == two.len && memcmp(one.data, two.data, one.len) == 0);
        CHECK(one.len == three.len && memcmp(one.data, three.data, one.len) == 0);
        CHECK_INT(bundle_key_verify(a, data, sizes[i], one.data, one.len, "x", &err), 0);
        buffer_free(&one);
        buffer_free(&two);
        buffer_free(&three);
        free(data);
    }
    /* appends to what der_out holds, like before */
    struct buffer out = BUFFER_INIT;
    buffer_append_str(&out, "prefix");
    CHECK_INT(bundle_key_sign(a, "x", 1, &out, &err), 0);
    CHECK(out.len > 6 && memcmp(out.data, "prefix", 6) == 0 && (unsigned char)out.data[6] == 0x30);
    buffer_free(&out);
    bundle_key_free(a);
    bundle_key_free(b);
    free(path);
}

/* r = (kG).x: distinct r means distinct k. 200 messages (one bit apart), and two keys on one
 * message, all give distinct nonces. */
static void different_messages_and_keys_give_different_nonces(void)
{
    char *path = make_key("nonce");
    struct bundle_key *key = load_private(path), *rfc = load_private(rfc_key_path);
    enum { COUNT = 200 };
    static char rs[COUNT + 1][65];
    struct error err;
    bool all_ok = true;
    for (int i = 0; i < COUNT; i++) {
        unsigned char msg[32] = {0};
        msg[i / 8] = (unsigned char)(1u << (i % 8)); /* i < 256: one bit set */
        struct buffer der = BUFFER_INIT;
        char s[65];
        all_ok &= bundle_key_sign(key, msg, sizeof msg, &der, &err) == 0 && split_signature(&der, rs[i], s);
        buffer_free(&der);
    }
    struct buffer der = BUFFER_INIT;
    char s[65];
    unsigned char zero[32] = {0};
    all_ok &= bundle_key_sign(rfc, zero, sizeof zero, &der, &err) == 0 && split_signature(&der, rs[COUNT], s);
    buffer_free(&der);
    struct buffer other = BUFFER_INIT;
    char r_other[65];
    all_ok &= bundle_key_sign(key, zero, sizeof zero, &other, &err) == 0 && split_signature(&other, r_other, s);
    buffer_free(&other);
    CHECK(all_ok);
    int duplicates = strcmp(r_other, rs[COUNT]) == 0;
    for (int i = 0; i <= COUNT; i++)
        for (int j = i + 1; j <= COUNT; j++)
            duplicates += strcmp(rs[i], rs[j]) == 0;
    CHECK_INT(duplicates, 0);
    bundle_key_free(key);
    bundle_key_free(rfc);
    free(path);
}

static void a_public_key_cannot_sign(void)
{
    struct bundle_key *pub = NULL;
    struct error err;
    CHECK_INT(bundle_key_load_public(rfc_pub_path, &pub, &err), 0);
    struct buffer der = BUFFER_INIT;
    CHECK_INT(bundle_key_sign(pub, "x", 1, &der, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    CHECK_INT((int)der.len, 0);
    bundle_key_free(pub);
}

/* ---- cost (printed, not asserted) ---- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sign_time_next_to_evp_digest_sign(void)
{
    struct bundle_key *key = load_private(rfc_key_path);
    enum { ROUNDS = 300 };
    const char msg[] = "{\"critical\":{\"identity\":{\"docker-reference\":\"factory.talos.dev/installer\"}}}";
    struct error err;
    int failures = 0;
    double t0 = now_seconds();
    for (int i = 0; i < ROUNDS; i++) {
        struct buffer der = BUFFER_INIT;
        failures += bundle_key_sign(key, msg, sizeof msg, &der, &err) != 0;
        buffer_free(&der);
    }
    double ours = (now_seconds() - t0) / ROUNDS;
    t0 = now_seconds();
    for (int i = 0; i < ROUNDS; i++) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned char sig[80];
        size_t sig_len = sizeof sig;
        failures += !ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, rfc_pkey) != 1 ||
                    EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)msg, sizeof msg) != 1;
        EVP_MD_CTX_free(ctx);
    }
    double theirs = (now_seconds() - t0) / ROUNDS;
    CHECK_INT(failures, 0);
    printf("  info: one signature: bundle_key_sign (RFC 6979 + self-verify) %.0f us, "
           "EVP_DigestSign (random k) %.0f us (this build's flags)\n",
           ours * 1e6, theirs * 1e6);
    bundle_key_free(key);
}

int main(void)
{
    scratch = make_scratch();
    make_rfc_key();
    RUN(rfc_constants_are_consistent);
    RUN(signatures_are_the_rfc_6979_known_answers);
    RUN(openssl_cli_verifies_the_signatures);
    RUN(cosign_legacy_verification_accepts_the_signatures);
    RUN(the_same_bytes_give_the_same_signature);
    RUN(different_messages_and_keys_give_different_nonces);
    RUN(a_public_key_cannot_sign);
    RUN(sign_time_next_to_evp_digest_sign);
    EVP_PKEY_free(rfc_pkey);
    free(rfc_key_path);
    free(rfc_sec1_path);
    free(rfc_pub_path);
    struct error err;
    if (fs_remove_tree(scratch, &err) != 0)
        printf("  cannot remove %s: %s\n", scratch, err.message);
    free(scratch);
    return TEST_MAIN_END();
}
