/* compress — see include/airfactory/compress.h. */
#include "airfactory/compress.h"
#include "airfactory/buffer.h"
#include "airfactory/fs.h"
#include "airfactory/memory.h"

#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define OUT_CHUNK (256 * 1024)

struct compress_writer {
    struct compress_options opts;
    struct compress_sink sink;
    uint64_t bytes_in;
    bool finished;
    unsigned char *out;
    size_t out_cap;
    ZSTD_CCtx *zstd;
    lzma_stream xz;
    bool xz_ready;
    z_stream gz;
    bool gz_ready;
    /* zero runs (compress_writer_write_zeros): the current frame/stream/member holds data iff
     * frame_open; after a run the next data write starts a new one (restart) */
    bool frame_open;
    bool emitted;   /* anything at all went to the sink */
    bool restart;
    int xz_preset;
    int xz_threads;
    uint8_t *xz_zero_block; /* cached .xz block of XZ_ZERO_BLOCK zero bytes */
    size_t xz_zero_block_len;
    lzma_vli xz_zero_block_unpadded;
    uint8_t *gz_zero_chunk; /* cached raw-deflate bytes of GZ_ZERO_CHUNK zeros, full-flushed */
    size_t gz_zero_chunk_len;
};

static int fd_sink_write(void *ctx, const void *data, size_t len, struct error *err)
{
    struct compress_fd_sink *s = ctx;
    if (fs_write_all(s->fd, data, len, s->what ? s->what : "output", err) != 0)
        return -1;
    s->written += len;
    return 0;
}

struct compress_sink compress_sink_fd(struct compress_fd_sink *state)
{
    struct compress_sink s = {fd_sink_write, state};
    return s;
}

static int writer_sink_write(void *ctx, const void *data, size_t len, struct error *err)
{
    return compress_writer_write(ctx, data, len, err);
}

struct compress_sink compress_writer_sink(struct compress_writer *w)
{
    struct compress_sink s = {writer_sink_write, w};
    return s;
}

uint64_t compress_writer_bytes_in(const struct compress_writer *w)
{
    return w->bytes_in;
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > 64 ? 64 : (int)n);
}

