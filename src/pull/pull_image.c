/* pull_image — see pull_image.h. */
#include "pull/pull_image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/json.h"
#include "core/memory.h"
#include "oci/layer_flatten.h"

#define ARTIFACT_BLOB_IN_MEMORY (16u << 20) /* signature payloads, bundles; larger ones stream */
#define REFERRERS_PER_SUBJECT_MAX 64
#define ARTIFACT_DEPTH_MAX 2 /* an index among referrers: its manifests, no deeper */

#define COSIGN_KIND_IMAGE "dev.cosignproject.cosign/image"
#define COSIGN_KIND_INDEX "dev.cosignproject.cosign/imageIndex"
#define COSIGN_KIND_SIGS "dev.cosignproject.cosign/sigs"

/* A descriptor as any document names it, read leniently: artifacts may use media types the image
 * model (oci_image.h) refuses, and they are judged by verify, not here. */
struct desc {
    char digest[OCI_DIGEST_SIZE];
    char *media_type;
    int64_t size;
    bool attestation;
};

struct desc_list {
    struct desc config;
    bool has_config;
    struct desc *items; /* "layers" of a manifest, "manifests" of an index */
    size_t count;
    bool is_index;
};

static void desc_list_free(struct desc_list *l)
{
    free(l->config.media_type);
    for (size_t i = 0; i < l->count; i++)
        free(l->items[i].media_type);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static int read_desc(const struct json_value *v, const char *what, struct desc *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    const char *digest = v->type == JSON_OBJECT ? json_object_get_string(v, "digest") : NULL;
    const char *media_type = v->type == JSON_OBJECT ? json_object_get_string(v, "mediaType") : NULL;
    char hex[SHA256_HEX_LEN + 1];
    struct error ignored;
    if (!digest || digest_parse(digest, hex, &ignored) != 0 || !json_object_get_int64(v, "size", &out->size) ||
        out->size < 0)
        return error_set(err, ERROR_INPUT, "%s: a descriptor has no valid sha256 digest or size", what);
    snprintf(out->digest, sizeof out->digest, "%s", digest);
    out->media_type = xstrdup(media_type ? media_type : "");
    const struct json_value *annotations = json_object_get_object(v, "annotations");
    const char *ref_type = annotations ? json_object_get_string(annotations, "vnd.docker.reference.type") : NULL;
    out->attestation = ref_type && !strcmp(ref_type, "attestation-manifest");
    return 0;
}

static int read_descriptors(const struct buffer *data, const char *what, struct desc_list *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    struct json_value *doc;
    if (json_parse(buffer_cstr((struct buffer *)data), data->len, what, &doc, err) != 0)
        return -1;
    int rc = -1;
    if (doc->type != JSON_OBJECT) {
        error_set(err, ERROR_INPUT, "%s: not a JSON object", what);
        goto out;
    }
    const struct json_value *manifests = json_object_get_array(doc, "manifests");
    const struct json_value *layers = json_object_get_array(doc, "layers");
    const struct json_value *config = json_object_get_object(doc, "config");
    out->is_index = manifests != NULL;
    const struct json_value *list = manifests ? manifests : layers;
    if (config && !manifests) {
        if (read_desc(config, what, &out->config, err) != 0)
            goto out;
        out->has_config = true;
    }
    out->items = xcalloc(list && list->count ? list->count : 1, sizeof *out->items);
    for (size_t i = 0; list && i < list->count; i++) {
        if (read_desc(list->items[i], what, &out->items[i], err) != 0)
            goto out;
        out->count++;
    }
    rc = 0;
out:
    json_free(doc);
    if (rc != 0)
        desc_list_free(out);
    return rc;
}

/* ---- the image's sets ---- */

static const struct pull_doc *find_doc(const struct pull_image *img, const char *digest)
{
    for (size_t i = 0; i < img->doc_count; i++)
        if (!strcmp(img->docs[i].digest, digest))
            return &img->docs[i];
    return NULL;
}

static bool has_layer(const struct pull_image *img, const char *digest)
{
    for (size_t i = 0; i < img->layer_count; i++)
        if (!strcmp(img->layers[i].digest, digest))
            return true;
    return false;
}

/* Keep doc (its data moves into the image); a digest already held is dropped. */
static void add_doc(struct pull_image *img, const char *digest, const char *media_type, const char *kind,
                    struct buffer *data)
{
    if (find_doc(img, digest)) {
        buffer_free(data);
        return;
    }
    img->docs = xrealloc(img->docs, (img->doc_count + 1) * sizeof *img->docs);
    struct pull_doc *d = &img->docs[img->doc_count++];
    snprintf(d->digest, sizeof d->digest, "%s", digest);
    d->media_type = xstrdup(media_type ? media_type : "");
    d->kind = kind;
    d->data = *data;
    *data = (struct buffer)BUFFER_INIT;
}

static void add_layer(struct pull_image *img, const struct desc *d)
{
    if (has_layer(img, d->digest) || find_doc(img, d->digest))
        return;
    img->layers = xrealloc(img->layers, (img->layer_count + 1) * sizeof *img->layers);
    struct pull_layer *l = &img->layers[img->layer_count++];
    snprintf(l->digest, sizeof l->digest, "%s", d->digest);
    l->size = d->size;
}

static void add_tag(struct pull_image *img, const char *tag, const char *digest, const char *media_type, int64_t size,
                    const char *kind)
{
    img->tags = xrealloc(img->tags, (img->tag_count + 1) * sizeof *img->tags);
    struct pull_tag *t = &img->tags[img->tag_count++];
    t->tag = xstrdup(tag);
    snprintf(t->digest, sizeof t->digest, "%s", digest);
    t->media_type = xstrdup(media_type);
    t->size = size;
    t->kind = kind;
}

/* The media type of a fetched document: the registry's Content-Type when it is one of ours, else
 * the document's own mediaType, else what its shape says (Docker v2s2 always names itself). */
static char *document_media_type(const struct registry_document *doc, const char *descriptor_type)
{
    const struct oci_media_type *t = oci_media_type_find(doc->media_type);
    if (t && (t->kind == OCI_MEDIA_INDEX || t->kind == OCI_MEDIA_MANIFEST))
        return xstrdup(doc->media_type);
    if (descriptor_type && *descriptor_type)
        return xstrdup(descriptor_type);
    struct json_value *v = NULL;
    struct error ignored;
    char *out = NULL;
    if (json_parse(doc->data.data ? doc->data.data : "", doc->data.len, "document", &v, &ignored) == 0 &&
        v->type == JSON_OBJECT) {
        const char *own = json_object_get_string(v, "mediaType");
        out = xstrdup(own ? own : json_object_get(v, "manifests") ? OCI_MEDIA_TYPE_INDEX : OCI_MEDIA_TYPE_MANIFEST);
    }
    json_free(v);
    return out ? out : xstrdup(OCI_MEDIA_TYPE_MANIFEST);
}

static int not_found(const struct pull_image *img, const char *reference, struct error *err)
{
    if (img->pinned_by)
        return error_set(err, ERROR_INPUT,
                         "%s: the registry has no manifest %s, the digest %s pins; the mirror is "
                         "incomplete or the tag was pushed again: copy exactly that digest into it (skopeo copy "
                         "--all docker://%s/%s@%s ...)",
                         img->what, reference, img->pinned_by, img->ref.registry, img->ref.repository, reference);
    return error_set(err, ERROR_INPUT,
                     "%s: manifest not found (no %s on the registry); check the reference, and that "
                     "the registry or --mirror holds it (skopeo inspect docker://%s/%s:%s)",
                     img->what, reference, img->ref.registry, img->ref.repository,
                     img->ref.tag ? img->ref.tag : reference);
}

/* GET a manifest by digest that a document named; it must be there. */
static int fetch_named_manifest(struct registry_session *s, struct pull_image *img, const struct desc *d,
                                const char *kind, struct registry_document *out, struct error *err)
{
    int found = registry_get_manifest(s, &img->ref, d->digest, OCI_DOCUMENT_MAX, out, err);
    if (found < 0)
        return -1;
    if (found == 0)
        return error_set(err, ERROR_INPUT,
                         "%s: %s %s, named by the image, is not on the registry; the registry's "
                         "copy is incomplete: push the image again (skopeo copy --all)",
                         img->what, kind, d->digest);
    if ((int64_t)out->data.len != d->size) {
        registry_document_free(out);
        return error_set(err, ERROR_INPUT, "%s: %s %s is %zu bytes, not %lld as its descriptor says", img->what, kind,
                         d->digest, out->data.len, (long long)d->size);
    }
    return 0;
}

/* A blob a document names: into memory when small, else onto the layer list. */
static int fetch_blob_or_list(struct registry_session *s, struct pull_image *img, const struct desc *d,
                              const char *kind, size_t memory_max, struct error *err)
{
    if (find_doc(img, d->digest) || has_layer(img, d->digest))
        return 0;
    if (d->size > (int64_t)memory_max) {
        add_layer(img, d);
        return 0;
    }
    struct buffer data = BUFFER_INIT;
    int found = registry_get_blob(s, &img->ref, d->digest, (size_t)d->size, &data, err);
    if (found <= 0) {
        buffer_free(&data);
        if (found == 0)
            return error_set(err, ERROR_INPUT,
                             "%s: blob %s, named by the image, is not on the registry; push the "
                             "image again (skopeo copy --all)",
                             img->what, d->digest);
        return -1;
    }
    add_doc(img, d->digest, d->media_type, kind, &data);
    return 0;
}

static bool platform_is(const struct oci_platform *p, const char *arch)
{
    return !strcmp(p->os, "linux") && !strcmp(p->architecture, arch);
}

static int check_platforms(const struct pull_image *img, const struct oci_platform *have, size_t count, struct error *err)
{
    for (size_t a = 0; a < img->arch_count; a++) {
        bool found = false;
        for (size_t i = 0; i < count && !found; i++)
            found = platform_is(&have[i], img->arches[a]);
        if (found)
            continue;
        struct buffer list = BUFFER_INIT;
        for (size_t i = 0; i < count; i++) {
            char p[OCI_PLATFORM_SIZE];
            oci_platform_format(&have[i], p);
            buffer_appendf(&list, "%s%s", list.len ? ", " : "", p);
        }
        error_set(err, ERROR_INPUT,
                  "%s (%s): platform missing: no linux/%s image (it has %s), needed for %s; pull "
                  "from a registry that has every platform (mirror with skopeo copy --all) or drop %s from the "
                  "manifest",
                  img->what, img->digest, img->arches[a], list.len ? buffer_cstr(&list) : "none",
                  img->arch_reason ? img->arch_reason : "the manifest's assets", img->arches[a]);
        buffer_free(&list);
        return -1;
    }
    return 0;
}

/* One platform manifest (or the only one): its config into memory, its layers onto the list. */
static int fetch_manifest_contents(struct registry_session *s, struct pull_image *img, const char *digest,
                                   const char *media_type, struct oci_platform *platform, struct error *err)
{
    const struct pull_doc *doc = find_doc(img, digest);
    char *what = xasprintf("%s: manifest %s", img->what, digest);
    struct desc_list l;
    int rc = read_descriptors(&doc->data, what, &l, err);
    if (rc == 0 && !l.has_config)
        rc = error_set(err, ERROR_INPUT, "%s: an image manifest without a config", what);
    if (rc == 0)
        rc = fetch_blob_or_list(s, img, &l.config, "config", OCI_DOCUMENT_MAX, err);
    for (size_t i = 0; rc == 0 && i < l.count; i++)
        add_layer(img, &l.items[i]);
    if (rc == 0 && platform) {
        /* the platform is the config's (what oci_import records) */
        const struct pull_doc *config = find_doc(img, l.config.digest);
        struct oci_config c;
        if (config && oci_config_parse(config->data.data, config->data.len, what, &c, err) == 0) {
            *platform = c.platform;
            oci_config_free(&c);
        } else {
            rc = -1;
        }
    }
    (void)media_type;
    desc_list_free(&l);
    free(what);
    return rc;
}

int pull_image_resolve(struct registry_session *s, struct pull_image *img, struct error *err)
{
    const char *reference = img->ref.digest ? img->ref.digest : img->ref.tag;
    struct registry_document top;
    int found = registry_get_manifest(s, &img->ref, reference, OCI_DOCUMENT_MAX, &top, err);
    if (found < 0)
        return -1;
    if (found == 0)
        return not_found(img, reference, err);
    snprintf(img->digest, sizeof img->digest, "%s", top.digest);
    img->media_type = document_media_type(&top, NULL);
    img->size = (int64_t)top.data.len;
    const struct oci_media_type *t = oci_media_type_find(img->media_type);
    if (!t || (t->kind != OCI_MEDIA_INDEX && t->kind != OCI_MEDIA_MANIFEST)) {
        registry_document_free(&top);
        return error_set(err, ERROR_INPUT, "%s (%s): the registry sent a %s, not an image manifest or index", img->what,
                         img->digest, img->media_type);
    }
    img->is_index = t->kind == OCI_MEDIA_INDEX;
    char *what = xasprintf("%s (%s)", img->what, img->digest);
    int rc = 0;
    if (!img->is_index) {
        add_doc(img, top.digest, img->media_type, "manifest", &top.data);
        struct oci_platform platform;
        rc = fetch_manifest_contents(s, img, img->digest, img->media_type, &platform, err);
        if (rc == 0)
            rc = check_platforms(img, &platform, 1, err);
    } else {
        struct oci_index index;
        rc = oci_index_parse(top.data.data, top.data.len, img->media_type, what, &index, err);
        add_doc(img, top.digest, img->media_type, "index", &top.data);
        struct oci_platform *platforms = NULL;
        size_t platform_count = 0;
        for (size_t i = 0; rc == 0 && i < index.count; i++) {
            const struct oci_descriptor *d = &index.manifests[i];
            struct desc named = {.size = d->size};
            snprintf(named.digest, sizeof named.digest, "%s", d->digest);
            struct registry_document child;
            if (fetch_named_manifest(s, img, &named, "manifest", &child, err) != 0) {
                rc = -1;
                break;
            }
            add_doc(img, child.digest, d->media_type, d->type->kind == OCI_MEDIA_INDEX ? "index" : "manifest",
                    &child.data);
            registry_document_free(&child);
            if (d->type->kind == OCI_MEDIA_INDEX) {
                rc = error_set(err, ERROR_INPUT,
                               "%s: an index inside the index (%s) is not an image airfactory "
                               "can build from",
                               what, d->digest);
                break;
            }
            if (d->attestation) {
                rc = fetch_manifest_contents(s, img, d->digest, d->media_type, NULL, err);
                continue;
            }
            platforms = xrealloc(platforms, (platform_count + 1) * sizeof *platforms);
            rc = fetch_manifest_contents(s, img, d->digest, d->media_type, &platforms[platform_count], err);
            if (rc == 0 && d->has_platform && d->platform.variant[0])
                snprintf(platforms[platform_count].variant, sizeof platforms[platform_count].variant, "%s",
                         d->platform.variant);
            platform_count++;
        }
        if (rc == 0)
            rc = check_platforms(img, platforms, platform_count, err);
        free(platforms);
        oci_index_free(&index);
    }
    registry_document_free(&top);
    free(what);
    return rc;
}

/* ---- signatures ---- */

/* An artifact manifest (signature, referrer) by its document: every blob it names. */
static int fetch_artifact_contents(struct registry_session *s, struct pull_image *img, const char *digest, int depth,
                                   struct error *err);

static int fetch_artifact(struct registry_session *s, struct pull_image *img, const struct desc *d, int depth,
                          struct error *err)
{
    if (!find_doc(img, d->digest)) {
        struct registry_document doc;
        if (fetch_named_manifest(s, img, d, "referrer", &doc, err) != 0)
            return -1;
        char *media_type = document_media_type(&doc, d->media_type);
        add_doc(img, doc.digest, media_type, "referrer", &doc.data);
        free(media_type);
        registry_document_free(&doc);
    }
    return fetch_artifact_contents(s, img, d->digest, depth, err);
}

static int fetch_artifact_contents(struct registry_session *s, struct pull_image *img, const char *digest, int depth,
                                   struct error *err)
{
    const struct pull_doc *doc = find_doc(img, digest);
    char *what = xasprintf("%s: signature artifact %s", img->what, digest);
    struct desc_list l;
    int rc = read_descriptors(&doc->data, what, &l, err);
    if (rc == 0 && l.has_config)
        rc = fetch_blob_or_list(s, img, &l.config, "signature-blob", ARTIFACT_BLOB_IN_MEMORY, err);
    for (size_t i = 0; rc == 0 && i < l.count; i++) {
        if (!l.is_index)
            rc = fetch_blob_or_list(s, img, &l.items[i], "signature-blob", ARTIFACT_BLOB_IN_MEMORY, err);
        else if (depth < ARTIFACT_DEPTH_MAX)
            rc = fetch_artifact(s, img, &l.items[i], depth + 1, err);
        else
            rc = error_set(err, ERROR_INPUT, "%s: indexes nested more than %d deep", what, ARTIFACT_DEPTH_MAX);
    }
    if (rc == 0 && !l.has_config && !l.is_index)
        rc = error_set(err, ERROR_INPUT, "%s: neither a manifest nor an index", what);
    desc_list_free(&l);
    free(what);
    return rc;
}

/* The legacy cosign signature of subject: tag sha256-<hex>.sig. */
static int fetch_cosign_tag(struct registry_session *s, struct pull_image *img, const char *subject, struct error *err)
{
    char tag[SHA256_HEX_LEN + 16];
    snprintf(tag, sizeof tag, "sha256-%s.sig", subject + 7);
    struct registry_document doc;
    int found = registry_get_manifest(s, &img->ref, tag, OCI_DOCUMENT_MAX, &doc, err);
    if (found <= 0)
        return found;
    char *media_type = document_media_type(&doc, NULL);
    add_tag(img, tag, doc.digest, media_type, (int64_t)doc.data.len, COSIGN_KIND_SIGS);
    char digest[OCI_DIGEST_SIZE];
    snprintf(digest, sizeof digest, "%s", doc.digest);
    add_doc(img, doc.digest, media_type, "signature", &doc.data);
    free(media_type);
    registry_document_free(&doc);
    return fetch_artifact_contents(s, img, digest, 1, err) == 0 ? 1 : -1;
}

/* Sigstore bundles and other referrers of subject: the referrers API, else its tag schema. */
static int fetch_referrers(struct registry_session *s, struct pull_image *img, const char *subject, struct error *err)
{
    char tag[SHA256_HEX_LEN + 16];
    snprintf(tag, sizeof tag, "sha256-%s", subject + 7);
    struct registry_document doc;
    int found = registry_get_referrers(s, &img->ref, subject, &doc, err);
    if (found < 0)
        return -1;
    struct desc_list l = {0};
    char *what = xasprintf("%s: referrers of %s", img->what, subject);
    if (found == 1 && (read_descriptors(&doc.data, what, &l, err) != 0 || l.count == 0)) {
        /* an empty answer: a registry with the API may still hold a tag-schema index pushed by an
         * older client (as `skopeo copy` of a cosign-saved image does) */
        if (l.count == 0 && l.items)
            desc_list_free(&l);
        registry_document_free(&doc);
        found = 0;
    }
    if (found == 0) {
        found = registry_get_manifest(s, &img->ref, tag, OCI_DOCUMENT_MAX, &doc, err);
        if (found == 1 && read_descriptors(&doc.data, what, &l, err) != 0)
            found = -1;
    }
    int rc = found < 0 ? -1 : 0;
    if (found == 1 && l.count > 0) {
        add_tag(img, tag, doc.digest, OCI_MEDIA_TYPE_INDEX, (int64_t)doc.data.len, NULL);
        add_doc(img, doc.digest, OCI_MEDIA_TYPE_INDEX, "referrer", &doc.data);
        img->referrers = xrealloc(img->referrers, (img->referrer_count + 1) * sizeof *img->referrers);
        struct pull_referrers *r = &img->referrers[img->referrer_count++];
        snprintf(r->subject, sizeof r->subject, "%s", subject);
        r->digests = xcalloc(l.count + 1, sizeof *r->digests);
        r->count = 0;
        for (size_t i = 0; rc == 0 && i < l.count; i++) {
            if (i >= REFERRERS_PER_SUBJECT_MAX) {
                rc = error_set(err, ERROR_INPUT, "%s: more than %d referrers; airfactory does not pull that many", what,
                               REFERRERS_PER_SUBJECT_MAX);
                break;
            }
            rc = fetch_artifact(s, img, &l.items[i], 1, err);
            r->digests[r->count++] = xstrdup(l.items[i].digest);
        }
    }
    registry_document_free(&doc);
    desc_list_free(&l);
    free(what);
    return rc;
}

int pull_image_signatures(struct registry_session *s, struct pull_image *img, struct error *err)
{
    /* the subjects: the top digest and every manifest an index lists */
    size_t count = 0;
    char(*subjects)[OCI_DIGEST_SIZE] = xcalloc(img->doc_count + 1, sizeof *subjects);
    snprintf(subjects[count++], OCI_DIGEST_SIZE, "%s", img->digest);
    for (size_t i = 0; img->is_index && i < img->doc_count; i++)
        if (!strcmp(img->docs[i].kind, "manifest"))
            snprintf(subjects[count++], OCI_DIGEST_SIZE, "%s", img->docs[i].digest);
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        if (fetch_cosign_tag(s, img, subjects[i], err) < 0 || fetch_referrers(s, img, subjects[i], err) < 0)
            rc = -1;
    }
    free(subjects);
    return rc;
}

