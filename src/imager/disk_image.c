/* disk_image — see disk_image.h. */
#include "imager/disk_image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/digest.h"
#include "format/disk_archive.h"
#include "format/fat.h"
#include "core/endian.h"
#include "core/fs.h"
#include "format/gpt.h"
#include "imager/grub_disk.h"
#include "core/memory.h"
#include "format/qcow2.h"
#include "format/xfs_image.h"
#include "format/ext4_image.h"
#include "imager/image_cache.h"

#define MIB (1024ull * 1024ull)
#define COPY_CHUNK (1u << 20)
/* mkfs.vfat --invariant's volume ID (dosfstools mkfs.fat.c) */
#define FAT_INVARIANT_SERIAL 0x1234abcdu

const char *disk_image_format_name(enum disk_image_format f)
{
    switch (f) {
    case DISK_IMAGE_RAW: return "raw";
    case DISK_IMAGE_QCOW2: return "qcow2";
    case DISK_IMAGE_VHD: return "vhd";
    case DISK_IMAGE_OVA: return "ova";
    }
    return "?";
}

const char *disk_image_bootloader_name(enum disk_image_bootloader b)
{
    switch (b) {
    case DISK_IMAGE_SD_BOOT: return "sd-boot";
    case DISK_IMAGE_GRUB: return "grub";
    case DISK_IMAGE_DUAL_BOOT: return "dual-boot";
    }
    return "?";
}

/* The parsed name's disk format and compression -> the plan's, with the imager's post-processing
 * levels (talos-imager.md §7.7). */
static int plan_output(const struct asset_path *asset, const char *path, struct disk_image_plan *p, struct error *err)
{
    static const struct {
        const char *suffix;
        enum compress_kind kind;
        int level;
        bool tar;
    } compressions[] = {
        {".tar.gz", COMPRESS_GZIP, 6, true}, {".zst", COMPRESS_ZSTD, 18, false}, {".xz", COMPRESS_XZ, 0, false},
        {".gz", COMPRESS_GZIP, 6, false},    {"", COMPRESS_NONE, 0, false},
    };
    static const struct {
        const char *name;
        enum disk_image_format format;
    } formats[] = {{"raw", DISK_IMAGE_RAW}, {"qcow2", DISK_IMAGE_QCOW2}, {"vhd", DISK_IMAGE_VHD}, {"ova", DISK_IMAGE_OVA}};
    size_t c = 0, f = 0;
    while (c < sizeof compressions / sizeof compressions[0] && strcmp(compressions[c].suffix, asset->compression))
        c++;
    while (f < sizeof formats / sizeof formats[0] && strcmp(formats[f].name, asset->disk_format))
        f++;
    if (asset->kind != ASSET_IMAGE || c == sizeof compressions / sizeof compressions[0] ||
        f == sizeof formats / sizeof formats[0])
        return error_set(err, ERROR_INPUT,
                         "%s: not a disk image name; expected "
                         "PLATFORM-ARCH[-secureboot].{raw,qcow2,vhd,ova}[.xz|.zst|.gz|.tar.gz]",
                         path);
    p->format = formats[f].format;
    p->compression = compressions[c].kind;
    p->level = compressions[c].level;
    p->tar = compressions[c].tar;
    return 0;
}

/* Each partition Talos' image mode creates: its GPT type and file system (talos v1.14
 * internal/pkg/partition/partition.go NewPartitionOptions, format.go systemPartitionsFormatOptions). */
static const struct {
    const char *name, *type, *filesystem;
} talos_partitions[] = {
    {"EFI", GPT_TYPE_EFI, "vfat"},          {"BIOS", GPT_TYPE_BIOS, "zeroes"}, {"BOOT", GPT_TYPE_LINUX, "xfs"},
    {"META", GPT_TYPE_LINUX, "zeroes"},     {"STATE", GPT_TYPE_LINUX, "none"}, {"EPHEMERAL", GPT_TYPE_LINUX, "none"},
    {"IMAGECACHE", GPT_TYPE_LINUX, "ext4"},
};

static void add_partition(struct disk_image_plan *p, const char *name, uint64_t size_mib)
{
    struct disk_image_partition *d = &p->partitions[p->partition_count++];
    snprintf(d->name, sizeof d->name, "%s", name);
    d->size = size_mib * MIB;
    for (size_t i = 0; i < sizeof talos_partitions / sizeof talos_partitions[0]; i++)
        if (!strcmp(talos_partitions[i].name, name)) {
            d->type = talos_partitions[i].type;
            d->filesystem = talos_partitions[i].filesystem;
        }
}

/* The plan's GPT entries (names, types, label GUIDs, BIOS attribute) laid out on its disk. */
static int plan_gpt(const struct disk_image_plan *plan, uint64_t skip_lbas, struct gpt_table *t,
                    struct gpt_partition parts[DISK_IMAGE_MAX_PARTITIONS], struct error *err)
{
    uint64_t sizes[DISK_IMAGE_MAX_PARTITIONS];
    memset(parts, 0, DISK_IMAGE_MAX_PARTITIONS * sizeof *parts);
    for (size_t i = 0; i < plan->partition_count; i++) {
        const struct disk_image_partition *d = &plan->partitions[i];
        snprintf(parts[i].name, sizeof parts[i].name, "%s", d->name);
        if (!d->type || gpt_guid_parse(d->type, parts[i].type) != 0)
            return error_set(err, ERROR_RUNTIME, "partition %s has no GPT type", d->name);
        gpt_guid_from_label(d->name, parts[i].guid);
        if (!strcmp(d->name, "BIOS"))
            parts[i].attributes = GPT_ATTR_LEGACY_BIOS_BOOTABLE;
        sizes[i] = d->size;
    }
    *t = (struct gpt_table){.partitions = parts, .count = plan->partition_count, .skip_lbas = skip_lbas};
    gpt_guid_from_label(GPT_TALOS_DISK_LABEL, t->disk_guid);
    return gpt_layout(t, plan->disk_size, plan->sector_size, sizes, err);
}

