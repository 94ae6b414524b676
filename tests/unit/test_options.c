/* test_options.c - the argv parser (docs/daemonproxy.1 OPTIONS, options.h). */
#include "options.h"
#include "unit.h"

#include <stdarg.h>

static struct options o;
static char err[256];

/* opt_parse() over "daemonproxy" followed by the given arguments (NULL-terminated). */
static enum opt_result parse(const char *first, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"daemonproxy";
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    memset(err, 'X', sizeof err);
    err[sizeof err - 1] = '\0';
    return opt_parse(argc, argv, &o, err, sizeof err);
}

static bool has(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

/* The error text is one line. */
static bool one_line(const char *s)
{
    return s[0] != '\0' && strchr(s, '\n') == NULL;
}

static void test_defaults(void)
{
    memset(&o, 0x5a, sizeof o);     /* opt_parse must clear everything */
    CHECK_EQ(parse(NULL), OPT_OK);
    CHECK(o.config == NULL);
    CHECK(o.socket_path == NULL);
    CHECK(o.exit_exec == NULL);
    CHECK(!o.interactive && !o.daemonize && !o.mlockall && !o.help && !o.version);
    CHECK(!o.container);
    CHECK(o.pidfile == NULL);
    CHECK_EQ(o.verbosity, 0);
    CHECK(!o.exit_guard_set);
    CHECK(!o.fd_pool_set);
    CHECK(!o.svc_pool_set);
    CHECK_STREQ(err, "");
}

static void test_flags(void)
{
    CHECK_EQ(parse("-i", NULL), OPT_OK);
    CHECK(o.interactive);
    CHECK_EQ(parse("--interactive", NULL), OPT_OK);
    CHECK(o.interactive);
    CHECK_EQ(parse("-D", NULL), OPT_OK);
    CHECK(o.daemonize);
    CHECK_EQ(parse("--daemonize", NULL), OPT_OK);
    CHECK(o.daemonize);
    CHECK_EQ(parse("-M", NULL), OPT_OK);
    CHECK(o.mlockall);
    CHECK_EQ(parse("--mlockall", NULL), OPT_OK);
    CHECK(o.mlockall);
    CHECK_EQ(parse("-h", NULL), OPT_OK);
    CHECK(o.help && !o.version);
    CHECK_EQ(parse("--help", NULL), OPT_OK);
    CHECK(o.help);
    CHECK_EQ(parse("-V", NULL), OPT_OK);
    CHECK(o.version && !o.help);
    CHECK_EQ(parse("--version", NULL), OPT_OK);
    CHECK(o.version);
    CHECK_EQ(parse("-i", "-D", "-M", NULL), OPT_OK);
    CHECK(o.interactive && o.daemonize && o.mlockall);
    CHECK(o.config == NULL && o.socket_path == NULL);
}

/* --container (extension): a flag, long form only, no argument. */
static void test_container(void)
{
    CHECK_EQ(parse("--container", NULL), OPT_OK);
    CHECK(o.container && !o.daemonize && !o.exit_guard_set);
    CHECK_EQ(parse("--container", "--exit-guard", "5", "-c", "f", NULL), OPT_OK);
    CHECK(o.container && o.exit_guard_set && o.exit_guard == 5);
    CHECK_STREQ(o.config, "f");
    CHECK_EQ(parse("--container=1", NULL), OPT_ERROR);
    CHECK(has(err, "--container") && has(err, "no argument"));
    CHECK_EQ(parse("--containers", NULL), OPT_ERROR);
    CHECK(has(err, "Unknown option"));
}

/* --pidfile PATH (extension): long form only, takes an argument. */
static void test_pidfile(void)
{
    CHECK_EQ(parse("--pidfile", "/run/dp.pid", NULL), OPT_OK);
    CHECK_STREQ(o.pidfile, "/run/dp.pid");
    CHECK(!o.daemonize && o.socket_path == NULL);
    CHECK_EQ(parse("--pidfile=rel/dp.pid", NULL), OPT_OK);
    CHECK_STREQ(o.pidfile, "rel/dp.pid");
    /* The argument is taken even if it looks like an option. */
    CHECK_EQ(parse("--pidfile", "-D", NULL), OPT_OK);
    CHECK_STREQ(o.pidfile, "-D");
    CHECK(!o.daemonize);
    CHECK_EQ(parse("-D", "-S", "s", "--pidfile", "p", NULL), OPT_OK);
    CHECK(o.daemonize);
    CHECK_STREQ(o.socket_path, "s");
    CHECK_STREQ(o.pidfile, "p");
    /* The last one wins; empty is still an argument (main rejects it). */
    CHECK_EQ(parse("--pidfile", "a", "--pidfile=b", NULL), OPT_OK);
    CHECK_STREQ(o.pidfile, "b");
    CHECK_EQ(parse("--pidfile=", NULL), OPT_OK);
    CHECK_STREQ(o.pidfile, "");
    CHECK_EQ(parse("--pidfile", NULL), OPT_ERROR);
    CHECK(has(err, "--pidfile") && has(err, "requires an argument") && one_line(err));
    CHECK_EQ(parse("--pid", "x", NULL), OPT_ERROR);
    CHECK(has(err, "Unknown option"));
    CHECK_EQ(parse("--pidfiles", "x", NULL), OPT_ERROR);
    CHECK(has(err, "Unknown option"));
}

static void test_verbosity(void)
{
    CHECK_EQ(parse("-v", NULL), OPT_OK);
    CHECK_EQ(o.verbosity, 1);
    CHECK_EQ(parse("-vv", NULL), OPT_OK);
    CHECK_EQ(o.verbosity, 2);
    CHECK_EQ(parse("-vvq", NULL), OPT_OK);
    CHECK_EQ(o.verbosity, 1);
    CHECK_EQ(parse("-q", NULL), OPT_OK);
    CHECK_EQ(o.verbosity, -1);
    CHECK_EQ(parse("-v", "-v", "-q", "-q", "-q", NULL), OPT_OK);
    CHECK_EQ(o.verbosity, -1);
    CHECK_EQ(parse("--verbose", "--verbose", "--quiet", "-vvv", NULL), OPT_OK);
    CHECK_EQ(o.verbosity, 4);
    CHECK_EQ(parse("-ivq", NULL), OPT_OK);
    CHECK(o.interactive);
    CHECK_EQ(o.verbosity, 0);
}

static void test_args(void)
{
    CHECK_EQ(parse("-c", "FILE", NULL), OPT_OK);
    CHECK_STREQ(o.config, "FILE");
    CHECK_EQ(parse("--config", "FILE", NULL), OPT_OK);
    CHECK_STREQ(o.config, "FILE");
    CHECK_EQ(parse("--config=FILE", NULL), OPT_OK);
    CHECK_STREQ(o.config, "FILE");
    CHECK_EQ(parse("--config=a=b", NULL), OPT_OK);
    CHECK_STREQ(o.config, "a=b");
    CHECK_EQ(parse("-cFILE", NULL), OPT_OK);
    CHECK_STREQ(o.config, "FILE");
    CHECK_EQ(parse("-c", "-", NULL), OPT_OK);
    CHECK_STREQ(o.config, "-");
    /* The argument is taken even if it looks like an option. */
    CHECK_EQ(parse("-c", "-i", NULL), OPT_OK);
    CHECK_STREQ(o.config, "-i");
    CHECK(!o.interactive);

    /* Bundling: an option with an argument ends the bundle. */
    CHECK_EQ(parse("-ic", "FILE", NULL), OPT_OK);
    CHECK(o.interactive);
    CHECK_STREQ(o.config, "FILE");
    CHECK_EQ(parse("-vic", "FILE", "-q", NULL), OPT_OK);
    CHECK(o.interactive);
    CHECK_STREQ(o.config, "FILE");
    CHECK_EQ(o.verbosity, 0);
    CHECK_EQ(parse("-ci", NULL), OPT_OK);     /* -c with argument "i" */
    CHECK_STREQ(o.config, "i");
    CHECK(!o.interactive);
    CHECK_EQ(parse("-icFILE", NULL), OPT_OK);
    CHECK(o.interactive);
    CHECK_STREQ(o.config, "FILE");

    CHECK_EQ(parse("-S", "/run/dp.sock", NULL), OPT_OK);
    CHECK_STREQ(o.socket_path, "/run/dp.sock");
    CHECK_EQ(parse("--socket", "s", NULL), OPT_OK);
    CHECK_STREQ(o.socket_path, "s");
    CHECK_EQ(parse("--socket=s2", NULL), OPT_OK);
    CHECK_STREQ(o.socket_path, "s2");
    CHECK_EQ(parse("-Ss3", NULL), OPT_OK);
    CHECK_STREQ(o.socket_path, "s3");
    CHECK(!o.default_socket);
    CHECK_EQ(parse("--default-socket", NULL), OPT_OK);
    CHECK(o.default_socket);
    CHECK(o.socket_path == NULL);       /* main resolves it (sockpath.h) */
    CHECK_EQ(parse("--default-socket=x", NULL), OPT_ERROR);

    CHECK_EQ(parse("-E", "/bin/echo\tbye", NULL), OPT_OK);
    CHECK_STREQ(o.exit_exec, "/bin/echo\tbye");
    CHECK_EQ(parse("--exit-exec", "x", NULL), OPT_OK);
    CHECK_STREQ(o.exit_exec, "x");
    CHECK_EQ(parse("--exit-exec=y\tz", NULL), OPT_OK);
    CHECK_STREQ(o.exit_exec, "y\tz");

    /* Everything together; the last of a repeated option wins. */
    CHECK_EQ(parse("-c", "a", "-S", "sock", "-i", "-E", "e", "-c", "b", NULL), OPT_OK);
    CHECK_STREQ(o.config, "b");
    CHECK_STREQ(o.socket_path, "sock");
    CHECK_STREQ(o.exit_exec, "e");
    CHECK(o.interactive);

    /* An empty argument is still an argument. */
    CHECK_EQ(parse("-c", "", NULL), OPT_OK);
    CHECK_STREQ(o.config, "");
}

static void test_missing_arg(void)
{
    struct { const char *arg, *shown; } cases[] = {
        { "-c", "-c" }, { "-S", "-S" }, { "-E", "-E" },
        { "--config", "config" }, { "--socket", "socket" }, { "--exit-exec", "exit-exec" },
        { "--exit-guard", "exit-guard" }, { "--fd-pool", "fd-pool" },
        { "--service-pool", "service-pool" }, { "--pidfile", "pidfile" },
        { "-ic", "-c" }, { "-vS", "-S" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        CHECK_EQ(parse(cases[i].arg, NULL), OPT_ERROR);
        bool good = CHECK(has(err, cases[i].shown));
        good &= CHECK(one_line(err));
        if (!good)
            fprintf(stderr, "  for %s: \"%s\"\n", cases[i].arg, err);
    }
    /* After other options too. */
    CHECK_EQ(parse("-i", "-c", NULL), OPT_ERROR);
    CHECK(has(err, "-c"));
}

static void test_unknown(void)
{
    struct { const char *arg, *shown; } cases[] = {
        { "-x", "-x" }, { "-ix", "-x" }, { "-vvZ", "-Z" }, { "--bogus", "--bogus" },
        { "--bogus=1", "--bogus" }, { "--conf", "--conf" }, { "--configx", "--configx" },
        { "--Config", "--Config" }, { "---", "---" }, { "-I", "-I" },
        { "--i", "--i" }, { "--exit", "--exit" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        CHECK_EQ(parse(cases[i].arg, NULL), OPT_ERROR);
        bool good = CHECK(has(err, cases[i].shown));
        good &= CHECK(one_line(err));
        if (!good)
            fprintf(stderr, "  for %s: \"%s\"\n", cases[i].arg, err);
    }
    /* Positional arguments, "-" and "--" are not accepted. */
    CHECK_EQ(parse("foo", NULL), OPT_ERROR);
    CHECK(has(err, "foo"));
    CHECK_EQ(parse("-i", "foo", NULL), OPT_ERROR);
    CHECK(has(err, "foo"));
    CHECK_EQ(parse("-c", "f", "extra", NULL), OPT_ERROR);
    CHECK(has(err, "extra"));
    CHECK_EQ(parse("-", NULL), OPT_ERROR);
    CHECK(one_line(err));
    CHECK_EQ(parse("--", NULL), OPT_ERROR);
    CHECK(one_line(err));
    CHECK_EQ(parse("", NULL), OPT_ERROR);
    CHECK(one_line(err));
    /* A flag given a value. */
    CHECK_EQ(parse("--help=1", NULL), OPT_ERROR);
    CHECK(has(err, "help"));
    CHECK_EQ(parse("--interactive=", NULL), OPT_ERROR);
    CHECK(has(err, "interactive"));
}

static void test_exit_guard(void)
{
    CHECK_EQ(parse("--exit-guard", "1", NULL), OPT_OK);
    CHECK(o.exit_guard_set);
    CHECK_EQ(o.exit_guard, 1);
    CHECK_EQ(parse("--exit-guard", "-1", NULL), OPT_OK);
    CHECK_EQ(o.exit_guard, -1);
    CHECK_EQ(parse("--exit-guard=-5", NULL), OPT_OK);
    CHECK_EQ(o.exit_guard, -5);
    CHECK_EQ(parse("--exit-guard", "+7", NULL), OPT_OK);
    CHECK_EQ(o.exit_guard, 7);
    CHECK_EQ(parse("--exit-guard", "9223372036854775807", NULL), OPT_OK);
    CHECK(o.exit_guard == INT64_MAX);
    CHECK_EQ(parse("--exit-guard", "-9223372036854775808", NULL), OPT_OK);
    CHECK(o.exit_guard == INT64_MIN);
    CHECK_EQ(parse("--exit-guard", "1234567890123456", NULL), OPT_OK);
    CHECK(o.exit_guard == 1234567890123456LL);

    const char *bad[] = {
        "0", "-0", "+0", "000", "abc", "", "1x", "x1", " 1", "1 ", "0x10", "1.5", "-",
        "9223372036854775808", "-9223372036854775809", "18446744073709551616",
        "99999999999999999999999999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_EQ(parse("--exit-guard", bad[i], NULL), OPT_ERROR);
        CHECK(has(err, "exit-guard"));
        CHECK(one_line(err));
        CHECK(!o.exit_guard_set);
    }
    CHECK_EQ(parse("--exit-guard=0", NULL), OPT_ERROR);
    CHECK(has(err, "exit-guard"));
    CHECK_EQ(parse("--exit-guard=abc", NULL), OPT_ERROR);
    CHECK(has(err, "abc"));
}

static void test_pool_parse(void)
{
    struct { const char *s; int64_t count, size; } good[] = {
        { "0", 0, 0 },
        { "7", 7, 0 },
        { "10", 10, 0 },
        { "+10", 10, 0 },
        { "010", 10, 0 },
        { "10x64", 10, 64 },
        { "10x0", 10, 0 },
        { "10x4K", 10, 4096 },
        { "10x4k", 10, 4096 },
        { "3x2M", 3, 2 * 1024 * 1024 },
        { "3x2m", 3, 2 * 1024 * 1024 },
        { "1x1", 1, 1 },
        { "2147483647", 2147483647, 0 },
        { "1x9223372036854775807", 1, INT64_MAX },
        { "1x9007199254740991K", 1, 9007199254740991LL * 1024 },
        { "1x8796093022207M", 1, 8796093022207LL * 1024 * 1024 },
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        int64_t c = -99, s = -99;
        bool ok = opt_parse_pool(good[i].s, &c, &s);
        bool all = CHECK(ok);
        all &= CHECK(c == good[i].count);
        all &= CHECK(s == good[i].size);
        if (!all)
            fprintf(stderr, "  for \"%s\": %d %lld %lld\n", good[i].s, ok,
                    (long long)c, (long long)s);
    }
    const char *bad[] = {
        "", "x", "x5", "5x", "5xK", "5xM", "K", "abc", "-1", "-1x64", "5x-1", "5x+-1",
        "5x4G", "5x4KB", "5x4KK", "5x1.5K", "5X64", " 5", "5 ", "5x 64", "5x64 ",
        "5x64x2", "0x10x", "2147483648", "99999999999999999999",
        "1x9223372036854775808", "1x9007199254740992K", "1x8796093022208M",
        "1x00000000000000000000000000000000000000001",
        "00000000000000000000000000000000000000001",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int64_t c = 0, s = 0;
        if (!CHECK(!opt_parse_pool(bad[i], &c, &s)))
            fprintf(stderr, "  accepted \"%s\": %lld x %lld\n", bad[i],
                    (long long)c, (long long)s);
    }
}

static void test_pool_options(void)
{
    CHECK_EQ(parse("--fd-pool", "20", NULL), OPT_OK);
    CHECK(o.fd_pool_set && !o.svc_pool_set);
    CHECK_EQ(o.fd_pool_count, 20);
    CHECK_EQ(o.fd_pool_size, 0);
    CHECK_EQ(parse("--fd-pool=20x1K", NULL), OPT_OK);
    CHECK_EQ(o.fd_pool_count, 20);
    CHECK_EQ(o.fd_pool_size, 1024);
    CHECK_EQ(parse("--service-pool", "5x512", NULL), OPT_OK);
    CHECK(o.svc_pool_set && !o.fd_pool_set);
    CHECK_EQ(o.svc_pool_count, 5);
    CHECK_EQ(o.svc_pool_size, 512);
    CHECK_EQ(parse("--service-pool=100", "--fd-pool", "8x2k", NULL), OPT_OK);
    CHECK(o.svc_pool_set && o.fd_pool_set);
    CHECK_EQ(o.svc_pool_count, 100);
    CHECK_EQ(o.svc_pool_size, 0);
    CHECK_EQ(o.fd_pool_count, 8);
    CHECK_EQ(o.fd_pool_size, 2048);

    const char *bad[] = { "", "abc", "5x", "x5", "-3", "5xQ" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_EQ(parse("--fd-pool", bad[i], NULL), OPT_ERROR);
        CHECK(has(err, "fd-pool"));
        CHECK(one_line(err));
        CHECK_EQ(parse("--service-pool", bad[i], NULL), OPT_ERROR);
        CHECK(has(err, "service-pool"));
        CHECK(one_line(err));
    }
    CHECK_EQ(parse("--fd-pool=bogus", NULL), OPT_ERROR);
    CHECK(has(err, "bogus"));
}

static void test_errbuf(void)
{
    /* A small error buffer is filled, NUL-terminated, never overrun. */
    char small[16];
    memset(small, 'Z', sizeof small);
    char *argv[] = { (char *)"daemonproxy", (char *)"--a-very-long-unknown-option", NULL };
    CHECK_EQ(opt_parse(2, argv, &o, small, 8), OPT_ERROR);
    CHECK_EQ(strlen(small), 7);
    CHECK(small[8] == 'Z' && small[15] == 'Z');

    /* On success the buffer is an empty string. */
    char *argv2[] = { (char *)"daemonproxy", (char *)"-i", NULL };
    memset(small, 'Z', sizeof small);
    CHECK_EQ(opt_parse(2, argv2, &o, small, sizeof small), OPT_OK);
    CHECK_STREQ(small, "");

    /* argc is honoured (argv need not be NULL-terminated at argc). */
    char *argv3[] = { (char *)"daemonproxy", (char *)"-i", (char *)"junk" };
    CHECK_EQ(opt_parse(2, argv3, &o, small, sizeof small), OPT_OK);
    CHECK_EQ(opt_parse(1, argv3, &o, small, sizeof small), OPT_OK);
    CHECK(!o.interactive);
}

static void test_usage(void)
{
    const char *u = opt_usage();
    CHECK(u != NULL);
    CHECK(has(u, "options"));
    CHECK(has(u, "--interactive"));
    CHECK(has(u, "--exit-exec"));
    const char *all[] = {
        "--config", "--interactive", "--socket", "--daemonize", "--exit-guard",
        "--exit-exec", "--fd-pool", "--service-pool", "--mlockall", "--verbose",
        "--quiet", "--help", "--version", "--container", "--pidfile", "-c,", "-i,", "-S,",
        "-D,", "-E,", "-M,", "-v,", "-q,", "-h,", "-V,",
    };
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (!CHECK(has(u, all[i])))
            fprintf(stderr, "  usage lacks %s\n", all[i]);
    /* Ends with a newline; lines fit a terminal. */
    size_t n = strlen(u);
    CHECK(n > 0 && u[n - 1] == '\n');
    size_t longest = 0;
    for (const char *p = u; *p;) {
        size_t l = strcspn(p, "\n");
        if (l > longest)
            longest = l;
        p += l + (p[l] == '\n');
    }
    CHECK(longest <= 80);
}

UNIT_MAIN(test_defaults, test_flags, test_container, test_pidfile, test_verbosity, test_args,
          test_missing_arg, test_unknown, test_exit_guard, test_pool_parse, test_pool_options,
          test_errbuf, test_usage)
