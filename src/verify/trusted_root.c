/* trusted_root — read a Sigstore trusted_root.json (see trusted_root.h). */
#include "verify/trusted_root.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>

#include "core/base64.h"
#include "airfactory/buffer.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/memory.h"

int trusted_root_parse_time(const char *text, int round_up, int64_t *out)
{
    if (!text)
        return -1;
    const char *p = text;
    int field[6];
    static const int widths[6] = {4, 2, 2, 2, 2, 2};
    static const char seps[6] = {'-', '-', 'T', ':', ':', '\0'};
    for (int i = 0; i < 6; i++) {
        int v = 0;
        for (int j = 0; j < widths[i]; j++) {
            if (!isdigit((unsigned char)*p))
                return -1;
            v = v * 10 + (*p++ - '0');
        }
        field[i] = v;
        if (seps[i]) {
            if (*p != seps[i] && !(seps[i] == 'T' && (*p == 't' || *p == ' ')))
                return -1;
            p++;
        }
    }
    bool fraction = false;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p)) {
            if (*p != '0')
                fraction = true;
            p++;
        }
    }
    int offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        p++;
        if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) || p[2] != ':' ||
            !isdigit((unsigned char)p[3]) || !isdigit((unsigned char)p[4]))
            return -1;
        int hh = (p[0] - '0') * 10 + (p[1] - '0'), mm = (p[3] - '0') * 10 + (p[4] - '0');
        if (hh > 23 || mm > 59)
            return -1;
        offset = sign * (hh * 3600 + mm * 60);
        p += 5;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    if (field[1] < 1 || field[1] > 12 || field[2] < 1 || field[2] > 31 || field[3] > 23 || field[4] > 59 || field[5] > 60)
        return -1;
    struct tm tm = {0};
    tm.tm_year = field[0] - 1900;
    tm.tm_mon = field[1] - 1;
    tm.tm_mday = field[2];
    tm.tm_hour = field[3];
    tm.tm_min = field[4];
    tm.tm_sec = field[5];
    time_t t = timegm(&tm);
    *out = (int64_t)t - offset + (fraction && round_up ? 1 : 0);
    return 0;
}

void trusted_root_format_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (t == TRUSTED_ROOT_TIME_MIN || t == TRUSTED_ROOT_TIME_MAX || !gmtime_r(&tt, &tm) ||
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "@%lld", (long long)t);
}

/* "validFor": {"start": …, "end": …}. A missing or null end is an open window. A missing start is
 * open too, except where require_start: sigstore-go refuses a transparency or CT log key without a
 * start (pkg/root/trusted_root.go ParseTransparencyLogs), and so does this reader. */
static int parse_valid_for(const struct json_value *obj, const char *what, const char *where, bool require_start,
                           int64_t *from, int64_t *until, struct error *err)
{
    *from = TRUSTED_ROOT_TIME_MIN;
    *until = TRUSTED_ROOT_TIME_MAX;
    const struct json_value *vf = json_object_get(obj, "validFor");
    if (vf && vf->type == JSON_NULL)
        vf = NULL;
    if (vf && vf->type != JSON_OBJECT)
        return error_set(err, ERROR_INPUT, "%s:%d:%d: %s.validFor must be an object", what, vf->line, vf->column, where);
    const struct json_value *s = vf ? json_object_get(vf, "start") : NULL, *e = vf ? json_object_get(vf, "end") : NULL;
    if (s && s->type == JSON_NULL)
        s = NULL;
    if (e && e->type == JSON_NULL)
        e = NULL;
    if (!s && require_start)
        return error_set(err, ERROR_INPUT,
                         "%s: %s.validFor.start is missing; a log key needs the time its validity starts (as "
                         "sigstore-go requires); use the trusted root Sigstore's TUF repository publishes",
                         what, where);
    if (s && (s->type != JSON_STRING || trusted_root_parse_time(s->text, 1, from) != 0))
        return error_set(err, ERROR_INPUT, "%s:%d:%d: %s.validFor.start is not an RFC 3339 time", what, s->line,
                         s->column, where);
    if (e && (e->type != JSON_STRING || trusted_root_parse_time(e->text, 0, until) != 0))
        return error_set(err, ERROR_INPUT, "%s:%d:%d: %s.validFor.end is not an RFC 3339 time", what, e->line,
                         e->column, where);
    if (*until < *from)
        return error_set(err, ERROR_INPUT, "%s: %s.validFor ends before it starts", what, where);
    return 0;
}

static int decode_bytes(const struct json_value *v, const char *what, const char *where, struct buffer *out,
                        struct error *err)
{
    if (!v || v->type != JSON_STRING || v->text_len == 0)
        return error_set(err, ERROR_INPUT, "%s: %s is missing or not a base64 string", what, where);
    if (base64_decode_any(v->text, v->text_len, out) != 0)
        return error_set(err, ERROR_INPUT, "%s:%d:%d: %s is not valid base64", what, v->line, v->column, where);
    return 0;
}

