/* initramfs — see initramfs.h. */
#include "imager/initramfs.h"
#include "format/cpio.h"
#include "core/digest.h"
#include "imager/extensions.h"
#include "oci/layer_flatten.h"
#include "talos/version.h"
#include "core/fs.h"
#include "core/fs_root.h"
#include "core/memory.h"
#include "format/squashfs_image.h"
#include "core/tool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void initramfs_options_for(struct initramfs_options *o, const struct talos_quirks *q, const char *talos_version)
{
    o->talos_version = talos_version;
    if (q->compression == TALOS_COMPRESSION_ZSTD) {
        o->archive_compression = COMPRESS_ZSTD;
        o->archive_level = 18;
        o->archive_xz_extreme = false;
        o->squashfs_compression = COMPRESS_ZSTD;
        o->squashfs_level = 18;
    } else {
        o->archive_compression = COMPRESS_XZ; /* xz -C crc32 -0 -e */
        o->archive_level = 0;
        o->archive_xz_extreme = true;
        o->squashfs_compression = COMPRESS_XZ; /* -comp xz -Xdict-size 100% */
        o->squashfs_level = 0;
    }
    /* archive paths are relative: "/usr/lib/firmware" -> "usr/lib/firmware" */
    o->firmware_path = q->firmware_path + (q->firmware_path[0] == '/');
    o->modules_path = q->kernel_modules_path + (q->kernel_modules_path[0] == '/');
}

/* ---- the appended archive's contents, as a sorted list of entries ---- */

enum item_kind { ITEM_DIR, ITEM_FILE, ITEM_DATA };

struct item {
    char *rel;                 /* path inside the archive */
    char *src;                 /* source file (ITEM_FILE) */
    const struct buffer *data; /* ITEM_DATA */
    mode_t perm;
    enum item_kind kind;
};

struct items {
    struct item *v;
    size_t n, cap;
};

static struct item *items_find(struct items *l, const char *rel)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].rel, rel))
            return &l->v[i];
    return NULL;
}

static struct item *items_add(struct items *l, const char *rel)
{
    struct item *it = items_find(l, rel);
    if (it) {
        free(it->src);
        it->src = NULL;
        return it;
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    it = &l->v[l->n++];
    memset(it, 0, sizeof *it);
    it->rel = xstrdup(rel);
    return it;
}

static void items_free(struct items *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].rel);
        free(l->v[i].src);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* The order of Go's recursive, sorted directory walk: component by component, bytewise. */
static int walk_order(const void *a, const void *b)
{
    const unsigned char *x = (const unsigned char *)((const struct item *)a)->rel;
    const unsigned char *y = (const unsigned char *)((const struct item *)b)->rel;
    for (;; x++, y++) {
        unsigned cx = *x == '/' ? 0 : (*x ? *x + 1u : 0), cy = *y == '/' ? 0 : (*y ? *y + 1u : 0);
        if (!*x || !*y)
            return (*x != 0) - (*y != 0);
        if (cx != cy)
            return cx < cy ? -1 : 1;
    }
}

/* The parents of rel ("usr", "usr/lib" for "usr/lib/firmware"), as directories. */
static void add_parent_dirs(struct items *l, const char *rel)
{
    char *p = xstrdup(rel);
    for (char *s = p; (s = strchr(s, '/')) != NULL; s++) {
        *s = '\0';
        if (!items_find(l, p)) {
            struct item *it = items_add(l, p);
            it->kind = ITEM_DIR;
            it->perm = 0755;
        }
        *s = '/';
    }
    free(p);
}

static bool is_listed(char **list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], s))
            return true;
    return false;
}

/* Merge the firmware at image path `path` of an extension (its rootfs r), archived as rel, into
 * the list. Like Talos' moveFiles (internal/pkg/extensions/compress.go handleFilesOp), symlinks are
 * followed and what they lead to is archived as files: but inside the extension (core/fs_root.h),
 * never on the build host. skip: microcode entries (image paths as listed) already taken. At most
 * *left bytes in all; directories nest at most 64 deep (a link to an ancestor is a loop). */
