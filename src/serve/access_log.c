/* access_log — see serve_access_log.h. */
#include "serve/serve_access_log.h"

#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "airfactory/buffer.h"
#include "core/json.h"

static enum serve_log_format log_format = SERVE_LOG_TEXT;
static struct buffer pending = BUFFER_INIT;

void serve_access_log_init(enum serve_log_format format)
{
    log_format = format;
}

/* The text line is put together with memcpy and hand-written number formatting: it is written
 * for every request, and printf-style formatting of its ten fields was a tenth of the server's
 * CPU time on small files. The bytes are exactly what the format strings in the comments say. */

/* Bytes a text field may hold as they are: printable ASCII but '"' and '\\'. */
static bool text_plain(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* s with '"' and '\\' backslash-escaped and other bytes outside printable ASCII as \xHH */
static void text_escaped(struct buffer *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    while (*s) {
        const char *run = s;
        while (*s && text_plain((unsigned char)*s))
            s++;
        if (s > run)
            buffer_append(out, run, (size_t)(s - run));
        if (!*s)
            break;
        unsigned char c = (unsigned char)*s++;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            buffer_append(out, esc, 2);
        } else {
            char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            buffer_append(out, esc, 4);
        }
    }
}

/* "%d" */
static void append_int(struct buffer *out, int v)
{
    if (v < 0) {
        buffer_append_char(out, '-');
        buffer_append_u64(out, (uint64_t)0 - (uint64_t)(int64_t)v);
    } else {
        buffer_append_u64(out, (uint64_t)v);
    }
}

/* "%.6f" of ns / 1e9 seconds, rounded to the microsecond */
static void append_seconds6(struct buffer *out, uint64_t ns)
{
    uint64_t us = (ns + 500) / 1000;
    buffer_append_u64(out, us / 1000000);
    char frac[7];
    uint64_t f = us % 1000000;
    for (int i = 5; i >= 0; i--) {
        frac[1 + i] = (char)('0' + f % 10);
        f /= 10;
    }
    frac[0] = '.';
    buffer_append(out, frac, sizeof frac);
}

/* The "[%d/%b/%Y:%H:%M:%S +0000]" time, formatted once per second. */
static const char *text_time(time_t now)
{
    static time_t second = (time_t)-1;
    static char when[64];
    if (now != second) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S +0000", &tm);
        second = now;
    }
    return when;
}

static void text_line(const struct serve_access_log_entry *e, time_t now, uint64_t duration_ns)
{
    /* "%s - - [%s] \"" */
    buffer_append_str(&pending, e->remote);
    buffer_append(&pending, " - - [", 6);
    buffer_append_str(&pending, text_time(now));
    buffer_append(&pending, "] \"", 3);
    text_escaped(&pending, e->method[0] ? e->method : "-");
    buffer_append_char(&pending, ' ');
    text_escaped(&pending, e->target[0] ? e->target : "-");
    /* " %s\" %d %llu \"-\" \"" with proto "HTTP/1.%d" or "-" */
    if (e->version_minor >= 0) {
        buffer_append(&pending, " HTTP/1.", 8);
        append_int(&pending, e->version_minor);
    } else {
        buffer_append(&pending, " -", 2);
    }
    buffer_append(&pending, "\" ", 2);
    append_int(&pending, e->status);
    buffer_append_char(&pending, ' ');
    buffer_append_u64(&pending, e->bytes);
    buffer_append(&pending, " \"-\" \"", 6);
    text_escaped(&pending, e->user_agent[0] ? e->user_agent : "-");
    /* "\" %.6f %s\n" */
    buffer_append(&pending, "\" ", 2);
    append_seconds6(&pending, duration_ns);
    buffer_append_char(&pending, ' ');
    buffer_append_str(&pending, e->request_id[0] ? e->request_id : "-");
    buffer_append_char(&pending, '\n');
}

void serve_access_log_write(const struct serve_access_log_entry *e, uint64_t end_ns)
{
    if (log_format == SERVE_LOG_NONE)
        return;
    uint64_t duration_ns = end_ns > e->start_ns ? end_ns - e->start_ns : 0;
    if (log_format == SERVE_LOG_JSON) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        struct tm tm;
        gmtime_r(&tv.tv_sec, &tm);
        double duration = (double)duration_ns / 1e9;
        char proto[32];
        if (e->version_minor >= 0)
            snprintf(proto, sizeof proto, "HTTP/1.%d", e->version_minor);
        else
            snprintf(proto, sizeof proto, "-");
        char when[64];
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        struct json_writer w;
        json_writer_init(&w, &pending);
        w.escape_html = false;
        json_object_begin(&w);
        char ts[128];
        snprintf(ts, sizeof ts, "%s.%03dZ", when, (int)(tv.tv_usec / 1000) % 1000);
        json_kv_string(&w, "time", ts);
        json_kv_string(&w, "remote", e->remote);
        json_kv_string(&w, "method", e->method[0] ? e->method : "-");
        json_kv_string(&w, "path", e->target[0] ? e->target : "-");
        json_kv_string(&w, "proto", proto);
        json_kv_int(&w, "status", e->status);
        json_kv_int(&w, "bytes", (int64_t)e->bytes);
        json_key(&w, "duration_ms");
        char d[32];
        snprintf(d, sizeof d, "%.3f", duration * 1000.0);
        json_raw(&w, d);
        json_kv_string(&w, "route", e->route ? e->route : "-");
        json_kv_string(&w, "user_agent", e->user_agent);
        json_kv_string(&w, "request_id", e->request_id);
        json_kv_bool(&w, "tls", e->tls != 0);
        json_object_end(&w);
        buffer_append_char(&pending, '\n');
    } else {
        text_line(e, time(NULL), duration_ns);
    }
    if (pending.len > 32768)
        serve_access_log_flush();
}

void serve_access_log_flush(void)
{
    /* Write whole lines in pieces of at most PIPE_BUF bytes: such writes to a pipe are atomic, so
     * lines of several worker processes sharing stderr never interleave mid-line. */
    size_t off = 0;
    while (off < pending.len) {
        size_t n = pending.len - off;
        if (n > PIPE_BUF) {
            const char *start = pending.data + off;
            const char *nl = memrchr(start, '\n', PIPE_BUF);
            n = nl ? (size_t)(nl - start) + 1 : PIPE_BUF; /* a single line longer than PIPE_BUF */
        }
        ssize_t w = write(STDERR_FILENO, pending.data + off, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* stderr gone or full: drop the log rather than stall the server */
        off += (size_t)w;
    }
    buffer_reset(&pending);
}
