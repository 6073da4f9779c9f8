/* pe — see pe.h. Offsets follow the PE/COFF specification. */
#include "format/pe.h"
#include "core/endian.h"
#include "core/fs.h"
#include "core/memory.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DOS_HEADER 0x40
#define NEW_LFANEW 0x80
#define COFF_HEADER 20
#define OPT_HEADER_PE32PLUS 240
#define SECTION_HEADER 40
#define DATA_DIRS 16
#define SCN_CNT_INITIALIZED_DATA 0x00000040u
#define SCN_MEM_READ 0x40000000u
#define STUB_MAX (64u << 20)

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return a ? (v + a - 1) / a * a : v;
}

/* A parsed view over a PE file held in memory. */
struct pe_view {
    const unsigned char *data;
    size_t size;
    uint32_t lfanew;
    const unsigned char *coff, *opt, *sections;
    uint16_t nsections, opt_size;
    uint32_t ndirs;
};

/* data holds at least the headers (size bytes); file_size is the whole file's length. */
static int pe_parse(const char *path, const unsigned char *data, size_t size, uint64_t file_size, struct pe_view *v,
                    struct error *err)
{
    memset(v, 0, sizeof *v);
    v->data = data;
    v->size = size;
    if (size < DOS_HEADER || data[0] != 'M' || data[1] != 'Z')
        return error_set(err, ERROR_INPUT, "%s: not a PE file (no \"MZ\" DOS header)", path);
    v->lfanew = le32_get(data + 0x3c);
    if ((uint64_t)v->lfanew + 4 + COFF_HEADER > size || memcmp(data + v->lfanew, "PE\0\0", 4))
        return error_set(err, ERROR_INPUT, "%s: not a PE file (no \"PE\\0\\0\" signature at 0x%x)", path, v->lfanew);
    v->coff = data + v->lfanew + 4;
    v->nsections = le16_get(v->coff + 2);
    v->opt_size = le16_get(v->coff + 16);
    v->opt = v->coff + COFF_HEADER;
    if ((size_t)(v->opt - data) + v->opt_size > size || v->opt_size < 112)
        return error_set(err, ERROR_INPUT, "%s: truncated optional header", path);
    if (le16_get(v->opt) != 0x20b)
        return error_set(err, ERROR_INPUT, "%s: not PE32+ (optional header magic 0x%x); EFI stubs are PE32+", path,
                         le16_get(v->opt));
    v->ndirs = le32_get(v->opt + 108);
    if (v->ndirs > DATA_DIRS || 112 + 8 * v->ndirs > v->opt_size)
        return error_set(err, ERROR_INPUT, "%s: bad data directory count %u", path, v->ndirs);
    v->sections = v->opt + v->opt_size;
    if ((size_t)(v->sections - data) + (size_t)v->nsections * SECTION_HEADER > size || v->nsections == 0)
        return error_set(err, ERROR_INPUT, "%s: truncated or empty section table", path);
    uint32_t salign = le32_get(v->opt + 32), falign = le32_get(v->opt + 36);
    if (!salign || !falign || (salign & (salign - 1)) || (falign & (falign - 1)))
        return error_set(err, ERROR_INPUT, "%s: alignments 0x%x/0x%x are not powers of two", path, salign, falign);
    for (uint16_t i = 0; i < v->nsections; i++) {
        const unsigned char *s = v->sections + (size_t)i * SECTION_HEADER;
        uint32_t raw = le32_get(s + 16), ptr = le32_get(s + 20);
        if (raw && ((uint64_t)ptr + raw > file_size))
            return error_set(err, ERROR_INPUT, "%s: section %.8s runs past the end of the file", path, (const char *)s);
    }
    return 0;
}

static int read_small_file(const char *path, struct buffer *out, struct error *err)
{
    return fs_read_file(path, STUB_MAX, out, err);
}

