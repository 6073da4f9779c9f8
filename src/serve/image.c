/* image — GET/HEAD /image/{schematic}/{version}/{path}: boot assets straight from blob files.
 *
 * The path grammar is Image Factory's ParseFromPath (spec §2.1), including its error texts, so a
 * client sees the same 400s; arch aliases (x86_64, i386 -> amd64) resolve to the name the bundle
 * stores. Where Image Factory would build an asset on demand, the bundle can only have it or not:
 * the 404 then says what the bundle does hold, so the operator knows what to add to the build
 * manifest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airfactory/bundle.h"
#include "serve/serve_routes.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Accepts amd64, arm64, x86_64, i386 (the last two for iPXE's ${buildarch}). */
static int arch_parse(const char *text, struct serve_asset_path *out, char *msg, size_t msg_cap)
{
    if (strcmp(text, "amd64") == 0 || strcmp(text, "x86_64") == 0 || strcmp(text, "i386") == 0) {
        snprintf(out->arch, sizeof out->arch, "amd64");
        return 0;
    }
    if (strcmp(text, "arm64") == 0) {
        snprintf(out->arch, sizeof out->arch, "arm64");
        return 0;
    }
    snprintf(msg, msg_cap, "invalid architecture: \"%s\"", text);
    return -1;
}

int serve_platform_arch_parse(const char *text, struct serve_asset_path *out, char *msg, size_t msg_cap)
{
    char buf[SERVE_PATH_MAX];
    int n = snprintf(buf, sizeof buf, "%s", text);
    if (n < 0 || (size_t)n >= sizeof buf) {
        snprintf(msg, msg_cap, "invalid platform-arch: path too long");
        return -1;
    }
    out->secureboot = false;
    if (ends_with(buf, "-secureboot")) {
        buf[strlen(buf) - strlen("-secureboot")] = '\0';
        out->secureboot = true;
    }
    char *dash = strchr(buf, '-');
    if (!dash) {
        snprintf(msg, msg_cap, "invalid platform-arch: \"%s\"", text);
        return -1;
    }
    *dash = '\0';
    const char *rest = dash + 1;
    if (strcmp(buf, "digital") == 0 && starts_with(rest, "ocean-")) {
        snprintf(out->platform, sizeof out->platform, "digital-ocean");
        rest += strlen("ocean-");
    } else {
        if (strlen(buf) >= sizeof out->platform) {
            snprintf(msg, msg_cap, "invalid platform-arch: \"%s\"", text);
            return -1;
        }
        memcpy(out->platform, buf, strlen(buf) + 1);
    }
    return arch_parse(rest, out, msg, msg_cap);
}

/* "P-A[-secureboot]" with the canonical arch. */
static void platform_arch_text(const struct serve_asset_path *p, char *out, size_t cap)
{
    snprintf(out, cap, "%s-%s%s", p->platform, p->arch, p->secureboot ? "-secureboot" : "");
}

