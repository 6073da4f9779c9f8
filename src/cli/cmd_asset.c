/* airfactory asset — build one boot asset from plain files, without a manifest or a store.
 *
 * The builders take file paths so they can be used (and tested) on their own; this command is
 * their thin command-line face. `airfactory build` drives the same functions for a whole
 * manifest. Timestamps come from SOURCE_DATE_EPOCH, else from the main input's mtime. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airfactory/buffer.h"
#include "format/compress.h"
#include "format/cpio.h"
#include "format/fat.h"
#include "core/fs.h"
#include "imager/initramfs.h"
#include "imager/grub_tool.h"
#include "imager/iso.h"
#include "imager/kernel.h"
#include "core/memory.h"
#include "format/squashfs_image.h"
#include "imager/uki.h"
#include "factory/recipe_files.h"
#include "talos/profile.h"
#include "cli/cli.h"

static int parse_uint(const char *s, const char *what, unsigned long long max, unsigned long long *out, struct error *err)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !*s || *end || v > max || s[0] == '-')
        return error_set(err, ERROR_INPUT, "%s: \"%s\" is not a number in 0..%llu", what, s, max);
    *out = v;
    return 0;
}

/* The version quirks of the built-in profile data (loaded once; the strings point into it). */
static int asset_quirks(const char *version, const char *arch, struct talos_quirks *q, struct error *err)
{
    static struct profile_set *set;
    if (!set && profile_set_load(&set, err) != 0)
        return -1;
    return profile_quirks_for(set, version, arch, false, q, err);
}

/* SOURCE_DATE_EPOCH, else the mtime of `input`, else 0. */
static int pick_mtime(const char *input, const char *given, uint32_t *out, struct error *err)
{
    unsigned long long v;
    const char *env = getenv("SOURCE_DATE_EPOCH");
    if (given || (env && *env)) {
        if (parse_uint(given ? given : env, given ? "--mtime" : "SOURCE_DATE_EPOCH", 0xffffffffull, &v, err) != 0)
            return -1;
        *out = (uint32_t)v;
        return 0;
    }
    struct stat st;
    *out = (input && stat(input, &st) == 0 && st.st_mtime > 0) ? (uint32_t)st.st_mtime : 0;
    return 0;
}

static int asset_initramfs(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"base", required_argument, NULL, 'b'},
        {"extension", required_argument, NULL, 'e'},
        {"talos-version", required_argument, NULL, 'v'},
        {"schematic-id", required_argument, NULL, 's'},
        {"schematic-yaml", required_argument, NULL, 'y'},
        {"schematic-author", required_argument, NULL, 'a'},
        {"threads", required_argument, NULL, 't'},
        {"mtime", required_argument, NULL, 'm'},
        {"work-dir", required_argument, NULL, 'w'},
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    const char *usage = "--base INITRAMFS --talos-version V [--extension DIR]... [--schematic-id ID "
                        "[--schematic-yaml FILE] [--schematic-author TEXT]] [--threads N] [--mtime EPOCH] "
                        "[--work-dir DIR] -o OUT";
    if (cli_help_requested(argc, argv))
        return cli_help("asset initramfs", usage);
    struct initramfs_options o;
    memset(&o, 0, sizeof o);
    const char **exts = xcalloc((size_t)argc + 1, sizeof *exts);
    const char *out = NULL, *mtime = NULL, *yaml_path = NULL, *version = NULL;
    struct error err = {0};
    int c, rc = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
        unsigned long long v;
        switch (c) {
        case 'b': o.base_path = optarg; break;
        case 'e': exts[o.extension_count++] = optarg; break;
        case 'v': version = optarg; break;
        case 's': o.schematic_id = optarg; break;
        case 'y': yaml_path = optarg; break;
        case 'a': o.schematic_author = optarg; break;
        case 't':
            if (parse_uint(optarg, "--threads", 256, &v, &err) != 0)
                rc = cli_report(&err);
            o.threads = (unsigned)v;
            break;
        case 'm': mtime = optarg; break;
        case 'w': o.work_dir = optarg; break;
        case 'o': out = optarg; break;
        default: free(exts); return cli_usage("asset initramfs", usage);
        }
        if (rc) {
            free(exts);
            return rc;
        }
    }
    if (!o.base_path || !out || !version || optind != argc) {
        free(exts);
        return cli_usage("asset initramfs", usage);
    }
    o.extension_dirs = exts;
    struct buffer yaml = BUFFER_INIT;
    struct talos_quirks q;
    int qrc = asset_quirks(version, NULL, &q, &err);
    if (qrc == 0)
        initramfs_options_for(&o, &q, version);
    if (qrc != 0 || pick_mtime(o.base_path, mtime, &o.mtime, &err) != 0 ||
        (yaml_path && fs_read_file(yaml_path, 1 << 20, &yaml, &err) != 0)) {
        rc = cli_report(&err);
    } else {
        if (yaml_path)
            o.schematic_yaml = buffer_cstr(&yaml);
        if (initramfs_build(&o, out, &err) != 0)
            rc = cli_report(&err);
    }
    buffer_free(&yaml);
    free(exts);
    return rc;
}

