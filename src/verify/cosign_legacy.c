/* cosign_legacy — verify `sha256-<hex>.sig` simple-signing signatures (see cosign_legacy.h). */
#include "verify/cosign_legacy.h"

#include <string.h>

#include "core/base64.h"
#include "airfactory/buffer.h"
#include "core/digest.h"
#include "core/json.h"
#include "core/memory.h"
#include "verify/rekor_entry.h"
#include "verify/rfc3161.h"
#include "verify/x509_chain.h"

#define COSIGN_LEGACY_MANIFEST_MAX (4 * 1024 * 1024)

int cosign_legacy_check_payload(const char *payload, size_t len, const char *manifest_digest, const char *what,
                                struct error *err)
{
    struct json_value *doc = NULL;
    if (json_parse(payload, len, what, &doc, err) != 0)
        return -1;
    int rc = 0;
    const struct json_value *critical = doc->type == JSON_OBJECT ? json_object_get_object(doc, "critical") : NULL;
    const struct json_value *image = critical ? json_object_get_object(critical, "image") : NULL;
    const char *type = critical ? json_object_get_string(critical, "type") : NULL;
    const char *named = image ? json_object_get_string(image, "docker-manifest-digest") : NULL;
    if (!critical || !image || !named || !type)
        rc = error_set(err, ERROR_INPUT,
                       "%s: payload is not a cosign simple-signing payload (needs critical.image."
                       "docker-manifest-digest and critical.type)",
                       what);
    else if (strcmp(type, COSIGN_LEGACY_PAYLOAD_TYPE) != 0)
        rc = error_set(err, ERROR_INPUT, "%s: payload type is '%s', not '%s'", what, type, COSIGN_LEGACY_PAYLOAD_TYPE);
    else if (strcmp(named, manifest_digest) != 0)
        rc = error_set(err, ERROR_INPUT, "%s: payload signs %s, not %s: this is a signature for another image", what,
                       named, manifest_digest);
    json_free(doc);
    return rc;
}

static const char *annotation(const struct json_value *annotations, const char *key)
{
    return annotations ? json_object_get_string(annotations, key) : NULL;
}

/* The layer's RFC 3161 timestamp (annotation {"SignedRFC3161Timestamp": base64 DER TimeStampResp},
 * over the raw signature bytes, as cosign's VerifyRFC3161Timestamp checks it): 1 verified (out
 * filled), 0 none, -1 refused. Present but unverifiable for want of a trusted root is refused, as
 * cosign does. */
static int cosign_legacy_timestamp(const struct verify_trust *trust, const struct json_value *annotations,
                                   const struct buffer *signature, const char *what, struct rfc3161_time *out,
                                   struct error *err)
{
    const char *json = annotation(annotations, COSIGN_LEGACY_TIMESTAMP_ANNOTATION);
    if (!json)
        return 0;
    char *sub = xasprintf("%s annotation %s", what, COSIGN_LEGACY_TIMESTAMP_ANNOTATION);
    struct json_value *doc = NULL;
    struct buffer der = BUFFER_INIT;
    int rc = -1;
    if (json_parse(json, strlen(json), sub, &doc, err) != 0)
        goto out;
    const char *b64 = doc->type == JSON_OBJECT ? json_object_get_string(doc, "SignedRFC3161Timestamp") : NULL;
    if (!b64 || base64_decode(b64, strlen(b64), &der) != 0) {
        error_set(err, ERROR_INPUT, "%s: SignedRFC3161Timestamp is missing or not standard base64", sub);
        goto out;
    }
    if (!trust->root) {
        error_set(err, ERROR_INPUT,
                  "%s: the signature carries an RFC 3161 timestamp but policy %s has no trusted root to verify it; "
                  "add keyless.trusted_root to it",
                  sub, trust->policy->name ? trust->policy->name : "(unnamed)");
        goto out;
    }
    if (rfc3161_verify(der.data, der.len, signature->data, signature->len, trust->root, sub, out, err) != 0)
        goto out;
    rc = 1;
out:
    buffer_free(&der);
    json_free(doc);
    free(sub);
    return rc;
}

