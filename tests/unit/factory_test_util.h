/* factory_test_util — what the factory's unit tests (test_factory.c, test_installer.c) share: their
 * assets named as strings, turned into the typed request factory_build takes (parsed asset names,
 * the schematic's ID and canonical YAML computed once, as cmd_build takes them from the manifest). */
#ifndef AIRFACTORY_FACTORY_TEST_UTIL_H
#define AIRFACTORY_FACTORY_TEST_UTIL_H

#include "airfactory/buffer.h"
#include "airfactory/factory.h"

struct test_asset {
    size_t schematic;
    const char *version, *arch, *path; /* arch: the path's, for the reader */
};

#define FT_MAX_ASSETS 8

struct ft_typed {
    char id[SCHEMATIC_ID_HEX_LEN + 1];
    struct buffer yaml;
    struct factory_asset assets[FT_MAX_ASSETS];
};

/* Fill t from s and the wanted assets; 0 or -1 with err. Free with ft_typed_free. */
static inline int ft_typed_init(struct ft_typed *t, const struct schematic *s, const struct test_asset *wanted,
                                size_t count, struct error *err)
{
    t->yaml = (struct buffer)BUFFER_INIT;
    if (count > FT_MAX_ASSETS)
        return error_set(err, ERROR_INPUT, "at most %d test assets", FT_MAX_ASSETS);
    if (schematic_id(s, t->id, err) != 0 || schematic_marshal(s, &t->yaml, err) != 0)
        return -1;
    for (size_t i = 0; i < count; i++) {
        t->assets[i] = (struct factory_asset){.schematic = wanted[i].schematic, .version = wanted[i].version};
        if (asset_path_parse(wanted[i].path, &t->assets[i].name, err) != 0)
            return -1;
    }
    return 0;
}

static inline void ft_typed_free(struct ft_typed *t)
{
    buffer_free(&t->yaml);
}

#endif
