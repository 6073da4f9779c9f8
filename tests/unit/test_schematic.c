/* Unit tests for src/schematic and the YAML modules under it (yaml_document, yaml_value).
 *
 * 1. Every schematic -> ID vector of reference/image-factory-spec.md §5.4 (all 24 rows and the
 *    computed ones), as text inputs and as canonical bytes that must round-trip.
 * 2. tests/data/schematic/go-yaml-vectors.jsonl: 1276 inputs run through Image Factory's own
 *    decoder + go-yaml v4 Marshal (see tests/data/schematic/tools/README.md); canonical bytes,
 *    IDs and accept/reject decisions must be identical.
 * 3. Field decoding, quoting rules and error positions, one test per concern. */
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/memory.h"
#include "airfactory/schematic.h"
#include "core/yaml_document.h"
#include "core/yaml_value.h"
#include "test.h"

static char *canonical_of(const char *text)
{
    struct error err = {0};
    struct schematic *s = NULL;
    if (schematic_parse(text, strlen(text), "test", &s, &err) < 0) {
        printf("  parse failed: %s\n", err.message);
        return NULL;
    }
    struct buffer b = BUFFER_INIT;
    if (schematic_marshal(s, &b, &err) < 0) {
        printf("  marshal failed: %s\n", err.message);
        schematic_free(s);
        buffer_free(&b);
        return NULL;
    }
    schematic_free(s);
    return buffer_take(&b);
}

static char *id_of(const char *text)
{
    struct error err = {0};
    struct schematic *s = NULL;
    if (schematic_parse(text, strlen(text), "test", &s, &err) < 0) {
        printf("  parse failed: %s\n", err.message);
        return NULL;
    }
    char *id = xmalloc(SCHEMATIC_ID_HEX_LEN + 1);
    if (schematic_id(s, id, &err) < 0) {
        free(id);
        id = NULL;
    }
    schematic_free(s);
    return id;
}

/* error message when parsing fails, NULL when it succeeds */
static char *error_of(const char *text)
{
    struct error err = {0};
    struct schematic *s = NULL;
    if (schematic_parse(text, strlen(text), "s.yaml", &s, &err) == 0) {
        schematic_free(s);
        return NULL;
    }
    if (err.code != ERROR_INPUT)
        printf("  error code %d for %s\n", err.code, err.message);
    return xstrdup(err.message);
}

#define CHECK_ID(text, expected)                                                                                       \
    do {                                                                                                               \
        char *id_ = id_of(text);                                                                                       \
        CHECK_STR(id_, expected);                                                                                      \
        free(id_);                                                                                                     \
    } while (0)

#define CHECK_CANONICAL(text, expected)                                                                                \
    do {                                                                                                               \
        char *c_ = canonical_of(text);                                                                                 \
        CHECK_STR(c_, expected);                                                                                       \
        free(c_);                                                                                                      \
    } while (0)

#define CHECK_ERROR(text, fragment)                                                                                    \
    do {                                                                                                               \
        char *e_ = error_of(text);                                                                                     \
        CHECK(e_ != NULL);                                                                                             \
        if (e_ && !strstr(e_, fragment)) {                                                                             \
            printf("  error '%s' lacks '%s'\n", e_, fragment);                                                         \
            CHECK(strstr(e_, fragment) != NULL);                                                                       \
        }                                                                                                              \
        free(e_);                                                                                                      \
    } while (0)

/* ---- reference/image-factory-spec.md §5.4 ---- */

static const char vanilla[] = SCHEMATIC_VANILLA_ID;

static void reference_text_vectors_rows_1_to_9(void)
{
    CHECK_ID("{}", vanilla);
    CHECK_ID("customization: {}", vanilla);
    CHECK_ID("customization: {\"extraKernelArgs\": []}", vanilla);
    CHECK_ID("{\"customization\": {\"extraKernelArgs\": [\"noapic\", \"nolapic\"]}}",
             "9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c");
    CHECK_ID("{\"customization\": {\"extraKernelArgs\": [\"noapic\", \"nolapic\"], \"systemExtensions\": {}}}",
             "9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c");
    CHECK_ID("{\"customization\": {\"meta\": [{\"key\": 10, \"value\": \"foo\"}], \"extraKernelArgs\": [], "
             "\"systemExtensions\": {}}}",
             "d308a2a5ee2277bed5fbaa104fcbc8d59122abfa737df987a95b4ca763459a7f");
    CHECK_ID("{\"overlay\": {\"name\": \"rpi_generic\", \"image\": \"siderolabs/sbc-raspberrypi\"}}",
             "ee21ef4a5ef808a9b7484cc0dda0f25075021691c8c09a276591eedb638ea1f9");
    CHECK_ID("{\"overlay\": {\"name\": \"rpi_generic\", \"image\": \"siderolabs/sbc-raspberrypi\"},\"customization\":{}}",
             "ee21ef4a5ef808a9b7484cc0dda0f25075021691c8c09a276591eedb638ea1f9");
    CHECK_ID("{\"customization\":{\"secureboot\": {\"includeWellKnownCertificates\": true}}}",
             "fa8e05f142a851d3ee568eb0a8e5841eaf6b0ebc8df9a63df16ac5ed2c04f3e6");
}

/* Rows 10-24 give canonical bytes: hashing them must give the ID, and parsing them must give
 * them back unchanged (the canonical form is a fixed point). */
