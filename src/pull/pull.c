/* pull — see pull.h. Reading order: pull_run() at the bottom; above it the needs (which images and
 * platforms the plan asks for), one item's metadata, the parallel blob downloads, the archives. */
#include "pull/pull.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "airfactory/buffer.h"
#include "bundle/bundle_staging.h"
#include "core/byte_size.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/memory.h"
#include "factory/progress.h"
#include "imager/catalog.h"
#include "oci/oci_archive.h"
#include "oci/oci_import.h"
#include "oci/store.h"
#include "pull/pull_image.h"

#define CATALOG_FILE_MAX (16u << 20)
#define DEFAULT_JOBS 4

enum { ARCH_AMD64 = 1, ARCH_ARM64 = 2 };

/* One image to pull and the archive it becomes. */
struct item {
    enum source_role role;
    char *version;   /* Talos version, "" for extension and overlay images */
    char *reference; /* the name the import records: the manifest's, or the catalog's */
    char *tag;       /* index.json name of the image */
    char *dest;      /* the archive's path (or the layout directory's) */
    bool layout_dir; /* write an OCI layout directory, not an archive */
    const struct verify_policy *policy;
    bool listed; /* among the manifest's sources */
    char *note;  /* unlisted: how to add it */
    char *pinned_by;
    unsigned arches; /* ARCH_* bits that must be there */
    char *arch_reason;
    struct pull_image img;
    bool unchanged;
    uint64_t blobs_fetched, blobs_present, bytes_fetched;
};

struct version_catalog {
    char *version;
    struct catalog catalog;
    char *extensions_ref, *overlays_ref; /* the catalogs' references, for messages */
};

struct pull {
    const struct pull_request *r;
    struct pull_stats *stats;
    struct store *store;
    char *scratch; /* dry run: the throw-away store's directory */
    struct registry_client *client;
    struct version_catalog *catalogs;
    size_t catalog_count;
    unsigned jobs;
    struct progress *progress;
    pthread_mutex_t display_lock;
};

/* ------------------------------------------------------------------ events */

static void event(struct pull *p, struct json_writer *w, struct buffer *b, const char *human)
{
    json_object_end(w);
    const struct pull_request *r = p->r;
    if (!r->events)
        return;
    if (p->progress && !r->json) {
        pthread_mutex_lock(&p->display_lock);
        progress_log(p->progress, human);
        pthread_mutex_unlock(&p->display_lock);
    } else {
        fprintf(r->events, "%s\n", r->json ? buffer_cstr(b) : human);
        fflush(r->events);
    }
}

static void event_begin(struct json_writer *w, struct buffer *b, const char *type)
{
    json_writer_init(w, b);
    w->escape_html = false;
    json_object_begin(w);
    json_kv_string(w, "event", type);
}

static void item_event(struct pull *p, const char *type, const struct item *it, const char *human)
{
    struct json_writer w;
    struct buffer b = BUFFER_INIT;
    event_begin(&w, &b, type);
    json_kv_string(&w, "reference", it->reference);
    json_kv_string(&w, "digest", it->img.digest);
    json_kv_string(&w, "role", source_role_name(it->role));
    json_kv_string(&w, "path", it->dest);
    if (!strcmp(type, "source_verified")) {
        json_kv_string(&w, "method", it->img.receipt.method);
    } else if (!strcmp(type, "source_written") || !strcmp(type, "source_unchanged")) {
        json_kv_int(&w, "blobs_fetched", (int64_t)it->blobs_fetched);
        json_kv_int(&w, "blobs_present", (int64_t)it->blobs_present);
        json_kv_int(&w, "bytes_fetched", (int64_t)it->bytes_fetched);
    } else if (!strcmp(type, "source_not_in_manifest")) {
        json_kv_string(&w, "add", it->note);
    }
    event(p, &w, &b, human);
    buffer_free(&b);
}

/* ------------------------------------------------------------------ needs */

static unsigned arch_bit(const char *arch)
{
    return !strcmp(arch, "amd64") ? ARCH_AMD64 : !strcmp(arch, "arm64") ? ARCH_ARM64 : 0;
}

static char **arch_list(unsigned bits, size_t *count)
{
    char **out = xcalloc(3, sizeof *out);
    *count = 0;
    if (bits & ARCH_AMD64)
        out[(*count)++] = xstrdup("amd64");
    if (bits & ARCH_ARM64)
        out[(*count)++] = xstrdup("arm64");
    return out;
}

static char *arch_words(unsigned bits)
{
    return xstrdup(bits == (ARCH_AMD64 | ARCH_ARM64) ? "amd64 and arm64" : bits & ARCH_AMD64 ? "amd64" : "arm64");
}

/* Only assets with an initramfs carry extensions (the factory's rule: an amd64-only microcode
 * extension must not stop kernel-arm64); overlays matter for the same ones. */
static bool needs_extensions(const struct plan_model *m)
{
    return m->asset.kind != ASSET_KERNEL && m->asset.kind != ASSET_CMDLINE;
}

/* Architectures the plan builds for a version; installers_only: for installer assets. */
static unsigned version_arches(const struct plan *plan, const char *version, bool installers_only)
{
    unsigned bits = 0;
    for (size_t i = 0; i < plan->model_count; i++) {
        const struct plan_model *m = &plan->models[i];
        if (!strcmp(m->version, version) && (!installers_only || m->asset.kind == ASSET_INSTALLER))
            bits |= arch_bit(m->arch);
    }
    return bits;
}

