/* serve_index — the server's read-only view of a bundle's index.db (schema: bundle_schema.h).
 *
 * Owns the sqlite connection and one prepared statement per question the routes ask. Opened with
 * immutable=1 (no locks, no journal, no writes: the bundle is signed and never changes under a
 * running server), once per worker process after fork(). Start-up does not depend on bundle
 * size: nothing is counted, scanned or cached up front; every lookup is a primary-key probe. */
#ifndef AIRFACTORY_SERVE_INDEX_H
#define AIRFACTORY_SERVE_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include "airfactory/buffer.h"
#include "airfactory/error.h"

struct serve_index;

struct serve_blob {
    char digest[72];       /* "sha256:<hex>" */
    uint64_t size;
    char media_type[256];
};

int serve_index_open(const char *bundle_dir, struct serve_index **out, struct error *err);
void serve_index_close(struct serve_index *index);

/* Lookups answer 1 (found, out filled), 0 (absent) or -1 (database error, *err filled). */
int serve_index_schematic(struct serve_index *index, const char *id, struct buffer *yaml_out, struct error *err);
/* The manifest's name of a schematic (a table newer bundles have; without it: 0). */
int serve_index_schematic_name(struct serve_index *index, const char *id, struct buffer *name_out,
                               struct error *err);
int serve_index_version_exists(struct serve_index *index, const char *version, struct error *err);
int serve_index_asset(struct serve_index *index, const char *schematic, const char *version, const char *path,
                      struct serve_blob *out, struct error *err);
int serve_index_public_key(struct serve_index *index, const char *name, struct buffer *pem_out, struct error *err);
int serve_index_meta(struct serve_index *index, const char *key, struct buffer *value_out, struct error *err);

/* Callbacks for list queries: return 0 to go on, non-zero to stop. */
typedef int (*serve_index_row_fn)(void *ctx, const char *const *columns, int column_count);

/* versions in semver order (sort_key). */
int serve_index_versions(struct serve_index *index, serve_index_row_fn fn, void *ctx, struct error *err);
/* asset paths of schematic+version, sorted; at most limit. */
int serve_index_asset_paths(struct serve_index *index, const char *schematic, const char *version, int limit,
                            serve_index_row_fn fn, void *ctx, struct error *err);
/* versions that have at least one asset for schematic, in semver order. */
int serve_index_schematic_versions(struct serve_index *index, const char *schematic, serve_index_row_fn fn,
                                   void *ctx, struct error *err);
/* name, ref, digest, author, description */
int serve_index_extensions(struct serve_index *index, const char *version, serve_index_row_fn fn, void *ctx,
                           struct error *err);
/* name, image, ref, digest */
int serve_index_overlays(struct serve_index *index, const char *version, serve_index_row_fn fn, void *ctx,
                         struct error *err);

/* path, digest, size of every asset of schematic+version, sorted by path. */
int serve_index_asset_rows(struct serve_index *index, const char *schematic, const char *version,
                           serve_index_row_fn fn, void *ctx, struct error *err);
/* schematic, name ("" if none), version, path of every asset: by name (else ID), version order, path. */
int serve_index_models(struct serve_index *index, serve_index_row_fn fn, void *ctx, struct error *err);

/* Registry. */
int serve_index_repository_exists(struct serve_index *index, const char *repository, struct error *err);
/* Cluster images are stored under "<registry host>/<path>" (a host has a '.'). The repositories
 * named "<host>/<name>" for a name given without its host: at most two rows (one: unique). */
int serve_index_repository_suffix(struct serve_index *index, const char *name, serve_index_row_fn fn, void *ctx,
                                  struct error *err);
/* The upstream registry hosts of those repositories, sorted ("docker.io", "registry.k8s.io"). */
int serve_index_registry_hosts(struct serve_index *index, serve_index_row_fn fn, void *ctx, struct error *err);
/* tag -> manifest digest (then serve_index_repository_blob for size and media type). */
int serve_index_tag(struct serve_index *index, const char *repository, const char *tag, char digest_out[72],
                    struct error *err);
/* digest reachable from repository -> blob facts. */
int serve_index_repository_blob(struct serve_index *index, const char *repository, const char *digest,
                                struct serve_blob *out, struct error *err);
/* tags after `last` (NULL: from the start), sorted, at most limit (<0: all). */
int serve_index_tags(struct serve_index *index, const char *repository, const char *last, long limit,
                     serve_index_row_fn fn, void *ctx, struct error *err);
/* digest, artifact_type, media_type, size of manifests whose subject is subject; artifact_type
 * NULL means all. */
int serve_index_referrers(struct serve_index *index, const char *repository, const char *subject,
                          const char *artifact_type, serve_index_row_fn fn, void *ctx, struct error *err);

/* talosctl (a table newer bundles have; without it both answer "none"): the file names of a
 * version, sorted, and one file's blob. */
int serve_index_talosctl_files(struct serve_index *index, const char *version, serve_index_row_fn fn, void *ctx,
                               struct error *err);
int serve_index_talosctl_file(struct serve_index *index, const char *version, const char *name,
                              struct serve_blob *out, struct error *err);

#endif
