/* digest — see digest.h. */
#include "core/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void openssl_failed(const char *what)
{
    fprintf(stderr, "airfactory: OpenSSL %s failed\n", what);
    abort();
}

void sha256_stream_init(struct sha256_stream *s)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        openssl_failed("SHA-256 init");
    s->ctx = ctx;
    s->bytes = 0;
}

void sha256_stream_update(struct sha256_stream *s, const void *data, size_t len)
{
    if (len && EVP_DigestUpdate(s->ctx, data, len) != 1)
        openssl_failed("SHA-256 update");
    s->bytes += len;
}

void sha256_stream_final(struct sha256_stream *s, unsigned char out[SHA256_BYTES])
{
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(s->ctx, out, &n) != 1 || n != SHA256_BYTES)
        openssl_failed("SHA-256 final");
    EVP_MD_CTX_free(s->ctx);
    s->ctx = NULL;
}

void sha256_stream_final_hex(struct sha256_stream *s, char hex[SHA256_HEX_LEN + 1])
{
    unsigned char raw[SHA256_BYTES];
    sha256_stream_final(s, raw);
    hex_encode(raw, sizeof raw, hex);
}

void sha256_stream_abort(struct sha256_stream *s)
{
    EVP_MD_CTX_free(s->ctx);
    s->ctx = NULL;
}

void sha256_bytes(const void *data, size_t len, unsigned char out[SHA256_BYTES])
{
    struct sha256_stream s;
    sha256_stream_init(&s);
    sha256_stream_update(&s, data, len);
    sha256_stream_final(&s, out);
}

void sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1])
{
    unsigned char raw[SHA256_BYTES];
    sha256_bytes(data, len, raw);
    hex_encode(raw, sizeof raw, hex);
}

void hex_encode(const unsigned char *bytes, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * len] = '\0';
}

int hex_digit_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int hex_decode(const char *hex, size_t len, unsigned char *out, size_t max, size_t *out_len)
{
    if (len % 2 != 0 || len / 2 > max)
        return -1;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hex_digit_value((unsigned char)hex[2 * i]), lo = hex_digit_value((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    *out_len = len / 2;
    return 0;
}

int sha256_file_hex(const char *path, char hex[SHA256_HEX_LEN + 1], uint64_t *size, struct error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "%s: cannot open", path);
    struct sha256_stream s;
    sha256_stream_init(&s);
    static __thread unsigned char buf[1 << 17];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int saved = errno;
            sha256_stream_abort(&s);
            close(fd);
            return error_errno(err, saved, "%s: read failed", path);
        }
        if (n == 0)
            break;
        sha256_stream_update(&s, buf, (size_t)n);
    }
    close(fd);
    if (size)
        *size = s.bytes;
    sha256_stream_final_hex(&s, hex);
    return 0;
}

bool sha256_hex_valid(const char *s)
{
    size_t i = 0;
    for (; s[i]; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return i == SHA256_HEX_LEN;
}

int digest_parse(const char *digest, char hex[SHA256_HEX_LEN + 1], struct error *err)
{
    if (!digest || strncmp(digest, "sha256:", 7) != 0 || !sha256_hex_valid(digest + 7))
        return error_set(err, ERROR_INPUT, "invalid digest '%.80s'; expected sha256: followed by 64 lowercase hex digits",
                         digest ? digest : "(null)");
    memcpy(hex, digest + 7, SHA256_HEX_LEN + 1);
    return 0;
}
