/* meta_partition — Talos' META partition: the ADV ("Talos" format) key/value store written into
 * disk images (talos-imager.md §8.1).
 *
 * Owns: encoding and decoding one 256 KiB ADV block (BE32 magic 0x5a4b3c2d, TLV records
 * `BE32 tag, BE32 length, value`, zero tag ends, SHA-256 of the block at len-36 with that field
 * zeroed, BE32 magic 0xa5b4c3d2 at len-4), and the partition layout: the block written twice, at
 * offset 0 and 256 KiB; the legacy syslinux ADV area (last 1 KiB) left zero. A partition with no
 * values stays all zero, as Talos leaves it (install.go handleMeta). Record order is the input
 * order (Talos' own order is Go map order, so any order is valid). */
#ifndef AIRFACTORY_META_PARTITION_H
#define AIRFACTORY_META_PARTITION_H

#include <stddef.h>
#include <stdint.h>

#include "airfactory/error.h"

#define META_ADV_SIZE (256u * 1024u)
#define META_ADV_MAGIC1 0x5a4b3c2du
#define META_ADV_MAGIC2 0xa5b4c3d2u
/* META keys (pkg/machinery/meta/constants.go) */
#define META_KEY_METAL_NETWORK_PLATFORM_CONFIG 0x0a
#define META_KEY_DISK_IMAGE_BOOTLOADER 0x11

struct meta_value {
    uint8_t key;
    const char *value; /* bytes, not necessarily NUL-terminated */
    size_t len;
};

/* Encode values into block (META_ADV_SIZE bytes). ERROR_INPUT for a zero tag, a duplicate tag or
 * when the values exceed the block's capacity. */
int meta_adv_encode(const struct meta_value *values, size_t count, uint8_t *block, struct error *err);

/* Decode a block. values[i].value points into block (not NUL-terminated); *values is allocated
 * (free it). ERROR_INPUT for bad magics, checksum or records. */
int meta_adv_decode(const uint8_t *block, struct meta_value **values, size_t *count, struct error *err);

/* Write the META partition content at offset (partition of size bytes, already zero: a sparse
 * file). Nothing is written when count is 0. */
int meta_partition_write(int fd, const char *what, uint64_t offset, uint64_t size, const struct meta_value *values,
                         size_t count, struct error *err);

/* Read the values back: copy 1, else copy 2 (as Talos does). *block_out receives the block the
 * values point into (free it). Both copies all zero (a schematic with no META values: nothing is
 * written) reads as no values. ERROR_INPUT when neither copy is valid. */
int meta_partition_read(int fd, const char *what, uint64_t offset, uint64_t size, uint8_t **block_out,
                        struct meta_value **values, size_t *count, struct error *err);

#endif
