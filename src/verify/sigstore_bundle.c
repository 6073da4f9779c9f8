/* sigstore_bundle — verify Sigstore bundle referrers (DSSE in-toto) offline (see sigstore_bundle.h). */
#include "verify/sigstore_bundle.h"

#include <string.h>

#include "core/base64.h"
#include "core/digest.h"
#include "core/json.h"
#include "core/memory.h"
#include "verify/rekor_entry.h"
#include "verify/rfc3161.h"
#include "verify/x509_chain.h"

#define SIGSTORE_BUNDLE_MANIFEST_MAX (256 * 1024)

void sigstore_bundle_pae(const char *payload_type, const void *payload, size_t payload_len, struct buffer *out)
{
    buffer_appendf(out, "DSSEv1 %zu %s %zu ", strlen(payload_type), payload_type, payload_len);
    buffer_append(out, payload, payload_len);
}

int sigstore_bundle_check_statement(const char *statement, size_t len, const char *manifest_digest, const char *what,
                                    struct error *err)
{
    char hex[SHA256_HEX_LEN + 1];
    if (digest_parse(manifest_digest, hex, err) != 0)
        return -1;
    struct json_value *doc = NULL;
    if (json_parse(statement, len, what, &doc, err) != 0)
        return -1;
    int rc = 0;
    const char *type = doc->type == JSON_OBJECT ? json_object_get_string(doc, "_type") : NULL;
    const char *predicate = doc->type == JSON_OBJECT ? json_object_get_string(doc, "predicateType") : NULL;
    const struct json_value *subjects = doc->type == JSON_OBJECT ? json_object_get_array(doc, "subject") : NULL;
    if (!type || strcmp(type, SIGSTORE_BUNDLE_STATEMENT_TYPE) != 0) {
        rc = error_set(err, ERROR_INPUT, "%s: statement _type is '%s', not %s", what, type ? type : "(none)",
                       SIGSTORE_BUNDLE_STATEMENT_TYPE);
        goto out;
    }
    if (!predicate || strcmp(predicate, SIGSTORE_BUNDLE_PREDICATE_TYPE) != 0) {
        rc = error_set(err, ERROR_INPUT,
                       "%s: statement predicateType is '%s', not %s: an attestation, not a cosign image signature",
                       what, predicate ? predicate : "(none)", SIGSTORE_BUNDLE_PREDICATE_TYPE);
        goto out;
    }
    struct buffer named = BUFFER_INIT;
    bool found = false;
    for (size_t i = 0; subjects && i < subjects->count && !found; i++) {
        const struct json_value *s = subjects->items[i];
        const struct json_value *d = s->type == JSON_OBJECT ? json_object_get_object(s, "digest") : NULL;
        const char *sha = d ? json_object_get_string(d, "sha256") : NULL;
        if (!sha)
            continue;
        if (strcmp(sha, hex) == 0)
            found = true;
        else
            buffer_appendf(&named, "%ssha256:%s", named.len ? ", " : "", sha);
    }
    if (!found)
        rc = error_set(err, ERROR_INPUT, "%s: statement subject is %s, not %s: this is a signature for another image",
                       what, named.len ? buffer_cstr(&named) : "(none)", manifest_digest);
    buffer_free(&named);
out:
    json_free(doc);
    return rc;
}

/* Bundle minor version (1, 2, 3) of a media type, 0 when not one this verifier reads
 * (protobuf-specs sigstore_bundle.proto Bundle.media_type). */
static int media_type_version(const char *mt)
{
    static const struct {
        const char *name;
        int version;
    } known[] = {
        {"application/vnd.dev.sigstore.bundle+json;version=0.1", 1},
        {"application/vnd.dev.sigstore.bundle+json;version=0.2", 2},
        {"application/vnd.dev.sigstore.bundle+json;version=0.3", 3},
        {"application/vnd.dev.sigstore.bundle.v0.1+json", 1},
        {"application/vnd.dev.sigstore.bundle.v0.2+json", 2},
        {SIGSTORE_BUNDLE_MEDIA_TYPE_V03, 3},
    };
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(mt, known[i].name) == 0)
            return known[i].version;
    return 0;
}

