/* shutdown.c - the shutdown command's work and the SIGTERM fail-safe (see
 * shutdown.h).  Glue: it knows the services, the controllers, the request
 * table and the exit path; nothing below calls it (links.c hands its two
 * entry points to the signal and service outlets).
 */
#include "shutdown.h"
#include "cgroup.h"
#include "controller.h"
#include "fmt.h"
#include "log.h"
#include "loop.h"
#include "request.h"
#include "service.h"
#include "signals.h"
#include "state.h"
#include "sys.h"
#include "term.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int64_t failsafe_s = SHUTDOWN_FAILSAFE_DEFAULT;
static bool active;
static int exit_code;
static char asked_by[300];
/* Process groups the services led when the shutdown began: a member may
 * outlive its leader, and gets SIGKILL with the rest. */
static pid_t *groups;
static size_t ngroups;
static bool killed;             /* SIGKILL was sent */
static bool timers_reserved;

static void kill_cb(loop_timer *t);
static void failsafe_cb(loop_timer *t);
static void check_cb(void *ctx);
static loop_timer kill_t = LOOP_TIMER_INIT(kill_cb);
static loop_timer failsafe_t = LOOP_TIMER_INIT(failsafe_cb);
static loop_task check_task = LOOP_TASK_INIT(check_cb, NULL);
static int64_t seen[2];         /* SIGTERM, SIGINT counts last seen */

bool shutdown_active(void) { return active; }
void shutdown_set_failsafe(int64_t seconds) { failsafe_s = seconds; }

/* Arm t at when ms; without room in the heap, act at once instead. */
static void arm(loop_timer *t, int64_t when)
{
    if (!timers_reserved)
        timers_reserved = loop_timer_reserve(2);
    if (!loop_timer_at(t, when))
        t->fn(t);
}

/* Signal one service: its cgroup, else its group, else its pid. */
static bool signal_one(struct service *s, void *ctx)
{
    int signo = *(int *)ctx;
    const char *err;
    if (cgroup_enabled() && svc_signal(s, signo, SVC_SIG_CGROUP, &err))
        return true;
    if (svc_state(s) != SVC_UP)
        return true;
    if (!svc_signal(s, signo, SVC_SIG_GROUP, &err))
        svc_signal(s, signo, SVC_SIG_PID, &err);
    return true;
}

static bool note_group(struct service *s, void *ctx)
{
    pid_t pid = svc_pid(s);
    size_t *cap = ctx;
    if (pid <= 0 || getpgid(pid) != pid)
        return true;
    if (ngroups == *cap) {
        size_t n = *cap ? *cap * 2 : 16;
        pid_t *g = realloc(groups, n * sizeof *g);
        if (!g)
            return false;       /* their leaders still get signals */
        groups = g;
        *cap = n;
    }
    groups[ngroups++] = pid;
    return true;
}

static bool count_up(struct service *s, void *ctx)
{
    *(size_t *)ctx += svc_state(s) == SVC_UP;
    return true;
}

static size_t services_up(void)
{
    size_t n = 0;
    svc_each_after("", count_up, &n);
    return n;
}

/* SIGKILL to every direct child daemonproxy has (the services, and what
 * their ended processes left to this subreaper), from /proc. */
static void kill_children(void)
{
    char path[64], buf[4096];
    fmt_snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    int fd = sys_open(path, O_RDONLY, 0);
    if (fd < 0)
        return;
    ssize_t n = sys_read(fd, buf, sizeof buf - 1);
    sys_close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    for (char *p = buf, *end; *p; p = end) {
        long pid = strtol(p, &end, 10);
        if (end == p)
            break;
        if (pid > 1)
            kill((pid_t)pid, SIGKILL);
    }
}

/* True if daemonproxy has no child left, exited or not. */
static bool no_children(void)
{
    siginfo_t si;
    int e = errno;
    int r = waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT);
    bool none = r < 0 && errno == ECHILD;
    errno = e;
    return none;
}

static void check_cb(void *ctx)
{
    if (!active || services_up() > 0 || !no_children())
        return;
    term_exit_asked(exit_code, asked_by);
}

void shutdown_progress(void)
{
    if (active)
        loop_task_queue(&check_task);
}

