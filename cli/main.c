/* main.c - dpctl, the command-line client of daemonproxy (docs/dpctl.1).
 *
 * Every command connects to the control socket, learns what it needs from
 * a statedump, sends plain protocol commands and then follows the events
 * until the outcome it waits for happens, the daemon says it cannot, or
 * the -t bound passes.  Nothing here waits without a deadline.
 */
#include "conn.h"
#include "dpctl.h"
#include "logs.h"
#include "model.h"
#include "request.h"
#include "show.h"
#include "sockpath.h"

#include <errno.h>
#include <fnmatch.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef DP_VERSION
#define DP_VERSION "unknown"
#endif

#define LINE_MAX_BYTES 4096     /* the daemon's longest command, newline included */

/* --- the session: one connection and what it taught us -------------------- */

struct opts {
    const char *socket;
    const char *trust;          /* --trust-uid, as given */
    const char *why;            /* --why, as given */
    double timeout_s;           /* -t */
    bool timeout_given;
    bool json, raw, group, cgroup, help, force;
    const char *dir;            /* logs --dir, as given */
    struct logs_opts logs;      /* logs -f, -n, --since */
};

struct sess {
    struct opts *o;
    struct conn *c;
    struct model *m;
    char sockbuf[sizeof ((struct sockaddr_un *)0)->sun_path];
    uid_t trust;                /* a uid besides root and ours, or CONN_TRUST_NONE */
    int64_t wait_ms;            /* the -t bound for outcomes */
    int64_t reply_ms;           /* the bound for a reply: -t, at least 5 s */
    FILE *echo;                 /* request() prints the lines it reads here */
    char *err;                  /* the last error reply, without its excerpt */
    int nerr;
    bool tags;                  /* the model keeps the services' tags */
    bool no_want;               /* the daemon knows no service.want */
};

static int sess_connect(struct sess *s)
{
    const char *path = s->o->socket;
    if (!path) {
        char msg[sizeof s->sockbuf + 200];
        enum sockpath_result r = sockpath_for_client(s->sockbuf, sizeof s->sockbuf, msg,
                                                     sizeof msg);
        if (r == SOCKPATH_TOO_LONG)
            fprintf(stderr, "dpctl: the default socket path is too long; use -S\n");
        else if (r != SOCKPATH_OK)
            fprintf(stderr, "dpctl: %s\n", msg);
        if (r != SOCKPATH_OK)
            return DPCTL_NOCONNECT;
        path = s->sockbuf;
    }
    s->c = conn_open(path, s->reply_ms, s->trust);
    return s->c ? DPCTL_OK : DPCTL_NOCONNECT;
}

/* "MESSAGE, for command "EXCERPT"" -> "MESSAGE". */
static void keep_error(struct sess *s, const char *msg)
{
    free(s->err);
    s->err = strdup(msg);
    if (s->err) {
        char *cut = strstr(s->err, ", for command \"");
        if (cut)
            *cut = '\0';
    }
    s->nerr++;
}

/* Take in one line from the daemon: into the model, when the command
 * keeps one.  Returns DPCTL_OK, or an exit code when the model is full. */
static int absorb(struct sess *s, char *line)
{
    if (strncmp(line, "error\t", 6) == 0)
        keep_error(s, line + 6);
    if (!s->m)
        return DPCTL_OK;
    model_apply(s->m, line);
    if (!model_full(s->m))
        return DPCTL_OK;
    fprintf(stderr, "dpctl: %s describes more services than dpctl can keep (over %zu MiB "
            "of them); 'dpctl dump' lists them all\n", conn_path(s->c), MODEL_BYTES_MAX >> 20);
    return DPCTL_FAILED;
}

/* Read up to the echo marker within the reply bound, handing every line
 * before it to each().  Returns 0 when the marker came, each()'s exit code,
 * DPCTL_TIMEOUT after saying what the peer did instead, or another exit
 * code from conn_read_line(). */
static int until_marker(struct sess *s, const char *marker,
                        int (*each)(struct sess *, char *, size_t))
{
    int64_t deadline = conn_now_ms() + s->reply_ms;
    for (;;) {
        char *line;
        size_t len;
        int r = conn_read_line(s->c, deadline, &line, &len);
        if (r == DPCTL_TIMEOUT)
            conn_say_no_reply(s->c, (double)s->reply_ms / 1000);
        if (r)
            return r;
        if (strcmp(line, marker) == 0)
            return DPCTL_OK;
        if ((r = each(s, line, len)))
            return r;
    }
}

/* A line of a reply: printed to s->echo, applied to the model. */
static int take_reply(struct sess *s, char *line, size_t len)
{
    if (s->echo) {
        fwrite(line, 1, len, s->echo);
        fputc('\n', s->echo);
    }
    return absorb(s, line);
}

/* Send one command and read up to its echo marker, applying every line to
 * the model (and printing it to s->echo).  Returns 0 (check s->nerr for an
 * error reply), or an exit code. */
static int request(struct sess *s, int argc, char **argv)
{
    s->nerr = 0;
    /* The command and its marker in one write: the daemon wakes once and
     * reads both, where two writes woke it twice. */
    int rc;
    const char *marker = conn_send_marked(s->c, argc, argv, &rc);
    if (rc)
        return rc;
    rc = until_marker(s, marker, take_reply);
    if (rc == DPCTL_LOST)
        return conn_eof_seen(s->c) && argc && (strcmp(argv[0], "exit") == 0 ||
               strcmp(argv[0], "terminate") == 0) ? DPCTL_OK : DPCTL_LOST;
    return rc;
}

static int request2(struct sess *s, const char *a, const char *b)
{
    char *argv[] = { (char *)a, (char *)b };
    return request(s, 2, argv);
}

static int statedump(struct sess *s)
{
    char *argv[] = { (char *)"statedump" };
    return request(s, 1, argv);
}

/* Learn the daemon's state into a new model (the commands that decide
 * from it start here; the others keep none). */
static int sync_state(struct sess *s)
{
    s->m = model_new(s->o->json || s->tags);
    if (!s->m) {
        fprintf(stderr, "dpctl: out of memory\n");
        return DPCTL_FAILED;
    }
    return statedump(s);
}

/* Follow events until done(s, arg) holds (0), the deadline (DPCTL_TIMEOUT)
 * or an end conn_read_line() reports.  done is checked first. */
static int follow(struct sess *s, bool (*done)(struct sess *, void *), void *arg,
                  int64_t deadline)
{
    while (!done(s, arg)) {
        char *line;
        size_t len;
        int r = conn_read_line(s->c, deadline, &line, &len);
        if (r || (r = absorb(s, line)))
            return r;
    }
    return DPCTL_OK;
}

/* The named service, or NULL after saying it does not exist. */
static struct svc *known(struct sess *s, const char *name)
{
    struct svc *v = model_find(s->m, name);
    if (!v)
        fprintf(stderr, "dpctl: no such service '%s'\n", name);
    return v;
}

static bool is_up(const struct svc *v)
{
    return strcmp(v->state, "up") == 0;
}

/* The most serious of two exit codes: a missing service outranks a
 * refusal, a broken connection outranks everything. */
static int worst(int a, int b)
{
    static const int rank[] = { [DPCTL_OK] = 0, [DPCTL_FAILED] = 1, [DPCTL_USAGE] = 5,
                                [DPCTL_NOSERVICE] = 2, [DPCTL_TIMEOUT] = 3,
                                [DPCTL_NOCONNECT] = 6, [DPCTL_LOST] = 7 };
    return rank[b] > rank[a] ? b : a;
}

