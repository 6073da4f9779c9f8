/* server — the event loop of airfactory-serve (see include/airfactory/serve.h).
 *
 * One loop per worker process: level-triggered epoll, one interest direction per connection at a
 * time (read a request, or write its response), so pipelined requests are answered strictly in
 * order and a client that does not read cannot make us buffer. Idle connections hold no input
 * buffer (it is allocated when bytes arrive and freed when the request is consumed), which keeps
 * 10 000 idle keep-alive connections in a few MiB. Timeouts use three FIFO lists, one per kind
 * (idle, header, write): every connection in a list has the same timeout, so appending at the
 * tail keeps each list sorted and all timer work is O(1).
 *
 * Nothing slow runs on the loop: decoding a POST /schematics body (up to ~1 s of CPU for a
 * hostile one within the YAML limits) goes to the worker's helper thread (serve_offload.h) while
 * its connection is parked, out of epoll; every other request is answered from memory, sqlite
 * or sendfile. One client holds at most --max-conns-per-client connections per worker
 * (serve_client_limit.h); limits and their defaults are listed in docs/security.md. */
#include "airfactory/serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/base64.h"
#include "airfactory/bundle.h"
#include "airfactory/bundle_key.h"
#include "core/fs.h"
#include "core/json.h"
#include "serve/http_parser.h"
#include "core/memory.h"
#include "airfactory/schematic.h"
#include "serve/serve_access_log.h"
#include "serve/serve_client_limit.h"
#include "serve/serve_metrics.h"
#include "serve/serve_offload.h"
#include "serve/serve_routes.h"
#include "serve/serve_tls.h"

#define MAX_BODY SCHEMATIC_MAX_SIZE /* POST /schematics bodies (embedded machine configs) */
#define READ_CHUNK 4096
#define SENDFILE_BURST (16u << 20) /* per wake-up, so one fast client cannot starve the rest */
#define TLS_CHUNK 65536
#define CORK_MIN (256u << 10)  /* file bodies at least this large are sent corked */
#define INLINE_MAX (16u << 10) /* file bodies at most this large go out with the head, one send */
#define LINGER_MS 2000
#define BODY_BUDGET (64u << 20) /* request bodies buffered at once per worker (DoS bound) */

enum conn_state { ST_READ, ST_WRITE, ST_LINGER, ST_HANDSHAKE, ST_PARKED };
enum timer_list { TIMER_NONE = -1, TIMER_IDLE = 0, TIMER_HEADER, TIMER_WRITE, TIMER_LINGER, TIMER_COUNT };

/* A request whose body the helper thread is decoding; its connection is out of epoll meanwhile
 * and c->in (head and body) stays untouched, so req and job.body keep pointing into it. */
struct parked {
    struct serve_offload_job job; /* first: the thread hands back &job */
    struct http_request req;
    size_t total; /* head + body bytes to consume afterwards */
    const char *body;
    size_t body_len;
    struct serve_schematic_result result;
};

struct conn {
    int fd;
    enum conn_state state;
    uint32_t events; /* current epoll interest */
    struct serve_tls_connection *tls;
    struct sockaddr_storage peer;
    struct serve_client_key client;
    struct parked *parked; /* ST_PARKED */

    char *in; /* NULL while idle */
    size_t in_len, in_cap;
    bool continue_sent;
    size_t body_reserved; /* share of the worker's BODY_BUDGET this connection holds */

    char *out; /* response head (+ memory body) */
    size_t out_len, out_off;
    int file_fd;
    uint64_t file_off, file_end;
    char *tls_chunk; /* TLS file body staging */
    size_t chunk_len, chunk_off;
    bool close_after;
    bool corked; /* TCP_CORK set for a large file body */

    struct serve_access_log_entry *log;
    int route;

    enum timer_list timer;
    uint64_t deadline_ms;
    struct conn *prev, *next;
};

struct timer_queue {
    struct conn *head, *tail;
    uint64_t timeout_ms;
};

struct worker {
    const struct serve_config *config;
    struct serve_context ctx;
    struct serve_tls_context *tls;
    int epoll_fd, listen_fd, signal_fd;
    uint32_t listen_events; /* EPOLLIN, | EPOLLEXCLUSIVE when workers share the socket */
    bool listening;
    bool draining;
    uint64_t drain_deadline_ms;
    long connections;
    struct serve_client_table *clients;
    uint64_t refusal_logged_ms;
    struct serve_offload *offload;
    size_t body_reserved;
    struct timer_queue timers[TIMER_COUNT];
    uint64_t now_ms;
    /* the bundle served (serve_context holds its index and descriptors) */
    struct bundle_index_stamp stamp;
    struct bundle_freshness fresh;
    bool have_refused;
    struct bundle_index_stamp refused_stamp;
    char refused_reason[sizeof(((struct error *)0)->message)];
    char unavailable[sizeof(((struct error *)0)->message) + 512]; /* serve_context.unavailable's text */
    uint64_t unavailable_logged_ms;
    uint64_t next_check_ms;
    uint64_t rng;
    char date[64];
    time_t date_second;
};

/* ---- time, ids ---- */

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void update_now(struct worker *w)
{
    w->now_ms = monotonic_ns() / 1000000ull;
}

static const char *http_date(struct worker *w)
{
    time_t now = time(NULL);
    if (now != w->date_second) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(w->date, sizeof w->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        w->date_second = now;
    }
    return w->date;
}

static uint64_t next_random(struct worker *w)
{
    /* xorshift64*: request IDs only need to be unique, not secret */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return w->rng * 2685821657736338717ull;
}

/* digits lowercase hex digits of v (its low 4*digits bits) */
static char *put_hex(char *out, uint64_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; i--, v >>= 4)
        out[i] = hex[v & 15];
    return out + digits;
}

/* "%08x-%04x-%04x-%04x-%012llx" of a's 64 and b's 64 bits, with the version and variant bits set */
static void uuid4(struct worker *w, char out[37])
{
    uint64_t a = next_random(w), b = next_random(w);
    a = (a & ~0xf000ull) | 0x4000ull;                        /* version 4 */
    b = (b & 0x3fffffffffffffffull) | 0x8000000000000000ull; /* variant 10 */
    char *p = put_hex(out, a >> 32, 8);
    *p++ = '-';
    p = put_hex(p, a >> 16, 4);
    *p++ = '-';
    p = put_hex(p, a, 4);
    *p++ = '-';
    p = put_hex(p, b >> 48, 4);
    *p++ = '-';
    p = put_hex(p, b, 12);
    *p = '\0';
}

/* ---- timers ---- */

static void timer_remove(struct worker *w, struct conn *c)
{
    if (c->timer == TIMER_NONE)
        return;
    struct timer_queue *q = &w->timers[c->timer];
    if (c->prev)
        c->prev->next = c->next;
    else
        q->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        q->tail = c->prev;
    c->prev = c->next = NULL;
    c->timer = TIMER_NONE;
}

static void timer_set(struct worker *w, struct conn *c, enum timer_list which)
{
    timer_remove(w, c);
    struct timer_queue *q = &w->timers[which];
    c->timer = which;
    c->deadline_ms = w->now_ms + q->timeout_ms;
    c->prev = q->tail;
    c->next = NULL;
    if (q->tail)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
}

/* ---- connection lifetime ---- */

static void set_events(struct worker *w, struct conn *c, uint32_t events)
{
    if (c->events == events)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(w->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->events = events;
}

static void format_peer(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET && cap >= sizeof "255.255.255.255:65535") {
        /* every request's log line: "a.b.c.d:port" without inet_ntop and snprintf */
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        const unsigned char *a = (const unsigned char *)&in->sin_addr;
        char *p = out;
        for (int i = 0; i < 4; i++) {
            p = decimal_put_u64(p, a[i]);
            *p++ = i < 3 ? '.' : ':';
        }
        p = decimal_put_u64(p, ntohs(in->sin_port));
        *p = '\0';
    } else if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
        snprintf(out, cap, "%s:%u", host, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
        snprintf(out, cap, "[%s]:%u", host, port);
    } else {
        snprintf(out, cap, "-");
    }
}

static void reset_response(struct conn *c)
{
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    if (c->file_fd >= 0)
        close(c->file_fd);
    c->file_fd = -1;
    c->file_off = c->file_end = 0;
    free(c->tls_chunk);
    c->tls_chunk = NULL;
    c->chunk_len = c->chunk_off = 0;
}

static void finish_log(struct conn *c)
{
    if (!c->log)
        return;
    c->log->route = serve_metrics_route_name((enum serve_route_id)c->route);
    serve_metrics_request((enum serve_route_id)c->route, c->log->status, c->log->bytes);
    serve_access_log_write(c->log, monotonic_ns());
    free(c->log);
    c->log = NULL;
}

