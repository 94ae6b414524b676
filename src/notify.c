/* notify.c - readiness notification channels (see notify.h). */
#include "notify.h"
#include "log.h"
#include "loop.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Datagrams read per wakeup: a flood waits for the next iteration. */
#define NOTIFY_READS_PER_WAKEUP 16

struct notify_chan {
    int fd;                     /* -1 once closed */
    bool is_pipe;
    size_t seen;                /* pipe: bytes read without a newline */
    loop_watch w;
    notify_fn fn;
    notify_pid_fn owns;
    void *owner;
    struct notify_chan *dead_next;
    char name[40];
};

static struct notify_chan *dead;
/* One message at a time: the loop is single-threaded. */
static struct notify_msg msg;
static char ready[] = "READY=1";

static void reaper_cb(void *ctx)
{
    (void)ctx;
    while (dead) {
        struct notify_chan *ch = dead;
        dead = ch->dead_next;
        free(ch);
    }
}

static loop_task reaper = LOOP_TASK_INIT(reaper_cb, NULL);

int notify_parse(char *b, size_t len, char **assign, int max)
{
    /* A NUL is a control character like any other: made safe, as in
     * events, instead of cutting the assignment short. */
    for (char *z = b; (z = memchr(z, '\0', len - (size_t)(z - b))) != NULL;)
        *z = '?';
    int n = 0;
    for (char *p = b, *end = b + len; p < end;) {
        char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e)
            e = end;
        *e = '\0';              /* b has room for one more byte */
        if (e > p) {
            char *eq = memchr(p, '=', (size_t)(e - p));
            if (!eq || eq == p || n == max)
                return -1;
            assign[n++] = p;
        }
        p = e + 1;
    }
    return n ? n : -1;
}

const char *notify_get(const struct notify_msg *m, const char *var)
{
    size_t vl = strlen(var);
    const char *v = NULL;
    for (int i = 0; i < m->nassign; i++)
        if (strncmp(m->assign[i], var, vl) == 0 && m->assign[i][vl] == '=')
            v = m->assign[i] + vl + 1;
    return v;
}

static void close_fd(struct notify_chan *ch)
{
    if (ch->fd < 0)
        return;
    loop_watch_del(&ch->w);
    sys_close(ch->fd);
    ch->fd = -1;
}

void notify_close(struct notify_chan *ch)
{
    if (!ch)
        return;
    close_fd(ch);
    ch->dead_next = dead;
    dead = ch;
    loop_task_queue(&reaper);
}

static void deliver(struct notify_chan *ch)
{
    ch->fn(ch->owner, &msg);
    for (int i = 0; i < msg.nfds; i++)
        sys_close(msg.fds[i]);  /* what the owner did not take */
    msg.nfds = 0;
}

/* --- notify.fd: the first newline is readiness ---------------------------- */

static void pipe_readable(void *ctx, uint32_t ev)
{
    struct notify_chan *ch = ctx;
    (void)ev;
    char b[512];
    ssize_t n = sys_read(ch->fd, b, sizeof b);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n > 0 && memchr(b, '\n', (size_t)n)) {
        close_fd(ch);           /* s6: the reader stops at the newline */
        msg.pid = 0;
        msg.nassign = 1;
        msg.assign[0] = ready;
        msg.nfds = 0;
        deliver(ch);
        return;
    }
    if (n > 0 && (ch->seen += (size_t)n) < NOTIFY_MSG_MAX)
        return;
    if (n > 0)
        log_warn("%s: %d bytes on notify.fd without a newline; closed", ch->name,
                 NOTIFY_MSG_MAX);
    close_fd(ch);               /* end of file, an error, or too much */
}

struct notify_chan *notify_pipe_new(int *child_fd, const char *name, notify_fn fn,
                                    void *owner)
{
    struct notify_chan *ch = calloc(1, sizeof *ch);
    int p[2];
    if (!ch || pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
        free(ch);
        return NULL;
    }
    /* The service gets a blocking write end: O_NONBLOCK is per open file,
     * and the read end was opened separately. */
    sys_set_nonblock(p[1], false);
    ch->fd = p[0];
    ch->is_pipe = true;
    ch->fn = fn;
    ch->owner = owner;
    snprintf(ch->name, sizeof ch->name, "%s", name);
    loop_watch_init(&ch->w, p[0], pipe_readable, ch);
    if (loop_watch_set(&ch->w, LOOP_IN) < 0) {
        int e = errno;
        sys_close(p[0]);
        sys_close(p[1]);
        free(ch);
        errno = e;
        return NULL;
    }
    *child_fd = p[1];
    return ch;
}

/* --- sd_notify: datagrams with credentials ---------------------------------- */

/* Datagrams taken per recvmmsg(): one system call empties a socket that
 * holds fewer, so the common single message costs no second call to
 * learn that nothing follows. */
#define NOTIFY_BATCH 8

union cmsgbuf {
    char b[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * NOTIFY_FDS_MAX)];
    struct cmsghdr align;
};

static char bufs[NOTIFY_BATCH][NOTIFY_MSG_MAX + 1];
static union cmsgbuf cms[NOTIFY_BATCH];
static struct iovec iovs[NOTIFY_BATCH];
static struct mmsghdr mms[NOTIFY_BATCH];

/* Take the fds and the sender of one received datagram into msg.  Returns
 * false for a message to refuse (logged; its fds are in msg for the caller
 * to close). */
