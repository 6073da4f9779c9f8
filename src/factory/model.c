/* model — one schematic x version x arch: what its assets share, and the inputs recipes take from
 * the sources.
 *
 * Owns: the imager's boot files (extracted once per imager and arch into STORE/work/imager/), the
 * flattened extension and overlay images (STORE/work/ext.2/), the imager's GRUB pair; per model the
 * extension and overlay images its schematic names (resolved at plan time through the version's
 * catalogs), the initramfs and the overlay's get-options (once-steps: the first job that needs one
 * builds it while the model's other jobs wait), the UKI and the kernel command line of each kind of
 * output; the image cache per arch; and the SecureBoot inputs of signed assets (the signer, signed
 * systemd-boot, enrollment files). Everything a worker may read is set at plan time or by a
 * once-step and never changes afterwards. */
#include "factory/factory_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/memory.h"
#include "core/yaml_value.h"
#include "factory/recipe_files.h"
#include "format/authenticode.h"
#include "imager/initramfs.h"
#include "imager/splash.h"
#include "oci/layer_flatten.h"

static void imager_files_free(struct imager_files *x)
{
    free(x->dir);
    free(x->vmlinuz);
    free(x->initramfs);
    free(x->stub);
    free(x->systemd_boot);
    memset(x, 0, sizeof *x);
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
    return factory_once(f, files->dir, imager_files_extract_step, &x, err);
}

struct flatten_request {
    const struct imported *image;
    const char *dir;
    const char *prefix;        /* NULL: the whole image */
    const char *resolve_links; /* image directory whose links are resolved (layer_flatten_options) */
    bool selinux_labels;       /* keep the PAX records' labels (extensions: layer_flatten_options) */
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
    struct layer_flatten_options options = {
        .prefix = x->prefix, .resolve_links = x->resolve_links, .selinux_labels = x->selinux_labels};
    if (rc == 0)
        rc = layer_flatten(f->store, &x->image->result.image, x->dir, &options, err);
    return rc;
}

