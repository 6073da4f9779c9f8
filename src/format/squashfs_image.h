/* squashfs_image — a SquashFS 4.0 image of a directory tree, written in-process with libsquashfs.
 *
 * Owns: turning an extension's rootfs/ into `<n>.sqsh` the way Talos' `mksquashfs <dir> <out>
 * -all-root -noappend -comp zstd -Xcompression-level 18` (or `-comp xz -Xdict-size 100%` before
 * 1.8) does, but reproducibly: entries sorted bytewise, owner root:root, one fixed mtime for
 * every inode and the superblock, block size 128 KiB, no export table. Symlinks, device nodes,
 * fifos and sockets are stored as they are; hard links are stored as separate files. */
#ifndef AIRFACTORY_SQUASHFS_IMAGE_H
#define AIRFACTORY_SQUASHFS_IMAGE_H

#include <stdint.h>

#include "format/compress.h"
#include "airfactory/error.h"

/* One inode's own SELinux label (path relative, no leading '/'; "" is the root). */
struct squashfs_label {
    const char *path;
    const char *label;
};

struct squashfs_image_options {
    enum compress_kind compression; /* COMPRESS_ZSTD, COMPRESS_XZ or COMPRESS_GZIP */
    int level;                      /* zstd 1..22 (Talos: 18); ignored for xz; <= 0 = library default */
    uint32_t block_size;            /* 0 = 131072, mksquashfs' default */
    uint32_t mtime;                 /* every inode and the superblock */
    unsigned threads;               /* 0 = online CPUs; the output does not depend on it */
    /* When set, every inode gets xattr security.selinux = label + NUL, as Talos' mksquashfs
     * `-xattrs-add security.selinux=<label>\000`; NULL = no xattrs at all. */
    const char *selinux_label;
    /* Relative paths (no leading '/') left out with everything below them, e.g. the firmware tree
     * that goes into the initramfs cpio instead; NULL-terminated, may be NULL. */
    const char *const *exclude;
    /* Relative paths of single files left out (microcode moved to the early cpio); may be NULL. */
    const char *const *exclude_files;
    /* Single inodes labelled as Talos' mksquashfs `-p "<path> x security.selinux=<label>"` does for
     * a layer's PAX record (the value as given, without a NUL); they take precedence over
     * selinux_label. A path missing from the tree is ERROR_INPUT. */
    const struct squashfs_label *labels;
    size_t label_count;
};

/* Write the image of source_dir to out_path (atomically: a temp file renamed at the end). */
int squashfs_image_write(const char *source_dir, const char *out_path, const struct squashfs_image_options *opts,
                         struct error *err);

#endif
