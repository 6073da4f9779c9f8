/* installer — see installer.h.
 *
 * Tar headers are written here, not by libarchive: the bytes of the artifacts layer decide its
 * digest, and ustar headers we fill field by field cannot change with a library version. */
#include "imager/installer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base64.h"
#include "airfactory/bundle_key.h"
#include "format/compress.h"
#include "verify/cosign_legacy.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/json.h"
#include "oci/oci_config_writer.h"
#include "core/memory.h"

#define TAR_BLOCK 512
#define COPY_CHUNK (1u << 20)
#define ARCHIVE_DOCUMENT_MAX (4u << 20)

/* ------------------------------------------------------------------ ustar */

/* Numeric field: zero-padded octal with a NUL, or GNU base-256 when it does not fit. */
static void tar_number(unsigned char *field, size_t width, uint64_t value)
{
    uint64_t limit = 1;
    for (size_t i = 0; i < width - 1; i++)
        limit *= 8;
    if (value < limit) {
        char tmp[32];
        snprintf(tmp, sizeof tmp, "%0*llo", (int)(width - 1), (unsigned long long)value);
        memcpy(field, tmp, width - 1);
        field[width - 1] = '\0';
        return;
    }
    memset(field, 0, width);
    field[0] = 0x80;
    for (size_t i = width - 1; i > 0 && value; i--, value >>= 8)
        field[i] = (unsigned char)(value & 0xff);
}

static int tar_header(unsigned char h[TAR_BLOCK], const char *name, uint64_t size, uint32_t mtime, unsigned mode,
                      char type, struct error *err)
{
    size_t n = strlen(name);
    if (n == 0 || n > 99)
        return error_set(err, ERROR_INPUT, "tar entry '%s': names must be 1..99 bytes", name);
    memset(h, 0, TAR_BLOCK);
    memcpy(h, name, n);
    tar_number(h + 100, 8, mode & 07777);
    tar_number(h + 108, 8, 0);
    tar_number(h + 116, 8, 0);
    tar_number(h + 124, 12, size);
    tar_number(h + 136, 12, mtime);
    h[156] = type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < TAR_BLOCK; i++)
        sum += h[i];
    char tmp[8];
    snprintf(tmp, sizeof tmp, "%06o", sum & 0777777u);
    memcpy(h + 148, tmp, 6);
    h[154] = '\0';
    h[155] = ' ';
    return 0;
}

/* A byte sink for tar streams: a write callback plus a running count (for padding). */
struct tar_out {
    int (*write)(void *ctx, const void *data, size_t len, struct error *err);
    void *ctx;
    uint64_t offset;
};

static int tar_put(struct tar_out *t, const void *data, size_t len, struct error *err)
{
    if (len && t->write(t->ctx, data, len, err) != 0)
        return -1;
    t->offset += len;
    return 0;
}

static int tar_pad(struct tar_out *t, struct error *err)
{
    static const unsigned char zeros[TAR_BLOCK];
    size_t rem = (size_t)(t->offset % TAR_BLOCK);
    return rem ? tar_put(t, zeros, TAR_BLOCK - rem, err) : 0;
}

static int tar_add_bytes(struct tar_out *t, const char *name, const void *data, size_t len, uint32_t mtime,
                         struct error *err)
{
    unsigned char h[TAR_BLOCK];
    if (tar_header(h, name, len, mtime, 0644, '0', err) != 0 || tar_put(t, h, sizeof h, err) != 0 ||
        tar_put(t, data, len, err) != 0)
        return -1;
    return tar_pad(t, err);
}

/* Stream a file as one entry; its size is taken once and must not change while it is read. */
static int tar_add_file(struct tar_out *t, const char *name, const char *path, uint32_t mtime, unsigned mode,
                        struct error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "%s: open", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return error_errno(err, e, "%s: stat", path);
    }
    unsigned char h[TAR_BLOCK];
    int rc = tar_header(h, name, (uint64_t)st.st_size, mtime, mode, '0', err);
    if (rc == 0)
        rc = tar_put(t, h, sizeof h, err);
    unsigned char *buf = xmalloc(COPY_CHUNK);
    uint64_t left = (uint64_t)st.st_size;
    while (rc == 0 && left > 0) {
        ssize_t got = read(fd, buf, left < COPY_CHUNK ? (size_t)left : COPY_CHUNK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = error_errno(err, errno, "%s: read", path);
            break;
        }
        if (got == 0) {
            rc = error_set(err, ERROR_RUNTIME, "%s: file shrank while being archived", path);
            break;
        }
        rc = tar_put(t, buf, (size_t)got, err);
        left -= (uint64_t)got;
    }
    free(buf);
    close(fd);
    return rc == 0 ? tar_pad(t, err) : -1;
}

static int tar_end(struct tar_out *t, struct error *err)
{
    static const unsigned char zeros[2 * TAR_BLOCK];
    return tar_put(t, zeros, sizeof zeros, err);
}

/* ------------------------------------------------------------------ artifacts layer */

struct layer_sink {
    struct atomic_file file;
    struct sha256_stream digest;
    uint64_t size;
};

static int layer_sink_write(void *ctx, const void *data, size_t len, struct error *err)
{
    struct layer_sink *s = ctx;
    sha256_stream_update(&s->digest, data, len);
    s->size += len;
    return atomic_file_write(&s->file, data, len, err);
}

struct layer_tar {
    struct compress_writer *gzip;
    struct sha256_stream diff_id;
};

