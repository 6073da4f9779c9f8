/* serve_index — see serve_index.h. */
#include "serve/serve_index.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle/bundle_schema.h"
#include "core/memory.h"

enum statement {
    STMT_SCHEMATIC,
    STMT_VERSION_EXISTS,
    STMT_ASSET,
    STMT_PUBLIC_KEY,
    STMT_META,
    STMT_VERSIONS,
    STMT_ASSET_PATHS,
    STMT_SCHEMATIC_VERSIONS,
    STMT_EXTENSIONS,
    STMT_OVERLAYS,
    STMT_REPOSITORY_EXISTS,
    STMT_TAG,
    STMT_REPOSITORY_BLOB,
    STMT_TAGS,
    STMT_REFERRERS,
    STMT_REFERRERS_FILTERED,
    STMT_REPOSITORY_SUFFIX,
    STMT_REGISTRY_HOSTS,
    STMT_ASSET_ROWS,
    STMT_COUNT,
    /* optional: tables added to format 1 later; a bundle without them answers "no rows" */
    STMT_TALOSCTL_FILES = STMT_COUNT,
    STMT_TALOSCTL_FILE,
    STMT_SCHEMATIC_NAME,
    STMT_MODELS,
    STMT_ALL
};

static const char *const statement_sql[STMT_ALL] = {
    [STMT_SCHEMATIC] = "SELECT yaml FROM schematics WHERE id = ?1",
    [STMT_VERSION_EXISTS] = "SELECT 1 FROM versions WHERE version = ?1",
    [STMT_ASSET] = "SELECT digest, size, media_type FROM assets WHERE schematic = ?1 AND version = ?2 AND path = ?3",
    [STMT_PUBLIC_KEY] = "SELECT pem FROM public_keys WHERE name = ?1",
    [STMT_META] = "SELECT value FROM meta WHERE key = ?1",
    [STMT_VERSIONS] = "SELECT version FROM versions ORDER BY sort_key, version",
    [STMT_ASSET_PATHS] = "SELECT path FROM assets WHERE schematic = ?1 AND version = ?2 ORDER BY path LIMIT ?3",
    [STMT_SCHEMATIC_VERSIONS] = "SELECT v.version FROM versions v WHERE EXISTS (SELECT 1 FROM assets a WHERE "
                                "a.schematic = ?1 AND a.version = v.version) ORDER BY v.sort_key, v.version",
    [STMT_EXTENSIONS] = "SELECT name, ref, digest, author, description FROM extensions WHERE version = ?1 "
                        "ORDER BY name",
    [STMT_OVERLAYS] = "SELECT name, image, ref, digest FROM overlays WHERE version = ?1 ORDER BY name",
    [STMT_REPOSITORY_EXISTS] = "SELECT 1 FROM images WHERE repository = ?1 LIMIT 1",
    [STMT_TAG] = "SELECT digest FROM images WHERE repository = ?1 AND tag = ?2",
    [STMT_REPOSITORY_BLOB] = "SELECT b.digest, b.size, b.media_type FROM repository_blobs r JOIN blobs b ON "
                             "b.digest = r.digest WHERE r.repository = ?1 AND r.digest = ?2",
    [STMT_TAGS] = "SELECT tag FROM images WHERE repository = ?1 AND tag > ?2 ORDER BY tag LIMIT ?3",
    [STMT_REFERRERS] = "SELECT r.digest, r.artifact_type, b.media_type, b.size FROM referrers r JOIN blobs b ON "
                       "b.digest = r.digest WHERE r.repository = ?1 AND r.subject = ?2 ORDER BY r.digest",
    [STMT_REFERRERS_FILTERED] = "SELECT r.digest, r.artifact_type, b.media_type, b.size FROM referrers r JOIN "
                                "blobs b ON b.digest = r.digest WHERE r.repository = ?1 AND r.subject = ?2 AND "
                                "r.artifact_type = ?3 ORDER BY r.digest",
    /* "<host>/<name>" repositories for a name without its host (at most two: unique or not) */
    [STMT_REPOSITORY_SUFFIX] = "SELECT DISTINCT repository FROM images WHERE length(repository) > length(?1) + 1 AND "
                               "substr(repository, -length(?1) - 1) = '/' || ?1 AND instr(substr(repository, 1, "
                               "length(repository) - length(?1) - 1), '/') = 0 AND instr(substr(repository, 1, "
                               "instr(repository, '/')), '.') > 0 ORDER BY repository LIMIT 2",
    /* upstream registries: the first component of repositories named "<host>/<path>" */
    [STMT_REGISTRY_HOSTS] = "SELECT DISTINCT substr(repository, 1, instr(repository, '/') - 1) AS host FROM images "
                            "WHERE instr(substr(repository, 1, instr(repository, '/')), '.') > 0 ORDER BY host",
    [STMT_TALOSCTL_FILES] = "SELECT name FROM talosctl WHERE version = ?1 ORDER BY name",
    [STMT_TALOSCTL_FILE] = "SELECT b.digest, b.size, b.media_type FROM talosctl t JOIN blobs b ON b.digest = t.digest "
                           "WHERE t.version = ?1 AND t.name = ?2",
    [STMT_ASSET_ROWS] = "SELECT path, digest, size FROM assets WHERE schematic = ?1 AND version = ?2 ORDER BY path",
    [STMT_SCHEMATIC_NAME] = "SELECT name FROM schematic_names WHERE id = ?1",
    [STMT_MODELS] = "SELECT a.schematic, coalesce(n.name, ''), a.version, a.path FROM assets a JOIN versions v ON "
                    "v.version = a.version LEFT JOIN schematic_names n ON n.id = a.schematic ORDER BY "
                    "coalesce(n.name, a.schematic), a.schematic, v.sort_key, a.path",
};

