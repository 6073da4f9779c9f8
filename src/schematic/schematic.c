/* schematic — see include/airfactory/schematic.h.
 *
 * Decoding mirrors go-yaml v4 constructing into image-factory's Go structs (constructor.go):
 * which scalar types a field accepts, what null does, and which shapes are errors. */
#include "airfactory/schematic.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/memory.h"
#include "core/yaml_document.h"
#include "core/yaml_value.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const bootloader_names[] = {"none", "dual-boot", "sd-boot", "grub"};

const char *schematic_bootloader_name(enum schematic_bootloader b)
{
    if ((unsigned)b < sizeof bootloader_names / sizeof bootloader_names[0])
        return bootloader_names[b];
    return "none";
}

bool schematic_has_overlay(const struct schematic *s)
{
    return s->overlay_image[0] || s->overlay_name[0] || s->overlay_options;
}

struct schematic *schematic_new(void)
{
    struct schematic *s = xcalloc(1, sizeof *s);
    s->overlay_image = xstrdup("");
    s->overlay_name = xstrdup("");
    s->embedded_machine_configuration = xstrdup("");
    s->secureboot_enroll_keys = xstrdup("");
    return s;
}

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

void schematic_free(struct schematic *s)
{
    if (!s)
        return;
    free(s->overlay_image);
    free(s->overlay_name);
    yaml_value_free(s->overlay_options);
    free(s->embedded_machine_configuration);
    free_list(s->extra_kernel_args, s->extra_kernel_arg_count);
    for (size_t i = 0; i < s->meta_count; i++)
        free(s->meta[i].value);
    free(s->meta);
    free_list(s->extensions, s->extension_count);
    free(s->secureboot_enroll_keys);
    free(s);
}

/* ---------------------------------------------------------------- decode */

struct decoder {
    const char *what;
    struct error *err;
};

