/* extensions — see extensions.h. */
#include "imager/extensions.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/fs_root.h"
#include "core/memory.h"
#include "core/yaml_document.h"
#include "core/yaml_value.h"
#include "oci/layer_flatten.h"
#include "talos/version.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- manifest.yaml (read through core/yaml_document: its byte, depth and alias limits) ---- */

static int node_error(struct error *err, const char *where, const struct yaml_node *n, const char *what,
                      const char *problem)
{
    return error_set(err, ERROR_INPUT, "%s:%d:%d: %s%s", where, n->line, n->column, what, problem);
}

/* Go's yaml.v3 decodes any scalar into a string field as its text; null becomes "". */
static int scalar_string(const struct yaml_node *n, const char *where, const char *field, char **out, struct error *err)
{
    if (n->kind != YAML_NODE_SCALAR)
        return node_error(err, where, n, field, " must be a string");
    struct yaml_resolved r;
    bool null = n->style == YAML_NODE_PLAIN && yaml_node_resolve(n, where, &r, NULL) == 0 && r.type == YAML_RESOLVED_NULL;
    free(*out);
    *out = null ? xstrdup("") : xstrndup(n->value, n->length);
    return 0;
}

/* Walk a mapping (the loader already refused duplicate and non-scalar keys). */
typedef int (*pair_fn)(void *ctx, const char *key, const struct yaml_node *value, struct error *err);

static int each_pair(const struct yaml_node *map, const char *where, const char *what, pair_fn fn, void *ctx,
                     struct error *err)
{
    if (map->kind != YAML_NODE_MAPPING)
        return node_error(err, where, map, what,
                          map->kind == YAML_NODE_SCALAR && !map->length ? " is empty; expected a mapping"
                                                                        : " must be a mapping");
    for (size_t i = 0; i < yaml_mapping_pairs(map); i++)
        if (fn(ctx, yaml_mapping_key(map, i)->value, yaml_mapping_value(map, i), err) != 0)
            return -1;
    return 0;
}

struct manifest_parse {
    const char *where;
    struct extension_manifest *m;
    char *version; /* top-level "version" */
    bool have_metadata;
};

static int talos_pair(void *ctx, const char *key, const struct yaml_node *v, struct error *err)
{
    struct manifest_parse *mp = ctx;
    if (!strcmp(key, "version"))
        return scalar_string(v, mp->where, "metadata.compatibility.talos.version", &mp->m->talos_constraint, err);
    return 0; /* unknown fields are ignored, as Go's non-strict decoder does */
}

static int compat_pair(void *ctx, const char *key, const struct yaml_node *v, struct error *err)
{
    struct manifest_parse *mp = ctx;
    if (!strcmp(key, "talos"))
        return each_pair(v, mp->where, "metadata.compatibility.talos", talos_pair, mp, err);
    return 0;
}

static int metadata_pair(void *ctx, const char *key, const struct yaml_node *v, struct error *err)
{
    struct manifest_parse *mp = ctx;
    struct extension_manifest *m = mp->m;
    if (!strcmp(key, "name"))
        return scalar_string(v, mp->where, "metadata.name", &m->name, err);
    if (!strcmp(key, "version"))
        return scalar_string(v, mp->where, "metadata.version", &m->version, err);
    if (!strcmp(key, "author"))
        return scalar_string(v, mp->where, "metadata.author", &m->author, err);
    if (!strcmp(key, "description"))
        return scalar_string(v, mp->where, "metadata.description", &m->description, err);
    if (!strcmp(key, "extraInfo"))
        return scalar_string(v, mp->where, "metadata.extraInfo", &m->extra_info, err);
    if (!strcmp(key, "compatibility"))
        return each_pair(v, mp->where, "metadata.compatibility", compat_pair, mp, err);
    return 0;
}

static int top_pair(void *ctx, const char *key, const struct yaml_node *v, struct error *err)
{
    struct manifest_parse *mp = ctx;
    if (!strcmp(key, "version"))
        return scalar_string(v, mp->where, "version", &mp->version, err);
    if (!strcmp(key, "metadata")) {
        mp->have_metadata = true;
        return each_pair(v, mp->where, "metadata", metadata_pair, mp, err);
    }
    return 0;
}

void extension_manifest_free(struct extension_manifest *m)
{
    free(m->name);
    free(m->version);
    free(m->author);
    free(m->description);
    free(m->talos_constraint);
    free(m->extra_info);
    memset(m, 0, sizeof *m);
}

