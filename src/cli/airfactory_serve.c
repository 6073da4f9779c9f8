/* airfactory-serve — placeholder main until src/serve lands. */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "airfactory-serve: not available in this build yet\n");
    return 1;
}
