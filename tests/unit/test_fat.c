/* Unit tests for src/format/fat.c, read back with dosfstools (fsck.fat) and mtools. */
#include "format/fat.h"
#include "build_test_util.h"
#include "test.h"

struct esp {
    char *dir, *sdboot, *uki, *conf, *seed, *img;
};

static void esp_inputs(struct esp *e)
{
    e->dir = bt_scratch();
    e->sdboot = path_join(e->dir, "systemd-boot.efi");
    e->uki = path_join(e->dir, "uki.efi");
    e->conf = path_join(e->dir, "loader.conf");
    e->seed = path_join(e->dir, "random-seed");
    e->img = path_join(e->dir, "efiboot.img");
    bt_write_random(e->sdboot, 140891, 1, 0);
    bt_write_random(e->uki, 3000001, 2, 0);
    bt_write_str(e->conf, "# systemd-boot configuration\n\ntimeout 10\n\nsecure-boot-enroll off\n");
    char zeros[32] = {0};
    bt_write(e->seed, zeros, sizeof zeros);
}

static void esp_free(struct esp *e)
{
    bt_remove(e->dir);
    free(e->dir);
    free(e->sdboot);
    free(e->uki);
    free(e->conf);
    free(e->seed);
    free(e->img);
}

static int write_esp(struct esp *e, uint64_t size, const char *out)
{
    struct fat_file files[] = {
        {"EFI/BOOT/BOOTX64.EFI", e->sdboot, NULL, 0, false},
        {"EFI/Linux/Talos-v1.14.0.efi", e->uki, NULL, 0, false},
        {"loader/loader.conf", e->conf, NULL, 0, false},
        {"loader/random-seed", e->seed, NULL, 0, true},
        {"loader/keys/auto/a-very-long-file-name-that-needs-several-lfn-entries.auth", NULL, "k", 1, false},
    };
    struct fat_options o = {size, "EFI", 0x6774a580, 1735689600};
    struct error err = {0};
    int rc = fat_image_write(out, &o, files, sizeof files / sizeof files[0], &err);
    if (rc)
        printf("  %s\n", err.message);
    return rc;
}

static void image_is_read_by_dosfstools_and_mtools(void)
{
    struct esp e;
    esp_inputs(&e);
    uint64_t sizes[] = {20ull << 20, 64ull << 20}; /* FAT16, FAT32 */
    const char *types[] = {"FAT (16 bit)", "FAT (32 bit)"};
    for (int i = 0; i < 2; i++) {
        CHECK_INT(write_esp(&e, sizes[i], e.img), 0);
        struct stat st;
        CHECK(stat(e.img, &st) == 0 && (uint64_t)st.st_size == sizes[i]);
        struct buffer out = BUFFER_INIT;
        CHECK_INT(bt_run(&out, "fsck.fat -n '%s'", e.img), 0);
        CHECK(!strstr(buffer_cstr(&out), "differ") && !strstr(buffer_cstr(&out), "Free cluster summary"));
        buffer_reset(&out);
        CHECK_INT(bt_run(&out, "file -b '%s'", e.img), 0);
        CHECK(strstr(buffer_cstr(&out), types[i]) != NULL);
        CHECK(strstr(buffer_cstr(&out), "label: \"EFI        \"") != NULL);
        buffer_reset(&out);
        CHECK_INT(bt_run(&out, "MTOOLS_SKIP_CHECK=1 mdir -/ -i '%s' ::", e.img), 0);
        const char *t = buffer_cstr(&out);
        CHECK(strstr(t, "Talos-v1.14.0.efi") && strstr(t, "loader.conf") && strstr(t, "random-seed"));
        CHECK(strstr(t, "a-very-long-file-name-that-needs-several-lfn-entries.auth"));
        CHECK(strstr(t, "BOOTX64  EFI") && strstr(t, "2025-01-01"));
        char *back = path_join(e.dir, "back");
        CHECK_INT(bt_run(NULL, "MTOOLS_SKIP_CHECK=1 mcopy -n -i '%s' ::/EFI/Linux/Talos-v1.14.0.efi '%s'", e.img, back),
                  0);
        CHECK(bt_files_equal(back, e.uki));
        CHECK_INT(bt_run(NULL, "MTOOLS_SKIP_CHECK=1 mcopy -n -i '%s' ::/EFI/BOOT/BOOTX64.EFI '%s'", e.img, back), 0);
        CHECK(bt_files_equal(back, e.sdboot));
        buffer_reset(&out);
        CHECK_INT(bt_run(&out, "MTOOLS_SKIP_CHECK=1 mattrib -i '%s' ::/loader/random-seed", e.img), 0);
        CHECK(strstr(buffer_cstr(&out), "R") != NULL);
        unlink(back);
        free(back);
        buffer_free(&out);
    }
    esp_free(&e);
}

