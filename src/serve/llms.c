/* llms — GET /llms.txt: a plain-text description of this server's API for language models and
 * people, in the spirit of Image Factory's embedded templates/llms.txt (spec §1.8), rendered with
 * the request's base URL (Host / X-Forwarded-Proto, or --external-url) and the bundle's versions.
 * It describes airfactory-serve as it is: read-only, offline, only what the bundle holds. */
#include <string.h>

#include "serve/serve_routes.h"

/* {BASE} -> "http://host:port", {HOST} -> "host:port", {VERSIONS} -> the bundle's versions */
static const char llms_template[] =
    "# Talos Linux Image Factory (offline bundle, airfactory-serve)\n"
    "\n"
    "This server answers the Image Factory API (factory.talos.dev) from one signed, read-only bundle\n"
    "built offline by `airfactory build`. It never builds anything on request: it serves exactly the\n"
    "schematics, Talos versions, assets, installer images and talosctl binaries the bundle holds.\n"
    "Schematic IDs, asset paths and URLs are the same as on factory.talos.dev. Anything the bundle\n"
    "lacks is answered with 404 and a message naming what the bundle does have.\n"
    "\n"
    "Base URL: {BASE}\n"
    "Talos versions in this bundle: {VERSIONS}\n"
    "\n"
    "## Concepts\n"
    "\n"
    "**Schematic**: a YAML document describing customizations (extra kernel arguments, META,\n"
    "system extensions, overlay). Its ID is the SHA-256 of its canonical form; the empty schematic\n"
    "`customization: {}` has ID `376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba`.\n"
    "**Version**: a Talos release such as `v1.11.3`. **Model**: a schematic ID plus a version.\n"
    "\n"
    "## Workflow\n"
    "\n"
    "1. `POST {BASE}/schematics` with the schematic YAML or JSON: `{\"id\":\"<id>\",...}` (201) when the\n"
    "   bundle holds that schematic, else 404 saying it must be added to the build manifest.\n"
    "2. `GET {BASE}/versions` for the versions.\n"
    "3. Download `{BASE}/image/<id>/<version>/<path>`, boot `{BASE}/pxe/<id>/<version>/<platform>-<arch>`\n"
    "   or pull `{HOST}/installer/<id>:<version>`.\n"
    "\n"
    "## HTTP API (no authentication)\n"
    "\n"
    "- `POST /schematics` - schematic ID of a YAML/JSON schematic in the bundle.\n"
    "- `GET /schematics/<id>` - canonical schematic YAML (`application/yaml`), 404 if absent.\n"
    "- `GET /versions` - JSON array of versions, semver order.\n"
    "- `GET /version/<version>/extensions/official` - JSON `[{name, ref, digest, author, description}]`.\n"
    "- `GET /version/<version>/overlays/official` - JSON `[{name, image, ref, digest}]`.\n"
    "- `GET|HEAD /image/<id>/<version>/<path>` - an asset; supports `Range` (206/416), `ETag` (the\n"
    "  sha256 digest) and `If-None-Match` (304). Paths: `kernel-<arch>`,\n"
    "  `cmdline-<platform>-<arch>[-secureboot]`, `initramfs-<arch>.xz`,\n"
    "  `<platform>-<arch>[-secureboot].iso`, `<platform>-<arch>[-secureboot]-uki.efi`,\n"
    "  `installer-<arch>[-secureboot].tar`, `<platform>-<arch>[-secureboot].raw.xz` (and other disk\n"
    "  formats); `<arch>` is `amd64` or `arm64`.\n"
    "- `GET /talosctl/<version>` - JSON array of talosctl download URLs (Talos 1.11 and later).\n"
    "- `GET|HEAD /talosctl/<version>/<name>` - a talosctl binary, e.g. `talosctl-linux-amd64`,\n"
    "  `talosctl-darwin-arm64`, `talosctl-windows-amd64.exe`.\n"
    "- `GET /oci/cosign/signing-key.pub` - PEM public key the installer images are signed with.\n"
    "- `GET /secureboot/signing-cert.pem` - SecureBoot signing certificate, when the bundle has one.\n"
    "- `GET /healthz`, `GET /readyz` - 200 when serving; `GET /metrics` - Prometheus metrics.\n"
    "- `GET /` - the web wizard (HTML; `/ui/schematic/{schematic}/{version}` lists every asset); `GET /llms.txt` - this text.\n"
    "\n"
    "## PXE\n"
    "\n"
    "`GET /pxe/<id>/<version>/<platform>-<arch>[-secureboot]` returns an iPXE script whose URLs point\n"
    "back at this server. From iPXE:\n"
    "\n"
    "    chain --replace --autofree {BASE}/pxe/<id>/<version>/metal-${buildarch}\n"
    "\n"
    "## OCI registry (read-only, under /v2/)\n"
    "\n"
    "Installer images are OCI indexes (amd64 and arm64) signed with cosign (`sha256-<digest>.sig` tags):\n"
    "\n"
    "    skopeo copy --src-tls-verify=false docker://{HOST}/installer/<id>:<version> oci:installer\n"
    "    crane manifest --insecure {HOST}/installer/<id>:<version>\n"
    "\n"
    "Manifests and blobs by tag or digest (GET/HEAD, `Docker-Content-Digest`, blob `Range`),\n"
    "`/v2/<repository>/tags/list` with `n`/`last`, `/v2/<repository>/referrers/<digest>`. Repositories:\n"
    "`installer/<id>`, `installer-secureboot/<id>`, `<platform>-installer[-secureboot]/<id>` as built.\n"
    "Every write method answers 405 with an OCI `UNSUPPORTED` error.\n"
    "\n"
    "## Examples\n"
    "\n"
    "    curl -X POST --data-binary 'customization: {}' {BASE}/schematics\n"
    "    curl -LO {BASE}/image/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba/<version>/metal-amd64.iso\n"
    "    curl {BASE}/version/<version>/extensions/official\n"
    "    curl -o talosctl {BASE}/talosctl/<version>/talosctl-linux-amd64\n";

