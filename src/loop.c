/* loop.c - epoll watches, a binary heap of deadlines, deferred tasks.
 *
 * Level-triggered epoll: a module that leaves input unread is woken again,
 * so nobody has to drain an fd completely in one go (fairness between
 * controllers comes from bounded work per wakeup).  Input a module has
 * already buffered is not visible to epoll; such modules queue a task.
 */
#include "loop.h"
#include "sys.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>

#define LOOP_BATCH 128

static int loop_epfd = -1;
static int64_t loop_cur;
static unsigned loop_nwatch;

/* Timers of start-up modules, which reserve nothing (see loop.h). */
#define LOOP_STATIC_TIMERS 8

static loop_timer **heap;
static uint32_t heap_len, heap_cap;
static uint32_t heap_reserved = LOOP_STATIC_TIMERS;

static loop_task *task_head, **task_tail = &task_head;
static unsigned task_gen;

int loop_init(void)
{
    if (!loop_timer_reserve(0)) {
        errno = ENOMEM;
        return -1;
    }
    loop_epfd = epoll_create1(EPOLL_CLOEXEC);
    loop_cur = sys_mono_ms();
    return loop_epfd < 0 ? -1 : 0;
}

int64_t loop_now(void) { return loop_cur; }
int64_t loop_now_update(void) { return loop_cur = sys_mono_ms(); }
unsigned loop_watch_count(void) { return loop_nwatch; }

/* --- fd watches ---------------------------------------------------------- */

void loop_watch_init(loop_watch *w, int fd, loop_fd_fn fn, void *ctx)
{
    w->fd = fd;
    w->events = 0;
    w->added = false;
    w->fn = fn;
    w->ctx = ctx;
}

