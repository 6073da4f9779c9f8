/* test_verify_policy — the one trust-policy decoder (src/verify/verify_policy.c): the same text
 * means the same policy whether it is a manifest's `trust:` entry or an `import --policy` file,
 * and every mistake is refused with file:line:column. The cases where the manifest's and the
 * import's former decoders disagreed (insecure beside keys, `keys:` as one string) are pinned. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/memory.h"
#include "verify/verify_policy.h"
#include "test.h"

static char *scratch(void)
{
    char *d = xstrdup("/tmp/airfactory-policy-test.XXXXXX");
    if (!mkdtemp(d))
        abort();
    return d;
}

static void write_text(const char *path, const char *text)
{
    struct error err;
    CHECK_INT(fs_write_file_atomic(path, text, strlen(text), 0644, &err), 0);
}

/* Decode text as a manifest entry would: no file checks, base /base, where "trust.p". */
static int decode_text(const char *text, struct verify_policy *p, struct error *err)
{
    struct yaml_node *root;
    if (yaml_document_load(text, strlen(text), "m.yaml", &root, err) < 0)
        return -1;
    struct verify_policy_context ctx = {.what = "m.yaml", .base_dir = "/base", .where = "trust.p"};
    int rc = verify_policy_decode(root, &ctx, p, err);
    yaml_node_free(root);
    return rc;
}

static void decodes_each_kind(void)
{
    struct verify_policy p;
    struct error err;
    CHECK_INT(decode_text("keys: [k.pub, ../keys/other.pem, /abs/x.pub]\n", &p, &err), 0);
    CHECK_INT(p.public_key_count, 3);
    if (p.public_key_count == 3) {
        CHECK_STR(p.public_keys[0], "/base/k.pub");
        CHECK_STR(p.public_keys[1], "/keys/other.pem");
        CHECK_STR(p.public_keys[2], "/abs/x.pub");
    }
    CHECK(!p.insecure && !p.name && !p.keyless_issuer);
    verify_policy_free(&p);

    CHECK_INT(decode_text("keyless:\n  issuer: https://accounts.google.com\n  identity: '@siderolabs\\.com$'\n"
                          "  trusted_root: r.json\n",
                          &p, &err),
              0);
    CHECK_STR(p.keyless_issuer, "https://accounts.google.com");
    CHECK_STR(p.keyless_identity_regexp, "@siderolabs\\.com$");
    CHECK_STR(p.trusted_root_path, "/base/r.json");
    CHECK_INT(p.public_key_count, 0);
    verify_policy_free(&p);

    /* keys and keyless together: either may sign */
    CHECK_INT(decode_text("{keys: [k.pub], keyless: {issuer: i, identity: x, trusted_root: r}}", &p, &err), 0);
    CHECK(p.public_key_count == 1 && p.keyless_issuer);
    verify_policy_free(&p);

    CHECK_INT(decode_text("insecure: true\n", &p, &err), 0);
    CHECK(p.insecure);
    verify_policy_free(&p);
    /* YAML 1.2 booleans as go-yaml reads them */
    CHECK_INT(decode_text("insecure: True\n", &p, &err), 0);
    CHECK(p.insecure);
    verify_policy_free(&p);
    /* JSON is YAML */
    CHECK_INT(decode_text("{\"insecure\": true}", &p, &err), 0);
    CHECK(p.insecure);
    verify_policy_free(&p);
}

