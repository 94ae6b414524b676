/* controller.c - controllers: lifecycle, input framing, dispatch (see
 * controller.h; the output side is outbuf.c).
 *
 * Work for a controller happens in ctl_work(), reached from its input
 * watch, its event stream's callback and its task (queued when events were
 * appended, or when lines are left over).  Each wakeup reads at most one
 * buffer of input, executes a bounded share of the complete lines in it,
 * and writes the output once, so one busy controller cannot starve the
 * others and a 1,000-line burst costs a handful of syscalls.
 */
#include "controller.h"
#include "fmt.h"
#include "log.h"
#include "loop.h"
#include "outbuf.h"
#include "protocol.h"
#include "state.h"
#include "sys.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

/* Commands run only while this much output room is left, so that one
 * command's replies always fit. */
#define CTL_CMD_ROOM (PROTO_EVENT_MAX + 1024)
/* A controller's share of one wakeup, in lines: it keeps other
 * controllers responsive and lets the reaper and signals interleave their
 * events with a burst of commands instead of piling up behind it. */
#define CTL_LINES_PER_WAKEUP 256
/* What a command that spawned counts as: at most 16 spawns per wakeup, as
 * the run queue's batch (service.h), so no controller waits behind more. */
#define CTL_SPAWN_COST (CTL_LINES_PER_WAKEUP / 16)
/* Rounds of a waiting command (statedump) per wakeup, each after a write
 * the reader took whole. */
#define CTL_WAIT_ROUNDS 16

enum ctl_phase { CTL_OPEN, CTL_DRAINING, CTL_FLUSHING, CTL_CLOSED };

struct ctl {
    struct ctl *next, *prev;        /* live controllers */
    struct ctl *dead_next;          /* CLOSED, freed by a task */
    enum ctl_kind kind;
    enum ctl_phase phase;
    unsigned id;
    int in_fd;                      /* -1: no command stream */
    bool in_pollable;               /* false: a regular file, read from the task */
    bool in_socket;                 /* recvmsg, for SCM_RIGHTS */
    bool backlog;                   /* complete lines left for the task */
    size_t drain_left;              /* DRAINING: unread bytes of a gone peer */
    loop_watch in_w;
    loop_task task;
    struct proto_in *in;            /* NULL without a command stream */
    struct outbuf *out;             /* NULL without an event stream */
    /* the command being executed, or waiting (CTL_RUN_WAIT) while cur_line is
     * set outside run_command() */
    char *cur_line;                 /* split in place: fields NUL-separated */
    size_t cur_len;
    int cur_argc;                   /* < 0: refused by proto_split, not split */
    struct ctl_dump dump;
    int taken_fd;
    ctl_closed_fn closed_cb;
    void *owner;
    char *file;                     /* a config file's path (ctl_set_file), or NULL */
    unsigned long line;             /* lines taken from the input so far */
    char name[24];
};

static struct ctl *ctl_head;
static struct ctl *ctl_dead;
static ctl_gone_fn gone_listener;
static unsigned ctl_next_id;
static char *ctl_fields[PROTO_FIELDS_MAX] SYS_LARGE_BSS;

static void ctl_work(struct ctl *c);
static void ctl_in_cb(void *ctx, uint32_t ev);
static void ctl_task_cb(void *ctx) { ctl_work(ctx); }

const char *ctl_name(const struct ctl *c) { return c->name; }
enum ctl_kind ctl_kind(const struct ctl *c) { return c->kind; }
unsigned ctl_id(const struct ctl *c) { return c->id; }
struct ctl_dump *ctl_dump_state(struct ctl *c) { return &c->dump; }

void ctl_set_file(struct ctl *c, const char *path)
{
    free(c->file);
    c->file = strdup(path);     /* out of memory: the plain name will do */
}

