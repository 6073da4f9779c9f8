/* test_grub_tool — choosing and checking the grub-mkimage that matches a GRUB module tree: the
 * host's tool against the host's modules, a refused version mismatch, an image tree's own tool run
 * through the tree's ELF interpreter and libraries (a copy of the host's grub-mkimage with its
 * ldd closure stands in for an imager tree), a tree whose interpreter is missing, a foreign ELF.
 * The real pairs (trixie GRUB 2.12 in the v1.11.3 fixture imager, bookworm 2.06 in v1.9.5) are
 * exercised by the disk and ISO suites. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/memory.h"
#include "imager/grub_tool.h"
#include "test.h"

static char *scratch_dir(void)
{
    char tmpl[] = "/tmp/airfactory-test-grub-tool-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? xstrdup(d) : NULL;
}

static int sh(const char *cmd)
{
    int rc = system(cmd);
    return rc == 0 ? 0 : -1;
}

static const char *host_modules(void)
{
    return fs_exists("/usr/lib/grub/i386-pc/modinfo.sh") || fs_exists("/usr/lib/grub/x86_64-efi/modinfo.sh") ||
                   fs_exists("/usr/lib/grub/arm64-efi/modinfo.sh")
               ? "/usr/lib/grub"
               : NULL;
}

static void test_host_pair(void)
{
    if (!host_modules()) {
        printf("  (no host GRUB modules: skipped)\n");
        return;
    }
    char *dir = scratch_dir();
    char *log = path_join(dir, "version.log");
    struct grub_tool t;
    grub_tool_host(&t);
    CHECK_INT(t.argc, 1);
    CHECK_STR(t.argv[0], "grub-mkimage");
    struct error err = {0};
    int rc = grub_tool_check(&t, host_modules(), log, &err);
    if (rc != 0)
        printf("  %s\n", err.message);
    CHECK_INT(rc, 0);
    grub_tool_free(&t);
    struct error e2 = {0};
    fs_remove_tree(dir, &e2);
    free(log);
    free(dir);
}

static void test_mismatch_refused(void)
{
    if (!host_modules())
        return;
    char *dir = scratch_dir();
    char *mods = path_join(dir, "grub");
    char *cmd =
        xasprintf("mkdir -p %s/x86_64-efi && printf 'grub_version=\"2.14\"\\n' > %s/x86_64-efi/modinfo.sh", mods, mods);
    CHECK_INT(sh(cmd), 0);
    char *log = path_join(dir, "version.log");
    struct grub_tool t;
    grub_tool_host(&t);
    struct error err = {0};
    CHECK_INT(grub_tool_check(&t, mods, log, &err), -1);
    CHECK(strstr(err.message, "GRUB tool and modules differ") != NULL);
    CHECK(strstr(err.message, "are GRUB 2.14") != NULL);
    CHECK(strstr(err.message, "grub-mkimage (host, from PATH) is GRUB 2.") != NULL);
    /* a module tree without modinfo.sh is not a GRUB tree */
    struct error e3 = {0};
    char *empty = path_join(dir, "empty");
    CHECK_INT(fs_mkdir_p(empty, 0755, &e3), 0);
    CHECK_INT(grub_tool_check(&t, empty, log, &e3), -1);
    CHECK(strstr(e3.message, "no GRUB module directory with a modinfo.sh") != NULL);
    grub_tool_free(&t);
    struct error e2 = {0};
    fs_remove_tree(dir, &e2);
    free(empty);
    free(cmd);
    free(log);
    free(mods);
    free(dir);
}

/* A tree holding a copy of the host's grub-mkimage, its ELF interpreter and every library ldd
 * names, at their absolute paths; the interpreter path becomes an absolute symlink, as Debian 12's
 * /lib64/ld-linux-x86-64.so.2 is, so resolving it on the host would leave the tree. */
