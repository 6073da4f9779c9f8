/* grub_disk — see grub_disk.h. */
#include "imager/grub_disk.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airfactory/buffer.h"
#include "talos/version.h"
#include "imager/grub_tool.h"
#include "core/endian.h"
#include "core/fs.h"
#include "imager/iso.h"
#include "core/memory.h"
#include "core/tool.h"

char *grub_disk_cfg(const char *talos_version, const char *cmdline, bool reset_entry)
{
    /* bootloader/grub/encode.go's template, as in its testdata grub_write_test.cfg: the default
     * entry is named by its boot label and version; two-space indentation inside entries */
    char *q = iso_grub_quote(cmdline);
    struct buffer b = BUFFER_INIT;
    buffer_appendf(&b,
                   "set default=\"A - Talos %s\"\n\nset timeout=3\n\ninsmod all_video\n\nterminal_input "
                   "console\nterminal_output console\n\nmenuentry \"A - Talos %s\" {\n  set gfxmode=auto\n  set "
                   "gfxpayload=text\n  linux /A/vmlinuz %s\n  initrd /A/initramfs.xz\n}\n",
                   talos_version, talos_version, q);
    if (reset_entry)
        buffer_appendf(&b,
                       "menuentry \"Reset Talos installation and return to maintenance mode\" {\n  set "
                       "gfxmode=auto\n  set gfxpayload=text\n  linux /A/vmlinuz %s "
                       "talos.experimental.wipe=system:EPHEMERAL,STATE\n  initrd /A/initramfs.xz\n}\n",
                       q);
    free(q);
    return buffer_take(&b);
}

int grub_dir_check(const char *grub_dir, const char *platform, struct error *err)
{
    char *dir = path_join(grub_dir, platform);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int rc = errno == ENOENT ? error_set(err, ERROR_INPUT, "%s: no GRUB %s modules (the imager's usr/lib/grub/%s)",
                                             dir, platform, platform)
                                 : error_errno(err, errno, "%s: not a directory GRUB modules can be read from", dir);
        free(dir);
        return rc;
    }
    char **names = NULL;
    size_t n = 0;
    int rc = fs_list_dir(fd, dir, &names, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct stat st;
        if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
            rc = error_set(err, ERROR_INPUT,
                           "%s/%s is a symlink: GRUB trees are read by name, so their links must be "
                           "resolved inside the imager first (layer_flatten resolve_links)",
                           dir, names[i]);
    }
    fs_names_free(names, n);
    close(fd);
    free(dir);
    return rc;
}

int grub_disk_mkimage(const char *grub_dir, const char *platform, const char *out_path, const struct grub_tool *tool,
                      struct error *err)
{
    /* the modules Talos bakes into every GRUB image (bootloader/grub/install.go), so nothing
     * has to be loaded from the BOOT partition before grub.cfg runs */
    static const char *const modules[] = {"part_gpt",       "ext2",   "fat",  "xfs",       "normal",
                                          "configfile",     "linux",  "boot", "search",    "search_fs_uuid",
                                          "search_fs_file", "ls",     "cat",  "echo",      "test",
                                          "help",           "reboot", "halt", "all_video", NULL};
    bool bios = strcmp(platform, "i386-pc") == 0;
    if (!bios && strcmp(platform, "x86_64-efi") && strcmp(platform, "arm64-efi"))
        return error_set(err, ERROR_INPUT, "GRUB platform \"%s\" is not i386-pc, x86_64-efi or arm64-efi", platform);
    if (grub_dir_check(grub_dir, platform, err) != 0)
        return -1;
    char *dir = path_join(grub_dir, platform);
    char *log = xasprintf("%s.log", out_path); /* next to the output: never shared */
    const char *argv[48];
    size_t n = 0;
    if (tool)
        for (size_t i = 0; i < tool->argc; i++)
            argv[n++] = tool->argv[i];
    else
        argv[n++] = "grub-mkimage";
    argv[n++] = "--directory";
    argv[n++] = dir;
    argv[n++] = "--format";
    argv[n++] = platform;
    argv[n++] = "--output";
    argv[n++] = out_path;
    argv[n++] = "--prefix";
    argv[n++] = GRUB_DISK_PREFIX;
    if (!bios) {
        argv[n++] = "--compression";
        argv[n++] = "xz";
    }
    for (size_t i = 0; modules[i]; i++)
        argv[n++] = modules[i];
    if (bios) {
        argv[n++] = "biosdisk";
        argv[n++] = "part_msdos";
    }
    argv[n] = NULL;
    int rc = tool_run((char *const *)argv, log, err);
    if (rc == 0)
        unlink(log);
    free(log);
    free(dir);
    return rc == 0 ? 0 : error_prefix(err, "GRUB %s image: ", platform);
}

int grub_disk_install_bios(int fd, const char *what, const char *boot_img_path, const char *core_img_path,
                           uint64_t bios_first_lba, uint64_t bios_bytes, uint32_t sector_size, struct error *err)
{
    struct buffer boot = BUFFER_INIT, core = BUFFER_INIT;
    int rc = fs_read_file(boot_img_path, 4096, &boot, err);
    if (rc == 0)
        rc = fs_read_file(core_img_path, bios_bytes, &core, err);
    if (rc == 0 && boot.len != 512)
        rc = error_set(err, ERROR_INPUT, "%s: %zu bytes; GRUB's i386-pc boot.img is one 512-byte sector", boot_img_path,
                       boot.len);
    if (rc == 0 && (core.len < 512 || core.len > bios_bytes))
        rc = error_set(err, ERROR_INPUT,
                       "%s: %zu bytes; core.img must hold its 512-byte diskboot sector and fit "
                       "the %" PRIu64 "-byte BIOS boot partition",
                       core_img_path, core.len, bios_bytes);
    if (rc == 0) {
        uint8_t *b = (uint8_t *)boot.data, *c = (uint8_t *)core.data;
        /* boot.img (grub-core/boot/i386/pc/boot.S) loads ONE sector, core.img's first (diskboot),
         * from the LBA stored at GRUB_BOOT_MACHINE_KERNEL_SECTOR (0x5c, LE64); grub-bios-setup's
         * write_rootdev() stores it there. */
        le64_put(b + GRUB_DISK_BOOT_KERNEL_SECTOR, bios_first_lba);
        /* 0x66: a short jump over the "boot drive in %dl looks wrong, use 0x80" workaround for
         * buggy BIOSes; setup.c replaces it with two NOPs (0x90 0x90) when installing to a hard
         * disk, and so does Talos. */
        b[GRUB_DISK_BOOT_JUMP] = 0x90;
        b[GRUB_DISK_BOOT_JUMP + 1] = 0x90;
        /* diskboot.img ends with a blocklist {start LE64 @0x1f4, sectors LE16 @0x1fc, segment
         * LE16 @0x1fe}: grub-mkimage fills in the length and segment, the installer the start.
         * core.img is contiguous in the BIOS partition, so the rest starts one sector later. */
        le64_put(c + GRUB_DISK_CORE_BLOCKLIST, bios_first_lba + 1);
        rc = fs_pwrite_all(fd, c, core.len, bios_first_lba * sector_size, what, err);
        /* bytes 0..445 only: the protective MBR's partition entries (446..509) and the 55 AA
         * signature that gpt_write put there stay. */
        if (rc == 0)
            rc = fs_pwrite_all(fd, b, GRUB_DISK_MBR_CODE, 0, what, err);
    }
    buffer_free(&boot);
    buffer_free(&core);
    return rc == 0 ? 0 : error_prefix(err, "GRUB BIOS install: ");
}
