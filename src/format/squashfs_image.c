/* squashfs_image — see squashfs_image.h.
 *
 * The order of work follows the SquashFS layout: superblock placeholder, compressor options,
 * data and fragment blocks (block processor), inode table, directory table, fragment table,
 * ID table, xattr tables, then the final superblock and padding to 4 KiB.
 *
 * Inodes are numbered the way gensquashfs and mksquashfs do it, children before their parent,
 * so a directory's entries can point at inodes that are already written. */
#include "format/squashfs_image.h"
#include "core/fs.h"
#include "core/memory.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <sqfs/block.h>
#include <sqfs/block_processor.h>
#include <sqfs/block_writer.h>
#include <sqfs/compressor.h>
#include <sqfs/dir_writer.h>
#include <sqfs/error.h>
#include <sqfs/frag_table.h>
#include <sqfs/id_table.h>
#include <sqfs/inode.h>
#include <sqfs/io.h>
#include <sqfs/meta_writer.h>
#include <sqfs/super.h>
#include <sqfs/xattr_writer.h>

struct node {
    char *name;
    char *path; /* source path */
    char *rel;  /* relative path inside the image ("" for the root) */
    struct node *parent;
    struct node **children;
    size_t child_count;
    mode_t mode;
    uint64_t size;
    dev_t rdev;
    char *target; /* symlink target */
    uint32_t inode_num;
    uint64_t inode_ref;
    uint32_t link_count;
    bool labelled; /* a squashfs_label names it: xattr_index is its own xattr block */
    uint32_t xattr_index;
    sqfs_inode_generic_t *inode; /* regular files: filled by the block processor */
};

struct builder {
    const struct squashfs_image_options *opts;
    const char *out_path;
    struct node **order; /* serialisation order: children before parents, root last */
    size_t count, cap;
    sqfs_file_t *file;
    sqfs_compressor_t *cmp, *uncmp;
    sqfs_block_writer_t *blkwr;
    sqfs_frag_table_t *frag;
    sqfs_block_processor_t *proc;
    sqfs_id_table_t *ids;
    sqfs_xattr_writer_t *xwr;
    sqfs_meta_writer_t *im, *dm;
    sqfs_dir_writer_t *dirwr;
    sqfs_super_t super;
    uint32_t xattr_index; /* the one xattr block every inode shares, or 0xffffffff */
};

static int sqfs_fail(struct error *err, int code, const char *path, const char *what)
{
    return error_set(err, ERROR_RUNTIME, "%s: squashfs: %s failed (libsquashfs error %d)", path, what, code);
}

static bool listed(const char *const *list, const char *rel)
{
    for (; list && *list; list++)
        if (!strcmp(*list, rel))
            return true;
    return false;
}

static int by_name(const void *a, const void *b)
{
    const struct node *x = *(const struct node *const *)a, *y = *(const struct node *const *)b;
    return strcmp(x->name, y->name);
}

static void node_free(struct node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->child_count; i++)
        node_free(n->children[i]);
    free(n->children);
    free(n->name);
    free(n->path);
    free(n->rel);
    free(n->target);
    free(n->inode);
    free(n);
}

/* The node at rel ("" = root), or NULL. */
static struct node *find_node(struct node *root, const char *rel)
{
    struct node *n = root;
    while (n && *rel) {
        const char *slash = strchr(rel, '/');
        size_t len = slash ? (size_t)(slash - rel) : strlen(rel);
        struct node *next = NULL;
        for (size_t i = 0; i < n->child_count && !next; i++)
            if (strlen(n->children[i]->name) == len && !memcmp(n->children[i]->name, rel, len))
                next = n->children[i];
        n = next;
        rel = slash ? slash + 1 : rel + len;
    }
    return n;
}

