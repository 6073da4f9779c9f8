/* cpio — see cpio.h. */
#include "format/cpio.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/memory.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define NEWC_HEADER 110
#define TRAILER "TRAILER!!!"

/* ---- writer ---- */

void cpio_writer_init(struct cpio_writer *w, struct compress_sink sink, uint32_t mtime)
{
    w->sink = sink;
    w->offset = 0;
    w->next_ino = 1;
    w->mtime = mtime;
}

static int emit(struct cpio_writer *w, const void *data, size_t len, struct error *err)
{
    if (!len)
        return 0;
    if (w->sink.write(w->sink.ctx, data, len, err) != 0)
        return -1;
    w->offset += len;
    return 0;
}

static int pad4(struct cpio_writer *w, struct error *err)
{
    static const char zeros[4] = {0};
    size_t pad = (4 - (w->offset & 3)) & 3;
    return emit(w, zeros, pad, err);
}

static int write_header(struct cpio_writer *w, const char *name, uint32_t mode, uint32_t nlink, uint64_t size,
                        struct error *err)
{
    if (size > 0xffffffffu)
        return error_set(err, ERROR_INPUT, "cpio: %s: %llu bytes is more than newc's 4 GiB limit", name,
                         (unsigned long long)size);
    size_t namesize = strlen(name) + 1;
    char hdr[NEWC_HEADER + 1];
    uint32_t ino = strcmp(name, TRAILER) ? w->next_ino++ : 0;
    snprintf(hdr, sizeof hdr, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ino, mode, 0u, 0u, nlink,
             strcmp(name, TRAILER) ? w->mtime : 0u, (uint32_t)size, 0u, 0u, 0u, 0u, (uint32_t)namesize, 0u);
    if (emit(w, hdr, NEWC_HEADER, err) != 0 || emit(w, name, namesize, err) != 0)
        return -1;
    return pad4(w, err);
}

int cpio_write_dir(struct cpio_writer *w, const char *name, mode_t perm, struct error *err)
{
    return write_header(w, name, S_IFDIR | (perm & 07777), 2, 0, err);
}

int cpio_write_data(struct cpio_writer *w, const char *name, mode_t perm, const void *data, size_t len, struct error *err)
{
    if (write_header(w, name, S_IFREG | (perm & 07777), 1, len, err) != 0 || emit(w, data, len, err) != 0)
        return -1;
    return pad4(w, err);
}

int cpio_write_file(struct cpio_writer *w, const char *name, mode_t perm, const char *path, struct error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "%s: cannot open", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int saved = errno;
        close(fd);
        return error_errno(err, saved, "%s: cannot stat", path);
    }
    if (write_header(w, name, S_IFREG | (perm & 07777), 1, (uint64_t)st.st_size, err) != 0) {
        close(fd);
        return -1;
    }
    enum { CHUNK = 1 << 20 };
    char *buf = xmalloc(CHUNK);
    uint64_t left = (uint64_t)st.st_size;
    int rc = 0;
    while (left) {
        ssize_t n = read(fd, buf, left < CHUNK ? (size_t)left : CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? error_errno(err, errno, "%s: read failed", path)
                       : error_set(err, ERROR_RUNTIME, "%s: file shrank while it was being archived", path);
            break;
        }
        if (emit(w, buf, (size_t)n, err) != 0) {
            rc = -1;
            break;
        }
        left -= (uint64_t)n;
    }
    free(buf);
    close(fd);
    return rc ? rc : pad4(w, err);
}

int cpio_write_symlink(struct cpio_writer *w, const char *name, const char *target, struct error *err)
{
    size_t len = strlen(target);
    if (write_header(w, name, S_IFLNK | 0777, 1, len, err) != 0 || emit(w, target, len, err) != 0)
        return -1;
    return pad4(w, err);
}

int cpio_write_trailer(struct cpio_writer *w, unsigned pad_to, struct error *err)
{
    if (write_header(w, TRAILER, 0, 1, 0, err) != 0)
        return -1;
    if (pad_to > 1) {
        static const char zeros[512] = {0};
        uint64_t pad = (pad_to - (w->offset % pad_to)) % pad_to;
        while (pad) {
            size_t n = pad > sizeof zeros ? sizeof zeros : (size_t)pad;
            if (emit(w, zeros, n, err) != 0)
                return -1;
            pad -= n;
        }
    }
    return 0;
}

/* ---- reader ---- */

enum parser_state { P_RESET, P_HEADER, P_NAME, P_DATA, P_DATA_PAD };