/* The tag to name an image by in its archive: the reference's, else one made from its digest. */
static char *image_tag(const struct registry_ref *ref)
{
    if (ref->tag)
        return xstrdup(ref->tag);
    return xasprintf("digest-%.12s", ref->digest + 7);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* Where a source goes: its path, or DIR/<its last component> with --to. A path that names an
 * existing directory or does not end like a tar (.tar, .tar.gz, .tgz, .tar.zst, .tar.xz) is an OCI
 * layout directory; the rest are archive files (written uncompressed: the reader detects it). */
static char *dest_for(const struct pull_request *r, const char *path, bool *layout_dir)
{
    char *p = xstrdup(path);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    static const char *const archives[] = {".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.xz"};
    bool archive = false;
    for (size_t i = 0; i < sizeof archives / sizeof archives[0]; i++)
        archive |= ends_with(p, archives[i]);
    *layout_dir = fs_is_dir(p) || !archive;
    if (!r->to)
        return p;
    const char *slash = strrchr(p, '/');
    char *out = path_join(r->to, slash ? slash + 1 : p);
    free(p);
    return out;
}

static void item_free(struct item *it)
{
    free(it->version);
    free(it->reference);
    free(it->tag);
    free(it->dest);
    free(it->note);
    free(it->pinned_by);
    free(it->arch_reason);
    pull_image_free(&it->img);
}

static void items_free(struct item *items, size_t count)
{
    for (size_t i = 0; i < count; i++)
        item_free(&items[i]);
    free(items);
}

/* An item for a listed source; pinned: the digest a catalog gives it (or NULL). */
static int item_from_source(const struct pull_request *r, const struct plan_source *ps, const char *pinned,
                            const char *pinned_by, struct item *it, struct error *err)
{
    const struct manifest_source *s = ps->source;
    memset(it, 0, sizeof *it);
    if (registry_ref_parse(s->reference, &it->img.ref, err) != 0)
        return error_prefix(err, "%s:%d:%d: source %s: ", r->manifest->path, s->line, s->column, s->path);
    if (pinned) {
        if (it->img.ref.digest && strcmp(it->img.ref.digest, pinned) != 0) {
            error_set(err, ERROR_INPUT,
                      "%s:%d:%d: source %s names %s, but %s pins %s; fix the reference or the "
                      "catalog source",
                      r->manifest->path, s->line, s->column, s->reference, it->img.ref.digest, pinned_by, pinned);
            registry_ref_free(&it->img.ref);
            return -1;
        }
        free(it->img.ref.digest);
        it->img.ref.digest = xstrdup(pinned);
        it->pinned_by = xstrdup(pinned_by);
    }
    it->role = s->role;
    it->version = xstrdup(s->version ? s->version : "");
    it->reference = xstrdup(s->reference);
    it->tag = image_tag(&it->img.ref);
    it->dest = dest_for(r, s->path, &it->layout_dir);
    it->policy = &ps->policy;
    it->listed = true;
    return 0;
}

static void item_finish_setup(struct pull *p, struct item *it)
{
    char *text = registry_ref_format(&it->img.ref);
    it->img.what = text;
    it->img.pinned_by = it->pinned_by;
    it->img.policy = it->policy;
    it->img.arches = arch_list(it->arches, &it->img.arch_count);
    it->img.arch_reason = it->arch_reason;
    (void)p;
}

/* ------------------------------------------------------------------ catalogs */

static struct version_catalog *catalog_of(struct pull *p, const char *version, bool create)
{
    for (size_t i = 0; i < p->catalog_count; i++)
        if (!strcmp(p->catalogs[i].version, version))
            return &p->catalogs[i];
    if (!create)
        return NULL;
    p->catalogs = xrealloc(p->catalogs, (p->catalog_count + 1) * sizeof *p->catalogs);
    struct version_catalog *vc = &p->catalogs[p->catalog_count++];
    memset(vc, 0, sizeof *vc);
    vc->version = xstrdup(version);
    return vc;
}

static int read_catalog(struct pull *p, const struct item *it, struct error *err)
{
    struct version_catalog *vc = catalog_of(p, it->version, true);
    char *what = xasprintf("%s@%s", it->reference, it->img.digest);
    int rc = 0;
    if (it->role == SOURCE_ROLE_EXTENSIONS) {
        struct buffer digests = BUFFER_INIT, descriptions = BUFFER_INIT;
        /* only image-digests is required: descriptions.yaml came with the Talos 1.7 catalogs */
        rc = pull_image_read_file(p->store, &it->img, "image-digests", CATALOG_FILE_MAX, &digests, err);
        if (rc == 1 &&
            pull_image_read_file(p->store, &it->img, "descriptions.yaml", CATALOG_FILE_MAX, &descriptions, err) < 0)
            rc = -1;
        if (rc == 0)
            rc = error_set(err, ERROR_INPUT,
                           "%s: not an extensions catalog (no /image-digests); check the source's "
                           "role and reference",
                           what);
        if (rc == 1)
            rc = catalog_parse_extensions(&vc->catalog, buffer_cstr(&digests), digests.len, buffer_cstr(&descriptions),
                                          descriptions.len, what, err);
        free(vc->extensions_ref);
        vc->extensions_ref = xstrdup(it->reference);
        buffer_free(&digests);
        buffer_free(&descriptions);
    } else {
        struct buffer text = BUFFER_INIT;
        rc = pull_image_read_file(p->store, &it->img, "overlays.yaml", CATALOG_FILE_MAX, &text, err);
        if (rc == 0)
            rc = error_set(err, ERROR_INPUT,
                           "%s: not an overlays catalog (no /overlays.yaml); check the source's role "
                           "and reference",
                           what);
        if (rc == 1)
            rc = catalog_parse_overlays(&vc->catalog, buffer_cstr(&text), text.len, what, err);
        free(vc->overlays_ref);
        vc->overlays_ref = xstrdup(it->reference);
        buffer_free(&text);
    }
    free(what);
    return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ blob downloads */

struct slot {
    char label[160];
    _Atomic uint64_t bytes;
    uint64_t expected;
    double started;
    bool busy;
};

struct task {
    struct item *item;
    const struct pull_layer *layer;
};

struct pool {
    struct pull *p;
    struct task *tasks;
    size_t count, next, finished, succeeded;
    size_t present; /* blobs already in the store (for the display) */
    uint64_t bytes_done;
    pthread_mutex_t lock;
    bool failed, stop_display;
    struct error err;
    struct slot *slots;
};

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct blob_sink {
    struct store *store;
    struct store_temp temp;
    struct slot *slot;
};

static int sink_write(void *context, const void *data, size_t len, struct error *err)
{
    struct blob_sink *b = context;
    atomic_fetch_add(&b->slot->bytes, len);
    return store_temp_write(&b->temp, data, len, err);
}

static int sink_restart(void *context, struct error *err)
{
    struct blob_sink *b = context;
    store_temp_discard(&b->temp);
    atomic_store(&b->slot->bytes, 0);
    return store_temp_create(b->store, &b->temp, err);
}

static int fetch_one(struct pull *p, struct registry_session *s, const struct task *t, struct slot *slot,
                     struct error *err)
{
    struct blob_sink b = {.store = p->store, .slot = slot};
    if (store_temp_create(p->store, &b.temp, err) != 0)
        return -1;
    struct registry_sink sink = {&b, sink_write, sink_restart};
    const struct pull_image *img = &t->item->img;
    int found = registry_fetch_blob(s, &img->ref, t->layer->digest, t->layer->size, &sink, err);
    int rc = -1;
    char hex[SHA256_HEX_LEN + 1];
    if (found == 0) {
        error_set(err, ERROR_INPUT,
                  "%s: blob %s, named by the image, is not on the registry; the registry's copy is "
                  "incomplete: push the image again (skopeo copy --all)",
                  img->what, t->layer->digest);
    } else if (found == 1 && store_temp_finish(&b.temp, hex, err) == 0) {
        if (strcmp(hex, t->layer->digest + 7) != 0)
            error_set(err, ERROR_INPUT,
                      "%s: digest mismatch: blob %s from the registry hashes to sha256:%s; the "
                      "registry's copy is damaged or a proxy altered it: push the image again or fix the mirror",
                      img->what, t->layer->digest, hex);
        else
            rc = store_temp_commit(p->store, &b.temp, hex, err);
    }
    store_temp_discard(&b.temp);
    return rc;
}

static void *worker_main(void *arg)
{
    struct pool *pool = arg;
    struct pull *p = pool->p;
    struct registry_session *s = registry_session_new(p->client);
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        if (pool->failed || pool->next == pool->count) {
            pthread_mutex_unlock(&pool->lock);
            break;
        }
        size_t index = pool->next++;
        struct slot *slot = NULL;
        for (unsigned i = 0; i < p->jobs && !slot; i++)
            if (!pool->slots[i].busy)
                slot = &pool->slots[i];
        struct task *t = &pool->tasks[index];
        slot->busy = true;
        atomic_store(&slot->bytes, 0);
        slot->expected = (uint64_t)t->layer->size;
        slot->started = now_seconds();
        const char *name = strrchr(t->item->img.ref.repository, '/');
        snprintf(slot->label, sizeof slot->label, "%s %.19s", name ? name + 1 : t->item->img.ref.repository,
                 t->layer->digest);
        pthread_mutex_unlock(&pool->lock);

        struct error e = {0};
        double started = now_seconds();
        int rc = fetch_one(p, s, t, slot, &e);

        pthread_mutex_lock(&pool->lock);
        slot->busy = false;
        pool->finished++;
        if (rc != 0 && !pool->failed) {
            pool->failed = true;
            pool->err = e;
        }
        if (rc == 0) {
            pool->succeeded++;
            pool->bytes_done += (uint64_t)t->layer->size;
            t->item->blobs_fetched++;
            t->item->bytes_fetched += (uint64_t)t->layer->size;
        }
        pthread_mutex_unlock(&pool->lock);
        if (rc == 0 && p->r->json) {
            struct json_writer w;
            struct buffer b = BUFFER_INIT;
            event_begin(&w, &b, "blob_fetched");
            json_kv_string(&w, "reference", t->item->reference);
            json_kv_string(&w, "digest", t->layer->digest);
            json_kv_int(&w, "bytes", t->layer->size);
            json_kv_int(&w, "milliseconds", (int64_t)((now_seconds() - started) * 1000));
            event(p, &w, &b, "");
            buffer_free(&b);
        }
    }
    registry_session_free(s);
    return NULL;
}

static void draw(struct pool *pool)
{
    struct pull *p = pool->p;
    struct progress_asset running[64];
    size_t n = 0;
    pthread_mutex_lock(&pool->lock);
    double now = now_seconds();
    for (unsigned i = 0; i < p->jobs && n < sizeof running / sizeof running[0]; i++) {
        struct slot *s = &pool->slots[i];
        if (!s->busy)
            continue;
        running[n++] = (struct progress_asset){s->label, s->label, atomic_load(&s->bytes), now - s->started, s->expected};
    }
    struct progress_state st = {.total = pool->count + pool->present,
                                .done = pool->finished + pool->present,
                                .reused = pool->present,
                                .bytes = pool->bytes_done,
                                .running = running,
                                .running_count = n};
    pthread_mutex_lock(&p->display_lock);
    progress_update(p->progress, &st);
    pthread_mutex_unlock(&p->display_lock);
    pthread_mutex_unlock(&pool->lock);
}

static void *display_main(void *arg)
{
    struct pool *pool = arg;
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        bool stop = pool->stop_display;
        pthread_mutex_unlock(&pool->lock);
        if (stop)
            break;
        draw(pool);
        struct timespec t = {0, 100 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    return NULL;
}

/* Download every layer of items the store does not have yet, p->jobs at once. */
static int fetch_layers(struct pull *p, struct item **items, size_t count, struct error *err)
{
    struct pool pool = {.p = p};
    pthread_mutex_init(&pool.lock, NULL);
    struct string_set_lite {
        char **v;
        size_t n;
    } seen = {0};
    for (size_t i = 0; i < count; i++) {
        struct item *it = items[i];
        for (size_t k = 0; k < it->img.layer_count; k++) {
            const struct pull_layer *l = &it->img.layers[k];
            bool dup = false;
            for (size_t j = 0; j < seen.n && !dup; j++)
                dup = !strcmp(seen.v[j], l->digest);
            if (dup)
                continue;
            seen.v = xrealloc(seen.v, (seen.n + 1) * sizeof *seen.v);
            seen.v[seen.n++] = (char *)l->digest;
            if (store_has_blob(p->store, l->digest)) {
                it->blobs_present++;
                pool.present++;
                continue;
            }
            pool.tasks = xrealloc(pool.tasks, (pool.count + 1) * sizeof *pool.tasks);
            pool.tasks[pool.count++] = (struct task){it, l};
        }
    }
    free(seen.v);
    p->stats->blobs_present += pool.present;
    int rc = 0;
    if (pool.count > 0) {
        unsigned threads = p->jobs < pool.count ? p->jobs : (unsigned)pool.count;
        pool.slots = xcalloc(p->jobs, sizeof *pool.slots);
        pthread_t *tids = xcalloc(threads, sizeof *tids);
        pthread_t display;
        bool displaying = false;
        if (p->progress) {
            progress_start(p->progress, pool.count + pool.present, pool.present, p->jobs);
            displaying = pthread_create(&display, NULL, display_main, &pool) == 0;
        }
        unsigned started = 0;
        for (unsigned i = 0; i < threads; i++)
            started += pthread_create(&tids[i], NULL, worker_main, &pool) == 0;
        if (started == 0)
            worker_main(&pool); /* no thread could start: do it here */
        for (unsigned i = 0; i < started; i++)
            pthread_join(tids[i], NULL);
        if (displaying) {
            pthread_mutex_lock(&pool.lock);
            pool.stop_display = true;
            pthread_mutex_unlock(&pool.lock);
            pthread_join(display, NULL);
            /* erased: the lines about the archives follow, and the next phase draws its own */
            pthread_mutex_lock(&p->display_lock);
            progress_finish(p->progress, false);
            pthread_mutex_unlock(&p->display_lock);
        }
        free(tids);
        if (pool.failed) {
            *err = pool.err;
            rc = -1;
        } else if (store_sync_blobs(p->store, err) != 0) {
            rc = -1;
        }
        p->stats->blobs_fetched += pool.succeeded;
        p->stats->bytes_fetched += pool.bytes_done;
        free(pool.slots);
    }
    free(pool.tasks);
    pthread_mutex_destroy(&pool.lock);
    return rc;
}

/* ------------------------------------------------------------------ one item */

/* Its documents and signatures, verified. Runs on the metadata threads: touches nothing shared
 * but the registry client (which locks its own state). */
static int item_metadata(struct registry_session *s, struct item *it, struct error *err)
{
    if (pull_image_resolve(s, &it->img, err) != 0 || pull_image_signatures(s, &it->img, err) != 0 ||
        pull_image_verify(&it->img, err) != 0)
        return -1;
    return 0;
}

struct metadata_pool {
    struct pull *p;
    struct item *items;
    size_t count, next;
    int *rc;
    struct error *errors;
    pthread_mutex_t lock;
};

static void *metadata_main(void *arg)
{
    struct metadata_pool *m = arg;
    struct registry_session *s = registry_session_new(m->p->client);
    for (;;) {
        pthread_mutex_lock(&m->lock);
        size_t i = m->next < m->count ? m->next++ : m->count;
        pthread_mutex_unlock(&m->lock);
        if (i == m->count)
            break;
        m->rc[i] = item_metadata(s, &m->items[i], &m->errors[i]);
    }
    registry_session_free(s);
    return NULL;
}

/* Every item's metadata, p->jobs images at once (on a far registry the many small requests of one
 * image are round trips, not bandwidth). Results and events in manifest order, whatever finished
 * first; the first failure in that order is the one reported. */
static int items_metadata(struct pull *p, struct item *items, size_t count, struct error *err)
{
    struct metadata_pool m = {.p = p, .items = items, .count = count};
    m.rc = xcalloc(count + 1, sizeof *m.rc);
    m.errors = xcalloc(count + 1, sizeof *m.errors);
    pthread_mutex_init(&m.lock, NULL);
    for (size_t i = 0; i < count; i++)
        item_finish_setup(p, &items[i]);
    unsigned threads = p->jobs < count ? p->jobs : (unsigned)count;
    pthread_t *tids = xcalloc(threads + 1, sizeof *tids);
    unsigned started = 0;
    for (unsigned i = 0; i < threads; i++)
        started += pthread_create(&tids[started], NULL, metadata_main, &m) == 0;
    if (started == 0)
        metadata_main(&m);
    for (unsigned i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        if (m.rc[i] != 0) {
            *err = m.errors[i];
            rc = -1;
            break;
        }
        struct item *it = &items[i];
        p->stats->images++;
        const struct verify_receipt *r = &it->img.receipt;
        const char *detail = r->key_fingerprint[0] ? r->key_fingerprint : r->identity;
        char *human =
            xasprintf("verified %s@%s: %s%s%s", it->reference, it->img.digest, r->method, detail[0] ? " " : "", detail);
        item_event(p, "source_verified", it, human);
        free(human);
    }
    pthread_mutex_destroy(&m.lock);
    free(tids);
    free(m.rc);
    free(m.errors);
    return rc;
}

/* The import check: the written layout read back by the code `airfactory build` runs. */
static int import_check(struct pull *p, struct item *it, const char *path, struct error *err)
{
    struct oci_import_options options = {
        .policy = it->policy,
        .tag = it->tag,
        .reference = it->reference,
        .role = source_role_name(it->role),
    };
    struct oci_import_result *results = NULL;
    size_t n = 0;
    int rc = oci_import(p->store, path, &options, &results, &n, NULL, err);
    if (rc != 0)
        error_prefix(err, "%s: what was pulled for %s does not import: ", it->dest, it->reference);
    oci_import_results_free(results, n);
    free(results);
    return rc;
}

/* Write it beside the destination, import it (verified) like the build will, then put it in
 * place: an archive by rename, a layout directory by bundle_staging's atomic swap. */
static int item_write(struct pull *p, struct item *it, const struct oci_archive_blob *blobs, size_t count,
                      const struct buffer *index_json, struct error *err)
{
    char *dir = xstrdup(it->dest);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir)
        *slash = '\0';
    int rc = slash && slash != dir ? fs_mkdir_p(dir, 0755, err) : 0;
    free(dir);
    if (rc != 0)
        return -1;
    if (it->layout_dir) {
        struct bundle_staging staging;
        memset(&staging, 0, sizeof staging);
        if (bundle_staging_open(&staging, it->dest, false, err) != 0)
            return -1;
        rc = oci_archive_write_dir(p->store, staging.tmp, blobs, count, index_json, err);
        if (rc == 0)
            rc = import_check(p, it, staging.tmp, err);
        if (rc == 0)
            return bundle_staging_commit(&staging, err);
        bundle_staging_abort(&staging);
        return -1;
    }
    struct atomic_file f;
    if (atomic_file_open(&f, it->dest, 0644, err) != 0)
        return -1;
    rc = oci_archive_write(p->store, f.fd, it->dest, blobs, count, index_json, oci_import_timestamp(), err);
    if (rc == 0)
        rc = import_check(p, it, f.tmp_path, err);
    if (rc != 0) {
        atomic_file_abort(&f);
        return -1;
    }
    return atomic_file_commit(&f, err);
}

/* Pull items: every one's metadata first (a missing signature stops the pull before any layer
 * moves), then the layers of all of them in parallel, then the archives. keep_layers: fetch the
 * layers even when the archive is unchanged or in a dry run (the catalogs are read from them). */
static int pull_items(struct pull *p, struct item *items, size_t count, bool keep_layers, struct error *err)
{
    const struct pull_request *r = p->r;
    if (items_metadata(p, items, count, err) != 0)
        return -1;
    for (size_t i = 0; i < count; i++) {
        if (r->dry_run && r->out) {
            struct item *it = &items[i];
            if (r->json) {
                struct buffer b = BUFFER_INIT;
                struct json_writer w;
                event_begin(&w, &b, "would_pull");
                json_kv_string(&w, "reference", it->reference);
                json_kv_string(&w, "digest", it->img.digest);
                json_kv_string(&w, "role", source_role_name(it->role));
                json_kv_string(&w, "path", it->dest);
                json_kv_bool(&w, "listed", it->listed);
                json_object_end(&w);
                fprintf(r->out, "%s\n", buffer_cstr(&b));
                buffer_free(&b);
            } else {
                char *name = registry_ref_name(&it->img.ref);
                fprintf(r->out, "%s%s%s@%s %s%s\n", name, it->img.ref.tag ? ":" : "",
                        it->img.ref.tag ? it->img.ref.tag : "", it->img.digest, it->dest,
                        it->listed ? "" : " (not in the manifest's sources)");
                free(name);
            }
            fflush(r->out);
        }
    }
    struct item **fetch = xcalloc(count + 1, sizeof *fetch);
    size_t fetch_count = 0;
    struct oci_archive_blob **blobs = xcalloc(count + 1, sizeof *blobs);
    size_t *blob_counts = xcalloc(count + 1, sizeof *blob_counts);
    struct buffer *indexes = xcalloc(count + 1, sizeof *indexes);
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        struct item *it = &items[i];
        pull_image_archive(&it->img, it->tag, &blobs[i], &blob_counts[i], &indexes[i]);
        if (!r->dry_run)
            it->unchanged = (it->layout_dir ? oci_archive_same_dir(it->dest, blobs[i], blob_counts[i], &indexes[i])
                                            : oci_archive_same(it->dest, blobs[i], blob_counts[i], &indexes[i])) == 1;
        if (keep_layers || (!r->dry_run && !it->unchanged))
            fetch[fetch_count++] = it;
    }
    if (rc == 0)
        rc = fetch_layers(p, fetch, fetch_count, err);
    for (size_t i = 0; i < count && rc == 0 && !r->dry_run; i++) {
        struct item *it = &items[i];
        char *human;
        if (it->unchanged) {
            p->stats->unchanged++;
            human = xasprintf("unchanged %s (%s@%s)", it->dest, it->reference, it->img.digest);
            item_event(p, "source_unchanged", it, human);
        } else {
            rc = item_write(p, it, blobs[i], blob_counts[i], &indexes[i], err);
            if (rc != 0)
                break;
            p->stats->written++;
            char size[32];
            byte_size_text(it->bytes_fetched, size, sizeof size);
            human = xasprintf("wrote %s (%s@%s): %llu blobs fetched (%s), %llu already in the store", it->dest,
                              it->reference, it->img.digest, (unsigned long long)it->blobs_fetched, size,
                              (unsigned long long)it->blobs_present);
            item_event(p, "source_written", it, human);
        }
        free(human);
        if (!it->listed) {
            human = xasprintf("note: %s is not among the manifest's sources, so build will not use it: add `%s`",
                              it->reference, it->note);
            item_event(p, "source_not_in_manifest", it, human);
            free(human);
        }
    }
    for (size_t i = 0; i < count; i++) {
        free(blobs[i]);
        buffer_free(&indexes[i]);
    }
    free(blobs);
    free(blob_counts);
    free(indexes);
    free(fetch);
    return rc;
}

