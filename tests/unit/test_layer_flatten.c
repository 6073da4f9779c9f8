/* test_layer_flatten — applying layers into a directory (whiteouts, opaque directories, replacement
 * across layers), every escape and bomb refused, diff_ids checked, output atomic; extracting
 * single files; and the same flattened tree as `umoci unpack --rootless` produces. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/json.h"
#include "oci/layer_flatten.h"
#include "oci/oci_import.h"
#include "oci_test_layout.h"
#include "test.h"

struct env {
    char *root;
    char *store_dir;
    struct store *store;
    int seq;
};

static void env_open(struct env *e)
{
    memset(e, 0, sizeof *e);
    e->root = tl_scratch();
    e->store_dir = xasprintf("%s/store", e->root);
    struct error err;
    if (store_open(e->store_dir, STORE_WRITE, &e->store, &err) != 0)
        printf("  %s\n", err.message);
}

static void env_close(struct env *e)
{
    store_close(e->store);
    tl_rm(e->root);
    free(e->root);
    free(e->store_dir);
}

/* Import an image made of these layers; fills img. mangle_diff_id breaks the config's first diff_id. */
static int make_image(struct env *e, const struct tl_entry *const *layers, const size_t *counts, size_t n,
                      enum tl_compression c, bool mangle_diff_id, struct oci_image *img)
{
    struct tl_layer *ls = xcalloc(n, sizeof *ls);
    for (size_t i = 0; i < n; i++)
        tl_make_layer(layers[i], counts[i], c, &ls[i]);
    if (mangle_diff_id)
        ls[0].diff_id[10] = ls[0].diff_id[10] == '0' ? '1' : '0';
    char *layout = xasprintf("%s/layout%d", e->root, e->seq);
    char *tag = xasprintf("img%d", e->seq++);
    char manifest[72];
    size_t size;
    tl_make_image(layout, "amd64", ls, n, manifest, &size);
    char *entry = xasprintf("{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\","
                            "\"size\":%zu,\"annotations\":{\"org.opencontainers.image.ref.name\":\"%s\"}}",
                            manifest, size, tag);
    tl_write_index(layout, entry);
    struct verify_policy policy = {.name = "test", .insecure = true};
    struct oci_import_options opts = {.policy = &policy, .reference = tag};
    struct oci_import_result *r;
    size_t count;
    struct error err;
    int rc = oci_import(e->store, layout, &opts, &r, &count, NULL, &err);
    if (rc == 0) {
        oci_import_results_free(r, count);
        free(r);
        rc = oci_image_load(e->store, tag, NULL, img, &err);
    }
    if (rc != 0)
        printf("  make_image: %s\n", err.message);
    for (size_t i = 0; i < n; i++)
        buffer_free(&ls[i].blob);
    free(ls);
    free(entry);
    free(tag);
    free(layout);
    return rc;
}

#define N_ENTRIES(a) (sizeof(a) / sizeof((a)[0]))

/* make_image of one layer of n entries. */
static int make_image1(struct env *e, const struct tl_entry *layer, size_t n, enum tl_compression c,
                       bool mangle_diff_id, struct oci_image *img)
{
    const struct tl_entry *layers[] = {layer};
    return make_image(e, layers, &n, 1, c, mangle_diff_id, img);
}

/* make_image of two gzip layers. */
static int make_image2(struct env *e, const struct tl_entry *l1, size_t n1, const struct tl_entry *l2, size_t n2,
                       struct oci_image *img)
{
    const struct tl_entry *layers[] = {l1, l2};
    size_t counts[] = {n1, n2};
    return make_image(e, layers, counts, 2, TL_GZIP, false, img);
}

static char *read_text(const char *dir, const char *rel)
{
    char *p = xasprintf("%s/%s", dir, rel);
    struct buffer b = BUFFER_INIT;
    struct error err;
    char *out = fs_read_file(p, 1 << 20, &b, &err) == 0 ? buffer_take(&b) : NULL;
    buffer_free(&b);
    free(p);
    return out;
}

static bool exists(const char *dir, const char *rel)
{
    char *p = xasprintf("%s/%s", dir, rel);
    bool r = fs_exists(p);
    free(p);
    return r;
}

static void check_text(const char *dir, const char *rel, const char *want)
{
    char *got = read_text(dir, rel);
    CHECK_STR(got, want);
    free(got);
}

static int flatten(struct env *e, const struct oci_image *img, const char *name, const struct layer_flatten_options *o,
                   struct error *err)
{
    char *dest = xasprintf("%s/%s", e->root, name);
    int rc = layer_flatten(e->store, img, dest, o, err);
    free(dest);
    return rc;
}

#define LAYER(...) ((const struct tl_entry[]){__VA_ARGS__})
#define COUNT(...) (sizeof((const struct tl_entry[]){__VA_ARGS__}) / sizeof(struct tl_entry))

