/* http_parser — see http_parser.h. */
#include "serve/http_parser.h"

#include <string.h>
#include <strings.h>

#include "core/digest.h"

/* RFC 9110 tchar */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_field_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

bool http_string_equals(struct http_string s, const char *literal)
{
    size_t n = strlen(literal);
    return s.len == n && memcmp(s.data, literal, n) == 0;
}

bool http_string_equals_nocase(struct http_string s, const char *literal)
{
    size_t n = strlen(literal);
    return s.len == n && strncasecmp(s.data, literal, n) == 0;
}

const struct http_header *http_request_header(const struct http_request *request, const char *name)
{
    for (size_t i = 0; i < request->header_count; i++)
        if (http_string_equals_nocase(request->headers[i].name, name))
            return &request->headers[i];
    return NULL;
}

static enum http_parse_result fail(int *status, const char **reason, int code, const char *why)
{
    *status = code;
    *reason = why;
    return HTTP_PARSE_ERROR;
}

static enum http_method method_from(struct http_string m)
{
    static const struct {
        const char *name;
        enum http_method method;
    } table[] = {
        {"GET", HTTP_METHOD_GET},         {"HEAD", HTTP_METHOD_HEAD},   {"POST", HTTP_METHOD_POST},
        {"PUT", HTTP_METHOD_PUT},         {"PATCH", HTTP_METHOD_PATCH}, {"DELETE", HTTP_METHOD_DELETE},
        {"OPTIONS", HTTP_METHOD_OPTIONS},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (http_string_equals(m, table[i].name)) /* methods are case-sensitive */
            return table[i].method;
    return HTTP_METHOD_OTHER;
}

/* Iterate comma-separated tokens of a header value; true when one equals token (nocase). */
static bool list_has_token(struct http_string value, const char *token)
{
    size_t i = 0;
    while (i < value.len) {
        while (i < value.len && (value.data[i] == ' ' || value.data[i] == '\t' || value.data[i] == ','))
            i++;
        size_t start = i;
        while (i < value.len && value.data[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (value.data[end - 1] == ' ' || value.data[end - 1] == '\t'))
            end--;
        struct http_string t = {value.data + start, end - start};
        if (t.len > 0 && http_string_equals_nocase(t, token))
            return true;
    }
    return false;
}

static enum http_parse_result parse_request_line(const char *line, size_t n, struct http_request *r, int *status,
                                                 const char **reason)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)line[i]))
        i++;
    if (i == 0 || i >= n || line[i] != ' ')
        return fail(status, reason, 400, "malformed request line");
    r->method_text = (struct http_string){line, i};
    r->method = method_from(r->method_text);
    size_t t = ++i;
    while (i < n && line[i] != ' ') {
        unsigned char c = (unsigned char)line[i];
        if (c <= 0x20 || c >= 0x7f)
            return fail(status, reason, 400, "invalid character in request target");
        i++;
    }
    if (i == t || i >= n)
        return fail(status, reason, 400, "malformed request line");
    r->target = (struct http_string){line + t, i - t};
    i++;
    struct http_string version = {line + i, n - i};
    if (http_string_equals(version, "HTTP/1.1")) {
        r->version_minor = 1;
    } else if (http_string_equals(version, "HTTP/1.0")) {
        r->version_minor = 0;
    } else if (version.len == 8 && memcmp(version.data, "HTTP/", 5) == 0 && version.data[5] >= '0' &&
               version.data[5] <= '9' && version.data[6] == '.' && version.data[7] >= '0' && version.data[7] <= '9') {
        return fail(status, reason, 505, "HTTP version not supported");
    } else {
        return fail(status, reason, 400, "malformed HTTP version");
    }
    if (r->target.data[0] == '/') {
        const char *q = memchr(r->target.data, '?', r->target.len);
        size_t plen = q ? (size_t)(q - r->target.data) : r->target.len;
        r->path = (struct http_string){r->target.data, plen};
        r->query = q ? (struct http_string){q + 1, r->target.len - plen - 1} : (struct http_string){"", 0};
        /* a fragment is never sent by a conforming client */
        if (memchr(r->target.data, '#', r->target.len))
            return fail(status, reason, 400, "fragment in request target");
    } else if (http_string_equals(r->target, "*") && r->method == HTTP_METHOD_OPTIONS) {
        r->path = r->target;
        r->query = (struct http_string){"", 0};
    } else {
        return fail(status, reason, 400, "request target must be an absolute path");
    }
    return HTTP_PARSE_DONE;
}

