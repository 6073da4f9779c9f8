/* airfactory disk — Talos disk images from plain files (the same code the build runs for
 * PLATFORM-ARCH.raw.zst and friends), and readers for what they hold:
 *   disk build   schematic + imager files -> UKI (disk-image command line) -> disk image
 *   disk meta    print the META partition's values of an image
 *   disk plan    print the partition plan for an asset name */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airfactory/asset_path.h"
#include "airfactory/buffer.h"
#include "imager/cmdline.h"
#include "imager/disk_image.h"
#include "imager/grub_tool.h"
#include "core/fs.h"
#include "factory/recipe_files.h"
#include "format/gpt.h"
#include "core/memory.h"
#include "imager/meta_partition.h"
#include "talos/profile.h"
#include "airfactory/schematic.h"
#include "imager/uki.h"
#include "cli/cli.h"

static int parse_u32(const char *s, const char *what, uint32_t *out, struct error *err)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !*s || *end || v > 0xffffffffull || s[0] == '-')
        return error_set(err, ERROR_INPUT, "%s: \"%s\" is not a number in 0..4294967295", what, s);
    *out = (uint32_t)v;
    return 0;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int disk_build(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"name", required_argument, NULL, 'n'},
        {"talos-version", required_argument, NULL, 'v'},
        {"schematic", required_argument, NULL, 's'},
        {"secureboot", no_argument, NULL, 'S'},
        {"stub", required_argument, NULL, 'u'},
        {"kernel", required_argument, NULL, 'k'},
        {"initrd", required_argument, NULL, 'i'},
        {"sd-boot", required_argument, NULL, 'b'},
        {"cmdline", required_argument, NULL, 'c'},
        {"mtime", required_argument, NULL, 'm'},
        {"threads", required_argument, NULL, 't'},
        {"work-dir", required_argument, NULL, 'w'},
        {"output", required_argument, NULL, 'o'},
        {"disk-size-mib", required_argument, NULL, 'D'},
        {"grub-dir", required_argument, NULL, 'g'},
        {"sector-size", required_argument, NULL, 'z'},
        {NULL, 0, NULL, 0},
    };
    const char *usage =
        "--talos-version V --kernel VMLINUZ --initrd INITRAMFS [--stub EFI --sd-boot EFI] "
        "[--grub-dir IMAGER/usr/lib/grub] [--schematic FILE] [--secureboot] [--name PLATFORM-ARCH.raw.zst] [--cmdline TEXT] "
        "[--mtime EPOCH] [--threads N] [--work-dir DIR] [--disk-size-mib N] [--sector-size 512|4096] -o OUT   "
        "(the name, default OUT's file name, picks platform, arch, format and compression; --stub and "
        "--sd-boot are needed for sd-boot and dual-boot images, --grub-dir for GRUB and dual-boot ones; "
        "--sector-size overrides the schematic's diskImage.sectorSize)";
    if (cli_help_requested(argc, argv))
        return cli_help("disk build", usage);
    const char *name = NULL, *version = NULL, *schematic_path = NULL, *stub = NULL, *kernel = NULL, *initrd = NULL,
               *sdboot = NULL, *cmdline_text = NULL, *mtime_text = NULL, *threads_text = NULL, *work = NULL,
               *out = NULL, *disk_size_text = NULL, *grub_dir = NULL, *sector_text = NULL;
    bool secureboot = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'n': name = optarg; break;
        case 'v': version = optarg; break;
        case 's': schematic_path = optarg; break;
        case 'S': secureboot = true; break;
        case 'u': stub = optarg; break;
        case 'k': kernel = optarg; break;
        case 'i': initrd = optarg; break;
        case 'b': sdboot = optarg; break;
        case 'c': cmdline_text = optarg; break;
        case 'm': mtime_text = optarg; break;
        case 't': threads_text = optarg; break;
        case 'w': work = optarg; break;
        case 'o': out = optarg; break;
        case 'D': disk_size_text = optarg; break;
        case 'z': sector_text = optarg; break;
        case 'g': grub_dir = optarg; break;
        default: return cli_usage("disk build", usage);
        }
    }
    if (optind != argc || !version || !kernel || !initrd || !out)
        return cli_usage("disk build", usage);
    if (!name)
        name = base_name(out);

    struct error err = {0};
    struct schematic *schematic = NULL;
    struct profile_set *profiles = NULL;
    struct buffer cmdline = BUFFER_INIT;
    char *uki = NULL, *work_owned = NULL;
    uint32_t mtime = 0, threads = 0;
    const char *env = getenv("SOURCE_DATE_EPOCH");
    int rc = 0;
    if (mtime_text || (env && *env))
        rc = parse_u32(mtime_text ? mtime_text : env, mtime_text ? "--mtime" : "SOURCE_DATE_EPOCH", &mtime, &err);
    if (rc == 0 && threads_text)
        rc = parse_u32(threads_text, "--threads", &threads, &err);
    if (rc == 0)
        rc = schematic_path ? schematic_load_file(schematic_path, &schematic, &err) : 0;
    if (rc == 0 && !schematic)
        schematic = schematic_new();
    if (rc == 0 && sector_text) {
        /* as if the schematic said customization.diskImage.sectorSize (Talos' metal-4k profile);
         * the plan checks the value */
        uint32_t ss = 0;
        rc = parse_u32(sector_text, "--sector-size", &ss, &err);
        if (rc == 0)
            schematic->sector_size = ss;
    }
    if (rc == 0)
        rc = profile_set_load(&profiles, &err);

    /* platform, arch, format and compression from the name: "metal-amd64.raw.zst" */
    struct asset_path asset;
    if (rc == 0 && asset_path_parse(name, &asset, &err) != 0)
        rc = error_prefix(&err, "%s: ", name);
    if (rc == 0 && secureboot)
        asset.secureboot = true; /* --secureboot: as if the name said -secureboot */
    const char *platform = rc == 0 ? asset.platform : "", *arch = rc == 0 ? asset.arch : "";
    secureboot = rc == 0 && asset.secureboot;
    struct disk_image_plan plan;
    if (rc == 0)
        rc = disk_image_plan_for(profiles, &asset, version, schematic, &plan, &err);
    if (rc == 0 && disk_size_text) {
        /* an explicit size (benchmarks, custom disks); the partitions must still fit */
        uint32_t mib = 0;
        rc = parse_u32(disk_size_text, "--disk-size-mib", &mib, &err);
        if (rc == 0)
            plan.disk_size = (uint64_t)mib << 20;
    }
    if (rc == 0) {
        if (cmdline_text)
            buffer_append(&cmdline, cmdline_text, strlen(cmdline_text));
        else {
            struct cmdline_request request = {.version = version,
                                              .platform = platform,
                                              .arch = arch,
                                              .kind = CMDLINE_KIND_IMAGE,
                                              .secureboot = secureboot,
                                              .schematic = schematic};
            rc = cmdline_build(profiles, &request, &cmdline, &err);
        }
    }
    if (rc == 0 && !work) {
        work_owned = xstrdup(out);
        char *slash = strrchr(work_owned, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(work_owned, strlen(work_owned) + 1, ".");
        work = work_owned;
    }
    bool need_uki = rc == 0 && plan.bootloader != DISK_IMAGE_GRUB;
    bool need_grub = rc == 0 && plan.bootloader != DISK_IMAGE_SD_BOOT;
    if (need_uki && (!stub || !sdboot))
        rc = error_set(&err, ERROR_INPUT,
                       "%s: a %s disk image needs --stub and --sd-boot (the imager's "
                       "usr/install/%s/systemd-{stub,boot}.efi)",
                       name, disk_image_bootloader_name(plan.bootloader), arch);
    if (rc == 0 && need_grub && !grub_dir)
        rc = error_set(&err, ERROR_INPUT, "%s: a %s disk image needs --grub-dir (the imager's usr/lib/grub)", name,
                       disk_image_bootloader_name(plan.bootloader));
    /* the grub-mkimage of the modules' GRUB build: IMAGER/usr/bin/grub-mkimage beside
     * IMAGER/usr/lib/grub, else the host's (grub_tool.h) */
    struct grub_tool grub_tool = {0};
    bool have_grub_tool = false;
    if (rc == 0 && need_grub) {
        char *log = xasprintf("%s/disk-grub-version-%ld.log", work, (long)getpid());
        rc = grub_tool_for_dir(grub_dir, log, &grub_tool, &err);
        have_grub_tool = rc == 0;
        unlink(log);
        free(log);
    }
    struct talos_quirks quirks;
    if (rc == 0 && need_uki)
        rc = profile_quirks_for(profiles, version, arch, secureboot, &quirks, &err);
    if (rc == 0 && need_uki) {
        /* the factory's disk-image recipe makes its UKI and image with the same two steps */
        struct recipe_uki_files files = {.stub = stub,
                                         .kernel = kernel,
                                         .initrd = initrd,
                                         .cmdline = buffer_cstr(&cmdline),
                                         .version = version,
                                         .quirks = &quirks,
                                         .output = UKI_FOR_IMAGE,
                                         .timestamp = mtime};
        uki = xasprintf("%s/disk-uki-%ld.efi", work, (long)getpid());
        rc = recipe_uki_build(&files, uki, &err);
    }
    if (rc == 0) {
        struct disk_image_inputs in = {.talos_version = version,
                                       .arch = arch,
                                       .sdboot_path = sdboot,
                                       .uki_path = uki,
                                       .kernel_path = kernel,
                                       .initramfs_path = initrd,
                                       .cmdline = buffer_cstr(&cmdline),
                                       .grub_dir = grub_dir,
                                       .grub_tool = have_grub_tool ? &grub_tool : NULL,
                                       .mtime = mtime,
                                       .threads = (int)threads,
                                       .work_dir = work};
        rc = recipe_disk_image_build(&plan, schematic, &in, out, &err);
    }
    if (uki)
        unlink(uki);
    if (have_grub_tool)
        grub_tool_free(&grub_tool);
    free(uki);
    free(work_owned);
    buffer_free(&cmdline);
    profile_set_free(profiles);
    schematic_free(schematic);
    return rc == 0 ? 0 : cli_report(&err);
}

