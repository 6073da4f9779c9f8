/* bundle_sample — synthetic bundles for the bundle tests, made through the writer API exactly as the
 * build orchestration will: reuse by cache key first, else "build" (generate bytes) and add.
 *
 * Content: two schematics, four Talos versions (five in variant 1), four assets per version/schematic
 * pair added four different ways (stream, move, copy, bytes), an installer image (index -> manifest ->
 * config + layer, a real empty tar layer so skopeo can read it), a cosign-style signature tag and a
 * referrer, catalogs, sources, provenance, public key. Variant 1 changes one asset and adds a version:
 * a delta from variant 0 to 1 carries only a few blobs. */
#ifndef AIRFACTORY_TEST_BUNDLE_SAMPLE_H
#define AIRFACTORY_TEST_BUNDLE_SAMPLE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airfactory/buffer.h"
#include "airfactory/bundle_key.h"
#include "bundle/bundle_writer.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/memory.h"

struct sample_options {
    const char *target;
    const char *key; /* private key path */
    int variant;     /* 0 or 1 */
    bool reverse;    /* add everything in reverse order (determinism) */
    int64_t created;
    uint64_t big;     /* extra asset of this many bytes (benchmarks), 0 = none */
    const char *base; /* explicit base bundle, NULL = default */
    bool allow_downgrade;
    struct bundle_writer_stats *stats; /* filled on success if not NULL */
};

#define SAMPLE_VANILLA_ID "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"
#define SAMPLE_VANILLA_YAML "customization: {}\n"
#define SAMPLE_EXT_YAML                                                                                                \
    "customization:\n    systemExtensions:\n        officialExtensions:\n            - siderolabs/gvisor\n"

static void sample_bytes(uint64_t seed, unsigned char *out, size_t len)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[i] = (unsigned char)(x >> 24);
    }
}

static uint64_t sample_seed(const char *s, int salt)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)salt;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* "build" one asset: by four different writer paths depending on its index */
static int sample_asset(struct bundle_writer *w, const char *schematic, const char *version, const char *path, int how,
                        uint64_t size, int salt, struct error *err)
{
    char key_text[512];
    snprintf(key_text, sizeof key_text, "%s/%s/%s", schematic, version, path);
    uint64_t seed = sample_seed(key_text, salt);
    char cache_key[80];
    snprintf(cache_key, sizeof cache_key, "ck-%016llx-%llu", (unsigned long long)seed, (unsigned long long)size);
    struct bundle_writer_hit hit;
    char digest[BUNDLE_DIGEST_SIZE];
    int reused = bundle_writer_reuse_asset(w, cache_key, &hit, err);
    if (reused < 0)
        return -1;
    if (reused) {
        memcpy(digest, hit.digest, sizeof digest);
    } else {
        size_t chunk = 1 << 16;
        unsigned char *buf = xmalloc(chunk);
        const char *media = bundle_asset_media_type(path);
        if (how == 0 || size > chunk) { /* stream */
            struct bundle_blob_stream *s;
            if (bundle_writer_blob_begin(w, &s, err) != 0) {
                free(buf);
                return -1;
            }
            for (uint64_t done = 0; done < size;) {
                size_t n = size - done < chunk ? (size_t)(size - done) : chunk;
                sample_bytes(seed + done, buf, n);
                if (bundle_blob_stream_write(s, buf, n, err) != 0) {
                    bundle_writer_blob_cancel(w, s);
                    free(buf);
                    return -1;
                }
                done += n;
            }
            int rc = bundle_writer_blob_finish(w, s, media, digest, NULL, err);
            free(buf);
            if (rc != 0)
                return -1;
        } else if (how == 1 || how == 2) { /* a file in scratch: move, or a file outside: copy */
            sample_bytes(seed, buf, (size_t)size);
            char *file = path_join(bundle_writer_scratch_dir(w), how == 1 ? "built" : "source");
            int rc = fs_write_file_atomic(file, buf, (size_t)size, 0644, err);
            if (rc == 0)
                rc = bundle_writer_add_blob_file(w, file, media, how == 1 ? BUNDLE_BLOB_MOVE : BUNDLE_BLOB_COPY, NULL,
                                                 digest, NULL, err);
            if (rc == 0 && how == 2 && !fs_exists(file)) /* COPY leaves the source alone */
                rc = error_set(err, ERROR_RUNTIME, "%s: COPY removed its source", file);
            if (rc == 0 && how == 1 && fs_exists(file)) /* MOVE consumes it */
                rc = error_set(err, ERROR_RUNTIME, "%s: MOVE left its source", file);
            unlink(file);
            free(file);
            free(buf);
            if (rc != 0)
                return -1;
        } else {
            sample_bytes(seed, buf, (size_t)size);
            int rc = bundle_writer_add_blob_bytes(w, buf, (size_t)size, media, digest, err);
            free(buf);
            if (rc != 0)
                return -1;
        }
    }
    if (bundle_writer_add_asset(w, schematic, version, path, digest, cache_key, err) != 0)
        return -1;
    struct bundle_provenance p = {schematic, version,
                                  path,      "sha256:1111111111111111111111111111111111111111111111111111111111111111",
                                  "metal",   "airfactory test"};
    return bundle_writer_add_provenance(w, &p, err);
}

