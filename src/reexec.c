/* reexec.c - replacing daemonproxy with a new binary of itself (see
 * reexec.h).  Each module saves and restores its own records; this file
 * orders them, runs the check, does the exec and dispatches the records
 * back.
 */
#include "reexec.h"
#include "controller.h"
#include "ctlsock.h"
#include "event.h"
#include "fmt.h"
#include "handle.h"
#include "log.h"
#include "loop.h"
#include "pidfile.h"
#include "protocol.h"
#include "request.h"
#include "sdnotify.h"
#include "service.h"
#include "shutdown.h"
#include "signals.h"
#include "spawn.h"
#include "state.h"
#include "svcctl.h"
#include "sys.h"
#include "term.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef DP_VERSION
#define DP_VERSION "0.0.0"
#endif

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)    /* Linux 5.11; musl's headers lack it */
#endif

/* How long the new binary has to answer --state-check. */
#define CHECK_TIMEOUT_MS 10000
/* Bytes of its answer that are looked at. */
#define CHECK_OUT_MAX 128

static struct reexec_settings settings;
static char self_path[PATH_MAX] SYS_LARGE_BSS;

/* The re-exec in progress: the check, then the exec. */
/* The new binary (apart from chk: an initialised struct is written out
 * whole, zeros included, in the static binary's .data). */
static char chk_path[PATH_MAX] SYS_LARGE_BSS;
static struct {
    bool busy;
    pid_t pid;
    int out_fd;                 /* the check's stdout, until EOF */
    bool exited, timed_out;
    int status;
    size_t out_len;
    char out[CHECK_OUT_MAX + 1];
} chk = { .out_fd = -1 };
static loop_watch chk_watch;
static loop_timer chk_timer;
static loop_task exec_task;

/* --- the old process ------------------------------------------------------- */

void reexec_init(const struct reexec_settings *s)
{
    settings = *s;
    settings.cgroup = s->cgroup ? strdup(s->cgroup) : NULL;
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    self_path[n > 0 ? n : 0] = '\0';
    /* Replaced on disk (an upgrade renames the new file over the old):
     * the path is where the new binary is. */
    static const char deleted[] = " (deleted)";
    size_t len = strlen(self_path), dl = sizeof deleted - 1;
    if (len > dl && strcmp(self_path + len - dl, deleted) == 0)
        self_path[len - dl] = '\0';
}

/* Tell every controller (and the log) why the re-exec did not happen. */
__attribute__((format(printf, 1, 2)))
static void fail(const char *fmt, ...)
{
    char msg[PATH_MAX + 200];
    va_list ap;
    va_start(ap, fmt);
    fmt_vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_error("reexec: %s", msg);
    struct proto_line l;
    proto_line_begin(&l, "error");
    proto_line_addf(&l, "reexec: %s", msg);
    size_t n = proto_line_end(&l);
    event_emit(l.buf, n);
}

static void check_done(void);

static void stop_reading(void)
{
    if (chk.out_fd < 0)
        return;
    loop_watch_del(&chk_watch);
    sys_close(chk.out_fd);
    chk.out_fd = -1;
}

static void check_readable(void *ctx, uint32_t ev)
{
    char buf[512];
    ssize_t n = sys_read(chk.out_fd, buf, sizeof buf);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n > 0) {
        size_t take = (size_t)n < CHECK_OUT_MAX - chk.out_len ? (size_t)n : CHECK_OUT_MAX - chk.out_len;
        memcpy(chk.out + chk.out_len, buf, take);
        chk.out_len += take;
    } else {
        stop_reading();
    }
    check_done();
}

static void check_exited(int status)
{
    chk.exited = true;
    chk.status = status;
    check_done();
}

static void check_timeout(loop_timer *t)
{
    chk.timed_out = true;
    /* Its output is no longer awaited (a process it left behind may hold
     * the pipe open forever); its exit finishes the attempt. */
    stop_reading();
    if (chk.exited)
        check_done();
    else
        kill(chk.pid, SIGKILL);
}

/* The check is over once the child has exited and its output ended, or
 * holds its line (a process the check left behind may keep the pipe
 * open; its answer is complete anyway). */
