/* verify_trust — a loaded policy and the shared signer checks (see verify_trust.h). */
#include "verify/verify_trust.h"

#include <string.h>

#include "airfactory/buffer.h"
#include "core/memory.h"
#include "verify/x509_chain.h"

static const char *policy_name(const struct verify_policy *p)
{
    return p && p->name && *p->name ? p->name : "(unnamed)";
}

int verify_trust_load(const struct verify_policy *policy, struct verify_trust *trust, struct error *err)
{
    memset(trust, 0, sizeof *trust);
    if (!policy)
        return error_set(err, ERROR_INPUT, "verify: no trust policy given");
    trust->policy = policy;
    const char *name = policy_name(policy);
    if (policy->public_key_count > 0 && !policy->public_keys)
        return error_set(err, ERROR_INPUT, "policy %s: public_key_count is %zu but no keys are given", name,
                         policy->public_key_count);
    trust->keys = xcalloc(policy->public_key_count ? policy->public_key_count : 1, sizeof *trust->keys);
    for (size_t i = 0; i < policy->public_key_count; i++) {
        if (!policy->public_keys[i] || public_key_load_pem_file(policy->public_keys[i], &trust->keys[i], err) != 0) {
            if (!policy->public_keys[i])
                error_set(err, ERROR_INPUT, "policy %s: key %zu has no path", name, i);
            else
                error_prefix(err, "policy %s: ", name);
            verify_trust_free(trust);
            return -1;
        }
        trust->key_count = i + 1;
    }
    int keyless_fields = (policy->keyless_issuer && *policy->keyless_issuer) +
                         (policy->keyless_identity_regexp && *policy->keyless_identity_regexp) +
                         (policy->trusted_root_path && *policy->trusted_root_path);
    if (keyless_fields != 0 && keyless_fields != 3) {
        verify_trust_free(trust);
        return error_set(err, ERROR_INPUT,
                         "policy %s: keyless verification needs all three of issuer, identity regexp and trusted "
                         "root (missing %s%s%s)",
                         name, policy->keyless_issuer && *policy->keyless_issuer ? "" : "issuer ",
                         policy->keyless_identity_regexp && *policy->keyless_identity_regexp ? "" : "identity-regexp ",
                         policy->trusted_root_path && *policy->trusted_root_path ? "" : "trusted-root");
    }
    if (keyless_fields == 3) {
        trust->keyless = true;
        int rc = regcomp(&trust->identity, policy->keyless_identity_regexp, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char why[128];
            regerror(rc, &trust->identity, why, sizeof why);
            verify_trust_free(trust);
            return error_set(err, ERROR_INPUT,
                             "policy %s: identity regexp '%s' is not a POSIX extended regular expression: %s", name,
                             policy->keyless_identity_regexp, why);
        }
        trust->identity_compiled = true;
        if (trusted_root_load(policy->trusted_root_path, &trust->root, err) != 0) {
            error_prefix(err, "policy %s: ", name);
            verify_trust_free(trust);
            return -1;
        }
    }
    if (!policy->insecure && !verify_trust_can_verify(trust)) {
        verify_trust_free(trust);
        return error_set(err, ERROR_INPUT,
                         "policy %s trusts nothing: add public keys or a keyless identity (issuer, identity regexp, "
                         "trusted root), or set insecure: true",
                         name);
    }
    return 0;
}

void verify_trust_free(struct verify_trust *trust)
{
    for (size_t i = 0; i < trust->key_count; i++)
        public_key_free(trust->keys[i]);
    free(trust->keys);
    if (trust->identity_compiled)
        regfree(&trust->identity);
    trusted_root_free(trust->root);
    memset(trust, 0, sizeof *trust);
}

bool verify_trust_can_verify(const struct verify_trust *trust)
{
    return trust->key_count > 0 || trust->keyless;
}

void verify_trust_describe_keys(const struct verify_trust *trust, char *out, size_t size)
{
    struct buffer b = BUFFER_INIT;
    for (size_t i = 0; i < trust->key_count; i++)
        buffer_appendf(&b, "%s%s", i ? ", " : "", public_key_fingerprint(trust->keys[i]));
    snprintf(out, size, "%s", buffer_cstr(&b));
    buffer_free(&b);
}

int verify_trust_check_keys(const struct verify_trust *trust, const void *message, size_t message_len,
                            const void *signature, size_t signature_len, const struct public_key **matched,
                            struct error *err)
{
    for (size_t i = 0; i < trust->key_count; i++) {
        int v =
            public_key_verify(trust->keys[i], PUBLIC_KEY_ANY_HASH, message, message_len, signature, signature_len, err);
        if (v < 0)
            return -1;
        if (v == 1) {
            *matched = trust->keys[i];
            return 1;
        }
    }
    return 0;
}

int verify_trust_check_signer(const struct verify_trust *trust, X509 *leaf, int64_t at, const char *what,
                              struct verify_trust_signer *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    if (!trust->keyless)
        return error_set(err, ERROR_INPUT,
                         "%s: signed keyless (Fulcio certificate) but policy %s has no keyless identity; add issuer, "
                         "identity regexp and trusted root to it",
                         what, policy_name(trust->policy));
    if (x509_chain_verify(leaf, trust->root, at, what, err) != 0)
        return -1;
    struct x509_chain_identity id;
    if (x509_chain_identity_read(leaf, what, &id, err) != 0)
        return -1;
    int rc = 0;
    const char *matched = NULL;
    for (size_t i = 0; i < id.san_count && !matched; i++)
        if (regexec(&trust->identity, id.sans[i], 0, NULL, 0) == 0)
            matched = id.sans[i];
    if (!matched) {
        struct buffer sans = BUFFER_INIT;
        for (size_t i = 0; i < id.san_count; i++)
            buffer_appendf(&sans, "%s%s", i ? ", " : "", id.sans[i]);
        rc = error_set(err, ERROR_INPUT,
                       "%s: certificate SAN %s does not match identity regexp '%s' of policy %s; if this signer is "
                       "trusted, widen the regexp",
                       what, id.san_count ? buffer_cstr(&sans) : "(none)", trust->policy->keyless_identity_regexp,
                       policy_name(trust->policy));
        buffer_free(&sans);
        goto out;
    }
    if (!id.issuer) {
        rc = error_set(err, ERROR_INPUT,
                       "%s: certificate has no OIDC issuer extension (%s or %s); it is not a Fulcio certificate", what,
                       X509_CHAIN_OID_ISSUER_V2, X509_CHAIN_OID_ISSUER_V1);
        goto out;
    }
    if (strcmp(id.issuer, trust->policy->keyless_issuer) != 0) {
        rc = error_set(err, ERROR_INPUT, "%s: certificate issuer %s does not match %s required by policy %s", what,
                       id.issuer, trust->policy->keyless_issuer, policy_name(trust->policy));
        goto out;
    }
    if (public_key_from_evp(X509_get0_pubkey(leaf), what, &out->key, err) != 0) {
        rc = -1;
        goto out;
    }
    snprintf(out->identity, sizeof out->identity, "%s", matched);
    snprintf(out->issuer, sizeof out->issuer, "%s", id.issuer);
    snprintf(out->cert_fingerprint, sizeof out->cert_fingerprint, "%s", id.fingerprint);
out:
    x509_chain_identity_free(&id);
    return rc;
}

void verify_trust_signer_free(struct verify_trust_signer *signer)
{
    public_key_free(signer->key);
    memset(signer, 0, sizeof *signer);
}
