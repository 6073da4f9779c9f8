/* bundle_transfer — see include/airfactory/bundle_transfer.h. */
#include "airfactory/bundle_transfer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base64.h"
#include "airfactory/buffer.h"
#include "airfactory/bundle_key.h"
#include "bundle/bundle_staging.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/memory.h"

#define CHUNK (1 << 20)
#define SMALL_FILE_MAX ((size_t)64 << 20) /* oci-layout, index.json, signatures */

/* ---- listings: sorted blob digests of an index ---- */

struct listed_blob {
    char hex[SHA256_HEX_LEN + 1];
    uint64_t size;
    bool seen;
};

struct listing {
    struct listed_blob *items;
    size_t count;
};

static int listing_row(void *context, int columns, const char *const *v)
{
    struct listing *l = context;
    (void)columns;
    char hex[SHA256_HEX_LEN + 1];
    struct error ignored;
    if (digest_parse(v[0], hex, &ignored) != 0)
        return 0; /* bundle_check reports it; a malformed row names no file we could carry */
    l->items = xrealloc(l->items, (l->count + 1) * sizeof *l->items);
    struct listed_blob *item = &l->items[l->count++];
    memcpy(item->hex, hex, sizeof hex);
    item->size = strtoull(v[1], NULL, 10);
    item->seen = false;
    return 0;
}

static int compare_listed(const void *a, const void *b)
{
    return strcmp(((const struct listed_blob *)a)->hex, ((const struct listed_blob *)b)->hex);
}

static int listing_load(struct bundle *b, struct listing *l, struct error *err)
{
    memset(l, 0, sizeof *l);
    if (bundle_foreach(b, BUNDLE_LIST_BLOBS, NULL, listing_row, l, err) < 0)
        return -1;
    if (l->count)
        qsort(l->items, l->count, sizeof *l->items, compare_listed); /* already ordered; cheap insurance */
    return 0;
}

static struct listed_blob *listing_find(struct listing *l, const char *hex)
{
    struct listed_blob key;
    snprintf(key.hex, sizeof key.hex, "%s", hex);
    return bsearch(&key, l->items, l->count, sizeof *l->items, compare_listed);
}

