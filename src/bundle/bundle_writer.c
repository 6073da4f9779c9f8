/* bundle_writer — see bundle_writer.h.
 *
 * Rows are staged in an in-memory SQLite database with the final schema (its PRIMARY KEYs catch
 * conflicting rows as they arrive). Commit writes index.db with `VACUUM INTO`: SQLite copies
 * every table in primary-key order into a fresh file in one transaction, so the file's bytes
 * depend only on the set of rows — not on the order builders added them — and hold no free
 * pages or journal leftovers. */
#include "bundle/bundle_writer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base64.h"
#include "airfactory/buffer.h"
#include "airfactory/bundle_key.h"
#include "bundle/bundle_schema.h"
#include "bundle/bundle_staging.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/memory.h"

#define COPY_CHUNK (1 << 20)
#define MANIFEST_MAX (4u << 20) /* OCI manifests are kilobytes; registries cap them at 4 MiB */
#define MEDIA_TYPE_MAX 255

static const char *const reserved_meta[] = {"format_version",   "builder",    "created", "signing_key",
                                            "oci_index_digest", "generation", "built_at"};

/* ---- staged tables ---- */

enum table {
    T_META,
    T_BLOBS,
    T_SCHEMATICS,
    T_VERSIONS,
    T_EXTENSIONS,
    T_OVERLAYS,
    T_ASSETS,
    T_IMAGES,
    T_REPOSITORY_BLOBS,
    T_REFERRERS,
    T_SOURCES,
    T_PROVENANCE,
    T_PUBLIC_KEYS,
    T_TALOSCTL,
    T_SCHEMATIC_NAMES,
    T_COUNT,
};

struct table_info {
    const char *name;
    int columns;
    int key_columns;  /* the first key_columns columns are the PRIMARY KEY */
    unsigned integer; /* bit i: column i is INTEGER */
    const char *column_names[7];
};

static const struct table_info tables[T_COUNT] = {
    [T_META] = {"meta", 2, 1, 0, {"key", "value"}},
    [T_BLOBS] = {"blobs", 3, 1, 1u << 1, {"digest", "size", "media_type"}},
    [T_SCHEMATICS] = {"schematics", 2, 1, 0, {"id", "yaml"}},
    [T_VERSIONS] = {"versions", 2, 1, 1u << 1, {"version", "sort_key"}},
    [T_EXTENSIONS] = {"extensions", 6, 2, 0, {"version", "name", "ref", "digest", "author", "description"}},
    [T_OVERLAYS] = {"overlays", 5, 2, 0, {"version", "name", "image", "ref", "digest"}},
    [T_ASSETS] = {"assets", 7, 3, 1u << 4, {"schematic", "version", "path", "digest", "size", "media_type", "cache_key"}},
    [T_IMAGES] = {"images", 3, 2, 0, {"repository", "tag", "digest"}},
    [T_REPOSITORY_BLOBS] = {"repository_blobs", 2, 2, 0, {"repository", "digest"}},
    [T_REFERRERS] = {"referrers", 4, 3, 0, {"repository", "subject", "digest", "artifact_type"}},
    [T_SOURCES] = {"sources", 5, 2, 0, {"reference", "digest", "platform", "role", "receipt"}},
    [T_PROVENANCE] = {"provenance", 6, 4, 0, {"schematic", "version", "path", "source_digest", "profile", "builder"}},
    [T_PUBLIC_KEYS] = {"public_keys", 2, 1, 0, {"name", "pem"}},
    [T_TALOSCTL] = {"talosctl", 3, 2, 0, {"version", "name", "digest"}},
    [T_SCHEMATIC_NAMES] = {"schematic_names", 2, 1, 0, {"id", "name"}},
};

struct value {
    const char *text; /* text columns */
    int64_t integer;  /* INTEGER columns */
};

struct bundle_writer {
    struct bundle_staging staging;
    struct bundle_key *key;
    sqlite3 *db; /* staging: the final schema, in memory */
    sqlite3_stmt *insert[T_COUNT];
    sqlite3_stmt *same[T_COUNT];
    struct bundle *base;
    char *blob_dir;    /* <tmp>/blobs/sha256 */
    char *scratch_dir; /* <tmp>/.scratch */
    int journal_fd;    /* <tmp>/.resume, O_APPEND */
    char *builder;
    int64_t created;
    int64_t built_at;
    bool allow_downgrade;
    bool have_base_freshness, have_target_freshness;
    struct bundle_freshness base_freshness, target_freshness;
    char base_content[SHA256_HEX_LEN + 1]; /* content_digest of the base, "" without one */
    struct bundle_writer_stats stats;
};

static int db_error(struct bundle_writer *w, const char *what, struct error *err)
{
    return error_set(err, ERROR_RUNTIME, "bundle index (%s): %s: %s", w->staging.target, what, sqlite3_errmsg(w->db));
}

static int exec(struct bundle_writer *w, const char *sql, struct error *err)
{
    char *message = NULL;
    if (sqlite3_exec(w->db, sql, NULL, NULL, &message) != SQLITE_OK) {
        error_set(err, ERROR_RUNTIME, "bundle index (%s): %s: %s", w->staging.target, sql, message ? message : "failed");
        sqlite3_free(message);
        return -1;
    }
    return 0;
}

static int prepare_tables(struct bundle_writer *w, struct error *err)
{
    for (int t = 0; t < T_COUNT; t++) {
        const struct table_info *ti = &tables[t];
        struct buffer ins = BUFFER_INIT, same = BUFFER_INIT;
        buffer_appendf(&ins, "INSERT INTO %s VALUES (", ti->name);
        buffer_appendf(&same, "SELECT count(*) FROM %s WHERE ", ti->name);
        for (int c = 0; c < ti->columns; c++) {
            buffer_appendf(&ins, "%s?%d", c ? ", " : "", c + 1);
            buffer_appendf(&same, "%s%s IS ?%d", c ? " AND " : "", ti->column_names[c], c + 1);
        }
        if (t == T_BLOBS) /* one file, several media types: keep the smallest (order-independent) */
            buffer_append_str(&ins, ") ON CONFLICT(digest) DO UPDATE SET media_type ="
                                    " min(media_type, excluded.media_type)");
        else
            buffer_append_str(&ins, ") ON CONFLICT DO NOTHING");
        int rc = sqlite3_prepare_v3(w->db, ins.data, -1, SQLITE_PREPARE_PERSISTENT, &w->insert[t], NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_prepare_v3(w->db, same.data, -1, SQLITE_PREPARE_PERSISTENT, &w->same[t], NULL);
        buffer_free(&ins);
        buffer_free(&same);
        if (rc != SQLITE_OK)
            return db_error(w, ti->name, err);
    }
    return 0;
}

static void bind_values(sqlite3_stmt *st, const struct table_info *ti, const struct value *v)
{
    sqlite3_reset(st);
    for (int c = 0; c < ti->columns; c++) {
        if (ti->integer & (1u << c))
            sqlite3_bind_int64(st, c + 1, v[c].integer);
        else
            sqlite3_bind_text(st, c + 1, v[c].text, -1, SQLITE_TRANSIENT);
    }
}

/* Insert one row; identical duplicates are fine, a different row under the same key is not. */
static int stage_row(struct bundle_writer *w, enum table t, const struct value *v, struct error *err)
{
    const struct table_info *ti = &tables[t];
    sqlite3_stmt *st = w->insert[t];
    bind_values(st, ti, v);
    if (sqlite3_step(st) != SQLITE_DONE) {
        sqlite3_reset(st);
        return db_error(w, ti->name, err);
    }
    sqlite3_reset(st);
    if (t == T_BLOBS || sqlite3_changes(w->db) > 0)
        return 0;
    sqlite3_stmt *q = w->same[t];
    bind_values(q, ti, v);
    int same = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : -1;
    sqlite3_reset(q);
    if (same > 0)
        return 0;
    if (same < 0)
        return db_error(w, ti->name, err);
    struct buffer key = BUFFER_INIT;
    for (int c = 0; c < ti->key_columns; c++)
        buffer_appendf(&key, "%s%s=%s", c ? ", " : "", ti->column_names[c], v[c].text);
    error_set(err, ERROR_INPUT,
              "bundle %s: two different %s rows for %s; each key may have one value "
              "(a duplicate model in the manifest?)",
              w->staging.target, ti->name, buffer_cstr(&key));
    buffer_free(&key);
    return -1;
}

/* ---- validation ---- */

static bool printable(const char *s, bool allow_space)
{
    if (!s || !*s)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || (!allow_space && *p == ' '))
            return false;
    return true;
}

