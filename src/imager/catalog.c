/* catalog — see catalog.h. */
#include "imager/catalog.h"
#include "core/digest.h"
#include "core/embed.h"
#include "core/memory.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

EMBED(airfactory_profiles_extension_aliases_yaml, "profiles/extension-aliases.yaml");

/* "ghcr.io/siderolabs/gvisor:v1@sha256:…" -> name "siderolabs/gvisor", tag, digest. The first
 * path component is a registry host when it holds a '.' or ':' or is "localhost" (Docker's rule). */
static int split_reference(const char *line, struct catalog_extension *e, const char *what, int lineno,
                           struct error *err)
{
    const char *at = strchr(line, '@');
    if (!at)
        return error_set(err, ERROR_INPUT, "%s: image-digests line %d: '%s' has no @sha256: digest", what, lineno,
                         line);
    char hex[SHA256_HEX_LEN + 1];
    if (digest_parse(at + 1, hex, err) != 0)
        return error_prefix(err, "%s: image-digests line %d: ", what, lineno);
    char *ref = xstrndup(line, (size_t)(at - line));
    const char *slash = strchr(ref, '/');
    const char *path = ref;
    if (slash) {
        size_t host_len = (size_t)(slash - ref);
        if (memchr(ref, '.', host_len) || memchr(ref, ':', host_len) ||
            (host_len == 9 && memcmp(ref, "localhost", 9) == 0))
            path = slash + 1;
    }
    const char *colon = strrchr(path, ':');
    if (!colon || colon[1] == '\0' || strchr(colon, '/')) {
        free(ref);
        return error_set(err, ERROR_INPUT, "%s: image-digests line %d: '%s' has no :tag", what, lineno, line);
    }
    e->name = xstrndup(path, (size_t)(colon - path));
    e->tag = xstrdup(colon + 1);
    e->reference = ref;
    e->digest = xstrdup(at + 1);
    e->author = xstrdup("");
    e->description = xstrdup("");
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

static const char *scalar(yaml_document_t *doc, yaml_node_t *node)
{
    (void)doc;
    return node && node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value : NULL;
}

static yaml_node_t *mapping_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const char *k = scalar(doc, yaml_document_get_node(doc, p->key));
        if (k && strcmp(k, key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

static int load_yaml(yaml_document_t *doc, const char *text, size_t len, const char *what, const char *file,
                     struct error *err)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return error_set(err, ERROR_RUNTIME, "%s: cannot initialise the YAML parser", what);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, doc)) {
        error_set(err, ERROR_INPUT, "%s: %s:%zu:%zu: %s", what, file, parser.problem_mark.line + 1,
                  parser.problem_mark.column + 1, parser.problem ? parser.problem : "invalid YAML");
        yaml_parser_delete(&parser);
        return -1;
    }
    yaml_parser_delete(&parser);
    return 0;
}

/* profiles/extension-aliases.yaml: `aliases:` mapping old name -> new name, nothing else. The data
 * is compiled in, so an error here is a broken build (ERROR_RUNTIME). */
static int load_aliases(struct catalog *c, struct error *err)
{
    const char *file = "profiles/extension-aliases.yaml";
    const char *text = airfactory_profiles_extension_aliases_yaml;
    yaml_document_t doc;
    if (load_yaml(&doc, text, strlen(text), "built-in data", file, err) != 0)
        return -1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *map = mapping_get(&doc, root, "aliases");
    if (!map || map->type != YAML_MAPPING_NODE || root->data.mapping.pairs.top - root->data.mapping.pairs.start != 1) {
        yaml_document_delete(&doc);
        return error_set(err, ERROR_RUNTIME, "built-in data: %s: expected only `aliases:` with a mapping", file);
    }
    size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    c->aliases = xcalloc(n ? n : 1, sizeof *c->aliases);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key), *v = yaml_document_get_node(&doc, p->value);
        const char *name = scalar(&doc, k), *alias = scalar(&doc, v);
        if (!name || !alias || !*name || !*alias) {
            yaml_document_delete(&doc);
            return error_set(err, ERROR_RUNTIME, "built-in data: %s:%zu: expected `old-name: new-name`", file,
                             k ? k->start_mark.line + 1 : 0);
        }
        c->aliases[c->alias_count].name = xstrdup(name);
        c->aliases[c->alias_count].alias = xstrdup(alias);
        c->alias_count++;
    }
    yaml_document_delete(&doc);
    return 0;
}

