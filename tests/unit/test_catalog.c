/* Tests of the catalog module: Image Factory's extensions and overlays catalog files, the optional
 * descriptions.yaml (catalogs before Talos 1.7 have none) and the extension name aliases
 * (profiles/extension-aliases.yaml, image-factory internal/profile/profile.go ExtensionNameAlias). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imager/catalog.h"
#include "test.h"

static const char *digests =
    "ghcr.io/siderolabs/i915:20250109-v1.11.3@sha256:1111111111111111111111111111111111111111111111111111111111111111\n"
    "ghcr.io/siderolabs/v4l-uvc-drivers:v1.11.3@sha256:2222222222222222222222222222222222222222222222222222222222222222\n"
    "ghcr.io/siderolabs/gasket:v1.11.3@sha256:3333333333333333333333333333333333333333333333333333333333333333\n"
    "ghcr.io/siderolabs/gasket-driver:v1.11.3@sha256:4444444444444444444444444444444444444444444444444444444444444444\n";

static void catalog_without_descriptions_parses(void)
{
    struct catalog c = {0};
    struct error err = {0};
    CHECK_INT(catalog_parse_extensions(&c, digests, strlen(digests), NULL, 0, "extensions:v1.6.7", &err), 0);
    CHECK_INT(c.extension_count, 4);
    const struct catalog_extension *e = catalog_find_extension(&c, "siderolabs/i915");
    CHECK(e != NULL);
    if (e) {
        CHECK_STR(e->author, "");
        CHECK_STR(e->description, "");
        CHECK_STR(e->tag, "20250109-v1.11.3");
    }
    catalog_free(&c);
    /* an empty descriptions.yaml is no descriptions either */
    CHECK_INT(catalog_parse_extensions(&c, digests, strlen(digests), "", 0, "extensions:v1.6.7", &err), 0);
    CHECK_INT(c.extension_count, 4);
    catalog_free(&c);
}

static void descriptions_are_applied_when_present(void)
{
    const char *desc = "ghcr.io/siderolabs/i915:20250109-v1.11.3@sha256:"
                       "1111111111111111111111111111111111111111111111111111111111111111:\n"
                       "  author: Sidero Labs\n  description: Intel GPU firmware\n";
    struct catalog c = {0};
    struct error err = {0};
    CHECK_INT(catalog_parse_extensions(&c, digests, strlen(digests), desc, strlen(desc), "x", &err), 0);
    const struct catalog_extension *e = catalog_find_extension(&c, "siderolabs/i915");
    CHECK(e && strcmp(e->author, "Sidero Labs") == 0 && strcmp(e->description, "Intel GPU firmware") == 0);
    catalog_free(&c);
}

static void renamed_extensions_resolve_by_alias(void)
{
    struct catalog c = {0};
    struct error err = {0};
    CHECK_INT(catalog_parse_extensions(&c, digests, strlen(digests), NULL, 0, "x", &err), 0);
    /* Image Factory's eleven aliases are all loaded */
    CHECK_INT(c.alias_count, 11);
    const struct catalog_extension *e = catalog_find_extension(&c, "siderolabs/i915-ucode");
    CHECK(e != NULL && strcmp(e->name, "siderolabs/i915") == 0);
    e = catalog_find_extension(&c, "siderolabs/v4l-uvc");
    CHECK(e != NULL && strcmp(e->name, "siderolabs/v4l-uvc-drivers") == 0);
    /* a name the catalog lists is taken as it is, even when an alias exists */
    e = catalog_find_extension(&c, "siderolabs/gasket");
    CHECK(e != NULL && strcmp(e->name, "siderolabs/gasket") == 0);
    /* an alias whose new name the catalog lacks is still absent */
    CHECK(catalog_find_extension(&c, "siderolabs/amdgpu-firmware") == NULL);
    /* aliases are one step: the new name is not aliased again, and unknown names stay unknown */
    CHECK(catalog_find_extension(&c, "siderolabs/no-such-thing") == NULL);
    catalog_free(&c);
}

static void bad_image_digests_line_is_a_clear_error(void)
{
    const char *bad = "ghcr.io/siderolabs/i915:v1\n";
    struct catalog c = {0};
    struct error err = {0};
    CHECK_INT(catalog_parse_extensions(&c, bad, strlen(bad), NULL, 0, "extensions:v1.6.7", &err), -1);
    CHECK(strstr(err.message, "extensions:v1.6.7: image-digests line 1") != NULL);
    catalog_free(&c);
}

/* References are split by registry_ref (the one owner of the grammar; go-containerregistry's
 * name.NewTag, which Image Factory reads image-digests with): the name is the repository path. */
