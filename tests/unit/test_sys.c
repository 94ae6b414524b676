/* test_sys.c - sys_parse_int() boundaries, the small fd helpers of
 * sys.h on pipes, and sys_proc_stat() on processes with odd names. */
#include "sys.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static bool parse(const char *s, int64_t min, int64_t max, int64_t *out)
{
    return sys_parse_int(s, min, max, out);
}

static void test_parse_valid(void)
{
    struct { const char *s; int64_t v; } cases[] = {
        { "0", 0 },
        { "-0", 0 },
        { "+0", 0 },
        { "1", 1 },
        { "+5", 5 },
        { "-5", -5 },
        { "007", 7 },
        { "-007", -7 },
        { "00000000000000000000000000000042", 42 },
        { "2147483647", 2147483647 },
        { "2147483648", 2147483648LL },
        { "-2147483649", -2147483649LL },
        { "4294967296", 4294967296LL },
        { "9223372036854775806", INT64_MAX - 1 },
        { "9223372036854775807", INT64_MAX },
        { "+9223372036854775807", INT64_MAX },
        { "-9223372036854775807", INT64_MIN + 1 },
        { "-9223372036854775808", INT64_MIN },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int64_t v = 12345;
        bool ok = parse(cases[i].s, INT64_MIN, INT64_MAX, &v);
        bool all = CHECK(ok);
        all &= CHECK(v == cases[i].v);
        if (!all)
            fprintf(stderr, "  for \"%s\": ok=%d v=%lld\n", cases[i].s, ok, (long long)v);
    }
}

static void test_parse_invalid(void)
{
    const char *bad[] = {
        "", "-", "+", "--1", "++1", "+-1", "-+1", " 1", "1 ", "\t1", "1\n", " ",
        "0x10", "0X10", "x", "1e3", "1.0", "1,000", "1_000", "abc", "12a", "a12",
        "9223372036854775808", "+9223372036854775808", "-9223372036854775809",
        "18446744073709551615", "18446744073709551616", "-18446744073709551616",
        "99999999999999999999", "-99999999999999999999",
        "184467440737095516150",    /* overflows uint64 in the last step */
        "100000000000000000000000000000000000000",
        "\xd9\xa1",                 /* ARABIC-INDIC DIGIT ONE */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int64_t v = 12345;
        if (!CHECK(!parse(bad[i], INT64_MIN, INT64_MAX, &v)))
            fprintf(stderr, "  accepted \"%s\" as %lld\n", bad[i], (long long)v);
    }
    int64_t v = 1;
    CHECK(!sys_parse_int(NULL, INT64_MIN, INT64_MAX, &v));
}

static void test_parse_limits(void)
{
    int64_t v;
    CHECK(parse("10", 0, 10, &v) && v == 10);
    CHECK(parse("0", 0, 10, &v) && v == 0);
    CHECK(!parse("11", 0, 10, &v));
    CHECK(!parse("-1", 0, 10, &v));
    CHECK(parse("-0", 0, 10, &v) && v == 0);
    CHECK(!parse("0", 1, 10, &v));
    CHECK(parse("5", 5, 5, &v) && v == 5);
    CHECK(!parse("4", 5, 5, &v));
    CHECK(!parse("6", 5, 5, &v));
    CHECK(parse("-3", -3, -1, &v) && v == -3);
    CHECK(parse("-1", -3, -1, &v) && v == -1);
    CHECK(!parse("0", -3, -1, &v));
    CHECK(!parse("-4", -3, -1, &v));
    CHECK(parse("-9223372036854775808", INT64_MIN, INT64_MIN, &v) && v == INT64_MIN);
    CHECK(!parse("-9223372036854775807", INT64_MIN, INT64_MIN, &v));
    CHECK(parse("9223372036854775807", INT64_MAX, INT64_MAX, &v) && v == INT64_MAX);
    CHECK(!parse("9223372036854775806", INT64_MAX, INT64_MAX, &v));
    CHECK(parse("2147483647", 0, INT32_MAX, &v) && v == INT32_MAX);
    CHECK(!parse("2147483648", 0, INT32_MAX, &v));
    CHECK(parse("-2147483648", INT32_MIN, INT32_MAX, &v) && v == INT32_MIN);
    CHECK(!parse("-2147483649", INT32_MIN, INT32_MAX, &v));
    /* An empty range accepts nothing. */
    CHECK(!parse("0", 1, 0, &v));

    /* Every value around the int64 edges, by construction. */
    bool ok = true;
    char buf[32];
    for (int64_t d = 0; d < 1000; d++) {
        int64_t hi = INT64_MAX - d, lo = INT64_MIN + d;
        snprintf(buf, sizeof buf, "%lld", (long long)hi);
        ok &= parse(buf, INT64_MIN, INT64_MAX, &v) && v == hi;
        snprintf(buf, sizeof buf, "%lld", (long long)lo);
        ok &= parse(buf, INT64_MIN, INT64_MAX, &v) && v == lo;
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)INT64_MAX + 1 + (uint64_t)d);
        ok &= !parse(buf, INT64_MIN, INT64_MAX, &v);
        snprintf(buf, sizeof buf, "-%llu", (unsigned long long)INT64_MAX + 2 + (uint64_t)d);
        ok &= !parse(buf, INT64_MIN, INT64_MAX, &v);
    }
    CHECK(ok);
}

