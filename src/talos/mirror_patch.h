/* mirror_patch — the Talos machine-config patch that makes a node pull its images from
 * airfactory-serve: machine.registries.mirrors.<upstream host>.endpoints = [the server's URL], one
 * entry per upstream registry the bundle holds images of (Talos' RegistryMirrorConfig,
 * pkg/machinery/config/types/v1alpha1: `endpoints`, optional `overridePath`, `skipFallback`).
 * containerd then asks the server /v2/<name>/...?ns=<host> (docs/serving.md "Registry mirror").
 * Used by airfactory-serve (GET /registry-mirrors.yaml) and `airfactory ls --mirrors URL`. */
#ifndef AIRFACTORY_TALOS_MIRROR_PATCH_H
#define AIRFACTORY_TALOS_MIRROR_PATCH_H

#include <stddef.h>

#include "airfactory/buffer.h"

/* Append the patch (YAML, sorted as given) for hosts to out; endpoint is the server's base URL
 * ("http://10.0.0.5:8080", no trailing slash). No hosts: a patch with an empty mirrors map. */
void talos_mirror_patch(const char *const *hosts, size_t count, const char *endpoint, struct buffer *out);

#endif