/* ------------------------------------------------------------------ phases */

static bool same_image_name(const struct registry_ref *a, const struct registry_ref *b)
{
    return !strcmp(a->registry, b->registry) && !strcmp(a->repository, b->repository) &&
           ((!a->tag && !b->tag) || (a->tag && b->tag && !strcmp(a->tag, b->tag)));
}

/* The catalogs of every version, as listed. */
static int catalog_items(struct pull *p, struct item **out, size_t *count, struct error *err)
{
    const struct plan *plan = p->r->plan;
    *out = xcalloc(plan->source_count + 1, sizeof **out);
    *count = 0;
    for (size_t i = 0; i < plan->source_count; i++) {
        const struct plan_source *ps = &plan->sources[i];
        if (ps->source->role != SOURCE_ROLE_EXTENSIONS && ps->source->role != SOURCE_ROLE_OVERLAYS)
            continue;
        if (item_from_source(p->r, ps, NULL, NULL, &(*out)[*count], err) != 0)
            return -1;
        (*count)++;
    }
    return 0;
}

/* One image a schematic needs by a catalog's pin. */
struct need {
    char *reference; /* the catalog's "REGISTRY/REPO:TAG" */
    char *digest;
    enum source_role role;
    unsigned arches;
    char *reason; /* "extension siderolabs/x of schematic demo, Talos v1.11.3" */
    char *pinned_by;
    bool covered;
};

