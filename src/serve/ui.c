/* ui — Image Factory's web wizard over what the bundle holds, server-rendered, one GET URL per step.
 *
 * Steps and words follow image-factory internal/frontend/http (Hardware Type -> Choose Talos Linux
 * Version -> Cloud (platform) -> Machine Architecture -> System Extensions -> Customization ->
 * Schematic Ready). Image Factory composes a schematic; a bundle holds a fixed set of them, so
 * every step offers only values some asset of the bundle has ("models": schematic x version x
 * platform x arch x secureboot, read from the assets table and parsed with asset_path), and the
 * extensions/customization steps choose among the bundle's schematics. State travels in the query
 * (target, version, platform, arch, secureboot, schematic); a value no model has answers 404.
 * The final page, /ui/schematic/<id>/<version>, lists every asset with size and digest, PXE script
 * URLs, installer references, the YAML and the talosctl commands. All text goes through
 * serve_html_escape (ui_html.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airfactory/asset_path.h"
#include "airfactory/schematic.h"
#include "core/byte_size.h"
#include "core/digest.h"
#include "core/memory.h"
#include "serve/serve_routes.h"

#define UI_MODELS_MAX 100000 /* bounded work per page on a huge bundle */

struct ui_model {
    char id[SCHEMATIC_ID_HEX_LEN + 1];
    char name[160];
    char version[64];
    char platform[64];
    char arch[8];
    bool secureboot;
};

struct ui_models {
    struct ui_model *v;
    size_t n, cap;
};

static int collect_model(void *p, int count, const char *const *c)
{
    struct ui_models *m = p;
    if (count < 4 || strlen(c[0]) > SCHEMATIC_ID_HEX_LEN || m->n >= UI_MODELS_MAX)
        return 0;
    struct asset_path ap;
    struct error err = {0};
    if (asset_path_parse(c[3], &ap, &err) != 0)
        return 0;
    struct ui_model x = {0};
    snprintf(x.id, sizeof x.id, "%s", c[0]);
    snprintf(x.name, sizeof x.name, "%s", c[1]);
    snprintf(x.version, sizeof x.version, "%s", c[2]);
    snprintf(x.platform, sizeof x.platform, "%s", ap.platform);
    snprintf(x.arch, sizeof x.arch, "%s", ap.arch);
    x.secureboot = ap.secureboot;
    /* rows come grouped by schematic and version: look back only within the group */
    for (size_t i = m->n; i-- > 0;) {
        struct ui_model *y = &m->v[i];
        if (strcmp(y->id, x.id) != 0 || strcmp(y->version, x.version) != 0)
            break;
        if (!strcmp(y->platform, x.platform) && !strcmp(y->arch, x.arch) && y->secureboot == x.secureboot)
            return 0;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->v = xrealloc(m->v, m->cap * sizeof *m->v);
    }
    m->v[m->n++] = x;
    return 0;
}

static const char *target_of(const struct ui_model *m)
{
    return strcmp(m->platform, "metal") == 0 ? "metal" : "cloud";
}

/* The wizard's state from the query. */
struct ui_state {
    char target[16], version[64], platform[64], arch[16], secureboot[8], schematic[80];
};

static void query(const struct serve_request *req, const char *name, char *dst, size_t cap)
{
    if (http_query_get(req->http->query, name, dst, cap) < 0)
        dst[0] = '\0';
}

static bool matches(const struct ui_model *m, const struct ui_state *s, int upto)
{
    /* upto: how many of target, version, platform, arch, secureboot, schematic to check */
    if (upto > 0 && s->target[0] && strcmp(target_of(m), s->target) != 0)
        return false;
    if (upto > 1 && s->version[0] && strcmp(m->version, s->version) != 0)
        return false;
    if (upto > 2 && s->platform[0] && strcmp(m->platform, s->platform) != 0)
        return false;
    if (upto > 3 && s->arch[0] && strcmp(m->arch, s->arch) != 0)
        return false;
    if (upto > 4 && m->secureboot != (strcmp(s->secureboot, "true") == 0))
        return false;
    if (upto > 5 && s->schematic[0] && strcmp(m->id, s->schematic) != 0)
        return false;
    return true;
}

static void hidden(struct buffer *out, const char *name, const char *value)
{
    if (!value[0])
        return;
    buffer_appendf(out, "<input type=\"hidden\" name=\"%s\" value=\"", name);
    serve_html_escape(out, value);
    buffer_append_str(out, "\">\n");
}

