/* fat — see fat.h. Layout per Microsoft's FAT specification (fatgen103). */
#include "format/fat.h"
#include "core/endian.h"
#include "core/fs.h"
#include "core/memory.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_SECTOR 4096u
#define ATTR_READ_ONLY 0x01
#define ATTR_VOLUME_ID 0x08
#define ATTR_DIRECTORY 0x10
#define ATTR_ARCHIVE 0x20
#define ATTR_LFN 0x0f

struct fnode {
    char *name;
    bool dir;
    struct fnode *parent;
    struct fnode **kids;
    size_t nkids;
    const struct fat_file *file;
    uint64_t size;
    uint32_t first_cluster, clusters;
    unsigned char short_name[11];
    bool needs_lfn;
    size_t entries; /* directories: 32-byte slots used */
};

struct layout {
    bool fat32;
    uint32_t sector; /* logical sector size: 512, or 4096 for 4Kn disks (mkfs.vfat -S 4096) */
    uint32_t sectors, spc, reserved, fat_sectors, root_sectors, clusters, cluster_size;
    uint64_t data_offset;
    uint32_t next_cluster;
};

static void fnode_free(struct fnode *n)
{
    for (size_t i = 0; i < n->nkids; i++)
        fnode_free(n->kids[i]);
    free(n->kids);
    free(n->name);
    free(n);
}

static struct fnode *child(struct fnode *dir, const char *name, size_t len)
{
    for (size_t i = 0; i < dir->nkids; i++)
        if (strlen(dir->kids[i]->name) == len && !strncasecmp(dir->kids[i]->name, name, len))
            return dir->kids[i];
    return NULL;
}

static struct fnode *add_child(struct fnode *dir, const char *name, size_t len, bool is_dir)
{
    struct fnode *c = xcalloc(1, sizeof *c);
    c->name = xstrndup(name, len);
    c->dir = is_dir;
    c->parent = dir;
    dir->kids = xrealloc(dir->kids, (dir->nkids + 1) * sizeof *dir->kids);
    dir->kids[dir->nkids++] = c;
    return c;
}

static bool valid_name_char(unsigned char c)
{
    return c > 127 || isalnum(c) || strchr("!#$%&'()-@^_`{}~ .+,;=[]", c);
}

static int add_path(struct fnode *root, const struct fat_file *f, struct error *err)
{
    const char *p = f->path;
    while (*p == '/')
        p++;
    struct fnode *dir = root;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (!len || len > 255 || (len == 1 && p[0] == '.') || (len == 2 && !strncmp(p, "..", 2)))
            return error_set(err, ERROR_INPUT, "FAT image: bad path \"%s\"", f->path);
        for (size_t i = 0; i < len; i++)
            if (!valid_name_char((unsigned char)p[i]))
                return error_set(err, ERROR_INPUT, "FAT image: \"%s\" has a character FAT names cannot hold", f->path);
        struct fnode *c = child(dir, p, len);
        if (!slash) {
            if (c)
                return error_set(err, ERROR_INPUT, "FAT image: \"%s\" given twice (names are case-insensitive)", f->path);
            c = add_child(dir, p, len, false);
            c->file = f;
            return 0;
        }
        if (!c)
            c = add_child(dir, p, len, true);
        else if (!c->dir)
            return error_set(err, ERROR_INPUT, "FAT image: \"%.*s\" is both a file and a directory",
                             (int)(slash - f->path), f->path);
        dir = c;
        p = slash + 1;
        while (*p == '/')
            p++;
    }
}

static bool short_char(unsigned char c)
{
    return isupper(c) || isdigit(c) || strchr("!#$%&'()-@^_`{}~", c) || c > 127;
}

/* An exact 8.3 upper-case name needs no long-name entries. */
static bool fits_83(const char *name, unsigned char out[11])
{
    memset(out, ' ', 11);
    const char *dot = strchr(name, '.');
    size_t base = dot ? (size_t)(dot - name) : strlen(name);
    size_t ext = dot ? strlen(dot + 1) : 0;
    if (!base || base > 8 || ext > 3 || (dot && (!ext || strchr(dot + 1, '.'))))
        return false;
    for (size_t i = 0; i < base; i++) {
        if (!short_char((unsigned char)name[i]))
            return false;
        out[i] = (unsigned char)name[i];
    }
    for (size_t i = 0; i < ext; i++) {
        if (!short_char((unsigned char)dot[1 + i]))
            return false;
        out[8 + i] = (unsigned char)dot[1 + i];
    }
    return true;
}

