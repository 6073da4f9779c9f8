/* asset_path — see include/airfactory/asset_path.h. */
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
    if ((len == 5 && !memcmp(s, "amd64", 5)) || (len == 6 && !memcmp(s, "x86_64", 6)) || (len == 4 && !memcmp(s, "i386", 4)))
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

/* parsePlatformArch: P-A[-secureboot] */
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
    const char *inst = strstr(path, "-installer-");
    if (inst && has_suffix(path, len, ".tar") && (size_t)(inst - path) + 11 <= len - 4) {
        out->kind = ASSET_INSTALLER;
        out->platform_installer = true;
        if (set_platform(path, (size_t)(inst - path), out, err) < 0)
            return -1;
        const char *rest = inst + 11;
        return parse_arch_secureboot(rest, (size_t)(path + len - 4 - rest), out, err);
    }
    /* disk image: output suffix, then disk format */
    out->kind = ASSET_IMAGE;
    static const char *const compressions[] = {".tar.gz", ".gz", ".xz", ".zst"};
    size_t rest = len;
    for (size_t i = 0; i < 4; i++)
        if (has_suffix(path, rest, compressions[i])) {
            strcpy(out->compression, compressions[i]);
            rest -= strlen(compressions[i]);
            break;
        }
    static const char *const formats[] = {"raw", "qcow2", "vhd", "ova"};
    for (size_t i = 0; i < 4; i++) {
        char ext[8];
        snprintf(ext, sizeof ext, ".%s", formats[i]);
        if (has_suffix(path, rest, ext)) {
            strcpy(out->disk_format, formats[i]);
            rest -= strlen(ext);
            return parse_platform_arch(path, rest, out, err);
        }
    }
    return error_set(err, ERROR_INPUT, "invalid profile path: \"%.*s\"", (int)rest, path);
}

void asset_path_format(const struct asset_path *a, char out[ASSET_PATH_MAX])
{
    const char *sb = a->secureboot ? "-secureboot" : "";
    switch (a->kind) {
    case ASSET_KERNEL:
        snprintf(out, ASSET_PATH_MAX, "kernel-%s", a->arch);
        break;
    case ASSET_CMDLINE:
        snprintf(out, ASSET_PATH_MAX, "cmdline-%s-%s%s", a->platform, a->arch, sb);
        break;
    case ASSET_INITRAMFS:
        snprintf(out, ASSET_PATH_MAX, "initramfs-%s.xz", a->arch);
        break;
    case ASSET_ISO:
        snprintf(out, ASSET_PATH_MAX, "%s-%s%s.iso", a->platform, a->arch, sb);
        break;
    case ASSET_UKI:
        snprintf(out, ASSET_PATH_MAX, "%s-%s%s-uki.efi", a->platform, a->arch, sb);
        break;
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
