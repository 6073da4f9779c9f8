/* bundle_writer — making a bundle: blobs in, rows in, one signed, deterministic directory out.
 *
 * Owns: the write side of the format (docs/bundle-format.md): content-addressed blob files, the
 * staging of index rows, index.db (sorted, VACUUMed: byte-identical for identical inputs), the
 * OCI layout files, the signature, and the atomic replacement of the target (bundle_staging).
 * Nightly reuse: a writer opened on an existing bundle (the target itself, or options.base)
 * answers "is there already an asset with cache key K?" and hard-links that blob instead of
 * rebuilding it. An interrupted writer leaves TARGET.tmp-XXXXXX with a `.resume` journal; the
 * next writer for the same target adopts it and reuses what it already finished (re-hashed).
 *
 * Usage (the build orchestration):
 *     struct bundle_writer *w;
 *     bundle_writer_open(&(struct bundle_writer_options){.target = dir, .signing_key_path = key}, &w, err);
 *     if (bundle_writer_reuse_asset(w, cache_key, &hit, err) == 0) { build into
 *         bundle_writer_scratch_dir(w); bundle_writer_add_blob_file(w, tmp, type, BUNDLE_BLOB_MOVE, ...); }
 *     bundle_writer_add_asset(w, schematic, version, "metal-amd64.iso", digest, cache_key, err);
 *     ... schematics, versions, catalogs, images, sources, provenance ...
 *     bundle_writer_commit(w, err);   // or bundle_writer_abort(w)
 * Every add_* validates its input (ERROR_INPUT naming the value) and is idempotent: adding the
 * same row twice is fine, adding a different row under the same key is ERROR_INPUT.
 * Nothing is visible at the target until commit returns 0. A writer is single-threaded. */
#ifndef AIRFACTORY_BUNDLE_WRITER_H
#define AIRFACTORY_BUNDLE_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/bundle.h"
#include "airfactory/error.h"

struct bundle_writer; /* opaque */

struct bundle_writer_options {
    const char *target;           /* bundle directory to create or atomically replace */
    const char *signing_key_path; /* PEM private key, ECDSA P-256 */
    /* Bundle whose assets and blobs may be reused. NULL: the existing target, if it verifies
     * with base_public_key_path (else it is silently not used: see bundle_writer_stats). An
     * explicit base that does not verify is ERROR_INPUT. */
    const char *base;
    const char *base_public_key_path; /* NULL: the public half of the signing key */
    const char *builder;              /* meta "builder"; NULL: "airfactory <version>" */
    bool created_set;                 /* false: meta "created" = $SOURCE_DATE_EPOCH, or 0 if unset */
    int64_t created;                  /* Unix seconds, when created_set */
    bool built_at_set;                /* meta "built_at" given (bundle_merge: the parts'), else as below */
    int64_t built_at;
    bool no_resume; /* ignore (remove) an interrupted run's directory */
    /* Replacing an existing target with an older bundle (generation, then built_at; see
     * bundle_freshness) is ERROR_INPUT unless this is set. The new bundle's generation is the
     * base's (explicit or the existing target) + 1, or the base's own when the content is the
     * same; built_at is `created` when created_set, else $SOURCE_DATE_EPOCH, else the clock. */
    bool allow_downgrade;
};

int bundle_writer_open(const struct bundle_writer_options *options, struct bundle_writer **out, struct error *err);

/* A directory on the bundle's file system for builders' temporary files: a file made there can be
 * added with BUNDLE_BLOB_MOVE (a rename, no copy). Emptied by commit and abort. */
const char *bundle_writer_scratch_dir(const struct bundle_writer *w);
/* The TARGET.tmp-XXXXXX directory being filled (for messages and tests). */
const char *bundle_writer_staging_dir(const struct bundle_writer *w);

/* ---- blobs: stored as blobs/sha256/<hex>, listed in the blobs table ---- */

