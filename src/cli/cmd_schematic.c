/* airfactory schematic — schematic tools over the schematic module:
 *   id  [FILE|-]   print the schematic ID (what factory.talos.dev answers for the same schematic)
 *   fmt [FILE|-]   print the canonical YAML (what GET /schematics/<id> returns)
 * FILE defaults to standard input. Input errors name file:line:column and exit with status 2. */
#include <stdio.h>
#include <string.h>

#include "airfactory/schematic.h"
#include "cli/cli.h"

static const char usage[] = "id|fmt [FILE|-]";

int cmd_schematic(int argc, char **argv)
{
    if (argc < 2 || argc > 3)
        return cli_usage("schematic", usage);
    const char *action = argv[1];
    if (!strcmp(action, "-h") || !strcmp(action, "--help")) {
        printf("usage: airfactory schematic %s\n"
               "  id   print the schematic ID (sha256 of the canonical YAML)\n"
               "  fmt  print the canonical YAML, byte-identical to Image Factory's\n"
               "FILE is YAML or JSON; '-' or nothing reads standard input.\n", usage);
        return 0;
    }
    bool want_id = !strcmp(action, "id");
    if (!want_id && strcmp(action, "fmt"))
        return cli_usage("schematic", usage);
    const char *path = argc == 3 ? argv[2] : "-";

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
