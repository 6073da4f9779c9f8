/* oci_layout — see oci_layout.h. */
#include "oci/oci_layout.h"
#include "airfactory/buffer.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/memory.h"
#include "oci/string_set.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_MAX_BYTES (512ull << 30)
#define DEFAULT_MAX_RATIO 100
#define DEFAULT_RATIO_FLOOR (64ull << 20)
#define MAX_ENTRIES 100000
#define MAX_INDEX_DEPTH 4
#define SMALL_FILE_MAX (4u << 20) /* index.json, manifest.json, oci-layout */

/* A blob whose bytes were hashed and found to match its digest. */
struct layout_blob {
    char hex[SHA256_HEX_LEN + 1];
    char *path;             /* where the verified bytes are: STORE/tmp/... or STORE/blobs/... */
    struct store_temp temp; /* when staged */
    bool staged;            /* in tmp/, not yet committed */
    int64_t size;
    unsigned char magic[4];
    size_t magic_len;
};

/* A non-blob file of a docker save archive: its name, and what it is. */
struct layout_name {
    char *name;
    char *hex;  /* content digest, or NULL for a link */
    char *link; /* normalised path a symlink or hard link points at */
};

struct referrer {
    char subject[OCI_DIGEST_SIZE];
    char digest[OCI_DIGEST_SIZE];
    char *media_type;
    /* the referrers index that listed it (the OCI fallback tag sha256-<hex>), kept with it */
    struct oci_descriptor parent;
    bool has_parent;
};

struct oci_layout {
    struct store *store;
    char *input;
    bool is_dir;
    bool docker;
    struct oci_layout_limits limits;
    struct layout_blob *blobs;
    size_t blob_count, blob_cap;
    struct layout_name *names;
    size_t name_count, name_cap;
    struct buffer index_json, docker_manifest, layout_file;
    bool have_index_json, have_docker_manifest, have_layout_file;
    struct oci_index index; /* index.json, or synthesised from docker's manifest.json */
    bool referrers_scanned;
    struct referrer *referrers;
    size_t referrer_count;
    struct store_source_blob *touched;
    size_t touched_count, touched_cap;
    struct oci_layout_stats stats;
};

/* ---- paths ---- */

int oci_layout_normalize_path(const char *in, char **out)
{
    if (in[0] == '/')
        return -1;
    struct buffer b = BUFFER_INIT;
    const char *p = in;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            buffer_free(&b);
            return -1;
        }
        if (len > 0 && !(len == 1 && p[0] == '.')) {
            if (b.len)
                buffer_append_char(&b, '/');
            buffer_append(&b, p, len);
        }
        p += len;
        while (*p == '/')
            p++;
    }
    if (!b.len)
        buffer_append_char(&b, '.');
    *out = buffer_take(&b);
    return 0;
}

int oci_layout_resolve_link(const char *entry_path, const char *target, char **out)
{
    /* components stack over a copy of the base directory */
    struct buffer b = BUFFER_INIT;
    if (target[0] != '/') {
        const char *slash = strrchr(entry_path, '/');
        if (slash)
            buffer_append(&b, entry_path, (size_t)(slash - entry_path));
    }
    const char *p = target;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (!b.len) {
                buffer_free(&b);
                return -1;
            }
            char *last = strrchr(b.data, '/');
            b.len = last ? (size_t)(last - b.data) : 0;
            b.data[b.len] = '\0';
        } else if (!(len == 1 && p[0] == '.')) {
            if (b.len)
                buffer_append_char(&b, '/');
            buffer_append(&b, p, len);
        }
        p += len;
    }
    if (!b.len)
        buffer_append_char(&b, '.');
    *out = buffer_take(&b);
    return 0;
}

static bool is_blob_name(const char *name, char hex[SHA256_HEX_LEN + 1])
{
    if (strncmp(name, "blobs/sha256/", 13) != 0 || !sha256_hex_valid(name + 13))
        return false;
    memcpy(hex, name + 13, SHA256_HEX_LEN + 1);
    return true;
}

/* "sha256-<64 hex>" optionally followed by ".sig", ".att", ".sbom": cosign's tags and the OCI
 * referrers fallback tag. Those are signatures of images, never images to import. */
