/* test_protocol.c - the pure protocol layer: the input framer, field
 * splitting, ignored lines, the event line builder and the command table
 * (docs/protocol.md "Lines and fields", protocol.h). */
#include "protocol.h"
#include "unit.h"

#include <stddef.h>

/* --- framer harness ------------------------------------------------------ */

/* What proto_in_next() produced, in order. */
struct rec {
    enum proto_next kind;
    size_t len;
    char *text;         /* copy of the line, if any */
};

struct recs {
    struct rec *r;
    size_t n, cap;
};

static void recs_add(struct recs *rs, enum proto_next kind, const char *line, size_t len)
{
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 16;
        rs->r = realloc(rs->r, rs->cap * sizeof *rs->r);
        if (!rs->r)
            abort();
    }
    struct rec *r = &rs->r[rs->n++];
    r->kind = kind;
    r->len = len;
    r->text = NULL;
    if (line) {
        r->text = malloc(len + 1);
        if (!r->text)
            abort();
        memcpy(r->text, line, len);
        r->text[len] = '\0';
    }
}

static void recs_free(struct recs *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        free(rs->r[i].text);
    free(rs->r);
    rs->r = NULL;
    rs->n = rs->cap = 0;
}

/* Take every available line, as the controller does after each read.
 * Checks that a returned line is NUL-terminated at *len. */
static bool bad_termination;

static void drain(struct proto_in *in, struct recs *rs)
{
    for (;;) {
        char *line = NULL;
        size_t len = 0;
        enum proto_next k = proto_in_next(in, &line, &len);
        if (k == PROTO_NONE)
            return;
        if (k == PROTO_LINE && line[len] != '\0')
            bad_termination = true;
        recs_add(rs, k, line, len);
    }
}

/* Feed data in commits of at most `chunk` bytes, draining after each.
 * Returns false if proto_in_space() ever offered no room. */
static bool feed(struct proto_in *in, const char *data, size_t n, size_t chunk,
                 struct recs *rs)
{
    size_t off = 0;
    while (off < n) {
        size_t room = 0;
        char *p = proto_in_space(in, &room);
        if (room == 0)
            return false;
        size_t k = n - off;
        if (k > chunk)
            k = chunk;
        if (k > room)
            k = room;
        memcpy(p, data + off, k);
        proto_in_commit(in, k);
        off += k;
        drain(in, rs);
    }
    return true;
}