static void needs_free(struct need *needs, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(needs[i].reference);
        free(needs[i].digest);
        free(needs[i].reason);
        free(needs[i].pinned_by);
    }
    free(needs);
}

static int add_need(struct need **needs, size_t *count, const char *reference, const char *digest,
                    enum source_role role, unsigned arch, const char *reason, const char *pinned_by, struct error *err)
{
    for (size_t i = 0; i < *count; i++) {
        struct need *n = &(*needs)[i];
        if (strcmp(n->reference, reference) != 0)
            continue;
        if (strcmp(n->digest, digest) != 0)
            return error_set(err, ERROR_INPUT,
                             "%s is pinned to %s by %s but to %s by %s; the catalogs disagree: pull "
                             "them again or drop one version",
                             reference, n->digest, n->pinned_by, digest, pinned_by);
        n->arches |= arch;
        return 0;
    }
    *needs = xrealloc(*needs, (*count + 1) * sizeof **needs);
    (*needs)[(*count)++] =
        (struct need){xstrdup(reference), xstrdup(digest), role, arch, xstrdup(reason), xstrdup(pinned_by), false};
    return 0;
}

/* What the schematics need from the catalogs: each extension and overlay, for which arches. */
static int collect_needs(struct pull *p, struct need **needs, size_t *count, struct error *err)
{
    const struct plan *plan = p->r->plan;
    *needs = NULL;
    *count = 0;
    for (size_t i = 0; i < plan->model_count; i++) {
        const struct plan_model *m = &plan->models[i];
        const struct schematic *s = m->schematic->schematic;
        if (!needs_extensions(m) || (!s->extension_count && !schematic_has_overlay(s)))
            continue;
        struct version_catalog *vc = catalog_of(p, m->version, false);
        for (size_t e = 0; e < s->extension_count; e++) {
            const struct catalog_extension *ce = vc ? catalog_find_extension(&vc->catalog, s->extensions[e]) : NULL;
            if (!ce)
                return error_set(err, ERROR_INPUT,
                                 "schematic %s (%s): extension %s is not in the extensions catalog "
                                 "of Talos %s%s%s; remove it from the schematic or pick a version that has it",
                                 m->schematic->name, m->schematic->id, s->extensions[e], m->version,
                                 vc && vc->extensions_ref ? ", " : "",
                                 vc && vc->extensions_ref ? vc->extensions_ref : "");
            char *reason = xasprintf("extension %s of schematic %s, Talos %s", ce->name, m->schematic->name, m->version);
            char *by = xasprintf("the extensions catalog %s", vc->extensions_ref);
            int rc = add_need(needs, count, ce->reference, ce->digest, SOURCE_ROLE_EXTENSION, arch_bit(m->arch), reason,
                              by, err);
            free(reason);
            free(by);
            if (rc != 0)
                return -1;
        }
        if (schematic_has_overlay(s) && s->overlay_name) {
            const struct catalog_overlay *co = vc ? catalog_find_overlay(&vc->catalog, s->overlay_name) : NULL;
            if (!co)
                return error_set(err, ERROR_INPUT,
                                 "schematic %s (%s): overlay %s is not in the overlays catalog of "
                                 "Talos %s%s%s; fix overlay.name or pick a version that has it",
                                 m->schematic->name, m->schematic->id, s->overlay_name, m->version,
                                 vc && vc->overlays_ref ? ", " : "", vc && vc->overlays_ref ? vc->overlays_ref : "");
            char *reason = xasprintf("overlay %s of schematic %s, Talos %s", co->name, m->schematic->name, m->version);
            char *by = xasprintf("the overlays catalog %s", vc->overlays_ref);
            int rc = add_need(needs, count, co->reference, co->digest, SOURCE_ROLE_OVERLAY, arch_bit(m->arch), reason,
                              by, err);
            free(reason);
            free(by);
            if (rc != 0)
                return -1;
        }
    }
    return 0;
}

