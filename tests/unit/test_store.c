/* test_store — the content-addressed store: blobs written via temp files and renamed, hashes
 * checked on read, temp files of a killed writer removed on open, sources rows and the
 * generated index.json. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/store.h"
#include "oci_test_layout.h"
#include "test.h"

static void test_open_creates_layout(void)
{
    char *dir = tl_scratch();
    char *store_dir = xasprintf("%s/store", dir);
    struct store *s;
    struct error err;
    CHECK_INT(store_open(store_dir, STORE_WRITE, &s, &err), 0);
    char *p = xasprintf("%s/blobs/sha256", store_dir);
    CHECK(fs_is_dir(p));
    free(p);
    p = xasprintf("%s/oci-layout", store_dir);
    struct buffer b = BUFFER_INIT;
    CHECK_INT(fs_read_file(p, 100, &b, &err), 0);
    CHECK_STR(buffer_cstr(&b), "{\"imageLayoutVersion\":\"1.0.0\"}");
    buffer_reset(&b);
    free(p);
    p = xasprintf("%s/index.json", store_dir);
    CHECK_INT(fs_read_file(p, 1000, &b, &err), 0);
    CHECK(strstr(buffer_cstr(&b), "\"manifests\":[]") != NULL);
    free(p);
    buffer_free(&b);
    store_close(s);
    free(store_dir);
    tl_rm(dir);
    free(dir);
}

static void test_read_only_missing(void)
{
    struct store *s;
    struct error err;
    CHECK_INT(store_open("/nonexistent/airfactory-store", STORE_READ, &s, &err), -1);
    CHECK(strstr(err.message, "not an airfactory store") != NULL);
    CHECK_INT(err.code, ERROR_INPUT);
}

static void test_temp_commit_and_read(void)
{
    char *dir = tl_scratch();
    struct store *s;
    struct error err;
    CHECK_INT(store_open(dir, STORE_WRITE, &s, &err), 0);
    struct store_temp t;
    char hex[65], want[65];
    CHECK_INT(store_temp_create(s, &t, &err), 0);
    CHECK_INT(store_temp_write(&t, "hello ", 6, &err), 0);
    CHECK_INT(store_temp_write(&t, "world", 5, &err), 0);
    CHECK_INT(store_temp_finish(&t, hex, &err), 0);
    sha256_hex("hello world", 11, want);
    CHECK_STR(hex, want);
    char *digest = xasprintf("sha256:%s", hex);
    CHECK(!store_has_blob(s, digest)); /* not visible before commit */
    CHECK_INT(store_temp_commit(s, &t, hex, &err), 0);
    store_temp_discard(&t);
    CHECK_INT(store_sync_blobs(s, &err), 0);
    CHECK(store_has_blob(s, digest));
    struct buffer b = BUFFER_INIT;
    CHECK_INT(store_read_blob(s, digest, 100, &b, &err), 1);
    CHECK_STR(buffer_cstr(&b), "hello world");
    /* a damaged blob is noticed on read */
    char *path = store_blob_path(s, digest);
    CHECK_INT(fs_write_file_atomic(path, "hello w0rld", 11, 0644, &err), 0);
    buffer_reset(&b);
    CHECK_INT(store_read_blob(s, digest, 100, &b, &err), -1);
    CHECK(strstr(err.message, "damaged") != NULL);
    /* absent */
    CHECK_INT(
        store_read_blob(s, "sha256:0000000000000000000000000000000000000000000000000000000000000000", 100, &b, &err), 0);
    buffer_free(&b);
    free(path);
    free(digest);
    store_close(s);
    tl_rm(dir);
    free(dir);
}