/* Each squashfs_label: its own xattr block, attached to its inode. */
static int add_labels(struct builder *b, struct node *root, struct error *err)
{
    const struct squashfs_image_options *o = b->opts;
    for (size_t i = 0; i < o->label_count; i++) {
        struct node *n = find_node(root, o->labels[i].path);
        if (!n)
            return error_set(err, ERROR_INPUT, "%s: cannot label /%s: no such path in the tree", b->out_path,
                             o->labels[i].path);
        int r = sqfs_xattr_writer_begin(b->xwr, 0);
        if (!r)
            r = sqfs_xattr_writer_add(b->xwr, "security.selinux", o->labels[i].label, strlen(o->labels[i].label));
        if (!r)
            r = sqfs_xattr_writer_end(b->xwr, &n->xattr_index);
        if (r)
            return sqfs_fail(err, r, b->out_path, "recording an SELinux label");
        n->labelled = true;
    }
    return 0;
}

/* Read the tree under n (a directory). */
static int scan_dir(const struct squashfs_image_options *opts, struct node *n, struct error *err)
{
    DIR *d = opendir(n->path);
    if (!d)
        return error_errno(err, errno, "%s: cannot open directory", n->path);
    size_t cap = 0;
    struct dirent *de;
    int rc = 0;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *rel = n->rel[0] ? xasprintf("%s/%s", n->rel, de->d_name) : xstrdup(de->d_name);
        if (listed(opts->exclude, rel)) {
            free(rel);
            continue;
        }
        char *path = path_join(n->path, de->d_name);
        struct stat st;
        if (lstat(path, &st) != 0) {
            rc = error_errno(err, errno, "%s: cannot stat", path);
            free(rel);
            free(path);
            break;
        }
        if (!S_ISDIR(st.st_mode) && listed(opts->exclude_files, rel)) {
            free(rel);
            free(path);
            continue;
        }
        struct node *c = xcalloc(1, sizeof *c);
        c->name = xstrdup(de->d_name);
        c->path = path;
        c->rel = rel;
        c->parent = n;
        c->mode = st.st_mode;
        c->size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
        c->rdev = st.st_rdev;
        c->link_count = 1;
        if (n->child_count == cap) {
            cap = cap ? cap * 2 : 16;
            n->children = xrealloc(n->children, cap * sizeof *n->children);
        }
        n->children[n->child_count++] = c;
        if (S_ISLNK(st.st_mode)) {
            size_t tcap = (size_t)st.st_size + 1 > 64 ? (size_t)st.st_size + 1 : 64;
            c->target = xmalloc(tcap + 1);
            ssize_t len = readlink(path, c->target, tcap);
            if (len < 0 || (size_t)len >= tcap) {
                rc = len < 0 ? error_errno(err, errno, "%s: cannot read link", path)
                             : error_set(err, ERROR_RUNTIME, "%s: link changed while reading it", path);
                break;
            }
            c->target[len] = '\0';
        } else if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode) &&
                   !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode)) {
            rc = error_set(err, ERROR_INPUT, "%s: unsupported file type", path);
            break;
        }
        errno = 0;
    }
    if (!rc && errno != 0)
        rc = error_errno(err, errno, "%s: cannot read directory", n->path);
    closedir(d);
    if (rc)
        return rc;
    if (n->child_count) /* children is NULL for an empty directory: qsort(NULL, 0) is undefined */
        qsort(n->children, n->child_count, sizeof *n->children, by_name);
    n->link_count = 2;
    for (size_t i = 0; i < n->child_count; i++) {
        struct node *c = n->children[i];
        if (S_ISDIR(c->mode)) {
            n->link_count++;
            if (scan_dir(opts, c, err) != 0)
                return -1;
        }
    }
    return 0;
}

static void push_order(struct builder *b, struct node *n)
{
    if (b->count == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->order = xrealloc(b->order, b->cap * sizeof *b->order);
    }
    b->order[b->count++] = n;
}

/* gensquashfs' numbering: recurse into subdirectories first, then number all direct children;
 * the root comes last. Every entry is written before the directory that lists it. */
