/* airfactory merge PART... -o BUNDLE --key KEY — join the signed partial bundles of a sharded
 * build (`airfactory build MANIFEST --shard I/N`) into the bundle one build of the manifest writes.
 * A thin layer over bundle_merge. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airfactory/bundle_merge.h"
#include "core/byte_size.h"
#include "cli/cli.h"

static const char usage[] = "PART... -o BUNDLE --key KEY [--allow-downgrade]";

static void help(void)
{
    printf("usage: airfactory merge %s\n"
           "  PART...      the partial bundles of a sharded build (airfactory build), shards 0..N-1 each once\n"
           "  -o BUNDLE    the merged bundle: byte-identical to one `airfactory build` of the manifest\n"
           "  --key KEY    signing key, PEM ECDSA P-256: signs BUNDLE, and every part must verify with it\n"
           "  --allow-downgrade  replace a BUNDLE that is newer (generation, then built_at)\n"
           "Every part must come from the same manifest digest, airfactory version, sources, key and\n"
           "SOURCE_DATE_EPOCH; each blob is checked against its digest and hard-linked (copied across file\n"
           "systems). BUNDLE is written beside the target and swapped in only when complete and signed.\n",
           usage);
}

int cmd_merge(int argc, char **argv)
{
    const char *output = NULL, *key = NULL;
    bool allow_downgrade = false;
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"output", required_argument, NULL, 'o'},
        {"key", required_argument, NULL, 'k'},
        {"allow-downgrade", no_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return 0;
        case 'o': output = optarg; break;
        case 'k': key = optarg; break;
        case 'D': allow_downgrade = true; break;
        default: return cli_usage("merge", usage);
        }
    }
    if (!output || !key || optind >= argc)
        return cli_usage("merge", usage);
    const char *const *parts = (const char *const *)argv + optind;
    size_t part_count = (size_t)(argc - optind);
    struct error err = {0};
    struct bundle_merge_stats stats = {0};
    struct bundle_merge_options o = {
        .parts = parts,
        .part_count = part_count,
        .target = output,
        .signing_key_path = key,
        .allow_downgrade = allow_downgrade,
    };
    int rc = bundle_merge(&o, &stats, &err);
    if (rc != 0)
        return cli_report(&err);
    char size[32];
    byte_size_text(stats.bytes_added, size, sizeof size);
    fprintf(stderr, "bundle %s written and signed: %u shards merged, %llu blobs (%s)\n", output, stats.shards,
            stats.blobs_added, size);
    return 0;
}
