/* source_role — the names of the source roles: see include/airfactory/source_role.h. */
#include "airfactory/source_role.h"

#include <string.h>

static const char *const role_names[] = {"imager",    "installer-base", "installer",    "extensions", "overlays",
                                         "extension", "overlay",        "talosctl-all", "image"};

const char *source_role_name(enum source_role role)
{
    if ((unsigned)role < sizeof role_names / sizeof role_names[0])
        return role_names[role];
    return "unknown";
}

bool source_role_parse(const char *name, enum source_role *out)
{
    for (size_t r = 0; name && r < sizeof role_names / sizeof role_names[0]; r++)
        if (!strcmp(name, role_names[r])) {
            *out = (enum source_role)r;
            return true;
        }
    return false;
}
