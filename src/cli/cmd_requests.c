/* airfactory requests merge FILE... [-o OUT] — airfactory-serve's requests files (--requests-dir
 * DIR/requests.jsonl) merged into the manifest additions that would answer them (stdout or OUT). */
#include <stdio.h>
#include <string.h>

#include "airfactory/manifest.h"
#include "cli/cli.h"

static const char usage[] = "merge FILE... [-o OUT]";

int cmd_requests(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "merge") != 0) {
        if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
            printf("usage: airfactory requests %s\n  prints the manifest additions (YAML) that answer the "
                   "requests airfactory-serve recorded (--requests-dir DIR: DIR/requests.jsonl)\n", usage);
            return 0;
        }
        return cli_usage("requests", usage);
    }
    const char *out_path = NULL;
    struct manifest_requests r = {0};
    struct error err = {0};
    size_t files = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            out_path = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            manifest_requests_free(&r);
            return cli_usage("requests", usage);
        } else {
            files++;
            if (manifest_requests_load(argv[i], &r, &err) != 0) {
                manifest_requests_free(&r);
                return cli_report(&err);
            }
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
