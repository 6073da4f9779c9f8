/* xfs_image — see xfs_image.h. */
#include "format/xfs_image.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airfactory/buffer.h"
#include "core/endian.h"
#include "core/fs.h"
#include "core/memory.h"
#include "core/tool.h"

/* ------------------------------------------------------------------ CRC32c */

uint32_t xfs_image_crc32c(const void *data, size_t len)
{
    static uint32_t table[256];
    static bool ready;
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1; /* reflected Castagnoli polynomial */
            table[i] = c;
        }
        ready = true;
    }
    const uint8_t *p = data;
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < len; i++)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ------------------------------------------------------------------ timestamps */

/* The superblock fields the inode scan needs (xfs_format.h struct xfs_dsb, big-endian). */
struct xfs_geometry {
    uint32_t block_size, ag_blocks, ag_count;
    uint16_t inode_size;
    uint8_t ag_block_log, inodes_per_block_log;
    uint8_t uuid[16]; /* sb_meta_uuid when the META_UUID feature is set, else sb_uuid */
};

static int read_geometry(int fd, const char *what, struct xfs_geometry *g, struct error *err)
{
    uint8_t sb[512];
    if (pread(fd, sb, sizeof sb, 0) != (ssize_t)sizeof sb)
        return error_errno(err, errno ? errno : EIO, "%s: reading the XFS superblock", what);
    if (memcmp(sb, "XFSB", 4) != 0)
        return error_set(err, ERROR_RUNTIME, "%s: no XFS superblock (magic XFSB) at offset 0", what);
    g->block_size = (uint32_t)be_get_n(sb + 4, 4);
    g->ag_blocks = (uint32_t)be_get_n(sb + 84, 4);
    g->ag_count = (uint32_t)be_get_n(sb + 88, 4);
    uint16_t version = (uint16_t)be_get_n(sb + 100, 2);
    g->inode_size = (uint16_t)be_get_n(sb + 104, 2);
    g->ag_block_log = sb[124];
    g->inodes_per_block_log = sb[123];
    uint32_t incompat = (uint32_t)be_get_n(sb + 216, 4);        /* sb_features_incompat */
    memcpy(g->uuid, (incompat & 0x4) ? sb + 248 : sb + 32, 16); /* XFS_SB_FEAT_INCOMPAT_META_UUID */
    if ((version & 0xf) != 5)
        return error_set(err, ERROR_RUNTIME, "%s: XFS version %u; only v5 (CRC) file systems are supported", what,
                         version & 0xf);
    if (g->inode_size < 256 || g->inode_size > 2048 || (g->inode_size & (g->inode_size - 1)) || g->block_size < 512 ||
        g->block_size > 65536 || g->ag_blocks == 0 || g->ag_block_log > 31 || g->inodes_per_block_log > 7)
        return error_set(err, ERROR_RUNTIME, "%s: implausible XFS geometry", what);
    return 0;
}

/* Byte offset of inode `ino` (xfs_format.h XFS_INO_TO_AGNO/AGBNO/OFFSET). */
static uint64_t inode_offset(const struct xfs_geometry *g, uint64_t ino)
{
    unsigned agino_bits = (unsigned)g->ag_block_log + g->inodes_per_block_log;
    uint64_t agno = ino >> agino_bits;
    uint64_t agino = ino & ((1ull << agino_bits) - 1);
    uint64_t agbno = agino >> g->inodes_per_block_log;
    uint64_t slot = agino & ((1ull << g->inodes_per_block_log) - 1);
    return (agno * g->ag_blocks + agbno) * g->block_size + slot * g->inode_size;
}

/* struct xfs_dinode offsets (v3 inodes) */
#define DI_MAGIC 0
#define DI_MODE 2
#define DI_VERSION 4
#define DI_ATIME 32
#define DI_MTIME 40
#define DI_CTIME 48
#define DI_CRC 100
#define DI_FLAGS2 120
#define DI_CRTIME 144
#define DI_INO 152
#define DI_UUID 160
#define DIFLAG2_BIGTIME (1u << 3)
/* bigtime: nanoseconds since the old 32-bit epoch's minimum, 1901-12-13 (XFS_BIGTIME_EPOCH_OFFSET) */
#define BIGTIME_EPOCH_OFFSET 2147483648ull

static bool inode_crc_ok(uint8_t *inode, size_t size)
{
    uint8_t stored[4];
    memcpy(stored, inode + DI_CRC, 4);
    memset(inode + DI_CRC, 0, 4);
    uint32_t crc = xfs_image_crc32c(inode, size);
    memcpy(inode + DI_CRC, stored, 4);
    uint32_t have = le32_get(stored); /* the CRC is stored little-endian */
    return crc == have;
}

static void inode_set_crc(uint8_t *inode, size_t size)
{
    memset(inode + DI_CRC, 0, 4);
    le32_put(inode + DI_CRC, xfs_image_crc32c(inode, size));
}

