/* oci_image — see oci_image.h. */
#include "oci/oci_image.h"
#include "airfactory/buffer.h"
#include "core/json.h"
#include "core/memory.h"
#include "oci/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct oci_media_type media_types[] = {
    {OCI_MEDIA_TYPE_INDEX, OCI_MEDIA_INDEX, OCI_COMPRESSION_NONE},
    {"application/vnd.docker.distribution.manifest.list.v2+json", OCI_MEDIA_INDEX, OCI_COMPRESSION_NONE},
    {OCI_MEDIA_TYPE_MANIFEST, OCI_MEDIA_MANIFEST, OCI_COMPRESSION_NONE},
    {"application/vnd.docker.distribution.manifest.v2+json", OCI_MEDIA_MANIFEST, OCI_COMPRESSION_NONE},
    {OCI_MEDIA_TYPE_CONFIG, OCI_MEDIA_CONFIG, OCI_COMPRESSION_NONE},
    {"application/vnd.docker.container.image.v1+json", OCI_MEDIA_CONFIG, OCI_COMPRESSION_NONE},
    {OCI_MEDIA_TYPE_LAYER, OCI_MEDIA_LAYER, OCI_COMPRESSION_NONE},
    {OCI_MEDIA_TYPE_LAYER_GZIP, OCI_MEDIA_LAYER, OCI_COMPRESSION_GZIP},
    {OCI_MEDIA_TYPE_LAYER_ZSTD, OCI_MEDIA_LAYER, OCI_COMPRESSION_ZSTD},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar", OCI_MEDIA_LAYER, OCI_COMPRESSION_NONE},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", OCI_MEDIA_LAYER, OCI_COMPRESSION_GZIP},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", OCI_MEDIA_LAYER, OCI_COMPRESSION_ZSTD},
    {"application/vnd.docker.image.rootfs.diff.tar", OCI_MEDIA_LAYER, OCI_COMPRESSION_NONE},
    {"application/vnd.docker.image.rootfs.diff.tar.gzip", OCI_MEDIA_LAYER, OCI_COMPRESSION_GZIP},
    {"application/vnd.docker.image.rootfs.diff.tar.zstd", OCI_MEDIA_LAYER, OCI_COMPRESSION_ZSTD},
    {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", OCI_MEDIA_LAYER, OCI_COMPRESSION_GZIP},
    {"application/vnd.dev.cosign.simplesigning.v1+json", OCI_MEDIA_SIGNATURE, OCI_COMPRESSION_NONE},
    {"application/vnd.dev.sigstore.bundle.v0.3+json", OCI_MEDIA_SIGSTORE_BUNDLE, OCI_COMPRESSION_NONE},
    {"application/vnd.dev.sigstore.bundle.v0.2+json", OCI_MEDIA_SIGSTORE_BUNDLE, OCI_COMPRESSION_NONE},
    {"application/vnd.dev.sigstore.bundle+json;version=0.3", OCI_MEDIA_SIGSTORE_BUNDLE, OCI_COMPRESSION_NONE},
    {"application/vnd.dev.sigstore.bundle+json;version=0.2", OCI_MEDIA_SIGSTORE_BUNDLE, OCI_COMPRESSION_NONE},
    {"application/vnd.dev.sigstore.bundle+json;version=0.1", OCI_MEDIA_SIGSTORE_BUNDLE, OCI_COMPRESSION_NONE},
    {"application/vnd.in-toto+json", OCI_MEDIA_ATTESTATION, OCI_COMPRESSION_NONE},
    {"application/vnd.dsse.envelope.v1+json", OCI_MEDIA_ATTESTATION, OCI_COMPRESSION_NONE},
    {"application/vnd.oci.empty.v1+json", OCI_MEDIA_EMPTY, OCI_COMPRESSION_NONE},
};

const struct oci_media_type *oci_media_type_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof media_types / sizeof media_types[0]; i++)
        if (!strcmp(media_types[i].name, name))
            return &media_types[i];
    return NULL;
}

/* ---- platforms ---- */

