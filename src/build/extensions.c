/* extensions — see include/airfactory/extensions.h. */
#include "airfactory/extensions.h"
#include "airfactory/digest.h"
#include "airfactory/fs.h"
#include "airfactory/memory.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

/* ---- manifest.yaml ---- */

static const char *node_type_name(yaml_node_type_t t)
{
    return t == YAML_MAPPING_NODE ? "a mapping" : t == YAML_SEQUENCE_NODE ? "a list" : "a scalar";
}

static int yaml_node_error(struct error *err, const char *where, const yaml_node_t *n, const char *fmt,
                           const char *a, const char *b)
{
    return error_set(err, ERROR_INPUT, "%s:%zu:%zu: %s%s%s", where, n->start_mark.line + 1, n->start_mark.column + 1,
                     fmt, a ? a : "", b ? b : "");
}

/* Go's yaml.v3 decodes any scalar into a string field as its text; null becomes "". */
static int scalar_string(yaml_document_t *doc, yaml_node_t *n, const char *where, const char *field, char **out,
                         struct error *err)
{
    (void)doc;
    if (n->type != YAML_SCALAR_NODE)
        return yaml_node_error(err, where, n, "", field, " must be a string");
    const char *v = (const char *)n->data.scalar.value;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        (!strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL")))
        v = "";
    free(*out);
    *out = xstrndup(v, n->data.scalar.length);
    return 0;
}

/* Walk a mapping; reject duplicate keys (yaml.v3 does). Calls fn for every pair. */
typedef int (*pair_fn)(void *ctx, yaml_document_t *doc, const char *key, yaml_node_t *value, struct error *err);

static int each_pair(yaml_document_t *doc, yaml_node_t *map, const char *where, const char *what, pair_fn fn,
                     void *ctx, struct error *err)
{
    if (map->type != YAML_MAPPING_NODE)
        return yaml_node_error(err, where, map, "", what, map->type == YAML_SCALAR_NODE &&
                                                                !map->data.scalar.length
                                                            ? " is empty; expected a mapping"
                                                            : " must be a mapping");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE)
            return yaml_node_error(err, where, k ? k : map, "keys of ", what, " must be strings");
        const char *key = (const char *)k->data.scalar.value;
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k2 = yaml_document_get_node(doc, q->key);
            if (k2 && k2->type == YAML_SCALAR_NODE && !strcmp((const char *)k2->data.scalar.value, key))
                return yaml_node_error(err, where, k, "duplicate key ", key, "");
        }
        if (fn(ctx, doc, key, v, err) != 0)
            return -1;
    }
    return 0;
}

struct manifest_parse {
    const char *where;
    struct extension_manifest *m;
    char *version; /* top-level "version" */
    bool have_metadata;
};

static int talos_pair(void *ctx, yaml_document_t *doc, const char *key, yaml_node_t *v, struct error *err)
{
    struct manifest_parse *mp = ctx;
    if (!strcmp(key, "version"))
        return scalar_string(doc, v, mp->where, "metadata.compatibility.talos.version", &mp->m->talos_constraint,
                             err);
    return 0; /* unknown fields are ignored, as Go's non-strict decoder does */
}

static int compat_pair(void *ctx, yaml_document_t *doc, const char *key, yaml_node_t *v, struct error *err)
{
    struct manifest_parse *mp = ctx;
    if (!strcmp(key, "talos"))
        return each_pair(doc, v, mp->where, "metadata.compatibility.talos", talos_pair, mp, err);
    return 0;
}

static int metadata_pair(void *ctx, yaml_document_t *doc, const char *key, yaml_node_t *v, struct error *err)
{
    struct manifest_parse *mp = ctx;
    struct extension_manifest *m = mp->m;
    if (!strcmp(key, "name"))
        return scalar_string(doc, v, mp->where, "metadata.name", &m->name, err);
    if (!strcmp(key, "version"))
        return scalar_string(doc, v, mp->where, "metadata.version", &m->version, err);
    if (!strcmp(key, "author"))
        return scalar_string(doc, v, mp->where, "metadata.author", &m->author, err);
    if (!strcmp(key, "description"))
        return scalar_string(doc, v, mp->where, "metadata.description", &m->description, err);
    if (!strcmp(key, "extraInfo"))
        return scalar_string(doc, v, mp->where, "metadata.extraInfo", &m->extra_info, err);
    if (!strcmp(key, "compatibility"))
        return each_pair(doc, v, mp->where, "metadata.compatibility", compat_pair, mp, err);
    return 0;
}

