/* airfactory verify — audit a bundle against its signed index (bundle_check). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airfactory/buffer.h"
#include "airfactory/bundle_check.h"
#include "airfactory/bundle_transfer.h"
#include "core/fs.h"
#include "core/memory.h"
#include "core/json.h"
#include "cli/cli.h"

static const char usage[] = "BUNDLE --key PUBLIC.pem [--full] [--json]\n"
                            "       airfactory verify PACK.tar|PARTS-DIR --key PUBLIC.pem   (a pack or split pack: "
                            "signature, parts, every blob's hash; nothing unpacked)";

struct report {
    bool json;
};

static void print_problem(void *context, const char *path, const char *problem)
{
    struct report *r = context;
    if (r->json) {
        struct buffer out = BUFFER_INIT;
        struct json_writer w;
        json_writer_init(&w, &out);
        json_object_begin(&w);
        json_kv_string(&w, "event", "problem");
        json_kv_string(&w, "path", path);
        json_kv_string(&w, "problem", problem);
        json_object_end(&w);
        printf("%s\n", buffer_cstr(&out));
        buffer_free(&out);
    } else {
        printf("%s: %s\n", path, problem);
    }
    fflush(stdout);
}

int cmd_verify(int argc, char **argv)
{
    static const struct option options[] = {
        {"key", required_argument, NULL, 'k'},
        {"full", no_argument, NULL, 'f'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct bundle_check_options o = {0};
    struct report r = {0};
    int c;
    while ((c = getopt_long(argc, argv, "k:fjh", options, NULL)) != -1) {
        switch (c) {
        case 'k': o.public_key_path = optarg; break;
        case 'f': o.full = true; break;
        case 'j': r.json = true; break;
        case 'h': printf("usage: airfactory verify %s\n", usage); return 0;
        default: return cli_usage("verify", usage);
        }
    }
    if (optind != argc - 1 || !o.public_key_path)
        return cli_usage("verify", usage);
    o.dir = argv[optind];
    struct error err;
    error_clear(&err);
    char *sums = xasprintf("%s/SHA256SUMS", o.dir);
    bool pack = (fs_exists(o.dir) && !fs_is_dir(o.dir)) || fs_exists(sums);
    free(sums);
    if (pack) {
        struct bundle_unpack_options uo = {.input = o.dir, .public_key_path = o.public_key_path, .check_only = true};
        struct bundle_transfer_stats stats;
        if (bundle_unpack(&uo, &stats, &err) != 0)
            return cli_report(&err);
        printf("%s: OK: a pack of bundle index %s, signature verified, %llu blobs (%llu bytes) hashed%s\n", o.dir,
               stats.index_digest, (unsigned long long)stats.blobs_streamed, (unsigned long long)stats.bytes_streamed,
               stats.blobs_missing ? "; a delta: the other blobs come from the bundle it is unpacked onto" : "");
        return 0;
    }
    struct bundle_check_result result;
    if (bundle_check(&o, print_problem, &r, &result, &err) != 0)
        return cli_report(&err);
    if (r.json) {
        struct buffer out = BUFFER_INIT;
        struct json_writer w;
        json_writer_init(&w, &out);
        json_object_begin(&w);
        json_kv_string(&w, "event", result.problems ? "failed" : "verified");
        json_kv_string(&w, "bundle", o.dir);
        json_kv_string(&w, "key", result.key);
        json_kv_string(&w, "index", result.index_digest);
        json_kv_bool(&w, "signature", result.signature_ok);
        json_kv_bool(&w, "full", o.full);
        json_kv_int(&w, "blobs", (int64_t)result.blobs);
        json_kv_int(&w, "bytes", (int64_t)result.bytes);
        json_kv_int(&w, "hashed_bytes", (int64_t)result.bytes_hashed);
        json_kv_int(&w, "problems", (int64_t)result.problems);
        json_object_end(&w);
        printf("%s\n", buffer_cstr(&out));
        buffer_free(&out);
    } else if (result.problems) {
        printf("%s: FAILED: %zu problem%s (key %s)\n", o.dir, result.problems, result.problems == 1 ? "" : "s",
               result.key);
    } else {
        printf("%s: OK: signature by %s, %llu blobs, %llu bytes%s\n", o.dir, result.key,
               (unsigned long long)result.blobs, (unsigned long long)result.bytes,
               o.full ? ", every blob re-hashed" : " (sizes checked; --full re-hashes)");
    }
    /* a damaged or forged bundle is bad input: exit status 2 */
    return result.problems ? 2 : 0;
}
