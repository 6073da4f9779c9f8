/* oci_layout — reading one input (an OCI image layout directory, an `oci-archive` tar, the same
 * compressed with gzip/zstd/xz, or `docker save` output) into a store's staging area, and
 * resolving images in it.
 *
 * Owns the input side of an import: every blob is hashed while it is copied, and its name (or, for
 * docker save, the manifest.json entry that names it) is checked against the hash before anything
 * looks at it. A tar is read once, sequentially (blobs may come in any order): each blob streams
 * into STORE/tmp/ — or, when the store already holds that digest, is only hashed, so importing the
 * same tarball twice writes nothing. A directory is read lazily: only blobs that resolution or
 * signature verification touches are copied. Staged blobs reach STORE/blobs/ only through
 * oci_layout_commit; oci_layout_close discards the rest. Nothing here decides trust: it hands the
 * signatures to verify through a verify_source and the caller (oci_import) commits or refuses. */
#ifndef AIRFACTORY_OCI_LAYOUT_H
#define AIRFACTORY_OCI_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/error.h"
#include "oci/oci_image.h"
#include "oci/store.h"
#include "airfactory/verify.h"

/* Limits against hostile inputs; zero fields take the defaults. */
struct oci_layout_limits {
    uint64_t max_bytes;   /* bytes of blobs one input may hold (default 512 GiB) */
    uint64_t max_ratio;   /* a compressed tar may not expand more than this (default 100) ... */
    uint64_t ratio_floor; /* ... once it has produced this many bytes (default 64 MiB) */
};

struct oci_layout;

int oci_layout_open(struct store *store, const char *path, const struct oci_layout_limits *limits,
                    struct oci_layout **out, struct error *err);
/* Discards every staged blob that was not committed. */
void oci_layout_close(struct oci_layout *layout);

/* Whether a ref.name (or RepoTag) answers to tag: equal, or the tag part of one equals the other
 * when only one of them is a full reference ("v1.10.3" ~ "ghcr.io/siderolabs/imager:v1.10.3"). */
bool oci_layout_tag_matches(const char *ref_name, const char *tag);

/* Which images to resolve. tag NULL: every image index.json names (signatures and attestations
 * excluded). No platforms: every platform of an index (attestation manifests excluded), or the one
 * image a manifest describes. */
struct oci_layout_selection {
    const char *tag;
    const struct oci_platform *platforms;
    size_t platform_count;
};

/* One resolved image, and every blob it needs (kinds "index", "manifest", "config", "layer"). */
struct oci_layout_image {
    struct oci_image image; /* image.reference = the ref.name / RepoTag, or the digest if untagged */
    struct store_source_blob *blobs;
    size_t blob_count;
};

/* Follow index.json → image index(es) → manifest → config and layers. Every document and blob on the
 * way is checked against its descriptor's digest and size; a missing blob, an index without a
 * wanted platform, an unknown media type or a config that disagrees with its manifest is an error
 * naming the input, the digest and what to do. */
int oci_layout_resolve(struct oci_layout *layout, const struct oci_layout_selection *selection,
                       struct oci_layout_image **images, size_t *count, struct error *err);
void oci_layout_images_free(struct oci_layout_image *images, size_t count);

/* A verify_source over this layout: tags from index.json (and `cosign save`'s "kind" annotations),
 * referrers found by walking every manifest reachable from index.json, blobs by digest. */
void oci_layout_verify_source(struct oci_layout *layout, struct verify_source *out);
/* The blobs verify read since the last call (signature manifests, payloads, bundles): the caller
 * keeps them with the image. Ownership moves to the caller (free each with the store_source_blob
 * fields, or append them to an image's list). */
void oci_layout_take_verified_blobs(struct oci_layout *layout, struct store_source_blob **blobs, size_t *count);

/* Mark for keeping every signature artifact of digest the layout holds, verified or not: the
 * `sha256-<hex>.sig/.att/.sbom` tags and OCI referrers, with their configs and layers, so the
 * store (and a bundle built from it) can serve them. Collected by take_verified_blobs. */
void oci_layout_touch_signatures(struct oci_layout *layout, const char *digest);

/* Move these blobs from staging into the store (already-stored ones are left alone), then fsync. */
int oci_layout_commit(struct oci_layout *layout, const struct store_source_blob *blobs, size_t count, struct error *err);

struct oci_layout_stats {
    uint64_t blobs_read;    /* blobs hashed from the input */
    uint64_t blobs_written; /* of which copied into the store's staging area */
    uint64_t bytes_read;
    uint64_t bytes_written;
    uint64_t blobs_committed; /* moved into blobs/ by oci_layout_commit */
};
void oci_layout_get_stats(const struct oci_layout *layout, struct oci_layout_stats *out);
const char *oci_layout_input(const struct oci_layout *layout);

/* Normalise a path from an archive ("./a//b/" → "a/b", "" or "." → "."); absolute paths and ".."
 * components are refused (returns -1, *out untouched). Used for archive entries and layer entries. */
int oci_layout_normalize_path(const char *in, char **out);
/* Where a symlink at entry_path (normalised) pointing at target leads, resolved lexically inside
 * the archive root (an absolute target starts at the root); -1 if it climbs above the root. */
int oci_layout_resolve_link(const char *entry_path, const char *target, char **out);

#endif