void ctl_who(const struct ctl *c, char *buf, size_t size)
{
    struct ucred cr;
    socklen_t len = sizeof cr;
    switch (c->kind) {
    case CTL_INTERACTIVE:
        fmt_snprintf(buf, size, "stdin");
        return;
    case CTL_CLIENT:
        /* The credentials of the connect(), which a re-exec keeps with
         * the socket: nothing to save. */
        if (c->in_fd >= 0 && getsockopt(c->in_fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0) {
            fmt_snprintf(buf, size, "uid=%u", (unsigned)cr.uid);
            return;
        }
        break;
    case CTL_CONFIG:
    case CTL_SERVICE:
        break;
    }
    fmt_snprintf(buf, size, "controller");
}

const char *ctl_where(const struct ctl *c)
{
    static char buf[PATH_MAX + 32] SYS_LARGE_BSS;
    if (!c->file)
        return c->name;
    fmt_snprintf(buf, sizeof buf, "%s:%lu", c->file, c->line);
    return buf;
}

bool ctl_has_output(const struct ctl *c)
{
    return c->out && outbuf_alive(c->out) && c->phase != CTL_CLOSED;
}

size_t ctl_out_room(const struct ctl *c) { return ctl_has_output(c) ? outbuf_room(c->out) : 0; }
bool ctl_overflowed(const struct ctl *c) { return c->out && outbuf_overflowed(c->out); }
static size_t out_pending(const struct ctl *c) { return ctl_has_output(c) ? outbuf_pending(c->out) : 0; }
static bool waiting(const struct ctl *c) { return c->cur_line != NULL; }

bool ctl_has_closed_cb(const struct ctl *c) { return c->closed_cb != NULL; }

void ctl_set_closed_cb(struct ctl *c, ctl_closed_fn fn, void *owner)
{
    c->closed_cb = fn;
    c->owner = owner;
}

int ctl_take_fd(struct ctl *c)
{
    int fd = c->taken_fd;
    c->taken_fd = -1;
    return fd;
}

/* --- lifecycle ------------------------------------------------------------- */

static void reaper_cb(void *ctx)
{
    while (ctl_dead) {
        struct ctl *c = ctl_dead;
        ctl_dead = c->dead_next;
        outbuf_free(c->out);
        free(c->in);
        free(c->file);
        free(c);
    }
}

static loop_task ctl_reaper = LOOP_TASK_INIT(reaper_cb, NULL);

static void out_event(void *ctx, enum outbuf_event ev);

struct ctl *ctl_new(enum ctl_kind kind, int in_fd, int out_fd)
{
    struct ctl *c = calloc(1, sizeof *c);
    struct proto_in *in = in_fd >= 0 ? malloc(sizeof *in) : NULL;
    int e = ENOMEM;
    /* The event stream gets an fd of its own (a socket's is a dup), so that
     * input and output are watched and closed independently. */
    int ofd = out_fd;
    if (out_fd >= 0 && out_fd == in_fd && (ofd = sys_dup_cloexec(out_fd, 3)) < 0)
        e = errno;
    if (!c || (in_fd >= 0 && !in) || (out_fd >= 0 && ofd < 0)) {
        free(c);
        free(in);
        sys_close(in_fd);
        sys_close(ofd == in_fd ? -1 : ofd);
        errno = e;
        return NULL;
    }
    c->kind = kind;
    c->phase = CTL_OPEN;
    c->id = ++ctl_next_id;
    c->in_fd = in_fd;
    c->in = in;
    c->taken_fd = -1;
    switch (kind) {
    case CTL_CONFIG:      fmt_snprintf(c->name, sizeof c->name, "config"); break;
    case CTL_INTERACTIVE: fmt_snprintf(c->name, sizeof c->name, "stdin"); break;
    case CTL_CLIENT:      fmt_snprintf(c->name, sizeof c->name, "client %u", c->id); break;
    case CTL_SERVICE:     fmt_snprintf(c->name, sizeof c->name, "service ctl %u", c->id); break;
    }
    if (ofd >= 0 && !(c->out = outbuf_new(ofd, c->name, out_event, c))) {
        e = errno;
        sys_close(in_fd);
        free(in);
        free(c);
        errno = e;
        return NULL;
    }
    loop_task_init(&c->task, ctl_task_cb, c);
    if (in) {
        proto_in_init(in);
        struct stat st;
        c->in_socket = fstat(in_fd, &st) == 0 && S_ISSOCK(st.st_mode);
        loop_watch_init(&c->in_w, in_fd, ctl_in_cb, c);
        /* Regular files cannot be polled (EPERM): they are always ready,
         * so they are read from the task. */
        c->in_pollable = loop_watch_set(&c->in_w, LOOP_IN) == 0;
        if (!c->in_pollable)
            loop_task_queue(&c->task);
    }
    c->next = ctl_head;
    if (ctl_head)
        ctl_head->prev = c;
    ctl_head = c;
    log_debug("%s: controller connected", c->name);
    return c;
}

/* The one place a controller's phase changes. */
static void set_phase(struct ctl *c, enum ctl_phase ph)
{
    if (ph <= c->phase)
        return;         /* phases only move forward */
    c->phase = ph;
    if (ph != CTL_OPEN && c->in_fd >= 0)
        loop_watch_del(&c->in_w);   /* no more reads driven by epoll */
    if (ph != CTL_CLOSED) {
        loop_task_queue(&c->task);
        return;
    }
    log_debug("%s: controller closed", c->name);
    loop_task_cancel(&c->task);
    sys_close(c->in_fd);
    c->in_fd = -1;
    if (c->out)
        outbuf_close(c->out);
    sys_close(c->taken_fd);
    c->taken_fd = -1;
    if (c->prev)
        c->prev->next = c->next;
    else
        ctl_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->dead_next = ctl_dead;
    ctl_dead = c;
    loop_task_queue(&ctl_reaper);
    if (gone_listener)
        gone_listener(c);
    if (c->closed_cb)
        c->closed_cb(c->owner, c);
}

void ctl_set_gone_listener(ctl_gone_fn fn) { gone_listener = fn; }

void ctl_close(struct ctl *c)
{
    set_phase(c, CTL_CLOSED);
}

void ctl_end_input(struct ctl *c)
{
    set_phase(c, CTL_FLUSHING);
}

/* The input ended (EOF): what was received is still executed. */
static void input_ended(struct ctl *c)
{
    c->drain_left = 0;
    set_phase(c, CTL_DRAINING);
}

/* Nobody reads our output any more: the peer process went away (a
 * service ended) or its end of the event stream did.  Replies are dropped
 * from now on, but what it wrote before it went is still executed: the
 * bytes readable now and no more, so that a writer left behind (a
 * grandchild holding the socket) cannot keep the controller alive. */
static void peer_gone(struct ctl *c)
{
    if (c->out)
        outbuf_close(c->out);
    if (c->phase != CTL_OPEN)
        return;
    int n = 0;
    if (c->in_fd >= 0 && ioctl(c->in_fd, FIONREAD, &n) < 0)
        n = PROTO_IN_BUF;   /* cannot tell: one more buffer at most */
    c->drain_left = c->in_fd >= 0 && n > 0 ? (size_t)n : 0;
    set_phase(c, CTL_DRAINING);
}

void ctl_drain(struct ctl *c)
{
    peer_gone(c);
}

/* --- output ------------------------------------------------------------------ */

/* Not ctl_has_output(): a closed controller's stream is closed too, and
 * outbuf_put() drops what goes to a closed stream. */
static char *out_put(struct ctl *c, const char *line, size_t len)
{
    return c->out ? outbuf_put(c->out, line, len) : NULL;
}

/* Write what is pending.  A failed write means the reader is gone. */
static void flush(struct ctl *c)
{
    if (ctl_has_output(c) && !outbuf_flush(c->out))
        peer_gone(c);
}

static void out_event(void *ctx, enum outbuf_event ev)
{
    struct ctl *c = ctx;
    switch (ev) {
    case OUTBUF_DEAD:
        peer_gone(c);
        break;
    case OUTBUF_CLOSE:
        ctl_close(c);
        return;
    case OUTBUF_WRITABLE:
    case OUTBUF_RESET:      /* overflowed: a waiting command may finish now */
        break;
    }
    ctl_work(c);
}

void ctl_flush_all(void)
{
    for (struct ctl *c = ctl_head, *next; c; c = next) {
        next = c->next;     /* flush may close c */
        flush(c);
    }
}

void ctl_close_all(void)
{
    while (ctl_head)
        ctl_close(ctl_head);    /* unlinks it */
}

void ctl_reply(struct ctl *c, const char *line, size_t len)
{
    out_put(c, line, len);
}

void ctl_reply_fields(struct ctl *c, const char *from)
{
    /* Append "fields\n" whole, then turn the NULs of the split back into
     * TABs in place: no intermediate copy.  The line's end is known: no
     * strlen() of the last field. */
    size_t len = (size_t)(c->cur_line + c->cur_len - from);
    char *p = out_put(c, from, len + 1);
    if (!p)
        return;
    for (size_t i = 0; i < len; i++)
        if (p[i] == '\0')
            p[i] = '\t';
    p[len] = '\n';
}

void ctl_send(struct ctl *c, const char *line, size_t len)
{
    if (!ctl_has_output(c))
        return;
    outbuf_put(c->out, line, len);
    loop_task_queue(&c->task);
}

bool ctl_live_exists(bool (*serves)(const struct ctl *c))
{
    for (const struct ctl *c = ctl_head; c; c = c->next) {
        if (c->phase != CTL_OPEN)
            continue;
        if (c->kind == CTL_SERVICE || c->kind == CTL_INTERACTIVE || (serves && serves(c)))
            return true;
    }
    return false;
}

void ctl_broadcast(const char *line, size_t len)
{
    ctl_broadcast_except(line, len, NULL);
}

void ctl_broadcast_except(const char *line, size_t len, const struct ctl *skip)
{
    for (struct ctl *c = ctl_head; c; c = c->next) {
        if (c == skip || !ctl_has_output(c))
            continue;
        outbuf_put(c->out, line, len);
        loop_task_queue(&c->task);
    }
}

__attribute__((format(printf, 4, 0)))
static void ctl_vnotify(struct ctl *c, const char *kind, int level,
                        const char *fmt, va_list ap)
{
    char msg[1024];
    fmt_vsnprintf(msg, sizeof msg, fmt, ap);
    struct proto_line l;
    proto_line_begin(&l, kind);
    proto_line_add(&l, msg);
    if (c->cur_line) {
        /* The excerpt keeps the command's TABs, as the original's does. */
        proto_line_cat(&l, ", for command \"");
        proto_line_cat_excerpt(&l, c->cur_line, c->cur_len, c->cur_argc >= 0);
        proto_line_cat(&l, "\"");
    }
    log_msg(level, "%s: %s", ctl_where(c), l.buf + strlen(kind) + 1);
    size_t n = proto_line_end(&l);
    out_put(c, l.buf, n);
}

void ctl_error(struct ctl *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ctl_vnotify(c, "error", LOG_ERROR, fmt, ap);
    va_end(ap);
}

void ctl_warning(struct ctl *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ctl_vnotify(c, "warning", LOG_WARN, fmt, ap);
    va_end(ap);
}

void ctl_set_timeouts(struct ctl *c, int64_t reset_s, int64_t close_s)
{
    if (c->out)
        outbuf_set_timeouts(c->out, reset_s * 1000, close_s * 1000);
}

/* --- input and dispatch ---------------------------------------------------------- */

/* Read once (in DRAINING, no more than what is left of a gone peer).
 * Returns bytes read, 0 at EOF, -1 if nothing now. */
static ssize_t in_read(struct ctl *c)
{
    size_t room;
    char *p = proto_in_space(c->in, &room);
    ssize_t n;
    if (c->phase == CTL_DRAINING && room > c->drain_left)
        room = c->drain_left;
    if (room == 0)
        return -1;      /* lines still buffered: nothing to read into now */
    if (c->in_socket) {
        union {
            char buf[CMSG_SPACE(sizeof(int) * 4)];
            struct cmsghdr align;
        } cm;
        struct iovec iov = { .iov_base = p, .iov_len = room };
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1,
            .msg_control = cm.buf, .msg_controllen = sizeof cm.buf,
        };
        n = sys_recvmsg(c->in_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n >= 0) {
            for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
                if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
                    continue;
                size_t nfd = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < nfd; i++) {
                    int fd;
                    memcpy(&fd, CMSG_DATA(h) + i * sizeof fd, sizeof fd);
                    sys_close(c->taken_fd);
                    c->taken_fd = fd;   /* the last one wins */
                }
            }
        }
    } else {
        n = sys_read(c->in_fd, p, room);
    }
    if (n > 0) {
        proto_in_commit(c->in, (size_t)n);
        if (c->phase == CTL_DRAINING)
            c->drain_left -= (size_t)n;
        return n;
    }
    if (n == 0)
        return 0;
    if (errno == EAGAIN)
        return -1;
    log_debug("%s: read: %s", c->name, sys_strerror(errno));
    return 0;
}

