/* overlay — running an overlay image's installer (SBC board support) the way Talos' imager does
 * (pkg/imager/overlay/executor/executor.go, protocol pkg/machinery/overlay):
 *   installers/<name> get-options   stdin: the schematic's overlay.options as YAML ("{}" when
 *                                   none); stdout: overlay.Options — name, kernelArgs,
 *                                   partitionOptions.offset;
 * and reading the board's profile (profiles/<name>.yaml) that Image Factory merges.
 * The installer is a program inside a signed image that airfactory verified: the caller hands
 * over only the tree of an imported (verified) image. It runs without a shell (fexecve of the file
 * resolved inside the tree, core/fs_root.h, so a link cannot point at a host program), with an
 * empty environment but HOME/TMPDIR, its working directory a fresh scratch directory, stdin and
 * stdout bounded, and a timeout after which its whole process group is killed. Every failure is one
 * error naming the overlay, the step and the installer's stderr. */
#ifndef AIRFACTORY_OVERLAY_H
#define AIRFACTORY_OVERLAY_H

#include <stddef.h>
#include <stdint.h>

#include "airfactory/buffer.h"
#include "airfactory/error.h"

#define OVERLAY_TIMEOUT_DEFAULT 120 /* seconds per installer step */
#define OVERLAY_OUTPUT_MAX (1u << 20)

struct overlay_installer {
    const char *root;   /* the overlay image's extracted tree (build-host arch), verified */
    const char *name;   /* the board: installers/<name>, profiles/<name>.yaml */
    const char *label;  /* names it in errors: "overlay sbc_test (ghcr.io/...@sha256:...)" */
    unsigned timeout_s; /* 0 = OVERLAY_TIMEOUT_DEFAULT */
};

/* Run installers/<name> <command> in scratch (an existing empty directory) with input on stdin;
 * its stdout goes to out. */
int overlay_run(const struct overlay_installer *o, const char *command, const char *input, size_t input_len,
                const char *scratch, struct buffer *out, struct error *err);

struct overlay_options {
    char *name;
    char **kernel_args;
    size_t kernel_arg_count;
    uint64_t partition_offset; /* LBAs the partitions move up; 0 = none */
};

/* get-options: extra_options is the schematic's overlay.options as YAML (NULL = "{}"). */
int overlay_get_options(const struct overlay_installer *o, const char *extra_options, const char *scratch,
                        struct overlay_options *out, struct error *err);
/* Parse get-options' stdout (what names it in errors). */
int overlay_options_parse(const char *text, size_t len, const char *what, struct overlay_options *out,
                          struct error *err);
void overlay_options_free(struct overlay_options *o);

/* The overlay's profile profiles/<name>.yaml (read inside the image tree at root): what Image
 * Factory merges into the asset's profile (profile.go MergeOverlayProfile) that airfactory obeys:
 * output.imageOptions.bootloader ("grub", "sd-boot", "dual-boot"; *bootloader NULL when unset or
 * when the image has no profile for the board). */
int overlay_profile_bootloader(const char *root, const char *name, const char *label, char **bootloader,
                               struct error *err);

#endif
