/* Unit tests for src/core/fs_root: paths of an extracted image resolve inside it, never on the
 * host. Each test plants a file OUTSIDE the tree (the "host secret") and links to it from inside
 * the tree the ways a hostile image can (absolute, `../` climbing, through a directory link, a
 * link to a directory); no call may return its bytes. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build_test_util.h"
#include "core/fs_root.h"
#include "test.h"

struct fixture {
    char *dir;    /* scratch: host/ and tree/ */
    char *host;   /* dir/host: files that must never be read through the tree */
    char *tree;   /* dir/tree: the extracted image */
    char *secret; /* dir/host/secret */
};

static void link_at(const struct fixture *fx, const char *rel, const char *target)
{
    char *p = path_join(fx->tree, rel);
    char *parent = xstrdup(p);
    *strrchr(parent, '/') = '\0';
    struct error err;
    fs_mkdir_p(parent, 0755, &err);
    if (symlink(target, p) != 0) {
        perror(p);
        exit(2);
    }
    free(parent);
    free(p);
}

static void fixture_init(struct fixture *fx)
{
    fx->dir = bt_scratch();
    fx->host = path_join(fx->dir, "host");
    fx->tree = path_join(fx->dir, "tree");
    fx->secret = path_join(fx->host, "secret");
    bt_write_str(fx->secret, "HOST-SECRET-BYTES\n");
    char *p = path_join(fx->tree, "usr/lib/firmware/real.bin");
    bt_write_str(p, "in-tree firmware\n");
    free(p);
    p = path_join(fx->tree, "usr/lib/grub/i386-pc/normal.mod");
    bt_write_str(p, "normal module\n");
    free(p);
    p = path_join(fx->tree, "usr/lib/grub/x86_64-efi/linux.mod");
    bt_write_str(p, "linux module\n");
    free(p);
    link_at(fx, "usr/lib/firmware/abs.bin", "/usr/lib/firmware/real.bin");
    link_at(fx, "usr/lib/firmware/rel.bin", "real.bin");
    link_at(fx, "usr/lib/firmware/dirlink", "/usr/lib/firmware");
    link_at(fx, "usr/lib/firmware/loop", "loop");
    char *abs_secret = xstrdup(fx->secret);
    link_at(fx, "usr/lib/firmware/host-abs.bin", abs_secret);
    /* enough ../ to reach the host's / from any scratch directory, then down to the secret */
    char *climb = xasprintf("../../../../../../../../../../../../../../../../..%s", fx->secret);
    link_at(fx, "usr/lib/firmware/host-rel.bin", climb);
    link_at(fx, "usr/lib/firmware/host-dir", fx->host);
    free(climb);
    free(abs_secret);
}

static void fixture_free(struct fixture *fx)
{
    bt_remove(fx->dir);
    free(fx->dir);
    free(fx->host);
    free(fx->tree);
    free(fx->secret);
}

static char *read_fd(int fd)
{
    struct buffer b = BUFFER_INIT;
    char chunk[256];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0)
        buffer_append(&b, chunk, (size_t)n);
    return buffer_take(&b);
}

/* Open path in the tree; returns its content, or NULL with err set (rc in *rc). */
static char *open_read(const struct fs_root *r, const char *path, int *rc, struct fs_root_entry *e, struct error *err)
{
    int fd = -1;
    *rc = fs_open_in_root(r, path, FS_ROOT_FILE, &fd, e, err);
    if (*rc != 1)
        return NULL;
    char *s = read_fd(fd);
    close(fd);
    return s;
}

