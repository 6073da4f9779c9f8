/* base64 — see base64.h. */
#include "core/base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_encode(const void *data, size_t len, struct buffer *out)
{
    const unsigned char *p = data;
    buffer_reserve(out, (len + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        char q[4] = {alphabet[v >> 18], alphabet[(v >> 12) & 63], alphabet[(v >> 6) & 63], alphabet[v & 63]};
        buffer_append(out, q, 4);
    }
    if (len - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        char q[4] = {alphabet[v >> 18], alphabet[(v >> 12) & 63], '=', '='};
        buffer_append(out, q, 4);
    } else if (len - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        char q[4] = {alphabet[v >> 18], alphabet[(v >> 12) & 63], alphabet[(v >> 6) & 63], '='};
        buffer_append(out, q, 4);
    }
    buffer_reserve(out, 0);
}

/* url: 0 standard alphabet only; 1 either alphabet (fixed by the first character that differs). */
static int value_of(char c, int *alphabet_seen, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    int which = c == '+' || c == '/' ? 1 : c == '-' || c == '_' ? 2 : 0;
    if (which == 0 || (which == 2 && !url) || (*alphabet_seen && *alphabet_seen != which))
        return -1;
    *alphabet_seen = which;
    return c == '+' || c == '-' ? 62 : 63;
}

static int decode(const char *text, size_t len, struct buffer *out, int lenient)
{
    size_t start = out->len;
    unsigned acc = 0;
    int bits = 0, pad = 0, alphabet_seen = 0;
    size_t symbols = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '\n' || c == '\r' || c == ' ' || c == '\t')
            continue;
        if (c == '=') {
            pad++;
            symbols++;
            continue;
        }
        int v = value_of(c, &alphabet_seen, lenient);
        if (v < 0 || pad)
            goto bad;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        symbols++;
        if (bits >= 8) {
            bits -= 8;
            buffer_append_char(out, (char)((acc >> bits) & 0xff));
        }
    }
    if (lenient && pad == 0 && symbols % 4 != 1)
        symbols += (4 - symbols % 4) % 4; /* unpadded: as if the padding were there */
    if (symbols % 4 != 0 || pad > 2 || (acc & ((1u << bits) - 1)) != 0)
        goto bad;
    return 0;
bad:
    out->len = start;
    if (out->data)
        out->data[start] = '\0';
    return -1;
}

int base64_decode(const char *text, size_t len, struct buffer *out)
{
    return decode(text, len, out, 0);
}

int base64_decode_any(const char *text, size_t len, struct buffer *out)
{
    return decode(text, len, out, 1);
}
