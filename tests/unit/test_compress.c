/* Unit tests for src/format/compress.c: round trips, reproducibility across thread counts, the
 * kernel-relevant stream details (xz CRC32 check, gzip without a timestamp), checked with the
 * zstd/xz/gzip command-line tools as outside readers. */
#include "format/compress.h"

#include <lzma.h>
#include <string.h>

#include "build_test_util.h"
#include "test.h"

static int buffer_sink_write(void *ctx, const void *data, size_t len, struct error *err)
{
    (void)err;
    buffer_append(ctx, data, len);
    return 0;
}

static struct compress_sink buffer_sink(struct buffer *b)
{
    struct compress_sink s = {buffer_sink_write, b};
    return s;
}

static int compress_buffer(enum compress_kind kind, int level, bool extreme, int threads, const void *data, size_t len,
                           struct buffer *out)
{
    struct compress_options o = {kind, level, extreme, threads};
    struct compress_writer *w;
    struct error err = {0};
    if (compress_writer_open(&w, &o, buffer_sink(out), &err) != 0)
        return -1;
    /* odd-sized writes exercise the streaming paths */
    const char *p = data;
    size_t left = len;
    int rc = 0;
    while (left && !rc) {
        size_t n = left < 77777 ? left : 77777;
        rc = compress_writer_write(w, p, n, &err);
        p += n;
        left -= n;
    }
    if (!rc)
        rc = compress_writer_finish(w, &err);
    compress_writer_free(w);
    if (rc)
        printf("  compress: %s\n", err.message);
    return rc;
}

static int decompress_buffer(enum compress_kind kind, const struct buffer *in, struct buffer *out, size_t *used,
                             struct error *err_out)
{
    struct decompressor *d;
    struct error err = {0};
    if (decompressor_open(&d, kind, &err) != 0)
        return -1;
    size_t pos = 0;
    bool done = false;
    int rc = 0;
    while (!done && !rc) {
        size_t chunk = in->len - pos > 5000 ? 5000 : in->len - pos;
        size_t c = 0;
        rc = decompressor_feed(d, in->data + pos, chunk, &c, &done, buffer_sink(out), &err);
        pos += c;
        if (!chunk)
            break;
    }
    decompressor_free(d);
    *used = pos;
    if (err_out)
        *err_out = err;
    else if (rc)
        printf("  decompress: %s\n", err.message);
    return rc;
}

static void round_trips_every_kind(void)
{
    size_t n = 3u << 20;
    unsigned char *data = xmalloc(n);
    bt_fill(data, n, 42, 1);
    enum compress_kind kinds[] = {COMPRESS_ZSTD, COMPRESS_XZ, COMPRESS_GZIP};
    for (size_t k = 0; k < 3; k++) {
        struct buffer c = BUFFER_INIT, d = BUFFER_INIT;
        CHECK_INT(compress_buffer(kinds[k], kinds[k] == COMPRESS_XZ ? 0 : 3, kinds[k] == COMPRESS_XZ, 2, data, n, &c), 0);
        CHECK(c.len > 0 && c.len < n);
        CHECK_INT(compress_detect(c.data, c.len), kinds[k]);
        /* a second stream right behind the first: the decoder stops at the first one's end */
        size_t first = c.len;
        buffer_append(&c, "\x28\xb5\x2f\xfd trailing", 14);
        size_t used = 0;
        CHECK_INT(decompress_buffer(kinds[k], &c, &d, &used, NULL), 0);
        CHECK_INT(used, first);
        CHECK_INT(d.len, n);
        CHECK(d.len == n && memcmp(d.data, data, n) == 0);
        buffer_free(&c);
        buffer_free(&d);
    }
    struct buffer c = BUFFER_INIT;
    CHECK_INT(compress_buffer(COMPRESS_NONE, 0, false, 1, "plain", 5, &c), 0);
    CHECK(c.len == 5 && !memcmp(c.data, "plain", 5));
    buffer_free(&c);
    free(data);
}

