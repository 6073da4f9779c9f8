/* airfactory import — verify OCI source images (directory, oci-archive tar, compressed tar,
 * docker save) and import them into a store. A thin layer over oci_import. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airfactory/buffer.h"
#include "core/json.h"
#include "core/memory.h"
#include "oci/oci_import.h"
#include "oci/store.h"
#include "airfactory/verify.h"
#include "verify/verify_policy.h"
#include "airfactory/source_role.h"
#include "cli/cli.h"

static const char usage[] =
    "[--store DIR] [--policy FILE | --insecure] [--platform OS/ARCH]... [--tag TAG] [--reference REF] "
    "[--role ROLE] [--json] INPUT...\n"
    "  INPUT      OCI layout directory, oci-archive tar (.tar, .tar.gz, .tar.zst) or docker save output\n"
    "  --store    store directory (default $AIRFACTORY_STORE or ./airfactory-store)\n"
    "  --policy   trust policy, YAML or JSON, as a manifest's trust: entry (one of keys: [cosign.pub],\n"
    "             keyless: {issuer, identity, trusted_root}, insecure: true), optional name:\n"
    "  --insecure accept images without a valid signature (recorded as such)\n"
    "  --platform import only this platform of a multi-platform image (repeatable)\n"
    "  --tag      import only the image with this tag (org.opencontainers.image.ref.name)\n"
    "  --reference record the image under this name (e.g. ghcr.io/siderolabs/imager:v1.10.3)\n"
    "  --role     role recorded with the source, as a manifest spells it: " SOURCE_ROLE_NAMES;

static void print_result(const char *input, const struct oci_import_result *r, bool json)
{
    if (json) {
        struct buffer out = BUFFER_INIT, receipt = BUFFER_INIT;
        struct json_writer w;
        json_writer_init(&w, &out);
        w.escape_html = false;
        json_object_begin(&w);
        json_kv_string(&w, "event", "imported");
        json_kv_string(&w, "input", input);
        json_kv_string(&w, "reference", r->image.reference);
        json_kv_string(&w, "platform", r->platform);
        json_kv_string(&w, "digest", r->image.digest);
        json_kv_string(&w, "manifest_digest", r->image.manifest_digest);
        json_kv_string(&w, "config_digest", r->image.config.digest);
        json_kv_int(&w, "layers", (int64_t)r->image.layer_count);
        json_kv_string(&w, "verified", r->receipt.method);
        verify_receipt_to_json(&r->receipt, &receipt);
        json_key(&w, "receipt");
        json_raw(&w, buffer_cstr(&receipt));
        json_object_end(&w);
        printf("%s\n", buffer_cstr(&out));
        buffer_free(&out);
        buffer_free(&receipt);
        return;
    }
    const char *detail = r->receipt.key_fingerprint[0] ? r->receipt.key_fingerprint : r->receipt.identity;
    printf("imported %s %s %s (%zu layers) verified: %s%s%s\n", r->image.reference, r->platform,
           r->image.manifest_digest, r->image.layer_count, r->receipt.method, detail[0] ? " " : "", detail);
}

static void print_summary(const char *input, const struct oci_import_stats *s, bool json)
{
    const struct oci_layout_stats *l = &s->layout;
    if (json) {
        printf("{\"event\":\"import-summary\",\"input\":");
        struct buffer b = BUFFER_INIT;
        json_escape(&b, input, strlen(input), false);
        printf("%s,\"images\":%llu,\"blobs_read\":%llu,\"bytes_read\":%llu,\"blobs_written\":%llu,"
               "\"bytes_written\":%llu,\"blobs_committed\":%llu}\n",
               buffer_cstr(&b), (unsigned long long)s->images, (unsigned long long)l->blobs_read,
               (unsigned long long)l->bytes_read, (unsigned long long)l->blobs_written,
               (unsigned long long)l->bytes_written, (unsigned long long)l->blobs_committed);
        buffer_free(&b);
        return;
    }
    printf("%s: %llu image(s); %llu blobs (%llu bytes) hashed, %llu new (%llu bytes written)\n", input,
           (unsigned long long)s->images, (unsigned long long)l->blobs_read, (unsigned long long)l->bytes_read,
           (unsigned long long)l->blobs_committed, (unsigned long long)l->bytes_written);
}

const char *cli_store_dir(const char *given);
const char *cli_store_dir(const char *given)
{
    if (given)
        return given;
    const char *env = getenv("AIRFACTORY_STORE");
    return env && *env ? env : "airfactory-store";
}

int cmd_import(int argc, char **argv)
{
    static const struct option options[] = {
        {"store", required_argument, NULL, 's'}, {"policy", required_argument, NULL, 'p'},
        {"insecure", no_argument, NULL, 'i'},    {"platform", required_argument, NULL, 'P'},
        {"tag", required_argument, NULL, 't'},   {"reference", required_argument, NULL, 'r'},
        {"role", required_argument, NULL, 'R'},  {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    const char *store_arg = NULL, *policy_path = NULL;
    bool insecure = false, json = false;
    struct oci_import_options opts;
    memset(&opts, 0, sizeof opts);
    struct oci_platform *platforms = xcalloc((size_t)argc + 1, sizeof *platforms);
    size_t platform_count = 0;
    struct error err;
    error_clear(&err);
    int c, status = 2;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case 's': store_arg = optarg; break;
        case 'p': policy_path = optarg; break;
        case 'i': insecure = true; break;
        case 'P':
            if (oci_platform_parse(optarg, &platforms[platform_count], &err) != 0) {
                free(platforms);
                return cli_report(&err);
            }
            platform_count++;
            break;
        case 't': opts.tag = optarg; break;
        case 'r': opts.reference = optarg; break;
        case 'R': {
            enum source_role role;
            if (!source_role_parse(optarg, &role)) {
                fprintf(stderr, "airfactory import: --role %s: not a source role; expected one of: %s\n", optarg,
                        SOURCE_ROLE_NAMES);
                free(platforms);
                return 2;
            }
            opts.role = source_role_name(role);
            break;
        }
        case 'j': json = true; break;
        case 'h':
            printf("usage: airfactory import %s\n", usage);
            free(platforms);
            return 0;
        default: free(platforms); return cli_usage("import", usage);
        }
    }
    if (optind >= argc) {
        free(platforms);
        return cli_usage("import", usage);
    }
    struct verify_policy policy;
    memset(&policy, 0, sizeof policy);
    if (policy_path) {
        if (verify_policy_load_file(policy_path, &policy, &err) != 0) {
            free(platforms);
            return cli_report(&err);
        }
    } else if (!insecure) {
        free(platforms);
        fprintf(stderr, "airfactory import: no trust policy: pass --policy FILE (e.g. `keys: [cosign.pub]`) to "
                        "verify signatures, or --insecure to accept unsigned images\n");
        return 2;
    } else {
        policy.name = xstrdup("--insecure");
    }
    if (insecure)
        policy.insecure = true;
    opts.policy = &policy;
    opts.platforms = platforms;
    opts.platform_count = platform_count;

    struct store *store = NULL;
    if (store_open(cli_store_dir(store_arg), STORE_WRITE, &store, &err) != 0) {
        status = cli_report(&err);
        goto done;
    }
    status = 0;
    for (int i = optind; i < argc; i++) {
        struct oci_import_result *results;
        size_t n;
        struct oci_import_stats stats;
        if (oci_import(store, argv[i], &opts, &results, &n, &stats, &err) != 0) {
            status = cli_report(&err);
            break;
        }
        for (size_t j = 0; j < n; j++)
            print_result(argv[i], &results[j], json);
        print_summary(argv[i], &stats, json);
        oci_import_results_free(results, n);
        free(results);
    }
done:
    store_close(store);
    verify_policy_free(&policy);
    free(platforms);
    return status;
}
