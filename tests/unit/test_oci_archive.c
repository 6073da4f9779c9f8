/* test_oci_archive — writing an OCI archive from store blobs: the entry order and headers, that the
 * importer reads it back to the same image, and that oci_archive_same notices any difference. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "oci/oci_archive.h"
#include "oci/oci_import.h"
#include "oci_test_layout.h"
#include "test.h"

struct fixture {
    char *root, *layout, *archive;
    struct store *store;
    char manifest[72];
    size_t manifest_size;
    struct oci_archive_blob blobs[8];
    char digests[8][72];
    size_t blob_count;
    struct buffer index;
};

/* One amd64 image in a layout directory; its blobs put into a store. */
static void fixture_open(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    f->root = tl_scratch();
    f->layout = xasprintf("%s/layout", f->root);
    f->archive = xasprintf("%s/image.oci.tar", f->root);
    struct tl_entry files[] = {{"etc/os-release", 'f', "NAME=Talos\n", 0644, 0}};
    struct tl_layer layer;
    tl_make_layer(files, 1, TL_GZIP, &layer);
    tl_make_image(f->layout, "amd64", &layer, 1, f->manifest, &f->manifest_size);
    buffer_free(&layer.blob);
    struct error err;
    char *store_dir = xasprintf("%s/store", f->root);
    if (store_open(store_dir, STORE_WRITE, &f->store, &err) != 0)
        printf("  store_open: %s\n", err.message);
    free(store_dir);
    char *blob_dir = xasprintf("%s/blobs/sha256", f->layout);
    size_t n;
    char **names = tl_list_dir(blob_dir, &n);
    for (size_t i = 0; i < n && i < 8; i++) {
        char *path = xasprintf("%s/%s", blob_dir, names[i]);
        struct buffer data = BUFFER_INIT;
        fs_read_file(path, 1 << 20, &data, &err);
        store_put_blob(f->store, data.data, data.len, f->digests[i], &err);
        f->blobs[i] = (struct oci_archive_blob){f->digests[i], (int64_t)data.len, NULL};
        buffer_free(&data);
        free(path);
    }
    f->blob_count = n < 8 ? n : 8;
    tl_free_list(names, n);
    free(blob_dir);
    struct oci_archive_ref ref = {OCI_MEDIA_TYPE_MANIFEST, f->manifest, (int64_t)f->manifest_size, "v1",
                                  "dev.cosignproject.cosign/image"};
    oci_archive_index_json(&ref, 1, &f->index);
}

static void fixture_close(struct fixture *f)
{
    store_close(f->store);
    tl_rm(f->root);
    free(f->root);
    free(f->layout);
    free(f->archive);
    buffer_free(&f->index);
}

static int write_archive(struct fixture *f, const struct oci_archive_blob *blobs, size_t n, struct error *err)
{
    int fd = open(f->archive, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = oci_archive_write(f->store, fd, f->archive, blobs, n, &f->index, 1735689600, err);
    close(fd);
    return rc;
}

static void test_index_json_shape(void)
{
    struct oci_archive_ref refs[] = {
        {OCI_MEDIA_TYPE_INDEX, "sha256:aa", 491, "v1.11.3", "dev.cosignproject.cosign/imageIndex"},
        {OCI_MEDIA_TYPE_INDEX, "sha256:bb", 303, "sha256-aa", NULL},
    };
    struct buffer out = BUFFER_INIT;
    oci_archive_index_json(refs, 2, &out);
    /* compact, no top-level mediaType, cosign save's annotations (kind before ref.name, as Go sorts) */
    CHECK_STR(buffer_cstr(&out),
              "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
              "\"digest\":\"sha256:aa\",\"size\":491,\"annotations\":{\"kind\":\"dev.cosignproject.cosign/imageIndex\","
              "\"org.opencontainers.image.ref.name\":\"v1.11.3\"}},{\"mediaType\":"
              "\"application/vnd.oci.image.index.v1+json\",\"digest\":\"sha256:bb\",\"size\":303,\"annotations\":"
              "{\"org.opencontainers.image.ref.name\":\"sha256-aa\"}}]}");
    buffer_free(&out);
}

static void test_entries_sorted_and_deterministic(void)
{
    struct fixture f;
    fixture_open(&f);
    struct error err;
    /* given in reverse order and with a duplicate: written sorted, once */
    struct oci_archive_blob given[9];
    size_t n = 0;
    for (size_t i = f.blob_count; i-- > 0;)
        given[n++] = f.blobs[i];
    given[n++] = f.blobs[0];
    CHECK_INT(write_archive(&f, given, n, &err), 0);
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    CHECK(archive_read_open_filename(a, f.archive, 1 << 16) == ARCHIVE_OK);
    struct archive_entry *e;
    struct buffer names = BUFFER_INIT;
    bool headers_ok = true;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        buffer_appendf(&names, "%s\n", archive_entry_pathname(e));
        headers_ok &= archive_entry_uid(e) == 0 && archive_entry_gid(e) == 0 && archive_entry_mtime(e) == 1735689600 &&
                      !strcmp(archive_entry_uname(e), "root");
    }
    archive_read_free(a);
    struct buffer expected = BUFFER_INIT;
    buffer_append_str(&expected, "blobs/\nblobs/sha256/\n");
    for (size_t i = 0; i < f.blob_count; i++) /* tl_list_dir sorted them */
        buffer_appendf(&expected, "blobs/sha256/%s\n", f.digests[i] + 7);
    buffer_append_str(&expected, "index.json\noci-layout\n");
    CHECK_STR(buffer_cstr(&names), buffer_cstr(&expected));
    CHECK(headers_ok);
    /* the same input gives the same bytes */
    char first[65], second[65];
    uint64_t size;
    sha256_file_hex(f.archive, first, &size, &err);
    CHECK_INT(write_archive(&f, f.blobs, f.blob_count, &err), 0);
    sha256_file_hex(f.archive, second, &size, &err);
    CHECK_STR(first, second);
    buffer_free(&names);
    buffer_free(&expected);
    fixture_close(&f);
}

