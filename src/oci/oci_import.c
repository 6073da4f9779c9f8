/* oci_import — see oci_import.h. */
#include "oci/oci_import.h"
#include "airfactory/buffer.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/memory.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ---- trust policy files ---- */

/* YAML (and JSON, which libyaml reads as flow YAML) into the json_value model, so one decoder
 * serves both and keeps json.h's strictness: duplicate keys and anchors/aliases are refused. */
struct yaml_reader {
    yaml_parser_t parser;
    const char *path;
};

static struct json_value *new_value(enum json_type type, const yaml_event_t *ev)
{
    struct json_value *v = xcalloc(1, sizeof *v);
    v->type = type;
    v->line = (int)ev->start_mark.line + 1;
    v->column = (int)ev->start_mark.column + 1;
    return v;
}

static int yaml_fail(struct yaml_reader *r, const yaml_event_t *ev, const char *what, struct error *err)
{
    if (ev)
        return error_set(err, ERROR_INPUT, "%s:%zu:%zu: %s", r->path, ev->start_mark.line + 1,
                         ev->start_mark.column + 1, what);
    return error_set(err, ERROR_INPUT, "%s:%zu:%zu: %s", r->path, r->parser.problem_mark.line + 1,
                     r->parser.problem_mark.column + 1, r->parser.problem ? r->parser.problem : "YAML syntax error");
}

static void push(struct json_value *parent, char *key, struct json_value *item)
{
    parent->items = xrealloc(parent->items, (parent->count + 1) * sizeof *parent->items);
    if (parent->type == JSON_OBJECT)
        parent->keys = xrealloc(parent->keys, (parent->count + 1) * sizeof *parent->keys);
    if (parent->type == JSON_OBJECT)
        parent->keys[parent->count] = key;
    parent->items[parent->count++] = item;
}

static int yaml_value(struct yaml_reader *r, yaml_event_t *ev, int depth, struct json_value **out, struct error *err);

static int yaml_next(struct yaml_reader *r, yaml_event_t *ev, struct error *err)
{
    if (!yaml_parser_parse(&r->parser, ev))
        return yaml_fail(r, NULL, NULL, err);
    return 0;
}

static int yaml_value(struct yaml_reader *r, yaml_event_t *ev, int depth, struct json_value **out, struct error *err)
{
    *out = NULL;
    if (depth > 32)
        return yaml_fail(r, ev, "nested too deeply", err);
    if (ev->type == YAML_ALIAS_EVENT)
        return yaml_fail(r, ev, "YAML aliases are not allowed in a policy", err);
    if (ev->type == YAML_SCALAR_EVENT) {
        const char *text = (const char *)ev->data.scalar.value;
        bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        struct json_value *v;
        if (plain && (!strcmp(text, "true") || !strcmp(text, "false"))) {
            v = new_value(JSON_BOOL, ev);
            v->boolean = text[0] == 't';
        } else if (plain && (!strcmp(text, "null") || !strcmp(text, "~") || !text[0])) {
            v = new_value(JSON_NULL, ev);
        } else {
            v = new_value(JSON_STRING, ev);
            v->text = xstrndup(text, ev->data.scalar.length);
            v->text_len = strlen(v->text);
        }
        *out = v;
        return 0;
    }
    bool mapping = ev->type == YAML_MAPPING_START_EVENT;
    if (!mapping && ev->type != YAML_SEQUENCE_START_EVENT)
        return yaml_fail(r, ev, "unexpected YAML event", err);
    struct json_value *v = new_value(mapping ? JSON_OBJECT : JSON_ARRAY, ev);
    for (;;) {
        yaml_event_t child;
        if (yaml_next(r, &child, err) != 0) {
            json_free(v);
            return -1;
        }
        if (child.type == YAML_MAPPING_END_EVENT || child.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&child);
            break;
        }
        char *key = NULL;
        if (mapping) {
            if (child.type != YAML_SCALAR_EVENT) {
                yaml_fail(r, &child, "keys must be plain strings", err);
                yaml_event_delete(&child);
                json_free(v);
                return -1;
            }
            key = xstrdup((const char *)child.data.scalar.value);
            for (size_t i = 0; i < v->count; i++) {
                if (!strcmp(v->keys[i], key)) {
                    yaml_fail(r, &child, "duplicate key", err);
                    free(key);
                    yaml_event_delete(&child);
                    json_free(v);
                    return -1;
                }
            }
            yaml_event_delete(&child);
            if (yaml_next(r, &child, err) != 0) {
                free(key);
                json_free(v);
                return -1;
            }
        }
        struct json_value *item;
        int rc = yaml_value(r, &child, depth + 1, &item, err);
        yaml_event_delete(&child);
        if (rc != 0) {
            free(key);
            json_free(v);
            return -1;
        }
        push(v, key, item);
    }
    *out = v;
    return 0;
}