static bool is_signature_tag(const char *tag)
{
    if (!tag || strncmp(tag, "sha256-", 7) != 0 || strlen(tag) < 7 + SHA256_HEX_LEN)
        return false;
    for (int i = 0; i < SHA256_HEX_LEN; i++) {
        char c = tag[7 + i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    const char *rest = tag + 7 + SHA256_HEX_LEN;
    return !*rest || !strcmp(rest, ".sig") || !strcmp(rest, ".att") || !strcmp(rest, ".sbom");
}

/* ---- blob registry ---- */

static struct layout_blob *find_blob(struct oci_layout *l, const char *hex)
{
    for (size_t i = 0; i < l->blob_count; i++)
        if (!strcmp(l->blobs[i].hex, hex))
            return &l->blobs[i];
    return NULL;
}

static struct layout_blob *add_blob(struct oci_layout *l)
{
    if (l->blob_count == l->blob_cap) {
        l->blob_cap = l->blob_cap ? l->blob_cap * 2 : 16;
        l->blobs = xrealloc(l->blobs, l->blob_cap * sizeof *l->blobs);
    }
    struct layout_blob *b = &l->blobs[l->blob_count++];
    memset(b, 0, sizeof *b);
    b->temp.fd = -1;
    return b;
}

static struct layout_name *find_name(struct oci_layout *l, const char *name)
{
    for (size_t i = 0; i < l->name_count; i++)
        if (!strcmp(l->names[i].name, name))
            return &l->names[i];
    return NULL;
}

static struct layout_name *add_name(struct oci_layout *l, const char *name)
{
    if (l->name_count == l->name_cap) {
        l->name_cap = l->name_cap ? l->name_cap * 2 : 16;
        l->names = xrealloc(l->names, l->name_cap * sizeof *l->names);
    }
    struct layout_name *n = &l->names[l->name_count++];
    memset(n, 0, sizeof *n);
    n->name = xstrdup(name);
    return n;
}

/* ---- staging: hash while copying ---- */

typedef int (*read_block_fn)(void *context, const void **data, size_t *len, struct error *err);

/* Stream one blob from read into the store's staging area while hashing it. expected_hex: the
 * digest the name promises (checked), or NULL (docker save files are named by content). When the
 * store already has the promised digest, the bytes are only hashed: nothing is written. */
static int stage(struct oci_layout *l, read_block_fn read, void *ctx, const char *expected_hex, const char *entry,
                 struct layout_blob **out, struct error *err)
{
    bool present = expected_hex && store_has_blob(l->store, expected_hex);
    struct store_temp temp;
    struct sha256_stream hash;
    memset(&temp, 0, sizeof temp);
    temp.fd = -1;
    if (!present && store_temp_create(l->store, &temp, err) != 0)
        return -1;
    if (present)
        sha256_stream_init(&hash);
    uint64_t size = 0;
    unsigned char magic[4];
    size_t magic_len = 0;
    for (;;) {
        const void *data;
        size_t len;
        int r = read(ctx, &data, &len, err);
        if (r < 0)
            goto fail;
        if (r == 0)
            break;
        if (l->stats.bytes_read + len > l->limits.max_bytes) {
            error_set(err, ERROR_INPUT,
                      "%s: entry %s: the input holds more than %llu bytes of blobs, the limit for one import; "
                      "split the input or raise the limit",
                      l->input, entry, (unsigned long long)l->limits.max_bytes);
            goto fail;
        }
        while (magic_len < sizeof magic && magic_len < size + len) {
            magic[magic_len] = ((const unsigned char *)data)[magic_len - size];
            magic_len++;
        }
        size += len;
        l->stats.bytes_read += len;
        if (present)
            sha256_stream_update(&hash, data, len);
        else if (store_temp_write(&temp, data, len, err) != 0)
            goto fail;
    }
    char hex[SHA256_HEX_LEN + 1];
    if (present) {
        sha256_stream_final_hex(&hash, hex);
    } else {
        if (store_temp_finish(&temp, hex, err) != 0)
            goto fail;
        l->stats.blobs_written++;
        l->stats.bytes_written += size;
    }
    l->stats.blobs_read++;
    if (expected_hex && strcmp(hex, expected_hex) != 0) {
        store_temp_discard(&temp);
        return error_set(err, ERROR_INPUT,
                         "%s: %s: content hashes to sha256:%s, expected sha256:%s (its name); the blob was modified or "
                         "damaged after export: re-export the image (skopeo copy ... oci-archive:FILE:TAG) or fetch "
                         "the file again",
                         l->input, entry, hex, expected_hex);
    }
    struct layout_blob *b = find_blob(l, hex);
    if (b) { /* same content under another name (docker save): keep the first copy */
        store_temp_discard(&temp);
        *out = b;
        return 0;
    }
    b = add_blob(l);
    memcpy(b->hex, hex, sizeof b->hex);
    b->size = (int64_t)size;
    memcpy(b->magic, magic, magic_len);
    b->magic_len = magic_len;
    if (!present && store_has_blob(l->store, hex)) {
        store_temp_discard(&temp);
        present = true;
    }
    if (present) {
        char *digest = xasprintf("sha256:%s", hex);
        b->path = store_blob_path(l->store, digest);
        free(digest);
    } else {
        b->temp = temp;
        b->staged = true;
        b->path = xstrdup(temp.path);
    }
    *out = b;
    return 0;
fail:
    if (present)
        sha256_stream_abort(&hash);
    store_temp_discard(&temp);
    return -1;
}

struct memory_reader {
    const char *data;
    size_t len;
    bool done;
};

static int memory_read(void *context, const void **data, size_t *len, struct error *err)
{
    struct memory_reader *m = context;
    if (m->done)
        return 0;
    m->done = true;
    *data = m->data;
    *len = m->len;
    return m->len ? 1 : 0;
}

struct fd_reader {
    int fd;
    const char *path;
    unsigned char *buf;
    size_t cap;
};

static int fd_read(void *context, const void **data, size_t *len, struct error *err)
{
    struct fd_reader *f = context;
    for (;;) {
        ssize_t n = read(f->fd, f->buf, f->cap);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_errno(err, errno, "%s: read failed", f->path);
        *data = f->buf;
        *len = (size_t)n;
        return n > 0;
    }
}

static int stage_file(struct oci_layout *l, const char *path, const char *expected_hex, const char *entry,
                      struct layout_blob **out, struct error *err)
{
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT)
        return 0;
    /* regular files only, refused at once otherwise: a FIFO named like a blob must not hang the import */
    int fd = fs_open_regular(path, "OCI layout blob", err);
    if (fd < 0)
        return -1;
    struct fd_reader r = {fd, path, xmalloc(1 << 20), 1 << 20};
    int rc = stage(l, fd_read, &r, expected_hex, entry, out, err);
    free(r.buf);
    close(fd);
    return rc == 0 ? 1 : -1;
}

/* A blob by hex: already staged, or (directory input) staged now. 1 found, 0 missing, -1 error. */
static int get_blob(struct oci_layout *l, const char *hex, struct layout_blob **out, struct error *err)
{
    *out = find_blob(l, hex);
    if (*out)
        return 1;
    if (!l->is_dir)
        return 0;
    char *name = xasprintf("blobs/sha256/%s", hex);
    char *path = path_join(l->input, name);
    int rc = stage_file(l, path, hex, name, out, err);
    free(name);
    free(path);
    return rc;
}

/* ---- reading a tar ---- */

struct tar_reader {
    struct oci_layout *l;
    struct archive *a;
    const char *entry;
    int64_t offset;
    bool compressed;
};

static int tar_error(struct tar_reader *t, const char *entry, struct error *err)
{
    const char *msg = archive_error_string(t->a);
    return error_set(err, ERROR_INPUT,
                     "%s: %s%s%s; the tarball is truncated or corrupt: copy or export it again "
                     "(skopeo copy ... oci-archive:FILE:TAG)",
                     t->l->input, entry ? entry : "", entry ? ": " : "", msg ? msg : "read error");
}

static int check_ratio(struct tar_reader *t, struct error *err)
{
    if (!t->compressed)
        return 0;
    uint64_t raw = (uint64_t)archive_filter_bytes(t->a, -1);
    uint64_t expanded = (uint64_t)archive_filter_bytes(t->a, 0);
    const struct oci_layout_limits *lim = &t->l->limits;
    if (expanded > lim->ratio_floor && expanded / (raw ? raw : 1) >= lim->max_ratio)
        return error_set(err, ERROR_INPUT,
                         "%s: decompresses to %llu bytes from %llu read (more than %llu times): refusing a likely "
                         "decompression bomb; if the file is genuine, decompress it yourself and import the plain tar",
                         t->l->input, (unsigned long long)expanded, (unsigned long long)raw,
                         (unsigned long long)lim->max_ratio);
    return 0;
}

static int tar_read(void *context, const void **data, size_t *len, struct error *err)
{
    struct tar_reader *t = context;
    la_int64_t offset;
    int r = archive_read_data_block(t->a, data, len, &offset);
    if (r == ARCHIVE_EOF)
        return 0;
    if (r < ARCHIVE_WARN)
        return tar_error(t, t->entry, err);
    if (offset != t->offset)
        return error_set(err, ERROR_INPUT, "%s: %s: sparse tar entries are not valid blobs; re-export the image",
                         t->l->input, t->entry);
    t->offset += (int64_t)*len;
    return check_ratio(t, err) == 0 ? 1 : -1;
}

static int tar_read_small(struct tar_reader *t, const char *name, size_t max, struct buffer *out, struct error *err)
{
    for (;;) {
        const void *data;
        size_t len;
        int r = tar_read(t, &data, &len, err);
        if (r < 0)
            return -1;
        if (r == 0)
            return 0;
        if (out->len + len > max)
            return error_set(err, ERROR_INPUT, "%s: %s is larger than %zu bytes; this is not a valid layout file",
                             t->l->input, name, max);
        buffer_append(out, data, len);
    }
}

static int read_tar(struct oci_layout *l, struct error *err)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_xz(a);
    struct tar_reader t = {l, a, NULL, 0, false};
    struct string_set seen = STRING_SET_INIT;
    int rc = -1;
    if (archive_read_open_filename(a, l->input, 1 << 20) != ARCHIVE_OK) {
        const char *msg = archive_error_string(a);
        if (access(l->input, R_OK) != 0)
            error_errno(err, errno, "%s: cannot open", l->input);
        else
            error_set(err, ERROR_INPUT,
                      "%s: %s; expected an OCI layout as a tar (skopeo copy ... oci-archive:FILE:TAG), optionally "
                      "gzip/zstd/xz compressed, or `docker save` output",
                      l->input, msg ? msg : "not a tar archive");
        goto done;
    }
    t.compressed = archive_filter_count(a) > 1;
    struct archive_entry *e;
    size_t entries = 0;
    for (;;) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            tar_error(&t, NULL, err);
            goto done;
        }
        if (entries == 0)
            t.compressed = archive_filter_count(a) > 1;
        if (++entries > MAX_ENTRIES) {
            error_set(err, ERROR_INPUT, "%s: more than %d entries; not an image export", l->input, MAX_ENTRIES);
            goto done;
        }
        const char *raw = archive_entry_pathname(e);
        char *name = NULL;
        if (!raw || oci_layout_normalize_path(raw, &name) != 0) {
            error_set(err, ERROR_INPUT,
                      "%s: entry '%.200s' has an absolute path or '..'; an image export never does: refusing a "
                      "path-traversal attempt",
                      l->input, raw ? raw : "(no name)");
            goto done;
        }
        t.entry = name;
        t.offset = 0;
        mode_t type = archive_entry_filetype(e);
        if (type == AE_IFDIR) {
            free(name);
            continue;
        }
        if (!string_set_add(&seen, name)) {
            error_set(err, ERROR_INPUT,
                      "%s: entry '%s' appears twice; a tar with duplicate entries can be read two ways, so it is "
                      "refused: export the image again",
                      l->input, name);
            free(name);
            goto done;
        }
        char hex[SHA256_HEX_LEN + 1];
        int step = 0;
        const char *hardlink = archive_entry_hardlink(e);
        /* declared sizes are checked before a byte is staged: a sparse entry (its holes would read
         * as zeros) or a size past the import's cap is refused from its header alone */
        int64_t declared = archive_entry_size(e);
        if (!hardlink && type == AE_IFREG && archive_entry_sparse_count(e) > 0) {
            error_set(err, ERROR_INPUT,
                      "%s: entry '%s' is a sparse file (%lld bytes declared); an image export never "
                      "holds one: refused",
                      l->input, name, (long long)declared);
            free(name);
            goto done;
        }
        if (!hardlink && type == AE_IFREG &&
            (declared < 0 || (uint64_t)declared > l->limits.max_bytes - l->stats.bytes_read)) {
            error_set(err, ERROR_INPUT,
                      "%s: entry '%s' declares %lld bytes, past the %llu bytes of blobs one import "
                      "may hold: refused before reading it (split the input or raise the limit)",
                      l->input, name, (long long)declared, (unsigned long long)l->limits.max_bytes);
            free(name);
            goto done;
        }
        if (hardlink || (type != AE_IFREG && type != AE_IFLNK)) {
            if (hardlink && strncmp(name, "blobs/", 6) != 0) {
                char *target = NULL;
                if (oci_layout_normalize_path(hardlink, &target) != 0) {
                    step = error_set(err, ERROR_INPUT, "%s: hard link '%s' points outside the archive ('%.200s')",
                                     l->input, name, hardlink);
                } else {
                    add_name(l, name)->link = target;
                }
            } else {
                step = error_set(err, ERROR_INPUT,
                                 "%s: entry '%s' is a %s; an image export holds only regular files (and, in docker "
                                 "save output, symlinks between layer files)",
                                 l->input, name,
                                 hardlink                               ? "hard link"
                                 : type == AE_IFCHR || type == AE_IFBLK ? "device node"
                                                                        : "special file");
            }
        } else if (type == AE_IFLNK) {
            char *target = NULL;
            const char *to = archive_entry_symlink(e);
            if (!strncmp(name, "blobs/", 6) || !to || oci_layout_resolve_link(name, to, &target) != 0)
                step = error_set(err, ERROR_INPUT,
                                 "%s: symlink '%s' -> '%.200s' is not allowed here (blobs must be regular files; links "
                                 "may not leave the archive)",
                                 l->input, name, to ? to : "");
            else
                add_name(l, name)->link = target;
        } else if (!strcmp(name, "index.json")) {
            step = tar_read_small(&t, name, SMALL_FILE_MAX, &l->index_json, err);
            l->have_index_json = true;
        } else if (!strcmp(name, "oci-layout")) {
            step = tar_read_small(&t, name, 4096, &l->layout_file, err);
            l->have_layout_file = true;
        } else if (!strcmp(name, "manifest.json")) {
            step = tar_read_small(&t, name, SMALL_FILE_MAX, &l->docker_manifest, err);
            l->have_docker_manifest = true;
        } else if (is_blob_name(name, hex)) {
            struct layout_blob *b;
            step = stage(l, tar_read, &t, hex, name, &b, err);
        } else if (!strncmp(name, "blobs/", 6)) {
            step = error_set(err, ERROR_INPUT,
                             "%s: entry '%s': only sha256 blobs (blobs/sha256/<64 hex>) are supported; re-export the "
                             "image with sha256 digests",
                             l->input, name);
        } else if (!strcmp(name, "repositories") || strstr(name, "/json") || strstr(name, "/VERSION")) {
            step = 0; /* docker save's legacy metadata: not needed */
        } else {
            /* other files: docker save names config and layer files freely; hash them by content */
            struct layout_blob *b;
            step = stage(l, tar_read, &t, NULL, name, &b, err);
            if (step == 0)
                add_name(l, name)->hex = xstrdup(b->hex);
        }
        free(name);
        t.entry = NULL;
        if (step != 0)
            goto done;
    }
    rc = 0;