static void listing_free(struct listing *l)
{
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* ---- pack ---- */

struct packer {
    struct archive *a;
    const char *output_name;
    int64_t mtime;
    char *buf;
};

static int archive_failed(struct archive *a, const char *what, struct error *err)
{
    const char *why = archive_error_string(a);
    int e = archive_errno(a);
    if (e == EFBIG)
        return error_errno(err, e, "%s: %s; the file system cannot hold a file this large (FAT32: 4 GiB): write "
                           "parts with --split SIZE (e.g. --split 4000M)", what, why ? why : "failed");
    if (e > 0 && e != EILSEQ) /* EILSEQ is libarchive's "bad format" */
        return error_errno(err, e, "%s: %s", what, why ? why : "failed");
    return error_set(err, ERROR_RUNTIME, "%s: %s", what, why ? why : "failed");
}

/* Append one file as entry `name`; expected_size < 0: whatever its size is. */
static int pack_file(struct packer *p, const char *dir, const char *name, int64_t expected_size, mode_t perm,
                     uint64_t *bytes, struct error *err)
{
    char *path = path_join(dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int rc = -1;
    struct archive_entry *e = NULL;
    if (fd < 0) {
        if (errno == ENOENT)
            error_set(err, ERROR_INPUT, "%s: missing; the bundle is damaged (run 'airfactory verify --full %s')",
                      path, dir);
        else
            error_errno(err, errno, "%s: cannot open", path);
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        error_errno(err, errno, "%s: stat failed", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode) || (expected_size >= 0 && st.st_size != expected_size)) {
        error_set(err, ERROR_INPUT, "%s: size %lld, index.db says %lld; the bundle is damaged (run 'airfactory "
                  "verify --full %s')", path, (long long)st.st_size, (long long)expected_size, dir);
        goto out;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, perm);
    archive_entry_set_size(e, st.st_size);
    archive_entry_set_mtime(e, p->mtime, 0);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    if (archive_write_header(p->a, e) != ARCHIVE_OK) {
        archive_failed(p->a, p->output_name, err);
        goto out;
    }
    uint64_t left = (uint64_t)st.st_size;
    while (left > 0) {
        ssize_t n = read(fd, p->buf, left < CHUNK ? left : CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            error_errno(err, errno, "%s: read failed", path);
            goto out;
        }
        if (n == 0) {
            error_set(err, ERROR_INPUT, "%s: shrank while being packed", path);
            goto out;
        }
        if (archive_write_data(p->a, p->buf, (size_t)n) != n) {
            archive_failed(p->a, p->output_name, err);
            goto out;
        }
        left -= (uint64_t)n;
    }
    if (archive_write_finish_entry(p->a) != ARCHIVE_OK) {
        archive_failed(p->a, p->output_name, err);
        goto out;
    }
    if (bytes)
        *bytes += (uint64_t)st.st_size;
    rc = 0;
out:
    if (e)
        archive_entry_free(e);
    if (fd >= 0)
        close(fd);
    free(path);
    return rc;
}

struct pack_blobs {
    struct packer *p;
    const char *dir;
    struct listing *skip; /* delta: blobs the old bundle lists */
    struct bundle_transfer_stats *stats;
    struct error *err;
};

static int pack_blob_row(void *context, int columns, const char *const *v)
{
    struct pack_blobs *pb = context;
    (void)columns;
    char hex[SHA256_HEX_LEN + 1];
    if (digest_parse(v[0], hex, pb->err) != 0) {
        error_prefix(pb->err, "%s/index.db: ", pb->dir);
        return -1;
    }
    if (pb->skip && listing_find(pb->skip, hex))
        return 0;
    char name[128];
    snprintf(name, sizeof name, "blobs/sha256/%s", hex);
    if (pack_file(pb->p, pb->dir, name, (int64_t)strtoll(v[1], NULL, 10), 0444, &pb->stats->bytes_streamed,
                  pb->err) != 0)
        return -1;
    pb->stats->blobs_streamed++;
    return 0;
}

/* ---- split output: numbered parts of at most `split` bytes, SHA256SUMS, README.txt ---- */

struct splitter {
    char *tmp;        /* OUTPUT.tmp-XXXXXX, renamed to OUTPUT when complete */
    uint64_t split, in_part;
    unsigned count;
    int fd;
    char name[64];
    struct sha256_stream hash;
    struct buffer sums;
};

static int split_finish_part(struct archive *a, struct splitter *sp)
{
    char hex[SHA256_HEX_LEN + 1];
    sha256_stream_final_hex(&sp->hash, hex);
    int failed = fsync(sp->fd) != 0;
    failed |= close(sp->fd) != 0;
    sp->fd = -1;
    if (failed) {
        archive_set_error(a, errno, "%s/%s: cannot write", sp->tmp, sp->name);
        return -1;
    }
    buffer_appendf(&sp->sums, "%s  %s\n", hex, sp->name);
    sp->in_part = 0;
    return 0;
}

static la_ssize_t split_write(struct archive *a, void *context, const void *data, size_t len)
{
    struct splitter *sp = context;
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        if (sp->fd < 0) {
            snprintf(sp->name, sizeof sp->name, "bundle.tar.%03u", sp->count);
            char *path = path_join(sp->tmp, sp->name);
            sp->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
            free(path);
            if (sp->fd < 0) {
                archive_set_error(a, errno, "%s/%s: cannot create", sp->tmp, sp->name);
                return -1;
            }
            sp->count++;
            sha256_stream_init(&sp->hash);
        }
        size_t n = left;
        if (n > sp->split - sp->in_part)
            n = (size_t)(sp->split - sp->in_part);
        for (size_t done = 0; done < n;) {
            ssize_t w = write(sp->fd, p + done, n - done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                archive_set_error(a, w < 0 ? errno : EIO, "%s/%s: write failed", sp->tmp, sp->name);
                return -1;
            }
            done += (size_t)w;
        }
        sha256_stream_update(&sp->hash, p, n);
        sp->in_part += n;
        p += n;
        left -= n;
        if (sp->in_part == sp->split && split_finish_part(a, sp) != 0)
            return -1;
    }
    return (la_ssize_t)len;
}

static int split_close(struct archive *a, void *context)
{
    struct splitter *sp = context;
    return sp->fd >= 0 ? split_finish_part(a, sp) : 0;
}

static const char split_readme[] =
    "This directory is one airfactory bundle stream (a signed bundle or a delta), cut into parts\n"
    "so it fits media with a file-size limit (FAT32: 4 GiB).\n\n"
    "Check the parts:        sha256sum -c SHA256SUMS\n"
    "Unpack (checks them too): airfactory unpack DIR TARGET --key PUBLIC.pem\n"
    "                        airfactory unpack DIR --onto LIVE --key PUBLIC.pem   (a delta)\n"
    "Reassemble by hand:     cat bundle.tar.[0-9][0-9][0-9] > bundle.tar\n\n"
    "airfactory unpack names a missing or corrupt part; copy that part again and rerun it.\n";

static void splitter_abort(struct splitter *sp)
{
    if (sp->fd >= 0)
        close(sp->fd);
    sp->fd = -1;
    if (sp->tmp) {
        struct error ignored;
        fs_remove_tree(sp->tmp, &ignored);
    }
    free(sp->tmp);
    buffer_free(&sp->sums);
    sp->tmp = NULL;
}

static int splitter_commit(struct splitter *sp, const char *output, struct error *err)
{
    char *sums = path_join(sp->tmp, "SHA256SUMS"), *readme = path_join(sp->tmp, "README.txt");
    int rc = fs_write_file_atomic(sums, sp->sums.data ? sp->sums.data : "", sp->sums.len, 0644, err);
    if (rc == 0)
        rc = fs_write_file_atomic(readme, split_readme, sizeof split_readme - 1, 0644, err);
    free(sums);
    free(readme);
    if (rc == 0 && rename(sp->tmp, output) != 0)
        rc = error_errno(err, errno, "%s: cannot rename %s to it (does it exist already?)", output, sp->tmp);
    if (rc == 0) {
        free(sp->tmp);
        sp->tmp = NULL;
    }
    return rc;
}

static int write_stream(const char *dir, struct listing *skip, const char *output, struct bundle_transfer_stats *stats,
                        uint64_t split, struct error *err)
{
    struct bundle_transfer_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    struct bundle *b = NULL;
    if (bundle_open(dir, NULL, &b, err) != 0)
        return -1;
    snprintf(stats->index_digest, sizeof stats->index_digest, "%s", bundle_index_digest(b));
    char *created = NULL;
    struct packer p = {.output_name = output, .mtime = 0};
    struct error ignored;
    if (bundle_meta(b, "created", &created, &ignored) == 1)
        p.mtime = strtoll(created, NULL, 10);
    free(created);

    struct atomic_file file = {.fd = -1};
    struct splitter sp = {.fd = -1, .split = split};
    int fd = -1;
    if (split) {
        if (!strcmp(output, "-") || fs_exists(output)) {
            bundle_close(b);
            return error_set(err, ERROR_INPUT, "%s: --split writes a new directory of parts; give a path that does "
                             "not exist yet", output);
        }
        sp.tmp = xasprintf("%s.tmp-XXXXXX", output);
        if (!mkdtemp(sp.tmp)) {
            int e = errno;
            free(sp.tmp);
            bundle_close(b);
            return error_errno(err, e, "%s: cannot create a directory beside it", output);
        }
    } else if (!strcmp(output, "-")) {
        if (isatty(STDOUT_FILENO)) {
            bundle_close(b);
            return error_set(err, ERROR_INPUT, "refusing to write a tar stream to a terminal; use -o FILE or "
                             "redirect stdout");
        }
        fd = STDOUT_FILENO;
        p.output_name = "stdout";
    } else {
        if (atomic_file_open(&file, output, 0644, err) != 0) {
            bundle_close(b);
            return -1;
        }
        fd = file.fd;
    }
    p.a = archive_write_new();
    p.buf = xmalloc(CHUNK);
    int rc = -1;
    if (archive_write_set_format_pax_restricted(p.a) != ARCHIVE_OK ||
        archive_write_add_filter_none(p.a) != ARCHIVE_OK ||
        /* no padding after the end-of-archive blocks: libarchive would otherwise pad to 10 KiB
         * for stdout but not for files, and the same bundle must give the same bytes anywhere */
        archive_write_set_bytes_in_last_block(p.a, 1) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(p.a, CHUNK) != ARCHIVE_OK ||
        (split ? archive_write_open2(p.a, &sp, NULL, split_write, split_close, NULL)
               : archive_write_open_fd(p.a, fd)) != ARCHIVE_OK) {
        archive_failed(p.a, p.output_name, err);
        goto out;
    }
    /* signed index first: unpack verifies it before accepting any blob */
    if (pack_file(&p, dir, "index.db", -1, 0644, NULL, err) != 0 ||
        pack_file(&p, dir, "index.db.sig", -1, 0644, NULL, err) != 0)
        goto out;
    char *der = path_join(dir, "index.db.sig.der");
    bool has_der = fs_exists(der);
    free(der);
    if (has_der && pack_file(&p, dir, "index.db.sig.der", -1, 0644, NULL, err) != 0)
        goto out;
    if (pack_file(&p, dir, "oci-layout", -1, 0644, NULL, err) != 0 ||
        pack_file(&p, dir, "index.json", -1, 0644, NULL, err) != 0)
        goto out;
    struct pack_blobs pb = {.p = &p, .dir = dir, .skip = skip, .stats = stats, .err = err};
    if (bundle_foreach(b, BUNDLE_LIST_BLOBS, NULL, pack_blob_row, &pb, err) != 0)
        goto out;
    if (archive_write_close(p.a) != ARCHIVE_OK) {
        archive_failed(p.a, p.output_name, err);
        goto out;
    }
    rc = 0;
out:
    archive_write_free(p.a);
    free(p.buf);
    bundle_close(b);
    if (split) {
        if (rc == 0)
            rc = splitter_commit(&sp, output, err);
        splitter_abort(&sp);
    }
    if (file.path) {
        if (rc == 0)
            rc = atomic_file_commit(&file, err);
        else
            atomic_file_abort(&file);
    }
    return rc;
}

int bundle_pack(const char *bundle_dir, const char *output, struct bundle_transfer_stats *stats, struct error *err)
{
    return write_stream(bundle_dir, NULL, output, stats, 0, err);
}

int bundle_pack_split(const char *bundle_dir, const char *old_dir, const char *output, uint64_t split,
                      struct bundle_transfer_stats *stats, struct error *err)
{
    if (split < 1024 * 1024)
        return error_set(err, ERROR_INPUT, "--split %llu: parts must be at least 1 MiB",
                         (unsigned long long)split);
    if (!old_dir)
        return write_stream(bundle_dir, NULL, output, stats, split, err);
    struct bundle *old = NULL;
    if (bundle_open(old_dir, NULL, &old, err) != 0)
        return error_prefix(err, "old bundle: ");
    struct listing skip;
    int rc = listing_load(old, &skip, err);
    bundle_close(old);
    if (rc == 0)
        rc = write_stream(bundle_dir, &skip, output, stats, split, err);
    listing_free(&skip);
    return rc;
}

int bundle_delta(const char *old_dir, const char *new_dir, const char *output, struct bundle_transfer_stats *stats,
                 struct error *err)
{
    struct bundle *old = NULL;
    if (bundle_open(old_dir, NULL, &old, err) != 0)
        return error_prefix(err, "old bundle: ");
    struct listing skip;
    int rc = listing_load(old, &skip, err);
    bundle_close(old);
    if (rc == 0)
        rc = write_stream(new_dir, &skip, output, stats, 0, err);
    listing_free(&skip);
    return rc;
}

/* ---- unpack ---- */

struct unpacker {
    const struct bundle_unpack_options *o;
    struct archive *a;
    const char *input_name;
    struct bundle_staging staging;
    struct bundle_key *key;
    struct bundle *b; /* the verified index of the stream */
    struct listing listing;
    struct bundle_transfer_stats *stats;
    char *blob_dir;
    bool have_layout, have_index_json;
    char *oci_index_digest;
};

static int stream_error(struct unpacker *u, const char *what, struct error *err)
{
    const char *why = archive_error_string(u->a);
    return error_set(err, ERROR_INPUT, "%s: %s: %s; the stream is truncated or damaged — nothing was unpacked",
                     u->input_name, what, why ? why : "read failed");
}

/* Read the current entry's data into fd and/or mem, hashing it; exactly `size` bytes. */
static int read_entry(struct unpacker *u, const char *name, int64_t size, int fd, const char *path, struct buffer *mem,
                      char hex[SHA256_HEX_LEN + 1], struct error *err)
{
    struct sha256_stream hash;
    sha256_stream_init(&hash);
    int64_t position = 0;
    for (;;) {
        const void *block;
        size_t len;
        la_int64_t offset;
        int r = archive_read_data_block(u->a, &block, &len, &offset);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK) {
            sha256_stream_abort(&hash);
            return stream_error(u, name, err);
        }
        if (offset != position || position + (int64_t)len > size) {
            sha256_stream_abort(&hash);
            return error_set(err, ERROR_INPUT, "%s: %s: holes or extra data in a tar entry; not a bundle stream",
                             u->input_name, name);
        }
        if (fd >= 0 && fs_write_all(fd, block, len, path, err) != 0) {
            sha256_stream_abort(&hash);
            return -1;
        }
        if (mem)
            buffer_append(mem, block, len);
        sha256_stream_update(&hash, block, len);
        position += (int64_t)len;
    }
    if (position != size) {
        sha256_stream_abort(&hash);
        return error_set(err, ERROR_INPUT, "%s: %s: %lld of %lld bytes; the stream is truncated", u->input_name, name,
                         (long long)position, (long long)size);
    }
    sha256_stream_final_hex(&hash, hex);
    return 0;
}

