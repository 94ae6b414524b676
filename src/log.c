/* log.c - bounded, non-blocking log buffer with paced retries.
 *
 * Lines are appended whole to one fixed buffer and written out in as few
 * write() calls as possible, at the end of the loop iteration that produced
 * them (or at once, when a line would not fit: a destination that takes the
 * backlog loses nothing).  When the destination refuses (EAGAIN, ENOSPC,
 * EPIPE...) nothing is retried until the fd is reported writable; if that
 * attempt is refused too, the fd's word is worth nothing (/dev/full, a pipe
 * without reader: always "writable") and the retries are paced by a 0.5 s
 * timer until a write succeeds, as the original does.  An fd epoll cannot
 * watch (/dev/full, a regular file) is writable to poll(2) at any time: it
 * gets its one retry at once.  So a dead destination costs two syscalls
 * per second, never a busy loop.
 */
#include "log.h"
#include "fmt.h"
#include "loop.h"
#include "protocol.h"
#include "state.h"
#include "sys.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_BUF_SIZE (16 * 1024)
#define LOG_LINE_MAX 1024
#define LOG_RETRY_MS 500

int log_filter_level = LOG_FILTER_DEFAULT;

static char log_buf[LOG_BUF_SIZE] SYS_LARGE_BSS;
static size_t log_len;
static unsigned long log_lost;
static int log_fd = -1;
static bool log_fd_ours;            /* a private copy, closed when replaced (fd 2 is not) */
static bool log_blocked;
static bool log_doubted;            /* the fd said writable, and the write then failed */
static loop_watch log_watch;
static loop_timer log_timer;
static loop_task log_task;
static bool log_ready;

static const char *const level_names[] = {
    "none", "trace", "debug", "info", "warning", "error", "fatal",
};

const char *log_level_name(int level)
{
    if (level < LOG_NONE || level > LOG_FATAL)
        return "?";
    return level_names[level];
}

