/* registry_ref — image references (`ghcr.io/siderolabs/imager:v1.11.3`, `…@sha256:<hex>`) and where
 * they are fetched from.
 *
 * Owns the reference grammar of distribution/reference (reference.go, normalize.go): the first
 * path component is a registry host when it holds a '.' or ':' or is "localhost"; otherwise the
 * image is on Docker Hub ("docker.io", single names under "library/"). Path components are
 * [a-z0-9]+ joined by '.', '_', '__' or '-'+; a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; a digest
 * is "sha256:<64 hex>" (the only algorithm the rest of airfactory accepts).
 *
 * Also owns mirrors: `--mirror ghcr.io=registry.local:5000/ghcr` fetches ghcr.io/siderolabs/imager
 * from registry.local:5000/ghcr/siderolabs/imager (what Docker's registry-mirrors, containerd's
 * hosts.toml and Talos' machine.registries.mirrors do, with a path prefix as Harbor and Artifactory
 * proxy caches want). Nothing here does I/O. */
#ifndef AIRFACTORY_REGISTRY_REF_H
#define AIRFACTORY_REGISTRY_REF_H

#include <stddef.h>

#include "airfactory/error.h"

struct registry_ref {
    char *registry;   /* "ghcr.io", "127.0.0.1:5000", "docker.io" (Docker Hub's canonical name) */
    char *repository; /* "siderolabs/imager", "library/alpine" */
    char *tag;        /* "v1.11.3", or NULL */
    char *digest;     /* "sha256:<hex>", or NULL */
};

/* Parse text; ERROR_INPUT naming text and the rule it breaks. A reference needs a tag or a digest
 * (airfactory never guesses "latest"). */
int registry_ref_parse(const char *text, struct registry_ref *out, struct error *err);
void registry_ref_free(struct registry_ref *ref);
void registry_ref_copy(struct registry_ref *to, const struct registry_ref *from);
/* "registry/repository[:tag][@digest]"; caller frees. */
char *registry_ref_format(const struct registry_ref *ref);
/* "registry/repository" (no tag, no digest); caller frees. */
char *registry_ref_name(const struct registry_ref *ref);

/* One --mirror FROM=HOST[/PREFIX]. */
struct registry_mirror {
    char *from;   /* registry host as references spell it ("ghcr.io", "docker.io") */
    char *host;   /* "registry.local:5000" */
    char *prefix; /* "ghcr" or "" */
};

/* Parse "FROM=HOST[/PREFIX]"; ERROR_INPUT with the expected form. */
int registry_mirror_parse(const char *text, struct registry_mirror *out, struct error *err);
void registry_mirror_free(struct registry_mirror *mirror);

/* Where ref is fetched from: the host to connect to (Docker Hub: "registry-1.docker.io") and the
 * repository path on it (mirror prefix applied). Both newly allocated. */
void registry_ref_endpoint(const struct registry_ref *ref, const struct registry_mirror *mirrors, size_t mirror_count,
                           char **host, char **repository);

#endif
