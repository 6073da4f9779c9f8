/* verify_policy — see verify_policy.h. */
#include "verify/verify_policy.h"

#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airfactory/buffer.h"
#include "core/fs.h"
#include "core/memory.h"

static int fail(const struct verify_policy_context *ctx, const struct yaml_node *n, struct error *err, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));
static int fail(const struct verify_policy_context *ctx, const struct yaml_node *n, struct error *err, const char *fmt,
                ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return error_set(err, ERROR_INPUT, "%s:%d:%d: %s", ctx->what, n->line, n->column, msg);
}

static bool is_null(const struct yaml_node *n)
{
    struct yaml_resolved r;
    return n->kind == YAML_NODE_SCALAR && yaml_node_resolve(n, "", &r, NULL) == 0 && r.type == YAML_RESOLVED_NULL;
}

static int get_text(const struct verify_policy_context *ctx, const struct yaml_node *n, const char *field, char **out,
                    struct error *err)
{
    if (n->kind != YAML_NODE_SCALAR || is_null(n) || n->length == 0)
        return fail(ctx, n, err, "%s: expected a non-empty string, found %s", field, yaml_node_describe(n));
    free(*out);
    *out = xstrndup(n->value, n->length);
    return 0;
}

/* A file named by the policy: resolved against base_dir and, for a policy file, opened now. */
static int get_file(const struct verify_policy_context *ctx, const struct yaml_node *n, const char *field, char **out,
                    struct error *err)
{
    char *text = NULL;
    if (get_text(ctx, n, field, &text, err) < 0)
        return -1;
    char *path = path_resolve(ctx->base_dir, text);
    free(text);
    if (ctx->check_files) {
        struct error e;
        int fd = fs_open_regular(path, NULL, &e);
        if (fd < 0) {
            free(path);
            return fail(ctx, n, err, "%s: %s (paths are relative to the policy file)", field, e.message);
        }
        close(fd);
    }
    free(*out);
    *out = path;
    return 0;
}

/* The index of map's i-th key in fields, or an error naming the field and the expected ones. */
static int field_of(const struct verify_policy_context *ctx, const struct yaml_node *map, size_t i, const char *where,
                    const char *const *fields, struct error *err)
{
    const struct yaml_node *k = yaml_mapping_key(map, i);
    char msg[768];
    int f = yaml_field_lookup(k, fields, NULL, msg, sizeof msg);
    return f >= 0 ? f : fail(ctx, k, err, "%s: %s", where, msg);
}

static int expect_mapping(const struct verify_policy_context *ctx, const struct yaml_node *n, const char *where,
                          struct error *err)
{
    if (n->kind != YAML_NODE_MAPPING)
        return fail(ctx, n, err, "%s: expected a mapping, found %s", where, yaml_node_describe(n));
    return 0;
}

/* qsort has no context argument: decode_keys sets this around its call (thread-local, so
 * concurrent decoders do not share it). */
static _Thread_local char *const *sort_keys;

/* By path, then by position, so the first of equal paths sorts first. */
static int compare_keys(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int c = strcmp(sort_keys[x], sort_keys[y]);
    return c ? c : (x > y) - (x < y);
}

static int decode_keys(const struct verify_policy_context *ctx, const struct yaml_node *n, const char *where,
                       struct verify_policy *p, struct error *err)
{
    if (n->kind != YAML_NODE_SEQUENCE)
        return fail(ctx, n, err, "%s.keys: expected a list of PEM public key files, found %s", where,
                    yaml_node_describe(n));
    p->public_keys = xcalloc(n->count + 1, sizeof *p->public_keys);
    for (size_t i = 0; i < n->count; i++) {
        char field[192];
        snprintf(field, sizeof field, "%s.keys[%zu]", where, i);
        if (get_file(ctx, n->items[i], field, &p->public_keys[i], err) < 0)
            return -1;
        p->public_key_count++;
    }
    /* a key listed twice: sorted by path (a pairwise check is quadratic in the list's length) */
    size_t *order = xcalloc(n->count + 1, sizeof *order);
    for (size_t i = 0; i < n->count; i++)
        order[i] = i;
    sort_keys = p->public_keys;
    qsort(order, n->count, sizeof *order, compare_keys);
    sort_keys = NULL;
    int rc = 0;
    for (size_t i = 1; i < n->count && rc == 0; i++)
        if (!strcmp(p->public_keys[order[i - 1]], p->public_keys[order[i]]))
            rc = fail(ctx, n->items[order[i]], err, "%s.keys[%zu]: '%s' is listed twice (first at line %d)", where,
                      order[i], p->public_keys[order[i]], n->items[order[i - 1]]->line);
    free(order);
    return rc;
}

