/* layer_flatten — see layer_flatten.h. */
#include "oci/layer_flatten.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/fs_root.h"
#include "core/memory.h"
#include "oci/oci_layout.h"
#include "oci/string_set.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define DEFAULT_MAX_BYTES (64ull << 30)
#define DEFAULT_MAX_ENTRIES 1000000ull
#define DEFAULT_MAX_RATIO 100
#define DEFAULT_RATIO_FLOOR (64ull << 20)
#define BUFFER_MAX_DEFAULT (16u << 20)
#define IN_CAP (1u << 20)
#define OUT_CAP (1u << 20)

static void limits_defaults(struct layer_flatten_limits *l, const struct layer_flatten_limits *given)
{
    memset(l, 0, sizeof *l);
    if (given)
        *l = *given;
    if (!l->max_bytes)
        l->max_bytes = DEFAULT_MAX_BYTES;
    if (!l->max_entries)
        l->max_entries = DEFAULT_MAX_ENTRIES;
    if (!l->max_ratio)
        l->max_ratio = DEFAULT_MAX_RATIO;
    if (!l->ratio_floor)
        l->ratio_floor = DEFAULT_RATIO_FLOOR;
}

/* ---- a layer's decompressed stream: counted, hashed, fed to libarchive ----
 * We decompress ourselves instead of letting libarchive do it so that every decompressed byte
 * (headers and padding too) is hashed for the diff_id and counted for the bomb check. */

struct layer_stream {
    int fd;
    const char *what;
    enum oci_compression compression;
    z_stream z;
    bool z_ready;
    ZSTD_DStream *zstd;
    unsigned char *in, *out;
    size_t in_len, in_pos;
    bool in_eof, member_done;
    struct sha256_stream hash;
    uint64_t stored, expanded;
    const struct layer_flatten_limits *limits;
    struct error *err;
    bool failed;
};

static int stream_fill(struct layer_stream *s)
{
    if (s->in_pos < s->in_len || s->in_eof)
        return 0;
    for (;;) {
        ssize_t n = read(s->fd, s->in, IN_CAP);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_errno(s->err, errno, "%s: read failed", s->what);
        s->in_len = (size_t)n;
        s->in_pos = 0;
        s->stored += (uint64_t)n;
        if (n == 0)
            s->in_eof = true;
        return 0;
    }
}

/* Next chunk of decompressed bytes: >0 length, 0 end, -1 error (s->err set). */
static ssize_t stream_produce(struct layer_stream *s, const void **data)
{
    if (s->failed)
        return -1;
    size_t produced = 0;
    while (produced == 0) {
        if (stream_fill(s) != 0)
            goto fail;
        size_t avail = s->in_len - s->in_pos;
        if (s->compression == OCI_COMPRESSION_NONE) {
            if (!avail)
                return 0;
            *data = s->in + s->in_pos;
            s->in_pos = s->in_len;
            produced = avail;
            break;
        }
        if (!avail && s->in_eof) {
            if (s->compression == OCI_COMPRESSION_GZIP && s->member_done)
                return 0;
            if (s->compression == OCI_COMPRESSION_ZSTD && s->member_done)
                return 0;
            error_set(s->err, ERROR_INPUT, "%s: compressed data ends early (truncated layer); import the image again",
                      s->what);
            goto fail;
        }
        if (s->compression == OCI_COMPRESSION_GZIP) {
            if (s->member_done) { /* another gzip member follows (multi-member streams are valid) */
                if (inflateReset(&s->z) != Z_OK)
                    goto corrupt;
                s->member_done = false;
            }
            s->z.next_in = s->in + s->in_pos;
            s->z.avail_in = (uInt)avail;
            s->z.next_out = s->out;
            s->z.avail_out = OUT_CAP;
            int r = inflate(&s->z, Z_NO_FLUSH);
            s->in_pos = s->in_len - s->z.avail_in;
            produced = OUT_CAP - s->z.avail_out;
            if (r == Z_STREAM_END)
                s->member_done = true;
            else if (r != Z_OK && !(r == Z_BUF_ERROR && produced == 0 && s->z.avail_in == 0))
                goto corrupt;
        } else {
            ZSTD_inBuffer in = {s->in + s->in_pos, avail, 0};
            ZSTD_outBuffer out = {s->out, OUT_CAP, 0};
            size_t r = ZSTD_decompressStream(s->zstd, &out, &in);
            if (ZSTD_isError(r))
                goto corrupt;
            s->in_pos += in.pos;
            produced = out.pos;
            s->member_done = r == 0;
        }
        *data = s->out;
    }
    sha256_stream_update(&s->hash, *data, produced);
    s->expanded += produced;
    if (s->expanded > s->limits->ratio_floor && s->expanded / (s->stored ? s->stored : 1) >= s->limits->max_ratio) {
        error_set(s->err, ERROR_INPUT,
                  "%s: expands to more than %llu bytes from %llu stored (over %llu times): refusing a likely "
                  "decompression bomb; if the layer is genuine, raise layer_flatten_limits.max_ratio",
                  s->what, (unsigned long long)s->expanded, (unsigned long long)s->stored,
                  (unsigned long long)s->limits->max_ratio);
        goto fail;
    }
    return (ssize_t)produced;
corrupt:
    error_set(s->err, ERROR_INPUT, "%s: corrupt %s data; the stored layer is damaged: import the image again", s->what,
              s->compression == OCI_COMPRESSION_GZIP ? "gzip" : "zstd");
fail:
    s->failed = true;
    return -1;
}

static la_ssize_t stream_callback(struct archive *a, void *context, const void **data)
{
    struct layer_stream *s = context;
    ssize_t n = stream_produce(s, data);
    if (n < 0) {
        archive_set_error(a, EIO, "layer stream failed");
        return -1;
    }
    return n;
}

static int stream_open(struct layer_stream *s, const char *path, const char *what,
                       const struct layer_flatten_limits *limits, struct error *err)
{
    memset(s, 0, sizeof *s);
    s->what = what;
    s->limits = limits;
    s->err = err;
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0)
        return error_errno(err, errno, "%s: cannot open %s", what, path);
    s->in = xmalloc(IN_CAP);
    s->out = xmalloc(OUT_CAP);
    sha256_stream_init(&s->hash);
    if (stream_fill(s) != 0)
        return -1;
    const unsigned char *m = s->in;
    if (s->in_len >= 2 && m[0] == 0x1f && m[1] == 0x8b) {
        s->compression = OCI_COMPRESSION_GZIP;
        if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK)
            return error_set(err, ERROR_RUNTIME, "%s: cannot initialise zlib", what);
        s->z_ready = true;
    } else if (s->in_len >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) {
        s->compression = OCI_COMPRESSION_ZSTD;
        s->zstd = ZSTD_createDStream();
        if (!s->zstd || ZSTD_isError(ZSTD_initDStream(s->zstd)))
            return error_set(err, ERROR_RUNTIME, "%s: cannot initialise zstd", what);
    }
    return 0;
}