static int top_pair(void *ctx, yaml_document_t *doc, const char *key, yaml_node_t *v, struct error *err)
{
    struct manifest_parse *mp = ctx;
    if (!strcmp(key, "version"))
        return scalar_string(doc, v, mp->where, "version", &mp->version, err);
    if (!strcmp(key, "metadata")) {
        mp->have_metadata = true;
        return each_pair(doc, v, mp->where, "metadata", metadata_pair, mp, err);
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
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return error_set(err, ERROR_RUNTIME, "%s: cannot start the YAML parser", where);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        int rc = error_set(err, ERROR_INPUT, "%s:%zu:%zu: invalid YAML: %s%s%s", where,
                           parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                           parser.problem ? parser.problem : "syntax error", parser.context ? " " : "",
                           parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return rc;
    }
    yaml_parser_delete(&parser);
    struct manifest_parse mp = {where, out, NULL, false};
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        rc = error_set(err, ERROR_INPUT, "%s: empty manifest; expected 'version: v1alpha1' and 'metadata:'", where);
    } else if (root->type != YAML_MAPPING_NODE) {
        rc = yaml_node_error(err, where, root, "the manifest must be a mapping, not ", node_type_name(root->type),
                             "");
    } else {
        rc = each_pair(&doc, root, where, "the manifest", top_pair, &mp, err);
    }
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
            rc = error_prefix(err, "%s: metadata.compatibility.talos.version", where);
    }
    free(mp.version);
    yaml_document_delete(&doc);
    if (rc)
        extension_manifest_free(out);
    return rc;
}

int extension_load(const char *dir, struct extension *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d)
        return error_errno(err, errno, "extension %s: cannot open the directory", dir);
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
    if (unexpected) {
        error_set(err, ERROR_INPUT,
                  "extension %s: unexpected entry \"%s\"; an extension holds only manifest.yaml and rootfs/", dir,
                  unexpected);
        free(unexpected);
        return -1;
    }
    char *manifest_path = path_join(dir, "manifest.yaml");
    if (!have_manifest) {
        error_set(err, ERROR_INPUT, "extension %s: %s is missing", dir, manifest_path);
        free(manifest_path);
        return -1;
    }
    out->rootfs = path_join(dir, "rootfs");
    if (!have_rootfs || !fs_is_dir(out->rootfs)) {
        error_set(err, ERROR_INPUT, "extension %s: %s is missing or not a directory", dir, out->rootfs);
        free(manifest_path);
        free(out->rootfs);
        out->rootfs = NULL;
        return -1;
    }
    struct buffer text = BUFFER_INIT;
    int rc = fs_read_file(manifest_path, 1 << 20, &text, err);
    if (rc == 0)
        rc = extension_manifest_parse(buffer_cstr(&text), text.len, manifest_path, &out->manifest, err);
    buffer_free(&text);
    free(manifest_path);
    if (rc) {
        free(out->rootfs);
        out->rootfs = NULL;
        return -1;
    }
    out->dir = xstrdup(dir);
    return 0;
}

void extension_free(struct extension *e)
{
    free(e->dir);
    free(e->rootfs);
    extension_manifest_free(&e->manifest);
    memset(e, 0, sizeof *e);
}

/* ---- semver ranges (blang/semver v4) ---- */

struct semver {
    uint64_t major, minor, patch;
    char pre[128]; /* dot-separated pre-release identifiers, "" for a release */
};

static bool all_digits(const char *s, size_t n)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static int parse_number(const char **p, uint64_t *out)
{
    const char *s = *p;
    size_t n = 0;
    while (isdigit((unsigned char)s[n]))
        n++;
    if (!n || (n > 1 && s[0] == '0') || n > 18)
        return -1;
    *out = strtoull(s, NULL, 10);
    *p = s + n;
    return 0;
}

