/* fs — file-system primitives that never leave half-written data where good data was.
 *
 * atomic_file: write to "<path>.tmp-XXXXXX" in the same directory, fsync, rename over <path>,
 * fsync the directory. A crash at any point leaves either the old file or the new one. */
#ifndef AIRFACTORY_FS_H
#define AIRFACTORY_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "airfactory/buffer.h"
#include "airfactory/error.h"

struct atomic_file {
    int fd;
    char *path;     /* final name */
    char *tmp_path; /* where the bytes go until commit */
};

int atomic_file_open(struct atomic_file *f, const char *path, mode_t mode, struct error *err);
int atomic_file_write(struct atomic_file *f, const void *data, size_t len, struct error *err);
/* fsync, rename, fsync directory; frees f. On failure the temp file is removed. */
int atomic_file_commit(struct atomic_file *f, struct error *err);
/* Remove the temp file and free f; safe to call after a failed commit or twice. */
void atomic_file_abort(struct atomic_file *f);

int fs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, struct error *err);

/* write(2)/pwrite(2) until done, retrying EINTR; ENOSPC and friends become errors naming what. */
int fs_write_all(int fd, const void *data, size_t len, const char *what, struct error *err);
int fs_pwrite_all(int fd, const void *data, size_t len, uint64_t offset, const char *what, struct error *err);
int fs_read_all(int fd, void *data, size_t len, const char *what, struct error *err); /* exact length */
/* Open a file that must be a regular file (schematic, manifest, key, blob, layout file...):
 * read-only, without blocking on a FIFO, without ever reading from a directory, device, FIFO or
 * socket, which are refused at once ("PATH: is a FIFO (named pipe), not a regular file"). `what`
 * (may be NULL) goes before the path in errors. Returns the descriptor or -1. */
int fs_open_regular(const char *path, const char *what, struct error *err);
/* Append what is left of an open file to out; more than max_size bytes is ERROR_INPUT (checked from
 * the size first when fd is a regular file). `what` names it in errors. */
int fs_read_fd(int fd, const char *what, size_t max_size, struct buffer *out, struct error *err);
/* Read a whole (small) regular file (fs_open_regular); files larger than max_size are ERROR_INPUT. */
int fs_read_file(const char *path, size_t max_size, struct buffer *out, struct error *err);
/* pread until len bytes or end of file (EINTR retried): the bytes read, short only at end of
 * file; -1 with errno on a read error. */
ssize_t fs_pread_full(int fd, void *buf, size_t len, uint64_t offset);
/* Copy what is left of in to out (copy_file_range when possible); from/to name them in errors. */
int fs_copy_fd(int in, int out, const char *from, const char *to, struct error *err);
/* The extent walker of sparse files: the first data extent of fd at or after pos and before
 * size, found with SEEK_DATA/SEEK_HOLE, as [*start, *end) (end clamped to size). Returns 1 with an
 * extent, 0 when only a hole is left, -1 on error (naming what). Loop with pos = *end. */
int fs_next_extent(int fd, uint64_t pos, uint64_t size, uint64_t *start, uint64_t *end, const char *what,
                   struct error *err);
/* Copy a regular file by streaming (fs_copy_fd); the copy is fsynced. */
int fs_copy_file(const char *from, const char *to, struct error *err);

int fs_mkdir_p(const char *path, mode_t mode, struct error *err);
int fs_fsync_dir(const char *path, struct error *err);
int fs_fsync_path(const char *path, struct error *err);
/* rm -rf; a missing path is not an error. Never follows symlinks. */
int fs_remove_tree(const char *path, struct error *err);
bool fs_exists(const char *path);
bool fs_is_dir(const char *path);
/* The names in the open directory dir_fd (its position is not used up), bytewise sorted, without
 * "." and ".."; free with fs_names_free. */
int fs_list_dir(int dir_fd, const char *what, char ***names, size_t *count, struct error *err);
void fs_names_free(char **names, size_t count);
/* Walk the tree under dir depth-first, names in byte order (fs_list_dir): fn gets each entry's
 * path relative to dir ("a", "a/b"), its path on disk and its lstat, a directory before its
 * contents. A non-zero return from fn stops the walk and is returned; -1 with err on I/O errors. */
typedef int (*fs_walk_fn)(void *context, const char *relative, const char *path, const struct stat *st,
                          struct error *err);
int fs_walk(const char *dir, fs_walk_fn fn, void *context, struct error *err);
/* Join two path parts with exactly one '/'. Returns a new string. */
char *path_join(const char *a, const char *b);
/* The directory part of path, as dirname(1) prints it ("." without a '/', "/" for "/x"). New string. */
char *path_dirname(const char *path);
/* Lexically clean an absolute path: collapse //, /./ and /x/../ (never touches the disk). */
char *path_clean(const char *path);
/* path (absolute, or relative to base_dir, which is absolute), lexically cleaned. */
char *path_resolve(const char *base_dir, const char *path);
/* The absolute, cleaned form of dir, a directory relative to the working directory (NULL: the
 * working directory itself). */
int path_absolute(const char *dir, char **out, struct error *err);

#endif
