/* manifest — see include/airfactory/manifest.h and docs/manifest.md. */
#include "airfactory/manifest.h"
#include "core/fs.h"
#include "core/memory.h"
#include "core/yaml_document.h"
#include "oci/oci_image.h"
#include "oci/string_set.h"
#include "registry/registry_ref.h"
#include "talos/profile.h"
#include "verify/verify_policy.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ memory */

void manifest_list_free(struct manifest_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i]);
    free(l->items);
    free(l->lines);
    free(l->columns);
    memset(l, 0, sizeof *l);
}

void manifest_free(struct manifest *m)
{
    if (!m)
        return;
    free(m->path);
    free(m->dir);
    for (size_t i = 0; i < m->schematic_count; i++) {
        struct manifest_schematic *s = &m->schematics[i];
        free(s->name);
        schematic_free(s->schematic);
        free(s->canonical);
        free(s->file);
        manifest_list_free(&s->versions);
        manifest_list_free(&s->architectures);
        manifest_list_free(&s->outputs);
    }
    free(m->schematics);
    manifest_list_free(&m->versions);
    manifest_list_free(&m->architectures);
    manifest_list_free(&m->outputs);
    for (size_t i = 0; i < m->source_count; i++) {
        free(m->sources[i].path);
        free(m->sources[i].reference);
        free(m->sources[i].version);
        free(m->sources[i].trust);
        manifest_list_free(&m->sources[i].platforms);
    }
    free(m->sources);
    for (size_t i = 0; i < m->trust_count; i++)
        verify_policy_free(&m->trust[i].policy);
    free(m->trust);
    free(m->signing_key);
    free(m->output);
    free(m->secureboot_signing_key);
    free(m->secureboot_signing_cert);
    free(m->secureboot_pcr_key);
    manifest_list_free(&m->secureboot_well_known_kek);
    manifest_list_free(&m->secureboot_well_known_db);
    free(m);
}

/* ------------------------------------------------------------------- paths */

/* ------------------------------------------------------------------ parser */

struct parser {
    const char *what;
    const char *base_dir;
    struct error *err;
};

static int fail(struct parser *p, const struct yaml_node *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct parser *p, const struct yaml_node *n, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return error_set(p->err, ERROR_INPUT, "%s:%d:%d: %s", p->what, n->line, n->column, msg);
}

static bool node_is_null(const struct yaml_node *n)
{
    struct yaml_resolved r;
    return n->kind == YAML_NODE_SCALAR && yaml_node_resolve(n, "", &r, NULL) == 0 && r.type == YAML_RESOLVED_NULL;
}

/* A non-empty scalar's text. */
static int get_text(struct parser *p, const struct yaml_node *n, const char *field, char **out)
{
    if (n->kind != YAML_NODE_SCALAR || node_is_null(n) || n->length == 0)
        return fail(p, n, "%s: expected a non-empty string, found %s", field, yaml_node_describe(n));
    free(*out);
    *out = xstrndup(n->value, n->length);
    return 0;
}

static int get_path(struct parser *p, const struct yaml_node *n, const char *field, char **out)
{
    char *text = NULL;
    if (get_text(p, n, field, &text) < 0)
        return -1;
    free(*out);
    *out = path_resolve(p->base_dir, text);
    free(text);
    return 0;
}

static int get_bool(struct parser *p, const struct yaml_node *n, const char *field, bool *out)
{
    struct yaml_resolved r;
    if (n->kind != YAML_NODE_SCALAR || yaml_node_resolve(n, p->what, &r, NULL) < 0 || r.type != YAML_RESOLVED_BOOL)
        return fail(p, n, "%s: expected true or false, found %s", field, yaml_node_describe(n));
    *out = r.boolean;
    return 0;
}

static int get_list(struct parser *p, const struct yaml_node *n, const char *field, struct manifest_list *out)
{
    manifest_list_free(out);
    out->present = true;
    out->line = n->line;
    out->column = n->column;
    if (n->kind != YAML_NODE_SEQUENCE)
        return fail(p, n, "%s: expected a list, found %s", field, yaml_node_describe(n));
    out->items = xcalloc(n->count + 1, sizeof *out->items);
    out->lines = xcalloc(n->count + 1, sizeof *out->lines);
    out->columns = xcalloc(n->count + 1, sizeof *out->columns);
    struct string_set seen = STRING_SET_INIT; /* a pairwise check was quadratic in the list's length */
    int rc = 0;
    for (size_t i = 0; i < n->count && rc == 0; i++) {
        char sub[96];
        snprintf(sub, sizeof sub, "%s[%zu]", field, i);
        if (get_text(p, n->items[i], sub, &out->items[i]) < 0) {
            rc = -1;
            break;
        }
        out->lines[i] = n->items[i]->line;
        out->columns[i] = n->items[i]->column;
        out->count++;
        if (string_set_add(&seen, out->items[i]))
            continue;
        size_t k = 0;
        while (strcmp(out->items[k], out->items[i]))
            k++;
        rc = fail(p, n->items[i], "%s: '%s' is listed twice (first at line %d)", field, out->items[i], out->lines[k]);
    }
    string_set_clear(&seen);
    return rc;
}

/* Walk a mapping, matching keys against `fields`; returns the field index via *index. */
static int field_of(struct parser *p, const struct yaml_node *map, size_t i, const char *where,
                    const char *const *fields, int *index)
{
    const struct yaml_node *k = yaml_mapping_key(map, i);
    char msg[768];
    int f = yaml_field_lookup(k, fields, "manifest", msg, sizeof msg);
    *index = f; /* -1 on error: never left unset */
    if (f < 0)
        return fail(p, k, "%s: %s", where, msg);
    return 0;
}

static int expect_mapping(struct parser *p, const struct yaml_node *n, const char *where)
{
    if (n->kind != YAML_NODE_MAPPING)
        return fail(p, n, "%s: expected a mapping, found %s", where, yaml_node_describe(n));
    return 0;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '-' || s[i] == '_' || s[i] == '.'))
            return false;
    return true;
}