static int sample_json_blob(struct bundle_writer *w, const char *json, const char *media_type,
                            char digest[BUNDLE_DIGEST_SIZE], struct error *err)
{
    return bundle_writer_add_blob_bytes(w, json, strlen(json), media_type, digest, err);
}

/* installer/<schematic>:<version>: index -> amd64 manifest -> config + empty tar layer */
static int sample_image(struct bundle_writer *w, const char *schematic, const char *version, struct error *err)
{
    static unsigned char empty_tar[1024];
    char layer[BUNDLE_DIGEST_SIZE], config[BUNDLE_DIGEST_SIZE], manifest[BUNDLE_DIGEST_SIZE], index[BUNDLE_DIGEST_SIZE];
    if (bundle_writer_add_blob_bytes(w, empty_tar, sizeof empty_tar, "application/vnd.oci.image.layer.v1.tar", layer,
                                     err) != 0)
        return -1;
    char *config_json = xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":"
                                  "{\"talos\":\"%s\"}},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
                                  version, layer);
    int rc = sample_json_blob(w, config_json, "application/vnd.oci.image.config.v1+json", config, err);
    uint64_t config_size = strlen(config_json);
    free(config_json);
    if (rc != 0)
        return -1;
    char *manifest_json = xasprintf(
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%llu},"
        "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":1024}]}",
        config, (unsigned long long)config_size, layer);
    rc = sample_json_blob(w, manifest_json, "application/vnd.oci.image.manifest.v1+json", manifest, err);
    uint64_t manifest_size = strlen(manifest_json);
    free(manifest_json);
    if (rc != 0)
        return -1;
    char *index_json =
        xasprintf("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{"
                  "\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%llu,"
                  "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}",
                  manifest, (unsigned long long)manifest_size);
    rc = sample_json_blob(w, index_json, "application/vnd.oci.image.index.v1+json", index, err);
    free(index_json);
    if (rc != 0)
        return -1;
    char *repo = xasprintf("installer/%s", schematic);
    rc = bundle_writer_add_image(w, repo, version, index, err);
    /* cosign-style signature: its own manifest tagged sha256-<hex>.sig, also a referrer */
    char payload[BUNDLE_DIGEST_SIZE], sig_config[BUNDLE_DIGEST_SIZE], sig_manifest[BUNDLE_DIGEST_SIZE];
    char *payload_json = xasprintf("{\"critical\":{\"identity\":{\"docker-reference\":\"factory/%s\"},\"image\":"
                                   "{\"docker-manifest-digest\":\"%s\"},\"type\":\"cosign container image "
                                   "signature\"},\"optional\":null}",
                                   repo, index);
    if (rc == 0)
        rc = sample_json_blob(w, payload_json, "application/vnd.dev.cosign.simplesigning.v1+json", payload, err);
    if (rc == 0)
        rc = sample_json_blob(w, "{}", "application/vnd.oci.image.config.v1+json", sig_config, err);
    char *sig_json = NULL;
    if (rc == 0) {
        sig_json = xasprintf(
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
            "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":2},"
            "\"layers\":[{\"mediaType\":\"application/vnd.dev.cosign.simplesigning.v1+json\",\"digest\":\"%s\","
            "\"size\":%zu}],\"subject\":{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"%s\"}}",
            sig_config, payload, strlen(payload_json), index);
        rc = sample_json_blob(w, sig_json, "application/vnd.oci.image.manifest.v1+json", sig_manifest, err);
    }
    if (rc == 0) {
        char tag[80];
        snprintf(tag, sizeof tag, "sha256-%s.sig", index + 7);
        rc = bundle_writer_add_image(w, repo, tag, sig_manifest, err);
    }
    if (rc == 0)
        rc = bundle_writer_add_referrer(w, repo, index, sig_manifest, "application/vnd.dev.cosign.artifact.sig.v1+json",
                                        err);
    free(sig_json);
    free(payload_json);
    free(repo);
    return rc;
}

