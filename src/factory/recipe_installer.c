/* recipe_installer — installer-ARCH[-secureboot].tar and PLATFORM-installer-ARCH[-secureboot].tar:
 * the installer image (installer.h), per arch: installer-base (Talos >= 1.10; the full installer
 * before) with the UKI and systemd-boot (or, before 1.10, the kernel and initramfs) and an overlay's
 * layer. Its image is remembered in f->installers, built or reused, and installer_registry_finish
 * (called once before the bundle's commit) writes the multi-arch index, the cosign signature and
 * the tags installer/<schematic>:<version>. */
#include "factory/recipe.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/fs_root.h"
#include "core/memory.h"
#include "core/yaml_value.h"
#include "imager/installer.h"

/* Talos >= 1.10 customises installer-base, before that the full installer (profiles quirk). */
static const struct imported *installer_base_for(struct model *m, const struct asset_path *name, struct error *err)
{
    struct factory *f = m->f;
    struct talos_quirks q;
    if (model_quirks(m, name->secureboot, &q, err) != 0)
        return NULL;
    enum source_role role =
        !strcmp(q.installer_base_image, "siderolabs/installer") ? SOURCE_ROLE_INSTALLER : SOURCE_ROLE_INSTALLER_BASE;
    const struct imported *im = factory_find_role(f, role, m->version, m->arch);
    if (!im || !factory_platform_has_arch(im->result.platform, m->arch)) {
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
static int reused(struct model *m, struct job *j, struct error *err)
{
    struct factory *f = m->f;
    const char *digest = j->hit.digest;
    const struct asset_path *name = &j->name;
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
static int commit(struct model *m, struct job *j, struct error *err)
{
    struct factory *f = m->f;
    struct installer_image image;
    int rc = installer_image_add(f->writer, j->installer, &image, err);
    if (rc == 0) {
        f->stats.bytes_built += image.archive_size;
        rc = bundle_writer_add_asset(f->writer, m->id, m->version, j->path, image.archive_digest, j->key, err);
    }
    char repository[256];
    installer_repository(m, &j->name, repository, sizeof repository);
    if (rc == 0)
        rc = installer_registry_add(&f->installers, repository, m->version, &image, err);
    installer_prepared_free(j->installer);
    free(j->installer);
    j->installer = NULL;
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
    char *root = factory_flatten_extension(f, m->overlay_target, err);
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

/* A worker: the UKI (or kernel + initramfs), the artifacts layer and the docker-archive, all in
 * the job's scratch directory; the prepared image is left to the job, for commit. */
static int build(struct model *m, struct job *j, struct error *err)
{
    struct factory *f = m->f;
    const char *path = j->path;
    const struct asset_path *name = &j->name;
    const char *scratch = factory_scratch_dir(f);
    const struct secureboot_signer *signer;
    if (factory_asset_signer(m, path, name, &signer, err) != 0)
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
            rc = factory_asset_sdboot(m, path, name, &sdboot_file, &signed_sdboot, err);
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
    if (rc == 0) {
        j->installer = prepared; /* commit adds it, in plan order */
        prepared = NULL;
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

const struct factory_recipe factory_recipe_installer = {
    .kind = ASSET_INSTALLER,
    .inputs = RECIPE_IMAGER | RECIPE_INITRAMFS,
    .cache_inputs = installer_cache_inputs,
    .build = build,
    .commit = commit,
    .reused = reused,
};
