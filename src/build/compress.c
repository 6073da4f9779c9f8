/* compress — see include/airfactory/compress.h. */
#include "airfactory/compress.h"
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

static int zstd_step(struct compress_writer *w, const void *data, size_t len, ZSTD_EndDirective mode,
                     struct error *err)
{
    ZSTD_inBuffer in = {data, len, 0};
    for (;;) {
        ZSTD_outBuffer o = {w->out, w->out_cap, 0};
        size_t r = ZSTD_compressStream2(w->zstd, &o, &in, mode);
        if (ZSTD_isError(r))
            return error_set(err, ERROR_RUNTIME, "zstd: %s", ZSTD_getErrorName(r));
        if (o.pos && w->sink.write(w->sink.ctx, w->out, o.pos, err) != 0)
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
        if (produced && w->sink.write(w->sink.ctx, w->out, produced, err) != 0)
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
        if (produced && w->sink.write(w->sink.ctx, w->out, produced, err) != 0)
            return -1;
        if (r == Z_STREAM_END)
            return 0;
        if (r != Z_OK && r != Z_BUF_ERROR)
            return error_set(err, ERROR_RUNTIME, "gzip: deflate failed (zlib error %d)", r);
        if (flush == Z_NO_FLUSH && w->gz.avail_in == 0)
            return 0;
    }
}

int compress_writer_write(struct compress_writer *w, const void *data, size_t len, struct error *err)
{
    if (w->finished)
        return error_set(err, ERROR_RUNTIME, "compress: write after finish");
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