static bool short_taken(const struct fnode *dir, const unsigned char sn[11], const struct fnode *self)
{
    for (size_t i = 0; i < dir->nkids; i++)
        if (dir->kids[i] != self && !memcmp(dir->kids[i]->short_name, sn, 11))
            return true;
    return false;
}

/* Windows-style basis name with a numeric tail: "loader.conf" -> "LOADER~1CON". */
static void make_short(const struct fnode *dir, struct fnode *n)
{
    if (fits_83(n->name, n->short_name) && !short_taken(dir, n->short_name, n)) {
        n->needs_lfn = false;
        return;
    }
    n->needs_lfn = true;
    char base[9] = "", ext[4] = "";
    const char *dot = strrchr(n->name, '.');
    if (dot == n->name)
        dot = NULL;
    size_t bl = 0, el = 0;
    for (const char *p = n->name; *p && (!dot || p < dot); p++) {
        unsigned char c = (unsigned char)toupper((unsigned char)*p);
        if (c == ' ' || c == '.')
            continue;
        if (bl < 8)
            base[bl++] = short_char(c) ? (char)c : '_';
    }
    if (dot)
        for (const char *p = dot + 1; *p && el < 3; p++) {
            unsigned char c = (unsigned char)toupper((unsigned char)*p);
            if (c == ' ' || c == '.')
                continue;
            ext[el++] = short_char(c) ? (char)c : '_';
        }
    if (!bl)
        base[bl++] = '_';
    for (unsigned tail = 1; tail < 1000000; tail++) {
        char t[12];
        int tl = snprintf(t, sizeof t, "~%u", tail);
        size_t keep = bl + (size_t)tl > 8 ? 8 - (size_t)tl : bl;
        memset(n->short_name, ' ', 11);
        memcpy(n->short_name, base, keep);
        memcpy(n->short_name + keep, t, (size_t)tl);
        memcpy(n->short_name + 8, ext, el);
        if (!short_taken(dir, n->short_name, n))
            return;
    }
}

static size_t utf8_to_ucs2(const char *s, uint16_t *out, size_t max)
{
    size_t n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p && n < max) {
        uint32_t c;
        if (*p < 0x80) {
            c = *p++;
        } else if ((*p & 0xe0) == 0xc0 && p[1]) {
            c = (uint32_t)(*p & 0x1f) << 6 | (p[1] & 0x3f);
            p += 2;
        } else if ((*p & 0xf0) == 0xe0 && p[1] && p[2]) {
            c = (uint32_t)(*p & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
            p += 3;
        } else {
            c = '_';
            p++;
        }
        out[n++] = (uint16_t)c;
    }
    return n;
}

static size_t lfn_count(const struct fnode *n)
{
    if (!n->needs_lfn)
        return 0;
    uint16_t u[260];
    size_t len = utf8_to_ucs2(n->name, u, 260);
    return (len + 12) / 13;
}

static void prepare_dir(struct fnode *dir, bool is_root, const char *label)
{
    dir->entries = is_root ? (label ? 1 : 0) : 2;
    for (size_t i = 0; i < dir->nkids; i++) {
        struct fnode *c = dir->kids[i];
        make_short(dir, c);
        dir->entries += 1 + lfn_count(c);
        if (c->dir)
            prepare_dir(c, false, NULL);
    }
}

