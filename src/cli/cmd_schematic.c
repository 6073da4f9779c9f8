/* airfactory schematic — placeholder until its module lands; says so plainly instead of pretending. */
#include <stdio.h>

#include "cli/cli.h"

int cmd_schematic(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "airfactory schematic: not available in this build yet\n");
    return 1;
}
