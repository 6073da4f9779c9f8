/* oci_config_writer — the one writer of OCI image config JSON (the blob a manifest's "config" names):
 * architecture, created, history, os, rootfs.diff_ids, config, variant, in go-containerregistry's
 * key order (pkg/v1/config.go ConfigFile, as crane and Talos' imager write it), compact, without
 * HTML escaping. Used by the installer images (imager/installer.c) and `make image`
 * (tools/oci_image.c); what each puts in the image is theirs, the bytes are written here. */
#ifndef AIRFACTORY_OCI_CONFIG_WRITER_H
#define AIRFACTORY_OCI_CONFIG_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "airfactory/buffer.h"
#include "core/json.h"

#define OCI_CONFIG_TIME_SIZE 32

/* One history entry: a base image's entry copied as it is (copy), or a new one
 * {"created": <the config's created>, "created_by": created_by}. */
struct oci_config_history {
    const struct json_value *copy;
    const char *created_by;
};

struct oci_config_contents {
    const char *architecture;
    const char *variant; /* NULL: none */
    const char *created; /* RFC 3339 (oci_config_time) */
    const struct oci_config_history *history;
    size_t history_count;
    struct json_value *const *base_diff_ids; /* a base image's rootfs.diff_ids, copied first */
    size_t base_diff_id_count;
    const char *const *diff_ids; /* then these ("sha256:<hex>" of each new layer's tar) */
    size_t diff_id_count;
    /* "config" (the runtime settings): copied from a base image, else written by write_runtime
     * (which writes one JSON object), else {} */
    const struct json_value *runtime;
    void (*write_runtime)(struct json_writer *w, void *context);
    void *runtime_context;
};

/* Append the config JSON to out. */
void oci_config_write(const struct oci_config_contents *config, struct buffer *out);
/* Seconds since the epoch as the config's RFC 3339 time ("2025-01-01T00:00:00Z", UTC). */
void oci_config_time(int64_t seconds, char out[OCI_CONFIG_TIME_SIZE]);

#endif
