/* test_oci_image — the OCI data model: media types, platforms, strict parsing of indexes,
 * manifests (OCI and Docker v2s2) and configs. */
#include <string.h>

#include "oci/oci_image.h"
#include "test.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"

static int parse_manifest(const char *json, const char *type, struct oci_manifest *m, struct error *err)
{
    return oci_manifest_parse(json, strlen(json), type, "manifest test", m, err);
}

static void test_media_types(void)
{
    const struct oci_media_type *t = oci_media_type_find("application/vnd.docker.distribution.manifest.list.v2+json");
    CHECK(t && t->kind == OCI_MEDIA_INDEX);
    t = oci_media_type_find("application/vnd.oci.image.layer.v1.tar+zstd");
    CHECK(t && t->kind == OCI_MEDIA_LAYER && t->compression == OCI_COMPRESSION_ZSTD);
    t = oci_media_type_find("application/vnd.docker.image.rootfs.diff.tar.gzip");
    CHECK(t && t->compression == OCI_COMPRESSION_GZIP);
    t = oci_media_type_find("application/vnd.dev.cosign.simplesigning.v1+json");
    CHECK(t && t->kind == OCI_MEDIA_SIGNATURE);
    t = oci_media_type_find("application/vnd.dev.sigstore.bundle.v0.3+json");
    CHECK(t && t->kind == OCI_MEDIA_SIGSTORE_BUNDLE);
    t = oci_media_type_find("application/vnd.in-toto+json");
    CHECK(t && t->kind == OCI_MEDIA_ATTESTATION);
    CHECK(oci_media_type_find("application/vnd.oci.image.layer.v1.tar+bzip2") == NULL);
    CHECK(oci_media_type_find("application/json") == NULL);
}

static void test_platforms(void)
{
    struct oci_platform p, q;
    struct error err;
    char s[OCI_PLATFORM_SIZE];
    CHECK_INT(oci_platform_parse("linux/arm64/v8", &p, &err), 0);
    CHECK_STR(p.os, "linux");
    CHECK_STR(p.architecture, "arm64");
    CHECK_STR(p.variant, "v8");
    oci_platform_format(&p, s);
    CHECK_STR(s, "linux/arm64/v8");
    CHECK_INT(oci_platform_parse("linux/arm64", &q, &err), 0);
    CHECK(oci_platform_matches(&q, &p));  /* no variant wanted: any variant */
    CHECK(!oci_platform_matches(&p, &q)); /* v8 wanted: a variant-less entry is not proven v8 */
    CHECK_INT(oci_platform_parse("linux", &p, &err), -1);
    CHECK(strstr(err.message, "os/arch") != NULL);
    CHECK_INT(oci_platform_parse("linux/", &p, &err), -1);
    CHECK_INT(oci_platform_parse("/amd64", &p, &err), -1);
    CHECK_INT(oci_platform_parse("linux/amd64/v1/x", &p, &err), -1);
}

static void test_manifest_oci(void)
{
    struct oci_manifest m;
    struct error err;
    const char *json = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                       "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" D1
                       "\",\"size\":10},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\","
                       "\"digest\":\"" D2 "\",\"size\":123456789012}],\"subject\":{\"mediaType\":"
                       "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D3 "\",\"size\":5}}";
    CHECK_INT(parse_manifest(json, OCI_MEDIA_TYPE_MANIFEST, &m, &err), 0);
    CHECK_STR(m.config.digest, D1);
    CHECK_INT(m.layer_count, 1);
    CHECK_INT(m.layers[0].size, 123456789012LL);
    CHECK(m.has_subject);
    CHECK_STR(m.subject.digest, D3);
    oci_manifest_free(&m);
    /* without its own mediaType, the descriptor's is used */
    const char *bare = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                       "\"digest\":\"" D1 "\",\"size\":10},\"layers\":[]}";
    CHECK_INT(parse_manifest(bare, OCI_MEDIA_TYPE_MANIFEST, &m, &err), 0);
    CHECK_STR(m.media_type, OCI_MEDIA_TYPE_MANIFEST);
    oci_manifest_free(&m);
}

static void test_manifest_docker(void)
{
    struct oci_manifest m;
    struct error err;
    const char *json = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
                       "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\",\"digest\":\"" D1
                       "\",\"size\":10},\"layers\":[{\"mediaType\":"
                       "\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"digest\":\"" D2 "\",\"size\":20}]}";
    CHECK_INT(parse_manifest(json, "application/vnd.docker.distribution.manifest.v2+json", &m, &err), 0);
    CHECK_INT(m.layers[0].type->compression, OCI_COMPRESSION_GZIP);
    oci_manifest_free(&m);
    /* a Docker document must name itself */
    const char *bare =
        "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\","
        "\"digest\":\"" D1 "\",\"size\":10},\"layers\":[]}";
    CHECK_INT(parse_manifest(bare, "application/vnd.docker.distribution.manifest.v2+json", &m, &err), -1);
}

