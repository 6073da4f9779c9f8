/* manifest_requests — airfactory-serve's requests files (requests.jsonl, see src/serve/requests.c)
 * turned into manifest changes: loading and merging several files (deduplicated), the YAML
 * additions `airfactory requests merge` prints, and the in-memory application `airfactory plan
 * --with-requests` plans with. A request is {"schematic","yaml","version","asset"}; a PXE request
 * names cmdline-P-A[-secureboot], which also needs the kernel and initramfs (or the UKI). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airfactory/manifest.h"
#include "core/digest.h"
#include "core/json.h"
#include "core/memory.h"

static char *dup_or_empty(const char *s)
{
    return xstrdup(s ? s : "");
}

static bool same(const struct manifest_request *a, const char *schematic, const char *yaml, const char *version,
                 const char *asset)
{
    return !strcmp(a->schematic, schematic) && !strcmp(a->yaml, yaml ? yaml : "") &&
           !strcmp(a->version, version ? version : "") && !strcmp(a->asset, asset ? asset : "");
}

int manifest_requests_load(const char *path, struct manifest_requests *r, struct error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return error_set(err, ERROR_INPUT, "%s: cannot open the requests file: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        struct json_value *v = NULL;
        char what[64];
        snprintf(what, sizeof what, "line %d", lineno);
        if (json_parse(line, (size_t)n, what, &v, err) != 0) {
            rc = error_prefix(err, "%s:%d: ", path, lineno);
            break;
        }
        const char *schematic = json_object_get_string(v, "schematic");
        const char *yaml = json_object_get_string(v, "yaml");
        const char *version = json_object_get_string(v, "version");
        const char *asset = json_object_get_string(v, "asset");
        struct asset_path ap;
        struct error ignored;
        if (!schematic || !sha256_hex_valid(schematic) || (version && version[0] != 'v') ||
            (asset && asset_path_parse(asset, &ap, &ignored) != 0)) {
            rc = error_set(err, ERROR_INPUT,
                           "%s:%d: not a request line (expected {\"schematic\": 64 hex, "
                           "\"yaml\", \"version\": \"v…\", \"asset\": an Image Factory file name}); is this "
                           "airfactory-serve's requests.jsonl?",
                           path, lineno);
        } else {
            bool dup = false;
            for (size_t i = 0; i < r->count && !dup; i++)
                dup = same(&r->items[i], schematic, yaml, version, asset);
            if (!dup) {
                r->items = xrealloc(r->items, (r->count + 1) * sizeof *r->items);
                struct manifest_request *q = &r->items[r->count++];
                q->schematic = xstrdup(schematic);
                q->yaml = dup_or_empty(yaml);
                q->version = dup_or_empty(version);
                q->asset = dup_or_empty(asset);
            }
        }
        json_free(v);
    }
    free(line);
    fclose(f);
    return rc;
}

void manifest_requests_free(struct manifest_requests *r)
{
    for (size_t i = 0; i < r->count; i++) {
        free(r->items[i].schematic);
        free(r->items[i].yaml);
        free(r->items[i].version);
        free(r->items[i].asset);
    }
    free(r->items);
    memset(r, 0, sizeof *r);
}

/* ---- per schematic: what was asked ---- */

struct wanted {
    char id[SCHEMATIC_ID_HEX_LEN + 1];
    const char *yaml; /* points into the requests; "" when only the ID was seen */
    struct manifest_list versions, arches, outputs;
};

static bool list_has(const struct manifest_list *l, const char *s)
{
    for (size_t i = 0; i < l->count; i++)
        if (!strcmp(l->items[i], s))
            return true;
    return false;
}

static void list_add(struct manifest_list *l, const char *s)
{
    if (list_has(l, s))
        return;
    l->items = xrealloc(l->items, (l->count + 1) * sizeof *l->items);
    l->lines = xrealloc(l->lines, (l->count + 1) * sizeof *l->lines);
    l->columns = xrealloc(l->columns, (l->count + 1) * sizeof *l->columns);
    l->items[l->count] = xstrdup(s);
    l->lines[l->count] = 0;
    l->columns[l->count] = 0;
    l->count++;
    l->present = true;
}

/* An asset and what it needs beside it: PXE (cmdline) also needs the kernel and initramfs, or the UKI. */
static void add_asset(struct wanted *w, const char *asset)
{
    struct asset_path ap;
    struct error ignored;
    if (asset_path_parse(asset, &ap, &ignored) != 0)
        return;
    char name[ASSET_PATH_MAX];
    asset_path_format(&ap, name);
    list_add(&w->outputs, name);
    list_add(&w->arches, ap.arch);
    if (ap.kind == ASSET_CMDLINE) {
        if (ap.secureboot) {
            snprintf(name, sizeof name, "%s-%s-secureboot-uki.efi", ap.platform, ap.arch);
            list_add(&w->outputs, name);
        } else {
            snprintf(name, sizeof name, "kernel-%s", ap.arch);
            list_add(&w->outputs, name);
            snprintf(name, sizeof name, "initramfs-%s.xz", ap.arch);
            list_add(&w->outputs, name);
        }
    }
}

