/* outbuf.c - a controller's event stream (see outbuf.h).
 *
 * The buffer grows from 4 KiB up to OUTBUF_MAX and only ever holds whole
 * lines.  The fd is watched all the time, for LOOP_OUT only while a write
 * is blocked: hang-ups and errors are reported by epoll even with no
 * interest, which is how a reader that went away is noticed while there is
 * nothing to write.  Regular files cannot be watched; writes to them never
 * block.
 */
#include "outbuf.h"
#include "log.h"
#include "loop.h"
#include "state.h"
#include "sys.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define OUTBUF_INIT 4096
#define OUTBUF_RESET_DEFAULT_MS (15 * 1000)
#define OUTBUF_CLOSE_DEFAULT_MS (30 * 1000)

struct outbuf {
    int fd;                     /* -1 once the stream is closed */
    bool pollable;
    bool blocked;               /* the last write could not finish */
    bool overflowed;            /* dropping lines until drained */
    loop_watch w;
    loop_timer reset_t, close_t;
    int64_t reset_ms, close_ms;
    char *buf;
    size_t off, len, cap;       /* pending: buf[off..len) */
    const char *name;
    outbuf_fn fn;
    void *ctx;
};

static void watch_cb(void *ctx, uint32_t ev);
static void reset_cb(loop_timer *t);
static void close_cb(loop_timer *t);

struct outbuf *outbuf_new(int fd, const char *name, outbuf_fn fn, void *ctx)
{
    struct outbuf *o = calloc(1, sizeof *o);
    if (!o || !loop_timer_reserve(2)) {
        free(o);
        sys_close(fd);
        errno = ENOMEM;
        return NULL;
    }
    o->fd = fd;
    o->name = name;
    o->fn = fn;
    o->ctx = ctx;
    o->reset_ms = OUTBUF_RESET_DEFAULT_MS;
    o->close_ms = OUTBUF_CLOSE_DEFAULT_MS;
    loop_timer_init(&o->reset_t, reset_cb);
    loop_timer_init(&o->close_t, close_cb);
    loop_watch_init(&o->w, fd, watch_cb, o);
    o->pollable = loop_watch_set(&o->w, 0) == 0;   /* EPERM: a regular file */
    return o;
}

void outbuf_close(struct outbuf *o)
{
    if (o->fd < 0)
        return;
    loop_watch_del(&o->w);
    loop_timer_cancel(&o->reset_t);
    loop_timer_cancel(&o->close_t);
    sys_close(o->fd);
    o->fd = -1;
    free(o->buf);
    o->buf = NULL;
    o->off = o->len = o->cap = 0;
    o->blocked = o->overflowed = false;
}

void outbuf_free(struct outbuf *o)
{
    if (!o)
        return;
    outbuf_close(o);
    loop_timer_release(2);
    free(o);
}

bool outbuf_alive(const struct outbuf *o) { return o->fd >= 0; }
size_t outbuf_pending(const struct outbuf *o) { return o->len - o->off; }
bool outbuf_overflowed(const struct outbuf *o) { return o->overflowed; }
bool outbuf_blocked(const struct outbuf *o) { return o->blocked; }

size_t outbuf_room(const struct outbuf *o)
{
    if (o->fd < 0 || o->overflowed)
        return 0;
    return OUTBUF_MAX - outbuf_pending(o);
}

char *outbuf_put(struct outbuf *o, const char *line, size_t len)
{
    if (o->fd < 0 || o->overflowed)
        return NULL;
    size_t pend = outbuf_pending(o);
    if (pend + len > OUTBUF_MAX) {
        o->overflowed = true;
        log_debug("%s: event stream overflowed", o->name);
        return NULL;
    }
    if (o->len + len > o->cap) {
        if (o->off) {
            memmove(o->buf, o->buf + o->off, pend);
            o->off = 0;
            o->len = pend;
        }
        if (pend + len > o->cap) {
            size_t ncap = o->cap ? o->cap : OUTBUF_INIT;
            while (ncap < pend + len)
                ncap *= 2;
            if (ncap > OUTBUF_MAX)
                ncap = OUTBUF_MAX;
            char *n = realloc(o->buf, ncap);
            if (!n) {
                o->overflowed = true;   /* lost, and said so once it drains */
                return NULL;
            }
            o->buf = n;
            o->cap = ncap;
        }
    }
    char *at = o->buf + o->len;
    memcpy(at, line, len);
    o->len += len;
    return at;
}

/* The RESET/CLOSE clocks run while output is pending and the reader makes
 * no progress; any progress restarts them. */
static void clocks(struct outbuf *o, bool progress)
{
    if (outbuf_pending(o) == 0) {
        loop_timer_cancel(&o->reset_t);
        loop_timer_cancel(&o->close_t);
    } else if (progress || !loop_timer_armed(&o->close_t)) {
        int64_t now = loop_now_update();
        loop_timer_at(&o->reset_t, now + o->reset_ms);
        loop_timer_at(&o->close_t, now + o->close_ms);
    }
}

