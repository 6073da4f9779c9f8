/* cmdline — see cmdline.h.
 *
 * The list algebra is a line-by-line port of siderolabs/go-procfs procfs/cmdline.go v0.1.2
 * (parse merges repeated keys, Set replaces in place, Delete removes matching values). */
#include "imager/cmdline.h"
#include "core/base64.h"
#include "core/memory.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ------------------------------------------------------------ list algebra */

static void param_free(struct cmdline_param *p)
{
    free(p->key);
    for (size_t i = 0; i < p->count; i++)
        free(p->values[i]);
    free(p->values);
}

void cmdline_free(struct cmdline *c)
{
    for (size_t i = 0; i < c->count; i++)
        param_free(&c->params[i]);
    free(c->params);
    c->params = NULL;
    c->count = 0;
}

static void param_add_value(struct cmdline_param *p, const char *value, size_t len)
{
    p->values = xrealloc(p->values, (p->count + 1) * sizeof *p->values);
    p->values[p->count++] = xstrndup(value, len);
}

static struct cmdline_param *find(struct cmdline *c, const char *key)
{
    for (size_t i = 0; i < c->count; i++)
        if (!strcmp(c->params[i].key, key))
            return &c->params[i];
    return NULL;
}

static struct cmdline_param *add_param(struct cmdline *c, const char *key, size_t len)
{
    c->params = xrealloc(c->params, (c->count + 1) * sizeof *c->params);
    struct cmdline_param *p = &c->params[c->count++];
    memset(p, 0, sizeof *p);
    p->key = xstrndup(key, len);
    return p;
}

/* go-procfs insert(): append to an existing key or add a new one */
static void insert(struct cmdline *c, const char *key, size_t key_len, const char *value, size_t value_len)
{
    char *k = xstrndup(key, key_len);
    struct cmdline_param *p = find(c, k);
    free(k);
    if (!p)
        p = add_param(c, key, key_len);
    param_add_value(p, value, value_len);
}

void cmdline_append(struct cmdline *c, const char *key, const char *value)
{
    insert(c, key, strlen(key), value, strlen(value));
}

/* Go unicode.IsSpace on the UTF-8 sequence at s; returns its byte length or 0. */
static size_t space_at(const unsigned char *s, size_t left)
{
    if (!left)
        return 0;
    switch (s[0]) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ': return 1;
    }
    if (left >= 2 && s[0] == 0xC2 && (s[1] == 0x85 || s[1] == 0xA0))
        return 2;
    if (left >= 3) {
        uint32_t cp = 0;
        if ((s[0] & 0xF0) == 0xE0)
            cp = ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
            cp == 0x205F || cp == 0x3000)
            return 3;
    }
    return 0;
}

/* go-procfs parse(strings.Join(args, " ")) */
static void parse_args(const char *const *args, size_t count, struct cmdline *out)
{
    for (size_t a = 0; a < count; a++) {
        const unsigned char *s = (const unsigned char *)args[a];
        size_t len = strlen(args[a]), i = 0;
        while (i < len) {
            size_t w;
            while (i < len && (w = space_at(s + i, len - i)))
                i += w;
            if (i >= len)
                break;
            size_t start = i;
            while (i < len && !space_at(s + i, len - i))
                i++;
            const char *field = (const char *)s + start;
            size_t flen = i - start;
            const char *eq = memchr(field, '=', flen);
            if (eq)
                insert(out, field, (size_t)(eq - field), eq + 1, flen - (size_t)(eq - field) - 1);
            else
                insert(out, field, flen, "", 0);
        }
    }
}

static void copy_param(struct cmdline_param *dst, const struct cmdline_param *src)
{
    memset(dst, 0, sizeof *dst);
    dst->key = xstrdup(src->key);
    for (size_t i = 0; i < src->count; i++)
        param_add_value(dst, src->values[i], strlen(src->values[i]));
}

/* go-procfs Set(k, p): replace in place or append */
static void set_param(struct cmdline *c, const struct cmdline_param *p)
{
    struct cmdline_param *existing = find(c, p->key);
    if (existing) {
        param_free(existing);
        copy_param(existing, p);
        return;
    }
    c->params = xrealloc(c->params, (c->count + 1) * sizeof *c->params);
    copy_param(&c->params[c->count++], p);
}

