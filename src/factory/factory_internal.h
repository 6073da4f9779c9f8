/* factory_internal — what the factory's units share (not a public interface).
 *
 * Owns the shapes of one build's state: struct factory (the build: store, writer, imported
 * sources, catalogs, image caches, the SecureBoot signer, the job pool, the plan), struct model
 * (one schematic x version x arch: model.c), struct job (one requested asset) — and the functions
 * one unit offers the others:
 *   factory.c      the stage driver: events, sources and catalogs, once-steps, the jobs' files;
 *   model.c        the model's shared inputs (imager files, extensions, initramfs, overlay, UKI,
 *                  command line, image cache) and the SecureBoot inputs of signed assets;
 *   recipe.h       the per-asset-kind recipes behind one table (recipes.c, recipe_*.c);
 *   bundle_rows.c  the bundle rows that are not assets (catalogs, talosctl, sources, cluster
 *                  images, public keys).
 * Threads: workers (job_pool.h) run recipes' build steps; everything else runs on the main thread.
 * What workers share is settled at plan time or produced by a once-step (factory_once). */
#ifndef AIRFACTORY_FACTORY_INTERNAL_H
#define AIRFACTORY_FACTORY_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/buffer.h"
#include "airfactory/factory.h"
#include "bundle/bundle_writer.h"
#include "core/digest.h"
#include "core/json.h"
#include "imager/catalog.h"
#include "imager/cmdline.h"
#include "imager/grub_tool.h"
#include "imager/image_cache.h"
#include "imager/overlay.h"
#include "imager/secureboot.h"
#include "imager/uki.h"
#include "oci/oci_import.h"
#include "talos/profile.h"

struct factory_recipe;
struct job_pool;
struct progress_thread;
struct profile_set;
struct installer_registry;
struct installer_prepared;

struct factory {
    const struct factory_request *request;
    struct factory_stats stats;
    struct store *store;
    char *store_dir;
    char *work_dir;
    struct bundle_writer *writer;
    uint32_t epoch;
    struct profile_set *profiles; /* loaded on first use */

    /* imported sources: one entry per (source, platform) */
    struct imported {
        const struct factory_source *source;
        char *version;
        struct oci_import_result result;
    } * imported;
    size_t imported_count;

    /* catalogs per version */
    struct version_catalog {
        char *version;
        struct catalog catalog;
        bool have_extensions, have_overlays;
    } * catalogs;
    size_t catalog_count;

    struct installer_registry *installers; /* per-arch installer images awaiting their index */
    /* Talos' image cache per arch (image_cache.h): its images and cache key at plan time; its tree
     * written at the end of planning on the main thread (the store's sqlite handle is not shared
     * with workers), only when an ISO or disk-image job that is not reused reads it */
    struct built_image_cache {
        char arch[8];
        struct image_cache_entry *entries; /* strings owned by the imported sources */
        size_t entry_count;
        char *dir; /* the tree, once written */
        bool written;
        uint64_t bytes;
        char *key; /* cache-key lines: every image and platform manifest in it */
    } * image_caches;
    size_t image_cache_count;
    struct secureboot_signer *signer;      /* NULL: no SecureBoot keys configured */
    struct secureboot_cert *well_known[2]; /* the request's KEK and db certificates, read with the signer */

    /* ---- parallel builds (stage 4): the job pool (job_pool.h) runs the plan's jobs on -j worker
     * threads into their own scratch directories; the main thread alone touches the writer, the
     * catalogs and everything above, committing finished assets in plan order so the bundle and
     * the event stream do not depend on which thread finished first. */
    unsigned jobs;         /* -j: worker threads, and the compressor threads they split */
    struct job_pool *pool; /* made with the plan; also runs the once-steps */
    struct job *plan;      /* one per requested asset, in request order grouped by model */
    size_t plan_count;
    struct model *models;
    size_t model_count;
    size_t committed;                     /* main thread: jobs committed so far */
    struct progress *progress;            /* the TTY display; NULL: line events */
    pthread_mutex_t display_lock;         /* one writer of the terminal at a time; guards the fields below */
    struct progress_thread *display;      /* its redraw thread (progress.h); NULL: none */
    size_t shown_committed, shown_reused; /* the main thread's counters, published for the display */
    uint64_t shown_bytes;
};

struct imager_files {
    char *dir; /* STORE/work/imager/<hex>/<arch> */
    char *vmlinuz, *initramfs, *stub, *systemd_boot;
    const struct imported *imager;
};

/* Everything one schematic x version x arch needs. What its assets share — the imager's boot
 * files, the flattened extensions, the initramfs — is resolved cheaply at plan time (cache keys
 * need digests only) and produced by whichever of its jobs needs it first (once_run); the model's
 * other jobs wait for it. Everything a job may read is set before the jobs start or by a once-step,
 * and never changes afterwards. */
struct model {
    struct factory *f;
    const struct factory_schematic *schematic;
    const char *id;   /* the request's (factory_schematic.id) */
    const char *yaml; /* the request's canonical YAML */
    const char *version, *arch;
    struct imager_files imager;               /* located at plan time, extracted on first use */
    char **extension_dirs;                    /* flattened by the initramfs step */
    const struct imported **extension_images; /* resolved at plan time */
    size_t extension_count;
    bool extensions_resolved;
    char *scratch;               /* WRITER_SCRATCH/model-N: files its jobs share */
    char *initramfs_path;        /* set by the initramfs once-step */
    const char **source_digests; /* provenance */
    size_t source_digest_count;
    size_t jobs_left;                      /* not committed yet; freed (scratch too) at 0 */
    struct job *_Atomic initramfs_builder; /* for the display */
    /* the schematic's overlay: its image for the build host's arch (its installer runs here),
     * resolved at plan time with the extensions; its get-options answer, a once-step */
    const struct imported *overlay_image;
    const struct imported *overlay_target; /* the same overlay for the model's arch: its artifacts */
    char *overlay_label;
    struct overlay_options overlay;
};

