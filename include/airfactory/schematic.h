/* schematic — Image Factory schematics: strict decoding, canonical YAML and the schematic ID.
 *
 * Owns: the schematic data model (every field of image-factory pkg/schematic), decoding YAML or
 * JSON text with Image Factory's rules (go-yaml v4 with KnownFields: unknown fields, wrong types
 * and duplicate keys are errors, plus what yaml_document refuses), the community-edition rule
 * that `owner` is refused, and the canonical marshal: the exact bytes go-yaml v4 `Marshal` gives
 * for the Go struct. ID = lowercase hex SHA-256 of those bytes, so IDs equal factory.talos.dev's.
 * The vanilla schematic is `customization: {}\n` =
 * 376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba.
 *
 * Value semantics follow go-yaml: a scalar of any type decodes into a string field as its text
 * (`- 10` is the string "10", and marshals back as `- "10"`), null list items are dropped,
 * `meta[].key` accepts 10, 0xa, 0o12, 0b1010 (0..255), booleans accept YAML 1.1 words (yes/off).
 * Values are not validated beyond types here (extension names, enrollKeys, overlay names are
 * checked when assets are built), exactly as Image Factory accepts them at POST /schematics. */
#ifndef AIRFACTORY_SCHEMATIC_H
#define AIRFACTORY_SCHEMATIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/buffer.h"
#include "airfactory/error.h"

struct yaml_node;  /* core/yaml_document.h */
struct yaml_value; /* core/yaml_value.h */

#define SCHEMATIC_ID_HEX_LEN 64
#define SCHEMATIC_VANILLA_ID "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"
/* Largest schematic document accepted (embedded machine configurations are the big part). */
#define SCHEMATIC_MAX_SIZE (4u << 20)

enum schematic_bootloader {
    SCHEMATIC_BOOTLOADER_NONE = 0, /* not set: the imager picks per version/arch */
    SCHEMATIC_BOOTLOADER_DUAL_BOOT,
    SCHEMATIC_BOOTLOADER_SD_BOOT,
    SCHEMATIC_BOOTLOADER_GRUB,
};

struct schematic_meta {
    uint8_t key; /* META tag, e.g. 0x0a = metal network configuration */
    char *value;
};

/* Every string is non-NULL ("" when absent); every list may be empty (count 0). */
struct schematic {
    char *overlay_image;                /* overlay.image, e.g. siderolabs/sbc-raspberrypi */
    char *overlay_name;                 /* overlay.name, e.g. rpi_generic */
    struct yaml_value *overlay_options; /* overlay.options (sorted mapping), NULL when absent/empty */
    char *embedded_machine_configuration;
    char **extra_kernel_args;
    size_t extra_kernel_arg_count;
    struct schematic_meta *meta;
    size_t meta_count;
    char **extensions; /* systemExtensions.officialExtensions */
    size_t extension_count;
    enum schematic_bootloader bootloader;
    char *secureboot_enroll_keys; /* kept verbatim (Image Factory validates it at build time) */
    bool include_well_known_certificates;
    uint64_t sector_size; /* diskImage.sectorSize, 0 = default (512) */
};

/* Parse YAML or JSON text. what names the input in errors ("schematic.yaml", "<stdin>"). */
int schematic_parse(const char *text, size_t len, const char *what, struct schematic **out, struct error *err);
/* Decode an already-loaded node (a manifest's inline `schematic:`); errors carry its positions. */
int schematic_decode(const struct yaml_node *root, const char *what, struct schematic **out, struct error *err);
/* Read and parse a file ("-" = standard input). */
int schematic_load_file(const char *path, struct schematic **out, struct error *err);
/* A schematic with no customization (the vanilla one). */
struct schematic *schematic_new(void);
void schematic_free(struct schematic *s);

/* Canonical YAML, byte-identical to Image Factory's (appended to out). */
int schematic_marshal(const struct schematic *s, struct buffer *out, struct error *err);
/* SHA-256 hex of the canonical YAML. */
int schematic_id(const struct schematic *s, char id[SCHEMATIC_ID_HEX_LEN + 1], struct error *err);

/* "none", "dual-boot", "sd-boot", "grub". */
const char *schematic_bootloader_name(enum schematic_bootloader b);
/* True when the schematic has an overlay (image or name set). */
bool schematic_has_overlay(const struct schematic *s);

#endif
