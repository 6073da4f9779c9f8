/* profile — see profile.h.
 *
 * The three data files are compiled in (core/embed.h). */
#include "talos/profile.h"
#include "airfactory/buffer.h"
#include "core/embed.h"
#include "core/fs.h"
#include "core/memory.h"
#include "core/yaml_document.h"

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

EMBED(airfactory_profiles_platforms_yaml, "profiles/platforms.yaml");
EMBED(airfactory_profiles_profiles_yaml, "profiles/profiles.yaml");
EMBED(airfactory_profiles_versions_yaml, "profiles/versions.yaml");
EMBED(airfactory_profiles_talos_images_yaml, "profiles/talos-images.yaml");

/* -------------------------------------------------------------------- data */

struct rule {
    bool has_since, has_before;
    struct talos_version since, before;
    char *arch;     /* NULL = any */
    int secureboot; /* -1 = any */
    char **args;
    size_t arg_count;
    char *value;
    long long number; /* the value as the quirk's type reads it (bool 0/1, MiB, choice index) */
};

struct rule_list {
    struct rule *rules;
    size_t count;
};

struct platform_entry {
    struct profile_platform pub;
    char **owned[3]; /* aliases, arches, boot methods */
    struct rule_list kernel_args;
};

/* The quirks the code knows (profile.h struct talos_quirks): YAML key, type, field. */
enum quirk_type { QUIRK_BOOL, QUIRK_MIB, QUIRK_STRING, QUIRK_CHOICE, QUIRK_SHA256, QUIRK_BYTES };
struct quirk_def {
    const char *key;
    enum quirk_type type;
    size_t offset;
    const char *const *choices; /* QUIRK_CHOICE: the value is the index into this NULL-terminated list */
};
static const char *const compression_choices[] = {"xz", "zstd", NULL};
/* in enum schematic_bootloader order, NONE excluded (index + 1) */
static const char *const bootloader_choices[] = {"dual-boot", "sd-boot", "grub", NULL};
static const char *const iso_kind_choices[] = {"grub", "uefi", "hybrid", "bootloader", NULL};
#define Q(key, type, field, choices)                                                                                   \
    {                                                                                                                  \
        key, type, offsetof(struct talos_quirks, field), choices                                                       \
    }
static const struct quirk_def quirk_defs[] = {
    Q("supported", QUIRK_BOOL, supported, NULL),
    Q("supportsUKI", QUIRK_BOOL, supports_uki, NULL),
    Q("compressedMeta", QUIRK_BOOL, compressed_meta, NULL),
    Q("supportsOverlay", QUIRK_BOOL, supports_overlay, NULL),
    Q("compression", QUIRK_CHOICE, compression, compression_choices),
    Q("isoLabel", QUIRK_BOOL, iso_label, NULL),
    Q("grubResetEntry", QUIRK_BOOL, grub_reset_entry, NULL),
    Q("skipDataPartitions", QUIRK_BOOL, skip_data_partitions, NULL),
    Q("supportsImageCache", QUIRK_BOOL, supports_image_cache, NULL),
    Q("imageCacheGrowsDisk", QUIRK_BOOL, image_cache_grows_disk, NULL),
    Q("sdBootForUEFI", QUIRK_BOOL, sdboot_for_uefi, NULL),
    Q("ukiProfiles", QUIRK_BOOL, uki_profiles, NULL),
    Q("installerBaseImage", QUIRK_STRING, installer_base_image, NULL),
    Q("installerUKIName", QUIRK_STRING, installer_uki_name, NULL),
    Q("kernelModulesPath", QUIRK_STRING, kernel_modules_path, NULL),
    Q("firmwarePath", QUIRK_STRING, firmware_path, NULL),
    Q("installerExtraKernelArgs", QUIRK_BOOL, installer_extra_kernel_args, NULL),
    Q("defaultBootloader", QUIRK_CHOICE, default_bootloader, bootloader_choices),
    Q("isoKind", QUIRK_CHOICE, iso_kind, iso_kind_choices),
    Q("bootPartitionSize", QUIRK_MIB, boot_partition_mib, NULL),
    Q("grubEFIPartitionSize", QUIRK_MIB, grub_efi_partition_mib, NULL),
    Q("biosPartitionSize", QUIRK_MIB, bios_partition_mib, NULL),
    Q("ukiEFIPartitionSize", QUIRK_MIB, uki_efi_partition_mib, NULL),
    Q("metaPartitionSize", QUIRK_MIB, meta_partition_mib, NULL),
    Q("statePartitionSize", QUIRK_MIB, state_partition_mib, NULL),
    Q("embeddedConfig", QUIRK_BOOL, embedded_config, NULL),
    Q("secureBootDiskEnrollKeys", QUIRK_BOOL, secureboot_disk_enroll_keys, NULL),
    Q("isoRandomSeed", QUIRK_BOOL, iso_random_seed, NULL),
    Q("ukiSplashSHA256", QUIRK_SHA256, uki_splash_sha256, NULL),
    Q("ukiSplashSize", QUIRK_BYTES, uki_splash_size, NULL),
    Q("supportsFactoryTalosctlDownload", QUIRK_BOOL, supports_factory_talosctl_download, NULL),
};
#undef Q
#define QUIRK_COUNT (sizeof quirk_defs / sizeof quirk_defs[0])