static enum http_parse_result parse_header_line(const char *line, size_t n, struct http_request *r, int *status,
                                                const char **reason)
{
    if (line[0] == ' ' || line[0] == '\t')
        return fail(status, reason, 400, "obsolete header line folding");
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)line[i]))
        i++;
    if (i == 0 || i >= n || line[i] != ':')
        return fail(status, reason, 400, "malformed header field");
    if (r->header_count >= HTTP_MAX_HEADERS)
        return fail(status, reason, 431, "too many header fields");
    struct http_header *h = &r->headers[r->header_count++];
    h->name = (struct http_string){line, i};
    i++;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    size_t end = n;
    while (end > i && (line[end - 1] == ' ' || line[end - 1] == '\t'))
        end--;
    for (size_t k = i; k < end; k++)
        if (!is_field_value_char((unsigned char)line[k]))
            return fail(status, reason, 400, "invalid character in header value");
    h->value = (struct http_string){line + i, end - i};
    return HTTP_PARSE_DONE;
}

/* Interpret the headers the server itself depends on. */
static enum http_parse_result interpret_headers(struct http_request *r, int *status, const char **reason)
{
    int hosts = 0;
    bool transfer_encoding = false;
    for (size_t i = 0; i < r->header_count; i++) {
        const struct http_header *h = &r->headers[i];
        if (http_string_equals_nocase(h->name, "Host")) {
            hosts++;
            r->host = h->value;
        } else if (http_string_equals_nocase(h->name, "Content-Length")) {
            if (h->value.len == 0 || h->value.len > 18)
                return fail(status, reason, 400, "invalid Content-Length");
            uint64_t v = 0;
            for (size_t k = 0; k < h->value.len; k++) {
                char c = h->value.data[k];
                if (c < '0' || c > '9')
                    return fail(status, reason, 400, "invalid Content-Length");
                v = v * 10 + (uint64_t)(c - '0');
            }
            if (r->has_content_length && r->content_length != v)
                return fail(status, reason, 400, "conflicting Content-Length headers");
            r->has_content_length = true;
            r->content_length = v;
        } else if (http_string_equals_nocase(h->name, "Transfer-Encoding")) {
            transfer_encoding = true;
        } else if (http_string_equals_nocase(h->name, "Connection")) {
            if (list_has_token(h->value, "close"))
                r->keep_alive = false;
            else if (list_has_token(h->value, "keep-alive") && r->version_minor == 0)
                r->keep_alive = true;
        } else if (http_string_equals_nocase(h->name, "Expect")) {
            if (http_string_equals_nocase(h->value, "100-continue"))
                r->expect_continue = true;
        }
    }
    if (r->version_minor == 1 && hosts != 1)
        return fail(status, reason, 400, hosts == 0 ? "missing Host header" : "repeated Host header");
    if (hosts > 1)
        return fail(status, reason, 400, "repeated Host header");
    if (transfer_encoding) {
        if (r->has_content_length)
            return fail(status, reason, 400, "both Transfer-Encoding and Content-Length");
        return fail(status, reason, 501, "Transfer-Encoding is not supported; send Content-Length");
    }
    return HTTP_PARSE_DONE;
}