static void map_children(struct builder *b, struct node *dir)
{
    for (size_t i = 0; i < dir->child_count; i++)
        if (S_ISDIR(dir->children[i]->mode))
            map_children(b, dir->children[i]);
    for (size_t i = 0; i < dir->child_count; i++)
        push_order(b, dir->children[i]);
}

static int add_file_data(struct builder *b, struct node *n, struct error *err)
{
    /* O_NOFOLLOW: the scan saw a regular file here; never read through a link put in its place */
    int fd = open(n->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "%s: cannot open", n->path);
    /* libsquashfs' block writer matches whole data blocks by a 32-bit hash and the size only, so
     * a false match would silently corrupt a file: files with full blocks are never deduplicated,
     * and their tail is a block of its own (libsquashfs 1.2 leaks the fragment record when an
     * undeduplicated tail equals an earlier fragment). Small files live in fragments, whose
     * deduplication compares the bytes (desc.file/desc.uncmp), as mksquashfs does. */
    uint32_t block_size = b->opts->block_size ? b->opts->block_size : 131072;
    sqfs_u32 flags = n->size >= block_size ? SQFS_BLK_DONT_DEDUPLICATE | SQFS_BLK_DONT_FRAGMENT : 0;
    int r = sqfs_block_processor_begin_file(b->proc, &n->inode, NULL, flags);
    if (r) {
        close(fd);
        return sqfs_fail(err, r, n->path, "starting a file");
    }
    enum { CHUNK = 1 << 17 };
    char *buf = xmalloc(CHUNK);
    uint64_t left = n->size;
    int rc = 0;
    while (left) {
        ssize_t got = read(fd, buf, left < CHUNK ? (size_t)left : CHUNK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            rc = got < 0 ? error_errno(err, errno, "%s: read failed", n->path)
                         : error_set(err, ERROR_RUNTIME, "%s: file shrank while it was being packed", n->path);
            break;
        }
        r = sqfs_block_processor_append(b->proc, buf, (size_t)got);
        if (r) {
            rc = sqfs_fail(err, r, n->path, "adding file data");
            break;
        }
        left -= (uint64_t)got;
    }
    free(buf);
    close(fd);
    r = sqfs_block_processor_end_file(b->proc);
    if (!rc && r)
        rc = sqfs_fail(err, r, n->path, "ending a file");
    return rc;
}

static int set_ids(struct builder *b, sqfs_inode_generic_t *inode, struct error *err)
{
    int r = sqfs_id_table_id_to_index(b->ids, 0, &inode->base.uid_idx);
    if (!r)
        r = sqfs_id_table_id_to_index(b->ids, 0, &inode->base.gid_idx);
    return r ? sqfs_fail(err, r, b->out_path, "recording owner IDs") : 0;
}

static sqfs_inode_generic_t *special_inode(struct node *n)
{
    size_t extra = n->target ? strlen(n->target) : 0;
    sqfs_inode_generic_t *inode = xcalloc(1, sizeof *inode + extra);
    switch (n->mode & S_IFMT) {
    case S_IFLNK:
        inode->base.type = SQFS_INODE_SLINK;
        inode->data.slink.nlink = 1;
        inode->data.slink.target_size = (sqfs_u32)extra;
        memcpy(inode->extra, n->target, extra);
        break;
    case S_IFBLK:
    case S_IFCHR:
        inode->base.type = S_ISBLK(n->mode) ? SQFS_INODE_BDEV : SQFS_INODE_CDEV;
        inode->data.dev.nlink = 1;
        /* the kernel's squashfs "new" device encoding */
        inode->data.dev.devno =
            (sqfs_u32)((minor(n->rdev) & 0xff) | (major(n->rdev) << 8) | ((minor(n->rdev) & ~0xffu) << 12));
        break;
    case S_IFIFO:
        inode->base.type = SQFS_INODE_FIFO;
        inode->data.ipc.nlink = 1;
        break;
    default:
        inode->base.type = SQFS_INODE_SOCKET;
        inode->data.ipc.nlink = 1;
        break;
    }
    return inode;
}

