/* bundle_merge — see include/airfactory/bundle_merge.h. */
#include "airfactory/bundle_merge.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airfactory/buffer.h"
#include "airfactory/bundle.h"
#include "airfactory/bundle_key.h"
#include "bundle/bundle_writer.h"
#include "core/digest.h"
#include "core/memory.h"

int bundle_shard_parse(const char *text, unsigned *index, unsigned *count, struct error *err)
{
    unsigned long i = 0, n = 0;
    char *end = NULL;
    const char *s = text ? text : "";
    /* I: "0" or no leading zero; N: no leading zero */
    bool ok = (*s == '0' && s[1] == '/') || (*s >= '1' && *s <= '9');
    if (ok) {
        errno = 0;
        i = strtoul(s, &end, 10);
        ok = errno == 0 && *end == '/' && end[1] >= '1' && end[1] <= '9';
    }
    if (ok) {
        n = strtoul(end + 1, &end, 10);
        ok = errno == 0 && *end == '\0' && n <= BUNDLE_SHARD_MAX && i < n;
    }
    if (!ok)
        return error_set(err, ERROR_INPUT,
                         "shard '%s': expected I/N with 0 <= I < N <= %d (I counts from 0, "
                         "as Kubernetes' JOB_COMPLETION_INDEX), e.g. 0/4",
                         s, BUNDLE_SHARD_MAX);
    *index = (unsigned)i;
    *count = (unsigned)n;
    return 0;
}

struct part {
    const char *dir;
    struct bundle *bundle;
    unsigned index, count;
    char *manifest, *builder, *created, *key;
    int64_t built_at;
    char sources[SHA256_HEX_LEN + 1];
};

static void part_free(struct part *p)
{
    bundle_close(p->bundle);
    free(p->manifest);
    free(p->builder);
    free(p->created);
    free(p->key);
}

static int meta(struct part *p, const char *key, char **value, struct error *err)
{
    int found = bundle_meta(p->bundle, key, value, err);
    if (found < 0)
        return error_prefix(err, "part %s: ", p->dir);
    if (found == 0) {
        *value = NULL;
        return error_set(err, ERROR_INPUT,
                         "part %s: no meta %s; it is not a partial bundle (build one with "
                         "`airfactory build MANIFEST --shard I/N`)",
                         p->dir, key);
    }
    return 0;
}

/* sha256 over the sources rows (reference, platform order): "the same sources" in one value */
static int sources_digest(struct part *p, struct error *err)
{
    sqlite3 *db = bundle_database(p->bundle);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT reference, digest, platform, role, receipt FROM sources"
                           " ORDER BY reference, platform",
                           -1, &st, NULL) != SQLITE_OK)
        return error_set(err, ERROR_INPUT, "part %s: sources: %s", p->dir, sqlite3_errmsg(db));
    struct sha256_stream h;
    sha256_stream_init(&h);
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int c = 0; c < 5; c++) {
            const unsigned char *t = sqlite3_column_text(st, c);
            uint64_t len = (uint64_t)sqlite3_column_bytes(st, c);
            sha256_stream_update(&h, &len, sizeof len);
            if (t)
                sha256_stream_update(&h, t, (size_t)len);
        }
    }
    sqlite3_finalize(st);
    sha256_stream_final_hex(&h, p->sources);
    return 0;
}

static int open_part(struct part *p, const struct bundle_key *key, struct error *err)
{
    if (bundle_open_with_key(p->dir, key, &p->bundle, err) != 0) {
        /* name the key the part claims, when it can be read at all */
        struct error why = *err;
        struct bundle *raw = NULL;
        struct error ignored = {0};
        char *claimed = NULL;
        if (bundle_open_with_key(p->dir, NULL, &raw, &ignored) == 0 &&
            bundle_meta(raw, "signing_key", &claimed, &ignored) == 1 && strcmp(claimed, bundle_key_fingerprint(key)) != 0)
            error_set(err, ERROR_INPUT,
                      "part %s: signed with key %s, not the merge's --key (%s); every shard "
                      "must be built with the key that signs the merged bundle",
                      p->dir, claimed, bundle_key_fingerprint(key));
        else {
            *err = why;
            error_prefix(err, "part %s: ", p->dir);
        }
        free(claimed);
        bundle_close(raw);
        return -1;
    }
    char *shard = NULL, *built_at = NULL;
    int rc = meta(p, BUNDLE_META_SHARD, &shard, err);
    if (rc == 0 && bundle_shard_parse(shard, &p->index, &p->count, err) != 0)
        rc = error_prefix(err, "part %s: meta ", p->dir);
    if (rc == 0)
        rc = meta(p, "manifest_digest", &p->manifest, err);
    if (rc == 0)
        rc = meta(p, "builder", &p->builder, err);
    if (rc == 0)
        rc = meta(p, "created", &p->created, err);
    if (rc == 0)
        rc = meta(p, "signing_key", &p->key, err);
    if (rc == 0 && bundle_meta(p->bundle, "built_at", &built_at, err) < 0)
        rc = error_prefix(err, "part %s: ", p->dir);
    if (rc == 0) {
        char *end = NULL;
        const char *text = built_at ? built_at : p->created;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (errno || !end || *end || end == text)
            rc = error_set(err, ERROR_INPUT, "part %s: meta built_at '%s' is not a number", p->dir, text);
        p->built_at = (int64_t)v;
    }
    if (rc == 0)
        rc = sources_digest(p, err);
    free(shard);
    free(built_at);
    return rc;
}