int disk_image_plan_extents(const struct disk_image_plan *plan, uint64_t first_lba[DISK_IMAGE_MAX_PARTITIONS],
                            uint64_t size[DISK_IMAGE_MAX_PARTITIONS], struct error *err)
{
    struct gpt_partition parts[DISK_IMAGE_MAX_PARTITIONS];
    struct gpt_table t;
    if (plan_gpt(plan, 0, &t, parts, err) != 0)
        return -1;
    for (size_t i = 0; i < plan->partition_count; i++) {
        first_lba[i] = parts[i].first_lba;
        size[i] = (parts[i].last_lba - parts[i].first_lba + 1) * plan->sector_size;
    }
    return 0;
}

int disk_image_plan_for(const struct profile_set *profiles, const struct asset_path *asset, const char *version,
                        const struct schematic *schematic, struct disk_image_plan *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    char path[ASSET_PATH_MAX];
    asset_path_format(asset, path);
    const char *platform = asset->platform, *arch = asset->arch;
    bool secureboot = asset->secureboot;
    if (plan_output(asset, path, out, err) != 0)
        return -1;
    if (!profile_platform_find(profiles, platform))
        return error_set(err, ERROR_INPUT, "%s: unknown platform '%s'; expected one of %s", path, platform,
                         profile_platform_names(profiles));
    struct talos_version v;
    if (talos_version_parse(version, &v) != 0)
        return error_set(err, ERROR_INPUT, "%s: Talos version '%s' is not vX.Y.Z", path, version);
    struct talos_quirks q;
    profile_quirks(profiles, &v, arch, secureboot, &q);
    if (!q.supported) /* image-factory cmd/image-factory/cmd/options.go: MinTalosVersion "1.2.0" */
        return error_set(err, ERROR_INPUT, "%s: Talos %s is not supported; Image Factory builds v1.2.0 and later", path,
                         version);
    out->grub_reset_entry = q.grub_reset_entry;

    /* bootloader: output.go selectBootloader */
    enum schematic_bootloader chosen = schematic ? schematic->bootloader : SCHEMATIC_BOOTLOADER_NONE;
    if (secureboot || chosen == SCHEMATIC_BOOTLOADER_NONE)
        chosen = q.default_bootloader;
    out->bootloader = chosen == SCHEMATIC_BOOTLOADER_SD_BOOT ? DISK_IMAGE_SD_BOOT
                      : chosen == SCHEMATIC_BOOTLOADER_GRUB  ? DISK_IMAGE_GRUB
                                                             : DISK_IMAGE_DUAL_BOOT;
    if (out->bootloader == DISK_IMAGE_DUAL_BOOT && strcmp(arch, "amd64") != 0)
        out->bootloader = DISK_IMAGE_SD_BOOT; /* dual-boot exists for amd64 only */
    /* out.go buildImage: 0x11=dual-boot only where UseSDBootForUEFI (SecureBoot is never dual-boot) */
    out->meta_bootloader = out->bootloader == DISK_IMAGE_DUAL_BOOT && q.sdboot_for_uefi;

    /* sizes: profile diskSize, then FillDefaults (talos-imager.md §2.4) */
    uint64_t base_mib = 0;
    const char *options = "";
    profile_disk_defaults(profiles, platform, &base_mib, &options);
    snprintf(out->format_options, sizeof out->format_options, "%s", options ? options : "");
    uint64_t boot = q.boot_partition_mib, bios = q.bios_partition_mib, uki_efi = q.uki_efi_partition_mib,
             grub_efi = q.grub_efi_partition_mib, meta = q.meta_partition_mib;
    if (base_mib == 0)
        return error_set(err, ERROR_RUNTIME, "%s: profile data has no disk size for platform %s", path, platform);
    uint64_t disk_mib = base_mib + boot - 1000;
    if (out->bootloader == DISK_IMAGE_DUAL_BOOT)
        disk_mib += bios + boot;
    out->disk_size = disk_mib * MIB;
    out->sector_size = schematic && schematic->sector_size ? (uint32_t)schematic->sector_size : 512;
    if (schematic && schematic->sector_size && schematic->sector_size != 512 && schematic->sector_size != 4096)
        return error_set(err, ERROR_INPUT, "%s: diskImage.sectorSize %" PRIu64 " is not supported; use 512 or 4096",
                         path, schematic->sector_size);

    switch (out->bootloader) {
    case DISK_IMAGE_SD_BOOT: add_partition(out, "EFI", uki_efi); break;
    case DISK_IMAGE_GRUB:
        add_partition(out, "EFI", grub_efi);
        add_partition(out, "BIOS", bios);
        add_partition(out, "BOOT", boot);
        break;
    case DISK_IMAGE_DUAL_BOOT:
        add_partition(out, "EFI", uki_efi);
        add_partition(out, "BIOS", bios);
        add_partition(out, "BOOT", boot);
        break;
    }
    add_partition(out, "META", meta);
    /* Talos < 1.8 does not create its data partitions itself: the image mode adds them, without
     * file systems (install.go getPartitionOptions legacyImage) */
    if (!q.skip_data_partitions) {
        add_partition(out, "STATE", q.state_partition_mib);
        add_partition(out, "EPHEMERAL", 0); /* the rest of the disk (size 0) */
    }
    uint64_t first[DISK_IMAGE_MAX_PARTITIONS], sizes[DISK_IMAGE_MAX_PARTITIONS];
    if (disk_image_plan_extents(out, first, sizes, err) != 0)
        return error_prefix(err, "%s: ", path);
    return 0;
}