static int merge_firmware(struct items *l, const struct fs_root *r, const char *path, const char *rel, char **skip,
                          size_t skip_count, int depth, uint64_t *left, struct error *err)
{
    if (depth > 64)
        return error_set(err, ERROR_INPUT,
                         "%s: /%s: firmware directories nest more than 64 deep through links (a "
                         "link to an ancestor?): refused",
                         r->label, path);
    int fd;
    struct fs_root_entry e;
    int found = fs_open_in_root(r, path, FS_ROOT_ANY, &fd, &e, err);
    if (found <= 0)
        return found == 0 ? error_set(err, ERROR_INPUT, "%s: firmware entry /%s is missing", r->label, path) : -1;
    int rc = 0;
    if (S_ISDIR(e.st.st_mode)) {
        struct item *it = items_find(l, rel);
        if (!it) {
            it = items_add(l, rel);
            it->kind = ITEM_DIR;
            it->perm = e.st.st_mode & 07777;
        }
        char **names = NULL;
        size_t n = 0;
        rc = fs_list_dir(fd, e.host_path, &names, &n, err);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            char *child = xasprintf("%s/%s", e.image_path, names[i]);
            char *crel = xasprintf("%s/%s", rel, names[i]);
            if (!is_listed(skip, skip_count, child))
                rc = merge_firmware(l, r, child, crel, skip, skip_count, depth + 1, left, err);
            free(child);
            free(crel);
        }
        fs_names_free(names, n);
    } else if ((uint64_t)e.st.st_size > *left) {
        rc = error_set(err, ERROR_INPUT,
                       "%s: firmware /%s: the extensions' firmware comes to more than %llu bytes "
                       "(links to big files count once per link): refused",
                       r->label, path, (unsigned long long)INITRAMFS_FIRMWARE_MAX);
    } else {
        *left -= (uint64_t)e.st.st_size;
        struct item *it = items_add(l, rel);
        it->kind = ITEM_FILE;
        it->src = xstrdup(e.host_path); /* no symlink in it: read exactly what was resolved */
        it->perm = e.st.st_mode & 07777;
    }
    close(fd);
    fs_root_entry_free(&e);
    return rc;
}

/* Go filepath.Glob(<dir>/<prefix>*<suffix>) inside an extension, over what resolves to regular
 * files, sorted by name: listed gets each match's image path (to skip it in the firmware), files
 * the host path of what it resolves to. A missing dir matches nothing. */
static int glob_ucode(const struct fs_root *r, const char *dir, const char *prefix, const char *suffix, char ***listed,
                      size_t *listed_n, char ***files, size_t *files_n, struct error *err)
{
    int dfd;
    struct fs_root_entry de;
    int found = fs_open_in_root(r, dir, FS_ROOT_ANY, &dfd, &de, err);
    if (found <= 0)
        return found;
    int rc = 0;
    char **names = NULL;
    size_t n = 0;
    if (S_ISDIR(de.st.st_mode))
        rc = fs_list_dir(dfd, de.host_path, &names, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *nm = names[i];
        size_t ln = strlen(nm), lp = strlen(prefix), ls = strlen(suffix);
        if (nm[0] == '.' && prefix[0] != '.')
            continue; /* Go's Glob "*" matches dot files too, but "." and ".." never */
        if (ln < lp + ls || strncmp(nm, prefix, lp) || strcmp(nm + ln - ls, suffix))
            continue;
        char *child = xasprintf("%s/%s", de.image_path, nm);
        int fd;
        struct fs_root_entry e;
        int got = fs_open_in_root(r, child, FS_ROOT_ANY, &fd, &e, err);
        if (got < 0)
            rc = -1;
        if (got == 1) {
            if (S_ISREG(e.st.st_mode)) {
                *listed = xrealloc(*listed, (*listed_n + 1) * sizeof **listed);
                (*listed)[(*listed_n)++] = xstrdup(child);
                *files = xrealloc(*files, (*files_n + 1) * sizeof **files);
                (*files)[(*files_n)++] = xstrdup(e.host_path);
            }
            close(fd);
            fs_root_entry_free(&e);
        }
        free(child);
    }
    fs_names_free(names, n);
    close(dfd);
    fs_root_entry_free(&de);
    return rc;
}

