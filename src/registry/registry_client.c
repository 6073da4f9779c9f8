/* registry_client — see registry_client.h. libcurl does HTTP, TLS, redirects and connection reuse;
 * this file decides what to ask, whom to trust, when to retry and what to tell the user. */
#include "registry/registry_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/base64.h"
#include "core/digest.h"
#include "core/json.h"
#include "core/memory.h"

#define MAX_WAIT_SECONDS 60.0 /* a Retry-After or backoff longer than this is cut to it */
#define STALL_SECONDS 60L     /* under 1 byte/s for this long: the transfer is cut */
#define CONNECT_TIMEOUT_SECONDS 30L
#define ERROR_BODY_MAX 8192 /* of an error answer, kept to read its OCI error code */
#define TOKEN_MAX (1u << 20)
#define PROGRESS_ATTEMPTS_MAX 64    /* resumptions that made progress, beyond `retries` */
#define REFERRERS_MAX (4u << 20)    /* a referrers index, like any index (OCI_DOCUMENT_MAX) */
#define RECEIVE_BUFFER (256L << 10) /* curl's default 16 KiB means a callback per 16 KiB of layer */

#define ACCEPT_MANIFESTS                                                                                               \
    "Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "                    \
    "application/vnd.docker.distribution.manifest.list.v2+json, "                                                      \
    "application/vnd.docker.distribution.manifest.v2+json"

struct token {
    char *host, *repository;
    char *header;   /* "Authorization: Bearer …" / "Authorization: Basic …" */
    double expires; /* monotonic seconds; 0: never */
};

struct registry_client {
    struct registry_options o;
    const char *capath;   /* the system CA directory libcurl was built with */
    pthread_mutex_t lock; /* tokens */
    struct token *tokens;
    size_t token_count;
    char **no_referrers; /* hosts whose referrers route does not exist (tag schema only) */
    size_t no_referrers_count;
    _Atomic uint64_t requests, bytes, retries, resumed;
};

struct registry_session {
    struct registry_client *c;
    CURL *curl;
    char errbuf[CURL_ERROR_SIZE];
};

/* One HTTP exchange: what to send and what came back. */
struct xfer {
    const char *what; /* names the reference in messages */
    char *url;
    const char *method;                      /* "GET", "POST" */
    const char *post;                        /* form body for POST */
    const char *accept;                      /* full "Accept: …" header or NULL */
    const char *auth;                        /* full "Authorization: …" header or NULL */
    const char *basic_user, *basic_password; /* for token requests: curl's own basic auth */
    /* where the body goes (status 200/206 only): a buffer (max) or a sink */
    struct buffer *body;
    size_t max;
    const struct registry_sink *sink;
    uint64_t sink_bytes; /* received into the sink so far, across attempts */
    uint64_t range_from; /* this attempt asked for bytes from here on (0: the whole blob) */
    bool body_started;   /* this attempt's first body byte was seen */
    bool range_wrong;    /* a 206 that does not start where we asked */
    int64_t sink_size;   /* expected total, -1 unknown */
    bool sink_failed;
    struct error sink_err;
    bool too_large;
    /* the last response */
    long status;
    char content_type[256];
    char docker_digest[80];
    char content_range[128];
    char retry_after[64];
    char www_authenticate[2048];
    struct buffer error_body;
    unsigned attempts;
};

int registry_global_init(struct error *err)
{
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK)
        return error_set(err, ERROR_RUNTIME, "cannot initialise libcurl: %s", curl_easy_strerror(rc));
    return 0;
}

void registry_global_cleanup(void)
{
    curl_global_cleanup();
}

