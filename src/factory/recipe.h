/* recipe — one recipe per asset kind, behind one interface, registered in one table (recipes.c),
 * as libarchive registers its formats: the stage driver looks a job's recipe up by the kind of its
 * parsed asset name and never switches on kinds itself.
 *
 * A recipe says which inputs its cache key covers (the common lines, in this order: builder, path,
 * schematic, version, arch; the imager; the extensions and overlay; the SecureBoot keys; the image
 * cache; then its own cache_inputs), builds its asset into the job's scratch directory on a worker
 * thread, and may take over the commit of a built or reused asset (the installer adds an image to
 * the registry). The units: recipe_kernel.c, recipe_initramfs.c, recipe_cmdline.c, recipe_uki.c,
 * recipe_iso.c, recipe_disk_image.c, recipe_installer.c. */
#ifndef AIRFACTORY_FACTORY_RECIPE_H
#define AIRFACTORY_FACTORY_RECIPE_H

#include "factory/factory_internal.h"

enum {
    RECIPE_IMAGER = 1u << 0,      /* the imager's boot files (its digest is in the key) */
    RECIPE_INITRAMFS = 1u << 1,   /* the schematic's initramfs: extensions and overlay images */
    RECIPE_IMAGE_CACHE = 1u << 2, /* Talos' image cache, when the schematic asks for one */
};

struct factory_recipe {
    enum asset_kind kind;
    unsigned inputs;           /* RECIPE_*: what its cache key and provenance cover */
    const char *overlay_input; /* a cache-key line for overlay schematics, after the overlay's; NULL */
    /* kind-specific cache-key lines, after the common ones; NULL: none (plan time, main thread) */
    int (*cache_inputs)(struct model *m, const struct asset_path *name, struct buffer *key, struct error *err);
    /* build the asset (a worker thread): leave its file with factory_job_output, or what commit takes */
    int (*build)(struct model *m, struct job *j, struct error *err);
    /* main thread, plan order: a built job into the bundle; NULL: its output file */
    int (*commit)(struct model *m, struct job *j, struct error *err);
    /* main thread, plan order: after a reused asset's row; NULL: nothing more */
    int (*reused)(struct model *m, struct job *j, struct error *err);
};

/* The recipe for a kind; NULL when airfactory builds no such asset. */
const struct factory_recipe *factory_recipe_for(enum asset_kind kind);
/* An asset's cache key: every input that can change its bytes (plan time, main thread). */
int factory_asset_cache_key(struct model *m, const char *path, const struct asset_path *name,
                            char key[SHA256_HEX_LEN + 1], struct error *err);

extern const struct factory_recipe factory_recipe_kernel, factory_recipe_initramfs, factory_recipe_cmdline,
    factory_recipe_uki, factory_recipe_iso, factory_recipe_disk_image, factory_recipe_installer;

#endif