struct parser {
    const char *path;
    const struct cpio_read_options *opts;
    struct cpio_listing *out;
    uint64_t segment_offset;
    enum parser_state state;
    uint64_t pos; /* bytes of the (decoded) stream seen */
    unsigned char hdr[NEWC_HEADER];
    size_t have;
    size_t namesize, name_total;
    char *name;
    uint64_t data_left;
    size_t pad_left;
    bool stop_at_trailer, trailer_done, any_trailer;
    struct cpio_entry cur;
    struct sha256_stream sha;
    bool sha_open;
    int extract_fd;
};

static int parse_hex8(const unsigned char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        int c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 0;
}

static bool safe_relative(const char *name)
{
    if (!*name || name[0] == '/')
        return false;
    const char *p = name;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if ((n == 2 && !strncmp(p, "..", 2)))
            return false;
        p += n;
        while (*p == '/')
            p++;
    }
    return true;
}

static int begin_entry(struct parser *ps, struct error *err)
{
    uint32_t f[13];
    for (int i = 0; i < 13; i++)
        if (parse_hex8(ps->hdr + 6 + 8 * i, &f[i]) != 0)
            return error_set(err, ERROR_INPUT, "%s: segment at offset %llu: bad hex digits in a newc header", ps->path,
                             (unsigned long long)ps->segment_offset);
    memset(&ps->cur, 0, sizeof ps->cur);
    ps->cur.mode = f[1];
    ps->cur.uid = f[2];
    ps->cur.gid = f[3];
    ps->cur.nlink = f[4];
    ps->cur.mtime = f[5];
    ps->cur.size = f[6];
    ps->namesize = f[11];
    if (ps->namesize == 0 || ps->namesize > 65536)
        return error_set(err, ERROR_INPUT, "%s: segment at offset %llu: newc name size %zu is invalid", ps->path,
                         (unsigned long long)ps->segment_offset, ps->namesize);
    ps->name_total = ps->namesize + ((4 - ((NEWC_HEADER + ps->namesize) & 3)) & 3);
    ps->name = xmalloc(ps->name_total + 1);
    ps->have = 0;
    return 0;
}

static int start_data(struct parser *ps, struct error *err)
{
    ps->name[ps->namesize - 1] = '\0';
    ps->data_left = ps->cur.size;
    ps->pad_left = (size_t)((4 - (ps->cur.size & 3)) & 3);
    if (!strcmp(ps->name, TRAILER)) {
        free(ps->name);
        ps->name = NULL;
        ps->any_trailer = true;
        ps->state = P_DATA_PAD; /* trailer has no data; its pad is 0 */
        ps->trailer_done = true;
        return 0;
    }
    ps->trailer_done = false;
    ps->cur.name = ps->name;
    ps->name = NULL;
    sha256_stream_init(&ps->sha);
    ps->sha_open = true;
    ps->extract_fd = -1;
    if (ps->opts && ps->opts->extract_dir) {
        const char *n = ps->cur.name;
        while (n[0] == '.' && n[1] == '/')
            n += 2;
        if (safe_relative(n) && strcmp(n, ".")) {
            char *dst = path_join(ps->opts->extract_dir, n);
            if (S_ISDIR(ps->cur.mode)) {
                if (fs_mkdir_p(dst, 0755, err) != 0) {
                    free(dst);
                    return -1;
                }
            } else if (S_ISREG(ps->cur.mode)) {
                char *slash = strrchr(dst, '/');
                *slash = '\0';
                int rc = fs_mkdir_p(dst, 0755, err);
                *slash = '/';
                if (rc != 0) {
                    free(dst);
                    return -1;
                }
                ps->extract_fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (ps->extract_fd < 0) {
                    int saved = errno;
                    error_errno(err, saved, "%s: cannot create", dst);
                    free(dst);
                    return -1;
                }
            }
            free(dst);
        }
    }
    ps->state = P_DATA;
    return 0;
}

static int finish_entry(struct parser *ps, struct error *err)
{
    if (ps->extract_fd >= 0) {
        if (close(ps->extract_fd) != 0) {
            ps->extract_fd = -1;
            return error_errno(err, errno, "extracting %s: close failed", ps->cur.name);
        }
        ps->extract_fd = -1;
    }
    sha256_stream_final_hex(&ps->sha, ps->cur.sha256);
    ps->sha_open = false;
    struct cpio_listing *l = ps->out;
    l->entries = xrealloc(l->entries, (l->entry_count + 1) * sizeof *l->entries);
    l->entries[l->entry_count++] = ps->cur;
    memset(&ps->cur, 0, sizeof ps->cur);
    return 0;
}

/* Consume bytes of one (decoded) stream. With stop_at_trailer, returns after the trailer of the
 * first archive and its padding; *consumed says how far it got. */