static void reference_canonical_vectors_rows_10_to_24(void)
{
    static const struct {
        const char *yaml, *id;
    } rows[] = {
        {"customization: {}\n", "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"},
        {"customization:\n    extraKernelArgs:\n        - noapic\n        - nolapic\n",
         "9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c"},
        {"customization:\n    meta:\n        - key: 10\n          value: foo\n",
         "d308a2a5ee2277bed5fbaa104fcbc8d59122abfa737df987a95b4ca763459a7f"},
        {"customization:\n    secureboot:\n        includeWellKnownCertificates: true\n",
         "fa8e05f142a851d3ee568eb0a8e5841eaf6b0ebc8df9a63df16ac5ed2c04f3e6"},
        {"customization:\n    diskImage:\n        sectorSize: 4096\n",
         "92833e9ddd9bb9e11b2464fa5525429f01866306d52ebd882ee08d7918f6d1ea"},
        {"customization:\n    extraKernelArgs:\n        - nolapic\n        - nomodeset\n",
         "e0fb1129bbbdfb5d002e94af4cdce712a8370e850950a33a242d4c3f178c532d"},
        {"customization:\n    systemExtensions:\n        officialExtensions:\n            - siderolabs/amd-ucode\n"
         "            - siderolabs/gvisor\n            - siderolabs/gasket-driver\n",
         "51ff3e49313773332729a5c04e57af0dbe2e6d3f65ff638e6d4c3a05065fefff"},
        {"customization:\n    meta:\n        - key: 10\n          value: '{\"externalIPs\":[\"1.2.3.4\"]}'\n",
         "fe866116408a5a13dab7d5003eb57a00954ea81ebeec3fbbcd1a6d4462a00036"},
        {"overlay:\n    image: siderolabs/sbc-raspberrypi\n    name: rpi_generic\ncustomization: {}\n",
         "ee21ef4a5ef808a9b7484cc0dda0f25075021691c8c09a276591eedb638ea1f9"},
        {"customization:\n    bootloader: grub\n", "39d496b2cbdb6265d3b714514c5334bf010f1b4d31b23b9e38c80fb2f3ad7ecb"},
        {"customization:\n    bootloader: sd-boot\n", "9ed5fecdacb36b5c5427b87d409f1065cfb2df69b0f71c58b868d9d466d8dab3"},
        {"customization:\n    extraKernelArgs:\n        - noapic\n        - nolapic\n    meta:\n        - key: 10\n"
         "          value: foo\n    systemExtensions:\n        officialExtensions:\n            - siderolabs/amd-ucode\n"
         "            - siderolabs/intel-ucode\n",
         "6ba13d510dcc57f233b9b498d34a3c919c1abdd5675b46ad53cf4f2e66362f82"},
        {"overlay:\n    image: ghcr.io/siderolabs/sbc-raspberrypi:v0.1.0\n    name: rpi_generic\ncustomization:\n"
         "    extraKernelArgs:\n        - noapic\n        - nolapic\n    systemExtensions:\n        officialExtensions:\n"
         "            - siderolabs/amd-ucode\n            - siderolabs/intel-ucode\n",
         "1da25204d18e6db95cb65ce2e38424b2ad94b2519a53aef34e45f07cc73ca5e8"},
        {"customization:\n    systemExtensions:\n        officialExtensions:\n            - siderolabs/nvidia-container-toolkit\n"
         "            - siderolabs/nvidia-open-gpu-kernel-modules\n            - siderolabs/nonfree-kmod-nvidia\n"
         "            - siderolabs/nvidia-fabricmanager\n            - siderolabs/i915-ucode\n"
         "            - siderolabs/amdgpu-firmware\n",
         "42c5a897579913a97ad7edc56c0d858bc4dd8639951e02b084edbb2e190a7898"},
        {"customization:\n    embeddedMachineConfiguration: |-\n        apiVersion: v1alpha1\n        kind: HostnameConfig\n"
         "        hostname: worker-33\n",
         "02f29f9a702fceec4fc2e2e51314d63710fc1b192ebb1629ac12301949d49c8c"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char hex[65];
        sha256_hex(rows[i].yaml, strlen(rows[i].yaml), hex);
        CHECK_STR(hex, rows[i].id);
        CHECK_CANONICAL(rows[i].yaml, rows[i].yaml);
        CHECK_ID(rows[i].yaml, rows[i].id);
    }
}

/* The re-spellings image-factory-schematic-id.py uses for rows 14-24 (block/flow mixes). */
static void reference_respellings(void)
{
    CHECK_ID("customization:\n  diskImage:\n    sectorSize: 4096\n",
             "92833e9ddd9bb9e11b2464fa5525429f01866306d52ebd882ee08d7918f6d1ea");
    CHECK_ID("customization:\n  extraKernelArgs: [nolapic, nomodeset]\n",
             "e0fb1129bbbdfb5d002e94af4cdce712a8370e850950a33a242d4c3f178c532d");
    CHECK_ID("customization:\n  systemExtensions:\n    officialExtensions: [siderolabs/amd-ucode, siderolabs/gvisor, "
             "siderolabs/gasket-driver]\n",
             "51ff3e49313773332729a5c04e57af0dbe2e6d3f65ff638e6d4c3a05065fefff");
    CHECK_ID("customization:\n  meta:\n    - key: 0xa\n      value: '{\"externalIPs\":[\"1.2.3.4\"]}'\n",
             "fe866116408a5a13dab7d5003eb57a00954ea81ebeec3fbbcd1a6d4462a00036");
    CHECK_ID("customization:\n  bootloader: grub\n", "39d496b2cbdb6265d3b714514c5334bf010f1b4d31b23b9e38c80fb2f3ad7ecb");
    CHECK_ID("customization:\n  bootloader: sd-boot\n",
             "9ed5fecdacb36b5c5427b87d409f1065cfb2df69b0f71c58b868d9d466d8dab3");
    CHECK_ID("customization:\n  extraKernelArgs: [noapic, nolapic]\n  meta: [{key: 10, value: foo}]\n  systemExtensions:\n"
             "    officialExtensions: [siderolabs/amd-ucode, siderolabs/intel-ucode]\n",
             "6ba13d510dcc57f233b9b498d34a3c919c1abdd5675b46ad53cf4f2e66362f82");
    CHECK_ID("overlay: {name: rpi_generic, image: 'ghcr.io/siderolabs/sbc-raspberrypi:v0.1.0'}\ncustomization:\n"
             "  extraKernelArgs: [noapic, nolapic]\n  systemExtensions:\n    officialExtensions: [siderolabs/amd-ucode, "
             "siderolabs/intel-ucode]\n",
             "1da25204d18e6db95cb65ce2e38424b2ad94b2519a53aef34e45f07cc73ca5e8");
    CHECK_ID(
        "customization:\n  systemExtensions:\n    officialExtensions:\n      - siderolabs/nvidia-container-toolkit\n"
        "      - siderolabs/nvidia-open-gpu-kernel-modules\n      - siderolabs/nonfree-kmod-nvidia\n"
        "      - siderolabs/nvidia-fabricmanager\n      - siderolabs/i915-ucode\n      - siderolabs/amdgpu-firmware\n",
        "42c5a897579913a97ad7edc56c0d858bc4dd8639951e02b084edbb2e190a7898");
    CHECK_ID("customization:\n  embeddedMachineConfiguration: \"apiVersion: v1alpha1\\nkind: HostnameConfig\\nhostname: "
             "worker-33\"\n",
             "02f29f9a702fceec4fc2e2e51314d63710fc1b192ebb1629ac12301949d49c8c");
}

static void reference_computed_vectors(void)
{
    /* the integration-test constant really uses "/n": one line with ': ' -> single-quoted */
    CHECK_CANONICAL(
        "customization:\n  embeddedMachineConfiguration: 'apiVersion: v1alpha1/nkind: HostnameConfig/nhostname: "
        "my-custom-hostname/nauto: off'\n",
        "customization:\n    embeddedMachineConfiguration: 'apiVersion: v1alpha1/nkind: HostnameConfig/nhostname: "
        "my-custom-hostname/nauto: off'\n");
    CHECK_ID("customization:\n  embeddedMachineConfiguration: 'apiVersion: v1alpha1/nkind: HostnameConfig/nhostname: "
             "my-custom-hostname/nauto: off'\n",
             "79312a00a1ccfee2c4ecad20fcb972ef75fce4e62053384d97885de26852c413");
    CHECK_ID("customization:\n  systemExtensions:\n    officialExtensions: [extension-testing/my-extension]\n",
             "9414259a4d71e1c9ab92bfaf673f83ac85afe39839ed91e28ca6e1177f576437");
    CHECK_ID("customization:\n  extraKernelArgs: [vga=791]\n",
             "eea1f9534c46d95c4715a2f13d17eacb927c13a42ef087c79b22c3bd0c49d073");
    /* owner: the computed ID is for the Enterprise edition; the open edition refuses the field */
    char hex[65];
    sha256_hex("owner: alice\ncustomization: {}\n", 31, hex);
    CHECK_STR(hex, "325e789382e85e76ab77e38cb320a816e2c9550cb5afe960b21f75e06605e2e9");
    CHECK_ERROR("owner: alice\n", "s.yaml:1:8: owner: the owner field is only supported");
    /* the stale HMAC-era example of docs/api.md must NOT be reproduced */
    char *id = id_of("customization:\n    extraKernelArgs:\n        - vga=791\n");
    CHECK(id && strcmp(id, "2a63b6e7dab90ec9d44f213339b9545bd39c6499b22a14cf575c1ca4b6e39ff8") != 0);
    free(id);
}

static void vanilla_spellings(void)
{
    const char *spellings[] = {"{}",
                               "customization:",
                               "customization: {}",
                               "customization: ~",
                               "~",
                               "null",
                               "---\n",
                               "customization:\n  extraKernelArgs: []\n  meta: []\n  systemExtensions: {}\n",
                               "overlay: {}\ncustomization: {}\n",
                               "overlay:\n  options: {}\n",
                               "customization:\n  bootloader: none\n  secureboot: {includeWellKnownCertificates: false}\n"
                               "  diskImage: {sectorSize: 0}\n",
                               "owner: ''\n"};
    for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++) {
        CHECK_ID(spellings[i], vanilla);
        CHECK_CANONICAL(spellings[i], "customization: {}\n");
    }
    struct schematic *s = schematic_new();
    char id[65];
    CHECK_INT(schematic_id(s, id, NULL), 0);
    CHECK_STR(id, vanilla);
    schematic_free(s);
}

