/* serve_access_log — one line per answered request on stderr, text or JSON.
 *
 * Lines are gathered in a per-process buffer and written with one write(2) per event-loop turn
 * (or when the buffer fills), so logging costs no syscall per request under load, and a line is
 * never split between two worker processes (writes are whole lines, at most PIPE_BUF bytes).
 * Text is the combined log format plus duration and request ID; JSON has one object per line. */
#ifndef AIRFACTORY_SERVE_ACCESS_LOG_H
#define AIRFACTORY_SERVE_ACCESS_LOG_H

#include <stdint.h>

#include "airfactory/serve.h"

struct serve_access_log_entry {
    char remote[64]; /* "addr:port" */
    char method[16];
    char target[1024];    /* truncated */
    char user_agent[256]; /* truncated */
    char request_id[48];
    int version_minor; /* -1 unknown (unparsable request) */
    int status;
    uint64_t bytes; /* bytes written to the socket (head + body) */
    const char *route;
    uint64_t start_ns; /* CLOCK_MONOTONIC */
    int tls;
};

void serve_access_log_init(enum serve_log_format format);
void serve_access_log_write(const struct serve_access_log_entry *entry, uint64_t end_ns);
void serve_access_log_flush(void);

#endif