static int decode_field(const struct json_value *obj, const char *key, const char *what, const char *field,
                        struct buffer *out, struct error *err)
{
    const struct json_value *v = obj ? json_object_get(obj, key) : NULL;
    if (!v || v->type != JSON_STRING || v->text_len == 0)
        return error_set(err, ERROR_INPUT, "%s: %s is missing", what, field);
    if (base64_decode_any(v->text, v->text_len, out) != 0)
        return error_set(err, ERROR_INPUT, "%s:%d:%d: %s is not valid base64", what, v->line, v->column, field);
    return 0;
}

/* The signer's certificate and any chain from verificationMaterial; *leaf NULL when the bundle is
 * key-based. */
static int read_certificates(const struct json_value *vm, const char *what, X509 **leaf, STACK_OF(X509) * *rest,
                             struct error *err)
{
    *leaf = NULL;
    *rest = NULL;
    const struct json_value *cert = json_object_get_object(vm, "certificate");
    const struct json_value *chain = json_object_get_object(vm, "x509CertificateChain");
    if (cert && chain)
        return error_set(err, ERROR_INPUT, "%s: verificationMaterial has both certificate and x509CertificateChain",
                         what);
    if (cert) {
        struct buffer der = BUFFER_INIT;
        int rc = decode_field(cert, "rawBytes", what, "verificationMaterial.certificate.rawBytes", &der, err);
        char *sub = xasprintf("%s verificationMaterial.certificate.rawBytes", what);
        if (rc == 0)
            rc = x509_chain_parse_der((const unsigned char *)der.data, der.len, sub, leaf, err);
        free(sub);
        buffer_free(&der);
        return rc;
    }
    if (!chain)
        return 0;
    const struct json_value *certs = json_object_get_array(chain, "certificates");
    if (!certs || certs->count == 0 || certs->count > 16)
        return error_set(err, ERROR_INPUT, "%s: x509CertificateChain.certificates must hold 1 to 16 certificates", what);
    *rest = sk_X509_new_null();
    if (!*rest)
        return error_set(err, ERROR_RUNTIME, "%s: out of memory", what);
    for (size_t i = 0; i < certs->count; i++) {
        struct buffer der = BUFFER_INIT;
        X509 *x = NULL;
        int rc = certs->items[i]->type == JSON_OBJECT
                     ? decode_field(certs->items[i], "rawBytes", what, "x509CertificateChain certificate", &der, err)
                     : error_set(err, ERROR_INPUT, "%s: x509CertificateChain entry is not an object", what);
        if (rc == 0)
            rc = x509_chain_parse_der((const unsigned char *)der.data, der.len, what, &x, err);
        buffer_free(&der);
        if (rc != 0) {
            X509_free(*leaf);
            *leaf = NULL;
            sk_X509_pop_free(*rest, X509_free);
            *rest = NULL;
            return -1;
        }
        if (i == 0)
            *leaf = x;
        else if (!sk_X509_push(*rest, x))
            X509_free(x);
    }
    return 0;
}

/* Find a tlog entry that verifies and logs this signature; fills entry and whether its SET made
 * integratedTime trustworthy. version: the bundle's minor version (v0.1 needs an inclusion
 * promise, v0.2 and later an inclusion proof, as sigstore-go's bundle validation). */