/* ---- go-yaml generated vectors ---- */

static void go_yaml_vectors(void)
{
    const char *root = getenv("ROOT");
    char *path = root ? path_join(root, "tests/data/schematic/go-yaml-vectors.jsonl")
                      : xstrdup("tests/data/schematic/go-yaml-vectors.jsonl");
    struct buffer text = BUFFER_INIT;
    struct error err = {0};
    CHECK_INT(fs_read_file(path, 16u << 20, &text, &err), 0);
    free(path);
    size_t n = 0, canon = 0, errors = 0, failures = 0;
    const char *p = buffer_cstr(&text), *end = p + text.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        struct json_value *row = NULL;
        if (json_parse(p, len, "vector", &row, &err) < 0) {
            printf("  bad vector line: %s\n", err.message);
            failures++;
            break;
        }
        n++;
        const struct json_value *input = json_object_get(row, "input");
        const char *canonical = json_object_get_string(row, "canonical");
        const char *id = json_object_get_string(row, "id");
        struct schematic *s = NULL;
        struct error perr = {0};
        int rc = schematic_parse(input->text, input->text_len, "vector", &s, &perr);
        if (canonical) {
            canon++;
            struct buffer out = BUFFER_INIT;
            char got_id[65] = "";
            if (rc < 0 || schematic_marshal(s, &out, &perr) < 0 || schematic_id(s, got_id, &perr) < 0 ||
                strcmp(buffer_cstr(&out), canonical) || strcmp(got_id, id)) {
                if (failures++ < 10)
                    printf("  vector %zu: input %.120s\n    expected %.200s\n    got      %.200s (%s)\n", n,
                           input->text, canonical, buffer_cstr(&out), rc < 0 ? perr.message : "");
            } else {
                /* the canonical form is a fixed point, except where go-yaml writes an indentation
                 * indicator inside a sequence item ("- |4-"), which no YAML parser reads back */
                struct schematic *again = NULL;
                struct buffer out2 = BUFFER_INIT;
                if (!strstr(canonical, "|4") &&
                    (schematic_parse(out.data, out.len, "canonical", &again, &perr) < 0 ||
                     schematic_marshal(again, &out2, &perr) < 0 || strcmp(buffer_cstr(&out2), canonical))) {
                    if (failures++ < 10)
                        printf("  vector %zu: canonical form does not round-trip: %.200s\n", n, canonical);
                }
                schematic_free(again);
                buffer_free(&out2);
            }
            buffer_free(&out);
        } else {
            errors++;
            if (rc == 0 || perr.code != ERROR_INPUT || strncmp(perr.message, "vector:", 7)) {
                if (failures++ < 10)
                    printf("  vector %zu: expected an input error for %.160s, got rc=%d '%s'\n", n, input->text, rc,
                           perr.message);
            }
        }
        schematic_free(s);
        json_free(row);
        p += len + 1;
    }
    buffer_free(&text);
    printf("  %zu go-yaml vectors: %zu canonical, %zu rejected, %zu failures\n", n, canon, errors, failures);
    CHECK(n > 1000);
    CHECK(canon > 900);
    CHECK_INT(failures, 0);
}

/* ---- fields ---- */