/* ---- verification over what was fetched ---- */

static int source_tagged(void *context, const char *tag, struct buffer *out, struct error *err)
{
    (void)err;
    const struct pull_image *img = context;
    for (size_t i = 0; i < img->tag_count; i++) {
        if (strcmp(img->tags[i].tag, tag) != 0)
            continue;
        const struct pull_doc *d = find_doc(img, img->tags[i].digest);
        if (!d)
            return 0;
        buffer_append(out, d->data.data, d->data.len);
        return 1;
    }
    return 0;
}

static int source_referrers(void *context, const char *subject, char ***digests, struct error *err)
{
    (void)err;
    const struct pull_image *img = context;
    *digests = NULL;
    for (size_t i = 0; i < img->referrer_count; i++) {
        const struct pull_referrers *r = &img->referrers[i];
        if (strcmp(r->subject, subject) != 0 || r->count == 0)
            continue;
        *digests = xcalloc(r->count + 1, sizeof **digests);
        for (size_t k = 0; k < r->count; k++)
            (*digests)[k] = xstrdup(r->digests[k]);
        return 1;
    }
    return 0;
}

static int source_blob(void *context, const char *digest, size_t max_size, struct buffer *out, struct error *err)
{
    const struct pull_image *img = context;
    const struct pull_doc *d = find_doc(img, digest);
    if (!d)
        return 0;
    if (d->data.len > max_size)
        return error_set(err, ERROR_INPUT, "%s: blob %s is %zu bytes, more than the %zu a signature may have",
                         img->what, digest, d->data.len, max_size);
    buffer_append(out, d->data.data, d->data.len);
    return 1;
}

