/* compress — see compress.h. */
#include "format/compress.h"
#include "airfactory/buffer.h"
#include "core/endian.h"
#include "core/fs.h"
#include "core/memory.h"

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
    bool emitted; /* anything at all went to the sink */
    bool restart;
    int xz_preset;
    int xz_threads;
    /* xz is written as ONE stream assembled here: the blocks come from the multi-threaded
     * encoder (its stream header, index and footer are dropped, see xz_splice_feed) or, for
     * zero runs, from a cached block; the index and footer are rebuilt from the blocks. The
     * bytes equal the encoder's own stream, and zero runs need not go through it. */
    uint64_t xz_block_size; /* the encoder's block size for the preset */
    lzma_index *xz_index;   /* every block of the stream, in order */
    bool xz_header_done;
    size_t xz_skip;   /* bytes of the current encoder's stream header still to drop */
    bool xz_in_index; /* the current encoder is writing its index/footer: drop */
    size_t xz_hdr_need, xz_hdr_have;
    uint8_t xz_hdr[1024];   /* a block header being collected */
    uint64_t xz_body_left;  /* bytes of the current block after its header */
    uint8_t *xz_zero_block; /* cached block of xz_block_size zero bytes, as the encoder writes it */
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

static int sink_out(struct compress_writer *w, const void *data, size_t len, struct error *err);

/* A new multi-threaded encoder for the next run of data; its stream header is dropped. */
static int xz_encoder_start(struct compress_writer *w, struct error *err)
{
    lzma_mt mt;
    memset(&mt, 0, sizeof mt);
    mt.threads = (uint32_t)w->xz_threads;
    mt.block_size = w->xz_block_size;
    mt.preset = (uint32_t)w->xz_preset;
    mt.check = LZMA_CHECK_CRC32; /* the kernel's decoder rejects CRC64 */
    w->xz = (lzma_stream)LZMA_STREAM_INIT;
    lzma_ret r = lzma_stream_encoder_mt(&w->xz, &mt);
    if (r != LZMA_OK)
        return error_set(err, ERROR_RUNTIME, "xz: cannot start the encoder (liblzma error %d)", (int)r);
    w->xz_ready = true;
    w->xz_skip = LZMA_STREAM_HEADER_SIZE;
    w->xz_in_index = false;
    w->xz_hdr_need = w->xz_hdr_have = 0;
    w->xz_body_left = 0;
    return 0;
}

static int xz_stream_header(struct compress_writer *w, struct error *err)
{
    if (w->xz_header_done)
        return 0;
    lzma_stream_flags flags;
    memset(&flags, 0, sizeof flags);
    flags.version = 0;
    flags.check = LZMA_CHECK_CRC32;
    uint8_t h[LZMA_STREAM_HEADER_SIZE];
    if (lzma_stream_header_encode(&flags, h) != LZMA_OK)
        return error_set(err, ERROR_RUNTIME, "xz: cannot encode a stream header");
    w->xz_header_done = true;
    return sink_out(w, h, sizeof h, err);
}

/* A block header's recorded sizes (the multi-threaded encoder always records both). */
static int xz_block_sizes(const uint8_t *header, size_t header_size, lzma_vli *unpadded, lzma_vli *uncompressed,
                          lzma_vli *body, struct error *err)
{
    lzma_filter filters[LZMA_FILTERS_MAX + 1];
    lzma_block block;
    memset(&block, 0, sizeof block);
    block.version = 1;
    block.header_size = (uint32_t)header_size;
    block.check = LZMA_CHECK_CRC32;
    block.filters = filters;
    lzma_ret r = lzma_block_header_decode(&block, NULL, header);
    if (r == LZMA_OK)
        for (size_t i = 0; filters[i].id != LZMA_VLI_UNKNOWN; i++)
            free(filters[i].options);
    if (r != LZMA_OK || block.compressed_size == LZMA_VLI_UNKNOWN || block.uncompressed_size == LZMA_VLI_UNKNOWN)
        return error_set(err, ERROR_RUNTIME, "xz: the encoder wrote a block header without sizes");
    *unpadded = lzma_block_unpadded_size(&block);
    *uncompressed = block.uncompressed_size;
    *body = (block.compressed_size + 3) / 4 * 4 + lzma_check_size(LZMA_CHECK_CRC32);
    return 0;
}

