/* disk_image — Talos disk images (metal-amd64.raw.zst, aws-amd64.raw.xz, azure-amd64.vhd, ...)
 * built rootless into plain, sparse files (talos-imager.md §7; the imager's buildImage).
 *
 * Owns: the plan of an image from profile data and the schematic (bootloader, disk size per
 * §2.4, partitions and sizes per version §7.3, sector size, output format and compression from
 * the Image Factory file name), the raw image (GPT via gpt.h, the EFI system partition via
 * fat.h: systemd-boot, the UKI under EFI/Linux, loader/loader.conf; META via meta_partition.h),
 * and the output formats: raw, qcow2 (qcow2.h, cluster size from the profile's diskFormatOptions),
 * fixed VHD (footer appended, qemu-img's force_size semantics), OVA (disk_archive.h: OVF +
 * manifest + stream-optimised VMDK from vmdk.h), GCP's sparse `disk.raw` tar (.tar.gz),
 * each optionally compressed as one stream (compress.h: zstd -18, xz -0, gzip -6, as the imager
 * runs them). Every step streams: the raw image is sparse (ftruncate + writes of data only) and
 * holes are never read back, so peak memory does not grow with the disk size.
 *
 * All three layouts are built, each followed by STATE and EPHEMERAL (no file systems) for Talos
 * before 1.8: sd-boot (EFI 2101/1101 MiB: systemd-boot + UKI, META), dual-boot
 * (amd64: the same ESP, then BIOS boot with GRUB i386-pc core.img and boot.img in the MBR, BOOT
 * XFS with A/vmlinuz, A/initramfs.xz, grub/grub.cfg, META) and GRUB-only (EFI 100 MiB holding the
 * GRUB EFI image, BIOS, BOOT, META); GRUB pieces come from grub_disk.h, XFS from xfs_image.h. */
#ifndef AIRFACTORY_DISK_IMAGE_H
#define AIRFACTORY_DISK_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/asset_path.h"
#include "format/compress.h"
#include "airfactory/error.h"

struct grub_tool;
#include "imager/meta_partition.h"
#include "imager/overlay.h"
#include "talos/profile.h"
#include "airfactory/schematic.h"

enum disk_image_bootloader { DISK_IMAGE_SD_BOOT, DISK_IMAGE_GRUB, DISK_IMAGE_DUAL_BOOT };
enum disk_image_format { DISK_IMAGE_RAW, DISK_IMAGE_QCOW2, DISK_IMAGE_VHD, DISK_IMAGE_OVA };

#define DISK_IMAGE_MAX_PARTITIONS 8

struct disk_image_partition {
    char name[16];          /* GPT name = label: "EFI", "BIOS", "BOOT", "META", "STATE", "EPHEMERAL", "IMAGECACHE" */
    uint64_t size;          /* bytes; 0 = the rest of the disk (the last partition only) */
    const char *type;       /* GPT type GUID (internal/pkg/partition/constants.go) */
    const char *filesystem; /* Talos' FileSystemType for it: "vfat", "xfs", "ext4", "zeroes" (no file
                               system, written with data: core.img, META) or "none" (left as it is) */
};

struct disk_image_plan {
    enum disk_image_bootloader bootloader;
    uint64_t disk_size;   /* bytes */
    uint32_t sector_size; /* 512 or 4096 */
    struct disk_image_partition partitions[DISK_IMAGE_MAX_PARTITIONS];
    size_t partition_count;
    enum disk_image_format format;
    char format_options[64]; /* the profile's diskFormatOptions, e.g. "cluster_size=8k" */
    enum compress_kind compression;
    int level;
    bool tar;              /* gcp: .tar.gz with member disk.raw */
    bool grub_reset_entry; /* grub.cfg's reset entry (the grubResetEntry quirk) */
    bool meta_bootloader;  /* META 0x11=dual-boot: a dual-boot image of a Talos with sdBootForUEFI */
};

/* Where the plan's partitions land on its disk (the GPT disk_image_write_raw writes, without an
 * overlay's offset): first LBA and size in bytes of each, a size-0 partition resolved to the rest
 * of the disk. ERROR_INPUT when they do not fit. */
int disk_image_plan_extents(const struct disk_image_plan *plan, uint64_t first_lba[DISK_IMAGE_MAX_PARTITIONS],
                            uint64_t size[DISK_IMAGE_MAX_PARTITIONS], struct error *err);

/* "raw", "qcow2", "vhd", "ova" */
const char *disk_image_format_name(enum disk_image_format f);
const char *disk_image_bootloader_name(enum disk_image_bootloader b);

/* The plan for the Image Factory disk image `asset` (e.g. metal-amd64.raw.zst) of a schematic:
 * bootloader (schematic, else the defaultBootloader quirk; SecureBoot forces sd-boot), disk size
 * (the platform profile's diskSize, + bootPartitionSize − 1000 MiB, + BIOS + BOOT for dual-boot),
 * partitions (ukiEFIPartitionSize / grubEFIPartitionSize, biosPartitionSize, bootPartitionSize,
 * metaPartitionSize; before Talos 1.8, skipDataPartitions false: STATE statePartitionSize and
 * EPHEMERAL the rest, no file system on either), sector size (schematic diskImage.sectorSize,
 * default 512), format and compression from the name. ERROR_INPUT for names that are not disk
 * images, versions Image Factory does not build (the supported quirk) or bad values. */
