/* factory — see include/airfactory/factory.h.
 *
 * Reading order: factory_build() at the bottom drives everything; above it, one section per stage.
 * Every intermediate file lives either in STORE/work/ (extracted sources: immutable, keyed by the
 * manifest digest they came from, so they are reused across builds) or in the bundle writer's
 * scratch directory (built assets, moved into the bundle without a copy).
 *
 * Threads (stage 4, "running the plan"): assets are built by -j worker threads, but only the main
 * thread touches the bundle writer, the catalogs and the counters, and it commits assets in plan
 * order — so the bundle is the same for any -j. What workers share is either settled before they
 * start (plan_jobs) or produced by a once-step (once_run, job_pool_once). */
#include "airfactory/factory.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "airfactory/buffer.h"
#include "airfactory/bundle_key.h"
#include "bundle/bundle_staging.h"
#include "airfactory/bundle_merge.h"
#include "bundle/bundle_writer.h"
#include "imager/catalog.h"
#include "imager/cmdline.h"
#include "core/digest.h"
#include "imager/disk_image.h"
#include "imager/extensions.h"
#include "imager/grub_tool.h"
#include "core/fs.h"
#include "core/fs_root.h"
#include "core/yaml_value.h"
#include "imager/initramfs.h"
#include "imager/installer.h"
#include "imager/iso.h"
#include "imager/image_cache.h"
#include "core/json.h"
#include "imager/kernel.h"
#include "imager/overlay.h"
#include "oci/layer_flatten.h"
#include "core/memory.h"
#include "oci/oci_import.h"
#include "format/authenticode.h"
#include "imager/secureboot.h"
#include "factory/job_pool.h"
#include "factory/progress.h"
#include "oci/store.h"
#include "registry/registry_ref.h"
#include "imager/talosctl.h"
#include "imager/uki.h"

/* ------------------------------------------------------------------ progress events */

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
    size_t committed;             /* main thread: jobs committed so far */
    struct progress *progress;    /* the TTY display; NULL: line events */
    pthread_mutex_t display_lock; /* one writer of the terminal at a time; guards the fields below */
    pthread_cond_t display_cond;  /* wakes the display thread to stop */
    pthread_t display_thread;
    bool display_running, display_stop;
    size_t shown_committed, shown_reused; /* the main thread's counters, published for the display */
    uint64_t shown_bytes;
};

static void event_begin(struct factory *f, struct json_writer *w, struct buffer *b, const char *type)
{
    (void)f;
    json_writer_init(w, b);
    w->escape_html = false;
    json_object_begin(w);
    json_kv_string(w, "event", type);
}

static void event_end(struct factory *f, struct json_writer *w, struct buffer *b, const char *human)
{
    json_object_end(w);
    FILE *out = f->request->events;
    if (f->progress) {
        pthread_mutex_lock(&f->display_lock);
        progress_log(f->progress, human); /* above the live display, which redraws below it */
        pthread_mutex_unlock(&f->display_lock);
    } else if (out) {
        if (f->request->json)
            fprintf(out, "%s\n", buffer_cstr(b));
        else
            fprintf(out, "%s\n", human);
        fflush(out);
    }
    buffer_free(b);
}

/* ------------------------------------------------------------------ stage 1: sources */

/* The tag of a reference ("ghcr.io/x/imager:v1.11.3" -> "v1.11.3"), or NULL. */
static const char *reference_tag(const char *reference)
{
    if (!reference)
        return NULL;
    const char *colon = strrchr(reference, ':');
    if (!colon || strchr(colon, '/') || strchr(reference, '@'))
        return NULL;
    return colon + 1;
}

static int import_sources(struct factory *f, struct error *err)
{
    const struct factory_request *r = f->request;
    for (size_t i = 0; i < r->source_count; i++) {
        const struct factory_source *s = &r->sources[i];
        struct oci_import_options options = {
            .policy = s->policy,
            .reference = s->reference,
            .role = source_role_name(s->role),
        };
        struct oci_platform *platforms = s->platform_count ? xcalloc(s->platform_count, sizeof *platforms) : NULL;
        for (size_t k = 0; k < s->platform_count; k++)
            if (oci_platform_parse(s->platforms[k], &platforms[k], err) != 0) {
                free(platforms);
                return error_prefix(err, "source %s (%s): ", s->path, s->reference);
            }
        options.platforms = platforms;
        options.platform_count = s->platform_count;
        struct oci_import_result *results = NULL;
        size_t count = 0;
        int irc = oci_import(f->store, s->path, &options, &results, &count, NULL, err);
        free(platforms);
        if (irc != 0)
            return error_prefix(err, "source %s (%s): ", s->path, source_role_name(s->role));
        const char *version = s->version ? s->version : reference_tag(s->reference);
        f->imported = xrealloc(f->imported, (f->imported_count + count) * sizeof *f->imported);
        for (size_t k = 0; k < count; k++) {
            struct imported *im = &f->imported[f->imported_count++];
            im->source = s;
            im->version = version ? xstrdup(version) : NULL;
            im->result = results[k];
            struct json_writer w;
            struct buffer b = BUFFER_INIT;
            event_begin(f, &w, &b, "source_verified");
            json_kv_string(&w, "reference", results[k].image.reference ? results[k].image.reference : "");
            json_kv_string(&w, "platform", results[k].platform);
            json_kv_string(&w, "digest", results[k].image.digest);
            json_kv_string(&w, "method", results[k].receipt.method);
            char *human = xasprintf("verified %s (%s) %s: %s", results[k].image.reference, results[k].platform,
                                    results[k].image.digest, results[k].receipt.method);
            event_end(f, &w, &b, human);
            free(human);
        }
        free(results); /* entries moved into f->imported */
        f->stats.sources++;
    }
    return 0;
}

static bool platform_has_arch(const char *platform, const char *arch)
{
    char want[OCI_PLATFORM_SIZE];
    snprintf(want, sizeof want, "linux/%s", arch);
    size_t n = strlen(want);
    return strncmp(platform, want, n) == 0 && (platform[n] == '\0' || platform[n] == '/');
}

/* The imported image of a role for a version, preferring the given arch's platform (imager and
 * catalogs carry every arch's files in each platform image, so any platform will do). */
static const struct imported *find_role(struct factory *f, enum source_role role, const char *version, const char *arch)
{
    const struct imported *any = NULL;
    for (size_t i = 0; i < f->imported_count; i++) {
        const struct imported *im = &f->imported[i];
        if (im->source->role != role || !im->version || strcmp(im->version, version) != 0)
            continue;
        if (arch && platform_has_arch(im->result.platform, arch))
            return im;
        if (!any)
            any = im;
    }
    return any;
}

/* ------------------------------------------------------------------ stage 2: catalogs */

static struct version_catalog *catalog_for(struct factory *f, const char *version, struct error *err)
{
    for (size_t i = 0; i < f->catalog_count; i++)
        if (strcmp(f->catalogs[i].version, version) == 0)
            return &f->catalogs[i];
    f->catalogs = xrealloc(f->catalogs, (f->catalog_count + 1) * sizeof *f->catalogs);
    struct version_catalog *vc = &f->catalogs[f->catalog_count++];
    memset(vc, 0, sizeof *vc);
    vc->version = xstrdup(version);

    const struct imported *ext = find_role(f, SOURCE_ROLE_EXTENSIONS, version, "amd64");
    if (ext) {
        /* only image-digests is required: descriptions.yaml came with the Talos 1.7 catalogs */
        struct buffer digests = BUFFER_INIT, descriptions = BUFFER_INIT;
        int rc = layer_read_file(f->store, &ext->result.image, "image-digests", 16u << 20, &digests, err);
        if (rc == 1 &&
            layer_read_file(f->store, &ext->result.image, "descriptions.yaml", 16u << 20, &descriptions, err) < 0)
            rc = -1;
        if (rc < 0) {
            buffer_free(&digests);
            buffer_free(&descriptions);
            return NULL;
        }
        if (rc == 0) {
            buffer_free(&digests);
            buffer_free(&descriptions);
            error_set(err, ERROR_INPUT,
                      "extensions catalog %s has no /image-digests; check the source's role and "
                      "reference",
                      ext->result.image.reference);
            return NULL;
        }
        if (catalog_parse_extensions(&vc->catalog, buffer_cstr(&digests), digests.len, buffer_cstr(&descriptions),
                                     descriptions.len, ext->result.image.reference, err) != 0) {
            buffer_free(&digests);
            buffer_free(&descriptions);
            return NULL;
        }
        buffer_free(&digests);
        buffer_free(&descriptions);
        vc->have_extensions = true;
    }
    const struct imported *ovl = find_role(f, SOURCE_ROLE_OVERLAYS, version, "amd64");
    if (ovl) {
        struct buffer text = BUFFER_INIT;
        int rc = layer_read_file(f->store, &ovl->result.image, "overlays.yaml", 16u << 20, &text, err);
        if (rc < 0 || (rc == 1 && catalog_parse_overlays(&vc->catalog, buffer_cstr(&text), text.len,
                                                         ovl->result.image.reference, err) != 0)) {
            buffer_free(&text);
            return NULL;
        }
        vc->have_overlays = rc == 1;
        buffer_free(&text);
    }
    return vc;
}

/* ------------------------------------------------------------------ stage 3: extracted inputs */

/* Once-steps (job_pool_once). STORE/work/ caches (an imager's boot files, a flattened extension, the
 * GRUB tree) are shared by every model of a version and arch, and models build in parallel: the
 * first thread that needs one fills it while the others wait for it instead of extracting the same
 * layer twice into the same directory. A failure is remembered and handed to every waiter, so each
 * asset that needed the step reports why. Keys are the cache directories themselves. */
typedef int once_fn(struct factory *f, void *arg, struct error *err);

struct once_call {
    struct factory *f;
    once_fn *fn;
    void *arg;
};

static int once_call(void *arg, struct error *err)
{
    struct once_call *c = arg;
    return c->fn(c->f, c->arg, err);
}

static int once_run(struct factory *f, const char *key, once_fn *fn, void *arg, struct error *err)
{
    struct once_call c = {f, fn, arg};
    return job_pool_once(f->pool, key, once_call, &c, err);
}

/* Compressor threads for a step starting now: -j split between the threads that are working, so
 * one initramfs alone gets every core and four parallel ones a quarter each (output bytes do not
 * depend on it: compress.h). */
static int factory_threads(struct factory *f)
{
    return job_pool_threads(f->pool);
}

struct imager_files {
    char *dir; /* STORE/work/imager/<hex>/<arch> */
    char *vmlinuz, *initramfs, *stub, *systemd_boot;
    const struct imported *imager;
};

static void imager_files_free(struct imager_files *x)
{
    free(x->dir);
    free(x->vmlinuz);
    free(x->initramfs);
    free(x->stub);
    free(x->systemd_boot);
    memset(x, 0, sizeof *x);
}

/* Where a version's boot files for arch live (no I/O: the plan needs only the imager's digest). */
static int imager_files_locate(struct factory *f, const char *version, const char *arch, struct imager_files *out,
                               struct error *err)
{
    memset(out, 0, sizeof *out);
    const struct imported *im = find_role(f, SOURCE_ROLE_IMAGER, version, arch);
    if (!im)
        return error_set(err, ERROR_INPUT,
                         "no imager source for Talos %s; add the OCI tarball of ghcr.io/siderolabs/imager:%s to the "
                         "manifest's sources with role: imager",
                         version, version);
    out->imager = im;
    char *base = xasprintf("%s/imager/%s/%s", f->work_dir, im->result.image.manifest_digest + 7, arch);
    out->dir = base;
    out->vmlinuz = path_join(base, "vmlinuz");
    out->initramfs = path_join(base, "initramfs.xz");
    out->stub = path_join(base, "systemd-stub.efi");
    out->systemd_boot = path_join(base, "systemd-boot.efi");
    return 0;
}