/* The current encoder's output: drop its stream header, pass each block through and record it
 * in the index, drop its index and footer (the index indicator is a 0x00 where a block header
 * would start). */
static int xz_splice_feed(struct compress_writer *w, const uint8_t *p, size_t len, struct error *err)
{
    while (len) {
        if (w->xz_skip) {
            size_t k = len < w->xz_skip ? len : w->xz_skip;
            w->xz_skip -= k, p += k, len -= k;
        } else if (w->xz_in_index) {
            return 0;
        } else if (w->xz_body_left) {
            size_t k = len < w->xz_body_left ? len : (size_t)w->xz_body_left;
            if (sink_out(w, p, k, err) != 0)
                return -1;
            w->xz_body_left -= k, p += k, len -= k;
        } else {
            if (w->xz_hdr_have == 0) {
                if (p[0] == 0) {
                    w->xz_in_index = true;
                    continue;
                }
                w->xz_hdr_need = ((size_t)p[0] + 1) * 4;
            }
            size_t k = w->xz_hdr_need - w->xz_hdr_have;
            if (k > len)
                k = len;
            memcpy(w->xz_hdr + w->xz_hdr_have, p, k);
            w->xz_hdr_have += k, p += k, len -= k;
            if (w->xz_hdr_have < w->xz_hdr_need)
                continue;
            lzma_vli unpadded, uncompressed, body;
            if (xz_block_sizes(w->xz_hdr, w->xz_hdr_need, &unpadded, &uncompressed, &body, err) != 0 ||
                xz_stream_header(w, err) != 0 || sink_out(w, w->xz_hdr, w->xz_hdr_need, err) != 0)
                return -1;
            if (lzma_index_append(w->xz_index, NULL, unpadded, uncompressed) != LZMA_OK)
                return error_set(err, ERROR_RUNTIME, "xz: index append failed");
            w->xz_body_left = body;
            w->xz_hdr_have = 0;
        }
    }
    return 0;
}

/* The end of the stream: index of every block, footer. */
static int xz_stream_end(struct compress_writer *w, struct error *err)
{
    if (xz_stream_header(w, err) != 0)
        return -1;
    size_t isz = (size_t)lzma_index_size(w->xz_index), pos = 0;
    uint8_t *ib = xmalloc(isz);
    int rc = 0;
    if (lzma_index_buffer_encode(w->xz_index, ib, &pos, isz) != LZMA_OK)
        rc = error_set(err, ERROR_RUNTIME, "xz: cannot encode the index");
    if (rc == 0)
        rc = sink_out(w, ib, pos, err);
    free(ib);
    lzma_stream_flags flags;
    memset(&flags, 0, sizeof flags);
    flags.version = 0;
    flags.check = LZMA_CHECK_CRC32;
    flags.backward_size = isz;
    uint8_t f[LZMA_STREAM_HEADER_SIZE];
    if (rc == 0 && lzma_stream_footer_encode(&flags, f) != LZMA_OK)
        rc = error_set(err, ERROR_RUNTIME, "xz: cannot encode the stream footer");
    if (rc == 0)
        rc = sink_out(w, f, sizeof f, err);
    return rc;
}