struct registry_client *registry_client_new(const struct registry_options *options)
{
    struct registry_client *c = xcalloc(1, sizeof *c);
    c->o = *options;
    if (c->o.backoff <= 0)
        c->o.backoff = 1.0;
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    c->capath = v && v->age >= CURLVERSION_SEVENTH ? v->capath : NULL;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void registry_client_free(struct registry_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->token_count; i++) {
        free(c->tokens[i].host);
        free(c->tokens[i].repository);
        free(c->tokens[i].header);
    }
    free(c->tokens);
    for (size_t i = 0; i < c->no_referrers_count; i++)
        free(c->no_referrers[i]);
    free(c->no_referrers);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void registry_client_stats(struct registry_client *c, struct registry_stats *out)
{
    out->requests = atomic_load(&c->requests);
    out->bytes = atomic_load(&c->bytes);
    out->retries = atomic_load(&c->retries);
    out->resumed = atomic_load(&c->resumed);
}

struct registry_session *registry_session_new(struct registry_client *c)
{
    struct registry_session *s = xcalloc(1, sizeof *s);
    s->c = c;
    s->curl = curl_easy_init();
    if (!s->curl) {
        fprintf(stderr, "airfactory: out of memory (curl_easy_init)\n");
        abort();
    }
    return s;
}

void registry_session_free(struct registry_session *s)
{
    if (!s)
        return;
    curl_easy_cleanup(s->curl);
    free(s);
}

void registry_document_free(struct registry_document *doc)
{
    if (!doc)
        return;
    buffer_free(&doc->data);
    free(doc->media_type);
    memset(doc, 0, sizeof *doc);
}

char *registry_describe(const struct registry_client *c, const struct registry_ref *ref)
{
    char *text = registry_ref_format(ref);
    char *host, *repository;
    registry_ref_endpoint(ref, c->o.mirrors, c->o.mirror_count, &host, &repository);
    bool mirrored = false;
    for (size_t i = 0; i < c->o.mirror_count; i++)
        mirrored |= !strcmp(c->o.mirrors[i].from, ref->registry);
    char *out = mirrored ? xasprintf("%s (from %s/%s)", text, host, repository) : xstrdup(text);
    free(text);
    free(host);
    free(repository);
    return out;
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_seconds(double seconds)
{
    if (seconds <= 0)
        return;
    struct timespec t = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

/* ---- curl callbacks ---- */

static void copy_header_value(char *dst, size_t size, const char *v, size_t n)
{
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
        n--;
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    if (n >= size)
        n = size - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static size_t on_header(char *data, size_t size, size_t count, void *context)
{
    struct xfer *x = context;
    size_t n = size * count;
    if (n >= 5 && !strncmp(data, "HTTP/", 5)) {
        /* a new response (a redirect or an interim 1xx before it): forget the previous headers */
        x->content_type[0] = x->docker_digest[0] = x->content_range[0] = x->retry_after[0] = '\0';
        x->www_authenticate[0] = '\0';
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (!colon)
        return n;
    size_t name_len = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vn = n - name_len - 1;
    struct {
        const char *name;
        char *dst;
        size_t size;
    } wanted[] = {
        {"content-type", x->content_type, sizeof x->content_type},
        {"docker-content-digest", x->docker_digest, sizeof x->docker_digest},
        {"content-range", x->content_range, sizeof x->content_range},
        {"retry-after", x->retry_after, sizeof x->retry_after},
        {"www-authenticate", x->www_authenticate, sizeof x->www_authenticate},
    };
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        if (strlen(wanted[i].name) != name_len || strncasecmp(data, wanted[i].name, name_len) != 0)
            continue;
        if (wanted[i].dst == x->www_authenticate && x->www_authenticate[0]) {
            /* several challenges in several headers: one list, as RFC 7235 allows */
            size_t used = strlen(x->www_authenticate);
            if (used + 2 < sizeof x->www_authenticate) {
                strcat(x->www_authenticate, ", ");
                copy_header_value(x->www_authenticate + used + 2, sizeof x->www_authenticate - used - 2, v, vn);
            }
        } else {
            copy_header_value(wanted[i].dst, wanted[i].size, v, vn);
        }
    }
    return n;
}

struct write_context {
    struct xfer *x;
    struct registry_session *s;
};

static size_t on_body(char *data, size_t size, size_t count, void *context)
{
    struct write_context *w = context;
    struct xfer *x = w->x;
    size_t n = size * count;
    long status = 0;
    curl_easy_getinfo(w->s->curl, CURLINFO_RESPONSE_CODE, &status);
    atomic_fetch_add(&w->s->c->bytes, n);
    if (status != 200 && status != 206) {
        if (x->error_body.len + n <= ERROR_BODY_MAX)
            buffer_append(&x->error_body, data, n);
        return n;
    }
    if (x->sink) {
        if (!x->body_started) {
            x->body_started = true;
            unsigned long long first = 0;
            if (status == 200 && x->range_from > 0) {
                /* the server ignored Range: the bytes start again from 0 */
                if (x->sink->restart(x->sink->context, &x->sink_err) != 0) {
                    x->sink_failed = true;
                    return 0;
                }
                x->sink_bytes = 0;
            } else if (status == 206 && (sscanf(x->content_range, "bytes %llu-", &first) != 1 || first != x->range_from)) {
                x->range_wrong = true;
                return 0;
            }
        }
        if (x->sink_size >= 0 && x->sink_bytes + n > (uint64_t)x->sink_size) {
            x->too_large = true;
            return 0;
        }
        if (x->sink->write(x->sink->context, data, n, &x->sink_err) != 0) {
            x->sink_failed = true;
            return 0;
        }
        x->sink_bytes += n;
        return n;
    }
    if (x->body) {
        if (x->body->len + n > x->max) {
            x->too_large = true;
            return 0;
        }
        buffer_append(x->body, data, n);
    }
    return n;
}

/* ---- one attempt, and the retry loop around it ---- */

static CURLcode perform(struct registry_session *s, struct xfer *x, uint64_t range_from)
{
    struct registry_client *c = s->c;
    CURL *h = s->curl;
    curl_easy_reset(h);
    struct curl_slist *headers = NULL;
    if (x->accept)
        headers = curl_slist_append(headers, x->accept);
    if (x->auth)
        headers = curl_slist_append(headers, x->auth);
    char range[64];
    if (range_from > 0) {
        snprintf(range, sizeof range, "%llu-", (unsigned long long)range_from);
        curl_easy_setopt(h, CURLOPT_RANGE, range);
    }
    struct write_context w = {x, s};
    s->errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, x->url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "airfactory/" AIRFACTORY_VERSION);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 8L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, c->o.plain_http ? "http,https" : "https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, c->o.plain_http ? "http,https" : "https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, RECEIVE_BUFFER);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_SECONDS);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, STALL_SECONDS);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->o.ca_file) {
        curl_easy_setopt(h, CURLOPT_CAINFO, c->o.ca_file);
        if (c->capath) /* --ca-file adds to the system store instead of replacing it */
            curl_easy_setopt(h, CURLOPT_CAPATH, c->capath);
    }
    if (x->basic_user) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, x->basic_user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, x->basic_password ? x->basic_password : "");
    }
    if (x->post) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, x->post);
    }
    x->status = 0;
    x->range_from = range_from;
    x->body_started = false;
    x->content_type[0] = x->docker_digest[0] = x->content_range[0] = x->retry_after[0] = '\0';
    x->www_authenticate[0] = '\0';
    buffer_reset(&x->error_body);
    atomic_fetch_add(&c->requests, 1);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->status);
    curl_slist_free_all(headers);
    return rc;
}

