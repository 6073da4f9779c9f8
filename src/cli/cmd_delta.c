/* airfactory delta — the part of a newer bundle an older one lacks, as a tar stream. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "airfactory/bundle_transfer.h"
#include "cli/cli.h"

static const char usage[] = "OLD NEW -o FILE|-   (apply with: airfactory unpack FILE --onto OLD --key KEY.pub)\n"
                            "       airfactory delta OLD NEW --split SIZE -o DIR   (parts + SHA256SUMS + README.txt)";

int cmd_delta(int argc, char **argv)
{
    static const struct option options[] = {
        {"output", required_argument, NULL, 'o'},
        {"split", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *output = NULL;
    uint64_t split = 0;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        switch (c) {
        case 'o': output = optarg; break;
        case 's':
            if (cli_parse_size("--split", optarg, &split) != 0)
                return 2;
            break;
        case 'h': printf("usage: airfactory delta %s\n", usage); return 0;
        default: return cli_usage("delta", usage);
        }
    }
    if (optind != argc - 2 || !output)
        return cli_usage("delta", usage);
    struct error err;
    error_clear(&err);
    struct bundle_transfer_stats stats;
    if (split && !strcmp(output, "-"))
        return cli_usage("delta", usage);
    if ((split ? bundle_pack_split(argv[optind + 1], argv[optind], output, split, &stats, &err)
               : bundle_delta(argv[optind], argv[optind + 1], output, &stats, &err)) != 0)
        return cli_report(&err);
    fprintf(stderr, "delta %s -> %s (index %s): %llu new blobs, %llu bytes -> %s\n", argv[optind], argv[optind + 1],
            stats.index_digest, (unsigned long long)stats.blobs_streamed, (unsigned long long)stats.bytes_streamed,
            strcmp(output, "-") ? output : "stdout");
    return 0;
}