static int copy_field(char *to, size_t cap, const char *from, size_t len, const char *what, const char *field,
                      struct error *err)
{
    if (len >= cap)
        return error_set(err, ERROR_INPUT, "%s: platform %s '%.*s' is too long (at most %zu characters)", what, field,
                         (int)(len > 80 ? 80 : len), from, cap - 1);
    memcpy(to, from, len);
    to[len] = '\0';
    return 0;
}

int oci_platform_parse(const char *text, struct oci_platform *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    const char *a = strchr(text, '/');
    const char *v = a ? strchr(a + 1, '/') : NULL;
    if (!a || a == text || a[1] == '\0' || a[1] == '/' || (v && (v[1] == '\0' || strchr(v + 1, '/'))))
        return error_set(err, ERROR_INPUT, "platform '%s': expected os/arch or os/arch/variant, e.g. linux/amd64", text);
    if (copy_field(out->os, sizeof out->os, text, (size_t)(a - text), "--platform", "os", err) != 0 ||
        copy_field(out->architecture, sizeof out->architecture, a + 1, v ? (size_t)(v - a - 1) : strlen(a + 1),
                   "--platform", "architecture", err) != 0 ||
        (v && copy_field(out->variant, sizeof out->variant, v + 1, strlen(v + 1), "--platform", "variant", err) != 0))
        return -1;
    return 0;
}

void oci_platform_format(const struct oci_platform *p, char out[OCI_PLATFORM_SIZE])
{
    if (p->variant[0])
        snprintf(out, OCI_PLATFORM_SIZE, "%s/%s/%s", p->os, p->architecture, p->variant);
    else
        snprintf(out, OCI_PLATFORM_SIZE, "%s/%s", p->os, p->architecture);
}

bool oci_platform_matches(const struct oci_platform *want, const struct oci_platform *have)
{
    if (strcmp(want->os, have->os) != 0 || strcmp(want->architecture, have->architecture) != 0)
        return false;
    return !want->variant[0] || !strcmp(want->variant, have->variant);
}

/* ---- descriptors ---- */

static const char *json_kind_name(const struct json_value *v)
{
    static const char *names[] = {"null", "boolean", "number", "string", "array", "object"};
    return v ? names[v->type] : "missing";
}

static int want_string(const struct json_value *obj, const char *key, bool required, const char *what, const char **out,
                       struct error *err)
{
    const struct json_value *v = json_object_get(obj, key);
    *out = NULL;
    if (!v) {
        if (required)
            return error_set(err, ERROR_INPUT, "%s:%d:%d: required field \"%s\" is missing", what, obj->line,
                             obj->column, key);
        return 0;
    }
    if (v->type != JSON_STRING || strlen(v->text) != v->text_len)
        return error_set(err, ERROR_INPUT, "%s:%d:%d: \"%s\" must be a string, found %s", what, v->line, v->column, key,
                         json_kind_name(v));
    *out = v->text;
    return 0;
}

static int parse_digest_field(const struct json_value *d, const char *what, char out[OCI_DIGEST_SIZE], struct error *err)
{
    const char *digest;
    if (want_string(d, "digest", true, what, &digest, err) != 0)
        return -1;
    char hex[SHA256_HEX_LEN + 1];
    const struct json_value *v = json_object_get(d, "digest");
    if (strncmp(digest, "sha256:", 7) != 0) {
        const char *colon = strchr(digest, ':');
        return error_set(err, ERROR_INPUT,
                         "%s:%d:%d: digest '%.100s' uses algorithm '%.*s'; airfactory verifies sha256 only: re-export "
                         "the image with sha256 digests (skopeo copy --dest-compress ... does)",
                         what, v->line, v->column, digest, colon ? (int)(colon - digest) : 0, digest);
    }
    struct error inner;
    if (digest_parse(digest, hex, &inner) != 0)
        return error_set(err, ERROR_INPUT, "%s:%d:%d: %s", what, v->line, v->column, inner.message);
    snprintf(out, OCI_DIGEST_SIZE, "sha256:%s", hex);
    return 0;
}

