/* installer — Talos installer container images, as Image Factory serves them from its registry
 * (installer/<schematic>:<version>, <platform>-installer/..., ...-secureboot) and as the
 * `installer-<arch>.tar` download (talos-imager.md §9, image-factory-spec.md §4, §6.3).
 *
 * Owns: the artifacts layer (deterministic tar+gzip: entries sorted, no directory entries, mode
 * 0644, uid/gid 0, mtime = the build epoch, gzip without timestamp), the image config (the base's
 * `config` object copied, diff_ids + history extended, created = the build epoch), the OCI
 * manifest, the docker-archive (`docker save` / go-containerregistry tarball layout), the
 * multi-arch OCI index and its cosign legacy signature (`sha256-<hex>.sig`, simple-signing payload
 * signed with the bundle key, which /oci/cosign/signing-key.pub serves).
 *
 * Design: the factory builds per (schematic, version, arch), but a registry tag spans every arch.
 * So the work is split in two:
 *   1. installer_image_build (one arch): layer file, config, manifest and the docker-archive are
 *      added to the bundle as blobs — in two steps so the factory can build in worker threads:
 *      installer_image_prepare writes files to a scratch directory only, installer_image_add (the
 *      writer's thread) adds them; the archive is the `installer-<arch>.tar` asset. Base layers
 *      are hard-linked from the store, never copied through memory.
 *      On a nightly rebuild the archive may come back by cache key instead;
 *      installer_image_from_archive then recovers the same per-arch blobs from it (its config and
 *      layers are the image's, byte for byte), so both paths give identical digests.
 *   2. each per-arch result is remembered in an installer_registry under (repository, version);
 *      installer_registry_finish, called once before the bundle commit, writes one OCI index per
 *      (repository, version) with the arches in name order, signs it and tags both.
 * The base image is installer-base (Talos >= 1.10) or installer (< 1.10, which carried the boot
 * assets in a second layer: like Talos, only its first layer is kept when it has exactly two). */
#ifndef AIRFACTORY_INSTALLER_H
#define AIRFACTORY_INSTALLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/buffer.h"
#include "bundle/bundle_writer.h"
#include "airfactory/error.h"
#include "oci/oci_image.h"
#include "oci/store.h"

/* One entry of an added layer. */
struct installer_file {
    const char *image_path;  /* "usr/install/amd64/vmlinuz.efi" (no leading '/') */
    const char *source_path; /* where the bytes are; NULL: a directory entry */
    unsigned mode;           /* permission bits; 0 = 0644 (files) / 0755 (directories) */
};

/* Write the artifacts layer (files sorted by image_path whatever their order here) as tar+gzip to
 * out_path (atomically). diff_id / digest: "sha256:<hex>" of the tar / of the gzip file. */
int installer_layer_write(const struct installer_file *files, size_t count, uint32_t mtime, const char *out_path,
                          char diff_id[OCI_DIGEST_SIZE], char digest[OCI_DIGEST_SIZE], uint64_t *size, struct error *err);
/* The same with each entry's permission bits (modes[i] for files[i]; installer_layer_write: 0644),
 * for container images whose layer holds programs (tools/oci_image.c). */
int installer_layer_write_modes(const struct installer_file *files, const unsigned *modes, size_t count, uint32_t mtime,
                                const char *out_path, char diff_id[OCI_DIGEST_SIZE], char digest[OCI_DIGEST_SIZE],
                                uint64_t *size, struct error *err);

/* The new image config from the base config's bytes: architecture/os, the base `config` object as
 * is, created = mtime (RFC 3339), history and diff_ids of the first keep_layers base layers, then
 * the artifacts layer (new_diff_id) and, when overlay_diff_id is not NULL, the overlay layer.
 * Compact JSON, go-containerregistry key order. */
int installer_config_build(const char *base_config, size_t len, const char *arch, size_t keep_layers,
                           const char *new_diff_id, const char *overlay_diff_id, uint32_t mtime, struct buffer *out,
                           struct error *err);

struct installer_layer {
    char media_type[80];
    char digest[OCI_DIGEST_SIZE];
    int64_t size;
};
/* OCI image manifest (descriptors in go-containerregistry key order: mediaType, size, digest). */
void installer_manifest_build(const char *config_digest, int64_t config_size, const struct installer_layer *layers,
                              size_t count, struct buffer *out);

/* One arch's image, as added to a bundle. */
struct installer_image {
    char arch[16];
    char manifest_digest[OCI_DIGEST_SIZE];
    int64_t manifest_size;
    char archive_digest[OCI_DIGEST_SIZE]; /* the docker-archive blob (installer-<arch>.tar) */
    uint64_t archive_size;
};