static void stream_close(struct layer_stream *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    if (s->z_ready)
        inflateEnd(&s->z);
    s->z_ready = false;
    if (s->zstd)
        ZSTD_freeDStream(s->zstd);
    s->zstd = NULL;
    sha256_stream_abort(&s->hash);
    free(s->in);
    free(s->out);
    s->in = s->out = NULL;
}

/* Read what libarchive left (end-of-archive blocks, padding), then compare the diff_id. */
static int stream_finish(struct layer_stream *s, const char *diff_id)
{
    const void *data;
    ssize_t n;
    while ((n = stream_produce(s, &data)) > 0) {
    }
    if (n < 0)
        return -1;
    char hex[SHA256_HEX_LEN + 1];
    sha256_stream_final_hex(&s->hash, hex);
    sha256_stream_init(&s->hash); /* stream_close aborts it */
    if (diff_id && (strncmp(diff_id, "sha256:", 7) != 0 || strcmp(diff_id + 7, hex) != 0))
        return error_set(s->err, ERROR_INPUT,
                         "%s: uncompressed content hashes to sha256:%s but the image config's diff_id says %s; the "
                         "image is inconsistent (umoci reports this as a diffid mismatch): rebuild or re-export it",
                         s->what, hex, diff_id);
    return 0;
}

static struct archive *archive_over(struct layer_stream *s)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_format_empty(a);
    if (archive_read_open(a, s, NULL, stream_callback, NULL) != ARCHIVE_OK) {
        if (!s->failed)
            error_set(s->err, ERROR_INPUT, "%s: not a tar layer (%s)", s->what,
                      archive_error_string(a) ? archive_error_string(a) : "unrecognised");
        archive_read_free(a);
        return NULL;
    }
    return a;
}

static int archive_failed(struct layer_stream *s, struct archive *a, const char *entry)
{
    if (s->failed)
        return -1; /* s->err already says what */
    const char *msg = archive_error_string(a);
    return error_set(s->err, ERROR_INPUT, "%s%s%s: %s; the layer is truncated or corrupt: import the image again",
                     s->what, entry ? ": " : "", entry ? entry : "", msg ? msg : "tar read error");
}

/* ---- safe path handling below a root directory fd ---- */

static int remove_entry(int parent, const char *name, const char *shown, struct error *err)
{
    struct stat st;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : error_errno(err, errno, "%s: stat failed", shown);
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(parent, name, 0) != 0 && errno != ENOENT)
            return error_errno(err, errno, "%s: cannot remove", shown);
        return 0;
    }
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "%s: cannot open", shown);
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return error_errno(err, errno, "%s: cannot read", shown);
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        rc = remove_entry(dirfd(d), e->d_name, shown, err);
    }
    closedir(d);
    if (rc == 0 && unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        return error_errno(err, errno, "%s: cannot remove directory", shown);
    return rc;
}

/* Open the directory holding path (normalised, not ".") below root, never following a symlink.
 * create: make missing directories (0755; real modes come at the end). *base points into path. */
static int open_parent(int root, const char *path, bool create, const char *what, int *out, const char **base,
                       struct error *err)
{
    int cur = dup(root);
    if (cur < 0)
        return error_errno(err, errno, "dup failed");
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        if (!slash)
            break;
        char *comp = xstrndup(p, (size_t)(slash - p));
        int next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && create) {
            if (mkdirat(cur, comp, 0755) != 0 && errno != EEXIST) {
                int saved = errno;
                free(comp);
                close(cur);
                return error_errno(err, saved, "%s: %s: cannot create directory", what, path);
            }
            next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (next < 0) {
            int saved = errno;
            struct stat st;
            bool is_link = fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
            size_t upto = (size_t)(slash - path);
            free(comp);
            close(cur);
            if (is_link)
                return error_set(err, ERROR_INPUT,
                                 "%s: entry '%s' goes through '%.*s', which is a symlink; writing through symlinks "
                                 "is refused (it could reach outside the tree): the layer is malformed or hostile",
                                 what, path, (int)upto, path);
            if (saved == ENOTDIR)
                return error_set(err, ERROR_INPUT, "%s: entry '%s': '%.*s' is not a directory", what, path, (int)upto,
                                 path);
            if (saved == ENOENT)
                return 0; /* caller: not there */
            return error_errno(err, saved, "%s: %s: cannot open '%.*s'", what, path, (int)upto, path);
        }
        free(comp);
        close(cur);
        cur = next;
        p = slash + 1;
    }
    *out = cur;
    *base = p;
    return 1;
}

/* ---- flattening ---- */

struct dir_meta {
    char *path;
    mode_t mode;
    struct timespec mtime;
};

struct flatten {
    int root;
    const char *what; /* current layer, for messages */
    const char *prefix;
    struct layer_flatten_limits limits;
    uint64_t bytes, entries;                   /* bytes: DECLARED sizes of the files written, all layers */
    uint64_t layer_declared;                   /* declared sizes of this layer's files (the sparse-entry ratio check) */
    struct string_set touched;                 /* paths this layer wrote, and their ancestors */
    struct string_set layer_files, layer_dirs; /* this layer's entries: a repeat is refused */
    struct dir_meta *dirs;
    size_t dir_count, dir_cap;
    /* selinux_labels: every entry's SCHILY.xattr.security.selinux in the order applied (label NULL:
     * an entry without one, recorded only over a path labelled before); the last entry of a path
     * decides */
    bool keep_labels;
    struct layer_label *labels;
    size_t label_count, label_cap;
    struct string_set labelled;
};

static void record_label(struct flatten *f, const char *out, struct archive_entry *e)
{
    const char *label = NULL, *name;
    const void *value;
    size_t size;
    char *text = NULL;
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK)
        if (!strcmp(name, "security.selinux") && size) {
            free(text);
            text = xstrndup(value, size); /* up to a trailing NUL, as the command line mksquashfs gets */
            label = text;
        }
    if (label && !*label)
        label = NULL;
    if (!label && !string_set_contains(&f->labelled, out)) {
        free(text);
        return;
    }
    if (label)
        string_set_add(&f->labelled, out);
    if (f->label_count == f->label_cap) {
        f->label_cap = f->label_cap ? 2 * f->label_cap : 64;
        f->labels = xrealloc(f->labels, f->label_cap * sizeof *f->labels);
    }
    f->labels[f->label_count++] = (struct layer_label){xstrdup(out), label ? xstrdup(label) : NULL};
    free(text);
}

