/* factory — see include/airfactory/factory.h.
 *
 * Reading order: factory_build() at the bottom drives everything; above it, one section per stage.
 * Every intermediate file lives either in STORE/work/ (extracted sources: immutable, keyed by the
 * manifest digest they came from, so they are reused across builds) or in the bundle writer's
 * scratch directory (built assets, moved into the bundle without a copy). */
#include "airfactory/factory.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "airfactory/buffer.h"
#include "airfactory/bundle_key.h"
#include "airfactory/bundle_writer.h"
#include "airfactory/catalog.h"
#include "airfactory/digest.h"
#include "airfactory/disk_image.h"
#include "airfactory/fs.h"
#include "airfactory/initramfs.h"
#include "airfactory/installer.h"
#include "airfactory/iso.h"
#include "airfactory/json.h"
#include "airfactory/kernel.h"
#include "airfactory/layer_flatten.h"
#include "airfactory/memory.h"
#include "airfactory/oci_import.h"
#include "airfactory/store.h"
#include "airfactory/uki.h"
#if __has_include("airfactory/cmdline.h")
#include "airfactory/cmdline.h"
#define FACTORY_HAVE_CMDLINE 1
#else
enum { CMDLINE_KIND_CMDLINE, CMDLINE_KIND_ISO, CMDLINE_KIND_UKI, CMDLINE_KIND_INSTALLER, CMDLINE_KIND_IMAGE };
struct profile_set;
static inline void profile_set_free(struct profile_set *p) { (void)p; }
#endif

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
    } *imported;
    size_t imported_count;

    /* catalogs per version */
    struct version_catalog {
        char *version;
        struct catalog catalog;
        bool have_extensions, have_overlays;
    } *catalogs;
    size_t catalog_count;

    struct installer_registry *installers; /* per-arch installer images awaiting their index */
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
    if (out) {
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
            .role = s->role,
        };
        struct oci_import_result *results = NULL;
        size_t count = 0;
        if (oci_import(f->store, s->path, &options, &results, &count, NULL, err) != 0)
            return error_prefix(err, "source %s (%s): ", s->path, s->role ? s->role : "");
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

