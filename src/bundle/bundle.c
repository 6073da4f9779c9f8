/* bundle — the read side; see include/airfactory/bundle.h. */
#include "airfactory/bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base64.h"
#include "airfactory/buffer.h"
#include "airfactory/bundle_key.h"
#include "bundle/bundle_schema.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/memory.h"
#include "talos/version.h"

/* A signature file holds one base64 DER ECDSA signature: ~100 bytes. */
#define SIGNATURE_FILE_MAX 4096

enum query {
    QUERY_META,
    QUERY_BLOB,
    QUERY_ASSET,
    QUERY_SCHEMATIC,
    QUERY_SCHEMATIC_EXISTS,
    QUERY_SCHEMATIC_NAME,
    QUERY_VERSION_EXISTS,
    QUERY_IMAGE,
    QUERY_REPOSITORY_EXISTS,
    QUERY_REPOSITORY_BLOB,
    QUERY_LATEST,
    QUERY_PUBLIC_KEY,
    QUERY_TALOSCTL,
    QUERY_COUNT,
};

/* One prepared statement per question, prepared on first use and kept (a server worker asks the
 * same few questions per request). optional: a table added to format 1 later; a bundle without it
 * answers "not found". */
static const struct {
    const char *sql;
    bool optional;
} query_sql[QUERY_COUNT] = {
    [QUERY_META] = {"SELECT value FROM meta WHERE key = ?1"},
    [QUERY_BLOB] = {"SELECT size, media_type FROM blobs WHERE digest = ?1"},
    [QUERY_ASSET] = {"SELECT digest, size, media_type, cache_key FROM assets"
                     " WHERE schematic = ?1 AND version = ?2 AND path = ?3"},
    [QUERY_SCHEMATIC] = {"SELECT yaml FROM schematics WHERE id = ?1"},
    [QUERY_SCHEMATIC_EXISTS] = {"SELECT 1 FROM schematics WHERE id = ?1"},
    [QUERY_SCHEMATIC_NAME] = {"SELECT name FROM schematic_names WHERE id = ?1", true},
    [QUERY_VERSION_EXISTS] = {"SELECT 1 FROM versions WHERE version = ?1"},
    [QUERY_IMAGE] = {"SELECT digest FROM images WHERE repository = ?1 AND tag = ?2"},
    [QUERY_REPOSITORY_EXISTS] = {"SELECT 1 FROM images WHERE repository = ?1 LIMIT 1"},
    [QUERY_REPOSITORY_BLOB] = {"SELECT b.size, b.media_type FROM repository_blobs r JOIN blobs b"
                               " ON b.digest = r.digest WHERE r.repository = ?1 AND r.digest = ?2"},
    /* a prerelease has '-' before any '+'; Talos versions carry no build metadata */
    [QUERY_LATEST] = {"SELECT version FROM versions WHERE instr(version, '-') = 0"
                      " ORDER BY sort_key DESC, version DESC LIMIT 1"},
    [QUERY_PUBLIC_KEY] = {"SELECT pem FROM public_keys WHERE name = ?1"},
    [QUERY_TALOSCTL] = {"SELECT b.digest, b.size, b.media_type FROM talosctl t JOIN blobs b ON b.digest = t.digest"
                        " WHERE t.version = ?1 AND t.name = ?2",
                        true},
};

/* A list over a table a format-1 bundle may lack falls back to this: no rows. */
#define NO_ROWS(columns) "SELECT " columns " WHERE 0"

