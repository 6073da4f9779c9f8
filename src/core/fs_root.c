/* fs_root — see fs_root.h. */
#include "core/fs_root.h"
#include "core/fs.h"
#include "core/memory.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FOLLOW_MAX 40 /* the kernel's limit on symlinks in one lookup (MAXSYMLINKS) */
#define COPY_DEPTH_MAX 64

int fs_root_open(struct fs_root *r, const char *path, const char *prefix, const char *label, struct error *err)
{
    memset(r, 0, sizeof *r);
    r->fd = -1;
    struct buffer p = BUFFER_INIT;
    for (const char *s = prefix ? prefix : ""; *s;) {
        while (*s == '/')
            s++;
        size_t n = strcspn(s, "/");
        if (!n)
            break;
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) {
            buffer_free(&p);
            return error_set(err, ERROR_INPUT, "%s: prefix '%s' must name a directory without '.' or '..'", label,
                             prefix);
        }
        if (p.len)
            buffer_append_char(&p, '/');
        buffer_append(&p, s, n);
        s += n;
    }
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        buffer_free(&p);
        return error_errno(err, errno, "%s: cannot open the extracted tree %s", label, path);
    }
    r->fd = fd;
    r->path = xstrdup(path);
    r->prefix = p.len ? buffer_take(&p) : xstrdup("");
    buffer_free(&p);
    r->label = xstrdup(label);
    return 0;
}

void fs_root_close(struct fs_root *r)
{
    if (r->fd >= 0)
        close(r->fd);
    free(r->path);
    free(r->prefix);
    free(r->label);
    memset(r, 0, sizeof *r);
    r->fd = -1;
}

void fs_root_entry_free(struct fs_root_entry *e)
{
    free(e->image_path);
    free(e->host_path);
    memset(e, 0, sizeof *e);
}

/* ---- the walk ----
 * The position is a canonical image path, one component per level: comp[0..n). fds[d] is the
 * open directory at depth d, for depths at or below the prefix (d >= pre_n); above it the walk
 * may only move along the prefix itself, whose directories the tree stands for. */
struct walk {
    const struct fs_root *r;
    char **pre;
    size_t pre_n;
    char **comp;
    int *fds;
    size_t n, cap;
    unsigned links;
    char *link_path, *link_target; /* the last link followed (for errors) */
};

static void walk_push(struct walk *w, const char *name, int fd)
{
    if (w->n + 1 >= w->cap) {
        w->cap = w->cap ? w->cap * 2 : 16;
        w->comp = xrealloc(w->comp, w->cap * sizeof *w->comp);
        w->fds = xrealloc(w->fds, (w->cap + 1) * sizeof *w->fds);
    }
    w->comp[w->n++] = xstrdup(name);
    w->fds[w->n] = fd;
}

static void walk_pop(struct walk *w)
{
    if (w->fds[w->n] >= 0)
        close(w->fds[w->n]);
    w->n--;
    free(w->comp[w->n]);
}

/* "/a/b" (+ "/extra") from the current position; "/" at the root. */
static char *walk_where(const struct walk *w, const char *extra)
{
    struct buffer b = BUFFER_INIT;
    for (size_t i = 0; i < w->n; i++) {
        buffer_append_char(&b, '/');
        buffer_append_str(&b, w->comp[i]);
    }
    if (extra && *extra) {
        buffer_append_char(&b, '/');
        buffer_append_str(&b, extra);
    }
    if (!b.len)
        buffer_append_char(&b, '/');
    return buffer_take(&b);
}

static void walk_init(struct walk *w, const struct fs_root *r)
{
    memset(w, 0, sizeof *w);
    w->r = r;
    for (const char *s = r->prefix; *s;) {
        size_t n = strcspn(s, "/");
        w->pre = xrealloc(w->pre, (w->pre_n + 1) * sizeof *w->pre);
        w->pre[w->pre_n++] = xstrndup(s, n);
        s += n;
        while (*s == '/')
            s++;
    }
    w->cap = 16;
    w->comp = xcalloc(w->cap, sizeof *w->comp);
    w->fds = xcalloc(w->cap + 1, sizeof *w->fds);
    w->fds[0] = w->pre_n == 0 ? dup(r->fd) : -1;
}

