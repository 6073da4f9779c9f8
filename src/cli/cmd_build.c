/* airfactory build MANIFEST — plan, import and verify sources, build every model, write one signed
 * bundle. A thin layer: the manifest module plans, the factory module builds. */
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airfactory/bundle_merge.h"
#include "bundle/bundle_staging.h"
#include "core/digest.h"
#include "airfactory/factory.h"
#include "core/fs.h"
#include "airfactory/manifest.h"
#include "core/memory.h"
#include "cli/cli.h"

/* Test hook: AIRFACTORY_TEST_KILL_AT=POINT[:N] kills the process with SIGKILL the N-th time (default
 * 1) the build passes POINT — one of bundle_staging.h's test points ("writer-signed",
 * "staging-before-swap", ...) or the factory's "factory-asset-built" (a worker finished an asset)
 * and "factory-asset-committed" — so the crash tests (tests/integration/build_kill.sh) stop a real
 * build at an exact place instead of guessing with timers. Unset: no hook at all. */
static char kill_point[64];
static atomic_int kill_countdown;

static void kill_hook(const char *name)
{
    if (strcmp(name, kill_point) == 0 && atomic_fetch_sub(&kill_countdown, 1) <= 1)
        kill(getpid(), SIGKILL);
}

void cli_install_kill_hook(void)
{
    const char *spec = getenv("AIRFACTORY_TEST_KILL_AT");
    if (!spec || !*spec)
        return;
    snprintf(kill_point, sizeof kill_point, "%s", spec);
    char *colon = strchr(kill_point, ':');
    int count = 1;
    if (colon) {
        *colon = '\0';
        count = atoi(colon + 1);
    }
    atomic_store(&kill_countdown, count > 0 ? count : 1);
    bundle_test_point = kill_hook;
}

static const char usage[] =
    "MANIFEST [-o BUNDLE] [--key KEY] [--shard I/N] [--base OLD] [--allow-downgrade] [--store DIR] [-j N] [--json] "
    "[--secureboot-key KEY --secureboot-cert CERT [--secureboot-pcr-key KEY]]";

static void help(void)
{
    printf("usage: airfactory build %s\n"
           "  -o BUNDLE    output bundle directory (default: the manifest's `output:`)\n"
           "  --key KEY    bundle signing key, PEM ECDSA P-256 (default: the manifest's `signing_key:`)\n"
           "  --shard I/N  build only shard I of N, I from 0 to N-1 (airfactory plan --shard lists it), into\n"
           "               a signed partial bundle (default -o: the manifest's output + .shard-I-of-N);\n"
           "               airfactory merge joins the N parts into the bundle one build would write\n"
           "  --base OLD   reuse unchanged assets from bundle OLD (default: the existing output bundle);\n"
           "               the new bundle's generation is OLD's + 1 (OLD's own when nothing changed)\n"
           "  --allow-downgrade  replace an output bundle that is newer (generation, then built_at)\n"
           "  --store DIR  where verified sources and extracted inputs are kept (default: BUNDLE.store)\n"
           "  -j N         build N assets at once; their compressors share N threads (default: number of CPUs)\n"
           "  --json       progress as NDJSON events on standard error\n"
           "  --secureboot-key KEY, --secureboot-cert CERT, --secureboot-pcr-key KEY\n"
           "               SecureBoot signer for -secureboot assets (PEM RSA key, its X.509 certificate, PCR key;\n"
           "               default: the manifest's `secureboot:`; the PCR key defaults to the signing key)\n"
           "On a terminal, standard error shows a live display (running assets with bytes and ETA, overall\n"
           "progress); otherwise one line per event. The bundle does not depend on -j: assets are added in\n"
           "manifest order. It is written beside the target and swapped in only when complete and signed.\n",
           usage);
}

