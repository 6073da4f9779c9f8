/* test_disk_image — GPT (deterministic GUIDs, layout, write/read, damage detection), META ADV round
 * trips, disk image plans from profile data (sizes checked against Talos' testdata), VHD footer. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imager/disk_image.h"
#include "imager/image_cache.h"
#include "format/gpt.h"
#include "core/endian.h"
#include "core/memory.h"
#include "imager/meta_partition.h"
#include "talos/profile.h"
#include "format/qcow2.h"
#include "airfactory/schematic.h"
#include "test.h"

static char *guid_text(const char *label)
{
    static char text[GPT_GUID_TEXT_LEN + 1];
    uint8_t g[16];
    gpt_guid_from_label(label, g);
    gpt_guid_format(g, text);
    return text;
}

static void test_guid_from_label(void)
{
    /* talos-imager.md §7.2 */
    CHECK_STR(guid_text("talos-image-disk"), "d92d45b3-cde9-8760-be9f-a2a71fac8d11");
    CHECK_STR(guid_text("EFI"), "bca5174b-0118-8a6a-af0b-2c6e1585acae");
    CHECK_STR(guid_text("BIOS"), "a2a02ff5-d88d-8e6e-9c95-26b9b6c80bc3");
    CHECK_STR(guid_text("BOOT"), "24c73076-4092-85dd-9d98-686a2dbf6d81");
    CHECK_STR(guid_text("META"), "cf04f137-101e-8ec6-9627-fa3f51cdabb8");
    CHECK_STR(guid_text("STATE"), "f7f88648-df7c-8acb-b4d2-6f124659d923");
    CHECK_STR(guid_text("EPHEMERAL"), "c5e02400-0e5e-80bc-99ec-53b3e45ad6c4");
    CHECK_STR(guid_text("IMAGECACHE"), "3b5449bc-c21f-8009-8b51-18945967f8df");
    uint8_t g[16];
    char back[GPT_GUID_TEXT_LEN + 1];
    CHECK_INT(gpt_guid_parse("C12A7328-F81F-11D2-BA4B-00A0C93EC93B", g), 0);
    gpt_guid_format(g, back);
    CHECK_STR(back, "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
    CHECK_INT(gpt_guid_parse("C12A7328-F81F-11D2-BA4B-00A0C93EC93", g), -1);
    CHECK_INT(gpt_guid_parse("C12A7328+F81F-11D2-BA4B-00A0C93EC93B", g), -1);
    CHECK_INT(gpt_guid_parse("G12A7328-F81F-11D2-BA4B-00A0C93EC93B", g), -1);
}

