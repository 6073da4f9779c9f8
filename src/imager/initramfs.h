/* initramfs — the imager's base initramfs plus system extensions, laid out as Talos does it.
 *
 * Owns the whole pipeline of talos-imager.md §4.2:
 *   [uncompressed newc: kernel/x86/microcode/{AuthenticAMD,GenuineIntel}.bin]  only with microcode
 *   [base initramfs bytes, unchanged]
 *   [compressed newc: <i>.sqsh per extension, extensions.yaml, <firmware path>/...]
 * Extensions are plain directories (manifest.yaml + rootfs/); the Image Factory's virtual
 * `schematic` extension is added after them when a schematic ID is given, then the imager's
 * `embedded-config` one when a machine configuration is embedded; directories are listed as Talos
 * lists them (names sorted as strings: 0, 1, 10, 2, ...), and when extensions
 * ship kernel modules a `modules.dep` extension (depmod over the base rootfs' modules plus
 * theirs; unsquashfs and depmod run as external tools, as in the imager) comes last. Firmware is
 * moved out of the squashfs images into the appended archive; microcode goes to the early cpio.
 * Every path read out of an extension (manifest, firmware, microcode, modules) is resolved inside
 * it (core/fs_root.h): a symlink to /etc/shadow means the extension's /etc/shadow (an error when it
 * has none), never the build host's. Links are followed for firmware and microcode, as Talos'
 * moveFiles does, up to INITRAMFS_FIRMWARE_MAX bytes of firmware in all; the module trees depmod
 * reads are copied with their links resolved.
 * Inputs are never modified. Output is reproducible: same inputs and options, same bytes,
 * whatever the thread count. */
#ifndef AIRFACTORY_INITRAMFS_H
#define AIRFACTORY_INITRAMFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/compress.h"
#include "airfactory/error.h"
#include "talos/profile.h"

/* Firmware (and module) bytes one initramfs may take once links are followed: a few links to one
 * big file must not multiply it without bound. Real firmware extensions hold well under 1 GiB. */
#define INITRAMFS_FIRMWARE_MAX (4ull << 30)

struct initramfs_options {
    const char *base_path;               /* the imager's usr/install/<arch>/initramfs.xz */
    const char *base_label;              /* the imager, for errors; NULL = base_path */
    const char *const *extension_dirs;   /* profile order; each holds manifest.yaml and rootfs/ */
    const char *const *extension_labels; /* NULL, or the image of each extension, for errors */
    size_t extension_count;
    const char *talos_version; /* checked against each manifest's constraint; NULL = no check */

    /* the Image Factory's virtual extension; schematic_id NULL = none */
    const char *schematic_id;
    const char *schematic_author; /* NULL = "Image Factory" */
    const char *schematic_yaml;   /* extraInfo; NULL = none (the caller: supportsOverlay, Talos >= 1.7) */
    /* the imager's embedded-config extension (Talos >= 1.12; the caller checks): the schematic's
     * embeddedMachineConfiguration, added after the schematic extension; NULL = none */
    const char *embedded_config;
    size_t embedded_config_len;

    /* version quirks (initramfs_options_for fills them) */
    enum compress_kind archive_compression; /* appended cpio: zstd (>= 1.8) or xz (< 1.8) */
    int archive_level;                      /* zstd 18; xz 0 (with xz_extreme, like `xz -0 -e`) */
    bool archive_xz_extreme;
    enum compress_kind squashfs_compression; /* zstd level 18 (>= 1.8) or xz dict 100% */
    int squashfs_level;
    const char *firmware_path; /* "usr/lib/firmware" (>= 1.10) or "lib/firmware" */
    const char *modules_path;  /* "usr/lib/modules" (>= 1.10) or "lib/modules" */

    uint32_t mtime;       /* every archive entry and squashfs inode (SOURCE_DATE_EPOCH) */
    unsigned threads;     /* 0 = online CPUs */
    const char *work_dir; /* scratch space; NULL = the output's directory */
    bool skip_base_check; /* by default the base is decoded once to reject corrupt input early */
};

/* Set the version-dependent fields from the version's quirks (compression, kernelModulesPath,
 * firmwarePath; talos-imager.md §1.3, §4.2) and talos_version (the constraint check). */
void initramfs_options_for(struct initramfs_options *o, const struct talos_quirks *q, const char *talos_version);

/* Build out_path. With no extensions and no schematic the base is copied as it is (Talos skips
 * the rebuild then). On failure no output file is left. */
int initramfs_build(const struct initramfs_options *o, const char *out_path, struct error *err);

#endif
