/* registry_client — reading from OCI distribution registries over HTTPS (libcurl).
 *
 * Owns the client side of the distribution-spec pull and discovery workflows
 * (opencontainers/distribution-spec@v1.1.0 spec.md): manifests by tag or digest, blobs (streamed,
 * resumed with Range after a cut), the referrers API; and everything between airfactory and a
 * registry as users have one:
 *  - HTTPS, peers verified against the system CA store plus an optional --ca-file; plain HTTP only
 *    when the caller asks (--plain-http); redirects (blob storage on a CDN) followed without
 *    forwarding credentials to another host;
 *  - authentication: the WWW-Authenticate challenge flow (docker/distribution
 *    docs/spec/auth/token.md: anonymous or basic-authenticated GET of the realm, or the OAuth2
 *    refresh-token POST when the auth file holds an identity token), tokens cached per repository
 *    and refreshed when they expire; Basic auth when the registry asks for it;
 *  - retries: 429 and 5xx answers and transport errors (reset, timeout, a cut mid-body) are retried
 *    `retries` times with exponential backoff (Retry-After honoured, capped at 60 s); a stalled
 *    transfer (under 1 byte/s for 60 s) counts as cut.
 * Every error is one line: "<what>: <what happened> (<url>); <what to do>", ERROR_INPUT when the
 * user can fix it (name, credentials, CA, missing manifest), ERROR_RUNTIME otherwise.
 *
 * Threads: one registry_client is shared (its token cache is locked); each thread uses its own
 * registry_session (a curl handle with its connection cache). */
#ifndef AIRFACTORY_REGISTRY_CLIENT_H
#define AIRFACTORY_REGISTRY_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/buffer.h"
#include "airfactory/error.h"
#include "core/digest.h"
#include "registry/registry_auth.h"
#include "registry/registry_ref.h"

struct registry_options {
    const char *ca_file;                   /* PEM CA certificates trusted besides the system store */
    bool plain_http;                       /* http:// instead of https:// for every registry */
    const struct registry_mirror *mirrors; /* --mirror FROM=HOST[/PREFIX] */
    size_t mirror_count;
    const struct registry_auth *auth; /* credentials; NULL: anonymous only */
    unsigned retries;                 /* extra attempts after a retryable failure */
    double backoff;                   /* first wait in seconds, doubled per retry; 0: 1 s */
};

struct registry_client;
struct registry_session;

/* Call once per process before any other function here (curl_global_init). */
int registry_global_init(struct error *err);
void registry_global_cleanup(void);

/* The options (and what they point to) must outlive the client. */
struct registry_client *registry_client_new(const struct registry_options *options);
void registry_client_free(struct registry_client *client);

struct registry_session *registry_session_new(struct registry_client *client);
void registry_session_free(struct registry_session *session);

/* Transfer counters of a client (all its sessions), for summaries and benchmarks. */
struct registry_stats {
    uint64_t requests; /* HTTP requests sent (token requests and retries included) */
    uint64_t bytes;    /* response body bytes received (manifests, blobs, tokens) */
    uint64_t retries;  /* requests repeated after a 429, 5xx or transport error */
    uint64_t resumed;  /* blob downloads continued with Range after a cut */
};
void registry_client_stats(struct registry_client *client, struct registry_stats *out);

/* "ghcr.io/siderolabs/imager:v1.11.3 (from registry.local/ghcr/siderolabs/imager)" when a mirror
 * applies, else the reference itself: how messages name ref. Caller frees. */
char *registry_describe(const struct registry_client *client, const struct registry_ref *ref);

/* A manifest or index as the registry stores it. */
struct registry_document {
    struct buffer data;
    char *media_type;                    /* Content-Type without parameters; "" when the registry sent none */
    char digest[7 + SHA256_HEX_LEN + 1]; /* "sha256:<hex>" of data */
};
void registry_document_free(struct registry_document *doc);

/* GET /v2/<repo>/manifests/<reference> with every manifest media type airfactory reads in Accept.
 * reference is ref's digest when set (the bytes must hash to it), else its tag (the bytes must hash
 * to Docker-Content-Digest when the registry sends one). 1 found, 0 not found (404), -1 error. */
int registry_get_manifest(struct registry_session *s, const struct registry_ref *ref, const char *reference,
                          size_t max_size, struct registry_document *out, struct error *err);

/* GET a small blob into memory; its bytes must hash to digest. 1 found, 0 not found, -1 error. */
int registry_get_blob(struct registry_session *s, const struct registry_ref *ref, const char *digest, size_t max_size,
                      struct buffer *out, struct error *err);

/* GET /v2/<repo>/referrers/<digest>: 1 and the index when the registry implements the referrers
 * API, 0 when it does not (404/405/400: use the tag schema sha256-<hex> instead), -1 error. */
int registry_get_referrers(struct registry_session *s, const struct registry_ref *ref, const char *digest,
                           struct registry_document *out, struct error *err);

/* Where a streamed blob goes. write gets the bytes in order; restart is called when the server
 * ignored a Range request and the bytes start again from 0 (discard what was written). */
struct registry_sink {
    void *context;
    int (*write)(void *context, const void *data, size_t len, struct error *err);
    int (*restart)(void *context, struct error *err);
};

/* Stream blob digest of size bytes into sink, resuming with Range after a cut. Checks the length,
 * not the hash: the sink hashes (it is where the bytes go). 1 done, 0 not found, -1 error. */
int registry_fetch_blob(struct registry_session *s, const struct registry_ref *ref, const char *digest, int64_t size,
                        const struct registry_sink *sink, struct error *err);

#endif
