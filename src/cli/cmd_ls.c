/* airfactory ls — what a bundle holds: versions, schematics (with their manifest names), assets with sizes,
 * images, and the bytes each registry repository serves and adds (a shared blob counted once). */
#include <getopt.h>
#include <sqlite3.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airfactory/buffer.h"
#include "airfactory/bundle.h"
#include "core/byte_size.h"
#include "core/json.h"
#include "core/memory.h"
#include "cli/cli.h"
#include "talos/mirror_patch.h"

static const char usage[] = "BUNDLE [--key PUBLIC.pem] [--json | --mirrors URL]";

struct lister {
    bool json;
    struct json_writer *w;
    size_t count;
    uint64_t bytes;
    enum bundle_list list;
};

static int row(void *context, int columns, const char *const *v)
{
    struct lister *l = context;
    l->count++;
    if (l->json) {
        struct json_writer *w = l->w;
        switch (l->list) {
        case BUNDLE_LIST_VERSIONS: json_string(w, v[0]); break;
        case BUNDLE_LIST_SCHEMATICS:
            json_object_begin(w);
            json_kv_string(w, "id", v[0]);
            if (columns > 2 && v[2][0])
                json_kv_string(w, "name", v[2]);
            json_kv_string(w, "yaml", v[1]);
            json_object_end(w);
            break;
        case BUNDLE_LIST_ASSETS:
            json_object_begin(w);
            json_kv_string(w, "schematic", v[0]);
            json_kv_string(w, "version", v[1]);
            json_kv_string(w, "path", v[2]);
            json_kv_string(w, "digest", v[3]);
            json_kv_int(w, "size", strtoll(v[4], NULL, 10));
            json_kv_string(w, "media_type", v[5]);
            json_kv_string(w, "cache_key", v[6]);
            json_object_end(w);
            break;
        case BUNDLE_LIST_IMAGES:
            json_object_begin(w);
            json_kv_string(w, "repository", v[0]);
            json_kv_string(w, "tag", v[1]);
            json_kv_string(w, "digest", v[2]);
            json_object_end(w);
            break;
        case BUNDLE_LIST_META: json_kv_string(w, v[0], v[1]); break;
        case BUNDLE_LIST_IMAGE_BYTES:
            json_object_begin(w);
            json_kv_string(w, "repository", v[0]);
            json_kv_int(w, "size", strtoll(v[1], NULL, 10));
            json_kv_int(w, "adds", strtoll(v[2], NULL, 10));
            json_object_end(w);
            break;
        default: break;
        }
        return 0;
    }
    switch (l->list) {
    case BUNDLE_LIST_VERSIONS: printf("  %s\n", v[0]); break;
    case BUNDLE_LIST_SCHEMATICS: {
        /* the YAML on one line: enough to tell schematics apart */
        printf("  %s  ", v[0]);
        if (columns > 2 && v[2][0])
            printf("%s  ", v[2]);
        for (const char *p = v[1]; *p && p - v[1] < 100; p++)
            putchar(*p == '\n' ? ' ' : *p);
        printf("%s\n", strlen(v[1]) > 100 ? "..." : "");
        break;
    }
    case BUNDLE_LIST_ASSETS: {
        char size[32];
        uint64_t n = strtoull(v[4], NULL, 10);
        l->bytes += n;
        byte_size_text(n, size, sizeof size);
        printf("  %.12s  %-16s %-32s %10s  %.19s\n", v[0], v[1], v[2], size, v[3]);
        break;
    }
    case BUNDLE_LIST_IMAGES: printf("  %s:%s  %s\n", v[0], v[1], v[2]); break;
    case BUNDLE_LIST_META: printf("  %-18s %s\n", v[0], v[1]); break;
    case BUNDLE_LIST_IMAGE_BYTES: {
        char size[32], adds[32];
        uint64_t n = strtoull(v[2], NULL, 10);
        l->bytes += n;
        byte_size_text(strtoull(v[1], NULL, 10), size, sizeof size);
        byte_size_text(n, adds, sizeof adds);
        printf("  %-56s %10s %10s\n", v[0], size, adds);
        break;
    }
    default: break;
    }
    return 0;
}

