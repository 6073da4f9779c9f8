/* requests — what people asked this server for that the bundle lacks, written for the builders.
 *
 * With --requests-dir DIR, a miss (POST /schematics of a schematic the bundle does not hold, an
 * /image/ or /pxe/ asset or version it lacks, a wizard final page it cannot show) appends one JSON
 * line to DIR/requests.jsonl: {"schematic","yaml","version","asset"} (empty fields left out), the
 * input of `airfactory requests merge` and `airfactory plan --with-requests`. Each distinct line
 * is written once (deduplicated under flock, so every worker process shares the file), the file
 * never grows past SERVE_REQUESTS_MAX_BYTES (a flood of distinct misses stops being recorded, and
 * the error log says so once per worker), and DIR is never inside the bundle (checked at start). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/json.h"
#include "core/memory.h"
#include "serve/serve_routes.h"

static bool full_reported;

static bool text_safe(const char *s, size_t max)
{
    return s && strlen(s) <= max;
}

int serve_requests_record(struct serve_context *ctx, const char *schematic, const char *yaml, const char *version,
                          const char *asset)
{
    if (!ctx->requests_dir || !ctx->requests_dir[0])
        return 0;
    if (!text_safe(schematic, 64) || (version && !text_safe(version, 128)) || (asset && !text_safe(asset, 256)))
        return 0;
    char *known = NULL; /* a schematic the bundle holds: its YAML, so the request is complete */
    struct error ignored = {0};
    if (!yaml && bundle_find_schematic(ctx->index, schematic, &known, &ignored) == 1)
        yaml = known;
    if (yaml && strlen(yaml) > SERVE_REQUESTS_YAML_MAX)
        yaml = NULL; /* recorded by ID; a POST of a huge schematic cannot fill the file alone */
    struct buffer line = BUFFER_INIT;
    struct json_writer w;
    json_writer_init(&w, &line);
    json_object_begin(&w);
    json_kv_string(&w, "schematic", schematic);
    if (yaml && yaml[0])
        json_kv_string(&w, "yaml", yaml);
    if (version && version[0])
        json_kv_string(&w, "version", version);
    if (asset && asset[0])
        json_kv_string(&w, "asset", asset);
    json_object_end(&w);
    buffer_append_char(&line, '\n');

    char *path = xasprintf("%s/requests.jsonl", ctx->requests_dir);
    int rc = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        fprintf(stderr, "airfactory-serve: error: %s: %s; requests are not recorded\n", path, strerror(errno));
        rc = -1;
        goto out;
    }
    if (flock(fd, LOCK_EX) != 0) {
        rc = -1;
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = -1;
        goto out;
    }
    if ((uint64_t)st.st_size + line.len > SERVE_REQUESTS_MAX_BYTES) {
        if (!full_reported)
            fprintf(stderr,
                    "airfactory-serve: warning: %s holds %lld bytes, the limit; further requests are not "
                    "recorded (merge it with `airfactory requests merge` and empty it)\n",
                    path, (long long)st.st_size);
        full_reported = true;
        rc = 0;
        goto out;
    }
    /* already recorded? the file is small (bounded): read it whole */
    struct buffer have = BUFFER_INIT;
    buffer_reserve(&have, (size_t)st.st_size + 2);
    have.data[0] = '\n';
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = pread(fd, have.data + 1 + got, (size_t)st.st_size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    have.len = got + 1;
    have.data[have.len] = '\0';
    /* search "\n<line>" so only whole lines match */
    struct buffer needle = BUFFER_INIT;
    buffer_append_char(&needle, '\n');
    buffer_append(&needle, line.data, line.len);
    bool seen = strstr(have.data, needle.data) != NULL;
    buffer_free(&needle);
    buffer_free(&have);
    if (!seen) {
        ssize_t n = write(fd, line.data, line.len);
        if (n != (ssize_t)line.len) {
            fprintf(stderr, "airfactory-serve: error: %s: %s\n", path, n < 0 ? strerror(errno) : "short write");
            rc = -1;
        } else {
            rc = 1;
        }
    }
out:
    if (fd >= 0)
        close(fd);
    free(path);
    buffer_free(&line);
    free(known);
    return rc;
}

int serve_requests_dir_check(const char *dir, const char *bundle_dir, struct error *err)
{
    /* decide on the parent first: never create anything inside the bundle */
    char *copy = xstrdup(dir);
    char *slash = strrchr(copy, '/');
    const char *parent = slash ? (slash == copy ? "/" : (*slash = '\0', copy)) : ".";
    char *real_parent = realpath(parent, NULL), *real_bundle = realpath(bundle_dir, NULL);
    int rc = 0;
    if (!real_parent || !real_bundle) {
        rc = error_set(err, ERROR_INPUT, "--requests-dir %s: %s: %s", dir, real_bundle ? parent : bundle_dir,
                       strerror(errno));
    } else {
        size_t n = strlen(real_bundle);
        char *real_dir = NULL;
        if (!(strncmp(real_parent, real_bundle, n) == 0 && (real_parent[n] == '/' || real_parent[n] == '\0'))) {
            if (mkdir(dir, 0755) != 0 && errno != EEXIST)
                rc = error_set(err, ERROR_INPUT, "--requests-dir %s: cannot create it: %s", dir, strerror(errno));
            else if (!(real_dir = realpath(dir, NULL)))
                rc = error_set(err, ERROR_INPUT, "--requests-dir %s: %s", dir, strerror(errno));
        }
        if (rc == 0 &&
            (!real_dir || (strncmp(real_dir, real_bundle, n) == 0 && (real_dir[n] == '/' || real_dir[n] == '\0'))))
            rc = error_set(err, ERROR_INPUT,
                           "--requests-dir %s is inside the bundle %s; the bundle is signed and "
                           "never written to: pick a directory outside it",
                           dir, bundle_dir);
        else if (rc == 0 && access(real_dir, W_OK) != 0)
            rc = error_set(err, ERROR_INPUT, "--requests-dir %s: not writable: %s", dir, strerror(errno));
        free(real_dir);
    }
    free(copy);
    free(real_parent);
    free(real_bundle);
    return rc;
}
