/* xfs_image — XFS file-system images made without mounting anything (the BOOT partition of
 * GRUB and dual-boot disk images, talos-imager.md §7.3–7.5).
 *
 * Owns: the mkfs.xfs protofile for a list of files (Talos' layout: per directory files first,
 * then subdirectories; uid/gid 0; names with white space rejected), running Debian's mkfs.xfs
 * with the feature set Talos' imager asks for, and making the result reproducible: mkfs.xfs
 * (xfsprogs 6.1) stamps every inode it creates with the wall clock and has no SOURCE_DATE_EPOCH
 * support, so after mkfs every in-use inode's atime/mtime/ctime/crtime is rewritten to the given
 * time and its CRC32c recomputed (xfs_image_set_times). Everything else mkfs writes is already a
 * function of its inputs once the file-system UUID is fixed (-m uuid=...). */
#ifndef AIRFACTORY_XFS_IMAGE_H
#define AIRFACTORY_XFS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "airfactory/error.h"

struct xfs_image_file {
    const char *path;   /* inside the file system, '/'-separated: "grub/grub.cfg"; parents are implied */
    const char *source; /* content from this file, or ... */
    const void *data;   /* ... from memory */
    size_t size;        /* of data */
    unsigned mode;      /* permission bits, e.g. 0600; 0 = 0644 */
};

struct xfs_image_options {
    uint64_t size;        /* bytes of the image (the partition size) */
    const char *label;    /* -L, at most 12 bytes: "BOOT" */
    const char *uuid;     /* -m uuid=, "24c73076-4092-85dd-9d98-686a2dbf6d81" */
    uint32_t sector_size; /* 512 or 4096 (-s size=) */
    uint32_t mtime;       /* every inode's timestamps */
    const char *mkfs;     /* program; NULL = "mkfs.xfs" from PATH */
};

/* Create out_path (a new file of o->size bytes, sparse) holding an XFS file system with files.
 * Helper files (protofile, copies of in-memory files, mkfs log) go next to it, named after it.
 * ERROR_INPUT for unusable names; ERROR_RUNTIME when mkfs.xfs fails (its output is quoted). */
int xfs_image_write(const char *out_path, const struct xfs_image_options *o, const struct xfs_image_file *files,
                    size_t count, struct error *err);

/* Rewrite the timestamps of every in-use inode of the XFS image in fd to `seconds` (nanoseconds
 * 0) and recompute the inode CRCs. Inodes are found by scanning the image's data extents for
 * v3 inode cores whose recorded inode number maps to the place they were found, whose UUID is
 * the file system's and whose CRC is valid. *count (may be NULL) = inodes rewritten. */
int xfs_image_set_times(int fd, const char *what, uint32_t seconds, size_t *count, struct error *err);

/* CRC32c (Castagnoli) as XFS uses it (seed ~0, final complement). */
uint32_t xfs_image_crc32c(const void *data, size_t len);

#endif
