/* uki — see include/airfactory/uki.h. */
#include "airfactory/uki.h"
#include "airfactory/extensions.h"
#include "airfactory/kernel.h"
#include "airfactory/memory.h"
#include "airfactory/pe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *uki_os_release(const char *talos_version)
{
    return xasprintf("NAME=\"Talos\"\nID=talos\nVERSION_ID=%s\nPRETTY_NAME=\"Talos (%s)\"\n"
                     "HOME_URL=\"https://www.talos.dev/\"\nBUG_REPORT_URL=\"https://github.com/siderolabs/talos/issues\"\n"
                     "VENDOR_NAME=\"Sidero Labs\"\nVENDOR_URL=\"https://www.siderolabs.com/\"\n",
                     talos_version, talos_version);
}

void uki_profiles_for(struct uki_profile_set *set, const char *talos_version, enum uki_output output,
                      const char *cmdline)
{
    memset(set, 0, sizeof *set);
    if (!talos_version_at_least(talos_version, 1, 10))
        return;
    set->profiles[0].id = "main";
    if (output == UKI_FOR_ISO) {
        set->owned = xasprintf("%s talos.experimental.wipe=system", cmdline);
        set->profiles[1].id = "reset";
        set->profiles[1].title = "Reset system disk";
    } else {
        set->owned = xasprintf("%s talos.experimental.wipe=system:EPHEMERAL,STATE", cmdline);
        set->profiles[1].id = "reset-maintenance";
        set->profiles[1].title = "Reset to maintenance mode";
    }
    set->profiles[1].cmdline = set->owned;
    set->count = 2;
}

void uki_profile_set_free(struct uki_profile_set *set)
{
    free(set->owned);
    memset(set, 0, sizeof *set);
}

int uki_build(const struct uki_options *o, const char *out_path, struct error *err)
{
    if (!o->stub_path || !o->kernel_path || !o->initrd_path || !o->cmdline || !o->talos_version)
        return error_set(err, ERROR_INPUT, "UKI: stub, kernel, initramfs, command line and Talos version are all "
                                           "required");
    char uname[256] = "";
    enum kernel_format f;
    if (kernel_identify(o->kernel_path, &f, err) != 0)
        return -1;
    if (o->uname)
        snprintf(uname, sizeof uname, "%s", o->uname);
    else if (kernel_version(o->kernel_path, uname, sizeof uname, err) != 0)
        return -1;
    char *osrel = uki_os_release(o->talos_version);
    size_t max = 8 + 2 * o->profile_count;
    struct pe_section_input *s = xcalloc(max, sizeof *s);
    char **texts = xcalloc(o->profile_count ? o->profile_count : 1, sizeof *texts);
    size_t n = 0;
    s[n++] = (struct pe_section_input){".osrel", NULL, osrel, strlen(osrel)};
    s[n++] = (struct pe_section_input){".cmdline", NULL, o->cmdline, strlen(o->cmdline)};
    if (uname[0])
        s[n++] = (struct pe_section_input){".uname", NULL, uname, strlen(uname)};
    if (o->splash_path)
        s[n++] = (struct pe_section_input){".splash", o->splash_path, NULL, 0};
    s[n++] = (struct pe_section_input){".linux", o->kernel_path, NULL, 0};
    s[n++] = (struct pe_section_input){".initrd", o->initrd_path, NULL, 0};
    for (size_t i = 0; i < o->profile_count; i++) {
        const struct uki_profile *p = &o->profiles[i];
        texts[i] = p->title ? xasprintf("ID=%s\nTITLE=%s", p->id, p->title) : xasprintf("ID=%s", p->id);
        s[n++] = (struct pe_section_input){".profile", NULL, texts[i], strlen(texts[i])};
        if (p->cmdline)
            s[n++] = (struct pe_section_input){".cmdline", NULL, p->cmdline, strlen(p->cmdline)};
    }
    int rc = pe_assemble(o->stub_path, s, n, o->timestamp, out_path, err);
    for (size_t i = 0; i < o->profile_count; i++)
        free(texts[i]);
    free(texts);
    free(s);
    free(osrel);
    return rc;
}
