/* rekor_entry — Rekor entries checked offline: SET, Merkle inclusion, checkpoint, body (see
 * rekor_entry.h). */
#include "verify/rekor_entry.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int hex_decode(const char *hex, unsigned char *out, size_t max, size_t *len)
{
    size_t n = strlen(hex);
    if (n == 0 || n % 2 != 0 || n / 2 > max)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_value((unsigned char)hex[2 * i]), lo = hex_value((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    *len = n / 2;
    return 0;
}

static int decode_b64_field(const struct json_value *v, const char *what, const char *field, struct buffer *out,
                            struct error *err)
{
    if (!v || v->type != JSON_STRING || v->text_len == 0)
        return error_set(err, ERROR_INPUT, "%s: %s is missing or not a string", what, field);
    if (base64_decode(v->text, v->text_len, out) != 0)
        return error_set(err, ERROR_INPUT, "%s:%d:%d: %s is not valid standard base64", what, v->line, v->column,
                         field);
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
    if (!log_id || hex_decode(log_id, out->log_id, sizeof out->log_id, &out->log_id_len) != 0) {
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

static int parse_inclusion_proof(const struct json_value *p, const char *what, struct rekor_entry *out,
                                 struct error *err)
{
    if (p->type != JSON_OBJECT)
        return error_set(err, ERROR_INPUT, "%s: inclusionProof must be an object", what);
    if (!proto_int64(json_object_get(p, "logIndex"), &out->proof_log_index) ||
        !proto_int64(json_object_get(p, "treeSize"), &out->proof_tree_size) || out->proof_log_index < 0 ||
        out->proof_tree_size <= 0)
        return error_set(err, ERROR_INPUT, "%s: inclusionProof.logIndex/treeSize must be non-negative integers",
                         what);
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
        return error_set(err, ERROR_INPUT, "%s: inclusionProof has no checkpoint.envelope; a proof without a signed "
                                           "checkpoint proves nothing", what);
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
    buffer_appendf(out, ",\"integratedTime\":%lld,\"logID\":\"%s\",\"logIndex\":%lld}",
                   (long long)e->integrated_time, hex, (long long)e->log_index);
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

int rekor_checkpoint_verify(const char *checkpoint, const struct public_key *key, const char *what, uint64_t *size,
                            unsigned char root[REKOR_HASH_BYTES], struct error *err)
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
    /* Signature lines: "\u2014 <name> <base64(4-byte key hint || signature)>". The hint is the first
     * four bytes of SHA-256 over the signer's DER public key; lines of other signers (witnesses)
     * are skipped. */
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
        const char *name_end = memchr(p + 4, ' ', (size_t)(eol - p - 4));
        if (!name_end || name_end == p + 4) {
            rc = error_set(err, ERROR_INPUT, "%s: checkpoint signature line has no signer name", what);
            goto out;
        }
        struct buffer sig = BUFFER_INIT;
        if (base64_decode(name_end + 1, (size_t)(eol - name_end - 1), &sig) != 0 || sig.len < 5) {
            buffer_free(&sig);
            rc = error_set(err, ERROR_INPUT, "%s: checkpoint signature is not base64", what);
            goto out;
        }
        if (memcmp(sig.data, public_key_id(key), 4) == 0) {
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
        rc = error_set(err, ERROR_INPUT, "%s: checkpoint is %s by the log key %s", what,
                       hinted ? "not validly signed" : "not signed", public_key_fingerprint(key));
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
                             what, (long long)e->log_index, (long long)e->proof_log_index,
                             (long long)e->proof_tree_size);
        uint64_t size = 0;
        unsigned char cp_root[REKOR_HASH_BYTES];
        if (rekor_checkpoint_verify(e->checkpoint, log->key, what, &size, cp_root, err) != 0)
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
    if (!alg || !value || strlen(alg) >= sizeof out->hash_algorithm ||
        hex_decode(value, out->hash, sizeof out->hash, &out->hash_len) != 0)
        return error_set(err, ERROR_INPUT, "%s: Rekor body %s.algorithm/value are missing or malformed", what, field);
    snprintf(out->hash_algorithm, sizeof out->hash_algorithm, "%s", alg);
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
    } else if (strcmp(kind, "dsse") == 0 && strcmp(version, "0.0.1") == 0) {
        const struct json_value *sigs = json_object_get_array(spec, "signatures");
        if (!sigs || sigs->count != 1 || sigs->items[0]->type != JSON_OBJECT) {
            error_set(err, ERROR_INPUT, "%s: dsse body must log exactly one signature", what);
            goto out;
        }
        const struct json_value *s = sigs->items[0];
        if (decode_b64_field(json_object_get(s, "signature"), what, "spec.signatures[0].signature", &out->signature,
                             err) != 0 ||
            decode_b64_field(json_object_get(s, "verifier"), what, "spec.signatures[0].verifier", &out->verifier,
                             err) != 0 ||
            read_hash(json_object_get_object(spec, "payloadHash"), what, "spec.payloadHash", out, err) != 0)
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
        int r = decode_b64_field(json_object_get(sigs->items[0], "sig"), what, "envelope.signatures[0].sig", &once,
                                 err);
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
                  "%s: Rekor entry kind %s %s is not supported offline (supported: hashedrekord 0.0.1, dsse 0.0.1, "
                  "intoto 0.0.2)",
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

int rekor_body_check(const struct rekor_body *b, const void *signature, size_t signature_len, X509 *cert,
                     const struct public_key *key, const unsigned char sha256[REKOR_HASH_BYTES], const char *what,
                     struct error *err)
{
    if (b->signature.len != signature_len || memcmp(b->signature.data, signature, signature_len) != 0)
        return error_set(err, ERROR_INPUT, "%s: the Rekor entry logged a different signature than the one being "
                                           "verified", what);
    if (strcmp(b->hash_algorithm, "sha256") != 0 || b->hash_len != REKOR_HASH_BYTES ||
        memcmp(b->hash, sha256, REKOR_HASH_BYTES) != 0) {
        char got[2 * sizeof b->hash + 1], want[2 * REKOR_HASH_BYTES + 1];
        hex_encode(b->hash, b->hash_len, got);
        hex_encode(sha256, REKOR_HASH_BYTES, want);
        return error_set(err, ERROR_INPUT, "%s: the Rekor entry logged %s:%s, but the signed payload is sha256:%s", what,
                         b->hash_algorithm, got, want);
    }
    /* The verifier is PEM: a certificate (keyless) or a public key. */
    if (cert) {
        STACK_OF(X509) *logged = NULL;
        struct error ignored = {0};
        if (x509_chain_parse_pem(b->verifier.data, b->verifier.len, what, &logged, &ignored) != 0)
            return error_set(err, ERROR_INPUT, "%s: the Rekor entry did not log a certificate", what);
        bool same = sk_X509_num(logged) == 1 && x509_chain_equal(sk_X509_value(logged, 0), cert);
        sk_X509_pop_free(logged, X509_free);
        if (!same)
            return error_set(err, ERROR_INPUT, "%s: the Rekor entry logged a different certificate than the signer's",
                             what);
        return 0;
    }
    if (key) {
        struct public_key *logged = NULL;
        struct error ignored = {0};
        if (public_key_from_pem(b->verifier.data, b->verifier.len, what, &logged, &ignored) != 0) {
            /* A key-based signature can also be logged with a certificate that carries the key. */
            STACK_OF(X509) *certs = NULL;
            if (x509_chain_parse_pem(b->verifier.data, b->verifier.len, what, &certs, &ignored) == 0) {
                EVP_PKEY *pk = X509_get0_pubkey(sk_X509_value(certs, 0));
                if (pk)
                    public_key_from_evp(pk, what, &logged, &ignored);
                sk_X509_pop_free(certs, X509_free);
            }
        }
        bool same = logged && public_key_equal(logged, key);
        public_key_free(logged);
        if (!same)
            return error_set(err, ERROR_INPUT, "%s: the Rekor entry logged a different public key than the signer's",
                             what);
    }
    return 0;
}
