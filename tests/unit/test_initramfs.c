/* Unit tests for src/imager/initramfs.c: the Talos layout (early microcode cpio, base bytes
 * unchanged, appended compressed archive with N.sqsh + extensions.yaml + firmware), version
 * quirks, reproducibility, and bad inputs that must fail without leaving an output file. */
#include "format/compress.h"
#include "format/cpio.h"
#include "imager/initramfs.h"
#include "format/squashfs_image.h"
#include "build_test_util.h"
#include "test.h"

#include <fcntl.h>

#define SCHEMATIC "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"

/* A base initramfs like the imager's: newc of /init + rootfs.sqsh, zstd-compressed. */
static void make_base(const char *path, enum compress_kind kind)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    struct compress_fd_sink s = {fd, path, 0};
    struct compress_options o = {kind, kind == COMPRESS_XZ ? 0 : 3, false, 1};
    struct compress_writer *w;
    struct error err = {0};
    CHECK_INT(compress_writer_open(&w, &o, compress_sink_fd(&s), &err), 0);
    struct cpio_writer cw;
    cpio_writer_init(&cw, compress_writer_sink(w), 1);
    CHECK_INT(cpio_write_data(&cw, "init", 0755, "#!/bin/sh\n", 10, &err), 0);
    CHECK_INT(cpio_write_data(&cw, "rootfs.sqsh", 0644, "hsqs-stand-in", 13, &err), 0);
    CHECK_INT(cpio_write_trailer(&cw, 512, &err), 0);
    CHECK_INT(compress_writer_finish(w, &err), 0);
    compress_writer_free(w);
    close(fd);
}

static char *make_extension(const char *dir, const char *name, const char *constraint, const char *fw)
{
    char *ext = path_join(dir, name), *p;
    char *manifest = xasprintf("version: v1alpha1\nmetadata:\n  name: %s\n  version: 1.0.0\n  author: test\n"
                               "  description: %s extension\n  compatibility:\n    talos:\n      version: \"%s\"\n",
                               name, name, constraint);
    p = path_join(ext, "manifest.yaml");
    bt_write_str(p, manifest);
    free(p);
    free(manifest);
    p = xasprintf("%s/rootfs/usr/local/share/%s/README", ext, name);
    bt_write_str(p, name);
    free(p);
    if (fw) {
        p = xasprintf("%s/rootfs/%s/vendor/%s.bin", ext, fw, name);
        bt_write_str(p, "firmware blob\n");
        free(p);
        p = xasprintf("%s/rootfs/%s/intel-ucode/06-55-04", ext, fw);
        bt_write_str(p, "INTEL-A");
        free(p);
        p = xasprintf("%s/rootfs/%s/intel-ucode/06-8f-08", ext, fw);
        bt_write_str(p, "INTEL-B");
        free(p);
        p = xasprintf("%s/rootfs/%s/amd-ucode/microcode_amd_fam19h.bin", ext, fw);
        bt_write_str(p, "AMD-19");
        free(p);
        p = xasprintf("%s/rootfs/%s/amd-ucode/README", ext, fw); /* not microcode_amd*.bin: stays firmware */
        bt_write_str(p, "readme");
        free(p);
    }
    return ext;
}

/* initramfs_build(o) into out, then its listing (entries up to max bytes kept, extracted into x). */
static void build_and_list(const struct initramfs_options *o, const char *out, const char *x, size_t max,
                           struct cpio_listing *l)
{
    struct error err = {0};
    CHECK_INT(initramfs_build(o, out, &err), 0);
    if (err.message[0])
        printf("  %s\n", err.message);
    struct cpio_read_options ro = {max, x};
    memset(l, 0, sizeof *l);
    CHECK_INT(cpio_read_segments(out, &ro, l, &err), 0);
}

static const char *entry_names(const struct cpio_listing *l, size_t seg, struct buffer *out)
{
    buffer_reset(out);
    const struct cpio_segment *s = &l->segments[seg];
    for (size_t i = s->first_entry; i < s->first_entry + s->entry_count; i++)
        buffer_appendf(out, "%s\n", l->entries[i].name);
    return buffer_cstr(out);
}

