/* Unit tests for src/imager/iso.c, read back with xorriso (El Torito report, file tree,
 * extraction) and mtools (the ESP inside). Booting is tests/boot/boot-iso.sh's job. */
#include "imager/iso.h"
#include "imager/uki.h"
#include "build_test_util.h"
#include "test.h"

#define GRUB_DIR "/usr/lib/grub"

struct iso_inputs {
    char *dir, *kernel, *initrd, *uki, *out;
};

static void inputs(struct iso_inputs *in)
{
    in->dir = bt_scratch();
    in->kernel = path_join(in->dir, "vmlinuz");
    in->initrd = path_join(in->dir, "initramfs.xz");
    in->uki = path_join(in->dir, "uki.efi");
    in->out = path_join(in->dir, "out.iso");
    bt_fake_bzimage(in->kernel, "6.12.40-talos", 200000);
    bt_write_random(in->initrd, 100000, 5, 0);
    struct uki_options u = {BT_STUB, in->kernel, in->initrd, "console=ttyS0", "v1.11.3", NULL, NULL, NULL, 0, 1, NULL};
    struct error err = {0};
    CHECK_INT(uki_build(&u, in->uki, &err), 0);
}

static void inputs_free(struct iso_inputs *in)
{
    bt_remove(in->dir);
    free(in->dir);
    free(in->kernel);
    free(in->initrd);
    free(in->uki);
    free(in->out);
}

static int build(struct iso_inputs *in, const char *version, const char *arch, const char *out)
{
    struct iso_options o;
    memset(&o, 0, sizeof o);
    struct error err = {0};
    if (iso_options_for(&o, bt_quirks(version, arch, false), SCHEMATIC_BOOTLOADER_NONE, version, arch, &err) != 0)
        return -1;
    o.kernel_path = in->kernel;
    o.initramfs_path = in->initrd;
    o.cmdline = "talos.platform=metal console=ttyS0 talos.halt_if_installed=1 x={$|;}";
    o.grub_dir = GRUB_DIR;
    o.uki_path = in->uki;
    o.sdboot_path = BT_SDBOOT;
    o.mtime = 1735689600;
    int rc = iso_build(&o, out, &err);
    if (rc)
        printf("  %s\n", err.message);
    return rc;
}

static char *report(const char *iso)
{
    struct buffer out = BUFFER_INIT;
    bt_run(&out, "xorriso -indev '%s' -report_el_torito plain -report_system_area plain -find / -type f 2>&1", iso);
    return buffer_take(&out);
}