static int asset_squashfs(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"compression", required_argument, NULL, 'c'}, {"level", required_argument, NULL, 'l'},
        {"mtime", required_argument, NULL, 'm'},       {"selinux-label", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 't'},     {NULL, 0, NULL, 0},
    };
    const char *usage = "[--compression zstd|xz|gzip] [--level N] [--mtime EPOCH] [--selinux-label L] "
                        "[--threads N] SOURCE_DIR OUT";
    if (cli_help_requested(argc, argv))
        return cli_help("asset squashfs", usage);
    struct squashfs_image_options o;
    memset(&o, 0, sizeof o);
    o.compression = COMPRESS_ZSTD;
    o.level = 18;
    const char *mtime = NULL;
    struct error err = {0};
    int c;
    unsigned long long v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (compress_kind_parse(optarg, &o.compression) != 0)
                return cli_usage("asset squashfs", usage);
            break;
        case 'l':
            if (parse_uint(optarg, "--level", 22, &v, &err) != 0)
                return cli_report(&err);
            o.level = (int)v;
            break;
        case 'm': mtime = optarg; break;
        case 's': o.selinux_label = optarg; break;
        case 't':
            if (parse_uint(optarg, "--threads", 256, &v, &err) != 0)
                return cli_report(&err);
            o.threads = (unsigned)v;
            break;
        default: return cli_usage("asset squashfs", usage);
        }
    }
    if (argc - optind != 2)
        return cli_usage("asset squashfs", usage);
    if (pick_mtime(argv[optind], mtime, &o.mtime, &err) != 0 ||
        squashfs_image_write(argv[optind], argv[optind + 1], &o, &err) != 0)
        return cli_report(&err);
    return 0;
}

static int asset_segments(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"extract", required_argument, NULL, 'x'},
        {"cat", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    const char *usage = "[--extract DIR] [--cat NAME] INITRAMFS";
    if (cli_help_requested(argc, argv))
        return cli_help("asset segments", usage);
    struct cpio_read_options ro = {0, NULL};
    const char *cat = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'x': ro.extract_dir = optarg; break;
        case 'c':
            cat = optarg;
            ro.capture_max = 64u << 20;
            break;
        default: return cli_usage("asset segments", usage);
        }
    }
    if (argc - optind != 1)
        return cli_usage("asset segments", usage);
    struct cpio_listing l;
    struct error err = {0};
    if (cpio_read_segments(argv[optind], &ro, &l, &err) != 0)
        return cli_report(&err);
    int rc = 0;
    if (cat) {
        const struct cpio_entry *e = cpio_listing_find(&l, cat);
        if (!e) {
            error_set(&err, ERROR_INPUT, "%s: no entry named %s", argv[optind], cat);
            rc = cli_report(&err);
        } else if (e->data.len && fwrite(e->data.data, 1, e->data.len, stdout) != e->data.len) {
            rc = 1;
        }
    } else {
        for (size_t s = 0; s < l.segment_count; s++) {
            const struct cpio_segment *seg = &l.segments[s];
            printf("segment %zu offset=%llu length=%llu compression=%s entries=%zu\n", s, (unsigned long long)seg->offset,
                   (unsigned long long)seg->length, compress_kind_name(seg->compression), seg->entry_count);
            for (size_t i = seg->first_entry; i < seg->first_entry + seg->entry_count; i++) {
                const struct cpio_entry *e = &l.entries[i];
                printf("entry %zu %06o %u:%u %llu %u %s %s\n", s, e->mode, e->uid, e->gid, (unsigned long long)e->size,
                       e->mtime, e->sha256, e->name);
            }
        }
    }
    cpio_listing_free(&l);
    return rc;
}

static int asset_kernel(int argc, char **argv)
{
    const char *usage = "VMLINUZ OUT";
    if (cli_help_requested(argc, argv))
        return cli_help("asset kernel", usage);
    static const struct option none[] = {{NULL, 0, NULL, 0}};
    if (getopt_long(argc, argv, "", none, NULL) != -1)
        return cli_usage("asset kernel", usage);
    argc -= optind - 1; /* "--" lets a name that begins with '-' through */
    argv += optind - 1;
    if (argc != 3)
        return cli_usage("asset kernel", usage);
    struct error err = {0};
    if (kernel_build(argv[1], argv[2], &err) != 0)
        return cli_report(&err);
    return 0;
}