int serve_asset_path_parse(const char *path, struct serve_asset_path *out, char *msg, size_t msg_cap)
{
    memset(out, 0, sizeof *out);
    size_t len = strlen(path);
    char mid[SERVE_PATH_MAX], pa[128];
    if (len >= SERVE_PATH_MAX - 64) {
        snprintf(msg, msg_cap, "invalid profile path: path too long");
        return -1;
    }
    if (starts_with(path, "kernel-")) {
        snprintf(out->kind, sizeof out->kind, "kernel");
        snprintf(out->platform, sizeof out->platform, "metal");
        if (arch_parse(path + 7, out, msg, msg_cap) != 0)
            return -1;
        snprintf(out->stored, sizeof out->stored, "kernel-%s", out->arch);
        return 0;
    }
    if (starts_with(path, "cmdline-")) {
        snprintf(out->kind, sizeof out->kind, "cmdline");
        if (serve_platform_arch_parse(path + 8, out, msg, msg_cap) != 0)
            return -1;
        platform_arch_text(out, pa, sizeof pa);
        snprintf(out->stored, sizeof out->stored, "cmdline-%s", pa);
        return 0;
    }
    if (starts_with(path, "initramfs-") && ends_with(path, ".xz")) {
        snprintf(out->kind, sizeof out->kind, "initramfs");
        snprintf(out->platform, sizeof out->platform, "metal");
        size_t n = len - strlen("initramfs-") - strlen(".xz");
        if (len < strlen("initramfs-") + strlen(".xz"))
            n = 0;
        memcpy(mid, path + 10, n);
        mid[n] = '\0';
        if (arch_parse(mid, out, msg, msg_cap) != 0)
            return -1;
        snprintf(out->stored, sizeof out->stored, "initramfs-%s.xz", out->arch);
        return 0;
    }
    if (ends_with(path, ".iso")) {
        snprintf(out->kind, sizeof out->kind, "iso");
        memcpy(mid, path, len - 4);
        mid[len - 4] = '\0';
        if (serve_platform_arch_parse(mid, out, msg, msg_cap) != 0)
            return -1;
        platform_arch_text(out, pa, sizeof pa);
        snprintf(out->stored, sizeof out->stored, "%s.iso", pa);
        return 0;
    }
    if (ends_with(path, "-uki.efi")) {
        snprintf(out->kind, sizeof out->kind, "uki");
        memcpy(mid, path, len - 8);
        mid[len - 8] = '\0';
        if (serve_platform_arch_parse(mid, out, msg, msg_cap) != 0)
            return -1;
        platform_arch_text(out, pa, sizeof pa);
        snprintf(out->stored, sizeof out->stored, "%s-uki.efi", pa);
        return 0;
    }
    const char *installer = strstr(path, "-installer-");
    if ((starts_with(path, "installer-") || installer) && ends_with(path, ".tar")) {
        snprintf(out->kind, sizeof out->kind, "installer");
        const char *rest;
        bool prefixed = !starts_with(path, "installer-");
        if (prefixed) {
            size_t plen = (size_t)(installer - path);
            if (plen >= sizeof out->platform) {
                snprintf(msg, msg_cap, "invalid profile path: \"%s\"", path);
                return -1;
            }
            memcpy(out->platform, path, plen);
            out->platform[plen] = '\0';
            rest = installer + strlen("-installer-");
        } else {
            snprintf(out->platform, sizeof out->platform, "metal");
            rest = path + strlen("installer-");
        }
        size_t n = strlen(rest) >= 4 ? strlen(rest) - 4 : 0;
        memcpy(mid, rest, n);
        mid[n] = '\0';
        if (ends_with(mid, "-secureboot")) {
            mid[n - strlen("-secureboot")] = '\0';
            out->secureboot = true;
        }
        if (arch_parse(mid, out, msg, msg_cap) != 0)
            return -1;
        const char *sb = out->secureboot ? "-secureboot" : "";
        if (prefixed)
            snprintf(out->stored, sizeof out->stored, "%s-installer-%s%s.tar", out->platform, out->arch, sb);
        else
            snprintf(out->stored, sizeof out->stored, "installer-%s%s.tar", out->arch, sb);
        return 0;
    }
    /* Disk image: output suffix first, then the disk format. */
    snprintf(out->kind, sizeof out->kind, "image");
    static const char *const out_suffixes[] = {".tar.gz", ".gz", ".xz", ".zst"};
    static const char *const formats[] = {".raw", ".qcow2", ".vhd", ".ova"};
    snprintf(mid, sizeof mid, "%s", path);
    const char *out_suffix = "";
    for (size_t i = 0; i < 4; i++) {
        if (ends_with(mid, out_suffixes[i])) {
            out_suffix = out_suffixes[i];
            mid[strlen(mid) - strlen(out_suffix)] = '\0';
            break;
        }
    }
    const char *format = NULL;
    for (size_t i = 0; i < 4; i++) {
        if (ends_with(mid, formats[i])) {
            format = formats[i];
            mid[strlen(mid) - strlen(format)] = '\0';
            break;
        }
    }
    if (!format) {
        snprintf(msg, msg_cap, "invalid profile path: \"%s\"", mid);
        return -1;
    }
    if (serve_platform_arch_parse(mid, out, msg, msg_cap) != 0)
        return -1;
    platform_arch_text(out, pa, sizeof pa);
    snprintf(out->stored, sizeof out->stored, "%s%s%s", pa, format, out_suffix);
    return 0;
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

static int append_row(void *p, const char *const *columns, int column_count)
{
    struct list_ctx *l = p;
    if (column_count < 1)
        return 0;
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
                                  char *version_tag, size_t tag_cap, struct serve_response *res)
{
    struct error err = {0};
    int found = serve_index_schematic(ctx->index, schematic, NULL, &err);
    if (found < 0) {
        serve_response_internal_error(res, &err);
        return -1;
    }
    if (found == 0) {
        serve_response_text_error(res, 404, "schematic ID \"%s\" not found", schematic);
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
    if (serve_schematic_version_check(ctx, schematic, version, version_tag, sizeof version_tag, res) != 0)
        return;
    struct serve_asset_path parsed;
    char msg[SERVE_PATH_MAX + 128];
    if (serve_asset_path_parse(path, &parsed, msg, sizeof msg) != 0) {
        serve_response_text_error(res, 400, "error parsing profile from path: %s", msg);
        return;
    }
    struct error err = {0};
    struct serve_blob blob;
    int found = serve_index_asset(ctx->index, schematic, version_tag, parsed.stored, &blob, &err);
    if (found < 0)
        return serve_response_internal_error(res, &err);
    if (found == 0) {
        struct buffer list = BUFFER_INIT, label = BUFFER_INIT;
        struct list_ctx l = {&list, 0};
        serve_schematic_label(ctx, schematic, &label);
        if (serve_index_asset_paths(ctx->index, schematic, version_tag, 200, append_row, &l, &err) != 0) {
            buffer_free(&list);
            buffer_free(&label);
            return serve_response_internal_error(res, &err);
        }
        if (l.count > 0) {
            serve_response_text_error(res, 404,
                                      "asset %s of schematic %s for Talos %s is not in this bundle; add it to the "
                                      "build manifest's outputs. This bundle has: %s",
                                      parsed.stored, buffer_cstr(&label), version_tag, buffer_cstr(&list));
        } else {
            buffer_reset(&list);
            l.count = 0;
            if (serve_index_schematic_versions(ctx->index, schematic, append_row, &l, &err) != 0) {
                buffer_free(&list);
                return serve_response_internal_error(res, &err);
            }
            serve_response_text_error(res, 404,
                                      "version %s is not available: this bundle has no assets of schematic %s for "
                                      "Talos %s; it has versions: %s",
                                      version_tag + 1, buffer_cstr(&label), version_tag,
                                      l.count ? buffer_cstr(&list) : "none");
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
    serve_response_header(res, "Content-Type", "%s", serve_mime_type(path));
    res->content_type_set = true;
    /* Go's %q: backslash-escape quotes and backslashes. */
    struct buffer cd = BUFFER_INIT;
    buffer_append_str(&cd, "attachment; filename=\"");
    for (const char *p = name; *p; p++) {
        if (*p == '"' || *p == '\\')
            buffer_append_char(&cd, '\\');
        buffer_append_char(&cd, *p);
    }
    buffer_append_char(&cd, '"');
    serve_response_header(res, "Content-Disposition", "%s", buffer_cstr(&cd));
    buffer_free(&cd);
}