/* Small named files (index, signatures, layout): into memory, then into tmp. */
static int take_small(struct unpacker *u, const char *name, int64_t size, size_t max, struct buffer *out,
                      struct error *err)
{
    if (size < 0 || (uint64_t)size > max)
        return error_set(err, ERROR_INPUT, "%s: %s: %lld bytes is too large for this file; not a bundle stream",
                         u->input_name, name, (long long)size);
    char hex[SHA256_HEX_LEN + 1];
    if (read_entry(u, name, size, -1, NULL, out, hex, err) != 0)
        return -1;
    char *path = path_join(u->staging.tmp, name);
    int rc = fs_write_file_atomic(path, out->data ? out->data : "", out->len, 0644, err);
    free(path);
    return rc;
}

static int take_blob(struct unpacker *u, const char *name, const char *hex, int64_t size, struct error *err)
{
    struct listed_blob *item = listing_find(&u->listing, hex);
    if (!item)
        return error_set(err, ERROR_INPUT, "%s: %s is not listed in the signed index.db; the stream was altered",
                         u->input_name, name);
    if (item->seen)
        return error_set(err, ERROR_INPUT, "%s: %s appears twice; the stream was altered", u->input_name, name);
    if ((uint64_t)size != item->size)
        return error_set(err, ERROR_INPUT, "%s: %s is %lld bytes, the signed index.db says %llu; the stream was "
                         "altered", u->input_name, name, (long long)size, (unsigned long long)item->size);
    if (u->o->check_only) { /* hashed, not written */
        char got[SHA256_HEX_LEN + 1];
        if (read_entry(u, name, size, -1, NULL, NULL, got, err) != 0)
            return -1;
        if (strcmp(got, hex) != 0)
            return error_set(err, ERROR_INPUT, "%s: %s: content hashes to sha256:%s; the stream was altered or "
                             "corrupted", u->input_name, name, got);
        item->seen = true;
        u->stats->blobs_streamed++;
        u->stats->bytes_streamed += (uint64_t)size;
        return 0;
    }
    char *path = path_join(u->blob_dir, hex);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd < 0) {
        int saved = errno;
        free(path);
        return error_errno(err, saved, "%s/blobs/sha256/%s: cannot create", u->staging.tmp, hex);
    }
    char got[SHA256_HEX_LEN + 1];
    int rc = read_entry(u, name, size, fd, path, NULL, got, err);
    if (close(fd) != 0 && rc == 0)
        rc = error_errno(err, errno, "%s: close failed", path);
    if (rc == 0 && strcmp(got, hex) != 0)
        rc = error_set(err, ERROR_INPUT, "%s: %s: content hashes to sha256:%s; the stream was altered or corrupted",
                       u->input_name, name, got);
    free(path);
    if (rc != 0)
        return -1;
    item->seen = true;
    u->stats->blobs_streamed++;
    u->stats->bytes_streamed += (uint64_t)size;
    return 0;
}