struct profile_set {
    struct platform_entry *platforms;
    size_t platform_count;
    struct profile *profiles;
    size_t profile_count;
    struct rule_list default_args, secureboot_args, iso_args;
    struct rule_list quirks[QUIRK_COUNT]; /* by quirk_defs index; each rule's value checked at load */
    char *platform_names;
    char **strings; /* every string handed out, freed with the set */
    size_t string_count, string_cap;
};

static const char *keep(struct profile_set *set, char *s)
{
    if (set->string_count == set->string_cap) {
        set->string_cap = set->string_cap ? set->string_cap * 2 : 64;
        set->strings = xrealloc(set->strings, set->string_cap * sizeof *set->strings);
    }
    set->strings[set->string_count++] = s;
    return s;
}

static void free_rules(struct rule_list *l)
{
    for (size_t i = 0; i < l->count; i++) {
        for (size_t k = 0; k < l->rules[i].arg_count; k++)
            free(l->rules[i].args[k]);
        free(l->rules[i].args);
        free(l->rules[i].arch);
        free(l->rules[i].value);
    }
    free(l->rules);
}

void profile_set_free(struct profile_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->platform_count; i++) {
        for (int k = 0; k < 3; k++)
            free(set->platforms[i].owned[k]);
        free_rules(&set->platforms[i].kernel_args);
    }
    free(set->platforms);
    free(set->profiles);
    free_rules(&set->default_args);
    free_rules(&set->secureboot_args);
    free_rules(&set->iso_args);
    for (size_t i = 0; i < QUIRK_COUNT; i++)
        free_rules(&set->quirks[i]);
    free(set->platform_names);
    for (size_t i = 0; i < set->string_count; i++)
        free(set->strings[i]);
    free(set->strings);
    free(set);
}

void profile_args_free(struct profile_args *args)
{
    for (size_t i = 0; i < args->count; i++)
        free(args->items[i]);
    free(args->items);
    args->items = NULL;
    args->count = 0;
}

static void args_push(struct profile_args *out, const char *s)
{
    out->items = xrealloc(out->items, (out->count + 1) * sizeof *out->items);
    out->items[out->count++] = xstrdup(s);
}

/* ----------------------------------------------------------------- loading */

struct loader {
    const char *what;
    struct error *err;
};

