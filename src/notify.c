/* notify.c - readiness notification channels (see notify.h). */
#include "notify.h"
#include "fmt.h"
#include "log.h"
#include "loop.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
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
static struct notify_msg msg SYS_LARGE_BSS;
static char ready[] = "READY=1";

static void reaper_cb(void *ctx)
{
    while (dead) {
        struct notify_chan *ch = dead;
        dead = ch->dead_next;
        free(ch);
    }
}

static loop_task reaper = LOOP_TASK_INIT(reaper_cb, NULL);

int notify_barrier(const struct notify_msg *m)
{
    for (int i = 0; i < m->nassign; i++)
        if (strcmp(m->assign[i], "BARRIER=1") == 0)
            return m->nassign == 1 && m->nfds == 1 ? 1 : -1;
    return 0;
}

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

/* --- refusals: said in the log, and cheap --------------------------------------
 *
 * Any local user can send to a service's socket, so what is refused must
 * cost little: per sender (a channel and a pid) the first
 * REFUSALS_LOGGED refusals of an interval are logged in full, the rest
 * only counted and summed up in one line when the interval ends.  A
 * sender refused as a stranger that many times is then refused on sight
 * while it lives (a pidfd says so with one poll): no more walks up
 * /proc for it, which is what a refusal cost before.  SENDERS_MAX senders
 * are followed at once; refusals of any other are only counted.
 */

#define REFUSALS_LOGGED 5
#define REFUSAL_INTERVAL_MS 5000
#define SENDERS_MAX 16

struct sender {
    bool used;
    const struct notify_chan *ch;   /* NULL once the channel closed */
    pid_t pid;                      /* 0: no credentials */
    int pidfd;                      /* refused on sight while alive, or -1 */
    unsigned logged;                /* lines logged in this interval */
    unsigned long more;             /* refusals counted, not logged */
    int64_t since;                  /* start of the interval */
    char name[40];                  /* the channel's, for the summary */
};

static struct sender senders[SENDERS_MAX];
static unsigned long others;        /* refusals of senders not followed */
static int64_t others_since;
static void tick_cb(loop_timer *t);
static loop_timer tick = LOOP_TIMER_INIT(tick_cb);
static bool tick_room;              /* its slot in the timer heap */

/* pidfd_open(2) (Linux 5.3; its fd is always close-on-exec), by number:
 * older C libraries have no wrapper. */
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

static void forget_stranger(struct sender *e)
{
    sys_close(e->pidfd);
    e->pidfd = -1;
}

static void arm_tick(int64_t when)
{
    if (!loop_timer_armed(&tick) || loop_timer_when(&tick) > when)
        loop_timer_at(&tick, when);
}

static int secs(int64_t ms) { return (int)((ms + 999) / 1000); }
static int64_t earlier(int64_t a, int64_t b) { return a < b ? a : b; }

/* The end of an interval: each sender whose interval is over is summed
 * up (and its next interval begins) or, if it was quiet, forgotten. */
static void tick_cb(loop_timer *t)
{
    int64_t now = loop_now(), next = INT64_MAX;
    for (struct sender *e = senders; e < senders + SENDERS_MAX; e++) {
        if (!e->used)
            continue;
        if (e->since + REFUSAL_INTERVAL_MS > now) {
            next = earlier(next, e->since + REFUSAL_INTERVAL_MS);
            continue;
        }
        if (!e->more) {
            forget_stranger(e);
            e->used = false;    /* quiet for a whole interval */
            continue;
        }
        /* Still refused: the next interval starts counting at once. */
        if (e->pid)
            log_warn("%s: %lu more notifications from pid %d refused in the last %d s",
                     e->name, e->more, (int)e->pid, secs(now - e->since));
        else
            log_warn("%s: %lu more notifications without credentials refused in the last %d s",
                     e->name, e->more, secs(now - e->since));
        e->more = 0;
        e->since = now;
        next = earlier(next, now + REFUSAL_INTERVAL_MS);
    }
    if (others && others_since + REFUSAL_INTERVAL_MS <= now) {
        log_warn("sd_notify: %lu notifications from more senders refused in the last %d s",
                 others, secs(now - others_since));
        others = 0;
    } else if (others) {
        next = earlier(next, others_since + REFUSAL_INTERVAL_MS);
    }
    if (next != INT64_MAX)
        arm_tick(next);
}

/* The sender (ch, pid), followed from now on if it was not; NULL when
 * SENDERS_MAX others are. */
