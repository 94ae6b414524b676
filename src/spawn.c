/* spawn.c - child setup between clone and exec (see spawn.h).
 *
 * Everything here runs in the child while it shares the parent's memory:
 * only syscalls, no allocation, no stdio, no locks.  Results are passed
 * back through the request struct, which the parent reads after the
 * child has exec'd or exited.
 */
#include "spawn.h"
#include "signals.h"
#include "sys.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#endif
/* The 32-bit id calls where a 16-bit one has the plain name. */
#ifdef SYS_setresuid32
#define SYS_SETRESUID SYS_setresuid32
#define SYS_SETRESGID SYS_setresgid32
#define SYS_SETGROUPS SYS_setgroups32
#else
#define SYS_SETRESUID SYS_setresuid
#define SYS_SETRESGID SYS_setresgid
#define SYS_SETGROUPS SYS_setgroups
#endif

#define SPAWN_STACK (128 * 1024)
/* Low fd slots reserved for the fast path (see spawn_init). */
#define SPAWN_SLOTS 32
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif

/* One stack serves every spawn: the parent is suspended (CLONE_VFORK)
 * until the child no longer uses it. */
static char spawn_stack[SPAWN_STACK] SYS_LARGE_BSS;

static struct rlimit child_nofile;
static bool nofile_raised;

/* Fast path.  A plain clone copies daemonproxy's whole fd table (and the
 * child then closes it all), so with thousands of handles every spawn
 * would pay for all of them.  Instead the sources of a spawn are dup'd
 * into a few reserved low slots, the child is cloned sharing the table
 * (CLONE_FILES: no copy), and its first act is
 * close_range(top+1, ~0, CLOSE_RANGE_UNSHARE), which gives it a private
 * copy of only the fds below the slots' top. */
static int slots[SPAWN_SLOTS];
static int slot_top = -1;       /* highest slot fd, -1 = no fast path */
static int slot_filler = -1;    /* /dev/null: what a slot holds when idle */

void spawn_init(int nullfd)
{
    /* close_range with UNSHARE on a range above every fd is a no-op that
     * only tells whether the kernel supports it (Linux >= 5.9). */
    if (syscall(SYS_close_range, (unsigned)INT_MAX - 1, (unsigned)INT_MAX - 1,
                CLOSE_RANGE_UNSHARE) != 0)
        return;
    for (int i = 0; i < SPAWN_SLOTS; i++) {
        slots[i] = fcntl(nullfd, F_DUPFD_CLOEXEC, 3);
        if (slots[i] < 0) {
            while (i-- > 0)
                sys_close(slots[i]);
            return;
        }
        if (slots[i] > slot_top)
            slot_top = slots[i];
    }
    slot_filler = nullfd;
}

void spawn_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    child_nofile = rl;
    rl.rlim_cur = rl.rlim_max;
    /* prlimit, not setrlimit: musl's setrlimit carries a fallback for
     * kernels older than 2.6.36 that links its all-threads machinery
     * (__synccall, semaphores: 2 kB of a static build). */
    if (prlimit(0, RLIMIT_NOFILE, &rl, NULL) == 0)
        nofile_raised = true;
}

static const char *const stage_names[] = {
    [SPAWN_OK] = "spawn",
    [SPAWN_CGROUP] = "cgroup",
    [SPAWN_CLOSE_RANGE] = "close_range",
    [SPAWN_DUP] = "dup",
    [SPAWN_FCNTL] = "fcntl",
    [SPAWN_DUP2] = "dup2",
    [SPAWN_RLIMIT] = "setrlimit",
    [SPAWN_NICE] = "setpriority",
    [SPAWN_SETGROUPS] = "setgroups",
    [SPAWN_SETGID] = "setgid",
    [SPAWN_SETUID] = "setuid",
    [SPAWN_CHDIR] = "chdir",
    [SPAWN_CAPSET] = "capset",
    [SPAWN_AMBIENT] = "ambient",
    [SPAWN_NNP] = "no_new_privs",
    [SPAWN_EXEC] = "exec",
};
_Static_assert(sizeof stage_names / sizeof stage_names[0] == SPAWN_STAGE_COUNT,
               "a name for every spawn stage");

const char *spawn_stage_name(enum spawn_stage stage)
{
    return (unsigned)stage < SPAWN_STAGE_COUNT ? stage_names[stage] : "spawn";
}