static int concat_files(char **files, size_t n, const char *out_path, struct error *err)
{
    struct atomic_file af;
    if (atomic_file_open(&af, out_path, 0644, err) != 0)
        return -1;
    char *buf = xmalloc(1 << 20);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        int fd = open(files[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            rc = error_errno(err, errno, "%s: cannot open", files[i]);
            break;
        }
        for (;;) {
            ssize_t got = read(fd, buf, 1 << 20);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0) {
                rc = error_errno(err, errno, "%s: read failed", files[i]);
                break;
            }
            if (got == 0)
                break;
            if (atomic_file_write(&af, buf, (size_t)got, err) != 0) {
                rc = -1;
                break;
            }
        }
        close(fd);
    }
    free(buf);
    if (rc) {
        atomic_file_abort(&af);
        return -1;
    }
    return atomic_file_commit(&af, err);
}

static int copy_into(int out_fd, const char *src, const char *what, struct error *err)
{
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "%s: cannot open", src);
    char *buf = xmalloc(1 << 20);
    int rc = 0;
    for (;;) {
        ssize_t got = read(fd, buf, 1 << 20);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = error_errno(err, errno, "%s: read failed", src);
            break;
        }
        if (got == 0)
            break;
        if (fs_write_all(out_fd, buf, (size_t)got, what, err) != 0) {
            rc = -1;
            break;
        }
    }
    free(buf);
    close(fd);
    return rc;
}

static int check_base(const struct initramfs_options *o, struct error *err)
{
    int fd = open(o->base_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "base initramfs %s: cannot open", o->base_path);
    unsigned char magic[8] = {0};
    ssize_t got = read(fd, magic, sizeof magic);
    close(fd);
    if (got < 6 || (compress_detect(magic, (size_t)got) == COMPRESS_NONE && memcmp(magic, "0707", 4)))
        return error_set(err, ERROR_INPUT,
                         "base initramfs %s: not an initramfs (no zstd, xz, gzip or cpio magic at the start); "
                         "pass the imager's usr/install/<arch>/initramfs.xz",
                         o->base_path);
    if (o->skip_base_check)
        return 0;
    struct cpio_listing l;
    struct cpio_read_options ro = {0, NULL};
    if (cpio_read_segments(o->base_path, &ro, &l, err) != 0) {
        err->code = ERROR_INPUT;
        return error_prefix(err, "base initramfs is corrupt: ");
    }
    cpio_listing_free(&l);
    return 0;
}

struct build_state {
    char *work;
    struct extension *exts;
    size_t ext_count;
    struct items archive;
    char **intel, **amd;
    size_t intel_n, amd_n;
    char **ucode_files; /* microcode entries (image paths): they go to the early cpio, not the appended one */
    size_t ucode_files_n;
    uint64_t firmware_left; /* bytes the appended firmware may still take (INITRAMFS_FIRMWARE_MAX) */
    struct buffer yaml;
    char *intel_path, *amd_path;
    bool has_modules_dep;   /* the last extension is the synthetic modules.dep one */
    size_t embedded_config; /* index of the embedded-config extension, or SIZE_MAX */
};

/* ---- modules.dep: depmod over the base's modules plus every extension's ---- */

/* Whether an extension's rootfs has a directory at image path `path`, resolved inside it. */
static int ext_has_dir(const struct extension *e, const char *path, bool *have, struct error *err)
{
    *have = false;
    struct fs_root r;
    if (fs_root_open(&r, e->rootfs, NULL, e->label, err) != 0)
        return -1;
    int fd;
    struct fs_root_entry en;
    int found = fs_open_in_root(&r, path, FS_ROOT_ANY, &fd, &en, err);
    if (found == 1) {
        *have = S_ISDIR(en.st.st_mode);
        close(fd);
        fs_root_entry_free(&en);
    }
    fs_root_close(&r);
    return found < 0 ? -1 : 0;
}

