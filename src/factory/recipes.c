/* recipes — the table of asset recipes (recipe.h) and what they share: the lookup by kind and the
 * cache key, whose common lines every recipe's `inputs` selects. */
#include "factory/recipe.h"

#include <string.h>

static const struct factory_recipe *const recipes[] = {
    &factory_recipe_kernel, &factory_recipe_cmdline,   &factory_recipe_initramfs,  &factory_recipe_iso,
    &factory_recipe_uki,    &factory_recipe_installer, &factory_recipe_disk_image,
};

const struct factory_recipe *factory_recipe_for(enum asset_kind kind)
{
    for (size_t i = 0; i < sizeof recipes / sizeof recipes[0]; i++)
        if (recipes[i]->kind == kind)
            return recipes[i];
    return NULL;
}

/* Cache key: every input that can change the bytes of an asset — and nothing else, so an asset is
 * rebuilt only when it must be: the kernel depends on the imager alone, a cmdline on the schematic,
 * version and platform profile (part of the builder), everything holding an initramfs on the imager
 * and every extension image. */
int factory_asset_cache_key(struct model *m, const char *path, const struct asset_path *name,
                            char key[SHA256_HEX_LEN + 1], struct error *err)
{
    const struct factory_recipe *r = factory_recipe_for(name->kind);
    if (!r)
        return error_set(err, ERROR_INPUT, "%s: airfactory %s builds no %s assets; remove it from the manifest's outputs",
                         path, AIRFACTORY_VERSION, asset_kind_name(name->kind));
    struct buffer b = BUFFER_INIT;
    buffer_appendf(&b, "airfactory-asset-v1\nbuilder=%s\npath=%s\nschematic=%s\nversion=%s\narch=%s\n",
                   AIRFACTORY_VERSION, path, m->id, m->version, m->arch);
    if (r->inputs & RECIPE_IMAGER)
        buffer_appendf(&b, "imager=%s\n", m->imager.imager->result.image.manifest_digest);
    if (r->inputs & RECIPE_INITRAMFS) {
        if (model_extensions(m, err) != 0) {
            buffer_free(&b);
            return -1;
        }
        for (size_t i = 0; i < m->extension_count; i++)
            buffer_appendf(&b, "extension=%s\n", m->extension_images[i]->result.image.manifest_digest);
        /* the UKI splash looked for (found or not in the imager above); the line also keeps assets
         * built before the splash and extension SELinux labels existed from being reused */
        struct talos_quirks q;
        if (model_quirks(m, false, &q, err) != 0) {
            buffer_free(&b);
            return -1;
        }
        buffer_appendf(&b, "uki-splash=%s\n", q.uki_splash_sha256);
        if (m->overlay_image)
            buffer_appendf(&b, "overlay=%s\n", m->overlay_image->result.image.manifest_digest);
        if (m->overlay_image && r->overlay_input)
            buffer_appendf(&b, "%s\n", r->overlay_input);
    }
    factory_secureboot_cache_inputs(m, name, &b);
    if (m->schematic->image_cache && (r->inputs & RECIPE_IMAGE_CACHE)) {
        const struct built_image_cache *ic;
        if (factory_image_cache_for(m->f, m->arch, &ic, err) != 0) {
            buffer_free(&b);
            return -1;
        }
        buffer_append(&b, ic->key, strlen(ic->key));
    }
    if (r->cache_inputs && r->cache_inputs(m, name, &b, err) != 0) {
        buffer_free(&b);
        return -1;
    }
    sha256_hex(b.data, b.len, key);
    buffer_free(&b);
    return 0;
}