static void check_done(void)
{
    if (!chk.exited || (chk.out_fd >= 0 && !memchr(chk.out, '\n', chk.out_len)))
        return;
    stop_reading();
    loop_timer_cancel(&chk_timer);
    char want[64];
    fmt_snprintf(want, sizeof want, "daemonproxy-state %d ok\n", STATE_VERSION);
    chk.out[chk.out_len] = '\0';
    if (chk.timed_out) {
        fail("%s did not answer --state-check within %d s; not replaced", chk_path,
             CHECK_TIMEOUT_MS / 1000);
    } else if (!WIFEXITED(chk.status) || WEXITSTATUS(chk.status) != 0 ||
               strcmp(chk.out, want) != 0) {
        char *nl = strchr(chk.out, '\n');
        if (nl)
            *nl = '\0';
        for (char *p = chk.out; *p; p++)
            if ((unsigned char)*p < 0x20)
                *p = '?';
        char how[40];
        if (WIFEXITED(chk.status))
            fmt_snprintf(how, sizeof how, "exit %d", WEXITSTATUS(chk.status));
        else
            fmt_snprintf(how, sizeof how, "signal %s", sig_name(WTERMSIG(chk.status)));
        fail("%s does not restore state version %d (%s: %s); not replaced", chk_path,
             STATE_VERSION, how, chk.out[0] ? chk.out : "no answer");
    } else {
        loop_task_queue(&exec_task);
        return;
    }
    chk.busy = false;
}

/* The settings: the binary, the options a new process must run with, the
 * open-files limit and the pidfile. */
struct reexec_rec {
    struct state_val path, version, cgroup, mlockall, daemonized, sdnotify, nofile_cur,
        nofile_max, pidfile;
};

static const struct state_def reexec_defs[] = {
    STATE_STR(struct reexec_rec, path, PATH_MAX - 1),
    STATE_STR(struct reexec_rec, version, STATE_ANY),
    STATE_STR(struct reexec_rec, cgroup, STATE_ANY),
    STATE_INT(struct reexec_rec, mlockall, 0, 1, 0),
    STATE_INT(struct reexec_rec, daemonized, 0, 1, 0),
    STATE_STR(struct reexec_rec, sdnotify, STATE_ANY),
    STATE_INT(struct reexec_rec, nofile_cur, 0, INT64_MAX, 0),
    STATE_INT(struct reexec_rec, nofile_max, 0, INT64_MAX, 0),
    STATE_STR(struct reexec_rec, pidfile, STATE_ANY),
};
STATE_RECORD(reexec_record, "reexec", struct reexec_rec, reexec_defs, 1, 0);

/* The records, in the order they are restored: settings first, handles
 * before what names them, services before controllers, controllers
 * before the services' links to them. */
static void save_all(struct state_out *o)
{
    state_rec(o, STATE_MAGIC);
    state_int(o, STATE_VERSION);
    state_end(o);
    unsigned long long cur, max;
    spawn_nofile_get(&cur, &max);
    struct reexec_rec rec = {
        .path.s = chk_path, .version.s = DP_VERSION, .cgroup.s = settings.cgroup,
        .mlockall.i = settings.mlockall, .daemonized.i = settings.daemonized,
        .sdnotify.s = sdnotify_value(), .nofile_cur.i = (int64_t)cur,
        .nofile_max.i = (int64_t)max, .pidfile.s = pidfile_path(),
    };
    state_write(o, &reexec_record, &rec);
    handle_save(o);
    log_save(o);
    log_dest_save(o);
    sig_save(o);
    svc_save(o);
    ctlsock_save(o);
    ctl_save(o);
    svcctl_save(o);
    req_save(o);
    shutdown_save(o);
    state_rec(o, "end");
    state_end(o);
}

/* Clear (keep) or set back close-on-exec on the fds the state names: one
 * system call per fd, which is most of the cost of a re-exec with many
 * handles.  Every fd daemonproxy opens above 2 is close-on-exec (and 0 to
 * 2 never are), so nothing needs to be read first. */
static void keep_fds(const struct state_out *o, bool keep)
{
    for (size_t i = 0; i < o->nfds; i++)
        if (o->fds[i] > 2)
            fcntl(o->fds[i], F_SETFD, keep ? 0 : FD_CLOEXEC);
}

/* The state as it is now, in a close-on-exec memfd at offset 0 (o keeps
 * the list of fds it names).  -1 with a reason in err. */
