/* main.c - start-up order, the loop, and the decisions about exiting.
 *
 * Start-up order matters: inherited fds are registered as handles before
 * daemonproxy opens anything of its own, the config file and control
 * socket are opened before --daemonize forks (so their failures reach the
 * caller as exit codes), and the loop only starts once everything exists.
 */
#include "cgroup.h"
#include "cmd.h"
#include "controller.h"
#include "ctlsock.h"
#include "event.h"
#include "fmt.h"
#include "handle.h"
#include "links.h"
#include "log.h"
#include "loop.h"
#include "options.h"
#include "pidfile.h"
#include "reexec.h"
#include "sdnotify.h"
#include "service.h"
#include "shutdown.h"
#include "signals.h"
#include "sockpath.h"
#include "spawn.h"
#include "svcctl.h"
#include "sys.h"
#include "term.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef DP_VERSION
#define DP_VERSION "0.0.0"
#endif
#ifndef DP_BUILD_TS
#define DP_BUILD_TS "unknown"
#endif
#ifndef DP_GIT_HEAD
#define DP_GIT_HEAD "unknown"
#endif

#define DEFAULT_PID1_CONFIG "/etc/daemonproxy.conf"

/* Start-up failed: "daemonproxy: MSG" and hint on stderr for whoever
 * started us, then term_exit(code, MSG): the log, exec-on-exit's
 * DAEMONPROXY_ERROR, and -D's waiting parent. */
__attribute__((noreturn))
static void fail(int code, const char *msg, const char *hint)
{
    sys_dprintf(2, "daemonproxy: %s\n%s", msg, hint);
    term_exit(code, msg);
}

__attribute__((noreturn, format(printf, 2, 3)))
static void die(int code, const char *fmt, ...)
{
    char msg[PATH_MAX + 300];
    va_list ap;
    va_start(ap, fmt);
    fmt_vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fail(code, msg, "");
}

/* A wrong command line (EXIT_BADOPT): also where to read about it. */
__attribute__((noreturn))
static void die_usage(const char *msg)
{
    fail(EXIT_BADOPT, msg, "Try 'daemonproxy --help'.\n");
}

static void print_version(void)
{
    sys_dprintf(1, "daemonproxy version %s\n"
                "build timestamp: %s\n"
                "git HEAD: %s\n"
                "Copyright (C) 2014-2026 Michael Conrad and the daemonproxy developers\n"
                "This is free software; see the LICENSE file in the source distribution\n"
                "for copying conditions.  There is NO warranty.\n",
                DP_VERSION, DP_BUILD_TS, DP_GIT_HEAD);
}

static void interactive_closed(void *owner, struct ctl *c)
{
    if (term_guarded()) {
        log_info("end of interactive input; exit guard set, continuing");
        return;
    }
    term_exit(EXIT_NORMAL, "end of interactive input");
}

/* --daemonize: the write end of the pipe on which the child tells the
 * waiting parent how its start-up went (one byte: 0 = ready, else the
 * exit code), so that a failure still reaches the caller as an exit code. */
static int daemon_fd = -1;

static void daemon_report(int code)
{
    if (daemon_fd < 0)
        return;
    unsigned char b = (unsigned char)code;
    if (sys_write(daemon_fd, &b, 1) < 0)
        log_errno(LOG_WARN, "daemonize: report to parent");
    sys_close(daemon_fd);
    daemon_fd = -1;
}

static void daemonize_begin(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        die(EXIT_ENV, "daemonize: pipe: %s", sys_strerror(errno));
    pid_t pid = spawn_fork();
    if (pid < 0)
        die(EXIT_ENV, "daemonize: fork: %s", sys_strerror(errno));
    if (pid > 0) {
        sys_close(p[1]);
        unsigned char code = EXIT_ENV;
        ssize_t n = sys_read(p[0], &code, 1);
        if (n == 1 && code == 0) {
            sys_dprintf(1, "%d\n", (int)pid);
            _exit(0);
        }
        _exit(n == 1 ? code : EXIT_ENV);
    }
    sys_close(p[0]);
    daemon_fd = p[1];
    setsid();
}

/* The child is set up: release the parent, leave the caller's terminal or
 * pipes alone, and hold the log until a log.dest names a handle. */
static void daemonize_done(void)
{
    daemon_report(0);
    int nullfd = handle_fd(handle_by_name("null"));
    for (int fd = 0; fd <= 2; fd++)
        dup2(nullfd, fd);
    log_set_fd(-1);
}

static bool exiting;             /* term_exit has begun */
static bool daemonized;          /* -D: this is the child that carries on */