struct imager_extraction {
    const struct imager_files *files;
    const char *version, *arch;
};

/* A once-step (once_run, keyed by the directory): fill it unless a previous build did. */
static int imager_files_extract_step(struct factory *f, void *arg, struct error *err)
{
    const struct imager_extraction *x = arg;
    const struct imager_files *out = x->files;
    const struct imported *im = out->imager;
    const char *arch = x->arch, *version = x->version;
    char *done = path_join(out->dir, ".complete");
    bool complete = fs_exists(done);
    if (!complete) {
        if (fs_mkdir_p(out->dir, 0755, err) != 0) {
            free(done);
            return -1;
        }
        char *paths[4], *dests[4] = {out->vmlinuz, out->initramfs, out->stub, out->systemd_boot};
        const char *names[4] = {"vmlinuz", "initramfs.xz", "systemd-stub.efi", "systemd-boot.efi"};
        struct layer_extract_file files[4];
        memset(files, 0, sizeof files);
        for (int i = 0; i < 4; i++) {
            paths[i] = xasprintf("usr/install/%s/%s", arch, names[i]);
            files[i].path = paths[i];
            files[i].dest = dests[i];
        }
        /* vmlinuz and initramfs are required; the EFI files exist only where Talos ships them */
        int rc = layer_extract(f->store, &im->result.image, files, 4, true, NULL, err);
        for (int i = 0; i < 4; i++)
            free(paths[i]);
        if (rc == 0 && (!files[0].found || !files[1].found))
            rc = error_set(err, ERROR_INPUT, "imager %s (%s) has no usr/install/%s/%s; is it a Talos imager image?",
                           im->result.image.reference, im->result.image.digest, arch,
                           files[0].found ? "initramfs.xz" : "vmlinuz");
        if (rc == 0)
            rc = fs_write_file_atomic(done, "", 0, 0644, err);
        if (rc != 0) {
            free(done);
            return error_prefix(err, "extracting the %s boot files of Talos %s: ", arch, version);
        }
    }
    free(done);
    return 0;
}

/* The imager's boot files, extracted on first use (by whichever thread gets there first). */
static int imager_files_extract(struct factory *f, const struct imager_files *files, const char *version,
                                const char *arch, struct error *err)
{
    struct imager_extraction x = {files, version, arch};
    return once_run(f, files->dir, imager_files_extract_step, &x, err);
}

struct flatten_request {
    const struct imported *image;
    const char *dir;
    const char *prefix;        /* NULL: the whole image */
    const char *resolve_links; /* image directory whose links are resolved (layer_flatten_options) */
};

/* A once-step: layer_flatten renames its temporary directory into place when complete, so an
 * existing directory is a finished one (even after a kill -9). */
static int flatten_step(struct factory *f, void *arg, struct error *err)
{
    const struct flatten_request *x = arg;
    if (fs_is_dir(x->dir))
        return 0;
    char *parent = xstrdup(x->dir);
    char *slash = strrchr(parent, '/');
    if (slash)
        *slash = '\0';
    int rc = fs_mkdir_p(parent, 0755, err);
    free(parent);
    struct layer_flatten_options options = {.prefix = x->prefix, .resolve_links = x->resolve_links};
    if (rc == 0)
        rc = layer_flatten(f->store, &x->image->result.image, x->dir, &options, err);
    return rc;
}

/* Flatten an extension image into STORE/work/ext/<manifest hex>; returns the directory. */
static char *flatten_extension(struct factory *f, const struct imported *im, struct error *err)
{
    char *dir = xasprintf("%s/ext/%s", f->work_dir, im->result.image.manifest_digest + 7);
    struct flatten_request x = {im, dir, NULL, NULL}; /* links stay: readers resolve them in the tree */
    if (once_run(f, dir, flatten_step, &x, err) != 0) {
        free(dir);
        return NULL;
    }
    return dir;
}

struct grub_check_request {
    const struct grub_tool *tool;
    const char *grub_dir;
};

static int grub_check_step(struct factory *f, void *arg, struct error *err)
{
    (void)f;
    const struct grub_check_request *x = arg;
    char *log = xasprintf("%s.grub-mkimage-version.log", x->grub_dir);
    int rc = grub_tool_check(x->tool, x->grub_dir, log, err);
    free(log);
    return rc;
}

/* The imager's GRUB pair (grub_tool.h): its usr/lib/grub and the grub-mkimage of the same GRUB
 * build. Both come from the imager platform of the build host's arch when that platform was
 * verified (an unverified image's programs are never run) and carries usr/bin/grub-mkimage: that
 * platform is flattened once per imager. Otherwise the model's platform gives the modules
 * (usr/lib/grub only) and the host gives grub-mkimage. The pair's versions are checked once.
 * Either way the module tree is handed over with every symlink under usr/lib/grub replaced by
 * what it resolves to inside the imager (grub-mkimage and libisofs read it by name and must never
 * follow a link onto the build host); the cache directories were renamed (tree, grub-resolved)
 * when that began, so trees cached by older builds are not reused.
 * imager is the model's platform of the version's imager. Returns the module directory (caller
 * frees) and fills tool (caller frees), or NULL. */
static char *imager_grub(struct factory *f, const char *version, const struct imported *imager, struct grub_tool *tool,
                         struct error *err)
{
    const char *host = grub_tool_host_arch();
    const struct imported *h = host ? find_role(f, SOURCE_ROLE_IMAGER, version, host) : NULL;
    char *dir = NULL;
    int found = 0;
    if (h && platform_has_arch(h->result.platform, host) && strcmp(h->result.receipt.method, "insecure") != 0) {
        char *root = xasprintf("%s/imager/%s/tree", f->work_dir, h->result.image.manifest_digest + 7);
        struct flatten_request x = {h, root, NULL, "usr/lib/grub"};
        if (once_run(f, root, flatten_step, &x, err) != 0) {
            free(root);
            return NULL;
        }
        found = grub_tool_from_tree(root, tool, err);
        if (found == 1)
            dir = path_join(root, "usr/lib/grub");
        free(root);
        if (found < 0)
            return NULL;
    }
    if (!found) {
        dir = xasprintf("%s/imager/%s/grub-resolved", f->work_dir, imager->result.image.manifest_digest + 7);
        struct flatten_request x = {imager, dir, "usr/lib/grub", "usr/lib/grub"};
        if (once_run(f, dir, flatten_step, &x, err) != 0) {
            free(dir);
            return NULL;
        }
        grub_tool_host(tool);
    }
    char *key = xasprintf("%s#grub-mkimage", dir);
    struct grub_check_request c = {tool, dir};
    int rc = once_run(f, key, grub_check_step, &c, err);
    free(key);
    if (rc != 0) {
        error_prefix(err, "imager %s: ", imager->result.image.reference);
        grub_tool_free(tool);
        free(dir);
        return NULL;
    }
    return dir;
}

/* The imported extension image behind a catalog entry, for one arch. */
static const struct imported *find_extension_image(struct factory *f, const char *digest, const char *arch)
{
    for (size_t i = 0; i < f->imported_count; i++) {
        const struct imported *im = &f->imported[i];
        if (strcmp(im->result.image.digest, digest) != 0 && strcmp(im->result.image.manifest_digest, digest) != 0)
            continue;
        if (platform_has_arch(im->result.platform, arch))
            return im;
    }
    return NULL;
}

/* ------------------------------------------------------------------ stage 4: models */

struct job;
static struct job *current_job(struct factory *f);

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

static void model_free(struct model *m)
{
    imager_files_free(&m->imager);
    for (size_t i = 0; i < m->extension_count; i++)
        free(m->extension_dirs ? m->extension_dirs[i] : NULL);
    free(m->extension_dirs);
    free(m->extension_images);
    if (m->initramfs_path)
        unlink(m->initramfs_path);
    free(m->initramfs_path);
    if (m->scratch) {
        struct error ignored;
        fs_remove_tree(m->scratch, &ignored);
    }
    free(m->scratch);
    free(m->source_digests);
    free(m->overlay_label);
    overlay_options_free(&m->overlay);
    memset(m, 0, sizeof *m);
}

/* Plan time (main thread): where the imager's files go, the model's scratch directory. */
static int model_prepare(struct model *m, size_t number, struct error *err)
{
    struct factory *f = m->f;
    const struct schematic *s = m->schematic->schematic;
    if (imager_files_locate(f, m->version, m->arch, &m->imager, err) != 0)
        return -1;
    m->source_digests = xcalloc(s->extension_count + 2, sizeof *m->source_digests);
    m->source_digests[m->source_digest_count++] = m->imager.imager->result.image.digest;
    m->scratch = xasprintf("%s/model-%zu", bundle_writer_scratch_dir(f->writer), number);
    return fs_mkdir_p(m->scratch, 0700, err);
}

/* The imager's boot files on disk (a job's first step). */
static int model_imager(struct model *m, struct error *err)
{
    return imager_files_extract(m->f, &m->imager, m->version, m->arch, err);
}

/* Plan time (main thread): the overlay image the schematic names, through its version's overlays
 * catalog, for the build host's arch: Image Factory runs the overlay's installer from the image of
 * its own arch (profile.go: runtime.GOARCH). Only imported, hence verified, images qualify. */
static int model_overlay_image(struct model *m, struct error *err)
{
    struct factory *f = m->f;
    const struct schematic *s = m->schematic->schematic;
    struct version_catalog *vc = catalog_for(f, m->version, err);
    if (!vc)
        return -1;
    if (!vc->have_overlays)
        return error_set(err, ERROR_INPUT,
                         "schematic %s (%s) has an overlay, but the manifest has no overlays catalog for Talos %s; "
                         "add ghcr.io/siderolabs/overlays:%s with role: overlays",
                         m->schematic->name, m->id, m->version, m->version);
    const struct catalog_overlay *co = catalog_find_overlay(&vc->catalog, s->overlay_name);
    if (!co)
        return error_set(err, ERROR_INPUT,
                         "schematic %s (%s): overlay %s is not available for Talos %s (its catalog lists %zu "
                         "overlays); fix overlay.name or pick a version that has it",
                         m->schematic->name, m->id, s->overlay_name, m->version, vc->catalog.overlay_count);
    const char *host = grub_tool_host_arch();
    const struct imported *im = find_extension_image(f, co->digest, host);
    if (!im)
        return error_set(err, ERROR_INPUT,
                         "schematic %s (%s), Talos %s: overlay %s is %s, which is not among the imported sources "
                         "for linux/%s (its installer runs on this build host); add its OCI tarball with every "
                         "platform to the manifest's sources",
                         m->schematic->name, m->id, m->version, co->name, co->reference, host);
    const struct imported *target = find_extension_image(f, co->digest, m->arch);
    if (!target)
        return error_set(err, ERROR_INPUT,
                         "schematic %s (%s), Talos %s: overlay %s is %s, which is not among the imported sources "
                         "for linux/%s (its artifacts go into %s assets); add its OCI tarball with every platform",
                         m->schematic->name, m->id, m->version, co->name, co->reference, m->arch, m->arch);
    m->overlay_image = im;
    m->overlay_target = target;
    m->overlay_label = xasprintf("overlay %s (%s@%s)", co->name, im->result.image.reference, im->result.image.digest);
    return 0;
}

/* Plan time (main thread: the catalogs are not shared with workers): which imported image each of
 * the schematic's extensions is. Only assets that contain an initramfs need them: an amd64-only
 * microcode extension must not stop kernel-arm64. */
