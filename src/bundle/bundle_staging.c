/* bundle_staging — see bundle_staging.h for the crash windows. */
#include "bundle/bundle_staging.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/memory.h"

void (*bundle_test_point)(const char *name);
bool bundle_test_no_exchange;

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* target without trailing slashes ("b/" and "b" are the same bundle) */
static char *normalize(const char *path)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    return xstrndup(path, len);
}

static bool is_empty_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return false;
    struct dirent *e;
    bool empty = true;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            empty = false;
            break;
        }
    closedir(d);
    return empty;
}

static bool looks_like_bundle(const char *path)
{
    char *db = path_join(path, "index.db");
    char *layout = path_join(path, "oci-layout");
    bool yes = fs_exists(db) || fs_exists(layout);
    free(db);
    free(layout);
    return yes || is_empty_dir(path);
}

static double mtime_of(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    return (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
}

/* Recover from earlier crashes: see the header. Runs under the lock. */
static int recover(struct bundle_staging *s, bool allow_resume, char **adopt, struct error *err)
{
    char *parent = path_dirname(s->target);
    const char *base = base_of(s->target);
    char *tmp_prefix = xasprintf("%s.tmp-", base);
    char *old_prefix = xasprintf("%s.old-", base);
    size_t tmp_len = strlen(tmp_prefix), old_len = strlen(old_prefix);
    int rc = 0;
    char *best_old = NULL, *best_tmp = NULL;
    double best_old_time = -2, best_tmp_time = -2;
    char **doomed = NULL;
    size_t doomed_count = 0;

    DIR *d = opendir(parent);
    if (!d) {
        rc = error_errno(err, errno, "%s: cannot read directory", parent);
        goto out;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        bool is_tmp = !strncmp(e->d_name, tmp_prefix, tmp_len) && strlen(e->d_name) == tmp_len + 6;
        bool is_old = !strncmp(e->d_name, old_prefix, old_len) && strlen(e->d_name) == old_len + 6;
        if (!is_tmp && !is_old)
            continue;
        char *path = path_join(parent, e->d_name);
        char *candidate = NULL;
        if (is_old) {
            double t = mtime_of(path);
            if (t > best_old_time) {
                candidate = best_old;
                best_old = path;
                best_old_time = t;
            } else {
                candidate = path;
            }
        } else {
            char *resume = path_join(path, BUNDLE_STAGING_RESUME_FILE);
            double t = allow_resume ? mtime_of(resume) : -1;
            free(resume);
            if (t >= 0 && t > best_tmp_time) {
                candidate = best_tmp;
                best_tmp = path;
                best_tmp_time = t;
            } else {
                candidate = path;
            }
        }
        if (candidate) {
            doomed = xrealloc(doomed, (doomed_count + 1) * sizeof *doomed);
            doomed[doomed_count++] = candidate;
        }
    }
    closedir(d);

    if (best_old) {
        if (!fs_exists(s->target)) {
            /* window 3: the previous bundle is in T.old-X and T is missing: put it back */
            if (rename(best_old, s->target) != 0) {
                rc = error_errno(err, errno, "%s: cannot restore the previous bundle from %s", s->target, best_old);
                goto out;
            }
            free(best_old);
            if (fs_fsync_dir(parent, err) != 0) {
                best_old = NULL;
                rc = -1;
                goto out;
            }
        } else {
            doomed = xrealloc(doomed, (doomed_count + 1) * sizeof *doomed);
            doomed[doomed_count++] = best_old;
        }
        best_old = NULL;
    }
    for (size_t i = 0; i < doomed_count && rc == 0; i++)
        rc = fs_remove_tree(doomed[i], err);
    if (rc == 0) {
        *adopt = best_tmp;
        best_tmp = NULL;
    }
out:
    for (size_t i = 0; i < doomed_count; i++)
        free(doomed[i]);
    free(doomed);
    free(best_old);
    free(best_tmp);
    free(parent);
    free(tmp_prefix);
    free(old_prefix);
    return rc;
}

/* flock T.lock. The holder removes the file when it is done (so a finished or failed run leaves
 * nothing beside the bundle); a process that locked a file which was removed meanwhile holds a
 * lock nobody else can see, so it checks that the path still names its file, and retries if not. */
static int take_lock(struct bundle_staging *s, struct error *err)
{
    s->lock_path = xasprintf("%s.lock", s->target);
    for (int attempt = 0; attempt < 100; attempt++) {
        s->lock_fd = open(s->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (s->lock_fd < 0)
            return error_errno(err, errno, "%s: cannot create lock file", s->lock_path);
        if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
            int saved = errno;
            close(s->lock_fd);
            s->lock_fd = -1;
            if (saved == EWOULDBLOCK)
                return error_set(err, ERROR_RUNTIME,
                                 "%s: another airfactory process is writing this bundle (%s "
                                 "is locked); wait for it to finish",
                                 s->target, s->lock_path);
            return error_errno(err, saved, "%s: cannot lock", s->lock_path);
        }
        struct stat held, named;
        if (fstat(s->lock_fd, &held) == 0 && stat(s->lock_path, &named) == 0 && held.st_dev == named.st_dev &&
            held.st_ino == named.st_ino)
            return 0;
        close(s->lock_fd); /* removed by its previous holder after we opened it: try again */
        s->lock_fd = -1;
    }
    return error_set(err, ERROR_RUNTIME, "%s: cannot take the lock (it keeps changing)", s->lock_path);
}

int bundle_staging_open(struct bundle_staging *s, const char *target, bool allow_resume, struct error *err)
{
    memset(s, 0, sizeof *s);
    s->lock_fd = -1;
    if (!target || !*target)
        return error_set(err, ERROR_INPUT, "no bundle directory given");
    s->target = normalize(target);
    char *parent = path_dirname(s->target);
    if (fs_mkdir_p(parent, 0755, err) != 0) {
        free(parent);
        goto fail;
    }
    free(parent);

    if (take_lock(s, err) != 0)
        goto fail;

    char *adopt = NULL;
    if (recover(s, allow_resume, &adopt, err) != 0)
        goto fail;
    if (fs_exists(s->target) && (!fs_is_dir(s->target) || !looks_like_bundle(s->target))) {
        free(adopt);
        error_set(err, ERROR_INPUT,
                  "%s: exists and is not a bundle (no index.db or oci-layout) nor an empty "
                  "directory; refusing to replace it — choose another path",
                  s->target);
        goto fail;
    }
    if (adopt) {
        s->tmp = adopt;
        s->resumed = true;
        return 0;
    }
    s->tmp = xasprintf("%s.tmp-XXXXXX", s->target);
    if (!mkdtemp(s->tmp)) {
        error_errno(err, errno, "%s: cannot create temporary directory", s->tmp);
        free(s->tmp);
        s->tmp = NULL;
        goto fail;
    }
    if (chmod(s->tmp, 0755) != 0) { /* mkdtemp makes 0700; a server user must read the bundle */
        error_errno(err, errno, "%s: chmod failed", s->tmp);
        goto fail;
    }
    return 0;
fail:
    bundle_staging_abort(s);
    return -1;
}

static int sync_at(int parent_fd, const char *name, const char *shown, struct error *err)
{
    int fd = openat(parent_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "%s: cannot open for fsync", shown);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int saved = errno;
        close(fd);
        return error_errno(err, saved, "%s: stat failed", shown);
    }
    int rc = 0;
    if (S_ISDIR(st.st_mode)) {
        int dup_fd = dup(fd);
        DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
        if (!d) {
            int saved = errno;
            if (dup_fd >= 0)
                close(dup_fd);
            close(fd);
            return error_errno(err, saved, "%s: cannot read directory", shown);
        }
        struct dirent *e;
        while (rc == 0 && (e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char *child = path_join(shown, e->d_name);
            rc = sync_at(fd, e->d_name, child, err);
            free(child);
        }
        closedir(d);
    }
    if (rc == 0 && fsync(fd) != 0 && errno != EINVAL)
        rc = error_errno(err, errno, "%s: fsync failed", shown);
    close(fd);
    return rc;
}

int bundle_staging_sync_tree(const char *path, struct error *err)
{
    return sync_at(AT_FDCWD, path, path, err);
}

int bundle_staging_commit(struct bundle_staging *s, struct error *err)
{
    if (!s->tmp)
        return error_set(err, ERROR_RUNTIME, "bundle staging: commit without an open temporary directory");
    if (bundle_staging_sync_tree(s->tmp, err) != 0)
        return -1;
    BUNDLE_TEST_POINT("staging-before-swap");
    char *parent = path_dirname(s->target);
    char *old = NULL;
    int rc = -1;
    if (fs_exists(s->target)) {
        int swapped = bundle_test_no_exchange ? -1 : renameat2(AT_FDCWD, s->tmp, AT_FDCWD, s->target, RENAME_EXCHANGE);
        if (swapped == 0) {
            s->swapped = true;
            old = s->tmp; /* the tmp name now holds the previous bundle */
            s->tmp = NULL;
        } else if (bundle_test_no_exchange || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) {
            old = xasprintf("%s.old-XXXXXX", s->target);
            /* rename(2) may replace an empty directory, so mkdtemp reserves a unique name */
            if (!mkdtemp(old)) {
                error_errno(err, errno, "%s: cannot create a directory for the previous bundle", old);
                free(old);
                old = NULL;
                goto out;
            }
            if (rename(s->target, old) != 0) {
                error_errno(err, errno, "%s: cannot move the previous bundle aside to %s", s->target, old);
                rmdir(old);
                free(old);
                old = NULL;
                goto out;
            }
            BUNDLE_TEST_POINT("staging-between-renames");
            if (rename(s->tmp, s->target) != 0) {
                int saved = errno;
                if (rename(old, s->target) == 0) { /* put the previous bundle back */
                    free(old);
                    old = NULL;
                }
                error_errno(err, saved, "%s: cannot move the new bundle into place", s->target);
                goto out;
            }
            s->swapped = true;
            free(s->tmp);
            s->tmp = NULL;
        } else {
            error_errno(err, errno, "%s: cannot swap the new bundle into place", s->target);
            goto out;
        }
    } else {
        if (rename(s->tmp, s->target) != 0) {
            error_errno(err, errno, "%s: cannot move the new bundle into place", s->target);
            goto out;
        }
        s->swapped = true;
        free(s->tmp);
        s->tmp = NULL;
    }
    if (fs_fsync_dir(parent, err) != 0)
        goto out;
    BUNDLE_TEST_POINT("staging-after-swap");
    if (old && fs_remove_tree(old, err) != 0)
        goto out;
    if (old && fs_fsync_dir(parent, err) != 0)
        goto out;
    rc = 0;
out:
    free(old);
    free(parent);
    if (rc == 0)
        bundle_staging_abort(s); /* unlock and free; tmp is already gone */
    return rc;
}

void bundle_staging_abort(struct bundle_staging *s)
{
    if (s->tmp) {
        struct error ignored;
        fs_remove_tree(s->tmp, &ignored);
    }
    free(s->tmp);
    free(s->target);
    s->tmp = s->target = NULL;
    if (s->lock_fd >= 0) {
        unlink(s->lock_path); /* while still holding it: see take_lock */
        close(s->lock_fd);
    }
    s->lock_fd = -1;
    free(s->lock_path);
    s->lock_path = NULL;
    s->resumed = false;
    s->swapped = false;
}
