/* recipe_initramfs — initramfs-ARCH.xz: the model's initramfs (model.c builds it once for every
 * asset of the model that holds it), copied into the bundle. */
#include "factory/recipe.h"

static int build(struct model *m, struct job *j, struct error *err)
{
    (void)j;
    if (model_initramfs(m, err) != 0)
        return -1;
    return factory_job_output(m->f, m->initramfs_path, false, err);
}

const struct factory_recipe factory_recipe_initramfs = {
    .kind = ASSET_INITRAMFS,
    .inputs = RECIPE_IMAGER | RECIPE_INITRAMFS,
    .build = build,
};
