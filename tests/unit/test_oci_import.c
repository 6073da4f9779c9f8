/* test_oci_import — reading OCI layouts (directory, tar in any order, gzip/zstd tar, docker save),
 * tag and platform selection, the verify_source over a layout, and every kind of bad input:
 * each refused with an error that names the file and digest, and the store left unchanged. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "oci/oci_import.h"
#include "oci_test_layout.h"
#include "test.h"

static struct verify_policy insecure_policy = {.name = "test-insecure", .insecure = true};

struct fixture {
    char *root;   /* scratch dir */
    char *layout; /* root/layout */
    char *store_dir;
    struct store *store;
    char manifest[72];
    size_t manifest_size;
    struct tl_layer layers[2];
};

static void fixture_layers(struct fixture *f, enum tl_compression c)
{
    struct tl_entry l1[] = {
        {"usr/", 'd', NULL, 0755, 0},
        {"usr/install/amd64/vmlinuz", 'f', "kernel-bytes", 0644, 0},
        {"etc/os-release", 'f', "NAME=Talos\n", 0644, 0},
    };
    struct tl_entry l2[] = {{"usr/install/amd64/initramfs.xz", 'f', "initramfs", 0644, 0}};
    tl_make_layer(l1, 3, c, &f->layers[0]);
    tl_make_layer(l2, 1, c == TL_NONE ? TL_NONE : TL_ZSTD, &f->layers[1]);
}

/* One amd64 image with two layers (gzip + zstd), tagged v1. */
static void fixture_open(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    f->root = tl_scratch();
    f->layout = xasprintf("%s/layout", f->root);
    f->store_dir = xasprintf("%s/store", f->root);
    fixture_layers(f, TL_GZIP);
    tl_make_image(f->layout, "amd64", f->layers, 2, f->manifest, &f->manifest_size);
    char *entry = xasprintf("{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\","
                            "\"size\":%zu,\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}}",
                            f->manifest, f->manifest_size);
    tl_write_index(f->layout, entry);
    free(entry);
    struct error err;
    if (store_open(f->store_dir, STORE_WRITE, &f->store, &err) != 0)
        printf("  store_open: %s\n", err.message);
}

static void fixture_close(struct fixture *f)
{
    store_close(f->store);
    for (int i = 0; i < 2; i++)
        buffer_free(&f->layers[i].blob);
    tl_rm(f->root);
    free(f->root);
    free(f->layout);
    free(f->store_dir);
}

static int import(struct fixture *f, const char *input, const struct oci_import_options *given,
                  struct oci_import_result **results, size_t *n, struct oci_import_stats *stats, struct error *err)
{
    struct oci_import_options opts;
    memset(&opts, 0, sizeof opts);
    if (given)
        opts = *given;
    if (!opts.policy)
        opts.policy = &insecure_policy;
    return oci_import(f->store, input, &opts, results, n, stats, err);
}

/* Import must fail with a message containing want, and leave the store exactly as it was. */
static void expect_refused(struct fixture *f, const char *input, const struct oci_import_options *opts,
                           const char *want, const char *want2)
{
    struct buffer before = BUFFER_INIT, after = BUFFER_INIT;
    tl_store_snapshot(f->store_dir, &before);
    struct oci_import_result *r = NULL;
    size_t n = 0;
    struct error err;
    error_clear(&err);
    int rc = import(f, input, opts, &r, &n, NULL, &err);
    CHECK_INT(rc, -1);
    if (rc == 0)
        oci_import_results_free(r, n);
    free(r);
    if (!strstr(err.message, want) || (want2 && !strstr(err.message, want2)))
        printf("  message: %s\n  wanted: '%s' and '%s'\n", err.message, want, want2 ? want2 : "");
    CHECK(strstr(err.message, want) != NULL);
    CHECK(!want2 || strstr(err.message, want2) != NULL);
    tl_store_snapshot(f->store_dir, &after);
    CHECK_STR(buffer_cstr(&after), buffer_cstr(&before));
    buffer_free(&before);
    buffer_free(&after);
}

