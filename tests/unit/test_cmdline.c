/* Unit tests for src/imager/cmdline.c and src/talos/profile.c (the profile data it reads).
 *
 * The expected command lines are the worked examples of reference/talos-imager.md §3.4, which
 * come from talos pkg/imager/imager_test.go, plus the go-procfs semantics they rely on. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/base64.h"
#include "imager/cmdline.h"
#include "core/memory.h"
#include "talos/profile.h"
#include "airfactory/schematic.h"
#include "test.h"

static struct profile_set *profiles;

static char *build(const char *version, const char *platform, const char *arch, enum cmdline_kind kind, bool secureboot,
                   const char *schematic_yaml)
{
    struct error err = {0};
    struct schematic *s = NULL;
    if (schematic_yaml && schematic_parse(schematic_yaml, strlen(schematic_yaml), "test", &s, &err) < 0) {
        printf("  schematic: %s\n", err.message);
        return NULL;
    }
    struct cmdline_request req = {version, platform, arch, kind, secureboot, s, NULL, 0};
    struct buffer out = BUFFER_INIT;
    int rc = cmdline_build(profiles, &req, &out, &err);
    schematic_free(s);
    if (rc < 0) {
        printf("  cmdline_build: %s\n", err.message);
        buffer_free(&out);
        return NULL;
    }
    return buffer_take(&out);
}

#define CHECK_CMDLINE(expected, ...)                                                                                   \
    do {                                                                                                               \
        char *got_ = build(__VA_ARGS__);                                                                               \
        CHECK_STR(got_, expected);                                                                                     \
        free(got_);                                                                                                    \
    } while (0)

/* ---- talos pkg/imager/imager_test.go (reference §3.4) ---- */

/* metal's line is the same on both architectures but for the consoles in front */
static void check_metal_both_arches(const char *version, const char *amd64_consoles, const char *rest)
{
    static const char *const arm64_consoles = "console=ttyAMA0 console=tty0";
    char *amd64 = xasprintf("talos.platform=metal %s %s", amd64_consoles, rest);
    char *arm64 = xasprintf("talos.platform=metal %s %s", arm64_consoles, rest);
    CHECK_CMDLINE(amd64, version, "metal", "amd64", CMDLINE_KIND_CMDLINE, false, NULL);
    CHECK_CMDLINE(arm64, version, "metal", "arm64", CMDLINE_KIND_CMDLINE, false, NULL);
    free(amd64);
    free(arm64);
}

static void imager_test_vectors(void)
{
    const char *ima = "init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 "
                      "printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512";
    check_metal_both_arches("1.7.0", "console=ttyS0 console=tty0", ima);
    check_metal_both_arches("1.8.0", "console=tty0", ima);
    check_metal_both_arches("1.10.0", "console=tty0",
                            "init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 "
                            "printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512 selinux=1");
    check_metal_both_arches("1.11.0", "console=tty0",
                            "init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 "
                            "printk.devkmsg=on selinux=1");
    check_metal_both_arches("1.13.0", "console=tty0",
                            "init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 "
                            "printk.devkmsg=on selinux=1 module.sig_enforce=1 proc_mem.force_override=never");
    const char *aws13 =
        "talos.platform=aws console=tty1 console=ttyS0 net.ifnames=0 init_on_alloc=1 slab_nomerge pti=on "
        "consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1 module.sig_enforce=1 "
        "proc_mem.force_override=never";
    CHECK_CMDLINE(aws13, "1.13.0", "aws", "amd64", CMDLINE_KIND_CMDLINE, false, NULL);
    CHECK_CMDLINE(aws13, "1.13.0", "aws", "arm64", CMDLINE_KIND_CMDLINE, false, NULL);
    check_metal_both_arches("1.14.0", "console=tty0",
                            "slab_nomerge pti=on consoleblank=0 printk.devkmsg=on selinux=1 module.sig_enforce=1 "
                            "proc_mem.force_override=never");
    const char *aws14 = "talos.platform=aws console=tty1 console=ttyS0 net.ifnames=0 nvme_core.io_timeout=4294967295 "
                        "slab_nomerge pti=on consoleblank=0 printk.devkmsg=on selinux=1 module.sig_enforce=1 "
                        "proc_mem.force_override=never";
    CHECK_CMDLINE(aws14, "1.14.0", "aws", "amd64", CMDLINE_KIND_CMDLINE, false, NULL);
    CHECK_CMDLINE(aws14, "1.14.0", "aws", "arm64", CMDLINE_KIND_CMDLINE, false, NULL);
    /* 1.15 is derived from the same code */
    CHECK_CMDLINE("talos.platform=metal console=tty0 slab_nomerge pti=on consoleblank=0 printk.devkmsg=on selinux=1 "
                  "module.sig_enforce=1 proc_mem.force_override=never",
                  "v1.15.0", "metal", "amd64", CMDLINE_KIND_CMDLINE, false, NULL);
}

