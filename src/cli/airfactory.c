/* airfactory — the build-side program: one table of subcommands, each in src/cli/cmd_<name>.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "airfactory_build.h"
#include "cli/cli.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"pull", cmd_pull, "fetch and verify every signed source a manifest needs from its registries"},
    {"build", cmd_build, "build every model of a manifest into one signed bundle"},
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

static void print_help(FILE *f)
{
    fprintf(f, "airfactory %s — Talos Image Factory assets for air-gapped sites\n\n"
               "usage: airfactory COMMAND [ARGS]\n\ncommands:\n", AIRFACTORY_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nexit status: 0 success, 1 runtime failure, 2 bad input or usage\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_help(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help") || !strcmp(name, "help")) {
        print_help(stdout);
        return 0;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "version")) {
        puts(AIRFACTORY_VERSION_LINE("airfactory"));
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(name, commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "airfactory: unknown command '%s'; run 'airfactory --help' for the list\n", name);
    return 2;
}
