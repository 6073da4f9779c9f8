/* qcow2 — see qcow2.h. Format: qemu docs/interop/qcow2.txt. */
#include "format/qcow2.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/endian.h"
#include "core/fs.h"
#include "core/memory.h"

#define COPIED (1ull << 63)

int qcow2_cluster_size_parse(const char *options, uint32_t *cluster_size, struct error *err)
{
    *cluster_size = 65536;
    if (!options || !*options)
        return 0;
    const char *v = NULL;
    if (strncmp(options, "cluster_size=", 13) == 0)
        v = options + 13;
    if (!v || strchr(v, ','))
        return error_set(err, ERROR_INPUT, "qcow2 options '%s': only cluster_size=N is supported", options);
    char *end = NULL;
    unsigned long long n = strtoull(v, &end, 10);
    if (end && (*end == 'k' || *end == 'K'))
        n <<= 10, end++;
    else if (end && *end == 'M')
        n <<= 20, end++;
    if (!end || *end || n < 512 || n > (2u << 20) || (n & (n - 1)))
        return error_set(err, ERROR_INPUT, "qcow2 cluster_size '%s': a power of two from 512 to 2M", v);
    *cluster_size = (uint32_t)n;
    return 0;
}

static uint64_t div_up(uint64_t a, uint64_t b)
{
    return (a + b - 1) / b;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

int qcow2_write_from_raw(int raw_fd, const char *raw_what, uint64_t size, uint32_t cs, int out_fd, const char *what,
                         struct error *err)
{
    unsigned bits = 0;
    while ((1u << bits) < cs)
        bits++;
    uint64_t guest_clusters = div_up(size, cs);
    uint64_t l2_entries = cs / 8;
    uint64_t l1_size = div_up(guest_clusters, l2_entries);
    uint8_t *used = xcalloc(1, (size_t)div_up(guest_clusters, 8));
    uint8_t *buf = xmalloc(cs);
    int rc = 0;

    /* pass 1: which guest clusters hold non-zero bytes (only data extents are read) */
    uint64_t pos = 0, data_clusters = 0;
    uint64_t d, hole;
    int more;
    while (rc == 0 && (more = fs_next_extent(raw_fd, pos, size, &d, &hole, raw_what, err)) != 0) {
        if (more < 0) {
            rc = -1;
            break;
        }
        for (uint64_t c = d / cs; rc == 0 && c * cs < hole; c++) {
            size_t n = (size_t)(size - c * cs < cs ? size - c * cs : cs);
            if (pread(raw_fd, buf, n, (off_t)(c * cs)) != (ssize_t)n)
                rc = error_set(err, ERROR_RUNTIME, "%s: short read at %llu", raw_what, (unsigned long long)(c * cs));
            else if (!all_zero(buf, n) && !(used[c / 8] & (1u << (c % 8)))) {
                used[c / 8] |= (uint8_t)(1u << (c % 8));
                data_clusters++;
            }
        }
        pos = div_up(hole, cs) * cs;
    }

    /* layout: header | L1 | refcount table | refcount blocks | L2 tables | data */
    uint64_t l2_tables = 0;
    uint64_t *l1 = xcalloc((size_t)l1_size, sizeof *l1);
    for (uint64_t i = 0; i < l1_size; i++) {
        for (uint64_t c = i * l2_entries; c < (i + 1) * l2_entries && c < guest_clusters; c++)
            if (used[c / 8] & (1u << (c % 8))) {
                l1[i] = 1; /* placeholder: has an L2 table */
                l2_tables++;
                break;
            }
    }
    uint64_t l1_clusters = div_up(l1_size * 8, cs);
    uint64_t refs_per_block = cs / 2;
    uint64_t rb = 1, rt = 1, total = 0;
    for (int it = 0; it < 16; it++) { /* fixed point: the refcount structures count themselves */
        total = 1 + l1_clusters + rt + rb + l2_tables + data_clusters;
        uint64_t nrb = div_up(total, refs_per_block), nrt = div_up(nrb * 8, cs);
        if (nrb == rb && nrt == rt)
            break;
        rb = nrb, rt = nrt;
    }
    uint64_t l1_at = 1, rt_at = l1_at + l1_clusters, rb_at = rt_at + rt, l2_at = rb_at + rb, data_at = l2_at + l2_tables;
    for (uint64_t i = 0, k = 0; i < l1_size; i++)
        if (l1[i])
            l1[i] = ((l2_at + k++) * cs) | COPIED;

    /* pass 2: write everything in order */
    uint64_t out_off = 0;
#define EMIT(p, n)                                                                                                     \
    do {                                                                                                               \
        if (rc == 0)                                                                                                   \
            rc = fs_pwrite_all(out_fd, (p), (n), out_off, what, err);                                                  \
        out_off += (n);                                                                                                \
    } while (0)
    memset(buf, 0, cs);
    memcpy(buf, "QFI\xfb", 4);
    be32_put(buf + 4, 3);
    be32_put(buf + 20, bits);
    be64_put(buf + 24, size);
    be32_put(buf + 36, (uint32_t)l1_size);
    be64_put(buf + 40, l1_at * cs);
    be64_put(buf + 48, rt_at * cs);
    be32_put(buf + 56, (uint32_t)rt);
    be32_put(buf + 96, 4);    /* refcount_order: 16-bit */
    be32_put(buf + 100, 104); /* header length; the end-of-extensions marker (8 zero bytes) follows */
    EMIT(buf, cs);
    for (uint64_t c = 0; c < l1_clusters; c++) {
        memset(buf, 0, cs);
        for (uint64_t e = 0; e < l2_entries && c * l2_entries + e < l1_size; e++)
            be64_put(buf + 8 * e, l1[c * l2_entries + e]);
        EMIT(buf, cs);
    }
    for (uint64_t c = 0; c < rt; c++) {
        memset(buf, 0, cs);
        for (uint64_t e = 0; e < l2_entries && c * l2_entries + e < rb; e++)
            be64_put(buf + 8 * e, (rb_at + c * l2_entries + e) * cs);
        EMIT(buf, cs);
    }
    for (uint64_t b = 0; b < rb; b++) {
        memset(buf, 0, cs);
        for (uint64_t e = 0; e < refs_per_block && b * refs_per_block + e < total; e++)
            buf[2 * e + 1] = 1;
        EMIT(buf, cs);
    }
    uint64_t next_data = data_at;
    for (uint64_t i = 0; i < l1_size; i++) {
        if (!l1[i])
            continue;
        memset(buf, 0, cs);
        for (uint64_t e = 0; e < l2_entries; e++) {
            uint64_t c = i * l2_entries + e;
            if (c < guest_clusters && (used[c / 8] & (1u << (c % 8))))
                be64_put(buf + 8 * e, (next_data++ * cs) | COPIED);
        }
        EMIT(buf, cs);
    }
    for (uint64_t c = 0; rc == 0 && c < guest_clusters; c++) {
        if (!(used[c / 8] & (1u << (c % 8))))
            continue;
        size_t n = (size_t)(size - c * cs < cs ? size - c * cs : cs);
        memset(buf, 0, cs);
        if (pread(raw_fd, buf, n, (off_t)(c * cs)) != (ssize_t)n)
            rc = error_set(err, ERROR_RUNTIME, "%s: short read at %llu", raw_what, (unsigned long long)(c * cs));
        EMIT(buf, cs);
    }
#undef EMIT
    free(l1);
    free(used);
    free(buf);
    return rc;
}
