/* controller.c - controllers: buffers, framing, flow control, dispatch.
 *
 * Work for a controller happens in ctl_work(), reached from its fd watches
 * and from its task (queued when events were appended or when input is
 * already buffered).  Each wakeup reads at most one buffer of input,
 * executes the complete lines in it, and writes the output once, so one
 * busy controller cannot starve the others and a 1,000-line burst costs a
 * handful of syscalls.
 */
#include "controller.h"
#include "cmd.h"
#include "log.h"
#include "loop.h"
#include "protocol.h"
#include "sys.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define CTL_OUT_INIT 4096
/* Commands run only while this much output room is left, so that one
 * command's replies always fit. */
#define CTL_CMD_ROOM (PROTO_EVENT_MAX + 1024)
#define CTL_EXCERPT 30
/* Lines executed per wakeup before the loop gets a turn: keeps other
 * controllers responsive and lets the reaper and signals interleave their
 * events with a burst of commands instead of piling up behind it. */
#define CTL_LINES_PER_WAKEUP 256

struct ctl {
    struct ctl *next, *prev;        /* live controllers */
    struct ctl *dead_next;          /* graveyard, freed by a task */
    enum ctl_kind kind;
    unsigned id;
    int in_fd, out_fd;
    bool in_pollable, out_pollable;
    bool in_eof;                    /* no more input will be read */
    bool in_done;                   /* input finished and processed */
    bool is_socket;                 /* recvmsg for SCM_RIGHTS */
    bool closing;
    bool overflowed;
    bool out_blocked;               /* the last write could not finish */
    bool waiting;                   /* a handler returned CMD_WAIT */
    bool yielded;                   /* lines left for the task (not just output) */
    bool lingering;                 /* event-only: lives until the reader hangs up */
    loop_watch in_w, out_w;
    loop_task task;
    loop_timer reset_t, close_t;
    int64_t reset_ms, close_ms;
    char *out;
    size_t out_off, out_len, out_cap;
    struct proto_in *in;
    /* the command being executed (or waiting) */
    char *cur_line;                 /* split in place: fields NUL-separated */
    size_t cur_len;
    int cur_argc;
    struct ctl_dump dump;
    int taken_fd;
    ctl_closed_fn closed_cb;
    void *owner;
    char name[24];
};

static struct ctl *ctl_head;
static struct ctl *ctl_dead;
static loop_task ctl_reaper;
static unsigned ctl_next_id;
static char *ctl_fields[PROTO_FIELDS_MAX];

static void ctl_work(struct ctl *c);

const char *ctl_name(const struct ctl *c) { return c->name; }
bool ctl_has_output(const struct ctl *c) { return c->out_fd >= 0 && !c->closing; }
struct ctl_dump *ctl_dump_state(struct ctl *c) { return &c->dump; }
bool ctl_overflowed(const struct ctl *c) { return c->overflowed; }

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

static size_t out_pending(const struct ctl *c) { return c->out_len - c->out_off; }

size_t ctl_out_room(const struct ctl *c)
{
    if (!ctl_has_output(c) || c->overflowed)
        return 0;
    return CTL_OUT_MAX - out_pending(c);
}

/* --- lifetime ------------------------------------------------------------ */

static void ctl_in_cb(void *ctx, uint32_t ev);
static void ctl_out_cb(void *ctx, uint32_t ev);
static void ctl_task_cb(void *ctx);
static void ctl_reset_cb(void *ctx);
static void ctl_close_cb(void *ctx);

static void reaper_cb(void *ctx)
{
    (void)ctx;
    while (ctl_dead) {
        struct ctl *c = ctl_dead;
        ctl_dead = c->dead_next;
        free(c->out);
        free(c->in);
        free(c);
    }
}