static int sample_write(const struct sample_options *o, struct error *err)
{
    struct bundle_writer *w = NULL;
    struct bundle_writer_options wo = {
        .target = o->target,
        .signing_key_path = o->key,
        .base = o->base,
        .builder = "airfactory test",
        .created_set = true,
        .created = o->created,
        .allow_downgrade = o->allow_downgrade,
    };
    if (bundle_writer_open(&wo, &w, err) != 0)
        return -1;
    const char *versions[] = {"v1.9.5", "v1.10.3", "v1.11.0-alpha.1", "v1.11.0", "v1.12.0"};
    size_t version_count = o->variant ? 5 : 4;
    char ext_id[SHA256_HEX_LEN + 1];
    sha256_hex(SAMPLE_EXT_YAML, strlen(SAMPLE_EXT_YAML), ext_id);
    const char *schematics[2] = {SAMPLE_VANILLA_ID, ext_id};
    const char *paths[] = {"kernel-amd64", "metal-amd64.iso", "metal-amd64.raw.xz", "initramfs-amd64.xz"};
    int rc = 0;
    for (size_t step = 0; rc == 0 && step < 2 * version_count * 4; step++) {
        size_t i = o->reverse ? 2 * version_count * 4 - 1 - step : step;
        size_t s = i / (version_count * 4), v = (i / 4) % version_count, p = i % 4;
        /* only the vanilla schematic gets every version; keeps it small */
        if (s == 1 && v != 1)
            continue;
        int salt = (o->variant && p == 2 && v == 1 && s == 0) ? 1 : 0; /* variant 1 rebuilt one asset */
        rc = sample_asset(w, schematics[s], versions[v], paths[p], (int)p, 4096 + 1000 * p + 10 * v, salt, err);
    }
    if (rc == 0 && o->big) {
        char cache_key[64];
        snprintf(cache_key, sizeof cache_key, "big-%llu", (unsigned long long)o->big);
        rc = sample_asset(w, SAMPLE_VANILLA_ID, "v1.10.3", "metal-amd64.qcow2", 0, o->big, 7, err);
    }
    for (size_t k = 0; rc == 0 && k < version_count; k++) {
        size_t v = o->reverse ? version_count - 1 - k : k;
        rc = bundle_writer_add_version(w, versions[v], err);
        struct bundle_extension e = {versions[v],
                                     "siderolabs/gvisor",
                                     "ghcr.io/siderolabs/gvisor:20240826.0",
                                     "sha256:2222222222222222222222222222222222222222222222222222222222222222",
                                     "Sidero Labs",
                                     "gVisor <container> runtime & more"};
        if (rc == 0)
            rc = bundle_writer_add_extension(w, &e, err);
        struct bundle_overlay ov = {versions[v], "rpi_generic", "siderolabs/sbc-raspberrypi",
                                    "ghcr.io/siderolabs/sbc-raspberrypi:v0.1.0",
                                    "sha256:3333333333333333333333333333333333333333333333333333333333333333"};
        if (rc == 0)
            rc = bundle_writer_add_overlay(w, &ov, err);
    }
    if (rc == 0)
        rc = bundle_writer_add_schematic(w, o->reverse ? ext_id : SAMPLE_VANILLA_ID,
                                         o->reverse ? SAMPLE_EXT_YAML : SAMPLE_VANILLA_YAML, err);
    if (rc == 0)
        rc = bundle_writer_add_schematic(w, o->reverse ? SAMPLE_VANILLA_ID : ext_id,
                                         o->reverse ? SAMPLE_VANILLA_YAML : SAMPLE_EXT_YAML, err);
    if (rc == 0)
        rc = sample_image(w, SAMPLE_VANILLA_ID, "v1.10.3", err);
    if (rc == 0 && o->variant)
        rc = sample_image(w, SAMPLE_VANILLA_ID, "v1.12.0", err);
    struct bundle_source src = {"ghcr.io/siderolabs/imager:v1.10.3",
                                "sha256:1111111111111111111111111111111111111111111111111111111111111111", "linux/amd64",
                                "imager", "{\"method\":\"cosign-key\",\"policy\":\"test\",\"log_index\":-1}"};
    if (rc == 0)
        rc = bundle_writer_add_source(w, &src, err);
    if (rc == 0)
        rc = bundle_writer_set_meta(w, "manifest_digest",
                                    "sha256:4444444444444444444444444444444444444444444444444444444444444444", err);
    if (rc == 0) {
        struct bundle_key *key = NULL;
        rc = bundle_key_load_private(o->key, &key, err);
        if (rc == 0) {
            struct buffer pem = BUFFER_INIT;
            bundle_key_public_pem(key, &pem);
            rc = bundle_writer_add_public_key(w, "cosign", pem.data, err);
            buffer_free(&pem);
            bundle_key_free(key);
        }
    }
    if (rc != 0) {
        bundle_writer_abort(w);
        return -1;
    }
    if (o->stats)
        bundle_writer_get_stats(w, o->stats);
    return bundle_writer_commit(w, err);
}

#endif