static int bad(struct loader *l, const struct yaml_node *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(struct loader *l, const struct yaml_node *n, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return error_set(l->err, ERROR_RUNTIME, "%s:%d:%d: built-in profile data: %s", l->what, n->line, n->column, msg);
}

static int get_string(struct loader *l, const struct yaml_node *n, char **out)
{
    if (n->kind != YAML_NODE_SCALAR)
        return bad(l, n, "expected a string");
    *out = xstrndup(n->value, n->length);
    return 0;
}

static int get_bool(struct loader *l, const struct yaml_node *n, bool *out)
{
    struct yaml_resolved r;
    if (n->kind != YAML_NODE_SCALAR || yaml_node_resolve(n, l->what, &r, NULL) < 0 || r.type != YAML_RESOLVED_BOOL)
        return bad(l, n, "expected true or false");
    *out = r.boolean;
    return 0;
}

static int get_uint(struct loader *l, const struct yaml_node *n, uint64_t *out)
{
    struct yaml_resolved r;
    if (n->kind != YAML_NODE_SCALAR || yaml_node_resolve(n, l->what, &r, NULL) < 0 || r.type != YAML_RESOLVED_INT ||
        r.integer < 0)
        return bad(l, n, "expected a non-negative integer");
    *out = (uint64_t)r.integer;
    return 0;
}

static int get_list(struct loader *l, const struct yaml_node *n, char ***out, size_t *count)
{
    if (n->kind != YAML_NODE_SEQUENCE)
        return bad(l, n, "expected a list of strings");
    *out = xcalloc(n->count + 1, sizeof **out);
    *count = 0;
    for (size_t i = 0; i < n->count; i++) {
        if (get_string(l, n->items[i], &(*out)[i]) < 0)
            return -1;
        (*count)++;
    }
    return 0;
}

static int get_version(struct loader *l, const struct yaml_node *n, struct talos_version *v)
{
    if (n->kind != YAML_NODE_SCALAR || talos_version_parse(n->value, v) < 0)
        return bad(l, n, "expected a version like v1.8.0");
    return 0;
}

/* rules: [{since, before, arch, secureBoot, args | value}] */
static int get_rules(struct loader *l, const struct yaml_node *n, bool want_value, struct rule_list *out)
{
    if (n->kind != YAML_NODE_SEQUENCE)
        return bad(l, n, "expected a list of rules");
    out->rules = xcalloc(n->count + 1, sizeof *out->rules);
    for (size_t i = 0; i < n->count; i++) {
        const struct yaml_node *r = n->items[i];
        struct rule *rule = &out->rules[out->count++];
        rule->secureboot = -1;
        if (r->kind != YAML_NODE_MAPPING)
            return bad(l, r, "expected a rule mapping");
        bool have_payload = false;
        for (size_t k = 0; k < yaml_mapping_pairs(r); k++) {
            const char *key = yaml_mapping_key(r, k)->value;
            const struct yaml_node *v = yaml_mapping_value(r, k);
            int rc;
            if (!strcmp(key, "since")) {
                rc = get_version(l, v, &rule->since);
                rule->has_since = true;
            } else if (!strcmp(key, "before")) {
                rc = get_version(l, v, &rule->before);
                rule->has_before = true;
            } else if (!strcmp(key, "arch")) {
                rc = get_string(l, v, &rule->arch);
            } else if (!strcmp(key, "secureBoot")) {
                bool b;
                rc = get_bool(l, v, &b);
                rule->secureboot = b;
            } else if (!strcmp(key, "args") && !want_value) {
                rc = get_list(l, v, &rule->args, &rule->arg_count);
                have_payload = true;
            } else if (!strcmp(key, "value") && want_value) {
                rc = get_string(l, v, &rule->value);
                have_payload = true;
            } else {
                rc = bad(l, yaml_mapping_key(r, k), "unknown rule field '%s'", key);
            }
            if (rc < 0)
                return -1;
        }
        if (!have_payload)
            return bad(l, r, "rule without %s", want_value ? "value" : "args");
    }
    return 0;
}

/* As Talos' quirks.New: the version's pre-release is dropped, the rule's is kept, and the two
 * compare by semver precedence. So `since: v1.11.0-alpha.3` holds for v1.11.0-alpha.0 (it counts
 * as v1.11.0) and not for v1.10.9; a rule without a pre-release compares major.minor.patch. */
static bool rule_matches(const struct rule *r, const struct talos_version *v, const char *arch, bool secureboot)
{
    struct talos_version core = *v;
    core.prerelease[0] = '\0';
    if (r->has_since && talos_version_compare_semver(&core, &r->since) < 0)
        return false;
    if (r->has_before && talos_version_compare_semver(&core, &r->before) >= 0)
        return false;
    if (r->arch && (!arch || strcmp(r->arch, arch)))
        return false;
    if (r->secureboot >= 0 && r->secureboot != (int)secureboot)
        return false;
    return true;
}

static void collect_args(const struct rule_list *l, const struct talos_version *v, const char *arch,
                         struct profile_args *out)
{
    for (size_t i = 0; i < l->count; i++)
        if (rule_matches(&l->rules[i], v, arch, false))
            for (size_t k = 0; k < l->rules[i].arg_count; k++)
                args_push(out, l->rules[i].args[k]);
}

static int load_platforms(struct profile_set *set, const struct yaml_node *root, struct loader *l)
{
    const struct yaml_node *list = yaml_mapping_get(root, "platforms");
    if (!list || list->kind != YAML_NODE_SEQUENCE)
        return bad(l, root, "missing 'platforms' list");
    set->platforms = xcalloc(list->count + 1, sizeof *set->platforms);
    for (size_t i = 0; i < list->count; i++) {
        const struct yaml_node *m = list->items[i];
        struct platform_entry *e = &set->platforms[set->platform_count++];
        if (m->kind != YAML_NODE_MAPPING)
            return bad(l, m, "expected a platform mapping");
        e->pub.disk_image_suffix = "";
        e->pub.since = "";
        e->pub.label = "";
        for (size_t k = 0; k < yaml_mapping_pairs(m); k++) {
            const char *key = yaml_mapping_key(m, k)->value;
            const struct yaml_node *v = yaml_mapping_value(m, k);
            char *s = NULL;
            int rc = 0;
            if (!strcmp(key, "name") || !strcmp(key, "label") || !strcmp(key, "diskImageSuffix") ||
                !strcmp(key, "since")) {
                rc = get_string(l, v, &s);
                if (rc == 0) {
                    keep(set, s);
                    if (!strcmp(key, "name"))
                        e->pub.name = s;
                    else if (!strcmp(key, "label"))
                        e->pub.label = s;
                    else if (!strcmp(key, "diskImageSuffix"))
                        e->pub.disk_image_suffix = s;
                    else {
                        struct talos_version pv;
                        rc = get_version(l, v, &pv);
                        e->pub.since = s;
                    }
                }
            } else if (!strcmp(key, "aliases") || !strcmp(key, "arches") || !strcmp(key, "bootMethods")) {
                int which = !strcmp(key, "aliases") ? 0 : !strcmp(key, "arches") ? 1 : 2;
                char **items;
                size_t n;
                rc = get_list(l, v, &items, &n);
                if (rc == 0) {
                    for (size_t j = 0; j < n; j++)
                        keep(set, items[j]);
                    e->owned[which] = items;
                    if (which == 0) {
                        e->pub.aliases = (const char *const *)items;
                        e->pub.alias_count = n;
                    } else if (which == 1) {
                        e->pub.arches = (const char *const *)items;
                        e->pub.arch_count = n;
                    } else {
                        e->pub.boot_methods = (const char *const *)items;
                        e->pub.boot_method_count = n;
                    }
                } else {
                    for (size_t j = 0; j < n; j++)
                        keep(set, items[j]);
                    free(items);
                }
            } else if (!strcmp(key, "secureBoot")) {
                rc = get_bool(l, v, &e->pub.secureboot);
            } else if (!strcmp(key, "kernelArgs")) {
                rc = get_rules(l, v, false, &e->kernel_args);
            } else {
                rc = bad(l, yaml_mapping_key(m, k), "unknown platform field '%s'", key);
            }
            if (rc < 0)
                return -1;
        }
        if (!e->pub.name)
            return bad(l, m, "platform without a name");
    }
    struct buffer names = BUFFER_INIT;
    for (size_t i = 0; i < set->platform_count; i++)
        buffer_appendf(&names, "%s%s", i ? ", " : "", set->platforms[i].pub.name);
    set->platform_names = buffer_take(&names);
    return 0;
}

static int load_profiles(struct profile_set *set, const struct yaml_node *root, struct loader *l)
{
    const struct yaml_node *list = yaml_mapping_get(root, "profiles");
    if (!list || list->kind != YAML_NODE_SEQUENCE)
        return bad(l, root, "missing 'profiles' list");
    set->profiles = xcalloc(list->count + 1, sizeof *set->profiles);
    for (size_t i = 0; i < list->count; i++) {
        const struct yaml_node *m = list->items[i];
        struct profile *p = &set->profiles[set->profile_count++];
        p->disk_format = p->disk_format_options = p->sdboot_enroll_keys = "";
        if (m->kind != YAML_NODE_MAPPING)
            return bad(l, m, "expected a profile mapping");
        for (size_t k = 0; k < yaml_mapping_pairs(m); k++) {
            const char *key = yaml_mapping_key(m, k)->value;
            const struct yaml_node *v = yaml_mapping_value(m, k);
            static const char *const string_keys[] = {
                "name", "platform", "kind", "outFormat", "diskFormat", "diskFormatOptions", "sdBootEnrollKeys", NULL};
            const char **slots[] = {&p->name,
                                    &p->platform,
                                    &p->kind,
                                    &p->out_format,
                                    &p->disk_format,
                                    &p->disk_format_options,
                                    &p->sdboot_enroll_keys};
            int rc = 1;
            for (int s = 0; string_keys[s]; s++)
                if (!strcmp(key, string_keys[s])) {
                    char *str = NULL;
                    rc = get_string(l, v, &str);
                    if (rc == 0)
                        *slots[s] = keep(set, str);
                }
            if (rc == 1) {
                uint64_t u;
                if (!strcmp(key, "secureBoot")) {
                    rc = get_bool(l, v, &p->secureboot);
                } else if (!strcmp(key, "diskSize")) {
                    rc = get_uint(l, v, &p->disk_size_mib);
                } else if (!strcmp(key, "diskSectorSize")) {
                    rc = get_uint(l, v, &u);
                    p->disk_sector_size = (uint32_t)u;
                } else {
                    rc = bad(l, yaml_mapping_key(m, k), "unknown profile field '%s'", key);
                }
            }
            if (rc < 0)
                return -1;
        }
        if (!p->name || !p->platform || !p->kind || !p->out_format)
            return bad(l, m, "profile needs name, platform, kind and outFormat");
        if (!profile_platform_find(set, p->platform))
            return bad(l, m, "profile %s names unknown platform %s", p->name, p->platform);
    }
    return 0;
}

/* One quirk's rules: every value of the quirk's type, and the last rule unconditional so that
 * every version, arch and SecureBoot setting gets a value. */
static int check_quirk_rules(struct loader *l, const struct yaml_node *n, const struct quirk_def *d,
                             struct rule_list *rules)
{
    for (size_t i = 0; i < rules->count; i++) {
        struct rule *r = &rules->rules[i];
        const struct yaml_node *item = n->items[i], *vn = yaml_mapping_get(item, "value");
        const char *v = r->value;
        switch (d->type) {
        case QUIRK_BOOL:
            if (strcmp(v, "true") && strcmp(v, "false"))
                return bad(l, vn, "quirk %s: value '%s' is not true or false", d->key, v);
            r->number = !strcmp(v, "true");
            break;
        case QUIRK_MIB: {
            char *end;
            r->number = strtoll(v, &end, 10);
            if (!*v || *end || r->number <= 0 || r->number > 1000000)
                return bad(l, vn, "quirk %s: value '%s' is not a size in MiB (1 to 1000000)", d->key, v);
            break;
        }
        case QUIRK_STRING:
            if (!*v)
                return bad(l, vn, "quirk %s: empty value", d->key);
            break;
        case QUIRK_SHA256:
            if (strlen(v) != 64 || strspn(v, "0123456789abcdef") != 64)
                return bad(l, vn, "quirk %s: value '%s' is not 64 lower-case hex digits (a SHA-256)", d->key, v);
            break;
        case QUIRK_BYTES: {
            char *end;
            r->number = strtoll(v, &end, 10);
            if (!*v || *end || r->number <= 0 || r->number > (1ll << 32))
                return bad(l, vn, "quirk %s: value '%s' is not a size in bytes (1 to 4 GiB)", d->key, v);
            break;
        }
        case QUIRK_CHOICE: {
            long long c = 0;
            while (d->choices[c] && strcmp(d->choices[c], v))
                c++;
            if (!d->choices[c]) {
                struct buffer b = BUFFER_INIT;
                for (size_t k = 0; d->choices[k]; k++)
                    buffer_appendf(&b, "%s%s", k ? ", " : "", d->choices[k]);
                int rc = bad(l, vn, "quirk %s: value '%s' is not one of %s", d->key, v, buffer_cstr(&b));
                buffer_free(&b);
                return rc;
            }
            r->number = c;
            break;
        }
        }
    }
    const struct rule *last = rules->count ? &rules->rules[rules->count - 1] : NULL;
    if (!last || last->has_since || last->has_before || last->arch || last->secureboot >= 0)
        return bad(l, n, "quirk %s: the last rule must have no condition (the value for every other version)", d->key);
    return 0;
}

static int load_quirks(struct profile_set *set, const struct yaml_node *v, struct loader *l)
{
    if (v->kind != YAML_NODE_MAPPING)
        return bad(l, v, "expected a mapping of quirks");
    bool seen[QUIRK_COUNT] = {false};
    for (size_t q = 0; q < yaml_mapping_pairs(v); q++) {
        const struct yaml_node *key = yaml_mapping_key(v, q), *rules = yaml_mapping_value(v, q);
        size_t d = 0;
        while (d < QUIRK_COUNT && strcmp(quirk_defs[d].key, key->value))
            d++;
        if (d == QUIRK_COUNT)
            return bad(l, key, "unknown quirk '%s' (no builder reads it; add it to struct talos_quirks or drop it)",
                       key->value);
        if (seen[d])
            return bad(l, key, "quirk '%s' given twice", key->value);
        seen[d] = true;
        if (get_rules(l, rules, true, &set->quirks[d]) < 0 ||
            check_quirk_rules(l, rules, &quirk_defs[d], &set->quirks[d]) < 0)
            return -1;
    }
    for (size_t d = 0; d < QUIRK_COUNT; d++)
        if (!seen[d])
            return bad(l, v, "quirk '%s' is missing", quirk_defs[d].key);
    return 0;
}

static int load_versions(struct profile_set *set, const struct yaml_node *root, struct loader *l)
{
    for (size_t k = 0; k < yaml_mapping_pairs(root); k++) {
        const char *key = yaml_mapping_key(root, k)->value;
        const struct yaml_node *v = yaml_mapping_value(root, k);
        int rc;
        if (!strcmp(key, "defaultKernelArgs")) {
            rc = get_rules(l, v, false, &set->default_args);
        } else if (!strcmp(key, "secureBootKernelArgs")) {
            rc = get_rules(l, v, false, &set->secureboot_args);
        } else if (!strcmp(key, "isoKernelArgs")) {
            rc = get_rules(l, v, false, &set->iso_args);
        } else if (!strcmp(key, "quirks")) {
            rc = load_quirks(set, v, l);
        } else {
            rc = bad(l, yaml_mapping_key(root, k), "unknown field '%s'", key);
        }
        if (rc < 0)
            return -1;
    }
    if (!set->quirks[0].count)
        return bad(l, root, "missing 'quirks' mapping");
    return 0;
}

static int load_one(struct profile_set *set, const char *text, const char *what,
                    int (*fn)(struct profile_set *, const struct yaml_node *, struct loader *), struct error *err)
{
    struct yaml_node *root;
    if (yaml_document_load(text, strlen(text), what, &root, err) < 0) {
        err->code = ERROR_RUNTIME;
        return -1;
    }
    struct loader l = {what, err};
    int rc = root->kind == YAML_NODE_MAPPING ? fn(set, root, &l) : bad(&l, root, "expected a mapping");
    yaml_node_free(root);
    return rc;
}

int profile_set_load_texts(const char *platforms_yaml, const char *profiles_yaml, const char *versions_yaml,
                           struct profile_set **out, struct error *err)
{
    *out = NULL;
    struct profile_set *set = xcalloc(1, sizeof *set);
    if (load_one(set, platforms_yaml, "profiles/platforms.yaml", load_platforms, err) < 0 ||
        load_one(set, profiles_yaml, "profiles/profiles.yaml", load_profiles, err) < 0 ||
        load_one(set, versions_yaml, "profiles/versions.yaml", load_versions, err) < 0) {
        profile_set_free(set);
        return -1;
    }
    *out = set;
    return 0;
}

/* AIRFACTORY_TEST_VERSIONS_YAML=FILE replaces the built-in versions.yaml: for tests that need
 * version data the real releases do not have (the fixtures' stand-in UKI splash, tests/integration/
 * if_fidelity.sh). It is loaded and checked exactly as the built-in text. */
int profile_set_load(struct profile_set **out, struct error *err)
{
    const char *test_versions = getenv("AIRFACTORY_TEST_VERSIONS_YAML");
    if (!test_versions || !*test_versions)
        return profile_set_load_texts(airfactory_profiles_platforms_yaml, airfactory_profiles_profiles_yaml,
                                      airfactory_profiles_versions_yaml, out, err);
    struct buffer text = BUFFER_INIT;
    int rc = fs_read_file(test_versions, 1u << 20, &text, err);
    if (rc != 0)
        error_prefix(err, "AIRFACTORY_TEST_VERSIONS_YAML: ");
    else
        rc = profile_set_load_texts(airfactory_profiles_platforms_yaml, airfactory_profiles_profiles_yaml,
                                    buffer_cstr(&text), out, err);
    buffer_free(&text);
    return rc;
}

static struct profile_set *builtin_set;
static void builtin_load(void)
{
    struct error err = {0};
    if (profile_set_load(&builtin_set, &err) != 0)
        builtin_set = NULL;
}

const struct profile_set *profile_set_builtin(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, builtin_load);
    return builtin_set;
}

