/* image_cache — Talos' image cache (Talos >= 1.9): the tree `talosctl images cache-create`
 * writes and the imager puts into ISOs (/imagecache/) and disk images (the IMAGECACHE partition),
 * made from cluster images already imported and verified into the store.
 *
 * Owns the layout, as siderolabs/talos pkg/imager/cache/cache.go (processImage, cacheImage,
 * rewriteRegistry) writes it for one platform and registryd
 * (internal/app/machined/pkg/system/services/registry) reads it:
 *   manifests/<registry>/<repository>/reference/<tag>          what the tag names (index or manifest)
 *   manifests/<registry>/<repository>/digest/sha256-<hex>      the same bytes, and the platform manifest
 *   blob/sha256-<hex>                                          the platform's config and layers
 * <registry> is the reference's ("docker.io" for Docker Hub), a ":port" written "_port_" (FAT-safe,
 * as rewriteRegistry does); files 0644, directories 0755. Also owns the partition size the imager
 * gives that tree (out.go calculateDirectorySizeWithOverhead: +20 %, rounded up to 1 MiB). */
#ifndef AIRFACTORY_IMAGE_CACHE_H
#define AIRFACTORY_IMAGE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "airfactory/error.h"
#include "oci/store.h"

struct image_cache_entry {
    const char *reference; /* "registry.k8s.io/pause:3.10" (tag and/or digest), as recorded in the store */
    const char *platform;  /* the store source's platform: "linux/amd64" */
};

/* Write the tree for entries into dir (created; must not exist). *bytes: the sum of the regular
 * files' sizes (what the imager sizes the partition from). Blobs are hard-linked from the store
 * when it is on the same file system, else copied. ERROR_RUNTIME when the store lacks a source. */
int image_cache_write_tree(struct store *store, const struct image_cache_entry *entries, size_t count, const char *dir,
                           uint64_t *bytes, struct error *err);

/* The bytes the imager adds to a disk image for a tree of `bytes`: +20 %, rounded up to 1 MiB. */
uint64_t image_cache_partition_size(uint64_t bytes);

#endif
