/* Unit tests for src/format/cpio.c: the newc writer (read back by GNU cpio) and the initramfs
 * segment reader, including the cases the kernel rejects silently (unaligned raw archive, xz
 * with CRC64) which the reader must report. */
#include "format/compress.h"
#include "format/cpio.h"
#include "build_test_util.h"
#include "test.h"

#include <fcntl.h>

/* Write a newc archive (optionally compressed) with a few entries; returns 0. */
static int write_archive(const char *path, enum compress_kind kind, const char *tag, bool append)
{
    int fd = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);
    if (fd < 0)
        return -1;
    struct compress_fd_sink s = {fd, path, 0};
    struct compress_options o = {kind, kind == COMPRESS_XZ ? 0 : 3, false, 1};
    struct compress_writer *w;
    struct error err = {0};
    int rc = compress_writer_open(&w, &o, compress_sink_fd(&s), &err);
    if (rc) {
        close(fd);
        return -1;
    }
    struct cpio_writer cw;
    cpio_writer_init(&cw, compress_writer_sink(w), 1735689600);
    char *file = xasprintf("%s/file.txt", tag);
    char *content = xasprintf("content of %s\n", tag);
    rc = cpio_write_dir(&cw, tag, 0755, &err);
    if (!rc)
        rc = cpio_write_data(&cw, file, 0640, content, strlen(content), &err);
    if (!rc)
        rc = cpio_write_symlink(&cw, "link", file, &err);
    if (!rc)
        rc = cpio_write_data(&cw, "empty", 0600, "", 0, &err);
    if (!rc)
        rc = cpio_write_trailer(&cw, 512, &err);
    if (!rc)
        rc = compress_writer_finish(w, &err);
    compress_writer_free(w);
    close(fd);
    free(file);
    free(content);
    if (rc)
        printf("  write_archive: %s\n", err.message);
    return rc;
}

static void writer_output_is_read_by_gnu_cpio(void)
{
    char *dir = bt_scratch();
    char *a = path_join(dir, "a.cpio");
    CHECK_INT(write_archive(a, COMPRESS_NONE, "one", false), 0);
    struct stat st;
    CHECK(stat(a, &st) == 0 && st.st_size % 512 == 0);
    struct buffer out = BUFFER_INIT;
    CHECK_INT(bt_run(&out, "cpio -itv --quiet < '%s'", a), 0);
    const char *t = buffer_cstr(&out);
    CHECK(strstr(t, "drwxr-xr-x") && strstr(t, " one\n"));
    CHECK(strstr(t, "-rw-r-----") && strstr(t, "one/file.txt"));
    CHECK(strstr(t, "link -> one/file.txt"));
    CHECK(strstr(t, "root") || strstr(t, " 0 "));
    buffer_reset(&out);
    CHECK_INT(bt_run(&out, "cpio -i --quiet --to-stdout one/file.txt < '%s'", a), 0);
    CHECK_STR(buffer_cstr(&out), "content of one\n");
    buffer_free(&out);
    free(a);
    bt_remove(dir);
    free(dir);
}

/* [raw][zstd][xz][gzip] with zero padding: every segment and entry found, content captured,
 * later entries win for duplicate names, extraction writes the files. */