static int model_extensions(struct model *m, struct error *err)
{
    struct factory *f = m->f;
    const struct schematic *s = m->schematic->schematic;
    if (m->extensions_resolved)
        return 0;
    if (s->extension_count) {
        struct version_catalog *vc = catalog_for(f, m->version, err);
        if (!vc)
            return -1;
        if (!vc->have_extensions)
            return error_set(err, ERROR_INPUT,
                             "schematic %s (%s) asks for system extensions, but the manifest has no extensions "
                             "catalog for Talos %s; add ghcr.io/siderolabs/extensions:%s with role: extensions",
                             m->schematic->name, m->id, m->version, m->version);
        m->extension_images = xcalloc(s->extension_count, sizeof *m->extension_images);
        for (size_t i = 0; i < s->extension_count; i++) {
            const struct catalog_extension *ce = catalog_find_extension(&vc->catalog, s->extensions[i]);
            if (!ce)
                return error_set(err, ERROR_INPUT,
                                 "schematic %s (%s): extension %s is not available for Talos %s (its catalog lists "
                                 "%zu extensions); remove it from the schematic or pick a version that has it",
                                 m->schematic->name, m->id, s->extensions[i], m->version, vc->catalog.extension_count);
            const struct imported *im = find_extension_image(f, ce->digest, m->arch);
            if (!im)
                return error_set(err, ERROR_INPUT,
                                 "schematic %s (%s), Talos %s, %s: extension %s is %s, which is not among the "
                                 "imported sources for linux/%s; add its OCI tarball to the manifest's sources",
                                 m->schematic->name, m->id, m->version, m->arch, ce->name, ce->reference, m->arch);
            m->extension_images[m->extension_count++] = im;
        }
    }
    if (schematic_has_overlay(s) && model_overlay_image(m, err) != 0)
        return -1;
    for (size_t i = 0; i < m->extension_count; i++)
        m->source_digests[m->source_digest_count++] = m->extension_images[i]->result.image.digest;
    if (m->overlay_image)
        m->source_digests[m->source_digest_count++] = m->overlay_image->result.image.digest;
    m->extensions_resolved = true;
    return 0;
}

/* The version quirks of the model's Talos version and arch, with or without SecureBoot (the
 * profile set is loaded before the worker threads start). */
static int model_quirks(struct model *m, bool secureboot, struct talos_quirks *q, struct error *err)
{
    return profile_quirks_for(m->f->profiles, m->version, m->arch, secureboot, q, err);
}

/* The model's initramfs: a once-step, run by the first of its jobs that needs it. */
static int model_initramfs_step(struct factory *f, void *arg, struct error *err)
{
    struct model *m = arg;
    atomic_store(&m->initramfs_builder, current_job(f));
    if (model_imager(m, err) != 0)
        return -1;
    m->extension_dirs = xcalloc(m->extension_count + 1, sizeof *m->extension_dirs);
    for (size_t i = 0; i < m->extension_count; i++) {
        const struct imported *im = m->extension_images[i];
        if (!(m->extension_dirs[i] = flatten_extension(f, im, err)))
            return error_prefix(err, "extension %s (%s): ", im->result.image.reference, im->result.image.digest);
    }
    struct initramfs_options o = {0};
    struct talos_quirks q;
    if (model_quirks(m, false, &q, err) != 0)
        return -1;
    initramfs_options_for(&o, &q, m->version);
    /* errors about what is inside an image name the image, not the cache directory */
    char **labels = xcalloc(m->extension_count + 1, sizeof *labels);
    for (size_t i = 0; i < m->extension_count; i++)
        labels[i] = xasprintf("extension %s (%s)", m->extension_images[i]->result.image.reference,
                              m->extension_images[i]->result.image.digest);
    char *base_label = xasprintf("imager %s (%s): usr/install/%s/initramfs.xz", m->imager.imager->result.image.reference,
                                 m->imager.imager->result.image.digest, m->arch);
    o.base_path = m->imager.initramfs;
    o.base_label = base_label;
    o.extension_dirs = (const char *const *)m->extension_dirs;
    o.extension_labels = (const char *const *)labels;
    o.extension_count = m->extension_count;
    o.talos_version = m->version;
    o.schematic_id = m->id;
    /* Image Factory writes the schematic as extraInfo only where overlays exist (schematic.go:
     * quirks SupportsOverlay, Talos >= 1.7) */
    o.schematic_yaml = q.supports_overlay ? m->yaml : NULL;
    /* the plan refused it before Talos 1.12 (the embeddedConfig quirk), as Image Factory does */
    const char *config = m->schematic->schematic->embedded_machine_configuration;
    if (config && config[0]) {
        o.embedded_config = config;
        o.embedded_config_len = strlen(config);
    }
    o.mtime = f->epoch;
    o.threads = factory_threads(f);
    o.work_dir = m->scratch;
    char *out = xasprintf("%s/initramfs-%s-%s-%s.xz", m->scratch, m->id, m->version, m->arch);
    int rc = initramfs_build(&o, out, err);
    for (size_t i = 0; i < m->extension_count; i++)
        free(labels[i]);
    free(labels);
    free(base_label);
    if (rc != 0) {
        free(out);
        return error_prefix(err, "initramfs for schematic %s, Talos %s, %s: ", m->id, m->version, m->arch);
    }
    m->initramfs_path = out;
    return 0;
}

static int model_initramfs(struct model *m, struct error *err)
{
    char *key = xasprintf("%s/initramfs", m->scratch);
    int rc = once_run(m->f, key, model_initramfs_step, m, err);
    free(key);
    return rc;
}

/* The model's UKI for one output: the imager's systemd-stub + kernel + this model's initramfs + the
 * given command line, with Talos' profiles for that kind of output (one place for every caller:
 * UKI, ISO, disk image and installer assets). */
static int model_uki(struct model *m, const struct secureboot_signer *signer, const char *cmdline,
                     enum uki_output output, const char *out_path, struct error *err)
{
    struct talos_quirks q;
    if (model_initramfs(m, err) != 0 || model_quirks(m, signer != NULL, &q, err) != 0)
        return -1;
    struct uki_profile_set profiles;
    uki_profiles_for(&profiles, &q, output, cmdline);
    struct uki_options o = {
        .stub_path = m->imager.stub,
        .kernel_path = m->imager.vmlinuz,
        .initrd_path = m->initramfs_path,
        .cmdline = cmdline,
        .talos_version = m->version,
        .profiles = profiles.profiles,
        .profile_count = profiles.count,
        .timestamp = m->f->epoch,
        .signer = signer,
    };
    int rc = uki_build(&o, out_path, err);
    uki_profile_set_free(&profiles);
    return rc;
}

/* The overlay installer's get-options (overlay.h), once per model: its image flattened (shared
 * cache), run in a scratch directory of the model with the schematic's overlay.options. */
static int model_overlay_step(struct factory *f, void *arg, struct error *err)
{
    struct model *m = arg;
    char *root = flatten_extension(f, m->overlay_image, err);
    if (!root)
        return error_prefix(err, "%s: ", m->overlay_label);
    const struct schematic *s = m->schematic->schematic;
    struct buffer options = BUFFER_INIT;
    char *scratch = xasprintf("%s/overlay-get-options", m->scratch);
    int rc = s->overlay_options ? yaml_value_encode(s->overlay_options, &options, err) : 0;
    if (!rc)
        rc = fs_mkdir_p(scratch, 0700, err);
    struct overlay_installer o = {root, s->overlay_name, m->overlay_label, 0};
    if (!rc)
        rc = overlay_get_options(&o, buffer_cstr(&options), scratch, &m->overlay, err);
    if (!rc) {
        struct error ignored;
        fs_remove_tree(scratch, &ignored);
    }
    buffer_free(&options);
    free(scratch);
    free(root);
    return rc;
}

static int model_overlay(struct model *m, struct error *err)
{
    if (!m->overlay_image)
        return 0;
    char *key = xasprintf("%s/overlay", m->scratch);
    int rc = once_run(m->f, key, model_overlay_step, m, err);
    free(key);
    return rc;
}

/* kind: CMDLINE_KIND_* — the cmdline asset, the ISO's, the UKI's differ (talos-imager.md §3). */
static int model_cmdline(struct model *m, const struct asset_path *name, enum cmdline_kind kind, struct buffer *out,
                         struct error *err)
{
    struct factory *f = m->f;
    struct cmdline_request request = {
        .version = m->version,
        .platform = name->platform,
        .arch = m->arch,
        .kind = kind,
        .secureboot = name->secureboot,
        .schematic = m->schematic->schematic,
    };
    /* the overlay's kernel args (SetAll after the platform's), for everything but the cmdline asset,
     * which Image Factory builds without the overlay (profile.go) */
    if (kind != CMDLINE_KIND_CMDLINE) {
        if (model_overlay(m, err) != 0)
            return -1;
        request.overlay_args = (const char *const *)m->overlay.kernel_args;
        request.overlay_arg_count = m->overlay.kernel_arg_count;
    }
    return cmdline_build(f->profiles, &request, out, err);
}

/* installer: defined with the installer helpers above build_asset */
static int installer_cache_inputs(struct model *m, const struct asset_path *name, struct buffer *b, struct error *err);

static void secureboot_cache_inputs(struct model *m, const struct asset_path *name, struct buffer *b);
struct built_image_cache;
static int image_cache_for(struct factory *f, const char *arch, const struct built_image_cache **out, struct error *err);

/* Cache key: every input that can change the bytes of an asset — and nothing else, so an asset is
 * rebuilt only when it must be: the kernel depends on the imager alone, a cmdline on the schematic,
 * version and platform profile (part of the builder), everything holding an initramfs on the imager
 * and every extension image. */
static int asset_cache_key(struct model *m, const char *path, const struct asset_path *name,
                           char key[SHA256_HEX_LEN + 1], struct error *err)
{
    struct buffer b = BUFFER_INIT;
    buffer_appendf(&b, "airfactory-asset-v1\nbuilder=%s\npath=%s\nschematic=%s\nversion=%s\narch=%s\n",
                   AIRFACTORY_VERSION, path, m->id, m->version, m->arch);
    if (name->kind != ASSET_CMDLINE)
        buffer_appendf(&b, "imager=%s\n", m->imager.imager->result.image.manifest_digest);
    if (name->kind != ASSET_CMDLINE && name->kind != ASSET_KERNEL) {
        if (model_extensions(m, err) != 0) {
            buffer_free(&b);
            return -1;
        }
        for (size_t i = 0; i < m->extension_count; i++)
            buffer_appendf(&b, "extension=%s\n", m->extension_images[i]->result.image.manifest_digest);
        if (m->overlay_image)
            buffer_appendf(&b, "overlay=%s\n", m->overlay_image->result.image.manifest_digest);
        /* disk images of overlay schematics built before the install step and the partition
         * offset existed (same builder version) must not be reused */
        if (m->overlay_image && name->kind == ASSET_IMAGE)
            buffer_appendf(&b, "overlay-disk=install,offset\n");
    }
    secureboot_cache_inputs(m, name, &b);
    if (m->schematic->image_cache && (name->kind == ASSET_ISO || name->kind == ASSET_IMAGE)) {
        const struct built_image_cache *ic;
        if (image_cache_for(m->f, m->arch, &ic, err) != 0) {
            buffer_free(&b);
            return -1;
        }
        buffer_append(&b, ic->key, strlen(ic->key));
    }
    if (name->kind == ASSET_INSTALLER && installer_cache_inputs(m, name, &b, err) != 0) {
        buffer_free(&b);
        return -1;
    }
    sha256_hex(b.data, b.len, key);
    buffer_free(&b);
    return 0;
}

/* ------------------------------------------------------------------ image cache */

/* The image cache for arch: every cluster image (role image) in its linux/<arch> platform, in the
 * request's source order; made once per build (main thread, plan time). */
