/* airfactory keygen — make the ECDSA P-256 key pair that signs bundles (bundle_key), or with
 * --secureboot a self-signed RSA SecureBoot signer (secureboot.h) for -secureboot assets. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "airfactory/bundle_key.h"
#include "imager/secureboot.h"
#include "cli/cli.h"

static const char usage[] = "[-o PREFIX] [--force]   (writes PREFIX.key, mode 0600, and PREFIX.pub; "
                            "PREFIX defaults to 'airfactory')\n"
                            "       airfactory keygen --secureboot [-o PREFIX] [--bits 2048|3072|4096] [--name CN] "
                            "[--force]\n"
                            "         (writes PREFIX.key, PKCS#1 RSA, mode 0600, and PREFIX.crt, a self-signed "
                            "code-signing certificate valid 20 years; PREFIX defaults to 'airfactory-secureboot')";

int cmd_keygen(int argc, char **argv)
{
    static const struct option options[] = {
        {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {"secureboot", no_argument, NULL, 's'},
        {"bits", required_argument, NULL, 'b'},
        {"name", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *prefix = NULL, *name = "airfactory SecureBoot signing key";
    bool force = false, secureboot = false;
    int bits = 4096;
    int c;
    while ((c = getopt_long(argc, argv, "o:fh", options, NULL)) != -1) {
        switch (c) {
        case 'o': prefix = optarg; break;
        case 'f': force = true; break;
        case 's': secureboot = true; break;
        case 'b': {
            char *end = NULL;
            long v = strtol(optarg, &end, 10);
            if (!end || *end || (v != 2048 && v != 3072 && v != 4096))
                return cli_usage("keygen", usage);
            bits = (int)v;
            break;
        }
        case 'n': name = optarg; break;
        case 'h': printf("usage: airfactory keygen %s\n", usage); return 0;
        default: return cli_usage("keygen", usage);
        }
    }
    if (!prefix)
        prefix = secureboot ? "airfactory-secureboot" : "airfactory";
    if (optind != argc || !*prefix || !*name)
        return cli_usage("keygen", usage);
    struct error err;
    error_clear(&err);
    if (secureboot) {
        /* the certificate starts being valid now: keys are made once, by hand, not by builds */
        time_t now = time(NULL);
        if (secureboot_keygen(prefix, name, bits, (uint32_t)now, force, &err) != 0)
            return cli_report(&err);
        printf("wrote %s.key (private: keep it on the build host) and %s.crt (its certificate; enrolled in db by the "
               "SecureBoot ISOs, served at /secureboot/signing-cert.pem)\n"
               "manifest: secureboot: {signing_key: %s.key, signing_cert: %s.crt}\n",
               prefix, prefix, prefix, prefix);
        return 0;
    }
    char fingerprint[BUNDLE_KEY_FINGERPRINT_SIZE];
    if (bundle_key_generate(prefix, force, fingerprint, &err) != 0)
        return cli_report(&err);
    printf("wrote %s.key (private: keep it on the build host) and %s.pub (give it to every verifier)\n"
           "key %s\n",
           prefix, prefix, fingerprint);
    return 0;
}