/* Flatten an extension image into STORE/work/ext.2/<manifest hex>; returns the directory. */
char *factory_flatten_extension(struct factory *f, const struct imported *im, struct error *err)
{
    /* ext.2: trees flattened before the labels were kept (no <dir>.selinux) are not reused */
    char *dir = xasprintf("%s/ext.2/%s", f->work_dir, im->result.image.manifest_digest + 7);
    struct flatten_request x = {im, dir, NULL, NULL, true}; /* links stay: readers resolve them in the tree */
    if (factory_once(f, dir, flatten_step, &x, err) != 0) {
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
char *factory_imager_grub(struct factory *f, const char *version, const struct imported *imager, struct grub_tool *tool,
                          struct error *err)
{
    const char *host = grub_tool_host_arch();
    const struct imported *h = host ? factory_find_role(f, SOURCE_ROLE_IMAGER, version, host) : NULL;
    char *dir = NULL;
    int found = 0;
    if (h && factory_platform_has_arch(h->result.platform, host) && strcmp(h->result.receipt.method, "insecure") != 0) {
        char *root = xasprintf("%s/imager/%s/tree", f->work_dir, h->result.image.manifest_digest + 7);
        struct flatten_request x = {h, root, NULL, "usr/lib/grub", false};
        if (factory_once(f, root, flatten_step, &x, err) != 0) {
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
        struct flatten_request x = {imager, dir, "usr/lib/grub", "usr/lib/grub", false};
        if (factory_once(f, dir, flatten_step, &x, err) != 0) {
            free(dir);
            return NULL;
        }
        grub_tool_host(tool);
    }
    char *key = xasprintf("%s#grub-mkimage", dir);
    struct grub_check_request c = {tool, dir};
    int rc = factory_once(f, key, grub_check_step, &c, err);
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
        if (factory_platform_has_arch(im->result.platform, arch))
            return im;
    }
    return NULL;
}

/* Where a version's boot files for arch live (no I/O: the plan needs only the imager's digest). */
static int imager_files_locate(struct factory *f, const char *version, const char *arch, struct imager_files *out,
                               struct error *err)
{
    memset(out, 0, sizeof *out);
    const struct imported *im = factory_find_role(f, SOURCE_ROLE_IMAGER, version, arch);
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

void model_free(struct model *m)
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
int model_prepare(struct model *m, size_t number, struct error *err)
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
int model_imager(struct model *m, struct error *err)
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
    struct version_catalog *vc = factory_catalog(f, m->version, err);
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
int model_extensions(struct model *m, struct error *err)
{
    struct factory *f = m->f;
    const struct schematic *s = m->schematic->schematic;
    if (m->extensions_resolved)
        return 0;
    if (s->extension_count) {
        struct version_catalog *vc = factory_catalog(f, m->version, err);
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
int model_quirks(struct model *m, bool secureboot, struct talos_quirks *q, struct error *err)
{
    return profile_quirks_for(m->f->profiles, m->version, m->arch, secureboot, q, err);
}

/* The model's initramfs: a once-step, run by the first of its jobs that needs it. */
static int model_initramfs_step(struct factory *f, void *arg, struct error *err)
{
    struct model *m = arg;
    atomic_store(&m->initramfs_builder, factory_current_job(f));
    if (model_imager(m, err) != 0)
        return -1;
    m->extension_dirs = xcalloc(m->extension_count + 1, sizeof *m->extension_dirs);
    for (size_t i = 0; i < m->extension_count; i++) {
        const struct imported *im = m->extension_images[i];
        if (!(m->extension_dirs[i] = factory_flatten_extension(f, im, err)))
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

int model_initramfs(struct model *m, struct error *err)
{
    char *key = xasprintf("%s/initramfs", m->scratch);
    int rc = factory_once(m->f, key, model_initramfs_step, m, err);
    free(key);
    return rc;
}

/* A once-step per imager, arch and splash (imager/splash.h): a build warning when the imager has no
 * boot splash; its UKIs are then built without .splash (docs/differences.md). */
static int splash_step(struct factory *f, void *arg, struct error *err)
{
    struct model *m = arg;
    struct talos_quirks q;
    char *path = NULL, *reason = NULL;
    int rc = model_quirks(m, false, &q, err);
    if (rc == 0)
        rc = splash_from_imager(f->store, &m->imager.imager->result.image, m->imager.dir, q.uki_splash_sha256,
                                q.uki_splash_size, &path, &reason, err);
    if (rc == 0) {
        struct json_writer w;
        struct buffer b = BUFFER_INIT;
        factory_event_begin(f, &w, &b, "warning");
        json_kv_string(&w, "imager", m->imager.imager->result.image.digest);
        json_kv_string(&w, "arch", m->arch);
        json_kv_string(&w, "message", reason);
        char *human = xasprintf("warning: %s; UKIs from it have no .splash section", reason);
        factory_event_end(f, &w, &b, human);
        free(human);
    }
    free(path);
    free(reason);
    return rc < 0 ? -1 : 0;
}

/* The model's UKI for one output: the imager's systemd-stub + kernel + this model's initramfs + the
 * given command line, with Talos' profiles for that kind of output (one place for every caller:
 * UKI, ISO, disk image and installer assets). */
int model_uki(struct model *m, const struct secureboot_signer *signer, const char *cmdline, enum uki_output output,
              const char *out_path, struct error *err)
{
    struct talos_quirks q;
    if (model_initramfs(m, err) != 0 || model_quirks(m, signer != NULL, &q, err) != 0)
        return -1;
    char *splash_key = xasprintf("%s/splash-%s", m->imager.dir, q.uki_splash_sha256), *splash = NULL, *reason = NULL;
    int rc = factory_once(m->f, splash_key, splash_step, m, err);
    free(splash_key);
    if (rc != 0 || splash_from_imager(m->f->store, &m->imager.imager->result.image, m->imager.dir, q.uki_splash_sha256,
                                      q.uki_splash_size, &splash, &reason, err) < 0)
        return -1;
    free(reason);
    struct recipe_uki_files in = {
        .stub = m->imager.stub,
        .kernel = m->imager.vmlinuz,
        .initrd = m->initramfs_path,
        .cmdline = cmdline,
        .version = m->version,
        .quirks = &q,
        .output = output,
        .timestamp = m->f->epoch,
        .signer = signer,
        .splash = splash,
    };
    rc = recipe_uki_build(&in, out_path, err);
    free(splash);
    return rc;
}

/* The overlay installer's get-options (overlay.h), once per model: its image flattened (shared
 * cache), run in a scratch directory of the model with the schematic's overlay.options. */
static int model_overlay_step(struct factory *f, void *arg, struct error *err)
{
    struct model *m = arg;
    char *root = factory_flatten_extension(f, m->overlay_image, err);
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

int model_overlay(struct model *m, struct error *err)
{
    if (!m->overlay_image)
        return 0;
    char *key = xasprintf("%s/overlay", m->scratch);
    int rc = factory_once(m->f, key, model_overlay_step, m, err);
    free(key);
    return rc;
}

/* kind: CMDLINE_KIND_* — the cmdline asset, the ISO's, the UKI's differ (talos-imager.md §3). */
int model_cmdline(struct model *m, const struct asset_path *name, enum cmdline_kind kind, struct buffer *out,
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

/* The image cache for arch: every cluster image (role image) in its linux/<arch> platform, in the
 * request's source order; made once per build (main thread, plan time). */
int factory_image_cache_for(struct factory *f, const char *arch, const struct built_image_cache **out, struct error *err)
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
            if (f->imported[i].source == src && factory_platform_has_arch(f->imported[i].result.platform, arch))
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
const struct built_image_cache *model_image_cache(const struct model *m, const struct asset_path *name)
{
    if (!m->schematic->image_cache || (name->kind != ASSET_ISO && name->kind != ASSET_IMAGE))
        return NULL;
    for (size_t i = 0; i < m->f->image_cache_count; i++)
        if (!strcmp(m->f->image_caches[i].arch, m->arch))
            return &m->f->image_caches[i];
    return NULL;
}

/* Load the SecureBoot signer once, before anything is built, so a bad key fails the build early. */
int factory_load_secureboot(struct factory *f, struct error *err)
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
int factory_asset_signer(struct model *m, const char *path, const struct asset_path *name,
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
void factory_secureboot_cache_inputs(struct model *m, const struct asset_path *name, struct buffer *b)
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
int factory_asset_sdboot(struct model *m, const char *path, const struct asset_path *name, const char **out,
                         char **owned, struct error *err)
{
    *owned = NULL;
    *out = m->imager.systemd_boot;
    const struct secureboot_signer *signer;
    if (factory_asset_signer(m, path, name, &signer, err) != 0)
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
int factory_enroll_mode(struct model *m, const char *path, const char *dflt, const char **out, struct error *err)
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
int factory_enrollment_write(struct model *m, const char *path, const struct secureboot_signer *signer, char **dir,
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

void factory_enrollment_remove(char **dir, char *paths[], size_t count)
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
