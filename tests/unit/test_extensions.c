/* Unit tests for src/imager/extensions.c: manifest validation (errors name the file and the
 * line), extension directory layout, blang/semver ranges, the exact extensions.yaml bytes, and
 * the virtual schematic extension. */
#include "imager/extensions.h"
#include "build_test_util.h"
#include "test.h"

static const char *good_manifest = "version: v1alpha1\n"
                                   "metadata:\n"
                                   "  name: gvisor\n"
                                   "  version: 20240212.0\n"
                                   "  author: Sidero Labs\n"
                                   "  description: |\n"
                                   "    This system extension provides gVisor.\n"
                                   "  compatibility:\n"
                                   "    talos:\n"
                                   "      version: \">= v1.7.0\"\n"
                                   "  unknownField: ignored, as Go's decoder does\n";

static void manifest_parses(void)
{
    struct extension_manifest m;
    struct error err = {0};
    CHECK_INT(extension_manifest_parse(good_manifest, strlen(good_manifest), "m.yaml", &m, &err), 0);
    CHECK_STR(m.name, "gvisor");
    CHECK_STR(m.version, "20240212.0");
    CHECK_STR(m.author, "Sidero Labs");
    CHECK_STR(m.description, "This system extension provides gVisor.\n");
    CHECK_STR(m.talos_constraint, ">= v1.7.0");
    CHECK_STR(m.extra_info, "");
    extension_manifest_free(&m);
}

