/* sandbox.c - keep fuzz inputs away from the host.
 *
 * A fuzz input is a controller script: it may fd.open any path for writing
 * (then log.dest into it), fd.socket or socket.create anywhere, chdir, and
 * signal pids.  Run as root on a developer's machine that could truncate
 * or scribble over anything.  So before the first input the process moves
 * into new user, PID, network, IPC and mount namespaces and pivots into an
 * empty tmpfs holding only /dev/null, a read-only /usr (the symbolizer for
 * crash reports) and the fuzz binary itself, a private /tmp, a pid-only /proc (sanitizers read
 * /proc/self) and the paths the fuzzer itself writes.  Nothing else of the
 * host file system is reachable; the network is an empty namespace with
 * only loopback.
 */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what)
{
    fprintf(stderr, "fuzz sandbox: %s: %s\n", what, strerror(errno));
    _exit(3);
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        die(path);
    close(fd);
}

static void mkdir_p(const char *path, mode_t mode)
{
    char buf[2 * PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            die(buf);
        *p = '/';
    }
    if (mkdir(buf, mode) < 0 && errno != EEXIST)
        die(buf);
}

/* Bind host path `src` at the same path under root. */
static void bind_in(const char *root, const char *src, bool readonly)
{
    struct stat st;
    if (stat(src, &st) < 0)
        return;
    char dst[2 * PATH_MAX];
    snprintf(dst, sizeof dst, "%s%s", root, src);
    if (S_ISDIR(st.st_mode)) {
        mkdir_p(dst, 0755);
    } else {
        char dir[2 * PATH_MAX];
        snprintf(dir, sizeof dir, "%s", dst);
        *strrchr(dir, '/') = '\0';
        mkdir_p(dir, 0755);
        int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            die(dst);
        close(fd);
    }
    if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
        die(src);
    if (readonly && mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID,
                          NULL) < 0)
        die(src);
}

static void loopback_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        die("loopback");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        die("loopback up");
    close(s);
}

static pid_t child_pid;

static void forward(int sig)
{
    if (child_pid > 0)
        kill(child_pid, sig);
}

/* The parent: wait for the sandboxed child and leave as it did. */
static void wait_and_exit(pid_t pid, const char *root)
{
    child_pid = pid;
    struct sigaction sa = { .sa_handler = forward };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGINT, SIG_IGN);    /* the terminal sends it to the child too */
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            die("waitpid");
    rmdir(root);
    if (WIFSIGNALED(st)) {
        signal(WTERMSIG(st), SIG_DFL);
        raise(WTERMSIG(st));
    }
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 3);
}

void fuzz_sandbox_enter(const char *const *paths, int n)
{
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        die("getcwd");
    uid_t uid = getuid();
    gid_t gid = getgid();
    char root[] = "/tmp/dpfuzz-root.XXXXXX";
    if (!mkdtemp(root))
        die("mkdtemp");

    int ns = CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
    if (unshare(CLONE_NEWUSER | ns) == 0) {
        char map[64];
        write_file("/proc/self/setgroups", "deny");
        snprintf(map, sizeof map, "0 %u 1\n", (unsigned)uid);
        write_file("/proc/self/uid_map", map);
        snprintf(map, sizeof map, "0 %u 1\n", (unsigned)gid);
        write_file("/proc/self/gid_map", map);
    } else if (uid != 0 || unshare(ns) < 0) {
        /* Root in a container that forbids user namespaces can still have
         * the others; anyone else has no sandbox, so no fuzzing. */
        rmdir(root);
        die("unshare");
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid > 0)
        wait_and_exit(pid, root);

    /* PID 1 of the new namespace.  A mount namespace of our own (the
     * parent keeps the host's, to remove `root` afterwards). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (unshare(CLONE_NEWNS) < 0)
        die("unshare mount namespace");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        die("make / private");
    if (mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=0755") < 0)
        die("tmpfs");
    bind_in(root, "/dev/null", false);
    bind_in(root, "/usr", true);
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        bind_in(root, exe, true);   /* for the symbolizer */
    }
    static const char *const links[][2] = {
        { "bin", "usr/bin" }, { "lib", "usr/lib" }, { "lib64", "usr/lib64" },
    };
    char p[2 * PATH_MAX];
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", root, links[i][0]);
        if (symlink(links[i][1], p) < 0)
            die(p);
    }
    for (int i = 0; i < n; i++) {
        char real[PATH_MAX];
        if (realpath(paths[i], real))
            bind_in(root, real, false);
    }
    /* The working directory exists (empty, unless bound) so that
     * libFuzzer's relative paths resolve as outside. */
    snprintf(p, sizeof p, "%s%s", root, cwd);
    mkdir_p(p, 0755);
    snprintf(p, sizeof p, "%s/tmp", root);
    mkdir_p(p, 01777);
    chmod(p, 01777);
    /* A new proc (of the new PID namespace) may only be mounted while the
     * host's is still visible in this mount namespace. */
    snprintf(p, sizeof p, "%s/proc", root);
    mkdir_p(p, 0555);
    if (mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "subset=pid") < 0)
        die("mount /proc");
    snprintf(p, sizeof p, "%s/.old", root);
    mkdir_p(p, 0700);
    if (syscall(SYS_pivot_root, root, p) < 0)
        die("pivot_root");
    if (chdir("/") < 0 || umount2("/.old", MNT_DETACH) < 0 || rmdir("/.old") < 0)
        die("leave the old root");
    loopback_up();
    if (chdir(cwd) < 0)
        die("chdir");
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);

    /* The kernel drops signals that PID 1 has no handler for, even its own
     * SIGABRT; so the target runs in a child of it, where abort() and
     * sanitizer reports behave as usual.  PID 1 passes its status on. */
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0)
        return;
    int st;
    pid_t w;
    while ((w = waitpid(-1, &st, 0)) != pid)
        if (w < 0 && errno != EINTR)
            die("waitpid");
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}
