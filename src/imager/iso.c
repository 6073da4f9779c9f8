/* iso — see iso.h. */
#define LIBISOFS_WITHOUT_LIBBURN 1
#include "imager/iso.h"
#include "talos/version.h"
#include "imager/grub_tool.h"
#include "imager/grub_disk.h"
#include "format/fat.h"
#include "core/fs.h"
#include "core/memory.h"
#include "core/tool.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes" /* libisofs.h declares f() */
#include <libisofs.h>
#pragma GCC diagnostic pop
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024ull * 1024ull)

int iso_options_for(struct iso_options *o, const struct talos_quirks *q, enum schematic_bootloader bootloader,
                    const char *talos_version, const char *arch, struct error *err)
{
    struct talos_version parsed;
    if (!talos_version || talos_version_parse(talos_version, &parsed) != 0)
        return error_set(err, ERROR_INPUT, "Talos version \"%s\" is not X.Y.Z (e.g. v1.10.3)",
                         talos_version ? talos_version : "");
    if (!arch || (strcmp(arch, "amd64") && strcmp(arch, "arm64")))
        return error_set(err, ERROR_INPUT, "ISO: architecture \"%s\" is not amd64 or arm64", arch ? arch : "");
    o->talos_version = talos_version;
    o->arch = arch;
    switch (q->iso_kind) {
    case TALOS_ISO_GRUB: o->layout = ISO_GRUB; break;
    case TALOS_ISO_UEFI: o->layout = ISO_UEFI; break;
    case TALOS_ISO_HYBRID: o->layout = ISO_HYBRID; break;
    case TALOS_ISO_BOOTLOADER: {
        /* out.go outISO: the profile's ISO bootloader (the schematic's, else the version default) */
        enum schematic_bootloader b = bootloader != SCHEMATIC_BOOTLOADER_NONE ? bootloader : q->default_bootloader;
        o->layout = b == SCHEMATIC_BOOTLOADER_GRUB      ? ISO_GRUB
                    : b == SCHEMATIC_BOOTLOADER_SD_BOOT ? ISO_UEFI
                                                        : ISO_HYBRID;
        /* the hybrid's BIOS half is i386-pc GRUB: on arm64 only its UEFI half can boot */
        if (o->layout == ISO_HYBRID && strcmp(arch, "amd64"))
            o->layout = ISO_UEFI;
        break;
    }
    }
    o->grub_reset_entry = q->grub_reset_entry;
    o->random_seed = q->iso_random_seed;
    o->volume_label = q->iso_label;
    return 0;
}

char *iso_volume_id(const char *talos_version)
{
    char *label = xasprintf("Talos-%s", talos_version);
    char *out = xmalloc(33);
    size_t n = 0;
    for (const char *p = label; *p && n < 32; p++) {
        unsigned char c = (unsigned char)toupper((unsigned char)*p);
        if (isupper(c) || isdigit(c))
            out[n++] = (char)c;
        else if (c == '_' || c == '-' || c == '.')
            out[n++] = '_';
    }
    out[n] = '\0';
    free(label);
    return out;
}

char *iso_grub_quote(const char *cmdline)
{
    struct buffer b = BUFFER_INIT;
    for (const char *p = cmdline; *p; p++) {
        if (strchr("\\{}&$|;<>\"", *p))
            buffer_append_char(&b, '\\');
        buffer_append_char(&b, *p);
    }
    return buffer_take(&b);
}

char *iso_grub_cfg(const char *cmdline, bool reset_entry)
{
    char *q = iso_grub_quote(cmdline);
    struct buffer b = BUFFER_INIT;
    buffer_appendf(&b,
                   "set default=0\nset timeout=3\n\ninsmod all_video\n\nterminal_input console\nterminal_output "
                   "console\n\nmenuentry \"Talos ISO\" {\n\tset gfxmode=auto\n\tset gfxpayload=text\n\tlinux "
                   "/boot/vmlinuz %s\n\tinitrd /boot/initramfs.xz\n}\n\n",
                   q);
    if (reset_entry)
        buffer_appendf(&b,
                       "menuentry \"Reset Talos installation\" {\n\tset gfxmode=auto\n\tset gfxpayload=text\n\tlinux "
                       "/boot/vmlinuz %s talos.experimental.wipe=system\n\tinitrd /boot/initramfs.xz\n}\n",
                       q);
    free(q);
    return buffer_take(&b);
}

