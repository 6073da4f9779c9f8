/* profile — Talos platforms, the imager's built-in profiles and per-version behaviour, as data.
 *
 * Owns: loading profiles/{platforms,profiles,versions}.yaml (compiled into the library, so an
 * installed binary needs no source tree) and the lookups
 * every builder makes: "which kernel arguments does platform P add on arch A for version V",
 * "which default arguments does version V add", "what is quirk Q for version V" (compression,
 * partition sizes, ISO kind, UKI profiles, installer image, ...). No version `if` chains live in
 * C: a new Talos release is a data change. The data files document their own format. */
#ifndef AIRFACTORY_PROFILE_H
#define AIRFACTORY_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/error.h"
#include "airfactory/schematic.h"
#include "talos/version.h"

/* ---- data ---- */

struct profile_platform {
    const char *name; /* the talos.platform value, e.g. "metal", "digital-ocean" */
    const char *label;
    const char *const *aliases; /* other spellings Talos accepts ("packet") */
    size_t alias_count;
    const char *const *arches; /* arches Image Factory offers it for */
    size_t arch_count;
    const char *const *boot_methods; /* "iso", "disk-image", "pxe" */
    size_t boot_method_count;
    const char *disk_image_suffix; /* Image Factory's default, e.g. "raw.zst"; "" when none */
    bool secureboot;
    const char *since; /* first Talos version with it, "" when always */
};

/* One built-in imager profile (talos pkg/imager/profile/default.go). */
struct profile {
    const char *name; /* "metal", "secureboot-iso", ... */
    const char *platform;
    bool secureboot;
    const char *kind;                /* "iso", "image", "installer", "uki" */
    const char *out_format;          /* "raw", ".zst", ".xz", ".gz", ".tar.gz" */
    uint64_t disk_size_mib;          /* 0 unless kind is image */
    const char *disk_format;         /* "raw", "qcow2", "vhd", "ova" or "" */
    const char *disk_format_options; /* e.g. "cluster_size=8k" or "" */
    uint32_t disk_sector_size;       /* 0 = default */
    const char *sdboot_enroll_keys;  /* "" or e.g. "if-safe" */
};

struct profile_set;

/* A list of strings owned by the caller (free with profile_args_free). */
struct profile_args {
    char **items;
    size_t count;
};
void profile_args_free(struct profile_args *args);

/* The built-in data. Errors only if the embedded data is broken (ERROR_RUNTIME). */
int profile_set_load(struct profile_set **out, struct error *err);
/* The same from explicit texts (tests, or a future --profiles DIR); names are used in errors. */
int profile_set_load_texts(const char *platforms_yaml, const char *profiles_yaml, const char *versions_yaml,
                           struct profile_set **out, struct error *err);
void profile_set_free(struct profile_set *set);
/* The built-in data loaded once per process (thread-safe), for readers without a set of their own
 * (airfactory-serve's routes); NULL when the embedded data is broken. Never freed. */
const struct profile_set *profile_set_builtin(void);

size_t profile_platform_count(const struct profile_set *set);
const struct profile_platform *profile_platform_at(const struct profile_set *set, size_t i);
/* By name or alias; NULL when unknown. */
const struct profile_platform *profile_platform_find(const struct profile_set *set, const char *name);
bool profile_platform_has_arch(const struct profile_platform *p, const char *arch);
bool profile_platform_has_boot_method(const struct profile_platform *p, const char *method);
/* True when the platform exists in version v (its `since`). */
bool profile_platform_available(const struct profile_platform *p, const struct talos_version *v);
/* Comma-separated names of all platforms, for error messages. */
const char *profile_platform_names(const struct profile_set *set);

size_t profile_count(const struct profile_set *set);
const struct profile *profile_at(const struct profile_set *set, size_t i);
const struct profile *profile_find(const struct profile_set *set, const char *name);

/* Disk image defaults Image Factory applies for platform P: the profile named P's diskSize and
 * diskFormatOptions, else 8192 MiB and "". */
void profile_disk_defaults(const struct profile_set *set, const char *platform, uint64_t *disk_size_mib,
                           const char **disk_format_options);

/* Kernel arguments (appended to out): the platform's own, the version defaults, SecureBoot's and
 * the ISO-only ones. Each item is one "key[=value]" as Talos writes it ("slab_nomerge=" too). */
void profile_platform_kernel_args(const struct profile_set *set, const struct profile_platform *p, const char *arch,
                                  const struct talos_version *v, struct profile_args *out);
void profile_default_kernel_args(const struct profile_set *set, const struct talos_version *v, struct profile_args *out);
void profile_secureboot_kernel_args(const struct profile_set *set, const struct talos_version *v,
                                    struct profile_args *out);
void profile_iso_kernel_args(const struct profile_set *set, const struct talos_version *v, struct profile_args *out);

