/* routes — the router and the response helpers every handler uses (see serve_routes.h). */
#include "serve/serve_routes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/digest.h"
#include "serve/serve_metrics.h"
#include "talos/version.h"

void serve_response_init(struct serve_response *res)
{
    memset(res, 0, sizeof *res);
    res->file_fd = -1;
    res->status = 200;
}

void serve_response_free(struct serve_response *res)
{
    if (res->file_fd >= 0 && !res->file_borrowed)
        close(res->file_fd);
    res->file_fd = -1;
    buffer_free(&res->headers);
    buffer_free(&res->body);
}

void serve_response_header(struct serve_response *res, const char *name, const char *fmt, ...)
{
    buffer_append_str(&res->headers, name);
    buffer_append_str(&res->headers, ": ");
    va_list ap;
    va_start(ap, fmt);
    buffer_vappendf(&res->headers, fmt, ap);
    va_end(ap);
    buffer_append_str(&res->headers, "\r\n");
}

void serve_response_header_value(struct serve_response *res, const char *name, const char *value)
{
    buffer_append_str(&res->headers, name);
    buffer_append(&res->headers, ": ", 2);
    buffer_append_str(&res->headers, value);
    buffer_append(&res->headers, "\r\n", 2);
}

void serve_response_text_error(struct serve_response *res, int status, const char *fmt, ...)
{
    res->status = status;
    if (res->file_fd >= 0) {
        if (!res->file_borrowed)
            close(res->file_fd);
        res->file_fd = -1;
        res->file_borrowed = false;
    }
    buffer_reset(&res->body);
    va_list ap;
    va_start(ap, fmt);
    buffer_vappendf(&res->body, fmt, ap);
    va_end(ap);
    buffer_append_char(&res->body, '\n');
    serve_response_header(res, "Content-Type", "text/plain; charset=utf-8");
    serve_response_header(res, "X-Content-Type-Options", "nosniff");
    res->content_type_set = true;
}

void serve_response_body(struct serve_response *res, int status, const char *content_type, const char *data, size_t len)
{
    res->status = status;
    buffer_reset(&res->body);
    buffer_append(&res->body, data, len);
    if (content_type) {
        serve_response_header(res, "Content-Type", "%s", content_type);
        res->content_type_set = true;
    }
}

void serve_response_internal_error(struct serve_response *res, const struct error *err)
{
    fprintf(stderr, "airfactory-serve: error: %s\n", err->message);
    serve_response_text_error(res, 500, "internal server error");
}

/* Small blobs' descriptors, kept open between requests (a PXE storm asks for the same kernel
 * stand-ins, cmdlines and manifests over and over): a hit costs one fstatat of the blob's name
 * instead of openat, fstat and close. The name is resolved as a fresh open would resolve it, and
 * the hit taken only when it is still the very file kept open (device and inode), a regular file
 * of the indexed size; otherwise the descriptor is dropped and the blob opened again, so a blob
 * removed, replaced or resized in the bundle directory is noticed exactly as before. Direct-mapped
 * by digest, per worker process; cleared on a live switch (install_bundle). */
#define BLOB_CACHE_SLOTS 32
#define BLOB_CACHE_MAX_SIZE (16u << 10) /* bodies server.c sends with the head, from this fd */

static struct {
    char hex[SHA256_HEX_LEN + 1];
    int fd; /* -1 free: slots start free through serve_blob_cache_clear */
    dev_t dev;
    ino_t ino;
} blob_cache[BLOB_CACHE_SLOTS];
static bool blob_cache_ready;

void serve_blob_cache_clear(void)
{
    for (size_t i = 0; i < BLOB_CACHE_SLOTS; i++) {
        if (blob_cache_ready && blob_cache[i].fd >= 0)
            close(blob_cache[i].fd);
        blob_cache[i].fd = -1;
        blob_cache[i].hex[0] = '\0';
    }
    blob_cache_ready = true;
}