int loop_watch_set(loop_watch *w, uint32_t events)
{
    if (w->added && w->events == events)
        return 0;
    struct epoll_event ev = { .events = events, .data.ptr = w };
    if (!w->added) {
        if (epoll_ctl(loop_epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0)
            return -1;
        w->added = true;
        loop_nwatch++;
    } else if (epoll_ctl(loop_epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0) {
        return -1;
    }
    w->events = events;
    return 0;
}

void loop_watch_del(loop_watch *w)
{
    if (!w->added)
        return;
    int e = errno;
    epoll_ctl(loop_epfd, EPOLL_CTL_DEL, w->fd, NULL);
    errno = e;
    w->added = false;
    w->events = 0;
    loop_nwatch--;
}

/* --- timers: a binary min-heap of pointers; heap_idx is 1-based ------------ */

static void heap_place(uint32_t i, loop_timer *t)
{
    heap[i] = t;
    t->heap_idx = i + 1;
}

static void heap_up(uint32_t i)
{
    loop_timer *t = heap[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (heap[p]->when <= t->when)
            break;
        heap_place(i, heap[p]);
        i = p;
    }
    heap_place(i, t);
}

static void heap_down(uint32_t i)
{
    loop_timer *t = heap[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= heap_len)
            break;
        if (c + 1 < heap_len && heap[c + 1]->when < heap[c]->when)
            c++;
        if (t->when <= heap[c]->when)
            break;
        heap_place(i, heap[c]);
        i = c;
    }
    heap_place(i, t);
}

void loop_timer_init(loop_timer *t, loop_timer_fn fn)
{
    t->when = 0;
    t->heap_idx = 0;
    t->fn = fn;
}

void loop_timer_cancel(loop_timer *t)
{
    if (!t->heap_idx)
        return;
    uint32_t i = t->heap_idx - 1;
    t->heap_idx = 0;
    loop_timer *last = heap[--heap_len];
    if (i == heap_len)
        return;
    heap_place(i, last);
    heap_up(i);
    heap_down(last->heap_idx - 1);
}

/* Make the heap hold at least `want` timers. */
static bool heap_grow(uint32_t want)
{
    if (want <= heap_cap)
        return true;
    uint32_t ncap = heap_cap ? heap_cap : 64;
    while (ncap < want)
        ncap *= 2;
    loop_timer **n = realloc(heap, ncap * sizeof *n);
    if (!n)
        return false;
    heap = n;
    heap_cap = ncap;
    return true;
}

bool loop_timer_reserve(unsigned n)
{
    if (n > UINT32_MAX - heap_reserved || !heap_grow(heap_reserved + n))
        return false;
    heap_reserved += n;
    return true;
}

void loop_timer_release(unsigned n)
{
    heap_reserved -= n <= heap_reserved - LOOP_STATIC_TIMERS ? n : heap_reserved - LOOP_STATIC_TIMERS;
}

bool loop_timer_prealloc(unsigned n)
{
    return n <= UINT32_MAX - heap_reserved && heap_grow(heap_reserved + n);
}

bool loop_timer_at(loop_timer *t, int64_t when)
{
    if (t->heap_idx) {
        int64_t old = t->when;
        t->when = when;
        if (when < old)
            heap_up(t->heap_idx - 1);
        else
            heap_down(t->heap_idx - 1);
        return true;
    }
    /* Only a timer whose owner reserved nothing can find the heap full. */
    if (heap_len == heap_cap && !heap_grow(heap_cap + 1))
        return false;
    t->when = when;
    heap_place(heap_len++, t);
    heap_up(heap_len - 1);
    return true;
}

/* --- deferred tasks -------------------------------------------------------- */

void loop_task_init(loop_task *k, loop_fn fn, void *ctx)
{
    k->next = NULL;
    k->queued = false;
    k->fn = fn;
    k->ctx = ctx;
}

void loop_task_queue(loop_task *k)
{
    if (k->queued)
        return;
    k->queued = true;
    k->next = NULL;
    k->gen = task_gen;
    *task_tail = k;
    task_tail = &k->next;
}

void loop_task_cancel(loop_task *k)
{
    if (!k->queued)
        return;
    for (loop_task **pp = &task_head; *pp; pp = &(*pp)->next) {
        if (*pp == k) {
            *pp = k->next;
            if (task_tail == &k->next)
                task_tail = pp;
            break;
        }
    }
    k->queued = false;
    k->next = NULL;
}

static void run_tasks(void)
{
    /* Run only the tasks queued before this pass (the list is FIFO, so
     * they are at its head): a task that re-queues itself runs again next
     * iteration, after fds had a turn.  "Before" is gen <= this pass, not
     * ==, so tasks left by a pass that never finished (the fuzz target
     * leaves a pass through `terminate`) still run. */
    unsigned gen = task_gen++;
    while (task_head && (int)(task_head->gen - gen) <= 0) {
        loop_task *k = task_head;
        task_head = k->next;
        if (!task_head)
            task_tail = &task_head;
        k->queued = false;
        k->next = NULL;
        k->fn(k->ctx);
    }
}

static void run_timers(void)
{
    while (heap_len && heap[0]->when <= loop_cur) {
        loop_timer *t = heap[0];
        loop_timer_cancel(t);
        t->fn(t);
    }
}

int loop_run_once(void)
{
    return loop_poll(-1);
}

int loop_poll(int max_wait_ms)
{
    int timeout = max_wait_ms;
    if (task_head) {
        timeout = 0;
    } else if (heap_len) {
        int64_t d = heap[0]->when - sys_mono_ms();
        d = d < 0 ? 0 : d > 60000 ? 60000 : d;
        if (timeout < 0 || d < timeout)
            timeout = (int)d;
    }
    struct epoll_event evs[LOOP_BATCH];
    int n = epoll_wait(loop_epfd, evs, LOOP_BATCH, timeout);
    if (n < 0 && errno != EINTR)
        return -1;
    loop_cur = sys_mono_ms();
    for (int i = 0; i < n; i++) {
        loop_watch *w = evs[i].data.ptr;
        /* A callback earlier in this batch may have removed this watch (and
         * maybe freed its owner); owners defer frees to a task, so the
         * pointer is still valid here and `added` tells. */
        if (w->added)
            w->fn(w->ctx, evs[i].events);
    }
    run_timers();
    run_tasks();
    return 0;
}