static void image_is_reproducible(void)
{
    struct esp e;
    esp_inputs(&e);
    char *again = path_join(e.dir, "again.img");
    CHECK_INT(write_esp(&e, 40ull << 20, e.img), 0);
    CHECK_INT(write_esp(&e, 40ull << 20, again), 0);
    CHECK(bt_files_equal(e.img, again));
    free(again);
    esp_free(&e);
}

static void bad_requests_fail_without_output(void)
{
    struct esp e;
    esp_inputs(&e);
    int before = bt_dir_entries(e.dir);
    struct error err = {0};
    struct fat_options o = {4ull << 20, "EFI", 1, 1};
    struct fat_file big[] = {{"EFI/Linux/uki.efi", e.uki, NULL, 0, false}, {"x", e.uki, NULL, 0, false}};
    CHECK_INT(fat_image_write(e.img, &o, big, 2, &err), -1);
    CHECK(strstr(err.message, "do not fit") != NULL);
    struct fat_file dup[] = {{"EFI/x", NULL, "a", 1, false}, {"efi/X", NULL, "b", 1, false}};
    o.size = 8ull << 20;
    CHECK_INT(fat_image_write(e.img, &o, dup, 2, &err), -1);
    CHECK(strstr(err.message, "twice") != NULL);
    struct fat_file clash[] = {{"EFI", NULL, "a", 1, false}, {"EFI/x", NULL, "b", 1, false}};
    CHECK_INT(fat_image_write(e.img, &o, clash, 2, &err), -1);
    struct fat_file badname[] = {{"EFI/a*b", NULL, "a", 1, false}};
    CHECK_INT(fat_image_write(e.img, &o, badname, 1, &err), -1);
    o.size = 1ull << 20;
    CHECK_INT(fat_image_write(e.img, &o, dup, 1, &err), -1);
    CHECK(strstr(err.message, "too small") != NULL);
    CHECK_INT(bt_dir_entries(e.dir), before);
    esp_free(&e);
}

/* 4096-byte logical sectors (the ESP of a 4Kn disk image, mkfs.vfat -S 4096): FAT16 and FAT32,
 * read back by fsck.fat and mtools; a sector size that is no power of two in 512..4096 fails. */
static void sector_size_4096_is_read_by_dosfstools_and_mtools(void)
{
    struct esp e;
    esp_inputs(&e);
    struct fat_file files[] = {
        {"EFI/BOOT/BOOTX64.EFI", e.sdboot, NULL, 0, false},
        {"EFI/Linux/Talos-v1.14.0.efi", e.uki, NULL, 0, false},
        {"loader/loader.conf", e.conf, NULL, 0, false},
    };
    struct fat_options o = {0, "EFI", 0x6774a580, 1735689600};
    uint64_t sizes[] = {64ull << 20, 300ull << 20}; /* FAT16, FAT32 (>= 65525 4 KiB clusters) */
    const char *types[] = {"16 bit entries", "32 bit entries"};
    for (int i = 0; i < 2; i++) {
        o.size = sizes[i];
        struct error err = {0};
        CHECK_INT(fat_image_write_sectors(e.img, &o, 4096, files, 3, &err), 0);
        struct buffer out = BUFFER_INIT;
        CHECK_INT(bt_run(&out, "fsck.fat -n -v '%s'", e.img), 0);
        CHECK(strstr(buffer_cstr(&out), "4096 bytes per logical sector") != NULL);
        CHECK(strstr(buffer_cstr(&out), types[i]) != NULL);
        buffer_reset(&out);
        char *copy = path_join(e.dir, "uki.copy");
        CHECK_INT(bt_run(&out, "mcopy -n -i '%s' ::/EFI/Linux/Talos-v1.14.0.efi '%s'", e.img, copy), 0);
        CHECK(bt_files_equal(copy, e.uki));
        bt_remove(copy);
        free(copy);
        buffer_free(&out);
    }
    struct error err = {0};
    bt_remove(e.img);
    CHECK_INT(fat_image_write_sectors(e.img, &o, 1000, files, 3, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    CHECK(!fs_exists(e.img));
    esp_free(&e);
}

int main(void)
{
    RUN(image_is_read_by_dosfstools_and_mtools);
    RUN(image_is_reproducible);
    RUN(sector_size_4096_is_read_by_dosfstools_and_mtools);
    RUN(bad_requests_fail_without_output);
    return TEST_MAIN_END();
}