static int image_cache_for(struct factory *f, const char *arch, const struct built_image_cache **out, struct error *err)
{
    for (size_t i = 0; i < f->image_cache_count; i++)
        if (!strcmp(f->image_caches[i].arch, arch)) {
            *out = &f->image_caches[i];
            return 0;
        }
    struct image_cache_entry *entries = xcalloc(f->imported_count + 1, sizeof *entries);
    size_t count = 0;
    struct buffer key = BUFFER_INIT;
    int rc = 0;
    for (size_t s = 0; rc == 0 && s < f->request->source_count; s++) {
        const struct factory_source *src = &f->request->sources[s];
        if (src->role != SOURCE_ROLE_IMAGE)
            continue;
        const struct imported *pick = NULL;
        for (size_t i = 0; i < f->imported_count && !pick; i++)
            if (f->imported[i].source == src && platform_has_arch(f->imported[i].result.platform, arch))
                pick = &f->imported[i];
        if (!pick) {
            rc = error_set(err, ERROR_INPUT,
                           "image cache for %s: image %s has no linux/%s platform; list one that "
                           "has, or set 'image-cache: false' on the schematics built for %s",
                           arch, src->reference, arch, arch);
            break;
        }
        entries[count++] = (struct image_cache_entry){pick->result.image.reference, pick->result.platform};
        buffer_appendf(&key, "image-cache=%s %s %s %s\n", pick->result.image.reference, pick->result.platform,
                       pick->result.image.digest, pick->result.image.manifest_digest);
    }
    if (rc == 0 && count == 0)
        rc = error_set(err, ERROR_INPUT,
                       "image cache for %s: the build has no cluster images ('images:' or "
                       "'talos-images:') to put in it",
                       arch);
    if (rc != 0) {
        free(entries);
        buffer_free(&key);
        return -1;
    }
    f->image_caches = xrealloc(f->image_caches, (f->image_cache_count + 1) * sizeof *f->image_caches);
    struct built_image_cache *c = &f->image_caches[f->image_cache_count++];
    memset(c, 0, sizeof *c);
    snprintf(c->arch, sizeof c->arch, "%s", arch);
    c->entries = entries;
    c->entry_count = count;
    c->dir = xasprintf("%s/imagecache-%s", bundle_writer_scratch_dir(f->writer), arch);
    c->key = xstrdup(buffer_cstr(&key));
    buffer_free(&key);
    *out = c;
    return 0;
}

/* The model's image cache for an ISO or disk image, or NULL when its schematic has none. Workers
 * only look it up: plan_jobs made every one they need. */
static const struct built_image_cache *model_image_cache(const struct model *m, const struct asset_path *name)
{
    if (!m->schematic->image_cache || (name->kind != ASSET_ISO && name->kind != ASSET_IMAGE))
        return NULL;
    for (size_t i = 0; i < m->f->image_cache_count; i++)
        if (!strcmp(m->f->image_caches[i].arch, m->arch))
            return &m->f->image_caches[i];
    return NULL;
}

/* One asset of the plan. Worker threads take jobs in plan order and run them; the main thread
 * commits them in plan order (blob, index rows, provenance, event) as they finish. Builders leave
 * only files in the job's scratch directory: one output file (add_built_file), or for an installer
 * a prepared image (installer_image_prepare) whose blobs, rows and registry entry the main thread
 * adds. */
struct job {
    struct model *model;
    char path[ASSET_PATH_MAX]; /* "metal-amd64.iso": asset_path_format(name) */
    struct asset_path name;
    char key[SHA256_HEX_LEN + 1];
    struct bundle_writer_hit hit; /* reused */
    bool reused;                  /* the base bundle has it: committed without a build */
    char *scratch;                /* WRITER_SCRATCH/job-N: the builder's own files */
    char *output;                 /* the built file (add_built_file), added by the main thread */
    bool move;
    struct installer_prepared *installer; /* an installer's image, added by the main thread */
    size_t number;                        /* in plan order: its index in the job pool */
};

/* Where a builder puts its files: the job's own directory in a worker (two models' metal-amd64.iso
 * may be built at the same time), the writer's scratch directory on the main thread. */
static struct job *current_job(struct factory *f)
{
    size_t i = f->pool ? job_pool_current(f->pool) : JOB_POOL_NONE;
    return i == JOB_POOL_NONE ? NULL : &f->plan[i];
}

static const char *job_scratch_dir(struct factory *f)
{
    struct job *j = current_job(f);
    return j ? j->scratch : bundle_writer_scratch_dir(f->writer);
}

static int add_built_file(struct model *m, const char *path, const char *file, bool move, const char *cache_key,
                          struct error *err)
{
    struct job *j = current_job(m->f);
    if (j) {
        /* a worker: the main thread adds it when it commits this job, in plan order */
        j->output = xstrdup(file);
        j->move = move;
        return 0;
    }
    char digest[BUNDLE_DIGEST_SIZE];
    uint64_t size = 0;
    if (bundle_writer_add_blob_file(m->f->writer, file, bundle_asset_media_type(path),
                                    move ? BUNDLE_BLOB_MOVE : BUNDLE_BLOB_COPY, NULL, digest, &size, err) != 0)
        return -1;
    m->f->stats.bytes_built += size;
    return bundle_writer_add_asset(m->f->writer, m->id, m->version, path, digest, cache_key, err);
}

/* ---- SecureBoot (owned by the secureboot branch): helpers for the -secureboot assets ---- */

/* Load the SecureBoot signer once, before anything is built, so a bad key fails the build early. */
static int load_secureboot(struct factory *f, struct error *err)
{
    const struct factory_request *r = f->request;
    if (!r->secureboot_key && !r->secureboot_cert)
        return 0;
    if (secureboot_signer_load(r->secureboot_key, r->secureboot_cert, r->secureboot_pcr_key, &f->signer, err) != 0)
        return -1;
    const char *const *files[2] = {r->secureboot_well_known_kek, r->secureboot_well_known_db};
    size_t counts[2] = {r->secureboot_well_known_kek_count, r->secureboot_well_known_db_count};
    for (int d = 0; d < 2; d++) {
        f->well_known[d] = xcalloc(counts[d] + 1, sizeof *f->well_known[d]);
        for (size_t i = 0; i < counts[d]; i++)
            if (secureboot_cert_load(files[d][i], &f->well_known[d][i], err) != 0)
                return error_prefix(err, "secureboot.%s: ", d ? "well_known_db" : "well_known_kek");
    }
    return 0;
}

/* The signer of a -secureboot asset (an input error when none is configured), NULL for others. */
static int asset_signer(struct model *m, const char *path, const struct asset_path *name,
                        const struct secureboot_signer **out, struct error *err)
{
    *out = NULL;
    if (!name->secureboot)
        return 0;
    if (!m->f->signer)
        return error_set(err, ERROR_INPUT,
                         "%s: SecureBoot assets are signed; give the manifest a 'secureboot:' "
                         "section {signing_key, signing_cert[, pcr_key]} or `airfactory build --secureboot-key KEY "
                         "--secureboot-cert CERT` (make a pair with `airfactory keygen --secureboot`)",
                         path);
    *out = m->f->signer;
    return 0;
}

/* Signed assets change with the keys: the certificate and the PCR public key are cache inputs. */
static void secureboot_cache_inputs(struct model *m, const struct asset_path *name, struct buffer *b)
{
    const struct secureboot_signer *s = m->f->signer;
    if (!name->secureboot || !s)
        return;
    char hex[SHA256_HEX_LEN + 1];
    sha256_hex(s->cert_der, s->cert_der_len, hex);
    buffer_appendf(b, "secureboot-cert=%s\n", hex);
    struct buffer pcr = BUFFER_INIT;
    secureboot_pcr_public_key(s, &pcr);
    sha256_hex(pcr.data, pcr.len, hex);
    buffer_appendf(b, "secureboot-pcr-key=%s\n", hex);
    buffer_free(&pcr);
    /* the enrollment files of ISOs and disk images hold these too */
    if (m->schematic->schematic->include_well_known_certificates)
        for (int d = 0; d < 2; d++)
            for (size_t i = 0; m->f->well_known[d] && m->f->well_known[d][i].der; i++) {
                sha256_hex(m->f->well_known[d][i].der, m->f->well_known[d][i].der_len, hex);
                buffer_appendf(b, "secureboot-%s=%s\n", d ? "db" : "kek", hex);
            }
}

/* systemd-boot for an asset: the imager's, or for SecureBoot a copy signed with the SecureBoot key
 * in the scratch directory (*owned: the caller unlinks and frees it). */
static int asset_sdboot(struct model *m, const char *path, const struct asset_path *name, const char **out,
                        char **owned, struct error *err)
{
    *owned = NULL;
    *out = m->imager.systemd_boot;
    const struct secureboot_signer *signer;
    if (asset_signer(m, path, name, &signer, err) != 0)
        return -1;
    if (!signer)
        return 0;
    char *signed_path = xasprintf("%s/sd-boot-%s-%s-%s-%s.efi", bundle_writer_scratch_dir(m->f->writer), m->id,
                                  m->version, m->arch, path);
    if (authenticode_sign(m->imager.systemd_boot, signed_path, signer->key, signer->cert, m->f->epoch, err) != 0) {
        free(signed_path);
        return error_prefix(err, "signing systemd-boot: ");
    }
    *owned = signed_path;
    *out = signed_path;
    return 0;
}

/* secure-boot-enroll for loader.conf: the schematic's secureboot.enrollKeys (case-insensitive, as
 * Image Factory parses it), else `dflt`. */
static int secureboot_enroll_mode(struct model *m, const char *path, const char *dflt, const char **out, struct error *err)
{
    static const char *const modes[] = {"if-safe", "manual", "force", "off", NULL};
    const char *want = m->schematic->schematic->secureboot_enroll_keys;
    *out = dflt;
    if (!want || !want[0])
        return 0;
    for (const char *const *mode = modes; *mode; mode++)
        if (strcasecmp(want, *mode) == 0) {
            *out = *mode;
            return 0;
        }
    return error_set(err, ERROR_INPUT,
                     "%s: schematic %s: invalid secureboot enrollKeys value \"%s\"; use if-safe, "
                     "manual, force or off",
                     path, m->schematic->name, want);
}

/* The enrollment databases of a SecureBoot asset (out.go prepareEnrollmentDBs): PK, KEK and db
 * .auth with the signing certificate, in a new scratch directory; dir and paths[3] (PK, KEK, db)
 * are the caller's to remove (enrollment_remove). */
static int enrollment_write(struct model *m, const char *path, const struct secureboot_signer *signer, char **dir,
                            char *paths[3], struct error *err)
{
    const struct factory_request *r = m->f->request;
    bool well_known = m->schematic->schematic->include_well_known_certificates;
    if (well_known && (!r->secureboot_well_known_kek_count || !r->secureboot_well_known_db_count))
        return error_set(err, ERROR_INPUT,
                         "%s: schematic %s asks for includeWellKnownCertificates, but no %s "
                         "certificate files are configured (the manifest's secureboot.well_known_kek and "
                         "well_known_db); airfactory ships none",
                         path, m->schematic->name, !r->secureboot_well_known_kek_count ? "KEK" : "db");
    *dir = xasprintf("%s/sb-%s-%s-%s-%s", bundle_writer_scratch_dir(m->f->writer), m->id, m->version, m->arch, path);
    if (secureboot_write_enrollment_with(signer, well_known ? m->f->well_known[0] : NULL,
                                         well_known ? r->secureboot_well_known_kek_count : 0,
                                         well_known ? m->f->well_known[1] : NULL,
                                         well_known ? r->secureboot_well_known_db_count : 0, *dir, m->f->epoch, err) != 0)
        return -1;
    static const char *const names[] = {"PK", "KEK", "db"};
    for (int i = 0; i < 3; i++)
        paths[i] = xasprintf("%s/%s.auth", *dir, names[i]);
    return 0;
}

