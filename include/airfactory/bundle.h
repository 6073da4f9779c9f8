/* bundle — reading a bundle: open (and verify) index.db, answer the questions the server and the
 * CLI ask, find blob files.
 *
 * Owns: the read side of the format described in docs/bundle-format.md and bundle_schema.h, the
 * signature check every consumer runs first, and the Image Factory Content-Type of an asset path.
 *
 * There is one signature check: bundle_verify_index (below) hashes index.db where it lies —
 * airfactory-serve, `verify` and `unpack` start with it. bundle_open applies the same rules
 * (read_signature + bundle_key_verify) to the copy it answers from: it reads index.db into memory
 * once, checks its signature on exactly those bytes and
 * queries them through sqlite3_deserialize (read-only). So the bytes that were verified are the
 * bytes answered from — nobody can swap index.db between the check and the use — and the file is
 * never opened for writing. index.db is small (rows, not assets; ~200 bytes per asset).
 * bundle_open_in_place opens the file where it lies instead, for airfactory-serve's workers, which
 * check its signature on the file first (bundle_verify_index) and its identity after opening.
 *
 * This is the one reader of index.db: the CLI and the server ask through it, each question a
 * statement prepared on first use and kept for the life of the struct bundle.
 * A struct bundle is not thread-safe; open one per thread or per worker process. */
#ifndef AIRFACTORY_BUNDLE_H
#define AIRFACTORY_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "airfactory/error.h"

/* "sha256:" + 64 hex + NUL */
#define BUNDLE_DIGEST_SIZE 72
/* index.db larger than this is refused (a corrupt or hostile file, not a bundle). */
#define BUNDLE_INDEX_MAX ((size_t)1 << 30)

#define BUNDLE_OCI_LAYOUT "{\"imageLayoutVersion\":\"1.0.0\"}"

struct bundle;     /* opaque */
struct bundle_key; /* bundle_key.h */
struct sqlite3;    /* from <sqlite3.h> */

/* Open the bundle in dir. With public_key_path, index.db's signature is verified first
 * (bundle_verify_signature's checks and errors); with NULL it is not — only for tools that
 * inspect a bundle, never for serving. Also checks that index.db is a bundle index of format
 * version 1 (application_id, user_version, meta format_version): ERROR_INPUT otherwise. */
int bundle_open(const char *dir, const char *public_key_path, struct bundle **out, struct error *err);
/* Same with a key already loaded (NULL: no verification). */
int bundle_open_with_key(const char *dir, const struct bundle_key *key, struct bundle **out, struct error *err);
/* Open DIR/index.db where it lies: read-only, immutable (no locks, no journal), memory-mapped, and
 * neither read whole nor hashed, so opening costs the same for 10 or 100 000 assets. The signature
 * is NOT checked: the caller checks that very file first (bundle_verify_index with a stamp) and
 * that it is still the same file after opening (bundle_index_stamp_matches). Same identity
 * checks and errors as bundle_open; bundle_index_digest is "" and bundle_is_verified false. */
int bundle_open_in_place(const char *dir, struct bundle **out, struct error *err);
void bundle_close(struct bundle *b);

/* Verify BUNDLE/index.db.sig (base64 DER ECDSA over SHA-256 of index.db) with the PEM public key.
 * Also requires BUNDLE/index.db.sig.der, when present, to hold the same signature.
 * Returns 0, or -1 with ERROR_INPUT naming the bundle and the key fingerprint on any mismatch or
 * missing file, ERROR_RUNTIME on I/O failure. */
int bundle_verify_signature(const char *bundle_dir, const char *public_key_pem_path, struct error *err);

/* The identity of the index.db file whose bytes bundle_verify_index checked. */
struct bundle_index_stamp {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};
/* The one signature check (bundle_verify_signature and bundle_open use the same signature-file
 * rules and bundle_key_verify): index.db is streamed through a small buffer (bundle_key_verify_fd)
 * and never copied whole, so it costs one SHA-256 pass over index.db and never reads a blob (index.db pins every blob by digest
 * and size, so its signature vouches for the whole bundle). A file that changes while it is read is
 * refused. With stamp, the verified file's identity is recorded for consumers that open index.db
 * again afterwards (airfactory-serve's workers, through sqlite): bundle_index_stamp_matches tells
 * them whether it is still the same file. */
int bundle_verify_index(const char *bundle_dir, const struct bundle_key *key, struct bundle_index_stamp *stamp,
                        struct error *err);
bool bundle_index_stamp_matches(const char *bundle_dir, const struct bundle_index_stamp *stamp);

const char *bundle_dir(const struct bundle *b);
/* Whether bundle_open verified the signature, and with which key ("sha256:<hex>", "" if not). */
bool bundle_is_verified(const struct bundle *b);
const char *bundle_verified_key(const struct bundle *b);
/* sha256 of the index.db bytes ("sha256:<hex>"): identifies one bundle build (ETags, logs). */
const char *bundle_index_digest(const struct bundle *b);
/* The read-only sqlite connection, for queries this header does not offer. Schema: bundle_schema.h. */
struct sqlite3 *bundle_database(struct bundle *b);