static void walk_free(struct walk *w)
{
    while (w->n)
        walk_pop(w);
    if (w->fds && w->fds[0] >= 0)
        close(w->fds[0]);
    for (size_t i = 0; i < w->pre_n; i++)
        free(w->pre[i]);
    free(w->pre);
    free(w->comp);
    free(w->fds);
    free(w->link_path);
    free(w->link_target);
}

/* "LABEL: /link -> target" or "LABEL: /path" for the start of an error. */
static char *walk_subject(const struct walk *w, const char *path)
{
    if (w->links)
        return xasprintf("%s: %s -> %s", w->r->label, w->link_path, w->link_target);
    while (*path == '/')
        path++;
    return xasprintf("%s: /%s", w->r->label, path);
}

static const char *type_name(mode_t m)
{
    return S_ISDIR(m)                 ? "a directory"
           : S_ISREG(m)               ? "a regular file"
           : S_ISCHR(m) || S_ISBLK(m) ? "a device node"
           : S_ISFIFO(m)              ? "a FIFO"
           : S_ISSOCK(m)              ? "a socket"
                                      : "a special file";
}

static int walk_run(struct walk *w, const char *path, enum fs_root_want want, int *fd_out, struct fs_root_entry *out,
                    struct error *err)
{
    const char *hint = "links in an image are resolved inside the image, never on the build host";
    char *rest = xstrdup(path);
    char *final = NULL; /* the last component, when it is not a directory */
    struct stat st;
    int rc = -1, fd = -1;
    size_t pos = 0;
    for (;;) {
        while (rest[pos] == '/')
            pos++;
        if (!rest[pos])
            break;
        size_t len = strcspn(rest + pos, "/");
        char *c = xstrndup(rest + pos, len);
        pos += len;
        while (rest[pos] == '/')
            pos++;
        bool last = !rest[pos];
        if (!strcmp(c, ".")) {
            free(c);
            continue;
        }
        if (!strcmp(c, "..")) {
            free(c);
            if (w->n == 0) {
                char *s = walk_subject(w, path);
                error_set(err, ERROR_INPUT, "%s: climbs above the image's root: refused (%s)", s, hint);
                free(s);
                goto done;
            }
            walk_pop(w);
            continue;
        }
        if (w->n < w->pre_n) { /* above the extracted part: only the prefix's own directories */
            if (strcmp(c, w->pre[w->n]) != 0) {
                char *s = walk_subject(w, path), *to = walk_where(w, c);
                if (rest[pos]) {
                    char *full = xasprintf("%s/%s", to, rest + pos);
                    free(to);
                    to = full;
                }
                error_set(err, ERROR_INPUT,
                          "%s: leads to %s, outside /%s (the only part of the image extracted): "
                          "refused (%s)",
                          s, to, w->r->prefix, hint);
                free(s);
                free(to);
                free(c);
                goto done;
            }
            walk_push(w, c, w->n + 1 == w->pre_n ? dup(w->r->fd) : -1);
            free(c);
            continue;
        }
        int dir = w->fds[w->n];
        if (fstatat(dir, c, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            int e = errno;
            char *to = walk_where(w, c);
            if (e == ENOENT && !w->links) {
                free(to);
                free(c);
                rc = 0; /* the image has no such path */
                goto done;
            }
            char *s = walk_subject(w, path);
            if (rest[pos]) { /* name the whole path the link leads to, not just its first missing part */
                char *full = xasprintf("%s/%s", to, rest + pos);
                size_t fl = strlen(full);
                while (fl > 1 && full[fl - 1] == '/')
                    full[--fl] = '\0';
                free(to);
                to = full;
            }
            if (e == ENOENT)
                error_set(err, ERROR_INPUT, "%s: %s is not in the image: refused (%s)", s, to, hint);
            else
                error_errno(err, e, "%s: %s", s, to);
            free(s);
            free(to);
            free(c);
            goto done;
        }
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t tn = readlinkat(dir, c, target, sizeof target - 1);
            char *here = walk_where(w, c);
            if (tn <= 0 || ++w->links > FOLLOW_MAX) {
                if (tn < 0)
                    error_errno(err, errno, "%s: %s: cannot read the link", w->r->label, here);
                else if (tn == 0)
                    error_set(err, ERROR_INPUT, "%s: %s is a link to nothing (empty target)", w->r->label, here);
                else
                    error_set(err, ERROR_INPUT, "%s: %s: more than %d levels of symbolic links (a loop?)", w->r->label,
                              here, FOLLOW_MAX);
                free(here);
                free(c);
                goto done;
            }
            target[tn] = '\0';
            free(w->link_path);
            free(w->link_target);
            w->link_path = here;
            w->link_target = xstrdup(target);
            char *next = xasprintf("%s/%s", target, rest + pos);
            free(rest);
            rest = next;
            pos = 0;
            if (target[0] == '/')
                while (w->n)
                    walk_pop(w);
            free(c);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            int d = openat(dir, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (d < 0) {
                char *to = walk_where(w, c);
                error_errno(err, errno, "%s: %s: cannot open", w->r->label, to);
                free(to);
                free(c);
                goto done;
            }
            walk_push(w, c, d);
            free(c);
            continue;
        }
        if (!last || !S_ISREG(st.st_mode)) {
            char *s = walk_subject(w, path), *to = walk_where(w, c);
            if (!last)
                error_set(err, ERROR_INPUT, "%s: %s is %s, not a directory", s, to, type_name(st.st_mode));
            else
                error_set(err, ERROR_INPUT, "%s: %s is %s; only regular files and directories are read from an image",
                          s, to, type_name(st.st_mode));
            free(s);
            free(to);
            free(c);
            goto done;
        }
        final = c;
        break;
    }
    char *s = NULL;
    if (w->n < w->pre_n) {
        s = walk_subject(w, path);
        char *to = walk_where(w, final);
        error_set(err, ERROR_INPUT, "%s: leads to %s, outside /%s (the only part of the image extracted): refused (%s)",
                  s, to, w->r->prefix, hint);
        free(to);
        goto fail;
    }
    if (final) {
        fd = openat(w->fds[w->n], final, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    } else {
        fd = openat(w->fds[w->n], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        char *to = walk_where(w, final);
        error_errno(err, e, "%s: %s: cannot open", w->r->label, to);
        free(to);
        goto fail;
    }
    if ((want == FS_ROOT_FILE && !S_ISREG(st.st_mode)) || (want == FS_ROOT_DIR && !S_ISDIR(st.st_mode)) ||
        (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))) {
        s = walk_subject(w, path);
        char *to = walk_where(w, final);
        error_set(err, ERROR_INPUT, "%s: %s is %s, not %s", s, to, type_name(st.st_mode),
                  want == FS_ROOT_DIR ? "a directory" : "a regular file");
        free(to);
        goto fail;
    }
    if (out) {
        memset(out, 0, sizeof *out);
        struct buffer ip = BUFFER_INIT, hp = BUFFER_INIT;
        buffer_append_str(&hp, w->r->path);
        for (size_t i = 0; i <= w->n; i++) {
            const char *name = i < w->n ? w->comp[i] : final;
            if (!name)
                break;
            if (ip.len)
                buffer_append_char(&ip, '/');
            buffer_append_str(&ip, name);
            if (i >= w->pre_n) {
                buffer_append_char(&hp, '/');
                buffer_append_str(&hp, name);
            }
        }
        out->image_path = ip.len ? buffer_take(&ip) : xstrdup("");
        out->host_path = buffer_take(&hp);
        buffer_free(&ip);
        out->st = st;
    }
    *fd_out = fd;
    fd = -1;
    rc = 1;
fail:
    free(s);
    if (fd >= 0)
        close(fd);
done:
    free(final);
    free(rest);
    return rc;
}

int fs_open_in_root(const struct fs_root *r, const char *path, enum fs_root_want want, int *fd,
                    struct fs_root_entry *out, struct error *err)
{
    *fd = -1;
    struct walk w;
    walk_init(&w, r);
    int rc;
    if (w.pre_n == 0 && w.fds[0] < 0)
        rc = error_errno(err, errno, "%s: dup failed", r->label);
    else
        rc = walk_run(&w, path ? path : "", want, fd, out, err);
    walk_free(&w);
    return rc;
}

/* ---- copying with links resolved ---- */

static char *child_of(const char *image_path, const char *name)
{
    return *image_path ? xasprintf("%s/%s", image_path, name) : xstrdup(name);
}

/* Copy the open regular file in (st) to a new file at host path `to` (replacing a file there). */
static int copy_file_to(const struct fs_root *r, int in, const struct fs_root_entry *e, const char *to, uint64_t *left,
                        struct error *err)
{
    if ((uint64_t)e->st.st_size > *left)
        return error_set(err, ERROR_INPUT,
                         "%s: resolving its links would copy more than the bytes allowed (at "
                         "/%s): refused",
                         r->label, e->image_path);
    *left -= (uint64_t)e->st.st_size;
    struct stat old;
    if (lstat(to, &old) == 0 && !S_ISDIR(old.st_mode) && unlink(to) != 0)
        return error_errno(err, errno, "%s: cannot replace", to);
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0)
        return error_errno(err, errno, "%s: cannot create", to);
    int rc = fs_copy_fd(in, out, e->host_path, to, err);
    if (rc == 0 && fchmod(out, e->st.st_mode & 07777) != 0)
        rc = error_errno(err, errno, "%s: chmod failed", to);
    if (close(out) != 0 && rc == 0)
        rc = error_errno(err, errno, "%s: close failed", to);
    if (rc != 0)
        unlink(to);
    return rc;
}

static int copy_tree_at(const struct fs_root *r, const char *path, const char *dest, uint64_t *left, int depth,
                        struct error *err)
{
    if (depth > COPY_DEPTH_MAX)
        return error_set(err, ERROR_INPUT,
                         "%s: /%s: directories nest more than %d deep through links (a link to "
                         "an ancestor?): refused",
                         r->label, path, COPY_DEPTH_MAX);
    int dfd;
    struct fs_root_entry e;
    int found = fs_open_in_root(r, path, FS_ROOT_DIR, &dfd, &e, err);
    if (found <= 0)
        return found == 0 ? error_set(err, ERROR_INPUT, "%s: /%s is not in the image", r->label, path) : -1;
    int rc = 0;
    if (mkdir(dest, 0700) != 0 && errno != EEXIST)
        rc = error_errno(err, errno, "%s: cannot create directory", dest);
    struct stat dst;
    if (rc == 0 && (lstat(dest, &dst) != 0 || !S_ISDIR(dst.st_mode)))
        rc = error_set(err, ERROR_RUNTIME, "%s: exists and is not a directory", dest);
    char **names = NULL;
    size_t count = 0;
    if (rc == 0)
        rc = fs_list_dir(dfd, e.host_path, &names, &count, err);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        char *child = child_of(e.image_path, names[i]);
        char *to = path_join(dest, names[i]);
        int cfd;
        struct fs_root_entry ce;
        int cr = fs_open_in_root(r, child, FS_ROOT_ANY, &cfd, &ce, err);
        if (cr == 0) /* vanished while we copy: the tree is ours, so this is a bug elsewhere */
            rc = error_set(err, ERROR_RUNTIME, "%s: /%s vanished while being copied", r->label, child);
        else if (cr < 0)
            rc = -1;
        else {
            if (S_ISDIR(ce.st.st_mode))
                rc = copy_tree_at(r, ce.image_path, to, left, depth + 1, err);
            else
                rc = copy_file_to(r, cfd, &ce, to, left, err);
            close(cfd);
            fs_root_entry_free(&ce);
        }
        free(child);
        free(to);
    }
    fs_names_free(names, count);
    if (rc == 0 && chmod(dest, (e.st.st_mode & 07777) | 0700) != 0)
        rc = error_errno(err, errno, "%s: chmod failed", dest);
    close(dfd);
    fs_root_entry_free(&e);
    return rc;
}