static int compare_label_path(const void *a, const void *b)
{
    return strcmp(((const struct layer_label *)a)->path, ((const struct layer_label *)b)->path);
}

/* <dest>.selinux: the labels of the paths the flattened tree still has, sorted, as
 * "path\0label\0" pairs (written even when there are none). */
static int write_labels(struct flatten *f, const char *dest, struct error *err)
{
    struct string_set done = STRING_SET_INIT;
    struct layer_label *keep = xcalloc(f->label_count ? f->label_count : 1, sizeof *keep);
    size_t n = 0;
    int rc = 0;
    for (size_t i = f->label_count; i-- > 0 && rc == 0;) {
        if (!string_set_add(&done, f->labels[i].path) || !f->labels[i].label)
            continue; /* a later entry of the path decided, or the last one has no label */
        int pfd;
        const char *base;
        int r = open_parent(f->root, f->labels[i].path, false, "SELinux labels", &pfd, &base, err);
        if (r < 0) {
            rc = -1;
            break;
        }
        struct stat st;
        if (r > 0 && fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0)
            keep[n++] = f->labels[i]; /* still there: not removed by a later whiteout */
        if (r > 0)
            close(pfd);
    }
    if (n)
        qsort(keep, n, sizeof *keep, compare_label_path);
    struct buffer b = BUFFER_INIT;
    for (size_t i = 0; i < n; i++) {
        buffer_append(&b, keep[i].path, strlen(keep[i].path) + 1);
        buffer_append(&b, keep[i].label, strlen(keep[i].label) + 1);
    }
    char *file = xasprintf("%s%s", dest, LAYER_FLATTEN_LABELS_SUFFIX);
    if (rc == 0)
        rc = fs_write_file_atomic(file, b.data ? b.data : "", b.len, 0644, err);
    free(file);
    buffer_free(&b);
    free(keep);
    string_set_clear(&done);
    return rc;
}

int layer_labels_read(const char *dest, struct layer_label **out, size_t *count, struct error *err)
{
    *out = NULL;
    *count = 0;
    char *file = xasprintf("%s%s", dest, LAYER_FLATTEN_LABELS_SUFFIX);
    if (!fs_exists(file)) {
        free(file);
        return 0;
    }
    struct buffer b = BUFFER_INIT;
    int rc = fs_read_file(file, 256u << 20, &b, err);
    size_t cap = 0;
    for (size_t at = 0; rc == 0 && at < b.len;) {
        const char *path = b.data + at, *end = memchr(path, '\0', b.len - at);
        const char *label = end ? end + 1 : NULL;
        const char *lend = label && label < b.data + b.len ? memchr(label, '\0', (size_t)(b.data + b.len - label)) : NULL;
        if (!lend) {
            rc = error_set(err, ERROR_RUNTIME, "%s: truncated at byte %zu; delete it and %s to flatten again", file, at,
                           dest);
            break;
        }
        if (*count == cap) {
            cap = cap ? 2 * cap : 16;
            *out = xrealloc(*out, cap * sizeof **out);
        }
        (*out)[(*count)++] = (struct layer_label){xstrdup(path), xstrdup(label)};
        at = (size_t)(lend + 1 - b.data);
    }
    buffer_free(&b);
    free(file);
    if (rc != 0) {
        layer_labels_free(*out, *count);
        *out = NULL;
        *count = 0;
    }
    return rc;
}

void layer_labels_free(struct layer_label *labels, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(labels[i].path);
        free(labels[i].label);
    }
    free(labels);
}

static void touch_path(struct flatten *f, const char *path)
{
    char *p = xstrdup(path);
    for (;;) {
        string_set_add(&f->touched, p);
        char *slash = strrchr(p, '/');
        if (!slash)
            break;
        *slash = '\0';
    }
    free(p);
}

/* Empty dir (relative path, "." = root) of everything this layer did not write. */
static int clear_untouched(struct flatten *f, const char *dir, struct error *err)
{
    int dfd;
    if (!strcmp(dir, ".")) {
        dfd = dup(f->root);
    } else {
        int pfd;
        const char *base;
        int r = open_parent(f->root, dir, false, f->what, &pfd, &base, err);
        if (r <= 0)
            return r;
        dfd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(pfd);
        if (dfd < 0)
            return errno == ENOENT || errno == ENOTDIR || errno == ELOOP
                       ? 0
                       : error_errno(err, errno, "%s: %s", f->what, dir);
    }
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return error_errno(err, errno, "%s: cannot read %s", f->what, dir);
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *child = !strcmp(dir, ".") ? xstrdup(e->d_name) : xasprintf("%s/%s", dir, e->d_name);
        if (!string_set_contains(&f->touched, child)) {
            rc = remove_entry(dirfd(d), e->d_name, child, err);
        } else {
            struct stat st;
            if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
                rc = clear_untouched(f, child, err);
        }
        free(child);
    }
    closedir(d);
    return rc;
}

static bool is_ancestor_or_same(const char *a, const char *b)
{
    if (!strcmp(a, "."))
        return true;
    size_t n = strlen(a);
    return !strncmp(a, b, n) && (b[n] == '\0' || b[n] == '/');
}

/* Map an image path into the output: strip the prefix. Returns NULL when outside it. */
static const char *reroot(const struct flatten *f, const char *path)
{
    if (!f->prefix)
        return path;
    size_t n = strlen(f->prefix);
    if (!strncmp(path, f->prefix, n)) {
        if (path[n] == '\0')
            return ".";
        if (path[n] == '/')
            return path + n + 1;
    }
    return NULL;
}

static int apply_whiteout(struct flatten *f, const char *dir, const char *name, bool opaque, struct error *err)
{
    char *target = opaque ? xstrdup(dir) : !strcmp(dir, ".") ? xstrdup(name) : xasprintf("%s/%s", dir, name);
    int rc = 0;
    /* a whiteout of the prefix (or above it) hides everything the output holds */
    if (f->prefix && is_ancestor_or_same(target, f->prefix) && strcmp(target, f->prefix) != 0) {
        rc = clear_untouched(f, ".", err);
    } else {
        const char *out = reroot(f, target);
        if (out && opaque)
            rc = clear_untouched(f, out, err);
        else if (out && !strcmp(out, "."))
            rc = clear_untouched(f, ".", err);
        else if (out && !string_set_contains(&f->touched, out)) {
            int pfd;
            const char *base;
            int r = open_parent(f->root, out, false, f->what, &pfd, &base, err);
            if (r < 0)
                rc = -1;
            else if (r > 0) {
                rc = remove_entry(pfd, base, out, err);
                close(pfd);
            }
        }
    }
    free(target);
    return rc;
}

