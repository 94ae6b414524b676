/* fuzz_commands.c - libFuzzer target: arbitrary bytes from a control-socket
 * client, through the real framer, splitter, command table, handlers,
 * services, handles and event loop, in-process.
 *
 * Each input is one client connection: a socketpair whose daemon end is a
 * CTL_CLIENT controller, exactly as ctlsock.c makes for an accepted
 * client.  The harness writes the input (with an fd attached by
 * SCM_RIGHTS, for fd.take), reads and discards every reply, closes its end
 * and turns the loop until the controller has closed.  Processes come from
 * spawn_stub.c; `terminate` reaches term_exit(), whose atexit hook jumps
 * back here.  Afterwards the world is reset through the modules' public
 * calls, and invariants are checked:
 *
 *   - a client that sent EOF and read everything is closed within a bound;
 *   - after every fake child has exited and been reaped, every service can
 *     be deleted (none is left running or lost);
 *   - no fd leaks: the same fds are open before and after every input.
 *
 * Any violation aborts, which libFuzzer reports as a crash.
 */
#include "fuzz.h"
#include "../../src/cmd.h"
#include "../../src/controller.h"
#include "../../src/ctlsock.h"
#include "../../src/handle.h"
#include "../../src/log.h"
#include "../../src/loop.h"
#include "../../src/service.h"
#include "../../src/signals.h"
#include "../../src/spawn.h"
#include "../../src/svcctl.h"
#include "../../src/term.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Rounds of the loop an input may take, beyond one per byte. */
#define FUZZ_ROUNDS 10000

static char cwd[PATH_MAX];
static int nullfd = -1;
static jmp_buf *exit_jmp;
static bool client_closed;
/* DP_FUZZ_ECHO=1 copies what the client receives to stderr (for looking
 * at what a crasher does). */
static bool echo_replies;

static void exit_hook(int code)
{
    (void)code;
    if (!exit_jmp)
        abort();        /* daemonproxy exiting outside of an input */
    longjmp(*exit_jmp, 1);
}

static void client_closed_cb(void *owner, struct ctl *c)
{
    (void)owner;
    (void)c;
    client_closed = true;
}

/* The open fds, from /proc/self/fd read through a directory fd kept open
 * (two syscalls): compared before and after every input. */
#define FUZZ_FDS_MAX 4096
static int fd_dir = -1;

static int fd_list(int *out)
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

static void check_fds(const int *before, int nbefore)
{
    static int after[FUZZ_FDS_MAX];
    int nafter = fd_list(after);
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

static void add_std(const char *name)
{
    const char *err;
    int fd = fcntl(nullfd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0 || !handle_set(name, fd, HANDLE_SPECIAL, "read,write", "/dev/null", &err))
        abort();
}

/* Back to the state after start-up: no services, the start-time handles
 * only, no control socket, guard and exec-on-exit cleared. */
static void reset_world(void)
{
    struct service *s;
    char name[PATH_MAX] = "";
    for (s = svc_next_after(""); s; s = svc_next_after(name)) {
        snprintf(name, sizeof name, "%s", svc_name(s));
        const char *err;
        svc_set_auto_up(s, -1, 0, &err);
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
    /* A log.dest holds a private copy of its handle's fd: hold the log
     * again, as at start, and keep a log.dest naming a std handle from
     * following it while it is re-added. */
    log_set_fd(-1);
    handle_set_watch_cb(NULL);
    /* Last, so that they get the same fd numbers every time. */
    add_std("stdin");
    add_std("stdout");
    add_std("stderr");
    handle_set_watch_cb(cmd_log_handle_changed);

    term_guard_clear();
    term_set_exec(0, NULL);
    log_set_filter(LOG_FILTER_DEFAULT);
    if (chdir(cwd) < 0)
        abort();
    /* Deferred frees (closed controllers) run as loop tasks. */
    for (int i = 0; i < 4; i++)
        loop_poll(0);
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

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *paths[64];
    int n = fuzzer_paths(*argc, *argv, paths, 64);
    if (!getcwd(cwd, sizeof cwd))
        abort();
    echo_replies = getenv("DP_FUZZ_ECHO") != NULL;
    fuzz_sandbox_enter(paths, n);
    umask(077);
    /* As sig_init() does; the rest of it (blocking the control signals)
     * would take SIGINT and SIGALRM from libFuzzer. */
    signal(SIGPIPE, SIG_IGN);
    term_set_atexit(exit_hook);
    if (handle_init(true, true, true, -1) < 0)
        abort();
    nullfd = handle_fd(handle_by_name("null"));
    log_set_fd(-1);     /* held and counted; a log.dest may name a handle */
    spawn_raise_nofile();
    spawn_init(nullfd);
    handle_set_watch_cb(cmd_log_handle_changed);
    svcctl_init();
    sig_set_count_cb(svc_signal_changed);
    if (loop_init() < 0)
        abort();
    fd_dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_dir < 0)
        abort();
    reset_world();
    return 0;
}

static void send_some(int fd, const uint8_t *data, size_t size, size_t *off, bool *fd_sent)
{
    if (*off >= size)
        return;
    struct iovec iov = { .iov_base = (void *)(data + *off), .iov_len = size - *off };
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (!*fd_sent) {
        /* Something for fd.take to take. */
        m.msg_control = u.buf;
        m.msg_controllen = sizeof u.buf;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &nullfd, sizeof(int));
    }
    ssize_t w = sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w > 0) {
        *off += (size_t)w;
        *fd_sent = true;
    }
}

static void drain(int fd)
{
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        if (echo_replies && write(2, buf, (size_t)n) < 0)
            echo_replies = false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int before[FUZZ_FDS_MAX];
    int nbefore = fd_list(before);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    struct ctl *c = ctl_new(CTL_CLIENT, sv[0], sv[0]);
    if (!c)
        abort();
    client_closed = false;
    ctl_set_closed_cb(c, client_closed_cb, NULL);

    jmp_buf jb;
    exit_jmp = &jb;
    if (setjmp(jb) == 0) {
        size_t off = 0;
        bool fd_sent = false, eof = false;
        for (size_t round = 0; !client_closed; round++) {
            send_some(sv[1], data, size, &off, &fd_sent);
            if (!eof && off >= size) {
                shutdown(sv[1], SHUT_WR);
                eof = true;
            }
            if (round > FUZZ_ROUNDS + size)
                abort();    /* the client is never closed: a stall */
            loop_poll(0);
            drain(sv[1]);
            svc_reap();
        }
    }
    /* else: `terminate` ran; daemonproxy would be gone now. */
    exit_jmp = NULL;
    if (!client_closed)
        ctl_close(c);
    close(sv[1]);
    reset_world();
    check_fds(before, nbefore);
    return 0;
}