static void radio(struct buffer *out, const char *name, const char *value, const char *label, const char *description,
                  bool checked)
{
    buffer_appendf(out, "<label><input type=\"radio\" name=\"%s\" value=\"", name);
    serve_html_escape(out, value);
    buffer_appendf(out, "\"%s required> ", checked ? " checked" : "");
    serve_html_escape(out, label);
    if (description && description[0]) {
        buffer_append_str(out, "<small>");
        serve_html_escape(out, description);
        buffer_append_str(out, "</small>");
    }
    buffer_append_str(out, "</label>\n");
}

static bool seen(char (*values)[160], size_t n, const char *v)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(values[i], v) == 0)
            return true;
    return false;
}

struct version_pick {
    char (*values)[160];
    size_t n;
    struct buffer *out;
    bool only;
};

static int pick_version(void *p, int count, const char *const *c)
{
    struct version_pick *v = p;
    if (count >= 1 && seen(v->values, v->n, c[0]))
        radio(v->out, "version", c[0], c[0], NULL, v->only);
    return 0;
}

static void page_done(struct serve_response *res, int status, struct buffer *out)
{
    serve_html_end(out);
    serve_response_body(res, status, "text/html; charset=utf-8", out->data, out->len);
}

static void request_form(struct serve_context *ctx, struct buffer *out, const char *id, const char *version);

/* The 404 page; with form_id and form_version, the form that requests one of their outputs. */
static void not_in_bundle_form(struct serve_context *ctx, struct serve_response *res, struct buffer *out,
                               const char *what, const char *form_id, const char *form_version)
{
    buffer_reset(out);
    serve_html_begin(out, "Not in this bundle");
    buffer_append_str(out, "<p class=\"note\">");
    serve_html_escape(out, what);
    buffer_append_str(out, " is not in this bundle. This offline Image Factory serves only what was built into "
                           "its bundle: ask the people who build it to add the schematic, version or output to "
                           "the build manifest; the next bundle will hold it.</p>\n");
    if (ctx->requests_dir)
        buffer_append_str(out, "<p>This server records such requests for the connected side: its operator hands "
                               "the requests file to the bundle's builders, whose <code>airfactory requests "
                               "merge</code> turns it into manifest additions for the next nightly bundle.</p>\n");
    if (form_id)
        request_form(ctx, out, form_id, form_version);
    buffer_append_str(out, "<p><a href=\"/\">Start over</a></p>\n");
    page_done(res, 404, out);
}

static void not_in_bundle(struct serve_context *ctx, struct serve_response *res, struct buffer *out, const char *what)
{
    not_in_bundle_form(ctx, res, out, what, NULL, NULL);
}

static void schematic_summary(struct buffer *out, const char *yaml)
{
    struct schematic *s = NULL;
    struct error err = {0};
    if (schematic_parse(yaml, strlen(yaml), "schematic", &s, &err) != 0) {
        buffer_append_str(out, "(unreadable schematic)");
        return;
    }
    if (s->extension_count == 0)
        buffer_append_str(out, "no system extensions");
    for (size_t i = 0; i < s->extension_count; i++) {
        buffer_append_str(out, i ? ", " : "");
        serve_html_escape(out, s->extensions[i]);
    }
    if (s->extra_kernel_arg_count)
        buffer_appendf(out, "; %zu extra kernel argument%s", s->extra_kernel_arg_count,
                       s->extra_kernel_arg_count > 1 ? "s" : "");
    if (s->meta_count)
        buffer_appendf(out, "; %zu META value%s", s->meta_count, s->meta_count > 1 ? "s" : "");
    if (s->overlay_name && s->overlay_name[0]) {
        buffer_append_str(out, "; overlay ");
        serve_html_escape(out, s->overlay_name);
    }
    schematic_free(s);
}

static void schematic_label_html(struct buffer *out, const struct ui_model *m)
{
    if (m->name[0]) {
        buffer_append_str(out, "<strong>");
        serve_html_escape(out, m->name);
        buffer_append_str(out, "</strong> ");
    }
    buffer_append_str(out, "<code>");
    serve_html_escape(out, m->id);
    buffer_append_str(out, "</code>");
}

static void final_link(struct buffer *out, const char *id, const char *version, const struct ui_state *s)
{
    buffer_append_str(out, "/ui/schematic/");
    serve_url_escape(out, id);
    buffer_append_char(out, '/');
    serve_url_escape(out, version);
    if (s && s->platform[0] && s->arch[0]) {
        buffer_append_str(out, "?platform=");
        serve_url_escape(out, s->platform);
        buffer_append_str(out, "&amp;arch=");
        serve_url_escape(out, s->arch);
        if (strcmp(s->secureboot, "true") == 0)
            buffer_append_str(out, "&amp;secureboot=true");
    }
}