static void release_body(struct worker *w, struct conn *c)
{
    w->body_reserved -= c->body_reserved;
    c->body_reserved = 0;
}

static void conn_close(struct worker *w, struct conn *c)
{
    release_body(w, c);
    free(c->parked); /* only at shutdown, after the helper thread stopped */
    c->parked = NULL;
    serve_client_release(w->clients, &c->client);
    if (c->log) {
        c->log->status = c->log->status ? c->log->status : 499; /* client went away mid-response */
        finish_log(c);
    }
    timer_remove(w, c);
    epoll_ctl(w->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    serve_tls_connection_free(c->tls);
    close(c->fd);
    reset_response(c);
    free(c->in);
    free(c);
    w->connections--;
    serve_metrics_connection_closed();
    if (!w->listening && !w->draining && w->listen_fd >= 0) {
        /* we had stopped accepting at the fd or connection limit: resume */
        struct epoll_event ev = {.events = w->listen_events, .data.ptr = NULL};
        if (epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, w->listen_fd, &ev) == 0)
            w->listening = true;
    }
}

/* ---- socket I/O (plain or TLS) ---- */

enum io_result { IO_DONE, IO_AGAIN_READ, IO_AGAIN_WRITE, IO_EOF, IO_FAIL };

static enum io_result io_read(struct conn *c, char *buf, size_t len, size_t *got)
{
    *got = 0;
    if (c->tls) {
        enum serve_tls_status s = serve_tls_read(c->tls, buf, len, got);
        switch (s) {
        case SERVE_TLS_OK: return IO_DONE;
        case SERVE_TLS_WANT_READ: return IO_AGAIN_READ;
        case SERVE_TLS_WANT_WRITE: return IO_AGAIN_WRITE;
        case SERVE_TLS_CLOSED: return IO_EOF;
        default: return IO_FAIL;
        }
    }
    for (;;) {
        ssize_t n = recv(c->fd, buf, len, 0);
        if (n > 0) {
            *got = (size_t)n;
            return IO_DONE;
        }
        if (n == 0)
            return IO_EOF;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return IO_AGAIN_READ;
        return IO_FAIL;
    }
}