static void fill_empty(char **s)
{
    if (!*s)
        *s = xstrdup("");
}

int extension_manifest_parse(const char *text, size_t len, const char *where, struct extension_manifest *out,
                             struct error *err)
{
    memset(out, 0, sizeof *out);
    struct yaml_node *root;
    if (yaml_document_load(text, len, where, &root, err) < 0)
        return -1;
    struct manifest_parse mp = {where, out, NULL, false};
    int rc = root->kind != YAML_NODE_MAPPING
                 ? node_error(err, where, root, "the manifest must be a mapping, not ", yaml_node_describe(root))
                 : each_pair(root, where, "the manifest", top_pair, &mp, err);
    if (!rc && (!mp.version || strcmp(mp.version, "v1alpha1")))
        rc = error_set(err, ERROR_INPUT, "%s: unsupported manifest version \"%s\"; expected \"v1alpha1\"", where,
                       mp.version ? mp.version : "");
    if (!rc && !mp.have_metadata)
        rc = error_set(err, ERROR_INPUT, "%s: 'metadata:' is missing", where);
    fill_empty(&out->name);
    fill_empty(&out->version);
    fill_empty(&out->author);
    fill_empty(&out->description);
    fill_empty(&out->talos_constraint);
    fill_empty(&out->extra_info);
    if (!rc && !out->name[0])
        rc = error_set(err, ERROR_INPUT, "%s: metadata.name is missing or empty", where);
    if (!rc && !out->version[0])
        rc = error_set(err, ERROR_INPUT, "%s: metadata.version is missing or empty", where);
    if (!rc && out->talos_constraint[0]) {
        bool ok;
        if (semver_range_check(out->talos_constraint, "1.0.0", &ok, err) != 0)
            rc = error_prefix(err, "%s: metadata.compatibility.talos.version: ", where);
    }
    free(mp.version);
    yaml_node_free(root);
    if (rc)
        extension_manifest_free(out);
    return rc;
}

int extension_load(const char *dir, const char *label, struct extension *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    char *name = label ? xstrdup(label) : xasprintf("extension %s", dir);
    DIR *d = opendir(dir);
    if (!d) {
        error_errno(err, errno, "%s: cannot open the directory %s", name, dir);
        free(name);
        return -1;
    }
    bool have_manifest = false, have_rootfs = false;
    char *unexpected = NULL;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (!strcmp(de->d_name, "manifest.yaml"))
            have_manifest = true;
        else if (!strcmp(de->d_name, "rootfs"))
            have_rootfs = true;
        else if (!unexpected)
            unexpected = xstrdup(de->d_name);
    }
    closedir(d);
    int rc = -1;
    char *rootfs = path_join(dir, "rootfs"), *where = NULL;
    struct fs_root root = {.fd = -1};
    struct buffer text = BUFFER_INIT;
    struct stat st;
    if (unexpected) {
        error_set(err, ERROR_INPUT, "%s: unexpected entry \"%s\"; an extension holds only manifest.yaml and rootfs/",
                  name, unexpected);
        goto out;
    }
    if (!have_manifest) {
        error_set(err, ERROR_INPUT, "%s: %s/manifest.yaml is missing", name, dir);
        goto out;
    }
    /* rootfs is the extension's root at runtime: a real directory, never a link (a link to / would
     * make the build host's root file system the extension's content) */
    if (!have_rootfs || lstat(rootfs, &st) != 0 || !S_ISDIR(st.st_mode)) {
        error_set(err, ERROR_INPUT, "%s: %s is missing or not a directory%s", name, rootfs,
                  have_rootfs && S_ISLNK(st.st_mode) ? " (it is a symlink; an extension's rootfs must be a directory)"
                                                     : "");
        goto out;
    }
    /* manifest.yaml is read inside the image: a link resolves there, never on the build host */
    int fd = -1;
    if (fs_root_open(&root, dir, NULL, name, err) != 0)
        goto out;
    int found = fs_open_in_root(&root, "manifest.yaml", FS_ROOT_FILE, &fd, NULL, err);
    if (found == 0)
        error_set(err, ERROR_INPUT, "%s: %s/manifest.yaml is missing", name, dir);
    if (found <= 0)
        goto out;
    where = label ? xasprintf("%s: /manifest.yaml", label) : path_join(dir, "manifest.yaml");
    rc = fs_read_fd(fd, where, 1 << 20, &text, err);
    close(fd);
    if (rc == 0)
        rc = extension_manifest_parse(buffer_cstr(&text), text.len, where, &out->manifest, err);
    struct layer_label *labels = NULL;
    size_t label_count = 0;
    if (rc == 0 && (rc = layer_labels_read(dir, &labels, &label_count, err)) == 0) {
        /* the rootfs/ ones, re-rooted there (Talos: xattrPseudoFlags, relative to RootfsPath) */
        for (size_t i = 0; i < label_count; i++) {
            const char *p = labels[i].path;
            if (strncmp(p, "rootfs", 6) || (p[6] && p[6] != '/')) {
                free(labels[i].path);
                free(labels[i].label);
                continue;
            }
            char *rel = xstrdup(p[6] ? p + 7 : "");
            free(labels[i].path);
            labels[i].path = rel;
            labels[out->selinux_label_count++] = labels[i];
        }
        out->selinux_labels = labels;
    }
    if (rc == 0) {
        out->dir = xstrdup(dir);
        out->rootfs = rootfs;
        out->label = name;
        rootfs = name = NULL;
    }