static const struct {
    int params;
    const char *sql;
    const char *fallback; /* for a format-1 bundle older than a table sql reads, or NULL */
} list_sql[] = {
    [BUNDLE_LIST_VERSIONS] = {0, "SELECT version FROM versions ORDER BY sort_key, version"},
    [BUNDLE_LIST_SCHEMATICS] = {0,
                                "SELECT s.id, s.yaml, coalesce(n.name, '') FROM schematics s"
                                " LEFT JOIN schematic_names n ON n.id = s.id ORDER BY s.id",
                                "SELECT id, yaml, '' FROM schematics ORDER BY id"},
    [BUNDLE_LIST_EXTENSIONS] = {1, "SELECT name, ref, digest, author, description FROM extensions"
                                   " WHERE version = ?1 ORDER BY name"},
    [BUNDLE_LIST_OVERLAYS] = {1, "SELECT name, image, ref, digest FROM overlays WHERE version = ?1 ORDER BY name"},
    [BUNDLE_LIST_ASSETS] = {0, "SELECT a.schematic, a.version, a.path, a.digest, a.size, a.media_type, a.cache_key"
                               " FROM assets a LEFT JOIN versions v ON v.version = a.version"
                               " ORDER BY a.schematic, v.sort_key, a.version, a.path"},
    [BUNDLE_LIST_IMAGES] = {0, "SELECT repository, tag, digest FROM images ORDER BY repository, tag"},
    [BUNDLE_LIST_TAGS] = {1, "SELECT tag FROM images WHERE repository = ?1 ORDER BY tag"},
    [BUNDLE_LIST_REFERRERS] = {2, "SELECT r.digest, r.artifact_type, b.size, b.media_type FROM referrers r"
                                  " JOIN blobs b ON b.digest = r.digest"
                                  " WHERE r.repository = ?1 AND r.subject = ?2 ORDER BY r.digest"},
    [BUNDLE_LIST_BLOBS] = {0, "SELECT digest, size, media_type FROM blobs ORDER BY digest"},
    [BUNDLE_LIST_SOURCES] = {0, "SELECT reference, digest, platform, role, receipt FROM sources"
                                " ORDER BY reference, platform"},
    [BUNDLE_LIST_PROVENANCE] = {0, "SELECT schematic, version, path, source_digest, profile, builder"
                                   " FROM provenance ORDER BY schematic, version, path, source_digest"},
    [BUNDLE_LIST_PUBLIC_KEYS] = {0, "SELECT name, pem FROM public_keys ORDER BY name"},
    [BUNDLE_LIST_META] = {0, "SELECT key, value FROM meta ORDER BY key"},
    [BUNDLE_LIST_SCHEMATIC_VERSIONS] = {1, "SELECT v.version FROM versions v WHERE EXISTS (SELECT 1 FROM assets a"
                                           " WHERE a.schematic = ?1 AND a.version = v.version)"
                                           " ORDER BY v.sort_key, v.version"},
    [BUNDLE_LIST_MODEL_ASSETS] = {2, "SELECT path, digest, size FROM assets WHERE schematic = ?1 AND version = ?2"
                                     " ORDER BY path"},
    [BUNDLE_LIST_MODELS] = {0,
                            "SELECT a.schematic, coalesce(n.name, ''), a.version, a.path FROM assets a"
                            " JOIN versions v ON v.version = a.version LEFT JOIN schematic_names n ON n.id = a.schematic"
                            " ORDER BY coalesce(n.name, a.schematic), a.schematic, v.sort_key, a.path",
                            "SELECT a.schematic, '', a.version, a.path FROM assets a JOIN versions v"
                            " ON v.version = a.version ORDER BY a.schematic, v.sort_key, a.path"},
    [BUNDLE_LIST_TAGS_AFTER] = {2, "SELECT tag FROM images WHERE repository = ?1 AND tag > ?2 ORDER BY tag"},
    /* "<host>/<name>" repositories for a name without its host (at most two: unique or not) */
    [BUNDLE_LIST_REPOSITORY_SUFFIX] = {1, "SELECT DISTINCT repository FROM images WHERE length(repository) >"
                                          " length(?1) + 1 AND substr(repository, -length(?1) - 1) = '/' || ?1 AND"
                                          " instr(substr(repository, 1, length(repository) - length(?1) - 1), '/') = 0"
                                          " AND instr(substr(repository, 1, instr(repository, '/')), '.') > 0"
                                          " ORDER BY repository LIMIT 2"},
    /* upstream registries: the first component of repositories named "<host>/<path>" */
    [BUNDLE_LIST_REGISTRY_HOSTS] = {0, "SELECT DISTINCT substr(repository, 1, instr(repository, '/') - 1) AS host"
                                       " FROM images WHERE instr(substr(repository, 1, instr(repository, '/')), '.') > 0"
                                       " ORDER BY host"},
    [BUNDLE_LIST_TALOSCTL] = {1, "SELECT name FROM talosctl WHERE version = ?1 ORDER BY name", NO_ROWS("''")},
    [BUNDLE_LIST_IMAGE_BYTES] =
        {0,
         "WITH rb AS (SELECT r.repository, r.digest, b.size, (CASE WHEN instr(h.host, '.') > 0 OR"
         "   instr(h.host, ':') > 0 OR h.host = 'localhost' THEN 1 ELSE 0 END) AS cluster"
         "   FROM repository_blobs r JOIN blobs b ON b.digest = r.digest"
         "   JOIN (SELECT DISTINCT repository, substr(repository, 1, instr(repository, '/') - 1) AS host"
         "         FROM repository_blobs) h ON h.repository = r.repository),"
         " owner AS (SELECT digest, size, min(cluster || '|' || repository) AS first FROM rb"
         "   WHERE digest NOT IN (SELECT digest FROM assets) GROUP BY digest),"
         " repos AS (SELECT repository, cluster, sum(size) AS size FROM rb GROUP BY repository)"
         " SELECT r.repository, r.size,"
         "   coalesce((SELECT sum(o.size) FROM owner o WHERE o.first = r.cluster || '|' || r.repository), 0)"
         " FROM repos r ORDER BY r.cluster, r.repository",
         "SELECT '', 0, 0 WHERE 0"},
};
#define LIST_COUNT (sizeof list_sql / sizeof list_sql[0])