static void iso_inserts_halt_if_installed(void)
{
    CHECK_CMDLINE("talos.platform=metal console=tty0 talos.halt_if_installed=1 slab_nomerge pti=on consoleblank=0 "
                  "printk.devkmsg=on selinux=1 module.sig_enforce=1 proc_mem.force_override=never",
                  "v1.15.0", "metal", "amd64", CMDLINE_KIND_ISO, false, NULL);
    /* not before 1.8 */
    CHECK_CMDLINE("talos.platform=metal console=ttyS0 console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 "
                  "nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512",
                  "v1.7.4", "metal", "amd64", CMDLINE_KIND_ISO, false, NULL);
}

static void extra_kernel_args_overwrite_and_delete(void)
{
    CHECK_CMDLINE("talos.platform=metal console=ttyS1,115200 slab_nomerge consoleblank=0 printk.devkmsg=on "
                  "module.sig_enforce=1 proc_mem.force_override=never foo=bar",
                  "v1.15.0", "metal", "amd64", CMDLINE_KIND_CMDLINE, false,
                  "customization:\n  extraKernelArgs: ['console=ttyS1,115200', -selinux, -pti=on, foo=bar]\n");
    /* the same given as one string: AppendAll joins its arguments with spaces */
    CHECK_CMDLINE("talos.platform=metal console=ttyS1,115200 slab_nomerge consoleblank=0 printk.devkmsg=on "
                  "module.sig_enforce=1 proc_mem.force_override=never foo=bar",
                  "v1.15.0", "metal", "amd64", CMDLINE_KIND_CMDLINE, false,
                  "customization:\n  extraKernelArgs: ['console=ttyS1,115200 -selinux -pti=on foo=bar']\n");
    /* talos.platform is overwritten; repeated keys are appended next to each other */
    CHECK_CMDLINE("talos.platform=nocloud console=tty1 console=ttyS0 net.ifnames=0 slab_nomerge pti=on consoleblank=0 "
                  "printk.devkmsg=on selinux=1 module.sig_enforce=1 proc_mem.force_override=never x=1 x=2 "
                  "nomodeset",
                  "v1.14.1", "nocloud", "amd64", CMDLINE_KIND_CMDLINE, false,
                  "customization:\n  extraKernelArgs: [talos.platform=nocloud, x=1, nomodeset, x=2]\n");
    /* a value for an existing key is appended next to it (go-procfs keeps one entry per key) */
    CHECK_CMDLINE("talos.platform=metal console=tty0 slab_nomerge pti=on pti=off consoleblank=0 printk.devkmsg=on "
                  "selinux=1 module.sig_enforce=1 proc_mem.force_override=never net.ifnames=0",
                  "v1.14.0", "metal", "amd64", CMDLINE_KIND_CMDLINE, false,
                  "customization:\n  extraKernelArgs: [net.ifnames=0, pti=off]\n");
    /* "-" alone is a valid kernel argument, not a deletion */
    CHECK_CMDLINE("talos.platform=metal console=tty0 slab_nomerge pti=on consoleblank=0 printk.devkmsg=on selinux=1 "
                  "module.sig_enforce=1 proc_mem.force_override=never -",
                  "v1.14.0", "metal", "amd64", CMDLINE_KIND_CMDLINE, false, "customization:\n  extraKernelArgs: ['-']\n");
    /* deleting every console leaves none */
    CHECK_CMDLINE("talos.platform=aws net.ifnames=0 nvme_core.io_timeout=4294967295 slab_nomerge pti=on consoleblank=0 "
                  "printk.devkmsg=on selinux=1 module.sig_enforce=1 proc_mem.force_override=never",
                  "v1.14.0", "aws", "amd64", CMDLINE_KIND_IMAGE, false,
                  "customization:\n  extraKernelArgs: [-console]\n");
}

static void secureboot_args(void)
{
    CHECK_CMDLINE("talos.platform=metal console=tty0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 "
                  "nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1 module.sig_enforce=1 "
                  "proc_mem.force_override=never lockdown=confidentiality",
                  "v1.13.0", "metal", "amd64", CMDLINE_KIND_UKI, true, NULL);
    CHECK_CMDLINE("talos.platform=metal console=tty0 slab_nomerge pti=on consoleblank=0 printk.devkmsg=on selinux=1 "
                  "module.sig_enforce=1 proc_mem.force_override=never",
                  "v1.14.0", "metal", "amd64", CMDLINE_KIND_UKI, true, NULL);
}

