/* registry — a read-only OCI distribution endpoint under /v2/ for the bundle's images.
 *
 * Repositories, tags and reachable blobs come from index.db (images, repository_blobs,
 * referrers); bytes come from the blob files. What real clients need (validators.md §3): the
 * manifest's exact media type as Content-Type, a correct Docker-Content-Digest on HEAD and GET
 * (containerd trusts the HEAD digest), Content-Length always. Errors are OCI JSON as distribution
 * writes them; every write method answers 405 UNSUPPORTED: a bundle is signed and immutable.
 *
 * Names (resolve_repository): cluster images are stored under their upstream names
 * ("registry.k8s.io/pause"). As containerd asks a mirror — /v2/pause/manifests/3.10?ns=registry.k8s.io
 * — `ns` picks the upstream registry; without it, the full name works and a name without its host
 * resolves when exactly one registry in the bundle has it. The factory's own repositories
 * (installer/<id>, <platform>-installer/<id>) have no host and answer whatever `ns` the node calls
 * the factory by; metal-installer/<id> (Image Factory's name for Talos >= 1.10) is installer/<id>
 * when the bundle has no repository of that name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airfactory/asset_path.h"
#include "core/digest.h"
#include "core/json.h"
#include "core/memory.h"
#include "serve/serve_routes.h"
#include "talos/mirror_patch.h"

#define MANIFEST_MAX (4u << 20) /* OCI recommends registries accept at least 4 MiB manifests */

static void api_version_header(struct serve_response *res)
{
    serve_response_header(res, "Docker-Distribution-API-Version", "registry/2.0");
}

/* {"errors":[{"code":...,"message":...,"detail":{key:value}}]}\n */
static void oci_error(struct serve_response *res, int status, const char *code, const char *message,
                      const char *detail_key, const char *detail_value)
{
    res->status = status;
    if (res->file_fd >= 0) {
        serve_response_free(res);
        serve_response_init(res);
        res->status = status;
    }
    buffer_reset(&res->body);
    struct json_writer w;
    json_writer_init(&w, &res->body);
    json_object_begin(&w);
    json_key(&w, "errors");
    json_array_begin(&w);
    json_object_begin(&w);
    json_kv_string(&w, "code", code);
    json_kv_string(&w, "message", message);
    if (detail_key) {
        json_key(&w, "detail");
        json_object_begin(&w);
        json_kv_string(&w, detail_key, detail_value);
        json_object_end(&w);
    }
    json_object_end(&w);
    json_array_end(&w);
    json_object_end(&w);
    buffer_append_char(&res->body, '\n');
    serve_response_header(res, "Content-Type", "application/json; charset=utf-8");
    res->content_type_set = true;
    api_version_header(res);
}

static bool name_component_valid(const char *s, size_t n)
{
    /* [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
    if (n == 0)
        return false;
    bool alnum_before = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (alnum) {
            alnum_before = true;
            continue;
        }
        if (c != '.' && c != '_' && c != '-')
            return false;
        if (!alnum_before)
            return false;
        if (c == '.') {
            alnum_before = false;
        } else if (c == '_') {
            if (i + 1 < n && s[i + 1] == '_')
                i++;
            alnum_before = false;
        } else {
            while (i + 1 < n && s[i + 1] == '-')
                i++;
            alnum_before = false;
        }
    }
    return alnum_before;
}

static bool repository_name_valid(const char *name)
{
    if (strlen(name) > 255)
        return false;
    const char *p = name;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!name_component_valid(p, n))
            return false;
        if (!slash)
            return true;
        p = slash + 1;
    }
}

static bool tag_valid(const char *tag)
{
    /* [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127} */
    size_t n = strlen(tag);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = tag[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  (i > 0 && (c == '.' || c == '-'));
        if (!ok)
            return false;
    }
    return true;
}

static bool digest_valid(const char *d)
{
    char hex[SHA256_HEX_LEN + 1];
    return digest_parse(d, hex, NULL) == 0;
}

/* A well-formed digest of a registered algorithm a bundle never holds (OCI image-spec
 * descriptor.md: sha512 is registered, 128 lowercase hex). Such content is simply not here:
 * 404 (or an empty referrers list), not the 400 DIGEST_INVALID that malformed digests get. */