/* allowed_kinds: bit mask of (1 << oci_media_kind); 0 = any known kind */
static int parse_descriptor(const struct json_value *d, const char *what, const char *role, unsigned allowed_kinds,
                            struct oci_descriptor *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    if (!d || d->type != JSON_OBJECT)
        return error_set(err, ERROR_INPUT, "%s:%d:%d: %s must be a descriptor object, found %s", what, d ? d->line : 0,
                         d ? d->column : 0, role, json_kind_name(d));
    const char *media_type, *artifact_type;
    if (want_string(d, "mediaType", true, what, &media_type, err) != 0 ||
        want_string(d, "artifactType", false, what, &artifact_type, err) != 0 ||
        parse_digest_field(d, what, out->digest, err) != 0)
        return -1;
    const struct json_value *size = json_object_get(d, "size");
    if (!size || !json_get_int64(size, &out->size) || out->size < 0)
        return error_set(err, ERROR_INPUT, "%s:%d:%d: %s %s: \"size\" must be a non-negative integer", what, d->line,
                         d->column, role, out->digest);
    if (json_object_get(d, "urls"))
        return error_set(err, ERROR_INPUT,
                         "%s:%d:%d: %s %s has external \"urls\" (a foreign layer); airfactory works offline and "
                         "needs every blob inside the layout",
                         what, d->line, d->column, role, out->digest);
    out->type = oci_media_type_find(media_type);
    if (!out->type)
        return error_set(err, ERROR_INPUT,
                         "%s:%d:%d: %s %s has unknown media type '%.200s'; airfactory accepts OCI and Docker v2s2 "
                         "images, indexes and tar/gzip/zstd layers, cosign signatures and Sigstore bundles",
                         what, d->line, d->column, role, out->digest, media_type);
    if (allowed_kinds && !(allowed_kinds & (1u << out->type->kind)))
        return error_set(err, ERROR_INPUT, "%s:%d:%d: %s %s has media type '%s', which is not valid for a %s", what,
                         d->line, d->column, role, out->digest, media_type, role);
    out->media_type = xstrdup(media_type);
    out->artifact_type = artifact_type ? xstrdup(artifact_type) : NULL;

    const struct json_value *ann = json_object_get(d, "annotations");
    if (ann && ann->type != JSON_OBJECT) {
        oci_descriptor_free(out);
        return error_set(err, ERROR_INPUT, "%s:%d:%d: \"annotations\" must be an object", what, ann->line, ann->column);
    }
    if (ann) {
        const char *ref = json_object_get_string(ann, OCI_ANNOTATION_REF_NAME);
        const char *kind = json_object_get_string(ann, "kind");
        const char *reftype = json_object_get_string(ann, "vnd.docker.reference.type");
        out->ref_name = ref ? xstrdup(ref) : NULL;
        out->kind = kind ? xstrdup(kind) : NULL;
        out->attestation = reftype && !strcmp(reftype, "attestation-manifest");
    }
    const struct json_value *plat = json_object_get(d, "platform");
    if (plat) {
        const char *os, *arch, *variant;
        if (plat->type != JSON_OBJECT) {
            oci_descriptor_free(out);
            return error_set(err, ERROR_INPUT, "%s:%d:%d: \"platform\" must be an object", what, plat->line,
                             plat->column);
        }
        if (want_string(plat, "os", true, what, &os, err) != 0 ||
            want_string(plat, "architecture", true, what, &arch, err) != 0 ||
            want_string(plat, "variant", false, what, &variant, err) != 0 ||
            copy_field(out->platform.os, sizeof out->platform.os, os, strlen(os), what, "os", err) != 0 ||
            copy_field(out->platform.architecture, sizeof out->platform.architecture, arch, strlen(arch), what,
                       "architecture", err) != 0 ||
            (variant && copy_field(out->platform.variant, sizeof out->platform.variant, variant, strlen(variant), what,
                                   "variant", err) != 0)) {
            oci_descriptor_free(out);
            return -1;
        }
        out->has_platform = true;
    }
    return 0;
}

void oci_descriptor_free(struct oci_descriptor *d)
{
    if (!d)
        return;
    free(d->media_type);
    free(d->artifact_type);
    free(d->ref_name);
    free(d->kind);
    memset(d, 0, sizeof *d);
}

bool oci_descriptor_is_artifact(const struct oci_descriptor *d)
{
    if (!d->artifact_type)
        return false;
    const struct oci_media_type *t = oci_media_type_find(d->artifact_type);
    return !t || t->kind != OCI_MEDIA_CONFIG;
}

