/* Unit tests for src/format/pe.c, src/imager/{uki,kernel}.c: section order and contents, the PE header fields
 * native.go computes, and three outside readers (objdump, python3-pefile, sbverify). */
#include "imager/kernel.h"
#include "format/pe.h"
#include "imager/splash.h"
#include "imager/uki.h"
#include "core/digest.h"

#include <fcntl.h>
#include <unistd.h>
#include "build_test_util.h"
#include "test.h"

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

struct uki_fixture {
    char *dir, *kernel, *initrd, *out;
};

static void fixture(struct uki_fixture *f)
{
    f->dir = bt_scratch();
    f->kernel = path_join(f->dir, "vmlinuz");
    f->initrd = path_join(f->dir, "initramfs.xz");
    f->out = path_join(f->dir, "vmlinuz.efi");
    bt_fake_bzimage(f->kernel, "6.12.40-talos", 300001);
    bt_write_random(f->initrd, 123457, 3, 0);
}

static void fixture_free(struct uki_fixture *f)
{
    bt_remove(f->dir);
    free(f->dir);
    free(f->kernel);
    free(f->initrd);
    free(f->out);
}

static void kernel_version_comes_from_the_bzimage_header(void)
{
    struct uki_fixture f;
    fixture(&f);
    char v[64];
    struct error err = {0};
    CHECK_INT(kernel_version(f.kernel, v, sizeof v, &err), 0);
    CHECK_STR(v, "6.12.40-talos");
    enum kernel_format fmt;
    CHECK_INT(kernel_identify(f.kernel, &fmt, &err), 0);
    CHECK_INT(fmt, KERNEL_BZIMAGE);
    char *copy = path_join(f.dir, "kernel-copy");
    CHECK_INT(kernel_build(f.kernel, copy, &err), 0);
    CHECK(bt_files_equal(f.kernel, copy));
    CHECK_INT(kernel_build(f.initrd, copy, &err), -1); /* not a kernel */
    CHECK_INT(err.code, ERROR_INPUT);
    free(copy);
    fixture_free(&f);
}