/* Strict X.Y.Z[-pre][+build]; a leading 'v' is dropped. */
static int semver_parse(const char *s, struct semver *v)
{
    memset(v, 0, sizeof *v);
    if (s[0] == 'v' && isdigit((unsigned char)s[1]))
        s++;
    if (parse_number(&s, &v->major) || *s++ != '.' || parse_number(&s, &v->minor) || *s++ != '.' ||
        parse_number(&s, &v->patch))
        return -1;
    if (*s == '-') {
        s++;
        size_t n = strcspn(s, "+");
        if (!n || n >= sizeof v->pre)
            return -1;
        memcpy(v->pre, s, n);
        v->pre[n] = '\0';
        s += n;
        for (const char *c = v->pre; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.')
                return -1;
    }
    if (*s == '+') {
        s++;
        if (!*s)
            return -1;
        s += strlen(s);
    }
    return *s ? -1 : 0;
}

static int compare_identifiers(const char *a, size_t la, const char *b, size_t lb)
{
    bool na = all_digits(a, la), nb = all_digits(b, lb);
    if (na && nb) {
        if (la != lb)
            return la < lb ? -1 : 1;
        int c = memcmp(a, b, la);
        return c < 0 ? -1 : c > 0;
    }
    if (na != nb)
        return na ? -1 : 1; /* numeric identifiers sort first */
    int c = memcmp(a, b, la < lb ? la : lb);
    if (c)
        return c < 0 ? -1 : 1;
    return la == lb ? 0 : (la < lb ? -1 : 1);
}

static int semver_compare(const struct semver *a, const struct semver *b)
{
    if (a->major != b->major)
        return a->major < b->major ? -1 : 1;
    if (a->minor != b->minor)
        return a->minor < b->minor ? -1 : 1;
    if (a->patch != b->patch)
        return a->patch < b->patch ? -1 : 1;
    if (!a->pre[0] || !b->pre[0])
        return a->pre[0] == b->pre[0] ? 0 : (a->pre[0] ? -1 : 1); /* a release sorts after its pre-releases */
    const char *pa = a->pre, *pb = b->pre;
    for (;;) {
        size_t la = strcspn(pa, "."), lb = strcspn(pb, ".");
        int c = compare_identifiers(pa, la, pb, lb);
        if (c)
            return c;
        pa += la;
        pb += lb;
        if (!*pa || !*pb)
            return *pa == *pb ? 0 : (*pa ? 1 : -1);
        pa++;
        pb++;
    }
}

enum semver_op { OP_EQ, OP_NE, OP_GT, OP_GE, OP_LT, OP_LE };

static bool op_holds(enum semver_op op, int cmp)
{
    switch (op) {
    case OP_EQ:
        return cmp == 0;
    case OP_NE:
        return cmp != 0;
    case OP_GT:
        return cmp > 0;
    case OP_GE:
        return cmp >= 0;
    case OP_LT:
        return cmp < 0;
    case OP_LE:
        return cmp <= 0;
    }
    return false;
}

/* One comparator token such as ">=1.2.3", "1.x", "!=v2.0.0"; evaluates it against v. */
static int comparator_check(const char *tok, const struct semver *v, bool *holds, const char *range,
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
        struct semver lo = {major, minor_given ? minor : 0, 0, ""};
        struct semver hi = {minor_given ? major : major + 1, minor_given ? minor + 1 : 0, 0, ""};
        int cl = semver_compare(v, &lo), ch = semver_compare(v, &hi);
        switch (op) {
        case OP_GT:
            *holds = ch >= 0;
            break;
        case OP_GE:
            *holds = cl >= 0;
            break;
        case OP_LT:
            *holds = cl < 0;
            break;
        case OP_LE:
            *holds = ch < 0;
            break;
        case OP_EQ:
            *holds = cl >= 0 && ch < 0;
            break;
        case OP_NE:
            *holds = cl < 0 || ch >= 0;
            break;
        }
        return 0;
    }
    struct semver c;
    if (semver_parse(s, &c) != 0)
        goto bad;
    *holds = op_holds(op, semver_compare(v, &c));
    return 0;
bad:
    return error_set(err, ERROR_INPUT, "\"%s\": \"%s\" is not a version comparator like \">= 1.8.0\"", range, tok);
}

