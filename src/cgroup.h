/* cgroup.h - one cgroup v2 directory per service under --cgroup DIR
 * (docs/protocol.md, "Containment"): creating it, putting a child into it,
 * signalling every process in it, and telling when it becomes empty or
 * populated (inotify on its cgroup.events).  Cgroups a service makes below
 * its own are part of it.
 *
 * Fds (the rule everywhere): a function never takes ownership of an fd it
 * is given unless its comment says it takes it; one that takes an fd owns
 * it from the call on and closes it itself, also when it fails.
 */
#ifndef CGROUP_H
#define CGROUP_H

#include <stdbool.h>
#include <sys/types.h>

struct cgroup;

/* Use DIR, which must be a cgroup v2 directory we can write to, whose
 * place in the hierarchy /proc/self/mountinfo tells.  Returns false with
 * a reason in *err. */
bool cgroup_init(const char *dir, const char **err);
bool cgroup_enabled(void);

/* The owner's callback when the cgroup's populated state changes. */
typedef void (*cgroup_fn)(void *owner, bool populated);

/* The cgroup DIR/name, created if needed, watched for changes.  NULL with
 * *err (errno set) on failure. */
struct cgroup *cgroup_open(const char *name, cgroup_fn fn, void *owner, const char **err);
/* Stop watching and free; with remove, rmdir the directory and every
 * cgroup the service made below it, deepest first (it fails, harmlessly,
 * while processes remain; what is left behind is logged). */
void cgroup_close(struct cgroup *cg, bool remove);

/* An fd open for writing on its cgroup.procs: a child writes "0" to it to
 * enter the cgroup (before exec). */
int cgroup_procs_fd(const struct cgroup *cg);
/* Whether any process is in it or below it (as its cgroup.events last
 * said). */
bool cgroup_populated(const struct cgroup *cg);
/* Signal every process in it and in the cgroups below it: SIGKILL through
 * cgroup.kill, others one by one from each cgroup.procs, walking at most
 * 1024 cgroups (a new service cgroup is limited to as many by
 * cgroup.max.descendants).  Returns 0, or -1 with the reason in *err when
 * some may have been missed: a cgroup.procs could not be read, or the
 * subtree has more cgroups than are walked. */
int cgroup_signal(const struct cgroup *cg, int signo, const char **err);
/* Whether pid is in it or in a cgroup below it (from /proc/PID/cgroup). */
bool cgroup_contains(const struct cgroup *cg, pid_t pid);

/* Re-exec: a reopened cgroup takes the populated state the old process
 * last reported; once everything is restored, every cgroup is read again
 * and a change that happened during the exec is reported then. */
void cgroup_assume(struct cgroup *cg, bool populated);
void cgroup_recheck_all(void);

#endif