int disk_image_plan_add_image_cache(const struct profile_set *profiles, struct disk_image_plan *plan,
                                    const char *version, const char *arch, uint64_t tree_bytes, struct error *err)
{
    struct talos_version v;
    if (talos_version_parse(version, &v) != 0)
        return error_set(err, ERROR_INPUT, "image cache: Talos version '%s' is not vX.Y.Z", version);
    struct talos_quirks q;
    profile_quirks(profiles, &v, arch, false, &q);
    if (!q.supports_image_cache)
        return error_set(err, ERROR_INPUT, "image cache: Talos %s has none (needs v1.9.0 or later)", version);
    if (plan->partition_count >= DISK_IMAGE_MAX_PARTITIONS)
        return error_set(err, ERROR_RUNTIME, "image cache: the disk image has no room for another partition");
    if (plan->partition_count && plan->partitions[plan->partition_count - 1].size == 0)
        return error_set(err, ERROR_INPUT, "image cache: %s already takes the rest of the disk image",
                         plan->partitions[plan->partition_count - 1].name);
    uint64_t want = image_cache_partition_size(tree_bytes);
    if (q.image_cache_grows_disk)
        plan->disk_size += want;
    add_partition(plan, "IMAGECACHE", 0); /* the rest of the disk (install.go: size 0) */
    /* where it lands: the same layout disk_image_write_raw makes */
    uint64_t first[DISK_IMAGE_MAX_PARTITIONS], sizes[DISK_IMAGE_MAX_PARTITIONS];
    if (disk_image_plan_extents(plan, first, sizes, err) != 0)
        return error_prefix(err, "image cache: ");
    uint64_t have = sizes[plan->partition_count - 1];
    /* ext4 needs room beyond the files (journal, inodes, metadata): the imager's 20 % */
    if (have < want)
        return error_set(err, ERROR_INPUT,
                         "image cache: %" PRIu64 " MiB of images (%" PRIu64 " MiB with the "
                         "imager's 20 %% overhead) do not fit into the %" PRIu64 " MiB Talos %s leaves for IMAGECACHE "
                         "on this disk image (Talos grows the disk for the cache from v1.13.0); cache fewer images",
                         (uint64_t)((tree_bytes + MIB - 1) / MIB), (uint64_t)(want / MIB), (uint64_t)(have / MIB),
                         version);
    return 0;
}

void disk_image_meta_values(const struct disk_image_plan *plan, const struct schematic *schematic,
                            struct meta_value values[256], size_t *count)
{
    size_t n = 0;
    for (size_t i = 0; schematic && i < schematic->meta_count && n < 255; i++) {
        values[n].key = schematic->meta[i].key;
        values[n].value = schematic->meta[i].value;
        values[n].len = strlen(schematic->meta[i].value);
        n++;
    }
    if (plan->meta_bootloader) {
        /* out.go buildImage: first boot removes the loader that did not boot */
        values[n].key = META_KEY_DISK_IMAGE_BOOTLOADER;
        values[n].value = "dual-boot";
        values[n].len = strlen("dual-boot");
        n++;
    }
    *count = n;
}

/* Copy the data extents of a sparse file to fd at offset (holes stay holes: the target is zero). */
static int copy_sparse_into(const char *src, int fd, const char *what, uint64_t offset, uint64_t max, struct error *err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return error_errno(err, errno, "%s: open", src);
    struct stat st;
    if (fstat(in, &st) != 0) {
        close(in);
        return error_errno(err, errno, "%s: stat", src);
    }
    if ((uint64_t)st.st_size != max) {
        close(in);
        return error_set(err, ERROR_RUNTIME, "%s: %lld bytes, the partition has %" PRIu64 " (sizes must match exactly)",
                         src, (long long)st.st_size, max);
    }
    unsigned char *buf = xmalloc(COPY_CHUNK);
    int rc = 0;
    uint64_t pos = 0, data, hole;
    int more;
    while (rc == 0 && (more = fs_next_extent(in, pos, (uint64_t)st.st_size, &data, &hole, src, err)) != 0) {
        if (more < 0) {
            rc = -1;
            break;
        }
        for (uint64_t p = data; rc == 0 && p < hole;) {
            size_t n = (size_t)(hole - p < COPY_CHUNK ? hole - p : COPY_CHUNK);
            ssize_t r = pread(in, buf, n, (off_t)p);
            if (r <= 0) {
                rc = error_errno(err, r < 0 ? errno : EIO, "%s: read", src);
                break;
            }
            rc = fs_pwrite_all(fd, buf, (size_t)r, offset + p, what, err);
            p += (uint64_t)r;
        }
        pos = hole;
    }
    free(buf);
    close(in);
    return rc;
}

/* A file in work_dir named for this process and a tag. */
static char *work_file(const struct disk_image_inputs *in, const char *tag)
{
    return xasprintf("%s/disk-%s-%ld", in->work_dir, tag, (long)getpid());
}

/* ---- the overlay's install step ---- */