static void every_field_decodes(void)
{
    const char *text = "overlay:\n"
                       "  image: siderolabs/sbc-raspberrypi\n"
                       "  name: rpi_generic\n"
                       "  options: {configTxtAppend: 'dtoverlay=x', nested: {b: 2, a: [1, true, ~]}}\n"
                       "customization:\n"
                       "  embeddedMachineConfiguration: |\n"
                       "    kind: HostnameConfig\n"
                       "  extraKernelArgs: [console=ttyS0, -selinux, 10]\n"
                       "  meta:\n"
                       "    - key: 0xa\n"
                       "      value: 'addresses: []'\n"
                       "    - {key: 0o14, value: x}\n"
                       "  systemExtensions:\n"
                       "    officialExtensions: [siderolabs/hello-world-service, siderolabs/intel-ucode]\n"
                       "  bootloader: SD-Boot\n"
                       "  secureboot:\n"
                       "    enrollKeys: Force\n"
                       "    includeWellKnownCertificates: yes\n"
                       "  diskImage:\n"
                       "    sectorSize: 0x1000\n";
    struct error err = {0};
    struct schematic *s = NULL;
    CHECK_INT(schematic_parse(text, strlen(text), "t", &s, &err), 0);
    if (!s) {
        printf("  %s\n", err.message);
        return;
    }
    CHECK_STR(s->overlay_image, "siderolabs/sbc-raspberrypi");
    CHECK_STR(s->overlay_name, "rpi_generic");
    CHECK(schematic_has_overlay(s));
    CHECK(s->overlay_options && s->overlay_options->count == 4);
    CHECK_STR(s->embedded_machine_configuration, "kind: HostnameConfig\n");
    CHECK_INT(s->extra_kernel_arg_count, 3);
    CHECK_STR(s->extra_kernel_args[1], "-selinux");
    CHECK_STR(s->extra_kernel_args[2], "10");
    CHECK_INT(s->meta_count, 2);
    CHECK_INT(s->meta[0].key, 10);
    CHECK_STR(s->meta[0].value, "addresses: []");
    CHECK_INT(s->meta[1].key, 12);
    CHECK_INT(s->extension_count, 2);
    CHECK_STR(s->extensions[1], "siderolabs/intel-ucode");
    CHECK_INT(s->bootloader, SCHEMATIC_BOOTLOADER_SD_BOOT);
    CHECK_STR(schematic_bootloader_name(s->bootloader), "sd-boot");
    CHECK_STR(s->secureboot_enroll_keys, "Force");
    CHECK(s->include_well_known_certificates);
    CHECK_INT(s->sector_size, 4096);
    struct buffer b = BUFFER_INIT;
    CHECK_INT(schematic_marshal(s, &b, &err), 0);
    CHECK_STR(buffer_cstr(&b), "overlay:\n"
                               "    image: siderolabs/sbc-raspberrypi\n"
                               "    name: rpi_generic\n"
                               "    options:\n"
                               "        configTxtAppend: dtoverlay=x\n"
                               "        nested:\n"
                               "            a:\n"
                               "                - 1\n"
                               "                - true\n"
                               "                - null\n"
                               "            b: 2\n"
                               "customization:\n"
                               "    embeddedMachineConfiguration: |\n"
                               "        kind: HostnameConfig\n"
                               "    extraKernelArgs:\n"
                               "        - console=ttyS0\n"
                               "        - -selinux\n"
                               "        - \"10\"\n"
                               "    meta:\n"
                               "        - key: 10\n"
                               "          value: 'addresses: []'\n"
                               "        - key: 12\n"
                               "          value: x\n"
                               "    systemExtensions:\n"
                               "        officialExtensions:\n"
                               "            - siderolabs/hello-world-service\n"
                               "            - siderolabs/intel-ucode\n"
                               "    bootloader: sd-boot\n"
                               "    secureboot:\n"
                               "        enrollKeys: Force\n"
                               "        includeWellKnownCertificates: true\n"
                               "    diskImage:\n"
                               "        sectorSize: 4096\n");
    buffer_free(&b);
    schematic_free(s);
}

static void meta_keys(void)
{
    const char *ok[] = {"10", "0xa", "0XA", "0o12", "0b1010", "012", "1_0", "10.0", "!!float 10"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "customization:\n  meta:\n    - key: %s\n      value: foo\n", ok[i]);
        CHECK_ID(text, "d308a2a5ee2277bed5fbaa104fcbc8d59122abfa737df987a95b4ca763459a7f");
    }
    CHECK_CANONICAL("customization:\n  meta:\n    - key: 255\n",
                    "customization:\n    meta:\n        - key: 255\n          value: \"\"\n");
    CHECK_CANONICAL("customization:\n  meta:\n    - value: v\n",
                    "customization:\n    meta:\n        - key: 0\n          value: v\n");
    CHECK_ERROR("customization:\n  meta:\n    - key: 256\n",
                "s.yaml:3:12: customization.meta[0].key: 256 is out of range; expected an integer 0-255");
    CHECK_ERROR("customization:\n  meta:\n    - key: -1\n", "out of range");
    CHECK_ERROR("customization:\n  meta:\n    - key: 10.5\n", "out of range");
    CHECK_ERROR("customization:\n  meta:\n    - key: \"10\"\n", "expected an integer");
    CHECK_ERROR("customization:\n  meta:\n    - key: true\n", "expected an integer");
    CHECK_ERROR("customization:\n  meta:\n    - key: 1\n      extra: 2\n",
                "s.yaml:4:7: customization.meta[0]: unknown field 'extra'");
    CHECK_ERROR("customization:\n  meta: {key: 1}\n", "s.yaml:2:9: customization.meta: expected a sequence");
}

static void bootloader_values(void)
{
    CHECK_CANONICAL("customization: {bootloader: GRUB}", "customization:\n    bootloader: grub\n");
    CHECK_CANONICAL("customization: {bootloader: Dual-Boot}", "customization:\n    bootloader: dual-boot\n");
    CHECK_CANONICAL("customization: {bootloader: 'sd-boot'}", "customization:\n    bootloader: sd-boot\n");
    CHECK_CANONICAL("customization: {bootloader: NONE}", "customization: {}\n");
    CHECK_CANONICAL("customization: {bootloader: ~}", "customization: {}\n");
    CHECK_ERROR("customization:\n  bootloader: auto\n",
                "s.yaml:2:15: customization.bootloader: 'auto' is not a bootloader value");
    CHECK_ERROR("customization:\n  bootloader: systemd\n", "expected one of none, dual-boot, sd-boot, grub");
    CHECK_ERROR("customization:\n  bootloader: ''\n", "is not a bootloader");
    CHECK_ERROR("customization:\n  bootloader: [grub]\n", "found a sequence");
}

static void secureboot_and_disk_fields(void)
{
    CHECK_CANONICAL("customization: {secureboot: {enrollKeys: off}}",
                    "customization:\n    secureboot:\n        enrollKeys: 'off'\n");
    CHECK_CANONICAL("customization: {secureboot: {enrollKeys: if-safe}}",
                    "customization:\n    secureboot:\n        enrollKeys: if-safe\n");
    const char *trues[] = {"true", "True", "TRUE", "yes", "on", "Y", "\"yes\"", "!!bool true"};
    for (size_t i = 0; i < sizeof trues / sizeof trues[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "customization:\n  secureboot:\n    includeWellKnownCertificates: %s\n", trues[i]);
        CHECK_ID(text, "fa8e05f142a851d3ee568eb0a8e5841eaf6b0ebc8df9a63df16ac5ed2c04f3e6");
    }
    CHECK_ID("customization: {secureboot: {includeWellKnownCertificates: off}}", vanilla);
    CHECK_ERROR("customization:\n  secureboot:\n    includeWellKnownCertificates: \"true\"\n", "expected a boolean");
    CHECK_ERROR("customization:\n  secureboot:\n    includeWellKnownCertificates: 1\n",
                "s.yaml:3:35: customization.secureboot.includeWellKnownCertificates");
    CHECK_CANONICAL("customization: {diskImage: {sectorSize: 4096.0}}",
                    "customization:\n    diskImage:\n        sectorSize: 4096\n");
    CHECK_CANONICAL("customization: {diskImage: {sectorSize: 18446744073709551615}}",
                    "customization:\n    diskImage:\n        sectorSize: 18446744073709551615\n");
    CHECK_ERROR("customization: {diskImage: {sectorSize: 18446744073709551616}}", "out of range");
    CHECK_ERROR("customization: {diskImage: {sectorSize: -512}}", "out of range");
    CHECK_ERROR("customization: {diskImage: {sectorSize: '4096'}}", "expected an integer");
}