/* Where an image no source names goes: beside the other extensions (or the catalog), named like
 * the fixtures: <repository's last part>-<tag>.oci.tar. */
static char *unlisted_dest(struct pull *p, const struct registry_ref *ref)
{
    const struct plan *plan = p->r->plan;
    const char *dir_of = NULL;
    for (size_t i = 0; i < plan->source_count && !dir_of; i++)
        if (plan->sources[i].source->role == SOURCE_ROLE_EXTENSION)
            dir_of = plan->sources[i].source->path;
    for (size_t i = 0; i < plan->source_count && !dir_of; i++)
        if (plan->sources[i].source->role == SOURCE_ROLE_EXTENSIONS)
            dir_of = plan->sources[i].source->path;
    char *dir = p->r->to ? xstrdup(p->r->to) : xstrdup(dir_of ? dir_of : p->r->manifest->path);
    if (!p->r->to) {
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
    }
    const char *last = strrchr(ref->repository, '/');
    char *name = xasprintf("%s-%s.oci.tar", last ? last + 1 : ref->repository, ref->tag ? ref->tag : "image");
    char *out = path_join(dir, name);
    free(name);
    free(dir);
    return out;
}

/* Every source but the catalogs, extension and overlay images by their catalog's digest, plus the
 * ones the schematics need that no source names. */