done:
    string_set_clear(&seen);
    archive_read_free(a);
    return rc;
}

/* ---- docker save ---- */

/* A docker save file by name, following its symlinks (docker dedups layers that way). */
static int docker_file(struct oci_layout *l, const char *raw_name, struct layout_blob **out, struct error *err)
{
    char *name = NULL;
    if (oci_layout_normalize_path(raw_name, &name) != 0)
        return error_set(err, ERROR_INPUT, "%s: manifest.json names '%.200s', which leaves the archive", l->input,
                         raw_name);
    int rc = -1;
    for (int hops = 0; hops < 8; hops++) {
        char hex[SHA256_HEX_LEN + 1];
        if (is_blob_name(name, hex)) {
            int r = get_blob(l, hex, out, err);
            if (r == 0)
                error_set(err, ERROR_INPUT, "%s: manifest.json names '%s', which is not in the archive", l->input, name);
            rc = r == 1 ? 0 : -1;
            goto done;
        }
        if (l->is_dir) {
            char *path = path_join(l->input, name);
            int r = stage_file(l, path, NULL, name, out, err);
            free(path);
            if (r == 0)
                error_set(err, ERROR_INPUT, "%s: manifest.json names '%s', which is not there", l->input, name);
            rc = r == 1 ? 0 : -1;
            goto done;
        }
        struct layout_name *n = find_name(l, name);
        if (!n) {
            error_set(err, ERROR_INPUT, "%s: manifest.json names '%s', which is not in the archive", l->input, name);
            goto done;
        }
        if (n->hex) {
            *out = find_blob(l, n->hex);
            rc = 0;
            goto done;
        }
        char *next = xstrdup(n->link);
        free(name);
        name = next;
    }
    error_set(err, ERROR_INPUT, "%s: '%.200s': too many levels of links", l->input, raw_name);
done:
    free(name);
    return rc;
}

static const char *layer_type_from_magic(const struct layout_blob *b)
{
    if (b->magic_len >= 2 && b->magic[0] == 0x1f && b->magic[1] == 0x8b)
        return OCI_MEDIA_TYPE_LAYER_GZIP;
    if (b->magic_len >= 4 && b->magic[0] == 0x28 && b->magic[1] == 0xb5 && b->magic[2] == 0x2f && b->magic[3] == 0xfd)
        return OCI_MEDIA_TYPE_LAYER_ZSTD;
    return OCI_MEDIA_TYPE_LAYER;
}