static bool feed_str(struct proto_in *in, const char *s, size_t chunk, struct recs *rs)
{
    return feed(in, s, strlen(s), chunk, rs);
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* --- framer tests -------------------------------------------------------- */

static void test_in_basic(void)
{
    struct proto_in in;
    struct recs rs = { 0 };
    proto_in_init(&in);
    CHECK(!proto_in_pending(&in));

    CHECK(feed_str(&in, "hello\n", 100, &rs));
    CHECK_EQ(rs.n, 1);
    CHECK_EQ(rs.r[0].kind, PROTO_LINE);
    CHECK_EQ(rs.r[0].len, 5);
    CHECK_STREQ(rs.r[0].text, "hello");
    CHECK(!proto_in_pending(&in));
    recs_free(&rs);

    /* The returned pointer is the framer's buffer, NUL-terminated in place. */
    proto_in_init(&in);
    size_t room;
    char *p = proto_in_space(&in, &room);
    CHECK_EQ(room, PROTO_IN_BUF);
    CHECK(PROTO_IN_BUF >= PROTO_LINE_MAX);
    memcpy(p, "a\tb\nc", 5);
    proto_in_commit(&in, 5);
    char *line = NULL;
    size_t len = 99;
    CHECK_EQ(proto_in_next(&in, &line, &len), PROTO_LINE);
    CHECK_EQ(len, 3);
    CHECK(line != NULL && memcmp(line, "a\tb", 4) == 0);
    CHECK_EQ(proto_in_next(&in, &line, &len), PROTO_NONE);
    CHECK(proto_in_pending(&in));
    CHECK_EQ(proto_in_next(&in, &line, &len), PROTO_NONE);   /* idempotent */
}

static void test_in_split_commits(void)
{
    struct proto_in in;
    struct recs rs = { 0 };
    proto_in_init(&in);

    CHECK(feed_str(&in, "ec", 100, &rs));
    CHECK_EQ(rs.n, 0);
    CHECK(proto_in_pending(&in));
    CHECK(feed_str(&in, "ho\ta", 100, &rs));
    CHECK_EQ(rs.n, 0);
    CHECK(proto_in_pending(&in));
    CHECK(feed_str(&in, "\nsec", 100, &rs));
    CHECK_EQ(rs.n, 1);
    CHECK_STREQ(rs.r[0].text, "echo\ta");
    CHECK(proto_in_pending(&in));
    CHECK(feed_str(&in, "ond\n", 100, &rs));
    CHECK_EQ(rs.n, 2);
    CHECK_STREQ(rs.r[1].text, "second");
    CHECK(!proto_in_pending(&in));
    recs_free(&rs);

    /* One byte at a time. */
    proto_in_init(&in);
    CHECK(feed_str(&in, "service.args\tx\t/bin/true\nstatedump\n", 1, &rs));
    CHECK_EQ(rs.n, 2);
    CHECK_STREQ(rs.r[0].text, "service.args\tx\t/bin/true");
    CHECK_STREQ(rs.r[1].text, "statedump");
    CHECK(!bad_termination);
    recs_free(&rs);
}

static void test_in_many_lines(void)
{
    struct proto_in in;
    struct recs rs = { 0 };
    proto_in_init(&in);

    CHECK(feed_str(&in, "a\nbb\n\nccc\n#x\n  \npartial", 1000, &rs));
    CHECK_EQ(rs.n, 6);
    const char *want[] = { "a", "bb", "", "ccc", "#x", "  " };
    for (size_t i = 0; i < 6 && i < rs.n; i++) {
        CHECK_EQ(rs.r[i].kind, PROTO_LINE);
        CHECK_STREQ(rs.r[i].text, want[i]);
        CHECK_EQ(rs.r[i].len, strlen(want[i]));
    }
    CHECK(proto_in_pending(&in));
    recs_free(&rs);

    /* Bytes are passed through untouched: CR, NUL and high bytes. */
    proto_in_init(&in);
    CHECK(feed(&in, "a\r\nx\0y\n\xc3\xa9\n", 10, 100, &rs));
    CHECK_EQ(rs.n, 3);
    CHECK_EQ(rs.r[0].len, 2);
    CHECK(memcmp(rs.r[0].text, "a\r", 2) == 0);
    CHECK_EQ(rs.r[1].len, 3);
    CHECK(memcmp(rs.r[1].text, "x\0y", 3) == 0);
    CHECK_STREQ(rs.r[2].text, "\xc3\xa9");
    recs_free(&rs);
}

static void test_in_max_line(void)
{
    struct proto_in in;
    struct recs rs = { 0 };

    /* 4095 content bytes + '\n' = 4096: the longest accepted line, in one
     * commit that fills the buffer exactly. */
    char *l = repeat('a', PROTO_LINE_MAX);
    l[PROTO_LINE_MAX - 1] = '\n';
    proto_in_init(&in);
    CHECK(feed(&in, l, PROTO_LINE_MAX, PROTO_LINE_MAX, &rs));
    CHECK_EQ(rs.n, 1);
    CHECK_EQ(rs.r[0].kind, PROTO_LINE);
    CHECK_EQ(rs.r[0].len, PROTO_LINE_MAX - 1);
    CHECK(!proto_in_pending(&in));
    recs_free(&rs);

    /* The same after a short line (the partial line is moved to the
     * front), fed in odd chunks, followed by another line. */
    proto_in_init(&in);
    CHECK(feed_str(&in, "x\n", 10, &rs));
    CHECK(feed(&in, l, PROTO_LINE_MAX, 999, &rs));
    CHECK(feed_str(&in, "y\n", 10, &rs));
    CHECK_EQ(rs.n, 3);
    CHECK_STREQ(rs.r[0].text, "x");
    CHECK_EQ(rs.r[1].kind, PROTO_LINE);
    CHECK_EQ(rs.r[1].len, PROTO_LINE_MAX - 1);
    CHECK_STREQ(rs.r[2].text, "y");
    recs_free(&rs);

    /* A short line and the max line in the same commits: "x\n" + 4094 bytes
     * fill the buffer, the rest arrives after compaction. */
    proto_in_init(&in);
    char *two = malloc(2 + PROTO_LINE_MAX);
    memcpy(two, "x\n", 2);
    memcpy(two + 2, l, PROTO_LINE_MAX);
    CHECK(feed(&in, two, 2 + PROTO_LINE_MAX, PROTO_LINE_MAX, &rs));
    CHECK_EQ(rs.n, 2);
    CHECK_EQ(rs.r[1].kind, PROTO_LINE);
    CHECK_EQ(rs.r[1].len, PROTO_LINE_MAX - 1);
    recs_free(&rs);
    free(two);
    free(l);
}

static void test_in_too_long(void)
{
    struct proto_in in;
    struct recs rs = { 0 };

    /* 4096 content bytes + '\n' = 4097: one TOO_LONG, the next line intact,
     * whether the next line arrives with the newline or later. */
    size_t chunks[] = { 1, 7, 100, 4095, 4096 };
    for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
        char *l = repeat('b', PROTO_LINE_MAX + 1);
        l[PROTO_LINE_MAX] = '\n';
        proto_in_init(&in);
        CHECK(feed(&in, l, PROTO_LINE_MAX + 1, chunks[c], &rs));
        CHECK(feed_str(&in, "next\tline\nafter\n", chunks[c], &rs));
        if (CHECK_EQ(rs.n, 3)) {
            CHECK_EQ(rs.r[0].kind, PROTO_TOO_LONG);
            CHECK_STREQ(rs.r[1].text, "next\tline");
            CHECK_STREQ(rs.r[2].text, "after");
        }
        CHECK(!proto_in_pending(&in));
        recs_free(&rs);
        free(l);
    }

    /* The newline of the over-long line and the next line in one commit. */
    char *l = repeat('c', PROTO_LINE_MAX + 20);
    memcpy(l + PROTO_LINE_MAX + 10, "\nok\n", 4);
    proto_in_init(&in);
    CHECK(feed(&in, l, PROTO_LINE_MAX + 14, PROTO_LINE_MAX, &rs));
    CHECK_EQ(rs.n, 2);
    CHECK_EQ(rs.r[0].kind, PROTO_TOO_LONG);
    CHECK_STREQ(rs.r[1].text, "ok");
    recs_free(&rs);
    free(l);

    /* Pending stays true while discarding, even though no bytes are held. */
    l = repeat('d', PROTO_LINE_MAX);
    proto_in_init(&in);
    CHECK(feed(&in, l, PROTO_LINE_MAX, PROTO_LINE_MAX, &rs));
    CHECK_EQ(rs.n, 0);
    CHECK(proto_in_pending(&in));
    CHECK(feed_str(&in, "ddd", 10, &rs));
    CHECK_EQ(rs.n, 0);
    CHECK(proto_in_pending(&in));
    CHECK(feed_str(&in, "\n", 10, &rs));
    CHECK_EQ(rs.n, 1);
    CHECK_EQ(rs.r[0].kind, PROTO_TOO_LONG);
    CHECK(!proto_in_pending(&in));
    recs_free(&rs);
    free(l);
}

