/* layer_flatten — turning a stored image's layers into files for the builders.
 *
 * Owns applying OCI layers (tar, tar+gzip, tar+zstd; the compression is recognised from the
 * bytes) safely:
 *   - whiteouts `.wh.NAME` delete NAME from lower layers, `.wh..wh..opq` empties a directory of
 *     what lower layers put there (the layer's own entries stay, whatever their order in the tar);
 *   - every path is resolved component by component with O_NOFOLLOW from the destination root:
 *     absolute paths, `..`, symlinks whose target leaves the root, writes through a symlink, hard
 *     links to anything outside the image, device nodes, FIFOs and sockets are errors;
 *   - symlinks are kept as they are (an absolute target means the IMAGE's root, as at runtime):
 *     whoever reads the tree resolves them inside it with core/fs_root.h, never on the host; or,
 *     with resolve_links, the tree is handed over with every link under that directory already
 *     replaced by what it resolves to inside the image (for trees outside programs read by name);
 *   - caps on total bytes written, entry count and expansion ratio (decompressed bytes per stored
 *     byte) stop decompression bombs with an error saying which layer and which limit;
 *   - each layer's decompressed stream is hashed and checked against the config's diff_id.
 * Output appears atomically: layer_flatten builds DEST.tmp-XXXXXX and renames it to DEST; an
 * extracted file is written with atomic_file_*. Owners are not applied (builds run unprivileged);
 * modes and mtimes are. */
#ifndef AIRFACTORY_LAYER_FLATTEN_H
#define AIRFACTORY_LAYER_FLATTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/buffer.h"
#include "airfactory/error.h"
#include "oci/oci_image.h"
#include "oci/store.h"

/* Zero fields take the defaults. */
struct layer_flatten_limits {
    uint64_t max_bytes;   /* file bytes written, all layers together (default 64 GiB) */
    uint64_t max_entries; /* tar entries, all layers together (default 1,000,000) */
    uint64_t max_ratio;   /* decompressed / stored bytes per layer (default 100) ... */
    uint64_t ratio_floor; /* ... checked once a layer has produced this much (default 64 MiB) */
};

struct layer_flatten_options {
    /* Only entries under this directory (e.g. "rootfs" of an extension image), re-rooted at DEST.
     * NULL: everything. */
    const char *prefix;
    struct layer_flatten_limits limits;
    /* An image directory ("usr/lib/grub") whose symlinks are replaced by copies of what they resolve
     * to inside the image (fs_root_resolve_links), for trees that programs outside airfactory read
     * by name; NULL: none. Absent from the image: nothing to do. A link that leaves the image (or
     * the prefix), dangles or loops fails the flatten, naming the image, the link and its target.
     * The copies count against max_bytes. */
    const char *resolve_links;
    /* Keep the SELinux labels the layers' PAX records give (SCHILY.xattr.security.selinux, which
     * Talos' archiver.Untar collects for mksquashfs; libarchive also reads LIBARCHIVE.xattr.*):
     * layer_flatten writes "<dest>.selinux" before dest appears, holding the label of each path
     * the flattened tree still has, the topmost entry of a path deciding (an entry without a
     * record drops a lower layer's label), as crane's flattening export does. Read it with
     * layer_labels_read. Files are never given xattrs: builds run unprivileged. */
    bool selinux_labels;
};

#define LAYER_FLATTEN_LABELS_SUFFIX ".selinux"

/* One path's label: path relative to the flattened tree (no leading '/'), label as recorded. */
struct layer_label {
    char *path;
    char *label;
};

/* The labels layer_flatten kept for the tree at dest, sorted by path (none when it kept none).
 * Free with layer_labels_free. */
int layer_labels_read(const char *dest, struct layer_label **labels, size_t *count, struct error *err);
void layer_labels_free(struct layer_label *labels, size_t count);

/* Apply image's layers in order into a new directory dest (which must not exist, or be empty). */
int layer_flatten(struct store *store, const struct oci_image *image, const char *dest,
                  const struct layer_flatten_options *options, struct error *err);

/* Apply one layer file (any compression) onto the directory tree at dest_root, for callers that
 * hold layers outside a store. diff_id may be NULL (not checked). */
int layer_flatten_apply_file(const char *layer_path, const char *what, const char *diff_id, const char *dest_root,
                             const struct layer_flatten_options *options, struct error *err);

/* Extract single files, streaming, without flattening: the topmost layer that has (or deletes)
 * a path decides. Paths are image paths ("usr/install/amd64/vmlinuz", leading '/' allowed). A
 * symlink at the path, or on a directory of it, is followed INSIDE the image as the kernel would
 * with the image as root (an absolute target starts at the image's root, `..` above it is an
 * error, at most 40 links), looking the target up again from the top layer; a link whose target
 * the image lacks is an error naming the link and its target, even with allow_missing. Declared
 * sizes are checked against max_size and the limits before a byte is written. */
struct layer_extract_file {
    const char *path;
    const char *dest;      /* write the file here (atomically), or */
    struct buffer *buffer; /* append it here (dest NULL); at most max_size bytes */
    size_t max_size;       /* 0: no cap for dest, 16 MiB for buffers */
    /* results */
    bool found;
    uint64_t size;
    unsigned mode;
};

/* Every requested file that is absent (or whited out) is an error naming the path and the image,
 * unless allow_missing, which leaves found = false. */
int layer_extract(struct store *store, const struct oci_image *image, struct layer_extract_file *files, size_t count,
                  bool allow_missing, const struct layer_flatten_limits *limits, struct error *err);

/* Convenience: one small file into a buffer. Returns 1 found, 0 absent, -1 error. */
int layer_read_file(struct store *store, const struct oci_image *image, const char *path, size_t max_size,
                    struct buffer *out, struct error *err);

#endif