/* Section headers show the count before the rows. */
static int64_t table_count(struct bundle *b, const char *table)
{
    char *sql = xasprintf("SELECT count(*) FROM %s", table);
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(bundle_database(b), sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    free(sql);
    return n;
}

static int list(struct bundle *b, struct lister *l, enum bundle_list which, struct error *err)
{
    l->list = which;
    l->count = 0;
    l->bytes = 0;
    return bundle_foreach(b, which, NULL, row, l, err);
}

struct hosts {
    char **v;
    size_t count;
};

static int host_row(void *context, int column_count, const char *const *columns)
{
    struct hosts *h = context;
    if (column_count >= 1) {
        h->v = xrealloc(h->v, (h->count + 1) * sizeof *h->v);
        h->v[h->count++] = xstrdup(columns[0]);
    }
    return 0;
}

/* --mirrors URL: the Talos machine-config patch airfactory-serve answers at /registry-mirrors.yaml,
 * for the upstream registries of the bundle's cluster images (BUNDLE_LIST_REGISTRY_HOSTS, the list
 * the server reads). */
static int print_mirror_patch(struct bundle *b, const char *url, struct error *err)
{
    struct hosts h = {NULL, 0};
    if (bundle_foreach(b, BUNDLE_LIST_REGISTRY_HOSTS, NULL, host_row, &h, err) != 0) {
        for (size_t i = 0; i < h.count; i++)
            free(h.v[i]);
        free(h.v);
        return -1;
    }
    char **hosts = h.v;
    size_t count = h.count;
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    char *endpoint = xstrndup(url, n);
    struct buffer out = BUFFER_INIT;
    talos_mirror_patch((const char *const *)hosts, count, endpoint, &out);
    fputs(buffer_cstr(&out), stdout);
    buffer_free(&out);
    free(endpoint);
    for (size_t i = 0; i < count; i++)
        free(hosts[i]);
    free(hosts);
    return 0;
}

int cmd_ls(int argc, char **argv)
{
    static const struct option options[] = {
        {"key", required_argument, NULL, 'k'},
        {"json", no_argument, NULL, 'j'},
        {"mirrors", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *key = NULL, *mirrors = NULL;
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, "k:jh", options, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (strncmp(optarg, "http://", 7) != 0 && strncmp(optarg, "https://", 8) != 0) {
                fprintf(stderr,
                        "airfactory ls: --mirrors %s: expected the server's URL, http://HOST[:PORT] or "
                        "https://HOST[:PORT] (what nodes reach airfactory-serve at)\n",
                        optarg);
                return 2;
            }
            mirrors = optarg;
            break;
        case 'k': key = optarg; break;
        case 'j': json = true; break;
        case 'h':
            printf("usage: airfactory ls %s\n"
                   "  image bytes: per registry repository, SIZE is every blob it serves, ADDS the blobs no\n"
                   "  asset and no repository listed before it already stored (a blob several images or an\n"
                   "  installer share is counted once, for the first); --json: image_bytes\n",
                   usage);
            return 0;
        default: return cli_usage("ls", usage);
        }
    }
    if (optind != argc - 1)
        return cli_usage("ls", usage);
    const char *dir = argv[optind];
    struct error err;
    error_clear(&err);
    struct bundle *b = NULL;
    if (bundle_open(dir, key, &b, &err) != 0)
        return cli_report(&err);
    if (mirrors) {
        int mrc = print_mirror_patch(b, mirrors, &err);
        bundle_close(b);
        return mrc == 0 ? 0 : cli_report(&err);
    }
    struct bundle_freshness fresh;
    if (bundle_read_freshness(b, &fresh, &err) != 0) {
        bundle_close(b);
        return cli_report(&err);
    }
    char fresh_text[96];
    bundle_freshness_describe(&fresh, fresh_text, sizeof fresh_text);
    struct buffer out = BUFFER_INIT;
    struct json_writer w;
    json_writer_init(&w, &out);
    struct lister l = {.json = json, .w = &w};
    int rc = 0;
    static const struct {
        const char *name;
        enum bundle_list list;
    } sections[] = {
        {"versions", BUNDLE_LIST_VERSIONS},
        {"schematics", BUNDLE_LIST_SCHEMATICS},
        {"assets", BUNDLE_LIST_ASSETS},
        {"images", BUNDLE_LIST_IMAGES},
    };
    if (json) {
        json_object_begin(&w);
        json_kv_string(&w, "bundle", dir);
        json_kv_string(&w, "index_digest", bundle_index_digest(b));
        json_kv_bool(&w, "verified", bundle_is_verified(b));
        json_kv_int(&w, "generation", (int64_t)fresh.generation);
        json_kv_int(&w, "built_at", fresh.built_at);
        json_key(&w, "meta");
        json_object_begin(&w);
        rc = list(b, &l, BUNDLE_LIST_META, &err);
        json_object_end(&w);
        for (size_t i = 0; rc == 0 && i < sizeof sections / sizeof sections[0]; i++) {
            json_key(&w, sections[i].name);
            json_array_begin(&w);
            rc = list(b, &l, sections[i].list, &err);
            json_array_end(&w);
        }
        if (rc == 0) {
            json_key(&w, "image_bytes");
            json_array_begin(&w);
            rc = list(b, &l, BUNDLE_LIST_IMAGE_BYTES, &err);
            json_array_end(&w);
        }
        json_object_end(&w);
        if (rc == 0)
            printf("%s\n", buffer_cstr(&out));
    } else {
        printf("bundle %s\n  index %s (%s)\n", dir, bundle_index_digest(b),
               bundle_is_verified(b) ? "signature verified" : "signature NOT checked: pass --key");
        printf("  %s\n", fresh_text);
        rc = list(b, &l, BUNDLE_LIST_META, &err);
        for (size_t i = 0; rc == 0 && i < sizeof sections / sizeof sections[0]; i++) {
            int64_t count = table_count(b, sections[i].name);
            printf("%s (%lld)\n", sections[i].name, (long long)count);
            rc = list(b, &l, sections[i].list, &err);
            if (rc == 0 && sections[i].list == BUNDLE_LIST_ASSETS && l.count) {
                char total[32];
                byte_size_text(l.bytes, total, sizeof total);
                printf("  total %s\n", total);
            }
        }
        /* what each registry repository costs the bundle: a blob counted once, for the first
         * repository in this order that serves it (bundle.h BUNDLE_LIST_IMAGE_BYTES) */
        if (rc == 0 && table_count(b, "repository_blobs") > 0) {
            printf("image bytes (ADDS: blobs no asset and no repository above already stored; a blob several "
                   "images share is counted once)\n");
            printf("  %-56s %10s %10s\n", "REPOSITORY", "SIZE", "ADDS");
            rc = list(b, &l, BUNDLE_LIST_IMAGE_BYTES, &err);
            if (rc == 0) {
                char total[32];
                byte_size_text(l.bytes, total, sizeof total);
                printf("  total added %s\n", total);
            }
        }
    }
    buffer_free(&out);
    bundle_close(b);
    if (rc != 0)
        return cli_report(&err);
    return 0;
}