/* ---- quirks: what changes between Talos releases, one typed structure ----
 *
 * profiles/versions.yaml's `quirks:` mapping, loaded into these fields (a key the loader does not
 * know, a value of the wrong type, a quirk missing, or a rule list without a final unconditional
 * rule is refused at load with file:line). Every builder asks this structure; no C code compares
 * Talos versions to decide how to build. Strings point into the profile set. */
enum talos_compression { TALOS_COMPRESSION_XZ, TALOS_COMPRESSION_ZSTD };
enum talos_iso_kind {
    TALOS_ISO_GRUB,       /* GRUB for BIOS and UEFI */
    TALOS_ISO_UEFI,       /* systemd-boot + UKI only */
    TALOS_ISO_HYBRID,     /* GRUB BIOS + systemd-boot/UKI UEFI */
    TALOS_ISO_BOOTLOADER, /* the profile's bootloader decides (grub, sd-boot = uefi, dual-boot = hybrid) */
};
struct talos_quirks {
    bool supported;                     /* supported: Image Factory builds this version at all */
    bool supports_uki;                  /* supportsUKI: UKI and SecureBoot assets */
    bool compressed_meta;               /* compressedMeta: META on the cmdline gzipped past 256 bytes */
    bool supports_overlay;              /* supportsOverlay */
    enum talos_compression compression; /* compression: initramfs segment and extension squashfs */
    bool iso_label;                     /* isoLabel: volume ID TALOS_V1_2_3, volume set Talos-v1.2.3 */
    bool grub_reset_entry;              /* grubResetEntry: GRUB's "Reset Talos installation" entry */
    bool skip_data_partitions;          /* skipDataPartitions: no STATE/EPHEMERAL in disk images */
    bool supports_image_cache;          /* supportsImageCache */
    bool image_cache_grows_disk;        /* imageCacheGrowsDisk: a disk image grows by its image cache + 20 % */
    bool sdboot_for_uefi;               /* sdBootForUEFI: UEFI boots systemd-boot + UKI */
    bool uki_profiles;                  /* ukiProfiles: main + reset / reset-maintenance profiles */
    const char *installer_base_image;   /* installerBaseImage: "siderolabs/installer-base" or "siderolabs/installer" */
    const char *installer_uki_name;     /* installerUKIName: "vmlinuz.efi" or "vmlinuz.efi.signed" */
    const char *kernel_modules_path;    /* kernelModulesPath: "/usr/lib/modules" or "/lib/modules" */
    const char *firmware_path;          /* firmwarePath: "/usr/lib/firmware" or "/lib/firmware" */
    bool installer_extra_kernel_args;   /* installerExtraKernelArgs */
    enum schematic_bootloader default_bootloader; /* defaultBootloader (never NONE) */
    enum talos_iso_kind iso_kind;                 /* isoKind */
    uint64_t boot_partition_mib, grub_efi_partition_mib, bios_partition_mib, uki_efi_partition_mib,
        meta_partition_mib;           /* bootPartitionSize, grubEFIPartitionSize, biosPartitionSize,
                                         ukiEFIPartitionSize, metaPartitionSize */
    uint64_t state_partition_mib;     /* statePartitionSize: STATE of a disk image without skip_data_partitions */
    bool embedded_config;             /* embeddedConfig: embeddedMachineConfiguration allowed */
    bool secureboot_disk_enroll_keys; /* secureBootDiskEnrollKeys: loader/keys/auto in SecureBoot disks */
    bool iso_random_seed;             /* isoRandomSeed: loader/random-seed in an ISO's ESP */
    const char *uki_splash_sha256;    /* ukiSplashSHA256: the UKI .splash BMP (pkg/splash/sidero.bmp), hex */
    uint64_t uki_splash_size;         /* ukiSplashSize: its size in bytes */
    bool supports_factory_talosctl_download; /* supportsFactoryTalosctlDownload: GET /talosctl/<v> lists files */
};

/* The quirks of Talos version v on arch ("amd64", "arm64"; NULL matches no arch rule) with or
 * without SecureBoot. Always fills every field (the loader guarantees a rule matches). */
void profile_quirks(const struct profile_set *set, const struct talos_version *v, const char *arch, bool secureboot,
                    struct talos_quirks *out);
/* The same from version text ("v1.11.3"); ERROR_INPUT when it is not a version. */
int profile_quirks_for(const struct profile_set *set, const char *version, const char *arch, bool secureboot,
                       struct talos_quirks *out, struct error *err);

/* `talosctl images default` of Talos `talos` with Kubernetes `kubernetes` ("v1.34.1" or "1.34.1"),
 * from profiles/talos-images.yaml, in talosctl's order: *refs (count entries, each and the array
 * freed by the caller). ERROR_INPUT naming the releases the data has when `talos` is not one. */
int profile_talos_images(const char *talos, const char *kubernetes, char ***refs, size_t *count, struct error *err);

#endif