struct bundle {
    char *dir;
    sqlite3 *db;
    unsigned char *index; /* the verified bytes sqlite reads from */
    size_t index_len;
    bool verified;
    char verified_key[BUNDLE_KEY_FINGERPRINT_SIZE];
    char index_digest[BUNDLE_DIGEST_SIZE];
    sqlite3_stmt *statements[QUERY_COUNT];
    bool absent[QUERY_COUNT]; /* an optional query's table is not in this bundle */
    sqlite3_stmt *lists[LIST_COUNT];
};

/* ---- signature ---- */

static int read_index(const char *dir, struct buffer *out, struct error *err)
{
    char *path = path_join(dir, "index.db");
    int rc = 0;
    if (!fs_exists(path)) {
        rc = error_set(err, ERROR_INPUT, "%s: missing; %s is not a bundle (or an incomplete one)", path, dir);
    } else if (fs_read_file(path, BUNDLE_INDEX_MAX, out, err) != 0) {
        rc = -1;
    }
    free(path);
    return rc;
}

/* Decode BUNDLE/index.db.sig and cross-check index.db.sig.der. */
static int read_signature(const char *dir, struct buffer *der, struct error *err)
{
    char *sig_path = path_join(dir, "index.db.sig");
    char *der_path = path_join(dir, "index.db.sig.der");
    struct buffer text = BUFFER_INIT, raw = BUFFER_INIT;
    int rc = -1;
    if (!fs_exists(sig_path)) {
        error_set(err, ERROR_INPUT, "%s: missing; the bundle is unsigned or incomplete — rebuild or re-copy it",
                  sig_path);
        goto out;
    }
    if (fs_read_file(sig_path, SIGNATURE_FILE_MAX, &text, err) != 0)
        goto out;
    if (text.len == 0 || base64_decode(text.data, text.len, der) != 0 || der->len == 0) {
        error_set(err, ERROR_INPUT, "%s: not a base64 signature", sig_path);
        goto out;
    }
    if (fs_exists(der_path)) {
        if (fs_read_file(der_path, SIGNATURE_FILE_MAX, &raw, err) != 0)
            goto out;
        if (raw.len != der->len || memcmp(raw.data, der->data, raw.len) != 0) {
            error_set(err, ERROR_INPUT, "%s: differs from %s; one of them was modified", der_path, sig_path);
            goto out;
        }
    }
    rc = 0;
out:
    buffer_free(&text);
    buffer_free(&raw);
    free(sig_path);
    free(der_path);
    return rc;
}

static int verify_index_bytes(const char *dir, const struct bundle_key *key, const void *index, size_t len,
                              struct error *err)
{
    struct buffer der = BUFFER_INIT;
    if (read_signature(dir, &der, err) != 0)
        return -1;
    char *what = path_join(dir, "index.db");
    int rc = bundle_key_verify(key, index, len, der.data, der.len, what, err);
    free(what);
    buffer_free(&der);
    return rc;
}

/* The signature check over index.db as it lies on disk: streamed through a cache-sized buffer,
 * never copied whole, so the cost is one SHA-256 pass over index.db (rows, not assets) and
 * nothing proportional to the blobs. airfactory-serve starts through here; a 100 000-asset index
 * is ~21 MB. */
