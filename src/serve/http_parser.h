/* http_parser — strict, allocation-free parsing of one HTTP/1.x request head.
 *
 * The parser owns nothing: it reads a byte range and points into it. The server calls it on
 * whatever bytes it has; "need more" is an answer, not an error, so slow clients and pipelined
 * requests need no special cases. Anything ambiguous is refused rather than guessed (request
 * smuggling lives in the gaps between lenient parsers): bare CR, obs-fold, whitespace before a
 * colon, conflicting Content-Length, Transfer-Encoding together with Content-Length, a missing or
 * repeated Host on HTTP/1.1. Each refusal carries the status code to answer with:
 * 400 malformed, 414 request line too long, 431 header section too long or too many headers,
 * 501 transfer codings we do not implement, 505 other HTTP versions. */
#ifndef AIRFACTORY_HTTP_PARSER_H
#define AIRFACTORY_HTTP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_REQUEST_LINE 8192  /* bytes, including CRLF */
#define HTTP_MAX_HEADER_BYTES 16384 /* header section after the request line, including CRLFs */
#define HTTP_MAX_HEADERS 100
#define HTTP_MAX_HEAD (HTTP_MAX_REQUEST_LINE + HTTP_MAX_HEADER_BYTES)

enum http_method {
    HTTP_METHOD_OTHER = 0,
    HTTP_METHOD_GET,
    HTTP_METHOD_HEAD,
    HTTP_METHOD_POST,
    HTTP_METHOD_PUT,
    HTTP_METHOD_PATCH,
    HTTP_METHOD_DELETE,
    HTTP_METHOD_OPTIONS,
};

struct http_string {
    const char *data; /* points into the parsed bytes; NOT NUL-terminated */
    size_t len;
};

struct http_header {
    struct http_string name;  /* as sent; compare case-insensitively */
    struct http_string value; /* leading/trailing whitespace removed */
};

struct http_request {
    enum http_method method;
    struct http_string method_text;
    struct http_string target; /* request-target as sent: "/path?query" or "*" */
    struct http_string path;   /* target up to '?', still percent-encoded */
    struct http_string query;  /* after '?', without it; len 0 when absent */
    int version_minor;         /* 0 or 1 (HTTP/1.x) */
    size_t header_count;
    struct http_header headers[HTTP_MAX_HEADERS];
    size_t head_length; /* bytes of request line + headers + final CRLF */
    bool has_content_length;
    uint64_t content_length;
    bool keep_alive;      /* after Connection header and version defaults */
    bool expect_continue; /* "Expect: 100-continue" */
    struct http_string host;
};

enum http_parse_result {
    HTTP_PARSE_DONE = 0,  /* *request filled; request->head_length bytes consumed */
    HTTP_PARSE_MORE = 1,  /* the head is incomplete and within limits: read more */
    HTTP_PARSE_ERROR = 2, /* malformed: answer *status and close the connection */
};

/* Parse the request head at the start of data[0..len). On HTTP_PARSE_ERROR *status is 400, 414,
 * 431, 501 or 505 and *reason a short static explanation (for the error body and the log). */
enum http_parse_result http_request_parse(const char *data, size_t len, struct http_request *request, int *status,
                                          const char **reason);

/* Case-insensitive header lookup; the first occurrence, or NULL. */
const struct http_header *http_request_header(const struct http_request *request, const char *name);
bool http_string_equals(struct http_string s, const char *literal);
bool http_string_equals_nocase(struct http_string s, const char *literal);

/* Percent-decode src into dst (capacity dst_cap, NUL-terminated). Rejects malformed escapes,
 * %00 and, when path is true, an encoded '/' (it would change how the path splits into
 * segments). plus_is_space decodes '+' as ' ' (query strings). Returns the length or -1. */
long http_percent_decode(const char *src, size_t len, char *dst, size_t dst_cap, bool path, bool plus_is_space);

/* Find parameter name in a raw query string and decode its value into dst. Returns the length,
 * -1 when absent, -2 when malformed or too long. */
long http_query_get(struct http_string query, const char *name, char *dst, size_t dst_cap);

/* The standard reason phrase ("Not Found"), or "Unknown". */
const char *http_status_text(int status);

#endif