static bool unpack(struct notify_chan *ch, struct msghdr *mh, size_t len)
{
    msg.nfds = 0;
    msg.pid = 0;
    bool creds = false;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(mh); h; h = CMSG_NXTHDR(mh, h)) {
        if (h->cmsg_level != SOL_SOCKET)
            continue;
        if (h->cmsg_type == SCM_RIGHTS) {
            size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k && msg.nfds < NOTIFY_FDS_MAX; i++)
                memcpy(&msg.fds[msg.nfds++], CMSG_DATA(h) + i * sizeof(int), sizeof(int));
        } else if (h->cmsg_type == SCM_CREDENTIALS &&
                   h->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
            struct ucred cr;
            memcpy(&cr, CMSG_DATA(h), sizeof cr);
            msg.pid = cr.pid;
            creds = true;
        }
    }
    if (!creds || msg.pid <= 0) {
        log_warn("%s: notification without the sender's credentials; refused", ch->name);
        return false;
    }
    if (!ch->owns(ch->owner, msg.pid)) {
        log_warn("%s: notification from pid %d refused: not a process of the service",
                 ch->name, (int)msg.pid);
        return false;
    }
    if ((mh->msg_flags & MSG_TRUNC) || len > NOTIFY_MSG_MAX) {
        log_warn("%s: notification from pid %d refused: longer than %d bytes",
                 ch->name, (int)msg.pid, NOTIFY_MSG_MAX);
        return false;
    }
    if (mh->msg_flags & MSG_CTRUNC)
        log_warn("%s: notification from pid %d: fds lost (more than %d)",
                 ch->name, (int)msg.pid, NOTIFY_FDS_MAX);
    return true;
}

static void socket_readable(void *ctx, uint32_t ev)
{
    struct notify_chan *ch = ctx;
    (void)ev;
    for (int round = 0; round < NOTIFY_READS_PER_WAKEUP / NOTIFY_BATCH; round++) {
        for (int i = 0; i < NOTIFY_BATCH; i++) {
            iovs[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = NOTIFY_MSG_MAX };
            mms[i].msg_hdr = (struct msghdr){
                .msg_iov = &iovs[i], .msg_iovlen = 1,
                .msg_control = cms[i].b, .msg_controllen = sizeof cms[i].b,
            };
        }
        int n;
        do
            n = recvmmsg(ch->fd, mms, NOTIFY_BATCH, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC,
                         NULL);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno != EAGAIN)
            log_errno(LOG_WARN, "%s: notify socket", ch->name);
        for (int i = 0; i < n; i++) {
            size_t len = mms[i].msg_len;
            /* unpack() always takes the fds, also after a callback closed
             * the channel: they must be closed all the same. */
            if (unpack(ch, &mms[i].msg_hdr, len) && ch->fd >= 0) {
                msg.nassign = notify_parse(bufs[i], len, msg.assign, NOTIFY_ASSIGNS_MAX);
                if (msg.nassign > 0) {
                    deliver(ch);
                    continue;
                }
                log_warn("%s: notification from pid %d refused: not a list of assignments",
                         ch->name, (int)msg.pid);
            }
            for (int k = 0; k < msg.nfds; k++)
                sys_close(msg.fds[k]);
            msg.nfds = 0;
        }
        if (n < NOTIFY_BATCH || ch->fd < 0)
            return;
    }
}

struct notify_chan *notify_socket_new(char *addr, size_t addrlen, const char *name,
                                      notify_fn fn, notify_pid_fn owns, void *owner)
{
    struct notify_chan *ch = calloc(1, sizeof *ch);
    errno = 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    socklen_t sl = sizeof(sa_family_t);
    /* Binding only the family autobinds: the kernel picks a unique name in
     * the abstract namespace ("\0" and five hex digits). */
    if (!ch || fd < 0 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sl) < 0 ||
        (sl = sizeof sa, getsockname(fd, (struct sockaddr *)&sa, &sl)) < 0 ||
        sl <= offsetof(struct sockaddr_un, sun_path) + 1 ||
        sl - offsetof(struct sockaddr_un, sun_path) + 1 > addrlen) {
        int e = errno ? errno : EINVAL;
        sys_close(fd);
        free(ch);
        errno = e;
        return NULL;
    }
    size_t nl = sl - offsetof(struct sockaddr_un, sun_path);   /* with the leading NUL */
    addr[0] = '@';
    memcpy(addr + 1, sa.sun_path + 1, nl - 1);
    addr[nl] = '\0';
    ch->fd = fd;
    ch->fn = fn;
    ch->owns = owns;
    ch->owner = owner;
    snprintf(ch->name, sizeof ch->name, "%s", name);
    loop_watch_init(&ch->w, fd, socket_readable, ch);
    if (loop_watch_set(&ch->w, LOOP_IN) < 0) {
        int e = errno;
        sys_close(fd);
        free(ch);
        errno = e;
        return NULL;
    }
    return ch;
}

/* --- re-exec ------------------------------------------------------------------ */

int notify_chan_fd(const struct notify_chan *ch) { return ch ? ch->fd : -1; }
size_t notify_chan_seen(const struct notify_chan *ch) { return ch ? ch->seen : 0; }

struct notify_chan *notify_adopt(int fd, bool is_pipe, size_t seen, const char *name,
                                 notify_fn fn, notify_pid_fn owns, void *owner)
{
    struct notify_chan *ch = calloc(1, sizeof *ch);
    if (!ch)
        return NULL;
    ch->fd = fd;
    ch->is_pipe = is_pipe;
    ch->seen = seen;
    ch->fn = fn;
    ch->owns = owns;
    ch->owner = owner;
    snprintf(ch->name, sizeof ch->name, "%s", name);
    loop_watch_init(&ch->w, fd, is_pipe ? pipe_readable : socket_readable, ch);
    if (loop_watch_set(&ch->w, LOOP_IN) < 0) {
        free(ch);
        return NULL;
    }
    return ch;
}
