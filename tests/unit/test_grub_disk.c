/* test_grub_disk — GRUB pieces of disk images (grub.cfg text, the BIOS install's patched
 * offsets) and XFS images (CRC32c, protofile population through mkfs.xfs, reproducible inode
 * times). The BOOT/BIOS content of whole images is checked with outside tools and QEMU in
 * tests/boot/disk_grub.sh. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "airfactory/buffer.h"
#include "core/fs.h"
#include "imager/grub_disk.h"
#include "core/memory.h"
#include "format/xfs_image.h"
#include "test.h"

static char *scratch_dir(void)
{
    char tmpl[] = "/tmp/airfactory-test-grub-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? xstrdup(d) : NULL;
}

static void test_grub_cfg(void)
{
    /* Talos' grub_write_test.cfg layout, with a command line that needs quoting */
    char *cfg = grub_disk_cfg("v1.11.3", "talos.platform=metal a=b;c $x", true);
    CHECK_STR(cfg, "set default=\"A - Talos v1.11.3\"\n"
                   "\n"
                   "set timeout=3\n"
                   "\n"
                   "insmod all_video\n"
                   "\n"
                   "terminal_input console\n"
                   "terminal_output console\n"
                   "\n"
                   "menuentry \"A - Talos v1.11.3\" {\n"
                   "  set gfxmode=auto\n"
                   "  set gfxpayload=text\n"
                   "  linux /A/vmlinuz talos.platform=metal a=b\\;c \\$x\n"
                   "  initrd /A/initramfs.xz\n"
                   "}\n"
                   "menuentry \"Reset Talos installation and return to maintenance mode\" {\n"
                   "  set gfxmode=auto\n"
                   "  set gfxpayload=text\n"
                   "  linux /A/vmlinuz talos.platform=metal a=b\\;c \\$x talos.experimental.wipe=system:EPHEMERAL,STATE\n"
                   "  initrd /A/initramfs.xz\n"
                   "}\n");
    free(cfg);
    /* before 1.4 there is no reset entry */
    cfg = grub_disk_cfg("v1.3.7", "x", false);
    CHECK(strstr(cfg, "menuentry \"A - Talos v1.3.7\"") != NULL);
    CHECK(strstr(cfg, "Reset Talos") == NULL);
    free(cfg);
}

