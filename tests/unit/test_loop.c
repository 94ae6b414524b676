/* test_loop.c - the event loop's timer heap, deferred tasks and fd watches
 * (loop.h), driven through loop_run_once() with deadlines in the past (or
 * tasks queued, or fds ready) so that it never blocks.  An alarm() guards
 * against a hang. */
#include "loop.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* --- firing log ---------------------------------------------------------- */

enum { LOG_MAX = 20000 };
static int fired[LOG_MAX];
static int64_t fired_when[LOG_MAX];
static int nfired;

struct tmr {
    loop_timer t;
    int id;
    int64_t when;           /* the deadline we asked for last */
    int count;              /* times fired */
};

static void tmr_fire(loop_timer *t)
{
    struct tmr *x = loop_owner(t, struct tmr, t);
    x->count++;
    if (nfired < LOG_MAX) {
        fired_when[nfired] = x->t.when;
        fired[nfired++] = x->id;
    }
}

static void tmr_init(struct tmr *x, int id)
{
    loop_timer_init(&x->t, tmr_fire);
    x->id = id;
    x->count = 0;
    x->when = 0;
}

static void tmr_at(struct tmr *x, int64_t when)
{
    x->when = when;
    loop_timer_at(&x->t, when);
}

static void log_reset(void)
{
    nfired = 0;
}

static bool log_sorted(void)
{
    for (int i = 1; i < nfired; i++)
        if (fired_when[i - 1] > fired_when[i])
            return false;
    return true;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 13);
}

/* --- timers -------------------------------------------------------------- */

static void test_init(void)
{
    CHECK_EQ(loop_init(), 0);
    int64_t a = loop_now();
    int64_t b = loop_now_update();
    CHECK(a > 0);
    CHECK(b >= a);
    CHECK_EQ(loop_now(), b);
    CHECK_EQ(loop_watch_count(), 0);
}

static void test_timer_single(void)
{
    struct tmr a;
    tmr_init(&a, 1);
    CHECK(!loop_timer_armed(&a.t));
    loop_timer_cancel(&a.t);                /* never armed: no-op */
    CHECK(!loop_timer_armed(&a.t));

    int64_t now = loop_now_update();
    tmr_at(&a, now - 10);
    CHECK(loop_timer_armed(&a.t));
    log_reset();
    loop_run_once();
    CHECK_EQ(a.count, 1);
    CHECK(!loop_timer_armed(&a.t));
    CHECK(loop_now() >= now);

    /* A timer exactly at "now" is due. */
    now = loop_now_update();
    tmr_at(&a, now);
    loop_run_once();
    CHECK_EQ(a.count, 2);
    CHECK(!loop_timer_armed(&a.t));

    /* Re-arming a fired timer works. */
    tmr_at(&a, loop_now_update() - 1);
    loop_run_once();
    CHECK_EQ(a.count, 3);
}

static void test_timer_order(void)
{
    enum { N = 1000, F = 50 };
    static struct tmr t[N], future[F];
    int64_t now = loop_now_update();
    for (int i = 0; i < F; i++) {
        tmr_init(&future[i], 10000 + i);
        tmr_at(&future[i], now + 3600000 + (int64_t)(rnd() % 1000));
    }
    for (int i = 0; i < N; i++) {
        tmr_init(&t[i], i);
        /* Many equal deadlines among them (rnd % 500). */
        tmr_at(&t[i], now - 1 - (int64_t)(rnd() % 500));
    }
    log_reset();
    loop_run_once();
    CHECK_EQ(nfired, N);
    CHECK(log_sorted());
    bool once = true, unarmed = true;
    for (int i = 0; i < N; i++) {
        once &= t[i].count == 1;
        unarmed &= !loop_timer_armed(&t[i].t);
    }
    CHECK(once);
    CHECK(unarmed);
    bool waiting = true;
    for (int i = 0; i < F; i++) {
        waiting &= future[i].count == 0 && loop_timer_armed(&future[i].t);
        loop_timer_cancel(&future[i].t);
        waiting &= !loop_timer_armed(&future[i].t);
    }
    CHECK(waiting);
}

