/* store — see store.h. */
#include "oci/store.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/memory.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_SCHEMA_VERSION 1
#define STORE_APPLICATION_ID 0x41465354 /* "AFST" */

struct store {
    char *dir;
    char *blobs_dir; /* STORE/blobs/sha256 */
    char *tmp_dir;
    sqlite3 *db;
    int lock_fd;
    enum store_mode mode;
};

static const char store_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS sources (reference TEXT NOT NULL, platform TEXT NOT NULL,"
    " digest TEXT NOT NULL, media_type TEXT NOT NULL, manifest_digest TEXT NOT NULL, role TEXT NOT NULL,"
    " receipt TEXT NOT NULL, imported_at INTEGER NOT NULL, PRIMARY KEY (reference, platform)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS source_blobs (reference TEXT NOT NULL, platform TEXT NOT NULL,"
    " digest TEXT NOT NULL, size INTEGER NOT NULL, media_type TEXT NOT NULL, kind TEXT NOT NULL,"
    " tag TEXT NOT NULL, PRIMARY KEY (reference, platform, digest)) WITHOUT ROWID;";

static int db_error(struct store *s, struct error *err, const char *what)
{
    return error_set(err, ERROR_RUNTIME, "%s/store.db: %s: %s", s->dir, what, sqlite3_errmsg(s->db));
}

static int db_exec(struct store *s, const char *sql, struct error *err)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        error_set(err, ERROR_RUNTIME, "%s/store.db: %s", s->dir, msg ? msg : "sqlite error");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* Temp files are only ever written by a writer holding the lock, so whoever holds the lock may
 * delete what a killed writer left behind. */
static int clean_tmp(struct store *s, struct error *err)
{
    DIR *d = opendir(s->tmp_dir);
    if (!d)
        return errno == ENOENT ? 0 : error_errno(err, errno, "%s: cannot read", s->tmp_dir);
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *p = path_join(s->tmp_dir, e->d_name);
        rc = fs_remove_tree(p, err);
        free(p);
    }
    closedir(d);
    return rc;
}

static int check_schema(struct store *s, struct error *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return db_error(s, err, "cannot read schema version");
    int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    if (version == 0 && s->mode == STORE_WRITE) {
        if (db_exec(s, store_schema_sql, err) != 0)
            return -1;
        char *sql =
            xasprintf("PRAGMA user_version=%d; PRAGMA application_id=%d;", STORE_SCHEMA_VERSION, STORE_APPLICATION_ID);
        int rc = db_exec(s, sql, err);
        free(sql);
        return rc;
    }
    if (version != STORE_SCHEMA_VERSION)
        return error_set(err, ERROR_INPUT,
                         "%s/store.db: schema version %d, this airfactory reads version %d; "
                         "use a matching airfactory or import into a new store",
                         s->dir, version, STORE_SCHEMA_VERSION);
    return 0;
}

static int write_index_json(struct store *s, struct error *err);