static int verify_tlog(const struct verify_trust *trust, const struct json_value *vm, int version,
                       const struct buffer *signature, X509 *leaf, const struct buffer *payload, const struct buffer *pae,
                       const char *what, struct rekor_entry *entry, bool *set_verified, struct error *err)
{
    const struct json_value *entries = json_object_get_array(vm, "tlogEntries");
    if (!entries || entries->count == 0)
        return error_set(err, ERROR_INPUT,
                         "%s: keyless bundle has no transparency log entry; offline verification needs the log "
                         "entry that vouches for the signature",
                         what);
    struct buffer failures = BUFFER_INIT;
    for (size_t i = 0; i < entries->count && i < SIGSTORE_BUNDLE_MAX_TLOG_ENTRIES; i++) {
        char *sub = xasprintf("%s tlogEntries[%zu]", what, i);
        struct error e = {0};
        struct rekor_body body;
        memset(&body, 0, sizeof body);
        struct rekor_entry_result result;
        int ok = rekor_entry_from_bundle_json(entries->items[i], sub, entry, &e) == 0;
        if (ok && version == 1 && entry->signed_entry_timestamp.len == 0) {
            error_set(&e, ERROR_INPUT,
                      "%s: a v0.1 bundle's log entry needs an inclusionPromise (signed entry timestamp)", sub);
            ok = 0;
        }
        if (ok && version >= 2 && !entry->has_inclusion_proof) {
            error_set(&e, ERROR_INPUT,
                      "%s: a v0.%d bundle's log entry needs an inclusionProof (sigstore-go refuses it without one)",
                      sub, version);
            ok = 0;
        }
        if (ok && rekor_entry_verify(entry, trust->root, sub, &result, &e) != 0)
            ok = 0;
        if (ok && rekor_body_parse(entry->body.data, entry->body.len, sub, &body, &e) != 0)
            ok = 0;
        if (ok && (strcmp(body.kind, entry->kind) != 0 || strcmp(body.api_version, entry->version) != 0)) {
            error_set(&e, ERROR_INPUT, "%s: kindVersion %s %s does not match the logged body's %s %s", sub, entry->kind,
                      entry->version, body.kind, body.api_version);
            ok = 0;
        }
        /* What each kind logs about a DSSE envelope: dsse and intoto the payload's hash, Rekor v2's
         * hashedrekord the hash of the pre-authentication encoding that was signed. */
        const struct buffer *content = strcmp(body.kind, "hashedrekord") == 0 ? pae : payload;
        if (ok && strcmp(body.kind, "hashedrekord") == 0 && !body.v2) {
            error_set(&e, ERROR_INPUT, "%s: a hashedrekord %s entry cannot log a DSSE envelope", sub, body.api_version);
            ok = 0;
        }
        if (ok && rekor_body_check(&body, signature->data, signature->len, leaf, NULL, content->data, content->len, sub,
                                   &e) != 0)
            ok = 0;
        rekor_body_free(&body);
        free(sub);
        if (ok) {
            *set_verified = result.set_verified;
            buffer_free(&failures);
            return 0;
        }
        rekor_entry_free(entry);
        if (e.code == ERROR_RUNTIME) {
            *err = e;
            buffer_free(&failures);
            return -1;
        }
        buffer_appendf(&failures, "%s%s", failures.len ? "; " : "", e.message);
    }
    error_set(err, ERROR_INPUT, "%s", buffer_cstr(&failures));
    buffer_free(&failures);
    return -1;
}

/* Every RFC 3161 timestamp of the bundle, each of which must verify over the signature: a bad
 * timestamp is an error, never skipped. Fills times[] (at most SIGSTORE_BUNDLE_MAX_TIMESTAMPS). */
static int verify_timestamps(const struct verify_trust *trust, const struct json_value *vm,
                             const struct buffer *signature, const char *what, struct rfc3161_time *times,
                             size_t *count, struct error *err)
{
    *count = 0;
    const struct json_value *tvd = json_object_get(vm, "timestampVerificationData");
    if (!tvd || tvd->type == JSON_NULL)
        return 0;
    const struct json_value *list = tvd->type == JSON_OBJECT ? json_object_get(tvd, "rfc3161Timestamps") : NULL;
    if (tvd->type != JSON_OBJECT || (list && list->type != JSON_ARRAY && list->type != JSON_NULL))
        return error_set(err, ERROR_INPUT, "%s: timestampVerificationData.rfc3161Timestamps must be an array", what);
    size_t n = list && list->type == JSON_ARRAY ? list->count : 0;
    if (n > SIGSTORE_BUNDLE_MAX_TIMESTAMPS)
        return error_set(err, ERROR_INPUT, "%s: %zu RFC 3161 timestamps, more than the %d this verifier reads", what, n,
                         SIGSTORE_BUNDLE_MAX_TIMESTAMPS);
    if (n > 0 && !trust->root)
        return error_set(err, ERROR_INPUT,
                         "%s: bundle carries RFC 3161 timestamps but policy %s has no trusted root to verify them; "
                         "add keyless.trusted_root to it",
                         what, trust->policy->name ? trust->policy->name : "(unnamed)");
    for (size_t i = 0; i < n; i++) {
        char *sub = xasprintf("%s timestampVerificationData.rfc3161Timestamps[%zu].signedTimestamp", what, i);
        struct buffer der = BUFFER_INIT;
        const struct json_value *item = list->items[i];
        int rc = item->type == JSON_OBJECT ? decode_field(item, "signedTimestamp", what, sub, &der, err)
                                           : error_set(err, ERROR_INPUT, "%s is not an object", sub);
        if (rc == 0)
            rc = rfc3161_verify(der.data, der.len, signature->data, signature->len, trust->root, sub, &times[i], err);
        buffer_free(&der);
        free(sub);
        if (rc != 0)
            return -1;
        *count = i + 1;
    }
    return 0;
}