static void platform_args_by_version(void)
{
    CHECK_CMDLINE("talos.platform=azure console=ttyS0,115200n8 earlyprintk=ttyS0,115200 rootdelay=300 net.ifnames=0 "
                  "talos.dashboard.disabled=1 sysctl.kernel.kexec_load_disabled=1 slab_nomerge pti=on consoleblank=0 "
                  "printk.devkmsg=on selinux=1 module.sig_enforce=1 proc_mem.force_override=never",
                  "v1.14.0", "azure", "amd64", CMDLINE_KIND_IMAGE, false, NULL);
    CHECK_CMDLINE("talos.platform=gcp console=ttyS0 net.ifnames=0 talos.dashboard.disabled=1 init_on_alloc=1 slab_nomerge "
                  "pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng "
                  "ima_appraise=fix ima_hash=sha512",
                  "v1.7.0", "gcp", "amd64", CMDLINE_KIND_IMAGE, false, NULL);
    const char *vmware_amd64 =
        "talos.platform=vmware talos.config=guestinfo console=tty0 console=ttyS0 "
        "earlyprintk=ttyS0,115200 net.ifnames=0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 "
        "nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1";
    CHECK_CMDLINE(vmware_amd64, "v1.11.2", "vmware", "amd64", CMDLINE_KIND_IMAGE, false, NULL);
    /* vmware arm64: 1.9-1.11 had no platform arguments, 1.12+ its own */
    CHECK_CMDLINE("talos.platform=vmware init_on_alloc=1 slab_nomerge pti=on consoleblank=0 "
                  "nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1",
                  "v1.11.2", "vmware", "arm64", CMDLINE_KIND_IMAGE, false, NULL);
    CHECK_CMDLINE("talos.platform=vmware talos.config=guestinfo console=tty0 console=ttyAMA0 net.ifnames=0 init_on_alloc=1 "
                  "slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1 "
                  "module.sig_enforce=1",
                  "v1.12.0", "vmware", "arm64", CMDLINE_KIND_IMAGE, false, NULL);
    CHECK_CMDLINE("talos.platform=equinixMetal console=ttyS1,115200n8 slab_nomerge pti=on consoleblank=0 printk.devkmsg=on "
                  "selinux=1 module.sig_enforce=1 proc_mem.force_override=never",
                  "v1.14.0", "packet", "amd64", CMDLINE_KIND_CMDLINE, false, NULL);
    CHECK_CMDLINE("talos.platform=upcloud net.ifnames=0 init_on_alloc=1 slab_nomerge pti=on consoleblank=0 "
                  "nvme_core.io_timeout=4294967295 printk.devkmsg=on ima_template=ima-ng ima_appraise=fix ima_hash=sha512",
                  "v1.9.5", "upcloud", "amd64", CMDLINE_KIND_IMAGE, false, NULL);
}

static void overlay_args_replace_platform_args(void)
{
    struct error err = {0};
    const char *overlay[] = {"console=tty0 console=ttyAMA0,115200", "sysctl.kernel.kexec_load_disabled=1",
                             "talos.dashboard.disabled=1"};
    struct cmdline_request req = {"v1.11.3", "metal", "arm64", CMDLINE_KIND_IMAGE, false, NULL, overlay, 3};
    struct buffer out = BUFFER_INIT;
    CHECK_INT(cmdline_build(profiles, &req, &out, &err), 0);
    CHECK_STR(buffer_cstr(&out), "talos.platform=metal console=tty0 console=ttyAMA0,115200 "
                                 "sysctl.kernel.kexec_load_disabled=1 talos.dashboard.disabled=1 init_on_alloc=1 "
                                 "slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on "
                                 "selinux=1");
    buffer_free(&out);
}

static char *meta_env_of(const char *version, enum cmdline_kind kind, const char *schematic)
{
    char *line = build(version, "metal", "amd64", kind, false, schematic);
    if (!line)
        return NULL;
    const char *p = strstr(line, "talos.environment=INSTALLER_META_BASE64=");
    char *env = NULL;
    if (p) {
        p += strlen("talos.environment=INSTALLER_META_BASE64=");
        env = xstrndup(p, strcspn(p, " "));
    }
    free(line);
    return env;
}