/* The hardware step (also on /). */
static void step_hardware(struct buffer *out, const struct ui_models *m, const struct ui_state *s)
{
    bool metal = false, cloud = false;
    for (size_t i = 0; i < m->n; i++) {
        metal |= strcmp(target_of(&m->v[i]), "metal") == 0;
        cloud |= strcmp(target_of(&m->v[i]), "cloud") == 0;
    }
    buffer_append_str(out, "<form method=\"get\" action=\"/ui/wizard\">\n<fieldset><legend>Hardware Type</legend>\n");
    if (metal)
        radio(out, "target", "metal", "Bare-metal Machine",
              "Suitable for x86-64 and arm64 bare-metal machines, as well as generic virtual machines. If unsure, "
              "choose this option.",
              strcmp(s->target, "metal") == 0 || !cloud);
    if (cloud)
        radio(out, "target", "cloud", "Cloud Server",
              "Compatible with AWS, GCP, Azure, VMWare, Equinix Metal, and other platforms, including homelab "
              "environments like Proxmox.",
              strcmp(s->target, "cloud") == 0 || !metal);
    if (!metal && !cloud)
        buffer_append_str(out, "<p>This bundle holds no boot assets.</p>\n");
    buffer_append_str(out, "</fieldset>\n<button type=\"submit\">Next</button>\n</form>\n");
}

static void list_models(struct buffer *out, const struct ui_models *m)
{
    buffer_append_str(out, "<h2>Schematics in this bundle</h2>\n<div class=\"table\"><table>\n<thead><tr><th "
                           "scope=\"col\">Schematic</th><th scope=\"col\">Talos version</th></tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < m->n; i++) {
        if (i > 0 && !strcmp(m->v[i - 1].id, m->v[i].id) && !strcmp(m->v[i - 1].version, m->v[i].version))
            continue;
        buffer_append_str(out, "<tr><td>");
        schematic_label_html(out, &m->v[i]);
        buffer_append_str(out, "</td><td><a href=\"");
        final_link(out, m->v[i].id, m->v[i].version, NULL);
        buffer_append_str(out, "\">");
        serve_html_escape(out, m->v[i].version);
        buffer_append_str(out, "</a></td></tr>\n");
    }
    buffer_append_str(out, "</tbody></table></div>\n");
}

static int load_models(struct serve_context *ctx, struct ui_models *m, struct serve_response *res)
{
    struct error err = {0};
    if (bundle_foreach(ctx->index, BUNDLE_LIST_MODELS, NULL, collect_model, m, &err) != 0) {
        serve_response_internal_error(res, &err);
        return -1;
    }
    return 0;
}

void serve_ui_home(struct serve_context *ctx, const struct serve_request *req, struct serve_response *res)
{
    (void)req;
    struct ui_models m = {0};
    if (load_models(ctx, &m, res) != 0)
        return;
    struct ui_state s = {0};
    struct buffer out = BUFFER_INIT;
    serve_html_begin(&out, "Talos Linux Image Factory");
    buffer_append_str(&out, "<p>An offline, read-only Image Factory: it offers exactly the schematics, Talos "
                            "versions and boot assets its signed bundle was built with. Start the wizard, or "
                            "pick a schematic below.</p>\n");
    step_hardware(&out, &m, &s);
    list_models(&out, &m);
    page_done(res, 200, &out);
    buffer_free(&out);
    free(m.v);
}

static void breadcrumb(struct buffer *out, const struct ui_state *s)
{
    buffer_append_str(out, "<nav aria-label=\"Your choices\"><ol>\n");
    const char *names[] = {"Hardware Type", "Talos version", "Platform", "Machine Architecture", "SecureBoot"};
    const char *values[] = {s->target, s->version, s->platform, s->arch, s->secureboot};
    for (int i = 0; i < 5; i++) {
        if (!values[i][0] || (i == 2 && strcmp(s->target, "metal") == 0))
            continue;
        buffer_appendf(out, "<li>%s: <code>", names[i]);
        serve_html_escape(out, values[i]);
        buffer_append_str(out, "</code></li>\n");
    }
    buffer_append_str(out, "</ol></nav>\n");
}

static void form_begin(struct buffer *out, const struct ui_state *s, const char *legend)
{
    buffer_append_str(out, "<form method=\"get\" action=\"/ui/wizard\">\n");
    hidden(out, "target", s->target);
    hidden(out, "version", s->version);
    hidden(out, "platform", s->platform);
    hidden(out, "arch", s->arch);
    hidden(out, "secureboot", s->secureboot);
    buffer_appendf(out, "<fieldset><legend>%s</legend>\n", legend);
}