static ctl_dispatch_fn dispatch;

void ctl_set_dispatch(ctl_dispatch_fn fn) { dispatch = fn; }

/* Execute one line; returns what it cost of the wakeup's share. */
static int run_command(struct ctl *c, char *line, size_t len)
{
    if (log_enabled(LOG_DEBUG))
        log_debug("%s: command: %.*s", ctl_where(c), (int)len, line);
    c->cur_line = line;
    c->cur_len = len;
    int argc = proto_split(line, len, ctl_fields, PROTO_FIELDS_MAX);
    c->cur_argc = argc;
    int r = CTL_RUN_DONE;
    if (argc < 0) {
        ctl_error(c, argc == -1 ? "invalid control character in command"
                                : "too many fields");
    } else if (!dispatch) {
        ctl_error(c, "no commands are served");
    } else {
        c->dump.started = false;    /* a new command: statedump starts over */
        r = dispatch(c, argc, ctl_fields);
    }
    if (r == CTL_RUN_WAIT)
        return 1;                   /* cur_line stays: waiting */
    c->cur_line = NULL;
    return r == CTL_RUN_SPAWNED ? CTL_SPAWN_COST : 1;
}

/* Run a command that returned CTL_RUN_WAIT again, from its split line. */
static void resume_command(struct ctl *c)
{
    char *p = c->cur_line;
    for (int i = 0; i < c->cur_argc; i++) {
        ctl_fields[i] = p;
        p += strlen(p) + 1;
    }
    if (dispatch(c, c->cur_argc, ctl_fields) != CTL_RUN_WAIT)
        c->cur_line = NULL;
}

