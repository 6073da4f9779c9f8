/* splash — see splash.h. */
#include "imager/splash.h"
#include "airfactory/buffer.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/memory.h"
#include "oci/layer_flatten.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WINDOW (1u << 20)
#define HEADER 6 /* "BM" + the little-endian 32-bit file size */

/* 1 when the size bytes at off hash to want, 0 when not (or the file ends first), -1 error. */
static int candidate_matches(int fd, const char *what, uint64_t off, uint64_t size, const char *want,
                             unsigned char *buf, struct error *err)
{
    struct sha256_stream h;
    sha256_stream_init(&h);
    for (uint64_t done = 0; done < size;) {
        size_t n = size - done < WINDOW ? (size_t)(size - done) : WINDOW;
        ssize_t r = fs_pread_full(fd, buf, n, off + done);
        if (r < 0) {
            sha256_stream_abort(&h);
            return error_errno(err, errno, "%s: read failed at offset %llu", what, (unsigned long long)(off + done));
        }
        if ((size_t)r < n) {
            sha256_stream_abort(&h);
            return 0;
        }
        sha256_stream_update(&h, buf, n);
        done += n;
    }
    char hex[SHA256_HEX_LEN + 1];
    sha256_stream_final_hex(&h, hex);
    return strcmp(hex, want) == 0;
}

int splash_scan(int fd, const char *what, const char *sha256_hex, uint64_t size, uint64_t *offset, struct error *err)
{
    unsigned char *win = xmalloc(WINDOW + HEADER), *buf = xmalloc(WINDOW);
    uint64_t base = 0; /* file offset of win[0] */
    size_t have = 0;   /* bytes in win */
    int rc = 0;
    for (bool eof = false; !eof && rc == 0;) {
        ssize_t n = fs_pread_full(fd, win + have, WINDOW, base + have);
        if (n < 0) {
            rc = error_errno(err, errno, "%s: read failed at offset %llu", what, (unsigned long long)(base + have));
            break;
        }
        eof = (size_t)n < WINDOW;
        have += (size_t)n;
        /* every header that fits whole in the window; the last HEADER-1 bytes carry over */
        size_t last = have >= HEADER ? have - HEADER + 1 : 0;
        for (size_t i = 0; i < last && rc == 0; i++) {
            if (win[i] != 'B' || win[i + 1] != 'M')
                continue;
            uint32_t field = (uint32_t)win[i + 2] | (uint32_t)win[i + 3] << 8 | (uint32_t)win[i + 4] << 16 |
                             (uint32_t)win[i + 5] << 24;
            if (field != size)
                continue;
            int m = candidate_matches(fd, what, base + i, size, sha256_hex, buf, err);
            if (m < 0)
                rc = -1;
            else if (m > 0) {
                *offset = base + i;
                rc = 1;
            }
        }
        if (rc == 0 && !eof) {
            memmove(win, win + last, have - last);
            base += last;
            have -= last;
        }
    }
    free(win);
    free(buf);
    return rc;
}

/* Copy size bytes at off of fd into dest, atomically. */
static int copy_out(int fd, const char *what, uint64_t off, uint64_t size, const char *dest, struct error *err)
{
    unsigned char *buf = xmalloc(WINDOW);
    struct atomic_file out;
    int rc = atomic_file_open(&out, dest, 0644, err);
    for (uint64_t done = 0; rc == 0 && done < size;) {
        size_t n = size - done < WINDOW ? (size_t)(size - done) : WINDOW;
        ssize_t r = fs_pread_full(fd, buf, n, off + done);
        if (r != (ssize_t)n)
            rc = error_errno(err, r < 0 ? errno : EIO, "%s: short read at offset %llu", what,
                             (unsigned long long)(off + done));
        else
            rc = atomic_file_write(&out, buf, n, err);
        done += n;
    }
    if (rc == 0)
        rc = atomic_file_commit(&out, err);
    else
        atomic_file_abort(&out);
    free(buf);
    return rc;
}

int splash_from_imager(struct store *store, const struct oci_image *image, const char *dir, const char *sha256_hex,
                       uint64_t size, char **path, char **reason, struct error *err)
{
    *path = NULL;
    *reason = NULL;
    char *bmp = xasprintf("%s/splash-%s.bmp", dir, sha256_hex),
         *absent = xasprintf("%s/splash-%s.absent", dir, sha256_hex);
    int rc;
    if (fs_exists(bmp)) {
        *path = bmp;
        free(absent);
        return 1;
    }
    if (fs_exists(absent)) {
        struct buffer text = BUFFER_INIT;
        rc = fs_read_file(absent, 64u << 10, &text, err);
        if (rc == 0)
            *reason = xstrdup(buffer_cstr(&text));
        buffer_free(&text);
        free(bmp);
        free(absent);
        return rc == 0 ? 0 : -1;
    }
    rc = fs_mkdir_p(dir, 0755, err);
    /* the binary, streamed to a scratch file (it is ~100 MB in a real imager) */
    char *scratch = xasprintf("%s/imager-binary.%ld", dir, (long)getpid());
    static const char *const candidates[] = {"usr/bin/imager", "bin/imager"};
    const char *found_at = NULL;
    for (size_t i = 0; rc == 0 && !found_at && i < sizeof candidates / sizeof *candidates; i++) {
        struct layer_extract_file f = {.path = candidates[i], .dest = scratch};
        rc = layer_extract(store, image, &f, 1, true, NULL, err);
        if (rc == 0 && f.found)
            found_at = candidates[i];
    }
    uint64_t offset = 0;
    int found = 0;
    if (rc == 0 && found_at) {
        int fd = open(scratch, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            rc = error_errno(err, errno, "%s: open failed", scratch);
        } else {
            char *what = xasprintf("imager %s /%s", image->reference ? image->reference : image->digest, found_at);
            found = splash_scan(fd, what, sha256_hex, size, &offset, err);
            if (found > 0)
                rc = copy_out(fd, what, offset, size, bmp, err);
            else if (found < 0)
                rc = -1;
            free(what);
            close(fd);
        }
    }
    unlink(scratch);
    free(scratch);
    if (rc == 0 && found > 0) {
        *path = bmp;
        free(absent);
        return 1;
    }
    if (rc == 0) {
        *reason = found_at ? xasprintf("imager %s (%s) has no boot splash in /%s: no BMP of %llu bytes with SHA-256 %s "
                                       "(Talos' pkg/splash/sidero.bmp, profiles/versions.yaml ukiSplashSHA256)",
                                       image->reference ? image->reference : "", image->digest, found_at,
                                       (unsigned long long)size, sha256_hex)
                           : xasprintf("imager %s (%s) has neither /usr/bin/imager nor /bin/imager, where Talos "
                                       "keeps its boot splash (pkg/splash/sidero.bmp)",
                                       image->reference ? image->reference : "", image->digest);
        rc = fs_write_file_atomic(absent, *reason, strlen(*reason), 0644, err);
        if (rc != 0) {
            free(*reason);
            *reason = NULL;
        }
    }
    free(bmp);
    free(absent);
    return rc == 0 ? 0 : -1;
}