static void test_import_directory(void)
{
    struct fixture f;
    fixture_open(&f);
    struct oci_import_result *r;
    size_t n;
    struct oci_import_stats st;
    struct error err;
    CHECK_INT(import(&f, f.layout, NULL, &r, &n, &st, &err), 0);
    CHECK_INT(n, 1);
    CHECK_STR(r[0].image.reference, "layout:v1"); /* skopeo-style tag-only ref.name, qualified */
    CHECK_STR(r[0].image.manifest_digest, f.manifest);
    CHECK_STR(r[0].image.digest, f.manifest);
    CHECK_STR(r[0].platform, "linux/amd64");
    CHECK_INT(r[0].image.layer_count, 2);
    CHECK_STR(r[0].image.layers[0].digest, f.layers[0].digest);
    CHECK_STR(r[0].image.layers[1].media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
    CHECK_STR(r[0].image.diff_ids[0], f.layers[0].diff_id);
    CHECK_STR(r[0].receipt.method, "insecure");
    CHECK_INT(st.layout.blobs_committed, 4); /* manifest, config, 2 layers */
    CHECK(store_has_blob(f.store, f.layers[1].digest));
    oci_import_results_free(r, n);
    free(r);
    /* the image reads back from the store */
    struct oci_image img;
    CHECK_INT(oci_image_load(f.store, "layout:v1", NULL, &img, &err), 0);
    CHECK(store_has_blob(f.store, img.config.digest));
    CHECK_INT(img.layer_count, 2);
    CHECK_STR(img.manifest_digest, f.manifest);
    CHECK_STR(img.platform.architecture, "amd64");
    oci_image_free(&img);
    CHECK_INT(oci_image_load(f.store, "v1", NULL, &img, &err), -1);
    CHECK(strstr(err.message, "no source 'v1'") != NULL);
    fixture_close(&f);
}

/* go-containerregistry's layout writer (Image Factory's tooling) puts the config media type in
 * each index entry's artifactType: such an entry is an image. An entry whose artifactType names
 * anything else (a Sigstore bundle, an SBOM) is not. */
static void test_artifact_type_entries_are_images(void)
{
    const char *types[] = {"application/vnd.docker.container.image.v1+json", "application/vnd.oci.image.config.v1+json",
                           "application/vnd.dev.sigstore.bundle.v0.3+json"};
    for (int i = 0; i < 3; i++) {
        struct fixture f;
        fixture_open(&f);
        char *entries = xasprintf("{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\","
                                  "\"size\":%zu,\"artifactType\":\"%s\"}",
                                  f.manifest, f.manifest_size, types[i]);
        tl_write_index(f.layout, entries);
        free(entries);
        if (i < 2) {
            struct oci_import_result *r;
            size_t n;
            struct error err;
            CHECK_INT(import(&f, f.layout, NULL, &r, &n, NULL, &err), 0);
            CHECK_INT(n, 1);
            if (n == 1)
                CHECK_STR(r[0].image.manifest_digest, f.manifest);
            oci_import_results_free(r, n);
            free(r);
        } else {
            expect_refused(&f, f.layout, NULL, "names no image", NULL);
        }
        fixture_close(&f);
    }
}

static void test_import_tar_twice_copies_nothing(void)
{
    struct fixture f;
    fixture_open(&f);
    char *tar = xasprintf("%s/img.tar", f.root);
    tl_tar_layout(f.layout, tar, TL_NONE, NULL, 0);
    struct oci_import_result *r;
    size_t n;
    struct oci_import_stats st;
    struct error err;
    CHECK_INT(import(&f, tar, NULL, &r, &n, &st, &err), 0);
    CHECK_STR(r[0].image.manifest_digest, f.manifest);
    CHECK(st.layout.bytes_written > 0);
    CHECK_INT(st.layout.blobs_committed, 4);
    oci_import_results_free(r, n);
    free(r);
    CHECK_INT(import(&f, tar, NULL, &r, &n, &st, &err), 0);
    CHECK_INT(st.layout.bytes_written, 0); /* every blob was already there: hashed, not copied */
    CHECK_INT(st.layout.blobs_written, 0);
    CHECK_INT(st.layout.blobs_committed, 0);
    CHECK_INT(st.layout.blobs_read, 4);
    CHECK_INT(n, 1);
    oci_import_results_free(r, n);
    free(r);
    free(tar);
    fixture_close(&f);
}

static void test_import_compressed_tars(void)
{
    enum tl_compression cs[] = {TL_GZIP, TL_ZSTD};
    for (int i = 0; i < 2; i++) {
        struct fixture f;
        fixture_open(&f);
        char *tar = xasprintf("%s/img.tar.x", f.root);
        tl_tar_layout(f.layout, tar, cs[i], NULL, 0);
        struct oci_import_result *r;
        size_t n;
        struct error err;
        CHECK_INT(import(&f, tar, NULL, &r, &n, NULL, &err), 0);
        CHECK_INT(n, 1);
        if (n)
            CHECK_STR(r[0].image.manifest_digest, f.manifest);
        oci_import_results_free(r, n);
        free(r);
        free(tar);
        fixture_close(&f);
    }
}

/* docker save: <hex>.json config, <id>/layer.tar layers, a symlink for a repeated layer. */
static void test_import_docker_save(void)
{
    struct fixture f;
    fixture_open(&f);
    struct tl_layer plain[2];
    struct tl_entry l1[] = {{"hello", 'f', "world", 0644, 0}};
    tl_make_layer(l1, 1, TL_NONE, &plain[0]);
    tl_make_layer(l1, 1, TL_NONE, &plain[1]);
    char *config = xasprintf("{\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\",\"rootfs\":{\"type\":"
                             "\"layers\",\"diff_ids\":[\"%s\",\"%s\"]}}",
                             plain[0].diff_id, plain[1].diff_id);
    char cfg_hex[65];
    sha256_hex(config, strlen(config), cfg_hex);
    char *manifest = xasprintf("[{\"Config\":\"%s.json\",\"RepoTags\":[\"example.com/app:v2\"],"
                               "\"Layers\":[\"aaa/layer.tar\",\"bbb/layer.tar\"]}]",
                               cfg_hex);
    char *cfg_name = xasprintf("%s.json", cfg_hex);
    struct tl_entry entries[] = {
        {"aaa/layer.tar", 'f', NULL, 0, 0}, /* data filled below */
        {"aaa/json", 'f', "{}", 0, 0},
        {"aaa/VERSION", 'f', "1.0", 0, 0},
        {"bbb/layer.tar", 'l', "../aaa/layer.tar", 0, 0},
        {cfg_name, 'f', config, 0, 0},
        {"repositories", 'f', "{}", 0, 0},
        {"manifest.json", 'f', manifest, 0, 0},
    };
    /* the layer tar holds NULs, so entry 0's bytes come from plain[0].blob */
    struct buffer tar = BUFFER_INIT;
    {
        struct archive *a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        archive_write_open(a, &tar, NULL, tl_write_cb, NULL);
        for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
            struct archive_entry *ae = archive_entry_new();
            archive_entry_set_pathname(ae, entries[i].path);
            const void *data = i == 0 ? (const void *)plain[0].blob.data : entries[i].data;
            size_t len = i == 0 ? plain[0].blob.len : entries[i].type == 'l' ? 0 : strlen(entries[i].data);
            archive_entry_set_filetype(ae, entries[i].type == 'l' ? AE_IFLNK : AE_IFREG);
            if (entries[i].type == 'l')
                archive_entry_set_symlink(ae, entries[i].data);
            archive_entry_set_perm(ae, 0644);
            archive_entry_set_size(ae, (la_int64_t)len);
            archive_write_header(a, ae);
            if (len)
                archive_write_data(a, data, len);
            archive_entry_free(ae);
        }
        archive_write_close(a);
        archive_write_free(a);
    }
    char *path = xasprintf("%s/docker.tar", f.root);
    struct error err;
    CHECK_INT(fs_write_file_atomic(path, tar.data, tar.len, 0644, &err), 0);
    struct oci_import_result *r;
    size_t n;
    CHECK_INT(import(&f, path, NULL, &r, &n, NULL, &err), 0);
    if (n == 1) {
        CHECK_STR(r[0].image.reference, "example.com/app:v2");
        CHECK_STR(r[0].platform, "linux/arm64/v8");
        CHECK_INT(r[0].image.layer_count, 2);
        CHECK_STR(r[0].image.layers[0].digest, plain[0].diff_id); /* uncompressed: digest == diff_id */
        CHECK_STR(r[0].image.layers[1].media_type, "application/vnd.oci.image.layer.v1.tar");
        CHECK_STR(r[0].image.manifest_media_type, "application/vnd.oci.image.manifest.v1+json");
        CHECK(store_has_blob(f.store, r[0].image.manifest_digest)); /* the synthesised manifest is stored */
    }
    CHECK_INT(n, 1);
    oci_import_results_free(r, n);
    free(r);
    /* --tag by the tag part of the RepoTag */
    struct oci_import_options opts = {.tag = "v2"};
    CHECK_INT(import(&f, path, &opts, &r, &n, NULL, &err), 0);
    oci_import_results_free(r, n);
    free(r);
    buffer_free(&tar);
    buffer_free(&plain[0].blob);
    buffer_free(&plain[1].blob);
    free(path);
    free(cfg_name);
    free(config);
    free(manifest);
    fixture_close(&f);
}