/* talos-imager.md §4.2 step 3 (internal/pkg/extensions/kernel_modules.go): when extensions ship
 * kernel modules, unpack the base rootfs' modules directory (exactly one kernel version), lay
 * every extension's modules for that version over it, run depmod, and package the resulting
 * top-level modules.* files as one more extension, "modules.dep", added last. */
static int build_modules_dep(const struct initramfs_options *o, struct build_state *s, struct error *err)
{
    const char *mp = o->modules_path ? o->modules_path : "usr/lib/modules";
    bool any = false;
    for (size_t i = 0; i < s->ext_count && !any; i++) {
        int r = ext_has_dir(&s->exts[i], mp, &any, err);
        if (r < 0)
            return -1;
    }
    if (!any)
        return 0;
    char *base_x = path_join(s->work, "base"), *root = path_join(s->work, "modules-root");
    char *sqsh = path_join(base_x, "rootfs.sqsh"), *log = path_join(s->work, "modules.log");
    char *mods = path_join(root, mp), *conf = path_join(s->work, "depmod.conf");
    char *kver = NULL, *kdir = NULL, *ext = NULL, *dest = NULL;
    struct cpio_listing l;
    struct cpio_read_options ro = {0, base_x};
    int rc = cpio_read_segments(o->base_path, &ro, &l, err);
    if (!rc) {
        cpio_listing_free(&l);
        if (!fs_exists(sqsh))
            rc = error_set(err, ERROR_INPUT, "base initramfs %s has no rootfs.sqsh; cannot combine kernel modules",
                           o->base_path);
    }
    if (!rc) {
        char *argv[] = {(char *)"unsquashfs",
                        (char *)"-no-xattrs",
                        (char *)"-d",
                        root,
                        (char *)"-f",
                        (char *)"-n",
                        sqsh,
                        (char *)mp,
                        NULL};
        rc = tool_run(argv, log, err);
    }
    if (!rc) {
        /* depmod reads the tree by name on the host: every link in it becomes what it resolves to
         * inside the base rootfs first */
        char *label = xasprintf("%s: rootfs.sqsh", o->base_label ? o->base_label : o->base_path);
        struct fs_root r;
        rc = fs_root_open(&r, root, NULL, label, err);
        if (!rc) {
            if (fs_is_dir(mods))
                rc = fs_root_resolve_links(&r, mp, INITRAMFS_FIRMWARE_MAX, err);
            fs_root_close(&r);
        }
        free(label);
    }
    if (!rc) {
        DIR *d = opendir(mods);
        size_t n = 0;
        if (d) {
            struct dirent *de;
            while ((de = readdir(d)) != NULL) {
                if (de->d_name[0] == '.')
                    continue;
                char *p = path_join(mods, de->d_name);
                if (fs_is_dir(p)) {
                    n++;
                    free(kver);
                    kver = xstrdup(de->d_name);
                }
                free(p);
            }
            closedir(d);
        }
        if (n != 1)
            rc = error_set(err, ERROR_INPUT,
                           "base initramfs %s: expected exactly one kernel version under /%s of rootfs.sqsh, found %zu",
                           o->base_path, mp, n);
    }
    if (!rc) {
        kdir = path_join(mods, kver);
        for (size_t i = 0; i < s->ext_count && !rc; i++) {
            /* each extension's modules, links resolved inside that extension (core/fs_root.h) */
            char *src = xasprintf("%s/%s", mp, kver);
            bool have = false;
            rc = ext_has_dir(&s->exts[i], src, &have, err);
            struct fs_root r;
            if (!rc && have && (rc = fs_root_open(&r, s->exts[i].rootfs, NULL, s->exts[i].label, err)) == 0) {
                rc = fs_root_copy_tree(&r, src, kdir, INITRAMFS_FIRMWARE_MAX, err);
                fs_root_close(&r);
            }
            free(src);
        }
    }
    if (!rc) /* the imager's /etc/modules.d/10-extra-modules.conf (hack/extra-modules.conf) */
        rc = fs_write_file_atomic(conf, "search extras built-in\n", 23, 0644, err);
    if (!rc) {
        char *basedir = strncmp(mp, "usr/", 4) ? xstrdup(root) : path_join(root, "usr");
        char *argv[] = {
            (char *)"depmod", (char *)"--all", (char *)"--basedir", basedir, (char *)"--config", conf, kver, NULL};
        rc = tool_run(argv, log, err);
        free(basedir);
    }
    if (!rc) {
        ext = path_join(s->work, "modules.dep");
        dest = xasprintf("%s/rootfs/%s/%s", ext, mp, kver);
        rc = fs_mkdir_p(dest, 0755, err);
        DIR *d = rc ? NULL : opendir(kdir);
        struct dirent *de;
        while (d && !rc && (de = readdir(d)) != NULL) {
            if (strncmp(de->d_name, "modules.", 8))
                continue;
            char *a = path_join(kdir, de->d_name), *b = path_join(dest, de->d_name);
            struct stat st;
            if (lstat(a, &st) == 0 && S_ISREG(st.st_mode) && rename(a, b) != 0)
                rc = error_errno(err, errno, "%s: cannot move", a);
            free(a);
            free(b);
        }
        if (d)
            closedir(d);
    }
    if (!rc) {
        struct extension_manifest m = {(char *)"modules.dep",
                                       kver,
                                       (char *)"Talos Machinery",
                                       (char *)"Combined modules.dep for all extensions",
                                       (char *)"",
                                       (char *)""};
        char *manifest = path_join(ext, "manifest.yaml");
        rc = extension_manifest_write(manifest, &m, err);
        free(manifest);
    }
    if (!rc && extension_load(ext, NULL, &s->exts[s->ext_count], err) == 0) {
        s->ext_count++;
        s->has_modules_dep = true;
    } else {
        rc = -1;
    }
    if (rc)
        error_prefix(err, "combining kernel modules (modules.dep): ");
    struct error ignored;
    fs_remove_tree(base_x, &ignored);
    fs_remove_tree(root, &ignored);
    free(base_x);
    free(root);
    free(sqsh);
    free(log);
    free(mods);
    free(conf);
    free(kver);
    free(kdir);
    free(ext);
    free(dest);
    return rc;
}