static void layout_matches_talos(void)
{
    char *dir = bt_scratch();
    char *base = path_join(dir, "initramfs.xz");
    make_base(base, COMPRESS_ZSTD);
    char *fw = make_extension(dir, "firmware", ">= v1.10.0", "usr/lib/firmware");
    char *hello = make_extension(dir, "hello", ">= v1.0.0", NULL);
    const char *exts[] = {fw, hello};
    struct initramfs_options o = {0};
    struct error err = {0};
    initramfs_options_for(&o, bt_quirks("v1.11.3", NULL, false), "v1.11.3");
    CHECK_INT(o.archive_compression, COMPRESS_ZSTD);
    CHECK_INT(o.archive_level, 18);
    CHECK_STR(o.firmware_path, "usr/lib/firmware");
    o.base_path = base;
    o.extension_dirs = exts;
    o.extension_count = 2;
    o.schematic_id = SCHEMATIC;
    o.mtime = 1735689600;
    o.threads = 2;
    char *out = path_join(dir, "out.xz");
    CHECK_INT(initramfs_build(&o, out, &err), 0);
    if (err.message[0])
        printf("  %s\n", err.message);

    struct cpio_listing l;
    char *x = path_join(dir, "x");
    struct cpio_read_options ro = {1 << 20, x};
    CHECK_INT(cpio_read_segments(out, &ro, &l, &err), 0);
    CHECK_INT(l.segment_count, 3);
    struct buffer names = BUFFER_INIT;
    if (l.segment_count == 3) {
        /* 1: uncompressed early microcode, first in the file */
        CHECK_INT(l.segments[0].compression, COMPRESS_NONE);
        CHECK_STR(entry_names(&l, 0, &names), "kernel\nkernel/x86\nkernel/x86/microcode\n"
                                              "kernel/x86/microcode/AuthenticAMD.bin\n"
                                              "kernel/x86/microcode/GenuineIntel.bin\n");
        CHECK_INT(l.segments[1].offset % 512, 0); /* GNU cpio pads the early archive to 512 */
        /* 2: the base, byte for byte */
        CHECK_INT(l.segments[1].compression, COMPRESS_ZSTD);
        CHECK_STR(entry_names(&l, 1, &names), "init\nrootfs.sqsh\n");
        /* 3: the extensions, in Go's sorted walk order */
        CHECK_INT(l.segments[2].compression, COMPRESS_ZSTD);
        CHECK_STR(entry_names(&l, 2, &names),
                  "0.sqsh\n1.sqsh\n2.sqsh\nextensions.yaml\nusr\nusr/lib\nusr/lib/firmware\n"
                  "usr/lib/firmware/amd-ucode\nusr/lib/firmware/amd-ucode/README\nusr/lib/firmware/intel-ucode\n"
                  "usr/lib/firmware/vendor\nusr/lib/firmware/vendor/firmware.bin\n");
    }
    const struct cpio_entry *e = cpio_listing_find(&l, "kernel/x86/microcode/GenuineIntel.bin");
    CHECK(e && !strcmp(buffer_cstr((struct buffer *)&e->data), "INTEL-AINTEL-B"));
    e = cpio_listing_find(&l, "kernel/x86/microcode/AuthenticAMD.bin");
    CHECK(e && !strcmp(buffer_cstr((struct buffer *)&e->data), "AMD-19"));
    e = cpio_listing_find(&l, "extensions.yaml");
    CHECK(e != NULL);
    if (e) {
        const char *y = buffer_cstr((struct buffer *)&e->data);
        CHECK(strstr(y, "layers:\n    - image: 0.sqsh\n      metadata:\n        name: firmware\n") != NULL);
        CHECK(strstr(y, "    - image: 2.sqsh\n      metadata:\n        name: schematic\n        version: " SCHEMATIC
                        "\n") != NULL);
        CHECK(e->mode == 0100644 && e->uid == 0 && e->mtime == 1735689600);
    }
    /* base bytes unchanged: the segment equals the input file */
    struct stat st;
    stat(base, &st);
    if (l.segment_count == 3)
        CHECK_INT(l.segments[1].length, st.st_size);
    CHECK_INT(bt_run(NULL, "tail -c +%llu '%s' | head -c %lld | cmp - '%s'",
                     l.segment_count == 3 ? (unsigned long long)l.segments[1].offset + 1 : 1ull, out,
                     (long long)st.st_size, base),
              0);
    /* the squashfs images: firmware moved out, content in, schematic marker present */
    struct buffer lst = BUFFER_INIT;
    CHECK_INT(bt_run(&lst, "unsquashfs -l '%s/0.sqsh'", x), 0);
    CHECK(strstr(buffer_cstr(&lst), "squashfs-root/usr/local/share/firmware/README") != NULL);
    CHECK(strstr(buffer_cstr(&lst), "firmware/vendor") == NULL);
    CHECK(strstr(buffer_cstr(&lst), "intel-ucode") == NULL);
    buffer_reset(&lst);
    CHECK_INT(bt_run(&lst, "unsquashfs -l '%s/2.sqsh'", x), 0);
    CHECK(strstr(buffer_cstr(&lst), "usr/local/share/schematic/" SCHEMATIC) != NULL);
    buffer_reset(&lst);
    CHECK_INT(bt_run(&lst, "unsquashfs -s '%s/1.sqsh'", x), 0);
    CHECK(strstr(buffer_cstr(&lst), "compression-level 18") != NULL);
    /* inputs untouched */
    char *src_ucode = xasprintf("%s/rootfs/usr/lib/firmware/intel-ucode/06-55-04", fw);
    CHECK(fs_exists(src_ucode));
    free(src_ucode);
    buffer_free(&lst);
    buffer_free(&names);
    cpio_listing_free(&l);
    free(x);
    free(out);
    free(fw);
    free(hello);
    free(base);
    bt_remove(dir);
    free(dir);
}

