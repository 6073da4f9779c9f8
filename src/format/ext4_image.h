/* ext4_image — ext4 file-system images of a directory tree, made without mounting anything (the
 * IMAGECACHE partition of disk images that carry Talos' image cache: Talos formats it ext4,
 * internal/pkg/partition/format.go).
 *
 * Owns: running Debian's mke2fs (`mkfs.ext4 -d DIR`, e2fsprogs >= 1.43) on a sparse file with a
 * fixed file-system UUID and directory hash seed, 4 KiB blocks (usable on 512-byte and 4 KiB
 * sector disks alike), every file owned by root, mode 0644 and every directory 0755 (what
 * `talosctl images cache-create` writes), and making the result reproducible: mke2fs -d copies the
 * source's ctime and stamps crtime with the wall clock, so afterwards debugfs rewrites every
 * inode's atime/mtime/ctime/crtime, owner and mode (E2FSPROGS_FAKE_TIME fixes the superblock's
 * times). mke2fs -d adds entries in name order, so the same tree, time and e2fsprogs give the same
 * bytes. */
#ifndef AIRFACTORY_EXT4_IMAGE_H
#define AIRFACTORY_EXT4_IMAGE_H

#include <stdint.h>

#include "airfactory/error.h"

struct ext4_image_options {
    uint64_t size;     /* bytes of the image (the partition size), a multiple of 4096 */
    const char *label; /* -L, at most 16 bytes: "IMAGECACHE" */
    const char *uuid;  /* -U and the directory hash seed, "3b5449bc-c21f-8009-8b51-18945967f8df" */
    uint32_t mtime;    /* every inode's timestamps and the superblock's */
};

/* Create out_path (a new sparse file of o->size bytes) holding an ext4 file system with the
 * regular files and directories under source_dir (anything else is ERROR_INPUT). Helper files
 * (the debugfs script, tool logs) go next to out_path. ERROR_RUNTIME when mke2fs or debugfs
 * fails (its output is quoted; "No space left" means the size is too small for the tree). */
int ext4_image_write(const char *out_path, const struct ext4_image_options *o, const char *source_dir, struct error *err);

#endif