enum http_parse_result http_request_parse(const char *data, size_t len, struct http_request *r, int *status,
                                          const char **reason)
{
    memset(r, 0, sizeof *r);
    *status = 0;
    *reason = "";
    /* Tolerate empty lines before a request (RFC 9112 §2.2), as many servers do. */
    size_t start = 0;
    while (start < len && start < 8 && (data[start] == '\r' || data[start] == '\n'))
        start++;
    data += start;
    len -= start;

    /* Request line. Reject a bad method before the line is complete, so binary junk such as a
     * TLS ClientHello gets its 400 at once instead of waiting for a newline that never comes. */
    size_t scan = len < HTTP_MAX_REQUEST_LINE ? len : HTTP_MAX_REQUEST_LINE;
    const char *lf = memchr(data, '\n', scan);
    size_t m = 0;
    while (m < scan && is_tchar((unsigned char)data[m]))
        m++;
    if (m < scan && data[m] != ' ')
        return fail(status, reason, 400, "malformed request line");
    if (m == scan && m >= 32)
        return fail(status, reason, 400, "malformed request line");
    if (!lf) {
        if (len >= HTTP_MAX_REQUEST_LINE)
            return fail(status, reason, 414, "request line too long");
        return HTTP_PARSE_MORE;
    }
    size_t line_len = (size_t)(lf - data);
    if (line_len > 0 && data[line_len - 1] == '\r')
        line_len--;
    if (memchr(data, '\r', line_len))
        return fail(status, reason, 400, "bare CR in request line");
    r->keep_alive = true;
    enum http_parse_result res = parse_request_line(data, line_len, r, status, reason);
    if (res != HTTP_PARSE_DONE)
        return res;
    if (r->version_minor == 0)
        r->keep_alive = false;

    /* Header section. */
    size_t headers_start = (size_t)(lf - data) + 1;
    size_t pos = headers_start;
    for (;;) {
        size_t avail = len - pos;
        size_t budget = HTTP_MAX_HEADER_BYTES - (pos - headers_start);
        const char *nl = memchr(data + pos, '\n', avail < budget ? avail : budget);
        if (!nl) {
            if (len - headers_start >= HTTP_MAX_HEADER_BYTES)
                return fail(status, reason, 431, "header section too large");
            return HTTP_PARSE_MORE;
        }
        size_t n = (size_t)(nl - (data + pos));
        const char *line = data + pos;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (memchr(line, '\r', n))
            return fail(status, reason, 400, "bare CR in header section");
        pos = (size_t)(nl - data) + 1;
        if (n == 0)
            break;
        res = parse_header_line(line, n, r, status, reason);
        if (res != HTTP_PARSE_DONE)
            return res;
    }
    r->head_length = start + pos;
    return interpret_headers(r, status, reason);
}

long http_percent_decode(const char *src, size_t len, char *dst, size_t dst_cap, bool path, bool plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = hex_digit_value((unsigned char)src[i + 1]), lo = hex_digit_value((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            if (c == '\0' || (path && c == '/'))
                return -1;
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (o + 1 >= dst_cap)
            return -1;
        dst[o++] = c;
    }
    if (dst_cap == 0)
        return -1;
    dst[o] = '\0';
    return (long)o;
}

long http_query_get(struct http_string query, const char *name, char *dst, size_t dst_cap)
{
    size_t nlen = strlen(name);
    size_t i = 0;
    while (i < query.len) {
        size_t start = i;
        while (i < query.len && query.data[i] != '&')
            i++;
        const char *pair = query.data + start;
        size_t plen = i - start;
        i++; /* skip '&' */
        const char *eq = memchr(pair, '=', plen);
        size_t klen = eq ? (size_t)(eq - pair) : plen;
        if (klen == nlen && memcmp(pair, name, nlen) == 0) {
            if (!eq) {
                if (dst_cap == 0)
                    return -2;
                dst[0] = '\0';
                return 0;
            }
            long n = http_percent_decode(eq + 1, plen - klen - 1, dst, dst_cap, false, true);
            return n < 0 ? -2 : n;
        }
    }
    return -1;
}

const char *http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Request Entity Too Large";
    case 414: return "Request URI Too Long";
    case 416: return "Requested Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}
