/* Unit tests for secureboot (PCR 11 prediction, enrollment files, signer errors) and
 * authenticode (refusals). PCR values are checked against systemd-measure (systemd 252), the
 * reference implementation of the stub's measurements, for every section it knows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "format/authenticode.h"
#include "airfactory/buffer.h"
#include "core/fs.h"
#include "core/memory.h"
#include "imager/secureboot.h"
#include "test.h"

static char dir[] = "/tmp/airfactory-test-secureboot.XXXXXX";

static char *write_file(const char *name, const void *data, size_t len)
{
    char *path = path_join(dir, name);
    struct error err = {0};
    if (fs_write_file_atomic(path, data, len, 0644, &err) != 0)
        printf("  %s\n", err.message);
    return path;
}

static const char *measure_tool(void)
{
    static const char *const candidates[] = {"/usr/lib/systemd/systemd-measure", "/lib/systemd/systemd-measure", NULL};
    for (const char *const *c = candidates; *c; c++)
        if (access(*c, X_OK) == 0)
            return *c;
    return NULL;
}

static void pcr11_matches_systemd_measure(void)
{
    const char *tool = measure_tool();
    if (!tool) {
        printf("  (systemd-measure not installed: skipped)\n");
        return;
    }
    /* a kernel-sized section, so streaming crosses buffer boundaries */
    size_t big = (3u << 20) + 12345;
    unsigned char *linux_data = xmalloc(big);
    for (size_t i = 0; i < big; i++)
        linux_data[i] = (unsigned char)(i * 7 + (i >> 11));
    char *p_linux = write_file("linux", linux_data, big);
    char *p_osrel = write_file("osrel", "ID=talos\n", 9);
    char *p_cmdline = write_file("cmdline", "console=ttyS0 talos.platform=metal", 34);
    char *p_initrd = write_file("initrd", "\x1f\x8b initrd", 9);
    char *p_splash = write_file("splash", "BM splash", 9);
    char *p_pcrpkey = write_file("pcrpkey", "-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----\n", 55);
    /* given out of order: the measurement order is systemd's, not ours */
    struct secureboot_section sections[] = {
        {".pcrpkey", p_pcrpkey, NULL, 0}, {".initrd", p_initrd, NULL, 0}, {".cmdline", p_cmdline, NULL, 0},
        {".splash", p_splash, NULL, 0},   {".linux", p_linux, NULL, 0},   {".osrel", p_osrel, NULL, 0},
    };
    static const char *const phases[] = {"enter-initrd", "leave-initrd", "enter-machined", NULL};
    const char *banks[] = {"sha256", "sha384", "sha512"};
    for (int b = 0; b < 3; b++) {
        unsigned char value[EVP_MAX_MD_SIZE];
        struct error err = {0};
        const EVP_MD *md = EVP_get_digestbyname(banks[b]);
        CHECK(secureboot_pcr11(sections, 6, phases, md, value, &err) == 0);
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        for (int i = 0; i < EVP_MD_get_size(md); i++)
            sprintf(hex + 2 * i, "%02x", value[i]);
        char *cmd = xasprintf("%s calculate --linux=%s --osrel=%s --cmdline=%s --initrd=%s --splash=%s --pcrpkey=%s "
                              "--bank=%s --phase=enter-initrd:leave-initrd:enter-machined 2>/dev/null",
                              tool, p_linux, p_osrel, p_cmdline, p_initrd, p_splash, p_pcrpkey, banks[b]);
        FILE *p = popen(cmd, "r");
        char line[512], want[300] = "";
        while (p && fgets(line, sizeof line, p)) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "11:%s=", banks[b]);
            if (!strncmp(line, prefix, strlen(prefix))) {
                snprintf(want, sizeof want, "%s", line + strlen(prefix));
                want[strcspn(want, "\n")] = '\0';
            }
        }
        CHECK(p && pclose(p) == 0);
        CHECK_STR(hex, want);
        free(cmd);
    }
    /* and it must be able to differ: one byte of the command line changes PCR 11 */
    unsigned char a[32], c[32];
    struct error err = {0};
    struct secureboot_section one = {".cmdline", NULL, "a", 1}, other = {".cmdline", NULL, "b", 1};
    CHECK(secureboot_pcr11(&one, 1, phases, EVP_sha256(), a, &err) == 0);
    CHECK(secureboot_pcr11(&other, 1, phases, EVP_sha256(), c, &err) == 0);
    CHECK(memcmp(a, c, 32) != 0);
    free(linux_data);
    free(p_linux);
    free(p_osrel);
    free(p_cmdline);
    free(p_initrd);
    free(p_splash);
    free(p_pcrpkey);
}

