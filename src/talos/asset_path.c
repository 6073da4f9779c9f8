/* asset_path — Image Factory's asset file names, parsed and formatted: see include/airfactory/asset_path.h. */
#include "airfactory/asset_path.h"

#include <stdio.h>
#include <string.h>

const char *asset_kind_name(enum asset_kind kind)
{
    switch (kind) {
    case ASSET_KERNEL: return "kernel";
    case ASSET_CMDLINE: return "cmdline";
    case ASSET_INITRAMFS: return "initramfs";
    case ASSET_ISO: return "iso";
    case ASSET_UKI: return "uki";
    case ASSET_INSTALLER: return "installer";
    case ASSET_IMAGE: return "image";
    }
    return "unknown";
}

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && !memcmp(s, prefix, n);
}

static bool has_suffix(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && !memcmp(s + len - n, suffix, n);
}

static int parse_arch(const char *s, size_t len, struct asset_path *out, struct error *err)
{
    if ((len == 5 && !memcmp(s, "amd64", 5)) || (len == 6 && !memcmp(s, "x86_64", 6)) ||
        (len == 4 && !memcmp(s, "i386", 4)))
        strcpy(out->arch, "amd64");
    else if (len == 5 && !memcmp(s, "arm64", 5))
        strcpy(out->arch, "arm64");
    else
        return error_set(err, ERROR_INPUT, "invalid architecture: \"%.*s\"", (int)len, s);
    return 0;
}

static int set_platform(const char *s, size_t len, struct asset_path *out, struct error *err)
{
    if (len == 0 || len >= sizeof out->platform)
        return error_set(err, ERROR_INPUT, "invalid platform: \"%.*s\"", (int)len, s);
    memcpy(out->platform, s, len);
    out->platform[len] = '\0';
    return 0;
}

/* parsePlatformArch: P-A[-secureboot]. The platform is the text before the first dash
 * (digital-ocean excepted), so "foo-bar-amd64" is arch "bar-amd64", as Image Factory says. */
static int parse_platform_arch(const char *s, size_t len, struct asset_path *out, struct error *err)
{
    if (has_suffix(s, len, "-secureboot")) {
        out->secureboot = true;
        len -= strlen("-secureboot");
    }
    const char *dash = memchr(s, '-', len);
    if (!dash)
        return error_set(err, ERROR_INPUT, "invalid platform-arch: \"%.*s\"", (int)len, s);
    size_t plen = (size_t)(dash - s);
    const char *rest = dash + 1;
    size_t rlen = len - plen - 1;
    if (plen == 7 && !memcmp(s, "digital", 7) && has_prefix(rest, rlen, "ocean-")) {
        plen = strlen("digital-ocean");
        rest += strlen("ocean-");
        rlen -= strlen("ocean-");
    }
    /* Image Factory parses an empty platform and fails later, in the imager; a name without a
     * platform names nothing, so it is refused here, where every entry point sees it */
    if (plen == 0)
        return error_set(err, ERROR_INPUT, "invalid platform-arch: \"%.*s\" (no platform before the architecture)",
                         (int)len, s);
    if (set_platform(s, plen, out, err) < 0)
        return -1;
    return parse_arch(rest, rlen, out, err);
}

/* A[-secureboot] */
static int parse_arch_secureboot(const char *s, size_t len, struct asset_path *out, struct error *err)
{
    if (has_suffix(s, len, "-secureboot")) {
        out->secureboot = true;
        len -= strlen("-secureboot");
    }
    return parse_arch(s, len, out, err);
}

/* Cut the output suffix, then the disk format, off name[0..len) (Image Factory's order); sets
 * a->compression and a->disk_format (left empty when no disk format matches); returns what is left. */
static size_t cut_image_suffix(const char *name, size_t len, struct asset_path *a)
{
    static const char *const compressions[] = {".tar.gz", ".gz", ".xz", ".zst"};
    for (size_t i = 0; i < 4; i++)
        if (has_suffix(name, len, compressions[i])) {
            strcpy(a->compression, compressions[i]);
            len -= strlen(compressions[i]);
            break;
        }
    static const char *const formats[] = {"raw", "qcow2", "vhd", "ova"};
    for (size_t i = 0; i < 4; i++) {
        char ext[8];
        snprintf(ext, sizeof ext, ".%s", formats[i]);
        if (has_suffix(name, len, ext)) {
            strcpy(a->disk_format, formats[i]);
            return len - strlen(ext);
        }
    }
    return len;
}

