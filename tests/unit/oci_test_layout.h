/* oci_test_layout — builds small OCI layouts, layers and tarballs for the oci and store suites:
 * layers as real tar streams (libarchive), compressed with zlib/zstd, blobs named by their
 * SHA-256, index.json with tags and platforms, and the whole layout as a tar in a chosen order.
 * Also a snapshot of a store (blob names, temp files, rows) to prove a refused import changed
 * nothing. Test-only; static inline so a suite may use any subset. */
#ifndef OCI_TEST_LAYOUT_H
#define OCI_TEST_LAYOUT_H

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "airfactory/buffer.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/memory.h"

enum tl_compression { TL_NONE, TL_GZIP, TL_ZSTD };

struct tl_entry {
    const char *path;
    char type;        /* 'f' file, 'd' dir, 'l' symlink, 'h' hard link, 'c' char device, 'p' fifo,
                * 's' sparse file: `zeros` bytes declared, `data` stored at offset 0 (pax GNU.sparse 1.0) */
    const char *data; /* file content, or link target */
    unsigned mode;    /* 0: 0644 files, 0755 dirs */
    size_t zeros;     /* 'f' with data NULL: this many zero bytes */
};

/* Entries written while this is set get a security.selinux xattr (pax SCHILY.xattr and
 * LIBARCHIVE.xattr records): {path, data, label, ..., NULL} triples, data NULL matching any
 * entry of the path; an entry not listed gets none. */
static const char *const *tl_selinux_labels;

static inline la_ssize_t tl_write_cb(struct archive *a, void *ctx, const void *data, size_t len)
{
    (void)a;
    buffer_append(ctx, data, len);
    return (la_ssize_t)len;
}

/* Uncompressed tar of entries into out (pax). */
static inline void tl_tar(const struct tl_entry *e, size_t n, struct buffer *out)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_set_bytes_in_last_block(a, 1);
    archive_write_open(a, out, NULL, tl_write_cb, NULL);
    static char zero_block[65536];
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, e[i].path);
        archive_entry_set_mtime(ae, 1700000000, 0);
        size_t size = 0;
        switch (e[i].type) {
        case 'd':
            archive_entry_set_filetype(ae, AE_IFDIR);
            archive_entry_set_perm(ae, e[i].mode ? e[i].mode : 0755);
            break;
        case 'l':
            archive_entry_set_filetype(ae, AE_IFLNK);
            archive_entry_set_perm(ae, 0777);
            archive_entry_set_symlink(ae, e[i].data);
            break;
        case 'h':
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_perm(ae, 0644);
            archive_entry_set_hardlink(ae, e[i].data);
            break;
        case 'c':
            archive_entry_set_filetype(ae, AE_IFCHR);
            archive_entry_set_perm(ae, 0600);
            archive_entry_set_rdevmajor(ae, 1);
            archive_entry_set_rdevminor(ae, 3);
            break;
        case 'p':
            archive_entry_set_filetype(ae, AE_IFIFO);
            archive_entry_set_perm(ae, 0600);
            break;
        case 's':
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_perm(ae, 0644);
            archive_entry_set_size(ae, (la_int64_t)e[i].zeros);
            archive_entry_sparse_add_entry(ae, 0, (la_int64_t)strlen(e[i].data));
            break;
        default:
            archive_entry_set_filetype(ae, AE_IFREG);
            archive_entry_set_perm(ae, e[i].mode ? e[i].mode : 0644);
            size = e[i].data ? strlen(e[i].data) : e[i].zeros;
            archive_entry_set_size(ae, (la_int64_t)size);
        }
        for (const char *const *l = tl_selinux_labels; l && l[0]; l += 3)
            if (!strcmp(l[0], e[i].path) && (!l[1] || (e[i].data && !strcmp(l[1], e[i].data))))
                archive_entry_xattr_add_entry(ae, "security.selinux", l[2], strlen(l[2]));
        archive_write_header(a, ae);
        if (e[i].type == 's')
            archive_write_data(a, e[i].data, strlen(e[i].data));
        if (e[i].type == 'f' || e[i].type == 0) {
            if (e[i].data) {
                archive_write_data(a, e[i].data, size);
            } else {
                for (size_t left = size; left;) {
                    size_t chunk = left < sizeof zero_block ? left : sizeof zero_block;
                    archive_write_data(a, zero_block, chunk);
                    left -= chunk;
                }
            }
        }
        archive_entry_free(ae);
    }
    archive_write_close(a);
    archive_write_free(a);
}

static inline void tl_compress(const struct buffer *in, enum tl_compression c, struct buffer *out)
{
    buffer_reset(out);
    if (c == TL_NONE) {
        buffer_append(out, in->data, in->len);
        return;
    }
    if (c == TL_ZSTD) {
        size_t cap = ZSTD_compressBound(in->len);
        buffer_reserve(out, cap);
        size_t n = ZSTD_compress(out->data, cap, in->data, in->len, 3);
        out->len = ZSTD_isError(n) ? 0 : n;
        return;
    }
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&z, (uLong)in->len) + 64;
    buffer_reserve(out, cap);
    z.next_in = (Bytef *)in->data;
    z.avail_in = (uInt)in->len;
    z.next_out = (Bytef *)out->data;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    out->len = cap - z.avail_out;
    deflateEnd(&z);
}