static void test_put_blob_idempotent(void)
{
    char *dir = tl_scratch();
    struct store *s;
    struct error err;
    char d1[72], d2[72];
    CHECK_INT(store_open(dir, STORE_WRITE, &s, &err), 0);
    CHECK_INT(store_put_blob(s, "{}", 2, d1, &err), 0);
    CHECK_STR(d1, "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    CHECK_INT(store_put_blob(s, "{}", 2, d2, &err), 0);
    CHECK_STR(d1, d2);
    char *tmp = xasprintf("%s/tmp", dir);
    size_t n;
    char **names = tl_list_dir(tmp, &n);
    CHECK_INT(n, 0);
    tl_free_list(names, n);
    free(tmp);
    store_close(s);
    tl_rm(dir);
    free(dir);
}

static void test_discard_leaves_nothing(void)
{
    char *dir = tl_scratch();
    struct store *s;
    struct error err;
    CHECK_INT(store_open(dir, STORE_WRITE, &s, &err), 0);
    struct store_temp t;
    CHECK_INT(store_temp_create(s, &t, &err), 0);
    CHECK_INT(store_temp_write(&t, "abc", 3, &err), 0);
    store_temp_discard(&t);
    store_temp_discard(&t); /* twice is safe */
    char *tmp = xasprintf("%s/tmp", dir);
    size_t n;
    char **names = tl_list_dir(tmp, &n);
    CHECK_INT(n, 0);
    tl_free_list(names, n);
    free(tmp);
    store_close(s);
    tl_rm(dir);
    free(dir);
}

/* What a kill -9 leaves (a temp file) is gone on the next open. */
static void test_open_cleans_tmp(void)
{
    char *dir = tl_scratch();
    struct store *s;
    struct error err;
    CHECK_INT(store_open(dir, STORE_WRITE, &s, &err), 0);
    store_close(s);
    char *junk = xasprintf("%s/tmp/blob-abandoned", dir);
    CHECK_INT(fs_write_file_atomic(junk, "partial", 7, 0644, &err), 0);
    CHECK(fs_exists(junk));
    CHECK_INT(store_open(dir, STORE_READ, &s, &err), 0); /* no writer holds the lock: cleaned */
    CHECK(!fs_exists(junk));
    store_close(s);
    CHECK_INT(fs_write_file_atomic(junk, "partial", 7, 0644, &err), 0);
    CHECK_INT(store_open(dir, STORE_WRITE, &s, &err), 0);
    CHECK(!fs_exists(junk));
    /* while a writer holds the lock, a reader must not touch its temp files */
    CHECK_INT(fs_write_file_atomic(junk, "in progress", 11, 0644, &err), 0);
    struct store *reader;
    CHECK_INT(store_open(dir, STORE_READ, &reader, &err), 0);
    CHECK(fs_exists(junk));
    store_close(reader);
    store_close(s);
    free(junk);
    tl_rm(dir);
    free(dir);
}

static void test_sources_roundtrip(void)
{
    char *dir = tl_scratch();
    struct store *s;
    struct error err;
    CHECK_INT(store_open(dir, STORE_WRITE, &s, &err), 0);
    char manifest[72], config[72];
    CHECK_INT(store_put_blob(s, "{\"m\":1}", 7, manifest, &err), 0);
    CHECK_INT(store_put_blob(s, "{\"c\":1}", 7, config, &err), 0);
    struct store_source_blob blobs[2] = {
        {manifest, 7, "application/vnd.oci.image.manifest.v1+json", "manifest", ""},
        {config, 7, "application/vnd.oci.image.config.v1+json", "config", ""},
    };
    struct store_source src = {"ghcr.io/siderolabs/imager:v1.10.3",
                               "linux/amd64",
                               manifest,
                               "application/vnd.oci.image.manifest.v1+json",
                               manifest,
                               "imager",
                               "{\"method\":\"insecure\"}",
                               42,
                               blobs,
                               2};
    CHECK_INT(store_sources_put(s, &src, 1, &err), 0);
    struct store_source *list;
    size_t n;
    CHECK_INT(store_sources_list(s, &list, &n, &err), 0);
    CHECK_INT(n, 1);
    CHECK_STR(list[0].reference, "ghcr.io/siderolabs/imager:v1.10.3");
    CHECK_STR(list[0].role, "imager");
    CHECK_INT(list[0].imported_at, 42);
    CHECK_INT(list[0].blob_count, 2);
    store_sources_free(list, n);
    struct store_source one;
    CHECK_INT(store_source_get(s, "ghcr.io/siderolabs/imager:v1.10.3", NULL, &one, &err), 1);
    CHECK_STR(one.manifest_digest, manifest);
    store_source_free(&one);
    CHECK_INT(store_source_get(s, "nope", NULL, &one, &err), 0);
    /* index.json names the source, so skopeo/umoci can read the store */
    char *index = xasprintf("%s/index.json", dir);
    struct buffer b = BUFFER_INIT;
    CHECK_INT(fs_read_file(index, 1 << 20, &b, &err), 0);
    CHECK(strstr(buffer_cstr(&b), "\"org.opencontainers.image.ref.name\":\"ghcr.io/siderolabs/imager:v1.10.3\"") != NULL);
    CHECK(strstr(buffer_cstr(&b), manifest) != NULL);
    buffer_free(&b);
    free(index);
    /* a row whose blob is missing is refused, and the earlier row survives */
    struct store_source_blob missing = {"sha256:9999999999999999999999999999999999999999999999999999999999999999", 1,
                                        "x", "layer", ""};
    struct store_source bad = src;
    bad.reference = "other";
    bad.blobs = &missing;
    bad.blob_count = 1;
    CHECK_INT(store_sources_put(s, &bad, 1, &err), -1);
    CHECK(strstr(err.message, "not in the store") != NULL);
    CHECK_INT(store_sources_list(s, &list, &n, &err), 0);
    CHECK_INT(n, 1);
    store_sources_free(list, n);
    /* two platforms: get without a platform is ambiguous */
    struct store_source arm = src;
    arm.platform = "linux/arm64";
    CHECK_INT(store_sources_put(s, &arm, 1, &err), 0);
    CHECK_INT(store_source_get(s, src.reference, NULL, &one, &err), -1);
    CHECK(strstr(err.message, "several platforms") != NULL);
    CHECK_INT(store_source_get(s, src.reference, "linux/arm64", &one, &err), 1);
    store_source_free(&one);
    store_close(s);
    tl_rm(dir);
    free(dir);
}

int main(void)
{
    RUN(test_open_creates_layout);
    RUN(test_read_only_missing);
    RUN(test_temp_commit_and_read);
    RUN(test_put_blob_idempotent);
    RUN(test_discard_leaves_nothing);
    RUN(test_open_cleans_tmp);
    RUN(test_sources_roundtrip);
    return TEST_MAIN_END();
}
