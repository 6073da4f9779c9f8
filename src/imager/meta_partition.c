/* meta_partition — see meta_partition.h. Format from Talos
 * internal/pkg/meta/internal/adv/talos (last in-tree at a6edcf6f3^, now siderolabs/go-adv). */
#include "imager/meta_partition.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/digest.h"
#include "core/endian.h"
#include "core/fs.h"
#include "core/memory.h"

/* data area: after the leading magic, before the checksum and trailing magic */
#define DATA_START 4u
#define DATA_END (META_ADV_SIZE - 36u)

int meta_adv_encode(const struct meta_value *values, size_t count, uint8_t *block, struct error *err)
{
    memset(block, 0, META_ADV_SIZE);
    uint64_t need = 20;
    for (size_t i = 0; i < count; i++) {
        if (values[i].key == 0)
            return error_set(err, ERROR_INPUT, "META: tag 0 is the end marker and cannot hold a value");
        for (size_t j = 0; j < i; j++)
            if (values[j].key == values[i].key)
                return error_set(err, ERROR_INPUT, "META: tag 0x%x appears twice", values[i].key);
        need += (uint64_t)values[i].len + 8;
    }
    /* Talos' capacity check (adv/talos SetTagBytes): 20 + Σ(len + 8) <= 262104 */
    if (need > META_ADV_SIZE - 40)
        return error_set(err, ERROR_INPUT, "META: %zu values need %llu bytes; the ADV block holds %u", count,
                         (unsigned long long)need, META_ADV_SIZE - 40);
    be32_put(block, META_ADV_MAGIC1);
    size_t off = DATA_START;
    for (size_t i = 0; i < count; i++) {
        be32_put(block + off, values[i].key);
        be32_put(block + off + 4, (uint32_t)values[i].len);
        if (values[i].len)
            memcpy(block + off + 8, values[i].value, values[i].len);
        off += 8 + values[i].len;
    }
    be32_put(block + META_ADV_SIZE - 4, META_ADV_MAGIC2);
    unsigned char sum[SHA256_BYTES];
    sha256_bytes(block, META_ADV_SIZE, sum); /* checksum field still zero */
    memcpy(block + META_ADV_SIZE - 36, sum, 32);
    return 0;
}

int meta_adv_decode(const uint8_t *block, struct meta_value **values, size_t *count, struct error *err)
{
    *values = NULL;
    *count = 0;
    if (be32_get(block) != META_ADV_MAGIC1 || be32_get(block + META_ADV_SIZE - 4) != META_ADV_MAGIC2)
        return error_set(err, ERROR_INPUT, "META: ADV magic numbers missing");
    uint8_t *copy = xmalloc(META_ADV_SIZE);
    memcpy(copy, block, META_ADV_SIZE);
    memset(copy + META_ADV_SIZE - 36, 0, 32);
    unsigned char sum[SHA256_BYTES];
    sha256_bytes(copy, META_ADV_SIZE, sum);
    free(copy);
    if (memcmp(sum, block + META_ADV_SIZE - 36, 32) != 0)
        return error_set(err, ERROR_INPUT, "META: ADV checksum mismatch");
    struct meta_value *v = NULL;
    size_t n = 0;
    size_t off = DATA_START;
    while (off + 8 <= DATA_END) {
        uint32_t tag = be32_get(block + off), len = be32_get(block + off + 4);
        if (tag == 0)
            break;
        if (tag > 0xff || len > DATA_END - off - 8) {
            free(v);
            return error_set(err, ERROR_INPUT, "META: bad record at offset %zu (tag 0x%x, length %u)", off, tag, len);
        }
        v = xrealloc(v, (n + 1) * sizeof *v);
        v[n].key = (uint8_t)tag;
        v[n].value = (const char *)block + off + 8;
        v[n].len = len;
        n++;
        off += 8 + (size_t)len;
    }
    *values = v;
    *count = n;
    return 0;
}

int meta_partition_write(int fd, const char *what, uint64_t offset, uint64_t size, const struct meta_value *values,
                         size_t count, struct error *err)
{
    if (count == 0)
        return 0;
    if (size < 2ull * META_ADV_SIZE)
        return error_set(err, ERROR_INPUT, "%s: META partition of %llu bytes cannot hold two ADV copies", what,
                         (unsigned long long)size);
    uint8_t *block = xmalloc(META_ADV_SIZE);
    int rc = meta_adv_encode(values, count, block, err);
    if (rc == 0)
        rc = fs_pwrite_all(fd, block, META_ADV_SIZE, offset, what, err);
    if (rc == 0)
        rc = fs_pwrite_all(fd, block, META_ADV_SIZE, offset + META_ADV_SIZE, what, err);
    free(block);
    return rc;
}

int meta_partition_read(int fd, const char *what, uint64_t offset, uint64_t size, uint8_t **block_out,
                        struct meta_value **values, size_t *count, struct error *err)
{
    *block_out = NULL;
    if (size < 2ull * META_ADV_SIZE)
        return error_set(err, ERROR_INPUT, "%s: META partition of %llu bytes is too small", what,
                         (unsigned long long)size);
    uint8_t *block = xmalloc(META_ADV_SIZE);
    bool blank = true; /* both copies all zero: nothing was written (meta_partition_write, Talos) */
    for (int copy = 0; copy < 2; copy++) {
        if (pread(fd, block, META_ADV_SIZE, (off_t)(offset + (uint64_t)copy * META_ADV_SIZE)) != META_ADV_SIZE) {
            blank = false;
            continue;
        }
        if (meta_adv_decode(block, values, count, err) == 0) {
            *block_out = block;
            return 0;
        }
        for (size_t i = 0; blank && i < META_ADV_SIZE; i++)
            blank = block[i] == 0;
    }
    if (blank) {
        *values = NULL;
        *count = 0;
        *block_out = block;
        return 0;
    }
    free(block);
    return error_prefix(err, "%s: no valid META copy: ", what);
}
