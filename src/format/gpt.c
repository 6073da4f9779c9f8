/* gpt — see gpt.h. Layout per UEFI 2.10 §5.3. */
#include "format/gpt.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/digest.h"
#include "core/endian.h"
#include "core/fs.h"
#include "core/memory.h"

#define MIB (1024u * 1024u)

void gpt_guid_from_label(const char *label, uint8_t guid[16])
{
    /* google/uuid NewHash: hash(namespace ‖ data), first 16 bytes, version and variant bits */
    struct sha256_stream s;
    static const uint8_t nil[16];
    unsigned char sum[SHA256_BYTES];
    sha256_stream_init(&s);
    sha256_stream_update(&s, nil, sizeof nil);
    sha256_stream_update(&s, label, strlen(label));
    sha256_stream_final(&s, sum);
    memcpy(guid, sum, 16);
    guid[6] = (uint8_t)((guid[6] & 0x0f) | 0x80);
    guid[8] = (uint8_t)((guid[8] & 0x3f) | 0x80);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int gpt_guid_parse(const char *text, uint8_t guid[16])
{
    if (strlen(text) != GPT_GUID_TEXT_LEN)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < GPT_GUID_TEXT_LEN;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-')
                return -1;
            i++;
            continue;
        }
        int hi = hexval((unsigned char)text[i]), lo = hexval((unsigned char)text[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        guid[n++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return 0;
}

void gpt_guid_format(const uint8_t g[16], char text[GPT_GUID_TEXT_LEN + 1])
{
    snprintf(text, GPT_GUID_TEXT_LEN + 1, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", g[0],
             g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
}

/* RFC byte order <-> the EFI_GUID layout (first three fields little-endian). */
static void guid_to_disk(const uint8_t g[16], uint8_t d[16])
{
    d[0] = g[3], d[1] = g[2], d[2] = g[1], d[3] = g[0];
    d[4] = g[5], d[5] = g[4];
    d[6] = g[7], d[7] = g[6];
    memcpy(d + 8, g + 8, 8);
}
static void guid_from_disk(const uint8_t d[16], uint8_t g[16])
{
    guid_to_disk(d, g); /* an involution */
}

static uint64_t entry_sectors(uint32_t sector_size)
{
    return ((uint64_t)GPT_ENTRY_COUNT * GPT_ENTRY_SIZE + sector_size - 1) / sector_size;
}

int gpt_layout(struct gpt_table *t, uint64_t disk_size, uint32_t sector_size, const uint64_t *sizes, struct error *err)
{
    if (sector_size != 512 && sector_size != 4096)
        return error_set(err, ERROR_INPUT, "gpt: sector size %u is not supported; use 512 or 4096", sector_size);
    if (disk_size % sector_size)
        return error_set(err, ERROR_INPUT, "gpt: disk size %llu is not a multiple of the %u-byte sector",
                         (unsigned long long)disk_size, sector_size);
    if (t->count > GPT_ENTRY_COUNT)
        return error_set(err, ERROR_INPUT, "gpt: %zu partitions; at most %d fit", t->count, GPT_ENTRY_COUNT);
    uint64_t align = MIB / sector_size;
    t->sector_size = sector_size;
    t->sector_count = disk_size / sector_size;
    if (t->skip_lbas > t->sector_count)
        return error_set(err, ERROR_INPUT, "gpt: %llu sectors to skip on a disk of %llu bytes",
                         (unsigned long long)t->skip_lbas, (unsigned long long)disk_size);
    /* go-blockdevice gpt init: first usable = entries LBA + entry sectors, up to the alignment */
    uint64_t first = 2 + t->skip_lbas + entry_sectors(sector_size);
    t->first_usable_lba = (first + align - 1) / align * align;
    if (t->sector_count < t->first_usable_lba + 2 * (entry_sectors(sector_size) + 1) + 1)
        return error_set(err, ERROR_INPUT, "gpt: disk of %llu bytes is too small", (unsigned long long)disk_size);
    t->last_usable_lba = t->sector_count - 1 - entry_sectors(sector_size) - 1;
    uint64_t next = t->first_usable_lba;
    for (size_t i = 0; i < t->count; i++) {
        struct gpt_partition *p = &t->partitions[i];
        bool rest = sizes[i] == 0 && i + 1 == t->count;
        if ((sizes[i] == 0 && !rest) || sizes[i] % sector_size)
            return error_set(err, ERROR_INPUT, "gpt: partition %s size %llu is not a positive multiple of %u", p->name,
                             (unsigned long long)sizes[i], sector_size);
        next = (next + align - 1) / align * align;
        p->first_lba = next;
        if (rest) {
            uint64_t high = t->last_usable_lba / align * align; /* exclusive, as allocatableRanges */
            if (high <= next)
                return error_set(err, ERROR_INPUT,
                                 "gpt: no space is left for partition %s on a %llu-byte disk; "
                                 "make the disk larger",
                                 p->name, (unsigned long long)disk_size);
            p->last_lba = high - 1;
            break;
        }
        p->last_lba = next + sizes[i] / sector_size - 1;
        if (p->last_lba > t->last_usable_lba)
            return error_set(err, ERROR_INPUT,
                             "gpt: partition %s (%llu bytes) does not fit on a %llu-byte disk; make the disk larger",
                             p->name, (unsigned long long)sizes[i], (unsigned long long)disk_size);
        next = p->last_lba + 1;
    }
    return 0;
}

static void encode_entries(const struct gpt_table *t, uint8_t *entries)
{
    memset(entries, 0, (size_t)GPT_ENTRY_COUNT * GPT_ENTRY_SIZE);
    for (size_t i = 0; i < t->count; i++) {
        const struct gpt_partition *p = &t->partitions[i];
        uint8_t *e = entries + i * GPT_ENTRY_SIZE;
        guid_to_disk(p->type, e);
        guid_to_disk(p->guid, e + 16);
        le64_put(e + 32, p->first_lba);
        le64_put(e + 40, p->last_lba);
        le64_put(e + 48, p->attributes);
        for (size_t c = 0; c < GPT_NAME_MAX && p->name[c]; c++)
            le16_put(e + 56 + 2 * c, (uint8_t)p->name[c]);
    }
}

static void encode_header(const struct gpt_table *t, uint8_t *h, uint64_t my_lba, uint64_t alternate_lba,
                          uint64_t entries_lba, uint32_t entries_crc)
{
    memset(h, 0, 92);
    memcpy(h, "EFI PART", 8);
    le32_put(h + 8, 0x00010000);
    le32_put(h + 12, 92);
    le64_put(h + 24, my_lba);
    le64_put(h + 32, alternate_lba);
    le64_put(h + 40, t->first_usable_lba);
    le64_put(h + 48, t->last_usable_lba);
    guid_to_disk(t->disk_guid, h + 56);
    le64_put(h + 72, entries_lba);
    le32_put(h + 80, GPT_ENTRY_COUNT);
    le32_put(h + 84, GPT_ENTRY_SIZE);
    le32_put(h + 88, entries_crc);
    le32_put(h + 16, (uint32_t)crc32(0, h, 92));
}

int gpt_write(int fd, const char *what, const struct gpt_table *t, struct error *err)
{
    uint32_t ss = t->sector_size;
    uint64_t last = t->sector_count - 1;
    size_t entries_len = (size_t)(entry_sectors(ss) * ss);
    uint8_t *entries = xcalloc(1, entries_len);
    uint8_t *sector = xcalloc(1, ss);
    encode_entries(t, entries);
    uint32_t entries_crc = (uint32_t)crc32(0, entries, GPT_ENTRY_COUNT * GPT_ENTRY_SIZE);

    /* protective MBR: one 0xEE partition covering the disk (boot code area left as it is: zero) */
    uint8_t *mbr = sector;
    uint8_t *pe = mbr + 446;
    pe[0] = 0x00;
    pe[1] = 0x00, pe[2] = 0x02, pe[3] = 0x00;
    pe[4] = 0xEE;
    pe[5] = 0xFF, pe[6] = 0xFF, pe[7] = 0xFF;
    le32_put(pe + 8, 1);
    le32_put(pe + 12, last > 0xFFFFFFFFull ? 0xFFFFFFFFu : (uint32_t)last);
    mbr[510] = 0x55, mbr[511] = 0xAA;
    int rc = fs_pwrite_all(fd, mbr, ss, 0, what, err);

    uint64_t backup_entries_lba = last - entry_sectors(ss);
    if (rc == 0) {
        memset(sector, 0, ss);
        encode_header(t, sector, 1, last, 2 + t->skip_lbas, entries_crc);
        rc = fs_pwrite_all(fd, sector, ss, (uint64_t)ss, what, err);
    }
    if (rc == 0)
        rc = fs_pwrite_all(fd, entries, entries_len, (2 + t->skip_lbas) * ss, what, err);
    if (rc == 0)
        rc = fs_pwrite_all(fd, entries, entries_len, backup_entries_lba * ss, what, err);
    if (rc == 0) {
        memset(sector, 0, ss);
        encode_header(t, sector, last, 1, backup_entries_lba, entries_crc);
        rc = fs_pwrite_all(fd, sector, ss, last * ss, what, err);
    }
    free(entries);
    free(sector);
    return rc;
}

static int read_header(int fd, const char *what, uint32_t ss, uint64_t lba, uint8_t *h, struct error *err)
{
    ssize_t n = pread(fd, h, ss, (off_t)(lba * ss));
    if (n != (ssize_t)ss)
        return error_set(err, ERROR_INPUT, "%s: cannot read GPT header at LBA %llu", what, (unsigned long long)lba);
    if (memcmp(h, "EFI PART", 8) != 0)
        return error_set(err, ERROR_INPUT, "%s: no GPT signature at LBA %llu", what, (unsigned long long)lba);
    uint32_t size = le32_get(h + 12);
    if (size < 92 || size > ss)
        return error_set(err, ERROR_INPUT, "%s: GPT header size %u at LBA %llu", what, size, (unsigned long long)lba);
    uint32_t crc = le32_get(h + 16);
    le32_put(h + 16, 0);
    uint32_t want = (uint32_t)crc32(0, h, size);
    le32_put(h + 16, crc);
    if (crc != want)
        return error_set(err, ERROR_INPUT, "%s: GPT header CRC mismatch at LBA %llu", what, (unsigned long long)lba);
    return 0;
}

int gpt_read(int fd, const char *what, uint32_t ss, uint64_t disk_size, struct gpt_table *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    if (ss != 512 && ss != 4096)
        return error_set(err, ERROR_INPUT, "%s: sector size %u is not supported", what, ss);
    uint8_t *h = xcalloc(1, ss), *b = xcalloc(1, ss);
    uint8_t *entries = NULL;
    int rc = read_header(fd, what, ss, 1, h, err);
    uint64_t last = disk_size / ss - 1;
    if (rc == 0 && le64_get(h + 32) != last)
        rc = error_set(err, ERROR_INPUT, "%s: backup GPT header LBA %llu, disk ends at %llu", what,
                       (unsigned long long)le64_get(h + 32), (unsigned long long)last);
    if (rc == 0)
        rc = read_header(fd, what, ss, last, b, err);
    if (rc == 0 && (le32_get(h + 80) != GPT_ENTRY_COUNT || le32_get(h + 84) != GPT_ENTRY_SIZE))
        rc = error_set(err, ERROR_INPUT, "%s: GPT with %u entries of %u bytes; expected 128 x 128", what,
                       le32_get(h + 80), le32_get(h + 84));
    if (rc == 0) {
        size_t len = GPT_ENTRY_COUNT * GPT_ENTRY_SIZE;
        entries = xmalloc(len);
        for (int copy = 0; copy < 2 && rc == 0; copy++) {
            const uint8_t *hdr = copy ? b : h;
            if (pread(fd, entries, len, (off_t)(le64_get(hdr + 72) * ss)) != (ssize_t)len)
                rc = error_set(err, ERROR_INPUT, "%s: cannot read GPT entries", what);
            else if ((uint32_t)crc32(0, entries, (uInt)len) != le32_get(hdr + 88))
                rc = error_set(err, ERROR_INPUT, "%s: %s GPT entry array CRC mismatch", what,
                               copy ? "backup" : "primary");
        }
    }
    if (rc == 0) {
        out->sector_size = ss;
        out->sector_count = disk_size / ss;
        guid_from_disk(h + 56, out->disk_guid);
        out->first_usable_lba = le64_get(h + 40);
        out->last_usable_lba = le64_get(h + 48);
        out->partitions = xcalloc(GPT_ENTRY_COUNT, sizeof *out->partitions);
        for (size_t i = 0; i < GPT_ENTRY_COUNT; i++) {
            const uint8_t *e = entries + i * GPT_ENTRY_SIZE;
            static const uint8_t zero[16];
            if (memcmp(e, zero, 16) == 0)
                continue;
            struct gpt_partition *p = &out->partitions[out->count++];
            guid_from_disk(e, p->type);
            guid_from_disk(e + 16, p->guid);
            p->first_lba = le64_get(e + 32);
            p->last_lba = le64_get(e + 40);
            p->attributes = le64_get(e + 48);
            for (size_t c = 0; c < GPT_NAME_MAX; c++) {
                unsigned u = le16_get(e + 56 + 2 * c);
                if (!u)
                    break;
                p->name[c] = u < 0x80 ? (char)u : '?';
            }
        }
    }
    free(entries);
    free(h);
    free(b);
    return rc;
}

void gpt_table_free(struct gpt_table *t)
{
    free(t->partitions);
    t->partitions = NULL;
    t->count = 0;
}