bool outbuf_flush(struct outbuf *o)
{
    if (o->fd < 0)
        return false;
    bool progress = false;
    for (int round = 0; round < 2; round++) {
        size_t pend = outbuf_pending(o);
        if (pend == 0)
            break;
        ssize_t n = sys_write(o->fd, o->buf + o->off, pend);
        if (n < 0) {
            if (errno == EAGAIN) {
                o->blocked = true;
                break;
            }
            log_debug("%s: write: %s", o->name, sys_strerror(errno));
            outbuf_close(o);
            return false;
        }
        o->off += (size_t)n;
        progress |= n > 0;
        if ((size_t)n < pend) {
            o->blocked = true;
            break;
        }
        o->off = o->len = 0;
        o->blocked = false;
        if (o->overflowed) {
            /* The stream drained: tell the reader what it missed. */
            o->overflowed = false;
            outbuf_put(o, "overflow\n", 9);
        }
    }
    if (o->pollable)
        loop_watch_set(&o->w, o->blocked ? LOOP_OUT : 0);
    clocks(o, progress);
    return true;
}

void outbuf_set_timeouts(struct outbuf *o, int64_t reset_ms, int64_t close_ms)
{
    o->reset_ms = reset_ms;
    o->close_ms = close_ms;
    if (loop_timer_armed(&o->close_t))
        clocks(o, true);    /* re-base running clocks on the new values */
}

/* Each callback hands over to the owner last: the owner may close the
 * stream (never free it) in its callback. */
static void watch_cb(void *ctx, uint32_t ev)
{
    struct outbuf *o = ctx;
    if (ev & (LOOP_HUP | LOOP_ERR)) {
        log_debug("%s: event stream closed by reader", o->name);
        outbuf_close(o);
        o->fn(o->ctx, OUTBUF_DEAD);
        return;
    }
    o->blocked = false;
    loop_watch_set(&o->w, 0);
    o->fn(o->ctx, OUTBUF_WRITABLE);
}

static void reset_cb(loop_timer *t)
{
    struct outbuf *o = loop_owner(t, struct outbuf, reset_t);
    if (!o->overflowed)
        log_warn("%s: event stream blocked for %llds, discarding events",
                 o->name, (long long)(o->reset_ms / 1000));
    o->overflowed = true;
    o->fn(o->ctx, OUTBUF_RESET);
}

static void close_cb(loop_timer *t)
{
    struct outbuf *o = loop_owner(t, struct outbuf, close_t);
    log_warn("%s: event stream blocked for %llds, closing",
             o->name, (long long)(o->close_ms / 1000));
    o->fn(o->ctx, OUTBUF_CLOSE);
}

/* --- re-exec ----------------------------------------------------------------- */

static const struct state_def outbuf_defs[] = {
    STATE_FD(struct outbuf_rec, fd, true),
    STATE_BYTES(struct outbuf_rec, pending, OUTBUF_MAX),
    STATE_INT(struct outbuf_rec, overflowed, 0, 1, 0),
    STATE_INT(struct outbuf_rec, reset_ms, 0, INT64_MAX, OUTBUF_RESET_DEFAULT_MS),
    STATE_INT(struct outbuf_rec, close_ms, 0, INT64_MAX, OUTBUF_CLOSE_DEFAULT_MS),
};
STATE_RECORD(outbuf_record, "outbuf", struct outbuf_rec, outbuf_defs, 0, 0);

void outbuf_save(const struct outbuf *o, struct outbuf_rec *rec)
{
    *rec = (struct outbuf_rec){
        .fd.i = o ? o->fd : -1,
        .pending = { .s = o && o->buf ? o->buf + o->off : NULL, .len = o ? outbuf_pending(o) : 0 },
        .overflowed.i = o && o->overflowed,
        .reset_ms.i = o ? o->reset_ms : 0,
        .close_ms.i = o ? o->close_ms : 0,
    };
}

struct outbuf *outbuf_restore(const struct outbuf_rec *rec, const char *name, outbuf_fn fn,
                              void *ctx, const char **err)
{
    if (rec->fd.i < 0)
        return NULL;
    struct outbuf *o = outbuf_new((int)rec->fd.i, name, fn, ctx);
    if (!o) {
        *err = "out of memory";
        return NULL;
    }
    o->reset_ms = rec->reset_ms.i;
    o->close_ms = rec->close_ms.i;
    if (rec->pending.len && !outbuf_put(o, rec->pending.s, rec->pending.len)) {
        *err = "out of memory";
        outbuf_free(o);
        return NULL;
    }
    o->overflowed = rec->overflowed.i;
    return o;
}