struct ctl *ctl_new(enum ctl_kind kind, int in_fd, int out_fd)
{
    struct ctl *c = calloc(1, sizeof *c);
    struct proto_in *in = in_fd >= 0 ? malloc(sizeof *in) : NULL;
    if (!c || (in_fd >= 0 && !in)) {
        free(c);
        free(in);
        errno = ENOMEM;
        return NULL;
    }
    if (!ctl_reaper.fn)
        loop_task_init(&ctl_reaper, reaper_cb, NULL);
    c->kind = kind;
    c->id = ++ctl_next_id;
    c->in_fd = in_fd;
    c->out_fd = out_fd;
    c->in = in;
    if (in)
        proto_in_init(in);
    c->taken_fd = -1;
    c->reset_ms = CTL_RESET_TIMEOUT_DEFAULT * 1000LL;
    c->close_ms = CTL_CLOSE_TIMEOUT_DEFAULT * 1000LL;
    switch (kind) {
    case CTL_CONFIG:      snprintf(c->name, sizeof c->name, "config"); break;
    case CTL_INTERACTIVE: snprintf(c->name, sizeof c->name, "stdin"); break;
    case CTL_CLIENT:      snprintf(c->name, sizeof c->name, "client %u", c->id); break;
    case CTL_SERVICE:     snprintf(c->name, sizeof c->name, "service ctl %u", c->id); break;
    }
    struct stat st;
    c->is_socket = in_fd >= 0 && fstat(in_fd, &st) == 0 && S_ISSOCK(st.st_mode);

    loop_task_init(&c->task, ctl_task_cb, c);
    loop_timer_init(&c->reset_t, ctl_reset_cb, c);
    loop_timer_init(&c->close_t, ctl_close_cb, c);
    loop_watch_init(&c->in_w, in_fd, ctl_in_cb, c);
    loop_watch_init(&c->out_w, out_fd, ctl_out_cb, c);
    /* Regular files cannot be polled (EPERM): they are always ready, so
     * they are read from the task and written synchronously. */
    c->in_pollable = in_fd >= 0 && loop_watch_set(&c->in_w, LOOP_IN) == 0;
    if (out_fd >= 0 && out_fd != in_fd) {
        c->out_pollable = loop_watch_set(&c->out_w, 0) == 0;
    } else {
        c->out_pollable = c->in_pollable;
    }
    if (in_fd < 0) {
        c->in_eof = c->in_done = true;
        c->lingering = true;
    }

    c->next = ctl_head;
    if (ctl_head)
        ctl_head->prev = c;
    ctl_head = c;
    if (!c->in_pollable && in_fd >= 0)
        loop_task_queue(&c->task);
    log_debug("%s: controller connected", c->name);
    return c;
}

void ctl_close(struct ctl *c)
{
    if (c->closing)
        return;
    c->closing = true;
    log_debug("%s: controller closed", c->name);
    loop_watch_del(&c->in_w);
    loop_watch_del(&c->out_w);
    loop_task_cancel(&c->task);
    loop_timer_cancel(&c->reset_t);
    loop_timer_cancel(&c->close_t);
    if (c->in_fd >= 0)
        sys_close(c->in_fd);
    if (c->out_fd >= 0 && c->out_fd != c->in_fd)
        sys_close(c->out_fd);
    c->in_fd = c->out_fd = -1;
    if (c->taken_fd >= 0)
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
    if (c->closed_cb)
        c->closed_cb(c->owner, c);
}

/* --- output -------------------------------------------------------------- */

/* Append one whole line, or drop it and flag the overflow.  Returns true
 * if it was appended (it then ends the buffer). */
static bool out_append(struct ctl *c, const char *line, size_t len)
{
    if (c->out_fd < 0 || c->closing || c->overflowed)
        return false;
    size_t pend = out_pending(c);
    if (pend + len > CTL_OUT_MAX) {
        c->overflowed = true;
        log_debug("%s: event stream overflowed", c->name);
        return false;
    }
    if (c->out_len + len > c->out_cap) {
        if (c->out_off) {
            memmove(c->out, c->out + c->out_off, pend);
            c->out_off = 0;
            c->out_len = pend;
        }
        if (pend + len > c->out_cap) {
            size_t ncap = c->out_cap ? c->out_cap : CTL_OUT_INIT;
            while (ncap < pend + len)
                ncap *= 2;
            if (ncap > CTL_OUT_MAX)
                ncap = CTL_OUT_MAX;
            char *n = realloc(c->out, ncap);
            if (!n) {
                c->overflowed = true;
                return false;
            }
            c->out = n;
            c->out_cap = ncap;
        }
    }
    memcpy(c->out + c->out_len, line, len);
    c->out_len += len;
    return true;
}

/* The RESET/CLOSE clocks run while output is pending and the reader makes
 * no progress; any progress restarts them. */
static void blocked_timers(struct ctl *c, bool blocked, bool progress)
{
    if (blocked) {
        if (progress || !loop_timer_armed(&c->close_t)) {
            int64_t now = loop_now_update();
            loop_timer_at(&c->reset_t, now + c->reset_ms);
            loop_timer_at(&c->close_t, now + c->close_ms);
        }
    } else {
        loop_timer_cancel(&c->reset_t);
        loop_timer_cancel(&c->close_t);
    }
}