static bool digest_foreign(const char *d)
{
    if (strncmp(d, "sha512:", 7) != 0 || strlen(d + 7) != 128)
        return false;
    for (const char *p = d + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* The manifest media types (OCI image-spec, Docker schema 2 and 1). /manifests/<digest> serves only
 * these: a layer or config is a blob, and distribution answers 404 MANIFEST_UNKNOWN for it too. */
static bool manifest_media_type(const char *media_type)
{
    static const char *const types[] = {
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(media_type, types[i]) == 0)
            return true;
    return false;
}

/* Serve a manifest or blob file with registry headers. */
static void serve_content(struct serve_context *ctx, struct serve_response *res, const struct bundle_blob *blob,
                          bool manifest)
{
    if (serve_response_blob(ctx, res, blob) != 0)
        return;
    res->status = 200;
    serve_response_header(res, "Content-Type", "%s", manifest ? blob->media_type : "application/octet-stream");
    res->content_type_set = true;
    serve_response_header(res, "Docker-Content-Digest", "%s", blob->digest);
    if (!manifest) {
        serve_response_header(res, "Accept-Ranges", "bytes");
        res->ranges = true;
    }
    api_version_header(res);
}

struct latest_ctx {
    struct serve_context *ctx;
    const char *repository;
    char digest[72];
    bool found;
};

static int latest_row(void *p, int column_count, const char *const *columns)
{
    struct latest_ctx *l = p;
    if (column_count < 1 || strchr(columns[0], '-') || strchr(columns[0], '+'))
        return 0; /* prereleases never become latest */
    char digest[72];
    struct error err = {0};
    if (bundle_find_image(l->ctx->index, l->repository, columns[0], digest, &err) == 1) {
        memcpy(l->digest, digest, sizeof digest);
        l->found = true; /* versions come in ascending order: keep the last */
    }
    return 0;
}

/* Image Factory: tag "latest" is the newest stable Talos version (spec §4.2). A bundle may tag
 * "latest" itself; if not, resolve it from the versions table. */
static int resolve_latest(struct serve_context *ctx, const char *repository, char digest[72], struct error *err)
{
    struct latest_ctx l = {ctx, repository, "", false};
    if (bundle_foreach(ctx->index, BUNDLE_LIST_VERSIONS, NULL, latest_row, &l, err) != 0)
        return -1;
    if (!l.found)
        return 0;
    memcpy(digest, l.digest, sizeof l.digest);
    return 1;
}

/* A pull of installer/<id>:<version> (or metal-installer/, -secureboot) the bundle lacks is a
 * request for that installer (requests.c); the URL does not say the arch: recorded as amd64. */
static void record_installer_miss(struct serve_context *ctx, const char *repository, const char *tag)
{
    static const char *const prefixes[] = {"installer/", "metal-installer/", "installer-secureboot/",
                                           "metal-installer-secureboot/"};
    char version[160];
    if (!ctx->requests_dir || !serve_version_normalize(tag, version, sizeof version) || tag[0] != 'v')
        return;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(repository, prefixes[i], n) == 0 && sha256_hex_valid(repository + n)) {
            struct asset_path asset;
            char name[ASSET_PATH_MAX];
            asset_path_init(&asset, ASSET_INSTALLER, NULL, "amd64", strstr(prefixes[i], "secureboot") != NULL);
            asset_path_format(&asset, name);
            serve_requests_record(ctx, repository + n, NULL, version, name);
            return;
        }
    }
}