static int state_memfd(struct state_out *o, char *err, size_t errlen)
{
    save_all(o);
    if (!state_out_ok(o)) {
        fmt_snprintf(err, errlen, "out of memory");
        return -1;
    }
    int mfd = memfd_create("daemonproxy-state", MFD_CLOEXEC);
    if (mfd < 0 || !sys_write_all(mfd, o->buf, o->len) || lseek(mfd, 0, SEEK_SET) != 0) {
        fmt_snprintf(err, errlen, "cannot write the state: %s", sys_strerror(errno));
        sys_close(mfd);
        return -1;
    }
    return mfd;
}

static void do_exec(void *ctx)
{
    log_info("re-executing %s", chk_path);
    struct state_out o;
    state_out_init(&o);
    char why[200];
    int mfd = state_memfd(&o, why, sizeof why);
    char *exec_tsv = term_exec_tsv();
    if (mfd < 0 || !exec_tsv) {
        fail("%s; not replaced", mfd < 0 ? why : "out of memory");
        goto out;
    }
    char fdarg[32], guard[32];
    fmt_snprintf(fdarg, sizeof fdarg, "--restore=%d", mfd);
    char *argv[8];
    int n = 0;
    argv[n++] = chk_path;
    argv[n++] = fdarg;
    if (settings.container)
        argv[n++] = "--container";
    int64_t code;
    if (term_guard_code(&code)) {
        fmt_snprintf(guard, sizeof guard, "--exit-guard=%lld", (long long)code);
        argv[n++] = guard;
    }
    if (*exec_tsv) {
        argv[n++] = "-E";
        argv[n++] = exec_tsv;
    }
    argv[n] = NULL;
    keep_fds(&o, true);
    sys_set_cloexec(mfd, false);
    spawn_exec_self(chk_path, argv);
    int e = errno;
    keep_fds(&o, false);
    fail("exec %s: %s; not replaced", chk_path, sys_strerror(e));
out:
    sys_close(mfd);
    free(exec_tsv);
    state_out_free(&o);
    chk.busy = false;
}

/* Start `chk_path --state-check=VERSION --restore=FD` with the state as it
 * is now and every fd it names at its own number: the new binary restores
 * the real state, as the re-exec would, and answers on the pipe that
 * becomes chk.out_fd.  Returns its pid, or -1 with a reason in err. */