static void test_flatten_whiteouts(void)
{
    struct env e;
    env_open(&e);
    const struct tl_entry l1[] = {
        {"etc/", 'd', NULL, 0755, 0},     {"etc/keep", 'f', "keep", 0600, 0},        {"etc/gone", 'f', "gone", 0, 0},
        {"bin/", 'd', NULL, 0750, 0},     {"bin/tool", 'f', "#!/bin/sh\n", 0755, 0}, {"d/old1", 'f', "old", 0, 0},
        {"d/sub/old2", 'f', "old", 0, 0}, {"replace-me", 'f', "file", 0, 0},         {"was-dir/x", 'f', "x", 0, 0},
    };
    const struct tl_entry l2[] = {
        {"etc/.wh.gone", 'f', "", 0, 0},
        {".wh.bin", 'f', "", 0, 0},
        {"d/new", 'f', "new", 0, 0},
        {"d/sub/new2", 'f', "new2", 0, 0}, /* an implicit child this layer writes before the marker */
        {"d/.wh..wh..opq", 'f', "", 0, 0},
        {"replace-me/", 'd', NULL, 0755, 0}, /* a directory entry replaces the lower file */
        {"replace-me/inside", 'f', "now a dir", 0, 0},
        {"was-dir", 'f', "now a file", 0, 0},
        {"etc/keep", 'f', "updated", 0640, 0},
    };
    struct oci_image img;
    CHECK_INT(make_image2(&e, l1, N_ENTRIES(l1), l2, N_ENTRIES(l2), &img), 0);
    struct error err;
    error_clear(&err);
    CHECK_INT(flatten(&e, &img, "out", NULL, &err), 0);
    if (err.message[0])
        printf("  %s\n", err.message);
    char *out = xasprintf("%s/out", e.root);
    check_text(out, "etc/keep", "updated");
    CHECK(!exists(out, "etc/gone"));
    CHECK(!exists(out, "etc/.wh.gone"));
    CHECK(!exists(out, "bin"));
    check_text(out, "d/new", "new");
    check_text(out, "d/sub/new2", "new2");
    CHECK(!exists(out, "d/old1"));
    CHECK(!exists(out, "d/sub/old2"));
    CHECK(!exists(out, "d/.wh..wh..opq"));
    check_text(out, "replace-me/inside", "now a dir");
    check_text(out, "was-dir", "now a file");
    struct stat st;
    char *p = xasprintf("%s/etc/keep", out);
    CHECK_INT(stat(p, &st), 0);
    CHECK_INT(st.st_mode & 07777, 0640);
    CHECK_INT(st.st_mtime, 1700000000);
    free(p);
    p = xasprintf("%s/etc", out);
    CHECK_INT(stat(p, &st), 0);
    CHECK_INT(st.st_mtime, 1700000000); /* directory times applied after their contents */
    free(p);
    free(out);
    oci_image_free(&img);
    env_close(&e);
}

static void test_flatten_links(void)
{
    struct env e;
    env_open(&e);
    const struct tl_entry l1[] = {
        {"usr/bin/busybox", 'f', "bb", 0755, 0},
        {"usr/bin/sh", 'l', "busybox", 0, 0},
        {"bin", 'l', "/usr/bin", 0, 0}, /* absolute targets are rooted in the image */
        {"usr/bin/ls", 'h', "usr/bin/busybox", 0, 0},
    };
    struct oci_image img;
    CHECK_INT(make_image1(&e, l1, N_ENTRIES(l1), TL_ZSTD, false, &img), 0);
    struct error err;
    CHECK_INT(flatten(&e, &img, "out", NULL, &err), 0);
    char *p = xasprintf("%s/out/usr/bin/sh", e.root);
    char target[64] = {0};
    CHECK(readlink(p, target, sizeof target - 1) > 0);
    CHECK_STR(target, "busybox");
    free(p);
    struct stat a, b;
    char *pa = xasprintf("%s/out/usr/bin/busybox", e.root), *pb = xasprintf("%s/out/usr/bin/ls", e.root);
    CHECK_INT(stat(pa, &a), 0);
    CHECK_INT(stat(pb, &b), 0);
    CHECK(a.st_ino == b.st_ino);
    CHECK_INT(a.st_nlink, 2);
    free(pa);
    free(pb);
    oci_image_free(&img);
    env_close(&e);
}

/* A hostile layer: refused, with no output directory left behind. */
static void expect_flatten_refused(const struct tl_entry *entries, size_t n, const char *want, const char *want2)
{
    struct env e;
    env_open(&e);
    struct oci_image img;
    CHECK_INT(make_image1(&e, entries, n, TL_GZIP, false, &img), 0);
    struct error err;
    error_clear(&err);
    CHECK_INT(flatten(&e, &img, "out", NULL, &err), -1);
    if (!strstr(err.message, want) || (want2 && !strstr(err.message, want2)))
        printf("  message: %s\n  wanted: '%s' '%s'\n", err.message, want, want2 ? want2 : "");
    CHECK(strstr(err.message, want) != NULL);
    CHECK(!want2 || strstr(err.message, want2) != NULL);
    CHECK(strstr(err.message, img.layers[0].digest) != NULL); /* which layer */
    size_t count;
    char **names = tl_list_dir(e.root, &count);
    for (size_t i = 0; i < count; i++)
        CHECK(strncmp(names[i], "out", 3) != 0); /* neither out nor out.tmp-* */
    tl_free_list(names, count);
    oci_image_free(&img);
    env_close(&e);
}

static void test_flatten_refuses_traversal(void)
{
    expect_flatten_refused(LAYER({"../escape", 'f', "x", 0, 0}), 1, "path-traversal", "../escape");
    expect_flatten_refused(LAYER({"/etc/passwd", 'f', "x", 0, 0}), 1, "path-traversal", NULL);
    expect_flatten_refused(LAYER({"a/../../b", 'f', "x", 0, 0}), 1, "path-traversal", NULL);
}

static void test_flatten_refuses_symlink_escape(void)
{
    expect_flatten_refused(LAYER({"usr/lib/evil", 'l', "../../../etc", 0, 0}), 1, "leads outside", "usr/lib/evil");
    expect_flatten_refused(LAYER({"evil", 'l', "/../../etc", 0, 0}), 1, "leads outside", NULL);
}

static void test_flatten_refuses_write_through_symlink(void)
{
    /* the link itself points inside; writing through it is still refused */
    expect_flatten_refused(LAYER({"usr/", 'd', NULL, 0, 0}, {"lnk", 'l', "usr", 0, 0}, {"lnk/file", 'f', "x", 0, 0}), 3,
                           "goes through 'lnk', which is a symlink", NULL);
    /* and across layers */
    struct env e;
    env_open(&e);
    const struct tl_entry l1[] = {{"etc", 'l', "/tmp", 0, 0}};
    const struct tl_entry l2[] = {{"etc/cron.d/evil", 'f', "x", 0, 0}};
    struct oci_image img;
    CHECK_INT(make_image2(&e, l1, N_ENTRIES(l1), l2, N_ENTRIES(l2), &img), 0);
    struct error err;
    CHECK_INT(flatten(&e, &img, "out", NULL, &err), -1);
    CHECK(strstr(err.message, "symlink") != NULL);
    CHECK(strstr(err.message, "layer 2/2") != NULL);
    CHECK(!fs_exists("/tmp/cron.d/evil"));
    oci_image_free(&img);
    env_close(&e);
}

