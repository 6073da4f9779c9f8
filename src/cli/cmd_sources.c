/* airfactory sources — placeholder until its module lands; says so plainly instead of pretending. */
#include <stdio.h>

#include "cli/cli.h"

int cmd_sources(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "airfactory sources: not available in this build yet\n");
    return 1;
}
