/* grub_disk — GRUB as Talos installs it into disk images (talos-imager.md §7.4; Talos'
 * bootloader/grub package in image mode, rootless since 1.13).
 *
 * Owns: the BOOT partition's grub/grub.cfg text (menu entry "A - Talos <version>" and, for
 * Talos >= 1.4, the reset entry), the GRUB images made with grub-mkimage from the imager's
 * /usr/lib/grub/<platform> modules (i386-pc core.img; x86_64-efi / arm64-efi BOOTX64.efi /
 * BOOTAA64.efi for GRUB-only ESPs) with the modules Talos bakes in and the prefix
 * (hd0,gpt3)/grub (BOOT is the third partition in both GRUB layouts), and the BIOS install
 * without grub-bios-setup: boot.img patched into the protective MBR's boot-code area and
 * core.img, its blocklist patched, at the start of the BIOS boot partition. */
#ifndef AIRFACTORY_GRUB_DISK_H
#define AIRFACTORY_GRUB_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/error.h"

/* GRUB's prefix in Talos disk images: BOOT is gpt3 (EFI, BIOS, BOOT, META). */
#define GRUB_DISK_PREFIX "(hd0,gpt3)/grub"

/* Offsets GRUB's setup (util/setup.c) and Talos' PatchBlocklistsForDiskImage patch. */
#define GRUB_DISK_BOOT_KERNEL_SECTOR 0x5c /* boot.img: LE64 LBA of core.img's first sector */
#define GRUB_DISK_BOOT_JUMP 0x66          /* boot.img: 2-byte jump NOPed for hard disks */
#define GRUB_DISK_CORE_BLOCKLIST 0x1f4    /* core.img (diskboot.img): LE64 start of the rest */
#define GRUB_DISK_MBR_CODE 446            /* bytes of boot.img written at disk offset 0 */

/* grub.cfg for the BOOT partition (caller frees). The cmdline is quoted as Talos' quote.go does;
 * reset_entry adds "Reset Talos installation ..." (the grubResetEntry quirk). */
char *grub_disk_cfg(const char *talos_version, const char *cmdline, bool reset_entry);

/* grub_dir/<platform> is a real directory holding no symlink: GRUB module trees are read by name
 * (grub-mkimage, libisofs, boot.img), so a link in one would be followed on the build host. The
 * factory hands over trees whose links were resolved inside the imager (layer_flatten
 * resolve_links); this check refuses any other. */
int grub_dir_check(const char *grub_dir, const char *platform, struct error *err);

/* grub-mkimage for platform "i386-pc" (core.img: + biosdisk part_msdos), "x86_64-efi" or
 * "arm64-efi" (EFI application, --compression xz) from grub_dir/<platform>; tool is the
 * grub-mkimage of the same GRUB build (grub_tool.h; NULL = "grub-mkimage" from PATH); its output
 * goes to out_path.log. The image is a function of the module files and the tool's version. */
struct grub_tool;
int grub_disk_mkimage(const char *grub_dir, const char *platform, const char *out_path, const struct grub_tool *tool,
                      struct error *err);

/* The BIOS install into the raw image fd (its GPT already written): reads boot.img (512 bytes)
 * and core.img, patches both for a core.img starting at LBA bios_first_lba, writes core.img at
 * that LBA (it must fit in bios_bytes) and boot.img's first 446 bytes at offset 0, keeping the
 * protective MBR's partition table and signature. */
int grub_disk_install_bios(int fd, const char *what, const char *boot_img_path, const char *core_img_path,
                           uint64_t bios_first_lba, uint64_t bios_bytes, uint32_t sector_size, struct error *err);

#endif
