/* bundle_rows — the bundle rows of a build that are not assets: each version's extensions and
 * overlays catalogs, the talosctl binaries of its talosctl-all source, every imported source with
 * its verification receipt, the cluster images (role image: their blobs, tags, signatures and
 * referrers, served by the registry as is) and the public keys (cosign, SecureBoot). Main thread. */
#include "factory/factory_internal.h"

#include <stdlib.h>
#include <string.h>

#include "airfactory/bundle_key.h"
#include "core/memory.h"
#include "imager/talosctl.h"
#include "oci/store.h"
#include "registry/registry_ref.h"

int factory_add_catalog_rows(struct factory *f, const char *version, struct error *err)
{
    struct version_catalog *vc = factory_catalog(f, version, err);
    if (!vc)
        return -1;
    for (size_t i = 0; i < vc->catalog.extension_count; i++) {
        const struct catalog_extension *e = &vc->catalog.extensions[i];
        struct bundle_extension row = {version, e->name, e->reference, e->digest, e->author, e->description};
        if (bundle_writer_add_extension(f->writer, &row, err) != 0)
            return -1;
    }
    for (size_t i = 0; i < vc->catalog.overlay_count; i++) {
        const struct catalog_overlay *o = &vc->catalog.overlays[i];
        struct bundle_overlay row = {version, o->name, o->image, o->reference, o->digest};
        if (bundle_writer_add_overlay(f->writer, &row, err) != 0)
            return -1;
    }
    return 0;
}

/* The talosctl binaries of the version's talosctl-all source, if the manifest has one. */
int factory_add_talosctl_rows(struct factory *f, const char *version, struct error *err)
{
    const struct imported *im = factory_find_role(f, SOURCE_ROLE_TALOSCTL_ALL, version, "amd64");
    if (!im)
        return 0;
    size_t count = 0;
    if (talosctl_add_files(f->store, &im->result.image, f->work_dir, version, f->writer, &count, err) != 0)
        return -1;
    struct json_writer w;
    struct buffer b = BUFFER_INIT;
    factory_event_begin(f, &w, &b, "talosctl_added");
    json_kv_string(&w, "version", version);
    json_kv_int(&w, "files", (int64_t)count);
    char *human = xasprintf("talosctl %s: %zu files from %s", version, count, im->result.image.reference);
    factory_event_end(f, &w, &b, human);
    free(human);
    return 0;
}

