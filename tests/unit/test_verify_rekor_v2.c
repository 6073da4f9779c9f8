/* Unit tests for Rekor v2 (rekor-tiles) entries and RFC 3161 timestamps in Sigstore bundles:
 * src/verify/rekor_entry.c (hashedrekord/dsse 0.0.2 bodies, C2SP signed-note checkpoints),
 * src/verify/rfc3161.c and their use by src/verify/sigstore_bundle.c. Vectors are made at test
 * time by verify_testlib.h: an Ed25519 Rekor v2 log, a test TSA (OpenSSL's TS responder API), the
 * world's Fulcio-like CA. The mutation sweep flips one bit in every byte of every signed field of
 * a good bundle and requires each copy to be refused with a message naming the image, the check
 * and the field. */
#include "test.h"
#include "verify_testlib.h"

#include "verify/rekor_entry.h"
#include "verify/rfc3161.h"
#include "verify/trusted_root.h"

static struct tl_world W;
static struct tl_v2 V;

/* A Rekor v2 DSSE bundle, as raw fields: the builder writes the JSON, mutations flip bytes. */
struct v2 {
    const char *media_type, *kind;
    char *payload_type;
    struct buffer payload, sig, cert, body, tst, log_id, root_hash, hashes;
    char *checkpoint;
    int64_t log_index, proof_index, tree_size;
    bool proof, timestamp;
};

static void buf_set(struct buffer *b, const void *d, size_t n)
{
    buffer_reset(b);
    buffer_append(b, d, n);
}

/* kind: "hashedrekord" (over the PAE, as cosign v3 logs envelopes on Rekor v2) or "dsse". */
static void v2_make(struct v2 *p, const char *digest, const char *kind, int64_t stamp_at)
{
    memset(p, 0, sizeof *p);
    p->media_type = "application/vnd.dev.sigstore.bundle.v0.3+json";
    p->kind = kind;
    p->payload_type = xstrdup("application/vnd.in-toto+json");
    char *st = tl_statement(digest);
    buf_set(&p->payload, st, strlen(st));
    struct buffer pae = BUFFER_INIT;
    tl_pae(p->payload_type, st, &pae);
    tl_sign(W.leaf_key, "SHA256", false, pae.data, pae.len, &p->sig);
    tl_cert_der(W.leaf, &p->cert);
    char *body = strcmp(kind, "dsse") == 0 ? tl_body_v2(kind, st, strlen(st), &p->sig, W.leaf)
                                           : tl_body_v2(kind, pae.data, pae.len, &p->sig, W.leaf);
    buf_set(&p->body, body, strlen(body));
    struct tl_entry e;
    tl_entry_make_v2(&e, V.log_key, TL_V2_HOST, body);
    buf_set(&p->log_id, e.log_id, 32);
    buf_set(&p->root_hash, e.root_hash, 32);
    for (size_t i = 0; i < e.hash_count; i++)
        buffer_append(&p->hashes, e.hashes[i], 32);
    p->checkpoint = xstrdup(e.checkpoint);
    p->log_index = e.log_index;
    p->proof_index = e.proof_index;
    p->tree_size = e.tree_size;
    p->proof = true;
    p->timestamp = true;
    tl_timestamp(V.tsa_key, V.tsa_leaf, p->sig.data, p->sig.len, stamp_at, &p->tst);
    tl_entry_free(&e);
    free(body);
    free(st);
    buffer_free(&pae);
}

static void v2_copy(struct v2 *to, const struct v2 *from)
{
    *to = *from;
    to->payload_type = xstrdup(from->payload_type);
    to->checkpoint = xstrdup(from->checkpoint);
    struct buffer *dst[] = {&to->payload, &to->sig,    &to->cert,      &to->body,
                            &to->tst,     &to->log_id, &to->root_hash, &to->hashes};
    const struct buffer *src[] = {&from->payload, &from->sig,    &from->cert,      &from->body,
                                  &from->tst,     &from->log_id, &from->root_hash, &from->hashes};
    for (size_t i = 0; i < sizeof dst / sizeof *dst; i++) {
        memset(dst[i], 0, sizeof *dst[i]);
        buffer_append(dst[i], src[i]->data, src[i]->len);
    }
}