static int yaml_parse_document(const char *path, const struct buffer *text, struct json_value **out, struct error *err)
{
    struct yaml_reader r = {.path = path};
    *out = NULL;
    if (!yaml_parser_initialize(&r.parser))
        return error_set(err, ERROR_RUNTIME, "%s: cannot initialise the YAML parser", path);
    yaml_parser_set_input_string(&r.parser, (const unsigned char *)text->data, text->len);
    yaml_event_t ev;
    int rc = -1;
    bool started = false;
    for (;;) {
        if (yaml_next(&r, &ev, err) != 0)
            goto done;
        yaml_event_type_t type = ev.type;
        if (type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (type == YAML_DOCUMENT_START_EVENT && started) {
            yaml_fail(&r, &ev, "only one YAML document is allowed", err);
            yaml_event_delete(&ev);
            goto done;
        }
        if (type == YAML_DOCUMENT_START_EVENT)
            started = true;
        if (type == YAML_MAPPING_START_EVENT || type == YAML_SEQUENCE_START_EVENT || type == YAML_SCALAR_EVENT ||
            type == YAML_ALIAS_EVENT) {
            int vr = yaml_value(&r, &ev, 0, out, err);
            yaml_event_delete(&ev);
            if (vr != 0)
                goto done;
            continue;
        }
        yaml_event_delete(&ev);
    }
    if (!*out) {
        error_set(err, ERROR_INPUT, "%s: empty policy; write at least `insecure: true` or `keys: [cosign.pub]`", path);
        goto done;
    }
    rc = 0;
done:
    if (rc != 0) {
        json_free(*out);
        *out = NULL;
    }
    yaml_parser_delete(&r.parser);
    return rc;
}

static char *relative_to(const char *policy_path, const char *file)
{
    if (file[0] == '/')
        return xstrdup(file);
    const char *slash = strrchr(policy_path, '/');
    if (!slash)
        return xstrdup(file);
    char *dir = xstrndup(policy_path, (size_t)(slash - policy_path));
    char *p = path_join(dir, file);
    free(dir);
    return p;
}

static int policy_file_field(const char *path, const struct json_value *v, const char *field, char **out,
                             struct error *err)
{
    if (!v || v->type != JSON_STRING || !v->text[0])
        return error_set(err, ERROR_INPUT, "%s:%d:%d: %s must be a file name", path, v ? v->line : 0,
                         v ? v->column : 0, field);
    char *p = relative_to(path, v->text);
    if (!fs_exists(p)) {
        error_set(err, ERROR_INPUT, "%s:%d:%d: %s '%s' not found (paths are relative to the policy file)", path,
                  v->line, v->column, field, p);
        free(p);
        return -1;
    }
    *out = p;
    return 0;
}

static int policy_decode(const char *path, const struct json_value *root, struct verify_policy *p, struct error *err)
{
    if (root->type != JSON_OBJECT)
        return error_set(err, ERROR_INPUT, "%s: a policy is a mapping with keys, keyless, insecure, name", path);
    for (size_t i = 0; i < root->count; i++) {
        const char *k = root->keys[i];
        const struct json_value *v = root->items[i];
        if (!strcmp(k, "name")) {
            if (v->type != JSON_STRING)
                return error_set(err, ERROR_INPUT, "%s:%d:%d: name must be a string", path, v->line, v->column);
            free(p->name);
            p->name = xstrdup(v->text);
        } else if (!strcmp(k, "insecure")) {
            if (v->type != JSON_BOOL)
                return error_set(err, ERROR_INPUT, "%s:%d:%d: insecure must be true or false", path, v->line,
                                 v->column);
            p->insecure = v->boolean;
        } else if (!strcmp(k, "keys")) {
            size_t n = v->type == JSON_ARRAY ? v->count : 1;
            if (v->type != JSON_ARRAY && v->type != JSON_STRING)
                return error_set(err, ERROR_INPUT, "%s:%d:%d: keys must be a list of PEM public key files", path,
                                 v->line, v->column);
            p->public_keys = xcalloc(n ? n : 1, sizeof *p->public_keys);
            for (size_t j = 0; j < n; j++) {
                if (policy_file_field(path, v->type == JSON_ARRAY ? v->items[j] : v, "key", &p->public_keys[j],
                                      err) != 0)
                    return -1;
                p->public_key_count++;
            }
        } else if (!strcmp(k, "keyless")) {
            if (v->type != JSON_OBJECT)
                return error_set(err, ERROR_INPUT, "%s:%d:%d: keyless must be a mapping {issuer, identity, "
                                 "trusted_root}", path, v->line, v->column);
            for (size_t j = 0; j < v->count; j++) {
                const struct json_value *f = v->items[j];
                const char *fk = v->keys[j];
                if (!strcmp(fk, "trusted_root")) {
                    if (policy_file_field(path, f, "trusted_root", &p->trusted_root_path, err) != 0)
                        return -1;
                } else if (!strcmp(fk, "issuer") || !strcmp(fk, "identity")) {
                    if (f->type != JSON_STRING || !f->text[0])
                        return error_set(err, ERROR_INPUT, "%s:%d:%d: keyless.%s must be a non-empty string", path,
                                         f->line, f->column, fk);
                    char **slot = !strcmp(fk, "issuer") ? &p->keyless_issuer : &p->keyless_identity_regexp;
                    *slot = xstrdup(f->text);
                } else {
                    return error_set(err, ERROR_INPUT, "%s:%d:%d: unknown key keyless.%s; expected issuer, identity, "
                                     "trusted_root", path, f->line, f->column, fk);
                }
            }
            if (!p->keyless_issuer || !p->keyless_identity_regexp || !p->trusted_root_path)
                return error_set(err, ERROR_INPUT,
                                 "%s:%d:%d: keyless needs all of issuer, identity and trusted_root (Sigstore's "
                                 "trusted_root.json: there is no network to fetch it)",
                                 path, v->line, v->column);
        } else {
            return error_set(err, ERROR_INPUT, "%s:%d:%d: unknown key '%s'; expected name, keys, keyless, insecure",
                             path, v->line, v->column, k);
        }
    }
    if (!p->insecure && !p->public_key_count && !p->keyless_issuer)
        return error_set(err, ERROR_INPUT,
                         "%s: the policy trusts nothing: add keys: [cosign.pub] or keyless: {...}, or set "
                         "insecure: true to accept unsigned images",
                         path);
    return 0;
}

int oci_import_policy_load(const char *path, struct verify_policy *p, struct error *err)
{
    memset(p, 0, sizeof *p);
    struct buffer text = BUFFER_INIT;
    if (fs_read_file(path, 1 << 20, &text, err) != 0)
        return -1;
    struct json_value *root;
    int rc = yaml_parse_document(path, &text, &root, err);
    buffer_free(&text);
    if (rc != 0)
        return -1;
    rc = policy_decode(path, root, p, err);
    json_free(root);
    if (rc == 0 && !p->name) {
        const char *base = strrchr(path, '/');
        p->name = xstrdup(base ? base + 1 : path);
    }
    if (rc != 0)
        oci_import_policy_free(p);
    return rc;
}

void oci_import_policy_free(struct verify_policy *p)
{
    free(p->name);
    for (size_t i = 0; i < p->public_key_count; i++)
        free(p->public_keys[i]);
    free(p->public_keys);
    free(p->keyless_issuer);
    free(p->keyless_identity_regexp);
    free(p->trusted_root_path);
    memset(p, 0, sizeof *p);
}

int64_t oci_import_timestamp(void)
{
    const char *s = getenv("SOURCE_DATE_EPOCH");
    if (!s || !*s)
        return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < 0)
        return 0;
    return (int64_t)v;
}