/* Signature checked on the bytes just received, before any blob is accepted. */
static int accept_index(struct unpacker *u, struct error *err)
{
    if (bundle_open_with_key(u->staging.tmp, u->key, &u->b, err) != 0) {
        /* name the stream rather than the temporary directory */
        struct error inner = *err;
        error_set(err, inner.code, "%s: the bundle's index is not accepted: %s", u->input_name, inner.message);
        return -1;
    }
    snprintf(u->stats->index_digest, sizeof u->stats->index_digest, "%s", bundle_index_digest(u->b));
    /* freshness before any blob: an older bundle never replaces a newer one by accident */
    if (!u->o->allow_downgrade && !u->o->check_only) {
        struct bundle_freshness incoming, current;
        int found = bundle_dir_freshness(u->staging.target, &current, err);
        if (found < 0 || bundle_read_freshness(u->b, &incoming, err) != 0)
            return -1;
        if (found == 1 && bundle_freshness_check_not_older(u->input_name, &incoming, u->staging.target, &current,
                                                           err) != 0)
            return -1;
    }
    struct error ignored;
    if (bundle_meta(u->b, "oci_index_digest", &u->oci_index_digest, &ignored) != 1)
        return error_set(err, ERROR_INPUT, "%s: index.db has no oci_index_digest; not a bundle", u->input_name);
    return listing_load(u->b, &u->listing, err);
}

