/* Tests of the overlay module: get-options output parsing, and running an overlay installer the
 * way the imager does, with the hostile cases. The installers are copies of this test binary
 * (installers/<name>): started as `<name> get-options` it behaves as the name says (answer, fail,
 * hang, write a file), so the tests need no other program. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <stdio.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/memory.h"
#include "imager/overlay.h"
#include "test.h"

static char self[4096];
static char tree[] = "/tmp/airfactory-overlay-XXXXXX";

/* The value of "key: " on its own line of the install input (in one of two static slots). */
static char *field(const char *text, const char *key, int slot)
{
    static char value[2][4096];
    const char *p = strstr(text, key);
    if (!p)
        return NULL;
    p += strlen(key);
    size_t n = strcspn(p, "\n");
    if (n >= sizeof value[slot])
        return NULL;
    memcpy(value[slot], p, n);
    value[slot][n] = '\0';
    return value[slot];
}

/* install: as the name says — write into the disk and under mountPrefix, outside both, past the
 * disk's end, or hang. */
static int as_install(const char *name)
{
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, stdin);
    buf[n] = '\0';
    char *disk = field(buf, "installDisk: ", 0), *prefix = field(buf, "mountPrefix: ", 1);
    if (!disk || !prefix) {
        fprintf(stderr, "installDisk or mountPrefix missing");
        return 1;
    }
    if (!strcmp(name, "hang"))
        for (;;)
            pause();
    FILE *d = fopen(disk, "r+");
    if (!d) {
        fprintf(stderr, "failed to open %s", disk);
        return 1;
    }
    if (!strcmp(name, "grow"))
        fseek(d, 0, SEEK_END);
    else
        fseek(d, 512, SEEK_SET);
    fputs(strstr(buf, "extraOptions:\n    fast: true") ? "MARK-FAST" : "MARK", d);
    if (fclose(d) != 0)
        return 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/boot/EFI", prefix);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/boot/EFI/board.dtb", prefix);
    FILE *f = fopen(path, "w");
    if (!f || fputs("dtb", f) < 0 || fclose(f) != 0)
        return 1;
    if (!strcmp(name, "escape")) {
        /* beside the disk, outside the scratch directory */
        snprintf(path, sizeof path, "%s.escaped", disk);
        FILE *e = fopen(path, "w");
        if (!e) {
            fprintf(stderr, "cannot create %s: %s", path, strerror(errno));
            return 1;
        }
        fclose(e);
    }
    return 0;
}

/* The behaviour of a copy started as an installer. */
static int as_installer(const char *name, const char *command)
{
    if (!strcmp(command, "install"))
        return as_install(name);
    if (strcmp(command, "get-options") != 0) {
        fprintf(stderr, "unknown command");
        return 1;
    }
    if (!strcmp(name, "good")) {
        char buf[256];
        size_t n = fread(buf, 1, sizeof buf - 1, stdin);
        buf[n] = '\0';
        printf("name: good\nkernelArgs:\n    - console=ttyS2\n    - stdin=%s\npartitionOptions:\n    offset: 2048\n",
               strstr(buf, "fast: true") ? "fast" : "empty");
        return 0;
    }
    if (!strcmp(name, "fail")) {
        fprintf(stderr, "board not supported\nsecond line");
        return 1;
    }
    if (!strcmp(name, "hang")) {
        for (;;)
            pause();
    }
    if (!strcmp(name, "garbage")) {
        printf("- just\n- a list\n");
        return 0;
    }
    return 2;
}

static void install(const char *name)
{
    char *dir = path_join(tree, "installers");
    char *dst = path_join(dir, name);
    struct error err = {0};
    fs_mkdir_p(dir, 0755, &err);
    CHECK_INT(fs_copy_file(self, dst, &err), 0);
    chmod(dst, 0755);
    free(dir);
    free(dst);
}

static void parses_options_as_the_sdk_writes_them(void)
{
    const char *text = "name: sbc\nkernelArgs:\n    - console=tty0\n    - a=b\npartitionOptions:\n    offset: 20480\n";
    struct overlay_options o;
    struct error err = {0};
    CHECK_INT(overlay_options_parse(text, strlen(text), "t", &o, &err), 0);
    CHECK_STR(o.name, "sbc");
    CHECK_INT(o.kernel_arg_count, 2);
    if (o.kernel_arg_count == 2)
        CHECK_STR(o.kernel_args[1], "a=b");
    CHECK_INT(o.partition_offset, 20480);
    overlay_options_free(&o);
    const char *bare = "name: x\n";
    CHECK_INT(overlay_options_parse(bare, strlen(bare), "t", &o, &err), 0);
    CHECK_INT(o.kernel_arg_count, 0);
    CHECK_INT(o.partition_offset, 0);
    overlay_options_free(&o);
    const char *bad = "name: x\npartitionOptions: {offset: -1}\n";
    CHECK_INT(overlay_options_parse(bad, strlen(bad), "overlay x", &o, &err), -1);
    CHECK(strstr(err.message, "overlay x: get-options: partitionOptions.offset") != NULL);
}

