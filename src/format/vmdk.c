/* vmdk — see vmdk.h. Format: VMware "Virtual Disk Format 1.1" (sparse extents,
 * stream-optimised compressed extents); what qemu's block/vmdk.c reads back. */
#include "format/vmdk.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/digest.h"
#include "core/endian.h"
#include "core/fs.h"
#include "core/memory.h"

#define SECTOR 512u
#define GRAIN_SECTORS 128u /* 64 KiB grains, as VMware and qemu write them */
#define GRAIN_BYTES (GRAIN_SECTORS * SECTOR)
#define GTES_PER_GT 512u /* one grain table covers 32 MiB */
#define DESCRIPTOR_SECTORS 20u
#define READ_GRAINS 16u /* grains read per pread */

#define FLAG_NEWLINE_TEST (1u << 0)
#define FLAG_COMPRESSED (1u << 16)
#define FLAG_MARKERS (1u << 17)
#define GD_AT_END UINT64_MAX

enum { MARKER_EOS = 0, MARKER_GT = 1, MARKER_GD = 2, MARKER_FOOTER = 3 };

struct vmdk_out {
    struct compress_sink sink;
    uint64_t pos; /* bytes written so far */
};

static int out_write(struct vmdk_out *o, const void *data, size_t len, struct error *err)
{
    if (len && o->sink.write(o->sink.ctx, data, len, err) != 0)
        return -1;
    o->pos += len;
    return 0;
}

/* zero bytes up to the next sector boundary */
static int out_pad(struct vmdk_out *o, struct error *err)
{
    static const uint8_t zeros[SECTOR];
    size_t rem = (size_t)(o->pos % SECTOR);
    return rem ? out_write(o, zeros, SECTOR - rem, err) : 0;
}

/* The sparse extent header (also the footer, then with the grain directory's real offset). */
static void header_fill(uint8_t h[SECTOR], uint64_t capacity_sectors, uint64_t gd_offset)
{
    memset(h, 0, SECTOR);
    memcpy(h, "KDMV", 4);
    le_put_n(h + 4, 3, 4); /* version 3: stream-optimised */
    le_put_n(h + 8, FLAG_NEWLINE_TEST | FLAG_COMPRESSED | FLAG_MARKERS, 4);
    le_put_n(h + 12, capacity_sectors, 8);
    le_put_n(h + 20, GRAIN_SECTORS, 8);
    le_put_n(h + 28, 1, 8); /* descriptor at sector 1 */
    le_put_n(h + 36, DESCRIPTOR_SECTORS, 8);
    le_put_n(h + 44, GTES_PER_GT, 4);
    le_put_n(h + 48, 0, 8); /* no redundant grain directory */
    le_put_n(h + 56, gd_offset, 8);
    le_put_n(h + 64, GRAIN_SECTORS, 8); /* overhead: header + descriptor, rounded up to a grain */
    h[72] = 0;                          /* clean */
    h[73] = '\n', h[74] = ' ', h[75] = '\r', h[76] = '\n';
    le_put_n(h + 77, 1, 2); /* deflate */
}