static void form_end(struct buffer *out)
{
    buffer_append_str(out, "</fieldset>\n<button type=\"submit\">Next</button>\n</form>\n"
                           "<p><a href=\"/\">Start over</a></p>\n");
}

void serve_ui_wizard(struct serve_context *ctx, const struct serve_request *req, struct serve_response *res)
{
    struct ui_state s;
    query(req, "target", s.target, sizeof s.target);
    query(req, "version", s.version, sizeof s.version);
    query(req, "platform", s.platform, sizeof s.platform);
    query(req, "arch", s.arch, sizeof s.arch);
    query(req, "secureboot", s.secureboot, sizeof s.secureboot);
    query(req, "schematic", s.schematic, sizeof s.schematic);
    if (strcmp(s.target, "metal") == 0)
        snprintf(s.platform, sizeof s.platform, "metal");
    if (s.version[0] && s.version[0] != 'v') { /* accept 1.11.3 as Image Factory does */
        char tag[64];
        if (serve_version_normalize(s.version, tag, sizeof tag))
            snprintf(s.version, sizeof s.version, "%s", tag);
    }
    struct ui_models m = {0};
    if (load_models(ctx, &m, res) != 0)
        return;
    struct buffer out = BUFFER_INIT;
    /* which step: the first value not chosen; every chosen value must match some model */
    int step = !s.target[0] ? 0 : !s.version[0] ? 1 : !s.platform[0] ? 2 : !s.arch[0] ? 3 : !s.schematic[0] ? 5 : 6;
    size_t hits = 0;
    for (size_t i = 0; i < m.n; i++)
        hits += matches(&m.v[i], &s, step);
    if (step > 0 && hits == 0) {
        struct buffer what = BUFFER_INIT;
        buffer_appendf(&what, "The choice (target %s, version %s, platform %s, arch %s%s%s%s)", s.target,
                       s.version[0] ? s.version : "any", s.platform[0] ? s.platform : "any", s.arch[0] ? s.arch : "any",
                       strcmp(s.secureboot, "true") == 0 ? ", SecureBoot" : "", s.schematic[0] ? ", schematic " : "",
                       s.schematic);
        not_in_bundle(ctx, res, &out, buffer_cstr(&what));
        buffer_free(&what);
        buffer_free(&out);
        free(m.v);
        return;
    }
    char(*values)[160] = xcalloc(m.n + 1, sizeof *values);
    size_t nv = 0;
    if (step == 0) {
        serve_html_begin(&out, "Hardware Type");
        step_hardware(&out, &m, &s);
    } else if (step == 1) {
        serve_html_begin(&out, "Choose Talos Linux Version");
        breadcrumb(&out, &s);
        form_begin(&out, &s, "Talos Linux version");
        for (size_t i = 0; i < m.n; i++)
            if (matches(&m.v[i], &s, 1) && !seen(values, nv, m.v[i].version))
                snprintf(values[nv++], sizeof values[0], "%s", m.v[i].version);
        /* in the bundle's version order (semver), not the models' per-schematic order */
        struct version_pick pick = {values, nv, &out, nv == 1};
        struct error err = {0};
        if (bundle_foreach(ctx->index, BUNDLE_LIST_VERSIONS, NULL, pick_version, &pick, &err) < 0)
            fprintf(stderr, "airfactory-serve: error: %s\n", err.message);
        form_end(&out);
    } else if (step == 2) {
        serve_html_begin(&out, "Cloud");
        breadcrumb(&out, &s);
        form_begin(&out, &s, "Platform");
        for (size_t i = 0; i < m.n; i++)
            if (matches(&m.v[i], &s, 2) && !seen(values, nv, m.v[i].platform))
                snprintf(values[nv++], sizeof values[0], "%s", m.v[i].platform);
        for (size_t i = 0; i < nv; i++)
            radio(&out, "platform", values[i], values[i], NULL, nv == 1);
        form_end(&out);
    } else if (step == 3) {
        serve_html_begin(&out, "Machine Architecture");
        breadcrumb(&out, &s);
        form_begin(&out, &s, "Architecture");
        bool sb = false;
        for (size_t i = 0; i < m.n; i++) {
            if (!matches(&m.v[i], &s, 3))
                continue;
            sb |= m.v[i].secureboot;
            if (!seen(values, nv, m.v[i].arch))
                snprintf(values[nv++], sizeof values[0], "%s", m.v[i].arch);
        }
        for (size_t i = 0; i < nv; i++)
            radio(&out, "arch", values[i], values[i],
                  strcmp(values[i], "amd64") == 0
                      ? "Compatible with Intel and AMD CPUs, also referred to as x86_64. If unsure, select this option."
                      : "Suitable for Ampere Computing and other arm64 CPUs.",
                  nv == 1);
        buffer_append_str(&out, "</fieldset>\n<fieldset><legend>SecureBoot</legend>\n");
        if (sb)
            buffer_append_str(&out, "<label><input type=\"checkbox\" name=\"secureboot\" value=\"true\"> Create a "
                                    "SecureBoot image (the bundle holds SecureBoot assets for this choice)</label>\n");
        else
            buffer_append_str(&out, "<p>This bundle holds no SecureBoot assets for this choice.</p>\n");
        form_end(&out);
    } else if (step == 5) {
        serve_html_begin(&out, "System Extensions");
        breadcrumb(&out, &s);
        buffer_append_str(&out, "<p>System extensions enhance the Talos Linux base image with additional features. "
                                "This bundle holds these schematics (extension sets and customizations) for your "
                                "choices:</p>\n");
        form_begin(&out, &s, "Schematic");
        struct error err = {0};
        for (size_t i = 0; i < m.n; i++) {
            if (!matches(&m.v[i], &s, 5) || seen(values, nv, m.v[i].id))
                continue;
            snprintf(values[nv++], sizeof values[0], "%s", m.v[i].id);
            struct buffer desc = BUFFER_INIT, label = BUFFER_INIT;
            char *yaml = NULL;
            if (bundle_find_schematic(ctx->index, m.v[i].id, &yaml, &err) == 1)
                schematic_summary(&desc, yaml);
            buffer_appendf(&label, "%s%s%s%s", m.v[i].name, m.v[i].name[0] ? " (" : "", m.v[i].id,
                           m.v[i].name[0] ? ")" : "");
            /* desc is already HTML; radio() escapes, so write this one by hand */
            buffer_append_str(&out, "<label><input type=\"radio\" name=\"schematic\" value=\"");
            serve_html_escape(&out, m.v[i].id);
            buffer_append_str(&out, "\" required> ");
            serve_html_escape(&out, buffer_cstr(&label));
            buffer_appendf(&out, "<small>%s</small></label>\n", buffer_cstr(&desc));
            free(yaml);
            buffer_free(&desc);
            buffer_free(&label);
        }
        form_end(&out);
    } else {
        serve_html_begin(&out, "Customization");
        breadcrumb(&out, &s);
        char *yaml = NULL;
        struct error err = {0};
        int found = bundle_find_schematic(ctx->index, s.schematic, &yaml, &err);
        const struct ui_model *chosen = NULL;
        for (size_t i = 0; i < m.n && !chosen; i++)
            if (matches(&m.v[i], &s, 6))
                chosen = &m.v[i];
        buffer_append_str(&out, "<p>The schematic ");
        if (chosen)
            schematic_label_html(&out, chosen);
        buffer_append_str(&out, " fixes the extensions, kernel arguments and other customization of the image "
                                "(Image Factory's Customization step); this bundle holds it as:</p>\n<pre>");
        if (found == 1)
            serve_html_escape(&out, yaml);
        buffer_append_str(&out, "</pre>\n<p><a href=\"");
        final_link(&out, s.schematic, s.version, &s);
        buffer_append_str(&out, "\">Next</a> &middot; <a href=\"/\">Start over</a></p>\n");
        free(yaml);
    }
    page_done(res, 200, &out);
    free(values);
    buffer_free(&out);
    free(m.v);
}

