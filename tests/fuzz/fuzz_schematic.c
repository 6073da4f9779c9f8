/* libFuzzer target: schematic decoding, canonical marshal, ID, and the kernel command line built
 * from whatever decoded. Invariants checked beyond "no crash, no leak, no UB":
 *   - a decoded schematic always marshals (its strings are valid UTF-8 without NUL);
 *   - the canonical form parses back to itself when it is plain ASCII and has no indentation
 *     indicator (go-yaml writes "- |4-" forms inside sequences that no parser reads back), unless
 *     an overlay option mapping holds two Go keys that print alike (int 1 and float 1 both print
 *     `1`: go-yaml v4 writes the key twice, and its own decoder refuses that as a duplicate, so
 *     the re-parse must fail exactly that way);
 *   - an error is always ERROR_INPUT and names the input ("fuzz:"). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/yaml_value.h"
#include "imager/cmdline.h"
#include "talos/profile.h"
#include "airfactory/schematic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct profile_set *profiles;

static bool ascii_only(const struct buffer *b)
{
    for (size_t i = 0; i < b->len; i++)
        if ((unsigned char)b->data[i] > 0x7e || ((unsigned char)b->data[i] < 0x20 && b->data[i] != '\n'))
            return false;
    return true;
}

/* The text a scalar key prints as, for the keys that can print alike (numbers). */
static bool key_text(const struct yaml_value *k, char out[40])
{
    switch (k->type) {
    case YAML_VALUE_INT: snprintf(out, 40, "%lld", (long long)k->integer); return true;
    case YAML_VALUE_UINT: snprintf(out, 40, "%llu", (unsigned long long)k->uinteger); return true;
    case YAML_VALUE_FLOAT: yaml_format_float(k->number, out); return true;
    default: return false;
    }
}

static int compare_text(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* True when some mapping under v has two different keys that print the same text. */
static bool has_keys_printing_alike(const struct yaml_value *v)
{
    if (!v || (v->type != YAML_VALUE_MAPPING && v->type != YAML_VALUE_SEQUENCE))
        return false;
    for (size_t i = 0; i < v->count; i++)
        if (has_keys_printing_alike(v->items[i]))
            return true;
    if (v->type != YAML_VALUE_MAPPING)
        return false;
    char(*texts)[40] = malloc((v->count / 2 + 1) * sizeof *texts);
    if (!texts)
        abort();
    size_t n = 0;
    for (size_t i = 0; i < v->count; i += 2)
        if (key_text(v->items[i], texts[n]))
            n++;
    qsort(texts, n, sizeof *texts, compare_text);
    bool alike = false;
    for (size_t i = 1; i < n && !alike; i++)
        alike = !strcmp(texts[i - 1], texts[i]);
    free(texts);
    return alike;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct error err = {0};
    if (!profiles && profile_set_load(&profiles, &err) < 0)
        abort();
    struct schematic *s = NULL;
    if (schematic_parse((const char *)data, size, "fuzz", &s, &err) < 0) {
        if (err.code != ERROR_INPUT || strncmp(err.message, "fuzz", 4))
            abort();
        return 0;
    }
    struct buffer canonical = BUFFER_INIT;
    char id[SCHEMATIC_ID_HEX_LEN + 1];
    if (schematic_marshal(s, &canonical, &err) < 0 || schematic_id(s, id, &err) < 0)
        abort();
    if (ascii_only(&canonical) && !strstr(buffer_cstr(&canonical), "|4")) {
        struct schematic *again = NULL;
        struct buffer second = BUFFER_INIT;
        if (schematic_parse(canonical.data, canonical.len, "canonical", &again, &err) < 0) {
            if (strstr(err.message, ": duplicate key '") && has_keys_printing_alike(s->overlay_options))
                goto round_trip_done; /* what go-yaml does too (see the top of this file) */
            fprintf(stderr, "canonical form does not parse: %s\n%s", err.message, canonical.data);
            abort();
        }
        if (schematic_marshal(again, &second, &err) < 0 || second.len != canonical.len ||
            memcmp(second.data, canonical.data, canonical.len)) {
            fprintf(stderr, "canonical form is not a fixed point:\n%s---\n%s", canonical.data, buffer_cstr(&second));
            abort();
        }
    round_trip_done:
        schematic_free(again);
        buffer_free(&second);
    }
    /* src/imager/cmdline.c inserts each argument with a linear search and a one-slot realloc:
     * quadratic in the number of arguments (150 000 distinct `k=v` words take minutes, and ASan's
     * realloc always copies). Until it is linear (issue #14, left to src/imager's owner), the
     * command line is only built from schematics with at most 64 KiB of kernel arguments. */
    size_t args_len = 0;
    for (size_t i = 0; i < s->extra_kernel_arg_count; i++)
        args_len += strlen(s->extra_kernel_args[i]);
    if (args_len > (64u << 10)) {
        buffer_free(&canonical);
        schematic_free(s);
        return 0;
    }
    static const enum cmdline_kind kinds[] = {CMDLINE_KIND_CMDLINE, CMDLINE_KIND_ISO, CMDLINE_KIND_UKI};
    static const char *const versions[] = {"v1.5.0", "v1.9.5", "v1.14.0"};
    for (int i = 0; i < 3; i++) {
        struct cmdline_request req = {
            versions[i], i == 1 ? "aws" : "metal", i == 2 ? "arm64" : "amd64", kinds[i], i == 2, s, NULL, 0};
        struct buffer line = BUFFER_INIT;
        if (cmdline_build(profiles, &req, &line, &err) < 0)
            abort();
        buffer_free(&line);
    }
    buffer_free(&canonical);
    schematic_free(s);
    return 0;
}