static struct sender *sender_of(const struct notify_chan *ch, pid_t pid)
{
    struct sender *room = NULL;
    for (struct sender *e = senders; e < senders + SENDERS_MAX; e++) {
        if (e->used && e->ch == ch && e->pid == pid)
            return e;
        if (!e->used && !room)
            room = e;
    }
    if (room) {
        *room = (struct sender){ .used = true, .ch = ch, .pid = pid, .pidfd = -1,
                                 .since = loop_now() };
        fmt_snprintf(room->name, sizeof room->name, "%s", ch->name);
        arm_tick(room->since + REFUSAL_INTERVAL_MS);
    }
    return room;
}

/* A refusal of a message from pid on ch: "NAME: " and the text, or just
 * counted (see above).  The sender, or NULL if it is not followed. */
static struct sender *refusal(const struct notify_chan *ch, pid_t pid, const char *fmt,
                              va_list ap) __attribute__((format(printf, 3, 0)));
static struct sender *refusal(const struct notify_chan *ch, pid_t pid, const char *fmt,
                              va_list ap)
{
    struct sender *e = sender_of(ch, pid);
    if (!e) {
        if (!others++)
            others_since = loop_now();
        arm_tick(others_since + REFUSAL_INTERVAL_MS);
    } else if (e->logged < REFUSALS_LOGGED) {
        char text[256];
        fmt_vsnprintf(text, sizeof text, fmt, ap);
        log_warn("%s: %s", ch->name, text);
        e->logged++;
    } else {
        e->more++;
    }
    return e;
}

