/* Unit tests for src/format/pe.c, src/imager/{uki,kernel}.c: section order and contents, the PE header fields
 * native.go computes, and three outside readers (objdump, python3-pefile, sbverify). */
#include "imager/kernel.h"
#include "format/pe.h"
#include "imager/uki.h"
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

int main(void)
{
    RUN(kernel_version_comes_from_the_bzimage_header);
    RUN(uki_sections_and_headers);
    RUN(profiles_by_version_and_output);
    RUN(uki_is_reproducible_and_bad_inputs_fail);
    return TEST_MAIN_END();
}