static int parse_schematic_entry(struct parser *p, const struct yaml_node *n, size_t index, struct manifest_schematic *s)
{
    static const char *const fields[] = {"name",          "schematic", "file",        "versions",
                                         "architectures", "outputs",   "image-cache", NULL};
    char where[64];
    snprintf(where, sizeof where, "schematics[%zu]", index);
    s->image_cache = -1;
    s->line = n->line;
    s->column = n->column;
    if (expect_mapping(p, n, where) < 0)
        return -1;
    const struct yaml_node *inline_node = NULL, *file_node = NULL;
    for (size_t i = 0; i < yaml_mapping_pairs(n); i++) {
        int f;
        if (field_of(p, n, i, where, fields, &f) < 0)
            return -1;
        const struct yaml_node *v = yaml_mapping_value(n, i);
        int rc = 0;
        switch (f) {
        case 0:
            rc = get_text(p, v, "name", &s->name);
            if (rc == 0 && !valid_name(s->name))
                rc = fail(p, v,
                          "%s.name: '%s' is not a valid name; use letters, digits, '-', '_' and '.' "
                          "(at most 64)",
                          where, s->name);
            break;
        case 1: inline_node = v; break;
        case 2: file_node = v; break;
        case 3: rc = get_list(p, v, "versions", &s->versions); break;
        case 4: rc = get_list(p, v, "architectures", &s->architectures); break;
        case 5: rc = get_list(p, v, "outputs", &s->outputs); break;
        case 6: {
            bool on = false;
            rc = get_bool(p, v, "image-cache", &on);
            s->image_cache = on;
            s->image_cache_line = v->line;
            s->image_cache_column = v->column;
            break;
        }
        }
        if (rc < 0)
            return -1;
    }
    if (!s->name)
        return fail(p, n, "%s: missing 'name'; every schematic needs a name (e.g. name: vanilla)", where);
    if (!inline_node == !file_node)
        return fail(p, n, "%s (%s): give exactly one of 'schematic:' (inline) or 'file:' (a schematic file)", where,
                    s->name);
    if (inline_node) {
        if (schematic_decode(inline_node, p->what, &s->schematic, p->err) < 0)
            return -1;
    } else {
        if (get_path(p, file_node, "file", &s->file) < 0)
            return -1;
        if (!fs_exists(s->file))
            return fail(p, file_node,
                        "schematic '%s': file %s does not exist (relative paths resolve against "
                        "the manifest's directory)",
                        s->name, s->file);
        if (schematic_load_file(s->file, &s->schematic, p->err) < 0) {
            error_prefix(p->err, "%s:%d:%d: schematic '%s': ", p->what, file_node->line, file_node->column, s->name);
            p->err->code = ERROR_INPUT;
            return -1;
        }
    }
    struct buffer canonical = BUFFER_INIT;
    if (schematic_marshal(s->schematic, &canonical, p->err) < 0 || schematic_id(s->schematic, s->id, p->err) < 0) {
        buffer_free(&canonical);
        return -1;
    }
    s->canonical = buffer_take(&canonical);
    return 0;
}

static int parse_role(struct parser *p, const struct yaml_node *n, enum source_role *out)
{
    if (n->kind == YAML_NODE_SCALAR && source_role_parse(n->value, out))
        return 0;
    return fail(p, n, "role: '%.60s' is not a source role; expected one of " SOURCE_ROLE_NAMES,
                n->kind == YAML_NODE_SCALAR ? n->value : "?");
}

/* The tag of an image reference ("host/repo:tag[@digest]"), or NULL. */
static char *reference_tag(const char *ref)
{
    const char *slash = strrchr(ref, '/');
    const char *name = slash ? slash + 1 : ref;
    const char *colon = strchr(name, ':');
    if (!colon)
        return NULL;
    size_t n = strcspn(colon + 1, "@");
    return n ? xstrndup(colon + 1, n) : NULL;
}

static bool is_version(const char *s)
{
    struct talos_version v;
    return s[0] == 'v' && talos_version_parse(s, &v) == 0;
}

static int parse_source(struct parser *p, const struct yaml_node *n, size_t index, struct manifest_source *s)
{
    static const char *const fields[] = {"path", "role", "reference", "version", "trust", NULL};
    char where[64];
    snprintf(where, sizeof where, "sources[%zu]", index);
    s->line = n->line;
    s->column = n->column;
    if (expect_mapping(p, n, where) < 0)
        return -1;
    const struct yaml_node *role = NULL, *version = NULL, *reference = NULL;
    for (size_t i = 0; i < yaml_mapping_pairs(n); i++) {
        int f;
        if (field_of(p, n, i, where, fields, &f) < 0)
            return -1;
        const struct yaml_node *v = yaml_mapping_value(n, i);
        int rc = 0;
        switch (f) {
        case 0: rc = get_path(p, v, "path", &s->path); break;
        case 1:
            rc = parse_role(p, v, &s->role);
            role = v;
            break;
        case 2:
            rc = get_text(p, v, "reference", &s->reference);
            reference = v;
            break;
        case 3:
            rc = get_text(p, v, "version", &s->version);
            version = v;
            break;
        case 4: rc = get_text(p, v, "trust", &s->trust); break;
        }
        if (rc < 0)
            return -1;
    }
    if (!s->path)
        return fail(p, n, "%s: missing 'path' (the OCI tarball or layout of this source)", where);
    if (!role)
        return fail(p, n, "%s: missing 'role'; expected one of " SOURCE_ROLE_NAMES, where);
    if (!s->reference)
        return fail(p, n,
                    "%s: missing 'reference' (what the image is called upstream, e.g. "
                    "ghcr.io/siderolabs/imager:v1.11.3)",
                    where);
    if (strpbrk(s->reference, " \t\n") || strlen(s->reference) > 512)
        return fail(p, reference, "reference: '%.80s' is not an image reference", s->reference);
    char *tag = reference_tag(s->reference);
    if (version && !is_version(s->version)) {
        free(tag);
        return fail(p, version, "version: '%.60s' is not a Talos version; expected vX.Y.Z", s->version);
    }
    if (version && tag && is_version(tag) && strcmp(tag, s->version)) {
        int rc = fail(p, version, "version: %s does not match the reference tag %s; drop 'version' or fix it",
                      s->version, tag);
        free(tag);
        return rc;
    }
    if (!version && tag && is_version(tag)) {
        s->version = tag;
        tag = NULL;
    }
    free(tag);
    if (!s->version)
        s->version = xstrdup("");
    bool versioned = s->role <= SOURCE_ROLE_OVERLAYS || s->role == SOURCE_ROLE_TALOSCTL_ALL;
    if (versioned && !s->version[0])
        return fail(p, n, "%s: a %s source needs a Talos version: tag the reference (…:v1.11.3) or add 'version:'",
                    where, source_role_name(s->role));
    if (!s->trust)
        s->trust = xstrdup("default");
    return 0;
}