static void test_in_too_long_comment(void)
{
    struct proto_in in;
    struct recs rs = { 0 };

    char *l = repeat('#', 5001);
    l[5000] = '\n';
    proto_in_init(&in);
    CHECK(feed(&in, l, 5001, 333, &rs));
    CHECK(feed_str(&in, "x\n", 333, &rs));
    CHECK_EQ(rs.n, 2);
    CHECK_EQ(rs.r[0].kind, PROTO_TOO_LONG_COMMENT);
    CHECK_STREQ(rs.r[1].text, "x");
    recs_free(&rs);
    free(l);

    /* Only a '#' in the first byte makes it a comment. */
    l = repeat('#', 5001);
    l[0] = ' ';
    l[5000] = '\n';
    proto_in_init(&in);
    CHECK(feed(&in, l, 5001, 333, &rs));
    CHECK_EQ(rs.n, 1);
    CHECK_EQ(rs.r[0].kind, PROTO_TOO_LONG);
    recs_free(&rs);
    free(l);

    /* A '#' deep inside an over-long line does not make it a comment. */
    l = repeat('a', 3 * PROTO_LINE_MAX);
    memset(l + PROTO_LINE_MAX, '#', PROTO_LINE_MAX);
    l[3 * PROTO_LINE_MAX - 1] = '\n';
    proto_in_init(&in);
    CHECK(feed(&in, l, 3 * PROTO_LINE_MAX, 1000, &rs));
    CHECK_EQ(rs.n, 1);
    CHECK_EQ(rs.r[0].kind, PROTO_TOO_LONG);
    recs_free(&rs);

    /* A comment after an over-long non-comment, and vice versa: the flag
     * does not stick. */
    proto_in_init(&in);
    CHECK(feed(&in, l, 3 * PROTO_LINE_MAX, 1000, &rs));
    free(l);
    l = repeat('#', PROTO_LINE_MAX + 1);
    l[PROTO_LINE_MAX] = '\n';
    CHECK(feed(&in, l, PROTO_LINE_MAX + 1, 1000, &rs));
    free(l);
    l = repeat('z', PROTO_LINE_MAX + 1);
    l[PROTO_LINE_MAX] = '\n';
    CHECK(feed(&in, l, PROTO_LINE_MAX + 1, 1000, &rs));
    free(l);
    if (CHECK_EQ(rs.n, 3)) {
        CHECK_EQ(rs.r[0].kind, PROTO_TOO_LONG);
        CHECK_EQ(rs.r[1].kind, PROTO_TOO_LONG_COMMENT);
        CHECK_EQ(rs.r[2].kind, PROTO_TOO_LONG);
    }
    recs_free(&rs);

    /* A comment of exactly the maximum length is an ordinary line. */
    l = repeat('#', PROTO_LINE_MAX);
    l[PROTO_LINE_MAX - 1] = '\n';
    proto_in_init(&in);
    CHECK(feed(&in, l, PROTO_LINE_MAX, 1000, &rs));
    CHECK_EQ(rs.n, 1);
    CHECK_EQ(rs.r[0].kind, PROTO_LINE);
    CHECK_EQ(rs.r[0].len, PROTO_LINE_MAX - 1);
    recs_free(&rs);
    free(l);
}

static void test_in_huge(void)
{
    struct proto_in in;
    struct recs rs = { 0 };
    size_t n = 3u << 20;    /* 3 MiB without a newline */
    char *l = repeat('h', n);
    proto_in_init(&in);

    size_t chunks[] = { 13, 4096, 65536 };
    for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
        CHECK(feed(&in, l, n, chunks[c], &rs));
        CHECK_EQ(rs.n, 0);
        CHECK(proto_in_pending(&in));
        CHECK(feed_str(&in, "\nok\n", chunks[c], &rs));
        if (CHECK_EQ(rs.n, 2)) {
            CHECK_EQ(rs.r[0].kind, PROTO_TOO_LONG);
            CHECK_STREQ(rs.r[1].text, "ok");
        }
        CHECK(!proto_in_pending(&in));
        recs_free(&rs);
    }
    free(l);
}