static int need_text(const char *what, const char *value, bool allow_space, struct error *err)
{
    if (!printable(value, allow_space))
        return error_set(err, ERROR_INPUT, "%s '%s': must be non-empty %s text without control characters", what,
                         value ? value : "(null)", allow_space ? "" : "space-free");
    return 0;
}

static int need_digest(const char *what, const char *digest, char hex[SHA256_HEX_LEN + 1], struct error *err)
{
    char local[SHA256_HEX_LEN + 1];
    if (!digest)
        return error_set(err, ERROR_INPUT, "%s: missing digest", what);
    if (digest_parse(digest, hex ? hex : local, err) != 0)
        return error_prefix(err, "%s: ", what);
    return 0;
}

static int need_version(const char *version, struct error *err)
{
    if (!bundle_version_valid(version))
        return error_set(err, ERROR_INPUT,
                         "version '%s': not a Talos version (expected v<major>.<minor>.<patch>, "
                         "e.g. v1.10.3)",
                         version ? version : "(null)");
    return 0;
}

static int need_schematic_id(const char *id, struct error *err)
{
    if (!id || !sha256_hex_valid(id))
        return error_set(err, ERROR_INPUT, "schematic id '%s': expected 64 lowercase hex digits", id ? id : "(null)");
    return 0;
}

/* OCI distribution spec: path components [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*, joined by '/'. */
static int need_repository(const char *repository, struct error *err)
{
    const char *p = repository;
    bool ok = p && *p && strlen(p) <= 255;
    while (ok && *p) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))) {
            ok = false;
            break;
        }
        while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
            p++;
        if (*p == '/' || *p == '.' || *p == '_' || *p == '-') {
            if (*p == '/' || *p == '.')
                p++;
            else if (*p == '_')
                p += p[1] == '_' ? 2 : 1;
            else
                while (*p == '-')
                    p++;
            if (!*p)
                ok = false;
        } else if (*p) {
            ok = false;
        }
    }
    if (!ok)
        return error_set(err, ERROR_INPUT,
                         "repository '%s': not an OCI repository name (lowercase "
                         "letters, digits, '.', '_', '-', components joined by '/')",
                         repository ? repository : "(null)");
    return 0;
}

