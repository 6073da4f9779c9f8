/* verify_layout_source — a test-only verify_source over OCI image layout directories (what the oci
 * module will provide for real), so the verifier can be run over layouts on disk: those written by
 * the integration test, scripts/make-fixtures and Image Factory's testdata.
 *
 * Several layout directories act as one source (Image Factory keeps an image and its signature in
 * separate layouts). Tags are index.json descriptors annotated org.opencontainers.image.ref.name
 * (matched whole or as the ":tag" suffix of a reference); referrers are manifests reachable from
 * index.json (nested indexes included) whose subject is the digest. Blobs are hashed on read. */
#ifndef AIRFACTORY_TEST_VERIFY_LAYOUT_SOURCE_H
#define AIRFACTORY_TEST_VERIFY_LAYOUT_SOURCE_H

#include <stdlib.h>
#include <string.h>

#include "airfactory/buffer.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/memory.h"
#include "airfactory/verify.h"

struct layout_source {
    const char **dirs;
    size_t dir_count;
};

#define LAYOUT_INDEX_MAX (4 * 1024 * 1024)

__attribute__((unused)) static int layout_read_blob(void *context, const char *digest, size_t max_size,
                                                    struct buffer *out, struct error *err)
{
    struct layout_source *ls = context;
    char hex[SHA256_HEX_LEN + 1];
    if (digest_parse(digest, hex, err) != 0)
        return -1;
    for (size_t i = 0; i < ls->dir_count; i++) {
        char *path = xasprintf("%s/blobs/sha256/%s", ls->dirs[i], hex);
        if (!fs_exists(path)) {
            free(path);
            continue;
        }
        buffer_reset(out);
        int rc = fs_read_file(path, max_size, out, err);
        free(path);
        if (rc != 0)
            return -1;
        char got[SHA256_HEX_LEN + 1];
        sha256_hex(out->data ? out->data : "", out->len, got);
        if (strcmp(got, hex) != 0)
            return error_set(err, ERROR_INPUT, "%s: blob %s hashes to sha256:%s", ls->dirs[i], digest, got);
        return 1;
    }
    return 0;
}

/* Calls visit(descriptor) for every descriptor reachable from the index document, depth-first. */
typedef int (*layout_visit_fn)(struct layout_source *ls, const struct json_value *descriptor, void *arg,
                               struct error *err);

__attribute__((unused)) static int layout_walk_index(struct layout_source *ls, const struct json_value *index,
                                                     int depth, layout_visit_fn visit, void *arg, struct error *err)
{
    const struct json_value *manifests = json_object_get_array(index, "manifests");
    for (size_t i = 0; manifests && i < manifests->count; i++) {
        const struct json_value *d = manifests->items[i];
        if (d->type != JSON_OBJECT)
            continue;
        int v = visit(ls, d, arg, err);
        if (v != 0)
            return v;
        const char *mt = json_object_get_string(d, "mediaType");
        const char *digest = json_object_get_string(d, "digest");
        if (depth < 4 && mt && digest && strcmp(mt, "application/vnd.oci.image.index.v1+json") == 0) {
            struct buffer b = BUFFER_INIT;
            struct json_value *doc = NULL;
            int found = layout_read_blob(ls, digest, LAYOUT_INDEX_MAX, &b, err);
            if (found > 0 && json_parse(buffer_cstr(&b), b.len, digest, &doc, err) == 0)
                v = layout_walk_index(ls, doc, depth + 1, visit, arg, err);
            else if (found < 0)
                v = -1;
            json_free(doc);
            buffer_free(&b);
            if (v != 0)
                return v;
        }
    }
    return 0;
}

__attribute__((unused)) static int layout_walk(struct layout_source *ls, layout_visit_fn visit, void *arg,
                                               struct error *err)
{
    for (size_t i = 0; i < ls->dir_count; i++) {
        char *path = xasprintf("%s/index.json", ls->dirs[i]);
        struct buffer b = BUFFER_INIT;
        struct json_value *doc = NULL;
        int rc = fs_read_file(path, LAYOUT_INDEX_MAX, &b, err);
        if (rc == 0)
            rc = json_parse(buffer_cstr(&b), b.len, path, &doc, err);
        if (rc == 0)
            rc = layout_walk_index(ls, doc, 0, visit, arg, err);
        json_free(doc);
        buffer_free(&b);
        free(path);
        if (rc != 0)
            return rc;
    }
    return 0;
}

