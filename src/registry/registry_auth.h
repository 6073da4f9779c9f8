/* registry_auth — registry credentials as docker, podman and skopeo store them, and the HTTP
 * authentication challenges registries answer with.
 *
 * Owns:
 *  - the auth files: $REGISTRY_AUTH_FILE alone when set; otherwise
 *    $XDG_RUNTIME_DIR/containers/auth.json, ~/.config/containers/auth.json and
 *    $DOCKER_CONFIG/config.json (default ~/.docker/config.json), first match wins — the order of
 *    containers-auth.json(5). Each is `{"auths": {KEY: {"auth": base64("user:password"),
 *    "identitytoken": "..."}}}`. KEY is a host ("ghcr.io", "https://index.docker.io/v1/": a scheme
 *    and path are dropped, as docker does) or, as podman allows, host/namespace: the longest key that
 *    names the host and a leading part of the repository wins. Docker Hub's names (docker.io,
 *    index.docker.io, registry-1.docker.io) are one host. Credential helpers (credsStore,
 *    credHelpers) are not run; a helper configured for a host is reported in the 401 message.
 *  - WWW-Authenticate challenges (RFC 7235 §4.1 syntax: comma-separated challenges of auth-params,
 *    token or quoted-string values), as ghcr.io, Docker Hub and CNCF distribution send them:
 *    `Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:x:pull"` or
 *    `Basic realm="Registry Realm"`.
 * No network here: registry_client runs the token exchange. */
#ifndef AIRFACTORY_REGISTRY_AUTH_H
#define AIRFACTORY_REGISTRY_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "airfactory/error.h"

struct registry_credentials {
    char *username; /* NULL when the entry has only an identity token */
    char *password;
    char *identity_token; /* OAuth2 refresh token (`docker login` through an identity provider), or NULL */
    char *source;         /* where they came from, for messages: "FILE (auths.KEY)" */
};

struct registry_auth;

/* Load the auth files. explicit_path: use only this file (must exist); NULL: the lookup order
 * above (missing files are skipped). A file that exists but is not valid JSON of that shape is
 * ERROR_INPUT naming it. */
int registry_auth_load(const char *explicit_path, struct registry_auth **out, struct error *err);
void registry_auth_free(struct registry_auth *auth);
/* The credentials for host (as connected to: "registry.local:5000", "registry-1.docker.io") and
 * repository; 1 found (out filled, caller frees), 0 none. */
int registry_auth_find(const struct registry_auth *auth, const char *host, const char *repository,
                       struct registry_credentials *out);
void registry_credentials_free(struct registry_credentials *c);
/* "the auth files (A, B)" or "no auth file (looked for A, B, C)": for messages. */
const char *registry_auth_searched(const struct registry_auth *auth);
/* A credential helper configured for host ("FILE: credHelpers.\"HOST\" = ecr-login", "FILE:
 * credsStore = desktop"), newly allocated, or NULL. */
char *registry_auth_helper(const struct registry_auth *auth, const char *host);

struct registry_challenge {
    char *scheme;                          /* "Bearer", "Basic" (as sent) */
    char *realm, *service, *scope, *error; /* auth-params; NULL when absent */
};

/* Parse a WWW-Authenticate value; picks the Bearer challenge when there are several, else the
 * first. Returns 0, or -1 when nothing parses (out zeroed). */
int registry_challenge_parse(const char *value, struct registry_challenge *out);
void registry_challenge_free(struct registry_challenge *c);

#endif
