/* recipe_cmdline — cmdline-PLATFORM-ARCH[-secureboot]: the kernel command line Image Factory
 * serves, as a file (built without the overlay's arguments, as Image Factory does). */
#include "factory/recipe.h"

#include <stdlib.h>

#include "core/fs.h"

static int build(struct model *m, struct job *j, struct error *err)
{
    /* a file like any other asset's, so that a worker can build it */
    struct buffer cmdline = BUFFER_INIT;
    char *out = path_join(factory_scratch_dir(m->f), j->path);
    int rc = model_cmdline(m, &j->name, CMDLINE_KIND_CMDLINE, &cmdline, err);
    if (rc == 0)
        rc = fs_write_file_atomic(out, cmdline.data ? cmdline.data : "", cmdline.len, 0644, err);
    if (rc == 0)
        rc = factory_job_output(m->f, out, true, err);
    buffer_free(&cmdline);
    free(out);
    return rc;
}

const struct factory_recipe factory_recipe_cmdline = {
    .kind = ASSET_CMDLINE,
    .build = build,
};
