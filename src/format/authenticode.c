/* authenticode — see authenticode.h. */
#include "format/authenticode.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>

#include "core/endian.h"
#include "core/fs.h"
#include "core/memory.h"

#define HEADER_READ_MAX (1u << 20)
#define COFF_HEADER 20
#define SECTION_HEADER 40
#define WIN_CERT_REVISION_2_0 0x0200
#define WIN_CERT_TYPE_PKCS_SIGNED_DATA 0x0002

struct pe_range {
    uint64_t offset, size;
};

/* What the hash needs from a PE32+ file. */
struct pe_layout {
    int fd;
    uint64_t file_size;     /* without an existing signature */
    uint64_t padded_size;   /* file_size rounded up to 8: where the certificate table goes */
    unsigned char *headers; /* the first size_of_headers bytes */
    uint32_t size_of_headers;
    uint32_t checksum_offset, cert_dir_offset;
    struct pe_range *sections; /* raw data, sorted by offset */
    size_t section_count;
};

static void pe_layout_free(struct pe_layout *l)
{
    if (l->fd >= 0)
        close(l->fd);
    free(l->headers);
    free(l->sections);
    memset(l, 0, sizeof *l);
    l->fd = -1;
}

static int compare_ranges(const void *a, const void *b)
{
    const struct pe_range *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int pe_layout_read(const char *path, struct pe_layout *l, struct error *err)
{
    memset(l, 0, sizeof *l);
    l->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (l->fd < 0)
        return error_errno(err, errno, "%s: cannot open", path);
    struct stat st;
    if (fstat(l->fd, &st) != 0)
        return error_errno(err, errno, "%s: cannot stat", path);
    uint64_t size = (uint64_t)st.st_size;
    size_t want = size < HEADER_READ_MAX ? (size_t)size : HEADER_READ_MAX;
    unsigned char *d = xmalloc(want ? want : 1);
    l->headers = d;
    if (fs_read_all(l->fd, d, want, path, err) != 0)
        return -1;
    if (want < 0x40 || d[0] != 'M' || d[1] != 'Z')
        return error_set(err, ERROR_INPUT, "%s: not a PE file (no \"MZ\" DOS header)", path);
    uint32_t lfanew = le32_get(d + 0x3c);
    if ((uint64_t)lfanew + 4 + COFF_HEADER + 112 > want || memcmp(d + lfanew, "PE\0\0", 4) != 0)
        return error_set(err, ERROR_INPUT, "%s: not a PE file (no \"PE\\0\\0\" signature at 0x%x)", path, lfanew);
    const unsigned char *coff = d + lfanew + 4;
    uint16_t nsections = le16_get(coff + 2), opt_size = le16_get(coff + 16);
    const unsigned char *opt = coff + COFF_HEADER;
    uint64_t opt_offset = (uint64_t)(opt - d);
    if (le16_get(opt) != 0x20b)
        return error_set(err, ERROR_INPUT,
                         "%s: not PE32+ (optional header magic 0x%x); EFI binaries for x86-64 and "
                         "arm64 are PE32+",
                         path, le16_get(opt));
    uint32_t ndirs = le32_get(opt + 108);
    if (ndirs < 5 || opt_size < 112 + 8 * 5 || opt_offset + opt_size > want)
        return error_set(err, ERROR_INPUT,
                         "%s: the optional header has no certificate table entry (%u data "
                         "directories)",
                         path, ndirs);
    l->checksum_offset = (uint32_t)opt_offset + 64;
    l->cert_dir_offset = (uint32_t)opt_offset + 112 + 4 * 8;
    l->size_of_headers = le32_get(opt + 60);
    uint64_t table = opt_offset + opt_size;
    if (l->size_of_headers > want || l->size_of_headers < table + (uint64_t)nsections * SECTION_HEADER)
        return error_set(err, ERROR_INPUT, "%s: SizeOfHeaders 0x%x does not cover the section table", path,
                         l->size_of_headers);
    uint32_t cert_offset = le32_get(d + l->cert_dir_offset), cert_size = le32_get(d + l->cert_dir_offset + 4);
    l->file_size = size;
    if (cert_size) {
        /* an existing signature: only one at the very end can be replaced */
        if ((uint64_t)cert_offset + cert_size != size || cert_offset < l->size_of_headers)
            return error_set(err, ERROR_INPUT,
                             "%s: its certificate table (0x%x bytes at 0x%x) is not at the end of "
                             "the file; strip the signature first (sbattach --remove)",
                             path, cert_size, cert_offset);
        l->file_size = cert_offset;
    }
    l->padded_size = (l->file_size + 7) / 8 * 8;
    l->sections = xcalloc(nsections ? nsections : 1, sizeof *l->sections);
    for (uint16_t i = 0; i < nsections; i++) {
        const unsigned char *s = d + table + (size_t)i * SECTION_HEADER;
        uint32_t raw = le32_get(s + 16), ptr = le32_get(s + 20);
        if (!raw)
            continue;
        if ((uint64_t)ptr + raw > l->file_size || ptr < l->size_of_headers)
            return error_set(err, ERROR_INPUT, "%s: section %.8s (0x%x bytes at 0x%x) lies outside the image", path,
                             (const char *)s, raw, ptr);
        l->sections[l->section_count++] = (struct pe_range){ptr, raw};
    }
    qsort(l->sections, l->section_count, sizeof *l->sections, compare_ranges);
    return 0;
}

/* Feed [offset, offset+len) of the file to the digest; `pad` zero bytes past the end of the file. */
static int hash_range(const struct pe_layout *l, EVP_MD_CTX *ctx, uint64_t offset, uint64_t len, const char *path,
                      unsigned char *buf, size_t bufsize, struct error *err)
{
    while (len) {
        size_t chunk = len < bufsize ? (size_t)len : bufsize;
        size_t have = 0;
        if (offset < l->file_size) {
            uint64_t in_file = l->file_size - offset;
            have = chunk < in_file ? chunk : (size_t)in_file;
            ssize_t n = pread(l->fd, buf, have, (off_t)offset);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return error_errno(err, errno, "%s: read failed", path);
            if ((size_t)n != have)
                return error_set(err, ERROR_RUNTIME, "%s: file shrank while it was being hashed", path);
        }
        memset(buf + have, 0, chunk - have);
        if (EVP_DigestUpdate(ctx, buf, chunk) != 1)
            return error_set(err, ERROR_RUNTIME, "%s: digest update failed", path);
        offset += chunk;
        len -= chunk;
    }
    return 0;
}

static int layout_digest(const struct pe_layout *l, const char *path, const EVP_MD *md, unsigned char *out,
                         unsigned *out_len, struct error *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, md, NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return error_set(err, ERROR_RUNTIME, "%s: cannot start a digest", path);
    }
    const unsigned char *h = l->headers;
    int rc = 0;
    /* headers without CheckSum and the certificate table entry */
    if (EVP_DigestUpdate(ctx, h, l->checksum_offset) != 1 ||
        EVP_DigestUpdate(ctx, h + l->checksum_offset + 4, l->cert_dir_offset - (l->checksum_offset + 4)) != 1 ||
        EVP_DigestUpdate(ctx, h + l->cert_dir_offset + 8, l->size_of_headers - (l->cert_dir_offset + 8)) != 1)
        rc = error_set(err, ERROR_RUNTIME, "%s: digest update failed", path);
    enum { BUF = 1 << 20 };
    unsigned char *buf = xmalloc(BUF);
    uint64_t hashed = l->size_of_headers;
    for (size_t i = 0; rc == 0 && i < l->section_count; i++) {
        rc = hash_range(l, ctx, l->sections[i].offset, l->sections[i].size, path, buf, BUF, err);
        hashed += l->sections[i].size;
    }
    /* trailing data (and the alignment padding) after the sections, up to the certificate table */
    if (rc == 0 && l->padded_size > hashed)
        rc = hash_range(l, ctx, hashed, l->padded_size - hashed, path, buf, BUF, err);
    free(buf);
    if (rc == 0 && EVP_DigestFinal_ex(ctx, out, out_len) != 1)
        rc = error_set(err, ERROR_RUNTIME, "%s: digest failed", path);
    EVP_MD_CTX_free(ctx);
    return rc;
}