static size_t blob_cache_slot(const char *hex)
{
    size_t h = 0;
    for (int i = 0; i < 8; i++)
        h = h * 16 + (size_t)(hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);
    return h % BLOB_CACHE_SLOTS;
}

/* The cached descriptor of hex if blobs_fd/hex still names that file and it is the blob index.db
 * describes, else -1 (dropped). */
static int blob_cache_get(int blobs_fd, const char *hex, uint64_t size)
{
    if (!blob_cache_ready)
        serve_blob_cache_clear();
    size_t slot = blob_cache_slot(hex);
    if (blob_cache[slot].fd < 0 || strcmp(blob_cache[slot].hex, hex) != 0)
        return -1;
    struct stat st;
    if (fstatat(blobs_fd, hex, &st, 0) == 0 && st.st_dev == blob_cache[slot].dev && st.st_ino == blob_cache[slot].ino &&
        S_ISREG(st.st_mode) && (uint64_t)st.st_size == size)
        return blob_cache[slot].fd;
    close(blob_cache[slot].fd);
    blob_cache[slot].fd = -1;
    return -1;
}

/* Keep fd (the file st describes) for hex: the cache owns it now. */
static void blob_cache_put(const char *hex, int fd, const struct stat *st)
{
    size_t slot = blob_cache_slot(hex);
    if (blob_cache[slot].fd >= 0)
        close(blob_cache[slot].fd);
    memcpy(blob_cache[slot].hex, hex, sizeof blob_cache[slot].hex);
    blob_cache[slot].fd = fd;
    blob_cache[slot].dev = st->st_dev;
    blob_cache[slot].ino = st->st_ino;
}

int serve_response_blob(struct serve_context *ctx, struct serve_response *res, const struct bundle_blob *blob)
{
    char hex[SHA256_HEX_LEN + 1];
    if (digest_parse(blob->digest, hex, NULL) != 0) {
        fprintf(stderr, "airfactory-serve: error: index.db names a malformed digest '%s'\n", blob->digest);
        serve_response_text_error(res, 500, "internal server error");
        return -1;
    }
    bool small = blob->size <= BLOB_CACHE_MAX_SIZE;
    int fd = small ? blob_cache_get(ctx->blobs_fd, hex, blob->size) : -1;
    if (fd >= 0) {
        res->file_fd = fd;
        res->file_borrowed = true;
        res->file_size = blob->size;
        goto etag;
    }
    fd = openat(ctx->blobs_fd, hex, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != blob->size) {
        /* The index is signed, so a missing or resized blob means a damaged bundle directory, or
         * one replaced under us: the server tells which (serve_context.blob_trouble). */
        ctx->blob_trouble = true;
        snprintf(ctx->blob_trouble_detail, sizeof ctx->blob_trouble_detail, "blobs/sha256/%s: %s", hex,
                 fd < 0 ? strerror(errno) : "size differs from index.db");
        if (fd >= 0)
            close(fd);
        serve_response_text_error(res, 500, "internal server error");
        return -1;
    }
    res->file_fd = fd;
    res->file_size = blob->size;
    if (small) {
        blob_cache_put(hex, fd, &st);
        res->file_borrowed = true;
    }
etag:;
    size_t n = strnlen(blob->digest, sizeof res->etag - 3); /* "\"%s\"", truncated as snprintf would */
    res->etag[0] = '"';
    memcpy(res->etag + 1, blob->digest, n);
    res->etag[n + 1] = '"';
    res->etag[n + 2] = '\0';
    return 0;
}

int serve_find_asset(struct serve_context *ctx, const char *schematic, const char *version, const char *path,
                     struct bundle_blob *out, struct error *err)
{
    return bundle_find_asset_blob(ctx->index, schematic, version, path, out, err);
}

