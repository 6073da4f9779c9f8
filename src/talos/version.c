/* version — Talos versions: see version.h. */
#include "talos/version.h"

#include <string.h>

#define NUMBER_MAX 100000u

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_ident_char(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

/* A number without leading zeros, at most NUMBER_MAX. */
static bool parse_number(const char **p, unsigned *out)
{
    const char *s = *p;
    if (!is_digit(*s) || (s[0] == '0' && is_digit(s[1])))
        return false;
    unsigned long v = 0;
    while (is_digit(*s)) {
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > NUMBER_MAX)
            return false;
        s++;
    }
    *out = (unsigned)v;
    *p = s;
    return true;
}

/* Dot-separated non-empty identifiers in s[0..n); numeric ones without leading zeros when
 * numeric_strict (pre-release, not build metadata). */
static bool valid_identifiers(const char *s, size_t n, bool numeric_strict)
{
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            if (!is_ident_char(s[i]))
                return false;
            continue;
        }
        size_t len = i - start;
        if (!len)
            return false;
        if (numeric_strict && len > 1 && s[start] == '0' && strspn(s + start, "0123456789") >= len)
            return false;
        start = i + 1;
    }
    return true;
}

int talos_version_parse(const char *text, struct talos_version *out)
{
    memset(out, 0, sizeof *out);
    if (!text)
        return -1;
    const char *p = text[0] == 'v' ? text + 1 : text;
    if (!parse_number(&p, &out->major) || *p++ != '.' || !parse_number(&p, &out->minor) || *p++ != '.' ||
        !parse_number(&p, &out->patch))
        return -1;
    if (*p == '-') {
        p++;
        size_t n = strcspn(p, "+");
        if (n >= sizeof out->prerelease || !valid_identifiers(p, n, true))
            return -1;
        memcpy(out->prerelease, p, n);
        out->prerelease[n] = '\0';
        p += n;
    }
    if (*p == '+') {
        p++;
        size_t n = strlen(p);
        if (!valid_identifiers(p, n, false))
            return -1;
        p += n;
    }
    return *p ? -1 : 0;
}

static int cmp_unsigned(unsigned a, unsigned b)
{
    return a < b ? -1 : a > b;
}

int talos_version_compare(const struct talos_version *a, const struct talos_version *b)
{
    int c = cmp_unsigned(a->major, b->major);
    if (!c)
        c = cmp_unsigned(a->minor, b->minor);
    if (!c)
        c = cmp_unsigned(a->patch, b->patch);
    return c;
}

/* semver 2.0 §11 precedence of dot-separated pre-release identifiers */
static int compare_prerelease(const char *a, const char *b)
{
    if (!*a || !*b)
        return !*a && !*b ? 0 : !*a ? 1 : -1; /* a release is newer than its pre-releases */
    while (*a && *b) {
        size_t la = strcspn(a, "."), lb = strcspn(b, ".");
        bool na = strspn(a, "0123456789") >= la, nb = strspn(b, "0123456789") >= lb;
        int c;
        if (na && nb) {
            c = la != lb ? (la < lb ? -1 : 1) : strncmp(a, b, la);
        } else if (na != nb) {
            c = na ? -1 : 1; /* numeric identifiers sort first */
        } else {
            c = strncmp(a, b, la < lb ? la : lb);
            if (!c && la != lb)
                c = la < lb ? -1 : 1;
        }
        if (c)
            return c < 0 ? -1 : 1;
        a += la + (a[la] == '.');
        b += lb + (b[lb] == '.');
    }
    return *a ? 1 : *b ? -1 : 0;
}

int talos_version_compare_semver(const struct talos_version *a, const struct talos_version *b)
{
    int c = talos_version_compare(a, b);
    return c ? c : compare_prerelease(a->prerelease, b->prerelease);
}

bool talos_version_at_least(const char *text, unsigned major, unsigned minor)
{
    struct talos_version v;
    if (talos_version_parse(text, &v) != 0)
        return false;
    return v.major > major || (v.major == major && v.minor >= minor);
}
