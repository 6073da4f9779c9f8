/* disk_archive — the tar containers the imager puts disk images in (talos-imager.md §7.7):
 *  - OVA (vmware-amd64.ova): tar of disk.ovf (VMware OVF descriptor, Talos' template with the
 *    VMDK size and the capacity in MiB), disk.mf (`SHA256(disk.vmdk)= <hex>` and the same for
 *    disk.ovf) and disk.vmdk (stream-optimised, vmdk.h), in that order;
 *  - GCP (gcp-amd64.raw.tar.gz): a GNU-format sparse tar (typeflag 'S', old GNU sparse map with
 *    extension headers, base-256 numbers past 8 GiB) holding disk.raw, which gzip then wraps —
 *    what `tar --sparse --owner=0 --group=0 --numeric-owner --mtime=@EPOCH disk.raw | pigz -6`
 *    gives and what GCP image import reads.
 *
 * Owns: the tar header writer (GNU format, deterministic: uid/gid 0, no owner names, mode 0644,
 * mtime from SOURCE_DATE_EPOCH, 10 KiB records as GNU tar pads them) and the content-defined
 * sparse map (4 KiB blocks of zeros are holes whatever the file system reports, so the archive
 * does not depend on where the raw image was staged). Both stream: the raw image's holes are
 * never read, and nothing multi-GB is held in memory. */
#ifndef AIRFACTORY_DISK_ARCHIVE_H
#define AIRFACTORY_DISK_ARCHIVE_H

#include <stdint.h>

#include "format/compress.h"
#include "airfactory/error.h"

/* The OVF descriptor for a VMDK of vmdk_size bytes holding a disk of disk_size bytes. */
char *disk_archive_ovf(uint64_t vmdk_size, uint64_t disk_size);

/* OVA from raw_fd (size bytes): the VMDK is staged in work_dir (its size and digest come
 * before it in the tar), then the tar streams into sink. */
int disk_archive_write_ova(int raw_fd, const char *raw_what, uint64_t size, uint32_t mtime, const char *work_dir,
                           struct compress_sink sink, struct error *err);

/* A sparse GNU tar holding raw_fd (size bytes) as `member` ("disk.raw"), streamed into sink
 * (a gzip writer for .tar.gz). */
int disk_archive_write_sparse_tar(int raw_fd, const char *raw_what, uint64_t size, const char *member, uint32_t mtime,
                                  struct compress_sink sink, struct error *err);

#endif