static void v2_free(struct v2 *p)
{
    free(p->payload_type);
    free(p->checkpoint);
    struct buffer *all[] = {&p->payload, &p->sig, &p->cert, &p->body, &p->tst, &p->log_id, &p->root_hash, &p->hashes};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        buffer_free(all[i]);
}

static char *b64(const struct buffer *b)
{
    return tl_b64(b->data, b->len);
}

static char *v2_json(const struct v2 *p)
{
    struct buffer j = BUFFER_INIT;
    char *cert = b64(&p->cert), *id = b64(&p->log_id), *root = b64(&p->root_hash), *body = b64(&p->body);
    char *cp = tl_json_string(p->checkpoint), *payload = b64(&p->payload), *sig = b64(&p->sig);
    buffer_appendf(&j,
                   "{\"mediaType\":\"%s\",\"verificationMaterial\":{\"certificate\":{\"rawBytes\":\"%s\"},"
                   "\"tlogEntries\":[{\"logIndex\":\"%lld\",\"logId\":{\"keyId\":\"%s\"},\"kindVersion\":{"
                   "\"kind\":\"%s\",\"version\":\"0.0.2\"}",
                   p->media_type, cert, (long long)p->log_index, id, p->kind);
    if (p->proof) {
        buffer_appendf(&j,
                       ",\"inclusionProof\":{\"logIndex\":\"%lld\",\"rootHash\":\"%s\",\"treeSize\":\"%lld\","
                       "\"hashes\":[",
                       (long long)p->proof_index, root, (long long)p->tree_size);
        for (size_t i = 0; i * 32 < p->hashes.len; i++) {
            char *h = tl_b64(p->hashes.data + 32 * i, 32);
            buffer_appendf(&j, "%s\"%s\"", i ? "," : "", h);
            free(h);
        }
        buffer_appendf(&j, "],\"checkpoint\":{\"envelope\":%s}}", cp);
    }
    buffer_appendf(&j, ",\"canonicalizedBody\":\"%s\"}]", body);
    if (p->timestamp) {
        char *tsm = tl_timestamp_material(&p->tst);
        buffer_appendf(&j, ",%s", tsm);
        free(tsm);
    }
    buffer_appendf(&j, "},\"dsseEnvelope\":{\"payload\":\"%s\",\"payloadType\":", payload);
    json_escape(&j, p->payload_type, strlen(p->payload_type), false);
    buffer_appendf(&j, ",\"signatures\":[{\"sig\":\"%s\"}]}}", sig);
    free(cert);
    free(id);
    free(root);
    free(body);
    free(cp);
    free(payload);
    free(sig);
    return buffer_take(&j);
}

static void v2_policy(struct verify_policy *pol, const char *identity, const char *issuer)
{
    tl_keyless_policy(&W, pol, identity, issuer);
    free(pol->trusted_root_path);
    pol->trusted_root_path = xstrdup(V.trusted_root_path);
}

/* Publish p as the image's bundle referrer and verify it with the v2 policy. */
static void v2_run(struct tl_run *t, const struct v2 *p)
{
    char *json = v2_json(p);
    tl_publish_bundle(&t->src, t->image, json, NULL, NULL);
    free(json);
    struct verify_policy pol;
    v2_policy(&pol, NULL, NULL);
    tl_run_verify(t, &pol);
    verify_policy_free(&pol);
}

/* ------------------------------------------------------------------------------ what verifies */

static void rekor_v2_hashedrekord_bundle_with_timestamp_verifies(void)
{
    const char *kinds[] = {"hashedrekord", "dsse"};
    for (size_t k = 0; k < 2; k++) {
        struct tl_run t;
        memset(&t, 0, sizeof t);
        t.image = tl_image(&t.src, "v2-good");
        struct v2 p;
        v2_make(&p, t.image, kinds[k], TL_SIGNED_AT);
        v2_run(&t, &p);
        CHECK_INT(t.rc, 0);
        if (t.rc)
            printf("  %s: %s\n", kinds[k], t.err.message);
        CHECK_STR(t.r.method, "sigstore-bundle");
        CHECK_STR(t.r.identity, TL_EMAIL);
        CHECK_INT(t.r.log_index, 5);
        CHECK_INT(t.r.integrated_time, -1); /* Rekor v2 vouches for no time */
        CHECK_INT(t.r.timestamp, TL_SIGNED_AT);
        CHECK_STR(t.r.timestamp_authority, TL_TSA_URI);
        struct buffer json = BUFFER_INIT;
        verify_receipt_to_json(&t.r, &json);
        CHECK(strstr(buffer_cstr(&json), "\"timestamp_authority\":\"" TL_TSA_URI "\"") != NULL);
        buffer_free(&json);
        v2_free(&p);
        tl_source_free(&t.src);
    }
}

