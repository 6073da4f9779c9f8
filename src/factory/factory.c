/* factory — see include/airfactory/factory.h.
 *
 * Reading order: factory_build() at the bottom drives everything; above it, one section per stage.
 * Every intermediate file lives either in STORE/work/ (extracted sources: immutable, keyed by the
 * manifest digest they came from, so they are reused across builds) or in the bundle writer's
 * scratch directory (built assets, moved into the bundle without a copy).
 *
 * The stage driver: it owns the order of the stages, the import of the sources and the catalogs,
 * the plan (models, jobs, cache keys, reuse), running it on the job pool (job_pool.h) and committing
 * each job in plan order (the blob, its rows, provenance, its event), the live display's thread,
 * and the last steps (versions, schematics, the rows of bundle_rows.c, the signature). What each
 * kind of asset is made of lives in its recipe (recipe.h), what a model's assets share in model.c.
 *
 * Threads (stage 4, "running the plan"): assets are built by -j worker threads, but only the main
 * thread touches the bundle writer, the catalogs and the counters, and it commits assets in plan
 * order — so the bundle is the same for any -j. What workers share is either settled before they
 * start (plan_jobs) or produced by a once-step (factory_once, job_pool_once). */
#include "factory/factory_internal.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "airfactory/bundle_merge.h"
#include "bundle/bundle_staging.h"
#include "core/fs.h"
#include "core/memory.h"
#include "factory/job_pool.h"
#include "factory/progress.h"
#include "factory/recipe.h"
#include "imager/installer.h"
#include "oci/layer_flatten.h"
#include "oci/store.h"

/* ------------------------------------------------------------------ progress events */

void factory_event_begin(struct factory *f, struct json_writer *w, struct buffer *b, const char *type)
{
    (void)f;
    json_writer_init(w, b);
    w->escape_html = false;
    json_object_begin(w);
    json_kv_string(w, "event", type);
}

void factory_event_end(struct factory *f, struct json_writer *w, struct buffer *b, const char *human)
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
            factory_event_begin(f, &w, &b, "source_verified");
            json_kv_string(&w, "reference", results[k].image.reference ? results[k].image.reference : "");
            json_kv_string(&w, "platform", results[k].platform);
            json_kv_string(&w, "digest", results[k].image.digest);
            json_kv_string(&w, "method", results[k].receipt.method);
            char *human = xasprintf("verified %s (%s) %s: %s", results[k].image.reference, results[k].platform,
                                    results[k].image.digest, results[k].receipt.method);
            factory_event_end(f, &w, &b, human);
            free(human);
        }
        free(results); /* entries moved into f->imported */
        f->stats.sources++;
    }
    return 0;
}

bool factory_platform_has_arch(const char *platform, const char *arch)
{
    char want[OCI_PLATFORM_SIZE];
    snprintf(want, sizeof want, "linux/%s", arch);
    size_t n = strlen(want);
    return strncmp(platform, want, n) == 0 && (platform[n] == '\0' || platform[n] == '/');
}

/* The imported image of a role for a version, preferring the given arch's platform (imager and
 * catalogs carry every arch's files in each platform image, so any platform will do). */
const struct imported *factory_find_role(struct factory *f, enum source_role role, const char *version, const char *arch)
{
    const struct imported *any = NULL;
    for (size_t i = 0; i < f->imported_count; i++) {
        const struct imported *im = &f->imported[i];
        if (im->source->role != role || !im->version || strcmp(im->version, version) != 0)
            continue;
        if (arch && factory_platform_has_arch(im->result.platform, arch))
            return im;
        if (!any)
            any = im;
    }
    return any;
}

/* ------------------------------------------------------------------ stage 2: catalogs */

struct version_catalog *factory_catalog(struct factory *f, const char *version, struct error *err)
{
    for (size_t i = 0; i < f->catalog_count; i++)
        if (strcmp(f->catalogs[i].version, version) == 0)
            return &f->catalogs[i];
    f->catalogs = xrealloc(f->catalogs, (f->catalog_count + 1) * sizeof *f->catalogs);
    struct version_catalog *vc = &f->catalogs[f->catalog_count++];
    memset(vc, 0, sizeof *vc);
    vc->version = xstrdup(version);

