/* Unit tests for src/serve/access_log.c: the text line is byte-for-byte the combined log format
 * the printf reference below spells out (field by field, with the escapes), for plain and hostile
 * fields; the line is read back from stderr (redirected to a file). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "airfactory/buffer.h"
#include "serve/serve_access_log.h"
#include "test.h"

/* The reference: what the text format is specified to be (printf, one escape per byte). */
static void reference_escaped(struct buffer *out, const char *s)
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

/* The line after its "[time]" field, as the reference formats it. */
static void reference_tail(struct buffer *out, const struct serve_access_log_entry *e, uint64_t duration_ns)
{
    char proto[32];
    if (e->version_minor >= 0)
        snprintf(proto, sizeof proto, "HTTP/1.%d", e->version_minor);
    else
        snprintf(proto, sizeof proto, "-");
    buffer_append_str(out, " \"");
    reference_escaped(out, e->method[0] ? e->method : "-");
    buffer_append_char(out, ' ');
    reference_escaped(out, e->target[0] ? e->target : "-");
    buffer_appendf(out, " %s\" %d %llu \"-\" \"", proto, e->status, (unsigned long long)e->bytes);
    reference_escaped(out, e->user_agent[0] ? e->user_agent : "-");
    buffer_appendf(out, "\" %.6f %s\n", (double)duration_ns / 1e9, e->request_id[0] ? e->request_id : "-");
}

/* Log e through the module with stderr pointing at a file; the line read back. */
static char *logged_line(const struct serve_access_log_entry *e, uint64_t end_ns)
{
    char path[] = "/tmp/airfactory-test-access-log.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return NULL;
    unlink(path);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    serve_access_log_write(e, end_ns);
    serve_access_log_flush();
    dup2(saved, STDERR_FILENO);
    close(saved);
    char *line = calloc(1, 8192);
    ssize_t n = pread(fd, line, 8191, 0);
    close(fd);
    CHECK(n > 0);
    return line;
}

static void check_entry(const struct serve_access_log_entry *e, uint64_t duration_ns)
{
    char *line = logged_line(e, e->start_ns + duration_ns);
    if (!line)
        return;
    /* "<remote> - - [dd/Mon/yyyy:hh:mm:ss +0000]" then the tail */
    struct buffer head = BUFFER_INIT, tail = BUFFER_INIT;
    buffer_appendf(&head, "%s - - [", e->remote);
    CHECK(strncmp(line, buffer_cstr(&head), head.len) == 0);
    const char *close_bracket = strstr(line + head.len, "]");
    CHECK(close_bracket && close_bracket - (line + head.len) == (long)strlen("07/Dec/2026:23:59:59 +0000"));
    CHECK(close_bracket && strncmp(close_bracket - 6, " +0000", 6) == 0);
    reference_tail(&tail, e, duration_ns);
    if (close_bracket)
        CHECK_STR(close_bracket + 1, buffer_cstr(&tail));
    buffer_free(&head);
    buffer_free(&tail);
    free(line);
}

static void text_lines_match_the_format(void)
{
    serve_access_log_init(SERVE_LOG_TEXT);
    struct serve_access_log_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.remote, sizeof e.remote, "127.0.0.1:54321");
    snprintf(e.method, sizeof e.method, "GET");
    snprintf(e.target, sizeof e.target, "/image/%064x/v1.11.3/kernel-amd64", 7);
    snprintf(e.user_agent, sizeof e.user_agent, "wrk");
    snprintf(e.request_id, sizeof e.request_id, "0b7c1c3e-1f0e-4d4f-9a7a-3f6f0d5c2e11");
    e.version_minor = 1;
    e.status = 200;
    e.bytes = 312;
    e.start_ns = 1000;
    check_entry(&e, 184000);
    check_entry(&e, 0);
    check_entry(&e, 499);             /* rounds down to 0.000000 */
    check_entry(&e, 1500);            /* 0.000002 (half up) */
    check_entry(&e, 12345678912ull);  /* 12.345679 */
    check_entry(&e, 999999999999ull); /* 1000.000000 */

    /* hostile and empty fields: quotes, backslashes, control and non-ASCII bytes, no version */
    snprintf(e.remote, sizeof e.remote, "[::1]:8080");
    e.method[0] = '\0';
    snprintf(e.target, sizeof e.target, "/a\"b\\c\x01\x7f\xc3\xa9 d");
    snprintf(e.user_agent, sizeof e.user_agent, "\"\\\"\t\x1b[31m");
    e.request_id[0] = '\0';
    e.version_minor = -1;
    e.status = 400;
    e.bytes = 18446744073709551615ull;
    check_entry(&e, 2000000);
    e.target[0] = '\0';
    e.user_agent[0] = '\0';
    e.version_minor = 0;
    e.status = 499;
    e.bytes = 0;
    check_entry(&e, 3);
}

int main(void)
{
    RUN(text_lines_match_the_format);
    return TEST_MAIN_END();
}
