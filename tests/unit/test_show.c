/* test_show.c - dpctl's formatting of what the model holds (cli/model.c,
 * cli/show.c, cli/detail.c), pure: lines in, text out.
 *
 * The exit history (service.exits) and the desired state (service.want)
 * in the status table (LAST while a restart is pending, EXITS, the
 * stopped and failed states), in JSON, and in the detail view.
 */
#include "../../cli/model.h"
#include "../../cli/show.h"
#include "unit.h"

/* A model of the given lines (a statedump's, say), kept with lists. */
static struct model *model_of(const char *const *lines)
{
    struct model *m = model_new(true);
    for (; *lines; lines++) {
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", *lines);
        model_apply(m, buf);
    }
    return m;
}

/* What fn printed, malloc'd. */
static char *printed(void (*fn)(FILE *out, struct model *m, void *arg), struct model *m,
                     void *arg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    fn(f, m, arg);
    fclose(f);
    return text;
}

static void table(FILE *out, struct model *m, void *arg)
{
    size_t n;
    struct svc **v = model_sorted(m, &n);
    show_table(out, v, n, *(long long *)arg, false);
}

static void detail(FILE *out, struct model *m, void *arg)
{
    show_detail(out, model_find(m, arg), 1000);
}

static void json(FILE *out, struct model *m, void *arg)
{
    size_t n;
    struct svc **v = model_sorted(m, &n);
    show_json(out, v, n, 1000);
}

#define CHECK_HAS(text, want)                                                  \
    do {                                                                       \
        if (!CHECK(strstr((text), (want)) != NULL))                            \
            fprintf(stderr, "  no \"%s\" in:\n%s\n", (want), (text));          \
    } while (0)

static const char *const dump[] = {
    /* a crash loop, its restart pending: the state line has no exit */
    "service.state\tloop\tstart\t1002\t-\t-\t-\t-\t-",
    "service.args\tloop\tsh\t-c\texit 3",
    "service.fds\tloop\tnull\tnull\tnull",
    "service.auto_up\tloop\t2\talways",
    "service.exits\tloop\t5\t875\t1000,exit,3,0\t998,exit,3,1\t996,signal,SIGKILL,41",
    /* given up by a controller */
    "service.state\tgone\tdown\t990\t42\tsignal\tSIGSEGV\t3\t10",
    "service.args\tgone\tit's\ta b",
    "service.tags\tgone\trole=db",
    "service.want\tgone\tfailed\tcontroller\t995\trestart\tlimit",
    "service.exits\tgone\t1\t987\t990,signal,SIGSEGV,3",
    /* stopped by an operator, never exited */
    "service.state\tidle\tdown\t-\t-\t-\t-\t-\t-",
    "service.want\tidle\tdown\tuid=1000\t900\t",
    /* up again after a restart */
    "service.state\tweb\tup\t999\t77\t-\t-\t1\t-",
    "service.exits\tweb\t0\t950\t998,exit,1,48",
    NULL,
};

static void test_table(void)
{
    struct model *m = model_of(dump);
    long long now = 1000;
    char *t = printed(table, m, &now);
    CHECK_HAS(t, "NAME  STATE    PID  SINCE  LAST            READY  AUTO-UP    EXITS\n");
    CHECK_HAS(t, "gone  failed   -    10s    signal SIGSEGV  -      -          1 in 13s\n");
    CHECK_HAS(t, "idle  stopped  -    -      -               -      -          -\n");
    CHECK_HAS(t, "loop  start    -    in 2s  exit 3          -      always/2s  5 in 2m05s\n");
    CHECK_HAS(t, "web   up       77   1s     exit 1          -      -          -\n");
    free(t);
    model_free(m);
}

static void test_detail(void)
{
    struct model *m = model_of(dump);
    char *t = printed(detail, m, "loop");
    CHECK_HAS(t, "loop\n  state:    start in 2s (a restart: the last run ended with exit 3)\n");
    CHECK_HAS(t, "  want:     -\n  args:     sh -c 'exit 3'\n");
    CHECK_HAS(t, "  auto-up:  always/2s\n");
    CHECK_HAS(t, "  exits:    5 in 2m05s\n"
                 "            0s ago       exit 3           after 0s\n"
                 "            2s ago       exit 3           after 1s\n"
                 "            4s ago       signal SIGKILL   after 41s\n");
    free(t);
    t = printed(detail, m, "gone");
    CHECK_HAS(t, "  state:    failed for 10s\n");
    CHECK_HAS(t, "  want:     failed, by controller, 5s ago: restart limit\n");
    CHECK_HAS(t, "  args:     'it'\\''s' 'a b'\n");
    CHECK_HAS(t, "  tags:     role=db\n");
    free(t);
    t = printed(detail, m, "idle");
    CHECK_HAS(t, "  want:     down, by uid=1000, 1m40s ago\n");
    CHECK_HAS(t, "  exits:    -\n");
    free(t);
    t = printed(detail, m, "web");
    CHECK_HAS(t, "  state:    up for 1s, pid 77\n");
    free(t);
    model_free(m);
}

static void test_json(void)
{
    struct model *m = model_of(dump);
    char *t = printed(json, m, NULL);
    CHECK_HAS(t, "\"want\":{\"want\":\"failed\",\"by\":\"controller\",\"ts\":995,"
                 "\"why\":[\"restart\",\"limit\"]},\"exits\":{\"count\":1,\"ts\":987,"
                 "\"last\":[{\"ts\":990,\"reason\":\"signal\",\"value\":\"SIGSEGV\","
                 "\"uptime\":3}]}}");
    CHECK_HAS(t, "\"reason\":\"exit\",\"value\":\"3\"");       /* loop's, from its exits */
    CHECK_HAS(t, "\"want\":null,\"exits\":{\"count\":5,");
    free(t);
    model_free(m);
}

/* A want set back to "-", and history lines that are not daemonproxy's. */
static void test_odd(void)
{
    static const char *const lines[] = {
        "service.state\tx\tdown\t10\t-\t-\t-\t-\t-",
        "service.want\tx\tdown\tstdin\t5",
        "service.want\tx\t-\tstdin\t6",
        "service.exits\tx\t-\t-\t1,2",
        "service.exits\ty",
        "service.state\tz\tstart\t10\t-\t-\t-\t-\t-",
        "service.exits\tz\t3\t1\t9,exit",
        NULL,
    };
    struct model *m = model_of(lines);
    long long now = 10;
    char *t = printed(table, m, &now);
    CHECK_HAS(t, "\nx     down   -    0s     -     -      -        -\n");
    CHECK_HAS(t, "\ny     down   -    -      -     -      -        -\n");
    CHECK_HAS(t, "\nz     start  -    in 0s  -     -      -        3 in 9s\n");
    free(t);
    t = printed(json, m, NULL);
    CHECK_HAS(t, "\"exits\":{\"count\":3,\"ts\":1,\"last\":[{\"ts\":9,\"reason\":\"exit\","
                 "\"value\":\"\",\"uptime\":null}]}");
    free(t);
    model_free(m);
}

int main(void)
{
    test_table();
    test_detail();
    test_json();
    test_odd();
    return unit_done();
}