/* --- targets: the services one command acts on ----------------------------- */

struct target {
    const char *name;
    struct svc *v;              /* NULL: unknown, skipped */
    long long pid;              /* the run being stopped */
    unsigned long changes;      /* service.state count when we acted */
    char sig[32];               /* its stop signal */
    double stop_s;              /* its stop timeout */
    int64_t deadline;           /* SIGKILL then, or after that, give up */
    bool done, failed, refused, cancelled, killed, stuck, already;
};

struct targets {
    struct target *t;
    int n;
};

static int targets_find(struct sess *s, struct targets *ts, int argc, char **argv)
{
    int rc = DPCTL_OK;
    ts->t = calloc(argc > 0 ? (size_t)argc : 1, sizeof *ts->t);   /* "all" of none */
    ts->n = argc;
    if (!ts->t) {
        fprintf(stderr, "dpctl: out of memory\n");
        return DPCTL_FAILED;
    }
    for (int i = 0; i < argc; i++) {
        ts->t[i].name = argv[i];
        ts->t[i].v = known(s, argv[i]);
        if (!ts->t[i].v)
            rc = DPCTL_NOSERVICE;
    }
    return rc;
}

static void targets_free(struct targets *ts)
{
    free(ts->t);
}

static bool all_done(struct sess *s, void *arg)
{
    struct targets *ts = arg;
    for (int i = 0; i < ts->n; i++)
        if (ts->t[i].v && !ts->t[i].done)
            return false;
    return true;
}

/* --- names: what the operands of a command stand for ------------------------ */

static bool is_all(const char *a)
{
    return strcmp(a, "all") == 0;
}

/* A pattern has a character of fnmatch(3) that no service name has. */
static bool is_pattern(const char *a)
{
    return strpbrk(a, "*?[") != NULL;
}

static bool any_expands(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (is_all(argv[i]) || is_pattern(argv[i]))
            return true;
    return false;
}

static bool listed(char **v, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v[i], name) == 0)
            return true;
    return false;
}

/* The operands as the names they stand for, for a command to act on them
 * one by one exactly as on names typed out: a name as given (an unknown
 * one too: the command reports it), "all" as every service but the
 * controllers, a pattern as the names fnmatch(3) matches, sorted; each
 * service once, where it is first named.  "all" leaves out the services
 * whose fds name control.*: stopping the policy along with everything
 * it manages is never what "stop all" means (name a controller to act
 * on it).  A pattern that matches nothing is reported and sets *rc to
 * DPCTL_NOSERVICE.  Returns NULL when out of memory (said). */
static char **names_expand(struct sess *s, int argc, char **argv, int *n, int *rc)
{
    size_t total;
    struct svc **all = model_sorted(s->m, &total);
    char **out = all ? malloc(((size_t)argc + total) * sizeof *out) : NULL;
    if (!out) {
        fprintf(stderr, "dpctl: out of memory\n");
        return NULL;
    }
    for (size_t j = 0; j < total; j++)
        all[j]->picked = false;
    int k = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!is_all(a) && !is_pattern(a)) {
            struct svc *v = model_find(s->m, a);
            if (v ? v->picked : listed(out, k, a))
                continue;
            if (v)
                v->picked = true;
            out[k++] = argv[i];
            continue;
        }
        bool matched = false;
        for (size_t j = 0; j < total; j++) {
            struct svc *v = all[j];
            if (is_all(a) ? v->controller : fnmatch(a, v->name, 0) != 0)
                continue;
            matched = true;
            if (!v->picked) {
                v->picked = true;
                out[k++] = v->name;
            }
        }
        if (!matched && !is_all(a)) {
            fprintf(stderr, "dpctl: no service matches '%s'\n", a);
            *rc = DPCTL_NOSERVICE;
        }
    }
    *n = k;
    return out;
}

/* The daemon's state, then the names the operands stand for (*names,
 * *n; *names NULL after an error, whose exit code is returned).  A
 * pattern that matches nothing sets *rc, as an unknown name does. */
static int names_resolve(struct sess *s, int argc, char **argv, char ***names, int *n, int *rc)
{
    *names = NULL;
    int r = sync_state(s);
    if (r)
        return r;
    *names = names_expand(s, argc, argv, n, rc);
    return *names ? DPCTL_OK : DPCTL_FAILED;
}

/* --- the desired state: what start and stop record first --------------------- */

/* Record what is wanted of the target (docs/protocol.md, "Desired state"):
 * "up" or "down", with why (may be empty).  A refusal is said and marks
 * the target refused.  Returns 0, or an exit code (DPCTL_FAILED for a
 * daemon that has no service.want: nothing else here can work then). */
static int want(struct sess *s, struct target *t, const char *what, const char *why)
{
    char *argv[] = { (char *)"service.want", (char *)t->name, (char *)what, (char *)why };
    int r = request(s, *why ? 4 : 3, argv);
    if (r || !s->nerr)
        return r;
    if (strncmp(s->err, "Unknown command", 15) == 0) {
        s->no_want = true;
        fprintf(stderr, "dpctl: this daemonproxy keeps no desired state (no service.want: "
                "older than dpctl?); 'dpctl signal' and 'dpctl send service.start' still "
                "work\n");
        return DPCTL_FAILED;
    }
    fprintf(stderr, "dpctl: %s: %s\n", t->name, s->err);
    t->done = t->refused = true;
    return DPCTL_OK;
}

/* --- start ------------------------------------------------------------------ */

/* Mark the targets whose start has an outcome: up (and ready), or gone. */
static bool starts_settled(struct sess *s, void *arg)
{
    struct targets *ts = arg;
    for (int i = 0; i < ts->n; i++) {
        struct target *t = &ts->t[i];
        if (!t->v || t->done)
            continue;
        if (svc_ready(t->v)) {
            t->done = true;
        } else if (!is_up(t->v) && (t->v->changes != t->changes || !t->already)) {
            t->done = t->failed = true;
        }
    }
    return all_done(s, arg);
}

static void report_start(const struct target *t)
{
    const struct svc *v = t->v;
    if (t->failed)
        fprintf(stderr, "dpctl: %s: %s (%s %s)\n", t->name,
                strcmp(v->state, "deleted") == 0 ? "deleted" : "exited",
                v->reason[0] ? v->reason : "-", v->reason[0] ? v->value : "-");
    else
        printf("%s: %sup, pid %lld%s\n", t->name, t->already ? "already " : "", v->pid,
               svc_has_channel(v) ? ", ready" : "");
}

/* Want each target up: the daemon clears a down or failed want and starts
 * a service that is down within the command; a pending timed start is
 * replaced by a start now.  A running one is left as it is: no start of
 * ours can then race a controller's into "already running".  Then wait
 * until each is up (and ready). */