static int take_from_base(struct unpacker *u, struct listed_blob *item, struct error *err)
{
    char rel[128];
    snprintf(rel, sizeof rel, "blobs/sha256/%s", item->hex);
    char *from = path_join(u->o->onto, rel);
    char *to = path_join(u->blob_dir, item->hex);
    int rc = -1;
    struct stat st;
    if (lstat(from, &st) != 0 || !S_ISREG(st.st_mode)) {
        error_set(err, ERROR_INPUT, "%s: blob sha256:%s is neither in the stream nor in %s; this delta was made "
                  "against another bundle", u->input_name, item->hex, u->o->onto);
        goto out;
    }
    if ((uint64_t)st.st_size != item->size) {
        error_set(err, ERROR_INPUT, "%s: size %lld, the new index.db says %llu; the old bundle is damaged", from,
                  (long long)st.st_size, (unsigned long long)item->size);
        goto out;
    }
    if (u->o->full) {
        char got[SHA256_HEX_LEN + 1];
        uint64_t n;
        if (sha256_file_hex(from, got, &n, err) != 0)
            goto out;
        if (strcmp(got, item->hex) != 0) {
            error_set(err, ERROR_INPUT, "%s: content hashes to sha256:%s; the old bundle is damaged", from, got);
            goto out;
        }
    }
    if (link(from, to) != 0) {
        if (errno != EXDEV && errno != EPERM && errno != EMLINK) {
            error_errno(err, errno, "%s: cannot link to %s", from, to);
            goto out;
        }
        if (fs_copy_file(from, to, err) != 0 || chmod(to, 0444) != 0)
            goto out;
    }
    item->seen = true;
    u->stats->blobs_from_base++;
    u->stats->bytes_from_base += item->size;
    rc = 0;
out:
    free(from);
    free(to);
    return rc;
}

