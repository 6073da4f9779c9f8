/* Unit tests for src/talos/version: the one Talos version parser (semver 2.0 as blang/semver
 * reads it) and its orders (quirks: major.minor.patch; lists: full semver precedence). */
#include <string.h>

#include "talos/version.h"
#include "test.h"

static void versions_parse(void)
{
    struct talos_version a, b;
    CHECK_INT(talos_version_parse("v1.11.3", &a), 0);
    CHECK(a.major == 1 && a.minor == 11 && a.patch == 3 && !a.prerelease[0]);
    CHECK_INT(talos_version_parse("1.12.0-beta.1+build.5", &b), 0);
    CHECK_STR(b.prerelease, "beta.1");
    CHECK_INT(talos_version_parse("v1.12.0-rc.0", &b), 0);
    CHECK_INT(talos_version_parse("v0.0.0", &b), 0);
    const char *bad[] = {"",           "v",           "v1",        "v1.2",        "v1.2.x",    "v1.2.3-",
                         "v1.2.3+",    "vv1.2.3",     "v1.2.3 ",   "v1.2.3-a b",  "V1.2.3",    "v01.2.3",
                         "v1.02.3",    "v1.2.03",     "v1.2.3-01", "v1.2.3-a..b", "v1.2.3-a.", "v1.2.3+a..b",
                         "v1.2.3+a_b", "v1.100001.0", "latest",    "v1.2.3.4",    "-1.2.3"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (talos_version_parse(bad[i], &a) != -1)
            printf("  \"%s\" parsed\n", bad[i]);
        CHECK_INT(talos_version_parse(bad[i], &a), -1);
    }
    CHECK_INT(talos_version_parse(NULL, &a), -1);
    /* a numeric identifier may be 0; build metadata may have leading zeros (semver 2.0 §10) */
    CHECK_INT(talos_version_parse("v1.2.3-0.alpha", &a), 0);
    CHECK_INT(talos_version_parse("v1.2.3+001", &a), 0);
    char long_pre[100] = "v1.2.3-";
    memset(long_pre + 7, 'a', 80);
    long_pre[87] = '\0';
    CHECK_INT(talos_version_parse(long_pre, &a), -1);
}

static void versions_order(void)
{
    struct talos_version a, b;
    talos_version_parse("v1.12.0-beta.1", &a);
    talos_version_parse("v1.12.0", &b);
    CHECK_INT(talos_version_compare(&a, &b), 0);
    CHECK(talos_version_compare_semver(&a, &b) < 0);
    CHECK(talos_version_compare_semver(&b, &a) > 0);
    talos_version_parse("v1.12.0-beta.2", &b);
    CHECK(talos_version_compare_semver(&a, &b) < 0);
    talos_version_parse("v1.12.0-beta.10", &a);
    CHECK(talos_version_compare_semver(&b, &a) < 0);
    talos_version_parse("v1.12.0-alpha", &a);
    talos_version_parse("v1.12.0-alpha.1", &b);
    CHECK(talos_version_compare_semver(&a, &b) < 0);
    talos_version_parse("v1.12.0-1", &a);
    talos_version_parse("v1.12.0-alpha", &b);
    CHECK(talos_version_compare_semver(&a, &b) < 0); /* numeric identifiers sort first */
    talos_version_parse("v1.9.5", &a);
    talos_version_parse("v1.11.3", &b);
    CHECK(talos_version_compare(&a, &b) < 0);
    CHECK(talos_version_compare_semver(&a, &b) < 0);
}

static void at_least(void)
{
    CHECK(talos_version_at_least("v1.10.0", 1, 10));
    CHECK(talos_version_at_least("v1.10.0-beta.1", 1, 10));
    CHECK(!talos_version_at_least("v1.9.5", 1, 10));
    CHECK(talos_version_at_least("2.0.0", 1, 10));
    CHECK(!talos_version_at_least("latest", 1, 0));
}

int main(void)
{
    RUN(versions_parse);
    RUN(versions_order);
    RUN(at_least);
    return TEST_MAIN_END();
}
