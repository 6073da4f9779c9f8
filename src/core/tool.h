/* tool — running the few external programs the builders call, as Talos' imager does
 * (grub-mkimage for GRUB core images, unsquashfs and depmod for the modules.dep extension).
 *
 * Owns: spawning without a shell (argv as given, stdin /dev/null), capturing stdout+stderr into
 * a log file, and turning a failure into one error that names the tool and quotes its output. */
#ifndef AIRFACTORY_TOOL_H
#define AIRFACTORY_TOOL_H

#include "airfactory/error.h"

/* Run argv[0] (looked up in PATH) and wait. Output goes to log_path. A missing tool, a non-zero
 * exit or a signal is ERROR_RUNTIME with the end of the log in the message. */
int tool_run(char *const argv[], const char *log_path, struct error *err);

#endif
