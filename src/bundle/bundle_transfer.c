/* bundle_transfer — see include/airfactory/bundle_transfer.h. */
#include "airfactory/bundle_transfer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
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
        return error_errno(err, e,
                           "%s: %s; the file system cannot hold a file this large (FAT32: 4 GiB): write "
                           "parts with --split SIZE (e.g. --split 4000M)",
                           what, why ? why : "failed");
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
            error_set(err, ERROR_INPUT, "%s: missing; the bundle is damaged (run 'airfactory verify --full %s')", path,
                      dir);
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
        error_set(err, ERROR_INPUT,
                  "%s: size %lld, index.db says %lld; the bundle is damaged (run 'airfactory "
                  "verify --full %s')",
                  path, (long long)st.st_size, (long long)expected_size, dir);
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
    if (pack_file(pb->p, pb->dir, name, (int64_t)strtoll(v[1], NULL, 10), 0444, &pb->stats->bytes_streamed, pb->err) != 0)
        return -1;
    pb->stats->blobs_streamed++;
    return 0;
}

/* ---- split output: numbered parts of at most `split` bytes, SHA256SUMS, README.txt ---- */

struct splitter {
    char *tmp; /* OUTPUT.tmp-XXXXXX, renamed to OUTPUT when complete */
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
            return error_set(err, ERROR_INPUT,
                             "%s: --split writes a new directory of parts; give a path that does "
                             "not exist yet",
                             output);
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
            return error_set(err, ERROR_INPUT,
                             "refusing to write a tar stream to a terminal; use -o FILE or "
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
    if (archive_write_set_format_pax_restricted(p.a) != ARCHIVE_OK || archive_write_add_filter_none(p.a) != ARCHIVE_OK ||
        /* no padding after the end-of-archive blocks: libarchive would otherwise pad to 10 KiB
         * for stdout but not for files, and the same bundle must give the same bytes anywhere */
        archive_write_set_bytes_in_last_block(p.a, 1) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(p.a, CHUNK) != ARCHIVE_OK ||
        (split ? archive_write_open2(p.a, &sp, NULL, split_write, split_close, NULL) : archive_write_open_fd(p.a, fd)) !=
            ARCHIVE_OK) {
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
        return error_set(err, ERROR_INPUT, "--split %llu: parts must be at least 1 MiB", (unsigned long long)split);
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

struct parts_reader;

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
    int position; /* head files taken: index.db (1), index.db.sig (2), past the optional .sig.der (3) */
    /* a split pack unpacked into a directory keeps a journal of resume points (see "resume" below) */
    struct parts_reader *parts;
    int journal_fd;
    unsigned points;           /* resume points in the journal (loaded or written) */
    size_t next_point;         /* the first part whose resume point is not written yet */
    uint64_t origin;           /* stream offset of libarchive's offset 0 (a resumed run starts mid-stream) */
    uint64_t entry_h, entry_d; /* the entry being read: its header's and its data's stream offsets */
    struct buffer entry_raw;   /* its header's bytes [entry_h, entry_d), when the reader still held them */
    bool entry_raw_ok;
    char resume_hex[SHA256_HEX_LEN + 1]; /* resuming inside this blob: its first resume_have bytes */
    uint64_t resume_have;                /* are in blobs/sha256/<hex>.partial already */
    bool resumed_blob;                   /* this run continued that .partial (a bad hash resets the journal) */
    char entry_hex[SHA256_HEX_LEN + 1];  /* the blob being written (a point inside it names it) */
    size_t parts_lined;                  /* parts whose "part" line is in the journal */
};

static int stream_error(struct unpacker *u, const char *what, struct error *err)
{
    const char *why = archive_error_string(u->a);
    return error_set(err, ERROR_INPUT, "%s: %s: %s; the stream is truncated or damaged — nothing was unpacked",
                     u->input_name, what, why ? why : "read failed");
}

static int point_in_data(struct unpacker *u, uint64_t boundary, uint64_t have, int fd, const struct buffer *mem,
                         struct error *err);
static bool next_boundary(struct unpacker *u, uint64_t *boundary);

/* Read the current entry's data into fd and/or mem, hashing it; exactly `size` bytes. The first
 * `already` bytes are in fd's file from an interrupted run: hashed, not written again. */
static int read_entry(struct unpacker *u, const char *name, int64_t size, int fd, const char *path, struct buffer *mem,
                      uint64_t already, char hex[SHA256_HEX_LEN + 1], struct error *err)
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
        const char *p = block;
        while (len > 0) {
            /* cut the block at a part boundary: a resume point is written exactly there */
            size_t n = len;
            uint64_t at = u->entry_d + (uint64_t)position, boundary = 0;
            while (u->journal_fd >= 0 && next_boundary(u, &boundary) && boundary < at)
                u->next_point++; /* passed without a point (cannot happen: points come at headers) */
            bool cut = u->journal_fd >= 0 && next_boundary(u, &boundary) && boundary < at + n;
            if (cut)
                n = (size_t)(boundary - at);
            uint64_t skip = (uint64_t)position < already ? already - (uint64_t)position : 0;
            if (skip > n)
                skip = n;
            if (fd >= 0 && n > skip && fs_write_all(fd, p + skip, n - skip, path, err) != 0) {
                sha256_stream_abort(&hash);
                return -1;
            }
            if (mem)
                buffer_append(mem, p, n);
            sha256_stream_update(&hash, p, n);
            position += (int64_t)n;
            p += n;
            len -= n;
            if (cut && point_in_data(u, boundary, (uint64_t)position, fd, mem, err) != 0) {
                sha256_stream_abort(&hash);
                return -1;
            }
        }
    }
    if (position != size) {
        sha256_stream_abort(&hash);
        return error_set(err, ERROR_INPUT, "%s: %s: %lld of %lld bytes; the stream is truncated", u->input_name, name,
                         (long long)position, (long long)size);
    }
    sha256_stream_final_hex(&hash, hex);
    return 0;
}