static void test_in_final(void)
{
    struct proto_in in;
    struct recs rs = { 0 };
    char *line;
    size_t len;
    size_t room;

    /* Nothing held. */
    proto_in_init(&in);
    CHECK(!proto_in_final(&in, &line, &len));

    /* Only complete lines. */
    proto_in_init(&in);
    CHECK(feed_str(&in, "a\nb\n", 100, &rs));
    proto_in_space(&in, &room);     /* the EOF read */
    CHECK(!proto_in_final(&in, &line, &len));
    recs_free(&rs);

    /* A partial final line after complete ones. */
    proto_in_init(&in);
    CHECK(feed_str(&in, "a\nlast\tline", 100, &rs));
    CHECK_EQ(rs.n, 1);
    proto_in_space(&in, &room);
    line = NULL;
    CHECK(proto_in_final(&in, &line, &len));
    CHECK_EQ(len, 9);
    CHECK(line && strcmp(line, "last\tline") == 0);
    CHECK(!proto_in_pending(&in));
    CHECK(!proto_in_final(&in, &line, &len));   /* consumed */
    recs_free(&rs);

    /* Without an EOF read in between (start not at 0). */
    proto_in_init(&in);
    CHECK(feed_str(&in, "first\nsecond", 100, &rs));
    line = NULL;
    CHECK(proto_in_final(&in, &line, &len));
    CHECK_EQ(len, 6);
    CHECK(line && strcmp(line, "second") == 0);
    recs_free(&rs);

    /* The longest possible partial line: 4095 bytes. */
    char *l = repeat('f', PROTO_LINE_MAX - 1);
    proto_in_init(&in);
    CHECK(feed(&in, l, PROTO_LINE_MAX - 1, 1000, &rs));
    CHECK_EQ(rs.n, 0);
    proto_in_space(&in, &room);
    CHECK(proto_in_final(&in, &line, &len));
    CHECK_EQ(len, PROTO_LINE_MAX - 1);
    CHECK_EQ(strlen(line), PROTO_LINE_MAX - 1);
    free(l);

    /* A partial over-long line (4096 bytes, no newline) is discarded. */
    l = repeat('g', PROTO_LINE_MAX);
    proto_in_init(&in);
    CHECK(feed(&in, l, PROTO_LINE_MAX, 1000, &rs));
    proto_in_space(&in, &room);
    CHECK(!proto_in_final(&in, &line, &len));
    CHECK(!proto_in_pending(&in));
    recs_free(&rs);

    /* ... and so is its tail, however long. */
    proto_in_init(&in);
    CHECK(feed(&in, l, PROTO_LINE_MAX, 1000, &rs));
    CHECK(feed_str(&in, "tail", 1000, &rs));
    proto_in_space(&in, &room);
    CHECK(!proto_in_final(&in, &line, &len));
    CHECK_EQ(rs.n, 0);
    recs_free(&rs);
    free(l);

    /* A partial comment is returned (the caller ignores it). */
    proto_in_init(&in);
    CHECK(feed_str(&in, "# c", 100, &rs));
    CHECK(proto_in_final(&in, &line, &len));
    CHECK(line && strcmp(line, "# c") == 0);
    recs_free(&rs);

    /* After final, the framer is reset and usable again. */
    CHECK(feed_str(&in, "again\n", 100, &rs));
    CHECK_EQ(rs.n, 1);
    CHECK_STREQ(rs.n ? rs.r[0].text : NULL, "again");
    recs_free(&rs);
}

/* proto_in_final() NUL-terminates the partial line at buf[start + held],
 * which is buf[PROTO_LINE_MAX] when the buffer was filled to its end and
 * lines were taken from its front (start > 0) without a proto_in_space()
 * since.  The controller happens to call proto_in_space() (its EOF read)
 * first, so this is latent.  Detected with a canary byte just past buf. */
static void test_in_final_bounds(void)
{
    union {
        struct proto_in in;
        unsigned char bytes[sizeof(struct proto_in) + 16];
    } u;
    size_t past = offsetof(struct proto_in, buf) + PROTO_LINE_MAX;
    memset(u.bytes, 0x5a, sizeof u.bytes);
    proto_in_init(&u.in);
    char *l = repeat('b', PROTO_LINE_MAX);
    memcpy(l, "a\n", 2);    /* "a\n" + 4094 bytes of a partial line */
    struct recs rs = { 0 };
    CHECK(feed(&u.in, l, PROTO_LINE_MAX, PROTO_LINE_MAX, &rs));
    CHECK_EQ(rs.n, 1);
    char *line = NULL;
    size_t len = 0;
    CHECK(proto_in_final(&u.in, &line, &len));
    CHECK_EQ(len, PROTO_LINE_MAX - 2);
    CHECK(u.bytes[past] == 0x5a);
    recs_free(&rs);
    free(l);
}