static void enrollment_remove(char **dir, char *paths[], size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (paths[i])
            unlink(paths[i]);
        free(paths[i]);
        paths[i] = NULL;
    }
    if (*dir)
        rmdir(*dir);
    free(*dir);
    *dir = NULL;
}

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
    if (asset_signer(m, path, name, &signer, err) != 0)
        return -1;
    o->layout = ISO_UEFI;
    if (secureboot_enroll_mode(m, path, "if-safe", &o->secure_boot_enroll, err) != 0)
        return -1;
    const char *sdboot;
    if (asset_sdboot(m, path, name, &sdboot, &sb->sdboot, err) != 0)
        return -1;
    o->sdboot_path = sdboot;
    if (enrollment_write(m, path, signer, &sb->dir, sb->paths, err) != 0)
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
    enrollment_remove(&sb->dir, sb->paths, 4);
    memset(sb, 0, sizeof *sb);
}
/* ---- end of SecureBoot helpers ---- */

/* ---- disk images (owned by the disks branch): helpers for FACTORY_ASSET_DISK in build_asset ---- */
static int build_disk_image(struct model *m, const char *path, const struct asset_path *name, const char *cache_key,
                            struct error *err)
{
    struct factory *f = m->f;
    const char *scratch = job_scratch_dir(f);
    const struct schematic *s = m->schematic->schematic;
    /* the overlay's profile is merged first and the schematic's bootloader wins (profile.go) */
    struct schematic merged;
    if (m->overlay_target && s->bootloader == SCHEMATIC_BOOTLOADER_NONE) {
        char *root = flatten_extension(f, m->overlay_target, err);
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
    if (grub_layout && !(grub = imager_grub(f, m->version, m->imager.imager, &grub_tool, err))) {
        buffer_free(&cmdline);
        return -1;
    }
    /* sd-boot and the UKI (signed for -secureboot images, which are always sd-boot) */
    char *uki = uki_layout ? xasprintf("%s/%s.uki.efi", scratch, path) : NULL;
    const struct secureboot_signer *signer = NULL;
    const char *sdboot = m->imager.systemd_boot;
    char *signed_sdboot = NULL;
    int rc = asset_signer(m, path, name, &signer, err);
    if (rc == 0 && uki)
        rc = asset_sdboot(m, path, name, &sdboot, &signed_sdboot, err);
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
        rc = secureboot_enroll_mode(m, path, "if-safe", &enroll, err);
    if (rc == 0 && enroll && strcmp(enroll, "off") == 0)
        enroll = NULL;
    if (rc == 0 && enroll)
        rc = enrollment_write(m, path, signer, &sb_dir, sb_paths, err);
    static const char *const sb_names[] = {"loader/keys/auto/PK.auth", "loader/keys/auto/KEK.auth",
                                           "loader/keys/auto/db.auth"};
    for (int i = 0; i < 3; i++)
        sb_files[i] = (struct disk_image_esp_file){sb_names[i], sb_paths[i]};
    struct meta_value meta[256];
    size_t meta_count = 0;
    disk_image_meta_values(&plan, s, meta, &meta_count);
    /* an overlay: its partition offset, and its install step run from the image of the build
     * host's arch (as get-options) with that image's artifacts/ (imager.go handleOverlay) */
    char *overlay_root = NULL, *overlay_artifacts = NULL;
    struct buffer overlay_options = BUFFER_INIT;
    struct overlay_installer overlay = {0};
    if (rc == 0 && m->overlay_image) {
        if (!(overlay_root = flatten_extension(f, m->overlay_image, err)))
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
        .meta = meta,
        .meta_count = meta_count,
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
        rc = disk_image_build(&plan, &in, out, err);
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
    enrollment_remove(&sb_dir, sb_paths, 3);
    if (rc == 0)
        rc = add_built_file(m, path, out, true, cache_key, err);
    free(out);
    return rc;
}
/* ---- end of disk image helpers ---- */

/* ---------------- installer images (owned by the installer module's author; see installer.h) ----
 * installer-<arch>.tar is built per arch here; its image is remembered in f->installers, and
 * installer_registry_finish (called once before the commit) writes the multi-arch index, the
 * cosign signature and the tags installer/<schematic>:<version>. */

/* Talos >= 1.10 customises installer-base, before that the full installer (profiles quirk). */
static const struct imported *installer_base_for(struct model *m, const struct asset_path *name, struct error *err)
{
    struct factory *f = m->f;
    struct talos_quirks q;
    if (model_quirks(m, name->secureboot, &q, err) != 0)
        return NULL;
    enum source_role role =
        !strcmp(q.installer_base_image, "siderolabs/installer") ? SOURCE_ROLE_INSTALLER : SOURCE_ROLE_INSTALLER_BASE;
    const struct imported *im = find_role(f, role, m->version, m->arch);
    if (!im || !platform_has_arch(im->result.platform, m->arch)) {
        error_set(err, ERROR_INPUT,
                  "no %s source for Talos %s linux/%s; add the OCI tarball of ghcr.io/siderolabs/%s:%s to the "
                  "manifest's sources with role: %s",
                  source_role_name(role), m->version, m->arch, source_role_name(role), m->version,
                  source_role_name(role));
        return NULL;
    }
    return im;
}

static int installer_cache_inputs(struct model *m, const struct asset_path *name, struct buffer *b, struct error *err)
{
    const struct imported *base = installer_base_for(m, name, err);
    if (!base)
        return -1;
    buffer_appendf(b, "installer-base=%s\n", base->result.image.manifest_digest);
    return 0;
}

static void installer_repository(struct model *m, const struct asset_path *name, char *out, size_t size)
{
    /* installer-A.tar is the "installer" repository, P-installer-A.tar "<P>-installer" */
    installer_repository_name(name->platform_installer ? name->platform : "", name->secureboot, m->id, out, size);
}

/* A reused installer-<arch>.tar: recover its image blobs for the registry. */
static int installer_asset_reused(struct model *m, const struct asset_path *name, const char *digest, struct error *err)
{
    struct factory *f = m->f;
    char *archive = xasprintf("%s/blobs/sha256/%s", bundle_writer_staging_dir(f->writer), digest + 7);
    struct installer_image image;
    int rc =
        installer_image_from_archive(f->writer, f->store, archive, bundle_writer_scratch_dir(f->writer), &image, err);
    free(archive);
    char repository[256];
    installer_repository(m, name, repository, sizeof repository);
    if (rc == 0)
        rc = installer_registry_add(&f->installers, repository, m->version, &image, err);
    return rc;
}

/* Main thread: a prepared installer image into the bundle (blobs, the asset row) and the registry. */
static int installer_asset_commit(struct model *m, const char *path, const struct asset_path *name,
                                  const struct installer_prepared *prepared, const char *cache_key, struct error *err)
{
    struct factory *f = m->f;
    struct installer_image image;
    int rc = installer_image_add(f->writer, prepared, &image, err);
    if (rc == 0) {
        f->stats.bytes_built += image.archive_size;
        rc = bundle_writer_add_asset(f->writer, m->id, m->version, path, image.archive_digest, cache_key, err);
    }
    char repository[256];
    installer_repository(m, name, repository, sizeof repository);
    if (rc == 0)
        rc = installer_registry_add(&f->installers, repository, m->version, &image, err);
    return rc;
}

/* The installer's overlay layer (Talos out.go): the target-arch overlay image's artifacts/ as
 * /overlay/artifacts (filemap.Walk: directories and files with their modes, the root included),
 * installers/<name> as /overlay/installers/default and the schematic's overlay.options as
 * /overlay/extra-options. Only directories and regular files: anything else in artifacts/ is an
 * error naming the overlay. */
struct overlay_layer {
    struct installer_file *files;
    size_t count, cap;
    char **strings; /* owned image and source paths */
    size_t string_count;
};

static char *overlay_layer_own(struct overlay_layer *l, char *s)
{
    l->strings = xrealloc(l->strings, (l->string_count + 1) * sizeof *l->strings);
    return l->strings[l->string_count++] = s;
}

static void overlay_layer_add(struct overlay_layer *l, char *image_path, char *source, unsigned mode)
{
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 32;
        l->files = xrealloc(l->files, l->cap * sizeof *l->files);
    }
    l->files[l->count++] =
        (struct installer_file){overlay_layer_own(l, image_path), source ? overlay_layer_own(l, source) : NULL, mode};
}

static int overlay_layer_walk(struct overlay_layer *l, const char *label, const char *dir, const char *image_path,
                              struct error *err)
{
    struct stat st;
    if (lstat(dir, &st) != 0)
        return error_errno(err, errno, "%s: %s", label, dir);
    overlay_layer_add(l, xstrdup(image_path), NULL, (unsigned)(st.st_mode & 07777));
    DIR *d = opendir(dir);
    if (!d)
        return error_errno(err, errno, "%s: %s: cannot open", label, dir);
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *src = path_join(dir, de->d_name);
        char *img = xasprintf("%s/%s", image_path, de->d_name);
        if (lstat(src, &st) != 0)
            rc = error_errno(err, errno, "%s: %s", label, src);
        else if (S_ISDIR(st.st_mode))
            rc = overlay_layer_walk(l, label, src, img, err);
        else if (S_ISREG(st.st_mode)) {
            overlay_layer_add(l, img, src, (unsigned)(st.st_mode & 07777));
            img = src = NULL;
        } else
            rc = error_set(err, ERROR_INPUT,
                           "%s: /%s is neither a file nor a directory; the installer's overlay "
                           "layer holds only those",
                           label, img + strlen("overlay/"));
        free(src);
        free(img);
    }
    closedir(d);
    return rc;
}

static void overlay_layer_free(struct overlay_layer *l)
{
    for (size_t i = 0; i < l->string_count; i++)
        free(l->strings[i]);
    free(l->strings);
    free(l->files);
    memset(l, 0, sizeof *l);
}

static int overlay_layer_build(struct model *m, const char *scratch, struct overlay_layer *l, struct error *err)
{
    struct factory *f = m->f;
    const struct schematic *s = m->schematic->schematic;
    char *root = flatten_extension(f, m->overlay_target, err);
    if (!root)
        return error_prefix(err, "%s: ", m->overlay_label);
    char *artifacts = path_join(root, "artifacts");
    int rc = 0;
    if (fs_is_dir(artifacts))
        rc = overlay_layer_walk(l, m->overlay_label, artifacts, "overlay/artifacts", err);
    struct fs_root r;
    char *installer = xasprintf("installers/%s", s->overlay_name);
    if (rc == 0 && fs_root_open(&r, root, NULL, m->overlay_label, err) == 0) {
        int fd = -1;
        struct fs_root_entry e = {0};
        int found = fs_open_in_root(&r, installer, FS_ROOT_FILE, &fd, &e, err);
        if (found == 0)
            rc = error_set(err, ERROR_INPUT, "%s: the image for linux/%s has no /%s; check overlay.name",
                           m->overlay_label, m->arch, installer);
        else if (found < 0)
            rc = -1;
        else {
            overlay_layer_add(l, xstrdup("overlay/installers/default"), xstrdup(e.host_path),
                              (unsigned)(e.st.st_mode & 07777));
            close(fd);
            fs_root_entry_free(&e);
        }
        fs_root_close(&r);
    } else if (rc == 0) {
        rc = -1;
    }
    struct buffer options = BUFFER_INIT;
    if (rc == 0 && s->overlay_options)
        rc = yaml_value_encode(s->overlay_options, &options, err);
    else if (rc == 0)
        buffer_append(&options, "{}\n", 3);
    char *extra = xasprintf("%s/overlay-extra-options", scratch);
    if (rc == 0)
        rc = fs_write_file_atomic(extra, options.data, options.len, 0644, err);
    if (rc == 0) {
        overlay_layer_add(l, xstrdup("overlay/extra-options"), extra, 0644);
        extra = NULL;
    }
    free(extra);
    buffer_free(&options);
    free(installer);
    free(artifacts);
    free(root);
    return rc;
}