static int do_start(struct sess *s, struct targets *ts, const char *why)
{
    int rc = DPCTL_OK;
    for (int i = 0; i < ts->n; i++) {
        struct target *t = &ts->t[i];
        if (!t->v)
            continue;
        t->done = t->failed = t->refused = false;
        t->already = is_up(t->v);
        t->changes = t->v->changes;
        int r = want(s, t, "up", why);
        if (r)
            return r;
        if (!t->refused && strcmp(t->v->state, "start") == 0 &&
            (r = request2(s, "service.start", t->name)))
            return r;
        /* An error of that start is moot if the pending start came first. */
        if (!t->refused && s->nerr && !is_up(t->v)) {
            fprintf(stderr, "dpctl: %s: %s\n", t->name, s->err);
            t->done = t->refused = true;
        }
        if (t->refused)
            rc = DPCTL_FAILED;
        /* Our start's "up" came before the marker: from here on, any
         * other state means this run ended. */
    }
    int r = follow(s, starts_settled, ts, conn_now_ms() + s->wait_ms);
    for (int i = 0; i < ts->n; i++) {
        struct target *t = &ts->t[i];
        if (!t->v || t->refused)
            continue;
        if (t->done) {
            report_start(t);
            if (t->failed)
                rc = worst(rc, DPCTL_FAILED);
        } else if (r == DPCTL_TIMEOUT) {
            fprintf(stderr, "dpctl: %s: %s within %gs\n", t->name,
                    is_up(t->v) ? "up, but not ready" : "not up", s->o->timeout_s);
        }
    }
    return worst(rc, r);
}

/* --- stop ------------------------------------------------------------------- */

/* The value of the tag "key=VALUE" among the service's tags, copied into
 * out; false when it has none that fits. */