int compress_writer_open(struct compress_writer **out, const struct compress_options *opts,
                         struct compress_sink sink, struct error *err)
{
    *out = NULL;
    struct compress_writer *w = xcalloc(1, sizeof *w);
    w->opts = *opts;
    w->sink = sink;
    int threads = opts->threads > 0 ? opts->threads : online_cpus();
    switch (opts->kind) {
    case COMPRESS_NONE:
        break;
    case COMPRESS_ZSTD: {
        int level = opts->level > 0 ? opts->level : 3;
        if (level < 1 || level > ZSTD_maxCLevel()) {
            free(w);
            return error_set(err, ERROR_INPUT, "zstd: level %d out of range 1..%d", level, ZSTD_maxCLevel());
        }
        w->zstd = ZSTD_createCCtx();
        if (!w->zstd) {
            free(w);
            return error_set(err, ERROR_RUNTIME, "zstd: cannot create a compression context");
        }
        size_t r = ZSTD_CCtx_setParameter(w->zstd, ZSTD_c_compressionLevel, level);
        if (!ZSTD_isError(r))
            r = ZSTD_CCtx_setParameter(w->zstd, ZSTD_c_checksumFlag, 1); /* as the zstd tool does */
        if (!ZSTD_isError(r)) {
            /* Workers >= 1 always: see the header for why the count must never be 0. A libzstd
             * built without threads refuses, and then every run is single-threaded anyway. */
            size_t t = ZSTD_CCtx_setParameter(w->zstd, ZSTD_c_nbWorkers, threads);
            (void)t;
        }
        if (ZSTD_isError(r)) {
            ZSTD_freeCCtx(w->zstd);
            free(w);
            return error_set(err, ERROR_RUNTIME, "zstd: %s", ZSTD_getErrorName(r));
        }
        w->out_cap = ZSTD_CStreamOutSize();
        break;
    }
    case COMPRESS_XZ: {
        int level = opts->level < 0 ? 6 : opts->level; /* 0 is a real xz preset (`xz -0`) */
        if (level > 9) {
            free(w);
            return error_set(err, ERROR_INPUT, "xz: level %d out of range 0..9", level);
        }
        lzma_mt mt;
        memset(&mt, 0, sizeof mt);
        mt.threads = (uint32_t)threads;
        mt.block_size = 0; /* liblzma's default for the preset: independent of the thread count */
        mt.preset = (uint32_t)level | (opts->xz_extreme ? LZMA_PRESET_EXTREME : 0);
        mt.check = LZMA_CHECK_CRC32; /* the kernel's decoder rejects CRC64 */
        w->xz_preset = (int)mt.preset;
        w->xz_threads = threads;
        w->xz = (lzma_stream)LZMA_STREAM_INIT;
        lzma_ret r = lzma_stream_encoder_mt(&w->xz, &mt);
        if (r != LZMA_OK) {
            free(w);
            return error_set(err, ERROR_RUNTIME, "xz: cannot start the encoder (liblzma error %d)", (int)r);
        }
        w->xz_ready = true;
        w->out_cap = OUT_CHUNK;
        break;
    }
    case COMPRESS_GZIP: {
        int level = opts->level > 0 ? opts->level : 6;
        if (level < 1 || level > 9) {
            free(w);
            return error_set(err, ERROR_INPUT, "gzip: level %d out of range 1..9", level);
        }
        memset(&w->gz, 0, sizeof w->gz);
        /* windowBits 15 + 16 = gzip wrapper; zlib writes mtime 0 and no name: reproducible. */
        if (deflateInit2(&w->gz, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            free(w);
            return error_set(err, ERROR_RUNTIME, "gzip: cannot start the deflate stream");
        }
        w->gz_ready = true;
        w->out_cap = OUT_CHUNK;
        break;
    }
    default:
        free(w);
        return error_set(err, ERROR_INPUT, "compress: unknown compression kind %d", (int)opts->kind);
    }
    if (w->out_cap)
        w->out = xmalloc(w->out_cap);
    *out = w;
    return 0;
}

/* every compressed byte goes out through here */
static int sink_out(struct compress_writer *w, const void *data, size_t len, struct error *err)
{
    if (!len)
        return 0;
    w->emitted = true;
    return w->sink.write(w->sink.ctx, data, len, err);
}

static int zstd_step(struct compress_writer *w, const void *data, size_t len, ZSTD_EndDirective mode,
                     struct error *err)
{
    ZSTD_inBuffer in = {data, len, 0};
    for (;;) {
        ZSTD_outBuffer o = {w->out, w->out_cap, 0};
        size_t r = ZSTD_compressStream2(w->zstd, &o, &in, mode);
        if (ZSTD_isError(r))
            return error_set(err, ERROR_RUNTIME, "zstd: %s", ZSTD_getErrorName(r));
        if (sink_out(w, w->out, o.pos, err) != 0)
            return -1;
        if (mode == ZSTD_e_end) {
            if (r == 0)
                return 0;
        } else if (in.pos == in.size) {
            return 0;
        }
    }
}

static int xz_step(struct compress_writer *w, const void *data, size_t len, lzma_action action,
                   struct error *err)
{
    w->xz.next_in = data;
    w->xz.avail_in = len;
    for (;;) {
        w->xz.next_out = w->out;
        w->xz.avail_out = w->out_cap;
        lzma_ret r = lzma_code(&w->xz, action);
        size_t produced = w->out_cap - w->xz.avail_out;
        if (sink_out(w, w->out, produced, err) != 0)
            return -1;
        if (r == LZMA_STREAM_END)
            return 0;
        if (r != LZMA_OK)
            return error_set(err, ERROR_RUNTIME, "xz: encoder failed (liblzma error %d)", (int)r);
        if (action == LZMA_RUN && w->xz.avail_in == 0)
            return 0;
    }
}

static int gz_step(struct compress_writer *w, const void *data, size_t len, int flush, struct error *err)
{
    w->gz.next_in = (Bytef *)(uintptr_t)data;
    w->gz.avail_in = (uInt)len;
    for (;;) {
        w->gz.next_out = w->out;
        w->gz.avail_out = (uInt)w->out_cap;
        int r = deflate(&w->gz, flush);
        size_t produced = w->out_cap - w->gz.avail_out;
        if (sink_out(w, w->out, produced, err) != 0)
            return -1;
        if (r == Z_STREAM_END)
            return 0;
        if (r != Z_OK && r != Z_BUF_ERROR)
            return error_set(err, ERROR_RUNTIME, "gzip: deflate failed (zlib error %d)", r);
        if (flush == Z_NO_FLUSH && w->gz.avail_in == 0)
            return 0;
    }
}

static int xz_encoder_start(struct compress_writer *w, struct error *err)
{
    lzma_mt mt;
    memset(&mt, 0, sizeof mt);
    mt.threads = (uint32_t)w->xz_threads;
    mt.block_size = 0;
    mt.preset = (uint32_t)w->xz_preset;
    mt.check = LZMA_CHECK_CRC32;
    w->xz = (lzma_stream)LZMA_STREAM_INIT;
    lzma_ret r = lzma_stream_encoder_mt(&w->xz, &mt);
    if (r != LZMA_OK)
        return error_set(err, ERROR_RUNTIME, "xz: cannot start the encoder (liblzma error %d)", (int)r);
    w->xz_ready = true;
    return 0;
}

/* A new frame/stream/member after a zero run (zstd starts one by itself after ZSTD_e_end). */
static int frame_restart(struct compress_writer *w, struct error *err)
{
    w->restart = false;
    if (w->opts.kind == COMPRESS_XZ) {
        lzma_end(&w->xz);
        w->xz_ready = false;
        return xz_encoder_start(w, err);
    }
    if (w->opts.kind == COMPRESS_GZIP && deflateReset(&w->gz) != Z_OK)
        return error_set(err, ERROR_RUNTIME, "gzip: cannot restart the deflate stream");
    return 0;
}

int compress_writer_write(struct compress_writer *w, const void *data, size_t len, struct error *err)
{
    if (w->finished)
        return error_set(err, ERROR_RUNTIME, "compress: write after finish");
    if (len && w->restart && frame_restart(w, err) != 0)
        return -1;
    if (len)
        w->frame_open = true;
    w->bytes_in += len;
    switch (w->opts.kind) {
    case COMPRESS_NONE:
        return len ? w->sink.write(w->sink.ctx, data, len, err) : 0;
    case COMPRESS_ZSTD:
        return len ? zstd_step(w, data, len, ZSTD_e_continue, err) : 0;
    case COMPRESS_XZ: {
        /* avail_in is size_t but keep chunks moderate so progress is steady */
        const char *p = data;
        while (len) {
            size_t n = len > (1u << 30) ? (1u << 30) : len;
            if (xz_step(w, p, n, LZMA_RUN, err) != 0)
                return -1;
            p += n;
            len -= n;
        }
        return 0;
    }
    case COMPRESS_GZIP: {
        const char *p = data;
        while (len) {
            size_t n = len > (1u << 30) ? (1u << 30) : len;
            if (gz_step(w, p, n, Z_NO_FLUSH, err) != 0)
                return -1;
            p += n;
            len -= n;
        }
        return 0;
    }
    }
    return error_set(err, ERROR_RUNTIME, "compress: bad writer");
}

int compress_writer_finish(struct compress_writer *w, struct error *err)
{
    if (w->finished)
        return 0;
    w->finished = true;
    if (!w->frame_open && w->emitted)
        return 0; /* the last thing written was a zero run, whose frame is complete */
    switch (w->opts.kind) {
    case COMPRESS_NONE:
        return 0;
    case COMPRESS_ZSTD:
        return zstd_step(w, NULL, 0, ZSTD_e_end, err);
    case COMPRESS_XZ:
        return xz_step(w, NULL, 0, LZMA_FINISH, err);
    case COMPRESS_GZIP:
        return gz_step(w, NULL, 0, Z_FINISH, err);
    }
    return error_set(err, ERROR_RUNTIME, "compress: bad writer");
}

/* ------------------------------------------------------------------ zero runs
 * A disk image is mostly zeros. Compressing them costs as much as data (zstd -18 and xz spend
 * their match finder on every byte), so a long zero run ends the current frame and is written
 * as its own frame, built here without the compressor:
 *  - zstd: a frame of RLE blocks (128 KiB each, 4 bytes each), content size and XXH64 checksum;
 *  - xz: a stream whose blocks are one cached block of 64 MiB of zeros (encoded once with the
 *    writer's preset and CRC32 check) repeated, plus a block for the remainder and the index;
 *  - gzip: a member whose deflate data is one cached full-flushed chunk of 1 MiB of zeros
 *    repeated, an empty final block, CRC32 (combined, not recomputed) and ISIZE.
 * Concatenated frames/streams/members are what zstd, xz and gzip decode as one file. */

#define ZERO_BUF (1u << 20)
#define ZSTD_RLE_BLOCK (128u * 1024u)
#define XZ_ZERO_BLOCK (64ull << 20)
#define GZ_ZERO_CHUNK ZERO_BUF

static const uint8_t zero_buf[ZERO_BUF];

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

#define XXH_P1 11400714785074694791ull
#define XXH_P2 14029467366897019727ull
#define XXH_P3 1609587929392839161ull
#define XXH_P4 9650029242287828579ull
#define XXH_P5 2870177450012600261ull

static uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static uint64_t xxh64_round(uint64_t acc, uint64_t input)
{
    acc += input * XXH_P2;
    return rotl64(acc, 31) * XXH_P1;
}
static uint64_t xxh64_merge(uint64_t acc, uint64_t val)
{
    acc ^= xxh64_round(0, val);
    return acc * XXH_P1 + XXH_P4;
}

/* XXH64 (seed 0) of len zero bytes: every input lane is 0. */
static uint64_t xxh64_zeros(uint64_t len)
{
    uint64_t h, rem = len;
    if (len >= 32) {
        uint64_t v1 = XXH_P1 + XXH_P2, v2 = XXH_P2, v3 = 0, v4 = 0 - XXH_P1;
        for (uint64_t i = len / 32; i; i--) {
            v1 = xxh64_round(v1, 0);
            v2 = xxh64_round(v2, 0);
            v3 = xxh64_round(v3, 0);
            v4 = xxh64_round(v4, 0);
        }
        h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
        h = xxh64_merge(h, v1);
        h = xxh64_merge(h, v2);
        h = xxh64_merge(h, v3);
        h = xxh64_merge(h, v4);
        rem = len % 32;
    } else {
        h = XXH_P5;
    }
    h += len;
    for (; rem >= 8; rem -= 8) {
        h ^= xxh64_round(0, 0);
        h = rotl64(h, 27) * XXH_P1 + XXH_P4;
    }
    if (rem >= 4) {
        h = rotl64(h, 23) * XXH_P2 + XXH_P3; /* h ^= 0 * P1 */
        rem -= 4;
    }
    for (; rem; rem--)
        h = rotl64(h, 11) * XXH_P1; /* h ^= 0 * P5 */
    h ^= h >> 33;
    h *= XXH_P2;
    h ^= h >> 29;
    h *= XXH_P3;
    h ^= h >> 32;
    return h;
}

static int zstd_zero_frame(struct compress_writer *w, uint64_t n, struct error *err)
{
    uint8_t h[14];
    put_le(h, 0xFD2FB528u, 4);
    h[4] = 0xC4; /* 8-byte content size, content checksum, not single-segment */
    h[5] = 0x38; /* window 128 KiB: decoders need no more memory than one block */
    put_le(h + 6, n, 8);
    if (sink_out(w, h, sizeof h, err) != 0)
        return -1;
    size_t fill = 0;
    for (uint64_t left = n; left;) {
        uint32_t b = left > ZSTD_RLE_BLOCK ? ZSTD_RLE_BLOCK : (uint32_t)left;
        left -= b;
        put_le(w->out + fill, (left == 0) | (1u << 1) | (b << 3), 3); /* RLE block */
        w->out[fill + 3] = 0;
        fill += 4;
        if (fill + 4 > w->out_cap || left == 0) {
            if (sink_out(w, w->out, fill, err) != 0)
                return -1;
            fill = 0;
        }
    }
    uint8_t sum[4];
    put_le(sum, xxh64_zeros(n), 4);
    return sink_out(w, sum, sizeof sum, err);
}

/* One .xz block (header with unknown sizes, LZMA2 data, padding, CRC32) of n zeros. */
static int xz_zero_block(const struct compress_writer *w, uint64_t n, struct buffer *out, lzma_vli *unpadded,
                         struct error *err)
{
    lzma_options_lzma opt;
    if (lzma_lzma_preset(&opt, (uint32_t)w->xz_preset))
        return error_set(err, ERROR_RUNTIME, "xz: bad preset %d", w->xz_preset);
    lzma_filter filters[2] = {{LZMA_FILTER_LZMA2, &opt}, {LZMA_VLI_UNKNOWN, NULL}};
    lzma_block block;
    memset(&block, 0, sizeof block);
    block.version = 0;
    block.check = LZMA_CHECK_CRC32;
    block.filters = filters;
    block.compressed_size = LZMA_VLI_UNKNOWN;
    block.uncompressed_size = LZMA_VLI_UNKNOWN;
    uint8_t header[LZMA_BLOCK_HEADER_SIZE_MAX];
    if (lzma_block_header_size(&block) != LZMA_OK || lzma_block_header_encode(&block, header) != LZMA_OK)
        return error_set(err, ERROR_RUNTIME, "xz: cannot encode a block header");
    buffer_append(out, header, block.header_size);
    lzma_stream s = LZMA_STREAM_INIT;
    if (lzma_block_encoder(&s, &block) != LZMA_OK)
        return error_set(err, ERROR_RUNTIME, "xz: cannot start a block encoder");
    uint8_t chunk[64 * 1024];
    uint64_t left = n;
    lzma_ret r = LZMA_OK;
    for (;;) {
        if (s.avail_in == 0 && left) {
            size_t take = left > ZERO_BUF ? ZERO_BUF : (size_t)left;
            s.next_in = zero_buf;
            s.avail_in = take;
            left -= take;
        }
        s.next_out = chunk;
        s.avail_out = sizeof chunk;
        r = lzma_code(&s, left || s.avail_in ? LZMA_RUN : LZMA_FINISH);
        buffer_append(out, chunk, sizeof chunk - s.avail_out);
        if (r != LZMA_OK)
            break;
    }
    lzma_end(&s);
    if (r != LZMA_STREAM_END)
        return error_set(err, ERROR_RUNTIME, "xz: block encoder failed (liblzma error %d)", (int)r);
    *unpadded = lzma_block_unpadded_size(&block);
    return 0;
}

static int xz_zero_stream(struct compress_writer *w, uint64_t n, struct error *err)
{
    if (!w->xz_zero_block) {
        struct buffer b = BUFFER_INIT;
        if (xz_zero_block(w, XZ_ZERO_BLOCK, &b, &w->xz_zero_block_unpadded, err) != 0) {
            buffer_free(&b);
            return -1;
        }
        w->xz_zero_block_len = b.len;
        w->xz_zero_block = (uint8_t *)buffer_take(&b);
    }
    lzma_stream_flags flags;
    memset(&flags, 0, sizeof flags);
    flags.version = 0;
    flags.check = LZMA_CHECK_CRC32;
    uint8_t sh[LZMA_STREAM_HEADER_SIZE];
    if (lzma_stream_header_encode(&flags, sh) != LZMA_OK)
        return error_set(err, ERROR_RUNTIME, "xz: cannot encode a stream header");
    if (sink_out(w, sh, sizeof sh, err) != 0)
        return -1;
    lzma_index *idx = lzma_index_init(NULL);
    if (!idx)
        return error_set(err, ERROR_RUNTIME, "xz: cannot allocate an index");
    int rc = 0;
    for (uint64_t k = n / XZ_ZERO_BLOCK; rc == 0 && k; k--) {
        rc = sink_out(w, w->xz_zero_block, w->xz_zero_block_len, err);
        if (rc == 0 && lzma_index_append(idx, NULL, w->xz_zero_block_unpadded, XZ_ZERO_BLOCK) != LZMA_OK)
            rc = error_set(err, ERROR_RUNTIME, "xz: index append failed");
    }
    if (rc == 0 && n % XZ_ZERO_BLOCK) {
        struct buffer b = BUFFER_INIT;
        lzma_vli unpadded = 0;
        rc = xz_zero_block(w, n % XZ_ZERO_BLOCK, &b, &unpadded, err);
        if (rc == 0)
            rc = sink_out(w, b.data, b.len, err);
        if (rc == 0 && lzma_index_append(idx, NULL, unpadded, n % XZ_ZERO_BLOCK) != LZMA_OK)
            rc = error_set(err, ERROR_RUNTIME, "xz: index append failed");
        buffer_free(&b);
    }
    if (rc == 0) {
        size_t isz = (size_t)lzma_index_size(idx), pos = 0;
        uint8_t *ib = xmalloc(isz);
        if (lzma_index_buffer_encode(idx, ib, &pos, isz) != LZMA_OK)
            rc = error_set(err, ERROR_RUNTIME, "xz: cannot encode the index");
        if (rc == 0)
            rc = sink_out(w, ib, pos, err);
        flags.backward_size = isz;
        uint8_t sf[LZMA_STREAM_HEADER_SIZE];
        if (rc == 0 && lzma_stream_footer_encode(&flags, sf) != LZMA_OK)
            rc = error_set(err, ERROR_RUNTIME, "xz: cannot encode a stream footer");
        if (rc == 0)
            rc = sink_out(w, sf, sizeof sf, err);
        free(ib);
    }
    lzma_index_end(idx, NULL);
    return rc;
}

/* raw deflate of n zeros (n <= ZERO_BUF) ending with a full flush: byte-aligned, no reference
 * to anything before it, so it can be repeated */
static int gz_zero_chunk(const struct compress_writer *w, size_t n, struct buffer *out, struct error *err)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    int level = w->opts.level > 0 ? w->opts.level : 6;
    if (deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return error_set(err, ERROR_RUNTIME, "gzip: cannot start a deflate stream");
    z.next_in = (Bytef *)(uintptr_t)zero_buf;
    z.avail_in = (uInt)n;
    uint8_t chunk[16 * 1024];
    int r;
    do {
        z.next_out = chunk;
        z.avail_out = sizeof chunk;
        r = deflate(&z, Z_FULL_FLUSH);
        buffer_append(out, chunk, sizeof chunk - z.avail_out);
    } while (r == Z_OK && (z.avail_in || z.avail_out == 0));
    deflateEnd(&z);
    if (r != Z_OK)
        return error_set(err, ERROR_RUNTIME, "gzip: deflate failed (zlib error %d)", r);
    return 0;
}

static int gz_zero_member(struct compress_writer *w, uint64_t n, struct error *err)
{
    if (!w->gz_zero_chunk) {
        struct buffer b = BUFFER_INIT;
        if (gz_zero_chunk(w, GZ_ZERO_CHUNK, &b, err) != 0) {
            buffer_free(&b);
            return -1;
        }
        w->gz_zero_chunk_len = b.len;
        w->gz_zero_chunk = (uint8_t *)buffer_take(&b);
    }
    int level = w->opts.level > 0 ? w->opts.level : 6;
    /* the header zlib writes: no name, mtime 0, XFL from the level, OS 3 (Unix) */
    uint8_t h[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, (uint8_t)(level == 9 ? 2 : level < 2 ? 4 : 0), 3};
    if (sink_out(w, h, sizeof h, err) != 0)
        return -1;
    uLong crc_chunk = crc32(0, zero_buf, GZ_ZERO_CHUNK), crc = crc32(0, Z_NULL, 0);
    for (uint64_t k = n / GZ_ZERO_CHUNK; k; k--) {
        if (sink_out(w, w->gz_zero_chunk, w->gz_zero_chunk_len, err) != 0)
            return -1;
        crc = crc32_combine(crc, crc_chunk, GZ_ZERO_CHUNK);
    }
    size_t rem = (size_t)(n % GZ_ZERO_CHUNK);
    if (rem) {
        struct buffer b = BUFFER_INIT;
        int rc = gz_zero_chunk(w, rem, &b, err);
        if (rc == 0)
            rc = sink_out(w, b.data, b.len, err);
        buffer_free(&b);
        if (rc != 0)
            return -1;
        crc = crc32_combine(crc, crc32(0, zero_buf, (uInt)rem), (z_off_t)rem);
    }
    uint8_t t[10] = {0x03, 0x00}; /* final fixed-Huffman block holding only end-of-block */
    put_le(t + 2, crc, 4);
    put_le(t + 6, n & 0xffffffffu, 4);
    return sink_out(w, t, sizeof t, err);
}

int compress_writer_write_zeros(struct compress_writer *w, uint64_t n, struct error *err)
{
    if (w->finished)
        return error_set(err, ERROR_RUNTIME, "compress: write after finish");
    if (n == 0)
        return 0;
    if (w->opts.kind == COMPRESS_NONE) {
        for (uint64_t left = n; left;) {
            size_t k = left > ZERO_BUF ? ZERO_BUF : (size_t)left;
            if (compress_writer_write(w, zero_buf, k, err) != 0)
                return -1;
            left -= k;
        }
        return 0;
    }
    if (w->frame_open) { /* end the data frame before the zero frame */
        int rc = w->opts.kind == COMPRESS_ZSTD ? zstd_step(w, NULL, 0, ZSTD_e_end, err)
                 : w->opts.kind == COMPRESS_XZ ? xz_step(w, NULL, 0, LZMA_FINISH, err)
                                               : gz_step(w, NULL, 0, Z_FINISH, err);
        if (rc != 0)
            return -1;
        w->frame_open = false;
        w->restart = true;
    }
    w->bytes_in += n;
    switch (w->opts.kind) {
    case COMPRESS_ZSTD:
        return zstd_zero_frame(w, n, err);
    case COMPRESS_XZ:
        return xz_zero_stream(w, n, err);
    case COMPRESS_GZIP:
        return gz_zero_member(w, n, err);
    default:
        return error_set(err, ERROR_RUNTIME, "compress: bad writer");
    }
}

void compress_writer_free(struct compress_writer *w)
{
    if (!w)
        return;
    if (w->zstd)
        ZSTD_freeCCtx(w->zstd);
    if (w->xz_ready)
        lzma_end(&w->xz);
    if (w->gz_ready)
        deflateEnd(&w->gz);
    free(w->xz_zero_block);
    free(w->gz_zero_chunk);
    free(w->out);
    free(w);
}

enum compress_kind compress_detect(const void *data, size_t len)
{
    const unsigned char *p = data;
    if (len >= 2 && p[0] == 0x1f && (p[1] == 0x8b || p[1] == 0x9e))
        return COMPRESS_GZIP;
    if (len >= 6 && !memcmp(p, "\xfd" "7zXZ\0", 6))
        return COMPRESS_XZ;
    if (len >= 4 && !memcmp(p, "\x28\xb5\x2f\xfd", 4))
        return COMPRESS_ZSTD;
    return COMPRESS_NONE;
}

const char *compress_kind_name(enum compress_kind kind)
{
    switch (kind) {
    case COMPRESS_NONE:
        return "none";
    case COMPRESS_GZIP:
        return "gzip";
    case COMPRESS_XZ:
        return "xz";
    case COMPRESS_ZSTD:
        return "zstd";
    }
    return "unknown";
}

int compress_kind_parse(const char *name, enum compress_kind *out)
{
    static const enum compress_kind kinds[] = {COMPRESS_NONE, COMPRESS_GZIP, COMPRESS_XZ, COMPRESS_ZSTD};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(name, compress_kind_name(kinds[i]))) {
            *out = kinds[i];
            return 0;
        }
    return -1;
}