static void refuses_with_positions(void)
{
    static const char *const cases[][2] = {
        /* where the import's decoder used to accept */
        {"insecure: true\nkeys: [k.pub]\n", "m.yaml:1:1: trust.p: insecure: true cannot be combined with keys or keyless"},
        {"insecure: true\nkeyless: {issuer: i, identity: x, trusted_root: r}\n", "cannot be combined"},
        {"keys: k.pub\n", "m.yaml:1:7: trust.p.keys: expected a list of PEM public key files, found a string"},
        /* names: a policy file may name itself; a manifest entry is named by its key */
        {"name: x\ninsecure: true\n",
         "m.yaml:1:1: trust.p: unknown field 'name'; expected one of: keys, keyless, insecure"},
        {"keys: [k.pub]\ninsecur: true\n", "m.yaml:2:1: trust.p: unknown field 'insecur'"},
        {"{}", "m.yaml:1:1: trust.p: the policy accepts nothing"},
        {"insecure: false\n", "the policy accepts nothing"},
        {"keys: []\n", "the policy accepts nothing"},
        {"insecure: yes\n", "m.yaml:1:11: trust.p.insecure: expected true or false, found a string"},
        {"insecure: 1\n", "trust.p.insecure: expected true or false, found an integer"},
        {"keys: [k.pub, '']\n", "m.yaml:1:15: trust.p.keys[1]: expected a non-empty string"},
        {"keys: [k.pub, x, ./k.pub]\n", "m.yaml:1:18: trust.p.keys[2]: '/base/k.pub' is listed twice (first at line 1)"},
        {"keys: [[a]]\n", "trust.p.keys[0]: expected a non-empty string, found a sequence"},
        {"keyless: {issuer: x}\n", "m.yaml:1:10: trust.p.keyless: give all of issuer, identity"},
        {"keyless: {issuer: x, identity: '(', trusted_root: r}\n",
         "m.yaml:1:32: trust.p.keyless.identity: not a POSIX extended regular expression"},
        {"keyless: {issuer: x, identity: y, trusted_root: r, extra: 1}\n",
         "trust.p.keyless: unknown field 'extra'; expected one of: issuer, identity, trusted_root"},
        {"keyless: [x]\n", "trust.p.keyless: expected a mapping, found a sequence"},
        {"- keys\n", "m.yaml:1:1: trust.p: expected a mapping, found a sequence"},
        {"\"a b\": 1\n", "unknown field (not shown: it is not a field name)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct verify_policy p;
        struct error err;
        error_clear(&err);
        CHECK_INT(decode_text(cases[i][0], &p, &err), -1);
        if (!strstr(err.message, cases[i][1]))
            printf("  case %zu: %s\n", i, err.message);
        CHECK(strstr(err.message, cases[i][1]) != NULL);
        CHECK(!p.name && !p.public_keys && !p.keyless_issuer); /* nothing left to free */
    }
}

static void loads_files(void)
{
    char *dir = scratch();
    struct error err;
    struct verify_policy p;
    char *key = xasprintf("%s/cosign.pub", dir), *root = xasprintf("%s/trusted_root.json", dir);
    write_text(key, "pem");
    write_text(root, "{}");
    char *yaml = xasprintf("%s/policy.yaml", dir);
    write_text(yaml, "name: mirror\nkeys:\n  - cosign.pub\nkeyless:\n  issuer: https://accounts.google.com\n"
                     "  identity: '@siderolabs\\.com$'\n  trusted_root: trusted_root.json\ninsecure: false\n");
    CHECK_INT(verify_policy_load_file(yaml, &p, &err), 0);
    CHECK_STR(p.name, "mirror");
    CHECK_INT(p.public_key_count, 1);
    if (p.public_key_count)
        CHECK_STR(p.public_keys[0], key);
    CHECK_STR(p.trusted_root_path, root);
    CHECK(!p.insecure);
    verify_policy_free(&p);
    /* JSON through the same loader; without name: the file's name */
    char *json = xasprintf("%s/policy.json", dir);
    write_text(json, "{\"keys\": [\"cosign.pub\"]}");
    CHECK_INT(verify_policy_load_file(json, &p, &err), 0);
    CHECK_STR(p.name, "policy.json");
    verify_policy_free(&p);
    /* a relative path to the file: the keys still resolve beside it, to absolute paths */
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK_INT(chdir(dir), 0);
    CHECK_INT(verify_policy_load_file("./policy.json", &p, &err), 0);
    if (p.public_key_count)
        CHECK_STR(p.public_keys[0], key);
    verify_policy_free(&p);
    CHECK_INT(chdir(cwd), 0);

    char *fifo = xasprintf("%s/fifo.pub", dir);
    CHECK_INT(mkfifo(fifo, 0600), 0);
    static const char *const bad[][2] = {
        {"keys: [cosign.pub]\ninsecur: true\n", "policy.bad:2:1: policy: unknown field 'insecur'"},
        {"keys: [missing.pub]\n", "policy.bad:1:8: policy.keys[0]: "},
        {"keys: [fifo.pub]\n", "is a FIFO (named pipe), not a regular file (paths are relative to the policy file)"},
        {"keyless: {issuer: i, identity: x, trusted_root: nope.json}\n", "policy.keyless.trusted_root: "},
        {"keys: [cosign.pub]\ninsecure: true\n", "policy.bad:1:1: policy: insecure: true cannot be combined"},
        {"keys: cosign.pub\n", "policy.keys: expected a list"},
        {"name: ''\ninsecure: true\n", "policy.name: expected a non-empty string"},
        {"name: x\n", "the policy accepts nothing"},
        {"keys: [a.pub]\nkeys: [b.pub]\n", "policy.bad:2:1:"},
        {"keys: [unclosed\n", "policy.bad:"},
        {"", "policy.bad"},
        {"insecure: true\n---\ninsecure: false\n", "policy.bad:"},
    };
    char *bad_path = xasprintf("%s/policy.bad", dir);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(bad_path, bad[i][0]);
        error_clear(&err);
        CHECK_INT(verify_policy_load_file(bad_path, &p, &err), -1);
        CHECK_INT(err.code, ERROR_INPUT);
        if (!strstr(err.message, bad[i][1]))
            printf("  case %zu: %s\n", i, err.message);
        CHECK(strstr(err.message, bad[i][1]) != NULL);
        CHECK(!p.name && !p.public_keys);
    }
    error_clear(&err);
    CHECK_INT(verify_policy_load_file("/nonexistent/policy.yaml", &p, &err), -1);
    CHECK_INT(err.code, ERROR_INPUT);
    /* bigger than a policy can be */
    char *big = xcalloc(VERIFY_POLICY_MAX_FILE_BYTES + 2, 1);
    memset(big, '#', VERIFY_POLICY_MAX_FILE_BYTES + 1);
    write_text(bad_path, big);
    free(big);
    CHECK_INT(verify_policy_load_file(bad_path, &p, &err), -1);
    CHECK(strstr(err.message, "larger than") != NULL);
    free(bad_path);
    free(fifo);
    free(json);
    free(yaml);
    free(root);
    free(key);
    fs_remove_tree(dir, &err);
    free(dir);
}

static void copies(void)
{
    struct verify_policy p, q;
    struct error err;
    CHECK_INT(decode_text("{keys: [a, b], keyless: {issuer: i, identity: x, trusted_root: r}}", &p, &err), 0);
    p.name = xstrdup("n");
    verify_policy_copy(&q, &p);
    verify_policy_free(&p);
    CHECK_STR(q.name, "n");
    CHECK_INT(q.public_key_count, 2);
    if (q.public_key_count == 2)
        CHECK_STR(q.public_keys[1], "/base/b");
    CHECK_STR(q.keyless_identity_regexp, "x");
    CHECK_STR(q.trusted_root_path, "/base/r");
    verify_policy_free(&q);
}

int main(void)
{
    RUN(decodes_each_kind);
    RUN(refuses_with_positions);
    RUN(loads_files);
    RUN(copies);
    return TEST_MAIN_END();
}
