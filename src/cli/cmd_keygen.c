/* airfactory keygen — make the ECDSA P-256 key pair that signs bundles (bundle_key). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "airfactory/bundle_key.h"
#include "cli/cli.h"

static const char usage[] = "[-o PREFIX] [--force]   (writes PREFIX.key, mode 0600, and PREFIX.pub; "
                            "PREFIX defaults to 'airfactory')";

int cmd_keygen(int argc, char **argv)
{
    static const struct option options[] = {
        {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *prefix = "airfactory";
    bool force = false;
    int c;
    while ((c = getopt_long(argc, argv, "o:fh", options, NULL)) != -1) {
        switch (c) {
        case 'o':
            prefix = optarg;
            break;
        case 'f':
            force = true;
            break;
        case 'h':
            printf("usage: airfactory keygen %s\n", usage);
            return 0;
        default:
            return cli_usage("keygen", usage);
        }
    }
    if (optind != argc || !*prefix)
        return cli_usage("keygen", usage);
    struct error err;
    error_clear(&err);
    char fingerprint[BUNDLE_KEY_FINGERPRINT_SIZE];
    if (bundle_key_generate(prefix, force, fingerprint, &err) != 0)
        return cli_report(&err);
    printf("wrote %s.key (private: keep it on the build host) and %s.pub (give it to every verifier)\n"
           "key %s\n", prefix, prefix, fingerprint);
    return 0;
}