/* One write of everything pending.  Returns false if c was closed. */
static bool out_flush(struct ctl *c)
{
    if (c->out_fd < 0 || c->closing)
        return !c->closing;
    bool progress = false;
    for (int round = 0; round < 2; round++) {
        size_t pend = out_pending(c);
        if (pend == 0)
            break;
        ssize_t n;
        if (c->is_socket && c->out_fd == c->in_fd)
            do
                n = send(c->out_fd, c->out + c->out_off, pend, MSG_DONTWAIT | MSG_NOSIGNAL);
            while (n < 0 && errno == EINTR);
        else
            n = sys_write(c->out_fd, c->out + c->out_off, pend);
        if (n < 0) {
            if (errno == EAGAIN) {
                c->out_blocked = true;
                break;
            }
            log_debug("%s: write: %s", c->name, sys_strerror(errno));
            ctl_close(c);
            return false;
        }
        c->out_off += (size_t)n;
        progress |= n > 0;
        if ((size_t)n < pend) {
            c->out_blocked = true;
            break;
        }
        c->out_off = c->out_len = 0;
        c->out_blocked = false;
        if (c->overflowed) {
            /* The stream drained: tell the reader what it missed. */
            c->overflowed = false;
            out_append(c, "overflow\n", 9);
            continue;
        }
    }
    blocked_timers(c, out_pending(c) > 0, progress);
    return true;
}

void ctl_flush_all(void)
{
    for (struct ctl *c = ctl_head, *next; c; c = next) {
        next = c->next;     /* out_flush may close c */
        out_flush(c);
    }
}

void ctl_reply(struct ctl *c, const char *line, size_t len)
{
    out_append(c, line, len);
}

void ctl_reply_fields(struct ctl *c, const char *fields, size_t len)
{
    /* Append "fields\n" whole, then turn the NULs of the split back into
     * TABs in place: no intermediate copy. */
    if (!out_append(c, fields, len + 1))
        return;
    char *p = c->out + c->out_len - (len + 1);
    for (size_t i = 0; i < len; i++)
        if (p[i] == '\0')
            p[i] = '\t';
    p[len] = '\n';
}

void ctl_broadcast(const char *line, size_t len)
{
    ctl_broadcast_except(line, len, NULL);
}

void ctl_broadcast_except(const char *line, size_t len, const struct ctl *skip)
{
    for (struct ctl *c = ctl_head; c; c = c->next) {
        if (c->out_fd < 0 || c == skip)
            continue;
        out_append(c, line, len);
        loop_task_queue(&c->task);
    }
}

/* The first bytes of the running command, TABs shown as spaces. */
static void excerpt(const struct ctl *c, char *buf, size_t size)
{
    size_t n = c->cur_len < CTL_EXCERPT ? c->cur_len : CTL_EXCERPT;
    if (n > size - 4)
        n = size - 4;
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)c->cur_line[i];
        buf[i] = ch < 0x20 ? ' ' : (char)ch;
    }
    if (c->cur_len > n) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
}

__attribute__((format(printf, 4, 0)))
static void ctl_vnotify(struct ctl *c, const char *kind, int level,
                        const char *fmt, va_list ap)
{
    char msg[1024], ex[CTL_EXCERPT + 4];
    vsnprintf(msg, sizeof msg, fmt, ap);
    struct proto_line l;
    proto_line_begin(&l, kind);
    if (c->cur_line) {
        excerpt(c, ex, sizeof ex);
        proto_line_addf(&l, "%s, for command \"%s\"", msg, ex);
    } else {
        proto_line_add(&l, msg);
    }
    log_msg(level, "%s: %s", c->name, l.buf + strlen(kind) + 1);
    size_t n = proto_line_end(&l);
    out_append(c, l.buf, n);
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
    c->reset_ms = reset_s * 1000;
    c->close_ms = close_s * 1000;
    if (loop_timer_armed(&c->close_t)) {
        /* Re-base running timers on the new values. */
        blocked_timers(c, true, true);
    }
}

static void ctl_reset_cb(void *ctx)
{
    struct ctl *c = ctx;
    if (!c->overflowed)
        log_warn("%s: event stream blocked for %llds, discarding events",
                 c->name, (long long)(c->reset_ms / 1000));
    c->overflowed = true;
    ctl_work(c);    /* waiting commands may run now */
}