/* Random streams against a model: a line of L content bytes is a LINE if
 * L <= 4095, else TOO_LONG (TOO_LONG_COMMENT if it starts with '#'); the
 * unterminated tail is returned by proto_in_final iff 0 < L <= 4095. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static void test_in_model(void)
{
    bool ok = true;
    for (int round = 0; round < 200 && ok; round++) {
        size_t cap = 64 * 1024, n = 0;
        char *s = malloc(cap);
        struct recs want = { 0 }, got = { 0 };
        int nlines = (int)(rnd() % 20);
        for (int i = 0; i <= nlines; i++) {
            size_t L;
            switch (rnd() % 5) {
            case 0: L = rnd() % 4; break;
            case 1: L = PROTO_LINE_MAX - 2 + rnd() % 4; break;  /* 4094..4097 */
            case 2: L = rnd() % 12000; break;
            default: L = rnd() % 100; break;
            }
            while (n + L + 1 > cap) {
                cap *= 2;
                s = realloc(s, cap);
            }
            char *p = s + n;
            for (size_t k = 0; k < L; k++)
                p[k] = (char)('a' + rnd() % 26);
            if (L && rnd() % 4 == 0)
                p[0] = '#';
            n += L;
            bool last = (i == nlines);
            if (last && rnd() % 2) {
                /* unterminated tail */
                if (L > 0 && L <= PROTO_LINE_MAX - 1)
                    recs_add(&want, PROTO_NONE, p, L);  /* PROTO_NONE marks "final" */
                break;
            }
            s[n++] = '\n';
            if (L <= PROTO_LINE_MAX - 1)
                recs_add(&want, PROTO_LINE, p, L);
            else
                recs_add(&want, p[0] == '#' ? PROTO_TOO_LONG_COMMENT : PROTO_TOO_LONG,
                         NULL, 0);
        }
        struct proto_in in;
        proto_in_init(&in);
        size_t chunk = 1 + rnd() % (rnd() % 2 ? 50 : 6000);
        ok = ok && feed(&in, s, n, chunk, &got);
        size_t room;
        proto_in_space(&in, &room);
        char *line;
        size_t len;
        if (proto_in_final(&in, &line, &len))
            recs_add(&got, PROTO_NONE, line, len);
        ok = ok && got.n == want.n;
        for (size_t i = 0; ok && i < got.n; i++) {
            ok = got.r[i].kind == want.r[i].kind && got.r[i].len == want.r[i].len &&
                 (!got.r[i].text) == (!want.r[i].text) &&
                 (!got.r[i].text ||
                  memcmp(got.r[i].text, want.r[i].text, got.r[i].len) == 0);
        }
        if (!ok)
            fprintf(stderr, "framer model mismatch in round %d (chunk %zu)\n", round, chunk);
        recs_free(&want);
        recs_free(&got);
        free(s);
    }
    CHECK(ok);
    CHECK(!bad_termination);
}

/* --- fields -------------------------------------------------------------- */

static int split(const char *s, char **f, int max, char *buf)
{
    size_t n = strlen(s);
    memcpy(buf, s, n + 1);
    return proto_split(buf, n, f, max);
}

static void test_split(void)
{
    char buf[PROTO_LINE_MAX + 1];
    char *f[PROTO_FIELDS_MAX + 1];

    CHECK_EQ(split("single", f, 8, buf), 1);
    CHECK_STREQ(f[0], "single");

    CHECK_EQ(split("echo\ta\tb", f, 8, buf), 3);
    CHECK_STREQ(f[0], "echo");
    CHECK_STREQ(f[1], "a");
    CHECK_STREQ(f[2], "b");
    CHECK(f[0] == buf && f[1] == buf + 5 && f[2] == buf + 7);  /* in place */

    CHECK_EQ(split("a\t\tb", f, 8, buf), 3);
    CHECK_STREQ(f[0], "a");
    CHECK_STREQ(f[1], "");
    CHECK_STREQ(f[2], "b");

    CHECK_EQ(split("a\t", f, 8, buf), 2);
    CHECK_STREQ(f[0], "a");
    CHECK_STREQ(f[1], "");

    CHECK_EQ(split("\ta", f, 8, buf), 2);
    CHECK_STREQ(f[0], "");
    CHECK_STREQ(f[1], "a");

    CHECK_EQ(split("\t", f, 8, buf), 2);
    CHECK_STREQ(f[0], "");
    CHECK_STREQ(f[1], "");

    CHECK_EQ(split("", f, 8, buf), 1);
    CHECK_STREQ(f[0], "");

    /* Spaces, DEL and high bytes are ordinary field bytes. */
    CHECK_EQ(split(" a b \x7f\xc3\xa9\xff", f, 8, buf), 1);
    CHECK_STREQ(f[0], " a b \x7f\xc3\xa9\xff");

    /* Control characters other than TAB. */
    CHECK_EQ(split("a\x01" "b", f, 8, buf), -1);
    CHECK_EQ(split("echo\ta\r", f, 8, buf), -1);
    CHECK_EQ(split("\x1f", f, 8, buf), -1);
    CHECK_EQ(split("a\nb", f, 8, buf), -1);
    CHECK_EQ(split("a\x1b[0m", f, 8, buf), -1);
    /* A NUL inside the length counts as a control character. */
    memcpy(buf, "a\0b", 4);
    CHECK_EQ(proto_split(buf, 3, f, 8), -1);

    /* A refused line is left as it came, TABs before the bad byte too
     * (an error quotes it). */
    CHECK_EQ(split("chdir\t/tmp\t\x02x\ty", f, 8, buf), -1);
    CHECK_STREQ(buf, "chdir\t/tmp\t\x02x\ty");
    memcpy(buf, "a\tb\0c\td", 8);
    CHECK_EQ(proto_split(buf, 7, f, 8), -1);
    CHECK(memcmp(buf, "a\tb\0c\td", 8) == 0);
    CHECK_EQ(split("a\tb\tc\td", f, 2, buf), -2);
    CHECK_STREQ(buf, "a\tb\tc\td");

    /* Field count limit: exactly max is fine, one more is -2. */
    CHECK_EQ(split("a\tb\tc", f, 3, buf), 3);
    CHECK_EQ(split("a\tb\tc", f, 2, buf), -2);
    CHECK_EQ(split("a\tb\tc", f, 1, buf), -2);
    CHECK_EQ(split("a\t\t", f, 2, buf), -2);
    CHECK_EQ(split("x", f, 0, buf), -2);

    /* The limit never writes past fields[max - 1]. */
    static char sentinel[] = "sentinel";
    f[4] = sentinel;
    CHECK_EQ(split("1\t2\t3\t4\t5\t6", f, 4, buf), -2);
    CHECK(f[4] == sentinel);

    /* The longest line of one-byte fields: 2048 fields in 4095 bytes. */
    size_t n = 0;
    for (int i = 0; i < 2048; i++) {
        if (i)
            buf[n++] = '\t';
        buf[n++] = (char)('a' + i % 26);
    }
    buf[n] = '\0';
    CHECK_EQ(n, PROTO_LINE_MAX - 1);
    f[PROTO_FIELDS_MAX] = sentinel;
    CHECK_EQ(proto_split(buf, n, f, PROTO_FIELDS_MAX), 2048);
    CHECK_STREQ(f[2047], "t");      /* 2047 % 26 = 19 */
    CHECK(f[PROTO_FIELDS_MAX] == sentinel);

    /* The longest line of only TABs has exactly PROTO_FIELDS_MAX fields;
     * one field more than max is refused. */
    memset(buf, '\t', PROTO_LINE_MAX - 1);
    buf[PROTO_LINE_MAX - 1] = '\0';
    CHECK_EQ(proto_split(buf, PROTO_LINE_MAX - 1, f, PROTO_FIELDS_MAX), PROTO_FIELDS_MAX);
    CHECK(f[PROTO_FIELDS_MAX] == sentinel);
    memset(buf, '\t', PROTO_LINE_MAX - 1);
    CHECK_EQ(proto_split(buf, PROTO_LINE_MAX - 1, f, PROTO_FIELDS_MAX - 1), -2);
}

