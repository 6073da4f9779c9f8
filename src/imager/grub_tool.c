/* grub_tool — see grub_tool.h. The ELF reading here is the three fields an interpreter lookup
 * needs (class, machine, PT_INTERP), from <elf.h>; no library reads just that. */
#include "imager/grub_tool.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airfactory/buffer.h"
#include "core/fs.h"
#include "core/fs_root.h"
#include "core/memory.h"
#include "core/tool.h"

#if defined(__x86_64__)
#define HOST_ELF_MACHINE EM_X86_64
#define HOST_MULTIARCH "x86_64-linux-gnu"
#define HOST_ARCH "amd64"
#elif defined(__aarch64__)
#define HOST_ELF_MACHINE EM_AARCH64
#define HOST_MULTIARCH "aarch64-linux-gnu"
#define HOST_ARCH "arm64"
#else
#define HOST_ELF_MACHINE EM_NONE
#define HOST_MULTIARCH ""
#define HOST_ARCH NULL
#endif

const char *grub_tool_host_arch(void)
{
    return HOST_ARCH;
}

void grub_tool_host(struct grub_tool *t)
{
    memset(t, 0, sizeof *t);
    t->argv[t->argc++] = xstrdup("grub-mkimage");
    t->what = xstrdup("grub-mkimage (host, from PATH)");
}

void grub_tool_free(struct grub_tool *t)
{
    for (size_t i = 0; i < t->argc; i++)
        free(t->argv[i]);
    free(t->what);
    memset(t, 0, sizeof *t);
}

/* PT_INTERP of a 64-bit little-endian ELF of this host's machine into interp ("" for a static
 * program). */
static int elf_interp(const char *path, char *interp, size_t cap, struct error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "%s", path);
    Elf64_Ehdr eh;
    int rc = fs_read_all(fd, &eh, sizeof eh, path, err);
    if (rc == 0 && (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
                    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_phentsize != sizeof(Elf64_Phdr)))
        rc = error_set(err, ERROR_INPUT, "%s: not a 64-bit little-endian ELF program", path);
    if (rc == 0 && (HOST_ELF_MACHINE == EM_NONE || eh.e_machine != HOST_ELF_MACHINE))
        rc = error_set(err, ERROR_INPUT, "%s: an ELF for machine %u, not this host's", path, (unsigned)eh.e_machine);
    interp[0] = '\0';
    for (unsigned i = 0; rc == 0 && i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph)) != (ssize_t)sizeof ph) {
            rc = error_set(err, ERROR_INPUT, "%s: truncated ELF program headers", path);
            break;
        }
        if (ph.p_type != PT_INTERP)
            continue;
        if (ph.p_filesz < 2 || ph.p_filesz > cap ||
            pread(fd, interp, ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz ||
            interp[ph.p_filesz - 1] != '\0' || interp[0] != '/')
            rc = error_set(err, ERROR_INPUT, "%s: unreadable PT_INTERP", path);
        break;
    }
    close(fd);
    return rc;
}

/* The host path of image path rel resolved inside the tree r (core/fs_root.h: every symlink,
 * absolute ones included, resolves inside it; the result holds no link). 1 and *out, 0 absent,
 * -1 error (a link that leaves the tree, a wrong type). */
static int resolve_in_root(const struct fs_root *r, const char *rel, enum fs_root_want want, char **out, struct error *err)
{
    int fd;
    struct fs_root_entry e;
    int found = fs_open_in_root(r, rel, want, &fd, &e, err);
    if (found != 1)
        return found;
    close(fd);
    *out = e.host_path;
    e.host_path = NULL;
    fs_root_entry_free(&e);
    return 1;
}

int grub_tool_from_tree(const char *root, struct grub_tool *t, struct error *err)
{
    char *label = xasprintf("imager tree %s", root);
    struct fs_root r;
    if (fs_root_open(&r, root, NULL, label, err) != 0) {
        free(label);
        return -1;
    }
    free(label);
    char *tool = NULL;
    int found = resolve_in_root(&r, "usr/bin/grub-mkimage", FS_ROOT_FILE, &tool, err);
    if (found <= 0) {
        fs_root_close(&r);
        return found < 0 ? error_prefix(err, "the imager's GRUB tool: ") : 0;
    }
    char interp[256];
    if (elf_interp(tool, interp, sizeof interp, err) != 0) {
        free(tool);
        fs_root_close(&r);
        return error_prefix(err, "the imager's GRUB tool: ");
    }
    memset(t, 0, sizeof *t);
    t->what = xasprintf("grub-mkimage of the imager (%s)", tool);
    if (!interp[0]) { /* a static program runs as it is */
        t->argv[t->argc++] = tool;
        fs_root_close(&r);
        return 1;
    }
    char *loader = NULL;
    found = resolve_in_root(&r, interp + 1, FS_ROOT_FILE, &loader, err);
    if (found <= 0) {
        if (found == 0)
            error_set(err, ERROR_INPUT,
                      "%s needs the ELF interpreter %s, which the imager does not carry; is it a Talos imager?", tool,
                      interp);
        free(tool);
        grub_tool_free(t);
        fs_root_close(&r);
        return -1;
    }
    /* the image's library directories, in the order both glibc and musl search them */
    static const char *const dirs[] = {
        "lib/" HOST_MULTIARCH, "usr/lib/" HOST_MULTIARCH, "lib", "usr/lib", "lib64", "usr/lib64"};
    struct buffer libs = BUFFER_INIT;
    char *seen[sizeof dirs / sizeof *dirs];
    size_t nseen = 0;
    int rc = 0;
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs && rc == 0; i++) {
        char *real = NULL;
        int r2 = resolve_in_root(&r, dirs[i], FS_ROOT_DIR, &real, err);
        if (r2 < 0)
            rc = -1;
        bool dup = r2 != 1;
        for (size_t k = 0; real && k < nseen && !dup; k++)
            dup = strcmp(seen[k], real) == 0;
        if (dup) {
            free(real);
            continue;
        }
        buffer_appendf(&libs, "%s%s", libs.len ? ":" : "", real);
        seen[nseen++] = real;
    }
    for (size_t k = 0; k < nseen; k++)
        free(seen[k]);
    fs_root_close(&r);
    if (rc != 0) {
        buffer_free(&libs);
        free(loader);
        free(tool);
        grub_tool_free(t);
        return error_prefix(err, "the imager's GRUB tool: ");
    }
    const char *base = strrchr(loader, '/') ? strrchr(loader, '/') + 1 : loader;
    t->argv[t->argc++] = loader;
    if (!strncmp(base, "ld-linux", 8)) /* glibc: never the host's ld.so.cache */
        t->argv[t->argc++] = xstrdup("--inhibit-cache");
    t->argv[t->argc++] = xstrdup("--library-path");
    t->argv[t->argc++] = buffer_take(&libs);
    t->argv[t->argc++] = tool;
    return 1;
}

