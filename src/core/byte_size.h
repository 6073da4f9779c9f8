/* byte_size — a byte count as people read it: "1023 B", "1.5 KiB", "623.0 MiB" (IEC units, one
 * decimal), the one formatter of sizes for progress lines, `airfactory ls`, pull and the web UI. */
#ifndef AIRFACTORY_BYTE_SIZE_H
#define AIRFACTORY_BYTE_SIZE_H

#include <stddef.h>
#include <stdint.h>

/* Writes the text of `bytes` into out (always NUL-terminated when size > 0; 16 bytes suffice). */
void byte_size_text(uint64_t bytes, char *out, size_t size);

#endif