static int unpack_entries(struct unpacker *u, struct error *err)
{
    /* the signed files come first, in this order; .sig.der is optional */
    static const char *const head[] = {"index.db", "index.db.sig", "index.db.sig.der"};
    int position = 0;
    struct archive_entry *e;
    for (;;) {
        int r = archive_read_next_header(u->a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK)
            return stream_error(u, position == 0 ? "reading the first entry" : "reading an entry header", err);
        const char *name = archive_entry_pathname(e);
        if (!name)
            return error_set(err, ERROR_INPUT, "%s: an entry without a name; not a bundle stream", u->input_name);
        while (name[0] == '.' && name[1] == '/')
            name += 2;
        mode_t type = archive_entry_filetype(e);
        if (type == AE_IFDIR && (!strcmp(name, "") || !strcmp(name, "blobs/") || !strcmp(name, "blobs/sha256/") ||
                                 !strcmp(name, "blobs") || !strcmp(name, "blobs/sha256")))
            continue;
        if (type != AE_IFREG || archive_entry_hardlink(e) || archive_entry_sparse_count(e) > 0 ||
            !archive_entry_size_is_set(e))
            return error_set(err, ERROR_INPUT, "%s: entry '%s' is not a plain file; a bundle stream holds only "
                             "regular files", u->input_name, name);
        int64_t size = archive_entry_size(e);
        if (position < 2 || (position == 2 && !strcmp(name, head[2]))) {
            if (strcmp(name, head[position]) != 0)
                return error_set(err, ERROR_INPUT, "%s: entry %d is '%s', expected '%s' — a bundle stream starts "
                                 "with its signed index (made by 'airfactory pack'?)", u->input_name, position + 1,
                                 name, head[position]);
            struct buffer data = BUFFER_INIT;
            int rc = take_small(u, name, size, position == 0 ? BUNDLE_INDEX_MAX : 4096, &data, err);
            buffer_free(&data);
            if (rc != 0)
                return -1;
            position++;
            if (position == 2 && accept_index(u, err) != 0)
                return -1;
            continue;
        }
        if (position < 2)
            return -1; /* unreachable */
        position = 3;
        if (!strcmp(name, "oci-layout") || !strcmp(name, "index.json")) {
            bool layout = name[0] == 'o';
            if (layout ? u->have_layout : u->have_index_json)
                return error_set(err, ERROR_INPUT, "%s: %s appears twice; the stream was altered", u->input_name, name);
            struct buffer data = BUFFER_INIT;
            int rc = take_small(u, name, size, SMALL_FILE_MAX, &data, err);
            if (rc == 0 && layout && strcmp(buffer_cstr(&data), BUNDLE_OCI_LAYOUT) != 0)
                rc = error_set(err, ERROR_INPUT, "%s: oci-layout differs from %s", u->input_name, BUNDLE_OCI_LAYOUT);
            if (rc == 0 && !layout) {
                char hex[SHA256_HEX_LEN + 1], got[BUNDLE_DIGEST_SIZE];
                sha256_hex(data.data ? data.data : "", data.len, hex);
                snprintf(got, sizeof got, "sha256:%s", hex);
                if (strcmp(got, u->oci_index_digest) != 0)
                    rc = error_set(err, ERROR_INPUT, "%s: index.json is %s, the signed index.db says %s; the stream "
                                   "was altered", u->input_name, got, u->oci_index_digest);
            }
            buffer_free(&data);
            if (rc != 0)
                return -1;
            if (layout)
                u->have_layout = true;
            else
                u->have_index_json = true;
            continue;
        }
        if (!strncmp(name, "blobs/sha256/", 13) && sha256_hex_valid(name + 13)) {
            if (take_blob(u, name, name + 13, size, err) != 0)
                return -1;
            continue;
        }
        return error_set(err, ERROR_INPUT, "%s: unexpected entry '%s'; a bundle stream holds only the index, its "
                         "signature, the OCI layout files and blobs/sha256/<hex>", u->input_name, name);
    }
    if (position < 2)
        return error_set(err, ERROR_INPUT, "%s: ended before the signed index.db%s; the stream is truncated or not "
                         "a bundle", u->input_name, position == 1 ? ".sig" : "");
    if (!u->have_layout || !u->have_index_json)
        return error_set(err, ERROR_INPUT, "%s: no %s; the stream is truncated or was not made by 'airfactory pack'",
                         u->input_name, u->have_layout ? "index.json" : "oci-layout");
    size_t missing = 0;
    const char *first_missing = NULL;
    for (size_t i = 0; i < u->listing.count; i++) {
        struct listed_blob *item = &u->listing.items[i];
        if (item->seen)
            continue;
        if (u->o->check_only) {
            u->stats->blobs_missing++;
            continue;
        }
        if (u->o->onto) {
            if (take_from_base(u, item, err) != 0)
                return -1;
            continue;
        }
        if (!first_missing)
            first_missing = item->hex;
        missing++;
    }
    if (missing)
        return error_set(err, ERROR_INPUT, "%s: %zu blob%s listed in index.db %s not in the stream (first: "
                         "sha256:%s); the stream is truncated, or it is a delta — unpack it with --onto OLD",
                         u->input_name, missing, missing == 1 ? "" : "s", missing == 1 ? "is" : "are", first_missing);
    return 0;
}