void cmdline_set_all(struct cmdline *c, const char *const *args, size_t count)
{
    struct cmdline parsed = CMDLINE_INIT;
    parse_args(args, count, &parsed);
    for (size_t i = 0; i < parsed.count; i++)
        set_param(c, &parsed.params[i]);
    cmdline_free(&parsed);
}

static void delete_all(struct cmdline *c, const char *key)
{
    for (size_t i = 0; i < c->count; i++)
        if (!strcmp(c->params[i].key, key)) {
            param_free(&c->params[i]);
            memmove(&c->params[i], &c->params[i + 1], (c->count - i - 1) * sizeof *c->params);
            c->count--;
            return;
        }
}

static void delete_values(struct cmdline *c, const char *key, char *const *values, size_t count)
{
    struct cmdline_param *p = find(c, key);
    if (!p)
        return;
    size_t kept = 0;
    for (size_t i = 0; i < p->count; i++) {
        bool drop = false;
        for (size_t v = 0; v < count && !drop; v++)
            drop = !strcmp(p->values[i], values[v]);
        if (drop)
            free(p->values[i]);
        else
            p->values[kept++] = p->values[i];
    }
    p->count = kept;
}

void cmdline_append_all(struct cmdline *c, const char *const *args, size_t count, const char *const *overwrite,
                        size_t overwrite_count, bool delete_negated)
{
    struct cmdline parsed = CMDLINE_INIT;
    parse_args(args, count, &parsed);
    for (size_t i = 0; i < parsed.count; i++) {
        const struct cmdline_param *p = &parsed.params[i];
        if (delete_negated && strlen(p->key) > 1 && p->key[0] == '-') {
            if (p->values[0][0] == '\0')
                delete_all(c, p->key + 1);
            else
                delete_values(c, p->key + 1, p->values, p->count);
            continue;
        }
        bool over = false;
        for (size_t o = 0; o < overwrite_count && !over; o++)
            over = !strcmp(overwrite[o], p->key);
        if (over) {
            set_param(c, p);
            continue;
        }
        for (size_t v = 0; v < p->count; v++)
            cmdline_append(c, p->key, p->values[v]);
    }
    cmdline_free(&parsed);
}

void cmdline_render(const struct cmdline *c, struct buffer *out)
{
    bool first = true;
    for (size_t i = 0; i < c->count; i++)
        for (size_t v = 0; v < c->params[i].count; v++) {
            if (!first)
                buffer_append_char(out, ' ');
            first = false;
            buffer_append_str(out, c->params[i].key);
            if (c->params[i].values[v][0]) {
                buffer_append_char(out, '=');
                buffer_append_str(out, c->params[i].values[v]);
            }
        }
}

/* -------------------------------------------------------------------- META */

/* gzip as Go's compress/gzip writes it at BestCompression: fixed header, raw deflate, CRC32, size */
static void gzip_best(const unsigned char *data, size_t len, struct buffer *out)
{
    static const unsigned char header[10] = {0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x02, 0xff};
    buffer_append(out, header, sizeof header);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        fprintf(stderr, "airfactory: zlib deflateInit2 failed\n");
        abort();
    }
    uLong bound = deflateBound(&z, (uLong)len);
    buffer_reserve(out, bound);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out->data + out->len;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH);
    if (rc != Z_STREAM_END) {
        fprintf(stderr, "airfactory: zlib deflate failed (%d)\n", rc);
        abort();
    }
    out->len += z.total_out;
    deflateEnd(&z);
    uint32_t crc = (uint32_t)crc32(0L, data, (uInt)len);
    uint32_t size = (uint32_t)len;
    unsigned char trailer[8];
    for (int i = 0; i < 4; i++) {
        trailer[i] = (unsigned char)(crc >> (8 * i));
        trailer[4 + i] = (unsigned char)(size >> (8 * i));
    }
    buffer_append(out, trailer, sizeof trailer);
}