static void handle_manifest(struct serve_context *ctx, const char *repository, const char *reference,
                            struct serve_response *res)
{
    res->route = SERVE_ROUTE_REGISTRY_MANIFEST;
    struct error err = {0};
    char digest[72];
    if (strncmp(reference, "sha256:", 7) == 0 || strchr(reference, ':')) {
        if (digest_foreign(reference))
            return oci_error(res, 404, "MANIFEST_UNKNOWN", "manifest unknown", "digest", reference);
        if (!digest_valid(reference))
            return oci_error(res, 400, "DIGEST_INVALID", "provided digest did not match uploaded content", "digest",
                             reference);
        snprintf(digest, sizeof digest, "%s", reference);
    } else {
        /* Not a valid tag, so no manifest has it: the spec's "Pulling manifests" asks 404 for a
         * manifest not found, and the conformance suite pulls ".INVALID_MANIFEST_NAME" expecting
         * exactly that (TAG_INVALID is a legacy push error, not in the spec's error table). */
        if (!tag_valid(reference))
            return oci_error(res, 404, "MANIFEST_UNKNOWN", "manifest unknown", "tag", reference);
        int found = bundle_find_image(ctx->index, repository, reference, digest, &err);
        if (found == 0 && strcmp(reference, "latest") == 0)
            found = resolve_latest(ctx, repository, digest, &err);
        if (found < 0)
            return serve_response_internal_error(res, &err);
        if (found == 0) {
            record_installer_miss(ctx, repository, reference);
            return oci_error(res, 404, "MANIFEST_UNKNOWN", "manifest unknown", "tag", reference);
        }
    }
    struct bundle_blob blob;
    int found = bundle_find_repository_blob(ctx->index, repository, digest, &blob, &err);
    if (found < 0)
        return serve_response_internal_error(res, &err);
    if (found == 0 || blob.size > MANIFEST_MAX || !manifest_media_type(blob.media_type))
        return oci_error(res, 404, "MANIFEST_UNKNOWN", "manifest unknown", "digest", digest);
    serve_content(ctx, res, &blob, true);
}

static void handle_blob(struct serve_context *ctx, const char *repository, const char *digest, struct serve_response *res)
{
    res->route = SERVE_ROUTE_REGISTRY_BLOB;
    if (digest_foreign(digest))
        return oci_error(res, 404, "BLOB_UNKNOWN", "blob unknown to registry", "digest", digest);
    if (!digest_valid(digest))
        return oci_error(res, 400, "DIGEST_INVALID", "provided digest did not match uploaded content", "digest", digest);
    struct error err = {0};
    struct bundle_blob blob;
    int found = bundle_find_repository_blob(ctx->index, repository, digest, &blob, &err);
    if (found < 0)
        return serve_response_internal_error(res, &err);
    if (found == 0)
        return oci_error(res, 404, "BLOB_UNKNOWN", "blob unknown to registry", "digest", digest);
    serve_content(ctx, res, &blob, false);
}

struct tags_ctx {
    struct json_writer *w;
    long emitted;
    long limit; /* < 0: all */
    bool more;
    char last[160];
};

static int tag_row(void *p, int column_count, const char *const *columns)
{
    struct tags_ctx *t = p;
    if (column_count < 1)
        return 0;
    if (t->limit >= 0 && t->emitted >= t->limit) {
        t->more = true;
        return 1;
    }
    json_string(t->w, columns[0]);
    snprintf(t->last, sizeof t->last, "%s", columns[0]);
    t->emitted++;
    return 0;
}

static void handle_tags(struct serve_context *ctx, const struct serve_request *req, const char *name,
                        const char *repository, struct serve_response *res)
{
    res->route = SERVE_ROUTE_REGISTRY_TAGS;
    char n_text[32], last[160];
    long limit = -1;
    long got = http_query_get(req->http->query, "n", n_text, sizeof n_text);
    if (got == -2 || got == 0)
        return oci_error(res, 400, "PAGINATION_NUMBER_INVALID", "invalid number of results requested", "n", "");
    if (got > 0) {
        char *end = NULL;
        limit = strtol(n_text, &end, 10);
        if (*end != '\0' || limit < 0 || n_text[0] == '-' || n_text[0] == '+')
            return oci_error(res, 400, "PAGINATION_NUMBER_INVALID", "invalid number of results requested", "n", n_text);
    }
    long have_last = http_query_get(req->http->query, "last", last, sizeof last);
    if (have_last == -2)
        return oci_error(res, 400, "PAGINATION_NUMBER_INVALID", "invalid last tag", "last", "");
    struct buffer out = BUFFER_INIT;
    struct json_writer w;
    json_writer_init(&w, &out);
    w.escape_html = false;
    json_object_begin(&w);
    json_kv_string(&w, "name", name);
    json_key(&w, "tags");
    json_array_begin(&w);
    struct tags_ctx t = {&w, 0, limit, false, ""};
    struct error err = {0};
    /* tag_row stops at the row after the page, so a next page is known to exist; n=0 asks for
     * nothing (spec "Listing Tags": an empty list and no Link header) */
    if (limit != 0 &&
        bundle_foreach(ctx->index, BUNDLE_LIST_TAGS_AFTER,
                       (const char *const[]){repository, have_last >= 0 ? last : ""}, tag_row, &t, &err) < 0) {
        buffer_free(&out);
        return serve_response_internal_error(res, &err);
    }
    json_array_end(&w);
    json_object_end(&w);
    buffer_append_char(&out, '\n');
    if (t.more) {
        struct buffer enc = BUFFER_INIT;
        for (const char *p = t.last; *p; p++) /* tags are [A-Za-z0-9_.-]: nothing to escape */
            buffer_append_char(&enc, *p);
        char ns[256];
        bool has_ns = http_query_get(req->http->query, "ns", ns, sizeof ns) > 0 && repository_name_valid(ns);
        serve_response_header(res, "Link", "</v2/%s/tags/list?last=%s&n=%ld%s%s>; rel=\"next\"", name,
                              buffer_cstr(&enc), limit, has_ns ? "&ns=" : "", has_ns ? ns : "");
        buffer_free(&enc);
    }
    serve_response_body(res, 200, "application/json", out.data, out.len);
    api_version_header(res);
    buffer_free(&out);
}