struct layout_tag_search {
    const char *tag;
    char *digest;
};

__attribute__((unused)) static int layout_visit_tag(struct layout_source *ls, const struct json_value *d, void *arg,
                                                    struct error *err)
{
    (void)ls;
    (void)err;
    struct layout_tag_search *s = arg;
    const struct json_value *ann = json_object_get_object(d, "annotations");
    const char *ref = ann ? json_object_get_string(ann, "org.opencontainers.image.ref.name") : NULL;
    const char *digest = json_object_get_string(d, "digest");
    if (!ref || !digest)
        return 0;
    size_t rl = strlen(ref), tl = strlen(s->tag);
    if (strcmp(ref, s->tag) == 0 || (rl > tl && ref[rl - tl - 1] == ':' && strcmp(ref + rl - tl, s->tag) == 0)) {
        s->digest = xstrdup(digest);
        return 1;
    }
    return 0;
}

__attribute__((unused)) static int layout_read_tagged_manifest(void *context, const char *tag, struct buffer *out,
                                                               struct error *err)
{
    struct layout_source *ls = context;
    struct layout_tag_search s = {tag, NULL};
    int v = layout_walk(ls, layout_visit_tag, &s, err);
    if (v < 0)
        return -1;
    if (!s.digest)
        return 0;
    int found = layout_read_blob(ls, s.digest, LAYOUT_INDEX_MAX, out, err);
    if (found == 0)
        found = error_set(err, ERROR_INPUT, "tag %s names %s, which is not in the layout", tag, s.digest);
    free(s.digest);
    return found;
}

struct layout_referrer_search {
    const char *subject;
    char **digests;
    size_t count;
};

__attribute__((unused)) static int layout_visit_referrer(struct layout_source *ls, const struct json_value *d,
                                                         void *arg, struct error *err)
{
    struct layout_referrer_search *s = arg;
    const char *mt = json_object_get_string(d, "mediaType");
    const char *digest = json_object_get_string(d, "digest");
    if (!mt || !digest || strcmp(mt, "application/vnd.oci.image.manifest.v1+json") != 0)
        return 0;
    for (size_t i = 0; i < s->count; i++)
        if (strcmp(s->digests[i], digest) == 0)
            return 0;
    struct buffer b = BUFFER_INIT;
    struct json_value *doc = NULL;
    int found = layout_read_blob(ls, digest, LAYOUT_INDEX_MAX, &b, err);
    int rc = found < 0 ? -1 : 0;
    if (found > 0 && json_parse(buffer_cstr(&b), b.len, digest, &doc, err) == 0) {
        const struct json_value *subject = json_object_get_object(doc, "subject");
        const char *sd = subject ? json_object_get_string(subject, "digest") : NULL;
        if (sd && strcmp(sd, s->subject) == 0) {
            s->digests = xrealloc(s->digests, (s->count + 2) * sizeof *s->digests);
            s->digests[s->count++] = xstrdup(digest);
            s->digests[s->count] = NULL;
        }
    }
    json_free(doc);
    buffer_free(&b);
    return rc;
}

__attribute__((unused)) static int layout_list_referrers(void *context, const char *subject_digest, char ***digests,
                                                         struct error *err)
{
    struct layout_source *ls = context;
    struct layout_referrer_search s = {subject_digest, NULL, 0};
    if (layout_walk(ls, layout_visit_referrer, &s, err) < 0) {
        for (size_t i = 0; i < s.count; i++)
            free(s.digests[i]);
        free(s.digests);
        return -1;
    }
    *digests = s.digests;
    return s.count > 0 ? 1 : 0;
}

__attribute__((unused)) static struct verify_source layout_source_make(struct layout_source *ls)
{
    struct verify_source s = {ls, layout_read_tagged_manifest, layout_list_referrers, layout_read_blob};
    return s;
}

#endif