/* index.json → image index (amd64, arm64/v8, an attestation manifest) */
static void make_multi_arch(struct fixture *f, char amd[72], char arm[72], bool drop_arm_layers)
{
    char cfg_unknown[72];
    size_t amd_size, arm_size;
    tl_make_image(f->layout, "amd64", f->layers, 2, amd, &amd_size);
    struct tl_layer arm_layers[1];
    struct tl_entry e[] = {{"usr/install/arm64/vmlinuz", 'f', "arm-kernel", 0644, 0}};
    tl_make_layer(e, 1, TL_GZIP, &arm_layers[0]);
    tl_make_image(f->layout, "arm64", arm_layers, 1, arm, &arm_size);
    tl_write_text_blob(f->layout, "{}", cfg_unknown);
    if (drop_arm_layers) {
        char *p = xasprintf("%s/blobs/sha256/%s", f->layout, arm_layers[0].digest + 7);
        unlink(p);
        free(p);
    }
    char *index =
        xasprintf("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":["
                  "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
                  "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
                  "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
                  "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
                  "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
                  "\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"},"
                  "\"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\"}}]}",
                  amd, amd_size, arm, arm_size, amd, amd_size);
    char index_digest[72];
    tl_write_text_blob(f->layout, index, index_digest);
    char *entry = xasprintf("{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"%s\","
                            "\"size\":%zu,\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1.10.3\"}}",
                            index_digest, strlen(index));
    tl_write_index(f->layout, entry);
    free(entry);
    free(index);
    buffer_free(&arm_layers[0].blob);
}

static void test_platform_selection(void)
{
    struct fixture f;
    fixture_open(&f);
    char amd[72], arm[72];
    make_multi_arch(&f, amd, arm, false);
    char *tar = xasprintf("%s/multi.tar", f.root);
    tl_tar_layout(f.layout, tar, TL_NONE, NULL, 0);
    struct oci_platform want;
    struct error err;
    oci_platform_parse("linux/arm64", &want, &err);
    struct oci_import_options opts = {.platforms = &want, .platform_count = 1};
    struct oci_import_result *r;
    size_t n;
    CHECK_INT(import(&f, tar, &opts, &r, &n, NULL, &err), 0);
    CHECK_INT(n, 1);
    if (n == 1) {
        CHECK_STR(r[0].platform, "linux/arm64/v8");
        CHECK_STR(r[0].image.manifest_digest, arm);
        CHECK(strcmp(r[0].image.digest, arm) != 0); /* the index digest is what the tag names */
        CHECK_STR(r[0].image.media_type, "application/vnd.oci.image.index.v1+json");
        CHECK(!store_has_blob(f.store, f.layers[0].digest)); /* amd64 layers were not kept */
    }
    oci_import_results_free(r, n);
    free(r);
    /* no platform: every real platform, attestation manifest skipped */
    CHECK_INT(import(&f, tar, NULL, &r, &n, NULL, &err), 0);
    CHECK_INT(n, 2);
    if (n == 2) {
        CHECK_STR(r[0].platform, "linux/amd64");
        CHECK_STR(r[1].platform, "linux/arm64/v8");
    }
    oci_import_results_free(r, n);
    free(r);
    struct store_source *list;
    CHECK_INT(store_sources_list(f.store, &list, &n, &err), 0);
    CHECK_INT(n, 2);
    store_sources_free(list, n);
    free(tar);
    fixture_close(&f);
}

