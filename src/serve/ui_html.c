/* ui_html — the one place airfactory-serve writes HTML text: escaping of everything that comes
 * from a bundle or a request (schematic names and YAML, versions, query values), query-value
 * percent-encoding for the links it builds, and the frame every page shares (no external fonts,
 * scripts or style sheets: the pages work offline, without JavaScript, from 390 px wide up). */
#include <string.h>

#include "serve/serve_routes.h"

void serve_html_escape(struct buffer *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': buffer_append_str(out, "&lt;"); break;
        case '>': buffer_append_str(out, "&gt;"); break;
        case '&': buffer_append_str(out, "&amp;"); break;
        case '"': buffer_append_str(out, "&#34;"); break;
        case '\'': buffer_append_str(out, "&#39;"); break;
        default: buffer_append_char(out, *s);
        }
    }
}

void serve_url_escape(struct buffer *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            buffer_append_char(out, (char)c);
        } else {
            buffer_append_char(out, '%');
            buffer_append_char(out, hex[c >> 4]);
            buffer_append_char(out, hex[c & 15]);
        }
    }
}

void serve_html_begin(struct buffer *out, const char *title)
{
    buffer_append_str(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    serve_html_escape(out, title);
    buffer_append_str(
        out,
        " - Talos Linux Image Factory (offline)</title>\n<style>\n"
        "body{font-family:system-ui,sans-serif;max-width:60em;margin:0 auto;padding:1em;"
        "line-height:1.5;color:#1e293b;background:#fff}\n"
        "main{overflow-wrap:anywhere}a{color:#1d4ed8}a:focus,input:focus,button:focus{outline:3px solid #f59e0b;outline-offset:2px}\n"
        "code,pre{font-family:ui-monospace,monospace;background:#e2e8f0;overflow-wrap:anywhere}\n"
        "pre{padding:.5em;overflow-x:auto;white-space:pre-wrap}\n"
        ".table{overflow-x:auto}table{border-collapse:collapse;width:100%}"
        "th,td{text-align:left;padding:.3em .5em;border-bottom:1px solid #cbd5e1;vertical-align:top}\n"
        "fieldset{border:1px solid #cbd5e1;margin:0 0 1em}label{display:block;padding:.4em 0}"
        "label small{display:block;color:#475569;margin-left:1.7em}\n"
        "button{font-size:1em;padding:.4em 1.2em}nav ol{padding-left:1.2em}"
        ".note{background:#fef9c3;padding:.5em}\n"
        "</style>\n</head>\n<body>\n<header><p><a href=\"/\">Talos Linux Image Factory</a> "
        "(offline bundle)</p></header>\n<main>\n<h1>");
    serve_html_escape(out, title);
    buffer_append_str(out, "</h1>\n");
}

void serve_html_end(struct buffer *out)
{
    buffer_append_str(out, "</main>\n<footer><p>Served by airfactory-serve from a signed bundle: only what the "
                           "bundle holds is offered. API: <a href=\"/llms.txt\">/llms.txt</a>.</p></footer>\n"
                           "</body>\n</html>\n");
}