/* ---- reading a split pack: the parts in SHA256SUMS order, each hashed as it streams ---- */

struct part {
    char *path;
    char hex[SHA256_HEX_LEN + 1];
};

struct parts_reader {
    struct part *parts;
    size_t count, current;
    int fd;
    struct sha256_stream hash;
    char *buf;
    struct error *err; /* the first failure, named; libarchive gets a short copy */
    bool failed;
};

/* dir/SHA256SUMS: "<hex>  bundle.tar.NNN" lines, in order. Every part must exist. */
static int parts_load(const char *dir, struct parts_reader *r, struct error *err)
{
    char *sums_path = path_join(dir, "SHA256SUMS");
    struct buffer text = BUFFER_INIT;
    int rc = fs_read_file(sums_path, 1 << 20, &text, err);
    if (rc != 0) {
        free(sums_path);
        return error_prefix(err, "%s is not a split pack (no SHA256SUMS): ", dir);
    }
    const char *p = buffer_cstr(&text);
    unsigned line = 0;
    while (rc == 0 && *p) {
        line++;
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char name[64];
        if (len < SHA256_HEX_LEN + 3 || len - SHA256_HEX_LEN - 2 >= sizeof name || p[SHA256_HEX_LEN] != ' ' ||
            p[SHA256_HEX_LEN + 1] != ' ') {
            rc = error_set(err, ERROR_INPUT, "%s:%u: expected '<sha256>  bundle.tar.NNN'", sums_path, line);
            break;
        }
        memcpy(name, p + SHA256_HEX_LEN + 2, len - SHA256_HEX_LEN - 2);
        name[len - SHA256_HEX_LEN - 2] = '\0';
        char want[32];
        snprintf(want, sizeof want, "bundle.tar.%03u", line - 1);
        if (strcmp(name, want) != 0 || strchr(name, '/')) {
            rc = error_set(err, ERROR_INPUT, "%s:%u: part '%s', expected %s; SHA256SUMS was edited", sums_path, line,
                           name, want);
            break;
        }
        r->parts = xrealloc(r->parts, (r->count + 1) * sizeof *r->parts);
        struct part *part = &r->parts[r->count++];
        part->path = path_join(dir, name);
        memcpy(part->hex, p, SHA256_HEX_LEN);
        part->hex[SHA256_HEX_LEN] = '\0';
        if (!sha256_hex_valid(part->hex))
            rc = error_set(err, ERROR_INPUT, "%s:%u: not a SHA-256", sums_path, line);
        else if (!fs_exists(part->path))
            rc = error_set(err, ERROR_INPUT, "%s: missing (part %u of the pack, listed in SHA256SUMS); copy it "
                           "from the media again and rerun", part->path, line);
        p = nl ? nl + 1 : p + len;
    }
    if (rc == 0 && r->count == 0)
        rc = error_set(err, ERROR_INPUT, "%s: lists no parts", sums_path);
    buffer_free(&text);
    free(sums_path);
    return rc;
}

static void parts_free(struct parts_reader *r)
{
    if (r->fd >= 0) { /* stopped inside a part */
        sha256_stream_abort(&r->hash);
        close(r->fd);
    }
    for (size_t i = 0; i < r->count; i++)
        free(r->parts[i].path);
    free(r->parts);
    free(r->buf);
}

static int parts_fail(struct archive *a, struct parts_reader *r, int e, struct error *err)
{
    r->failed = true;
    *r->err = *err;
    archive_set_error(a, e ? e : EINVAL, "%s", err->message);
    return -1;
}

static la_ssize_t parts_read(struct archive *a, void *context, const void **block)
{
    struct parts_reader *r = context;
    for (;;) {
        if (r->current >= r->count)
            return 0;
        struct part *part = &r->parts[r->current];
        if (r->fd < 0) {
            r->fd = open(part->path, O_RDONLY | O_CLOEXEC);
            if (r->fd < 0) {
                struct error e;
                error_errno(&e, errno, "%s: cannot open", part->path);
                return parts_fail(a, r, errno, &e);
            }
            sha256_stream_init(&r->hash);
        }
        ssize_t n = read(r->fd, r->buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            struct error e;
            error_errno(&e, errno, "%s: read failed", part->path);
            return parts_fail(a, r, errno, &e);
        }
        if (n > 0) {
            sha256_stream_update(&r->hash, r->buf, (size_t)n);
            *block = r->buf;
            return n;
        }
        /* end of this part: it must be the part SHA256SUMS lists, before its bytes are used further */
        char got[SHA256_HEX_LEN + 1];
        sha256_stream_final_hex(&r->hash, got);
        close(r->fd);
        r->fd = -1;
        if (strcmp(got, part->hex) != 0) {
            struct error e;
            error_set(&e, ERROR_INPUT, "%s: corrupt or from another pack (hashes to %.12s…, SHA256SUMS says "
                      "%.12s…); copy that part again and rerun", part->path, got, part->hex);
            return parts_fail(a, r, EINVAL, &e);
        }
        r->current++;
        BUNDLE_TEST_POINT("unpack-part-done");
    }
}

