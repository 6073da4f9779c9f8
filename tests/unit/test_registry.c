/* test_registry — the parts of the registry client that need no network: image references and
 * their grammar, mirrors and endpoints, WWW-Authenticate challenges, and the docker/podman auth
 * files (lookup order, key forms, namespaced keys, identity tokens, credential helpers). The
 * HTTP side is tested against real registries in tests/integration/pull.sh. */
#include <stdlib.h>
#include <string.h>

#include "core/fs.h"
#include "core/memory.h"
#include "oci_test_layout.h"
#include "registry/registry_auth.h"
#include "registry/registry_ref.h"
#include "test.h"

#define DIGEST "sha256:49fd6812bbb74559306561e05c80a956ba0149e88a69b3a9c9279adc2db49842"

static void check_ref(const char *text, const char *registry, const char *repository, const char *tag, const char *digest)
{
    struct registry_ref r;
    struct error err;
    int rc = registry_ref_parse(text, &r, &err);
    if (rc != 0)
        printf("  %s: %s\n", text, err.message);
    CHECK_INT(rc, 0);
    if (rc != 0)
        return;
    CHECK_STR(r.registry, registry);
    CHECK_STR(r.repository, repository);
    CHECK(tag ? r.tag && !strcmp(r.tag, tag) : !r.tag);
    CHECK(digest ? r.digest && !strcmp(r.digest, digest) : !r.digest);
    registry_ref_free(&r);
}

static void test_references(void)
{
    check_ref("ghcr.io/siderolabs/imager:v1.11.3", "ghcr.io", "siderolabs/imager", "v1.11.3", NULL);
    check_ref("ghcr.io/siderolabs/hello-world-service:v1.11.3@" DIGEST, "ghcr.io", "siderolabs/hello-world-service",
              "v1.11.3", DIGEST);
    check_ref("registry.local:5000/mirror/ghcr/siderolabs/imager@" DIGEST, "registry.local:5000",
              "mirror/ghcr/siderolabs/imager", NULL, DIGEST);
    check_ref("127.0.0.1:5000/a/b:tag_1.x-y", "127.0.0.1:5000", "a/b", "tag_1.x-y", NULL);
    check_ref("localhost/img:1", "localhost", "img", "1", NULL);
    /* Docker Hub: no host, one name under library/ */
    check_ref("alpine:3.20", "docker.io", "library/alpine", "3.20", NULL);
    check_ref("siderolabs/talos:v1.11.3", "docker.io", "siderolabs/talos", "v1.11.3", NULL);
    check_ref("index.docker.io/library/alpine:3", "docker.io", "library/alpine", "3", NULL);
    check_ref("docker.io/alpine:3", "docker.io", "library/alpine", "3", NULL);
    /* separators distribution allows */
    check_ref("ghcr.io/a__b/c--d/e.f:t", "ghcr.io", "a__b/c--d/e.f", "t", NULL);
}

static void check_bad_ref(const char *text, const char *needle)
{
    struct registry_ref r;
    struct error err = {0};
    CHECK_INT(registry_ref_parse(text, &r, &err), -1);
    if (!strstr(err.message, needle))
        printf("  %s: '%s' not in: %s\n", text, needle, err.message);
    CHECK(strstr(err.message, needle) != NULL);
}

static void test_bad_references(void)
{
    check_bad_ref("", "empty image reference");
    check_bad_ref("ghcr.io/siderolabs/imager", "neither a tag nor a digest");
    check_bad_ref("ghcr.io/siderolabs/imager:", "tag '' is not valid");
    check_bad_ref("ghcr.io/siderolabs/imager:-x", "tag '-x' is not valid");
    check_bad_ref("ghcr.io/siderolabs/imager@sha256:abc", "is not sha256:<64 lowercase hex>");
    check_bad_ref("ghcr.io/siderolabs/imager@sha512:" DIGEST, "is not sha256");
    check_bad_ref("ghcr.io/Siderolabs/imager:v1", "repository 'Siderolabs/imager' is not valid");
    check_bad_ref("ghcr.io/siderolabs/-imager:v1", "is not valid");
    check_bad_ref("ghcr.io/a..b:v1", "is not valid");
    check_bad_ref("ghcr.io//imager:v1", "is not valid");
    check_bad_ref("gh_cr.io/x/imager:v1", "registry host 'gh_cr.io' is not valid");
    check_bad_ref("ghcr.io:99999999/x:v1", "registry host");
}

