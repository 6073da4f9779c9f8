/* store — the local content-addressed store that verified source images are imported into.
 *
 * Owns the directory layout and its crash safety:
 *   STORE/blobs/sha256/<hex>   every blob, immutable, named by its SHA-256
 *   STORE/tmp/                 blobs being written; only renamed into blobs/ once complete,
 *                              fsynced and (by the importer) verified. Emptied on every open.
 *   STORE/store.db             sqlite: `sources` (what was imported, how it was verified) and
 *                              `source_blobs` (every blob each source needs, signatures included)
 *   STORE/oci-layout, index.json  regenerated from store.db after each import, so the store is also
 *                              an OCI image layout that skopeo and umoci can read
 *   STORE/lock                 flock: one writer at a time (imports of one store are serialised)
 *
 * A `kill -9` at any moment leaves: complete blobs (harmless even if unreferenced), temp files
 * (removed on the next open) and the last committed store.db. Never a half-written blob under
 * blobs/, never a sources row whose blobs are missing (rows are committed after the renames).
 * The store never parses OCI documents; the oci modules do. It has no libarchive dependency. */
#ifndef AIRFACTORY_STORE_H
#define AIRFACTORY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/buffer.h"
#include "core/digest.h"
#include "airfactory/error.h"

struct store;

enum store_mode {
    STORE_READ,  /* list and read; no lock held (tmp/ is cleaned only if no writer holds the lock) */
    STORE_WRITE, /* exclusive writer: waits for the lock, cleans tmp/, creates the store if needed */
};

/* Open (with STORE_WRITE: create) the store at dir. */
int store_open(const char *dir, enum store_mode mode, struct store **out, struct error *err);
void store_close(struct store *store);
const char *store_dir(const struct store *store);

/* "STORE/blobs/sha256/<hex>" for "sha256:<hex>" (the digest must be valid); caller frees. */
char *store_blob_path(const struct store *store, const char *digest);
bool store_has_blob(const struct store *store, const char *digest);
/* Read a whole (small) blob, checking its SHA-256 on the way; larger than max_size is an error.
 * Returns 1 found, 0 not in the store, -1 error. */
int store_read_blob(const struct store *store, const char *digest, size_t max_size, struct buffer *out,
                    struct error *err);

/* A blob being written: bytes go to STORE/tmp/ and are hashed as they pass. */
struct store_temp {
    int fd;
    char *path;
    struct sha256_stream hash;
    uint64_t size;
    bool hashing;
};
int store_temp_create(struct store *store, struct store_temp *temp, struct error *err);
int store_temp_write(struct store_temp *temp, const void *data, size_t len, struct error *err);
/* Finish hashing, fsync and close; fills hex. The file stays in tmp/ until commit or discard. */
int store_temp_finish(struct store_temp *temp, char hex[SHA256_HEX_LEN + 1], struct error *err);
/* Rename a finished temp file to blobs/sha256/<hex> (a blob already there wins: same bytes). The
 * directory is not fsynced here: call store_sync_blobs once after a batch of commits. */
int store_temp_commit(struct store *store, struct store_temp *temp, const char *hex, struct error *err);
/* Remove the temp file (if any) and free; safe on a zeroed or already-committed temp. */
void store_temp_discard(struct store_temp *temp);
int store_sync_blobs(struct store *store, struct error *err);
/* Write a small blob from memory (e.g. a manifest synthesised from `docker save` output). */
int store_put_blob(struct store *store, const void *data, size_t len, char digest[7 + SHA256_HEX_LEN + 1],
                   struct error *err);

/* One blob a source needs; kind is "index", "manifest", "config", "layer", "signature",
 * "referrer" or "signature-blob"; tag is the tag it was found under ("sha256-<hex>.sig") or "". */
struct store_source_blob {
    char *digest;
    int64_t size;
    char *media_type;
    char *kind;
    char *tag;
};

/* One imported source image for one platform. */
struct store_source {
    char *reference;       /* e.g. "ghcr.io/siderolabs/imager:v1.10.3" or the tar's ref.name */
    char *platform;        /* "linux/amd64", "linux/arm64/v8" */
    char *digest;          /* what the reference names and what was verified (index or manifest) */
    char *media_type;      /* of digest */
    char *manifest_digest; /* the image manifest for this platform */
    char *role;            /* "imager", "installer", "extension", ... or "" */
    char *receipt;         /* verify_receipt_to_json output */
    int64_t imported_at;   /* SOURCE_DATE_EPOCH, or 0: never the wall clock */
    struct store_source_blob *blobs;
    size_t blob_count;
};

/* Insert or replace sources (keyed by reference + platform) in ONE transaction, then regenerate
 * index.json. Every blob listed must already be in the store. */
int store_sources_put(struct store *store, const struct store_source *sources, size_t count, struct error *err);
/* All sources sorted by reference, platform (blobs included). */
int store_sources_list(struct store *store, struct store_source **out, size_t *count, struct error *err);
/* One source; returns 1 found, 0 absent, -1 error. platform NULL: the only one for reference. */
int store_source_get(struct store *store, const char *reference, const char *platform, struct store_source *out,
                     struct error *err);
/* Free blobs[0..count) and the array (a list built for store_source_add or read back from it). */
void store_source_blobs_free(struct store_source_blob *blobs, size_t count);
void store_source_free(struct store_source *source);
void store_sources_free(struct store_source *sources, size_t count);

#endif
