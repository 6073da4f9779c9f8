/* airfactory — the build-side program: one table of subcommands, each in src/cli/cmd_<name>.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airfactory_build.h"
#include "cli/cli.h"

static const struct cli_command commands[] = {
    {"pull", cmd_pull, "fetch and verify every signed source a manifest needs from its registries"},
    {"build", cmd_build, "build every model of a manifest into one signed bundle"},
    {"merge", cmd_merge, "join the partial bundles of a sharded build (build --shard I/N) into one bundle"},
    {"plan", cmd_plan, "expand a manifest into the list of models it would build"},
    {"requests", cmd_requests, "merge airfactory-serve's requests files into manifest additions"},
    {"schematic", cmd_schematic, "schematic tools: id (print the ID), fmt (canonical YAML)"},
    {"import", cmd_import, "verify and import OCI source images into a store"},
    {"sources", cmd_sources, "list the sources a store holds and how each was verified"},
    {"verify", cmd_verify, "check a bundle's signature (and, with --full, every blob)"},
    {"ls", cmd_ls, "list a bundle's versions, schematics, assets and images"},
    {"keygen", cmd_keygen, "make an ECDSA P-256 key pair for signing bundles"},
    {"pack", cmd_pack, "write a bundle as one tar stream"},
    {"unpack", cmd_unpack, "unpack (and verify) a packed bundle or delta"},
    {"delta", cmd_delta, "write only what a newer bundle adds to an older one"},
    {"asset", cmd_asset, "build one boot asset (initramfs, UKI, ISO, ...) from plain files"},
    {"disk", cmd_disk, "Talos disk images from plain files: build, plan, meta"},
};

int cli_parse_size(const char *option, const char *text, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    unsigned shift = 0;
    if (end && *end) {
        const char *units = "KMGT";
        const char *u = strchr(units, *end >= 'a' ? *end - 32 : *end);
        if (u && *u)
            shift = 10u * (unsigned)(u - units + 1);
        if (!u || !*u || (end[1] && strcmp(end + 1, "iB") && strcmp(end + 1, "B")))
            shift = 99;
    }
    if (errno || end == text || text[0] == '-' || shift == 99 || (shift && v > (UINT64_MAX >> shift))) {
        fprintf(stderr, "airfactory: %s '%s': expected a size in bytes, e.g. 4000M or 2G\n", option, text);
        return -1;
    }
    *out = (uint64_t)v << shift;
    return 0;
}

int cli_report(const struct error *err)
{
    fprintf(stderr, "airfactory: %s\n", err->message[0] ? err->message : "failed");
    return err->code == ERROR_INPUT ? 2 : 1;
}

int cli_usage(const char *command, const char *usage)
{
    fprintf(stderr, "airfactory %s: usage: airfactory %s %s\n", command, command, usage);
    return 2;
}

bool cli_help_requested(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return true;
    return false;
}

int cli_help(const char *command, const char *usage)
{
    printf("usage: airfactory %s %s\n", command, usage);
    return 0;
}

static void list_commands(FILE *f, const char *program, const struct cli_command *table, size_t count)
{
    if (!strcmp(program, "airfactory"))
        fprintf(f, "airfactory %s — Talos Image Factory assets for air-gapped sites\n\n", AIRFACTORY_VERSION);
    fprintf(f, "usage: %s COMMAND [ARGS]   ('%s help COMMAND' or '%s COMMAND --help' for one)\n\ncommands:\n", program,
            program, program);
    for (size_t i = 0; i < count; i++)
        fprintf(f, "  %-10s %s\n", table[i].name, table[i].summary);
    fprintf(f, "\nexit status: 0 success, 1 runtime failure, 2 bad input or usage\n");
}

static const struct cli_command *find_command(const struct cli_command *table, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (!strcmp(name, table[i].name))
            return &table[i];
    return NULL;
}

int cli_dispatch(const char *program, const struct cli_command *table, size_t count, int argc, char **argv)
{
    if (argc < 2) {
        list_commands(stderr, program, table, count);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help") || (!strcmp(name, "help") && argc == 2)) {
        list_commands(stdout, program, table, count);
        return 0;
    }
    if (!strcmp(name, "help")) {
        /* help NAME [SUB...] is NAME [SUB...] --help, through the same dispatch */
        char *asked[16];
        if (argc > 15) {
            fprintf(stderr, "%s help: too many words\n", program);
            return 2;
        }
        asked[0] = argv[0];
        for (int i = 2; i < argc; i++)
            asked[i - 1] = argv[i];
        asked[argc - 1] = (char *)"--help";
        asked[argc] = NULL;
        return cli_dispatch(program, table, count, argc, asked);
    }
    const struct cli_command *c = find_command(table, count, name);
    if (!c) {
        fprintf(stderr, "%s: unknown command '%s'; expected ", program, name);
        for (size_t i = 0; i < count; i++)
            fprintf(stderr, "%s%s", i ? "|" : "", table[i].name);
        fprintf(stderr, " (run '%s --help' for what each does)\n", program);
        return 2;
    }
    char full[128];
    int n = snprintf(full, sizeof full, "%s %s", program, c->name);
    if (n < 0 || (size_t)n >= sizeof full)
        return 2;
    argv[1] = full;
    return c->run(argc - 1, argv + 1);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
        puts(AIRFACTORY_VERSION_LINE("airfactory"));
        return 0;
    }
    return cli_dispatch("airfactory", commands, sizeof commands / sizeof commands[0], argc, argv);
}