/* Last words before exit or exec-on-exit. */
static void before_exit(int code)
{
    exiting = true;
    daemon_report(code ? code : EXIT_ENV);
    ctl_flush_all();
    svc_log_running();
    /* Exec-on-exit may be a new daemonproxy taking over, with our pid:
     * the service is not stopping then, and its pidfile stays. */
    if (!term_exec_set()) {
        sdnotify_send("STOPPING=1\nSTATUS=daemonproxy exiting\n");
        pidfile_remove();
    }
}

/* Start-up is complete (the config file executed, the control socket
 * listening): tell the service manager, so that systemd's Type=notify
 * counts daemonproxy as started only now.  With -D it learns the pid of
 * the process that carries on (the one it started has exited). */
static void manager_ready(const char *status)
{
    char msg[256];
    int n = fmt_snprintf(msg, sizeof msg, "READY=1\nSTATUS=%s\n", status);
    if (daemonized && n > 0 && (size_t)n < sizeof msg)
        fmt_snprintf(msg + n, sizeof msg - (size_t)n, "MAINPID=%d\n", (int)getpid());
    sdnotify_send(msg);
}

static void config_done(void *owner, struct ctl *c)
{
    if (!exiting)
        manager_ready("config file executed");
}

/* --pidfile: the pid of the process that carries on (after -D's fork).
 * A failure exits 3, reaching -D's waiting parent if it has not been
 * released yet. */
static void write_pidfile(const char *path)
{
    const char *e;
    if (!pidfile_write(path, &e))
        die(EXIT_ENV, "cannot write pidfile %s: %s: %s", path, e, sys_strerror(errno));
}

/* A service's double-forked children come back to us, not to init:
 * nothing escapes supervision (PID 1 gets them anyway). */