static void meta_goes_into_talos_environment(void)
{
    /* "0xa=foo" -> base64; position: after the defaults, before extraKernelArgs */
    CHECK_CMDLINE("talos.platform=metal console=tty0 slab_nomerge pti=on consoleblank=0 printk.devkmsg=on selinux=1 "
                  "module.sig_enforce=1 proc_mem.force_override=never talos.environment=INSTALLER_META_BASE64=MHhhPWZvbw== "
                  "nomodeset",
                  "v1.14.0", "metal", "amd64", CMDLINE_KIND_CMDLINE, false,
                  "customization:\n  extraKernelArgs: [nomodeset]\n  meta: [{key: 10, value: foo}]\n");
    char *env = meta_env_of("v1.11.3", CMDLINE_KIND_CMDLINE,
                            "customization:\n  meta: [{key: 0xa, value: 'a: b'}, {key: 11, value: x}]\n");
    CHECK_STR(env, "MHhhPWE6IGI7MHhiPXg="); /* "0xa=a: b;0xb=x" */
    free(env);
    /* ISO carries META too; image, UKI and installer do not */
    env = meta_env_of("v1.11.3", CMDLINE_KIND_ISO, "customization:\n  meta: [{key: 10, value: foo}]\n");
    CHECK_STR(env, "MHhhPWZvbw==");
    free(env);
    enum cmdline_kind none[] = {CMDLINE_KIND_IMAGE, CMDLINE_KIND_UKI, CMDLINE_KIND_INSTALLER};
    for (int i = 0; i < 3; i++) {
        env = meta_env_of("v1.11.3", none[i], "customization:\n  meta: [{key: 10, value: foo}]\n");
        CHECK(env == NULL);
        free(env);
    }
}

static void long_meta_is_gzipped_deterministically(void)
{
    struct buffer yaml = BUFFER_INIT;
    buffer_append_str(&yaml, "customization:\n  meta:\n    - key: 10\n      value: |\n");
    for (int i = 0; i < 20; i++)
        buffer_appendf(&yaml, "        line %02d: addresses 10.0.0.%d/24\n", i, i);
    char *env = meta_env_of("v1.6.3", CMDLINE_KIND_CMDLINE, yaml.data);
    char *again = meta_env_of("v1.6.3", CMDLINE_KIND_CMDLINE, yaml.data);
    CHECK(env && again && !strcmp(env, again));
    struct buffer gz = BUFFER_INIT;
    CHECK_INT(base64_decode(env, strlen(env), &gz), 0);
    /* Go's gzip header at BestCompression: no name, mtime 0, XFL 2, OS 255 */
    static const unsigned char header[10] = {0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x02, 0xff};
    CHECK(gz.len > 18 && !memcmp(gz.data, header, 10));
    /* it inflates back to the raw META text */
    unsigned char plain[4096];
    z_stream z;
    memset(&z, 0, sizeof z);
    CHECK_INT(inflateInit2(&z, 16 + 15), Z_OK);
    z.next_in = (Bytef *)gz.data;
    z.avail_in = (uInt)gz.len;
    z.next_out = plain;
    z.avail_out = sizeof plain - 1;
    CHECK_INT(inflate(&z, Z_FINISH), Z_STREAM_END);
    plain[z.total_out] = '\0';
    inflateEnd(&z);
    CHECK(!strncmp((char *)plain, "0xa=line 00: addresses 10.0.0.0/24\nline 01", 42));
    buffer_free(&gz);
    free(env);
    free(again);
    /* before 1.6.3 the same META stays plain base64 */
    env = meta_env_of("v1.6.2", CMDLINE_KIND_CMDLINE, yaml.data);
    struct buffer raw = BUFFER_INIT;
    CHECK(env && base64_decode(env, strlen(env), &raw) == 0 && !strncmp(buffer_cstr(&raw), "0xa=line 00", 11));
    buffer_free(&raw);
    free(env);
    buffer_free(&yaml);
}

static void installer_and_uki_take_extra_args_from_1_10(void)
{
    const char *s = "customization:\n  extraKernelArgs: [nomodeset]\n";
    char *line = build("v1.9.5", "metal", "amd64", CMDLINE_KIND_UKI, false, s);
    CHECK(line && !strstr(line, "nomodeset"));
    free(line);
    line = build("v1.9.5", "metal", "amd64", CMDLINE_KIND_UKI, true, s);
    CHECK(line && strstr(line, " nomodeset"));
    free(line);
    line = build("v1.10.0", "metal", "amd64", CMDLINE_KIND_INSTALLER, false, s);
    CHECK(line && strstr(line, " nomodeset"));
    free(line);
    line = build("v1.9.5", "metal", "amd64", CMDLINE_KIND_ISO, false, s);
    CHECK(line && strstr(line, " nomodeset"));
    free(line);
}

