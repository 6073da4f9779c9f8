/* gpt — GUID partition tables written into a plain (sparse) disk image file, as Talos' imager
 * writes them (go-blockdevice partitioning/gpt; talos-imager.md §7.2).
 *
 * Owns: the deterministic GUIDs of image mode (GUIDFromLabel: SHA-256 of 16 zero bytes + label,
 * version nibble 8, RFC 4122 variant), partition placement (1 MiB alignment, in order, exact
 * sizes), the protective MBR, primary and backup headers and entry arrays with their CRC32s, and
 * a reader used by tests and by disk_image to find partitions again.
 * GUIDs are held in RFC 4122 (text) byte order; the on-disk mixed-endian form is produced here. */
#ifndef AIRFACTORY_GPT_H
#define AIRFACTORY_GPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/error.h"

#define GPT_ENTRY_COUNT 128
#define GPT_ENTRY_SIZE 128
#define GPT_NAME_MAX 36 /* UTF-16 code units */
#define GPT_GUID_TEXT_LEN 36

/* Well-known partition type GUIDs (text). */
#define GPT_TYPE_EFI "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
#define GPT_TYPE_BIOS "21686148-6449-6E6F-744E-656564454649"
#define GPT_TYPE_LINUX "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
#define GPT_ATTR_LEGACY_BIOS_BOOTABLE (1ull << 2)

/* Talos' disk GUID label: GUIDFromLabel("talos-image-disk"). */
#define GPT_TALOS_DISK_LABEL "talos-image-disk"

/* uuid.NewHash(sha256, uuid.Nil, label, 8) — Talos' GUIDFromLabel. */
void gpt_guid_from_label(const char *label, uint8_t guid[16]);
/* "xxxxxxxx-xxxx-..." (either case) -> RFC byte order. 0 or -1. */
int gpt_guid_parse(const char *text, uint8_t guid[16]);
/* Lower-case text. */
void gpt_guid_format(const uint8_t guid[16], char text[GPT_GUID_TEXT_LEN + 1]);

struct gpt_partition {
    char name[GPT_NAME_MAX + 1]; /* ASCII: "EFI", "META", ... */
    uint8_t type[16];
    uint8_t guid[16];
    uint64_t attributes;
    uint64_t first_lba, last_lba; /* inclusive */
};

struct gpt_table {
    uint32_t sector_size;  /* 512 or 4096 */
    uint64_t sector_count; /* disk size / sector_size */
    uint8_t disk_guid[16];
    uint64_t first_usable_lba, last_usable_lba;
    uint64_t skip_lbas; /* input: sectors left free after the primary header, before the entries
                           (go-blockdevice gpt.WithSkipLBAs, an overlay's partitionOptions.offset):
                           entries at LBA 2 + skip_lbas, partitions from the next 1 MiB boundary */
    struct gpt_partition *partitions;
    size_t count;
};

/* Place partitions of the given byte sizes in order: each starts at the next 1 MiB boundary after
 * the previous one (the first at first_usable_lba = 1 MiB / sector_size); sizes must be multiples
 * of the sector size. Size 0 for the LAST partition: all the space left, ending on a 1 MiB
 * boundary (go-blockdevice's LargestContiguousAllocatable, what Talos allocates IMAGECACHE with).
 * Fills first_lba/last_lba and the table geometry. ERROR_INPUT when they do not fit or a size is
 * not a whole number of sectors. */
int gpt_layout(struct gpt_table *t, uint64_t disk_size, uint32_t sector_size, const uint64_t *sizes, struct error *err);

/* Write protective MBR (LBA 0), primary header (LBA 1) and entries (LBA 2 + skip_lbas ..), backup entries and
 * header (last LBA) into fd with pwrite. The file must already be disk_size long. */
int gpt_write(int fd, const char *what, const struct gpt_table *t, struct error *err);

/* Read and verify (signatures, CRCs, backup header) a table; partitions allocated (free with
 * gpt_table_free). ERROR_INPUT when the table is missing or damaged. */
int gpt_read(int fd, const char *what, uint32_t sector_size, uint64_t disk_size, struct gpt_table *out,
             struct error *err);
void gpt_table_free(struct gpt_table *t);

#endif