/* Asked before every command, so asked cheaply: a stream that is not
 * alive holds nothing (outbuf_close() empties it, and a closed
 * controller's is closed), so only the pending bytes count. */
static bool out_full(const struct ctl *c)
{
    return c->out && outbuf_pending(c->out) > OUTBUF_MAX - CTL_CMD_ROOM &&
           !outbuf_overflowed(c->out);
}

/* Write out, hoping the reader takes it: false if it did not (blocked). */
static bool flushed(struct ctl *c)
{
    if (!ctl_has_output(c))
        return true;
    if (outbuf_blocked(c->out))
        return false;
    flush(c);
    return !ctl_has_output(c) || !outbuf_blocked(c->out);
}

/* Leave the rest of the lines to the task. */
static bool yield(struct ctl *c)
{
    c->backlog = true;
    loop_task_queue(&c->task);
    return false;
}

/* Execute buffered lines while there is room and share left.  Returns true
 * when no complete line is left; false when c must wait: for output room
 * or a waiting command's room (its event stream wakes it), or because its
 * share of this wakeup is used up (its task is queued). */
static bool run_lines(struct ctl *c, int *share)
{
    int rounds = 0;
    c->backlog = false;
    while (c->phase == CTL_OPEN || c->phase == CTL_DRAINING) {
        if (out_full(c) && (!flushed(c) || out_full(c)))
            return false;
        if (waiting(c)) {
            resume_command(c);
            if (!waiting(c))
                continue;
            /* Still waiting for room: write now; if the reader took it all,
             * go on (a socket may swallow the whole buffer, and then no
             * writability event would come).  A bounded number of rounds
             * per wakeup keeps a huge dump from starving others. */
            if (!flushed(c))
                return false;
            if (++rounds >= CTL_WAIT_ROUNDS)
                return yield(c);
            continue;
        }
        if (!c->in)
            return true;
        if (*share <= 0)
            return yield(c);
        char *line;
        size_t len;
        enum proto_next got = proto_in_next(c->in, &line, &len);
        if (got != PROTO_NONE)
            c->line++;
        switch (got) {
        case PROTO_NONE:
            return true;
        case PROTO_LINE:
            *share -= proto_line_skipped(line, len) ? 1 : run_command(c, line, len);
            break;
        case PROTO_TOO_LONG:
            log_error("%s: command exceeds buffer size", ctl_where(c));
            out_put(c, "error\tline too long\n", 20);
            (*share)--;
            break;
        case PROTO_TOO_LONG_COMMENT:
            log_error("%s: command exceeds buffer size (comment)", ctl_where(c));
            (*share)--;
            break;
        }
    }
    return false;
}

