/* image — GET/HEAD /image/{schematic}/{version}/{path}: boot assets straight from blob files.
 *
 * The path grammar is Image Factory's ParseFromPath, owned by talos/asset_path (its error texts,
 * so a client sees the same 400s); arch aliases (x86_64, i386 -> amd64) resolve to the canonical
 * name the bundle stores. Where Image Factory would build an asset on demand, the bundle can only have it or not:
 * the 404 then says what the bundle does hold, so the operator knows what to add to the build
 * manifest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "airfactory/asset_path.h"
#include "airfactory/bundle.h"
#include "core/digest.h"
#include "serve/serve_routes.h"
#include "talos/profile.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* The platform data, loaded once (for the 404 of a name whose platform Talos does not have). */
static struct profile_set *platforms;
static void platforms_load(void)
{
    struct error err = {0};
    if (profile_set_load(&platforms, &err) != 0)
        platforms = NULL; /* the embedded data is broken: the 404 then says what it always says */
}

const char *serve_mime_type(const char *path)
{
    /* one table for the whole project: the bundle module owns it (internal/mime/mime.go) */
    return bundle_asset_media_type(path);
}

struct list_ctx {
    struct buffer *out;
    int count;
};

/* The first column of at most 200 rows, comma-separated (a 404's list of what the bundle has). */
static int append_row(void *p, int column_count, const char *const *columns)
{
    struct list_ctx *l = p;
    if (column_count < 1)
        return 0;
    if (l->count == 200)
        return 1;
    buffer_append_str(l->out, l->count ? ", " : "");
    buffer_append_str(l->out, columns[0]);
    l->count++;
    return 0;
}

/* serve_split3: split "a/b/c" into exactly three non-empty segments (httprouter :a/:b/:c). */
bool serve_split3(const char *rest, char *a, size_t acap, char *b, size_t bcap, char *c, size_t ccap)
{
    const char *s1 = strchr(rest, '/');
    if (!s1)
        return false;
    const char *s2 = strchr(s1 + 1, '/');
    if (!s2 || strchr(s2 + 1, '/'))
        return false;
    size_t la = (size_t)(s1 - rest), lb = (size_t)(s2 - s1 - 1), lc = strlen(s2 + 1);
    if (!la || !lb || !lc || la >= acap || lb >= bcap || lc >= ccap)
        return false;
    memcpy(a, rest, la);
    a[la] = '\0';
    memcpy(b, s1 + 1, lb);
    b[lb] = '\0';
    memcpy(c, s2 + 1, lc);
    c[lc] = '\0';
    return true;
}

int serve_schematic_version_check(struct serve_context *ctx, const char *schematic, const char *version,
                                  const char *asset, char *version_tag, size_t tag_cap, struct serve_response *res)
{
    struct error err = {0};
    int found = bundle_find_schematic(ctx->index, schematic, NULL, &err);
    if (found < 0) {
        serve_response_internal_error(res, &err);
        return -1;
    }
    if (found == 0) {
        bool recorded = false;
        if (sha256_hex_valid(schematic) && serve_version_normalize(version, version_tag, tag_cap))
            recorded = serve_requests_record(ctx, schematic, NULL, version_tag, asset) >= 0 && ctx->requests_dir;
        serve_response_text_error(res, 404, "schematic ID \"%s\" not found%s", schematic,
                                  recorded ? SERVE_REQUESTED_NOTE : "");
        return -1;
    }
    if (!serve_version_normalize(version, version_tag, tag_cap)) {
        /* Image Factory: an untagged semver error -> 500 (documented current behaviour). */
        serve_response_text_error(res, 500, "internal server error");
        return -1;
    }
    return 0;
}