static int layer_tar_write(void *ctx, const void *data, size_t len, struct error *err)
{
    struct layer_tar *l = ctx;
    sha256_stream_update(&l->diff_id, data, len);
    return compress_writer_write(l->gzip, data, len, err);
}

struct layer_entry {
    struct installer_file file;
    unsigned mode;
};

static int compare_files(const void *a, const void *b)
{
    return strcmp(((const struct layer_entry *)a)->file.image_path, ((const struct layer_entry *)b)->file.image_path);
}

int installer_layer_write(const struct installer_file *files, size_t count, uint32_t mtime, const char *out_path,
                          char diff_id[OCI_DIGEST_SIZE], char digest[OCI_DIGEST_SIZE], uint64_t *size, struct error *err)
{
    return installer_layer_write_modes(files, NULL, count, mtime, out_path, diff_id, digest, size, err);
}

int installer_layer_write_modes(const struct installer_file *files, const unsigned *modes, size_t count, uint32_t mtime,
                                const char *out_path, char diff_id[OCI_DIGEST_SIZE], char digest[OCI_DIGEST_SIZE],
                                uint64_t *size, struct error *err)
{
    struct layer_entry *sorted = xcalloc(count ? count : 1, sizeof *sorted);
    for (size_t i = 0; i < count; i++)
        sorted[i] = (struct layer_entry){files[i], modes                  ? modes[i]
                                                   : files[i].mode        ? files[i].mode
                                                   : files[i].source_path ? 0644
                                                                          : 0755};
    qsort(sorted, count, sizeof *sorted, compare_files);
    for (size_t i = 1; i < count; i++)
        if (strcmp(sorted[i].file.image_path, sorted[i - 1].file.image_path) == 0) {
            int rc = error_set(err, ERROR_INPUT, "installer layer: %s given twice", sorted[i].file.image_path);
            free(sorted);
            return rc;
        }
    struct layer_sink sink = {0};
    if (atomic_file_open(&sink.file, out_path, 0644, err) != 0) {
        free(sorted);
        return -1;
    }
    sha256_stream_init(&sink.digest);
    struct layer_tar lt = {0};
    sha256_stream_init(&lt.diff_id);
    /* gzip level 6: Go's gzip.DefaultCompression, what go-containerregistry writes layers with */
    struct compress_options copts = {.kind = COMPRESS_GZIP, .level = 6, .threads = 1};
    struct compress_sink cs = {layer_sink_write, &sink};
    int rc = compress_writer_open(&lt.gzip, &copts, cs, err);
    struct tar_out t = {layer_tar_write, &lt, 0};
    for (size_t i = 0; rc == 0 && i < count; i++) {
        if (sorted[i].file.source_path) {
            rc = tar_add_file(&t, sorted[i].file.image_path, sorted[i].file.source_path, mtime, sorted[i].mode, err);
        } else {
            unsigned char h[TAR_BLOCK];
            rc = tar_header(h, sorted[i].file.image_path, 0, mtime, sorted[i].mode, '5', err);
            if (rc == 0)
                rc = tar_put(&t, h, sizeof h, err);
        }
    }
    if (rc == 0)
        rc = tar_end(&t, err);
    if (rc == 0)
        rc = compress_writer_finish(lt.gzip, err);
    compress_writer_free(lt.gzip);
    char hex[SHA256_HEX_LEN + 1];
    sha256_stream_final_hex(&lt.diff_id, hex);
    snprintf(diff_id, OCI_DIGEST_SIZE, "sha256:%s", hex);
    sha256_stream_final_hex(&sink.digest, hex);
    snprintf(digest, OCI_DIGEST_SIZE, "sha256:%s", hex);
    if (size)
        *size = sink.size;
    if (rc == 0)
        rc = atomic_file_commit(&sink.file, err);
    else
        atomic_file_abort(&sink.file);
    free(sorted);
    return rc == 0 ? 0 : error_prefix(err, "installer layer %s: ", out_path);
}

/* ------------------------------------------------------------------ config, manifest, index */

static bool history_empty_layer(const struct json_value *h)
{
    const struct json_value *e = json_object_get(h, "empty_layer");
    return e && e->type == JSON_BOOL && e->boolean;
}

int installer_config_build(const char *base_config, size_t len, const char *arch, size_t keep_layers,
                           const char *new_diff_id, const char *overlay_diff_id, uint32_t mtime, struct buffer *out,
                           struct error *err)
{
    struct json_value *base = NULL;
    if (json_parse(base_config, len, "installer base config", &base, err) != 0)
        return -1;
    if (base->type != JSON_OBJECT) {
        json_free(base);
        return error_set(err, ERROR_INPUT, "installer base config: not a JSON object");
    }
    const struct json_value *rootfs = json_object_get_object(base, "rootfs");
    const struct json_value *diff_ids = rootfs ? json_object_get_array(rootfs, "diff_ids") : NULL;
    if (!diff_ids || diff_ids->count < keep_layers) {
        json_free(base);
        return error_set(err, ERROR_INPUT, "installer base config: rootfs.diff_ids has fewer than %zu layers",
                         keep_layers);
    }
    /* the base's history up to its kept layers, then one entry per new layer */
    const struct json_value *history = json_object_get_array(base, "history");
    size_t count = 0, layers_seen = 0;
    struct oci_config_history *entries = xcalloc((history ? history->count : 0) + 2, sizeof *entries);
    for (size_t i = 0; history && i < history->count && layers_seen < keep_layers; i++) {
        if (!history_empty_layer(history->items[i]))
            layers_seen++;
        entries[count++].copy = history->items[i];
    }
    char *by = xasprintf("airfactory: usr/install/%s (installer artifacts)", arch);
    entries[count++].created_by = by;
    if (overlay_diff_id)
        entries[count++].created_by = "airfactory: /overlay (overlay artifacts, installer, extra-options)";
    const char *new_diff_ids[] = {new_diff_id, overlay_diff_id};
    char created[OCI_CONFIG_TIME_SIZE];
    oci_config_time(mtime, created);
    struct oci_config_contents config = {
        .architecture = arch,
        .variant = json_object_get_string(base, "variant"),
        .created = created,
        .history = entries,
        .history_count = count,
        .base_diff_ids = diff_ids->items,
        .base_diff_id_count = keep_layers,
        .diff_ids = new_diff_ids,
        .diff_id_count = overlay_diff_id ? 2 : 1,
        .runtime = json_object_get_object(base, "config"),
    };
    oci_config_write(&config, out);
    free(by);
    free(entries);
    json_free(base);
    return 0;
}