static int parse_log(const struct json_value *item, const char *what, const char *where, struct trusted_root_log *log,
                     struct error *err)
{
    if (item->type != JSON_OBJECT)
        return error_set(err, ERROR_INPUT, "%s:%d:%d: %s must be an object", what, item->line, item->column, where);
    const char *url = json_object_get_string(item, "baseUrl");
    log->base_url = xstrdup(url ? url : "");
    const char *host = strstr(log->base_url, "://");
    host = host ? host + 3 : log->base_url;
    log->host = xstrndup(host, strcspn(host, ":/?#"));
    const struct json_value *pk = json_object_get_object(item, "publicKey");
    if (!pk)
        return error_set(err, ERROR_INPUT, "%s: %s.publicKey is missing", what, where);
    struct buffer der = BUFFER_INIT;
    char *sub = xasprintf("%s.publicKey.rawBytes", where);
    int rc = decode_bytes(json_object_get(pk, "rawBytes"), what, sub, &der, err);
    if (rc == 0) {
        char *label = xasprintf("%s %s", what, where);
        rc = public_key_from_der((const unsigned char *)der.data, der.len, label, &log->key, err);
        free(label);
    }
    free(sub);
    buffer_free(&der);
    if (rc != 0)
        return -1;
    char *pk_where = xasprintf("%s.publicKey", where);
    rc = parse_valid_for(pk, what, pk_where, true, &log->valid_from, &log->valid_until, err);
    free(pk_where);
    if (rc != 0)
        return -1;
    const struct json_value *log_id = json_object_get_object(item, "logId");
    if (log_id) {
        struct buffer id = BUFFER_INIT;
        sub = xasprintf("%s.logId.keyId", where);
        rc = decode_bytes(json_object_get(log_id, "keyId"), what, sub, &id, err);
        free(sub);
        if (rc == 0 && id.len > sizeof log->key_id)
            rc = error_set(err, ERROR_INPUT, "%s: %s.logId.keyId is %zu bytes, more than %zu", what, where, id.len,
                           sizeof log->key_id);
        if (rc == 0) {
            memcpy(log->key_id, id.data, id.len);
            log->key_id_len = id.len;
        }
        buffer_free(&id);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int parse_authority(const struct json_value *item, const char *what, const char *where,
                           struct trusted_root_authority *ca, struct error *err)
{
    if (item->type != JSON_OBJECT)
        return error_set(err, ERROR_INPUT, "%s:%d:%d: %s must be an object", what, item->line, item->column, where);
    const char *uri = json_object_get_string(item, "uri");
    ca->uri = xstrdup(uri ? uri : "");
    ca->chain = sk_X509_new_null();
    if (!ca->chain)
        return error_set(err, ERROR_RUNTIME, "%s: out of memory", what);
    const struct json_value *chain = json_object_get_object(item, "certChain");
    const struct json_value *certs = chain ? json_object_get_array(chain, "certificates") : NULL;
    if (!certs || certs->count == 0)
        return error_set(err, ERROR_INPUT, "%s: %s.certChain.certificates is missing or empty", what, where);
    for (size_t i = 0; i < certs->count; i++) {
        const struct json_value *c = certs->items[i];
        char *sub = xasprintf("%s.certChain.certificates[%zu].rawBytes", where, i);
        struct buffer der = BUFFER_INIT;
        int rc = c->type == JSON_OBJECT ? decode_bytes(json_object_get(c, "rawBytes"), what, sub, &der, err)
                                        : error_set(err, ERROR_INPUT, "%s: %s is not an object", what, sub);
        if (rc == 0) {
            const unsigned char *p = (const unsigned char *)der.data;
            X509 *x = d2i_X509(NULL, &p, (long)der.len);
            if (!x || p != (const unsigned char *)der.data + der.len) {
                X509_free(x);
                ERR_clear_error();
                rc = error_set(err, ERROR_INPUT, "%s: %s is not a DER X.509 certificate", what, sub);
            } else if (!sk_X509_push(ca->chain, x)) {
                X509_free(x);
                rc = error_set(err, ERROR_RUNTIME, "%s: out of memory", what);
            }
        }
        free(sub);
        buffer_free(&der);
        if (rc != 0)
            return -1;
    }
    return parse_valid_for(item, what, where, false, &ca->valid_from, &ca->valid_until, err);
}

int trusted_root_parse(const char *json, size_t len, const char *what, struct trusted_root **out, struct error *err)
{
    struct json_value *doc = NULL;
    if (json_parse(json, len, what, &doc, err) != 0)
        return -1;
    struct trusted_root *r = xcalloc(1, sizeof *r);
    r->what = xstrdup(what);
    int rc = 0;
    if (doc->type != JSON_OBJECT) {
        rc = error_set(err, ERROR_INPUT, "%s: a trusted root is a JSON object", what);
        goto out;
    }
    const char *media_type = json_object_get_string(doc, "mediaType");
    if (media_type && strcmp(media_type, "application/vnd.dev.sigstore.trustedroot+json;version=0.1") != 0 &&
        strcmp(media_type, "application/vnd.dev.sigstore.trustedroot.v0.1+json") != 0) {
        rc = error_set(err, ERROR_INPUT,
                       "%s: mediaType %s is not a Sigstore trusted root this verifier reads (expected "
                       "application/vnd.dev.sigstore.trustedroot+json;version=0.1)",
                       what, media_type);
        goto out;
    }
    static const char *const log_keys[2] = {"tlogs", "ctlogs"};
    for (int k = 0; k < 2 && rc == 0; k++) {
        const struct json_value *arr = json_object_get(doc, log_keys[k]);
        if (!arr)
            continue;
        if (arr->type != JSON_ARRAY) {
            rc = error_set(err, ERROR_INPUT, "%s:%d:%d: %s must be an array", what, arr->line, arr->column, log_keys[k]);
            break;
        }
        struct trusted_root_log *logs = xcalloc(arr->count ? arr->count : 1, sizeof *logs);
        if (k == 0) {
            r->tlogs = logs;
            r->tlog_count = arr->count;
        } else {
            r->ctlogs = logs;
            r->ctlog_count = arr->count;
        }
        for (size_t i = 0; i < arr->count && rc == 0; i++) {
            char *where = xasprintf("%s[%zu]", log_keys[k], i);
            rc = parse_log(arr->items[i], what, where, &logs[i], err);
            free(where);
        }
    }
    static const char *const ca_keys[2] = {"certificateAuthorities", "timestampAuthorities"};
    for (int k = 0; k < 2 && rc == 0; k++) {
        const struct json_value *arr = json_object_get(doc, ca_keys[k]);
        if (!arr)
            continue;
        if (arr->type != JSON_ARRAY) {
            rc = error_set(err, ERROR_INPUT, "%s:%d:%d: %s must be an array", what, arr->line, arr->column, ca_keys[k]);
            break;
        }
        struct trusted_root_authority *cas = xcalloc(arr->count ? arr->count : 1, sizeof *cas);
        if (k == 0) {
            r->certificate_authorities = cas;
            r->certificate_authority_count = arr->count;
        } else {
            r->timestamp_authorities = cas;
            r->timestamp_authority_count = arr->count;
        }
        for (size_t i = 0; i < arr->count && rc == 0; i++) {
            char *where = xasprintf("%s[%zu]", ca_keys[k], i);
            rc = parse_authority(arr->items[i], what, where, &cas[i], err);
            free(where);
        }
    }
out:
    json_free(doc);
    if (rc != 0) {
        trusted_root_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

int trusted_root_load(const char *path, struct trusted_root **out, struct error *err)
{
    if (!fs_exists(path))
        return error_set(err, ERROR_INPUT, "%s: no such file", path);
    if (fs_is_dir(path))
        return error_set(err, ERROR_INPUT, "%s: is a directory, not a file", path);
    struct buffer b = BUFFER_INIT;
    if (fs_read_file(path, TRUSTED_ROOT_MAX_SIZE, &b, err) != 0) {
        buffer_free(&b);
        return -1;
    }
    int rc = trusted_root_parse(buffer_cstr(&b), b.len, path, out, err);
    buffer_free(&b);
    return rc;
}

static void free_logs(struct trusted_root_log *logs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(logs[i].base_url);
        free(logs[i].host);
        public_key_free(logs[i].key);
    }
    free(logs);
}

static void free_authorities(struct trusted_root_authority *cas, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(cas[i].uri);
        sk_X509_pop_free(cas[i].chain, X509_free);
    }
    free(cas);
}

void trusted_root_free(struct trusted_root *root)
{
    if (!root)
        return;
    free_logs(root->tlogs, root->tlog_count);
    free_logs(root->ctlogs, root->ctlog_count);
    free_authorities(root->certificate_authorities, root->certificate_authority_count);
    free_authorities(root->timestamp_authorities, root->timestamp_authority_count);
    free(root->what);
    free(root);
}

const struct trusted_root_log *trusted_root_find_tlog(const struct trusted_root *root, const unsigned char *log_id,
                                                      size_t log_id_len)
{
    for (size_t i = 0; i < root->tlog_count; i++) {
        const struct trusted_root_log *l = &root->tlogs[i];
        if (!l->key)
            continue;
        if (log_id_len == SHA256_BYTES && memcmp(public_key_id(l->key), log_id, log_id_len) == 0)
            return l;
        if (l->key_id_len > 0 && l->key_id_len == log_id_len && memcmp(l->key_id, log_id, log_id_len) == 0)
            return l;
    }
    return NULL;
}