/* ---- helpers ---- */

static int iso_fail(struct error *err, int code, const char *what)
{
    return error_set(err, ERROR_RUNTIME, "ISO: %s: %s (libisofs 0x%x)", what, iso_error_to_msg(code), (unsigned)code);
}

/* The directory at path (created as needed), "" = root. */
static int iso_dir(IsoImage *image, const char *path, IsoDir **out, struct error *err)
{
    IsoDir *dir = iso_image_get_root(image);
    char *copy = xstrdup(path);
    char *save = NULL;
    int rc = 0;
    for (char *part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
        IsoNode *node = NULL;
        if (iso_dir_get_node(dir, part, &node) == 1 && node) {
            if (iso_node_get_type(node) != LIBISO_DIR) {
                rc = error_set(err, ERROR_RUNTIME, "ISO: %s is not a directory", path);
                break;
            }
            dir = (IsoDir *)node;
            continue;
        }
        IsoDir *d;
        int r = iso_tree_add_new_dir(dir, part, &d);
        if (r < 0) {
            rc = iso_fail(err, r, path);
            break;
        }
        dir = d;
    }
    free(copy);
    *out = dir;
    return rc;
}

/* Add the local file src as path inside the image. */
static int iso_file(IsoImage *image, const char *path, const char *src, struct error *err)
{
    const char *slash = strrchr(path, '/');
    char *dirpath = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
    IsoDir *dir;
    int rc = iso_dir(image, dirpath, &dir, err);
    free(dirpath);
    if (rc)
        return rc;
    IsoNode *node;
    char *abs = realpath(src, NULL); /* libisofs resolves names from the file system root */
    if (!abs)
        return error_errno(err, errno, "ISO: %s", src);
    int r = iso_tree_add_new_node(image, dir, slash ? slash + 1 : path, abs, &node);
    free(abs);
    if (r < 0)
        return error_set(err, ERROR_RUNTIME, "ISO: adding %s as %s: %s", src, path, iso_error_to_msg(r));
    return 0;
}

/* Add the tree under the local directory src as path inside the image, names in byte order
 * (empty directories included); only regular files and directories. */
struct iso_tree_walk {
    IsoImage *image;
    const char *path;
};

static int iso_tree_entry(void *context, const char *relative, const char *src, const struct stat *st, struct error *err)
{
    struct iso_tree_walk *w = context;
    char *inside = xasprintf("%s/%s", w->path, relative);
    IsoDir *dir;
    int rc = S_ISDIR(st->st_mode)   ? iso_dir(w->image, inside, &dir, err)
             : S_ISREG(st->st_mode) ? iso_file(w->image, inside, src, err)
                                    : error_set(err, ERROR_INPUT, "ISO: %s is neither a file nor a directory", src);
    free(inside);
    return rc;
}

static int iso_tree(IsoImage *image, const char *path, const char *src, struct error *err)
{
    IsoDir *dir;
    if (iso_dir(image, path, &dir, err) != 0)
        return -1;
    struct iso_tree_walk w = {image, path};
    return fs_walk(src, iso_tree_entry, &w, err);
}

/* What grub-mkrescue copies of a GRUB platform directory to boot/grub/<platform>/
 * (grub_install_copy_files, util/grub-install-common.c): every *.mod and the pkglib_DATA list.
 * Not the boot images (boot.img, cdboot.img, kernel.img, ...), config.h or tools. */
static bool grub_module_file(const char *name)
{
    static const char *const data[] = {"efiemu32.o", "efiemu64.o",   "moddep.lst",   "command.lst",
                                       "fs.lst",     "partmap.lst",  "parttool.lst", "video.lst",
                                       "crypto.lst", "terminal.lst", "modinfo.sh"};
    const char *ext = strrchr(name, '.');
    if (ext && !strcmp(ext, ".mod"))
        return true;
    for (size_t i = 0; i < sizeof data / sizeof *data; i++)
        if (!strcmp(name, data[i]))
            return true;
    return false;
}

