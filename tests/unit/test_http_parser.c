/* test_http_parser — the request parser's acceptance and refusals, plus the route helpers that
 * are pure functions (MIME map, version normalization). */
#include <stdlib.h>
#include <string.h>

#include "serve/http_parser.h"
#include "serve/serve_routes.h"
#include "test.h"

static enum http_parse_result parse(const char *text, struct http_request *r, int *status)
{
    const char *reason = NULL;
    return http_request_parse(text, strlen(text), r, status, &reason);
}

static void test_simple_get(void)
{
    struct http_request r;
    int status = 0;
    const char *text = "GET /image/abc/v1.11.3/kernel-amd64?filename=k HTTP/1.1\r\nHost: example:8080\r\n"
                       "User-Agent: curl/8\r\nAccept: */*\r\n\r\nGET / HTTP/1.1\r\n";
    CHECK_INT(parse(text, &r, &status), HTTP_PARSE_DONE);
    CHECK_INT(r.method, HTTP_METHOD_GET);
    CHECK(http_string_equals(r.path, "/image/abc/v1.11.3/kernel-amd64"));
    CHECK(http_string_equals(r.query, "filename=k"));
    CHECK(http_string_equals(r.host, "example:8080"));
    CHECK_INT(r.version_minor, 1);
    CHECK(r.keep_alive);
    CHECK_INT(r.header_count, 3);
    CHECK_INT(r.head_length, strstr(text, "\r\n\r\n") - text + 4);
    const struct http_header *ua = http_request_header(&r, "user-agent");
    CHECK(ua && http_string_equals(ua->value, "curl/8"));
}

static void test_incremental(void)
{
    const char *text = "HEAD /v2/ HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    size_t n = strlen(text);
    struct http_request r;
    int status = 0;
    const char *reason = NULL;
    for (size_t i = 0; i < n; i++)
        CHECK_INT(http_request_parse(text, i, &r, &status, &reason), HTTP_PARSE_MORE);
    CHECK_INT(http_request_parse(text, n, &r, &status, &reason), HTTP_PARSE_DONE);
    CHECK_INT(r.method, HTTP_METHOD_HEAD);
    CHECK(!r.keep_alive);
}

static void test_http10_and_body(void)
{
    struct http_request r;
    int status = 0;
    CHECK_INT(parse("POST /schematics HTTP/1.0\r\nContent-Length: 19\r\nConnection: keep-alive\r\n\r\n", &r, &status),
              HTTP_PARSE_DONE);
    CHECK_INT(r.version_minor, 0);
    CHECK(r.keep_alive);
    CHECK(r.has_content_length);
    CHECK_INT(r.content_length, 19);
    CHECK_INT(parse("GET / HTTP/1.0\r\n\r\n", &r, &status), HTTP_PARSE_DONE);
    CHECK(!r.keep_alive);
    CHECK_INT(parse("POST /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", &r, &status),
              HTTP_PARSE_DONE);
    CHECK(r.expect_continue);
}

