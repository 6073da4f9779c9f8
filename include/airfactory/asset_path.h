/* asset_path — Image Factory's asset file names ("profiles from path").
 *
 * Owns: the grammar of image-factory internal/profile/profile.go ParseFromPath, in its order:
 *   kernel-A | cmdline-P-A[-secureboot] | initramfs-A.xz | P-A[-secureboot].iso |
 *   P-A[-secureboot]-uki.efi | installer-A[-secureboot].tar | P-installer-A[-secureboot].tar |
 *   P-A[-secureboot].{raw|qcow2|vhd|ova}[.tar.gz|.gz|.xz|.zst]
 * with A in amd64, arm64, x86_64 (= amd64), i386 (= amd64) and the digital-ocean special case.
 * Error messages are Image Factory's ("invalid profile path: ...", "invalid architecture: ...").
 * Platform names are not checked here (Image Factory leaves that to the imager); the manifest
 * checks them against the profile data. The canonical name always spells the arch amd64/arm64.
 * Where Image Factory accepts a name without a platform ("-amd64.iso") and fails later, in the
 * imager, this grammar refuses it at once ("invalid platform-arch: ...").
 * metal-installer-A[-secureboot].tar is installer-A[-secureboot].tar (Image Factory gives both
 * the same profile), so it parses to the plain installer and formats as installer-A.tar.
 *
 * This is the only parser and composer of asset names: the manifest, the factory, airfactory-serve
 * (/image, /pxe) and `airfactory disk` use it (tests/data/asset-names.tsv pins every entry point). */
#ifndef AIRFACTORY_ASSET_PATH_H
#define AIRFACTORY_ASSET_PATH_H

#include <stdbool.h>
#include <stddef.h>

#include "airfactory/error.h"

enum asset_kind {
    ASSET_KERNEL,
    ASSET_CMDLINE,
    ASSET_INITRAMFS,
    ASSET_ISO,
    ASSET_UKI,
    ASSET_INSTALLER,
    ASSET_IMAGE,
};

#define ASSET_PATH_MAX 160

struct asset_path {
    enum asset_kind kind;
    char platform[64]; /* "metal" for kernel, initramfs and plain installer paths */
    char arch[8];      /* "amd64" or "arm64" */
    bool secureboot;
    bool platform_installer; /* P-installer-A.tar, P not metal (an overlay/platform installer) */
    char disk_format[8];     /* ASSET_IMAGE: "raw", "qcow2", "vhd", "ova" */
    char compression[8];     /* ASSET_IMAGE: "", ".tar.gz", ".gz", ".xz", ".zst" */
};

/* ERROR_INPUT with Image Factory's message on a path it would refuse. */
int asset_path_parse(const char *path, struct asset_path *out, struct error *err);
/* The canonical file name (what Image Factory's UI links to). */
void asset_path_format(const struct asset_path *asset, char out[ASSET_PATH_MAX]);
/* A name from its parts: platform NULL means "metal" (kernel, initramfs, plain installer);
 * disk_format and compression stay empty (asset_path_set_image_suffix sets them). */
void asset_path_init(struct asset_path *out, enum asset_kind kind, const char *platform, const char *arch,
                     bool secureboot);
/* Make `a` a disk image with the suffix "FORMAT[.COMPRESSION]" ("raw.zst", as the profile data
 * spells a platform's disk image); ERROR_INPUT for anything else. */
int asset_path_set_image_suffix(struct asset_path *a, const char *suffix, struct error *err);
/* A build manifest's arch-less output name ("kernel", "initramfs.xz", "installer[-secureboot].tar",
 * "cmdline-P[-secureboot]", "P[-secureboot].iso", "P[-secureboot]-uki.efi",
 * "P-installer[-secureboot].tar", "P[-secureboot].FORMAT[.COMPRESSION]") for `arch`; ERROR_INPUT
 * when the name is no such form. */
int asset_path_parse_archless(const char *name, const char *arch, struct asset_path *out, struct error *err);
/* "kernel", "cmdline", "initramfs", "iso", "uki", "installer", "image" */
const char *asset_kind_name(enum asset_kind kind);

#endif