int pe_read_info(const char *path, struct pe_info *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    /* the headers and section table sit in the first MiB of any sane PE file */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "%s: cannot open", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int saved = errno;
        close(fd);
        return error_errno(err, saved, "%s: cannot stat", path);
    }
    size_t want = (size_t)st.st_size < (1u << 20) ? (size_t)st.st_size : (1u << 20);
    unsigned char *data = xmalloc(want ? want : 1);
    int rc = fs_read_all(fd, data, want, path, err);
    close(fd);
    struct pe_view v;
    if (rc == 0)
        rc = pe_parse(path, data, want, (uint64_t)st.st_size, &v, err);
    if (rc == 0) {
        out->machine = le16_get(v.coff);
        out->timestamp = le32_get(v.coff + 4);
        out->symbol_count = le32_get(v.coff + 12);
        out->characteristics = le16_get(v.coff + 18);
        out->size_of_code = le32_get(v.opt + 4);
        out->size_of_initialized_data = le32_get(v.opt + 8);
        out->image_base = le64_get(v.opt + 24);
        out->section_alignment = le32_get(v.opt + 32);
        out->file_alignment = le32_get(v.opt + 36);
        out->size_of_image = le32_get(v.opt + 56);
        out->size_of_headers = le32_get(v.opt + 60);
        out->checksum = le32_get(v.opt + 64);
        out->subsystem = le16_get(v.opt + 68);
        if (v.ndirs > 4) {
            out->cert_table_offset = le32_get(v.opt + 112 + 32);
            out->cert_table_size = le32_get(v.opt + 112 + 36);
        }
        out->section_count = v.nsections;
        out->sections = xcalloc(v.nsections, sizeof *out->sections);
        for (uint16_t i = 0; i < v.nsections; i++) {
            const unsigned char *s = v.sections + (size_t)i * SECTION_HEADER;
            struct pe_section_info *si = &out->sections[i];
            memcpy(si->name, s, PE_SECTION_NAME_MAX);
            si->name[PE_SECTION_NAME_MAX] = '\0';
            si->virtual_size = le32_get(s + 8);
            si->virtual_address = le32_get(s + 12);
            si->raw_size = le32_get(s + 16);
            si->raw_offset = le32_get(s + 20);
            si->characteristics = le32_get(s + 36);
        }
    }
    free(data);
    return rc;
}

const struct pe_section_info *pe_find_section(const struct pe_info *info, const char *name)
{
    for (size_t i = 0; i < info->section_count; i++)
        if (!strcmp(info->sections[i].name, name))
            return &info->sections[i];
    return NULL;
}

void pe_info_free(struct pe_info *info)
{
    free(info->sections);
    memset(info, 0, sizeof *info);
}

struct out_section {
    unsigned char name[PE_SECTION_NAME_MAX];
    uint32_t vsize, vaddr, raw_size, raw_ptr, characteristics;
    const unsigned char *stub_data; /* stub section bytes (raw_size of them), or */
    const struct pe_section_input *input;
    uint64_t input_size;
};

static int write_zeros(int fd, uint64_t n, const char *what, struct error *err)
{
    static const unsigned char zeros[4096];
    while (n) {
        size_t c = n > sizeof zeros ? sizeof zeros : (size_t)n;
        if (fs_write_all(fd, zeros, c, what, err) != 0)
            return -1;
        n -= c;
    }
    return 0;
}

static int copy_file_exact(int out, const char *src, uint64_t expect, const char *what, struct error *err)
{
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_errno(err, errno, "%s: cannot open", src);
    enum { CHUNK = 1 << 20 };
    char *buf = xmalloc(CHUNK);
    uint64_t left = expect;
    int rc = 0;
    while (left) {
        ssize_t n = read(fd, buf, left < CHUNK ? (size_t)left : CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? error_errno(err, errno, "%s: read failed", src)
                       : error_set(err, ERROR_RUNTIME, "%s: file shrank while it was being copied", src);
            break;
        }
        if (fs_write_all(out, buf, (size_t)n, what, err) != 0) {
            rc = -1;
            break;
        }
        left -= (uint64_t)n;
    }
    free(buf);
    close(fd);
    return rc;
}

