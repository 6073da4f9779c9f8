/* airfactory unpack — verify and unpack a packed bundle or a delta (bundle_transfer). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "airfactory/bundle_transfer.h"
#include "cli/cli.h"

static const char usage[] = "FILE|PARTS-DIR|- DIR --key PUBLIC.pem [--allow-downgrade]\n"
                            "       airfactory unpack DELTA|- --onto OLD [-o NEWDIR] --key PUBLIC.pem [--full] "
                            "[--allow-downgrade]\n"
                            "  (without -o, OLD is replaced in place, atomically; a bundle older than the one it\n"
                            "  would replace is refused unless --allow-downgrade)";

static void show_progress(const char *line, void *context)
{
    (void)context;
    fprintf(stderr, "airfactory unpack: %s\n", line);
}

int cmd_unpack(int argc, char **argv)
{
    static const struct option options[] = {
        {"key", required_argument, NULL, 'k'},
        {"onto", required_argument, NULL, 'b'},
        {"output", required_argument, NULL, 'o'},
        {"full", no_argument, NULL, 'f'},
        {"allow-downgrade", no_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct bundle_unpack_options o = {.progress = show_progress};
    int c;
    while ((c = getopt_long(argc, argv, "k:o:fh", options, NULL)) != -1) {
        switch (c) {
        case 'k': o.public_key_path = optarg; break;
        case 'b': o.onto = optarg; break;
        case 'o': o.target = optarg; break;
        case 'f': o.full = true; break;
        case 'D': o.allow_downgrade = true; break;
        case 'h': printf("usage: airfactory unpack %s\n", usage); return 0;
        default: return cli_usage("unpack", usage);
        }
    }
    int positional = argc - optind;
    if (positional < 1 || positional > 2 || !o.public_key_path || (positional == 2 && o.target))
        return cli_usage("unpack", usage);
    o.input = argv[optind];
    if (positional == 2)
        o.target = argv[optind + 1];
    if (!o.target && !o.onto)
        return cli_usage("unpack", usage);
    struct error err;
    error_clear(&err);
    struct bundle_transfer_stats stats;
    cli_install_kill_hook();
    if (bundle_unpack(&o, &stats, &err) != 0)
        return cli_report(&err);
    fprintf(stderr, "unpacked %s into %s (index %s, verified): %llu blobs, %llu bytes from the stream",
            strcmp(o.input, "-") ? o.input : "stdin", o.target ? o.target : o.onto, stats.index_digest,
            (unsigned long long)stats.blobs_streamed, (unsigned long long)stats.bytes_streamed);
    if (o.onto)
        fprintf(stderr, ", %llu blobs, %llu bytes from %s", (unsigned long long)stats.blobs_from_base,
                (unsigned long long)stats.bytes_from_base, o.onto);
    fprintf(stderr, "\n");
    return 0;
}