void oci_descriptor_copy(struct oci_descriptor *to, const struct oci_descriptor *from)
{
    *to = *from;
    to->media_type = from->media_type ? xstrdup(from->media_type) : NULL;
    to->artifact_type = from->artifact_type ? xstrdup(from->artifact_type) : NULL;
    to->ref_name = from->ref_name ? xstrdup(from->ref_name) : NULL;
    to->kind = from->kind ? xstrdup(from->kind) : NULL;
}

/* ---- documents ---- */

/* The document's own mediaType must agree with the descriptor (or, for index.json, be an index):
 * otherwise two readers could interpret the same signed bytes differently. */
static int check_document_type(const struct json_value *root, const char *descriptor_type, enum oci_media_kind kind,
                               const char *what, char **out, struct error *err)
{
    const char *own;
    if (want_string(root, "mediaType", false, what, &own, err) != 0)
        return -1;
    const struct json_value *sv = json_object_get(root, "schemaVersion");
    int64_t schema;
    if (!sv || !json_get_int64(sv, &schema) || schema != 2)
        return error_set(err, ERROR_INPUT,
                         "%s: \"schemaVersion\" must be 2 (Docker schema 1 images are not supported: re-push or "
                         "re-export the image with a current tool)",
                         what);
    if (own) {
        const struct oci_media_type *t = oci_media_type_find(own);
        if (!t)
            return error_set(err, ERROR_INPUT, "%s: unknown media type '%.200s'", what, own);
        if (t->kind != kind)
            return error_set(err, ERROR_INPUT, "%s: document says it is '%s', expected %s", what, own,
                             kind == OCI_MEDIA_INDEX ? "an image index" : "an image manifest");
        if (descriptor_type && strcmp(descriptor_type, own) != 0)
            return error_set(err, ERROR_INPUT,
                             "%s: document says it is '%s' but the descriptor pointing at it says '%s'; the layout is "
                             "inconsistent or tampered with",
                             what, own, descriptor_type);
    }
    const char *type = own ? own : descriptor_type;
    if (!type)
        type = kind == OCI_MEDIA_INDEX ? OCI_MEDIA_TYPE_INDEX : OCI_MEDIA_TYPE_MANIFEST;
    if (!strncmp(type, "application/vnd.docker.", 23) && !own)
        return error_set(err, ERROR_INPUT, "%s: a Docker v2s2 document must carry its \"mediaType\"", what);
    *out = xstrdup(type);
    return 0;
}

static int parse_subject(const struct json_value *root, const char *what, bool *has, struct oci_descriptor *subject,
                         struct error *err)
{
    const struct json_value *s = json_object_get(root, "subject");
    *has = false;
    if (!s)
        return 0;
    if (parse_descriptor(s, what, "subject", (1u << OCI_MEDIA_INDEX) | (1u << OCI_MEDIA_MANIFEST), subject, err) != 0)
        return -1;
    *has = true;
    return 0;
}

int oci_index_parse(const char *data, size_t len, const char *media_type, const char *what, struct oci_index *out,
                    struct error *err)
{
    memset(out, 0, sizeof *out);
    struct json_value *root;
    if (json_parse(data, len, what, &root, err) != 0)
        return -1;
    int rc = -1;
    if (root->type != JSON_OBJECT) {
        error_set(err, ERROR_INPUT, "%s: expected a JSON object, found %s", what, json_kind_name(root));
        goto done;
    }
    if (check_document_type(root, media_type, OCI_MEDIA_INDEX, what, &out->media_type, err) != 0)
        goto done;
    const struct json_value *m = json_object_get(root, "manifests");
    if (!m || m->type != JSON_ARRAY) {
        error_set(err, ERROR_INPUT, "%s: \"manifests\" must be an array, found %s", what, json_kind_name(m));
        goto done;
    }
    out->manifests = xcalloc(m->count ? m->count : 1, sizeof *out->manifests);
    for (size_t i = 0; i < m->count; i++) {
        if (parse_descriptor(m->items[i], what, "manifest", (1u << OCI_MEDIA_INDEX) | (1u << OCI_MEDIA_MANIFEST),
                             &out->manifests[i], err) != 0)
            goto done;
        out->count++;
    }
    if (parse_subject(root, what, &out->has_subject, &out->subject, err) != 0)
        goto done;
    rc = 0;
done:
    json_free(root);
    if (rc != 0)
        oci_index_free(out);
    return rc;
}