static bool retryable_status(long status)
{
    return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

static bool retryable_transport(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return true;
    default: return false;
    }
}

/* Seconds the server asked us to wait (delta-seconds or an HTTP-date), or -1. */
static double retry_after_seconds(const char *value)
{
    if (!value[0])
        return -1;
    char *end;
    long n = strtol(value, &end, 10);
    if (end != value && *end == '\0')
        return n < 0 ? 0 : (double)n;
    time_t when = curl_getdate(value, NULL);
    if (when < 0)
        return -1;
    double d = difftime(when, time(NULL));
    return d < 0 ? 0 : d;
}

/* The host part of a URL, for messages. */
static void url_host(const char *url, char *out, size_t size)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "/");
    snprintf(out, size, "%.*s", (int)n, p);
}

/* The OCI error code of an error answer ("MANIFEST_UNKNOWN"), or "". Never the message: what a
 * server writes is not echoed. */
static void error_code(struct xfer *x, char *out, size_t size)
{
    out[0] = '\0';
    struct json_value *doc = NULL;
    struct error ignored;
    if (!x->error_body.len || json_parse(buffer_cstr(&x->error_body), x->error_body.len, "error", &doc, &ignored) != 0)
        return;
    const struct json_value *errors = doc->type == JSON_OBJECT ? json_object_get_array(doc, "errors") : NULL;
    const char *code = errors && errors->count && errors->items[0]->type == JSON_OBJECT
                           ? json_object_get_string(errors->items[0], "code")
                           : NULL;
    if (code) {
        size_t i = 0;
        for (; code[i] && i + 1 < size && ((code[i] >= 'A' && code[i] <= 'Z') || code[i] == '_'); i++)
            out[i] = code[i];
        out[i] = '\0';
    }
    json_free(doc);
}