static int image_items(struct pull *p, struct item **out, size_t *count, struct error *err)
{
    const struct pull_request *r = p->r;
    const struct plan *plan = r->plan;
    struct need *needs;
    size_t need_count;
    if (collect_needs(p, &needs, &need_count, err) != 0)
        return -1;
    *out = xcalloc(plan->source_count + need_count + 1, sizeof **out);
    *count = 0;
    int rc = 0;
    for (size_t i = 0; i < plan->source_count && rc == 0; i++) {
        const struct plan_source *ps = &plan->sources[i];
        enum source_role role = ps->source->role;
        if (role == SOURCE_ROLE_EXTENSIONS || role == SOURCE_ROLE_OVERLAYS)
            continue;
        const char *pinned = NULL, *pinned_by = NULL;
        unsigned arches = 0;
        char *reason = NULL;
        if (role == SOURCE_ROLE_EXTENSION || role == SOURCE_ROLE_OVERLAY) {
            struct registry_ref listed;
            if (registry_ref_parse(ps->source->reference, &listed, err) != 0) {
                rc = error_prefix(err, "%s:%d:%d: ", r->manifest->path, ps->source->line, ps->source->column);
                break;
            }
            for (size_t k = 0; k < need_count && !pinned; k++) {
                struct registry_ref want;
                if (registry_ref_parse(needs[k].reference, &want, err) != 0) {
                    rc = -1;
                    break;
                }
                if (same_image_name(&listed, &want)) {
                    pinned = needs[k].digest;
                    pinned_by = needs[k].pinned_by;
                    arches = needs[k].arches;
                    reason = xstrdup(needs[k].reason);
                    needs[k].covered = true;
                }
                registry_ref_free(&want);
            }
            /* not needed by a schematic: still pinned when a catalog lists it */
            for (size_t v = 0; v < p->catalog_count && !pinned && rc == 0; v++) {
                const struct catalog *c = &p->catalogs[v].catalog;
                for (size_t k = 0; k < c->extension_count + c->overlay_count && !pinned; k++) {
                    bool ext = k < c->extension_count;
                    const char *ref = ext ? c->extensions[k].reference : c->overlays[k - c->extension_count].reference;
                    const char *digest = ext ? c->extensions[k].digest : c->overlays[k - c->extension_count].digest;
                    struct registry_ref want;
                    if (registry_ref_parse(ref, &want, err) != 0) {
                        rc = -1;
                        break;
                    }
                    if (same_image_name(&listed, &want)) {
                        pinned = digest;
                        pinned_by = ext ? p->catalogs[v].extensions_ref : p->catalogs[v].overlays_ref;
                    }
                    registry_ref_free(&want);
                }
            }
            registry_ref_free(&listed);
            if (rc != 0)
                break;
        } else if (role == SOURCE_ROLE_IMAGER || role == SOURCE_ROLE_INSTALLER || role == SOURCE_ROLE_INSTALLER_BASE) {
            bool installers = role != SOURCE_ROLE_IMAGER;
            arches = version_arches(plan, ps->source->version, installers);
            char *words = arch_words(arches);
            reason = xasprintf("the Talos %s %s%s assets", ps->source->version, words, installers ? " installer" : "");
            free(words);
        }
        char *by = pinned_by && strncmp(pinned_by, "the ", 4) != 0 ? xasprintf("the catalog %s", pinned_by)
                   : pinned_by                                     ? xstrdup(pinned_by)
                                                                   : NULL;
        struct item *it = &(*out)[*count];
        rc = item_from_source(r, ps, pinned, by, it, err);
        free(by);
        if (rc != 0) {
            free(reason);
            break;
        }
        it->arches = arches;
        it->arch_reason = reason;
        (*count)++;
    }
    for (size_t k = 0; k < need_count && rc == 0; k++) {
        struct need *n = &needs[k];
        if (n->covered)
            continue;
        struct item *it = &(*out)[*count];
        memset(it, 0, sizeof *it);
        if (registry_ref_parse(n->reference, &it->img.ref, err) != 0) {
            rc = -1;
            break;
        }
        free(it->img.ref.digest);
        it->img.ref.digest = xstrdup(n->digest);
        it->role = n->role;
        it->version = xstrdup("");
        it->reference = xstrdup(n->reference);
        it->tag = image_tag(&it->img.ref);
        it->dest = unlisted_dest(p, &it->img.ref);
        it->pinned_by = xstrdup(n->pinned_by);
        it->arches = n->arches;
        it->arch_reason = xstrdup(n->reason);
        /* the catalog's own policy verifies what it pins: the source policy named default */
        it->policy = NULL;
        for (size_t i = 0; i < plan->source_count && !it->policy; i++)
            if (!strcmp(plan->sources[i].source->trust, "default"))
                it->policy = &plan->sources[i].policy;
        for (size_t i = 0; i < plan->source_count && !it->policy; i++)
            if (plan->sources[i].source->role == SOURCE_ROLE_EXTENSIONS)
                it->policy = &plan->sources[i].policy;
        it->note = xasprintf("- {role: %s, path: %s, reference: %s}", source_role_name(n->role), it->dest, n->reference);
        (*count)++;
        if (!it->policy)
            rc = error_set(err, ERROR_INPUT,
                           "%s (%s) is needed but the manifest has no trust policy to verify it "
                           "with; add it to sources with a trust: policy",
                           n->reference, n->reason);
    }
    needs_free(needs, need_count);
    return rc;
}

