/* test_dplog_record.c - dplog's pure part: time stamps, the line splitter,
 * the record formats and the options (logger/stamp.c, record.c, options.c). */
#include "unit.h"
#include "../../logger/options.h"
#include "../../logger/record.h"
#include "../../logger/stamp.h"

/* The records of s (whole, as at EOF), formatted with stamp into out. */
static const char *records(const char *s, size_t n, size_t line_max, const char *stamp,
                           char *out)
{
    char *o = out;
    size_t pos = 0, k;
    struct rec r;
    while ((k = rec_next(s + pos, n - pos, line_max, &r)) > 0) {
        o = rec_put_file(o, stamp, strlen(stamp), &r);
        pos += k;
    }
    if (pos < n) {
        r = (struct rec){ s + pos, n - pos, false };
        o = rec_put_file(o, stamp, strlen(stamp), &r);
    }
    *o = 0;
    return out;
}

static void test_rfc3339(void)
{
    char b[STAMP_MAX + 1] = "";
    struct timespec ts = { 0, 0 };
    stamp_rfc3339(b, &ts);
    CHECK_STREQ(b, "1970-01-01T00:00:00.000000Z");
    ts = (struct timespec){ 1796684592, 123456789 };   /* 2026-12-07T23:03:12 */
    stamp_rfc3339(b, &ts);
    CHECK_STREQ(b, "2026-12-07T23:03:12.123456Z");
    ts = (struct timespec){ 951782400, 999999999 };    /* a leap day */
    stamp_rfc3339(b, &ts);
    CHECK_STREQ(b, "2000-02-29T00:00:00.999999Z");
    ts = (struct timespec){ 4102444799, 0 };
    stamp_rfc3339(b, &ts);
    CHECK_STREQ(b, "2099-12-31T23:59:59.000000Z");
}

static void test_tai64n(void)
{
    char b[STAMP_MAX + 1] = "";
    struct timespec ts = { 0, 0 }, back;
    stamp_tai64n(b, &ts);
    CHECK_STREQ(b, "@400000000000000a00000000");
    ts = (struct timespec){ 1796684592, 123456789 };
    stamp_tai64n(b, &ts);
    CHECK_STREQ(b, "@400000006b173b3a075bcd15");
    CHECK(stamp_tai64n_parse(b + 1, &back));
    CHECK_EQ(back.tv_sec, 1796684592);
    CHECK_EQ(back.tv_nsec, 123456789);
    CHECK(!stamp_tai64n_parse("400000006b173b3a3b9aca00", &back));   /* ns = 10^9 */
    CHECK(!stamp_tai64n_parse("400000006B173B3A075BCD15", &back));   /* upper case */
    CHECK(!stamp_tai64n_parse("400000006b173b3a075bcd1", &back));    /* short */
    CHECK(!stamp_tai64n_parse("0000000000000000075bcd15", &back));   /* before 1970 */
}

static void test_parse(void)
{
    struct timespec ts;
    CHECK(stamp_parse("2026-12-07T23:03:12.123456Z rest", 32, &ts));
    CHECK_EQ(ts.tv_sec, 1796684592);
    CHECK_EQ(ts.tv_nsec, 123456000);
    CHECK(stamp_parse("1970-01-01T00:00:00.000000Z", 27, &ts) && ts.tv_sec == 0);
    CHECK(stamp_parse("2000-02-29T00:00:00.999999Z", 27, &ts) && ts.tv_sec == 951782400);
    CHECK(stamp_parse("@400000006b173b3a075bcd15 x", 27, &ts));
    CHECK_EQ(ts.tv_sec, 1796684592);
    CHECK_EQ(ts.tv_nsec, 123456789);
    CHECK(!stamp_parse("2026-12-07T23:03:12.123456Z", 26, &ts));    /* short */
    CHECK(!stamp_parse("2026-12-07 23:03:12.123456Z", 27, &ts));
    CHECK(!stamp_parse("2026-13-07T23:03:12.123456Z", 27, &ts));
    CHECK(!stamp_parse("2026-12-07T23:03:12.12345xZ", 27, &ts));
    CHECK(!stamp_parse("plain text of -t none, long", 27, &ts));
    /* a second of every week or so up to 2100, there and back */
    int64_t bad = -1;
    for (int64_t s = 0; s < 4102444800LL && bad < 0; s += 86399 * 7 + 13) {
        char b[STAMP_MAX];
        struct timespec in = { (time_t)s, 5000 };
        stamp_rfc3339(b, &in);
        if (!stamp_parse(b, sizeof b, &ts) || ts.tv_sec != s || ts.tv_nsec != 5000)
            bad = s;
    }
    CHECK_EQ(bad, -1);
}

