/* libFuzzer target: schematic decoding, canonical marshal, ID, and the kernel command line built
 * from whatever decoded. Invariants checked beyond "no crash, no leak, no UB":
 *   - a decoded schematic always marshals (its strings are valid UTF-8 without NUL);
 *   - the canonical form parses back to itself when it is plain ASCII and has no indentation
 *     indicator (go-yaml writes "- |4-" forms inside sequences that no parser reads back);
 *   - an error is always ERROR_INPUT and names the input ("fuzz:"). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
            fprintf(stderr, "canonical form does not parse: %s\n%s", err.message, canonical.data);
            abort();
        }
        if (schematic_marshal(again, &second, &err) < 0 || second.len != canonical.len ||
            memcmp(second.data, canonical.data, canonical.len)) {
            fprintf(stderr, "canonical form is not a fixed point:\n%s---\n%s", canonical.data, buffer_cstr(&second));
            abort();
        }
        schematic_free(again);
        buffer_free(&second);
    }
    static const enum cmdline_kind kinds[] = {CMDLINE_KIND_CMDLINE, CMDLINE_KIND_ISO, CMDLINE_KIND_UKI};
    static const char *const versions[] = {"v1.5.0", "v1.9.5", "v1.14.0"};
    for (int i = 0; i < 3; i++) {
        struct cmdline_request req = {versions[i], i == 1 ? "aws" : "metal", i == 2 ? "arm64" : "amd64", kinds[i],
                                      i == 2, s, NULL, 0};
        struct buffer line = BUFFER_INIT;
        if (cmdline_build(profiles, &req, &line, &err) < 0)
            abort();
        buffer_free(&line);
    }
    buffer_free(&canonical);
    schematic_free(s);
    return 0;
}