/* DRAINING with no complete line left: read what is left of a gone peer,
 * or finish.  Returns true if there is more to execute. */
static bool drain_more(struct ctl *c)
{
    if (c->drain_left > 0 && in_read(c) > 0)
        return true;
    /* The config file's final unterminated line is still a command; for
     * everyone else it is not. */
    char *line;
    size_t len;
    if (c->kind == CTL_CONFIG && c->in && proto_in_final(c->in, &line, &len) &&
        !proto_line_ignored(line, len)) {
        c->line++;
        run_command(c, line, len);
        if (waiting(c))
            return true;
    }
    set_phase(c, CTL_FLUSHING);
    return false;
}

/* Whether c should read more input now: not while lines are still
 * buffered for its task (a task queued only to flush broadcast events does
 * not count: under a constant stream of events commands would starve), nor
 * while a command waits or output is full. */
static bool wants_input(const struct ctl *c)
{
    return c->phase == CTL_OPEN && c->in && !waiting(c) && !out_full(c) && !c->backlog;
}

static void update_watch(struct ctl *c)
{
    if (!c->in_pollable || c->phase != CTL_OPEN)
        return;
    /* Removed, not just emptied, when unwanted: epoll reports a hang-up
     * even with no interest, and would wake us for nothing until then. */
    if (wants_input(c))
        loop_watch_set(&c->in_w, LOOP_IN);
    else
        loop_watch_del(&c->in_w);
}