/* The importer reads what was written (archive or directory) back to the fixture's image. */
static void check_imports_back(struct fixture *f, const char *path)
{
    struct error err;
    char *other_dir = xasprintf("%s/other-store", f->root);
    struct store *other;
    CHECK_INT(store_open(other_dir, STORE_WRITE, &other, &err), 0);
    struct verify_policy insecure = {.name = "test", .insecure = true};
    struct oci_import_options options = {.policy = &insecure, .reference = "ghcr.io/x/image:v1"};
    struct oci_import_result *results = NULL;
    size_t count = 0;
    int rc = oci_import(other, path, &options, &results, &count, NULL, &err);
    if (rc != 0)
        printf("  import: %s\n", err.message);
    CHECK_INT(rc, 0);
    CHECK_INT(count, 1);
    if (count == 1) {
        CHECK_STR(results[0].image.digest, f->manifest);
        CHECK_STR(results[0].platform, "linux/amd64");
    }
    oci_import_results_free(results, count);
    free(results);
    store_close(other);
    free(other_dir);
}

static void test_imports_back(void)
{
    struct fixture f;
    fixture_open(&f);
    struct error err;
    CHECK_INT(write_archive(&f, f.blobs, f.blob_count, &err), 0);
    check_imports_back(&f, f.archive);
    fixture_close(&f);
}

static void test_same_notices_differences(void)
{
    struct fixture f;
    fixture_open(&f);
    struct error err;
    CHECK_INT(oci_archive_same(f.archive, f.blobs, f.blob_count, &f.index), 0); /* not there yet */
    CHECK_INT(write_archive(&f, f.blobs, f.blob_count, &err), 0);
    CHECK_INT(oci_archive_same(f.archive, f.blobs, f.blob_count, &f.index), 1);
    /* a blob fewer, a wrong size, another index.json: all differ */
    CHECK_INT(oci_archive_same(f.archive, f.blobs, f.blob_count - 1, &f.index), 0);
    struct oci_archive_blob changed[8];
    memcpy(changed, f.blobs, sizeof changed);
    changed[0].size++;
    CHECK_INT(oci_archive_same(f.archive, changed, f.blob_count, &f.index), 0);
    struct buffer other = BUFFER_INIT;
    buffer_append(&other, f.index.data, f.index.len);
    other.data[other.len - 3] = 'x';
    CHECK_INT(oci_archive_same(f.archive, f.blobs, f.blob_count, &other), 0);
    buffer_free(&other);
    /* a truncated file is not the same either */
    CHECK_INT(truncate(f.archive, 1024), 0);
    CHECK_INT(oci_archive_same(f.archive, f.blobs, f.blob_count, &f.index), 0);
    fixture_close(&f);
}

static void test_missing_blob_is_an_error(void)
{
    struct fixture f;
    fixture_open(&f);
    struct error err;
    struct oci_archive_blob blobs[9];
    memcpy(blobs, f.blobs, f.blob_count * sizeof *blobs);
    blobs[f.blob_count] =
        (struct oci_archive_blob){"sha256:0000000000000000000000000000000000000000000000000000000000000000", 5, NULL};
    CHECK_INT(write_archive(&f, blobs, f.blob_count + 1, &err), -1);
    CHECK(strstr(err.message, "is not in the store") != NULL);
    fixture_close(&f);
}

static void test_layout_directory(void)
{
    struct fixture f;
    fixture_open(&f);
    struct error err;
    char *dir = xasprintf("%s/layout-out", f.root);
    CHECK_INT(oci_archive_same_dir(dir, f.blobs, f.blob_count, &f.index), 0);
    fs_mkdir_p(dir, 0755, &err);
    /* one blob from memory, the rest from the store */
    struct oci_archive_blob blobs[8];
    memcpy(blobs, f.blobs, sizeof blobs);
    char *first = store_blob_path(f.store, f.blobs[0].digest);
    struct buffer data = BUFFER_INIT;
    fs_read_file(first, 1 << 20, &data, &err);
    blobs[0].data = data.data;
    CHECK_INT(oci_archive_write_dir(f.store, dir, blobs, f.blob_count, &f.index, &err), 0);
    CHECK_INT(oci_archive_same_dir(dir, f.blobs, f.blob_count, &f.index), 1);
    check_imports_back(&f, dir);
    /* a blob gone: not the same */
    char *victim = xasprintf("%s/blobs/sha256/%s", dir, f.digests[0] + 7);
    unlink(victim);
    CHECK_INT(oci_archive_same_dir(dir, f.blobs, f.blob_count, &f.index), 0);
    free(victim);
    free(first);
    buffer_free(&data);
    free(dir);
    fixture_close(&f);
}

int main(void)
{
    RUN(test_index_json_shape);
    RUN(test_entries_sorted_and_deterministic);
    RUN(test_imports_back);
    RUN(test_same_notices_differences);
    RUN(test_missing_blob_is_an_error);
    RUN(test_layout_directory);
    return TEST_MAIN_END();
}