static void test_timer_rearm(void)
{
    struct tmr a, b, c, d;
    tmr_init(&a, 'a');
    tmr_init(&b, 'b');
    tmr_init(&c, 'c');
    tmr_init(&d, 'd');
    int64_t now = loop_now_update();
    tmr_at(&a, now - 100);
    tmr_at(&b, now - 200);
    tmr_at(&c, now - 300);
    tmr_at(&d, now - 400);
    /* c later, a earlier, d into the future, b re-armed at the same time. */
    tmr_at(&c, now - 50);
    tmr_at(&a, now - 500);
    tmr_at(&d, now + 3600000);
    tmr_at(&b, now - 200);
    CHECK(loop_timer_armed(&d.t));
    log_reset();
    loop_run_once();
    if (CHECK_EQ(nfired, 3)) {
        CHECK_EQ(fired[0], 'a');
        CHECK_EQ(fired[1], 'b');
        CHECK_EQ(fired[2], 'c');
    }
    CHECK_EQ(a.count + b.count + c.count, 3);   /* each once: no stale heap entries */
    CHECK_EQ(d.count, 0);
    CHECK(loop_timer_armed(&d.t));

    /* From the future back into the past. */
    tmr_at(&d, loop_now_update() - 1);
    log_reset();
    loop_run_once();
    CHECK_EQ(nfired, 1);
    CHECK_EQ(d.count, 1);
    CHECK(!loop_timer_armed(&d.t));

    /* Re-arming many times keeps a single entry. */
    now = loop_now_update();
    for (int i = 0; i < 100; i++)
        tmr_at(&a, now - 1 - (int64_t)(rnd() % 1000));
    log_reset();
    loop_run_once();
    CHECK_EQ(nfired, 1);
}

static void test_timer_cancel(void)
{
    enum { N = 100 };
    static struct tmr t[N];
    int64_t now = loop_now_update();
    for (int i = 0; i < N; i++) {
        tmr_init(&t[i], i);
        tmr_at(&t[i], now - 1000 + (int64_t)((i * 37) % N));
    }
    /* Cancel every third: includes the earliest (i = 0), the last armed and
     * entries in the middle of the heap; cancel some twice. */
    for (int i = 0; i < N; i += 3) {
        loop_timer_cancel(&t[i].t);
        CHECK(!loop_timer_armed(&t[i].t));
    }
    loop_timer_cancel(&t[N - 1].t);
    loop_timer_cancel(&t[0].t);
    loop_timer_cancel(&t[3].t);
    log_reset();
    loop_run_once();
    CHECK(log_sorted());
    int want = 0;
    bool ok = true;
    for (int i = 0; i < N; i++) {
        bool cancelled = i % 3 == 0 || i == N - 1;
        ok &= t[i].count == (cancelled ? 0 : 1);
        want += !cancelled;
    }
    CHECK(ok);
    CHECK_EQ(nfired, want);
}

/* Callbacks that change the heap while it is being run. */
static struct tmr cb_a, cb_b, cb_c, cb_self;

static void cancel_b(loop_timer *t)
{
    tmr_fire(t);
    loop_timer_cancel(&cb_b.t);
}

static void arm_c(loop_timer *t)
{
    tmr_fire(t);
    tmr_at(&cb_c, loop_now() - 5);
}

static void rearm_self(loop_timer *t)
{
    tmr_fire(t);
    if (cb_self.count < 3)
        tmr_at(&cb_self, loop_now() + 3600000);
}