static void ctl_close_cb(void *ctx)
{
    struct ctl *c = ctx;
    log_warn("%s: event stream blocked for %llds, closing",
             c->name, (long long)(c->close_ms / 1000));
    ctl_close(c);
}

/* --- input and dispatch -------------------------------------------------- */

/* Read once.  Returns bytes read, 0 at EOF, -1 if nothing now. */
static ssize_t in_read(struct ctl *c)
{
    size_t room;
    char *p = proto_in_space(c->in, &room);
    ssize_t n;
    if (room == 0)
        return -1;      /* lines still buffered: nothing to read into now */
    if (c->is_socket) {
        union {
            char buf[CMSG_SPACE(sizeof(int) * 4)];
            struct cmsghdr align;
        } cm;
        struct iovec iov = { .iov_base = p, .iov_len = room };
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1,
            .msg_control = cm.buf, .msg_controllen = sizeof cm.buf,
        };
        do
            n = recvmsg(c->in_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n >= 0) {
            for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
                if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
                    continue;
                size_t nfd = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < nfd; i++) {
                    int fd;
                    memcpy(&fd, CMSG_DATA(h) + i * sizeof fd, sizeof fd);
                    if (c->taken_fd >= 0)
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
        return n;
    }
    if (n == 0)
        return 0;
    if (errno == EAGAIN)
        return -1;
    log_debug("%s: read: %s", c->name, sys_strerror(errno));
    return 0;
}

static void run_command(struct ctl *c, char *line, size_t len)
{
    if (log_enabled(LOG_DEBUG))
        log_debug("%s: command: %.*s", c->name, (int)len, line);
    c->cur_line = line;
    c->cur_len = len;
    int argc = proto_split(line, len, ctl_fields, PROTO_FIELDS_MAX);
    if (argc < 0) {
        ctl_error(c, argc == -1 ? "invalid control character in command"
                                : "too many fields");
        goto done;
    }
    c->dump.started = false;    /* a new command: statedump starts over */
    if (cmd_run(c, argc, ctl_fields) == CMD_WAIT) {
        c->cur_argc = argc;
        c->waiting = true;
        return;
    }
done:
    c->cur_line = NULL;
}

/* Re-run a command that returned CMD_WAIT, from its split line. */
static void resume_command(struct ctl *c)
{
    char *p = c->cur_line;
    for (int i = 0; i < c->cur_argc; i++) {
        ctl_fields[i] = p;
        p += strlen(p) + 1;
    }
    if (cmd_run(c, c->cur_argc, ctl_fields) == CMD_WAIT)
        return;
    c->waiting = false;
    c->cur_line = NULL;
}

static bool out_full(const struct ctl *c)
{
    return c->out_fd >= 0 && !c->overflowed &&
           out_pending(c) > CTL_OUT_MAX - CTL_CMD_ROOM;
}

/* Execute buffered lines until none is left or output is full.  Returns
 * false when the controller must wait (output full, a waiting command, or
 * its share of this wakeup used up: then its task is queued). */
static bool process_lines(struct ctl *c)
{
    int rounds = 0, lines = 0;
    c->yielded = false;
    while (!c->closing) {
        if (out_full(c)) {
            if (c->out_blocked || !out_flush(c) || out_full(c))
                return false;
        }
        if (c->waiting) {
            resume_command(c);
            if (!c->waiting)
                continue;
            /* Still waiting for room: write now; if the reader took it all,
             * go on (a socket may swallow the whole buffer, and then no
             * writability event would ever come).  A bounded number of
             * rounds per wakeup keeps a huge dump from starving others. */
            if (c->out_blocked || !out_flush(c) || c->out_blocked)
                return false;
            if (++rounds >= 16) {
                c->yielded = true;
                loop_task_queue(&c->task);
                return false;
            }
            continue;
        }
        if (c->in_done)
            return true;
        if (++lines > CTL_LINES_PER_WAKEUP) {
            c->yielded = true;
            loop_task_queue(&c->task);
            return false;
        }
        char *line;
        size_t len;
        switch (proto_in_next(c->in, &line, &len)) {
        case PROTO_NONE:
            return true;
        case PROTO_LINE:
            if (!proto_line_ignored(line, len))
                run_command(c, line, len);
            break;
        case PROTO_TOO_LONG:
            log_error("%s: command exceeds buffer size", c->name);
            out_append(c, "error\tline too long\n", 20);
            break;
        case PROTO_TOO_LONG_COMMENT:
            log_error("%s: command exceeds buffer size (comment)", c->name);
            break;
        }
    }
    return false;
}