static void remember_dir(struct flatten *f, const char *path, mode_t mode, const struct timespec *mtime)
{
    if (f->dir_count == f->dir_cap) {
        f->dir_cap = f->dir_cap ? f->dir_cap * 2 : 64;
        f->dirs = xrealloc(f->dirs, f->dir_cap * sizeof *f->dirs);
    }
    struct dir_meta *m = &f->dirs[f->dir_count++];
    m->path = xstrdup(path);
    m->mode = mode;
    m->mtime = *mtime;
}

static int write_data(struct flatten *f, struct archive *a, struct layer_stream *s, int fd, const char *path,
                      int64_t size, struct error *err)
{
    for (;;) {
        const void *data;
        size_t len;
        la_int64_t offset;
        int r = archive_read_data_block(a, &data, &len, &offset);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return archive_failed(s, a, path);
        if (offset < 0 || (uint64_t)offset + len > (uint64_t)size)
            return error_set(err, ERROR_INPUT, "%s: %s: data beyond the entry's size", f->what, path);
        if (fs_pwrite_all(fd, data, len, (uint64_t)offset, path, err) != 0)
            return -1;
    }
    if (ftruncate(fd, size) != 0) /* sparse entries end in a hole */
        return error_errno(err, errno, "%s: %s: truncate failed", f->what, path);
    return 0;
}

/* The expansion check on DECLARED sizes: files of `declared` bytes so far from the s->stored bytes
 * of the layer read up to here. A sparse entry (or a pax size) can declare gigabytes in a few
 * kilobytes of tar that decompress to little, so the stream check alone never sees it. */
static int declared_bomb(struct layer_stream *s, uint64_t declared, uint64_t size, const char *path, struct error *err)
{
    const struct layer_flatten_limits *l = s->limits;
    uint64_t stored = s->stored ? s->stored : 1;
    if (declared > l->ratio_floor && declared / stored >= l->max_ratio)
        return error_set(err, ERROR_INPUT,
                         "%s: entry '%s' (%llu bytes declared) brings the layer's files to %llu bytes from %llu "
                         "stored (over %llu times; sparse or oversized tar entries): refusing a likely decompression "
                         "bomb before writing it; if the layer is genuine, raise layer_flatten_limits.max_ratio",
                         s->what, path, (unsigned long long)size, (unsigned long long)declared,
                         (unsigned long long)s->stored, (unsigned long long)l->max_ratio);
    return 0;
}