static void test_records(void)
{
    char out[4096];
    const char *st = "2026-12-07T23:03:12.123456Z";
    CHECK_STREQ(records("a\nbc\n", 5, 16, st, out),
                "2026-12-07T23:03:12.123456Z a\n2026-12-07T23:03:12.123456Z bc\n");
    CHECK_STREQ(records("\n", 1, 16, "@4000000069a1b2c30a1b2c3d", out),
                "@4000000069a1b2c30a1b2c3d \n");
    /* EOF with a partial line: written whole */
    CHECK_STREQ(records("x\ntail", 6, 16, "T", out), "T x\nT tail\n");
    /* a partial line is held until its newline, or until it passes line_max */
    struct rec r;
    CHECK_EQ(rec_next("0123456789abcdef", 16, 16, &r), 0);
    CHECK_EQ(rec_next("0123456789abcdef\n", 17, 16, &r), 17);
    CHECK_EQ(r.len, 16);
    CHECK(!r.cont);
    CHECK_EQ(rec_next("0123456789abcdefg", 17, 16, &r), 16);
    CHECK(r.cont);
}

static void test_split(void)
{
    char out[4096];
    /* 40 bytes at line_max 16: 16 + 16 + 8, the first two continued */
    CHECK_STREQ(records("0123456789abcdef0123456789ABCDEFxyzxyzxy\n", 41, 16, "T", out),
                "T+0123456789abcdef\nT+0123456789ABCDEF\nT xyzxyzxy\n");
    /* exactly line_max: one record */
    CHECK_STREQ(records("0123456789abcdef\n", 17, 16, "T", out), "T 0123456789abcdef\n");
    /* line_max + 1 */
    CHECK_STREQ(records("0123456789abcdefg\n", 18, 16, "T", out), "T+0123456789abcdef\nT g\n");
    /* -t none: a continued piece ends in a backslash */
    struct rec r = { "abc", 3, true };
    char *e = rec_put_file(out, "", 0, &r);
    *e = 0;
    CHECK_STREQ(out, "abc\\\n");
    CHECK_EQ(rec_file_len(0, &r), 5);
    r.cont = false;
    e = rec_put_file(out, "", 0, &r);
    *e = 0;
    CHECK_STREQ(out, "abc\n");
    /* prefixed copies */
    e = rec_put_copy(out, "web", 3, &r);
    *e = 0;
    CHECK_STREQ(out, "web: abc\n");
    r.cont = true;
    e = rec_put_copy(out, "web", 3, &r);
    *e = 0;
    CHECK_STREQ(out, "web+ abc\n");
    CHECK_EQ(rec_copy_len(3, &r), 9);
}

static void test_utf8(void)
{
    /* "aaaaaaaaaaaaaa" + "€" (e2 82 ac) straddling byte 16: the cut backs
     * off to 14, before the e2 */
    const char *s = "aaaaaaaaaaaaaa\xe2\x82\xac" "bbb\n";
    CHECK_EQ(rec_cut(s, 16), 14);
    char out[256];
    CHECK_STREQ(records(s, strlen(s), 16, "T", out),
                "T+aaaaaaaaaaaaaa\nT \xe2\x82\xac" "bbb\n");
    /* a 4-byte sequence starting at 13: cut at 13 */
    const char *g = "aaaaaaaaaaaaa\xf0\x9d\x84\x9e" "c\n";
    CHECK_EQ(rec_cut(g, 16), 13);
    /* no boundary within 3 bytes (continuation bytes only): cut at line_max */
    const char *junk = "aaaaaaaaaaaa\x80\x80\x80\x80\x80\x80\n";
    CHECK_EQ(rec_cut(junk, 16), 16);
    /* a boundary exactly at line_max: no back-off */
    CHECK_EQ(rec_cut("aaaaaaaaaaaaaaa\xe2\x82\xac", 15), 15);
}

