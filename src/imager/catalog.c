/* catalog — see catalog.h. */
#include "imager/catalog.h"
#include "core/digest.h"
#include "core/embed.h"
#include "core/memory.h"
#include "core/yaml_document.h"
#include "registry/registry_ref.h"

#include <stdlib.h>
#include <string.h>

EMBED(airfactory_profiles_extension_aliases_yaml, "profiles/extension-aliases.yaml");

/* "ghcr.io/siderolabs/gvisor:v1@sha256:…" -> name "siderolabs/gvisor", tag, digest: the reference
 * grammar is registry_ref's (distribution/reference, as go-containerregistry's name.NewTag that
 * Image Factory reads these lines with); the name is the repository path without the host. */
static int split_reference(const char *line, struct catalog_extension *e, const char *what, int lineno, struct error *err)
{
    const char *at = strchr(line, '@');
    if (!at)
        return error_set(err, ERROR_INPUT, "%s: image-digests line %d: '%s' has no @sha256: digest", what, lineno, line);
    struct registry_ref ref;
    if (registry_ref_parse(line, &ref, err) != 0)
        return error_prefix(err, "%s: image-digests line %d: ", what, lineno);
    if (!ref.tag) {
        registry_ref_free(&ref);
        return error_set(err, ERROR_INPUT, "%s: image-digests line %d: '%s' has no :tag", what, lineno, line);
    }
    e->name = xstrdup(ref.repository);
    e->tag = xstrdup(ref.tag);
    e->reference = xstrndup(line, (size_t)(at - line));
    e->digest = xstrdup(ref.digest);
    e->author = xstrdup("");
    e->description = xstrdup("");
    registry_ref_free(&ref);
    return 0;
}

static int compare_extensions(const void *a, const void *b)
{
    return strcmp(((const struct catalog_extension *)a)->name, ((const struct catalog_extension *)b)->name);
}

static int compare_overlays(const void *a, const void *b)
{
    return strcmp(((const struct catalog_overlay *)a)->name, ((const struct catalog_overlay *)b)->name);
}

/* A scalar's text, or NULL (absent or not a scalar). */
static const char *scalar(const struct yaml_node *node)
{
    return node && node->kind == YAML_NODE_SCALAR ? node->value : NULL;
}

static const struct yaml_node *mapping_get(const struct yaml_node *map, const char *key)
{
    return map && map->kind == YAML_NODE_MAPPING ? yaml_mapping_get(map, key) : NULL;
}

/* A catalog file through core/yaml_document (byte, depth and alias limits: these files come from
 * signed images, but a signature says who made a file, not that it is small). Errors read
 * "WHAT: FILE:line:column: …". */
static int load_yaml(const char *text, size_t len, const char *what, const char *file, struct yaml_node **root,
                     struct error *err)
{
    char *name = xasprintf("%s: %s", what, file);
    int rc = yaml_document_load(text, len, name, root, err);
    free(name);
    return rc;
}

/* profiles/extension-aliases.yaml: `aliases:` mapping old name -> new name, nothing else. The data
 * is compiled in, so an error here is a broken build (ERROR_RUNTIME). */
static int load_aliases(struct catalog *c, struct error *err)
{
    const char *file = "profiles/extension-aliases.yaml";
    const char *text = airfactory_profiles_extension_aliases_yaml;
    struct yaml_node *root;
    if (load_yaml(text, strlen(text), "built-in data", file, &root, err) != 0) {
        err->code = ERROR_RUNTIME;
        return -1;
    }
    const struct yaml_node *map = mapping_get(root, "aliases");
    if (!map || map->kind != YAML_NODE_MAPPING || yaml_mapping_pairs(root) != 1) {
        yaml_node_free(root);
        return error_set(err, ERROR_RUNTIME, "built-in data: %s: expected only `aliases:` with a mapping", file);
    }
    size_t n = yaml_mapping_pairs(map);
    c->aliases = xcalloc(n ? n : 1, sizeof *c->aliases);
    for (size_t i = 0; i < n; i++) {
        const struct yaml_node *k = yaml_mapping_key(map, i);
        const char *name = scalar(k), *alias = scalar(yaml_mapping_value(map, i));
        if (!name || !alias || !*name || !*alias) {
            yaml_node_free(root);
            return error_set(err, ERROR_RUNTIME, "built-in data: %s:%d: expected `old-name: new-name`", file, k->line);
        }
        c->aliases[c->alias_count].name = xstrdup(name);
        c->aliases[c->alias_count].alias = xstrdup(alias);
        c->alias_count++;
    }
    yaml_node_free(root);
    return 0;
}