static void hybrid_layout_from_1_10(void)
{
    struct iso_inputs in;
    inputs(&in);
    CHECK_INT(build(&in, "v1.11.3", "amd64", in.out), 0);
    char *r = report(in.out);
    CHECK(strstr(r, "Volume id    : 'TALOS_V1_11_3'") != NULL);
    CHECK(strstr(r, "El Torito boot img :   1  BIOS") && strstr(r, "El Torito boot img :   2  UEFI"));
    CHECK(strstr(r, "/boot/grub/i386-pc/eltorito.img") && strstr(r, "boot-info-table grub2-boot-info"));
    CHECK(strstr(r, "El Torito img path :   2  /efiboot.img"));
    CHECK(strstr(r, "'/boot/vmlinuz'") && strstr(r, "'/boot/initramfs.xz'") && strstr(r, "'/boot/grub/grub.cfg'"));
    CHECK(strstr(r, "'/boot/grub/i386-pc/normal.mod'") && strstr(r, "'/boot/grub/i386-pc/linux.mod'"));
    CHECK(strstr(r, "'/EFI/BOOT/BOOTX64.EFI'") && strstr(r, "'/EFI/Linux/Talos-v1.11.3.efi'"));
    CHECK(strstr(r, "'/loader/loader.conf'") && strstr(r, "'/loader/random-seed'"));
    CHECK(!strstr(r, "x86_64-efi")); /* UEFI boots systemd-boot, not GRUB */
    /* as a USB stick: GRUB's hybrid MBR for BIOS, a GPT whose EFI partition is /efiboot.img */
    CHECK(strstr(r, "System area summary: MBR protective-msdos-label grub2-mbr cyl-align-off GPT") != NULL);
    CHECK(strstr(r, "GPT partition path :   2  /efiboot.img") != NULL);
    free(r);
    /* grub.cfg is Talos' template with GRUB quoting */
    char *cfg = path_join(in.dir, "grub.cfg"), *esp = path_join(in.dir, "efiboot.img");
    CHECK_INT(bt_run(NULL, "xorriso -osirrox on -indev '%s' -extract /boot/grub/grub.cfg '%s' -extract /efiboot.img '%s'",
                     in.out, cfg, esp),
              0);
    struct buffer got = BUFFER_INIT;
    struct error err = {0};
    CHECK_INT(fs_read_file(cfg, 1 << 16, &got, &err), 0);
    char *expect = iso_grub_cfg("talos.platform=metal console=ttyS0 talos.halt_if_installed=1 x={$|;}", true);
    CHECK_STR(buffer_cstr(&got), expect);
    CHECK(strstr(buffer_cstr(&got), "x=\\{\\$\\|\\;\\}") != NULL);
    CHECK(strstr(buffer_cstr(&got), "menuentry \"Reset Talos installation\"") != NULL);
    free(expect);
    buffer_free(&got);
    /* the ESP holds systemd-boot, the UKI and loader.conf */
    struct buffer out = BUFFER_INIT;
    CHECK_INT(bt_run(NULL, "chmod u+w '%s'", esp), 0);
    CHECK_INT(bt_run(&out, "fsck.fat -n '%s' && MTOOLS_SKIP_CHECK=1 mdir -/ -i '%s' ::", esp, esp), 0);
    CHECK(strstr(buffer_cstr(&out), "Talos-v1.11.3.efi") && strstr(buffer_cstr(&out), "BOOTX64  EFI") &&
          strstr(buffer_cstr(&out), "loader.conf"));
    buffer_reset(&out);
    CHECK_INT(bt_run(&out, "MTOOLS_SKIP_CHECK=1 mtype -i '%s' ::/loader/loader.conf", esp), 0);
    CHECK_STR(buffer_cstr(&out), "# systemd-boot configuration\n\ntimeout 10\n\nsecure-boot-enroll off\n");
    buffer_free(&out);
    /* reproducible */
    char *again = path_join(in.dir, "again.iso");
    CHECK_INT(build(&in, "v1.11.3", "amd64", again), 0);
    CHECK(bt_files_equal(in.out, again));
    free(again);
    free(cfg);
    free(esp);
    inputs_free(&in);
}