static void descriptor_write(struct json_writer *w, const char *media_type, int64_t size, const char *digest)
{
    json_kv_string(w, "mediaType", media_type);
    json_kv_int(w, "size", size);
    json_kv_string(w, "digest", digest);
}

void installer_manifest_build(const char *config_digest, int64_t config_size, const struct installer_layer *layers,
                              size_t count, struct buffer *out)
{
    struct json_writer w;
    json_writer_init(&w, out);
    w.escape_html = false;
    json_object_begin(&w);
    json_kv_int(&w, "schemaVersion", 2);
    json_kv_string(&w, "mediaType", OCI_MEDIA_TYPE_MANIFEST);
    json_key(&w, "config");
    json_object_begin(&w);
    descriptor_write(&w, OCI_MEDIA_TYPE_CONFIG, config_size, config_digest);
    json_object_end(&w);
    json_key(&w, "layers");
    json_array_begin(&w);
    for (size_t i = 0; i < count; i++) {
        json_object_begin(&w);
        descriptor_write(&w, layers[i].media_type, layers[i].size, layers[i].digest);
        json_object_end(&w);
    }
    json_array_end(&w);
    json_object_end(&w);
}

static int compare_images(const void *a, const void *b)
{
    return strcmp(((const struct installer_image *)a)->arch, ((const struct installer_image *)b)->arch);
}

void installer_index_build(const struct installer_image *images, size_t count, struct buffer *out)
{
    struct installer_image *sorted = xcalloc(count ? count : 1, sizeof *sorted);
    if (count)
        memcpy(sorted, images, count * sizeof *sorted);
    qsort(sorted, count, sizeof *sorted, compare_images);
    struct json_writer w;
    json_writer_init(&w, out);
    w.escape_html = false;
    json_object_begin(&w);
    json_kv_int(&w, "schemaVersion", 2);
    json_kv_string(&w, "mediaType", OCI_MEDIA_TYPE_INDEX);
    json_key(&w, "manifests");
    json_array_begin(&w);
    for (size_t i = 0; i < count; i++) {
        json_object_begin(&w);
        descriptor_write(&w, OCI_MEDIA_TYPE_MANIFEST, sorted[i].manifest_size, sorted[i].manifest_digest);
        json_key(&w, "platform");
        json_object_begin(&w);
        json_kv_string(&w, "architecture", sorted[i].arch);
        json_kv_string(&w, "os", "linux");
        json_object_end(&w);
        json_object_end(&w);
    }
    json_array_end(&w);
    json_object_end(&w);
    free(sorted);
}

/* The media type a layer is listed under in our OCI manifest, from its compression. */
static const char *layer_media_type(enum oci_compression c)
{
    switch (c) {
    case OCI_COMPRESSION_GZIP: return OCI_MEDIA_TYPE_LAYER_GZIP;
    case OCI_COMPRESSION_ZSTD: return OCI_MEDIA_TYPE_LAYER_ZSTD;
    case OCI_COMPRESSION_NONE: break;
    }
    return OCI_MEDIA_TYPE_LAYER;
}

/* ------------------------------------------------------------------ docker-archive */

/* manifest.json of a docker-archive (go-containerregistry tarball.Write). */
static void docker_manifest_json(const char *config_digest, const char *repo_tag, const struct installer_layer *layers,
                                 size_t count, struct buffer *out)
{
    struct json_writer w;
    json_writer_init(&w, out);
    w.escape_html = false;
    json_array_begin(&w);
    json_object_begin(&w);
    json_kv_string(&w, "Config", config_digest);
    json_key(&w, "RepoTags");
    json_array_begin(&w);
    if (repo_tag)
        json_string(&w, repo_tag);
    json_array_end(&w);
    json_key(&w, "Layers");
    json_array_begin(&w);
    for (size_t i = 0; i < count; i++) {
        char name[SHA256_HEX_LEN + 8];
        snprintf(name, sizeof name, "%s.tar.gz", layers[i].digest + 7);
        json_string(&w, name);
    }
    json_array_end(&w);
    json_object_end(&w);
    json_array_end(&w);
}

/* ------------------------------------------------------------------ one arch */

/* A byte sink into a scratch file, hashing as it goes. */
struct scratch_sink {
    int fd;
    const char *path;
    struct sha256_stream digest;
    uint64_t size;
};