/* The GRUB module files of one platform directory under boot/grub/<platform>/, as grub-mkrescue does. */
static int iso_grub_modules(IsoImage *image, const char *grub_dir, const char *platform, struct error *err)
{
    if (grub_dir_check(grub_dir, platform, err) != 0)
        return -1;
    char *src = path_join(grub_dir, platform);
    DIR *d = opendir(src);
    if (!d) {
        int rc = error_errno(err, errno, "GRUB modules %s", src);
        free(src);
        return rc;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *p = path_join(src, de->d_name);
        struct stat st;
        if (grub_module_file(de->d_name) && lstat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            names = xrealloc(names, (n + 1) * sizeof *names);
            names[n++] = xstrdup(de->d_name);
        }
        free(p);
    }
    closedir(d);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!rc) {
            char *from = path_join(src, names[i]);
            char *to = xasprintf("boot/grub/%s/%s", platform, names[i]);
            rc = iso_file(image, to, from, err);
            free(from);
            free(to);
        }
        free(names[i]);
    }
    free(names);
    free(src);
    if (!rc) {
        /* grub-mkrescue makes these whatever the platform: roms/ (grub-mkrescue.c main), locale/
         * (grub_install_copy_nls; Talos' GRUB is built --disable-nls, so it stays empty) and fonts/
         * (grub_install_copy_files; see docs/differences.md for its unicode.pf2) */
        static const char *const dirs[] = {"boot/grub/fonts", "boot/grub/locale", "boot/grub/roms"};
        IsoDir *dir;
        for (size_t i = 0; !rc && i < sizeof dirs / sizeof *dirs; i++)
            rc = iso_dir(image, dirs[i], &dir, err);
    }
    return rc;
}

struct efi_platform {
    const char *dir, *format, *boot_name, *arch;
};
static const struct efi_platform efi_platforms[] = {
    {"x86_64-efi", "x86_64-efi", "BOOTX64.EFI", "amd64"},
    {"arm64-efi", "arm64-efi", "BOOTAA64.EFI", "arm64"},
};

static int grub_mkimage(const struct iso_options *o, const char *work, const char *platform, const char *format,
                        const char *load_cfg, const char *out, const char *const *modules, struct error *err)
{
    if (grub_dir_check(o->grub_dir, platform, err) != 0)
        return -1;
    char *dir = path_join(o->grub_dir, platform);
    char *log = path_join(work, "grub-mkimage.log");
    const char *argv[32];
    size_t n = 0;
    if (o->grub_tool)
        for (size_t i = 0; i < o->grub_tool->argc; i++)
            argv[n++] = o->grub_tool->argv[i];
    else
        argv[n++] = "grub-mkimage";
    argv[n++] = "-d";
    argv[n++] = dir;
    argv[n++] = "-O";
    argv[n++] = format;
    argv[n++] = "-p";
    argv[n++] = "/boot/grub";
    argv[n++] = "-c";
    argv[n++] = load_cfg;
    argv[n++] = "-o";
    argv[n++] = out;
    for (const char *const *m = modules; *m && n < 31; m++)
        argv[n++] = *m;
    argv[n] = NULL;
    int rc = tool_run((char *const *)argv, log, err);
    if (rc)
        error_prefix(err, "GRUB %s image from %s: ", format, dir);
    free(dir);
    free(log);
    return rc;
}

static int write_all_file(const char *path, const char *text, struct error *err)
{
    return fs_write_file_atomic(path, text, strlen(text), 0644, err);
}

static int write_iso(IsoImage *image, IsoWriteOpts *opts, const char *out_path, struct error *err)
{
    struct burn_source *src = NULL;
    int r = iso_image_create_burn_source(image, opts, &src);
    if (r < 0)
        return iso_fail(err, r, "starting the image writer");
    struct atomic_file af;
    int rc = atomic_file_open(&af, out_path, 0644, err);
    unsigned char *buf = xmalloc(2048 * 64);
    bool open_ok = rc == 0;
    for (;;) {
        size_t have = 0;
        int n = 0;
        while (have < 2048 * 64) {
            n = src->read_xt(src, buf + have, 2048);
            if (n <= 0)
                break;
            have += (size_t)n;
        }
        if (!rc && have)
            rc = fs_write_all(af.fd, buf, have, out_path, err);
        if (n < 0 && !rc)
            rc = error_set(err, ERROR_RUNTIME, "ISO: the image writer failed (see messages above)");
        if (n <= 0)
            break;
        if (rc) {
            src->cancel(src);
            break;
        }
    }
    free(buf);
    src->free_data(src);
    free(src);
    if (open_ok) {
        if (!rc)
            rc = atomic_file_commit(&af, err);
        else
            atomic_file_abort(&af);
    }
    return rc;
}