static pid_t spawn_check(char *err, size_t errlen)
{
    struct state_out o;
    state_out_init(&o);
    int p[2] = { -1, -1 };
    int *keep = NULL;
    pid_t pid = -1;
    int mfd = state_memfd(&o, err, errlen);
    if (mfd < 0)
        goto out;
    if (!(keep = malloc((o.nfds + 1) * sizeof *keep))) {
        fmt_snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (pipe2(p, O_CLOEXEC) < 0) {
        fmt_snprintf(err, errlen, "pipe: %s", sys_strerror(errno));
        goto out;
    }
    memcpy(keep, o.fds, o.nfds * sizeof *keep);
    keep[o.nfds] = mfd;
    char vers[32], fdarg[32];
    fmt_snprintf(vers, sizeof vers, "--state-check=%d", STATE_VERSION);
    fmt_snprintf(fdarg, sizeof fdarg, "--restore=%d", mfd);
    char *argv[] = { chk_path, vers, fdarg, NULL };
    int nullfd = handle_fd(handle_by_name("null"));
    int fds[3] = { nullfd, p[1], nullfd };
    struct spawn_req r = { .argv = argv, .fds = fds, .nfds = 3, .cgroup_fd = -1,
                           .inherit = keep, .ninherit = o.nfds + 1 };
    pid = spawn_start(&r);
    int e = errno;
    if (pid > 0 && r.err) {
        int status;
        spawn_collect(pid, &status);
        e = r.err;
        pid = -1;
    }
    if (pid < 0) {
        fmt_snprintf(err, errlen, "cannot run %s --state-check: %s", chk_path, sys_strerror(e));
        goto out;
    }
    chk.out_fd = p[0];
    p[0] = -1;
    sys_set_nonblock(chk.out_fd, true);
out:
    sys_close(p[0]);
    sys_close(p[1]);
    sys_close(mfd);
    free(keep);
    state_out_free(&o);
    return pid;
}

/* Whether path can be the new binary: false with the reason in err. */
static bool binary_usable(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (!*path)
        fmt_snprintf(err, errlen, "no binary to run (cannot tell daemonproxy's own)");
    else if (strlen(path) >= sizeof chk_path)
        fmt_snprintf(err, errlen, "path too long");
    else if (stat(path, &st) < 0 || access(path, X_OK) < 0)
        fmt_snprintf(err, errlen, "%s: %s", path, sys_strerror(errno));
    else if (!S_ISREG(st.st_mode))
        fmt_snprintf(err, errlen, "%s: not a regular file", path);
    else
        return true;
    return false;
}

/* The check of chk_path runs as pid: its answer, its exit and its
 * deadline are awaited from the loop. */
static void check_await(pid_t pid)
{
    chk.busy = true;
    chk.pid = pid;
    chk.exited = chk.timed_out = false;
    chk.out_len = 0;
    loop_task_init(&exec_task, do_exec, NULL);
    loop_timer_init(&chk_timer, check_timeout);
    loop_watch_init(&chk_watch, chk.out_fd, check_readable, NULL);
    loop_watch_set(&chk_watch, LOOP_IN);
    loop_timer_at(&chk_timer, loop_now_update() + CHECK_TIMEOUT_MS);
    spawn_watch_exit(pid, check_exited);
}

bool reexec_request(const char *path, char *err, size_t errlen)
{
    if (chk.busy) {
        fmt_snprintf(err, errlen, "a re-exec is already in progress");
        return false;
    }
    if (!path)
        path = self_path;
    if (!binary_usable(path, err, errlen))
        return false;
    memcpy(chk_path, path, strlen(path) + 1);
    pid_t pid = spawn_check(err, errlen);
    if (pid < 0)
        return false;
    check_await(pid);
    log_info("reexec: checking %s", path);
    return true;
}

int reexec_check(const char *version, const char *unusable)
{
    int64_t v;
    bool ok = sys_parse_int(version, 0, INT32_MAX, &v) && state_version_ok(v);
    if (!ok)
        sys_dprintf(1, "daemonproxy-state %s unsupported (this binary restores versions %d to %d)\n",
                    version, STATE_VERSION_MIN, STATE_VERSION);
    else if (unusable)
        sys_dprintf(1, "daemonproxy-state %lld unusable: %s\n", (long long)v, unusable);
    else
        sys_dprintf(1, "daemonproxy-state %lld ok\n", (long long)v);
    return ok && !unusable ? 0 : 1;
}

/* --- the new process --------------------------------------------------------- */

static char *state_buf;

static void set_cloexec(int fd, void *ctx)
{
    sys_set_cloexec(fd, true);
}

static void mark_cloexec(void)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) == 0)
        return;
#endif
    sys_each_fd(3, set_cloexec, NULL);     /* before Linux 5.11: one by one */
}
static size_t state_len;       /* of the mapping, or 0: malloc'd */
static struct state_in state;
static char restored_path[PATH_MAX] SYS_LARGE_BSS;

/* Done with the state, restored or not (a failure's message is static
 * text, never a pointer into it). */
static void drop_state(void)
{
    if (state_len)
        munmap(state_buf, state_len);
    else
        free(state_buf);
    state_buf = NULL;
    state_len = 0;
}

/* err, said of the record read last. */
static const char *at_line(const char *err)
{
    static char msg[256];
    fmt_snprintf(msg, sizeof msg, "state line %u: %s", state.line, err);
    return msg;
}

