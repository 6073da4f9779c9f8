/* uki — see uki.h. */
#include "imager/uki.h"
#include "format/authenticode.h"
#include "airfactory/buffer.h"
#include "core/fs.h"
#include "talos/version.h"
#include "imager/kernel.h"
#include "core/memory.h"
#include "format/pe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *uki_os_release(const char *talos_version)
{
    return xasprintf("NAME=\"Talos\"\nID=talos\nVERSION_ID=%s\nPRETTY_NAME=\"Talos (%s)\"\n"
                     "HOME_URL=\"https://www.talos.dev/\"\nBUG_REPORT_URL=\"https://github.com/siderolabs/talos/issues\"\n"
                     "VENDOR_NAME=\"Sidero Labs\"\nVENDOR_URL=\"https://www.siderolabs.com/\"\n",
                     talos_version, talos_version);
}

void uki_profiles_for(struct uki_profile_set *set, const struct talos_quirks *q, enum uki_output output,
                      const char *cmdline)
{
    memset(set, 0, sizeof *set);
    if (!q->uki_profiles)
        return;
    set->profiles[0].id = "main";
    set->count = 1;
    if (output == UKI_STANDALONE)
        return; /* imager.go buildUKI: OutKindUKI adds no profile of its own */
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

/* The stub's .sbat as systemd-stub measures it: VirtualSize bytes (zero-filled past the raw data). */
static int stub_sbat(const char *stub_path, struct buffer *out, bool *found, struct error *err)
{
    *found = false;
    struct pe_info info;
    if (pe_read_info(stub_path, &info, err) != 0)
        return -1;
    const struct pe_section_info *sbat = pe_find_section(&info, ".sbat");
    int rc = 0;
    if (sbat && sbat->virtual_size) {
        struct buffer file = BUFFER_INIT;
        rc = fs_read_file(stub_path, 64u << 20, &file, err);
        if (rc == 0) {
            size_t have = sbat->raw_size < sbat->virtual_size ? sbat->raw_size : sbat->virtual_size;
            if ((uint64_t)sbat->raw_offset + have > file.len)
                have = 0;
            buffer_append(out, file.data + sbat->raw_offset, have);
            for (size_t i = have; i < sbat->virtual_size; i++)
                buffer_append_char(out, 0);
            *found = true;
        }
        buffer_free(&file);
    }
    pe_info_free(&info);
    return rc;
}

/* The sections a profile measures: the base ones (before the first .profile) with the profile's own
 * replacing those of the same name. */
static size_t profile_measurement(const struct pe_section_input *base, size_t base_count,
                                  const struct pe_section_input *own, size_t own_count, const struct buffer *sbat,
                                  bool have_sbat, struct secureboot_section *out)
{
    size_t n = 0;
    for (size_t i = 0; i < base_count; i++) {
        bool replaced = false;
        for (size_t k = 0; k < own_count; k++)
            replaced = replaced || !strcmp(own[k].name, base[i].name);
        if (!replaced)
            out[n++] = (struct secureboot_section){base[i].name, base[i].path, base[i].data, base[i].size};
    }
    for (size_t k = 0; k < own_count; k++)
        out[n++] = (struct secureboot_section){own[k].name, own[k].path, own[k].data, own[k].size};
    if (have_sbat)
        out[n++] = (struct secureboot_section){".sbat", NULL, sbat->data, sbat->len};
    return n;
}

int uki_build(const struct uki_options *o, const char *out_path, struct error *err)
{
    if (!o->stub_path || !o->kernel_path || !o->initrd_path || !o->cmdline || !o->talos_version)
        return error_set(err, ERROR_INPUT,
                         "UKI: stub, kernel, initramfs, command line and Talos version are all "
                         "required");
    char uname[256] = "";
    enum kernel_format f;
    if (kernel_identify(o->kernel_path, &f, err) != 0)
        return -1;
    if (o->uname)
        snprintf(uname, sizeof uname, "%s", o->uname);
    else if (kernel_version(o->kernel_path, uname, sizeof uname, err) != 0)
        return -1;
    bool sign = o->signer != NULL;
    struct buffer pcrpkey = BUFFER_INIT, sbat = BUFFER_INIT;
    bool have_sbat = false;
    if (sign) {
        secureboot_pcr_public_key(o->signer, &pcrpkey);
        if (stub_sbat(o->stub_path, &sbat, &have_sbat, err) != 0) {
            buffer_free(&pcrpkey);
            return error_prefix(err, "UKI stub: ");
        }
    }
    char *osrel = uki_os_release(o->talos_version);
    size_t max = 10 + 3 * o->profile_count;
    struct pe_section_input *s = xcalloc(max, sizeof *s);
    struct secureboot_section *measured = xcalloc(max + 1, sizeof *measured);
    size_t signature_count = o->profile_count ? o->profile_count : (sign ? 1 : 0);
    struct buffer *signatures = xcalloc(signature_count ? signature_count : 1, sizeof *signatures);
    char **texts = xcalloc(o->profile_count ? o->profile_count : 1, sizeof *texts);
    size_t n = 0;
    int rc = 0;
    s[n++] = (struct pe_section_input){".osrel", NULL, osrel, strlen(osrel)};
    s[n++] = (struct pe_section_input){".cmdline", NULL, o->cmdline, strlen(o->cmdline)};
    if (uname[0])
        s[n++] = (struct pe_section_input){".uname", NULL, uname, strlen(uname)};
    if (o->splash_path)
        s[n++] = (struct pe_section_input){".splash", o->splash_path, NULL, 0};
    if (sign)
        s[n++] = (struct pe_section_input){".pcrpkey", NULL, pcrpkey.data, pcrpkey.len};
    s[n++] = (struct pe_section_input){".linux", o->kernel_path, NULL, 0};
    s[n++] = (struct pe_section_input){".initrd", o->initrd_path, NULL, 0};
    size_t base_count = n;
    for (size_t i = 0; i < o->profile_count && rc == 0; i++) {
        const struct uki_profile *p = &o->profiles[i];
        texts[i] = p->title ? xasprintf("ID=%s\nTITLE=%s", p->id, p->title) : xasprintf("ID=%s", p->id);
        size_t first = n;
        s[n++] = (struct pe_section_input){".profile", NULL, texts[i], strlen(texts[i])};
        if (p->cmdline)
            s[n++] = (struct pe_section_input){".cmdline", NULL, p->cmdline, strlen(p->cmdline)};
        if (sign) {
            size_t m = profile_measurement(s, base_count, s + first, n - first, &sbat, have_sbat, measured);
            rc = secureboot_pcr_signature(o->signer, measured, m, &signatures[i], err);
            s[n++] = (struct pe_section_input){".pcrsig", NULL, signatures[i].data, signatures[i].len};
        }
    }
    if (rc == 0 && sign && !o->profile_count) {
        size_t m = profile_measurement(s, base_count, NULL, 0, &sbat, have_sbat, measured);
        rc = secureboot_pcr_signature(o->signer, measured, m, &signatures[0], err);
        s[n++] = (struct pe_section_input){".pcrsig", NULL, signatures[0].data, signatures[0].len};
    }
    if (rc != 0) {
        error_prefix(err, "UKI PCR signature: ");
    } else if (!sign) {
        rc = pe_assemble(o->stub_path, s, n, o->timestamp, out_path, err);
    } else {
        /* assembled unsigned beside the output, then Authenticode-signed into place */
        char *unsigned_path = xasprintf("%s.unsigned", out_path);
        rc = pe_assemble(o->stub_path, s, n, o->timestamp, unsigned_path, err);
        if (rc == 0)
            rc = authenticode_sign(unsigned_path, out_path, o->signer->key, o->signer->cert, o->timestamp, err);
        unlink(unsigned_path);
        free(unsigned_path);
    }
    for (size_t i = 0; i < o->profile_count; i++)
        free(texts[i]);
    for (size_t i = 0; i < signature_count; i++)
        buffer_free(&signatures[i]);
    free(signatures);
    free(texts);
    free(measured);
    free(s);
    free(osrel);
    buffer_free(&pcrpkey);
    buffer_free(&sbat);
    return rc;
}