/* A GET form asking for an output the bundle does not hold (recorded as curl's /image miss is). */
static void request_form(struct serve_context *ctx, struct buffer *out, const char *id, const char *version)
{
    if (!ctx->requests_dir)
        return;
    buffer_append_str(out, "<h2>Request another output</h2>\n<form method=\"get\" action=\"/ui/request\">\n");
    hidden(out, "schematic", id);
    hidden(out, "version", version);
    buffer_append_str(out, "<p><label for=\"asset\">Image Factory file name (e.g. <code>nocloud-amd64.raw.xz</code>, "
                           "<code>metal-arm64.iso</code>)</label> <input id=\"asset\" name=\"asset\" required "
                           "maxlength=\"150\"> <button type=\"submit\">Request</button></p>\n</form>\n");
}

/* GET /ui/request?schematic=&version=&asset=: record the request, say where it goes. */
void serve_ui_request(struct serve_context *ctx, const struct serve_request *req, struct serve_response *res)
{
    char id[80], version[80], tag[160], asset[200];
    query(req, "schematic", id, sizeof id);
    query(req, "version", version, sizeof version);
    query(req, "asset", asset, sizeof asset);
    struct buffer out = BUFFER_INIT;
    struct asset_path ap;
    struct error err = {0};
    if (!sha256_hex_valid(id) || !serve_version_normalize(version, tag, sizeof tag) ||
        asset_path_parse(asset, &ap, &err) != 0) {
        serve_html_begin(&out, "Request not understood");
        buffer_append_str(&out, "<p class=\"note\">A request names a schematic ID (64 hex digits), a Talos version "
                                "and an Image Factory file name");
        if (asset[0] && err.message[0]) {
            buffer_append_str(&out, ": ");
            serve_html_escape(&out, err.message);
        }
        buffer_append_str(&out, ".</p>\n<p><a href=\"/\">Start over</a></p>\n");
        page_done(res, 400, &out);
        buffer_free(&out);
        return;
    }
    char name[ASSET_PATH_MAX];
    asset_path_format(&ap, name);
    struct bundle_blob blob;
    int found = serve_find_asset(ctx, id, tag, name, &blob, &err);
    if (found < 0) {
        buffer_free(&out);
        return serve_response_internal_error(res, &err);
    }
    if (found == 1) {
        serve_html_begin(&out, "Already in this bundle");
        buffer_append_str(&out, "<p><a href=\"");
        final_link(&out, id, tag, NULL);
        buffer_append_str(&out, "\">The final page</a> lists it.</p>\n");
        page_done(res, 200, &out);
        buffer_free(&out);
        return;
    }
    int rc = serve_requests_record(ctx, id, NULL, tag, name);
    serve_html_begin(&out, rc >= 0 && ctx->requests_dir ? "Requested" : "Not recorded");
    buffer_append_str(&out, "<p><code>");
    serve_html_escape(&out, name);
    buffer_append_str(&out, "</code> of schematic <code>");
    serve_html_escape(&out, id);
    buffer_append_str(&out, "</code> for Talos <code>");
    serve_html_escape(&out, tag);
    if (rc >= 0 && ctx->requests_dir)
        buffer_append_str(&out, "</code> is recorded (once, however often it is asked for). This server's operator "
                                "hands the requests file to the bundle's builders, whose <code>airfactory requests "
                                "merge</code> turns it into manifest additions; the next bundle will hold it.</p>\n");
    else
        buffer_append_str(&out, "</code> could not be recorded: this server records requests only when started "
                                "with <code>--requests-dir</code>. Ask its operator.</p>\n");
    buffer_append_str(&out, "<p><a href=\"/\">Start over</a></p>\n");
    page_done(res, rc >= 0 && ctx->requests_dir ? 202 : 503, &out);
    buffer_free(&out);
}

