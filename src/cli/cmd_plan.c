/* airfactory plan MANIFEST [--json] [--with-requests FILE]... [--shard I/N] — expand a manifest
 * into the models it would build; with --with-requests, only the models that adding
 * airfactory-serve's recorded requests (manifest_requests_apply) would build on top of the
 * manifest's own; with --shard, only the models `airfactory build --shard I/N` builds
 * (plan_select_shard; --json then also gives each model's expected cost).
 *
 * One line per model: "<schematic id> <schematic name> <version> <arch> <asset path>", or with
 * --json one JSON object per line (NDJSON) with the same facts plus kind, platform and
 * secureboot. Every check the build would trip over is made here first; input errors name
 * file:line:column and exit with status 2. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "airfactory/bundle_merge.h"
#include "core/json.h"
#include "airfactory/manifest.h"
#include "cli/cli.h"

static const char usage[] = "MANIFEST [--json] [--with-requests FILE]... [--shard I/N]";

static bool in_plan(const struct plan *p, const struct plan_model *x)
{
    for (size_t i = 0; i < p->model_count; i++)
        if (!strcmp(p->models[i].schematic->id, x->schematic->id) && !strcmp(p->models[i].version, x->version) &&
            !strcmp(p->models[i].path, x->path))
            return true;
    return false;
}

int cmd_plan(int argc, char **argv)
{
    const char *path = NULL;
    bool json = false;
    const char *requests[64];
    size_t request_files = 0;
    const char *shard = NULL;
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"json", no_argument, NULL, 'J'},
        {"with-requests", required_argument, NULL, 'r'},
        {"shard", required_argument, NULL, 'S'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            printf("usage: airfactory plan %s\n"
                   "  prints one line per model: schematic-id name version arch asset-path\n"
                   "  --json  one JSON object per line instead\n"
                   "  --with-requests FILE  only what adding airfactory-serve's recorded requests\n"
                   "                        (requests.jsonl) to the manifest would build\n"
                   "  --shard I/N  only the models `airfactory build --shard I/N` builds: shard I of N, I counting\n"
                   "               from 0 (as Kubernetes' JOB_COMPLETION_INDEX); balanced by expected cost, a\n"
                   "               schematic x version x arch stays in one shard; --json adds each model's cost\n",
                   usage);
            return 0;
        case 'J': json = true; break;
        case 'S': shard = optarg; break;
        case 'r':
            if (request_files == sizeof requests / sizeof requests[0]) {
                fprintf(stderr, "airfactory plan: at most %zu --with-requests files\n", request_files);
                return 2;
            }
            requests[request_files++] = optarg;
            break;
        default: return cli_usage("plan", usage);
        }
    }
    if (optind < argc)
        path = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "airfactory plan: one manifest at a time ('%s' is extra)\n", argv[optind]);
        return cli_usage("plan", usage);
    }
    if (!path)
        return cli_usage("plan", usage);

    struct error err = {0};
    unsigned shard_index = 0, shard_count = 0;
    if (shard && bundle_shard_parse(shard, &shard_index, &shard_count, &err) != 0)
        return cli_report(&err);
    struct manifest *m = NULL;
    struct plan *plan = NULL;
    if (manifest_load(path, &m, &err) < 0)
        return cli_report(&err);
    if (manifest_plan(m, &plan, &err) < 0) {
        manifest_free(m);
        return cli_report(&err);
    }
    struct plan *before = NULL;
    struct manifest *m_before = NULL; /* before points into it */
    if (request_files) {
        struct manifest_requests r = {0};
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < request_files; i++)
            rc = manifest_requests_load(requests[i], &r, &err);
        /* the plan points into m's schematics, which applying may move: keep a copy of the first
         * plan's keys by planning a second manifest */
        struct manifest *m2 = NULL;
        if (rc == 0)
            rc = manifest_load(path, &m2, &err);
        if (rc == 0)
            rc = manifest_requests_apply(m2, &r, &err);
        manifest_requests_free(&r);
        struct plan *after = NULL;
        if (rc == 0)
            rc = manifest_plan(m2, &after, &err);
        if (rc != 0) {
            plan_free(plan);
            manifest_free(m);
            manifest_free(m2);
            return cli_report(&err);
        }
        before = plan;
        plan = after;
        m_before = m;
        m = m2;
    }
    if (shard && plan_select_shard(plan, shard_index, shard_count, &err) != 0) {
        plan_free(plan);
        plan_free(before);
        manifest_free(m_before);
        manifest_free(m);
        return cli_report(&err);
    }
    struct buffer out = BUFFER_INIT;
    for (size_t i = 0; i < plan->model_count; i++) {
        const struct plan_model *model = &plan->models[i];
        if (before && in_plan(before, model))
            continue;
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
            if (shard) {
                json_kv_string(&w, "shard", shard);
                json_kv_int(&w, "cost", (int64_t)plan_model_cost(plan, model));
            }
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
    plan_free(before);
    manifest_free(m_before);
    manifest_free(m);
    if (fflush(stdout) != 0) {
        perror("airfactory plan: writing output");
        return 1;
    }
    return 0;
}