int pe_assemble(const char *stub_path, const struct pe_section_input *sections, size_t count, uint32_t timestamp,
                const char *out_path, struct error *err)
{
    struct buffer stub = BUFFER_INIT;
    if (read_small_file(stub_path, &stub, err) != 0) {
        if (err)
            err->code = ERROR_INPUT;
        return error_prefix(err, "UKI stub: ");
    }
    const unsigned char *data = (const unsigned char *)stub.data;
    struct pe_view v;
    if (pe_parse(stub_path, data, stub.len, stub.len, &v, err) != 0) {
        buffer_free(&stub);
        return error_prefix(err, "UKI stub: ");
    }
    uint32_t salign = le32_get(v.opt + 32), falign = le32_get(v.opt + 36);
    size_t total = (size_t)v.nsections + count;
    if (total > 96) {
        buffer_free(&stub);
        return error_set(err, ERROR_INPUT, "%s: %zu sections are too many", stub_path, total);
    }
    struct out_section *outs = xcalloc(total, sizeof *outs);
    uint64_t next_va = 0;
    for (uint16_t i = 0; i < v.nsections; i++) {
        const unsigned char *s = v.sections + (size_t)i * SECTION_HEADER;
        struct out_section *o = &outs[i];
        memcpy(o->name, s, PE_SECTION_NAME_MAX);
        o->vsize = le32_get(s + 8);
        o->vaddr = le32_get(s + 12);
        o->raw_size = le32_get(s + 16);
        o->characteristics = le32_get(s + 36);
        o->stub_data = o->raw_size ? data + le32_get(s + 20) : NULL;
        if (i == v.nsections - 1)
            next_va = align_up((uint64_t)o->vaddr + o->vsize, salign);
    }
    int rc = 0;
    for (size_t k = 0; k < count && !rc; k++) {
        const struct pe_section_input *in = &sections[k];
        struct out_section *o = &outs[v.nsections + k];
        size_t nl = strlen(in->name);
        if (nl == 0 || nl > PE_SECTION_NAME_MAX) {
            rc = error_set(err, ERROR_INPUT, "PE section name \"%s\" must be 1..8 bytes", in->name);
            break;
        }
        memcpy(o->name, in->name, nl);
        uint64_t size = in->size;
        if (in->path) {
            struct stat st;
            if (stat(in->path, &st) != 0) {
                rc = error_errno(err, errno, "section %s: %s", in->name, in->path);
                break;
            }
            size = (uint64_t)st.st_size;
        }
        if (size > 0xffffffffu - falign || next_va + size > 0xffffffffu) {
            rc = error_set(err, ERROR_INPUT, "section %s: %llu bytes do not fit a PE image", in->name,
                           (unsigned long long)size);
            break;
        }
        o->input = in;
        o->input_size = size;
        o->vsize = (uint32_t)size;
        o->vaddr = (uint32_t)next_va;
        o->raw_size = (uint32_t)align_up(size, falign);
        o->characteristics = SCN_CNT_INITIALIZED_DATA | SCN_MEM_READ;
        next_va = align_up(next_va + size, salign);
    }
    if (rc) {
        free(outs);
        buffer_free(&stub);
        return -1;
    }
    /* header area: DOS header, padding, "PE\0\0", COFF, optional header, section table */
    uint64_t headers_end = NEW_LFANEW + 4 + COFF_HEADER + OPT_HEADER_PE32PLUS + (uint64_t)SECTION_HEADER * total;
    uint32_t size_of_headers = (uint32_t)align_up(headers_end, falign);
    uint64_t ptr = size_of_headers;
    uint32_t size_code = 0, size_init = 0;
    for (size_t i = 0; i < total; i++) {
        struct out_section *o = &outs[i];
        o->raw_ptr = o->raw_size ? (uint32_t)ptr : 0;
        ptr += o->raw_size;
        if (o->characteristics & SCN_CNT_INITIALIZED_DATA)
            size_init += o->raw_size;
        else
            size_code += o->raw_size; /* as native.go counts */
    }
    if (ptr > 0xffffffffu) {
        free(outs);
        buffer_free(&stub);
        return error_set(err, ERROR_INPUT, "UKI: %llu bytes exceed the 4 GiB a PE file can address",
                         (unsigned long long)ptr);
    }
    const struct out_section *last = &outs[total - 1];
    uint32_t size_of_image = (uint32_t)align_up((uint64_t)last->vaddr + last->vsize, salign);

    unsigned char *hdr = xcalloc(1, size_of_headers);
    memcpy(hdr, data, DOS_HEADER);
    le32_put(hdr + 0x3c, NEW_LFANEW);
    memcpy(hdr + NEW_LFANEW, "PE\0\0", 4);
    unsigned char *coff = hdr + NEW_LFANEW + 4;
    memcpy(coff, v.coff, COFF_HEADER);
    le16_put(coff + 2, (uint16_t)total);
    le32_put(coff + 4, timestamp);
    le32_put(coff + 8, 0); /* no COFF symbol table (stripped) */
    le32_put(coff + 12, 0);
    le16_put(coff + 16, OPT_HEADER_PE32PLUS);
    unsigned char *opt = coff + COFF_HEADER;
    memcpy(opt, v.opt, v.opt_size < OPT_HEADER_PE32PLUS ? v.opt_size : OPT_HEADER_PE32PLUS);
    opt[2] = 0; /* linker version */
    opt[3] = 0;
    le32_put(opt + 4, size_code);
    le32_put(opt + 8, size_init);
    le32_put(opt + 56, size_of_image);
    le32_put(opt + 60, size_of_headers);
    le32_put(opt + 64, 0); /* CheckSum: 0, as Talos writes it; UEFI does not check it */
    le32_put(opt + 108, DATA_DIRS);
    le32_put(opt + 112 + 32, 0); /* a stub's Authenticode signature would not match the new image */
    le32_put(opt + 112 + 36, 0);
    unsigned char *sh = opt + OPT_HEADER_PE32PLUS;
    for (size_t i = 0; i < total; i++, sh += SECTION_HEADER) {
        const struct out_section *o = &outs[i];
        memcpy(sh, o->name, PE_SECTION_NAME_MAX);
        le32_put(sh + 8, o->vsize);
        le32_put(sh + 12, o->vaddr);
        le32_put(sh + 16, o->raw_size);
        le32_put(sh + 20, o->raw_ptr);
        le32_put(sh + 36, o->characteristics);
    }

    struct atomic_file af;
    rc = atomic_file_open(&af, out_path, 0644, err);
    if (!rc)
        rc = fs_write_all(af.fd, hdr, size_of_headers, out_path, err);
    for (size_t i = 0; i < total && !rc; i++) {
        const struct out_section *o = &outs[i];
        if (!o->raw_size)
            continue;
        uint64_t content;
        if (o->stub_data) {
            content = o->raw_size;
            rc = fs_write_all(af.fd, o->stub_data, o->raw_size, out_path, err);
        } else {
            content = o->input_size;
            if (o->input->path)
                rc = copy_file_exact(af.fd, o->input->path, content, out_path, err);
            else
                rc = fs_write_all(af.fd, o->input->data, (size_t)content, out_path, err);
        }
        if (!rc)
            rc = write_zeros(af.fd, o->raw_size - content, out_path, err);
    }
    if (!rc)
        rc = atomic_file_commit(&af, err);
    else if (af.path)
        atomic_file_abort(&af);
    free(hdr);
    free(outs);
    buffer_free(&stub);
    return rc;
}