static void test_flatten_refuses_hardlink_outside(void)
{
    expect_flatten_refused(LAYER({"h", 'h', "../../etc/passwd", 0, 0}), 1, "points outside", NULL);
    expect_flatten_refused(LAYER({"h", 'h', "/etc/passwd", 0, 0}), 1, "points outside", NULL);
    expect_flatten_refused(LAYER({"h", 'h', "not/there", 0, 0}), 1, "not a file earlier in the image", NULL);
}

static void test_flatten_refuses_special_files(void)
{
    expect_flatten_refused(LAYER({"dev/null", 'c', NULL, 0, 0}), 1, "device node", "dev/null");
    expect_flatten_refused(LAYER({"run/fifo", 'p', NULL, 0, 0}), 1, "FIFO", NULL);
}

static void test_flatten_bombs(void)
{
    struct env e;
    env_open(&e);
    const struct tl_entry l1[] = {{"zeros", 'f', NULL, 0644, 24u << 20}};
    struct oci_image img;
    CHECK_INT(make_image1(&e, l1, N_ENTRIES(l1), TL_GZIP, false, &img), 0);
    struct error err;
    struct layer_flatten_options ratio = {.limits = {.ratio_floor = 4u << 20}};
    CHECK_INT(flatten(&e, &img, "out", &ratio, &err), -1);
    CHECK(strstr(err.message, "decompression bomb") != NULL);
    CHECK(strstr(err.message, img.layers[0].digest) != NULL);
    struct layer_flatten_options bytes = {.limits = {.max_bytes = 1u << 20}};
    CHECK_INT(flatten(&e, &img, "out", &bytes, &err), -1);
    CHECK(strstr(err.message, "past 1048576 bytes") != NULL);
    CHECK(!exists(e.root, "out"));
    /* within the defaults it is fine: 24 MiB is below the ratio floor */
    CHECK_INT(flatten(&e, &img, "out", NULL, &err), 0);
    char *p = xasprintf("%s/out/zeros", e.root);
    struct stat st;
    CHECK_INT(stat(p, &st), 0);
    CHECK_INT(st.st_size, 24u << 20);
    free(p);
    oci_image_free(&img);
    /* entry count */
    struct tl_entry many[50];
    char names[50][16];
    for (int i = 0; i < 50; i++) {
        snprintf(names[i], sizeof names[i], "f%d", i);
        many[i] = (struct tl_entry){names[i], 'f', "x", 0, 0};
    }
    CHECK_INT(make_image1(&e, many, 50, TL_NONE, false, &img), 0);
    struct layer_flatten_options entries = {.limits = {.max_entries = 10}};
    CHECK_INT(flatten(&e, &img, "out2", &entries, &err), -1);
    CHECK(strstr(err.message, "more than 10 entries") != NULL);
    oci_image_free(&img);
    env_close(&e);
}

static void test_flatten_diff_id_mismatch(void)
{
    struct env e;
    env_open(&e);
    const struct tl_entry l1[] = {{"a", 'f', "a", 0, 0}};
    struct oci_image img;
    CHECK_INT(make_image1(&e, l1, N_ENTRIES(l1), TL_GZIP, true, &img), 0);
    struct error err;
    CHECK_INT(flatten(&e, &img, "out", NULL, &err), -1);
    CHECK(strstr(err.message, "diff_id") != NULL);
    CHECK(strstr(err.message, img.diff_ids[0]) != NULL);
    CHECK(!exists(e.root, "out"));
    oci_image_free(&img);
    env_close(&e);
}

/* selinux_labels: the topmost entry of each path decides (one without a record drops a lower
 * layer's label), whiteouts drop the labels of what they remove, "<dest>.selinux" lists the
 * survivors sorted, before the tree appears; without the option no file. */
static void test_flatten_selinux_labels(void)
{
    struct env e;
    env_open(&e);
    const struct tl_entry l1[] = {
        {"rootfs/", 'd', NULL, 0755, 0}, {"rootfs/a", 'f', "a", 0, 0},     {"rootfs/b", 'f', "b", 0, 0},
        {"rootfs/c", 'f', "c", 0, 0},    {"rootfs/dir/x", 'f', "x", 0, 0}, {"manifest.yaml", 'f', "name: t\n", 0, 0},
    };
    const struct tl_entry l2[] = {
        {"rootfs/b", 'f', "b2", 0, 0}, /* no record: the lower label goes */
        {"rootfs/.wh.c", 'f', "", 0, 0},
        {"rootfs/dir/.wh..wh..opq", 'f', "", 0, 0},
        {"rootfs/e", 'f', "e", 0, 0},
    };
    static const char *const labels[] = {"rootfs/",
                                         NULL,
                                         "system_u:object_r:a_t:s0",
                                         "rootfs/a",
                                         NULL,
                                         "system_u:object_r:b_t:s0",
                                         "rootfs/b",
                                         "b",
                                         "system_u:object_r:c_t:s0", /* the lower layer's only */
                                         "rootfs/c",
                                         NULL,
                                         "system_u:object_r:d_t:s0",
                                         "rootfs/dir/x",
                                         NULL,
                                         "system_u:object_r:x_t:s0",
                                         "rootfs/e",
                                         NULL,
                                         "system_u:object_r:e_t:s0",
                                         NULL};
    tl_selinux_labels = labels;
    struct oci_image img;
    int made = make_image2(&e, l1, N_ENTRIES(l1), l2, N_ENTRIES(l2), &img);
    tl_selinux_labels = NULL;
    CHECK_INT(made, 0);
    struct error err = {0};
    struct layer_flatten_options o = {.selinux_labels = true};
    CHECK_INT(flatten(&e, &img, "out", &o, &err), 0);
    if (err.message[0])
        printf("  %s\n", err.message);
    char *out = xasprintf("%s/out", e.root);
    struct layer_label *l = NULL;
    size_t n = 0;
    CHECK_INT(layer_labels_read(out, &l, &n, &err), 0);
    CHECK_INT(n, 3);
    if (n == 3) {
        CHECK_STR(l[0].path, "rootfs");
        CHECK_STR(l[0].label, "system_u:object_r:a_t:s0");
        CHECK_STR(l[1].path, "rootfs/a");
        CHECK_STR(l[1].label, "system_u:object_r:b_t:s0");
        CHECK_STR(l[2].path, "rootfs/e");
        CHECK_STR(l[2].label, "system_u:object_r:e_t:s0");
    }
    layer_labels_free(l, n);
    /* without the option: no file, no labels */
    CHECK_INT(flatten(&e, &img, "plain", NULL, &err), 0);
    char *plain = xasprintf("%s/plain", e.root), *file = xasprintf("%s.selinux", plain);
    CHECK(!fs_exists(file));
    CHECK_INT(layer_labels_read(plain, &l, &n, &err), 0);
    CHECK_INT(n, 0);
    free(file);
    free(plain);
    free(out);
    oci_image_free(&img);
    env_close(&e);
}