static void uki_sections_and_headers(void)
{
    struct uki_fixture f;
    fixture(&f);
    const char *cmdline = "talos.platform=metal console=ttyS0 init_on_alloc=1";
    struct uki_profile_set ps;
    uki_profiles_for(&ps, bt_quirks("v1.11.3", NULL, false), UKI_FOR_ISO, cmdline);
    CHECK_INT(ps.count, 2);
    struct uki_options o = {BT_STUB, f.kernel,    f.initrd, cmdline,    "v1.11.3", NULL,
                            NULL,    ps.profiles, ps.count, 1735689600, NULL};
    struct error err = {0};
    CHECK_INT(uki_build(&o, f.out, &err), 0);
    if (err.message[0])
        printf("  %s\n", err.message);
    struct pe_info stub, pe;
    CHECK_INT(pe_read_info(BT_STUB, &stub, &err), 0);
    CHECK_INT(pe_read_info(f.out, &pe, &err), 0);
    const char *appended[] = {".osrel", ".cmdline", ".uname", ".linux", ".initrd", ".profile", ".profile", ".cmdline"};
    CHECK_INT(pe.section_count, stub.section_count + 8);
    CHECK_INT(pe.timestamp, 1735689600);
    CHECK_INT(pe.checksum, 0);
    CHECK_INT(pe.symbol_count, 0);
    CHECK_INT(pe.subsystem, 10);
    uint64_t raw = pe.size_of_headers, init = 0, code = 0;
    for (size_t i = 0; i < pe.section_count; i++) {
        const struct pe_section_info *s = &pe.sections[i];
        if (i < stub.section_count) { /* stub sections kept in place (virtual layout) */
            CHECK_STR(s->name, stub.sections[i].name);
            CHECK_INT(s->virtual_address, stub.sections[i].virtual_address);
        } else {
            CHECK_STR(s->name, appended[i - stub.section_count]);
            CHECK_INT(s->characteristics, 0x40000040);
            const struct pe_section_info *prev = &pe.sections[i - 1];
            CHECK_INT(s->virtual_address,
                      align_up((uint64_t)prev->virtual_address + prev->virtual_size, pe.section_alignment));
            CHECK_INT(s->raw_size, align_up(s->virtual_size, pe.file_alignment));
        }
        if (s->raw_size) { /* raw data back to back from SizeOfHeaders */
            CHECK_INT(s->raw_offset, raw);
            raw += s->raw_size;
        }
        if (s->characteristics & 0x40)
            init += s->raw_size;
        else
            code += s->raw_size;
    }
    const struct pe_section_info *last = &pe.sections[pe.section_count - 1];
    CHECK_INT(pe.size_of_image, align_up((uint64_t)last->virtual_address + last->virtual_size, pe.section_alignment));
    CHECK_INT(pe.size_of_initialized_data, init);
    CHECK_INT(pe.size_of_code, code);
    CHECK(pe.size_of_headers >= 0x80 + 4 + 20 + 240 + 40 * pe.section_count);
    struct stat st;
    CHECK(stat(f.out, &st) == 0 && (uint64_t)st.st_size == raw);
    const struct pe_section_info *linux_s = pe_find_section(&pe, ".linux");
    CHECK(linux_s && linux_s->virtual_size == 300001);

    /* outside readers */
    struct buffer out = BUFFER_INIT;
    CHECK_INT(bt_run(&out, "objdump -h '%s'", f.out), 0);
    CHECK(strstr(buffer_cstr(&out), ".osrel") && strstr(buffer_cstr(&out), ".initrd") &&
          strstr(buffer_cstr(&out), ".profile"));
    buffer_reset(&out);
    CHECK_INT(bt_run(&out,
                     "/usr/bin/python3 -c 'import pefile,sys\n"
                     "p=pefile.PE(sys.argv[1])\n"
                     "for s in p.sections:\n"
                     "  n=s.Name.rstrip(b\"\\0\").decode()\n"
                     "  if n in (\".cmdline\",\".uname\",\".profile\",\".osrel\"): print(n, repr(s.get_data()[:s.Misc_VirtualSize].decode()))\n"
                     "' '%s'",
                     f.out),
              0);
    const char *t = buffer_cstr(&out);
    CHECK(strstr(t, ".cmdline 'talos.platform=metal console=ttyS0 init_on_alloc=1'\n"));
    CHECK(strstr(t, ".uname '6.12.40-talos'\n"));
    CHECK(strstr(t, ".profile 'ID=main'\n"));
    CHECK(strstr(t, ".profile 'ID=reset\\nTITLE=Reset system disk'\n"));
    CHECK(strstr(t, ".cmdline 'talos.platform=metal console=ttyS0 init_on_alloc=1 talos.experimental.wipe=system'\n"));
    CHECK(strstr(t, ".osrel 'NAME=\"Talos\"\\nID=talos\\nVERSION_ID=v1.11.3\\nPRETTY_NAME=\"Talos (v1.11.3)\"\\n"));
    if (bt_have_tool("sbverify")) {
        buffer_reset(&out);
        CHECK_INT(bt_run(&out, "sbverify --list '%s'", f.out), 0);
        CHECK(!strstr(buffer_cstr(&out), "gaps between PE/COFF sections"));
    }
    buffer_free(&out);
    pe_info_free(&stub);
    pe_info_free(&pe);
    uki_profile_set_free(&ps);
    fixture_free(&f);
}