int cmd_build(int argc, char **argv)
{
    const char *path = NULL, *output = NULL, *key = NULL, *base = NULL, *store = NULL;
    const char *sb_key = NULL, *sb_cert = NULL, *sb_pcr = NULL, *shard = NULL;
    unsigned jobs = 0;
    bool json = false, allow_downgrade = false;
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"json", no_argument, NULL, 'J'},
        {"allow-downgrade", no_argument, NULL, 'D'},
        {"output", required_argument, NULL, 'o'},
        {"key", required_argument, NULL, 'k'},
        {"secureboot-key", required_argument, NULL, 'S'},
        {"secureboot-cert", required_argument, NULL, 'C'},
        {"secureboot-pcr-key", required_argument, NULL, 'P'},
        {"base", required_argument, NULL, 'b'},
        {"store", required_argument, NULL, 's'},
        {"shard", required_argument, NULL, 'I'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "ho:j:", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return 0;
        case 'J': json = true; break;
        case 'D': allow_downgrade = true; break;
        case 'o': output = optarg; break;
        case 'k': key = optarg; break;
        case 'S': sb_key = optarg; break;
        case 'C': sb_cert = optarg; break;
        case 'P': sb_pcr = optarg; break;
        case 'b': base = optarg; break;
        case 's': store = optarg; break;
        case 'I': shard = optarg; break;
        case 'j': {
            /* -j N and make's -jN */
            char *end = NULL;
            long n = strtol(optarg, &end, 10);
            if (!end || *end || n < 1 || n > 1024) {
                fprintf(stderr, "airfactory build: -j '%s': expected a number of jobs from 1 to 1024\n", optarg);
                return cli_usage("build", usage);
            }
            jobs = (unsigned)n;
            break;
        }
        default: return cli_usage("build", usage);
        }
    }
    if (optind < argc)
        path = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "airfactory build: one manifest at a time ('%s' is extra)\n", argv[optind]);
        return cli_usage("build", usage);
    }
    if (!path)
        return cli_usage("build", usage);

    struct error err = {0};
    unsigned shard_index = 0, shard_count = 0;
    if (shard && bundle_shard_parse(shard, &shard_index, &shard_count, &err) != 0)
        return cli_report(&err);
    struct manifest *m = NULL;
    struct plan *plan = NULL;
    if (manifest_load(path, &m, &err) < 0)
        return cli_report(&err);
    if (key) {
        /* --key replaces the manifest's signing_key: (the plan checks the key that will sign) */
        free(m->signing_key);
        m->signing_key = xstrdup(key);
    }
    if (sb_key || sb_cert) {
        /* the flags replace the manifest's secureboot: section (and satisfy -secureboot outputs) */
        free(m->secureboot_signing_key);
        free(m->secureboot_signing_cert);
        m->secureboot_signing_key = sb_key ? xstrdup(sb_key) : NULL;
        m->secureboot_signing_cert = sb_cert ? xstrdup(sb_cert) : NULL;
        if (sb_pcr) {
            free(m->secureboot_pcr_key);
            m->secureboot_pcr_key = xstrdup(sb_pcr);
        }
    }
    if (manifest_plan(m, &plan, &err) < 0) {
        manifest_free(m);
        return cli_report(&err);
    }
    if (shard && plan_select_shard(plan, shard_index, shard_count, &err) != 0) {
        plan_free(plan);
        manifest_free(m);
        return cli_report(&err);
    }
    char *shard_output = NULL; /* the default target of a shard: beside the manifest's output */
    if (!output && shard && m->output)
        output = shard_output = xasprintf("%s.shard-%u-of-%u", m->output, shard_index, shard_count);
    if (!output)
        output = m->output;
    if (!key)
        key = m->signing_key;
    sb_key = m->secureboot_signing_key;
    sb_cert = m->secureboot_signing_cert;
    sb_pcr = m->secureboot_pcr_key;
    int status = 0;
    if (!output || !key) {
        fprintf(stderr, "airfactory build: %s: no %s; set it in the manifest or give %s\n", path,
                !output ? "output" : "signing_key", !output ? "-o BUNDLE" : "--key KEY");
        status = 2;
    }

    /* manifest digest: which manifest made this bundle (meta manifest_digest) */
    char manifest_hex[SHA256_HEX_LEN + 1] = "";
    char manifest_digest[7 + SHA256_HEX_LEN + 1] = "";
    if (status == 0 && sha256_file_hex(m->path, manifest_hex, NULL, &err) != 0)
        status = cli_report(&err);
    snprintf(manifest_digest, sizeof manifest_digest, "sha256:%s", manifest_hex);

    struct factory_source *sources = xcalloc(plan->source_count + 1, sizeof *sources);
    for (size_t i = 0; i < plan->source_count; i++) {
        const struct manifest_source *s = plan->sources[i].source;
        sources[i] = (struct factory_source){
            .path = s->path,
            .role = s->role,
            .reference = s->reference,
            .version = s->version && s->version[0] ? s->version : NULL,
            .policy = &plan->sources[i].policy,
            .platforms = (const char *const *)s->platforms.items,
            .platform_count = s->platforms.count,
        };
    }
    struct factory_schematic *schematics = xcalloc(m->schematic_count + 1, sizeof *schematics);
    for (size_t i = 0; i < m->schematic_count; i++)
        schematics[i] = (struct factory_schematic){
            .name = m->schematics[i].name,
            .schematic = m->schematics[i].schematic,
            .id = m->schematics[i].id,
            .yaml = m->schematics[i].canonical,
            .image_cache = manifest_schematic_image_cache(m, &m->schematics[i]),
        };
    struct factory_asset *assets = xcalloc(plan->model_count + 1, sizeof *assets);
    for (size_t i = 0; i < plan->model_count; i++) {
        const struct plan_model *model = &plan->models[i];
        assets[i] = (struct factory_asset){
            .schematic = (size_t)(model->schematic - m->schematics),
            .version = model->version,
            .name = model->asset,
        };
    }
    if (status == 0) {
        cli_install_kill_hook();
        struct factory_request request = {
            .sources = sources,
            .source_count = plan->source_count,
            .schematics = schematics,
            .schematic_count = m->schematic_count,
            .assets = assets,
            .asset_count = plan->model_count,
            .output = output,
            .signing_key = key,
            .store = store,
            .base = base,
            .allow_downgrade = allow_downgrade,
            .manifest_digest = manifest_digest,
            .shard = shard,
            .secureboot_key = sb_key,
            .secureboot_cert = sb_cert,
            .secureboot_pcr_key = sb_pcr,
            .secureboot_well_known_kek = (const char *const *)m->secureboot_well_known_kek.items,
            .secureboot_well_known_kek_count = m->secureboot_well_known_kek.count,
            .secureboot_well_known_db = (const char *const *)m->secureboot_well_known_db.items,
            .secureboot_well_known_db_count = m->secureboot_well_known_db.count,
            .jobs = jobs,
            .events = stderr,
            .json = json,
            .progress = isatty(STDERR_FILENO) == 1,
        };
        struct factory_stats stats = {0};
        if (factory_build(&request, &stats, &err) != 0)
            status = cli_report(&err);
    }
    free(sources);
    free(schematics);
    free(assets);
    free(shard_output);
    plan_free(plan);
    manifest_free(m);
    return status;
}