/* Keyless: certificate + chain + Rekor bundle on the layer. */
static int verify_keyless(const struct verify_trust *trust, const struct json_value *annotations,
                          const struct buffer *payload, const char *payload_digest, const struct buffer *signature,
                          const char *what, struct verify_receipt *r, struct error *err)
{
    const char *cert_pem = annotation(annotations, COSIGN_LEGACY_CERTIFICATE_ANNOTATION);
    const char *chain_pem = annotation(annotations, COSIGN_LEGACY_CHAIN_ANNOTATION);
    const char *bundle_json = annotation(annotations, COSIGN_LEGACY_BUNDLE_ANNOTATION);
    if (!bundle_json)
        return error_set(err, ERROR_INPUT,
                         "%s: keyless signature has no Rekor bundle (annotation %s); offline verification needs the "
                         "log's signed entry timestamp as proof of the signing time",
                         what, COSIGN_LEGACY_BUNDLE_ANNOTATION);
    STACK_OF(X509) *leaf_stack = NULL, *chain = NULL;
    struct public_key *cert_key = NULL;
    struct rekor_entry entry;
    struct rekor_body body;
    struct verify_trust_signer signer;
    memset(&entry, 0, sizeof entry);
    memset(&body, 0, sizeof body);
    memset(&signer, 0, sizeof signer);
    int rc = -1;
    char *sub = xasprintf("%s certificate", what);
    int parsed = x509_chain_parse_pem(cert_pem, strlen(cert_pem), sub, &leaf_stack, err);
    free(sub);
    if (parsed != 0)
        goto out;
    X509 *leaf = sk_X509_value(leaf_stack, 0);
    if (chain_pem && *chain_pem) {
        sub = xasprintf("%s chain", what);
        parsed = x509_chain_parse_pem(chain_pem, strlen(chain_pem), sub, &chain, err);
        free(sub);
        if (parsed != 0)
            goto out;
    }
    /* The cheap, decisive check first: does the certificate's key verify the signature at all? */
    sub = xasprintf("%s certificate", what);
    int keyed = public_key_from_evp(X509_get0_pubkey(leaf), sub, &cert_key, err);
    free(sub);
    if (keyed != 0)
        goto out;
    int v = public_key_verify(cert_key, PUBLIC_KEY_ANY_HASH, payload->data, payload->len, signature->data,
                              signature->len, err);
    if (v < 0)
        goto out;
    if (v == 0) {
        error_set(err, ERROR_INPUT, "%s: signature does not verify with the layer's certificate over payload %s", what,
                  payload_digest);
        goto out;
    }
    sub = xasprintf("%s Rekor bundle", what);
    parsed = rekor_entry_from_cosign_bundle(bundle_json, strlen(bundle_json), sub, &entry, err);
    free(sub);
    if (parsed != 0)
        goto out;
    struct rekor_entry_result result;
    if (rekor_entry_verify(&entry, trust->root, what, &result, err) != 0)
        goto out;
    if (!result.set_verified) {
        error_set(err, ERROR_INPUT, "%s: Rekor bundle has no signed entry timestamp", what);
        goto out;
    }
    sub = xasprintf("%s Rekor entry %lld", what, (long long)entry.log_index);
    parsed = rekor_body_parse(entry.body.data, entry.body.len, sub, &body, err);
    free(sub);
    if (parsed != 0)
        goto out;
    if (strcmp(body.kind, "hashedrekord") != 0) {
        error_set(err, ERROR_INPUT, "%s: Rekor entry %lld is a %s entry; a cosign signature is logged as hashedrekord",
                  what, (long long)entry.log_index, body.kind);
        goto out;
    }
    if (rekor_body_check(&body, signature->data, signature->len, leaf, NULL, payload->data, payload->len, what, err) != 0)
        goto out;
    /* The chain annotation is not trusted: the trusted root alone supplies the CA chain, so a
     * signature cannot bring intermediates (or a root) of its own (sigstore-go uses only the leaf). */
    (void)chain;
    if (verify_trust_check_signer(trust, leaf, entry.integrated_time, what, &signer, err) != 0)
        goto out;
    struct rfc3161_time stamp;
    int stamped = cosign_legacy_timestamp(trust, annotations, signature, what, &stamp, err);
    if (stamped < 0)
        goto out;
    if (stamped == 1 && x509_chain_verify(leaf, trust->root, stamp.time, what, err) != 0)
        goto out;
    if (stamped == 1) {
        r->timestamp = stamp.time;
        snprintf(r->timestamp_authority, sizeof r->timestamp_authority, "%s", stamp.tsa->uri);
    }
    snprintf(r->method, sizeof r->method, "cosign-keyless");
    snprintf(r->identity, sizeof r->identity, "%s", signer.identity);
    snprintf(r->issuer, sizeof r->issuer, "%s", signer.issuer);
    snprintf(r->cert_fingerprint, sizeof r->cert_fingerprint, "%s", signer.cert_fingerprint);
    r->log_index = entry.log_index;
    r->integrated_time = entry.integrated_time;
    rc = 0;
out:
    public_key_free(cert_key);
    verify_trust_signer_free(&signer);
    rekor_body_free(&body);
    rekor_entry_free(&entry);
    sk_X509_pop_free(leaf_stack, X509_free);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

/* One simple-signing layer. */
static int verify_layer(const struct verify_trust *trust, const struct verify_source *source,
                        const struct json_value *layer, const char *manifest_digest, const char *what,
                        struct verify_receipt *r, struct error *err)
{
    const char *digest = json_object_get_string(layer, "digest");
    int64_t size = -1;
    char hex[SHA256_HEX_LEN + 1];
    if (!digest || digest_parse(digest, hex, err) != 0)
        return error_set(err, ERROR_INPUT, "%s: layer digest is missing or not sha256:<hex>", what);
    if (!json_object_get_int64(layer, "size", &size) || size < 0 || size > COSIGN_LEGACY_PAYLOAD_MAX)
        return error_set(err, ERROR_INPUT, "%s: payload size is missing or larger than %d bytes", what,
                         COSIGN_LEGACY_PAYLOAD_MAX);
    const struct json_value *annotations = json_object_get_object(layer, "annotations");
    const char *sig_b64 = annotation(annotations, COSIGN_LEGACY_SIGNATURE_ANNOTATION);
    if (!sig_b64 || !*sig_b64)
        return error_set(err, ERROR_INPUT, "%s: layer has no %s annotation", what, COSIGN_LEGACY_SIGNATURE_ANNOTATION);
    struct buffer signature = BUFFER_INIT, payload = BUFFER_INIT;
    int rc = -1;
    if (base64_decode(sig_b64, strlen(sig_b64), &signature) != 0) {
        error_set(err, ERROR_INPUT, "%s: annotation %s is not standard base64", what, COSIGN_LEGACY_SIGNATURE_ANNOTATION);
        goto out;
    }
    int found = source->read_blob(source->context, digest, COSIGN_LEGACY_PAYLOAD_MAX, &payload, err);
    if (found < 0)
        goto out;
    if (found == 0) {
        error_set(err, ERROR_INPUT, "%s: payload blob %s is missing from the source", what, digest);
        goto out;
    }
    char got[SHA256_HEX_LEN + 1];
    sha256_hex(payload.data, payload.len, got);
    if (strcmp(got, hex) != 0 || payload.len != (size_t)size) {
        error_set(err, ERROR_INPUT, "%s: payload blob is sha256:%s (%zu bytes), not %s (%lld bytes) as the layer says",
                  what, got, payload.len, digest, (long long)size);
        goto out;
    }
    /* Keys first (cosign --key ignores any certificate on the layer), then keyless. */
    if (trust->key_count > 0) {
        const struct public_key *matched = NULL;
        int v = verify_trust_check_keys(trust, payload.data, payload.len, signature.data, signature.len, &matched, err);
        if (v < 0)
            goto out;
        if (v == 1) {
            if (cosign_legacy_check_payload(payload.data, payload.len, manifest_digest, what, err) != 0)
                goto out;
            struct rfc3161_time stamp;
            int stamped = cosign_legacy_timestamp(trust, annotations, &signature, what, &stamp, err);
            if (stamped < 0)
                goto out;
            if (stamped == 1) {
                r->timestamp = stamp.time;
                snprintf(r->timestamp_authority, sizeof r->timestamp_authority, "%s", stamp.tsa->uri);
            }
            snprintf(r->method, sizeof r->method, "cosign-key");
            snprintf(r->key_fingerprint, sizeof r->key_fingerprint, "%s", public_key_fingerprint(matched));
            rc = 0;
            goto out;
        }
        if (!trust->keyless || !annotation(annotations, COSIGN_LEGACY_CERTIFICATE_ANNOTATION)) {
            char keys[1024];
            verify_trust_describe_keys(trust, keys, sizeof keys);
            error_set(err, ERROR_INPUT, "%s: signature by %s %s does not verify over payload %s", what,
                      trust->key_count == 1 ? "key" : "none of the keys", keys, digest);
            goto out;
        }
    }
    if (!annotation(annotations, COSIGN_LEGACY_CERTIFICATE_ANNOTATION)) {
        error_set(err, ERROR_INPUT,
                  "%s: signature was made with a key (no certificate on the layer) but policy %s has no public keys; "
                  "add the signer's public key to the policy",
                  what, trust->policy->name ? trust->policy->name : "(unnamed)");
        goto out;
    }
    if (verify_keyless(trust, annotations, &payload, digest, &signature, what, r, err) != 0)
        goto out;
    if (cosign_legacy_check_payload(payload.data, payload.len, manifest_digest, what, err) != 0)
        goto out;
    rc = 0;
out:
    buffer_free(&signature);
    buffer_free(&payload);
    return rc;
}

int cosign_legacy_verify(const struct verify_trust *trust, const struct verify_source *source,
                         const char *manifest_digest, struct verify_receipt *receipt, struct error *err)
{
    char hex[SHA256_HEX_LEN + 1];
    if (digest_parse(manifest_digest, hex, err) != 0)
        return -1;
    char tag[SHA256_HEX_LEN + 16];
    snprintf(tag, sizeof tag, "sha256-%s.sig", hex);
    if (!source->read_tagged_manifest)
        return 0;
    struct buffer manifest = BUFFER_INIT;
    int found = source->read_tagged_manifest(source->context, tag, &manifest, err);
    if (found <= 0) {
        buffer_free(&manifest);
        return found;
    }
    struct json_value *doc = NULL;
    char *what = xasprintf("cosign signature %s", tag);
    int rc = -1;
    if (manifest.len > COSIGN_LEGACY_MANIFEST_MAX) {
        error_set(err, ERROR_INPUT, "%s: manifest of %zu bytes is too large", what, manifest.len);
        goto out;
    }
    if (json_parse(buffer_cstr(&manifest), manifest.len, what, &doc, err) != 0)
        goto out;
    const struct json_value *layers = doc->type == JSON_OBJECT ? json_object_get_array(doc, "layers") : NULL;
    if (!layers) {
        error_set(err, ERROR_INPUT, "%s: not an image manifest (no layers array)", what);
        goto out;
    }
    struct buffer failures = BUFFER_INIT;
    size_t tried = 0;
    for (size_t i = 0; i < layers->count && rc != 0; i++) {
        const struct json_value *layer = layers->items[i];
        const char *media_type = layer->type == JSON_OBJECT ? json_object_get_string(layer, "mediaType") : NULL;
        if (!media_type || strcmp(media_type, COSIGN_LEGACY_LAYER_MEDIA_TYPE) != 0)
            continue;
        if (++tried > COSIGN_LEGACY_MAX_LAYERS)
            break;
        struct verify_receipt attempt = *receipt;
        char *layer_what = xasprintf("%s layer %zu", what, i);
        struct error layer_err = {0};
        if (verify_layer(trust, source, layer, manifest_digest, layer_what, &attempt, &layer_err) == 0) {
            *receipt = attempt;
            rc = 0;
        } else if (layer_err.code == ERROR_RUNTIME) {
            *err = layer_err;
            free(layer_what);
            buffer_free(&failures);
            goto out;
        } else {
            buffer_appendf(&failures, "%s%s", failures.len ? "; " : "", layer_err.message);
        }
        free(layer_what);
    }
    if (rc != 0) {
        if (tried == 0)
            error_set(err, ERROR_INPUT, "%s: manifest has no %s layer", what, COSIGN_LEGACY_LAYER_MEDIA_TYPE);
        else
            error_set(err, ERROR_INPUT, "%s", buffer_cstr(&failures));
    }
    buffer_free(&failures);
out:
    json_free(doc);
    free(what);
    buffer_free(&manifest);
    return rc == 0 ? 1 : -1;
}