static void test_flatten_dest_rules(void)
{
    struct env e;
    env_open(&e);
    const struct tl_entry l1[] = {{"a", 'f', "a", 0, 0}};
    struct oci_image img;
    CHECK_INT(make_image1(&e, l1, N_ENTRIES(l1), TL_GZIP, false, &img), 0);
    struct error err;
    char *dest = xasprintf("%s/full", e.root);
    fs_mkdir_p(dest, 0755, &err);
    char *f = xasprintf("%s/existing", dest);
    fs_write_file_atomic(f, "x", 1, 0644, &err);
    CHECK_INT(layer_flatten(e.store, &img, dest, NULL, &err), -1);
    CHECK(strstr(err.message, "not empty") != NULL);
    unlink(f);
    CHECK_INT(layer_flatten(e.store, &img, dest, NULL, &err), 0); /* an empty directory is fine */
    check_text(dest, "a", "a");
    free(f);
    free(dest);
    oci_image_free(&img);
    env_close(&e);
}

/* An extension image: flatten only rootfs/, re-rooted */
static void test_flatten_prefix(void)
{
    struct env e;
    env_open(&e);
    const struct tl_entry l1[] = {
        {"manifest.yaml", 'f', "version: v1alpha1\n", 0, 0},
        {"rootfs/usr/lib/firmware/fw.bin", 'f', "fw", 0, 0},
        {"rootfs/usr/local/bin/tool", 'f', "tool", 0755, 0},
        {"rootfs/usr/local/lib/old", 'f', "old", 0, 0},
    };
    const struct tl_entry l2[] = {{"rootfs/usr/local/lib/.wh.old", 'f', "", 0, 0}};
    struct oci_image img;
    CHECK_INT(make_image2(&e, l1, N_ENTRIES(l1), l2, N_ENTRIES(l2), &img), 0);
    struct error err;
    struct layer_flatten_options o = {.prefix = "/rootfs"};
    CHECK_INT(flatten(&e, &img, "rootfs", &o, &err), 0);
    char *out = xasprintf("%s/rootfs", e.root);
    check_text(out, "usr/lib/firmware/fw.bin", "fw");
    check_text(out, "usr/local/bin/tool", "tool");
    CHECK(!exists(out, "usr/local/lib/old"));
    CHECK(!exists(out, "manifest.yaml"));
    CHECK(!exists(out, "rootfs"));
    free(out);
    struct layer_flatten_options bad = {.prefix = "../x"};
    CHECK_INT(flatten(&e, &img, "bad", &bad, &err), -1);
    oci_image_free(&img);
    env_close(&e);
}

