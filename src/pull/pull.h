/* pull — the connected side's first step: fetch every signed source a manifest needs from the
 * registries, verify it, and write it where the manifest's `sources:` say (docs/pulling.md).
 *
 * Owns the order of a pull, which is what makes it safe and incremental:
 *   1. plan: the manifest's sources, and which Talos versions, architectures, extensions and
 *      overlays its schematics need (manifest_plan with MANIFEST_PLAN_SOURCES_ABSENT);
 *   2. catalogs first: each version's extensions/overlays catalog is pulled like any source, then
 *      read (imager/catalog.h) to learn the digest it pins for each extension and overlay;
 *   3. every other source, extensions and overlays BY THE CATALOG'S DIGEST (not their tag). Per
 *      image: the manifest (and, for an index, every platform's manifest), its signatures in every
 *      form Image Factory reads (the `sha256-<hex>.sig` tag; Sigstore bundle referrers through the
 *      referrers API or its tag schema `sha256-<hex>`), verified with the source's trust policy
 *      (verify_image) BEFORE any layer is downloaded; then the layers, in parallel (-j), each
 *      checked against its digest as it streams into the store (blobs already there are not
 *      downloaded again);
 *   4. the OCI archive is written beside its destination, imported with the same policy exactly
 *      as `airfactory build` will (oci_import: digests, platforms, signatures), and only then
 *      renamed into place. An archive that already holds the same index and blobs is left alone,
 *      so a nightly pull of an unchanged manifest transfers manifests only.
 * With dry_run, steps 1-3 run up to the digests (catalogs are read through a throw-away store) and
 * each reference@digest is printed with its destination; nothing is written.
 *
 * The store is the blob cache; by default it is the build's own (BUNDLE.store), so the build's
 * import that follows finds every blob and writes nothing. */
#ifndef AIRFACTORY_PULL_H
#define AIRFACTORY_PULL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "airfactory/error.h"
#include "airfactory/manifest.h"
#include "registry/registry_client.h"

struct pull_request {
    const struct manifest *manifest;
    const struct plan *plan; /* manifest_plan_flags(manifest, MANIFEST_PLAN_SOURCES_ABSENT) */
    const char *to;          /* write sources into this directory (file names kept); NULL: their paths */
    const char *store;       /* blob cache and import check */
    const struct registry_options *registry;
    unsigned jobs; /* parallel blob downloads; 0: 4 */
    bool dry_run;
    FILE *out;    /* --dry-run's listing */
    FILE *events; /* progress: human lines, or NDJSON with json */
    bool json;
    bool progress; /* events is a terminal: live display (factory/progress.h) */
};

struct pull_stats {
    uint64_t images;    /* sources resolved (listed ones and the extensions they pull in) */
    uint64_t written;   /* archives written (new or changed) */
    uint64_t unchanged; /* archives already up to date */
    uint64_t blobs_fetched, blobs_present;
    uint64_t bytes_fetched; /* layer bytes downloaded */
    struct registry_stats registry;
};

int pull_run(const struct pull_request *request, struct pull_stats *stats, struct error *err);

#endif