static int append_version(void *p, int column_count, const char *const *columns)
{
    struct buffer *out = p;
    if (column_count >= 1) {
        if (out->len)
            buffer_append_str(out, ", ");
        buffer_append_str(out, columns[0]);
    }
    return 0;
}

void serve_api_llms_txt(struct serve_context *ctx, const struct serve_request *req, struct serve_response *res)
{
    struct buffer base = BUFFER_INIT, versions = BUFFER_INIT, out = BUFFER_INIT;
    serve_request_base_url(ctx, req, &base);
    const char *host = strstr(buffer_cstr(&base), "://");
    host = host ? host + 3 : buffer_cstr(&base);
    struct error err = {0};
    if (bundle_foreach(ctx->index, BUNDLE_LIST_VERSIONS, NULL, append_version, &versions, &err) != 0) {
        buffer_free(&base);
        buffer_free(&versions);
        return serve_response_internal_error(res, &err);
    }
    static const struct {
        const char *name;
        size_t len;
    } fields[] = {{"{BASE}", 6}, {"{HOST}", 6}, {"{VERSIONS}", 10}};
    const char *values[] = {buffer_cstr(&base), host, versions.len ? buffer_cstr(&versions) : "none"};
    for (const char *p = llms_template; *p;) {
        size_t i = 0;
        for (; i < sizeof fields / sizeof fields[0]; i++)
            if (strncmp(p, fields[i].name, fields[i].len) == 0)
                break;
        if (i < sizeof fields / sizeof fields[0]) {
            buffer_append_str(&out, values[i]);
            p += fields[i].len;
        } else {
            buffer_append_char(&out, *p++);
        }
    }
    serve_response_body(res, 200, "text/plain; charset=utf-8", out.data, out.len);
    buffer_free(&out);
    buffer_free(&base);
    buffer_free(&versions);
}