static void test_binary(void)
{
    /* NUL, ESC, CR, invalid UTF-8: kept byte for byte */
    const char in[] = "a\0b\x1b[31m\r\xff\xfe\n";
    char out[256];
    struct rec r;
    size_t k = rec_next(in, sizeof in - 1, 16, &r);
    CHECK_EQ(k, sizeof in - 1);
    CHECK_EQ(r.len, sizeof in - 2);
    char *e = rec_put_file(out, "T", 1, &r);
    CHECK_EQ(e - out, (long)sizeof in + 1);
    CHECK(memcmp(out, "T a\0b\x1b[31m\r\xff\xfe\n", sizeof in + 1) == 0);
}

static enum opts_result parse(struct dplog_opts *o, const char *a1, const char *a2,
                              const char *a3, const char *a4)
{
    char *argv[] = { "dplog", (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL };
    int argc = 1;
    while (argv[argc])
        argc++;
    char err[256];
    return opts_parse(o, argc, argv, err, sizeof err);
}

static void test_options(void)
{
    struct dplog_opts o;
    uint64_t n;
    CHECK(opts_size("4096", &n) && n == 4096);
    CHECK(opts_size("1M", &n) && n == 1048576);
    CHECK(opts_size("8k", &n) && n == 8192);
    CHECK(opts_size("2G", &n) && n == 2147483648u);
    CHECK(opts_size("3m", &n) && n == 3145728);
    CHECK(opts_size("1g", &n) && n == 1073741824);
    CHECK(!opts_size("", &n));
    CHECK(!opts_size("M", &n));
    CHECK(!opts_size("1MB", &n));
    CHECK(!opts_size("-1", &n));
    CHECK(!opts_size("1 M", &n));
    CHECK(!opts_size("99999999999999999999", &n));
    CHECK(!opts_size("99999999999G", &n));
    CHECK(opts_duration("90", &n) && n == 90);
    CHECK(opts_duration("2h", &n) && n == 7200);
    CHECK(opts_duration("1d", &n) && n == 86400);
    CHECK(!opts_duration("1w", &n));

    CHECK_EQ(parse(&o, "/var/log/x", NULL, NULL, NULL), OPTS_RUN);
    CHECK_EQ(o.max_size, 1048576);
    CHECK_EQ(o.keep, 10);
    CHECK_EQ(o.line_max, 8192);
    CHECK_EQ(o.ts, TS_RFC3339);
    CHECK_EQ(o.age, 0);
    CHECK_STREQ(o.dir, "/var/log/x");
    CHECK_EQ(parse(&o, "-s", "64k", "-n", "all"), OPTS_USAGE);    /* no DIR */
    CHECK_EQ(parse(&o, "-s64k", "--keep=all", "-tnone", "d"), OPTS_RUN);
    CHECK_EQ(o.max_size, 65536);
    CHECK_EQ(o.keep, OPT_KEEP_ALL);
    CHECK_EQ(o.ts, TS_NONE);
    CHECK_EQ(parse(&o, "--keep", "0", "--timestamps", "tai64n"), OPTS_USAGE);
    CHECK_EQ(parse(&o, "--keep", "0", "-a", "10m"), OPTS_USAGE);
    CHECK_EQ(parse(&o, "-n", "0", "-a10m", "d"), OPTS_RUN);
    CHECK_EQ(o.keep, 0);
    CHECK_EQ(o.age, 600);
    CHECK_EQ(parse(&o, "-o", "web", NULL, NULL), OPTS_RUN);    /* prefix only */
    CHECK(o.dir == NULL);
    CHECK_STREQ(o.out_name, "web");
    CHECK_EQ(parse(&o, "-e", "web", "--", "-odd-dir"), OPTS_RUN);
    CHECK_STREQ(o.dir, "-odd-dir");
    CHECK_EQ(parse(&o, "-l", "100", "d", NULL), OPTS_RUN);
    CHECK_EQ(o.line_max, 100);
    /* bad values */
    CHECK_EQ(parse(&o, "-s", "4095", "d", NULL), OPTS_USAGE);
    CHECK_EQ(parse(&o, "-s", "1X", "d", NULL), OPTS_USAGE);
    CHECK_EQ(parse(&o, "-n", "-1", "d", NULL), OPTS_USAGE);
    CHECK_EQ(parse(&o, "-n", "some", "d", NULL), OPTS_USAGE);
    CHECK_EQ(parse(&o, "-a", "0", "d", NULL), OPTS_USAGE);
    CHECK_EQ(parse(&o, "-t", "iso", "d", NULL), OPTS_USAGE);
    CHECK_EQ(parse(&o, "-l", "15", "d", NULL), OPTS_USAGE);
    CHECK_EQ(parse(&o, "-l", "2M", "-s", "1G"), OPTS_USAGE);    /* over 1M, and no DIR */
    CHECK_EQ(parse(&o, "-l", "8k", "-s", "8k"), OPTS_USAGE);
    CHECK_EQ(parse(&o, "-l", "8k", "-s", "8256"), OPTS_USAGE);  /* no DIR */
    CHECK_EQ(parse(&o, "-l", "4032", "-s", "4096"), OPTS_USAGE);   /* no DIR */
    CHECK_EQ(parse(&o, "-o", "", NULL, NULL), OPTS_USAGE);
    CHECK_EQ(parse(&o, "-p", "gzip", "d", NULL), OPTS_RUN);
    CHECK_STREQ(o.processor, "gzip");
    CHECK_EQ(parse(&o, "-p", "gzip", "-o", "web"), OPTS_USAGE);     /* no DIR to process */
    CHECK_EQ(parse(&o, "--processor=", "d", NULL, NULL), OPTS_USAGE);
    CHECK_EQ(parse(&o, "-x", "d", NULL, NULL), OPTS_USAGE);
    CHECK_EQ(parse(&o, "--size", NULL, NULL, NULL), OPTS_USAGE);  /* no value */
    CHECK_EQ(parse(&o, "--help=1", NULL, NULL, NULL), OPTS_USAGE);
    CHECK_EQ(parse(&o, "d1", "d2", NULL, NULL), OPTS_USAGE);
    CHECK_EQ(parse(&o, "", NULL, NULL, NULL), OPTS_USAGE);
    CHECK_EQ(parse(&o, "-h", NULL, NULL, NULL), OPTS_HELP);
    CHECK_EQ(parse(&o, "--version", NULL, NULL, NULL), OPTS_VERSION);
}

static void test_options_fit(void)
{
    struct dplog_opts o;
    char *argv[] = { "dplog", "-l", "4032", "-s", "4096", "d", NULL };
    char err[256];
    CHECK_EQ(opts_parse(&o, 6, argv, err, sizeof err), OPTS_RUN);   /* 4032 + 64 = 4096 */
    argv[2] = "4033";
    CHECK_EQ(opts_parse(&o, 6, argv, err, sizeof err), OPTS_USAGE);
    CHECK(strstr(err, "-l 4033") != NULL);
    /* without -l, a small -s lowers the default line length to fit */
    char *small[] = { "dplog", "-s", "4096", "d", NULL };
    CHECK_EQ(opts_parse(&o, 4, small, err, sizeof err), OPTS_RUN);
    CHECK_EQ(o.line_max, 4032);
    char *big[] = { "dplog", "-s", "1M", "d", NULL };
    CHECK_EQ(opts_parse(&o, 4, big, err, sizeof err), OPTS_RUN);
    CHECK_EQ(o.line_max, 8192);
}

UNIT_MAIN(test_rfc3339, test_tai64n, test_parse, test_records, test_split, test_utf8, test_binary,
          test_options, test_options_fit)