static void profiles_by_version_and_output(void)
{
    struct uki_profile_set ps;
    uki_profiles_for(&ps, bt_quirks("v1.9.5", NULL, false), UKI_FOR_ISO, "x");
    CHECK_INT(ps.count, 0);
    uki_profile_set_free(&ps);
    uki_profiles_for(&ps, bt_quirks("v1.10.0", NULL, false), UKI_FOR_IMAGE, "a=b");
    CHECK_INT(ps.count, 2);
    CHECK_STR(ps.profiles[0].id, "main");
    CHECK(ps.profiles[0].cmdline == NULL && ps.profiles[0].title == NULL);
    CHECK_STR(ps.profiles[1].id, "reset-maintenance");
    CHECK_STR(ps.profiles[1].title, "Reset to maintenance mode");
    CHECK_STR(ps.profiles[1].cmdline, "a=b talos.experimental.wipe=system:EPHEMERAL,STATE");
    uki_profile_set_free(&ps);
    /* the standalone *-uki.efi: main only (imager.go buildUKI adds nothing for OutKindUKI) */
    uki_profiles_for(&ps, bt_quirks("v1.11.3", NULL, false), UKI_STANDALONE, "a=b");
    CHECK_INT(ps.count, 1);
    CHECK_STR(ps.profiles[0].id, "main");
    CHECK(ps.owned == NULL);
    uki_profile_set_free(&ps);
    uki_profiles_for(&ps, bt_quirks("v1.9.5", NULL, false), UKI_STANDALONE, "a=b");
    CHECK_INT(ps.count, 0);
    uki_profile_set_free(&ps);
}

