/* source_role — what a build source is to Talos: the one owner of the role concept.
 *
 * Owns: the roles a manifest source (and a factory_source) can have, and their names as a
 * manifest spells them (`role: imager`, ...). The manifest parses them, the factory picks its
 * inputs by them, the bundle's sources rows and `airfactory pull` print them, all through this
 * table. */
#ifndef AIRFACTORY_SOURCE_ROLE_H
#define AIRFACTORY_SOURCE_ROLE_H

#include <stdbool.h>

enum source_role {
    SOURCE_ROLE_IMAGER,         /* ghcr.io/siderolabs/imager:vX: kernel, initramfs, sd-boot, stub */
    SOURCE_ROLE_INSTALLER_BASE, /* ghcr.io/siderolabs/installer-base:vX (Talos >= 1.10) */
    SOURCE_ROLE_INSTALLER,      /* ghcr.io/siderolabs/installer:vX (Talos < 1.10) */
    SOURCE_ROLE_EXTENSIONS,     /* ghcr.io/siderolabs/extensions:vX catalog */
    SOURCE_ROLE_OVERLAYS,       /* ghcr.io/siderolabs/overlays:vX catalog */
    SOURCE_ROLE_EXTENSION,      /* one system extension image */
    SOURCE_ROLE_OVERLAY,        /* one overlay image */
    SOURCE_ROLE_TALOSCTL_ALL,   /* ghcr.io/siderolabs/talosctl-all:vX (Talos >= 1.11): /talosctl/ files */
    SOURCE_ROLE_IMAGE,          /* a cluster image (`images:`, `talos-images:`): served by the registry */
};

/* "imager", "installer-base", "installer", "extensions", "overlays", "extension", "overlay",
 * "talosctl-all", "image"; "unknown" for a value outside the enum */
const char *source_role_name(enum source_role role);
/* The role a name spells; false when it is none of them. */
bool source_role_parse(const char *name, enum source_role *out);

/* The names, in enum order, for messages ("imager, installer-base, ..."). */
#define SOURCE_ROLE_NAMES                                                                                              \
    "imager, installer-base, installer, extensions, overlays, extension, overlay, talosctl-all, image"

#endif