static void in_tree_links_resolve_inside_the_tree(void)
{
    struct fixture fx;
    fixture_init(&fx);
    struct fs_root r;
    struct error err;
    CHECK_INT(fs_root_open(&r, fx.tree, NULL, "extension test", &err), 0);
    const char *paths[] = {"usr/lib/firmware/abs.bin", "/usr/lib/firmware/rel.bin", "usr/lib/firmware/dirlink/rel.bin",
                           "usr/lib/firmware/dirlink/dirlink/abs.bin", "usr/./lib//firmware/../firmware/real.bin"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        int rc;
        struct fs_root_entry e;
        char *s = open_read(&r, paths[i], &rc, &e, &err);
        CHECK_INT(rc, 1);
        CHECK_STR(s, "in-tree firmware\n");
        if (rc == 1) {
            CHECK_STR(e.image_path, "usr/lib/firmware/real.bin");
            char *want = path_join(fx.tree, "usr/lib/firmware/real.bin");
            CHECK_STR(e.host_path, want);
            free(want);
            fs_root_entry_free(&e);
        }
        free(s);
    }
    fs_root_close(&r);
    fixture_free(&fx);
}

static void links_to_host_files_are_refused_naming_image_path_and_target(void)
{
    struct fixture fx;
    fixture_init(&fx);
    struct fs_root r;
    struct error err;
    CHECK_INT(fs_root_open(&r, fx.tree, NULL, "extension ghcr.io/x/hostile:1", &err), 0);
    int rc;
    char *s = open_read(&r, "usr/lib/firmware/host-abs.bin", &rc, NULL, &err);
    CHECK_INT(rc, -1);
    CHECK(s == NULL);
    CHECK(strstr(err.message, "extension ghcr.io/x/hostile:1: /usr/lib/firmware/host-abs.bin -> ") != NULL);
    CHECK(strstr(err.message, fx.secret) != NULL);
    CHECK(strstr(err.message, "not in the image") != NULL);
    CHECK(strstr(err.message, "HOST-SECRET") == NULL);
    s = open_read(&r, "usr/lib/firmware/host-rel.bin", &rc, NULL, &err);
    CHECK_INT(rc, -1);
    CHECK(s == NULL);
    CHECK(strstr(err.message, "/usr/lib/firmware/host-rel.bin -> ../../") != NULL);
    CHECK(strstr(err.message, "climbs above the image's root") != NULL);
    s = open_read(&r, "usr/lib/firmware/host-dir/secret", &rc, NULL, &err);
    CHECK_INT(rc, -1);
    CHECK(s == NULL);
    CHECK(strstr(err.message, "/usr/lib/firmware/host-dir -> ") != NULL);
    /* the same absolute name planted INSIDE the tree is what the link means: that is read */
    char *planted = path_join(fx.tree, fx.secret);
    bt_write_str(planted, "the image's own file\n");
    s = open_read(&r, "usr/lib/firmware/host-abs.bin", &rc, NULL, &err);
    CHECK_INT(rc, 1);
    CHECK_STR(s, "the image's own file\n");
    free(s);
    s = open_read(&r, "usr/lib/firmware/host-dir/secret", &rc, NULL, &err);
    CHECK_INT(rc, 1);
    CHECK_STR(s, "the image's own file\n");
    free(s);
    free(planted);
    fs_root_close(&r);
    fixture_free(&fx);
}