/* After EOF: the config file's final unterminated line is still a command;
 * for everyone else it is not. */
static void finish_input(struct ctl *c)
{
    char *line;
    size_t len;
    if (c->kind == CTL_CONFIG && proto_in_final(c->in, &line, &len)) {
        if (!proto_line_ignored(line, len))
            run_command(c, line, len);
        if (c->waiting)
            return;
    }
    c->in_done = true;
}

void ctl_drain(struct ctl *c)
{
    ctl_close(c);
}

void ctl_end_input(struct ctl *c)
{
    c->in_eof = c->in_done = true;
    c->lingering = false;
    loop_watch_del(&c->in_w);
}

/* Whether c should read more input now: not while lines are still
 * buffered for its task (a task queued only to flush broadcast events does
 * not count: under a constant stream of events commands would starve), nor
 * while a command waits or output is full. */
static bool wants_input(const struct ctl *c)
{
    return !c->in_eof && !c->waiting && !out_full(c) && !c->yielded;
}

static void update_watches(struct ctl *c)
{
    bool want_in = wants_input(c);
    bool want_out = c->out_blocked && out_pending(c) > 0;
    if (c->in_fd >= 0 && c->in_fd == c->out_fd) {
        if (c->in_pollable)
            loop_watch_set(&c->in_w, (want_in ? LOOP_IN : 0) | (want_out ? LOOP_OUT : 0));
        return;
    }
    if (c->in_pollable && c->in_fd >= 0 && !c->in_eof)
        loop_watch_set(&c->in_w, want_in ? LOOP_IN : 0);
    if (c->out_pollable && c->out_fd >= 0)
        loop_watch_set(&c->out_w, want_out ? LOOP_OUT : 0);
}

static void ctl_work(struct ctl *c)
{
    if (c->closing)
        return;
    bool more = process_lines(c);
    if (c->closing)
        return;
    if (more && !c->in_eof && !c->in_pollable) {
        /* Regular file: read the next chunk now and again next iteration. */
        ssize_t n = in_read(c);
        if (n == 0)
            c->in_eof = true;
        more = process_lines(c);
        if (!c->in_eof && more)
            loop_task_queue(&c->task);
    }
    if (c->closing)
        return;
    if (more && c->in_eof && !c->in_done) {
        finish_input(c);
        if (!c->closing && !c->waiting)
            more = process_lines(c);
    }
    /* Yielded with lines left: write only once there is a good amount, so
     * a long burst still costs one write per half buffer. */
    bool yielded = c->yielded && !c->in_eof;
    if ((!yielded || out_pending(c) > CTL_OUT_MAX / 2) && !out_flush(c))
        return;
    if (c->in_done && !c->lingering && !c->waiting && out_pending(c) == 0) {
        ctl_close(c);
        return;
    }
    if (c->waiting && !c->out_blocked && !c->task.queued) {
        /* A command waits for room, and the flush just above wrote all
         * there was: the reader drained the stream after the command last
         * ran out of room.  No writability event will come, so resume it
         * on the next pass. */
        c->yielded = true;
        loop_task_queue(&c->task);
    }
    update_watches(c);
}

static void ctl_in_cb(void *ctx, uint32_t ev)
{
    struct ctl *c = ctx;
    if ((ev & (LOOP_HUP | LOOP_ERR)) && c->in_eof) {
        /* Both directions are gone; nobody can read what is pending, and
         * level-triggered HUP would otherwise wake us forever. */
        ctl_close(c);
        return;
    }
    if ((ev & LOOP_OUT) && c->in_fd == c->out_fd)
        c->out_blocked = false;
    if ((ev & (LOOP_IN | LOOP_HUP | LOOP_ERR)) && wants_input(c)) {
        ssize_t n = in_read(c);
        if (n == 0) {
            c->in_eof = true;
            if (c->in_fd != c->out_fd)
                loop_watch_del(&c->in_w);
        }
    }
    ctl_work(c);
}

static void ctl_out_cb(void *ctx, uint32_t ev)
{
    struct ctl *c = ctx;
    if (ev & (LOOP_HUP | LOOP_ERR)) {
        /* The reader went away (HUP/ERR fire even with no interest set). */
        log_debug("%s: event stream closed by reader", c->name);
        ctl_close(c);
        return;
    }
    c->out_blocked = false;
    ctl_work(c);
}

static void ctl_task_cb(void *ctx)
{
    ctl_work(ctx);
}