static int compute_layout(struct layout *l, uint64_t size, uint32_t sector, struct error *err)
{
    memset(l, 0, sizeof *l);
    if (sector == 0)
        sector = 512;
    if (sector != 512 && sector != 1024 && sector != 2048 && sector != 4096)
        return error_set(err, ERROR_INPUT, "FAT image: sector size %u is not 512, 1024, 2048 or 4096", sector);
    l->sector = sector;
    const uint32_t ss = sector;
    if (size / ss > 0xffffffffu)
        return error_set(err, ERROR_INPUT, "FAT image: %llu bytes is too large", (unsigned long long)size);
    l->sectors = (uint32_t)(size / ss);
    /* FAT32 with the largest cluster of at most 4 KiB (1, 2, 4, 8 sectors of 512; one sector of
     * 4096) that keeps >= 65525 + 2048 clusters */
    for (uint32_t spc = 4096 / ss > 0 ? 4096 / ss : 1; spc >= 1; spc /= 2) {
        if (l->sectors / spc < 65525 + 2048)
            continue;
        uint32_t fat = 1;
        for (;;) {
            uint32_t data = l->sectors - 32 - 2 * fat;
            uint32_t clusters = data / spc;
            uint32_t need = (uint32_t)(((uint64_t)clusters + 2) * 4 + ss - 1) / ss;
            if (need <= fat) {
                l->clusters = clusters;
                break;
            }
            fat = need;
        }
        if (l->clusters >= 65525 && l->clusters < 0x0ffffff5) {
            l->fat32 = true;
            l->spc = spc;
            l->reserved = 32;
            l->fat_sectors = fat;
            l->root_sectors = 0;
            break;
        }
    }
    if (!l->fat32) {
        l->reserved = 1;
        l->root_sectors = 512 * 32 / ss; /* 512 root entries */
        for (uint32_t spc = 1; spc <= 64 && spc * ss <= 32768; spc *= 2) {
            uint32_t fat = 1;
            uint32_t clusters = 0;
            for (;;) {
                if (l->sectors < l->reserved + l->root_sectors + 2 * fat)
                    return error_set(err, ERROR_INPUT, "FAT image: %llu bytes is too small", (unsigned long long)size);
                uint32_t data = l->sectors - l->reserved - l->root_sectors - 2 * fat;
                clusters = data / spc;
                uint32_t need = ((clusters + 2) * 2 + ss - 1) / ss;
                if (need <= fat)
                    break;
                fat = need;
            }
            if (clusters <= 65524) {
                if (clusters < 4085)
                    return error_set(err, ERROR_INPUT, "FAT image: %llu bytes is too small for FAT16 (at least 2.1 MiB)",
                                     (unsigned long long)size);
                l->spc = spc;
                l->fat_sectors = fat;
                l->clusters = clusters;
                break;
            }
        }
        if (!l->spc)
            return error_set(err, ERROR_INPUT, "FAT image: no FAT16 geometry for %llu bytes", (unsigned long long)size);
    }
    l->cluster_size = l->spc * ss;
    l->data_offset = (uint64_t)(l->reserved + 2 * l->fat_sectors + l->root_sectors) * ss;
    l->next_cluster = 2;
    return 0;
}

static int allocate(struct layout *l, struct fnode *n, bool is_root, struct error *err)
{
    uint64_t bytes = n->dir ? (uint64_t)n->entries * 32 : n->size;
    if (n->dir && is_root && !l->fat32) {
        if (n->entries > 512)
            return error_set(err, ERROR_INPUT, "FAT image: more than 512 entries in the FAT16 root directory");
        bytes = 0;
    }
    if (n->dir && !bytes && !(is_root && !l->fat32))
        bytes = 1; /* a directory always has at least one cluster */
    uint32_t clusters = (uint32_t)((bytes + l->cluster_size - 1) / l->cluster_size);
    if (clusters) {
        if ((uint64_t)l->next_cluster - 2 + clusters > l->clusters)
            return error_set(err, ERROR_INPUT, "FAT image: the files do not fit in %llu bytes; make the image larger",
                             (unsigned long long)l->sectors * l->sector);
        n->first_cluster = l->next_cluster;
        n->clusters = clusters;
        l->next_cluster += clusters;
    }
    for (size_t i = 0; i < n->nkids; i++)
        if (n->kids[i]->dir && allocate(l, n->kids[i], false, err) != 0)
            return -1;
    for (size_t i = 0; i < n->nkids; i++)
        if (!n->kids[i]->dir && allocate(l, n->kids[i], false, err) != 0)
            return -1;
    return 0;
}

static void dos_time(uint32_t epoch, uint16_t *date, uint16_t *tm)
{
    time_t t = (time_t)epoch;
    struct tm g;
    gmtime_r(&t, &g);
    if (g.tm_year < 80) {
        *date = (1 << 5) | 1; /* 1980-01-01 */
        *tm = 0;
        return;
    }
    if (g.tm_year > 207)
        g.tm_year = 207;
    *date = (uint16_t)(((g.tm_year - 80) << 9) | ((g.tm_mon + 1) << 5) | g.tm_mday);
    *tm = (uint16_t)((g.tm_hour << 11) | (g.tm_min << 5) | (g.tm_sec / 2));
}