void cmdline_meta_environment(const struct schematic_meta *meta, size_t count, bool allow_gzip, struct buffer *out)
{
    struct buffer raw = BUFFER_INIT;
    for (size_t i = 0; i < count; i++)
        buffer_appendf(&raw, "%s0x%x=%s", i ? ";" : "", meta[i].key, meta[i].value);
    if (allow_gzip && raw.len > 256) {
        struct buffer gz = BUFFER_INIT;
        gzip_best((const unsigned char *)raw.data, raw.len, &gz);
        base64_encode(gz.data, gz.len, out);
        buffer_free(&gz);
    } else {
        base64_encode(raw.data ? raw.data : "", raw.len, out);
    }
    buffer_free(&raw);
}

/* ------------------------------------------------------------------- build */

static void append_list(struct cmdline *c, const struct profile_args *args)
{
    cmdline_append_all(c, (const char *const *)args->items, args->count, NULL, 0, false);
}

int cmdline_build(const struct profile_set *profiles, const struct cmdline_request *req, struct buffer *out,
                  struct error *err)
{
    struct talos_version v;
    if (!req->version || talos_version_parse(req->version, &v) < 0)
        return error_set(err, ERROR_INPUT, "cmdline: invalid Talos version '%s'; expected vX.Y.Z",
                         req->version ? req->version : "(none)");
    const struct profile_platform *p = req->platform ? profile_platform_find(profiles, req->platform) : NULL;
    if (!p)
        return error_set(err, ERROR_INPUT, "cmdline: unknown platform '%s'; expected one of %s",
                         req->platform ? req->platform : "(none)", profile_platform_names(profiles));
    if (!req->arch || (strcmp(req->arch, "amd64") && strcmp(req->arch, "arm64")))
        return error_set(err, ERROR_INPUT, "cmdline: unknown architecture '%s'; expected amd64 or arm64",
                         req->arch ? req->arch : "(none)");
    const struct schematic *s = req->schematic;
    struct talos_quirks q;
    profile_quirks(profiles, &v, req->arch, req->secureboot, &q);

    struct cmdline c = CMDLINE_INIT;
    struct profile_args args = {NULL, 0};

    cmdline_append(&c, "talos.platform", p->name);

    profile_platform_kernel_args(profiles, p, req->arch, &v, &args);
    cmdline_set_all(&c, (const char *const *)args.items, args.count);
    profile_args_free(&args);

    if (req->kind == CMDLINE_KIND_ISO) {
        profile_iso_kernel_args(profiles, &v, &args);
        append_list(&c, &args);
        profile_args_free(&args);
    }

    if (req->overlay_arg_count)
        cmdline_set_all(&c, req->overlay_args, req->overlay_arg_count);

    profile_default_kernel_args(profiles, &v, &args);
    append_list(&c, &args);
    profile_args_free(&args);

    if (req->secureboot) {
        profile_secureboot_kernel_args(profiles, &v, &args);
        append_list(&c, &args);
        profile_args_free(&args);
    }

    /* Image Factory: installer and UKI outputs never carry META; disk images write it into the
     * META partition; everything else passes it on the command line */
    bool no_meta =
        req->kind == CMDLINE_KIND_INSTALLER || req->kind == CMDLINE_KIND_UKI || req->kind == CMDLINE_KIND_IMAGE;
    if (s && s->meta_count && !no_meta) {
        struct buffer env = BUFFER_INIT;
        buffer_append_str(&env, "INSTALLER_META_BASE64=");
        cmdline_meta_environment(s->meta, s->meta_count, q.compressed_meta, &env);
        cmdline_append(&c, "talos.environment", env.data);
        buffer_free(&env);
    }

    bool extra = s && s->extra_kernel_arg_count;
    if (extra && (req->kind == CMDLINE_KIND_INSTALLER || req->kind == CMDLINE_KIND_UKI))
        extra = q.installer_extra_kernel_args;
    if (extra) {
        static const char *const overwrite[] = {"console", "talos.platform"};
        cmdline_append_all(&c, (const char *const *)s->extra_kernel_args, s->extra_kernel_arg_count, overwrite, 2, true);
    }

    cmdline_render(&c, out);
    cmdline_free(&c);
    return 0;
}
