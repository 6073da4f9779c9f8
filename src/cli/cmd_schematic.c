/* airfactory schematic — schematic tools over the schematic module:
 *   id  [FILE|-]   print the schematic ID (what factory.talos.dev answers for the same schematic)
 *   fmt [FILE|-]   print the canonical YAML (what GET /schematics/<id> returns)
 * FILE defaults to standard input. Input errors name file:line:column and exit with status 2. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "airfactory/schematic.h"
#include "cli/cli.h"

static int schematic_print(int argc, char **argv, bool want_id)
{
    const char *command = want_id ? "schematic id" : "schematic fmt";
    const char *usage = "[FILE|-]";
    if (cli_help_requested(argc, argv)) {
        printf("usage: airfactory %s %s\n  %s\nFILE is YAML or JSON; '-' or nothing reads standard input.\n", command,
               usage,
               want_id ? "prints the schematic ID (sha256 of the canonical YAML)"
                       : "prints the canonical YAML, byte-identical to Image Factory's");
        return 0;
    }
    static const struct option none[] = {{NULL, 0, NULL, 0}};
    if (getopt_long(argc, argv, "", none, NULL) != -1 || argc - optind > 1)
        return cli_usage(command, usage);
    const char *path = optind < argc ? argv[optind] : "-";

    struct error err = {0};
    struct schematic *s = NULL;
    if (schematic_load_file(path, &s, &err) < 0)
        return cli_report(&err);
    int rc = 0;
    if (want_id) {
        char id[SCHEMATIC_ID_HEX_LEN + 1];
        if (schematic_id(s, id, &err) < 0)
            rc = cli_report(&err);
        else
            printf("%s\n", id);
    } else {
        struct buffer out = BUFFER_INIT;
        if (schematic_marshal(s, &out, &err) < 0)
            rc = cli_report(&err);
        else
            fwrite(out.data, 1, out.len, stdout);
        buffer_free(&out);
    }
    schematic_free(s);
    if (fflush(stdout) != 0 && rc == 0) {
        perror("airfactory schematic: writing output");
        rc = 1;
    }
    return rc;
}

static int schematic_id_command(int argc, char **argv)
{
    return schematic_print(argc, argv, true);
}

static int schematic_fmt_command(int argc, char **argv)
{
    return schematic_print(argc, argv, false);
}

int cmd_schematic(int argc, char **argv)
{
    static const struct cli_command subcommands[] = {
        {"id", schematic_id_command, "print the schematic ID (what factory.talos.dev answers for it)"},
        {"fmt", schematic_fmt_command, "print the canonical YAML (what GET /schematics/<id> returns)"},
    };
    return cli_dispatch("airfactory schematic", subcommands, sizeof subcommands / sizeof subcommands[0], argc, argv);
}