static int write_inode(struct builder *b, struct node *n, struct error *err)
{
    sqfs_inode_generic_t *inode;
    int r;
    uint32_t xattr_index = n->labelled ? n->xattr_index : b->xattr_index;
    if (S_ISDIR(n->mode)) {
        r = sqfs_dir_writer_begin(b->dirwr, 0);
        for (size_t i = 0; !r && i < n->child_count; i++) {
            struct node *c = n->children[i];
            r = sqfs_dir_writer_add_entry(b->dirwr, c->name, c->inode_num, c->inode_ref, (sqfs_u16)c->mode);
        }
        if (!r)
            r = sqfs_dir_writer_end(b->dirwr);
        if (r)
            return sqfs_fail(err, r, n->path, "writing directory entries");
        inode = sqfs_dir_writer_create_inode(b->dirwr, 0, xattr_index, n->parent ? n->parent->inode_num : 0);
        if (!inode)
            return sqfs_fail(err, SQFS_ERROR_ALLOC, n->path, "creating a directory inode");
        if (inode->base.type == SQFS_INODE_DIR)
            inode->data.dir.nlink = n->link_count;
        else
            inode->data.dir_ext.nlink = n->link_count;
    } else if (S_ISREG(n->mode)) {
        inode = n->inode;
        n->inode = NULL;
        if (!inode)
            return sqfs_fail(err, SQFS_ERROR_INTERNAL, n->path, "finding the file inode");
        if (inode->base.type == SQFS_INODE_EXT_FILE)
            inode->data.file_ext.nlink = 1;
    } else {
        inode = special_inode(n);
    }
    inode->base.mode = (sqfs_u16)n->mode;
    inode->base.mod_time = b->opts->mtime;
    inode->base.inode_number = n->inode_num;
    int rc = 0;
    if (xattr_index != 0xffffffffu && !S_ISDIR(n->mode)) {
        r = sqfs_inode_set_xattr_index(inode, xattr_index);
        if (r)
            rc = sqfs_fail(err, r, n->path, "attaching xattrs");
    }
    if (!rc)
        rc = set_ids(b, inode, err);
    if (!rc) {
        sqfs_u64 block;
        sqfs_u32 offset;
        sqfs_meta_writer_get_position(b->im, &block, &offset);
        n->inode_ref = (block << 16) | offset;
        r = sqfs_meta_writer_write_inode(b->im, inode);
        if (r)
            rc = sqfs_fail(err, r, n->path, "writing an inode");
    }
    /* inodes come from libsquashfs' allocator (dir writer, block processor) or xcalloc: all
     * plain malloc, released with free */
    free(inode);
    return rc;
}

static int pad_to(sqfs_file_t *file, size_t blocksize)
{
    sqfs_u64 size = file->get_size(file);
    size_t pad = (size_t)((blocksize - size % blocksize) % blocksize);
    if (!pad)
        return 0;
    char *zeros = xcalloc(1, pad);
    int r = file->write_at(file, size, zeros, pad);
    free(zeros);
    return r;
}