static bool tag_value(const struct svc *v, const char *key, char *out, size_t size)
{
    size_t k = strlen(key);
    for (const char *p = v->json ? v->json->tags : NULL; p && *p; ) {
        const char *end = strchr(p, '\t');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > k && strncmp(p, key, k) == 0 && p[k] == '=' && n - k - 1 < size) {
            memcpy(out, p + k + 1, n - k - 1);
            out[n - k - 1] = '\0';
            return true;
        }
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* How to stop the target: the stop_signal= and stop_timeout= tags its
 * controller publishes (docs/protocol.md, "Desired state"), else SIGTERM
 * and -t; -t given wins over the tag. */
static void stop_settings(struct sess *s, struct target *t)
{
    char val[32];
    if (!tag_value(t->v, "stop_signal", t->sig, sizeof t->sig) || !t->sig[0])
        strcpy(t->sig, "SIGTERM");
    t->stop_s = s->o->timeout_s;
    if (s->o->timeout_given || !tag_value(t->v, "stop_timeout", val, sizeof val))
        return;
    char *end;
    double d = strtod(val, &end);
    if (*val && !*end && d >= 0 && d <= 1e6)
        t->stop_s = d;
    else
        fprintf(stderr, "dpctl: %s: ignoring its tag stop_timeout=%s (not seconds from 0 "
                "to 1000000); waiting %gs\n", t->name, val, t->stop_s);
}

/* Stopped: the run we signalled is over, and with a cgroup, its last
 * process is gone too. */
static bool stopped(const struct target *t)
{
    const struct svc *v = t->v;
    if (strcmp(v->state, "deleted") == 0)
        return true;
    return (!is_up(v) || v->pid != t->pid) && v->cgroup != 1;
}

static bool stops_settled(struct sess *s, void *arg)
{
    struct targets *ts = arg;
    for (int i = 0; i < ts->n; i++)
        if (ts->t[i].v && !ts->t[i].done && stopped(&ts->t[i]))
            ts->t[i].done = true;
    return all_done(s, arg);
}

/* Send the target its stop signal, or with kill SIGKILL (to its whole
 * cgroup when it has one), and set when to give up on it.  An error
 * because it just exited is moot; a stop signal the daemon does not know
 * (a bad tag) is said, and SIGTERM sent instead. */
static int signal_target(struct sess *s, struct target *t, bool kill)
{
    const char *sig = kill ? "SIGKILL" : t->sig;
    for (;;) {
        char *argv[] = { (char *)"service.signal", (char *)t->name, (char *)sig,
                         (char *)"cgroup" };
        int r = request(s, kill && t->v->cgroup >= 0 ? 4 : 3, argv);
        if (r)
            return r;
        if (!s->nerr || kill || !is_up(t->v) || t->v->pid != t->pid ||
            strcmp(sig, "SIGTERM") == 0)
            break;
        fprintf(stderr, "dpctl: %s: %s (its tag stop_signal=%s); sending SIGTERM\n", t->name,
                s->err, sig);
        sig = "SIGTERM";
    }
    t->killed = kill;
    t->deadline = conn_now_ms() + (kill ? s->reply_ms : (int64_t)(t->stop_s * 1000 + 0.5));
    return DPCTL_OK;
}

static void report_stop(const struct target *t)
{
    const struct svc *v = t->v;
    const char *why = v->reason[0] ? v->reason : "-", *val = v->reason[0] ? v->value : "-";
    if (t->stuck)
        fprintf(stderr, "dpctl: %s: still running after SIGKILL\n", t->name);
    else if (t->pid < 0)
        printf("%s: was not running%s\n", t->name,
               t->cancelled ? "; its pending start is cancelled" : "");
    else if (t->killed)
        printf("%s: did not stop within %gs; killed (%s %s)\n", t->name, t->stop_s, why, val);
    else
        printf("%s: stopped (%s %s)\n", t->name, why, val);
}

/* Want each target down (which cancels a pending start, and from then on
 * keeps auto-up and a controller from starting it), send its stop signal,
 * and SIGKILL what is still running after its stop timeout. */
static int do_stop(struct sess *s, struct targets *ts, const char *why)
{
    int rc = DPCTL_OK;
    for (int i = 0; i < ts->n; i++) {
        struct target *t = &ts->t[i];
        if (!t->v)
            continue;
        t->pid = is_up(t->v) ? t->v->pid : -1;
        t->done = t->pid < 0 && t->v->cgroup != 1;
        bool pending = strcmp(t->v->state, "start") == 0;
        int r = want(s, t, "down", why);
        if (r)
            return r;
        if (t->refused) {
            rc = DPCTL_FAILED;
            continue;
        }
        t->cancelled = pending && strcmp(t->v->state, "start") != 0;
        stop_settings(s, t);
        if (!t->done && (r = signal_target(s, t, false)))
            return r;
    }
    int r;
    for (;;) {
        int64_t next = INT64_MAX;
        for (int i = 0; i < ts->n; i++)
            if (ts->t[i].v && !ts->t[i].done && ts->t[i].deadline < next)
                next = ts->t[i].deadline;
        r = follow(s, stops_settled, ts, next);
        if (r != DPCTL_TIMEOUT)
            break;
        /* Each target past its deadline: SIGKILL, or given up after that. */
        int64_t now = conn_now_ms();
        for (int i = 0; i < ts->n; i++) {
            struct target *t = &ts->t[i];
            if (!t->v || t->done || t->deadline > now)
                continue;
            if (t->killed)
                t->done = t->stuck = true;
            else if ((r = signal_target(s, t, true)))
                return r;
        }
    }
    for (int i = 0; i < ts->n; i++) {
        struct target *t = &ts->t[i];
        if (!t->v || t->refused)
            continue;
        if (t->done)
            report_stop(t);
        if (t->stuck)
            rc = worst(rc, DPCTL_TIMEOUT);
    }
    return worst(rc, r);
}

/* --- the commands -------------------------------------------------------- */

/* The directory of the service's logs (docs/protocol.md: the log_dir=
 * tag a controller publishes), into dir; false when it has none. */
static bool log_dir(const struct svc *v, char *dir, size_t size)
{
    return tag_value(v, "log_dir", dir, size);
}

/* The detail view's last records, when the service has a log directory. */
static void show_log(const struct svc *v)
{
    char dir[4096];
    if (!log_dir(v, dir, sizeof dir))
        return;
    if (dir[0] == '/')
        logs_show_recent(stdout, dir, 5);
    else
        printf("  %-10s%s (not an absolute path: not read)\n", "log:", dir);
}

static int cmd_status(struct sess *s, int argc, char **argv)
{
    /* The table goes out 16 KiB at a time: musl's stdout wrote it 1 KiB
     * at a time (430 writevs for 10,000 running services), and a bigger
     * buffer costs more in pages first touched (about 10 us each on a
     * virtual machine) than it saves in writes.  Nothing was written to
     * stdout before, as setvbuf() requires. */
    static char out[1 << 14];
    setvbuf(stdout, out, _IOFBF, sizeof out);
    /* One name typed out: that service in full (its lists are kept). */
    bool detail = argc == 1 && !s->o->json && !any_expands(argc, argv);
    int rc;
    if (detail && !(s->m = model_new(true)))
        fprintf(stderr, "dpctl: out of memory\n");
    if (detail)
        rc = s->m ? statedump(s) : DPCTL_FAILED;
    else
        rc = sync_state(s);
    if (rc)
        return rc;
    char **names = argv;
    if (argc > 0 && !(names = names_expand(s, argc, argv, &argc, &rc)))
        return DPCTL_FAILED;
    size_t n;
    struct svc **all = model_sorted(s->m, &n);
    struct svc **v = all;
    if (argc > 0) {
        v = calloc((size_t)argc, sizeof *v);
        if (!v)
            return DPCTL_FAILED;
        n = 0;
        for (int i = 0; i < argc; i++) {
            struct svc *one = known(s, names[i]);
            if (one)
                v[n++] = one;
            else
                rc = DPCTL_NOSERVICE;
        }
    }
    long long now_s = conn_now_ms() / 1000;
    if (detail && n == 1) {
        show_detail(stdout, v[0], now_s);
        show_log(v[0]);
    } else if (s->o->json) {
        show_json(stdout, v, n, now_s);
    } else {
        const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
        bool color = isatty(STDOUT_FILENO) && !(nc && *nc) && !(term && !strcmp(term, "dumb"));
        show_table(stdout, v, n, now_s, color);
    }
    if (v != all)
        free(v);
    if (names != argv)
        free(names);
    return rc;
}

/* start, stop and restart: through the desired state, so that a stop
 * sticks and a start brings back whatever rule or policy was gated. */
enum verb { START, STOP, RESTART };

static int act(struct sess *s, int argc, char **argv, enum verb verb)
{
    struct targets ts;
    char **names;
    int n, rc = DPCTL_OK;
    s->tags = verb != START;        /* stop_signal= and stop_timeout= */
    int r = names_resolve(s, argc, argv, &names, &n, &rc);
    if (r)
        return r;
    rc = worst(rc, targets_find(s, &ts, n, names));
    if (!ts.t) {
        free(names);
        return rc;
    }
    const char *why = s->o->why ? s->o->why : verb == RESTART ? "restart" : "";
    r = verb != START ? do_stop(s, &ts, why) : DPCTL_OK;
    if (verb == RESTART && r != DPCTL_LOST && r != DPCTL_NOCONNECT && !s->no_want) {
        /* Start what stopped; one still running after SIGKILL is wanted
         * up again, not left down by a restart, and not waited for. */
        for (int i = 0; i < ts.n; i++) {
            struct target *t = &ts.t[i];
            int w = t->v && t->stuck ? want(s, t, "up", why) : DPCTL_OK;
            if (w)
                return w;
            if (t->refused || t->stuck)
                t->v = NULL;
        }
        r = worst(r, do_start(s, &ts, why));
    } else if (verb == START) {
        r = do_start(s, &ts, why);
    }
    targets_free(&ts);
    free(names);
    return worst(rc, r);
}

static int cmd_start(struct sess *s, int argc, char **argv)
{
    return act(s, argc, argv, START);
}

static int cmd_stop(struct sess *s, int argc, char **argv)
{
    return act(s, argc, argv, STOP);
}

static int cmd_restart(struct sess *s, int argc, char **argv)
{
    return act(s, argc, argv, RESTART);
}

/* Names typed out go to the daemon as they are, and it says which are
 * unknown; "all" and patterns need its list first. */
static int cmd_signal(struct sess *s, int argc, char **argv)
{
    int rc = DPCTL_OK, n = argc - 1;
    char **names = argv + 1;
    if (any_expands(n, names)) {
        int r = names_resolve(s, argc - 1, argv + 1, &names, &n, &rc);
        if (r)
            return r;
    }
    for (int i = 0; i < n; i++) {
        char *f[] = { (char *)"service.signal", names[i], argv[0],
                      (char *)(s->o->cgroup ? "cgroup" : "group") };
        int r = request(s, s->o->group || s->o->cgroup ? 4 : 3, f);
        if (r) {
            rc = r;
            break;
        }
        if (s->nerr) {
            bool missing = strncmp(s->err, "no such service", 15) == 0;
            fprintf(stderr, "dpctl: %s%s%s\n", missing ? "" : names[i], missing ? "" : ": ",
                    s->err);
            rc = worst(rc, missing ? DPCTL_NOSERVICE : DPCTL_FAILED);
        }
    }
    if (names != argv + 1)
        free(names);
    return rc;
}

/* wait: every service named holds the condition, or one is deleted. */
struct wait_for {
    struct svc **v;
    int n;
    const char *cond;
};

static bool holds(const struct svc *v, const char *cond)
{
    if (strcmp(cond, "up") == 0)
        return is_up(v);
    if (strcmp(cond, "down") == 0)
        return !is_up(v);
    return svc_ready(v);
}

static bool is_deleted(const struct svc *v)
{
    return strcmp(v->state, "deleted") == 0;
}

static bool condition_holds(struct sess *s, void *arg)
{
    struct wait_for *w = arg;
    bool all = true;
    for (int i = 0; i < w->n; i++) {
        if (is_deleted(w->v[i]))
            return true;
        all = all && holds(w->v[i], w->cond);
    }
    return all;
}

static int cmd_wait(struct sess *s, int argc, char **argv)
{
    char **names;
    int n, rc = DPCTL_OK;
    int r = names_resolve(s, 1, argv, &names, &n, &rc);
    if (r)
        return r;
    struct wait_for w = { calloc(n > 0 ? (size_t)n : 1, sizeof *w.v), 0, argv[1] };
    if (!w.v) {
        free(names);
        fprintf(stderr, "dpctl: out of memory\n");
        return DPCTL_FAILED;
    }
    for (int i = 0; i < n; i++) {
        struct svc *v = known(s, names[i]);
        if (v)
            w.v[w.n++] = v;
        else
            rc = DPCTL_NOSERVICE;
    }
    if (rc == DPCTL_OK)
        rc = follow(s, condition_holds, &w, conn_now_ms() + s->wait_ms);
    for (int i = 0; i < w.n && rc == DPCTL_OK; i++)
        if (is_deleted(w.v[i])) {
            fprintf(stderr, "dpctl: %s was deleted\n", w.v[i]->name);
            rc = DPCTL_NOSERVICE;
        }
    for (int i = 0; i < w.n && rc == DPCTL_TIMEOUT; i++)
        if (!holds(w.v[i], argv[1]))
            fprintf(stderr, "dpctl: %s: not %s within %gs\n", w.v[i]->name, argv[1],
                    s->o->timeout_s);
    free(w.v);
    free(names);
    return rc;
}

/* One event line as watch shows it, flushed at once. */
static int show_watched(struct sess *s, char *line, size_t len)
{
    if (s->o->raw) {
        fwrite(line, 1, len, stdout);
        fputc('\n', stdout);
    } else {
        show_event(stdout, line, conn_now_ms());
    }
    return fflush(stdout) != 0 ? DPCTL_FAILED : DPCTL_OK;   /* the reader went away */
}

static int cmd_watch(struct sess *s, int argc, char **argv)
{
    int64_t deadline = s->o->timeout_given ? conn_now_ms() + s->wait_ms : INT64_MAX;
    /* An echo first, awaited as every command's reply is: only listening,
     * watch would wait for ever on a socket that is silent or speaks
     * another protocol (an HTTP server waits for a request), and never
     * learn what is there.  The events before the reply are shown. */
    int r;
    const char *marker = conn_send_marker(s->c, &r);
    if (r || (r = until_marker(s, marker, show_watched)))
        return r;
    for (;;) {
        char *line;
        size_t len;
        r = conn_read_line(s->c, deadline, &line, &len);
        if (r)
            return r == DPCTL_TIMEOUT ? DPCTL_OK : r;   /* -t is watch's length */
        if ((r = show_watched(s, line, len)))
            return r;
    }
}

/* logs: the directory given, or the one NAME's tag names; the daemon is
 * left before the reading (a follow may last for days, and would leave
 * the events it sends unread). */
static int cmd_logs(struct sess *s, int argc, char **argv)
{
    if (s->o->dir)
        return logs_print(s->o->dir, &s->o->logs);
    s->tags = true;
    int rc = sync_state(s);
    if (rc)
        return rc;
    struct svc *v = known(s, argv[0]);
    if (!v)
        return DPCTL_NOSERVICE;
    char dir[4096];
    if (!log_dir(v, dir, sizeof dir)) {
        fprintf(stderr, "dpctl: %s has no log_dir= tag: the controller that runs its logger "
                "sets one (dpcontroller: log = true); or read a directory with 'dpctl logs "
                "--dir DIR'\n", argv[0]);
        return DPCTL_FAILED;
    }
    if (dir[0] != '/') {
        fprintf(stderr, "dpctl: %s: its tag log_dir=%s is not an absolute path\n", argv[0], dir);
        return DPCTL_FAILED;
    }
    conn_close(s->c);
    s->c = NULL;
    return logs_print(dir, &s->o->logs);
}

static int cmd_dump(struct sess *s, int argc, char **argv)
{
    s->echo = stdout;
    return statedump(s);
}

static int cmd_send(struct sess *s, int argc, char **argv)
{
    if (strcmp(argv[0], "exit") == 0 || strcmp(argv[0], "terminate") == 0)
        conn_expect_eof(s->c);
    s->echo = stdout;
    int rc = request(s, argc, argv);
    if (rc == DPCTL_OK && s->nerr)
        rc = DPCTL_FAILED;
    return rc;
}

/* --- reexec ------------------------------------------------------------------ */

/* Whether line is the outcome of our reexec, *rc its exit code.  Before
 * the marker only a reply to our command counts (an error with its
 * excerpt): a broadcast there is another controller's attempt, and a
 * re-exec that ends before our command is read carries it over unread.
 * After the marker the daemon is busy with ours and refuses any other,
 * so the first outcome is ours. */
static bool reexec_outcome(struct sess *s, char *line, bool after_marker, int *rc)
{
    static const char err[] = "error\treexec: ";
    if (!after_marker && strcmp(line, "error\tUnknown command: reexec") == 0) {
        fprintf(stderr, "dpctl: this daemonproxy cannot re-execute (older than dpctl?)\n");
        *rc = DPCTL_FAILED;
        return true;
    }
    if (strncmp(line, err, sizeof err - 1) == 0) {
        bool reply = strstr(line, ", for command \"reexec") != NULL;
        if (after_marker == reply)
            return false;
        keep_error(s, line + 6);
        fprintf(stderr, "dpctl: %s\n", s->err);
        *rc = DPCTL_FAILED;
        return true;
    }
    if (after_marker && strncmp(line, "reexec\t", 7) == 0) {
        char *f[3];
        int n = split_tabs(line, f, 3);
        printf("daemonproxy re-executed: %s (version %s)\n", n > 2 ? f[2] : "?",
               n > 1 ? f[1] : "?");
        *rc = DPCTL_OK;
        return true;
    }
    return false;
}

/* Send reexec and follow the lines until its outcome: the reply by the
 * reply bound, then the check and the exec by -t.  The marker travels in
 * the same write, so the daemon answers it before the exec can happen. */
static int cmd_reexec(struct sess *s, int argc, char **argv)
{
    char *f[] = { (char *)"reexec", argc ? argv[0] : NULL };
    int rc;
    const char *marker = conn_send_marked(s->c, 1 + argc, f, &rc);
    if (rc)
        return rc;
    bool accepted = false;
    int64_t deadline = conn_now_ms() + s->reply_ms;
    for (;;) {
        char *line;
        size_t len;
        int r = conn_read_line(s->c, deadline, &line, &len);
        if (r == DPCTL_TIMEOUT && accepted)
            fprintf(stderr, "dpctl: daemonproxy did not report the re-exec within %gs "
                    "(it may still happen)\n", s->o->timeout_s);
        else if (r == DPCTL_TIMEOUT)
            conn_say_no_reply(s->c, (double)s->reply_ms / 1000);
        if (r)
            return r;
        if (!accepted && strcmp(line, marker) == 0) {
            accepted = true;
            deadline = conn_now_ms() + s->wait_ms;
            continue;
        }
        if (reexec_outcome(s, line, accepted, &r))
            return r;
    }
}

/* --- the command table -------------------------------------------------------- */

enum { F_JSON = 1, F_RAW = 2, F_GROUP = 4, F_WHY = 8, F_FORCE = 16, F_LOGS = 32 };

struct command {
    const char *name;
    int (*run)(struct sess *, int, char **);
    int min, max;               /* operands; -1 = any number */
    int flags;                  /* F_* options it takes */
    bool (*valid)(int, char **);
};

/* Service names, "all" or patterns: a pattern is matched here, never
 * sent, but it is printed (no match), so it holds no control character. */
static bool names_valid(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        size_t n = strlen(argv[i]);
        if (is_pattern(argv[i])) {
            bool ok = n <= 255;
            for (size_t k = 0; ok && k < n; k++)
                ok = (unsigned char)argv[i][k] >= 0x20 && argv[i][k] != 0x7f;
            if (!ok) {
                fprintf(stderr, "dpctl: invalid pattern (at most 255 bytes, no control "
                        "characters)\n");
                return false;
            }
            continue;
        }
        bool ok = n > 0 && n <= 31;
        for (size_t k = 0; ok && k < n; k++) {
            char c = argv[i][k];
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        }
        if (!ok) {
            fprintf(stderr, "dpctl: invalid service name '%s' (1 to 31 of A-Z a-z 0-9 . _ -)\n",
                    argv[i]);
            return false;
        }
    }
    return true;
}