static void test_platform_missing(void)
{
    struct fixture f;
    fixture_open(&f);
    char amd[72], arm[72];
    make_multi_arch(&f, amd, arm, false);
    struct oci_platform want;
    struct error err;
    oci_platform_parse("linux/s390x", &want, &err);
    struct oci_import_options opts = {.platforms = &want, .platform_count = 1};
    expect_refused(&f, f.layout, &opts, "no manifest for platform linux/s390x", "linux/amd64, linux/arm64/v8");
    /* a single-platform image asked for another platform */
    struct fixture g;
    fixture_open(&g);
    oci_platform_parse("linux/arm64", &want, &err);
    expect_refused(&g, g.layout, &opts, "single-platform image for linux/amd64, not linux/arm64", NULL);
    fixture_close(&g);
    fixture_close(&f);
}

/* skopeo copy without --all keeps the index but only the host's blobs */
static void test_partial_export(void)
{
    struct fixture f;
    fixture_open(&f);
    char amd[72], arm[72];
    make_multi_arch(&f, amd, arm, true);
    struct oci_platform want;
    struct error err;
    oci_platform_parse("linux/arm64", &want, &err);
    struct oci_import_options opts = {.platforms = &want, .platform_count = 1};
    expect_refused(&f, f.layout, &opts, "is missing", "skopeo copy --all");
    oci_platform_parse("linux/amd64", &want, &err);
    struct oci_import_result *r;
    size_t n;
    CHECK_INT(import(&f, f.layout, &opts, &r, &n, NULL, &err), 0);
    oci_import_results_free(r, n);
    free(r);
    fixture_close(&f);
}

static void test_tag_selection(void)
{
    struct fixture f;
    fixture_open(&f);
    struct tl_layer other[1];
    struct tl_entry e[] = {{"v2-file", 'f', "two", 0644, 0}};
    tl_make_layer(e, 1, TL_GZIP, &other[0]);
    char m2[72];
    size_t m2_size;
    tl_make_image(f.layout, "amd64", other, 1, m2, &m2_size);
    char *entries =
        xasprintf("{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
                  "\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}},"
                  "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
                  "\"annotations\":{\"org.opencontainers.image.ref.name\":\"ghcr.io/siderolabs/imager:v2\"}}",
                  f.manifest, f.manifest_size, m2, m2_size);
    tl_write_index(f.layout, entries);
    struct oci_import_options opts = {.tag = "v2", .reference = "mirror.local/imager:v2", .role = "imager"};
    struct oci_import_result *r;
    size_t n;
    struct error err;
    setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
    CHECK_INT(import(&f, f.layout, &opts, &r, &n, NULL, &err), 0);
    unsetenv("SOURCE_DATE_EPOCH");
    CHECK_INT(n, 1);
    if (n)
        CHECK_STR(r[0].image.manifest_digest, m2);
    oci_import_results_free(r, n);
    free(r);
    struct store_source src;
    CHECK_INT(store_source_get(f.store, "mirror.local/imager:v2", "linux/amd64", &src, &err), 1);
    CHECK_STR(src.role, "imager");
    CHECK_INT(src.imported_at, 1700000000);
    CHECK(strstr(src.receipt, "\"method\":\"insecure\"") != NULL);
    store_source_free(&src);
    /* full reference matches the bare tag too, and vice versa */
    struct oci_import_options by_full = {.tag = "registry.example/anything:v1"};
    CHECK_INT(import(&f, f.layout, &by_full, &r, &n, NULL, &err), 0);
    if (n)
        CHECK_STR(r[0].image.manifest_digest, f.manifest);
    oci_import_results_free(r, n);
    free(r);
    struct oci_import_options unknown = {.tag = "v3"};
    expect_refused(&f, f.layout, &unknown, "no image tagged 'v3'", "v1, ghcr.io/siderolabs/imager:v2");
    /* one reference for two images is refused, unless its tag picks one of them */
    struct oci_import_options one_ref = {.reference = "x:y"};
    expect_refused(&f, f.layout, &one_ref, "several images", NULL);
    struct oci_import_options picks = {.reference = "ghcr.io/siderolabs/imager:v1"};
    CHECK_INT(import(&f, f.layout, &picks, &r, &n, NULL, &err), 0);
    CHECK_INT(n, 1);
    if (n) {
        CHECK_STR(r[0].image.manifest_digest, f.manifest);
        CHECK_STR(r[0].image.reference, "ghcr.io/siderolabs/imager:v1");
    }
    oci_import_results_free(r, n);
    free(r);
    free(entries);
    buffer_free(&other[0].blob);
    fixture_close(&f);
}