static int build(struct builder *b, struct node *root, const char *tmp_path, struct error *err)
{
    const struct squashfs_image_options *o = b->opts;
    uint32_t block_size = o->block_size ? o->block_size : 131072;
    SQFS_COMPRESSOR id;
    switch (o->compression) {
    case COMPRESS_ZSTD: id = SQFS_COMP_ZSTD; break;
    case COMPRESS_XZ: id = SQFS_COMP_XZ; break;
    case COMPRESS_GZIP: id = SQFS_COMP_GZIP; break;
    default:
        return error_set(err, ERROR_INPUT, "squashfs: compression %s is not supported (zstd, xz or gzip)",
                         compress_kind_name(o->compression));
    }
    sqfs_compressor_config_t cfg;
    int r = sqfs_compressor_config_init(&cfg, id, block_size, 0);
    if (r)
        return sqfs_fail(err, r, b->out_path, "configuring the compressor");
    if (o->level > 0 && id != SQFS_COMP_XZ)
        cfg.level = (sqfs_u32)o->level;
    if (id == SQFS_COMP_XZ)
        cfg.opt.xz.dict_size = block_size; /* -Xdict-size 100% */
    r = sqfs_compressor_create(&cfg, &b->cmp);
    if (r)
        return sqfs_fail(err, r, b->out_path, "creating the compressor");
    cfg.flags |= SQFS_COMP_FLAG_UNCOMPRESS;
    r = sqfs_compressor_create(&cfg, &b->uncmp);
    if (r)
        return sqfs_fail(err, r, b->out_path, "creating the decompressor");

    b->file = sqfs_open_file(tmp_path, SQFS_FILE_OPEN_OVERWRITE);
    if (!b->file)
        return error_errno(err, errno, "%s: cannot open for writing", tmp_path);
    r = sqfs_super_init(&b->super, block_size, o->mtime, id);
    if (!r)
        r = sqfs_super_write(&b->super, b->file);
    if (r)
        return sqfs_fail(err, r, b->out_path, "writing the superblock");
    r = b->cmp->write_options(b->cmp, b->file);
    if (r < 0)
        return sqfs_fail(err, r, b->out_path, "writing compressor options");
    if (r > 0)
        b->super.flags |= SQFS_FLAG_COMPRESSOR_OPTIONS;

    b->blkwr = sqfs_block_writer_create(b->file, 4096, 0);
    b->frag = sqfs_frag_table_create(0);
    b->ids = sqfs_id_table_create(0);
    if (!b->blkwr || !b->frag || !b->ids)
        return sqfs_fail(err, SQFS_ERROR_ALLOC, b->out_path, "creating tables");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned workers = o->threads ? o->threads : (cpus > 0 ? (unsigned)cpus : 1);
    sqfs_block_processor_desc_t desc;
    memset(&desc, 0, sizeof desc);
    desc.size = sizeof desc;
    desc.max_block_size = block_size;
    desc.num_workers = workers;
    desc.max_backlog = 10 * workers;
    desc.cmp = b->cmp;
    desc.wr = b->blkwr;
    desc.tbl = b->frag;
    desc.file = b->file; /* fragment matches are verified against the written bytes */
    desc.uncmp = b->uncmp;
    r = sqfs_block_processor_create_ex(&desc, &b->proc);
    if (r)
        return sqfs_fail(err, r, b->out_path, "creating the block processor");

    b->xattr_index = 0xffffffffu;
    if (o->selinux_label || o->label_count) {
        b->xwr = sqfs_xattr_writer_create(0);
        if (!b->xwr)
            return sqfs_fail(err, SQFS_ERROR_ALLOC, b->out_path, "creating the xattr writer");
    }
    if (o->selinux_label) {
        if (!b->xwr)
            return sqfs_fail(err, SQFS_ERROR_ALLOC, b->out_path, "creating the xattr writer");
        r = sqfs_xattr_writer_begin(b->xwr, 0);
        if (!r)
            r = sqfs_xattr_writer_add(b->xwr, "security.selinux", o->selinux_label, strlen(o->selinux_label) + 1);
        if (!r)
            r = sqfs_xattr_writer_end(b->xwr, &b->xattr_index);
        if (r)
            return sqfs_fail(err, r, b->out_path, "recording the SELinux label");
    }

    if (o->label_count && add_labels(b, root, err) != 0)
        return -1;

    /* numbering and data, in serialisation order */
    map_children(b, root);
    push_order(b, root);
    for (size_t i = 0; i < b->count; i++)
        b->order[i]->inode_num = (uint32_t)(i + 1);
    for (size_t i = 0; i < b->count; i++)
        if (S_ISREG(b->order[i]->mode) && add_file_data(b, b->order[i], err) != 0)
            return -1;
    r = sqfs_block_processor_finish(b->proc);
    if (r)
        return sqfs_fail(err, r, b->out_path, "finishing data blocks");

    b->im = sqfs_meta_writer_create(b->file, b->cmp, 0);
    b->dm = sqfs_meta_writer_create(b->file, b->cmp, SQFS_META_WRITER_KEEP_IN_MEMORY);
    if (!b->im || !b->dm)
        return sqfs_fail(err, SQFS_ERROR_ALLOC, b->out_path, "creating metadata writers");
    b->dirwr = sqfs_dir_writer_create(b->dm, 0);
    if (!b->dirwr)
        return sqfs_fail(err, SQFS_ERROR_ALLOC, b->out_path, "creating the directory writer");
    b->super.inode_count = (sqfs_u32)b->count;
    b->super.inode_table_start = b->file->get_size(b->file);
    for (size_t i = 0; i < b->count; i++)
        if (write_inode(b, b->order[i], err) != 0)
            return -1;
    r = sqfs_meta_writer_flush(b->im);
    if (!r)
        r = sqfs_meta_writer_flush(b->dm);
    if (r)
        return sqfs_fail(err, r, b->out_path, "flushing metadata");
    b->super.root_inode_ref = root->inode_ref;
    b->super.directory_table_start = b->file->get_size(b->file);
    r = sqfs_meta_write_write_to_file(b->dm);
    if (!r)
        r = sqfs_frag_table_write(b->frag, b->file, &b->super, b->cmp);
    if (!r)
        r = sqfs_id_table_write(b->ids, b->file, &b->super, b->cmp);
    if (r)
        return sqfs_fail(err, r, b->out_path, "writing tables");
    if (b->xwr) {
        r = sqfs_xattr_writer_flush(b->xwr, b->file, &b->super, b->cmp);
        if (r)
            return sqfs_fail(err, r, b->out_path, "writing xattrs");
    } else {
        b->super.flags |= SQFS_FLAG_NO_XATTRS;
    }
    b->super.bytes_used = b->file->get_size(b->file);
    r = sqfs_super_write(&b->super, b->file);
    if (!r)
        r = pad_to(b->file, 4096);
    if (r)
        return sqfs_fail(err, r, b->out_path, "finishing the image");
    return 0;
}