static int transport_error(struct registry_session *s, struct xfer *x, CURLcode rc, struct error *err)
{
    char host[256];
    url_host(x->url, host, sizeof host);
    const char *detail = s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return error_set(err, ERROR_INPUT,
                         "%s: cannot resolve registry host %s (%s); check the registry name, "
                         "DNS, or pull through a registry you can reach with --mirror %s=HOST",
                         x->what, host, detail, host);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
        return error_set(err, ERROR_INPUT,
                         "%s: TLS certificate of %s not trusted (%s); pass --ca-file with the "
                         "registry's CA certificate (PEM) or add it to the system store (update-ca-certificates)",
                         x->what, host, detail);
    case CURLE_SSL_CONNECT_ERROR:
        return error_set(err, ERROR_INPUT,
                         "%s: TLS handshake with %s failed (%s); if it is a plain-HTTP lab or "
                         "loopback registry pass --plain-http, else check --ca-file and the registry's TLS setup",
                         x->what, host, detail);
    case CURLE_UNSUPPORTED_PROTOCOL:
        return error_set(err, ERROR_INPUT, "%s: %s (%s); plain HTTP is used only with --plain-http", x->what, detail,
                         x->url);
    case CURLE_WEIRD_SERVER_REPLY:
        return error_set(err, ERROR_INPUT, "%s: %s did not answer HTTP (%s); if it speaks HTTPS drop --plain-http",
                         x->what, host, detail);
    case CURLE_COULDNT_CONNECT:
        return error_set(err, ERROR_RUNTIME,
                         "%s: cannot connect to %s after %u attempts (%s); check the host and "
                         "port and that the registry is running",
                         x->what, host, x->attempts, detail);
    default:
        if (retryable_transport(rc))
            return error_set(err, ERROR_RUNTIME,
                             "%s: transfer from %s failed %u times (%s); check the network and "
                             "re-run pull (finished blobs are kept)",
                             x->what, host, x->attempts, detail);
        return error_set(err, ERROR_RUNTIME, "%s: request to %s failed (%s)", x->what, x->url, detail);
    }
}

/* Perform x until it gets an answer that is not retryable, or retries run out. For a sink, a cut
 * transfer continues where it stopped (Range). 0: x->status holds the final answer; -1: err. */
static int transfer(struct registry_session *s, struct xfer *x, struct error *err)
{
    struct registry_client *c = s->c;
    unsigned failures = 0, progressed = 0;
    size_t body_start = x->body ? x->body->len : 0;
    for (;;) {
        uint64_t before = x->sink_bytes;
        if (x->body && x->body->data) {
            /* a document is asked for again whole: drop what a failed attempt left */
            x->body->len = body_start;
            x->body->data[body_start] = '\0';
        }
        x->attempts++;
        CURLcode rc = perform(s, x, x->sink ? x->sink_bytes : 0);
        if (x->sink_failed) {
            *err = x->sink_err;
            return -1;
        }
        if (x->range_wrong)
            return error_set(err, ERROR_RUNTIME,
                             "%s: %s resumed the blob at '%s', not at byte %llu as asked; re-run "
                             "pull",
                             x->what, x->url, x->content_range, (unsigned long long)x->range_from);
        if (x->too_large) {
            return error_set(err, ERROR_INPUT,
                             "%s: %s sent more than the %s allows (%llu bytes); the registry is "
                             "not serving what was asked for",
                             x->what, x->url, x->sink ? "descriptor" : "limit",
                             (unsigned long long)(x->sink ? (uint64_t)x->sink_size : x->max));
        }
        bool retry = false;
        double wait = -1;
        if (rc != CURLE_OK) {
            if (!retryable_transport(rc))
                return transport_error(s, x, rc, err);
            retry = true;
        } else if (retryable_status(x->status)) {
            retry = true;
            wait = retry_after_seconds(x->retry_after);
        } else {
            return 0;
        }
        bool made_progress = x->sink_bytes > before;
        if (made_progress && progressed < PROGRESS_ATTEMPTS_MAX) {
            progressed++; /* a cut after progress: resume at once, it does not use up a retry */
            atomic_fetch_add(&c->resumed, 1);
            atomic_fetch_add(&c->retries, 1);
            continue;
        }
        if (!retry || failures >= c->o.retries) {
            if (rc != CURLE_OK)
                return transport_error(s, x, rc, err);
            return 0; /* the caller reports the status */
        }
        if (wait < 0) {
            wait = c->o.backoff;
            for (unsigned i = 0; i < failures && wait < MAX_WAIT_SECONDS; i++)
                wait *= 2;
        }
        if (wait > MAX_WAIT_SECONDS)
            wait = MAX_WAIT_SECONDS;
        failures++;
        atomic_fetch_add(&c->retries, 1);
        if (x->sink && x->sink_bytes > 0)
            atomic_fetch_add(&c->resumed, 1);
        sleep_seconds(wait);
    }
}

/* ---- authentication ---- */

static const char *cached_auth(struct registry_client *c, const char *host, const char *repository)
{
    const char *found = NULL;
    double now = now_seconds();
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->token_count && !found; i++) {
        struct token *t = &c->tokens[i];
        if (!strcmp(t->host, host) && (!t->repository || !strcmp(t->repository, repository)) &&
            (t->expires == 0 || t->expires > now))
            found = t->header;
    }
    pthread_mutex_unlock(&c->lock);
    return found; /* entries are never freed before the client: the pointer stays valid */
}