static void expect_manifest_error(const char *text, const char *needle)
{
    struct extension_manifest m;
    struct error err = {0};
    CHECK_INT(extension_manifest_parse(text, strlen(text), "ext/manifest.yaml", &m, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    if (!strstr(err.message, needle))
        printf("  message \"%s\" lacks \"%s\"\n", err.message, needle);
    CHECK(strstr(err.message, needle) != NULL);
    CHECK(strncmp(err.message, "ext/manifest.yaml", 17) == 0);
}

static void bad_manifests_are_rejected_with_positions(void)
{
    expect_manifest_error("", "the document is empty");
    expect_manifest_error("# only a comment\n", "the document is empty");
    expect_manifest_error("- a\n- b\n", "must be a mapping");
    expect_manifest_error("version: v1alpha2\nmetadata:\n  name: x\n  version: 1\n", "unsupported manifest version");
    expect_manifest_error("metadata:\n  name: x\n  version: 1\n", "unsupported manifest version \"\"");
    expect_manifest_error("version: v1alpha1\n", "'metadata:' is missing");
    expect_manifest_error("version: v1alpha1\nmetadata:\n  version: 1\n", "metadata.name is missing");
    expect_manifest_error("version: v1alpha1\nmetadata:\n  name: x\n", "metadata.version is missing");
    expect_manifest_error("version: v1alpha1\nmetadata:\n  name: [a]\n  version: 1\n", ":3:9: metadata.name must be");
    expect_manifest_error("version: v1alpha1\nmetadata:\n  name: x\n  name: y\n  version: 1\n",
                          ":4:3: duplicate key 'name'");
    expect_manifest_error("version: v1alpha1\nmetadata: {name: x\n", "check the YAML syntax");
    /* core/yaml_document's limits hold for a signed image's manifest too (issue #14) */
    expect_manifest_error("version: v1alpha1\nmetadata:\n  name: &n x\n  version: *n\n---\nx: 1\n",
                          "ext/manifest.yaml:5:1: a second YAML document");
    char laughs[2048] = "version: v1alpha1\nl0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i < 10; i++) /* a billion laughs: refused by the node limit, not expanded */
        snprintf(laughs + strlen(laughs), sizeof laughs - strlen(laughs),
                 "l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n", i, i, i - 1, i - 1, i - 1,
                 i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    expect_manifest_error(laughs, "excessive aliasing");
    expect_manifest_error("version: !!binary djE=\nmetadata: {name: x, version: 1}\n",
                          "ext/manifest.yaml:1:10: unsupported tag");
    expect_manifest_error("version: v1alpha1\nmetadata:\n  name: x\n  version: 1\n  compatibility:\n    talos:\n"
                          "      version: \">= banana\"\n",
                          "metadata.compatibility.talos.version");
}

static void extension_directories_are_validated(void)
{
    char *dir = bt_scratch();
    char *ok = path_join(dir, "ok"), *p;
    p = path_join(ok, "manifest.yaml");
    bt_write_str(p, good_manifest);
    free(p);
    p = path_join(ok, "rootfs/usr/local/x");
    bt_write_str(p, "x");
    free(p);
    struct extension e;
    struct error err = {0};
    CHECK_INT(extension_load(ok, NULL, &e, &err), 0);
    CHECK(e.rootfs && strstr(e.rootfs, "/ok/rootfs"));
    CHECK_INT(extension_check_compatibility(&e, "v1.7.0", &err), 0);
    CHECK_INT(extension_check_compatibility(&e, "v1.11.3", &err), 0);
    CHECK_INT(extension_check_compatibility(&e, "v1.6.9", &err), -1);
    CHECK(strstr(err.message, "gvisor") && strstr(err.message, ">= v1.7.0") && strstr(err.message, "v1.6.9"));
    extension_free(&e);

    char *extra = path_join(dir, "extra");
    p = path_join(extra, "manifest.yaml");
    bt_write_str(p, good_manifest);
    free(p);
    p = path_join(extra, "rootfs/a");
    bt_write_str(p, "a");
    free(p);
    p = path_join(extra, "README");
    bt_write_str(p, "not allowed");
    free(p);
    CHECK_INT(extension_load(extra, NULL, &e, &err), -1);
    CHECK(strstr(err.message, "unexpected entry \"README\"") && strstr(err.message, extra));

    char *nomanifest = path_join(dir, "nomanifest");
    p = path_join(nomanifest, "rootfs/a");
    bt_write_str(p, "a");
    free(p);
    CHECK_INT(extension_load(nomanifest, NULL, &e, &err), -1);
    CHECK(strstr(err.message, "manifest.yaml is missing"));

    char *norootfs = path_join(dir, "norootfs");
    p = path_join(norootfs, "manifest.yaml");
    bt_write_str(p, good_manifest);
    free(p);
    CHECK_INT(extension_load(norootfs, NULL, &e, &err), -1);
    CHECK(strstr(err.message, "rootfs is missing"));

    char *bad = path_join(dir, "bad");
    p = path_join(bad, "manifest.yaml");
    bt_write_str(p, "version: v1alpha1\nmetadata: 7\n");
    free(p);
    p = path_join(bad, "rootfs/a");
    bt_write_str(p, "a");
    free(p);
    CHECK_INT(extension_load(bad, NULL, &e, &err), -1);
    CHECK(strstr(err.message, "bad/manifest.yaml:2:11"));
    free(ok);
    free(extra);
    free(nomanifest);
    free(norootfs);
    free(bad);
    bt_remove(dir);
    free(dir);
}

static void semver_ranges_follow_blang(void)
{
    struct {
        const char *range, *version;
        int expect; /* 1 satisfied, 0 not, -1 error */
    } cases[] = {
        {">= v1.7.0", "v1.7.0", 1},
        {">= v1.7.0", "1.6.99", 0},
        {">=1.7.0", "v1.8.0-alpha.1", 1}, /* pre-release of the image version is ignored */
        {"> 1.7.0", "1.7.0", 0},
        {"<1.10.0", "1.9.5", 1},
        {"<=1.9.5", "1.9.5", 1},
        {">= v1.8.0 < v2.0.0", "1.11.3", 1},
        {">= v1.8.0 < v1.10.0", "1.11.3", 0},
        {"<1.0.0 || >=1.9.0", "1.9.1", 1},
        {"<1.0.0 || >=1.9.0", "1.5.0", 0},
        {"1.9.5", "1.9.5", 1},
        {"=1.9.5", "1.9.6", 0},
        {"!=1.9.5", "1.9.6", 1},
        {"1.9.x", "1.9.17", 1},
        {"1.x", "2.0.0", 0},
        {">1.9.x", "1.10.0", 1},
        {"<=1.9.x", "1.9.99", 1},
        {">= v1.10.0-alpha.0", "1.10.0", 1},
        {">= v1.7", "1.8.0", -1},
        {">= banana", "1.8.0", -1},
        {"", "1.8.0", -1},
        {"|| 1.0.0", "1.8.0", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool ok = false;
        struct error err = {0};
        int rc = semver_range_check(cases[i].range, cases[i].version, &ok, &err);
        int got = rc ? -1 : ok;
        if (got != cases[i].expect)
            printf("  \"%s\" vs %s: got %d, expected %d (%s)\n", cases[i].range, cases[i].version, got, cases[i].expect,
                   err.message);
        CHECK_INT(got, cases[i].expect);
    }
}

/* The bytes Talos' Go encoder writes: 4-space indent, indented "- " items, quoting of strings
 * that would read as numbers, single quotes for indicators, literal blocks for multi-line. */
static void extensions_yaml_matches_go(void)
{
    struct extension_manifest a = {(char *)"gvisor",      (char *)"20240212.0",
                                   (char *)"Sidero Labs", (char *)"This system extension provides gVisor.\n",
                                   (char *)">= v1.7.0",   (char *)""};
    struct extension_manifest b = {(char *)"schematic",
                                   (char *)"376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba",
                                   (char *)"Image Factory (https://factory.talos.dev)",
                                   (char *)"Virtual extension which specifies the schematic of the image built with "
                                           "schematic.",
                                   (char *)">= 1.0.0",
                                   (char *)"customization: {}\n"};
    struct extensions_layer layers[] = {{"0.sqsh", &a}, {"1.sqsh", &b}};
    struct buffer out = BUFFER_INIT;
    struct error err = {0};
    CHECK_INT(extensions_yaml_write(layers, 2, &out, &err), 0);
    CHECK_STR(buffer_cstr(&out), "layers:\n"
                                 "    - image: 0.sqsh\n"
                                 "      metadata:\n"
                                 "        name: gvisor\n"
                                 "        version: \"20240212.0\"\n"
                                 "        author: Sidero Labs\n"
                                 "        description: |\n"
                                 "            This system extension provides gVisor.\n"
                                 "        compatibility:\n"
                                 "            talos:\n"
                                 "                version: '>= v1.7.0'\n"
                                 "    - image: 1.sqsh\n"
                                 "      metadata:\n"
                                 "        name: schematic\n"
                                 "        version: 376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba\n"
                                 "        author: Image Factory (https://factory.talos.dev)\n"
                                 "        description: Virtual extension which specifies the schematic of the image "
                                 "built with schematic.\n"
                                 "        compatibility:\n"
                                 "            talos:\n"
                                 "                version: '>= 1.0.0'\n"
                                 "        extraInfo: |\n"
                                 "            customization: {}\n");
    buffer_free(&out);
}

static void schematic_extension_is_an_extension(void)
{
    char *dir = bt_scratch();
    char *ext = path_join(dir, "schematic");
    const char *id = "9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c";
    struct schematic_extension se = {id, NULL, NULL, "customization:\n    extraKernelArgs:\n        - noapic\n"};
    struct error err = {0};
    CHECK_INT(extension_schematic_create(ext, &se, &err), 0);
    struct extension e;
    CHECK_INT(extension_load(ext, NULL, &e, &err), 0);
    CHECK_STR(e.manifest.name, "schematic");
    CHECK_STR(e.manifest.version, id);
    CHECK_STR(e.manifest.author, "Image Factory");
    CHECK_STR(e.manifest.talos_constraint, ">= 1.0.0");
    CHECK_STR(e.manifest.extra_info, "customization:\n    extraKernelArgs:\n        - noapic\n");
    extension_free(&e);
    char *marker = xasprintf("%s/rootfs/usr/local/share/schematic/%s", ext, id);
    struct stat st;
    CHECK(stat(marker, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0);
    struct schematic_extension bad = {"NOT-AN-ID", NULL, NULL, NULL};
    CHECK_INT(extension_schematic_create(ext, &bad, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    free(marker);
    free(ext);
    bt_remove(dir);
    free(dir);
}

int main(void)
{
    RUN(manifest_parses);
    RUN(bad_manifests_are_rejected_with_positions);
    RUN(extension_directories_are_validated);
    RUN(semver_ranges_follow_blang);
    RUN(extensions_yaml_matches_go);
    RUN(schematic_extension_is_an_extension);
    return TEST_MAIN_END();
}