static bool signal_valid(int argc, char **argv)
{
    for (const char *p = argv[0]; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            fprintf(stderr, "dpctl: the signal holds a control character\n");
            return false;
        }
    return names_valid(argc - 1, argv + 1);
}

static bool wait_valid(int argc, char **argv)
{
    if (strcmp(argv[1], "up") && strcmp(argv[1], "down") && strcmp(argv[1], "ready")) {
        fprintf(stderr, "dpctl: wait for up, down or ready, not '%s'\n", argv[1]);
        return false;
    }
    return names_valid(1, argv);
}

/* One protocol line: no control characters, within the daemon's limit. */
static bool send_valid(int argc, char **argv)
{
    size_t total = 0;
    for (int i = 0; i < argc; i++) {
        for (const char *p = argv[i]; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) {
                fprintf(stderr, "dpctl: argument %d holds a control character "
                        "(give fields as separate words, without TABs)\n", i + 1);
                return false;
            }
        total += strlen(argv[i]) + 1;
    }
    if (total > LINE_MAX_BYTES) {
        fprintf(stderr, "dpctl: the command is %zu bytes; daemonproxy takes at most %d\n",
                total, LINE_MAX_BYTES);
        return false;
    }
    return true;
}

/* reexec's PATH: one field within the daemon's line limit, made absolute
 * against our cwd (the daemon's is another); operands[0] then points to
 * the absolute path. */
