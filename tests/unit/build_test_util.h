/* build_test_util — helpers shared by the builders' unit tests (tests/unit/test_{cpio,fat,iso,uki,...}.c):
 * scratch directories, small files, running outside validators (unsquashfs, objdump, xorriso,
 * fsck.fat, mtools, python3-pefile) and capturing what they print. */
#ifndef AIRFACTORY_BUILD_TEST_UTIL_H
#define AIRFACTORY_BUILD_TEST_UTIL_H

#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "airfactory/buffer.h"
#include "core/fs.h"
#include "core/memory.h"
#include "talos/profile.h"

/* The built-in quirks of Talos `version` on arch (NULL = any) with or without SecureBoot; the
 * structure is static (overwritten by the next call), the profile data stays loaded. */
static inline const struct talos_quirks *bt_quirks(const char *version, const char *arch, bool secureboot)
{
    static struct profile_set *set;
    static struct talos_quirks q;
    struct error err = {0};
    if ((!set && profile_set_load(&set, &err) != 0) || profile_quirks_for(set, version, arch, secureboot, &q, &err) != 0) {
        printf("FAIL bt_quirks(%s): %s\n", version, err.message);
        exit(2);
    }
    return &q;
}

static inline char *bt_scratch(void)
{
    const char *base = getenv("TMPDIR");
    char *dir = xasprintf("%s/af-build-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(2);
    }
    return dir;
}

static inline void bt_remove(const char *path)
{
    struct error err;
    fs_remove_tree(path, &err);
}

/* Write a file, creating its parent directories. */
static inline void bt_write(const char *path, const void *data, size_t len)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    struct error err;
    if (slash) {
        *slash = '\0';
        if (fs_mkdir_p(dir, 0755, &err) != 0) {
            printf("mkdir %s: %s\n", dir, err.message);
            exit(2);
        }
    }
    free(dir);
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

static inline void bt_write_str(const char *path, const char *text)
{
    bt_write(path, text, strlen(text));
}

/* Deterministic filler (xorshift), compressible when `text` (letters and newlines). */
static inline void bt_fill(unsigned char *p, size_t n, uint32_t seed, int text)
{
    uint32_t x = seed ? seed : 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = text ? (unsigned char)((x % 27) == 26 ? '\n' : 'a' + (x % 26) / 3) : (unsigned char)x;
    }
}

static inline void bt_write_random(const char *path, size_t n, uint32_t seed, int text)
{
    unsigned char *buf = xmalloc(n ? n : 1);
    bt_fill(buf, n, seed, text);
    bt_write(path, buf, n);
    free(buf);
}

/* Run a shell command; returns its exit status and (when out != NULL) stdout+stderr. */
static inline int bt_run(struct buffer *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline int bt_run(struct buffer *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct buffer cmd = BUFFER_INIT;
    buffer_append_str(&cmd, "( ");
    buffer_vappendf(&cmd, fmt, ap);
    va_end(ap);
    buffer_append_str(&cmd, " ) 2>&1");
    FILE *p = popen(cmd.data, "r");
    buffer_free(&cmd);
    if (!p)
        return -1;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
        if (out)
            buffer_append(out, chunk, n);
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static inline bool bt_have_tool(const char *tool)
{
    return bt_run(NULL, "command -v %s >/dev/null", tool) == 0;
}

static inline bool bt_files_equal(const char *a, const char *b)
{
    struct buffer x = BUFFER_INIT, y = BUFFER_INIT;
    struct error err;
    bool same = fs_read_file(a, (size_t)1 << 30, &x, &err) == 0 && fs_read_file(b, (size_t)1 << 30, &y, &err) == 0 &&
                x.len == y.len && (x.len == 0 || memcmp(x.data, y.data, x.len) == 0);
    buffer_free(&x);
    buffer_free(&y);
    return same;
}

/* Number of entries in a directory (to prove no temp files were left behind). */
static inline int bt_dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

/* A minimal x86 bzImage stand-in: boot sector, "HdrS" setup header with a version string. */
static inline void bt_fake_bzimage(const char *path, const char *version, size_t size)
{
    unsigned char *k = xcalloc(1, size);
    bt_fill(k + 0x1000, size - 0x1000, 7, 0);
    k[0x1f1] = 4; /* setup_sects */
    memcpy(k + 0x202, "HdrS", 4);
    k[0x1fe] = 0x55;
    k[0x1ff] = 0xaa;
    unsigned off = 0x300; /* version string at 0x300 + 0x200 */
    k[0x20e] = (unsigned char)off;
    k[0x20f] = (unsigned char)(off >> 8);
    snprintf((char *)k + off + 0x200, 128, "%s (builder@example) #1 SMP", version);
    bt_write(path, k, size);
    free(k);
}

#define BT_STUB "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
#define BT_SDBOOT "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"

#endif