static void ctl_work(struct ctl *c)
{
    int share = CTL_LINES_PER_WAKEUP;
    bool file_read = false;
    while (c->phase == CTL_OPEN || c->phase == CTL_DRAINING) {
        if (!run_lines(c, &share))
            break;
        if (c->phase == CTL_DRAINING) {
            if (!drain_more(c))
                break;
            continue;
        }
        /* OPEN, no complete line left.  A regular file is read here, one
         * buffer per wakeup; the task brings the next. */
        if (c->in_pollable || !c->in || file_read)
            break;
        file_read = true;
        if (in_read(c) == 0)
            input_ended(c);
        else
            loop_task_queue(&c->task);
    }
    if (c->phase == CTL_CLOSED)
        return;
    /* Lines left for the task: write only once there is a good amount, so
     * a long burst still costs one write per half buffer. */
    if (!c->backlog || out_pending(c) > OUTBUF_MAX / 2)
        flush(c);
    if (c->phase == CTL_FLUSHING && out_pending(c) == 0) {
        ctl_close(c);
        return;
    }
    if (waiting(c) && ctl_has_output(c) && !outbuf_blocked(c->out) &&
        !loop_task_queued(&c->task)) {
        /* A command waits for room, and the flush just above wrote all
         * there was: the reader drained the stream after the command last
         * ran out of room.  No writability event will come, so resume it
         * on the next pass. */
        yield(c);
    }
    update_watch(c);
}

