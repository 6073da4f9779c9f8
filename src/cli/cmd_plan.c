/* airfactory plan MANIFEST [--json] — expand a manifest into the models it would build.
 *
 * One line per model: "<schematic id> <schematic name> <version> <arch> <asset path>", or with
 * --json one JSON object per line (NDJSON) with the same facts plus kind, platform and
 * secureboot. Every check the build would trip over is made here first; input errors name
 * file:line:column and exit with status 2. */
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "airfactory/manifest.h"
#include "cli/cli.h"

static const char usage[] = "MANIFEST [--json]";

int cmd_plan(int argc, char **argv)
{
    const char *path = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: airfactory plan %s\n"
                   "  prints one line per model: schematic-id name version arch asset-path\n"
                   "  --json  one JSON object per line instead\n", usage);
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage("plan", usage);
        } else if (!path) {
            path = argv[i];
        } else {
            return cli_usage("plan", usage);
        }
    }
    if (!path)
        return cli_usage("plan", usage);

    struct error err = {0};
    struct manifest *m = NULL;
    struct plan *plan = NULL;
    if (manifest_load(path, &m, &err) < 0)
        return cli_report(&err);
    if (manifest_plan(m, &plan, &err) < 0) {
        manifest_free(m);
        return cli_report(&err);
    }
    struct buffer out = BUFFER_INIT;
    for (size_t i = 0; i < plan->model_count; i++) {
        const struct plan_model *model = &plan->models[i];
        if (json) {
            struct json_writer w;
            json_writer_init(&w, &out);
            json_object_begin(&w);
            json_kv_string(&w, "schematic", model->schematic->id);
            json_kv_string(&w, "name", model->schematic->name);
            json_kv_string(&w, "version", model->version);
            json_kv_string(&w, "arch", model->arch);
            json_kv_string(&w, "path", model->path);
            json_kv_string(&w, "kind", asset_kind_name(model->asset.kind));
            json_kv_string(&w, "platform", model->asset.platform);
            json_kv_bool(&w, "secureboot", model->asset.secureboot);
            json_object_end(&w);
            buffer_append_char(&out, '\n');
        } else {
            buffer_appendf(&out, "%s %s %s %s %s\n", model->schematic->id, model->schematic->name, model->version,
                           model->arch, model->path);
        }
    }
    fwrite(out.data ? out.data : "", 1, out.len, stdout);
    buffer_free(&out);
    plan_free(plan);
    manifest_free(m);
    if (fflush(stdout) != 0) {
        perror("airfactory plan: writing output");
        return 1;
    }
    return 0;
}