static size_t collect(const struct manifest_requests *r, struct wanted **out)
{
    struct wanted *w = NULL;
    size_t n = 0;
    for (size_t i = 0; i < r->count; i++) {
        const struct manifest_request *q = &r->items[i];
        size_t k = 0;
        while (k < n && strcmp(w[k].id, q->schematic) != 0)
            k++;
        if (k == n) {
            w = xrealloc(w, (n + 1) * sizeof *w);
            memset(&w[n], 0, sizeof *w);
            snprintf(w[n].id, sizeof w[n].id, "%s", q->schematic);
            w[n].yaml = "";
            n++;
        }
        if (q->yaml[0])
            w[k].yaml = q->yaml;
        if (q->version[0])
            list_add(&w[k].versions, q->version);
        if (q->asset[0])
            add_asset(&w[k], q->asset);
    }
    *out = w;
    return n;
}

static void wanted_free(struct wanted *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        manifest_list_free(&w[i].versions);
        manifest_list_free(&w[i].arches);
        manifest_list_free(&w[i].outputs);
    }
    free(w);
}

static void yaml_flow_list(struct buffer *out, const char *key, const struct manifest_list *l)
{
    if (!l->count)
        return;
    buffer_appendf(out, "    %s: [", key);
    for (size_t i = 0; i < l->count; i++)
        buffer_appendf(out, "%s%s", i ? ", " : "", l->items[i]);
    buffer_append_str(out, "]\n");
}

int manifest_requests_additions(const struct manifest_requests *r, struct buffer *out, struct error *err)
{
    (void)err;
    struct wanted *w = NULL;
    size_t n = collect(r, &w);
    buffer_appendf(out,
                   "# airfactory requests merge: %zu request%s for %zu schematic%s. Add these entries to the\n"
                   "# manifest's schematics (for a schematic it already has, add the versions and outputs to\n"
                   "# that entry instead); `airfactory plan MANIFEST --with-requests FILE` shows what it builds.\n"
                   "schematics:\n",
                   r->count, r->count == 1 ? "" : "s", n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++) {
        if (!w[i].yaml[0]) {
            buffer_appendf(out,
                           "  # %s: asked for by ID only (no POST /schematics seen), so its content is\n"
                           "  # unknown; find its YAML (airfactory schematic id FILE) and add it by hand\n",
                           w[i].id);
            continue;
        }
        buffer_appendf(out, "  - name: requested-%.12s\n    schematic:\n", w[i].id);
        const char *p = w[i].yaml;
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p) : strlen(p);
            buffer_append_str(out, "      ");
            buffer_append(out, p, len);
            buffer_append_char(out, '\n');
            p += len + (nl ? 1 : 0);
        }
        yaml_flow_list(out, "versions", &w[i].versions);
        yaml_flow_list(out, "architectures", &w[i].arches);
        yaml_flow_list(out, "outputs", &w[i].outputs);
    }
    wanted_free(w, n);
    return 0;
}

/* own <- the effective list (own or global) plus what is asked */
static void extend(struct manifest_list *own, const struct manifest_list *global, const struct manifest_list *add)
{
    if (!add->count)
        return;
    if (!own->present)
        for (size_t i = 0; i < global->count; i++)
            list_add(own, global->items[i]);
    for (size_t i = 0; i < add->count; i++)
        list_add(own, add->items[i]);
}

int manifest_requests_apply(struct manifest *m, const struct manifest_requests *r, struct error *err)
{
    struct wanted *w = NULL;
    size_t n = collect(r, &w);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct manifest_schematic *s = NULL;
        for (size_t k = 0; k < m->schematic_count && !s; k++)
            if (!strcmp(m->schematics[k].id, w[i].id))
                s = &m->schematics[k];
        bool is_new = !s;
        if (!s) {
            if (!w[i].yaml[0])
                continue; /* unknown content: nothing to plan (requests merge says so) */
            struct schematic *parsed = NULL;
            char id[SCHEMATIC_ID_HEX_LEN + 1];
            if (schematic_parse(w[i].yaml, strlen(w[i].yaml), "requested schematic", &parsed, err) != 0 ||
                schematic_id(parsed, id, err) != 0) {
                schematic_free(parsed);
                rc = error_prefix(err, "request for schematic %s: ", w[i].id);
                break;
            }
            if (strcmp(id, w[i].id) != 0) {
                schematic_free(parsed);
                rc = error_set(err, ERROR_INPUT,
                               "request for schematic %s: its YAML hashes to %s; the requests "
                               "file is damaged",
                               w[i].id, id);
                break;
            }
            m->schematics = xrealloc(m->schematics, (m->schematic_count + 1) * sizeof *m->schematics);
            s = &m->schematics[m->schematic_count++];
            memset(s, 0, sizeof *s);
            s->image_cache = -1; /* the manifest's */
            s->name = xasprintf("requested-%.12s", id);
            s->schematic = parsed;
            memcpy(s->id, id, sizeof s->id);
            s->canonical = xstrdup(w[i].yaml);
        }
        /* a new entry has no lists of its own: what was asked, the manifest's lists for the rest */
        static const struct manifest_list none;
        extend(&s->versions, is_new ? &none : &m->versions, &w[i].versions);
        extend(&s->architectures, is_new ? &none : &m->architectures, &w[i].arches);
        extend(&s->outputs, is_new ? &none : &m->outputs, &w[i].outputs);
    }
    wanted_free(w, n);
    return rc;
}