int bundle_verify_index(const char *bundle_dir, const struct bundle_key *key, struct bundle_index_stamp *stamp,
                        struct error *err)
{
    char *path = path_join(bundle_dir, "index.db");
    struct buffer der = BUFFER_INIT;
    int rc = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat before;
    if (fd < 0) {
        if (errno == ENOENT)
            error_set(err, ERROR_INPUT, "%s: missing; %s is not a bundle (or an incomplete one)", path, bundle_dir);
        else
            error_errno(err, errno, "%s: cannot open", path);
        goto out;
    }
    if (fstat(fd, &before) != 0) {
        error_errno(err, errno, "%s: cannot stat", path);
        goto out;
    }
    if (!S_ISREG(before.st_mode) || before.st_size <= 0) {
        error_set(err, ERROR_INPUT, "%s: empty or not a regular file; %s is not a bundle (or an incomplete one)", path,
                  bundle_dir);
        goto out;
    }
    if ((uint64_t)before.st_size > BUNDLE_INDEX_MAX) {
        error_set(err, ERROR_INPUT, "%s: %lld bytes, more than a bundle index may hold (%zu)", path,
                  (long long)before.st_size, BUNDLE_INDEX_MAX);
        goto out;
    }
    if (read_signature(bundle_dir, &der, err) != 0)
        goto out;
    if (bundle_key_verify_fd(key, fd, (uint64_t)before.st_size, der.data, der.len, path, err) != 0)
        goto out;
    /* The bytes just hashed are only vouched for if the file did not change while they were
     * read (an in-place write changes size or mtime). */
    struct stat after;
    if (fstat(fd, &after) != 0 || after.st_size != before.st_size || after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
        after.st_mtim.tv_nsec != before.st_mtim.tv_nsec) {
        error_set(err, ERROR_INPUT, "%s: changed while its signature was checked; retry once the copy is complete", path);
        goto out;
    }
    if (stamp) {
        stamp->dev = before.st_dev;
        stamp->ino = before.st_ino;
        stamp->size = before.st_size;
        stamp->mtime = before.st_mtim;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    buffer_free(&der);
    free(path);
    return rc;
}

bool bundle_index_stamp_matches(const char *bundle_dir, const struct bundle_index_stamp *stamp)
{
    char *path = path_join(bundle_dir, "index.db");
    struct stat st;
    int rc = stat(path, &st);
    free(path);
    return rc == 0 && st.st_dev == stamp->dev && st.st_ino == stamp->ino && st.st_size == stamp->size &&
           st.st_mtim.tv_sec == stamp->mtime.tv_sec && st.st_mtim.tv_nsec == stamp->mtime.tv_nsec;
}

int bundle_verify_signature(const char *bundle_dir, const char *public_key_pem_path, struct error *err)
{
    struct bundle_key *key = NULL;
    if (bundle_key_load_public(public_key_pem_path, &key, err) != 0)
        return -1;
    int rc = bundle_verify_index(bundle_dir, key, NULL, err);
    bundle_key_free(key);
    return rc;
}

/* ---- open ---- */

static int db_error(struct bundle *b, const char *what, struct error *err)
{
    int code = sqlite3_errcode(b->db);
    /* corruption is a property of the input, not of this machine */
    int kind = (code == SQLITE_CORRUPT || code == SQLITE_NOTADB || code == SQLITE_ERROR) ? ERROR_INPUT : ERROR_RUNTIME;
    return error_set(err, kind, "%s/index.db: %s: %s", b->dir, what, sqlite3_errmsg(b->db));
}

static int pragma_int(struct bundle *b, const char *sql, int64_t *value, struct error *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(b->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_error(b, sql, err);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *value = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return 0;
    }
    sqlite3_finalize(st);
    return db_error(b, sql, err);
}

/* The prepared statement of q, reset and unbound: 1, 0 when q is optional and its table is not in
 * this bundle, -1 on error. */
static int statement(struct bundle *b, enum query q, sqlite3_stmt **out, struct error *err)
{
    *out = NULL;
    if (b->absent[q])
        return 0;
    if (!b->statements[q] && sqlite3_prepare_v3(b->db, query_sql[q].sql, -1, SQLITE_PREPARE_PERSISTENT,
                                                &b->statements[q], NULL) != SQLITE_OK) {
        if (query_sql[q].optional) {
            b->absent[q] = true; /* an older format-1 bundle: the table is absent */
            return 0;
        }
        return db_error(b, query_sql[q].sql, err);
    }
    sqlite3_reset(b->statements[q]);
    sqlite3_clear_bindings(b->statements[q]);
    *out = b->statements[q];
    return 1;
}

static int check_identity(struct bundle *b, struct error *err)
{
    int64_t app = 0, version = 0;
    if (pragma_int(b, "PRAGMA application_id", &app, err) != 0 || pragma_int(b, "PRAGMA user_version", &version, err) != 0)
        return -1;
    if (app != BUNDLE_APPLICATION_ID)
        return error_set(err, ERROR_INPUT, "%s/index.db: not an airfactory bundle index (application_id %lld)", b->dir,
                         (long long)app);
    if (version != BUNDLE_FORMAT_VERSION)
        return error_set(err, ERROR_INPUT,
                         "%s/index.db: bundle format version %lld; this airfactory reads "
                         "version %d — use a matching airfactory",
                         b->dir, (long long)version, BUNDLE_FORMAT_VERSION);
    char *format = NULL;
    int found = bundle_meta(b, "format_version", &format, err);
    if (found < 0)
        return -1;
    char expected[16];
    snprintf(expected, sizeof expected, "%d", BUNDLE_FORMAT_VERSION);
    int rc = 0;
    if (!found || strcmp(format, expected) != 0)
        rc = error_set(err, ERROR_INPUT, "%s/index.db: meta format_version is %s, expected %s", b->dir,
                       found ? format : "missing", expected);
    free(format);
    return rc;
}

int bundle_open_with_key(const char *dir, const struct bundle_key *key, struct bundle **out, struct error *err)
{
    *out = NULL;
    struct bundle *b = xcalloc(1, sizeof *b);
    b->dir = xstrdup(dir);
    struct buffer index = BUFFER_INIT;
    if (read_index(dir, &index, err) != 0)
        goto fail;
    if (key) {
        if (verify_index_bytes(dir, key, index.data, index.len, err) != 0)
            goto fail;
        b->verified = true;
        memcpy(b->verified_key, bundle_key_fingerprint(key), sizeof b->verified_key);
    }
    if (index.len < 100 || memcmp(index.data, "SQLite format 3", 16) != 0) {
        error_set(err, ERROR_INPUT, "%s/index.db: not an SQLite database (truncated or damaged)", dir);
        goto fail;
    }
    char hex[SHA256_HEX_LEN + 1];
    sha256_hex(index.data, index.len, hex);
    snprintf(b->index_digest, sizeof b->index_digest, "sha256:%s", hex);
    b->index_len = index.len;
    b->index = (unsigned char *)buffer_take(&index);
    if (sqlite3_open_v2(":memory:", &b->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        error_set(err, ERROR_RUNTIME, "%s/index.db: cannot open sqlite", dir);
        goto fail;
    }
    if (sqlite3_deserialize(b->db, "main", b->index, (sqlite3_int64)b->index_len, (sqlite3_int64)b->index_len,
                            SQLITE_DESERIALIZE_READONLY) != SQLITE_OK) {
        db_error(b, "load", err);
        goto fail;
    }
    if (sqlite3_exec(b->db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK) {
        db_error(b, "PRAGMA query_only", err);
        goto fail;
    }
    if (check_identity(b, err) != 0)
        goto fail;
    *out = b;
    return 0;
fail:
    buffer_free(&index);
    bundle_close(b);
    return -1;
}

/* sqlite URI file names treat '%', '?' and '#' specially; escape them. */
static char *index_uri(const char *path)
{
    struct buffer b = BUFFER_INIT;
    buffer_append_str(&b, "file:");
    for (const char *p = path; *p; p++) {
        if (*p == '%' || *p == '?' || *p == '#')
            buffer_appendf(&b, "%%%02X", (unsigned char)*p);
        else
            buffer_append_char(&b, *p);
    }
    buffer_append_str(&b, "?immutable=1&mode=ro");
    return buffer_take(&b);
}

int bundle_open_in_place(const char *dir, struct bundle **out, struct error *err)
{
    *out = NULL;
    struct bundle *b = xcalloc(1, sizeof *b);
    b->dir = xstrdup(dir);
    char *path = path_join(dir, "index.db");
    char *uri = NULL;
    struct stat st;
    int found = stat(path, &st);
    if (found != 0 || !S_ISREG(st.st_mode)) {
        error_set(err, ERROR_INPUT, "%s: %s; is %s a bundle directory (airfactory build output)?", path,
                  found != 0 ? strerror(errno) : "not a regular file", dir);
        goto fail;
    }
    uri = index_uri(path);
    /* immutable: no locks, no journal, no change checks (the file is signed and never changes
     * under a reader; a new bundle is a new file). */
    if (sqlite3_open_v2(uri, &b->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        if (b->db)
            db_error(b, "cannot open", err);
        else
            error_set(err, ERROR_RUNTIME, "%s: cannot open: out of memory", path);
        goto fail;
    }
    /* Memory-mapped: a lookup reads pages straight from the page cache, shared by every worker,
     * instead of pread() into a private cache of 2 MiB that a large index keeps missing. */
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA mmap_size = %zu", BUNDLE_INDEX_MAX);
    if (sqlite3_exec(b->db, pragma, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(b->db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK) {
        db_error(b, "PRAGMA", err);
        goto fail;
    }
    if (check_identity(b, err) != 0)
        goto fail;
    free(uri);
    free(path);
    *out = b;
    return 0;
fail:
    free(uri);
    free(path);
    bundle_close(b);
    return -1;
}

int bundle_open(const char *dir, const char *public_key_path, struct bundle **out, struct error *err)
{
    struct bundle_key *key = NULL;
    *out = NULL;
    if (public_key_path && bundle_key_load_public(public_key_path, &key, err) != 0)
        return -1;
    int rc = bundle_open_with_key(dir, key, out, err);
    bundle_key_free(key);
    return rc;
}

void bundle_close(struct bundle *b)
{
    if (!b)
        return;
    for (int i = 0; i < QUERY_COUNT; i++)
        sqlite3_finalize(b->statements[i]);
    for (size_t i = 0; i < LIST_COUNT; i++)
        sqlite3_finalize(b->lists[i]);
    if (b->db)
        sqlite3_close(b->db);
    free(b->index);
    free(b->dir);
    free(b);
}

const char *bundle_dir(const struct bundle *b)
{
    return b->dir;
}

bool bundle_is_verified(const struct bundle *b)
{
    return b->verified;
}

const char *bundle_verified_key(const struct bundle *b)
{
    return b->verified_key;
}

const char *bundle_index_digest(const struct bundle *b)
{
    return b->index_digest;
}

struct sqlite3 *bundle_database(struct bundle *b)
{
    return b->db;
}

/* ---- lookups ---- */

static void bind_texts(sqlite3_stmt *st, int count, const char *const *values)
{
    for (int i = 0; i < count; i++)
        sqlite3_bind_text(st, i + 1, values[i], -1, SQLITE_STATIC);
}

/* Step once: 1 row, 0 done, -1 error. */
static int step_one(struct bundle *b, sqlite3_stmt *st, struct error *err)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return db_error(b, sqlite3_sql(st), err);
}

static char *column_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return xstrdup(t ? (const char *)t : "");
}

/* Run the single-row query q; with value, column 0 is copied there (malloc'ed) when found. */
static int lookup_text(struct bundle *b, enum query q, int count, const char *const *params, char **value,
                       struct error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = statement(b, q, &st, err);
    if (rc <= 0)
        return rc;
    bind_texts(st, count, params);
    rc = step_one(b, st, err);
    if (rc == 1 && value)
        *value = column_dup(st, 0);
    sqlite3_reset(st);
    return rc;
}

/* Run the single-row query q into out (may be NULL). Its columns are (size, media_type) when
 * digest is given (the blob's), else (digest, size, media_type). */
static int lookup_blob(struct bundle *b, enum query q, int count, const char *const *params, const char *digest,
                       struct bundle_blob *out, struct error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = statement(b, q, &st, err);
    if (rc <= 0)
        return rc;
    bind_texts(st, count, params);
    rc = step_one(b, st, err);
    if (rc == 1 && out) {
        int c = 0;
        if (!digest) {
            const unsigned char *d = sqlite3_column_text(st, c++);
            digest = d ? (const char *)d : "";
        }
        snprintf(out->digest, sizeof out->digest, "%s", digest);
        sqlite3_int64 size = sqlite3_column_int64(st, c++);
        out->size = size < 0 ? 0 : (uint64_t)size;
        const unsigned char *mt = sqlite3_column_text(st, c);
        snprintf(out->media_type, sizeof out->media_type, "%s", mt ? (const char *)mt : "");
    }
    sqlite3_reset(st);
    return rc;
}

int bundle_meta(struct bundle *b, const char *key, char **value, struct error *err)
{
    return lookup_text(b, QUERY_META, 1, (const char *const[]){key}, value, err);
}

/* ---- freshness ---- */

static int parse_meta_integer(const char *key, const char *text, long long min, long long *out, struct error *err)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < min)
        return error_set(err, ERROR_INPUT, "index.db meta %s='%s': expected an integer >= %lld", key, text, min);
    *out = v;
    return 0;
}

int bundle_freshness_parse(const char *generation, const char *built_at, const char *created,
                           struct bundle_freshness *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    long long v = 0;
    if (generation) {
        if (parse_meta_integer("generation", generation, 0, &v, err) != 0)
            return -1;
        out->generation = (uint64_t)v;
    }
    const char *when = built_at ? built_at : created;
    if (when) {
        if (parse_meta_integer(built_at ? "built_at" : "created", when, 0, &v, err) != 0)
            return -1;
        out->built_at = (int64_t)v;
    }
    return 0;
}

int bundle_read_freshness(struct bundle *b, struct bundle_freshness *out, struct error *err)
{
    static const char *const keys[] = {"generation", "built_at", "created"};
    char *v[3] = {NULL, NULL, NULL};
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++)
        if (bundle_meta(b, keys[i], &v[i], err) < 0)
            rc = -1;
    if (rc == 0 && bundle_freshness_parse(v[0], v[1], v[2], out, err) != 0)
        rc = error_prefix(err, "%s: ", b->dir);
    for (int i = 0; i < 3; i++)
        free(v[i]);
    return rc;
}

int bundle_freshness_compare(const struct bundle_freshness *a, const struct bundle_freshness *b)
{
    if (a->generation != b->generation)
        return a->generation < b->generation ? -1 : 1;
    if (a->built_at != b->built_at)
        return a->built_at < b->built_at ? -1 : 1;
    return 0;
}

void bundle_freshness_describe(const struct bundle_freshness *f, char *out, size_t size)
{
    char when[32] = "?";
    struct tm tm;
    time_t t = (time_t)f->built_at;
    if (gmtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(out, size, "generation %llu, built %s", (unsigned long long)f->generation, when);
}

int bundle_freshness_check_not_older(const char *what, const struct bundle_freshness *candidate,
                                     const char *current_name, const struct bundle_freshness *current, struct error *err)
{
    if (bundle_freshness_compare(candidate, current) >= 0)
        return 0;
    char a[96], b[96];
    bundle_freshness_describe(candidate, a, sizeof a);
    bundle_freshness_describe(current, b, sizeof b);
    return error_set(err, ERROR_INPUT,
                     "%s: %s is older than %s (%s); refusing to replace it (pass "
                     "--allow-downgrade to roll back on purpose)",
                     what, a, current_name, b);
}

int bundle_dir_freshness(const char *dir, struct bundle_freshness *out, struct error *err)
{
    char *index = path_join(dir, "index.db");
    bool present = fs_exists(index);
    free(index);
    if (!present)
        return 0;
    struct bundle *b = NULL;
    struct error why;
    error_clear(&why);
    if (bundle_open(dir, NULL, &b, &why) != 0)
        return 0; /* not a readable bundle: nothing to compare with (staging refuses what it must) */
    int rc = bundle_read_freshness(b, out, err);
    bundle_close(b);
    return rc == 0 ? 1 : -1;
}

int bundle_find_schematic(struct bundle *b, const char *id, char **yaml, struct error *err)
{
    return lookup_text(b, yaml ? QUERY_SCHEMATIC : QUERY_SCHEMATIC_EXISTS, 1, (const char *const[]){id}, yaml, err);
}

int bundle_find_schematic_name(struct bundle *b, const char *id, char **name, struct error *err)
{
    return lookup_text(b, QUERY_SCHEMATIC_NAME, 1, (const char *const[]){id}, name, err);
}

int bundle_has_version(struct bundle *b, const char *version, struct error *err)
{
    return lookup_text(b, QUERY_VERSION_EXISTS, 1, (const char *const[]){version}, NULL, err);
}

int bundle_find_public_key(struct bundle *b, const char *name, char **pem, struct error *err)
{
    return lookup_text(b, QUERY_PUBLIC_KEY, 1, (const char *const[]){name}, pem, err);
}

int bundle_latest_version(struct bundle *b, char **version, struct error *err)
{
    return lookup_text(b, QUERY_LATEST, 0, NULL, version, err);
}

int bundle_find_image(struct bundle *b, const char *repository, const char *tag, char digest[BUNDLE_DIGEST_SIZE],
                      struct error *err)
{
    char *value = NULL;
    int rc = lookup_text(b, QUERY_IMAGE, 2, (const char *const[]){repository, tag}, &value, err);
    if (rc == 1) {
        snprintf(digest, BUNDLE_DIGEST_SIZE, "%s", value);
        free(value);
    }
    return rc;
}

int bundle_has_repository(struct bundle *b, const char *repository, struct error *err)
{
    return lookup_text(b, QUERY_REPOSITORY_EXISTS, 1, (const char *const[]){repository}, NULL, err);
}

int bundle_find_repository_blob(struct bundle *b, const char *repository, const char *digest, struct bundle_blob *out,
                                struct error *err)
{
    return lookup_blob(b, QUERY_REPOSITORY_BLOB, 2, (const char *const[]){repository, digest}, digest, out, err);
}

int bundle_find_talosctl(struct bundle *b, const char *version, const char *name, struct bundle_blob *out,
                         struct error *err)
{
    return lookup_blob(b, QUERY_TALOSCTL, 2, (const char *const[]){version, name}, NULL, out, err);
}

int bundle_find_blob(struct bundle *b, const char *digest, struct bundle_blob *out, struct error *err)
{
    char hex[SHA256_HEX_LEN + 1];
    struct error ignored;
    if (digest_parse(digest, hex, &ignored) != 0)
        return 0;
    return lookup_blob(b, QUERY_BLOB, 1, (const char *const[]){digest}, digest, out, err);
}

char *bundle_blob_path(const struct bundle *b, const char *digest)
{
    char hex[SHA256_HEX_LEN + 1];
    struct error ignored;
    if (digest_parse(digest, hex, &ignored) != 0)
        return NULL;
    return xasprintf("%s/blobs/sha256/%s", b->dir, hex);
}

int bundle_open_blob(struct bundle *b, const char *digest, struct bundle_blob *info, struct error *err)
{
    int found = bundle_find_blob(b, digest, info, err);
    if (found < 0)
        return -1;
    if (found == 0)
        return error_set(err, ERROR_INPUT, "%s: blob %s is not in this bundle", b->dir, digest);
    char *path = bundle_blob_path(b, digest);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int saved = errno;
        if (saved == ENOENT)
            error_set(err, ERROR_INPUT,
                      "%s: listed in index.db but missing; the bundle is damaged — run "
                      "'airfactory verify --full %s'",
                      path, b->dir);
        else
            error_errno(err, saved, "%s: cannot open", path);
        free(path);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != info->size) {
        error_set(err, ERROR_INPUT,
                  "%s: size %lld, index.db says %llu; the bundle is damaged — run "
                  "'airfactory verify --full %s'",
                  path, (long long)st.st_size, (unsigned long long)info->size, b->dir);
        close(fd);
        free(path);
        return -1;
    }
    free(path);
    return fd;
}

int bundle_find_asset(struct bundle *b, const char *schematic, const char *version, const char *path,
                      struct bundle_asset *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = NULL;
    int rc = statement(b, QUERY_ASSET, &st, err);
    if (rc <= 0)
        return rc;
    bind_texts(st, 3, (const char *const[]){schematic, version, path});
    rc = step_one(b, st, err);
    if (rc == 1) {
        out->schematic = xstrdup(schematic);
        out->version = xstrdup(version);
        out->path = xstrdup(path);
        out->digest = column_dup(st, 0);
        out->size = (uint64_t)sqlite3_column_int64(st, 1);
        out->media_type = column_dup(st, 2);
        out->cache_key = column_dup(st, 3);
    }
    sqlite3_reset(st);
    return rc;
}

int bundle_find_asset_blob(struct bundle *b, const char *schematic, const char *version, const char *path,
                           struct bundle_blob *out, struct error *err)
{
    /* QUERY_ASSET's first three columns are (digest, size, media_type), as lookup_blob reads them */
    return lookup_blob(b, QUERY_ASSET, 3, (const char *const[]){schematic, version, path}, NULL, out, err);
}

void bundle_asset_clear(struct bundle_asset *a)
{
    free(a->schematic);
    free(a->version);
    free(a->path);
    free(a->digest);
    free(a->media_type);
    free(a->cache_key);
    memset(a, 0, sizeof *a);
}

/* The prepared statement of a list: kept for the next call, or a fresh one (*own) when the kept
 * one is still stepping (a callback listing the same list again). */
static sqlite3_stmt *list_statement(struct bundle *b, enum bundle_list list, bool *own, struct error *err)
{
    sqlite3_stmt *st = b->lists[list];
    *own = st && sqlite3_stmt_busy(st);
    if (st && !*own) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return st;
    }
    unsigned flags = *own ? 0 : SQLITE_PREPARE_PERSISTENT;
    st = NULL;
    if (sqlite3_prepare_v3(b->db, list_sql[list].sql, -1, flags, &st, NULL) != SQLITE_OK &&
        (!list_sql[list].fallback ||
         sqlite3_prepare_v3(b->db, list_sql[list].fallback, -1, flags, &st, NULL) != SQLITE_OK)) {
        db_error(b, list_sql[list].sql, err);
        return NULL;
    }
    if (!*own)
        b->lists[list] = st;
    return st;
}