static void test_crc32c(void)
{
    CHECK_INT(xfs_image_crc32c("123456789", 9), 0xe3069283); /* the CRC-32C check value */
    CHECK_INT(xfs_image_crc32c("", 0), 0);
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void test_install_bios(void)
{
    char *dir = scratch_dir();
    CHECK(dir != NULL);
    if (!dir)
        return;
    char *boot = path_join(dir, "boot.img"), *core = path_join(dir, "core.img"), *disk = path_join(dir, "disk");
    uint8_t b[512], c[1536], mbr[512];
    for (size_t i = 0; i < sizeof b; i++)
        b[i] = (uint8_t)(i * 7 + 1);
    for (size_t i = 0; i < sizeof c; i++)
        c[i] = (uint8_t)(i * 3 + 5);
    memset(mbr, 0, sizeof mbr);
    mbr[446 + 4] = 0xee; /* a protective MBR entry and signature that must survive */
    mbr[510] = 0x55;
    mbr[511] = 0xaa;
    struct error err = {0};
    CHECK_INT(fs_write_file_atomic(boot, b, sizeof b, 0644, &err), 0);
    CHECK_INT(fs_write_file_atomic(core, c, sizeof c, 0644, &err), 0);
    int fd = open(disk, O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK_INT(ftruncate(fd, 4 << 20), 0);
    CHECK_INT(fs_pwrite_all(fd, mbr, sizeof mbr, 0, disk, &err), 0);
    CHECK_INT(grub_disk_install_bios(fd, disk, boot, core, 2048, 1 << 20, 512, &err), 0);
    uint8_t got[512], gotcore[1536];
    CHECK_INT(pread(fd, got, sizeof got, 0), 512);
    CHECK_INT(pread(fd, gotcore, sizeof gotcore, 2048 * 512), 1536);
    CHECK(le64(got + 0x5c) == 2048);               /* core.img's LBA */
    CHECK(got[0x66] == 0x90 && got[0x67] == 0x90); /* jump NOPed */
    CHECK(memcmp(got, b, 0x5c) == 0);              /* the rest is boot.img ... */
    CHECK(memcmp(got + 0x64, b + 0x64, 2) == 0);
    CHECK(memcmp(got + 0x68, b + 0x68, 446 - 0x68) == 0);
    CHECK(memcmp(got + 446, mbr + 446, 66) == 0); /* ... up to the partition table */
    CHECK(le64(gotcore + 0x1f4) == 2049);         /* blocklist: the rest of core.img */
    CHECK(memcmp(gotcore, c, 0x1f4) == 0);
    CHECK(memcmp(gotcore + 0x1fc, c + 0x1fc, sizeof c - 0x1fc) == 0);
    /* a core.img larger than the partition is refused */
    CHECK_INT(grub_disk_install_bios(fd, disk, boot, core, 2048, 1024, 512, &err), -1);
    close(fd);
    struct error e2 = {0};
    fs_remove_tree(dir, &e2);
    free(boot);
    free(core);
    free(disk);
    free(dir);
}

/* cmp(1)'s exit status: 0 same, 1 different (the images are 300 MiB: not read into memory) */
static int cmp_files(const char *a, const char *b)
{
    char *cmd = xasprintf("cmp -s %s %s", a, b);
    int rc = system(cmd);
    free(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_xfs_image(void)
{
    if (system("command -v mkfs.xfs >/dev/null 2>&1") != 0) {
        printf("  (mkfs.xfs missing: xfsprogs is in scripts/install-deps.sh)\n");
        CHECK(0);
        return;
    }
    char *dir = scratch_dir();
    CHECK(dir != NULL);
    if (!dir)
        return;
    char *src = path_join(dir, "kernel"), *a = path_join(dir, "a.xfs"), *b = path_join(dir, "b.xfs");
    struct error err = {0};
    CHECK_INT(fs_write_file_atomic(src, "kernel bytes\n", 13, 0644, &err), 0);
    struct xfs_image_file files[] = {
        {.path = "grub/grub.cfg", .data = "set timeout=3\n", .size = 14, .mode = 0600},
        {.path = "A/vmlinuz", .source = src},
        {.path = "A/initramfs.xz", .data = "initramfs", .size = 9},
    };
    struct xfs_image_options o = {.size = 300ull << 20,
                                  .label = "BOOT",
                                  .uuid = "24c73076-4092-85dd-9d98-686a2dbf6d81",
                                  .sector_size = 512,
                                  .mtime = 1700000000};
    CHECK_INT(xfs_image_write(a, &o, files, 3, &err), 0);
    if (err.message[0])
        printf("  %s\n", err.message);
    o.mtime = 1600000000;
    CHECK_INT(xfs_image_write(b, &o, files, 3, &err), 0);
    struct stat st;
    CHECK(stat(a, &st) == 0 && st.st_size == 300 << 20);
    CHECK_INT(cmp_files(a, b), 1); /* the times differ */
    /* re-timing b to a's time makes it byte-identical: times were the only difference */
    int fd = open(b, O_RDWR);
    size_t count = 0;
    CHECK_INT(xfs_image_set_times(fd, b, 1700000000, &count, &err), 0);
    close(fd);
    CHECK_INT(count, 8); /* root, realtime bitmap and summary, A, grub, 3 files */
    CHECK_INT(cmp_files(a, b), 0);
    /* xfs_repair agrees with the rewritten inodes */
    char *cmd = xasprintf("xfs_repair -n %s >/dev/null 2>&1", a);
    CHECK_INT(system(cmd), 0);
    free(cmd);
    /* refusals: a name with a space; a non-XFS file */
    struct xfs_image_file bad = {.path = "a b", .data = "x", .size = 1};
    CHECK_INT(xfs_image_write(a, &o, &bad, 1, &err), -1);
    CHECK(strstr(err.message, "cannot be named") != NULL);
    CHECK(!fs_exists(a)); /* no partial output */
    fd = open(src, O_RDWR);
    CHECK_INT(xfs_image_set_times(fd, src, 1, NULL, &err), -1);
    close(fd);
    struct error e2 = {0};
    fs_remove_tree(dir, &e2);
    free(src);
    free(a);
    free(b);
    free(dir);
}

int main(void)
{
    RUN(test_grub_cfg);
    RUN(test_crc32c);
    RUN(test_install_bios);
    RUN(test_xfs_image);
    return TEST_MAIN_END();
}