/* Same bytes whatever the thread count (the reason zstd never runs with 0 workers). */
static void output_does_not_depend_on_threads(void)
{
    size_t n = 12u << 20; /* > one zstd job at level 3, so several workers really run */
    unsigned char *data = xmalloc(n);
    bt_fill(data, n, 7, 1);
    enum compress_kind kinds[] = {COMPRESS_ZSTD, COMPRESS_XZ};
    for (size_t k = 0; k < 2; k++) {
        struct buffer one = BUFFER_INIT, two = BUFFER_INIT, four = BUFFER_INIT;
        int level = kinds[k] == COMPRESS_ZSTD ? 3 : 0;
        size_t len = kinds[k] == COMPRESS_XZ ? (4u << 20) : n; /* xz is slow; 4 MiB is 4 blocks */
        CHECK_INT(compress_buffer(kinds[k], level, false, 1, data, len, &one), 0);
        CHECK_INT(compress_buffer(kinds[k], level, false, 2, data, len, &two), 0);
        CHECK_INT(compress_buffer(kinds[k], level, false, 4, data, len, &four), 0);
        CHECK(one.len == two.len && !memcmp(one.data, two.data, one.len));
        CHECK(one.len == four.len && !memcmp(one.data, four.data, one.len));
        buffer_free(&one);
        buffer_free(&two);
        buffer_free(&four);
    }
    free(data);
}

/* The kernel accepts xz only with CRC32 (or no) check; gzip must carry no timestamp. The CLI
 * tools read our streams back. */
static void stream_details_match_what_the_kernel_and_tools_need(void)
{
    char *dir = bt_scratch();
    unsigned char data[5000];
    bt_fill(data, sizeof data, 3, 1);
    struct buffer xz = BUFFER_INIT, gz = BUFFER_INIT, zst = BUFFER_INIT;
    CHECK_INT(compress_buffer(COMPRESS_XZ, 0, true, 0, data, sizeof data, &xz), 0);
    CHECK_INT(compress_buffer(COMPRESS_GZIP, 6, false, 0, data, sizeof data, &gz), 0);
    CHECK_INT(compress_buffer(COMPRESS_ZSTD, 18, false, 0, data, sizeof data, &zst), 0);
    CHECK(xz.len > 8 && (unsigned char)xz.data[7] == 0x01);    /* stream flags: check type CRC32 */
    CHECK(gz.len > 10 && !memcmp(gz.data + 4, "\0\0\0\0", 4)); /* MTIME = 0 */
    CHECK(gz.len > 10 && (gz.data[3] & 0x08) == 0);            /* no file name */
    char *raw = path_join(dir, "raw"), *fx = path_join(dir, "a.xz"), *fg = path_join(dir, "a.gz"),
         *fz = path_join(dir, "a.zst");
    bt_write(raw, data, sizeof data);
    bt_write(fx, xz.data, xz.len);
    bt_write(fg, gz.data, gz.len);
    bt_write(fz, zst.data, zst.len);
    struct buffer out = BUFFER_INIT;
    CHECK_INT(bt_run(&out, "xz --robot --list '%s'", fx), 0);
    CHECK(strstr(buffer_cstr(&out), "CRC32") != NULL);
    CHECK_INT(bt_run(NULL, "xz -dc '%s' | cmp - '%s'", fx, raw), 0);
    CHECK_INT(bt_run(NULL, "gzip -dc '%s' | cmp - '%s'", fg, raw), 0);
    CHECK_INT(bt_run(NULL, "zstd -q -dc '%s' | cmp - '%s'", fz, raw), 0);
    buffer_free(&out);
    buffer_free(&xz);
    buffer_free(&gz);
    buffer_free(&zst);
    free(raw);
    free(fx);
    free(fg);
    free(fz);
    bt_remove(dir);
    free(dir);
}

static void corrupt_and_truncated_streams_are_input_errors(void)
{
    unsigned char data[100000];
    bt_fill(data, sizeof data, 9, 0);
    enum compress_kind kinds[] = {COMPRESS_ZSTD, COMPRESS_XZ, COMPRESS_GZIP};
    for (size_t k = 0; k < 3; k++) {
        struct buffer c = BUFFER_INIT, d = BUFFER_INIT;
        CHECK_INT(compress_buffer(kinds[k], kinds[k] == COMPRESS_XZ ? 1 : 3, false, 1, data, sizeof data, &c), 0);
        struct buffer cut = BUFFER_INIT;
        buffer_append(&cut, c.data, c.len / 2);
        size_t used;
        struct error e1 = {0}, e2 = {0};
        CHECK_INT(decompress_buffer(kinds[k], &cut, &d, &used, &e1), -1);
        CHECK(e1.code == ERROR_INPUT && strstr(e1.message, "ends before the end"));
        buffer_reset(&d);
        c.data[c.len / 2] ^= 0x55;
        c.data[c.len / 2 + 1] ^= 0x55;
        CHECK_INT(decompress_buffer(kinds[k], &c, &d, &used, &e2), -1);
        CHECK(e2.code == ERROR_INPUT && strstr(e2.message, "corrupt"));
        buffer_free(&c);
        buffer_free(&d);
        buffer_free(&cut);
    }
}