#define OVERLAY_STAGED_MAX 4096 /* files an installer may leave in one partition */

/* Files the overlay installer left under mountPrefix/boot (BOOT) or mountPrefix/EFI (ESP). */
struct staged {
    char **paths;   /* inside the partition */
    char **sources; /* on the build host */
    unsigned *modes;
    size_t count;
};

static void staged_free(struct staged *s)
{
    for (size_t i = 0; i < s->count; i++) {
        free(s->paths[i]);
        free(s->sources[i]);
    }
    free(s->paths);
    free(s->sources);
    free(s->modes);
    memset(s, 0, sizeof *s);
}

/* Walk dir (rel: its path inside the partition, "" at the top): regular files only; a link,
 * device, socket or FIFO is refused (a link could name a host file). */
static int staged_walk(struct staged *s, const char *label, const char *dir, const char *rel, const char *shown,
                       struct error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT && !*rel ? 0 : error_errno(err, errno, "%s: install: %s", label, dir);
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *src = path_join(dir, e->d_name);
        char *path = *rel ? xasprintf("%s/%s", rel, e->d_name) : xstrdup(e->d_name);
        struct stat st;
        if (lstat(src, &st) != 0) {
            rc = error_errno(err, errno, "%s: install: %s", label, src);
        } else if (S_ISDIR(st.st_mode)) {
            rc = staged_walk(s, label, src, path, shown, err);
        } else if (!S_ISREG(st.st_mode)) {
            rc = error_set(err, ERROR_INPUT,
                           "%s: install left %s/%s, which is not a regular file or directory; only "
                           "those go into the disk image",
                           label, shown, path);
        } else if (s->count == OVERLAY_STAGED_MAX) {
            rc = error_set(err, ERROR_INPUT, "%s: install left more than %d files under %s", label, OVERLAY_STAGED_MAX,
                           shown);
        } else {
            s->paths = xrealloc(s->paths, (s->count + 1) * sizeof *s->paths);
            s->sources = xrealloc(s->sources, (s->count + 1) * sizeof *s->sources);
            s->modes = xrealloc(s->modes, (s->count + 1) * sizeof *s->modes);
            s->paths[s->count] = path;
            s->sources[s->count] = src;
            s->modes[s->count++] = (unsigned)(st.st_mode & 0777);
            continue;
        }
        free(src);
        free(path);
    }
    closedir(d);
    return rc;
}

/* An installer's file must not replace one the imager writes. */
static int staged_check(const struct staged *s, const char *label, const char *shown, const char *const *taken,
                        size_t n, bool fold_case, struct error *err)
{
    for (size_t i = 0; i < s->count; i++)
        for (size_t k = 0; k < n; k++)
            if (taken[k] && (fold_case ? !strcasecmp(s->paths[i], taken[k]) : !strcmp(s->paths[i], taken[k])))
                return error_set(err, ERROR_INPUT, "%s: install wrote %s/%s, which the imager writes itself", label,
                                 shown, s->paths[i]);
    return 0;
}

struct overlay_step {
    char *dir; /* work_dir staging: cwd of the installer, mnt/ = mountPrefix */
    struct staged boot, efi;
};

static void overlay_step_free(struct overlay_step *o)
{
    if (o->dir) {
        struct error ignored;
        fs_remove_tree(o->dir, &ignored);
    }
    free(o->dir);
    staged_free(&o->boot);
    staged_free(&o->efi);
}

/* Run the installer's install against the raw image in fd (its file found through /proc). */
static int overlay_step_run(const struct disk_image_inputs *in, int fd, struct overlay_step *o, struct error *err)
{
    const char *label = in->overlay->label ? in->overlay->label : in->overlay->root;
    char link[64], disk[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, disk, sizeof disk - 1);
    if (n <= 0 || (size_t)n >= sizeof disk - 1)
        return error_errno(err, n < 0 ? errno : ENAMETOOLONG, "%s: install: cannot name the disk image file (%s)",
                           label, link);
    disk[n] = '\0';
    if (disk[0] != '/' || strstr(disk, " (deleted)"))
        return error_set(err, ERROR_RUNTIME, "%s: install: the disk image is not a named file (%s)", label, disk);
    o->dir = work_file(in, "overlay");
    char *mnt = path_join(o->dir, "mnt");
    char *boot = path_join(mnt, "boot"), *efi = path_join(mnt, "EFI");
    int rc = fs_mkdir_p(boot, 0700, err);
    if (rc == 0)
        rc = fs_mkdir_p(efi, 0700, err);
    struct overlay_install_options io = {disk, mnt, in->overlay_artifacts, in->overlay_options};
    if (rc == 0)
        rc = overlay_install(in->overlay, &io, o->dir, err);
    if (rc == 0)
        rc = staged_walk(&o->boot, label, boot, "", "mountPrefix/boot", err);
    if (rc == 0)
        rc = staged_walk(&o->efi, label, efi, "", "mountPrefix/EFI", err);
    free(mnt);
    free(boot);
    free(efi);
    return rc;
}

