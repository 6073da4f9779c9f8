/* Unit tests for src/talos/asset_path: Image Factory's asset names, parsed and formatted.
 * 1. tests/data/asset-names.tsv, the table every entry point is checked against (the integration
 *    suite asset_names.sh feeds the same file to `airfactory disk plan`, `airfactory plan` and
 *    airfactory-serve's /image route);
 * 2. composing names (asset_path_init, asset_path_set_image_suffix) and a build manifest's
 *    arch-less names (asset_path_parse_archless);
 * 3. every canonical name parses back to itself. */
#include <stdlib.h>
#include <string.h>

#include "airfactory/asset_path.h"
#include "core/fs.h"
#include "airfactory/buffer.h"
#include "core/memory.h"
#include "test.h"

/* "kind platform arch canonical[ sb]" or "ERROR message" */
static char *describe(const char *name)
{
    struct asset_path a;
    struct error err = {0};
    if (asset_path_parse(name, &a, &err) < 0)
        return xasprintf("ERROR %s", err.message);
    char out[ASSET_PATH_MAX];
    asset_path_format(&a, out);
    /* the canonical name is a fixed point */
    struct asset_path again;
    if (asset_path_parse(out, &again, &err) < 0 || memcmp(&a, &again, sizeof a) != 0)
        return xasprintf("canonical %s does not parse back", out);
    return xasprintf("%s %s %s %s%s", asset_kind_name(a.kind), a.platform, a.arch, out, a.secureboot ? " sb" : "");
}

static void table_of_names(void)
{
    const char *root = getenv("ROOT");
    char *path = root ? path_join(root, "tests/data/asset-names.tsv") : xstrdup("tests/data/asset-names.tsv");
    struct buffer text = BUFFER_INIT;
    struct error err = {0};
    CHECK_INT(fs_read_file(path, 1 << 20, &text, &err), 0);
    int rows = 0;
    char *s = (char *)buffer_cstr(&text);
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        char *tab = strchr(line, '\t');
        CHECK(tab != NULL);
        if (!tab)
            continue;
        *tab = '\0';
        char *got = describe(line);
        if (strcmp(got, tab + 1))
            printf("  %s\n", line);
        CHECK_STR(got, tab + 1);
        free(got);
        rows++;
    }
    CHECK(rows >= 40);
    buffer_free(&text);
    free(path);
}

static void odd_inputs(void)
{
    char *got = describe("");
    CHECK_STR(got, "ERROR invalid profile path: \"\"");
    free(got);
    char long_name[400];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    got = describe(long_name);
    CHECK(!strncmp(got, "ERROR invalid profile path:", 27));
    free(got);
    got = describe("-installer-.tar");
    CHECK_STR(got, "ERROR invalid platform-arch: \"-\" (no platform before the architecture)");
    free(got);
}

static void composing(void)
{
    struct asset_path a;
    struct error err = {0};
    char out[ASSET_PATH_MAX];
    asset_path_init(&a, ASSET_KERNEL, NULL, "arm64", false);
    asset_path_format(&a, out);
    CHECK_STR(out, "kernel-arm64");
    asset_path_init(&a, ASSET_UKI, "metal", "amd64", true);
    asset_path_format(&a, out);
    CHECK_STR(out, "metal-amd64-secureboot-uki.efi");
    asset_path_init(&a, ASSET_CMDLINE, "digital-ocean", "amd64", false);
    asset_path_format(&a, out);
    CHECK_STR(out, "cmdline-digital-ocean-amd64");
    asset_path_init(&a, ASSET_IMAGE, "gcp", "amd64", false);
    CHECK_INT(asset_path_set_image_suffix(&a, "raw.tar.gz", &err), 0);
    asset_path_format(&a, out);
    CHECK_STR(out, "gcp-amd64.raw.tar.gz");
    CHECK_INT(asset_path_set_image_suffix(&a, "img.xz", &err), -1);
    CHECK_INT(asset_path_set_image_suffix(&a, "x.raw", &err), -1);
}

static void archless_names(void)
{
    static const struct {
        const char *name, *arch, *expected;
    } cases[] = {
        {"kernel", "arm64", "kernel-arm64"},
        {"initramfs.xz", "amd64", "initramfs-amd64.xz"},
        {"installer.tar", "amd64", "installer-amd64.tar"},
        {"installer-secureboot.tar", "arm64", "installer-arm64-secureboot.tar"},
        {"cmdline-metal", "amd64", "cmdline-metal-amd64"},
        {"cmdline-metal-secureboot", "amd64", "cmdline-metal-amd64-secureboot"},
        {"metal.iso", "arm64", "metal-arm64.iso"},
        {"metal-secureboot.iso", "amd64", "metal-amd64-secureboot.iso"},
        {"metal-uki.efi", "amd64", "metal-amd64-uki.efi"},
        {"metal-secureboot-uki.efi", "amd64", "metal-amd64-secureboot-uki.efi"},
        {"aws-installer.tar", "arm64", "aws-installer-arm64.tar"},
        {"metal.raw.zst", "amd64", "metal-amd64.raw.zst"},
        {"digital-ocean.raw.gz", "amd64", "digital-ocean-amd64.raw.gz"},
        {"metal-secureboot.raw.zst", "amd64", "metal-amd64-secureboot.raw.zst"},
        {"metal", "amd64", NULL},
        {".iso", "amd64", NULL},
        {"metal-amd64.iso", "arm64", NULL}, /* names amd64 */
        {"metal.img", "amd64", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct asset_path a;
        struct error err = {0};
        int rc = asset_path_parse_archless(cases[i].name, cases[i].arch, &a, &err);
        if (!cases[i].expected) {
            if (rc == 0)
                printf("  %s: parsed\n", cases[i].name);
            CHECK_INT(rc, -1);
            continue;
        }
        CHECK_INT(rc, 0);
        char out[ASSET_PATH_MAX] = "";
        if (rc == 0)
            asset_path_format(&a, out);
        CHECK_STR(out, cases[i].expected);
    }
}

int main(void)
{
    RUN(table_of_names);
    RUN(odd_inputs);
    RUN(composing);
    RUN(archless_names);
    return TEST_MAIN_END();
}