int log_level_parse(const char *name)
{
    for (int i = LOG_NONE; i <= LOG_FATAL; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

int log_filter(void) { return log_filter_level; }

void log_set_filter(int level)
{
    if (level < LOG_NONE)
        level = LOG_NONE;
    if (level > LOG_FATAL)
        level = LOG_FATAL;
    log_filter_level = level;
}

static int log_flush(void);

static void log_wake(void *ctx, uint32_t events)
{
    loop_watch_del(&log_watch);
    log_blocked = false;
    log_flush();
}

static void log_retry(loop_timer *t)
{
    log_blocked = false;
    log_flush();
}

static void log_task_fn(void *ctx)
{
    log_flush();
}

static void log_setup(void)
{
    if (log_ready)
        return;
    loop_timer_init(&log_timer, log_retry);
    loop_task_init(&log_task, log_task_fn, NULL);
    log_ready = true;
}

/* Append bytes of one whole line if they fit; else count it as lost. */
static bool log_append(const char *s, size_t n)
{
    if (n > LOG_BUF_SIZE - log_len) {
        log_lost++;
        return false;
    }
    memcpy(log_buf + log_len, s, n);
    log_len += n;
    return true;
}

/* Hold further attempts: until the fd is reported writable, or, when its
 * word is already doubted, until the retry timer fires. */
static void log_block(void)
{
    log_blocked = true;
    if (!log_doubted) {
        log_doubted = true;
        loop_watch_init(&log_watch, log_fd, log_wake, NULL);
        if (loop_watch_set(&log_watch, LOOP_OUT) == 0)
            return;
        if (errno == EPERM) {
            /* Not pollable: poll(2) would call it writable right now. */
            log_blocked = false;
            loop_task_queue(&log_task);
            return;
        }
    }
    loop_timer_at(&log_timer, loop_now_update() + LOG_RETRY_MS);
}

/* The count of lines that did not fit, as one line of its own, once there
 * is room for it (the buffer is empty). */
static void log_report_lost(void)
{
    char line[80];
    int k = fmt_snprintf(line, sizeof line, "warning: lost %lu log messages\n", log_lost);
    log_lost = 0;
    log_append(line, (size_t)k);
}

/* One write attempt of everything queued.  Returns 0, or the errno of a
 * failed write. */
static int log_flush(void)
{
    loop_task_cancel(&log_task);
    if (log_blocked || log_fd < 0)
        return 0;
    if (log_len == 0 && log_lost)
        log_report_lost();
    if (log_len == 0)
        return 0;
    ssize_t n = sys_write(log_fd, log_buf, log_len);
    if (n < 0) {
        int e = errno;
        log_block();
        return e;
    }
    log_doubted = false;
    memmove(log_buf, log_buf + n, log_len - (size_t)n);
    log_len -= (size_t)n;
    if (log_lost && log_len == 0) {
        log_report_lost();
        loop_task_queue(&log_task);
    } else if (log_len) {
        /* Partial write: the fd is full for now; wait until it says so. */
        log_block();
    }
    return 0;
}

void log_vmsg(int level, const char *fmt, va_list ap)
{
    if (!log_enabled(level))
        return;
    log_setup();
    char line[LOG_LINE_MAX];
    int h = fmt_snprintf(line, sizeof line, "%s: ", log_level_name(level));
    int k = fmt_vsnprintf(line + h, sizeof line - (size_t)h - 1, fmt, ap);
    size_t n = (size_t)h + (k < 0 ? 0 : (size_t)k);
    if (n > sizeof line - 2)
        n = sizeof line - 2;
    /* One message is one line, whatever the caller formatted into it, and
     * a text a service chose (an FDNAME, a MAINPID=) cannot steer the
     * terminal of whoever reads the log: other control characters but TAB
     * are shown as '?', as in events. */
    for (size_t i = (size_t)h; i < n; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c == '\n' || c == '\r')
            line[i] = ' ';
        else if ((c < 0x20 && c != '\t') || c == 0x7f)
            line[i] = '?';
    }
    line[n++] = '\n';
    if (n > LOG_BUF_SIZE - log_len)
        log_flush();    /* make room, unless the destination is known to refuse */
    if (log_append(line, n) && !log_blocked)
        loop_task_queue(&log_task);
}

void log_msg(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}

void log_errno(int level, const char *fmt, ...)
{
    int e = errno;
    if (!log_enabled(level))
        return;
    char msg[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    fmt_vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_msg(level, "%s: %s", msg, sys_strerror(e));
    errno = e;
}

/* True if a and b are the same file (not necessarily the same open). */
static bool same_file(int a, int b)
{
    struct stat sa, sb;
    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
           sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

void log_set_fd(int fd)
{
    log_setup();
    loop_watch_del(&log_watch);
    loop_timer_cancel(&log_timer);
    log_blocked = false;
    log_doubted = false;
    if (log_fd_ours)
        sys_close(log_fd);
    /* Writes to our own stderr go to fd 2 itself, where anyone watching
     * (strace -e write, say) expects them, as the original does. */
    log_fd_ours = fd >= 0 && !same_file(fd, 2);
    log_fd = !log_fd_ours ? (fd >= 0 ? 2 : -1) : sys_private_nonblock(fd, true);
    if (log_fd < 0)
        log_fd_ours = false;
    /* The backlog goes out now, before the lines that follow the switch
     * can find the buffer full. */
    log_flush();
}

void log_init(void)
{
    int fd = sys_private_nonblock(2, true);
    if (fd >= 0 && fd != 2) {
        dup2(fd, 2);
        sys_close(fd);
    }
    log_set_fd(2);
}

void log_flush_final(int timeout_ms)
{
    int64_t end = sys_mono_ms() + timeout_ms;
    loop_watch_del(&log_watch);
    loop_timer_cancel(&log_timer);
    log_blocked = false;
    while (log_fd >= 0 && (log_len || log_lost)) {
        size_t before = log_len;
        int e = log_flush();
        loop_watch_del(&log_watch);
        loop_timer_cancel(&log_timer);
        log_blocked = false;
        int64_t left = end - sys_mono_ms();
        if (left <= 0)
            break;
        if (e && e != EAGAIN)
            break;
        if (log_len && log_len == before) {
            struct pollfd p = { .fd = log_fd, .events = POLLOUT };
            if (poll(&p, 1, (int)left) <= 0 || (p.revents & (POLLERR | POLLNVAL)))
                break;
        }
    }
}

/* --- re-exec ----------------------------------------------------------------- */

/* Where the log goes: fd 2 itself, nowhere (paused), or a private copy of
 * the log.dest handle (restored by log_dest_restore, below). */
enum { LOG_TO_FD2, LOG_TO_NONE, LOG_TO_HANDLE };

/* The filter, where the log goes, and what it holds or lost. */
struct log_rec {
    struct state_val level, to, lost, held;
};

static const struct state_def log_defs[] = {
    STATE_INT(struct log_rec, level, LOG_NONE, LOG_FATAL, LOG_FILTER_DEFAULT),
    STATE_INT(struct log_rec, to, LOG_TO_FD2, LOG_TO_HANDLE, LOG_TO_FD2),
    STATE_INT(struct log_rec, lost, 0, INT64_MAX, 0),
    /* lines not written yet, which the new process writes */
    STATE_BYTES(struct log_rec, held, LOG_BUF_SIZE),
};
STATE_RECORD(log_record, "log", struct log_rec, log_defs, STATE_SLOTS(struct log_rec), 0);

void log_save(struct state_out *o)
{
    struct log_rec rec = {
        .level.i = log_filter_level,
        .to.i = log_fd < 0 ? LOG_TO_NONE : log_fd_ours ? LOG_TO_HANDLE : LOG_TO_FD2,
        .lost.i = (int64_t)log_lost, .held.s = log_buf, .held.len = log_len,
    };
    state_write(o, &log_record, &rec);
}

bool log_restore(const struct state_rec *r, const char **err)
{
    struct log_rec rec;
    if (!state_read(r, &log_record, &rec, err))
        return false;
    log_setup();
    /* What the new process logged before this record comes after. */
    char held[LOG_BUF_SIZE];
    size_t n = log_len;
    memcpy(held, log_buf, n);
    log_len = 0;
    log_append(rec.held.s, rec.held.len);
    log_append(held, n);
    log_lost += (unsigned long)rec.lost.i;
    log_filter_level = (int)rec.level.i;
    log_set_fd(rec.to.i == LOG_TO_FD2 ? 2 : -1);
    return true;
}

/* --- log.dest fd NAME ------------------------------------------------------ */

/* The handle name log.dest follows ("" = the default stderr). */
static char follow_name[LOG_DEST_NAME_MAX + 1];
static log_lookup_fn follow_lookup;

void log_set_lookup(log_lookup_fn fn) { follow_lookup = fn; }

void log_follow(const char *name, int fd)
{
    fmt_snprintf(follow_name, sizeof follow_name, "%s", name);
    log_set_fd(fd);
}

void log_follow_changed(const char *name, int fd)
{
    if (follow_name[0] && strcmp(name, follow_name) == 0)
        log_set_fd(fd);
}

/* The handle log.dest follows. */
struct log_dest_rec {
    struct state_val handle;
};

static const struct state_def log_dest_defs[] = {
    STATE_STR(struct log_dest_rec, handle, LOG_DEST_NAME_MAX),
};
STATE_RECORD(log_dest_record, "log.dest", struct log_dest_rec, log_dest_defs, 0, 0);

void log_dest_save(struct state_out *o)
{
    if (!follow_name[0])
        return;
    struct log_dest_rec rec = { .handle.s = follow_name };
    state_write(o, &log_dest_record, &rec);
}

bool log_dest_restore(const struct state_rec *r, const char **err)
{
    struct log_dest_rec rec;
    if (!state_read(r, &log_dest_record, &rec, err))
        return false;
    if (!proto_name_valid(rec.handle.s, LOG_DEST_NAME_MAX)) {
        *err = "record log.dest, field handle: not a handle name";
        return false;
    }
    memcpy(follow_name, rec.handle.s, rec.handle.len + 1);
    int fd = follow_lookup ? follow_lookup(rec.handle.s) : -1;
    if (fd >= 0)
        log_set_fd(fd);
    return true;
}