static int flatten_entry(struct flatten *f, struct archive *a, struct layer_stream *s, struct archive_entry *e,
                         struct error *err)
{
    const char *raw = archive_entry_pathname(e);
    char *path = NULL;
    if (!raw || oci_layout_normalize_path(raw, &path) != 0)
        return error_set(err, ERROR_INPUT,
                         "%s: entry '%.200s' has an absolute path or '..': refusing a path-traversal attempt; the "
                         "layer is malformed or hostile",
                         f->what, raw ? raw : "(no name)");
    int rc = -1;
    char *link_target = NULL;
    if (++f->entries > f->limits.max_entries) {
        error_set(err, ERROR_INPUT,
                  "%s: more than %llu entries: refusing (raise layer_flatten_limits.max_entries if "
                  "the image is genuine)",
                  f->what, (unsigned long long)f->limits.max_entries);
        goto done;
    }
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    char *dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup(".");
    if (!strncmp(name, ".wh.", 4)) {
        bool opaque = !strcmp(name, ".wh..wh..opq");
        if (!opaque && (!name[4] || !strcmp(name + 4, ".") || !strcmp(name + 4, ".."))) {
            free(dir);
            error_set(err, ERROR_INPUT, "%s: malformed whiteout '%s'", f->what, path);
            goto done;
        }
        rc = apply_whiteout(f, dir, name + 4, opaque, err);
        free(dir);
        goto done;
    }
    free(dir);
    const char *out = reroot(f, path);
    if (!out || !strcmp(out, ".")) {
        rc = 0; /* outside the prefix, or the root itself (its mode stays the output's) */
        goto done;
    }
    mode_t type = archive_entry_filetype(e);
    const char *hardlink = archive_entry_hardlink(e);
    mode_t mode = archive_entry_perm(e) & 07777;
    /* One layer naming a path twice can be read two ways (first or last wins): refuse it. A
     * directory may repeat (harmless), a file may not, nor may a file and a directory share a path. */
    bool is_dir = type == AE_IFDIR && !hardlink;
    if (string_set_contains(&f->layer_files, path) || (!is_dir && string_set_contains(&f->layer_dirs, path))) {
        error_set(err, ERROR_INPUT,
                  "%s: entry '%s' appears twice in the layer; readers disagree on which one counts, so the "
                  "layer is refused: rebuild the image",
                  f->what, path);
        goto done;
    }
    string_set_add(is_dir ? &f->layer_dirs : &f->layer_files, path);
    struct timespec mtime = {archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
    if (!hardlink && (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFIFO || type == AE_IFSOCK)) {
        error_set(err, ERROR_INPUT,
                  "%s: entry '%s' is a %s; builds run unprivileged and never need one, so the layer is refused",
                  f->what, path, type == AE_IFCHR || type == AE_IFBLK ? "device node" : "FIFO or socket");
        goto done;
    }
    if (hardlink) {
        char *target = NULL;
        const char *rt = NULL;
        if (oci_layout_normalize_path(hardlink, &target) != 0 || !(rt = reroot(f, target)) || !strcmp(rt, ".")) {
            error_set(err, ERROR_INPUT, "%s: hard link '%s' -> '%.200s' points outside the %s: refused", f->what, path,
                      hardlink, f->prefix ? "extracted directory" : "image");
            free(target);
            goto done;
        }
        link_target = xstrdup(rt);
        free(target);
    } else if (type == AE_IFLNK) {
        const char *to = archive_entry_symlink(e);
        char *resolved = NULL;
        if (!to || !to[0] || oci_layout_resolve_link(out, to, &resolved) != 0) {
            error_set(err, ERROR_INPUT,
                      "%s: symlink '%s' -> '%.200s' leads outside the %s: refused (a later write through it could "
                      "escape)",
                      f->what, path, to ? to : "", f->prefix ? "extracted directory" : "image root");
            goto done;
        }
        free(resolved);
    } else if (type != AE_IFREG && type != AE_IFDIR) {
        error_set(err, ERROR_INPUT, "%s: entry '%s' has an unsupported type", f->what, path);
        goto done;
    }
    int pfd;
    const char *base;
    int r = open_parent(f->root, out, true, f->what, &pfd, &base, err);
    if (r <= 0) {
        if (r == 0)
            error_set(err, ERROR_RUNTIME, "%s: %s: parent vanished", f->what, path);
        goto done;
    }
    struct stat st;
    bool exists = fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (type == AE_IFDIR && !hardlink) {
        if (exists && !S_ISDIR(st.st_mode)) {
            if (remove_entry(pfd, base, out, err) != 0)
                goto close_parent;
            exists = false;
        }
        if (!exists && mkdirat(pfd, base, 0755) != 0) {
            error_errno(err, errno, "%s: %s: cannot create directory", f->what, path);
            goto close_parent;
        }
        remember_dir(f, out, mode, &mtime);
    } else {
        if (exists && remove_entry(pfd, base, out, err) != 0)
            goto close_parent;
        if (hardlink) {
            int tfd;
            const char *tbase;
            int tr = open_parent(f->root, link_target, false, f->what, &tfd, &tbase, err);
            if (tr < 0)
                goto close_parent;
            struct stat ts;
            if (tr == 0 || fstatat(tfd, tbase, &ts, AT_SYMLINK_NOFOLLOW) != 0 || S_ISDIR(ts.st_mode)) {
                if (tr > 0)
                    close(tfd);
                error_set(err, ERROR_INPUT,
                          "%s: hard link '%s' -> '%s': the target is not a file earlier in the "
                          "image",
                          f->what, path, link_target);
                goto close_parent;
            }
            int lr = linkat(tfd, tbase, pfd, base, 0);
            int saved = errno;
            close(tfd);
            if (lr != 0) {
                error_errno(err, saved, "%s: %s: cannot create hard link", f->what, path);
                goto close_parent;
            }
        } else if (type == AE_IFLNK) {
            if (symlinkat(archive_entry_symlink(e), pfd, base) != 0) {
                error_errno(err, errno, "%s: %s: cannot create symlink", f->what, path);
                goto close_parent;
            }
            struct timespec times[2] = {mtime, mtime};
            utimensat(pfd, base, times, AT_SYMLINK_NOFOLLOW); /* best effort: some file systems refuse */
        } else {
            /* the declared size (tar header, pax size, sparse map) is checked before a byte is
             * written: a sparse entry's holes become real bytes for whoever reads the file */
            int64_t size = archive_entry_size(e);
            if (size < 0 || f->bytes + (uint64_t)size > f->limits.max_bytes) {
                error_set(err, ERROR_INPUT,
                          "%s: entry '%s' (%lld bytes) would take the output past %llu bytes: refusing (raise "
                          "layer_flatten_limits.max_bytes if the image is genuine)",
                          f->what, path, (long long)size, (unsigned long long)f->limits.max_bytes);
                goto close_parent;
            }
            if (declared_bomb(s, f->layer_declared + (uint64_t)size, (uint64_t)size, path, err) != 0)
                goto close_parent;
            f->bytes += (uint64_t)size;
            f->layer_declared += (uint64_t)size;
            int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
            if (fd < 0) {
                error_errno(err, errno, "%s: %s: cannot create", f->what, path);
                goto close_parent;
            }
            int wr = write_data(f, a, s, fd, path, size, err);
            if (wr == 0 && fchmod(fd, mode) != 0)
                wr = error_errno(err, errno, "%s: %s: chmod failed", f->what, path);
            struct timespec times[2] = {mtime, mtime};
            if (wr == 0 && futimens(fd, times) != 0)
                wr = error_errno(err, errno, "%s: %s: setting mtime failed", f->what, path);
            if (close(fd) != 0 && wr == 0)
                wr = error_errno(err, errno, "%s: %s: close failed", f->what, path);
            if (wr != 0)
                goto close_parent;
        }
    }
    touch_path(f, out);
    if (f->keep_labels)
        record_label(f, out, e);
    rc = 0;
close_parent:
    close(pfd);
done:
    free(link_target);
    free(path);
    return rc;
}

static int flatten_layer(struct flatten *f, const char *layer_path, const char *what, const char *diff_id,
                         struct error *err)
{
    struct layer_stream s;
    f->what = what;
    f->layer_declared = 0;
    string_set_clear(&f->touched);
    string_set_clear(&f->layer_files);
    string_set_clear(&f->layer_dirs);
    int rc = -1;
    if (stream_open(&s, layer_path, what, &f->limits, err) != 0) {
        stream_close(&s);
        return -1;
    }
    struct archive *a = archive_over(&s);
    if (!a) {
        stream_close(&s);
        return -1;
    }
    for (;;) {
        struct archive_entry *e;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            archive_failed(&s, a, NULL);
            goto done;
        }
        if (flatten_entry(f, a, &s, e, err) != 0)
            goto done;
    }
    rc = stream_finish(&s, diff_id);
done:
    archive_read_free(a);
    stream_close(&s);
    return rc;
}

static int compare_depth(const void *a, const void *b)
{
    const struct dir_meta *x = a, *y = b;
    size_t lx = strlen(x->path), ly = strlen(y->path);
    return lx < ly ? 1 : lx > ly ? -1 : 0;
}

/* Directory modes and mtimes last: writing into a directory changes its mtime, and a read-only
 * directory mode would stop later entries. Deepest first; the last layer's entry wins. */
static int apply_dir_meta(struct flatten *f, struct error *err)
{
    struct string_set done = STRING_SET_INIT;
    /* later entries win: mark from the end, then sort survivors by depth */
    struct dir_meta *keep = xcalloc(f->dir_count ? f->dir_count : 1, sizeof *keep);
    size_t n = 0;
    for (size_t i = f->dir_count; i-- > 0;)
        if (string_set_add(&done, f->dirs[i].path))
            keep[n++] = f->dirs[i];
    if (n)
        qsort(keep, n, sizeof *keep, compare_depth);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int pfd;
        const char *base;
        int r = open_parent(f->root, keep[i].path, false, "directory modes", &pfd, &base, err);
        if (r < 0) {
            rc = -1;
            break;
        }
        if (r == 0)
            continue; /* removed by a later whiteout */
        struct stat st;
        if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
            struct timespec times[2] = {keep[i].mtime, keep[i].mtime};
            if (fchmodat(pfd, base, keep[i].mode, 0) != 0 || utimensat(pfd, base, times, AT_SYMLINK_NOFOLLOW) != 0)
                rc = error_errno(err, errno, "%s: cannot set mode/mtime", keep[i].path);
        }
        close(pfd);
    }
    free(keep);
    string_set_clear(&done);
    return rc;
}