static int scratch_sink_write(void *ctx, const void *data, size_t len, struct error *err)
{
    struct scratch_sink *s = ctx;
    sha256_stream_update(&s->digest, data, len);
    s->size += len;
    return fs_write_all(s->fd, data, len, s->path, err);
}

/* A scratch file name unique in dir (the file is created empty; atomic writers replace it). */
static int scratch_file(const char *dir, const char *what, const char *arch, char **out, struct error *err)
{
    char *path = xasprintf("%s/installer-%s-%s-XXXXXX", dir, what, arch);
    int fd = mkstemp(path);
    if (fd < 0) {
        int e = errno;
        free(path);
        return error_errno(err, e, "%s: cannot create a scratch file", dir);
    }
    close(fd);
    *out = path;
    return 0;
}

void installer_prepared_free(struct installer_prepared *p)
{
    for (size_t i = 0; p->layer_paths && i < p->layer_count; i++) {
        /* the last own_layers are our scratch files; the others are the store's */
        if (i + (p->own_layers ? p->own_layers : 1) >= p->layer_count && p->layer_paths[i])
            unlink(p->layer_paths[i]);
        free(p->layer_paths[i]);
    }
    free(p->layer_paths);
    free(p->layers);
    buffer_free(&p->config);
    buffer_free(&p->manifest);
    if (p->archive_path)
        unlink(p->archive_path);
    free(p->archive_path);
    memset(p, 0, sizeof *p);
}