static void older_versions_use_xz_and_lib_firmware(void)
{
    char *dir = bt_scratch();
    char *base = path_join(dir, "initramfs.xz");
    make_base(base, COMPRESS_XZ);
    char *fw = make_extension(dir, "firmware", ">= v1.5.0", "lib/firmware");
    const char *exts[] = {fw};
    struct initramfs_options o = {0};
    struct error err = {0};
    initramfs_options_for(&o, bt_quirks("v1.7.6", NULL, false), "v1.7.6");
    o.base_path = base;
    o.extension_dirs = exts;
    o.extension_count = 1;
    o.mtime = 1;
    char *out = path_join(dir, "out.xz");
    CHECK_INT(initramfs_build(&o, out, &err), 0);
    struct cpio_listing l;
    char *x = path_join(dir, "x");
    struct cpio_read_options ro = {4096, x};
    CHECK_INT(cpio_read_segments(out, &ro, &l, &err), 0); /* would fail on a CRC64 stream */
    CHECK_INT(l.segment_count, 3);
    if (l.segment_count == 3)
        CHECK_INT(l.segments[2].compression, COMPRESS_XZ);
    CHECK(cpio_listing_find(&l, "lib/firmware/vendor/firmware.bin") != NULL);
    CHECK(cpio_listing_find(&l, "kernel/x86/microcode/GenuineIntel.bin") != NULL);
    struct buffer s = BUFFER_INIT;
    CHECK_INT(bt_run(&s, "unsquashfs -s '%s/0.sqsh'", x), 0);
    CHECK(strstr(buffer_cstr(&s), "Compression xz") != NULL);
    buffer_free(&s);
    cpio_listing_free(&l);
    free(x);
    free(out);
    free(fw);
    free(base);
    bt_remove(dir);
    free(dir);
}

static void output_is_reproducible(void)
{
    char *dir = bt_scratch();
    char *base = path_join(dir, "initramfs.xz");
    make_base(base, COMPRESS_ZSTD);
    char *fw = make_extension(dir, "firmware", ">= v1.10.0", "usr/lib/firmware");
    char *hello = make_extension(dir, "hello", ">= v1.0.0", NULL);
    const char *exts[] = {fw, hello};
    struct initramfs_options o = {0};
    struct error err = {0};
    initramfs_options_for(&o, bt_quirks("v1.10.0", NULL, false), "v1.10.0");
    o.base_path = base;
    o.extension_dirs = exts;
    o.extension_count = 2;
    o.schematic_id = SCHEMATIC;
    o.mtime = 1735689600;
    o.threads = 1;
    char *a = path_join(dir, "a.xz"), *b = path_join(dir, "b.xz");
    CHECK_INT(initramfs_build(&o, a, &err), 0);
    o.threads = 3;
    CHECK_INT(initramfs_build(&o, b, &err), 0);
    CHECK(bt_files_equal(a, b));
    CHECK_INT(bt_dir_entries(dir), 5); /* base, 2 extensions, a, b: no scratch left */
    free(a);
    free(b);
    free(fw);
    free(hello);
    free(base);
    bt_remove(dir);
    free(dir);
}

static void expect_failure(struct initramfs_options *o, const char *dir, const char *needle, int code)
{
    char *out = path_join(dir, "out.xz");
    struct error err = {0};
    int before = bt_dir_entries(dir);
    CHECK_INT(initramfs_build(o, out, &err), -1);
    CHECK_INT(err.code, code);
    if (!strstr(err.message, needle))
        printf("  message \"%s\" lacks \"%s\"\n", err.message, needle);
    CHECK(strstr(err.message, needle) != NULL);
    CHECK(!fs_exists(out));
    CHECK_INT(bt_dir_entries(dir), before);
    free(out);
}

