/* kernel — see kernel.h. */
#include "imager/kernel.h"
#include "core/endian.h"
#include "core/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* fs_pread_full with the count in *got: 0, or -1 with errno */
static int read_at(int fd, void *buf, size_t len, off_t off, size_t *got)
{
    ssize_t n = fs_pread_full(fd, buf, len, (uint64_t)off);
    *got = n < 0 ? 0 : (size_t)n;
    return n < 0 ? -1 : 0;
}

int kernel_identify(const char *path, enum kernel_format *format, struct error *err)
{
    *format = KERNEL_UNKNOWN;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "kernel %s: cannot open", path);
    unsigned char h[0x240];
    size_t got = 0;
    int rc = read_at(fd, h, sizeof h, 0, &got);
    close(fd);
    if (rc != 0)
        return error_errno(err, errno, "kernel %s: read failed", path);
    if (got >= 0x206 && !memcmp(h + 0x202, "HdrS", 4))
        *format = KERNEL_BZIMAGE;
    else if (got >= 0x40 && !memcmp(h + 0x38, "ARM\x64", 4))
        *format = KERNEL_ARM64;
    else if (got >= 0x40 && h[0] == 'M' && h[1] == 'Z')
        *format = KERNEL_PE;
    else
        return error_set(err, ERROR_INPUT,
                         "kernel %s: not a kernel image (no bzImage \"HdrS\" header, arm64 Image magic or PE "
                         "\"MZ\"); pass the imager's usr/install/<arch>/vmlinuz",
                         path);
    return 0;
}

int kernel_build(const char *vmlinuz, const char *out_path, struct error *err)
{
    enum kernel_format f;
    if (kernel_identify(vmlinuz, &f, err) != 0)
        return -1;
    return fs_copy_file(vmlinuz, out_path, err);
}

int kernel_version(const char *path, char *version, size_t size, struct error *err)
{
    if (size)
        version[0] = '\0';
    enum kernel_format f;
    if (kernel_identify(path, &f, err) != 0)
        return -1;
    if (f != KERNEL_BZIMAGE)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "kernel %s: cannot open", path);
    unsigned char h[0x210];
    size_t got = 0;
    int rc = read_at(fd, h, sizeof h, 0, &got);
    if (rc == 0 && got == sizeof h) {
        unsigned offset = le16_get(h + 0x20e);
        char buf[256];
        if (offset) {
            /* the pointer is relative to the end of the 512-byte boot sector */
            rc = read_at(fd, buf, sizeof buf - 1, (off_t)offset + 0x200, &got);
            if (rc == 0) {
                buf[got] = '\0';
                size_t n = strcspn(buf, " ");
                if (n < size && n < got) {
                    memcpy(version, buf, n);
                    version[n] = '\0';
                }
            }
        }
    }
    close(fd);
    if (rc != 0)
        return error_errno(err, errno, "kernel %s: read failed", path);
    return 0;
}