int installer_image_prepare(const struct installer_build_options *o, struct installer_prepared *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    const struct oci_image *base = o->base;
    snprintf(out->arch, sizeof out->arch, "%s", o->arch);
    /* Talos outInstaller: a 2-layer base (pre-1.10 installer) carried the boot assets in layer 2 */
    size_t keep = base->layer_count == 2 ? 1 : base->layer_count;
    size_t added = o->overlay_file_count ? 2 : 1; /* artifacts, then the overlay layer */
    out->layer_count = keep + added;
    out->own_layers = added;
    out->layers = xcalloc(keep + added, sizeof *out->layers);
    out->layer_paths = xcalloc(keep + added, sizeof *out->layer_paths);
    struct installer_layer *layers = out->layers;
    int rc = scratch_file(o->scratch_dir, "layer", o->arch, &out->layer_paths[keep], err);
    struct buffer base_config = BUFFER_INIT, mj = BUFFER_INIT;
    char diff_id[OCI_DIGEST_SIZE], hex[SHA256_HEX_LEN + 1];
    uint64_t new_size = 0;
    if (rc == 0)
        rc = installer_layer_write(o->files, o->file_count, o->mtime, out->layer_paths[keep], diff_id,
                                   layers[keep].digest, &new_size, err);
    layers[keep].size = (int64_t)new_size;
    snprintf(layers[keep].media_type, sizeof layers[keep].media_type, "%s", OCI_MEDIA_TYPE_LAYER_GZIP);
    char overlay_diff_id[OCI_DIGEST_SIZE];
    if (rc == 0 && added == 2) {
        rc = scratch_file(o->scratch_dir, "overlay-layer", o->arch, &out->layer_paths[keep + 1], err);
        if (rc == 0)
            rc = installer_layer_write(o->overlay_files, o->overlay_file_count, o->mtime, out->layer_paths[keep + 1],
                                       overlay_diff_id, layers[keep + 1].digest, &new_size, err);
        layers[keep + 1].size = (int64_t)new_size;
        snprintf(layers[keep + 1].media_type, sizeof layers[keep + 1].media_type, "%s", OCI_MEDIA_TYPE_LAYER_GZIP);
    }
    if (rc == 0) {
        int found = store_read_blob(o->store, base->config.digest, OCI_DOCUMENT_MAX, &base_config, err);
        if (found == 0)
            rc = error_set(err, ERROR_INPUT, "installer base %s: config %s is not in the store %s", base->reference,
                           base->config.digest, store_dir(o->store));
        else if (found < 0)
            rc = -1;
    }
    if (rc == 0)
        rc = installer_config_build(base_config.data, base_config.len, o->arch, keep, diff_id,
                                    added == 2 ? overlay_diff_id : NULL, o->mtime, &out->config, err);
    if (rc == 0) {
        sha256_hex(out->config.data ? out->config.data : "", out->config.len, hex);
        snprintf(out->config_digest, sizeof out->config_digest, "sha256:%s", hex);
    }
    /* base layers: the store's immutable files (hard-linked into the bundle by installer_image_add) */
    for (size_t i = 0; rc == 0 && i < keep; i++) {
        const struct oci_descriptor *d = &base->layers[i];
        snprintf(layers[i].digest, sizeof layers[i].digest, "%s", d->digest);
        layers[i].size = d->size;
        snprintf(layers[i].media_type, sizeof layers[i].media_type, "%s", layer_media_type(d->type->compression));
        out->layer_paths[i] = store_blob_path(o->store, d->digest);
    }
    if (rc == 0) {
        installer_manifest_build(out->config_digest, (int64_t)out->config.len, layers, keep + added, &out->manifest);
        sha256_hex(out->manifest.data, out->manifest.len, hex);
        snprintf(out->manifest_digest, sizeof out->manifest_digest, "sha256:%s", hex);
    }
    /* the docker-archive, streamed into a scratch file: config, each distinct layer, manifest.json last */
    if (rc == 0)
        rc = scratch_file(o->scratch_dir, "archive", o->arch, &out->archive_path, err);
    if (rc == 0) {
        /* a plain file, not an atomic one: it is scratch (removed on failure), and the bundle
         * writer fsyncs it when it moves it in */
        struct scratch_sink sink = {.path = out->archive_path};
        sink.fd = open(out->archive_path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (sink.fd < 0)
            rc = error_errno(err, errno, "%s: open", out->archive_path);
        if (rc == 0) {
            sha256_stream_init(&sink.digest);
            struct tar_out t = {scratch_sink_write, &sink, 0};
            rc = tar_add_bytes(&t, out->config_digest, out->config.data, out->config.len, o->mtime, err);
            for (size_t i = 0; rc == 0 && i < out->layer_count; i++) {
                bool dup = false;
                for (size_t k = 0; k < i; k++)
                    dup = dup || strcmp(layers[k].digest, layers[i].digest) == 0;
                if (dup)
                    continue;
                char name[SHA256_HEX_LEN + 8];
                snprintf(name, sizeof name, "%s.tar.gz", layers[i].digest + 7);
                rc = tar_add_file(&t, name, out->layer_paths[i], o->mtime, 0644, err);
            }
            if (rc == 0) {
                docker_manifest_json(out->config_digest, o->repo_tag, layers, out->layer_count, &mj);
                rc = tar_add_bytes(&t, "manifest.json", mj.data, mj.len, o->mtime, err);
            }
            if (rc == 0)
                rc = tar_end(&t, err);
            sha256_stream_final_hex(&sink.digest, hex);
            snprintf(out->archive_digest, sizeof out->archive_digest, "sha256:%s", hex);
            out->archive_size = sink.size;
            if (close(sink.fd) != 0 && rc == 0)
                rc = error_errno(err, errno, "%s: close", out->archive_path);
        }
    }
    buffer_free(&base_config);
    buffer_free(&mj);
    if (rc != 0) {
        installer_prepared_free(out);
        return error_prefix(err, "installer image (%s, base %s): ", o->arch, base->reference);
    }
    return 0;
}

int installer_image_add(struct bundle_writer *w, const struct installer_prepared *p, struct installer_image *out,
                        struct error *err)
{
    memset(out, 0, sizeof *out);
    size_t own = p->own_layers ? p->own_layers : 1;
    size_t keep = p->layer_count - own;
    char digest[BUNDLE_DIGEST_SIZE];
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < keep; i++)
        rc = bundle_writer_add_blob_file(w, p->layer_paths[i], p->layers[i].media_type, BUNDLE_BLOB_LINK,
                                         p->layers[i].digest, NULL, NULL, err);
    if (rc == 0)
        rc = bundle_writer_add_blob_bytes(w, p->config.data ? p->config.data : "", p->config.len, OCI_MEDIA_TYPE_CONFIG,
                                          digest, err);
    if (rc == 0 && strcmp(digest, p->config_digest) != 0)
        rc = error_set(err, ERROR_RUNTIME, "installer config: stored as %s, prepared as %s (airfactory bug)", digest,
                       p->config_digest);
    if (rc == 0)
        rc = bundle_writer_add_blob_bytes(w, p->manifest.data, p->manifest.len, OCI_MEDIA_TYPE_MANIFEST,
                                          out->manifest_digest, err);
    if (rc == 0 && strcmp(out->manifest_digest, p->manifest_digest) != 0)
        rc = error_set(err, ERROR_RUNTIME, "installer manifest: stored as %s, prepared as %s (airfactory bug)",
                       out->manifest_digest, p->manifest_digest);
    out->manifest_size = (int64_t)p->manifest.len;
    snprintf(out->arch, sizeof out->arch, "%s", p->arch);
    /* the docker-archive, then the new layers last: moved, not copied */
    if (rc == 0)
        rc = bundle_writer_add_blob_file(w, p->archive_path, "application/x-tar", BUNDLE_BLOB_MOVE, p->archive_digest,
                                         out->archive_digest, &out->archive_size, err);
    for (size_t i = keep; rc == 0 && i < p->layer_count; i++)
        rc = bundle_writer_add_blob_file(w, p->layer_paths[i], OCI_MEDIA_TYPE_LAYER_GZIP, BUNDLE_BLOB_MOVE,
                                         p->layers[i].digest, NULL, NULL, err);
    return rc == 0 ? 0 : error_prefix(err, "installer image (%s): ", p->arch);
}

int installer_image_build(struct bundle_writer *w, const struct installer_build_options *o, struct installer_image *out,
                          struct error *err)
{
    memset(out, 0, sizeof *out);
    struct installer_prepared p;
    if (installer_image_prepare(o, &p, err) != 0)
        return -1;
    int rc = installer_image_add(w, &p, out, err);
    installer_prepared_free(&p);
    return rc == 0 ? 0 : error_prefix(err, "installer image (base %s): ", o->base->reference);
}

/* ------------------------------------------------------------------ reuse: back from an archive */

static int read_entry(struct archive *a, const char *name, struct buffer *out, struct error *err)
{
    char buf[65536];
    for (;;) {
        la_ssize_t got = archive_read_data(a, buf, sizeof buf);
        if (got < 0)
            return error_set(err, ERROR_INPUT, "%s: %s", name, archive_error_string(a));
        if (got == 0)
            return 0;
        if (out->len + (size_t)got > ARCHIVE_DOCUMENT_MAX)
            return error_set(err, ERROR_INPUT, "%s: larger than %u bytes", name, ARCHIVE_DOCUMENT_MAX);
        buffer_append(out, buf, (size_t)got);
    }
}

