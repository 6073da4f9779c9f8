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
#include "talos/version.h"

/* ---- data ---- */

struct profile_platform {
    const char *name;             /* the talos.platform value, e.g. "metal", "digital-ocean" */
    const char *label;
    const char *const *aliases;   /* other spellings Talos accepts ("packet") */
    size_t alias_count;
    const char *const *arches;    /* arches Image Factory offers it for */
    size_t arch_count;
    const char *const *boot_methods; /* "iso", "disk-image", "pxe" */
    size_t boot_method_count;
    const char *disk_image_suffix;   /* Image Factory's default, e.g. "raw.zst"; "" when none */
    bool secureboot;
    const char *since;               /* first Talos version with it, "" when always */
};

/* One built-in imager profile (talos pkg/imager/profile/default.go). */
struct profile {
    const char *name;               /* "metal", "secureboot-iso", ... */
    const char *platform;
    bool secureboot;
    const char *kind;               /* "iso", "image", "installer", "uki" */
    const char *out_format;         /* "raw", ".zst", ".xz", ".gz", ".tar.gz" */
    uint64_t disk_size_mib;         /* 0 unless kind is image */
    const char *disk_format;        /* "raw", "qcow2", "vhd", "ova" or "" */
    const char *disk_format_options; /* e.g. "cluster_size=8k" or "" */
    uint32_t disk_sector_size;      /* 0 = default */
    const char *sdboot_enroll_keys; /* "" or e.g. "if-safe" */
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
void profile_platform_kernel_args(const struct profile_set *set, const struct profile_platform *p,
                                  const char *arch, const struct talos_version *v, struct profile_args *out);
void profile_default_kernel_args(const struct profile_set *set, const struct talos_version *v,
                                 struct profile_args *out);
void profile_secureboot_kernel_args(const struct profile_set *set, const struct talos_version *v,
                                    struct profile_args *out);
void profile_iso_kernel_args(const struct profile_set *set, const struct talos_version *v,
                             struct profile_args *out);

/* Quirks: the value of quirk `name` for version v on arch (may be NULL) with or without
 * SecureBoot. NULL when the quirk does not exist or no rule matches (a data bug). */
const char *profile_quirk(const struct profile_set *set, const char *name, const struct talos_version *v,
                          const char *arch, bool secureboot);
/* Typed shorthands; fallback is returned when the quirk is missing. */
bool profile_quirk_bool(const struct profile_set *set, const char *name, const struct talos_version *v,
                        const char *arch, bool secureboot, bool fallback);
/* `talosctl images default` of Talos `talos` with Kubernetes `kubernetes` ("v1.34.1" or "1.34.1"),
 * from profiles/talos-images.yaml, in talosctl's order: *refs (count entries, each and the array
 * freed by the caller). ERROR_INPUT naming the releases the data has when `talos` is not one. */
int profile_talos_images(const char *talos, const char *kubernetes, char ***refs, size_t *count, struct error *err);

long long profile_quirk_int(const struct profile_set *set, const char *name, const struct talos_version *v,
                            const char *arch, bool secureboot, long long fallback);

#endif
