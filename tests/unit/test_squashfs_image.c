/* Unit tests for src/format/squashfs_image.c, checked with squashfs-tools' unsquashfs (an
 * independent reader): listing, owner, mtime, content, exclusions, compressors, xattrs, and
 * byte-identical output for any thread count. */
#include <errno.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "format/squashfs_image.h"
#include "build_test_util.h"
#include "test.h"

static char *make_tree(const char *dir)
{
    char *src = path_join(dir, "src");
    char *p;
#define W(rel, text)                                                                                                   \
    p = path_join(src, rel);                                                                                           \
    bt_write_str(p, text);                                                                                             \
    free(p)
    W("usr/local/share/hello/README", "hello\n");
    W("usr/local/share/empty", "");
    W("usr/lib/firmware/vendor/fw.bin", "firmware\n");
    W("usr/lib/firmware/intel-ucode/06-55-04", "ucode\n");
    W("etc/cri/conf.d/10-x.part", "[plugins]\n");
    W("usr/local/share/dup-a", "same small content\n"); /* identical fragments: deduplicated */
    W("usr/local/share/dup-b", "same small content\n");
#undef W
    p = path_join(src, "usr/local/bin/big");
    bt_write_random(p, 400000, 11, 0); /* several blocks plus a tail */
    free(p);
    p = path_join(src, "usr/local/bin/big-copy"); /* identical blocks must not be merged by hash */
    bt_write_random(p, 400000, 11, 0);
    free(p);
    p = path_join(src, "usr/local/bin/tool");
    bt_write_random(p, 5000, 12, 1);
    chmod(p, 0755);
    free(p);
    p = path_join(src, "usr/local/bin/link");
    CHECK_INT(symlink("tool", p), 0);
    free(p);
    p = path_join(src, "usr/local/empty-dir");
    mkdir(p, 0700);
    free(p);
    return src;
}

/* A line that starts with `head` and ends with `tail` (unsquashfs pads its size column). */
static bool has_line(const char *text, const char *head, const char *tail)
{
    for (const char *l = text; l && *l;) {
        const char *nl = strchr(l, '\n');
        size_t n = nl ? (size_t)(nl - l) : strlen(l), hn = strlen(head), tn = strlen(tail);
        if (n >= hn + tn && !strncmp(l, head, hn) && !strncmp(l + n - tn, tail, tn))
            return true;
        l = nl ? nl + 1 : NULL;
    }
    return false;
}

static void image_is_read_by_unsquashfs(void)
{
    char *dir = bt_scratch();
    char *src = make_tree(dir);
    char *img = path_join(dir, "0.sqsh");
    const char *exclude[] = {"usr/lib/firmware", NULL};
    struct squashfs_image_options o = {COMPRESS_ZSTD, 18, 0, 1735689600, 2, NULL, exclude, NULL, NULL, 0};
    struct error err = {0};
    CHECK_INT(squashfs_image_write(src, img, &o, &err), 0);
    struct stat st;
    CHECK(stat(img, &st) == 0 && st.st_size % 4096 == 0);
    struct buffer out = BUFFER_INIT;
    CHECK_INT(bt_run(&out, "unsquashfs -s '%s'", img), 0);
    CHECK(strstr(buffer_cstr(&out), "Compression zstd") && strstr(buffer_cstr(&out), "compression-level 18"));
    CHECK(strstr(buffer_cstr(&out), "Block size 131072"));
    CHECK(strstr(buffer_cstr(&out), "Wed Jan  1 00:00:00 2025"));
    buffer_reset(&out);
    CHECK_INT(bt_run(&out, "TZ=UTC unsquashfs -lln '%s'", img), 0);
    const char *t = buffer_cstr(&out);
    CHECK(has_line(t, "-rwxr-xr-x 0/0 ", " 5000 2025-01-01 00:00 squashfs-root/usr/local/bin/tool"));
    CHECK(has_line(t, "lrwxrwxrwx 0/0 ", " 4 2025-01-01 00:00 squashfs-root/usr/local/bin/link -> tool"));
    CHECK(strstr(t, "drwx------ 0/0"));
    CHECK(strstr(t, "squashfs-root/usr/local/share/empty\n"));
    CHECK(strstr(t, "squashfs-root/usr/lib\n")); /* the parent stays, empty */
    CHECK(!strstr(t, "firmware"));
    /* extracted content equals the source, minus the excluded tree */
    char *x = path_join(dir, "x");
    CHECK_INT(bt_run(NULL, "unsquashfs -q -n -d '%s' '%s'", x, img), 0);
    CHECK_INT(bt_run(NULL, "rm -rf '%s/usr/lib/firmware' && diff -r --no-dereference '%s' '%s'", src, src, x), 0);
    buffer_free(&out);
    free(x);
    free(img);
    free(src);
    bt_remove(dir);
    free(dir);
}