static void test_format(void)
{
    struct registry_ref r;
    struct error err;
    CHECK_INT(registry_ref_parse("alpine:3@" DIGEST, &r, &err), 0);
    char *text = registry_ref_format(&r), *name = registry_ref_name(&r);
    CHECK_STR(text, "docker.io/library/alpine:3@" DIGEST);
    CHECK_STR(name, "docker.io/library/alpine");
    free(text);
    free(name);
    registry_ref_free(&r);
}

static void test_mirrors_and_endpoints(void)
{
    struct registry_mirror m[2];
    struct error err;
    CHECK_INT(registry_mirror_parse("ghcr.io=registry.local:5000/mirror/ghcr/", &m[0], &err), 0);
    CHECK_STR(m[0].from, "ghcr.io");
    CHECK_STR(m[0].host, "registry.local:5000");
    CHECK_STR(m[0].prefix, "mirror/ghcr");
    CHECK_INT(registry_mirror_parse("index.docker.io=hub.local", &m[1], &err), 0);
    CHECK_STR(m[1].from, "docker.io");
    CHECK_STR(m[1].prefix, "");
    struct registry_ref r;
    char *host, *repo;
    CHECK_INT(registry_ref_parse("ghcr.io/siderolabs/imager:v1.11.3", &r, &err), 0);
    registry_ref_endpoint(&r, m, 2, &host, &repo);
    CHECK_STR(host, "registry.local:5000");
    CHECK_STR(repo, "mirror/ghcr/siderolabs/imager");
    free(host);
    free(repo);
    registry_ref_endpoint(&r, NULL, 0, &host, &repo);
    CHECK_STR(host, "ghcr.io");
    CHECK_STR(repo, "siderolabs/imager");
    free(host);
    free(repo);
    registry_ref_free(&r);
    CHECK_INT(registry_ref_parse("alpine:3", &r, &err), 0);
    registry_ref_endpoint(&r, NULL, 0, &host, &repo);
    CHECK_STR(host, "registry-1.docker.io");
    CHECK_STR(repo, "library/alpine");
    free(host);
    free(repo);
    registry_ref_endpoint(&r, m, 2, &host, &repo);
    CHECK_STR(host, "hub.local");
    CHECK_STR(repo, "library/alpine");
    free(host);
    free(repo);
    registry_ref_free(&r);
    registry_mirror_free(&m[0]);
    registry_mirror_free(&m[1]);
    const char *bad[] = {
        "ghcr.io", "=reg.local", "ghcr.io=", "ghcr.io=https://reg.local", "ghcr.io=reg.local/BAD", "ghcr.io=reg local"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct registry_mirror x;
        CHECK_INT(registry_mirror_parse(bad[i], &x, &err), -1);
        CHECK(strstr(err.message, "--mirror") != NULL && strstr(err.message, "FROM=HOST[/PREFIX]") != NULL);
    }
}