/* ---- the final page ---- */

struct asset_row {
    char path[ASSET_PATH_MAX];
    char digest[80];
    unsigned long long size;
};

struct asset_rows {
    struct asset_row *v;
    size_t n, cap;
};

static int collect_asset(void *p, int count, const char *const *c)
{
    struct asset_rows *a = p;
    if (count < 3 || strlen(c[0]) >= ASSET_PATH_MAX || a->n >= UI_MODELS_MAX)
        return 0;
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 32;
        a->v = xrealloc(a->v, a->cap * sizeof *a->v);
    }
    struct asset_row *r = &a->v[a->n++];
    snprintf(r->path, sizeof r->path, "%s", c[0]);
    snprintf(r->digest, sizeof r->digest, "%s", c[1]);
    r->size = strtoull(c[2], NULL, 10);
    return 0;
}

static bool has_asset(const struct asset_rows *a, const char *path)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].path, path) == 0)
            return true;
    return false;
}

static void link_dd(struct buffer *out, const char *url)
{
    buffer_append_str(out, "<dd><a href=\"");
    serve_html_escape(out, url);
    buffer_append_str(out, "\">");
    serve_html_escape(out, url);
    buffer_append_str(out, "</a></dd>\n");
}

void serve_ui_final(struct serve_context *ctx, const struct serve_request *req, const char *rest,
                    struct serve_response *res)
{
    char id[128], version[128];
    const char *slash = strchr(rest, '/');
    struct buffer out = BUFFER_INIT;
    if (!slash || slash == rest || (size_t)(slash - rest) >= sizeof id || strchr(slash + 1, '/') ||
        strlen(slash + 1) >= sizeof version || !slash[1]) {
        not_in_bundle(ctx, res, &out, "This page");
        buffer_free(&out);
        return;
    }
    memcpy(id, rest, (size_t)(slash - rest));
    id[slash - rest] = '\0';
    char tag[160];
    if (!serve_version_normalize(slash + 1, tag, sizeof tag))
        snprintf(tag, sizeof tag, "%s", slash + 1);
    struct error err = {0};
    char *yaml = NULL, *name = NULL;
    int found = sha256_hex_valid(id) ? bundle_find_schematic(ctx->index, id, &yaml, &err) : 0;
    struct asset_rows a = {0};
    if (found == 1 && bundle_foreach(ctx->index, BUNDLE_LIST_MODEL_ASSETS, (const char *const[]){id, tag},
                                     collect_asset, &a, &err) != 0)
        found = -1;
    if (found == 1 && bundle_find_schematic_name(ctx->index, id, &name, &err) < 0)
        found = -1;
    if (found < 0) {
        serve_response_internal_error(res, &err);
        goto done;
    }
    if (found == 0 || a.n == 0) {
        if (sha256_hex_valid(id) && tag[0] == 'v')
            serve_requests_record(ctx, id, NULL, tag, NULL);
        struct buffer what = BUFFER_INIT;
        buffer_appendf(&what, "Schematic %s for Talos %s", id, tag);
        bool form = sha256_hex_valid(id) && tag[0] == 'v';
        not_in_bundle_form(ctx, res, &out, buffer_cstr(&what), form ? id : NULL, tag);
        buffer_free(&what);
        goto done;
    }
    char platform[64] = "", arch[16] = "", sb[8] = "";
    query(req, "platform", platform, sizeof platform);
    query(req, "arch", arch, sizeof arch);
    query(req, "secureboot", sb, sizeof sb);
    struct buffer base = BUFFER_INIT;
    serve_request_base_url(ctx, req, &base);
    const char *host = strstr(buffer_cstr(&base), "://");
    host = host ? host + 3 : buffer_cstr(&base);