static void flatten_free(struct flatten *f)
{
    for (size_t i = 0; i < f->label_count; i++) {
        free(f->labels[i].path);
        free(f->labels[i].label);
    }
    free(f->labels);
    string_set_clear(&f->labelled);
    string_set_clear(&f->touched);
    string_set_clear(&f->layer_files);
    string_set_clear(&f->layer_dirs);
    for (size_t i = 0; i < f->dir_count; i++)
        free(f->dirs[i].path);
    free(f->dirs);
    if (f->root >= 0)
        close(f->root);
}

static int flatten_init(struct flatten *f, const char *root_path, const struct layer_flatten_options *opts,
                        struct error *err)
{
    memset(f, 0, sizeof *f);
    f->root = -1;
    limits_defaults(&f->limits, opts ? &opts->limits : NULL);
    f->keep_labels = opts && opts->selinux_labels;
    if (opts && opts->prefix) {
        char *p;
        const char *given = opts->prefix;
        while (*given == '/') /* "/rootfs" and "rootfs" name the same image directory */
            given++;
        if (oci_layout_normalize_path(given, &p) != 0)
            return error_set(err, ERROR_INPUT, "prefix '%s' may not contain '..'", opts->prefix);
        f->prefix = p;
        if (!strcmp(p, ".")) {
            free(p);
            f->prefix = NULL;
        }
    }
    f->root = open(root_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (f->root < 0)
        return error_errno(err, errno, "%s: cannot open output directory", root_path);
    return 0;
}

int layer_flatten_apply_file(const char *layer_path, const char *what, const char *diff_id, const char *dest_root,
                             const struct layer_flatten_options *options, struct error *err)
{
    struct flatten f;
    int rc = flatten_init(&f, dest_root, options, err);
    if (rc == 0)
        rc = flatten_layer(&f, layer_path, what, diff_id, err);
    if (rc == 0)
        rc = apply_dir_meta(&f, err);
    free((char *)f.prefix);
    flatten_free(&f);
    return rc;
}

static bool dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return false;
    struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d)))
        empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    return empty;
}

int layer_flatten(struct store *store, const struct oci_image *image, const char *dest,
                  const struct layer_flatten_options *options, struct error *err)
{
    if (fs_exists(dest) && !(fs_is_dir(dest) && dir_is_empty(dest)))
        return error_set(err, ERROR_INPUT, "%s: already exists and is not empty; flatten into a new directory", dest);
    char *tmp = xasprintf("%s.tmp-XXXXXX", dest);
    if (!mkdtemp(tmp)) {
        int saved = errno;
        free(tmp);
        return error_errno(err, saved, "%s: cannot create a temporary directory next to it", dest);
    }
    struct flatten f;
    int rc = flatten_init(&f, tmp, options, err);
    for (size_t i = 0; rc == 0 && i < image->layer_count; i++) {
        char *path = store_blob_path(store, image->layers[i].digest);
        char *what = xasprintf("layer %zu/%zu %s of %s", i + 1, image->layer_count, image->layers[i].digest,
                               image->reference ? image->reference : image->manifest_digest);
        rc = flatten_layer(&f, path, what, image->diff_ids ? image->diff_ids[i] : NULL, err);
        free(path);
        free(what);
    }
    if (rc == 0 && options && options->resolve_links) {
        /* before the directory modes: a read-only directory would refuse the copies */
        struct fs_root r;
        char *label = xasprintf("%s (%s)", image->reference ? image->reference : "image", image->manifest_digest);
        rc = fs_root_open(&r, tmp, f.prefix, label, err);
        if (rc == 0) {
            uint64_t left = f.limits.max_bytes > f.bytes ? f.limits.max_bytes - f.bytes : 0;
            int dfd;
            int found = fs_open_in_root(&r, options->resolve_links, FS_ROOT_DIR, &dfd, NULL, err);
            if (found == 1) {
                close(dfd);
                rc = fs_root_resolve_links(&r, options->resolve_links, left, err);
            } else if (found < 0) {
                rc = -1;
            }
            fs_root_close(&r);
        }
        free(label);
    }
    if (rc == 0)
        rc = apply_dir_meta(&f, err);
    if (rc == 0 && f.keep_labels) /* before the tree appears: an existing tree has its labels */
        rc = write_labels(&f, dest, err);
    free((char *)f.prefix);
    flatten_free(&f);
    if (rc == 0 && fs_exists(dest) && rmdir(dest) != 0)
        rc = error_errno(err, errno, "%s: cannot replace the empty directory", dest);
    if (rc == 0 && rename(tmp, dest) != 0)
        rc = error_errno(err, errno, "%s: cannot move the flattened tree into place", dest);
    if (rc != 0) {
        struct error ignored;
        fs_remove_tree(tmp, &ignored);
    }
    free(tmp);
    return rc;
}

/* ---- extracting single files ---- */

/* REQUEST_REDIRECTED: the path (or a directory on it) is a symlink in the topmost layer that has
 * it; the lookup starts again, from the top layer, at the path the link leads to. */
enum request_state { REQUEST_PENDING, REQUEST_FOUND, REQUEST_GONE, REQUEST_REDIRECTED };

#define EXTRACT_FOLLOW_MAX 40 /* symlinks followed for one file, as the kernel allows */

struct request {
    char *path;     /* normalised image path being looked for */
    char *link_to;  /* hard link seen in this layer: look for this path in the same layer */
    char *redirect; /* REQUEST_REDIRECTED: where the symlink leads (normalised image path) */
    char *via;      /* the first symlink followed, "/link -> target", for errors */
    unsigned hops;
    enum request_state state;
    bool hidden_here; /* a whiteout in the current layer hides lower layers */
    bool seen_here;   /* the current layer has the path: a second entry for it is refused */
};