static void builder_free(struct builder *b)
{
    if (b->dirwr)
        sqfs_destroy(b->dirwr);
    if (b->dm)
        sqfs_destroy(b->dm);
    if (b->im)
        sqfs_destroy(b->im);
    if (b->xwr)
        sqfs_destroy(b->xwr);
    if (b->proc)
        sqfs_destroy(b->proc);
    if (b->ids)
        sqfs_destroy(b->ids);
    if (b->frag)
        sqfs_destroy(b->frag);
    if (b->blkwr)
        sqfs_destroy(b->blkwr);
    if (b->file)
        sqfs_destroy(b->file);
    if (b->uncmp)
        sqfs_destroy(b->uncmp);
    if (b->cmp)
        sqfs_destroy(b->cmp);
    free(b->order);
}

int squashfs_image_write(const char *source_dir, const char *out_path, const struct squashfs_image_options *opts,
                         struct error *err)
{
    struct stat st;
    if (stat(source_dir, &st) != 0)
        return error_errno(err, errno, "%s: cannot read the tree to pack", source_dir);
    if (!S_ISDIR(st.st_mode))
        return error_set(err, ERROR_INPUT, "%s: not a directory", source_dir);
    struct node *root = xcalloc(1, sizeof *root);
    root->name = xstrdup("");
    root->path = xstrdup(source_dir);
    root->rel = xstrdup("");
    root->mode = st.st_mode;
    if (scan_dir(opts, root, err) != 0) {
        node_free(root);
        return -1;
    }
    struct atomic_file af;
    if (atomic_file_open(&af, out_path, 0644, err) != 0) {
        node_free(root);
        return -1;
    }
    struct builder b;
    memset(&b, 0, sizeof b);
    b.opts = opts;
    b.out_path = out_path;
    int rc = build(&b, root, af.tmp_path, err);
    builder_free(&b);
    node_free(root);
    if (rc) {
        atomic_file_abort(&af);
        return -1;
    }
    return atomic_file_commit(&af, err);
}
