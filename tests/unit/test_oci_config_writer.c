/* test_oci_config_writer — the one writer of image config JSON (src/oci/oci_config_writer.c):
 * go-containerregistry's key order, new history entries stamped with the config's time, base
 * entries and diff_ids copied byte for byte, the runtime "config" copied, written by the caller or
 * {}. The installer's config bytes are pinned in test_installer; these pin the writer itself. */
#include <string.h>

#include "oci/oci_config_writer.h"
#include "test.h"

static void runtime_env(struct json_writer *w, void *context)
{
    json_object_begin(w);
    json_kv_string(w, "User", context);
    json_object_end(w);
}

static void writes_a_single_layer_image_config(void)
{
    char created[OCI_CONFIG_TIME_SIZE];
    oci_config_time(1735689600, created);
    CHECK_STR(created, "2025-01-01T00:00:00Z");
    const struct oci_config_history history = {.created_by = "tool <x>"};
    const char *diff_ids[] = {"sha256:aa"};
    struct oci_config_contents c = {.architecture = "amd64",
                                    .created = created,
                                    .history = &history,
                                    .history_count = 1,
                                    .diff_ids = diff_ids,
                                    .diff_id_count = 1,
                                    .write_runtime = runtime_env,
                                    .runtime_context = "65532:65532"};
    struct buffer out = BUFFER_INIT;
    oci_config_write(&c, &out);
    CHECK_STR(buffer_cstr(&out),
              "{\"architecture\":\"amd64\",\"created\":\"2025-01-01T00:00:00Z\",\"history\":[{\"created\":"
              "\"2025-01-01T00:00:00Z\",\"created_by\":\"tool <x>\"}],\"os\":\"linux\",\"rootfs\":{\"type\":"
              "\"layers\",\"diff_ids\":[\"sha256:aa\"]},\"config\":{\"User\":\"65532:65532\"}}");
    buffer_free(&out);
    /* no runtime at all: {} */
    c.write_runtime = NULL;
    c.history_count = 0;
    c.diff_id_count = 0;
    c.variant = "v8";
    oci_config_write(&c, &out);
    CHECK_STR(buffer_cstr(&out), "{\"architecture\":\"amd64\",\"created\":\"2025-01-01T00:00:00Z\",\"history\":[],"
                                 "\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"config\":{},"
                                 "\"variant\":\"v8\"}");
    buffer_free(&out);
}

static void copies_base_values_as_written(void)
{
    const char *base = "{\"h\":{\"created_by\":\"a\",\"n\":1.50e3,\"u\":\"\\u00e9<\"},\"d\":\"sha256:11\","
                       "\"config\":{\"Env\":[\"A=1\"],\"X\":null}}";
    struct json_value *v;
    struct error err;
    CHECK_INT(json_parse(base, strlen(base), "base", &v, &err), 0);
    struct oci_config_history history[] = {{.copy = json_object_get(v, "h")}, {.created_by = "new"}};
    struct json_value *base_diff_ids[] = {(struct json_value *)json_object_get(v, "d")};
    const char *diff_ids[] = {"sha256:22"};
    struct oci_config_contents c = {.architecture = "arm64",
                                    .created = "T",
                                    .history = history,
                                    .history_count = 2,
                                    .base_diff_ids = base_diff_ids,
                                    .base_diff_id_count = 1,
                                    .diff_ids = diff_ids,
                                    .diff_id_count = 1,
                                    .runtime = json_object_get(v, "config"),
                                    .write_runtime = runtime_env,
                                    .runtime_context = "ignored"};
    struct buffer out = BUFFER_INIT;
    oci_config_write(&c, &out);
    CHECK_STR(buffer_cstr(&out),
              "{\"architecture\":\"arm64\",\"created\":\"T\",\"history\":[{\"created_by\":\"a\",\"n\":1.50e3,"
              "\"u\":\"\xc3\xa9<\"},{\"created\":\"T\",\"created_by\":\"new\"}],\"os\":\"linux\",\"rootfs\":{\"type\":"
              "\"layers\",\"diff_ids\":[\"sha256:11\",\"sha256:22\"]},\"config\":{\"Env\":[\"A=1\"],\"X\":null}}");
    buffer_free(&out);
    json_free(v);
}

int main(void)
{
    RUN(writes_a_single_layer_image_config);
    RUN(copies_base_values_as_written);
    return TEST_MAIN_END();
}