static void add_index_entry(struct oci_index *index, size_t *cap, const char *digest, int64_t size, const char *tag)
{
    if (index->count == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        index->manifests = xrealloc(index->manifests, *cap * sizeof *index->manifests);
    }
    struct oci_descriptor *d = &index->manifests[index->count++];
    memset(d, 0, sizeof *d);
    d->media_type = xstrdup(OCI_MEDIA_TYPE_MANIFEST);
    d->type = oci_media_type_find(OCI_MEDIA_TYPE_MANIFEST);
    snprintf(d->digest, sizeof d->digest, "%s", digest);
    d->size = size;
    d->ref_name = tag ? xstrdup(tag) : NULL;
}

/* Convert docker's manifest.json into the same model as an OCI layout: one synthesised OCI image
 * manifest per image (staged like any blob), listed in an in-memory index with its RepoTags. */
static int docker_synthesise(struct oci_layout *l, struct error *err)
{
    char *what = xasprintf("manifest.json in %s", l->input);
    struct json_value *root = NULL;
    int rc = -1;
    size_t cap = 0;
    l->index.media_type = xstrdup(OCI_MEDIA_TYPE_INDEX);
    if (json_parse(l->docker_manifest.data, l->docker_manifest.len, what, &root, err) != 0)
        goto done;
    if (root->type != JSON_ARRAY || root->count == 0) {
        error_set(err, ERROR_INPUT, "%s: expected a non-empty array of images (docker save format)", what);
        goto done;
    }
    for (size_t i = 0; i < root->count; i++) {
        const struct json_value *item = root->items[i];
        const char *config = json_object_get_string(item, "Config");
        const struct json_value *layers = json_object_get_array(item, "Layers");
        const struct json_value *tags = json_object_get(item, "RepoTags");
        if (!config || !layers || (tags && tags->type != JSON_ARRAY && tags->type != JSON_NULL)) {
            error_set(err, ERROR_INPUT,
                      "%s:%d:%d: each image needs \"Config\" (string), \"Layers\" (array) and "
                      "optionally \"RepoTags\" (array)",
                      what, item->line, item->column);
            goto done;
        }
        struct layout_blob *cb;
        if (docker_file(l, config, &cb, err) != 0)
            goto done;
        struct buffer m = BUFFER_INIT;
        struct json_writer w;
        json_writer_init(&w, &m);
        w.escape_html = false;
        json_object_begin(&w);
        json_kv_int(&w, "schemaVersion", 2);
        json_kv_string(&w, "mediaType", OCI_MEDIA_TYPE_MANIFEST);
        json_key(&w, "config");
        json_object_begin(&w);
        json_kv_string(&w, "mediaType", OCI_MEDIA_TYPE_CONFIG);
        char digest[OCI_DIGEST_SIZE];
        snprintf(digest, sizeof digest, "sha256:%s", cb->hex);
        json_kv_string(&w, "digest", digest);
        json_kv_int(&w, "size", cb->size);
        json_object_end(&w);
        json_key(&w, "layers");
        json_array_begin(&w);
        for (size_t j = 0; j < layers->count; j++) {
            const struct json_value *lv = layers->items[j];
            struct layout_blob *lb;
            if (lv->type != JSON_STRING) {
                buffer_free(&m);
                error_set(err, ERROR_INPUT, "%s:%d:%d: layer names must be strings", what, lv->line, lv->column);
                goto done;
            }
            if (docker_file(l, lv->text, &lb, err) != 0) {
                buffer_free(&m);
                goto done;
            }
            json_object_begin(&w);
            json_kv_string(&w, "mediaType", layer_type_from_magic(lb));
            snprintf(digest, sizeof digest, "sha256:%s", lb->hex);
            json_kv_string(&w, "digest", digest);
            json_kv_int(&w, "size", lb->size);
            json_object_end(&w);
        }
        json_array_end(&w);
        json_object_end(&w);
        struct memory_reader mr = {m.data, m.len, false};
        struct layout_blob *mb;
        int r = stage(l, memory_read, &mr, NULL, "synthesised manifest", &mb, err);
        size_t mlen = m.len;
        buffer_free(&m);
        if (r != 0)
            goto done;
        snprintf(digest, sizeof digest, "sha256:%s", mb->hex);
        size_t tag_count = tags && tags->type == JSON_ARRAY ? tags->count : 0;
        for (size_t j = 0; j < tag_count; j++) {
            if (tags->items[j]->type != JSON_STRING) {
                error_set(err, ERROR_INPUT, "%s: RepoTags must be strings", what);
                goto done;
            }
            add_index_entry(&l->index, &cap, digest, (int64_t)mlen, tags->items[j]->text);
        }
        if (!tag_count)
            add_index_entry(&l->index, &cap, digest, (int64_t)mlen, NULL);
    }
    rc = 0;
done:
    json_free(root);
    free(what);
    return rc;
}

/* ---- open ---- */

static int check_layout_file(struct oci_layout *l, struct error *err)
{
    if (!l->have_layout_file)
        return error_set(err, ERROR_INPUT,
                         "%s: has index.json but no oci-layout file; not an OCI image layout: export it with "
                         "skopeo copy ... oci:DIR:TAG or oci-archive:FILE:TAG",
                         l->input);
    char *what = xasprintf("oci-layout in %s", l->input);
    struct json_value *root;
    int rc = json_parse(l->layout_file.data, l->layout_file.len, what, &root, err);
    if (rc == 0) {
        const char *v = json_object_get_string(root, "imageLayoutVersion");
        if (!v || strcmp(v, "1.0.0") != 0)
            rc = error_set(err, ERROR_INPUT, "%s: imageLayoutVersion is '%s', airfactory reads 1.0.0", what,
                           v ? v : "(missing)");
        json_free(root);
    }
    free(what);
    return rc;
}

static int read_dir(struct oci_layout *l, struct error *err)
{
    char *index = path_join(l->input, "index.json");
    char *layout = path_join(l->input, "oci-layout");
    char *docker = path_join(l->input, "manifest.json");
    int rc = 0;
    if (fs_exists(index)) {
        rc = fs_read_file(index, SMALL_FILE_MAX, &l->index_json, err);
        l->have_index_json = true;
        if (rc == 0 && fs_exists(layout)) {
            rc = fs_read_file(layout, 4096, &l->layout_file, err);
            l->have_layout_file = true;
        }
    } else if (fs_exists(docker)) {
        rc = fs_read_file(docker, SMALL_FILE_MAX, &l->docker_manifest, err);
        l->have_docker_manifest = true;
    }
    free(index);
    free(layout);
    free(docker);
    return rc;
}