/* Any thread: the UKI (or kernel + initramfs), the artifacts layer and the docker-archive, all in
 * the job's scratch directory; a worker leaves the prepared image to its job, for job_commit. */
static int installer_asset_build(struct model *m, const char *path, const struct asset_path *name,
                                 const char *cache_key, struct error *err)
{
    struct factory *f = m->f;
    const char *scratch = job_scratch_dir(f);
    const struct secureboot_signer *signer;
    if (asset_signer(m, path, name, &signer, err) != 0)
        return -1;
    const struct imported *base = installer_base_for(m, name, err);
    if (!base)
        return -1;
    struct asset_path metal = *name; /* a plain installer is metal's */
    if (!metal.platform[0])
        snprintf(metal.platform, sizeof metal.platform, "metal");
    struct talos_quirks q;
    if (model_quirks(m, signer != NULL, &q, err) != 0)
        return -1;
    /* SecureBoot installers always carry the signed UKI and systemd-boot (talos-imager.md §9) */
    bool sdboot = signer || q.sdboot_for_uefi;
    char *p_boot = xasprintf("usr/install/%s/systemd-boot.efi", m->arch);
    char *p_uki = xasprintf("usr/install/%s/%s", m->arch, q.installer_uki_name);
    const char *sdboot_file = m->imager.systemd_boot;
    char *signed_sdboot = NULL;
    char *p_kernel = xasprintf("usr/install/%s/vmlinuz", m->arch);
    char *p_initramfs = xasprintf("usr/install/%s/initramfs.xz", m->arch);
    char *uki = xasprintf("%s/installer-%s-%s-%s-vmlinuz.efi", scratch, m->id, m->version, m->arch);
    struct installer_file files[2];
    int rc = model_initramfs(m, err);
    if (rc == 0 && sdboot) {
        /* 1.10+: the UKI (kernel + initramfs + installer cmdline, reset-maintenance profile) */
        if (!fs_exists(m->imager.stub) || !fs_exists(m->imager.systemd_boot))
            rc = error_set(err, ERROR_INPUT, "%s: imager %s has no usr/install/%s/systemd-stub.efi or systemd-boot.efi",
                           path, m->imager.imager->result.image.reference, m->arch);
        struct buffer cmdline = BUFFER_INIT;
        if (rc == 0)
            rc = model_cmdline(m, &metal, CMDLINE_KIND_INSTALLER, &cmdline, err);
        if (rc == 0)
            rc = model_uki(m, signer, buffer_cstr(&cmdline), UKI_FOR_IMAGE, uki, err);
        if (rc == 0)
            rc = asset_sdboot(m, path, name, &sdboot_file, &signed_sdboot, err);
        buffer_free(&cmdline);
        files[0] = (struct installer_file){p_boot, sdboot_file, 0};
        files[1] = (struct installer_file){p_uki, uki, 0};
    } else {
        /* before 1.10: GRUB installs the kernel and initramfs; the cmdline is made at install time */
        files[0] = (struct installer_file){p_kernel, m->imager.vmlinuz, 0};
        files[1] = (struct installer_file){p_initramfs, m->initramfs_path, 0};
    }
    struct installer_prepared *prepared = xcalloc(1, sizeof *prepared);
    struct overlay_layer overlay = {0};
    if (rc == 0 && m->overlay_image)
        rc = overlay_layer_build(m, scratch, &overlay, err);
    if (rc == 0) {
        struct installer_build_options o = {
            .store = f->store,
            .base = &base->result.image,
            .arch = m->arch,
            .files = files,
            .file_count = 2,
            .mtime = f->epoch,
            .repo_tag = base->result.image.reference,
            .scratch_dir = scratch,
            .overlay_files = overlay.files,
            .overlay_file_count = overlay.count,
        };
        rc = installer_image_prepare(&o, prepared, err);
        if (rc != 0)
            memset(prepared, 0, sizeof *prepared);
    }
    unlink(uki);
    if (signed_sdboot)
        unlink(signed_sdboot);
    free(signed_sdboot);
    struct job *job = current_job(f);
    if (rc == 0 && job) {
        job->installer = prepared; /* job_commit adds it, in plan order */
        prepared = NULL;
    } else if (rc == 0) {
        rc = installer_asset_commit(m, path, name, prepared, cache_key, err);
    }
    if (prepared) {
        installer_prepared_free(prepared);
        free(prepared);
    }
    overlay_layer_free(&overlay);
    free(p_boot);
    free(p_uki);
    free(p_kernel);
    free(p_initramfs);
    free(uki);
    return rc;
}
/* ---------------- end of installer helpers */

static int build_asset(struct model *m, const char *path, const struct asset_path *name, const char *cache_key,
                       struct error *err)
{
    struct factory *f = m->f;
    const char *scratch = job_scratch_dir(f);
    switch (name->kind) {
    case ASSET_KERNEL: {
        char *out = path_join(scratch, path);
        int rc = kernel_build(m->imager.vmlinuz, out, err);
        if (rc == 0)
            rc = add_built_file(m, path, out, true, cache_key, err);
        free(out);
        return rc;
    }
    case ASSET_INITRAMFS:
        if (model_initramfs(m, err) != 0)
            return -1;
        return add_built_file(m, path, m->initramfs_path, false, cache_key, err);
    case ASSET_CMDLINE: {
        /* a file like any other asset's, so that a worker can build it */
        struct buffer cmdline = BUFFER_INIT;
        char *out = path_join(scratch, path);
        int rc = model_cmdline(m, name, CMDLINE_KIND_CMDLINE, &cmdline, err);
        if (rc == 0)
            rc = fs_write_file_atomic(out, cmdline.data ? cmdline.data : "", cmdline.len, 0644, err);
        if (rc == 0)
            rc = add_built_file(m, path, out, true, cache_key, err);
        buffer_free(&cmdline);
        free(out);
        return rc;
    }
    case ASSET_UKI: {
        if (!fs_exists(m->imager.stub))
            return error_set(err, ERROR_INPUT, "%s: imager %s has no usr/install/%s/systemd-stub.efi", path,
                             m->imager.imager->result.image.reference, m->arch);
        struct buffer cmdline = BUFFER_INIT;
        if (model_cmdline(m, name, CMDLINE_KIND_UKI, &cmdline, err) != 0 || model_initramfs(m, err) != 0) {
            buffer_free(&cmdline);
            return -1;
        }
        char *out = path_join(scratch, path);
        const struct secureboot_signer *signer;
        int rc = asset_signer(m, path, name, &signer, err);
        if (rc == 0)
            rc = model_uki(m, signer, buffer_cstr(&cmdline), UKI_STANDALONE, out, err);
        buffer_free(&cmdline);
        if (rc == 0)
            rc = add_built_file(m, path, out, true, cache_key, err);
        free(out);
        return rc;
    }
    case ASSET_IMAGE: return build_disk_image(m, path, name, cache_key, err);
    case ASSET_ISO: {
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
        if (rc == 0 && !(grub = imager_grub(f, m->version, m->imager.imager, &grub_tool, err)))
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
            rc = add_built_file(m, path, out, true, cache_key, err);
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
    case ASSET_INSTALLER: return installer_asset_build(m, path, name, cache_key, err);
    }
    return error_set(err, ERROR_INPUT,
                     "%s: this kind of asset is not built by airfactory %s yet (built today: kernel, initramfs, "
                     "cmdline, UKI, ISO, installer); remove it from the manifest's outputs",
                     path, AIRFACTORY_VERSION);
}

/* The imager profile an asset comes from: its platform, or the output kind for kernel/initramfs. */
static const char *asset_profile(const struct asset_path *name)
{
    /* asset_path says "metal" for the platform-less kernel and initramfs: name them by kind */
    if (name->kind == ASSET_KERNEL || name->kind == ASSET_INITRAMFS)
        return asset_kind_name(name->kind);
    return name->platform;
}

static int provenance(struct model *m, const char *path, const struct asset_path *name, struct error *err)
{
    const char *profile = asset_profile(name);
    size_t count = name->kind == ASSET_KERNEL || name->kind == ASSET_CMDLINE ? 1 : m->source_digest_count;
    for (size_t i = 0; i < count; i++) {
        struct bundle_provenance p = {
            .schematic = m->id,
            .version = m->version,
            .path = path,
            .source_digest = m->source_digests[i],
            .profile = profile,
            .builder = "airfactory " AIRFACTORY_VERSION,
        };
        if (bundle_writer_add_provenance(m->f->writer, &p, err) != 0)
            return -1;
    }
    return 0;
}

/* ---- running the plan ----
 *
 * factory_build groups the requested assets into models and makes one job per asset, in request
 * order; plan_jobs decides for each whether it is reused (cache key hit) or built. Then:
 *   - -j worker threads take the pending jobs in plan order and build them (job_run);
 *   - the main thread walks the plan in order, waits for each job, and commits it (job_commit):
 *     the blob goes into the bundle, then its rows and its event. Because commits happen in plan
 *     order whatever the order in which builds finish, -j 1 and -j 8 give the same bundle, byte for
 *     byte, and the same event stream;
 *   - the first failure stops scheduling: jobs already running finish (their files are discarded
 *     with the writer's scratch directory), then the error is reported with its asset's path, and
 *     the writer is aborted, so the target keeps its previous bundle. */

/* Build one job's asset, in a worker thread (job_pool run). */
static int job_run(void *ctx, size_t index, struct error *err)
{
    struct factory *f = ctx;
    struct job *j = &f->plan[index];
    struct model *m = j->model;
    if (model_imager(m, err) != 0 || build_asset(m, j->path, &j->name, j->key, err) != 0)
        return error_prefix(err, "%s/%s/%s: ", m->id, m->version, j->path);
    if (!j->output && !j->installer)
        return error_set(err, ERROR_RUNTIME, "%s/%s/%s: the builder produced no file (airfactory bug)", m->id,
                         m->version, j->path);
    BUNDLE_TEST_POINT("factory-asset-built"); /* other workers may still be building */
    return 0;
}

/* ---- the live display (TTY only): what runs, how far, and the overall count ---- */

/* Bytes of the regular files under dir (a job's scratch directory holds its output as it grows). */
static uint64_t tree_bytes(const char *dir, int depth)
{
    uint64_t total = 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || (e->d_name[1] == '.' && e->d_name[2] == '\0')))
            continue;
        char *path = path_join(dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0) {
            if (S_ISREG(st.st_mode))
                total += (uint64_t)st.st_size;
            else if (S_ISDIR(st.st_mode) && depth > 0)
                total += tree_bytes(path, depth - 1);
        }
        free(path);
    }
    closedir(d);
    return total;
}

/* One redraw (rate-limited by progress_update). Runs on the display thread: it takes the running
 * jobs from the pool (job_pool_each_running, under the pool's lock), the counters under
 * display_lock, and measures files outside both. */
struct display_snapshot {
    struct factory *f;
    size_t max;
    struct progress_state *st;
    struct progress_asset *running;
    char **labels, **dirs;
};

static void snapshot_job(void *arg, size_t index, double seconds)
{
    struct display_snapshot *s = arg;
    if (s->st->running_count >= s->max)
        return;
    const struct job *j = &s->f->plan[index];
    size_t n = s->st->running_count++;
    s->labels[n] = xasprintf("%s/%s/%s", j->model->schematic->name, j->model->version, j->path);
    s->running[n].label = s->labels[n];
    s->running[n].kind = j->path;
    s->running[n].seconds = seconds;
    /* its output grows in its directory; the initramfs in the model's, under the job building it */
    s->dirs[2 * n] = j->scratch ? xstrdup(j->scratch) : NULL;
    s->dirs[2 * n + 1] = atomic_load(&j->model->initramfs_builder) == j ? xstrdup(j->model->scratch) : NULL;
}

