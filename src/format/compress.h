/* compress — streaming compression (zstd, xz, gzip) and decompression as library calls.
 *
 * Owns: the byte sink interface every builder writes through (struct compress_sink), the
 * compressing writer (open/write/finish), the one-stream decompressor used to read initramfs
 * segments back, and format detection by magic bytes.
 *
 * Why a library and not `zstd | xz` pipes: the output must be reproducible and kernel-readable.
 *  - zstd always runs with >= 1 worker thread: libzstd's multi-threaded mode cuts jobs at sizes
 *    derived from the parameters, never from the worker count, so the bytes are identical for any
 *    threads >= 1 (single-threaded mode, workers = 0, would produce different bytes).
 *  - xz always uses liblzma's multi-threaded encoder (block size from the preset) and the CRC32
 *    check: the kernel's XZ decoder rejects CRC64, the default of the xz tool and of libarchive.
 *    The writer re-assembles the encoder's blocks into the stream itself (same bytes), so that
 *    zero runs can skip the encoder (compress_writer_write_zeros).
 *  - gzip is zlib's gzip wrapper with no file name and mtime 0 (like `pigz --no-time`). */
#ifndef AIRFACTORY_COMPRESS_H
#define AIRFACTORY_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/error.h"

enum compress_kind {
    COMPRESS_NONE = 0,
    COMPRESS_GZIP,
    COMPRESS_XZ,
    COMPRESS_ZSTD,
};

/* Where bytes go. write() returns 0 or -1 with *err filled. */
struct compress_sink {
    int (*write)(void *ctx, const void *data, size_t len, struct error *err);
    void *ctx;
};

/* A sink that appends to a file descriptor and counts what it wrote. */
struct compress_fd_sink {
    int fd;
    const char *what; /* named in errors: the output path */
    uint64_t written;
};
struct compress_sink compress_sink_fd(struct compress_fd_sink *state);

struct compress_options {
    enum compress_kind kind;
    int level;       /* zstd 1..22, xz 0..9, gzip 1..9; negative = the kind's default (zstd 3,
                      * xz 6, gzip 6); 0 is the default for zstd and gzip but preset 0 for xz */
    bool xz_extreme; /* xz `-e` (LZMA_PRESET_EXTREME) */
    int threads;     /* worker threads; 0 = online CPUs. Output does not depend on it. */
};

struct compress_writer;

/* Start a compressed stream into sink. COMPRESS_NONE passes bytes through unchanged. */
int compress_writer_open(struct compress_writer **out, const struct compress_options *opts, struct compress_sink sink,
                         struct error *err);
int compress_writer_write(struct compress_writer *w, const void *data, size_t len, struct error *err);
/* n zero bytes, cheaply.
 *  - xz: byte-identical to compress_writer_write of the zeros: the writer assembles one stream
 *    from the encoder's blocks, and whole blocks of zeros are a cached copy of the block the
 *    encoder writes for them (only the partial blocks at the run's ends are compressed);
 *  - zstd and gzip: the current frame (zstd) / member (gzip) ends and the run is its own frame
 *    (RLE blocks, XXH64) / member (a cached full-flushed deflate chunk repeated, combined
 *    CRC32). zstd, gzip and Go's readers decode concatenated frames/members as one file, but
 *    the bytes differ from compressing the zeros, whose encoding depends on what came before.
 * Callers pick the runs by content (disk images: >= 16 MiB), so the output stays
 * deterministic. COMPRESS_NONE writes the zeros. */
int compress_writer_write_zeros(struct compress_writer *w, uint64_t n, struct error *err);
/* End the stream (trailer, checksums). The writer must still be freed. */
int compress_writer_finish(struct compress_writer *w, struct error *err);
void compress_writer_free(struct compress_writer *w);
/* The writer as a sink, so cpio and others can write "through" compression. */
struct compress_sink compress_writer_sink(struct compress_writer *w);
uint64_t compress_writer_bytes_in(const struct compress_writer *w);

/* Detect a compressed stream by its magic (what the kernel's decompress_method does).
 * Returns COMPRESS_NONE when the bytes are not gzip, xz or zstd. */
enum compress_kind compress_detect(const void *data, size_t len);
const char *compress_kind_name(enum compress_kind kind);
/* "none", "gzip", "xz", "zstd" -> kind; -1 on unknown names. */
int compress_kind_parse(const char *name, enum compress_kind *out);

/* One compressed stream, decoded incrementally. Feeding stops at the end of the stream (a zstd
 * frame, an xz stream, a gzip member): *consumed tells how much input belonged to it, so callers
 * can find what follows (the next initramfs segment). */
struct decompressor;
int decompressor_open(struct decompressor **out, enum compress_kind kind, struct error *err);
int decompressor_feed(struct decompressor *d, const void *in, size_t len, size_t *consumed, bool *done,
                      struct compress_sink sink, struct error *err);
void decompressor_free(struct decompressor *d);

#endif