/* A meta value (format_version, builder, created, signing_key, oci_index_digest, ...).
 * Returns 1 found (*value malloc'ed), 0 absent, -1 error. */
int bundle_meta(struct bundle *b, const char *key, char **value, struct error *err);

/* Freshness (docs/bundle-format.md, "Freshness"): meta `generation`, a counter carried forward
 * from the bundle a build started from (+1 when the content changed), and meta `built_at`, Unix
 * seconds ($SOURCE_DATE_EPOCH, else the clock). A bundle written before these keys reads as
 * generation 0 built at its `created`. Newer = higher generation, then later built_at. */
struct bundle_freshness {
    uint64_t generation;
    int64_t built_at;
};
/* From the meta values (any may be NULL: absent). -1 with ERROR_INPUT naming the bad value. */
int bundle_freshness_parse(const char *generation, const char *built_at, const char *created,
                           struct bundle_freshness *out, struct error *err);
int bundle_read_freshness(struct bundle *b, struct bundle_freshness *out, struct error *err);
/* <0: a is older than b; 0: as fresh; >0: newer. */
int bundle_freshness_compare(const struct bundle_freshness *a, const struct bundle_freshness *b);
/* "generation 3, built 2026-12-07T17:27:00Z" */
void bundle_freshness_describe(const struct bundle_freshness *f, char *out, size_t size);
/* The one downgrade rule: 0 when `candidate` may replace `current`, else -1 with ERROR_INPUT:
 * "<what>: generation 2, built … is older than <current_name> (generation 3, built …); refusing
 * to replace it (pass --allow-downgrade to roll back on purpose)". */
int bundle_freshness_check_not_older(const char *what, const struct bundle_freshness *candidate,
                                     const char *current_name, const struct bundle_freshness *current, struct error *err);
/* The freshness of the bundle at dir, read without a signature check (what it would replace).
 * 1 read, 0 dir holds no bundle index (absent or not a bundle), -1 error. */
int bundle_dir_freshness(const char *dir, struct bundle_freshness *out, struct error *err);

struct bundle_blob {
    char digest[BUNDLE_DIGEST_SIZE];
    uint64_t size;
    char media_type[256];
};
/* Returns 1 found, 0 not in the bundle, -1 error (a malformed digest is "not found"). */
int bundle_find_blob(struct bundle *b, const char *digest, struct bundle_blob *out, struct error *err);
/* DIR/blobs/sha256/<hex> for a "sha256:<hex>" digest; NULL if the digest is malformed. */
char *bundle_blob_path(const struct bundle *b, const char *digest);
/* Open a listed blob for reading (O_RDONLY|O_CLOEXEC) after checking its file size against the
 * index. Returns the fd; -1 with ERROR_INPUT if the digest is not listed or the file is missing
 * or has the wrong size (a damaged bundle: run `airfactory verify --full`). */
int bundle_open_blob(struct bundle *b, const char *digest, struct bundle_blob *info, struct error *err);

struct bundle_asset {
    char *schematic, *version, *path;
    char *digest, *media_type, *cache_key;
    uint64_t size;
};
/* GET /image/{schematic}/{version}/{path}: 1 found (free with bundle_asset_clear), 0 absent, -1. */
int bundle_find_asset(struct bundle *b, const char *schematic, const char *version, const char *path,
                      struct bundle_asset *out, struct error *err);
void bundle_asset_clear(struct bundle_asset *a);
/* The same lookup for a server's hot path: fills the caller's fixed struct (the asset's digest,
 * size and media type) and allocates nothing. 1 found, 0 absent, -1 error. */
int bundle_find_asset_blob(struct bundle *b, const char *schematic, const char *version, const char *path,
                           struct bundle_blob *out, struct error *err);

/* POST /schematics and GET /schematics/{id}: canonical YAML. 1 found (*yaml malloc'ed; yaml NULL:
 * only whether the schematic is there), 0, -1. */
int bundle_find_schematic(struct bundle *b, const char *id, char **yaml, struct error *err);
/* The manifest's name of a schematic. 1 found (*name malloc'ed), 0 (also for a bundle older than
 * the schematic_names table), -1. */
int bundle_find_schematic_name(struct bundle *b, const char *id, char **name, struct error *err);
/* Is this Talos version ("v1.11.3") in the bundle? 1 yes, 0 no, -1 error. */
int bundle_has_version(struct bundle *b, const char *version, struct error *err);
/* Registry tag -> manifest digest. 1 found, 0 absent, -1. */
int bundle_find_image(struct bundle *b, const char *repository, const char *tag, char digest[BUNDLE_DIGEST_SIZE],
                      struct error *err);
/* Does the registry have this repository (at least one tag)? 1 yes, 0 no, -1 error. */
int bundle_has_repository(struct bundle *b, const char *repository, struct error *err);
/* May /v2/<repository>/{manifests,blobs}/<digest> serve this digest? 1 yes (out, if not NULL,
 * filled from the blobs table), 0 no, -1 error. */
int bundle_find_repository_blob(struct bundle *b, const char *repository, const char *digest, struct bundle_blob *out,
                                struct error *err);
