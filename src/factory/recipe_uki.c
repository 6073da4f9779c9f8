/* recipe_uki — PLATFORM-ARCH[-secureboot]-uki.efi: the standalone UKI (systemd-stub + kernel + the
 * model's initramfs + the UKI command line), signed for -secureboot. */
#include "factory/recipe.h"

#include <stdlib.h>

#include "core/fs.h"
#include "core/memory.h"

static int build(struct model *m, struct job *j, struct error *err)
{
    const char *path = j->path;
    const struct asset_path *name = &j->name;
    if (!fs_exists(m->imager.stub))
        return error_set(err, ERROR_INPUT, "%s: imager %s has no usr/install/%s/systemd-stub.efi", path,
                         m->imager.imager->result.image.reference, m->arch);
    struct buffer cmdline = BUFFER_INIT;
    if (model_cmdline(m, name, CMDLINE_KIND_UKI, &cmdline, err) != 0 || model_initramfs(m, err) != 0) {
        buffer_free(&cmdline);
        return -1;
    }
    char *out = path_join(factory_scratch_dir(m->f), path);
    const struct secureboot_signer *signer;
    int rc = factory_asset_signer(m, path, name, &signer, err);
    if (rc == 0)
        rc = model_uki(m, signer, buffer_cstr(&cmdline), UKI_STANDALONE, out, err);
    buffer_free(&cmdline);
    if (rc == 0)
        rc = factory_job_output(m->f, out, true, err);
    free(out);
    return rc;
}

const struct factory_recipe factory_recipe_uki = {
    .kind = ASSET_UKI,
    .inputs = RECIPE_IMAGER | RECIPE_INITRAMFS,
    .build = build,
};