enum bundle_blob_mode {
    BUNDLE_BLOB_COPY, /* copy the bytes, hashing while streaming; the source is untouched */
    BUNDLE_BLOB_MOVE, /* hash, then rename the source into the bundle (copy + unlink across file systems) */
    BUNDLE_BLOB_LINK, /* hash, then hard-link the source (copy across file systems); for immutable stores */
};
/* Add a file. expected_digest (optional) is checked: a mismatch is ERROR_INPUT and nothing is
 * added. digest (and size, optional) receive what was stored. Adding bytes the bundle already has
 * is cheap and fine. When the same bytes are added under two media types, the blobs table keeps
 * the byte-wise smallest, so the result does not depend on the order of calls. */
int bundle_writer_add_blob_file(struct bundle_writer *w, const char *path, const char *media_type,
                                enum bundle_blob_mode mode, const char *expected_digest,
                                char digest[BUNDLE_DIGEST_SIZE], uint64_t *size, struct error *err);
int bundle_writer_add_blob_bytes(struct bundle_writer *w, const void *data, size_t len, const char *media_type,
                                 char digest[BUNDLE_DIGEST_SIZE], struct error *err);

/* Streaming: for builders that produce an asset sequentially (compressors, tar writers). */
struct bundle_blob_stream;
int bundle_writer_blob_begin(struct bundle_writer *w, struct bundle_blob_stream **out, struct error *err);
int bundle_blob_stream_write(struct bundle_blob_stream *s, const void *data, size_t len, struct error *err);
/* Hash, fsync, name and list the blob; frees s whether or not it succeeds. */
int bundle_writer_blob_finish(struct bundle_writer *w, struct bundle_blob_stream *s, const char *media_type,
                              char digest[BUNDLE_DIGEST_SIZE], uint64_t *size, struct error *err);
void bundle_writer_blob_cancel(struct bundle_writer *w, struct bundle_blob_stream *s);

/* Is this digest already in the new bundle? */
bool bundle_writer_has_blob(struct bundle_writer *w, const char *digest);
/* Take the blob from the base bundle (hard link) or the resumed directory (re-hashed) if one has
 * it, listed with media_type: 1 done, 0 neither has it (build or add it), -1 error. */
int bundle_writer_reuse_blob(struct bundle_writer *w, const char *digest, const char *media_type, struct error *err);

/* ---- nightly reuse by cache key ---- */

struct bundle_writer_hit {
    char digest[BUNDLE_DIGEST_SIZE];
    uint64_t size;
    char media_type[256];
    bool from_resume; /* false: from the base bundle */
};
/* Is there an asset with this cache key in the base bundle or the interrupted run? 1: its blob is
 * now in the new bundle and *hit describes it — record the asset with bundle_writer_add_asset
 * (and its provenance) as if it had been built; 0: build it; -1: error. A base blob whose file is
 * missing or has the wrong size, or a resumed blob whose hash does not match, is a miss. */
int bundle_writer_reuse_asset(struct bundle_writer *w, const char *cache_key, struct bundle_writer_hit *hit,
                              struct error *err);

/* ---- rows (tables and columns: bundle_schema.h, docs/bundle-format.md) ---- */

/* id: 64 lowercase hex; yaml: the canonical YAML the id is the sha256 of (checked). */
int bundle_writer_add_schematic(struct bundle_writer *w, const char *id, const char *yaml, struct error *err);
/* The manifest's name for schematic id (printable, no spaces, at most BUNDLE_SCHEMATIC_NAME_MAX
 * bytes); one name per id. */
#define BUNDLE_SCHEMATIC_NAME_MAX 128
int bundle_writer_add_schematic_name(struct bundle_writer *w, const char *id, const char *name, struct error *err);
/* "v1.10.3": SemVer with a "v"; sort_key is assigned at commit (rank in SemVer order). */
int bundle_writer_add_version(struct bundle_writer *w, const char *version, struct error *err);

struct bundle_extension {
    const char *version, *name, *ref, *digest, *author, *description;
};
int bundle_writer_add_extension(struct bundle_writer *w, const struct bundle_extension *e, struct error *err);

struct bundle_overlay {
    const char *version, *name, *image, *ref, *digest;
};
int bundle_writer_add_overlay(struct bundle_writer *w, const struct bundle_overlay *o, struct error *err);

/* An Image Factory asset. digest must already be a blob of the new bundle; size comes from it and
 * the media type from the path (bundle_asset_media_type). cache_key: printable, no spaces. */