int serve_blob_read(struct serve_context *ctx, const char *digest, size_t max, struct buffer *out)
{
    char hex[SHA256_HEX_LEN + 1];
    if (digest_parse(digest, hex, NULL) != 0)
        return -1;
    int fd = openat(ctx->blobs_fd, hex, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        ctx->blob_trouble = true;
        snprintf(ctx->blob_trouble_detail, sizeof ctx->blob_trouble_detail, "blobs/sha256/%s: %s", hex, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size, got = 0;
    buffer_reserve(out, size + 1);
    while (got < size) {
        ssize_t n = read(fd, out->data + out->len + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got != size)
        return -1;
    out->len += got;
    out->data[out->len] = '\0';
    return 0;
}

void serve_request_base_url(const struct serve_context *ctx, const struct serve_request *req, struct buffer *out)
{
    if (ctx->external_url && ctx->external_url[0]) {
        size_t n = strlen(ctx->external_url);
        while (n > 0 && ctx->external_url[n - 1] == '/')
            n--;
        buffer_append(out, ctx->external_url, n);
        return;
    }
    const char *scheme = req->tls ? "https" : "http";
    const struct http_header *proto = http_request_header(req->http, "X-Forwarded-Proto");
    if (proto && http_string_equals_nocase(proto->value, "https"))
        scheme = "https";
    else if (proto && http_string_equals_nocase(proto->value, "http"))
        scheme = "http";
    buffer_append_str(out, scheme);
    buffer_append_str(out, "://");
    /* Host was validated as header text by the parser; refuse characters that would let a client
     * inject into the script (spaces, quotes, newlines cannot appear; keep URL-safe ones). */
    struct http_string host = req->http->host;
    bool ok = host.len > 0;
    for (size_t i = 0; i < host.len && ok; i++) {
        char c = host.data[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
             c == ':' || c == '[' || c == ']' || c == '_';
    }
    if (ok)
        buffer_append(out, host.data, host.len);
    else
        buffer_append_str(out, "localhost");
}

void serve_schematic_label(struct serve_context *ctx, const char *id, struct buffer *out)
{
    char *name = NULL;
    struct error err = {0};
    if (bundle_find_schematic_name(ctx->index, id, &name, &err) == 1 && name[0])
        buffer_appendf(out, "%s (%s)", name, id);
    else
        buffer_append_str(out, id);
    free(name);
}

bool serve_version_normalize(const char *in, char *out, size_t out_cap)
{
    /* Image Factory: blang/semver's Parse after adding the 'v' (talos/version) */
    struct talos_version v;
    const char *s = in[0] == 'v' ? in + 1 : in;
    if (talos_version_parse(s, &v) != 0 || s[0] == 'v')
        return false;
    int n = snprintf(out, out_cap, "v%s", s);
    return n > 0 && (size_t)n < out_cap;
}

/* httprouter: OPTIONS on a known path answers 200 with Allow; other methods 405. HEAD is allowed
 * wherever GET is (RFC 9110 §9.3.2; Image Factory registers GET alone on most routes and answers
 * HEAD there with 405, a divergence we take on purpose: docs/serving.md). */
static void method_not_allowed(const struct serve_request *req, struct serve_response *res, const char *allow)
{
    serve_response_header(res, "Allow", "%s", allow);
    if (req->http->method == HTTP_METHOD_OPTIONS) {
        res->status = 200;
        return;
    }
    serve_response_text_error(res, 405, "Method Not Allowed");
}

static void not_found(struct serve_response *res)
{
    res->route = SERVE_ROUTE_NOT_FOUND;
    serve_response_text_error(res, 404, "404 page not found");
}

/* CORS as rs/cors with AllowedOrigins ["*"], methods HEAD/GET/OPTIONS (spec §1.1). */
static bool cors(const struct serve_request *req, struct serve_response *res)
{
    const struct http_header *origin = http_request_header(req->http, "Origin");
    if (!origin)
        return false;
    const struct http_header *acrm = http_request_header(req->http, "Access-Control-Request-Method");
    if (req->http->method == HTTP_METHOD_OPTIONS && acrm) {
        serve_response_header(res, "Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
        if (http_string_equals(acrm->value, "GET") || http_string_equals(acrm->value, "HEAD") ||
            http_string_equals(acrm->value, "OPTIONS")) {
            serve_response_header(res, "Access-Control-Allow-Origin", "*");
            serve_response_header(res, "Access-Control-Allow-Methods", "%.*s", (int)acrm->value.len, acrm->value.data);
            const struct http_header *acrh = http_request_header(req->http, "Access-Control-Request-Headers");
            if (acrh && http_string_equals_nocase(acrh->value, "cache-control"))
                serve_response_header(res, "Access-Control-Allow-Headers", "cache-control");
        }
        res->status = 204;
        return true;
    }
    serve_response_header(res, "Vary", "Origin");
    serve_response_header(res, "Access-Control-Allow-Origin", "*");
    serve_response_header(res, "Access-Control-Expose-Headers", "Content-Disposition, Content-Length, Content-Type");
    return false;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool serve_route_decodes_schematic(const struct serve_request *req)
{
    return req->http->method == HTTP_METHOD_POST && req->body_len > 0 && strcmp(req->path, "/schematics") == 0;
}

/* /readyz: 200 while the bundle served is whole; with a refused replacement at the path still
 * 200 (the previous bundle answers) but the body says why; 503 once the served bundle's files
 * were removed under it (a refused bundle was swapped in by a writer), since downloads fail —
 * the server says why (serve_context.unavailable) until it accepts a bundle again. */
static void readiness(struct serve_context *ctx, struct serve_response *res)
{
    struct stat st;
    bool removed = ctx->bundle_fd >= 0 && fstat(ctx->bundle_fd, &st) == 0 && st.st_nlink == 0;
    if (ctx->unavailable || removed) {
        serve_response_text_error(res, 503, "not ready: %s",
                                  ctx->unavailable ? ctx->unavailable
                                                   : "the bundle served was removed from disk (see the log)");
        serve_response_header(res, "Retry-After", "30");
    } else if (ctx->refused) {
        serve_response_header(res, "Content-Type", "text/plain; charset=utf-8");
        res->content_type_set = true;
        buffer_appendf(&res->body, "ready (previous bundle); the bundle now at the path is refused: %s\n", ctx->refused);
    }
}

void serve_route(struct serve_context *ctx, const struct serve_request *req, struct serve_response *res)
{
    enum http_method m = req->http->method;
    bool get = m == HTTP_METHOD_GET || m == HTTP_METHOD_HEAD;
    const char *path = req->path;

    /* The registry has its own error format and method rules. */
    if (strcmp(path, "/v2") == 0 || starts_with(path, "/v2/")) {
        serve_registry_handle(ctx, req, path + 3, res);
        return;
    }
    if (cors(req, res))
        return;

    if (starts_with(path, "/image/")) {
        res->route = SERVE_ROUTE_IMAGE;
        if (!get)
            return method_not_allowed(req, res, "GET, HEAD, OPTIONS");
        serve_image_handle(ctx, req, path + 7, res);
        return;
    }
    if (starts_with(path, "/pxe/")) {
        res->route = SERVE_ROUTE_PXE;
        if (!get)
            return method_not_allowed(req, res, "GET, HEAD, OPTIONS");
        serve_pxe_handle(ctx, req, path + 5, res);
        return;
    }
    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0) {
        res->route = SERVE_ROUTE_HEALTH;
        if (!get)
            return method_not_allowed(req, res, "GET, HEAD, OPTIONS");
        res->status = 200;
        if (path[1] == 'r')
            readiness(ctx, res);
        return;
    }
    if (strcmp(path, "/metrics") == 0) {
        res->route = SERVE_ROUTE_METRICS;
        if (!get)
            return method_not_allowed(req, res, "GET, HEAD, OPTIONS");
        serve_metrics_render(&res->body);
        serve_response_header(res, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
        res->content_type_set = true;
        return;
    }
    if (strcmp(path, "/schematics") == 0) {
        res->route = SERVE_ROUTE_SCHEMATICS;
        if (m != HTTP_METHOD_POST)
            return method_not_allowed(req, res, "OPTIONS, POST");
        serve_api_schematics_post(ctx, req, res);
        return;
    }
    if (starts_with(path, "/schematics/") && path[12] && !strchr(path + 12, '/')) {
        res->route = SERVE_ROUTE_SCHEMATICS;
        if (!get)
            return method_not_allowed(req, res, "GET, HEAD, OPTIONS");
        serve_api_schematic_get(ctx, path + 12, res);
        return;
    }
    if (strcmp(path, "/versions") == 0) {
        res->route = SERVE_ROUTE_VERSIONS;
        if (!get)
            return method_not_allowed(req, res, "GET, HEAD, OPTIONS");
        serve_api_versions(ctx, req, res);
        return;
    }
    if (starts_with(path, "/version/")) {
        const char *v = path + 9;
        const char *slash = strchr(v, '/');
        if (slash && slash > v) {
            bool ext = strcmp(slash, "/extensions/official") == 0;
            bool ovl = strcmp(slash, "/overlays/official") == 0;
            if (ext || ovl) {
                res->route = SERVE_ROUTE_CATALOG;
                if (!get)
                    return method_not_allowed(req, res, "GET, HEAD, OPTIONS");
                char version[256];
                size_t n = (size_t)(slash - v);
                if (n >= sizeof version)
                    return not_found(res);
                memcpy(version, v, n);
                version[n] = '\0';
                serve_api_catalog(ctx, version, ovl, res);
                return;
            }
        }
        return not_found(res);
    }
    if (strcmp(path, "/v1/extensions") == 0 || strcmp(path, "/v1/overlays") == 0) {
        res->route = SERVE_ROUTE_CATALOG;
        if (!get)
            return method_not_allowed(req, res, "GET, HEAD, OPTIONS");
        serve_api_catalog_v1(ctx, req, path[4] == 'o', res);
        return;
    }
    if (strcmp(path, "/oci/cosign/signing-key.pub") == 0 || strcmp(path, "/secureboot/signing-cert.pem") == 0) {
        res->route = SERVE_ROUTE_KEYS;
        if (!get)
            return method_not_allowed(req, res, "GET, HEAD, OPTIONS");
        serve_api_public_key(ctx, path[1] == 'o' ? "cosign" : "secureboot", res);
        return;
    }
    if (starts_with(path, "/talosctl/")) {
        res->route = SERVE_ROUTE_TALOSCTL;
        serve_talosctl_handle(ctx, req, path + 10, res);
        return;
    }
    if (strcmp(path, "/registry-mirrors.yaml") == 0) {
        res->route = SERVE_ROUTE_REGISTRY_OTHER;
        if (!get)
            return method_not_allowed(req, res, "GET, HEAD, OPTIONS");
        serve_registry_mirror_patch(ctx, req, res);
        return;
    }
    if (strcmp(path, "/llms.txt") == 0) {
        res->route = SERVE_ROUTE_PAGE;
        if (!get)
            return method_not_allowed(req, res, "GET, HEAD, OPTIONS");
        serve_api_llms_txt(ctx, req, res);
        return;
    }
    if (strcmp(path, "/") == 0 || strcmp(path, "/ui/wizard") == 0 || strcmp(path, "/ui/request") == 0 ||
        starts_with(path, "/ui/schematic/")) {
        res->route = SERVE_ROUTE_PAGE;
        if (!get)
            return method_not_allowed(req, res, "GET, HEAD, OPTIONS");
        if (path[1] == '\0')
            serve_ui_home(ctx, req, res);
        else if (path[4] == 'w')
            serve_ui_wizard(ctx, req, res);
        else if (path[4] == 'r')
            serve_ui_request(ctx, req, res);
        else
            serve_ui_final(ctx, req, path + strlen("/ui/schematic/"), res);
        return;
    }
    not_found(res);
}