void oci_index_free(struct oci_index *x)
{
    for (size_t i = 0; i < x->count; i++)
        oci_descriptor_free(&x->manifests[i]);
    free(x->manifests);
    free(x->media_type);
    oci_descriptor_free(&x->subject);
    memset(x, 0, sizeof *x);
}

int oci_manifest_parse(const char *data, size_t len, const char *media_type, const char *what, struct oci_manifest *out,
                       struct error *err)
{
    memset(out, 0, sizeof *out);
    struct json_value *root;
    if (json_parse(data, len, what, &root, err) != 0)
        return -1;
    int rc = -1;
    const char *artifact_type;
    if (root->type != JSON_OBJECT) {
        error_set(err, ERROR_INPUT, "%s: expected a JSON object, found %s", what, json_kind_name(root));
        goto done;
    }
    if (check_document_type(root, media_type, OCI_MEDIA_MANIFEST, what, &out->media_type, err) != 0 ||
        want_string(root, "artifactType", false, what, &artifact_type, err) != 0)
        goto done;
    out->artifact_type = artifact_type ? xstrdup(artifact_type) : NULL;
    if (parse_descriptor(json_object_get(root, "config"), what, "config",
                         (1u << OCI_MEDIA_CONFIG) | (1u << OCI_MEDIA_EMPTY), &out->config, err) != 0)
        goto done;
    const struct json_value *layers = json_object_get(root, "layers");
    if (!layers || layers->type != JSON_ARRAY) {
        error_set(err, ERROR_INPUT, "%s: \"layers\" must be an array, found %s", what, json_kind_name(layers));
        goto done;
    }
    out->layers = xcalloc(layers->count ? layers->count : 1, sizeof *out->layers);
    unsigned layer_kinds = (1u << OCI_MEDIA_LAYER) | (1u << OCI_MEDIA_SIGNATURE) | (1u << OCI_MEDIA_SIGSTORE_BUNDLE) |
                           (1u << OCI_MEDIA_ATTESTATION) | (1u << OCI_MEDIA_EMPTY);
    for (size_t i = 0; i < layers->count; i++) {
        if (parse_descriptor(layers->items[i], what, "layer", layer_kinds, &out->layers[i], err) != 0)
            goto done;
        out->layer_count++;
    }
    if (parse_subject(root, what, &out->has_subject, &out->subject, err) != 0)
        goto done;
    rc = 0;
done:
    json_free(root);
    if (rc != 0)
        oci_manifest_free(out);
    return rc;
}

void oci_manifest_free(struct oci_manifest *m)
{
    for (size_t i = 0; i < m->layer_count; i++)
        oci_descriptor_free(&m->layers[i]);
    free(m->layers);
    free(m->media_type);
    free(m->artifact_type);
    oci_descriptor_free(&m->config);
    oci_descriptor_free(&m->subject);
    memset(m, 0, sizeof *m);
}