int store_open(const char *dir, enum store_mode mode, struct store **out, struct error *err)
{
    *out = NULL;
    struct store *s = xcalloc(1, sizeof *s);
    s->dir = xstrdup(dir);
    s->blobs_dir = path_join(dir, "blobs/sha256");
    s->tmp_dir = path_join(dir, "tmp");
    s->lock_fd = -1;
    s->mode = mode;
    char *db_path = path_join(dir, "store.db");
    char *lock_path = path_join(dir, "lock");
    int rc = -1;

    if (mode == STORE_WRITE) {
        if (fs_mkdir_p(s->blobs_dir, 0755, err) != 0 || fs_mkdir_p(s->tmp_dir, 0700, err) != 0)
            goto done;
    } else if (!fs_exists(db_path)) {
        error_set(err, ERROR_INPUT,
                  "%s: not an airfactory store (no store.db); import something first "
                  "with `airfactory import --store %s TARBALL`",
                  dir, dir);
        goto done;
    }
    s->lock_fd = open(lock_path, (mode == STORE_WRITE ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC, 0644);
    if (s->lock_fd < 0 && mode == STORE_WRITE) {
        error_errno(err, errno, "%s: cannot open", lock_path);
        goto done;
    }
    if (mode == STORE_WRITE) {
        while (flock(s->lock_fd, LOCK_EX) != 0) {
            if (errno != EINTR) {
                error_errno(err, errno, "%s: cannot lock the store", lock_path);
                goto done;
            }
        }
        if (clean_tmp(s, err) != 0)
            goto done;
    } else if (s->lock_fd >= 0 && flock(s->lock_fd, LOCK_EX | LOCK_NB) == 0) {
        /* no writer: safe to remove what a killed one left (best effort, read-only users may lack rights) */
        struct error ignored;
        (void)clean_tmp(s, &ignored);
        flock(s->lock_fd, LOCK_UN);
    }

    int flags = mode == STORE_WRITE ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
    if (sqlite3_open_v2(db_path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        error_set(err, ERROR_RUNTIME, "%s: cannot open: %s", db_path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto done;
    }
    sqlite3_busy_timeout(s->db, 10000);
    if (check_schema(s, err) != 0)
        goto done;
    if (mode == STORE_WRITE && write_index_json(s, err) != 0)
        goto done;
    rc = 0;
done:
    free(db_path);
    free(lock_path);
    if (rc != 0) {
        store_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    if (s->db)
        sqlite3_close(s->db);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* releases the flock */
    free(s->dir);
    free(s->blobs_dir);
    free(s->tmp_dir);
    free(s);
}

const char *store_dir(const struct store *s)
{
    return s->dir;
}

char *store_blob_path(const struct store *s, const char *digest)
{
    const char *hex = strncmp(digest, "sha256:", 7) == 0 ? digest + 7 : digest;
    return path_join(s->blobs_dir, hex);
}

bool store_has_blob(const struct store *s, const char *digest)
{
    char *p = store_blob_path(s, digest);
    struct stat st;
    bool ok = lstat(p, &st) == 0 && S_ISREG(st.st_mode);
    free(p);
    return ok;
}

int store_read_blob(const struct store *s, const char *digest, size_t max_size, struct buffer *out, struct error *err)
{
    char hex[SHA256_HEX_LEN + 1];
    if (digest_parse(digest, hex, err) != 0)
        return -1;
    if (!store_has_blob(s, digest))
        return 0;
    char *p = store_blob_path(s, digest);
    size_t start = out->len;
    int rc = fs_read_file(p, max_size, out, err);
    if (rc == 0) {
        char got[SHA256_HEX_LEN + 1];
        sha256_hex(out->data + start, out->len - start, got);
        if (strcmp(got, hex) != 0) {
            out->len = start;
            rc = error_set(err, ERROR_RUNTIME,
                           "%s: content hashes to sha256:%s, not its name; the store is damaged: delete "
                           "this file and import the source again",
                           p, got);
        }
    }
    free(p);
    return rc == 0 ? 1 : -1;
}

/* ---- writing blobs ---- */

int store_temp_create(struct store *s, struct store_temp *t, struct error *err)
{
    memset(t, 0, sizeof *t);
    t->path = path_join(s->tmp_dir, "blob-XXXXXX");
    t->fd = mkostemp(t->path, O_CLOEXEC);
    if (t->fd < 0) {
        int saved = errno;
        free(t->path);
        t->path = NULL;
        return error_errno(err, saved,
                           "%s: cannot create a temporary file (is the store writable and "
                           "is there space?)",
                           s->tmp_dir);
    }
    if (fchmod(t->fd, 0644) != 0) {
        int saved = errno;
        store_temp_discard(t);
        return error_errno(err, saved, "%s: chmod failed", s->tmp_dir);
    }
    sha256_stream_init(&t->hash);
    t->hashing = true;
    return 0;
}

int store_temp_write(struct store_temp *t, const void *data, size_t len, struct error *err)
{
    sha256_stream_update(&t->hash, data, len);
    t->size += len;
    return fs_write_all(t->fd, data, len, t->path, err);
}

int store_temp_finish(struct store_temp *t, char hex[SHA256_HEX_LEN + 1], struct error *err)
{
    sha256_stream_final_hex(&t->hash, hex);
    t->hashing = false;
    if (fsync(t->fd) != 0)
        return error_errno(err, errno, "%s: fsync failed", t->path);
    int fd = t->fd;
    t->fd = -1;
    if (close(fd) != 0)
        return error_errno(err, errno, "%s: close failed", t->path);
    return 0;
}

int store_temp_commit(struct store *s, struct store_temp *t, const char *hex, struct error *err)
{
    char *final = path_join(s->blobs_dir, hex);
    int rc = 0;
    /* rename(2) replaces an existing blob atomically; both hold the same bytes */
    if (rename(t->path, final) != 0)
        rc = error_errno(err, errno, "%s: cannot move blob into place", final);
    free(final);
    if (rc == 0) {
        free(t->path);
        t->path = NULL;
    }
    return rc;
}

void store_temp_discard(struct store_temp *t)
{
    if (t->hashing)
        sha256_stream_abort(&t->hash);
    t->hashing = false;
    if (t->path && t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    if (t->path)
        unlink(t->path);
    free(t->path);
    t->path = NULL;
}

int store_sync_blobs(struct store *s, struct error *err)
{
    return fs_fsync_dir(s->blobs_dir, err);
}

int store_put_blob(struct store *s, const void *data, size_t len, char digest[7 + SHA256_HEX_LEN + 1], struct error *err)
{
    char hex[SHA256_HEX_LEN + 1];
    sha256_hex(data, len, hex);
    snprintf(digest, 7 + SHA256_HEX_LEN + 1, "sha256:%s", hex);
    if (store_has_blob(s, digest))
        return 0;
    struct store_temp t;
    if (store_temp_create(s, &t, err) != 0)
        return -1;
    char got[SHA256_HEX_LEN + 1];
    if (store_temp_write(&t, data, len, err) != 0 || store_temp_finish(&t, got, err) != 0 ||
        store_temp_commit(s, &t, hex, err) != 0) {
        store_temp_discard(&t);
        return -1;
    }
    store_temp_discard(&t);
    return store_sync_blobs(s, err);
}

/* ---- sources ---- */

static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

static int put_one(struct store *s, sqlite3_stmt *src, sqlite3_stmt *del, sqlite3_stmt *blob,
                   const struct store_source *x, struct error *err)
{
    for (size_t i = 0; i < x->blob_count; i++)
        if (!store_has_blob(s, x->blobs[i].digest))
            return error_set(err, ERROR_RUNTIME, "%s: source %s lists blob %s that is not in the store", s->dir,
                             x->reference, x->blobs[i].digest);
    sqlite3_reset(del);
    bind_text(del, 1, x->reference);
    bind_text(del, 2, x->platform);
    if (sqlite3_step(del) != SQLITE_DONE)
        return db_error(s, err, "cannot replace source blobs");
    sqlite3_reset(src);
    bind_text(src, 1, x->reference);
    bind_text(src, 2, x->platform);
    bind_text(src, 3, x->digest);
    bind_text(src, 4, x->media_type);
    bind_text(src, 5, x->manifest_digest);
    bind_text(src, 6, x->role);
    bind_text(src, 7, x->receipt);
    sqlite3_bind_int64(src, 8, x->imported_at);
    if (sqlite3_step(src) != SQLITE_DONE)
        return db_error(s, err, "cannot record source");
    for (size_t i = 0; i < x->blob_count; i++) {
        const struct store_source_blob *b = &x->blobs[i];
        sqlite3_reset(blob);
        bind_text(blob, 1, x->reference);
        bind_text(blob, 2, x->platform);
        bind_text(blob, 3, b->digest);
        sqlite3_bind_int64(blob, 4, b->size);
        bind_text(blob, 5, b->media_type);
        bind_text(blob, 6, b->kind);
        bind_text(blob, 7, b->tag);
        if (sqlite3_step(blob) != SQLITE_DONE)
            return db_error(s, err, "cannot record source blob");
    }
    return 0;
}

int store_sources_put(struct store *s, const struct store_source *sources, size_t count, struct error *err)
{
    if (s->mode != STORE_WRITE)
        return error_set(err, ERROR_RUNTIME, "%s: store opened read-only", s->dir);
    if (db_exec(s, "BEGIN IMMEDIATE", err) != 0)
        return -1;
    sqlite3_stmt *src = NULL, *del = NULL, *blob = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO sources (reference, platform, digest, media_type, "
                           "manifest_digest, role, receipt, imported_at) VALUES (?,?,?,?,?,?,?,?)",
                           -1, &src, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "DELETE FROM source_blobs WHERE reference = ? AND platform = ?", -1, &del, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO source_blobs (reference, platform, digest, size, media_type, "
                           "kind, tag) VALUES (?,?,?,?,?,?,?)",
                           -1, &blob, NULL) != SQLITE_OK) {
        db_error(s, err, "cannot prepare statements");
        goto done;
    }
    for (size_t i = 0; i < count; i++)
        if (put_one(s, src, del, blob, &sources[i], err) != 0)
            goto done;
    rc = 0;
done:
    sqlite3_finalize(src);
    sqlite3_finalize(del);
    sqlite3_finalize(blob);
    if (rc == 0)
        rc = db_exec(s, "COMMIT", err);
    if (rc != 0) {
        struct error ignored;
        db_exec(s, "ROLLBACK", &ignored);
        return -1;
    }
    return write_index_json(s, err);
}

static char *column_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return xstrdup(t ? (const char *)t : "");
}

static int load_blobs(struct store *s, struct store_source *x, struct error *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT digest, size, media_type, kind, tag FROM source_blobs WHERE reference = ? AND "
                           "platform = ? ORDER BY kind, digest",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(s, err, "cannot list source blobs");
    bind_text(st, 1, x->reference);
    bind_text(st, 2, x->platform);
    size_t cap = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (x->blob_count == cap) {
            cap = cap ? cap * 2 : 8;
            x->blobs = xrealloc(x->blobs, cap * sizeof *x->blobs);
        }
        struct store_source_blob *b = &x->blobs[x->blob_count++];
        b->digest = column_dup(st, 0);
        b->size = sqlite3_column_int64(st, 1);
        b->media_type = column_dup(st, 2);
        b->kind = column_dup(st, 3);
        b->tag = column_dup(st, 4);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE)
        return db_error(s, err, "cannot list source blobs");
    return 0;
}

static void read_source_row(sqlite3_stmt *st, struct store_source *x)
{
    memset(x, 0, sizeof *x);
    x->reference = column_dup(st, 0);
    x->platform = column_dup(st, 1);
    x->digest = column_dup(st, 2);
    x->media_type = column_dup(st, 3);
    x->manifest_digest = column_dup(st, 4);
    x->role = column_dup(st, 5);
    x->receipt = column_dup(st, 6);
    x->imported_at = sqlite3_column_int64(st, 7);
}

#define SOURCE_COLUMNS "reference, platform, digest, media_type, manifest_digest, role, receipt, imported_at"

int store_sources_list(struct store *s, struct store_source **out, size_t *count, struct error *err)
{
    *out = NULL;
    *count = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT " SOURCE_COLUMNS " FROM sources ORDER BY reference, platform", -1, &st,
                           NULL) != SQLITE_OK)
        return db_error(s, err, "cannot list sources");
    size_t cap = 0;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (*count == cap) {
            cap = cap ? cap * 2 : 8;
            *out = xrealloc(*out, cap * sizeof **out);
        }
        read_source_row(st, &(*out)[(*count)++]);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        store_sources_free(*out, *count);
        *out = NULL;
        *count = 0;
        return db_error(s, err, "cannot list sources");
    }
    for (size_t i = 0; i < *count; i++) {
        if (load_blobs(s, &(*out)[i], err) != 0) {
            store_sources_free(*out, *count);
            *out = NULL;
            *count = 0;
            return -1;
        }
    }
    return 0;
}