/* A layer entry the bundle does not have yet: from the store if it has it, else from the archive. */
static int archive_layer(struct bundle_writer *w, struct store *store, struct archive *a, const char *digest,
                         const char *scratch_dir, struct error *err)
{
    if (bundle_writer_has_blob(w, digest))
        return 0;
    if (store && store_has_blob(store, digest)) {
        char *path = store_blob_path(store, digest);
        int rc =
            bundle_writer_add_blob_file(w, path, OCI_MEDIA_TYPE_LAYER_GZIP, BUNDLE_BLOB_LINK, digest, NULL, NULL, err);
        free(path);
        return rc;
    }
    char *path = xasprintf("%s/installer-reuse-XXXXXX", scratch_dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        int e = errno;
        free(path);
        return error_errno(err, e, "%s: cannot create a scratch file", scratch_dir);
    }
    int rc = 0;
    char *buf = xmalloc(COPY_CHUNK);
    for (;;) {
        la_ssize_t got = archive_read_data(a, buf, COPY_CHUNK);
        if (got < 0) {
            rc = error_set(err, ERROR_INPUT, "layer %s: %s", digest, archive_error_string(a));
            break;
        }
        if (got == 0)
            break;
        if (fs_write_all(fd, buf, (size_t)got, path, err) != 0) {
            rc = -1;
            break;
        }
    }
    free(buf);
    close(fd);
    if (rc == 0)
        rc = bundle_writer_add_blob_file(w, path, OCI_MEDIA_TYPE_LAYER_GZIP, BUNDLE_BLOB_MOVE, digest, NULL, NULL, err);
    unlink(path);
    free(path);
    return rc;
}

/* Compression of a blob the bundle holds, from its first bytes. */
static int blob_compression(struct bundle_writer *w, const char *digest, enum oci_compression *out, struct error *err)
{
    char *path = xasprintf("%s/blobs/sha256/%s", bundle_writer_staging_dir(w), digest + 7);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        int rc = error_errno(err, e, "%s", path);
        free(path);
        return rc;
    }
    unsigned char magic[8] = {0};
    ssize_t got = read(fd, magic, sizeof magic);
    close(fd);
    free(path);
    enum compress_kind k = compress_detect(magic, got > 0 ? (size_t)got : 0);
    *out = k == COMPRESS_GZIP ? OCI_COMPRESSION_GZIP : k == COMPRESS_ZSTD ? OCI_COMPRESSION_ZSTD : OCI_COMPRESSION_NONE;
    return 0;
}

