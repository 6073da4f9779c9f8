/* Tests of the catalog module: Image Factory's extensions and overlays catalog files, the optional
 * descriptions.yaml (catalogs before Talos 1.7 have none) and the extension name aliases
 * (profiles/extension-aliases.yaml, image-factory internal/profile/profile.go ExtensionNameAlias). */
#include <stdlib.h>

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

int main(void)
{
    RUN(catalog_without_descriptions_parses);
    RUN(descriptions_are_applied_when_present);
    RUN(renamed_extensions_resolve_by_alias);
    RUN(bad_image_digests_line_is_a_clear_error);
    return TEST_MAIN_END();
}
