/* talosctl — the talosctl binaries of a siderolabs/talosctl-all image, as bundle blobs.
 *
 * Owns turning an imported talosctl-all image (Talos >= 1.11; manifest role "talosctl-all") into
 * blobs and `talosctl` index rows, which airfactory-serve answers GET /talosctl/{version} and
 * /talosctl/{version}/{name} from (Image Factory serves the same files from the image's amd64
 * export). The image keeps every build as a regular file at its root, named
 * talosctl-<os>-<arch>[.exe]; anything else in the image is ignored, as Image Factory does. */
#ifndef AIRFACTORY_TALOSCTL_H
#define AIRFACTORY_TALOSCTL_H

#include <stdbool.h>
#include <stddef.h>

#include "bundle/bundle_writer.h"
#include "airfactory/error.h"
#include "oci/oci_image.h"
#include "oci/store.h"

/* "talosctl-<os>-<arch>" or "talosctl-<os>-<arch>.exe" with os and arch of [a-z0-9]. */
bool talosctl_file_name_valid(const char *name);

/* Content-Type of a talosctl file: Go's mime.TypeByExtension as Image Factory calls it (".exe" ->
 * "application/x-msdos-program" from the system table), "application/octet-stream" without an
 * extension (what Go sniffs for a binary body). */
const char *talosctl_media_type(const char *name);

/* Flatten image into WORK_DIR/talosctl/<manifest hex> (once) and add each talosctl file at its
 * root as a blob plus a talosctl row for version. *count receives the number of files. An image
 * without any talosctl file is ERROR_INPUT. */
int talosctl_add_files(struct store *store, const struct oci_image *image, const char *work_dir, const char *version,
                       struct bundle_writer *writer, size_t *count, struct error *err);

#endif
