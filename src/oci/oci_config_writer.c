/* oci_config_writer — see oci_config_writer.h. */
#include "oci/oci_config_writer.h"

#include <time.h>

void oci_config_time(int64_t seconds, char out[OCI_CONFIG_TIME_SIZE])
{
    time_t t = (time_t)seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, OCI_CONFIG_TIME_SIZE, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void oci_config_write(const struct oci_config_contents *c, struct buffer *out)
{
    struct json_writer w;
    json_writer_init(&w, out);
    w.escape_html = false;
    json_object_begin(&w);
    json_kv_string(&w, "architecture", c->architecture);
    json_kv_string(&w, "created", c->created);
    json_key(&w, "history");
    json_array_begin(&w);
    for (size_t i = 0; i < c->history_count; i++) {
        const struct oci_config_history *h = &c->history[i];
        if (h->copy) {
            json_write_value(&w, h->copy);
            continue;
        }
        json_object_begin(&w);
        json_kv_string(&w, "created", c->created);
        json_kv_string(&w, "created_by", h->created_by);
        json_object_end(&w);
    }
    json_array_end(&w);
    json_kv_string(&w, "os", "linux");
    json_key(&w, "rootfs");
    json_object_begin(&w);
    json_kv_string(&w, "type", "layers");
    json_key(&w, "diff_ids");
    json_array_begin(&w);
    for (size_t i = 0; i < c->base_diff_id_count; i++)
        json_write_value(&w, c->base_diff_ids[i]);
    for (size_t i = 0; i < c->diff_id_count; i++)
        json_string(&w, c->diff_ids[i]);
    json_array_end(&w);
    json_object_end(&w);
    json_key(&w, "config");
    if (c->runtime) {
        json_write_value(&w, c->runtime);
    } else if (c->write_runtime) {
        c->write_runtime(&w, c->runtime_context);
    } else {
        json_object_begin(&w);
        json_object_end(&w);
    }
    if (c->variant)
        json_kv_string(&w, "variant", c->variant);
    json_object_end(&w);
}