static void short_entry(unsigned char *e, const unsigned char name[11], uint8_t attr, uint32_t cluster, uint32_t size,
                        uint32_t mtime)
{
    uint16_t d, t;
    dos_time(mtime, &d, &t);
    memset(e, 0, 32);
    memcpy(e, name, 11);
    e[11] = attr;
    le16_put(e + 14, t);
    le16_put(e + 16, d);
    le16_put(e + 18, d);
    le16_put(e + 20, cluster >> 16);
    le16_put(e + 22, t);
    le16_put(e + 24, d);
    le16_put(e + 26, cluster & 0xffff);
    le32_put(e + 28, size);
}

static uint8_t lfn_checksum(const unsigned char sn[11])
{
    uint8_t sum = 0;
    for (int i = 0; i < 11; i++)
        sum = (uint8_t)(((sum & 1) << 7) + (sum >> 1) + sn[i]);
    return sum;
}

/* The 32-byte entries of a directory, in order. */
static unsigned char *dir_bytes(const struct layout *l, const struct fnode *dir, bool is_root, const char *label,
                                uint32_t mtime, size_t *len)
{
    size_t cap = is_root && !l->fat32 ? (size_t)l->root_sectors * l->sector : (size_t)dir->clusters * l->cluster_size;
    unsigned char *buf = xcalloc(1, cap ? cap : 1);
    unsigned char *e = buf;
    if (is_root && label) {
        unsigned char vl[11];
        memset(vl, ' ', 11);
        for (size_t i = 0; i < 11 && label[i]; i++)
            vl[i] = (unsigned char)toupper((unsigned char)label[i]);
        short_entry(e, vl, ATTR_VOLUME_ID, 0, 0, mtime);
        e += 32;
    }
    if (!is_root) {
        static const unsigned char dot[11] = {'.', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
        static const unsigned char dotdot[11] = {'.', '.', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
        short_entry(e, dot, ATTR_DIRECTORY, dir->first_cluster, 0, mtime);
        e += 32;
        uint32_t parent = dir->parent && dir->parent->parent ? dir->parent->first_cluster : 0;
        short_entry(e, dotdot, ATTR_DIRECTORY, parent, 0, mtime);
        e += 32;
    }
    for (size_t i = 0; i < dir->nkids; i++) {
        const struct fnode *c = dir->kids[i];
        if (c->needs_lfn) {
            uint16_t u[260];
            size_t n = utf8_to_ucs2(c->name, u, 255);
            size_t count = (n + 12) / 13;
            uint8_t sum = lfn_checksum(c->short_name);
            for (size_t k = count; k-- > 0;) {
                memset(e, 0, 32);
                e[0] = (unsigned char)((k + 1) | (k + 1 == count ? 0x40 : 0));
                e[11] = ATTR_LFN;
                e[13] = sum;
                static const int pos[13] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};
                for (int j = 0; j < 13; j++) {
                    size_t idx = k * 13 + (size_t)j;
                    uint16_t ch = idx < n ? u[idx] : (idx == n ? 0x0000 : 0xffff);
                    le16_put(e + pos[j], ch);
                }
                e += 32;
            }
        }
        uint8_t attr = c->dir ? ATTR_DIRECTORY : (uint8_t)(ATTR_ARCHIVE | (c->file->read_only ? ATTR_READ_ONLY : 0));
        short_entry(e, c->short_name, attr, c->first_cluster, c->dir ? 0 : (uint32_t)c->size, mtime);
        e += 32;
    }
    *len = cap;
    return buf;
}

static void fat_chain(const struct layout *l, unsigned char *fat, const struct fnode *n)
{
    for (uint32_t i = 0; i < n->clusters; i++) {
        uint32_t c = n->first_cluster + i;
        uint32_t next = i + 1 < n->clusters ? c + 1 : (l->fat32 ? 0x0fffffffu : 0xffffu);
        if (l->fat32)
            le32_put(fat + 4 * (size_t)c, next);
        else
            le16_put(fat + 2 * (size_t)c, next);
    }
    for (size_t i = 0; i < n->nkids; i++)
        fat_chain(l, fat, n->kids[i]);
}

static int write_dirs(int fd, const struct layout *l, const struct fnode *dir, bool is_root, const char *label,
                      uint32_t mtime, const char *what, struct error *err)
{
    size_t len;
    unsigned char *buf = dir_bytes(l, dir, is_root, label, mtime, &len);
    uint64_t off = is_root && !l->fat32 ? (uint64_t)(l->reserved + 2 * l->fat_sectors) * l->sector
                                        : l->data_offset + (uint64_t)(dir->first_cluster - 2) * l->cluster_size;
    int rc = len ? fs_pwrite_all(fd, buf, len, off, what, err) : 0;
    free(buf);
    for (size_t i = 0; !rc && i < dir->nkids; i++)
        if (dir->kids[i]->dir)
            rc = write_dirs(fd, l, dir->kids[i], false, NULL, mtime, what, err);
    return rc;
}

static int write_files(int fd, const struct layout *l, const struct fnode *dir, const char *what, struct error *err)
{
    for (size_t i = 0; i < dir->nkids; i++) {
        const struct fnode *c = dir->kids[i];
        if (c->dir) {
            if (write_files(fd, l, c, what, err) != 0)
                return -1;
            continue;
        }
        if (!c->size)
            continue;
        uint64_t off = l->data_offset + (uint64_t)(c->first_cluster - 2) * l->cluster_size;
        if (!c->file->source) {
            if (fs_pwrite_all(fd, c->file->data, c->file->size, off, what, err) != 0)
                return -1;
            continue;
        }
        int in = open(c->file->source, O_RDONLY | O_CLOEXEC);
        if (in < 0)
            return error_errno(err, errno, "%s: cannot open", c->file->source);
        enum { CHUNK = 1 << 20 };
        char *buf = xmalloc(CHUNK);
        uint64_t left = c->size;
        int rc = 0;
        while (left) {
            ssize_t n = read(in, buf, left < CHUNK ? (size_t)left : CHUNK);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                rc = n < 0 ? error_errno(err, errno, "%s: read failed", c->file->source)
                           : error_set(err, ERROR_RUNTIME, "%s: file shrank while it was being copied", c->file->source);
                break;
            }
            if (fs_pwrite_all(fd, buf, (size_t)n, off, what, err) != 0) {
                rc = -1;
                break;
            }
            off += (uint64_t)n;
            left -= (uint64_t)n;
        }
        free(buf);
        close(in);
        if (rc)
            return -1;
    }
    return 0;
}