static void bad_inputs_fail_cleanly(void)
{
    char *dir = bt_scratch();
    char *base = path_join(dir, "initramfs.xz");
    make_base(base, COMPRESS_ZSTD);
    char *hello = make_extension(dir, "hello", ">= v1.0.0", NULL);
    const char *exts[] = {hello};
    struct initramfs_options o = {0};
    struct error err = {0};
    initramfs_options_for(&o, bt_quirks("v1.11.3", NULL, false), "v1.11.3");
    o.base_path = base;
    o.extension_dirs = exts;
    o.extension_count = 1;

    /* corrupt base: garbage, and a truncated zstd stream */
    char *junk = path_join(dir, "junk.xz");
    bt_write_random(junk, 4096, 1, 0);
    o.base_path = junk;
    expect_failure(&o, dir, "not an initramfs", ERROR_INPUT);
    char *cut = path_join(dir, "cut.xz");
    struct buffer b = BUFFER_INIT;
    CHECK_INT(fs_read_file(base, 1 << 20, &b, &err), 0);
    bt_write(cut, b.data, b.len - 10);
    buffer_free(&b);
    o.base_path = cut;
    expect_failure(&o, dir, "base initramfs is corrupt", ERROR_INPUT);
    char *missing = path_join(dir, "missing.xz");
    o.base_path = missing;
    expect_failure(&o, dir, "missing.xz", ERROR_RUNTIME);
    o.base_path = base;

    /* extension problems name the extension and the file */
    char *nomanifest = path_join(dir, "nomanifest"), *p;
    p = path_join(nomanifest, "rootfs/x");
    bt_write_str(p, "x");
    free(p);
    exts[0] = nomanifest;
    expect_failure(&o, dir, "nomanifest/manifest.yaml is missing", ERROR_INPUT);
    char *invalid = make_extension(dir, "invalid", ">= v1.0.0", NULL);
    p = path_join(invalid, "manifest.yaml");
    bt_write_str(p, "version: v1alpha1\nmetadata:\n  name: invalid\n  version: [1]\n");
    free(p);
    exts[0] = invalid;
    expect_failure(&o, dir, "invalid/manifest.yaml:4:12", ERROR_INPUT);
    char *future = make_extension(dir, "future", ">= v1.12.0", NULL);
    exts[0] = future;
    expect_failure(&o, dir, "requires Talos >= v1.12.0", ERROR_INPUT);
    exts[0] = hello;
    o.schematic_id = "abc";
    expect_failure(&o, dir, "schematic ID", ERROR_INPUT);

    /* no extensions and no schematic: the base as it is */
    o.schematic_id = NULL;
    o.extension_count = 0;
    char *copy = path_join(dir, "copy.xz");
    CHECK_INT(initramfs_build(&o, copy, &err), 0);
    CHECK(bt_files_equal(copy, base));
    free(copy);
    free(junk);
    free(cut);
    free(missing);
    free(nomanifest);
    free(invalid);
    free(future);
    free(hello);
    free(base);
    bt_remove(dir);
    free(dir);
}

/* A base whose rootfs.sqsh has usr/lib/modules/<each version>/modules.order. */
static void make_base_with_modules(const char *dir, const char *path, const char *const *kvers)
{
    char *tree = path_join(dir, "base-rootfs");
    for (const char *const *k = kvers; *k; k++) {
        char *p = xasprintf("%s/usr/lib/modules/%s/modules.order", tree, *k);
        bt_write_str(p, "kernel/fs/squashfs/squashfs.ko\n");
        free(p);
    }
    char *sqsh = path_join(dir, "rootfs.sqsh");
    struct squashfs_image_options so = {COMPRESS_ZSTD, 3, 0, 1, 1, NULL, NULL, NULL, NULL, 0};
    struct error err = {0};
    CHECK_INT(squashfs_image_write(tree, sqsh, &so, &err), 0);
    char *cpio = path_join(dir, "base.cpio");
    CHECK_INT(bt_run(NULL, "cd '%s' && printf 'rootfs.sqsh\\n' | cpio --quiet -o -H newc -R 0:0 | zstd -q -c > '%s'",
                     dir, path),
              0);
    bt_remove(tree);
    unlink(sqsh);
    free(tree);
    free(sqsh);
    free(cpio);
}