/* cosign's sha256-<hex>.sig tag and an OCI referrer, as verify sees them through verify_source */
static void test_verify_source(void)
{
    struct fixture f;
    fixture_open(&f);
    char payload[72], empty[72], sig[72], bundle_blob[72], referrer[72];
    char *payload_text = xasprintf("{\"critical\":{\"identity\":{\"docker-reference\":\"x\"},\"image\":{"
                                   "\"docker-manifest-digest\":\"%s\"},\"type\":\"cosign container image "
                                   "signature\"},\"optional\":null}",
                                   f.manifest);
    tl_write_text_blob(f.layout, payload_text, payload);
    tl_write_text_blob(f.layout, "{}", empty);
    char *sig_manifest =
        xasprintf("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{"
                  "\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":\"%s\",\"size\":2},\"layers\":[{"
                  "\"mediaType\":\"application/vnd.dev.cosign.simplesigning.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
                  "\"annotations\":{\"dev.cosignproject.cosign/signature\":\"MEUC\"}}]}",
                  empty, payload, strlen(payload_text));
    tl_write_text_blob(f.layout, sig_manifest, sig);
    tl_write_text_blob(f.layout, "{\"mediaType\":\"application/vnd.dev.sigstore.bundle.v0.3+json\"}", bundle_blob);
    char *ref_manifest =
        xasprintf("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"artifactType\":"
                  "\"application/vnd.dev.sigstore.bundle.v0.3+json\",\"config\":{\"mediaType\":"
                  "\"application/vnd.oci.empty.v1+json\",\"digest\":\"%s\",\"size\":2},\"layers\":[{\"mediaType\":"
                  "\"application/vnd.dev.sigstore.bundle.v0.3+json\",\"digest\":\"%s\",\"size\":61}],\"subject\":{"
                  "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu}}",
                  empty, bundle_blob, f.manifest, f.manifest_size);
    tl_write_text_blob(f.layout, ref_manifest, referrer);
    /* referrer reached through a nested referrers-style index, as in Image Factory's testdata */
    char *ref_index = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
                                "\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                                "\"digest\":\"%s\",\"size\":%zu,\"artifactType\":"
                                "\"application/vnd.dev.sigstore.bundle.v0.3+json\"}]}",
                                referrer, strlen(ref_manifest));
    char ref_index_digest[72];
    tl_write_text_blob(f.layout, ref_index, ref_index_digest);
    char *entries = xasprintf(
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
        "\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}},"
        "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
        "\"annotations\":{\"org.opencontainers.image.ref.name\":\"sha256-%s.sig\"}},"
        "{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"%s\",\"size\":%zu}",
        f.manifest, f.manifest_size, sig, strlen(sig_manifest), f.manifest + 7, ref_index_digest, strlen(ref_index));
    tl_write_index(f.layout, entries);
    char *tar = xasprintf("%s/signed.tar", f.root);
    tl_tar_layout(f.layout, tar, TL_NONE, NULL, 0);

    struct oci_layout *layout;
    struct error err;
    CHECK_INT(oci_layout_open(f.store, tar, NULL, &layout, &err), 0);
    struct verify_source vs;
    oci_layout_verify_source(layout, &vs);
    struct buffer b = BUFFER_INIT;
    char *tag = xasprintf("sha256-%s.sig", f.manifest + 7);
    CHECK_INT(vs.read_tagged_manifest(vs.context, tag, &b, &err), 1);
    CHECK_STR(buffer_cstr(&b), sig_manifest);
    buffer_reset(&b);
    CHECK_INT(vs.read_tagged_manifest(vs.context, "sha256-0000.sig", &b, &err), 0);
    char **digests = NULL;
    CHECK_INT(vs.list_referrers(vs.context, f.manifest, &digests, &err), 1);
    CHECK(digests && digests[0] && !strcmp(digests[0], referrer) && !digests[1]);
    for (size_t i = 0; digests && digests[i]; i++)
        free(digests[i]);
    free(digests);
    CHECK_INT(vs.list_referrers(vs.context, payload, &digests, &err), 0);
    CHECK_INT(vs.read_blob(vs.context, payload, 1 << 20, &b, &err), 1);
    CHECK_STR(buffer_cstr(&b), payload_text);
    buffer_reset(&b);
    CHECK_INT(vs.read_blob(vs.context, payload, 10, &b, &err), -1); /* over max_size */
    CHECK_INT(vs.read_blob(vs.context, "sha256:0000000000000000000000000000000000000000000000000000000000000000", 10,
                           &b, &err),
              0);
    CHECK_INT(vs.read_blob(vs.context, referrer, 1 << 20, &b, &err), 1);
    struct store_source_blob *used;
    size_t used_n;
    oci_layout_take_verified_blobs(layout, &used, &used_n);
    CHECK_INT(used_n, 4); /* .sig manifest, payload, referrer and the referrers index listing it */
    bool saw_sig = false, saw_ref = false, saw_list = false;
    for (size_t i = 0; i < used_n; i++) {
        saw_sig |= !strcmp(used[i].digest, sig) && !strcmp(used[i].tag, tag) && !strcmp(used[i].kind, "signature");
        saw_ref |= !strcmp(used[i].digest, referrer) && !strcmp(used[i].kind, "referrer");
        saw_list |= !strcmp(used[i].digest, ref_index_digest) && !strcmp(used[i].kind, "referrers-index");
        free(used[i].digest);
        free(used[i].media_type);
        free(used[i].kind);
        free(used[i].tag);
    }
    free(used);
    CHECK(saw_sig);
    CHECK(saw_ref);
    CHECK(saw_list);
    oci_layout_close(layout);
    /* default selection imports the image, not the signature or the referrers index */
    struct oci_import_result *r;
    size_t n;
    error_clear(&err);
    CHECK_INT(import(&f, tar, NULL, &r, &n, NULL, &err), 0);
    if (err.message[0])
        printf("  %s\n", err.message);
    CHECK_INT(n, 1);
    if (n)
        CHECK_STR(r[0].image.manifest_digest, f.manifest);
    oci_import_results_free(r, n);
    free(r);
    buffer_free(&b);
    free(tag);
    free(tar);
    free(entries);
    free(ref_index);
    free(ref_manifest);
    free(sig_manifest);
    free(payload_text);
    fixture_close(&f);
}