static int journal_append(struct unpacker *u, const char *line, struct error *err)
{
    return u->journal_fd < 0 ? 0 : fs_write_all(u->journal_fd, line, strlen(line), ".unpack-journal", err);
}

/* Small named files (index, signatures, layout): into memory, then into tmp. */
static int take_small(struct unpacker *u, const char *name, int64_t size, size_t max, struct buffer *out,
                      struct error *err)
{
    if (size < 0 || (uint64_t)size > max)
        return error_set(err, ERROR_INPUT, "%s: %s: %lld bytes is too large for this file; not a bundle stream",
                         u->input_name, name, (long long)size);
    char hex[SHA256_HEX_LEN + 1];
    if (read_entry(u, name, size, -1, NULL, out, 0, hex, err) != 0)
        return -1;
    char *path = path_join(u->staging.tmp, name);
    int rc = fs_write_file_atomic(path, out->data ? out->data : "", out->len, 0644, err);
    free(path);
    if (rc == 0 && u->journal_fd >= 0) {
        char line[96];
        snprintf(line, sizeof line, "done %s\n", name);
        rc = journal_append(u, line, err);
    }
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
        return error_set(err, ERROR_INPUT,
                         "%s: %s is %lld bytes, the signed index.db says %llu; the stream was "
                         "altered",
                         u->input_name, name, (long long)size, (unsigned long long)item->size);
    if (u->o->check_only) { /* hashed, not written */
        char got[SHA256_HEX_LEN + 1];
        if (read_entry(u, name, size, -1, NULL, NULL, 0, got, err) != 0)
            return -1;
        if (strcmp(got, hex) != 0)
            return error_set(err, ERROR_INPUT,
                             "%s: %s: content hashes to sha256:%s; the stream was altered or "
                             "corrupted",
                             u->input_name, name, got);
        item->seen = true;
        u->stats->blobs_streamed++;
        u->stats->bytes_streamed += (uint64_t)size;
        return 0;
    }
    /* with a journal the blob is written as <hex>.partial, fsynced and renamed when it hashes right,
     * so a file under its final name is always complete */
    bool journal = u->journal_fd >= 0;
    char *path = path_join(u->blob_dir, hex);
    char *partial = journal ? xasprintf("%s.partial", path) : NULL;
    const char *write_path = journal ? partial : path;
    uint64_t already = 0;
    int fd;
    if (journal && u->resume_have && !strcmp(hex, u->resume_hex)) {
        already = u->resume_have;
        u->resume_have = 0;
        u->resumed_blob = true;
        fd = open(partial, O_WRONLY | O_CLOEXEC);
        if (fd >= 0 && (ftruncate(fd, (off_t)already) != 0 || lseek(fd, (off_t)already, SEEK_SET) < 0)) {
            close(fd);
            fd = -1;
        }
    } else {
        fd = open(write_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, journal ? 0644 : 0444);
    }
    if (fd < 0) {
        int saved = errno;
        free(path);
        free(partial);
        return error_errno(err, saved, "%s/blobs/sha256/%s%s: cannot create", u->staging.tmp, hex,
                           journal ? ".partial" : "");
    }
    snprintf(u->entry_hex, sizeof u->entry_hex, "%s", hex);
    char got[SHA256_HEX_LEN + 1];
    int rc = read_entry(u, name, size, fd, write_path, NULL, already, got, err);
    if (rc == 0 && journal && (fchmod(fd, 0444) != 0 || fsync(fd) != 0))
        rc = error_errno(err, errno, "%s: cannot sync", write_path);
    if (close(fd) != 0 && rc == 0)
        rc = error_errno(err, errno, "%s: close failed", write_path);
    if (rc == 0 && strcmp(got, hex) != 0) {
        if (already) {
            /* the bytes kept from the interrupted run were part of it: start over next time */
            char *journal_path = path_join(u->staging.tmp, ".unpack-journal");
            unlink(journal_path);
            free(journal_path);
            u->points = 0;
            rc = error_set(err, ERROR_INPUT,
                           "%s: %s: content hashes to sha256:%s, with %llu bytes kept from the "
                           "interrupted run; the journal is reset: rerun to unpack from the first part",
                           u->input_name, name, got, (unsigned long long)already);
        } else {
            rc = error_set(err, ERROR_INPUT,
                           "%s: %s: content hashes to sha256:%s; the stream was altered or "
                           "corrupted",
                           u->input_name, name, got);
        }
    }
    if (rc == 0 && journal && rename(partial, path) != 0)
        rc = error_errno(err, errno, "%s: cannot rename to %s", partial, path);
    free(path);
    free(partial);
    if (rc != 0)
        return -1;
    if (journal) {
        char line[128];
        snprintf(line, sizeof line, "done %s\n", name);
        if (journal_append(u, line, err) != 0)
            return -1;
    }
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
        if (found == 1 &&
            bundle_freshness_check_not_older(u->input_name, &incoming, u->staging.target, &current, err) != 0)
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
        error_set(err, ERROR_INPUT,
                  "%s: blob sha256:%s is neither in the stream nor in %s; this delta was made "
                  "against another bundle",
                  u->input_name, item->hex, u->o->onto);
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

static int point_at_header(struct unpacker *u, struct error *err);
static int point_at_end(struct unpacker *u, struct error *err);
static void capture_header(struct unpacker *u);

/* The entries after the ones a resumed run took from its journal (u->position, have_layout, … set). */
static int unpack_entries(struct unpacker *u, bool resumed_at_end, struct error *err)
{
    /* the signed files come first, in this order; .sig.der is optional */
    static const char *const head[] = {"index.db", "index.db.sig", "index.db.sig.der"};
    struct archive_entry *e;
    for (; !resumed_at_end;) {
        int r = archive_read_next_header(u->a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK)
            return stream_error(u, u->position == 0 ? "reading the first entry" : "reading an entry header", err);
        const char *name = archive_entry_pathname(e);
        if (!name)
            return error_set(err, ERROR_INPUT, "%s: an entry without a name; not a bundle stream", u->input_name);
        while (name[0] == '.' && name[1] == '/')
            name += 2;
        if (u->journal_fd >= 0) {
            u->entry_h = u->origin + (uint64_t)archive_read_header_position(u->a);
            u->entry_d = u->origin + (uint64_t)archive_filter_bytes(u->a, 0);
            capture_header(u);
            if (point_at_header(u, err) != 0)
                return -1;
        }
        mode_t type = archive_entry_filetype(e);
        if (type == AE_IFDIR && (!strcmp(name, "") || !strcmp(name, "blobs/") || !strcmp(name, "blobs/sha256/") ||
                                 !strcmp(name, "blobs") || !strcmp(name, "blobs/sha256")))
            continue;
        if (type != AE_IFREG || archive_entry_hardlink(e) || archive_entry_sparse_count(e) > 0 ||
            !archive_entry_size_is_set(e))
            return error_set(err, ERROR_INPUT,
                             "%s: entry '%s' is not a plain file; a bundle stream holds only "
                             "regular files",
                             u->input_name, name);
        int64_t size = archive_entry_size(e);
        if (u->position < 2 || (u->position == 2 && !strcmp(name, head[2]))) {
            if (strcmp(name, head[u->position]) != 0)
                return error_set(err, ERROR_INPUT,
                                 "%s: entry %d is '%s', expected '%s' — a bundle stream starts "
                                 "with its signed index (made by 'airfactory pack'?)",
                                 u->input_name, u->position + 1, name, head[u->position]);
            struct buffer data = BUFFER_INIT;
            int rc = take_small(u, name, size, u->position == 0 ? BUNDLE_INDEX_MAX : 4096, &data, err);
            buffer_free(&data);
            if (rc != 0)
                return -1;
            u->position++;
            if (u->position == 2 && accept_index(u, err) != 0)
                return -1;
            continue;
        }
        u->position = 3;
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
                    rc = error_set(err, ERROR_INPUT,
                                   "%s: index.json is %s, the signed index.db says %s; the stream "
                                   "was altered",
                                   u->input_name, got, u->oci_index_digest);
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
        return error_set(err, ERROR_INPUT,
                         "%s: unexpected entry '%s'; a bundle stream holds only the index, its "
                         "signature, the OCI layout files and blobs/sha256/<hex>",
                         u->input_name, name);
    }
    if (u->position < 2)
        return error_set(err, ERROR_INPUT,
                         "%s: ended before the signed index.db%s; the stream is truncated or not "
                         "a bundle",
                         u->input_name, u->position == 1 ? ".sig" : "");
    if (!u->have_layout || !u->have_index_json)
        return error_set(err, ERROR_INPUT, "%s: no %s; the stream is truncated or was not made by 'airfactory pack'",
                         u->input_name, u->have_layout ? "index.json" : "oci-layout");
    if (u->journal_fd >= 0 && !resumed_at_end && point_at_end(u, err) != 0)
        return -1;
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
        return error_set(err, ERROR_INPUT,
                         "%s: %zu blob%s listed in index.db %s not in the stream (first: "
                         "sha256:%s); the stream is truncated, or it is a delta — unpack it with --onto OLD",
                         u->input_name, missing, missing == 1 ? "" : "s", missing == 1 ? "is" : "are", first_missing);
    return 0;
}

/* ---- reading a split pack: the parts in SHA256SUMS order, each hashed as it streams ---- */

struct part {
    char *path;
    char hex[SHA256_HEX_LEN + 1];
    uint64_t end;   /* stream offset just past this part, once it is read and checked */
    struct stat st; /* the file as it was when it was checked */
};

#define RING 4 /* blocks the reader keeps: libarchive holds one, the header of an entry spans at most a few */

struct parts_reader {
    struct part *parts;
    size_t count, current;
    int fd;
    struct sha256_stream hash;
    char *ring[RING]; /* the last blocks handed to libarchive, so a header's bytes can be journaled */
    uint64_t ring_at[RING];
    size_t ring_len[RING];
    unsigned ring_next;
    uint64_t delivered; /* stream offset of the next byte handed to libarchive */
    uint64_t read_at;   /* stream offset of the next byte read from the parts */
    /* a resumed run hands libarchive these first, then the parts after the last one checked */
    const char *carry;
    size_t carry_len;
    char *carry_mem; /* what carry points into, freed with the reader */
    int partial_fd;
    uint64_t partial_left;
    uint64_t skip;     /* bytes at the start of the first part read that are before the resume point */
    struct error *err; /* the first failure, named; libarchive gets a short copy */
    bool failed;
};

/* dir/SHA256SUMS: "<hex>  bundle.tar.NNN" lines, in order. Every part must exist. sums_hex: the
 * file's own hash (the identity of the pack in the resume journal). */
static int parts_load(const char *dir, struct parts_reader *r, char sums_hex[SHA256_HEX_LEN + 1], struct error *err)
{
    char *sums_path = path_join(dir, "SHA256SUMS");
    struct buffer text = BUFFER_INIT;
    int rc = fs_read_file(sums_path, 1 << 20, &text, err);
    if (rc != 0) {
        free(sums_path);
        return error_prefix(err, "%s is not a split pack (no SHA256SUMS): ", dir);
    }
    sha256_hex(text.data ? text.data : "", text.len, sums_hex);
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
        memset(part, 0, sizeof *part);
        part->path = path_join(dir, name);
        memcpy(part->hex, p, SHA256_HEX_LEN);
        part->hex[SHA256_HEX_LEN] = '\0';
        if (!sha256_hex_valid(part->hex))
            rc = error_set(err, ERROR_INPUT, "%s:%u: not a SHA-256", sums_path, line);
        else if (!fs_exists(part->path))
            rc = error_set(err, ERROR_INPUT,
                           "%s: missing (part %u of the pack, listed in SHA256SUMS); copy it "
                           "from the media again and rerun",
                           part->path, line);
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
    if (r->partial_fd >= 0)
        close(r->partial_fd);
    for (size_t i = 0; i < r->count; i++)
        free(r->parts[i].path);
    free(r->parts);
    for (int i = 0; i < RING; i++)
        free(r->ring[i]);
    free(r->carry_mem);
}

static int parts_fail(struct archive *a, struct parts_reader *r, int e, struct error *err)
{
    r->failed = true;
    *r->err = *err;
    archive_set_error(a, e ? e : EINVAL, "%s", err->message);
    return -1;
}

static la_ssize_t parts_deliver(struct parts_reader *r, char *buf, size_t n, const void **block)
{
    r->ring_at[r->ring_next] = r->delivered;
    r->ring_len[r->ring_next] = n;
    r->ring_next = (r->ring_next + 1) % RING;
    r->delivered += n;
    *block = buf;
    return (la_ssize_t)n;
}

static la_ssize_t parts_read(struct archive *a, void *context, const void **block)
{
    struct parts_reader *r = context;
    char *buf = r->ring[r->ring_next];
    if (r->carry_len) { /* resumed: the header bytes journaled from the last part checked */
        size_t n = r->carry_len < CHUNK ? r->carry_len : CHUNK;
        memcpy(buf, r->carry, n);
        r->carry += n;
        r->carry_len -= n;
        return parts_deliver(r, buf, n, block);
    }
    while (r->partial_left) { /* resumed inside a blob: its bytes from the parts already checked */
        ssize_t n = read(r->partial_fd, buf, r->partial_left < CHUNK ? (size_t)r->partial_left : CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            struct error e;
            error_set(&e, ERROR_INPUT,
                      "the part of a blob kept from the interrupted run is shorter than its journal "
                      "says; remove the %s.tmp-* directory beside the target and rerun",
                      "target");
            return parts_fail(a, r, EINVAL, &e);
        }
        r->partial_left -= (uint64_t)n;
        return parts_deliver(r, buf, (size_t)n, block);
    }
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
        ssize_t n = read(r->fd, buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            struct error e;
            error_errno(&e, errno, "%s: read failed", part->path);
            return parts_fail(a, r, errno, &e);
        }
        if (n > 0) {
            sha256_stream_update(&r->hash, buf, (size_t)n);
            r->read_at += (uint64_t)n;
            size_t skip = r->skip < (uint64_t)n ? (size_t)r->skip : (size_t)n;
            r->skip -= skip;
            if ((size_t)n == skip)
                continue;
            memmove(buf, buf + skip, (size_t)n - skip);
            return parts_deliver(r, buf, (size_t)n - skip, block);
        }
        /* end of this part: it must be the part SHA256SUMS lists, before its bytes are used further */
        char got[SHA256_HEX_LEN + 1];
        sha256_stream_final_hex(&r->hash, got);
        if (fstat(r->fd, &part->st) != 0)
            memset(&part->st, 0, sizeof part->st);
        close(r->fd);
        r->fd = -1;
        if (strcmp(got, part->hex) != 0) {
            struct error e;
            error_set(&e, ERROR_INPUT,
                      "%s: corrupt or from another pack (hashes to %.12s…, SHA256SUMS says "
                      "%.12s…); copy that part again and rerun",
                      part->path, got, part->hex);
            return parts_fail(a, r, EINVAL, &e);
        }
        part->end = r->read_at;
        r->current++;
        BUNDLE_TEST_POINT("unpack-part-checked");
    }
}