static int write_esp(const struct disk_image_plan *plan, const struct disk_image_inputs *in, uint64_t size, int fd,
                     const char *what, uint64_t offset, const struct staged *extra, struct error *err)
{
    bool arm64 = strcmp(in->arch, "arm64") == 0;
    const char *boot_name = arm64 ? "EFI/boot/BOOTAA64.efi" : "EFI/boot/BOOTX64.efi";
    /* sdboot's loader.conf, plus the enrollment line for SecureBoot images (copyAssets) */
    char *loader_conf =
        in->secure_boot_enroll
            ? xasprintf("# systemd-boot configuration\n\ntimeout 10\n\nsecure-boot-enroll %s\n", in->secure_boot_enroll)
            : xstrdup("# systemd-boot configuration\n\ntimeout 10\n");
    char *uki_name = xasprintf("EFI/Linux/Talos-%s.efi", in->talos_version);
    char *grub_efi = NULL;
    struct fat_file *files = xcalloc(3 + in->esp_file_count + extra->count, sizeof *files);
    size_t count = 0;
    int rc = 0;
    if (plan->bootloader == DISK_IMAGE_GRUB) {
        /* GRUB-only: the GRUB EFI application Talos builds with grub-mkimage (§7.4) */
        if (!in->grub_dir)
            rc = error_set(err, ERROR_INPUT, "%s: GRUB disk images need the imager's usr/lib/grub directory", what);
        grub_efi = work_file(in, "grub.efi");
        if (rc == 0)
            rc = grub_disk_mkimage(in->grub_dir, arm64 ? "arm64-efi" : "x86_64-efi", grub_efi, in->grub_tool, err);
        files[count++] = (struct fat_file){.path = boot_name, .source = grub_efi};
    } else {
        if (!in->sdboot_path || !fs_exists(in->sdboot_path))
            rc = error_set(err, ERROR_INPUT, "%s: systemd-boot EFI binary %s is missing from the imager", what,
                           in->sdboot_path ? in->sdboot_path : "(none)");
        files[count++] = (struct fat_file){.path = boot_name, .source = in->sdboot_path};
        files[count++] = (struct fat_file){.path = uki_name, .source = in->uki_path};
        files[count++] =
            (struct fat_file){.path = "loader/loader.conf", .data = loader_conf, .size = strlen(loader_conf)};
        for (size_t i = 0; i < in->esp_file_count; i++)
            files[count++] = (struct fat_file){.path = in->esp_files[i].path, .source = in->esp_files[i].source};
    }
    if (rc == 0 && extra->count) {
        const char *taken[3] = {files[0].path, count > 1 ? files[1].path : NULL, count > 2 ? files[2].path : NULL};
        rc = staged_check(extra, in->overlay->label, "mountPrefix/EFI", taken, 3, true, err);
    }
    for (size_t i = 0; i < extra->count; i++)
        files[count++] = (struct fat_file){.path = extra->paths[i], .source = extra->sources[i]};
    struct fat_options fo = {.size = size, .label = "EFI", .serial = FAT_INVARIANT_SERIAL, .mtime = in->mtime};
    char *tmp = work_file(in, "esp.img");
    if (rc == 0)
        rc = fat_image_write_sectors(tmp, &fo, plan->sector_size, files, count, err); /* mkfs.vfat -S on 4Kn */
    if (rc == 0)
        rc = copy_sparse_into(tmp, fd, what, offset, size, err);
    unlink(tmp);
    free(tmp);
    if (grub_efi)
        unlink(grub_efi);
    free(grub_efi);
    free(uki_name);
    free(loader_conf);
    free(files);
    return rc == 0 ? 0 : error_prefix(err, "EFI partition: ");
}

/* BIOS boot partition + MBR boot code: GRUB i386-pc (amd64 only; Talos skips it on arm64). */
static int write_bios(const struct disk_image_plan *plan, const struct disk_image_inputs *in, uint64_t first_lba,
                      uint64_t size, int fd, const char *what, struct error *err)
{
    if (strcmp(in->arch, "amd64") != 0)
        return 0;
    if (!in->grub_dir)
        return error_set(err, ERROR_INPUT, "%s: BIOS boot needs the imager's usr/lib/grub directory", what);
    char *core = work_file(in, "core.img");
    char *boot = xasprintf("%s/i386-pc/boot.img", in->grub_dir);
    int rc = grub_disk_mkimage(in->grub_dir, "i386-pc", core, in->grub_tool, err);
    if (rc == 0)
        rc = grub_disk_install_bios(fd, what, boot, core, first_lba, size, plan->sector_size, err);
    unlink(core);
    free(core);
    free(boot);
    return rc == 0 ? 0 : error_prefix(err, "BIOS partition: ");
}

/* BOOT: XFS labelled BOOT with A/vmlinuz, A/initramfs.xz and grub/grub.cfg (§7.3, §7.5). */
static int write_boot(const struct disk_image_plan *plan, const struct disk_image_inputs *in, uint64_t size, int fd,
                      const char *what, uint64_t offset, const struct staged *extra, struct error *err)
{
    if (!in->kernel_path || !in->initramfs_path || !in->cmdline)
        return error_set(err, ERROR_INPUT,
                         "%s: the BOOT partition needs the kernel, the initramfs and the command line", what);
    static const char *const taken[] = {"A/vmlinuz", "A/initramfs.xz", "grub/grub.cfg"};
    if (extra->count && staged_check(extra, in->overlay->label, "mountPrefix/boot", taken, 3, false, err) != 0)
        return error_prefix(err, "BOOT partition: ");
    char *cfg = grub_disk_cfg(in->talos_version, in->cmdline, plan->grub_reset_entry);
    struct xfs_image_file *files = xcalloc(3 + extra->count, sizeof *files);
    files[0] = (struct xfs_image_file){.path = taken[0], .source = in->kernel_path};
    files[1] = (struct xfs_image_file){.path = taken[1], .source = in->initramfs_path};
    files[2] = (struct xfs_image_file){.path = taken[2], .data = cfg, .size = strlen(cfg), .mode = 0600};
    for (size_t i = 0; i < extra->count; i++)
        files[3 + i] = (struct xfs_image_file){
            .path = extra->paths[i], .source = extra->sources[i], .mode = extra->modes[i] ? extra->modes[i] : 0600};
    char uuid[40];
    uint8_t guid[16];
    gpt_guid_from_label("BOOT", guid); /* Talos: file-system UUID = GUIDFromLabel(label) (§7.2) */
    gpt_guid_format(guid, uuid);
    struct xfs_image_options xo = {
        .size = size, .label = "BOOT", .uuid = uuid, .sector_size = plan->sector_size, .mtime = in->mtime};
    char *tmp = work_file(in, "boot.xfs");
    int rc = xfs_image_write(tmp, &xo, files, 3 + extra->count, err);
    if (rc == 0)
        rc = copy_sparse_into(tmp, fd, what, offset, size, err);
    unlink(tmp);
    free(tmp);
    free(files);
    free(cfg);
    return rc == 0 ? 0 : error_prefix(err, "BOOT partition: ");
}