static void become_subreaper(bool pid1)
{
    if (!pid1 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        log_errno(LOG_WARN, "cannot become a child subreaper");
}

/* The modules' links and the event loop, the same at start and after a
 * re-exec.  False (errno set) when there is no loop. */
static bool start_loop(void)
{
    links_set();
    return loop_init() == 0 && sig_init(svc_reap) == 0;
}

/* The last steps, the same at start and after a re-exec: memory locked,
 * the settings a later re-exec hands on kept; then the loop, for good. */
__attribute__((noreturn))
static void run(const struct reexec_settings *s)
{
    if (s->mlockall && mlockall(MCL_CURRENT | MCL_FUTURE) < 0)
        log_errno(LOG_WARN, "mlockall");
    reexec_init(s);
    while (loop_run_once() == 0)
        ;
    /* epoll_wait fails only with EBADF, EFAULT or EINVAL: the program's
     * state is broken, and waiting again would spin.  Like a fatal
     * signal: exit code 4, or exec-on-exit. */
    log_errno(LOG_FATAL, "event loop: epoll_wait");
    term_exit(EXIT_BROKEN, "event loop failed");
}

/* --- re-exec: the new process (reexec.h) ------------------------------------ */

/* The controllers main owns get their callbacks back. */
static void restored_ctl(struct ctl *c)
{
    if (ctl_kind(c) == CTL_INTERACTIVE)
        ctl_set_closed_cb(c, interactive_closed, NULL);
    else
        ctl_set_closed_cb(c, config_done, NULL);
}

/* A state that cannot be restored is fatal: starting empty would lose
 * every service silently.  As PID 1 this is the fatal path: exec-on-exit
 * (passed as an option, so known before the state is read). */
__attribute__((noreturn))
static void restore_failed(const char *msg)
{
    log_msg(LOG_FATAL, "re-exec: %s", msg);
    die(EXIT_BROKEN, "re-exec: %s", msg);
}

/* Every module from the state in --restore's fd, as main() sets them up at
 * start: nothing is opened or created, all of it exists.  *s gets the
 * settings to run with.  False with the reason in msg. */
static bool restore_modules(const struct options *o, struct reexec_settings *s, char *msg,
                            size_t len)
{
    const char *err;
    if (!reexec_load(o->restore_fd, s, &err))
        return fmt_snprintf(msg, len, "cannot load the state: %s", err), false;
    s->container = o->container;
    if (!start_loop())
        return fmt_snprintf(msg, len, "cannot set up the event loop: %s",
                        sys_strerror(errno)), false;
    if (s->cgroup && !cgroup_init(s->cgroup, &err))
        return fmt_snprintf(msg, len, "%s: %s", s->cgroup, err), false;
    if (!reexec_restore(restored_ctl, &err))
        return fmt_snprintf(msg, len, "cannot restore the state: %s", err), false;
    return true;
}

/* The new process of a re-exec. */
static void restore(const struct options *o, bool pid1, struct reexec_settings *s)
{
    char msg[300];
    if (o->exit_guard_set)
        term_guard_set(o->exit_guard);
    become_subreaper(pid1);
    if (!restore_modules(o, s, msg, sizeof msg))
        restore_failed(msg);
    daemonized = s->daemonized;
    spawn_init(handle_fd(handle_by_name("null")));
    /* Children that exited and cgroups that emptied while the exec
     * happened are reported now, after the reexec event. */
    svc_reap();
    cgroup_recheck_all();
}

/* --state-check=VERSION, and with --restore=FD the real state, with the
 * real fds: restored here exactly as the re-exec would restore it, then
 * dropped.  _exit: nothing restored may be flushed or written (a
 * controller's pending output, the log) by this process. */
__attribute__((noreturn))
static void state_check(const struct options *o)
{
    struct reexec_settings s;
    char msg[300];
    const char *unusable = NULL;
    if (o->restore_fd >= 0 && !restore_modules(o, &s, msg, sizeof msg))
        unusable = msg;
    _exit(reexec_check(o->state_check, unusable));
}

/* --default-socket: the path dpctl finds without being told (sockpath.h),
 * in a fallback directory only this user can have made. */
static void resolve_default_socket(struct options *o)
{
    static char path[sizeof ((struct sockaddr_un *)0)->sun_path];
    char msg[sizeof path + 200];
    if (!o->default_socket)
        return;
    if (o->socket_path)
        die(EXIT_BADOPT, "--socket and --default-socket exclude each other");
    enum sockpath_result r = sockpath_for_daemon(path, sizeof path, msg, sizeof msg);
    if (r != SOCKPATH_OK)
        die(r == SOCKPATH_TOO_LONG ? EXIT_BADOPT : EXIT_ENV, "%s", msg);
    o->socket_path = path;
}

/* --- start-up: options -> inputs -> loop ------------------------------------ */

/* What daemonproxy's own environment says is for daemonproxy alone; and
 * the exit paths, before anything can fail. */
static void take_environment(void)
{
    umask(077);
    /* These tell daemonproxy itself about its manager (systemd) and its
     * inherited sockets (registered as fd_N handles below); a service's are
     * its own (service.opts), never these.  Only sdnotify keeps the
     * manager's address. */
    sdnotify_init(getenv("NOTIFY_SOCKET"));
    unsetenv("NOTIFY_SOCKET");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDNAMES");
    term_init_fatal();
    term_set_atexit(before_exit);
}

/* argv into *o; --help and --version answered here. */
static void read_options(int argc, char **argv, bool pid1, struct options *o)
{
    char err[256];
    enum opt_result r = opt_parse(argc, argv, o, err, sizeof err);
    if (o->exit_exec && !term_set_exec_tsv(o->exit_exec))
        sys_dprintf(2, "daemonproxy: cannot store --exit-exec args\n");
    /* PID 1 of a container may simply exit: that ends the container, as
     * its manager expects, so there is no implicit guard. */
    term_set_pid1(pid1 && !(r == OPT_OK && o->container));
    if (r != OPT_OK)
        die_usage(err);
    if (o->help) {
        sys_write_all(1, opt_usage(), strlen(opt_usage()));
        term_exit(EXIT_HELP, "help requested");
    }
    if (o->version) {
        print_version();
        term_exit(EXIT_HELP, "version requested");
    }
}

/* The options of a fresh start that depend on each other or on the
 * system, settled before anything is opened. */
static void settle_options(struct options *o, bool pid1)
{
    resolve_default_socket(o);
    if (!o->interactive && !o->config && !o->socket_path) {
        if (!pid1)
            die_usage("one of --interactive, --config, --socket or --default-socket is required");
        o->config = DEFAULT_PID1_CONFIG;
    }
    log_set_filter(LOG_FILTER_DEFAULT - o->verbosity);
    if (o->exit_guard_set)
        term_guard_set(o->exit_guard);
    if (o->failsafe_set)
        shutdown_set_failsafe(o->failsafe);
    if (o->socket_group && !ctlsock_allow_group(o->socket_group))
        die(EXIT_BADOPT, "unknown group '%s' for --socket-group", o->socket_group);
    become_subreaper(pid1);
    if (o->daemonize && (pid1 || o->interactive)) {
        log_warn("--daemonize ignored %s", pid1 ? "when running as PID 1" : "with --interactive");
        o->daemonize = false;
    }
}

static bool config_is_stdin(const struct options *o)
{
    return o->config && strcmp(o->config, "-") == 0;
}

/* The process itself: its pools, -D's fork, the start-time handles (before
 * daemonproxy opens anything of its own), the log, spawning, the loop and
 * the cgroup. */
static void set_up_process(const struct options *o)
{
    /* Preallocate before registering the start-time handles. */
    if (o->fd_pool_set)
        handle_pool(o->fd_pool_count, o->fd_pool_size);
    if (o->svc_pool_set)
        svc_pool(o->svc_pool_count, o->svc_pool_size);
    bool cfg_stdin = config_is_stdin(o);
    if (o->daemonize)
        daemonize_begin();
    if (handle_init(o->interactive || cfg_stdin || o->daemonize,
                    o->interactive || o->daemonize, o->daemonize, daemon_fd) < 0)
        die(EXIT_ENV, "cannot open /dev/null: %s", sys_strerror(errno));
    log_init();
    spawn_raise_nofile();
    spawn_init(handle_fd(handle_by_name("null")));
    if (!start_loop()) {
        log_errno(LOG_FATAL, "cannot set up the event loop");
        term_exit(EXIT_ENV, "cannot set up the event loop");
    }
    const char *e;
    if (o->cgroup && !cgroup_init(o->cgroup, &e))
        die(EXIT_ENV, "--cgroup %s: %s: %s", o->cgroup, e, sys_strerror(errno));
}

/* -c FILE: its controller, or NULL (none, or it cannot be opened under an
 * exit guard: logged). */
static struct ctl *open_config(const struct options *o)
{
    if (!o->config)
        return NULL;
    bool cfg_stdin = config_is_stdin(o);
    int fd = cfg_stdin ? sys_private_nonblock(0, false) : sys_open(o->config, O_RDONLY, 0);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        sys_close(fd);
        fd = -1;
        errno = EISDIR;
    }
    struct ctl *config = fd < 0 ? NULL : ctl_new(CTL_CONFIG, fd, -1);
    if (!config) {
        char msg[PATH_MAX + 100];
        fmt_snprintf(msg, sizeof msg, "cannot open config file %s: %s", o->config,
                 sys_strerror(errno));
        if (!term_guarded())
            die(EXIT_ENV, "%s", msg);
        log_error("%s", msg);
        return NULL;
    }
    ctl_set_file(config, cfg_stdin ? "<stdin>" : o->config);  /* errors as FILE:LINE */
    return config;
}