int installer_image_from_archive(struct bundle_writer *w, struct store *store, const char *archive_path,
                                 const char *scratch_dir, struct installer_image *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    struct buffer manifest_json = BUFFER_INIT, config = BUFFER_INIT, manifest = BUFFER_INIT;
    char config_name[80] = "";
    /* layer entries: name -> size */
    struct {
        char digest[OCI_DIGEST_SIZE];
        int64_t size;
    } *seen = NULL;
    size_t seen_count = 0;
    struct json_value *doc = NULL;
    struct installer_layer *layers = NULL;
    struct oci_config parsed = {0};
    int rc = 0;
    if (archive_read_open_filename(a, archive_path, 65536) != ARCHIVE_OK)
        rc = error_set(err, ERROR_INPUT, "%s: %s", archive_path, archive_error_string(a));
    struct archive_entry *e;
    while (rc == 0) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK) {
            rc = error_set(err, ERROR_INPUT, "%s: %s", archive_path, archive_error_string(a));
            break;
        }
        const char *name = archive_entry_pathname(e);
        size_t n = strlen(name);
        if (archive_entry_sparse_count(e) > 0) { /* its holes would be read back as real zeros */
            rc = error_set(err, ERROR_INPUT, "%s: entry %s is a sparse file; an installer archive never holds one",
                           archive_path, name);
            break;
        }
        if (strcmp(name, "manifest.json") == 0) {
            rc = read_entry(a, name, &manifest_json, err);
        } else if (strncmp(name, "sha256:", 7) == 0 && sha256_hex_valid(name + 7)) {
            buffer_reset(&config);
            snprintf(config_name, sizeof config_name, "%s", name);
            rc = read_entry(a, name, &config, err);
        } else if (n == SHA256_HEX_LEN + 7 && strcmp(name + SHA256_HEX_LEN, ".tar.gz") == 0) {
            seen = xrealloc(seen, (seen_count + 1) * sizeof *seen);
            snprintf(seen[seen_count].digest, OCI_DIGEST_SIZE, "sha256:%.*s", SHA256_HEX_LEN, name);
            seen[seen_count].size = archive_entry_size(e);
            if (!sha256_hex_valid(seen[seen_count].digest + 7)) {
                rc = error_set(err, ERROR_INPUT, "%s: entry %s is not named by a digest", archive_path, name);
                break;
            }
            rc = archive_layer(w, store, a, seen[seen_count].digest, scratch_dir, err);
            seen_count++;
        }
    }
    if (rc == 0 && (!manifest_json.len || !config.len))
        rc = error_set(err, ERROR_INPUT, "%s: not an installer docker-archive (no manifest.json or config)",
                       archive_path);
    const struct json_value *item = NULL, *layer_names = NULL;
    if (rc == 0 && json_parse(manifest_json.data, manifest_json.len, "manifest.json", &doc, err) != 0)
        rc = -1;
    if (rc == 0) {
        item = doc->type == JSON_ARRAY && doc->count == 1 ? doc->items[0] : NULL;
        layer_names = item ? json_object_get_array(item, "Layers") : NULL;
        const char *cfg = item ? json_object_get_string(item, "Config") : NULL;
        char hex[SHA256_HEX_LEN + 1];
        sha256_hex(config.data, config.len, hex);
        if (!layer_names || !cfg || strcmp(cfg, config_name) != 0 || strcmp(config_name + 7, hex) != 0)
            rc = error_set(err, ERROR_INPUT, "%s: manifest.json does not describe one image whose config is %s",
                           archive_path, config_name);
    }
    if (rc == 0 && oci_config_parse(config.data, config.len, config_name, &parsed, err) != 0)
        rc = -1;
    if (rc == 0) {
        layers = xcalloc(layer_names->count ? layer_names->count : 1, sizeof *layers);
        for (size_t i = 0; rc == 0 && i < layer_names->count; i++) {
            const struct json_value *v = layer_names->items[i];
            const struct installer_layer *found = NULL;
            for (size_t k = 0; v->type == JSON_STRING && k < seen_count; k++)
                if (strlen(v->text) == SHA256_HEX_LEN + 7 && strncmp(v->text, seen[k].digest + 7, SHA256_HEX_LEN) == 0) {
                    snprintf(layers[i].digest, sizeof layers[i].digest, "%s", seen[k].digest);
                    layers[i].size = seen[k].size;
                    found = &layers[i];
                }
            if (!found) {
                rc = error_set(err, ERROR_INPUT, "%s: layer %zu of manifest.json is not in the archive", archive_path, i);
                break;
            }
            enum oci_compression c = OCI_COMPRESSION_NONE;
            rc = blob_compression(w, layers[i].digest, &c, err);
            snprintf(layers[i].media_type, sizeof layers[i].media_type, "%s", layer_media_type(c));
        }
    }
    char config_digest[BUNDLE_DIGEST_SIZE];
    if (rc == 0)
        rc = bundle_writer_add_blob_bytes(w, config.data, config.len, OCI_MEDIA_TYPE_CONFIG, config_digest, err);
    if (rc == 0) {
        installer_manifest_build(config_digest, (int64_t)config.len, layers, layer_names->count, &manifest);
        rc = bundle_writer_add_blob_bytes(w, manifest.data, manifest.len, OCI_MEDIA_TYPE_MANIFEST, out->manifest_digest,
                                          err);
        out->manifest_size = (int64_t)manifest.len;
        snprintf(out->arch, sizeof out->arch, "%.15s", parsed.platform.architecture);
    }
    if (rc == 0) {
        char hex[SHA256_HEX_LEN + 1];
        rc = sha256_file_hex(archive_path, hex, &out->archive_size, err);
        snprintf(out->archive_digest, sizeof out->archive_digest, "sha256:%s", hex);
    }
    archive_read_free(a);
    oci_config_free(&parsed);
    json_free(doc);
    free(layers);
    free(seen);
    buffer_free(&manifest_json);
    buffer_free(&config);
    buffer_free(&manifest);
    return rc == 0 ? 0 : error_prefix(err, "installer image from %s: ", archive_path);
}

/* ------------------------------------------------------------------ cosign signature */

void installer_signature_payload(const char *docker_reference, const char *digest, struct buffer *out)
{
    /* sigstore payload.Cosign through Go's json.Marshal: HTML characters escaped */
    struct json_writer w;
    json_writer_init(&w, out);
    json_object_begin(&w);
    json_key(&w, "critical");
    json_object_begin(&w);
    json_key(&w, "identity");
    json_object_begin(&w);
    json_kv_string(&w, "docker-reference", docker_reference);
    json_object_end(&w);
    json_key(&w, "image");
    json_object_begin(&w);
    json_kv_string(&w, "docker-manifest-digest", digest);
    json_object_end(&w);
    json_kv_string(&w, "type", COSIGN_LEGACY_PAYLOAD_TYPE);
    json_object_end(&w);
    json_key(&w, "optional");
    json_null(&w);
    json_object_end(&w);
}