static void runs_the_installer_with_the_options_on_stdin(void)
{
    install("good");
    char *scratch = path_join(tree, "scratch");
    struct error err = {0};
    fs_mkdir_p(scratch, 0700, &err);
    struct overlay_installer o = {tree, "good", "overlay good", 10};
    struct overlay_options opts;
    CHECK_INT(overlay_get_options(&o, "fast: true\n", scratch, &opts, &err), 0);
    CHECK_INT(opts.kernel_arg_count, 2);
    if (opts.kernel_arg_count == 2)
        CHECK_STR(opts.kernel_args[1], "stdin=fast");
    CHECK_INT(opts.partition_offset, 2048);
    overlay_options_free(&opts);
    CHECK_INT(overlay_get_options(&o, NULL, scratch, &opts, &err), 0);
    CHECK(opts.kernel_arg_count == 2 && !strcmp(opts.kernel_args[1], "stdin=empty"));
    overlay_options_free(&opts);
    free(scratch);
}

static void hostile_installers_fail_with_the_overlay_and_step_named(void)
{
    char *scratch = path_join(tree, "scratch");
    struct error err = {0};
    struct overlay_options opts;
    install("fail");
    struct overlay_installer o = {tree, "fail", "overlay fail (img@sha256:1)", 10};
    CHECK_INT(overlay_get_options(&o, NULL, scratch, &opts, &err), -1);
    CHECK(strstr(err.message, "overlay fail (img@sha256:1): /installers/fail get-options failed (exit 1): board not "
                              "supported second line") != NULL);
    install("hang");
    struct overlay_installer h = {tree, "hang", "overlay hang", 1};
    CHECK_INT(overlay_get_options(&h, NULL, scratch, &opts, &err), -1);
    CHECK(strstr(err.message, "overlay hang: /installers/hang get-options did not finish within 1 s: killed") != NULL);
    install("garbage");
    struct overlay_installer g = {tree, "garbage", "overlay garbage", 10};
    CHECK_INT(overlay_get_options(&g, NULL, scratch, &opts, &err), -1);
    CHECK(strstr(err.message, "overlay garbage: get-options printed no overlay options mapping") != NULL);
    struct overlay_installer missing = {tree, "absent", "overlay absent", 10};
    CHECK_INT(overlay_get_options(&missing, NULL, scratch, &opts, &err), -1);
    CHECK(strstr(err.message, "the image has no /installers/absent") != NULL);
    struct overlay_installer escape = {tree, "../x", "overlay escape", 10};
    CHECK_INT(overlay_get_options(&escape, NULL, scratch, &opts, &err), -1);
    CHECK(strstr(err.message, "is not a file name") != NULL);
    /* a link out of the image resolves inside it, never to a host program */
    char *link = path_join(tree, "installers/link");
    CHECK_INT(symlink("/bin/true", link), 0);
    struct overlay_installer l = {tree, "link", "overlay link", 10};
    CHECK_INT(overlay_get_options(&l, NULL, scratch, &opts, &err), -1);
    free(link);
    free(scratch);
}