static void cache_auth(struct registry_client *c, const char *host, const char *repository, const char *header,
                       double expires)
{
    pthread_mutex_lock(&c->lock);
    c->tokens = xrealloc(c->tokens, (c->token_count + 1) * sizeof *c->tokens);
    /* newest first: a refreshed token shadows the expired one */
    memmove(c->tokens + 1, c->tokens, c->token_count * sizeof *c->tokens);
    c->tokens[0] = (struct token){xstrdup(host), repository ? xstrdup(repository) : NULL, xstrdup(header), expires};
    c->token_count++;
    pthread_mutex_unlock(&c->lock);
}

static char *url_escape(struct registry_session *s, const char *text)
{
    char *e = curl_easy_escape(s->curl, text, 0);
    char *out = xstrdup(e ? e : "");
    curl_free(e);
    return out;
}

/* The token exchange of docker/distribution docs/spec/auth/token.md (GET, with basic credentials or
 * anonymous) and oauth.md (POST grant_type=refresh_token for identity tokens). */
static int fetch_token(struct registry_session *s, const char *what, const char *host, const char *repository,
                       const struct registry_challenge *ch, const struct registry_credentials *cred, bool have_cred,
                       struct error *err)
{
    if (!ch->realm ||
        (strncmp(ch->realm, "https://", 8) != 0 && !(s->c->o.plain_http && strncmp(ch->realm, "http://", 7) == 0)))
        return error_set(err, ERROR_INPUT,
                         "%s: registry %s asks for a bearer token but its realm '%s' is not an "
                         "https URL; check the registry's auth configuration",
                         what, host, ch->realm ? ch->realm : "(none)");
    char *scope = ch->scope ? xstrdup(ch->scope) : xasprintf("repository:%s:pull", repository);
    char *service = ch->service ? url_escape(s, ch->service) : NULL;
    char *scope_q = url_escape(s, scope);
    struct buffer body = BUFFER_INIT;
    struct xfer x = {.what = what, .body = &body, .max = TOKEN_MAX, .sink_size = -1};
    char *post = NULL;
    if (have_cred && cred->identity_token) {
        char *token_q = url_escape(s, cred->identity_token);
        post = xasprintf("grant_type=refresh_token&client_id=airfactory&refresh_token=%s&scope=%s%s%s", token_q,
                         scope_q, service ? "&service=" : "", service ? service : "");
        free(token_q);
        x.url = xstrdup(ch->realm);
        x.method = "POST";
        x.post = post;
    } else {
        x.url = xasprintf("%s%sscope=%s%s%s", ch->realm, strchr(ch->realm, '?') ? "&" : "?", scope_q,
                          service ? "&service=" : "", service ? service : "");
        if (have_cred && cred->username) {
            x.basic_user = cred->username;
            x.basic_password = cred->password;
        }
    }
    int rc = transfer(s, &x, err);
    char realm_host[256];
    url_host(ch->realm, realm_host, sizeof realm_host);
    if (rc == 0 && (x.status == 401 || x.status == 403)) {
        if (have_cred)
            rc = error_set(err, ERROR_INPUT,
                           "%s: token server %s refused the credentials from %s (%ld); log in "
                           "again (skopeo login %s / docker login %s)",
                           what, realm_host, cred->source, x.status, host, host);
        else
            rc = error_set(err, ERROR_INPUT,
                           "%s: registry %s does not allow anonymous pulls (token server %s "
                           "answered %ld) and %s has no credentials for it; log in (skopeo login %s / docker login "
                           "%s) or set REGISTRY_AUTH_FILE",
                           what, host, realm_host, x.status, registry_auth_searched(s->c->o.auth), host, host);
    } else if (rc == 0 && x.status != 200) {
        rc = error_set(err, ERROR_RUNTIME, "%s: token server %s answered %ld to %s; try again later", what, realm_host,
                       x.status,
                       x.method && !strcmp(x.method, "POST") ? "the refresh-token request" : "the token request");
    }
    struct json_value *doc = NULL;
    if (rc == 0 && json_parse(buffer_cstr(&body), body.len, "token response", &doc, err) != 0)
        rc = error_set(err, ERROR_RUNTIME, "%s: token server %s sent a response that is not JSON", what, realm_host);
    if (rc == 0) {
        const char *token = doc->type == JSON_OBJECT ? json_object_get_string(doc, "token") : NULL;
        if (!token || !*token)
            token = doc->type == JSON_OBJECT ? json_object_get_string(doc, "access_token") : NULL;
        int64_t expires_in = 60; /* the spec's default */
        if (doc->type == JSON_OBJECT)
            json_object_get_int64(doc, "expires_in", &expires_in);
        if (expires_in < 10)
            expires_in = 10;
        bool printable = token && *token;
        for (const char *p = token; printable && *p; p++)
            printable = *p > ' ' && *p < 0x7f;
        if (!printable) {
            rc = error_set(err, ERROR_RUNTIME, "%s: token server %s sent no usable token", what, realm_host);
        } else {
            char *header = xasprintf("Authorization: Bearer %s", token);
            cache_auth(s->c, host, repository, header, now_seconds() + (double)expires_in - 5);
            free(header);
        }
    }
    json_free(doc);
    buffer_free(&x.error_body);
    buffer_free(&body);
    free(x.url);
    free(post);
    free(service);
    free(scope_q);
    free(scope);
    return rc;
}