int pull_image_verify(struct pull_image *img, struct error *err)
{
    struct verify_source source = {img, source_tagged, source_referrers, source_blob};
    struct error first;
    if (verify_image(img->policy, &source, img->digest, &img->receipt, &first) == 0)
        return 0;
    if (!img->is_index || first.code != ERROR_INPUT) {
        *err = first;
        return error_prefix(err, "%s: ", img->what);
    }
    /* the rule of oci_import's verify_one: an index that is not signed itself is accepted when each
     * platform manifest is (cosign sign --recursive signs both); attestations are not images */
    struct verify_receipt receipt;
    bool any = false;
    for (size_t i = 0; i < img->doc_count; i++) {
        const struct pull_doc *d = &img->docs[i];
        if (strcmp(d->kind, "manifest") != 0)
            continue;
        struct desc_list l;
        struct error ignored;
        bool attestation = false;
        const struct pull_doc *top = find_doc(img, img->digest);
        if (read_descriptors(&top->data, img->what, &l, &ignored) == 0) {
            for (size_t k = 0; k < l.count; k++)
                if (!strcmp(l.items[k].digest, d->digest))
                    attestation = l.items[k].attestation;
            desc_list_free(&l);
        }
        if (attestation)
            continue;
        struct error second;
        if (verify_image(img->policy, &source, d->digest, &receipt, &second) != 0) {
            *err = first;
            return error_prefix(err, "%s (its platform manifest %s is not signed either): ", img->what, d->digest);
        }
        if (!any)
            img->receipt = receipt;
        any = true;
    }
    if (!any) {
        *err = first;
        return error_prefix(err, "%s: ", img->what);
    }
    return 0;
}