static void ctl_in_cb(void *ctx, uint32_t ev)
{
    struct ctl *c = ctx;
    if (wants_input(c) && in_read(c) == 0)
        input_ended(c);
    ctl_work(c);
}

/* --- re-exec ------------------------------------------------------------------ */

/* A controller: what it is, its command stream with the input not
 * executed yet, a statedump under way, a taken fd, its event stream with
 * the output not written yet, and a config file's name and the lines read
 * so far (appended, so that its errors after a re-exec still say
 * FILE:LINE). */
struct ctl_rec {
    struct state_val kind, phase, id, name, in_fd, in_pollable, drain_left;
    struct proto_in_rec in;
    struct state_val dump_phase, dump_sub, dump_last, dump_started, taken_fd;
    struct outbuf_rec out;
    struct state_val file, line;
};

static const struct state_def ctl_defs[] = {
    STATE_INT(struct ctl_rec, kind, CTL_CONFIG, CTL_SERVICE, 0),
    STATE_INT(struct ctl_rec, phase, CTL_OPEN, CTL_FLUSHING, 0),
    STATE_INT(struct ctl_rec, id, 1, UINT32_MAX, 0),
    STATE_STR(struct ctl_rec, name, STATE_FITS(((struct ctl *)0)->name)),
    STATE_FD(struct ctl_rec, in_fd, true),
    STATE_INT(struct ctl_rec, in_pollable, 0, 1, 0),
    STATE_INT(struct ctl_rec, drain_left, 0, PROTO_IN_BUF, 0),
    STATE_SUB(struct ctl_rec, in, proto_in_record),
    STATE_INT(struct ctl_rec, dump_phase, INT32_MIN, INT32_MAX, 0),
    STATE_INT(struct ctl_rec, dump_sub, INT32_MIN, INT32_MAX, 0),
    STATE_STR(struct ctl_rec, dump_last, STATE_FITS(((struct ctl_dump *)0)->last)),
    STATE_INT(struct ctl_rec, dump_started, 0, 1, 0),
    STATE_FD(struct ctl_rec, taken_fd, true),
    STATE_SUB(struct ctl_rec, out, outbuf_record),
    STATE_STR(struct ctl_rec, file, STATE_ANY),
    STATE_INT(struct ctl_rec, line, 0, INT64_MAX, 0),
};
/* Every field up to the event stream's was in the first version. */
STATE_RECORD(ctl_record, "ctl", struct ctl_rec, ctl_defs, STATE_SLOTS(struct ctl_rec) - 2,
             STATE_SLOTS(struct proto_in_rec) - 1 + STATE_SLOTS(struct outbuf_rec) - 1);

/* The next controller id. */
struct ctl_next_rec {
    struct state_val next_id;
};

static const struct state_def ctl_next_defs[] = {
    STATE_INT(struct ctl_next_rec, next_id, 0, UINT32_MAX, 0),
};
STATE_RECORD(ctl_next_id_record, "ctl.next_id", struct ctl_next_rec, ctl_next_defs, 0, 0);

static void save_one(const struct ctl *c, struct state_out *o)
{
    struct ctl_rec rec = {
        .kind.i = c->kind, .phase.i = c->phase, .id.i = c->id, .name.s = c->name,
        .in_fd.i = c->in_fd, .in_pollable.i = c->in_pollable,
        .drain_left.i = (int64_t)c->drain_left,
        .dump_phase.i = c->dump.phase, .dump_sub.i = c->dump.sub, .dump_last.s = c->dump.last,
        .dump_started.i = c->dump.started, .taken_fd.i = c->taken_fd,
        .file.s = c->file, .line.i = (int64_t)c->line,
    };
    proto_in_save(c->in, c->cur_line, c->cur_len, c->cur_argc, &rec.in);
    outbuf_save(c->out, &rec.out);
    state_write(o, &ctl_record, &rec);
}