/* `cosign save` names no tags: kind annotations link the image to its signatures */
static void test_cosign_save_kinds(void)
{
    struct fixture f;
    fixture_open(&f);
    char sig[72], empty[72];
    tl_write_text_blob(f.layout, "{}", empty);
    char *sig_manifest = xasprintf("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                                   "\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":\"%s\","
                                   "\"size\":2},\"layers\":[]}",
                                   empty);
    tl_write_text_blob(f.layout, sig_manifest, sig);
    char *entries =
        xasprintf("{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
                  "\"annotations\":{\"kind\":\"dev.cosignproject.cosign/image\"}},"
                  "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
                  "\"annotations\":{\"kind\":\"dev.cosignproject.cosign/sigs\"}}",
                  f.manifest, f.manifest_size, sig, strlen(sig_manifest));
    tl_write_index(f.layout, entries);
    struct oci_layout *layout;
    struct error err;
    CHECK_INT(oci_layout_open(f.store, f.layout, NULL, &layout, &err), 0);
    struct verify_source vs;
    oci_layout_verify_source(layout, &vs);
    struct buffer b = BUFFER_INIT;
    char *tag = xasprintf("sha256-%s.sig", f.manifest + 7);
    CHECK_INT(vs.read_tagged_manifest(vs.context, tag, &b, &err), 1);
    CHECK_STR(buffer_cstr(&b), sig_manifest);
    free(tag);
    tag = xasprintf("sha256-%s.sig", empty + 7); /* not the image of this layout */
    buffer_reset(&b);
    CHECK_INT(vs.read_tagged_manifest(vs.context, tag, &b, &err), 0);
    oci_layout_close(layout);
    /* untagged image: recorded under its digest */
    struct oci_import_result *r;
    size_t n;
    CHECK_INT(import(&f, f.layout, NULL, &r, &n, NULL, &err), 0);
    CHECK_INT(n, 1);
    char *by_digest = xasprintf("layout@%s", f.manifest);
    if (n)
        CHECK_STR(r[0].image.reference, by_digest);
    free(by_digest);
    oci_import_results_free(r, n);
    free(r);
    buffer_free(&b);
    free(tag);
    free(entries);
    free(sig_manifest);
    fixture_close(&f);
}

/* ---- bad input: each refused, store unchanged ---- */

static char *tar_with_blob_replaced(struct fixture *f, const char *digest, const char *content)
{
    char *p = xasprintf("%s/blobs/sha256/%s", f->layout, digest + 7);
    struct error err;
    fs_write_file_atomic(p, content, strlen(content), 0644, &err);
    free(p);
    char *tar = xasprintf("%s/bad.tar", f->root);
    tl_tar_layout(f->layout, tar, TL_NONE, NULL, 0);
    return tar;
}

static void test_bad_tampered_layer(void)
{
    struct fixture f;
    fixture_open(&f);
    char *tar = tar_with_blob_replaced(&f, f.layers[1].digest, "evil layer bytes");
    expect_refused(&f, tar, NULL, "content hashes to sha256:", f.layers[1].digest + 7);
    expect_refused(&f, f.layout, NULL, "re-export", f.layers[1].digest + 7); /* the directory too */
    free(tar);
    fixture_close(&f);
}

static void test_bad_tampered_manifest(void)
{
    struct fixture f;
    fixture_open(&f);
    char *tar = tar_with_blob_replaced(&f, f.manifest, "{\"schemaVersion\":2}");
    expect_refused(&f, tar, NULL, "content hashes to", f.manifest + 7);
    free(tar);
    fixture_close(&f);
}

static void test_bad_size_mismatch(void)
{
    struct fixture f;
    fixture_open(&f);
    char *entry = xasprintf("{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\","
                            "\"size\":%zu,\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}}",
                            f.manifest, f.manifest_size + 1);
    tl_write_index(f.layout, entry);
    expect_refused(&f, f.layout, NULL, "bytes but index.json says", f.manifest);
    free(entry);
    fixture_close(&f);
}

static void test_bad_truncated_tar(void)
{
    struct fixture f;
    fixture_open(&f);
    char *tar = xasprintf("%s/img.tar", f.root);
    tl_tar_layout(f.layout, tar, TL_NONE, NULL, 0);
    struct stat st;
    stat(tar, &st);
    CHECK_INT(truncate(tar, 1536 + 100), 0); /* inside the first blob's data */
    expect_refused(&f, tar, NULL, "truncated", tar);
    /* compressed and cut short */
    char *tgz = xasprintf("%s/img.tar.gz", f.root);
    tl_tar_layout(f.layout, tgz, TL_GZIP, NULL, 0);
    stat(tgz, &st);
    CHECK_INT(truncate(tgz, st.st_size / 2), 0);
    expect_refused(&f, tgz, NULL, "truncated", NULL);
    free(tgz);
    free(tar);
    fixture_close(&f);
}

