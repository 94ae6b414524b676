/* world.c - the daemon's modules as a fuzz target finds them, shared by
 * the targets that run daemonproxy's own code in-process (fuzz_commands.c,
 * fuzz_restore.c): set up once inside the sandbox, reset to the state
 * after start-up between inputs, and the fd-leak check.
 */
#include "fuzz.h"
#include "../../src/cmd.h"
#include "../../src/controller.h"
#include "../../src/ctlsock.h"
#include "../../src/event.h"
#include "../../src/handle.h"
#include "../../src/links.h"
#include "../../src/log.h"
#include "../../src/loop.h"
#include "../../src/pidfile.h"
#include "../../src/sdnotify.h"
#include "../../src/request.h"
#include "../../src/service.h"
#include "../../src/shutdown.h"
#include "../../src/signals.h"
#include "../../src/spawn.h"
#include "../../src/svcctl.h"
#include "../../src/term.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static char cwd[PATH_MAX];
static int nullfd = -1;

/* The open fds, from /proc/self/fd read through a directory fd kept open
 * (two syscalls): compared before and after every input. */
static int fd_dir = -1;

int fuzz_fd_list(int *out)
{
    int n = 0;
    char buf[16384];
    if (lseek(fd_dir, 0, SEEK_SET) < 0)
        abort();
    long got;
    while ((got = syscall(SYS_getdents64, fd_dir, buf, sizeof buf)) > 0) {
        for (long off = 0; off < got;) {
            struct dirent64 *e = (struct dirent64 *)(buf + off);
            off += e->d_reclen;
            if (e->d_name[0] < '0' || e->d_name[0] > '9')
                continue;
            int fd = atoi(e->d_name);
            if (fd != fd_dir && n < FUZZ_FDS_MAX)
                out[n++] = fd;
        }
    }
    return n;
}

void fuzz_check_fds(const int *before, int nbefore)
{
    static int after[FUZZ_FDS_MAX];
    int nafter = fuzz_fd_list(after);
    bool leak = false;
    for (int i = 0; i < nafter; i++) {
        bool known = false;
        for (int j = 0; j < nbefore && !known; j++)
            known = before[j] == after[i];
        if (known)
            continue;
        char link[64], what[PATH_MAX] = "?";
        snprintf(link, sizeof link, "/proc/self/fd/%d", after[i]);
        ssize_t len = readlink(link, what, sizeof what - 1);
        what[len > 0 ? len : 1] = '\0';
        fprintf(stderr, "fuzz: fd %d leaked (%s)\n", after[i], what);
        leak = true;
    }
    if (leak || nafter != nbefore)
        abort();
}

int fuzz_nullfd(void) { return nullfd; }

static void add_std(const char *name)
{
    const char *err;
    int fd = fcntl(nullfd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0 || !handle_set(name, fd, HANDLE_SPECIAL, "read,write", "/dev/null", &err))
        abort();
}

/* Every object an input made goes: services (their fake children exit and
 * are reaped first), handles but the constants, the control socket,
 * controllers. */
/* The pid of a running service, from its statedump line (a restored one
 * has a pid the spawn stub never made). */
static pid_t running_pid(const struct service *s)
{
    static char buf[1 << 16];
    if (svc_state(s) != SVC_UP)
        return 0;
    size_t n = svc_format_dump(s, buf, sizeof buf - 1);
    if (n == 0 || n >= sizeof buf)
        return 0;
    buf[n] = '\0';
    /* service.state NAME up TS PID ... */
    const char *p = buf;
    for (int i = 0; i < 4 && p; i++)
        if ((p = strchr(p, '\t')))
            p++;
    return p ? (pid_t)atoi(p) : 0;
}

static void tear_down(void)
{
    struct service *s;
    char name[PATH_MAX] = "";
    for (s = svc_next_after(""); s; s = svc_next_after(name)) {
        snprintf(name, sizeof name, "%s", svc_name(s));
        const char *err;
        svc_set_auto_up(s, -1, 0, &err);
        pid_t pid = running_pid(s);
        if (pid > 0)
            fuzz_spawn_adopt(pid);
    }
    fuzz_spawn_exit_all();
    svc_reap();
    while ((s = svc_next_after(""))) {
        const char *err;
        if (!svc_delete(s, &err))
            abort();    /* still running after its child was reaped */
    }
    fuzz_spawn_reset();

    struct handle *h;
    name[0] = '\0';
    while ((h = handle_next_after(name))) {
        snprintf(name, sizeof name, "%s", handle_name(h));
        handle_delete(h);   /* refuses the constants */
    }
    ctlsock_delete();
    ctl_close_all();
}