static void test_challenges(void)
{
    struct registry_challenge c;
    CHECK_INT(registry_challenge_parse("Bearer realm=\"https://ghcr.io/token\",service=\"ghcr.io\","
                                       "scope=\"repository:siderolabs/imager:pull\"",
                                       &c),
              0);
    CHECK_STR(c.scheme, "Bearer");
    CHECK_STR(c.realm, "https://ghcr.io/token");
    CHECK_STR(c.service, "ghcr.io");
    CHECK_STR(c.scope, "repository:siderolabs/imager:pull");
    registry_challenge_free(&c);
    /* Docker Hub's, with an error; token values and spaces around '=' */
    CHECK_INT(registry_challenge_parse("Bearer realm=\"https://auth.docker.io/token\", service = registry.docker.io, "
                                       "error=\"insufficient_scope\"",
                                       &c),
              0);
    CHECK_STR(c.service, "registry.docker.io");
    CHECK_STR(c.error, "insufficient_scope");
    CHECK(c.scope == NULL);
    registry_challenge_free(&c);
    CHECK_INT(registry_challenge_parse("Basic realm=\"Registry Realm\"", &c), 0);
    CHECK_STR(c.scheme, "Basic");
    CHECK_STR(c.realm, "Registry Realm");
    registry_challenge_free(&c);
    /* several challenges (one header or several joined): Bearer wins */
    CHECK_INT(registry_challenge_parse("Basic realm=\"a\", Bearer realm=\"https://x/token\",service=\"s\"", &c), 0);
    CHECK_STR(c.scheme, "Bearer");
    CHECK_STR(c.realm, "https://x/token");
    registry_challenge_free(&c);
    CHECK_INT(registry_challenge_parse("Negotiate, Basic realm=\"b\", Digest realm=\"d\"", &c), 0);
    CHECK_STR(c.scheme, "Negotiate");
    registry_challenge_free(&c);
    /* quoted-pair */
    CHECK_INT(registry_challenge_parse("Bearer realm=\"https://x/t?a=\\\"b\\\"\"", &c), 0);
    CHECK_STR(c.realm, "https://x/t?a=\"b\"");
    registry_challenge_free(&c);
    CHECK_INT(registry_challenge_parse("", &c), -1);
    CHECK_INT(registry_challenge_parse("  ,  ", &c), -1);
    CHECK_INT(registry_challenge_parse("Bearer realm=\"unterminated", &c), 0); /* the scheme alone */
    CHECK(c.realm == NULL);
    registry_challenge_free(&c);
}

static void write_text(const char *path, const char *text)
{
    struct error err;
    fs_write_file_atomic(path, text, strlen(text), 0600, &err);
}

