/* qcow2 — a QCOW2 (version 3) image from a raw disk image, written in one sequential pass
 * (what `qemu-img convert -f raw -O qcow2 -o cluster_size=N` does for the imager, §7.7).
 *
 * Owns: the layout — header, L1 table, refcount table and blocks (16-bit), L2 tables, then the
 * data clusters in guest order. Only clusters with non-zero bytes are stored; holes of the sparse
 * input are never read. Memory: one bit per guest cluster plus the L1 table. Deterministic. */
#ifndef AIRFACTORY_QCOW2_H
#define AIRFACTORY_QCOW2_H

#include <stdint.h>

#include "airfactory/error.h"

/* "cluster_size=8k" (qemu-img -o syntax; k/M suffixes) -> bytes; "" -> 65536. ERROR_INPUT for
 * other options or a size that is not a power of two in 512..2M. */
int qcow2_cluster_size_parse(const char *options, uint32_t *cluster_size, struct error *err);

/* Convert raw_fd (size bytes) into out_fd (empty, written sequentially from offset 0). */
int qcow2_write_from_raw(int raw_fd, const char *raw_what, uint64_t size, uint32_t cluster_size, int out_fd,
                         const char *what, struct error *err);

#endif