/* ---- import ---- */

static void append_blobs(struct oci_layout_image *img, const struct store_source_blob *extra, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t j = 0; j < img->blob_count && !dup; j++)
            dup = !strcmp(img->blobs[j].digest, extra[i].digest); /* the image's own kinds win */
        if (dup)
            continue;
        img->blobs = xrealloc(img->blobs, (img->blob_count + 1) * sizeof *img->blobs);
        struct store_source_blob *b = &img->blobs[img->blob_count++];
        b->digest = xstrdup(extra[i].digest);
        b->size = extra[i].size;
        b->media_type = xstrdup(extra[i].media_type);
        b->kind = xstrdup(extra[i].kind);
        b->tag = xstrdup(extra[i].tag);
    }
}

static void free_blob_list(struct store_source_blob *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(b[i].digest);
        free(b[i].media_type);
        free(b[i].kind);
        free(b[i].tag);
    }
    free(b);
}

/* The name an image is recorded under when the caller gives none. A full reference in the input
 * (docker save's RepoTags, a ref.name like "ghcr.io/siderolabs/imager:v1.11.3") is kept. skopeo's
 * oci-archive carries only the tag ("v1.11.3"), and many images share one, so it is qualified by
 * the input's name: "imager-v1.11.3.oci.tar" + "v1.11.3" -> "imager:v1.11.3"; an untagged image
 * becomes "imager@sha256:...". */