static enum io_result io_write(struct conn *c, const char *buf, size_t len, size_t *done, bool more)
{
    *done = 0;
    if (c->tls) {
        enum serve_tls_status s = serve_tls_write(c->tls, buf, len, done);
        switch (s) {
        case SERVE_TLS_OK: return IO_DONE;
        case SERVE_TLS_WANT_READ: return IO_AGAIN_READ;
        case SERVE_TLS_WANT_WRITE: return IO_AGAIN_WRITE;
        default: return IO_FAIL;
        }
    }
    for (;;) {
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
        if (n >= 0) {
            *done = (size_t)n;
            return IO_DONE;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return IO_AGAIN_WRITE;
        return IO_FAIL;
    }
}

/* ---- building the response head ---- */

static bool etag_matches(struct http_string header, const char *etag)
{
    /* If-None-Match: "*" or a list of entity tags; weak comparison (W/ prefix ignored). */
    size_t n = strlen(etag);
    size_t i = 0;
    while (i < header.len) {
        while (i < header.len && (header.data[i] == ' ' || header.data[i] == '\t' || header.data[i] == ','))
            i++;
        if (i < header.len && header.data[i] == '*')
            return true;
        if (i + 2 <= header.len && header.data[i] == 'W' && header.data[i + 1] == '/')
            i += 2;
        size_t start = i;
        while (i < header.len && header.data[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (header.data[end - 1] == ' ' || header.data[end - 1] == '\t'))
            end--;
        if (end - start == n && memcmp(header.data + start, etag, n) == 0)
            return true;
    }
    return false;
}

/* Single byte range "bytes=a-b", "bytes=a-", "bytes=-n" (RFC 9110 §14.1.2, §14.2). Returns 1
 * satisfiable (first/last set), 0 ignore the header (malformed or several ranges: a full 200 is
 * allowed), -1 unsatisfiable (416). Positions are unbounded digit strings: one too large for 64
 * bits saturates, so `bytes=0-18446744073709551615` (or more digits) is clamped to the last byte,
 * an oversized suffix means the whole representation, and an oversized first position is past
 * any end (416). The range unit is case-insensitive. */
static uint64_t range_number(const char **p, const char *end, bool *any)
{
    uint64_t v = 0;
    *any = false;
    while (*p < end && **p >= '0' && **p <= '9') {
        unsigned d = (unsigned)(*(*p)++ - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
        *any = true;
    }
    return v;
}

static int parse_range(struct http_string h, uint64_t size, uint64_t *first, uint64_t *last)
{
    if (h.len < 7 || strncasecmp(h.data, "bytes=", 6) != 0)
        return 0;
    const char *p = h.data + 6, *end = h.data + h.len;
    if (memchr(p, ',', (size_t)(end - p)))
        return 0;
    while (p < end && *p == ' ')
        p++;
    bool have_a, have_b;
    uint64_t a = range_number(&p, end, &have_a);
    if (p >= end || *p != '-')
        return 0;
    p++;
    uint64_t b = range_number(&p, end, &have_b);
    while (p < end && *p == ' ')
        p++;
    if (p != end || (!have_a && !have_b))
        return 0;
    if (!have_a) { /* suffix range: the last b bytes */
        if (b == 0 || size == 0)
            return -1;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return 1;
    }
    if (have_b && b < a)
        return 0;
    if (a >= size)
        return -1;
    *first = a;
    *last = (!have_b || b >= size) ? size - 1 : b;
    return 1;
}

static bool request_id_acceptable(struct http_string v)
{
    if (v.len == 0 || v.len > 40)
        return false;
    for (size_t i = 0; i < v.len; i++) {
        char ch = v.data[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '_' || ch == '.'))
            return false;
    }
    return true;
}

/* Turn a handler's response into wire bytes on c. head_only for HEAD. */
static void prepare_response(struct worker *w, struct conn *c, const struct http_request *req,
                             struct serve_response *res, bool head_only)
{
    int status = res->status;
    uint64_t body_len = res->file_fd >= 0 ? res->file_size : res->body.len;
    uint64_t first = 0, last = 0;
    bool partial = false;
    struct buffer h = BUFFER_INIT;

    if (res->file_fd >= 0 && status == 200 && req) {
        const struct http_header *inm = http_request_header(req, "If-None-Match");
        const struct http_header *range = http_request_header(req, "Range");
        const struct http_header *if_range = http_request_header(req, "If-Range");
        if (inm && res->etag[0] && etag_matches(inm->value, res->etag)) {
            status = 304;
        } else if (range && res->ranges && req->method == HTTP_METHOD_GET &&
                   (!if_range || (res->etag[0] && http_string_equals(if_range->value, res->etag)))) {
            int r = parse_range(range->value, res->file_size, &first, &last);
            if (r == 1) {
                status = 206;
                partial = true;
            } else if (r == -1) {
                status = 416;
            }
        }
    }

    /* the head is appended piece by piece (no printf): it is built for every request */
    buffer_reserve(&h, 256 + res->headers.len + (res->file_fd < 0 ? res->body.len : 0));
    buffer_append(&h, "HTTP/1.1 ", 9);
    buffer_append_u64(&h, (uint64_t)status);
    buffer_append_char(&h, ' ');
    buffer_append_str(&h, http_status_text(status));
    buffer_append(&h, "\r\nServer: ", 10);
    buffer_append_str(&h, w->ctx.server_name);
    buffer_append(&h, "\r\nDate: ", 8);
    buffer_append_str(&h, http_date(w));
    buffer_append(&h, "\r\n", 2);
    if (c->log) {
        buffer_append(&h, "X-Request-Id: ", 14);
        buffer_append_str(&h, c->log->request_id);
        buffer_append(&h, "\r\n", 2);
    }
    if (res->headers.len)
        buffer_append(&h, res->headers.data, res->headers.len);
    if (!res->content_type_set && body_len > 0 && status != 304)
        buffer_append_str(&h, "Content-Type: text/plain; charset=utf-8\r\n");
    if (res->etag[0]) {
        buffer_append(&h, "Etag: ", 6);
        buffer_append_str(&h, res->etag);
        buffer_append(&h, "\r\n", 2);
    }
    if (status == 304 || status == 204) {
        body_len = 0;
    } else if (status == 416) {
        buffer_appendf(&h, "Content-Range: bytes */%llu\r\n", (unsigned long long)res->file_size);
        body_len = 0;
    } else if (partial) {
        buffer_appendf(&h, "Content-Range: bytes %llu-%llu/%llu\r\n", (unsigned long long)first,
                       (unsigned long long)last, (unsigned long long)res->file_size);
        body_len = last - first + 1;
    }
    if (status != 304 && status != 204) {
        buffer_append(&h, "Content-Length: ", 16);
        buffer_append_u64(&h, body_len);
        buffer_append(&h, "\r\n", 2);
    }
    bool keep = !c->close_after && req && req->keep_alive && !w->draining;
    if (!keep)
        buffer_append_str(&h, "Connection: close\r\n");
    else if (req->version_minor == 0)
        buffer_append_str(&h, "Connection: keep-alive\r\n");
    c->close_after = !keep;
    buffer_append_str(&h, "\r\n");

    bool send_body = !head_only && body_len > 0;
    if (send_body && res->file_fd < 0)
        buffer_append(&h, res->body.data, (size_t)body_len);
    if (send_body && res->file_fd >= 0 && body_len <= INLINE_MAX) {
        /* a small file (cmdline, kernel stand-ins, manifests): read it behind the head, so the
         * response is one send instead of a send and a sendfile; a short read falls back */
        size_t head = h.len;
        buffer_reserve(&h, (size_t)body_len);
        ssize_t n = pread(res->file_fd, h.data + head, (size_t)body_len, (off_t)(partial ? first : 0));
        if (n == (ssize_t)body_len) {
            h.len = head + (size_t)body_len;
            if (!res->file_borrowed)
                close(res->file_fd);
            res->file_fd = -1;
            send_body = false;
        }
    }
    if (send_body && res->file_fd >= 0 && res->file_borrowed) {
        /* the blob cache's descriptor (a short read above): the connection gets its own */
        int own = fcntl(res->file_fd, F_DUPFD_CLOEXEC, 0);
        res->file_fd = own;
        res->file_borrowed = false;
        if (own < 0)
            c->close_after = true; /* the head promised a body we cannot send: end the connection */
    }
    if (send_body && res->file_fd >= 0) {
        c->file_fd = res->file_fd;
        res->file_fd = -1;
        c->file_off = partial ? first : 0;
        c->file_end = partial ? last + 1 : res->file_size;
    }
    if (c->log)
        c->log->status = status;
    c->route = res->route;
    c->out_len = h.len;
    c->out_off = 0;
    c->out = buffer_take(&h);
}

/* A response for a request the parser refused (or a limit): close afterwards. */
static void prepare_error(struct worker *w, struct conn *c, int status, const char *reason)
{
    struct serve_response res;
    serve_response_init(&res);
    res.route = SERVE_ROUTE_BAD_REQUEST;
    serve_response_text_error(&res, status, "%d %s: %s", status, http_status_text(status), reason);
    c->close_after = true;
    prepare_response(w, c, NULL, &res, false);
    serve_response_free(&res);
}

/* ---- writing ---- */

/* Returns 1 when the whole response is out, 0 when blocked (interest updated), -1 on failure. */
static int write_pending(struct worker *w, struct conn *c)
{
    bool progressed = false;
    while (c->out_off < c->out_len) {
        size_t done = 0;
        enum io_result r = io_write(c, c->out + c->out_off, c->out_len - c->out_off, &done, c->file_fd >= 0 && !c->tls);
        if (r == IO_DONE) {
            c->out_off += done;
            if (c->log)
                c->log->bytes += done;
            progressed = true;
            continue;
        }
        if (r == IO_AGAIN_WRITE || r == IO_AGAIN_READ) {
            set_events(w, c, r == IO_AGAIN_WRITE ? EPOLLOUT : EPOLLIN);
            if (progressed || c->timer != TIMER_WRITE)
                timer_set(w, c, TIMER_WRITE);
            return 0;
        }
        return -1;
    }
    uint64_t burst = 0;
    if (!c->tls && !c->corked && c->file_fd >= 0 && c->file_end - c->file_off >= CORK_MIN) {
        /* large body: only full segments (what nginx's tcp_nopush does); uncorked at the end */
        int one = 1;
        if (setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &one, sizeof one) == 0)
            c->corked = true;
    }
    while (c->file_fd >= 0 && c->file_off < c->file_end) {
        if (burst >= SENDFILE_BURST) {
            /* yield to other connections; level-triggered EPOLLOUT brings us back */
            set_events(w, c, EPOLLOUT);
            timer_set(w, c, TIMER_WRITE);
            return 0;
        }
        if (!c->tls) {
            uint64_t want = c->file_end - c->file_off;
            if (want > SENDFILE_BURST)
                want = SENDFILE_BURST;
            off_t off = (off_t)c->file_off;
            ssize_t n = sendfile(c->fd, c->file_fd, &off, (size_t)want);
            if (n > 0) {
                c->file_off = (uint64_t)off;
                if (c->log)
                    c->log->bytes += (uint64_t)n;
                burst += (uint64_t)n;
                progressed = true;
                if ((uint64_t)n < want && c->file_off < c->file_end) {
                    /* short write: the socket buffer is full. Wait for EPOLLOUT instead of
                     * spending a syscall to hear EAGAIN (what nginx does too). */
                    set_events(w, c, EPOLLOUT);
                    timer_set(w, c, TIMER_WRITE);
                    return 0;
                }
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                set_events(w, c, EPOLLOUT);
                if (progressed || c->timer != TIMER_WRITE)
                    timer_set(w, c, TIMER_WRITE);
                return 0;
            }
            return -1; /* n == 0: file shorter than the index says */
        }
        /* TLS: stage a chunk, then SSL_write it (no sendfile through userspace TLS) */
        if (c->chunk_off == c->chunk_len) {
            if (!c->tls_chunk)
                c->tls_chunk = xmalloc(TLS_CHUNK);
            uint64_t want = c->file_end - c->file_off;
            if (want > TLS_CHUNK)
                want = TLS_CHUNK;
            ssize_t n = pread(c->file_fd, c->tls_chunk, (size_t)want, (off_t)c->file_off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return -1;
            c->chunk_len = (size_t)n;
            c->chunk_off = 0;
        }
        size_t done = 0;
        enum io_result r = io_write(c, c->tls_chunk + c->chunk_off, c->chunk_len - c->chunk_off, &done, false);
        if (r == IO_DONE) {
            c->chunk_off += done;
            c->file_off += done;
            if (c->log)
                c->log->bytes += done;
            burst += done;
            progressed = true;
            continue;
        }
        if (r == IO_AGAIN_WRITE || r == IO_AGAIN_READ) {
            set_events(w, c, r == IO_AGAIN_WRITE ? EPOLLOUT : EPOLLIN);
            if (progressed || c->timer != TIMER_WRITE)
                timer_set(w, c, TIMER_WRITE);
            return 0;
        }
        return -1;
    }
    if (c->corked) {
        int zero = 0;
        setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &zero, sizeof zero); /* flush the tail now */
        c->corked = false;
    }
    return 1;
}

/* ---- reading and dispatch ---- */

/* snprintf(out, cap, "%.*s", s): s, truncated to cap - 1 bytes, NUL-terminated (stops at a NUL in s) */
static void copy_truncated(char *out, size_t cap, struct http_string s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    const char *nul = memchr(s.data, '\0', n);
    if (nul)
        n = (size_t)(nul - s.data);
    memcpy(out, s.data, n);
    out[n] = '\0';
}

static void begin_log(struct worker *w, struct conn *c, const struct http_request *req, uint64_t start_ns)
{
    free(c->log);
    c->log = xcalloc(1, sizeof *c->log);
    struct serve_access_log_entry *e = c->log;
    format_peer(&c->peer, e->remote, sizeof e->remote);
    e->start_ns = start_ns;
    e->tls = c->tls != NULL;
    e->version_minor = -1;
    if (req) {
        copy_truncated(e->method, sizeof e->method, req->method_text);
        copy_truncated(e->target, sizeof e->target, req->target);
        const struct http_header *ua = http_request_header(req, "User-Agent");
        if (ua)
            copy_truncated(e->user_agent, sizeof e->user_agent, ua->value);
        const struct http_header *rid = http_request_header(req, "X-Request-Id");
        if (rid && request_id_acceptable(rid->value))
            copy_truncated(e->request_id, sizeof e->request_id, rid->value);
        e->version_minor = req->version_minor;
    }
    if (!e->request_id[0])
        uuid4(w, e->request_id);
}

static void consume_input(struct conn *c, size_t n)
{
    if (n >= c->in_len) {
        free(c->in);
        c->in = NULL;
        c->in_len = c->in_cap = 0;
        return;
    }
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

static void ensure_capacity(struct conn *c, size_t need)
{
    if (c->in_cap >= need)
        return;
    size_t cap = c->in_cap ? c->in_cap : READ_CHUNK;
    while (cap < need)
        cap *= 2;
    c->in = xrealloc(c->in, cap);
    c->in_cap = cap;
}

/* The route-level request: 0, or the status (414, 400) when the path cannot be one. A path is
 * at most SERVE_PATH_MAX - 1 bytes, percent-encoded or not: a longer one (the request line
 * allows 8 KiB) is 414 URI Too Long (RFC 9110 §15.5.15), not a decoding error. */
static int make_request(const struct http_request *req, const char *body, size_t body_len, bool tls,
                        struct serve_request *sreq)
{
    memset(sreq, 0, sizeof *sreq);
    sreq->http = req;
    sreq->body = body;
    sreq->body_len = body_len;
    sreq->tls = tls;
    if (req->path.len >= sizeof sreq->path)
        return 414;
    if (http_percent_decode(req->path.data, req->path.len, sreq->path, sizeof sreq->path, true, false) < 0)
        return 400;
    return 0;
}

static bool bundle_check(struct worker *w, bool forced);

/* A listed blob is missing or has the wrong size, and the bundle at the path is still the one
 * served: it is damaged. */
static void report_blob_trouble(struct worker *w)
{
    fprintf(stderr, "airfactory-serve: error: %s; the bundle is damaged, re-copy it (airfactory verify --full %s)\n",
            w->ctx.blob_trouble_detail, w->config->bundle_dir);
}

/* Is the tree served no longer the one at the path (swapped away by a writer, being or already
 * removed)? Then a blob missing from it is not damage: the bundle served is going away. */
static bool served_tree_replaced(struct worker *w)
{
    struct stat served, at_path;
    if (fstat(w->ctx.bundle_fd, &served) != 0)
        return false;
    if (served.st_nlink == 0)
        return true;
    if (stat(w->config->bundle_dir, &at_path) != 0)
        return errno == ENOENT || errno == ENOTDIR;
    return at_path.st_dev != served.st_dev || at_path.st_ino != served.st_ino;
}

/* The bundle served lost its files and nothing at the path is accepted: say so once, precisely.
 * Downloads and /readyz answer 503 until a bundle is accepted (install_bundle clears this). */
static void mark_unavailable(struct worker *w)
{
    if (w->ctx.unavailable)
        return;
    char why[sizeof w->refused_reason + 64];
    if (w->have_refused)
        snprintf(why, sizeof why, "the one now at %s is refused: %s", w->config->bundle_dir, w->refused_reason);
    else
        snprintf(why, sizeof why, "%s holds no bundle", w->config->bundle_dir);
    snprintf(w->unavailable, sizeof w->unavailable,
             "the bundle served (generation %llu) was removed from disk and %s; downloads answer 503 until a bundle "
             "that verifies and is not older is put at %s (or the server is restarted, which serves what is there)",
             (unsigned long long)w->fresh.generation, why, w->config->bundle_dir);
    w->ctx.unavailable = w->unavailable;
    fprintf(stderr, "airfactory-serve: error: %s\n", w->unavailable);
}

/* The answer to a download whose blob went with the removed bundle: 503 with the reason (the
 * registry's error JSON under /v2/), Retry-After; logged at most every 10 s per worker. */
static void unavailable_response(struct worker *w, const struct serve_request *sreq, struct serve_response *res)
{
    enum serve_route_id route = res->route;
    serve_response_free(res);
    serve_response_init(res);
    res->route = route;
    if (!strncmp(sreq->path, "/v2/", 4)) {
        res->status = 503;
        struct json_writer j;
        json_writer_init(&j, &res->body);
        json_object_begin(&j);
        json_key(&j, "errors");
        json_array_begin(&j);
        json_object_begin(&j);
        json_kv_string(&j, "code", "UNAVAILABLE");
        json_kv_string(&j, "message", w->unavailable);
        json_object_end(&j);
        json_array_end(&j);
        json_object_end(&j);
        buffer_append_char(&res->body, '\n');
        serve_response_header(res, "Content-Type", "application/json");
        res->content_type_set = true;
    } else {
        serve_response_text_error(res, 503, "503 Service Unavailable: %s", w->unavailable);
    }
    serve_response_header(res, "Retry-After", "30");
    if (w->now_ms >= w->unavailable_logged_ms + 10000) {
        fprintf(stderr, "airfactory-serve: 503 for %s (%s): the bundle served was removed from disk, see above\n",
                sreq->path, w->ctx.blob_trouble_detail);
        w->unavailable_logged_ms = w->now_ms;
    }
}

static void handle_request(struct worker *w, struct conn *c, const struct http_request *req, const char *body,
                           size_t body_len, const struct serve_schematic_result *decoded)
{
    struct serve_request sreq;
    struct serve_response res;
    serve_response_init(&res);
    int bad = make_request(req, body, body_len, c->tls != NULL, &sreq);
    sreq.schematic = decoded;
    if (bad == 414) {
        res.route = SERVE_ROUTE_BAD_REQUEST;
        serve_response_text_error(&res, 414, "414 Request URI Too Long: the path is longer than %d bytes",
                                  SERVE_PATH_MAX - 1);
    } else if (bad) {
        res.route = SERVE_ROUTE_BAD_REQUEST;
        serve_response_text_error(&res, 400, "400 Bad Request: malformed percent-encoding in path");
    } else {
        w->ctx.blob_trouble = false;
        if (!strcmp(sreq.path, "/readyz"))
            bundle_check(w, false); /* answer for the bundle at the path now, not at the last poll */
        serve_route(&w->ctx, &sreq, &res);
        if (w->ctx.blob_trouble && bundle_check(w, false)) {
            /* the bundle was replaced under us and the new one is accepted: answer from it */
            serve_response_free(&res);
            serve_response_init(&res);
            w->ctx.blob_trouble = false;
            serve_route(&w->ctx, &sreq, &res);
        }
        if (w->ctx.blob_trouble && served_tree_replaced(w)) {
            mark_unavailable(w);
            unavailable_response(w, &sreq, &res);
        } else if (w->ctx.blob_trouble) {
            report_blob_trouble(w);
        }
    }
    prepare_response(w, c, req, &res, req->method == HTTP_METHOD_HEAD);
    serve_response_free(&res);
}

/* ---- the helper thread: POST /schematics bodies are decoded off the loop ---- */

static void run_schematic_job(struct serve_offload_job *job)
{
    struct parked *p = (struct parked *)job;
    serve_schematic_decode(p->body, p->body_len, &p->result);
}

/* Hand the request to the helper thread when its body needs decoding; true when parked. */
static bool park(struct worker *w, struct conn *c, const struct http_request *req, size_t total)
{
    struct serve_request sreq;
    if (!w->offload || make_request(req, c->in + req->head_length, (size_t)req->content_length, false, &sreq) ||
        !serve_route_decodes_schematic(&sreq))
        return false;
    struct parked *p = xcalloc(1, sizeof *p);
    p->job.run = run_schematic_job;
    p->job.owner = c;
    p->req = *req;
    p->total = total;
    p->body = c->in + req->head_length;
    p->body_len = (size_t)req->content_length;
    c->parked = p;
    c->state = ST_PARKED;
    timer_remove(w, c);
    epoll_ctl(w->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL); /* no events until the answer is ready */
    c->events = 0;
    serve_offload_submit(w->offload, &p->job);
    return true;
}

static int drive(struct worker *w, struct conn *c);
static void read_tls_pending(struct worker *w, struct conn *c);

/* The helper thread decoded a parked request's body: answer it and carry on with the connection. */
static void unpark(struct worker *w, struct conn *c)
{
    struct parked *p = c->parked;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
        conn_close(w, c);
        return;
    }
    c->events = EPOLLIN;
    handle_request(w, c, &p->req, p->body, p->body_len, &p->result);
    consume_input(c, p->total);
    release_body(w, c);
    free(p);
    c->parked = NULL;
    c->state = ST_WRITE;
    if (drive(w, c) == 0)
        read_tls_pending(w, c);
}

/* Half-close and drain what the client still sends, so our last response is not destroyed by
 * a TCP reset (closing with unread input sends RST): what nginx calls lingering close. */
static void start_linger(struct worker *w, struct conn *c)
{
    if (c->tls) {
        conn_close(w, c);
        return;
    }
    shutdown(c->fd, SHUT_WR);
    c->state = ST_LINGER;
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
    set_events(w, c, EPOLLIN);
    timer_set(w, c, TIMER_LINGER);
}

/* The connection state machine, iteratively: write the current response; then parse and answer
 * the next buffered (pipelined) request; stop when blocked or out of input. Returns -1 when the
 * connection was closed (c is freed), 0 otherwise. */
static int drive(struct worker *w, struct conn *c)
{
    for (;;) {
        if (c->state == ST_WRITE) {
            int wr = write_pending(w, c);
            if (wr < 0) {
                conn_close(w, c);
                return -1;
            }
            if (wr == 0)
                return 0;
            finish_log(c);
            reset_response(c);
            if (c->close_after) {
                bool tls = c->tls != NULL;
                start_linger(w, c);
                return tls ? -1 : 0;
            }
            c->state = ST_READ;
        }
        if (c->in_len == 0) {
            free(c->in);
            c->in = NULL;
            c->in_cap = 0;
            if (w->draining) {
                conn_close(w, c);
                return -1;
            }
            set_events(w, c, EPOLLIN);
            timer_set(w, c, TIMER_IDLE);
            return 0;
        }
        struct http_request req;
        int status = 0;
        const char *reason = "";
        uint64_t start = monotonic_ns();
        enum http_parse_result r = http_request_parse(c->in, c->in_len, &req, &status, &reason);
        if (r == HTTP_PARSE_MORE) {
            if (c->timer != TIMER_HEADER)
                timer_set(w, c, TIMER_HEADER);
            set_events(w, c, EPOLLIN);
            return 0;
        }
        if (r == HTTP_PARSE_ERROR) {
            begin_log(w, c, NULL, start);
            prepare_error(w, c, status, reason);
            c->state = ST_WRITE;
            continue;
        }
        if (req.has_content_length && req.content_length > MAX_BODY) {
            begin_log(w, c, &req, start);
            prepare_error(w, c, 413, "request body larger than 4 MiB");
            c->state = ST_WRITE;
            continue;
        }
        size_t total = req.head_length + (size_t)req.content_length;
        if (c->in_len < total) {
            if (total > c->in_cap && !c->body_reserved) {
                /* bodies are rare (POST /schematics) but up to 4 MiB: bound what one worker
                 * buffers at once, so many slow uploaders cannot exhaust memory */
                if (w->body_reserved + total > BODY_BUDGET) {
                    begin_log(w, c, &req, start);
                    prepare_error(w, c, 503, "too many request bodies in flight; retry later");
                    c->state = ST_WRITE;
                    continue;
                }
                c->body_reserved = total;
                w->body_reserved += total;
                c->in = xrealloc(c->in, total); /* exact: no doubling for bodies */
                c->in_cap = total;
            }
            ensure_capacity(c, total);
            if (req.expect_continue && !c->continue_sent && c->in_len == req.head_length) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                size_t done = 0;
                io_write(c, cont, sizeof cont - 1, &done, false); /* best effort: tiny, first write */
                c->continue_sent = true;
            }
            if (c->timer != TIMER_HEADER)
                timer_set(w, c, TIMER_HEADER);
            set_events(w, c, EPOLLIN);
            return 0;
        }
        c->continue_sent = false;
        begin_log(w, c, &req, start);
        if (park(w, c, &req, total))
            return 0;
        handle_request(w, c, &req, c->in + req.head_length, (size_t)req.content_length, NULL);
        consume_input(c, total);
        release_body(w, c);
        c->state = ST_WRITE;
    }
}