/* One asset of the plan. Worker threads take jobs in plan order and run them; the main thread
 * commits them in plan order (blob, index rows, provenance, event) as they finish. Builders leave
 * only files in the job's scratch directory: one output file (factory_job_output), or for an installer
 * a prepared image (installer_image_prepare) whose blobs, rows and registry entry the main thread
 * adds. */
struct job {
    struct model *model;
    char path[ASSET_PATH_MAX]; /* "metal-amd64.iso": asset_path_format(name) */
    struct asset_path name;
    const struct factory_recipe *recipe; /* recipe.h: by the name's kind */
    char key[SHA256_HEX_LEN + 1];
    struct bundle_writer_hit hit; /* reused */
    bool reused;                  /* the base bundle has it: committed without a build */
    char *scratch;                /* WRITER_SCRATCH/job-N: the builder's own files */
    char *output;                 /* the built file (factory_job_output), added by the main thread */
    bool move;
    struct installer_prepared *installer; /* an installer's image, added by the main thread */
    size_t number;                        /* in plan order: its index in the job pool */
};

/* ---- factory.c: the stage driver ---- */

/* An event: begin a JSON object of `type`, add fields, end it with its human line (the live
 * display's log, a line, or NDJSON). */
void factory_event_begin(struct factory *f, struct json_writer *w, struct buffer *b, const char *type);
void factory_event_end(struct factory *f, struct json_writer *w, struct buffer *b, const char *human);
/* platform ("linux/amd64[/v]") is arch's */
bool factory_platform_has_arch(const char *platform, const char *arch);
/* The imported image of a role for a version, preferring arch's platform (NULL arch: any); NULL. */
const struct imported *factory_find_role(struct factory *f, enum source_role role, const char *version, const char *arch);
/* The version's catalogs, read on first use (main thread); NULL with err. */
struct version_catalog *factory_catalog(struct factory *f, const char *version, struct error *err);
/* A once-step keyed by a STORE/work/ cache directory (job_pool_once): fn(f, arg) runs once. */
typedef int factory_once_fn(struct factory *f, void *arg, struct error *err);
int factory_once(struct factory *f, const char *key, factory_once_fn *fn, void *arg, struct error *err);
/* Compressor threads for a step starting now (job_pool_threads). */
int factory_threads(struct factory *f);
/* The job the calling worker runs; NULL on the main thread. */
struct job *factory_current_job(struct factory *f);
/* Where a recipe puts its files: the job's own scratch directory. */
const char *factory_scratch_dir(struct factory *f);
/* A recipe's output file: the main thread moves (or copies) it into the bundle at the job's commit. */
int factory_job_output(struct factory *f, const char *file, bool move, struct error *err);

/* ---- model.c: one schematic x version x arch ---- */

int model_prepare(struct model *m, size_t number, struct error *err);
void model_free(struct model *m);
int model_imager(struct model *m, struct error *err);
int model_extensions(struct model *m, struct error *err);
int model_quirks(struct model *m, bool secureboot, struct talos_quirks *q, struct error *err);
int model_initramfs(struct model *m, struct error *err);
int model_uki(struct model *m, const struct secureboot_signer *signer, const char *cmdline, enum uki_output output,
              const char *out_path, struct error *err);
int model_overlay(struct model *m, struct error *err);
int model_cmdline(struct model *m, const struct asset_path *name, enum cmdline_kind kind, struct buffer *out,
                  struct error *err);
/* STORE/work/ext/<manifest hex>: an extension (or overlay) image flattened once; caller frees. */
char *factory_flatten_extension(struct factory *f, const struct imported *im, struct error *err);
/* The imager's GRUB module directory (caller frees) and the grub-mkimage to use (tool). */
char *factory_imager_grub(struct factory *f, const char *version, const struct imported *imager, struct grub_tool *tool,
                          struct error *err);
/* The image cache for arch (plan time, main thread). */
int factory_image_cache_for(struct factory *f, const char *arch, const struct built_image_cache **out, struct error *err);
/* The model's image cache for an ISO or disk image, or NULL when its schematic has none. */
const struct built_image_cache *model_image_cache(const struct model *m, const struct asset_path *name);
/* SecureBoot inputs */
int factory_load_secureboot(struct factory *f, struct error *err);
int factory_asset_signer(struct model *m, const char *path, const struct asset_path *name,
                         const struct secureboot_signer **out, struct error *err);
void factory_secureboot_cache_inputs(struct model *m, const struct asset_path *name, struct buffer *b);
int factory_asset_sdboot(struct model *m, const char *path, const struct asset_path *name, const char **out,
                         char **owned, struct error *err);
int factory_enroll_mode(struct model *m, const char *path, const char *dflt, const char **out, struct error *err);
int factory_enrollment_write(struct model *m, const char *path, const struct secureboot_signer *signer, char **dir,
                             char *paths[3], struct error *err);
void factory_enrollment_remove(char **dir, char *paths[], size_t count);

/* ---- bundle_rows.c: the rows that are not assets ---- */

int factory_add_catalog_rows(struct factory *f, const char *version, struct error *err);
int factory_add_talosctl_rows(struct factory *f, const char *version, struct error *err);
int factory_add_source_rows(struct factory *f, struct error *err);
int factory_add_cluster_images(struct factory *f, struct error *err);
int factory_add_public_key(struct factory *f, struct error *err);

#endif
