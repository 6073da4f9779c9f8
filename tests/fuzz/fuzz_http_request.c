/* fuzz_http_request — libFuzzer target for the HTTP request parser and the helpers that read
 * request text (percent-decoding, query lookup, the asset path grammar).
 *   make fuzz   (clang; see tests/fuzz/run.sh)
 * Invariants checked beyond "no crash/UB": DONE consumes no more than the input, every header
 * points inside the input, a DONE on a prefix stays DONE with the same length on the full input
 * (what pipelining relies on), and errors carry one of the documented status codes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "airfactory/asset_path.h"
#include "serve/http_parser.h"
#include "serve/serve_routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int cond)
{
    if (!cond)
        abort();
}

static int inside(struct http_string s, const char *base, size_t len)
{
    return s.len == 0 || (s.data >= base && s.data + s.len <= base + len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    static struct http_request r, r2;
    int status = 0;
    const char *reason = NULL;
    enum http_parse_result res = http_request_parse(text, size, &r, &status, &reason);
    if (res == HTTP_PARSE_ERROR) {
        must(status == 400 || status == 414 || status == 431 || status == 501 || status == 505);
        must(reason != NULL);
        return 0;
    }
    if (res == HTTP_PARSE_MORE)
        return 0;
    must(r.head_length > 0 && r.head_length <= size);
    must(inside(r.target, text, size) && inside(r.path, text, size) && inside(r.query, text, size));
    for (size_t i = 0; i < r.header_count; i++)
        must(inside(r.headers[i].name, text, size) && inside(r.headers[i].value, text, size));
    /* parsing exactly the head gives the same answer */
    must(http_request_parse(text, r.head_length, &r2, &status, &reason) == HTTP_PARSE_DONE);
    must(r2.head_length == r.head_length && r2.header_count == r.header_count);

    char path[SERVE_PATH_MAX];
    long n = http_percent_decode(r.path.data, r.path.len, path, sizeof path, true, false);
    if (n >= 0) {
        must((size_t)n == strlen(path));
        const char *last = strrchr(path, '/');
        struct asset_path parsed, again;
        struct error err = {0};
        if (last && asset_path_parse(last + 1, &parsed, &err) == 0) {
            /* the canonical name parses back to the same asset */
            char stored[ASSET_PATH_MAX];
            asset_path_format(&parsed, stored);
            must(strlen(stored) > 0 && (strcmp(parsed.arch, "amd64") == 0 || strcmp(parsed.arch, "arm64") == 0));
            must(asset_path_parse(stored, &again, &err) == 0 && memcmp(&parsed, &again, sizeof parsed) == 0);
        }
    }
    char value[256];
    http_query_get(r.query, "filename", value, sizeof value);
    http_query_get(r.query, "n", value, sizeof value);
    return 0;
}