static char *default_reference(const char *input, const char *name)
{
    bool digest = !strncmp(name, "sha256:", 7);
    if (!digest && (strchr(name, '/') || strchr(name, ':') || strchr(name, '@')))
        return xstrdup(name);
    char *base = xstrdup(input);
    size_t n = strlen(base);
    while (n > 1 && base[n - 1] == '/')
        base[--n] = '\0';
    const char *slash = strrchr(base, '/');
    char *stem = xstrdup(slash ? slash + 1 : base);
    free(base);
    static const char *suffixes[] = {".gz", ".tgz", ".zst", ".xz", ".tar", ".oci"};
    for (bool again = true; again;) {
        again = false;
        for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
            size_t sl = strlen(suffixes[i]), len = strlen(stem);
            if (len > sl && !strcmp(stem + len - sl, suffixes[i])) {
                stem[len - sl] = '\0';
                again = true;
            }
        }
    }
    size_t len = strlen(stem), tl = strlen(name);
    if (!digest && len > tl + 1 && stem[len - tl - 1] == '-' && !strcmp(stem + len - tl, name))
        stem[len - tl - 1] = '\0';
    char *ref = xasprintf("%s%s%s", stem, digest ? "@" : ":", name);
    free(stem);
    return ref;
}

/* Verify one image: what its tag names first (an index covers every platform's manifest by
 * digest), then the platform manifest on its own (cosign sign --recursive signs those too). */
static int verify_one(struct oci_layout *layout, const struct verify_policy *policy, struct oci_layout_image *img,
                      struct verify_receipt *receipt, struct error *err)
{
    struct verify_source source;
    oci_layout_verify_source(layout, &source);
    struct store_source_blob *used;
    size_t used_count;
    if (verify_image(policy, &source, img->image.digest, receipt, err) == 0) {
        oci_layout_touch_signatures(layout, img->image.digest);
        if (strcmp(img->image.digest, img->image.manifest_digest) != 0)
            oci_layout_touch_signatures(layout, img->image.manifest_digest);
        oci_layout_take_verified_blobs(layout, &used, &used_count);
        append_blobs(img, used, used_count);
        free_blob_list(used, used_count);
        return 0;
    }
    oci_layout_take_verified_blobs(layout, &used, &used_count);
    free_blob_list(used, used_count);
    if (!strcmp(img->image.digest, img->image.manifest_digest))
        return error_prefix(err, "%s: %s: ", oci_layout_input(layout), img->image.reference);
    struct error second;
    if (verify_image(policy, &source, img->image.manifest_digest, receipt, &second) == 0) {
        oci_layout_touch_signatures(layout, img->image.manifest_digest);
        oci_layout_take_verified_blobs(layout, &used, &used_count);
        append_blobs(img, used, used_count);
        free_blob_list(used, used_count);
        error_clear(err);
        return 0;
    }
    oci_layout_take_verified_blobs(layout, &used, &used_count);
    free_blob_list(used, used_count);
    char p[OCI_PLATFORM_SIZE];
    oci_platform_format(&img->image.platform, p);
    return error_prefix(err, "%s: %s (%s; its %s manifest %s is not signed either): ", oci_layout_input(layout),
                        img->image.reference, img->image.digest, p, img->image.manifest_digest);
}

/* A layout holding several images, imported under one reference: keep the images tagged as the
 * reference says (oci_layout_tag_matches), as skopeo's oci-archive:FILE:TAG picks one; when none
 * is, keep them all (the caller's ambiguity error then names them). */
static void keep_referenced(const char *reference, struct oci_layout_image *images, size_t *n)
{
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++)
        kept += oci_layout_tag_matches(images[i].image.reference, reference);
    if (!kept)
        return;
    size_t out = 0;
    for (size_t i = 0; i < *n; i++) {
        if (oci_layout_tag_matches(images[i].image.reference, reference))
            images[out++] = images[i];
        else
            oci_layout_images_free(&images[i], 1);
    }
    *n = out;
}