static int asset_uki(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"stub", required_argument, NULL, 's'},
        {"kernel", required_argument, NULL, 'k'},
        {"initrd", required_argument, NULL, 'i'},
        {"cmdline", required_argument, NULL, 'c'},
        {"talos-version", required_argument, NULL, 'v'},
        {"profiles", required_argument, NULL, 'p'},
        {"splash", required_argument, NULL, 'S'},
        {"uname", required_argument, NULL, 'u'},
        {"mtime", required_argument, NULL, 'm'},
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    const char *usage = "--stub EFI --kernel VMLINUZ --initrd INITRAMFS --cmdline TEXT --talos-version V "
                        "[--profiles auto-iso|auto-image|none] [--splash BMP] [--uname TEXT] [--mtime EPOCH] -o OUT";
    if (cli_help_requested(argc, argv))
        return cli_help("asset uki", usage);
    struct recipe_uki_files in = {0};
    const char *out = NULL, *mtime = NULL, *profiles = "auto-iso";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
        switch (c) {
        case 's': in.stub = optarg; break;
        case 'k': in.kernel = optarg; break;
        case 'i': in.initrd = optarg; break;
        case 'c': in.cmdline = optarg; break;
        case 'v': in.version = optarg; break;
        case 'p': profiles = optarg; break;
        case 'S': in.splash = optarg; break;
        case 'u': in.uname = optarg; break;
        case 'm': mtime = optarg; break;
        case 'o': out = optarg; break;
        default: return cli_usage("asset uki", usage);
        }
    }
    if (!out || optind != argc || !in.stub || !in.kernel || !in.initrd || !in.cmdline || !in.version)
        return cli_usage("asset uki", usage);
    struct error err = {0};
    struct talos_quirks q;
    if (!strcmp(profiles, "auto-iso"))
        in.output = UKI_FOR_ISO;
    else if (!strcmp(profiles, "auto-image"))
        in.output = UKI_FOR_IMAGE;
    else if (!strcmp(profiles, "none"))
        in.no_profiles = true;
    else
        return cli_usage("asset uki", usage);
    if (!in.no_profiles && asset_quirks(in.version, NULL, &q, &err) != 0)
        return cli_report(&err);
    in.quirks = &q;
    /* the factory's code path from files to a UKI (recipe_files.h) */
    if (pick_mtime(in.kernel, mtime, &in.timestamp, &err) != 0 || recipe_uki_build(&in, out, &err) != 0)
        return cli_report(&err);
    return 0;
}

static int asset_fat(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"size-mib", required_argument, NULL, 's'},  {"label", required_argument, NULL, 'l'},
        {"serial", required_argument, NULL, 'n'},    {"mtime", required_argument, NULL, 'm'},
        {"read-only", required_argument, NULL, 'r'}, {NULL, 0, NULL, 0},
    };
    const char *usage = "--size-mib N [--label L] [--serial N] [--mtime EPOCH] [--read-only PATH]... OUT "
                        "PATH=SOURCE...";
    if (cli_help_requested(argc, argv))
        return cli_help("asset fat", usage);
    struct fat_options o = {0, "EFI", 0, 0};
    const char *mtime = NULL;
    const char **ro = xcalloc((size_t)argc + 1, sizeof *ro);
    size_t ro_n = 0;
    unsigned long long v;
    struct error err = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (parse_uint(optarg, "--size-mib", 1u << 20, &v, &err) != 0) {
                free(ro);
                return cli_report(&err);
            }
            o.size = v << 20;
            break;
        case 'l': o.label = optarg; break;
        case 'n':
            if (parse_uint(optarg, "--serial", 0xffffffffull, &v, &err) != 0) {
                free(ro);
                return cli_report(&err);
            }
            o.serial = (uint32_t)v;
            break;
        case 'm': mtime = optarg; break;
        case 'r': ro[ro_n++] = optarg; break;
        default: free(ro); return cli_usage("asset fat", usage);
        }
    }
    if (argc - optind < 1 || !o.size) {
        free(ro);
        return cli_usage("asset fat", usage);
    }
    const char *out = argv[optind++];
    size_t n = (size_t)(argc - optind);
    struct fat_file *files = xcalloc(n ? n : 1, sizeof *files);
    char **paths = xcalloc(n ? n : 1, sizeof *paths);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        const char *arg = argv[optind + (int)i];
        const char *eq = strchr(arg, '=');
        if (!eq) {
            rc = cli_usage("asset fat", usage);
            break;
        }
        paths[i] = xstrndup(arg, (size_t)(eq - arg));
        files[i].path = paths[i];
        files[i].source = eq + 1;
        for (size_t k = 0; k < ro_n; k++)
            if (!strcmp(ro[k], paths[i]))
                files[i].read_only = true;
    }
    if (!rc && (pick_mtime(NULL, mtime, &o.mtime, &err) != 0 || fat_image_write(out, &o, files, n, &err) != 0))
        rc = cli_report(&err);
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    free(files);
    free(ro);
    return rc;
}