int oci_config_parse(const char *data, size_t len, const char *what, struct oci_config *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    struct json_value *root;
    if (json_parse(data, len, what, &root, err) != 0)
        return -1;
    int rc = -1;
    const char *os, *arch, *variant, *created;
    if (root->type != JSON_OBJECT) {
        error_set(err, ERROR_INPUT, "%s: expected a JSON object, found %s", what, json_kind_name(root));
        goto done;
    }
    if (want_string(root, "os", true, what, &os, err) != 0 ||
        want_string(root, "architecture", true, what, &arch, err) != 0 ||
        want_string(root, "variant", false, what, &variant, err) != 0 ||
        want_string(root, "created", false, what, &created, err) != 0 ||
        copy_field(out->platform.os, sizeof out->platform.os, os, strlen(os), what, "os", err) != 0 ||
        copy_field(out->platform.architecture, sizeof out->platform.architecture, arch, strlen(arch), what,
                   "architecture", err) != 0 ||
        (variant && copy_field(out->platform.variant, sizeof out->platform.variant, variant, strlen(variant), what,
                               "variant", err) != 0))
        goto done;
    out->created = created ? xstrdup(created) : NULL;
    const struct json_value *rootfs = json_object_get(root, "rootfs");
    const struct json_value *ids = rootfs ? json_object_get(rootfs, "diff_ids") : NULL;
    if (!rootfs || rootfs->type != JSON_OBJECT || !ids || ids->type != JSON_ARRAY) {
        error_set(err, ERROR_INPUT, "%s: \"rootfs.diff_ids\" must be an array of layer digests", what);
        goto done;
    }
    out->diff_ids = xcalloc(ids->count ? ids->count : 1, sizeof *out->diff_ids);
    for (size_t i = 0; i < ids->count; i++) {
        const struct json_value *v = ids->items[i];
        char hex[SHA256_HEX_LEN + 1];
        struct error inner;
        if (v->type != JSON_STRING || digest_parse(v->text, hex, &inner) != 0) {
            error_set(err, ERROR_INPUT, "%s:%d:%d: rootfs.diff_ids[%zu] must be a sha256 digest", what, v->line,
                      v->column, i);
            goto done;
        }
        out->diff_ids[out->diff_id_count++] = xasprintf("sha256:%s", hex);
    }
    rc = 0;
done:
    json_free(root);
    if (rc != 0)
        oci_config_free(out);
    return rc;
}

void oci_config_free(struct oci_config *c)
{
    for (size_t i = 0; i < c->diff_id_count; i++)
        free(c->diff_ids[i]);
    free(c->diff_ids);
    free(c->created);
    memset(c, 0, sizeof *c);
}

int oci_document_subject(const char *data, size_t len, char subject[OCI_DIGEST_SIZE])
{
    struct json_value *root;
    struct error ignored;
    subject[0] = '\0';
    if (json_parse(data, len, "document", &root, &ignored) != 0)
        return 0;
    int found = 0;
    const struct json_value *s = json_object_get_object(root, "subject");
    const char *d = s ? json_object_get_string(s, "digest") : NULL;
    char hex[SHA256_HEX_LEN + 1];
    if (d && digest_parse(d, hex, &ignored) == 0) {
        snprintf(subject, OCI_DIGEST_SIZE, "sha256:%s", hex);
        found = 1;
    }
    json_free(root);
    return found;
}

/* ---- resolved images ---- */

void oci_image_free(struct oci_image *img)
{
    if (!img)
        return;
    free(img->reference);
    free(img->media_type);
    free(img->manifest_media_type);
    oci_descriptor_free(&img->config);
    for (size_t i = 0; i < img->layer_count; i++) {
        oci_descriptor_free(&img->layers[i]);
        free(img->diff_ids ? img->diff_ids[i] : NULL);
    }
    free(img->layers);
    free(img->diff_ids);
    free(img->created);
    memset(img, 0, sizeof *img);
}

int oci_image_from_documents(struct oci_image *img, const struct oci_manifest *m, const struct oci_config *c,
                             const char *what, struct error *err)
{
    if (m->config.type->kind != OCI_MEDIA_CONFIG)
        return error_set(err, ERROR_INPUT,
                         "%s: config has media type '%s': this is an artifact (signature or attestation), not a "
                         "container image; name the image's tag instead",
                         what, m->config.media_type);
    for (size_t i = 0; i < m->layer_count; i++)
        if (m->layers[i].type->kind != OCI_MEDIA_LAYER)
            return error_set(err, ERROR_INPUT, "%s: layer %zu (%s) has media type '%s', not a filesystem layer", what,
                             i + 1, m->layers[i].digest, m->layers[i].media_type);
    if (c->diff_id_count != m->layer_count)
        return error_set(err, ERROR_INPUT,
                         "%s: the manifest has %zu layers but its config %s lists %zu rootfs.diff_ids; the image is "
                         "inconsistent: rebuild or re-export it",
                         what, m->layer_count, m->config.digest, c->diff_id_count);
    free(img->manifest_media_type);
    img->manifest_media_type = xstrdup(m->media_type);
    oci_descriptor_free(&img->config);
    oci_descriptor_copy(&img->config, &m->config);
    img->layers = xcalloc(m->layer_count ? m->layer_count : 1, sizeof *img->layers);
    img->diff_ids = xcalloc(m->layer_count ? m->layer_count : 1, sizeof *img->diff_ids);
    for (size_t i = 0; i < m->layer_count; i++) {
        oci_descriptor_copy(&img->layers[i], &m->layers[i]);
        img->diff_ids[i] = xstrdup(c->diff_ids[i]);
    }
    img->layer_count = m->layer_count;
    img->platform = c->platform;
    free(img->created);
    img->created = c->created ? xstrdup(c->created) : NULL;
    return 0;
}