int authenticode_digest(const char *path, const EVP_MD *md, unsigned char out[AUTHENTICODE_DIGEST_MAX], unsigned *len,
                        struct error *err)
{
    struct pe_layout l;
    int rc = pe_layout_read(path, &l, err);
    if (rc == 0)
        rc = layout_digest(&l, path, md, out, len, err);
    pe_layout_free(&l);
    return rc;
}

/* ---- SpcIndirectDataContent, DER by hand: the structure is fixed apart from the digest ---- */

static void der_header(struct buffer *b, unsigned char tag, size_t len)
{
    buffer_append_char(b, (char)tag);
    if (len < 0x80) {
        buffer_append_char(b, (char)len);
    } else if (len < 0x100) {
        buffer_append_char(b, (char)0x81);
        buffer_append_char(b, (char)len);
    } else {
        buffer_append_char(b, (char)0x82);
        buffer_append_char(b, (char)(len >> 8));
        buffer_append_char(b, (char)len);
    }
}

/* SpcIndirectDataContent ::= SEQUENCE { data SpcAttributeTypeAndOptionalValue, messageDigest DigestInfo }
 * data = { type 1.3.6.1.4.1.311.2.1.15 (SPC_PE_IMAGE_DATA), value SpcPeImageData { flags BIT STRING {},
 * file [0] SpcLink.file [2] SpcString.unicode [0] "<<<Obsolete>>>" } } — the value sbsign and
 * signtool write. *content_offset = where the SEQUENCE's contents start (what messageDigest covers). */