/* Read what the socket has (bounded by the buffer limits), then drive. -1 when closed. */
static int on_readable(struct worker *w, struct conn *c)
{
    if (c->state == ST_LINGER) {
        char sink[4096];
        for (int i = 0; i < 16; i++) {
            ssize_t n = recv(c->fd, sink, sizeof sink, 0);
            if (n > 0)
                continue;
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return 0;
            break;
        }
        conn_close(w, c);
        return -1;
    }
    const size_t limit = HTTP_MAX_HEAD + 16;
    for (;;) {
        if (!c->in)
            ensure_capacity(c, READ_CHUNK);
        if (c->in_len == c->in_cap) {
            /* full: grow towards the head limit; a larger buffer was sized for a body */
            if (c->in_cap >= limit)
                break;
            ensure_capacity(c, c->in_cap * 2 < limit ? c->in_cap * 2 : limit);
        }
        size_t space = c->in_cap - c->in_len;
        size_t got = 0;
        enum io_result r = io_read(c, c->in + c->in_len, space, &got);
        if (r == IO_DONE) {
            c->in_len += got;
            if (got < space && !c->tls)
                break; /* short read: the socket is drained */
            continue;
        }
        if (r == IO_AGAIN_READ)
            break;
        if (r == IO_AGAIN_WRITE) {
            set_events(w, c, EPOLLOUT);
            return 0;
        }
        /* EOF or error: an idle peer closing is normal; a half-sent request is dropped */
        conn_close(w, c);
        return -1;
    }
    return drive(w, c);
}