int compress_writer_open(struct compress_writer **out, const struct compress_options *opts, struct compress_sink sink,
                         struct error *err)
{
    *out = NULL;
    struct compress_writer *w = xcalloc(1, sizeof *w);
    w->opts = *opts;
    w->sink = sink;
    int threads = opts->threads > 0 ? opts->threads : online_cpus();
    switch (opts->kind) {
    case COMPRESS_NONE: break;
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
        w->xz_preset = level | (opts->xz_extreme ? (int)LZMA_PRESET_EXTREME : 0);
        w->xz_threads = threads;
        /* liblzma's default block size for LZMA2 (lzma2_block_size: 3 x dictionary, at least
         * 1 MiB), made explicit because zero runs are cut at block boundaries; independent of
         * the thread count. test_compress checks the bytes against liblzma's own default. */
        lzma_options_lzma preset;
        if (lzma_lzma_preset(&preset, (uint32_t)w->xz_preset)) {
            free(w);
            return error_set(err, ERROR_RUNTIME, "xz: preset %d unknown to liblzma", level);
        }
        w->xz_block_size = 3ull * preset.dict_size > (1ull << 20) ? 3ull * preset.dict_size : (1ull << 20);
        w->xz_index = lzma_index_init(NULL);
        if (!w->xz_index) {
            free(w);
            return error_set(err, ERROR_RUNTIME, "xz: cannot allocate an index");
        }
        w->out_cap = OUT_CHUNK;
        if (xz_encoder_start(w, err) != 0) {
            lzma_index_end(w->xz_index, NULL);
            free(w);
            return -1;
        }
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
    default: free(w); return error_set(err, ERROR_INPUT, "compress: unknown compression kind %d", (int)opts->kind);
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

static int zstd_step(struct compress_writer *w, const void *data, size_t len, ZSTD_EndDirective mode, struct error *err)
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

static int xz_step(struct compress_writer *w, const void *data, size_t len, lzma_action action, struct error *err)
{
    w->xz.next_in = data;
    w->xz.avail_in = len;
    for (;;) {
        w->xz.next_out = w->out;
        w->xz.avail_out = w->out_cap;
        lzma_ret r = lzma_code(&w->xz, action);
        size_t produced = w->out_cap - w->xz.avail_out;
        if (xz_splice_feed(w, w->out, produced, err) != 0)
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
    case COMPRESS_NONE: return len ? w->sink.write(w->sink.ctx, data, len, err) : 0;
    case COMPRESS_ZSTD: return len ? zstd_step(w, data, len, ZSTD_e_continue, err) : 0;
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
    if (w->opts.kind == COMPRESS_XZ) {
        if (!w->restart && xz_step(w, NULL, 0, LZMA_FINISH, err) != 0)
            return -1;
        return xz_stream_end(w, err);
    }
    if (!w->frame_open && w->emitted)
        return 0; /* the last thing written was a zero run, whose frame is complete */
    switch (w->opts.kind) {
    case COMPRESS_NONE: return 0;
    case COMPRESS_ZSTD: return zstd_step(w, NULL, 0, ZSTD_e_end, err);
    case COMPRESS_XZ: return xz_step(w, NULL, 0, LZMA_FINISH, err);
    case COMPRESS_GZIP: return gz_step(w, NULL, 0, Z_FINISH, err);
    }
    return error_set(err, ERROR_RUNTIME, "compress: bad writer");
}

/* ------------------------------------------------------------------ zero runs
 * A disk image is mostly zeros. Compressing them costs as much as data (zstd -18 and xz spend
 * their match finder on every byte), so a long zero run ends the current frame and is written
 * as its own frame, built here without the compressor:
 *  - zstd: a frame of RLE blocks (128 KiB each, 4 bytes each), content size and XXH64 checksum;
 *  - xz: no new stream; whole blocks of zeros inside the one stream are a cached copy of the
 *    block the encoder writes for them (see struct compress_writer), so the bytes do not change;
 *  - gzip: a member whose deflate data is one cached full-flushed chunk of 1 MiB of zeros
 *    repeated, an empty final block, CRC32 (combined, not recomputed) and ISIZE.
 * Concatenated frames/streams/members are what zstd, xz and gzip decode as one file. */

#define ZERO_BUF (1u << 20)
#define ZSTD_RLE_BLOCK (128u * 1024u)
#define GZ_ZERO_CHUNK ZERO_BUF

static const uint8_t zero_buf[ZERO_BUF];

#define XXH_P1 11400714785074694791ull
#define XXH_P2 14029467366897019727ull
#define XXH_P3 1609587929392839161ull
#define XXH_P4 9650029242287828579ull
#define XXH_P5 2870177450012600261ull

static uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}
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
    le_put_n(h, 0xFD2FB528u, 4);
    h[4] = 0xC4; /* 8-byte content size, content checksum, not single-segment */
    h[5] = 0x38; /* window 128 KiB: decoders need no more memory than one block */
    le_put_n(h + 6, n, 8);
    if (sink_out(w, h, sizeof h, err) != 0)
        return -1;
    size_t fill = 0;
    for (uint64_t left = n; left;) {
        uint32_t b = left > ZSTD_RLE_BLOCK ? ZSTD_RLE_BLOCK : (uint32_t)left;
        left -= b;
        le_put_n(w->out + fill, (left == 0) | (1u << 1) | (b << 3), 3); /* RLE block */
        w->out[fill + 3] = 0;
        fill += 4;
        if (fill + 4 > w->out_cap || left == 0) {
            if (sink_out(w, w->out, fill, err) != 0)
                return -1;
            fill = 0;
        }
    }
    uint8_t sum[4];
    le_put_n(sum, xxh64_zeros(n), 4);
    return sink_out(w, sum, sizeof sum, err);
}

/* The block the encoder writes for xz_block_size zero bytes: run it once on them and take the
 * block out of its stream (after the 12-byte header, up to the index). */
static int xz_zero_block_cache(struct compress_writer *w, struct error *err)
{
    lzma_mt mt;
    memset(&mt, 0, sizeof mt);
    mt.threads = (uint32_t)w->xz_threads;
    mt.block_size = w->xz_block_size;
    mt.preset = (uint32_t)w->xz_preset;
    mt.check = LZMA_CHECK_CRC32;
    lzma_stream s = LZMA_STREAM_INIT;
    if (lzma_stream_encoder_mt(&s, &mt) != LZMA_OK)
        return error_set(err, ERROR_RUNTIME, "xz: cannot start the encoder");
    struct buffer out = BUFFER_INIT;
    uint8_t chunk[64 * 1024];
    uint64_t left = w->xz_block_size;
    lzma_ret r;
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
        buffer_append(&out, chunk, sizeof chunk - s.avail_out);
        if (r != LZMA_OK)
            break;
    }
    lzma_end(&s);
    int rc = 0;
    lzma_vli unpadded = 0, uncompressed = 0, body = 0;
    size_t header_size = out.len > LZMA_STREAM_HEADER_SIZE ? ((size_t)out.data[LZMA_STREAM_HEADER_SIZE] + 1) * 4 : 0;
    if (r != LZMA_STREAM_END || out.len < LZMA_STREAM_HEADER_SIZE + header_size)
        rc = error_set(err, ERROR_RUNTIME, "xz: encoding a block of zeros failed (liblzma error %d)", (int)r);
    if (rc == 0)
        rc = xz_block_sizes((const uint8_t *)out.data + LZMA_STREAM_HEADER_SIZE, header_size, &unpadded, &uncompressed,
                            &body, err);
    if (rc == 0 && (uncompressed != w->xz_block_size || LZMA_STREAM_HEADER_SIZE + header_size + body > out.len))
        rc = error_set(err, ERROR_RUNTIME, "xz: the encoder did not write one block for one block of zeros");
    if (rc == 0) {
        w->xz_zero_block_len = header_size + (size_t)body;
        w->xz_zero_block = xmalloc(w->xz_zero_block_len);
        memcpy(w->xz_zero_block, out.data + LZMA_STREAM_HEADER_SIZE, w->xz_zero_block_len);
        w->xz_zero_block_unpadded = unpadded;
    }
    buffer_free(&out);
    return rc;
}

