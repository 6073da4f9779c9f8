/* oci_archive — writing an OCI image layout as one tar file (`oci-archive`, what
 * `skopeo copy … oci-archive:FILE` and `cosign save` produce) or as a directory (`oci:DIR`), from
 * blobs in a store or in memory.
 *
 * Owns the layout of the file (opencontainers/image-spec@v1.1.0 image-layout.md): entries
 * `blobs/`, `blobs/sha256/`, every blob once in digest order, `index.json`, `oci-layout`
 * (`{"imageLayoutVersion": "1.0.0"}`); ustar headers with uid/gid 0 (root/root), mode 0755/0644
 * and one mtime, so the same blobs and index give the same bytes (docs/fixtures.md describes the
 * same shape). index.json is compact, without a top-level mediaType, one descriptor per name:
 * `org.opencontainers.image.ref.name` plus cosign save's `kind` annotation where given. The reader
 * is oci_layout; this file only writes, and checks whether an existing file already holds the
 * same content. */
#ifndef AIRFACTORY_OCI_ARCHIVE_H
#define AIRFACTORY_OCI_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "airfactory/buffer.h"
#include "airfactory/error.h"
#include "oci/store.h"

/* One index.json entry. */
struct oci_archive_ref {
    const char *media_type;
    const char *digest;
    int64_t size;
    const char *ref_name; /* org.opencontainers.image.ref.name: a tag, "sha256-<hex>.sig", ... */
    const char *kind;     /* "dev.cosignproject.cosign/image", …/imageIndex, …/sigs, or NULL */
};

struct oci_archive_blob {
    const char *digest;
    int64_t size;
    const void *data; /* the bytes when the caller holds them (size of them), NULL: read from the store */
};

/* index.json for refs, in the given order. */
void oci_archive_index_json(const struct oci_archive_ref *refs, size_t count, struct buffer *out);

/* Write the archive to fd (left open): the blobs (from memory, or read from the store, where each
 * must then be; duplicates are written once), then index_json. what names the file in errors. */
int oci_archive_write(struct store *store, int fd, const char *what, const struct oci_archive_blob *blobs, size_t count,
                      const struct buffer *index_json, int64_t mtime, struct error *err);

/* 1 when the file at path is an archive with exactly this index.json and these blobs (names and
 * sizes; contents are not hashed again), 0 when it is missing or differs in any way. */
int oci_archive_same(const char *path, const struct oci_archive_blob *blobs, size_t count,
                     const struct buffer *index_json);

/* The same layout as a directory: dir/blobs/sha256/<hex> (copied from the store, or written from
 * memory), dir/index.json, dir/oci-layout, each file fsynced. dir must exist (empty). */
int oci_archive_write_dir(struct store *store, const char *dir, const struct oci_archive_blob *blobs, size_t count,
                          const struct buffer *index_json, struct error *err);
/* 1 when dir holds exactly this index.json and every blob with its size, 0 otherwise. */
int oci_archive_same_dir(const char *dir, const struct oci_archive_blob *blobs, size_t count,
                         const struct buffer *index_json);

#endif