static void string_fields_take_scalar_text(void)
{
    CHECK_CANONICAL("customization: {extraKernelArgs: [10, true, 1.5, 0x1F, .inf, ~, off, '', ' a', yes]}",
                    "customization:\n    extraKernelArgs:\n        - \"10\"\n        - \"true\"\n        - \"1.5\"\n"
                    "        - \"0x1F\"\n        - \".inf\"\n        - 'off'\n        - \"\"\n        - ' a'\n"
                    "        - 'yes'\n");
    CHECK_CANONICAL("customization: {extraKernelArgs: [~]}", "customization: {}\n");
    CHECK_ERROR("customization:\n  extraKernelArgs: [2001-12-14]\n",
                "s.yaml:2:21: customization.extraKernelArgs[0]: '2001-12-14' reads as a timestamp");
    CHECK_CANONICAL("customization: {extraKernelArgs: ['2001-12-14']}",
                    "customization:\n    extraKernelArgs:\n        - \"2001-12-14\"\n");
    CHECK_ERROR("customization:\n  extraKernelArgs: a\n",
                "s.yaml:2:20: customization.extraKernelArgs: expected a sequence of strings, found a string");
    CHECK_ERROR("customization:\n  extraKernelArgs: [[a]]\n", "expected a string, found a sequence");
}