static int parser_feed(struct parser *ps, const unsigned char *p, size_t len, size_t *consumed, struct error *err)
{
    size_t i = 0;
    while (i < len) {
        switch (ps->state) {
        case P_RESET:
            if (ps->stop_at_trailer && ps->trailer_done) {
                *consumed = i;
                return 0;
            }
            if (p[i] == 0) {
                i++;
                ps->pos++;
                continue;
            }
            if (ps->pos & 3)
                return error_set(err, ERROR_INPUT,
                                 "%s: segment at offset %llu: archive data at unaligned stream offset %llu", ps->path,
                                 (unsigned long long)ps->segment_offset, (unsigned long long)ps->pos);
            ps->state = P_HEADER;
            ps->have = 0;
            break;
        case P_HEADER: {
            size_t n = NEWC_HEADER - ps->have;
            if (n > len - i)
                n = len - i;
            memcpy(ps->hdr + ps->have, p + i, n);
            ps->have += n;
            i += n;
            ps->pos += n;
            if (ps->have < NEWC_HEADER)
                break;
            if (memcmp(ps->hdr, "070701", 6) && memcmp(ps->hdr, "070702", 6))
                return error_set(err, ERROR_INPUT,
                                 "%s: segment at offset %llu: no newc magic 070701 at stream offset %llu", ps->path,
                                 (unsigned long long)ps->segment_offset, (unsigned long long)(ps->pos - NEWC_HEADER));
            if (begin_entry(ps, err) != 0)
                return -1;
            ps->state = P_NAME;
            break;
        }
        case P_NAME: {
            size_t n = ps->name_total - ps->have;
            if (n > len - i)
                n = len - i;
            memcpy(ps->name + ps->have, p + i, n);
            ps->have += n;
            i += n;
            ps->pos += n;
            if (ps->have < ps->name_total)
                break;
            if (start_data(ps, err) != 0)
                return -1;
            break;
        }
        case P_DATA: {
            uint64_t n64 = ps->data_left;
            if (n64 > len - i)
                n64 = len - i;
            size_t n = (size_t)n64;
            sha256_stream_update(&ps->sha, p + i, n);
            if (ps->opts && ps->cur.size <= ps->opts->capture_max)
                buffer_append(&ps->cur.data, p + i, n);
            if (ps->extract_fd >= 0 && fs_write_all(ps->extract_fd, p + i, n, ps->cur.name, err) != 0)
                return -1;
            ps->data_left -= n;
            i += n;
            ps->pos += n;
            if (ps->data_left == 0)
                ps->state = P_DATA_PAD;
            break;
        }
        case P_DATA_PAD: {
            size_t n = ps->pad_left;
            if (n > len - i)
                n = len - i;
            ps->pad_left -= n;
            i += n;
            ps->pos += n;
            if (ps->pad_left)
                break;
            if (!ps->trailer_done && finish_entry(ps, err) != 0)
                return -1;
            ps->state = P_RESET;
            break;
        }
        }
    }
    if (ps->state == P_DATA_PAD && ps->pad_left == 0) {
        if (!ps->trailer_done && finish_entry(ps, err) != 0)
            return -1;
        ps->state = P_RESET;
    }
    *consumed = i;
    return 0;
}

static void parser_cleanup(struct parser *ps)
{
    free(ps->name);
    ps->name = NULL;
    if (ps->sha_open)
        sha256_stream_abort(&ps->sha);
    ps->sha_open = false;
    if (ps->extract_fd >= 0)
        close(ps->extract_fd);
    ps->extract_fd = -1;
    free(ps->cur.name);
    buffer_free(&ps->cur.data);
    memset(&ps->cur, 0, sizeof ps->cur);
}

static int parser_sink_write(void *ctx, const void *data, size_t len, struct error *err)
{
    size_t used;
    return parser_feed(ctx, data, len, &used, err);
}

static void parser_start(struct parser *ps, uint64_t offset, bool stop_at_trailer)
{
    ps->segment_offset = offset;
    ps->state = P_RESET;
    ps->pos = 0;
    ps->stop_at_trailer = stop_at_trailer;
    ps->trailer_done = false;
    ps->any_trailer = false;
    ps->extract_fd = -1;
}

static int add_segment(struct cpio_listing *l, uint64_t offset, uint64_t length, enum compress_kind kind, size_t first)
{
    l->segments = xrealloc(l->segments, (l->segment_count + 1) * sizeof *l->segments);
    struct cpio_segment *s = &l->segments[l->segment_count++];
    s->offset = offset;
    s->length = length;
    s->compression = kind;
    s->first_entry = first;
    s->entry_count = l->entry_count - first;
    return 0;
}