/* Directory indexes ordered as their names sort as strings. */
static int compare_index_names(const void *a, const void *b)
{
    char x[24], y[24];
    snprintf(x, sizeof x, "%zu", *(const size_t *)a);
    snprintf(y, sizeof y, "%zu", *(const size_t *)b);
    return strcmp(x, y);
}

static int write_squashfs_images(const struct initramfs_options *o, struct build_state *s, struct error *err)
{
    const char *fw = o->firmware_path ? o->firmware_path : "usr/lib/firmware";
    struct extensions_layer *layers = xcalloc(s->ext_count ? s->ext_count : 1, sizeof *layers);
    char **images = xcalloc(s->ext_count ? s->ext_count : 1, sizeof *images);
    int rc = 0;
    /* Talos extracts the extensions into directories 0..N (profile order, then schematic and
     * embedded-config), lists them sorted by name as strings (0, 1, 10, 11, 2, ...) and names each
     * squashfs after its directory; modules.dep comes last. */
    size_t regular = s->ext_count - (s->has_modules_dep ? 1 : 0);
    size_t *order = xcalloc(s->ext_count ? s->ext_count : 1, sizeof *order);
    for (size_t i = 0; i < s->ext_count; i++)
        order[i] = i;
    qsort(order, regular, sizeof *order, compare_index_names);
    for (size_t k = 0; k < s->ext_count && !rc; k++) {
        size_t i = order[k];
        struct extension *e = &s->exts[i];
        /* microcode: <fw>/intel-ucode/(all) and <fw>/amd-ucode/microcode_amd(*).bin, concatenated;
         * firmware moves to the appended archive (minus the microcode). Both are read inside the
         * extension: a link resolves in its rootfs, never on the build host. */
        struct fs_root r;
        rc = fs_root_open(&r, e->rootfs, NULL, e->label, err);
        if (rc)
            break;
        char *intel_dir = path_join(fw, "intel-ucode"), *amd_dir = path_join(fw, "amd-ucode");
        size_t skip_first = s->ucode_files_n;
        rc = glob_ucode(&r, intel_dir, "", "", &s->ucode_files, &s->ucode_files_n, &s->intel, &s->intel_n, err);
        if (rc >= 0)
            rc = glob_ucode(&r, amd_dir, "microcode_amd", ".bin", &s->ucode_files, &s->ucode_files_n, &s->amd,
                            &s->amd_n, err);
        rc = rc < 0 ? -1 : 0;
        bool have_fw = false;
        if (!rc)
            rc = ext_has_dir(e, fw, &have_fw, err);
        if (!rc && have_fw) {
            add_parent_dirs(&s->archive, fw);
            rc = merge_firmware(&s->archive, &r, fw, fw, s->ucode_files + skip_first, s->ucode_files_n - skip_first, 0,
                                &s->firmware_left, err);
        }
        fs_root_close(&r);
        free(intel_dir);
        free(amd_dir);
        if (rc)
            break;
        images[i] = s->has_modules_dep && i == s->ext_count - 1 ? xstrdup("modules.dep.sqsh") : xasprintf("%zu.sqsh", i);
        char *out = path_join(s->work, images[i]);
        const char *exclude[] = {fw, NULL};
        /* microcode is inside the firmware tree, which is excluded whole */
        struct squashfs_image_options so = {
            .compression = o->squashfs_compression,
            .level = o->squashfs_level,
            .block_size = 0,
            .mtime = o->mtime,
            .threads = o->threads,
            .selinux_label = NULL, /* no label of our own: only what the layer's PAX records say */
            .exclude = exclude,
            .exclude_files = NULL,
        };
        /* the labels the layers' PAX records gave (compress.go xattrPseudoFlags: what moved to the
         * initramfs is skipped); the imager's embedded-config: only config.yaml, from its record */
        struct squashfs_label *labels = xcalloc(e->selinux_label_count + 1, sizeof *labels);
        size_t label_count = 0;
        for (size_t l = 0; l < e->selinux_label_count; l++) {
            const char *p = e->selinux_labels[l].path;
            size_t fw_len = strlen(fw);
            if (!strncmp(p, fw, fw_len) && (!p[fw_len] || p[fw_len] == '/'))
                continue;
            labels[label_count++] = (struct squashfs_label){p, e->selinux_labels[l].label};
        }
        if (i == s->embedded_config)
            labels[label_count++] =
                (struct squashfs_label){EXTENSION_EMBEDDED_CONFIG_PATH, EXTENSION_EMBEDDED_CONFIG_LABEL};
        so.labels = labels;
        so.label_count = label_count;
        rc = squashfs_image_write(e->rootfs, out, &so, err);
        free(labels);
        if (rc)
            error_prefix(err, "%s (%s): ", e->label, e->manifest.name);
        struct item *it = rc ? NULL : items_add(&s->archive, images[i]);
        if (it) {
            it->kind = ITEM_FILE;
            it->src = out;
            it->perm = 0644;
        } else {
            free(out);
        }
        layers[k].image = images[i];
        layers[k].metadata = &e->manifest;
    }
    if (!rc)
        rc = extensions_yaml_write(layers, s->ext_count, &s->yaml, err);
    if (!rc) {
        struct item *it = items_add(&s->archive, "extensions.yaml");
        it->kind = ITEM_DATA;
        it->data = &s->yaml;
        it->perm = 0644;
    }
    for (size_t i = 0; i < s->ext_count; i++)
        free(images[i]);
    free(images);
    free(layers);
    free(order);
    return rc;
}

