/* serve — airfactory-serve: the bundle's HTTP, PXE and OCI registry frontends (the server core).
 *
 * Owns start-up (signature check, privilege drop, listeners, worker processes) and the event
 * loop: one epoll loop per worker process, non-blocking sockets, HTTP/1.1 keep-alive with
 * in-order pipelining (one response at a time), sendfile(2) for blob bodies, optional TLS in the
 * same loop, timeouts for slow clients, graceful shutdown, and the live switch: a new bundle at
 * BUNDLE (the atomic swap build and unpack do; noticed by polling index.db's identity, at once on
 * SIGHUP) is verified and served from the next request on, while responses already running finish
 * from the files they opened. Routes are in serve_routes.h. */
#ifndef AIRFACTORY_SERVE_H
#define AIRFACTORY_SERVE_H

#include <stdbool.h>

#include "airfactory/error.h"

enum serve_log_format { SERVE_LOG_TEXT, SERVE_LOG_JSON, SERVE_LOG_NONE };

struct serve_config {
    const char *bundle_dir;
    const char *listen;      /* "ADDR:PORT", "[v6]:PORT" or ":PORT" */
    const char *key_path;    /* public key PEM to verify index.db.sig, or NULL */
    bool insecure_no_verify; /* serve without checking the signature (loud warning) */
    bool allow_downgrade;    /* live switch to an older bundle (bundle_freshness) */
    int reload_poll_ms;      /* how often BUNDLE/index.db is checked for a new bundle */
    const char *tls_cert, *tls_key;
    int workers;      /* processes; 1 = no fork */
    const char *user; /* drop to this user after binding, when started as root */
    enum serve_log_format log_format;
    const char *external_url; /* base URL for generated links instead of Host */
    const char *requests_dir; /* record misses here (never inside the bundle), or NULL */
    int header_timeout_ms;    /* whole request head (and body) must arrive within this */
    int idle_timeout_ms;      /* keep-alive connection with no request */
    int write_timeout_ms;     /* no write progress for this long */
    int shutdown_timeout_ms;  /* in-flight responses get this long after SIGTERM */
    int max_connections;      /* per worker */
    int max_conns_per_client; /* per worker and client (IPv4 address, IPv6 /64); 0 = no limit */
};

void serve_config_defaults(struct serve_config *config);
/* Runs until SIGTERM/SIGINT; 0 after a clean shutdown. */
int serve_run(const struct serve_config *config, struct error *err);

#endif
