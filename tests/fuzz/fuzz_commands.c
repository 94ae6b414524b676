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
#include "../../src/controller.h"
#include "../../src/loop.h"
#include "../../src/service.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Rounds of the loop an input may take, beyond one per byte. */
#define FUZZ_ROUNDS 10000

static int nullfd = -1;
static jmp_buf *exit_jmp;
static bool client_closed;
/* DP_FUZZ_ECHO=1 copies what the client receives to stderr (for looking
 * at what a crasher does). */
static bool echo_replies;

static void exit_hook(int code)
{
    if (!exit_jmp)
        abort();        /* daemonproxy exiting outside of an input */
    longjmp(*exit_jmp, 1);
}

static void client_closed_cb(void *owner, struct ctl *c)
{
    client_closed = true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    echo_replies = getenv("DP_FUZZ_ECHO") != NULL;
    fuzz_world_init(*argc, *argv, exit_hook);
    fuzz_world_start_handles();
    nullfd = fuzz_nullfd();
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
    int nbefore = fuzz_fd_list(before);
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
    fuzz_world_reset();
    fuzz_check_fds(before, nbefore);
    return 0;
}
