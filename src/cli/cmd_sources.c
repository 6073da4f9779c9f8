/* airfactory sources — what a store holds and how each source was verified. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airfactory/buffer.h"
#include "core/json.h"
#include "core/memory.h"
#include "oci/store.h"
#include "cli/cli.h"

static const char usage[] = "[--store DIR] [--json]\n"
                            "  --store  store directory (default $AIRFACTORY_STORE or ./airfactory-store)\n"
                            "  --json   one JSON object per source (NDJSON), receipt included";

const char *cli_store_dir(const char *given); /* cmd_import.c */

static void print_json(const struct store_source *s)
{
    struct buffer out = BUFFER_INIT;
    struct json_writer w;
    json_writer_init(&w, &out);
    w.escape_html = false;
    json_object_begin(&w);
    json_kv_string(&w, "reference", s->reference);
    json_kv_string(&w, "platform", s->platform);
    json_kv_string(&w, "digest", s->digest);
    json_kv_string(&w, "media_type", s->media_type);
    json_kv_string(&w, "manifest_digest", s->manifest_digest);
    json_kv_string(&w, "role", s->role);
    json_kv_int(&w, "imported_at", s->imported_at);
    json_key(&w, "receipt");
    json_raw(&w, s->receipt[0] ? s->receipt : "null");
    json_key(&w, "blobs");
    json_array_begin(&w);
    for (size_t i = 0; i < s->blob_count; i++) {
        json_object_begin(&w);
        json_kv_string(&w, "digest", s->blobs[i].digest);
        json_kv_int(&w, "size", s->blobs[i].size);
        json_kv_string(&w, "media_type", s->blobs[i].media_type);
        json_kv_string(&w, "kind", s->blobs[i].kind);
        if (s->blobs[i].tag[0])
            json_kv_string(&w, "tag", s->blobs[i].tag);
        json_object_end(&w);
    }
    json_array_end(&w);
    json_object_end(&w);
    printf("%s\n", buffer_cstr(&out));
    buffer_free(&out);
}

/* "cosign-key sha256:ab12…" from the receipt JSON; the receipt's own format is verify's. */
static char *describe_receipt(const char *receipt)
{
    struct json_value *v;
    struct error ignored;
    if (json_parse(receipt, strlen(receipt), "receipt", &v, &ignored) != 0)
        return xstrdup("?");
    const char *method = json_object_get_string(v, "method");
    const char *key = json_object_get_string(v, "key_fingerprint");
    const char *identity = json_object_get_string(v, "identity");
    const char *detail = key && *key ? key : identity && *identity ? identity : "";
    char *s = xasprintf("%s%s%s", method ? method : "?", *detail ? " " : "", detail);
    json_free(v);
    return s;
}

int cmd_sources(int argc, char **argv)
{
    static const struct option options[] = {
        {"store", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *store_arg = NULL;
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case 's': store_arg = optarg; break;
        case 'j': json = true; break;
        case 'h': printf("usage: airfactory sources %s\n", usage); return 0;
        default: return cli_usage("sources", usage);
        }
    }
    if (optind != argc)
        return cli_usage("sources", usage);
    struct error err;
    error_clear(&err);
    struct store *store;
    if (store_open(cli_store_dir(store_arg), STORE_READ, &store, &err) != 0)
        return cli_report(&err);
    struct store_source *sources;
    size_t n;
    if (store_sources_list(store, &sources, &n, &err) != 0) {
        store_close(store);
        return cli_report(&err);
    }
    if (!json && n)
        printf("%-44s %-16s %-19s %-10s %s\n", "REFERENCE", "PLATFORM", "DIGEST", "ROLE", "VERIFIED");
    for (size_t i = 0; i < n; i++) {
        if (json) {
            print_json(&sources[i]);
            continue;
        }
        char *verified = describe_receipt(sources[i].receipt);
        printf("%-44s %-16s %-19.19s %-10s %s\n", sources[i].reference, sources[i].platform, sources[i].digest,
               sources[i].role[0] ? sources[i].role : "-", verified);
        free(verified);
    }
    if (!json && !n)
        printf("%s: no sources yet; add some with `airfactory import`\n", store_dir(store));
    store_sources_free(sources, n);
    store_close(store);
    return 0;
}