static void grub_layout_before_1_10(void)
{
    struct iso_inputs in;
    inputs(&in);
    CHECK_INT(build(&in, "v1.9.5", "amd64", in.out), 0);
    char *r = report(in.out);
    CHECK(strstr(r, "Volume id    : 'TALOS_V1_9_5'") != NULL);
    CHECK(strstr(r, "El Torito boot img :   1  BIOS") && strstr(r, "El Torito img path :   2  /efi.img"));
    CHECK(strstr(r, "'/boot/grub/x86_64-efi/normal.mod'") != NULL);
    CHECK(!strstr(r, "/EFI/Linux") && !strstr(r, "efiboot.img"));
    CHECK(strstr(r, "GPT partition path :   2  /efi.img") != NULL);
    free(r);
    char *efi = path_join(in.dir, "efi.img");
    CHECK_INT(bt_run(NULL, "xorriso -osirrox on -indev '%s' -extract /efi.img '%s' && chmod u+w '%s'", in.out, efi, efi),
              0);
    struct buffer out = BUFFER_INIT;
    CHECK_INT(bt_run(&out, "MTOOLS_SKIP_CHECK=1 mdir -/ -i '%s' ::/EFI/BOOT", efi), 0);
    CHECK(strstr(buffer_cstr(&out), "BOOTX64  EFI") != NULL);
    if (fs_is_dir(GRUB_DIR "/arm64-efi"))
        CHECK(strstr(buffer_cstr(&out), "BOOTAA64 EFI") != NULL);
    buffer_reset(&out);
    char *grubx64 = path_join(in.dir, "grubx64.efi");
    CHECK_INT(bt_run(&out, "MTOOLS_SKIP_CHECK=1 mcopy -n -i '%s' ::/EFI/BOOT/BOOTX64.EFI '%s' && objdump -f '%s'", efi,
                     grubx64, grubx64),
              0);
    free(grubx64);
    CHECK(strstr(buffer_cstr(&out), "pei-x86-64") != NULL);
    /* the embedded config finds the ISO by the UUID GRUB derives from the volume date */
    buffer_reset(&out);
    CHECK_INT(bt_run(&out, "MTOOLS_SKIP_CHECK=1 mcopy -n -i '%s' ::/EFI/BOOT/BOOTX64.EFI - | strings", efi), 0);
    CHECK(strstr(buffer_cstr(&out), "search --fs-uuid --set=root 2025-01-01-00-00-00-00") != NULL);
    buffer_free(&out);
    free(efi);
    /* 1.7: no TALOS_ volume label yet */
    CHECK_INT(build(&in, "v1.7.6", "amd64", in.out), 0);
    r = report(in.out);
    CHECK(strstr(r, "Volume id    : 'ISOIMAGE'") != NULL);
    free(r);
    inputs_free(&in);
}

/* /boot/grub as Talos' grub-mkrescue calls leave it (siderolabs/talos v1.14.0-rc.1
 * pkg/imager/iso/grub.go:73-83: no --directory, so every platform under usr/lib/grub, whatever the
 * arch; hybrid.go:31: --directory=/usr/lib/grub/i386-pc only), with grub-mkrescue's file choice
 * (util/grub-install-common.c grub_install_copy_files: *.mod + the .lst lists; fonts/ locale/,
 * util/grub-mkrescue.c main: roms/) and its El Torito catalog /boot.catalog. */
static void grub_dirs_as_grub_mkrescue(void)
{
    if (!fs_is_dir(GRUB_DIR "/i386-pc") || !fs_is_dir(GRUB_DIR "/x86_64-efi") || !fs_is_dir(GRUB_DIR "/arm64-efi")) {
        printf("  skipped: %s lacks i386-pc, x86_64-efi or arm64-efi\n", GRUB_DIR);
        return;
    }
    struct iso_inputs in;
    inputs(&in);
    static const char *const arches[] = {"amd64", "arm64"};
    for (size_t i = 0; i < 2; i++) {
        CHECK_INT(build(&in, "v1.9.5", arches[i], in.out), 0); /* GRUB-only */
        struct buffer out = BUFFER_INIT;
        CHECK_INT(bt_run(&out, "xorriso -indev '%s' -find /boot/grub -maxdepth 1 2>/dev/null | tr '\\n' ' '", in.out), 0);
        CHECK_STR(buffer_cstr(&out), "'/boot/grub' '/boot/grub/arm64-efi' '/boot/grub/fonts' '/boot/grub/grub.cfg' "
                                     "'/boot/grub/i386-pc' '/boot/grub/locale' '/boot/grub/roms' "
                                     "'/boot/grub/x86_64-efi' ");
        buffer_reset(&out);
        CHECK_INT(bt_run(&out, "xorriso -indev '%s' -find / -maxdepth 1 2>/dev/null | tr '\\n' ' '", in.out), 0);
        CHECK_STR(buffer_cstr(&out), "'/' '/boot' '/boot.catalog' '/efi.img' ");
        buffer_reset(&out);
        /* BIOS El Torito on arm64 too: grub-mkrescue builds it whenever i386-pc is there */
        CHECK_INT(bt_run(&out, "xorriso -indev '%s' -report_el_torito plain 2>/dev/null", in.out), 0);
        CHECK(strstr(buffer_cstr(&out), "El Torito boot img :   1  BIOS") != NULL);
        buffer_reset(&out);
        CHECK_INT(bt_run(&out,
                         "xorriso -indev '%s' -find /boot/grub/i386-pc -type f 2>/dev/null | grep -v \"\\.mod'$\" "
                         "| sed 's|.*/||' | tr '\\n' ' '",
                         in.out),
                  0);
        CHECK_STR(buffer_cstr(&out), "command.lst' crypto.lst' efiemu32.o' efiemu64.o' eltorito.img' fs.lst' "
                                     "moddep.lst' modinfo.sh' partmap.lst' parttool.lst' terminal.lst' video.lst' ");
        buffer_free(&out);
    }
    CHECK_INT(build(&in, "v1.11.3", "amd64", in.out), 0); /* hybrid */
    struct buffer out = BUFFER_INIT;
    CHECK_INT(bt_run(&out, "xorriso -indev '%s' -find /boot/grub -maxdepth 1 2>/dev/null | tr '\\n' ' '", in.out), 0);
    CHECK_STR(buffer_cstr(&out), "'/boot/grub' '/boot/grub/fonts' '/boot/grub/grub.cfg' '/boot/grub/i386-pc' "
                                 "'/boot/grub/locale' '/boot/grub/roms' ");
    buffer_free(&out);
    inputs_free(&in);
}