int oci_import(struct store *store, const char *input, const struct oci_import_options *opts,
               struct oci_import_result **results, size_t *count, struct oci_import_stats *stats, struct error *err)
{
    *results = NULL;
    *count = 0;
    if (stats)
        memset(stats, 0, sizeof *stats);
    if (!opts->policy)
        return error_set(err, ERROR_INPUT, "%s: no trust policy given; pass one (keys, keyless or insecure)", input);
    struct oci_layout *layout;
    if (oci_layout_open(store, input, &opts->limits, &layout, err) != 0)
        return -1;
    struct oci_layout_selection sel = {opts->tag, opts->platforms, opts->platform_count};
    struct oci_layout_image *images = NULL;
    size_t n = 0;
    struct verify_receipt *receipts = NULL;
    struct store_source *rows = NULL;
    struct buffer *receipt_text = NULL;
    int rc = -1;
    if (oci_layout_resolve(layout, &sel, &images, &n, err) != 0)
        goto done;
    if (opts->reference && !opts->tag && n > 1)
        keep_referenced(opts->reference, images, &n);
    for (size_t i = 1; i < n && opts->reference; i++) {
        if (strcmp(images[i].image.digest, images[0].image.digest) != 0) {
            error_set(err, ERROR_INPUT,
                      "%s: holds several images (%s, %s, ...) but one reference '%s' was given; select one with a tag",
                      input, images[0].image.reference, images[i].image.reference, opts->reference);
            goto done;
        }
    }
    for (size_t i = 0; i < n; i++) { /* named first, so messages use the recorded name */
        char *reference = opts->reference ? xstrdup(opts->reference)
                                          : default_reference(input, images[i].image.reference);
        free(images[i].image.reference);
        images[i].image.reference = reference;
    }
    receipts = xcalloc(n, sizeof *receipts);
    /* 1. verify everything before anything reaches the store */
    for (size_t i = 0; i < n; i++) {
        bool done_before = false;
        for (size_t j = 0; j < i && !done_before; j++) {
            if (!strcmp(images[j].image.digest, images[i].image.digest) &&
                !strcmp(images[j].image.manifest_digest, images[i].image.manifest_digest)) {
                receipts[i] = receipts[j];
                done_before = true;
            }
        }
        if (!done_before && verify_one(layout, opts->policy, &images[i], &receipts[i], err) != 0)
            goto done;
    }
    /* 2. blobs into the store, then 3. the rows, in one transaction */
    for (size_t i = 0; i < n; i++)
        if (oci_layout_commit(layout, images[i].blobs, images[i].blob_count, err) != 0)
            goto done;
    rows = xcalloc(n, sizeof *rows);
    receipt_text = xcalloc(n, sizeof *receipt_text);
    int64_t now = oci_import_timestamp();
    *results = xcalloc(n, sizeof **results);
    for (size_t i = 0; i < n; i++) {
        struct oci_import_result *r = &(*results)[i];
        oci_platform_format(&images[i].image.platform, r->platform);
        verify_receipt_to_json(&receipts[i], &receipt_text[i]);
        rows[i].reference = images[i].image.reference;
        rows[i].platform = r->platform;
        rows[i].digest = images[i].image.digest;
        rows[i].media_type = images[i].image.media_type;
        rows[i].manifest_digest = images[i].image.manifest_digest;
        rows[i].role = (char *)(opts->role ? opts->role : "");
        rows[i].receipt = (char *)buffer_cstr(&receipt_text[i]);
        rows[i].imported_at = now;
        rows[i].blobs = images[i].blobs;
        rows[i].blob_count = images[i].blob_count;
    }
    if (store_sources_put(store, rows, n, err) != 0) {
        free(*results);
        *results = NULL;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        (*results)[i].image = images[i].image;
        memset(&images[i].image, 0, sizeof images[i].image);
        (*results)[i].receipt = receipts[i];
    }
    *count = n;
    rc = 0;
done:
    if (stats) {
        oci_layout_get_stats(layout, &stats->layout);
        stats->images = rc == 0 ? n : 0;
    }
    if (receipt_text)
        for (size_t i = 0; i < n; i++)
            buffer_free(&receipt_text[i]);
    free(receipt_text);
    free(rows);
    free(receipts);
    oci_layout_images_free(images, n);
    free(images);
    oci_layout_close(layout);
    return rc;
}

void oci_import_results_free(struct oci_import_result *results, size_t count)
{
    for (size_t i = 0; results && i < count; i++)
        oci_image_free(&results[i].image);
}