int asset_path_parse(const char *path, struct asset_path *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    size_t len = strlen(path);
    if (len >= ASSET_PATH_MAX)
        return error_set(err, ERROR_INPUT, "invalid profile path: \"%.60s...\" (too long)", path);
    if (has_prefix(path, len, "kernel-")) {
        out->kind = ASSET_KERNEL;
        strcpy(out->platform, "metal");
        return parse_arch(path + 7, len - 7, out, err);
    }
    if (has_prefix(path, len, "cmdline-")) {
        out->kind = ASSET_CMDLINE;
        return parse_platform_arch(path + 8, len - 8, out, err);
    }
    if (has_prefix(path, len, "initramfs-") && has_suffix(path, len, ".xz")) {
        out->kind = ASSET_INITRAMFS;
        strcpy(out->platform, "metal");
        if (len < 13)
            return error_set(err, ERROR_INPUT, "invalid architecture: \"\"");
        return parse_arch(path + 10, len - 13, out, err);
    }
    if (has_suffix(path, len, ".iso")) {
        out->kind = ASSET_ISO;
        return parse_platform_arch(path, len - 4, out, err);
    }
    if (has_suffix(path, len, "-uki.efi")) {
        out->kind = ASSET_UKI;
        return parse_platform_arch(path, len - 8, out, err);
    }
    if (has_prefix(path, len, "installer-") && has_suffix(path, len, ".tar") && len >= 14) {
        out->kind = ASSET_INSTALLER;
        strcpy(out->platform, "metal");
        return parse_arch_secureboot(path + 10, len - 14, out, err);
    }
    /* P-installer-A[-secureboot].tar: Image Factory parses "P-A[-secureboot]" */
    const char *inst = strstr(path, "-installer-");
    if (inst && has_suffix(path, len, ".tar") && (size_t)(inst - path) + 11 <= len - 4) {
        out->kind = ASSET_INSTALLER;
        out->platform_installer = true;
        char joined[ASSET_PATH_MAX];
        int n = snprintf(joined, sizeof joined, "%.*s-%.*s", (int)(inst - path), path,
                         (int)(len - 4 - (size_t)(inst + 11 - path)), inst + 11);
        if (n < 0 || (size_t)n >= sizeof joined)
            return error_set(err, ERROR_INPUT, "invalid profile path: \"%s\"", path);
        if (parse_platform_arch(joined, (size_t)n, out, err) < 0)
            return -1;
        /* metal-installer-A.tar is installer-A.tar: Image Factory's ParseFromPath gives both the
         * same profile (platform metal, the installer default), so it is one asset, one canonical name */
        if (!strcmp(out->platform, "metal"))
            out->platform_installer = false;
        return 0;
    }
    /* otherwise a disk image: P-A[-secureboot].FORMAT[.COMPRESSION] */
    out->kind = ASSET_IMAGE;
    size_t rest = cut_image_suffix(path, len, out);
    if (!out->disk_format[0])
        return error_set(err, ERROR_INPUT, "invalid profile path: \"%.*s\"", (int)rest, path);
    return parse_platform_arch(path, rest, out, err);
}

int asset_path_set_image_suffix(struct asset_path *a, const char *suffix, struct error *err)
{
    /* "raw.zst" -> ".raw.zst": cut as from a whole name; nothing may be left but the dot */
    char dotted[32];
    int n = snprintf(dotted, sizeof dotted, ".%s", suffix);
    a->disk_format[0] = a->compression[0] = '\0';
    if (n > 0 && (size_t)n < sizeof dotted && cut_image_suffix(dotted, (size_t)n, a) == 0 && a->disk_format[0]) {
        a->kind = ASSET_IMAGE;
        return 0;
    }
    return error_set(err, ERROR_INPUT,
                     "invalid disk image suffix \"%s\"; expected {raw|qcow2|vhd|ova}[.tar.gz|.gz|.xz|.zst]", suffix);
}

void asset_path_init(struct asset_path *out, enum asset_kind kind, const char *platform, const char *arch, bool secureboot)
{
    memset(out, 0, sizeof *out);
    out->kind = kind;
    snprintf(out->platform, sizeof out->platform, "%s", platform ? platform : "metal");
    snprintf(out->arch, sizeof out->arch, "%s", arch);
    out->secureboot = secureboot;
}

