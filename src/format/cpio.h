/* cpio — the newc ("070701") archive format the Linux kernel unpacks as an initramfs.
 *
 * Owns: a streaming newc writer (entries go straight into a compress_sink, so an archive is never
 * held in memory) and a reader for whole initramfs files, which the kernel treats as a sequence
 * of segments: uncompressed newc archives, compressed (gzip/xz/zstd) newc archives and zero
 * padding between them. The reader follows the kernel's rules (init/initramfs.c
 * unpack_to_rootfs): zeros are skipped, an uncompressed archive must start on a 4-byte boundary,
 * anything else must carry a compression magic. It reports what the kernel would reject
 * (xz with a CRC64 check, an unaligned raw archive) instead of silently going on, which is what
 * the kernel does — so tests use this reader to assert appended content. */
#ifndef AIRFACTORY_CPIO_H
#define AIRFACTORY_CPIO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "airfactory/buffer.h"
#include "format/compress.h"
#include "airfactory/error.h"

/* ---- writer ---- */

struct cpio_writer {
    struct compress_sink sink;
    uint64_t offset;   /* bytes written so far: newc pads relative to the archive start */
    uint32_t next_ino; /* entries are numbered 1, 2, ... (cpio --reproducible renumbers too) */
    uint32_t mtime;    /* every entry gets this mtime; owner is always 0:0 */
};

void cpio_writer_init(struct cpio_writer *w, struct compress_sink sink, uint32_t mtime);
/* name is relative ("usr/lib", "0.sqsh"), as `cpio -H newc --create` writes a find listing. */
int cpio_write_dir(struct cpio_writer *w, const char *name, mode_t perm, struct error *err);
int cpio_write_data(struct cpio_writer *w, const char *name, mode_t perm, const void *data, size_t len,
                    struct error *err);
/* Streams the file at path; its size is taken when it is opened. */
int cpio_write_file(struct cpio_writer *w, const char *name, mode_t perm, const char *path, struct error *err);
int cpio_write_symlink(struct cpio_writer *w, const char *name, const char *target, struct error *err);
/* TRAILER!!! and zero padding up to a multiple of pad_to bytes (GNU cpio pads to 512). */
int cpio_write_trailer(struct cpio_writer *w, unsigned pad_to, struct error *err);

/* ---- reader: the segments of an initramfs file ---- */

struct cpio_entry {
    char *name;
    uint32_t mode; /* full st_mode: type and permission bits */
    uint32_t uid, gid, mtime, nlink;
    uint64_t size;
    char sha256[65];    /* of the content, lowercase hex */
    struct buffer data; /* content, kept only when size <= capture_max */
};

struct cpio_segment {
    uint64_t offset; /* where it starts in the file */
    uint64_t length; /* bytes it occupies in the file (compressed length) */
    enum compress_kind compression;
    size_t first_entry; /* index into cpio_listing.entries */
    size_t entry_count;
};

struct cpio_listing {
    struct cpio_segment *segments;
    size_t segment_count;
    struct cpio_entry *entries;
    size_t entry_count;
    uint64_t file_size;
};

struct cpio_read_options {
    size_t capture_max;      /* keep the content of entries up to this size (0: keep none) */
    const char *extract_dir; /* when set, regular files and dirs are written there (names sanitised) */
};

/* Walk the whole file. Errors name the path and byte offset. A segment the kernel would reject
 * is ERROR_INPUT. */
int cpio_read_segments(const char *path, const struct cpio_read_options *opts, struct cpio_listing *out,
                       struct error *err);
/* The last entry called name (later segments overwrite earlier ones, as in the kernel), or NULL. */
const struct cpio_entry *cpio_listing_find(const struct cpio_listing *l, const char *name);
void cpio_listing_free(struct cpio_listing *l);

#endif