static void show_progress(struct factory *f)
{
    size_t max = f->jobs + 2; /* every worker, plus the main thread's own job */
    struct progress_asset *running = xcalloc(max, sizeof *running);
    char **labels = xcalloc(max, sizeof *labels);
    char **dirs = xcalloc(2 * max, sizeof *dirs);
    struct progress_state st = {.total = f->plan_count, .running = running};
    struct display_snapshot snap = {f, max, &st, running, labels, dirs};
    if (f->pool)
        job_pool_each_running(f->pool, snapshot_job, &snap);
    for (size_t n = 0; n < st.running_count; n++)
        running[n].bytes =
            (dirs[2 * n] ? tree_bytes(dirs[2 * n], 2) : 0) + (dirs[2 * n + 1] ? tree_bytes(dirs[2 * n + 1], 0) : 0);
    pthread_mutex_lock(&f->display_lock);
    st.done = f->shown_committed;
    st.reused = f->shown_reused;
    st.bytes = f->shown_bytes;
    progress_update(f->progress, &st);
    pthread_mutex_unlock(&f->display_lock);
    for (size_t i = 0; i < 2 * max; i++)
        free(dirs[i]);
    for (size_t i = 0; i < st.running_count; i++)
        free(labels[i]);
    free(dirs);
    free(labels);
    free(running);
}

/* The display has its own thread so that it keeps moving while the main thread is busy for seconds
 * (hashing a large asset into the bundle, assembling an installer image): ~10 redraws a second. */
static void *display_main(void *arg)
{
    struct factory *f = arg;
    pthread_mutex_lock(&f->display_lock);
    while (!f->display_stop) {
        pthread_mutex_unlock(&f->display_lock);
        show_progress(f);
        pthread_mutex_lock(&f->display_lock);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 100 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (!f->display_stop)
            pthread_cond_timedwait(&f->display_cond, &f->display_lock, &until);
    }
    pthread_mutex_unlock(&f->display_lock);
    return NULL;
}

static void display_start(struct factory *f)
{
    if (!f->progress)
        return;
    /* no display thread is no reason to fail a build: line events are not lost either way */
    f->display_running = pthread_create(&f->display_thread, NULL, display_main, f) == 0;
}

static void display_stop(struct factory *f)
{
    if (!f->display_running)
        return;
    pthread_mutex_lock(&f->display_lock);
    f->display_stop = true;
    pthread_cond_broadcast(&f->display_cond);
    pthread_mutex_unlock(&f->display_lock);
    pthread_join(f->display_thread, NULL);
    f->display_running = false;
}

/* ---- committing, on the main thread ---- */

static int job_commit(struct factory *f, struct job *j, struct error *err)
{
    struct model *m = j->model;
    double seconds = j->reused ? 0 : job_pool_seconds(f->pool, j->number);
    uint64_t bytes_before = f->stats.bytes_built;
    int rc = 0;
    if (j->reused) {
        rc = bundle_writer_add_asset(f->writer, m->id, m->version, j->path, j->hit.digest, j->key, err);
        if (rc == 0 && j->name.kind == ASSET_INSTALLER)
            rc = installer_asset_reused(m, &j->name, j->hit.digest, err);
        f->stats.assets_reused++;
    } else {
        if (j->installer) {
            rc = installer_asset_commit(m, j->path, &j->name, j->installer, j->key, err);
            installer_prepared_free(j->installer);
            free(j->installer);
            j->installer = NULL;
        } else if (j->output)
            rc = add_built_file(m, j->path, j->output, j->move, j->key, err);
        f->stats.assets_built++;
    }
    if (rc == 0)
        rc = provenance(m, j->path, &j->name, err);
    if (rc != 0)
        return error_prefix(err, "%s/%s/%s: ", m->id, m->version, j->path);
    uint64_t bytes = j->reused ? j->hit.size : f->stats.bytes_built - bytes_before;
    f->committed++;

    struct json_writer w;
    struct buffer b = BUFFER_INIT;
    event_begin(f, &w, &b, j->reused ? "asset_reused" : "asset_built");
    json_kv_string(&w, "schematic", m->id);
    json_kv_string(&w, "version", m->version);
    json_kv_string(&w, "path", j->path);
    json_key(&w, "seconds");
    char secs[32];
    snprintf(secs, sizeof secs, "%.3f", seconds);
    json_raw(&w, secs);
    json_kv_int(&w, "bytes", (int64_t)bytes);
    json_kv_int(&w, "index", (int64_t)j->number + 1);
    json_kv_int(&w, "total", (int64_t)f->plan_count);
    char *human = xasprintf("%s %s/%s/%s (%.1fs)", j->reused ? "reused" : "built ", m->schematic->name, m->version,
                            j->path, seconds);
    event_end(f, &w, &b, human);
    free(human);
    if (f->progress && !j->reused) {
        pthread_mutex_lock(&f->display_lock);
        progress_asset_done(f->progress, j->path, bytes);
        pthread_mutex_unlock(&f->display_lock);
    }

    if (j->scratch) {
        struct error ignored;
        fs_remove_tree(j->scratch, &ignored);
    }
    BUNDLE_TEST_POINT("factory-asset-committed");
    /* the model's last asset: its shared files (the initramfs) can go */
    if (--m->jobs_left == 0) {
        rc = bundle_writer_add_schematic(f->writer, m->id, m->yaml, err);
        model_free(m);
    }
    return rc;
}

/* The job pool's commit: one job, then the counters published for the display thread. */
static int pool_commit(void *ctx, size_t index, struct error *err)
{
    struct factory *f = ctx;
    int rc = job_commit(f, &f->plan[index], err);
    pthread_mutex_lock(&f->display_lock);
    f->shown_committed = f->committed;
    f->shown_reused = f->stats.assets_reused;
    f->shown_bytes = f->stats.bytes_built;
    pthread_mutex_unlock(&f->display_lock);
    return rc;
}

/* Plan time, main thread: models, jobs, cache keys, and which assets the base bundle (or an
 * interrupted run) already has. Everything workers will read is settled here. */
static int plan_jobs(struct factory *f, struct error *err)
{
    const struct factory_request *r = f->request;
    size_t n = r->asset_count;
    f->plan = xcalloc(n ? n : 1, sizeof *f->plan);
    f->models = xcalloc(n ? n : 1, sizeof *f->models);
    /* models: group assets by (schematic, version, arch), in request order */
    bool *taken = xcalloc(n ? n : 1, sizeof *taken);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (taken[i])
            continue;
        const struct factory_asset *a = &r->assets[i];
        struct model *m = &f->models[f->model_count++];
        *m = (struct model){
            .f = f,
            .schematic = &r->schematics[a->schematic],
            .id = r->schematics[a->schematic].id,
            .yaml = r->schematics[a->schematic].yaml,
            .version = a->version,
            .arch = a->name.arch,
        };
        rc = model_prepare(m, f->model_count - 1, err);
        for (size_t k = i; rc == 0 && k < n; k++) {
            const struct factory_asset *b = &r->assets[k];
            if (taken[k] || b->schematic != a->schematic || strcmp(b->version, a->version) != 0 ||
                strcmp(b->name.arch, a->name.arch) != 0)
                continue;
            taken[k] = true;
            struct job *j = &f->plan[f->plan_count];
            j->number = f->plan_count++;
            j->model = m;
            j->name = b->name;
            asset_path_format(&j->name, j->path);
            m->jobs_left++;
            if (asset_cache_key(m, j->path, &j->name, j->key, err) != 0) {
                rc = error_prefix(err, "%s/%s/%s: ", m->id, m->version, j->path);
                break;
            }
            int reuse = bundle_writer_reuse_asset(f->writer, j->key, &j->hit, err);
            if (reuse < 0) {
                rc = error_prefix(err, "%s/%s/%s: ", m->id, m->version, j->path);
                break;
            }
            j->reused = reuse == 1;
            if (!j->reused) {
                j->scratch = xasprintf("%s/job-%zu", bundle_writer_scratch_dir(f->writer), j->number);
                rc = fs_mkdir_p(j->scratch, 0700, err);
            }
        }
    }
    free(taken);
    static const struct job_pool_ops ops = {job_run, pool_commit};
    f->pool = job_pool_new(f->plan_count, f->jobs, &ops, f);
    for (size_t i = 0; i < f->plan_count; i++)
        if (f->plan[i].reused)
            job_pool_skip(f->pool, i);
    /* the image-cache trees the jobs to build read (a reused ISO or disk image needs none) */
    for (size_t i = 0; rc == 0 && i < f->plan_count; i++) {
        const struct job *j = &f->plan[i];
        struct built_image_cache *c = (struct built_image_cache *)model_image_cache(j->model, &j->name);
        if (j->reused || !c || c->written)
            continue;
        rc = image_cache_write_tree(f->store, c->entries, c->entry_count, c->dir, &c->bytes, err);
        c->written = rc == 0;
    }
    return rc;
}

/* ------------------------------------------------------------------ stage 5: bundle rows */

static int add_catalog_rows(struct factory *f, const char *version, struct error *err)
{
    struct version_catalog *vc = catalog_for(f, version, err);
    if (!vc)
        return -1;
    for (size_t i = 0; i < vc->catalog.extension_count; i++) {
        const struct catalog_extension *e = &vc->catalog.extensions[i];
        struct bundle_extension row = {version, e->name, e->reference, e->digest, e->author, e->description};
        if (bundle_writer_add_extension(f->writer, &row, err) != 0)
            return -1;
    }
    for (size_t i = 0; i < vc->catalog.overlay_count; i++) {
        const struct catalog_overlay *o = &vc->catalog.overlays[i];
        struct bundle_overlay row = {version, o->name, o->image, o->reference, o->digest};
        if (bundle_writer_add_overlay(f->writer, &row, err) != 0)
            return -1;
    }
    return 0;
}

/* The talosctl binaries of the version's talosctl-all source, if the manifest has one. */
static int add_talosctl_rows(struct factory *f, const char *version, struct error *err)
{
    const struct imported *im = find_role(f, SOURCE_ROLE_TALOSCTL_ALL, version, "amd64");
    if (!im)
        return 0;
    size_t count = 0;
    if (talosctl_add_files(f->store, &im->result.image, f->work_dir, version, f->writer, &count, err) != 0)
        return -1;
    struct json_writer w;
    struct buffer b = BUFFER_INIT;
    event_begin(f, &w, &b, "talosctl_added");
    json_kv_string(&w, "version", version);
    json_kv_int(&w, "files", (int64_t)count);
    char *human = xasprintf("talosctl %s: %zu files from %s", version, count, im->result.image.reference);
    event_end(f, &w, &b, human);
    free(human);
    return 0;
}