static struct sender *refuse(const struct notify_chan *ch, pid_t pid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static struct sender *refuse(const struct notify_chan *ch, pid_t pid, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct sender *e = refusal(ch, pid, fmt, ap);
    va_end(ap);
    return e;
}

void notify_refuse(const struct notify_msg *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    refusal(m->chan, m->pid, fmt, ap);
    va_end(ap);
}

/* A stranger's message: refused, and once it has been logged enough,
 * refused on sight while that process lives (where there are pidfds:
 * not before Linux 5.3, nor under an older valgrind). */
static void refuse_stranger(const struct notify_chan *ch, pid_t pid)
{
    static bool no_pidfd;
    struct sender *e = refuse(ch, pid, "notification from pid %d refused: "
                              "not a process of the service", (int)pid);
    if (e && e->logged == REFUSALS_LOGGED && e->pidfd < 0 && !no_pidfd) {
        e->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        no_pidfd = e->pidfd < 0 && errno == ENOSYS;
    }
}

/* Whether pid on ch is a stranger still refused on sight (and counted). */
static bool known_stranger(const struct notify_chan *ch, pid_t pid)
{
    for (struct sender *e = senders; e < senders + SENDERS_MAX; e++) {
        if (!e->used || e->ch != ch || e->pid != pid || e->pidfd < 0)
            continue;
        /* A pidfd is readable once its process has exited: after that
         * the pid may be anyone's. */
        struct pollfd p = { .fd = e->pidfd, .events = POLLIN };
        if (poll(&p, 1, 0) != 0) {
            forget_stranger(e);
            return false;
        }
        e->more++;
        return true;
    }
    return false;
}

void notify_forget(struct notify_chan *ch)
{
    for (struct sender *e = senders; e < senders + SENDERS_MAX; e++)
        if (e->used && e->ch == ch)
            forget_stranger(e);
}

/* A channel's slot in the timer heap for the summaries (one for all). */
static bool reserve_tick(void)
{
    if (!tick_room && loop_timer_reserve(1))
        tick_room = true;
    if (!tick_room)
        errno = ENOMEM;
    return tick_room;
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
    /* Its senders' summaries are still due, under the name they have. */
    for (struct sender *e = senders; e < senders + SENDERS_MAX; e++) {
        if (e->used && e->ch == ch) {
            forget_stranger(e);
            e->ch = NULL;
        }
    }
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
    char b[512];
    ssize_t n = sys_read(ch->fd, b, sizeof b);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n > 0 && memchr(b, '\n', (size_t)n)) {
        close_fd(ch);           /* s6: the reader stops at the newline */
        msg.chan = ch;
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
    fmt_snprintf(ch->name, sizeof ch->name, "%s", name);
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

static char bufs[NOTIFY_BATCH][NOTIFY_MSG_MAX + 1] SYS_LARGE_BSS;
static union cmsgbuf cms[NOTIFY_BATCH] SYS_LARGE_BSS;
static struct iovec iovs[NOTIFY_BATCH];
static struct mmsghdr mms[NOTIFY_BATCH];

/* Take the fds and the sender of one received datagram into msg.
 * Returns whether the kernel said who sent it. */
static bool unpack(struct notify_chan *ch, struct msghdr *mh)
{
    msg.chan = ch;
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
    return creds && msg.pid > 0;
}

/* MSG_CTRUNC although there was room for SCM_MAX_FD fds: the kernel could
 * not install them all here.  Out of fds, mostly; making one more tells. */
static void refuse_fds_lost(struct notify_chan *ch)
{
    int fd = fcntl(ch->fd, F_DUPFD_CLOEXEC, 0);
    int e = fd < 0 ? errno : 0;
    sys_close(fd);
    struct rlimit rl;
    if (e == EMFILE && getrlimit(RLIMIT_NOFILE, &rl) == 0)
        refuse(ch, msg.pid, "notification from pid %d refused: its fds could not all be "
               "received: %s (daemonproxy's RLIMIT_NOFILE is %llu)", (int)msg.pid,
               sys_strerror(e), (unsigned long long)rl.rlim_cur);
    else
        refuse(ch, msg.pid, "notification from pid %d refused: its fds could not all be "
               "received: %s", (int)msg.pid,
               e ? sys_strerror(e) : "the kernel passed fewer than were sent");
}

/* Whether the datagram in buf (len bytes, as received with mh), whose
 * fds and sender unpack() took, is a message for the owner; if so it is
 * parsed into msg.  Cheapest checks first: a known stranger costs one
 * poll, another sender a look at its ancestry, and only then is anything
 * parsed. */
static bool admit(struct notify_chan *ch, const struct msghdr *mh, char *buf, size_t len,
                  bool creds)
{
    if (!creds) {
        refuse(ch, 0, "notification without the sender's credentials refused");
        return false;
    }
    if (known_stranger(ch, msg.pid))
        return false;
    if (!ch->owns(ch->owner, msg.pid)) {
        refuse_stranger(ch, msg.pid);
        return false;
    }
    if ((mh->msg_flags & MSG_TRUNC) || len > NOTIFY_MSG_MAX) {
        refuse(ch, msg.pid, "notification from pid %d refused: longer than %d bytes",
               (int)msg.pid, NOTIFY_MSG_MAX);
        return false;
    }
    if (mh->msg_flags & MSG_CTRUNC) {
        refuse_fds_lost(ch);
        return false;
    }
    msg.nassign = notify_parse(buf, len, msg.assign, NOTIFY_ASSIGNS_MAX);
    if (msg.nassign <= 0) {
        refuse(ch, msg.pid, "notification from pid %d refused: not a list of assignments",
               (int)msg.pid);
        return false;
    }
    switch (notify_barrier(&msg)) {
    case 1:
        return false;   /* answered: its fd is closed with the rest */
    case -1:
        refuse(ch, msg.pid, "notification from pid %d refused: BARRIER=1 with %s",
               (int)msg.pid, msg.nassign > 1 ? "other assignments" : "not exactly one fd");
        return false;
    }
    return true;
}

static void socket_readable(void *ctx, uint32_t ev)
{
    struct notify_chan *ch = ctx;
    for (int round = 0; round < NOTIFY_READS_PER_WAKEUP / NOTIFY_BATCH; round++) {
        for (int i = 0; i < NOTIFY_BATCH; i++) {
            iovs[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = NOTIFY_MSG_MAX };
            mms[i].msg_hdr = (struct msghdr){
                .msg_iov = &iovs[i], .msg_iovlen = 1,
                .msg_control = cms[i].b, .msg_controllen = sizeof cms[i].b,
            };
        }
        int n = sys_recvmmsg(ch->fd, mms, NOTIFY_BATCH,
                             MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
        if (n < 0 && errno != EAGAIN)
            log_errno(LOG_WARN, "%s: notify socket", ch->name);
        for (int i = 0; i < n; i++) {
            /* unpack() always takes the fds, also after a callback closed
             * the channel: they must be closed all the same. */
            bool creds = unpack(ch, &mms[i].msg_hdr);
            if (ch->fd >= 0 && admit(ch, &mms[i].msg_hdr, bufs[i], mms[i].msg_len, creds))
                deliver(ch);
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
    if (!reserve_tick())
        return NULL;
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
    fmt_snprintf(ch->name, sizeof ch->name, "%s", name);
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
    if (!is_pipe && !reserve_tick())
        return NULL;
    struct notify_chan *ch = calloc(1, sizeof *ch);
    if (!ch)
        return NULL;
    ch->fd = fd;
    ch->is_pipe = is_pipe;
    ch->seen = seen;
    ch->fn = fn;
    ch->owns = owns;
    ch->owner = owner;
    fmt_snprintf(ch->name, sizeof ch->name, "%s", name);
    loop_watch_init(&ch->w, fd, is_pipe ? pipe_readable : socket_readable, ch);
    if (loop_watch_set(&ch->w, LOOP_IN) < 0) {
        free(ch);
        return NULL;
    }
    return ch;
}