int store_source_get(struct store *s, const char *reference, const char *platform, struct store_source *out,
                     struct error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    const char *sql = platform ? "SELECT " SOURCE_COLUMNS " FROM sources WHERE reference = ? AND platform = ?"
                               : "SELECT " SOURCE_COLUMNS " FROM sources WHERE reference = ? ORDER BY platform";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_error(s, err, "cannot look up source");
    bind_text(st, 1, reference);
    if (platform)
        bind_text(st, 2, platform);
    int r = sqlite3_step(st);
    if (r == SQLITE_DONE) {
        sqlite3_finalize(st);
        return 0;
    }
    if (r != SQLITE_ROW) {
        sqlite3_finalize(st);
        return db_error(s, err, "cannot look up source");
    }
    read_source_row(st, out);
    r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        char *other = column_dup(st, 1);
        error_set(err, ERROR_INPUT, "%s: source %s was imported for several platforms (%s, %s, ...); name one", s->dir,
                  reference, out->platform, other);
        free(other);
        sqlite3_finalize(st);
        store_source_free(out);
        return -1;
    }
    sqlite3_finalize(st);
    if (load_blobs(s, out, err) != 0) {
        store_source_free(out);
        return -1;
    }
    return 1;
}

void store_source_blobs_free(struct store_source_blob *blobs, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(blobs[i].digest);
        free(blobs[i].media_type);
        free(blobs[i].kind);
        free(blobs[i].tag);
    }
    free(blobs);
}

