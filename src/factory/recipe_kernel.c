/* recipe_kernel — kernel-ARCH: the imager's vmlinuz, as is (kernel_build). */
#include "factory/recipe.h"

#include <stdlib.h>

#include "core/fs.h"
#include "imager/kernel.h"

static int build(struct model *m, struct job *j, struct error *err)
{
    char *out = path_join(factory_scratch_dir(m->f), j->path);
    int rc = kernel_build(m->imager.vmlinuz, out, err);
    if (rc == 0)
        rc = factory_job_output(m->f, out, true, err);
    free(out);
    return rc;
}

const struct factory_recipe factory_recipe_kernel = {
    .kind = ASSET_KERNEL,
    .inputs = RECIPE_IMAGER,
    .build = build,
};
