/* rekor_entry — Rekor v1 and v2 entries checked offline: SET, Merkle inclusion, signed-note
 * checkpoint, body (see rekor_entry.h). */
#include "verify/rekor_entry.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "core/base64.h"
#include "core/digest.h"
#include "core/memory.h"
#include "verify/x509_chain.h"

#define REKOR_CHECKPOINT_MAX (64 * 1024)

/* protobuf JSON writes int64 as a decimal string; older writers use a number. */
static bool proto_int64(const struct json_value *v, int64_t *out)
{
    if (!v)
        return false;
    if (v->type == JSON_NUMBER)
        return json_get_int64(v, out);
    if (v->type != JSON_STRING || v->text_len == 0 || v->text_len > 20)
        return false;
    for (size_t i = 0; i < v->text_len; i++)
        if (!isdigit((unsigned char)v->text[i]) && !(i == 0 && v->text[i] == '-'))
            return false;
    errno = 0;
    char *end = NULL;
    long long n = strtoll(v->text, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = (int64_t)n;
    return true;
}

static int decode_b64_field(const struct json_value *v, const char *what, const char *field, struct buffer *out,
                            struct error *err)
{
    if (!v || v->type != JSON_STRING || v->text_len == 0)
        return error_set(err, ERROR_INPUT, "%s: %s is missing or not a string", what, field);
    if (base64_decode_any(v->text, v->text_len, out) != 0)
        return error_set(err, ERROR_INPUT, "%s:%d:%d: %s is not valid base64", what, v->line, v->column, field);
    return 0;
}

void rekor_entry_free(struct rekor_entry *e)
{
    buffer_free(&e->body);
    free(e->body_base64);
    buffer_free(&e->signed_entry_timestamp);
    free(e->proof_hashes);
    free(e->checkpoint);
    memset(e, 0, sizeof *e);
}

int rekor_entry_from_cosign_bundle(const char *json, size_t len, const char *what, struct rekor_entry *out,
                                   struct error *err)
{
    memset(out, 0, sizeof *out);
    struct json_value *doc = NULL;
    if (json_parse(json, len, what, &doc, err) != 0)
        return -1;
    int rc = 0;
    const struct json_value *payload = doc->type == JSON_OBJECT ? json_object_get_object(doc, "Payload") : NULL;
    if (!payload) {
        rc = error_set(err, ERROR_INPUT, "%s: not a Rekor bundle (no Payload object)", what);
        goto out;
    }
    const struct json_value *body = json_object_get(payload, "body");
    if (!body || body->type != JSON_STRING) {
        rc = error_set(err, ERROR_INPUT, "%s: Payload.body is missing or not a string", what);
        goto out;
    }
    if (decode_b64_field(body, what, "Payload.body", &out->body, err) != 0) {
        rc = -1;
        goto out;
    }
    out->body_base64 = xstrndup(body->text, body->text_len);
    if (!json_object_get_int64(payload, "integratedTime", &out->integrated_time) ||
        !json_object_get_int64(payload, "logIndex", &out->log_index) || out->log_index < 0) {
        rc = error_set(err, ERROR_INPUT, "%s: Payload.integratedTime and Payload.logIndex must be integers", what);
        goto out;
    }
    const char *log_id = json_object_get_string(payload, "logID");
    if (!log_id || !log_id[0] ||
        hex_decode(log_id, strlen(log_id), out->log_id, sizeof out->log_id, &out->log_id_len) != 0) {
        rc = error_set(err, ERROR_INPUT, "%s: Payload.logID is missing or not hex", what);
        goto out;
    }
    if (decode_b64_field(json_object_get(doc, "SignedEntryTimestamp"), what, "SignedEntryTimestamp",
                         &out->signed_entry_timestamp, err) != 0)
        rc = -1;
out:
    json_free(doc);
    if (rc != 0)
        rekor_entry_free(out);
    return rc;
}

static int parse_inclusion_proof(const struct json_value *p, const char *what, struct rekor_entry *out, struct error *err)
{
    if (p->type != JSON_OBJECT)
        return error_set(err, ERROR_INPUT, "%s: inclusionProof must be an object", what);
    if (!proto_int64(json_object_get(p, "logIndex"), &out->proof_log_index) ||
        !proto_int64(json_object_get(p, "treeSize"), &out->proof_tree_size) || out->proof_log_index < 0 ||
        out->proof_tree_size <= 0)
        return error_set(err, ERROR_INPUT, "%s: inclusionProof.logIndex/treeSize must be non-negative integers", what);
    struct buffer root = BUFFER_INIT;
    if (decode_b64_field(json_object_get(p, "rootHash"), what, "inclusionProof.rootHash", &root, err) != 0) {
        buffer_free(&root);
        return -1;
    }
    if (root.len != REKOR_HASH_BYTES) {
        buffer_free(&root);
        return error_set(err, ERROR_INPUT, "%s: inclusionProof.rootHash is not a SHA-256 hash", what);
    }
    memcpy(out->proof_root_hash, root.data, REKOR_HASH_BYTES);
    buffer_free(&root);
    const struct json_value *hashes = json_object_get(p, "hashes");
    if (hashes && hashes->type != JSON_ARRAY)
        return error_set(err, ERROR_INPUT, "%s: inclusionProof.hashes must be an array", what);
    size_t n = hashes ? hashes->count : 0;
    if (n > REKOR_MAX_PROOF_HASHES)
        return error_set(err, ERROR_INPUT, "%s: inclusion proof of %zu hashes is longer than any 64-bit tree needs",
                         what, n);
    out->proof_hashes = xcalloc(n ? n : 1, REKOR_HASH_BYTES);
    out->proof_hash_count = n;
    for (size_t i = 0; i < n; i++) {
        struct buffer h = BUFFER_INIT;
        char field[48];
        snprintf(field, sizeof field, "inclusionProof.hashes[%zu]", i);
        int rc = decode_b64_field(hashes->items[i], what, field, &h, err);
        if (rc == 0 && h.len != REKOR_HASH_BYTES)
            rc = error_set(err, ERROR_INPUT, "%s: %s is not a SHA-256 hash", what, field);
        if (rc == 0)
            memcpy(out->proof_hashes[i], h.data, REKOR_HASH_BYTES);
        buffer_free(&h);
        if (rc != 0)
            return -1;
    }
    const struct json_value *cp = json_object_get_object(p, "checkpoint");
    const char *envelope = cp ? json_object_get_string(cp, "envelope") : NULL;
    if (!envelope || !*envelope)
        return error_set(err, ERROR_INPUT,
                         "%s: inclusionProof has no checkpoint.envelope; a proof without a signed "
                         "checkpoint proves nothing",
                         what);
    out->checkpoint = xstrdup(envelope);
    out->has_inclusion_proof = true;
    return 0;
}

int rekor_entry_from_bundle_json(const struct json_value *obj, const char *what, struct rekor_entry *out,
                                 struct error *err)
{
    memset(out, 0, sizeof *out);
    int rc = -1;
    if (!obj || obj->type != JSON_OBJECT) {
        error_set(err, ERROR_INPUT, "%s: a tlog entry must be an object", what);
        goto out;
    }
    if (!proto_int64(json_object_get(obj, "logIndex"), &out->log_index) || out->log_index < 0) {
        error_set(err, ERROR_INPUT, "%s: logIndex is missing or not a non-negative integer", what);
        goto out;
    }
    const struct json_value *it = json_object_get(obj, "integratedTime");
    if (it && !proto_int64(it, &out->integrated_time)) {
        error_set(err, ERROR_INPUT, "%s: integratedTime is not an integer", what);
        goto out;
    }
    const struct json_value *log_id = json_object_get_object(obj, "logId");
    struct buffer id = BUFFER_INIT;
    if (!log_id || decode_b64_field(json_object_get(log_id, "keyId"), what, "logId.keyId", &id, err) != 0 ||
        id.len == 0 || id.len > sizeof out->log_id) {
        buffer_free(&id);
        if (!log_id || id.len > sizeof out->log_id)
            error_set(err, ERROR_INPUT, "%s: logId.keyId is missing or too long", what);
        goto out;
    }
    memcpy(out->log_id, id.data, id.len);
    out->log_id_len = id.len;
    buffer_free(&id);
    const struct json_value *kv = json_object_get_object(obj, "kindVersion");
    const char *kind = kv ? json_object_get_string(kv, "kind") : NULL;
    const char *version = kv ? json_object_get_string(kv, "version") : NULL;
    if (!kind || !version || strlen(kind) >= sizeof out->kind || strlen(version) >= sizeof out->version) {
        error_set(err, ERROR_INPUT, "%s: kindVersion.kind/version are missing", what);
        goto out;
    }
    snprintf(out->kind, sizeof out->kind, "%s", kind);
    snprintf(out->version, sizeof out->version, "%s", version);
    out->rekor_v2 = rekor_kind_is_v2(kind, version);
    if (decode_b64_field(json_object_get(obj, "canonicalizedBody"), what, "canonicalizedBody", &out->body, err) != 0)
        goto out;
    /* sigstore-go signs over the re-encoded body, so padding or line breaks in the stored text
     * cannot change what the SET covers. */
    struct buffer b64 = BUFFER_INIT;
    base64_encode(out->body.data, out->body.len, &b64);
    out->body_base64 = buffer_take(&b64);
    const struct json_value *promise = json_object_get(obj, "inclusionPromise");
    if (promise) {
        if (promise->type != JSON_OBJECT ||
            decode_b64_field(json_object_get(promise, "signedEntryTimestamp"), what,
                             "inclusionPromise.signedEntryTimestamp", &out->signed_entry_timestamp, err) != 0) {
            if (promise->type != JSON_OBJECT)
                error_set(err, ERROR_INPUT, "%s: inclusionPromise must be an object", what);
            goto out;
        }
    }
    const struct json_value *proof = json_object_get(obj, "inclusionProof");
    if (proof && parse_inclusion_proof(proof, what, out, err) != 0)
        goto out;
    rc = 0;
out:
    if (rc != 0)
        rekor_entry_free(out);
    return rc;
}

void rekor_entry_set_payload(const struct rekor_entry *e, struct buffer *out)
{
    /* RFC 8785 canonical form: keys sorted by UTF-16 code units (body < integratedTime < logID <
     * logIndex), no whitespace; the values are base64, decimal and hex, which need no escaping. */
    char hex[2 * sizeof e->log_id + 1];
    hex_encode(e->log_id, e->log_id_len, hex);
    buffer_appendf(out, "{\"body\":");
    json_escape(out, e->body_base64, strlen(e->body_base64), false);
    buffer_appendf(out, ",\"integratedTime\":%lld,\"logID\":\"%s\",\"logIndex\":%lld}", (long long)e->integrated_time,
                   hex, (long long)e->log_index);
}

void rekor_merkle_leaf_hash(const void *data, size_t len, unsigned char out[REKOR_HASH_BYTES])
{
    struct sha256_stream s;
    sha256_stream_init(&s);
    sha256_stream_update(&s, "\x00", 1);
    sha256_stream_update(&s, data, len);
    sha256_stream_final(&s, out);
}

void rekor_merkle_node_hash(const unsigned char left[REKOR_HASH_BYTES], const unsigned char right[REKOR_HASH_BYTES],
                            unsigned char out[REKOR_HASH_BYTES])
{
    struct sha256_stream s;
    sha256_stream_init(&s);
    sha256_stream_update(&s, "\x01", 1);
    sha256_stream_update(&s, left, REKOR_HASH_BYTES);
    sha256_stream_update(&s, right, REKOR_HASH_BYTES);
    sha256_stream_final(&s, out);
}

bool rekor_merkle_verify_inclusion(uint64_t index, uint64_t size, const unsigned char leaf[REKOR_HASH_BYTES],
                                   const unsigned char (*proof)[REKOR_HASH_BYTES], size_t proof_count,
                                   const unsigned char root[REKOR_HASH_BYTES])
{
    if (index >= size)
        return false;
    uint64_t fn = index, sn = size - 1;
    unsigned char r[REKOR_HASH_BYTES];
    memcpy(r, leaf, REKOR_HASH_BYTES);
    for (size_t i = 0; i < proof_count; i++) {
        if (sn == 0)
            return false;
        if ((fn & 1) == 1 || fn == sn) {
            rekor_merkle_node_hash(proof[i], r, r);
            if ((fn & 1) == 0)
                while ((fn & 1) == 0 && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            rekor_merkle_node_hash(r, proof[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && CRYPTO_memcmp(r, root, REKOR_HASH_BYTES) == 0;
}

bool rekor_kind_is_v2(const char *kind, const char *version)
{
    return strcmp(version, "0.0.2") == 0 && (strcmp(kind, "hashedrekord") == 0 || strcmp(kind, "dsse") == 0);
}

void rekor_note_key_hint(const struct public_key *key, const char *name, size_t name_len, unsigned char hint[4])
{
    EVP_PKEY *pkey = public_key_evp(key);
    size_t der_len = 0;
    const unsigned char *der = public_key_der(key, &der_len);
    unsigned char md[SHA256_BYTES];
    struct sha256_stream s;
    sha256_stream_init(&s);
    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        /* C2SP signed-note: SHA-256(name || 0x0A || 0x01 || 32-byte public key). */
        unsigned char raw[32];
        size_t raw_len = sizeof raw;
        if (EVP_PKEY_get_raw_public_key(pkey, raw, &raw_len) != 1 || raw_len != sizeof raw)
            raw_len = 0;
        sha256_stream_update(&s, name, name_len);
        sha256_stream_update(&s, "\n\x01", 2);
        sha256_stream_update(&s, raw, raw_len);
    } else if (EVP_PKEY_is_a(pkey, "RSA")) {
        /* rekor-tiles pkg/note: signature type 0xff, identifier "PKIX-RSA-PKCS#1v1.5", then the
         * DER SubjectPublicKeyInfo. */
        static const char id[] = "PKIX-RSA-PKCS#1v1.5";
        sha256_stream_update(&s, name, name_len);
        sha256_stream_update(&s, "\n\xff", 2);
        sha256_stream_update(&s, id, sizeof id - 1);
        sha256_stream_update(&s, der, der_len);
    } else {
        /* ECDSA: Rekor's convention (v1 and v2), SHA-256 of the DER SubjectPublicKeyInfo. */
        sha256_stream_update(&s, der, der_len);
    }
    sha256_stream_final(&s, md);
    memcpy(hint, md, 4);
    ERR_clear_error();
}

/* Rekor v1 origins are "<host> - <tree ID>" (sigstore-go pkg/verify/tlog.go hasRekorV1STH). */
static bool origin_is_v1(const char *origin)
{
    const char *dash = strstr(origin, " - ");
    if (!dash)
        return false;
    const char *p = dash + 3;
    while (strstr(p, " - "))
        p = strstr(p, " - ") + 3;
    if (!*p)
        return false;
    for (; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    return true;
}

int rekor_checkpoint_verify(const char *checkpoint, const struct public_key *key, const char *log_name,
                            const char *what, uint64_t *size, unsigned char root[REKOR_HASH_BYTES], struct error *err)
{
    size_t len = strlen(checkpoint);
    if (len > REKOR_CHECKPOINT_MAX)
        return error_set(err, ERROR_INPUT, "%s: checkpoint of %zu bytes is too large", what, len);
    /* The note ends at the LAST blank line; everything after it is signature lines. */
    const char *split = NULL;
    for (const char *p = checkpoint; (p = strstr(p, "\n\n")) != NULL; p++)
        split = p;
    if (!split || len == 0 || checkpoint[len - 1] != '\n')
        return error_set(err, ERROR_INPUT, "%s: checkpoint is not a signed note", what);
    size_t note_len = (size_t)(split - checkpoint) + 1;
    /* Note body: origin, tree size, base64 root hash, optional extra lines. */
    char *note = xstrndup(checkpoint, note_len);
    char *line1 = strchr(note, '\n');
    char *line2 = line1 ? strchr(line1 + 1, '\n') : NULL;
    char *line3 = line2 ? strchr(line2 + 1, '\n') : NULL;
    int rc = 0;
    if (!line1 || !line2 || !line3 || line1 == note) {
        rc = error_set(err, ERROR_INPUT, "%s: checkpoint note needs origin, size and root hash lines", what);
        goto out;
    }
    *line1 = *line2 = *line3 = '\0';
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(line1 + 1, &end, 10);
    if (errno != 0 || *end != '\0' || !isdigit((unsigned char)line1[1])) {
        rc = error_set(err, ERROR_INPUT, "%s: checkpoint tree size '%s' is not a number", what, line1 + 1);
        goto out;
    }
    struct buffer hash = BUFFER_INIT;
    if (base64_decode(line2 + 1, strlen(line2 + 1), &hash) != 0 || hash.len != REKOR_HASH_BYTES) {
        buffer_free(&hash);
        rc = error_set(err, ERROR_INPUT, "%s: checkpoint root hash is not a base64 SHA-256 hash", what);
        goto out;
    }
    memcpy(root, hash.data, REKOR_HASH_BYTES);
    buffer_free(&hash);
    *size = n;
    /* A Rekor v2 (tlog-checkpoint) note is named after the log: its origin line and the signer name
     * must be the host of the trusted root's baseUrl, as sigstore-go's note verifier requires. */
    bool named = log_name && *log_name && !origin_is_v1(note);
    if (named && strcmp(note, log_name) != 0) {
        rc = error_set(err, ERROR_INPUT, "%s: checkpoint origin '%s' is not the log's name %s", what, note, log_name);
        goto out;
    }
    /* Signature lines: "\u2014 <name> <base64(4-byte key hint || signature)>". The hint is the
     * C2SP signed-note key ID (rekor_note_key_hint); lines of other signers (witnesses) are
     * skipped. */
    bool verified = false, hinted = false;
    const char *p = split + 2;
    while (*p && !verified) {
        const char *eol = strchr(p, '\n');
        if (!eol)
            break;
        if (strncmp(p, "\xE2\x80\x94 ", 4) != 0) {
            rc = error_set(err, ERROR_INPUT, "%s: checkpoint signature line does not start with an em dash", what);
            goto out;
        }
        const char *name = p + 4;
        const char *name_end = memchr(name, ' ', (size_t)(eol - name));
        if (!name_end || name_end == name) {
            rc = error_set(err, ERROR_INPUT, "%s: checkpoint signature line has no signer name", what);
            goto out;
        }
        size_t name_len = (size_t)(name_end - name);
        struct buffer sig = BUFFER_INIT;
        if (base64_decode(name_end + 1, (size_t)(eol - name_end - 1), &sig) != 0 || sig.len < 5) {
            buffer_free(&sig);
            rc = error_set(err, ERROR_INPUT, "%s: checkpoint signature is not base64", what);
            goto out;
        }
        unsigned char hint[4];
        rekor_note_key_hint(key, name, name_len, hint);
        bool ours = memcmp(sig.data, hint, 4) == 0 &&
                    (!named || (name_len == strlen(log_name) && memcmp(name, log_name, name_len) == 0));
        if (ours) {
            hinted = true;
            int v = public_key_verify(key, PUBLIC_KEY_SHA256, checkpoint, note_len, sig.data + 4, sig.len - 4, err);
            if (v < 0) {
                buffer_free(&sig);
                rc = -1;
                goto out;
            }
            verified = v == 1;
        }
        buffer_free(&sig);
        p = eol + 1;
    }
    if (!verified)
        rc = error_set(err, ERROR_INPUT, "%s: checkpoint is %s by the log key %s%s%s", what,
                       hinted ? "not validly signed" : "not signed", public_key_fingerprint(key),
                       named ? " named " : "", named ? log_name : "");
out:
    free(note);
    return rc;
}

int rekor_entry_verify(const struct rekor_entry *e, const struct trusted_root *root, const char *what,
                       struct rekor_entry_result *result, struct error *err)
{
    memset(result, 0, sizeof *result);
    char id_hex[2 * sizeof e->log_id + 1];
    hex_encode(e->log_id, e->log_id_len, id_hex);
    const struct trusted_root_log *log = trusted_root_find_tlog(root, e->log_id, e->log_id_len);
    if (!log)
        return error_set(err, ERROR_INPUT,
                         "%s: transparency log %s is not in trusted root %s; use the trusted root of the Rekor "
                         "instance that logged the signature",
                         what, id_hex, root->what);
    result->log = log;
    if (e->integrated_time != 0 && (e->integrated_time < log->valid_from || e->integrated_time > log->valid_until)) {
        char when[32];
        trusted_root_format_time(e->integrated_time, when);
        return error_set(err, ERROR_INPUT, "%s: Rekor log key %s is not valid at the entry's integrated time %s", what,
                         public_key_fingerprint(log->key), when);
    }
    if (e->signed_entry_timestamp.len == 0 && !e->has_inclusion_proof)
        return error_set(err, ERROR_INPUT,
                         "%s: Rekor entry %lld has neither a signed entry timestamp nor an inclusion proof", what,
                         (long long)e->log_index);
    if (e->rekor_v2 && !e->has_inclusion_proof)
        return error_set(err, ERROR_INPUT,
                         "%s: Rekor v2 entry %lld (%s %s) has no inclusion proof; a Rekor v2 log proves an entry "
                         "only by its inclusion proof and signed checkpoint",
                         what, (long long)e->log_index, e->kind, e->version);
    if (e->rekor_v2 && e->proof_log_index != e->log_index)
        return error_set(err, ERROR_INPUT,
                         "%s: Rekor v2 entry logIndex %lld differs from its inclusionProof.logIndex %lld; a Rekor v2 "
                         "log has one tree",
                         what, (long long)e->log_index, (long long)e->proof_log_index);
    if (e->signed_entry_timestamp.len > 0) {
        struct buffer payload = BUFFER_INIT;
        rekor_entry_set_payload(e, &payload);
        int v = public_key_verify(log->key, PUBLIC_KEY_SHA256, payload.data, payload.len,
                                  e->signed_entry_timestamp.data, e->signed_entry_timestamp.len, err);
        buffer_free(&payload);
        if (v < 0)
            return -1;
        if (v == 0)
            return error_set(err, ERROR_INPUT,
                             "%s: signed entry timestamp of Rekor entry %lld does not verify with log key %s; the "
                             "entry was altered or not issued by this log",
                             what, (long long)e->log_index, public_key_fingerprint(log->key));
        result->set_verified = true;
    }
    if (e->has_inclusion_proof) {
        unsigned char leaf[REKOR_HASH_BYTES];
        rekor_merkle_leaf_hash(e->body.data, e->body.len, leaf);
        if (!rekor_merkle_verify_inclusion((uint64_t)e->proof_log_index, (uint64_t)e->proof_tree_size, leaf,
                                           (const unsigned char(*)[REKOR_HASH_BYTES])e->proof_hashes,
                                           e->proof_hash_count, e->proof_root_hash))
            return error_set(err, ERROR_INPUT,
                             "%s: inclusion proof of Rekor entry %lld (index %lld in a tree of %lld) does not lead "
                             "to its root hash",
                             what, (long long)e->log_index, (long long)e->proof_log_index, (long long)e->proof_tree_size);
        uint64_t size = 0;
        unsigned char cp_root[REKOR_HASH_BYTES];
        if (rekor_checkpoint_verify(e->checkpoint, log->key, log->host, what, &size, cp_root, err) != 0)
            return -1;
        if (size != (uint64_t)e->proof_tree_size || memcmp(cp_root, e->proof_root_hash, REKOR_HASH_BYTES) != 0)
            return error_set(err, ERROR_INPUT,
                             "%s: signed checkpoint (tree size %llu) does not match the inclusion proof's root hash "
                             "and tree size %lld",
                             what, (unsigned long long)size, (long long)e->proof_tree_size);
        result->inclusion_verified = true;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ body */

void rekor_body_free(struct rekor_body *b)
{
    buffer_free(&b->signature);
    buffer_free(&b->verifier);
    memset(b, 0, sizeof *b);
}

static int read_hash(const struct json_value *h, const char *what, const char *field, struct rekor_body *out,
                     struct error *err)
{
    const char *alg = h ? json_object_get_string(h, "algorithm") : NULL;
    const char *value = h ? json_object_get_string(h, "value") : NULL;
    if (!alg || !value || !value[0] || strlen(alg) >= sizeof out->hash_algorithm ||
        hex_decode(value, strlen(value), out->hash, sizeof out->hash, &out->hash_len) != 0)
        return error_set(err, ERROR_INPUT, "%s: Rekor body %s.algorithm/value are missing or malformed", what, field);
    snprintf(out->hash_algorithm, sizeof out->hash_algorithm, "%s", alg);
    snprintf(out->hash_field, sizeof out->hash_field, "%s.value", field);
    return 0;
}

/* Rekor v2 (protobuf JSON) HashOutput {algorithm: "SHA2_256", digest: base64}. */
static int read_hash_v2(const struct json_value *h, const char *what, const char *field, struct rekor_body *out,
                        struct error *err)
{
    static const char *const names[][2] = {{"SHA2_256", "sha256"}, {"SHA2_384", "sha384"}, {"SHA2_512", "sha512"}};
    const char *alg = h && h->type == JSON_OBJECT ? json_object_get_string(h, "algorithm") : NULL;
    const char *normal = NULL;
    for (size_t i = 0; alg && i < sizeof names / sizeof *names; i++)
        if (strcmp(alg, names[i][0]) == 0)
            normal = names[i][1];
    if (!normal)
        return error_set(err, ERROR_INPUT, "%s: Rekor body %s.algorithm is %s, not SHA2_256, SHA2_384 or SHA2_512",
                         what, field, alg ? alg : "missing");
    snprintf(out->hash_algorithm, sizeof out->hash_algorithm, "%s", normal);
    snprintf(out->hash_field, sizeof out->hash_field, "%s.digest", field);
    struct buffer d = BUFFER_INIT;
    if (decode_b64_field(json_object_get(h, "digest"), what, out->hash_field, &d, err) != 0) {
        buffer_free(&d);
        return -1;
    }
    if (d.len == 0 || d.len > sizeof out->hash) {
        buffer_free(&d);
        return error_set(err, ERROR_INPUT, "%s: Rekor body %s is not a hash", what, out->hash_field);
    }
    memcpy(out->hash, d.data, d.len);
    out->hash_len = d.len;
    buffer_free(&d);
    return 0;
}

/* Rekor v2 Signature {content, verifier {publicKey {rawBytes} | x509Certificate {rawBytes},
 * keyDetails}} (rekor-tiles api/proto/rekor/v2/verifier.proto). */
static int read_signature_v2(const struct json_value *sig, const char *what, const char *field, struct rekor_body *out,
                             struct error *err)
{
    char sub[96];
    if (!sig || sig->type != JSON_OBJECT)
        return error_set(err, ERROR_INPUT, "%s: Rekor body %s is missing", what, field);
    snprintf(sub, sizeof sub, "%s.content", field);
    if (decode_b64_field(json_object_get(sig, "content"), what, sub, &out->signature, err) != 0)
        return -1;
    const struct json_value *v = json_object_get_object(sig, "verifier");
    const struct json_value *cert = v ? json_object_get_object(v, "x509Certificate") : NULL;
    const struct json_value *key = v ? json_object_get_object(v, "publicKey") : NULL;
    if (!v || (cert != NULL) == (key != NULL))
        return error_set(err, ERROR_INPUT, "%s: Rekor body %s.verifier must hold one x509Certificate or publicKey",
                         what, field);
    snprintf(sub, sizeof sub, "%s.verifier.%s.rawBytes", field, cert ? "x509Certificate" : "publicKey");
    if (decode_b64_field(json_object_get(cert ? cert : key, "rawBytes"), what, sub, &out->verifier, err) != 0)
        return -1;
    out->verifier_der = true;
    out->verifier_is_certificate = cert != NULL;
    return 0;
}

int rekor_body_parse(const void *body, size_t len, const char *what, struct rekor_body *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    struct json_value *doc = NULL;
    if (json_parse(body, len, what, &doc, err) != 0)
        return -1;
    int rc = -1;
    const char *kind = doc->type == JSON_OBJECT ? json_object_get_string(doc, "kind") : NULL;
    const char *version = doc->type == JSON_OBJECT ? json_object_get_string(doc, "apiVersion") : NULL;
    const struct json_value *spec = doc->type == JSON_OBJECT ? json_object_get_object(doc, "spec") : NULL;
    if (!kind || !version || !spec || strlen(kind) >= sizeof out->kind || strlen(version) >= sizeof out->api_version) {
        error_set(err, ERROR_INPUT, "%s: Rekor entry body needs kind, apiVersion and spec", what);
        goto out;
    }
    snprintf(out->kind, sizeof out->kind, "%s", kind);
    snprintf(out->api_version, sizeof out->api_version, "%s", version);
    out->v2 = rekor_kind_is_v2(kind, version);
    if (strcmp(kind, "hashedrekord") == 0 && strcmp(version, "0.0.1") == 0) {
        const struct json_value *sig = json_object_get_object(spec, "signature");
        const struct json_value *pk = sig ? json_object_get_object(sig, "publicKey") : NULL;
        const struct json_value *data = json_object_get_object(spec, "data");
        if (!sig || !pk || !data) {
            error_set(err, ERROR_INPUT, "%s: hashedrekord body needs spec.signature.publicKey and spec.data", what);
            goto out;
        }
        if (decode_b64_field(json_object_get(sig, "content"), what, "spec.signature.content", &out->signature, err) != 0 ||
            decode_b64_field(json_object_get(pk, "content"), what, "spec.signature.publicKey.content", &out->verifier,
                             err) != 0 ||
            read_hash(json_object_get_object(data, "hash"), what, "spec.data.hash", out, err) != 0)
            goto out;
    } else if (strcmp(kind, "hashedrekord") == 0 && strcmp(version, "0.0.2") == 0) {
        const struct json_value *v2 = json_object_get_object(spec, "hashedRekordV002");
        if (!v2) {
            error_set(err, ERROR_INPUT, "%s: hashedrekord 0.0.2 body needs spec.hashedRekordV002", what);
            goto out;
        }
        if (read_hash_v2(json_object_get(v2, "data"), what, "spec.hashedRekordV002.data", out, err) != 0 ||
            read_signature_v2(json_object_get(v2, "signature"), what, "spec.hashedRekordV002.signature", out, err) != 0)
            goto out;
    } else if (strcmp(kind, "dsse") == 0 && strcmp(version, "0.0.1") == 0) {
        const struct json_value *sigs = json_object_get_array(spec, "signatures");
        if (!sigs || sigs->count != 1 || sigs->items[0]->type != JSON_OBJECT) {
            error_set(err, ERROR_INPUT, "%s: dsse body must log exactly one signature", what);
            goto out;
        }
        const struct json_value *s = sigs->items[0];
        if (decode_b64_field(json_object_get(s, "signature"), what, "spec.signatures[0].signature", &out->signature,
                             err) != 0 ||
            decode_b64_field(json_object_get(s, "verifier"), what, "spec.signatures[0].verifier", &out->verifier, err) !=
                0 ||
            read_hash(json_object_get_object(spec, "payloadHash"), what, "spec.payloadHash", out, err) != 0)
            goto out;
    } else if (strcmp(kind, "dsse") == 0 && strcmp(version, "0.0.2") == 0) {
        /* rekor-tiles' DSSELogEntryV002 (deprecated there, but logged by early Rekor v2 clients). */
        const struct json_value *v2 = json_object_get_object(spec, "dsseV002");
        const struct json_value *sigs = v2 ? json_object_get_array(v2, "signatures") : NULL;
        if (!sigs || sigs->count != 1) {
            error_set(err, ERROR_INPUT,
                      "%s: dsse 0.0.2 body must log exactly one signature in spec.dsseV002.signatures", what);
            goto out;
        }
        if (read_hash_v2(json_object_get(v2, "payloadHash"), what, "spec.dsseV002.payloadHash", out, err) != 0 ||
            read_signature_v2(sigs->items[0], what, "spec.dsseV002.signatures[0]", out, err) != 0)
            goto out;
    } else if (strcmp(kind, "intoto") == 0 && strcmp(version, "0.0.2") == 0) {
        const struct json_value *content = json_object_get_object(spec, "content");
        const struct json_value *env = content ? json_object_get_object(content, "envelope") : NULL;
        const struct json_value *sigs = env ? json_object_get_array(env, "signatures") : NULL;
        if (!sigs || sigs->count != 1 || sigs->items[0]->type != JSON_OBJECT) {
            error_set(err, ERROR_INPUT, "%s: intoto body must log exactly one signature", what);
            goto out;
        }
        /* intoto 0.0.2 stores the signature base64 twice over (a base64 "byte" field holding the
         * DSSE signature's own base64 text). */
        struct buffer once = BUFFER_INIT;
        int r = decode_b64_field(json_object_get(sigs->items[0], "sig"), what, "envelope.signatures[0].sig", &once, err);
        if (r == 0 && base64_decode(buffer_cstr(&once), once.len, &out->signature) != 0)
            r = error_set(err, ERROR_INPUT, "%s: intoto envelope signature is not base64 inside base64", what);
        buffer_free(&once);
        if (r != 0 ||
            decode_b64_field(json_object_get(sigs->items[0], "publicKey"), what, "envelope.signatures[0].publicKey",
                             &out->verifier, err) != 0 ||
            read_hash(json_object_get_object(content, "payloadHash"), what, "spec.content.payloadHash", out, err) != 0)
            goto out;
    } else {
        error_set(err, ERROR_INPUT,
                  "%s: Rekor entry kind %s %s is not supported offline (supported: hashedrekord 0.0.1 and 0.0.2, dsse "
                  "0.0.1 and 0.0.2, intoto 0.0.2)",
                  what, kind, version);
        goto out;
    }
    rc = 0;
out:
    json_free(doc);
    if (rc != 0)
        rekor_body_free(out);
    return rc;
}

/* The logged certificate (v1: PEM, v2: DER), or NULL when the verifier is not one certificate. */
static X509 *logged_certificate(const struct rekor_body *b)
{
    struct error ignored = {0};
    if (b->verifier_der) {
        X509 *x = NULL;
        if (!b->verifier_is_certificate ||
            x509_chain_parse_der((const unsigned char *)b->verifier.data, b->verifier.len, "logged", &x, &ignored) != 0)
            return NULL;
        return x;
    }
    STACK_OF(X509) *certs = NULL;
    if (x509_chain_parse_pem(b->verifier.data, b->verifier.len, "logged", &certs, &ignored) != 0)
        return NULL;
    X509 *x = sk_X509_num(certs) == 1 ? X509_dup(sk_X509_value(certs, 0)) : NULL;
    sk_X509_pop_free(certs, X509_free);
    return x;
}

/* The logged public key: a key, or the key of a logged certificate. */
static struct public_key *logged_key(const struct rekor_body *b)
{
    struct error ignored = {0};
    struct public_key *key = NULL;
    if (b->verifier_der && !b->verifier_is_certificate) {
        public_key_from_der((const unsigned char *)b->verifier.data, b->verifier.len, "logged", &key, &ignored);
        return key;
    }
    if (!b->verifier_der && public_key_from_pem(b->verifier.data, b->verifier.len, "logged", &key, &ignored) == 0)
        return key;
    X509 *x = logged_certificate(b);
    if (x)
        public_key_from_evp(X509_get0_pubkey(x), "logged", &key, &ignored);
    X509_free(x);
    return key;
}

int rekor_body_check(const struct rekor_body *b, const void *signature, size_t signature_len, X509 *cert,
                     const struct public_key *key, const void *content, size_t content_len, const char *what,
                     struct error *err)
{
    if (b->signature.len != signature_len || memcmp(b->signature.data, signature, signature_len) != 0)
        return error_set(err, ERROR_INPUT,
                         "%s: the Rekor entry (%s %s) logged a different signature than the one being verified", what,
                         b->kind, b->api_version);
    const char *md_name = strcmp(b->hash_algorithm, "sha256") == 0   ? "SHA256"
                          : strcmp(b->hash_algorithm, "sha384") == 0 ? "SHA384"
                          : strcmp(b->hash_algorithm, "sha512") == 0 ? "SHA512"
                                                                     : NULL;
    if (!md_name)
        return error_set(err, ERROR_INPUT, "%s: the Rekor entry logs a %s hash in %s; only SHA-256/384/512 are read",
                         what, b->hash_algorithm, b->hash_field);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_MD *evp = EVP_MD_fetch(NULL, md_name, NULL);
    int ok = evp && EVP_Digest(content, content_len, md, &md_len, evp, NULL) == 1;
    EVP_MD_free(evp);
    if (!ok)
        return error_set(err, ERROR_RUNTIME, "%s: computing %s failed", what, md_name);
    if (b->hash_len != md_len || CRYPTO_memcmp(b->hash, md, md_len) != 0) {
        char got[2 * sizeof b->hash + 1], want[2 * EVP_MAX_MD_SIZE + 1];
        hex_encode(b->hash, b->hash_len, got);
        hex_encode(md, md_len, want);
        return error_set(err, ERROR_INPUT, "%s: the Rekor entry's %s is %s:%s, but what was signed hashes to %s:%s",
                         what, b->hash_field, b->hash_algorithm, got, b->hash_algorithm, want);
    }
    if (cert) {
        X509 *logged = logged_certificate(b);
        bool same = logged && x509_chain_equal(logged, cert);
        X509_free(logged);
        if (!same)
            return error_set(err, ERROR_INPUT, "%s: the Rekor entry logged a different certificate than the signer's",
                             what);
        return 0;
    }
    if (key) {
        struct public_key *logged = logged_key(b);
        bool same = logged && public_key_equal(logged, key);
        public_key_free(logged);
        if (!same)
            return error_set(err, ERROR_INPUT, "%s: the Rekor entry logged a different public key than the signer's",
                             what);
    }
    return 0;
}