static void uki_is_reproducible_and_bad_inputs_fail(void)
{
    struct uki_fixture f;
    fixture(&f);
    struct uki_options o = {BT_STUB, f.kernel, f.initrd, "a", "v1.9.5", NULL, NULL, NULL, 0, 7, NULL};
    struct error err = {0};
    char *again = path_join(f.dir, "again.efi");
    CHECK_INT(uki_build(&o, f.out, &err), 0);
    CHECK_INT(uki_build(&o, again, &err), 0);
    CHECK(bt_files_equal(f.out, again));
    int before = bt_dir_entries(f.dir);
    char *bad = path_join(f.dir, "bad.efi");
    o.stub_path = "/nonexistent/linuxx64.efi.stub";
    CHECK_INT(uki_build(&o, bad, &err), -1);
    CHECK(strstr(err.message, "/nonexistent/linuxx64.efi.stub") != NULL);
    o.stub_path = f.initrd; /* not a PE */
    CHECK_INT(uki_build(&o, bad, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    CHECK(strstr(err.message, "not a PE file") != NULL);
    o.stub_path = BT_STUB;
    o.initrd_path = "/nonexistent/initrd";
    CHECK_INT(uki_build(&o, bad, &err), -1);
    CHECK(!fs_exists(bad));
    CHECK_INT(bt_dir_entries(f.dir), before);
    free(bad);
    free(again);
    fixture_free(&f);
}

/* A 16x8 24-bit BMP whose pixels depend on seed (the fixture generator's splash_bmp). */
static size_t make_bmp(unsigned char *out, unsigned seed)
{
    size_t n = 54 + 16 * 8 * 3;
    memset(out, 0, 54);
    out[0] = 'B';
    out[1] = 'M';
    out[2] = (unsigned char)n;
    out[3] = (unsigned char)(n >> 8);
    out[10] = 54;
    for (size_t i = 54; i < n; i++)
        out[i] = (unsigned char)(i * seed + seed);
    return n;
}

/* splash_scan: the first "BM" header of the size whose bytes hash right, also across the 1 MiB
 * window boundary; a decoy of the same size, a header with another size and a truncated copy at
 * the end are not taken; the digest of a bitmap the file lacks finds nothing. */
static void splash_is_found_by_size_and_digest(void)
{
    char *dir = bt_scratch(), *bin = path_join(dir, "imager");
    unsigned char good[512], decoy[512];
    size_t n = make_bmp(good, 3);
    CHECK_INT(make_bmp(decoy, 5), n);
    char want[SHA256_HEX_LEN + 1], other[SHA256_HEX_LEN + 1];
    sha256_hex(good, n, want);
    sha256_hex(decoy, n, other);
    bt_write_random(bin, 3u << 20, 7, 0);
    int fd = open(bin, O_RDWR);
    CHECK(fd >= 0);
    uint64_t good_at = (1u << 20) - 3; /* its header straddles the first window's end */
    CHECK(pwrite(fd, decoy, n, 4096) == (ssize_t)n);
    CHECK(pwrite(fd, "BM\x01\x02\x00\x00", 6, 100) == 6);
    CHECK(pwrite(fd, good, n, (off_t)good_at) == (ssize_t)n);
    CHECK(pwrite(fd, good, n / 2, (3u << 20) - n / 2) == (ssize_t)(n / 2)); /* truncated at EOF */
    struct error err = {0};
    uint64_t at = 0;
    CHECK_INT(splash_scan(fd, "test", want, n, &at, &err), 1);
    CHECK_INT(at, good_at);
    CHECK_INT(splash_scan(fd, "test", other, n, &at, &err), 1);
    CHECK_INT(at, 4096);
    char none[SHA256_HEX_LEN + 1];
    sha256_hex("nothing", 7, none);
    CHECK_INT(splash_scan(fd, "test", none, n, &at, &err), 0);
    CHECK_INT(splash_scan(fd, "test", want, n + 1, &at, &err), 0);
    /* only the truncated copy: not found */
    unsigned char zero[512] = {0};
    CHECK(pwrite(fd, zero, n, (off_t)good_at) == (ssize_t)n);
    CHECK_INT(splash_scan(fd, "test", want, n, &at, &err), 0);
    close(fd);
    bt_remove(dir);
    free(bin);
    free(dir);
}

/* .splash goes after .uname and before .linux (uki.go generateSplash), with the file's bytes. */
static void splash_section_order(void)
{
    struct uki_fixture f;
    fixture(&f);
    char *bmp = path_join(f.dir, "splash.bmp");
    unsigned char b[512];
    size_t n = make_bmp(b, 9);
    struct error err = {0};
    CHECK_INT(fs_write_file_atomic(bmp, b, n, 0644, &err), 0);
    struct uki_options o = {.stub_path = BT_STUB,
                            .kernel_path = f.kernel,
                            .initrd_path = f.initrd,
                            .cmdline = "talos.platform=metal",
                            .talos_version = "v1.11.3",
                            .splash_path = bmp,
                            .timestamp = 1735689600};
    CHECK_INT(uki_build(&o, f.out, &err), 0);
    struct pe_info stub, pe;
    CHECK_INT(pe_read_info(BT_STUB, &stub, &err), 0);
    CHECK_INT(pe_read_info(f.out, &pe, &err), 0);
    const char *appended[] = {".osrel", ".cmdline", ".uname", ".splash", ".linux", ".initrd"};
    CHECK_INT(pe.section_count, stub.section_count + 6);
    for (size_t i = stub.section_count; i < pe.section_count && i - stub.section_count < 6; i++)
        CHECK_STR(pe.sections[i].name, appended[i - stub.section_count]);
    const struct pe_section_info *sp = pe_find_section(&pe, ".splash");
    CHECK(sp && sp->virtual_size == n);
    struct buffer file = BUFFER_INIT;
    CHECK_INT(fs_read_file(f.out, 64u << 20, &file, &err), 0);
    CHECK(sp && (uint64_t)sp->raw_offset + n <= file.len && memcmp(file.data + sp->raw_offset, b, n) == 0);
    buffer_free(&file);
    pe_info_free(&stub);
    pe_info_free(&pe);
    free(bmp);
    fixture_free(&f);
}

int main(void)
{
    RUN(kernel_version_comes_from_the_bzimage_header);
    RUN(uki_sections_and_headers);
    RUN(profiles_by_version_and_output);
    RUN(uki_is_reproducible_and_bad_inputs_fail);
    RUN(splash_is_found_by_size_and_digest);
    RUN(splash_section_order);
    return TEST_MAIN_END();
}