int oci_image_load(struct store *store, const char *reference, const char *platform, struct oci_image *out,
                   struct error *err)
{
    memset(out, 0, sizeof *out);
    struct store_source src;
    int found = store_source_get(store, reference, platform, &src, err);
    if (found < 0)
        return -1;
    if (found == 0)
        return error_set(err, ERROR_INPUT,
                         "%s: no source '%s'%s%s in the store; run `airfactory import` first "
                         "(`airfactory sources --store %s` lists what it holds)",
                         store_dir(store), reference, platform ? " for " : "", platform ? platform : "",
                         store_dir(store));
    struct buffer mbuf = BUFFER_INIT, cbuf = BUFFER_INIT;
    struct oci_manifest m;
    struct oci_config c;
    memset(&m, 0, sizeof m);
    memset(&c, 0, sizeof c);
    int rc = -1;
    char *what = xasprintf("manifest %s of %s in %s", src.manifest_digest, reference, store_dir(store));
    int r = store_read_blob(store, src.manifest_digest, OCI_DOCUMENT_MAX, &mbuf, err);
    if (r == 0)
        error_set(err, ERROR_RUNTIME, "%s: missing from the store; import the source again", what);
    if (r != 1)
        goto done;
    const char *manifest_type = NULL;
    for (size_t i = 0; i < src.blob_count; i++)
        if (!strcmp(src.blobs[i].digest, src.manifest_digest) && !strcmp(src.blobs[i].kind, "manifest"))
            manifest_type = src.blobs[i].media_type;
    if (oci_manifest_parse(mbuf.data, mbuf.len, manifest_type, what, &m, err) != 0)
        goto done;
    r = store_read_blob(store, m.config.digest, OCI_DOCUMENT_MAX, &cbuf, err);
    if (r == 0)
        error_set(err, ERROR_RUNTIME, "%s: config %s missing from the store; import the source again", what,
                  m.config.digest);
    if (r != 1 || oci_config_parse(cbuf.data, cbuf.len, what, &c, err) != 0)
        goto done;
    if (oci_image_from_documents(out, &m, &c, what, err) != 0)
        goto done;
    out->reference = xstrdup(src.reference);
    snprintf(out->digest, sizeof out->digest, "%s", src.digest);
    out->media_type = xstrdup(src.media_type);
    snprintf(out->manifest_digest, sizeof out->manifest_digest, "%s", src.manifest_digest);
    out->manifest_size = (int64_t)mbuf.len;
    for (size_t i = 0; i < src.blob_count; i++)
        if (!strcmp(src.blobs[i].digest, src.digest))
            out->size = src.blobs[i].size;
    /* the stored platform may carry the index's variant, which configs often omit */
    struct error ignored;
    struct oci_platform p;
    if (oci_platform_parse(src.platform, &p, &ignored) == 0)
        out->platform = p;
    for (size_t i = 0; i < out->layer_count; i++) {
        if (!store_has_blob(store, out->layers[i].digest)) {
            error_set(err, ERROR_RUNTIME, "%s: layer %s missing from the store; import the source again", what,
                      out->layers[i].digest);
            oci_image_free(out);
            goto done;
        }
    }
    rc = 0;
done:
    free(what);
    buffer_free(&mbuf);
    buffer_free(&cbuf);
    oci_manifest_free(&m);
    oci_config_free(&c);
    store_source_free(&src);
    if (rc != 0)
        oci_image_free(out);
    return rc;
}