    serve_html_begin(&out, "Schematic Ready");
    buffer_append_str(&out, "<p>Your image schematic ID is: <code>");
    serve_html_escape(&out, id);
    buffer_append_str(&out, "</code>");
    if (name && name[0]) {
        buffer_append_str(&out, " (<strong>");
        serve_html_escape(&out, name);
        buffer_append_str(&out, "</strong> in the build manifest)");
    }
    buffer_append_str(&out, ", Talos Linux <code>");
    serve_html_escape(&out, tag);
    buffer_append_str(&out, "</code>.</p>\n<pre>");
    serve_html_escape(&out, yaml ? yaml : "");
    buffer_append_str(&out, "</pre>\n");

    /* First Boot: per platform-arch the bundle has, ISO / disk images / PXE */
    buffer_append_str(&out, "<h2>First Boot</h2>\n<dl>\n");
    struct buffer url = BUFFER_INIT;
    for (size_t i = 0; i < a.n; i++) {
        struct asset_path ap;
        if (asset_path_parse(a.v[i].path, &ap, &err) != 0)
            continue;
        if (platform[0] && (strcmp(ap.platform, platform) != 0 || (arch[0] && strcmp(ap.arch, arch) != 0) ||
                            ap.secureboot != (strcmp(sb, "true") == 0)))
            continue;
        const char *label = NULL;
        if (ap.kind == ASSET_ISO)
            label = ap.secureboot ? "SecureBoot ISO" : "ISO";
        else if (ap.kind == ASSET_IMAGE)
            label = ap.secureboot ? "SecureBoot Disk Image" : "Disk Image";
        if (label) {
            buffer_appendf(&out, "<dt>%s (%s, %s)</dt>\n", label, ap.platform, ap.arch);
            buffer_reset(&url);
            buffer_appendf(&url, "%s/image/%s/%s/%s", buffer_cstr(&base), id, tag, a.v[i].path);
            link_dd(&out, buffer_cstr(&url));
        }
        if (ap.kind == ASSET_CMDLINE) {
            char kernel[ASSET_PATH_MAX], initrd[ASSET_PATH_MAX];
            snprintf(kernel, sizeof kernel, "%s-%s-secureboot-uki.efi", ap.platform, ap.arch);
            snprintf(initrd, sizeof initrd, "initramfs-%s.xz", ap.arch);
            if (!ap.secureboot)
                snprintf(kernel, sizeof kernel, "kernel-%s", ap.arch);
            if (!has_asset(&a, kernel) || (!ap.secureboot && !has_asset(&a, initrd)))
                continue;
            buffer_appendf(&out, "<dt>%s (iPXE script, %s, %s)</dt>\n", ap.secureboot ? "SecureBoot PXE" : "PXE boot",
                           ap.platform, ap.arch);
            buffer_reset(&url);
            buffer_appendf(&url, "%s/pxe/%s/%s/%s-%s%s", buffer_cstr(&base), id, tag, ap.platform, ap.arch,
                           ap.secureboot ? "-secureboot" : "");
            link_dd(&out, buffer_cstr(&url));
        }
    }
    buffer_append_str(&out, "</dl>\n");

