/* cli — what the airfactory subcommands share: the command table and error reporting.
 * Each subcommand lives in src/cli/cmd_<name>.c and is a thin layer over the library. */
#ifndef AIRFACTORY_CLI_H
#define AIRFACTORY_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airfactory/error.h"

/* Print "airfactory: <message>" to stderr and return the exit status for err (1 or 2). */
int cli_report(const struct error *err);
/* Print "airfactory <command>: usage: <usage>" to stderr and return 2. */
int cli_usage(const char *command, const char *usage);
/* True when ARGV[1..] holds -h or --help before any "--": the caller prints its help and exits 0. */
bool cli_help_requested(int argc, char **argv);
/* Print "usage: airfactory <command> <usage>" to stdout and return 0. */
int cli_help(const char *command, const char *usage);

/* A command (or a subcommand of one: `airfactory asset initramfs`) and the one-line summary
 * `--help` lists beside its name. */
struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};
/* The one dispatcher of commands and subcommands. PROGRAM is what precedes the name ("airfactory",
 * "airfactory asset"). argv[1] names the entry; it runs with argc-1, argv+1 and argv[0] replaced by
 * "PROGRAM NAME", so getopt's messages name the whole command ("airfactory pull: unrecognized
 * option '--x'"). "-h", "--help" and "help" list the table on stdout (0); "help NAME" runs
 * NAME --help; nothing, or an unknown name, lists it on stderr with the name refused (2). */
int cli_dispatch(const char *program, const struct cli_command *table, size_t count, int argc, char **argv);
/* "--split SIZE": bytes, with an optional K, M, G or T suffix (powers of 1024). 0, or -1 with a
 * message on stderr. */
int cli_parse_size(const char *option, const char *text, uint64_t *out);
/* Tests only: AIRFACTORY_TEST_KILL_AT=POINT[:N] kills the process (SIGKILL) at the N-th time the
 * library passes test point POINT (bundle_staging.h); unset, nothing is installed. */
void cli_install_kill_hook(void);

int cmd_schematic(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_sources(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_pack(int argc, char **argv);
int cmd_unpack(int argc, char **argv);
int cmd_delta(int argc, char **argv);
int cmd_asset(int argc, char **argv);
int cmd_disk(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_requests(int argc, char **argv);
int cmd_merge(int argc, char **argv);

#endif