    const struct imported *ext = factory_find_role(f, SOURCE_ROLE_EXTENSIONS, version, "amd64");
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
    const struct imported *ovl = factory_find_role(f, SOURCE_ROLE_OVERLAYS, version, "amd64");
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

/* ------------------------------------------------------------------ once-steps */

/* Once-steps (job_pool_once). STORE/work/ caches (an imager's boot files, a flattened extension, the
 * GRUB tree) are shared by every model of a version and arch, and models build in parallel: the
 * first thread that needs one fills it while the others wait for it instead of extracting the same
 * layer twice into the same directory. A failure is remembered and handed to every waiter, so each
 * asset that needed the step reports why. Keys are the cache directories themselves. */
struct once_call {
    struct factory *f;
    factory_once_fn *fn;
    void *arg;
};

static int once_call(void *arg, struct error *err)
{
    struct once_call *c = arg;
    return c->fn(c->f, c->arg, err);
}

int factory_once(struct factory *f, const char *key, factory_once_fn *fn, void *arg, struct error *err)
{
    struct once_call c = {f, fn, arg};
    return job_pool_once(f->pool, key, once_call, &c, err);
}

/* Compressor threads for a step starting now: -j split between the threads that are working, so
 * one initramfs alone gets every core and four parallel ones a quarter each (output bytes do not
 * depend on it: compress.h). */
int factory_threads(struct factory *f)
{
    return job_pool_threads(f->pool);
}

/* ------------------------------------------------------------------ the jobs' files */

struct job *factory_current_job(struct factory *f)
{
    size_t i = f->pool ? job_pool_current(f->pool) : JOB_POOL_NONE;
    return i == JOB_POOL_NONE ? NULL : &f->plan[i];
}

/* Where a recipe puts its files: the job's own directory in a worker (two models' metal-amd64.iso
 * may be built at the same time), the writer's scratch directory on the main thread. */
const char *factory_scratch_dir(struct factory *f)
{
    struct job *j = factory_current_job(f);
    return j ? j->scratch : bundle_writer_scratch_dir(f->writer);
}

int factory_job_output(struct factory *f, const char *file, bool move, struct error *err)
{
    struct job *j = factory_current_job(f);
    if (!j)
        return error_set(err, ERROR_RUNTIME, "%s: built outside a job (airfactory bug)", file);
    /* the main thread adds it when it commits this job, in plan order (commit_output) */
    j->output = xstrdup(file);
    j->move = move;
    return 0;
}

/* Main thread: a job's output file into the bundle, with its asset row. */
static int commit_output(struct factory *f, struct job *j, struct error *err)
{
    struct model *m = j->model;
    char digest[BUNDLE_DIGEST_SIZE];
    uint64_t size = 0;
    if (bundle_writer_add_blob_file(f->writer, j->output, bundle_asset_media_type(j->path),
                                    j->move ? BUNDLE_BLOB_MOVE : BUNDLE_BLOB_COPY, NULL, digest, &size, err) != 0)
        return -1;
    f->stats.bytes_built += size;
    return bundle_writer_add_asset(f->writer, m->id, m->version, j->path, digest, j->key, err);
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
    /* the imager alone, unless the asset holds the schematic's initramfs (extensions, overlay) */
    const struct factory_recipe *r = factory_recipe_for(name->kind);
    size_t count = r && (r->inputs & RECIPE_INITRAMFS) ? m->source_digest_count : 1;
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
    if (model_imager(m, err) != 0 || j->recipe->build(m, j, err) != 0)
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

/* The display has its own thread (progress_thread_start) so that it keeps moving while the main
 * thread is busy for seconds (hashing a large asset into the bundle, assembling an installer image). */
static void redraw(void *arg)
{
    show_progress(arg);
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
        if (rc == 0 && j->recipe->reused)
            rc = j->recipe->reused(m, j, err);
        f->stats.assets_reused++;
    } else {
        if (j->recipe->commit)
            rc = j->recipe->commit(m, j, err);
        else if (j->output)
            rc = commit_output(f, j, err);
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
    factory_event_begin(f, &w, &b, j->reused ? "asset_reused" : "asset_built");
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
    factory_event_end(f, &w, &b, human);
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
            if (!(j->recipe = factory_recipe_for(j->name.kind))) {
                rc = error_set(err, ERROR_INPUT,
                               "%s: airfactory %s builds no %s assets; remove it from the manifest's outputs", j->path,
                               AIRFACTORY_VERSION, asset_kind_name(j->name.kind));
                break;
            }
            if (factory_asset_cache_key(m, j->path, &j->name, j->key, err) != 0) {
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
    if (r->progress && !r->json && r->events)
        f.progress = progress_new(r->events, 0, NULL);
    /* absolute: an overlay's installer runs in its own scratch directory and is handed paths into
     * the store (its artifacts) and the writer's scratch (the disk image) */
    char *store = r->store ? xstrdup(r->store) : xasprintf("%s.store", r->output), *output = NULL;
    int rc = path_absolute(store, &f.store_dir, err);
    if (rc == 0)
        rc = path_absolute(r->output, &output, err);
    free(store);
    f.work_dir = f.store_dir ? path_join(f.store_dir, "work") : NULL;
    if (rc == 0)
        rc = store_open(f.store_dir, STORE_WRITE, &f.store, err);
    if (rc == 0)
        rc = fs_mkdir_p(f.work_dir, 0755, err);
    if (rc == 0)
        rc = factory_load_secureboot(&f, err);
    if (rc == 0)
        rc = import_sources(&f, err);
    if (rc == 0) {
        struct bundle_writer_options options = {
            .target = output,
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
        f.display = progress_thread_start(redraw, &f);
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
            rc = factory_add_catalog_rows(&f, versions[i], err);
        if (rc == 0)
            rc = factory_add_talosctl_rows(&f, versions[i], err);
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
        rc = factory_add_source_rows(&f, err);
    if (rc == 0)
        rc = factory_add_cluster_images(&f, err);
    if (rc == 0)
        rc = factory_add_public_key(&f, err);
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
            factory_event_begin(&f, &w, &b, "bundle_signed");
            json_kv_string(&w, "bundle", r->output);
            json_kv_int(&w, "assets_built", (int64_t)f.stats.assets_built);
            json_kv_int(&w, "assets_reused", (int64_t)f.stats.assets_reused);
            char *human = xasprintf("bundle %s written and signed: %" PRIu64 " assets built, %" PRIu64 " reused",
                                    r->output, f.stats.assets_built, f.stats.assets_reused);
            factory_event_end(&f, &w, &b, human);
            free(human);
        }
    } else if (f.writer) {
        bundle_writer_abort(f.writer);
        f.writer = NULL;
    }
    progress_thread_stop(f.display);
    if (f.progress) {
        if (f.plan_count)
            show_progress(&f); /* the final counts, for the summary line */
        progress_finish(f.progress, rc == 0);
    }
    if (stats)
        *stats = f.stats;
    factory_free(&f);
    free(output);
    return rc;
}