static void test_manifest_rejects(void)
{
    struct oci_manifest m;
    struct error err;
    /* descriptor says OCI, document says Docker: two readers could disagree */
    const char *mismatch = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
                           "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" D1
                           "\",\"size\":1},\"layers\":[]}";
    CHECK_INT(parse_manifest(mismatch, OCI_MEDIA_TYPE_MANIFEST, &m, &err), -1);
    CHECK(strstr(err.message, "descriptor") != NULL);
    /* unknown layer media type, named with its digest */
    const char *unknown = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                          "\"digest\":\"" D1 "\",\"size\":1},\"layers\":[{\"mediaType\":\"application/x-bzip2\","
                          "\"digest\":\"" D2 "\",\"size\":3}]}";
    CHECK_INT(parse_manifest(unknown, OCI_MEDIA_TYPE_MANIFEST, &m, &err), -1);
    CHECK(strstr(err.message, "unknown media type 'application/x-bzip2'") != NULL);
    CHECK(strstr(err.message, D2) != NULL);
    CHECK(strstr(err.message, "manifest test:1:") != NULL);
    /* sha512 */
    const char *sha512 = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                         "\"digest\":\"sha512:abcd\",\"size\":1},\"layers\":[]}";
    CHECK_INT(parse_manifest(sha512, OCI_MEDIA_TYPE_MANIFEST, &m, &err), -1);
    CHECK(strstr(err.message, "sha512") != NULL);
    /* upper-case hex is not a valid digest */
    const char *upper = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                        "\"digest\":\"sha256:AAAA111111111111111111111111111111111111111111111111111111111111\","
                        "\"size\":1},\"layers\":[]}";
    CHECK_INT(parse_manifest(upper, OCI_MEDIA_TYPE_MANIFEST, &m, &err), -1);
    /* negative size */
    const char *neg = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                      "\"digest\":\"" D1 "\",\"size\":-1},\"layers\":[]}";
    CHECK_INT(parse_manifest(neg, OCI_MEDIA_TYPE_MANIFEST, &m, &err), -1);
    /* schema 1 */
    const char *schema1 = "{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}";
    CHECK_INT(parse_manifest(schema1, OCI_MEDIA_TYPE_MANIFEST, &m, &err), -1);
    CHECK(strstr(err.message, "schemaVersion") != NULL);
    /* duplicate key: the strict JSON parser refuses it */
    const char *dup = "{\"schemaVersion\":2,\"schemaVersion\":2,\"config\":{},\"layers\":[]}";
    CHECK_INT(parse_manifest(dup, OCI_MEDIA_TYPE_MANIFEST, &m, &err), -1);
    CHECK(strstr(err.message, "duplicate") != NULL);
    /* malformed JSON with a position */
    CHECK_INT(parse_manifest("{\"schemaVersion\":2,", OCI_MEDIA_TYPE_MANIFEST, &m, &err), -1);
    CHECK(strstr(err.message, "manifest test:1:") != NULL);
    /* foreign layers need the network */
    const char *foreign = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                          "\"digest\":\"" D1 "\",\"size\":1},\"layers\":[{\"mediaType\":"
                          "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" D2 "\",\"size\":3,"
                          "\"urls\":[\"https://example.com/x\"]}]}";
    CHECK_INT(parse_manifest(foreign, OCI_MEDIA_TYPE_MANIFEST, &m, &err), -1);
    CHECK(strstr(err.message, "urls") != NULL);
    /* a layer type as config */
    const char *badcfg = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
                         "\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}";
    CHECK_INT(parse_manifest(badcfg, OCI_MEDIA_TYPE_MANIFEST, &m, &err), -1);
}