/* Zeros inside the one stream: up to the next block boundary through the encoder, whole blocks
 * as the cached zero block, the rest through a new encoder (so its blocks start on the same
 * boundaries as they would in one encoder's stream, and every byte comes out the same). */
static int xz_zeros(struct compress_writer *w, uint64_t n, struct error *err)
{
    const uint64_t bs = w->xz_block_size;
    uint64_t head = (bs - w->bytes_in % bs) % bs;
    if (head > n)
        head = n;
    for (uint64_t left = head; left;) {
        size_t k = left > ZERO_BUF ? ZERO_BUF : (size_t)left;
        if (compress_writer_write(w, zero_buf, k, err) != 0)
            return -1;
        left -= k;
    }
    uint64_t blocks = (n - head) / bs;
    if (blocks) {
        if (!w->restart) { /* end the encoder: its blocks so far are complete */
            if (xz_step(w, NULL, 0, LZMA_FINISH, err) != 0)
                return -1;
            w->restart = true;
        }
        w->frame_open = false;
        if (!w->xz_zero_block && xz_zero_block_cache(w, err) != 0)
            return -1;
        if (xz_stream_header(w, err) != 0)
            return -1;
        for (uint64_t k = 0; k < blocks; k++) {
            if (sink_out(w, w->xz_zero_block, w->xz_zero_block_len, err) != 0)
                return -1;
            if (lzma_index_append(w->xz_index, NULL, w->xz_zero_block_unpadded, bs) != LZMA_OK)
                return error_set(err, ERROR_RUNTIME, "xz: index append failed");
        }
        w->bytes_in += blocks * bs;
    }
    for (uint64_t left = n - head - blocks * bs; left;) {
        size_t k = left > ZERO_BUF ? ZERO_BUF : (size_t)left;
        if (compress_writer_write(w, zero_buf, k, err) != 0)
            return -1;
        left -= k;
    }
    return 0;
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
    le_put_n(t + 2, crc, 4);
    le_put_n(t + 6, n & 0xffffffffu, 4);
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
    if (w->opts.kind == COMPRESS_XZ)
        return xz_zeros(w, n, err);
    if (w->frame_open) { /* end the data frame before the zero frame */
        int rc =
            w->opts.kind == COMPRESS_ZSTD ? zstd_step(w, NULL, 0, ZSTD_e_end, err) : gz_step(w, NULL, 0, Z_FINISH, err);
        if (rc != 0)
            return -1;
        w->frame_open = false;
        w->restart = true;
    }
    w->bytes_in += n;
    switch (w->opts.kind) {
    case COMPRESS_ZSTD: return zstd_zero_frame(w, n, err);
    case COMPRESS_GZIP: return gz_zero_member(w, n, err);
    default: return error_set(err, ERROR_RUNTIME, "compress: bad writer");
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
    if (w->xz_index)
        lzma_index_end(w->xz_index, NULL);
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
    if (len >= 6 && !memcmp(p,
                            "\xfd"
                            "7zXZ\0",
                            6))
        return COMPRESS_XZ;
    if (len >= 4 && !memcmp(p, "\x28\xb5\x2f\xfd", 4))
        return COMPRESS_ZSTD;
    return COMPRESS_NONE;
}

const char *compress_kind_name(enum compress_kind kind)
{
    switch (kind) {
    case COMPRESS_NONE: return "none";
    case COMPRESS_GZIP: return "gzip";
    case COMPRESS_XZ: return "xz";
    case COMPRESS_ZSTD: return "zstd";
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
    default: return error_set(err, ERROR_RUNTIME, "decompress: bad decompressor");
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