/* ---- store and archive ---- */

void pull_image_archive(const struct pull_image *img, const char *tag, struct oci_archive_blob **blobs, size_t *count,
                        struct buffer *index_json)
{
    *count = 0;
    *blobs = xcalloc(img->doc_count + img->layer_count + 1, sizeof **blobs);
    for (size_t i = 0; i < img->doc_count; i++)
        (*blobs)[(*count)++] = (struct oci_archive_blob){img->docs[i].digest, (int64_t)img->docs[i].data.len,
                                                         img->docs[i].data.data ? img->docs[i].data.data : ""};
    for (size_t i = 0; i < img->layer_count; i++)
        (*blobs)[(*count)++] = (struct oci_archive_blob){img->layers[i].digest, img->layers[i].size, NULL};
    struct oci_archive_ref *refs = xcalloc(img->tag_count + 1, sizeof *refs);
    refs[0] = (struct oci_archive_ref){img->media_type, img->digest, img->size, tag,
                                       img->is_index ? COSIGN_KIND_INDEX : COSIGN_KIND_IMAGE};
    for (size_t i = 0; i < img->tag_count; i++)
        refs[i + 1] = (struct oci_archive_ref){img->tags[i].media_type, img->tags[i].digest, img->tags[i].size,
                                               img->tags[i].tag, img->tags[i].kind};
    oci_archive_index_json(refs, img->tag_count + 1, index_json);
    free(refs);
}

