/* spawn_stub.c - src/spawn.c's interface without processes, for the fuzz
 * target.
 *
 * A fuzz input may start thousands of services; real children would make
 * each run slow and nondeterministic.  Fake children get pids above the
 * kernel's PID_MAX_LIMIT (2^22), so a kill() or getpgid() that reaches
 * them fails with ESRCH and can never hit a real process.  How a fake
 * child behaves depends on its argv[0], so inputs can reach every path:
 *
 *   empty, or with '?'  exec fails (ENOENT), the child has exited with 127
 *   starts with '/'     runs until the input ends
 *   anything else       exits at the next reap with status (argc - 1)
 *
 * The stub also checks what the real spawn relies on: every source fd
 * must be open, and argv must have an argv[0].
 */
#include "fuzz.h"
#include "../../src/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_PID_BASE 0x40000000
#define FAKE_MAX 65536

struct fake {
    pid_t pid;
    int status;
    bool exited;
};

static struct fake fakes[FAKE_MAX];
static int nfakes;
static pid_t next_pid = FAKE_PID_BASE;

void spawn_raise_nofile(void) {}
const char *spawn_stage_name(enum spawn_stage stage) { return stage == SPAWN_EXEC ? "exec" : "spawn"; }
void spawn_init(int nullfd) {}

pid_t spawn_start(struct spawn_req *r)
{
    r->err = 0;
    r->stage = SPAWN_OK;
    if (!r->argv || !r->argv[0])
        abort();
    for (int i = 0; i < r->nfds; i++)
        if (r->fds[i] >= 0 && fcntl(r->fds[i], F_GETFD) < 0)
            abort();    /* a service handed a closed fd to its child */
    if (nfakes == FAKE_MAX) {
        errno = EAGAIN; /* like fork under RLIMIT_NPROC */
        return -1;
    }
    int argc = 0;
    while (r->argv[argc])
        argc++;
    struct fake *f = &fakes[nfakes++];
    f->pid = next_pid++;
    f->status = ((argc - 1) & 0xff) << 8;
    f->exited = r->argv[0][0] != '/';
    if (!r->argv[0][0] || strchr(r->argv[0], '?')) {
        r->err = ENOENT;
        r->stage = SPAWN_EXEC;
        f->status = 127 << 8;
        f->exited = true;
    }
    return f->pid;
}

static pid_t take(int i, int *status)
{
    pid_t pid = fakes[i].pid;
    *status = fakes[i].status;
    fakes[i] = fakes[--nfakes];
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
    for (int i = 0; i < nfakes; i++) {
        if (!fakes[i].exited)
            continue;
        pid_t pid = take(i, status);
        if (pid != watched_pid)
            return pid;
        void (*fn)(int) = watched_fn;
        spawn_watch_exit(0, NULL);
        fn(*status);
        i = -1;     /* take() moved the others: look again */
    }
    return 0;
}

/* Only main.c forks (--daemonize), and the fuzz targets have no main.c. */
pid_t spawn_fork(void)
{
    abort();
}

/* A fuzz input must never replace the fuzzer: reaching this is a bug the
 * fuzzer reports (the re-exec check of a fake child never succeeds). */
int spawn_exec_self(const char *path, char *const *argv)
{
    abort();
}

void spawn_nofile_get(unsigned long long *cur, unsigned long long *max)
{
    *cur = *max = 1024;
}

void spawn_nofile_set(unsigned long long cur, unsigned long long max)
{
}

void spawn_collect(pid_t pid, int *status)
{
    for (int i = 0; i < nfakes; i++)
        if (fakes[i].pid == pid && fakes[i].exited) {
            take(i, status);
            return;
        }
    abort();    /* collecting a child that is not known to have exited */
}

void fuzz_spawn_adopt(pid_t pid)
{
    for (int i = 0; i < nfakes; i++)
        if (fakes[i].pid == pid)
            return;
    if (nfakes == FAKE_MAX)
        abort();
    fakes[nfakes++] = (struct fake){ .pid = pid, .status = 0, .exited = false };
}

void fuzz_spawn_exit_all(void)
{
    for (int i = 0; i < nfakes; i++)
        fakes[i].exited = true;
}

void fuzz_spawn_reset(void)
{
    nfakes = 0;
    next_pid = FAKE_PID_BASE;
}
