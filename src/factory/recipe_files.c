/* recipe_files — the recipes' steps on plain files: see recipe_files.h. */
#include "factory/recipe_files.h"

int recipe_uki_build(const struct recipe_uki_files *in, const char *out, struct error *err)
{
    struct uki_profile_set profiles = {0};
    if (!in->no_profiles)
        uki_profiles_for(&profiles, in->quirks, in->output, in->cmdline);
    struct uki_options o = {
        .stub_path = in->stub,
        .kernel_path = in->kernel,
        .initrd_path = in->initrd,
        .cmdline = in->cmdline,
        .talos_version = in->version,
        .profiles = profiles.profiles,
        .profile_count = profiles.count,
        .timestamp = in->timestamp,
        .signer = in->signer,
        .splash_path = in->splash,
        .uname = in->uname,
    };
    int rc = uki_build(&o, out, err);
    uki_profile_set_free(&profiles);
    return rc;
}

int recipe_disk_image_build(const struct disk_image_plan *plan, const struct schematic *schematic,
                            const struct disk_image_inputs *in, const char *out, struct error *err)
{
    struct meta_value meta[256];
    size_t meta_count = 0;
    disk_image_meta_values(plan, schematic, meta, &meta_count);
    struct disk_image_inputs with_meta = *in;
    with_meta.meta = meta;
    with_meta.meta_count = meta_count;
    return disk_image_build(plan, &with_meta, out, err);
}
