/* test — the unit-test harness: each test binary prints one "PASS name" or "FAIL name: where: what"
 * line per test; tests/run.sh adds them up across all suites. Keep it tiny, like SQLite's tcl
 * harness is tiny: the tests are the specification, not the harness. */
#ifndef AIRFACTORY_TEST_H
#define AIRFACTORY_TEST_H

#include <stdio.h>
#include <string.h>

static int test_failed_checks;
static int test_passed, test_failed;

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            printf("  check failed: %s:%d: %s\n", __FILE__, __LINE__, #cond);                                          \
            test_failed_checks++;                                                                                      \
        }                                                                                                              \
    } while (0)

#define CHECK_STR(a, b)                                                                                                \
    do {                                                                                                               \
        const char *check_a_ = (a), *check_b_ = (b);                                                                   \
        if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0) {                                               \
            printf("  check failed: %s:%d: %s == %s\n    got:      \"%s\"\n    expected: \"%s\"\n", __FILE__,          \
                   __LINE__, #a, #b, check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)");                  \
            test_failed_checks++;                                                                                      \
        }                                                                                                              \
    } while (0)

#define CHECK_INT(a, b)                                                                                                 \
    do {                                                                                                                \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                                                 \
        if (check_a_ != check_b_) {                                                                                     \
            printf("  check failed: %s:%d: %s == %s (%lld != %lld)\n", __FILE__, __LINE__, #a, #b, check_a_, check_b_); \
            test_failed_checks++;                                                                                       \
        }                                                                                                               \
    } while (0)

#define RUN(fn)                                                                                                        \
    do {                                                                                                               \
        int before_ = test_failed_checks;                                                                              \
        fn();                                                                                                          \
        if (test_failed_checks == before_) {                                                                           \
            printf("PASS %s\n", #fn);                                                                                  \
            test_passed++;                                                                                             \
        } else {                                                                                                       \
            printf("FAIL %s\n", #fn);                                                                                  \
            test_failed++;                                                                                             \
        }                                                                                                              \
        fflush(stdout);                                                                                                \
    } while (0)

#define TEST_MAIN_END() (test_failed ? 1 : 0)

#endif