/* Every part against the first: one line naming the part, the fact and both values. */
static int same_origin(const struct part *first, const struct part *p, struct error *err)
{
    static const char *const builder = "airfactory " AIRFACTORY_VERSION;
    if (strcmp(p->builder, builder) != 0)
        return error_set(err, ERROR_INPUT,
                         "part %s: built by %s, this is %s; merge with the airfactory "
                         "version that built the shards",
                         p->dir, p->builder, builder);
    if (p->count != first->count)
        return error_set(err, ERROR_INPUT,
                         "part %s: shard %u/%u, but part %s is of %u shards; give the shards "
                         "of one build",
                         p->dir, p->index, p->count, first->dir, first->count);
    if (strcmp(p->manifest, first->manifest) != 0)
        return error_set(err, ERROR_INPUT,
                         "part %s: built from manifest %s, part %s from %s; every shard must "
                         "be built from the same manifest",
                         p->dir, p->manifest, first->dir, first->manifest);
    if (strcmp(p->created, first->created) != 0)
        return error_set(err, ERROR_INPUT,
                         "part %s: created %s, part %s %s; build every shard with the same "
                         "SOURCE_DATE_EPOCH",
                         p->dir, p->created, first->dir, first->created);
    if (strcmp(p->sources, first->sources) != 0)
        return error_set(err, ERROR_INPUT,
                         "part %s: its sources (digests or verification receipts) differ from "
                         "part %s's; build every shard from the same source files",
                         p->dir, first->dir);
    return 0;
}

static int compare_parts(const void *a, const void *b)
{
    const struct part *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

int bundle_merge(const struct bundle_merge_options *o, struct bundle_merge_stats *stats, struct error *err)
{
    if (!o || !o->target || !o->signing_key_path || o->part_count == 0)
        return error_set(err, ERROR_INPUT, "merge: parts, a target and a signing key are required");
    struct bundle_key *key = NULL;
    if (bundle_key_load_private(o->signing_key_path, &key, err) != 0)
        return -1;
    struct part *parts = xcalloc(o->part_count, sizeof *parts);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < o->part_count; i++) {
        parts[i].dir = o->parts[i];
        rc = open_part(&parts[i], key, err);
        if (rc == 0 && i > 0)
            rc = same_origin(&parts[0], &parts[i], err);
        if (rc == 0 && i == 0)
            rc = same_origin(&parts[0], &parts[0], err);
    }
    /* shards 0..N-1, each exactly once */
    if (rc == 0) {
        unsigned n = parts[0].count;
        size_t *given = xcalloc(n, sizeof *given); /* part number + 1, 0: none */
        for (size_t i = 0; rc == 0 && i < o->part_count; i++) {
            if (given[parts[i].index])
                rc = error_set(err, ERROR_INPUT,
                               "part %s: shard %u/%u again (part %s is shard %u/%u too); give "
                               "each shard once",
                               parts[i].dir, parts[i].index, n, parts[given[parts[i].index] - 1].dir, parts[i].index, n);
            given[parts[i].index] = i + 1;
        }
        if (rc == 0) {
            struct buffer missing = BUFFER_INIT;
            for (unsigned s = 0; s < n; s++)
                if (!given[s])
                    buffer_appendf(&missing, "%s%u/%u", missing.len ? ", " : "", s, n);
            bool several = missing.len && strchr(buffer_cstr(&missing), ',');
            if (missing.len)
                rc = error_set(err, ERROR_INPUT,
                               "shard%s %s missing: none of the %zu parts given is %s; build %s "
                               "with --shard and give every shard",
                               several ? "s" : "", buffer_cstr(&missing), o->part_count, several ? "one of them" : "it",
                               several ? "them" : "it");
            buffer_free(&missing);
        }
        free(given);
    }
    struct bundle_writer *w = NULL;
    if (rc == 0) {
        qsort(parts, o->part_count, sizeof *parts, compare_parts);
        int64_t built_at = 0;
        for (size_t i = 0; i < o->part_count; i++)
            built_at = parts[i].built_at > built_at ? parts[i].built_at : built_at;
        char *end = NULL;
        errno = 0;
        long long created = strtoll(parts[0].created, &end, 10);
        if (errno || !end || *end || end == parts[0].created)
            rc = error_set(err, ERROR_INPUT, "part %s: meta created '%s' is not a number", parts[0].dir,
                           parts[0].created);
        struct bundle_writer_options wo = {
            .target = o->target,
            .signing_key_path = o->signing_key_path,
            .created_set = true,
            .created = (int64_t)created,
            .built_at_set = true,
            .built_at = built_at,
            .allow_downgrade = o->allow_downgrade,
        };
        if (rc == 0)
            rc = bundle_writer_open(&wo, &w, err);
    }
    static const char *const skip[] = {BUNDLE_META_SHARD};
    for (size_t i = 0; rc == 0 && i < o->part_count; i++)
        if (bundle_writer_add_bundle(w, parts[i].bundle, skip, 1, err) != 0)
            rc = error_prefix(err, "part %s: ", parts[i].dir);
    if (rc == 0) {
        struct bundle_writer_stats ws;
        bundle_writer_get_stats(w, &ws);
        if (stats)
            *stats = (struct bundle_merge_stats){
                .shards = parts[0].count, .blobs_added = ws.blobs_added, .bytes_added = ws.bytes_added};
        rc = bundle_writer_commit(w, err);
    } else if (w) {
        bundle_writer_abort(w);
    }
    for (size_t i = 0; i < o->part_count; i++)
        part_free(&parts[i]);
    free(parts);
    bundle_key_free(key);
    return rc;
}