static void signer_errors_name_the_file(void)
{
    struct error err = {0};
    char *key = path_join(dir, "sb"), *other = path_join(dir, "other");
    CHECK(secureboot_keygen(key, "test", 2048, 1735689600, false, &err) == 0);
    CHECK(secureboot_keygen(other, "other", 2048, 1735689600, false, &err) == 0);
    CHECK(secureboot_keygen(key, "test", 2048, 1735689600, false, &err) != 0); /* exists */
    CHECK(strstr(err.message, "--force") != NULL);
    char *k = xasprintf("%s.key", key), *c = xasprintf("%s.crt", key), *oc = xasprintf("%s.crt", other);
    struct secureboot_signer *s = NULL;
    CHECK(secureboot_signer_load(k, oc, NULL, &s, &err) != 0);
    CHECK_INT(err.code, ERROR_INPUT);
    CHECK(strstr(err.message, oc) != NULL && strstr(err.message, "does not belong") != NULL);
    CHECK(secureboot_signer_load(k, "/nonexistent/cert.pem", NULL, &s, &err) != 0);
    CHECK(strstr(err.message, "/nonexistent/cert.pem") != NULL);
    CHECK(secureboot_signer_load(c, c, NULL, &s, &err) != 0); /* a certificate given as the key */
    CHECK(strstr(err.message, "not a PEM private key") != NULL);
    CHECK(secureboot_signer_load(k, c, NULL, &s, &err) == 0);
    if (s) {
        CHECK(s->pcr_key == s->key);
        /* enrollment files are deterministic for a time and differ between variables */
        struct buffer pk1 = BUFFER_INIT, pk2 = BUFFER_INIT, db = BUFFER_INIT;
        CHECK(secureboot_enrollment_auth(s, "PK", 1735689600, &pk1, &err) == 0);
        CHECK(secureboot_enrollment_auth(s, "PK", 1735689600, &pk2, &err) == 0);
        CHECK(secureboot_enrollment_auth(s, "db", 1735689600, &db, &err) == 0);
        CHECK(pk1.len == pk2.len && memcmp(pk1.data, pk2.data, pk1.len) == 0);
        CHECK(pk1.len == db.len && memcmp(pk1.data, db.data, pk1.len) != 0);
        /* EFI_TIME 2025-01-01 00:00:00 */
        CHECK(pk1.len > 16 && (unsigned char)pk1.data[0] == 0xe9 && pk1.data[1] == 0x07 && pk1.data[2] == 1 &&
              pk1.data[3] == 1);
        buffer_free(&pk1);
        buffer_free(&pk2);
        buffer_free(&db);
        /* not a PE file: an input error naming it */
        char *junk = write_file("junk.efi", "MZ but nothing else", 19);
        char *out = path_join(dir, "junk.signed");
        CHECK(authenticode_sign(junk, out, s->key, s->cert, 0, &err) != 0);
        CHECK_INT(err.code, ERROR_INPUT);
        CHECK(strstr(err.message, junk) != NULL);
        CHECK(!fs_exists(out));
        free(junk);
        free(out);
        secureboot_signer_free(s);
    }
    free(k);
    free(c);
    free(oc);
    free(key);
    free(other);
}