/* trust: {NAME: policy, ...}; each policy decoded by verify_policy (the one decoder). */
static int parse_trust(struct parser *p, const struct yaml_node *n, struct manifest *m)
{
    if (expect_mapping(p, n, "trust") < 0)
        return -1;
    size_t pairs = yaml_mapping_pairs(n);
    m->trust = xcalloc(pairs + 1, sizeof *m->trust);
    for (size_t i = 0; i < pairs; i++) {
        const struct yaml_node *k = yaml_mapping_key(n, i), *v = yaml_mapping_value(n, i);
        char *name = xstrndup(k->value, k->length);
        if (!valid_name(name)) {
            fail(p, k, "trust: '%.60s' is not a valid policy name; use letters, digits, '-', '_', '.'", name);
            free(name);
            return -1;
        }
        char where[128];
        snprintf(where, sizeof where, "trust.%s", name);
        struct verify_policy_context ctx = {.what = p->what, .base_dir = p->base_dir, .where = where};
        struct manifest_trust *t = &m->trust[m->trust_count];
        if (verify_policy_decode(v, &ctx, &t->policy, p->err) < 0) {
            free(name);
            return -1;
        }
        t->policy.name = name;
        t->line = k->line;
        t->column = k->column;
        m->trust_count++;
    }
    return 0;
}

static int parse_secureboot(struct parser *p, const struct yaml_node *n, struct manifest *m)
{
    static const char *const fields[] = {"signing_key",    "signing_cert",  "pcr_key",
                                         "well_known_kek", "well_known_db", NULL};
    if (expect_mapping(p, n, "secureboot") < 0)
        return -1;
    for (size_t i = 0; i < yaml_mapping_pairs(n); i++) {
        int f;
        if (field_of(p, n, i, "secureboot", fields, &f) < 0)
            return -1;
        if (f >= 3) {
            struct manifest_list *l = f == 3 ? &m->secureboot_well_known_kek : &m->secureboot_well_known_db;
            char where[40];
            snprintf(where, sizeof where, "secureboot.%s", fields[f]);
            if (get_list(p, yaml_mapping_value(n, i), where, l) < 0)
                return -1;
            for (size_t k = 0; k < l->count; k++) {
                char *abs = path_resolve(p->base_dir, l->items[k]);
                free(l->items[k]);
                l->items[k] = abs;
            }
            continue;
        }
        char **slot = f == 0   ? &m->secureboot_signing_key
                      : f == 1 ? &m->secureboot_signing_cert
                               : &m->secureboot_pcr_key;
        if (get_path(p, yaml_mapping_value(n, i), fields[f], slot) < 0)
            return -1;
    }
    if (!m->secureboot_signing_key || !m->secureboot_signing_cert)
        return fail(p, n,
                    "secureboot: give signing_key (PEM RSA key for UKI and sd-boot) and signing_cert (its "
                    "certificate); pcr_key is optional (default: signing_key); make a pair with `airfactory keygen "
                    "--secureboot`");
    return 0;
}

/* ------------------------------------------------------- images, talos-images */

/* Where an image listed without 'path:' is read from (and `airfactory pull` writes it):
 * images/<reference with '/', ':' and '@' as '_'>.oci.tar beside the manifest. */
static char *image_default_path(struct parser *p, const char *reference)
{
    char *name = xasprintf("images/%s.oci.tar", reference);
    for (char *c = name + 7; *c; c++)
        if (*c == '/' || *c == ':' || *c == '@')
            *c = '_';
    char *path = path_resolve(p->base_dir, name);
    free(name);
    return path;
}

static int check_platforms(struct parser *p, const struct manifest_list *platforms)
{
    for (size_t i = 0; i < platforms->count; i++) {
        struct oci_platform plat;
        struct error perr = {0};
        if (oci_platform_parse(platforms->items[i], &plat, &perr) != 0)
            return error_set(p->err, ERROR_INPUT,
                             "%s:%d:%d: platforms: '%.60s' is not os/arch[/variant] (e.g. "
                             "linux/amd64)",
                             p->what, platforms->lines[i], platforms->columns[i], platforms->items[i]);
    }
    return 0;
}

static struct manifest_source *append_image(struct manifest *m, size_t *cap)
{
    if (m->source_count + 1 >= *cap) {
        *cap = *cap * 2 + 8;
        m->sources = xrealloc(m->sources, *cap * sizeof *m->sources);
    }
    struct manifest_source *s = &m->sources[m->source_count++];
    memset(s, 0, sizeof *s);
    memset(&m->sources[m->source_count], 0, sizeof *s);
    return s;
}

/* One cluster image: the reference normalised (docker.io/library/… for Docker Hub short names). */
static int add_image(struct parser *p, struct manifest *m, size_t *cap, const struct yaml_node *at,
                     const char *reference, const char *path, const char *trust, const struct manifest_list *platforms)
{
    struct registry_ref ref;
    struct error rerr = {0};
    if (registry_ref_parse(reference, &ref, &rerr) != 0)
        return fail(p, at, "image '%.120s': %s", reference, rerr.message);
    char *canonical = registry_ref_format(&ref);
    registry_ref_free(&ref);
    for (size_t i = 0; i < m->source_count; i++)
        if (m->sources[i].role == SOURCE_ROLE_IMAGE && !strcmp(m->sources[i].reference, canonical)) {
            int rc = fail(p, at, "image %s is listed twice (first at line %d)", canonical, m->sources[i].line);
            free(canonical);
            return rc;
        }
    struct manifest_source *s = append_image(m, cap);
    s->role = SOURCE_ROLE_IMAGE;
    s->reference = canonical;
    s->path = path ? xstrdup(path) : image_default_path(p, canonical);
    s->version = xstrdup("");
    s->trust = xstrdup(trust ? trust : "default");
    s->line = at->line;
    s->column = at->column;
    if (platforms && platforms->count) {
        s->platforms.present = true;
        s->platforms.line = platforms->line;
        s->platforms.column = platforms->column;
        s->platforms.items = xcalloc(platforms->count + 1, sizeof *s->platforms.items);
        s->platforms.lines = xcalloc(platforms->count + 1, sizeof *s->platforms.lines);
        s->platforms.columns = xcalloc(platforms->count + 1, sizeof *s->platforms.columns);
        for (size_t i = 0; i < platforms->count; i++) {
            s->platforms.items[i] = xstrdup(platforms->items[i]);
            s->platforms.lines[i] = platforms->lines[i];
            s->platforms.columns[i] = platforms->columns[i];
        }
        s->platforms.count = platforms->count;
    }
    bool known = false;
    for (size_t t = 0; t < m->trust_count && !known; t++)
        known = !strcmp(m->trust[t].policy.name, s->trust);
    if (!known)
        return fail(p, at, "image %s: unknown trust policy '%s'; define it under 'trust:'%s", s->reference, s->trust,
                    strcmp(s->trust, "default") ? "" : " (an image without 'trust:' uses 'default')");
    return 0;
}