int bundle_unpack(const struct bundle_unpack_options *o, struct bundle_transfer_stats *stats, struct error *err)
{
    struct bundle_transfer_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    if (!o->input || !o->public_key_path)
        return error_set(err, ERROR_INPUT, "unpack: an input and a public key (--key) are required");
    const char *target = o->target ? o->target : o->onto;
    if (!target && !o->check_only)
        return error_set(err, ERROR_INPUT, "unpack: no target directory given");
    if (o->onto && !fs_is_dir(o->onto))
        return error_set(err, ERROR_INPUT, "%s: not a directory (--onto names the old bundle the delta applies to)",
                         o->onto);
    struct unpacker u = {.o = o, .stats = stats, .input_name = strcmp(o->input, "-") ? o->input : "stdin"};
    u.staging.lock_fd = -1;
    int fd = -1, rc = -1;
    struct parts_reader parts = {.fd = -1};
    struct error parts_err;
    error_clear(&parts_err);
    parts.err = &parts_err;
    bool split = strcmp(o->input, "-") != 0 && fs_is_dir(o->input);
    if (split) {
        if (parts_load(o->input, &parts, err) != 0) {
            parts_free(&parts);
            return -1;
        }
        parts.buf = xmalloc(CHUNK);
    }
    if (bundle_key_load_public(o->public_key_path, &u.key, err) != 0) {
        parts_free(&parts);
        return -1;
    }
    if (split) {
        /* the parts are read by parts_read */
    } else if (!strcmp(o->input, "-")) {
        fd = STDIN_FILENO;
    } else if ((fd = open(o->input, O_RDONLY | O_CLOEXEC)) < 0) {
        error_errno(err, errno, "%s: cannot open", o->input);
        bundle_key_free(u.key);
        return -1;
    }
    if (o->check_only) {
        /* only the small signed files are written, to a private directory removed at the end */
        const char *tmpdir = getenv("TMPDIR");
        u.staging.tmp = xasprintf("%s/airfactory-verify-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
        if (!mkdtemp(u.staging.tmp)) {
            error_errno(err, errno, "%s: cannot create", u.staging.tmp);
            goto out;
        }
    } else if (bundle_staging_open(&u.staging, target, false, err) != 0)
        goto out;
    char *blobs = path_join(u.staging.tmp, "blobs");
    u.blob_dir = path_join(blobs, "sha256");
    free(blobs);
    if (fs_mkdir_p(u.blob_dir, 0755, err) != 0)
        goto out;
    u.a = archive_read_new();
    archive_read_support_format_tar(u.a);
    archive_read_support_filter_gzip(u.a);
    archive_read_support_filter_xz(u.a);
    archive_read_support_filter_zstd(u.a);
    if ((split ? archive_read_open2(u.a, &parts, NULL, parts_read, NULL, NULL) : archive_read_open_fd(u.a, fd, CHUNK)) !=
        ARCHIVE_OK) {
        if (parts.failed)
            *err = parts_err;
        else
            stream_error(&u, "opening", err);
        goto out;
    }
    if (unpack_entries(&u, err) != 0) {
        if (parts.failed)
            *err = parts_err; /* the part at fault, rather than what libarchive made of it */
        goto out;
    }
    /* every part read to its end and checked (a tar's end blocks may leave the last unread) */
    if (split) {
        const void *ignored;
        while (!parts.failed && parts.current < parts.count && parts_read(u.a, &parts, &ignored) > 0)
            ;
        if (parts.failed) {
            *err = parts_err;
            goto out;
        }
    }
    /* the files as they now lie on disk, once more: index, signature, .sig.der agreement */
    char *check_dir = u.staging.tmp;
    struct error verr;
    if (bundle_verify_signature(check_dir, o->public_key_path, &verr) != 0) {
        error_set(err, ERROR_INPUT, "%s: %s", u.input_name, verr.message);
        goto out;
    }
    BUNDLE_TEST_POINT("unpack-verified");
    if (o->check_only) {
        rc = 0;
        goto out;
    }
    if (bundle_staging_commit(&u.staging, err) != 0)
        goto out;
    rc = 0;
out:
    if (u.a)
        archive_read_free(u.a);
    if (fd > STDIN_FILENO)
        close(fd);
    bundle_close(u.b);
    bundle_key_free(u.key);
    listing_free(&u.listing);
    free(u.blob_dir);
    free(u.oci_index_digest);
    parts_free(&parts);
    if (rc != 0 || o->check_only)
        bundle_staging_abort(&u.staging); /* check_only: removes the private directory */
    return rc;
}
