/* registry_auth — see registry_auth.h. The file format and lookup order follow
 * containers/image@v5.24 docs/containers-auth.json.5.md and docker/cli@v23.0 cli/config/configfile. */
#include "registry/registry_auth.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "airfactory/buffer.h"
#include "core/base64.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/memory.h"

#define AUTH_FILE_MAX (1u << 20)

struct auth_entry {
    char *key; /* normalised: "host" or "host/namespace" */
    char *username, *password, *identity_token;
    char *file;
};

struct auth_helper {
    char *host; /* NULL: credsStore (every host) */
    char *helper;
    char *file;
};

struct registry_auth {
    struct auth_entry *entries; /* file order, then key order */
    size_t entry_count;
    struct auth_helper *helpers;
    size_t helper_count;
    char *searched;
};

/* Docker Hub answers to several names; credentials are filed under any of them. */
static const char *canonical_host(const char *host)
{
    if (!strcmp(host, "docker.io") || !strcmp(host, "index.docker.io") || !strcmp(host, "registry-1.docker.io"))
        return "docker.io";
    return host;
}

/* "https://index.docker.io/v1/" -> "docker.io"; "quay.io/ns/" -> "quay.io/ns" (podman's namespaced
 * keys are kept; a key with a scheme is a legacy docker URL: only its host counts). */
static char *normalise_key(const char *key)
{
    bool scheme = false;
    if (!strncmp(key, "https://", 8)) {
        key += 8;
        scheme = true;
    } else if (!strncmp(key, "http://", 7)) {
        key += 7;
        scheme = true;
    }
    size_t n = strlen(key);
    const char *slash = strchr(key, '/');
    if (scheme && slash)
        n = (size_t)(slash - key);
    while (n > 0 && key[n - 1] == '/')
        n--;
    char *k = xstrndup(key, n);
    char *host_end = strchr(k, '/');
    if (host_end)
        *host_end = '\0';
    char *out = xasprintf("%s%s%s", canonical_host(k), host_end ? "/" : "", host_end ? host_end + 1 : "");
    free(k);
    return out;
}

static void add_entry(struct registry_auth *a, const char *file, const char *key, const char *user, const char *pass,
                      const char *token)
{
    a->entries = xrealloc(a->entries, (a->entry_count + 1) * sizeof *a->entries);
    struct auth_entry *e = &a->entries[a->entry_count++];
    e->key = normalise_key(key);
    e->username = user ? xstrdup(user) : NULL;
    e->password = pass ? xstrdup(pass) : NULL;
    e->identity_token = token && *token ? xstrdup(token) : NULL;
    e->file = xstrdup(file);
}

static void add_helper(struct registry_auth *a, const char *file, const char *host, const char *helper)
{
    a->helpers = xrealloc(a->helpers, (a->helper_count + 1) * sizeof *a->helpers);
    struct auth_helper *h = &a->helpers[a->helper_count++];
    h->host = host ? normalise_key(host) : NULL;
    h->helper = xstrdup(helper);
    h->file = xstrdup(file);
}

static int load_file(struct registry_auth *a, const char *path, struct error *err)
{
    struct buffer text = BUFFER_INIT;
    struct json_value *doc = NULL;
    int rc = -1;
    if (fs_read_file(path, AUTH_FILE_MAX, &text, err) != 0)
        goto out;
    if (json_parse(buffer_cstr(&text), text.len, path, &doc, err) != 0) {
        error_prefix(err, "auth file: ");
        goto out;
    }
    if (doc->type != JSON_OBJECT) {
        error_set(err, ERROR_INPUT, "auth file %s: not a JSON object; expected {\"auths\": {...}}", path);
        goto out;
    }
    const struct json_value *auths = json_object_get(doc, "auths");
    if (auths && auths->type != JSON_OBJECT) {
        error_set(err, ERROR_INPUT, "auth file %s: \"auths\" is not an object", path);
        goto out;
    }
    for (size_t i = 0; auths && i < auths->count; i++) {
        const struct json_value *entry = auths->items[i];
        const char *key = auths->keys[i];
        if (entry->type != JSON_OBJECT) {
            error_set(err, ERROR_INPUT, "auth file %s: auths.\"%s\" is not an object", path, key);
            goto out;
        }
        const char *auth = json_object_get_string(entry, "auth");
        const char *token = json_object_get_string(entry, "identitytoken");
        char *user = NULL, *pass = NULL;
        if (auth && *auth) {
            struct buffer decoded = BUFFER_INIT;
            const char *colon = NULL;
            if (base64_decode(auth, strlen(auth), &decoded) == 0)
                colon = memchr(buffer_cstr(&decoded), ':', decoded.len);
            if (!colon || memchr(decoded.data, '\0', decoded.len)) {
                buffer_free(&decoded);
                error_set(err, ERROR_INPUT,
                          "auth file %s: auths.\"%s\".auth is not base64 of \"user:password\"; "
                          "log in again (docker login / skopeo login)",
                          path, key);
                goto out;
            }
            user = xstrndup(decoded.data, (size_t)(colon - decoded.data));
            pass = xstrdup(colon + 1);
            buffer_free(&decoded);
        } else {
            /* some tools write the pair in clear instead of `auth` */
            const char *u = json_object_get_string(entry, "username");
            const char *p = json_object_get_string(entry, "password");
            if (u && p) {
                user = xstrdup(u);
                pass = xstrdup(p);
            }
        }
        if (user || (token && *token))
            add_entry(a, path, key, user, pass, token);
        free(user);
        free(pass);
    }
    const struct json_value *helpers = json_object_get_object(doc, "credHelpers");
    for (size_t i = 0; helpers && i < helpers->count; i++)
        if (helpers->items[i]->type == JSON_STRING)
            add_helper(a, path, helpers->keys[i], helpers->items[i]->text);
    const char *store = json_object_get_string(doc, "credsStore");
    if (store && *store)
        add_helper(a, path, NULL, store);
    rc = 0;
out:
    json_free(doc);
    buffer_free(&text);
    return rc;
}