int semver_range_check(const char *range, const char *version, bool *satisfied, struct error *err)
{
    struct semver v;
    if (semver_parse(version, &v) != 0)
        return error_set(err, ERROR_INPUT, "\"%s\" is not a semantic version (X.Y.Z)", version);
    v.pre[0] = '\0'; /* the imager compares major.minor.patch only */
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

int talos_version_parse(const char *version, unsigned *major, unsigned *minor, unsigned *patch)
{
    struct semver v;
    if (!version || semver_parse(version, &v) != 0 || v.major > 1000 || v.minor > 1000 || v.patch > 100000)
        return -1;
    *major = (unsigned)v.major;
    *minor = (unsigned)v.minor;
    *patch = (unsigned)v.patch;
    return 0;
}

bool talos_version_at_least(const char *version, unsigned major, unsigned minor)
{
    unsigned a, b, c;
    if (talos_version_parse(version, &a, &b, &c) != 0)
        return false;
    return a > major || (a == major && b >= minor);
}

int extension_check_compatibility(const struct extension *e, const char *talos_version, struct error *err)
{
    const char *c = e->manifest.talos_constraint;
    if (!c || !c[0])
        return 0;
    bool ok;
    if (semver_range_check(c, talos_version, &ok, err) != 0)
        return error_prefix(err, "extension %s (%s)", e->manifest.name, e->dir);
    if (!ok)
        return error_set(err, ERROR_INPUT,
                         "extension %s %s (%s): requires Talos %s, but the image is for %s; drop the extension "
                         "or pick a version it supports",
                         e->manifest.name, e->manifest.version, e->dir, c, talos_version);
    return 0;
}

/* ---- Go yaml.v3 scalar emission ---- */

static bool go_float_syntax(const char *s)
{
    /* ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    } else {
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
        if (*p == '.') {
            p++;
            while (isdigit((unsigned char)*p))
                p++;
        }
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return *p == '\0';
}

static bool go_parse_float_ok(const char *s)
{
    errno = 0;
    char *end;
    double d = strtod(s, &end);
    return *end == '\0' && !isinf(d);
}

/* Go strconv.ParseInt/ParseUint with base 0 on text without underscores. */
static bool go_int_syntax(const char *s)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (!*p)
        return false;
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        base = 16, p += 2;
    else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
        base = 8, p += 2;
    else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B'))
        base = 2, p += 2;
    else if (p[0] == '0' && p[1])
        base = 8, p += 1;
    if (!*p)
        return false;
    int bits = 0;
    for (const char *q = p; *q; q++) {
        int d;
        if (isdigit((unsigned char)*q))
            d = *q - '0';
        else if (isxdigit((unsigned char)*q))
            d = tolower((unsigned char)*q) - 'a' + 10;
        else
            return false;
        if (d >= base)
            return false;
        bits++;
    }
    /* overflow of 64 bits: a rough but safe bound (longer numbers are floats or strings) */
    errno = 0;
    unsigned long long u = strtoull(p, NULL, base);
    (void)u;
    return errno != ERANGE && bits > 0;
}

static bool go_timestamp_syntax(const char *s)
{
    /* parseTimestamp: exactly 4 digits then '-', then a date (optionally with a time) */
    for (int i = 0; i < 4; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    if (s[4] != '-')
        return false;
    const char *p = s + 5;
    int n = 0;
    while (isdigit((unsigned char)p[n]))
        n++;
    if (n < 1 || n > 2 || p[n] != '-')
        return false;
    p += n + 1;
    n = 0;
    while (isdigit((unsigned char)p[n]))
        n++;
    if (n < 1 || n > 2)
        return false;
    p += n;
    return *p == '\0' || *p == 'T' || *p == 't' || *p == ' ';
}

static bool go_base60_float(const char *s)
{
    /* ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$ */
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (!isdigit((unsigned char)*p))
        return false;
    while (isdigit((unsigned char)*p) || *p == '_')
        p++;
    int groups = 0;
    while (*p == ':') {
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        if (isdigit((unsigned char)p[1])) {
            if (*p > '5')
                return false;
            p += 2;
        } else {
            p++;
        }
        groups++;
    }
    if (!groups)
        return false;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p) || *p == '_')
            p++;
    }
    return *p == '\0';
}