static void test_extract_files(void)
{
    struct env e;
    env_open(&e);
    const struct tl_entry l1[] = {
        {"usr/install/amd64/vmlinuz", 'f', "kernel-1", 0644, 0},
        {"usr/install/amd64/initramfs.xz", 'f', "initramfs-1", 0644, 0},
        {"usr/install/amd64/systemd-boot.efi", 'f', "sd-boot", 0644, 0},
        {"image-digests", 'f', "ghcr.io/siderolabs/gvisor:20231214.0-v1.7.0@sha256:abc\n", 0644, 0},
        {"deleted-later", 'f', "x", 0, 0},
        {"link", 'l', "image-digests", 0, 0},
        {"usr/install/amd64/abs", 'l', "/usr/install/amd64/vmlinuz", 0, 0},
        {"usr/install/amd64/host", 'l', "/etc/shadow", 0, 0},
        {"usr/install/amd64/climb", 'l', "../../../../etc/shadow", 0, 0},
        {"boot", 'l', "usr/install/amd64", 0, 0},
        {"loop", 'l', "loop", 0, 0},
    };
    const struct tl_entry l2[] = {
        {"usr/install/amd64/vmlinuz", 'f', "kernel-2", 0600, 0}, /* the upper layer wins */
        {".wh.deleted-later", 'f', "", 0, 0},
        {"usr/install/amd64/alias.efi", 'h', "usr/install/amd64/sd-copy", 0, 0},
        {"usr/install/amd64/sd-copy", 'f', "sd-copy", 0, 0},
    };
    struct oci_image img;
    CHECK_INT(make_image2(&e, l1, N_ENTRIES(l1), l2, N_ENTRIES(l2), &img), 0);
    char *k = xasprintf("%s/vmlinuz", e.root), *i = xasprintf("%s/initramfs.xz", e.root);
    struct layer_extract_file files[] = {
        {.path = "/usr/install/amd64/vmlinuz", .dest = k},
        {.path = "usr/install/amd64/initramfs.xz", .dest = i},
    };
    struct error err;
    CHECK_INT(layer_extract(e.store, &img, files, 2, false, NULL, &err), 0);
    check_text(e.root, "vmlinuz", "kernel-2");
    check_text(e.root, "initramfs.xz", "initramfs-1");
    CHECK(files[0].found && files[0].size == 8 && files[0].mode == 0600);
    struct buffer b = BUFFER_INIT;
    CHECK_INT(layer_read_file(e.store, &img, "/image-digests", 0, &b, &err), 1);
    CHECK(strstr(buffer_cstr(&b), "gvisor") != NULL);
    CHECK_INT(layer_read_file(e.store, &img, "deleted-later", 0, &b, &err), 0);
    CHECK_INT(layer_read_file(e.store, &img, "never-there", 0, &b, &err), 0);
    CHECK_INT(layer_read_file(e.store, &img, "usr/install/amd64/alias.efi", 0, &b, &err), 1);
    CHECK_STR(buffer_cstr(&b), "sd-copy");
    /* symlinks resolve inside the image, as at runtime: relative, absolute, through a directory,
     * across layers (the upper layer's file counts); never on the build host */
    CHECK_INT(layer_read_file(e.store, &img, "link", 0, &b, &err), 1);
    CHECK(strstr(buffer_cstr(&b), "gvisor") != NULL);
    CHECK_INT(layer_read_file(e.store, &img, "usr/install/amd64/abs", 0, &b, &err), 1);
    CHECK_STR(buffer_cstr(&b), "kernel-2");
    CHECK_INT(layer_read_file(e.store, &img, "boot/vmlinuz", 0, &b, &err), 1);
    CHECK_STR(buffer_cstr(&b), "kernel-2");
    CHECK_INT(layer_read_file(e.store, &img, "usr/install/amd64/host", 0, &b, &err), -1);
    CHECK(strstr(err.message, "/usr/install/amd64/host -> /etc/shadow: /etc/shadow is not in the image") != NULL);
    CHECK_INT(layer_read_file(e.store, &img, "usr/install/amd64/climb", 0, &b, &err), -1);
    CHECK(strstr(err.message, "/usr/install/amd64/climb -> ../../../../etc/shadow climbs above") != NULL);
    CHECK_INT(layer_read_file(e.store, &img, "loop", 0, &b, &err), -1);
    CHECK(strstr(err.message, "levels of symbolic links") != NULL);
    struct layer_extract_file optional = {.path = "usr/install/amd64/host", .dest = k};
    CHECK_INT(layer_extract(e.store, &img, &optional, 1, true, NULL, &err), -1); /* dangling is never "missing" */
    CHECK_INT(layer_read_file(e.store, &img, "usr/install", 0, &b, &err), -1);
    CHECK(strstr(err.message, "directory") != NULL);
    CHECK_INT(layer_read_file(e.store, &img, "image-digests", 10, &b, &err), -1); /* over max_size */
    struct layer_extract_file missing = {.path = "deleted-later", .dest = k};
    CHECK_INT(layer_extract(e.store, &img, &missing, 1, false, NULL, &err), -1);
    CHECK(strstr(err.message, "a layer deletes it") != NULL);
    check_text(e.root, "vmlinuz", "kernel-2"); /* the failed extraction left the old file alone */
    buffer_free(&b);
    free(k);
    free(i);
    oci_image_free(&img);
    env_close(&e);
}

