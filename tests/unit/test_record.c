/* test_record.c - the re-exec records described as data (state.h tables).
 *
 * Every table covers its struct, row by row; a table with a row dropped is
 * refused, naming the field where the gap is.  Real states, written by
 * daemonproxy (tests/unit/states/, see README there), are restored by
 * every module in-process and saved again: the same bytes, record by
 * record and field by field.  And every field of every record, made
 * malformed (or missing, where the record requires it), is refused with a
 * message that names the record and the field.
 *
 * Each restore runs in a child of its own (a restore wants an empty
 * daemon); the fds a state names are sockets made at those numbers.
 */
#include "cmd.h"
#include "controller.h"
#include "ctlsock.h"
#include "event.h"
#include "fdstore.h"
#include "handle.h"
#include "links.h"
#include "log.h"
#include "loop.h"
#include "outbuf.h"
#include "protocol.h"
#include "reexec.h"
#include "service.h"
#include "service_impl.h"
#include "signals.h"
#include "state.h"
#include "svc_exits.h"
#include "svc_ready.h"
#include "svcctl.h"
#include "request.h"
#include "shutdown.h"
#include "unit.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Every record a state may hold, and the tables inside them. */
static const struct state_table *const records[] = {
    &reexec_record, &handle_pool_record, &handle_record, &log_record, &sig_record,
    &svc_pool_record, &svc_record, &svc_ready_record, &fdstore_record, &svc_mainpid_record,
    &ctlsock_record, &ctl_next_id_record, &ctl_record, &svcctl_record, &log_dest_record,
    &svc_exits_record,
    &req_next_record, &req_serve_record, &req_pending_record, &shutdown_record,
};
#define NRECORDS (sizeof records / sizeof *records)
static const struct state_table *const subs[] = { &outbuf_record, &proto_in_record,
                                                   &svc_exit_record };

static const char *const states[] = {
    "tests/unit/states/start", "tests/unit/states/busy", "tests/unit/states/rich",
    "tests/unit/states/exits",
    "tests/unit/states/requests",
};
#define NSTATES (sizeof states / sizeof *states)

static const struct state_table *table_of(const char *tag)
{
    for (size_t i = 0; i < NRECORDS; i++)
        if (strcmp(records[i]->tag, tag) == 0)
            return records[i];
    return NULL;
}

/* The flat row of field i of t (a sub-table's rows one by one), and its
 * name ("out.fd"). */
static const struct state_def *flat_def(const struct state_table *t, int i, char *name,
                                        size_t size)
{
    for (unsigned k = 0; k < t->n; k++) {
        const struct state_def *d = &t->defs[k];
        if (d->kind != STATE_K_SUB) {
            if (i-- == 0) {
                snprintf(name, size, "%s", d->name);
                return d;
            }
            continue;
        }
        char sub[64];
        const struct state_def *in = flat_def(d->sub, i, sub, sizeof sub);
        if (in) {
            snprintf(name, size, "%s.%s", d->name, sub);
            return in;
        }
        i -= (int)(d->sub->size / sizeof(struct state_val));
    }
    return NULL;
}

static int flat_count(const struct state_table *t)
{
    return (int)(t->size / sizeof(struct state_val));
}

/* --- the tables ----------------------------------------------------------- */

/* t with row k dropped is refused, naming the row after the gap (or
 * before it, for the last row). */
static void check_dropped(const struct state_table *t, unsigned k)
{
    struct state_def defs[64];
    unsigned n = 0;
    for (unsigned j = 0; j < t->n; j++)
        if (j != k)
            defs[n++] = t->defs[j];
    struct state_table broken = *t;
    broken.defs = defs;
    broken.n = n;
    const char *err = NULL;
    const char *near = t->defs[k + 1 < t->n ? k + 1 : k - 1].name;
    char want[128];
    snprintf(want, sizeof want, "table %s, field %s: ", t->tag, near);
    if (!CHECK(!state_table_check(&broken, &err)) || !CHECK(strstr(err, want) != NULL))
        fprintf(stderr, "  %s without row %s: %s\n", t->tag, t->defs[k].name,
                err ? err : "accepted");
}

static void test_tables(void)
{
    for (size_t i = 0; i < NRECORDS + 2; i++) {
        const struct state_table *t = i < NRECORDS ? records[i] : subs[i - NRECORDS];
        const char *err = "";
        if (!CHECK(state_table_check(t, &err)))
            fprintf(stderr, "  %s\n", err);
        CHECK(t->n > 0 && t->n <= 64);
        CHECK((int)t->required <= flat_count(t));
        for (size_t j = 0; j < i && i < NRECORDS; j++)
            CHECK(strcmp(records[j]->tag, t->tag) != 0);
        for (unsigned k = 0; k < t->n && t->n > 1; k++)
            check_dropped(t, k);
    }
}