/* A 401: answer the challenge (fetch a token or use basic credentials) so the request can be sent
 * again. 0 ready, -1 err (nothing to answer with, or the answer was refused). */
static int answer_challenge(struct registry_session *s, struct xfer *x, const char *host, const char *repository,
                            bool second, struct error *err)
{
    struct registry_client *c = s->c;
    struct registry_credentials cred;
    bool have = registry_auth_find(c->o.auth, host, repository, &cred) == 1;
    char *helper = have ? NULL : registry_auth_helper(c->o.auth, host);
    int rc = 0;
    if (second) {
        /* we answered once and the registry still says 401 */
        if (have)
            rc = error_set(err, ERROR_INPUT,
                           "%s: registry %s refused the credentials from %s (401); log in again "
                           "(skopeo login %s / docker login %s)",
                           x->what, host, cred.source, host, host);
        else
            rc = error_set(err, ERROR_INPUT,
                           "%s: registry %s requires authentication (401) and %s has no "
                           "credentials for it%s%s; log in (skopeo login %s / docker login %s) or set "
                           "REGISTRY_AUTH_FILE",
                           x->what, host, registry_auth_searched(c->o.auth),
                           helper ? "; credential helpers are not run: " : "", helper ? helper : "", host, host);
        registry_credentials_free(&cred);
        free(helper);
        return rc;
    }
    struct registry_challenge ch;
    if (registry_challenge_parse(x->www_authenticate, &ch) != 0) {
        registry_credentials_free(&cred);
        free(helper);
        return error_set(err, ERROR_INPUT,
                         "%s: registry %s answered 401 without a usable WWW-Authenticate "
                         "challenge; check the registry's auth configuration",
                         x->what, host);
    }
    if (!strcasecmp(ch.scheme, "Bearer")) {
        rc = fetch_token(s, x->what, host, repository, &ch, &cred, have, err);
    } else if (!strcasecmp(ch.scheme, "Basic")) {
        if (!have || !cred.username) {
            rc = error_set(err, ERROR_INPUT,
                           "%s: registry %s requires a user name and password (Basic) and %s has "
                           "none for it%s%s; log in (skopeo login %s / docker login %s) or set REGISTRY_AUTH_FILE",
                           x->what, host, registry_auth_searched(c->o.auth),
                           helper ? "; credential helpers are not run: " : "", helper ? helper : "", host, host);
        } else {
            char *pair = xasprintf("%s:%s", cred.username, cred.password ? cred.password : "");
            struct buffer b64 = BUFFER_INIT;
            base64_encode(pair, strlen(pair), &b64);
            char *header = xasprintf("Authorization: Basic %s", buffer_cstr(&b64));
            cache_auth(c, host, NULL, header, 0);
            memset(pair, 0, strlen(pair));
            free(pair);
            free(header);
            buffer_free(&b64);
        }
    } else {
        rc = error_set(err, ERROR_INPUT,
                       "%s: registry %s asks for %s authentication, which airfactory does not "
                       "speak (Bearer and Basic only)",
                       x->what, host, ch.scheme);
    }
    registry_challenge_free(&ch);
    registry_credentials_free(&cred);
    free(helper);
    return rc;
}

/* GET /v2/<repository>/<path> on ref's endpoint, authenticating as the registry asks. */
static int registry_request(struct registry_session *s, const struct registry_ref *ref, const char *path,
                            struct xfer *x, struct error *err)
{
    struct registry_client *c = s->c;
    char *host, *repository;
    registry_ref_endpoint(ref, c->o.mirrors, c->o.mirror_count, &host, &repository);
    free(x->url);
    x->url = xasprintf("%s://%s/v2/%s/%s", c->o.plain_http ? "http" : "https", host, repository, path);
    int rc = 0;
    for (int round = 0;; round++) {
        x->auth = cached_auth(c, host, repository);
        rc = transfer(s, x, err);
        if (rc != 0 || x->status != 401)
            break;
        /* the first 401 is a challenge to answer; a second one is a refusal (an error) */
        if (answer_challenge(s, x, host, repository, round > 0, err) != 0) {
            rc = -1;
            break;
        }
    }
    free(host);
    free(repository);
    return rc;
}