/* A layer: its stored bytes, media type, digest and diff_id. */
struct tl_layer {
    struct buffer blob;
    const char *media_type;
    char digest[72];
    char diff_id[72];
};

static inline void tl_make_layer(const struct tl_entry *e, size_t n, enum tl_compression c, struct tl_layer *out)
{
    struct buffer tar = BUFFER_INIT;
    char hex[65];
    memset(out, 0, sizeof *out);
    tl_tar(e, n, &tar);
    sha256_hex(tar.data, tar.len, hex);
    snprintf(out->diff_id, sizeof out->diff_id, "sha256:%s", hex);
    tl_compress(&tar, c, &out->blob);
    sha256_hex(out->blob.data, out->blob.len, hex);
    snprintf(out->digest, sizeof out->digest, "sha256:%s", hex);
    out->media_type = c == TL_GZIP   ? "application/vnd.oci.image.layer.v1.tar+gzip"
                      : c == TL_ZSTD ? "application/vnd.oci.image.layer.v1.tar+zstd"
                                     : "application/vnd.oci.image.layer.v1.tar";
    buffer_free(&tar);
}

static inline void tl_write_blob(const char *dir, const void *data, size_t len, char digest[72])
{
    char hex[65];
    sha256_hex(data, len, hex);
    snprintf(digest, 72, "sha256:%s", hex);
    char *blobs = xasprintf("%s/blobs/sha256", dir);
    char *path = xasprintf("%s/%s", blobs, hex);
    struct error err;
    fs_mkdir_p(blobs, 0755, &err);
    fs_write_file_atomic(path, data, len, 0644, &err);
    free(blobs);
    free(path);
}

static inline void tl_write_text_blob(const char *dir, const char *text, char digest[72])
{
    tl_write_blob(dir, text, strlen(text), digest);
}

/* Config + manifest for one image; returns the manifest digest and size. */
static inline void tl_make_image(const char *dir, const char *arch, struct tl_layer *layers, size_t n, char digest[72],
                                 size_t *size)
{
    struct buffer config = BUFFER_INIT, manifest = BUFFER_INIT;
    buffer_appendf(&config,
                   "{\"architecture\":\"%s\",\"os\":\"linux\",\"created\":\"2024-01-01T00:00:00Z\","
                   "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[",
                   arch);
    for (size_t i = 0; i < n; i++)
        buffer_appendf(&config, "%s\"%s\"", i ? "," : "", layers[i].diff_id);
    buffer_append_str(&config, "]}}");
    char config_digest[72];
    tl_write_text_blob(dir, config.data, config_digest);
    buffer_appendf(&manifest,
                   "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                   "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                   "\"digest\":\"%s\",\"size\":%zu},\"layers\":[",
                   config_digest, config.len);
    for (size_t i = 0; i < n; i++) {
        char d[72];
        tl_write_blob(dir, layers[i].blob.data, layers[i].blob.len, d);
        buffer_appendf(&manifest, "%s{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}", i ? "," : "",
                       layers[i].media_type, d, layers[i].blob.len);
    }
    buffer_append_str(&manifest, "]}");
    tl_write_text_blob(dir, manifest.data, digest);
    *size = manifest.len;
    buffer_free(&config);
    buffer_free(&manifest);
}

/* index.json with the given manifests array body, and oci-layout. */
static inline void tl_write_index(const char *dir, const char *manifests)
{
    struct error err;
    fs_mkdir_p(dir, 0755, &err);
    char *index = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
                            "\"manifests\":[%s]}",
                            manifests);
    char *path = xasprintf("%s/index.json", dir);
    fs_write_file_atomic(path, index, strlen(index), 0644, &err);
    free(path);
    path = xasprintf("%s/oci-layout", dir);
    fs_write_file_atomic(path, "{\"imageLayoutVersion\":\"1.0.0\"}", 30, 0644, &err);
    free(path);
    free(index);
}

static inline int tl_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in a directory (NULL-terminated; caller frees). */
static inline char **tl_list_dir(const char *dir, size_t *count)
{
    char **names = NULL;
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        names = xrealloc(names, (n + 2) * sizeof *names);
        names[n++] = xstrdup(e->d_name);
    }
    if (d)
        closedir(d);
    if (names)
        qsort(names, n, sizeof *names, tl_name_cmp);
    else
        names = xcalloc(1, sizeof *names);
    names[n] = NULL;
    *count = n;
    return names;
}

