/* End-to-end tests of the build orchestration on the Talos-shaped fixtures: signed OCI tarballs in,
 * one signed bundle out. Needs build/fixtures (make check makes them first). */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airfactory/bundle.h"
#include "airfactory/bundle_key.h"
#include "format/cpio.h"
#include "airfactory/factory.h"
#include "core/fs.h"
#include "core/memory.h"
#include "oci/oci_import.h"
#include "factory_test_util.h"
#include "test.h"

static char *fixtures;
static char scratch_dir[] = "/tmp/airfactory-factory-XXXXXX";
static struct verify_policy policy;

static char *fixture(const char *name)
{
    return path_join(fixtures, name);
}

static int build(const char *schematic_text, const struct test_asset *wanted, size_t asset_count, const char *output,
                 struct factory_stats *stats, struct error *err)
{
    struct schematic *s = NULL;
    if (schematic_parse(schematic_text, strlen(schematic_text), "test", &s, err) != 0)
        return -1;
    struct ft_typed typed;
    if (ft_typed_init(&typed, s, wanted, asset_count, err) != 0) {
        ft_typed_free(&typed);
        schematic_free(s);
        return -1;
    }
    char *paths[] = {
        fixture("imager-v1.11.3.oci.tar"),
        fixture("extensions-v1.11.3.oci.tar"),
        fixture("hello-world-service-v1.11.3.oci.tar"),
        fixture("test-firmware-20250101.oci.tar"),
        fixture("intel-ucode-20250812.oci.tar"),
    };
    struct factory_source sources[] = {
        {paths[0], SOURCE_ROLE_IMAGER, "ghcr.io/siderolabs/imager:v1.11.3", NULL, &policy, NULL, 0},
        {paths[1], SOURCE_ROLE_EXTENSIONS, "ghcr.io/siderolabs/extensions:v1.11.3", NULL, &policy, NULL, 0},
        {paths[2], SOURCE_ROLE_EXTENSION, "ghcr.io/siderolabs/hello-world-service:v1.11.3", NULL, &policy, NULL, 0},
        {paths[3], SOURCE_ROLE_EXTENSION, "ghcr.io/siderolabs/test-firmware:20250101", NULL, &policy, NULL, 0},
        {paths[4], SOURCE_ROLE_EXTENSION, "ghcr.io/siderolabs/intel-ucode:20250812", NULL, &policy, NULL, 0},
    };
    struct factory_schematic schematics[] = {{"test", s, typed.id, buffer_cstr(&typed.yaml), false}};
    char *key = path_join(scratch_dir, "bundle.key");
    char *store = path_join(scratch_dir, "store");
    struct factory_request r = {
        .sources = sources,
        .source_count = 5,
        .schematics = schematics,
        .schematic_count = 1,
        .assets = typed.assets,
        .asset_count = asset_count,
        .output = output,
        .signing_key = key,
        .store = store,
        .jobs = 2,
    };
    int rc = factory_build(&r, stats, err);
    for (size_t i = 0; i < 5; i++)
        free(paths[i]);
    free(key);
    free(store);
    schematic_free(s);
    ft_typed_free(&typed);
    return rc;
}

static const char *extensions_schematic =
    "customization:\n"
    "  extraKernelArgs: [console=ttyS0, talos.dashboard.disabled=1]\n"
    "  systemExtensions:\n"
    "    officialExtensions: [siderolabs/hello-world-service, siderolabs/test-firmware, siderolabs/intel-ucode]\n";

