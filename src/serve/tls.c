/* tls — see serve_tls.h. */
#include "serve/serve_tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <stdlib.h>

#include "core/memory.h"

struct serve_tls_context {
    SSL_CTX *ctx;
};

struct serve_tls_connection {
    SSL *ssl;
};

static const char *openssl_error(void)
{
    unsigned long e = ERR_get_error();
    static char buf[256];
    if (!e)
        return "unknown error";
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

int serve_tls_context_new(const char *cert_path, const char *key_path, struct serve_tls_context **out, struct error *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return error_set(err, ERROR_RUNTIME, "TLS: cannot create context: %s", openssl_error());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
        error_set(err, ERROR_INPUT, "%s: cannot load TLS certificate chain (PEM): %s", cert_path, openssl_error());
        SSL_CTX_free(ctx);
        return -1;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1) {
        error_set(err, ERROR_INPUT, "%s: cannot load TLS private key (PEM): %s", key_path, openssl_error());
        SSL_CTX_free(ctx);
        return -1;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        error_set(err, ERROR_INPUT, "%s: private key does not match certificate %s", key_path, cert_path);
        SSL_CTX_free(ctx);
        return -1;
    }
    struct serve_tls_context *c = xcalloc(1, sizeof *c);
    c->ctx = ctx;
    *out = c;
    return 0;
}

void serve_tls_context_free(struct serve_tls_context *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx->ctx);
    free(ctx);
}

struct serve_tls_connection *serve_tls_connection_new(struct serve_tls_context *ctx, int fd)
{
    SSL *ssl = SSL_new(ctx->ctx);
    if (!ssl)
        return NULL;
    if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_accept_state(ssl);
    struct serve_tls_connection *c = xcalloc(1, sizeof *c);
    c->ssl = ssl;
    return c;
}

void serve_tls_connection_free(struct serve_tls_connection *c)
{
    if (!c)
        return;
    if (SSL_is_init_finished(c->ssl))
        SSL_shutdown(c->ssl); /* one non-blocking attempt at close_notify */
    SSL_free(c->ssl);
    ERR_clear_error();
    free(c);
}

static enum serve_tls_status status_of(SSL *ssl, int rc)
{
    int e = SSL_get_error(ssl, rc);
    ERR_clear_error();
    switch (e) {
    case SSL_ERROR_WANT_READ: return SERVE_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return SERVE_TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: return SERVE_TLS_CLOSED;
    default: return SERVE_TLS_ERROR;
    }
}

enum serve_tls_status serve_tls_handshake(struct serve_tls_connection *c)
{
    int rc = SSL_do_handshake(c->ssl);
    return rc == 1 ? SERVE_TLS_OK : status_of(c->ssl, rc);
}

enum serve_tls_status serve_tls_read(struct serve_tls_connection *c, void *buf, size_t len, size_t *done)
{
    size_t n = 0;
    int rc = SSL_read_ex(c->ssl, buf, len, &n);
    if (rc == 1) {
        *done = n;
        return SERVE_TLS_OK;
    }
    *done = 0;
    return status_of(c->ssl, rc);
}

enum serve_tls_status serve_tls_write(struct serve_tls_connection *c, const void *buf, size_t len, size_t *done)
{
    size_t n = 0;
    int rc = SSL_write_ex(c->ssl, buf, len, &n);
    if (rc == 1) {
        *done = n;
        return SERVE_TLS_OK;
    }
    *done = 0;
    return status_of(c->ssl, rc);
}

int serve_tls_pending(struct serve_tls_connection *c)
{
    return SSL_pending(c->ssl);
}
