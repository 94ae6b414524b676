/* proc.c - run the processor on a rotated file (proc.h). */
#include "proc.h"
#include "../src/fmt.h"
#include "../src/sys.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

/* In the child: path in dirfd, opened at an fd above every target number
 * (so no dup2 below overwrites one not yet moved); -1 after saying why. */
static int child_open(int dirfd, const char *path, int flags)
{
    int fd = openat(dirfd, path, flags | O_NOFOLLOW | O_CLOEXEC, 0640);
    int hi = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 10) : -1;
    if (hi < 0)
        sys_dprintf(2, "dplog: processor: %s: %s\n", path, sys_strerror(errno));
    if (fd >= 0)
        sys_close(fd);
    return hi;
}

pid_t proc_start(int dirfd, const char *uname, const char *cmd)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    static const struct {
        const char *name;
        int flags, to;
    } files[] = {
        { NULL, O_RDONLY, 0 },                          /* the .u file */
        { "processed", O_WRONLY | O_CREAT | O_TRUNC, 1 },
        { "state", O_RDONLY | O_CREAT, 4 },
        { "newstate", O_WRONLY | O_CREAT | O_TRUNC, 5 },
    };
    int fds[4];
    for (int i = 0; i < 4; i++)
        if ((fds[i] = child_open(dirfd, files[i].name ? files[i].name : uname,
                                 files[i].flags)) < 0)
            _exit(111);
    for (int i = 0; i < 4; i++)
        if (dup2(fds[i], files[i].to) < 0)
            _exit(111);
    if (fchdir(dirfd) < 0)
        _exit(111);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    sys_dprintf(2, "dplog: processor: /bin/sh: %s\n", sys_strerror(errno));
    _exit(111);
}