static inline void tl_free_list(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static inline void tl_tar_add_file(struct archive *a, const char *name, const char *path)
{
    struct buffer data = BUFFER_INIT;
    struct error err;
    fs_read_file(path, (size_t)1 << 32, &data, &err);
    struct archive_entry *ae = archive_entry_new();
    archive_entry_set_pathname(ae, name);
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_entry_set_perm(ae, 0644);
    archive_entry_set_size(ae, (la_int64_t)data.len);
    archive_write_header(a, ae);
    archive_write_data(a, data.data, data.len);
    archive_entry_free(ae);
    buffer_free(&data);
}

/* The layout directory as a tar: blobs first (in reverse name order: readers must not depend on
 * order), then index.json and oci-layout. extra (may be NULL) adds raw entries at the end. */
static inline void tl_tar_layout(const char *dir, const char *out, enum tl_compression c, const struct tl_entry *extra,
                                 size_t extra_count)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (c == TL_GZIP)
        archive_write_add_filter_gzip(a);
    if (c == TL_ZSTD)
        archive_write_add_filter_zstd(a);
    archive_write_open_filename(a, out);
    char *blobs = xasprintf("%s/blobs/sha256", dir);
    size_t n;
    char **names = tl_list_dir(blobs, &n);
    for (size_t i = n; i-- > 0;) {
        char *name = xasprintf("blobs/sha256/%s", names[i]);
        char *path = xasprintf("%s/%s", blobs, names[i]);
        tl_tar_add_file(a, name, path);
        free(name);
        free(path);
    }
    tl_free_list(names, n);
    free(blobs);
    const char *top[] = {"index.json", "oci-layout", "manifest.json"};
    for (size_t i = 0; i < 3; i++) {
        char *path = xasprintf("%s/%s", dir, top[i]);
        if (fs_exists(path))
            tl_tar_add_file(a, top[i], path);
        free(path);
    }
    if (extra_count) {
        for (size_t i = 0; i < extra_count; i++) {
            struct archive_entry *ae = archive_entry_new();
            archive_entry_set_pathname(ae, extra[i].path);
            size_t size = extra[i].data && extra[i].type == 'f' ? strlen(extra[i].data) : 0;
            archive_entry_set_filetype(ae, extra[i].type == 'l'   ? AE_IFLNK
                                           : extra[i].type == 'c' ? AE_IFCHR
                                                                  : AE_IFREG);
            archive_entry_set_perm(ae, 0644);
            if (extra[i].type == 'l')
                archive_entry_set_symlink(ae, extra[i].data);
            archive_entry_set_size(ae, (la_int64_t)size);
            if (extra[i].type == 's') { /* sparse: `zeros` declared, data at offset 0 */
                size = strlen(extra[i].data);
                archive_entry_set_size(ae, (la_int64_t)extra[i].zeros);
                archive_entry_sparse_add_entry(ae, 0, (la_int64_t)size);
            }
            archive_write_header(a, ae);
            if (size)
                archive_write_data(a, extra[i].data, size);
            archive_entry_free(ae);
        }
    }
    archive_write_close(a);
    archive_write_free(a);
}

/* Everything a refused import must not change: blob names, temp files, rows, index.json. */
static inline void tl_store_snapshot(const char *store, struct buffer *out)
{
    buffer_reset(out);
    const char *dirs[] = {"blobs/sha256", "tmp"};
    for (size_t d = 0; d < 2; d++) {
        char *path = xasprintf("%s/%s", store, dirs[d]);
        size_t n;
        char **names = tl_list_dir(path, &n);
        buffer_appendf(out, "[%s]\n", dirs[d]);
        for (size_t i = 0; i < n; i++)
            buffer_appendf(out, "%s\n", names[i]);
        tl_free_list(names, n);
        free(path);
    }
    char *db_path = xasprintf("%s/store.db", store);
    sqlite3 *db;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *st;
        const char *q[] = {"SELECT reference||' '||platform||' '||digest||' '||receipt FROM sources ORDER BY 1",
                           "SELECT reference||' '||digest||' '||kind FROM source_blobs ORDER BY 1"};
        for (size_t i = 0; i < 2; i++) {
            if (sqlite3_prepare_v2(db, q[i], -1, &st, NULL) == SQLITE_OK) {
                while (sqlite3_step(st) == SQLITE_ROW)
                    buffer_appendf(out, "%s\n", (const char *)sqlite3_column_text(st, 0));
                sqlite3_finalize(st);
            }
        }
    }
    sqlite3_close(db);
    free(db_path);
    char *index = xasprintf("%s/index.json", store);
    struct error err;
    fs_read_file(index, 1 << 20, out, &err);
    free(index);
}

static inline char *tl_scratch(void)
{
    char *d = xstrdup("/tmp/airfactory-oci-test.XXXXXX");
    if (!mkdtemp(d))
        abort();
    return d;
}

static inline void tl_rm(const char *path)
{
    struct error err;
    fs_remove_tree(path, &err);
}

#endif
