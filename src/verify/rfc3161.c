/* rfc3161 — verify RFC 3161 timestamps against a trusted root's timestamp authorities with
 * OpenSSL's TS API (see rfc3161.h). */
#include "verify/rfc3161.h"

#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "airfactory/buffer.h"

/* OpenSSL's last error as "reason (detail)", then the queue cleared. */
static void openssl_reason(char *out, size_t size)
{
    const char *data = NULL;
    int flags = 0;
    unsigned long e, last = 0;
    const char *last_data = NULL;
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        last = e;
        last_data = (flags & ERR_TXT_STRING) && data && *data ? data : last_data;
    }
    const char *reason = last ? ERR_reason_error_string(last) : NULL;
    snprintf(out, size, "%s%s%s%s", reason ? reason : "unknown OpenSSL error", last_data ? " (" : "",
             last_data ? last_data : "", last_data ? ")" : "");
    ERR_clear_error();
}

/* One authority: 1 verified, 0 refused (why filled), -1 internal failure. */
static int verify_with(TS_RESP *resp, const void *signed_bytes, size_t signed_len,
                       const struct trusted_root_authority *tsa, int64_t gen_time, char *why, size_t why_size)
{
    int n = sk_X509_num(tsa->chain);
    if (n <= 0) {
        snprintf(why, why_size, "the authority lists no certificate");
        return 0;
    }
    TS_VERIFY_CTX *ctx = TS_VERIFY_CTX_new();
    X509_STORE *store = X509_STORE_new();
    X509_VERIFY_PARAM *param = X509_VERIFY_PARAM_new();
    STACK_OF(X509) *certs = sk_X509_new_null();
    BIO *data = BIO_new_mem_buf(signed_bytes, (int)signed_len);
    int rc = -1;
    if (!ctx || !store || !param || !certs || !data || !X509_STORE_add_cert(store, sk_X509_value(tsa->chain, n - 1)))
        goto out;
    /* The chain is checked at genTime, not at the wall clock: a timestamp outlives its TSA
     * certificate's validity by design. */
    X509_VERIFY_PARAM_set_time(param, (time_t)gen_time);
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
    if (!X509_STORE_set1_param(store, param))
        goto out;
    for (int i = 0; i < n - 1; i++) {
        X509 *c = sk_X509_value(tsa->chain, i);
        if (!X509_up_ref(c))
            goto out;
        if (!sk_X509_push(certs, c)) {
            X509_free(c);
            goto out;
        }
    }
    TS_VERIFY_CTX_set_flags(ctx, TS_VFY_VERSION | TS_VFY_SIGNATURE | TS_VFY_DATA);
    /* The context owns what it is given from here on. */
    TS_VERIFY_CTX_set_data(ctx, data);
    data = NULL;
#if OPENSSL_VERSION_NUMBER >= 0x30400000L
    TS_VERIFY_CTX_set0_store(ctx, store);
    TS_VERIFY_CTX_set0_certs(ctx, certs);
#else
    TS_VERIFY_CTX_set_store(ctx, store);
    TS_VERIFY_CTX_set_certs(ctx, certs);
#endif
    STACK_OF(X509) *untrusted = certs;
    store = NULL;
    certs = NULL;
    if (TS_RESP_verify_response(ctx, resp) != 1) {
        openssl_reason(why, why_size);
        rc = 0;
        goto out;
    }
    /* OpenSSL accepts any signer that chains to the anchor; when the authority names its leaf,
     * the signer must be that certificate. */
    if (n >= 2) {
        STACK_OF(X509) *signers = PKCS7_get0_signers(TS_RESP_get_token(resp), untrusted, 0);
        bool same = signers && sk_X509_num(signers) == 1 &&
                    X509_cmp(sk_X509_value(signers, 0), sk_X509_value(tsa->chain, 0)) == 0;
        sk_X509_free(signers);
        ERR_clear_error();
        if (!same) {
            snprintf(why, why_size, "the timestamp was signed by another certificate than the authority's leaf");
            rc = 0;
            goto out;
        }
    }
    rc = 1;
out:
    if (rc < 0)
        openssl_reason(why, why_size);
    TS_VERIFY_CTX_free(ctx);
    X509_STORE_free(store);
    X509_VERIFY_PARAM_free(param);
    sk_X509_pop_free(certs, X509_free);
    BIO_free(data);
    return rc;
}