static uint64_t file_size_or_zero(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static pthread_mutex_t iso_lock = PTHREAD_MUTEX_INITIALIZER;

int iso_build(const struct iso_options *o, const char *out_path, struct error *err)
{
    bool grub_bios = false, grub_efi = o->layout == ISO_GRUB, esp = o->layout != ISO_GRUB;
    if (!o->talos_version || !o->arch)
        return error_set(err, ERROR_INPUT, "ISO: Talos version and architecture are required");
    if (o->layout != ISO_UEFI) {
        if (!o->kernel_path || !o->initramfs_path || !o->cmdline || !o->grub_dir)
            return error_set(err, ERROR_INPUT,
                             "ISO: the GRUB layouts need kernel, initramfs, command line and the "
                             "imager's GRUB directory");
        char *i386 = path_join(o->grub_dir, "i386-pc");
        /* grub-mkrescue takes every platform under usr/lib/grub whatever the ISO's arch
         * (grub.go: no --directory), the hybrid only i386-pc (hybrid.go --directory) */
        grub_bios = fs_is_dir(i386);
        free(i386);
        if (o->layout == ISO_HYBRID && !grub_bios)
            return error_set(err, ERROR_INPUT, "ISO: %s/i386-pc is missing; the hybrid ISO boots BIOS through it",
                             o->grub_dir);
    }
    if (esp && (!o->uki_path || !o->sdboot_path))
        return error_set(err, ERROR_INPUT, "ISO: systemd-boot and the UKI are required from Talos 1.10");
    const char *inputs[] = {o->kernel_path, o->initramfs_path, o->uki_path, o->sdboot_path};
    for (size_t i = 0; i < 4; i++)
        if (inputs[i] && !fs_exists(inputs[i]))
            return error_set(err, ERROR_INPUT, "ISO: input %s does not exist", inputs[i]);

    char *parent = o->work_dir ? xstrdup(o->work_dir) : path_dirname(out_path);
    char *work = path_join(parent, ".airfactory-iso-XXXXXX");
    free(parent);
    if (!mkdtemp(work)) {
        int rc = error_errno(err, errno, "%s: cannot create a scratch directory", work);
        free(work);
        return rc;
    }

    /* volume dates: YYYYMMDDhhmmss00 (PVD, GPT GUIDs) and GRUB's view of it as the fs UUID */
    time_t t = (time_t)o->mtime;
    struct tm g;
    gmtime_r(&t, &g);
    char vol_uuid[64], grub_uuid[64];
    snprintf(vol_uuid, sizeof vol_uuid, "%04d%02d%02d%02d%02d%02d00", g.tm_year + 1900, g.tm_mon + 1, g.tm_mday,
             g.tm_hour, g.tm_min, g.tm_sec);
    snprintf(grub_uuid, sizeof grub_uuid, "%04d-%02d-%02d-%02d-%02d-%02d-00", g.tm_year + 1900, g.tm_mon + 1, g.tm_mday,
             g.tm_hour, g.tm_min, g.tm_sec);

    int rc = 0;
    char *load_cfg = path_join(work, "load.cfg");
    char *grub_cfg_path = path_join(work, "grub.cfg");
    char *eltorito = path_join(work, "eltorito.img");
    char *efi_img = path_join(work, "efi.img");
    char *esp_img = path_join(work, "efiboot.img");
    char *loader_conf = path_join(work, "loader.conf");
    char *seed = path_join(work, "random-seed");
    char *uki_name = xasprintf("EFI/Linux/Talos-%s.efi", o->talos_version);
    const char *sd_name = !strcmp(o->arch, "arm64") ? "EFI/BOOT/BOOTAA64.EFI" : "EFI/BOOT/BOOTX64.EFI";
    char *efi_bins[2] = {NULL, NULL};
    const struct efi_platform *efi_used[2] = {NULL, NULL};
    size_t efi_count = 0;

    if (o->layout != ISO_UEFI) {
        char *cfg = xasprintf("search --fs-uuid --set=root %s\nset prefix=($root)/boot/grub\n", grub_uuid);
        rc = write_all_file(load_cfg, cfg, err);
        free(cfg);
        char *menu = iso_grub_cfg(o->cmdline, o->grub_reset_entry);
        if (!rc)
            rc = write_all_file(grub_cfg_path, menu, err);
        free(menu);
        if (!rc && grub_bios) {
            static const char *const mods[] = {"biosdisk", "iso9660", "search", "search_fs_uuid", NULL};
            rc = grub_mkimage(o, work, "i386-pc", "i386-pc-eltorito", load_cfg, eltorito, mods, err);
        }
        for (size_t i = 0; grub_efi && !rc && i < 2; i++) {
            char *d = path_join(o->grub_dir, efi_platforms[i].dir);
            bool have = fs_is_dir(d);
            free(d);
            if (!have)
                continue;
            static const char *const mods[] = {"iso9660", "search", "search_fs_uuid", "part_gpt", "part_msdos",
                                               "fat",     NULL};
            efi_bins[efi_count] = path_join(work, efi_platforms[i].boot_name);
            efi_used[efi_count] = &efi_platforms[i];
            rc = grub_mkimage(o, work, efi_platforms[i].dir, efi_platforms[i].format, load_cfg, efi_bins[efi_count],
                              mods, err);
            efi_count++;
        }
        if (!rc && grub_efi && efi_count) {
            struct fat_file ff[2];
            uint64_t total = 0;
            for (size_t i = 0; i < efi_count; i++) {
                ff[i] = (struct fat_file){NULL, efi_bins[i], NULL, 0, false};
                ff[i].path =
                    !strcmp(efi_used[i]->boot_name, "BOOTX64.EFI") ? "EFI/BOOT/BOOTX64.EFI" : "EFI/BOOT/BOOTAA64.EFI";
                total += (file_size_or_zero(efi_bins[i]) + MIB - 1) / MIB * MIB;
            }
            struct fat_options fo = {4 * MIB + total, "EFI", o->mtime, o->mtime};
            rc = fat_image_write(efi_img, &fo, ff, efi_count, err);
        }
        if (!rc && grub_efi && !efi_count && !grub_bios)
            rc = error_set(err, ERROR_INPUT, "ISO: %s has neither i386-pc nor an EFI GRUB platform", o->grub_dir);
    }
    if (!rc && esp) {
        char *conf = xasprintf("# systemd-boot configuration\n\ntimeout 10\n\nsecure-boot-enroll %s\n",
                               o->secure_boot_enroll ? o->secure_boot_enroll : "off");
        rc = write_all_file(loader_conf, conf, err);
        free(conf);
        static const char zeros[32] = {0};
        if (!rc && o->random_seed)
            rc = fs_write_file_atomic(seed, zeros, sizeof zeros, 0644, err);
        struct fat_file *ff = xcalloc(4 + o->extra_file_count, sizeof *ff);
        size_t nff = 0;
        ff[nff++] = (struct fat_file){sd_name, o->sdboot_path, NULL, 0, false};
        ff[nff++] = (struct fat_file){uki_name, o->uki_path, NULL, 0, false};
        ff[nff++] = (struct fat_file){"loader/loader.conf", loader_conf, NULL, 0, false};
        if (o->random_seed)
            ff[nff++] = (struct fat_file){"loader/random-seed", seed, NULL, 0, true};
        for (size_t i = 0; i < o->extra_file_count; i++)
            ff[nff++] = (struct fat_file){o->extra_files[i].path, o->extra_files[i].source, NULL, 0, false};
        /* Talos: 10 MiB + every asset rounded up to a MiB */
        uint64_t size = 10 * MIB + (file_size_or_zero(o->sdboot_path) + MIB - 1) / MIB * MIB +
                        (file_size_or_zero(o->uki_path) + MIB - 1) / MIB * MIB;
        struct fat_options fo = {size, "EFI", o->mtime, o->mtime};
        if (!rc)
            rc = fat_image_write(esp_img, &fo, ff, nff, err);
        free(ff);
    }

    /* libisofs keeps global state; one image at a time */
    IsoImage *image = NULL;
    IsoWriteOpts *opts = NULL;
    bool locked = false;
    char *volid = o->volume_id      ? xstrdup(o->volume_id)
                  : o->volume_label ? iso_volume_id(o->talos_version)
                                    : xstrdup("ISOIMAGE"); /* grub-mkrescue's default */
    char *volset = o->volume_set_id  ? xstrdup(o->volume_set_id)
                   : o->volume_label ? xasprintf("Talos-%s", o->talos_version)
                                     : NULL;
    if (!rc) {
        pthread_mutex_lock(&iso_lock);
        locked = true;
        int r = iso_init();
        if (r < 0)
            rc = iso_fail(err, r, "initialising libisofs");
        else
            iso_set_msgs_severities((char *)"NEVER", (char *)"FAILURE", (char *)"airfactory");
    }
    if (!rc) {
        int r = iso_image_new(volid, &image);
        if (r < 0)
            rc = iso_fail(err, r, "creating the image");
    }
    if (!rc && volset)
        iso_image_set_volset_id(image, volset);
    if (!rc && o->layout != ISO_UEFI) {
        rc = iso_file(image, "boot/vmlinuz", o->kernel_path, err);
        if (!rc)
            rc = iso_file(image, "boot/initramfs.xz", o->initramfs_path, err);
        if (!rc)
            rc = iso_file(image, "boot/grub/grub.cfg", grub_cfg_path, err);
        if (!rc && grub_bios) {
            rc = iso_grub_modules(image, o->grub_dir, "i386-pc", err);
            if (!rc)
                rc = iso_file(image, "boot/grub/i386-pc/eltorito.img", eltorito, err);
        }
        for (size_t i = 0; !rc && i < efi_count; i++)
            rc = iso_grub_modules(image, o->grub_dir, efi_used[i]->dir, err);
        if (!rc && grub_efi && efi_count)
            rc = iso_file(image, "efi.img", efi_img, err);
    }
    if (!rc && esp) {
        rc = iso_file(image, sd_name, o->sdboot_path, err);
        if (!rc)
            rc = iso_file(image, uki_name, o->uki_path, err);
        if (!rc)
            rc = iso_file(image, "loader/loader.conf", loader_conf, err);
        if (!rc && o->random_seed)
            rc = iso_file(image, "loader/random-seed", seed, err);
        for (size_t i = 0; !rc && i < o->extra_file_count; i++)
            rc = iso_file(image, o->extra_files[i].path, o->extra_files[i].source, err);
        if (!rc)
            rc = iso_file(image, "efiboot.img", esp_img, err);
    }
    if (!rc && o->tree_source)
        rc = iso_tree(image, o->tree_path, o->tree_source, err);
    if (!rc) {
        int r = iso_write_opts_new(&opts, 0);
        if (r < 0)
            rc = iso_fail(err, r, "write options");
    }
    ElToritoBootImage *bios_boot = NULL, *efi_boot = NULL;
    const char *efi_path = esp ? "/efiboot.img" : (efi_count ? "/efi.img" : NULL);
    if (!rc && grub_bios) {
        int r = iso_image_set_boot_image(image, "/boot/grub/i386-pc/eltorito.img", ELTORITO_NO_EMUL, "/boot.catalog",
                                         &bios_boot);
        if (r < 0)
            rc = iso_fail(err, r, "El Torito BIOS image");
        else {
            el_torito_set_load_size(bios_boot, 4);
            /* boot info table (-boot-info-table) + GRUB2 boot info (--grub2-boot-info) */
            el_torito_set_isolinux_options(bios_boot, 1 | (1 << 9), 0);
        }
    }
    if (!rc && efi_path) {
        int r = bios_boot ? iso_image_add_boot_image(image, efi_path, ELTORITO_NO_EMUL, 0, &efi_boot)
                          : iso_image_set_boot_image(image, efi_path, ELTORITO_NO_EMUL, "/boot.catalog", &efi_boot);
        if (r < 0)
            rc = iso_fail(err, r, "El Torito EFI image");
        else {
            el_torito_set_boot_platform_id(efi_boot, 0xef);
            /* the same bytes are also the GPT's EFI system partition (grub-mkrescue's
             * -efi-boot-part --efi-boot-image), so the ISO boots as a USB stick too */
            int rp = iso_write_opts_set_efi_bootp(opts, (char *)"--efi-boot-image", 0);
            if (rp < 0)
                rc = iso_fail(err, rp, "EFI boot partition");
            /* the El Torito sector count is 16 bits; larger images record 0 (= to the end), as xorriso does */
            uint64_t sectors = (file_size_or_zero(esp ? esp_img : efi_img) + 511) / 512;
            el_torito_set_load_size(efi_boot, sectors <= 0x7fff ? (short)sectors : 0);
        }
    }
    if (!rc) {
        iso_write_opts_set_iso_level(opts, 3);
        iso_write_opts_set_rockridge(opts, 1);
        /* Rock Ridge 1.10 PX entries carry no file serial numbers: libisofs derives those from
         * the host inode numbers of the sources (scratch files here), which differ per run */
        iso_write_opts_set_rrip_version_1_10(opts, 1);
        iso_write_opts_set_rrip_1_10_px_ino(opts, 0);
        iso_write_opts_set_joliet(opts, 1);
        iso_write_opts_set_allow_deep_paths(opts, 1);
        iso_write_opts_set_replace_mode(opts, 1, 1, 1, 1); /* 0555/0444, root:root */
        iso_write_opts_set_replace_timestamps(opts, 2);
        iso_write_opts_set_default_timestamp(opts, (time_t)o->mtime);
        iso_write_opts_set_always_gmt(opts, 1);
        iso_write_opts_set_dir_rec_mtime(opts, 1);
        iso_write_opts_set_pvd_times(opts, (time_t)o->mtime, (time_t)o->mtime, 0, 0, vol_uuid);
        iso_write_opts_set_gpt_guid(opts, NULL, 2);
        /* 300 KiB of padding, as xorriso's default -pad: GRUB's BIOS CD driver reads ahead, and a
         * kernel that ends exactly at the end of the medium fails to load under SeaBIOS */
        iso_write_opts_set_tail_blocks(opts, 150);
        if (grub_bios) {
            char *sa = xcalloc(1, 32768);
            char *mbr = path_join(o->grub_dir, "i386-pc/boot_hybrid.img");
            int fd = open(mbr, O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                rc = error_errno(err, errno, "GRUB hybrid MBR %s", mbr);
            } else {
                ssize_t got = read(fd, sa, 512);
                close(fd);
                if (got != 512)
                    rc = error_set(err, ERROR_INPUT, "GRUB hybrid MBR %s: expected 512 bytes", mbr);
            }
            /* --grub2-mbr (GRUB2 boot provisions patch the MBR with the El Torito image address)
             * and --protective-msdos-label, as grub-mkrescue asks xorriso for */
            if (!rc) {
                int r = iso_write_opts_set_system_area(opts, sa, (1 << 14) | 1, 0);
                if (r < 0)
                    rc = iso_fail(err, r, "system area");
            }
            free(mbr);
            free(sa);
        } else {
            int r = iso_write_opts_set_system_area(opts, NULL, 1, 0); /* protective MBR for the GPT */
            if (r < 0)
                rc = iso_fail(err, r, "system area");
        }
    }
    if (!rc)
        rc = write_iso(image, opts, out_path, err);
    if (opts)
        iso_write_opts_free(opts);
    if (image)
        iso_image_unref(image);
    if (locked) {
        iso_finish();
        pthread_mutex_unlock(&iso_lock);
    }
    struct error ignored;
    fs_remove_tree(work, &ignored);
    for (size_t i = 0; i < efi_count; i++)
        free(efi_bins[i]);
    free(volid);
    free(volset);
    free(work);
    free(load_cfg);
    free(grub_cfg_path);
    free(eltorito);
    free(efi_img);
    free(esp_img);
    free(loader_conf);
    free(seed);
    free(uki_name);
    return rc;
}