struct referrers_ctx {
    struct serve_context *ctx;
    struct json_writer *w;
    const char *artifact_type_filter; /* NULL: no filter */
    int count;
};

/* The referrer manifest's JSON, or NULL when it cannot be read or parsed (it is then listed with
 * what index.db says and no annotations: a listing never fails for one bad referrer). */
static struct json_value *referrer_document(struct serve_context *ctx, const char *digest, uint64_t size)
{
    if (size > MANIFEST_MAX)
        return NULL;
    struct buffer text = BUFFER_INIT;
    struct error err = {0};
    struct json_value *doc = NULL;
    if (serve_blob_read(ctx, digest, MANIFEST_MAX, &text) != 0 ||
        json_parse(text.data ? text.data : "", text.len, digest, &doc, &err) != 0)
        doc = NULL;
    buffer_free(&text);
    return doc;
}

/* columns: digest, artifact_type, size, media_type (BUNDLE_LIST_REFERRERS) */
static int referrer_row(void *p, int column_count, const char *const *columns)
{
    struct referrers_ctx *r = p;
    if (column_count < 4)
        return 0;
    uint64_t size = strtoull(columns[2], NULL, 10);
    struct json_value *doc = referrer_document(r->ctx, columns[0], size);
    /* spec "Listing Referrers": artifactType is the manifest's, else (image manifest only) its
     * config mediaType, else omitted. index.db may leave it empty; derive it here so the answer
     * and the artifactType filter do not depend on how the bundle was built. */
    const char *artifact_type = columns[1];
    if (!artifact_type[0] && doc && strcmp(columns[3], "application/vnd.oci.image.index.v1+json") != 0) {
        const char *config_type = json_object_get_string(json_object_get_object(doc, "config"), "mediaType");
        if (config_type)
            artifact_type = config_type;
    }
    if (r->artifact_type_filter && strcmp(artifact_type, r->artifact_type_filter) != 0) {
        json_free(doc);
        return 0;
    }
    json_object_begin(r->w);
    json_kv_string(r->w, "mediaType", columns[3]);
    json_kv_string(r->w, "digest", columns[0]);
    json_kv_int(r->w, "size", (int64_t)size);
    if (artifact_type[0])
        json_kv_string(r->w, "artifactType", artifact_type);
    /* the manifest's annotations are copied into the descriptor, as the spec asks */
    const struct json_value *ann = doc ? json_object_get_object(doc, "annotations") : NULL;
    if (ann && ann->count > 0) {
        json_key(r->w, "annotations");
        json_object_begin(r->w);
        for (size_t i = 0; i < ann->count; i++)
            if (ann->items[i]->type == JSON_STRING) {
                json_key(r->w, ann->keys[i]);
                json_string_len(r->w, ann->items[i]->text, ann->items[i]->text_len);
            }
        json_object_end(r->w);
    }
    json_object_end(r->w);
    json_free(doc);
    r->count++;
    return 0;
}