static bool imprint_algorithm_accepted(TS_TST_INFO *tst)
{
    X509_ALGOR *alg = TS_MSG_IMPRINT_get_algo(TS_TST_INFO_get_msg_imprint(tst));
    const ASN1_OBJECT *oid = NULL;
    X509_ALGOR_get0(&oid, NULL, NULL, alg);
    int nid = oid ? OBJ_obj2nid(oid) : NID_undef;
    return nid == NID_sha256 || nid == NID_sha384 || nid == NID_sha512;
}

int rfc3161_verify(const void *der, size_t len, const void *signed_bytes, size_t signed_len,
                   const struct trusted_root *root, const char *what, struct rfc3161_time *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    if (len == 0 || len > RFC3161_MAX_SIZE)
        return error_set(err, ERROR_INPUT, "%s: %zu bytes is not an RFC 3161 timestamp response", what, len);
    const unsigned char *p = der;
    TS_RESP *resp = d2i_TS_RESP(NULL, &p, (long)len);
    if (!resp || p != (const unsigned char *)der + len) {
        TS_RESP_free(resp);
        ERR_clear_error();
        return error_set(err, ERROR_INPUT, "%s: not a DER RFC 3161 TimeStampResp", what);
    }
    int rc = -1;
    TS_TST_INFO *tst = TS_RESP_get_tst_info(resp);
    const ASN1_INTEGER *status = TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(resp));
    long st = status ? ASN1_INTEGER_get(status) : -1;
    if (!tst || (st != 0 && st != 1)) {
        error_set(err, ERROR_INPUT, "%s: RFC 3161 response status is %ld, not granted; it holds no timestamp", what, st);
        goto out;
    }
    struct tm tm;
    const ASN1_GENERALIZEDTIME *gt = TS_TST_INFO_get_time(tst);
    if (!gt || !ASN1_TIME_to_tm(gt, &tm)) {
        error_set(err, ERROR_INPUT, "%s: RFC 3161 TSTInfo.genTime is malformed", what);
        goto out;
    }
    int64_t gen_time = (int64_t)timegm(&tm);
    char when[32];
    trusted_root_format_time(gen_time, when);
    if (!imprint_algorithm_accepted(tst)) {
        error_set(err, ERROR_INPUT, "%s: RFC 3161 message imprint is not SHA-256, SHA-384 or SHA-512", what);
        goto out;
    }
    if (root->timestamp_authority_count == 0) {
        error_set(err, ERROR_INPUT,
                  "%s: bundle carries an RFC 3161 timestamp but trusted root %s lists no timestampAuthorities; use "
                  "a trusted root that lists the timestamp authority",
                  what, root->what);
        goto out;
    }
    struct buffer why_all = BUFFER_INIT;
    for (size_t i = 0; i < root->timestamp_authority_count; i++) {
        const struct trusted_root_authority *tsa = &root->timestamp_authorities[i];
        char why[320];
        if (gen_time < tsa->valid_from || gen_time > tsa->valid_until) {
            snprintf(why, sizeof why, "genTime %s is outside its validFor", when);
        } else {
            int v = verify_with(resp, signed_bytes, signed_len, tsa, gen_time, why, sizeof why);
            if (v < 0) {
                error_set(err, ERROR_RUNTIME, "%s: RFC 3161 verification could not run: %s", what, why);
                buffer_free(&why_all);
                goto out;
            }
            if (v == 1) {
                out->time = gen_time;
                out->tsa = tsa;
                buffer_free(&why_all);
                rc = 0;
                goto out;
            }
        }
        buffer_appendf(&why_all, "%stimestampAuthorities[%zu] %s: %s", why_all.len ? "; " : "", i,
                       tsa->uri && *tsa->uri ? tsa->uri : "(no uri)", why);
    }
    error_set(err, ERROR_INPUT,
              "%s: RFC 3161 timestamp (genTime %s) does not verify with a timestamp authority of %s: %s", what, when,
              root->what, buffer_cstr(&why_all));
    buffer_free(&why_all);
out:
    TS_RESP_free(resp);
    ERR_clear_error();
    return rc;
}
