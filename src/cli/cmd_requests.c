/* airfactory requests merge FILE... [-o OUT] — airfactory-serve's requests files (--requests-dir
 * DIR/requests.jsonl) merged into the manifest additions that would answer them (stdout or OUT). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "airfactory/manifest.h"
#include "cli/cli.h"

static const char usage[] = "merge FILE... [-o OUT]";

static int requests_merge(int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
    if (cli_help_requested(argc, argv)) {
        printf("usage: airfactory requests %s\n  prints the manifest additions (YAML) that answer the "
               "requests airfactory-serve recorded (--requests-dir DIR: DIR/requests.jsonl)\n",
               usage);
        return 0;
    }
    const char *out_path = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
        if (c != 'o')
            return cli_usage("requests", usage);
        out_path = optarg;
    }
    struct manifest_requests r = {0};
    struct error err = {0};
    size_t files = 0;
    for (int i = optind; i < argc; i++) {
        files++;
        if (manifest_requests_load(argv[i], &r, &err) != 0) {
            manifest_requests_free(&r);
            return cli_report(&err);
        }
    }
    if (files == 0) {
        manifest_requests_free(&r);
        return cli_usage("requests", usage);
    }
    struct buffer out = BUFFER_INIT;
    int rc = manifest_requests_additions(&r, &out, &err);
    manifest_requests_free(&r);
    if (rc != 0) {
        buffer_free(&out);
        return cli_report(&err);
    }
    FILE *f = out_path ? fopen(out_path, "w") : stdout;
    if (!f) {
        perror(out_path);
        buffer_free(&out);
        return 1;
    }
    bool ok = fwrite(out.data, 1, out.len, f) == out.len;
    ok = (out_path ? fclose(f) : fflush(f)) == 0 && ok;
    buffer_free(&out);
    if (!ok) {
        perror(out_path ? out_path : "airfactory requests merge: stdout");
        return 1;
    }
    return 0;
}

int cmd_requests(int argc, char **argv)
{
    static const struct cli_command subcommands[] = {
        {"merge", requests_merge, "merge requests files into the manifest additions that answer them"},
    };
    return cli_dispatch("airfactory requests", subcommands, sizeof subcommands / sizeof subcommands[0], argc, argv);
}
