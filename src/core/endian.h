/* endian — byte order: loads and stores of little- and big-endian integers in byte buffers.
 *
 * Owns: every on-disk and on-wire integer the library reads or writes (GPT, FAT, PE/Authenticode,
 * qcow2, VMDK, XFS, META, GRUB, xz/zstd frames, TPM event data). Byte by byte, so any alignment
 * and any host order work and no cast aliases the buffer; compilers turn these into single loads
 * and stores. The _n forms take a width in bytes (1..8) for fields of odd sizes. */
#ifndef AIRFACTORY_CORE_ENDIAN_H
#define AIRFACTORY_CORE_ENDIAN_H

#include <stdint.h>

static inline uint64_t le_get_n(const void *p, int bytes)
{
    const uint8_t *b = p;
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static inline void le_put_n(void *p, uint64_t v, int bytes)
{
    uint8_t *b = p;
    for (int i = 0; i < bytes; i++, v >>= 8)
        b[i] = (uint8_t)v;
}

static inline uint64_t be_get_n(const void *p, int bytes)
{
    const uint8_t *b = p;
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = v << 8 | b[i];
    return v;
}

static inline void be_put_n(void *p, uint64_t v, int bytes)
{
    uint8_t *b = p;
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        b[i] = (uint8_t)v;
}

static inline uint16_t le16_get(const void *p)
{
    return (uint16_t)le_get_n(p, 2);
}
static inline uint32_t le32_get(const void *p)
{
    return (uint32_t)le_get_n(p, 4);
}
static inline uint64_t le64_get(const void *p)
{
    return le_get_n(p, 8);
}
static inline void le16_put(void *p, uint16_t v)
{
    le_put_n(p, v, 2);
}
static inline void le32_put(void *p, uint32_t v)
{
    le_put_n(p, v, 4);
}
static inline void le64_put(void *p, uint64_t v)
{
    le_put_n(p, v, 8);
}

static inline uint16_t be16_get(const void *p)
{
    return (uint16_t)be_get_n(p, 2);
}
static inline uint32_t be32_get(const void *p)
{
    return (uint32_t)be_get_n(p, 4);
}
static inline uint64_t be64_get(const void *p)
{
    return be_get_n(p, 8);
}
static inline void be16_put(void *p, uint16_t v)
{
    be_put_n(p, v, 2);
}
static inline void be32_put(void *p, uint32_t v)
{
    be_put_n(p, v, 4);
}
static inline void be64_put(void *p, uint64_t v)
{
    be_put_n(p, v, 8);
}

#endif