static void test_index(void)
{
    struct oci_index x;
    struct error err;
    const char *json = "{\"schemaVersion\":2,\"manifests\":["
                       "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1 "\",\"size\":1,"
                       "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"},"
                       "\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1.10.3\"}},"
                       "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D2 "\",\"size\":1,"
                       "\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"},"
                       "\"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\"}},"
                       "{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"" D3 "\",\"size\":1,"
                       "\"annotations\":{\"kind\":\"dev.cosignproject.cosign/sigs\"}}]}";
    CHECK_INT(oci_index_parse(json, strlen(json), NULL, "index.json", &x, &err), 0);
    CHECK_INT(x.count, 3);
    CHECK_STR(x.manifests[0].ref_name, "v1.10.3");
    CHECK_STR(x.manifests[0].platform.variant, "v8");
    CHECK(x.manifests[1].attestation);
    CHECK_STR(x.manifests[2].kind, "dev.cosignproject.cosign/sigs");
    CHECK_INT(x.manifests[2].type->kind, OCI_MEDIA_INDEX);
    oci_index_free(&x);
    /* an index may only list manifests and indexes */
    const char *layer = "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
                        "\"digest\":\"" D1 "\",\"size\":1}]}";
    CHECK_INT(oci_index_parse(layer, strlen(layer), NULL, "index.json", &x, &err), -1);
    const char *notarray = "{\"schemaVersion\":2,\"manifests\":{}}";
    CHECK_INT(oci_index_parse(notarray, strlen(notarray), NULL, "index.json", &x, &err), -1);
    CHECK(strstr(err.message, "manifests") != NULL);
    /* index.json that is a manifest */
    const char *manifest = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                           "\"manifests\":[]}";
    CHECK_INT(oci_index_parse(manifest, strlen(manifest), NULL, "index.json", &x, &err), -1);
}

static void test_config(void)
{
    struct oci_config c;
    struct error err;
    const char *json = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2024-01-01T00:00:00Z\","
                       "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\"]}}";
    CHECK_INT(oci_config_parse(json, strlen(json), "config", &c, &err), 0);
    CHECK_INT(c.diff_id_count, 2);
    CHECK_STR(c.diff_ids[1], D2);
    CHECK_STR(c.platform.architecture, "amd64");
    CHECK_STR(c.created, "2024-01-01T00:00:00Z");
    oci_config_free(&c);
    const char *nodiff = "{\"architecture\":\"amd64\",\"os\":\"linux\"}";
    CHECK_INT(oci_config_parse(nodiff, strlen(nodiff), "config", &c, &err), -1);
    CHECK(strstr(err.message, "diff_ids") != NULL);
    const char *baddiff = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"diff_ids\":[\"md5:1\"]}}";
    CHECK_INT(oci_config_parse(baddiff, strlen(baddiff), "config", &c, &err), -1);
}

static void test_subject_lenient(void)
{
    char s[OCI_DIGEST_SIZE];
    const char *doc = "{\"whatever\":1,\"subject\":{\"digest\":\"" D3 "\"}}";
    CHECK_INT(oci_document_subject(doc, strlen(doc), s), 1);
    CHECK_STR(s, D3);
    CHECK_INT(oci_document_subject("{}", 2, s), 0);
    CHECK_INT(oci_document_subject("not json", 8, s), 0);
}

static void test_image_from_documents(void)
{
    struct oci_manifest m;
    struct oci_config c;
    struct oci_image img;
    struct error err;
    memset(&img, 0, sizeof img);
    const char *mj = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
                     "\"digest\":\"" D1 "\",\"size\":1},\"layers\":[{\"mediaType\":"
                     "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" D2 "\",\"size\":3}]}";
    const char *cj = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"diff_ids\":[]}}";
    CHECK_INT(parse_manifest(mj, OCI_MEDIA_TYPE_MANIFEST, &m, &err), 0);
    CHECK_INT(oci_config_parse(cj, strlen(cj), "config", &c, &err), 0);
    CHECK_INT(oci_image_from_documents(&img, &m, &c, "image", &err), -1);
    CHECK(strstr(err.message, "1 layers") != NULL);
    oci_config_free(&c);
    oci_image_free(&img);
    /* a signature manifest is not an image */
    oci_manifest_free(&m);
    const char *sig = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.empty.v1+json\","
                      "\"digest\":\"" D1 "\",\"size\":2},\"layers\":[{\"mediaType\":"
                      "\"application/vnd.dev.sigstore.bundle.v0.3+json\",\"digest\":\"" D2 "\",\"size\":3}]}";
    const char *cj1 = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"diff_ids\":[\"" D3 "\"]}}";
    CHECK_INT(parse_manifest(sig, OCI_MEDIA_TYPE_MANIFEST, &m, &err), 0);
    CHECK_INT(oci_config_parse(cj1, strlen(cj1), "config", &c, &err), 0);
    CHECK_INT(oci_image_from_documents(&img, &m, &c, "image", &err), -1);
    CHECK(strstr(err.message, "not a container image") != NULL);
    oci_manifest_free(&m);
    oci_config_free(&c);
    oci_image_free(&img);
}

int main(void)
{
    RUN(test_media_types);
    RUN(test_platforms);
    RUN(test_manifest_oci);
    RUN(test_manifest_docker);
    RUN(test_manifest_rejects);
    RUN(test_index);
    RUN(test_config);
    RUN(test_subject_lenient);
    RUN(test_image_from_documents);
    return TEST_MAIN_END();
}
