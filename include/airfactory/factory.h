/* factory — one build, end to end: what `airfactory build` runs.
 *
 * Owns the order of a build and the bookkeeping between the stages:
 *   1. import and verify every source tarball into the store (oci_import; refusals stop the build
 *      before anything is written);
 *   2. read each version's extensions and overlays catalogs;
 *   3. extract the imager's boot inputs per version and architecture, and flatten each extension
 *      image a schematic names (cached in STORE/work/ by manifest digest);
 *   4. build every requested asset once — or reuse it from the base bundle when its cache key
 *      (builder, asset, schematic, version, arch and the digests of every input) is unchanged —
 *      with `jobs` worker threads; the bundle does not depend on their number or timing (assets
 *      are committed in request order by one thread);
 *   5. write one signed bundle (bundle_writer): assets, schematics, versions, catalogs, sources
 *      with their verification receipts, provenance, the public key; swap it into place.
 * The request is typed plain data — parsed asset names, role enums, schematic IDs computed by the
 * caller — so the manifest module, tests and future front ends can all drive it and the factory
 * never re-parses or recomputes what its caller already knows. */
#ifndef AIRFACTORY_FACTORY_H
#define AIRFACTORY_FACTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "airfactory/asset_path.h"
#include "airfactory/error.h"
#include "airfactory/schematic.h"
#include "airfactory/source_role.h"
#include "airfactory/verify.h"

struct factory_source {
    const char *path;      /* OCI layout directory or tarball */
    enum source_role role; /* SOURCE_ROLE_IMAGE: a cluster image, served by the registry as is */
    const char *reference; /* name recorded for it, e.g. ghcr.io/siderolabs/imager:v1.11.3 */
    const char *version;   /* Talos version it serves (imager/installer/catalogs); NULL: the tag */
    const struct verify_policy *policy;
    const char *const *platforms; /* "os/arch[/variant]" to import; platform_count 0: every one */
    size_t platform_count;
};

struct factory_schematic {
    const char *name; /* for messages */
    const struct schematic *schematic;
    const char *id;   /* schematic_id(schematic): the caller's (manifest_schematic.id) */
    const char *yaml; /* schematic_marshal(schematic): the canonical YAML the bundle stores */
    bool image_cache; /* ISOs and disk images embed the role-image sources as Talos' image cache */
};

struct factory_asset {
    size_t schematic;       /* index into factory_request.schematics */
    const char *version;    /* "v1.11.3" */
    struct asset_path name; /* parsed Image Factory file name (kernel-amd64, metal-amd64.iso, ...); its arch */
};

struct factory_request {
    const struct factory_source *sources;
    size_t source_count;
    const struct factory_schematic *schematics;
    size_t schematic_count;
    const struct factory_asset *assets;
    size_t asset_count;
    const char *output;          /* bundle directory */
    const char *signing_key;     /* PEM ECDSA P-256 private key */
    const char *store;           /* NULL: OUTPUT.store */
    const char *base;            /* bundle to reuse assets from; NULL: the existing output */
    bool allow_downgrade;        /* replace an output bundle newer than the result (bundle_freshness) */
    const char *manifest_digest; /* recorded in meta; may be NULL */
    const char *shard;           /* "I/N": a partial bundle for `airfactory merge` (meta shard); NULL: whole */
    /* SecureBoot signer for `-secureboot` assets (secureboot.h); NULL when none is configured.
     * pcr_key NULL: the signing key also signs the PCR policy. */
    const char *secureboot_key, *secureboot_cert, *secureboot_pcr_key;
    /* certificate files (DER or PEM) a schematic's includeWellKnownCertificates adds to the KEK and
     * db enrollment files of SecureBoot ISOs and disk images, in this order */
    const char *const *secureboot_well_known_kek, *const *secureboot_well_known_db;
    size_t secureboot_well_known_kek_count, secureboot_well_known_db_count;
    unsigned jobs; /* assets built at once, and compressor threads split between them; 0: online CPUs */
    FILE *events;  /* progress: human lines, or NDJSON when json */
    bool json;
    bool progress; /* events is a terminal: a live display (progress.h), unless json */
};

struct factory_stats {
    uint64_t sources;
    uint64_t assets_built, assets_reused;
    uint64_t bytes_built;
};

int factory_build(const struct factory_request *request, struct factory_stats *stats, struct error *err);

#endif