int catalog_parse_extensions(struct catalog *c, const char *image_digests, size_t image_digests_len,
                             const char *descriptions_yaml, size_t descriptions_len, const char *what, struct error *err)
{
    if (!c->aliases && load_aliases(c, err) != 0)
        return -1;
    size_t cap = 0;
    int lineno = 0;
    const char *p = image_digests, *end = image_digests + image_digests_len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        lineno++;
        char *line = xstrndup(p, (size_t)(line_end - p));
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t n = strlen(s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
            s[--n] = '\0';
        if (n && s[0] != '#') {
            if (c->extension_count == cap) {
                cap = cap ? cap * 2 : 16;
                c->extensions = xrealloc(c->extensions, cap * sizeof *c->extensions);
            }
            struct catalog_extension *e = &c->extensions[c->extension_count];
            memset(e, 0, sizeof *e);
            if (split_reference(s, e, what, lineno, err) != 0) {
                free(line);
                return -1;
            }
            c->extension_count++;
        }
        free(line);
        p = nl ? nl + 1 : end;
    }
    if (c->extension_count)
        qsort(c->extensions, c->extension_count, sizeof *c->extensions, compare_extensions);
    for (size_t i = 1; i < c->extension_count; i++)
        if (strcmp(c->extensions[i].name, c->extensions[i - 1].name) == 0)
            return error_set(err, ERROR_INPUT, "%s: image-digests lists extension %s twice", what, c->extensions[i].name);
    if (!descriptions_yaml || descriptions_len == 0)
        return 0;

    struct yaml_node *root;
    if (load_yaml(descriptions_yaml, descriptions_len, what, "descriptions.yaml", &root, err) != 0)
        return -1;
    if (root->kind != YAML_NODE_MAPPING) {
        yaml_node_free(root);
        return error_set(err, ERROR_INPUT, "%s: descriptions.yaml: expected a mapping of image references", what);
    }
    for (size_t k = 0; k < yaml_mapping_pairs(root); k++) {
        const char *at = strchr(yaml_mapping_key(root, k)->value, '@');
        const struct yaml_node *value = yaml_mapping_value(root, k);
        for (size_t i = 0; at && i < c->extension_count; i++) {
            struct catalog_extension *e = &c->extensions[i];
            if (strcmp(at + 1, e->digest) != 0)
                continue;
            const char *author = scalar(mapping_get(value, "author"));
            const char *description = scalar(mapping_get(value, "description"));
            if (author) {
                free(e->author);
                e->author = xstrdup(author);
            }
            if (description) {
                free(e->description);
                e->description = xstrdup(description);
            }
        }
    }
    yaml_node_free(root);
    return 0;
}

int catalog_parse_overlays(struct catalog *c, const char *text, size_t len, const char *what, struct error *err)
{
    struct yaml_node *root;
    if (load_yaml(text, len, what, "overlays.yaml", &root, err) != 0)
        return -1;
    const struct yaml_node *list = mapping_get(root, "overlays");
    if (!list || list->kind != YAML_NODE_SEQUENCE) {
        yaml_node_free(root);
        return error_set(err, ERROR_INPUT, "%s: overlays.yaml: expected `overlays:` with a list", what);
    }
    size_t n = list->count;
    c->overlays = xcalloc(n ? n : 1, sizeof *c->overlays);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct yaml_node *item = list->items[i];
        const char *name = scalar(mapping_get(item, "name"));
        const char *image = scalar(mapping_get(item, "image"));
        const char *digest = scalar(mapping_get(item, "digest"));
        char hex[SHA256_HEX_LEN + 1];
        if (!name || !image || !digest || digest_parse(digest, hex, NULL) != 0) {
            rc = error_set(err, ERROR_INPUT, "%s: overlays.yaml:%d:%d: entry %zu needs name, image and a sha256 digest",
                           what, item->line, item->column, i + 1);
            break;
        }
        /* the image's repository path without registry host and tag, as schematics name overlays */
        struct registry_ref ref;
        if (registry_ref_parse(image, &ref, err) != 0) {
            rc = error_prefix(err, "%s: overlays.yaml:%d:%d: entry %zu: ", what, item->line, item->column, i + 1);
            break;
        }
        struct catalog_overlay *o = &c->overlays[c->overlay_count++];
        o->name = xstrdup(name);
        o->reference = xstrdup(image);
        o->image = xstrdup(ref.repository);
        o->digest = xstrdup(digest);
        registry_ref_free(&ref);
    }
    yaml_node_free(root);
    if (rc == 0)
        qsort(c->overlays, c->overlay_count, sizeof *c->overlays, compare_overlays);
    return rc;
}

static const struct catalog_extension *find_extension_exact(const struct catalog *c, const char *name)
{
    for (size_t i = 0; i < c->extension_count; i++)
        if (strcmp(c->extensions[i].name, name) == 0)
            return &c->extensions[i];
    return NULL;
}

const struct catalog_extension *catalog_find_extension(const struct catalog *c, const char *name)
{
    const struct catalog_extension *e = find_extension_exact(c, name);
    for (size_t i = 0; !e && i < c->alias_count; i++)
        if (strcmp(c->aliases[i].name, name) == 0)
            e = find_extension_exact(c, c->aliases[i].alias);
    return e;
}

const struct catalog_overlay *catalog_find_overlay(const struct catalog *c, const char *name)
{
    for (size_t i = 0; i < c->overlay_count; i++)
        if (strcmp(c->overlays[i].name, name) == 0)
            return &c->overlays[i];
    return NULL;
}

void catalog_free(struct catalog *c)
{
    for (size_t i = 0; i < c->extension_count; i++) {
        struct catalog_extension *e = &c->extensions[i];
        free(e->name);
        free(e->reference);
        free(e->tag);
        free(e->digest);
        free(e->author);
        free(e->description);
    }
    for (size_t i = 0; i < c->overlay_count; i++) {
        free(c->overlays[i].name);
        free(c->overlays[i].image);
        free(c->overlays[i].reference);
        free(c->overlays[i].digest);
    }
    for (size_t i = 0; i < c->alias_count; i++) {
        free(c->aliases[i].name);
        free(c->aliases[i].alias);
    }
    free(c->extensions);
    free(c->overlays);
    free(c->aliases);
    memset(c, 0, sizeof *c);
}