static int asset_iso(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"talos-version", required_argument, NULL, 'v'},
        {"arch", required_argument, NULL, 'a'},
        {"kernel", required_argument, NULL, 'k'},
        {"initrd", required_argument, NULL, 'i'},
        {"cmdline", required_argument, NULL, 'c'},
        {"grub-dir", required_argument, NULL, 'g'},
        {"uki", required_argument, NULL, 'u'},
        {"sd-boot", required_argument, NULL, 's'},
        {"layout", required_argument, NULL, 'l'},
        {"mtime", required_argument, NULL, 'm'},
        {"work-dir", required_argument, NULL, 'w'},
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    const char *usage = "--talos-version V --arch amd64|arm64 [--layout grub|hybrid|uefi] [--kernel F --initrd F "
                        "--cmdline TEXT --grub-dir DIR] [--uki F --sd-boot F] [--mtime EPOCH] [--work-dir D] -o OUT";
    if (cli_help_requested(argc, argv))
        return cli_help("asset iso", usage);
    struct iso_options o;
    memset(&o, 0, sizeof o);
    const char *out = NULL, *mtime = NULL, *layout = NULL, *version = NULL, *arch = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'v': version = optarg; break;
        case 'a': arch = optarg; break;
        case 'k': o.kernel_path = optarg; break;
        case 'i': o.initramfs_path = optarg; break;
        case 'c': o.cmdline = optarg; break;
        case 'g': o.grub_dir = optarg; break;
        case 'u': o.uki_path = optarg; break;
        case 's': o.sdboot_path = optarg; break;
        case 'l': layout = optarg; break;
        case 'm': mtime = optarg; break;
        case 'w': o.work_dir = optarg; break;
        case 'o': out = optarg; break;
        default: return cli_usage("asset iso", usage);
        }
    }
    if (!out || !version || !arch || optind != argc)
        return cli_usage("asset iso", usage);
    struct error err = {0};
    struct talos_quirks q;
    if (asset_quirks(version, arch, &q, &err) != 0 ||
        iso_options_for(&o, &q, SCHEMATIC_BOOTLOADER_NONE, version, arch, &err) != 0)
        return cli_report(&err);
    if (layout) {
        if (!strcmp(layout, "grub"))
            o.layout = ISO_GRUB;
        else if (!strcmp(layout, "hybrid"))
            o.layout = ISO_HYBRID;
        else if (!strcmp(layout, "uefi"))
            o.layout = ISO_UEFI;
        else
            return cli_usage("asset iso", usage);
    }
    /* the grub-mkimage of the modules' GRUB build: IMAGER/usr/bin/grub-mkimage beside
     * IMAGER/usr/lib/grub, else the host's (grub_tool.h) */
    struct grub_tool grub_tool = {0};
    if (o.grub_dir && o.layout != ISO_UEFI) {
        char *log = xasprintf("%s.grub-version.log", out);
        int rc = grub_tool_for_dir(o.grub_dir, log, &grub_tool, &err);
        unlink(log);
        free(log);
        if (rc != 0)
            return cli_report(&err);
        o.grub_tool = &grub_tool;
    }
    int rc = 0;
    if (pick_mtime(o.kernel_path ? o.kernel_path : o.uki_path, mtime, &o.mtime, &err) != 0 ||
        iso_build(&o, out, &err) != 0)
        rc = cli_report(&err);
    if (o.grub_tool)
        grub_tool_free(&grub_tool);
    return rc;
}

int cmd_asset(int argc, char **argv)
{
    static const struct cli_command subcommands[] = {
        {"initramfs", asset_initramfs, "an initramfs with extensions appended, as the imager makes it"},
        {"squashfs", asset_squashfs, "a SquashFS image of a directory (extensions, rootfs)"},
        {"segments", asset_segments, "list or extract the cpio segments of an initramfs"},
        {"kernel", asset_kernel, "the kernel asset (a copy checked to be a bzImage/arm64 Image)"},
        {"uki", asset_uki, "a Unified Kernel Image from a systemd stub"},
        {"fat", asset_fat, "a FAT image of files"},
        {"iso", asset_iso, "a bootable ISO (GRUB, hybrid or UEFI)"},
    };
    return cli_dispatch("airfactory asset", subcommands, sizeof subcommands / sizeof subcommands[0], argc, argv);
}