static void boot_sector(unsigned char *s, const struct layout *l, const struct fat_options *o)
{
    memset(s, 0, l->sector);
    s[0] = 0xeb;
    s[1] = l->fat32 ? 0x58 : 0x3c;
    s[2] = 0x90;
    memcpy(s + 3, "mkfs.fat", 8);
    le16_put(s + 11, l->sector);
    s[13] = (unsigned char)l->spc;
    le16_put(s + 14, l->reserved);
    s[16] = 2;
    le16_put(s + 17, l->fat32 ? 0 : 512);
    if (!l->fat32 && l->sectors < 65536)
        le16_put(s + 19, l->sectors);
    else
        le32_put(s + 32, l->sectors);
    s[21] = 0xf8;
    le16_put(s + 24, 32); /* geometry hints, as mkfs.fat uses for images */
    le16_put(s + 26, 64);
    unsigned char label[11];
    memset(label, ' ', 11);
    const char *lb = o->label && *o->label ? o->label : "NO NAME";
    for (size_t i = 0; i < 11 && lb[i]; i++)
        label[i] = (unsigned char)toupper((unsigned char)lb[i]);
    unsigned char *ext;
    if (l->fat32) {
        le32_put(s + 36, l->fat_sectors);
        le32_put(s + 44, 2); /* root directory cluster */
        le16_put(s + 48, 1); /* FSInfo */
        le16_put(s + 50, 6); /* backup boot sector */
        ext = s + 64;
    } else {
        le16_put(s + 22, l->fat_sectors);
        ext = s + 36;
    }
    ext[0] = 0x80;
    ext[2] = 0x29;
    le32_put(ext + 3, o->serial);
    memcpy(ext + 7, label, 11);
    memcpy(ext + 18, l->fat32 ? "FAT32   " : "FAT16   ", 8);
    s[510] = 0x55;
    s[511] = 0xaa;
}

