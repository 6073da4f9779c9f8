/* cmdline — the Talos kernel command line for an asset, exactly as the imager builds it.
 *
 * Owns: go-procfs' cmdline algebra (an ordered list of keys, each with ordered values; Append,
 * Set, SetAll, AppendAll with overwrite and "-key" / "-key=value" deletion) and the construction
 * order of talos pkg/imager/imager.go buildCmdline:
 *   talos.platform=<p>, the platform's args (SetAll), ISO-only args, overlay args (SetAll),
 *   version defaults (AppendAll), SecureBoot args, META as
 *   talos.environment=INSTALLER_META_BASE64=<base64>, then the schematic's extraKernelArgs
 *   (AppendAll overwriting console and talos.platform, deleting negated args).
 * Which of those Image Factory applies per asset kind (image-factory EnhanceFromSchematic) is
 * also here: installer/UKI get extraKernelArgs only for SecureBoot or Talos >= 1.10 and never META,
 * disk images carry META in the META partition instead of the command line.
 * All version-dependent arguments come from profile data. */
#ifndef AIRFACTORY_CMDLINE_H
#define AIRFACTORY_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

#include "airfactory/buffer.h"
#include "airfactory/error.h"
#include "talos/profile.h"
#include "airfactory/schematic.h"

/* ---- go-procfs list algebra ---- */

struct cmdline_param {
    char *key;
    char **values; /* "" renders as a bare key */
    size_t count;
};

struct cmdline {
    struct cmdline_param *params;
    size_t count;
};

#define CMDLINE_INIT                                                                                                   \
    {                                                                                                                  \
        NULL, 0                                                                                                        \
    }

void cmdline_free(struct cmdline *c);
/* Append a value to key (added at the end when new). */
void cmdline_append(struct cmdline *c, const char *key, const char *value);
/* Parse space-separated args (Unicode white space, as Go's strings.Fields) and Set each key:
 * a key's whole value list is replaced in place, or added at the end. */
void cmdline_set_all(struct cmdline *c, const char *const *args, size_t count);
/* go-procfs AppendAll: keys in `overwrite` are Set, "-key" deletes key, "-key=v" deletes value v
 * (when delete_negated), every other value is appended. */
void cmdline_append_all(struct cmdline *c, const char *const *args, size_t count, const char *const *overwrite,
                        size_t overwrite_count, bool delete_negated);
/* "key=value key bare ..." (a key whose values were all deleted renders nothing). */
void cmdline_render(const struct cmdline *c, struct buffer *out);

/* ---- Talos / Image Factory command lines ---- */

enum cmdline_kind {
    CMDLINE_KIND_CMDLINE, /* the cmdline-<platform>-<arch> asset, also what PXE boots with */
    CMDLINE_KIND_ISO,
    CMDLINE_KIND_UKI,       /* <platform>-<arch>-uki.efi */
    CMDLINE_KIND_INSTALLER, /* the UKI inside installer images */
    CMDLINE_KIND_IMAGE,     /* disk images (GRUB config / UKI); META goes into the META partition */
};

struct cmdline_request {
    const char *version;  /* Talos version, "v1.11.3" */
    const char *platform; /* "metal", "aws", ... (or an alias such as "packet") */
    const char *arch;     /* "amd64" or "arm64" */
    enum cmdline_kind kind;
    bool secureboot;
    const struct schematic *schematic; /* NULL = vanilla */
    const char *const *overlay_args;   /* kernelArgs from the overlay installer's get-options */
    size_t overlay_arg_count;
};

/* Build the command line (appended to out, no trailing newline). ERROR_INPUT for an unknown
 * platform or version syntax. */
int cmdline_build(const struct profile_set *profiles, const struct cmdline_request *request, struct buffer *out,
                  struct error *err);

/* The value after "INSTALLER_META_BASE64=": base64 of "0x<key>=<value>;..." (keys in lower-case
 * hex, schematic order), gzip-compressed first when longer than 256 bytes and allow_gzip
 * (Talos >= 1.6.3). The gzip header is fixed (mtime 0, XFL 2, OS 255, as Go writes it), so the
 * result is deterministic; the deflate stream is zlib's, which decodes identically to Go's. */
void cmdline_meta_environment(const struct schematic_meta *meta, size_t count, bool allow_gzip, struct buffer *out);

#endif
