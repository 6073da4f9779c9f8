/* pxe — GET /pxe/{schematic}/{version}/{platform-arch[-secureboot]}: the iPXE script.
 *
 * Rendered byte-for-byte as Image Factory's standard.ipxe / secureboot.ipxe (spec §3). The kernel
 * command line is the body of the bundle's cmdline-<platform>-<arch> asset (the builder wrote it
 * exactly as Talos' imager would), and asset URLs use the address the client reached us at
 * (Host, X-Forwarded-Proto) unless --external-url overrides it, so one bundle works behind any
 * address. Scripts are small and the bundle never changes, so each worker keeps the last few
 * rendered scripts: PXE storms (hundreds of machines booting at once) cost one lookup each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airfactory/asset_path.h"
#include "core/memory.h"
#include "serve/serve_routes.h"

#define PXE_CACHE_SLOTS 64
#define PXE_CMDLINE_MAX 65536

struct pxe_cache_entry {
    char *key; /* base URL + " " + rest */
    char *body;
    size_t len;
};

static struct pxe_cache_entry pxe_cache[PXE_CACHE_SLOTS];

void serve_pxe_cache_clear(void)
{
    for (size_t i = 0; i < PXE_CACHE_SLOTS; i++) {
        free(pxe_cache[i].key);
        free(pxe_cache[i].body);
        pxe_cache[i] = (struct pxe_cache_entry){0};
    }
}