/* --- restoring in a child ------------------------------------------------- */

/* Every fd number below FDS open (sockets), so that the fds a state names
 * (every one in tests/unit/states is below) are there and the loop's own
 * land above them. */
#define FDS 80
static void fill_fds(void)
{
    int sv[2];
    while (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
        if (sv[0] >= FDS || sv[1] >= FDS) {
            close(sv[0]);
            close(sv[1]);
            return;
        }
    }
    abort();
}

static void no_hook(struct ctl *c) {}

/* In a fresh child: restore text (len bytes) and save again into *o.
 * False with *err when the restore refused it. */
static bool restore_save(const char *text, size_t len, struct state_out *o, const char **err)
{
    fill_fds();
    links_set();
    if (loop_init() < 0)
        abort();
    int fd = memfd_create("state", MFD_CLOEXEC);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) != 0)
        abort();
    struct reexec_settings s;
    if (!reexec_load(fd, &s, err) || !reexec_restore(no_hook, err))
        return false;
    reexec_init(&s);
    state_out_init(o);
    reexec_save(o);
    return state_out_ok(o);
}

/* Run fn(arg) in a child whose stdout goes to *out (malloc'd, NUL-ended):
 * its exit status. */
static int in_child(void (*fn)(const void *arg), const void *arg, char **out)
{
    int p[2];
    if (pipe(p) < 0)
        abort();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        unit_passed = unit_failed = 0;
        close(p[0]);
        dup2(p[1], 1);
        close(p[1]);
        fn(arg);
        fflush(NULL);
        _exit(unit_failed ? 1 : 0);
    }
    close(p[1]);
    size_t n = 0, cap = 4096;
    char *buf = malloc(cap);
    ssize_t got;
    while (buf && (got = read(p[0], buf + n, cap - n - 1)) > 0)
        if ((n += (size_t)got) + 1 == cap)
            buf = realloc(buf, cap *= 2);
    close(p[0]);
    if (buf)
        buf[n] = '\0';
    *out = buf;
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    *len = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf)
        buf[*len] = '\0';
    return buf;
}

/* --- the round trip ------------------------------------------------------- */

/* What the restore adds on purpose to field name: every controller with an
 * event stream is told `reexec→VERSION→PATH`, and the log says so too. */
static bool added_by_restore(const char *name, const char *path, const char *want, size_t wn,
                             const char *got, size_t gn)
{
    char line[4200];
    int n;
    if (strcmp(name, "out.pending") == 0)
        n = snprintf(line, sizeof line, "reexec\t%s\t%s\n", DP_VERSION, path);
    else if (strcmp(name, "held") == 0)
        n = snprintf(line, sizeof line, "info: re-executed %s (version %s)\n", path, DP_VERSION);
    else
        return false;
    return gn == wn + (size_t)n && memcmp(got, want, wn) == 0 && memcmp(got + wn, line, n) == 0;
}

/* True if text is what d's default is written as. */
static bool is_default(const struct state_def *d, const char *text)
{
    char def[24];
    snprintf(def, sizeof def, "%lld", (long long)d->def);
    return d->kind == STATE_K_INT || d->kind == STATE_K_FD ? strcmp(text, def) == 0 : !*text;
}

/* The same records, field by field: false after naming the first that
 * differs. */
static bool same_records(char *want, size_t wn, char *got, size_t gn)
{
    struct state_in a, b;
    struct state_rec ra, rb;
    const char *err;
    int va, vb, res;
    char path[4096] = "";
    if (!state_in_init(&a, want, wn, &va, &err) || !state_in_init(&b, got, gn, &vb, &err))
        return printf("not a state: %s\n", err), false;
    while ((res = state_next(&a, &ra, &err)) == 1) {
        if (state_next(&b, &rb, &err) != 1 || strcmp(ra.tag, rb.tag) != 0)
            return printf("line %u: record %s, saved as %s\n", a.line, ra.tag, rb.tag), false;
        const struct state_table *t = table_of(ra.tag);
        if (strcmp(ra.tag, "reexec") == 0)
            snprintf(path, sizeof path, "%s", ra.f[0]);
        for (int i = 0; i < ra.n || i < rb.n; i++) {
            char name[64];
            snprintf(name, sizeof name, "#%d", i);
            if (t)
                flat_def(t, i, name, sizeof name);
            if (ra.len[i] == rb.len[i] && memcmp(ra.f[i], rb.f[i], ra.len[i]) == 0)
                continue;
            if (added_by_restore(name, path, ra.f[i], ra.len[i], rb.f[i], rb.len[i]))
                continue;
            if (i >= ra.n && t && is_default(flat_def(t, i, name, sizeof name), rb.f[i]))
                continue;   /* a field appended since the state was written */
            printf("line %u: record %s, field %s: \"%.60s\" saved as \"%.200s\"\n", a.line,
                   ra.tag, name, ra.f[i], rb.f[i]);
            return false;
        }
    }
    return res == 0 && state_next(&b, &rb, &err) == 0;
}