bool reexec_load(int fd, struct reexec_settings *s, const char **err)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size <= 0 || (uint64_t)st.st_size > SIZE_MAX / 2) {
        *err = "the state fd is not a readable file";
        sys_close(fd);
        return false;
    }
    size_t len = (size_t)st.st_size, got = 0;
    /* Mapped shared: the pages the old process wrote are read where they
     * are, not copied (the decoding writes into them; they are ours). */
    state_len = len;
    state_buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (state_buf != MAP_FAILED) {
        got = len;
    } else if ((state_buf = malloc(len)) == NULL) {
        *err = "out of memory reading the state";
        sys_close(fd);
        return false;
    } else {
        state_len = 0;
        while (got < len) {
            ssize_t n = pread(fd, state_buf + got, len - got, (off_t)got);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
    }
    sys_close(fd);
    /* Every fd the old process kept is ours again: close-on-exec, as
     * every fd daemonproxy holds (0 to 2 excepted), in one call. */
    mark_cloexec();
    int version;
    struct state_rec r;
    if (got != len || !state_in_init(&state, state_buf, len, &version, err)) {
        drop_state();
        return *err = got != len ? "cannot read the state" : *err, false;
    }
    struct reexec_rec rec;
    int res = state_next(&state, &r, err);
    if (res == 0 || (res == 1 && strcmp(r.tag, "reexec") != 0))
        *err = "no reexec record";
    if (res != 1 || strcmp(r.tag, "reexec") != 0 || !state_read(&r, &reexec_record, &rec, err)) {
        *err = at_line(*err);
        drop_state();
        return false;
    }
    memcpy(restored_path, rec.path.s, rec.path.len + 1);
    memset(s, 0, sizeof *s);
    s->cgroup = rec.cgroup.len ? strdup(rec.cgroup.s) : NULL;
    s->mlockall = rec.mlockall.i;
    s->daemonized = rec.daemonized.i;
    sdnotify_init(rec.sdnotify.s);
    spawn_nofile_set((unsigned long long)rec.nofile_cur.i, (unsigned long long)rec.nofile_max.i);
    if (rec.pidfile.len)
        pidfile_adopt(rec.pidfile.s);
    return true;
}

typedef bool (*restore_fn)(const struct state_rec *r, const char **err);

static bool restore_ctl(const struct state_rec *r, const char **err);
static reexec_ctl_fn ctl_hook;

static const struct {
    const char *tag;
    restore_fn fn;
} restorers[] = {
    { "handle", handle_restore },
    { "handle.pool", handle_restore },
    { "log", log_restore },
    { "log.dest", log_dest_restore },
    { "signal", sig_restore },
    { "service", svc_restore },
    { "service.pool", svc_restore },
    { "service.ready", svc_restore },
    { "service.fdstore", svc_restore },
    { "service.mainpid", svc_restore },
    { "ctlsock", ctlsock_restore },
    { "ctl", restore_ctl },
    { "ctl.next_id", restore_ctl },
    { "svcctl", svcctl_restore },
    { "req.next_id", req_restore },
    { "req.serve", req_restore },
    { "req.pending", req_restore },
    { "shutdown", shutdown_restore },
};

static bool restore_ctl(const struct state_rec *r, const char **err)
{
    struct ctl *c = ctl_restore(r, err);
    if (!c)
        return *err == NULL;
    if (ctl_kind(c) == CTL_CONFIG || ctl_kind(c) == CTL_INTERACTIVE)
        ctl_hook(c);
    return true;
}

bool reexec_restore(reexec_ctl_fn on_ctl, const char **err)
{
    ctl_hook = on_ctl;
    struct state_rec r;
    int res;
    while ((res = state_next(&state, &r, err)) == 1) {
        size_t i;
        for (i = 0; i < sizeof restorers / sizeof *restorers; i++)
            if (strcmp(restorers[i].tag, r.tag) == 0)
                break;
        const char *why = "unknown record";
        if (i == sizeof restorers / sizeof *restorers || !restorers[i].fn(&r, &why)) {
            *err = at_line(why);
            break;
        }
    }
    if (res < 0)
        *err = at_line(*err);
    shutdown_restored();
    /* Verified also after a failure, which keeps its own message: the
     * check forgets the fds named so far. */
    bool ok = res == 0;
    const char *verr;
    if (!state_fds_verify(&verr) && ok) {
        *err = verr;
        ok = false;
    }
    drop_state();
    if (!ok)
        return false;
    memcpy(chk_path, restored_path, sizeof restored_path);
    struct proto_line l;
    proto_line_begin(&l, "reexec");
    proto_line_add(&l, DP_VERSION);
    proto_line_add(&l, restored_path);
    size_t n = proto_line_end(&l);
    event_emit(l.buf, n);
    log_info("re-executed %s (version %s)", restored_path, DP_VERSION);
    return true;
}

void reexec_save(struct state_out *o)
{
    save_all(o);
}