int oci_layout_open(struct store *store, const char *path, const struct oci_layout_limits *limits,
                    struct oci_layout **out, struct error *err)
{
    *out = NULL;
    struct oci_layout *l = xcalloc(1, sizeof *l);
    l->store = store;
    l->input = xstrdup(path);
    if (limits)
        l->limits = *limits;
    if (!l->limits.max_bytes)
        l->limits.max_bytes = DEFAULT_MAX_BYTES;
    if (!l->limits.max_ratio)
        l->limits.max_ratio = DEFAULT_MAX_RATIO;
    if (!l->limits.ratio_floor)
        l->limits.ratio_floor = DEFAULT_RATIO_FLOOR;
    struct stat st;
    if (stat(path, &st) != 0) {
        error_errno(err, errno, "%s: cannot read the input", path);
        oci_layout_close(l);
        return -1;
    }
    l->is_dir = S_ISDIR(st.st_mode);
    /* a pipe is a tarball being streamed in (`import <(zstd -dc x.tar.zst)`); a device or a socket
     * is never an image export */
    if (!l->is_dir && !S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
        error_set(err, ERROR_INPUT,
                  "%s: is %s, not a tarball or an OCI layout directory; save the image to a file "
                  "first",
                  path, S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device" : "a special file");
        oci_layout_close(l);
        return -1;
    }
    int rc = l->is_dir ? read_dir(l, err) : read_tar(l, err);
    if (rc == 0) {
        if (l->have_index_json) {
            char *what = xasprintf("index.json in %s", l->input);
            rc = check_layout_file(l, err);
            if (rc == 0)
                rc = oci_index_parse(l->index_json.data, l->index_json.len, NULL, what, &l->index, err);
            free(what);
        } else if (l->have_docker_manifest) {
            l->docker = true;
            rc = docker_synthesise(l, err);
        } else {
            rc = error_set(err, ERROR_INPUT,
                           "%s: neither an OCI image layout (no index.json) nor `docker save` output (no "
                           "manifest.json); export the image with skopeo copy ... oci-archive:FILE:TAG",
                           l->input);
        }
    }
    if (rc != 0) {
        oci_layout_close(l);
        return -1;
    }
    *out = l;
    return 0;
}

void oci_layout_close(struct oci_layout *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->blob_count; i++) {
        if (l->blobs[i].staged)
            store_temp_discard(&l->blobs[i].temp);
        free(l->blobs[i].path);
    }
    free(l->blobs);
    for (size_t i = 0; i < l->name_count; i++) {
        free(l->names[i].name);
        free(l->names[i].hex);
        free(l->names[i].link);
    }
    free(l->names);
    for (size_t i = 0; i < l->referrer_count; i++) {
        free(l->referrers[i].media_type);
        oci_descriptor_free(&l->referrers[i].parent);
    }
    free(l->referrers);
    store_source_blobs_free(l->touched, l->touched_count);
    buffer_free(&l->index_json);
    buffer_free(&l->docker_manifest);
    buffer_free(&l->layout_file);
    oci_index_free(&l->index);
    free(l->input);
    free(l);
}

const char *oci_layout_input(const struct oci_layout *l)
{
    return l->input;
}

void oci_layout_get_stats(const struct oci_layout *l, struct oci_layout_stats *out)
{
    *out = l->stats;
}

/* ---- reading documents and checking blobs against descriptors ---- */

static int check_descriptor(struct oci_layout *l, const struct oci_descriptor *d, const char *referrer,
                            struct layout_blob **out, struct error *err)
{
    int r = get_blob(l, d->digest + 7, out, err);
    if (r < 0)
        return -1;
    if (r == 0)
        return error_set(err, ERROR_INPUT,
                         "%s: blob %s (%s, referenced by %s) is missing; the export is incomplete: export again with "
                         "skopeo copy --all ... (or without --all only the host's platform is written)",
                         l->input, d->digest, d->media_type, referrer);
    if ((*out)->size != d->size)
        return error_set(err, ERROR_INPUT,
                         "%s: blob %s is %lld bytes but %s says %lld; the layout was modified or damaged: export it "
                         "again",
                         l->input, d->digest, (long long)(*out)->size, referrer, (long long)d->size);
    return 0;
}

static int read_document(struct oci_layout *l, const struct oci_descriptor *d, const char *referrer, struct buffer *out,
                         struct error *err)
{
    struct layout_blob *b;
    if (check_descriptor(l, d, referrer, &b, err) != 0)
        return -1;
    if (d->size > (int64_t)OCI_DOCUMENT_MAX)
        return error_set(err, ERROR_INPUT, "%s: %s %s is %lld bytes; documents larger than %u bytes are refused",
                         l->input, d->media_type, d->digest, (long long)d->size, OCI_DOCUMENT_MAX);
    buffer_reset(out);
    return fs_read_file(b->path, OCI_DOCUMENT_MAX, out, err);
}

/* ---- resolution ---- */

bool oci_layout_tag_matches(const char *ref_name, const char *tag)
{
    if (!ref_name)
        return false;
    if (!strcmp(ref_name, tag))
        return true;
    /* "v1.10.3" matches "ghcr.io/siderolabs/imager:v1.10.3" and the other way round: skopeo writes
     * only the tag into ref.name, other tools the full reference */
    const char *a = strrchr(ref_name, ':'), *b = strrchr(tag, ':');
    const char *as = strrchr(ref_name, '/'), *bs = strrchr(tag, '/');
    bool a_has_tag = a && (!as || a > as), b_has_tag = b && (!bs || b > bs);
    if (a_has_tag && !b_has_tag)
        return !strcmp(a + 1, tag);
    if (b_has_tag && !a_has_tag)
        return !strcmp(b + 1, ref_name);
    return false;
}

static bool is_image_candidate(const struct oci_descriptor *d)
{
    if (is_signature_tag(d->ref_name) || d->attestation || oci_descriptor_is_artifact(d))
        return false;
    if (d->kind &&
        (!strcmp(d->kind, "dev.cosignproject.cosign/sigs") || !strcmp(d->kind, "dev.cosignproject.cosign/atts") ||
         !strcmp(d->kind, "dev.cosignproject.cosign/sboms")))
        return false;
    return true;
}

struct platform_entry {
    struct oci_descriptor manifest;
    struct oci_descriptor chain[MAX_INDEX_DEPTH]; /* indexes from the top down to the manifest's parent */
    size_t chain_len;
};

struct entry_list {
    struct platform_entry *items;
    size_t count, cap;
};

static void entry_list_free(struct entry_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        oci_descriptor_free(&list->items[i].manifest);
        for (size_t j = 0; j < list->items[i].chain_len; j++)
            oci_descriptor_free(&list->items[i].chain[j]);
    }
    free(list->items);
    memset(list, 0, sizeof *list);
}

static int collect_platforms(struct oci_layout *l, const struct oci_descriptor *index_desc,
                             const struct oci_descriptor *chain, size_t chain_len, struct entry_list *list,
                             struct error *err)
{
    if (chain_len >= MAX_INDEX_DEPTH)
        return error_set(err, ERROR_INPUT, "%s: image indexes nested more than %d deep at %s", l->input,
                         MAX_INDEX_DEPTH, index_desc->digest);
    struct buffer doc = BUFFER_INIT;
    char *what = xasprintf("index %s in %s", index_desc->digest, l->input);
    struct oci_index index;
    int rc = -1;
    if (read_document(l, index_desc, chain_len ? chain[chain_len - 1].digest : "index.json", &doc, err) != 0 ||
        oci_index_parse(doc.data, doc.len, index_desc->media_type, what, &index, err) != 0) {
        buffer_free(&doc);
        free(what);
        return -1;
    }
    struct oci_descriptor next_chain[MAX_INDEX_DEPTH];
    if (chain_len)
        memcpy(next_chain, chain, chain_len * sizeof *chain);
    next_chain[chain_len] = *index_desc;
    for (size_t i = 0; i < index.count; i++) {
        const struct oci_descriptor *d = &index.manifests[i];
        if (d->attestation || oci_descriptor_is_artifact(d))
            continue;
        if (d->has_platform && !strcmp(d->platform.os, "unknown"))
            continue;
        if (d->type->kind == OCI_MEDIA_INDEX) {
            if (collect_platforms(l, d, next_chain, chain_len + 1, list, err) != 0)
                goto done;
            continue;
        }
        if (list->count == list->cap) {
            list->cap = list->cap ? list->cap * 2 : 8;
            list->items = xrealloc(list->items, list->cap * sizeof *list->items);
        }
        struct platform_entry *e = &list->items[list->count++];
        memset(e, 0, sizeof *e);
        oci_descriptor_copy(&e->manifest, d);
        e->chain_len = chain_len + 1;
        for (size_t j = 0; j <= chain_len; j++)
            oci_descriptor_copy(&e->chain[j], &next_chain[j]);
    }
    rc = 0;
done:
    oci_index_free(&index);
    buffer_free(&doc);
    free(what);
    return rc;
}