int bundle_foreach(struct bundle *b, enum bundle_list list, const char *const *params, bundle_row_fn fn, void *context,
                   struct error *err)
{
    if ((unsigned)list >= LIST_COUNT || !list_sql[list].sql)
        return error_set(err, ERROR_RUNTIME, "bundle_foreach: unknown list %d", (int)list);
    bool own = false;
    sqlite3_stmt *st = list_statement(b, list, &own, err);
    if (!st)
        return -1;
    bind_texts(st, list_sql[list].params, params);
    int columns = sqlite3_column_count(st);
    if (columns > 16)
        columns = 16;
    const char *values[16];
    int rc = 0;
    for (;;) {
        int step = sqlite3_step(st);
        if (step == SQLITE_DONE)
            break;
        if (step != SQLITE_ROW) {
            rc = db_error(b, list_sql[list].sql, err);
            break;
        }
        for (int i = 0; i < columns; i++) {
            const unsigned char *t = sqlite3_column_text(st, i);
            values[i] = t ? (const char *)t : "";
        }
        rc = fn(context, columns, values);
        if (rc != 0)
            break;
    }
    if (own)
        sqlite3_finalize(st);
    else
        sqlite3_reset(st);
    return rc;
}

/* ---- media types ---- */

const char *bundle_asset_media_type(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *ext = strrchr(base, '.');
    if (!ext)
        return "application/octet-stream";
    /* Image Factory's own switch is case-sensitive ... */
    if (!strcmp(ext, ".efi"))
        return "application/efi";
    if (!strcmp(ext, ".iso"))
        return "application/x-iso9660-image";
    if (!strcmp(ext, ".xz"))
        return "application/x-xz";
    if (!strcmp(ext, ".gz"))
        return "application/gzip";
    if (!strcmp(ext, ".qcow2"))
        return "application/x-qemu-disk";
    /* ... Go's mime.TypeByExtension falls back to lower case */
    if (!strcasecmp(ext, ".tar"))
        return "application/x-tar";
    return "application/octet-stream";
}

/* ---- semantic versions: talos/version's, with the bundle's "v" and total order ---- */

bool bundle_version_valid(const char *version)
{
    struct talos_version v;
    return version && version[0] == 'v' && talos_version_parse(version, &v) == 0;
}

int bundle_version_compare(const char *a, const char *b)
{
    struct talos_version sa, sb;
    bool va = bundle_version_valid(a) && talos_version_parse(a, &sa) == 0;
    bool vb = bundle_version_valid(b) && talos_version_parse(b, &sb) == 0;
    if (va != vb)
        return va ? 1 : -1;
    if (va) {
        int c = talos_version_compare_semver(&sa, &sb);
        if (c)
            return c;
    }
    int c = strcmp(a, b);
    return c < 0 ? -1 : c > 0;
}
