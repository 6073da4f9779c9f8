/* airfactory pack — a bundle as one deterministic tar stream (bundle_transfer). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "airfactory/bundle_transfer.h"
#include "cli/cli.h"

static const char usage[] = "BUNDLE [-o FILE|-]   (default: stdout)\n"
                            "       airfactory pack BUNDLE --split SIZE -o DIR   (parts of SIZE bytes, e.g. 4000M, "
                            "+ SHA256SUMS + README.txt)";

int cmd_pack(int argc, char **argv)
{
    static const struct option options[] = {
        {"output", required_argument, NULL, 'o'},
        {"split", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *output = "-";
    uint64_t split = 0;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        switch (c) {
        case 'o': output = optarg; break;
        case 's':
            if (cli_parse_size("--split", optarg, &split) != 0)
                return 2;
            break;
        case 'h': printf("usage: airfactory pack %s\n", usage); return 0;
        default: return cli_usage("pack", usage);
        }
    }
    if (optind != argc - 1)
        return cli_usage("pack", usage);
    struct error err;
    error_clear(&err);
    struct bundle_transfer_stats stats;
    if (split && !strcmp(output, "-"))
        return cli_usage("pack", usage);
    if ((split ? bundle_pack_split(argv[optind], NULL, output, split, &stats, &err)
               : bundle_pack(argv[optind], output, &stats, &err)) != 0)
        return cli_report(&err);
    fprintf(stderr, "packed %s (index %s): %llu blobs, %llu bytes -> %s\n", argv[optind], stats.index_digest,
            (unsigned long long)stats.blobs_streamed, (unsigned long long)stats.bytes_streamed,
            strcmp(output, "-") ? output : "stdout");
    return 0;
}