static void test_bad_gzip_bomb(void)
{
    struct fixture f;
    fixture_open(&f);
    /* a layout whose one layer is 24 MiB of zeros (uncompressed), the whole tar gzipped: ~1000:1 */
    struct tl_layer big[1];
    struct tl_entry e[] = {{"zeros", 'f', NULL, 0644, 24u << 20}};
    tl_make_layer(e, 1, TL_NONE, &big[0]);
    char *bomb_dir = xasprintf("%s/bomb", f.root);
    char m[72];
    size_t ms;
    tl_make_image(bomb_dir, "amd64", big, 1, m, &ms);
    char *entry = xasprintf("{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\","
                            "\"size\":%zu}",
                            m, ms);
    tl_write_index(bomb_dir, entry);
    char *tgz = xasprintf("%s/bomb.tar.gz", f.root);
    tl_tar_layout(bomb_dir, tgz, TL_GZIP, NULL, 0);
    struct oci_import_options opts = {.limits = {.ratio_floor = 4u << 20}};
    expect_refused(&f, tgz, &opts, "decompression bomb", tgz);
    /* the byte cap */
    struct oci_import_options small = {.limits = {.max_bytes = 1u << 20}};
    expect_refused(&f, bomb_dir, &small, "limit for one import", NULL);
    free(tgz);
    free(entry);
    free(bomb_dir);
    buffer_free(&big[0].blob);
    fixture_close(&f);
}

static void test_bad_tar_entries(void)
{
    struct fixture f;
    fixture_open(&f);
    char *tar = xasprintf("%s/img.tar", f.root);
    struct tl_entry traversal[] = {{"../../etc/evil", 'f', "x", 0, 0}};
    tl_tar_layout(f.layout, tar, TL_NONE, traversal, 1);
    expect_refused(&f, tar, NULL, "path-traversal", "../../etc/evil");
    struct tl_entry absolute[] = {{"/etc/evil", 'f', "x", 0, 0}};
    tl_tar_layout(f.layout, tar, TL_NONE, absolute, 1);
    expect_refused(&f, tar, NULL, "path-traversal", NULL);
    char *link_name = xasprintf("blobs/sha256/%064d", 0);
    struct tl_entry symlink[] = {{link_name, 'l', "/etc/passwd", 0, 0}};
    tl_tar_layout(f.layout, tar, TL_NONE, symlink, 1);
    expect_refused(&f, tar, NULL, "symlink", "not allowed");
    struct tl_entry device[] = {{"dev-null", 'c', NULL, 0, 0}};
    tl_tar_layout(f.layout, tar, TL_NONE, device, 1);
    expect_refused(&f, tar, NULL, "device node", NULL);
    struct tl_entry duplicate[] = {{"index.json", 'f', "{\"schemaVersion\":2,\"manifests\":[]}", 0, 0}};
    tl_tar_layout(f.layout, tar, TL_NONE, duplicate, 1);
    expect_refused(&f, tar, NULL, "'index.json' appears twice", NULL);
    char *dup_blob = xasprintf("blobs/sha256/%s", f.layers[0].digest + 7);
    struct tl_entry duplicate_blob[] = {{dup_blob, 'f', "other", 0, 0}};
    tl_tar_layout(f.layout, tar, TL_NONE, duplicate_blob, 1);
    expect_refused(&f, tar, NULL, "appears twice", f.layers[0].digest + 7);
    struct tl_entry sha512[] = {{"blobs/sha512/abcd", 'f', "x", 0, 0}};
    tl_tar_layout(f.layout, tar, TL_NONE, sha512, 1);
    expect_refused(&f, tar, NULL, "only sha256", NULL);
    /* declared sizes count before a byte is staged: a few KB of tar declaring 2 GiB (sparse), and
     * a blob declaring more than the import may hold */
    char *sparse_blob = xasprintf("blobs/sha256/%064d", 7);
    struct tl_entry sparse[] = {{sparse_blob, 's', "head", 0, (size_t)2 << 30}};
    tl_tar_layout(f.layout, tar, TL_NONE, sparse, 1);
    struct stat st;
    CHECK(stat(tar, &st) == 0 && st.st_size < 64 * 1024);
    expect_refused(&f, tar, NULL, "is a sparse file (2147483648 bytes declared)", sparse_blob);
    struct tl_entry big[] = {{"blobs/sha256/0000", 'f', "0123456789", 0, 0}};
    tl_tar_layout(f.layout, tar, TL_NONE, big, 1);
    struct oci_import_options tiny = {.limits = {.max_bytes = 5}};
    expect_refused(&f, tar, &tiny, "declares", "refused before reading it");
    free(sparse_blob);
    free(dup_blob);
    free(link_name);
    free(tar);
    fixture_close(&f);
}