/* IMAGECACHE: ext4 labelled IMAGECACHE holding the image cache tree (install.go + internal/pkg/cache:
 * mkfs.ext4 -L IMAGECACHE, then the tree copied into its root) */
static int write_image_cache(const struct disk_image_plan *plan, const struct disk_image_inputs *in, uint64_t size,
                             int fd, const char *what, uint64_t offset, struct error *err)
{
    (void)plan;
    if (!in->image_cache_dir)
        return error_set(err, ERROR_INPUT, "%s: the plan has an IMAGECACHE partition but no image cache was given", what);
    char uuid[40];
    uint8_t guid[16];
    gpt_guid_from_label("IMAGECACHE", guid); /* fixed, as BOOT's XFS UUID */
    gpt_guid_format(guid, uuid);
    struct ext4_image_options eo = {.size = size, .label = "IMAGECACHE", .uuid = uuid, .mtime = in->mtime};
    char *tmp = work_file(in, "imagecache.ext4");
    int rc = ext4_image_write(tmp, &eo, in->image_cache_dir, err);
    if (rc == 0)
        rc = copy_sparse_into(tmp, fd, what, offset, size, err);
    unlink(tmp);
    free(tmp);
    return rc == 0 ? 0 : error_prefix(err, "IMAGECACHE partition: ");
}

static int write_raw(const struct disk_image_plan *plan, const struct disk_image_inputs *in, int fd, const char *what,
                     struct overlay_step *overlay, struct error *err)
{
    if (ftruncate(fd, (off_t)plan->disk_size) != 0)
        return error_errno(err, errno, "%s: extending to %" PRIu64 " bytes", what, plan->disk_size);
    /* the overlay's install step: before the GPT and the file systems, as the imager runs it */
    if (in->overlay && plan->bootloader != DISK_IMAGE_SD_BOOT) {
        if (!in->overlay_artifacts)
            return error_set(err, ERROR_RUNTIME, "%s: the overlay's artifacts directory is not set", what);
        if (overlay_step_run(in, fd, overlay, err) != 0)
            return -1;
    }
    struct gpt_partition parts[DISK_IMAGE_MAX_PARTITIONS];
    uint64_t sizes[DISK_IMAGE_MAX_PARTITIONS];
    struct gpt_table t;
    if (plan_gpt(plan, in->overlay ? in->partition_offset : 0, &t, parts, err) != 0 || gpt_write(fd, what, &t, err) != 0)
        return -1;
    for (size_t i = 0; i < plan->partition_count; i++)
        sizes[i] = (parts[i].last_lba - parts[i].first_lba + 1) * plan->sector_size; /* size 0: the rest */
    for (size_t i = 0; i < plan->partition_count; i++) {
        uint64_t off = parts[i].first_lba * plan->sector_size;
        if (!strcmp(parts[i].name, "EFI")) {
            if (write_esp(plan, in, sizes[i], fd, what, off, &overlay->efi, err) != 0)
                return -1;
        } else if (!strcmp(parts[i].name, "BIOS")) {
            if (write_bios(plan, in, parts[i].first_lba, sizes[i], fd, what, err) != 0)
                return -1;
        } else if (!strcmp(parts[i].name, "BOOT")) {
            if (write_boot(plan, in, sizes[i], fd, what, off, &overlay->boot, err) != 0)
                return -1;
        } else if (!strcmp(parts[i].name, "IMAGECACHE")) {
            if (write_image_cache(plan, in, sizes[i], fd, what, off, err) != 0)
                return -1;
        } else if (!strcmp(parts[i].name, "META")) {
            if (meta_partition_write(fd, what, off, sizes[i], in->meta, in->meta_count, err) != 0)
                return error_prefix(err, "META partition: ");
        } /* STATE, EPHEMERAL: no file system, the zeros of the new image (format.go type "none") */
    }
    return 0;
}

int disk_image_write_raw(const struct disk_image_plan *plan, const struct disk_image_inputs *in, int fd,
                         const char *what, struct error *err)
{
    struct overlay_step overlay = {0};
    int rc = write_raw(plan, in, fd, what, &overlay, err);
    overlay_step_free(&overlay);
    return rc;
}

/* ------------------------------------------------------------------ VHD (fixed) */