static void round_trip(const void *arg)
{
    size_t len;
    char *text = read_all(arg, &len);
    struct state_out o;
    const char *err = NULL;
    if (!CHECK(text != NULL))
        return;
    char *copy = malloc(len);
    memcpy(copy, text, len);
    if (!CHECK(restore_save(copy, len, &o, &err))) {
        printf("%s: %s\n", (const char *)arg, err ? err : "cannot save");
        return;
    }
    CHECK(same_records(text, len, o.buf, o.len));
}

static void test_round_trip(void)
{
    bool seen[NRECORDS] = { false };
    for (size_t i = 0; i < NSTATES; i++) {
        char *out;
        if (!CHECK_EQ(in_child(round_trip, states[i], &out), 0))
            fprintf(stderr, "  %s: %s", states[i], out);
        free(out);
        size_t len;
        char *text = read_all(states[i], &len);
        for (char *p = text; p && *p; p = strchr(p, '\n') + 1) {
            for (size_t k = 0; k < NRECORDS; k++)
                if (strncmp(p, records[k]->tag, strlen(records[k]->tag)) == 0 &&
                    p[strlen(records[k]->tag)] == '\t')
                    seen[k] = true;
        }
        free(text);
    }
    /* Every record is in one of the states. */
    for (size_t k = 0; k < NRECORDS; k++)
        if (!CHECK(seen[k]))
            fprintf(stderr, "  no state holds a %s record\n", records[k]->tag);
}

/* --- malformed fields ----------------------------------------------------- */

struct bad {
    char *text;
    size_t len;
};

static void restore_bad(const void *arg)
{
    const struct bad *b = arg;
    struct state_out o;
    const char *err = NULL;
    if (restore_save(b->text, b->len, &o, &err))
        printf("restored\n");
    else
        printf("%s\n", err);
}

/* A value field d refuses, or NULL if it takes any. */
static const char *bad_value(const struct state_def *d, char *buf, size_t size)
{
    switch (d->kind) {
    case STATE_K_INT:
    case STATE_K_FD:
        return d->min > INT64_MIN ? "-9223372036854775808" : "x";
    case STATE_K_STR:
        return "a\\x00b";
    case STATE_K_BYTES:
        if ((size_t)d->max + 1 >= size)
            return NULL;
        memset(buf, 'a', (size_t)d->max + 1);
        buf[d->max + 1] = '\0';
        return buf;
    case STATE_K_SUB:
        break;
    }
    return NULL;
}

/* line (of text, at [start, end)) with field i replaced by value (NULL:
 * cut before field i), then the rest, into *b. */
static void patch(const char *text, size_t len, const char *start, const char *end, int i,
                  const char *value, struct bad *b)
{
    const char *f = start - 1;
    for (int k = 0; k <= i && f; k++)
        f = memchr(f + 1, '\t', (size_t)(end - f - 1));
    const char *fend = f ? memchr(f + 1, '\t', (size_t)(end - f - 1)) : NULL;
    if (!f)
        f = end;
    if (!fend || !value)
        fend = end;
    size_t vn = value ? strlen(value) + 1 : 0;
    b->text = malloc(len + vn + 1);
    size_t n = (size_t)(f - text);
    memcpy(b->text, text, n);
    if (value) {
        b->text[n++] = '\t';
        memcpy(b->text + n, value, vn - 1);
        n += vn - 1;
    }
    memcpy(b->text + n, fend, (size_t)(text + len - fend));
    b->len = n + (size_t)(text + len - fend);
}

/* The restore of b names the record and the field. */
static void expect_named(struct bad *b, const char *tag, const char *name)
{
    char *out, want[128];
    in_child(restore_bad, b, &out);
    snprintf(want, sizeof want, "record %s, field %s: ", tag, name);
    if (!CHECK(out && strstr(out, want)))
        fprintf(stderr, "  %s.%s: %s", tag, name, out ? out : "?");
    free(out);
    free(b->text);
}