static int add_source_rows(struct factory *f, struct error *err)
{
    for (size_t i = 0; i < f->imported_count; i++) {
        const struct imported *im = &f->imported[i];
        struct buffer receipt = BUFFER_INIT;
        verify_receipt_to_json(&im->result.receipt, &receipt);
        struct bundle_source s = {
            .reference = im->result.image.reference,
            .digest = im->result.image.digest,
            .platform = im->result.platform,
            .role = source_role_name(im->source->role),
            .receipt = buffer_cstr(&receipt),
        };
        int rc = bundle_writer_add_source(f->writer, &s, err);
        buffer_free(&receipt);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ cluster images */

/* A manifest blob's subject and artifactType (a referrer's row); 0 done, -1 error. */
static int referrer_facts(struct factory *f, const char *digest, char subject[OCI_DIGEST_SIZE], char *artifact_type,
                          size_t size, struct error *err)
{
    struct buffer text = BUFFER_INIT;
    if (store_read_blob(f->store, digest, OCI_DOCUMENT_MAX, &text, err) != 0)
        return -1;
    int rc = oci_document_subject(text.data ? text.data : "", text.len, subject) == 1 ? 0 : -1;
    struct json_value *doc = NULL;
    snprintf(artifact_type, size, "application/vnd.oci.image.manifest.v1+json");
    if (rc == 0 && json_parse(text.data, text.len, digest, &doc, err) == 0) {
        const char *at = json_object_get_string(doc, "artifactType");
        const struct json_value *config = json_object_get_object(doc, "config");
        const char *ct = config ? json_object_get_string(config, "mediaType") : NULL;
        if (at || ct)
            snprintf(artifact_type, size, "%s", at ? at : ct);
        json_free(doc);
    }
    error_clear(err);
    buffer_free(&text);
    return rc;
}

/* One imported platform of a cluster image into the bundle: every blob the import recorded (index,
 * manifest, config, layers, signatures, referrers), hard-linked from the store (a blob the bundle
 * already holds, e.g. a layer two images share, is stored once), then its registry rows in the
 * repository named after the reference ("registry.k8s.io/pause"): the reference's tag, the
 * signature tags and the referrers. */
static int add_cluster_platform(struct factory *f, const struct imported *im, const char *repository, const char *tag,
                                struct error *err)
{
    struct store_source src;
    int found = store_source_get(f->store, im->result.image.reference, im->result.platform, &src, err);
    if (found <= 0)
        return found < 0 ? -1
                         : error_set(err, ERROR_RUNTIME, "%s (%s): not in the store after its import",
                                     im->result.image.reference, im->result.platform);
    int rc = 0;
    for (size_t b = 0; b < src.blob_count && rc == 0; b++) {
        const struct store_source_blob *blob = &src.blobs[b];
        if (bundle_writer_has_blob(f->writer, blob->digest))
            continue;
        char *path = store_blob_path(f->store, blob->digest);
        char digest[BUNDLE_DIGEST_SIZE];
        rc = bundle_writer_add_blob_file(f->writer, path,
                                         blob->media_type[0] ? blob->media_type : "application/octet-stream",
                                         BUNDLE_BLOB_LINK, blob->digest, digest, NULL, err);
        free(path);
    }
    if (rc == 0)
        rc = bundle_writer_add_image_subset(f->writer, repository, tag, im->result.image.digest, err);
    for (size_t b = 0; b < src.blob_count && rc == 0; b++) {
        const struct store_source_blob *blob = &src.blobs[b];
        if (!strcmp(blob->kind, "referrer")) {
            char subject[OCI_DIGEST_SIZE], artifact_type[256];
            if (referrer_facts(f, blob->digest, subject, artifact_type, sizeof artifact_type, err) == 0)
                rc = bundle_writer_add_referrer(f->writer, repository, subject, blob->digest, artifact_type, err);
        } else if (blob->tag && blob->tag[0] &&
                   (!strcmp(blob->kind, "signature") || !strcmp(blob->kind, "referrers-index"))) {
            rc = bundle_writer_add_image(f->writer, repository, blob->tag, blob->digest, err);
        }
    }
    store_source_free(&src);
    if (rc != 0)
        return error_prefix(err, "image %s (%s): ", im->result.image.reference, im->result.platform);
    return 0;
}

static int add_cluster_images(struct factory *f, struct error *err)
{
    for (size_t i = 0; i < f->imported_count; i++) {
        const struct imported *im = &f->imported[i];
        if (im->source->role != SOURCE_ROLE_IMAGE)
            continue;
        struct registry_ref ref;
        if (registry_ref_parse(im->result.image.reference, &ref, err) != 0)
            return error_prefix(err, "image %s: ", im->source->path);
        char *repository = registry_ref_name(&ref);
        int rc = add_cluster_platform(f, im, repository, ref.tag, err);
        free(repository);
        registry_ref_free(&ref);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* The bundle's public key, served at /oci/cosign/signing-key.pub: the half of the signing key. */
static int add_public_key(struct factory *f, struct error *err)
{
    struct bundle_key *key = NULL;
    if (bundle_key_load_private(f->request->signing_key, &key, err) != 0)
        return -1;
    struct buffer pem = BUFFER_INIT;
    bundle_key_public_pem(key, &pem);
    int rc = bundle_writer_add_public_key(f->writer, "cosign", buffer_cstr(&pem), err);
    buffer_free(&pem);
    bundle_key_free(key);
    /* the SecureBoot signing certificate, served at /secureboot/signing-cert.pem */
    if (rc == 0 && f->signer)
        rc = bundle_writer_add_public_key(f->writer, "secureboot", f->signer->cert_pem, err);
    return rc;
}

/* ------------------------------------------------------------------ driver */

static uint32_t build_epoch(void)
{
    const char *s = getenv("SOURCE_DATE_EPOCH");
    if (s && *s) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno == 0 && end && *end == '\0' && v <= UINT32_MAX)
            return (uint32_t)v;
    }
    return 0;
}

static void factory_free(struct factory *f)
{
    for (size_t i = 0; i < f->image_cache_count; i++) {
        struct error ignored;
        if (f->image_caches[i].written)
            fs_remove_tree(f->image_caches[i].dir, &ignored);
        free(f->image_caches[i].entries);
        free(f->image_caches[i].dir);
        free(f->image_caches[i].key);
    }
    free(f->image_caches);
    for (size_t i = 0; i < f->model_count; i++)
        model_free(&f->models[i]);
    free(f->models);
    for (size_t i = 0; i < f->plan_count; i++) {
        free(f->plan[i].scratch);
        free(f->plan[i].output);
        if (f->plan[i].installer) {
            installer_prepared_free(f->plan[i].installer);
            free(f->plan[i].installer);
        }
    }
    free(f->plan);
    if (f->progress)
        progress_free(f->progress);
    job_pool_free(f->pool);
    pthread_cond_destroy(&f->display_cond);
    pthread_mutex_destroy(&f->display_lock);
    for (size_t i = 0; i < f->imported_count; i++) {
        free(f->imported[i].version);
        oci_image_free(&f->imported[i].result.image);
    }
    free(f->imported);
    for (size_t i = 0; i < f->catalog_count; i++) {
        free(f->catalogs[i].version);
        catalog_free(&f->catalogs[i].catalog);
    }
    free(f->catalogs);
    installer_registry_free(f->installers);
    secureboot_signer_free(f->signer);
    for (int d = 0; d < 2; d++) {
        for (size_t i = 0; f->well_known[d] && f->well_known[d][i].der; i++)
            secureboot_cert_free(&f->well_known[d][i]);
        free(f->well_known[d]);
    }
    if (f->profiles)
        profile_set_free(f->profiles);
    if (f->store)
        store_close(f->store);
    free(f->store_dir);
    free(f->work_dir);
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int factory_build(const struct factory_request *r, struct factory_stats *stats, struct error *err)
{
    struct factory f = {.request = r, .epoch = build_epoch()};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    f.jobs = r->jobs ? r->jobs : cpus > 0 ? (unsigned)cpus : 1;
    pthread_mutex_init(&f.display_lock, NULL);
    pthread_condattr_t cond_attr;
    pthread_condattr_init(&cond_attr);
    pthread_condattr_setclock(&cond_attr, CLOCK_MONOTONIC); /* the display thread's timed waits */
    pthread_cond_init(&f.display_cond, &cond_attr);
    pthread_condattr_destroy(&cond_attr);
    if (r->progress && !r->json && r->events)
        f.progress = progress_new(r->events, 0, NULL);
    f.store_dir = r->store ? xstrdup(r->store) : xasprintf("%s.store", r->output);
    f.work_dir = path_join(f.store_dir, "work");
    int rc = store_open(f.store_dir, STORE_WRITE, &f.store, err);
    if (rc == 0)
        rc = fs_mkdir_p(f.work_dir, 0755, err);
    if (rc == 0)
        rc = load_secureboot(&f, err);
    if (rc == 0)
        rc = import_sources(&f, err);
    if (rc == 0) {
        struct bundle_writer_options options = {
            .target = r->output,
            .signing_key_path = r->signing_key,
            .base = r->base,
            .allow_downgrade = r->allow_downgrade,
        };
        rc = bundle_writer_open(&options, &f.writer, err);
    }
    /* loaded before the threads start, so they only ever read it */
    if (rc == 0)
        rc = profile_set_load(&f.profiles, err);
    if (rc == 0)
        rc = plan_jobs(&f, err);
    if (rc == 0 && f.progress) {
        size_t reused = 0;
        for (size_t i = 0; i < f.plan_count; i++)
            reused += f.plan[i].reused;
        progress_start(f.progress, f.plan_count, reused, f.jobs);
        display_start(&f);
    }
    if (rc == 0)
        rc = job_pool_run(f.pool, err);
    /* versions and their catalogs */
    const char **versions = xcalloc(r->asset_count ? r->asset_count : 1, sizeof *versions);
    for (size_t i = 0; i < r->asset_count; i++)
        versions[i] = r->assets[i].version;
    qsort(versions, r->asset_count, sizeof *versions, compare_strings);
    for (size_t i = 0; rc == 0 && i < r->asset_count; i++) {
        if (i > 0 && strcmp(versions[i], versions[i - 1]) == 0)
            continue;
        rc = bundle_writer_add_version(f.writer, versions[i], err);
        if (rc == 0)
            rc = add_catalog_rows(&f, versions[i], err);
        if (rc == 0)
            rc = add_talosctl_rows(&f, versions[i], err);
    }
    free(versions);
    /* every schematic is listed, even one whose assets all failed to be asked for */
    for (size_t i = 0; rc == 0 && i < r->schematic_count; i++) {
        const struct factory_schematic *fs = &r->schematics[i];
        rc = bundle_writer_add_schematic(f.writer, fs->id, fs->yaml, err);
        if (rc == 0 && fs->name)
            rc = bundle_writer_add_schematic_name(f.writer, fs->id, fs->name, err);
    }
    if (rc == 0)
        rc = add_source_rows(&f, err);
    if (rc == 0)
        rc = add_cluster_images(&f, err);
    if (rc == 0)
        rc = add_public_key(&f, err);
    if (rc == 0 && r->manifest_digest)
        rc = bundle_writer_set_meta(f.writer, "manifest_digest", r->manifest_digest, err);
    if (rc == 0 && r->shard)
        rc = bundle_writer_set_meta(f.writer, BUNDLE_META_SHARD, r->shard, err);
    if (rc == 0)
        rc = installer_registry_finish(f.installers, f.writer, r->signing_key, err);
    if (rc == 0) {
        rc = bundle_writer_commit(f.writer, err);
        f.writer = NULL;
        if (rc == 0) {
            struct json_writer w;
            struct buffer b = BUFFER_INIT;
            event_begin(&f, &w, &b, "bundle_signed");
            json_kv_string(&w, "bundle", r->output);
            json_kv_int(&w, "assets_built", (int64_t)f.stats.assets_built);
            json_kv_int(&w, "assets_reused", (int64_t)f.stats.assets_reused);
            char *human = xasprintf("bundle %s written and signed: %" PRIu64 " assets built, %" PRIu64 " reused",
                                    r->output, f.stats.assets_built, f.stats.assets_reused);
            event_end(&f, &w, &b, human);
            free(human);
        }
    } else if (f.writer) {
        bundle_writer_abort(f.writer);
        f.writer = NULL;
    }
    display_stop(&f);
    if (f.progress) {
        if (f.plan_count)
            show_progress(&f); /* the final counts, for the summary line */
        progress_finish(f.progress, rc == 0);
    }
    if (stats)
        *stats = f.stats;
    factory_free(&f);
    return rc;
}