static int extract_data(struct archive *a, struct layer_stream *s, struct layer_extract_file *file, const char *what,
                        struct archive_entry *e, struct error *err)
{
    int64_t size = archive_entry_size(e);
    size_t max = file->max_size ? file->max_size : (file->dest ? SIZE_MAX : BUFFER_MAX_DEFAULT);
    if (size < 0 || (uint64_t)size > max || (uint64_t)size > s->limits->max_bytes)
        return error_set(
            err, ERROR_INPUT, "%s: %s is %lld bytes, more than the %llu allowed here", what, file->path, (long long)size,
            (unsigned long long)((uint64_t)max < s->limits->max_bytes ? (uint64_t)max : s->limits->max_bytes));
    if (declared_bomb(s, (uint64_t)size, (uint64_t)size, file->path, err) != 0) /* before a byte is written */
        return -1;
    struct atomic_file af = {.fd = -1};
    if (file->dest) {
        if (atomic_file_open(&af, file->dest, 0644, err) != 0)
            return -1;
    } else {
        buffer_reset(file->buffer);
    }
    for (;;) {
        const void *data;
        size_t len;
        la_int64_t offset;
        int r = archive_read_data_block(a, &data, &len, &offset);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            if (file->dest)
                atomic_file_abort(&af);
            return archive_failed(s, a, file->path);
        }
        if (offset < 0 || (uint64_t)offset + len > (uint64_t)size) {
            if (file->dest)
                atomic_file_abort(&af);
            return error_set(err, ERROR_INPUT, "%s: %s: data beyond the entry's size", what, file->path);
        }
        if (file->dest) {
            if (fs_pwrite_all(af.fd, data, len, (uint64_t)offset, file->dest, err) != 0) {
                atomic_file_abort(&af);
                return -1;
            }
        } else {
            if (file->buffer->len < (size_t)offset) {
                size_t gap = (size_t)offset - file->buffer->len;
                buffer_reserve(file->buffer, gap);
                memset(file->buffer->data + file->buffer->len, 0, gap);
                file->buffer->len += gap;
            }
            file->buffer->len = (size_t)offset;
            buffer_append(file->buffer, data, len);
        }
    }
    if (file->dest) {
        if (ftruncate(af.fd, size) != 0 || fchmod(af.fd, archive_entry_perm(e) & 0777) != 0) {
            int saved = errno;
            atomic_file_abort(&af);
            return error_errno(err, saved, "%s: cannot finish", file->dest);
        }
        if (atomic_file_commit(&af, err) != 0)
            return -1;
    } else if (file->buffer->len < (size_t)size) {
        size_t gap = (size_t)size - file->buffer->len;
        buffer_reserve(file->buffer, gap);
        memset(file->buffer->data + file->buffer->len, 0, gap);
        file->buffer->len += gap;
        file->buffer->data[file->buffer->len] = '\0';
    }
    file->found = true;
    file->size = (uint64_t)size;
    file->mode = archive_entry_perm(e) & 07777;
    return 0;
}

/* The topmost layer holding link (an ancestor of q->path, or q->path itself) makes it a symlink to
 * target: resolve it inside the image, as the kernel would with the image as root (an absolute
 * target starts at the image's root; `..` above the root is refused), and look the rest up again
 * from the top layer. Nothing of the build host is ever consulted. */
static int redirect(struct request *q, const char *link, const char *path, const char *target, const char *what,
                    struct error *err)
{
    char *to = NULL;
    if (!target || !target[0] || oci_layout_resolve_link(link, target, &to) != 0)
        return error_set(err, ERROR_INPUT,
                         "%s: /%s -> %.200s climbs above the image's root: refused (links in an "
                         "image are resolved inside the image, never on the build host)",
                         what, link, target ? target : "");
    if (!q->via)
        q->via = xasprintf("/%s -> %s", link, target);
    if (++q->hops > EXTRACT_FOLLOW_MAX) {
        free(to);
        return error_set(err, ERROR_INPUT, "%s: /%s: more than %d levels of symbolic links (a loop?)", what, q->path,
                         EXTRACT_FOLLOW_MAX);
    }
    const char *rest = path + strlen(link); /* "" or "/tail" */
    free(q->redirect);
    q->redirect = !strcmp(to, ".") ? xstrdup(*rest ? rest + 1 : ".") : xasprintf("%s%s", to, rest);
    free(to);
    if (!strcmp(q->redirect, "."))
        return error_set(err, ERROR_INPUT, "%s: %s leads to the image's root directory, not a file", what, q->via);
    q->state = REQUEST_REDIRECTED;
    return 0;
}

/* One pass over a layer. links_only: only satisfy requests waiting for a hard link's target. */
static int extract_pass(const char *layer_path, const char *what, struct request *req, struct layer_extract_file *files,
                        size_t count, bool links_only, const struct layer_flatten_limits *limits, struct error *err)
{
    struct layer_stream s;
    if (stream_open(&s, layer_path, what, limits, err) != 0) {
        stream_close(&s);
        return -1;
    }
    struct archive *a = archive_over(&s);
    if (!a) {
        stream_close(&s);
        return -1;
    }
    int rc = -1;
    uint64_t entries = 0;
    for (;;) {
        /* read on while something is undecided, and to the end of a layer that had a requested
         * path: a later second entry for it would make the layer ambiguous (flatten refuses it too) */
        bool pending = false;
        for (size_t i = 0; i < count; i++)
            pending |= links_only ? req[i].link_to != NULL : req[i].state == REQUEST_PENDING || req[i].seen_here;
        if (!pending)
            break;
        struct archive_entry *e;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            archive_failed(&s, a, NULL);
            goto done;
        }
        if (++entries > limits->max_entries) {
            error_set(err, ERROR_INPUT, "%s: more than %llu entries", what, (unsigned long long)limits->max_entries);
            goto done;
        }
        char *path = NULL;
        const char *raw = archive_entry_pathname(e);
        if (!raw || oci_layout_normalize_path(raw, &path) != 0) {
            error_set(err, ERROR_INPUT, "%s: entry '%.200s' has an absolute path or '..': refused", what, raw ? raw : "");
            goto done;
        }
        const char *slash = strrchr(path, '/');
        const char *name = slash ? slash + 1 : path;
        mode_t type = archive_entry_filetype(e);
        const char *hardlink = archive_entry_hardlink(e);
        for (size_t i = 0; i < count; i++) {
            struct request *q = &req[i];
            if (links_only) {
                if (q->link_to && !strcmp(q->link_to, path) && type == AE_IFREG && !hardlink) {
                    if (extract_data(a, &s, &files[i], what, e, err) != 0) {
                        free(path);
                        goto done;
                    }
                    free(q->link_to);
                    q->link_to = NULL;
                    q->state = REQUEST_FOUND;
                }
                continue;
            }
            if (!strcmp(path, q->path) && q->seen_here) {
                error_set(err, ERROR_INPUT,
                          "%s: %s appears twice in the layer; readers disagree on which one counts, "
                          "so it is refused: rebuild the image",
                          what, path);
                free(path);
                goto done;
            }
            if (!strcmp(path, q->path))
                q->seen_here = true;
            if (q->state != REQUEST_PENDING)
                continue;
            if (!strncmp(name, ".wh.", 4)) {
                char *dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup(".");
                if (!strcmp(name, ".wh..wh..opq")) {
                    if (is_ancestor_or_same(dir, q->path) && strcmp(dir, q->path) != 0)
                        q->hidden_here = true;
                } else {
                    char *target = !strcmp(dir, ".") ? xstrdup(name + 4) : xasprintf("%s/%s", dir, name + 4);
                    if (is_ancestor_or_same(target, q->path))
                        q->hidden_here = true;
                    free(target);
                }
                free(dir);
                continue;
            }
            if (!strcmp(path, q->path)) {
                if (hardlink) {
                    char *t = NULL;
                    if (oci_layout_normalize_path(hardlink, &t) != 0) {
                        error_set(err, ERROR_INPUT, "%s: hard link '%s' leaves the image", what, path);
                        free(path);
                        goto done;
                    }
                    free(q->link_to);
                    q->link_to = t;
                    continue;
                }
                if (type == AE_IFLNK) {
                    if (redirect(q, path, path, archive_entry_symlink(e), what, err) != 0) {
                        free(path);
                        goto done;
                    }
                    continue;
                }
                if (type != AE_IFREG) {
                    error_set(err, ERROR_INPUT, "%s: %s is %s, not a regular file", what, path,
                              type == AE_IFDIR ? "a directory" : "a special file");
                    free(path);
                    goto done;
                }
                if (extract_data(a, &s, &files[i], what, e, err) != 0) {
                    free(path);
                    goto done;
                }
                q->state = REQUEST_FOUND;
            } else if (is_ancestor_or_same(q->path, path)) {
                error_set(err, ERROR_INPUT, "%s: %s is a directory (it holds %s), not a file", what, q->path, path);
                free(path);
                goto done;
            } else if (is_ancestor_or_same(path, q->path) && type != AE_IFDIR) {
                if (type == AE_IFLNK) { /* a directory on the way is a link: continue where it leads */
                    if (redirect(q, path, q->path, archive_entry_symlink(e), what, err) != 0) {
                        free(path);
                        goto done;
                    }
                    continue;
                }
                q->hidden_here = true; /* a file where a parent directory should be */
            }
        }
        free(path);
    }
    rc = 0;