/* images: [{reference, path?, platforms?, trust?}, ...] */
static int parse_images(struct parser *p, const struct yaml_node *n, struct manifest *m, size_t *cap)
{
    if (n->kind != YAML_NODE_SEQUENCE)
        return fail(p, n, "images: expected a list of images (- reference: registry.k8s.io/pause:3.10)");
    static const char *const fields[] = {"reference", "path", "platforms", "trust", NULL};
    for (size_t i = 0; i < n->count; i++) {
        const struct yaml_node *e = n->items[i];
        char where[64];
        snprintf(where, sizeof where, "images[%zu]", i);
        if (expect_mapping(p, e, where) < 0)
            return -1;
        char *reference = NULL, *path = NULL, *trust = NULL;
        struct manifest_list platforms = {0};
        int rc = 0;
        for (size_t k = 0; k < yaml_mapping_pairs(e) && rc == 0; k++) {
            int f;
            rc = field_of(p, e, k, where, fields, &f);
            const struct yaml_node *v = yaml_mapping_value(e, k);
            if (rc == 0)
                rc = f == 0   ? get_text(p, v, "reference", &reference)
                     : f == 1 ? get_path(p, v, "path", &path)
                     : f == 2 ? get_list(p, v, "platforms", &platforms)
                              : get_text(p, v, "trust", &trust);
        }
        if (rc == 0 && !reference)
            rc = fail(p, e, "%s: missing 'reference' (e.g. registry.k8s.io/pause:3.10 or name@sha256:<hex>)", where);
        if (rc == 0)
            rc = check_platforms(p, &platforms);
        if (rc == 0)
            rc = add_image(p, m, cap, e, reference, path, trust, &platforms);
        free(reference);
        free(path);
        free(trust);
        manifest_list_free(&platforms);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* talos-images: {talos: vX, kubernetes: vY, platforms?, trust?} or a list of them: what
 * `talosctl images default` prints for that pair (profiles/talos-images.yaml). */
static int parse_talos_images_one(struct parser *p, const struct yaml_node *e, const char *where, struct manifest *m,
                                  size_t *cap)
{
    static const char *const fields[] = {"talos", "kubernetes", "platforms", "trust", NULL};
    if (expect_mapping(p, e, where) < 0)
        return -1;
    char *talos = NULL, *kubernetes = NULL, *trust = NULL;
    struct manifest_list platforms = {0};
    int rc = 0;
    for (size_t k = 0; k < yaml_mapping_pairs(e) && rc == 0; k++) {
        int f;
        rc = field_of(p, e, k, where, fields, &f);
        const struct yaml_node *v = yaml_mapping_value(e, k);
        if (rc == 0)
            rc = f == 0   ? get_text(p, v, "talos", &talos)
                 : f == 1 ? get_text(p, v, "kubernetes", &kubernetes)
                 : f == 2 ? get_list(p, v, "platforms", &platforms)
                          : get_text(p, v, "trust", &trust);
    }
    if (rc == 0 && (!talos || !kubernetes))
        rc = fail(p, e, "%s: give both 'talos' and 'kubernetes' (e.g. {talos: v1.11.3, kubernetes: v1.34.1})", where);
    if (rc == 0)
        rc = check_platforms(p, &platforms);
    char **refs = NULL;
    size_t count = 0;
    if (rc == 0) {
        struct error perr = {0};
        if (profile_talos_images(talos, kubernetes, &refs, &count, &perr) != 0) {
            rc = error_set(p->err, perr.code, "%s:%d:%d: %s", p->what, e->line, e->column, perr.message);
        }
    }
    for (size_t i = 0; i < count && rc == 0; i++) {
        bool listed = false; /* also under images: (or an earlier pair): the first entry wins */
        for (size_t k = 0; k < m->source_count && !listed; k++)
            listed = m->sources[k].role == SOURCE_ROLE_IMAGE && !strcmp(m->sources[k].reference, refs[i]);
        if (!listed)
            rc = add_image(p, m, cap, e, refs[i], NULL, trust, &platforms);
    }
    for (size_t i = 0; i < count; i++)
        free(refs[i]);
    free(refs);
    free(talos);
    free(kubernetes);
    free(trust);
    manifest_list_free(&platforms);
    return rc;
}

static int parse_talos_images(struct parser *p, const struct yaml_node *n, struct manifest *m, size_t *cap)
{
    if (n->kind == YAML_NODE_MAPPING)
        return parse_talos_images_one(p, n, "talos-images", m, cap);
    if (n->kind != YAML_NODE_SEQUENCE)
        return fail(p, n, "talos-images: expected {talos: vX.Y.Z, kubernetes: vA.B.C} or a list of them");
    for (size_t i = 0; i < n->count; i++) {
        char where[64];
        snprintf(where, sizeof where, "talos-images[%zu]", i);
        if (parse_talos_images_one(p, n->items[i], where, m, cap) < 0)
            return -1;
    }
    return 0;
}

static int parse_root(struct parser *p, const struct yaml_node *root, struct manifest *m)
{
    static const char *const fields[] = {
        "schematics", "versions",   "architectures", "outputs",      "sources",     "trust", "signing_key",
        "output",     "secureboot", "images",        "talos-images", "image-cache", NULL};
    m->line = root->line;
    m->column = root->column;
    if (expect_mapping(p, root, "manifest") < 0)
        return -1;
    const struct yaml_node *schematics = NULL, *sources = NULL, *images = NULL, *talos_images = NULL;
    for (size_t i = 0; i < yaml_mapping_pairs(root); i++) {
        int f;
        if (field_of(p, root, i, "manifest", fields, &f) < 0)
            return -1;
        const struct yaml_node *v = yaml_mapping_value(root, i);
        int rc = 0;
        switch (f) {
        case 0: schematics = v; break;
        case 1: rc = get_list(p, v, "versions", &m->versions); break;
        case 2: rc = get_list(p, v, "architectures", &m->architectures); break;
        case 3: rc = get_list(p, v, "outputs", &m->outputs); break;
        case 4: sources = v; break;
        case 5: rc = parse_trust(p, v, m); break;
        case 6: rc = get_path(p, v, "signing_key", &m->signing_key); break;
        case 7: rc = get_path(p, v, "output", &m->output); break;
        case 8: rc = parse_secureboot(p, v, m); break;
        case 9: images = v; break;
        case 10: talos_images = v; break;
        case 11:
            rc = get_bool(p, v, "image-cache", &m->image_cache);
            m->image_cache_line = v->line;
            m->image_cache_column = v->column;
            break;
        }
        if (rc < 0)
            return -1;
    }
    if (!schematics)
        return fail(p, root, "manifest: missing 'schematics'; list at least one (e.g. - name: vanilla\n  schematic: {})");
    if (schematics->kind != YAML_NODE_SEQUENCE || schematics->count == 0)
        return fail(p, schematics, "schematics: expected a non-empty list of schematics");
    m->schematics = xcalloc(schematics->count, sizeof *m->schematics);
    for (size_t i = 0; i < schematics->count; i++) {
        struct manifest_schematic *s = &m->schematics[m->schematic_count++];
        if (parse_schematic_entry(p, schematics->items[i], i, s) < 0)
            return -1;
        for (size_t k = 0; k < i; k++) {
            if (!strcmp(m->schematics[k].name, s->name))
                return fail(p, schematics->items[i],
                            "schematics[%zu]: duplicate schematic name '%s' (first at "
                            "line %d)",
                            i, s->name, m->schematics[k].line);
            if (!strcmp(m->schematics[k].id, s->id))
                return fail(p, schematics->items[i],
                            "schematics[%zu]: duplicate schematic: '%s' has the same ID "
                            "%.12s... as '%s' (line %d); list it once",
                            i, s->name, s->id, m->schematics[k].name, m->schematics[k].line);
        }
    }
    if (sources) {
        if (sources->kind != YAML_NODE_SEQUENCE)
            return fail(p, sources, "sources: expected a list of sources");
        m->sources = xcalloc(sources->count + 1, sizeof *m->sources);
        for (size_t i = 0; i < sources->count; i++)
            if (parse_source(p, sources->items[i], i, &m->sources[m->source_count++]) < 0)
                return -1;
    }
    /* every source names an existing policy (images check their own as they are added) */
    size_t listed = m->source_count;
    for (size_t i = 0; i < listed; i++) {
        bool found = false;
        for (size_t t = 0; t < m->trust_count && !found; t++)
            found = !strcmp(m->trust[t].policy.name, m->sources[i].trust);
        if (!found)
            return fail(p, sources->items[i], "sources[%zu]: unknown trust policy '%s'; define it under 'trust:'%s", i,
                        m->sources[i].trust,
                        strcmp(m->sources[i].trust, "default") ? "" : " (a source without 'trust:' uses 'default')");
    }
    size_t cap = m->source_count + 1;
    if (images && parse_images(p, images, m, &cap) < 0)
        return -1;
    if (talos_images && parse_talos_images(p, talos_images, m, &cap) < 0)
        return -1;
    if (!m->signing_key)
        return fail(p, root,
                    "manifest: missing 'signing_key' (the private key that signs the bundle; make one with "
                    "'airfactory keygen')");
    if (!m->output)
        return fail(p, root, "manifest: missing 'output' (the bundle directory to write)");
    return 0;
}

int manifest_parse(const char *text, size_t len, const char *what, const char *base_dir, struct manifest **out,
                   struct error *err)
{
    *out = NULL;
    if (len > MANIFEST_MAX_SIZE)
        return error_set(err, ERROR_INPUT, "%s: manifest larger than %u bytes", what, MANIFEST_MAX_SIZE);
    struct yaml_node *root;
    if (yaml_document_load(text, len, what, &root, err) < 0)
        return -1;
    struct manifest *m = xcalloc(1, sizeof *m);
    if (path_absolute(base_dir, &m->dir, err) < 0) {
        yaml_node_free(root);
        free(m);
        return -1;
    }
    m->path = xstrdup(what);
    struct parser p = {what, m->dir, err};
    int rc = parse_root(&p, root, m);
    yaml_node_free(root);
    if (rc < 0) {
        manifest_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

int manifest_load(const char *path, struct manifest **out, struct error *err)
{
    *out = NULL;
    struct buffer text = BUFFER_INIT;
    if (fs_read_file(path, MANIFEST_MAX_SIZE, &text, err) < 0) {
        if (!fs_exists(path))
            err->code = ERROR_INPUT;
        return -1;
    }
    char *dir;
    const char *slash = strrchr(path, '/');
    dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
    int rc = manifest_parse(buffer_cstr(&text), text.len, path, dir, out, err);
    free(dir);
    buffer_free(&text);
    if (rc == 0) {
        char *abs = path_resolve((*out)->dir, slash ? slash + 1 : path);
        free((*out)->path);
        (*out)->path = abs;
    }
    return rc;
}

/* -------------------------------------------------------------------- plan */

struct planner {
    const struct manifest *m;
    struct plan *plan;
    struct error *err;
    size_t model_cap;
};

static int plan_fail(struct planner *pl, int line, int column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int plan_fail(struct planner *pl, int line, int column, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return error_set(pl->err, ERROR_INPUT, "%s:%d:%d: %s", pl->m->path, line, column, msg);
}

/* A file the manifest names must be a readable regular file now (fs_open_regular: a missing file,
 * a directory or a FIFO is refused at once, without blocking): "FILE:L:C: WHAT PATH: why[hint]". */
static int plan_file(struct planner *pl, int line, int column, const char *what, const char *path, const char *hint)
{
    struct error e;
    int fd = fs_open_regular(path, NULL, &e);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    return plan_fail(pl, line, column, "%s %s%s", what, e.message, hint);
}

void plan_free(struct plan *plan)
{
    if (!plan)
        return;
    free(plan->models);
    for (size_t i = 0; i < plan->source_count; i++)
        verify_policy_free(&plan->sources[i].policy);
    free(plan->sources);
    for (size_t i = 0; i < plan->version_count; i++)
        free(plan->versions[i]);
    free(plan->versions);
    profile_set_free(plan->profiles);
    free(plan);
}

const struct plan_source *plan_find_source(const struct plan *plan, enum source_role role, const char *version)
{
    for (size_t i = 0; i < plan->source_count; i++) {
        const struct manifest_source *s = plan->sources[i].source;
        if (s->role == role && (!version || !version[0] || !strcmp(s->version, version)))
            return &plan->sources[i];
    }
    return NULL;
}

static const struct manifest_source *find_source(const struct manifest *m, enum source_role role, const char *version)
{
    for (size_t i = 0; i < m->source_count; i++)
        if (m->sources[i].role == role && !strcmp(m->sources[i].version, version))
            return &m->sources[i];
    return NULL;
}

static int add_model(struct planner *pl, const struct manifest_schematic *s, const char *version,
                     const struct asset_path *asset)
{
    struct plan *plan = pl->plan;
    char path[ASSET_PATH_MAX];
    asset_path_format(asset, path);
    for (size_t i = 0; i < plan->model_count; i++)
        if (plan->models[i].schematic == s && !strcmp(plan->models[i].version, version) &&
            !strcmp(plan->models[i].path, path))
            return 0;
    if (plan->model_count == pl->model_cap) {
        pl->model_cap = pl->model_cap ? pl->model_cap * 2 : 64;
        plan->models = xrealloc(plan->models, pl->model_cap * sizeof *plan->models);
    }
    struct plan_model *model = &plan->models[plan->model_count++];
    memset(model, 0, sizeof *model);
    model->schematic = s;
    snprintf(model->version, sizeof model->version, "%s", version);
    snprintf(model->arch, sizeof model->arch, "%s", asset->arch);
    snprintf(model->path, sizeof model->path, "%s", path);
    model->asset = *asset;
    return 0;
}

/* Check one asset for one schematic and version; the output item's position is for errors. */
static bool image_cache_has_images(const struct manifest *m)
{
    for (size_t i = 0; i < m->source_count; i++)
        if (m->sources[i].role == SOURCE_ROLE_IMAGE)
            return true;
    return false;
}

bool manifest_schematic_image_cache(const struct manifest *m, const struct manifest_schematic *s)
{
    return s->image_cache >= 0 ? s->image_cache == 1 : m->image_cache;
}

static int check_model(struct planner *pl, const struct manifest_schematic *s, const char *version,
                       const struct talos_version *v, const struct asset_path *a, const char *output, int line,
                       int column)
{
    const struct profile_set *ps = pl->plan->profiles;
    const struct manifest *m = pl->m;
    struct talos_quirks q;
    profile_quirks(ps, v, a->arch, a->secureboot, &q);
    const struct profile_platform *platform = profile_platform_find(ps, a->platform);
    if (!platform)
        return plan_fail(pl, line, column, "output '%s': unknown platform '%s'; expected one of %s", output,
                         a->platform, profile_platform_names(ps));
    if (!profile_platform_available(platform, v))
        return plan_fail(pl, line, column, "output '%s': platform %s needs Talos %s or later, not %s", output,
                         platform->name, platform->since, version);
    /* Image Factory offers each platform for some arches only (platforms.go): digital-ocean-arm64.raw.gz
     * names nothing it serves. kernel/initramfs/installer are metal's and exist for every arch. */
    if (!profile_platform_has_arch(platform, a->arch) && a->kind != ASSET_KERNEL && a->kind != ASSET_INITRAMFS &&
        a->kind != ASSET_INSTALLER)
        return plan_fail(pl, line, column,
                         "output '%s': platform %s is not offered for %s; Image Factory offers it for "
                         "%s%s",
                         output, platform->name, a->arch, platform->arch_count ? platform->arches[0] : "no arch",
                         platform->arch_count > 1 ? " and others" : " only");
    /* a SecureBoot disk image of any platform, as Image Factory's ParseFromPath makes it (the
     * platform's own profile, SecureBoot on); only the version can refuse it, in IF's words (talos
     * pkg/imager/profile/profile.go Validate) */
    if (a->secureboot && !q.supports_uki)
        return plan_fail(pl, line, column,
                         "output '%s': secureboot is not supported for Talos version \"%s\" (Image "
                         "Factory's error: SecureBoot assets need v1.5.0 or later)",
                         output, version);
    if (a->kind == ASSET_UKI && !q.supports_uki)
        return plan_fail(pl, line, column, "output '%s': UKI assets need Talos v1.5.0 or later, not %s", output, version);
    if ((a->kind == ASSET_ISO || a->kind == ASSET_IMAGE) && manifest_schematic_image_cache(m, s)) {
        int cl = s->image_cache >= 0 ? s->image_cache_line : m->image_cache_line;
        int cc = s->image_cache >= 0 ? s->image_cache_column : m->image_cache_column;
        if (!q.supports_image_cache)
            return plan_fail(pl, cl, cc,
                             "image-cache: Talos %s has no image cache (needs v1.9.0 or later), but "
                             "schematic '%s' builds '%s' for it; drop that version or set 'image-cache: false' "
                             "on the schematic",
                             version, s->name, output);
        if (!image_cache_has_images(m))
            return plan_fail(pl, cl, cc,
                             "image-cache: true, but the manifest lists no 'images:' or "
                             "'talos-images:' to put in the cache; add them or drop 'image-cache'");
        for (size_t i = 0; i < m->source_count; i++) {
            const struct manifest_source *src = &m->sources[i];
            if (src->role != SOURCE_ROLE_IMAGE || !src->platforms.count)
                continue;
            bool has = false;
            for (size_t k = 0; k < src->platforms.count && !has; k++) {
                const char *pf = src->platforms.items[k];
                size_t al = strlen(a->arch);
                has = !strncmp(pf, "linux/", 6) && !strncmp(pf + 6, a->arch, al) && (!pf[6 + al] || pf[6 + al] == '/');
            }
            if (!has)
                return plan_fail(pl, src->platforms.line, src->platforms.column,
                                 "image %s: platforms has no "
                                 "linux/%s, which the image cache of '%s' (schematic '%s') needs; add it",
                                 src->reference, a->arch, output, s->name);
        }
    }
    if (a->secureboot && !m->secureboot_signing_key)
        return plan_fail(pl, line, column,
                         "output '%s': SecureBoot assets need a 'secureboot:' section with "
                         "signing_key and signing_cert [and pcr_key]",
                         output);
    /* includeWellKnownCertificates: Microsoft's KEK and db certificates in the enrollment files of
     * SecureBoot ISOs and disk images (Talos embeds them; airfactory ships none: the manifest names them) */
    if (a->secureboot && (a->kind == ASSET_ISO || a->kind == ASSET_IMAGE) &&
        s->schematic->include_well_known_certificates &&
        (!m->secureboot_well_known_kek.count || !m->secureboot_well_known_db.count))
        return plan_fail(pl, line, column,
                         "output '%s': schematic '%s' asks for includeWellKnownCertificates, but "
                         "the manifest's secureboot section names no %s; list the certificate files Talos enrolls "
                         "(internal/pkg/secureboot/database/certs: well_known_kek: Microsoft's KEK CA 2011 and "
                         "KEK 2K CA 2023; well_known_db: Microsoft's UEFI CA 2011, UEFI CA 2023 and Option ROM "
                         "UEFI CA 2023), airfactory ships none",
                         output, s->name,
                         !m->secureboot_well_known_kek.count && !m->secureboot_well_known_db.count
                             ? "well_known_kek and well_known_db"
                         : !m->secureboot_well_known_kek.count ? "well_known_kek"
                                                               : "well_known_db");
    const struct schematic *sch = s->schematic;
    bool needs_customization = a->kind != ASSET_KERNEL && a->kind != ASSET_CMDLINE;
    if (sch->embedded_machine_configuration[0] && needs_customization && !q.embedded_config)
        return plan_fail(pl, line, column,
                         "schematic '%s' embeds a machine configuration, which Talos %s cannot "
                         "(needs v1.12.0 or later); output '%s'",
                         s->name, version, output);
    if (schematic_has_overlay(sch) && a->kind != ASSET_KERNEL) {
        if (!q.supports_overlay)
            return plan_fail(pl, line, column,
                             "schematic '%s' has an overlay, which Talos %s does not support "
                             "(needs v1.7.0 or later)",
                             s->name, version);
        if (a->kind != ASSET_INITRAMFS && !find_source(m, SOURCE_ROLE_OVERLAYS, version))
            return plan_fail(pl, line, column,
                             "schematic '%s' has an overlay but no 'overlays' catalog source is "
                             "listed for %s; add one (reference ghcr.io/siderolabs/overlays:%s)",
                             s->name, version, version);
    }
    if (sch->extension_count && needs_customization && !find_source(m, SOURCE_ROLE_EXTENSIONS, version))
        return plan_fail(pl, line, column,
                         "schematic '%s' lists system extensions but no 'extensions' catalog "
                         "source is listed for %s; add one (reference ghcr.io/siderolabs/extensions:%s)",
                         s->name, version, version);
    if (a->kind == ASSET_INSTALLER) {
        const char *image = q.installer_base_image;
        enum source_role role =
            !strcmp(image, "siderolabs/installer") ? SOURCE_ROLE_INSTALLER : SOURCE_ROLE_INSTALLER_BASE;
        if (!find_source(m, role, version))
            return plan_fail(pl, line, column,
                             "output '%s' needs an '%s' source for %s; add one (reference "
                             "ghcr.io/%s:%s)",
                             output, source_role_name(role), version, image, version);
    }
    return 0;
}

/* Expand one output name for one arch; appends models. */
static int expand_output(struct planner *pl, const struct manifest_schematic *s, const char *version,
                         const struct talos_version *v, const char *arch, const char *output, int line, int column)
{
    const struct profile_set *ps = pl->plan->profiles;
    struct asset_path a;
    struct error perr = {0};
    if (!strncmp(output, "all-", 4)) {
        const struct profile_platform *p = profile_platform_find(ps, output + 4);
        if (!p)
            return plan_fail(pl, line, column, "output '%s': unknown platform '%s'; expected one of %s", output,
                             output + 4, profile_platform_names(ps));
        if (!profile_platform_has_arch(p, arch) || !profile_platform_available(p, v))
            return 1; /* nothing for this arch/version: not an error for the all- shorthand */
        /* what Image Factory's UI offers for the platform's boot methods */
        struct asset_path assets[8];
        int n = 0;
        asset_path_init(&assets[n++], ASSET_INSTALLER, NULL, arch, false);
        if (profile_platform_has_boot_method(p, "pxe")) {
            asset_path_init(&assets[n++], ASSET_KERNEL, NULL, arch, false);
            asset_path_init(&assets[n++], ASSET_INITRAMFS, NULL, arch, false);
            asset_path_init(&assets[n++], ASSET_CMDLINE, p->name, arch, false);
        }
        if (profile_platform_has_boot_method(p, "iso")) {
            asset_path_init(&assets[n++], ASSET_ISO, p->name, arch, false);
            asset_path_init(&assets[n++], ASSET_UKI, p->name, arch, false);
        }
        if (profile_platform_has_boot_method(p, "disk-image") && p->disk_image_suffix[0]) {
            asset_path_init(&assets[n], ASSET_IMAGE, p->name, arch, false);
            if (asset_path_set_image_suffix(&assets[n++], p->disk_image_suffix, &perr) < 0)
                return plan_fail(pl, line, column, "output '%s': %s (profile data)", output, perr.message);
        }
        int added = 0;
        for (int i = 0; i < n; i++) {
            if (check_model(pl, s, version, v, &assets[i], output, line, column) < 0 ||
                add_model(pl, s, version, &assets[i]) < 0)
                return -1;
            added++;
        }
        return added ? 0 : 1;
    }
    if (asset_path_parse(output, &a, &perr) == 0) {
        /* explicit architecture: built once, whatever the architectures list says */
        if (check_model(pl, s, version, v, &a, output, line, column) < 0)
            return -1;
        return add_model(pl, s, version, &a);
    }
    struct error serr = {0};
    if (asset_path_parse_archless(output, arch, &a, &serr) < 0)
        return plan_fail(pl, line, column,
                         "unknown output '%s' (%s); expected an Image Factory file name such as "
                         "metal-amd64.iso, kernel-arm64, installer-amd64.tar, aws-amd64.raw.xz, an arch-less form "
                         "(kernel, initramfs.xz, cmdline-metal, metal.iso, metal-uki.efi, installer.tar, "
                         "metal.raw.zst) or all-<platform>",
                         output, perr.message);
    const struct profile_platform *p = profile_platform_find(ps, a.platform);
    if (p && !profile_platform_has_arch(p, arch) && a.kind != ASSET_KERNEL && a.kind != ASSET_INITRAMFS &&
        a.kind != ASSET_INSTALLER)
        return 1; /* the platform is not offered on this arch: skip this arch */
    if (check_model(pl, s, version, v, &a, output, line, column) < 0)
        return -1;
    return add_model(pl, s, version, &a);
}

static const struct manifest_list *pick(const struct manifest_list *own, const struct manifest_list *global)
{
    return own->present ? own : global;
}

static int add_version(struct plan *plan, const char *version)
{
    for (size_t i = 0; i < plan->version_count; i++)
        if (!strcmp(plan->versions[i], version))
            return 0;
    plan->versions = xrealloc(plan->versions, (plan->version_count + 1) * sizeof *plan->versions);
    plan->versions[plan->version_count++] = xstrdup(version);
    return 0;
}

static int compare_versions(const void *pa, const void *pb)
{
    struct talos_version a, b;
    talos_version_parse(*(char *const *)pa, &a);
    talos_version_parse(*(char *const *)pb, &b);
    return talos_version_compare_semver(&a, &b);
}

static int plan_schematic(struct planner *pl, const struct manifest_schematic *s)
{
    const struct manifest *m = pl->m;
    const struct manifest_list *versions = pick(&s->versions, &m->versions);
    const struct manifest_list *arches = pick(&s->architectures, &m->architectures);
    const struct manifest_list *outputs = pick(&s->outputs, &m->outputs);
    const char *missing = !versions->present  ? "versions"
                          : !arches->present  ? "architectures"
                          : !outputs->present ? "outputs"
                                              : NULL;
    if (missing)
        return plan_fail(pl, s->line, s->column,
                         "schematic '%s': no %s; give '%s:' at the top level or in the "
                         "schematic",
                         s->name, missing, missing);
    if (!versions->count || !arches->count || !outputs->count)
        return plan_fail(pl,
                         !versions->count ? versions->line
                         : !arches->count ? arches->line
                                          : outputs->line,
                         !versions->count ? versions->column
                         : !arches->count ? arches->column
                                          : outputs->column,
                         "schematic '%s': an empty list builds nothing", s->name);
    for (size_t a = 0; a < arches->count; a++)
        if (strcmp(arches->items[a], "amd64") && strcmp(arches->items[a], "arm64"))
            return plan_fail(pl, arches->lines[a], arches->columns[a],
                             "unknown architecture '%s'; expected amd64 or "
                             "arm64",
                             arches->items[a]);
    for (size_t vi = 0; vi < versions->count; vi++) {
        const char *version = versions->items[vi];
        struct talos_version v;
        if (version[0] != 'v' || talos_version_parse(version, &v) < 0)
            return plan_fail(pl, versions->lines[vi], versions->columns[vi],
                             "'%s' is not a Talos version; expected "
                             "vX.Y.Z (e.g. v1.11.3)",
                             version);
        struct talos_quirks q;
        profile_quirks(pl->plan->profiles, &v, NULL, false, &q);
        if (!q.supported)
            return plan_fail(pl, versions->lines[vi], versions->columns[vi],
                             "Talos %s is not supported; Image "
                             "Factory builds v1.2.0 and later",
                             version);
        if (!find_source(m, SOURCE_ROLE_IMAGER, version))
            return plan_fail(pl, versions->lines[vi], versions->columns[vi],
                             "missing imager source for %s; add a "
                             "source with role: imager and reference ghcr.io/siderolabs/imager:%s",
                             version, version);
        add_version(pl->plan, version);
        for (size_t o = 0; o < outputs->count; o++) {
            bool any = false;
            for (size_t a = 0; a < arches->count; a++) {
                int rc = expand_output(pl, s, version, &v, arches->items[a], outputs->items[o], outputs->lines[o],
                                       outputs->columns[o]);
                if (rc < 0)
                    return -1;
                any |= rc == 0;
            }
            if (!any)
                return plan_fail(pl, outputs->lines[o], outputs->columns[o],
                                 "output '%s' builds nothing for Talos "
                                 "%s on the listed architectures (platform not offered there or not in that "
                                 "version)",
                                 outputs->items[o], version);
        }
    }
    return 0;
}

int manifest_plan(const struct manifest *m, struct plan **out, struct error *err)
{
    return manifest_plan_flags(m, 0, out, err);
}

int manifest_plan_flags(const struct manifest *m, unsigned flags, struct plan **out, struct error *err)
{
    *out = NULL;
    struct plan *plan = xcalloc(1, sizeof *plan);
    struct planner pl = {m, plan, err, 0};
    if (profile_set_load(&plan->profiles, err) < 0) {
        plan_free(plan);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < m->schematic_count && rc == 0; i++)
        rc = plan_schematic(&pl, &m->schematics[i]);
    /* sources: files must exist; each gets its policy */
    if (rc == 0) {
        plan->sources = xcalloc(m->source_count + 1, sizeof *plan->sources);
        for (size_t i = 0; i < m->source_count && rc == 0; i++) {
            const struct manifest_source *src = &m->sources[i];
            struct stat st;
            bool absent = stat(src->path, &st) != 0;
            if (absent && !(flags & MANIFEST_PLAN_SOURCES_ABSENT)) {
                rc = plan_fail(&pl, src->line, src->column,
                               "missing source file %s (%s %s); fetch it with its "
                               "signatures by `airfactory pull %s` (docs/pulling.md) or fix 'path'",
                               src->path, source_role_name(src->role), src->reference, m->path);
                break;
            }
            if (!absent && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
                rc = plan_fail(&pl, src->line, src->column,
                               "source %s (%s %s) is neither a file nor an OCI layout "
                               "directory (a FIFO or a device?); give the tarball or layout itself",
                               src->path, source_role_name(src->role), src->reference);
                break;
            }
            const struct manifest_trust *t = NULL;
            for (size_t k = 0; k < m->trust_count; k++)
                if (!strcmp(m->trust[k].policy.name, src->trust))
                    t = &m->trust[k];
            plan->sources[plan->source_count].source = src;
            verify_policy_copy(&plan->sources[plan->source_count].policy, &t->policy);
            plan->source_count++;
        }
    }
    for (size_t i = 0; i < m->trust_count && rc == 0; i++) {
        const struct verify_policy *p = &m->trust[i].policy;
        char what[128];
        for (size_t k = 0; k < p->public_key_count && rc == 0; k++) {
            snprintf(what, sizeof what, "trust.%s: public key file", p->name);
            rc = plan_file(&pl, m->trust[i].line, m->trust[i].column, what, p->public_keys[k], "");
        }
        snprintf(what, sizeof what, "trust.%s: trusted root", p->name);
        if (rc == 0 && p->trusted_root_path)
            rc = plan_file(&pl, m->trust[i].line, m->trust[i].column, what, p->trusted_root_path, "");
    }
    /* the bundle's signing key: a build that fails at its very end for a missing key is found now
     * (pull, which plans before its sources exist, signs nothing) */
    if (rc == 0 && m->signing_key && !(flags & MANIFEST_PLAN_SOURCES_ABSENT))
        rc = plan_file(&pl, m->line, m->column, "signing_key", m->signing_key,
                       "; make a key pair with `airfactory keygen -o NAME` (NAME.key signs, NAME.pub verifies)");
    const char *sb[] = {m->secureboot_signing_key, m->secureboot_signing_cert, m->secureboot_pcr_key};
    for (int i = 0; i < 3 && rc == 0; i++)
        if (sb[i])
            rc = plan_file(&pl, m->line, m->column, "secureboot", sb[i], "");
    const struct manifest_list *wk[] = {&m->secureboot_well_known_kek, &m->secureboot_well_known_db};
    for (int i = 0; i < 2 && rc == 0; i++)
        for (size_t k = 0; k < wk[i]->count && rc == 0; k++)
            rc = plan_file(&pl, wk[i]->lines[k], wk[i]->columns[k],
                           i ? "secureboot.well_known_db" : "secureboot.well_known_kek", wk[i]->items[k], "");
    if (rc < 0) {
        plan_free(plan);
        return -1;
    }
    qsort(plan->versions, plan->version_count, sizeof *plan->versions, compare_versions);
    *out = plan;
    return 0;
}
