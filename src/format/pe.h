/* pe — PE32+ images (EFI applications): reading their headers and appending sections.
 *
 * Owns the native assembly Talos uses for UKIs (internal/pkg/uki/internal/pe/native.go,
 * talos-imager.md §5.2): the stub's DOS header with e_lfanew = 0x80, the COFF header with the
 * new section count and a fixed TimeDateStamp, the optional header with linker version 0,
 * CheckSum 0 and recomputed SizeOfCode / SizeOfInitializedData / SizeOfHeaders / SizeOfImage,
 * the stub's sections re-packed back to back, then the new sections (INITIALIZED_DATA |
 * MEM_READ) at increasing, SectionAlignment-aligned virtual addresses after the stub's last one.
 * Two deliberate differences from native.go: SizeOfHeaders counts the 4-byte "PE\0\0" signature
 * (native.go forgets it, which can make headers overlap the first section), and a COFF symbol
 * table (Debian's gnu-efi stubs carry one) is dropped instead of refused, as objcopy
 * --strip-all would. A stale certificate table entry is cleared as well. */
#ifndef AIRFACTORY_PE_H
#define AIRFACTORY_PE_H

#include <stddef.h>
#include <stdint.h>

#include "airfactory/error.h"

#define PE_SECTION_NAME_MAX 8

struct pe_section_input {
    const char *name; /* e.g. ".linux"; at most 8 bytes */
    const char *path; /* content from this file, or else ... */
    const void *data; /* ... from memory */
    size_t size;      /* of data */
};

/* Write stub + sections to out_path (atomically). timestamp goes into the COFF header. */
int pe_assemble(const char *stub_path, const struct pe_section_input *sections, size_t count, uint32_t timestamp,
                const char *out_path, struct error *err);

struct pe_section_info {
    char name[PE_SECTION_NAME_MAX + 1];
    uint32_t virtual_size, virtual_address, raw_size, raw_offset, characteristics;
};

struct pe_info {
    uint16_t machine;
    uint16_t characteristics;
    uint32_t timestamp;
    uint32_t symbol_count;
    uint64_t image_base;
    uint32_t section_alignment, file_alignment;
    uint32_t size_of_code, size_of_initialized_data, size_of_image, size_of_headers, checksum;
    uint16_t subsystem;
    uint32_t cert_table_offset, cert_table_size; /* data directory 4 (Authenticode) */
    struct pe_section_info *sections;
    size_t section_count;
};

/* Parse the headers of a PE32+ file; anything malformed is ERROR_INPUT naming the file. */
int pe_read_info(const char *path, struct pe_info *out, struct error *err);
const struct pe_section_info *pe_find_section(const struct pe_info *info, const char *name);
void pe_info_free(struct pe_info *info);

#endif