static size_t key_hash(const char *s)
{
    size_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void reply(struct serve_response *res, const char *body, size_t len)
{
    serve_response_body(res, 200, "text/plain; charset=utf-8", body, len);
}

/* Read the whole cmdline blob (small text). */
static int read_cmdline(struct serve_context *ctx, const struct bundle_blob *blob, struct buffer *out)
{
    if (blob->size > PXE_CMDLINE_MAX || serve_blob_read(ctx, blob->digest, PXE_CMDLINE_MAX, out) != 0)
        return -1;
    /* The imager writes no trailing newline; tolerate one rather than break the kernel line. */
    while (out->len > 0 && (out->data[out->len - 1] == '\n' || out->data[out->len - 1] == '\r'))
        out->data[--out->len] = '\0';
    return 0;
}

static int require_asset(struct serve_context *ctx, const char *schematic, const char *version_tag, const char *path,
                         struct bundle_blob *blob, struct serve_response *res)
{
    struct error err = {0};
    int found = serve_find_asset(ctx, schematic, version_tag, path, blob, &err);
    if (found < 0) {
        serve_response_internal_error(res, &err);
        return -1;
    }
    if (found == 0) {
        struct buffer label = BUFFER_INIT;
        serve_schematic_label(ctx, schematic, &label);
        bool recorded = serve_requests_record(ctx, schematic, NULL, version_tag, path) >= 0 && ctx->requests_dir;
        serve_response_text_error(res, 404,
                                  "asset %s of schematic %s for Talos %s is not in this bundle, so it cannot be "
                                  "PXE-booted; add the kernel, initramfs and cmdline (or the secureboot UKI) of "
                                  "this platform to the build manifest's outputs%s",
                                  path, buffer_cstr(&label), version_tag, recorded ? SERVE_REQUESTED_NOTE : "");
        buffer_free(&label);
        return -1;
    }
    return 0;
}

void serve_pxe_handle(struct serve_context *ctx, const struct serve_request *req, const char *rest,
                      struct serve_response *res)
{
    struct buffer base = BUFFER_INIT;
    serve_request_base_url(ctx, req, &base);
    buffer_append_char(&base, ' ');
    buffer_append_str(&base, rest);
    size_t slot = key_hash(buffer_cstr(&base)) % PXE_CACHE_SLOTS;
    struct pxe_cache_entry *e = &pxe_cache[slot];
    if (e->key && strcmp(e->key, buffer_cstr(&base)) == 0) {
        reply(res, e->body, e->len);
        buffer_free(&base);
        return;
    }

    char schematic[128], version[128], path[SERVE_PATH_MAX];
    if (!serve_split3(rest, schematic, sizeof schematic, version, sizeof version, path, sizeof path)) {
        res->route = SERVE_ROUTE_NOT_FOUND;
        serve_response_text_error(res, 404, "404 page not found");
        buffer_free(&base);
        return;
    }
    char version_tag[160], wanted[SERVE_PATH_MAX + 16];
    snprintf(wanted, sizeof wanted, "cmdline-%s", path); /* PXE needs it, with the kernel and initramfs */
    if (serve_schematic_version_check(ctx, schematic, version, wanted, version_tag, sizeof version_tag, res) != 0) {
        buffer_free(&base);
        return;
    }
    /* Image Factory: the path is P-A[-secureboot], parsed as the cmdline asset's name */
    struct asset_path parsed;
    struct error err = {0};
    char cmdline_path[SERVE_PATH_MAX + 16];
    snprintf(cmdline_path, sizeof cmdline_path, "cmdline-%s", path);
    if (asset_path_parse(cmdline_path, &parsed, &err) != 0) {
        serve_response_text_error(res, 400, "error parsing profile from path: %s", err.message);
        buffer_free(&base);
        return;
    }
    struct bundle_blob cmdline_blob, blob;
    struct asset_path kernel_asset, initrd_asset;
    char stored[ASSET_PATH_MAX], kernel[ASSET_PATH_MAX], initrd[ASSET_PATH_MAX];
    asset_path_format(&parsed, stored);
    if (require_asset(ctx, schematic, version_tag, stored, &cmdline_blob, res) != 0) {
        buffer_free(&base);
        return;
    }
    if (parsed.secureboot) {
        asset_path_init(&kernel_asset, ASSET_UKI, parsed.platform, parsed.arch, true);
        asset_path_format(&kernel_asset, kernel);
        if (require_asset(ctx, schematic, version_tag, kernel, &blob, res) != 0) {
            buffer_free(&base);
            return;
        }
    } else {
        asset_path_init(&kernel_asset, ASSET_KERNEL, NULL, parsed.arch, false);
        asset_path_init(&initrd_asset, ASSET_INITRAMFS, NULL, parsed.arch, false);
        asset_path_format(&kernel_asset, kernel);
        asset_path_format(&initrd_asset, initrd);
        if (require_asset(ctx, schematic, version_tag, kernel, &blob, res) != 0 ||
            require_asset(ctx, schematic, version_tag, initrd, &blob, res) != 0) {
            buffer_free(&base);
            return;
        }
    }
    struct buffer cmdline = BUFFER_INIT;
    if (read_cmdline(ctx, &cmdline_blob, &cmdline) != 0) {
        fprintf(stderr, "airfactory-serve: error: cannot read cmdline blob %s; the bundle is damaged\n",
                cmdline_blob.digest);
        serve_response_text_error(res, 500, "internal server error");
        buffer_free(&cmdline);
        buffer_free(&base);
        return;
    }
    struct buffer url = BUFFER_INIT;
    serve_request_base_url(ctx, req, &url);
    buffer_appendf(&url, "/image/%s/%s/", schematic, version_tag);
    struct buffer script = BUFFER_INIT;
    buffer_append_str(&script, "#!ipxe\n\nimgfree\n");
    buffer_appendf(&script, "kernel %s%s %s\n", buffer_cstr(&url), kernel, buffer_cstr(&cmdline));
    if (!parsed.secureboot)
        buffer_appendf(&script, "initrd %s%s\n", buffer_cstr(&url), initrd);
    buffer_append_str(&script, "boot\n");
    reply(res, script.data, script.len);

    free(e->key);
    free(e->body);
    e->key = buffer_take(&base);
    e->len = script.len;
    e->body = buffer_take(&script);
    buffer_free(&url);
    buffer_free(&cmdline);
}