out:
    if (root.fd >= 0)
        fs_root_close(&root);
    buffer_free(&text);
    free(unexpected);
    free(rootfs);
    free(where);
    free(name);
    return rc;
}

void extension_free(struct extension *e)
{
    free(e->dir);
    free(e->rootfs);
    free(e->label);
    extension_manifest_free(&e->manifest);
    layer_labels_free(e->selinux_labels, e->selinux_label_count);
    memset(e, 0, sizeof *e);
}

/* ---- semver ranges (blang/semver v4) over talos/version ---- */

/* A wildcard's number ("1" of "1.x"): digits without a leading zero, at most 100000. */
static int parse_number(const char **p, uint64_t *out)
{
    const char *s = *p;
    size_t n = 0;
    while (isdigit((unsigned char)s[n]))
        n++;
    if (!n || (n > 1 && s[0] == '0') || n > 6)
        return -1;
    *out = strtoull(s, NULL, 10);
    *p = s + n;
    return *out > 100000 ? -1 : 0;
}

enum semver_op { OP_EQ, OP_NE, OP_GT, OP_GE, OP_LT, OP_LE };

static bool op_holds(enum semver_op op, int cmp)
{
    switch (op) {
    case OP_EQ: return cmp == 0;
    case OP_NE: return cmp != 0;
    case OP_GT: return cmp > 0;
    case OP_GE: return cmp >= 0;
    case OP_LT: return cmp < 0;
    case OP_LE: return cmp <= 0;
    }
    return false;
}

/* One comparator token such as ">=1.2.3", "1.x", "!=v2.0.0"; evaluates it against v. */
static int comparator_check(const char *tok, const struct talos_version *v, bool *holds, const char *range,
                            struct error *err)
{
    const char *s = tok;
    enum semver_op op = OP_EQ;
    if (!strncmp(s, ">=", 2))
        op = OP_GE, s += 2;
    else if (!strncmp(s, "<=", 2))
        op = OP_LE, s += 2;
    else if (!strncmp(s, "!=", 2))
        op = OP_NE, s += 2;
    else if (!strncmp(s, "==", 2))
        op = OP_EQ, s += 2;
    else if (*s == '>')
        op = OP_GT, s++;
    else if (*s == '<')
        op = OP_LT, s++;
    else if (*s == '!')
        op = OP_NE, s++;
    else if (*s == '=')
        op = OP_EQ, s++;
    if (s[0] == 'v' && isdigit((unsigned char)s[1]))
        s++;
    if (strchr(s, 'x') || strchr(s, 'X') || strchr(s, '*')) {
        /* wildcard: "1.x" or "1.2.x", expanded as blang's expandWildcardVersion does */
        uint64_t major = 0, minor = 0;
        const char *p = s;
        bool minor_given = false;
        if (parse_number(&p, &major) || *p++ != '.')
            goto bad;
        if (*p == 'x' || *p == 'X' || *p == '*') {
            p++;
        } else {
            if (parse_number(&p, &minor) || *p++ != '.' || (*p != 'x' && *p != 'X' && *p != '*'))
                goto bad;
            p++;
            minor_given = true;
        }
        if (*p)
            goto bad;
        struct talos_version lo = {(unsigned)major, minor_given ? (unsigned)minor : 0, 0, ""};
        struct talos_version hi = {minor_given ? (unsigned)major : (unsigned)major + 1,
                                   minor_given ? (unsigned)minor + 1 : 0, 0, ""};
        int cl = talos_version_compare_semver(v, &lo), ch = talos_version_compare_semver(v, &hi);
        switch (op) {
        case OP_GT: *holds = ch >= 0; break;
        case OP_GE: *holds = cl >= 0; break;
        case OP_LT: *holds = cl < 0; break;
        case OP_LE: *holds = ch < 0; break;
        case OP_EQ: *holds = cl >= 0 && ch < 0; break;
        case OP_NE: *holds = cl < 0 || ch >= 0; break;
        }
        return 0;
    }
    struct talos_version c;
    if (talos_version_parse(s, &c) != 0)
        goto bad;
    *holds = op_holds(op, talos_version_compare_semver(v, &c));
    return 0;
bad:
    return error_set(err, ERROR_INPUT, "\"%s\": \"%s\" is not a version comparator like \">= 1.8.0\"", range, tok);
}