/* Where commands come from: the config file (its controller returned), the
 * interactive controller, the control socket. */
static struct ctl *open_inputs(const struct options *o)
{
    struct ctl *config = open_config(o);
    if (o->interactive) {
        int in = sys_private_nonblock(0, false), out = sys_private_nonblock(1, true);
        struct ctl *c = (in < 0 || out < 0) ? NULL : ctl_new(CTL_INTERACTIVE, in, out);
        if (!c) {
            log_errno(LOG_FATAL, "cannot set up interactive controller");
            term_exit(EXIT_ENV, "cannot set up interactive controller");
        }
        ctl_set_closed_cb(c, interactive_closed, NULL);
    }
    if (o->interactive || config_is_stdin(o)) {
        /* The controller owns private copies; the process's own stdin (and
         * stdout with -i) no longer point at the controller's streams. */
        struct handle *nul = handle_by_name("null");
        dup2(handle_fd(nul), 0);
        if (o->interactive)
            dup2(handle_fd(nul), 1);
    }
    const char *e;
    if (o->socket_path && ctlsock_create(o->socket_path, &e) < 0)
        die(EXIT_ENV, "cannot create control socket %s: %s: %s", o->socket_path, e,
            sys_strerror(errno));
    return config;
}

/* Everything exists: the pidfile, -D's parent released, the service
 * manager told (now, or once the config file is executed). */
static void announce(const struct options *o, struct ctl *config)
{
    if (o->pidfile)
        write_pidfile(o->pidfile);  /* after -D's fork, before daemonize_done() */
    if (o->daemonize) {
        /* Before the parent exits: systemd (NotifyAccess=all) must know
         * the process to follow by then. */
        daemonized = true;
        if (sdnotify_enabled()) {
            char msg[32];
            fmt_snprintf(msg, sizeof msg, "MAINPID=%d\n", (int)getpid());
            sdnotify_send(msg);
        }
        daemonize_done();
    }
    if (config)
        ctl_set_closed_cb(config, config_done, NULL);
    else
        manager_ready("started");
}

int main(int argc, char **argv)
{
    bool pid1 = getpid() == 1;
    struct options o;
    take_environment();
    read_options(argc, argv, pid1, &o);
    if (o.state_check)
        state_check(&o);    /* an answer, not a daemon */
    if (o.restore_fd >= 0) {
        struct reexec_settings s;
        restore(&o, pid1, &s);
        run(&s);
    }
    settle_options(&o, pid1);
    set_up_process(&o);
    struct ctl *config = open_inputs(&o);
    announce(&o, config);
    run(&(struct reexec_settings){
        .cgroup = o.cgroup, .mlockall = o.mlockall, .container = o.container,
        .daemonized = daemonized,
    });
}