static void references_follow_the_registry_grammar(void)
{
    const char *text =
        "localhost:5000/site/gvisor:v1@sha256:1111111111111111111111111111111111111111111111111111111111111111\n"
        "registry.local/a/b/c:v2@sha256:2222222222222222222222222222222222222222222222222222222222222222\n"
        "hello:v3@sha256:3333333333333333333333333333333333333333333333333333333333333333\n";
    struct catalog c = {0};
    struct error err = {0};
    CHECK_INT(catalog_parse_extensions(&c, text, strlen(text), NULL, 0, "x", &err), 0);
    CHECK(catalog_find_extension(&c, "site/gvisor") != NULL); /* "localhost" is a host */
    const struct catalog_extension *e = catalog_find_extension(&c, "a/b/c");
    CHECK(e && !strcmp(e->tag, "v2") && !strcmp(e->reference, "registry.local/a/b/c:v2"));
    CHECK(catalog_find_extension(&c, "library/hello") != NULL); /* Docker Hub's official images */
    catalog_free(&c);
    const char *bad[][2] = {
        {"ghcr.io/SideroLabs/x:v1@sha256:1111111111111111111111111111111111111111111111111111111111111111\n",
         "x: image-digests line 1: "},
        {"ghcr.io/siderolabs/x@sha256:1111111111111111111111111111111111111111111111111111111111111111\n", "has no :tag"},
        {"ghcr.io/siderolabs/x:v1@sha256:11\n", "x: image-digests line 1: "},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(catalog_parse_extensions(&c, bad[i][0], strlen(bad[i][0]), NULL, 0, "x", &err), -1);
        if (!strstr(err.message, bad[i][1]))
            printf("  case %zu: %s\n", i, err.message);
        CHECK(strstr(err.message, bad[i][1]) != NULL);
        catalog_free(&c);
    }
}

static void overlays_parse(void)
{
    const char *text = "overlays:\n"
                       "  - name: rpi_generic\n    image: ghcr.io/siderolabs/sbc-raspberrypi:v0.1.0\n"
                       "    digest: sha256:5555555555555555555555555555555555555555555555555555555555555555\n"
                       "  - name: jetson_nano\n    image: localhost/siderolabs/sbc-jetson:v0.1.0\n"
                       "    digest: sha256:6666666666666666666666666666666666666666666666666666666666666666\n";
    struct catalog c = {0};
    struct error err = {0};
    CHECK_INT(catalog_parse_overlays(&c, text, strlen(text), "overlays:v1.11.3", &err), 0);
    const struct catalog_overlay *o = catalog_find_overlay(&c, "rpi_generic");
    CHECK(o && !strcmp(o->image, "siderolabs/sbc-raspberrypi") &&
          !strcmp(o->reference, "ghcr.io/siderolabs/sbc-raspberrypi:v0.1.0"));
    o = catalog_find_overlay(&c, "jetson_nano");
    CHECK(o && !strcmp(o->image, "siderolabs/sbc-jetson"));
    catalog_free(&c);
    const char *bad = "overlays:\n  - {name: x, image: 'ghcr.io/Bad:v1', "
                      "digest: 'sha256:5555555555555555555555555555555555555555555555555555555555555555'}\n";
    CHECK_INT(catalog_parse_overlays(&c, bad, strlen(bad), "overlays:v1.11.3", &err), -1);
    CHECK(strstr(err.message, "overlays:v1.11.3: overlays.yaml:2:5: entry 1: ") != NULL);
    catalog_free(&c);
}

/* Catalog files from signed images go through core/yaml_document, with its limits (issue #14). */
static void catalog_yaml_has_the_core_limits(void)
{
    char laughs[2048] = "overlays: []\nl0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i < 10; i++)
        snprintf(laughs + strlen(laughs), sizeof laughs - strlen(laughs),
                 "l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n", i, i, i - 1, i - 1, i - 1,
                 i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    struct catalog c = {0};
    struct error err = {0};
    CHECK_INT(catalog_parse_overlays(&c, laughs, strlen(laughs), "overlays:v1.11.3", &err), -1);
    CHECK(strstr(err.message, "overlays:v1.11.3: overlays.yaml:") && strstr(err.message, "excessive aliasing"));
    catalog_free(&c);
    const char *dup = "a@sha256:1:\n  author: x\na@sha256:1:\n  author: y\n";
    CHECK_INT(catalog_parse_extensions(&c, digests, strlen(digests), dup, strlen(dup), "extensions:v1.11.3", &err), -1);
    CHECK(strstr(err.message, "extensions:v1.11.3: descriptions.yaml:3:1: duplicate key") != NULL);
    catalog_free(&c);
    const char *two = "{}\n---\n{}\n";
    CHECK_INT(catalog_parse_extensions(&c, digests, strlen(digests), two, strlen(two), "extensions:v1.11.3", &err), -1);
    CHECK(strstr(err.message, "descriptions.yaml:2:1: a second YAML document") != NULL);
    catalog_free(&c);
}

int main(void)
{
    RUN(catalog_without_descriptions_parses);
    RUN(descriptions_are_applied_when_present);
    RUN(renamed_extensions_resolve_by_alias);
    RUN(bad_image_digests_line_is_a_clear_error);
    RUN(references_follow_the_registry_grammar);
    RUN(overlays_parse);
    RUN(catalog_yaml_has_the_core_limits);
    return TEST_MAIN_END();
}