static void absent_loops_fifos_and_wrong_types(void)
{
    struct fixture fx;
    fixture_init(&fx);
    struct fs_root r;
    struct error err;
    CHECK_INT(fs_root_open(&r, fx.tree, "", "image t", &err), 0);
    int fd = -1;
    CHECK_INT(fs_open_in_root(&r, "usr/lib/firmware/missing", FS_ROOT_FILE, &fd, NULL, &err), 0);
    CHECK_INT(fs_open_in_root(&r, "no/such/dir", FS_ROOT_ANY, &fd, NULL, &err), 0);
    CHECK_INT(fs_open_in_root(&r, "usr/lib/firmware/loop", FS_ROOT_FILE, &fd, NULL, &err), -1);
    CHECK(strstr(err.message, "levels of symbolic links") != NULL);
    char *fifo = path_join(fx.tree, "usr/lib/firmware/fifo");
    CHECK_INT(mkfifo(fifo, 0644), 0);
    CHECK_INT(fs_open_in_root(&r, "usr/lib/firmware/fifo", FS_ROOT_FILE, &fd, NULL, &err), -1);
    CHECK(strstr(err.message, "a FIFO") != NULL);
    CHECK_INT(fs_open_in_root(&r, "usr/lib/firmware", FS_ROOT_FILE, &fd, NULL, &err), -1);
    CHECK(strstr(err.message, "is a directory, not a regular file") != NULL);
    CHECK_INT(fs_open_in_root(&r, "usr/lib/firmware/real.bin", FS_ROOT_DIR, &fd, NULL, &err), -1);
    CHECK_INT(fs_open_in_root(&r, "usr/lib/firmware/real.bin/x", FS_ROOT_ANY, &fd, NULL, &err), -1);
    CHECK(strstr(err.message, "not a directory") != NULL);
    CHECK_INT(fs_open_in_root(&r, "../etc/passwd", FS_ROOT_FILE, &fd, NULL, &err), -1);
    CHECK(strstr(err.message, "climbs above") != NULL);
    struct fs_root_entry e;
    CHECK_INT(fs_open_in_root(&r, "/", FS_ROOT_DIR, &fd, &e, &err), 1);
    CHECK_STR(e.image_path, "");
    CHECK_STR(e.host_path, fx.tree);
    close(fd);
    fs_root_entry_free(&e);
    free(fifo);
    fs_root_close(&r);
    /* the tree itself must be a real directory, not a link to one */
    char *alias = path_join(fx.dir, "alias");
    CHECK_INT(symlink(fx.host, alias), 0);
    CHECK_INT(fs_root_open(&r, alias, NULL, "image t", &err), -1);
    free(alias);
    fixture_free(&fx);
}

static void a_prefix_tree_resolves_in_image_paths(void)
{
    struct fixture fx;
    fixture_init(&fx);
    char *grub = path_join(fx.tree, "usr/lib/grub");
    char *p = path_join(grub, "i386-pc/abs.mod");
    CHECK_INT(symlink("/usr/lib/grub/x86_64-efi/linux.mod", p), 0);
    free(p);
    p = path_join(grub, "i386-pc/rel.mod");
    CHECK_INT(symlink("../../grub/x86_64-efi/linux.mod", p), 0);
    free(p);
    p = path_join(grub, "i386-pc/out.mod");
    CHECK_INT(symlink("/usr/lib/firmware/real.bin", p), 0);
    free(p);
    p = path_join(grub, "i386-pc/up.mod");
    CHECK_INT(symlink("../../../../../../../etc/passwd", p), 0);
    free(p);
    struct fs_root r;
    struct error err;
    CHECK_INT(fs_root_open(&r, grub, "/usr/lib/grub/", "imager i", &err), 0);
    int rc;
    struct fs_root_entry e;
    char *s = open_read(&r, "usr/lib/grub/i386-pc/abs.mod", &rc, &e, &err);
    CHECK_STR(s, "linux module\n");
    if (rc == 1) {
        CHECK_STR(e.image_path, "usr/lib/grub/x86_64-efi/linux.mod");
        char *want = path_join(grub, "x86_64-efi/linux.mod");
        CHECK_STR(e.host_path, want);
        free(want);
        fs_root_entry_free(&e);
    }
    free(s);
    s = open_read(&r, "usr/lib/grub/i386-pc/rel.mod", &rc, NULL, &err);
    CHECK_STR(s, "linux module\n");
    free(s);
    s = open_read(&r, "usr/lib/grub/i386-pc/out.mod", &rc, NULL, &err);
    CHECK_INT(rc, -1);
    CHECK(strstr(err.message, "outside /usr/lib/grub") != NULL);
    s = open_read(&r, "usr/lib/grub/i386-pc/up.mod", &rc, NULL, &err);
    CHECK_INT(rc, -1);
    CHECK(strstr(err.message, "climbs above") != NULL || strstr(err.message, "outside") != NULL);
    s = open_read(&r, "etc/passwd", &rc, NULL, &err);
    CHECK_INT(rc, -1);
    CHECK(strstr(err.message, "outside /usr/lib/grub") != NULL);
    fs_root_close(&r);
    free(grub);
    fixture_free(&fx);
}