static void add_image_blob(struct oci_layout_image *img, size_t *cap, const struct oci_descriptor *d, const char *kind)
{
    for (size_t i = 0; i < img->blob_count; i++)
        if (!strcmp(img->blobs[i].digest, d->digest))
            return;
    if (img->blob_count == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        img->blobs = xrealloc(img->blobs, *cap * sizeof *img->blobs);
    }
    struct store_source_blob *b = &img->blobs[img->blob_count++];
    b->digest = xstrdup(d->digest);
    b->size = d->size;
    b->media_type = xstrdup(d->media_type);
    b->kind = xstrdup(kind);
    b->tag = xstrdup("");
}

static int resolve_manifest(struct oci_layout *l, const struct oci_descriptor *top, const struct platform_entry *entry,
                            const struct oci_descriptor *manifest_desc, struct oci_layout_image *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    struct buffer mdoc = BUFFER_INIT, cdoc = BUFFER_INIT;
    struct oci_manifest m;
    struct oci_config c;
    memset(&m, 0, sizeof m);
    memset(&c, 0, sizeof c);
    char *what = xasprintf("manifest %s in %s", manifest_desc->digest, l->input);
    const char *parent = entry && entry->chain_len ? entry->chain[entry->chain_len - 1].digest : "index.json";
    size_t cap = 0;
    int rc = -1;
    if (read_document(l, manifest_desc, parent, &mdoc, err) != 0 ||
        oci_manifest_parse(mdoc.data, mdoc.len, manifest_desc->media_type, what, &m, err) != 0 ||
        read_document(l, &m.config, what, &cdoc, err) != 0 || oci_config_parse(cdoc.data, cdoc.len, what, &c, err) != 0)
        goto done;
    for (size_t i = 0; i < m.layer_count; i++) {
        struct layout_blob *b;
        if (check_descriptor(l, &m.layers[i], what, &b, err) != 0)
            goto done;
    }
    if (oci_image_from_documents(&out->image, &m, &c, what, err) != 0)
        goto done;
    if (manifest_desc->has_platform) {
        const struct oci_platform *ip = &manifest_desc->platform;
        if (strcmp(ip->os, c.platform.os) != 0 || strcmp(ip->architecture, c.platform.architecture) != 0) {
            char a[OCI_PLATFORM_SIZE], b[OCI_PLATFORM_SIZE];
            oci_platform_format(ip, a);
            oci_platform_format(&c.platform, b);
            error_set(err, ERROR_INPUT,
                      "%s: the index lists it as %s but its config %s says %s; the image is "
                      "inconsistent: rebuild or re-export it",
                      what, a, m.config.digest, b);
            goto done;
        }
        if (ip->variant[0] && !c.platform.variant[0])
            memcpy(out->image.platform.variant, ip->variant, sizeof ip->variant);
    }
    out->image.reference = xstrdup(top->ref_name ? top->ref_name : top->digest);
    snprintf(out->image.digest, sizeof out->image.digest, "%s", top->digest);
    out->image.media_type = xstrdup(top->media_type);
    out->image.size = top->size;
    snprintf(out->image.manifest_digest, sizeof out->image.manifest_digest, "%s", manifest_desc->digest);
    out->image.manifest_size = manifest_desc->size;
    if (entry)
        for (size_t i = 0; i < entry->chain_len; i++)
            add_image_blob(out, &cap, &entry->chain[i], "index");
    add_image_blob(out, &cap, manifest_desc, "manifest");
    add_image_blob(out, &cap, &m.config, "config");
    for (size_t i = 0; i < m.layer_count; i++)
        add_image_blob(out, &cap, &m.layers[i], "layer");
    rc = 0;
done:
    if (rc != 0) {
        oci_layout_images_free(out, 1);
        memset(out, 0, sizeof *out);
    }
    oci_manifest_free(&m);
    oci_config_free(&c);
    buffer_free(&mdoc);
    buffer_free(&cdoc);
    free(what);
    return rc;
}

static void list_platforms(const struct entry_list *list, struct buffer *out)
{
    for (size_t i = 0; i < list->count; i++) {
        char p[OCI_PLATFORM_SIZE] = "(unspecified)";
        if (list->items[i].manifest.has_platform)
            oci_platform_format(&list->items[i].manifest.platform, p);
        buffer_appendf(out, "%s%s", i ? ", " : "", p);
    }
    if (!list->count)
        buffer_append_str(out, "none");
}

static void push_image(struct oci_layout_image **images, size_t *count, size_t *cap, struct oci_layout_image *img)
{
    if (*count == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        *images = xrealloc(*images, *cap * sizeof **images);
    }
    (*images)[(*count)++] = *img;
}

/* 0 resolved, 1 not an image (an index of artifacts only, when no tag was asked for), -1 error */
static int resolve_top(struct oci_layout *l, const struct oci_descriptor *top, const struct oci_layout_selection *sel,
                       struct oci_layout_image **images, size_t *count, size_t *cap, struct error *err)
{
    if (top->type->kind == OCI_MEDIA_MANIFEST) {
        struct oci_layout_image img;
        if (resolve_manifest(l, top, NULL, top, &img, err) != 0)
            return -1;
        bool ok = sel->platform_count == 0;
        for (size_t i = 0; i < sel->platform_count && !ok; i++)
            ok = oci_platform_matches(&sel->platforms[i], &img.image.platform);
        if (!ok) {
            char have[OCI_PLATFORM_SIZE], want[OCI_PLATFORM_SIZE];
            oci_platform_format(&img.image.platform, have);
            oci_platform_format(&sel->platforms[0], want);
            oci_layout_images_free(&img, 1);
            return error_set(err, ERROR_INPUT,
                             "%s: %s (%s) is a single-platform image for %s, not %s; import it without --platform or "
                             "export the multi-platform index (skopeo copy --all)",
                             l->input, top->ref_name ? top->ref_name : top->digest, top->digest, have, want);
        }
        push_image(images, count, cap, &img);
        return 0;
    }
    struct entry_list list = {0};
    int rc = -1;
    if (collect_platforms(l, top, NULL, 0, &list, err) != 0)
        goto done;
    /* entries without a platform in the index: learn it from the config */
    struct oci_layout_image *resolved = xcalloc(list.count ? list.count : 1, sizeof *resolved);
    bool *selected = xcalloc(list.count ? list.count : 1, sizeof *selected);
    if (sel->platform_count == 0) {
        for (size_t i = 0; i < list.count; i++) {
            selected[i] = true;
            for (size_t j = 0; j < i; j++)
                if (selected[j] && !strcmp(list.items[j].manifest.digest, list.items[i].manifest.digest))
                    selected[i] = false;
        }
    } else {
        for (size_t p = 0; p < sel->platform_count; p++) {
            const struct oci_platform *want = &sel->platforms[p];
            ssize_t best = -1;
            for (size_t i = 0; i < list.count; i++) {
                const struct oci_descriptor *d = &list.items[i].manifest;
                if (!d->has_platform || !oci_platform_matches(want, &d->platform))
                    continue;
                if (best < 0 || (!want->variant[0] && !d->platform.variant[0]))
                    best = (ssize_t)i;
            }
            if (best < 0) {
                struct buffer avail = BUFFER_INIT;
                char w[OCI_PLATFORM_SIZE];
                oci_platform_format(want, w);
                list_platforms(&list, &avail);
                error_set(err, ERROR_INPUT,
                          "%s: image index %s (%s) has no manifest for platform %s; it has: %s. Import one of "
                          "those, or export the image again with skopeo copy --all",
                          l->input, top->digest, top->ref_name ? top->ref_name : "untagged", w, buffer_cstr(&avail));
                buffer_free(&avail);
                goto fail;
            }
            selected[best] = true;
        }
    }
    for (size_t i = 0; i < list.count; i++) {
        if (!selected[i])
            continue;
        if (resolve_manifest(l, top, &list.items[i], &list.items[i].manifest, &resolved[i], err) != 0)
            goto fail;
    }
    for (size_t i = 0; i < list.count; i++)
        if (selected[i])
            push_image(images, count, cap, &resolved[i]);
    if (!list.count) {
        /* only artifacts (e.g. a referrers list of signatures): not an image unless asked for by tag */
        if (!sel->tag) {
            rc = 1;
            goto fail_after_push;
        }
        error_set(err, ERROR_INPUT, "%s: image index %s has no image manifests (only signatures or attestations)",
                  l->input, top->digest);
        goto fail_after_push;
    }
    free(resolved);
    free(selected);
    rc = 0;
    goto done;
fail:
    for (size_t i = 0; i < list.count; i++)
        if (selected[i])
            oci_layout_images_free(&resolved[i], 1);
fail_after_push:
    free(resolved);
    free(selected);
done:
    entry_list_free(&list);
    return rc;
}