int cpio_read_segments(const char *path, const struct cpio_read_options *opts, struct cpio_listing *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "%s: cannot open", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int saved = errno;
        close(fd);
        return error_errno(err, saved, "%s: cannot stat", path);
    }
    size_t size = (size_t)st.st_size;
    out->file_size = size;
    if (size == 0) {
        close(fd);
        return error_set(err, ERROR_INPUT, "%s: empty file; an initramfs holds at least one cpio archive", path);
    }
    const unsigned char *data = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (data == MAP_FAILED)
        return error_errno(err, errno, "%s: cannot map", path);

    struct parser ps;
    memset(&ps, 0, sizeof ps);
    ps.path = path;
    ps.opts = opts;
    ps.out = out;
    ps.extract_fd = -1;
    int rc = 0;
    size_t off = 0;
    while (off < size) {
        if (data[off] == 0) { /* the kernel skips zeros between segments */
            off++;
            continue;
        }
        size_t first = out->entry_count;
        if (data[off] == '0' && (off & 3) == 0) {
            parser_start(&ps, off, true);
            size_t used = 0;
            if (parser_feed(&ps, data + off, size - off, &used, err) != 0) {
                rc = -1;
                break;
            }
            if (!ps.trailer_done || ps.state != P_RESET) {
                rc = error_set(err, ERROR_INPUT, "%s: uncompressed archive at offset %zu has no TRAILER!!! entry", path,
                               off);
                break;
            }
            add_segment(out, off, used, COMPRESS_NONE, first);
            off += used;
            continue;
        }
        enum compress_kind kind = compress_detect(data + off, size - off);
        if (kind == COMPRESS_NONE) {
            bool looks_raw = size - off >= 6 && !memcmp(data + off, "0707", 4);
            rc = error_set(err, ERROR_INPUT,
                           "%s: offset %zu: %s; the kernel stops unpacking here (\"invalid magic at start of "
                           "compressed archive\")",
                           path, off,
                           looks_raw ? "uncompressed cpio archive at an offset that is not a multiple of 4"
                                     : "neither a cpio archive nor a gzip/xz/zstd stream");
            break;
        }
        if (kind == COMPRESS_XZ && size - off >= 8 && (data[off + 7] & 0x0f) != 0x00 && (data[off + 7] & 0x0f) != 0x01) {
            rc = error_set(err, ERROR_INPUT,
                           "%s: offset %zu: xz stream with integrity check type %u; the kernel accepts only "
                           "CRC32 or none (compress with LZMA_CHECK_CRC32 / xz --check=crc32)",
                           path, off, data[off + 7] & 0x0f);
            break;
        }
        struct decompressor *d;
        if (decompressor_open(&d, kind, err) != 0) {
            rc = -1;
            break;
        }
        parser_start(&ps, off, false);
        struct compress_sink sink = {parser_sink_write, &ps};
        size_t used = 0;
        bool done = false;
        size_t pos = off;
        while (!done) {
            size_t chunk = size - pos > (8u << 20) ? (8u << 20) : size - pos;
            size_t c = 0;
            if (decompressor_feed(d, data + pos, chunk, &c, &done, sink, err) != 0) {
                error_prefix(err, "%s: %s segment at offset %zu: ", path, compress_kind_name(kind), off);
                rc = -1;
                break;
            }
            pos += c;
            if (chunk == 0)
                break;
        }
        decompressor_free(d);
        if (rc)
            break;
        used = pos - off;
        if (ps.state != P_RESET || !ps.any_trailer) {
            rc = error_set(err, ERROR_INPUT, "%s: %s segment at offset %zu: %s", path, compress_kind_name(kind), off,
                           ps.any_trailer ? "archive cut off in the middle of an entry"
                                          : "no complete cpio archive (TRAILER!!! missing)");
            break;
        }
        add_segment(out, off, used, kind, first);
        off += used;
    }
    parser_cleanup(&ps);
    munmap((void *)data, size);
    if (rc)
        cpio_listing_free(out);
    return rc;
}

const struct cpio_entry *cpio_listing_find(const struct cpio_listing *l, const char *name)
{
    for (size_t i = l->entry_count; i-- > 0;) {
        const char *n = l->entries[i].name;
        while (n[0] == '.' && n[1] == '/')
            n += 2;
        while (*n == '/')
            n++;
        if (!strcmp(n, name))
            return &l->entries[i];
    }
    return NULL;
}

void cpio_listing_free(struct cpio_listing *l)
{
    for (size_t i = 0; i < l->entry_count; i++) {
        free(l->entries[i].name);
        buffer_free(&l->entries[i].data);
    }
    free(l->entries);
    free(l->segments);
    memset(l, 0, sizeof *l);
}
