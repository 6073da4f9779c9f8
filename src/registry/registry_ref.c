/* registry_ref — see registry_ref.h. Grammar: distribution/reference@v2.8.2 regexp.go. */
#include "registry/registry_ref.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/digest.h"
#include "core/memory.h"

#define DOCKER_HUB "docker.io"
#define DOCKER_HUB_ENDPOINT "registry-1.docker.io"
#define NAME_MAX_LEN 255 /* distribution's NameTotalLengthMax */

static bool alnum_lower(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* path-component: [a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)* over [s, s+n). */
static bool valid_component(const char *s, size_t n)
{
    if (n == 0 || !alnum_lower(s[0]) || !alnum_lower(s[n - 1]))
        return false;
    for (size_t i = 0; i < n;) {
        if (alnum_lower(s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        if (s[i] == '.' || s[i] == '_') {
            j++;
            if (s[i] == '_' && j < n && s[j] == '_')
                j++;
        } else if (s[i] == '-') {
            while (j < n && s[j] == '-')
                j++;
        } else {
            return false;
        }
        if (j >= n || !alnum_lower(s[j]))
            return false;
        i = j;
    }
    return true;
}

/* domain: host components ([A-Za-z0-9] with inner '-') joined by '.', optional :port; or an IPv6
 * literal in brackets. Kept permissive on what a host may be, strict on characters. */
static bool valid_domain(const char *s, size_t n)
{
    if (n == 0)
        return false;
    const char *colon = NULL;
    if (s[0] == '[') {
        const char *end = memchr(s, ']', n);
        if (!end)
            return false;
        for (const char *p = s + 1; p < end; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':')
                return false;
        colon = end + 1 < s + n ? end + 1 : NULL;
        if (colon && *colon != ':')
            return false;
    } else {
        colon = memchr(s, ':', n);
        size_t host_len = colon ? (size_t)(colon - s) : n;
        if (host_len == 0)
            return false;
        for (size_t i = 0; i < host_len; i++) {
            char c = s[i];
            if (!isalnum((unsigned char)c) && c != '.' && c != '-')
                return false;
            if ((c == '.' || c == '-') && (i == 0 || i + 1 == host_len || s[i - 1] == '.'))
                return false;
        }
    }
    if (colon) {
        size_t port_len = (size_t)(s + n - colon - 1);
        if (port_len == 0 || port_len > 5)
            return false;
        for (size_t i = 1; i <= port_len; i++)
            if (!isdigit((unsigned char)colon[i]))
                return false;
    }
    return true;
}

static bool valid_tag(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool word = isalnum((unsigned char)c) || c == '_';
        if (!(word || (i > 0 && (c == '.' || c == '-'))))
            return false;
    }
    return true;
}

void registry_ref_free(struct registry_ref *ref)
{
    if (!ref)
        return;
    free(ref->registry);
    free(ref->repository);
    free(ref->tag);
    free(ref->digest);
    memset(ref, 0, sizeof *ref);
}

void registry_ref_copy(struct registry_ref *to, const struct registry_ref *from)
{
    to->registry = from->registry ? xstrdup(from->registry) : NULL;
    to->repository = from->repository ? xstrdup(from->repository) : NULL;
    to->tag = from->tag ? xstrdup(from->tag) : NULL;
    to->digest = from->digest ? xstrdup(from->digest) : NULL;
}

int registry_ref_parse(const char *text, struct registry_ref *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    if (!text || !*text)
        return error_set(err, ERROR_INPUT, "empty image reference; expected e.g. ghcr.io/siderolabs/imager:v1.11.3");
    char *work = xstrdup(text);
    char *digest = strchr(work, '@');
    if (digest) {
        *digest++ = '\0';
        char hex[SHA256_HEX_LEN + 1];
        struct error ignored;
        if (digest_parse(digest, hex, &ignored) != 0) {
            error_set(err, ERROR_INPUT, "image reference '%s': digest '%s' is not sha256:<64 lowercase hex>", text,
                      digest);
            free(work);
            return -1;
        }
    }
    /* the tag is after the last ':' that follows the last '/' (a ':' before it is a port) */
    char *slash = strrchr(work, '/');
    char *colon = strrchr(slash ? slash : work, ':');
    char *tag = NULL;
    if (colon) {
        *colon = '\0';
        tag = colon + 1;
        if (!valid_tag(tag)) {
            error_set(err, ERROR_INPUT,
                      "image reference '%s': tag '%s' is not valid (letters, digits, _ . -; at most "
                      "128, not starting with . or -)",
                      text, tag);
            free(work);
            return -1;
        }
    }
    if (!tag && !digest) {
        free(work);
        return error_set(err, ERROR_INPUT,
                         "image reference '%s' has neither a tag nor a digest; add one (e.g. "
                         ":v1.11.3 or @sha256:...)",
                         text);
    }
    const char *name = work;
    char *registry = NULL;
    const char *first = strchr(name, '/');
    if (first) {
        size_t n = (size_t)(first - name);
        bool domain = memchr(name, '.', n) || memchr(name, ':', n) || (n == 9 && !memcmp(name, "localhost", 9));
        for (size_t i = 0; i < n && !domain; i++)
            domain = isupper((unsigned char)name[i]);
        if (domain) {
            if (!valid_domain(name, n)) {
                error_set(err, ERROR_INPUT, "image reference '%s': registry host '%.*s' is not valid", text, (int)n,
                          name);
                free(work);
                return -1;
            }
            registry = xstrndup(name, n);
            name = first + 1;
        }
    }
    if (!registry || !strcmp(registry, "index.docker.io")) {
        free(registry);
        registry = xstrdup(DOCKER_HUB);
    }
    char *repository =
        !strcmp(registry, DOCKER_HUB) && !strchr(name, '/') ? xasprintf("library/%s", name) : xstrdup(name);
    bool ok = *repository && strlen(registry) + 1 + strlen(repository) <= NAME_MAX_LEN;
    for (const char *p = repository; ok;) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        ok = valid_component(p, n);
        if (!end)
            break;
        p = end + 1;
    }
    if (!ok) {
        error_set(err, ERROR_INPUT,
                  "image reference '%s': repository '%s' is not valid (lowercase letters and "
                  "digits, separated by / . _ __ or -)",
                  text, repository);
        free(repository);
        free(registry);
        free(work);
        return -1;
    }
    out->registry = registry;
    out->repository = repository;
    out->tag = tag ? xstrdup(tag) : NULL;
    out->digest = digest ? xstrdup(digest) : NULL;
    free(work);
    return 0;
}

char *registry_ref_format(const struct registry_ref *ref)
{
    return xasprintf("%s/%s%s%s%s%s", ref->registry, ref->repository, ref->tag ? ":" : "", ref->tag ? ref->tag : "",
                     ref->digest ? "@" : "", ref->digest ? ref->digest : "");
}

char *registry_ref_name(const struct registry_ref *ref)
{
    return xasprintf("%s/%s", ref->registry, ref->repository);
}

int registry_mirror_parse(const char *text, struct registry_mirror *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    const char *eq = strchr(text, '=');
    const char *usage = "expected FROM=HOST[/PREFIX], e.g. ghcr.io=registry.local:5000/ghcr";
    if (!eq || eq == text || !eq[1])
        return error_set(err, ERROR_INPUT, "--mirror '%s': %s", text, usage);
    char *from = xstrndup(text, (size_t)(eq - text));
    if (!strcmp(from, "index.docker.io") || !strcmp(from, DOCKER_HUB_ENDPOINT)) {
        free(from);
        from = xstrdup(DOCKER_HUB);
    }
    const char *to = eq + 1;
    if (!strncmp(to, "https://", 8) || !strncmp(to, "http://", 7)) {
        free(from);
        return error_set(err, ERROR_INPUT,
                         "--mirror '%s': give the host without a scheme (plain HTTP is "
                         "--plain-http); %s",
                         text, usage);
    }
    const char *slash = strchr(to, '/');
    size_t host_len = slash ? (size_t)(slash - to) : strlen(to);
    if (!valid_domain(from, strlen(from)) || !valid_domain(to, host_len)) {
        free(from);
        return error_set(err, ERROR_INPUT, "--mirror '%s': not a registry host; %s", text, usage);
    }
    char *prefix = xstrdup(slash ? slash + 1 : "");
    size_t pl = strlen(prefix);
    while (pl > 0 && prefix[pl - 1] == '/')
        prefix[--pl] = '\0';
    for (const char *p = prefix; *p;) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (!valid_component(p, n)) {
            free(from);
            free(prefix);
            return error_set(err, ERROR_INPUT, "--mirror '%s': path prefix '%s' is not a valid repository path; %s",
                             text, slash + 1, usage);
        }
        p += n + (end ? 1 : 0);
    }
    out->from = from;
    out->host = xstrndup(to, host_len);
    out->prefix = prefix;
    return 0;
}

void registry_mirror_free(struct registry_mirror *m)
{
    if (!m)
        return;
    free(m->from);
    free(m->host);
    free(m->prefix);
    memset(m, 0, sizeof *m);
}

void registry_ref_endpoint(const struct registry_ref *ref, const struct registry_mirror *mirrors, size_t mirror_count,
                           char **host, char **repository)
{
    for (size_t i = 0; i < mirror_count; i++) {
        if (strcmp(mirrors[i].from, ref->registry) != 0)
            continue;
        *host = xstrdup(mirrors[i].host);
        *repository =
            mirrors[i].prefix[0] ? xasprintf("%s/%s", mirrors[i].prefix, ref->repository) : xstrdup(ref->repository);
        return;
    }
    *host = xstrdup(!strcmp(ref->registry, DOCKER_HUB) ? DOCKER_HUB_ENDPOINT : ref->registry);
    *repository = xstrdup(ref->repository);
}
