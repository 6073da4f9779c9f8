/* bundle_check — see include/airfactory/bundle_check.h. */
#include "airfactory/bundle_check.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "airfactory/buffer.h"
#include "core/digest.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/memory.h"

#define HASH_CHUNK (1 << 20)

struct checker {
    const struct bundle_check_options *o;
    bundle_problem_fn report;
    void *context;
    struct bundle_check_result *result;
    struct bundle *b;
    /* listed blobs, sorted by hex, for the extra-file scan */
    char (*listed)[SHA256_HEX_LEN + 1];
    size_t listed_count;
};

static void problem(struct checker *c, const char *rel, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem(struct checker *c, const char *rel, const char *fmt, ...)
{
    char message[ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    char *path = rel ? path_join(c->o->dir, rel) : xstrdup(c->o->dir);
    c->result->problems++;
    if (c->report)
        c->report(c->context, path, message);
    free(path);
}

/* Messages from lower layers start with the path already; keep only what follows "path: ". */
static const char *after_path(const char *message, const char *path)
{
    size_t n = strlen(path);
    if (!strncmp(message, path, n) && message[n] == ':' && message[n + 1] == ' ')
        return message + n + 2;
    return message;
}

static void check_signature(struct checker *c)
{
    struct error err;
    error_clear(&err);
    if (bundle_verify_signature(c->o->dir, c->o->public_key_path, &err) == 0) {
        c->result->signature_ok = true;
        return;
    }
    /* attribute the problem to the file the message starts with */
    static const char *const files[] = {"index.db.sig.der", "index.db.sig", "index.db"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *path = path_join(c->o->dir, files[i]);
        const char *rest = after_path(err.message, path);
        free(path);
        if (rest != err.message) {
            problem(c, files[i], "%s", rest);
            return;
        }
    }
    problem(c, "index.db", "%s", err.message);
}

static int query_problems(struct checker *c, const char *rel, const char *sql, const char *what)
{
    sqlite3 *db = bundle_database(c->b);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        problem(c, rel, "cannot check %s: %s", what, sqlite3_errmsg(db));
        return -1;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        problem(c, rel, "%s: %s", what, (const char *)sqlite3_column_text(st, 0));
    if (rc != SQLITE_DONE)
        problem(c, rel, "cannot check %s: %s", what, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return 0;
}

static void check_rows(struct checker *c)
{
    query_problems(c, "index.db",
                   "SELECT schematic || '/' || version || '/' || path || ' -> ' || digest FROM assets"
                   " WHERE digest NOT IN (SELECT digest FROM blobs) ORDER BY 1",
                   "asset names a blob the bundle does not list");
    query_problems(c, "index.db",
                   "SELECT a.schematic || '/' || a.version || '/' || a.path || ' says ' || a.size || ' bytes, blob ' ||"
                   " b.digest || ' has ' || b.size FROM assets a JOIN blobs b ON b.digest = a.digest"
                   " WHERE a.size != b.size ORDER BY 1",
                   "asset size disagrees with its blob");
    /* the server answers a found asset without looking up its schematic and version (one index
     * lookup per download): every asset's schematic and version must have their rows */
    query_problems(c, "index.db",
                   "SELECT schematic || '/' || version || '/' || path FROM assets"
                   " WHERE schematic NOT IN (SELECT id FROM schematics) ORDER BY 1",
                   "asset of a schematic the bundle does not list");
    query_problems(c, "index.db",
                   "SELECT schematic || '/' || version || '/' || path FROM assets"
                   " WHERE version NOT IN (SELECT version FROM versions) ORDER BY 1",
                   "asset of a Talos version the bundle does not list");
    query_problems(c, "index.db",
                   "SELECT repository || ':' || tag || ' -> ' || digest FROM images"
                   " WHERE digest NOT IN (SELECT digest FROM blobs) ORDER BY 1",
                   "image names a blob the bundle does not list");
    query_problems(c, "index.db",
                   "SELECT repository || ' ' || digest FROM repository_blobs"
                   " WHERE digest NOT IN (SELECT digest FROM blobs) ORDER BY 1",
                   "repository blob not listed in blobs");
    query_problems(c, "index.db",
                   "SELECT repository || ' ' || digest FROM referrers"
                   " WHERE digest NOT IN (SELECT digest FROM blobs) ORDER BY 1",
                   "referrer not listed in blobs");
}

static void check_meta(struct checker *c)
{
    struct error err;
    char *value = NULL;
    int found = bundle_meta(c->b, "signing_key", &value, &err);
    if (found == 1 && c->result->key[0] && strcmp(value, c->result->key) != 0)
        problem(c, "index.db", "meta signing_key is %s but the key given is %s", value, c->result->key);
    else if (found == 0)
        problem(c, "index.db", "meta signing_key is missing");
    free(value);
}

static void check_layout(struct checker *c)
{
    struct buffer layout = BUFFER_INIT, index = BUFFER_INIT;
    struct error err;
    char *layout_path = path_join(c->o->dir, "oci-layout");
    char *index_path = path_join(c->o->dir, "index.json");
    if (!fs_exists(layout_path))
        problem(c, "oci-layout", "missing");
    else if (fs_read_file(layout_path, 4096, &layout, &err) != 0)
        problem(c, "oci-layout", "%s", after_path(err.message, layout_path));
    else if (strcmp(buffer_cstr(&layout), BUNDLE_OCI_LAYOUT) != 0)
        problem(c, "oci-layout", "content differs from %s", BUNDLE_OCI_LAYOUT);

    char *expected = NULL;
    int found = bundle_meta(c->b, "oci_index_digest", &expected, &err);
    if (!fs_exists(index_path)) {
        problem(c, "index.json", "missing");
    } else if (fs_read_file(index_path, (size_t)64 << 20, &index, &err) != 0) {
        problem(c, "index.json", "%s", after_path(err.message, index_path));
    } else {
        char hex[SHA256_HEX_LEN + 1], got[BUNDLE_DIGEST_SIZE];
        sha256_hex(index.data ? index.data : "", index.len, hex);
        snprintf(got, sizeof got, "sha256:%s", hex);
        if (found != 1)
            problem(c, "index.db", "meta oci_index_digest is missing");
        else if (strcmp(got, expected) != 0)
            problem(c, "index.json", "digest %s, index.db says %s (modified after signing)", got, expected);
        struct json_value *doc = NULL;
        if (json_parse(index.data ? index.data : "", index.len, "index.json", &doc, &err) != 0) {
            problem(c, "index.json", "%s", err.message);
        } else {
            const struct json_value *list = json_object_get_array(doc, "manifests");
            for (size_t i = 0; list && i < list->count; i++) {
                const char *d = json_object_get_string(list->items[i], "digest");
                struct bundle_blob info;
                if (!d || bundle_find_blob(c->b, d, &info, &err) != 1)
                    problem(c, "index.json", "manifest %s is not a blob of the bundle", d ? d : "(no digest)");
            }
        }
        json_free(doc);
    }
    free(expected);
    free(layout_path);
    free(index_path);
    buffer_free(&layout);
    buffer_free(&index);
}

static int hash_fd(int fd, char hex[SHA256_HEX_LEN + 1], uint64_t *bytes, struct error *err)
{
    struct sha256_stream s;
    sha256_stream_init(&s);
    char *buf = xmalloc(HASH_CHUNK);
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, buf, HASH_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = error_errno(err, errno, "read failed");
            break;
        }
        if (n == 0)
            break;
        sha256_stream_update(&s, buf, (size_t)n);
        *bytes += (uint64_t)n;
    }
    free(buf);
    if (rc != 0) {
        sha256_stream_abort(&s);
        return -1;
    }
    sha256_stream_final_hex(&s, hex);
    return 0;
}

static int blob_row(void *context, int columns, const char *const *v)
{
    struct checker *c = context;
    (void)columns;
    const char *digest = v[0];
    uint64_t size = strtoull(v[1], NULL, 10);
    c->result->blobs++;
    c->result->bytes += size;
    char hex[SHA256_HEX_LEN + 1];
    struct error err;
    char rel[128];
    if (digest_parse(digest, hex, &err) != 0) {
        problem(c, "index.db", "blobs lists a malformed digest '%s'", digest);
        return 0;
    }
    snprintf(rel, sizeof rel, "blobs/sha256/%s", hex);
    c->listed = xrealloc(c->listed, (c->listed_count + 1) * sizeof *c->listed);
    memcpy(c->listed[c->listed_count++], hex, sizeof hex);
    char *path = path_join(c->o->dir, rel);
    struct stat st;
    if (lstat(path, &st) != 0) {
        problem(c, rel, "missing (listed in index.db, %llu bytes)", (unsigned long long)size);
    } else if (!S_ISREG(st.st_mode)) {
        problem(c, rel, "not a regular file");
    } else if ((uint64_t)st.st_size != size) {
        problem(c, rel, "size %lld, index.db says %llu (truncated or replaced)", (long long)st.st_size,
                (unsigned long long)size);
    } else if (c->o->full) {
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        char got[SHA256_HEX_LEN + 1];
        if (fd < 0) {
            problem(c, rel, "cannot open: %s", strerror(errno));
        } else {
            if (hash_fd(fd, got, &c->result->bytes_hashed, &err) != 0)
                problem(c, rel, "%s", err.message);
            else if (strcmp(got, hex) != 0)
                problem(c, rel, "content hashes to sha256:%s (corrupted)", got);
            close(fd);
        }
    }
    free(path);
    return 0;
}

static int compare_hex(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void check_extra(struct checker *c)
{
    static const char *const top[] = {"index.db",   "index.db.sig", "index.db.sig.der",
                                      "oci-layout", "index.json",   "blobs"};
    DIR *d = opendir(c->o->dir);
    if (!d) {
        problem(c, NULL, "cannot read directory: %s", strerror(errno));
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        bool known = false;
        for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
            known = known || !strcmp(e->d_name, top[i]);
        if (!known)
            problem(c, e->d_name, "extra file (not part of the bundle format)");
    }
    closedir(d);
    char *blobs = path_join(c->o->dir, "blobs");
    d = opendir(blobs);
    if (d) {
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "sha256"))
                continue;
            char rel[512];
            snprintf(rel, sizeof rel, "blobs/%s", e->d_name);
            problem(c, rel, "extra file (not part of the bundle format)");
        }
        closedir(d);
    } else if (c->listed_count) {
        problem(c, "blobs", "missing");
    }
    free(blobs);
    char *sha = path_join(c->o->dir, "blobs/sha256");
    d = opendir(sha);
    if (d) {
        if (c->listed_count)
            qsort(c->listed, c->listed_count, sizeof *c->listed, compare_hex);
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            bool listed = strlen(e->d_name) == SHA256_HEX_LEN &&
                          bsearch(e->d_name, c->listed, c->listed_count, sizeof *c->listed, compare_hex);
            if (!listed) {
                char rel[512];
                snprintf(rel, sizeof rel, "blobs/sha256/%s", e->d_name);
                problem(c, rel, "extra file (not listed in index.db)");
            }
        }
        closedir(d);
    }
    free(sha);
}

