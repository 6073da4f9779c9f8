/* grub_tool — the grub-mkimage that matches an imager's GRUB modules.
 *
 * A GRUB image is made by a tool and a module tree of ONE GRUB build. Talos' imager runs the GRUB
 * tools of its own image, which pkg-grub installs beside the modules (siderolabs/talos@v1.11.3
 * Dockerfile installer-base-image: COPY --from=pkg-grub / /); Image Factory runs its own
 * container's pair. airfactory takes the modules from the imager (usr/lib/grub), so it takes
 * the tool from there too: the imager's usr/bin/grub-mkimage for the build host's architecture,
 * run without a shell through the ELF interpreter and shared libraries of that same image tree
 * (the program of another distribution — musl in real imagers — cannot use the host's libc).
 * The tool, its interpreter and the library directories are resolved inside the tree
 * (core/fs_root.h), so no symlink in the image can point the run at a host file; one that tries is
 * an error naming the link. (The libraries the interpreter then loads from those directories, and
 * whatever the tool does when it runs, are the imager's: running it trusts the imager's signer
 * with code execution on the build host, docs/security.md.)
 *
 * Without such a tool (an imager without usr/bin/grub-mkimage, no platform for the host arch, or
 * an unverified imager, whose programs are never run) the host's grub-mkimage from PATH is used.
 * Either way grub_tool_check() compares the tool's version with the modules' modinfo.sh and
 * refuses a mismatched pair with an error naming both versions: such a pair is how GRUB images
 * break at boot (docs/disks.md, "GRUB tool and modules"). */
#ifndef AIRFACTORY_GRUB_TOOL_H
#define AIRFACTORY_GRUB_TOOL_H

#include <stddef.h>

#include "airfactory/error.h"

struct grub_tool {
    /* argv prefix, NULL-terminated: {"grub-mkimage"}, {TOOL} for a static one, or
     * {INTERP, ["--inhibit-cache",] "--library-path", DIRS, TOOL} */
    char *argv[6];
    size_t argc;
    char *what; /* "grub-mkimage of <image tree>" or "grub-mkimage (host)", for messages */
};

/* The Talos name of the architecture this program runs on ("amd64", "arm64"), or NULL: the imager
 * platform whose grub-mkimage can run here. */
const char *grub_tool_host_arch(void);

/* The host's grub-mkimage from PATH. */
void grub_tool_host(struct grub_tool *t);

/* usr/bin/grub-mkimage of the image tree at root, for this host's architecture (an ELF of another
 * architecture is refused). Returns 1 and fills t, 0 when the tree has no usr/bin/grub-mkimage
 * (t untouched), -1 on error (an unreadable or foreign ELF, an interpreter missing from the
 * tree). */
int grub_tool_from_tree(const char *root, struct grub_tool *t, struct error *err);

/* For a module directory given on the command line: when grub_dir is IMAGE/usr/lib/grub of an
 * extracted image tree carrying IMAGE/usr/bin/grub-mkimage, that tool (grub_tool_from_tree), else
 * the host's; then grub_tool_check (log_path: its output). The CLI's --grub-dir builders use it. */
int grub_tool_for_dir(const char *grub_dir, const char *log_path, struct grub_tool *t, struct error *err);

/* Run `tool --version` (output to log_path) and compare its version with modinfo.sh's
 * grub_package_version (else grub_version) of the first platform directory of grub_dir
 * (i386-pc, x86_64-efi, arm64-efi). A mismatch, a tool that does not run or a tree without
 * modinfo.sh is an error naming both sides and the fix. */
int grub_tool_check(const struct grub_tool *t, const char *grub_dir, const char *log_path, struct error *err);

void grub_tool_free(struct grub_tool *t);

#endif
