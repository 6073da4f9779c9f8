/* uki — Unified Kernel Images: systemd-stub + kernel + initramfs + command line in one PE file.
 *
 * Owns the section contents and order Talos uses (talos-imager.md §5.1, unsigned `Build`):
 * .osrel .cmdline [.uname] [.splash] .linux .initrd, then for Talos >= 1.10 one .profile per
 * profile (main first), each profile with its own command line followed by its .cmdline. The
 * stub's own sections (.sbat included) stay in place; assembly is pe_assemble (pe.h).
 * The kernel command line is an input here (cmdline.c builds it). Signed UKIs (`-secureboot`
 * assets) add .pcrpkey/.pcrsig and an Authenticode signature (secureboot.h, authenticode.h). */
#ifndef AIRFACTORY_UKI_H
#define AIRFACTORY_UKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/error.h"
#include "imager/secureboot.h"
#include "talos/profile.h"

struct uki_profile {
    const char *id;      /* "main", "reset", "reset-maintenance" */
    const char *title;   /* NULL = no TITLE= line */
    const char *cmdline; /* NULL = the profile has no .cmdline of its own */
};

struct uki_options {
    const char *stub_path;     /* imager's usr/install/<arch>/systemd-stub.efi */
    const char *kernel_path;   /* usr/install/<arch>/vmlinuz */
    const char *initrd_path;   /* the (rebuilt) initramfs */
    const char *cmdline;       /* exact text of .cmdline, no trailing newline added */
    const char *talos_version; /* VERSION_ID of .osrel */
    const char *uname;         /* NULL = read from the bzImage header; "" = no .uname section */
    const char *splash_path;   /* NULL = no .splash section */
    const struct uki_profile *profiles;
    size_t profile_count;
    uint32_t timestamp; /* COFF TimeDateStamp (SOURCE_DATE_EPOCH); also the signingTime when signed */
    /* SecureBoot (BuildSigned, talos-imager.md §5.1, §5.3, §5.4): NULL = unsigned. Otherwise
     * .pcrpkey follows .splash, each profile (or, before 1.10, the whole UKI) ends in a .pcrsig
     * predicting PCR 11 for it, and the result is Authenticode-signed. */
    const struct secureboot_signer *signer;
};

/* Talos' profiles for an output: none without the ukiProfiles quirk (before 1.10); else "main", plus "reset" (ISO, extra
 * talos.experimental.wipe=system) or "reset-maintenance" (disk image / installer, extra
 * talos.experimental.wipe=system:EPHEMERAL,STATE). */
enum uki_output {
    UKI_FOR_ISO,    /* main + reset */
    UKI_FOR_IMAGE,  /* main + reset-maintenance (disk images, installers) */
    UKI_STANDALONE, /* the *-uki.efi asset: main only (imager.go buildUKI, OutKindUKI) */
};
struct uki_profile_set {
    struct uki_profile profiles[2];
    size_t count;
    char *owned; /* the reset profile's command line */
};
void uki_profiles_for(struct uki_profile_set *set, const struct talos_quirks *q, enum uki_output output,
                      const char *cmdline);
void uki_profile_set_free(struct uki_profile_set *set);

/* The .osrel text for a Talos version (constants.OSReleaseTemplate). Caller frees. */
char *uki_os_release(const char *talos_version);

int uki_build(const struct uki_options *o, const char *out_path, struct error *err);

#endif