/* Returns true when the slot at `offset` is an in-use inode of this file system (see the header). */
static bool inode_here(const struct xfs_geometry *g, uint8_t *inode, uint64_t offset)
{
    return inode[DI_MAGIC] == 'I' && inode[DI_MAGIC + 1] == 'N' && inode[DI_VERSION] == 3 &&
           be_get_n(inode + DI_MODE, 2) != 0 && memcmp(inode + DI_UUID, g->uuid, 16) == 0 &&
           inode_offset(g, be_get_n(inode + DI_INO, 8)) == offset && inode_crc_ok(inode, g->inode_size);
}

static void inode_set_times(uint8_t *inode, uint32_t seconds)
{
    static const int fields[] = {DI_ATIME, DI_MTIME, DI_CTIME, DI_CRTIME};
    bool bigtime = (be_get_n(inode + DI_FLAGS2, 8) & DIFLAG2_BIGTIME) != 0;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (bigtime)
            be_put_n(inode + fields[i], ((uint64_t)seconds + BIGTIME_EPOCH_OFFSET) * 1000000000ull, 8);
        else {
            be_put_n(inode + fields[i], seconds, 4); /* t_sec */
            be_put_n(inode + fields[i] + 4, 0, 4);   /* t_nsec */
        }
    }
}

#define SCAN_CHUNK (1u << 20)

int xfs_image_set_times(int fd, const char *what, uint32_t seconds, size_t *count, struct error *err)
{
    struct xfs_geometry g;
    if (read_geometry(fd, what, &g, err) != 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return error_errno(err, errno, "%s: stat", what);
    uint64_t size = (uint64_t)st.st_size, pos = 0;
    uint8_t *buf = xmalloc(SCAN_CHUNK);
    size_t changed = 0;
    int rc = 0;
    uint64_t data, end;
    int more;
    while (rc == 0 && (more = fs_next_extent(fd, pos, size, &data, &end, what, err)) != 0) {
        if (more < 0) {
            rc = -1;
            break;
        }
        /* inode chunks are block-aligned, so scanning in inode-size steps from an aligned start
         * visits every inode slot of this extent */
        uint64_t p = data & ~((uint64_t)g.inode_size - 1);
        while (rc == 0 && p < end) {
            size_t n = end - p < SCAN_CHUNK ? (size_t)(end - p) : SCAN_CHUNK;
            n -= n % g.inode_size;
            if (n == 0)
                break;
            ssize_t r = pread(fd, buf, n, (off_t)p);
            if (r != (ssize_t)n) {
                rc = error_errno(err, r < 0 ? errno : EIO, "%s: read at %" PRIu64, what, p);
                break;
            }
            bool dirty = false;
            for (size_t i = 0; i < n; i += g.inode_size) {
                if (!inode_here(&g, buf + i, p + i))
                    continue;
                inode_set_times(buf + i, seconds);
                inode_set_crc(buf + i, g.inode_size);
                dirty = true;
                changed++;
            }
            if (dirty)
                rc = fs_pwrite_all(fd, buf, n, p, what, err);
            p += n;
        }
        pos = end;
    }
    free(buf);
    if (rc == 0 && changed == 0)
        rc = error_set(err, ERROR_RUNTIME, "%s: no XFS inodes found (not an image made by mkfs.xfs?)", what);
    if (count)
        *count = changed;
    return rc;
}

/* ------------------------------------------------------------------ protofile */

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct xfs_image_file *)a)->path, ((const struct xfs_image_file *)b)->path);
}

static bool has_space(const char *s)
{
    for (; *s; s++)
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
            return true;
    return false;
}

static void indent(struct buffer *b, int depth)
{
    for (int i = 0; i < depth; i++)
        buffer_append_char(b, ' ');
}

/* Entries under `prefix` ("" or "A/"): files first, then each subdirectory, as Talos'
 * protofile writer (pkg/makefs/protofile.go) orders them. sources[i] is file i's content path. */
static void proto_dir(struct buffer *b, const struct xfs_image_file *files, char *const *sources, size_t n,
                      const char *prefix, int depth)
{
    size_t pl = strlen(prefix);
    for (size_t i = 0; i < n; i++) {
        if (strncmp(files[i].path, prefix, pl) != 0)
            continue; /* (a path shorter than the prefix has no rest to look at) */
        const char *rest = files[i].path + pl;
        if (strchr(rest, '/'))
            continue;
        indent(b, depth);
        buffer_appendf(b, "%s ---%o 0 0 %s\n", rest, files[i].mode ? files[i].mode & 07777 : 0644, sources[i]);
    }
    const char *last = NULL;
    size_t last_len = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(files[i].path, prefix, pl) != 0)
            continue;
        const char *rest = files[i].path + pl;
        const char *slash = strchr(rest, '/');
        if (!slash)
            continue;
        size_t len = (size_t)(slash - rest);
        if (last && last_len == len && !strncmp(last, rest, len))
            continue; /* sorted input: one directory's entries are adjacent */
        last = rest;
        last_len = len;
        indent(b, depth);
        buffer_appendf(b, "%.*s d--755 0 0\n", (int)len, rest);
        char *sub = xasprintf("%.*s%.*s/", (int)pl, prefix, (int)len, rest);
        proto_dir(b, files, sources, n, sub, depth + 1);
        free(sub);
        indent(b, depth);
        buffer_append_str(b, "$\n");
    }
}

