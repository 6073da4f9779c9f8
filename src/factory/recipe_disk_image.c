/* recipe_disk_image — PLATFORM-ARCH[-secureboot].FORMAT[.COMPRESSION]: a disk image (disk_image.h)
 * planned from the platform's profile and the schematic's bootloader (an overlay's profile first),
 * with the UKI and sd-boot (signed, with enrollment files, for SecureBoot), or GRUB with the kernel
 * and the model's initramfs, META values, the image cache and an overlay's install step. */
#include "factory/recipe.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/memory.h"
#include "core/yaml_value.h"
#include "factory/recipe_files.h"
#include "imager/disk_image.h"

static int build(struct model *m, struct job *j, struct error *err)
{
    struct factory *f = m->f;
    const char *path = j->path;
    const struct asset_path *name = &j->name;
    const char *scratch = factory_scratch_dir(f);
    const struct schematic *s = m->schematic->schematic;
    /* the overlay's profile is merged first and the schematic's bootloader wins (profile.go) */
    struct schematic merged;
    if (m->overlay_target && s->bootloader == SCHEMATIC_BOOTLOADER_NONE) {
        char *root = factory_flatten_extension(f, m->overlay_target, err);
        char *bootloader = NULL;
        int rc = root ? overlay_profile_bootloader(root, s->overlay_name, m->overlay_label, &bootloader, err) : -1;
        free(root);
        if (rc < 0)
            return error_prefix(err, "%s: ", path);
        if (bootloader) {
            merged = *s;
            merged.bootloader = !strcmp(bootloader, "grub")      ? SCHEMATIC_BOOTLOADER_GRUB
                                : !strcmp(bootloader, "sd-boot") ? SCHEMATIC_BOOTLOADER_SD_BOOT
                                                                 : SCHEMATIC_BOOTLOADER_DUAL_BOOT;
            s = &merged;
            free(bootloader);
        }
    }
    struct disk_image_plan plan;
    if (disk_image_plan_for(f->profiles, name, m->version, s, &plan, err) != 0)
        return -1;
    const struct built_image_cache *ic = model_image_cache(m, name);
    if (ic && disk_image_plan_add_image_cache(f->profiles, &plan, m->version, m->arch, ic->bytes, err) != 0)
        return error_prefix(err, "%s: ", path);
    bool uki_layout = plan.bootloader != DISK_IMAGE_GRUB, grub_layout = plan.bootloader != DISK_IMAGE_SD_BOOT;
    if (uki_layout && (!fs_exists(m->imager.stub) || !fs_exists(m->imager.systemd_boot)))
        return error_set(err, ERROR_INPUT, "%s: imager %s has no usr/install/%s/systemd-{stub,boot}.efi", path,
                         m->imager.imager->result.image.reference, m->arch);
    struct buffer cmdline = BUFFER_INIT;
    if (model_cmdline(m, name, CMDLINE_KIND_IMAGE, &cmdline, err) != 0 || model_initramfs(m, err) != 0) {
        buffer_free(&cmdline);
        return -1;
    }
    /* GRUB and dual-boot: the imager's GRUB pair, kernel and the schematic's initramfs on BOOT */
    char *grub = NULL;
    struct grub_tool grub_tool = {0};
    if (grub_layout && !(grub = factory_imager_grub(f, m->version, m->imager.imager, &grub_tool, err))) {
        buffer_free(&cmdline);
        return -1;
    }
    /* sd-boot and the UKI (signed for -secureboot images, which are always sd-boot) */
    char *uki = uki_layout ? xasprintf("%s/%s.uki.efi", scratch, path) : NULL;
    const struct secureboot_signer *signer = NULL;
    const char *sdboot = m->imager.systemd_boot;
    char *signed_sdboot = NULL;
    int rc = factory_asset_signer(m, path, name, &signer, err);
    if (rc == 0 && uki)
        rc = factory_asset_sdboot(m, path, name, &sdboot, &signed_sdboot, err);
    if (rc == 0 && uki)
        rc = model_uki(m, signer, buffer_cstr(&cmdline), UKI_FOR_IMAGE, uki, err);
    /* SecureBoot images: PK/KEK/db.auth under loader/keys/auto and `secure-boot-enroll` (if-safe
     * unless the schematic's enrollKeys says otherwise; "off" writes neither), out.go buildImage */
    struct talos_quirks q;
    const char *enroll = NULL;
    char *sb_dir = NULL, *sb_paths[3] = {NULL, NULL, NULL};
    struct disk_image_esp_file sb_files[3];
    if (rc == 0)
        rc = model_quirks(m, name->secureboot, &q, err);
    if (rc == 0 && signer && q.secureboot_disk_enroll_keys)
        rc = factory_enroll_mode(m, path, "if-safe", &enroll, err);
    if (rc == 0 && enroll && strcmp(enroll, "off") == 0)
        enroll = NULL;
    if (rc == 0 && enroll)
        rc = factory_enrollment_write(m, path, signer, &sb_dir, sb_paths, err);
    static const char *const sb_names[] = {"loader/keys/auto/PK.auth", "loader/keys/auto/KEK.auth",
                                           "loader/keys/auto/db.auth"};
    for (int i = 0; i < 3; i++)
        sb_files[i] = (struct disk_image_esp_file){sb_names[i], sb_paths[i]};
    /* an overlay: its partition offset, and its install step run from the image of the build
     * host's arch (as get-options) with that image's artifacts/ (imager.go handleOverlay) */
    char *overlay_root = NULL, *overlay_artifacts = NULL;
    struct buffer overlay_options = BUFFER_INIT;
    struct overlay_installer overlay = {0};
    if (rc == 0 && m->overlay_image) {
        if (!(overlay_root = factory_flatten_extension(f, m->overlay_image, err)))
            rc = error_prefix(err, "%s: %s: ", path, m->overlay_label);
        else if (s->overlay_options)
            rc = yaml_value_encode(s->overlay_options, &overlay_options, err);
        overlay = (struct overlay_installer){overlay_root, s->overlay_name, m->overlay_label, 0};
        overlay_artifacts = overlay_root ? path_join(overlay_root, "artifacts") : NULL;
    }
    struct disk_image_inputs in = {
        .talos_version = m->version,
        .arch = m->arch,
        .sdboot_path = sdboot,
        .uki_path = uki,
        .kernel_path = m->imager.vmlinuz,
        .initramfs_path = m->initramfs_path,
        .cmdline = buffer_cstr(&cmdline),
        .grub_dir = grub,
        .grub_tool = grub ? &grub_tool : NULL,
        .secure_boot_enroll = enroll,
        .esp_files = sb_dir ? sb_files : NULL,
        .esp_file_count = sb_dir ? 3 : 0,
        .image_cache_dir = ic ? ic->dir : NULL,
        .mtime = f->epoch,
        .threads = factory_threads(f),
        .work_dir = scratch,
        .overlay = overlay_root ? &overlay : NULL,
        .overlay_artifacts = overlay_artifacts,
        .overlay_options = overlay_options.len ? buffer_cstr(&overlay_options) : NULL,
        .partition_offset = m->overlay.partition_offset,
    };
    char *out = path_join(scratch, path);
    if (rc == 0)
        rc = recipe_disk_image_build(&plan, s, &in, out, err);
    free(overlay_root);
    free(overlay_artifacts);
    buffer_free(&overlay_options);
    buffer_free(&cmdline);
    free(grub);
    grub_tool_free(&grub_tool);
    if (uki)
        unlink(uki);
    free(uki);
    if (signed_sdboot)
        unlink(signed_sdboot);
    free(signed_sdboot);
    factory_enrollment_remove(&sb_dir, sb_paths, 3);
    if (rc == 0)
        rc = factory_job_output(m->f, out, true, err);
    free(out);
    return rc;
}

const struct factory_recipe factory_recipe_disk_image = {
    .kind = ASSET_IMAGE,
    .inputs = RECIPE_IMAGER | RECIPE_INITRAMFS | RECIPE_IMAGE_CACHE,
    /* disk images of overlay schematics built before the install step and the partition offset
     * existed (same builder version) must not be reused */
    .overlay_input = "overlay-disk=install,offset",
    .build = build,
};
