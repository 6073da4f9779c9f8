/* access_log — see serve_access_log.h. */
#include "serve/serve_access_log.h"

#include <errno.h>
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

static void text_escaped(struct buffer *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            buffer_appendf(out, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            buffer_appendf(out, "\\x%02x", c);
        else
            buffer_append_char(out, (char)c);
    }
}

void serve_access_log_write(const struct serve_access_log_entry *e, uint64_t end_ns)
{
    if (log_format == SERVE_LOG_NONE)
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    double duration = end_ns > e->start_ns ? (double)(end_ns - e->start_ns) / 1e9 : 0.0;
    char proto[32];
    if (e->version_minor >= 0)
        snprintf(proto, sizeof proto, "HTTP/1.%d", e->version_minor);
    else
        snprintf(proto, sizeof proto, "-");
    if (log_format == SERVE_LOG_JSON) {
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
        char when[64];
        strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S +0000", &tm);
        buffer_appendf(&pending, "%s - - [%s] \"", e->remote, when);
        text_escaped(&pending, e->method[0] ? e->method : "-");
        buffer_append_char(&pending, ' ');
        text_escaped(&pending, e->target[0] ? e->target : "-");
        buffer_appendf(&pending, " %s\" %d %llu \"-\" \"", proto, e->status, (unsigned long long)e->bytes);
        text_escaped(&pending, e->user_agent[0] ? e->user_agent : "-");
        buffer_appendf(&pending, "\" %.6f %s\n", duration, e->request_id[0] ? e->request_id : "-");
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