static void test_ignored(void)
{
    CHECK(proto_line_ignored("#", 1));
    CHECK(proto_line_ignored("# comment\twith\ttabs", 19));
    CHECK(proto_line_ignored("#echo\tx", 7));
    CHECK(proto_line_ignored("", 0));
    CHECK(proto_line_ignored(" ", 1));
    CHECK(proto_line_ignored("   \t  \t", 7));
    CHECK(proto_line_ignored("\t", 1));
    CHECK(proto_line_ignored(" \r", 2));
    CHECK(proto_line_ignored("\v\f", 2));
    /* Only the first len bytes count. */
    CHECK(proto_line_ignored("echo", 0));
    CHECK(proto_line_ignored("  x", 2));

    CHECK(!proto_line_ignored("echo", 4));
    CHECK(!proto_line_ignored("a", 1));
    CHECK(!proto_line_ignored(" a", 2));
    CHECK(!proto_line_ignored("  \t#not-first", 13));
    CHECK(!proto_line_ignored("\tx", 2));
    CHECK(!proto_line_ignored("x#", 2));
    CHECK(!proto_line_ignored("\x01", 1));
}

/* --- event lines --------------------------------------------------------- */

/* A proto_line followed by canary bytes, to catch writes past buf. */
struct canaried_line {
    struct proto_line l;
    unsigned char canary[64];
};

/* Every byte after buf (struct padding and the canary) is untouched. */
static bool canary_ok(const struct canaried_line *c)
{
    const unsigned char *b = (const unsigned char *)c;
    size_t past = offsetof(struct canaried_line, l) + offsetof(struct proto_line, buf) +
                  PROTO_EVENT_MAX;
    for (size_t i = past; i < sizeof *c; i++)
        if (b[i] != 0xa5)
            return false;
    return true;
}

/* One well-formed line: ends in its only '\n', NUL after it, no control
 * characters but TAB, within PROTO_EVENT_MAX. */
static bool well_formed(const struct proto_line *l, size_t n)
{
    if (n != l->len || n == 0 || n >= PROTO_EVENT_MAX)
        return false;
    if (l->buf[n - 1] != '\n' || l->buf[n] != '\0')
        return false;
    for (size_t i = 0; i + 1 < n; i++) {
        unsigned char ch = (unsigned char)l->buf[i];
        if (ch < 0x20 && ch != '\t')
            return false;
    }
    return true;
}