int pull_run(const struct pull_request *r, struct pull_stats *stats, struct error *err)
{
    memset(stats, 0, sizeof *stats);
    struct pull p = {.r = r, .stats = stats, .jobs = r->jobs ? r->jobs : DEFAULT_JOBS};
    pthread_mutex_init(&p.display_lock, NULL);
    int rc = -1;
    struct item *catalogs = NULL, *images = NULL;
    size_t catalog_count = 0, image_count = 0;
    if (r->dry_run) {
        /* catalogs are read from their layers: a store that disappears with the run */
        const char *tmp = getenv("TMPDIR");
        p.scratch = xasprintf("%s/airfactory-pull.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(p.scratch)) {
            error_errno(err, errno, "%s: cannot create a temporary directory", p.scratch);
            free(p.scratch);
            p.scratch = NULL;
            goto out;
        }
    }
    if (store_open(p.scratch ? p.scratch : r->store, STORE_WRITE, &p.store, err) != 0)
        goto out;
    p.client = registry_client_new(r->registry);
    if (r->progress && !r->json && r->events) {
        p.progress = progress_new(r->events, 0, NULL);
        progress_set_words(p.progress, "blobs", "fetched", "present");
    }
    /* 1. the catalogs, read as soon as they are verified and stored */
    if (catalog_items(&p, &catalogs, &catalog_count, err) != 0 || pull_items(&p, catalogs, catalog_count, true, err) != 0)
        goto out;
    for (size_t i = 0; i < catalog_count; i++)
        if (read_catalog(&p, &catalogs[i], err) != 0)
            goto out;
    /* 2. everything else, extensions and overlays by the digests the catalogs pin */
    if (image_items(&p, &images, &image_count, err) != 0 || pull_items(&p, images, image_count, false, err) != 0)
        goto out;
    rc = 0;
out:
    if (p.client)
        registry_client_stats(p.client, &stats->registry);
    if (p.progress) {
        progress_finish(p.progress, false); /* erase it: the summary line below says what happened */
        progress_free(p.progress);
    }
    if (rc == 0 && r->events && !r->dry_run) {
        struct json_writer w;
        struct buffer b = BUFFER_INIT;
        event_begin(&w, &b, "pull_done");
        json_kv_int(&w, "sources", (int64_t)stats->images);
        json_kv_int(&w, "written", (int64_t)stats->written);
        json_kv_int(&w, "unchanged", (int64_t)stats->unchanged);
        json_kv_int(&w, "blobs_fetched", (int64_t)stats->blobs_fetched);
        json_kv_int(&w, "blobs_present", (int64_t)stats->blobs_present);
        json_kv_int(&w, "bytes_fetched", (int64_t)stats->bytes_fetched);
        json_kv_int(&w, "requests", (int64_t)stats->registry.requests);
        json_kv_int(&w, "bytes_received", (int64_t)stats->registry.bytes);
        json_kv_int(&w, "retries", (int64_t)stats->registry.retries);
        char size[32], received[32];
        byte_size_text(stats->bytes_fetched, size, sizeof size);
        byte_size_text(stats->registry.bytes, received, sizeof received);
        char *human = xasprintf("pulled %llu sources: %llu written, %llu unchanged; %llu blobs fetched (%s), %llu "
                                "already in the store; %llu requests, %s received, %llu retries",
                                (unsigned long long)stats->images, (unsigned long long)stats->written,
                                (unsigned long long)stats->unchanged, (unsigned long long)stats->blobs_fetched, size,
                                (unsigned long long)stats->blobs_present, (unsigned long long)stats->registry.requests,
                                received, (unsigned long long)stats->registry.retries);
        p.progress = NULL;
        event(&p, &w, &b, human);
        free(human);
        buffer_free(&b);
    }
    items_free(catalogs, catalog_count);
    items_free(images, image_count);
    for (size_t i = 0; i < p.catalog_count; i++) {
        free(p.catalogs[i].version);
        free(p.catalogs[i].extensions_ref);
        free(p.catalogs[i].overlays_ref);
        catalog_free(&p.catalogs[i].catalog);
    }
    free(p.catalogs);
    registry_client_free(p.client);
    store_close(p.store);
    if (p.scratch) {
        struct error ignored;
        fs_remove_tree(p.scratch, &ignored);
        free(p.scratch);
    }
    pthread_mutex_destroy(&p.display_lock);
    return rc;
}