static int decode_keyless(const struct verify_policy_context *ctx, const struct yaml_node *n, const char *where,
                          struct verify_policy *p, struct error *err)
{
    static const char *const fields[] = {"issuer", "identity", "trusted_root", NULL};
    char kwhere[160];
    snprintf(kwhere, sizeof kwhere, "%s.keyless", where);
    if (expect_mapping(ctx, n, kwhere, err) < 0)
        return -1;
    for (size_t i = 0; i < yaml_mapping_pairs(n); i++) {
        int f = field_of(ctx, n, i, kwhere, fields, err);
        if (f < 0)
            return -1;
        const struct yaml_node *v = yaml_mapping_value(n, i);
        char field[192];
        snprintf(field, sizeof field, "%s.%s", kwhere, fields[f]);
        int rc = f == 0   ? get_text(ctx, v, field, &p->keyless_issuer, err)
                 : f == 1 ? get_text(ctx, v, field, &p->keyless_identity_regexp, err)
                          : get_file(ctx, v, field, &p->trusted_root_path, err);
        if (rc < 0)
            return -1;
        if (f == 1) {
            regex_t re;
            int rrc = regcomp(&re, p->keyless_identity_regexp, REG_EXTENDED | REG_NOSUB);
            if (rrc != 0) {
                char msg[256];
                regerror(rrc, &re, msg, sizeof msg);
                return fail(ctx, v, err, "%s: not a POSIX extended regular expression: %s", field, msg);
            }
            regfree(&re);
        }
    }
    if (!p->keyless_issuer || !p->keyless_identity_regexp || !p->trusted_root_path)
        return fail(ctx, n, err,
                    "%s: give all of issuer, identity (a regular expression over the certificate "
                    "identity) and trusted_root (a Sigstore trusted_root.json: there is no network to fetch it)",
                    kwhere);
    return 0;
}

static int decode(const struct yaml_node *node, const struct verify_policy_context *ctx, struct verify_policy *p,
                  struct error *err)
{
    static const char *const named[] = {"keys", "keyless", "insecure", "name", NULL};
    const char *where = ctx->where ? ctx->where : "policy";
    if (expect_mapping(ctx, node, where, err) < 0)
        return -1;
    const char *fields[5]; /* without "name" unless allowed */
    memcpy(fields, named, sizeof fields);
    if (!ctx->allow_name)
        fields[3] = NULL;
    bool has_keyless = false;
    for (size_t i = 0; i < yaml_mapping_pairs(node); i++) {
        int f = field_of(ctx, node, i, where, fields, err);
        if (f < 0)
            return -1;
        const struct yaml_node *v = yaml_mapping_value(node, i);
        char field[160];
        snprintf(field, sizeof field, "%s.%s", where, fields[f]);
        int rc = 0;
        switch (f) {
        case 0: rc = decode_keys(ctx, v, where, p, err); break;
        case 1:
            has_keyless = true;
            rc = decode_keyless(ctx, v, where, p, err);
            break;
        case 2: {
            struct yaml_resolved r;
            if (v->kind != YAML_NODE_SCALAR || yaml_node_resolve(v, ctx->what, &r, NULL) < 0 ||
                r.type != YAML_RESOLVED_BOOL)
                rc = fail(ctx, v, err, "%s: expected true or false, found %s", field, yaml_node_describe(v));
            else
                p->insecure = r.boolean;
            break;
        }
        case 3: rc = get_text(ctx, v, field, &p->name, err); break;
        }
        if (rc < 0)
            return -1;
    }
    if (p->insecure && (p->public_key_count || has_keyless))
        return fail(ctx, node, err, "%s: insecure: true cannot be combined with keys or keyless; choose one", where);
    if (!p->insecure && !p->public_key_count && !has_keyless)
        return fail(ctx, node, err,
                    "%s: the policy accepts nothing; give keys (e.g. keys: [cosign.pub]), keyless, "
                    "or insecure: true",
                    where);
    return 0;
}

int verify_policy_decode(const struct yaml_node *node, const struct verify_policy_context *ctx,
                         struct verify_policy *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    if (decode(node, ctx, out, err) < 0) {
        verify_policy_free(out);
        return -1;
    }
    return 0;
}

int verify_policy_load_file(const char *path, struct verify_policy *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    struct buffer text = BUFFER_INIT;
    if (fs_read_file(path, VERIFY_POLICY_MAX_FILE_BYTES, &text, err) < 0) {
        if (!fs_exists(path))
            err->code = ERROR_INPUT;
        return -1;
    }
    struct yaml_node *root;
    int rc = yaml_document_load(buffer_cstr(&text), text.len, path, &root, err);
    buffer_free(&text);
    if (rc < 0)
        return -1;
    const char *slash = strrchr(path, '/');
    char *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : NULL;
    char *base = NULL;
    rc = path_absolute(dir, &base, err);
    free(dir);
    if (rc == 0) {
        struct verify_policy_context ctx = {
            .what = path, .base_dir = base, .where = "policy", .allow_name = true, .check_files = true};
        rc = verify_policy_decode(root, &ctx, out, err);
    }
    free(base);
    yaml_node_free(root);
    if (rc == 0 && !out->name)
        out->name = xstrdup(slash ? slash + 1 : path);
    return rc;
}

void verify_policy_copy(struct verify_policy *dst, const struct verify_policy *src)
{
    memset(dst, 0, sizeof *dst);
    dst->name = src->name ? xstrdup(src->name) : NULL;
    dst->insecure = src->insecure;
    if (src->public_key_count) {
        dst->public_keys = xcalloc(src->public_key_count, sizeof *dst->public_keys);
        for (size_t i = 0; i < src->public_key_count; i++)
            dst->public_keys[i] = xstrdup(src->public_keys[i]);
        dst->public_key_count = src->public_key_count;
    }
    dst->keyless_issuer = src->keyless_issuer ? xstrdup(src->keyless_issuer) : NULL;
    dst->keyless_identity_regexp = src->keyless_identity_regexp ? xstrdup(src->keyless_identity_regexp) : NULL;
    dst->trusted_root_path = src->trusted_root_path ? xstrdup(src->trusted_root_path) : NULL;
}