static int write_early_cpio(int fd, const char *out_path, struct build_state *s, uint32_t mtime, struct error *err)
{
    struct compress_fd_sink fs_state = {fd, out_path, 0};
    struct cpio_writer w;
    cpio_writer_init(&w, compress_sink_fd(&fs_state), mtime);
    if (cpio_write_dir(&w, "kernel", 0755, err) || cpio_write_dir(&w, "kernel/x86", 0755, err) ||
        cpio_write_dir(&w, "kernel/x86/microcode", 0755, err))
        return -1;
    if (s->amd_path && cpio_write_file(&w, "kernel/x86/microcode/AuthenticAMD.bin", 0644, s->amd_path, err))
        return -1;
    if (s->intel_path && cpio_write_file(&w, "kernel/x86/microcode/GenuineIntel.bin", 0644, s->intel_path, err))
        return -1;
    return cpio_write_trailer(&w, 512, err);
}

static int write_appended(int fd, const char *out_path, const struct initramfs_options *o, struct build_state *s,
                          struct error *err)
{
    if (s->archive.n)
        qsort(s->archive.v, s->archive.n, sizeof *s->archive.v, walk_order);
    if (o->archive_compression == COMPRESS_NONE) {
        /* an uncompressed archive must start on a 4-byte boundary, or the kernel drops it */
        off_t end = lseek(fd, 0, SEEK_CUR);
        static const char zeros[4] = {0};
        if (end < 0)
            return error_errno(err, errno, "%s: cannot seek", out_path);
        if ((end & 3) && fs_write_all(fd, zeros, (size_t)(4 - (end & 3)), out_path, err) != 0)
            return -1;
    }
    struct compress_fd_sink fs_state = {fd, out_path, 0};
    struct compress_options co = {o->archive_compression, o->archive_level, o->archive_xz_extreme, (int)o->threads};
    struct compress_writer *cw;
    if (compress_writer_open(&cw, &co, compress_sink_fd(&fs_state), err) != 0)
        return -1;
    struct cpio_writer w;
    cpio_writer_init(&w, compress_writer_sink(cw), o->mtime);
    int rc = 0;
    for (size_t i = 0; i < s->archive.n && !rc; i++) {
        struct item *it = &s->archive.v[i];
        switch (it->kind) {
        case ITEM_DIR: rc = cpio_write_dir(&w, it->rel, it->perm, err); break;
        case ITEM_FILE: rc = cpio_write_file(&w, it->rel, it->perm, it->src, err); break;
        case ITEM_DATA: rc = cpio_write_data(&w, it->rel, it->perm, it->data->data, it->data->len, err); break;
        }
    }
    if (!rc)
        rc = cpio_write_trailer(&w, 512, err);
    if (!rc)
        rc = compress_writer_finish(cw, err);
    compress_writer_free(cw);
    return rc;
}