int bundle_check(const struct bundle_check_options *o, bundle_problem_fn report, void *context,
                 struct bundle_check_result *result, struct error *err)
{
    memset(result, 0, sizeof *result);
    struct bundle_key *key = NULL;
    if (bundle_key_load_public(o->public_key_path, &key, err) != 0)
        return -1;
    snprintf(result->key, sizeof result->key, "%s", bundle_key_fingerprint(key));
    bundle_key_free(key);
    if (!fs_is_dir(o->dir))
        return error_set(err, ERROR_INPUT, "%s: not a directory", o->dir);
    struct checker c = {.o = o, .report = report, .context = context, .result = result};

    check_signature(&c);
    struct error open_err;
    error_clear(&open_err);
    char *index_path = path_join(o->dir, "index.db");
    if (bundle_open(o->dir, NULL, &c.b, &open_err) != 0) {
        /* the signature check already reported a missing index.db */
        if (fs_exists(index_path))
            problem(&c, "index.db", "%s", after_path(open_err.message, index_path));
        free(index_path);
        return 0;
    }
    free(index_path);
    snprintf(result->index_digest, sizeof result->index_digest, "%s", bundle_index_digest(c.b));

    /* integrity_check says "ok" in one row when healthy */
    sqlite3_stmt *st = NULL;
    sqlite3 *db = bundle_database(c.b);
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *line = (const char *)sqlite3_column_text(st, 0);
            if (line && strcmp(line, "ok") != 0)
                problem(&c, "index.db", "integrity check: %s", line);
        }
        sqlite3_finalize(st);
    } else {
        problem(&c, "index.db", "integrity check failed: %s", sqlite3_errmsg(db));
    }
    check_meta(&c);
    check_rows(&c);
    check_layout(&c);
    struct error list_err;
    if (bundle_foreach(c.b, BUNDLE_LIST_BLOBS, NULL, blob_row, &c, &list_err) < 0)
        problem(&c, "index.db", "cannot list blobs: %s", list_err.message);
    check_extra(&c);
    free(c.listed);
    bundle_close(c.b);
    return 0;
}