/* text with each record's trailing fields that are missing (appended
 * since the state was written) written out as their defaults, so that
 * every field has its place to be patched in. */
static char *pad_defaults(char *text, size_t *len)
{
    char *out = malloc(*len * 2 + 4096), *o = out;
    for (char *p = text; *p; p = strchr(p, '\n') + 1) {
        char *end = strchr(p, '\n'), tag[64], name[64];
        snprintf(tag, sizeof tag, "%.*s", (int)strcspn(p, "\t\n"), p);
        int n = 0;
        for (char *q = p; q < end; q++)
            n += *q == '\t';
        memcpy(o, p, (size_t)(end - p));
        o += end - p;
        const struct state_table *t = table_of(tag);
        for (int i = n; t && i < flat_count(t); i++) {
            const struct state_def *d = flat_def(t, i, name, sizeof name);
            if (d->kind == STATE_K_INT || d->kind == STATE_K_FD)
                o += sprintf(o, "\t%lld", (long long)d->def);
            else
                *o++ = '\t';
        }
        *o++ = '\n';
    }
    *o = '\0';
    *len = (size_t)(o - out);
    free(text);
    return out;
}

/* Each record's fields malformed, in the first state that holds it. */
static void malformed_in(const char *path, bool done[])
{
    size_t len;
    char *text = read_all(path, &len);
    if (!CHECK(text != NULL))
        return;
    text = pad_defaults(text, &len);
    static char big[70000];
    for (char *p = text; *p; p = strchr(p, '\n') + 1) {
        char *end = strchr(p, '\n'), tag[64];
        snprintf(tag, sizeof tag, "%.*s", (int)strcspn(p, "\t\n"), p);
        const struct state_table *t = table_of(tag);
        size_t k = 0;
        while (t && records[k] != t)
            k++;
        if (!t || done[k])
            continue;
        done[k] = true;
        struct bad b;
        char name[64];
        for (int i = 0; i < flat_count(t); i++) {
            const char *v = bad_value(flat_def(t, i, name, sizeof name), big, sizeof big);
            if (!v)
                continue;
            patch(text, len, p, end, i, v, &b);
            expect_named(&b, tag, name);
        }
        if (t->required) {
            flat_def(t, (int)t->required - 1, name, sizeof name);
            patch(text, len, p, end, (int)t->required - 1, NULL, &b);
            expect_named(&b, tag, name);
        }
    }
    free(text);
}

static void test_malformed(void)
{
    bool done[NRECORDS] = { false };
    malformed_in("tests/unit/states/busy", done);
    malformed_in("tests/unit/states/exits", done);     /* service.exits */
}

/* --- the desired state (service.want) ------------------------------------ */