/* What an optional statement falls back to on a bundle without its table (NULL: no rows). */
static const char *const statement_fallback[STMT_ALL] = {
    [STMT_MODELS] = "SELECT a.schematic, '', a.version, a.path FROM assets a JOIN versions v ON v.version = "
                    "a.version ORDER BY a.schematic, v.sort_key, a.path",
};

struct serve_index {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *statements[STMT_ALL];
};

static int db_error(struct serve_index *index, struct error *err, const char *what)
{
    return error_set(err, ERROR_RUNTIME, "%s: %s: %s", index->path, what, sqlite3_errmsg(index->db));
}

/* sqlite URI filenames treat '%', '?' and '#' specially; escape them. */
static char *uri_for(const char *path)
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

int serve_index_open(const char *bundle_dir, struct serve_index **out, struct error *err)
{
    struct serve_index *index = xcalloc(1, sizeof *index);
    index->path = xasprintf("%s/index.db", bundle_dir);
    FILE *probe = fopen(index->path, "rb");
    if (!probe) {
        error_set(err, ERROR_INPUT, "%s: cannot open the bundle index; is %s a bundle directory (airfactory build output)?",
                  index->path, bundle_dir);
        free(index->path);
        free(index);
        return -1;
    }
    fclose(probe);
    char *uri = uri_for(index->path);
    int rc = sqlite3_open_v2(uri, &index->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
    free(uri);
    if (rc != SQLITE_OK) {
        if (index->db)
            db_error(index, err, "cannot open");
        else
            error_set(err, ERROR_RUNTIME, "%s: cannot open: out of memory", index->path);
        serve_index_close(index);
        return -1;
    }
    for (int i = 0; i < STMT_COUNT; i++) {
        if (sqlite3_prepare_v3(index->db, statement_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &index->statements[i],
                               NULL) != SQLITE_OK) {
            error_set(err, ERROR_INPUT, "%s: not a bundle index of format %d (%s); rebuild the bundle with this "
                      "version of airfactory", index->path, BUNDLE_FORMAT_VERSION, sqlite3_errmsg(index->db));
            serve_index_close(index);
            return -1;
        }
    }
    for (int i = STMT_COUNT; i < STMT_ALL; i++)
        if (sqlite3_prepare_v3(index->db, statement_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &index->statements[i],
                               NULL) != SQLITE_OK &&
            (!statement_fallback[i] || sqlite3_prepare_v3(index->db, statement_fallback[i], -1,
                                                          SQLITE_PREPARE_PERSISTENT, &index->statements[i],
                                                          NULL) != SQLITE_OK))
            index->statements[i] = NULL; /* an older format-1 bundle: the table is absent */
    /* application_id marks the file as ours; 0 means the writer did not set it (tolerated). */
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(index->db, "PRAGMA application_id", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        long id = (long)sqlite3_column_int64(st, 0);
        if (id != 0 && id != BUNDLE_APPLICATION_ID) {
            sqlite3_finalize(st);
            error_set(err, ERROR_INPUT, "%s: application_id 0x%lx is not an airfactory bundle index", index->path,
                      id);
            serve_index_close(index);
            return -1;
        }
    }
    sqlite3_finalize(st);
    struct buffer v = BUFFER_INIT;
    int found = serve_index_meta(index, "format_version", &v, err);
    if (found < 0) {
        buffer_free(&v);
        serve_index_close(index);
        return -1;
    }
    if (found == 1 && atoi(buffer_cstr(&v)) != BUNDLE_FORMAT_VERSION) {
        error_set(err, ERROR_INPUT, "%s: bundle format_version %s, this server reads %d; use a matching airfactory-serve",
                  index->path, buffer_cstr(&v), BUNDLE_FORMAT_VERSION);
        buffer_free(&v);
        serve_index_close(index);
        return -1;
    }
    buffer_free(&v);
    *out = index;
    return 0;
}

void serve_index_close(struct serve_index *index)
{
    if (!index)
        return;
    for (int i = 0; i < STMT_ALL; i++)
        sqlite3_finalize(index->statements[i]);
    sqlite3_close(index->db);
    free(index->path);
    free(index);
}

static sqlite3_stmt *bind(struct serve_index *index, enum statement which, const char *a, const char *b,
                          const char *c)
{
    sqlite3_stmt *st = index->statements[which];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    const char *args[3] = {a, b, c};
    for (int i = 0; i < 3; i++)
        if (args[i])
            sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_STATIC);
    return st;
}