static void on_event(struct worker *w, struct conn *c, uint32_t events)
{
    if (c->state == ST_HANDSHAKE) {
        enum serve_tls_status s = serve_tls_handshake(c->tls);
        if (s == SERVE_TLS_OK) {
            c->state = ST_READ;
            set_events(w, c, EPOLLIN);
            timer_set(w, c, TIMER_IDLE);
            if (on_readable(w, c) != 0) /* the first request often arrives with the Finished message */
                return;
        } else if (s == SERVE_TLS_WANT_READ) {
            set_events(w, c, EPOLLIN);
            return;
        } else if (s == SERVE_TLS_WANT_WRITE) {
            set_events(w, c, EPOLLOUT);
            return;
        } else {
            conn_close(w, c);
            return;
        }
    } else if (c->state == ST_WRITE) {
        if (events & EPOLLERR) {
            conn_close(w, c);
            return;
        }
        if (drive(w, c) != 0)
            return;
    } else if (on_readable(w, c) != 0) {
        return;
    }
    read_tls_pending(w, c);
}

/* TLS may hold decrypted bytes that epoll cannot see */
static void read_tls_pending(struct worker *w, struct conn *c)
{
    while (c->state == ST_READ && c->tls && serve_tls_pending(c->tls) > 0 && c->in_len < HTTP_MAX_HEAD)
        if (on_readable(w, c) != 0)
            return;
}

/* ---- accepting ---- */

static void stop_listening(struct worker *w)
{
    if (w->listening) {
        epoll_ctl(w->epoll_fd, EPOLL_CTL_DEL, w->listen_fd, NULL);
        w->listening = false;
    }
}

/* A client at --max-conns-per-client: one best-effort 503 (plain HTTP; a TLS client just sees
 * the connection close) and close at once, so the refusal costs a descriptor for microseconds.
 * What the client already sent is read first, so the close is a FIN that lets the 503 arrive
 * (closing with unread input sends a reset); a request still on its way may still reset it.
 * Logged at most once a second per worker, with the address, so an operator sees who. */
static void refuse_client(struct worker *w, int fd, const struct sockaddr_storage *peer)
{
    static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
                              "Connection: close\r\nContent-Length: 61\r\n\r\n"
                              "too many connections from your address; close some and retry\n";
    if (!w->tls) {
        char sink[4096];
        for (int i = 0; i < 4 && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++)
            ;
        (void)!send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        shutdown(fd, SHUT_WR);
    }
    close(fd);
    serve_metrics_connection_refused();
    if (w->now_ms >= w->refusal_logged_ms + 1000) {
        char addr[128];
        format_peer(peer, addr, sizeof addr);
        fprintf(stderr, "airfactory-serve: %s holds %d connections (--max-conns-per-client); refusing more\n", addr,
                w->config->max_conns_per_client);
        w->refusal_logged_ms = w->now_ms;
    }
}

static void on_accept(struct worker *w)
{
    for (int i = 0; i < 128; i++) {
        if (w->connections >= w->config->max_connections) {
            stop_listening(w);
            return;
        }
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        int fd = accept4(w->listen_fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                fprintf(stderr,
                        "airfactory-serve: accept: %s; pausing accepts until a connection closes "
                        "(raise `ulimit -n`)\n",
                        strerror(errno));
                stop_listening(w);
            }
            return;
        }
        struct serve_client_key client;
        serve_client_key_of(&peer, &client);
        if (!serve_client_acquire(w->clients, &client, w->config->max_conns_per_client)) {
            refuse_client(w, fd, &peer);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = xcalloc(1, sizeof *c);
        c->fd = fd;
        c->client = client;
        c->file_fd = -1;
        c->timer = TIMER_NONE;
        c->peer = peer;
        c->state = ST_READ;
        if (w->tls) {
            c->tls = serve_tls_connection_new(w->tls, fd);
            if (!c->tls) {
                serve_client_release(w->clients, &client);
                close(fd);
                free(c);
                continue;
            }
            c->state = ST_HANDSHAKE;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            serve_client_release(w->clients, &client);
            serve_tls_connection_free(c->tls);
            close(fd);
            free(c);
            continue;
        }
        c->events = EPOLLIN;
        w->connections++;
        serve_metrics_connection_opened();
        timer_set(w, c, c->tls ? TIMER_HEADER : TIMER_IDLE);
    }
}