/* True when yaml.v3 would resolve the plain text to something other than a string. */
static bool go_yaml_resolves_non_string(const char *s)
{
    static const char *const words[] = {"",      "~",     "null",  "Null",  "NULL",  "true",  "True",  "TRUE",
                                        "false", "False", "FALSE", ".nan",  ".NaN",  ".NAN",  ".inf",  ".Inf",
                                        ".INF",  "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", "<<",
                                        /* isOldBool: YAML 1.1 booleans are quoted too */
                                        "y",     "Y",     "yes",   "Yes",   "YES",   "on",    "On",    "ON",
                                        "n",     "N",     "no",    "No",    "NO",    "off",   "Off",   "OFF"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strcmp(s, words[i]))
            return true;
    if (go_base60_float(s))
        return true;
    char c = s[0];
    if (c == '.')
        return go_float_syntax(s) && go_parse_float_ok(s);
    if (c == '+' || c == '-' || isdigit((unsigned char)c)) {
        if (go_timestamp_syntax(s))
            return true;
        size_t n = strlen(s);
        char *plain = xmalloc(n + 1);
        size_t o = 0;
        for (size_t i = 0; i < n; i++)
            if (s[i] != '_')
                plain[o++] = s[i];
        plain[o] = '\0';
        bool r = go_int_syntax(plain) || (go_float_syntax(plain) && go_parse_float_ok(plain));
        free(plain);
        return r;
    }
    return false;
}

/* Decode one UTF-8 character; returns its length (1 for invalid bytes, with *cp = 0xFFFD). */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t n = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (!n) {
        *cp = 0xfffd;
        return 1;
    }
    uint32_t v = s[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *cp = 0xfffd;
            return 1;
        }
        v = v << 6 | (s[i] & 0x3f);
    }
    *cp = v;
    return n;
}

static bool yaml_printable(uint32_t c)
{
    return c == 0x0a || (c >= 0x20 && c <= 0x7e) || c == 0x85 || (c >= 0xa0 && c <= 0xd7ff) ||
           (c >= 0xe000 && c <= 0xfffd && c != 0xfeff) || (c >= 0x10000 && c <= 0x10ffff);
}

static bool is_break(uint32_t c)
{
    return c == '\n' || c == '\r' || c == 0x85 || c == 0x2028 || c == 0x2029;
}

struct scalar_analysis {
    bool block_plain_allowed, single_quoted_allowed, block_allowed, multiline;
};

