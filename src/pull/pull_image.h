/* pull_image — one image from a registry, the way `airfactory pull` needs it: every document and
 * signature in memory, verified, the layers listed for download, then written as an OCI archive.
 *
 * Owns what belongs to an image in an archive airfactory can build from:
 *  - the manifest the reference names and, for an index, every manifest it lists (all platforms,
 *    attestation manifests too, so the layout is complete), their configs and layers;
 *  - for the top digest and every listed manifest, each signature form Image Factory reads
 *    (image-factory internal/image/verify, cosign@v2.4 pkg/cosign): the legacy `sha256-<hex>.sig`
 *    tag, and OCI referrers (Sigstore bundles) from the referrers API, or from its tag schema
 *    `sha256-<hex>` when the registry has no such API or lists nothing there — with every blob
 *    those artifacts name;
 *  - a verify_source over that in-memory set, so verify_image checks exactly what will be written;
 *  - the archive's index.json: the image under its tag (cosign save's `kind` annotation), each
 *    `.sig` tag, each referrers index under `sha256-<hex>`.
 * Documents stay in memory (each at most OCI_DOCUMENT_MAX; signature blobs at most 16 MiB, larger
 * artifact blobs are streamed like layers). No threads here: pull.c fetches layers in parallel. */
#ifndef AIRFACTORY_PULL_IMAGE_H
#define AIRFACTORY_PULL_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/buffer.h"
#include "airfactory/error.h"
#include "airfactory/verify.h"
#include "oci/oci_archive.h"
#include "oci/oci_image.h"
#include "oci/store.h"
#include "registry/registry_client.h"

struct pull_doc {
    char digest[OCI_DIGEST_SIZE];
    char *media_type;
    const char *kind; /* "index", "manifest", "config", "signature", "referrer", "signature-blob" */
    struct buffer data;
};

struct pull_tag {
    char *tag; /* "sha256-<hex>.sig", "sha256-<hex>" */
    char digest[OCI_DIGEST_SIZE];
    char *media_type;
    int64_t size;
    const char *kind; /* cosign save's annotation, or NULL */
};

struct pull_referrers {
    char subject[OCI_DIGEST_SIZE];
    char **digests;
    size_t count;
};

struct pull_layer {
    char digest[OCI_DIGEST_SIZE];
    int64_t size;
};

struct pull_image {
    /* set by the caller */
    struct registry_ref ref; /* fetched by ref.digest when set, else by ref.tag */
    char *what;              /* for messages: "ghcr.io/x/y:tag[@digest]" */
    const char *pinned_by;   /* "the extensions catalog of Talos v1.11.3 (REF)" or NULL */
    const struct verify_policy *policy;
    char **arches; /* linux/<arch> platforms that must be there */
    size_t arch_count;
    const char *arch_reason; /* why, for the message: "Talos v1.11.3 amd64 and arm64 assets" */
    /* resolved */
    char digest[OCI_DIGEST_SIZE];
    char *media_type;
    int64_t size;
    bool is_index;
    struct pull_doc *docs;
    size_t doc_count;
    struct pull_tag *tags;
    size_t tag_count;
    struct pull_referrers *referrers;
    size_t referrer_count;
    struct pull_layer *layers; /* blobs streamed into the store: layers, large artifact blobs */
    size_t layer_count;
    struct verify_receipt receipt;
};

/* The image's documents, platforms checked against arches. */
int pull_image_resolve(struct registry_session *s, struct pull_image *img, struct error *err);
/* Its signatures and referrers, every form, with their blobs. */
int pull_image_signatures(struct registry_session *s, struct pull_image *img, struct error *err);
/* verify_image over what was fetched: the top digest, or (as oci_import does) every platform
 * manifest on its own when the index itself is not signed. Fills img->receipt. */
int pull_image_verify(struct pull_image *img, struct error *err);
/* The archive's blobs (documents from memory, layers from the store; the caller frees the array,
 * not what it points to, which stays img's) and its index.json. */
void pull_image_archive(const struct pull_image *img, const char *tag, struct oci_archive_blob **blobs, size_t *count,
                        struct buffer *index_json);
/* Read one file from the image's linux/amd64 (else first) platform, whose layers must be in the
 * store: the catalogs' image-digests, descriptions.yaml, overlays.yaml. 1 found, 0 absent, -1 err. */
int pull_image_read_file(struct store *store, const struct pull_image *img, const char *path, size_t max_size,
                         struct buffer *out, struct error *err);
void pull_image_free(struct pull_image *img);

#endif