int grub_tool_for_dir(const char *grub_dir, const char *log_path, struct grub_tool *t, struct error *err)
{
    static const char suffix[] = "/usr/lib/grub";
    size_t n = strlen(grub_dir);
    while (n > 1 && grub_dir[n - 1] == '/')
        n--;
    int found = 0;
    if (n >= sizeof suffix && !strncmp(grub_dir + n - (sizeof suffix - 1), suffix, sizeof suffix - 1)) {
        char *root = xasprintf("%.*s", (int)(n - (sizeof suffix - 1)), grub_dir);
        found = grub_tool_from_tree(root[0] ? root : "/", t, err);
        free(root);
        if (found < 0)
            return -1;
    }
    if (!found)
        grub_tool_host(t);
    if (grub_tool_check(t, grub_dir, log_path, err) != 0) {
        grub_tool_free(t);
        return -1;
    }
    return 0;
}

/* "VALUE" of a line KEY="VALUE" (or KEY='VALUE') in modinfo.sh, or NULL. */
static char *modinfo_value(const char *text, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, key, klen) != 0 || p[klen] != '=')
            continue;
        const char *v = p + klen + 1;
        char q = (*v == '"' || *v == '\'') ? *v++ : '\0';
        size_t n = strcspn(v, q ? (q == '"' ? "\"\n" : "'\n") : " \n");
        char *out = xmalloc(n + 1);
        memcpy(out, v, n);
        out[n] = '\0';
        return out;
    }
    return NULL;
}

int grub_tool_check(const struct grub_tool *t, const char *grub_dir, const char *log_path, struct error *err)
{
    static const char *const platforms[] = {"i386-pc", "x86_64-efi", "arm64-efi"};
    char *modinfo = NULL;
    for (size_t i = 0; i < 3 && !modinfo; i++) {
        char *p = xasprintf("%s/%s/modinfo.sh", grub_dir, platforms[i]);
        if (fs_exists(p))
            modinfo = p;
        else
            free(p);
    }
    if (!modinfo)
        return error_set(err, ERROR_INPUT,
                         "%s: no GRUB module directory with a modinfo.sh (i386-pc, x86_64-efi, "
                         "arm64-efi); is this a Talos imager's usr/lib/grub?",
                         grub_dir);
    struct buffer text = BUFFER_INIT, out = BUFFER_INIT;
    char *want = NULL;
    int rc = fs_read_file(modinfo, 1 << 20, &text, err);
    if (rc == 0 && !(want = modinfo_value(buffer_cstr(&text), "grub_package_version")) &&
        !(want = modinfo_value(buffer_cstr(&text), "grub_version")))
        rc = error_set(err, ERROR_INPUT, "%s: no grub_version", modinfo);
    char *argv[8];
    size_t n = 0;
    for (size_t i = 0; i < t->argc; i++)
        argv[n++] = t->argv[i];
    argv[n++] = "--version";
    argv[n] = NULL;
    if (rc == 0 && (rc = tool_run(argv, log_path, err)) != 0)
        error_prefix(err, "running %s: ", t->what);
    if (rc == 0)
        rc = fs_read_file(log_path, 4096, &out, err);
    if (rc == 0) {
        /* "grub-mkimage (GRUB) 2.12-9+deb13u4\n" */
        const char *v = strstr(buffer_cstr(&out), "(GRUB) ");
        size_t len = v ? strcspn(v + 7, " \n") : 0;
        if (!v || len != strlen(want) || strncmp(v + 7, want, len) != 0)
            rc = error_set(err, ERROR_INPUT,
                           "GRUB tool and modules differ: %s is GRUB %.*s, the modules in %s are GRUB %s; a GRUB "
                           "image needs both from one build (build on a host of the imager's architecture, whose "
                           "imager platform carries its own grub-mkimage, or install the matching GRUB)",
                           t->what, v ? (int)len : 7, v ? v + 7 : "unknown", grub_dir, want);
    }
    free(want);
    free(modinfo);
    buffer_free(&text);
    buffer_free(&out);
    return rc;
}