/* The words of service.want, and the BYs a restore takes. */
static void test_want_words(void)
{
    CHECK_EQ(svc_want_parse("-"), SVC_WANT_NONE);
    CHECK_EQ(svc_want_parse("up"), SVC_WANT_UP);
    CHECK_EQ(svc_want_parse("down"), SVC_WANT_DOWN);
    CHECK_EQ(svc_want_parse("failed"), SVC_WANT_FAILED);
    const char *bad[] = { "", "UP", "up ", "stop", "none", "--", "fail", "downx" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_EQ(svc_want_parse(bad[i]), -1);
    for (int w = SVC_WANT_NONE; w <= SVC_WANT_FAILED; w++)
        CHECK_EQ(svc_want_parse(svc_want_name((enum svc_want)w)), w);
    const char *good_by[] = { "uid=0", "uid=1000", "uid=4294967295", "controller", "stdin" };
    for (size_t i = 0; i < sizeof good_by / sizeof *good_by; i++)
        CHECK(svc_want_by_valid(good_by[i]));
    const char *bad_by[] = { "", "uid=", "uid=-1", "uid=+1", "uid=4294967296", "uid=1x",
                             "root", "Controller", "stdin ", "uid= 1" };
    for (size_t i = 0; i < sizeof bad_by / sizeof *bad_by; i++)
        if (!CHECK(!svc_want_by_valid(bad_by[i])))
            fprintf(stderr, "  BY accepted: \"%s\"\n", bad_by[i]);
}

/* The first service record of the busy state with its desired state set
 * to want (want_by, want_ms, want_why as written), into *b. */
static void with_want(const char *want, struct bad *b)
{
    size_t len;
    char *text = pad_defaults(read_all("tests/unit/states/busy", &len), &len);
    char *p = strstr(text, "\nservice\t") + 1, *end = strchr(p, '\n');
    int n = flat_count(&svc_record);
    struct bad cut;
    /* The line without its want and what follows it (the attributes). */
    patch(text, len, p, end, n - 6, NULL, &cut);
    char *q = strstr(cut.text, "\nservice\t") + 1;
    size_t head = (size_t)(strchr(q, '\n') - cut.text);
    b->text = malloc(cut.len + strlen(want) + 4);
    memcpy(b->text, cut.text, head);
    b->len = head + (size_t)sprintf(b->text + head, "\t%s\t\t", want);
    memcpy(b->text + b->len, cut.text + head, cut.len - head);
    b->len += cut.len - head;
    free(cut.text);
    free(text);
}

static void restore_want(const void *arg)
{
    const struct bad *b = arg;
    struct state_out o;
    const char *err = NULL;
    char *copy = malloc(b->len);
    memcpy(copy, b->text, b->len);
    if (!CHECK(restore_save(copy, b->len, &o, &err))) {
        printf("%s\n", err ? err : "cannot save");
        return;
    }
    CHECK(same_records(b->text, b->len, o.buf, o.len));
}

/* A desired state goes through a re-exec as it was; a bad one is refused,
 * naming its field. */
static void test_want_record(void)
{
    struct bad b;
    char *out;
    const char *kept[] = { "2\tuid=1000\t5000\tmaint\\x09window 4", "3\tcontroller\t1\t",
                           "1\tstdin\t0\tx", "0\t\t0\t" };
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++) {
        with_want(kept[i], &b);
        if (!CHECK_EQ(in_child(restore_want, &b, &out), 0))
            fprintf(stderr, "  %s: %s", kept[i], out);
        free(out);
        free(b.text);
    }
    with_want("2\troot\t5000\t", &b);
    expect_named(&b, "service", "want_by");
    with_want("2\tuid=1\t5000\ta\\x0ab", &b);
    expect_named(&b, "service", "want_why");
    with_want("4\tuid=1\t5000\t", &b);
    expect_named(&b, "service", "want");
}

/* --- the exit history (service.exits) ------------------------------------- */

/* The exits state with its service.exits line of service "done" replaced
 * by line (NULL: no line; extra: one more line after it), into *b. */
static void with_exits(const char *line, const char *extra, struct bad *b)
{
    size_t len;
    char *text = read_all("tests/unit/states/exits", &len);
    char *p = strstr(text, "\nservice.exits\tdone\t") + 1, *end = strchr(p, '\n') + 1;
    b->text = malloc(len + 4096);
    size_t head = (size_t)(p - text);
    memcpy(b->text, text, head);
    b->len = head;
    if (line)
        b->len += (size_t)sprintf(b->text + b->len, "%s\n", line);
    if (extra)
        b->len += (size_t)sprintf(b->text + b->len, "%s\n", extra);
    memcpy(b->text + b->len, end, len - (size_t)(end - text));
    b->len += len - (size_t)(end - text);
    free(text);
}

/* A full ring (oldest first, as saved) and a count beyond it go through
 * a re-exec as they were; a record for no service, or a second one for a
 * service, is refused. */
static void test_exits_record(void)
{
    static const char full[] =
        "service.exits\tdone\t7\t1000\t5"
        "\t1000\t2000\t256\t2000\t3000\t9\t3000\t4000\t512"
        "\t4000\t5000\t0\t5000\t6000\t768";
    const char *kept[] = { full, "service.exits\tdone\t0\t9000\t0"
                           "\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0" };
    struct bad b;
    char *out;
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++) {
        with_exits(kept[i], NULL, &b);
        if (!CHECK_EQ(in_child(restore_want, &b, &out), 0))
            fprintf(stderr, "  %s: %s", kept[i], out);
        free(out);
        free(b.text);
    }
    char other[sizeof full + 8];
    snprintf(other, sizeof other, "service.exits\tnosuch%s", full + strlen("service.exits\tdone"));
    with_exits(other, NULL, &b);
    expect_named(&b, "service.exits", "name");
    with_exits(full, full, &b);
    in_child(restore_bad, &b, &out);
    if (!CHECK(out && strstr(out, "record service.exits: a second record")))
        fprintf(stderr, "  a second service.exits: %s", out ? out : "?");
    free(out);
    free(b.text);
    with_exits("service.exits\tdone\t1\t0\t6", NULL, &b);
    expect_named(&b, "service.exits", "kept");
}

UNIT_MAIN(test_tables, test_round_trip, test_malformed, test_want_words, test_want_record,
          test_exits_record)