int bundle_writer_add_asset(struct bundle_writer *w, const char *schematic, const char *version, const char *path,
                            const char *digest, const char *cache_key, struct error *err);

/* A talosctl binary (GET /talosctl/{version}/{name}), name "talosctl-<os>-<arch>[.exe]"; digest
 * must already be a blob of the new bundle. */
int bundle_writer_add_talosctl(struct bundle_writer *w, const char *version, const char *name, const char *digest,
                               struct error *err);

/* Registry tag. digest names a manifest or index blob of the new bundle; every blob reachable from
 * it (child manifests, configs, layers) must be in the bundle too and is recorded in
 * repository_blobs. Every image also appears in index.json as "<repository>:<tag>". */
int bundle_writer_add_image(struct bundle_writer *w, const char *repository, const char *tag, const char *digest,
                            struct error *err);
/* The same for an image imported with some of its platforms (manifest `images:` with
 * `platforms:`): an index's children that are not in the bundle are skipped, so the index is served
 * as signed and a client asking for a missing platform gets MANIFEST_UNKNOWN. tag NULL: record the
 * blobs only (an image named by digest; some other tag, e.g. its signature's, names the repository). */
int bundle_writer_add_image_subset(struct bundle_writer *w, const char *repository, const char *tag, const char *digest,
                                   struct error *err);
/* One more blob servable from repository (recorded as is; must be a blob of the new bundle). */
int bundle_writer_add_repository_blob(struct bundle_writer *w, const char *repository, const char *digest,
                                      struct error *err);
/* OCI referrer: manifest `digest` (a blob; walked like an image) refers to `subject`. */
int bundle_writer_add_referrer(struct bundle_writer *w, const char *repository, const char *subject, const char *digest,
                               const char *artifact_type, struct error *err);

struct bundle_source {
    const char *reference, *digest, *platform, *role;
    const char *receipt; /* JSON (verify_receipt_to_json); checked to parse */
};
int bundle_writer_add_source(struct bundle_writer *w, const struct bundle_source *s, struct error *err);

struct bundle_provenance {
    const char *schematic, *version, *path, *source_digest, *profile, *builder;
};
int bundle_writer_add_provenance(struct bundle_writer *w, const struct bundle_provenance *p, struct error *err);

/* name: "cosign" (served at /oci/cosign/signing-key.pub), "secureboot", ...; pem: PEM text. */
int bundle_writer_add_public_key(struct bundle_writer *w, const char *name, const char *pem, struct error *err);
/* Extra meta facts (e.g. "manifest_digest"). The writer owns format_version, builder, created,
 * signing_key and oci_index_digest; setting those is ERROR_INPUT. */
int bundle_writer_set_meta(struct bundle_writer *w, const char *key, const char *value, struct error *err);

struct bundle_writer_stats {
    uint64_t blobs_added, bytes_added;   /* written (copied, moved, linked from outside) */
    uint64_t blobs_reused, bytes_reused; /* hard-linked or adopted from the base / interrupted run */
    uint64_t assets_reused;
    bool resumed;        /* adopted an interrupted run's directory */
    char base[4096];     /* the base bundle in use, "" if none */
    char base_note[512]; /* why an implicit base is not used, "" otherwise */
};
void bundle_writer_get_stats(const struct bundle_writer *w, struct bundle_writer_stats *out);

/* Every row and blob of another bundle (a shard: bundle_merge). Every blob is hashed against its
 * digest (a mismatch is ERROR_INPUT naming the file) and hard-linked, copied across file systems;
 * one the new bundle has already is only checked. Rows are staged as they are (a different row
 * under a key the new bundle has is ERROR_INPUT), meta too, except the writer's own keys and the
 * skip_meta ones. The source must have been opened with its signature checked. */
int bundle_writer_add_bundle(struct bundle_writer *w, struct bundle *source, const char *const *skip_meta,
                             size_t skip_meta_count, struct error *err);

/* Write index.json, oci-layout, index.db, the signature; fsync; swap into place. Frees w whether
 * or not it succeeds; on failure the target is untouched and the temporary directory removed. */
int bundle_writer_commit(struct bundle_writer *w, struct error *err);
/* Discard everything (the temporary directory included) and free w. */
void bundle_writer_abort(struct bundle_writer *w);

#endif