int disk_image_plan_for(const struct profile_set *profiles, const struct asset_path *asset, const char *version,
                        const struct schematic *schematic, struct disk_image_plan *out, struct error *err);

/* Give the plan Talos' IMAGECACHE partition (the last, ext4, all the space after META; out.go
 * buildImage with an image cache) for a cache tree of tree_bytes (image_cache.h): from Talos 1.13
 * the disk grows by image_cache_partition_size(tree_bytes) (quirk imageCacheGrowsDisk); before, the
 * partition takes what the platform's disk size leaves, and ERROR_INPUT says so when the tree does
 * not fit there. */
int disk_image_plan_add_image_cache(const struct profile_set *profiles, struct disk_image_plan *plan,
                                    const char *version, const char *arch, uint64_t tree_bytes, struct error *err);

struct disk_image_inputs {
    const char *talos_version; /* "v1.11.3": EFI/Linux/Talos-<version>.efi */
    const char *arch;          /* "amd64" (BOOTX64.efi) or "arm64" (BOOTAA64.efi) */
    const char *sdboot_path;   /* systemd-boot EFI binary (imager usr/install/<arch>/systemd-boot.efi) */
    const char *uki_path;      /* the UKI built with the disk-image command line and profiles
                                  (sd-boot and dual-boot layouts) */
    /* GRUB and dual-boot layouts (BOOT partition, GRUB images): */
    const char *kernel_path;           /* BOOT A/vmlinuz (imager usr/install/<arch>/vmlinuz) */
    const char *initramfs_path;        /* BOOT A/initramfs.xz (the schematic's initramfs) */
    const char *cmdline;               /* grub.cfg's command line: the disk-image one, as in the UKI */
    const char *grub_dir;              /* the imager's usr/lib/grub (i386-pc, x86_64-efi, arm64-efi) */
    const struct grub_tool *grub_tool; /* grub-mkimage of the same GRUB build (NULL: PATH's) */
    /* SecureBoot images (sdboot.go copyAssets): loader.conf's `secure-boot-enroll MODE` (NULL =
     * no such line) and more files for the ESP (loader/keys/auto/{PK,KEK,db}.auth) */
    const char *secure_boot_enroll;
    const struct disk_image_esp_file {
        const char *path;   /* inside the ESP */
        const char *source; /* a file */
    } * esp_files;
    size_t esp_file_count;
    const struct meta_value *meta; /* values for the META partition (schematic meta, then 0x11) */
    size_t meta_count;
    const char *image_cache_dir; /* the IMAGECACHE partition's tree (image_cache.h), when the plan has one */
    uint32_t mtime;              /* FAT, XFS and ext4 timestamps (SOURCE_DATE_EPOCH) */
    int threads;                 /* compression workers; 0 = online CPUs (bytes do not depend on it) */
    const char *work_dir;        /* temporary files (ESP image, uncompressed image) */
    /* An overlay schematic (overlay.h): partition_offset (get-options partitionOptions.offset)
     * moves the GPT entries and partitions up in every layout (gpt skip_lbas); the installer's
     * `install` runs in the GRUB and dual-boot layouts, where Talos' image mode runs it (the GRUB
     * boot loader's ExtraInstallStep, talos v1.14 bootloader/grub PrepareBootPartitions; the
     * sd-boot image mode never calls it): after ftruncate, before the GPT and the partitions are
     * written, with installDisk = the raw image file, mountPrefix = a staging directory in
     * work_dir whose boot/ files join the BOOT partition and EFI/ files the ESP. */
    const struct overlay_installer *overlay; /* NULL: no overlay */
    const char *overlay_artifacts;           /* <overlay image, build-host arch>/artifacts */
    const char *overlay_options;             /* the schematic's overlay.options as YAML (NULL: none) */
    uint64_t partition_offset;               /* sectors */
};

/* The META values Talos writes into a disk image: the schematic's, then 0x11=dual-boot for
 * dual-boot images of Talos 1.10 and later (plan->meta_bootloader). values[i].value points into
 * the schematic. */
void disk_image_meta_values(const struct disk_image_plan *plan, const struct schematic *schematic,
                            struct meta_value values[256], size_t *count);

/* Write the raw image into fd (an empty file; it is extended to plan->disk_size, sparse). With an
 * overlay install step, fd must be a named file (the installer opens it by its path). */
int disk_image_write_raw(const struct disk_image_plan *plan, const struct disk_image_inputs *in, int fd,
                         const char *what, struct error *err);

/* Build the asset at out_path (atomically): raw image, format conversion, compression. */
int disk_image_build(const struct disk_image_plan *plan, const struct disk_image_inputs *in, const char *out_path,
                     struct error *err);

/* Append a fixed-VHD footer to fd holding `size` bytes of raw image (qemu-img convert -O vpc
 * -o subformat=fixed,force_size: current size = size, creator "qem2"). Deterministic: the
 * timestamp is mtime, the unique ID derived from the disk GUID label. */
int disk_image_vhd_footer(int fd, const char *what, uint64_t size, uint32_t mtime, struct error *err);

#endif
