/* ext4_image — see ext4_image.h. */
#include "format/ext4_image.h"

#include "airfactory/buffer.h"
#include "core/fs.h"
#include "core/memory.h"
#include "core/tool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* debugfs commands that set the owner, mode and times of `path` (inside the file system). */
static void fix_inode(struct buffer *cmds, const char *path, bool dir, uint32_t mtime)
{
    static const char *const times[] = {"atime", "mtime", "ctime", "crtime"};
    for (size_t i = 0; i < 4; i++)
        buffer_appendf(cmds, "sif \"%s\" %s %" PRIu32 "\n", path, times[i], mtime);
    buffer_appendf(cmds, "sif \"%s\" uid 0\nsif \"%s\" gid 0\nsif \"%s\" mode 0%o\n", path, path, path,
                   dir ? 040755 : 0100644);
}

struct walk {
    struct buffer *cmds;
    uint32_t mtime;
};

static int walk_entry(void *context, const char *relative, const char *path, const struct stat *st, struct error *err)
{
    struct walk *w = context;
    if (strpbrk(relative, "\"\\\n"))
        return error_set(err, ERROR_INPUT, "%s: a name with '\"', '\\' or a newline cannot go into an ext4 image", path);
    if (!S_ISDIR(st->st_mode) && !S_ISREG(st->st_mode))
        return error_set(err, ERROR_INPUT, "%s: only regular files and directories go into an ext4 image", path);
    char *inside = xasprintf("/%s", relative);
    fix_inode(w->cmds, inside, S_ISDIR(st->st_mode), w->mtime);
    free(inside);
    return 0;
}

int ext4_image_write(const char *out_path, const struct ext4_image_options *o, const char *source_dir, struct error *err)
{
    if (!o->size || o->size % 4096)
        return error_set(err, ERROR_INPUT, "%s: ext4 image size %" PRIu64 " is not a positive multiple of 4096",
                         out_path, o->size);
    int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return error_errno(err, errno, "%s: create", out_path);
    int rc =
        ftruncate(fd, (off_t)o->size) == 0 ? 0 : error_errno(err, errno, "%s: extend to %" PRIu64, out_path, o->size);
    close(fd);
    struct buffer cmds = BUFFER_INIT;
    /* the root and mke2fs' lost+found, then the tree */
    fix_inode(&cmds, "/", true, o->mtime);
    buffer_appendf(&cmds,
                   "sif /lost+found atime %" PRIu32 "\nsif /lost+found mtime %" PRIu32 "\n"
                   "sif /lost+found ctime %" PRIu32 "\nsif /lost+found crtime %" PRIu32 "\n",
                   o->mtime, o->mtime, o->mtime, o->mtime);
    struct walk w = {&cmds, o->mtime};
    if (rc == 0)
        rc = fs_walk(source_dir, walk_entry, &w, err);
    char *script = xasprintf("%s.debugfs", out_path), *log = xasprintf("%s.log", out_path);
    char *fake = xasprintf("E2FSPROGS_FAKE_TIME=%" PRIu32, o->mtime ? o->mtime : 1);
    char *ext = xasprintf("hash_seed=%s,root_owner=0:0", o->uuid);
    if (rc == 0)
        rc = fs_write_file_atomic(script, cmds.data, cmds.len, 0644, err);
    if (rc == 0) {
        char *argv[] = {"env",
                        fake,
                        "mkfs.ext4",
                        "-q",
                        "-F",
                        "-t",
                        "ext4",
                        "-b",
                        "4096",
                        "-L",
                        (char *)o->label,
                        "-U",
                        (char *)o->uuid,
                        "-E",
                        ext,
                        "-d",
                        (char *)source_dir,
                        (char *)out_path,
                        NULL};
        rc = tool_run(argv, log, err);
        if (rc != 0)
            error_prefix(err, "mkfs.ext4 -d %s (%" PRIu64 " bytes): ", source_dir, o->size);
    }
    if (rc == 0) {
        char *argv[] = {"env", fake, "debugfs", "-w", "-f", script, (char *)out_path, NULL};
        rc = tool_run(argv, log, err);
        /* debugfs exits 0 when a command fails: every line it prints but the echo of a command
         * ("debugfs: sif ...") and its banner is an error */
        struct buffer out = BUFFER_INIT;
        if (rc == 0 && fs_read_file(log, 1 << 22, &out, err) != 0)
            rc = -1;
        for (const char *line = buffer_cstr(&out); rc == 0 && *line;) {
            const char *nl = strchr(line, '\n');
            size_t len = nl ? (size_t)(nl - line) : strlen(line);
            if (len && strncmp(line, "debugfs", 7) != 0)
                rc = error_set(err, ERROR_RUNTIME, "debugfs on %s: %.*s", out_path, (int)(len > 300 ? 300 : len), line);
            line += len + (nl ? 1 : 0);
        }
        buffer_free(&out);
    }
    unlink(script);
    unlink(log);
    free(script);
    free(log);
    free(fake);
    free(ext);
    buffer_free(&cmds);
    if (rc != 0)
        unlink(out_path);
    return rc;
}
