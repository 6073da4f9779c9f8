/* mirror_patch — see mirror_patch.h. */
#include "talos/mirror_patch.h"

#include <string.h>

/* A YAML double-quoted scalar (hosts and URLs are printable ASCII; escape what YAML needs). */
static void quoted(struct buffer *out, const char *s)
{
    buffer_append_char(out, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buffer_append_char(out, '\\');
        if ((unsigned char)*s < 0x20)
            continue;
        buffer_append_char(out, *s);
    }
    buffer_append_char(out, '"');
}

void talos_mirror_patch(const char *const *hosts, size_t count, const char *endpoint, struct buffer *out)
{
    buffer_append_str(out, "# Talos machine-config patch: pull these registries' images from airfactory-serve\n"
                           "# (talosctl patch mc --patch @registry-mirrors.yaml, or apply with the config)\n"
                           "machine:\n  registries:\n    mirrors:");
    if (count == 0) {
        buffer_append_str(out, " {}\n");
        return;
    }
    buffer_append_char(out, '\n');
    for (size_t i = 0; i < count; i++) {
        buffer_append_str(out, "      ");
        quoted(out, hosts[i]);
        buffer_append_str(out, ":\n        endpoints:\n          - ");
        quoted(out, endpoint);
        buffer_append_char(out, '\n');
    }
}