static int disk_plan(int argc, char **argv)
{
    const char *usage = "NAME TALOS_VERSION [SCHEMATIC]   e.g. metal-amd64.raw.zst v1.11.3";
    if (cli_help_requested(argc, argv))
        return cli_help("disk plan", usage);
    static const struct option none[] = {{NULL, 0, NULL, 0}};
    if (getopt_long(argc, argv, "", none, NULL) != -1)
        return cli_usage("disk plan", usage);
    argc -= optind - 1; /* "--" lets a name that begins with '-' through */
    argv += optind - 1;
    if (argc != 3 && argc != 4)
        return cli_usage("disk plan", usage);
    struct error err = {0};
    struct schematic *s = NULL;
    struct profile_set *profiles = NULL;
    int rc = argc == 4 ? schematic_load_file(argv[3], &s, &err) : 0;
    if (rc == 0)
        rc = profile_set_load(&profiles, &err);
    struct asset_path asset;
    if (rc == 0 && asset_path_parse(argv[1], &asset, &err) != 0)
        rc = error_prefix(&err, "%s: ", argv[1]);
    struct disk_image_plan p;
    if (rc == 0)
        rc = disk_image_plan_for(profiles, &asset, argv[2], s, &p, &err);
    if (rc == 0) {
        printf("bootloader %s\ndisk_size %llu\nsector_size %u\nformat %s\nformat_options %s\ncompression %s\n",
               disk_image_bootloader_name(p.bootloader), (unsigned long long)p.disk_size, p.sector_size,
               disk_image_format_name(p.format), p.format_options, compress_kind_name(p.compression));
        if (p.tar)
            printf("archive tar disk.raw (GNU sparse)\n");
        if (p.format == DISK_IMAGE_OVA)
            printf("archive ova disk.ovf disk.mf disk.vmdk (stream-optimised)\n");
        /* name, bytes (a rest-of-disk partition resolved), GPT type, Talos' file system type, first LBA */
        uint64_t first[DISK_IMAGE_MAX_PARTITIONS], size[DISK_IMAGE_MAX_PARTITIONS];
        rc = disk_image_plan_extents(&p, first, size, &err);
        for (size_t i = 0; rc == 0 && i < p.partition_count; i++)
            printf("partition %s %llu %s %s %llu\n", p.partitions[i].name, (unsigned long long)size[i],
                   p.partitions[i].type, p.partitions[i].filesystem, (unsigned long long)first[i]);
    }
    profile_set_free(profiles);
    schematic_free(s);
    return rc == 0 ? 0 : cli_report(&err);
}