static bool role_is(const struct factory_source *s, const char *a, const char *b)
{
    return s->role && (strcmp(s->role, a) == 0 || (b && strcmp(s->role, b) == 0));
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
static const struct imported *find_role(struct factory *f, const char *role, const char *alt, const char *version,
                                        const char *arch)
{
    const struct imported *any = NULL;
    for (size_t i = 0; i < f->imported_count; i++) {
        const struct imported *im = &f->imported[i];
        if (!role_is(im->source, role, alt) || !im->version || strcmp(im->version, version) != 0)
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

    const struct imported *ext = find_role(f, "extensions", "extensions-catalog", version, "amd64");
    if (ext) {
        struct buffer digests = BUFFER_INIT, descriptions = BUFFER_INIT;
        int rc = layer_read_file(f->store, &ext->result.image, "image-digests", 16u << 20, &digests, err);
        if (rc == 1)
            rc = layer_read_file(f->store, &ext->result.image, "descriptions.yaml", 16u << 20, &descriptions, err);
        if (rc < 0) {
            buffer_free(&digests);
            buffer_free(&descriptions);
            return NULL;
        }
        if (rc == 0) {
            buffer_free(&digests);
            buffer_free(&descriptions);
            error_set(err, ERROR_INPUT, "extensions catalog %s has no /image-digests or /descriptions.yaml",
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
    const struct imported *ovl = find_role(f, "overlays", "overlays-catalog", version, "amd64");
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

static int extract_imager(struct factory *f, const char *version, const char *arch, struct imager_files *out,
                          struct error *err)
{
    memset(out, 0, sizeof *out);
    const struct imported *im = find_role(f, "imager", NULL, version, arch);
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
    char *done = path_join(base, ".complete");
    bool complete = fs_exists(done);
    if (!complete) {
        if (fs_mkdir_p(base, 0755, err) != 0) {
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

/* Flatten an extension image into STORE/work/ext/<manifest hex>; returns the directory. */
static char *flatten_extension(struct factory *f, const struct imported *im, struct error *err)
{
    char *dir = xasprintf("%s/ext/%s", f->work_dir, im->result.image.manifest_digest + 7);
    if (fs_is_dir(dir))
        return dir;
    char *parent = xasprintf("%s/ext", f->work_dir);
    int rc = fs_mkdir_p(parent, 0755, err);
    free(parent);
    if (rc != 0 || layer_flatten(f->store, &im->result.image, dir, NULL, err) != 0) {
        free(dir);
        return NULL;
    }
    return dir;
}

/* The imager's usr/lib/grub tree (GRUB modules for grub-mkimage), flattened once per imager. */
static char *imager_grub_dir(struct factory *f, const struct imported *imager, struct error *err)
{
    char *dir = xasprintf("%s/imager/%s/grub", f->work_dir, imager->result.image.manifest_digest + 7);
    if (fs_is_dir(dir))
        return dir;
    struct layer_flatten_options options = {.prefix = "usr/lib/grub"};
    if (layer_flatten(f->store, &imager->result.image, dir, &options, err) != 0) {
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

/* Everything one schematic x version x arch needs; the initramfs is built at most once. */
struct model {
    struct factory *f;
    const struct factory_schematic *schematic;
    char id[SCHEMATIC_ID_HEX_LEN + 1];
    char *yaml;
    const char *version, *arch;
    struct imager_files imager;
    char **extension_dirs;
    const struct imported **extension_images;
    size_t extension_count;
    bool extensions_resolved;
    char *initramfs_path;                   /* built lazily, in the writer's scratch dir */
    const char **source_digests;            /* provenance */
    size_t source_digest_count;
};

static void model_free(struct model *m)
{
    imager_files_free(&m->imager);
    for (size_t i = 0; i < m->extension_count; i++)
        free(m->extension_dirs[i]);
    free(m->extension_dirs);
    free(m->extension_images);
    if (m->initramfs_path)
        unlink(m->initramfs_path);
    free(m->initramfs_path);
    free(m->yaml);
    free(m->source_digests);
}

static int model_prepare(struct model *m, struct error *err)
{
    struct factory *f = m->f;
    const struct schematic *s = m->schematic->schematic;
    struct buffer yaml = BUFFER_INIT;
    if (schematic_marshal(s, &yaml, err) != 0 || schematic_id(s, m->id, err) != 0) {
        buffer_free(&yaml);
        return -1;
    }
    m->yaml = buffer_take(&yaml);
    if (extract_imager(f, m->version, m->arch, &m->imager, err) != 0)
        return -1;
    m->source_digests = xcalloc(s->extension_count + 1, sizeof *m->source_digests);
    m->source_digests[m->source_digest_count++] = m->imager.imager->result.image.digest;
    return 0;
}

/* Resolve and flatten the schematic's extensions (only assets that contain an initramfs need
 * them: an amd64-only microcode extension must not stop kernel-arm64). */
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
        m->extension_dirs = xcalloc(s->extension_count, sizeof *m->extension_dirs);
        m->extension_images = xcalloc(s->extension_count, sizeof *m->extension_images);
        for (size_t i = 0; i < s->extension_count; i++) {
            const struct catalog_extension *ce = catalog_find_extension(&vc->catalog, s->extensions[i]);
            if (!ce)
                return error_set(err, ERROR_INPUT,
                                 "schematic %s (%s): extension %s is not available for Talos %s (its catalog lists "
                                 "%zu extensions); remove it from the schematic or pick a version that has it",
                                 m->schematic->name, m->id, s->extensions[i], m->version,
                                 vc->catalog.extension_count);
            const struct imported *im = find_extension_image(f, ce->digest, m->arch);
            if (!im)
                return error_set(err, ERROR_INPUT,
                                 "schematic %s (%s), Talos %s, %s: extension %s is %s, which is not among the "
                                 "imported sources for linux/%s; add its OCI tarball to the manifest's sources",
                                 m->schematic->name, m->id, m->version, m->arch, ce->name, ce->reference, m->arch);
            char *dir = flatten_extension(f, im, err);
            if (!dir)
                return error_prefix(err, "extension %s (%s): ", ce->name, im->result.image.digest);
            m->extension_dirs[m->extension_count] = dir;
            m->extension_images[m->extension_count] = im;
            m->extension_count++;
        }
    }
    for (size_t i = 0; i < m->extension_count; i++)
        m->source_digests[m->source_digest_count++] = m->extension_images[i]->result.image.digest;
    m->extensions_resolved = true;
    return 0;
}

static int model_initramfs(struct model *m, struct error *err)
{
    if (m->initramfs_path)
        return 0;
    if (model_extensions(m, err) != 0)
        return -1;
    struct initramfs_options o = {0};
    if (initramfs_options_for_version(&o, m->version, err) != 0)
        return -1;
    o.base_path = m->imager.initramfs;
    o.extension_dirs = (const char *const *)m->extension_dirs;
    o.extension_count = m->extension_count;
    o.talos_version = m->version;
    o.schematic_id = m->id;
    o.schematic_yaml = m->yaml;
    o.mtime = m->f->epoch;
    o.threads = m->f->request->jobs;
    o.work_dir = bundle_writer_scratch_dir(m->f->writer);
    char *out = xasprintf("%s/initramfs-%s-%s-%s.xz", bundle_writer_scratch_dir(m->f->writer), m->id, m->version,
                          m->arch);
    if (initramfs_build(&o, out, err) != 0) {
        free(out);
        return error_prefix(err, "initramfs for schematic %s, Talos %s, %s: ", m->id, m->version, m->arch);
    }
    m->initramfs_path = out;
    return 0;
}

/* The model's UKI for one output: the imager's systemd-stub + kernel + this model's initramfs + the
 * given command line, with Talos' profiles for that kind of output (one place for every caller:
 * UKI, ISO, disk image and installer assets). */
static int model_uki(struct model *m, const char *cmdline, enum uki_output output, const char *out_path,
                     struct error *err)
{
    if (model_initramfs(m, err) != 0)
        return -1;
    struct uki_profile_set profiles;
    uki_profiles_for(&profiles, m->version, output, cmdline);
    struct uki_options o = {
        .stub_path = m->imager.stub,
        .kernel_path = m->imager.vmlinuz,
        .initrd_path = m->initramfs_path,
        .cmdline = cmdline,
        .talos_version = m->version,
        .profiles = profiles.profiles,
        .profile_count = profiles.count,
        .timestamp = m->f->epoch,
    };
    int rc = uki_build(&o, out_path, err);
    uki_profile_set_free(&profiles);
    return rc;
}

/* kind: CMDLINE_KIND_* — the cmdline asset, the ISO's, the UKI's differ (talos-imager.md §3). */
static int model_cmdline(struct model *m, const struct asset_path *name, int kind, struct buffer *out,
                         struct error *err)
{
#ifdef FACTORY_HAVE_CMDLINE
    struct factory *f = m->f;
    if (!f->profiles && profile_set_load(&f->profiles, err) != 0)
        return -1;
    struct cmdline_request request = {
        .version = m->version,
        .platform = name->platform,
        .arch = m->arch,
        .kind = (enum cmdline_kind)kind,
        .secureboot = name->secureboot,
        .schematic = m->schematic->schematic,
    };
    return cmdline_build(f->profiles, &request, out, err);
#else
    (void)out;
    (void)kind;
    return error_set(err, ERROR_RUNTIME, "cmdline-%s-%s: this build of airfactory has no kernel command line builder",
                     name->platform, m->arch);
#endif
}

/* installer: defined with the installer helpers above build_asset */
static int installer_cache_inputs(struct model *m, const struct asset_path *name, struct buffer *b,
                                  struct error *err);

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
    }
    if (name->kind == ASSET_INSTALLER && installer_cache_inputs(m, name, &b, err) != 0) {
        buffer_free(&b);
        return -1;
    }
    sha256_hex(b.data, b.len, key);
    buffer_free(&b);
    return 0;
}

static int add_built_file(struct model *m, const char *path, const char *file, bool move, const char *cache_key,
                          struct error *err)
{
    char digest[BUNDLE_DIGEST_SIZE];
    uint64_t size = 0;
    if (bundle_writer_add_blob_file(m->f->writer, file, bundle_asset_media_type(path),
                                    move ? BUNDLE_BLOB_MOVE : BUNDLE_BLOB_COPY, NULL, digest, &size, err) != 0)
        return -1;
    m->f->stats.bytes_built += size;
    return bundle_writer_add_asset(m->f->writer, m->id, m->version, path, digest, cache_key, err);
}

/* ---- disk images (owned by the disks branch): helpers for FACTORY_ASSET_DISK in build_asset ---- */
static int build_disk_image(struct model *m, const char *path, const struct asset_path *name,
                            const char *cache_key, struct error *err)
{
#ifdef FACTORY_HAVE_CMDLINE
    struct factory *f = m->f;
    const char *scratch = bundle_writer_scratch_dir(f->writer);
    const struct schematic *s = m->schematic->schematic;
    if (!f->profiles && profile_set_load(&f->profiles, err) != 0)
        return -1;
    struct disk_image_plan plan;
    if (disk_image_plan_for(f->profiles, path, name->platform, m->version, m->arch, name->secureboot, s, &plan,
                            err) != 0)
        return -1;
    bool uki_layout = plan.bootloader != DISK_IMAGE_GRUB, grub_layout = plan.bootloader != DISK_IMAGE_SD_BOOT;
    if (uki_layout && (!fs_exists(m->imager.stub) || !fs_exists(m->imager.systemd_boot)))
        return error_set(err, ERROR_INPUT, "%s: imager %s has no usr/install/%s/systemd-{stub,boot}.efi", path,
                         m->imager.imager->result.image.reference, m->arch);
    struct buffer cmdline = BUFFER_INIT;
    if (model_cmdline(m, name, CMDLINE_KIND_IMAGE, &cmdline, err) != 0 || model_initramfs(m, err) != 0) {
        buffer_free(&cmdline);
        return -1;
    }
    /* GRUB and dual-boot: the imager's GRUB modules, kernel and the schematic's initramfs on BOOT */
    char *grub = NULL;
    if (grub_layout && !(grub = imager_grub_dir(f, m->imager.imager, err))) {
        buffer_free(&cmdline);
        return -1;
    }
    char *uki = uki_layout ? xasprintf("%s/%s.uki.efi", scratch, path) : NULL;
    int rc = uki ? model_uki(m, buffer_cstr(&cmdline), UKI_FOR_IMAGE, uki, err) : 0;
    struct meta_value meta[256];
    size_t meta_count = 0;
    disk_image_meta_values(&plan, s, meta, &meta_count);
    struct disk_image_inputs in = {
        .talos_version = m->version,
        .arch = m->arch,
        .sdboot_path = m->imager.systemd_boot,
        .uki_path = uki,
        .kernel_path = m->imager.vmlinuz,
        .initramfs_path = m->initramfs_path,
        .cmdline = buffer_cstr(&cmdline),
        .grub_dir = grub,
        .meta = meta,
        .meta_count = meta_count,
        .mtime = f->epoch,
        .threads = (int)f->request->jobs,
        .work_dir = scratch,
    };
    char *out = path_join(scratch, path);
    if (rc == 0)
        rc = disk_image_build(&plan, &in, out, err);
    buffer_free(&cmdline);
    free(grub);
    if (uki)
        unlink(uki);
    free(uki);
    if (rc == 0)
        rc = add_built_file(m, path, out, true, cache_key, err);
    free(out);
    return rc;
#else
    (void)cache_key;
    return error_set(err, ERROR_RUNTIME, "%s: this build of airfactory has no kernel command line builder", path);
#endif
}
/* ---- end of disk image helpers ---- */

/* ---------------- installer images (owned by the installer module's author; see installer.h) ----
 * installer-<arch>.tar is built per arch here; its image is remembered in f->installers, and
 * installer_registry_finish (called once before the commit) writes the multi-arch index, the
 * cosign signature and the tags installer/<schematic>:<version>. */

/* Talos >= 1.10 customises installer-base, before that the full installer (profiles quirk). */
static const struct imported *installer_base_for(struct model *m, const struct asset_path *name,
                                                 struct error *err)
{
    struct factory *f = m->f;
    if (!f->profiles && profile_set_load(&f->profiles, err) != 0)
        return NULL;
    struct profile_version v;
    if (profile_version_parse(m->version, &v) != 0) {
        error_set(err, ERROR_INPUT, "installer: '%s' is not a Talos version", m->version);
        return NULL;
    }
    const char *image = profile_quirk(f->profiles, "installerBaseImage", &v, m->arch, name->secureboot);
    const char *role = image && strcmp(image, "siderolabs/installer") == 0 ? "installer" : "installer-base";
    const struct imported *im = find_role(f, role, NULL, m->version, m->arch);
    if (!im || !platform_has_arch(im->result.platform, m->arch)) {
        error_set(err, ERROR_INPUT,
                  "no %s source for Talos %s linux/%s; add the OCI tarball of ghcr.io/siderolabs/%s:%s to the "
                  "manifest's sources with role: %s",
                  role, m->version, m->arch, role, m->version, role);
        return NULL;
    }
    return im;
}

static int installer_cache_inputs(struct model *m, const struct asset_path *name, struct buffer *b,
                                  struct error *err)
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
static int installer_asset_reused(struct model *m, const struct asset_path *name, const char *digest,
                                  struct error *err)
{
    struct factory *f = m->f;
    char *archive = xasprintf("%s/blobs/sha256/%s", bundle_writer_staging_dir(f->writer), digest + 7);
    struct installer_image image;
    int rc = installer_image_from_archive(f->writer, f->store, archive, bundle_writer_scratch_dir(f->writer), &image,
                                          err);
    free(archive);
    char repository[256];
    installer_repository(m, name, repository, sizeof repository);
    if (rc == 0)
        rc = installer_registry_add(&f->installers, repository, m->version, &image, err);
    return rc;
}

static int installer_asset_build(struct model *m, const char *path, const struct asset_path *name,
                                 const char *cache_key, struct error *err)
{
    struct factory *f = m->f;
    const char *scratch = bundle_writer_scratch_dir(f->writer);
    if (name->secureboot)
        return error_set(err, ERROR_INPUT,
                         "%s: SecureBoot installers need a UKI signed with the SecureBoot key, which airfactory %s "
                         "does not do yet; remove it from the manifest's outputs",
                         path, AIRFACTORY_VERSION);
    const struct imported *base = installer_base_for(m, name, err);
    if (!base)
        return -1;
    struct asset_path metal = *name; /* a plain installer is metal's */
    if (!metal.platform[0])
        snprintf(metal.platform, sizeof metal.platform, "metal");
    struct profile_version v;
    (void)profile_version_parse(m->version, &v); /* checked by installer_base_for */
    bool sdboot = profile_quirk_bool(f->profiles, "sdBootForUEFI", &v, m->arch, false, true);
    char *p_boot = xasprintf("usr/install/%s/systemd-boot.efi", m->arch);
    char *p_uki = xasprintf("usr/install/%s/vmlinuz.efi", m->arch);
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
            rc = model_uki(m, buffer_cstr(&cmdline), UKI_FOR_IMAGE, uki, err);
        buffer_free(&cmdline);
        files[0] = (struct installer_file){p_boot, m->imager.systemd_boot};
        files[1] = (struct installer_file){p_uki, uki};
    } else {
        /* before 1.10: GRUB installs the kernel and initramfs; the cmdline is made at install time */
        files[0] = (struct installer_file){p_kernel, m->imager.vmlinuz};
        files[1] = (struct installer_file){p_initramfs, m->initramfs_path};
    }
    struct installer_image image;
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
        };
        rc = installer_image_build(f->writer, &o, &image, err);
    }
    unlink(uki);
    if (rc == 0) {
        f->stats.bytes_built += image.archive_size;
        rc = bundle_writer_add_asset(f->writer, m->id, m->version, path, image.archive_digest, cache_key, err);
    }
    char repository[256];
    installer_repository(m, name, repository, sizeof repository);
    if (rc == 0)
        rc = installer_registry_add(&f->installers, repository, m->version, &image, err);
    free(p_boot);
    free(p_uki);
    free(p_kernel);
    free(p_initramfs);
    free(uki);
    return rc;
}
/* ---------------- end of installer helpers */

static int build_asset(struct model *m, const char *path, const struct asset_path *name,
                       const char *cache_key, struct error *err)
{
    struct factory *f = m->f;
    const char *scratch = bundle_writer_scratch_dir(f->writer);
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
        struct buffer cmdline = BUFFER_INIT;
        char digest[BUNDLE_DIGEST_SIZE];
        int rc = model_cmdline(m, name, CMDLINE_KIND_CMDLINE, &cmdline, err);
        if (rc == 0)
            rc = bundle_writer_add_blob_bytes(f->writer, cmdline.data ? cmdline.data : "", cmdline.len,
                                              bundle_asset_media_type(path), digest, err);
        if (rc == 0)
            rc = bundle_writer_add_asset(f->writer, m->id, m->version, path, digest, cache_key, err);
        f->stats.bytes_built += cmdline.len;
        buffer_free(&cmdline);
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
        int rc = model_uki(m, buffer_cstr(&cmdline), UKI_FOR_IMAGE, out, err);
        buffer_free(&cmdline);
        if (rc == 0)
            rc = add_built_file(m, path, out, true, cache_key, err);
        free(out);
        return rc;
    }
    case ASSET_IMAGE:
        return build_disk_image(m, path, name, cache_key, err);
    case ASSET_ISO: {
        struct buffer cmdline = BUFFER_INIT;
        struct iso_options o = {0};
        char *grub = NULL, *uki = NULL, *out = NULL;
        int rc = model_cmdline(m, name, CMDLINE_KIND_ISO, &cmdline, err);
        if (rc == 0)
            rc = model_initramfs(m, err);
        if (rc == 0)
            rc = iso_options_for_version(&o, m->version, m->arch, err);
        if (rc == 0 && !(grub = imager_grub_dir(f, m->imager.imager, err)))
            rc = -1;
        if (rc == 0 && o.layout != ISO_GRUB) {
            /* sd-boot layouts boot a UKI built for the ISO (its own profiles and command line) */
            uki = xasprintf("%s/iso-uki-%s-%s-%s.efi", scratch, m->id, m->version, m->arch);
            rc = model_uki(m, buffer_cstr(&cmdline), UKI_FOR_ISO, uki, err);
        }
        if (rc == 0) {
            o.kernel_path = m->imager.vmlinuz;
            o.initramfs_path = m->initramfs_path;
            o.cmdline = buffer_cstr(&cmdline);
            o.grub_dir = grub;
            o.uki_path = uki;
            o.sdboot_path = m->imager.systemd_boot;
            o.mtime = f->epoch;
            o.work_dir = scratch;
            out = path_join(scratch, path);
            rc = iso_build(&o, out, err);
        }
        if (rc == 0)
            rc = add_built_file(m, path, out, true, cache_key, err);
        if (uki)
            unlink(uki);
        free(uki);
        free(out);
        free(grub);
        buffer_free(&cmdline);
        return rc;
    }
    case ASSET_INSTALLER:
        return installer_asset_build(m, path, name, cache_key, err);
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

static int build_model_assets(struct factory *f, const struct factory_asset *first, const size_t *indexes,
                              size_t count, struct error *err)
{
    const struct factory_request *r = f->request;
    struct model m = {
        .f = f,
        .schematic = &r->schematics[first->schematic],
        .version = first->version,
        .arch = first->arch,
    };
    int rc = model_prepare(&m, err);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        const struct factory_asset *a = &r->assets[indexes[i]];
        struct asset_path name;
        if (asset_path_parse(a->path, &name, err) != 0) {
            rc = -1;
            break;
        }
        char key[SHA256_HEX_LEN + 1];
        if (asset_cache_key(&m, a->path, &name, key, err) != 0) {
            rc = -1;
            error_prefix(err, "%s/%s/%s: ", m.id, m.version, a->path);
            break;
        }
        struct bundle_writer_hit hit;
        int reuse = bundle_writer_reuse_asset(f->writer, key, &hit, err);
        if (reuse < 0) {
            rc = -1;
            break;
        }
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (reuse == 1) {
            rc = bundle_writer_add_asset(f->writer, m.id, m.version, a->path, hit.digest, key, err);
            if (rc == 0 && name.kind == ASSET_INSTALLER)
                rc = installer_asset_reused(&m, &name, hit.digest, err);
            f->stats.assets_reused++;
        } else {
            rc = build_asset(&m, a->path, &name, key, err);
            f->stats.assets_built++;
        }
        if (rc == 0)
            rc = provenance(&m, a->path, &name, err);
        if (rc != 0) {
            error_prefix(err, "%s/%s/%s: ", m.id, m.version, a->path);
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        struct json_writer w;
        struct buffer b = BUFFER_INIT;
        event_begin(f, &w, &b, reuse == 1 ? "asset_reused" : "asset_built");
        json_kv_string(&w, "schematic", m.id);
        json_kv_string(&w, "version", m.version);
        json_kv_string(&w, "path", a->path);
        json_key(&w, "seconds");
        char secs[32];
        snprintf(secs, sizeof secs, "%.3f", seconds);
        json_raw(&w, secs);
        char *human = xasprintf("%s %s/%s/%s (%.1fs)", reuse == 1 ? "reused" : "built ", m.schematic->name,
                                m.version, a->path, seconds);
        event_end(f, &w, &b, human);
        free(human);
    }
    if (rc == 0)
        rc = bundle_writer_add_schematic(f->writer, m.id, m.yaml, err);
    model_free(&m);
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
            .role = im->source->role ? im->source->role : "",
            .receipt = buffer_cstr(&receipt),
        };
        int rc = bundle_writer_add_source(f->writer, &s, err);
        buffer_free(&receipt);
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
    f.store_dir = r->store ? xstrdup(r->store) : xasprintf("%s.store", r->output);
    f.work_dir = path_join(f.store_dir, "work");
    int rc = store_open(f.store_dir, STORE_WRITE, &f.store, err);
    if (rc == 0)
        rc = fs_mkdir_p(f.work_dir, 0755, err);
    if (rc == 0)
        rc = import_sources(&f, err);
    if (rc == 0) {
        struct bundle_writer_options options = {
            .target = r->output,
            .signing_key_path = r->signing_key,
            .base = r->base,
        };
        rc = bundle_writer_open(&options, &f.writer, err);
    }
    /* models: group assets by (schematic, version, arch), in request order */
    bool *done = xcalloc(r->asset_count ? r->asset_count : 1, sizeof *done);
    size_t *group = xcalloc(r->asset_count ? r->asset_count : 1, sizeof *group);
    for (size_t i = 0; rc == 0 && i < r->asset_count; i++) {
        if (done[i])
            continue;
        const struct factory_asset *a = &r->assets[i];
        size_t n = 0;
        for (size_t k = i; k < r->asset_count; k++) {
            const struct factory_asset *b = &r->assets[k];
            if (!done[k] && b->schematic == a->schematic && !strcmp(b->version, a->version) &&
                !strcmp(b->arch, a->arch)) {
                group[n++] = k;
                done[k] = true;
            }
        }
        rc = build_model_assets(&f, a, group, n, err);
    }
    free(done);
    free(group);
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
    }
    free(versions);
    /* every schematic is listed, even one whose assets all failed to be asked for */
    for (size_t i = 0; rc == 0 && i < r->schematic_count; i++) {
        struct buffer yaml = BUFFER_INIT;
        char id[SCHEMATIC_ID_HEX_LEN + 1];
        rc = schematic_marshal(r->schematics[i].schematic, &yaml, err);
        if (rc == 0)
            rc = schematic_id(r->schematics[i].schematic, id, err);
        if (rc == 0)
            rc = bundle_writer_add_schematic(f.writer, id, buffer_cstr(&yaml), err);
        buffer_free(&yaml);
    }
    if (rc == 0)
        rc = add_source_rows(&f, err);
    if (rc == 0)
        rc = add_public_key(&f, err);
    if (rc == 0 && r->manifest_digest)
        rc = bundle_writer_set_meta(f.writer, "manifest_digest", r->manifest_digest, err);
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
    if (stats)
        *stats = f.stats;
    factory_free(&f);
    return rc;
}
