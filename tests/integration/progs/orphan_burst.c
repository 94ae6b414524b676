/* orphan_burst.c - a service for test_containment.py (the orphan burst).
 *
 *   orphan_burst N PIDFILE
 *
 * Forks an intermediate process that creates N children and exits, so the
 * N become orphans of the nearest subreaper (daemonproxy).  Each child
 * blocks reading a pipe whose only write end this (main) process holds.
 * Once the intermediate is gone, the N pids are in PIDFILE (one a line,
 * written to PIDFILE.tmp and renamed: the file appears complete).  On
 * SIGUSR1 the main process closes the write end, so all N read end of file
 * and exit (status 0) about together, and then exits 0 itself.
 *
 * Memory: the children share the intermediate's memory (clone(CLONE_VM),
 * no copied page tables), each on a 2 KiB stack of one mapping, so 10,000
 * of them cost the kernel's per-task structures and little else.  Such a
 * small stack only holds a plain call: syscall() is called once before the
 * children exist, so that none of them runs the dynamic linker's lazy
 * binding (whose frame, with the saved vector registers, would overflow).  If the
 * main process dies, the pipe closes and every child exits: nothing leaks.
 *
 * Exit codes: 0 done, 1 a system call failed (the reason on stderr), 2 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define STACK 2048

static int child_main(void *arg)
{
    char c;
    /* raw system calls: this task shares its memory (and libc's state)
     * with thousands of others */
    syscall(SYS_read, (int)(long)arg, &c, 1);
    syscall(SYS_exit, 0);
    return 0;
}

static void fail(const char *what)
{
    fprintf(stderr, "orphan_burst: %s: %s\n", what, strerror(errno));
    _exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    long n = atol(argv[1]);
    const char *file = argv[2];
    if (n < 1)
        return 2;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", file);

    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    if (sigprocmask(SIG_BLOCK, &usr1, NULL) < 0)
        fail("sigprocmask");
    int p[2];
    if (pipe(p) < 0)
        fail("pipe");

    pid_t mid = fork();
    if (mid < 0)
        fail("fork");
    if (mid == 0) {
        close(p[1]);
        syscall(SYS_getpid);        /* bind syscall() now (see the top) */
        /* one spare stack below the first: a cushion */
        char *stacks = mmap(NULL, (size_t)(n + 1) * STACK, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (stacks == MAP_FAILED)
            fail("mmap");
        FILE *f = fopen(tmp, "w");
        if (!f)
            fail(tmp);
        for (long i = 0; i < n; i++) {
            pid_t pid = clone(child_main, stacks + (size_t)(i + 2) * STACK,
                              CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | SIGCHLD,
                              (void *)(long)p[0]);
            if (pid < 0)
                fail("clone");
            fprintf(f, "%d\n", (int)pid);
        }
        if (fclose(f) != 0)
            fail(tmp);
        _exit(0);
    }
    close(p[0]);
    int st;
    if (waitpid(mid, &st, 0) < 0)
        fail("waitpid");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return 1;
    /* the intermediate is gone: the children are orphans now */
    if (rename(tmp, file) < 0)
        fail("rename");
    int sig;
    while (sigwait(&usr1, &sig) != 0)
        ;
    close(p[1]);
    return 0;
}