static void handle_referrers(struct serve_context *ctx, const struct serve_request *req, const char *repository,
                             const char *digest, struct serve_response *res)
{
    res->route = SERVE_ROUTE_REGISTRY_REFERRERS;
    if (!digest_valid(digest) && !digest_foreign(digest))
        return oci_error(res, 400, "DIGEST_INVALID", "provided digest did not match uploaded content", "digest", digest);
    char artifact_type[512];
    long filtered = http_query_get(req->http->query, "artifactType", artifact_type, sizeof artifact_type);
    struct buffer out = BUFFER_INIT;
    struct json_writer w;
    json_writer_init(&w, &out);
    w.escape_html = false;
    json_object_begin(&w);
    json_kv_int(&w, "schemaVersion", 2);
    json_kv_string(&w, "mediaType", "application/vnd.oci.image.index.v1+json");
    json_key(&w, "manifests");
    json_array_begin(&w);
    /* filtered here, not in SQL: the effective artifactType may come from the manifest */
    struct referrers_ctx r = {ctx, &w, filtered > 0 ? artifact_type : NULL, 0};
    struct error err = {0};
    if (bundle_foreach(ctx->index, BUNDLE_LIST_REFERRERS, (const char *const[]){repository, digest}, referrer_row, &r,
                       &err) != 0) {
        buffer_free(&out);
        return serve_response_internal_error(res, &err);
    }
    json_array_end(&w);
    json_object_end(&w);
    char hex[SHA256_HEX_LEN + 1];
    sha256_hex(out.data, out.len, hex);
    serve_response_body(res, 200, "application/vnd.oci.image.index.v1+json", out.data, out.len);
    serve_response_header(res, "Docker-Content-Digest", "sha256:%s", hex);
    if (filtered > 0)
        serve_response_header(res, "OCI-Filters-Applied", "artifactType");
    api_version_header(res);
    buffer_free(&out);
}

struct suffix_ctx {
    char first[SERVE_PATH_MAX];
    int count;
};

static int suffix_row(void *p, int column_count, const char *const *columns)
{
    struct suffix_ctx *s = p;
    if (column_count >= 1 && s->count++ == 0)
        snprintf(s->first, sizeof s->first, "%s", columns[0]);
    return 0;
}

static void copy_name(char *out, size_t size, const char *name)
{
    size_t n = strlen(name);
    if (n >= size)
        n = size - 1; /* callers checked: names are shorter than SERVE_PATH_MAX */
    memcpy(out, name, n);
    out[n] = '\0';
}

/* The stored repository a request names (see the top comment): 1 found (out filled), 0 unknown,
 * -1 database error. */
static int resolve_repository(struct serve_context *ctx, const char *name, const char *ns, char *out, size_t size,
                              struct error *err)
{
    int exists;
    if (ns) {
        char full[SERVE_PATH_MAX + 256];
        snprintf(full, sizeof full, "%s/%s", ns, name);
        /* Docker Hub: containerd already sends library/busybox; a bare name is library/<name> */
        if (!strcmp(ns, "docker.io") && !strchr(name, '/'))
            snprintf(full, sizeof full, "docker.io/library/%s", name);
        if (strlen(full) < size && (exists = bundle_has_repository(ctx->index, full, err)) != 0) {
            if (exists > 0)
                copy_name(out, size, full);
            return exists;
        }
    }
    if ((exists = bundle_has_repository(ctx->index, name, err)) != 0) {
        copy_name(out, size, name);
        /* with ns: only the factory's own (host-less) repositories, whatever the node calls us */
        if (exists > 0 && ns && strchr(name, '/') && strchr(name, '.') && strchr(name, '.') < strchr(name, '/'))
            return 0;
        return exists;
    }
    if (!strncmp(name, "metal-installer/", 16)) {
        char alias[SERVE_PATH_MAX];
        snprintf(alias, sizeof alias, "installer/%s", name + 16);
        if ((exists = bundle_has_repository(ctx->index, alias, err)) != 0) {
            copy_name(out, size, alias);
            return exists;
        }
    }
    if (ns)
        return 0;
    struct suffix_ctx s = {"", 0};
    if (bundle_foreach(ctx->index, BUNDLE_LIST_REPOSITORY_SUFFIX, (const char *const[]){name}, suffix_row, &s, err) != 0)
        return -1;
    if (s.count != 1)
        return 0;
    copy_name(out, size, s.first);
    return 1;
}

