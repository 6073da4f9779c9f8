/* oci_archive — see oci_archive.h. libarchive writes the tar; this file decides what goes in. */
#include "oci/oci_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/digest.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/memory.h"
#include "oci/oci_image.h"

#define CHUNK (1 << 20)
#define OCI_LAYOUT_FILE "{\"imageLayoutVersion\": \"1.0.0\"}"

void oci_archive_index_json(const struct oci_archive_ref *refs, size_t count, struct buffer *out)
{
    struct json_writer w;
    json_writer_init(&w, out);
    w.escape_html = false;
    json_object_begin(&w);
    json_kv_int(&w, "schemaVersion", 2);
    json_key(&w, "manifests");
    json_array_begin(&w);
    for (size_t i = 0; i < count; i++) {
        json_object_begin(&w);
        json_kv_string(&w, "mediaType", refs[i].media_type);
        json_kv_string(&w, "digest", refs[i].digest);
        json_kv_int(&w, "size", refs[i].size);
        json_key(&w, "annotations");
        json_object_begin(&w);
        if (refs[i].kind)
            json_kv_string(&w, "kind", refs[i].kind);
        json_kv_string(&w, OCI_ANNOTATION_REF_NAME, refs[i].ref_name);
        json_object_end(&w);
        json_object_end(&w);
    }
    json_array_end(&w);
    json_object_end(&w);
}

static int compare_blobs(const void *a, const void *b)
{
    return strcmp(((const struct oci_archive_blob *)a)->digest, ((const struct oci_archive_blob *)b)->digest);
}

/* Sorted by digest, each once. */
static struct oci_archive_blob *sorted_blobs(const struct oci_archive_blob *blobs, size_t count, size_t *out_count)
{
    struct oci_archive_blob *s = xcalloc(count + 1, sizeof *s);
    memcpy(s, blobs, count * sizeof *s);
    qsort(s, count, sizeof *s, compare_blobs);
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (n == 0 || strcmp(s[n - 1].digest, s[i].digest) != 0)
            s[n++] = s[i];
    *out_count = n;
    return s;
}

static int archive_fail(struct archive *a, const char *what, struct error *err)
{
    const char *msg = archive_error_string(a);
    return error_set(err, ERROR_RUNTIME, "%s: cannot write the archive (%s)", what, msg ? msg : "libarchive error");
}

static struct archive_entry *header(const char *path, bool dir, int64_t size, int64_t mtime)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, path);
    archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(e, dir ? 0755 : 0644);
    archive_entry_set_size(e, dir ? 0 : size);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    archive_entry_set_uname(e, "root");
    archive_entry_set_gname(e, "root");
    archive_entry_set_mtime(e, mtime, 0);
    return e;
}

static int write_entry(struct archive *a, const char *what, const char *path, bool dir, const void *data, int64_t size,
                       int64_t mtime, struct error *err)
{
    struct archive_entry *e = header(path, dir, size, mtime);
    int rc = archive_write_header(a, e) == ARCHIVE_OK ? 0 : archive_fail(a, what, err);
    archive_entry_free(e);
    if (rc == 0 && size > 0 && archive_write_data(a, data, (size_t)size) != (la_ssize_t)size)
        rc = archive_fail(a, what, err);
    return rc;
}

static int write_blob(struct archive *a, struct store *store, const char *what, const struct oci_archive_blob *b,
                      int64_t mtime, char *buf, struct error *err)
{
    char hex[SHA256_HEX_LEN + 1];
    if (digest_parse(b->digest, hex, err) != 0)
        return -1;
    if (b->data) {
        char name[32 + SHA256_HEX_LEN];
        snprintf(name, sizeof name, "blobs/sha256/%s", hex);
        return write_entry(a, what, name, false, b->data, b->size, mtime, err);
    }
    char *src = store_blob_path(store, b->digest);
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    int rc = -1;
    if (fd < 0) {
        error_errno(err, errno, "%s: blob %s is not in the store (%s)", what, b->digest, src);
        goto out;
    }
    char name[32 + SHA256_HEX_LEN];
    snprintf(name, sizeof name, "blobs/sha256/%s", hex);
    struct archive_entry *e = header(name, false, b->size, mtime);
    int hr = archive_write_header(a, e);
    archive_entry_free(e);
    if (hr != ARCHIVE_OK) {
        archive_fail(a, what, err);
        goto out;
    }
    int64_t left = b->size;
    while (left > 0) {
        size_t want = left < CHUNK ? (size_t)left : CHUNK;
        ssize_t got = read(fd, buf, want);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            error_set(err, ERROR_RUNTIME,
                      "%s: blob %s in the store is shorter than its %lld bytes; the store is "
                      "damaged: delete %s and pull again",
                      what, b->digest, (long long)b->size, src);
            goto out;
        }
        if (archive_write_data(a, buf, (size_t)got) != got) {
            archive_fail(a, what, err);
            goto out;
        }
        left -= got;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(src);
    return rc;
}