int xfs_image_write(const char *out_path, const struct xfs_image_options *o, const struct xfs_image_file *files,
                    size_t count, struct error *err)
{
    if (!o->label || strlen(o->label) > 12 || has_space(o->label) || !o->uuid)
        return error_set(err, ERROR_INPUT, "%s: XFS label (1..12 characters, no spaces) and UUID are required", out_path);
    if (has_space(out_path))
        return error_set(err, ERROR_INPUT,
                         "%s: the path contains white space, which mkfs.xfs protofiles cannot name; use another work "
                         "directory",
                         out_path);
    struct xfs_image_file *sorted = xcalloc(count ? count : 1, sizeof *sorted);
    if (count)
        memcpy(sorted, files, count * sizeof *sorted);
    qsort(sorted, count, sizeof *sorted, by_path);
    char **sources = xcalloc(count ? count : 1, sizeof *sources);
    /* helper files are named after the output, so concurrent images never share them */
    char *proto = xasprintf("%s.proto", out_path);
    char *log = xasprintf("%s.mkfs.log", out_path);
    struct buffer b = BUFFER_INIT;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        const char *p = sorted[i].path;
        if (!*p || p[0] == '/' || p[strlen(p) - 1] == '/' || strstr(p, "//") || has_space(p) || p[0] == '$' ||
            strstr(p, "/$"))
            rc = error_set(err, ERROR_INPUT, "%s: \"%s\" cannot be named in an mkfs.xfs protofile", out_path, p);
        else if (i > 0 && strcmp(sorted[i - 1].path, p) == 0)
            rc = error_set(err, ERROR_INPUT, "%s: \"%s\" is listed twice", out_path, p);
        else if (sorted[i].source) {
            if (has_space(sorted[i].source))
                rc = error_set(err, ERROR_INPUT, "%s: source path \"%s\" contains white space (mkfs.xfs protofile)",
                               out_path, sorted[i].source);
            else
                sources[i] = xstrdup(sorted[i].source);
        } else {
            sources[i] = xasprintf("%s.%zu.data", out_path, i);
            rc = fs_write_file_atomic(sources[i], sorted[i].data ? sorted[i].data : "", sorted[i].size, 0600, err);
        }
    }
    if (rc == 0) {
        /* boot-image line (unused), "blocks inodes" (0 0 = no minimum), the root directory */
        buffer_append_str(&b, "/\n0 0\nd--755 0 0\n");
        proto_dir(&b, sorted, sources, count, "", 1);
        buffer_append_str(&b, "$\n");
        rc = fs_write_file_atomic(proto, b.data, b.len, 0600, err);
    }
    int fd = -1;
    if (rc == 0) {
        fd = open(out_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
            rc = error_errno(err, errno, "%s: create", out_path);
        else if (ftruncate(fd, (off_t)o->size) != 0)
            rc = error_errno(err, errno, "%s: extending to %" PRIu64 " bytes", out_path, o->size);
    }
    if (rc == 0) {
        /* The feature set of Talos' lts_6.1.conf (metadata: crc, finobt, inobtcount, reflink,
         * bigtime on, rmapbt off; sparse inodes; ftype). xfsprogs 6.1 rejects its own config
         * files' nrext64 key, so the options are given on the command line; nrext64 is off by
         * default there, as the config file says. */
        char meta[160], sector[32];
        snprintf(meta, sizeof meta, "crc=1,finobt=1,inobtcount=1,reflink=1,rmapbt=0,bigtime=1,uuid=%s", o->uuid);
        snprintf(sector, sizeof sector, "size=%u", o->sector_size ? o->sector_size : 512);
        const char *argv[] = {o->mkfs ? o->mkfs : "mkfs.xfs",
                              "-q",
                              "-f",
                              "-n",
                              "ftype=1",
                              "-m",
                              meta,
                              "-i",
                              "sparse=1",
                              "-L",
                              o->label,
                              "-s",
                              sector,
                              "-p",
                              proto,
                              out_path,
                              NULL};
        rc = tool_run((char *const *)argv, log, err);
    }
    if (rc == 0)
        rc = xfs_image_set_times(fd, out_path, o->mtime, NULL, err);
    if (fd >= 0 && close(fd) != 0 && rc == 0)
        rc = error_errno(err, errno, "%s: close", out_path);
    if (rc != 0)
        unlink(out_path);
    for (size_t i = 0; i < count; i++) {
        if (sources[i] && !sorted[i].source)
            unlink(sources[i]);
        free(sources[i]);
    }
    unlink(proto);
    unlink(log);
    buffer_free(&b);
    free(sources);
    free(sorted);
    free(proto);
    free(log);
    return rc == 0 ? 0 : error_prefix(err, "XFS image: ");
}
