/* iso — bootable ISO 9660 images, written in-process with libisofs (talos-imager.md §6).
 *
 * Owns the three layouts Talos produces and which one a version/arch gets:
 *   ISO_GRUB   (< 1.10; >= 1.12 with bootloader grub): GRUB for BIOS (El Torito, i386-pc) and
 *              UEFI (El Torito FAT image with GRUB EFI for every EFI platform the imager ships),
 *              /boot/{vmlinuz,initramfs.xz}. Whatever the ISO's arch, every platform of the
 *              imager's usr/lib/grub (i386-pc, x86_64-efi, arm64-efi), as Talos' grub-mkrescue
 *              call without --directory does.
 *   ISO_HYBRID (>= 1.10, amd64, dual-boot): GRUB for BIOS (i386-pc only: hybrid.go --directory)
 *              + systemd-boot and the UKI in a FAT ESP.
 * GRUB layouts carry boot/grub/<platform>/ with grub-mkrescue's file choice (*.mod and the .lst
 * lists), empty boot/grub/{fonts,locale,roms}/ and the El Torito catalog /boot.catalog.
 *   ISO_UEFI   (>= 1.10 arm64, SecureBoot, sd-boot): systemd-boot and the UKI in a FAT ESP only.
 * Which one is the isoKind quirk's answer (profile.h), see iso_options_for.
 * GRUB core images come from `grub-mkimage` run on the imager's own GRUB module directories (the
 * tool Talos' grub-mkrescue runs); the ESP comes from fat.h. An ESP appended as a partition does
 * not boot from CD under OVMF (validators.md §2d), so the ESP is a file inside the ISO tree
 * (/efiboot.img; /efi.img for GRUB's) that is both the El Torito EFI image and, through a GPT
 * behind a protective MBR (grub-mkrescue's -efi-boot-part --efi-boot-image), the EFI system
 * partition when the ISO is written to a USB stick. BIOS boots GRUB from CD (El Torito) and
 * from disk (GRUB's boot_hybrid.img MBR). tests/boot/boot-iso.sh boots CD and disk under
 * SeaBIOS and OVMF. Volume ID TALOS_V1_x_y and volume set Talos-<version> from 1.8.
 * Reproducible: every timestamp, the volume UUID and the GPT GUIDs derive from `mtime`, Rock
 * Ridge 1.10 carries no inode numbers, and 300 KiB of padding follow the last file (GRUB's BIOS
 * CD reader reads past a file that ends at the end of the medium). */
#ifndef AIRFACTORY_ISO_H
#define AIRFACTORY_ISO_H

#include <stdbool.h>
#include <stdint.h>

#include "airfactory/error.h"
#include "talos/profile.h"

enum iso_layout { ISO_GRUB, ISO_HYBRID, ISO_UEFI };

struct grub_tool;

struct iso_options {
    enum iso_layout layout;
    const char *arch;          /* "amd64" or "arm64" */
    const char *talos_version; /* volume ID, UKI file name */
    /* GRUB (ISO_GRUB, and BIOS of ISO_HYBRID) */
    const char *kernel_path;           /* -> /boot/vmlinuz */
    const char *initramfs_path;        /* -> /boot/initramfs.xz */
    const char *cmdline;               /* GRUB menu entries */
    bool grub_reset_entry;             /* "Reset Talos installation" (>= 1.4) */
    const char *grub_dir;              /* the imager's usr/lib/grub: i386-pc/, x86_64-efi/, arm64-efi/ */
    const struct grub_tool *grub_tool; /* the grub-mkimage of grub_dir's GRUB build (grub_tool.h);
                                          NULL = "grub-mkimage" from PATH */
    /* systemd-boot (ISO_HYBRID, ISO_UEFI) */
    const char *uki_path;
    const char *sdboot_path;
    const char *secure_boot_enroll; /* loader.conf; NULL = "off" */
    /* More files for the ESP and the ISO tree (SecureBoot: EFI/keys/uki-signing-cert.der,
     * loader/keys/auto/{PK,KEK,db}.auth); each is {path inside, source file}. */
    const struct iso_extra_file {
        const char *path;
        const char *source;
    } * extra_files;
    size_t extra_file_count;
    /* A directory tree copied into the ISO tree at tree_path (Talos' image cache: "imagecache",
     * image_cache.h); NULL: none. */
    const char *tree_source;
    const char *tree_path;
    bool random_seed;          /* loader/random-seed, 32 zero bytes, read-only (isoRandomSeed) */
    bool volume_label;         /* isoLabel: volume ID TALOS_V1_x_y and volume set Talos-<version>;
                                       false: "ISOIMAGE" and no volume set (grub-mkrescue's) */
    const char *volume_id;     /* NULL = from volume_label */
    const char *volume_set_id; /* NULL = from volume_label */
    uint32_t mtime;            /* SOURCE_DATE_EPOCH */
    const char *work_dir;      /* scratch; NULL = the output's directory */
};

/* Layout, GRUB reset entry, random seed and labels from the version's quirks (isoKind,
 * grubResetEntry, isoRandomSeed, isoLabel). isoKind "bootloader" (Talos >= 1.12) follows
 * `bootloader` (the schematic's; NONE = the defaultBootloader quirk): grub = ISO_GRUB, sd-boot =
 * ISO_UEFI, dual-boot = ISO_HYBRID (ISO_UEFI on arm64, which has no BIOS). */
int iso_options_for(struct iso_options *o, const struct talos_quirks *q, enum schematic_bootloader bootloader,
                    const char *talos_version, const char *arch, struct error *err);

/* "v1.15.0" -> "TALOS_V1_15_0" (the isoLabel form). Caller frees. */
char *iso_volume_id(const char *talos_version);

/* GRUB's quoting of a kernel command line: \ { } & $ | ; < > " get a backslash. Caller frees. */
char *iso_grub_quote(const char *cmdline);
/* The /boot/grub/grub.cfg text. Caller frees. */
char *iso_grub_cfg(const char *cmdline, bool reset_entry);

int iso_build(const struct iso_options *o, const char *out_path, struct error *err);

#endif