int oci_archive_write(struct store *store, int fd, const char *what, const struct oci_archive_blob *blobs, size_t count,
                      const struct buffer *index_json, int64_t mtime, struct error *err)
{
    size_t n;
    struct oci_archive_blob *sorted = sorted_blobs(blobs, count, &n);
    struct archive *a = archive_write_new();
    char *buf = xmalloc(CHUNK);
    int rc = -1;
    if (archive_write_set_format_ustar(a) != ARCHIVE_OK || archive_write_add_filter_none(a) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK || archive_write_open_fd(a, fd) != ARCHIVE_OK) {
        archive_fail(a, what, err);
        goto out;
    }
    if (write_entry(a, what, "blobs/", true, NULL, 0, mtime, err) != 0 ||
        write_entry(a, what, "blobs/sha256/", true, NULL, 0, mtime, err) != 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (write_blob(a, store, what, &sorted[i], mtime, buf, err) != 0)
            goto out;
    if (write_entry(a, what, "index.json", false, index_json->data, (int64_t)index_json->len, mtime, err) != 0 ||
        write_entry(a, what, "oci-layout", false, OCI_LAYOUT_FILE, (int64_t)strlen(OCI_LAYOUT_FILE), mtime, err) != 0)
        goto out;
    if (archive_write_close(a) != ARCHIVE_OK) {
        archive_fail(a, what, err);
        goto out;
    }
    rc = 0;
out:
    archive_write_free(a);
    free(buf);
    free(sorted);
    return rc;
}

int oci_archive_same(const char *path, const struct oci_archive_blob *blobs, size_t count, const struct buffer *index_json)
{
    if (!fs_exists(path))
        return 0;
    size_t n;
    struct oci_archive_blob *want = sorted_blobs(blobs, count, &n);
    bool *seen = xcalloc(n + 1, sizeof *seen);
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_filter_all(a);
    bool same = archive_read_open_filename(a, path, CHUNK) == ARCHIVE_OK;
    bool have_index = false, have_layout = false;
    struct archive_entry *e;
    while (same) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK) {
            same = false;
            break;
        }
        const char *name = archive_entry_pathname(e);
        int64_t size = archive_entry_size(e);
        if (!strcmp(name, "index.json")) {
            if (have_index || size != (int64_t)index_json->len) {
                same = false;
                break;
            }
            char *text = xmalloc((size_t)size + 1);
            same = archive_read_data(a, text, (size_t)size) == (la_ssize_t)size &&
                   memcmp(text, index_json->data, (size_t)size) == 0;
            free(text);
            have_index = true;
        } else if (!strcmp(name, "oci-layout")) {
            have_layout = true;
        } else if (!strncmp(name, "blobs/sha256/", 13) && name[13]) {
            char digest[OCI_DIGEST_SIZE];
            snprintf(digest, sizeof digest, "sha256:%s", name + 13);
            struct oci_archive_blob key = {digest, 0, NULL};
            struct oci_archive_blob *hit = bsearch(&key, want, n, sizeof *want, compare_blobs);
            if (!hit || seen[hit - want] || hit->size != size) {
                same = false;
                break;
            }
            seen[hit - want] = true;
        } else if (strcmp(name, "blobs/") != 0 && strcmp(name, "blobs/sha256/") != 0) {
            same = false;
        }
    }
    for (size_t i = 0; same && i < n; i++)
        same = seen[i];
    archive_read_free(a);
    free(seen);
    free(want);
    return same && have_index && have_layout ? 1 : 0;
}

int oci_archive_write_dir(struct store *store, const char *dir, const struct oci_archive_blob *blobs, size_t count,
                          const struct buffer *index_json, struct error *err)
{
    char *blob_dir = path_join(dir, "blobs/sha256");
    int rc = fs_mkdir_p(blob_dir, 0755, err);
    for (size_t i = 0; i < count && rc == 0; i++) {
        char hex[SHA256_HEX_LEN + 1];
        if (digest_parse(blobs[i].digest, hex, err) != 0) {
            rc = -1;
            break;
        }
        char *to = path_join(blob_dir, hex);
        if (fs_exists(to)) {
            /* listed twice */
        } else if (blobs[i].data) {
            rc = fs_write_file_atomic(to, blobs[i].data, (size_t)blobs[i].size, 0644, err);
        } else {
            char *from = store_blob_path(store, blobs[i].digest);
            rc = fs_copy_file(from, to, err);
            free(from);
        }
        free(to);
    }
    char *index = path_join(dir, "index.json"), *layout = path_join(dir, "oci-layout");
    if (rc == 0)
        rc = fs_write_file_atomic(index, index_json->data, index_json->len, 0644, err);
    if (rc == 0)
        rc = fs_write_file_atomic(layout, OCI_LAYOUT_FILE, strlen(OCI_LAYOUT_FILE), 0644, err);
    free(index);
    free(layout);
    free(blob_dir);
    return rc;
}

int oci_archive_same_dir(const char *dir, const struct oci_archive_blob *blobs, size_t count,
                         const struct buffer *index_json)
{
    char *index = path_join(dir, "index.json"), *layout = path_join(dir, "oci-layout");
    struct buffer have = BUFFER_INIT;
    struct error ignored;
    bool same = fs_exists(layout) && fs_read_file(index, index_json->len + 1, &have, &ignored) == 0 &&
                have.len == index_json->len && memcmp(have.data, index_json->data, have.len) == 0;
    for (size_t i = 0; i < count && same; i++) {
        char hex[SHA256_HEX_LEN + 1];
        if (digest_parse(blobs[i].digest, hex, &ignored) != 0) {
            same = false;
            break;
        }
        char *path = xasprintf("%s/blobs/sha256/%s", dir, hex);
        struct stat st;
        same = lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == blobs[i].size;
        free(path);
    }
    buffer_free(&have);
    free(index);
    free(layout);
    return same ? 1 : 0;
}