/* Quoting: each rule of reference §5.3, checked on a list item (indent 8). */
static void quoting_rules(void)
{
    static const struct {
        const char *value;    /* YAML double-quoted spelling */
        const char *rendered; /* the item as go-yaml writes it */
    } cases[] = {
        {"plain", "plain"},
        {"", "\"\""},
        {"~", "\"~\""},
        {"null", "\"null\""},
        {"true", "\"true\""},
        {"10", "\"10\""},
        {"0x1F", "\"0x1F\""},
        {"1e3", "\"1e3\""},
        {".inf", "\".inf\""},
        {"2001-12-14", "\"2001-12-14\""},
        {"2001-02-30", "2001-02-30"}, /* not a date: plain */
        {"-0", "\"-0\""},
        {"08", "\"08\""},   /* reads as the float 8 */
        {"1e400", "1e400"}, /* float out of range: a string */
        {"off", "'off'"},
        {"Y", "'Y'"},
        {"1:20", "'1:20'"},
        {"<<", "'<<'"},
        {" a", "' a'"},
        {"a ", "'a '"},
        {"a: b", "'a: b'"},
        {"a #b", "'a #b'"},
        {"a#b", "a#b"},
        {"- a", "'- a'"},
        {"-a", "-a"},
        {"--- a", "'--- a'"},
        {"@a", "'@a'"},
        {"`a", "'`a'"},
        {"'a", "'''a'"},
        {"a'b", "a'b"},
        {"\\\"a", "'\"a'"},
        {"a\\tb", "\"a\\tb\""},
        {"\\u00e9t\\u00e9", "\xc3\xa9t\xc3\xa9"},
        {"\\U0001F600", "\"\\U0001F600\""},
        {"\\ufeffab", "\"\\uFEFF\\x61\\x62\""}, /* go-yaml escapes everything after a leading BOM */
        {"a\\x7fb", "\"a\\x7Fb\""},
        {"a\\rb", "\"a\\rb\""},
        {"a\\u2028b", "'a\xe2\x80\xa8          b'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[256], want[256];
        snprintf(text, sizeof text, "customization: {extraKernelArgs: [\"%s\"]}", cases[i].value);
        snprintf(want, sizeof want, "customization:\n    extraKernelArgs:\n        - %s\n", cases[i].rendered);
        CHECK_CANONICAL(text, want);
    }
}

static void literal_blocks(void)
{
    /* indentation follows go-yaml: +4 from a mapping, +2 inside a sequence item */
    CHECK_CANONICAL("customization: {embeddedMachineConfiguration: \"a\\nb\"}",
                    "customization:\n    embeddedMachineConfiguration: |-\n        a\n        b\n");
    CHECK_CANONICAL("customization: {embeddedMachineConfiguration: \"a\\nb\\n\"}",
                    "customization:\n    embeddedMachineConfiguration: |\n        a\n        b\n");
    CHECK_CANONICAL("customization: {embeddedMachineConfiguration: \"a\\nb\\n\\n\"}",
                    "customization:\n    embeddedMachineConfiguration: |+\n        a\n        b\n\n");
    CHECK_CANONICAL("customization: {embeddedMachineConfiguration: \" a\\nb\"}",
                    "customization:\n    embeddedMachineConfiguration: |4-\n         a\n        b\n");
    CHECK_CANONICAL("customization: {embeddedMachineConfiguration: \"\\na\"}",
                    "customization:\n    embeddedMachineConfiguration: |-\n\n        a\n");
    CHECK_CANONICAL("customization: {extraKernelArgs: [\"x\\ny\"]}",
                    "customization:\n    extraKernelArgs:\n        - |-\n          x\n          y\n");
    CHECK_CANONICAL(
        "customization: {meta: [{key: 10, value: \"a: 1\\nb: 2\\n\"}]}",
        "customization:\n    meta:\n        - key: 10\n          value: |\n            a: 1\n            b: 2\n");
    /* no literal when it would not read back: trailing space before a break, or only spaces */
    CHECK_CANONICAL("customization: {embeddedMachineConfiguration: \"a \\nb\"}",
                    "customization:\n    embeddedMachineConfiguration: \"a \\nb\"\n");
    CHECK_CANONICAL("customization: {embeddedMachineConfiguration: \" \\n\"}",
                    "customization:\n    embeddedMachineConfiguration: \" \\n\"\n");
    CHECK_CANONICAL("customization: {embeddedMachineConfiguration: \"\\n\"}",
                    "customization:\n    embeddedMachineConfiguration: \"\\n\"\n");
    CHECK_CANONICAL("customization: {embeddedMachineConfiguration: \"a\\tb\\nc\"}",
                    "customization:\n    embeddedMachineConfiguration: |-\n        a\tb\n        c\n");
}

static void overlay_options_keep_types_and_sort(void)
{
    CHECK_CANONICAL(
        "overlay:\n  image: i\n  name: n\n  options:\n    a10: x\n    a2: x\n    a1: x\n    B: x\n    _: x\n"
        "    10: int-as-key\n    9: x\n    date: 2001-12-14\n    f: 3.0\n    g: 1e6\n    h: -0\n    i: 0x10\n"
        "    j: 99999999999999999999\n    k: .nan\n    l: 0.00001\n    m: \"10\"\n    n: {2: b, 10: c, 1: a, x: y}\n"
        "    o: [1, a, ~, {}, []]\n",
        "overlay:\n    image: i\n    name: 'n'\n    options:\n        _: x\n        \"9\": x\n"
        "        \"10\": int-as-key\n        B: x\n        a1: x\n        a2: x\n        a10: x\n"
        "        date: 2001-12-14T00:00:00Z\n        f: 3\n        g: 1e+06\n        h: -0\n        i: 16\n"
        "        j: 1e+20\n        k: .nan\n        l: 1e-05\n        m: \"10\"\n        'n':\n"
        "            1: a\n            2: b\n            10: c\n            x: 'y'\n"
        "        o:\n            - 1\n            - a\n            - null\n            - {}\n            - []\n"
        "customization: {}\n");
    CHECK_ERROR("overlay:\n  options:\n    ~: x\n", "s.yaml:3:5: a null key is not allowed here");
    CHECK_ERROR("overlay:\n  options: [a]\n", "s.yaml:2:12: overlay.options: expected a mapping");
}

/* Keys of an `any` mapping behave as Go map keys: equal keys overwrite value and key (Go's
 * mapassign updates float and interface keys), different Go values that print alike stay apart. */
static void overlay_option_keys_follow_go_maps(void)
{
#define OPT(keys) "overlay:\n  image: i\n  name: n\n  options:\n    k: " keys "\n"
#define OUT(lines) "overlay:\n    image: i\n    name: 'n'\n    options:\n        k:\n" lines "customization: {}\n"
    CHECK_CANONICAL(OPT("{0x1: a, 1: b}"), OUT("            1: b\n"));
    CHECK_CANONICAL(OPT("{0.0: a, -0.0: b}"), OUT("            -0: b\n"));
    CHECK_CANONICAL(OPT("{-0.0: a, 0.0: b}"), OUT("            0: b\n"));
    CHECK_CANONICAL(OPT("{~: a, null: b, true: c, True: d}"), OUT("            true: d\n            null: b\n"));
    /* int 1 and float 1 are two Go keys; go-yaml v4 writes float64(1) as `1` (its desolver drops
     * !!float when the text reads back as a number), so the canonical form repeats the key,
     * exactly as Image Factory stores it (and, like go-yaml, cannot read it back) */
    CHECK_CANONICAL(OPT("{1: a, 1.: b, 0x1: c}"), OUT("            1: c\n            1: b\n"));
    CHECK_ERROR("overlay:\n    image: i\n    name: 'n'\n    options:\n        k:\n            1: c\n            1: b\n",
                "s.yaml:7:13: duplicate key '1' (first defined at line 6)");
    /* many keys, half of them respelled: 40 000 pairs become 20 000 (sorted, not pairwise) */
    struct buffer b = BUFFER_INIT;
    buffer_append_str(&b, "overlay:\n  image: i\n  name: n\n  options:\n    k:\n");
    for (int i = 0; i < 20000; i++)
        buffer_appendf(&b, "      %d: a\n      0x%x: b\n", i + 1, i + 1);
    struct error err = {0};
    struct schematic *s = NULL;
    CHECK(schematic_parse(b.data, b.len, "s.yaml", &s, &err) == 0);
    if (s) {
        const struct yaml_value *k = s->overlay_options->items[1];
        CHECK_INT(k->count, 2 * 20000);
        CHECK_STR(k->items[1]->text, "b");
        schematic_free(s);
    }
    /* proving a total order for keys with overflowing digit runs is bounded work */
    buffer_reset(&b);
    buffer_append_str(&b, "overlay:\n  image: i\n  name: n\n  options:\n    k:\n");
    for (int i = 0; i < 300; i++) {
        buffer_appendf(&b, "      ? k%d", i);
        for (int j = 0; j < 200; j++)
            buffer_append_str(&b, "9876543210");
        buffer_append_str(&b, "\n      : 1\n");
    }
    char *e = error_of(b.data);
    CHECK(e && strstr(e, "keys with very long digit runs have no stable order"));
    free(e);
    buffer_free(&b);
#undef OPT
#undef OUT
}

static void float_formatting(void)
{
    static const struct {
        double f;
        const char *s;
    } cases[] = {{1.0, "1"},
                 {1.5, "1.5"},
                 {1e6, "1e+06"},
                 {123456.0, "123456"},
                 {1234567.0, "1.234567e+06"},
                 {0.0001, "0.0001"},
                 {0.00001, "1e-05"},
                 {-0.0, "-0"},
                 {0.1, "0.1"},
                 {1e21, "1e+21"},
                 {1e100, "1e+100"},
                 {5e-324, "5e-324"},
                 {1.7976931348623157e308, "1.7976931348623157e+308"},
                 {3.141592653589793, "3.141592653589793"},
                 {-2.5e-7, "-2.5e-07"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[40];
        yaml_format_float(cases[i].f, buf);
        CHECK_STR(buf, cases[i].s);
    }
}

static void resolution_matches_go_yaml(void)
{
    static const struct {
        const char *text;
        enum yaml_resolved_type type;
    } cases[] = {
        {"", YAML_RESOLVED_NULL},
        {"~", YAML_RESOLVED_NULL},
        {"Null", YAML_RESOLVED_NULL},
        {"nULL", YAML_RESOLVED_STRING},
        {"True", YAML_RESOLVED_BOOL},
        {"yes", YAML_RESOLVED_STRING},
        {"0b101", YAML_RESOLVED_INT},
        {"0o17", YAML_RESOLVED_INT},
        {"017", YAML_RESOLVED_INT},
        {"08", YAML_RESOLVED_FLOAT},
        {"0x", YAML_RESOLVED_STRING},
        {"+1", YAML_RESOLVED_INT},
        {"1_000", YAML_RESOLVED_INT},
        {"_1", YAML_RESOLVED_STRING},
        {".5_5", YAML_RESOLVED_FLOAT},
        {"._5", YAML_RESOLVED_STRING},
        {"5.", YAML_RESOLVED_FLOAT},
        {"1e400", YAML_RESOLVED_STRING},
        {"1e-400", YAML_RESOLVED_FLOAT},
        {"-0", YAML_RESOLVED_FLOAT},
        {"18446744073709551615", YAML_RESOLVED_UINT},
        {"18446744073709551616", YAML_RESOLVED_FLOAT},
        {"2001-12-14", YAML_RESOLVED_TIMESTAMP},
        {"2001-12-14t21:59:43.10-05:00", YAML_RESOLVED_TIMESTAMP},
        {"2001-02-29", YAML_RESOLVED_STRING},
        {"2000-02-29", YAML_RESOLVED_TIMESTAMP},
        {"2001-12-14 21:59:43.10", YAML_RESOLVED_TIMESTAMP},
        {"2001-12-14T25:00:00Z", YAML_RESOLVED_STRING},
        {"<<", YAML_RESOLVED_MERGE},
        {".NaN", YAML_RESOLVED_FLOAT},
        {"inf", YAML_RESOLVED_STRING},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct yaml_resolved r;
        yaml_resolve_plain(cases[i].text, strlen(cases[i].text), &r);
        if (r.type != cases[i].type)
            printf("  '%s' resolved to %d\n", cases[i].text, r.type);
        CHECK_INT(r.type, cases[i].type);
    }
    struct yaml_resolved r;
    yaml_resolve_plain("2001-12-14t21:59:43.10-05:00", 28, &r);
    CHECK_STR(r.timestamp, "2001-12-14T21:59:43.1-05:00");
    yaml_resolve_plain("2001-12-14 21:59:43.000", 23, &r);
    CHECK_STR(r.timestamp, "2001-12-14T21:59:43Z");
}

/* ---- errors: positions and what was expected ---- */

static void errors_name_file_line_column(void)
{
    CHECK_ERROR("something:\n",
                "s.yaml:1:1: schematic: unknown field 'something'; expected one of: owner, overlay, customization");
    CHECK_ERROR(
        "customization:\n  extraKernelArg: [a]\n",
        "s.yaml:2:3: customization: unknown field 'extraKernelArg'; expected one of: embeddedMachineConfiguration");
    CHECK_ERROR("customization:\n  systemExtensions:\n    official: []\n",
                "s.yaml:3:5: customization.systemExtensions: unknown field 'official'");
    CHECK_ERROR("overlay:\n  img: x\n", "s.yaml:2:3: overlay: unknown field 'img'");
    CHECK_ERROR("customization: {}\ncustomization: {}\n",
                "s.yaml:2:1: duplicate key 'customization' (first defined at line 1)");
    CHECK_ERROR("customization: {}\n---\n{}\n", "s.yaml:2:1: a second YAML document starts here");
    CHECK_ERROR("customization: []\n", "s.yaml:1:16: customization: expected a mapping, found a sequence");
    CHECK_ERROR("customization: [\n", "s.yaml:2:1:");
    CHECK_ERROR("customization:\n  extraKernelArgs: [a\n", "s.yaml:");
    CHECK_ERROR("", "s.yaml:1:1: the document is empty");
    CHECK_ERROR("# only a comment\n", "the document is empty");
    CHECK_ERROR("[]", "s.yaml:1:1: schematic: expected a mapping, found a sequence");
    CHECK_ERROR("customization: !!binary aGVsbG8=\n", "s.yaml:1:16: unsupported tag");
    CHECK_ERROR("customization: \"\\0\"\n", "NUL characters");
    CHECK_ERROR("customization:\n  extraKernelArgs: *nope\n", "unknown anchor 'nope'");
    CHECK_ERROR("a: &a [*a]\n", "unknown anchor 'a'");
    CHECK_ERROR("customization:\n  extraKernelArgs: [!!int abc]\n",
                "s.yaml:2:21: cannot construct !!str `abc` as a !!int");
    CHECK_ERROR("customization:\n  <<: {bootloader: grub}\n", "s.yaml:2:3: merge keys ('<<') are not supported");
    CHECK_ERROR("\xff\xfe", "s.yaml:1:1:");
    CHECK_ERROR("customization: {a: 1, a: 2}", "duplicate key 'a'");
}

static void aliases_expand_and_billion_laughs_fails(void)
{
    CHECK_CANONICAL("customization:\n  extraKernelArgs: &a [x, y]\n  systemExtensions:\n    officialExtensions: *a\n",
                    "customization:\n    extraKernelArgs:\n        - x\n        - 'y'\n    systemExtensions:\n"
                    "        officialExtensions:\n            - x\n            - 'y'\n");
    struct buffer b = BUFFER_INIT;
    buffer_append_str(&b, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 9; i++)
        buffer_appendf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i - 1,
                       i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    char *e = error_of(b.data);
    CHECK(e && strstr(e, "excessive aliasing"));
    free(e);
    buffer_free(&b);
    /* deep nesting is refused, not a stack overflow */
    struct buffer deep = BUFFER_INIT;
    for (int i = 0; i < 5000; i++)
        buffer_append_char(&deep, '[');
    e = error_of(deep.data);
    CHECK(e != NULL);
    free(e);
    buffer_free(&deep);
}

/* ---- yaml_document limits: go-yaml's alias ratio, counted as go-yaml counts; bytes ---- */

/* Load text with yaml_document_load; NULL when it loads, else the error message (caller frees). */
static char *load_error(const char *text, size_t len)
{
    struct error err = {0};
    struct yaml_node *root = NULL;
    if (yaml_document_load(text, len, "d.yaml", &root, &err) == 0) {
        yaml_node_free(root);
        return NULL;
    }
    CHECK_INT(err.code, ERROR_INPUT);
    return xstrdup(err.message);
}

/* "a: &a [x * k]\nb: [*a * m]\n" */
static void flat_alias_doc(struct buffer *b, int k, int m)
{
    buffer_reset(b);
    buffer_append_str(b, "a: &a [x");
    for (int i = 1; i < k; i++)
        buffer_append_str(b, ", x");
    buffer_append_str(b, "]\nb: [*a");
    for (int i = 1; i < m; i++)
        buffer_append_str(b, ", *a");
    buffer_append_str(b, "]\n");
}

/* "a: &a [x * k]\nb: &b [*a, *a]\nc: [*b * m]\n": aliases inside what an alias copies */
static void nested_alias_doc(struct buffer *b, int k, int m)
{
    buffer_reset(b);
    buffer_append_str(b, "a: &a [x");
    for (int i = 1; i < k; i++)
        buffer_append_str(b, ", x");
    buffer_append_str(b, "]\nb: &b [*a, *a]\nc: [*b");
    for (int i = 1; i < m; i++)
        buffer_append_str(b, ", *b");
    buffer_append_str(b, "]\n");
}

static void yaml_alias_ratio_is_go_yamls(void)
{
    /* go.yaml.in/yaml/v4 internal/libyaml/options.go DefaultAliasCheck */
    CHECK(yaml_allowed_alias_ratio(1000) == 0.99);
    CHECK(yaml_allowed_alias_ratio(400000) == 0.99);
    CHECK(yaml_allowed_alias_ratio(4000000) == 0.10);
    CHECK(yaml_allowed_alias_ratio(9000000) == 0.10);
    double mid = yaml_allowed_alias_ratio(2200000);
    CHECK(mid > 0.5449 && mid < 0.5451);
    CHECK(!yaml_alias_ratio_exceeded(100, 100000)); /* aliasCount <= 100: never */
    CHECK(!yaml_alias_ratio_exceeded(1000, 1000));  /* constructCount <= 1000: never */
    CHECK(yaml_alias_ratio_exceeded(1000, 1001));
    CHECK(!yaml_alias_ratio_exceeded(990, 1001));
    CHECK(yaml_alias_ratio_exceeded(991, 1001));
    CHECK(!yaml_alias_ratio_exceeded(1000000, 2000000));
    CHECK(yaml_alias_ratio_exceeded(1300000, 2000000));
    CHECK(!yaml_alias_ratio_exceeded(400000, 4000000));
    CHECK(yaml_alias_ratio_exceeded(400001, 4000000));
}

static void yaml_alias_count_matches_go_yaml(void)
{
    /* The first m that go-yaml refuses, from its Construct counting (document node, each key
     * and value, the alias node, then its whole expansion counted as alias; an alias met inside
     * an expansion is one more alias node): flat k=198 -> 202, nested k=100 -> 101. Counting the
     * nested alias nodes wrongly would move the second boundary to 103. */
    struct buffer b = BUFFER_INIT;
    char *e;
    flat_alias_doc(&b, 198, 201);
    e = load_error(b.data, b.len);
    CHECK(e == NULL);
    free(e);
    flat_alias_doc(&b, 198, 202);
    e = load_error(b.data, b.len);
    CHECK(e && strstr(e, "excessive aliasing") && !strncmp(e, "d.yaml:", 7));
    free(e);
    nested_alias_doc(&b, 100, 100);
    e = load_error(b.data, b.len);
    CHECK(e == NULL);
    free(e);
    nested_alias_doc(&b, 100, 101);
    e = load_error(b.data, b.len);
    CHECK(e && strstr(e, "excessive aliasing"));
    free(e);
    /* aliases of scalars never reach go-yaml's ratio (each costs an alias node too) */
    flat_alias_doc(&b, 1, 3000);
    e = load_error(b.data, b.len);
    CHECK(e == NULL);
    free(e);
    buffer_free(&b);
}

static void yaml_alias_bytes_are_bounded(void)
{
    /* the bomb: a 1 MiB scalar aliased 1 500 times (1.5 GB once copied) */
    size_t big = 1u << 20;
    struct buffer b = BUFFER_INIT;
    buffer_append_str(&b, "customization:\n  extraKernelArgs:\n    - &a ");
    buffer_reserve(&b, big + 1);
    memset(b.data + b.len, 'x', big);
    b.len += big;
    buffer_append_str(&b, "\n");
    size_t head = b.len;
    for (int m = 0; m < 1500; m++)
        buffer_append_str(&b, "    - *a\n");
    char *e = load_error(b.data, b.len);
    CHECK(e && strstr(e, "aliases expand to more than 4 MiB of text"));
    CHECK(e && !strncmp(e, "d.yaml:", 7));
    free(e);
    /* and through the schematic decoder (POST /schematics, `airfactory schematic id`) */
    struct error err = {0};
    struct schematic *s = NULL;
    CHECK(schematic_parse(b.data, b.len, "bomb.yaml", &s, &err) < 0);
    CHECK(strstr(err.message, "bomb.yaml:") && strstr(err.message, "aliases expand"));
    /* three copies (3 MiB) are still fine */
    b.len = head;
    for (int m = 0; m < 3; m++)
        buffer_append_str(&b, "    - *a\n");
    e = load_error(b.data, b.len);
    CHECK(e == NULL);
    free(e);
    buffer_free(&b);
    /* keys count too */
    struct buffer k = BUFFER_INIT;
    buffer_append_str(&k, "a: &k\n  ? ");
    buffer_reserve(&k, big + 16);
    memset(k.data + k.len, 'k', big);
    k.len += big;
    buffer_append_str(&k, "\n  : 1\nb: [*k, *k, *k, *k, *k]\n");
    e = load_error(k.data, k.len);
    CHECK(e && strstr(e, "aliases expand"));
    free(e);
    buffer_free(&k);
}

static void yaml_size_depth_and_node_limits(void)
{
    /* the text itself */
    size_t n = YAML_DOCUMENT_MAX_INPUT_BYTES + 1;
    char *text = xmalloc(n);
    memset(text, ' ', n);
    text[0] = 'a';
    char *e = load_error(text, n);
    CHECK(e && strstr(e, "d.yaml: larger than 16 MiB"));
    free(e);
    free(text);
    /* nodes (aliases expanded): the document, the sequence and 199 998 items */
    struct buffer b = BUFFER_INIT;
    buffer_append_char(&b, '[');
    for (int i = 0; i < YAML_DOCUMENT_MAX_NODES - 3; i++)
        buffer_append_str(&b, "1,");
    buffer_append_str(&b, "1]");
    e = load_error(b.data, b.len);
    CHECK(e == NULL);
    free(e);
    buffer_reset(&b);
    buffer_append_char(&b, '[');
    for (int i = 0; i < YAML_DOCUMENT_MAX_NODES - 2; i++)
        buffer_append_str(&b, "1,");
    buffer_append_str(&b, "1]");
    e = load_error(b.data, b.len);
    CHECK(e && strstr(e, "document too large (more than 200000 nodes"));
    free(e);
    /* nesting: levels 0..100 load, 101 does not; nor does an alias copying 61 levels to level 60 */
    buffer_reset(&b);
    for (int i = 0; i <= YAML_DOCUMENT_MAX_DEPTH; i++)
        buffer_append_char(&b, '[');
    for (int i = 0; i <= YAML_DOCUMENT_MAX_DEPTH; i++)
        buffer_append_char(&b, ']');
    e = load_error(b.data, b.len);
    CHECK(e == NULL);
    free(e);
    buffer_reset(&b);
    for (int i = 0; i <= YAML_DOCUMENT_MAX_DEPTH + 1; i++)
        buffer_append_char(&b, '[');
    for (int i = 0; i <= YAML_DOCUMENT_MAX_DEPTH + 1; i++)
        buffer_append_char(&b, ']');
    e = load_error(b.data, b.len);
    CHECK(e && strstr(e, "nesting deeper than 100 levels"));
    free(e);
    buffer_reset(&b);
    buffer_append_str(&b, "a: &a ");
    for (int i = 0; i < 60; i++)
        buffer_append_char(&b, '[');
    for (int i = 0; i < 60; i++)
        buffer_append_char(&b, ']');
    buffer_append_str(&b, "\nb: ");
    for (int i = 0; i < 60; i++)
        buffer_append_char(&b, '[');
    buffer_append_str(&b, "*a");
    for (int i = 0; i < 60; i++)
        buffer_append_char(&b, ']');
    buffer_append_str(&b, "\n");
    e = load_error(b.data, b.len);
    CHECK(e && strstr(e, "nesting deeper than 100 levels (aliases expanded)"));
    free(e);
    buffer_free(&b);
}

int main(void)
{
    RUN(reference_text_vectors_rows_1_to_9);
    RUN(reference_canonical_vectors_rows_10_to_24);
    RUN(reference_respellings);
    RUN(reference_computed_vectors);
    RUN(vanilla_spellings);
    RUN(go_yaml_vectors);
    RUN(every_field_decodes);
    RUN(meta_keys);
    RUN(bootloader_values);
    RUN(secureboot_and_disk_fields);
    RUN(string_fields_take_scalar_text);
    RUN(quoting_rules);
    RUN(literal_blocks);
    RUN(overlay_options_keep_types_and_sort);
    RUN(overlay_option_keys_follow_go_maps);
    RUN(float_formatting);
    RUN(resolution_matches_go_yaml);
    RUN(errors_name_file_line_column);
    RUN(aliases_expand_and_billion_laughs_fails);
    RUN(yaml_alias_ratio_is_go_yamls);
    RUN(yaml_alias_count_matches_go_yaml);
    RUN(yaml_alias_bytes_are_bounded);
    RUN(yaml_size_depth_and_node_limits);
    return TEST_MAIN_END();
}
