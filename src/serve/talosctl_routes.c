/* talosctl — GET /talosctl/{version} and GET|HEAD /talosctl/{version}/{name} (Image Factory's
 * talosctl.go, spec §1.7), answered from the bundle's talosctl rows (the files of the
 * siderolabs/talosctl-all image the build imported; docs/bundle-format.md).
 *
 * As Image Factory: the version must be one the bundle holds (404 `version X is not available`),
 * a malformed one is a 500, Talos before 1.11.0-alpha.3 has no talosctl downloads (the list is
 * `[]`), the list is a JSON array of absolute URLs built from the request's base URL and sorted,
 * a file comes with Content-Length, its Content-Type (".exe" -> application/x-msdos-program, Go's
 * system table) and `Content-Disposition: attachment; filename="<name>"`. Beyond it: an unknown
 * file name is a 404 naming the files the bundle has (Image Factory answers os.Stat's 500), a
 * file without an extension says application/octet-stream on GET and HEAD alike (Go sniffs the
 * body, so its HEAD answers differ from its GETs), and files get Range and ETag like assets. */
#include <string.h>

#include "airfactory/bundle.h"
#include "core/json.h"
#include "serve/serve_routes.h"
#include "talos/profile.h"

/* quirks.SupportsFactoryTalosctlDownload (the supportsFactoryTalosctlDownload quirk); a version the
 * quirks cannot read counts as the newest Talos (true), as quirks.New. */
static bool talosctl_supported(const char *version_tag)
{
    const struct profile_set *profiles = profile_set_builtin();
    struct talos_quirks q;
    struct error err = {0};
    return !profiles || profile_quirks_for(profiles, version_tag, NULL, false, &q, &err) != 0 ||
           q.supports_factory_talosctl_download;
}

struct url_list {
    struct json_writer *w;
    const char *base; /* "<scheme>://<host>/talosctl/<vX>/" */
    int count;
};

static int emit_url(void *p, int column_count, const char *const *columns)
{
    struct url_list *l = p;
    if (column_count < 1)
        return 0;
    struct buffer url = BUFFER_INIT;
    buffer_append_str(&url, l->base);
    buffer_append_str(&url, columns[0]);
    json_string(l->w, buffer_cstr(&url));
    buffer_free(&url);
    l->count++;
    return 0;
}

struct name_list {
    struct buffer *out;
    int count;
};

static int append_name(void *p, int column_count, const char *const *columns)
{
    struct name_list *l = p;
    if (column_count >= 1) {
        buffer_append_str(l->out, l->count++ ? ", " : "");
        buffer_append_str(l->out, columns[0]);
    }
    return 0;
}

/* The version checks both routes share: 0 with tag filled, or -1 with res answered. */
static int check_version(struct serve_context *ctx, const char *version, char *tag, size_t tag_cap,
                         struct serve_response *res)
{
    if (!serve_version_normalize(version, tag, tag_cap)) {
        serve_response_text_error(res, 500, "internal server error");
        return -1;
    }
    struct error err = {0};
    int found = bundle_has_version(ctx->index, tag, &err);
    if (found < 0) {
        serve_response_internal_error(res, &err);
        return -1;
    }
    if (found == 0) {
        serve_response_text_error(res, 404, "version %s is not available", tag + 1);
        return -1;
    }
    return 0;
}