static int fail(struct decoder *d, const struct yaml_node *n, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(struct decoder *d, const struct yaml_node *n, const char *field, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return error_set(d->err, ERROR_INPUT, "%s:%d:%d: %s: %s", d->what, n->line, n->column, field, msg);
}

static int resolve(struct decoder *d, const struct yaml_node *n, struct yaml_resolved *r)
{
    return yaml_node_resolve(n, d->what, r, d->err);
}

static bool is_null(const struct yaml_node *n)
{
    struct yaml_resolved r;
    return n->kind == YAML_NODE_SCALAR && yaml_node_resolve(n, "", &r, NULL) == 0 && r.type == YAML_RESOLVED_NULL;
}

/* A Go string field: any non-null scalar gives its text; null leaves "" (*present = false). */
static int decode_string(struct decoder *d, const struct yaml_node *n, const char *field, char **out, bool *present)
{
    if (present)
        *present = false;
    if (n->kind != YAML_NODE_SCALAR)
        return fail(d, n, field, "expected a string, found %s", yaml_node_describe(n));
    struct yaml_resolved r;
    if (resolve(d, n, &r) < 0)
        return -1;
    if (r.type == YAML_RESOLVED_NULL)
        return 0;
    if (r.type == YAML_RESOLVED_TIMESTAMP)
        return fail(d, n, field, "'%s' reads as a timestamp, not a string; quote it", n->value);
    /* YAML_RESOLVED_MERGE ("<<") is kept as text, as go-yaml does for a string field */
    free(*out);
    *out = xstrndup(n->value, n->length);
    if (present)
        *present = true;
    return 0;
}

static int decode_string_list(struct decoder *d, const struct yaml_node *n, const char *field, char ***list, size_t *count)
{
    if (is_null(n))
        return 0;
    if (n->kind != YAML_NODE_SEQUENCE)
        return fail(d, n, field, "expected a sequence of strings, found %s", yaml_node_describe(n));
    *list = xcalloc(n->count ? n->count : 1, sizeof **list);
    for (size_t i = 0; i < n->count; i++) {
        char item_field[256];
        snprintf(item_field, sizeof item_field, "%s[%zu]", field, i);
        char *s = NULL;
        bool present;
        if (decode_string(d, n->items[i], item_field, &s, &present) < 0)
            return -1;
        if (present) /* go-yaml drops null items of a []string */
            (*list)[(*count)++] = s;
    }
    return 0;
}

/* A Go unsigned integer field (uint8 or uint). */
static int decode_uint(struct decoder *d, const struct yaml_node *n, const char *field, uint64_t max, uint64_t *out)
{
    if (n->kind != YAML_NODE_SCALAR)
        return fail(d, n, field, "expected an integer, found %s", yaml_node_describe(n));
    struct yaml_resolved r;
    if (resolve(d, n, &r) < 0)
        return -1;
    switch (r.type) {
    case YAML_RESOLVED_NULL: *out = 0; return 0;
    case YAML_RESOLVED_INT:
        if (r.integer >= 0 && (uint64_t)r.integer <= max) {
            *out = (uint64_t)r.integer;
            return 0;
        }
        break;
    case YAML_RESOLVED_UINT:
        if (r.uinteger <= max) {
            *out = r.uinteger;
            return 0;
        }
        break;
    case YAML_RESOLVED_FLOAT:
        /* go-yaml accepts a float that converts losslessly */
        if (r.number >= 0 && r.number <= 18446744073709551615.0 && r.number == floor(r.number) &&
            r.number < 18446744073709551616.0 && (uint64_t)r.number <= max) {
            *out = (uint64_t)r.number;
            return 0;
        }
        break;
    default:
        return fail(d, n, field, "expected an integer (0-%llu), found %s '%.60s'", (unsigned long long)max,
                    yaml_node_describe(n), n->value);
    }
    return fail(d, n, field, "%.60s is out of range; expected an integer 0-%llu", n->value, (unsigned long long)max);
}

static int decode_bool(struct decoder *d, const struct yaml_node *n, const char *field, bool *out)
{
    if (n->kind != YAML_NODE_SCALAR)
        return fail(d, n, field, "expected a boolean, found %s", yaml_node_describe(n));
    struct yaml_resolved r;
    if (resolve(d, n, &r) < 0)
        return -1;
    if (r.type == YAML_RESOLVED_NULL) {
        *out = false;
        return 0;
    }
    if (r.type == YAML_RESOLVED_BOOL) {
        *out = r.boolean;
        return 0;
    }
    if (r.type == YAML_RESOLVED_STRING) {
        /* YAML 1.1 words are accepted for a typed bool, as go-yaml does */
        static const char *const yes[] = {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON", NULL};
        static const char *const no[] = {"n", "N", "no", "No", "NO", "off", "Off", "OFF", NULL};
        for (const char *const *w = yes; *w; w++)
            if (!strcmp(n->value, *w)) {
                *out = true;
                return 0;
            }
        for (const char *const *w = no; *w; w++)
            if (!strcmp(n->value, *w)) {
                *out = false;
                return 0;
            }
    }
    return fail(d, n, field, "expected a boolean (true or false), found %s '%.60s'", yaml_node_describe(n), n->value);
}

/* A struct field: null is the zero value, anything but a mapping is an error. Returns 1 when
 * there is a mapping to walk, 0 for null. */
static int expect_struct(struct decoder *d, const struct yaml_node *n, const char *field)
{
    if (n->kind == YAML_NODE_MAPPING)
        return 1;
    if (is_null(n))
        return 0;
    return fail(d, n, field, "expected a mapping, found %s", yaml_node_describe(n));
}

/* Walk a struct mapping: for each key call handle(); unknown keys are errors listing `fields`. */
static int struct_key(struct decoder *d, const struct yaml_node *map, size_t i, const char *field,
                      const char *const *fields, int *index)
{
    const struct yaml_node *k = yaml_mapping_key(map, i);
    struct yaml_resolved r;
    if (resolve(d, k, &r) < 0)
        return -1;
    if (r.type == YAML_RESOLVED_NULL)
        return fail(d, k, field, "a null key is not a field name; remove it");
    char msg[768];
    int f = yaml_field_lookup(k, fields, "schematic", msg, sizeof msg);
    *index = f; /* -1 on error: never left unset */
    if (f < 0)
        return fail(d, k, field, "%s", msg);
    return 0;
}

static int decode_meta(struct decoder *d, const struct yaml_node *n, struct schematic *s)
{
    static const char *const fields[] = {"key", "value", NULL};
    if (is_null(n))
        return 0;
    if (n->kind != YAML_NODE_SEQUENCE)
        return fail(d, n, "customization.meta", "expected a sequence of {key, value} mappings, found %s",
                    yaml_node_describe(n));
    s->meta = xcalloc(n->count ? n->count : 1, sizeof *s->meta);
    for (size_t i = 0; i < n->count; i++) {
        const struct yaml_node *item = n->items[i];
        char field[64];
        snprintf(field, sizeof field, "customization.meta[%zu]", i);
        if (is_null(item)) /* dropped, as go-yaml drops a null element of a []struct */
            continue;
        if (item->kind != YAML_NODE_MAPPING)
            return fail(d, item, field, "expected a mapping with 'key' and 'value', found %s", yaml_node_describe(item));
        struct schematic_meta m = {0, xstrdup("")};
        for (size_t k = 0; k < yaml_mapping_pairs(item); k++) {
            int f;
            if (struct_key(d, item, k, field, fields, &f) < 0) {
                free(m.value);
                return -1;
            }
            const struct yaml_node *v = yaml_mapping_value(item, k);
            char sub[96];
            snprintf(sub, sizeof sub, "%s.%s", field, fields[f]);
            int rc;
            if (f == 0) {
                uint64_t key = 0;
                rc = decode_uint(d, v, sub, 255, &key);
                m.key = (uint8_t)key;
            } else {
                rc = decode_string(d, v, sub, &m.value, NULL);
            }
            if (rc < 0) {
                free(m.value);
                return -1;
            }
        }
        s->meta[s->meta_count++] = m;
    }
    return 0;
}

static int decode_bootloader(struct decoder *d, const struct yaml_node *n, struct schematic *s)
{
    const char *field = "customization.bootloader";
    if (n->kind != YAML_NODE_SCALAR)
        return fail(d, n, field, "expected one of none, dual-boot, sd-boot, grub, found %s", yaml_node_describe(n));
    if (is_null(n)) {
        s->bootloader = SCHEMATIC_BOOTLOADER_NONE;
        return 0;
    }
    /* enumer's BootloaderKindString: exact name, or its lower-case form */
    char lower[32];
    size_t len = n->length < sizeof lower - 1 ? n->length : sizeof lower - 1;
    for (size_t i = 0; i < len; i++)
        lower[i] = (n->value[i] >= 'A' && n->value[i] <= 'Z') ? (char)(n->value[i] + 32) : n->value[i];
    lower[len] = '\0';
    for (int b = 0; b < 4; b++)
        if (n->length < sizeof lower - 1 && !strcmp(lower, bootloader_names[b])) {
            s->bootloader = (enum schematic_bootloader)b;
            return 0;
        }
    if (!strcmp(lower, "auto"))
        return fail(d, n, field,
                    "'auto' is not a bootloader value (Image Factory rejects it too); omit the "
                    "field to let the imager choose, or use one of none, dual-boot, sd-boot, grub");
    return fail(d, n, field, "'%.60s' is not a bootloader; expected one of none, dual-boot, sd-boot, grub", n->value);
}

static int decode_overlay(struct decoder *d, const struct yaml_node *n, struct schematic *s)
{
    static const char *const fields[] = {"image", "name", "options", NULL};
    int rc = expect_struct(d, n, "overlay");
    if (rc <= 0)
        return rc;
    for (size_t i = 0; i < yaml_mapping_pairs(n); i++) {
        int f;
        if (struct_key(d, n, i, "overlay", fields, &f) < 0)
            return -1;
        const struct yaml_node *v = yaml_mapping_value(n, i);
        if (f == 0) {
            if (decode_string(d, v, "overlay.image", &s->overlay_image, NULL) < 0)
                return -1;
        } else if (f == 1) {
            if (decode_string(d, v, "overlay.name", &s->overlay_name, NULL) < 0)
                return -1;
        } else {
            if (v->kind != YAML_NODE_MAPPING && !is_null(v))
                return fail(d, v, "overlay.options", "expected a mapping of options, found %s", yaml_node_describe(v));
            struct yaml_value *options = NULL;
            if (yaml_value_from_node(v, d->what, true, &options, d->err) < 0)
                return -1;
            yaml_value_free(s->overlay_options);
            s->overlay_options = NULL;
            if (options->count)
                s->overlay_options = options;
            else
                yaml_value_free(options);
        }
    }
    return 0;
}

static int decode_customization(struct decoder *d, const struct yaml_node *n, struct schematic *s)
{
    static const char *const fields[] = {"embeddedMachineConfiguration",
                                         "extraKernelArgs",
                                         "meta",
                                         "systemExtensions",
                                         "bootloader",
                                         "secureboot",
                                         "diskImage",
                                         NULL};
    static const char *const extension_fields[] = {"officialExtensions", NULL};
    static const char *const secureboot_fields[] = {"enrollKeys", "includeWellKnownCertificates", NULL};
    static const char *const disk_fields[] = {"sectorSize", NULL};
    int rc = expect_struct(d, n, "customization");
    if (rc <= 0)
        return rc;
    for (size_t i = 0; i < yaml_mapping_pairs(n); i++) {
        int f;
        if (struct_key(d, n, i, "customization", fields, &f) < 0)
            return -1;
        const struct yaml_node *v = yaml_mapping_value(n, i);
        switch (f) {
        case 0:
            rc = decode_string(d, v, "customization.embeddedMachineConfiguration", &s->embedded_machine_configuration,
                               NULL);
            break;
        case 1:
            rc = decode_string_list(d, v, "customization.extraKernelArgs", &s->extra_kernel_args,
                                    &s->extra_kernel_arg_count);
            break;
        case 2: rc = decode_meta(d, v, s); break;
        case 3:
            rc = expect_struct(d, v, "customization.systemExtensions");
            for (size_t k = 0; rc > 0 && k < yaml_mapping_pairs(v); k++) {
                int g;
                if (struct_key(d, v, k, "customization.systemExtensions", extension_fields, &g) < 0 ||
                    decode_string_list(d, yaml_mapping_value(v, k), "customization.systemExtensions.officialExtensions",
                                       &s->extensions, &s->extension_count) < 0)
                    return -1;
            }
            break;
        case 4: rc = decode_bootloader(d, v, s); break;
        case 5:
            rc = expect_struct(d, v, "customization.secureboot");
            for (size_t k = 0; rc > 0 && k < yaml_mapping_pairs(v); k++) {
                int g;
                if (struct_key(d, v, k, "customization.secureboot", secureboot_fields, &g) < 0)
                    return -1;
                const struct yaml_node *sv = yaml_mapping_value(v, k);
                if (g == 0 ? decode_string(d, sv, "customization.secureboot.enrollKeys", &s->secureboot_enroll_keys, NULL)
                           : decode_bool(d, sv, "customization.secureboot.includeWellKnownCertificates",
                                         &s->include_well_known_certificates))
                    return -1;
            }
            break;
        case 6:
            rc = expect_struct(d, v, "customization.diskImage");
            for (size_t k = 0; rc > 0 && k < yaml_mapping_pairs(v); k++) {
                int g;
                if (struct_key(d, v, k, "customization.diskImage", disk_fields, &g) < 0 ||
                    decode_uint(d, yaml_mapping_value(v, k), "customization.diskImage.sectorSize", UINT64_MAX,
                                &s->sector_size) < 0)
                    return -1;
            }
            break;
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

int schematic_decode(const struct yaml_node *root, const char *what, struct schematic **out, struct error *err)
{
    static const char *const fields[] = {"owner", "overlay", "customization", NULL};
    *out = NULL;
    struct decoder d = {what, err};
    struct schematic *s = schematic_new();
    int rc = expect_struct(&d, root, "schematic");
    for (size_t i = 0; rc > 0 && i < yaml_mapping_pairs(root); i++) {
        int f;
        if (struct_key(&d, root, i, "schematic", fields, &f) < 0) {
            rc = -1;
            break;
        }
        const struct yaml_node *v = yaml_mapping_value(root, i);
        if (f == 0) {
            char *owner = xstrdup("");
            rc = decode_string(&d, v, "owner", &owner, NULL);
            if (rc == 0 && owner[0])
                rc = fail(&d, v, "owner",
                          "the owner field is only supported in Image Factory's Enterprise "
                          "edition; remove it");
            free(owner);
            if (rc == 0)
                rc = 1;
        } else if (f == 1) {
            rc = decode_overlay(&d, v, s) < 0 ? -1 : 1;
        } else {
            rc = decode_customization(&d, v, s) < 0 ? -1 : 1;
        }
    }
    if (rc < 0) {
        schematic_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

int schematic_parse(const char *text, size_t len, const char *what, struct schematic **out, struct error *err)
{
    *out = NULL;
    if (len > SCHEMATIC_MAX_SIZE)
        return error_set(err, ERROR_INPUT, "%s: schematic larger than %u bytes", what, SCHEMATIC_MAX_SIZE);
    struct yaml_node *root;
    if (yaml_document_load(text, len, what, &root, err) < 0)
        return -1;
    int rc = schematic_decode(root, what, out, err);
    yaml_node_free(root);
    return rc;
}

int schematic_load_file(const char *path, struct schematic **out, struct error *err)
{
    *out = NULL;
    struct buffer text = BUFFER_INIT;
    const char *what = path;
    if (!strcmp(path, "-")) {
        what = "<stdin>";
        char chunk[65536];
        for (;;) {
            ssize_t n = read(STDIN_FILENO, chunk, sizeof chunk);
            if (n < 0) {
                buffer_free(&text);
                return error_errno(err, errno, "reading standard input");
            }
            if (n == 0)
                break;
            buffer_append(&text, chunk, (size_t)n);
            if (text.len > SCHEMATIC_MAX_SIZE) {
                buffer_free(&text);
                return error_set(err, ERROR_INPUT, "<stdin>: schematic larger than %u bytes", SCHEMATIC_MAX_SIZE);
            }
        }
    } else if (fs_read_file(path, SCHEMATIC_MAX_SIZE, &text, err) < 0) {
        return -1;
    }
    int rc = schematic_parse(buffer_cstr(&text), text.len, what, out, err);
    buffer_free(&text);
    return rc;
}

/* --------------------------------------------------------------- marshal */

static struct yaml_value *string_list(char **items, size_t n)
{
    struct yaml_value *seq = yaml_value_new(YAML_VALUE_SEQUENCE);
    for (size_t i = 0; i < n; i++)
        yaml_value_append(seq, yaml_value_string(items[i]));
    return seq;
}

/* The Go struct as go-yaml sees it: fields in declaration order, omitempty applied. */
static struct yaml_value *to_value(const struct schematic *s)
{
    struct yaml_value *root = yaml_value_new(YAML_VALUE_MAPPING);
    if (schematic_has_overlay(s)) {
        struct yaml_value *o = yaml_value_new(YAML_VALUE_MAPPING);
        yaml_value_put_str(o, "image", yaml_value_string(s->overlay_image));
        yaml_value_put_str(o, "name", yaml_value_string(s->overlay_name));
        if (s->overlay_options && s->overlay_options->count)
            yaml_value_put_str(o, "options", yaml_value_clone(s->overlay_options));
        yaml_value_put_str(root, "overlay", o);
    }
    struct yaml_value *c = yaml_value_new(YAML_VALUE_MAPPING);
    if (s->embedded_machine_configuration[0])
        yaml_value_put_str(c, "embeddedMachineConfiguration", yaml_value_string(s->embedded_machine_configuration));
    if (s->extra_kernel_arg_count)
        yaml_value_put_str(c, "extraKernelArgs", string_list(s->extra_kernel_args, s->extra_kernel_arg_count));
    if (s->meta_count) {
        struct yaml_value *meta = yaml_value_new(YAML_VALUE_SEQUENCE);
        for (size_t i = 0; i < s->meta_count; i++) {
            struct yaml_value *m = yaml_value_new(YAML_VALUE_MAPPING);
            yaml_value_put_str(m, "key", yaml_value_int(s->meta[i].key));
            yaml_value_put_str(m, "value", yaml_value_string(s->meta[i].value));
            yaml_value_append(meta, m);
        }
        yaml_value_put_str(c, "meta", meta);
    }
    if (s->extension_count) {
        struct yaml_value *se = yaml_value_new(YAML_VALUE_MAPPING);
        yaml_value_put_str(se, "officialExtensions", string_list(s->extensions, s->extension_count));
        yaml_value_put_str(c, "systemExtensions", se);
    }
    if (s->bootloader != SCHEMATIC_BOOTLOADER_NONE)
        yaml_value_put_str(c, "bootloader", yaml_value_string(schematic_bootloader_name(s->bootloader)));
    if (s->secureboot_enroll_keys[0] || s->include_well_known_certificates) {
        struct yaml_value *sb = yaml_value_new(YAML_VALUE_MAPPING);
        if (s->secureboot_enroll_keys[0])
            yaml_value_put_str(sb, "enrollKeys", yaml_value_string(s->secureboot_enroll_keys));
        if (s->include_well_known_certificates)
            yaml_value_put_str(sb, "includeWellKnownCertificates", yaml_value_bool(true));
        yaml_value_put_str(c, "secureboot", sb);
    }
    if (s->sector_size) {
        struct yaml_value *di = yaml_value_new(YAML_VALUE_MAPPING);
        yaml_value_put_str(di, "sectorSize", yaml_value_uint(s->sector_size));
        yaml_value_put_str(c, "diskImage", di);
    }
    yaml_value_put_str(root, "customization", c);
    return root;
}

int schematic_marshal(const struct schematic *s, struct buffer *out, struct error *err)
{
    struct yaml_value *v = to_value(s);
    int rc = yaml_value_encode(v, out, err);
    yaml_value_free(v);
    return rc;
}

int schematic_id(const struct schematic *s, char id[SCHEMATIC_ID_HEX_LEN + 1], struct error *err)
{
    struct buffer b = BUFFER_INIT;
    if (schematic_marshal(s, &b, err) < 0) {
        buffer_free(&b);
        return -1;
    }
    sha256_hex(b.data ? b.data : "", b.len, id);
    buffer_free(&b);
    return 0;
}