void serve_registry_handle(struct serve_context *ctx, const struct serve_request *req, const char *rest,
                           struct serve_response *res)
{
    res->route = SERVE_ROUTE_REGISTRY_OTHER;
    enum http_method m = req->http->method;
    if (m != HTTP_METHOD_GET && m != HTTP_METHOD_HEAD) {
        serve_response_header(res, "Allow", "GET, HEAD");
        return oci_error(res, 405, "UNSUPPORTED", "The operation is unsupported.", "reason",
                         "this registry serves a signed, read-only bundle");
    }
    if (rest[0] == '\0' || strcmp(rest, "/") == 0) {
        res->route = SERVE_ROUTE_REGISTRY_PING;
        serve_response_body(res, 200, "application/json", "{}", 2);
        api_version_header(res);
        return;
    }
    /* rest = "/<name>/<resource>/<reference>" */
    char work[SERVE_PATH_MAX];
    snprintf(work, sizeof work, "%s", rest + 1);
    char *last = strrchr(work, '/');
    if (!last)
        goto not_found;
    *last = '\0';
    const char *reference = last + 1;
    char *resource_slash = strrchr(work, '/');
    if (!resource_slash)
        goto not_found;
    *resource_slash = '\0';
    const char *resource = resource_slash + 1;
    const char *repository = work;
    if (!reference[0] || !repository[0])
        goto not_found;
    bool tags = strcmp(resource, "tags") == 0 && strcmp(reference, "list") == 0;
    if (!tags && strcmp(resource, "manifests") != 0 && strcmp(resource, "blobs") != 0 &&
        strcmp(resource, "referrers") != 0)
        goto not_found;
    if (!repository_name_valid(repository))
        return oci_error(res, 400, "NAME_INVALID", "invalid repository name", "name", repository);
    struct error err = {0};
    char ns[256];
    long got_ns = http_query_get(req->http->query, "ns", ns, sizeof ns);
    if (got_ns > 0 && !repository_name_valid(ns))
        return oci_error(res, 404, "NAME_UNKNOWN", "repository name not known to registry", "ns", "");
    char stored[SERVE_PATH_MAX];
    int exists = resolve_repository(ctx, repository, got_ns > 0 ? ns : NULL, stored, sizeof stored, &err);
    if (exists < 0)
        return serve_response_internal_error(res, &err);
    if (exists == 0 && strcmp(resource, "manifests") == 0 && reference)
        record_installer_miss(ctx, repository, reference);
    if (exists == 0 && got_ns > 0) {
        char detail[SERVE_PATH_MAX + 256];
        snprintf(detail, sizeof detail, "%s/%s", ns, repository);
        return oci_error(res, 404, "NAME_UNKNOWN", "repository name not known to registry", "name", detail);
    }
    if (exists == 0)
        return oci_error(res, 404, "NAME_UNKNOWN", "repository name not known to registry", "name", repository);
    if (tags)
        return handle_tags(ctx, req, repository, stored, res);
    if (strcmp(resource, "manifests") == 0)
        return handle_manifest(ctx, stored, reference, res);
    if (strcmp(resource, "blobs") == 0)
        return handle_blob(ctx, stored, reference, res);
    return handle_referrers(ctx, req, stored, reference, res);

not_found:
    res->route = SERVE_ROUTE_NOT_FOUND;
    serve_response_text_error(res, 404, "404 page not found");
    api_version_header(res);
}

struct hosts_ctx {
    char **hosts;
    size_t count;
};

static int host_row(void *p, int column_count, const char *const *columns)
{
    struct hosts_ctx *h = p;
    if (column_count < 1)
        return 0;
    h->hosts = xrealloc(h->hosts, (h->count + 1) * sizeof *h->hosts);
    h->hosts[h->count++] = xstrdup(columns[0]);
    return 0;
}

void serve_registry_mirror_patch(struct serve_context *ctx, const struct serve_request *req, struct serve_response *res)
{
    struct hosts_ctx h = {NULL, 0};
    struct error err = {0};
    if (bundle_foreach(ctx->index, BUNDLE_LIST_REGISTRY_HOSTS, NULL, host_row, &h, &err) != 0) {
        for (size_t i = 0; i < h.count; i++)
            free(h.hosts[i]);
        free(h.hosts);
        return serve_response_internal_error(res, &err);
    }
    struct buffer base = BUFFER_INIT, out = BUFFER_INIT;
    serve_request_base_url(ctx, req, &base);
    talos_mirror_patch((const char *const *)h.hosts, h.count, buffer_cstr(&base), &out);
    serve_response_body(res, 200, "application/yaml", out.data, out.len);
    buffer_free(&out);
    buffer_free(&base);
    for (size_t i = 0; i < h.count; i++)
        free(h.hosts[i]);
    free(h.hosts);
}
