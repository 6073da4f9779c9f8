/* recipe_files — the recipes' steps on plain files, shared by the factory's recipes and by
 * `airfactory disk build` and `airfactory asset uki`, which build from files given on the command line: one code
 * path from files to a UKI (Talos' profiles for the kind of output) and from files to a disk image
 * (the schematic's META values composed with the plan and the boot files). */
#ifndef AIRFACTORY_FACTORY_RECIPE_FILES_H
#define AIRFACTORY_FACTORY_RECIPE_FILES_H

#include <stdbool.h>
#include <stdint.h>

#include "airfactory/error.h"
#include "airfactory/schematic.h"
#include "imager/disk_image.h"
#include "imager/uki.h"
#include "talos/profile.h"

struct recipe_uki_files {
    const char *stub, *kernel, *initrd; /* systemd-stub.efi, vmlinuz, the initramfs */
    const char *cmdline;
    const char *version;
    const struct talos_quirks *quirks; /* of the version and arch, with or without SecureBoot */
    enum uki_output output;            /* which of Talos' profile sets (UKI, ISO, disk image) */
    bool no_profiles;                  /* none at all, whatever the quirks (`asset uki --profiles none`) */
    const char *uname;                 /* the .uname section's text; NULL: none */
    uint32_t timestamp;
    const struct secureboot_signer *signer; /* NULL: unsigned */
    const char *splash;                     /* the boot splash BMP (imager/splash.h); NULL: no .splash */
};

/* A UKI from files, with the profiles Talos gives that kind of output. */
int recipe_uki_build(const struct recipe_uki_files *in, const char *out, struct error *err);

/* A disk image: the schematic's META values (disk_image_meta_values) added to `in` (whose meta
 * fields are ignored), then disk_image_build. */
int recipe_disk_image_build(const struct disk_image_plan *plan, const struct schematic *schematic,
                            const struct disk_image_inputs *in, const char *out, struct error *err);

#endif
