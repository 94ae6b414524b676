/* test_state.c - the re-exec state format (state.h): records round-trip
 * any bytes, and a damaged state is refused, never half read. */
#include "state.h"
#include "unit.h"

static char *dup_out(const struct state_out *o)
{
    char *b = malloc(o->len + 1);
    memcpy(b, o->buf, o->len);
    b[o->len] = '\0';
    return b;
}

static void header(struct state_out *o)
{
    state_rec(o, STATE_MAGIC);
    state_int(o, STATE_VERSION);
    state_end(o);
}

static void test_round_trip(void)
{
    struct state_out o;
    state_out_init(&o);
    header(&o);
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    state_rec(&o, "blob");
    state_bytes(&o, all, sizeof all);
    state_str(&o, "");
    state_str(&o, NULL);
    state_int(&o, -42);
    state_int(&o, INT64_MAX);
    state_end(&o);
    state_rec(&o, "bare");
    state_end(&o);
    state_rec(&o, "end");
    state_end(&o);
    CHECK(state_out_ok(&o));
    /* One line per record, whatever the bytes. */
    int lines = 0;
    for (size_t i = 0; i < o.len; i++)
        lines += o.buf[i] == '\n';
    CHECK_EQ(lines, 4);

    char *b = dup_out(&o);
    struct state_in in;
    struct state_rec r;
    const char *err = NULL;
    int v;
    CHECK(state_in_init(&in, b, o.len, &v, &err));
    CHECK_EQ(v, STATE_VERSION);
    CHECK_EQ(state_next(&in, &r, &err), 1);
    CHECK_STREQ(r.tag, "blob");
    CHECK_EQ(r.n, 5);
    CHECK_EQ(r.len[0], 256);
    CHECK(memcmp(r.f[0], all, 256) == 0);
    CHECK_EQ(r.len[1], 0);
    CHECK_STREQ(r.f[2], "");
    int64_t x;
    CHECK(state_field_int(&r, 3, INT64_MIN, INT64_MAX, 0, &x));
    CHECK_EQ(x, -42);
    CHECK(state_field_int(&r, 4, INT64_MIN, INT64_MAX, 0, &x));
    CHECK(x == INT64_MAX);
    /* A missing trailing field is its default; a present one is checked. */
    CHECK(state_field_int(&r, 9, 0, 10, 7, &x));
    CHECK_EQ(x, 7);
    CHECK(!state_field_int(&r, 3, 0, 10, 7, &x));
    CHECK_STREQ(state_field(&r, 9), "");
    CHECK_EQ(state_next(&in, &r, &err), 1);
    CHECK_STREQ(r.tag, "bare");
    CHECK_EQ(r.n, 0);
    CHECK_EQ(state_next(&in, &r, &err), 0);
    free(b);
    state_out_free(&o);
}

/* Parse text; returns what the first state_next after the header gave,
 * or -2 when the header was refused. */
static int parse(const char *text, const char **err)
{
    char *b = strdup(text);
    struct state_in in;
    struct state_rec r;
    int v, res = -2;
    if (state_in_init(&in, b, strlen(b), &v, err))
        res = state_next(&in, &r, err);
    free(b);
    return res;
}

static void test_refused(void)
{
    const char *err;
    CHECK_EQ(parse("", &err), -2);
    CHECK_EQ(parse("daemonproxy-state\t1", &err), -2);         /* no newline */
    CHECK_EQ(parse("something\t1\nend\n", &err), -2);
    CHECK_EQ(parse("daemonproxy-state\n", &err), -2);
    CHECK_EQ(parse("daemonproxy-state\tx\n", &err), -2);
    CHECK_EQ(parse("daemonproxy-state\t0\nend\n", &err), -2);
    CHECK_STREQ(err, "unsupported state version");
    CHECK_EQ(parse("daemonproxy-state\t999\nend\n", &err), -2);
    CHECK_EQ(parse("daemonproxy-state\t1\nend\n", &err), 0);
    /* Truncated: no end record. */
    CHECK_EQ(parse("daemonproxy-state\t1\n", &err), -1);
    CHECK_EQ(parse("daemonproxy-state\t1\nh\tx\tunterminated", &err), -1);
    /* Malformed escapes and records. */
    CHECK_EQ(parse("daemonproxy-state\t1\nh\t\\x4\nend\n", &err), -1);
    CHECK_EQ(parse("daemonproxy-state\t1\nh\t\\q41\nend\n", &err), -1);
    CHECK_EQ(parse("daemonproxy-state\t1\nh\t\\xZZ\nend\n", &err), -1);
    CHECK_EQ(parse("daemonproxy-state\t1\n\tfield\nend\n", &err), -1);
    CHECK_EQ(parse("daemonproxy-state\t1\n\nend\n", &err), -1);
    char many[1024] = "daemonproxy-state\t1\nh";
    for (int i = 0; i <= STATE_FIELDS_MAX; i++)
        strcat(many, "\t1");
    strcat(many, "\nend\n");
    CHECK_EQ(parse(many, &err), -1);
    CHECK_STREQ(err, "record with too many fields");
}

static void test_versions(void)
{
    CHECK(state_version_ok(STATE_VERSION));
    CHECK(state_version_ok(STATE_VERSION_MIN));
    CHECK(!state_version_ok(STATE_VERSION + 1));
    CHECK(!state_version_ok(0));
}

UNIT_MAIN(test_round_trip, test_refused, test_versions)