static void test_timer_callbacks(void)
{
    tmr_init(&cb_a, 'a');
    tmr_init(&cb_b, 'b');
    loop_timer_init(&cb_a.t, cancel_b);
    int64_t now = loop_now_update();
    tmr_at(&cb_a, now - 20);
    tmr_at(&cb_b, now - 10);        /* due, but a (earlier) cancels it */
    log_reset();
    loop_run_once();
    CHECK_EQ(cb_a.count, 1);
    CHECK_EQ(cb_b.count, 0);
    CHECK(!loop_timer_armed(&cb_b.t));

    /* A callback arming another due timer: it fires (now or next round). */
    tmr_init(&cb_a, 'a');
    tmr_init(&cb_c, 'c');
    loop_timer_init(&cb_a.t, arm_c);
    tmr_at(&cb_a, loop_now_update() - 1);
    loop_run_once();
    if (cb_c.count == 0)
        loop_run_once();
    CHECK_EQ(cb_a.count, 1);
    CHECK_EQ(cb_c.count, 1);

    /* A callback re-arming its own timer for later: armed again, fired once. */
    tmr_init(&cb_self, 's');
    loop_timer_init(&cb_self.t, rearm_self);
    tmr_at(&cb_self, loop_now_update() - 1);
    loop_run_once();
    CHECK_EQ(cb_self.count, 1);
    CHECK(loop_timer_armed(&cb_self.t));
    CHECK(cb_self.t.when > loop_now());
    loop_timer_cancel(&cb_self.t);
}

/* Random arm/re-arm/cancel against a model, then fire everything. */
static void test_timer_random(void)
{
    enum { N = 3000 };
    static struct tmr t[N];
    static bool armed[N];
    int64_t now = loop_now_update();
    for (int i = 0; i < N; i++) {
        tmr_init(&t[i], i);
        armed[i] = false;
    }
    bool ok = true;
    for (int op = 0; op < 20000; op++) {
        int i = (int)(rnd() % N);
        if (rnd() % 3 == 0) {
            loop_timer_cancel(&t[i].t);
            armed[i] = false;
        } else {
            tmr_at(&t[i], now - 1 - (int64_t)(rnd() % 100000));
            armed[i] = true;
        }
        ok &= loop_timer_armed(&t[i].t) == armed[i];
    }
    CHECK(ok);
    int want = 0;
    for (int i = 0; i < N; i++)
        want += armed[i];
    log_reset();
    loop_run_once();
    CHECK_EQ(nfired, want);
    CHECK(log_sorted());
    ok = true;
    for (int i = 0; i < N; i++) {
        ok &= t[i].count == (armed[i] ? 1 : 0);
        ok &= !loop_timer_armed(&t[i].t);
    }
    CHECK(ok);
    /* Each fired with the deadline it was last armed for. */
    ok = true;
    for (int k = 0; k < nfired; k++)
        ok &= fired_when[k] == t[fired[k]].when;
    CHECK(ok);
}

/* --- tasks --------------------------------------------------------------- */

struct tsk {
    loop_task k;
    int id;
    int count;
    int requeue;            /* re-queue itself this many more times */
    loop_task *cancel;      /* cancel this one when run */
};

static void tsk_run(void *ctx)
{
    struct tsk *x = ctx;
    x->count++;
    if (nfired < LOG_MAX)
        fired[nfired++] = x->id;
    if (x->cancel)
        loop_task_cancel(x->cancel);
    if (x->requeue > 0) {
        x->requeue--;
        loop_task_queue(&x->k);
    }
}

static void tsk_init(struct tsk *x, int id)
{
    loop_task_init(&x->k, tsk_run, x);
    x->id = id;
    x->count = 0;
    x->requeue = 0;
    x->cancel = NULL;
}

static bool log_is(const char *ids)
{
    if ((size_t)nfired != strlen(ids))
        return false;
    for (int i = 0; i < nfired; i++)
        if (fired[i] != ids[i])
            return false;
    return true;
}

static void print_log(const char *what)
{
    fprintf(stderr, "  %s ran: ", what);
    for (int i = 0; i < nfired; i++)
        fputc(fired[i], stderr);
    fputc('\n', stderr);
}

#define CHECK_LOG(ids)                      \
    do {                                    \
        if (!CHECK(log_is(ids)))            \
            print_log("expected " ids ",");  \
    } while (0)