static void test_line_builder(void)
{
    struct proto_line l;
    size_t n;

    proto_line_begin(&l, "service.state");
    proto_line_add(&l, "svc");
    proto_line_add(&l, "up");
    proto_line_addi(&l, 12);
    proto_line_addi(&l, -5);
    n = proto_line_end(&l);
    CHECK_STREQ(l.buf, "service.state\tsvc\tup\t12\t-5\n");
    CHECK_EQ(n, strlen(l.buf));
    CHECK(well_formed(&l, n));

    /* No leading TAB without a first field. */
    proto_line_begin(&l, NULL);
    proto_line_add(&l, "x");
    proto_line_add(&l, "y");
    n = proto_line_end(&l);
    CHECK_STREQ(l.buf, "x\ty\n");

    proto_line_begin(&l, NULL);
    n = proto_line_end(&l);
    CHECK_STREQ(l.buf, "\n");
    CHECK_EQ(n, 1);

    proto_line_begin(&l, "overflow");
    n = proto_line_end(&l);
    CHECK_STREQ(l.buf, "overflow\n");
    CHECK_EQ(n, 9);

    /* Empty fields are kept. */
    proto_line_begin(&l, "service.fds");
    proto_line_add(&l, "name");
    proto_line_add(&l, "");
    n = proto_line_end(&l);
    CHECK_STREQ(l.buf, "service.fds\tname\t\n");
    proto_line_begin(&l, "a");
    proto_line_add(&l, "");
    proto_line_add(&l, "b");
    proto_line_end(&l);
    CHECK_STREQ(l.buf, "a\t\tb\n");

    /* Control characters in fields become '?', TAB included; high bytes
     * and DEL are kept. */
    proto_line_begin(&l, "error");
    proto_line_add(&l, "x\ty\nz\x01\x1f\r\x7f\xc3\xa9");
    n = proto_line_end(&l);
    CHECK_STREQ(l.buf, "error\tx?y?z???\x7f\xc3\xa9\n");
    CHECK(well_formed(&l, n));
    proto_line_begin(&l, "a\nb");
    n = proto_line_end(&l);
    CHECK_STREQ(l.buf, "a?b\n");

    /* addn: exactly n bytes, an embedded NUL becomes '?'. */
    proto_line_begin(&l, "e");
    proto_line_addn(&l, "abcdef", 3);
    proto_line_addn(&l, "a\0b", 3);
    proto_line_addn(&l, "zzz", 0);
    n = proto_line_end(&l);
    CHECK_STREQ(l.buf, "e\tabc\ta?b\t\n");

    /* addtsv: TABs separate fields, other control characters replaced. */
    proto_line_begin(&l, "service.args");
    proto_line_add(&l, "svc");
    proto_line_addtsv(&l, "/bin/sh\t-c\techo hi\nthere");
    n = proto_line_end(&l);
    CHECK_STREQ(l.buf, "service.args\tsvc\t/bin/sh\t-c\techo hi?there\n");
    CHECK(well_formed(&l, n));
    proto_line_begin(&l, "service.args");
    proto_line_add(&l, "svc");
    proto_line_addtsv(&l, "");
    proto_line_end(&l);
    CHECK_STREQ(l.buf, "service.args\tsvc\t\n");

    /* cat appends to the current field. */
    proto_line_begin(&l, "fd.state");
    proto_line_add(&l, "nonblock,");
    proto_line_cat(&l, "to");
    proto_line_cat(&l, "\x02!");
    proto_line_add(&l, "b");
    proto_line_end(&l);
    CHECK_STREQ(l.buf, "fd.state\tnonblock,to?!\tb\n");
    proto_line_begin(&l, NULL);
    proto_line_cat(&l, "first");
    proto_line_add(&l, "second");
    proto_line_end(&l);
    CHECK_STREQ(l.buf, "first\tsecond\n");

    /* addf. */
    proto_line_begin(&l, "error");
    proto_line_addf(&l, "Unknown command: %s (%d)", "x\ty", 42);
    proto_line_end(&l);
    CHECK_STREQ(l.buf, "error\tUnknown command: x?y (42)\n");
    proto_line_begin(&l, "e");
    proto_line_addf(&l, "%s", "");
    proto_line_end(&l);
    CHECK_STREQ(l.buf, "e\t\n");
}

/* The `for command "..."` excerpt of an error. */
static const char *excerpt(const char *cmd, size_t len, bool split)
{
    static struct proto_line l;
    proto_line_begin(&l, "error");
    proto_line_add(&l, "msg");
    proto_line_cat(&l, ", for command \"");
    proto_line_cat_excerpt(&l, cmd, len, split);
    proto_line_cat(&l, "\"");
    size_t n = proto_line_end(&l);
    CHECK(well_formed(&l, n));
    return l.buf;
}

static void test_line_excerpt(void)
{
    /* TABs kept (the original's form); NULs of a split line are TABs. */
    CHECK_STREQ(excerpt("echo\ta\tb", 8, false), "error\tmsg, for command \"echo\ta\tb\"\n");
    CHECK_STREQ(excerpt("echo\0a\0\0b", 9, true), "error\tmsg, for command \"echo\ta\t\tb\"\n");
    /* The first 30 bytes, "..." after them only when there were more. */
    const char *longer = "service.args\txxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\t/bin/true";
    CHECK_STREQ(excerpt(longer, strlen(longer), false),
                "error\tmsg, for command \"service.args\txxxxxxxxxxxxxxxxx...\"\n");
    CHECK_STREQ(excerpt(longer, 30, false),
                "error\tmsg, for command \"service.args\txxxxxxxxxxxxxxxxx\"\n");
    CHECK_STREQ(excerpt(longer, 31, false),
                "error\tmsg, for command \"service.args\txxxxxxxxxxxxxxxxx...\"\n");
    CHECK_STREQ(excerpt("", 0, true), "error\tmsg, for command \"\"\n");
    /* Every other control character is '?': a refused line's (raw: its
     * NUL is one too), never a newline. */
    CHECK_STREQ(excerpt("a\x01\r\n\x1f\x7f\xc3\xa9\tz", 10, false),
                "error\tmsg, for command \"a????\x7f\xc3\xa9\tz\"\n");
    CHECK_STREQ(excerpt("a\0b", 3, false), "error\tmsg, for command \"a?b\"\n");
    CHECK_STREQ(excerpt("a\n\r\x01", 4, true), "error\tmsg, for command \"a???\"\n");
}