/* ------------------------------------------------------------ talos-images */

static void replace_all(struct buffer *out, const char *text, size_t len, const char *talos, const char *k8s)
{
    for (size_t i = 0; i < len;) {
        if (len - i >= 12 && !memcmp(text + i, "{kubernetes}", 12)) {
            buffer_append_str(out, k8s);
            i += 12;
        } else if (len - i >= 7 && !memcmp(text + i, "{talos}", 7)) {
            buffer_append_str(out, talos);
            i += 7;
        } else {
            buffer_append_char(out, text[i++]);
        }
    }
}

int profile_talos_images(const char *talos, const char *kubernetes, char ***refs, size_t *count, struct error *err)
{
    *refs = NULL;
    *count = 0;
    struct talos_version kv;
    const char *k = kubernetes[0] == 'v' ? kubernetes + 1 : kubernetes;
    if (!k[0] || talos_version_parse(k, &kv) < 0)
        return error_set(err, ERROR_INPUT, "Kubernetes version '%.60s' is not X.Y.Z (e.g. v1.34.1)", kubernetes);
    const char *what = "profiles/talos-images.yaml";
    struct yaml_node *root;
    if (yaml_document_load(airfactory_profiles_talos_images_yaml, strlen(airfactory_profiles_talos_images_yaml), what,
                           &root, err) < 0) {
        err->code = ERROR_RUNTIME;
        return -1;
    }
    int rc = 0;
    const struct yaml_node *list = root->kind == YAML_NODE_MAPPING ? yaml_mapping_get(root, talos) : NULL;
    if (root->kind != YAML_NODE_MAPPING) {
        rc = error_set(err, ERROR_RUNTIME, "%s: expected a mapping of Talos versions", what);
    } else if (!list) {
        struct buffer known = BUFFER_INIT;
        for (size_t i = 0; i < yaml_mapping_pairs(root); i++)
            buffer_appendf(&known, "%s%s", i ? ", " : "", yaml_mapping_key(root, i)->value);
        rc = error_set(err, ERROR_INPUT,
                       "talos-images: no image list for Talos '%.60s' in %s (it has %s); list "
                       "the images under 'images:' instead, or add the release to the data",
                       talos, what, buffer_cstr(&known));
        buffer_free(&known);
    } else if (list->kind != YAML_NODE_SEQUENCE) {
        rc = error_set(err, ERROR_RUNTIME, "%s:%d: %s: expected a list of image references", what, list->line, talos);
    } else {
        *refs = xcalloc(list->count + 1, sizeof **refs);
        char *k8s = xasprintf("v%s", k);
        for (size_t i = 0; i < list->count && rc == 0; i++) {
            const struct yaml_node *item = list->items[i];
            if (item->kind != YAML_NODE_SCALAR) {
                rc = error_set(err, ERROR_RUNTIME, "%s:%d: expected an image reference", what, item->line);
                break;
            }
            struct buffer b = BUFFER_INIT;
            replace_all(&b, item->value, item->length, talos, k8s);
            (*refs)[(*count)++] = buffer_take(&b);
        }
        free(k8s);
        if (rc != 0) {
            for (size_t i = 0; i < *count; i++)
                free((*refs)[i]);
            free(*refs);
            *refs = NULL;
            *count = 0;
        }
    }
    yaml_node_free(root);
    return rc;
}

