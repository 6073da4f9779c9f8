/* test_verify — verify_image over OCI layout directories on disk.
 *
 * Without arguments: runs the suite (layouts written by the integration test and the fixtures, when
 * present). With arguments it is the tool the integration test drives:
 *   test_verify verify --layout DIR [--layout DIR…] --digest sha256:… [--name POLICY]
 *       [--key PEM]… [--issuer URL --identity REGEXP --trusted-root FILE] [--insecure]
 * prints the receipt JSON and exits 0, or prints the error and exits with its code (2 input, 1
 * runtime). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"
#include "airfactory/verify.h"
#include "test.h"
#include "verify_layout_source.h"

static int run_verify(int argc, char **argv)
{
    const char *dirs[16];
    size_t dir_count = 0;
    const char *digest = NULL;
    struct verify_policy p;
    memset(&p, 0, sizeof p);
    p.public_keys = xcalloc((size_t)argc, sizeof *p.public_keys);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--insecure") == 0) {
            p.insecure = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "%s needs a value\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--layout") == 0 && dir_count < 16)
            dirs[dir_count++] = v;
        else if (strcmp(a, "--digest") == 0)
            digest = v;
        else if (strcmp(a, "--name") == 0)
            p.name = xstrdup(v);
        else if (strcmp(a, "--key") == 0)
            p.public_keys[p.public_key_count++] = xstrdup(v);
        else if (strcmp(a, "--issuer") == 0)
            p.keyless_issuer = xstrdup(v);
        else if (strcmp(a, "--identity") == 0)
            p.keyless_identity_regexp = xstrdup(v);
        else if (strcmp(a, "--trusted-root") == 0)
            p.trusted_root_path = xstrdup(v);
        else {
            fprintf(stderr, "unknown option %s\n", a);
            return 2;
        }
    }
    if (!p.name)
        p.name = xstrdup("test");
    struct layout_source ls = {dirs, dir_count};
    struct verify_source src = layout_source_make(&ls);
    struct verify_receipt r;
    struct error err = {0};
    int status = 0;
    if (verify_image(&p, &src, digest, &r, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        status = err.code ? err.code : 1;
    } else {
        struct buffer out = BUFFER_INIT;
        verify_receipt_to_json(&r, &out);
        printf("%s\n", buffer_cstr(&out));
        buffer_free(&out);
    }
    verify_policy_free(&p);
    return status;
}

static void empty_layout_has_no_signature(void)
{
    char dir[] = "/tmp/airfactory-verify-layout.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *index = xasprintf("%s/index.json", dir);
    struct error err = {0};
    const char *doc = "{\"schemaVersion\":2,\"manifests\":[]}";
    CHECK_INT(fs_write_file_atomic(index, doc, strlen(doc), 0644, &err), 0);
    const char *dirs[1] = {dir};
    struct layout_source ls = {dirs, 1};
    struct verify_source src = layout_source_make(&ls);
    struct verify_policy p = {0};
    p.name = "empty";
    p.insecure = true;
    struct verify_receipt r;
    const char *digest = "sha256:35b6021450b858574e182bbee95d6b9c8ab95f3623fdcc38e62997f763af631e";
    CHECK_INT(verify_image(&p, &src, digest, &r, &err), 0);
    CHECK_STR(r.method, "insecure");
    CHECK(strstr(r.detail, "policy has no public keys") != NULL);
    free(index);
    CHECK_INT(fs_remove_tree(dir, &err), 0);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "verify") == 0)
        return run_verify(argc, argv);
    RUN(empty_layout_has_no_signature);
    return TEST_MAIN_END();
}
