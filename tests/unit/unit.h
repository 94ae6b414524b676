/* unit.h - a tiny in-process unit test framework.
 *
 * Each tests/unit/test_NAME.c includes this once, calls its test functions
 * from main() and ends with `return unit_done();`, which prints one summary
 * line ("test_NAME: 57 passed, 0 failed") and gives the exit status: 0 when
 * nothing failed.  Failed checks print "file:line: expression" (and both
 * values for the _EQ forms) as they happen; passing checks print nothing.
 *
 * CHECK_KNOWN_BUG(expr, why) documents a reported, not yet fixed defect of
 * src/: a failure is printed and counted as "known bug" but does not fail
 * the binary (so `make test` stays usable); UNIT_STRICT=1 in the
 * environment turns it into an ordinary failure.  Once the bug is fixed the
 * check passes and should become a plain CHECK.
 */
#ifndef UNIT_H
#define UNIT_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_passed, unit_failed, unit_known;

/* Record one check; returns ok so callers can add detail on failure. */
static inline bool unit_check(bool ok, const char *file, int line, const char *expr)
{
    if (ok) {
        unit_passed++;
    } else {
        unit_failed++;
        fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, expr);
    }
    return ok;
}

static inline bool unit_check_eq(intmax_t a, intmax_t b, const char *file, int line,
                                 const char *ea, const char *eb)
{
    if (a == b) {
        unit_passed++;
        return true;
    }
    unit_failed++;
    fprintf(stderr, "%s:%d: CHECK_EQ(%s, %s) failed: %jd != %jd\n",
            file, line, ea, eb, a, b);
    return false;
}

static inline bool unit_check_streq(const char *a, const char *b, const char *file,
                                    int line, const char *ea, const char *eb)
{
    if (a && b && strcmp(a, b) == 0) {
        unit_passed++;
        return true;
    }
    unit_failed++;
    fprintf(stderr, "%s:%d: CHECK_STREQ(%s, %s) failed: \"%.200s\" != \"%.200s\"\n",
            file, line, ea, eb, a ? a : "(null)", b ? b : "(null)");
    return false;
}

static inline bool unit_check_known(bool ok, const char *file, int line,
                                    const char *expr, const char *why)
{
    if (ok) {
        unit_passed++;
        return true;
    }
    const char *strict = getenv("UNIT_STRICT");
    if (strict && *strict && strcmp(strict, "0") != 0) {
        unit_failed++;
        fprintf(stderr, "%s:%d: CHECK failed (known bug: %s): %s\n", file, line, why, expr);
    } else {
        unit_known++;
        fprintf(stderr, "%s:%d: known bug, not counted as a failure (%s): %s\n",
                file, line, why, expr);
    }
    return false;
}

#define CHECK(expr) unit_check(!!(expr), __FILE__, __LINE__, #expr)
#define CHECK_EQ(a, b) \
    unit_check_eq((intmax_t)(a), (intmax_t)(b), __FILE__, __LINE__, #a, #b)
#define CHECK_STREQ(a, b) unit_check_streq((a), (b), __FILE__, __LINE__, #a, #b)
#define CHECK_KNOWN_BUG(expr, why) \
    unit_check_known(!!(expr), __FILE__, __LINE__, #expr, (why))

/* Print the summary line for this binary; the return value is its exit status. */
static inline int unit_done_(const char *file)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    int n = (int)strcspn(base, ".");
    if (unit_known)
        printf("%.*s: %d passed, %d failed, %d known bug%s\n", n, base,
               unit_passed, unit_failed, unit_known, unit_known == 1 ? "" : "s");
    else
        printf("%.*s: %d passed, %d failed\n", n, base, unit_passed, unit_failed);
    fflush(stdout);
    return unit_failed ? 1 : 0;
}
#define unit_done() unit_done_(__FILE__)

/* main() for a binary whose tests are void functions: UNIT_MAIN(t1, t2, ...). */
typedef void (*unit_fn)(void);
#define UNIT_MAIN(...)                                              \
    int main(void)                                                  \
    {                                                               \
        static const unit_fn unit_tests[] = { __VA_ARGS__ };        \
        for (size_t i = 0; i < sizeof unit_tests / sizeof *unit_tests; i++) \
            unit_tests[i]();                                        \
        return unit_done();                                         \
    }

#endif