int oci_layout_resolve(struct oci_layout *l, const struct oci_layout_selection *sel, struct oci_layout_image **images,
                       size_t *count, struct error *err)
{
    *images = NULL;
    *count = 0;
    size_t cap = 0;
    size_t matched = 0;
    for (size_t i = 0; i < l->index.count; i++) {
        const struct oci_descriptor *top = &l->index.manifests[i];
        if (sel->tag ? !oci_layout_tag_matches(top->ref_name, sel->tag) : !is_image_candidate(top))
            continue;
        /* the same digest under two tags is one image (the first tag names it) */
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++)
            dup = !strcmp(l->index.manifests[j].digest, top->digest) &&
                  (sel->tag ? oci_layout_tag_matches(l->index.manifests[j].ref_name, sel->tag)
                            : is_image_candidate(&l->index.manifests[j]));
        if (dup)
            continue;
        int r = resolve_top(l, top, sel, images, count, &cap, err);
        if (r == 1)
            continue; /* an index of artifacts only */
        matched++;
        if (r != 0) {
            oci_layout_images_free(*images, *count);
            free(*images);
            *images = NULL;
            *count = 0;
            return -1;
        }
    }
    if (!matched) {
        struct buffer tags = BUFFER_INIT;
        for (size_t i = 0; i < l->index.count; i++)
            if (l->index.manifests[i].ref_name && !is_signature_tag(l->index.manifests[i].ref_name))
                buffer_appendf(&tags, "%s%s", tags.len ? ", " : "", l->index.manifests[i].ref_name);
        if (sel->tag)
            error_set(err, ERROR_INPUT, "%s: no image tagged '%s'; tags in this layout: %s", l->input, sel->tag,
                      tags.len ? tags.data : "none");
        else
            error_set(err, ERROR_INPUT, "%s: index.json names no image (only signatures or attestations)", l->input);
        buffer_free(&tags);
        return -1;
    }
    return 0;
}

void oci_layout_images_free(struct oci_layout_image *images, size_t count)
{
    if (!images)
        return;
    for (size_t i = 0; i < count; i++) {
        oci_image_free(&images[i].image);
        store_source_blobs_free(images[i].blobs, images[i].blob_count);
        images[i].blobs = NULL;
        images[i].blob_count = 0;
    }
}

/* ---- verify_source ---- */

static void touch(struct oci_layout *l, const char *digest, int64_t size, const char *media_type, const char *kind,
                  const char *tag)
{
    /* one entry per digest (the store keys blobs by digest); a tagged sighting wins */
    for (size_t i = 0; i < l->touched_count; i++) {
        struct store_source_blob *b = &l->touched[i];
        if (strcmp(b->digest, digest) != 0)
            continue;
        if (tag && *tag && !*b->tag) {
            free(b->tag);
            free(b->kind);
            free(b->media_type);
            b->tag = xstrdup(tag);
            b->kind = xstrdup(kind);
            b->media_type = xstrdup(media_type ? media_type : "");
        }
        return;
    }
    if (l->touched_count == l->touched_cap) {
        l->touched_cap = l->touched_cap ? l->touched_cap * 2 : 8;
        l->touched = xrealloc(l->touched, l->touched_cap * sizeof *l->touched);
    }
    struct store_source_blob *b = &l->touched[l->touched_count++];
    b->digest = xstrdup(digest);
    b->size = size;
    b->media_type = xstrdup(media_type ? media_type : "");
    b->kind = xstrdup(kind);
    b->tag = xstrdup(tag ? tag : "");
}

void oci_layout_take_verified_blobs(struct oci_layout *l, struct store_source_blob **blobs, size_t *count)
{
    *blobs = l->touched;
    *count = l->touched_count;
    l->touched = NULL;
    l->touched_count = l->touched_cap = 0;
}

static int source_read_tagged_manifest(void *context, const char *tag, struct buffer *out, struct error *err)
{
    struct oci_layout *l = context;
    const struct oci_descriptor *found = NULL;
    for (size_t i = 0; i < l->index.count && !found; i++)
        if (l->index.manifests[i].ref_name && !strcmp(l->index.manifests[i].ref_name, tag))
            found = &l->index.manifests[i];
    if (!found && is_signature_tag(tag)) {
        /* `cosign save` writes no ref.name: the image carries kind .../image(Index), its signatures
         * kind .../sigs (attestations .../atts), one image per layout */
        const char *suffix = tag + 7 + SHA256_HEX_LEN;
        const char *want_kind = !strcmp(suffix, ".sig")   ? "dev.cosignproject.cosign/sigs"
                                : !strcmp(suffix, ".att") ? "dev.cosignproject.cosign/atts"
                                                          : NULL;
        bool image_here = false;
        for (size_t i = 0; i < l->index.count; i++) {
            const struct oci_descriptor *d = &l->index.manifests[i];
            if (d->kind && !strncmp(d->kind, "dev.cosignproject.cosign/image", 30) &&
                !strncmp(d->digest + 7, tag + 7, SHA256_HEX_LEN))
                image_here = true;
        }
        for (size_t i = 0; i < l->index.count && image_here && want_kind && !found; i++)
            if (l->index.manifests[i].kind && !strcmp(l->index.manifests[i].kind, want_kind))
                found = &l->index.manifests[i];
    }
    if (!found)
        return 0;
    struct buffer doc = BUFFER_INIT;
    char *referrer = xasprintf("index.json tag %s", tag);
    int rc = read_document(l, found, referrer, &doc, err);
    free(referrer);
    if (rc == 0) {
        buffer_append(out, doc.data, doc.len);
        touch(l, found->digest, found->size, found->media_type, "signature", tag);
    }
    buffer_free(&doc);
    return rc == 0 ? 1 : -1;
}

static void add_referrer(struct oci_layout *l, size_t *cap, const char *subject, const struct oci_descriptor *d,
                         const struct oci_descriptor *parent)
{
    if (l->referrer_count == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        l->referrers = xrealloc(l->referrers, *cap * sizeof *l->referrers);
    }
    struct referrer *r = &l->referrers[l->referrer_count++];
    memset(r, 0, sizeof *r);
    snprintf(r->subject, sizeof r->subject, "%s", subject);
    snprintf(r->digest, sizeof r->digest, "%s", d->digest);
    r->media_type = xstrdup(d->media_type);
    if (parent) {
        oci_descriptor_copy(&r->parent, parent);
        r->has_parent = true;
    }
}

