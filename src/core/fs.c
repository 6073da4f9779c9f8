/* fs — see fs.h. */
#include "core/fs.h"
#include "core/memory.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *path_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    if (la == 1 && a[0] == '/')
        return xasprintf("/%s", b);
    return xasprintf("%.*s/%s", (int)la, a, b);
}

char *path_clean(const char *path)
{
    size_t len = strlen(path);
    char *out = xmalloc(len + 2);
    size_t o = 0;
    out[o++] = '/';
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t n = strcspn(p, "/");
        if (n == 1 && p[0] == '.') {
            /* skip */
        } else if (n == 2 && p[0] == '.' && p[1] == '.') {
            if (o > 1) {
                o--; /* drop the trailing slash, then the last component */
                while (o > 1 && out[o - 1] != '/')
                    o--;
            }
        } else {
            memcpy(out + o, p, n);
            o += n;
            out[o++] = '/';
        }
        p += n;
    }
    if (o > 1)
        o--;
    out[o] = '\0';
    return out;
}

char *path_resolve(const char *base_dir, const char *path)
{
    if (path[0] == '/')
        return path_clean(path);
    char *joined = path_join(base_dir, path);
    char *clean = path_clean(joined);
    free(joined);
    return clean;
}

int path_absolute(const char *dir, char **out, struct error *err)
{
    *out = NULL;
    if (dir && dir[0] == '/') {
        *out = path_clean(dir);
        return 0;
    }
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return error_errno(err, errno, "getcwd");
    *out = dir ? path_resolve(cwd, dir) : path_clean(cwd);
    return 0;
}

char *path_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

int fs_write_all(int fd, const void *data, size_t len, const char *what, struct error *err)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return error_errno(err, errno, "%s: write failed", what);
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int fs_pwrite_all(int fd, const void *data, size_t len, uint64_t offset, const char *what, struct error *err)
{
    const char *p = data;
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)offset);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return error_errno(err, errno, "%s: write failed", what);
        }
        p += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

int fs_read_all(int fd, void *data, size_t len, const char *what, struct error *err)
{
    char *p = data;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return error_errno(err, errno, "%s: read failed", what);
        }
        if (n == 0)
            return error_set(err, ERROR_INPUT, "%s: unexpected end of file", what);
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int atomic_file_open(struct atomic_file *f, const char *path, mode_t mode, struct error *err)
{
    f->path = xstrdup(path);
    f->tmp_path = xasprintf("%s.tmp-XXXXXX", path);
    f->fd = mkostemp(f->tmp_path, O_CLOEXEC);
    if (f->fd < 0) {
        int saved = errno;
        free(f->path);
        free(f->tmp_path);
        f->path = f->tmp_path = NULL;
        return error_errno(err, saved, "%s: cannot create temporary file", path);
    }
    if (fchmod(f->fd, mode) != 0) {
        int saved = errno;
        atomic_file_abort(f);
        return error_errno(err, saved, "%s: chmod failed", path);
    }
    return 0;
}

int atomic_file_write(struct atomic_file *f, const void *data, size_t len, struct error *err)
{
    return fs_write_all(f->fd, data, len, f->path, err);
}

int atomic_file_commit(struct atomic_file *f, struct error *err)
{
    if (fsync(f->fd) != 0) {
        int saved = errno;
        atomic_file_abort(f);
        return error_errno(err, saved, "%s: fsync failed", f ? "file" : "");
    }
    if (close(f->fd) != 0) {
        int saved = errno;
        f->fd = -1;
        char *p = xstrdup(f->path);
        atomic_file_abort(f);
        error_errno(err, saved, "%s: close failed", p);
        free(p);
        return -1;
    }
    f->fd = -1;
    if (rename(f->tmp_path, f->path) != 0) {
        int saved = errno;
        char *p = xstrdup(f->path);
        atomic_file_abort(f);
        error_errno(err, saved, "%s: rename into place failed", p);
        free(p);
        return -1;
    }
    char *dir = path_dirname(f->path);
    free(f->tmp_path);
    f->tmp_path = NULL;
    int rc = fs_fsync_dir(dir, err);
    free(dir);
    free(f->path);
    f->path = NULL;
    return rc;
}