static const char *column_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

/* Run a single-row query; copy column 0 as text into out. */
static int one_text(struct serve_index *index, sqlite3_stmt *st, struct buffer *out, struct error *err)
{
    int rc = sqlite3_step(st);
    int result;
    if (rc == SQLITE_ROW) {
        if (out) {
            buffer_reset(out);
            buffer_append(out, column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0));
        }
        result = 1;
    } else if (rc == SQLITE_DONE) {
        result = 0;
    } else {
        result = db_error(index, err, "query failed");
    }
    sqlite3_reset(st);
    return result;
}

int serve_index_schematic(struct serve_index *index, const char *id, struct buffer *yaml_out, struct error *err)
{
    return one_text(index, bind(index, STMT_SCHEMATIC, id, NULL, NULL), yaml_out, err);
}

int serve_index_version_exists(struct serve_index *index, const char *version, struct error *err)
{
    return one_text(index, bind(index, STMT_VERSION_EXISTS, version, NULL, NULL), NULL, err);
}

int serve_index_public_key(struct serve_index *index, const char *name, struct buffer *pem_out, struct error *err)
{
    return one_text(index, bind(index, STMT_PUBLIC_KEY, name, NULL, NULL), pem_out, err);
}

int serve_index_meta(struct serve_index *index, const char *key, struct buffer *value_out, struct error *err)
{
    return one_text(index, bind(index, STMT_META, key, NULL, NULL), value_out, err);
}

static int blob_row(struct serve_index *index, sqlite3_stmt *st, struct serve_blob *out, struct error *err)
{
    int rc = sqlite3_step(st);
    int result;
    if (rc == SQLITE_ROW) {
        snprintf(out->digest, sizeof out->digest, "%s", column_text(st, 0));
        sqlite3_int64 size = sqlite3_column_int64(st, 1);
        out->size = size < 0 ? 0 : (uint64_t)size;
        snprintf(out->media_type, sizeof out->media_type, "%s", column_text(st, 2));
        result = 1;
    } else if (rc == SQLITE_DONE) {
        result = 0;
    } else {
        result = db_error(index, err, "query failed");
    }
    sqlite3_reset(st);
    return result;
}

int serve_index_asset(struct serve_index *index, const char *schematic, const char *version, const char *path,
                      struct serve_blob *out, struct error *err)
{
    return blob_row(index, bind(index, STMT_ASSET, schematic, version, path), out, err);
}

int serve_index_repository_blob(struct serve_index *index, const char *repository, const char *digest,
                                struct serve_blob *out, struct error *err)
{
    return blob_row(index, bind(index, STMT_REPOSITORY_BLOB, repository, digest, NULL), out, err);
}

int serve_index_repository_exists(struct serve_index *index, const char *repository, struct error *err)
{
    return one_text(index, bind(index, STMT_REPOSITORY_EXISTS, repository, NULL, NULL), NULL, err);
}

static int each_row(struct serve_index *index, sqlite3_stmt *st, serve_index_row_fn fn, void *ctx,
                    struct error *err);

int serve_index_repository_suffix(struct serve_index *index, const char *name, serve_index_row_fn fn, void *ctx,
                                  struct error *err)
{
    return each_row(index, bind(index, STMT_REPOSITORY_SUFFIX, name, NULL, NULL), fn, ctx, err);
}

int serve_index_registry_hosts(struct serve_index *index, serve_index_row_fn fn, void *ctx, struct error *err)
{
    return each_row(index, bind(index, STMT_REGISTRY_HOSTS, NULL, NULL, NULL), fn, ctx, err);
}

int serve_index_tag(struct serve_index *index, const char *repository, const char *tag, char digest_out[72],
                    struct error *err)
{
    sqlite3_stmt *st = bind(index, STMT_TAG, repository, tag, NULL);
    int rc = sqlite3_step(st);
    int result;
    if (rc == SQLITE_ROW) {
        snprintf(digest_out, 72, "%s", column_text(st, 0));
        result = 1;
    } else if (rc == SQLITE_DONE) {
        result = 0;
    } else {
        result = db_error(index, err, "query failed");
    }
    sqlite3_reset(st);
    return result;
}