static void test_refusals(void)
{
    static const struct {
        const char *text;
        int status;
    } cases[] = {
        {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400}, /* TLS ClientHello on a plain port */
        {"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n\r\n", 400},                       /* no Host */
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400}, /* two Hosts */
        {"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
        {"GET / HTTX/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET http://x/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
        {"GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", 400},
        {"G\x80T / HTTP/1.1\r\n", 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct http_request r;
        int status = 0;
        enum http_parse_result res = parse(cases[i].text, &r, &status);
        if (res != HTTP_PARSE_ERROR || status != cases[i].status)
            printf("  case %zu: result %d status %d\n", i, (int)res, status);
        CHECK_INT(res, HTTP_PARSE_ERROR);
        CHECK_INT(status, cases[i].status);
    }
}

static void test_limits(void)
{
    size_t n = HTTP_MAX_REQUEST_LINE + 10;
    char *line = malloc(n + 1);
    memcpy(line, "GET /", 5);
    memset(line + 5, 'a', n - 5);
    line[n] = '\0';
    struct http_request r;
    int status = 0;
    CHECK_INT(parse(line, &r, &status), HTTP_PARSE_ERROR);
    CHECK_INT(status, 414);
    free(line);

    size_t hn = HTTP_MAX_HEADER_BYTES + 100;
    char *big = malloc(hn + 64);
    strcpy(big, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: ");
    size_t len = strlen(big);
    memset(big + len, 'b', hn);
    big[len + hn] = '\0';
    CHECK_INT(parse(big, &r, &status), HTTP_PARSE_ERROR);
    CHECK_INT(status, 431);
    free(big);

    char many[HTTP_MAX_HEADERS * 8 + 64];
    strcpy(many, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 0; i < HTTP_MAX_HEADERS; i++)
        strcat(many, "A: b\r\n");
    strcat(many, "\r\n");
    CHECK_INT(parse(many, &r, &status), HTTP_PARSE_ERROR);
    CHECK_INT(status, 431);
}

static void test_percent_and_query(void)
{
    char out[64];
    CHECK_INT(http_percent_decode("/a%20b", 6, out, sizeof out, true, false), 4);
    CHECK_STR(out, "/a b");
    CHECK_INT(http_percent_decode("/a%2Fb", 6, out, sizeof out, true, false), -1);
    CHECK_INT(http_percent_decode("/a%00", 5, out, sizeof out, true, false), -1);
    CHECK_INT(http_percent_decode("/a%4", 4, out, sizeof out, true, false), -1);
    CHECK_INT(http_percent_decode("/a%zz", 5, out, sizeof out, true, false), -1);
    const char *raw = "n=2&last=v1.9.5&filename=my+file%21&flag";
    struct http_string q = {raw, strlen(raw)};
    CHECK_INT(http_query_get(q, "n", out, sizeof out), 1);
    CHECK_STR(out, "2");
    CHECK_INT(http_query_get(q, "last", out, sizeof out), 6);
    CHECK_STR(out, "v1.9.5");
    CHECK_INT(http_query_get(q, "filename", out, sizeof out), 8);
    CHECK_STR(out, "my file!");
    CHECK_INT(http_query_get(q, "flag", out, sizeof out), 0);
    CHECK_INT(http_query_get(q, "missing", out, sizeof out), -1);
}

static void test_mime(void)
{
    CHECK_STR(serve_mime_type("metal-amd64.iso"), "application/x-iso9660-image");
    CHECK_STR(serve_mime_type("metal-amd64-uki.efi"), "application/efi");
    CHECK_STR(serve_mime_type("initramfs-amd64.xz"), "application/x-xz");
    CHECK_STR(serve_mime_type("gcp-amd64.raw.tar.gz"), "application/gzip");
    CHECK_STR(serve_mime_type("oracle-arm64.qcow2"), "application/x-qemu-disk");
    CHECK_STR(serve_mime_type("installer-amd64.tar"), "application/x-tar");
    CHECK_STR(serve_mime_type("kernel-amd64"), "application/octet-stream");
    CHECK_STR(serve_mime_type("metal-amd64.raw.zst"), "application/octet-stream");
}

static void test_version_normalize(void)
{
    char out[64];
    CHECK(serve_version_normalize("1.11.3", out, sizeof out));
    CHECK_STR(out, "v1.11.3");
    CHECK(serve_version_normalize("v1.12.0-beta.1", out, sizeof out));
    CHECK_STR(out, "v1.12.0-beta.1");
    CHECK(!serve_version_normalize("v1.5", out, sizeof out));
    CHECK(!serve_version_normalize("v01.5.0", out, sizeof out));
    CHECK(!serve_version_normalize("latest", out, sizeof out));
    CHECK(!serve_version_normalize("v1.5.0-", out, sizeof out));
}

int main(void)
{
    RUN(test_simple_get);
    RUN(test_incremental);
    RUN(test_http10_and_body);
    RUN(test_refusals);
    RUN(test_limits);
    RUN(test_percent_and_query);
    RUN(test_mime);
    RUN(test_version_normalize);
    return TEST_MAIN_END();
}
