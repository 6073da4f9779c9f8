/* recipe_iso — PLATFORM-ARCH[-secureboot].iso: the ISO (iso.h) with the imager's GRUB, the kernel,
 * the model's initramfs and the ISO command line; sd-boot layouts boot a UKI built for the ISO;
 * SecureBoot ISOs carry signed systemd-boot and the enrollment files; the image cache goes in as
 * /imagecache when the schematic asks for it. */
#include "factory/recipe.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/memory.h"
#include "imager/iso.h"

/* What a SecureBoot ISO adds (talos-imager.md §6.3-6.5): UEFI only, signed systemd-boot,
 * loader.conf secure-boot-enroll (if-safe unless the schematic says otherwise), the signing
 * certificate as EFI/keys/uki-signing-cert.der and PK/KEK/db.auth under loader/keys/auto/. */
struct iso_secureboot {
    char *dir, *sdboot;
    char *paths[4];
    struct iso_extra_file files[4];
};

static int iso_secureboot_prepare(struct model *m, const char *path, const struct asset_path *name,
                                  struct iso_options *o, struct iso_secureboot *sb, struct error *err)
{
    memset(sb, 0, sizeof *sb);
    if (!name->secureboot)
        return 0;
    const struct secureboot_signer *signer;
    if (factory_asset_signer(m, path, name, &signer, err) != 0)
        return -1;
    o->layout = ISO_UEFI;
    if (factory_enroll_mode(m, path, "if-safe", &o->secure_boot_enroll, err) != 0)
        return -1;
    const char *sdboot;
    if (factory_asset_sdboot(m, path, name, &sdboot, &sb->sdboot, err) != 0)
        return -1;
    o->sdboot_path = sdboot;
    if (factory_enrollment_write(m, path, signer, &sb->dir, sb->paths, err) != 0)
        return -1;
    for (int i = 0; i < 3; i++)
        sb->files[i].source = sb->paths[i];
    sb->files[0].path = "loader/keys/auto/PK.auth";
    sb->files[1].path = "loader/keys/auto/KEK.auth";
    sb->files[2].path = "loader/keys/auto/db.auth";
    sb->paths[3] = xasprintf("%s/uki-signing-cert.der", sb->dir);
    sb->files[3] = (struct iso_extra_file){"EFI/keys/uki-signing-cert.der", sb->paths[3]};
    if (fs_write_file_atomic(sb->paths[3], signer->cert_der, signer->cert_der_len, 0644, err) != 0)
        return -1;
    o->extra_files = sb->files;
    o->extra_file_count = 4;
    return 0;
}

static void iso_secureboot_cleanup(struct iso_secureboot *sb)
{
    if (sb->sdboot)
        unlink(sb->sdboot);
    free(sb->sdboot);
    factory_enrollment_remove(&sb->dir, sb->paths, 4);
    memset(sb, 0, sizeof *sb);
}

static int build(struct model *m, struct job *j, struct error *err)
{
    struct factory *f = m->f;
    const char *path = j->path;
    const struct asset_path *name = &j->name;
    const char *scratch = factory_scratch_dir(f);
    struct buffer cmdline = BUFFER_INIT;
    struct iso_options o = {0};
    struct iso_secureboot sb;
    memset(&sb, 0, sizeof sb);
    char *grub = NULL, *uki = NULL, *out = NULL;
    struct grub_tool grub_tool = {0};
    int rc = model_cmdline(m, name, CMDLINE_KIND_ISO, &cmdline, err);
    if (rc == 0)
        rc = model_initramfs(m, err);
    struct talos_quirks q;
    if (rc == 0)
        rc = model_quirks(m, name->secureboot, &q, err);
    if (rc == 0)
        rc = iso_options_for(&o, &q, m->schematic->schematic->bootloader, m->version, m->arch, err);
    if (rc == 0 && !(grub = factory_imager_grub(f, m->version, m->imager.imager, &grub_tool, err)))
        rc = -1;
    if (rc == 0)
        rc = iso_secureboot_prepare(m, path, name, &o, &sb, err);
    if (rc == 0 && o.layout != ISO_GRUB) {
        /* sd-boot layouts boot a UKI built for the ISO (its own profiles and command line) */
        uki = xasprintf("%s/iso-uki-%s-%s-%s.efi", scratch, m->id, m->version, m->arch);
        rc = model_uki(m, name->secureboot ? f->signer : NULL, buffer_cstr(&cmdline), UKI_FOR_ISO, uki, err);
    }
    if (rc == 0) {
        o.kernel_path = m->imager.vmlinuz;
        o.initramfs_path = m->initramfs_path;
        o.cmdline = buffer_cstr(&cmdline);
        o.grub_dir = grub;
        o.grub_tool = &grub_tool;
        o.uki_path = uki;
        if (!o.sdboot_path)
            o.sdboot_path = m->imager.systemd_boot;
        o.mtime = f->epoch;
        o.work_dir = scratch;
        const struct built_image_cache *ic = model_image_cache(m, name);
        if (ic) { /* out.go outISO: the cache tree as /imagecache */
            o.tree_source = ic->dir;
            o.tree_path = "imagecache";
        }
        out = path_join(scratch, path);
        rc = iso_build(&o, out, err);
    }
    if (rc == 0)
        rc = factory_job_output(m->f, out, true, err);
    if (uki)
        unlink(uki);
    iso_secureboot_cleanup(&sb);
    free(uki);
    free(out);
    free(grub);
    grub_tool_free(&grub_tool);
    buffer_free(&cmdline);
    return rc;
}

const struct factory_recipe factory_recipe_iso = {
    .kind = ASSET_ISO,
    .inputs = RECIPE_IMAGER | RECIPE_INITRAMFS | RECIPE_IMAGE_CACHE,
    .build = build,
};