/* every regular file under dir, with its content, as "path=content;" lines (sorted walk) */
static void tree_listing(const char *dir, const char *rel, struct buffer *out)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char *names[256];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 256)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            names[n++] = xstrdup(de->d_name);
    closedir(d);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(names[i], names[j]) > 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    for (size_t i = 0; i < n; i++) {
        char *p = path_join(dir, names[i]);
        char *r = *rel ? xasprintf("%s/%s", rel, names[i]) : xstrdup(names[i]);
        struct stat st;
        lstat(p, &st);
        if (S_ISDIR(st.st_mode)) {
            tree_listing(p, r, out);
        } else if (S_ISLNK(st.st_mode)) {
            buffer_appendf(out, "%s=LINK;", r);
        } else {
            struct buffer c = BUFFER_INIT;
            struct error err;
            fs_read_file(p, 1 << 20, &c, &err);
            buffer_appendf(out, "%s=%s;", r, buffer_cstr(&c));
            buffer_free(&c);
        }
        free(p);
        free(r);
        free(names[i]);
    }
}

static void copy_and_resolve_leave_no_link_and_no_host_byte(void)
{
    struct fixture fx;
    fixture_init(&fx);
    struct fs_root r;
    struct error err;
    /* a tree of only good links: copied and resolved in place, the same files result */
    char *fw = path_join(fx.tree, "usr/lib/firmware");
    char *p;
    const char *bad[] = {"loop", "host-abs.bin", "host-rel.bin", "host-dir"};
    for (size_t i = 0; i < 4; i++) {
        p = path_join(fw, bad[i]);
        unlink(p);
        free(p);
    }
    p = path_join(fw, "sub/deeper.bin");
    bt_write_str(p, "deeper\n");
    free(p);
    p = path_join(fw, "sub/up.bin");
    CHECK_INT(symlink("../rel.bin", p), 0); /* resolved where it is: sub/../rel.bin -> real.bin */
    free(p);
    /* the directory link to an ancestor is a loop: copying refuses it instead of recursing forever */
    struct error loop_err;
    CHECK_INT(fs_root_open(&r, fx.tree, NULL, "extension e", &err), 0);
    char *copy2 = path_join(fx.dir, "copy2");
    CHECK_INT(fs_root_copy_tree(&r, "usr/lib/firmware", copy2, 1 << 20, &loop_err), -1);
    CHECK(strstr(loop_err.message, "nest more than 64 deep") != NULL);
    /* without the loop: exact content, no link left, byte budget enforced */
    p = path_join(fw, "dirlink");
    unlink(p);
    free(p);
    struct buffer got = BUFFER_INIT;
    char *copy3 = path_join(fx.dir, "copy3");
    CHECK_INT(fs_root_copy_tree(&r, "usr/lib/firmware", copy3, 1 << 20, &err), 0);
    tree_listing(copy3, "", &got);
    CHECK_STR(buffer_cstr(&got), "abs.bin=in-tree firmware\n;real.bin=in-tree firmware\n;rel.bin=in-tree firmware\n;"
                                 "sub/deeper.bin=deeper\n;sub/up.bin=in-tree firmware\n;");
    buffer_free(&got);
    char *copy4 = path_join(fx.dir, "copy4");
    CHECK_INT(fs_root_copy_tree(&r, "usr/lib/firmware", copy4, 20, &err), -1);
    CHECK(strstr(err.message, "bytes allowed") != NULL);
    /* in place: the links become the files they name */
    CHECK_INT(fs_root_resolve_links(&r, "usr/lib", 1 << 20, &err), 0);
    tree_listing(fw, "", &got);
    CHECK_STR(buffer_cstr(&got), "abs.bin=in-tree firmware\n;real.bin=in-tree firmware\n;rel.bin=in-tree firmware\n;"
                                 "sub/deeper.bin=deeper\n;sub/up.bin=in-tree firmware\n;");
    buffer_free(&got);
    /* a hostile link anywhere below stops the whole resolution with the image, path and target */
    p = path_join(fw, "sub/host.bin");
    CHECK_INT(symlink(fx.secret, p), 0);
    free(p);
    CHECK_INT(fs_root_resolve_links(&r, "usr", 1 << 20, &err), -1);
    CHECK(strstr(err.message, "extension e: /usr/lib/firmware/sub/host.bin -> ") != NULL);
    fs_root_close(&r);
    free(copy2);
    free(copy3);
    free(copy4);
    free(fw);
    fixture_free(&fx);
}