void store_source_free(struct store_source *x)
{
    if (!x)
        return;
    store_source_blobs_free(x->blobs, x->blob_count);
    free(x->reference);
    free(x->platform);
    free(x->digest);
    free(x->media_type);
    free(x->manifest_digest);
    free(x->role);
    free(x->receipt);
    memset(x, 0, sizeof *x);
}

void store_sources_free(struct store_source *sources, size_t count)
{
    for (size_t i = 0; i < count; i++)
        store_source_free(&sources[i]);
    free(sources);
}

/* ---- the store as an OCI layout ---- */

/* index.json: one entry per distinct (tag, digest): each source's reference, plus the tags its
 * signatures were found under, so `skopeo inspect oci:STORE:<reference>` works. Sorted, so the
 * same store.db always gives the same bytes. */
static int write_index_json(struct store *s, struct error *err)
{
    sqlite3_stmt *st;
    const char *sql = "SELECT DISTINCT s.reference, s.digest, s.media_type, b.size FROM sources s JOIN source_blobs b"
                      " ON b.reference = s.reference AND b.platform = s.platform AND b.digest = s.digest"
                      " UNION SELECT DISTINCT b.tag, b.digest, b.media_type, b.size FROM source_blobs b WHERE b.tag != ''"
                      " ORDER BY 1, 2";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_error(s, err, "cannot list images for index.json");
    struct buffer out = BUFFER_INIT;
    struct json_writer w;
    json_writer_init(&w, &out);
    w.escape_html = false;
    json_object_begin(&w);
    json_kv_int(&w, "schemaVersion", 2);
    json_kv_string(&w, "mediaType", "application/vnd.oci.image.index.v1+json");
    json_key(&w, "manifests");
    json_array_begin(&w);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        json_object_begin(&w);
        json_kv_string(&w, "mediaType", (const char *)sqlite3_column_text(st, 2));
        json_kv_string(&w, "digest", (const char *)sqlite3_column_text(st, 1));
        json_kv_int(&w, "size", sqlite3_column_int64(st, 3));
        json_key(&w, "annotations");
        json_object_begin(&w);
        json_kv_string(&w, "org.opencontainers.image.ref.name", (const char *)sqlite3_column_text(st, 0));
        json_object_end(&w);
        json_object_end(&w);
    }
    sqlite3_finalize(st);
    if (r != SQLITE_DONE) {
        buffer_free(&out);
        return db_error(s, err, "cannot list images for index.json");
    }
    json_array_end(&w);
    json_object_end(&w);
    buffer_append_char(&out, '\n');
    char *index_path = path_join(s->dir, "index.json");
    char *layout_path = path_join(s->dir, "oci-layout");
    static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
    int rc = 0;
    struct buffer old = BUFFER_INIT;
    struct error ignored;
    /* unchanged: do not rewrite (keeps a read-mostly store's files still) */
    if (fs_read_file(index_path, 64u << 20, &old, &ignored) != 0 || old.len != out.len ||
        memcmp(old.data, out.data, out.len) != 0)
        rc = fs_write_file_atomic(index_path, out.data, out.len, 0644, err);
    if (rc == 0 && !fs_exists(layout_path))
        rc = fs_write_file_atomic(layout_path, layout, sizeof layout - 1, 0644, err);
    buffer_free(&old);
    buffer_free(&out);
    free(index_path);
    free(layout_path);
    return rc;
}