/* ----------------------------------------------------------------- lookups */

size_t profile_platform_count(const struct profile_set *set)
{
    return set->platform_count;
}

const struct profile_platform *profile_platform_at(const struct profile_set *set, size_t i)
{
    return i < set->platform_count ? &set->platforms[i].pub : NULL;
}

const struct profile_platform *profile_platform_find(const struct profile_set *set, const char *name)
{
    for (size_t i = 0; i < set->platform_count; i++) {
        const struct profile_platform *p = &set->platforms[i].pub;
        if (!strcmp(p->name, name))
            return p;
        for (size_t a = 0; a < p->alias_count; a++)
            if (!strcmp(p->aliases[a], name))
                return p;
    }
    return NULL;
}

static bool in_list(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i], s))
            return true;
    return false;
}

bool profile_platform_has_arch(const struct profile_platform *p, const char *arch)
{
    return in_list(p->arches, p->arch_count, arch);
}

bool profile_platform_has_boot_method(const struct profile_platform *p, const char *method)
{
    return in_list(p->boot_methods, p->boot_method_count, method);
}

bool profile_platform_available(const struct profile_platform *p, const struct talos_version *v)
{
    struct talos_version since;
    if (!p->since[0] || talos_version_parse(p->since, &since) < 0)
        return true;
    return talos_version_compare(v, &since) >= 0;
}