struct installer_build_options {
    struct store *store;
    const struct oci_image *base; /* installer-base / installer for linux/<arch>, imported in store */
    const char *arch;
    const struct installer_file *files;
    size_t file_count;
    uint32_t mtime;          /* SOURCE_DATE_EPOCH */
    const char *repo_tag;    /* manifest.json RepoTags entry (Talos: the base installer's reference) */
    const char *scratch_dir; /* for the layer file (bundle_writer_scratch_dir: moved, not copied) */
    /* the overlay layer (Talos out.go, for overlay schematics): /overlay/artifacts/..., the
     * board's installer as /overlay/installers/default, /overlay/extra-options; none when 0 */
    const struct installer_file *overlay_files;
    size_t overlay_file_count;
};

/* Build one arch's image into the bundle: layer, config, manifest, docker-archive blobs.
 * = installer_image_prepare + installer_image_add. */
int installer_image_build(struct bundle_writer *w, const struct installer_build_options *o, struct installer_image *out,
                          struct error *err);

/* One arch's image built outside the bundle (parallel builds: any thread may prepare, only the
 * writer's owner adds). Plain data: files in o->scratch_dir, small documents, digests, sizes. */
struct installer_prepared {
    char arch[16];
    size_t layer_count; /* the base layers kept, then the artifacts [and overlay] layer */
    size_t own_layers;  /* the last 1 or 2: our scratch files, moved into the bundle */
    struct installer_layer *layers;
    char **layer_paths;   /* base layers: their store files (linked); own layers: scratch files (moved) */
    struct buffer config; /* the image config, digest config_digest */
    char config_digest[OCI_DIGEST_SIZE];
    struct buffer manifest; /* the OCI manifest, digest manifest_digest */
    char manifest_digest[OCI_DIGEST_SIZE];
    char *archive_path; /* the docker-archive (installer-<arch>.tar), in o->scratch_dir */
    char archive_digest[OCI_DIGEST_SIZE];
    uint64_t archive_size;
};
/* Everything expensive: the artifacts layer (tar + gzip + hashes), config, manifest and the
 * docker-archive, written only into o->scratch_dir; touches no bundle writer (thread-safe for
 * distinct scratch files). */
int installer_image_prepare(const struct installer_build_options *o, struct installer_prepared *out, struct error *err);
/* Add a prepared image's blobs to the bundle in a fixed order (base layers, config, manifest,
 * docker-archive, artifacts layer; the scratch files are moved), checking every digest. */
int installer_image_add(struct bundle_writer *w, const struct installer_prepared *p, struct installer_image *out,
                        struct error *err);
/* Free p's memory and remove its scratch files (those not moved into a bundle). */
void installer_prepared_free(struct installer_prepared *p);

/* Recover the per-arch image from a docker-archive this module wrote (a reused asset): its config
 * and manifest become blobs again, layers come from the bundle, the store or the archive. */
int installer_image_from_archive(struct bundle_writer *w, struct store *store, const char *archive_path,
                                 const char *scratch_dir, struct installer_image *out, struct error *err);

/* The multi-arch OCI index: one entry per image, sorted by arch, platform linux/<arch>. */
void installer_index_build(const struct installer_image *images, size_t count, struct buffer *out);

/* The cosign simple-signing payload for digest under docker_reference (Go json.Marshal bytes). */
void installer_signature_payload(const char *docker_reference, const char *digest, struct buffer *out);

/* Sign digest (an index or manifest in repository) cosign-style with the PEM key at key_path: the
 * payload blob, the signature config and manifest are added, the manifest tagged sha256-<hex>.sig
 * in repository. sig_manifest_digest (optional) receives the signature manifest's digest. */
int installer_sign(struct bundle_writer *w, const char *key_path, const char *repository, const char *digest,
                   char sig_manifest_digest[OCI_DIGEST_SIZE], struct error *err);

/* Repository for an installer asset: "installer", "<platform>-installer", + "-secureboot".
 * platform "" means metal's plain "installer". */
void installer_repository_name(const char *platform, bool secureboot, const char *schematic_id, char *out, size_t size);

/* Per-arch images waiting for their index. */
struct installer_registry;
/* Remember image under (repository, version); the same arch twice with the same digest is fine,
 * with another digest ERROR_INPUT. *registry is created on first use. */
int installer_registry_add(struct installer_registry **registry, const char *repository, const char *version,
                           const struct installer_image *image, struct error *err);
/* Index, signature and tags for every (repository, version); NULL registry: nothing to do. */
int installer_registry_finish(struct installer_registry *registry, struct bundle_writer *w, const char *key_path,
                              struct error *err);
void installer_registry_free(struct installer_registry *registry);

#endif
