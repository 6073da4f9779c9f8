/* extensions — Talos system extensions as the imager sees them: a directory holding exactly
 * manifest.yaml and rootfs/.
 *
 * Owns: reading and validating manifest.yaml (version v1alpha1, metadata, Talos version
 * constraint as a blang/semver range), writing /extensions.yaml exactly as Talos' Go yaml
 * encoder does (`layers:` list of `image:` + `metadata:`; the bytes come from yaml_value, the
 * go-yaml-compatible encoder schematic IDs rely on), and creating the virtual extensions: the
 * Image Factory's `schematic` and the imager's `embedded-config`. Errors name the extension directory and the file. */
#ifndef AIRFACTORY_EXTENSIONS_H
#define AIRFACTORY_EXTENSIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "airfactory/buffer.h"
#include "airfactory/error.h"

struct layer_label; /* oci/layer_flatten.h */

struct extension_manifest {
    char *name;
    char *version;
    char *author;
    char *description;
    char *talos_constraint; /* compatibility.talos.version; "" when absent */
    char *extra_info;       /* "" when absent (omitted from extensions.yaml) */
};

struct extension {
    char *dir;    /* the extension directory */
    char *rootfs; /* <dir>/rootfs: a real directory, never a symlink */
    char *label;  /* what errors call it: the image ("extension ghcr.io/...:tag (sha256:...)") or its directory */
    struct extension_manifest manifest;
    /* the SELinux labels of rootfs/ paths the image's layers gave (layer_flatten's
     * "<dir>.selinux"), relative to rootfs ("" = rootfs itself), sorted; none without the file */
    struct layer_label *selinux_labels;
    size_t selinux_label_count;
};

/* Parse manifest text; `where` (a path) prefixes errors, which carry line:column. */
int extension_manifest_parse(const char *text, size_t len, const char *where, struct extension_manifest *out,
                             struct error *err);
void extension_manifest_free(struct extension_manifest *m);

/* Load <dir>: exactly manifest.yaml and rootfs/ (a directory, not a symlink), nothing else, as Talos
 * requires, and the labels of "<dir>.selinux" when layer_flatten kept them. manifest.yaml is read inside the extension (core/fs_root.h): a symlink resolves in the
 * image, never on the build host. label names the extension in errors (NULL: "extension <dir>"). */
int extension_load(const char *dir, const char *label, struct extension *out, struct error *err);
void extension_free(struct extension *e);

/* Check the manifest's Talos constraint against talos_version ("v1.8.0", "1.10.2-beta.0"): like
 * the imager, only major.minor.patch of talos_version count. An empty constraint passes. */
int extension_check_compatibility(const struct extension *e, const char *talos_version, struct error *err);

/* blang/semver range: comparators (<, <=, >, >=, =, ==, !, !=, none) joined by spaces (AND) and
 * "||" (OR); "x" wildcards; a 'v' before a digit is dropped. ERROR_INPUT on malformed ranges. */
int semver_range_check(const char *range, const char *version, bool *satisfied, struct error *err);

/* /extensions.yaml for layers[i] = (image name, manifest metadata), byte-compatible with Talos. */
struct extensions_layer {
    const char *image;
    const struct extension_manifest *metadata;
};
int extensions_yaml_write(const struct extensions_layer *layers, size_t count, struct buffer *out, struct error *err);

/* Write a manifest.yaml (version v1alpha1 + metadata) as Go's encoder would. */
int extension_manifest_write(const char *path, const struct extension_manifest *m, struct error *err);

/* The Image Factory's virtual extension: name "schematic", version = the schematic ID, an empty
 * file rootfs/usr/local/share/schematic/<id>. Written as an extension directory at dir. */
struct schematic_extension {
    const char *schematic_id;   /* 64 lowercase hex digits */
    const char *author;         /* NULL = "Image Factory" */
    const char *description;    /* NULL = the factory's text */
    const char *schematic_yaml; /* extraInfo (Talos >= 1.7); NULL or "" = none */
};
int extension_schematic_create(const char *dir, const struct schematic_extension *opts, struct error *err);

/* The imager's virtual extension for a schematic's embeddedMachineConfiguration (Talos >= 1.12,
 * talos pkg/imager/embed.go): name "embedded-config", version = sha256 hex of the config, author
 * "Imager", rootfs/usr/local/etc/talos/config.yaml (mode 0400) holding the config as given. The
 * file's SELinux label (EXTENSION_EMBEDDED_CONFIG_LABEL, a PAX record upstream) is the squashfs
 * writer's to attach. Written as an extension directory at dir. */
#define EXTENSION_EMBEDDED_CONFIG_PATH "usr/local/etc/talos/config.yaml"
#define EXTENSION_EMBEDDED_CONFIG_LABEL "system_u:object_r:system_state_t:s0"
int extension_embedded_config_create(const char *dir, const char *config, size_t len, struct error *err);

#endif