const char *profile_platform_names(const struct profile_set *set)
{
    return set->platform_names;
}

size_t profile_count(const struct profile_set *set)
{
    return set->profile_count;
}

const struct profile *profile_at(const struct profile_set *set, size_t i)
{
    return i < set->profile_count ? &set->profiles[i] : NULL;
}

const struct profile *profile_find(const struct profile_set *set, const char *name)
{
    for (size_t i = 0; i < set->profile_count; i++)
        if (!strcmp(set->profiles[i].name, name))
            return &set->profiles[i];
    return NULL;
}

void profile_disk_defaults(const struct profile_set *set, const char *platform, uint64_t *disk_size_mib,
                           const char **disk_format_options)
{
    /* Image Factory: ImageOptions{DiskSize: 8192 MiB}, then Default[P] values when non-zero */
    *disk_size_mib = 8192;
    *disk_format_options = "";
    const struct profile *p = profile_find(set, platform);
    if (!p)
        return;
    if (p->disk_size_mib)
        *disk_size_mib = p->disk_size_mib;
    if (p->disk_format_options[0])
        *disk_format_options = p->disk_format_options;
}

void profile_platform_kernel_args(const struct profile_set *set, const struct profile_platform *p, const char *arch,
                                  const struct talos_version *v, struct profile_args *out)
{
    (void)set;
    const struct platform_entry *e = (const struct platform_entry *)p; /* pub is the first member */
    collect_args(&e->kernel_args, v, arch, out);
}

