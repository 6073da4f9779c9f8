/* overlay — running an overlay image's installer (SBC board support) the way Talos' imager does
 * (pkg/imager/overlay/executor/executor.go, protocol pkg/machinery/overlay):
 *   installers/<name> get-options   stdin: the schematic's overlay.options as YAML ("{}" when
 *                                   none); stdout: overlay.Options — name, kernelArgs,
 *                                   partitionOptions.offset;
 *   installers/<name> install       stdin: overlay.InstallOptions — installDisk, mountPrefix,
 *                                   artifactsPath, extraOptions (omitempty); it writes the board's
 *                                   firmware into the disk and files under mountPrefix;
 * and reading the board's profile (profiles/<name>.yaml) that Image Factory merges.
 * The installer is a program inside a signed image that airfactory verified: the caller hands
 * over only the tree of an imported (verified) image. It runs without a shell (fexecve of the file
 * resolved inside the tree, core/fs_root.h, so a link cannot point at a host program), with an
 * empty environment but HOME/TMPDIR, its working directory a fresh scratch directory, stdin and
 * stdout bounded, and a timeout after which its whole process group is killed. It runs with no
 * new privileges and confined by Landlock: it may change the file system only beneath the
 * scratch directory (and write into the one file it is given: the disk of `install`), and, where
 * the kernel's Landlock ABI has them, neither bind nor connect TCP sockets nor signal processes
 * outside itself. A build host without Landlock refuses to run an installer. Every failure is one
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
 * its stdout goes to out. It may write beneath scratch and into writable_file (NULL: none). */
int overlay_run(const struct overlay_installer *o, const char *command, const char *input, size_t input_len,
                const char *scratch, const char *writable_file, struct buffer *out, struct error *err);

/* The kernel's Landlock ABI version, 0 when it has none (then overlay_run refuses). */
int overlay_confinement_abi(void);

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
int overlay_options_parse(const char *text, size_t len, const char *what, struct overlay_options *out, struct error *err);
void overlay_options_free(struct overlay_options *o);

/* install (the imager's ExtraInstallStep in image mode, cmd/installer/pkg/install): the paths
 * must lie beneath scratch, except artifacts_path (read only) and install_disk (written in place,
 * never grown: a size change is an error). */
struct overlay_install_options {
    const char *install_disk;   /* the raw disk image file */
    const char *mount_prefix;   /* the imager's staging directory: boot/ (BOOT), EFI/ (ESP) */
    const char *artifacts_path; /* <overlay image>/artifacts */
    const char *extra_options;  /* the schematic's overlay.options as YAML (NULL = none) */
};
int overlay_install(const struct overlay_installer *o, const struct overlay_install_options *io, const char *scratch,
                    struct error *err);
/* Its stdin, as Go's yaml encoder marshals overlay.InstallOptions (4-space indent). */
void overlay_install_input(const struct overlay_install_options *io, struct buffer *out);

/* The overlay's profile profiles/<name>.yaml (read inside the image tree at root): what Image
 * Factory merges into the asset's profile (profile.go MergeOverlayProfile) that airfactory obeys:
 * output.imageOptions.bootloader ("grub", "sd-boot", "dual-boot"; *bootloader NULL when unset or
 * when the image has no profile for the board). */
int overlay_profile_bootloader(const char *root, const char *name, const char *label, char **bootloader,
                               struct error *err);

#endif