/* META values of a raw image: "0xKEY=VALUE" per line (values printed as they are). */
static int disk_meta(int argc, char **argv)
{
    const char *usage = "[--sector-size 512|4096] RAW_IMAGE";
    if (cli_help_requested(argc, argv))
        return cli_help("disk meta", usage);
    static const struct option longopts[] = {{"sector-size", required_argument, NULL, 's'}, {NULL, 0, NULL, 0}};
    uint32_t ss = 512;
    struct error err = {0};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c != 's')
            return cli_usage("disk meta", usage);
        if (parse_u32(optarg, "--sector-size", &ss, &err) != 0)
            return cli_report(&err);
    }
    int i = optind;
    if (argc != i + 1)
        return cli_usage("disk meta", usage);
    int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error_errno(&err, errno, "%s: open", argv[i]);
        return cli_report(&err);
    }
    struct stat st;
    struct gpt_table t = {0};
    int rc = fstat(fd, &st) == 0 ? gpt_read(fd, argv[i], ss, (uint64_t)st.st_size, &t, &err)
                                 : error_errno(&err, errno, "%s: stat", argv[i]);
    const struct gpt_partition *meta = NULL;
    for (size_t k = 0; rc == 0 && k < t.count; k++)
        if (!strcmp(t.partitions[k].name, "META"))
            meta = &t.partitions[k];
    if (rc == 0 && !meta)
        rc = error_set(&err, ERROR_INPUT, "%s: no META partition", argv[i]);
    if (rc == 0) {
        uint8_t *block = NULL;
        struct meta_value *v = NULL;
        size_t n = 0;
        rc = meta_partition_read(fd, argv[i], meta->first_lba * ss, (meta->last_lba - meta->first_lba + 1) * ss, &block,
                                 &v, &n, &err);
        for (size_t k = 0; rc == 0 && k < n; k++)
            printf("0x%x=%.*s\n", v[k].key, (int)v[k].len, v[k].value);
        free(v);
        free(block);
    }
    gpt_table_free(&t);
    close(fd);
    return rc == 0 ? 0 : cli_report(&err);
}

int cmd_disk(int argc, char **argv)
{
    static const struct cli_command subcommands[] = {
        {"build", disk_build, "a Talos disk image from plain files"},
        {"plan", disk_plan, "the partition plan Image Factory's imager would use for an asset name"},
        {"meta", disk_meta, "the META values of a raw disk image"},
    };
    return cli_dispatch("airfactory disk", subcommands, sizeof subcommands / sizeof subcommands[0], argc, argv);
}