/* Extensions with kernel modules get a modules.dep extension, made by depmod, added last. */
static void kernel_modules_get_a_modules_dep_extension(void)
{
    if (!bt_have_tool("depmod") || !bt_have_tool("cc") || !bt_have_tool("unsquashfs")) {
        printf("  (depmod, cc or unsquashfs missing: nothing to check)\n");
        return;
    }
    char *dir = bt_scratch();
    char *base = path_join(dir, "initramfs.xz");
    const char *one[] = {"6.1.0-test", NULL};
    make_base_with_modules(dir, base, one);
    char *kmod = make_extension(dir, "kmod", ">= v1.10.0", NULL);
    /* a module-shaped object: depmod reads its .modinfo */
    char *c = path_join(dir, "m.c"), *ko = xasprintf("%s/rootfs/usr/lib/modules/6.1.0-test/extras/aftest.ko", kmod);
    bt_write_str(c, "__attribute__((section(\".modinfo\"), used)) static const char info[] = "
                    "\"name=aftest\\0alias=airfactory-test-device\\0license=GPL\\0\";\n"
                    "__attribute__((section(\".gnu.linkonce.this_module\"), used)) static char m[0x400];\n"
                    "int init_module(void) { return 0; }\n");
    char *extras = xasprintf("%s/rootfs/usr/lib/modules/6.1.0-test/extras", kmod);
    struct error err = {0};
    CHECK_INT(fs_mkdir_p(extras, 0755, &err), 0);
    CHECK_INT(bt_run(NULL, "cc -c -o '%s' '%s'", ko, c), 0);
    char *other = xasprintf("%s/rootfs/usr/lib/modules/9.9.9/extras/ignored.ko", kmod);
    bt_write_str(other, "not for this kernel");
    char *hello = make_extension(dir, "hello", ">= v1.0.0", NULL);
    const char *exts[] = {kmod, hello};
    struct initramfs_options o = {0};
    initramfs_options_for(&o, bt_quirks("v1.11.3", NULL, false), "v1.11.3");
    o.base_path = base;
    o.extension_dirs = exts;
    o.extension_count = 2;
    o.schematic_id = SCHEMATIC;
    o.mtime = 1735689600;
    char *out = path_join(dir, "out.xz"), *x = path_join(dir, "x");
    struct cpio_listing l;
    build_and_list(&o, out, x, 1 << 16, &l);
    const struct cpio_entry *y = cpio_listing_find(&l, "extensions.yaml");
    CHECK(y && strstr(buffer_cstr((struct buffer *)&y->data),
                      "    - image: 2.sqsh\n      metadata:\n        name: schematic\n") != NULL);
    CHECK(y && strstr(buffer_cstr((struct buffer *)&y->data),
                      "    - image: modules.dep.sqsh\n      metadata:\n        name: modules.dep\n"
                      "        version: 6.1.0-test\n        author: Talos Machinery\n"
                      "        description: Combined modules.dep for all extensions\n") != NULL);
    struct buffer t = BUFFER_INIT;
    CHECK_INT(bt_run(&t, "unsquashfs -cat '%s/modules.dep.sqsh' usr/lib/modules/6.1.0-test/modules.dep", x), 0);
    CHECK(strstr(buffer_cstr(&t), "extras/aftest.ko:") != NULL);
    buffer_reset(&t);
    CHECK_INT(bt_run(&t, "unsquashfs -cat '%s/modules.dep.sqsh' usr/lib/modules/6.1.0-test/modules.alias", x), 0);
    CHECK(strstr(buffer_cstr(&t), "alias airfactory-test-device aftest") != NULL);
    buffer_reset(&t);
    CHECK_INT(bt_run(&t, "unsquashfs -l '%s/modules.dep.sqsh'", x), 0);
    CHECK(strstr(buffer_cstr(&t), "modules.order") != NULL && strstr(buffer_cstr(&t), ".ko") == NULL);
    buffer_free(&t);
    cpio_listing_free(&l);
    /* depmod reads the modules by name on the host: a module that is a link to a host file is
     * refused before depmod runs (the extension's links resolve inside it) */
    char *secret = path_join(dir, "host-secret"), *link = xasprintf("%s/rootfs/usr/lib/modules/6.1.0-test/extras/"
                                                                    "host.ko",
                                                                    kmod);
    bt_write_str(secret, "HOST-SECRET\n");
    CHECK_INT(symlink(secret, link), 0);
    unlink(out);
    CHECK_INT(initramfs_build(&o, out, &err), -1);
    CHECK(strstr(err.message, "/usr/lib/modules/6.1.0-test/extras/host.ko -> ") != NULL);
    CHECK(!fs_exists(out));
    unlink(link);
    /* an in-tree link is copied as the module it names */
    CHECK_INT(symlink("/usr/lib/modules/6.1.0-test/extras/aftest.ko", link), 0);
    CHECK_INT(initramfs_build(&o, out, &err), 0);
    unlink(link);
    free(link);
    free(secret);
    /* a base with two kernel versions is refused */
    const char *two[] = {"6.1.0-a", "6.1.0-b", NULL};
    unlink(base);
    make_base_with_modules(dir, base, two);
    unlink(out);
    CHECK_INT(initramfs_build(&o, out, &err), -1);
    CHECK(strstr(err.message, "exactly one kernel version") != NULL);
    CHECK(!fs_exists(out));
    free(c);
    free(ko);
    free(extras);
    free(other);
    free(out);
    free(x);
    free(kmod);
    free(hello);
    free(base);
    bt_remove(dir);
    free(dir);
}