int sigstore_bundle_verify(const struct verify_trust *trust, const char *json, size_t len, const char *what,
                           const char *manifest_digest, struct verify_receipt *receipt, struct error *err)
{
    struct json_value *doc = NULL;
    if (json_parse(json, len, what, &doc, err) != 0)
        return -1;
    int rc = -1;
    struct buffer payload = BUFFER_INIT, signature = BUFFER_INIT, pae = BUFFER_INIT;
    X509 *leaf = NULL;
    STACK_OF(X509) *rest = NULL;
    struct public_key *cert_key = NULL;
    struct rekor_entry entry;
    struct verify_trust_signer signer;
    memset(&entry, 0, sizeof entry);
    memset(&signer, 0, sizeof signer);
    const char *media_type = doc->type == JSON_OBJECT ? json_object_get_string(doc, "mediaType") : NULL;
    int version = media_type ? media_type_version(media_type) : 0;
    if (!version) {
        error_set(err, ERROR_INPUT, "%s: mediaType %s is not a Sigstore bundle version this verifier reads (v0.1-v0.3)",
                  what, media_type ? media_type : "(none)");
        goto out;
    }
    const struct json_value *vm = json_object_get_object(doc, "verificationMaterial");
    const struct json_value *env = json_object_get_object(doc, "dsseEnvelope");
    if (!vm) {
        error_set(err, ERROR_INPUT, "%s: bundle has no verificationMaterial", what);
        goto out;
    }
    if (version >= 3 && json_object_get(vm, "x509CertificateChain")) {
        error_set(err, ERROR_INPUT,
                  "%s: a v0.3 bundle carries its signer as verificationMaterial.certificate, never an "
                  "x509CertificateChain (protobuf-specs; sigstore-go refuses it)",
                  what);
        goto out;
    }
    if (!env) {
        error_set(err, ERROR_INPUT,
                  "%s: bundle holds %s, not a DSSE envelope; cosign signs images with DSSE in-toto "
                  "statements",
                  what, json_object_get(doc, "messageSignature") ? "a messageSignature" : "no signature content");
        goto out;
    }
    const char *payload_type = json_object_get_string(env, "payloadType");
    if (!payload_type || strcmp(payload_type, SIGSTORE_BUNDLE_PAYLOAD_TYPE) != 0) {
        error_set(err, ERROR_INPUT, "%s: DSSE payloadType is '%s', not %s", what,
                  payload_type ? payload_type : "(none)", SIGSTORE_BUNDLE_PAYLOAD_TYPE);
        goto out;
    }
    if (decode_field(env, "payload", what, "dsseEnvelope.payload", &payload, err) != 0)
        goto out;
    const struct json_value *sigs = json_object_get_array(env, "signatures");
    if (!sigs || sigs->count != 1 || sigs->items[0]->type != JSON_OBJECT) {
        error_set(err, ERROR_INPUT, "%s: DSSE envelope must carry exactly one signature (has %zu)", what,
                  sigs ? sigs->count : 0);
        goto out;
    }
    if (decode_field(sigs->items[0], "sig", what, "dsseEnvelope.signatures[0].sig", &signature, err) != 0)
        goto out;
    sigstore_bundle_pae(payload_type, payload.data, payload.len, &pae);
    char statement_digest[8 + SHA256_HEX_LEN];
    {
        char hex[SHA256_HEX_LEN + 1];
        sha256_hex(payload.data, payload.len, hex);
        snprintf(statement_digest, sizeof statement_digest, "sha256:%s", hex);
    }
    if (read_certificates(vm, what, &leaf, &rest, err) != 0)
        goto out;
    struct verify_receipt attempt = *receipt;
    snprintf(attempt.method, sizeof attempt.method, "sigstore-bundle");
    if (!leaf) {
        if (!json_object_get(vm, "publicKey")) {
            error_set(err, ERROR_INPUT, "%s: verificationMaterial has neither a certificate nor a publicKey", what);
            goto out;
        }
        if (trust->key_count == 0) {
            error_set(err, ERROR_INPUT,
                      "%s: bundle was signed with a key but policy %s has no public keys; add the signer's public "
                      "key to the policy",
                      what, trust->policy->name ? trust->policy->name : "(unnamed)");
            goto out;
        }
        const struct public_key *matched = NULL;
        int v = verify_trust_check_keys(trust, pae.data, pae.len, signature.data, signature.len, &matched, err);
        if (v < 0)
            goto out;
        if (v == 0) {
            char keys[1024];
            verify_trust_describe_keys(trust, keys, sizeof keys);
            error_set(err, ERROR_INPUT, "%s: DSSE signature by %s %s does not verify over statement %s", what,
                      trust->key_count == 1 ? "key" : "none of the keys", keys, statement_digest);
            goto out;
        }
        snprintf(attempt.key_fingerprint, sizeof attempt.key_fingerprint, "%s", public_key_fingerprint(matched));
        /* A key policy with a trusted root checks the bundle's timestamps too; without one there
         * is nothing to check them against (cosign verify --key ignores them likewise). */
        if (trust->root) {
            struct rfc3161_time stamps[SIGSTORE_BUNDLE_MAX_TIMESTAMPS];
            size_t stamp_count = 0;
            if (verify_timestamps(trust, vm, &signature, what, stamps, &stamp_count, err) != 0)
                goto out;
            if (stamp_count > 0) {
                attempt.timestamp = stamps[0].time;
                snprintf(attempt.timestamp_authority, sizeof attempt.timestamp_authority, "%s", stamps[0].tsa->uri);
            }
        }
    } else {
        if (!trust->keyless) {
            error_set(err, ERROR_INPUT,
                      "%s: signed keyless (Fulcio certificate) but policy %s has no keyless identity; add issuer, "
                      "identity regexp and trusted root to it",
                      what, trust->policy->name ? trust->policy->name : "(unnamed)");
            goto out;
        }
        char *cert_what = xasprintf("%s verificationMaterial certificate", what);
        int keyed = public_key_from_evp(X509_get0_pubkey(leaf), cert_what, &cert_key, err);
        free(cert_what);
        if (keyed != 0)
            goto out;
        int v = public_key_verify(cert_key, PUBLIC_KEY_ANY_HASH, pae.data, pae.len, signature.data, signature.len, err);
        if (v < 0)
            goto out;
        if (v == 0) {
            error_set(err, ERROR_INPUT,
                      "%s: DSSE signature does not verify with the bundle's certificate over statement %s", what,
                      statement_digest);
            goto out;
        }
        bool set_verified = false;
        if (verify_tlog(trust, vm, version, &signature, leaf, &payload, &pae, what, &entry, &set_verified, err) != 0)
            goto out;
        struct rfc3161_time stamps[SIGSTORE_BUNDLE_MAX_TIMESTAMPS];
        size_t stamp_count = 0;
        if (verify_timestamps(trust, vm, &signature, what, stamps, &stamp_count, err) != 0)
            goto out;
        /* The signing times: the integrated time a verified SET vouches for and every verified
         * timestamp. The certificate must be valid at each (sigstore-go VerifyObserverTimestamps);
         * a Rekor v2 entry vouches for none, so it needs a timestamp. Certificates the bundle
         * carries besides the leaf are never trusted for the chain (protobuf-specs
         * VerificationMaterial: superfluous intermediates and roots are ignored). */
        int64_t times[1 + SIGSTORE_BUNDLE_MAX_TIMESTAMPS];
        size_t time_count = 0;
        if (set_verified)
            times[time_count++] = entry.integrated_time;
        for (size_t i = 0; i < stamp_count; i++)
            times[time_count++] = stamps[i].time;
        if (time_count == 0) {
            error_set(err, ERROR_INPUT,
                      "%s: no trusted signing time: the log entry (%s %s) carries no signed entry timestamp and the "
                      "bundle has no RFC 3161 timestamp; a Rekor v2 signature needs a timestamp from a timestamp "
                      "authority of the trusted root",
                      what, entry.kind, entry.version);
            goto out;
        }
        if (verify_trust_check_signer(trust, leaf, times[0], what, &signer, err) != 0)
            goto out;
        for (size_t i = 1; i < time_count; i++) {
            char *at = xasprintf("%s (at the RFC 3161 timestamp)", what);
            int chained = x509_chain_verify(leaf, trust->root, times[i], at, err);
            free(at);
            if (chained != 0)
                goto out;
        }
        snprintf(attempt.identity, sizeof attempt.identity, "%s", signer.identity);
        snprintf(attempt.issuer, sizeof attempt.issuer, "%s", signer.issuer);
        snprintf(attempt.cert_fingerprint, sizeof attempt.cert_fingerprint, "%s", signer.cert_fingerprint);
        attempt.log_index = entry.log_index;
        attempt.integrated_time = set_verified ? entry.integrated_time : -1;
        if (stamp_count > 0) {
            attempt.timestamp = stamps[0].time;
            snprintf(attempt.timestamp_authority, sizeof attempt.timestamp_authority, "%s", stamps[0].tsa->uri);
        }
    }
    char *sub = xasprintf("%s statement %s", what, statement_digest);
    int claims = sigstore_bundle_check_statement(payload.data, payload.len, manifest_digest, sub, err);
    free(sub);
    if (claims != 0)
        goto out;
    *receipt = attempt;
    rc = 0;
out:
    verify_trust_signer_free(&signer);
    rekor_entry_free(&entry);
    public_key_free(cert_key);
    X509_free(leaf);
    sk_X509_pop_free(rest, X509_free);
    buffer_free(&payload);
    buffer_free(&signature);
    buffer_free(&pae);
    json_free(doc);
    return rc;
}