static void test_task_fifo(void)
{
    struct tsk a, b, c;
    tsk_init(&a, 'A');
    tsk_init(&b, 'B');
    tsk_init(&c, 'C');
    loop_task_queue(&a.k);
    loop_task_queue(&b.k);
    loop_task_queue(&c.k);
    loop_task_queue(&a.k);      /* idempotent while queued */
    CHECK(a.k.queued && b.k.queued && c.k.queued);
    log_reset();
    loop_run_once();
    CHECK_LOG("ABC");
    CHECK(!a.k.queued && !b.k.queued && !c.k.queued);

    /* Order is queueing order, not initialisation order. */
    loop_task_queue(&c.k);
    loop_task_queue(&a.k);
    loop_task_queue(&b.k);
    log_reset();
    loop_run_once();
    CHECK_LOG("CAB");

    /* Many tasks. */
    enum { N = 500 };
    static struct tsk many[N];
    for (int i = 0; i < N; i++) {
        tsk_init(&many[i], i);
        loop_task_queue(&many[i].k);
    }
    log_reset();
    loop_run_once();
    bool ok = nfired == N;
    for (int i = 0; ok && i < N; i++)
        ok = fired[i] == i && many[i].count == 1;
    CHECK(ok);
}

static void test_task_cancel(void)
{
    struct tsk a, b, c, d, e;
    tsk_init(&a, 'A');
    tsk_init(&b, 'B');
    tsk_init(&c, 'C');
    tsk_init(&d, 'D');
    tsk_init(&e, 'E');

    loop_task_cancel(&a.k);     /* not queued: no-op */
    CHECK(!a.k.queued);

    /* Middle and tail; then the tail pointer must still be right. */
    loop_task_queue(&a.k);
    loop_task_queue(&b.k);
    loop_task_queue(&c.k);
    loop_task_queue(&d.k);
    loop_task_cancel(&b.k);
    loop_task_cancel(&d.k);
    loop_task_cancel(&d.k);     /* twice */
    CHECK(!b.k.queued && !d.k.queued);
    loop_task_queue(&e.k);
    log_reset();
    loop_run_once();
    CHECK_LOG("ACE");

    /* Head. */
    loop_task_queue(&a.k);
    loop_task_queue(&b.k);
    loop_task_cancel(&a.k);
    loop_task_queue(&c.k);
    log_reset();
    loop_run_once();
    CHECK_LOG("BC");

    /* The only one; then the list is usable again. */
    loop_task_queue(&a.k);
    loop_task_cancel(&a.k);
    loop_task_queue(&b.k);
    loop_task_queue(&a.k);
    log_reset();
    loop_run_once();
    CHECK_LOG("BA");

    /* Cancel and re-queue moves a task to the end. */
    loop_task_queue(&a.k);
    loop_task_queue(&b.k);
    loop_task_queue(&c.k);
    loop_task_cancel(&a.k);
    loop_task_queue(&a.k);
    log_reset();
    loop_run_once();
    CHECK_LOG("BCA");

    /* A running task cancels a later one: it does not run. */
    a.cancel = &c.k;
    loop_task_queue(&a.k);
    loop_task_queue(&b.k);
    loop_task_queue(&c.k);
    loop_task_queue(&d.k);
    log_reset();
    loop_run_once();
    CHECK_LOG("ABD");
    CHECK(!c.k.queued);
    a.cancel = NULL;

    /* A task cancelling itself while running is harmless. */
    a.cancel = &a.k;
    loop_task_queue(&a.k);
    loop_task_queue(&b.k);
    log_reset();
    loop_run_once();
    CHECK_LOG("AB");
    a.cancel = NULL;

    /* Cancel everything; nothing runs (a due timer keeps run_once from blocking). */
    loop_task_queue(&a.k);
    loop_task_queue(&b.k);
    loop_task_cancel(&b.k);
    loop_task_cancel(&a.k);
    struct tmr guard;
    tmr_init(&guard, 'T');
    tmr_at(&guard, loop_now_update() - 1);
    log_reset();
    loop_run_once();
    CHECK_LOG("T");
}

