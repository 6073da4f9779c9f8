/* serve_tls — OpenSSL for the event loop: a server context from PEM files and non-blocking
 * handshake/read/write that report "would block" the way the loop needs (which direction).
 * Kept apart so the loop never sees OpenSSL error queues. TLS 1.2 minimum, as Image Factory. */
#ifndef AIRFACTORY_SERVE_TLS_H
#define AIRFACTORY_SERVE_TLS_H

#include <stddef.h>
#include <sys/types.h>

#include "airfactory/error.h"

struct serve_tls_context;
struct serve_tls_connection;

enum serve_tls_status {
    SERVE_TLS_OK = 0,
    SERVE_TLS_WANT_READ = 1,
    SERVE_TLS_WANT_WRITE = 2,
    SERVE_TLS_CLOSED = 3, /* peer closed cleanly */
    SERVE_TLS_ERROR = 4,
};

int serve_tls_context_new(const char *cert_path, const char *key_path, struct serve_tls_context **out, struct error *err);
void serve_tls_context_free(struct serve_tls_context *ctx);

struct serve_tls_connection *serve_tls_connection_new(struct serve_tls_context *ctx, int fd);
void serve_tls_connection_free(struct serve_tls_connection *c); /* best-effort close_notify */
enum serve_tls_status serve_tls_handshake(struct serve_tls_connection *c);
/* On SERVE_TLS_OK *done is the byte count (> 0). */
enum serve_tls_status serve_tls_read(struct serve_tls_connection *c, void *buf, size_t len, size_t *done);
enum serve_tls_status serve_tls_write(struct serve_tls_connection *c, const void *buf, size_t len, size_t *done);
/* Decrypted bytes already buffered inside OpenSSL (epoll cannot see them). */
int serve_tls_pending(struct serve_tls_connection *c);

#endif