static void uefi_layout_for_arm64(void)
{
    struct iso_inputs in;
    inputs(&in);
    CHECK_INT(build(&in, "v1.14.0", "arm64", in.out), 0);
    char *r = report(in.out);
    CHECK(strstr(r, "El Torito boot img :   1  UEFI") && !strstr(r, "BIOS"));
    CHECK(strstr(r, "'/EFI/BOOT/BOOTAA64.EFI'") && strstr(r, "'/EFI/Linux/Talos-v1.14.0.efi'"));
    CHECK(strstr(r, "'/loader/random-seed'") != NULL); /* 1.14 */
    CHECK(strstr(r, "GPT partition path :   2  /efiboot.img") && !strstr(r, "grub2-mbr"));
    CHECK(!strstr(r, "/boot/"));
    free(r);
    inputs_free(&in);
}

static void labels_and_quoting(void)
{
    char *v = iso_volume_id("v1.15.0");
    CHECK_STR(v, "TALOS_V1_15_0");
    free(v);
    v = iso_volume_id("v1.10.0-beta.1");
    CHECK_STR(v, "TALOS_V1_10_0_BETA_1");
    free(v);
    v = iso_grub_quote("a\\b {c} & $d | e; <f> \"g\"");
    CHECK_STR(v, "a\\\\b \\{c\\} \\& \\$d \\| e\\; \\<f\\> \\\"g\\\"");
    free(v);
    struct iso_options o;
    memset(&o, 0, sizeof o);
    struct error err = {0};
#define OPTS(v, a, b) iso_options_for(&o, bt_quirks(v, a, false), SCHEMATIC_BOOTLOADER_##b, v, a, &err)
    CHECK_INT(OPTS("v1.9.5", "arm64", NONE), 0);
    CHECK_INT(o.layout, ISO_GRUB);
    CHECK(o.grub_reset_entry && o.random_seed && o.volume_label); /* the seed: every version (IF's v1.14 library) */
    CHECK_INT(OPTS("v1.7.6", "amd64", NONE), 0);
    CHECK(!o.volume_label);
    CHECK_INT(OPTS("v1.10.0", "amd64", NONE), 0);
    CHECK_INT(o.layout, ISO_HYBRID);
    CHECK_INT(OPTS("v1.10.0", "arm64", NONE), 0);
    CHECK_INT(o.layout, ISO_UEFI);
    /* before 1.12 the schematic's bootloader does not pick the ISO (ISOSupportsSettingBootloader) */
    CHECK_INT(OPTS("v1.11.3", "amd64", GRUB), 0);
    CHECK_INT(o.layout, ISO_HYBRID);
    /* from 1.12 it does: grub, sd-boot = UEFI only, dual-boot = hybrid; none = the default bootloader */
    CHECK_INT(OPTS("v1.12.0", "amd64", GRUB), 0);
    CHECK_INT(o.layout, ISO_GRUB);
    CHECK_INT(OPTS("v1.12.0", "amd64", SD_BOOT), 0);
    CHECK_INT(o.layout, ISO_UEFI);
    CHECK_INT(OPTS("v1.12.0", "amd64", DUAL_BOOT), 0);
    CHECK_INT(o.layout, ISO_HYBRID);
    CHECK_INT(OPTS("v1.12.0", "amd64", NONE), 0);
    CHECK_INT(o.layout, ISO_HYBRID);
    CHECK_INT(OPTS("v1.12.0", "arm64", NONE), 0);
    CHECK_INT(o.layout, ISO_UEFI);
    CHECK_INT(OPTS("v1.12.0", "arm64", DUAL_BOOT), 0);
    CHECK_INT(o.layout, ISO_UEFI);
    CHECK_INT(OPTS("v1.12.0", "arm64", GRUB), 0);
    CHECK_INT(o.layout, ISO_GRUB);
    /* SecureBoot ISOs are UEFI whatever the schematic says */
    CHECK_INT(
        iso_options_for(&o, bt_quirks("v1.12.0", "amd64", true), SCHEMATIC_BOOTLOADER_GRUB, "v1.12.0", "amd64", &err), 0);
    CHECK_INT(o.layout, ISO_UEFI);
    CHECK_INT(iso_options_for(&o, bt_quirks("v1.10.0", "amd64", false), SCHEMATIC_BOOTLOADER_NONE, "v1.10.0", "riscv64",
                              &err),
              -1);
    CHECK_INT(iso_options_for(&o, bt_quirks("v1.10.0", "amd64", false), SCHEMATIC_BOOTLOADER_NONE, "one", "amd64", &err),
              -1);
#undef OPTS
}