int disk_image_vhd_footer(int fd, const char *what, uint64_t size, uint32_t mtime, struct error *err)
{
    uint8_t f[512];
    memset(f, 0, sizeof f);
    memcpy(f, "conectix", 8);
    be_put_n(f + 8, 2, 4);           /* features: reserved bit */
    be_put_n(f + 12, 0x00010000, 4); /* format version */
    be_put_n(f + 16, UINT64_MAX, 8); /* data offset: none (fixed) */
    uint32_t vhd_epoch = 946684800u; /* 2000-01-01 */
    be_put_n(f + 24, mtime > vhd_epoch ? mtime - vhd_epoch : 0, 4);
    memcpy(f + 28, "qem2", 4); /* qemu-img's force_size marker: current size is exact */
    be_put_n(f + 32, 0x00050003, 4);
    memcpy(f + 36, "Wi2k", 4);
    be_put_n(f + 40, size, 8);
    be_put_n(f + 48, size, 8);
    /* CHS geometry, VHD specification appendix */
    uint64_t total = size / 512, cth;
    unsigned spt, heads;
    if (total > 65535ull * 16 * 255)
        total = 65535ull * 16 * 255;
    if (total >= 65535ull * 16 * 63) {
        spt = 255, heads = 16, cth = total / spt;
    } else {
        spt = 17, cth = total / spt;
        heads = (unsigned)((cth + 1023) / 1024);
        if (heads < 4)
            heads = 4;
        if (cth >= heads * 1024ull || heads > 16)
            spt = 31, heads = 16, cth = total / spt;
        if (cth >= heads * 1024ull)
            spt = 63, heads = 16, cth = total / spt;
    }
    be_put_n(f + 56, cth / heads, 2);
    f[58] = (uint8_t)heads;
    f[59] = (uint8_t)spt;
    be_put_n(f + 60, 2, 4); /* fixed disk */
    uint8_t id[16];
    gpt_guid_from_label(GPT_TALOS_DISK_LABEL, id);
    memcpy(f + 68, id, 16);
    uint32_t sum = 0;
    for (size_t i = 0; i < sizeof f; i++)
        sum += f[i];
    be_put_n(f + 64, ~sum, 4);
    return fs_pwrite_all(fd, f, sizeof f, size, what, err);
}

/* ------------------------------------------------------------------ output */

static const uint8_t zero_chunk[COPY_CHUNK];

/* Zero runs of at least this many bytes (whole 1 MiB blocks) skip the compressor
 * (compress_writer_write_zeros); shorter ones are compressed like data.
 *  - xz: same bytes as before, the run's blocks are a cached block (metal .raw.xz: 11.8 s ->
 *    1.9 s CPU);
 *  - gzip: the run is its own gzip member (metal .raw.gz: 16.6 s -> 1.3 s); different bytes,
 *    same decoded image;
 *  - not zstd: libzstd already turns all-zero blocks into RLE blocks cheaply (an 8 GiB aws
 *    image costs 8.9 s CPU with the zeros compressed, 8.4 s without; the time is the ~20 MiB of
 *    UKI at level 18), so .zst stays one frame, byte-identical to before. */
#define ZERO_RUN_MIN (16ull * MIB)

static bool all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static int flush_zeros(struct compress_writer *w, bool fast_zeros, uint64_t n, struct error *err)
{
    if (fast_zeros && n >= ZERO_RUN_MIN)
        return compress_writer_write_zeros(w, n, err);
    for (uint64_t left = n; left;) {
        size_t k = (size_t)(left < COPY_CHUNK ? left : COPY_CHUNK);
        if (compress_writer_write(w, zero_chunk, k, err) != 0)
            return -1;
        left -= k;
    }
    return 0;
}

/* Stream a sparse file through a compressor in 1 MiB blocks. A block is zero by its content
 * (blocks in holes are known to be zero and never read), so which runs skip the compressor does
 * not depend on how the file system stored the image: the output is reproducible anywhere. */
static int compress_sparse(int in, const char *src, uint64_t size, struct compress_writer *w, bool fast_zeros,
                           struct error *err)
{
    unsigned char *buf = xmalloc(COPY_CHUNK);
    int rc = 0;
    uint64_t pos = 0, zeros = 0, next_data = 0;
    while (rc == 0 && pos < size) {
        if (next_data < pos) {
            uint64_t data, hole;
            int more = fs_next_extent(in, pos, size, &data, &hole, src, err);
            if (more < 0) {
                rc = -1;
                break;
            }
            next_data = more ? data : size;
        }
        uint64_t block_end = pos + COPY_CHUNK < size ? pos + COPY_CHUNK : size;
        if (next_data >= block_end) { /* whole blocks in a hole */
            uint64_t hole_end = next_data / COPY_CHUNK * COPY_CHUNK;
            if (hole_end < block_end)
                hole_end = block_end;
            if (hole_end > size)
                hole_end = size;
            zeros += hole_end - pos;
            pos = hole_end;
            continue;
        }
        size_t n = (size_t)(block_end - pos);
        for (size_t got = 0; rc == 0 && got < n;) {
            ssize_t r = pread(in, buf + got, n - got, (off_t)(pos + got));
            if (r <= 0)
                rc = error_errno(err, r < 0 ? errno : EIO, "%s: read", src);
            else
                got += (size_t)r;
        }
        if (rc)
            break;
        if (all_zero(buf, n)) {
            zeros += n;
        } else {
            rc = flush_zeros(w, fast_zeros, zeros, err);
            zeros = 0;
            if (rc == 0)
                rc = compress_writer_write(w, buf, n, err);
        }
        pos = block_end;
    }
    if (rc == 0)
        rc = flush_zeros(w, fast_zeros, zeros, err);
    free(buf);
    return rc;
}

