/* Unit tests for src/manifest/manifest_requests.c: loading airfactory-serve's requests files
 * (dedup, bad lines named), the additions `requests merge` prints, and applying them to a
 * manifest (existing entries extended from the manifest's lists, new entries for new schematics). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airfactory/manifest.h"
#include "core/memory.h"
#include "test.h"

#define VANILLA "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"
/* sha256 of "customization:\n    extraKernelArgs:\n        - quiet\n" */
static char quiet_id[65];
static const char quiet_yaml[] = "customization:\n    extraKernelArgs:\n        - quiet\n";

static char *write_temp(const char *text)
{
    char tmpl[] = "/tmp/airfactory-test-requests.XXXXXX";
    int fd = mkstemp(tmpl);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
        close(fd);
    }
    return xstrdup(tmpl);
}

static void requests_load_merge_apply(void)
{
    struct error err = {0};
    struct schematic *s = NULL;
    CHECK_INT(schematic_parse(quiet_yaml, strlen(quiet_yaml), "t", &s, &err), 0);
    CHECK_INT(schematic_id(s, quiet_id, &err), 0);
    schematic_free(s);
    char *text =
        xasprintf("{\"schematic\":\"%s\",\"version\":\"v1.9.5\",\"asset\":\"metal-arm64.iso\"}\n"
                  "{\"schematic\":\"%s\",\"yaml\":\"customization:\\n    extraKernelArgs:\\n        - quiet\\n\"}\n"
                  "{\"schematic\":\"%s\",\"version\":\"v1.11.3\",\"asset\":\"cmdline-metal-amd64\"}\n"
                  "\n{\"schematic\":\"%s\",\"version\":\"v1.9.5\",\"asset\":\"metal-arm64.iso\"}\n",
                  VANILLA, quiet_id, quiet_id, VANILLA);
    char *path = write_temp(text);
    struct manifest_requests r = {0};
    CHECK_INT(manifest_requests_load(path, &r, &err), 0);
    CHECK_INT(manifest_requests_load(path, &r, &err), 0); /* a second file with the same lines */
    CHECK_INT((int)r.count, 3);

    struct buffer out = BUFFER_INIT;
    CHECK_INT(manifest_requests_additions(&r, &out, &err), 0);
    char *entry = xasprintf("  - name: requested-%.12s\n    schematic:\n      customization:\n", quiet_id);
    CHECK(strstr(buffer_cstr(&out), entry) != NULL);
    CHECK(strstr(buffer_cstr(&out), "    outputs: [cmdline-metal-amd64, kernel-amd64, initramfs-amd64.xz]\n") != NULL);
    CHECK(strstr(buffer_cstr(&out), "# " VANILLA ": asked for by ID only") != NULL);
    free(entry);
    buffer_free(&out);

    static const char manifest[] = "schematics:\n  - name: vanilla\n    schematic: {customization: {}}\n"
                                   "versions: [v1.11.3]\narchitectures: [amd64]\noutputs: [kernel-amd64]\n"
                                   "sources: []\nsigning_key: k\noutput: o\n";
    struct manifest *m = NULL;
    CHECK_INT(manifest_parse(manifest, strlen(manifest), "m.yaml", "/tmp", &m, &err), 0);
    if (m) {
        CHECK_INT(manifest_requests_apply(m, &r, &err), 0);
        CHECK_INT((int)m->schematic_count, 2);
        const struct manifest_schematic *v = &m->schematics[0];
        CHECK_INT((int)v->versions.count, 2); /* the manifest's v1.11.3, then v1.9.5 */
        CHECK_STR(v->versions.items[1], "v1.9.5");
        CHECK_STR(v->outputs.items[1], "metal-arm64.iso");
        CHECK_STR(v->architectures.items[1], "arm64");
        if (m->schematic_count == 2) {
            CHECK_STR(m->schematics[1].id, quiet_id);
            CHECK_INT((int)m->schematics[1].outputs.count, 3);
        }
        manifest_free(m);
    }
    manifest_requests_free(&r);
    unlink(path);
    free(path);
    free(text);

    char *bad = write_temp("{\"schematic\":\"abc\"}\n");
    CHECK_INT(manifest_requests_load(bad, &r, &err), -1);
    CHECK(strstr(err.message, ":1: not a request line") != NULL);
    manifest_requests_free(&r);
    unlink(bad);
    free(bad);
}

int main(void)
{
    RUN(requests_load_merge_apply);
    return TEST_MAIN_END();
}
