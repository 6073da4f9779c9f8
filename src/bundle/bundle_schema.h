/* bundle_schema — the SQL schema of a bundle's index.db, format version 1.
 *
 * This is the contract between the writer (airfactory build) and every reader (airfactory-serve,
 * verify, ls). docs/bundle-format.md explains each table. Rules:
 *   - every digest is "sha256:<64 hex>"; every blob file is blobs/sha256/<hex>, listed in `blobs`
 *     exactly once, so signing index.db pins every byte of the bundle;
 *   - rows are written in sorted order inside one transaction and the file is VACUUMed, so two
 *     builds of the same inputs give byte-identical index.db files;
 *   - readers open it read-only (immutable=1) and never scan blob files at start-up. */
#ifndef AIRFACTORY_BUNDLE_SCHEMA_H
#define AIRFACTORY_BUNDLE_SCHEMA_H

#define BUNDLE_FORMAT_VERSION 1
#define BUNDLE_APPLICATION_ID 0x41465442 /* "AFTB" in PRAGMA application_id */

/* The schema reads as a table, a comment beside each statement: clang-format keeps off it. */
/* clang-format off */
#define BUNDLE_SCHEMA_SQL                                                                          \
    /* key/value facts: format_version, builder, created (SOURCE_DATE_EPOCH seconds),         */   \
    /* manifest_digest, signing_key (sha256 of the public key's DER SubjectPublicKeyInfo),     */   \
    /* oci_index_digest (sha256 of the layout's index.json, which lives outside index.db)      */   \
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;\n"               \
    "CREATE TABLE blobs (digest TEXT PRIMARY KEY, size INTEGER NOT NULL,"                          \
    " media_type TEXT NOT NULL) WITHOUT ROWID;\n"                                                  \
    /* schematic ID -> canonical YAML (what POST /schematics answers for) */                       \
    "CREATE TABLE schematics (id TEXT PRIMARY KEY, yaml TEXT NOT NULL) WITHOUT ROWID;\n"           \
    /* Talos versions with "v" prefix; sort_key orders them as semver (GET /versions) */           \
    "CREATE TABLE versions (version TEXT PRIMARY KEY, sort_key INTEGER NOT NULL) WITHOUT ROWID;\n" \
    /* catalog per version: GET /version/{v}/extensions/official */                                \
    "CREATE TABLE extensions (version TEXT NOT NULL, name TEXT NOT NULL, ref TEXT NOT NULL,"       \
    " digest TEXT NOT NULL, author TEXT NOT NULL, description TEXT NOT NULL,"                      \
    " PRIMARY KEY (version, name)) WITHOUT ROWID;\n"                                              \
    /* catalog per version: GET /version/{v}/overlays/official */                                  \
    "CREATE TABLE overlays (version TEXT NOT NULL, name TEXT NOT NULL, image TEXT NOT NULL,"       \
    " ref TEXT NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (version, name)) WITHOUT ROWID;\n"      \
    /* GET /image/{schematic}/{version}/{path}; path is Image Factory's file name */               \
    "CREATE TABLE assets (schematic TEXT NOT NULL, version TEXT NOT NULL, path TEXT NOT NULL,"     \
    " digest TEXT NOT NULL, size INTEGER NOT NULL, media_type TEXT NOT NULL,"                      \
    " cache_key TEXT NOT NULL, PRIMARY KEY (schematic, version, path)) WITHOUT ROWID;\n"           \
    /* registry tags: repository e.g. "installer/<schematic>", tag "v1.10.3" or          */        \
    /* "sha256-<hex>.sig"; digest names a manifest or index blob                          */        \
    "CREATE TABLE images (repository TEXT NOT NULL, tag TEXT NOT NULL, digest TEXT NOT NULL,"      \
    " PRIMARY KEY (repository, tag)) WITHOUT ROWID;\n"                                             \
    /* every blob (index, manifests, configs, layers) reachable from a repository's tags:  */      \
    /* what /v2/<repository>/{manifests,blobs}/<digest> may serve                          */      \
    "CREATE TABLE repository_blobs (repository TEXT NOT NULL, digest TEXT NOT NULL,"               \
    " PRIMARY KEY (repository, digest)) WITHOUT ROWID;\n"                                          \
    /* OCI referrers API: manifests whose subject is `subject` */                                  \
    "CREATE TABLE referrers (repository TEXT NOT NULL, subject TEXT NOT NULL, digest TEXT NOT NULL," \
    " artifact_type TEXT NOT NULL, PRIMARY KEY (repository, subject, digest)) WITHOUT ROWID;\n"   \
    /* source images the build used and how each was verified (receipt = JSON) */                  \
    "CREATE TABLE sources (reference TEXT NOT NULL, digest TEXT NOT NULL, platform TEXT NOT NULL," \
    " role TEXT NOT NULL, receipt TEXT NOT NULL, PRIMARY KEY (reference, platform)) WITHOUT ROWID;\n" \
    /* asset -> source digests it was built from, with the profile and builder version */          \
    "CREATE TABLE provenance (schematic TEXT NOT NULL, version TEXT NOT NULL, path TEXT NOT NULL," \
    " source_digest TEXT NOT NULL, profile TEXT NOT NULL, builder TEXT NOT NULL,"                  \
    " PRIMARY KEY (schematic, version, path, source_digest)) WITHOUT ROWID;\n"                     \
    /* public keys served by the API: name "cosign" -> /oci/cosign/signing-key.pub,        */      \
    /* "secureboot" -> the UKI signing certificate                                          */     \
    "CREATE TABLE public_keys (name TEXT PRIMARY KEY, pem TEXT NOT NULL) WITHOUT ROWID;\n"         \
    /* GET /talosctl/{version}/{name}: the files of siderolabs/talosctl-all:<version>        */   \
    /* (name "talosctl-<os>-<arch>[.exe]"); size and media type from blobs. Added in format 1 */    \
    /* without a version bump: readers treat a bundle without this table as having no rows.  */    \
    "CREATE TABLE talosctl (version TEXT NOT NULL, name TEXT NOT NULL, digest TEXT NOT NULL,"      \
    " PRIMARY KEY (version, name)) WITHOUT ROWID;\n"                                              \
    /* the manifest's name of each schematic (shown beside IDs: UI, ls, 404 messages); one name  */ \
    /* per ID (the manifest lists a schematic once). Added in format 1 like talosctl: readers     */ \
    /* treat a bundle without this table as having no names.                                     */ \
    "CREATE TABLE schematic_names (id TEXT PRIMARY KEY, name TEXT NOT NULL) WITHOUT ROWID;\n"
/* clang-format on */

#endif