struct scan_item {
    struct oci_descriptor desc;
    ssize_t parent; /* queue position of the index that listed it, -1 for index.json */
};

/* Walk every document reachable from index.json once, noting each one's subject. Missing or
 * unreadable children are skipped: a partial export may omit platforms it does not carry. */
static void scan_referrers(struct oci_layout *l)
{
    l->referrers_scanned = true;
    struct scan_item *queue = NULL;
    size_t qlen = 0, qcap = 0, rcap = 0;
    struct string_set seen = STRING_SET_INIT;
    for (size_t i = 0; i < l->index.count; i++) {
        if (qlen == qcap) {
            qcap = qcap ? qcap * 2 : 16;
            queue = xrealloc(queue, qcap * sizeof *queue);
        }
        oci_descriptor_copy(&queue[qlen].desc, &l->index.manifests[i]);
        queue[qlen++].parent = -1;
    }
    struct buffer doc = BUFFER_INIT;
    for (size_t q = 0; q < qlen && q < 10000; q++) {
        struct oci_descriptor *d = &queue[q].desc;
        struct error ignored;
        if (!string_set_add(&seen, d->digest) || read_document(l, d, "index.json", &doc, &ignored) != 0)
            continue;
        char subject[OCI_DIGEST_SIZE];
        if (oci_document_subject(doc.data, doc.len, subject))
            add_referrer(l, &rcap, subject, d, queue[q].parent >= 0 ? &queue[queue[q].parent].desc : NULL);
        if (d->type->kind != OCI_MEDIA_INDEX)
            continue;
        struct oci_index child;
        if (oci_index_parse(doc.data, doc.len, d->media_type, "index", &child, &ignored) != 0)
            continue;
        for (size_t i = 0; i < child.count; i++) {
            if (qlen == qcap) {
                qcap = qcap * 2;
                queue = xrealloc(queue, qcap * sizeof *queue);
                d = &queue[q].desc;
            }
            oci_descriptor_copy(&queue[qlen].desc, &child.manifests[i]);
            queue[qlen++].parent = (ssize_t)q;
        }
        oci_index_free(&child);
    }
    buffer_free(&doc);
    for (size_t i = 0; i < qlen; i++)
        oci_descriptor_free(&queue[i].desc);
    free(queue);
    string_set_clear(&seen);
}

static int source_list_referrers(void *context, const char *subject_digest, char ***digests, struct error *err)
{
    struct oci_layout *l = context;
    if (!l->referrers_scanned)
        scan_referrers(l);
    size_t n = 0;
    *digests = xcalloc(l->referrer_count + 1, sizeof **digests);
    for (size_t i = 0; i < l->referrer_count; i++)
        if (!strcmp(l->referrers[i].subject, subject_digest))
            (*digests)[n++] = xstrdup(l->referrers[i].digest);
    if (!n) {
        free(*digests);
        *digests = NULL;
        return 0;
    }
    return 1;
}

static int source_read_blob(void *context, const char *digest, size_t max_size, struct buffer *out, struct error *err)
{
    struct oci_layout *l = context;
    char hex[SHA256_HEX_LEN + 1];
    if (digest_parse(digest, hex, err) != 0)
        return -1;
    struct layout_blob *b;
    int r = get_blob(l, hex, &b, err);
    if (r <= 0)
        return r;
    if ((uint64_t)b->size > max_size)
        return error_set(err, ERROR_INPUT, "%s: blob %s is %lld bytes, more than the %zu a signature may have",
                         l->input, digest, (long long)b->size, max_size);
    if (fs_read_file(b->path, max_size, out, err) != 0)
        return -1;
    const char *kind = "signature-blob", *media_type = "";
    for (size_t i = 0; i < l->referrer_count; i++) {
        const struct referrer *ref = &l->referrers[i];
        if (strcmp(ref->digest, digest) != 0)
            continue;
        kind = "referrer";
        media_type = ref->media_type;
        if (ref->has_parent) /* keep the list too: a bundle can serve the fallback tag */
            touch(l, ref->parent.digest, ref->parent.size, ref->parent.media_type, "referrers-index",
                  ref->parent.ref_name);
    }
    touch(l, digest, b->size, media_type, kind, NULL);
    return 1;
}

/* Touch a signature-ish manifest and every blob it names (config, layers), leniently: what is
 * missing from a partial export is skipped. */
static void touch_artifact(struct oci_layout *l, const char *digest)
{
    struct buffer doc = BUFFER_INIT;
    struct error ignored;
    if (source_read_blob(l, digest, OCI_DOCUMENT_MAX, &doc, &ignored) != 1) {
        buffer_free(&doc);
        return;
    }
    struct json_value *root;
    if (json_parse(doc.data, doc.len, "artifact", &root, &ignored) == 0) {
        const struct json_value *config = json_object_get_object(root, "config");
        const struct json_value *layers = json_object_get_array(root, "layers");
        const char *d = config ? json_object_get_string(config, "digest") : NULL;
        struct buffer blob = BUFFER_INIT;
        if (d)
            (void)source_read_blob(l, d, OCI_DOCUMENT_MAX, &blob, &ignored);
        for (size_t i = 0; layers && i < layers->count; i++) {
            d = json_object_get_string(layers->items[i], "digest");
            buffer_reset(&blob);
            if (d)
                (void)source_read_blob(l, d, OCI_DOCUMENT_MAX, &blob, &ignored);
        }
        buffer_free(&blob);
        json_free(root);
    }
    buffer_free(&doc);
}

void oci_layout_touch_signatures(struct oci_layout *l, const char *digest)
{
    static const char *suffixes[] = {".sig", ".att", ".sbom"};
    struct buffer doc = BUFFER_INIT;
    struct error ignored;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char *tag = xasprintf("sha256-%s%s", digest + 7, suffixes[i]);
        buffer_reset(&doc);
        if (source_read_tagged_manifest(l, tag, &doc, &ignored) == 1) {
            for (size_t j = 0; j < l->touched_count; j++) {
                if (!strcmp(l->touched[j].tag, tag)) {
                    char *manifest = xstrdup(l->touched[j].digest);
                    touch_artifact(l, manifest);
                    free(manifest);
                    break;
                }
            }
        }
        free(tag);
    }
    buffer_free(&doc);
    char **referrers = NULL;
    if (source_list_referrers(l, digest, &referrers, &ignored) == 1) {
        for (size_t i = 0; referrers[i]; i++) {
            touch_artifact(l, referrers[i]);
            free(referrers[i]);
        }
        free(referrers);
    }
}

void oci_layout_verify_source(struct oci_layout *l, struct verify_source *out)
{
    out->context = l;
    out->read_tagged_manifest = source_read_tagged_manifest;
    out->list_referrers = source_list_referrers;
    out->read_blob = source_read_blob;
}

/* ---- commit ---- */

int oci_layout_commit(struct oci_layout *l, const struct store_source_blob *blobs, size_t count, struct error *err)
{
    for (size_t i = 0; i < count; i++) {
        char hex[SHA256_HEX_LEN + 1];
        if (digest_parse(blobs[i].digest, hex, err) != 0)
            return -1;
        struct layout_blob *b = find_blob(l, hex);
        if (!b) {
            if (store_has_blob(l->store, blobs[i].digest))
                continue;
            return error_set(err, ERROR_RUNTIME, "%s: blob %s was never staged", l->input, blobs[i].digest);
        }
        if (!b->staged)
            continue;
        if (store_temp_commit(l->store, &b->temp, hex, err) != 0)
            return -1;
        b->staged = false;
        free(b->path);
        b->path = store_blob_path(l->store, blobs[i].digest);
        l->stats.blobs_committed++;
    }
    return store_sync_blobs(l->store, err);
}