/* What reset and clear both put back. */
static void settings_reset(void)
{
    shutdown_reset();
    req_reset();
    for (int i = 0, sig; (sig = sig_control_nth(i)) != 0; i++)
        sig_clear(sig, INT64_MAX);
    term_guard_clear();
    term_set_exec(0, NULL);
    log_set_filter(LOG_FILTER_DEFAULT);
    sdnotify_init(NULL);
    pidfile_adopt(NULL);
    if (chdir(cwd) < 0)
        abort();
    /* Deferred frees (closed controllers) run as loop tasks. */
    for (int i = 0; i < 4; i++)
        loop_poll(0);
}

void fuzz_world_reset(void)
{
    tear_down();
    /* A log.dest holds a private copy of its handle's fd: hold the log
     * again, as at start, and keep a log.dest naming a std handle from
     * following it while it is re-added. */
    log_set_fd(-1);
    handle_set_watch_cb(NULL);
    /* Last, so that they get the same fd numbers every time. */
    add_std("stdin");
    add_std("stdout");
    add_std("stderr");
    handle_set_watch_cb(log_follow_changed);
    settings_reset();
}

void fuzz_world_clear(void (*then)(void))
{
    tear_down();
    handle_drop_all();
    svc_drop_pool();
    log_set_fd(-1);
    if (then)
        then();
    settings_reset();
}

void fuzz_world_start_handles(void)
{
    if (handle_init(true, true, true, -1) < 0)
        abort();
    nullfd = handle_fd(handle_by_name("null"));
    spawn_init(nullfd);
    fuzz_world_reset();
}

/* Copy the directory part of path into d ("." if there is none). */
static const char *dir_part(char *d, const char *path)
{
    snprintf(d, PATH_MAX, "%s", path);
    char *slash = strrchr(d, '/');
    if (!slash)
        snprintf(d, PATH_MAX, ".");
    else
        slash[slash == d] = '\0';     /* "/x" -> "/" */
    return d;
}

/* Paths libFuzzer reads or writes after this call, from its arguments: the
 * corpus directories or input files, the artifact prefix's directory and
 * the dictionary; and the directory of $LLVM_PROFILE_FILE, where a
 * source-coverage build writes at exit.  Everything else stays outside the
 * sandbox. */
static int fuzzer_paths(int argc, char **argv, const char **paths, int max)
{
    static char dirs[4][PATH_MAX];
    int n = 0, ndirs = 0;
    for (int i = 1; i < argc && n < max; i++) {
        const char *a = argv[i], *v;
        if (a[0] != '-')
            paths[n++] = a;
        else if ((v = strchr(a, '=')) && strncmp(a, "-dict=", 6) == 0)
            paths[n++] = v + 1;
        else if (v && ndirs < 3 && (strncmp(a, "-artifact_prefix=", 17) == 0 ||
                                    strncmp(a, "-exact_artifact_path=", 21) == 0))
            paths[n++] = dir_part(dirs[ndirs++], v + 1);
    }
    const char *prof = getenv("LLVM_PROFILE_FILE");
    if (prof && n < max)
        paths[n++] = dir_part(dirs[ndirs++], prof);
    return n;
}

void fuzz_world_init(int argc, char **argv, void (*exit_hook)(int code))
{
    const char *paths[64];
    int n = fuzzer_paths(argc, argv, paths, 64);
    if (!getcwd(cwd, sizeof cwd))
        abort();
    fuzz_sandbox_enter(paths, n);
    umask(077);
    /* As sig_init() does; the rest of it (blocking the control signals)
     * would take SIGINT and SIGALRM from libFuzzer. */
    signal(SIGPIPE, SIG_IGN);
    term_set_atexit(exit_hook);
    log_set_fd(-1);     /* held and counted; a log.dest may name a handle */
    spawn_raise_nofile();
    links_set();
    if (loop_init() < 0)
        abort();
    fd_dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_dir < 0)
        abort();
}