/* ---- resume: the journal of a split unpack ----
 *
 * Unpacking a split pack into a directory writes TARGET.tmp-X/.unpack-journal (the staging
 * directory, kept with a `.resume` marker when a run is interrupted or fails) — text lines:
 *   airfactory-unpack 1 SUMS NPARTS      the pack: SHA-256 of its SHA256SUMS, number of parts
 *   done NAME                            an entry is complete in the staging directory (a blob is
 *                                        written as <hex>.partial, fsynced, renamed when it hashes)
 *   part K SIZE SHA256 DEV INO MTIME CTIME   part K hashed to what SHA256SUMS says; its file then
 *   at K B R HAVE NAME CARRY             resume point at B, the end of part K: the stream goes on
 *                                        at R (the header of the first entry not done) with CARRY
 *                                        (hex of the bytes [R, B) outside the entry's data) and
 *                                        the first HAVE bytes of blob NAME's data (its .partial);
 *                                        R > B: the bytes [B, R) are padding, skipped
 *   at K B end                           every entry is done
 * A point is written (fsync'd, after the blobs it counts and their directory) when the reading
 * passes the end of a part that hashed right. A rerun of the same pack into the same target
 * takes the last point: parts up to K are not read again unless their file changed since (size,
 * inode, times): then they are hashed again and must still match SHA256SUMS; files not counted
 * as done before the point are removed; the signature of the staged index.db is checked again;
 * libarchive reads CARRY, the .partial's HAVE bytes, then parts K+1…. Every blob is still hashed
 * whole against the signed index, so nothing a point carries can make a wrong bundle. */