int factory_add_source_rows(struct factory *f, struct error *err)
{
    for (size_t i = 0; i < f->imported_count; i++) {
        const struct imported *im = &f->imported[i];
        struct buffer receipt = BUFFER_INIT;
        verify_receipt_to_json(&im->result.receipt, &receipt);
        struct bundle_source s = {
            .reference = im->result.image.reference,
            .digest = im->result.image.digest,
            .platform = im->result.platform,
            .role = source_role_name(im->source->role),
            .receipt = buffer_cstr(&receipt),
        };
        int rc = bundle_writer_add_source(f->writer, &s, err);
        buffer_free(&receipt);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* A manifest blob's subject and artifactType (a referrer's row); 0 done, -1 error. */
static int referrer_facts(struct factory *f, const char *digest, char subject[OCI_DIGEST_SIZE], char *artifact_type,
                          size_t size, struct error *err)
{
    struct buffer text = BUFFER_INIT;
    if (store_read_blob(f->store, digest, OCI_DOCUMENT_MAX, &text, err) != 0)
        return -1;
    int rc = oci_document_subject(text.data ? text.data : "", text.len, subject) == 1 ? 0 : -1;
    struct json_value *doc = NULL;
    snprintf(artifact_type, size, "application/vnd.oci.image.manifest.v1+json");
    if (rc == 0 && json_parse(text.data, text.len, digest, &doc, err) == 0) {
        const char *at = json_object_get_string(doc, "artifactType");
        const struct json_value *config = json_object_get_object(doc, "config");
        const char *ct = config ? json_object_get_string(config, "mediaType") : NULL;
        if (at || ct)
            snprintf(artifact_type, size, "%s", at ? at : ct);
        json_free(doc);
    }
    error_clear(err);
    buffer_free(&text);
    return rc;
}

/* One imported platform of a cluster image into the bundle: every blob the import recorded (index,
 * manifest, config, layers, signatures, referrers), hard-linked from the store (a blob the bundle
 * already holds, e.g. a layer two images share, is stored once), then its registry rows in the
 * repository named after the reference ("registry.k8s.io/pause"): the reference's tag, the
 * signature tags and the referrers. */
static int add_cluster_platform(struct factory *f, const struct imported *im, const char *repository, const char *tag,
                                struct error *err)
{
    struct store_source src;
    int found = store_source_get(f->store, im->result.image.reference, im->result.platform, &src, err);
    if (found <= 0)
        return found < 0 ? -1
                         : error_set(err, ERROR_RUNTIME, "%s (%s): not in the store after its import",
                                     im->result.image.reference, im->result.platform);
    int rc = 0;
    for (size_t b = 0; b < src.blob_count && rc == 0; b++) {
        const struct store_source_blob *blob = &src.blobs[b];
        if (bundle_writer_has_blob(f->writer, blob->digest))
            continue;
        char *path = store_blob_path(f->store, blob->digest);
        char digest[BUNDLE_DIGEST_SIZE];
        rc = bundle_writer_add_blob_file(f->writer, path,
                                         blob->media_type[0] ? blob->media_type : "application/octet-stream",
                                         BUNDLE_BLOB_LINK, blob->digest, digest, NULL, err);
        free(path);
    }
    if (rc == 0)
        rc = bundle_writer_add_image_subset(f->writer, repository, tag, im->result.image.digest, err);
    for (size_t b = 0; b < src.blob_count && rc == 0; b++) {
        const struct store_source_blob *blob = &src.blobs[b];
        if (!strcmp(blob->kind, "referrer")) {
            char subject[OCI_DIGEST_SIZE], artifact_type[256];
            if (referrer_facts(f, blob->digest, subject, artifact_type, sizeof artifact_type, err) == 0)
                rc = bundle_writer_add_referrer(f->writer, repository, subject, blob->digest, artifact_type, err);
        } else if (blob->tag && blob->tag[0] &&
                   (!strcmp(blob->kind, "signature") || !strcmp(blob->kind, "referrers-index"))) {
            rc = bundle_writer_add_image(f->writer, repository, blob->tag, blob->digest, err);
        }
    }
    store_source_free(&src);
    if (rc != 0)
        return error_prefix(err, "image %s (%s): ", im->result.image.reference, im->result.platform);
    return 0;
}

int factory_add_cluster_images(struct factory *f, struct error *err)
{
    for (size_t i = 0; i < f->imported_count; i++) {
        const struct imported *im = &f->imported[i];
        if (im->source->role != SOURCE_ROLE_IMAGE)
            continue;
        struct registry_ref ref;
        if (registry_ref_parse(im->result.image.reference, &ref, err) != 0)
            return error_prefix(err, "image %s: ", im->source->path);
        char *repository = registry_ref_name(&ref);
        int rc = add_cluster_platform(f, im, repository, ref.tag, err);
        free(repository);
        registry_ref_free(&ref);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* The bundle's public key, served at /oci/cosign/signing-key.pub: the half of the signing key. */
int factory_add_public_key(struct factory *f, struct error *err)
{
    struct bundle_key *key = NULL;
    if (bundle_key_load_private(f->request->signing_key, &key, err) != 0)
        return -1;
    struct buffer pem = BUFFER_INIT;
    bundle_key_public_pem(key, &pem);
    int rc = bundle_writer_add_public_key(f->writer, "cosign", buffer_cstr(&pem), err);
    buffer_free(&pem);
    bundle_key_free(key);
    /* the SecureBoot signing certificate, served at /secureboot/signing-cert.pem */
    if (rc == 0 && f->signer)
        rc = bundle_writer_add_public_key(f->writer, "secureboot", f->signer->cert_pem, err);
    return rc;
}