static void test_tree_tool(void)
{
    if (!host_modules() || access("/usr/bin/grub-mkimage", X_OK) != 0) {
        printf("  (no host grub-mkimage: skipped)\n");
        return;
    }
    char *dir = scratch_dir();
    char *root = path_join(dir, "root");
    char *cmd = xasprintf("set -e; r=%s; mkdir -p $r/usr/bin; cp /usr/bin/grub-mkimage $r/usr/bin/;"
                          " for l in $(ldd /usr/bin/grub-mkimage | grep -o '/[^ ]*'); do"
                          "   real=$(readlink -f $l); mkdir -p $r$(dirname $real); cp $real $r$real;"
                          "   if [ \"$real\" != \"$l\" ]; then mkdir -p $r$(dirname $l); ln -sf $real $r$l; fi;"
                          " done; ln -s /usr/lib/grub $r/usr/lib/grub 2>/dev/null || true",
                          root);
    CHECK_INT(sh(cmd), 0);
    struct grub_tool t;
    struct error err = {0};
    int rc = grub_tool_from_tree(root, &t, &err);
    if (rc != 1)
        printf("  %s\n", err.message);
    CHECK_INT(rc, 1);
    if (rc == 1) {
        /* interpreter, [--inhibit-cache], --library-path, dirs, tool: all inside the tree */
        CHECK(t.argc >= 4);
        CHECK(strncmp(t.argv[0], root, strlen(root)) == 0);
        char *want = xasprintf("%s/usr/bin/grub-mkimage", root);
        CHECK_STR(t.argv[t.argc - 1], want);
        free(want);
        CHECK(strstr(t.argv[t.argc - 2], root) == t.argv[t.argc - 2]);
        char *log = path_join(dir, "version.log");
        struct error e2 = {0};
        rc = grub_tool_check(&t, "/usr/lib/grub", log, &e2);
        if (rc != 0)
            printf("  %s\n", e2.message);
        CHECK_INT(rc, 0);
        free(log);
        grub_tool_free(&t);
    }
    /* without its interpreter the tree's tool is refused, naming what is missing */
    char *rm = xasprintf("find %s -name 'ld-linux*' -exec rm -f {} +", root);
    CHECK_INT(sh(rm), 0);
    struct error e3 = {0};
    CHECK_INT(grub_tool_from_tree(root, &t, &e3), -1);
    CHECK(strstr(e3.message, "needs the ELF interpreter") != NULL);
    /* a tree without usr/bin/grub-mkimage has no tool */
    struct error e4 = {0};
    CHECK_INT(grub_tool_from_tree(dir, &t, &e4), 0);
    struct error e5 = {0};
    fs_remove_tree(dir, &e5);
    free(rm);
    free(cmd);
    free(root);
    free(dir);
}

static void test_foreign_elf(void)
{
    char *dir = scratch_dir();
    char *bin = path_join(dir, "usr/bin");
    struct error err = {0};
    CHECK_INT(fs_mkdir_p(bin, 0755, &err), 0);
    char *tool = path_join(bin, "grub-mkimage");
    /* an ELF64 LE header for machine 0xf3 (RISC-V): not this host's */
    unsigned char h[64] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
    h[18] = 0xf3;
    h[54] = 56; /* e_phentsize */
    CHECK_INT(fs_write_file_atomic(tool, h, sizeof h, 0755, &err), 0);
    struct grub_tool t;
    struct error e2 = {0};
    CHECK_INT(grub_tool_from_tree(dir, &t, &e2), -1);
    CHECK(strstr(e2.message, "not this host's") != NULL);
    /* and a text file is no ELF at all */
    CHECK_INT(fs_write_file_atomic(tool, "#!/bin/sh\n", 10, 0755, &err), 0);
    struct error e3 = {0};
    CHECK_INT(grub_tool_from_tree(dir, &t, &e3), -1);
    struct error e4 = {0};
    fs_remove_tree(dir, &e4);
    free(tool);
    free(bin);
    free(dir);
}

int main(void)
{
    RUN(test_host_pair);
    RUN(test_mismatch_refused);
    RUN(test_tree_tool);
    RUN(test_foreign_elf);
    return TEST_MAIN_END();
}