void ctl_save(struct state_out *o)
{
    struct ctl_next_rec next = { .next_id.i = ctl_next_id };
    state_write(o, &ctl_next_id_record, &next);
    /* Oldest first, so that the restored list has the same order. */
    struct ctl *c = ctl_head;
    while (c && c->next)
        c = c->next;
    for (; c; c = c->prev)
        if (c->phase != CTL_CLOSED)
            save_one(c, o);
}

struct ctl *ctl_by_id(unsigned id)
{
    for (struct ctl *c = ctl_head; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

static void restore_free(struct ctl *c)
{
    outbuf_free(c->out);
    free(c->in);
    free(c->file);
    free(c);
}

/* A controller from its record, not linked or watched yet. */
static struct ctl *restore_new(const struct ctl_rec *rec, const char **err)
{
    struct ctl *c = calloc(1, sizeof *c);
    bool input = rec->in_fd.i >= 0;
    if (!c || (input && !(c->in = malloc(sizeof *c->in)))) {
        free(c);
        *err = "out of memory";
        return NULL;
    }
    c->kind = (enum ctl_kind)rec->kind.i;
    c->phase = (enum ctl_phase)rec->phase.i;
    c->id = (unsigned)rec->id.i;
    memcpy(c->name, rec->name.s, rec->name.len + 1);
    c->in_fd = (int)rec->in_fd.i;
    c->drain_left = (size_t)rec->drain_left.i;
    c->taken_fd = (int)rec->taken_fd.i;
    c->dump.phase = (int)rec->dump_phase.i;
    c->dump.sub = (int)rec->dump_sub.i;
    memcpy(c->dump.last, rec->dump_last.s, rec->dump_last.len + 1);
    c->dump.started = rec->dump_started.i;
    c->line = (unsigned long)rec->line.i;
    if (rec->file.len)
        c->file = strdup(rec->file.s);     /* out of memory: the plain name will do */
    *err = NULL;
    c->out = outbuf_restore(&rec->out, c->name, out_event, c, err);
    if (*err || (input && !proto_in_restore(c->in, &rec->in, &c->cur_line, &c->cur_len,
                                            &c->cur_argc, err))) {
        restore_free(c);
        return NULL;
    }
    return c;
}

struct ctl *ctl_restore(const struct state_rec *r, const char **err)
{
    if (strcmp(r->tag, "ctl.next_id") == 0) {
        struct ctl_next_rec next;
        if (!state_read(r, &ctl_next_id_record, &next, err))
            return NULL;
        ctl_next_id = (unsigned)next.next_id.i;
        *err = NULL;
        return NULL;
    }
    struct ctl_rec rec;
    if (!state_read(r, &ctl_record, &rec, err))
        return NULL;
    if (ctl_by_id((unsigned)rec.id.i)) {
        *err = "record ctl, field id: a second controller with it";
        return NULL;
    }
    struct ctl *c = restore_new(&rec, err);
    if (!c)
        return NULL;
    loop_task_init(&c->task, ctl_task_cb, c);
    if (c->in) {
        struct stat st;
        c->in_socket = fstat(c->in_fd, &st) == 0 && S_ISSOCK(st.st_mode);
        loop_watch_init(&c->in_w, c->in_fd, ctl_in_cb, c);
        c->in_pollable = rec.in_pollable.i;
    }
    c->next = ctl_head;
    if (ctl_head)
        ctl_head->prev = c;
    ctl_head = c;
    /* The task runs what was left, writes what was pending, and sets the
     * input watch as ctl_work() always does. */
    loop_task_queue(&c->task);
    return c;
}