int catalog_parse_extensions(struct catalog *c, const char *image_digests, size_t image_digests_len,
                             const char *descriptions_yaml, size_t descriptions_len, const char *what,
                             struct error *err)
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
            return error_set(err, ERROR_INPUT, "%s: image-digests lists extension %s twice", what,
                             c->extensions[i].name);
    if (!descriptions_yaml || descriptions_len == 0)
        return 0;

    yaml_document_t doc;
    if (load_yaml(&doc, descriptions_yaml, descriptions_len, what, "descriptions.yaml", err) != 0)
        return -1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && root->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *pair = root->data.mapping.pairs.start; pair < root->data.mapping.pairs.top; pair++) {
            const char *key = scalar(&doc, yaml_document_get_node(&doc, pair->key));
            yaml_node_t *value = yaml_document_get_node(&doc, pair->value);
            if (!key)
                continue;
            const char *at = strchr(key, '@');
            for (size_t i = 0; i < c->extension_count; i++) {
                struct catalog_extension *e = &c->extensions[i];
                if (!at || strcmp(at + 1, e->digest) != 0)
                    continue;
                const char *author = scalar(&doc, mapping_get(&doc, value, "author"));
                const char *description = scalar(&doc, mapping_get(&doc, value, "description"));
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
    } else if (root) {
        yaml_document_delete(&doc);
        return error_set(err, ERROR_INPUT, "%s: descriptions.yaml: expected a mapping of image references", what);
    }
    yaml_document_delete(&doc);
    return 0;
}

int catalog_parse_overlays(struct catalog *c, const char *text, size_t len, const char *what, struct error *err)
{
    yaml_document_t doc;
    if (load_yaml(&doc, text, len, what, "overlays.yaml", err) != 0)
        return -1;
    yaml_node_t *list = mapping_get(&doc, yaml_document_get_root_node(&doc), "overlays");
    if (!list || list->type != YAML_SEQUENCE_NODE) {
        yaml_document_delete(&doc);
        return error_set(err, ERROR_INPUT, "%s: overlays.yaml: expected `overlays:` with a list", what);
    }
    size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
    c->overlays = xcalloc(n ? n : 1, sizeof *c->overlays);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(&doc, list->data.sequence.items.start[i]);
        const char *name = scalar(&doc, mapping_get(&doc, item, "name"));
        const char *image = scalar(&doc, mapping_get(&doc, item, "image"));
        const char *digest = scalar(&doc, mapping_get(&doc, item, "digest"));
        char hex[SHA256_HEX_LEN + 1];
        if (!name || !image || !digest || digest_parse(digest, hex, NULL) != 0) {
            yaml_document_delete(&doc);
            return error_set(err, ERROR_INPUT,
                             "%s: overlays.yaml: entry %zu needs name, image and a sha256 digest", what, i + 1);
        }
        struct catalog_overlay *o = &c->overlays[c->overlay_count++];
        o->name = xstrdup(name);
        o->reference = xstrdup(image);
        /* image path without registry host and tag, as schematics name overlays */
        const char *path = image;
        const char *slash = strchr(image, '/');
        if (slash && (memchr(image, '.', (size_t)(slash - image)) || memchr(image, ':', (size_t)(slash - image))))
            path = slash + 1;
        const char *colon = strrchr(path, ':');
        o->image = colon ? xstrndup(path, (size_t)(colon - path)) : xstrdup(path);
        o->digest = xstrdup(digest);
    }
    yaml_document_delete(&doc);
    qsort(c->overlays, c->overlay_count, sizeof *c->overlays, compare_overlays);
    return 0;
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