int semver_range_check(const char *range, const char *version, bool *satisfied, struct error *err)
{
    struct talos_version v;
    if (talos_version_parse(version, &v) != 0)
        return error_set(err, ERROR_INPUT, "\"%s\" is not a semantic version (X.Y.Z)", version);
    v.prerelease[0] = '\0'; /* the imager compares major.minor.patch only */
    /* tokens: split on blanks, but a blank right after an operator character joins (">= 1.0") */
    size_t n = strlen(range);
    char *norm = xmalloc(n + 2);
    size_t o = 0;
    char last = 0;
    for (size_t i = 0; i < n; i++) {
        char c = range[i];
        if (c == ' ' || c == '\t') {
            if (last == '>' || last == '<' || last == '=' || last == '!')
                continue;
            if (o && norm[o - 1] != ' ')
                norm[o++] = ' ';
            continue;
        }
        norm[o++] = c;
        last = c;
    }
    while (o && norm[o - 1] == ' ')
        o--;
    norm[o] = '\0';
    int rc = 0;
    bool any_group = false, result = false;
    char *save_group = NULL;
    /* OR groups separated by "||" */
    char *cursor = norm;
    while (cursor) {
        char *bar = strstr(cursor, "||");
        if (bar)
            *bar = '\0';
        char *group = cursor;
        cursor = bar ? bar + 2 : NULL;
        bool all = true, any_tok = false;
        char *tok = strtok_r(group, " ", &save_group);
        while (tok) {
            bool holds = false;
            if (comparator_check(tok, &v, &holds, range, err) != 0) {
                rc = -1;
                break;
            }
            any_tok = true;
            all = all && holds;
            tok = strtok_r(NULL, " ", &save_group);
        }
        if (rc)
            break;
        if (!any_tok) {
            rc = error_set(err, ERROR_INPUT, "\"%s\": empty version range", range);
            break;
        }
        any_group = true;
        result = result || all;
    }
    free(norm);
    if (rc)
        return -1;
    if (!any_group)
        return error_set(err, ERROR_INPUT, "\"%s\": empty version range", range);
    *satisfied = result;
    return 0;
}

int extension_check_compatibility(const struct extension *e, const char *talos_version, struct error *err)
{
    const char *c = e->manifest.talos_constraint;
    if (!c || !c[0])
        return 0;
    bool ok;
    if (semver_range_check(c, talos_version, &ok, err) != 0)
        return error_prefix(err, "%s (%s): ", e->label, e->manifest.name);
    if (!ok)
        return error_set(err, ERROR_INPUT,
                         "%s (%s %s): requires Talos %s, but the image is for %s; drop the extension "
                         "or pick a version it supports",
                         e->label, e->manifest.name, e->manifest.version, c, talos_version);
    return 0;
}

/* ---- extensions.yaml: Go's yaml encoder, through yaml_value (byte-compatible with go-yaml) ---- */

/* The Metadata struct: name, version, author, description, compatibility, extraInfo (omitempty). */
static struct yaml_value *metadata_value(const struct extension_manifest *m)
{
    struct yaml_value *md = yaml_value_new(YAML_VALUE_MAPPING);
    yaml_value_put_str(md, "name", yaml_value_string(m->name));
    yaml_value_put_str(md, "version", yaml_value_string(m->version));
    yaml_value_put_str(md, "author", yaml_value_string(m->author));
    yaml_value_put_str(md, "description", yaml_value_string(m->description));
    struct yaml_value *talos = yaml_value_new(YAML_VALUE_MAPPING);
    yaml_value_put_str(talos, "version", yaml_value_string(m->talos_constraint));
    struct yaml_value *compat = yaml_value_new(YAML_VALUE_MAPPING);
    yaml_value_put_str(compat, "talos", talos);
    yaml_value_put_str(md, "compatibility", compat);
    if (m->extra_info && m->extra_info[0])
        yaml_value_put_str(md, "extraInfo", yaml_value_string(m->extra_info));
    return md;
}