/* OCI distribution spec tag: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127} */
static int need_tag(const char *tag, struct error *err)
{
    bool ok = tag && *tag && strlen(tag) <= 128 && *tag != '.' && *tag != '-';
    for (const char *p = tag; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
             *p == '.' || *p == '-';
    if (!ok)
        return error_set(err, ERROR_INPUT, "tag '%s': not an OCI tag ([A-Za-z0-9_][A-Za-z0-9._-]{0,127})",
                         tag ? tag : "(null)");
    return 0;
}

static int need_asset_path(const char *path, struct error *err)
{
    if (!printable(path, false) || strchr(path, '/') || !strcmp(path, ".") || !strcmp(path, "..") || strlen(path) > 255)
        return error_set(err, ERROR_INPUT,
                         "asset path '%s': must be an Image Factory file name "
                         "(e.g. metal-amd64.iso), without '/' or spaces",
                         path ? path : "(null)");
    return 0;
}

static int need_media_type(const char *media_type, struct error *err)
{
    if (!printable(media_type, false) || strlen(media_type) > MEDIA_TYPE_MAX || !strchr(media_type, '/'))
        return error_set(err, ERROR_INPUT, "media type '%s': expected type/subtype, at most %d characters",
                         media_type ? media_type : "(null)", MEDIA_TYPE_MAX);
    return 0;
}

/* ---- blobs ---- */

struct bundle_blob_stream {
    int fd;
    char *tmp_path;
    struct sha256_stream hash;
    uint64_t size;
};

static char *blob_path(const struct bundle_writer *w, const char *hex)
{
    return path_join(w->blob_dir, hex);
}

static int lookup_blob(struct bundle_writer *w, const char *digest, uint64_t *size, char *media_type,
                       size_t media_type_size)
{
    sqlite3_stmt *st = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(w->db, "SELECT size, media_type FROM blobs WHERE digest = ?1", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        found = 1;
        if (size)
            *size = (uint64_t)sqlite3_column_int64(st, 0);
        if (media_type)
            snprintf(media_type, media_type_size, "%s", (const char *)sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
    return found;
}

bool bundle_writer_has_blob(struct bundle_writer *w, const char *digest)
{
    return lookup_blob(w, digest, NULL, NULL, 0) == 1;
}

static int register_blob(struct bundle_writer *w, const char *hex, uint64_t size, const char *media_type,
                         char digest_out[BUNDLE_DIGEST_SIZE], struct error *err)
{
    char digest[BUNDLE_DIGEST_SIZE];
    snprintf(digest, sizeof digest, "sha256:%s", hex);
    struct value v[3] = {{digest, 0}, {NULL, (int64_t)size}, {media_type, 0}};
    if (stage_row(w, T_BLOBS, v, err) != 0)
        return -1;
    if (digest_out)
        memcpy(digest_out, digest, sizeof digest);
    BUNDLE_TEST_POINT("writer-blob-added");
    return 0;
}

int bundle_writer_blob_begin(struct bundle_writer *w, struct bundle_blob_stream **out, struct error *err)
{
    struct bundle_blob_stream *s = xcalloc(1, sizeof *s);
    s->tmp_path = path_join(w->scratch_dir, "blob-XXXXXX");
    s->fd = mkostemp(s->tmp_path, O_CLOEXEC);
    if (s->fd < 0) {
        int saved = errno;
        free(s->tmp_path);
        free(s);
        return error_errno(err, saved, "%s: cannot create a blob file", w->scratch_dir);
    }
    sha256_stream_init(&s->hash);
    *out = s;
    return 0;
}

int bundle_blob_stream_write(struct bundle_blob_stream *s, const void *data, size_t len, struct error *err)
{
    if (fs_write_all(s->fd, data, len, s->tmp_path, err) != 0)
        return -1;
    sha256_stream_update(&s->hash, data, len);
    s->size += len;
    return 0;
}

static void stream_free(struct bundle_blob_stream *s, bool remove_file)
{
    if (s->fd >= 0)
        close(s->fd);
    if (remove_file && s->tmp_path)
        unlink(s->tmp_path);
    free(s->tmp_path);
    free(s);
}

void bundle_writer_blob_cancel(struct bundle_writer *w, struct bundle_blob_stream *s)
{
    (void)w;
    if (!s)
        return;
    sha256_stream_abort(&s->hash);
    stream_free(s, true);
}

/* fsync + 0444 + rename into blobs/sha256/<hex>. Renaming over an existing name is always right:
 * the new file's bytes were just hashed, an existing file may be a leftover of a crashed run. */
static int place_blob(struct bundle_writer *w, int fd, const char *from, const char *hex, struct error *err)
{
    if (fsync(fd) != 0)
        return error_errno(err, errno, "%s: fsync failed", from);
    if (fchmod(fd, 0444) != 0)
        return error_errno(err, errno, "%s: chmod failed", from);
    char *to = blob_path(w, hex);
    int rc = 0;
    if (rename(from, to) != 0)
        rc = error_errno(err, errno, "%s: cannot rename to %s", from, to);
    free(to);
    return rc;
}

int bundle_writer_blob_finish(struct bundle_writer *w, struct bundle_blob_stream *s, const char *media_type,
                              char digest[BUNDLE_DIGEST_SIZE], uint64_t *size, struct error *err)
{
    char hex[SHA256_HEX_LEN + 1];
    sha256_stream_final_hex(&s->hash, hex);
    if (need_media_type(media_type, err) != 0 || place_blob(w, s->fd, s->tmp_path, hex, err) != 0) {
        stream_free(s, true);
        return -1;
    }
    uint64_t n = s->size;
    stream_free(s, false);
    if (register_blob(w, hex, n, media_type, digest, err) != 0)
        return -1;
    w->stats.blobs_added++;
    w->stats.bytes_added += n;
    if (size)
        *size = n;
    return 0;
}

int bundle_writer_add_blob_bytes(struct bundle_writer *w, const void *data, size_t len, const char *media_type,
                                 char digest[BUNDLE_DIGEST_SIZE], struct error *err)
{
    struct bundle_blob_stream *s;
    if (bundle_writer_blob_begin(w, &s, err) != 0)
        return -1;
    if (bundle_blob_stream_write(s, data, len, err) != 0) {
        bundle_writer_blob_cancel(w, s);
        return -1;
    }
    return bundle_writer_blob_finish(w, s, media_type, digest, NULL, err);
}

static int copy_in(struct bundle_writer *w, const char *path, const char *media_type, char hex_out[SHA256_HEX_LEN + 1],
                   uint64_t *size, struct error *err)
{
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return error_errno(err, errno, "%s: cannot open", path);
    struct bundle_blob_stream *s;
    if (bundle_writer_blob_begin(w, &s, err) != 0) {
        close(in);
        return -1;
    }
    char *buf = xmalloc(COPY_CHUNK);
    int rc = 0;
    for (;;) {
        ssize_t n = read(in, buf, COPY_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = error_errno(err, errno, "%s: read failed", path);
            break;
        }
        if (n == 0)
            break;
        if (bundle_blob_stream_write(s, buf, (size_t)n, err) != 0) {
            rc = -1;
            break;
        }
    }
    free(buf);
    close(in);
    if (rc != 0) {
        bundle_writer_blob_cancel(w, s);
        return -1;
    }
    /* finish registers the blob; the caller checks expected digests before that (see below) */
    sha256_stream_final_hex(&s->hash, hex_out);
    *size = s->size;
    if (need_media_type(media_type, err) != 0 || place_blob(w, s->fd, s->tmp_path, hex_out, err) != 0) {
        stream_free(s, true);
        return -1;
    }
    stream_free(s, false);
    return 0;
}

static bool cross_device(int e)
{
    return e == EXDEV || e == EPERM || e == EMLINK || e == EOPNOTSUPP;
}

/* MOVE or LINK an already hashed file into blobs/sha256/<hex>; across file systems, copy (and
 * check the copy hashes the same: the source may have changed since it was hashed). */
static int place_file(struct bundle_writer *w, const char *path, enum bundle_blob_mode mode, const char *media_type,
                      const char *hex, struct error *err)
{
    char *to = blob_path(w, hex);
    int rc = 0;
    bool copy = false;
    if (mode == BUNDLE_BLOB_MOVE) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            rc = error_errno(err, errno, "%s: cannot open", path);
        } else {
            if (fsync(fd) != 0)
                rc = error_errno(err, errno, "%s: fsync failed", path);
            else if (fchmod(fd, 0444) != 0)
                rc = error_errno(err, errno, "%s: chmod failed", path);
            close(fd);
        }
        if (rc == 0 && rename(path, to) != 0) {
            if (errno == EXDEV)
                copy = true;
            else
                rc = error_errno(err, errno, "%s: cannot move to %s", path, to);
        }
    } else {
        /* a file of the same name can only be a leftover of an interrupted run: replace it */
        if (unlink(to) != 0 && errno != ENOENT)
            rc = error_errno(err, errno, "%s: cannot remove", to);
        else if (link(path, to) != 0) {
            if (cross_device(errno))
                copy = true;
            else
                rc = error_errno(err, errno, "%s: cannot link to %s", path, to);
        }
    }
    if (rc == 0 && copy) {
        char again[SHA256_HEX_LEN + 1];
        uint64_t n;
        rc = copy_in(w, path, media_type, again, &n, err);
        if (rc == 0 && strcmp(again, hex) != 0) {
            unlink(to);
            char *moved = path_join(w->blob_dir, again);
            unlink(moved);
            free(moved);
            rc = error_set(err, ERROR_INPUT, "%s: changed while being added", path);
        }
        if (rc == 0 && mode == BUNDLE_BLOB_MOVE && unlink(path) != 0)
            rc = error_errno(err, errno, "%s: cannot remove after copying", path);
    }
    free(to);
    return rc;
}

int bundle_writer_add_blob_file(struct bundle_writer *w, const char *path, const char *media_type,
                                enum bundle_blob_mode mode, const char *expected_digest,
                                char digest[BUNDLE_DIGEST_SIZE], uint64_t *size, struct error *err)
{
    char hex[SHA256_HEX_LEN + 1], expected_hex[SHA256_HEX_LEN + 1];
    uint64_t n = 0;
    if (expected_digest && need_digest(path, expected_digest, expected_hex, err) != 0)
        return -1;
    if (need_media_type(media_type, err) != 0)
        return -1;
    bool copied = false;
    if (mode == BUNDLE_BLOB_COPY) {
        if (copy_in(w, path, media_type, hex, &n, err) != 0)
            return -1;
        copied = true;
    } else {
        if (sha256_file_hex(path, hex, &n, err) != 0)
            return -1;
    }
    if (expected_digest && strcmp(hex, expected_hex) != 0) {
        if (copied) {
            /* already placed under its true name: take it back out unless something else listed it */
            char d[BUNDLE_DIGEST_SIZE];
            snprintf(d, sizeof d, "sha256:%s", hex);
            if (!bundle_writer_has_blob(w, d)) {
                char *p = blob_path(w, hex);
                unlink(p);
                free(p);
            }
        }
        return error_set(err, ERROR_INPUT,
                         "%s: content is sha256:%s, expected %s; the file changed or is not "
                         "what was declared",
                         path, hex, expected_digest);
    }
    char known[BUNDLE_DIGEST_SIZE];
    snprintf(known, sizeof known, "sha256:%s", hex);
    if (!copied && bundle_writer_has_blob(w, known)) {
        /* the bundle has these bytes already: nothing to place */
        if (mode == BUNDLE_BLOB_MOVE && unlink(path) != 0)
            return error_errno(err, errno, "%s: cannot remove after adding", path);
    } else if (!copied && place_file(w, path, mode, media_type, hex, err) != 0) {
        return -1;
    }
    if (register_blob(w, hex, n, media_type, digest, err) != 0)
        return -1;
    w->stats.blobs_added++;
    w->stats.bytes_added += n;
    if (size)
        *size = n;
    return 0;
}

/* Link (or copy) a base blob into the new bundle after checking its size. 1 done, 0 unusable. */
static int adopt_base_blob(struct bundle_writer *w, const char *digest, const char *hex, uint64_t size,
                           const char *media_type, struct error *err)
{
    char *from = bundle_blob_path(w->base, digest);
    char *to = blob_path(w, hex);
    int rc = 0;
    struct stat st;
    if (!from || stat(from, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
        goto out; /* missing or damaged in the base: a miss, the caller rebuilds */
    unlink(to);
    if (link(from, to) != 0) {
        if (!cross_device(errno)) {
            rc = error_errno(err, errno, "%s: cannot link to %s", from, to);
            goto out;
        }
        char again[SHA256_HEX_LEN + 1];
        uint64_t n;
        if (copy_in(w, from, media_type, again, &n, err) != 0) {
            rc = -1;
            goto out;
        }
        if (strcmp(again, hex) != 0 || n != size) {
            unlink(to);
            goto out;
        }
    }
    rc = register_blob(w, hex, size, media_type, NULL, err) == 0 ? 1 : -1;
    if (rc == 1) {
        w->stats.blobs_reused++;
        w->stats.bytes_reused += size;
    }
out:
    free(from);
    free(to);
    return rc;
}

/* A blob file an interrupted run left in the adopted directory: usable only if it re-hashes. */
static int adopt_resumed_blob(struct bundle_writer *w, const char *hex, const char *media_type, uint64_t *size,
                              struct error *err)
{
    char *path = blob_path(w, hex);
    char got[SHA256_HEX_LEN + 1];
    uint64_t n = 0;
    struct error ignored;
    int rc = 0;
    if (fs_exists(path)) {
        if (sha256_file_hex(path, got, &n, &ignored) == 0 && !strcmp(got, hex)) {
            rc = register_blob(w, hex, n, media_type, NULL, err) == 0 ? 1 : -1;
            if (rc == 1) {
                w->stats.blobs_reused++;
                w->stats.bytes_reused += n;
                if (size)
                    *size = n;
            }
        } else {
            unlink(path);
        }
    }
    free(path);
    return rc;
}

int bundle_writer_reuse_blob(struct bundle_writer *w, const char *digest, const char *media_type, struct error *err)
{
    char hex[SHA256_HEX_LEN + 1];
    if (need_digest("reuse", digest, hex, err) != 0 || need_media_type(media_type, err) != 0)
        return -1;
    if (bundle_writer_has_blob(w, digest))
        return 1;
    if (w->base) {
        struct bundle_blob info;
        int found = bundle_find_blob(w->base, digest, &info, err);
        if (found < 0)
            return -1;
        if (found) {
            int rc = adopt_base_blob(w, digest, hex, info.size, media_type, err);
            if (rc != 0)
                return rc;
        }
    }
    if (w->staging.resumed)
        return adopt_resumed_blob(w, hex, media_type, NULL, err);
    return 0;
}

int bundle_writer_reuse_asset(struct bundle_writer *w, const char *cache_key, struct bundle_writer_hit *hit,
                              struct error *err)
{
    if (need_text("cache key", cache_key, false, err) != 0)
        return -1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(w->db,
                           "SELECT digest, size, media_type, origin FROM temp.reuse WHERE cache_key = ?1"
                           " ORDER BY origin",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(w, "reuse lookup", err);
    sqlite3_bind_text(st, 1, cache_key, -1, SQLITE_STATIC);
    int rc = 0;
    while (rc == 0) {
        int step = sqlite3_step(st);
        if (step == SQLITE_DONE)
            break;
        if (step != SQLITE_ROW) {
            rc = db_error(w, "reuse lookup", err);
            break;
        }
        const char *digest = (const char *)sqlite3_column_text(st, 0);
        uint64_t size = (uint64_t)sqlite3_column_int64(st, 1);
        const char *media_type = (const char *)sqlite3_column_text(st, 2);
        bool from_resume = !strcmp((const char *)sqlite3_column_text(st, 3), "resume");
        char hex[SHA256_HEX_LEN + 1];
        struct error ignored;
        if (digest_parse(digest, hex, &ignored) != 0)
            continue;
        if (bundle_writer_has_blob(w, digest))
            rc = 1;
        else if (from_resume)
            rc = adopt_resumed_blob(w, hex, media_type, &size, err);
        else
            rc = adopt_base_blob(w, digest, hex, size, media_type, err);
        if (rc == 1) {
            memset(hit, 0, sizeof *hit);
            snprintf(hit->digest, sizeof hit->digest, "%s", digest);
            hit->size = size;
            snprintf(hit->media_type, sizeof hit->media_type, "%s", media_type);
            hit->from_resume = from_resume;
            w->stats.assets_reused++;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- rows ---- */

static bool sha256_of_text_is(const char *text, const char *hex)
{
    char got[SHA256_HEX_LEN + 1];
    sha256_hex(text, strlen(text), got);
    return !strcmp(got, hex);
}

int bundle_writer_add_schematic(struct bundle_writer *w, const char *id, const char *yaml, struct error *err)
{
    if (need_schematic_id(id, err) != 0)
        return -1;
    if (!yaml || !sha256_of_text_is(yaml, id))
        return error_set(err, ERROR_INPUT,
                         "schematic %s: the YAML given does not hash to this id; pass the "
                         "canonical YAML the id was computed from",
                         id);
    struct value v[2] = {{id, 0}, {yaml, 0}};
    return stage_row(w, T_SCHEMATICS, v, err);
}

int bundle_writer_add_version(struct bundle_writer *w, const char *version, struct error *err)
{
    if (need_version(version, err) != 0)
        return -1;
    struct value v[2] = {{version, 0}, {NULL, 0}};
    return stage_row(w, T_VERSIONS, v, err);
}

int bundle_writer_add_extension(struct bundle_writer *w, const struct bundle_extension *e, struct error *err)
{
    if (need_version(e->version, err) != 0 || need_text("extension name", e->name, false, err) != 0 ||
        need_text("extension ref", e->ref, false, err) != 0 || need_digest(e->name, e->digest, NULL, err) != 0)
        return -1;
    struct value v[6] = {{e->version, 0},
                         {e->name, 0},
                         {e->ref, 0},
                         {e->digest, 0},
                         {e->author ? e->author : "", 0},
                         {e->description ? e->description : "", 0}};
    return stage_row(w, T_EXTENSIONS, v, err);
}

int bundle_writer_add_overlay(struct bundle_writer *w, const struct bundle_overlay *o, struct error *err)
{
    if (need_version(o->version, err) != 0 || need_text("overlay name", o->name, false, err) != 0 ||
        need_text("overlay image", o->image, false, err) != 0 || need_text("overlay ref", o->ref, false, err) != 0 ||
        need_digest(o->name, o->digest, NULL, err) != 0)
        return -1;
    struct value v[5] = {{o->version, 0}, {o->name, 0}, {o->image, 0}, {o->ref, 0}, {o->digest, 0}};
    return stage_row(w, T_OVERLAYS, v, err);
}

static int journal(struct bundle_writer *w, const char *cache_key, const char *digest, uint64_t size,
                   const char *media_type, struct error *err)
{
    if (w->journal_fd < 0)
        return 0;
    char *line = xasprintf("asset\t%s\t%s\t%" PRIu64 "\t%s\n", cache_key, digest, size, media_type);
    /* not fsynced: after a power loss a lost line only means a rebuild, and resumed blobs are
     * re-hashed before use */
    int rc = fs_write_all(w->journal_fd, line, strlen(line), BUNDLE_STAGING_RESUME_FILE, err);
    free(line);
    return rc;
}

int bundle_writer_add_asset(struct bundle_writer *w, const char *schematic, const char *version, const char *path,
                            const char *digest, const char *cache_key, struct error *err)
{
    if (need_schematic_id(schematic, err) != 0 || need_version(version, err) != 0 || need_asset_path(path, err) != 0 ||
        need_digest(path, digest, NULL, err) != 0 || need_text("cache key", cache_key, false, err) != 0)
        return -1;
    uint64_t size = 0;
    if (lookup_blob(w, digest, &size, NULL, 0) != 1)
        return error_set(err, ERROR_INPUT, "asset %s/%s/%s: blob %s is not in the bundle; add the blob first",
                         schematic, version, path, digest);
    const char *media_type = bundle_asset_media_type(path);
    struct value v[7] = {{schematic, 0},        {version, 0},    {path, 0},     {digest, 0},
                         {NULL, (int64_t)size}, {media_type, 0}, {cache_key, 0}};
    if (stage_row(w, T_ASSETS, v, err) != 0)
        return -1;
    return journal(w, cache_key, digest, size, media_type, err);
}

static bool is_index_type(const char *media_type)
{
    return !strcmp(media_type, "application/vnd.oci.image.index.v1+json") ||
           !strcmp(media_type, "application/vnd.docker.distribution.manifest.list.v2+json");
}

static bool is_manifest_type(const char *media_type)
{
    return !strcmp(media_type, "application/vnd.oci.image.manifest.v1+json") ||
           !strcmp(media_type, "application/vnd.docker.distribution.manifest.v2+json");
}

static int add_repository_blob_row(struct bundle_writer *w, const char *repository, const char *digest, struct error *err)
{
    struct value v[2] = {{repository, 0}, {digest, 0}};
    return stage_row(w, T_REPOSITORY_BLOBS, v, err);
}

static int need_listed(struct bundle_writer *w, const char *repository, const char *parent, const char *digest,
                       struct error *err)
{
    char hex[SHA256_HEX_LEN + 1];
    if (!digest || digest_parse(digest, hex, err) != 0)
        return error_set(err, ERROR_INPUT, "%s: manifest %s has a descriptor without a valid sha256 digest", repository,
                         parent);
    if (!bundle_writer_has_blob(w, digest))
        return error_set(err, ERROR_INPUT,
                         "%s: manifest %s references %s, which is not in the bundle; add "
                         "every blob of an image before tagging it",
                         repository, parent, digest);
    return 0;
}

/* Record digest and everything reachable from it in repository_blobs. */
static int walk_manifest(struct bundle_writer *w, const char *repository, const char *digest, int depth, bool partial,
                         struct error *err)
{
    char media_type[MEDIA_TYPE_MAX + 1];
    uint64_t size = 0;
    if (lookup_blob(w, digest, &size, media_type, sizeof media_type) != 1)
        return error_set(err, ERROR_INPUT, "%s: manifest %s is not in the bundle; add it first", repository, digest);
    if (add_repository_blob_row(w, repository, digest, err) != 0)
        return -1;
    bool index = is_index_type(media_type);
    if (!index && !is_manifest_type(media_type))
        return error_set(err, ERROR_INPUT, "%s: %s has media type %s, not an OCI/Docker manifest or index", repository,
                         digest, media_type);
    if (depth > 4)
        return error_set(err, ERROR_INPUT, "%s: %s: image indexes nested too deeply", repository, digest);
    if (size > MANIFEST_MAX)
        return error_set(err, ERROR_INPUT, "%s: manifest %s is larger than 4 MiB", repository, digest);
    char hex[SHA256_HEX_LEN + 1];
    if (digest_parse(digest, hex, err) != 0)
        return -1;
    char *path = blob_path(w, hex);
    struct buffer text = BUFFER_INIT;
    struct json_value *doc = NULL;
    int rc = fs_read_file(path, MANIFEST_MAX, &text, err);
    free(path);
    if (rc == 0)
        rc = json_parse(text.data ? text.data : "", text.len, digest, &doc, err);
    buffer_free(&text);
    if (rc != 0)
        return error_prefix(err, "%s: ", repository);
    if (index) {
        const struct json_value *list = json_object_get_array(doc, "manifests");
        for (size_t i = 0; rc == 0 && list && i < list->count; i++) {
            const char *child = json_object_get_string(list->items[i], "digest");
            if (partial && child && !bundle_writer_has_blob(w, child))
                continue; /* a platform the image was not imported with */
            rc = need_listed(w, repository, digest, child, err);
            if (rc == 0)
                rc = walk_manifest(w, repository, child, depth + 1, partial, err);
        }
    } else {
        const struct json_value *config = json_object_get_object(doc, "config");
        const char *config_digest = config ? json_object_get_string(config, "digest") : NULL;
        rc = need_listed(w, repository, digest, config_digest, err);
        if (rc == 0)
            rc = add_repository_blob_row(w, repository, config_digest, err);
        const struct json_value *layers = json_object_get_array(doc, "layers");
        for (size_t i = 0; rc == 0 && layers && i < layers->count; i++) {
            const char *layer = json_object_get_string(layers->items[i], "digest");
            rc = need_listed(w, repository, digest, layer, err);
            if (rc == 0)
                rc = add_repository_blob_row(w, repository, layer, err);
        }
    }
    json_free(doc);
    return rc;
}

int bundle_writer_add_image(struct bundle_writer *w, const char *repository, const char *tag, const char *digest,
                            struct error *err)
{
    if (need_repository(repository, err) != 0 || need_tag(tag, err) != 0 || need_digest(tag, digest, NULL, err) != 0)
        return -1;
    if (walk_manifest(w, repository, digest, 0, false, err) != 0)
        return -1;
    struct value v[3] = {{repository, 0}, {tag, 0}, {digest, 0}};
    return stage_row(w, T_IMAGES, v, err);
}

int bundle_writer_add_image_subset(struct bundle_writer *w, const char *repository, const char *tag, const char *digest,
                                   struct error *err)
{
    if (need_repository(repository, err) != 0 || (tag && need_tag(tag, err) != 0) ||
        need_digest(repository, digest, NULL, err) != 0)
        return -1;
    if (walk_manifest(w, repository, digest, 0, true, err) != 0)
        return -1;
    if (!tag)
        return 0;
    struct value v[3] = {{repository, 0}, {tag, 0}, {digest, 0}};
    return stage_row(w, T_IMAGES, v, err);
}

int bundle_writer_add_repository_blob(struct bundle_writer *w, const char *repository, const char *digest,
                                      struct error *err)
{
    if (need_repository(repository, err) != 0 || need_digest(repository, digest, NULL, err) != 0)
        return -1;
    if (!bundle_writer_has_blob(w, digest))
        return error_set(err, ERROR_INPUT, "%s: blob %s is not in the bundle; add it first", repository, digest);
    return add_repository_blob_row(w, repository, digest, err);
}

int bundle_writer_add_referrer(struct bundle_writer *w, const char *repository, const char *subject, const char *digest,
                               const char *artifact_type, struct error *err)
{
    if (need_repository(repository, err) != 0 || need_digest("referrer subject", subject, NULL, err) != 0 ||
        need_digest("referrer", digest, NULL, err) != 0 || need_media_type(artifact_type, err) != 0)
        return -1;
    if (walk_manifest(w, repository, digest, 0, false, err) != 0)
        return -1;
    struct value v[4] = {{repository, 0}, {subject, 0}, {digest, 0}, {artifact_type, 0}};
    return stage_row(w, T_REFERRERS, v, err);
}

int bundle_writer_add_source(struct bundle_writer *w, const struct bundle_source *s, struct error *err)
{
    if (need_text("source reference", s->reference, false, err) != 0 ||
        need_digest(s->reference, s->digest, NULL, err) != 0 ||
        need_text("source platform", s->platform, false, err) != 0 || need_text("source role", s->role, false, err) != 0)
        return -1;
    struct json_value *doc = NULL;
    const char *receipt = s->receipt ? s->receipt : "";
    if (json_parse(receipt, strlen(receipt), "receipt", &doc, err) != 0)
        return error_prefix(err, "source %s: ", s->reference);
    json_free(doc);
    struct value v[5] = {{s->reference, 0}, {s->digest, 0}, {s->platform, 0}, {s->role, 0}, {receipt, 0}};
    return stage_row(w, T_SOURCES, v, err);
}

int bundle_writer_add_provenance(struct bundle_writer *w, const struct bundle_provenance *p, struct error *err)
{
    if (need_schematic_id(p->schematic, err) != 0 || need_version(p->version, err) != 0 ||
        need_asset_path(p->path, err) != 0 || need_digest(p->path, p->source_digest, NULL, err) != 0 ||
        need_text("profile", p->profile, true, err) != 0 || need_text("builder", p->builder, true, err) != 0)
        return -1;
    struct value v[6] = {{p->schematic, 0},     {p->version, 0}, {p->path, 0},
                         {p->source_digest, 0}, {p->profile, 0}, {p->builder, 0}};
    return stage_row(w, T_PROVENANCE, v, err);
}

int bundle_writer_add_public_key(struct bundle_writer *w, const char *name, const char *pem, struct error *err)
{
    if (need_text("public key name", name, false, err) != 0)
        return -1;
    if (!pem || !strstr(pem, "-----BEGIN "))
        return error_set(err, ERROR_INPUT, "public key %s: not PEM text", name);
    struct value v[2] = {{name, 0}, {pem, 0}};
    return stage_row(w, T_PUBLIC_KEYS, v, err);
}

int bundle_writer_add_talosctl(struct bundle_writer *w, const char *version, const char *name, const char *digest,
                               struct error *err)
{
    if (need_version(version, err) != 0 || need_text("talosctl file name", name, false, err) != 0 ||
        need_digest(name, digest, NULL, err) != 0)
        return -1;
    if (strncmp(name, "talosctl-", 9) != 0 || strchr(name, '/'))
        return error_set(err, ERROR_INPUT, "talosctl file '%s': expected talosctl-<os>-<arch>[.exe]", name);
    if (lookup_blob(w, digest, NULL, NULL, 0) != 1)
        return error_set(err, ERROR_INPUT, "talosctl %s/%s: blob %s is not in the bundle; add the blob first", version,
                         name, digest);
    struct value v[3] = {{version, 0}, {name, 0}, {digest, 0}};
    return stage_row(w, T_TALOSCTL, v, err);
}

int bundle_writer_add_schematic_name(struct bundle_writer *w, const char *id, const char *name, struct error *err)
{
    if (need_schematic_id(id, err) != 0 || need_text("schematic name", name, false, err) != 0)
        return -1;
    if (strlen(name) > BUNDLE_SCHEMATIC_NAME_MAX)
        return error_set(err, ERROR_INPUT, "schematic %s: name '%.40s...' is longer than %d bytes", id, name,
                         BUNDLE_SCHEMATIC_NAME_MAX);
    struct value v[2] = {{id, 0}, {name, 0}};
    return stage_row(w, T_SCHEMATIC_NAMES, v, err);
}

static int put_meta(struct bundle_writer *w, const char *key, const char *value, struct error *err)
{
    struct value v[2] = {{key, 0}, {value, 0}};
    return stage_row(w, T_META, v, err);
}

int bundle_writer_set_meta(struct bundle_writer *w, const char *key, const char *value, struct error *err)
{
    if (need_text("meta key", key, false, err) != 0)
        return -1;
    for (size_t i = 0; i < sizeof reserved_meta / sizeof reserved_meta[0]; i++)
        if (!strcmp(key, reserved_meta[i]))
            return error_set(err, ERROR_INPUT, "meta %s: set by the bundle writer itself", key);
    if (!value)
        return error_set(err, ERROR_INPUT, "meta %s: missing value", key);
    return put_meta(w, key, value, err);
}

/* ---- another bundle's rows and blobs (bundle_merge) ---- */

static bool has_table(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st = NULL;
    bool found = false;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

static int add_source_blobs(struct bundle_writer *w, struct bundle *source, struct error *err)
{
    sqlite3 *db = bundle_database(source);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT digest, size, media_type FROM blobs ORDER BY digest", -1, &st, NULL) != SQLITE_OK)
        return error_set(err, ERROR_INPUT, "%s: blobs: %s", bundle_dir(source), sqlite3_errmsg(db));
    int rc = 0, step;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *digest = (const char *)sqlite3_column_text(st, 0);
        uint64_t listed = (uint64_t)sqlite3_column_int64(st, 1);
        const char *media_type = (const char *)sqlite3_column_text(st, 2);
        char hex[SHA256_HEX_LEN + 1];
        if (need_digest("blob", digest, hex, err) != 0 || need_media_type(media_type, err) != 0) {
            rc = -1;
            break;
        }
        uint64_t size = 0;
        char *path = bundle_blob_path(source, digest);
        if (lookup_blob(w, digest, &size, NULL, 0) == 1) {
            /* these bytes are in already (another part had them): check this copy, list its media type */
            char got[SHA256_HEX_LEN + 1];
            uint64_t n = 0;
            rc = sha256_file_hex(path, got, &n, err);
            if (rc == 0 && (strcmp(got, hex) != 0 || n != listed))
                rc = error_set(err, ERROR_INPUT,
                               "%s: content is sha256:%s (%" PRIu64 " bytes), the signed index "
                               "lists %s (%" PRIu64 " bytes)",
                               path, got, n, digest, listed);
            if (rc == 0)
                rc = register_blob(w, hex, size, media_type, NULL, err);
            free(path);
            continue;
        }
        rc = bundle_writer_add_blob_file(w, path, media_type, BUNDLE_BLOB_LINK, digest, NULL, &size, err);
        if (rc == 0 && size != listed)
            rc = error_set(err, ERROR_INPUT, "%s: %" PRIu64 " bytes, the signed index lists %" PRIu64, path, size,
                           listed);
        free(path);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = error_set(err, ERROR_INPUT, "%s: blobs: %s", bundle_dir(source), sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc;
}

static bool skipped_meta(const char *key, const char *const *skip, size_t skip_count)
{
    for (size_t i = 0; i < sizeof reserved_meta / sizeof reserved_meta[0]; i++)
        if (!strcmp(key, reserved_meta[i]))
            return true;
    for (size_t i = 0; i < skip_count; i++)
        if (!strcmp(key, skip[i]))
            return true;
    return false;
}

int bundle_writer_add_bundle(struct bundle_writer *w, struct bundle *source, const char *const *skip_meta,
                             size_t skip_meta_count, struct error *err)
{
    if (add_source_blobs(w, source, err) != 0)
        return -1;
    sqlite3 *db = bundle_database(source);
    for (int t = 0; t < T_COUNT; t++) {
        const struct table_info *ti = &tables[t];
        if (t == T_BLOBS || !has_table(db, ti->name))
            continue;
        struct buffer sql = BUFFER_INIT;
        buffer_append_str(&sql, "SELECT ");
        for (int c = 0; c < ti->columns; c++)
            buffer_appendf(&sql, "%s%s", c ? ", " : "", ti->column_names[c]);
        buffer_appendf(&sql, " FROM %s", ti->name);
        sqlite3_stmt *st = NULL;
        int prepared = sqlite3_prepare_v2(db, buffer_cstr(&sql), -1, &st, NULL);
        buffer_free(&sql);
        if (prepared != SQLITE_OK)
            return error_set(err, ERROR_INPUT, "%s: table %s: %s", bundle_dir(source), ti->name, sqlite3_errmsg(db));
        int rc = 0, step;
        while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
            struct value v[7] = {{0}};
            bool null = false;
            for (int c = 0; c < ti->columns; c++) {
                if (ti->integer & (1u << c))
                    v[c].integer = sqlite3_column_int64(st, c);
                else if (!(v[c].text = (const char *)sqlite3_column_text(st, c)))
                    null = true;
            }
            if (null)
                rc = error_set(err, ERROR_INPUT, "%s: table %s: a row with an empty column", bundle_dir(source),
                               ti->name);
            else if (t == T_META && skipped_meta(v[0].text, skip_meta, skip_meta_count))
                continue;
            else
                rc = stage_row(w, (enum table)t, v, err);
        }
        if (rc == 0 && step != SQLITE_DONE)
            rc = error_set(err, ERROR_INPUT, "%s: table %s: %s", bundle_dir(source), ti->name, sqlite3_errmsg(db));
        sqlite3_finalize(st);
        if (rc != 0)
            return -1;
    }
    return 0;
}

void bundle_writer_get_stats(const struct bundle_writer *w, struct bundle_writer_stats *out)
{
    *out = w->stats;
}

const char *bundle_writer_scratch_dir(const struct bundle_writer *w)
{
    return w->scratch_dir;
}

const char *bundle_writer_staging_dir(const struct bundle_writer *w)
{
    return w->staging.tmp;
}

/* ---- open ---- */

static int created_from_environment(int64_t *created, struct error *err)
{
    const char *s = getenv("SOURCE_DATE_EPOCH");
    *created = 0;
    if (!s || !*s)
        return 0;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < 0)
        return error_set(err, ERROR_INPUT, "SOURCE_DATE_EPOCH='%s': expected Unix seconds (a non-negative integer)", s);
    *created = v;
    return 0;
}

static int load_reuse_from_base(struct bundle_writer *w, struct error *err)
{
    sqlite3_stmt *ins = NULL;
    if (sqlite3_prepare_v2(w->db, "INSERT OR IGNORE INTO temp.reuse VALUES (?1, ?2, ?3, ?4, 'base')", -1, &ins, NULL) !=
        SQLITE_OK)
        return db_error(w, "reuse", err);
    sqlite3_stmt *sel = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(bundle_database(w->base),
                           "SELECT cache_key, digest, size, media_type FROM assets ORDER BY cache_key, digest", -1,
                           &sel, NULL) != SQLITE_OK) {
        sqlite3_finalize(ins);
        return error_set(err, ERROR_INPUT, "%s/index.db: cannot read assets: %s", bundle_dir(w->base),
                         sqlite3_errmsg(bundle_database(w->base)));
    }
    while (rc == 0 && sqlite3_step(sel) == SQLITE_ROW) {
        sqlite3_reset(ins);
        sqlite3_bind_text(ins, 1, (const char *)sqlite3_column_text(sel, 0), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 2, (const char *)sqlite3_column_text(sel, 1), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 3, sqlite3_column_int64(sel, 2));
        sqlite3_bind_text(ins, 4, (const char *)sqlite3_column_text(sel, 3), -1, SQLITE_TRANSIENT);
        if (sqlite3_step(ins) != SQLITE_DONE)
            rc = db_error(w, "reuse", err);
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(ins);
    return rc;
}

/* Parse an adopted directory's journal: "asset\t<cache_key>\t<digest>\t<size>\t<media_type>\n". */
static int load_reuse_from_journal(struct bundle_writer *w, struct error *err)
{
    char *path = path_join(w->staging.tmp, BUNDLE_STAGING_RESUME_FILE);
    struct buffer text = BUFFER_INIT;
    int rc = fs_read_file(path, (size_t)64 << 20, &text, err);
    free(path);
    if (rc != 0)
        return -1;
    sqlite3_stmt *ins = NULL;
    if (sqlite3_prepare_v2(w->db, "INSERT OR IGNORE INTO temp.reuse VALUES (?1, ?2, ?3, ?4, 'resume')", -1, &ins,
                           NULL) != SQLITE_OK) {
        buffer_free(&text);
        return db_error(w, "reuse", err);
    }
    char *save = NULL;
    for (char *line = strtok_r(text.data ? text.data : (char[]){0}, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        char *fields[5];
        int n = 0;
        char *fsave = NULL;
        for (char *f = strtok_r(line, "\t", &fsave); f && n < 5; f = strtok_r(NULL, "\t", &fsave))
            fields[n++] = f;
        if (n != 5 || strcmp(fields[0], "asset") != 0)
            continue; /* a torn last line after a crash */
        char *end = NULL;
        unsigned long long size = strtoull(fields[3], &end, 10);
        if (*end)
            continue;
        sqlite3_reset(ins);
        sqlite3_bind_text(ins, 1, fields[1], -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 2, fields[2], -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 3, (int64_t)size);
        sqlite3_bind_text(ins, 4, fields[4], -1, SQLITE_TRANSIENT);
        if (sqlite3_step(ins) != SQLITE_DONE)
            rc = db_error(w, "reuse", err);
    }
    sqlite3_finalize(ins);
    buffer_free(&text);
    return rc;
}

/* What a bundle holds, less its freshness stamp: every row of every table in primary-key order
 * (WITHOUT ROWID tables scan in key order), meta without generation and built_at. Equal digests
 * mean a rebuild changed nothing, so it keeps the base's generation and built_at (and a no-op
 * nightly rebuild stays byte-identical). A table one side lacks hashes as absent. */
static void content_digest(sqlite3 *db, char hex[SHA256_HEX_LEN + 1])
{
    struct sha256_stream h;
    sha256_stream_init(&h);
    for (int t = 0; t < T_COUNT; t++) {
        const char *name = tables[t].name;
        char *sql = t == T_META ? xstrdup("SELECT key, value FROM main.meta WHERE key NOT IN ('generation', "
                                          "'built_at') ORDER BY key")
                                : xasprintf("SELECT * FROM main.%s", name);
        sqlite3_stmt *st = NULL;
        sha256_stream_update(&h, name, strlen(name) + 1);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
            sha256_stream_update(&h, "(absent)", 8);
            free(sql);
            continue;
        }
        free(sql);
        while (sqlite3_step(st) == SQLITE_ROW) {
            int n = sqlite3_column_count(st);
            for (int i = 0; i < n; i++) {
                const unsigned char *text = sqlite3_column_text(st, i);
                uint64_t len = (uint64_t)sqlite3_column_bytes(st, i);
                sha256_stream_update(&h, &len, sizeof len);
                if (text)
                    sha256_stream_update(&h, text, (size_t)len);
            }
            sha256_stream_update(&h, "\n", 1);
        }
        sqlite3_finalize(st);
    }
    sha256_stream_final_hex(&h, hex);
}

static int built_at_now(const struct bundle_writer_options *o, int64_t *out, struct error *err)
{
    if (o->built_at_set) {
        *out = o->built_at;
        return 0;
    }
    if (o->created_set) {
        *out = o->created;
        return 0;
    }
    const char *s = getenv("SOURCE_DATE_EPOCH");
    if (s && *s)
        return created_from_environment(out, err);
    *out = (int64_t)time(NULL);
    return 0;
}

/* The freshness of what the target holds now and of the base, and the early downgrade check:
 * the new bundle is at most (base generation + 1, built_at), so if even that is older than the
 * target the build is refused before anything is built. */
static int load_freshness(struct bundle_writer *w, struct error *err)
{
    if (w->base) {
        if (bundle_read_freshness(w->base, &w->base_freshness, err) != 0)
            return -1;
        w->have_base_freshness = true;
        content_digest(bundle_database(w->base), w->base_content);
    }
    int found = bundle_dir_freshness(w->staging.target, &w->target_freshness, err);
    if (found < 0)
        return -1;
    w->have_target_freshness = found == 1;
    if (!w->have_target_freshness || w->allow_downgrade)
        return 0;
    struct bundle_freshness best = {
        .generation = (w->have_base_freshness ? w->base_freshness.generation : w->target_freshness.generation) + 1,
        .built_at = w->built_at};
    return bundle_freshness_check_not_older("the new bundle (at most)", &best, w->staging.target, &w->target_freshness,
                                            err);
}

static int open_base(struct bundle_writer *w, const struct bundle_writer_options *o, struct error *err)
{
    const char *base = o->base ? o->base : (fs_exists(w->staging.target) ? w->staging.target : NULL);
    if (!base)
        return 0;
    struct error why;
    error_clear(&why);
    int rc;
    if (o->base_public_key_path)
        rc = bundle_open(base, o->base_public_key_path, &w->base, &why);
    else
        rc = bundle_open_with_key(base, w->key, &w->base, &why); /* the signing key's public half */
    if (rc != 0) {
        w->base = NULL;
        if (o->base) {
            *err = why;
            return error_prefix(err, "base bundle %s: ", base);
        }
        snprintf(w->stats.base_note, sizeof w->stats.base_note, "existing bundle not reused: %.400s", why.message);
        return 0;
    }
    snprintf(w->stats.base, sizeof w->stats.base, "%s", base);
    return load_reuse_from_base(w, err);
}

int bundle_writer_open(const struct bundle_writer_options *o, struct bundle_writer **out, struct error *err)
{
    *out = NULL;
    if (!o || !o->target || !o->signing_key_path)
        return error_set(err, ERROR_INPUT, "bundle writer: a target directory and a signing key are required");
    struct bundle_writer *w = xcalloc(1, sizeof *w);
    w->journal_fd = -1;
    w->staging.lock_fd = -1;
    if (o->created_set) {
        w->created = o->created;
    } else if (created_from_environment(&w->created, err) != 0) {
        free(w);
        return -1;
    }
    w->builder = xstrdup(o->builder ? o->builder : "airfactory " AIRFACTORY_VERSION);
    if (bundle_key_load_private(o->signing_key_path, &w->key, err) != 0)
        goto fail;
    if (bundle_staging_open(&w->staging, o->target, !o->no_resume, err) != 0)
        goto fail;
    w->stats.resumed = w->staging.resumed;
    char *blobs = path_join(w->staging.tmp, "blobs");
    w->blob_dir = path_join(blobs, "sha256");
    free(blobs);
    w->scratch_dir = path_join(w->staging.tmp, ".scratch");
    if (fs_mkdir_p(w->blob_dir, 0755, err) != 0 || fs_remove_tree(w->scratch_dir, err) != 0 ||
        fs_mkdir_p(w->scratch_dir, 0700, err) != 0)
        goto fail;

    if (sqlite3_open_v2(":memory:", &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        error_set(err, ERROR_RUNTIME, "bundle writer: cannot open sqlite");
        goto fail;
    }
    if (exec(w, BUNDLE_SCHEMA_SQL, err) != 0 ||
        exec(w,
             "CREATE TEMP TABLE reuse (cache_key TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,"
             " media_type TEXT NOT NULL, origin TEXT NOT NULL, PRIMARY KEY (cache_key, origin))",
             err) != 0 ||
        prepare_tables(w, err) != 0)
        goto fail;
    if (open_base(w, o, err) != 0)
        goto fail;
    w->allow_downgrade = o->allow_downgrade;
    if (built_at_now(o, &w->built_at, err) != 0 || load_freshness(w, err) != 0)
        goto fail;
    if (w->staging.resumed && load_reuse_from_journal(w, err) != 0)
        goto fail;

    char *journal_path = path_join(w->staging.tmp, BUNDLE_STAGING_RESUME_FILE);
    w->journal_fd = open(journal_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (w->journal_fd < 0) {
        error_errno(err, errno, "%s: cannot create", journal_path);
        free(journal_path);
        goto fail;
    }
    free(journal_path);
    *out = w;
    return 0;
fail:
    bundle_writer_abort(w);
    return -1;
}

/* ---- commit ---- */

static void free_writer(struct bundle_writer *w)
{
    for (int t = 0; t < T_COUNT; t++) {
        sqlite3_finalize(w->insert[t]);
        sqlite3_finalize(w->same[t]);
    }
    if (w->db)
        sqlite3_close(w->db);
    bundle_close(w->base);
    bundle_key_free(w->key);
    if (w->journal_fd >= 0)
        close(w->journal_fd);
    free(w->blob_dir);
    free(w->scratch_dir);
    free(w->builder);
    free(w);
}

void bundle_writer_abort(struct bundle_writer *w)
{
    if (!w)
        return;
    bundle_staging_abort(&w->staging);
    free_writer(w);
}

static int compare_versions_qsort(const void *a, const void *b)
{
    return bundle_version_compare(*(char *const *)a, *(char *const *)b);
}

/* sort_key = rank in SemVer order, so ORDER BY sort_key is SemVer order for every reader. */
static int assign_sort_keys(struct bundle_writer *w, struct error *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(w->db, "SELECT version FROM versions", -1, &st, NULL) != SQLITE_OK)
        return db_error(w, "versions", err);
    char **list = NULL;
    size_t count = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        list = xrealloc(list, (count + 1) * sizeof *list);
        list[count++] = xstrdup((const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    if (count > 1)
        qsort(list, count, sizeof *list, compare_versions_qsort);
    int rc = 0;
    if (sqlite3_prepare_v2(w->db, "UPDATE versions SET sort_key = ?1 WHERE version = ?2", -1, &st, NULL) != SQLITE_OK)
        rc = db_error(w, "versions", err);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, (int64_t)i + 1);
        sqlite3_bind_text(st, 2, list[i], -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_error(w, "versions", err);
    }
    sqlite3_finalize(st);
    for (size_t i = 0; i < count; i++)
        free(list[i]);
    free(list);
    return rc;
}

/* index.json: every image as "<repository>:<tag>", in (repository, tag) order, compact JSON. */
static int write_layout(struct bundle_writer *w, char oci_index_digest[BUNDLE_DIGEST_SIZE], struct error *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(w->db,
                           "SELECT i.repository, i.tag, i.digest, b.size, b.media_type FROM images i"
                           " JOIN blobs b ON b.digest = i.digest ORDER BY i.repository, i.tag",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(w, "images", err);
    struct buffer out = BUFFER_INIT;
    struct json_writer j;
    json_writer_init(&j, &out);
    j.escape_html = false;
    json_object_begin(&j);
    json_kv_int(&j, "schemaVersion", 2);
    json_kv_string(&j, "mediaType", "application/vnd.oci.image.index.v1+json");
    json_key(&j, "manifests");
    json_array_begin(&j);
    while (sqlite3_step(st) == SQLITE_ROW) {
        char *ref = xasprintf("%s:%s", sqlite3_column_text(st, 0), sqlite3_column_text(st, 1));
        json_object_begin(&j);
        json_kv_string(&j, "mediaType", (const char *)sqlite3_column_text(st, 4));
        json_kv_string(&j, "digest", (const char *)sqlite3_column_text(st, 2));
        json_kv_int(&j, "size", sqlite3_column_int64(st, 3));
        json_key(&j, "annotations");
        json_object_begin(&j);
        json_kv_string(&j, "org.opencontainers.image.ref.name", ref);
        json_object_end(&j);
        json_object_end(&j);
        free(ref);
    }
    sqlite3_finalize(st);
    json_array_end(&j);
    json_object_end(&j);

    char hex[SHA256_HEX_LEN + 1];
    sha256_hex(out.data, out.len, hex);
    snprintf(oci_index_digest, BUNDLE_DIGEST_SIZE, "sha256:%s", hex);
    char *index_path = path_join(w->staging.tmp, "index.json");
    char *layout_path = path_join(w->staging.tmp, "oci-layout");
    int rc = fs_write_file_atomic(index_path, out.data, out.len, 0644, err);
    if (rc == 0)
        rc = fs_write_file_atomic(layout_path, BUNDLE_OCI_LAYOUT, strlen(BUNDLE_OCI_LAYOUT), 0644, err);
    free(index_path);
    free(layout_path);
    buffer_free(&out);
    return rc;
}

/* Remove whatever the staging directory holds that the new index does not list: blob files an
 * interrupted run made but this run did not add, and stray files. */
static int prune(struct bundle_writer *w, struct error *err)
{
    DIR *d = opendir(w->blob_dir);
    if (!d)
        return error_errno(err, errno, "%s: cannot read directory", w->blob_dir);
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char digest[BUNDLE_DIGEST_SIZE];
        snprintf(digest, sizeof digest, "sha256:%.64s", e->d_name);
        if (sha256_hex_valid(e->d_name) && bundle_writer_has_blob(w, digest))
            continue;
        char *p = path_join(w->blob_dir, e->d_name);
        rc = fs_remove_tree(p, err);
        free(p);
    }
    closedir(d);
    if (rc != 0)
        return -1;
    static const char *const keep[] = {"blobs", ".scratch", BUNDLE_STAGING_RESUME_FILE};
    d = opendir(w->staging.tmp);
    if (!d)
        return error_errno(err, errno, "%s: cannot read directory", w->staging.tmp);
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        bool kept = false;
        for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
            kept = kept || !strcmp(e->d_name, keep[i]);
        if (kept)
            continue;
        char *p = path_join(w->staging.tmp, e->d_name);
        rc = fs_remove_tree(p, err);
        free(p);
    }
    closedir(d);
    return rc;
}

static int write_index_db(struct bundle_writer *w, const char *path, struct error *err)
{
    char *sql =
        xasprintf("PRAGMA application_id = %d; PRAGMA user_version = %d;", BUNDLE_APPLICATION_ID, BUNDLE_FORMAT_VERSION);
    int rc = exec(w, sql, err);
    free(sql);
    if (rc != 0)
        return -1;
    unlink(path);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(w->db, "VACUUM main INTO ?1", -1, &st, NULL) != SQLITE_OK)
        return db_error(w, "VACUUM INTO", err);
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        error_set(err, ERROR_RUNTIME, "%s: writing the bundle index failed: %s%s", path, sqlite3_errmsg(w->db),
                  rc == SQLITE_FULL ? "; free some space and run again" : "");
        unlink(path);
        return -1;
    }
    return fs_fsync_path(path, err);
}

static int sign_index(struct bundle_writer *w, const char *index_path, struct error *err)
{
    struct buffer index = BUFFER_INIT, der = BUFFER_INIT, b64 = BUFFER_INIT;
    int rc = fs_read_file(index_path, BUNDLE_INDEX_MAX, &index, err);
    if (rc == 0)
        rc = bundle_key_sign(w->key, index.data, index.len, &der, err);
    /* check our own output with the public half before publishing it */
    if (rc == 0)
        rc = bundle_key_verify(w->key, index.data, index.len, der.data, der.len, index_path, err);
    if (rc == 0) {
        base64_encode(der.data, der.len, &b64);
        char *sig = path_join(w->staging.tmp, "index.db.sig");
        char *raw = path_join(w->staging.tmp, "index.db.sig.der");
        rc = fs_write_file_atomic(sig, b64.data, b64.len, 0644, err);
        if (rc == 0)
            rc = fs_write_file_atomic(raw, der.data, der.len, 0644, err);
        free(sig);
        free(raw);
    }
    buffer_free(&index);
    buffer_free(&der);
    buffer_free(&b64);
    return rc;
}

/* meta generation and built_at: the base's when the content did not change, else base + 1 and
 * now; then the downgrade rule against what the target holds. */
static int stamp_freshness(struct bundle_writer *w, struct error *err)
{
    struct bundle_freshness f = {.generation = 1, .built_at = w->built_at};
    if (!w->have_base_freshness && w->have_target_freshness)
        f.generation = w->target_freshness.generation + 1; /* a target not reused still counts */
    if (w->have_base_freshness) {
        char now[SHA256_HEX_LEN + 1];
        content_digest(w->db, now);
        if (!strcmp(now, w->base_content))
            f = w->base_freshness;
        else
            f.generation = w->base_freshness.generation + 1;
    }
    if (w->have_target_freshness && !w->allow_downgrade &&
        bundle_freshness_check_not_older("the new bundle", &f, w->staging.target, &w->target_freshness, err) != 0)
        return -1;
    char generation[32], built_at[32];
    snprintf(generation, sizeof generation, "%llu", (unsigned long long)f.generation);
    snprintf(built_at, sizeof built_at, "%" PRId64, f.built_at);
    if (put_meta(w, "generation", generation, err) != 0 || put_meta(w, "built_at", built_at, err) != 0)
        return -1;
    return 0;
}

int bundle_writer_commit(struct bundle_writer *w, struct error *err)
{
    char oci_index_digest[BUNDLE_DIGEST_SIZE];
    char created[32];
    char *index_path = path_join(w->staging.tmp, "index.db");
    char *resume_path = path_join(w->staging.tmp, BUNDLE_STAGING_RESUME_FILE);
    int rc = -1;
    BUNDLE_TEST_POINT("writer-commit");
    snprintf(created, sizeof created, "%" PRId64, w->created);
    char format[16];
    snprintf(format, sizeof format, "%d", BUNDLE_FORMAT_VERSION);
    if (prune(w, err) != 0 || assign_sort_keys(w, err) != 0 || write_layout(w, oci_index_digest, err) != 0)
        goto out;
    if (put_meta(w, "format_version", format, err) != 0 || put_meta(w, "builder", w->builder, err) != 0 ||
        put_meta(w, "created", created, err) != 0 ||
        put_meta(w, "signing_key", bundle_key_fingerprint(w->key), err) != 0 ||
        put_meta(w, "oci_index_digest", oci_index_digest, err) != 0)
        goto out;
    if (stamp_freshness(w, err) != 0)
        goto out;
    if (write_index_db(w, index_path, err) != 0)
        goto out;
    BUNDLE_TEST_POINT("writer-index-written");
    if (sign_index(w, index_path, err) != 0)
        goto out;
    BUNDLE_TEST_POINT("writer-signed");
    /* from here on the directory is a complete bundle: no resume marker, no scratch */
    if (w->journal_fd >= 0)
        close(w->journal_fd);
    w->journal_fd = -1;
    if (unlink(resume_path) != 0 && errno != ENOENT) {
        error_errno(err, errno, "%s: cannot remove", resume_path);
        goto out;
    }
    if (fs_remove_tree(w->scratch_dir, err) != 0)
        goto out;
    /* release the base before the swap removes it (its bytes are in memory anyway) */
    bundle_close(w->base);
    w->base = NULL;
    if (bundle_staging_commit(&w->staging, err) != 0)
        goto out;
    rc = 0;
out:
    if (rc != 0 && w->staging.swapped)
        error_prefix(err, "bundle %s is in place but cleaning up failed: ", w->staging.target);
    else if (rc != 0)
        error_prefix(err, "bundle %s not written (the previous one, if any, is unchanged): ",
                     w->staging.target ? w->staging.target : "?");
    free(index_path);
    free(resume_path);
    bundle_writer_abort(w);
    return rc;
}
