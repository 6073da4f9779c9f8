/* kernel — the imager's kernel image: copied unchanged, and read for its version string.
 *
 * Owns: recognising a kernel image (x86 bzImage with the "HdrS" boot header, arm64 Image, or
 * an EFI PE such as arm64's vmlinuz.efi), the stream copy that is the `kernel` output, and the
 * version that goes into the UKI's .uname section (talos-imager.md §5.1). */
#ifndef AIRFACTORY_KERNEL_H
#define AIRFACTORY_KERNEL_H

#include <stddef.h>

#include "airfactory/error.h"

enum kernel_format {
    KERNEL_UNKNOWN = 0,
    KERNEL_BZIMAGE, /* x86 boot protocol: "HdrS" at 0x202 */
    KERNEL_ARM64,   /* arm64 Image: "ARM\x64" at 0x38 */
    KERNEL_PE,      /* "MZ" + PE (e.g. an EFI zboot image) */
};

/* Identify the kernel at path; ERROR_INPUT when it is none of the formats above. */
int kernel_identify(const char *path, enum kernel_format *format, struct error *err);

/* The `kernel` output: the input, byte for byte (atomic write). Refuses files that are not kernels. */
int kernel_build(const char *vmlinuz, const char *out_path, struct error *err);

/* The version in a bzImage header ("6.1.0-56-cloud-amd64"), cut at the first space, as Talos'
 * uki/kernel.go reads it. Returns 0 with version[0] == '\0' when the image has none (arm64). */
int kernel_version(const char *path, char *version, size_t size, struct error *err);

#endif
