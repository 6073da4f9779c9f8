/* Installer images: the artifacts layer, config, manifest and index bytes, determinism, and a
 * factory build on the fixtures whose registry image verifies with the bundle key through the
 * project's own cosign verifier. Needs build/fixtures (make check makes them first). */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airfactory/bundle.h"
#include "airfactory/bundle_key.h"
#include "format/compress.h"
#include "airfactory/factory.h"
#include "factory_test_util.h"
#include "core/fs.h"
#include "imager/installer.h"
#include "core/json.h"
#include "core/memory.h"
#include "airfactory/verify.h"
#include "test.h"

static char *fixtures;
static char scratch_dir[] = "/tmp/airfactory-installer-XXXXXX";
static struct verify_policy policy;
static char *key_path, *store_path; /* signing key and store of build() */

static char *scratch(const char *name)
{
    return path_join(scratch_dir, name);
}

static void write_text(const char *path, const char *text)
{
    struct error err = {0};
    CHECK_INT(fs_write_file_atomic(path, text, strlen(text), 0644, &err), 0);
}

/* ---------------------------------------------------------------- layer bytes */

static void layer_is_sorted_deterministic_tar_gzip(void)
{
    char *a = scratch("a.bin"), *b = scratch("b.bin"), *out1 = scratch("layer1.tar.gz"), *out2 = scratch("layer2.tar.gz");
    write_text(a, "vmlinuz.efi bytes");
    write_text(b, "systemd-boot bytes, a bit longer than the other");
    /* given out of order: the layer must list them sorted */
    struct installer_file files[] = {
        {"usr/install/amd64/vmlinuz.efi", a, 0},
        {"usr/install/amd64/systemd-boot.efi", b, 0},
    };
    struct error err = {0};
    char diff1[OCI_DIGEST_SIZE], dig1[OCI_DIGEST_SIZE], diff2[OCI_DIGEST_SIZE], dig2[OCI_DIGEST_SIZE];
    uint64_t size1 = 0, size2 = 0;
    CHECK_INT(installer_layer_write(files, 2, 1735689600, out1, diff1, dig1, &size1, &err), 0);
    struct installer_file reversed[] = {files[1], files[0]};
    CHECK_INT(installer_layer_write(reversed, 2, 1735689600, out2, diff2, dig2, &size2, &err), 0);
    CHECK_STR(dig1, dig2);
    CHECK_STR(diff1, diff2);
    CHECK_INT(size1, size2);
    /* digest is the file's sha256 */
    char hex[65];
    CHECK_INT(sha256_file_hex(out1, hex, NULL, &err), 0);
    CHECK_STR(dig1 + 7, hex);
    /* gzip header: magic, deflate, no mtime */
    struct buffer gz = BUFFER_INIT;
    CHECK_INT(fs_read_file(out1, 1 << 20, &gz, &err), 0);
    const unsigned char *g = (const unsigned char *)gz.data;
    CHECK(gz.len > 10 && g[0] == 0x1f && g[1] == 0x8b && g[2] == 8);
    CHECK(g[4] == 0 && g[5] == 0 && g[6] == 0 && g[7] == 0);
    /* diff_id is the sha256 of the decompressed tar */
    struct archive *ar = archive_read_new();
    archive_read_support_filter_gzip(ar);
    archive_read_support_format_raw(ar);
    CHECK_INT(archive_read_open_memory(ar, gz.data, gz.len), ARCHIVE_OK);
    struct archive_entry *e;
    CHECK_INT(archive_read_next_header(ar, &e), ARCHIVE_OK);
    struct buffer tar = BUFFER_INIT;
    char buf[4096];
    la_ssize_t n;
    while ((n = archive_read_data(ar, buf, sizeof buf)) > 0)
        buffer_append(&tar, buf, (size_t)n);
    archive_read_free(ar);
    sha256_hex(tar.data, tar.len, hex);
    CHECK_STR(diff1 + 7, hex);
    CHECK_INT(tar.len % 512, 0);
    /* entries: sorted, regular files only, 0644, root, mtime = epoch */
    ar = archive_read_new();
    archive_read_support_format_tar(ar);
    CHECK_INT(archive_read_open_memory(ar, tar.data, tar.len), ARCHIVE_OK);
    const char *want[] = {"usr/install/amd64/systemd-boot.efi", "usr/install/amd64/vmlinuz.efi"};
    int count = 0;
    while (archive_read_next_header(ar, &e) == ARCHIVE_OK) {
        if (count < 2)
            CHECK_STR(archive_entry_pathname(e), want[count]);
        CHECK_INT(archive_entry_filetype(e), AE_IFREG);
        CHECK_INT(archive_entry_perm(e), 0644);
        CHECK_INT(archive_entry_uid(e), 0);
        CHECK_INT(archive_entry_gid(e), 0);
        CHECK_INT(archive_entry_mtime(e), 1735689600);
        count++;
    }
    CHECK_INT(count, 2);
    archive_read_free(ar);
    /* the first header's checksum field, as tar computes it */
    const unsigned char *h = (const unsigned char *)tar.data;
    CHECK(memcmp(h + 257,
                 "ustar\0"
                 "00",
                 8) == 0);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += (i >= 148 && i < 156) ? ' ' : h[i];
    CHECK_INT(strtoul((const char *)h + 148, NULL, 8), sum);
    /* another mtime: another layer */
    char diff3[OCI_DIGEST_SIZE], dig3[OCI_DIGEST_SIZE];
    CHECK_INT(installer_layer_write(files, 2, 1, out2, diff3, dig3, NULL, &err), 0);
    CHECK(strcmp(diff3, diff1) != 0);
    /* a path given twice is refused */
    struct installer_file twice[] = {files[0], files[0]};
    CHECK_INT(installer_layer_write(twice, 2, 1, out2, diff3, dig3, NULL, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    buffer_free(&gz);
    buffer_free(&tar);
    free(a);
    free(b);
    free(out1);
    free(out2);
}

/* installer_layer_write_modes (container images, tools/oci_image.c): each entry keeps its mode,
 * whatever the order the files come in */
static void layer_modes_follow_their_files(void)
{
    char *a = scratch("prog"), *b = scratch("passwd"), *out = scratch("modes.tar.gz");
    write_text(a, "\177ELF program");
    write_text(b, "airfactory:x:65532:65532::/nonexistent:/nonexistent\n");
    struct installer_file files[] = {{"usr/bin/prog", a, 0}, {"etc/passwd", b, 0}};
    const unsigned modes[] = {0755, 0644};
    struct error err = {0};
    char diff[OCI_DIGEST_SIZE], dig[OCI_DIGEST_SIZE];
    CHECK_INT(installer_layer_write_modes(files, modes, 2, 1735689600, out, diff, dig, NULL, &err), 0);
    struct archive *ar = archive_read_new();
    archive_read_support_filter_gzip(ar);
    archive_read_support_format_tar(ar);
    CHECK_INT(archive_read_open_filename(ar, out, 10240), ARCHIVE_OK);
    struct archive_entry *e;
    int count = 0;
    while (archive_read_next_header(ar, &e) == ARCHIVE_OK) {
        /* sorted: etc/passwd first */
        CHECK_STR(archive_entry_pathname(e), count == 0 ? "etc/passwd" : "usr/bin/prog");
        CHECK_INT(archive_entry_perm(e), count == 0 ? 0644 : 0755);
        count++;
    }
    CHECK_INT(count, 2);
    archive_read_free(ar);
    free(a);
    free(b);
    free(out);
}

/* ---------------------------------------------------------------- documents */

static void config_extends_the_base_config(void)
{
    /* the fixture installer v1.9.5 config: two layers, of which Talos keeps the first */
    const char *base =
        "{\"architecture\":\"amd64\",\"config\":{\"Entrypoint\":[\"/bin/installer\"],\"Env\":[\"PATH=/usr/bin\","
        "\"VERSION=v1.9.5\"],\"Labels\":{\"alpha.talos.dev/version\":\"v1.9.5\"}},\"created\":\"2025-01-01T00:00:00Z\","
        "\"history\":[{\"created\":\"2025-01-01T00:00:00Z\",\"created_by\":\"one\"},{\"created\":\"2025-01-01T00:00:00Z\","
        "\"created_by\":\"meta\",\"empty_layer\":true},{\"created\":\"2025-01-01T00:00:00Z\",\"created_by\":\"two\"}],"
        "\"os\":\"linux\",\"rootfs\":{\"diff_ids\":[\"sha256:1111111111111111111111111111111111111111111111111111111111111111\","
        "\"sha256:2222222222222222222222222222222222222222222222222222222222222222\"],\"type\":\"layers\"}}";
    struct buffer out = BUFFER_INIT;
    struct error err = {0};
    CHECK_INT(installer_config_build(base, strlen(base), "amd64", 1,
                                     "sha256:3333333333333333333333333333333333333333333333333333333333333333", NULL,
                                     1735689600, &out, &err),
              0);
    CHECK_STR(buffer_cstr(&out),
              "{\"architecture\":\"amd64\",\"created\":\"2025-01-01T00:00:00Z\",\"history\":[{\"created\":"
              "\"2025-01-01T00:00:00Z\",\"created_by\":\"one\"},{\"created\":\"2025-01-01T00:00:00Z\",\"created_by\":"
              "\"airfactory: usr/install/amd64 (installer artifacts)\"}],\"os\":\"linux\",\"rootfs\":{\"type\":"
              "\"layers\",\"diff_ids\":[\"sha256:1111111111111111111111111111111111111111111111111111111111111111\","
              "\"sha256:3333333333333333333333333333333333333333333333333333333333333333\"]},\"config\":{"
              "\"Entrypoint\":[\"/bin/installer\"],\"Env\":[\"PATH=/usr/bin\",\"VERSION=v1.9.5\"],\"Labels\":{"
              "\"alpha.talos.dev/version\":\"v1.9.5\"}}}");
    /* it parses as an OCI config with matching diff_ids */
    struct oci_config c = {0};
    CHECK_INT(oci_config_parse(out.data, out.len, "built", &c, &err), 0);
    CHECK_INT(c.diff_id_count, 2);
    CHECK_STR(c.platform.architecture, "amd64");
    oci_config_free(&c);
    buffer_reset(&out);
    /* a base with a variant, an empty-layer entry, non-ASCII and a non-string runtime, and an overlay
     * layer: the bytes airfactory wrote before the config writer moved to oci_config_writer */
    const char *base2 =
        "{\"architecture\":\"arm64\",\"variant\":\"v8\",\"created\":\"2025-01-01T00:00:00Z\",\"history\":[{\"created\":"
        "\"2025-01-01T00:00:00Z\",\"created_by\":\"one <&>\",\"comment\":\"\\u00e9\\u2028\"},{\"created_by\":\"meta\","
        "\"empty_layer\":true},{\"created_by\":\"two\"}],\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":["
        "\"sha256:1111111111111111111111111111111111111111111111111111111111111111\","
        "\"sha256:2222222222222222222222222222222222222222222222222222222222222222\"]},\"config\":{\"Env\":[\"A=<b>\"],"
        "\"StopSignal\":1.50e3,\"X\":null,\"Y\":[true,false]}}";
    CHECK_INT(installer_config_build(base2, strlen(base2), "arm64", 2,
                                     "sha256:3333333333333333333333333333333333333333333333333333333333333333",
                                     "sha256:4444444444444444444444444444444444444444444444444444444444444444",
                                     1735689600, &out, &err),
              0);
    CHECK_STR(buffer_cstr(&out),
              "{\"architecture\":\"arm64\",\"created\":\"2025-01-01T00:00:00Z\",\"history\":[{\"created\":\"2025-01"
              "-01T00:00:00Z\",\"created_by\":\"one <&>\",\"comment\":\"é\\u2028\"},{\"created_by\":\"meta\",\"empt"
              "y_layer\":true},{\"created_by\":\"two\"},{\"created\":\"2025-01-01T00:00:00Z\",\"created_by\":\"airf"
              "actory: usr/install/arm64 (installer artifacts)\"},{\"created\":\"2025-01-01T00:00:00Z\",\"created_b"
              "y\":\"airfactory: /overlay (overlay artifacts, installer, extra-options)\"}],\"os\":\"linux\",\"root"
              "fs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:111111111111111111111111111111111111111111111111111"
              "1111111111111\",\"sha256:2222222222222222222222222222222222222222222222222222222222222222\",\"sha256"
              ":3333333333333333333333333333333333333333333333333333333333333333\",\"sha256:44444444444444444444444"
              "44444444444444444444444444444444444444444\"]},\"config\":{\"Env\":[\"A=<b>\"],\"StopSignal\":1.50e3,"
              "\"X\":null,\"Y\":[true,false]},\"variant\":\"v8\"}");
    buffer_reset(&out);
    /* a base with fewer layers than asked is an input error */
    CHECK_INT(installer_config_build(base, strlen(base), "amd64", 3, "sha256:33", NULL, 0, &out, &err), -1);
    CHECK_INT(installer_config_build("[]", 2, "amd64", 0, "sha256:33", NULL, 0, &out, &err), -1);
    buffer_free(&out);
}

static void manifest_and_index_bytes(void)
{
    struct installer_layer layers[] = {
        {OCI_MEDIA_TYPE_LAYER_GZIP, "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 10},
        {OCI_MEDIA_TYPE_LAYER_GZIP, "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", 20},
    };
    struct buffer out = BUFFER_INIT;
    installer_manifest_build("sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc", 5, layers, 2,
                             &out);
    CHECK_STR(buffer_cstr(&out),
              "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{"
              "\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"size\":5,\"digest\":\"sha256:"
              "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\"},\"layers\":[{\"mediaType\":"
              "\"application/vnd.oci.image.layer.v1.tar+gzip\",\"size\":10,\"digest\":\"sha256:"
              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"},{\"mediaType\":"
              "\"application/vnd.oci.image.layer.v1.tar+gzip\",\"size\":20,\"digest\":\"sha256:"
              "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}]}");
    struct oci_manifest m = {0};
    struct error err = {0};
    CHECK_INT(oci_manifest_parse(out.data, out.len, OCI_MEDIA_TYPE_MANIFEST, "built", &m, &err), 0);
    CHECK_INT(m.layer_count, 2);
    oci_manifest_free(&m);
    buffer_reset(&out);
    /* arm64 given first: the index lists amd64 first */
    struct installer_image images[2] = {0};
    snprintf(images[0].arch, sizeof images[0].arch, "arm64");
    snprintf(images[0].manifest_digest, OCI_DIGEST_SIZE, "sha256:%064d", 2);
    images[0].manifest_size = 300;
    snprintf(images[1].arch, sizeof images[1].arch, "amd64");
    snprintf(images[1].manifest_digest, OCI_DIGEST_SIZE, "sha256:%064d", 1);
    images[1].manifest_size = 200;
    installer_index_build(images, 2, &out);
    CHECK_STR(buffer_cstr(&out),
              "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{"
              "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"size\":200,\"digest\":\"sha256:"
              "0000000000000000000000000000000000000000000000000000000000000001\",\"platform\":{\"architecture\":"
              "\"amd64\",\"os\":\"linux\"}},{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"size\":"
              "300,\"digest\":\"sha256:0000000000000000000000000000000000000000000000000000000000000002\","
              "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}}]}");
    buffer_reset(&out);
    installer_signature_payload("installer/abc", "sha256:0011", &out);
    CHECK_STR(buffer_cstr(&out), "{\"critical\":{\"identity\":{\"docker-reference\":\"installer/abc\"},\"image\":{"
                                 "\"docker-manifest-digest\":\"sha256:0011\"},\"type\":\"cosign container image "
                                 "signature\"},\"optional\":null}");
    buffer_free(&out);
    char repo[128];
    installer_repository_name("", false, "id", repo, sizeof repo);
    CHECK_STR(repo, "installer/id");
    installer_repository_name("aws", true, "id", repo, sizeof repo);
    CHECK_STR(repo, "aws-installer-secureboot/id");
    installer_repository_name("metal", false, "id", repo, sizeof repo);
    CHECK_STR(repo, "metal-installer/id");
}

/* ---------------------------------------------------------------- factory build */

/* verify_source over a bundle repository */
struct bundle_source_ctx {
    struct bundle *bundle;
    const char *repository;
};

static int read_digest(struct bundle *b, const char *digest, size_t max, struct buffer *out, struct error *err)
{
    struct bundle_blob info;
    int fd = bundle_open_blob(b, digest, &info, err);
    if (fd < 0)
        return err->code == ERROR_INPUT ? 0 : -1;
    if (info.size > max) {
        close(fd);
        return error_set(err, ERROR_INPUT, "%s too large", digest);
    }
    buffer_reserve(out, info.size);
    int rc = fs_read_all(fd, out->data + out->len, info.size, digest, err);
    close(fd);
    if (rc != 0)
        return -1;
    out->len += info.size;
    return 1;
}

static int src_tagged(void *context, const char *tag, struct buffer *out, struct error *err)
{
    struct bundle_source_ctx *c = context;
    char digest[BUNDLE_DIGEST_SIZE];
    int rc = bundle_find_image(c->bundle, c->repository, tag, digest, err);
    if (rc != 1)
        return rc;
    return read_digest(c->bundle, digest, 4u << 20, out, err);
}

static int src_referrers(void *context, const char *subject, char ***digests, struct error *err)
{
    (void)context;
    (void)subject;
    (void)err;
    *digests = NULL;
    return 0;
}

static int src_blob(void *context, const char *digest, size_t max, struct buffer *out, struct error *err)
{
    struct bundle_source_ctx *c = context;
    return read_digest(c->bundle, digest, max, out, err);
}

static int build(const char *version, const struct test_asset *wanted, size_t asset_count, const char *output,
                 struct factory_stats *stats, struct error *err)
{
    const char *text = "customization:\n  extraKernelArgs: [console=ttyS0, talos.dashboard.disabled=1]\n";
    struct schematic *s = NULL;
    if (schematic_parse(text, strlen(text), "test", &s, err) != 0)
        return -1;
    struct ft_typed typed;
    if (ft_typed_init(&typed, s, wanted, asset_count, err) != 0) {
        ft_typed_free(&typed);
        schematic_free(s);
        return -1;
    }
    bool old = strcmp(version, "v1.9.5") == 0;
    char *imager_name = xasprintf("imager-%s.oci.tar", version);
    char *base_name = xasprintf("%s-%s.oci.tar", old ? "installer" : "installer-base", version);
    char *imager_ref = xasprintf("ghcr.io/siderolabs/imager:%s", version);
    char *base_ref = xasprintf("ghcr.io/siderolabs/%s:%s", old ? "installer" : "installer-base", version);
    char *paths[] = {path_join(fixtures, imager_name), path_join(fixtures, base_name)};
    struct factory_source sources[] = {
        {paths[0], SOURCE_ROLE_IMAGER, imager_ref, NULL, &policy, NULL, 0},
        {paths[1], old ? SOURCE_ROLE_INSTALLER : SOURCE_ROLE_INSTALLER_BASE, base_ref, NULL, &policy, NULL, 0},
    };
    struct factory_schematic schematics[] = {{"test", s, typed.id, buffer_cstr(&typed.yaml), false}};
    char *key = xstrdup(key_path);
    char *store = xstrdup(store_path);
    struct factory_request r = {
        .sources = sources,
        .source_count = 2,
        .schematics = schematics,
        .schematic_count = 1,
        .assets = typed.assets,
        .asset_count = asset_count,
        .output = output,
        .signing_key = key,
        .store = store,
        .jobs = 2,
    };
    int rc = factory_build(&r, stats, err);
    free(paths[0]);
    free(paths[1]);
    free(imager_name);
    free(base_name);
    free(imager_ref);
    free(base_ref);
    free(key);
    free(store);
    schematic_free(s);
    ft_typed_free(&typed);
    return rc;
}

static const char *schematic_id_of_test(void)
{
    static char id[65];
    const char *text = "customization:\n  extraKernelArgs: [console=ttyS0, talos.dashboard.disabled=1]\n";
    struct schematic *s = NULL;
    struct error err = {0};
    if (schematic_parse(text, strlen(text), "t", &s, &err) == 0)
        schematic_id(s, id, &err);
    schematic_free(s);
    return id;
}

/* The arch's manifest in an index, and that manifest's layers. */
static void check_image(struct bundle *b, const char *index_digest, const char *arch, const char *want_file)
{
    struct error err = {0};
    struct buffer doc = BUFFER_INIT;
    CHECK_INT(read_digest(b, index_digest, 1 << 20, &doc, &err), 1);
    struct oci_index index = {0};
    CHECK_INT(oci_index_parse(doc.data, doc.len, OCI_MEDIA_TYPE_INDEX, "index", &index, &err), 0);
    const char *manifest_digest = NULL;
    for (size_t i = 0; i < index.count; i++)
        if (strcmp(index.manifests[i].platform.architecture, arch) == 0)
            manifest_digest = index.manifests[i].digest;
    CHECK(manifest_digest != NULL);
    if (manifest_digest) {
        buffer_reset(&doc);
        CHECK_INT(read_digest(b, manifest_digest, 1 << 20, &doc, &err), 1);
        struct oci_manifest m = {0};
        CHECK_INT(oci_manifest_parse(doc.data, doc.len, OCI_MEDIA_TYPE_MANIFEST, "manifest", &m, &err), 0);
        /* base (one layer kept) + artifacts */
        CHECK_INT(m.layer_count, 2);
        if (m.layer_count == 2) {
            /* the artifacts layer holds the expected file */
            struct bundle_blob info;
            int fd = bundle_open_blob(b, m.layers[1].digest, &info, &err);
            CHECK(fd >= 0);
            if (fd >= 0) {
                struct archive *ar = archive_read_new();
                archive_read_support_filter_gzip(ar);
                archive_read_support_format_tar(ar);
                CHECK_INT(archive_read_open_fd(ar, fd, 65536), ARCHIVE_OK);
                struct archive_entry *e;
                bool found = false;
                while (archive_read_next_header(ar, &e) == ARCHIVE_OK)
                    found = found || strcmp(archive_entry_pathname(e), want_file) == 0;
                CHECK(found);
                archive_read_free(ar);
                close(fd);
            }
        }
        oci_manifest_free(&m);
    }
    oci_index_free(&index);
    buffer_free(&doc);
}

static void factory_builds_signed_multi_arch_installer(void)
{
    struct test_asset assets[] = {
        {0, "v1.11.3", "arm64", "installer-arm64.tar"},
        {0, "v1.11.3", "amd64", "installer-amd64.tar"},
    };
    char *out = scratch("bundle");
    struct error err = {0};
    struct factory_stats stats = {0};
    int rc = build("v1.11.3", assets, 2, out, &stats, &err);
    if (rc != 0)
        printf("  error: %s\n", err.message);
    CHECK_INT(rc, 0);
    CHECK_INT(stats.assets_built, 2);
    char *pub = scratch("bundle.pub");
    struct bundle *b = NULL;
    const char *id = schematic_id_of_test();
    char repository[128];
    installer_repository_name("", false, id, repository, sizeof repository);
    char index1[BUNDLE_DIGEST_SIZE] = "", tar1[BUNDLE_DIGEST_SIZE] = "";
    CHECK_INT(bundle_open(out, pub, &b, &err), 0);
    if (b) {
        CHECK_INT(bundle_find_image(b, repository, "v1.11.3", index1, &err), 1);
        check_image(b, index1, "amd64", "usr/install/amd64/vmlinuz.efi");
        check_image(b, index1, "arm64", "usr/install/arm64/systemd-boot.efi");
        struct bundle_asset a = {0};
        CHECK_INT(bundle_find_asset(b, id, "v1.11.3", "installer-amd64.tar", &a, &err), 1);
        if (a.digest)
            snprintf(tar1, sizeof tar1, "%s", a.digest);
        CHECK_STR(a.media_type, "application/x-tar");
        bundle_asset_clear(&a);
        /* the signature verifies with the bundle key through the project's cosign verifier */
        struct bundle_source_ctx ctx = {b, repository};
        struct verify_source source = {&ctx, src_tagged, src_referrers, src_blob};
        char *pubkey = xstrdup(pub);
        struct verify_policy p = {.name = "bundle", .public_keys = &pubkey, .public_key_count = 1};
        struct verify_receipt receipt = {0};
        rc = verify_image(&p, &source, index1, &receipt, &err);
        if (rc != 0)
            printf("  verify: %s\n", err.message);
        CHECK_INT(rc, 0);
        CHECK_STR(receipt.method, "cosign-key");
        /* ... and not with another key */
        char *wrong = xstrdup("tests/keys/wrong.pub");
        struct verify_policy q = {.name = "wrong", .public_keys = &wrong, .public_key_count = 1};
        CHECK_INT(verify_image(&q, &source, index1, &receipt, &err), -1);
        free(wrong);
        free(pubkey);
        bundle_close(b);
    }
    /* a rebuild reuses both archives and recovers identical registry images from them */
    memset(&stats, 0, sizeof stats);
    rc = build("v1.11.3", assets, 2, out, &stats, &err);
    if (rc != 0)
        printf("  error: %s\n", err.message);
    CHECK_INT(rc, 0);
    CHECK_INT(stats.assets_reused, 2);
    CHECK_INT(bundle_open(out, pub, &b, &err), 0);
    if (b) {
        char index2[BUNDLE_DIGEST_SIZE] = "";
        CHECK_INT(bundle_find_image(b, repository, "v1.11.3", index2, &err), 1);
        CHECK_STR(index2, index1);
        check_image(b, index2, "amd64", "usr/install/amd64/vmlinuz.efi");
        bundle_close(b);
    }
    /* a fresh build into another bundle (no reuse): the same bytes */
    char *out2 = scratch("bundle-fresh");
    memset(&stats, 0, sizeof stats);
    CHECK_INT(build("v1.11.3", assets, 2, out2, &stats, &err), 0);
    CHECK_INT(stats.assets_built, 2);
    CHECK_INT(bundle_open(out2, pub, &b, &err), 0);
    if (b) {
        char index3[BUNDLE_DIGEST_SIZE] = "";
        CHECK_INT(bundle_find_image(b, repository, "v1.11.3", index3, &err), 1);
        CHECK_STR(index3, index1);
        struct bundle_asset a = {0};
        CHECK_INT(bundle_find_asset(b, id, "v1.11.3", "installer-amd64.tar", &a, &err), 1);
        CHECK_STR(a.digest, tar1);
        bundle_asset_clear(&a);
        bundle_close(b);
    }
    free(out2);
    free(pub);
    free(out);
}

static void factory_builds_pre_1_10_installer_from_installer_image(void)
{
    struct test_asset assets[] = {{0, "v1.9.5", "amd64", "installer-amd64.tar"}};
    char *out = scratch("bundle-195");
    struct error err = {0};
    int rc = build("v1.9.5", assets, 1, out, NULL, &err);
    if (rc != 0)
        printf("  error: %s\n", err.message);
    CHECK_INT(rc, 0);
    char *pub = scratch("bundle.pub");
    struct bundle *b = NULL;
    CHECK_INT(bundle_open(out, pub, &b, &err), 0);
    if (b) {
        char repository[128], index[BUNDLE_DIGEST_SIZE] = "";
        installer_repository_name("", false, schematic_id_of_test(), repository, sizeof repository);
        CHECK_INT(bundle_find_image(b, repository, "v1.9.5", index, &err), 1);
        check_image(b, index, "amd64", "usr/install/amd64/initramfs.xz");
        bundle_close(b);
    }
    free(pub);
    free(out);
}

static void missing_installer_base_is_a_clear_error(void)
{
    /* v1.11.3 build, but asking for the secureboot installer: refused with a reason */
    struct test_asset assets[] = {{0, "v1.11.3", "amd64", "installer-amd64-secureboot.tar"}};
    char *out = scratch("bundle-sb");
    struct error err = {0};
    CHECK_INT(build("v1.11.3", assets, 1, out, NULL, &err), -1);
    CHECK(strstr(err.message, "SecureBoot") != NULL);
    CHECK(!fs_exists(out));
    free(out);
}

/* `test_installer make-bundle OUT`: OUT.key/OUT.pub, OUT.store and bundle OUT with the v1.11.3
 * installers for amd64 and arm64 (for tests/integration/installer.sh); prints the schematic ID. */
static int make_bundle(const char *out)
{
    struct error err = {0};
    char fingerprint[BUNDLE_KEY_FINGERPRINT_SIZE];
    if (bundle_key_generate(out, true, fingerprint, &err) != 0) {
        fprintf(stderr, "keygen: %s\n", err.message);
        return 1;
    }
    key_path = xasprintf("%s.key", out);
    store_path = xasprintf("%s.store", out);
    struct test_asset assets[] = {
        {0, "v1.11.3", "amd64", "installer-amd64.tar"},
        {0, "v1.11.3", "arm64", "installer-arm64.tar"},
    };
    int rc = build("v1.11.3", assets, 2, out, NULL, &err);
    if (rc != 0)
        fprintf(stderr, "build: %s\n", err.message);
    else
        printf("%s\n", schematic_id_of_test());
    free(key_path);
    free(store_path);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    fixtures = getenv("FIXTURES") ? xstrdup(getenv("FIXTURES")) : xstrdup("build/fixtures");
    char *key = xstrdup("tests/keys/cosign.pub");
    policy.name = "fixtures";
    policy.public_keys = &key;
    policy.public_key_count = 1;
    if (argc == 3 && strcmp(argv[1], "make-bundle") == 0) {
        int rc = make_bundle(argv[2]);
        free(key);
        free(fixtures);
        return rc;
    }
    if (!mkdtemp(scratch_dir))
        return 1;
    key_path = scratch("bundle.key");
    store_path = scratch("store");
    struct error err = {0};
    char *prefix = scratch("bundle");
    char fingerprint[BUNDLE_KEY_FINGERPRINT_SIZE];
    if (bundle_key_generate(prefix, false, fingerprint, &err) != 0) {
        printf("FAIL setup: %s\n", err.message);
        return 1;
    }
    free(prefix);
    RUN(layer_is_sorted_deterministic_tar_gzip);
    RUN(layer_modes_follow_their_files);
    RUN(config_extends_the_base_config);
    RUN(manifest_and_index_bytes);
    RUN(factory_builds_signed_multi_arch_installer);
    RUN(factory_builds_pre_1_10_installer_from_installer_image);
    RUN(missing_installer_base_is_a_clear_error);
    fs_remove_tree(scratch_dir, &err);
    free(key_path);
    free(store_path);
    free(key);
    free(fixtures);
    return TEST_MAIN_END();
}