void atomic_file_abort(struct atomic_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (f->tmp_path)
        unlink(f->tmp_path);
    free(f->tmp_path);
    free(f->path);
    f->tmp_path = f->path = NULL;
}

int fs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, struct error *err)
{
    struct atomic_file f;
    if (atomic_file_open(&f, path, mode, err) != 0)
        return -1;
    if (atomic_file_write(&f, data, len, err) != 0) {
        atomic_file_abort(&f);
        return -1;
    }
    return atomic_file_commit(&f, err);
}

int fs_open_regular(const char *path, const char *what, struct error *err)
{
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever; on a
     * regular file it changes nothing. O_NOCTTY: a terminal never becomes ours. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "%s%s%s: cannot open", what ? what : "", what ? " " : "", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int saved = errno;
        close(fd);
        return error_errno(err, saved, "%s%s%s: cannot stat", what ? what : "", what ? " " : "", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return error_set(err, ERROR_INPUT, "%s%s%s: is %s, not a regular file", what ? what : "", what ? " " : "", path,
                         S_ISDIR(st.st_mode)                          ? "a directory"
                         : S_ISFIFO(st.st_mode)                       ? "a FIFO (named pipe)"
                         : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                         : S_ISSOCK(st.st_mode)                       ? "a socket"
                                                                      : "not a file");
    }
    return fd;
}

int fs_read_fd(int fd, const char *what, size_t max_size, struct buffer *out, struct error *err)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > max_size)
        return error_set(err, ERROR_INPUT, "%s: larger than the %zu bytes allowed for this kind of file", what, max_size);
    char chunk[65536];
    size_t start = out->len;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int saved = errno;
            out->len = start;
            return error_errno(err, saved, "%s: read failed", what);
        }
        if (n == 0)
            break;
        if (out->len - start + (size_t)n > max_size) {
            out->len = start;
            return error_set(err, ERROR_INPUT, "%s: larger than the %zu bytes allowed for this kind of file", what,
                             max_size);
        }
        buffer_append(out, chunk, (size_t)n);
    }
    buffer_reserve(out, 0);
    return 0;
}

int fs_read_file(const char *path, size_t max_size, struct buffer *out, struct error *err)
{
    int fd = fs_open_regular(path, NULL, err);
    if (fd < 0)
        return -1;
    int rc = fs_read_fd(fd, path, max_size, out, err);
    close(fd);
    return rc;
}

int fs_next_extent(int fd, uint64_t pos, uint64_t size, uint64_t *start, uint64_t *end, const char *what,
                   struct error *err)
{
    if (pos >= size)
        return 0;
    off_t data = lseek(fd, (off_t)pos, SEEK_DATA);
    if (data < 0) {
        if (errno == ENXIO)
            return 0; /* only a hole is left */
        return error_errno(err, errno, "%s: SEEK_DATA", what);
    }
    if ((uint64_t)data >= size)
        return 0;
    off_t hole = lseek(fd, data, SEEK_HOLE);
    *start = (uint64_t)data;
    *end = hole < 0 || (uint64_t)hole > size ? size : (uint64_t)hole;
    return 1;
}

ssize_t fs_pread_full(int fd, void *buf, size_t len, uint64_t offset)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(offset + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int fs_copy_fd(int in, int out, const char *from, const char *to, struct error *err)
{
    for (;;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
        if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
            char buf[1 << 16];
            for (;;) {
                ssize_t r = read(in, buf, sizeof buf);
                if (r < 0 && errno == EINTR)
                    continue;
                if (r < 0)
                    return error_errno(err, errno, "%s: read failed", from);
                if (r == 0)
                    return 0;
                if (fs_write_all(out, buf, (size_t)r, to, err) != 0)
                    return -1;
            }
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return error_errno(err, errno, "copying %s to %s failed", from, to);
        }
        if (n == 0)
            return 0;
    }
}