/* ---- timeouts, shutdown ---- */

static void expire_timers(struct worker *w)
{
    for (int q = 0; q < TIMER_COUNT; q++) {
        while (w->timers[q].head && w->timers[q].head->deadline_ms <= w->now_ms) {
            struct conn *c = w->timers[q].head;
            if (q == TIMER_HEADER && c->state == ST_READ && c->in_len > 0) {
                /* slow client: say so (408) and close, as Go's and nginx's servers do */
                serve_metrics_timeout();
                begin_log(w, c, NULL, monotonic_ns());
                prepare_error(w, c, 408, "request not received in time");
                c->state = ST_WRITE;
                timer_remove(w, c);
                write_pending(w, c); /* best effort; conn_close logs the 408 */
                conn_close(w, c);
                continue;
            }
            if (q != TIMER_IDLE && q != TIMER_LINGER)
                serve_metrics_timeout();
            conn_close(w, c);
        }
    }
}

static int next_timeout_ms(struct worker *w)
{
    uint64_t next = UINT64_MAX;
    for (int q = 0; q < TIMER_COUNT; q++)
        if (w->timers[q].head && w->timers[q].head->deadline_ms < next)
            next = w->timers[q].head->deadline_ms;
    if (w->draining && w->drain_deadline_ms < next)
        next = w->drain_deadline_ms;
    if (!w->draining && w->next_check_ms < next)
        next = w->next_check_ms;
    if (next == UINT64_MAX)
        return -1;
    if (next <= w->now_ms)
        return 0;
    uint64_t d = next - w->now_ms;
    return d > 60000 ? 60000 : (int)d + 1;
}

static void begin_drain(struct worker *w)
{
    if (w->draining)
        return;
    w->draining = true;
    w->drain_deadline_ms = w->now_ms + (uint64_t)w->config->shutdown_timeout_ms;
    stop_listening(w);
    if (w->listen_fd >= 0) {
        close(w->listen_fd);
        w->listen_fd = -1;
    }
    /* idle keep-alive connections have nothing in flight: close them now */
    while (w->timers[TIMER_IDLE].head)
        conn_close(w, w->timers[TIMER_IDLE].head);
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int worker_loop(struct worker *w)
{
    struct epoll_event events[256];
    for (;;) {
        if (w->draining && (w->connections == 0 || w->now_ms >= w->drain_deadline_ms))
            break;
        int n = epoll_wait(w->epoll_fd, events, 256, next_timeout_ms(w));
        update_now(w);
        uint64_t busy_start = monotonic_ns(), cpu_start = thread_cpu_ns();
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "airfactory-serve: epoll_wait: %s\n", strerror(errno));
            return -1;
        }
        for (int i = 0; i < n; i++) {
            void *p = events[i].data.ptr;
            if (p == NULL) {
                if (w->listening)
                    on_accept(w);
            } else if (p == (void *)&w->signal_fd) {
                struct signalfd_siginfo si;
                while (read(w->signal_fd, &si, sizeof si) == (ssize_t)sizeof si) {
                    if (si.ssi_signo == SIGHUP) {
                        if (!w->draining)
                            bundle_check(w, true);
                    } else {
                        begin_drain(w);
                    }
                }
            } else if (p == (void *)&w->offload) {
                for (struct serve_offload_job *job = serve_offload_finished(w->offload), *next; job; job = next) {
                    next = job->next;
                    unpark(w, job->owner);
                }
            } else {
                on_event(w, p, events[i].events);
            }
        }
        expire_timers(w);
        if (!w->draining && w->now_ms >= w->next_check_ms)
            bundle_check(w, false);
        serve_access_log_flush();
        serve_metrics_loop_iteration(monotonic_ns() - busy_start, thread_cpu_ns() - cpu_start);
    }
    /* deadline passed: drop whatever is still open; parked requests once the helper stopped */
    for (struct serve_offload_job *job = serve_offload_stop(w->offload), *next; job; job = next) {
        next = job->next;
        conn_close(w, job->owner);
    }
    w->offload = NULL;
    for (int q = 0; q < TIMER_COUNT; q++)
        while (w->timers[q].head)
            conn_close(w, w->timers[q].head);
    serve_access_log_flush();
    return 0;
}

/* ---- start-up ---- */

void serve_config_defaults(struct serve_config *config)
{
    memset(config, 0, sizeof *config);
    config->listen = "127.0.0.1:8080";
    config->workers = 1;
    config->log_format = SERVE_LOG_TEXT;
    config->header_timeout_ms = 10000;
    config->idle_timeout_ms = 75000;
    config->write_timeout_ms = 60000;
    config->shutdown_timeout_ms = 10000;
    config->max_connections = 100000;
    config->max_conns_per_client = 256;
    config->reload_poll_ms = 250;
}

static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len, struct error *err)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || !colon[1])
        return error_set(err, ERROR_INPUT, "--listen %s: expected ADDR:PORT, e.g. 0.0.0.0:8080 or [::]:8080", listen);
    char host[256];
    size_t hlen = (size_t)(colon - listen);
    if (hlen >= sizeof host)
        return error_set(err, ERROR_INPUT, "--listen %s: address too long", listen);
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    if (host[0] == '[' && hlen >= 2 && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return error_set(err, ERROR_INPUT, "--listen %s: bad port '%s'", listen, colon + 1);
    memset(ss, 0, sizeof *ss);
    if (host[0] == '\0') {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_any;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof *in6;
        return 0;
    }
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        *len = sizeof *in;
        return 0;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof *in6;
        return 0;
    }
    return error_set(err, ERROR_INPUT, "--listen %s: '%s' is not an IPv4 or IPv6 address", listen, host);
}

static int open_listener(const struct sockaddr_storage *ss, socklen_t len, const char *what, struct error *err)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return error_errno(err, errno, "--listen %s: socket", what);
    /* SO_REUSEADDR only (rebinding over TIME_WAIT). No SO_REUSEPORT: with it a second server on
     * the same address would bind silently and take a share of the connections; this way it fails
     * at start, and the workers share the one socket by inheritance. */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss->ss_family == AF_INET6) {
        int zero = 0;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    }
    if (bind(fd, (const struct sockaddr *)ss, len) != 0) {
        if (errno == EADDRINUSE)
            error_set(err, ERROR_INPUT,
                      "--listen %s: address already in use: another server (another "
                      "airfactory-serve?) listens there; stop it or choose another --listen (one server per port)",
                      what);
        else
            error_errno(err, errno, "--listen %s: bind", what);
        close(fd);
        return -1;
    }
    if (listen(fd, 4096) != 0) {
        error_errno(err, errno, "--listen %s: listen", what);
        close(fd);
        return -1;
    }
    return fd;
}

static int drop_privileges(const char *user, struct error *err)
{
    if (geteuid() != 0) {
        if (user)
            fprintf(stderr, "airfactory-serve: not root, --user %s ignored\n", user);
        return 0;
    }
    if (!user) {
        fprintf(stderr, "airfactory-serve: warning: running as root; give --user NAME (e.g. nobody) to drop "
                        "privileges after binding\n");
        return 0;
    }
    struct passwd *pw = getpwnam(user);
    if (!pw)
        return error_set(err, ERROR_INPUT, "--user %s: no such user", user);
    if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
        return error_errno(err, errno, "--user %s: cannot drop privileges", user);
    if (setuid(0) == 0)
        return error_set(err, ERROR_RUNTIME, "--user %s: privileges could be regained; refusing to run", user);
    return 0;
}

/* ---- the bundle served: opening it, and the live switch ---- */

static struct bundle_key *serve_key;             /* loaded before fork; NULL with --insecure-no-verify */
static struct bundle_index_stamp verified_index; /* the index.db serve_run verified at start */
static bool have_verified_index;

struct opened {
    struct bundle *index;
    int dir_fd, blobs_fd;
    struct bundle_index_stamp stamp;
    struct bundle_freshness fresh;
};