int fat_image_write(const char *out_path, const struct fat_options *o, const struct fat_file *files, size_t count,
                    struct error *err)
{
    return fat_image_write_sectors(out_path, o, 512, files, count, err);
}

int fat_image_write_sectors(const char *out_path, const struct fat_options *o, uint32_t sector_size,
                            const struct fat_file *files, size_t count, struct error *err)
{
    struct fnode *root = xcalloc(1, sizeof *root);
    root->name = xstrdup("");
    root->dir = true;
    int rc = 0;
    for (size_t i = 0; i < count && !rc; i++) {
        rc = add_path(root, &files[i], err);
        if (rc)
            break;
    }
    struct layout l;
    if (!rc)
        rc = compute_layout(&l, o->size, sector_size, err);
    if (!rc) {
        prepare_dir(root, true, o->label);
        /* file sizes from their sources */
        struct fnode *stack[64];
        size_t sp = 0;
        stack[sp++] = root;
        while (sp && !rc) {
            struct fnode *d = stack[--sp];
            for (size_t i = 0; i < d->nkids && !rc; i++) {
                struct fnode *c = d->kids[i];
                if (c->dir) {
                    if (sp == 64) {
                        rc = error_set(err, ERROR_INPUT, "FAT image: directories nested too deeply");
                        break;
                    }
                    stack[sp++] = c;
                } else if (c->file->source) {
                    struct stat st;
                    if (stat(c->file->source, &st) != 0)
                        rc = error_errno(err, errno, "%s: cannot stat", c->file->source);
                    else if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > 0xffffffffu)
                        rc = error_set(err, ERROR_INPUT, "%s: not a regular file under 4 GiB", c->file->source);
                    else
                        c->size = (uint64_t)st.st_size;
                } else {
                    c->size = c->file->size;
                }
            }
        }
    }
    if (!rc)
        rc = allocate(&l, root, true, err);
    struct atomic_file af;
    bool open_ok = false;
    if (!rc) {
        rc = atomic_file_open(&af, out_path, 0644, err);
        open_ok = rc == 0;
    }
    if (!rc && ftruncate(af.fd, (off_t)l.sectors * l.sector) != 0)
        rc = error_errno(err, errno, "%s: cannot size the image", out_path);
    if (!rc) {
        const uint32_t ss = l.sector;
        unsigned char sec[MAX_SECTOR];
        boot_sector(sec, &l, o);
        rc = fs_pwrite_all(af.fd, sec, ss, 0, out_path, err);
        if (!rc && l.fat32) {
            rc = fs_pwrite_all(af.fd, sec, ss, 6 * ss, out_path, err);
            unsigned char fsi[MAX_SECTOR];
            memset(fsi, 0, ss);
            le32_put(fsi, 0x41615252);
            le32_put(fsi + 484, 0x61417272);
            le32_put(fsi + 488, l.clusters - (l.next_cluster - 2));
            le32_put(fsi + 492, l.next_cluster);
            fsi[510] = 0x55;
            fsi[511] = 0xaa;
            if (!rc)
                rc = fs_pwrite_all(af.fd, fsi, ss, 1 * ss, out_path, err);
            if (!rc)
                rc = fs_pwrite_all(af.fd, fsi, ss, 7 * ss, out_path, err);
        }
    }
    if (!rc) {
        size_t fat_bytes = (size_t)l.fat_sectors * l.sector;
        unsigned char *fat = xcalloc(1, fat_bytes);
        if (l.fat32) {
            le32_put(fat, 0x0ffffff8);
            le32_put(fat + 4, 0x0fffffff);
        } else {
            le16_put(fat, 0xfff8);
            le16_put(fat + 2, 0xffff);
        }
        fat_chain(&l, fat, root);
        for (int k = 0; k < 2 && !rc; k++)
            rc = fs_pwrite_all(af.fd, fat, fat_bytes, (uint64_t)(l.reserved + (uint32_t)k * l.fat_sectors) * l.sector,
                               out_path, err);
        free(fat);
    }
    if (!rc)
        rc = write_dirs(af.fd, &l, root, true, o->label, o->mtime, out_path, err);
    if (!rc)
        rc = write_files(af.fd, &l, root, out_path, err);
    if (open_ok) {
        if (!rc)
            rc = atomic_file_commit(&af, err);
        else
            atomic_file_abort(&af);
    }
    fnode_free(root);
    return rc;
}