/* Insert the architecture into an arch-less name; false when the name is not one. */
static bool insert_arch(const char *name, const char *arch, char out[ASSET_PATH_MAX])
{
    size_t len = strlen(name);
    const char *sbs = "-secureboot";
    size_t sbl = strlen(sbs);
    if (!strcmp(name, "kernel"))
        return snprintf(out, ASSET_PATH_MAX, "kernel-%s", arch) < ASSET_PATH_MAX;
    if (!strcmp(name, "initramfs.xz"))
        return snprintf(out, ASSET_PATH_MAX, "initramfs-%s.xz", arch) < ASSET_PATH_MAX;
    if (!strcmp(name, "installer.tar") || !strcmp(name, "installer-secureboot.tar"))
        return snprintf(out, ASSET_PATH_MAX, "installer-%s%s.tar", arch, name[9] == '-' ? sbs : "") < ASSET_PATH_MAX;
    if (has_prefix(name, len, "cmdline-") && len > 8) {
        bool sb = has_suffix(name, len, sbs);
        return snprintf(out, ASSET_PATH_MAX, "cmdline-%.*s-%s%s", (int)(len - 8 - (sb ? sbl : 0)), name + 8, arch,
                        sb ? sbs : "") < ASSET_PATH_MAX;
    }
    if (has_suffix(name, len, "-installer.tar") || has_suffix(name, len, "-installer-secureboot.tar")) {
        bool sb = has_suffix(name, len, "-installer-secureboot.tar");
        size_t plen = len - strlen(sb ? "-installer-secureboot.tar" : "-installer.tar");
        return snprintf(out, ASSET_PATH_MAX, "%.*s-installer-%s%s.tar", (int)plen, name, arch, sb ? sbs : "") <
               ASSET_PATH_MAX;
    }
    const char *suffix = NULL;
    if (has_suffix(name, len, ".iso"))
        suffix = ".iso";
    else if (has_suffix(name, len, "-uki.efi"))
        suffix = "-uki.efi";
    size_t base_len;
    if (suffix) {
        base_len = len - strlen(suffix);
    } else {
        const char *dot = strchr(name, '.');
        if (!dot)
            return false;
        suffix = dot;
        base_len = (size_t)(dot - name);
    }
    bool sb = base_len >= sbl && !strncmp(name + base_len - sbl, sbs, sbl);
    if (sb)
        base_len -= sbl;
    if (!base_len)
        return false;
    return snprintf(out, ASSET_PATH_MAX, "%.*s-%s%s%s", (int)base_len, name, arch, sb ? sbs : "", suffix) <
           ASSET_PATH_MAX;
}

int asset_path_parse_archless(const char *name, const char *arch, struct asset_path *out, struct error *err)
{
    char path[ASSET_PATH_MAX];
    if (strlen(name) >= ASSET_PATH_MAX || !insert_arch(name, arch, path))
        return error_set(err, ERROR_INPUT, "\"%.60s\" is not an arch-less asset name", name);
    if (asset_path_parse(path, out, err) < 0)
        return -1;
    if (strcmp(out->arch, arch))
        return error_set(err, ERROR_INPUT, "\"%.60s\" is not an arch-less asset name (it names %s)", name, out->arch);
    return 0;
}

void asset_path_format(const struct asset_path *a, char out[ASSET_PATH_MAX])
{
    const char *sb = a->secureboot ? "-secureboot" : "";
    switch (a->kind) {
    case ASSET_KERNEL: snprintf(out, ASSET_PATH_MAX, "kernel-%s", a->arch); break;
    case ASSET_CMDLINE: snprintf(out, ASSET_PATH_MAX, "cmdline-%s-%s%s", a->platform, a->arch, sb); break;
    case ASSET_INITRAMFS: snprintf(out, ASSET_PATH_MAX, "initramfs-%s.xz", a->arch); break;
    case ASSET_ISO: snprintf(out, ASSET_PATH_MAX, "%s-%s%s.iso", a->platform, a->arch, sb); break;
    case ASSET_UKI: snprintf(out, ASSET_PATH_MAX, "%s-%s%s-uki.efi", a->platform, a->arch, sb); break;
    case ASSET_INSTALLER:
        if (a->platform_installer)
            snprintf(out, ASSET_PATH_MAX, "%s-installer-%s%s.tar", a->platform, a->arch, sb);
        else
            snprintf(out, ASSET_PATH_MAX, "installer-%s%s.tar", a->arch, sb);
        break;
    case ASSET_IMAGE:
        snprintf(out, ASSET_PATH_MAX, "%s-%s%s.%s%s", a->platform, a->arch, sb, a->disk_format, a->compression);
        break;
    }
}