static void test_task_requeue(void)
{
    struct tsk r, x;
    tsk_init(&r, 'R');
    tsk_init(&x, 'X');

    /* A task that re-queues itself runs once per iteration. */
    r.requeue = 3;
    loop_task_queue(&r.k);
    for (int i = 1; i <= 4; i++) {
        log_reset();
        loop_run_once();
        CHECK_LOG("R");
        CHECK_EQ(r.count, i);
    }
    CHECK(!r.k.queued);

    /* ... after the tasks queued before it re-queued. */
    r.count = 0;
    r.requeue = 1;
    loop_task_queue(&r.k);
    loop_task_queue(&x.k);
    log_reset();
    loop_run_once();
    CHECK_LOG("RX");
    log_reset();
    loop_run_once();
    CHECK_LOG("R");

    /* A task queued by a timer callback runs in this or the next iteration. */
    struct tmr t;
    tmr_init(&t, 'T');
    tmr_at(&t, loop_now_update() - 1);
    x.count = 0;
    loop_task_queue(&x.k);
    log_reset();
    loop_run_once();
    CHECK_LOG("TX");        /* timers before tasks */
}

/* run_tasks() budgets "as many tasks as were queued on entry" by a counter
 * that loop_task_cancel() also decrements: when a running task cancels a
 * queued one and re-queues itself, it runs again in the same iteration. */
static void test_task_requeue_after_cancel(void)
{
    struct tsk a, b;
    tsk_init(&a, 'A');
    tsk_init(&b, 'B');
    a.requeue = 1;
    a.cancel = &b.k;
    loop_task_queue(&a.k);
    loop_task_queue(&b.k);
    log_reset();
    loop_run_once();
    CHECK(log_is("A"));
    if (a.k.queued) {
        log_reset();
        loop_run_once();
    }
    CHECK_EQ(a.count, 2);
    CHECK_EQ(b.count, 0);
    CHECK(!a.k.queued && !b.k.queued);
}

/* --- fd watches ---------------------------------------------------------- */

struct w {
    loop_watch w;
    int id;
    int calls;
    uint32_t last;
    loop_watch *del;        /* unregister this one when called */
};

static void w_cb(void *ctx, uint32_t ev)
{
    struct w *x = ctx;
    x->calls++;
    x->last = ev;
    if (x->del)
        loop_watch_del(x->del);
}

static void test_watch(void)
{
    int p[2], q[2];
    if (!CHECK(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0) ||
        !CHECK(pipe2(q, O_CLOEXEC | O_NONBLOCK) == 0))
        return;
    struct w r = { .id = 1 }, wr = { .id = 2 };
    loop_watch_init(&r.w, p[0], w_cb, &r);
    loop_watch_init(&wr.w, p[1], w_cb, &wr);
    CHECK_EQ(loop_watch_count(), 0);
    CHECK_EQ(loop_watch_set(&r.w, LOOP_IN), 0);
    CHECK_EQ(loop_watch_set(&r.w, LOOP_IN), 0);     /* unchanged: fine */
    CHECK_EQ(loop_watch_count(), 1);

    /* Not readable yet: a due timer lets run_once return without it. */
    struct tmr guard;
    tmr_init(&guard, 'T');
    tmr_at(&guard, loop_now_update() - 1);
    loop_run_once();
    CHECK_EQ(r.calls, 0);

    CHECK_EQ(write(p[1], "x", 1), 1);
    loop_run_once();
    CHECK_EQ(r.calls, 1);
    CHECK(r.last & LOOP_IN);
    loop_run_once();                /* level-triggered: still unread */
    CHECK_EQ(r.calls, 2);

    /* Interest 0 keeps it registered but silent. */
    CHECK_EQ(loop_watch_set(&r.w, 0), 0);
    CHECK_EQ(loop_watch_count(), 1);
    tmr_at(&guard, loop_now_update() - 1);
    loop_run_once();
    CHECK_EQ(r.calls, 2);

    /* The write end is writable. */
    CHECK_EQ(loop_watch_set(&wr.w, LOOP_OUT), 0);
    CHECK_EQ(loop_watch_count(), 2);
    loop_run_once();
    CHECK_EQ(wr.calls, 1);
    CHECK(wr.last & LOOP_OUT);
    loop_watch_del(&wr.w);
    loop_watch_del(&wr.w);          /* twice: no-op */
    CHECK_EQ(loop_watch_count(), 1);
    loop_watch_del(&r.w);
    CHECK_EQ(loop_watch_count(), 0);

    /* Two ready watches; whichever runs first unregisters the other, which
     * must then not be called (the batch is already fetched). */
    struct w a = { .id = 3 }, b = { .id = 4 };
    loop_watch_init(&a.w, p[0], w_cb, &a);
    loop_watch_init(&b.w, q[0], w_cb, &b);
    a.del = &b.w;
    b.del = &a.w;
    CHECK_EQ(write(q[1], "y", 1), 1);
    CHECK_EQ(loop_watch_set(&a.w, LOOP_IN), 0);
    CHECK_EQ(loop_watch_set(&b.w, LOOP_IN), 0);
    loop_run_once();
    CHECK_EQ(a.calls + b.calls, 1);
    CHECK_EQ(loop_watch_count(), 1);
    loop_watch_del(&a.w);
    loop_watch_del(&b.w);
    CHECK_EQ(loop_watch_count(), 0);

    /* A regular file cannot be polled: EPERM, not registered. */
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (CHECK(fd >= 0)) {
        struct w f = { .id = 5 };
        loop_watch_init(&f.w, fd, w_cb, &f);
        errno = 0;
        CHECK_EQ(loop_watch_set(&f.w, LOOP_IN), -1);
        CHECK_EQ(errno, EPERM);
        CHECK_EQ(loop_watch_count(), 0);
        loop_watch_del(&f.w);       /* never added: no-op */
        CHECK_EQ(loop_watch_count(), 0);
        close(fd);
    }
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);
}