#define JOURNAL_NAME ".unpack-journal"
#define CARRY_MAX 65536

static void progress(struct unpacker *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress(struct unpacker *u, const char *fmt, ...)
{
    if (!u->o->progress)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    u->o->progress(line, u->o->progress_context);
}

static bool next_boundary(struct unpacker *u, uint64_t *boundary)
{
    struct parts_reader *r = u->parts;
    if (!r || u->next_point >= r->current) /* that part is not fully read and checked yet */
        return false;
    *boundary = r->parts[u->next_point].end;
    return true;
}

/* Copy the stream bytes [from, to) out of the reader's recent blocks; false when it no longer has them. */
static bool ring_copy(struct parts_reader *r, uint64_t from, uint64_t to, struct buffer *out)
{
    while (from < to) {
        bool found = false;
        for (int i = 0; i < RING && !found; i++) {
            if (r->ring_len[i] && from >= r->ring_at[i] && from < r->ring_at[i] + r->ring_len[i]) {
                uint64_t end = r->ring_at[i] + r->ring_len[i];
                size_t n = (size_t)((to < end ? to : end) - from);
                buffer_append(out, r->ring[i] + (from - r->ring_at[i]), n);
                from += n;
                found = true;
            }
        }
        if (!found)
            return false;
    }
    return true;
}

static void capture_header(struct unpacker *u)
{
    buffer_reset(&u->entry_raw);
    u->entry_raw_ok = u->entry_d - u->entry_h <= CARRY_MAX && ring_copy(u->parts, u->entry_h, u->entry_d, &u->entry_raw);
}

static int journal_sync(struct unpacker *u, struct error *err)
{
    if (fs_fsync_dir(u->blob_dir, err) != 0 || fs_fsync_dir(u->staging.tmp, err) != 0)
        return -1;
    if (fsync(u->journal_fd) != 0)
        return error_errno(err, errno, "%s/%s: fsync failed", u->staging.tmp, JOURNAL_NAME);
    return 0;
}

/* Write the resume point for the part boundary u->next_point; rest: "R HAVE NAME CARRYHEX" or "end". */
static int write_point(struct unpacker *u, uint64_t boundary, const char *rest, struct error *err)
{
    struct parts_reader *r = u->parts;
    struct buffer text = BUFFER_INIT;
    for (size_t k = u->parts_lined; k < r->current && r->parts[k].end <= boundary; k++) {
        const struct stat *st = &r->parts[k].st;
        buffer_appendf(&text, "part %zu %llu %s %llu %llu %lld.%09ld %lld.%09ld\n", k, (unsigned long long)st->st_size,
                       r->parts[k].hex, (unsigned long long)st->st_dev, (unsigned long long)st->st_ino,
                       (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, (long long)st->st_ctim.tv_sec,
                       st->st_ctim.tv_nsec);
        u->parts_lined = k + 1;
        if (r->parts[k].end == boundary) {
            buffer_appendf(&text, "at %zu %llu %s\n", k, (unsigned long long)boundary, rest);
            u->next_point = k + 1;
            break;
        }
    }
    int rc = journal_append(u, buffer_cstr(&text), err);
    buffer_free(&text);
    if (rc != 0 || journal_sync(u, err) != 0)
        return -1;
    u->points++;
    BUNDLE_TEST_POINT("unpack-part-done");
    return 0;
}

static void skip_point(struct unpacker *u)
{
    u->next_point++; /* no resume point there: a rerun reads from the one before */
}

static int point_with_carry(struct unpacker *u, uint64_t boundary, const struct buffer *carry, uint64_t have,
                            const char *blob_hex, struct error *err)
{
    if (carry->len > CARRY_MAX) {
        skip_point(u);
        return 0;
    }
    struct buffer rest = BUFFER_INIT;
    buffer_appendf(&rest, "%llu %llu %s ", (unsigned long long)u->entry_h, (unsigned long long)have,
                   blob_hex ? blob_hex : "-");
    if (carry->len == 0)
        buffer_append_char(&rest, '-');
    for (size_t i = 0; i < carry->len; i++)
        buffer_appendf(&rest, "%02x", (unsigned char)carry->data[i]);
    int rc = write_point(u, boundary, buffer_cstr(&rest), err);
    buffer_free(&rest);
    return rc;
}

/* The reading passed boundaries up to this entry's data start: resume at its header. */
static int point_at_header(struct unpacker *u, struct error *err)
{
    uint64_t boundary;
    while (next_boundary(u, &boundary) && boundary <= u->entry_d) {
        struct buffer carry = BUFFER_INIT;
        int rc = 0;
        if (boundary <= u->entry_h) {
            rc = point_with_carry(u, boundary, &carry, 0, NULL, err);
        } else if (!u->entry_raw_ok) {
            skip_point(u);
        } else {
            buffer_append(&carry, u->entry_raw.data, (size_t)(boundary - u->entry_h));
            rc = point_with_carry(u, boundary, &carry, 0, NULL, err);
        }
        buffer_free(&carry);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* A boundary inside this entry's data, after `have` bytes of it: a blob's are in its .partial
 * (fsynced now), a small file's go into the carry. */
static int point_in_data(struct unpacker *u, uint64_t boundary, uint64_t have, int fd, const struct buffer *mem,
                         struct error *err)
{
    if (!u->entry_raw_ok) {
        skip_point(u);
        return 0;
    }
    struct buffer carry = BUFFER_INIT;
    buffer_append(&carry, u->entry_raw.data ? u->entry_raw.data : "", u->entry_raw.len);
    const char *hex = NULL;
    int rc = 0;
    if (fd >= 0) {
        if (fsync(fd) != 0)
            rc = error_errno(err, errno, "%s: fsync failed", u->blob_dir);
        hex = u->entry_hex;
    } else if (mem) {
        buffer_append(&carry, mem->data ? mem->data : "", (size_t)have);
    }
    if (rc == 0)
        rc = point_with_carry(u, boundary, &carry, fd >= 0 ? have : 0, fd >= 0 && have ? hex : NULL, err);
    buffer_free(&carry);
    return rc;
}

/* every part read to its end and checked (a tar's end blocks may leave the last unread) */
static int parts_drain(struct archive *a, struct parts_reader *r, struct error *err)
{
    const void *ignored;
    while (!r->failed && r->current < r->count && parts_read(a, r, &ignored) > 0)
        ;
    if (r->failed) {
        *err = *r->err;
        return -1;
    }
    return 0;
}

static int point_at_end(struct unpacker *u, struct error *err)
{
    struct parts_reader *r = u->parts;
    if (parts_drain(u->a, r, err) != 0)
        return -1;
    if (u->next_point >= r->count)
        return 0;
    return write_point(u, r->parts[r->count - 1].end, "end", err);
}

struct journal_part {
    bool have;
    unsigned long long size, dev, ino;
    long long mtime_s, ctime_s;
    long mtime_ns, ctime_ns;
    char hex[SHA256_HEX_LEN + 1];
};

struct journal_point {
    bool end;
    size_t k;
    unsigned long long boundary, r, have;
    char blob[SHA256_HEX_LEN + 1]; /* "" for none */
    struct buffer carry;
    size_t done_count; /* `done` lines before it */
    size_t length;     /* bytes of the journal up to and with its line */
};

/* Parse "at ..." (after "at "); false when malformed. */
static bool parse_point(char *rest, struct journal_point *pt)
{
    char *save = NULL, *tok[6];
    int n = 0;
    for (char *t = strtok_r(rest, " ", &save); t && n < 6; t = strtok_r(NULL, " ", &save))
        tok[n++] = t;
    buffer_reset(&pt->carry);
    pt->blob[0] = '\0';
    if (n < 3)
        return false;
    pt->k = (size_t)strtoull(tok[0], NULL, 10);
    pt->boundary = strtoull(tok[1], NULL, 10);
    if (n == 3 && !strcmp(tok[2], "end")) {
        pt->end = true;
        return true;
    }
    if (n != 5 && n != 6)
        return false;
    pt->end = false;
    pt->r = strtoull(tok[2], NULL, 10);
    pt->have = strtoull(tok[3], NULL, 10);
    if (strcmp(tok[4], "-") != 0) {
        if (!sha256_hex_valid(tok[4]))
            return false;
        snprintf(pt->blob, sizeof pt->blob, "%s", tok[4]);
    }
    const char *hex = n == 6 ? tok[5] : "-";
    if (strcmp(hex, "-") != 0) {
        size_t len = strlen(hex), bytes;
        unsigned char *raw = xmalloc(len / 2 + 1);
        bool ok = hex_decode(hex, len, raw, len / 2, &bytes) == 0;
        if (ok)
            buffer_append(&pt->carry, raw, bytes);
        free(raw);
        if (!ok)
            return false;
    }
    if (pt->r < pt->boundary ? pt->carry.len + pt->have != pt->boundary - pt->r : pt->carry.len || pt->have)
        return false;
    return (pt->have == 0) == (pt->blob[0] == '\0');
}

static bool done_has(char **done, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (!strcmp(done[i], name))
            return true;
    return false;
}

static bool same_file(const struct journal_part *j, const struct stat *st)
{
    return j->size == (unsigned long long)st->st_size && j->dev == (unsigned long long)st->st_dev &&
           j->ino == (unsigned long long)st->st_ino && j->mtime_s == (long long)st->st_mtim.tv_sec &&
           j->mtime_ns == st->st_mtim.tv_nsec && j->ctime_s == (long long)st->st_ctim.tv_sec &&
           j->ctime_ns == st->st_ctim.tv_nsec;
}

/* Remove from the staging directory what the point does not count as done. */
static int resume_clean(struct unpacker *u, char **done, size_t done_count, const struct journal_point *pt,
                        struct error *err)
{
    static const char *const small[] = {"index.db", "index.db.sig", "index.db.sig.der", "oci-layout", "index.json"};
    for (size_t i = 0; i < sizeof small / sizeof *small; i++) {
        if (done_has(done, done_count, small[i]))
            continue;
        char *path = path_join(u->staging.tmp, small[i]);
        int rc = unlink(path) != 0 && errno != ENOENT ? error_errno(err, errno, "%s: cannot remove", path) : 0;
        free(path);
        if (rc != 0)
            return -1;
    }
    DIR *d = opendir(u->blob_dir);
    if (!d)
        return error_errno(err, errno, "%s: cannot read directory", u->blob_dir);
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char name[280];
        snprintf(name, sizeof name, "blobs/sha256/%s", e->d_name);
        if (done_has(done, done_count, name))
            continue;
        if (pt->have && !strncmp(e->d_name, pt->blob, SHA256_HEX_LEN) && !strcmp(e->d_name + SHA256_HEX_LEN, ".partial"))
            continue;
        char *path = path_join(u->blob_dir, e->d_name);
        if (unlink(path) != 0)
            rc = error_errno(err, errno, "%s: cannot remove", path);
        free(path);
    }
    closedir(d);
    return rc;
}

/* Take up an interrupted unpack from its journal. 1: resumed (reader and unpacker set to go on
 * after the point); 0: nothing usable (the caller starts over); -1: an error (a part changed
 * and no longer matches). */
static int resume_load(struct unpacker *u, const char *sums_hex, bool *at_end, struct error *err)
{
    struct parts_reader *r = u->parts;
    char *path = path_join(u->staging.tmp, JOURNAL_NAME);
    struct buffer text = BUFFER_INIT;
    struct error ignored;
    struct journal_part *jp = xcalloc(r->count, sizeof *jp);
    struct journal_point pt, last;
    memset(&pt, 0, sizeof pt);
    memset(&last, 0, sizeof last);
    bool have_point = false, header_ok = false;
    char **done = NULL;
    size_t done_count = 0;
    int rc = 0;
    if (fs_read_file(path, (size_t)1 << 30, &text, &ignored) != 0)
        goto out;
    char *p = text.data ? text.data : "";
    for (char *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
        *nl = '\0';
        if (!header_ok) {
            char sums[SHA256_HEX_LEN + 2];
            size_t n = 0;
            if (sscanf(p, "airfactory-unpack 1 %65s %zu", sums, &n) != 2 || strcmp(sums, sums_hex) != 0 || n != r->count)
                goto out; /* another pack (or version): start over */
            header_ok = true;
        } else if (!strncmp(p, "done ", 5)) {
            done = xrealloc(done, (done_count + 1) * sizeof *done);
            done[done_count++] = xstrdup(p + 5);
        } else if (!strncmp(p, "part ", 5)) {
            struct journal_part j = {.have = true};
            size_t k;
            if (sscanf(p, "part %zu %llu %64s %llu %llu %lld.%ld %lld.%ld", &k, &j.size, j.hex, &j.dev, &j.ino,
                       &j.mtime_s, &j.mtime_ns, &j.ctime_s, &j.ctime_ns) != 9 ||
                k >= r->count)
                break;
            jp[k] = j;
        } else if (!strncmp(p, "at ", 3)) {
            if (!parse_point(p + 3, &pt) || pt.k >= r->count)
                break;
            pt.done_count = done_count;
            pt.length = (size_t)(nl + 1 - text.data);
            buffer_free(&last.carry);
            last = pt;
            memset(&pt.carry, 0, sizeof pt.carry);
            have_point = true;
        } else {
            break;
        }
    }
    if (!have_point)
        goto out;
    /* every part up to the point checked, with the hash SHA256SUMS lists, and adding up to it */
    unsigned long long sum = 0;
    for (size_t k = 0; k <= last.k; k++) {
        if (!jp[k].have || strcmp(jp[k].hex, r->parts[k].hex) != 0)
            goto out;
        sum += jp[k].size;
    }
    if (sum != last.boundary || (!last.end && last.k + 1 >= r->count) || (last.end && last.k + 1 != r->count))
        goto out;
    u->points = 1; /* from here on a failure keeps the journal: e.g. a part replaced meanwhile is copied again */
    progress(u, "resuming the interrupted unpack into %s: parts 1-%zu of %zu were read and checked before",
             u->staging.target, last.k + 1, r->count);
    sum = 0;
    for (size_t k = 0; k <= last.k; k++) {
        struct part *part = &r->parts[k];
        const char *base = strrchr(part->path, '/') ? strrchr(part->path, '/') + 1 : part->path;
        struct stat st;
        if (stat(part->path, &st) == 0 && same_file(&jp[k], &st)) {
            progress(u, "part %zu of %zu (%s): verified earlier, skipped", k + 1, r->count, base);
        } else {
            char got[SHA256_HEX_LEN + 1];
            uint64_t size = 0;
            if (sha256_file_hex(part->path, got, &size, err) != 0) {
                rc = -1;
                goto out;
            }
            if (strcmp(got, part->hex) != 0) {
                rc = error_set(err, ERROR_INPUT,
                               "%s: corrupt or from another pack, replaced since the interrupted "
                               "run (hashes to %.12s…, SHA256SUMS says %.12s…); copy that part again and rerun",
                               part->path, got, part->hex);
                goto out;
            }
            progress(u, "part %zu of %zu (%s): changed since the interrupted run, hashed again: matches SHA256SUMS",
                     k + 1, r->count, base);
        }
        sum += jp[k].size;
        part->end = sum;
        if (stat(part->path, &part->st) != 0)
            memset(&part->st, 0, sizeof part->st);
    }
    if (resume_clean(u, done, last.done_count, &last, err) != 0) {
        rc = -1;
        goto out;
    }
    u->position = 0;
    for (size_t i = 0; i < last.done_count; i++) {
        if (!strcmp(done[i], "index.db") && u->position < 1)
            u->position = 1;
        else if (!strcmp(done[i], "index.db.sig") && u->position < 2)
            u->position = 2;
        else if (strcmp(done[i], "index.db") && strcmp(done[i], "index.db.sig"))
            u->position = 3;
        if (!strcmp(done[i], "oci-layout"))
            u->have_layout = true;
        if (!strcmp(done[i], "index.json"))
            u->have_index_json = true;
    }
    if (u->position >= 2 && accept_index(u, err) != 0) {
        rc = -1;
        goto out;
    }
    for (size_t i = 0; i < last.done_count; i++) {
        if (strncmp(done[i], "blobs/sha256/", 13) != 0)
            continue;
        struct listed_blob *item = u->position >= 2 ? listing_find(&u->listing, done[i] + 13) : NULL;
        if (!item || item->seen)
            goto out; /* not what this index lists: start over */
        item->seen = true;
        u->stats->blobs_streamed++;
        u->stats->bytes_streamed += item->size;
    }
    r->current = last.k + 1;
    r->read_at = last.boundary;
    u->next_point = u->parts_lined = last.k + 1;
    u->points = 1;
    *at_end = last.end;
    if (!last.end) {
        u->origin = r->delivered = last.r;
        if (last.r >= last.boundary) {
            r->skip = last.r - last.boundary;
        } else {
            r->carry = r->carry_mem = last.carry.data;
            r->carry_len = last.carry.len;
            last.carry.data = NULL; /* kept until the reader is done: see bundle_unpack */
            last.carry.len = last.carry.cap = 0;
        }
        if (last.have) {
            char *partial = xasprintf("%s/%s.partial", u->blob_dir, last.blob);
            struct stat st;
            r->partial_fd = open(partial, O_RDONLY | O_CLOEXEC);
            free(partial);
            if (r->partial_fd < 0 || fstat(r->partial_fd, &st) != 0 || (uint64_t)st.st_size < last.have)
                goto out;
            r->partial_left = last.have;
            snprintf(u->resume_hex, sizeof u->resume_hex, "%s", last.blob);
            u->resume_have = last.have;
        }
    }
    /* what follows the point is written again: cut the journal there */
    if (truncate(path, (off_t)last.length) != 0) {
        rc = error_errno(err, errno, "%s: cannot truncate", path);
        goto out;
    }
    rc = 1;
out:
    if (rc != 1) {
        free(r->carry_mem);
        r->carry_mem = NULL;
        r->carry = NULL;
        r->carry_len = 0;
        if (r->partial_fd >= 0)
            close(r->partial_fd);
        r->partial_fd = -1;
        r->partial_left = 0;
        u->resume_have = 0;
    }
    for (size_t i = 0; i < done_count; i++)
        free(done[i]);
    free(done);
    buffer_free(&last.carry);
    buffer_free(&pt.carry);
    buffer_free(&text);
    free(jp);
    free(path);
    return rc;
}

/* A new journal (and the marker that lets bundle_staging adopt the directory next time). */
static int journal_start(struct unpacker *u, const char *sums_hex, bool fresh, struct error *err)
{
    char *path = path_join(u->staging.tmp, JOURNAL_NAME);
    u->journal_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (fresh ? O_TRUNC : 0), 0644);
    int rc = 0;
    if (u->journal_fd < 0)
        rc = error_errno(err, errno, "%s: cannot create", path);
    if (rc == 0 && fresh) {
        char line[160];
        snprintf(line, sizeof line, "airfactory-unpack 1 %s %zu\n", sums_hex, u->parts->count);
        char *marker = path_join(u->staging.tmp, BUNDLE_STAGING_RESUME_FILE);
        rc = journal_append(u, line, err);
        if (rc == 0)
            rc = fs_write_file_atomic(marker, "", 0, 0644, err);
        free(marker);
    }
    free(path);
    return rc;
}

static int journal_finish(struct unpacker *u, bool journaled, struct error *err)
{
    if (u->journal_fd >= 0)
        close(u->journal_fd);
    u->journal_fd = -1;
    if (!journaled)
        return 0;
    static const char *const names[] = {JOURNAL_NAME, BUNDLE_STAGING_RESUME_FILE};
    for (int i = 0; i < 2; i++) {
        char *path = path_join(u->staging.tmp, names[i]);
        int rc = unlink(path) != 0 && errno != ENOENT ? error_errno(err, errno, "%s: cannot remove", path) : 0;
        free(path);
        if (rc != 0)
            return -1;
    }
    return 0;
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
    struct unpacker u = {
        .o = o, .stats = stats, .input_name = strcmp(o->input, "-") ? o->input : "stdin", .journal_fd = -1};
    u.staging.lock_fd = -1;
    int fd = -1, rc = -1;
    struct parts_reader parts = {.fd = -1, .partial_fd = -1};
    struct error parts_err;
    error_clear(&parts_err);
    parts.err = &parts_err;
    char sums_hex[SHA256_HEX_LEN + 1] = "";
    bool split = strcmp(o->input, "-") != 0 && fs_is_dir(o->input), at_end = false;
    bool journal = split && !o->check_only;
    if (split) {
        if (parts_load(o->input, &parts, sums_hex, err) != 0) {
            parts_free(&parts);
            return -1;
        }
        for (int i = 0; i < RING; i++)
            parts.ring[i] = xmalloc(CHUNK);
        u.parts = &parts;
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
    } else if (bundle_staging_open(&u.staging, target, journal, err) != 0)
        goto out;
    char *blobs = path_join(u.staging.tmp, "blobs");
    u.blob_dir = path_join(blobs, "sha256");
    free(blobs);
    if (fs_mkdir_p(u.blob_dir, 0755, err) != 0)
        goto out;
    if (journal) {
        int resumed = 0;
        if (u.staging.resumed && (resumed = resume_load(&u, sums_hex, &at_end, err)) < 0)
            goto out;
        if (u.staging.resumed && resumed == 0) {
            /* nothing usable in the adopted directory (another pack, or a build's): start over */
            progress(&u, "the interrupted run's journal does not fit this pack; starting from the first part");
            u.points = 0;
            bundle_staging_abort(&u.staging);
            free(u.blob_dir);
            u.blob_dir = NULL;
            if (bundle_staging_open(&u.staging, target, false, err) != 0)
                goto out;
            u.blob_dir = xasprintf("%s/blobs/sha256", u.staging.tmp);
            if (fs_mkdir_p(u.blob_dir, 0755, err) != 0)
                goto out;
        }
        if (journal_start(&u, sums_hex, resumed == 0, err) != 0)
            goto out;
    }
    if (!at_end) {
        u.a = archive_read_new();
        archive_read_support_format_tar(u.a);
        archive_read_support_filter_gzip(u.a);
        archive_read_support_filter_xz(u.a);
        archive_read_support_filter_zstd(u.a);
        if ((split ? archive_read_open2(u.a, &parts, NULL, parts_read, NULL, NULL)
                   : archive_read_open_fd(u.a, fd, CHUNK)) != ARCHIVE_OK) {
            if (parts.failed)
                *err = parts_err;
            else
                stream_error(&u, "opening", err);
            goto out;
        }
        if (journal && archive_filter_code(u.a, 0) != ARCHIVE_FILTER_NONE) {
            /* resume points are stream offsets of a plain tar; `pack --split` never compresses */
            close(u.journal_fd);
            u.journal_fd = -1;
        }
    }
    if (unpack_entries(&u, at_end, err) != 0) {
        if (parts.failed)
            *err = parts_err; /* the part at fault, rather than what libarchive made of it */
        goto out;
    }
    if (split && !at_end && parts_drain(u.a, &parts, err) != 0)
        goto out;
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
    if (journal_finish(&u, journal, err) != 0 || bundle_staging_commit(&u.staging, err) != 0)
        goto out;
    rc = 0;
out:
    if (u.a)
        archive_read_free(u.a);
    if (fd > STDIN_FILENO)
        close(fd);
    if (u.journal_fd >= 0)
        close(u.journal_fd);
    bundle_close(u.b);
    bundle_key_free(u.key);
    listing_free(&u.listing);
    free(u.blob_dir);
    free(u.oci_index_digest);
    buffer_free(&u.entry_raw);
    parts_free(&parts);
    if (rc != 0 && journal && u.points > 0 && u.staging.tmp) {
        /* keep the staging directory and its journal: a rerun goes on from the last resume point */
        free(u.staging.tmp);
        u.staging.tmp = NULL;
    }
    if (rc != 0 || o->check_only)
        bundle_staging_abort(&u.staging); /* check_only: removes the private directory */
    return rc;
}