/* The C2SP signed-note key ID, checked against Sigstore's public-good log2025-1, whose trusted-root
 * logId is exactly SHA-256("log2025-1.rekor.sigstore.dev" || 0x0A || 0x01 || key). */
static void note_key_hint_is_the_c2sp_key_id(void)
{
    const char *der_b64 = "MCowBQYDK2VwAyEAt8rlp1knGwjfbcXAYPYAkn0XiLz1x8O4t0YkEhie244=";
    const char *log_id_b64 = "zxGZFVvd0FEmjR8WrFwMdcAJ9vtaY/QXf44Y1wUeP6A=";
    struct buffer der = BUFFER_INIT, id = BUFFER_INIT;
    CHECK_INT(base64_decode(der_b64, strlen(der_b64), &der), 0);
    CHECK_INT(base64_decode(log_id_b64, strlen(log_id_b64), &id), 0);
    struct public_key *key = NULL;
    struct error err = {0};
    CHECK_INT(public_key_from_der((const unsigned char *)der.data, der.len, "log2025-1", &key, &err), 0);
    unsigned char hint[4];
    const char *name = "log2025-1.rekor.sigstore.dev";
    rekor_note_key_hint(key, name, strlen(name), hint);
    CHECK(memcmp(hint, id.data, 4) == 0);
    /* another name, another hint; ECDSA keys keep Rekor's SHA-256(SPKI) hint */
    rekor_note_key_hint(key, "rekor.sigstore.dev", 18, hint);
    CHECK(memcmp(hint, id.data, 4) != 0);
    struct public_key *ec = NULL;
    char *pem = tl_pubkey_pem(W.rekor_key);
    CHECK_INT(public_key_from_pem(pem, strlen(pem), "rekor", &ec, &err), 0);
    unsigned char want[32];
    tl_key_id(W.rekor_key, want);
    rekor_note_key_hint(ec, "anything", 8, hint);
    CHECK(memcmp(hint, want, 4) == 0);
    free(pem);
    public_key_free(ec);
    public_key_free(key);
    buffer_free(&der);
    buffer_free(&id);
}

/* ------------------------------------------------------------------------- what is refused */