int registry_auth_load(const char *explicit_path, struct registry_auth **out, struct error *err)
{
    struct registry_auth *a = xcalloc(1, sizeof *a);
    *out = NULL;
    char *candidates[4] = {NULL, NULL, NULL, NULL};
    size_t n = 0;
    const char *env_file = getenv("REGISTRY_AUTH_FILE");
    if (explicit_path) {
        candidates[n++] = xstrdup(explicit_path);
    } else if (env_file && *env_file) {
        candidates[n++] = xstrdup(env_file);
    } else {
        const char *xdg = getenv("XDG_RUNTIME_DIR");
        const char *home = getenv("HOME");
        const char *docker = getenv("DOCKER_CONFIG");
        if (xdg && *xdg)
            candidates[n++] = xasprintf("%s/containers/auth.json", xdg);
        if (home && *home)
            candidates[n++] = xasprintf("%s/.config/containers/auth.json", home);
        if (docker && *docker)
            candidates[n++] = xasprintf("%s/config.json", docker);
        else if (home && *home)
            candidates[n++] = xasprintf("%s/.docker/config.json", home);
    }
    bool must_exist = explicit_path || (env_file && *env_file);
    struct buffer loaded = BUFFER_INIT, looked = BUFFER_INIT;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        buffer_appendf(&looked, "%s%s", looked.len ? ", " : "", candidates[i]);
        if (!fs_exists(candidates[i])) {
            if (must_exist)
                rc = error_set(err, ERROR_INPUT,
                               "auth file %s does not exist; fix %s or log in (skopeo login "
                               "--authfile %s HOST)",
                               candidates[i], explicit_path ? "--auth-file" : "REGISTRY_AUTH_FILE", candidates[i]);
            continue;
        }
        rc = load_file(a, candidates[i], err);
        buffer_appendf(&loaded, "%s%s", loaded.len ? ", " : "", candidates[i]);
    }
    a->searched = loaded.len ? xasprintf("the auth files (%s)", buffer_cstr(&loaded))
                             : xasprintf("no auth file (looked for %s)", looked.len ? buffer_cstr(&looked) : "none");
    buffer_free(&loaded);
    buffer_free(&looked);
    for (size_t i = 0; i < n; i++)
        free(candidates[i]);
    if (rc != 0) {
        registry_auth_free(a);
        return -1;
    }
    *out = a;
    return 0;
}

void registry_auth_free(struct registry_auth *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->entry_count; i++) {
        free(a->entries[i].key);
        free(a->entries[i].username);
        free(a->entries[i].password);
        free(a->entries[i].identity_token);
        free(a->entries[i].file);
    }
    for (size_t i = 0; i < a->helper_count; i++) {
        free(a->helpers[i].host);
        free(a->helpers[i].helper);
        free(a->helpers[i].file);
    }
    free(a->entries);
    free(a->helpers);
    free(a->searched);
    free(a);
}

const char *registry_auth_searched(const struct registry_auth *a)
{
    return a ? a->searched : "no auth file";
}

/* How well key matches host/repository: the key's length when it is the host or the host plus
 * leading path components of the repository, else 0. */
static size_t key_match(const char *key, const char *host, const char *repository)
{
    size_t hl = strlen(host);
    if (strncmp(key, host, hl) != 0)
        return 0;
    if (key[hl] == '\0')
        return hl;
    if (key[hl] != '/')
        return 0;
    const char *ns = key + hl + 1;
    size_t nl = strlen(ns);
    if (strncmp(repository, ns, nl) != 0 || (repository[nl] != '\0' && repository[nl] != '/'))
        return 0;
    return hl + 1 + nl;
}