static void reader_splits_concatenated_segments(void)
{
    char *dir = bt_scratch();
    char *f = path_join(dir, "initrd");
    CHECK_INT(write_archive(f, COMPRESS_NONE, "raw", false), 0);
    CHECK_INT(write_archive(f, COMPRESS_ZSTD, "zst", true), 0);
    /* zeros between segments are skipped, as the kernel does */
    int fd = open(f, O_WRONLY | O_APPEND);
    CHECK(fd >= 0 && write(fd, "\0\0\0\0\0", 5) == 5);
    close(fd);
    CHECK_INT(write_archive(f, COMPRESS_XZ, "xz", true), 0);
    CHECK_INT(write_archive(f, COMPRESS_GZIP, "gz", true), 0);
    struct cpio_listing l;
    char *x = path_join(dir, "x");
    struct cpio_read_options ro = {4096, x};
    struct error err = {0};
    CHECK_INT(cpio_read_segments(f, &ro, &l, &err), 0);
    CHECK_INT(l.segment_count, 4);
    if (l.segment_count == 4) {
        CHECK_INT(l.segments[0].compression, COMPRESS_NONE);
        CHECK_INT(l.segments[0].offset, 0);
        CHECK_INT(l.segments[1].compression, COMPRESS_ZSTD);
        CHECK_INT(l.segments[2].compression, COMPRESS_XZ);
        CHECK_INT(l.segments[3].compression, COMPRESS_GZIP);
        for (size_t i = 0; i < 4; i++)
            CHECK_INT(l.segments[i].entry_count, 4);
    }
    const struct cpio_entry *e = cpio_listing_find(&l, "xz/file.txt");
    CHECK(e != NULL);
    if (e) {
        CHECK_STR(buffer_cstr((struct buffer *)&e->data), "content of xz\n");
        CHECK_INT(e->mode, 0100640);
        CHECK_INT(e->mtime, 1735689600);
        CHECK_INT(e->uid, 0);
    }
    e = cpio_listing_find(&l, "link");
    CHECK(e && S_ISLNK(e->mode) && !strcmp(buffer_cstr((struct buffer *)&e->data), "gz/file.txt"));
    char *ex = path_join(x, "zst/file.txt");
    struct buffer got = BUFFER_INIT;
    CHECK_INT(fs_read_file(ex, 100, &got, &err), 0);
    CHECK_STR(buffer_cstr(&got), "content of zst\n");
    buffer_free(&got);
    cpio_listing_free(&l);
    free(ex);
    free(x);
    free(f);
    bt_remove(dir);
    free(dir);
}

static void expect_reader_error(const char *path, const char *needle)
{
    struct cpio_listing l;
    struct cpio_read_options ro = {0, NULL};
    struct error err = {0};
    CHECK_INT(cpio_read_segments(path, &ro, &l, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    if (!strstr(err.message, needle))
        printf("  message \"%s\" lacks \"%s\"\n", err.message, needle);
    CHECK(strstr(err.message, needle) != NULL);
    CHECK(strstr(err.message, path) != NULL);
}

/* What the kernel drops without stopping the boot must be an error here. */
static void reader_reports_what_the_kernel_would_reject(void)
{
    char *dir = bt_scratch();
    /* raw archive after a compressed one at an odd offset */
    char *f = path_join(dir, "unaligned");
    CHECK_INT(write_archive(f, COMPRESS_ZSTD, "base", false), 0);
    struct stat st;
    stat(f, &st);
    if (st.st_size % 4 == 0) { /* make the offset odd */
        int fd = open(f, O_WRONLY | O_APPEND);
        CHECK(fd >= 0 && write(fd, "\x01", 1) == 1);
        close(fd);
        expect_reader_error(f, "neither a cpio archive");
    } else {
        CHECK_INT(write_archive(f, COMPRESS_NONE, "ext", true), 0);
        expect_reader_error(f, "not a multiple of 4");
    }
    /* xz with the default CRC64 check (xz tool default, libarchive) */
    char *raw = path_join(dir, "raw.cpio"), *x64 = path_join(dir, "crc64");
    CHECK_INT(write_archive(raw, COMPRESS_NONE, "r", false), 0);
    CHECK_INT(bt_run(NULL, "xz --check=crc64 -c '%s' > '%s'", raw, x64), 0);
    expect_reader_error(x64, "CRC32");
    /* truncated compressed archive, garbage, missing trailer */
    char *cut = path_join(dir, "cut");
    CHECK_INT(write_archive(cut, COMPRESS_ZSTD, "c", false), 0);
    stat(cut, &st);
    CHECK_INT(truncate(cut, st.st_size - 20), 0);
    expect_reader_error(cut, "zstd");
    char *junk = path_join(dir, "junk");
    bt_write_random(junk, 1000, 5, 0);
    expect_reader_error(junk, "offset 0");
    char *notrailer = path_join(dir, "notrailer");
    bt_write_str(notrailer, "070701");
    expect_reader_error(notrailer, "TRAILER");
    char *empty = path_join(dir, "empty");
    bt_write_str(empty, "");
    expect_reader_error(empty, "empty");
    free(f);
    free(raw);
    free(x64);
    free(cut);
    free(junk);
    free(notrailer);
    free(empty);
    bt_remove(dir);
    free(dir);
}

int main(void)
{
    RUN(writer_output_is_read_by_gnu_cpio);
    RUN(reader_splits_concatenated_segments);
    RUN(reader_reports_what_the_kernel_would_reject);
    return TEST_MAIN_END();
}
