/* api — Image Factory's JSON/YAML API and small fixed routes, answered from index.db.
 *
 * POST /schematics never builds anything: every valid schematic gets Image Factory's 201 answer
 * (its ID); one the bundle does not hold also gets an X-Airfactory-Bundle: absent header and is
 * recorded as a request (requests.c). JSON bodies are what
 * Go's json.Encoder writes (compact, HTML-escaped, trailing newline, nil slices as null), with the
 * Content-Type Go would sniff for them (spec §1.1, §1.6). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/json.h"
#include "airfactory/schematic.h"
#include "serve/serve_routes.h"
#include "talos/profile.h"

void serve_schematic_decode(const char *body, size_t len, struct serve_schematic_result *out)
{
    memset(out, 0, sizeof *out);
    /* Image Factory's own decoding and canonical re-marshal (schematic module): any equivalent
     * YAML or JSON spelling of a schematic maps to the same ID as on factory.talos.dev. */
    struct schematic *schematic = NULL;
    if (schematic_parse(body, len, "schematic", &schematic, &out->err) != 0) {
        out->status = out->err.code == ERROR_INPUT ? 400 : 500;
        return;
    }
    if (schematic_id(schematic, out->id, &out->err) != 0)
        out->status = 500;
    schematic_free(schematic);
}

void serve_api_schematics_post(struct serve_context *ctx, const struct serve_request *req, struct serve_response *res)
{
    if (req->body_len == 0) {
        serve_response_text_error(res, 400, "EOF"); /* go-yaml's decoder on an empty body */
        return;
    }
    struct serve_schematic_result inline_result;
    const struct serve_schematic_result *decoded = req->schematic;
    if (!decoded) {
        serve_schematic_decode(req->body, req->body_len, &inline_result);
        decoded = &inline_result;
    }
    if (decoded->status == 400) {
        serve_response_text_error(res, 400, "%s", decoded->err.message);
        return;
    }
    if (decoded->status != 0)
        return serve_response_internal_error(res, &decoded->err);
    const char *id = decoded->id;
    struct error err = {0};
    struct buffer yaml = BUFFER_INIT;
    char *known = NULL;
    int found = bundle_find_schematic(ctx->index, id, &known, &err);
    if (found < 0)
        return serve_response_internal_error(res, &err);
    if (found == 1)
        buffer_append_str(&yaml, known);
    free(known);
    bool absent = found == 0;
    if (absent) {
        /* Image Factory answers 201 with the ID for any valid schematic (the ID is a pure function of
         * the content; Terraform/talhelper-style clients need it); downloads then 404. The header
         * says the bundle lacks it, and the request is recorded for the builders. */
        struct schematic *schematic = NULL;
        struct error perr = {0};
        /* the canonical YAML again, on the loop: only for small bodies (decoding is bounded but a
         * 4 MiB body is the helper thread's job); a larger one is answered without the YAML text */
        if (req->body_len <= SERVE_REQUESTS_YAML_MAX &&
            schematic_parse(req->body, req->body_len, "schematic", &schematic, &perr) == 0) {
            if (schematic_marshal(schematic, &yaml, &perr) != 0)
                buffer_reset(&yaml);
            schematic_free(schematic);
        }
        serve_requests_record(ctx, id, buffer_cstr(&yaml), NULL, NULL);
        serve_response_header(res, "X-Airfactory-Bundle", "absent; add the schematic to the build manifest%s",
                              ctx->requests_dir ? " (request recorded)" : "");
    }
    struct buffer out = BUFFER_INIT;
    struct json_writer w;
    json_writer_init(&w, &out);
    json_object_begin(&w);
    json_kv_string(&w, "id", id);
    json_kv_string(&w, "schematic", buffer_cstr(&yaml));
    json_object_end(&w);
    buffer_append_char(&out, '\n');
    serve_response_body(res, 201, "application/json", out.data, out.len);
    buffer_free(&out);
    buffer_free(&yaml);
}

void serve_api_schematic_get(struct serve_context *ctx, const char *id, struct serve_response *res)
{
    char *yaml = NULL;
    struct error err = {0};
    int found = sha256_hex_valid(id) ? bundle_find_schematic(ctx->index, id, &yaml, &err) : 0;
    if (found < 0)
        return serve_response_internal_error(res, &err);
    if (found == 0)
        serve_response_text_error(res, 404, "schematic not found");
    else
        serve_response_body(res, 200, "application/yaml", yaml, strlen(yaml));
    free(yaml);
}

struct array_ctx {
    struct json_writer *w;
    int count;
    bool overlays;
    bool objects;
};

static int emit_row(void *p, int column_count, const char *const *columns)
{
    struct array_ctx *a = p;
    if (a->count++ == 0)
        json_array_begin(a->w);
    if (!a->objects) {
        json_string(a->w, columns[0]);
        return 0;
    }
    json_object_begin(a->w);
    if (a->overlays && column_count >= 4) {
        /* pkg/client OverlayInfo: name, image, ref, digest */
        json_kv_string(a->w, "name", columns[0]);
        json_kv_string(a->w, "image", columns[1]);
        json_kv_string(a->w, "ref", columns[2]);
        json_kv_string(a->w, "digest", columns[3]);
    } else if (column_count >= 5) {
        /* pkg/client ExtensionInfo: name, ref, digest, author, description */
        json_kv_string(a->w, "name", columns[0]);
        json_kv_string(a->w, "ref", columns[1]);
        json_kv_string(a->w, "digest", columns[2]);
        json_kv_string(a->w, "author", columns[3]);
        json_kv_string(a->w, "description", columns[4]);
    }
    json_object_end(a->w);
    return 0;
}

