/* verify_bundle — see include/airfactory/serve_verify.h. */
#include "airfactory/serve_verify.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airfactory/base64.h"
#include "airfactory/buffer.h"
#include "airfactory/fs.h"
#include "airfactory/memory.h"

int serve_verify_bundle(const char *bundle_dir, const char *public_key_pem_path, struct error *err)
{
    char *db_path = xasprintf("%s/index.db", bundle_dir);
    char *sig_path = xasprintf("%s/index.db.sig", bundle_dir);
    struct buffer sig_text = BUFFER_INIT, sig = BUFFER_INIT;
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *md = NULL;
    int fd = -1, rc = -1;

    FILE *kf = fopen(public_key_pem_path, "r");
    if (!kf) {
        error_errno(err, errno, "%s: cannot open public key", public_key_pem_path);
        goto out;
    }
    key = PEM_read_PUBKEY(kf, NULL, NULL, NULL);
    fclose(kf);
    if (!key) {
        error_set(err, ERROR_INPUT, "%s: not a PEM public key (expected -----BEGIN PUBLIC KEY-----)",
                  public_key_pem_path);
        goto out;
    }
    if (fs_read_file(sig_path, 64 * 1024, &sig_text, err) != 0) {
        error_prefix(err, "bundle signature: ");
        goto out;
    }
    if (base64_decode(sig_text.data ? sig_text.data : "", sig_text.len, &sig) != 0 || sig.len == 0) {
        error_set(err, ERROR_INPUT, "%s: not a base64 signature", sig_path);
        goto out;
    }
    fd = open(db_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error_errno(err, errno, "%s: cannot open", db_path);
        goto out;
    }
    md = EVP_MD_CTX_new();
    /* Ed25519 signs the message itself (no streaming); others sign SHA-256 of it. */
    bool ed = EVP_PKEY_base_id(key) == EVP_PKEY_ED25519;
    if (!md || EVP_DigestVerifyInit(md, NULL, ed ? NULL : EVP_sha256(), NULL, key) != 1) {
        error_set(err, ERROR_RUNTIME, "%s: unsupported key type", public_key_pem_path);
        goto out;
    }
    struct buffer whole = BUFFER_INIT;
    char chunk[1 << 16];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            error_errno(err, errno, "%s: read", db_path);
            buffer_free(&whole);
            goto out;
        }
        if (n == 0)
            break;
        if (ed)
            buffer_append(&whole, chunk, (size_t)n);
        else if (EVP_DigestVerifyUpdate(md, chunk, (size_t)n) != 1) {
            error_set(err, ERROR_RUNTIME, "%s: digest failed", db_path);
            goto out;
        }
    }
    int ok = ed ? EVP_DigestVerify(md, (unsigned char *)sig.data, sig.len, (unsigned char *)whole.data, whole.len)
                : EVP_DigestVerifyFinal(md, (unsigned char *)sig.data, sig.len);
    buffer_free(&whole);
    ERR_clear_error();
    if (ok != 1) {
        error_set(err, ERROR_INPUT, "%s: signature does not match index.db for key %s; the bundle was modified "
                  "or signed with another key", sig_path, public_key_pem_path);
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    buffer_free(&sig_text);
    buffer_free(&sig);
    free(db_path);
    free(sig_path);
    return rc;
}
