/* catalog — the extensions and overlays catalogs of one Talos version, as Image Factory reads them.
 *
 * Owns parsing the catalog images' files (image-factory-spec.md §7):
 *   extensions image: /image-digests — one `REGISTRY/REPO:TAG@sha256:HEX` per line — and
 *                     /descriptions.yaml — `REF@DIGEST: {author, description}`;
 *   overlays image:   /overlays.yaml — `overlays: [{name, image, digest}]`.
 * An extension's name is its repository path without the registry host ("siderolabs/gvisor"),
 * which is what schematics list in systemExtensions.officialExtensions (references are split by
 * registry/registry_ref, the YAML files read by core/yaml_document with its limits). descriptions.yaml is
 * optional (the extensions repository added it for Talos 1.7; only image-digests is required, as in
 * image-factory internal/artifacts/versions.go). Lookups by name fall back to Image Factory's table
 * of renamed extensions (profiles/extension-aliases.yaml), as its EnhanceFromSchematic does. */
#ifndef AIRFACTORY_CATALOG_H
#define AIRFACTORY_CATALOG_H

#include <stddef.h>

#include "airfactory/error.h"

struct catalog_extension {
    char *name;      /* "siderolabs/hello-world-service" */
    char *reference; /* "ghcr.io/siderolabs/hello-world-service:v1.11.3" */
    char *tag;       /* "v1.11.3" */
    char *digest;    /* "sha256:<hex>" */
    char *author;    /* "" when the descriptions do not name one */
    char *description;
};

struct catalog_overlay {
    char *name;      /* "rpi_generic" */
    char *image;     /* "siderolabs/sbc-raspberrypi" (repository path, like extension names) */
    char *reference; /* "ghcr.io/siderolabs/sbc-raspberrypi:v0.1.0" */
    char *digest;
};

struct catalog_alias {
    char *name;  /* the old name a schematic may still use: "siderolabs/i915-ucode" */
    char *alias; /* the name looked up instead when the catalog lacks it: "siderolabs/i915" */
};

struct catalog {
    struct catalog_extension *extensions; /* sorted by name */
    size_t extension_count;
    struct catalog_alias *aliases; /* loaded with the extensions */
    size_t alias_count;
    struct catalog_overlay *overlays; /* sorted by name */
    size_t overlay_count;
};

/* Parse the extensions catalog files; what names the source in errors ("extensions:v1.11.3").
 * descriptions_yaml may be NULL or empty (catalogs before Talos 1.7 have none). */
int catalog_parse_extensions(struct catalog *c, const char *image_digests, size_t image_digests_len,
                             const char *descriptions_yaml, size_t descriptions_len, const char *what, struct error *err);
int catalog_parse_overlays(struct catalog *c, const char *overlays_yaml, size_t len, const char *what, struct error *err);
/* Lookups by name; NULL when absent. An extension the catalog does not list by the name asked
 * for is looked up by its alias, if the table has one (the entry returned carries the new name). */
const struct catalog_extension *catalog_find_extension(const struct catalog *c, const char *name);
const struct catalog_overlay *catalog_find_overlay(const struct catalog *c, const char *name);
void catalog_free(struct catalog *c);

#endif