/* Finish a JSON array that may be empty: Go encodes a nil slice as null. */
static void finish_array(struct array_ctx *a, struct buffer *out)
{
    if (a->count == 0)
        buffer_append_str(out, "null");
    else
        json_array_end(a->w);
    buffer_append_char(out, '\n');
}

void serve_api_versions(struct serve_context *ctx, const struct serve_request *req, struct serve_response *res)
{
    char broken[16];
    if (http_query_get(req->http->query, "broken", broken, sizeof broken) >= 0 && strcmp(broken, "true") == 0) {
        /* the bundle records no broken versions */
        serve_response_body(res, 200, "text/plain; charset=utf-8", "null\n", 5);
        return;
    }
    struct buffer out = BUFFER_INIT;
    struct json_writer w;
    json_writer_init(&w, &out);
    struct array_ctx a = {&w, 0, false, false};
    struct error err = {0};
    if (bundle_foreach(ctx->index, BUNDLE_LIST_VERSIONS, NULL, emit_row, &a, &err) != 0) {
        buffer_free(&out);
        return serve_response_internal_error(res, &err);
    }
    finish_array(&a, &out);
    serve_response_body(res, 200, "text/plain; charset=utf-8", out.data, out.len);
    buffer_free(&out);
}

/* quirks.SupportsOverlay (the supportsOverlay quirk): without it Image Factory answers [] without
 * a catalog. A version the quirks cannot read counts as the newest Talos (true), as quirks.New. */
static bool overlays_supported(const char *version_tag)
{
    const struct profile_set *profiles = profile_set_builtin();
    struct talos_quirks q;
    struct error err = {0};
    return !profiles || profile_quirks_for(profiles, version_tag, NULL, false, &q, &err) != 0 || q.supports_overlay;
}

static void catalog(struct serve_context *ctx, const char *version, bool overlays, bool empty_array,
                    struct serve_response *res);

void serve_api_catalog(struct serve_context *ctx, const char *version, bool overlays, struct serve_response *res)
{
    catalog(ctx, version, overlays, false, res);
}

/* GET /v1/extensions?talos_version=v… and /v1/overlays?talos_version=v…: not Image Factory routes,
 * but what operators' scripts call (docs/serving.md; operators' download runbooks pipe them to
 * `jq -r '.[].name'`), so they answer the bundle's catalog, an empty one as [] rather than null. */
void serve_api_catalog_v1(struct serve_context *ctx, const struct serve_request *req, bool overlays,
                          struct serve_response *res)
{
    char version[128];
    long n = http_query_get(req->http->query, "talos_version", version, sizeof version);
    if (n <= 0) {
        serve_response_text_error(res, 400,
                                  "missing talos_version query parameter (e.g. ?talos_version=v1.11.3); "
                                  "GET /versions lists the versions this bundle holds");
        return;
    }
    catalog(ctx, version, overlays, true, res);
}

static void catalog(struct serve_context *ctx, const char *version, bool overlays, bool empty_array,
                    struct serve_response *res)
{
    char tag[300];
    if (!serve_version_normalize(version, tag, sizeof tag)) {
        serve_response_text_error(res, 500, "internal server error");
        return;
    }
    if (overlays && !overlays_supported(tag)) {
        serve_response_body(res, 200, "text/plain; charset=utf-8", "[]\n", 3);
        return;
    }
    struct error err = {0};
    int found = bundle_has_version(ctx->index, tag, &err);
    if (found < 0)
        return serve_response_internal_error(res, &err);
    if (found == 0) {
        serve_response_text_error(res, 404, "version %s is not available", tag + 1);
        return;
    }
    struct buffer out = BUFFER_INIT;
    struct json_writer w;
    json_writer_init(&w, &out);
    struct array_ctx a = {&w, 0, overlays, true};
    int rc = bundle_foreach(ctx->index, overlays ? BUNDLE_LIST_OVERLAYS : BUNDLE_LIST_EXTENSIONS,
                            (const char *const[]){tag}, emit_row, &a, &err);
    if (rc != 0) {
        buffer_free(&out);
        return serve_response_internal_error(res, &err);
    }
    if (a.count == 0 && empty_array)
        buffer_append_str(&out, "[]\n");
    else
        finish_array(&a, &out);
    serve_response_body(res, 200, "text/plain; charset=utf-8", out.data, out.len);
    buffer_free(&out);
}

void serve_api_public_key(struct serve_context *ctx, const char *name, struct serve_response *res)
{
    char *pem = NULL;
    struct error err = {0};
    int found = bundle_find_public_key(ctx->index, name, &pem, &err);
    if (found < 0)
        return serve_response_internal_error(res, &err);
    if (found == 0) {
        if (strcmp(name, "cosign") == 0)
            serve_response_text_error(res, 404, "this bundle has no cosign signing key");
        else /* Image Factory answers 500 when SecureBoot is disabled (spec §1.8) */
            serve_response_text_error(res, 500,
                                      "secure boot is not enabled: this bundle has no SecureBoot signing "
                                      "certificate");
    } else {
        serve_response_body(res, 200, "application/x-pem-file", pem, strlen(pem));
    }
    free(pem);
}