static void list_files(struct serve_context *ctx, const struct serve_request *req, const char *version,
                       struct serve_response *res)
{
    char tag[300];
    if (check_version(ctx, version, tag, sizeof tag, res) != 0)
        return;
    struct buffer out = BUFFER_INIT, base = BUFFER_INIT;
    struct json_writer w;
    json_writer_init(&w, &out);
    json_array_begin(&w);
    if (talosctl_supported(tag)) {
        serve_request_base_url(ctx, req, &base);
        buffer_appendf(&base, "/talosctl/%s/", tag);
        struct url_list l = {&w, buffer_cstr(&base), 0};
        struct error err = {0};
        if (bundle_foreach(ctx->index, BUNDLE_LIST_TALOSCTL, (const char *const[]){tag}, emit_url, &l, &err) != 0) {
            buffer_free(&out);
            buffer_free(&base);
            return serve_response_internal_error(res, &err);
        }
    }
    json_array_end(&w);
    buffer_append_char(&out, '\n'); /* json.Encoder */
    serve_response_body(res, 200, "application/json", out.data, out.len);
    buffer_free(&out);
    buffer_free(&base);
}

static void send_file(struct serve_context *ctx, const char *version, const char *name, struct serve_response *res)
{
    char tag[300];
    if (check_version(ctx, version, tag, sizeof tag, res) != 0)
        return;
    if (!talosctl_supported(tag)) {
        /* Image Factory looks for siderolabs/talosctl-all:<vX>, which older releases lack */
        serve_response_text_error(res, 404, "version %s is not available", tag + 1);
        return;
    }
    struct error err = {0};
    struct bundle_blob blob;
    int found = bundle_find_talosctl(ctx->index, tag, name, &blob, &err);
    if (found < 0)
        return serve_response_internal_error(res, &err);
    if (found == 0) {
        struct buffer names = BUFFER_INIT;
        struct name_list l = {&names, 0};
        if (bundle_foreach(ctx->index, BUNDLE_LIST_TALOSCTL, (const char *const[]){tag}, append_name, &l, &err) != 0) {
            buffer_free(&names);
            return serve_response_internal_error(res, &err);
        }
        if (l.count > 0)
            serve_response_text_error(res, 404, "%s is not a talosctl file of Talos %s; this bundle has: %s", name, tag,
                                      buffer_cstr(&names));
        else
            serve_response_text_error(res, 404,
                                      "this bundle has no talosctl files for Talos %s; add a talosctl-all "
                                      "source (ghcr.io/siderolabs/talosctl-all:%s) to the build manifest",
                                      tag, tag);
        buffer_free(&names);
        return;
    }
    if (serve_response_blob(ctx, res, &blob) != 0)
        return;
    res->ranges = true;
    serve_response_header(res, "Content-Type", "%s", blob.media_type[0] ? blob.media_type : "application/octet-stream");
    res->content_type_set = true;
    /* Go: fmt.Sprintf(`attachment; filename="%s"`, name); names are talosctl-<os>-<arch>[.exe] */
    serve_response_header(res, "Content-Disposition", "attachment; filename=\"%s\"", name);
}

void serve_talosctl_handle(struct serve_context *ctx, const struct serve_request *req, const char *rest,
                           struct serve_response *res)
{
    /* httprouter: /talosctl/:version and /talosctl/:version/:path, each segment non-empty */
    const char *slash = strchr(rest, '/');
    size_t version_len = slash ? (size_t)(slash - rest) : strlen(rest);
    char version[256];
    bool file = slash != NULL;
    const char *name = file ? slash + 1 : NULL;
    if (version_len == 0 || version_len >= sizeof version || (file && (!*name || strchr(name, '/')))) {
        res->route = SERVE_ROUTE_NOT_FOUND;
        serve_response_text_error(res, 404, "404 page not found");
        return;
    }
    memcpy(version, rest, version_len);
    version[version_len] = '\0';
    enum http_method m = req->http->method;
    if (m != HTTP_METHOD_GET && m != HTTP_METHOD_HEAD) { /* HEAD wherever GET (RFC 9110 §9.3.2) */
        serve_response_header(res, "Allow", "GET, HEAD, OPTIONS");
        if (m == HTTP_METHOD_OPTIONS)
            res->status = 200;
        else
            serve_response_text_error(res, 405, "Method Not Allowed");
        return;
    }
    if (file)
        send_file(ctx, version, name, res);
    else
        list_files(ctx, req, version, res);
}