static void test_fd_helpers(void)
{
    int p[2];
    if (!CHECK(pipe(p) == 0))
        return;

    CHECK(!(fcntl(p[0], F_GETFL) & O_NONBLOCK));
    CHECK_EQ(sys_set_nonblock(p[0], true), 0);
    CHECK(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    CHECK_EQ(sys_set_nonblock(p[0], true), 0);   /* idempotent */
    CHECK_EQ(sys_set_nonblock(p[0], false), 0);
    CHECK(!(fcntl(p[0], F_GETFL) & O_NONBLOCK));

    CHECK(!(fcntl(p[1], F_GETFD) & FD_CLOEXEC));
    CHECK_EQ(sys_set_cloexec(p[1], true), 0);
    CHECK(fcntl(p[1], F_GETFD) & FD_CLOEXEC);
    CHECK_EQ(sys_set_cloexec(p[1], false), 0);
    CHECK(!(fcntl(p[1], F_GETFD) & FD_CLOEXEC));

    errno = 0;
    CHECK_EQ(sys_set_nonblock(-1, true), -1);
    CHECK_EQ(errno, EBADF);
    CHECK_EQ(sys_set_cloexec(-1, true), -1);

    int d = sys_dup_cloexec(p[1], 20);
    CHECK(d >= 20);
    CHECK(fcntl(d, F_GETFD) & FD_CLOEXEC);

    /* read/write through the wrappers. */
    CHECK_EQ(sys_write(d, "abc", 3), 3);
    char buf[8];
    CHECK_EQ(sys_read(p[0], buf, sizeof buf), 3);
    CHECK(memcmp(buf, "abc", 3) == 0);
    CHECK_EQ(sys_set_nonblock(p[0], true), 0);
    errno = 0;
    CHECK_EQ(sys_read(p[0], buf, sizeof buf), -1);
    CHECK_EQ(errno, EAGAIN);
    CHECK_EQ(sys_set_nonblock(p[0], false), 0);

    /* A private non-blocking copy leaves the original blocking. */
    int nb = sys_private_nonblock(p[0], false);
    CHECK(nb >= 0);
    CHECK(fcntl(nb, F_GETFL) & O_NONBLOCK);
    CHECK(fcntl(nb, F_GETFD) & FD_CLOEXEC);
    CHECK(!(fcntl(p[0], F_GETFL) & O_NONBLOCK));
    CHECK_EQ(sys_write(p[1], "x", 1), 1);
    CHECK_EQ(sys_read(nb, buf, 1), 1);          /* same pipe */
    CHECK_EQ(buf[0], 'x');
    errno = 0;
    CHECK_EQ(sys_read(nb, buf, 1), -1);
    CHECK_EQ(errno, EAGAIN);

    /* sys_close keeps errno, and tolerates -1. */
    errno = ENOENT;
    sys_close(nb);
    sys_close(d);
    sys_close(-1);
    CHECK_EQ(errno, ENOENT);
    CHECK(fcntl(d, F_GETFD) == -1);

    /* sys_open adds O_CLOEXEC. */
    int fd = sys_open("/dev/null", O_RDONLY, 0);
    CHECK(fd >= 0);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    sys_close(fd);
    errno = 0;
    CHECK_EQ(sys_open("/nonexistent/dir/file", O_RDONLY, 0), -1);
    CHECK_EQ(errno, ENOENT);

    sys_close(p[0]);
    sys_close(p[1]);
}

static void test_clock(void)
{
    int64_t a = sys_mono_ms(), s = sys_mono_sec();
    int64_t b = sys_mono_ms();
    CHECK(a > 0);
    CHECK(b >= a);
    CHECK(s >= a / 1000 && s <= b / 1000 + 1);
}

static void test_proc_stat(void)
{
    pid_t pp;
    uint64_t mine, child_start;
    CHECK(sys_proc_stat(getpid(), &pp, &mine));
    CHECK(pp == getppid());
    CHECK(mine > 0);
    /* A name with spaces and parentheses does not shift the fields. */
    int up[2], down[2];
    CHECK(pipe(up) == 0 && pipe(down) == 0);
    pid_t child = fork();
    if (child == 0) {
        prctl(PR_SET_NAME, ") (x) 1 2 ");
        char c = 0;
        ssize_t n = write(up[1], &c, 1);
        n = read(down[0], &c, 1);   /* until the parent has looked */
        _exit(n == 1 ? 0 : 1);
    }
    CHECK(child > 0);
    char c;
    CHECK(read(up[0], &c, 1) == 1);
    CHECK(sys_proc_stat(child, &pp, &child_start));
    CHECK(pp == getpid());
    CHECK(child_start >= mine);     /* a child never started before its parent */
    CHECK(write(down[1], &c, 1) == 1);
    int st;
    CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(!sys_proc_stat(0, &pp, &child_start));
    CHECK(!sys_proc_stat(-1, &pp, &child_start));
    close(up[0]);
    close(up[1]);
    close(down[0]);
    close(down[1]);
}

/* sys_sort_ints against a counting sort of the same values: sizes around
 * the heap's edges, duplicates, the extremes, already sorted and reversed. */
static void test_sort_ints(void)
{
    static int v[3000];
    static unsigned count[64];
    unsigned seed = 1;
    for (size_t n = 0; n < sizeof v / sizeof v[0]; n = n < 20 ? n + 1 : n * 3) {
        for (int shape = 0; shape < 4; shape++) {
            memset(count, 0, sizeof count);
            for (size_t i = 0; i < n; i++) {
                seed = seed * 1103515245 + 12345;
                int x = shape == 0 ? (int)(seed >> 16) % 64 : shape == 1 ? (int)i % 64
                      : shape == 2 ? 63 - (int)(i * 64 / (n ? n : 1)) : (int)(seed >> 30);
                v[i] = x;
                count[x]++;
            }
            sys_sort_ints(v, n);
            size_t at = 0;
            for (int x = 0; x < 64; x++)
                for (unsigned k = 0; k < count[x]; k++)
                    CHECK_EQ(v[at++], x);
        }
    }
    int ext[] = { INT_MAX, 0, INT_MIN, -1, INT_MAX, INT_MIN };
    sys_sort_ints(ext, 6);
    CHECK(ext[0] == INT_MIN && ext[1] == INT_MIN && ext[2] == -1 && ext[3] == 0 &&
          ext[4] == INT_MAX && ext[5] == INT_MAX);
}

static void test_find(void)
{
    const char *s = "populated 1\nfrozen 0\n";
    CHECK(sys_find(s, "populated ") == s);
    CHECK(sys_find(s, "frozen ") == s + 12);
    CHECK(sys_find(s, "frozen 1") == NULL);
    CHECK(sys_find(s, "\n") == s + 11);
    CHECK(sys_find(s, "") == s);
    CHECK(sys_find("", "") != NULL);
    CHECK(sys_find("", "a") == NULL);
    CHECK(sys_find("a..b", "..") != NULL);
    CHECK(sys_find("a.b.c", "..") == NULL);
    CHECK(sys_find("3 - cgroup2", " - ") != NULL);
    CHECK(sys_find("aab", "ab") != NULL);     /* a false start, then the match */
    CHECK(sys_find("ab", "abc") == NULL);     /* the needle runs past the end */
}

/* The word-at-a-time helpers against byte-by-byte models, on buffers
 * allocated to the exact size (ASan sees any read past them), at every
 * length up to 3 words and with the bytes that trip such tricks: NUL, 1,
 * the bytes around 0x20 (a borrow marks a 0x20 after a control byte),
 * TAB, newline and the high bytes. */
static void test_words(void)
{
    static const unsigned char odd[] = { 0, 1, '\t', '\n', 0x1f, 0x20, 0x21, 0x7f, 0x80,
                                         0x9f, 0xa0, 0xff, 'a', 'a', 'a', 'a' };
    unsigned seed = 12345;
    bool word_ok = true, below_ok = true, find_ok = true;
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)round % 25;
        unsigned char *b = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            b[i] = odd[(seed >> 16) % sizeof odd];
        }
        const char *s = (const char *)b;
        if (n <= 8) {
            uint64_t want = 0;
            for (size_t i = 0; i < n; i++)
                want |= (uint64_t)b[i] << 8 * i;
            uint64_t w = sys_word(s, n);
            word_ok &= w == want;
            for (unsigned k = 1; k <= 0x80; k += 0x1f) {
                uint64_t m = sys_below(w, k) & sys_first(n);
                size_t first = n;
                for (size_t i = 0; i < n; i++) {
                    bool marked = m >> (8 * i + 7) & 1;
                    if (b[i] < k && first == n)
                        first = i;
                    /* every byte below k marked; a wrong mark only on k */
                    below_ok &= b[i] < k ? marked : (!marked || b[i] == k);
                }
                below_ok &= (m ? (size_t)__builtin_ctzll(m) / 8 : n) == first;
                below_ok &= (m & ~0x8080808080808080ull) == 0;
            }
        }
        for (int c = 0; c < 256; c += 9) {
            find_ok &= sys_find_byte(s, n, (char)c) == memchr(s, c, n);
            find_ok &= sys_find_byte(s, n, '\n') == memchr(s, '\n', n);
        }
        free(b);
    }
    CHECK(word_ok);
    CHECK(below_ok);
    CHECK(find_ok);
    CHECK(sys_find_byte("", 0, '\0') == NULL);
}

UNIT_MAIN(test_parse_valid, test_parse_invalid, test_parse_limits, test_fd_helpers,
          test_clock, test_proc_stat, test_sort_ints, test_find,
          test_words)
