/* airfactory pull MANIFEST — fetch and verify every signed source the manifest needs from the
 * registries, into the files its `sources:` name. A thin layer: the manifest module plans, the
 * pull module pulls (src/pull/pull.h), the registry module talks HTTP (src/registry). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airfactory/manifest.h"
#include "core/memory.h"
#include "pull/pull.h"
#include "registry/registry_auth.h"
#include "registry/registry_client.h"
#include "registry/registry_ref.h"
#include "cli/cli.h"

#define DEFAULT_RETRIES 5

static const char usage[] =
    "MANIFEST [--to DIR] [-j N] [--json] [--dry-run] [--store DIR] [--mirror FROM=HOST[/PREFIX]]... "
    "[--ca-file FILE] [--plain-http] [--auth-file FILE] [--retries N]";

static void help(void)
{
    printf("usage: airfactory pull %s\n"
           "Fetch every source MANIFEST needs from its registry: the images with all their platforms and every\n"
           "signature (cosign .sig tags, Sigstore bundle referrers), verified with the manifest's trust policy\n"
           "before any layer is downloaded, written as OCI archives where `sources:` point. Extension and overlay\n"
           "images are pulled by the digest their Talos version's catalog pins, after the catalogs themselves.\n"
           "  --to DIR        write the archives into DIR (same file names) instead of the sources' paths\n"
           "  -j N            download N blobs at once (default 4)\n"
           "  --json          progress as NDJSON events on standard error\n"
           "  --dry-run       print each REFERENCE@DIGEST and the file it would land in; write nothing\n"
           "  --store DIR     blob cache, shared with the build (default: the manifest's output + .store)\n"
           "  --mirror FROM=HOST[/PREFIX]\n"
           "                  fetch images of registry FROM from HOST (under PREFIX), e.g.\n"
           "                  --mirror ghcr.io=registry.local:5000/ghcr (repeatable)\n"
           "  --ca-file FILE  also trust these CA certificates (PEM) for HTTPS\n"
           "  --plain-http    talk plain HTTP, for loopback and lab registries only\n"
           "  --auth-file F   credentials file (default: $REGISTRY_AUTH_FILE, else containers' auth.json,\n"
           "                  else ~/.docker/config.json; write one with skopeo/podman/docker login)\n"
           "  --retries N     retry 429, 5xx and broken transfers N times with backoff (default %d)\n"
           "Blobs already in the store are not downloaded again, and archives that already hold the same\n"
           "image are left alone: a pull of an unchanged manifest transfers only manifests.\n",
           usage, DEFAULT_RETRIES);
}

static int parse_count(const char *text, long max, long *out)
{
    char *end = NULL;
    long n = strtol(text, &end, 10);
    if (!end || end == text || *end || n < 0 || n > max)
        return -1;
    *out = n;
    return 0;
}

int cmd_pull(int argc, char **argv)
{
    static const struct option options[] = {
        {"to", required_argument, NULL, 't'},
        {"jobs", required_argument, NULL, 'j'},
        {"json", no_argument, NULL, 'J'},
        {"dry-run", no_argument, NULL, 'n'},
        {"store", required_argument, NULL, 's'},
        {"mirror", required_argument, NULL, 'm'},
        {"ca-file", required_argument, NULL, 'c'},
        {"plain-http", no_argument, NULL, 'p'},
        {"auth-file", required_argument, NULL, 'a'},
        {"retries", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *to = NULL, *store = NULL, *ca_file = NULL, *auth_file = NULL;
    bool json = false, dry_run = false, plain_http = false;
    long jobs = 0, retries = DEFAULT_RETRIES;
    struct registry_mirror *mirrors = xcalloc((size_t)argc + 1, sizeof *mirrors);
    size_t mirror_count = 0;
    struct error err = {0};
    int status = 2, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "j:h", options, NULL)) != -1) {
        switch (c) {
        case 't': to = optarg; break;
        case 'j':
            if (parse_count(optarg, 64, &jobs) != 0 || jobs < 1) {
                fprintf(stderr, "airfactory pull: -j %s: expected a number from 1 to 64\n", optarg);
                goto done;
            }
            break;
        case 'J': json = true; break;
        case 'n': dry_run = true; break;
        case 's': store = optarg; break;
        case 'm':
            if (registry_mirror_parse(optarg, &mirrors[mirror_count], &err) != 0) {
                status = cli_report(&err);
                goto done;
            }
            mirror_count++;
            break;
        case 'c': ca_file = optarg; break;
        case 'p': plain_http = true; break;
        case 'a': auth_file = optarg; break;
        case 'r':
            if (parse_count(optarg, 100, &retries) != 0) {
                fprintf(stderr, "airfactory pull: --retries %s: expected a number from 0 to 100\n", optarg);
                goto done;
            }
            break;
        case 'h':
            help();
            status = 0;
            goto done;
        default: status = cli_usage("pull", usage); goto done;
        }
    }
    if (optind != argc - 1) {
        status = cli_usage("pull", usage);
        goto done;
    }
    if (ca_file && access(ca_file, R_OK) != 0) {
        fprintf(stderr, "airfactory pull: --ca-file %s: cannot read it; give the registry's CA certificate (PEM)\n",
                ca_file);
        goto done;
    }
    const char *path = argv[optind];
    struct manifest *m = NULL;
    struct plan *plan = NULL;
    struct registry_auth *auth = NULL;
    char *default_store = NULL;
    if (manifest_load(path, &m, &err) != 0 || manifest_plan_flags(m, MANIFEST_PLAN_SOURCES_ABSENT, &plan, &err) != 0 ||
        registry_auth_load(auth_file, &auth, &err) != 0 || registry_global_init(&err) != 0) {
        status = cli_report(&err);
        plan_free(plan);
        manifest_free(m);
        registry_auth_free(auth);
        goto done;
    }
    if (!store)
        store = default_store = xasprintf("%s.store", m->output);
    struct registry_options ro = {
        .ca_file = ca_file,
        .plain_http = plain_http,
        .mirrors = mirrors,
        .mirror_count = mirror_count,
        .auth = auth,
        .retries = (unsigned)retries,
    };
    struct pull_request request = {
        .manifest = m,
        .plan = plan,
        .to = to,
        .store = store,
        .registry = &ro,
        .jobs = (unsigned)jobs,
        .dry_run = dry_run,
        .out = stdout,
        .events = stderr,
        .json = json,
        .progress = isatty(STDERR_FILENO) == 1,
    };
    struct pull_stats stats;
    status = pull_run(&request, &stats, &err) == 0 ? 0 : cli_report(&err);
    registry_global_cleanup();
    registry_auth_free(auth);
    free(default_store);
    plan_free(plan);
    manifest_free(m);
done:
    for (size_t i = 0; i < mirror_count; i++)
        registry_mirror_free(&mirrors[i]);
    free(mirrors);
    return status;
}