static bool reexec_valid(int argc, char **argv)
{
    static char full[LINE_MAX_BYTES];
    if (argc == 0)
        return true;
    const char *p = argv[0];
    if (!*p) {
        fprintf(stderr, "dpctl: the path is empty (give none for daemonproxy's own binary)\n");
        return false;
    }
    for (const char *q = p; *q; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f) {
            fprintf(stderr, "dpctl: the path holds a control character\n");
            return false;
        }
    char cwd[LINE_MAX_BYTES];
    while (p[0] == '.' && p[1] == '/')      /* "./x" reads better as "/cwd/x" */
        for (p += 2; *p == '/'; p++)
            ;
    if (*p != '/' && !getcwd(cwd, sizeof cwd)) {
        fprintf(stderr, "dpctl: cannot make '%s' absolute (getcwd: %s); give an absolute path\n",
                p, strerror(errno));
        return false;
    }
    int n = *p == '/' ? snprintf(full, sizeof full, "%s", p)
                      : snprintf(full, sizeof full, "%s/%s", cwd, p);
    if (n < 0 || (size_t)n > sizeof full - sizeof "reexec\t") {
        fprintf(stderr, "dpctl: the path is too long (daemonproxy takes commands of at most "
                "%d bytes)\n", LINE_MAX_BYTES);
        return false;
    }
    argv[0] = full;
    return true;
}

/* logs' NAME: one service, typed out. */
static bool logs_valid(int argc, char **argv)
{
    if (argc && is_pattern(argv[0])) {
        fprintf(stderr, "dpctl: logs reads one service's logs: a name, not a pattern\n");
        return false;
    }
    return names_valid(argc, argv);
}

/* The verbs addressed to the controller (request.h). */
static int cmd_reload(struct sess *s, int argc, char **argv)
{
    return request_reload(s->c, s->wait_ms, s->reply_ms);
}

static int cmd_shutdown(struct sess *s, int argc, char **argv)
{
    return request_shutdown(s->c, argc ? argv[0] : NULL, s->o->force, s->wait_ms, s->reply_ms);
}

/* Synopses and descriptions: help_entry().  help has no run: main()
 * answers it before connecting. */
static const struct command commands[] = {
    { "status", cmd_status, 0, -1, F_JSON, names_valid },
    { "start", cmd_start, 1, -1, F_WHY, names_valid },
    { "stop", cmd_stop, 1, -1, F_WHY, names_valid },
    { "restart", cmd_restart, 1, -1, F_WHY, names_valid },
    { "signal", cmd_signal, 2, -1, F_GROUP, signal_valid },
    { "wait", cmd_wait, 2, 2, 0, wait_valid },
    { "watch", cmd_watch, 0, 0, F_RAW, NULL },
    { "logs", cmd_logs, 0, 1, F_LOGS, logs_valid },
    { "dump", cmd_dump, 0, 0, 0, NULL },
    { "reload", cmd_reload, 0, 0, 0, NULL },
    { "shutdown", cmd_shutdown, 0, 1, F_FORCE, request_code_valid },
    { "reexec", cmd_reexec, 0, 1, 0, reexec_valid },
    { "send", cmd_send, 1, -1, 0, send_valid },
    { "help", NULL, 0, 1, 0, NULL },
};
#define NCOMMANDS (int)(sizeof commands / sizeof commands[0])

/* dpctl(1)'s COMMANDS in short (the block between BEGIN help and END
 * help): each command's synopsis at the margin, its description below,
 * indented by four.  --help lists the synopses, help COMMAND shows one
 * entry: the manual, --help and help COMMAND cannot say different things. */
static const char help_text[] =
#include "dpctl_help.h"
    ;

/* The entry of the command called name in help_text: *len bytes from the
 * return value (its synopsis line first), or NULL. */
static const char *help_entry(const char *name, size_t *len)
{
    size_t k = strlen(name);
    for (const char *p = help_text; *p; p = strchr(p, '\n') + 1) {
        if (*p == ' ' || strncmp(p, name, k) != 0 || (p[k] != ' ' && p[k] != '\n'))
            continue;
        const char *e = strchr(p, '\n') + 1;
        while (*e == ' ')
            e = strchr(e, '\n') + 1;
        *len = (size_t)(e - p);
        return p;
    }
    return NULL;
}

/* The length of the entry's first line: the synopsis. */
static int synopsis_len(const char *entry)
{
    return (int)(strchr(entry, '\n') - entry);
}

static void options_usage(FILE *out)
{
    fprintf(out,
        "Options:\n"
        "  -S, --socket PATH    the control socket (default: $DAEMONPROXY_SOCKET, else\n"
        "                       /run/daemonproxy.sock for root, else\n"
        "                       $XDG_RUNTIME_DIR/daemonproxy.sock, else\n"
        "                       /tmp/daemonproxy-UID/daemonproxy.sock)\n"
        "  -t, --timeout SECONDS\n"
        "                       how long to wait for an outcome (default 10)\n"
        "  --trust-uid USER     also talk to a daemonproxy run by USER (name or uid;\n"
        "                       default $DAEMONPROXY_TRUST_UID), not only root's or yours\n"
        "  -h, --help           this text; 'dpctl help COMMAND' for one command\n"
        "  -V, --version        the version\n"
        "\n"
        "Exit status: 0 done, 1 refused or did not happen, 2 usage, 3 no such\n"
        "service, 4 timeout, 5 cannot connect (or not daemonproxy, or not trusted),\n"
        "6 connection lost.  See dpctl(1).\n");
}

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: dpctl [-S PATH] [-t SECONDS] [--trust-uid USER] COMMAND [ARG...]\n"
        "\n"
        "Control a running daemonproxy through its control socket.\n"
        "\n"
        "Commands:\n");
    for (const char *p = help_text; *p; p = strchr(p, '\n') + 1)
        if (*p != ' ')
            fprintf(out, "  %.*s\n", synopsis_len(p), p);
    fprintf(out, "\nNAME: a service, a pattern ('web*': * ? [...]) or all (but the controllers).\n\n");
    options_usage(out);
}