static void missing_inputs_fail_without_output(void)
{
    struct iso_inputs in;
    inputs(&in);
    int before = bt_dir_entries(in.dir);
    struct iso_options o;
    memset(&o, 0, sizeof o);
    struct error err = {0};
    CHECK_INT(
        iso_options_for(&o, bt_quirks("v1.11.3", "amd64", false), SCHEMATIC_BOOTLOADER_NONE, "v1.11.3", "amd64", &err),
        0);
    o.kernel_path = in.kernel;
    o.initramfs_path = in.initrd;
    o.cmdline = "x";
    o.grub_dir = GRUB_DIR;
    o.sdboot_path = BT_SDBOOT;
    CHECK_INT(iso_build(&o, in.out, &err), -1); /* no UKI */
    CHECK_INT(err.code, ERROR_INPUT);
    o.uki_path = "/nonexistent/uki.efi";
    CHECK_INT(iso_build(&o, in.out, &err), -1);
    CHECK(strstr(err.message, "/nonexistent/uki.efi") != NULL);
    o.uki_path = in.uki;
    o.grub_dir = in.dir; /* no i386-pc in it */
    CHECK_INT(iso_build(&o, in.out, &err), -1);
    CHECK(strstr(err.message, "i386-pc") != NULL);
    CHECK(!fs_exists(in.out));
    CHECK_INT(bt_dir_entries(in.dir), before);
    inputs_free(&in);
}

int main(void)
{
    RUN(hybrid_layout_from_1_10);
    RUN(grub_layout_before_1_10);
    RUN(grub_dirs_as_grub_mkrescue);
    RUN(uefi_layout_for_arm64);
    RUN(labels_and_quoting);
    RUN(missing_inputs_fail_without_output);
    return TEST_MAIN_END();
}