done:
    archive_read_free(a);
    stream_close(&s);
    return rc;
}

int layer_extract(struct store *store, const struct oci_image *image, struct layer_extract_file *files, size_t count,
                  bool allow_missing, const struct layer_flatten_limits *given, struct error *err)
{
    struct layer_flatten_limits limits;
    limits_defaults(&limits, given);
    struct request *req = xcalloc(count ? count : 1, sizeof *req);
    int rc = -1;
    for (size_t i = 0; i < count; i++) {
        files[i].found = false;
        files[i].size = 0;
        const char *p = files[i].path;
        while (*p == '/')
            p++;
        if (oci_layout_normalize_path(p, &req[i].path) != 0 || !strcmp(req[i].path, ".")) {
            error_set(err, ERROR_INPUT, "'%s' is not a file path inside an image", files[i].path);
            goto done;
        }
    }
    for (;;) {
        for (size_t layer = image->layer_count; layer-- > 0;) {
            bool pending = false;
            for (size_t i = 0; i < count; i++)
                pending |= req[i].state == REQUEST_PENDING;
            if (!pending)
                break;
            char *lpath = store_blob_path(store, image->layers[layer].digest);
            char *what = xasprintf("layer %zu/%zu %s of %s", layer + 1, image->layer_count, image->layers[layer].digest,
                                   image->reference ? image->reference : image->manifest_digest);
            int r = extract_pass(lpath, what, req, files, count, false, &limits, err);
            bool links = false;
            for (size_t i = 0; i < count && r == 0; i++)
                links |= req[i].link_to != NULL;
            if (r == 0 && links)
                r = extract_pass(lpath, what, req, files, count, true, &limits, err);
            for (size_t i = 0; i < count && r == 0; i++) {
                if (req[i].link_to) {
                    r = error_set(err, ERROR_INPUT, "%s: %s is a hard link to %s, which is not in the same layer", what,
                                  req[i].path, req[i].link_to);
                } else if (req[i].state == REQUEST_PENDING && req[i].hidden_here) {
                    req[i].state = REQUEST_GONE;
                }
                req[i].hidden_here = false;
                req[i].seen_here = false;
            }
            free(lpath);
            free(what);
            if (r != 0)
                goto done;
        }
        /* symlinks met: look their targets up again from the top layer */
        bool again = false;
        for (size_t i = 0; i < count; i++) {
            if (req[i].state != REQUEST_REDIRECTED)
                continue;
            free(req[i].path);
            req[i].path = req[i].redirect;
            req[i].redirect = NULL;
            req[i].state = REQUEST_PENDING;
            again = true;
        }
        if (!again)
            break;
    }
    for (size_t i = 0; i < count; i++) {
        if (req[i].state != REQUEST_FOUND && req[i].via) {
            /* a link that leads nowhere in the image is never just "missing": it names its target */
            error_set(err, ERROR_INPUT,
                      "%s (%s): %s: /%s is not in the image%s: refused (links in an image are "
                      "resolved inside the image, never on the build host)",
                      image->reference ? image->reference : "image", image->manifest_digest, req[i].via, req[i].path,
                      req[i].state == REQUEST_GONE ? " (a layer deletes it)" : "");
            goto done;
        }
        if (req[i].state != REQUEST_FOUND && !allow_missing) {
            error_set(err, ERROR_INPUT, "%s (%s): has no file /%s%s; is this the right image?",
                      image->reference ? image->reference : "image", image->manifest_digest, req[i].path,
                      req[i].state == REQUEST_GONE ? " (a layer deletes it)" : "");
            goto done;
        }
    }
    rc = 0;
done:
    for (size_t i = 0; i < count; i++) {
        free(req[i].path);
        free(req[i].link_to);
        free(req[i].redirect);
        free(req[i].via);
    }
    free(req);
    return rc;
}

int layer_read_file(struct store *store, const struct oci_image *image, const char *path, size_t max_size,
                    struct buffer *out, struct error *err)
{
    struct layer_extract_file f = {.path = path, .buffer = out, .max_size = max_size};
    if (layer_extract(store, image, &f, 1, true, NULL, err) != 0)
        return -1;
    return f.found ? 1 : 0;
}