/* Reserved room: reservations never fail for sane counts, a released
 * reservation can be taken again, and arming within the reserved room
 * works as before.  An absurd reservation fails and changes nothing. */
static void test_timer_reserve(void)
{
    CHECK(loop_timer_reserve(100));
    CHECK(loop_timer_prealloc(1000));
    CHECK(!loop_timer_reserve(UINT32_MAX));
    CHECK(!loop_timer_prealloc(UINT32_MAX));
    static struct tmr x[100];
    log_reset();
    int64_t now = loop_now_update();
    for (int i = 0; i < 100; i++) {
        tmr_init(&x[i], i);
        CHECK(loop_timer_at(&x[i].t, now - 1000 + (i % 7)));
    }
    loop_run_once();
    CHECK_EQ(nfired, 100);
    CHECK(log_sorted());
    loop_timer_release(100);
    CHECK(loop_timer_reserve(100));
    loop_timer_release(100);
    loop_timer_release(1u << 30);   /* more than reserved: clamped, harmless */
    CHECK(loop_timer_reserve(10));
    loop_timer_release(10);
}

/* epoll_wait failing for another reason than EINTR is reported, with
 * nothing dispatched, instead of returning as if all was well (the daemon
 * would then spin).  Last: it breaks the loop's epoll fd on purpose. */
static void test_poll_error(void)
{
    struct tmr x;
    tmr_init(&x, 1);
    loop_timer_at(&x.t, loop_now_update() - 1);
    /* Find the epoll fd through /proc and close it. */
    int closed = 0;
    for (int fd = 3; fd < 256; fd++) {
        char path[64], target[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            if (strstr(target, "eventpoll")) {
                close(fd);
                closed++;
            }
        }
    }
    CHECK_EQ(closed, 1);
    errno = 0;
    CHECK_EQ(loop_poll(0), -1);
    CHECK_EQ(errno, EBADF);
    CHECK_EQ(x.count, 0);       /* nothing dispatched */
    loop_timer_cancel(&x.t);
}

static void test_guard(void)
{
    alarm(30);      /* loop_run_once() with nothing due would block forever */
}

UNIT_MAIN(test_guard, test_init, test_timer_single, test_timer_order, test_timer_rearm,
          test_timer_cancel, test_timer_callbacks, test_timer_random, test_task_fifo,
          test_task_cancel, test_task_requeue, test_task_requeue_after_cancel, test_watch,
          test_timer_reserve, test_poll_error)
