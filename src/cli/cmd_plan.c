/* airfactory plan — placeholder until its module lands; says so plainly instead of pretending. */
#include <stdio.h>

#include "cli/cli.h"

int cmd_plan(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "airfactory plan: not available in this build yet\n");
    return 1;
}