/* "Current message digest" as osslsigncode reads it from a signed file, or "" */
static void embedded_digest(const char *path, char *out, size_t size)
{
    out[0] = '\0';
    char *cmd = xasprintf("osslsigncode verify -in '%s' 2>/dev/null", path);
    FILE *p = popen(cmd, "r");
    char line[512];
    while (p && fgets(line, sizeof line, p)) {
        const char *k = strstr(line, "Current message digest");
        const char *colon = k ? strchr(k, ':') : NULL;
        if (colon) {
            snprintf(out, size, "%s", colon + 2);
            out[strcspn(out, " \n")] = '\0';
        }
    }
    if (p)
        pclose(p);
    free(cmd);
}

/* An image whose size is not a multiple of 8 (padding is hashed, as sbsign does), and re-signing a
 * signed image (the signature is replaced, not nested): same embedded digest as sbsign's, and
 * sbverify accepts the result. */
static void sign_odd_sized_and_signed_images(void)
{
    static const char sdboot[] = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi";
    if (access(sdboot, R_OK) != 0 || system("command -v sbsign >/dev/null && command -v osslsigncode >/dev/null && "
                                            "command -v sbverify >/dev/null") != 0) {
        printf("  (systemd-boot-efi, sbsigntool or osslsigncode not installed: skipped)\n");
        return;
    }
    struct error err = {0};
    struct buffer data = BUFFER_INIT;
    CHECK(fs_read_file(sdboot, 16u << 20, &data, &err) == 0);
    buffer_append(&data, "odd", 3);
    char *odd = write_file("odd.efi", data.data, data.len);
    buffer_free(&data);
    char *prefix = path_join(dir, "sign");
    CHECK(secureboot_keygen(prefix, "signer", 2048, 1735689600, false, &err) == 0);
    char *k = xasprintf("%s.key", prefix), *c = xasprintf("%s.crt", prefix);
    struct secureboot_signer *s = NULL;
    CHECK(secureboot_signer_load(k, c, NULL, &s, &err) == 0);
    char *ours = path_join(dir, "odd.ours"), *again = path_join(dir, "odd.again"), *theirs = path_join(dir, "odd.sbsign");
    if (s) {
        CHECK(authenticode_sign(odd, ours, s->key, s->cert, 1735689600, &err) == 0);
        CHECK(authenticode_sign(ours, again, s->key, s->cert, 1735689600, &err) == 0);
        secureboot_signer_free(s);
    }
    char *cmd = xasprintf("sbsign --key '%s' --cert '%s' --output '%s' '%s' >/dev/null 2>&1", k, c, theirs, odd);
    CHECK(system(cmd) == 0);
    free(cmd);
    char d_ours[200], d_again[200], d_theirs[200];
    embedded_digest(ours, d_ours, sizeof d_ours);
    embedded_digest(again, d_again, sizeof d_again);
    embedded_digest(theirs, d_theirs, sizeof d_theirs);
    CHECK(strlen(d_ours) == 64);
    CHECK_STR(d_ours, d_theirs);
    CHECK_STR(d_again, d_theirs);
    struct buffer a = BUFFER_INIT, b = BUFFER_INIT;
    CHECK(fs_read_file(ours, 16u << 20, &a, &err) == 0 && fs_read_file(again, 16u << 20, &b, &err) == 0);
    CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0); /* re-signing replaces: same bytes */
    buffer_free(&a);
    buffer_free(&b);
    cmd = xasprintf("sbverify --cert '%s' '%s' >/dev/null 2>&1", c, again);
    CHECK(system(cmd) == 0);
    free(cmd);
    free(odd);
    free(prefix);
    free(k);
    free(c);
    free(ours);
    free(again);
    free(theirs);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(pcr11_matches_systemd_measure);
    RUN(signer_errors_name_the_file);
    RUN(sign_odd_sized_and_signed_images);
    struct error err = {0};
    fs_remove_tree(dir, &err);
    return TEST_MAIN_END();
}