static bool stamp_equal(const struct bundle_index_stamp *a, const struct bundle_index_stamp *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* The identity of index.db in directory dir_fd (AT_FDCWD: path is "BUNDLE/index.db"). */
static int stamp_at(int dir_fd, const char *path, struct bundle_index_stamp *out)
{
    struct stat st;
    if (fstatat(dir_fd, path, &st, 0) != 0)
        return -1;
    out->dev = st.st_dev;
    out->ino = st.st_ino;
    out->size = st.st_size;
    out->mtime = st.st_mtim;
    return 0;
}

static void opened_close(struct opened *o)
{
    if (o->index)
        bundle_close(o->index);
    if (o->blobs_fd >= 0)
        close(o->blobs_fd);
    if (o->dir_fd >= 0)
        close(o->dir_fd);
    o->index = NULL;
    o->blobs_fd = o->dir_fd = -1;
}

/* Open the bundle now at config->bundle_dir: its directory first, so index and blobs come from
 * one tree even if another swap happens meanwhile; the signature over index.db (not again for the
 * very file serve_run verified at start); sqlite; blobs/sha256; then the downgrade rule against
 * floor (NULL: none). A tree swapped between these steps is an error; the next check retries. */
static int open_bundle(const struct serve_config *config, const struct bundle_freshness *floor, struct opened *o,
                       struct error *err)
{
    const char *dir = config->bundle_dir;
    memset(o, 0, sizeof *o);
    o->blobs_fd = -1;
    o->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (o->dir_fd < 0 && (errno == ENOENT || errno == ENOTDIR))
        return error_set(err, ERROR_INPUT, "%s: %s; give a bundle directory (airfactory build output)", dir,
                         strerror(errno));
    if (o->dir_fd < 0)
        return error_errno(err, errno, "%s: cannot open the bundle directory", dir);
    struct bundle_index_stamp here;
    if (stamp_at(o->dir_fd, "index.db", &here) != 0) {
        error_set(err, ERROR_INPUT, "%s/index.db: %s; is %s a bundle directory (airfactory build output)?", dir,
                  strerror(errno), dir);
        goto fail;
    }
    if (have_verified_index && stamp_equal(&here, &verified_index))
        o->stamp = here;
    else if (serve_key) {
        if (bundle_verify_index(dir, serve_key, &o->stamp, err) != 0)
            goto fail;
    } else {
        o->stamp = here;
    }
    if (!stamp_equal(&o->stamp, &here)) {
        error_set(err, ERROR_RUNTIME, "%s was replaced again while it was checked; trying again", dir);
        goto fail;
    }
    if (bundle_open_in_place(dir, &o->index, err) != 0)
        goto fail;
    if (stamp_at(o->dir_fd, "index.db", &here) != 0 || !stamp_equal(&here, &o->stamp) ||
        !bundle_index_stamp_matches(dir, &o->stamp)) {
        error_set(err, ERROR_RUNTIME, "%s was replaced again while it was opened; trying again", dir);
        goto fail;
    }
    o->blobs_fd = openat(o->dir_fd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (o->blobs_fd < 0) {
        error_set(err, ERROR_INPUT, "%s/blobs/sha256: %s; is this a complete bundle?", dir, strerror(errno));
        goto fail;
    }
    if (bundle_read_freshness(o->index, &o->fresh, err) != 0)
        goto fail;
    if (floor && !config->allow_downgrade &&
        bundle_freshness_check_not_older(dir, &o->fresh, "the bundle served", floor, err) != 0)
        goto fail;
    return 0;
fail:
    opened_close(o);
    return -1;
}

/* Make o the bundle the worker answers from. Nothing else holds the previous one: a response
 * being sent owns its own descriptor of its blob file (unlinked files stay readable), parked
 * requests are answered from whatever is current when they resume. */
static void install_bundle(struct worker *w, struct opened *o)
{
    if (w->ctx.index)
        bundle_close(w->ctx.index);
    if (w->ctx.blobs_fd >= 0)
        close(w->ctx.blobs_fd);
    if (w->ctx.bundle_fd >= 0)
        close(w->ctx.bundle_fd);
    serve_pxe_cache_clear();
    serve_blob_cache_clear();
    w->ctx.index = o->index;
    w->ctx.blobs_fd = o->blobs_fd;
    w->ctx.bundle_fd = o->dir_fd;
    w->stamp = o->stamp;
    w->fresh = o->fresh;
    w->have_refused = false;
    w->ctx.refused = NULL;
    w->ctx.unavailable = NULL;
    o->index = NULL;
    o->blobs_fd = o->dir_fd = -1;
}

/* Is there a new bundle at the path? Switch to it if it verifies and is not older; else keep
 * the one served, log why once, and report it (/metrics, /readyz). forced (SIGHUP) re-checks a
 * bundle already refused. True when the worker switched. Runs between requests. */
static bool bundle_check(struct worker *w, bool forced)
{
    const struct serve_config *config = w->config;
    w->next_check_ms = w->now_ms + (uint64_t)config->reload_poll_ms;
    struct bundle_index_stamp now;
    char *index_path = xasprintf("%s/index.db", config->bundle_dir);
    int found = stamp_at(AT_FDCWD, index_path, &now);
    free(index_path);
    if (found != 0) {
        if (forced)
            fprintf(stderr, "airfactory-serve: reload: %s/index.db: %s; still serving generation %llu\n",
                    config->bundle_dir, strerror(errno), (unsigned long long)w->fresh.generation);
        return false; /* between the two renames of a swap without RENAME_EXCHANGE, or gone */
    }
    if (stamp_equal(&now, &w->stamp)) {
        if (w->have_refused) { /* the refused bundle was taken away again: nothing to report */
            fprintf(stderr, "airfactory-serve: %s holds the bundle served again (generation %llu)\n",
                    config->bundle_dir, (unsigned long long)w->fresh.generation);
            w->have_refused = false;
            w->ctx.refused = NULL;
            serve_metrics_bundle_unrefused();
        }
        if (forced)
            fprintf(stderr, "airfactory-serve: reload: %s is unchanged (generation %llu)\n", config->bundle_dir,
                    (unsigned long long)w->fresh.generation);
        return false;
    }
    struct stat served;
    if (!forced && w->have_refused && stamp_equal(&now, &w->refused_stamp)) {
        if (!w->ctx.unavailable && fstat(w->ctx.bundle_fd, &served) == 0 && served.st_nlink == 0)
            mark_unavailable(w); /* the writer has removed the tree served by now */
        return false;
    }
    struct opened o;
    struct error err;
    error_clear(&err);
    struct bundle_freshness floor = w->fresh;
    if (open_bundle(config, &floor, &o, &err) != 0) {
        bool again = w->have_refused && !strcmp(w->refused_reason, err.message);
        w->have_refused = true;
        w->refused_stamp = now;
        snprintf(w->refused_reason, sizeof w->refused_reason, "%s", err.message);
        w->ctx.refused = w->refused_reason;
        serve_metrics_bundle_switch(false);
        if (!again || forced)
            fprintf(stderr, "airfactory-serve: the bundle now at %s is refused, still serving generation %llu: %s\n",
                    config->bundle_dir, (unsigned long long)w->fresh.generation, err.message);
        if (!w->ctx.unavailable && fstat(w->ctx.bundle_fd, &served) == 0 && served.st_nlink == 0)
            mark_unavailable(w);
        return false;
    }
    char was[96], is[96];
    bundle_freshness_describe(&w->fresh, was, sizeof was);
    bundle_freshness_describe(&o.fresh, is, sizeof is);
    install_bundle(w, &o);
    serve_metrics_bundle_served(w->fresh.generation, w->fresh.built_at);
    serve_metrics_bundle_switch(true);
    fprintf(stderr, "airfactory-serve: switched to the new bundle at %s (%s; was %s)\n", config->bundle_dir, is, was);
    return true;
}

static int worker_main(const struct serve_config *config, int listen_fd, struct serve_tls_context *tls,
                       const sigset_t *signals)
{
    struct worker w;
    memset(&w, 0, sizeof w);
    w.config = config;
    w.listen_fd = listen_fd;
    w.tls = tls;
    w.timers[TIMER_IDLE].timeout_ms = (uint64_t)config->idle_timeout_ms;
    w.timers[TIMER_HEADER].timeout_ms = (uint64_t)config->header_timeout_ms;
    w.timers[TIMER_WRITE].timeout_ms = (uint64_t)config->write_timeout_ms;
    w.timers[TIMER_LINGER].timeout_ms = LINGER_MS;
    w.ctx.external_url = config->external_url;
    w.ctx.requests_dir = config->requests_dir;
    w.ctx.server_name = "airfactory-serve/" AIRFACTORY_VERSION;
    if (getrandom(&w.rng, sizeof w.rng, 0) != (ssize_t)sizeof w.rng || w.rng == 0)
        w.rng = monotonic_ns() | 1;
    update_now(&w);

    struct error err = {0};
    /* a worker restarted after a live switch must not go back below what was served */
    struct bundle_freshness floor;
    serve_metrics_bundle_get(&floor.generation, &floor.built_at);
    struct opened o;
    w.ctx.blobs_fd = w.ctx.bundle_fd = -1;
    if (open_bundle(config, &floor, &o, &err) != 0) {
        fprintf(stderr, "airfactory-serve: %s\n", err.message);
        return 1;
    }
    install_bundle(&w, &o);
    w.next_check_ms = w.now_ms + (uint64_t)config->reload_poll_ms;
    w.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    w.signal_fd = signalfd(-1, signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (w.epoll_fd < 0 || w.signal_fd < 0) {
        fprintf(stderr, "airfactory-serve: epoll/signalfd: %s\n", strerror(errno));
        return 1;
    }
    /* workers share one socket: wake one of them per connection, not all */
    w.listen_events = EPOLLIN | (config->workers > 1 ? EPOLLEXCLUSIVE : 0);
    struct epoll_event ev = {.events = w.listen_events, .data.ptr = NULL};
    epoll_ctl(w.epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev);
    w.listening = true;
    struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &w.signal_fd};
    epoll_ctl(w.epoll_fd, EPOLL_CTL_ADD, w.signal_fd, &sev);
    w.clients = serve_client_table_new();
    if (serve_offload_start(&w.offload, &err) != 0) {
        fprintf(stderr, "airfactory-serve: %s\n", err.message);
        return 1;
    }
    struct epoll_event oev = {.events = EPOLLIN, .data.ptr = &w.offload};
    epoll_ctl(w.epoll_fd, EPOLL_CTL_ADD, serve_offload_fd(w.offload), &oev);

    int rc = worker_loop(&w) == 0 ? 0 : 1;
    serve_client_table_free(w.clients);
    if (w.listen_fd >= 0)
        close(w.listen_fd);
    close(w.signal_fd);
    close(w.epoll_fd);
    close(w.ctx.blobs_fd);
    close(w.ctx.bundle_fd);
    bundle_close(w.ctx.index);
    return rc;
}

int serve_run(const struct serve_config *config, struct error *err)
{
    uint64_t t0 = monotonic_ns();
    if (config->workers < 1 || config->workers > 256)
        return error_set(err, ERROR_INPUT, "--workers %d: expected 1..256", config->workers);
    if (config->requests_dir && serve_requests_dir_check(config->requests_dir, config->bundle_dir, err) != 0)
        return -1;
    /* 1. the bundle: signature first, then a trial open of the index (fail before binding) */
    if (config->insecure_no_verify) {
        fprintf(stderr,
                "airfactory-serve: WARNING: --insecure-no-verify: the bundle signature is NOT checked; "
                "anyone who could write to %s can change what machines boot\n",
                config->bundle_dir);
    } else {
        if (!config->key_path)
            return error_set(err, ERROR_INPUT,
                             "no --key: give the bundle's public key (--key bundle.pub) so the "
                             "signature of index.db is checked, or --insecure-no-verify to skip the check");
        /* index.db pins every blob by digest and size, so its signature vouches for the whole
         * bundle without reading a blob: start-up time does not grow with the bundle. The key
         * stays loaded: workers check every new bundle at the path with it (live switch). */
        if (bundle_key_load_public(config->key_path, &serve_key, err) != 0)
            return error_prefix(err, "refusing to serve %s: ", config->bundle_dir);
        if (bundle_verify_index(config->bundle_dir, serve_key, &verified_index, err) != 0)
            return error_prefix(err, "refusing to serve %s: ", config->bundle_dir);
        have_verified_index = true;
    }
    if (config->reload_poll_ms < 1)
        return error_set(err, ERROR_INPUT, "reload poll interval %d ms: expected at least 1", config->reload_poll_ms);
    if (serve_metrics_init(err) != 0)
        return -1;
    struct opened probe;
    if (open_bundle(config, NULL, &probe, err) != 0)
        return -1;
    serve_metrics_bundle_served(probe.fresh.generation, probe.fresh.built_at);
    char fresh_text[96];
    bundle_freshness_describe(&probe.fresh, fresh_text, sizeof fresh_text);
    opened_close(&probe);

    struct serve_tls_context *tls = NULL;
    if ((config->tls_cert != NULL) != (config->tls_key != NULL))
        return error_set(err, ERROR_INPUT, "--tls-cert and --tls-key go together");
    if (config->tls_cert && serve_tls_context_new(config->tls_cert, config->tls_key, &tls, err) != 0)
        return -1;
    serve_access_log_init(config->log_format);

    /* 2. the listener: one socket, bound while we may still be root, shared by the workers */
    struct sockaddr_storage ss;
    socklen_t slen = 0;
    if (parse_listen(config->listen, &ss, &slen, err) != 0)
        return -1;
    int listen_fd = open_listener(&ss, slen, config->listen, err);
    if (listen_fd < 0) {
        serve_tls_context_free(tls);
        return -1;
    }
    socklen_t l = slen;
    getsockname(listen_fd, (struct sockaddr *)&ss, &l); /* port 0: the one the kernel picked */
    if (drop_privileges(config->user, err) != 0) {
        close(listen_fd);
        serve_tls_context_free(tls);
        return -1;
    }

    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP); /* re-check the bundle at the path now */
    sigprocmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    char addr[128];
    format_peer(&ss, addr, sizeof addr);
    fprintf(stderr, "airfactory-serve: serving %s (%s) on %s://%s (%d worker%s, ready in %.1f ms)\n",
            config->bundle_dir, fresh_text, tls ? "https" : "http", addr, config->workers,
            config->workers == 1 ? "" : "s", (double)(monotonic_ns() - t0) / 1e6);

    int rc = 0;
    if (config->workers == 1) {
        rc = worker_main(config, listen_fd, tls, &signals);
        listen_fd = -1; /* closed by the worker when it drained */
    } else {
        /* master: start workers, forward SIGTERM/SIGINT, restart a worker that dies unexpectedly */
        sigset_t master_signals = signals;
        sigaddset(&master_signals, SIGCHLD);
        sigprocmask(SIG_BLOCK, &master_signals, NULL);
        pid_t *pids = xcalloc((size_t)config->workers, sizeof *pids);
        for (int i = 0; i < config->workers; i++) {
            pids[i] = fork();
            if (pids[i] == 0)
                _exit(worker_main(config, listen_fd, tls, &signals));
        }
        bool stopping = false;
        int alive = config->workers;
        while (alive > 0) {
            int sig = 0;
            struct timespec ts = {1, 0};
            siginfo_t info;
            sig = sigtimedwait(&master_signals, &info, &ts);
            if (sig == SIGHUP && !stopping)
                for (int i = 0; i < config->workers; i++)
                    if (pids[i] > 0)
                        kill(pids[i], SIGHUP);
            if (sig == SIGTERM || sig == SIGINT) {
                if (!stopping) {
                    stopping = true;
                    if (listen_fd >= 0)
                        close(listen_fd); /* the master's copy must not keep queueing connections */
                    listen_fd = -1;
                    for (int i = 0; i < config->workers; i++)
                        if (pids[i] > 0)
                            kill(pids[i], SIGTERM);
                }
            }
            for (;;) {
                int status = 0;
                pid_t pid = waitpid(-1, &status, WNOHANG);
                if (pid <= 0)
                    break;
                for (int i = 0; i < config->workers; i++) {
                    if (pids[i] != pid)
                        continue;
                    pids[i] = -1;
                    if (!stopping && WIFSIGNALED(status)) {
                        fprintf(stderr,
                                "airfactory-serve: worker %d (pid %d) killed by signal %d; "
                                "restarting it\n",
                                i, (int)pid, WTERMSIG(status));
                        pid_t np = fork();
                        if (np == 0)
                            _exit(worker_main(config, listen_fd, tls, &signals));
                        pids[i] = np;
                    } else {
                        alive--;
                        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                            rc = 1;
                            if (!stopping) { /* a worker could not start: stop them all */
                                stopping = true;
                                for (int k = 0; k < config->workers; k++)
                                    if (pids[k] > 0)
                                        kill(pids[k], SIGTERM);
                            }
                        }
                    }
                }
            }
        }
        free(pids);
    }
    if (listen_fd >= 0)
        close(listen_fd);
    serve_tls_context_free(tls);
    fprintf(stderr, "airfactory-serve: stopped\n");
    if (rc != 0)
        return error_set(err, ERROR_RUNTIME, "a worker failed; see the messages above");
    return 0;
}
