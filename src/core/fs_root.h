/* fs_root — reading a directory tree that stands for a file-system root: an extracted image.
 *
 * Owns the one rule every builder follows when it reads a path out of an image: the path, and
 * every symlink met on the way, are resolved INSIDE the tree, the way the kernel resolves them in
 * a chroot at the tree (openat2 RESOLVE_IN_ROOT semantics; Talos resolves them the same way at
 * runtime, where the image is the root). An absolute target starts again at the tree's root, never
 * at the build host's; no name is ever handed to the kernel with a symlink in it. So a signed image
 * whose firmware is `-> /etc/shadow` reads the image's /etc/shadow (absent in an extension: an
 * error), never the host's.
 *
 * Why a walk and not openat2(2): RESOLVE_IN_ROOT needs Linux >= 5.6 and is refused (ENOSYS or
 * EPERM) by older seccomp profiles of container runtimes, it silently clamps `..` at the root, and
 * when an absolute link misses it reports only ENOENT, without the link and its target that the
 * error must name. The walk below opens one component at a time with O_NOFOLLOW relative to the
 * directory before it (openat + readlinkat, on every kernel) and never passes `..` to the kernel,
 * so it cannot step out of the tree whatever the tree holds.
 *
 * Stricter than the kernel on purpose: `..` above the root, and (for a tree holding only part of
 * an image, `prefix`) a target outside that part, are errors rather than clamped or guessed, and
 * so is any link whose target is missing. Every error is one line naming the image (`label`), the
 * link's path and its target. Links are followed at most 40 deep (the kernel's limit); devices,
 * FIFOs and sockets are never opened. */
#ifndef AIRFACTORY_FS_ROOT_H
#define AIRFACTORY_FS_ROOT_H

#include <stdint.h>
#include <sys/stat.h>

#include "airfactory/error.h"

struct fs_root {
    int fd;       /* the tree's top directory */
    char *path;   /* its host path */
    char *prefix; /* the image directory the tree holds: "" = the whole image, "usr/lib/grub" = that part */
    char *label;  /* the image, for errors ("extension ghcr.io/x/y:1 (sha256:...)") */
};

/* Open the tree at host path `path`, which must be a real directory (not a symlink). prefix NULL
 * or "" = the tree is the image's root. */
int fs_root_open(struct fs_root *r, const char *path, const char *prefix, const char *label, struct error *err);
void fs_root_close(struct fs_root *r);

enum fs_root_want {
    FS_ROOT_FILE, /* a regular file */
    FS_ROOT_DIR,  /* a directory */
    FS_ROOT_ANY,  /* either; anything else (device, FIFO, socket) is always an error */
};

/* What a path resolved to. */
struct fs_root_entry {
    char *image_path; /* canonical image path, no symlink in it ("usr/lib/firmware/a.bin"; "" = root) */
    char *host_path;  /* the same object on the host: r->path + the part below the prefix. Holds no
                       * symlink below r->path, so tools that take names (grub-mkimage, libisofs)
                       * read exactly what was resolved. */
    struct stat st;
};

/* Resolve image path `path` (leading '/' optional; relative paths start at the tree's root) and
 * open it read-only: *fd is a file descriptor (O_RDONLY; O_DIRECTORY for directories) and, when
 * out is not NULL, *out says what was opened (free with fs_root_entry_free).
 * Returns 1 when opened, 0 when the path itself does not exist (no symlink was followed on the
 * way: the image simply has no such file), -1 on error: a link that leaves the tree, dangles or
 * loops, a component that is not a directory, a type other than `want`, an I/O error. */
int fs_open_in_root(const struct fs_root *r, const char *path, enum fs_root_want want, int *fd,
                    struct fs_root_entry *out, struct error *err);
void fs_root_entry_free(struct fs_root_entry *e);

/* Copy the directory at image path `path` to host directory dest (created; merged into it if it
 * exists, files replaced), resolving every symlink inside the tree: dest holds regular files and
 * directories only, with what the links lead to. Modes are kept; at most max_bytes of file data are
 * copied (an image of many links to one big file is refused, not multiplied) and directories nest
 * at most 64 deep (a link to an ancestor is a loop). */
int fs_root_copy_tree(const struct fs_root *r, const char *path, const char *dest, uint64_t max_bytes, struct error *err);

/* Replace, in place, every symlink under the directory at image path `path` by what it resolves to
 * inside the tree (a copy of the file, or of the directory as fs_root_copy_tree makes it), for
 * trees that programs outside airfactory read by name. Same limits as fs_root_copy_tree. */
int fs_root_resolve_links(const struct fs_root *r, const char *path, uint64_t max_bytes, struct error *err);

#endif