static void rekor_v2_needs_proof_timestamp_and_named_checkpoint(void)
{
    struct {
        int what;
        const char *message;
    } cases[] = {
        {0, "no trusted signing time: the log entry (hashedrekord 0.0.2) carries no signed entry timestamp"},
        {1, "needs an inclusionProof"},
        {2, "checkpoint is not signed by the log key"}, /* Rekor v1-style hint on a v2 note */
        {3, "checkpoint origin 'rekor.elsewhere.test' is not the log's name " TL_V2_HOST},
        {4, "certificate has expired"},     /* timestamp after the leaf's 10 minutes */
        {5, "RFC 3161 timestamp (genTime"}, /* timestamp by an unknown TSA */
        {6, "is outside its validFor"},     /* TSA window closed */
        {7, "message imprint mismatch"},    /* timestamp over other bytes */
        {8, "a v0.3 bundle carries its signer as verificationMaterial.certificate"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct tl_run t;
        memset(&t, 0, sizeof t);
        t.image = tl_image(&t.src, "v2-refused");
        struct v2 p;
        v2_make(&p, t.image, "hashedrekord", TL_SIGNED_AT);
        char *root_override = NULL;
        switch (cases[i].what) {
        case 0: p.timestamp = false; break;
        case 1: p.proof = false; break;
        case 2: {
            /* the same note, its hint computed the Rekor v1 way (SHA-256 of the SPKI) */
            char *sp = strstr(p.checkpoint, "\xE2\x80\x94 ");
            char *b = strrchr(p.checkpoint, ' ') + 1;
            struct buffer blob = BUFFER_INIT;
            CHECK_INT(base64_decode(b, strlen(b) - 1, &blob), 0);
            unsigned char spki[32];
            tl_key_id(V.log_key, spki);
            memcpy(blob.data, spki, 4);
            char *nb = tl_b64(blob.data, blob.len);
            char *cp = xasprintf("%.*s%.*s%s\n", (int)(sp - p.checkpoint), p.checkpoint, (int)(b - sp), sp, nb);
            free(p.checkpoint);
            p.checkpoint = cp;
            free(nb);
            buffer_free(&blob);
            break;
        }
        case 3: {
            /* a genuine checkpoint of this key under another log name */
            free(p.checkpoint);
            unsigned char root[32];
            memcpy(root, p.root_hash.data, 32);
            p.checkpoint = tl_checkpoint_v2(V.log_key, "rekor.elsewhere.test", p.tree_size, root);
            break;
        }
        case 4: tl_timestamp(V.tsa_key, V.tsa_leaf, p.sig.data, p.sig.len, TL_T0 + TL_LEAF_LIFETIME + 5, &p.tst); break;
        case 5: {
            EVP_PKEY *k = tl_keygen("P-256");
            struct tl_cert_spec s = {"rogue-tsa", false,      NULL, NULL, NULL, false, "critical,timeStamping",
                                     TL_CA_FROM,  TL_CA_UNTIL};
            X509 *rogue = tl_cert(k, NULL, k, &s);
            tl_timestamp(k, rogue, p.sig.data, p.sig.len, TL_SIGNED_AT, &p.tst);
            X509_free(rogue);
            EVP_PKEY_free(k);
            break;
        }
        case 6: {
            char *json = tl_trusted_root_json_v2(&W, &V, "{\"start\": \"2030-01-01T00:00:00Z\"}");
            root_override = tl_write(W.dir, "trusted_root_tsa_window.json", json, strlen(json));
            free(json);
            break;
        }
        case 7: tl_timestamp(V.tsa_key, V.tsa_leaf, "other bytes", 11, TL_SIGNED_AT, &p.tst); break;
        case 8: break;
        }
        char *json = v2_json(&p);
        if (cases[i].what == 8) {
            /* v0.3 with a chain instead of a certificate */
            char *cert = b64(&p.cert);
            char *from = xasprintf("\"certificate\":{\"rawBytes\":\"%s\"}", cert);
            char *to = xasprintf("\"x509CertificateChain\":{\"certificates\":[{\"rawBytes\":\"%s\"}]}", cert);
            char *pos = strstr(json, from);
            char *j2 = xasprintf("%.*s%s%s", (int)(pos - json), json, to, pos + strlen(from));
            free(json);
            json = j2;
            free(cert);
            free(from);
            free(to);
        }
        tl_publish_bundle(&t.src, t.image, json, NULL, NULL);
        struct verify_policy pol;
        v2_policy(&pol, NULL, NULL);
        if (root_override) {
            free(pol.trusted_root_path);
            pol.trusted_root_path = root_override;
        }
        tl_run_verify(&t, &pol);
        CHECK_INT(t.rc, -1);
        CHECK_INT(t.err.code, ERROR_INPUT);
        CHECK(tl_run_error_has(&t, cases[i].message));
        CHECK(tl_run_error_has(&t, t.image));
        verify_policy_free(&pol);
        free(json);
        v2_free(&p);
        tl_source_free(&t.src);
    }
}

/* A Rekor v1 bundle (SET + proof) whose timestamp is bad is refused: timestamps are never
 * skipped. A good timestamp adds a second signing time the certificate must cover. */
static void timestamps_are_checked_on_every_bundle(void)
{
    for (int bad = 0; bad < 2; bad++) {
        struct tl_run t;
        memset(&t, 0, sizeof t);
        t.image = tl_image(&t.src, "v1-with-tsa");
        char *bundle = tl_keyless_bundle(&W, t.image, true, true);
        /* the signature bytes are inside the bundle: fish them out of the envelope */
        struct json_value *doc = NULL;
        struct error err = {0};
        CHECK_INT(json_parse(bundle, strlen(bundle), "bundle", &doc, &err), 0);
        const struct json_value *env = json_object_get_object(doc, "dsseEnvelope");
        const struct json_value *sigs = json_object_get_array(env, "signatures");
        const char *sig_b64 = json_object_get_string(sigs->items[0], "sig");
        struct buffer sig = BUFFER_INIT, tst = BUFFER_INIT;
        CHECK_INT(base64_decode(sig_b64, strlen(sig_b64), &sig), 0);
        json_free(doc);
        if (bad)
            buffer_append(&sig, "!", 1);
        tl_timestamp(V.tsa_key, V.tsa_leaf, sig.data, sig.len, TL_SIGNED_AT + 30, &tst);
        char *tsm = tl_timestamp_material(&tst);
        char *pos = strstr(bundle, "\"tlogEntries\"");
        char *b2 = xasprintf("%.*s%s,%s", (int)(pos - bundle), bundle, tsm, pos);
        tl_publish_bundle(&t.src, t.image, b2, NULL, NULL);
        struct verify_policy pol;
        v2_policy(&pol, NULL, NULL);
        tl_run_verify(&t, &pol);
        if (bad) {
            CHECK_INT(t.rc, -1);
            CHECK(tl_run_error_has(&t, "message imprint mismatch"));
        } else {
            CHECK_INT(t.rc, 0);
            if (t.rc)
                printf("  %s\n", t.err.message);
            CHECK_INT(t.r.integrated_time, TL_SIGNED_AT);
            CHECK_INT(t.r.timestamp, TL_SIGNED_AT + 30);
        }
        verify_policy_free(&pol);
        free(bundle);
        free(b2);
        free(tsm);
        buffer_free(&sig);
        buffer_free(&tst);
        tl_source_free(&t.src);
    }
}

static void rfc3161_verifies_directly(void)
{
    struct trusted_root *root = NULL;
    struct error err = {0};
    CHECK_INT(trusted_root_load(V.trusted_root_path, &root, &err), 0);
    if (!root)
        return;
    struct buffer tst = BUFFER_INIT;
    tl_timestamp(V.tsa_key, V.tsa_leaf, "signature", 9, TL_SIGNED_AT, &tst);
    struct rfc3161_time out;
    CHECK_INT(rfc3161_verify(tst.data, tst.len, "signature", 9, root, "ts", &out, &err), 0);
    CHECK_INT(out.time, TL_SIGNED_AT);
    CHECK(out.tsa == &root->timestamp_authorities[0]);
    CHECK_INT(rfc3161_verify(tst.data, tst.len - 1, "signature", 9, root, "ts", &out, &err), -1);
    CHECK(strstr(err.message, "not a DER RFC 3161 TimeStampResp") != NULL);
    CHECK_INT(rfc3161_verify("", 0, "signature", 9, root, "ts", &out, &err), -1);
    /* another TSA certificate of the same root: it chains, but the authority names its leaf */
    EVP_PKEY *k = tl_keygen("P-256");
    struct tl_cert_spec s = {"other-tsa", false,      NULL, NULL, NULL, false, "critical,timeStamping",
                             TL_CA_FROM,  TL_CA_UNTIL};
    X509 *x = tl_cert(k, V.tsa_root, V.tsa_root_key, &s);
    tl_timestamp(k, x, "signature", 9, TL_SIGNED_AT, &tst);
    CHECK_INT(rfc3161_verify(tst.data, tst.len, "signature", 9, root, "ts", &out, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    CHECK(strstr(err.message, "timestampAuthorities[0] " TL_TSA_URI) != NULL);
    CHECK(strstr(err.message, "signed by another certificate than the authority's leaf") != NULL);
    /* a timestamp made before the TSA certificate existed */
    tl_timestamp(V.tsa_key, V.tsa_leaf, "signature", 9, TL_CA_FROM - 10, &tst);
    CHECK_INT(rfc3161_verify(tst.data, tst.len, "signature", 9, root, "ts", &out, &err), -1);
    CHECK(strstr(err.message, "outside its validFor") != NULL || strstr(err.message, "not yet valid") != NULL);
    X509_free(x);
    EVP_PKEY_free(k);
    buffer_free(&tst);
    trusted_root_free(root);
}

/* ------------------------------------------------------------------------ the mutation sweep */

struct field {
    const char *name;
    struct buffer *(*get)(struct v2 *p);
    const char *const *checks; /* the message names one of these */
};

static struct buffer *f_payload(struct v2 *p)
{
    return &p->payload;
}
static struct buffer *f_sig(struct v2 *p)
{
    return &p->sig;
}
static struct buffer *f_cert(struct v2 *p)
{
    return &p->cert;
}
static struct buffer *f_body(struct v2 *p)
{
    return &p->body;
}
static struct buffer *f_log_id(struct v2 *p)
{
    return &p->log_id;
}
static struct buffer *f_root(struct v2 *p)
{
    return &p->root_hash;
}
static struct buffer *f_hashes(struct v2 *p)
{
    return &p->hashes;
}

static const char *const c_statement[] = {"DSSE signature", "statement", "dsseEnvelope.payload", NULL};
static const char *const c_cert[] = {"verificationMaterial.certificate", "certificate", NULL};
static const char *const c_proof[] = {"inclusion proof", "checkpoint", NULL};
static const char *const c_log[] = {"logId.keyId", "is not in trusted root", NULL};
static const char *const c_tsa[] = {"RFC 3161", "rfc3161Timestamps", NULL};

static void refused_naming(const struct v2 *p, struct tl_run *t, const char *field, size_t at,
                           const char *const *checks, int *bad)
{
    char *json = v2_json(p);
    tl_source_free(&t->src);
    memset(&t->src, 0, sizeof t->src);
    const char *image = tl_image(&t->src, "sweep");
    t->image = image;
    tl_publish_bundle(&t->src, t->image, json, NULL, NULL);
    free(json);
    struct verify_policy pol;
    v2_policy(&pol, NULL, NULL);
    tl_run_verify(t, &pol);
    verify_policy_free(&pol);
    bool named = false;
    for (size_t i = 0; checks[i] && !named; i++)
        named = strstr(t->err.message, checks[i]) != NULL;
    if (t->rc != -1 || t->err.code != ERROR_INPUT || !strstr(t->err.message, t->image) || !named) {
        if (*bad < 5)
            printf("  %s byte %zu: rc %d: %s\n", field, at, t->rc, t->rc ? t->err.message : "accepted");
        (*bad)++;
    }
}

static void every_signed_field_mutation_is_refused(void)
{
    struct tl_run t;
    memset(&t, 0, sizeof t);
    t.image = tl_image(&t.src, "sweep");
    struct v2 good;
    v2_make(&good, t.image, "hashedrekord", TL_SIGNED_AT);
    int bad = 0;
    size_t tried = 0;
    const struct field fields[] = {
        {"dsseEnvelope.payload", f_payload, c_statement},
        {"dsseEnvelope.signatures[0].sig", f_sig, c_statement},
        {"verificationMaterial.certificate.rawBytes", f_cert, c_cert},
        {"tlogEntries[0].canonicalizedBody", f_body, c_proof},
        {"tlogEntries[0].logId.keyId", f_log_id, c_log},
        {"tlogEntries[0].inclusionProof.rootHash", f_root, c_proof},
        {"tlogEntries[0].inclusionProof.hashes", f_hashes, c_proof},
    };
    for (size_t f = 0; f < sizeof fields / sizeof *fields; f++) {
        size_t n = fields[f].get(&good)->len;
        for (size_t i = 0; i < n; i++) {
            struct v2 m;
            v2_copy(&m, &good);
            fields[f].get(&m)->data[i] ^= (char)(1u << (i % 8));
            refused_naming(&m, &t, fields[f].name, i, fields[f].checks, &bad);
            tried++;
            v2_free(&m);
        }
    }
    /* the checkpoint text, byte by byte (a flipped low bit keeps most characters printable) */
    for (size_t i = 0; i < strlen(good.checkpoint); i++) {
        struct v2 m;
        v2_copy(&m, &good);
        m.checkpoint[i] ^= 1;
        refused_naming(&m, &t, "inclusionProof.checkpoint.envelope", i, c_proof, &bad);
        tried++;
        v2_free(&m);
    }
    /* the timestamp's signed content (TSTInfo) and its signature value */
    {
        const unsigned char *p = (const unsigned char *)good.tst.data;
        TS_RESP *resp = d2i_TS_RESP(NULL, &p, (long)good.tst.len);
        unsigned char *info = NULL;
        int info_len = resp ? i2d_TS_TST_INFO(TS_RESP_get_tst_info(resp), &info) : -1;
        PKCS7_SIGNER_INFO *si =
            resp ? sk_PKCS7_SIGNER_INFO_value(PKCS7_get_signer_info(TS_RESP_get_token(resp)), 0) : NULL;
        const ASN1_OCTET_STRING *sigval = si ? si->enc_digest : NULL;
        CHECK(info_len > 0 && sigval != NULL);
        const char *at_info = info_len > 0 ? memmem(good.tst.data, good.tst.len, info, (size_t)info_len) : NULL;
        const char *at_sig = sigval ? memmem(good.tst.data, good.tst.len, ASN1_STRING_get0_data(sigval),
                                             (size_t)ASN1_STRING_length(sigval))
                                    : NULL;
        CHECK(at_info != NULL && at_sig != NULL);
        struct {
            size_t off, len;
        } ranges[2] = {{at_info ? (size_t)(at_info - good.tst.data) : 0, at_info ? (size_t)info_len : 0},
                       {at_sig ? (size_t)(at_sig - good.tst.data) : 0, at_sig ? (size_t)ASN1_STRING_length(sigval) : 0}};
        for (int r = 0; r < 2; r++)
            for (size_t i = ranges[r].off; i < ranges[r].off + ranges[r].len; i++) {
                struct v2 m;
                v2_copy(&m, &good);
                m.tst.data[i] ^= (char)(1u << (i % 8));
                refused_naming(&m, &t, "rfc3161Timestamps[0].signedTimestamp", i, c_tsa, &bad);
                tried++;
                v2_free(&m);
            }
        OPENSSL_free(info);
        TS_RESP_free(resp);
    }
    /* the integers and strings */
    static const char *const c_index[] = {"logIndex", "inclusion proof", NULL};
    static const char *const c_kind[] = {"kindVersion", "not supported offline", NULL};
    static const char *const c_type[] = {"payloadType", NULL};
    for (int what = 0; what < 6; what++) {
        struct v2 m;
        v2_copy(&m, &good);
        const char *const *checks = c_index;
        const char *name = "logIndex";
        if (what == 0)
            m.log_index++;
        if (what == 1) {
            m.proof_index++;
            name = "inclusionProof.logIndex";
        }
        if (what == 2) {
            m.tree_size++;
            name = "inclusionProof.treeSize";
        }
        if (what == 3) {
            m.kind = "dsse";
            name = "kindVersion.kind";
            checks = c_kind;
        }
        if (what == 4) {
            free(m.payload_type);
            m.payload_type = xstrdup("application/vnd.in-toto+jsoN");
            name = "dsseEnvelope.payloadType";
            checks = c_type;
        }
        if (what == 5) {
            m.log_index = m.proof_index = 6;
            name = "logIndex and inclusionProof.logIndex";
        }
        refused_naming(&m, &t, name, 0, checks, &bad);
        tried++;
        v2_free(&m);
    }
    printf("  %zu mutations tried, %d not refused with a message naming image, check and field\n", tried, bad);
    CHECK_INT(bad, 0);
    v2_free(&good);
    tl_source_free(&t.src);
}

int main(void)
{
    tl_world_init(&W);
    tl_v2_init(&V, &W);
    RUN(rekor_v2_hashedrekord_bundle_with_timestamp_verifies);
    RUN(note_key_hint_is_the_c2sp_key_id);
    RUN(rekor_v2_needs_proof_timestamp_and_named_checkpoint);
    RUN(timestamps_are_checked_on_every_bundle);
    RUN(rfc3161_verifies_directly);
    RUN(every_signed_field_mutation_is_refused);
    tl_v2_free(&V);
    tl_world_free(&W);
    return TEST_MAIN_END();
}
