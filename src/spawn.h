/* spawn.h - create a service's process.
 *
 * The child is made with clone(CLONE_VM|CLONE_VFORK) on a private stack,
 * like posix_spawn: no page tables are copied, so the cost of a spawn does
 * not grow with daemonproxy's memory, and the parent resumes only once the
 * child has exec'd or failed, which lets an exec failure be reported
 * synchronously.  Between clone and exec the child only makes
 * async-signal-safe syscalls.
 *
 * Under valgrind, which cannot run such a clone, children are made with a
 * fork-like clone (no CLONE_VM) instead and report a failed step through a
 * close-on-exec pipe. *
 * Fds (the rule everywhere): a function never takes ownership of an fd it
 * is given unless its comment says it takes it; one that takes an fd owns
 * it from the call on and closes it itself, also when it fails.
 * Nothing here takes one: the child gets copies.
 */
#ifndef SPAWN_H
#define SPAWN_H

#include <stdint.h>
#include <sys/types.h>

/* Most fds a child can be given (its fds 0 to 1023; more would pass the
 * usual open-files limit it gets).  A request for more fails (EMFILE). */
#define SPAWN_FDS_MAX 1024

/* The step of the child's setup that failed. */
enum spawn_stage {
    SPAWN_OK = 0,
    SPAWN_CGROUP,       /* entering the service's cgroup */
    SPAWN_CLOSE_RANGE,  /* leaving the shared fd table */
    SPAWN_DUP,          /* moving a source out of the target range */
    SPAWN_FCNTL,        /* clearing close-on-exec */
    SPAWN_DUP2,         /* placing an fd */
    /* The execution attributes (struct spawn_attr), in the order they apply. */
    SPAWN_RLIMIT,       /* "setrlimit" */
    SPAWN_NICE,         /* "setpriority" */
    SPAWN_SETGROUPS,
    SPAWN_SETGID,
    SPAWN_SETUID,
    SPAWN_CHDIR,
    SPAWN_CAPSET,       /* keeping and setting the capability sets */
    SPAWN_AMBIENT,      /* raising an ambient capability */
    SPAWN_NNP,          /* "no_new_privs" */
    SPAWN_EXEC,
    SPAWN_STAGE_COUNT
};

/* "exec", "dup2", ...: what an error message calls the stage. */
const char *spawn_stage_name(enum spawn_stage stage);

/* What a service runs as (execattr.h makes it from service.opts): applied
 * in the child after its fds are placed, as root first (limits, nice),
 * then the ids, then what the new user does (chdir, capabilities). */
#define SPAWN_A_UMASK   0x01u
#define SPAWN_A_NICE    0x02u
#define SPAWN_A_GROUPS  0x04u   /* setgroups(ngroups, groups) */
#define SPAWN_A_GID     0x08u
#define SPAWN_A_UID     0x10u
#define SPAWN_A_CAPS    0x20u   /* caps: permitted, effective, inheritable, ambient */
#define SPAWN_A_NNP     0x40u

struct spawn_limit {
    int resource;                       /* RLIMIT_* */
    unsigned long long cur, max;        /* RLIM_INFINITY as ~0 */
};

struct spawn_attr {
    unsigned flags;                     /* SPAWN_A_* */
    uid_t uid;
    gid_t gid;
    mode_t umask;
    int nice;
    int ngroups;
    const gid_t *groups;
    int nlimits;
    const struct spawn_limit *limits;
    const char *cwd;                    /* or NULL */
    uint64_t caps;                      /* bit n: capability n */
};

struct spawn_req {
    char *const *argv;  /* NULL-terminated; argv[0] is searched in PATH */
    const int *fds;     /* fds[i] becomes the child's fd i; -1 = closed */
    int nfds;
    char *const *envp;  /* the child's environment, or NULL: daemonproxy's */
    char *pid_slot;     /* or NULL: 20 bytes in envp where the child writes its pid */
    int cgroup_fd;      /* or -1: a cgroup.procs the child enters by writing "0" */
    const struct spawn_attr *attr;      /* or NULL: runs as daemonproxy does */
    /* Fds the child also keeps, at their own numbers (each at or above
     * nfds; close-on-exec is cleared in the child's own copy of the fd
     * table, never in daemonproxy's).  Every other fd daemonproxy holds is
     * close-on-exec and goes at the exec.  For the re-exec check, which
     * restores the real state with the real fds. */
    const int *inherit;
    size_t ninherit;
    /* internal */
    int shared_files;   /* cloned with CLONE_FILES (fast path) */
    int unshare_from;   /* the child unshares fds below this */
    int report_fd;      /* fork path: where the child reports a failure */
    /* results */
    int err;            /* errno of the failed step in the child, or 0 */
    enum spawn_stage stage;     /* which step failed */
};

/* Raise daemonproxy's own soft RLIMIT_NOFILE to the hard limit (it may hold
 * tens of thousands of handles) while children keep getting the soft limit
 * daemonproxy was started with, as systemd does.  Call once at start. */
void spawn_raise_nofile(void);

/* Reserve the low fd slots of the fast spawn path (dups of nullfd).  Call
 * once at start, after the inherited fds are registered. */
void spawn_init(int nullfd);

/* Start the child.  Returns its pid (also when exec failed: then r->err is
 * set and the child has already _exit(127)ed), or -1 with errno if no
 * process could be created. */
pid_t spawn_start(struct spawn_req *r);

/* Collect one exited child without waiting: its pid (status in *status),
 * or 0 when none has exited (or there are no children). */
pid_t spawn_reap(int *status);

/* Collect child pid, which is known to have exited already (a failed
 * exec); its wait status goes to *status. */
void spawn_collect(pid_t pid, int *status);

/* A child that is daemonproxy's own business (the re-exec check), not a
 * service's: when it exits, spawn_reap() calls fn with its wait status
 * instead of returning it.  One at a time; pid 0 forgets. */
void spawn_watch_exit(pid_t pid, void (*fn)(int status));

/* A copy of this process that carries on (--daemonize): fork(), whose
 * result it returns.  The one process made here that runs daemonproxy
 * itself rather than a program, so that every process daemonproxy creates
 * is created in this file. */
pid_t spawn_fork(void);

/* Replace this process with path (execve, daemonproxy's environment).
 * Returns only on failure, with errno. */
int spawn_exec_self(const char *path, char *const *argv);

/* The open-files limit children get (what daemonproxy was started with,
 * before spawn_raise_nofile), as two numbers, and back: a re-exec'd
 * daemonproxy was started with the raised one. */
void spawn_nofile_get(unsigned long long *cur, unsigned long long *max);
void spawn_nofile_set(unsigned long long cur, unsigned long long max);

/* spawn_start, spawn_reap and spawn_collect are the whole interface to
 * process creation: the fuzz target links a stub in place of spawn.c
 * (spawn_stage_name lives there too). */

#endif