void profile_default_kernel_args(const struct profile_set *set, const struct talos_version *v, struct profile_args *out)
{
    collect_args(&set->default_args, v, NULL, out);
}

void profile_secureboot_kernel_args(const struct profile_set *set, const struct talos_version *v, struct profile_args *out)
{
    collect_args(&set->secureboot_args, v, NULL, out);
}

void profile_iso_kernel_args(const struct profile_set *set, const struct talos_version *v, struct profile_args *out)
{
    collect_args(&set->iso_args, v, NULL, out);
}

static const struct rule *quirk_rule(const struct rule_list *l, const struct talos_version *v, const char *arch,
                                     bool secureboot)
{
    for (size_t r = 0; r < l->count; r++)
        if (rule_matches(&l->rules[r], v, arch, secureboot))
            return &l->rules[r];
    return &l->rules[l->count - 1]; /* unreachable: the loader requires an unconditional last rule */
}

void profile_quirks(const struct profile_set *set, const struct talos_version *v, const char *arch, bool secureboot,
                    struct talos_quirks *out)
{
    memset(out, 0, sizeof *out);
    for (size_t d = 0; d < QUIRK_COUNT; d++) {
        const struct rule *r = quirk_rule(&set->quirks[d], v, arch, secureboot);
        char *field = (char *)out + quirk_defs[d].offset;
        switch (quirk_defs[d].type) {
        case QUIRK_BOOL: *(bool *)field = r->number != 0; break;
        case QUIRK_MIB: *(uint64_t *)field = (uint64_t)r->number; break;
        case QUIRK_STRING:
        case QUIRK_SHA256: *(const char **)field = r->value; break;
        case QUIRK_BYTES: *(uint64_t *)field = (uint64_t)r->number; break;
        case QUIRK_CHOICE:
            if (quirk_defs[d].choices == compression_choices)
                *(enum talos_compression *)field = (enum talos_compression)r->number;
            else if (quirk_defs[d].choices == bootloader_choices)
                *(enum schematic_bootloader *)field = (enum schematic_bootloader)(r->number + 1);
            else
                *(enum talos_iso_kind *)field = (enum talos_iso_kind)r->number;
            break;
        }
    }
}

int profile_quirks_for(const struct profile_set *set, const char *version, const char *arch, bool secureboot,
                       struct talos_quirks *out, struct error *err)
{
    struct talos_version v;
    if (!version || talos_version_parse(version, &v) != 0)
        return error_set(err, ERROR_INPUT, "Talos version \"%s\" is not X.Y.Z (e.g. v1.11.3)", version ? version : "");
    profile_quirks(set, &v, arch, secureboot, out);
    return 0;
}