int fs_copy_file(const char *from, const char *to, struct error *err)
{
    int in = fs_open_regular(from, NULL, err);
    if (in < 0)
        return -1;
    struct atomic_file f;
    if (atomic_file_open(&f, to, 0644, err) != 0) {
        close(in);
        return -1;
    }
    int rc = fs_copy_fd(in, f.fd, from, to, err);
    close(in);
    if (rc != 0) {
        atomic_file_abort(&f);
        return -1;
    }
    return atomic_file_commit(&f, err);
}

int fs_mkdir_p(const char *path, mode_t mode, struct error *err)
{
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) != 0 && errno != EEXIST) {
            int saved = errno;
            error_errno(err, saved, "%s: cannot create directory", p);
            free(p);
            return -1;
        }
        *s = '/';
    }
    if (mkdir(p, mode) != 0 && errno != EEXIST) {
        int saved = errno;
        error_errno(err, saved, "%s: cannot create directory", p);
        free(p);
        return -1;
    }
    free(p);
    if (!fs_is_dir(path))
        return error_set(err, ERROR_RUNTIME, "%s: exists and is not a directory", path);
    return 0;
}

int fs_fsync_path(const char *path, struct error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "%s: cannot open for fsync", path);
    if (fsync(fd) != 0 && errno != EINVAL) {
        int saved = errno;
        close(fd);
        return error_errno(err, saved, "%s: fsync failed", path);
    }
    close(fd);
    return 0;
}

int fs_fsync_dir(const char *path, struct error *err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "%s: cannot open directory for fsync", path);
    if (fsync(fd) != 0 && errno != EINVAL) {
        int saved = errno;
        close(fd);
        return error_errno(err, saved, "%s: fsync of directory failed", path);
    }
    close(fd);
    return 0;
}

static int remove_at(int parent_fd, const char *name, const char *shown, struct error *err)
{
    struct stat st;
    if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : error_errno(err, errno, "%s: stat failed", shown);
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(parent_fd, name, 0) != 0 && errno != ENOENT)
            return error_errno(err, errno, "%s: cannot remove", shown);
        return 0;
    }
    int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "%s: cannot open directory", shown);
    DIR *d = fdopendir(fd);
    if (!d) {
        int saved = errno;
        close(fd);
        return error_errno(err, saved, "%s: cannot read directory", shown);
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *child = path_join(shown, e->d_name);
        rc = remove_at(dirfd(d), e->d_name, child, err);
        free(child);
    }
    closedir(d);
    if (rc == 0 && unlinkat(parent_fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
        return error_errno(err, errno, "%s: cannot remove directory", shown);
    return rc;
}

int fs_remove_tree(const char *path, struct error *err)
{
    return remove_at(AT_FDCWD, path, path, err);
}

bool fs_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

bool fs_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int fs_list_dir(int dir_fd, const char *what, char ***names, size_t *count, struct error *err)
{
    *names = NULL;
    *count = 0;
    int fd = dup(dir_fd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        return error_errno(err, saved, "%s: cannot list", what);
    }
    rewinddir(d); /* the duplicate shares dir_fd's position */
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        *names = xrealloc(*names, (*count + 1) * sizeof **names);
        (*names)[(*count)++] = xstrdup(e->d_name);
    }
    closedir(d);
    if (*count > 1)
        qsort(*names, *count, sizeof **names, compare_names);
    return 0;
}

void fs_names_free(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

static int walk_dir(const char *dir, const char *relative, fs_walk_fn fn, void *context, struct error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "%s: cannot open directory", dir);
    char **names = NULL;
    size_t count = 0;
    int rc = fs_list_dir(fd, dir, &names, &count, err);
    close(fd);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        char *path = path_join(dir, names[i]);
        char *rel = relative[0] ? xasprintf("%s/%s", relative, names[i]) : xstrdup(names[i]);
        struct stat st;
        if (lstat(path, &st) != 0)
            rc = error_errno(err, errno, "%s: cannot stat", path);
        if (rc == 0)
            rc = fn(context, rel, path, &st, err);
        if (rc == 0 && S_ISDIR(st.st_mode))
            rc = walk_dir(path, rel, fn, context, err);
        free(path);
        free(rel);
    }
    fs_names_free(names, count);
    return rc;
}

int fs_walk(const char *dir, fs_walk_fn fn, void *context, struct error *err)
{
    return walk_dir(dir, "", fn, context, err);
}