/* What a forked child writes to report_fd when a step fails: plain
 * numbers, which mean the same on both sides of the pipe. */
struct spawn_report {
    int err;
    int stage;          /* enum spawn_stage */
};

static int fail(struct spawn_req *r, enum spawn_stage stage)
{
    r->err = errno;
    r->stage = stage;
    if (r->report_fd >= 0) {
        struct spawn_report rep = { .err = r->err, .stage = (int)stage };
        sys_write(r->report_fd, &rep, sizeof rep);  /* async-signal-safe (sys.h) */
    }
    _exit(127);
}

static void close_range_from(int lo, int hi)
{
    if (lo > hi)
        return;
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)lo, (unsigned)hi, 0) == 0)
        return;
#endif
    struct rlimit rl;
    long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
             ? (long)rl.rlim_cur : 65536;
    for (long fd = lo; fd < max && fd <= hi; fd++)
        close((int)fd);
}

/* Close every fd from lo up, except `keep` (the report pipe, or -1). */
static void close_from(int lo, int keep)
{
    if (keep >= lo) {
        close_range_from(lo, keep - 1);
        lo = keep + 1;
    }
    close_range_from(lo, INT_MAX);
}

/* Write pid in decimal into slot (20 bytes), NUL-terminated. */
static void put_pid(char *slot, pid_t pid)
{
    char tmp[20];
    int n = 0;
    unsigned long v = (unsigned long)pid;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < 19);
    while (n)
        *slot++ = tmp[--n];
    *slot = '\0';
}

/* The child's own fd table is a copy (no CLONE_FILES): clearing
 * close-on-exec here leaves daemonproxy's fds as they are. */
static void keep_inherited(struct spawn_req *r)
{
    for (size_t i = 0; i < r->ninherit; i++)
        if (r->inherit[i] >= r->nfds && fcntl(r->inherit[i], F_SETFD, 0) < 0)
            fail(r, SPAWN_FCNTL);
}

/* capset's arguments (linux/capability.h, version 3: two 32-bit words
 * per set), declared here to need no kernel header in a musl build. */
struct cap_header {
    uint32_t version;
    int pid;
};
struct cap_data {
    uint32_t effective, permitted, inheritable;
};
#define CAP_VERSION_3 0x20080522

/* The service's attributes (spawn.h), as root first: limits and nice
 * may need privileges the new user lacks.  Raw syscalls for the ids:
 * libc's set*id wrappers signal every thread to change them all (musl
 * always; glibc when threaded), machinery that has no place in a child
 * that shares daemonproxy's memory. */