void serve_image_handle(struct serve_context *ctx, const struct serve_request *req, const char *rest,
                        struct serve_response *res)
{
    char schematic[128], version[128], path[SERVE_PATH_MAX];
    if (!serve_split3(rest, schematic, sizeof schematic, version, sizeof version, path, sizeof path)) {
        res->route = SERVE_ROUTE_NOT_FOUND;
        serve_response_text_error(res, 404, "404 page not found");
        return;
    }
    if (ends_with(path, ".sigstore.json")) {
        serve_response_text_error(res, 402, "enterprise signing is not enabled: signature endpoint is not available");
        return;
    }
    if (ends_with(path, ".sha256") || ends_with(path, ".sha512")) {
        serve_response_text_error(res, 402, "enterprise not enabled: checksum endpoint is not available");
        return;
    }
    char version_tag[160];
    struct asset_path parsed;
    struct error err = {0};
    char stored[ASSET_PATH_MAX];
    struct bundle_blob blob;
    int found = 0;
    /* The hit: one index lookup. A bundle lists the schematic of every asset it holds (the
     * factory adds each manifest schematic's row), so a found asset answers exactly as the checks
     * below would; a miss, a bad version or path goes through them in Image Factory's order
     * (schematic 404, version 500, path 400, then the asset 404s). */
    if (serve_version_normalize(version, version_tag, sizeof version_tag) && asset_path_parse(path, &parsed, &err) == 0) {
        asset_path_format(&parsed, stored);
        found = serve_find_asset(ctx, schematic, version_tag, stored, &blob, &err);
        if (found < 0)
            return serve_response_internal_error(res, &err);
    }
    if (found == 0) {
        if (serve_schematic_version_check(ctx, schematic, version, path, version_tag, sizeof version_tag, res) != 0)
            return;
        error_clear(&err);
        if (asset_path_parse(path, &parsed, &err) != 0) {
            serve_response_text_error(res, 400, "error parsing profile from path: %s", err.message);
            return;
        }
        /* both passed, so the lookup above ran (and found nothing) */
    }
    static pthread_once_t platforms_once = PTHREAD_ONCE_INIT;
    if (found == 0 && pthread_once(&platforms_once, platforms_load) == 0 && platforms &&
        !profile_platform_find(platforms, parsed.platform)) {
        /* the manifest refuses such a name: no advice to add it */
        serve_response_text_error(res, 404,
                                  "asset %s names platform '%s', which Talos does not have; expected one "
                                  "of %s",
                                  stored, parsed.platform, profile_platform_names(platforms));
        return;
    }
    if (found == 0) {
        struct buffer list = BUFFER_INIT, label = BUFFER_INIT;
        struct list_ctx l = {&list, 0};
        serve_schematic_label(ctx, schematic, &label);
        if (bundle_foreach(ctx->index, BUNDLE_LIST_MODEL_ASSETS, (const char *const[]){schematic, version_tag},
                           append_row, &l, &err) < 0) {
            buffer_free(&list);
            buffer_free(&label);
            return serve_response_internal_error(res, &err);
        }
        bool recorded = serve_requests_record(ctx, schematic, NULL, version_tag, stored) >= 0 && ctx->requests_dir;
        if (l.count > 0) {
            serve_response_text_error(res, 404,
                                      "asset %s of schematic %s for Talos %s is not in this bundle; add it to the "
                                      "build manifest's outputs%s. This bundle has: %s",
                                      stored, buffer_cstr(&label), version_tag, recorded ? SERVE_REQUESTED_NOTE : "",
                                      buffer_cstr(&list));
        } else {
            buffer_reset(&list);
            l.count = 0;
            if (bundle_foreach(ctx->index, BUNDLE_LIST_SCHEMATIC_VERSIONS, (const char *const[]){schematic}, append_row,
                               &l, &err) < 0) {
                buffer_free(&list);
                return serve_response_internal_error(res, &err);
            }
            serve_response_text_error(res, 404,
                                      "version %s is not available: this bundle has no assets of schematic %s for "
                                      "Talos %s; it has versions: %s%s",
                                      version_tag + 1, buffer_cstr(&label), version_tag,
                                      l.count ? buffer_cstr(&list) : "none", recorded ? SERVE_REQUESTED_NOTE : "");
        }
        buffer_free(&list);
        buffer_free(&label);
        return;
    }
    if (serve_response_blob(ctx, res, &blob) != 0)
        return;
    res->ranges = true;
    char filename[1024];
    long n = http_query_get(req->http->query, "filename", filename, sizeof filename);
    const char *name = path;
    if (n > 0) {
        bool ok = true;
        for (long i = 0; i < n; i++)
            if ((unsigned char)filename[i] < 0x20 || filename[i] == 0x7f)
                ok = false;
        if (ok)
            name = filename;
    }
    serve_response_header_value(res, "Content-Type", serve_mime_type(path));
    res->content_type_set = true;
    /* Go's %q: backslash-escape quotes and backslashes (written straight into the head). */
    struct buffer *h = &res->headers;
    buffer_append_str(h, "Content-Disposition: attachment; filename=\"");
    for (const char *p = name, *run = name;; p++) {
        if (*p == '"' || *p == '\\' || !*p) {
            buffer_append(h, run, (size_t)(p - run));
            if (!*p)
                break;
            buffer_append_char(h, '\\');
            run = p; /* the quote or backslash itself starts the next run */
        }
    }
    buffer_append_str(h, "\"\r\n");
}