int fs_root_copy_tree(const struct fs_root *r, const char *path, const char *dest, uint64_t max_bytes, struct error *err)
{
    uint64_t left = max_bytes;
    return copy_tree_at(r, path, dest, &left, 0, err);
}

static int resolve_links_at(const struct fs_root *r, const char *path, uint64_t *left, struct error *err)
{
    int dfd;
    struct fs_root_entry e;
    int found = fs_open_in_root(r, path, FS_ROOT_DIR, &dfd, &e, err);
    if (found <= 0)
        return found == 0 ? error_set(err, ERROR_INPUT, "%s: /%s is not in the image", r->label, path) : -1;
    char **names = NULL;
    size_t count = 0;
    int rc = fs_list_dir(dfd, e.host_path, &names, &count, err);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        struct stat st;
        if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = error_errno(err, errno, "%s/%s: stat failed", e.host_path, names[i]);
            break;
        }
        if (!S_ISLNK(st.st_mode) && !S_ISDIR(st.st_mode))
            continue;
        char *child = child_of(e.image_path, names[i]);
        if (S_ISDIR(st.st_mode)) {
            rc = resolve_links_at(r, child, left, err);
            free(child);
            continue;
        }
        int cfd;
        struct fs_root_entry ce;
        int cr = fs_open_in_root(r, child, FS_ROOT_ANY, &cfd, &ce, err);
        if (cr <= 0) {
            if (cr == 0)
                rc = error_set(err, ERROR_RUNTIME, "%s: /%s vanished while its links were resolved", r->label, child);
            else
                rc = -1;
            free(child);
            break;
        }
        /* build the replacement beside the link, then put it in the link's place */
        char *tmp = xasprintf("%s/.airfactory-link-XXXXXX", e.host_path);
        if (S_ISREG(ce.st.st_mode)) {
            int t = mkostemp(tmp, O_CLOEXEC);
            if (t < 0) {
                rc = error_errno(err, errno, "%s: cannot create", tmp);
            } else {
                close(t);
                rc = copy_file_to(r, cfd, &ce, tmp, left, err);
                if (rc == 0 && renameat(dfd, strrchr(tmp, '/') + 1, dfd, names[i]) != 0)
                    rc = error_errno(err, errno, "%s/%s: cannot replace the link", e.host_path, names[i]);
                if (rc != 0)
                    unlink(tmp);
            }
        } else {
            if (!mkdtemp(tmp)) {
                rc = error_errno(err, errno, "%s: cannot create", tmp);
            } else {
                rc = copy_tree_at(r, ce.image_path, tmp, left, 1, err);
                if (rc == 0 && unlinkat(dfd, names[i], 0) != 0)
                    rc = error_errno(err, errno, "%s/%s: cannot remove the link", e.host_path, names[i]);
                if (rc == 0 && renameat(dfd, strrchr(tmp, '/') + 1, dfd, names[i]) != 0)
                    rc = error_errno(err, errno, "%s/%s: cannot put the copy in place", e.host_path, names[i]);
                if (rc != 0) {
                    struct error ignored;
                    fs_remove_tree(tmp, &ignored);
                }
            }
        }
        free(tmp);
        close(cfd);
        fs_root_entry_free(&ce);
        free(child);
    }
    fs_names_free(names, count);
    close(dfd);
    fs_root_entry_free(&e);
    return rc;
}

int fs_root_resolve_links(const struct fs_root *r, const char *path, uint64_t max_bytes, struct error *err)
{
    uint64_t left = max_bytes;
    return resolve_links_at(r, path, &left, err);
}