/* ---- decompression ---- */

struct decompressor {
    enum compress_kind kind;
    ZSTD_DStream *zstd;
    lzma_stream xz;
    bool xz_ready;
    z_stream gz;
    bool gz_ready;
    unsigned char *out;
    size_t out_cap;
    bool done;
};

int decompressor_open(struct decompressor **out, enum compress_kind kind, struct error *err)
{
    *out = NULL;
    struct decompressor *d = xcalloc(1, sizeof *d);
    d->kind = kind;
    d->out_cap = OUT_CHUNK;
    switch (kind) {
    case COMPRESS_ZSTD:
        d->zstd = ZSTD_createDStream();
        if (!d->zstd || ZSTD_isError(ZSTD_initDStream(d->zstd))) {
            decompressor_free(d);
            return error_set(err, ERROR_RUNTIME, "zstd: cannot create a decompression context");
        }
        d->out_cap = ZSTD_DStreamOutSize();
        break;
    case COMPRESS_XZ:
        d->xz = (lzma_stream)LZMA_STREAM_INIT;
        /* one stream only, so the caller learns where it ends; any integrity check accepted */
        if (lzma_stream_decoder(&d->xz, UINT64_MAX, 0) != LZMA_OK) {
            decompressor_free(d);
            return error_set(err, ERROR_RUNTIME, "xz: cannot start the decoder");
        }
        d->xz_ready = true;
        break;
    case COMPRESS_GZIP:
        if (inflateInit2(&d->gz, 15 + 16) != Z_OK) {
            decompressor_free(d);
            return error_set(err, ERROR_RUNTIME, "gzip: cannot start the inflate stream");
        }
        d->gz_ready = true;
        break;
    default:
        free(d);
        return error_set(err, ERROR_INPUT, "decompress: %s is not a compressed format", compress_kind_name(kind));
    }
    d->out = xmalloc(d->out_cap);
    *out = d;
    return 0;
}

