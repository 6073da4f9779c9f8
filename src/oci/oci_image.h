/* oci_image — the OCI data model: media types, descriptors, image indexes, manifests, configs,
 * platforms, and the resolved image the builders consume.
 *
 * Owns parsing of OCI and Docker v2 schema 2 documents into one model (a Docker manifest list is
 * an index, a Docker v2s2 manifest a manifest) and the list of media types airfactory accepts.
 * Parsing is strict: the JSON parser rejects duplicate keys, every digest must be sha256, a
 * document's own mediaType must agree with the descriptor that pointed at it, and an unknown media
 * type is an error naming the document and the type (never silently skipped). No I/O except
 * oci_image_load, which reads a stored image back from a store. */
#ifndef AIRFACTORY_OCI_IMAGE_H
#define AIRFACTORY_OCI_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/digest.h"
#include "airfactory/error.h"

struct store;

#define OCI_DIGEST_SIZE (7 + SHA256_HEX_LEN + 1) /* "sha256:<hex>" + NUL */
#define OCI_DOCUMENT_MAX (4u << 20)              /* manifests, indexes, configs: registries cap at 4 MiB */
#define OCI_PLATFORM_SIZE 100

#define OCI_MEDIA_TYPE_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MEDIA_TYPE_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MEDIA_TYPE_CONFIG "application/vnd.oci.image.config.v1+json"
#define OCI_MEDIA_TYPE_LAYER "application/vnd.oci.image.layer.v1.tar"
#define OCI_MEDIA_TYPE_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_MEDIA_TYPE_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define OCI_ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"

enum oci_media_kind {
    OCI_MEDIA_INDEX = 1,       /* OCI image index, Docker manifest list */
    OCI_MEDIA_MANIFEST,        /* OCI image manifest, Docker v2s2 manifest */
    OCI_MEDIA_CONFIG,          /* image configuration */
    OCI_MEDIA_LAYER,           /* filesystem layer: tar, tar+gzip, tar+zstd */
    OCI_MEDIA_SIGNATURE,       /* cosign simple-signing payload */
    OCI_MEDIA_SIGSTORE_BUNDLE, /* Sigstore bundle (v0.1 .. v0.3) */
    OCI_MEDIA_ATTESTATION,     /* in-toto statement, DSSE envelope */
    OCI_MEDIA_EMPTY,           /* application/vnd.oci.empty.v1+json */
};

enum oci_compression { OCI_COMPRESSION_NONE, OCI_COMPRESSION_GZIP, OCI_COMPRESSION_ZSTD };

struct oci_media_type {
    const char *name;
    enum oci_media_kind kind;
    enum oci_compression compression;
};

/* NULL when airfactory does not know the type. */
const struct oci_media_type *oci_media_type_find(const char *name);

struct oci_platform {
    char os[32];
    char architecture[32];
    char variant[32];
};

/* "os/arch[/variant]", e.g. "linux/amd64", "linux/arm64/v8". */
int oci_platform_parse(const char *text, struct oci_platform *out, struct error *err);
void oci_platform_format(const struct oci_platform *p, char out[OCI_PLATFORM_SIZE]);
/* A wanted platform without a variant matches any variant of the same os/architecture. */
bool oci_platform_matches(const struct oci_platform *want, const struct oci_platform *have);

struct oci_descriptor {
    char *media_type;
    const struct oci_media_type *type; /* never NULL after a successful parse */
    char digest[OCI_DIGEST_SIZE];
    int64_t size;
    char *artifact_type; /* or NULL */
    char *ref_name;      /* annotation org.opencontainers.image.ref.name, or NULL */
    char *kind;          /* annotation "kind" written by `cosign save`, or NULL */
    bool attestation;    /* BuildKit attestation manifest (vnd.docker.reference.type) */
    bool has_platform;
    struct oci_platform platform;
};

struct oci_index {
    char *media_type;
    struct oci_descriptor *manifests;
    size_t count;
    bool has_subject;
    struct oci_descriptor subject;
};

struct oci_manifest {
    char *media_type;
    char *artifact_type; /* or NULL */
    struct oci_descriptor config;
    struct oci_descriptor *layers;
    size_t layer_count;
    bool has_subject;
    struct oci_descriptor subject;
};

struct oci_config {
    struct oci_platform platform;
    char *created; /* RFC 3339 or NULL */
    char **diff_ids;
    size_t diff_id_count;
};

/* Parse one document. what names it in errors ("manifest sha256:… in img.tar"); media_type is the
 * descriptor's type (NULL for index.json, which has no descriptor). */
int oci_index_parse(const char *data, size_t len, const char *media_type, const char *what, struct oci_index *out,
                    struct error *err);
int oci_manifest_parse(const char *data, size_t len, const char *media_type, const char *what, struct oci_manifest *out,
                       struct error *err);
int oci_config_parse(const char *data, size_t len, const char *what, struct oci_config *out, struct error *err);
void oci_descriptor_free(struct oci_descriptor *d);
void oci_index_free(struct oci_index *index);
void oci_manifest_free(struct oci_manifest *manifest);
void oci_config_free(struct oci_config *config);
void oci_descriptor_copy(struct oci_descriptor *to, const struct oci_descriptor *from);
/* True when the descriptor's artifactType names something other than an image: a signature,
 * Sigstore bundle, SBOM, attestation, … An artifactType that is an image configuration media type
 * (go-containerregistry's layout writer copies the config's media type there since 2023) is an
 * image, as is a descriptor without one. */
bool oci_descriptor_is_artifact(const struct oci_descriptor *d);

/* Lenient look at any JSON document: its subject digest (OCI referrers). 1 has one, 0 not. */
int oci_document_subject(const char *data, size_t len, char subject[OCI_DIGEST_SIZE]);

/* A resolved, verified image for one platform: what the builders read. */
struct oci_image {
    char *reference;                       /* the name it was imported under */
    char digest[OCI_DIGEST_SIZE];          /* what the reference names; what the signature covers */
    char *media_type;                      /* of digest: an index or a manifest */
    int64_t size;                          /* of digest */
    char manifest_digest[OCI_DIGEST_SIZE]; /* the platform's image manifest (== digest if no index) */
    char *manifest_media_type;
    int64_t manifest_size;
    struct oci_platform platform; /* from the config (the index entry's may add a variant) */
    struct oci_descriptor config;
    struct oci_descriptor *layers; /* in application order, bottom first */
    size_t layer_count;
    char **diff_ids; /* sha256 of each uncompressed layer, from the config; layer_count of them */
    char *created;   /* config's created time or NULL */
};

void oci_image_free(struct oci_image *image);
/* Build image from its parsed manifest and config (checks: an image, not an artifact; config and
 * layer media types; one diff_id per layer). */
int oci_image_from_documents(struct oci_image *image, const struct oci_manifest *manifest,
                             const struct oci_config *config, const char *what, struct error *err);
/* Read an imported image back from a store: reference as imported, platform "os/arch[/variant]"
 * or NULL when only one platform was imported. Manifest and config are re-read and re-hashed. */
int oci_image_load(struct store *store, const char *reference, const char *platform, struct oci_image *out,
                   struct error *err);

#endif