    /* Initial Installation / Upgrading: the installer references the registry serves */
    static const char *const repos[] = {"installer", "metal-installer", "installer-secureboot",
                                        "metal-installer-secureboot"};
    struct buffer refs = BUFFER_INIT;
    for (size_t r = 0; r < sizeof repos / sizeof repos[0]; r++) {
        char repo[256], digest[72];
        snprintf(repo, sizeof repo, "%s/%s", repos[r], id);
        if (bundle_find_image(ctx->index, repo, tag, digest, &err) == 1)
            buffer_appendf(&refs, "%s/%s:%s\n", host, repo, tag);
    }
    buffer_append_str(&out, "<h2>Initial Installation</h2>\n");
    if (refs.len == 0) {
        buffer_append_str(&out, "<p class=\"note\">This bundle holds no installer image of this schematic and "
                                "version (add <code>installer.tar</code> to the build manifest's outputs).</p>\n");
    } else {
        buffer_append_str(&out, "<p>For the initial installation of Talos Linux (not applicable for disk image "
                                "boot), add the following installer image to the machine configuration:</p>\n<pre>");
        serve_html_escape(&out, buffer_cstr(&refs));
        buffer_append_str(&out, "</pre>\n<pre>");
        /* the command uses the installer of the chosen flavour: SecureBoot when asked for and held */
        const char *line = refs.data, *sbline = strstr(refs.data, "/installer-secureboot/");
        if (strcmp(sb, "true") == 0 && sbline) {
            while (sbline > refs.data && sbline[-1] != '\n')
                sbline--;
            line = sbline;
        }
        char *first = xstrndup(line, (size_t)(strchr(line, '\n') - line));
        buffer_append_str(&out, "talosctl gen config my-cluster https://&lt;endpoint&gt;:6443 --install-image ");
        serve_html_escape(&out, first);
        buffer_append_str(&out, "</pre>\n<h2>Upgrading Talos Linux</h2>\n<p>To upgrade Talos Linux on the machine, "
                                "use the following image:</p>\n<pre>talosctl upgrade --nodes &lt;node&gt; --image ");
        serve_html_escape(&out, first);
        buffer_append_str(&out, "</pre>\n");
        free(first);
    }
    buffer_free(&refs);

    /* Extra Assets: everything, with sizes and digests */
    buffer_append_str(&out, "<h2>Extra Assets</h2>\n<p>Every file this bundle holds for this schematic and "
                            "version:</p>\n<div class=\"table\"><table>\n<thead><tr><th scope=\"col\">File</th>"
                            "<th scope=\"col\">Size</th><th scope=\"col\">Digest</th></tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < a.n; i++) {
        buffer_reset(&url);
        buffer_appendf(&url, "/image/%s/%s/%s", id, tag, a.v[i].path);
        buffer_append_str(&out, "<tr><td><a href=\"");
        serve_html_escape(&out, buffer_cstr(&url));
        buffer_append_str(&out, "\">");
        serve_html_escape(&out, a.v[i].path);
        buffer_append_str(&out, "</a></td><td>");
        char size[32];
        byte_size_text(a.v[i].size, size, sizeof size);
        buffer_append_str(&out, size);
        buffer_appendf(&out, " <small>(%llu bytes)</small></td><td><code>", a.v[i].size);
        serve_html_escape(&out, a.v[i].digest);
        buffer_append_str(&out, "</code></td></tr>\n");
    }
    buffer_append_str(&out, "</tbody></table></div>\n");
    request_form(ctx, &out, id, tag);
    buffer_append_str(&out, "<p>Schematic YAML: <a href=\"/schematics/");
    serve_html_escape(&out, id);
    buffer_append_str(&out, "\">/schematics/");
    serve_html_escape(&out, id);
    buffer_append_str(&out, "</a> &middot; <a href=\"/\">Start over</a></p>\n");
    buffer_free(&url);
    buffer_free(&base);
    page_done(res, 200, &out);
done:
    free(a.v);
    free(yaml);
    free(name);
    buffer_free(&out);
}