/* libyaml's yaml_emitter_analyze_scalar, for block context. */
static struct scalar_analysis analyze(const char *s)
{
    struct scalar_analysis a = {true, true, true, false};
    size_t len = strlen(s);
    if (!len) {
        a.block_plain_allowed = false;
        a.block_allowed = false;
        return a;
    }
    bool block_indicators = false, flow_indicators = false, line_breaks = false, special = false;
    bool leading_space = false, leading_break = false, trailing_space = false, trailing_break = false;
    bool break_space = false, space_break = false, previous_space = false, previous_break = false;
    if (len >= 3 && (!strncmp(s, "---", 3) || !strncmp(s, "...", 3)))
        block_indicators = flow_indicators = true;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    bool preceded_by_ws = true;
    uint32_t c;
    size_t w = utf8_next(p, &c);
    bool followed_by_ws = p + w >= end || p[w] == ' ' || p[w] == '\t' || p[w] == '\n' || p[w] == '\r';
    bool first = true;
    while (p < end) {
        w = utf8_next(p, &c);
        bool last = p + w >= end;
        if (first) {
            if (c && strchr("#,[]{}&*!|>'\"%@`", (int)c)) {
                flow_indicators = block_indicators = true;
            }
            if (c == '?' || c == ':') {
                flow_indicators = true;
                if (followed_by_ws)
                    block_indicators = true;
            }
            if (c == '-' && followed_by_ws)
                flow_indicators = block_indicators = true;
        } else {
            if (c && strchr(",?[]{}", (int)c))
                flow_indicators = true;
            if (c == ':') {
                flow_indicators = true;
                if (followed_by_ws)
                    block_indicators = true;
            }
            if (c == '#' && preceded_by_ws)
                flow_indicators = block_indicators = true;
        }
        if (!yaml_printable(c))
            special = true;
        if (is_break(c))
            line_breaks = true;
        if (c == ' ') {
            if (first)
                leading_space = true;
            if (last)
                trailing_space = true;
            if (previous_break)
                break_space = true;
            previous_space = true;
            previous_break = false;
        } else if (is_break(c)) {
            if (first)
                leading_break = true;
            if (last)
                trailing_break = true;
            if (previous_space)
                space_break = true;
            previous_break = true;
            previous_space = false;
        } else {
            previous_space = previous_break = false;
        }
        preceded_by_ws = c == ' ' || c == '\t' || is_break(c);
        p += w;
        if (p < end) {
            uint32_t nc;
            size_t nw = utf8_next(p, &nc);
            followed_by_ws = p + nw >= end || p[nw] == ' ' || p[nw] == '\t' || p[nw] == '\n' || p[nw] == '\r';
        }
        first = false;
    }
    (void)flow_indicators;
    a.multiline = line_breaks;
    if (leading_space || leading_break || trailing_space || trailing_break)
        a.block_plain_allowed = false;
    if (trailing_space)
        a.block_allowed = false;
    if (break_space)
        a.block_plain_allowed = a.single_quoted_allowed = false;
    if (space_break || special)
        a.block_plain_allowed = a.single_quoted_allowed = a.block_allowed = false;
    if (line_breaks)
        a.block_plain_allowed = false;
    if (block_indicators)
        a.block_plain_allowed = false;
    return a;
}

static void append_double_quoted(struct buffer *out, const char *s)
{
    buffer_append_char(out, '"');
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t c;
        size_t w = utf8_next(p, &c);
        if (!yaml_printable(c) || c == 0xfeff || is_break(c) || c == '"' || c == '\\') {
            switch (c) {
            case 0:
                buffer_append_str(out, "\\0");
                break;
            case 7:
                buffer_append_str(out, "\\a");
                break;
            case 8:
                buffer_append_str(out, "\\b");
                break;
            case 9:
                buffer_append_str(out, "\\t");
                break;
            case 0xa:
                buffer_append_str(out, "\\n");
                break;
            case 0xb:
                buffer_append_str(out, "\\v");
                break;
            case 0xc:
                buffer_append_str(out, "\\f");
                break;
            case 0xd:
                buffer_append_str(out, "\\r");
                break;
            case 0x1b:
                buffer_append_str(out, "\\e");
                break;
            case '"':
                buffer_append_str(out, "\\\"");
                break;
            case '\\':
                buffer_append_str(out, "\\\\");
                break;
            case 0x85:
                buffer_append_str(out, "\\N");
                break;
            case 0xa0:
                buffer_append_str(out, "\\_");
                break;
            case 0x2028:
                buffer_append_str(out, "\\L");
                break;
            case 0x2029:
                buffer_append_str(out, "\\P");
                break;
            default:
                if (c <= 0xff)
                    buffer_appendf(out, "\\x%02X", c);
                else if (c <= 0xffff)
                    buffer_appendf(out, "\\u%04X", c);
                else
                    buffer_appendf(out, "\\U%08X", c);
            }
        } else {
            buffer_append(out, p, w);
        }
        p += w;
    }
    buffer_append_char(out, '"');
}