static void kill_cb(loop_timer *t)
{
    if (killed) {
        log_warn("shutdown: %zu services still running and child processes left %d s "
                 "after SIGKILL; exiting anyway", services_up(), SHUTDOWN_KILL_WAIT);
        term_exit_asked(exit_code, asked_by);
    }
    killed = true;
    log_info("shutdown: SIGKILL to what is left (%zu services running)", services_up());
    int signo = SIGKILL;
    svc_each_after("", signal_one, &signo);
    for (size_t i = 0; i < ngroups; i++)
        kill(-groups[i], SIGKILL);
    kill_children();
    arm(&kill_t, loop_now_update() + 1000 * SHUTDOWN_KILL_WAIT);
    loop_task_queue(&check_task);
}

void shutdown_begin(int code, int64_t grace_s, const char *who)
{
    int64_t when = loop_now_update() + 1000 * grace_s;
    if (active) {
        if (!killed && when < loop_timer_when(&kill_t)) {
            log_info("shutdown: SIGKILL after %lld s now, as asked by %s", (long long)grace_s,
                     who);
            arm(&kill_t, when);
        }
        return;
    }
    active = true;
    exit_code = code;
    fmt_snprintf(asked_by, sizeof asked_by, "%s", who);
    loop_timer_cancel(&failsafe_t);
    svc_stop_starts();
    size_t cap = 0;
    svc_each_after("", note_group, &cap);
    log_info("shutdown: stopping %zu running services (SIGTERM, SIGKILL after %lld s), "
             "as asked by %s", services_up(), (long long)grace_s, who);
    int signo = SIGTERM;
    svc_each_after("", signal_one, &signo);
    arm(&kill_t, when);
    loop_task_queue(&check_task);
}

/* --- the fail-safe ------------------------------------------------------------ */

static void failsafe_cb(loop_timer *t)
{
    if (active)
        return;
    if (ctl_live_exists(req_serves)) {
        log_info("SIGTERM fail-safe: a controller is live now; the signal is left to it");
        return;
    }
    shutdown_begin(0, SHUTDOWN_GRACE_DEFAULT, "the SIGTERM fail-safe (no live controller)");
}

void shutdown_signal(int signo)
{
    int i = signo == SIGTERM ? 0 : signo == SIGINT ? 1 : -1;
    if (i < 0)
        return;
    int64_t n = sig_count(signo);
    bool more = n > seen[i];
    seen[i] = n;
    if (!more || active || failsafe_s < 0 || loop_timer_armed(&failsafe_t) ||
        ctl_live_exists(req_serves))
        return;
    if (term_guarded() && !term_exec_set()) {
        log_warn("%s and no live controller, but the exit guard is set and there are no "
                 "exec-on-exit args: not shutting down", sig_name(signo));
        return;
    }
    log_info("%s and no live controller: shutting down in %lld s unless one appears",
             sig_name(signo), (long long)failsafe_s);
    arm(&failsafe_t, loop_now_update() + 1000 * failsafe_s);
}

void shutdown_restored(void)
{
    seen[0] = sig_count(SIGTERM);
    seen[1] = sig_count(SIGINT);
}

void shutdown_reset(void)
{
    active = killed = false;
    loop_timer_cancel(&kill_t);
    loop_timer_cancel(&failsafe_t);
    loop_task_cancel(&check_task);
    free(groups);
    groups = NULL;
    ngroups = 0;
    seen[0] = seen[1] = 0;
    failsafe_s = SHUTDOWN_FAILSAFE_DEFAULT;
    svc_starts_on();
}

/* --- re-exec ------------------------------------------------------------------ */

/* Written only when it says something: a state from before has none. */
struct shutdown_rec {
    struct state_val failsafe, failsafe_at;
};

static const struct state_def shutdown_defs[] = {
    STATE_INT(struct shutdown_rec, failsafe, -1, 3600, SHUTDOWN_FAILSAFE_DEFAULT),
    STATE_INT(struct shutdown_rec, failsafe_at, 0, INT64_MAX, 0),
};
STATE_RECORD(shutdown_record, "shutdown", struct shutdown_rec, shutdown_defs, 2, 0);

void shutdown_save(struct state_out *o)
{
    bool waiting = loop_timer_armed(&failsafe_t);
    if (failsafe_s == SHUTDOWN_FAILSAFE_DEFAULT && !waiting)
        return;
    struct shutdown_rec r = {
        .failsafe.i = failsafe_s,
        .failsafe_at.i = waiting ? loop_timer_when(&failsafe_t) : 0,
    };
    state_write(o, &shutdown_record, &r);
}

bool shutdown_restore(const struct state_rec *r, const char **err)
{
    struct shutdown_rec rec;
    if (!state_read(r, &shutdown_record, &rec, err))
        return false;
    failsafe_s = rec.failsafe.i;
    if (rec.failsafe_at.i)
        arm(&failsafe_t, rec.failsafe_at.i);
    return true;
}