static int write_marker(struct vmdk_out *o, uint64_t sectors, uint32_t type, struct error *err)
{
    uint8_t m[SECTOR];
    memset(m, 0, sizeof m);
    le_put_n(m, sectors, 8);
    le_put_n(m + 12, type, 4);
    return out_write(o, m, sizeof m, err);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* One grain: marker (LBA, compressed length) + zlib stream, padded to a sector. */
static int write_grain(struct vmdk_out *o, uint64_t lba, const uint8_t *data, uint8_t *z, size_t z_cap, struct error *err)
{
    uLongf zlen = (uLongf)z_cap - 12;
    if (compress2(z + 12, &zlen, data, GRAIN_BYTES, Z_DEFAULT_COMPRESSION) != Z_OK)
        return error_set(err, ERROR_RUNTIME, "vmdk: deflate of grain at sector %" PRIu64 " failed", lba);
    le_put_n(z, lba, 8);
    le_put_n(z + 8, zlen, 4);
    if (out_write(o, z, 12 + (size_t)zlen, err) != 0)
        return -1;
    return out_pad(o, err);
}

static int write_descriptor(struct vmdk_out *o, uint64_t capacity, const char *file_name, struct error *err)
{
    /* CID: stable for a given capacity and name (qemu picks a random one; VMware only compares
     * it with a child's parentCID, and stream-optimised disks have no children) */
    char seed[256];
    snprintf(seed, sizeof seed, "airfactory-vmdk %" PRIu64 " %s", capacity, file_name);
    unsigned char h[SHA256_BYTES];
    sha256_bytes(seed, strlen(seed), h);
    uint32_t cid = be32_get(h);
    if (cid == 0xffffffffu)
        cid = 0xfffffffeu;
    uint64_t cylinders = capacity / (255 * 63);
    if (cylinders > 65535)
        cylinders = 65535;
    char d[DESCRIPTOR_SECTORS * SECTOR];
    memset(d, 0, sizeof d);
    int n = snprintf(d, sizeof d,
                     "# Disk DescriptorFile\n"
                     "version=1\n"
                     "CID=%08" PRIx32 "\n"
                     "parentCID=ffffffff\n"
                     "createType=\"streamOptimized\"\n"
                     "\n"
                     "# Extent description\n"
                     "RW %" PRIu64 " SPARSE \"%s\"\n"
                     "\n"
                     "# The Disk Data Base\n"
                     "#DDB\n"
                     "\n"
                     "ddb.virtualHWVersion = \"6\"\n"
                     "ddb.geometry.cylinders = \"%" PRIu64 "\"\n"
                     "ddb.geometry.heads = \"255\"\n"
                     "ddb.geometry.sectors = \"63\"\n"
                     "ddb.adapterType = \"lsilogic\"\n",
                     cid, capacity, file_name, cylinders);
    if (n < 0 || (size_t)n >= sizeof d)
        return error_set(err, ERROR_INPUT, "vmdk: descriptor for extent name '%s' does not fit", file_name);
    return out_write(o, d, sizeof d, err);
}

int vmdk_write_from_raw(int raw_fd, const char *raw_what, uint64_t size, const char *file_name,
                        struct compress_sink sink, uint64_t *written, struct error *err)
{
    if (size == 0 || size % SECTOR)
        return error_set(err, ERROR_INPUT, "%s: %" PRIu64 " bytes is not a whole number of 512-byte sectors", raw_what,
                         size);
    struct vmdk_out o = {.sink = sink};
    uint64_t capacity = size / SECTOR;
    uint64_t grains = (capacity + GRAIN_SECTORS - 1) / GRAIN_SECTORS;
    uint64_t tables = (grains + GTES_PER_GT - 1) / GTES_PER_GT;
    if (tables > UINT32_MAX / 4 || grains > ((uint64_t)1 << 36))
        return error_set(err, ERROR_INPUT, "%s: %" PRIu64 " bytes is too large for a VMDK", raw_what, size);
    /* grain table entries (sector of the grain marker; 0 = not stored, reads as zeros) */
    uint32_t *gte = xcalloc((size_t)(tables * GTES_PER_GT), sizeof *gte);
    uint8_t *buf = xmalloc((size_t)READ_GRAINS * GRAIN_BYTES);
    size_t z_cap = 12 + compressBound(GRAIN_BYTES);
    uint8_t *z = xmalloc(z_cap);
    uint8_t sector[SECTOR];
    int rc = 0;

    header_fill(sector, capacity, GD_AT_END);
    rc = out_write(&o, sector, sizeof sector, err);
    if (rc == 0)
        rc = write_descriptor(&o, capacity, file_name, err);
    /* first grain at the overhead boundary */
    static const uint8_t zero_sector[SECTOR];
    while (rc == 0 && o.pos < (uint64_t)GRAIN_SECTORS * SECTOR)
        rc = out_write(&o, zero_sector, SECTOR, err);

    /* grains, in guest order, only where the input has data */
    uint64_t pos = 0, data, end;
    int more;
    while (rc == 0 && (more = fs_next_extent(raw_fd, pos, size, &data, &end, raw_what, err)) != 0) {
        if (more < 0) {
            rc = -1;
            break;
        }
        /* the grains that overlap [data, end) */
        uint64_t g = data / GRAIN_BYTES;
        uint64_t g_end = (end + GRAIN_BYTES - 1) / GRAIN_BYTES;
        while (rc == 0 && g < g_end) {
            uint64_t n = g_end - g < READ_GRAINS ? g_end - g : READ_GRAINS;
            uint64_t off = g * GRAIN_BYTES;
            size_t want = (size_t)(off + n * GRAIN_BYTES > size ? size - off : n * GRAIN_BYTES);
            memset(buf, 0, (size_t)n * GRAIN_BYTES); /* the last grain may run past the disk end */
            size_t got = 0;
            while (got < want) {
                ssize_t r = pread(raw_fd, buf + got, want - got, (off_t)(off + got));
                if (r <= 0) {
                    rc = error_errno(err, r < 0 ? errno : EIO, "%s: read", raw_what);
                    break;
                }
                got += (size_t)r;
            }
            for (uint64_t i = 0; rc == 0 && i < n; i++) {
                const uint8_t *grain = buf + i * GRAIN_BYTES;
                if (all_zero(grain, GRAIN_BYTES))
                    continue;
                if (o.pos / SECTOR > UINT32_MAX) {
                    rc = error_set(err, ERROR_INPUT, "%s: the VMDK would exceed 2 TiB of stored data", raw_what);
                    break;
                }
                gte[g + i] = (uint32_t)(o.pos / SECTOR);
                rc = write_grain(&o, (g + i) * GRAIN_SECTORS, grain, z, z_cap, err);
            }
            g += n;
        }
        pos = g_end * GRAIN_BYTES;
    }

    /* grain tables (only those with stored grains), then the directory pointing at them */
    uint32_t *gd = xcalloc((size_t)tables, sizeof *gd);
    const uint64_t gt_sectors = GTES_PER_GT * 4 / SECTOR;
    uint8_t *table = xmalloc(GTES_PER_GT * 4);
    for (uint64_t t = 0; rc == 0 && t < tables; t++) {
        const uint32_t *e = gte + t * GTES_PER_GT;
        bool used = false;
        for (unsigned i = 0; i < GTES_PER_GT && !used; i++)
            used = e[i] != 0;
        if (!used)
            continue;
        rc = write_marker(&o, gt_sectors, MARKER_GT, err);
        if (rc)
            break;
        gd[t] = (uint32_t)(o.pos / SECTOR);
        for (unsigned i = 0; i < GTES_PER_GT; i++)
            le_put_n(table + 4 * i, e[i], 4);
        rc = out_write(&o, table, GTES_PER_GT * 4, err);
    }
    uint64_t gd_bytes = tables * 4, gd_sectors = (gd_bytes + SECTOR - 1) / SECTOR, gd_offset = 0;
    if (rc == 0)
        rc = write_marker(&o, gd_sectors, MARKER_GD, err);
    if (rc == 0) {
        gd_offset = o.pos / SECTOR;
        uint8_t *dir = xcalloc((size_t)(gd_sectors * SECTOR), 1);
        for (uint64_t t = 0; t < tables; t++)
            le_put_n(dir + 4 * t, gd[t], 4);
        rc = out_write(&o, dir, (size_t)(gd_sectors * SECTOR), err);
        free(dir);
    }
    if (rc == 0)
        rc = write_marker(&o, 1, MARKER_FOOTER, err);
    if (rc == 0) {
        header_fill(sector, capacity, gd_offset);
        rc = out_write(&o, sector, sizeof sector, err);
    }
    if (rc == 0)
        rc = write_marker(&o, 0, MARKER_EOS, err);
    if (rc == 0 && written)
        *written = o.pos;
    free(table);
    free(gd);
    free(z);
    free(buf);
    free(gte);
    return rc == 0 ? 0 : error_prefix(err, "vmdk: ");
}