static void procfs_algebra(void)
{
    struct cmdline c = CMDLINE_INIT;
    const char *a[] = {"a=1 b c=3", "a=2"};
    cmdline_append_all(&c, a, 2, NULL, 0, false);
    const char *set[] = {"a=9 \xc2\xa0 d= e"}; /* NBSP is white space for Go's strings.Fields */
    cmdline_set_all(&c, set, 1);
    const char *del[] = {"-c=3", "-b", "-e=x", "f"};
    cmdline_append_all(&c, del, 4, NULL, 0, true);
    struct buffer out = BUFFER_INIT;
    cmdline_render(&c, &out);
    CHECK_STR(buffer_cstr(&out), "a=9 d e f");
    buffer_free(&out);
    cmdline_free(&c);
}

static void rejects_bad_requests(void)
{
    struct error err = {0};
    struct buffer out = BUFFER_INIT;
    struct cmdline_request req = {"v1.11", "metal", "amd64", CMDLINE_KIND_CMDLINE, false, NULL, NULL, 0};
    CHECK_INT(cmdline_build(profiles, &req, &out, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    req.version = "v1.11.0";
    req.platform = "metl";
    CHECK_INT(cmdline_build(profiles, &req, &out, &err), -1);
    CHECK(strstr(err.message, "unknown platform 'metl'") && strstr(err.message, "metal, aws"));
    req.platform = "metal";
    req.arch = "riscv64";
    CHECK_INT(cmdline_build(profiles, &req, &out, &err), -1);
    buffer_free(&out);
}

/* ---- profile data ---- */

static void profiles_hold_the_32_builtin_profiles(void)
{
    static const char *const names[] = {"iso",
                                        "secureboot-iso",
                                        "metal",
                                        "metal-4k",
                                        "metal-uki",
                                        "secureboot-metal-uki",
                                        "secureboot-metal",
                                        "installer",
                                        "secureboot-installer",
                                        "akamai",
                                        "alibabacloud",
                                        "aws",
                                        "azure",
                                        "secureboot-azure",
                                        "cloudstack",
                                        "secureboot-cloudstack",
                                        "digital-ocean",
                                        "exoscale",
                                        "gcp",
                                        "hcloud",
                                        "nocloud",
                                        "secureboot-nocloud",
                                        "opennebula",
                                        "secureboot-opennebula",
                                        "openstack",
                                        "secureboot-openstack",
                                        "oracle",
                                        "scaleway",
                                        "upcloud",
                                        "vmware",
                                        "secureboot-vmware",
                                        "vultr"};
    CHECK_INT(profile_count(profiles), 32);
    for (size_t i = 0; i < 32; i++)
        CHECK(profile_find(profiles, names[i]) != NULL);
    const struct profile *p = profile_find(profiles, "metal");
    CHECK_STR(p->out_format, ".zst");
    CHECK_INT(p->disk_size_mib, 1246);
    p = profile_find(profiles, "exoscale");
    CHECK_INT(p->disk_size_mib, 10240);
    CHECK_STR(p->disk_format, "qcow2");
    CHECK_STR(p->disk_format_options, "cluster_size=8k");
    p = profile_find(profiles, "secureboot-iso");
    CHECK(p->secureboot);
    CHECK_STR(p->sdboot_enroll_keys, "if-safe");
    CHECK_INT(profile_find(profiles, "metal-4k")->disk_sector_size, 4096);
    uint64_t size;
    const char *opts;
    profile_disk_defaults(profiles, "azure", &size, &opts);
    CHECK_INT(size, 8192);
    CHECK_STR(opts, "subformat=fixed,force_size");
    profile_disk_defaults(profiles, "equinixMetal", &size, &opts);
    CHECK_INT(size, 8192);
    CHECK_STR(opts, "");
}

static void platforms_describe_image_factory(void)
{
    const struct profile_platform *p = profile_platform_find(profiles, "digital-ocean");
    CHECK(p && p->arch_count == 1 && profile_platform_has_arch(p, "amd64") && !profile_platform_has_arch(p, "arm64"));
    CHECK_STR(p->disk_image_suffix, "raw.gz");
    p = profile_platform_find(profiles, "metal");
    CHECK(p->secureboot && profile_platform_has_boot_method(p, "pxe") && profile_platform_has_boot_method(p, "iso"));
    p = profile_platform_find(profiles, "akamai");
    struct talos_version v16, v17;
    talos_version_parse("v1.6.9", &v16);
    talos_version_parse("v1.7.0-alpha.1", &v17);
    CHECK(!profile_platform_available(p, &v16));
    CHECK(profile_platform_available(p, &v17)); /* pre-releases count as their release */
    CHECK(profile_platform_find(profiles, "packet") == profile_platform_find(profiles, "equinixMetal"));
    CHECK(profile_platform_find(profiles, "nope") == NULL);
    CHECK(profile_platform_count(profiles) >= 20);
}

static void quirks_by_version(void)
{
    struct talos_version v17, v18, v19, v110, v111, v112, v114;
    talos_version_parse("v1.7.7", &v17);
    talos_version_parse("v1.8.0", &v18);
    talos_version_parse("v1.9.5", &v19);
    talos_version_parse("v1.10.0", &v110);
    talos_version_parse("v1.11.3", &v111);
    talos_version_parse("v1.12.0-beta.0", &v112);
    talos_version_parse("v1.14.0", &v114);
    struct talos_quirks q;
    profile_quirks(profiles, &v17, NULL, false, &q);
    CHECK_INT(q.compression, TALOS_COMPRESSION_XZ);
    CHECK(q.supported && q.supports_overlay && !q.iso_label && !q.skip_data_partitions);
    CHECK_STR(q.kernel_modules_path, "/lib/modules");
    profile_quirks(profiles, &v18, NULL, false, &q);
    CHECK_INT(q.compression, TALOS_COMPRESSION_ZSTD);
    CHECK(q.iso_label && q.skip_data_partitions && q.grub_reset_entry);
    profile_quirks(profiles, &v110, NULL, false, &q);
    CHECK_INT(q.boot_partition_mib, 1000);
    CHECK_INT(q.uki_efi_partition_mib, 1101);
    CHECK(q.uki_profiles && q.sdboot_for_uefi);
    CHECK_STR(q.installer_base_image, "siderolabs/installer-base");
    CHECK_STR(q.firmware_path, "/usr/lib/firmware");
    profile_quirks(profiles, &v111, "amd64", false, &q);
    CHECK_INT(q.boot_partition_mib, 2000);
    CHECK_INT(q.uki_efi_partition_mib, 2101);
    CHECK_INT(q.grub_efi_partition_mib, 100);
    CHECK_INT(q.bios_partition_mib, 1);
    CHECK_INT(q.meta_partition_mib, 1);
    CHECK_INT(q.iso_kind, TALOS_ISO_HYBRID);
    CHECK_INT(q.default_bootloader, SCHEMATIC_BOOTLOADER_DUAL_BOOT);
    CHECK(!q.embedded_config);
    profile_quirks(profiles, &v111, "arm64", false, &q);
    CHECK_INT(q.iso_kind, TALOS_ISO_UEFI);
    CHECK_INT(q.default_bootloader, SCHEMATIC_BOOTLOADER_SD_BOOT);
    profile_quirks(profiles, &v112, "amd64", false, &q);
    CHECK_INT(q.iso_kind, TALOS_ISO_BOOTLOADER);
    CHECK(q.embedded_config);
    profile_quirks(profiles, &v19, "amd64", false, &q);
    CHECK_INT(q.iso_kind, TALOS_ISO_GRUB);
    CHECK_INT(q.default_bootloader, SCHEMATIC_BOOTLOADER_GRUB);
    CHECK_STR(q.installer_base_image, "siderolabs/installer");
    CHECK_STR(q.installer_uki_name, "vmlinuz.efi");
    CHECK(!q.uki_profiles && q.supports_image_cache);
    profile_quirks(profiles, &v19, "amd64", true, &q);
    CHECK_INT(q.iso_kind, TALOS_ISO_UEFI);
    CHECK_INT(q.default_bootloader, SCHEMATIC_BOOTLOADER_SD_BOOT);
    CHECK_STR(q.installer_uki_name, "vmlinuz.efi.signed");
    profile_quirks(profiles, &v114, NULL, false, &q);
    CHECK(q.secureboot_disk_enroll_keys && q.iso_random_seed);
    profile_quirks(profiles, &v19, NULL, false, &q);
    CHECK(q.secureboot_disk_enroll_keys && q.iso_random_seed); /* Image Factory's v1.14 library: every version */
    struct error err = {0};
    CHECK_INT(profile_quirks_for(profiles, "v1.1.0", NULL, false, &q, &err), 0);
    CHECK(!q.supported);
    CHECK_INT(profile_quirks_for(profiles, "latest", NULL, false, &q, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
}

/* The cut-offs airfactory-serve asks (they were version compares in src/serve) and the UKI splash. */
static void quirks_serve_and_splash(void)
{
    struct talos_quirks q;
    struct error err = {0};
    /* quirks.SupportsFactoryTalosctlDownload: GTE 1.11.0-alpha.3 on the version without its
     * pre-release, so every 1.11.0 pre-release counts as 1.11.0 (a full semver compare of the tag
     * would say no for alpha.0 .. alpha.2, as src/serve/talosctl_routes.c did) */
    const char *yes[] = {"v1.11.0-alpha.0", "v1.11.0-alpha.3", "v1.11.0", "v1.11.3", "v1.12.0-beta.0", "v2.0.0"};
    const char *no[] = {"v1.10.9", "v1.10.99-rc.1", "v1.9.5", "v1.2.0"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        CHECK_INT(profile_quirks_for(profiles, yes[i], NULL, false, &q, &err), 0);
        CHECK(q.supports_factory_talosctl_download);
    }
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
        CHECK_INT(profile_quirks_for(profiles, no[i], NULL, false, &q, &err), 0);
        CHECK(!q.supports_factory_talosctl_download);
    }
    /* quirks.SupportsOverlay: 1.7.0, pre-releases of 1.7.0 included */
    CHECK_INT(profile_quirks_for(profiles, "v1.6.9", NULL, false, &q, &err), 0);
    CHECK(!q.supports_overlay);
    CHECK_INT(profile_quirks_for(profiles, "v1.7.0-alpha.0", NULL, false, &q, &err), 0);
    CHECK(q.supports_overlay);
    /* pkg/splash/sidero.bmp at the tags */
    CHECK_INT(profile_quirks_for(profiles, "v1.11.3", NULL, false, &q, &err), 0);
    CHECK_STR(q.uki_splash_sha256, "c2615c96cd796af248b147b48199710f6ff95d893c749aaea2d0a3836b9545a6");
    CHECK_INT(q.uki_splash_size, 590538);
    CHECK_INT(profile_quirks_for(profiles, "v1.12.0", NULL, false, &q, &err), 0);
    CHECK_STR(q.uki_splash_sha256, "db736eb8a5f1f2b59f9140378a47d14383d5b49ab3704c7ab2042017d5097365");
    CHECK_INT(q.uki_splash_size, 640138);
    CHECK(profile_set_builtin() != NULL);
    CHECK(profile_set_builtin() == profile_set_builtin());
}

/* the profiles/ YAML files as compiled into the library (core/embed.h) */
extern const char airfactory_profiles_platforms_yaml[], airfactory_profiles_profiles_yaml[],
    airfactory_profiles_versions_yaml[];

/* The built-in versions.yaml with `from` replaced by `to` once; NULL when `from` is not in it. */
static char *versions_with(const char *from, const char *to)
{
    const char *at = strstr(airfactory_profiles_versions_yaml, from);
    if (!at)
        return NULL;
    return xasprintf("%.*s%s%s", (int)(at - airfactory_profiles_versions_yaml), airfactory_profiles_versions_yaml, to,
                     at + strlen(from));
}

/* Load the built-in platforms and profiles with this versions text; the error message, or NULL. */
static char *versions_error(const char *versions)
{
    struct profile_set *set = NULL;
    struct error err = {0};
    int rc = profile_set_load_texts(airfactory_profiles_platforms_yaml, airfactory_profiles_profiles_yaml, versions,
                                    &set, &err);
    profile_set_free(set);
    return rc == 0 ? NULL : xstrdup(err.message);
}

/* The line of `needle` in the built-in versions.yaml (1-based). */
static int versions_line(const char *needle)
{
    const char *at = strstr(airfactory_profiles_versions_yaml, needle);
    int line = 1;
    for (const char *p = airfactory_profiles_versions_yaml; at && p < at; p++)
        line += *p == '\n';
    return at ? line : -1;
}

static void quirks_loader_refuses_bad_data(void)
{
    /* the data as shipped loads */
    char *msg = versions_error(airfactory_profiles_versions_yaml);
    CHECK(msg == NULL);
    free(msg);
    char where[64];

    /* an unknown key: refused with file:line:column, naming it */
    char *text = versions_with("  supportsUKI:\n", "  supportsUFO:\n");
    CHECK(text != NULL);
    msg = versions_error(text);
    snprintf(where, sizeof where, "profiles/versions.yaml:%d:3:", versions_line("  supportsUKI:\n"));
    CHECK(msg && strstr(msg, where) && strstr(msg, "unknown quirk 'supportsUFO'"));
    free(msg);
    free(text);

    /* a value of the wrong type: a bool that is not true/false, a size that is not a number, an
     * enum outside its choices */
    static const struct {
        const char *from, *to, *want;
    } bad[] = {
        {"    - {since: v1.5.0, value: true}", "    - {since: v1.5.0, value: yes-ish}", "not true or false"},
        {"    - {before: v1.11.0, value: 1000}", "    - {before: v1.11.0, value: 1000MiB}", "not a size in MiB"},
        {"    - {before: v1.8.0, value: xz}", "    - {before: v1.8.0, value: lz4}", "not one of xz, zstd"},
        {"    - {secureBoot: true, value: uefi}", "    - {secureBoot: true, value: floppy}",
         "not one of grub, uefi, hybrid, bootloader"},
        {"    - {before: v1.12.0, value: c2615c96", "    - {before: v1.12.0, value: C2615c96",
         "not 64 lower-case hex digits"},
        {"    - {before: v1.12.0, value: 590538}", "    - {before: v1.12.0, value: 590538B}", "not a size in bytes"},
        {"    - {since: v1.11.0-alpha.3, value: true}", "    - {since: v1.11.0-alpha.03, value: true}",
         "expected a version like"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        text = versions_with(bad[i].from, bad[i].to);
        CHECK(text != NULL);
        msg = text ? versions_error(text) : NULL;
        snprintf(where, sizeof where, "profiles/versions.yaml:%d:", versions_line(bad[i].from));
        if (!msg || !strstr(msg, where) || !strstr(msg, bad[i].want))
            printf("  case %zu: %s\n", i, msg ? msg : "(loaded)");
        CHECK(msg && strstr(msg, where) && strstr(msg, bad[i].want));
        free(msg);
        free(text);
    }

    /* a missing quirk, and one whose last rule has a condition (some versions would get none) */
    text = versions_with("  biosPartitionSize:\n    - {value: 1}\n", "");
    msg = text ? versions_error(text) : NULL;
    CHECK(msg && strstr(msg, "quirk 'biosPartitionSize' is missing"));
    free(msg);
    free(text);
    text = versions_with("  biosPartitionSize:\n    - {value: 1}\n",
                         "  biosPartitionSize:\n    - {since: v1.0.0, value: 1}\n");
    msg = text ? versions_error(text) : NULL;
    CHECK(msg && strstr(msg, "quirk biosPartitionSize: the last rule must have no condition"));
    free(msg);
    free(text);
    /* given twice */
    text = versions_with("  biosPartitionSize:\n", "  metaPartitionSize:\n    - {value: 1}\n  biosPartitionSize:\n");
    msg = text ? versions_error(text) : NULL;
    if (!msg || !strstr(msg, "metaPartitionSize"))
        printf("  twice: %s\n", msg ? msg : "(loaded)");
    CHECK(msg && strstr(msg, "metaPartitionSize"));
    free(msg);
    free(text);
}

static void broken_profile_data_is_reported(void)
{
    struct profile_set *set = NULL;
    struct error err = {0};
    CHECK_INT(profile_set_load_texts("platforms:\n  - name: x\n    colour: red\n", "profiles: []\n", "{}\n", &set, &err),
              -1);
    CHECK(strstr(err.message, "profiles/platforms.yaml:3:5") && strstr(err.message, "colour"));
    CHECK(set == NULL);
}

int main(void)
{
    struct error err = {0};
    if (profile_set_load(&profiles, &err) < 0) {
        printf("FAIL profile_set_load: %s\n", err.message);
        return 1;
    }
    RUN(imager_test_vectors);
    RUN(iso_inserts_halt_if_installed);
    RUN(extra_kernel_args_overwrite_and_delete);
    RUN(secureboot_args);
    RUN(platform_args_by_version);
    RUN(overlay_args_replace_platform_args);
    RUN(meta_goes_into_talos_environment);
    RUN(long_meta_is_gzipped_deterministically);
    RUN(installer_and_uki_take_extra_args_from_1_10);
    RUN(procfs_algebra);
    RUN(rejects_bad_requests);
    RUN(profiles_hold_the_32_builtin_profiles);
    RUN(platforms_describe_image_factory);
    RUN(quirks_by_version);
    RUN(quirks_serve_and_splash);
    RUN(broken_profile_data_is_reported);
    RUN(quirks_loader_refuses_bad_data);
    profile_set_free(profiles);
    return TEST_MAIN_END();
}