/* compress_writer_write_zeros: data, a long zero run (own frame/stream/member, not compressed),
 * data, zeros at the end, an odd-sized run, and a file that is only zeros: the zstd, xz and gzip
 * tools decode each file to exactly the bytes written, and verify the checksums (zstd's XXH64,
 * xz's CRC32s and index, gzip's CRC32/ISIZE). */
static void zero_runs_decode_with_the_tools(void)
{
    char *dir = bt_scratch();
    size_t dn = 300000;
    unsigned char *data = xmalloc(dn);
    bt_fill(data, dn, 11, 1);
    static const uint64_t runs[] = {(64ull << 20) + 12345, 3, (1ull << 20) + 7};
    char *expected = xasprintf("%s/expected", dir);
    /* the expected plain bytes: data, run0, data, run1, data, run2 */
    FILE *f = fopen(expected, "wb");
    CHECK(f != NULL);
    for (size_t r = 0; f && r < 3; r++) {
        CHECK_INT((int)fwrite(data, 1, dn, f), (int)dn);
        CHECK_INT(fseeko(f, (off_t)runs[r], SEEK_CUR), 0);
    }
    if (f) {
        CHECK_INT(ftruncate(fileno(f), ftello(f)), 0);
        fclose(f);
    }
    enum compress_kind kinds[] = {COMPRESS_ZSTD, COMPRESS_XZ, COMPRESS_GZIP, COMPRESS_NONE};
    const char *tools[] = {"zstd -q -dc", "xz -dc", "gzip -dc", "cat"};
    for (size_t k = 0; k < 4; k++) {
        struct buffer c = BUFFER_INIT, z = BUFFER_INIT;
        struct compress_options o = {kinds[k], kinds[k] == COMPRESS_XZ ? 0 : 3, false, 2};
        struct compress_writer *w;
        struct error err = {0};
        CHECK_INT(compress_writer_open(&w, &o, buffer_sink(&c), &err), 0);
        for (size_t r = 0; r < 3; r++) {
            CHECK_INT(compress_writer_write(w, data, dn, &err), 0);
            CHECK_INT(compress_writer_write_zeros(w, runs[r], &err), 0);
        }
        CHECK_INT(compress_writer_finish(w, &err), 0);
        CHECK(compress_writer_bytes_in(w) == 3 * dn + runs[0] + runs[1] + runs[2]);
        compress_writer_free(w);
        if (kinds[k] != COMPRESS_NONE)
            CHECK(c.len < (4u << 20)); /* the 64 MiB run did not turn into 64 MiB */
        char *file = xasprintf("%s/out.%zu", dir, k);
        bt_write(file, c.data, c.len);
        CHECK_INT(bt_run(NULL, "%s '%s' | cmp - '%s'", tools[k], file, expected), 0);
        /* only zeros: one frame/stream/member and nothing else */
        CHECK_INT(compress_writer_open(&w, &o, buffer_sink(&z), &err), 0);
        CHECK_INT(compress_writer_write_zeros(w, 5000000, &err), 0);
        CHECK_INT(compress_writer_finish(w, &err), 0);
        compress_writer_free(w);
        bt_write(file, z.data, z.len);
        CHECK_INT(bt_run(NULL, "%s '%s' | cmp - /dev/zero 2>&1 | grep -q 'EOF on -'", tools[k], file), 0);
        CHECK_INT(bt_run(NULL, "test $(%s '%s' | wc -c) = 5000000", tools[k], file), 0);
        buffer_free(&c);
        buffer_free(&z);
        free(file);
    }
    free(expected);
    free(data);
    bt_remove(dir);
    free(dir);
}