static int status_error(struct registry_session *s, struct xfer *x, const char *asked, struct error *err)
{
    char code[64], host[256];
    error_code(x, code, sizeof code);
    url_host(x->url, host, sizeof host);
    const char *c_open = code[0] ? " " : "", *c_text = code;
    if (x->status == 429)
        return error_set(err, ERROR_RUNTIME,
                         "%s: registry %s answered 429 Too Many Requests%s%s %u times "
                         "(Retry-After honoured); wait and re-run pull, or fetch fewer blobs at once (-j)",
                         x->what, host, c_open, c_text, x->attempts);
    if (x->status >= 500)
        return error_set(err, ERROR_RUNTIME,
                         "%s: registry %s answered %ld%s%s to %s %u times; try again later "
                         "(finished blobs are kept)",
                         x->what, host, x->status, c_open, c_text, asked, x->attempts);
    if (x->status == 403)
        return error_set(err, ERROR_INPUT,
                         "%s: registry %s denied access to %s (403%s%s); check that the account "
                         "in your auth file may pull it",
                         x->what, host, asked, c_open, c_text);
    return error_set(err, ERROR_RUNTIME, "%s: registry %s answered %ld%s%s to %s; check the registry (%s)", x->what,
                     host, x->status, c_open, c_text, asked, x->url);
}

static void xfer_free(struct xfer *x)
{
    free(x->url);
    buffer_free(&x->error_body);
}

/* "application/vnd.oci.image.index.v1+json; charset=utf-8" -> the type alone */
static char *media_type_of(const char *content_type)
{
    size_t n = strcspn(content_type, "; \t");
    return xstrndup(content_type, n);
}

/* GET path into x's buffer: 1 a 200 answer, 0 a 404, -1 err (any other answer, named as asked). */
static int get_document(struct registry_session *s, const struct registry_ref *ref, const char *path, const char *asked,
                        struct xfer *x, struct error *err)
{
    if (registry_request(s, ref, path, x, err) != 0)
        return -1;
    if (x->status == 404)
        return 0;
    if (x->status != 200)
        return status_error(s, x, asked, err);
    return 1;
}

int registry_get_manifest(struct registry_session *s, const struct registry_ref *ref, const char *reference,
                          size_t max_size, struct registry_document *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    char *what = registry_describe(s->c, ref);
    struct xfer x = {.what = what, .accept = ACCEPT_MANIFESTS, .body = &out->data, .max = max_size, .sink_size = -1};
    char *path = xasprintf("manifests/%s", reference);
    char *asked = xasprintf("manifest %s", reference);
    int rc = get_document(s, ref, path, asked, &x, err);
    free(asked);
    if (rc != 1)
        goto done;
    char hex[SHA256_HEX_LEN + 1];
    sha256_hex(out->data.data ? out->data.data : "", out->data.len, hex);
    snprintf(out->digest, sizeof out->digest, "sha256:%s", hex);
    bool by_digest = !strncmp(reference, "sha256:", 7);
    const char *expected = by_digest ? reference : x.docker_digest[0] ? x.docker_digest : NULL;
    if (expected && strcmp(expected, out->digest) != 0) {
        rc = error_set(err, ERROR_INPUT,
                       "%s: digest mismatch: the manifest the registry sent hashes to %s, not %s "
                       "(%s); the registry or a proxy altered it: re-push the image or fix the mirror",
                       what, out->digest, expected, by_digest ? "the digest asked for" : "its Docker-Content-Digest");
        goto done;
    }
    out->media_type = media_type_of(x.content_type);
    rc = 1;
done:
    if (rc != 1)
        registry_document_free(out);
    free(path);
    free(what);
    xfer_free(&x);
    return rc;
}

int registry_get_blob(struct registry_session *s, const struct registry_ref *ref, const char *digest, size_t max_size,
                      struct buffer *out, struct error *err)
{
    char *what = registry_describe(s->c, ref);
    size_t start = out->len;
    struct xfer x = {.what = what, .body = out, .max = start + max_size, .sink_size = -1};
    char *path = xasprintf("blobs/%s", digest);
    char *asked = xasprintf("blob %s", digest);
    int rc = get_document(s, ref, path, asked, &x, err);
    free(asked);
    if (rc != 1)
        goto done;
    char hex[SHA256_HEX_LEN + 1];
    sha256_hex(out->data ? out->data + start : "", out->len - start, hex);
    if (strncmp(digest, "sha256:", 7) != 0 || strcmp(digest + 7, hex) != 0) {
        rc = error_set(err, ERROR_INPUT,
                       "%s: digest mismatch: blob %s from the registry hashes to sha256:%s; the "
                       "registry's copy is damaged or a proxy altered it: re-push the image or fix the mirror",
                       what, digest, hex);
        goto done;
    }
    rc = 1;
done:
    if (rc != 1 && out->data) {
        out->len = start;
        out->data[start] = '\0';
    }
    free(path);
    free(what);
    xfer_free(&x);
    return rc;
}