/* help COMMAND, COMMAND --help: the command's entry, then the options. */
static void command_usage(const struct command *cmd)
{
    size_t len;
    const char *e = help_entry(cmd->name, &len);
    if (!e) {
        usage(stdout);
        return;
    }
    int n = synopsis_len(e);
    printf("Usage: dpctl [-S PATH] [-t SECONDS] [--trust-uid USER] %.*s\n\n", n, e);
    for (const char *p = e + n + 1; p < e + len; p = strchr(p, '\n') + 1)
        printf("%.*s\n", (int)(strchr(p, '\n') - p) - 4, p + 4);
    putchar('\n');
    options_usage(stdout);
}

__attribute__((format(printf, 1, 2)))
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("dpctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\ndpctl: try 'dpctl --help'\n", stderr);
    return DPCTL_USAGE;
}

static const struct command *find_command(const char *name)
{
    for (int i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* The uid --trust-uid or $DAEMONPROXY_TRUST_UID names (the option wins),
 * as a number or a user name; CONN_TRUST_NONE when neither is given. */
static int trusted_uid(const struct opts *o, uid_t *uid)
{
    const char *what = o->trust ? "--trust-uid" : "DAEMONPROXY_TRUST_UID";
    const char *v = o->trust ? o->trust : getenv("DAEMONPROXY_TRUST_UID");
    *uid = CONN_TRUST_NONE;
    if (!o->trust && (!v || !*v))
        return DPCTL_OK;
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (*v >= '0' && *v <= '9' && !*end) {
        if (errno || n >= (uid_t)-1)
            return usage_error("%s: uid %s is out of range", what, v);
        *uid = (uid_t)n;
        return DPCTL_OK;
    }
    struct passwd *pw = *v ? getpwnam(v) : NULL;
    if (!pw)
        return usage_error("%s: no such user '%s' (give a user name or a uid)", what, v);
    *uid = pw->pw_uid;
    return DPCTL_OK;
}

/* Parse one option at argv[*i]; returns 0, -1 (not an option), or an exit
 * code.  cmd is NULL before the command word. */
static int parse_option(struct opts *o, const struct command *cmd, int argc, char **argv, int *i)
{
    /* The options with a value: "-S PATH", "-SPATH", "--socket PATH",
     * "--socket=PATH"; the same for -t, -m and -n; --trust-uid, --since
     * and --dir have no short form. */
    static const struct { char shortname; const char *longname; } valued[] = {
        { 'S', "--socket" }, { 't', "--timeout" }, { 0, "--trust-uid" }, { 'm', "--why" },
        { 'n', "--lines" }, { 0, "--since" }, { 0, "--dir" },
    };
    const char *a = argv[*i];
    const char *val = NULL;
    int which = -1;
    if (a[0] != '-' || a[1] == '\0')
        return -1;
    for (int k = 0; k < (int)(sizeof valued / sizeof *valued) && which < 0; k++) {
        size_t n = strlen(valued[k].longname);
        which = k;
        if (!strcmp(a, valued[k].longname) || (a[1] == valued[k].shortname && !a[2])) {
            if (*i + 1 >= argc)
                return usage_error("option %s needs an argument", a);
            val = argv[++*i];
        } else if (!strncmp(a, valued[k].longname, n) && a[n] == '=') {
            val = a + n + 1;
        } else if (a[1] == valued[k].shortname) {
            val = a + 2;
        } else {
            which = -1;
        }
    }
    if (which == 0) {
        if (!*val)
            return usage_error("%s", "the socket path is empty");
        o->socket = val;
        return 0;
    }
    if (which == 2) {
        o->trust = val;     /* a name is looked up only when it is needed */
        return 0;
    }
    if (which == 3) {
        if (!cmd || !(cmd->flags & F_WHY))
            return usage_error("unknown option '%s'", a);
        bool ok = strlen(val) <= 255;
        for (const char *p = val; ok && *p; p++)
            ok = (unsigned char)*p >= 0x20 && *p != 0x7f;
        if (!ok)
            return usage_error("%s", "the reason (--why) is at most 255 bytes, without control "
                               "characters");
        o->why = val;
        return 0;
    }
    if (which >= 4 && (!cmd || !(cmd->flags & F_LOGS)))
        return usage_error("unknown option '%s'", a);
    if (which == 4) {
        char *end;
        errno = 0;
        long long n = strtoll(val, &end, 10);
        if (*val < '0' || *val > '9' || *end || errno || n > 1000000000000LL)
            return usage_error("invalid -n '%s' (a number of records)", val);
        o->logs.lines = n;
        return 0;
    }
    if (which == 5) {
        if (!logtext_since(val, (long long)time(NULL), &o->logs.since))
            return usage_error("invalid --since '%s' (2026-12-07T10:00:00Z or +01:00, "
                               "'YYYY-MM-DD[ HH:MM[:SS]]' local time, or 30s, 10m, 2h, 1d ago)",
                               val);
        o->logs.since_given = true;
        return 0;
    }
    if (which == 6) {
        if (!*val)
            return usage_error("%s", "the directory (--dir) is empty");
        o->dir = val;
        return 0;
    }
    if (which == 1) {
        char *end;
        double t = strtod(val, &end);
        if (!*val || *end || !(t >= 0 && t <= 1e6))     /* NaN fails too */
            return usage_error("invalid timeout '%s' (seconds, 0 to 1000000)", val);
        o->timeout_s = t;
        o->timeout_given = true;
        return 0;
    }
    int allowed = cmd ? cmd->flags : 0;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
        o->help = true;
    } else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
        if (cmd)
            return usage_error("unknown option '%s'", a);
        printf("dpctl %s\n", DP_VERSION);
        return -2;
    } else if (!strcmp(a, "--json") && (allowed & F_JSON)) {
        o->json = true;
    } else if (!strcmp(a, "--raw") && (allowed & F_RAW)) {
        o->raw = true;
    } else if (!strcmp(a, "--group") && (allowed & F_GROUP)) {
        o->group = true;
    } else if (!strcmp(a, "--cgroup") && (allowed & F_GROUP)) {
        o->cgroup = true;
    } else if (!strcmp(a, "--force") && (allowed & F_FORCE)) {
        o->force = true;
    } else if ((!strcmp(a, "-f") || !strcmp(a, "--follow")) && (allowed & F_LOGS)) {
        o->logs.follow = true;
    } else {
        return usage_error("unknown option '%s'", a);
    }
    return 0;
}

/* --- completion ------------------------------------------------------------ */

/* How long a completion may wait for the daemon's names: the user is
 * waiting at a prompt. */
#define COMPLETE_MS 1000

static void offer(const char *word, const char *cur)
{
    if (strncmp(word, cur, strlen(cur)) == 0)
        puts(word);
}

/* The names of the services (and "all" when all), from the socket:
 * silently none when it does not answer within COMPLETE_MS. */
static void offer_names(struct opts *o, const char *cur, bool all)
{
    static struct sess s;
    s.o = o;
    s.wait_ms = s.reply_ms = COMPLETE_MS;
    if (trusted_uid(o, &s.trust) || sess_connect(&s) || sync_state(&s))
        return;
    if (all)
        offer("all", cur);
    size_t n;
    struct svc **v = model_sorted(s.m, &n);
    for (size_t i = 0; v && i < n; i++)
        offer(v[i]->name, cur);
}