int registry_auth_find(const struct registry_auth *a, const char *host, const char *repository,
                       struct registry_credentials *out)
{
    memset(out, 0, sizeof *out);
    if (!a)
        return 0;
    host = canonical_host(host);
    const struct auth_entry *best = NULL;
    size_t best_len = 0;
    const char *best_file = NULL;
    for (size_t i = 0; i < a->entry_count; i++) {
        const struct auth_entry *e = &a->entries[i];
        if (best_file && strcmp(e->file, best_file) != 0)
            break; /* the first file with a match wins */
        size_t m = key_match(e->key, host, repository ? repository : "");
        if (m > best_len) {
            best = e;
            best_len = m;
            best_file = e->file;
        }
    }
    if (!best)
        return 0;
    out->username = best->username ? xstrdup(best->username) : NULL;
    out->password = best->password ? xstrdup(best->password) : NULL;
    out->identity_token = best->identity_token ? xstrdup(best->identity_token) : NULL;
    out->source = xasprintf("%s (auths.\"%s\")", best->file, best->key);
    return 1;
}

void registry_credentials_free(struct registry_credentials *c)
{
    if (!c)
        return;
    free(c->username);
    if (c->password)
        memset(c->password, 0, strlen(c->password));
    free(c->password);
    free(c->identity_token);
    free(c->source);
    memset(c, 0, sizeof *c);
}

char *registry_auth_helper(const struct registry_auth *a, const char *host)
{
    if (!a)
        return NULL;
    host = canonical_host(host);
    const struct auth_helper *found = NULL;
    for (size_t i = 0; i < a->helper_count && !found; i++)
        if (a->helpers[i].host && !strcmp(a->helpers[i].host, host))
            found = &a->helpers[i];
    for (size_t i = 0; i < a->helper_count && !found; i++)
        if (!a->helpers[i].host)
            found = &a->helpers[i];
    if (!found)
        return NULL;
    return found->host ? xasprintf("%s: credHelpers.\"%s\" = %s", found->file, found->host, found->helper)
                       : xasprintf("%s: credsStore = %s", found->file, found->helper);
}

/* ---- WWW-Authenticate ---- */

static bool tchar(char c)
{
    return isalnum((unsigned char)c) || strchr("!#$%&'*+-.^_`|~", c);
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* token or quoted-string at p; *end after it. NULL when neither. */
static char *param_value(const char *p, const char **end)
{
    if (*p == '"') {
        struct buffer b = BUFFER_INIT;
        p++;
        while (*p && *p != '"') {
            if (*p == '\\' && p[1])
                p++;
            buffer_append_char(&b, *p++);
        }
        if (*p != '"') {
            buffer_free(&b);
            return NULL;
        }
        *end = p + 1;
        return buffer_take(&b);
    }
    const char *s = p;
    while (tchar(*p) || *p == '/')
        p++;
    if (p == s)
        return NULL;
    *end = p;
    return xstrndup(s, (size_t)(p - s));
}

void registry_challenge_free(struct registry_challenge *c)
{
    if (!c)
        return;
    free(c->scheme);
    free(c->realm);
    free(c->service);
    free(c->scope);
    free(c->error);
    memset(c, 0, sizeof *c);
}

/* Keep the first challenge, or the first Bearer one (what registries mean for clients like us). */
static void settle(struct registry_challenge *out, struct registry_challenge *current, bool *chosen)
{
    if (!*chosen && (!out->scheme || !strcasecmp(current->scheme, "Bearer"))) {
        registry_challenge_free(out);
        *out = *current;
        *chosen = !strcasecmp(current->scheme, "Bearer");
    } else {
        registry_challenge_free(current);
    }
    memset(current, 0, sizeof *current);
}

int registry_challenge_parse(const char *value, struct registry_challenge *out)
{
    memset(out, 0, sizeof *out);
    struct registry_challenge current = {0};
    bool have_current = false, chosen = false;
    const char *p = value ? value : "";
    for (;;) {
        p = skip_ws(p);
        while (*p == ',')
            p = skip_ws(p + 1);
        if (!*p)
            break;
        const char *s = p;
        while (tchar(*p))
            p++;
        if (p == s)
            break; /* junk: stop, keep what parsed */
        const char *after = skip_ws(p);
        if (*after == '=') {
            /* auth-param of the current challenge */
            char *name = xstrndup(s, (size_t)(p - s));
            const char *end = NULL;
            char *v = param_value(skip_ws(after + 1), &end);
            if (!v) {
                free(name);
                break;
            }
            char **slot = !strcasecmp(name, "realm")     ? &current.realm
                          : !strcasecmp(name, "service") ? &current.service
                          : !strcasecmp(name, "scope")   ? &current.scope
                          : !strcasecmp(name, "error")   ? &current.error
                                                         : NULL;
            if (slot && have_current && !*slot)
                *slot = v;
            else
                free(v);
            free(name);
            p = end;
            continue;
        }
        /* a new challenge: settle the previous one */
        if (have_current)
            settle(out, &current, &chosen);
        current.scheme = xstrndup(s, (size_t)(p - s));
        have_current = true;
        p = after;
    }
    if (have_current)
        settle(out, &current, &chosen);
    return out->scheme ? 0 : -1;
}
