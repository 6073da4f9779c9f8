/* image_cache — see image_cache.h. */
#include "imager/image_cache.h"

#include "airfactory/buffer.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/memory.h"
#include "oci/oci_image.h"
#include "registry/registry_ref.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

uint64_t image_cache_partition_size(uint64_t bytes)
{
    const uint64_t mib = 1024 * 1024;
    uint64_t size = bytes + bytes * 20 / 100; /* int64 arithmetic in out.go: (total*20)/100 */
    return (size + mib - 1) / mib * mib;
}

/* "sha256:<hex>" -> "sha256-<hex>" (cache.go: strings.ReplaceAll(digest, "sha256:", "sha256-")) */
static char *digest_file_name(const char *digest)
{
    char *s = xstrdup(digest);
    char *colon = strchr(s, ':');
    if (colon)
        *colon = '-';
    return s;
}

/* manifests/<registry>/<repository> with a registry port as _port_ (cache.go rewriteRegistry) */
static char *name_dir(const struct registry_ref *ref)
{
    const char *colon = strrchr(ref->registry, ':');
    if (colon && colon != ref->registry)
        return xasprintf("manifests/%.*s_%s_/%s", (int)(colon - ref->registry), ref->registry, colon + 1,
                         ref->repository);
    return xasprintf("manifests/%s/%s", ref->registry, ref->repository);
}

/* A manifest from the store: 0, or -1 (a missing one is an error: the import recorded it). */
static int read_document(struct store *store, const char *digest, struct buffer *out, struct error *err)
{
    int found = store_read_blob(store, digest, OCI_DOCUMENT_MAX, out, err);
    if (found == 0)
        return error_set(err, ERROR_RUNTIME, "manifest %s is not in the store; import the image again", digest);
    return found < 0 ? -1 : 0;
}

static int write_file(const char *dir, const char *rel, const void *data, size_t len, uint64_t *bytes, struct error *err)
{
    char *path = path_join(dir, rel);
    int rc = fs_write_file_atomic(path, data, len, 0644, err);
    free(path);
    if (rc == 0)
        *bytes += len;
    return rc;
}

/* <names>/digest/sha256-<hex> */
static int write_digest_file(const char *dir, const char *names, const char *digest, const struct buffer *data,
                             uint64_t *bytes, struct error *err)
{
    char *file = digest_file_name(digest);
    char *rel = xasprintf("%s/digest/%s", names, file);
    int rc = write_file(dir, rel, data->data, data->len, bytes, err);
    free(rel);
    free(file);
    return rc;
}

/* blob/sha256-<hex>: a hard link to the store's blob, else a copy; once per digest */
static int put_blob(struct store *store, const char *dir, const char *digest, uint64_t *bytes, struct error *err)
{
    char *name = digest_file_name(digest);
    char *rel = xasprintf("blob/%s", name);
    char *dst = path_join(dir, rel);
    char *src = store_blob_path(store, digest);
    int rc = 0;
    struct stat st;
    if (lstat(dst, &st) == 0) {
        /* already there: a layer two images share is one file, as cache.go's processLayer skips it */
    } else if (stat(src, &st) != 0) {
        rc = error_errno(err, errno, "image cache: blob %s is not in the store (%s)", digest, src);
    } else {
        if (link(src, dst) != 0) {
            rc = fs_copy_file(src, dst, err);
            if (rc == 0 && chmod(dst, 0644) != 0)
                rc = error_errno(err, errno, "%s: chmod", dst);
        }
        if (rc == 0)
            *bytes += (uint64_t)st.st_size;
    }
    free(name);
    free(rel);
    free(dst);
    free(src);
    return rc;
}

static int put_entry(struct store *store, const struct image_cache_entry *e, const char *dir, uint64_t *bytes,
                     struct error *err)
{
    struct store_source src;
    int found = store_source_get(store, e->reference, e->platform, &src, err);
    if (found <= 0)
        return found < 0 ? -1
                         : error_set(err, ERROR_RUNTIME,
                                     "image cache: %s (%s) is not in the store; import it "
                                     "first",
                                     e->reference, e->platform);
    struct registry_ref ref;
    int rc = registry_ref_parse(e->reference, &ref, err);
    if (rc != 0) {
        store_source_free(&src);
        return -1;
    }
    char *names = name_dir(&ref);
    char *reference_dir = xasprintf("%s/%s/reference", dir, names), *digest_dir = xasprintf("%s/%s/digest", dir, names);
    rc = fs_mkdir_p(reference_dir, 0755, err);
    if (rc == 0)
        rc = fs_mkdir_p(digest_dir, 0755, err);
    /* what the reference names (the index of a multi-platform image): reference/<tag> and digest/ */
    struct buffer top = BUFFER_INIT, manifest = BUFFER_INIT;
    if (rc == 0)
        rc = read_document(store, src.digest, &top, err);
    if (rc == 0 && ref.tag) {
        char *rel = xasprintf("%s/reference/%s", names, ref.tag);
        rc = write_file(dir, rel, top.data, top.len, bytes, err);
        free(rel);
    }
    if (rc == 0)
        rc = write_digest_file(dir, names, src.digest, &top, bytes, err);
    /* the platform's manifest (cacheImage), its config and layers */
    if (rc == 0 && strcmp(src.manifest_digest, src.digest) != 0) {
        rc = read_document(store, src.manifest_digest, &manifest, err);
        if (rc == 0)
            rc = write_digest_file(dir, names, src.manifest_digest, &manifest, bytes, err);
    }
    for (size_t b = 0; rc == 0 && b < src.blob_count; b++)
        if (!strcmp(src.blobs[b].kind, "config") || !strcmp(src.blobs[b].kind, "layer"))
            rc = put_blob(store, dir, src.blobs[b].digest, bytes, err);
    buffer_free(&top);
    buffer_free(&manifest);
    free(names);
    free(reference_dir);
    free(digest_dir);
    registry_ref_free(&ref);
    store_source_free(&src);
    return rc == 0 ? 0 : error_prefix(err, "image cache: %s (%s): ", e->reference, e->platform);
}

int image_cache_write_tree(struct store *store, const struct image_cache_entry *entries, size_t count, const char *dir,
                           uint64_t *bytes, struct error *err)
{
    *bytes = 0;
    char *blob = path_join(dir, "blob");
    int rc = fs_mkdir_p(blob, 0755, err);
    free(blob);
    for (size_t i = 0; rc == 0 && i < count; i++)
        rc = put_entry(store, &entries[i], dir, bytes, err);
    return rc;
}