/* Symlinks in an extension resolve inside the extension, as Talos resolves them at runtime: in-tree
 * links give the in-tree bytes, links to the build host's files are refused naming the extension,
 * the link and its target, and no byte of the host file reaches the output. */
static void links_resolve_inside_the_extension_never_on_the_host(void)
{
    char *dir = bt_scratch();
    char *base = path_join(dir, "initramfs.xz");
    make_base(base, COMPRESS_ZSTD);
    char *secret = path_join(dir, "host/secret"), *hostdir = path_join(dir, "host");
    bt_write_str(secret, "HOST-SECRET-6c2f0e\n");
    char *climb = xasprintf("../../../../../../../../../../../../../../../../../../../..%s", secret);

    /* in-tree links: followed inside the extension */
    char *good = make_extension(dir, "goodlinks", ">= v1.0.0", NULL), *p;
    const char *fw = "rootfs/usr/lib/firmware";
    p = xasprintf("%s/%s/vendor/real.bin", good, fw);
    bt_write_str(p, "REAL-FIRMWARE\n");
    free(p);
    p = xasprintf("%s/%s/vendor/ucode.bin", good, fw);
    bt_write_str(p, "UCODE-IN-TREE");
    free(p);
    struct {
        const char *at, *to;
    } links[] = {
        {"vendor/abs.bin", "/usr/lib/firmware/vendor/real.bin"},
        {"vendor/rel.bin", "real.bin"},
        {"viadir", "vendor"},
        {"intel-ucode/06-aa-00", "/usr/lib/firmware/vendor/ucode.bin"},
        {"etc-shadow.bin", "/etc/shadow"}, /* the extension's own /etc/shadow, planted below */
    };
    for (size_t i = 0; i < sizeof links / sizeof *links; i++) {
        p = xasprintf("%s/%s/%s", good, fw, links[i].at);
        char *parent = xstrdup(p);
        *strrchr(parent, '/') = '\0';
        struct error e;
        fs_mkdir_p(parent, 0755, &e);
        CHECK_INT(symlink(links[i].to, p), 0);
        free(parent);
        free(p);
    }
    p = xasprintf("%s/rootfs/etc/shadow", good);
    bt_write_str(p, "the extension's own shadow\n");
    free(p);
    const char *exts[] = {good};
    const char *labels[] = {"extension ghcr.io/test/links:1 (sha256:0000)"};
    struct initramfs_options o = {0};
    struct error err = {0};
    initramfs_options_for(&o, bt_quirks("v1.11.3", NULL, false), "v1.11.3");
    o.base_path = base;
    o.extension_dirs = exts;
    o.extension_labels = labels;
    o.extension_count = 1;
    o.mtime = 1735689600;
    char *out = path_join(dir, "out.xz"), *x = path_join(dir, "x");
    struct cpio_listing l;
    build_and_list(&o, out, x, 1 << 20, &l);
    const char *want[][2] = {{"usr/lib/firmware/vendor/abs.bin", "REAL-FIRMWARE\n"},
                             {"usr/lib/firmware/vendor/rel.bin", "REAL-FIRMWARE\n"},
                             {"usr/lib/firmware/viadir/real.bin", "REAL-FIRMWARE\n"},
                             {"usr/lib/firmware/etc-shadow.bin", "the extension's own shadow\n"},
                             {"kernel/x86/microcode/GenuineIntel.bin", "UCODE-IN-TREE"}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const struct cpio_entry *e = cpio_listing_find(&l, want[i][0]);
        CHECK(e && (e->mode & 0170000) == 0100000 && !strcmp(buffer_cstr((struct buffer *)&e->data), want[i][1]));
        if (!e)
            printf("  %s missing\n", want[i][0]);
    }
    CHECK(cpio_listing_find(&l, "usr/lib/firmware/intel-ucode/06-aa-00") == NULL); /* taken as microcode */
    cpio_listing_free(&l);
    struct buffer all = BUFFER_INIT;
    CHECK_INT(bt_run(&all, "cat '%s' | zstd -dcq 2>/dev/null | grep -c HOST-SECRET || true", out), 0);
    CHECK_STR(buffer_cstr(&all), "0\n");
    buffer_free(&all);
    unlink(out);

    /* hostile links: each one alone in an otherwise valid extension */
    struct {
        const char *at, *to, *needle;
    } bad[] = {
        {"rootfs/usr/lib/firmware/vendor/secret.bin", secret, "/usr/lib/firmware/vendor/secret.bin -> "},
        {"rootfs/usr/lib/firmware/vendor/climb.bin", climb, "climbs above the image's root"},
        {"rootfs/usr/lib/firmware/hostdir", hostdir, "/usr/lib/firmware/hostdir -> "},
        {"rootfs/usr/lib/firmware/intel-ucode/06-bb-00", secret, "/usr/lib/firmware/intel-ucode/06-bb-00 -> "},
        {"rootfs/usr/lib/firmware/amd-ucode/microcode_amd.bin", climb, "/usr/lib/firmware/amd-ucode/microcode_amd.bin"},
        {"rootfs/usr/lib/firmware", hostdir, "/usr/lib/firmware -> "},
        {"manifest.yaml", secret, "/manifest.yaml -> "},
        {"rootfs", hostdir, "is a symlink; an extension's rootfs must be a directory"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *name = xasprintf("bad%zu", i);
        char *ext = make_extension(dir, name, ">= v1.0.0", "usr/lib/firmware");
        p = path_join(ext, bad[i].at);
        char *parent = xstrdup(p);
        *strrchr(parent, '/') = '\0';
        fs_mkdir_p(parent, 0755, &err);
        bt_remove(p);
        CHECK_INT(symlink(bad[i].to, p), 0);
        exts[0] = ext;
        labels[0] = "extension ghcr.io/test/hostile:1 (sha256:0000)";
        expect_failure(&o, dir, bad[i].needle, ERROR_INPUT);
        CHECK(strstr(err.message, "HOST-SECRET") == NULL);
        free(parent);
        free(p);
        free(ext);
        free(name);
    }
    /* and every such error names the extension */
    exts[0] = good;
    p = xasprintf("%s/%s/vendor/zz.bin", good, fw);
    CHECK_INT(symlink(secret, p), 0);
    free(p);
    CHECK_INT(initramfs_build(&o, out, &err), -1);
    CHECK(strstr(err.message, "extension ghcr.io/test/hostile:1 (sha256:0000): /usr/lib/firmware/vendor/zz.bin -> ") !=
          NULL);
    CHECK(strstr(err.message, secret) != NULL && strstr(err.message, "HOST-SECRET") == NULL);
    free(out);
    free(x);
    free(good);
    free(climb);
    free(secret);
    free(hostdir);
    free(base);
    bt_remove(dir);
    free(dir);
}

/* Eleven extensions and the schematic: directories 0..11, which Talos lists sorted as strings
 * (0, 1, 10, 11, 2, ..., 9), so extensions.yaml names the layers in that order and each squashfs
 * keeps its own directory's content; a numeric sort would put 10 and 11 last. */
static void twelve_layers_sort_as_strings(void)
{
    char *dir = bt_scratch();
    char *base = path_join(dir, "initramfs.xz");
    make_base(base, COMPRESS_ZSTD);
    char *paths[11];
    const char *exts[11];
    for (int i = 0; i < 11; i++) {
        char name[16];
        snprintf(name, sizeof name, "ext%02d", i);
        paths[i] = make_extension(dir, name, ">= v1.0.0", NULL);
        exts[i] = paths[i];
    }
    struct initramfs_options o = {0};
    initramfs_options_for(&o, bt_quirks("v1.11.3", NULL, false), "v1.11.3");
    o.base_path = base;
    o.extension_dirs = exts;
    o.extension_count = 11;
    o.schematic_id = SCHEMATIC;
    o.mtime = 1735689600;
    o.threads = 2;
    char *out = path_join(dir, "out.xz"), *x = path_join(dir, "x");
    struct cpio_listing l;
    build_and_list(&o, out, x, 1 << 20, &l);
    const struct cpio_entry *e = cpio_listing_find(&l, "extensions.yaml");
    CHECK(e != NULL);
    if (e) {
        struct buffer want = BUFFER_INIT;
        buffer_appendf(&want, "layers:\n");
        static const int order[] = {0, 1, 10, 11, 2, 3, 4, 5, 6, 7, 8, 9};
        for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
            if (order[k] == 11)
                buffer_appendf(&want, "    - image: 11.sqsh\n      metadata:\n        name: schematic\n");
            else
                buffer_appendf(&want, "    - image: %d.sqsh\n      metadata:\n        name: ext%02d\n", order[k],
                               order[k]);
        }
        /* the image/name pairs, in order, with the other metadata lines left out */
        struct buffer got = BUFFER_INIT;
        const char *y = buffer_cstr((struct buffer *)&e->data);
        for (const char *line = y; *line;) {
            const char *end = strchr(line, '\n');
            size_t len = end ? (size_t)(end - line + 1) : strlen(line);
            if (!strncmp(line, "layers:", 7) || strstr(line, "- image: ") == line + 4 ||
                !strncmp(line, "      metadata:", 15) || !strncmp(line, "        name: ", 14))
                buffer_append(&got, line, len);
            line += len;
        }
        CHECK_STR(buffer_cstr(&got), buffer_cstr(&want));
        buffer_free(&got);
        buffer_free(&want);
    }
    /* each squashfs holds its own directory's files: 10.sqsh is ext10, 2.sqsh is ext02 */
    struct buffer lst = BUFFER_INIT;
    CHECK_INT(bt_run(&lst, "unsquashfs -l '%s/10.sqsh'", x), 0);
    CHECK(strstr(buffer_cstr(&lst), "usr/local/share/ext10/README") != NULL);
    buffer_reset(&lst);
    CHECK_INT(bt_run(&lst, "unsquashfs -l '%s/2.sqsh'", x), 0);
    CHECK(strstr(buffer_cstr(&lst), "usr/local/share/ext02/README") != NULL);
    buffer_free(&lst);
    cpio_listing_free(&l);
    for (int i = 0; i < 11; i++)
        free(paths[i]);
    free(out);
    free(x);
    free(base);
    bt_remove(dir);
    free(dir);
}