static int temp_file(char *path)
{
    snprintf(path, 64, "%s/test-disk-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkstemp(path);
}

static void table_for(struct gpt_table *t, struct gpt_partition *p, uint64_t disk, uint32_t ss, struct error *err, int *rc)
{
    memset(p, 0, 2 * sizeof *p);
    snprintf(p[0].name, sizeof p[0].name, "EFI");
    gpt_guid_parse(GPT_TYPE_EFI, p[0].type);
    gpt_guid_from_label("EFI", p[0].guid);
    snprintf(p[1].name, sizeof p[1].name, "META");
    gpt_guid_parse(GPT_TYPE_LINUX, p[1].type);
    gpt_guid_from_label("META", p[1].guid);
    p[1].attributes = GPT_ATTR_LEGACY_BIOS_BOOTABLE;
    memset(t, 0, sizeof *t);
    t->partitions = p;
    t->count = 2;
    gpt_guid_from_label(GPT_TALOS_DISK_LABEL, t->disk_guid);
    uint64_t sizes[2] = {100ull << 20, 1ull << 20};
    *rc = gpt_layout(t, disk, ss, sizes, err);
}

static void test_gpt_layout_and_round_trip(void)
{
    for (int k = 0; k < 2; k++) {
        uint32_t ss = k ? 4096 : 512;
        uint64_t disk = 200ull << 20;
        struct gpt_partition p[2];
        struct gpt_table t;
        struct error err = {0};
        int rc;
        table_for(&t, p, disk, ss, &err, &rc);
        CHECK_INT(rc, 0);
        CHECK_INT(p[0].first_lba, (1u << 20) / ss);
        CHECK_INT(p[0].last_lba, p[0].first_lba + (100u << 20) / ss - 1);
        CHECK_INT(p[1].first_lba, (101u << 20) / ss); /* next 1 MiB boundary */
        CHECK_INT(t.last_usable_lba, disk / ss - 1 - (ss == 512 ? 32 : 4) - 1);
        char path[64];
        int fd = temp_file(path);
        CHECK(fd >= 0);
        CHECK_INT(ftruncate(fd, (off_t)disk), 0);
        CHECK_INT(gpt_write(fd, path, &t, &err), 0);
        struct gpt_table r;
        CHECK_INT(gpt_read(fd, path, ss, disk, &r, &err), 0);
        CHECK_INT(r.count, 2);
        if (r.count == 2) {
            CHECK_STR(r.partitions[0].name, "EFI");
            CHECK_STR(r.partitions[1].name, "META");
            CHECK(memcmp(r.partitions[1].guid, p[1].guid, 16) == 0);
            CHECK(memcmp(r.partitions[0].type, p[0].type, 16) == 0);
            CHECK_INT(r.partitions[1].attributes, GPT_ATTR_LEGACY_BIOS_BOOTABLE);
            CHECK_INT(r.partitions[1].first_lba, p[1].first_lba);
        }
        CHECK(memcmp(r.disk_guid, t.disk_guid, 16) == 0);
        gpt_table_free(&r);
        /* protective MBR */
        uint8_t mbr[512];
        CHECK_INT(pread(fd, mbr, 512, 0), 512);
        CHECK_INT(mbr[450], 0xEE);
        CHECK(mbr[510] == 0x55 && mbr[511] == 0xAA);
        CHECK_INT(mbr[454] | mbr[455] << 8, 1);
        /* a flipped byte in the entry array is caught by the CRC */
        uint8_t b = 0x5a;
        CHECK_INT(pwrite(fd, &b, 1, 2 * ss + 60), 1);
        CHECK_INT(gpt_read(fd, path, ss, disk, &r, &err), -1);
        CHECK(strstr(err.message, "CRC") != NULL);
        close(fd);
        unlink(path);
    }
    /* does not fit */
    struct gpt_partition p[2];
    struct gpt_table t;
    struct error err = {0};
    int rc;
    table_for(&t, p, 50ull << 20, 512, &err, &rc);
    CHECK_INT(rc, -1);
    CHECK_INT(err.code, ERROR_INPUT);
    table_for(&t, p, 200ull << 20, 1024, &err, &rc);
    CHECK_INT(rc, -1);
}

/* An overlay's partitionOptions.offset (go-blockdevice gpt.WithSkipLBAs): the entry array starts
 * at LBA 2 + skip, the partitions at the next 1 MiB boundary after it, and nothing is written in
 * the skipped sectors (where the overlay's U-Boot lives). sbc-rockchip's 2048 * 10 on 512-byte
 * sectors: entries at 20482, first usable 20514 -> 22528. */
static void test_gpt_skip_lbas(void)
{
    struct gpt_partition p[2];
    struct gpt_table t;
    struct error err = {0};
    memset(p, 0, sizeof p);
    snprintf(p[0].name, sizeof p[0].name, "EFI");
    gpt_guid_parse(GPT_TYPE_EFI, p[0].type);
    snprintf(p[1].name, sizeof p[1].name, "META");
    gpt_guid_parse(GPT_TYPE_LINUX, p[1].type);
    memset(&t, 0, sizeof t);
    t.partitions = p;
    t.count = 2;
    t.skip_lbas = 20480;
    uint64_t sizes[2] = {100ull << 20, 1ull << 20}, disk = 200ull << 20;
    CHECK_INT(gpt_layout(&t, disk, 512, sizes, &err), 0);
    CHECK_INT(t.first_usable_lba, 22528);
    CHECK_INT(p[0].first_lba, 22528);
    char path[64];
    int fd = temp_file(path);
    CHECK(fd >= 0);
    CHECK_INT(ftruncate(fd, (off_t)disk), 0);
    uint8_t mark[8] = "U-BOOT!";
    CHECK_INT(pwrite(fd, mark, 8, 32768), 8);
    CHECK_INT(gpt_write(fd, path, &t, &err), 0);
    uint8_t h[512], got[8];
    CHECK_INT(pread(fd, h, 512, 512), 512);
    CHECK_INT(le64_get(h + 72), 20482);
    CHECK_INT(le64_get(h + 40), 22528);
    CHECK_INT(pread(fd, got, 8, 32768), 8);
    CHECK(memcmp(got, mark, 8) == 0);
    struct gpt_table r;
    CHECK_INT(gpt_read(fd, path, 512, disk, &r, &err), 0);
    CHECK_INT(r.count, 2);
    if (r.count == 2)
        CHECK_INT(r.partitions[0].first_lba, 22528);
    gpt_table_free(&r);
    close(fd);
    unlink(path);
    /* more than the disk */
    t.skip_lbas = disk / 512;
    CHECK_INT(gpt_layout(&t, disk, 512, sizes, &err), -1);
}

/* size 0 for the last partition: the rest, ending on a 1 MiB boundary (go-blockdevice
 * allocatableRanges: highLBA = lastUsableLBA / alignment * alignment, LastLBA = highLBA - 1);
 * anywhere else, or with nothing left, an error */
static void test_gpt_layout_rest(void)
{
    for (int k = 0; k < 2; k++) {
        uint32_t ss = k ? 4096 : 512;
        uint64_t disk = (200ull << 20) + 7 * ss; /* not a whole number of MiB */
        struct gpt_partition p[2];
        memset(p, 0, sizeof p);
        snprintf(p[0].name, sizeof p[0].name, "META");
        snprintf(p[1].name, sizeof p[1].name, "IMAGECACHE");
        struct gpt_table t = {.partitions = p, .count = 2};
        uint64_t sizes[2] = {1ull << 20, 0};
        struct error err = {0};
        CHECK_INT(gpt_layout(&t, disk, ss, sizes, &err), 0);
        uint64_t align = (1u << 20) / ss;
        CHECK_INT(p[1].first_lba, 2 * align);
        CHECK_INT(p[1].last_lba, t.last_usable_lba / align * align - 1);
        CHECK_INT((p[1].last_lba + 1) % align, 0);
        uint64_t first_zero[2] = {0, 1ull << 20};
        CHECK_INT(gpt_layout(&t, disk, ss, first_zero, &err), -1);
        uint64_t full[2] = {(ss == 512 ? 198ull : 199ull) << 20, 0}; /* ends where the rest would */
        CHECK_INT(gpt_layout(&t, disk, ss, full, &err), -1);
        CHECK(strstr(err.message, "no space is left for partition IMAGECACHE") != NULL);
    }
    /* out.go calculateDirectorySizeWithOverhead: +20 %, then up to the next MiB */
    CHECK_INT(image_cache_partition_size(0), 0);
    CHECK_INT(image_cache_partition_size(1), 1u << 20);
    CHECK_INT(image_cache_partition_size(5ull << 20), 6ull << 20);
    CHECK_INT(image_cache_partition_size((5ull << 20) + 1), 7ull << 20);
}

static void test_meta_round_trip(void)
{
    struct meta_value v[3] = {
        {0x0a, "addresses:\n  - 10.0.0.2/24\n", 0},
        {0x0b, "code-123", 0},
        {META_KEY_DISK_IMAGE_BOOTLOADER, "dual-boot", 0},
    };
    for (int i = 0; i < 3; i++)
        v[i].len = strlen(v[i].value);
    uint8_t *block = xmalloc(META_ADV_SIZE);
    struct error err = {0};
    CHECK_INT(meta_adv_encode(v, 3, block, &err), 0);
    CHECK(block[0] == 0x5a && block[1] == 0x4b && block[2] == 0x3c && block[3] == 0x2d);
    CHECK(block[META_ADV_SIZE - 4] == 0xa5 && block[META_ADV_SIZE - 1] == 0xd2);
    CHECK(block[4] == 0 && block[7] == 0x0a); /* BE32 tag */
    struct meta_value *d = NULL;
    size_t n = 0;
    CHECK_INT(meta_adv_decode(block, &d, &n, &err), 0);
    CHECK_INT(n, 3);
    for (size_t i = 0; i < n && i < 3; i++) {
        CHECK_INT(d[i].key, v[i].key);
        CHECK_INT(d[i].len, v[i].len);
        CHECK(memcmp(d[i].value, v[i].value, v[i].len) == 0);
    }
    free(d);
    /* checksum catches a changed byte */
    block[20] ^= 1;
    CHECK_INT(meta_adv_decode(block, &d, &n, &err), -1);
    CHECK(strstr(err.message, "checksum") != NULL);

    /* partition: two copies; copy 1 damaged -> copy 2 is read */
    char path[64];
    int fd = temp_file(path);
    CHECK(fd >= 0);
    CHECK_INT(ftruncate(fd, 1 << 20), 0);
    CHECK_INT(meta_partition_write(fd, path, 0, 1 << 20, v, 3, &err), 0);
    uint8_t z = 0;
    CHECK_INT(pwrite(fd, &z, 1, 0), 1);
    uint8_t *rb = NULL;
    CHECK_INT(meta_partition_read(fd, path, 0, 1 << 20, &rb, &d, &n, &err), 0);
    CHECK_INT(n, 3);
    if (n == 3)
        CHECK(memcmp(d[1].value, "code-123", 8) == 0);
    free(d);
    free(rb);
    CHECK_INT(pwrite(fd, &z, 1, META_ADV_SIZE), 1);
    CHECK_INT(meta_partition_read(fd, path, 0, 1 << 20, &rb, &d, &n, &err), -1);
    /* a blank META (nothing written: no values) reads as no values, not as damage */
    CHECK_INT(ftruncate(fd, 0), 0);
    CHECK_INT(ftruncate(fd, 1 << 20), 0);
    n = 99;
    CHECK_INT(meta_partition_read(fd, path, 0, 1 << 20, &rb, &d, &n, &err), 0);
    CHECK_INT(n, 0);
    free(rb);
    close(fd);
    unlink(path);

    /* refusals: tag 0, duplicate tag, over capacity */
    struct meta_value bad[2] = {{0, "x", 1}, {0x0a, "y", 1}};
    CHECK_INT(meta_adv_encode(bad, 1, block, &err), -1);
    bad[0].key = 0x0a;
    CHECK_INT(meta_adv_encode(bad, 2, block, &err), -1);
    char *big = xmalloc(META_ADV_SIZE);
    memset(big, 'a', META_ADV_SIZE);
    struct meta_value huge = {0x0c, big, META_ADV_SIZE - 40 - 20 - 8};
    CHECK_INT(meta_adv_encode(&huge, 1, block, &err), 0); /* exactly at capacity */
    huge.len++;
    CHECK_INT(meta_adv_encode(&huge, 1, block, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    free(big);
    free(block);
}

/* the plan for an asset name, parsed by the one grammar */
static int plan_for(const struct profile_set *ps, const char *name, const char *version, const struct schematic *s,
                    struct disk_image_plan *p, struct error *err)
{
    struct asset_path a;
    if (asset_path_parse(name, &a, err) != 0)
        return -1;
    return disk_image_plan_for(ps, &a, version, s, p, err);
}

/* the IMAGECACHE partition (out.go buildImage with an image cache): the rest of the disk; the
 * disk grows by the tree + 20 % (MiB-rounded) from Talos 1.13 only; refused before 1.9 */
static void test_plan_image_cache(void)
{
    struct profile_set *ps = NULL;
    struct error err = {0};
    CHECK_INT(profile_set_load(&ps, &err), 0);
    if (!ps)
        return;
    struct disk_image_plan p;
    CHECK_INT(plan_for(ps, "metal-amd64.raw", "v1.11.3", NULL, &p, &err), 0);
    uint64_t before = p.disk_size;
    size_t parts = p.partition_count;
    CHECK_INT(disk_image_plan_add_image_cache(ps, &p, "v1.11.3", "amd64", 10ull << 20, &err), 0);
    CHECK_INT(p.disk_size, before);
    CHECK_INT(p.partition_count, parts + 1);
    CHECK_STR(p.partitions[parts].name, "IMAGECACHE");
    CHECK_INT(p.partitions[parts].size, 0);
    CHECK_INT(plan_for(ps, "metal-amd64.raw", "v1.11.3", NULL, &p, &err), 0);
    CHECK_INT(disk_image_plan_add_image_cache(ps, &p, "v1.11.3", "amd64", 1ull << 30, &err), -1);
    CHECK(strstr(err.message, "do not fit into the") != NULL);
    CHECK_INT(plan_for(ps, "metal-amd64.raw", "v1.13.0", NULL, &p, &err), 0);
    before = p.disk_size;
    CHECK_INT(disk_image_plan_add_image_cache(ps, &p, "v1.13.0", "amd64", 1ull << 30, &err), 0);
    CHECK_INT(p.disk_size, before + image_cache_partition_size(1ull << 30));
    CHECK_INT(plan_for(ps, "metal-amd64.raw", "v1.8.0", NULL, &p, &err), 0);
    CHECK_INT(disk_image_plan_add_image_cache(ps, &p, "v1.8.0", "amd64", 1, &err), -1);
    CHECK(strstr(err.message, "needs v1.9.0 or later") != NULL);
    profile_set_free(ps);
}

static void test_plans(void)
{
    struct profile_set *ps = NULL;
    struct error err = {0};
    CHECK_INT(profile_set_load(&ps, &err), 0);
    if (!ps)
        return;
    struct disk_image_plan p;
    /* sizes from talos pkg/imager/profile/testdata (talos-imager.md §2.4) */
    CHECK_INT(plan_for(ps, "metal-amd64.raw.zst", "v1.11.3", NULL, &p, &err), 0);
    CHECK_INT(p.bootloader, DISK_IMAGE_DUAL_BOOT);
    CHECK_INT(p.disk_size, 4247ull << 20);
    CHECK_INT(p.partition_count, 4);
    CHECK_INT(p.compression, COMPRESS_ZSTD);
    CHECK_INT(p.level, 18);
    CHECK_INT(plan_for(ps, "metal-arm64.raw.xz", "v1.11.3", NULL, &p, &err), 0);
    CHECK_INT(p.bootloader, DISK_IMAGE_SD_BOOT);
    CHECK_INT(p.disk_size, 2246ull << 20);
    CHECK_INT(p.partition_count, 2);
    CHECK_STR(p.partitions[0].name, "EFI");
    CHECK_INT(p.partitions[0].size, 2101ull << 20);
    CHECK_INT(p.compression, COMPRESS_XZ);
    CHECK_INT(p.level, 0);
    CHECK_INT(plan_for(ps, "metal-amd64.raw", "v1.10.0", NULL, &p, &err), 0);
    CHECK_INT(p.disk_size, 2247ull << 20);
    CHECK_INT(p.partitions[0].size, 1101ull << 20);
    CHECK_INT(plan_for(ps, "metal-amd64.raw", "v1.9.5", NULL, &p, &err), 0);
    CHECK_INT(p.bootloader, DISK_IMAGE_GRUB);
    CHECK_INT(p.disk_size, 1246ull << 20);
    CHECK_INT(p.partitions[0].size, 100ull << 20);
    CHECK_INT(plan_for(ps, "aws-amd64.raw.xz", "v1.11.3", NULL, &p, &err), 0);
    CHECK_INT(p.disk_size, 11193ull << 20);
    CHECK_INT(plan_for(ps, "aws-arm64.raw.xz", "v1.11.3", NULL, &p, &err), 0);
    CHECK_INT(p.disk_size, 9192ull << 20);
    /* SecureBoot forces sd-boot; the schematic's choice and sector size are honoured */
    CHECK_INT(plan_for(ps, "metal-amd64-secureboot.raw.zst", "v1.11.3", NULL, &p, &err), 0);
    CHECK_INT(p.bootloader, DISK_IMAGE_SD_BOOT);
    struct schematic *s = schematic_new();
    s->bootloader = SCHEMATIC_BOOTLOADER_SD_BOOT;
    s->sector_size = 4096;
    CHECK_INT(plan_for(ps, "azure-amd64.vhd.zst", "v1.11.3", s, &p, &err), 0);
    CHECK_INT(p.bootloader, DISK_IMAGE_SD_BOOT);
    CHECK_INT(p.sector_size, 4096);
    CHECK_INT(p.format, DISK_IMAGE_VHD);
    CHECK_INT(p.disk_size, 9192ull << 20);
    CHECK_INT(plan_for(ps, "oracle-amd64.qcow2", "v1.11.3", s, &p, &err), 0);
    CHECK_INT(p.format, DISK_IMAGE_QCOW2);
    CHECK_STR(p.format_options, "cluster_size=8k");
    CHECK_INT(plan_for(ps, "gcp-amd64.raw.tar.gz", "v1.11.3", s, &p, &err), 0);
    CHECK(p.tar);
    s->sector_size = 1024;
    CHECK_INT(plan_for(ps, "metal-amd64.raw", "v1.11.3", s, &p, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    CHECK_INT(plan_for(ps, "metal-amd64.iso", "v1.11.3", NULL, &p, &err), -1);
    /* META values: schematic's, plus 0x11=dual-boot on dual-boot images */
    s->meta = xcalloc(1, sizeof *s->meta);
    s->meta[0].key = 0x0a;
    s->meta[0].value = xstrdup("x: 1\n");
    s->meta_count = 1;
    struct meta_value mv[256];
    size_t mc = 0;
    CHECK_INT(plan_for(ps, "metal-amd64.raw", "v1.11.3", NULL, &p, &err), 0);
    disk_image_meta_values(&p, s, mv, &mc);
    CHECK_INT(mc, 2);
    CHECK_INT(mv[1].key, 0x11);
    CHECK_INT(plan_for(ps, "metal-arm64.raw", "v1.11.3", NULL, &p, &err), 0);
    disk_image_meta_values(&p, s, mv, &mc);
    CHECK_INT(mc, 1);
    /* a dual-boot schematic before 1.10: dual-boot layout, but no 0x11 (out.go buildImage asks
     * UseSDBootForUEFI) */
    s->bootloader = SCHEMATIC_BOOTLOADER_DUAL_BOOT;
    s->sector_size = 0;
    CHECK_INT(plan_for(ps, "metal-amd64.raw", "v1.9.5", s, &p, &err), 0);
    CHECK_INT(p.bootloader, DISK_IMAGE_DUAL_BOOT);
    disk_image_meta_values(&p, s, mv, &mc);
    CHECK_INT(mc, 1);
    schematic_free(s);
    profile_set_free(ps);
}

/* Talos < 1.8: the v1.14 library appends STATE (100 MiB) and EPHEMERAL (the rest), no file
 * systems (talos v1.14.0-rc.1 cmd/installer/pkg/install/install.go:932-953, quirks/partitions.go:46-48,
 * internal/pkg/partition/format.go:173-182); versions before v1.2.0 are refused (image-factory
 * cmd/image-factory/cmd/options.go:822 MinTalosVersion, v1.5.0). */
static void test_plans_before_1_8(void)
{
    struct profile_set *ps = NULL;
    struct error err = {0};
    CHECK_INT(profile_set_load(&ps, &err), 0);
    if (!ps)
        return;
    struct disk_image_plan p;
    static const char *const names[] = {"EFI", "BIOS", "BOOT", "META", "STATE", "EPHEMERAL"};
    static const uint64_t mib[] = {100, 1, 1000, 1, 100, 0};
    CHECK_INT(plan_for(ps, "metal-amd64.raw", "v1.7.6", NULL, &p, &err), 0);
    CHECK_INT(p.bootloader, DISK_IMAGE_GRUB);
    CHECK_INT(p.disk_size, 1246ull << 20);
    CHECK_INT(p.partition_count, 6);
    for (size_t i = 0; i < 6 && i < p.partition_count; i++) {
        CHECK_STR(p.partitions[i].name, names[i]);
        CHECK_INT(p.partitions[i].size, mib[i] << 20);
    }
    CHECK_STR(p.partitions[4].type, GPT_TYPE_LINUX);
    CHECK_STR(p.partitions[4].filesystem, "none");
    CHECK_STR(p.partitions[5].filesystem, "none");
    uint64_t first[DISK_IMAGE_MAX_PARTITIONS], size[DISK_IMAGE_MAX_PARTITIONS];
    CHECK_INT(disk_image_plan_extents(&p, first, size, &err), 0);
    CHECK_INT(first[4], 1103ull * 2048); /* STATE after META, at 1103 MiB */
    CHECK_INT(first[5], 1203ull * 2048);
    CHECK_INT(size[5], 42ull << 20); /* 1246 MiB - 1203 MiB - the backup GPT, down to 1 MiB */
    /* 1.8 drops them */
    CHECK_INT(plan_for(ps, "metal-amd64.raw", "v1.8.0", NULL, &p, &err), 0);
    CHECK_INT(p.partition_count, 4);
    /* SecureBoot before 1.8: sd-boot's ESP, then the same data partitions; aws has no
     * secureboot-aws profile, Image Factory builds it from the aws one */
    CHECK_INT(plan_for(ps, "aws-amd64-secureboot.raw.xz", "v1.7.6", NULL, &p, &err), 0);
    CHECK_INT(p.bootloader, DISK_IMAGE_SD_BOOT);
    CHECK_INT(p.disk_size, 8192ull << 20);
    CHECK_INT(p.partition_count, 4);
    CHECK_INT(p.partitions[0].size, 1101ull << 20);
    CHECK_STR(p.partitions[3].name, "EPHEMERAL");
    /* the rest-of-disk partition leaves no room for IMAGECACHE */
    CHECK_INT(plan_for(ps, "metal-amd64.raw", "v1.7.6", NULL, &p, &err), 0);
    CHECK_INT(disk_image_plan_add_image_cache(ps, &p, "v1.9.0", "amd64", 1, &err), -1);
    CHECK(strstr(err.message, "EPHEMERAL already takes the rest") != NULL);
    CHECK_INT(plan_for(ps, "metal-amd64.raw", "v1.1.0", NULL, &p, &err), -1);
    CHECK(strstr(err.message, "Image Factory builds v1.2.0 and later") != NULL);
    CHECK_INT(plan_for(ps, "metal-amd64.raw", "v1.2.0", NULL, &p, &err), 0);
    profile_set_free(ps);
}

static void test_vhd_footer(void)
{
    char path[64];
    int fd = temp_file(path);
    struct error err = {0};
    uint64_t size = 2246ull << 20;
    CHECK_INT(ftruncate(fd, (off_t)size), 0);
    CHECK_INT(disk_image_vhd_footer(fd, path, size, 1700000000, &err), 0);
    uint8_t f[512];
    CHECK_INT(pread(fd, f, 512, (off_t)size), 512);
    CHECK(memcmp(f, "conectix", 8) == 0);
    uint32_t sum = 0;
    for (int i = 0; i < 512; i++)
        if (i < 64 || i >= 68)
            sum += f[i];
    uint32_t stored = (uint32_t)f[64] << 24 | (uint32_t)f[65] << 16 | (uint32_t)f[66] << 8 | f[67];
    CHECK_INT(stored, ~sum);
    CHECK_INT(f[63], 2); /* fixed */
    close(fd);
    unlink(path);
}

static void test_qcow2_options(void)
{
    uint32_t cs = 0;
    struct error err = {0};
    CHECK_INT(qcow2_cluster_size_parse("", &cs, &err), 0);
    CHECK_INT(cs, 65536);
    CHECK_INT(qcow2_cluster_size_parse("cluster_size=8k", &cs, &err), 0);
    CHECK_INT(cs, 8192);
    CHECK_INT(qcow2_cluster_size_parse("cluster_size=2M", &cs, &err), 0);
    CHECK_INT(cs, 2u << 20);
    CHECK_INT(qcow2_cluster_size_parse("cluster_size=3k", &cs, &err), -1);
    CHECK_INT(qcow2_cluster_size_parse("cluster_size=8k,lazy_refcounts=on", &cs, &err), -1);
    CHECK_INT(qcow2_cluster_size_parse("compat=0.10", &cs, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
}

int main(void)
{
    RUN(test_guid_from_label);
    RUN(test_gpt_layout_and_round_trip);
    RUN(test_gpt_skip_lbas);
    RUN(test_gpt_layout_rest);
    RUN(test_plan_image_cache);
    RUN(test_meta_round_trip);
    RUN(test_plans);
    RUN(test_plans_before_1_8);
    RUN(test_vhd_footer);
    RUN(test_qcow2_options);
    return TEST_MAIN_END();
}