int decompressor_feed(struct decompressor *d, const void *in, size_t len, size_t *consumed, bool *done,
                      struct compress_sink sink, struct error *err)
{
    *consumed = 0;
    *done = d->done;
    if (d->done)
        return 0;
    switch (d->kind) {
    case COMPRESS_ZSTD: {
        ZSTD_inBuffer ib = {in, len, 0};
        for (;;) {
            ZSTD_outBuffer ob = {d->out, d->out_cap, 0};
            size_t r = ZSTD_decompressStream(d->zstd, &ob, &ib);
            if (ZSTD_isError(r))
                return error_set(err, ERROR_INPUT, "zstd: corrupt data: %s", ZSTD_getErrorName(r));
            if (ob.pos && sink.write(sink.ctx, d->out, ob.pos, err) != 0)
                return -1;
            if (r == 0) { /* frame decoded and flushed; zstd stops at the frame's end */
                d->done = true;
                break;
            }
            if (ib.pos == ib.size && ob.pos < ob.size)
                break;
        }
        *consumed = ib.pos;
        break;
    }
    case COMPRESS_XZ: {
        d->xz.next_in = in;
        d->xz.avail_in = len;
        for (;;) {
            d->xz.next_out = d->out;
            d->xz.avail_out = d->out_cap;
            lzma_ret r = lzma_code(&d->xz, len ? LZMA_RUN : LZMA_FINISH);
            size_t produced = d->out_cap - d->xz.avail_out;
            if (produced && sink.write(sink.ctx, d->out, produced, err) != 0)
                return -1;
            if (r == LZMA_STREAM_END) {
                d->done = true;
                break;
            }
            if (r == LZMA_BUF_ERROR && len == 0)
                return error_set(err, ERROR_INPUT, "xz: data ends before the end of the stream");
            if (r != LZMA_OK)
                return error_set(err, ERROR_INPUT, "xz: corrupt data (liblzma error %d)", (int)r);
            if (d->xz.avail_in == 0 && d->xz.avail_out != 0)
                break;
        }
        *consumed = len - d->xz.avail_in;
        break;
    }
    case COMPRESS_GZIP: {
        d->gz.next_in = (Bytef *)(uintptr_t)in;
        d->gz.avail_in = (uInt)len;
        for (;;) {
            d->gz.next_out = d->out;
            d->gz.avail_out = (uInt)d->out_cap;
            int r = inflate(&d->gz, Z_NO_FLUSH);
            size_t produced = d->out_cap - d->gz.avail_out;
            if (produced && sink.write(sink.ctx, d->out, produced, err) != 0)
                return -1;
            if (r == Z_STREAM_END) {
                d->done = true;
                break;
            }
            if (r == Z_BUF_ERROR && len == 0)
                return error_set(err, ERROR_INPUT, "gzip: data ends before the end of the stream");
            if (r != Z_OK && r != Z_BUF_ERROR)
                return error_set(err, ERROR_INPUT, "gzip: corrupt data (zlib error %d)", r);
            if (d->gz.avail_in == 0 && d->gz.avail_out != 0)
                break;
            if (r == Z_BUF_ERROR)
                break;
        }
        *consumed = len - d->gz.avail_in;
        break;
    }
    default:
        return error_set(err, ERROR_RUNTIME, "decompress: bad decompressor");
    }
    if (len == 0 && !d->done)
        return error_set(err, ERROR_INPUT, "%s: data ends before the end of the stream", compress_kind_name(d->kind));
    *done = d->done;
    return 0;
}

void decompressor_free(struct decompressor *d)
{
    if (!d)
        return;
    if (d->zstd)
        ZSTD_freeDStream(d->zstd);
    if (d->xz_ready)
        lzma_end(&d->xz);
    if (d->gz_ready)
        inflateEnd(&d->gz);
    free(d->out);
    free(d);
}
