/* fat — a FAT16/FAT32 file system image written in one pass, with long file names.
 *
 * Owns: EFI system partition images (the ISO's efiboot.img now, disk images' EFI partition
 * later). Talos makes them with `mkfs.vfat -F 32 -n EFI --invariant` + mcopy; this writer makes
 * the same kind of image without external tools, sparse, and reproducibly: the volume serial,
 * every timestamp and the cluster layout depend only on the inputs. Files are stored
 * contiguously; directories first, in depth-first order. FAT32 is used whenever the image holds
 * at least 65525 clusters (the FAT specification decides the type by cluster count, so a smaller
 * "FAT32" would be read as FAT16 by firmware); smaller images are FAT16. */
#ifndef AIRFACTORY_FAT_H
#define AIRFACTORY_FAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/error.h"

struct fat_file {
    const char *path;   /* inside the image, '/'-separated: "EFI/BOOT/BOOTX64.EFI"; parents are implied */
    const char *source; /* content from this file, or ... */
    const void *data;   /* ... from memory */
    size_t size;        /* of data */
    bool read_only;     /* ATTR_READ_ONLY (mattrib +r) */
};

struct fat_options {
    uint64_t size;     /* image size in bytes (rounded down to the sector size) */
    const char *label; /* volume label, up to 11 characters, e.g. "EFI" */
    uint32_t serial;   /* volume ID */
    uint32_t mtime;    /* every entry's timestamps (UTC) */
};

/* Write the image to out_path (atomically). ERROR_INPUT when the files do not fit. */
int fat_image_write(const char *out_path, const struct fat_options *o, const struct fat_file *files, size_t count,
                    struct error *err);
/* The same with another logical sector size: 512, or 4096 for the ESP of a 4Kn disk image
 * (`mkfs.vfat -S 4096`; clusters stay at most 4 KiB, so one sector per cluster). */
int fat_image_write_sectors(const char *out_path, const struct fat_options *o, uint32_t sector_size,
                            const struct fat_file *files, size_t count, struct error *err);

#endif