int extensions_yaml_write(const struct extensions_layer *layers, size_t count, struct buffer *out, struct error *err)
{
    struct yaml_value *list = yaml_value_new(YAML_VALUE_SEQUENCE);
    for (size_t i = 0; i < count; i++) {
        struct yaml_value *layer = yaml_value_new(YAML_VALUE_MAPPING);
        yaml_value_put_str(layer, "image", yaml_value_string(layers[i].image));
        yaml_value_put_str(layer, "metadata", metadata_value(layers[i].metadata));
        yaml_value_append(list, layer);
    }
    struct yaml_value *root = yaml_value_new(YAML_VALUE_MAPPING);
    yaml_value_put_str(root, "layers", list);
    int rc = yaml_value_encode(root, out, err);
    yaml_value_free(root);
    return rc ? error_prefix(err, "extensions.yaml: ") : 0;
}

int extension_manifest_write(const char *path, const struct extension_manifest *m, struct error *err)
{
    /* the Manifest struct: version, metadata */
    struct yaml_value *root = yaml_value_new(YAML_VALUE_MAPPING);
    yaml_value_put_str(root, "version", yaml_value_string("v1alpha1"));
    yaml_value_put_str(root, "metadata", metadata_value(m));
    struct buffer yaml = BUFFER_INIT;
    int rc = yaml_value_encode(root, &yaml, err);
    yaml_value_free(root);
    if (rc)
        rc = error_prefix(err, "%s: ", path);
    else
        rc = fs_write_file_atomic(path, yaml.data, yaml.len, 0644, err);
    buffer_free(&yaml);
    return rc;
}

/* ---- the virtual schematic extension ---- */

int extension_schematic_create(const char *dir, const struct schematic_extension *opts, struct error *err)
{
    if (!opts->schematic_id || !sha256_hex_valid(opts->schematic_id))
        return error_set(err, ERROR_INPUT, "schematic ID \"%s\" is not 64 lowercase hex digits",
                         opts->schematic_id ? opts->schematic_id : "");
    struct extension_manifest m = {
        .name = (char *)"schematic",
        .version = (char *)opts->schematic_id,
        .author = (char *)(opts->author ? opts->author : "Image Factory"),
        .description =
            (char *)(opts->description ? opts->description
                                       : "Virtual extension which specifies the schematic of the image built with "
                                         "schematic."),
        .talos_constraint = (char *)">= 1.0.0",
        .extra_info = (char *)(opts->schematic_yaml ? opts->schematic_yaml : ""),
    };
    char *schematic_dir = xasprintf("%s/rootfs/usr/local/share/schematic", dir);
    char *manifest = path_join(dir, "manifest.yaml");
    char *marker = path_join(schematic_dir, opts->schematic_id);
    int rc = fs_mkdir_p(schematic_dir, 0755, err);
    if (!rc)
        rc = extension_manifest_write(manifest, &m, err);
    if (!rc)
        rc = fs_write_file_atomic(marker, "", 0, 0644, err);
    free(schematic_dir);
    free(manifest);
    free(marker);
    return rc;
}

/* ---- the virtual embedded-config extension ---- */

int extension_embedded_config_create(const char *dir, const char *config, size_t len, struct error *err)
{
    char version[SHA256_HEX_LEN + 1];
    sha256_hex(config, len, version);
    struct extension_manifest m = {
        .name = (char *)"embedded-config",
        .version = version,
        .author = (char *)"Imager",
        .description = (char *)"Virtual extension which embeds the machine configuration.",
        .talos_constraint = (char *)">= 1.0.0",
        .extra_info = (char *)"",
    };
    char *config_dir = xasprintf("%s/rootfs/usr/local/etc/talos", dir);
    char *manifest = path_join(dir, "manifest.yaml");
    char *file = xasprintf("%s/rootfs/%s", dir, EXTENSION_EMBEDDED_CONFIG_PATH);
    int rc = fs_mkdir_p(config_dir, 0755, err);
    if (!rc)
        rc = extension_manifest_write(manifest, &m, err);
    if (!rc)
        rc = fs_write_file_atomic(file, config, len, 0400, err);
    free(config_dir);
    free(manifest);
    free(file);
    return rc;
}