int pull_image_read_file(struct store *store, const struct pull_image *img, const char *path, size_t max_size,
                         struct buffer *out, struct error *err)
{
    const char *manifest_digest = img->digest;
    const char *manifest_type = img->media_type;
    char *what = xasprintf("%s (%s)", img->what, img->digest);
    int rc = -1;
    if (img->is_index) {
        struct oci_index index;
        const struct pull_doc *top = find_doc(img, img->digest);
        if (oci_index_parse(top->data.data, top->data.len, img->media_type, what, &index, err) != 0)
            goto out;
        const struct oci_descriptor *pick = NULL;
        for (size_t i = 0; i < index.count; i++) {
            const struct oci_descriptor *d = &index.manifests[i];
            if (d->attestation || d->type->kind != OCI_MEDIA_MANIFEST)
                continue;
            if (!pick || (d->has_platform && platform_is(&d->platform, "amd64")))
                pick = d;
        }
        if (!pick) {
            oci_index_free(&index);
            error_set(err, ERROR_INPUT, "%s: the index lists no image", what);
            goto out;
        }
        const struct pull_doc *d = find_doc(img, pick->digest);
        manifest_digest = d->digest;
        manifest_type = d->media_type;
        oci_index_free(&index);
    }
    const struct pull_doc *m = find_doc(img, manifest_digest);
    struct oci_manifest manifest;
    if (oci_manifest_parse(m->data.data, m->data.len, manifest_type, what, &manifest, err) != 0)
        goto out;
    const struct pull_doc *c = find_doc(img, manifest.config.digest);
    struct oci_config config;
    if (!c || oci_config_parse(c->data.data, c->data.len, what, &config, err) != 0) {
        if (!c)
            error_set(err, ERROR_RUNTIME, "%s: config %s was not fetched", what, manifest.config.digest);
        oci_manifest_free(&manifest);
        goto out;
    }
    struct oci_image image = {0};
    if (oci_image_from_documents(&image, &manifest, &config, what, err) == 0) {
        image.reference = xstrdup(img->what);
        rc = layer_read_file(store, &image, path, max_size, out, err);
    }
    oci_image_free(&image);
    oci_config_free(&config);
    oci_manifest_free(&manifest);
out:
    free(what);
    return rc;
}

void pull_image_free(struct pull_image *img)
{
    if (!img)
        return;
    registry_ref_free(&img->ref);
    free(img->what);
    for (size_t i = 0; i < img->arch_count; i++)
        free(img->arches[i]);
    free(img->arches);
    free(img->media_type);
    for (size_t i = 0; i < img->doc_count; i++) {
        free(img->docs[i].media_type);
        buffer_free(&img->docs[i].data);
    }
    free(img->docs);
    for (size_t i = 0; i < img->tag_count; i++) {
        free(img->tags[i].tag);
        free(img->tags[i].media_type);
    }
    free(img->tags);
    for (size_t i = 0; i < img->referrer_count; i++) {
        for (size_t k = 0; k < img->referrers[i].count; k++)
            free(img->referrers[i].digests[k]);
        free(img->referrers[i].digests);
    }
    free(img->referrers);
    free(img->layers);
    memset(img, 0, sizeof *img);
}
