/* catalog — the extensions and overlays catalogs of one Talos version, as Image Factory reads them.
 *
 * Owns parsing the catalog images' files (image-factory-spec.md §7):
 *   extensions image: /image-digests — one `REGISTRY/REPO:TAG@sha256:HEX` per line — and
 *                     /descriptions.yaml — `REF@DIGEST: {author, description}`;
 *   overlays image:   /overlays.yaml — `overlays: [{name, image, digest}]`.
 * An extension's name is its repository path without the registry host ("siderolabs/gvisor"),
 * which is what schematics list in systemExtensions.officialExtensions. */
#ifndef AIRFACTORY_CATALOG_H
#define AIRFACTORY_CATALOG_H

#include <stddef.h>

#include "airfactory/error.h"

struct catalog_extension {
    char *name;        /* "siderolabs/hello-world-service" */
    char *reference;   /* "ghcr.io/siderolabs/hello-world-service:v1.11.3" */
    char *tag;         /* "v1.11.3" */
    char *digest;      /* "sha256:<hex>" */
    char *author;      /* "" when the descriptions do not name one */
    char *description;
};

struct catalog_overlay {
    char *name;      /* "rpi_generic" */
    char *image;     /* "siderolabs/sbc-raspberrypi" (repository path, like extension names) */
    char *reference; /* "ghcr.io/siderolabs/sbc-raspberrypi:v0.1.0" */
    char *digest;
};

struct catalog {
    struct catalog_extension *extensions; /* sorted by name */
    size_t extension_count;
    struct catalog_overlay *overlays;     /* sorted by name */
    size_t overlay_count;
};

/* Parse the extensions catalog files; what names the source in errors ("extensions:v1.11.3"). */
int catalog_parse_extensions(struct catalog *c, const char *image_digests, size_t image_digests_len,
                             const char *descriptions_yaml, size_t descriptions_len, const char *what,
                             struct error *err);
int catalog_parse_overlays(struct catalog *c, const char *overlays_yaml, size_t len, const char *what,
                           struct error *err);
/* Lookups by name; NULL when absent. */
const struct catalog_extension *catalog_find_extension(const struct catalog *c, const char *name);
const struct catalog_overlay *catalog_find_overlay(const struct catalog *c, const char *name);
void catalog_free(struct catalog *c);

#endif