/* dpctl __complete WORD... CURRENT (the shell's words after "dpctl", the
 * last being the one typed): "files" when CURRENT is a path, else "words"
 * and the words CURRENT may become, one a line (completion/dpctl.bash
 * and completion/_dpctl).  Quiet, exit 0 whatever happens: a completion
 * never prints into the user's line. */
static int complete(int argc, char **argv)
{
    static const char *const options[] = { "--socket", "--timeout", "--trust-uid", "--help",
                                           "-S", "-t", "-h" };
    static const char *const signals[] = { "HUP", "INT", "QUIT", "KILL", "USR1", "USR2",
                                           "TERM", "CONT", "STOP", "TSTP", "WINCH" };
    if (!freopen("/dev/null", "w", stderr) || argc < 1)
        return DPCTL_OK;
    struct opts o = { .timeout_s = (double)COMPLETE_MS / 1000 };
    const struct command *cmd = NULL;
    const char *cur = argv[argc - 1];
    int nops = 0;
    bool literal = false;
    for (int i = 0; i < argc - 1; i++) {
        const char *a = argv[i];
        if (!literal && !strcmp(a, "--")) {
            literal = true;
            continue;
        }
        if (!literal && a[0] == '-' && a[1]) {
            bool path = !strcmp(a, "-S") || !strcmp(a, "--socket") || !strcmp(a, "--dir");
            if (i + 2 == argc && (path || !strcmp(a, "-t") || !strcmp(a, "--timeout") ||
                                  !strcmp(a, "--trust-uid") || !strcmp(a, "-m") ||
                                  !strcmp(a, "--why") || !strcmp(a, "-n") ||
                                  !strcmp(a, "--lines") || !strcmp(a, "--since"))) {
                puts(path ? "files" : "words");     /* the option's value */
                return DPCTL_OK;
            }
            if (strcmp(a, "-V") && strcmp(a, "--version"))   /* would print the version */
                parse_option(&o, cmd, argc - 1, argv, &i);
            continue;
        }
        if (!cmd) {
            if (!(cmd = find_command(a)))
                return DPCTL_OK;                    /* nothing to offer */
            continue;
        }
        nops++;
        if (cmd->run == cmd_send)                   /* fields from here on */
            literal = true;
    }
    bool path = cmd && cmd->run == cmd_reexec && nops == 0 && cur[0] != '-';
    puts(path ? "files" : "words");
    if (cur[0] == '-' && !literal) {
        for (size_t k = 0; k < sizeof options / sizeof *options; k++)
            offer(options[k], cur);
        if (!cmd)
            offer("--version", cur);
        int f = cmd ? cmd->flags : 0;
        if (f & F_JSON)
            offer("--json", cur);
        if (f & F_RAW)
            offer("--raw", cur);
        if (f & F_WHY)
            offer("--why", cur);
        if (f & F_GROUP) {
            offer("--group", cur);
            offer("--cgroup", cur);
        }
        if (f & F_FORCE)
            offer("--force", cur);
        if (f & F_LOGS) {
            static const char *const logs[] = { "--follow", "--lines", "--since", "--dir",
                                                "-f", "-n" };
            for (size_t k = 0; k < sizeof logs / sizeof *logs; k++)
                offer(logs[k], cur);
        }
    } else if (!cmd || (!cmd->run && nops == 0)) {
        for (int k = 0; k < NCOMMANDS; k++)
            offer(commands[k].name, cur);
    } else if (cmd->run == cmd_signal && nops == 0) {
        for (size_t k = 0; k < sizeof signals / sizeof *signals; k++)
            offer(signals[k], cur);
    } else if (cmd->run == cmd_wait && nops == 1) {
        offer("up", cur);
        offer("down", cur);
        offer("ready", cur);
    } else if (cmd->valid == names_valid || cmd->run == cmd_signal ||
               (cmd->run == cmd_wait && nops == 0)) {
        offer_names(&o, cur, true);
    } else if (cmd->run == cmd_logs && nops == 0 && !o.dir) {
        offer_names(&o, cur, false);
    }
    return DPCTL_OK;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "__complete") == 0)
        return complete(argc - 2, argv + 2);
    struct opts o = { .timeout_s = 10, .logs.lines = -1 };
    const struct command *cmd = NULL;
    /* Operands are gathered in argv itself: never ahead of the reading. */
    char **operands = argv;
    int nops = 0;
    bool literal = false;
    for (int i = 1; i < argc; i++) {
        /* After send's COMMAND word every word is a field, "-x" included. */
        if (!literal) {
            if (!strcmp(argv[i], "--")) {
                literal = true;
                continue;
            }
            int r = parse_option(&o, cmd, argc, argv, &i);
            if (r == -2)
                return DPCTL_OK;
            if (r > 0)
                return r;
            if (r == 0)
                continue;
        }
        if (!cmd) {
            cmd = find_command(argv[i]);
            if (!cmd)
                return usage_error("unknown command '%s'", argv[i]);
            continue;
        }
        operands[nops++] = argv[i];
        if (cmd->run == cmd_send)
            literal = true;
    }
    if (cmd && !cmd->run && !o.help) {          /* help [COMMAND] */
        if (nops > 1)
            return usage_error("usage: dpctl help [COMMAND]");
        cmd = NULL;
        if (nops == 1 && !(cmd = find_command(operands[0])))
            return usage_error("unknown command '%s'", operands[0]);
        o.help = true;
    }
    if (o.help) {
        if (cmd)
            command_usage(cmd);
        else
            usage(stdout);
        return DPCTL_OK;
    }
    if (o.group && o.cgroup)
        return usage_error("%s", "--group and --cgroup exclude each other");
    if (!cmd) {
        usage(stderr);
        return DPCTL_USAGE;
    }
    if (nops < cmd->min || (cmd->max >= 0 && nops > cmd->max)) {
        size_t len;
        const char *e = help_entry(cmd->name, &len);
        return usage_error("usage: dpctl %.*s", e ? synopsis_len(e) : (int)strlen(cmd->name),
                           e ? e : cmd->name);
    }
    if (cmd->valid && !cmd->valid(nops, operands))
        return DPCTL_USAGE;
    if ((cmd->flags & F_LOGS) && (o.dir != NULL) == (nops == 1))
        return usage_error("%s", "logs reads NAME's logs or --dir DIR: give one of them");

    /* A daemon that closes on us must be an error message, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    /* Static: what the session holds stays reachable until the exit,
     * which frees it (see below). */
    static struct sess s;
    s.o = &o;
    int rc = trusted_uid(&o, &s.trust);
    if (rc)
        return rc;
    s.wait_ms = (int64_t)(o.timeout_s * 1000 + 0.5);
    s.reply_ms = s.wait_ms > 5000 ? s.wait_ms : 5000;
    rc = o.dir ? DPCTL_OK : sess_connect(&s);     /* logs --dir reads files only */
    if (rc == DPCTL_OK)
        rc = cmd->run(&s, nops, operands);
    if (fflush(stdout) != 0 && rc == DPCTL_OK)
        rc = DPCTL_FAILED;
    /* No frees on the way out: the exit gives back every page and the
     * socket at once, where musl's free() unmapped the model's slabs one
     * by one (0.3 ms of dpctl status with 1,000 services). */
    return rc;
}