static void spc_indirect_data(const unsigned char *digest, unsigned digest_len, const EVP_MD *md, struct buffer *out,
                              size_t *content_offset)
{
    static const char obsolete[] = "<<<Obsolete>>>";
    struct buffer text = BUFFER_INIT, link = BUFFER_INIT, file = BUFFER_INIT, image = BUFFER_INIT, attr = BUFFER_INIT,
                  alg = BUFFER_INIT, info = BUFFER_INIT;
    for (const char *c = obsolete; *c; c++) {
        buffer_append_char(&text, 0);
        buffer_append_char(&text, *c);
    }
    der_header(&link, 0x80, text.len); /* SpcString.unicode [0] IMPLICIT */
    buffer_append(&link, text.data, text.len);
    der_header(&file, 0xa2, link.len); /* SpcLink.file [2] EXPLICIT */
    buffer_append(&file, link.data, link.len);
    buffer_reset(&link);
    buffer_append(&link, "\x03\x01\x00", 3); /* flags */
    der_header(&link, 0xa0, file.len);       /* SpcPeImageData.file [0] EXPLICIT */
    buffer_append(&link, file.data, file.len);
    der_header(&image, 0x30, link.len);
    buffer_append(&image, link.data, link.len);
    static const unsigned char pe_oid[] = {0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x0f};
    buffer_reset(&link);
    buffer_append(&link, pe_oid, sizeof pe_oid);
    buffer_append(&link, image.data, image.len);
    der_header(&attr, 0x30, link.len);
    buffer_append(&attr, link.data, link.len);
    /* DigestInfo: AlgorithmIdentifier { OID, NULL }, OCTET STRING */
    ASN1_OBJECT *obj = OBJ_nid2obj(EVP_MD_type(md));
    unsigned char *oid_der = NULL;
    int oid_len = i2d_ASN1_OBJECT(obj, &oid_der);
    buffer_reset(&link);
    if (oid_len > 0)
        buffer_append(&link, oid_der, (size_t)oid_len);
    OPENSSL_free(oid_der);
    buffer_append(&link, "\x05\x00", 2);
    der_header(&alg, 0x30, link.len);
    buffer_append(&alg, link.data, link.len);
    der_header(&alg, 0x04, digest_len);
    buffer_append(&alg, digest, digest_len);
    der_header(&info, 0x30, alg.len);
    buffer_append(&info, alg.data, alg.len);
    buffer_reset(&link);
    buffer_append(&link, attr.data, attr.len);
    buffer_append(&link, info.data, info.len);
    der_header(out, 0x30, link.len);
    *content_offset = out->len;
    buffer_append(out, link.data, link.len);
    buffer_free(&text);
    buffer_free(&link);
    buffer_free(&file);
    buffer_free(&image);
    buffer_free(&attr);
    buffer_free(&alg);
    buffer_free(&info);
}

static pthread_once_t oid_once = PTHREAD_ONCE_INIT;
static int opus_info_nid = NID_undef;

static void register_oids(void)
{
    opus_info_nid = OBJ_txt2nid("1.3.6.1.4.1.311.2.1.12");
    if (opus_info_nid == NID_undef)
        opus_info_nid = OBJ_create("1.3.6.1.4.1.311.2.1.12", "spcSpOpusInfo", "SPC_SP_OPUS_INFO_OBJID");
}