static void test_auth_files(void)
{
    char *dir = tl_scratch();
    char *docker = xasprintf("%s/docker", dir), *docker_cfg = xasprintf("%s/docker/config.json", dir);
    char *xdg = xasprintf("%s/run", dir), *podman = xasprintf("%s/run/containers/auth.json", dir);
    struct error err;
    fs_mkdir_p(docker, 0700, &err);
    char *podman_dir = xasprintf("%s/run/containers", dir);
    fs_mkdir_p(podman_dir, 0700, &err);
    /* dXNlcjpwYXNz = user:pass, aHViOnNlY3JldA== = hub:secret, bnM6bnNwYXNz = ns:nspass,
     * PHRva2VuPjo= = "<token>:" (what docker writes beside an identity token) */
    write_text(docker_cfg, "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"aHViOnNlY3JldA==\"},"
                           "\"quay.io\":{\"auth\":\"dXNlcjpwYXNz\"},\"quay.io/ns\":{\"auth\":\"bnM6bnNwYXNz\"},"
                           "\"registry.local:5000\":{\"auth\":\"PHRva2VuPjo=\",\"identitytoken\":\"refresh-1\"}},"
                           "\"credHelpers\":{\"gcr.io\":\"gcloud\"},\"credsStore\":\"desktop\"}");
    write_text(podman, "{\"auths\":{\"ghcr.io\":{\"auth\":\"dXNlcjpwYXNz\"}}}");
    unsetenv("REGISTRY_AUTH_FILE");
    setenv("XDG_RUNTIME_DIR", xdg, 1);
    setenv("DOCKER_CONFIG", docker, 1);
    struct registry_auth *auth;
    CHECK_INT(registry_auth_load(NULL, &auth, &err), 0);
    struct registry_credentials c;
    CHECK_INT(registry_auth_find(auth, "registry-1.docker.io", "library/alpine", &c), 1);
    CHECK_STR(c.username, "hub");
    CHECK_STR(c.password, "secret");
    CHECK(strstr(c.source, "docker/config.json (auths.\"docker.io\")") != NULL);
    registry_credentials_free(&c);
    /* podman's namespaced keys: the longest match */
    CHECK_INT(registry_auth_find(auth, "quay.io", "ns/image", &c), 1);
    CHECK_STR(c.username, "ns");
    registry_credentials_free(&c);
    CHECK_INT(registry_auth_find(auth, "quay.io", "nsx/image", &c), 1);
    CHECK_STR(c.username, "user");
    registry_credentials_free(&c);
    CHECK_INT(registry_auth_find(auth, "registry.local:5000", "a/b", &c), 1);
    CHECK_STR(c.identity_token, "refresh-1");
    CHECK_STR(c.username, "<token>");
    registry_credentials_free(&c);
    /* containers' auth.json comes first */
    CHECK_INT(registry_auth_find(auth, "ghcr.io", "siderolabs/imager", &c), 1);
    CHECK(strstr(c.source, "run/containers/auth.json") != NULL);
    registry_credentials_free(&c);
    CHECK_INT(registry_auth_find(auth, "example.com", "a", &c), 0);
    char *helper = registry_auth_helper(auth, "gcr.io");
    CHECK(helper && strstr(helper, "credHelpers.\"gcr.io\" = gcloud") != NULL);
    free(helper);
    helper = registry_auth_helper(auth, "example.com");
    CHECK(helper && strstr(helper, "credsStore = desktop") != NULL);
    free(helper);
    CHECK(strstr(registry_auth_searched(auth), "the auth files (") != NULL);
    registry_auth_free(auth);

    /* $REGISTRY_AUTH_FILE alone, and it must exist */
    setenv("REGISTRY_AUTH_FILE", podman, 1);
    CHECK_INT(registry_auth_load(NULL, &auth, &err), 0);
    CHECK_INT(registry_auth_find(auth, "registry-1.docker.io", "library/alpine", &c), 0);
    registry_auth_free(auth);
    char *missing = xasprintf("%s/nope.json", dir);
    setenv("REGISTRY_AUTH_FILE", missing, 1);
    CHECK_INT(registry_auth_load(NULL, &auth, &err), -1);
    CHECK(strstr(err.message, "does not exist") != NULL && strstr(err.message, "REGISTRY_AUTH_FILE") != NULL);
    unsetenv("REGISTRY_AUTH_FILE");
    CHECK_INT(registry_auth_load(missing, &auth, &err), -1);
    CHECK(strstr(err.message, "--auth-file") != NULL);

    /* bad files name the file and the key, never the secret */
    char *bad = xasprintf("%s/bad.json", dir);
    write_text(bad, "{\"auths\":{\"ghcr.io\":{\"auth\":\"bm9jb2xvbg==\"}}}"); /* "nocolon" */
    CHECK_INT(registry_auth_load(bad, &auth, &err), -1);
    CHECK(strstr(err.message, "auths.\"ghcr.io\".auth is not base64 of \"user:password\"") != NULL);
    CHECK(strstr(err.message, "nocolon") == NULL);
    write_text(bad, "{\"auths\":[]}");
    CHECK_INT(registry_auth_load(bad, &auth, &err), -1);
    CHECK(strstr(err.message, "\"auths\" is not an object") != NULL);
    write_text(bad, "{\"auths\":");
    CHECK_INT(registry_auth_load(bad, &auth, &err), -1);
    CHECK(strstr(err.message, bad) != NULL);

    /* no file at all: anonymous, and the message says where it looked */
    setenv("XDG_RUNTIME_DIR", missing, 1);
    setenv("DOCKER_CONFIG", missing, 1);
    CHECK_INT(registry_auth_load(NULL, &auth, &err), 0);
    CHECK(strstr(registry_auth_searched(auth), "no auth file (looked for ") != NULL);
    registry_auth_free(auth);
    unsetenv("XDG_RUNTIME_DIR");
    unsetenv("DOCKER_CONFIG");
    tl_rm(dir);
    free(dir);
    free(docker);
    free(docker_cfg);
    free(xdg);
    free(podman);
    free(podman_dir);
    free(missing);
    free(bad);
}

int main(void)
{
    RUN(test_references);
    RUN(test_bad_references);
    RUN(test_format);
    RUN(test_mirrors_and_endpoints);
    RUN(test_challenges);
    RUN(test_auth_files);
    return TEST_MAIN_END();
}