static void apply_attr(struct spawn_req *r, const struct spawn_attr *a)
{
    for (int i = 0; i < a->nlimits; i++) {
        struct rlimit rl = { (rlim_t)a->limits[i].cur, (rlim_t)a->limits[i].max };
        if (prlimit(0, a->limits[i].resource, &rl, NULL) != 0)
            fail(r, SPAWN_RLIMIT);
    }
    if ((a->flags & SPAWN_A_NICE) && setpriority(PRIO_PROCESS, 0, a->nice) != 0)
        fail(r, SPAWN_NICE);
    if (a->flags & SPAWN_A_UMASK)
        umask(a->umask);
    if ((a->flags & SPAWN_A_GROUPS) &&
        syscall(SYS_SETGROUPS, (size_t)a->ngroups, a->groups) != 0)
        fail(r, SPAWN_SETGROUPS);
    if ((a->flags & SPAWN_A_GID) && syscall(SYS_SETRESGID, a->gid, a->gid, a->gid) != 0)
        fail(r, SPAWN_SETGID);
    bool caps = a->flags & SPAWN_A_CAPS;
    if (a->flags & SPAWN_A_UID) {
        /* A change from root clears the permitted set, unless kept. */
        if (caps && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
            fail(r, SPAWN_CAPSET);
        if (syscall(SYS_SETRESUID, a->uid, a->uid, a->uid) != 0)
            fail(r, SPAWN_SETUID);
    }
    if (a->cwd && chdir(a->cwd) != 0)
        fail(r, SPAWN_CHDIR);
    if (caps) {
        /* Exactly these, in every set; the ambient set carries them over
         * the exec of a program without file capabilities. */
        struct cap_header h = { CAP_VERSION_3, 0 };
        uint32_t lo = (uint32_t)a->caps, hi = (uint32_t)(a->caps >> 32);
        struct cap_data d[2] = { { lo, lo, lo }, { hi, hi, hi } };
        if (syscall(SYS_capset, &h, d) != 0)
            fail(r, SPAWN_CAPSET);
        for (int c = 0; c < 64; c++)
            if ((a->caps >> c & 1) &&
                prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (unsigned long)c, 0, 0) != 0)
                fail(r, SPAWN_AMBIENT);
    }
    if ((a->flags & SPAWN_A_NNP) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        fail(r, SPAWN_NNP);
}

static int child_main(void *arg)
{
    struct spawn_req *r = arg;
    /* Into the service's cgroup first, so that nothing it does escapes it
     * (writing uses the fd table, it does not change it). */
    if (r->cgroup_fd >= 0 && write(r->cgroup_fd, "0", 1) != 1)
        fail(r, SPAWN_CGROUP);
    /* Fast path: stop sharing the parent's fd table before touching it. */
    if (r->shared_files &&
        syscall(SYS_close_range, (unsigned)r->unshare_from, ~0U, CLOSE_RANGE_UNSHARE) != 0) {
        r->err = errno;
        r->stage = SPAWN_CLOSE_RANGE;
        _exit(127);
    }
    /* Default dispositions for what the parent handles or ignores (exec
     * would reset handlers, but not before a fault in this window; inherited
     * ignores were reset at start-up), then an empty mask: the parent
     * blocked all signals around clone. */
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    sigaction(SIGPIPE, &dfl, NULL);
    for (int k = 0, s; (s = sig_fatal_nth(k)) != 0; k++)
        sigaction(s, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setsid();

    int n = r->nfds;
    if (r->report_fd >= 0 && r->report_fd < n) {
        int moved = fcntl(r->report_fd, F_DUPFD_CLOEXEC, n);
        if (moved < 0)
            _exit(127);     /* nothing to report through */
        r->report_fd = moved;
    }
    int src[SPAWN_FDS_MAX];
    for (int i = 0; i < n; i++)
        src[i] = r->fds[i];
    /* Move sources that sit inside the target range out of the way, so
     * placing fd i never clobbers a source still needed for fd j > i. */
    for (int i = 0; i < n; i++) {
        if (src[i] < 0 || src[i] >= n || src[i] == i)
            continue;
        int moved = fcntl(src[i], F_DUPFD_CLOEXEC, n);
        if (moved < 0)
            fail(r, SPAWN_DUP);
        int old = src[i];
        for (int j = i; j < n; j++)
            if (src[j] == old)
                src[j] = moved;
    }
    for (int i = 0; i < n; i++) {
        if (src[i] < 0) {
            close(i);
        } else if (src[i] == i) {
            if (fcntl(i, F_SETFD, 0) < 0)
                fail(r, SPAWN_FCNTL);
        } else if (dup2(src[i], i) < 0) {
            fail(r, SPAWN_DUP2);
        }
    }
    if (r->ninherit)
        keep_inherited(r);
    else
        close_from(n, r->report_fd);
    /* A service gets the limit daemonproxy was started with; the re-exec
     * check is daemonproxy, holding as many fds as it does. */
    if (nofile_raised && !r->ninherit)
        prlimit(0, RLIMIT_NOFILE, &child_nofile, NULL);
    if (r->attr)
        apply_attr(r, r->attr);
    if (r->pid_slot)
        put_pid(r->pid_slot, (pid_t)syscall(SYS_getpid));
    execvpe(r->argv[0], r->argv, r->envp ? r->envp : environ);
    return fail(r, SPAWN_EXEC);
}

static pid_t spawn_start_plain(struct spawn_req *r)
{
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t pid = clone(child_main, spawn_stack + sizeof spawn_stack,
                      CLONE_VM | CLONE_VFORK | SIGCHLD, r);
    int e = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    errno = e;
    return pid;
}

/* The fork path (see spawn.h): the parent learns of a failed step from
 * the pipe, which exec closes. */
static pid_t spawn_start_fork(struct spawn_req *r)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        p[0] = p[1] = -1;   /* out of fds: start it; a failed exec is exit 127 */
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    /* clone without CLONE_VM is a fork (valgrind takes it as one), and
     * keeps libc's fork machinery out of the static build.  The child
     * works on its own copy of the request. */
    r->report_fd = p[1];
    pid_t pid = clone(child_main, spawn_stack + sizeof spawn_stack, SIGCHLD, r);
    int e = errno;
    r->report_fd = -1;
    sigprocmask(SIG_SETMASK, &old, NULL);
    sys_close(p[1]);
    if (pid > 0 && p[0] >= 0) {
        struct spawn_report rep;
        if (sys_read(p[0], &rep, sizeof rep) == (ssize_t)sizeof rep) {
            r->err = rep.err;
            r->stage = rep.stage > SPAWN_OK && rep.stage < SPAWN_STAGE_COUNT
                     ? (enum spawn_stage)rep.stage : SPAWN_EXEC;
        }
    }
    sys_close(p[0]);
    errno = e;
    return pid;
}

/* Valgrind puts its preload objects into LD_PRELOAD.  (A plain scan: strstr
 * would add a kilobyte to the static binary for this one test.) */
static bool under_valgrind(void)
{
    static const char tag[] = "/vgpreload_";
    const char *p = getenv("LD_PRELOAD");
    for (; p && *p; p++)
        if (strncmp(p, tag, sizeof tag - 1) == 0)
            return true;
    return false;
}

pid_t spawn_start(struct spawn_req *r)
{
    static int use_fork = -1;
    r->err = 0;
    r->stage = SPAWN_OK;
    r->report_fd = -1;
    if (r->nfds > SPAWN_FDS_MAX) {
        errno = EMFILE;
        return -1;
    }
    if (use_fork < 0)
        use_fork = under_valgrind();
    if (use_fork)
        return spawn_start_fork(r);
    /* Fast path when the sources fit the slots: the child then sees them
     * at slots[i] instead of fds[i]. */
    const int *orig = r->fds;
    int moved[SPAWN_SLOTS];
    r->shared_files = slot_top >= 0 && r->nfds <= SPAWN_SLOTS && !r->ninherit;
    if (r->shared_files) {
        for (int i = 0; i < r->nfds; i++) {
            moved[i] = -1;
            if (orig[i] >= 0 && dup3(orig[i], slots[i], O_CLOEXEC) >= 0)
                moved[i] = slots[i];
            else if (orig[i] >= 0)
                r->shared_files = false;
        }
        r->fds = moved;
        r->unshare_from = slot_top + 1;
    }
    int flags = CLONE_VM | CLONE_VFORK | SIGCHLD | (r->shared_files ? CLONE_FILES : 0);
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t pid = r->fds == moved && !r->shared_files ? -2 : 0;
    if (pid == 0)
        pid = clone(child_main, spawn_stack + sizeof spawn_stack, flags, r);
    int e = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (r->fds == moved) {
        /* Drop the slots' references to the sources again. */
        for (int i = 0; i < r->nfds; i++)
            if (moved[i] >= 0)
                dup3(slot_filler, slots[i], O_CLOEXEC);
        r->fds = orig;
        if (pid == -2) {
            /* A dup into a slot failed: take the ordinary path. */
            r->shared_files = false;
            return spawn_start_plain(r);
        }
    }
    errno = e;
    return pid;
}

static pid_t watched_pid;
static void (*watched_fn)(int status);

void spawn_watch_exit(pid_t pid, void (*fn)(int status))
{
    watched_pid = pid;
    watched_fn = fn;
}

pid_t spawn_reap(int *status)
{
    for (;;) {
        pid_t pid = sys_waitpid(-1, status, WNOHANG);
        if (pid <= 0)
            return 0;
        if (pid != watched_pid)
            return pid;
        void (*fn)(int) = watched_fn;
        spawn_watch_exit(0, NULL);
        fn(*status);
    }
}

pid_t spawn_fork(void)
{
    return fork();
}

int spawn_exec_self(const char *path, char *const *argv)
{
    execve(path, argv, environ);
    return -1;
}

void spawn_nofile_get(unsigned long long *cur, unsigned long long *max)
{
    struct rlimit rl = child_nofile;
    if (!nofile_raised)
        getrlimit(RLIMIT_NOFILE, &rl);
    *cur = (unsigned long long)rl.rlim_cur;
    *max = (unsigned long long)rl.rlim_max;
}

void spawn_nofile_set(unsigned long long cur, unsigned long long max)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || (cur == rl.rlim_cur && max == rl.rlim_max))
        return;
    child_nofile.rlim_cur = (rlim_t)cur;
    child_nofile.rlim_max = (rlim_t)max;
    nofile_raised = true;
}

void spawn_collect(pid_t pid, int *status)
{
    sys_waitpid(pid, status, 0);
}