/* Whether host is known to have no referrers API; with add, remember that it has none. */
static bool no_referrers_api(struct registry_client *c, const char *host, bool add)
{
    pthread_mutex_lock(&c->lock);
    bool known = false;
    for (size_t i = 0; i < c->no_referrers_count && !known; i++)
        known = !strcmp(c->no_referrers[i], host);
    if (add && !known) {
        c->no_referrers = xrealloc(c->no_referrers, (c->no_referrers_count + 1) * sizeof *c->no_referrers);
        c->no_referrers[c->no_referrers_count++] = xstrdup(host);
    }
    pthread_mutex_unlock(&c->lock);
    return known;
}

int registry_get_referrers(struct registry_session *s, const struct registry_ref *ref, const char *digest,
                           struct registry_document *out, struct error *err)
{
    memset(out, 0, sizeof *out);
    char *host, *repository;
    registry_ref_endpoint(ref, s->c->o.mirrors, s->c->o.mirror_count, &host, &repository);
    free(repository);
    if (no_referrers_api(s->c, host, false)) {
        free(host);
        return 0;
    }
    char *what = registry_describe(s->c, ref);
    struct xfer x = {.what = what,
                     .accept = "Accept: application/vnd.oci.image.index.v1+json",
                     .body = &out->data,
                     .max = REFERRERS_MAX,
                     .sink_size = -1};
    char *path = xasprintf("referrers/%s", digest);
    int rc = registry_request(s, ref, path, &x, err);
    if (rc == 0 && x.status != 200) {
        /* 404 (CNCF distribution 2.x: no such route), 405, 400: the API is not there. Without an
         * OCI error code the route itself is missing: do not ask this host again. */
        if (x.status == 404 || x.status == 405 || x.status == 400 || x.status == 501) {
            char code[64];
            error_code(&x, code, sizeof code);
            if (!code[0])
                no_referrers_api(s->c, host, true);
            rc = 0;
        } else {
            rc = status_error(s, &x, "the referrers API", err);
        }
        registry_document_free(out);
        goto done;
    }
    if (rc != 0) {
        registry_document_free(out);
        goto done;
    }
    out->media_type = media_type_of(x.content_type);
    if (strcmp(out->media_type, "application/vnd.oci.image.index.v1+json") != 0) {
        /* a registry that answers 200 with something else (an HTML page) has no referrers API */
        no_referrers_api(s->c, host, true);
        registry_document_free(out);
        goto done;
    }
    char hex[SHA256_HEX_LEN + 1];
    sha256_hex(out->data.data ? out->data.data : "", out->data.len, hex);
    snprintf(out->digest, sizeof out->digest, "sha256:%s", hex);
    rc = 1;
done:
    free(host);
    free(path);
    free(what);
    xfer_free(&x);
    return rc;
}

int registry_fetch_blob(struct registry_session *s, const struct registry_ref *ref, const char *digest, int64_t size,
                        const struct registry_sink *sink, struct error *err)
{
    char *what = registry_describe(s->c, ref);
    struct xfer x = {.what = what, .sink = sink, .sink_size = size};
    char *path = xasprintf("blobs/%s", digest);
    int rc = registry_request(s, ref, path, &x, err);
    if (rc == 0 && x.status == 404) {
        rc = 0;
    } else if (rc == 0 && x.status != 200 && x.status != 206) {
        char *asked = xasprintf("blob %s", digest);
        rc = status_error(s, &x, asked, err);
        free(asked);
    } else if (rc == 0 && size >= 0 && x.sink_bytes != (uint64_t)size) {
        /* a complete answer (cuts are resumed inside transfer) of the wrong length */
        rc = error_set(err, ERROR_INPUT,
                       "%s: blob %s is %llu bytes on the registry, not %lld as its descriptor says; "
                       "the registry's copy is damaged: push the image again",
                       what, digest, (unsigned long long)x.sink_bytes, (long long)size);
    } else if (rc == 0) {
        rc = 1;
    }
    free(path);
    free(what);
    xfer_free(&x);
    return rc;
}