static void a_directory_link_is_resolved_in_place_as_a_copy(void)
{
    struct fixture fx;
    fixture_init(&fx);
    char *fw = path_join(fx.tree, "usr/lib/firmware");
    const char *bad[] = {"loop", "host-abs.bin", "host-rel.bin", "host-dir", "dirlink"};
    for (size_t i = 0; i < 5; i++) {
        char *p = path_join(fw, bad[i]);
        unlink(p);
        free(p);
    }
    char *p = path_join(fx.tree, "usr/lib/grub/efi");
    CHECK_INT(symlink("x86_64-efi", p), 0);
    free(p);
    struct fs_root r;
    struct error err;
    CHECK_INT(fs_root_open(&r, fx.tree, NULL, "imager i", &err), 0);
    CHECK_INT(fs_root_resolve_links(&r, "", 1 << 20, &err), 0);
    p = path_join(fx.tree, "usr/lib/grub/efi");
    struct stat st;
    CHECK(lstat(p, &st) == 0 && S_ISDIR(st.st_mode));
    free(p);
    struct buffer got = BUFFER_INIT;
    char *grub = path_join(fx.tree, "usr/lib/grub");
    tree_listing(grub, "", &got);
    CHECK_STR(buffer_cstr(&got), "efi/linux.mod=linux module\n;i386-pc/normal.mod=normal module\n;"
                                 "x86_64-efi/linux.mod=linux module\n;");
    buffer_free(&got);
    free(grub);
    fs_root_close(&r);
    free(fw);
    fixture_free(&fx);
}

static void regular_files_only(void)
{
    char *dir = bt_scratch();
    char *fifo = path_join(dir, "fifo"), *file = path_join(dir, "file");
    CHECK_INT(mkfifo(fifo, 0644), 0);
    bt_write_str(file, "x\n");
    struct error err;
    CHECK_INT(fs_open_regular(fifo, "manifest", &err), -1); /* returns at once: no writer needed */
    CHECK(strstr(err.message, "manifest ") == err.message);
    CHECK(strstr(err.message, "a FIFO (named pipe), not a regular file") != NULL);
    CHECK_INT(fs_open_regular(dir, NULL, &err), -1);
    CHECK(strstr(err.message, "a directory, not a regular file") != NULL);
    CHECK_INT(fs_open_regular("/dev/null", NULL, &err), -1);
    CHECK(strstr(err.message, "a device") != NULL);
    struct buffer b = BUFFER_INIT;
    CHECK_INT(fs_read_file(fifo, 100, &b, &err), -1);
    CHECK_INT(fs_read_file(file, 1, &b, &err), -1); /* too big, refused from its size */
    CHECK_INT(fs_read_file(file, 100, &b, &err), 0);
    CHECK_STR(buffer_cstr(&b), "x\n");
    int fd = fs_open_regular(file, NULL, &err);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    buffer_free(&b);
    bt_remove(dir);
    free(fifo);
    free(file);
    free(dir);
}

int main(void)
{
    RUN(in_tree_links_resolve_inside_the_tree);
    RUN(links_to_host_files_are_refused_naming_image_path_and_target);
    RUN(absent_loops_fifos_and_wrong_types);
    RUN(a_prefix_tree_resolves_in_image_paths);
    RUN(copy_and_resolve_leave_no_link_and_no_host_byte);
    RUN(a_directory_link_is_resolved_in_place_as_a_copy);
    RUN(regular_files_only);
    return TEST_MAIN_END();
}