static void builds_signed_bundle_with_kernel_and_initramfs(void)
{
    struct test_asset assets[] = {
        {0, "v1.11.3", "amd64", "kernel-amd64"},
        {0, "v1.11.3", "amd64", "initramfs-amd64.xz"},
        {0, "v1.11.3", "arm64", "kernel-arm64"},
    };
    char *out = path_join(scratch_dir, "bundle");
    struct error err = {0};
    struct factory_stats stats = {0};
    int rc = build(extensions_schematic, assets, 3, out, &stats, &err);
    if (rc != 0)
        printf("  error: %s\n", err.message);
    CHECK_INT(rc, 0);
    CHECK_INT(stats.assets_built, 3);
    char *pub = path_join(scratch_dir, "bundle.pub");
    struct bundle *b = NULL;
    CHECK_INT(bundle_open(out, pub, &b, &err), 0);
    if (b) {
        /* the schematic ID of the extensions schematic, computed independently by the python oracle */
        struct bundle_asset a = {0};
        char yaml_id[65] = "";
        struct schematic *s = NULL;
        CHECK_INT(schematic_parse(extensions_schematic, strlen(extensions_schematic), "t", &s, &err), 0);
        CHECK_INT(schematic_id(s, yaml_id, &err), 0);
        schematic_free(s);
        CHECK_INT(bundle_find_asset(b, yaml_id, "v1.11.3", "kernel-amd64", &a, &err), 1);
        /* the kernel is the imager's vmlinuz byte for byte */
        char *vmlinuz = path_join(fixtures, "rootfs/imager-v1.11.3-amd64/usr/install/amd64/vmlinuz");
        char hex[65];
        CHECK_INT(sha256_file_hex(vmlinuz, hex, NULL, &err), 0);
        CHECK(a.digest && strcmp(a.digest + 7, hex) == 0);
        free(vmlinuz);
        bundle_asset_clear(&a);
        CHECK_INT(bundle_find_asset(b, yaml_id, "v1.11.3", "initramfs-amd64.xz", &a, &err), 1);
        CHECK(a.size > 0);
        bundle_asset_clear(&a);
        CHECK_INT(bundle_find_asset(b, yaml_id, "v1.11.3", "kernel-arm64", &a, &err), 1);
        bundle_asset_clear(&a);
        char *yaml = NULL;
        CHECK_INT(bundle_find_schematic(b, yaml_id, &yaml, &err), 1);
        CHECK(yaml && strstr(yaml, "siderolabs/intel-ucode") != NULL);
        free(yaml);
        bundle_close(b);
    }
    /* a rerun reuses every asset by cache key */
    memset(&stats, 0, sizeof stats);
    rc = build(extensions_schematic, assets, 3, out, &stats, &err);
    if (rc != 0)
        printf("  error: %s\n", err.message);
    CHECK_INT(rc, 0);
    CHECK_INT(stats.assets_built, 0);
    CHECK_INT(stats.assets_reused, 3);
    free(pub);
    free(out);
}

static void unknown_extension_is_a_clear_error_and_writes_nothing(void)
{
    const char *text = "customization:\n  systemExtensions:\n    officialExtensions: [siderolabs/no-such-thing]\n";
    struct test_asset assets[] = {{0, "v1.11.3", "amd64", "initramfs-amd64.xz"}};
    char *out = path_join(scratch_dir, "bad-bundle");
    struct error err = {0};
    CHECK_INT(build(text, assets, 1, out, NULL, &err), -1);
    CHECK(strstr(err.message, "siderolabs/no-such-thing") != NULL);
    CHECK(strstr(err.message, "v1.11.3") != NULL);
    CHECK(!fs_exists(out));
    free(out);
}

static void missing_imager_version_is_a_clear_error(void)
{
    struct test_asset assets[] = {{0, "v1.9.5", "amd64", "kernel-amd64"}};
    char *out = path_join(scratch_dir, "bad-bundle2");
    struct error err = {0};
    CHECK_INT(build("customization: {}", assets, 1, out, NULL, &err), -1);
    CHECK(strstr(err.message, "no imager source for Talos v1.9.5") != NULL);
    CHECK(!fs_exists(out));
    free(out);
}

int main(void)
{
    fixtures = getenv("FIXTURES") ? xstrdup(getenv("FIXTURES")) : xstrdup("build/fixtures");
    if (!mkdtemp(scratch_dir))
        return 1;
    struct error err = {0};
    char *prefix = path_join(scratch_dir, "bundle");
    char fingerprint[BUNDLE_KEY_FINGERPRINT_SIZE];
    if (bundle_key_generate(prefix, false, fingerprint, &err) != 0) {
        printf("FAIL setup: %s\n", err.message);
        return 1;
    }
    free(prefix);
    char *key = xstrdup("tests/keys/cosign.pub");
    policy.name = "fixtures";
    policy.public_keys = &key;
    policy.public_key_count = 1;
    RUN(builds_signed_bundle_with_kernel_and_initramfs);
    RUN(unknown_extension_is_a_clear_error_and_writes_nothing);
    RUN(missing_imager_version_is_a_clear_error);
    fs_remove_tree(scratch_dir, &err);
    free(key);
    free(fixtures);
    return TEST_MAIN_END();
}
