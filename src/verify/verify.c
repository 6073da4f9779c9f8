/* verify — policy, the order of checks, and receipts (see verify.h).
 *
 * Order, as Image Factory's VerifySignatures: Sigstore bundle referrers first, then the legacy
 * `sha256-<hex>.sig` tag; the first signature that verifies wins. Decisions recorded here:
 *   - an insecure policy still verifies when it has keys or a keyless identity, so a good
 *     signature is recorded by its real method; only when none verifies is the image accepted as
 *     "insecure", and receipt.detail says whether no signature was found or which one failed;
 *   - a source failure (ERROR_RUNTIME: unreadable blob, I/O) is never turned into an insecure
 *     acceptance: it is reported as is. */
#include "airfactory/verify.h"

#include <string.h>

#include "verify/cosign_legacy.h"
#include "core/digest.h"
#include "core/json.h"
#include "core/memory.h"
#include "verify/sigstore_bundle.h"
#include "verify/verify_trust.h"

#define TALOS_ISSUER "https://accounts.google.com"
#define TALOS_IDENTITY_REGEXP "(@siderolabs\\.com$|^releasemgr-svc@talos-production\\.iam\\.gserviceaccount\\.com$)"

void verify_policy_default_talos(struct verify_policy *p)
{
    memset(p, 0, sizeof *p);
    p->name = xstrdup("talos-default");
    p->keyless_issuer = xstrdup(TALOS_ISSUER);
    p->keyless_identity_regexp = xstrdup(TALOS_IDENTITY_REGEXP);
}

void verify_policy_free(struct verify_policy *p)
{
    if (!p)
        return;
    free(p->name);
    for (size_t i = 0; p->public_keys && i < p->public_key_count; i++)
        free(p->public_keys[i]);
    free(p->public_keys);
    free(p->keyless_issuer);
    free(p->keyless_identity_regexp);
    free(p->trusted_root_path);
    memset(p, 0, sizeof *p);
}

void verify_receipt_to_json(const struct verify_receipt *r, struct buffer *out)
{
    struct json_writer w;
    json_writer_init(&w, out);
    w.escape_html = false;
    json_object_begin(&w);
    json_kv_string(&w, "method", r->method);
    json_kv_string(&w, "policy", r->policy);
    if (r->key_fingerprint[0])
        json_kv_string(&w, "key_fingerprint", r->key_fingerprint);
    if (r->identity[0])
        json_kv_string(&w, "identity", r->identity);
    if (r->issuer[0])
        json_kv_string(&w, "issuer", r->issuer);
    if (r->cert_fingerprint[0])
        json_kv_string(&w, "cert_fingerprint", r->cert_fingerprint);
    if (r->log_index >= 0)
        json_kv_int(&w, "log_index", r->log_index);
    if (r->integrated_time >= 0)
        json_kv_int(&w, "integrated_time", r->integrated_time);
    if (r->timestamp > 0)
        json_kv_int(&w, "timestamp", r->timestamp);
    if (r->timestamp_authority[0])
        json_kv_string(&w, "timestamp_authority", r->timestamp_authority);
    if (r->detail[0])
        json_kv_string(&w, "detail", r->detail);
    json_object_end(&w);
}

static void accept_insecure(struct verify_receipt *r, const char *detail)
{
    char policy[sizeof r->policy];
    memcpy(policy, r->policy, sizeof policy);
    memset(r, 0, sizeof *r);
    memcpy(r->policy, policy, sizeof policy);
    snprintf(r->method, sizeof r->method, "insecure");
    snprintf(r->detail, sizeof r->detail, "%s", detail);
    r->log_index = -1;
    r->integrated_time = -1;
}

int verify_image(const struct verify_policy *policy, const struct verify_source *source, const char *manifest_digest,
                 struct verify_receipt *receipt, struct error *err)
{
    memset(receipt, 0, sizeof *receipt);
    receipt->log_index = -1;
    receipt->integrated_time = -1;
    if (!policy)
        return error_set(err, ERROR_INPUT, "%s: no trust policy given", manifest_digest ? manifest_digest : "verify");
    const char *name = policy->name && *policy->name ? policy->name : "(unnamed)";
    snprintf(receipt->policy, sizeof receipt->policy, "%s", name);
    char hex[SHA256_HEX_LEN + 1];
    if (!manifest_digest || digest_parse(manifest_digest, hex, err) != 0)
        return manifest_digest ? -1 : error_set(err, ERROR_INPUT, "verify: no image digest given");
    if (!source || !source->read_blob)
        return error_set(err, ERROR_RUNTIME, "%s: verify needs a source that can read blobs", manifest_digest);
    struct verify_trust trust;
    if (verify_trust_load(policy, &trust, err) != 0)
        return -1;
    int rc = -1;
    if (!verify_trust_can_verify(&trust)) {
        accept_insecure(receipt, "policy has no public keys and no keyless identity; signatures were not checked");
        rc = 0;
        goto out;
    }
    struct error bundle_err = {0}, legacy_err = {0};
    int bundles = sigstore_bundle_verify_image(&trust, source, manifest_digest, receipt, &bundle_err);
    if (bundles == 1) {
        rc = 0;
        goto out;
    }
    if (bundles < 0 && bundle_err.code != ERROR_INPUT) {
        error_set(err, bundle_err.code, "%s: %s", manifest_digest, bundle_err.message);
        goto out;
    }
    int legacy = cosign_legacy_verify(&trust, source, manifest_digest, receipt, &legacy_err);
    if (legacy == 1) {
        rc = 0;
        goto out;
    }
    if (legacy < 0 && legacy_err.code != ERROR_INPUT) {
        error_set(err, legacy_err.code, "%s: %s", manifest_digest, legacy_err.message);
        goto out;
    }
    if (bundles == 0 && legacy == 0) {
        char detail[160];
        snprintf(detail, sizeof detail,
                 "no signature found: neither a Sigstore bundle referrer nor the tag sha256-%s.sig", hex);
        if (policy->insecure) {
            accept_insecure(receipt, detail);
            rc = 0;
        } else {
            error_set(err, ERROR_INPUT, "%s: %s; sign the image or set insecure: true in policy %s", manifest_digest,
                      detail, name);
        }
        goto out;
    }
    /* Something was found and nothing verified. */
    char *failures = xasprintf("%s%s%s", bundles < 0 ? bundle_err.message : "", bundles < 0 && legacy < 0 ? "; " : "",
                               legacy < 0 ? legacy_err.message : "");
    if (policy->insecure) {
        char *detail = xasprintf("signature present but not valid: %s", failures);
        accept_insecure(receipt, detail);
        free(detail);
        rc = 0;
    } else {
        const char *advice = trust.key_count > 0 && !trust.keyless ? "add the signer's public key to the policy's keys"
                             : trust.keyless && trust.key_count == 0
                                 ? "check the policy's identity regexp, issuer and trusted root"
                                 : "check the policy's keys and keyless identity";
        error_set(err, ERROR_INPUT, "%s: no valid signature for policy %s: %s; %s, or set insecure: true in it",
                  manifest_digest, name, failures, advice);
    }
    free(failures);
out:
    verify_trust_free(&trust);
    return rc;
}