static int openssl_fail(struct error *err, const char *what)
{
    unsigned long e = ERR_get_error();
    char text[256] = "";
    if (e)
        ERR_error_string_n(e, text, sizeof text);
    ERR_clear_error();
    return error_set(err, ERROR_RUNTIME, "%s failed%s%s", what, text[0] ? ": " : "", text);
}

/* The DER PKCS#7 ContentInfo (SignedData over the SpcIndirectDataContent) for an image digest. */
static int sign_digest(const unsigned char *digest, unsigned digest_len, EVP_PKEY *key, X509 *cert,
                       uint32_t signing_time, const char *path, unsigned char **der, int *der_len, struct error *err)
{
    pthread_once(&oid_once, register_oids);
    if (opus_info_nid == NID_undef)
        return openssl_fail(err, "registering the SpcSpOpusInfo OID");
    const EVP_MD *md = EVP_sha256();
    struct buffer idc = BUFFER_INIT;
    size_t idc_content = 0;
    spc_indirect_data(digest, digest_len, md, &idc, &idc_content);

    int rc = -1;
    PKCS7 *p7 = PKCS7_new();
    BIO *bio = NULL;
    ASN1_STRING *opus = NULL;
    ASN1_TYPE *content_value = NULL;
    PKCS7 *content = NULL;
    if (!p7 || !PKCS7_set_type(p7, NID_pkcs7_signed) || !PKCS7_content_new(p7, NID_pkcs7_data)) {
        openssl_fail(err, "creating the PKCS#7 SignedData");
        goto out;
    }
    PKCS7_SIGNER_INFO *si = PKCS7_add_signature(p7, cert, key, md);
    if (!si || !PKCS7_add_certificate(p7, cert)) {
        openssl_fail(err, "adding the signer (does the certificate belong to the key?)");
        goto out;
    }
    ASN1_OBJECT *spc_indirect = OBJ_txt2obj("1.3.6.1.4.1.311.2.1.4", 1);
    if (!spc_indirect || !PKCS7_add_signed_attribute(si, NID_pkcs9_contentType, V_ASN1_OBJECT, spc_indirect)) {
        ASN1_OBJECT_free(spc_indirect);
        openssl_fail(err, "adding the contentType attribute");
        goto out;
    }
    opus = ASN1_STRING_type_new(V_ASN1_SEQUENCE);
    if (!opus || !ASN1_STRING_set(opus, "\x30\x00", 2) ||
        !PKCS7_add_signed_attribute(si, opus_info_nid, V_ASN1_SEQUENCE, opus)) {
        openssl_fail(err, "adding the SpcSpOpusInfo attribute");
        goto out;
    }
    opus = NULL; /* owned by si */
    ASN1_TIME *when = ASN1_TIME_set(NULL, (time_t)signing_time);
    if (!when || !PKCS7_add0_attrib_signing_time(si, when)) {
        ASN1_TIME_free(when);
        openssl_fail(err, "adding the signingTime attribute");
        goto out;
    }
    /* messageDigest covers the contents of the SpcIndirectDataContent SEQUENCE, not its header */
    bio = PKCS7_dataInit(p7, NULL);
    if (!bio || BIO_write(bio, idc.data + idc_content, (int)(idc.len - idc_content)) != (int)(idc.len - idc_content) ||
        !PKCS7_dataFinal(p7, bio)) {
        openssl_fail(err, "signing");
        goto out;
    }
    /* the signed content is the SpcIndirectDataContent itself */
    content = PKCS7_new();
    ASN1_STRING *seq = ASN1_STRING_type_new(V_ASN1_SEQUENCE);
    content_value = ASN1_TYPE_new();
    if (!content || !seq || !content_value || !ASN1_STRING_set(seq, idc.data, (int)idc.len)) {
        ASN1_STRING_free(seq);
        openssl_fail(err, "building the SpcIndirectDataContent");
        goto out;
    }
    ASN1_TYPE_set(content_value, V_ASN1_SEQUENCE, seq);
    content->type = OBJ_txt2obj("1.3.6.1.4.1.311.2.1.4", 1);
    content->d.other = content_value;
    content_value = NULL;
    if (!content->type || !PKCS7_set_content(p7, content)) {
        openssl_fail(err, "setting the signed content");
        goto out;
    }
    content = NULL;
    *der = NULL;
    *der_len = i2d_PKCS7(p7, der);
    if (*der_len <= 0) {
        openssl_fail(err, "encoding the PKCS#7 signature");
        goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        error_prefix(err, "%s: Authenticode: ", path);
    BIO_free_all(bio);
    ASN1_STRING_free(opus);
    ASN1_TYPE_free(content_value);
    PKCS7_free(content);
    PKCS7_free(p7);
    buffer_free(&idc);
    return rc;
}

static int copy_range(int in, uint64_t offset, uint64_t len, struct atomic_file *out, const char *path, struct error *err)
{
    enum { BUF = 1 << 20 };
    unsigned char *buf = xmalloc(BUF);
    int rc = 0;
    while (rc == 0 && len) {
        size_t chunk = len < BUF ? (size_t)len : BUF;
        ssize_t n = pread(in, buf, chunk, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? error_errno(err, errno, "%s: read failed", path)
                       : error_set(err, ERROR_RUNTIME, "%s: file shrank while it was being signed", path);
            break;
        }
        rc = atomic_file_write(out, buf, (size_t)n, err);
        offset += (uint64_t)n;
        len -= (uint64_t)n;
    }
    free(buf);
    return rc;
}

int authenticode_sign(const char *in_path, const char *out_path, EVP_PKEY *key, X509 *cert, uint32_t signing_time,
                      struct error *err)
{
    struct pe_layout l;
    unsigned char digest[AUTHENTICODE_DIGEST_MAX];
    unsigned digest_len = 0;
    unsigned char *sig = NULL;
    int sig_len = 0;
    int rc = pe_layout_read(in_path, &l, err);
    if (rc == 0)
        rc = layout_digest(&l, in_path, EVP_sha256(), digest, &digest_len, err);
    if (rc == 0)
        rc = sign_digest(digest, digest_len, key, cert, signing_time, in_path, &sig, &sig_len, err);
    uint64_t table = 8 + (uint64_t)sig_len;
    uint64_t table_aligned = (table + 7) / 8 * 8;
    if (rc == 0 && l.padded_size + table_aligned > UINT32_MAX)
        rc = error_set(err, ERROR_INPUT, "%s: too large to sign (the certificate table must start below 4 GiB)", in_path);
    struct atomic_file out;
    bool open = false;
    if (rc == 0 && atomic_file_open(&out, out_path, 0644, err) == 0)
        open = true;
    else if (rc == 0)
        rc = -1;
    if (rc == 0) {
        /* headers with data directory 4 pointing at the new table (CheckSum stays as it is: UEFI
         * ignores it and it is outside the hash) */
        unsigned char *h = l.headers;
        le32_put(h + l.cert_dir_offset, (uint32_t)l.padded_size);
        le32_put(h + l.cert_dir_offset + 4, (uint32_t)table_aligned);
        rc = atomic_file_write(&out, h, l.size_of_headers, err);
    }
    if (rc == 0)
        rc = copy_range(l.fd, l.size_of_headers, l.file_size - l.size_of_headers, &out, in_path, err);
    if (rc == 0) {
        /* zero padding to 8, then WIN_CERTIFICATE { dwLength, wRevision, wCertificateType, bCertificate } */
        static const unsigned char zeros[8];
        unsigned char win[8];
        le32_put(win, (uint32_t)table_aligned);
        le16_put(win + 4, WIN_CERT_REVISION_2_0);
        le16_put(win + 6, WIN_CERT_TYPE_PKCS_SIGNED_DATA);
        rc = atomic_file_write(&out, zeros, (size_t)(l.padded_size - l.file_size), err);
        if (rc == 0)
            rc = atomic_file_write(&out, win, sizeof win, err);
        if (rc == 0)
            rc = atomic_file_write(&out, sig, (size_t)sig_len, err);
        if (rc == 0)
            rc = atomic_file_write(&out, zeros, (size_t)(table_aligned - table), err);
    }
    if (rc == 0 && open) {
        rc = atomic_file_commit(&out, err);
        if (rc == 0)
            open = false;
    }
    if (open)
        atomic_file_abort(&out);
    OPENSSL_free(sig);
    pe_layout_free(&l);
    return rc;
}