int installer_sign(struct bundle_writer *w, const char *key_path, const char *repository, const char *digest,
                   char sig_manifest_digest[OCI_DIGEST_SIZE], struct error *err)
{
    struct bundle_key *key = NULL;
    if (bundle_key_load_private(key_path, &key, err) != 0)
        return -1;
    struct buffer payload = BUFFER_INIT, der = BUFFER_INIT, b64 = BUFFER_INIT, config = BUFFER_INIT,
                  manifest = BUFFER_INIT;
    installer_signature_payload(repository, digest, &payload);
    char payload_digest[BUNDLE_DIGEST_SIZE], config_digest[BUNDLE_DIGEST_SIZE], manifest_digest[BUNDLE_DIGEST_SIZE];
    int rc = bundle_key_sign(key, payload.data, payload.len, &der, err);
    if (rc == 0)
        rc = bundle_writer_add_blob_bytes(w, payload.data, payload.len, COSIGN_LEGACY_LAYER_MEDIA_TYPE, payload_digest,
                                          err);
    if (rc == 0) {
        base64_encode(der.data, der.len, &b64);
        /* mutate.AppendSignatures(empty.Signatures(), sig): config as cosign writes it */
        buffer_appendf(&config,
                       "{\"architecture\":\"\",\"created\":\"0001-01-01T00:00:00Z\",\"history\":[{\"created\":"
                       "\"0001-01-01T00:00:00Z\"}],\"os\":\"\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]},"
                       "\"config\":{}}",
                       payload_digest);
        rc = bundle_writer_add_blob_bytes(w, config.data, config.len, OCI_MEDIA_TYPE_CONFIG, config_digest, err);
    }
    if (rc == 0) {
        struct json_writer jw;
        json_writer_init(&jw, &manifest);
        jw.escape_html = false;
        json_object_begin(&jw);
        json_kv_int(&jw, "schemaVersion", 2);
        json_kv_string(&jw, "mediaType", OCI_MEDIA_TYPE_MANIFEST);
        json_key(&jw, "config");
        json_object_begin(&jw);
        descriptor_write(&jw, OCI_MEDIA_TYPE_CONFIG, (int64_t)config.len, config_digest);
        json_object_end(&jw);
        json_key(&jw, "layers");
        json_array_begin(&jw);
        json_object_begin(&jw);
        descriptor_write(&jw, COSIGN_LEGACY_LAYER_MEDIA_TYPE, (int64_t)payload.len, payload_digest);
        json_key(&jw, "annotations");
        json_object_begin(&jw);
        json_kv_string(&jw, COSIGN_LEGACY_SIGNATURE_ANNOTATION, buffer_cstr(&b64));
        json_object_end(&jw);
        json_object_end(&jw);
        json_array_end(&jw);
        json_object_end(&jw);
        rc = bundle_writer_add_blob_bytes(w, manifest.data, manifest.len, OCI_MEDIA_TYPE_MANIFEST, manifest_digest, err);
    }
    if (rc == 0) {
        char tag[SHA256_HEX_LEN + 16];
        snprintf(tag, sizeof tag, "sha256-%s.sig", digest + 7);
        rc = bundle_writer_add_image(w, repository, tag, manifest_digest, err);
    }
    if (rc == 0 && sig_manifest_digest)
        snprintf(sig_manifest_digest, OCI_DIGEST_SIZE, "%s", manifest_digest);
    bundle_key_free(key);
    buffer_free(&payload);
    buffer_free(&der);
    buffer_free(&b64);
    buffer_free(&config);
    buffer_free(&manifest);
    return rc == 0 ? 0 : error_prefix(err, "signing %s@%s: ", repository, digest);
}

/* ------------------------------------------------------------------ registry */

void installer_repository_name(const char *platform, bool secureboot, const char *schematic_id, char *out, size_t size)
{
    snprintf(out, size, "%s%sinstaller%s/%s", platform && platform[0] ? platform : "",
             platform && platform[0] ? "-" : "", secureboot ? "-secureboot" : "", schematic_id);
}

struct installer_registry {
    struct installer_tag {
        char *repository, *version;
        struct installer_image *images;
        size_t count;
    } * tags;
    size_t count;
};

int installer_registry_add(struct installer_registry **registry, const char *repository, const char *version,
                           const struct installer_image *image, struct error *err)
{
    if (!*registry)
        *registry = xcalloc(1, sizeof **registry);
    struct installer_registry *r = *registry;
    struct installer_tag *t = NULL;
    for (size_t i = 0; i < r->count && !t; i++)
        if (strcmp(r->tags[i].repository, repository) == 0 && strcmp(r->tags[i].version, version) == 0)
            t = &r->tags[i];
    if (!t) {
        r->tags = xrealloc(r->tags, (r->count + 1) * sizeof *r->tags);
        t = &r->tags[r->count++];
        memset(t, 0, sizeof *t);
        t->repository = xstrdup(repository);
        t->version = xstrdup(version);
    }
    for (size_t i = 0; i < t->count; i++) {
        if (strcmp(t->images[i].arch, image->arch) != 0)
            continue;
        if (strcmp(t->images[i].manifest_digest, image->manifest_digest) == 0)
            return 0;
        return error_set(err, ERROR_INPUT, "%s:%s: two different %s images (%s, %s)", repository, version, image->arch,
                         t->images[i].manifest_digest, image->manifest_digest);
    }
    t->images = xrealloc(t->images, (t->count + 1) * sizeof *t->images);
    t->images[t->count++] = *image;
    return 0;
}

int installer_registry_finish(struct installer_registry *registry, struct bundle_writer *w, const char *key_path,
                              struct error *err)
{
    for (size_t i = 0; registry && i < registry->count; i++) {
        const struct installer_tag *t = &registry->tags[i];
        struct buffer index = BUFFER_INIT;
        char digest[BUNDLE_DIGEST_SIZE];
        installer_index_build(t->images, t->count, &index);
        int rc = bundle_writer_add_blob_bytes(w, index.data, index.len, OCI_MEDIA_TYPE_INDEX, digest, err);
        buffer_free(&index);
        if (rc == 0)
            rc = bundle_writer_add_image(w, t->repository, t->version, digest, err);
        if (rc == 0)
            rc = installer_sign(w, key_path, t->repository, digest, NULL, err);
        if (rc != 0)
            return error_prefix(err, "installer image %s:%s: ", t->repository, t->version);
    }
    return 0;
}

void installer_registry_free(struct installer_registry *registry)
{
    if (!registry)
        return;
    for (size_t i = 0; i < registry->count; i++) {
        free(registry->tags[i].repository);
        free(registry->tags[i].version);
        free(registry->tags[i].images);
    }
    free(registry->tags);
    free(registry);
}