static void test_line_addi(void)
{
    struct proto_line l;
    struct { int64_t v; const char *s; } cases[] = {
        { 0, "0" },
        { 1, "1" },
        { -1, "-1" },
        { 1234567890123LL, "1234567890123" },
        { -42, "-42" },
        { INT64_MAX, "9223372036854775807" },
        { INT64_MIN, "-9223372036854775808" },
        { INT64_MIN + 1, "-9223372036854775807" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        proto_line_begin(&l, "n");
        proto_line_addi(&l, cases[i].v);
        proto_line_end(&l);
        char want[64];
        snprintf(want, sizeof want, "n\t%s\n", cases[i].s);
        CHECK_STREQ(l.buf, want);
    }
    proto_line_begin(&l, NULL);
    proto_line_addi(&l, INT64_MIN);
    proto_line_addi(&l, INT64_MAX);
    proto_line_end(&l);
    CHECK_STREQ(l.buf, "-9223372036854775808\t9223372036854775807\n");
}

static void test_line_truncation(void)
{
    struct canaried_line c;
    bool ok = true;
    size_t maxlen = 0;

    /* Every way of reaching the end of the buffer, at every offset around
     * it: the result is one line, never longer than the buffer, and
     * nothing beyond the buffer is touched. */
    char *big = repeat('x', 2 * PROTO_EVENT_MAX);
    char *bigtsv = repeat('t', 2 * PROTO_EVENT_MAX);
    for (size_t i = 0; i < 2 * PROTO_EVENT_MAX; i += 7)
        bigtsv[i] = '\t';
    for (size_t first = PROTO_EVENT_MAX - 40; first <= PROTO_EVENT_MAX + 4; first++) {
        for (int how = 0; how < 8; how++) {
            memset(&c, 0xa5, sizeof c);
            char save = big[first];
            big[first] = '\0';
            proto_line_begin(&c.l, big);
            big[first] = save;
            switch (how) {
            case 0: proto_line_add(&c.l, "tail"); break;
            case 1: proto_line_addi(&c.l, INT64_MIN); break;
            case 2: proto_line_addtsv(&c.l, bigtsv); break;
            case 3: proto_line_cat(&c.l, big); break;
            case 4: proto_line_addf(&c.l, "%s%d", big, -7); break;
            case 5: proto_line_addn(&c.l, big, PROTO_EVENT_MAX); break;
            case 7: proto_line_cat_excerpt(&c.l, big, PROTO_EVENT_MAX, true); break;
            case 6:
                for (int k = 0; k < 50; k++) {
                    proto_line_add(&c.l, "");
                    proto_line_addi(&c.l, k);
                    proto_line_cat(&c.l, "\n");
                }
                break;
            }
            size_t n = proto_line_end(&c.l);
            if (n > maxlen)
                maxlen = n;
            if (!well_formed(&c.l, n) || strlen(c.l.buf) != n || !canary_ok(&c)) {
                if (ok)
                    fprintf(stderr, "truncation: first=%zu how=%d len=%zu\n", first, how, n);
                ok = false;
            }
        }
    }
    CHECK(ok);
    CHECK_EQ(maxlen, PROTO_EVENT_MAX - 1);

    /* A field that exactly fits is kept whole. */
    memset(&c, 0xa5, sizeof c);
    big[PROTO_EVENT_MAX - 2] = '\0';
    proto_line_begin(&c.l, big);
    size_t n = proto_line_end(&c.l);
    CHECK_EQ(n, PROTO_EVENT_MAX - 1);
    CHECK(well_formed(&c.l, n));
    CHECK(canary_ok(&c));

    /* Truncated between fields: no trailing TAB is required, but the line
     * still ends properly. */
    memset(&c, 0xa5, sizeof c);
    proto_line_begin(&c.l, big);
    proto_line_add(&c.l, "more");
    proto_line_add(&c.l, "and more");
    n = proto_line_end(&c.l);
    CHECK_EQ(n, PROTO_EVENT_MAX - 1);
    CHECK(well_formed(&c.l, n));
    CHECK(canary_ok(&c));
    free(big);
    free(bigtsv);
}

UNIT_MAIN(test_in_basic, test_in_split_commits, test_in_many_lines, test_in_max_line,
          test_in_too_long, test_in_too_long_comment, test_in_huge, test_in_final,
          test_in_final_bounds, test_in_model, test_split, test_ignored,
          test_line_builder, test_line_excerpt, test_line_addi, test_line_truncation)