/* Step through all rows, handing text columns to fn. */
static int each_row(struct serve_index *index, sqlite3_stmt *st, serve_index_row_fn fn, void *ctx, struct error *err)
{
    const char *columns[8];
    int count = sqlite3_column_count(st);
    if (count > 8)
        count = 8;
    for (;;) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            db_error(index, err, "query failed");
            sqlite3_reset(st);
            return -1;
        }
        for (int i = 0; i < count; i++)
            columns[i] = column_text(st, i);
        if (fn(ctx, columns, count) != 0)
            break;
    }
    sqlite3_reset(st);
    return 0;
}

int serve_index_versions(struct serve_index *index, serve_index_row_fn fn, void *ctx, struct error *err)
{
    return each_row(index, bind(index, STMT_VERSIONS, NULL, NULL, NULL), fn, ctx, err);
}

int serve_index_asset_paths(struct serve_index *index, const char *schematic, const char *version, int limit,
                            serve_index_row_fn fn, void *ctx, struct error *err)
{
    sqlite3_stmt *st = bind(index, STMT_ASSET_PATHS, schematic, version, NULL);
    sqlite3_bind_int(st, 3, limit);
    return each_row(index, st, fn, ctx, err);
}

int serve_index_schematic_versions(struct serve_index *index, const char *schematic, serve_index_row_fn fn,
                                   void *ctx, struct error *err)
{
    return each_row(index, bind(index, STMT_SCHEMATIC_VERSIONS, schematic, NULL, NULL), fn, ctx, err);
}

int serve_index_extensions(struct serve_index *index, const char *version, serve_index_row_fn fn, void *ctx,
                           struct error *err)
{
    return each_row(index, bind(index, STMT_EXTENSIONS, version, NULL, NULL), fn, ctx, err);
}

int serve_index_overlays(struct serve_index *index, const char *version, serve_index_row_fn fn, void *ctx,
                         struct error *err)
{
    return each_row(index, bind(index, STMT_OVERLAYS, version, NULL, NULL), fn, ctx, err);
}

int serve_index_tags(struct serve_index *index, const char *repository, const char *last, long limit,
                     serve_index_row_fn fn, void *ctx, struct error *err)
{
    sqlite3_stmt *st = bind(index, STMT_TAGS, repository, last ? last : "", NULL);
    sqlite3_bind_int64(st, 3, limit < 0 ? -1 : (sqlite3_int64)limit);
    return each_row(index, st, fn, ctx, err);
}

int serve_index_referrers(struct serve_index *index, const char *repository, const char *subject,
                          const char *artifact_type, serve_index_row_fn fn, void *ctx, struct error *err)
{
    if (artifact_type)
        return each_row(index, bind(index, STMT_REFERRERS_FILTERED, repository, subject, artifact_type), fn, ctx,
                        err);
    return each_row(index, bind(index, STMT_REFERRERS, repository, subject, NULL), fn, ctx, err);
}

int serve_index_talosctl_files(struct serve_index *index, const char *version, serve_index_row_fn fn, void *ctx,
                               struct error *err)
{
    if (!index->statements[STMT_TALOSCTL_FILES])
        return 0;
    return each_row(index, bind(index, STMT_TALOSCTL_FILES, version, NULL, NULL), fn, ctx, err);
}

int serve_index_talosctl_file(struct serve_index *index, const char *version, const char *name,
                              struct serve_blob *out, struct error *err)
{
    if (!index->statements[STMT_TALOSCTL_FILE])
        return 0;
    return blob_row(index, bind(index, STMT_TALOSCTL_FILE, version, name, NULL), out, err);
}

int serve_index_schematic_name(struct serve_index *index, const char *id, struct buffer *name_out, struct error *err)
{
    if (!index->statements[STMT_SCHEMATIC_NAME])
        return 0;
    return one_text(index, bind(index, STMT_SCHEMATIC_NAME, id, NULL, NULL), name_out, err);
}

int serve_index_asset_rows(struct serve_index *index, const char *schematic, const char *version,
                           serve_index_row_fn fn, void *ctx, struct error *err)
{
    return each_row(index, bind(index, STMT_ASSET_ROWS, schematic, version, NULL), fn, ctx, err);
}

int serve_index_models(struct serve_index *index, serve_index_row_fn fn, void *ctx, struct error *err)
{
    if (!index->statements[STMT_MODELS])
        return 0;
    return each_row(index, bind(index, STMT_MODELS, NULL, NULL, NULL), fn, ctx, err);
}