static void runs_install_confined_to_scratch_and_the_disk(void)
{
    struct error err = {0};
    if (overlay_confinement_abi() <= 0) {
        /* no Landlock: the runner refuses, naming what is missing */
        struct overlay_installer o = {tree, "good", "overlay good", 10};
        struct buffer b = BUFFER_INIT;
        CHECK_INT(overlay_run(&o, "get-options", "{}\n", 3, tree, NULL, &b, &err), -1);
        CHECK(strstr(err.message, "Landlock") != NULL);
        buffer_free(&b);
        return;
    }
    install("good");
    install("escape");
    install("grow");
    install("hang");
    char *scratch = path_join(tree, "install-scratch"), *mnt = path_join(scratch, "mnt");
    char *disk = path_join(tree, "disk.raw"), *escaped = path_join(tree, "disk.raw.escaped");
    CHECK_INT(fs_mkdir_p(mnt, 0700, &err), 0);
    char *boot = path_join(mnt, "boot");
    CHECK_INT(fs_mkdir_p(boot, 0700, &err), 0);
    FILE *d = fopen(disk, "w");
    CHECK(d && ftruncate(fileno(d), 4096) == 0);
    fclose(d);
    struct overlay_install_options io = {disk, mnt, tree, "fast: true\n"};
    struct buffer in = BUFFER_INIT;
    overlay_install_input(&io, &in);
    char *want = xasprintf("installDisk: %s\nmountPrefix: %s\nartifactsPath: %s\nextraOptions:\n    fast: true\n", disk,
                           mnt, tree);
    CHECK_STR(buffer_cstr(&in), want);
    free(want);
    buffer_free(&in);
    struct overlay_installer good = {tree, "good", "overlay good", 10};
    CHECK_INT(overlay_install(&good, &io, scratch, &err), 0);
    struct buffer got = BUFFER_INIT;
    CHECK_INT(fs_read_file(disk, 1 << 20, &got, &err), 0);
    CHECK(got.len == 4096 && !memcmp(got.data + 512, "MARK-FAST", 9));
    buffer_free(&got);
    char *dtb = path_join(boot, "EFI/board.dtb");
    CHECK(fs_exists(dtb));
    /* a write outside scratch and the disk is refused by the kernel: the step fails, naming it */
    struct overlay_installer escape = {tree, "escape", "overlay escape", 10};
    CHECK_INT(overlay_install(&escape, &io, scratch, &err), -1);
    CHECK(strstr(err.message, "overlay escape: /installers/escape install failed (exit 1): cannot create ") != NULL);
    CHECK(strstr(err.message, "Permission denied") != NULL);
    CHECK(!fs_exists(escaped));
    /* growing the disk is refused after the fact */
    struct overlay_installer grow = {tree, "grow", "overlay grow", 10};
    CHECK_INT(overlay_install(&grow, &io, scratch, &err), -1);
    CHECK(strstr(err.message,
                 "overlay grow: /installers/grow install changed the size of the disk (4096 -> 4105 bytes)") != NULL);
    struct overlay_installer hang = {tree, "hang", "overlay hang", 1};
    CHECK_INT(overlay_install(&hang, &io, scratch, &err), -1);
    CHECK(strstr(err.message, "overlay hang: /installers/hang install did not finish within 1 s: killed") != NULL);
    free(dtb);
    free(boot);
    free(scratch);
    free(mnt);
    free(disk);
    free(escaped);
}

static void reads_the_board_profile_bootloader(void)
{
    struct error err = {0};
    char *dir = path_join(tree, "profiles");
    fs_mkdir_p(dir, 0755, &err);
    char *good = path_join(dir, "grubby.yaml"), *bad = path_join(dir, "weird.yaml"), *none = path_join(dir, "plain.yaml");
    const char *g = "arch: arm64\nplatform: metal\noutput:\n  kind: image\n  imageOptions:\n    diskSize: 1306525696\n"
                    "    bootloader: grub\n";
    const char *w = "output:\n  imageOptions:\n    bootloader: lilo\n";
    const char *p = "output:\n  kind: image\n";
    CHECK_INT(fs_write_file_atomic(good, g, strlen(g), 0644, &err), 0);
    CHECK_INT(fs_write_file_atomic(bad, w, strlen(w), 0644, &err), 0);
    CHECK_INT(fs_write_file_atomic(none, p, strlen(p), 0644, &err), 0);
    char *b = NULL;
    CHECK_INT(overlay_profile_bootloader(tree, "grubby", "overlay grubby", &b, &err), 1);
    CHECK_STR(b, "grub");
    free(b);
    CHECK_INT(overlay_profile_bootloader(tree, "plain", "overlay plain", &b, &err), 1);
    CHECK(b == NULL);
    CHECK_INT(overlay_profile_bootloader(tree, "absent", "overlay absent", &b, &err), 0);
    CHECK(b == NULL);
    CHECK_INT(overlay_profile_bootloader(tree, "weird", "overlay weird", &b, &err), -1);
    CHECK(strstr(err.message, "overlay weird: /profiles/weird.yaml: unknown bootloader \"lilo\"") != NULL);
    free(good);
    free(bad);
    free(none);
    free(dir);
}

int main(int argc, char **argv)
{
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    if (argc == 2 && strncmp(base, "test_", 5) != 0)
        return as_installer(base, argv[1]);
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0 || !mkdtemp(tree))
        return 1;
    self[n] = '\0';
    RUN(parses_options_as_the_sdk_writes_them);
    RUN(runs_the_installer_with_the_options_on_stdin);
    RUN(hostile_installers_fail_with_the_overlay_and_step_named);
    RUN(runs_install_confined_to_scratch_and_the_disk);
    RUN(reads_the_board_profile_bootloader);
    struct error err = {0};
    fs_remove_tree(tree, &err);
    return TEST_MAIN_END();
}