void go_yaml_append_scalar(struct buffer *out, const char *s, int indent)
{
    struct scalar_analysis a = analyze(s);
    bool quote_double = go_yaml_resolves_non_string(s);
    if (!quote_double && strchr(s, '\n')) {
        if (a.block_allowed) {
            /* literal block: "|", indentation hint when it starts with a blank, chomping hint */
            size_t len = strlen(s);
            buffer_append_char(out, '|');
            if (s[0] == ' ' || is_break((unsigned char)s[0]))
                buffer_appendf(out, "%d", 4);
            if (s[len - 1] != '\n')
                buffer_append_char(out, '-');
            else if (len == 1 || s[len - 2] == '\n')
                buffer_append_char(out, '+');
            buffer_append_char(out, '\n');
            const char *line = s;
            while (*line) {
                const char *nl = strchr(line, '\n');
                size_t n = nl ? (size_t)(nl - line) : strlen(line);
                if (n) {
                    for (int i = 0; i < indent; i++)
                        buffer_append_char(out, ' ');
                    buffer_append(out, line, n);
                }
                buffer_append_char(out, '\n');
                if (!nl)
                    return;
                line = nl + 1;
            }
            return;
        }
        quote_double = true;
    }
    if (!quote_double && a.block_plain_allowed) {
        buffer_append_str(out, s);
    } else if (!quote_double && a.single_quoted_allowed) {
        buffer_append_char(out, '\'');
        for (const char *p = s; *p; p++) {
            if (*p == '\'')
                buffer_append_char(out, '\'');
            buffer_append_char(out, *p);
        }
        buffer_append_char(out, '\'');
    } else {
        append_double_quoted(out, s);
    }
    buffer_append_char(out, '\n');
}

/* key: value at column `col`; nested content of the value goes 4 columns further in, rounded to a
 * multiple of 4 (yaml.v3: "everything else aligns to the chosen indentation"). */
static void emit_pair(struct buffer *out, int col, const char *key, const char *value)
{
    for (int i = 0; i < col; i++)
        buffer_append_char(out, ' ');
    buffer_appendf(out, "%s: ", key);
    go_yaml_append_scalar(out, value, 4 * ((col + 4) / 4));
}

static void emit_key(struct buffer *out, int col, const char *key)
{
    for (int i = 0; i < col; i++)
        buffer_append_char(out, ' ');
    buffer_appendf(out, "%s:\n", key);
}

static int nested(int col)
{
    return 4 * ((col + 4) / 4);
}

/* The Metadata struct (name, version, author, description, compatibility, extraInfo,omitempty)
 * as a block mapping whose keys sit at column col. */
static void emit_metadata(struct buffer *out, int col, const struct extension_manifest *m)
{
    emit_pair(out, col, "name", m->name);
    emit_pair(out, col, "version", m->version);
    emit_pair(out, col, "author", m->author);
    emit_pair(out, col, "description", m->description);
    emit_key(out, col, "compatibility");
    int c2 = nested(col);
    emit_key(out, c2, "talos");
    emit_pair(out, nested(c2), "version", m->talos_constraint);
    if (m->extra_info && m->extra_info[0])
        emit_pair(out, col, "extraInfo", m->extra_info);
}

void extensions_yaml_write(const struct extensions_layer *layers, size_t count, struct buffer *out)
{
    if (!count) {
        buffer_append_str(out, "layers: []\n");
        return;
    }
    buffer_append_str(out, "layers:\n");
    for (size_t i = 0; i < count; i++) {
        /* "    - " then the item mapping at column 6 (yaml.v3 skips the "- " indicator) */
        buffer_append_str(out, "    - image: ");
        go_yaml_append_scalar(out, layers[i].image, 8);
        emit_key(out, 6, "metadata");
        emit_metadata(out, nested(6), layers[i].metadata);
    }
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
        .description = (char *)(opts->description
                                    ? opts->description
                                    : "Virtual extension which specifies the schematic of the image built with "
                                      "schematic."),
        .talos_constraint = (char *)">= 1.0.0",
        .extra_info = (char *)(opts->schematic_yaml ? opts->schematic_yaml : ""),
    };
    struct buffer yaml = BUFFER_INIT;
    buffer_append_str(&yaml, "version: v1alpha1\nmetadata:\n");
    emit_metadata(&yaml, 4, &m);
    char *schematic_dir = xasprintf("%s/rootfs/usr/local/share/schematic", dir);
    char *manifest = path_join(dir, "manifest.yaml");
    char *marker = path_join(schematic_dir, opts->schematic_id);
    int rc = fs_mkdir_p(schematic_dir, 0755, err);
    if (!rc)
        rc = fs_write_file_atomic(manifest, yaml.data, yaml.len, 0644, err);
    if (!rc)
        rc = fs_write_file_atomic(marker, "", 0, 0644, err);
    free(schematic_dir);
    free(manifest);
    free(marker);
    buffer_free(&yaml);
    return rc;
}