static void test_bad_documents(void)
{
    struct fixture f;
    fixture_open(&f);
    struct error err;
    char *index = xasprintf("%s/index.json", f.layout);
    fs_write_file_atomic(index, "{\"schemaVersion\":2,\n \"manifests\":[}", 35, 0644, &err);
    expect_refused(&f, f.layout, NULL, "index.json in", ":2:");
    /* unknown layer media type */
    char config[72], manifest[72];
    tl_write_text_blob(f.layout, "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"diff_ids\":[]}}", config);
    char *m = xasprintf("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                        "\"digest\":\"%s\",\"size\":62},\"layers\":[{\"mediaType\":"
                        "\"application/vnd.example.layer.v1.tar+lz4\",\"digest\":\"%s\",\"size\":%zu}]}",
                        config, f.layers[0].digest, f.layers[0].blob.len);
    tl_write_text_blob(f.layout, m, manifest);
    char *entry = xasprintf("{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\","
                            "\"size\":%zu}",
                            manifest, strlen(m));
    tl_write_index(f.layout, entry);
    expect_refused(&f, f.layout, NULL, "unknown media type 'application/vnd.example.layer.v1.tar+lz4'", manifest);
    /* unknown media type in index.json itself */
    free(entry);
    entry = xasprintf("{\"mediaType\":\"application/vnd.example.thing\",\"digest\":\"%s\",\"size\":%zu}", manifest,
                      strlen(m));
    tl_write_index(f.layout, entry);
    expect_refused(&f, f.layout, NULL, "unknown media type 'application/vnd.example.thing'", NULL);
    /* config disagrees with the manifest's layer count */
    char m2d[72];
    char *m2 = xasprintf("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                         "\"digest\":\"%s\",\"size\":62},\"layers\":[{\"mediaType\":"
                         "\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\",\"size\":%zu}]}",
                         config, f.layers[0].digest, f.layers[0].blob.len);
    tl_write_text_blob(f.layout, m2, m2d);
    free(entry);
    entry = xasprintf("{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu}",
                      m2d, strlen(m2));
    tl_write_index(f.layout, entry);
    expect_refused(&f, f.layout, NULL, "1 layers but its config", config);
    /* missing oci-layout */
    char *ol = xasprintf("%s/oci-layout", f.layout);
    unlink(ol);
    expect_refused(&f, f.layout, NULL, "no oci-layout", NULL);
    /* neither layout nor docker save */
    char *junk = xasprintf("%s/junk.tar", f.root);
    struct tl_entry j[] = {{"README", 'f', "hi", 0, 0}};
    struct buffer jt = BUFFER_INIT;
    tl_tar(j, 1, &jt);
    fs_write_file_atomic(junk, jt.data, jt.len, 0644, &err);
    expect_refused(&f, junk, NULL, "neither an OCI image layout", NULL);
    fs_write_file_atomic(junk, "plain text, not a tar at all", 28, 0644, &err);
    expect_refused(&f, junk, NULL, "expected an OCI layout as a tar", NULL);
    expect_refused(&f, "/nonexistent/img.tar", NULL, "/nonexistent/img.tar", NULL);
    buffer_free(&jt);
    free(junk);
    free(ol);
    free(m2);
    free(entry);
    free(m);
    free(index);
    fixture_close(&f);
}

/* A policy that trusts a key: an unsigned image is refused, whether or not verify is linked. */
static void test_unsigned_refused_by_key_policy(void)
{
    struct fixture f;
    fixture_open(&f);
    char *key = xasprintf("%s/cosign.pub", f.root);
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    FILE *fp = fopen(key, "w");
    CHECK(pkey && fp && PEM_write_PUBKEY(fp, pkey) == 1);
    if (fp)
        fclose(fp);
    EVP_PKEY_free(pkey);
    char *keys[] = {key};
    struct verify_policy policy = {.name = "key-only", .public_keys = keys, .public_key_count = 1};
    struct oci_import_options opts = {.policy = &policy};
    expect_refused(&f, f.layout, &opts, f.manifest, "no signature found");
    free(key);
    fixture_close(&f);
}

static void test_normalize_paths(void)
{
    char *p;
    CHECK_INT(oci_layout_normalize_path("./a//b/./c/", &p), 0);
    CHECK_STR(p, "a/b/c");
    free(p);
    CHECK_INT(oci_layout_normalize_path("./", &p), 0);
    CHECK_STR(p, ".");
    free(p);
    CHECK_INT(oci_layout_normalize_path("a/../b", &p), -1);
    CHECK_INT(oci_layout_normalize_path("/etc", &p), -1);
    CHECK_INT(oci_layout_normalize_path("..", &p), -1);
    CHECK_INT(oci_layout_normalize_path("a/..b", &p), 0); /* a name, not a parent */
    free(p);
    CHECK_INT(oci_layout_resolve_link("usr/bin/sh", "busybox", &p), 0);
    CHECK_STR(p, "usr/bin/busybox");
    free(p);
    CHECK_INT(oci_layout_resolve_link("usr/bin/sh", "../../lib/x", &p), 0);
    CHECK_STR(p, "lib/x");
    free(p);
    CHECK_INT(oci_layout_resolve_link("usr/bin/sh", "../../../etc/passwd", &p), -1);
    CHECK_INT(oci_layout_resolve_link("lib", "/usr/lib", &p), 0);
    CHECK_STR(p, "usr/lib");
    free(p);
    CHECK_INT(oci_layout_resolve_link("a", "/../../etc", &p), -1);
}

int main(void)
{
    RUN(test_import_directory);
    RUN(test_artifact_type_entries_are_images);
    RUN(test_import_tar_twice_copies_nothing);
    RUN(test_import_compressed_tars);
    RUN(test_import_docker_save);
    RUN(test_platform_selection);
    RUN(test_platform_missing);
    RUN(test_partial_export);
    RUN(test_tag_selection);
    RUN(test_verify_source);
    RUN(test_cosign_save_kinds);
    RUN(test_bad_tampered_layer);
    RUN(test_bad_tampered_manifest);
    RUN(test_bad_size_mismatch);
    RUN(test_bad_truncated_tar);
    RUN(test_bad_gzip_bomb);
    RUN(test_bad_tar_entries);
    RUN(test_bad_documents);
    RUN(test_unsigned_refused_by_key_policy);
    RUN(test_normalize_paths);
    return TEST_MAIN_END();
}