static int open_temp(const char *dir, const char *tag, char **path, struct error *err)
{
    *path = xasprintf("%s/disk-%s-%ld.img", dir, tag, (long)getpid());
    int fd = open(*path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        error_errno(err, errno, "%s: create", *path);
    return fd;
}

static void close_temp(int fd, char *path)
{
    if (fd >= 0)
        close(fd);
    if (path)
        unlink(path);
    free(path);
}

/* The output pipeline: raw image [+ vhd footer] -> [qcow2 | ova] -> [sparse tar] -> [compressed
 * stream] -> out_path. A stage that is last writes into the atomic output (through the
 * compressor when there is one); the stages before it write temporary files in work_dir, so
 * the next one can seek over holes and know sizes before it writes a header. */
int disk_image_build(const struct disk_image_plan *plan, const struct disk_image_inputs *in, const char *out_path,
                     struct error *err)
{
    uint32_t cluster = 0;
    if (plan->format == DISK_IMAGE_QCOW2 && qcow2_cluster_size_parse(plan->format_options, &cluster, err) != 0)
        return error_prefix(err, "%s: ", out_path);
    struct atomic_file out;
    if (atomic_file_open(&out, out_path, 0644, err) != 0)
        return -1;
    bool compress = plan->compression != COMPRESS_NONE;
    bool converted = plan->format == DISK_IMAGE_QCOW2 || plan->format == DISK_IMAGE_OVA;
    bool streamed_after_raw = compress || plan->tar; /* the raw (or converted) file is read back */
    char *raw_tmp = NULL, *conv_tmp = NULL;
    int rc = 0, raw_fd = out.fd, conv_fd = -1;
    struct compress_fd_sink fd_sink = {.fd = out.fd, .what = out_path};
    struct compress_writer *w = NULL;
    struct compress_sink sink = compress_sink_fd(&fd_sink);
    if (compress) {
        struct compress_options co = {.kind = plan->compression, .level = plan->level, .threads = in->threads};
        rc = compress_writer_open(&w, &co, compress_sink_fd(&fd_sink), err);
        if (rc == 0)
            sink = compress_writer_sink(w);
    }
    if (rc == 0 && (converted || streamed_after_raw)) {
        raw_fd = open_temp(in->work_dir, "raw", &raw_tmp, err);
        if (raw_fd < 0)
            rc = -1;
    }
    const char *raw_what = raw_tmp ? raw_tmp : out_path;
    uint64_t image_size = plan->disk_size;
    if (rc == 0)
        rc = disk_image_write_raw(plan, in, raw_fd, raw_what, err);
    if (rc == 0 && plan->format == DISK_IMAGE_VHD) {
        rc = disk_image_vhd_footer(raw_fd, raw_what, plan->disk_size, in->mtime, err);
        image_size += 512;
    }
    int last_fd = raw_fd;
    const char *last_what = raw_what;
    bool done = !converted && !streamed_after_raw; /* the raw image was the output */
    if (rc == 0 && converted) {
        const char *conv_what = out_path;
        if (plan->tar) { /* the converted file is itself archived: stage it */
            conv_fd = open_temp(in->work_dir, disk_image_format_name(plan->format), &conv_tmp, err);
            if (conv_fd < 0)
                rc = -1;
            conv_what = conv_tmp;
        } else if (plan->format == DISK_IMAGE_QCOW2 && compress) {
            conv_fd = open_temp(in->work_dir, "qcow2", &conv_tmp, err); /* qcow2 writes by offset */
            if (conv_fd < 0)
                rc = -1;
            conv_what = conv_tmp;
        } else {
            conv_fd = out.fd; /* qcow2 uncompressed, or the OVA through the compressor */
            done = true;
        }
        struct compress_fd_sink conv_sink_state = {.fd = conv_fd, .what = conv_what};
        struct compress_sink conv_sink = conv_fd == out.fd ? sink : compress_sink_fd(&conv_sink_state);
        if (rc == 0 && plan->format == DISK_IMAGE_QCOW2)
            rc = qcow2_write_from_raw(raw_fd, raw_what, plan->disk_size, cluster, conv_fd, conv_what, err);
        else if (rc == 0)
            rc = disk_archive_write_ova(raw_fd, raw_what, plan->disk_size, in->mtime, in->work_dir, conv_sink, err);
        struct stat st;
        if (rc == 0 && fstat(conv_fd, &st) != 0)
            rc = error_errno(err, errno, "%s: stat", conv_what);
        if (rc == 0)
            image_size = (uint64_t)st.st_size;
        last_fd = conv_fd;
        last_what = conv_what;
    }
    if (rc == 0 && !done) {
        if (plan->tar) /* GCP: `tar --sparse ... disk.raw | pigz` */
            rc = disk_archive_write_sparse_tar(last_fd, last_what, image_size, "disk.raw", in->mtime, sink, err);
        else
            rc = compress_sparse(last_fd, last_what, image_size, w, plan->compression != COMPRESS_ZSTD, err);
    }
    if (rc == 0 && w)
        rc = compress_writer_finish(w, err);
    compress_writer_free(w);
    if (raw_tmp)
        close_temp(raw_fd, raw_tmp);
    if (conv_tmp)
        close_temp(conv_fd, conv_tmp);
    if (rc == 0)
        rc = atomic_file_commit(&out, err); /* cleans up after itself on failure */
    else
        atomic_file_abort(&out);
    return rc == 0 ? 0 : error_prefix(err, "disk image %s: ", out_path);
}
