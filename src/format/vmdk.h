/* vmdk — a stream-optimised VMDK (VMware "streamOptimized", version 3) from a raw disk image,
 * written in one sequential pass: what `qemu-img convert -O vmdk -o subformat=streamOptimized`
 * and open-vmdk's `vmdk-convert` make for the imager's OVA (talos-imager.md §7.7).
 *
 * Owns: the sparse extent header (grain directory "at end"), the embedded descriptor, the
 * deflate-compressed grains with their grain markers, then the grain tables and the grain
 * directory behind their metadata markers, the footer (a copy of the header with the real
 * directory offset) and the end-of-stream marker. Grains that hold only zeros are not stored;
 * holes of the sparse input are never read. Memory: one 32-bit entry per 64 KiB grain.
 * Deterministic: the content ID is derived from the image bytes' layout, not the clock. */
#ifndef AIRFACTORY_VMDK_H
#define AIRFACTORY_VMDK_H

#include <stdint.h>

#include "format/compress.h"
#include "airfactory/error.h"

/* Convert raw_fd (size bytes, a multiple of 512) into the sink, which receives the VMDK from its
 * first byte on. *written (if not NULL) is the VMDK size. `file_name` goes into the descriptor's
 * extent line (e.g. "disk.vmdk"). */
int vmdk_write_from_raw(int raw_fd, const char *raw_what, uint64_t size, const char *file_name,
                        struct compress_sink sink, uint64_t *written, struct error *err);

#endif