static void output_is_reproducible_and_compressors_selectable(void)
{
    char *dir = bt_scratch();
    char *src = make_tree(dir);
    char *a = path_join(dir, "a.sqsh"), *b = path_join(dir, "b.sqsh"), *c = path_join(dir, "c.sqsh");
    struct squashfs_image_options o = {COMPRESS_ZSTD, 18, 0, 1735689600, 1, NULL, NULL, NULL, NULL, 0};
    struct error err = {0};
    CHECK_INT(squashfs_image_write(src, a, &o, &err), 0);
    o.threads = 4;
    CHECK_INT(squashfs_image_write(src, b, &o, &err), 0);
    CHECK(bt_files_equal(a, b));
    /* xz (Talos < 1.8) with an SELinux label on every inode (>= 1.10) */
    struct squashfs_image_options x = {
        COMPRESS_XZ, 0, 0, 1735689600, 2, "system_u:object_r:system_extension_t:s0", NULL, NULL, NULL, 0};
    CHECK_INT(squashfs_image_write(src, c, &x, &err), 0);
    struct buffer out = BUFFER_INIT;
    CHECK_INT(bt_run(&out, "unsquashfs -s '%s'", c), 0);
    CHECK(strstr(buffer_cstr(&out), "Compression xz"));
    CHECK(strstr(buffer_cstr(&out), "Number of xattr ids 1"));
    buffer_reset(&out);
    CHECK_INT(bt_run(&out, "unsquashfs -cat '%s' usr/local/share/hello/README", c), 0);
    CHECK_STR(buffer_cstr(&out), "hello\n");
    buffer_free(&out);
    free(a);
    free(b);
    free(c);
    free(src);
    bt_remove(dir);
    free(dir);
}

/* A label on one path (Talos' mksquashfs `-p "<path> x security.selinux=<label>"`) lands on that
 * inode only, without a NUL, when the tree is unpacked with unsquashfs -xattrs (read back with
 * getxattr where the file system keeps security.* attributes); a path not in the tree is an error. */
static void single_paths_get_their_own_label(void)
{
    char *dir = bt_scratch();
    char *src = make_tree(dir);
    char *img = path_join(dir, "l.sqsh"), *x = path_join(dir, "l");
    const struct squashfs_label label = {"usr/local/share/hello/README", "system_u:object_r:system_state_t:s0"};
    struct squashfs_image_options o = {COMPRESS_ZSTD, 18, 0, 1735689600, 1, NULL, NULL, NULL, &label, 1};
    struct error err = {0};
    CHECK_INT(squashfs_image_write(src, img, &o, &err), 0);
    struct buffer out = BUFFER_INIT;
    CHECK_INT(bt_run(&out, "unsquashfs -s '%s'", img), 0);
    CHECK(strstr(buffer_cstr(&out), "Number of xattr ids 1"));
    buffer_reset(&out);
    if (geteuid() == 0 && bt_run(&out, "unsquashfs -xattrs -no-progress -d '%s' '%s'", x, img) == 0) {
        char *file = path_join(x, "usr/local/share/hello/README");
        char value[128];
        ssize_t n = getxattr(file, "security.selinux", value, sizeof value);
        if (n >= 0 || errno != ENOTSUP) {
            CHECK_INT(n, (ssize_t)strlen(label.label));
            CHECK(n > 0 && memcmp(value, label.label, (size_t)n) == 0);
            char *other = path_join(x, "usr/local/share/hello");
            CHECK(getxattr(other, "security.selinux", value, sizeof value) < 0);
            free(other);
        }
        free(file);
    }
    buffer_free(&out);
    const struct squashfs_label missing = {"no/such/file", "x"};
    o.labels = &missing;
    CHECK_INT(squashfs_image_write(src, img, &o, &err), -1);
    CHECK(strstr(err.message, "cannot label /no/such/file") != NULL);
    free(img);
    free(x);
    free(src);
    bt_remove(dir);
    free(dir);
}

static void bad_sources_fail_without_output(void)
{
    char *dir = bt_scratch();
    char *img = path_join(dir, "out.sqsh");
    char *missing = path_join(dir, "nope");
    struct squashfs_image_options o = {COMPRESS_ZSTD, 18, 0, 0, 1, NULL, NULL, NULL, NULL, 0};
    struct error err = {0};
    CHECK_INT(squashfs_image_write(missing, img, &o, &err), -1);
    CHECK(strstr(err.message, missing) != NULL);
    char *file = path_join(dir, "file");
    bt_write_str(file, "x");
    CHECK_INT(squashfs_image_write(file, img, &o, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    o.compression = COMPRESS_NONE;
    CHECK_INT(squashfs_image_write(dir, img, &o, &err), -1);
    CHECK(!fs_exists(img));
    CHECK_INT(bt_dir_entries(dir), 1); /* only "file": no temp file left */
    free(img);
    free(missing);
    free(file);
    bt_remove(dir);
    free(dir);
}

int main(void)
{
    RUN(image_is_read_by_unsquashfs);
    RUN(output_is_reproducible_and_compressors_selectable);
    RUN(single_paths_get_their_own_label);
    RUN(bad_sources_fail_without_output);
    return TEST_MAIN_END();
}