static void test_corrupt_layer_data(void)
{
    struct env e;
    env_open(&e);
    const struct tl_entry l1[] = {{"a", 'f', "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0, 0}};
    struct oci_image img;
    CHECK_INT(make_image1(&e, l1, N_ENTRIES(l1), TL_GZIP, false, &img), 0);
    /* damage the stored blob behind the store's back */
    char *p = store_blob_path(e.store, img.layers[0].digest);
    struct buffer b = BUFFER_INIT;
    struct error err;
    fs_read_file(p, 1 << 20, &b, &err);
    for (size_t i = 12; i < b.len - 8; i++)
        b.data[i] ^= 0x5a;
    fs_write_file_atomic(p, b.data, b.len, 0644, &err);
    CHECK_INT(flatten(&e, &img, "out", NULL, &err), -1);
    CHECK(strstr(err.message, "corrupt") != NULL || strstr(err.message, "truncated") != NULL);
    buffer_free(&b);
    free(p);
    oci_image_free(&img);
    env_close(&e);
}

/* Outside check: umoci unpacks the same store (it is an OCI layout) to the same tree. */
static void test_same_tree_as_umoci(void)
{
    if (access("/usr/bin/umoci", X_OK) != 0) {
        printf("  umoci not installed: comparison skipped\n");
        return;
    }
    struct env e;
    env_open(&e);
    const struct tl_entry l1[] = {
        {"etc/", 'd', NULL, 0755, 0},         {"etc/hostname", 'f', "talos\n", 0644, 0},
        {"etc/gone", 'f', "gone", 0, 0},      {"usr/bin/busybox", 'f', "bb", 0755, 0},
        {"usr/bin/sh", 'l', "busybox", 0, 0}, {"opt/a/b", 'f', "b", 0, 0},
    };
    const struct tl_entry l2[] = {
        {"etc/.wh.gone", 'f', "", 0, 0},
        {"opt/a/.wh..wh..opq", 'f', "", 0, 0},
        {"opt/a/c", 'f', "c", 0, 0},
        {"usr/bin/ls", 'h', "usr/bin/busybox", 0, 0},
    };
    struct oci_image img;
    CHECK_INT(make_image2(&e, l1, N_ENTRIES(l1), l2, N_ENTRIES(l2), &img), 0);
    struct error err;
    CHECK_INT(flatten(&e, &img, "ours", NULL, &err), 0);
    char *cmd = xasprintf("cd %s && umoci unpack --rootless --image store:%s bundle >umoci.log 2>&1 && "
                          "diff -r --no-dereference ours bundle/rootfs >diff.log 2>&1",
                          e.root, img.reference);
    int rc = system(cmd);
    if (rc != 0) {
        char *log = xasprintf("cat %s/umoci.log %s/diff.log", e.root, e.root);
        if (system(log) != 0)
            printf("  (no logs)\n");
        free(log);
    }
    CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    free(cmd);
    oci_image_free(&img);
    env_close(&e);
}

static void test_flatten_refuses_duplicate_entries(void)
{
    expect_flatten_refused(LAYER({"etc/motd", 'f', "one", 0, 0}, {"etc/motd", 'f', "two", 0, 0}), 2, "appears twice",
                           "etc/motd");
    expect_flatten_refused(LAYER({"x/", 'd', NULL, 0, 0}, {"x", 'f', "file", 0, 0}), 2, "appears twice", NULL);
    /* a repeated directory is harmless */
    struct env e;
    env_open(&e);
    const struct tl_entry l1[] = {{"d/", 'd', NULL, 0755, 0}, {"d/a", 'f', "a", 0, 0}, {"d/", 'd', NULL, 0700, 0}};
    struct oci_image img;
    CHECK_INT(make_image1(&e, l1, N_ENTRIES(l1), TL_GZIP, false, &img), 0);
    struct error err;
    CHECK_INT(flatten(&e, &img, "out", NULL, &err), 0);
    oci_image_free(&img);
    /* extraction refuses the ambiguity too, even after it found the first copy */
    const struct tl_entry l2[] = {
        {"boot/vmlinuz", 'f', "first", 0, 0}, {"other", 'f', "x", 0, 0}, {"boot/vmlinuz", 'f', "second", 0, 0}};
    CHECK_INT(make_image1(&e, l2, N_ENTRIES(l2), TL_GZIP, false, &img), 0);
    struct buffer b = BUFFER_INIT;
    CHECK_INT(layer_read_file(e.store, &img, "boot/vmlinuz", 0, &b, &err), -1);
    CHECK(strstr(err.message, "appears twice") != NULL);
    buffer_free(&b);
    oci_image_free(&img);
    env_close(&e);
}

/* The fixture generator's catalog (FIXTURES or build/fixtures: fixtures.json), parsed, and an env
 * whose imports check the fixtures' cosign key. */
struct fixture_env {
    const char *dir;
    char *catalog_path;
    struct buffer text;
    struct json_value *catalog;
    struct env e;
    char *key;
    struct verify_policy policy;
};

/* false (and nothing to close) when there are no fixtures; missing says what the test then skips */
static bool fixture_env_open(struct fixture_env *f, const char *missing)
{
    memset(f, 0, sizeof *f);
    f->dir = getenv("FIXTURES") ? getenv("FIXTURES") : "build/fixtures";
    f->catalog_path = xasprintf("%s/fixtures.json", f->dir);
    struct error err;
    if (fs_read_file(f->catalog_path, 16u << 20, &f->text, &err) != 0) {
        printf("  no fixtures (%s): %s\n", f->catalog_path, missing);
        buffer_free(&f->text);
        free(f->catalog_path);
        return false;
    }
    CHECK_INT(json_parse(f->text.data, f->text.len, f->catalog_path, &f->catalog, &err), 0);
    env_open(&f->e);
    f->key = xstrdup("tests/keys/cosign.pub");
    f->policy = (struct verify_policy){.name = "fixtures", .public_keys = &f->key, .public_key_count = 1};
    return true;
}

static void fixture_env_close(struct fixture_env *f)
{
    free(f->key);
    env_close(&f->e);
    json_free(f->catalog);
    buffer_free(&f->text);
    free(f->catalog_path);
}

/* The fixture generator's hostile layers (broken/…, stage "layer"): signed and valid as blobs, so
 * they import; flattening each one is refused for the reason fixtures.json names. */
static void test_fixture_broken_layers(void)
{
    struct fixture_env fe;
    if (!fixture_env_open(&fe, "nothing checked"))
        return;
    struct error err;
    const char *dir = fe.dir;
    static const char *reasons[][2] = {
        {"decompression-bomb", "decompression bomb"}, {"path-traversal", "path-traversal"},
        {"absolute-path", "path-traversal"},          {"symlink-escape", "leads outside"},
        {"hardlink-escape", "points outside"},        {"device-node", "device node"},
        {"duplicate-entry", "appears twice"},         {"diffid-mismatch", "diff_id"},
    };
    const struct json_value *fixtures = json_object_get_array(fe.catalog, "fixtures");
    size_t checked = 0;
    for (size_t i = 0; fixtures && i < fixtures->count; i++) {
        const struct json_value *broken = json_object_get_object(fixtures->items[i], "broken");
        const char *stage = broken ? json_object_get_string(broken, "stage") : NULL;
        if (!stage || strcmp(stage, "layer") != 0)
            continue;
        const char *why = json_object_get_string(broken, "expected_failure");
        const char *want = NULL;
        for (size_t k = 0; k < sizeof reasons / sizeof reasons[0]; k++)
            if (why && !strcmp(reasons[k][0], why))
                want = reasons[k][1];
        const char *path = json_object_get_string(fixtures->items[i], "path");
        char *input = xasprintf("%s/%s", dir, path);
        char *reference = xasprintf("broken-%zu", i);
        struct oci_import_options opts = {.policy = &fe.policy, .reference = reference};
        struct oci_import_result *r = NULL;
        size_t n = 0;
        error_clear(&err);
        int rc = oci_import(fe.e.store, input, &opts, &r, &n, NULL, &err);
        if (rc != 0)
            printf("  %s: import: %s\n", path, err.message);
        CHECK_INT(rc, 0);
        for (size_t k = 0; k < n; k++) {
            char *out = xasprintf("%s/out-%zu-%zu", fe.e.root, i, k);
            error_clear(&err);
            CHECK_INT(layer_flatten(fe.e.store, &r[k].image, out, NULL, &err), -1);
            if (!want || !strstr(err.message, want))
                printf("  %s (%s): %s\n", path, why ? why : "?", err.message);
            CHECK(want && strstr(err.message, want) != NULL);
            CHECK(!fs_exists(out));
            checked++;
            free(out);
        }
        CHECK(!fs_exists("/tmp/airfactory-escape") && !fs_exists("/tmp/airfactory-absolute"));
        oci_import_results_free(r, n);
        free(r);
        free(reference);
        free(input);
    }
    printf("  %zu hostile fixture layers refused\n", checked);
    CHECK(checked >= 8);
    fixture_env_close(&fe);
}

/* Every fixture image (signed, Talos-shaped; scripts/make-fixtures) flattens to exactly the files
 * the generator put in it (build/fixtures/rootfs/<image>-<arch>), and the imager's boot files
 * extract alone to the same bytes. */
static void test_fixture_rootfs(void)
{
    struct fixture_env fe;
    if (!fixture_env_open(&fe, "run scripts/make-fixtures; nothing compared"))
        return;
    struct error err;
    const char *dir = fe.dir;
    const struct json_value *fixtures = json_object_get_array(fe.catalog, "fixtures");
    size_t compared = 0;
    for (size_t i = 0; fixtures && i < fixtures->count; i++) {
        const struct json_value *fx = fixtures->items[i];
        const char *expect = json_object_get_string(fx, "expect");
        if (!expect || strcmp(expect, "ok") != 0)
            continue;
        const char *file = json_object_get_string(fx, "path");
        const char *reference = json_object_get_string(fx, "reference");
        const char *role = json_object_get_string(fx, "role");
        char *input = xasprintf("%s/%s", dir, file);
        /* the big images (tens of MB each) are alike: one imager and one installer stand for them */
        struct stat st;
        bool big = stat(input, &st) == 0 && st.st_size > (1 << 20);
        if (big && strcmp(file, "imager-v1.11.3.oci.tar") != 0 && strcmp(file, "installer-base-v1.11.3.oci.tar") != 0) {
            free(input);
            continue;
        }
        struct oci_import_options opts = {.policy = &fe.policy, .reference = reference};
        struct oci_import_result *r = NULL;
        size_t n = 0;
        error_clear(&err);
        CHECK_INT(oci_import(fe.e.store, input, &opts, &r, &n, NULL, &err), 0);
        if (err.message[0])
            printf("  %s: %s\n", file, err.message);
        oci_import_results_free(r, n);
        free(r);
        const struct json_value *platforms = json_object_get_array(fx, "platforms");
        for (size_t p = 0; platforms && p < platforms->count; p++) {
            const char *platform = json_object_get_string(platforms->items[p], "platform");
            const char *rootfs = json_object_get_string(platforms->items[p], "rootfs");
            if (!platform || !rootfs)
                continue;
            if (big && strcmp(rootfs, "rootfs/imager-v1.11.3-amd64") != 0 &&
                strcmp(rootfs, "rootfs/installer-base-v1.11.3-arm64") != 0)
                continue;
            struct oci_image img;
            if (oci_image_load(fe.e.store, reference, platform, &img, &err) != 0) {
                printf("  %s %s: %s\n", reference, platform, err.message);
                CHECK(0);
                continue;
            }
            CHECK_STR(img.manifest_digest, json_object_get_string(platforms->items[p], "digest"));
            char *out = xasprintf("%s/flat-%zu-%zu", fe.e.root, i, p);
            CHECK_INT(layer_flatten(fe.e.store, &img, out, NULL, &err), 0);
            char *cmd = xasprintf("diff -r --no-dereference '%s' '%s/%s' >&2", out, dir, rootfs);
            int rc = system(cmd);
            if (rc != 0)
                printf("  %s %s differs from %s/%s\n", reference, platform, dir, rootfs);
            CHECK(rc == 0);
            compared++;
            free(cmd);
            if (role && !strcmp(role, "imager")) {
                const char *arch = strchr(platform, '/') + 1;
                char *path = xasprintf("usr/install/%s/vmlinuz", arch);
                char *dest = xasprintf("%s/vmlinuz-%zu-%zu", fe.e.root, i, p);
                struct layer_extract_file f = {.path = path, .dest = dest};
                CHECK_INT(layer_extract(fe.e.store, &img, &f, 1, false, NULL, &err), 0);
                cmd = xasprintf("cmp '%s' '%s/%s/%s'", dest, dir, rootfs, path);
                CHECK(system(cmd) == 0);
                free(cmd);
                free(path);
                free(dest);
            }
            tl_rm(out);
            free(out);
            oci_image_free(&img);
        }
        free(input);
    }
    printf("  %zu fixture images flattened and compared\n", compared);
    CHECK(compared >= 20);
    fixture_env_close(&fe);
}

/* resolve_links: an imager's usr/lib/grub handed to programs that read it by name holds no link;
 * links in it become what they resolve to inside the image, and one that leads to the build host
 * (or out of the extracted part) fails the flatten naming the image, the link and its target. */
static void test_flatten_resolve_links(void)
{
    struct env e;
    env_open(&e);
    const struct tl_entry good[] = {
        {"usr/lib/grub/i386-pc/normal.mod", 'f', "normal", 0, 0},
        {"usr/lib/grub/i386-pc/abs.mod", 'l', "/usr/lib/grub/i386-pc/normal.mod", 0, 0},
        {"usr/lib/grub/i386-pc/rel.mod", 'l', "normal.mod", 0, 0},
        {"usr/lib/grub/x86_64-efi", 'l', "i386-pc", 0, 0},
        {"etc/shadow", 'f', "image shadow", 0, 0},
    };
    struct oci_image img;
    CHECK_INT(make_image1(&e, good, N_ENTRIES(good), TL_GZIP, false, &img), 0);
    struct error err;
    struct layer_flatten_options o = {.prefix = "usr/lib/grub", .resolve_links = "usr/lib/grub"};
    CHECK_INT(flatten(&e, &img, "grub", &o, &err), 0);
    char *out = xasprintf("%s/grub", e.root);
    check_text(out, "i386-pc/abs.mod", "normal");
    check_text(out, "i386-pc/rel.mod", "normal");
    check_text(out, "x86_64-efi/normal.mod", "normal");
    struct stat st;
    char *p = xasprintf("%s/x86_64-efi", out);
    CHECK(lstat(p, &st) == 0 && S_ISDIR(st.st_mode));
    free(p);
    p = xasprintf("%s/i386-pc/abs.mod", out);
    CHECK(lstat(p, &st) == 0 && S_ISREG(st.st_mode));
    free(p);
    free(out);
    oci_image_free(&img);
    const char *targets[] = {"/etc/passwd", "/etc/shadow", "../../../../../../../../../etc/passwd"};
    for (size_t i = 0; i < 3; i++) {
        const struct tl_entry bad[] = {
            {"usr/lib/grub/i386-pc/normal.mod", 'f', "normal", 0, 0},
            {"usr/lib/grub/i386-pc/linux.mod", 'l', targets[i], 0, 0},
        };
        CHECK_INT(make_image1(&e, bad, N_ENTRIES(bad), TL_GZIP, false, &img), 0);
        char *name = xasprintf("bad%zu", i);
        int rc = flatten(&e, &img, name, &o, &err);
        CHECK_INT(rc, -1);
        if (rc == -1 && i < 2) {
            CHECK(strstr(err.message, "/usr/lib/grub/i386-pc/linux.mod -> ") != NULL);
            CHECK(strstr(err.message, targets[i]) != NULL);
            CHECK(strstr(err.message, img.reference) != NULL);
        }
        CHECK(!exists(e.root, name));
        free(name);
        oci_image_free(&img);
    }
    env_close(&e);
}

/* Declared sizes are checked before a byte is written: a few KB of tar whose sparse entry (or pax
 * size) declares gigabytes is refused by flatten and by extract, naming the entry; a small
 * genuine sparse file still extracts with its holes. */
static void test_declared_sizes_checked_first(void)
{
    struct env e;
    env_open(&e);
    const struct tl_entry bomb[] = {
        {"manifest.yaml", 'f', "version: v1alpha1\n", 0, 0},
        {"rootfs/usr/lib/firmware/big.bin", 's', "header", 0, (size_t)2 << 30},
    };
    struct oci_image img;
    CHECK_INT(make_image1(&e, bomb, N_ENTRIES(bomb), TL_GZIP, false, &img), 0);
    uint64_t layer_size = (uint64_t)img.layers[0].size;
    CHECK(layer_size < 8192); /* the whole layer is a few KB */
    struct error err;
    CHECK_INT(flatten(&e, &img, "bomb", NULL, &err), -1);
    CHECK(strstr(err.message, "rootfs/usr/lib/firmware/big.bin") != NULL);
    CHECK(strstr(err.message, "2147483648 bytes declared") != NULL);
    CHECK(strstr(err.message, "decompression bomb") != NULL);
    CHECK(!exists(e.root, "bomb"));
    char *dest = xasprintf("%s/big.bin", e.root);
    struct layer_extract_file f = {.path = "rootfs/usr/lib/firmware/big.bin", .dest = dest};
    CHECK_INT(layer_extract(e.store, &img, &f, 1, false, NULL, &err), -1);
    CHECK(strstr(err.message, "decompression bomb") != NULL);
    CHECK(!fs_exists(dest));
    /* the absolute cap counts declared bytes too */
    struct layer_flatten_limits small = {.max_bytes = 1 << 20, .max_ratio = 1000000000};
    struct layer_flatten_options o = {.limits = small};
    CHECK_INT(flatten(&e, &img, "bomb2", &o, &err), -1);
    CHECK(strstr(err.message, "would take the output past 1048576 bytes") != NULL);
    oci_image_free(&img);
    /* a genuine small sparse file: 1 MiB declared, holes kept */
    const struct tl_entry small_sparse[] = {{"var/log/lastlog", 's', "entry", 0, 1 << 20}};
    CHECK_INT(make_image1(&e, small_sparse, N_ENTRIES(small_sparse), TL_GZIP, false, &img), 0);
    CHECK_INT(flatten(&e, &img, "ok", NULL, &err), 0);
    char *p = xasprintf("%s/ok/var/log/lastlog", e.root);
    struct stat st;
    CHECK(stat(p, &st) == 0 && st.st_size == 1 << 20);
    free(p);
    oci_image_free(&img);
    free(dest);
    env_close(&e);
}

int main(void)
{
    RUN(test_flatten_whiteouts);
    RUN(test_flatten_links);
    RUN(test_flatten_refuses_traversal);
    RUN(test_flatten_refuses_symlink_escape);
    RUN(test_flatten_refuses_write_through_symlink);
    RUN(test_flatten_refuses_hardlink_outside);
    RUN(test_flatten_refuses_special_files);
    RUN(test_flatten_bombs);
    RUN(test_declared_sizes_checked_first);
    RUN(test_flatten_diff_id_mismatch);
    RUN(test_flatten_dest_rules);
    RUN(test_flatten_selinux_labels);
    RUN(test_flatten_prefix);
    RUN(test_flatten_resolve_links);
    RUN(test_extract_files);
    RUN(test_corrupt_layer_data);
    RUN(test_same_tree_as_umoci);
    RUN(test_flatten_refuses_duplicate_entries);
    RUN(test_fixture_rootfs);
    RUN(test_fixture_broken_layers);
    return TEST_MAIN_END();
}