/* GET /talosctl/{version}/{name}: 1 found (out filled), 0 (also for a bundle older than the
 * talosctl table), -1. */
int bundle_find_talosctl(struct bundle *b, const char *version, const char *name, struct bundle_blob *out,
                         struct error *err);
/* Highest non-prerelease version ("latest" in the registry), 1 found (*version malloc'ed), 0, -1. */
int bundle_latest_version(struct bundle *b, char **version, struct error *err);
/* public_keys row by name ("cosign", "secureboot"). 1 found (*pem malloc'ed), 0, -1. */
int bundle_find_public_key(struct bundle *b, const char *name, char **pem, struct error *err);

/* Lists, each a fixed query with fixed column order and ORDER BY, so every consumer lists rows
 * the same way. Parameters (params[]) and columns are text; integers come as decimal text. */
enum bundle_list {
    BUNDLE_LIST_VERSIONS,    /* ()                 -> version                        (semver order) */
    BUNDLE_LIST_SCHEMATICS,  /* ()                 -> id, yaml, name ("" if none)    (by id) */
    BUNDLE_LIST_EXTENSIONS,  /* (version)          -> name, ref, digest, author, description (by name) */
    BUNDLE_LIST_OVERLAYS,    /* (version)          -> name, image, ref, digest       (by name) */
    BUNDLE_LIST_ASSETS,      /* ()                 -> schematic, version, path, digest, size, media_type,
                                                     cache_key  (by schematic, version sort_key, path) */
    BUNDLE_LIST_IMAGES,      /* ()                 -> repository, tag, digest        (by repository, tag) */
    BUNDLE_LIST_TAGS,        /* (repository)       -> tag                            (by tag) */
    BUNDLE_LIST_REFERRERS,   /* (repository, subject) -> digest, artifact_type, size, media_type (by digest) */
    BUNDLE_LIST_BLOBS,       /* ()                 -> digest, size, media_type       (by digest) */
    BUNDLE_LIST_SOURCES,     /* ()                 -> reference, digest, platform, role, receipt */
    BUNDLE_LIST_PROVENANCE,  /* ()                 -> schematic, version, path, source_digest, profile, builder */
    BUNDLE_LIST_PUBLIC_KEYS, /* ()                 -> name, pem */
    BUNDLE_LIST_META,        /* ()                 -> key, value */
    BUNDLE_LIST_SCHEMATIC_VERSIONS, /* (schematic) -> version: those with an asset of it (semver order) */
    BUNDLE_LIST_MODEL_ASSETS,       /* (schematic, version) -> path, digest, size (by path) */
    BUNDLE_LIST_MODELS,             /* ()                 -> schematic, name ("" if none), version, path
                                                     (by name, else ID; version sort_key; path) */
    BUNDLE_LIST_TAGS_AFTER,         /* (repository, last) -> tag: those after last             (by tag) */
    BUNDLE_LIST_REPOSITORY_SUFFIX,  /* (name) -> repository: "<host>/<name>" (a host has a '.'; at most two) */
    BUNDLE_LIST_REGISTRY_HOSTS,     /* ()     -> host: the first component of "<host>/<path>" repositories */
    BUNDLE_LIST_TALOSCTL,           /* (version)          -> name: the talosctl files of a version (by name) */
    /* ()  -> repository, size, adds: per registry repository, the bytes of every blob it serves
     * (size) and of those no asset and no repository before it already holds (adds), so that a
     * blob several images share is counted once and the adds column sums to what the images cost
     * the bundle. Order: the bundle's own repositories (installer/<id>, ...) first, then the cluster
     * images' (a registry host before the first '/') by name, so a layer a cluster image shares with
     * an installer counts for the installer. */
    BUNDLE_LIST_IMAGE_BYTES,
};
/* Called once per row; return non-zero to stop early (bundle_foreach then returns that value). */
typedef int (*bundle_row_fn)(void *context, int column_count, const char *const *columns);
/* Returns 0 after all rows, the callback's non-zero value if it stopped, -1 on error. params must
 * hold as many strings as the list takes. */
int bundle_foreach(struct bundle *b, enum bundle_list list, const char *const *params, bundle_row_fn fn, void *context,
                   struct error *err);

/* Content-Type Image Factory sends for an asset path (internal/mime/mime.go): by the last
 * extension — .efi application/efi, .iso application/x-iso9660-image, .xz application/x-xz,
 * .gz application/gzip, .qcow2 application/x-qemu-disk, .tar application/x-tar (Go's system
 * table) — else application/octet-stream (kernel-amd64, .raw, .zst, .vhd, .ova, cmdline-...). */
const char *bundle_asset_media_type(const char *path);

/* Semantic-version order of Talos versions ("v1.10.3" < "v1.11.0-alpha.1" < "v1.11.0"), SemVer
 * 2.0 precedence; build metadata is ignored, then ties are broken by byte order so the order is
 * total. Invalid versions sort before valid ones. */
int bundle_version_compare(const char *a, const char *b);
/* True for "v" + MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] per SemVer 2.0 (no leading zeros). */
bool bundle_version_valid(const char *version);

#endif