static void state_free(struct build_state *s)
{
    if (s->work) {
        struct error ignored;
        fs_remove_tree(s->work, &ignored);
        free(s->work);
    }
    for (size_t i = 0; i < s->ext_count; i++)
        extension_free(&s->exts[i]);
    free(s->exts);
    items_free(&s->archive);
    for (size_t i = 0; i < s->intel_n; i++)
        free(s->intel[i]);
    for (size_t i = 0; i < s->amd_n; i++)
        free(s->amd[i]);
    for (size_t i = 0; i < s->ucode_files_n; i++)
        free(s->ucode_files[i]);
    free(s->intel);
    free(s->amd);
    free(s->ucode_files);
    free(s->intel_path);
    free(s->amd_path);
    buffer_free(&s->yaml);
}

int initramfs_build(const struct initramfs_options *o, const char *out_path, struct error *err)
{
    if (!o->base_path)
        return error_set(err, ERROR_INPUT, "initramfs: no base initramfs given");
    if (check_base(o, err) != 0)
        return -1;
    if (o->schematic_id && !sha256_hex_valid(o->schematic_id))
        return error_set(err, ERROR_INPUT, "schematic ID \"%s\" is not 64 lowercase hex digits", o->schematic_id);
    if (o->extension_count == 0 && !o->schematic_id && !o->embedded_config)
        return fs_copy_file(o->base_path, out_path, err);
    if (o->squashfs_compression == COMPRESS_NONE)
        return error_set(err, ERROR_INPUT,
                         "initramfs: no squashfs compression chosen; "
                         "call initramfs_options_for() first");

    struct build_state s;
    memset(&s, 0, sizeof s);
    s.firmware_left = INITRAMFS_FIRMWARE_MAX;
    int rc = 0;
    s.embedded_config = SIZE_MAX;
    size_t total = o->extension_count + (o->schematic_id ? 1 : 0) + (o->embedded_config ? 1 : 0) + 1; /* + modules.dep */
    s.exts = xcalloc(total, sizeof *s.exts);
    for (size_t i = 0; i < o->extension_count; i++) {
        const char *label = o->extension_labels ? o->extension_labels[i] : NULL;
        if (extension_load(o->extension_dirs[i], label, &s.exts[i], err) != 0) {
            rc = -1;
            break;
        }
        s.ext_count++;
        if (o->talos_version && extension_check_compatibility(&s.exts[i], o->talos_version, err) != 0) {
            rc = -1;
            break;
        }
    }
    if (!rc) {
        char *parent = o->work_dir ? xstrdup(o->work_dir) : path_dirname(out_path);
        char *tmpl = path_join(parent, ".airfactory-initramfs-XXXXXX");
        free(parent);
        if (!mkdtemp(tmpl)) {
            rc = error_errno(err, errno, "%s: cannot create a scratch directory", tmpl);
            free(tmpl);
        } else {
            /* absolute: depmod (kmod 30) crashes on a relative --basedir */
            s.work = realpath(tmpl, NULL);
            if (!s.work) {
                rc = error_errno(err, errno, "%s: cannot resolve", tmpl);
                rmdir(tmpl);
            }
            free(tmpl);
        }
    }
    if (!rc && o->schematic_id) {
        char *dir = path_join(s.work, "schematic-extension");
        struct schematic_extension se = {o->schematic_id, o->schematic_author, NULL, o->schematic_yaml};
        rc = extension_schematic_create(dir, &se, err);
        if (!rc && extension_load(dir, NULL, &s.exts[s.ext_count], err) == 0)
            s.ext_count++;
        else
            rc = -1;
        free(dir);
    }
    if (!rc && o->embedded_config) {
        char *dir = path_join(s.work, "embedded-config-extension");
        rc = extension_embedded_config_create(dir, o->embedded_config, o->embedded_config_len, err);
        if (!rc && extension_load(dir, NULL, &s.exts[s.ext_count], err) == 0)
            s.embedded_config = s.ext_count++;
        else
            rc = -1;
        free(dir);
    }
    if (!rc)
        rc = build_modules_dep(o, &s, err);
    if (!rc)
        rc = write_squashfs_images(o, &s, err);
    if (!rc && s.intel_n) {
        s.intel_path = path_join(s.work, "GenuineIntel.bin");
        rc = concat_files(s.intel, s.intel_n, s.intel_path, err);
    }
    if (!rc && s.amd_n) {
        s.amd_path = path_join(s.work, "AuthenticAMD.bin");
        rc = concat_files(s.amd, s.amd_n, s.amd_path, err);
    }
    if (!rc) {
        struct atomic_file af;
        rc = atomic_file_open(&af, out_path, 0644, err);
        if (!rc) {
            if (s.intel_path || s.amd_path)
                rc = write_early_cpio(af.fd, out_path, &s, o->mtime, err);
            if (!rc)
                rc = copy_into(af.fd, o->base_path, out_path, err);
            if (!rc)
                rc = write_appended(af.fd, out_path, o, &s, err);
            if (rc)
                atomic_file_abort(&af);
            else
                rc = atomic_file_commit(&af, err);
        }
    }
    state_free(&s);
    return rc;
}