/* xz is one stream assembled from the encoder's blocks: the bytes equal liblzma's own
 * multi-threaded stream (default block size for the preset), and writing a zero run with
 * compress_writer_write_zeros gives the same bytes as writing the zeros. */
static void xz_stream_is_liblzmas_and_zero_runs_keep_it(void)
{
    size_t dn = 700000;
    uint64_t zn = (5ull << 20) + 4321; /* not block-aligned on either side */
    unsigned char *data = xmalloc(dn);
    bt_fill(data, dn, 5, 1);
    size_t total = 2 * dn + (size_t)zn;
    unsigned char *plain = xcalloc(1, total);
    memcpy(plain, data, dn);
    memcpy(plain + dn + zn, data, dn);
    for (int preset = 0; preset <= 1; preset++) {
        /* liblzma directly */
        lzma_mt mt;
        memset(&mt, 0, sizeof mt);
        mt.threads = 2;
        mt.block_size = 0;
        mt.preset = (uint32_t)preset;
        mt.check = LZMA_CHECK_CRC32;
        lzma_stream ls = LZMA_STREAM_INIT;
        CHECK_INT(lzma_stream_encoder_mt(&ls, &mt), LZMA_OK);
        size_t cap = total + (1u << 20);
        unsigned char *ref = xmalloc(cap);
        ls.next_in = plain;
        ls.avail_in = total;
        ls.next_out = ref;
        ls.avail_out = cap;
        lzma_ret r;
        do
            r = lzma_code(&ls, LZMA_FINISH);
        while (r == LZMA_OK);
        CHECK_INT(r, LZMA_STREAM_END);
        size_t ref_len = cap - ls.avail_out;
        lzma_end(&ls);
        /* the writer, plain */
        struct buffer a = BUFFER_INIT, b = BUFFER_INIT;
        CHECK_INT(compress_buffer(COMPRESS_XZ, preset, false, 2, plain, total, &a), 0);
        CHECK(a.len == ref_len && memcmp(a.data, ref, ref_len) == 0);
        /* the writer, with a zero run */
        struct compress_options o = {COMPRESS_XZ, preset, false, 2};
        struct compress_writer *w;
        struct error err = {0};
        CHECK_INT(compress_writer_open(&w, &o, buffer_sink(&b), &err), 0);
        CHECK_INT(compress_writer_write(w, data, dn, &err), 0);
        CHECK_INT(compress_writer_write_zeros(w, zn, &err), 0);
        CHECK_INT(compress_writer_write(w, data, dn, &err), 0);
        CHECK_INT(compress_writer_finish(w, &err), 0);
        compress_writer_free(w);
        CHECK(b.len == ref_len && memcmp(b.data, ref, ref_len) == 0);
        buffer_free(&a);
        buffer_free(&b);
        free(ref);
    }
    free(plain);
    free(data);
}

static void kinds_have_names(void)
{
    enum compress_kind k;
    CHECK_INT(compress_kind_parse("zstd", &k), 0);
    CHECK_INT(k, COMPRESS_ZSTD);
    CHECK_INT(compress_kind_parse("xz", &k), 0);
    CHECK_INT(k, COMPRESS_XZ);
    CHECK_INT(compress_kind_parse("lzo", &k), -1);
    CHECK_STR(compress_kind_name(COMPRESS_GZIP), "gzip");
    CHECK_INT(compress_detect("070701", 6), COMPRESS_NONE);
    struct compress_options bad = {COMPRESS_ZSTD, 40, false, 1};
    struct compress_writer *w;
    struct error err = {0};
    struct buffer b = BUFFER_INIT;
    CHECK_INT(compress_writer_open(&w, &bad, buffer_sink(&b), &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
}

int main(void)
{
    RUN(round_trips_every_kind);
    RUN(output_does_not_depend_on_threads);
    RUN(stream_details_match_what_the_kernel_and_tools_need);
    RUN(corrupt_and_truncated_streams_are_input_errors);
    RUN(zero_runs_decode_with_the_tools);
    RUN(xz_stream_is_liblzmas_and_zero_runs_keep_it);
    RUN(kinds_have_names);
    return TEST_MAIN_END();
}