/* The labels layer_flatten kept beside an extension ("<dir>.selinux", path NUL label NUL) reach
 * its squashfs, re-rooted at rootfs/; what moved to the initramfs (firmware) and what is outside
 * rootfs/ are left out (compress.go xattrPseudoFlags). */
static void pax_labels_reach_the_squashfs(void)
{
    if (!bt_have_tool("unsquashfs") || !bt_have_tool("getfattr")) {
        printf("  (unsquashfs or getfattr missing: nothing to check)\n");
        return;
    }
    char *dir = bt_scratch();
    char *base = path_join(dir, "initramfs.xz");
    make_base(base, COMPRESS_ZSTD);
    char *fw = make_extension(dir, "firmware", ">= v1.10.0", "usr/lib/firmware");
    static const char labels[] = "manifest.yaml\0system_u:object_r:m_t:s0\0"
                                 "rootfs\0system_u:object_r:root_t:s0\0"
                                 "rootfs/usr/lib/firmware/vendor/firmware.bin\0system_u:object_r:fw_t:s0\0"
                                 "rootfs/usr/local/share/firmware/README\0system_u:object_r:readme_t:s0\0";
    char *file = xasprintf("%s.selinux", fw);
    struct error err = {0};
    CHECK_INT(fs_write_file_atomic(file, labels, sizeof labels - 1, 0644, &err), 0);
    const char *exts[] = {fw};
    struct initramfs_options o = {0};
    initramfs_options_for(&o, bt_quirks("v1.11.3", NULL, false), "v1.11.3");
    o.base_path = base;
    o.extension_dirs = exts;
    o.extension_count = 1;
    o.schematic_id = SCHEMATIC;
    o.mtime = 1735689600;
    char *out = path_join(dir, "out.xz"), *x = path_join(dir, "x");
    struct cpio_listing l;
    build_and_list(&o, out, x, 1 << 20, &l);
    struct buffer t = BUFFER_INIT;
    CHECK_INT(bt_run(NULL, "unsquashfs -xattrs -no-progress -d '%s/sq' '%s/0.sqsh' >/dev/null 2>&1", dir, x), 0);
    CHECK_INT(bt_run(&t, "cd '%s/sq' && getfattr -R -h -d -m security . 2>/dev/null", dir), 0);
    CHECK_STR(buffer_cstr(&t), "# file: .\nsecurity.selinux=\"system_u:object_r:root_t:s0\"\n\n"
                               "# file: usr/local/share/firmware/README\n"
                               "security.selinux=\"system_u:object_r:readme_t:s0\"\n\n");
    buffer_free(&t);
    cpio_listing_free(&l);
    free(out);
    free(x);
    free(file);
    free(fw);
    free(base);
    bt_remove(dir);
    free(dir);
}

int main(void)
{
    RUN(layout_matches_talos);
    RUN(older_versions_use_xz_and_lib_firmware);
    RUN(output_is_reproducible);
    RUN(bad_inputs_fail_cleanly);
    RUN(kernel_modules_get_a_modules_dep_extension);
    RUN(links_resolve_inside_the_extension_never_on_the_host);
    RUN(twelve_layers_sort_as_strings);
    RUN(pax_labels_reach_the_squashfs);
    return TEST_MAIN_END();
}
