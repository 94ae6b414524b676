/* test_logtext.c - what dpctl logs reads of a record (cli/logtext.c), pure:
 * dplog's two timestamps and their separators, --since in its forms (RFC
 * 3339 with offsets and fractions, local time under TZ, durations), and
 * the escaping for terminals.
 */
#include "../../cli/logtext.h"
#include "unit.h"

#include <time.h>

/* 2026-12-07T10:00:00Z */
#define BASE 1796637600LL

static size_t stamp(const char *rec, struct logtime *t, bool *cont)
{
    return logtext_stamp(rec, strlen(rec), t, cont);
}

static void test_rfc3339_records(void)
{
    struct logtime t;
    bool cont = true;
    CHECK_EQ(stamp("2026-12-07T10:00:00.123456Z hello\n", &t, &cont), 28);
    CHECK_EQ(t.sec, BASE);
    CHECK_EQ(t.nsec, 123456000);
    CHECK(!cont);
    CHECK_EQ(stamp("2026-12-07T10:00:00.000000Z+piece", &t, &cont), 28);
    CHECK(cont);
    CHECK_EQ(stamp("1970-01-01T00:00:00.000000Z \n", &t, &cont), 28);
    CHECK_EQ(t.sec, 0);
    CHECK_EQ(stamp("2024-02-29T23:59:60.999999Z x", &t, &cont), 28);     /* leap day, second */
    CHECK_EQ(t.sec, 1709251200LL);
    /* a record exactly as long as its stamp and separator */
    CHECK_EQ(stamp("2026-12-07T10:00:00.000000Z ", &t, &cont), 28);
    static const char *const bad[] = {
        "2026-12-07T10:00:00.000000Z",          /* no separator */
        "2026-12-07T10:00:00.000000Zx",         /* not ' ' or '+' */
        "2026-12-07T10:00:00.00000Z x",         /* 5 fraction digits */
        "2026-12-07 10:00:00.000000Z x",
        "2026-13-07T10:00:00.000000Z x",
        "2025-02-29T10:00:00.000000Z x",
        "2026-12-07T24:00:00.000000Z x",
        "2026-12-07T10:60:00.000000Z x",
        "2026-12-07T10:00:00.000000+ x",
        "plain text that is long enough to be a stamp",
        "", "\n", "x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (!CHECK_EQ(stamp(bad[i], &t, &cont), 0))
            fprintf(stderr, "  for %s\n", bad[i]);
}

static void test_tai64n_records(void)
{
    struct logtime t;
    bool cont = true;
    /* 0x4000000000000000 + 10 + BASE */
    char rec[64];
    snprintf(rec, sizeof rec, "@%016llx%08x hi", 0x400000000000000aULL + BASE, 999999999u);
    CHECK_EQ(stamp(rec, &t, &cont), 26);
    CHECK_EQ(t.sec, BASE);
    CHECK_EQ(t.nsec, 999999999);
    CHECK(!cont);
    rec[25] = '+';
    CHECK_EQ(stamp(rec, &t, &cont), 26);
    CHECK(cont);
    CHECK_EQ(stamp("@400000000000000a00000000 ", &t, &cont), 26);
    CHECK_EQ(t.sec, 0);
    CHECK_EQ(stamp("@400000000000000a3b9aca00 x", &t, &cont), 0);      /* 10^9 ns */
    CHECK_EQ(stamp("@400000000000000A00000000 x", &t, &cont), 0);      /* upper case */
    CHECK_EQ(stamp("@400000000000000a0000000 x", &t, &cont), 0);       /* 23 digits */
    CHECK_EQ(stamp("@000000000000000a00000000 x", &t, &cont), 0);      /* not a TAI64 label */
    CHECK_EQ(stamp("@400000000000000a00000000", &t, &cont), 0);
}

static void test_since_durations(void)
{
    struct logtime t;
    const long long now = BASE;
    static const struct { const char *s; long long ago; } ok[] = {
        { "30s", 30 }, { "10m", 600 }, { "2h", 7200 }, { "1d", 86400 }, { "1h30m", 5400 },
        { "0s", 0 }, { "90m", 5400 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        CHECK(logtext_since(ok[i].s, now, &t));
        CHECK_EQ(t.sec, now - ok[i].ago);
        CHECK_EQ(t.nsec, 0);
    }
    static const char *const bad[] = { "", "30", "s", "30x", "-5m", "1h 30m", "99999999999d",
                                       "1.5h", "yesterday", "now" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (!CHECK(!logtext_since(bad[i], now, &t)))
            fprintf(stderr, "  for %s\n", bad[i]);
}

static void test_since_rfc3339(void)
{
    struct logtime t;
    static const struct { const char *s; long long sec; long nsec; } ok[] = {
        { "2026-12-07T10:00:00Z", BASE, 0 },
        { "2026-12-07t10:00:00z", BASE, 0 },
        { "2026-12-07 10:00:00Z", BASE, 0 },
        { "2026-12-07T11:00:00+01:00", BASE, 0 },
        { "2026-12-07T04:30:00-05:30", BASE, 0 },
        { "2026-12-07T10:00:00.5Z", BASE, 500000000 },
        { "2026-12-07T10:00:00.123456789Z", BASE, 123456789 },
        { "2026-12-07T10:00:00.1234567891Z", BASE, 123456789 },
        { "2026-12-07T10:00Z", BASE, 0 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        if (!CHECK(logtext_since(ok[i].s, 0, &t))) {
            fprintf(stderr, "  for %s\n", ok[i].s);
            continue;
        }
        CHECK_EQ(t.sec, ok[i].sec);
        CHECK_EQ(t.nsec, ok[i].nsec);
    }
    static const char *const bad[] = {
        "2026-12-07T10:00:00", "2026-12-07T10:00:00+0100", "2026-12-07T10:00:00+01",
        "2026-12-07T10:00:00.Z", "2026-12-07T10:00:00ZZ", "2026-12-07Z", "2026-12-32",
        "2026-12-07T25:00Z", "2026-12-07T10", "2026-12-07T10:00:0Z", "2026/12/07",
        "2026-12-07T10:00:00+24:00", "2026-12-07x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (strcmp(bad[i], "2026-12-07T10:00:00") == 0)
            continue;       /* local time: valid, below */
        if (!CHECK(!logtext_since(bad[i], 0, &t)))
            fprintf(stderr, "  for %s\n", bad[i]);
    }
}

static void test_since_local(void)
{
    struct logtime t;
    setenv("TZ", "UTC0", 1);
    tzset();
    CHECK(logtext_since("2026-12-07 10:00", 0, &t));
    CHECK_EQ(t.sec, BASE);
    CHECK(logtext_since("2026-12-07", 0, &t));
    CHECK_EQ(t.sec, BASE - 10 * 3600);
    setenv("TZ", "EST5", 1);
    tzset();
    CHECK(logtext_since("2026-12-07 05:00:00", 0, &t));
    CHECK_EQ(t.sec, BASE);
    CHECK(logtext_since("2026-12-07T05:00:00.25", 0, &t));
    CHECK_EQ(t.sec, BASE);
    CHECK_EQ(t.nsec, 250000000);
    unsetenv("TZ");
    tzset();
}

static void test_cmp(void)
{
    struct logtime a = { 5, 10 }, b = { 5, 11 }, c = { 6, 0 };
    CHECK_EQ(logtext_cmp(&a, &b), -1);
    CHECK_EQ(logtext_cmp(&b, &a), 1);
    CHECK_EQ(logtext_cmp(&a, &a), 0);
    CHECK_EQ(logtext_cmp(&b, &c), -1);
}

static void test_escape(void)
{
    static const char in[] = "a\tb\\c\x1b[2J\r\x7f\xc3\xa9\xff\x01\n";
    char out[4 * sizeof in];
    size_t n = logtext_escape(in, sizeof in, out);     /* the NUL too */
    static const char want[] = "a\tb\\\\c\\x1b[2J\\x0d\\x7f\xc3\xa9\xff\\x01\n\\x00";
    CHECK_EQ(n, sizeof want - 1);
    CHECK(memcmp(out, want, sizeof want - 1) == 0);
    /* the worst case: 4 bytes each */
    char zeros[16] = { 0 }, big[64];
    CHECK_EQ(logtext_escape(zeros, sizeof zeros, big), 64);
    CHECK_EQ(logtext_escape("", 0, big), 0);
}

UNIT_MAIN(test_rfc3339_records, test_tai64n_records, test_since_durations, test_since_rfc3339,
          test_since_local, test_cmp, test_escape)