static bool has_prefix(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* One referrer manifest: 0 not a bundle (skip), 1 verified, -1 rejected (err). */
static int verify_referrer(const struct verify_trust *trust, const struct verify_source *source, const char *referrer,
                           const char *manifest_digest, struct verify_receipt *receipt, struct error *err)
{
    char hex[SHA256_HEX_LEN + 1];
    struct error ignored = {0};
    if (digest_parse(referrer, hex, &ignored) != 0)
        return error_set(err, ERROR_INPUT, "referrer '%s' is not a sha256 digest", referrer);
    struct buffer manifest = BUFFER_INIT, bundle = BUFFER_INIT;
    struct json_value *doc = NULL;
    char *what = xasprintf("Sigstore bundle referrer %s", referrer);
    int rc = -1;
    int found = source->read_blob(source->context, referrer, SIGSTORE_BUNDLE_MANIFEST_MAX, &manifest, err);
    if (found <= 0) {
        if (found == 0)
            error_set(err, ERROR_INPUT, "%s: manifest is missing from the source", what);
        goto out;
    }
    char got[SHA256_HEX_LEN + 1];
    sha256_hex(manifest.data, manifest.len, got);
    if (strcmp(got, hex) != 0) {
        error_set(err, ERROR_INPUT, "%s: manifest bytes hash to sha256:%s", what, got);
        goto out;
    }
    if (json_parse(buffer_cstr(&manifest), manifest.len, what, &doc, err) != 0)
        goto out;
    if (doc->type != JSON_OBJECT) {
        rc = 0;
        goto out;
    }
    const struct json_value *layers = json_object_get_array(doc, "layers");
    const struct json_value *config = json_object_get_object(doc, "config");
    bool bundle_layer = false;
    for (size_t i = 0; layers && i < layers->count; i++)
        if (layers->items[i]->type == JSON_OBJECT &&
            has_prefix(json_object_get_string(layers->items[i], "mediaType"), SIGSTORE_BUNDLE_MEDIA_TYPE_PREFIX))
            bundle_layer = true;
    if (!has_prefix(json_object_get_string(doc, "artifactType"), SIGSTORE_BUNDLE_MEDIA_TYPE_PREFIX) &&
        !(config && has_prefix(json_object_get_string(config, "mediaType"), SIGSTORE_BUNDLE_MEDIA_TYPE_PREFIX)) &&
        !bundle_layer) {
        rc = 0; /* an SBOM, an attestation of another kind, …: not ours to judge */
        goto out;
    }
    /* cosign attest stores in-toto attestations (SLSA, SBOM, …) as bundle referrers too, and says
     * so in this annotation: they are claims about the image, not its signature. */
    const struct json_value *annotations = json_object_get_object(doc, "annotations");
    const char *predicate = annotations ? json_object_get_string(annotations, "dev.sigstore.bundle.predicateType") : NULL;
    if (predicate && strcmp(predicate, SIGSTORE_BUNDLE_PREDICATE_TYPE) != 0) {
        rc = 0;
        goto out;
    }
    const struct json_value *subject = json_object_get_object(doc, "subject");
    const char *subject_digest = subject ? json_object_get_string(subject, "digest") : NULL;
    if (!subject_digest || strcmp(subject_digest, manifest_digest) != 0) {
        error_set(err, ERROR_INPUT, "%s: subject is %s, not %s", what, subject_digest ? subject_digest : "(none)",
                  manifest_digest);
        goto out;
    }
    /* cosign reads exactly one layer, of a bundle media type. */
    if (!layers || layers->count != 1 || !bundle_layer) {
        error_set(err, ERROR_INPUT, "%s: a bundle manifest has exactly one layer of type %s*", what,
                  SIGSTORE_BUNDLE_MEDIA_TYPE_PREFIX);
        goto out;
    }
    const struct json_value *layer = layers->items[0];
    const char *layer_digest = json_object_get_string(layer, "digest");
    int64_t size = -1;
    char layer_hex[SHA256_HEX_LEN + 1];
    if (!layer_digest || digest_parse(layer_digest, layer_hex, &ignored) != 0 ||
        !json_object_get_int64(layer, "size", &size) || size < 0 || size > SIGSTORE_BUNDLE_MAX_SIZE) {
        error_set(err, ERROR_INPUT, "%s: bundle layer digest or size is missing, malformed or over %d bytes", what,
                  SIGSTORE_BUNDLE_MAX_SIZE);
        goto out;
    }
    found = source->read_blob(source->context, layer_digest, SIGSTORE_BUNDLE_MAX_SIZE, &bundle, err);
    if (found <= 0) {
        if (found == 0)
            error_set(err, ERROR_INPUT, "%s: bundle blob %s is missing from the source", what, layer_digest);
        goto out;
    }
    sha256_hex(bundle.data, bundle.len, got);
    if (strcmp(got, layer_hex) != 0 || bundle.len != (size_t)size) {
        error_set(err, ERROR_INPUT, "%s: bundle blob is sha256:%s (%zu bytes), not %s (%lld bytes)", what, got,
                  bundle.len, layer_digest, (long long)size);
        goto out;
    }
    char *bundle_what = xasprintf("%s bundle %s", what, layer_digest);
    int v = sigstore_bundle_verify(trust, buffer_cstr(&bundle), bundle.len, bundle_what, manifest_digest, receipt, err);
    free(bundle_what);
    rc = v == 0 ? 1 : -1;
out:
    json_free(doc);
    buffer_free(&manifest);
    buffer_free(&bundle);
    free(what);
    return rc;
}

int sigstore_bundle_verify_image(const struct verify_trust *trust, const struct verify_source *source,
                                 const char *manifest_digest, struct verify_receipt *receipt, struct error *err)
{
    if (!source->list_referrers || !source->read_blob)
        return 0;
    char **referrers = NULL;
    int found = source->list_referrers(source->context, manifest_digest, &referrers, err);
    if (found <= 0) {
        if (referrers)
            for (size_t i = 0; referrers[i]; i++)
                free(referrers[i]);
        free(referrers);
        return found;
    }
    struct buffer failures = BUFFER_INIT;
    int rc = 0;
    size_t candidates = 0;
    for (size_t i = 0; referrers && referrers[i] && rc != 1; i++) {
        if (i >= SIGSTORE_BUNDLE_MAX_REFERRERS) {
            buffer_appendf(&failures, "%smore than %d referrers; the rest were not examined", failures.len ? "; " : "",
                           SIGSTORE_BUNDLE_MAX_REFERRERS);
            break;
        }
        struct error e = {0};
        struct verify_receipt attempt = *receipt;
        int v = verify_referrer(trust, source, referrers[i], manifest_digest, &attempt, &e);
        if (v == 1) {
            *receipt = attempt;
            rc = 1;
        } else if (v < 0) {
            candidates++;
            if (e.code == ERROR_RUNTIME) {
                *err = e;
                rc = -1;
                break;
            }
            buffer_appendf(&failures, "%s%s", failures.len ? "; " : "", e.message);
        }
    }
    for (size_t i = 0; referrers && referrers[i]; i++)
        free(referrers[i]);
    free(referrers);
    if (rc == 0 && candidates > 0) {
        error_set(err, ERROR_INPUT, "%s", buffer_cstr(&failures));
        rc = -1;
    }
    buffer_free(&failures);
    return rc;
}
