/* loop.h - the event loop: fd watches (epoll), deadlines (a binary heap)
 * and deferred tasks.  Nothing else.
 *
 * Watches and timers are small structs embedded in their owner's object so
 * that arming them never allocates; treat their members as private.  All
 * times are CLOCK_MONOTONIC milliseconds.
 *
 * Fds (the rule everywhere): a function never takes ownership of an fd it
 * is given unless its comment says it takes it; one that takes an fd owns
 * it from the call on and closes it itself, also when it fails.
 * A watch never takes its fd: delete the watch before closing the fd.
 */
#ifndef LOOP_H
#define LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOOP_IN  0x001u  /* EPOLLIN */
#define LOOP_OUT 0x004u  /* EPOLLOUT */
#define LOOP_ERR 0x008u  /* EPOLLERR */
#define LOOP_HUP 0x010u  /* EPOLLHUP */

typedef void (*loop_fd_fn)(void *ctx, uint32_t events);
typedef void (*loop_fn)(void *ctx);

typedef struct loop_watch {
    int fd;
    uint32_t events;
    bool added;
    loop_fd_fn fn;
    void *ctx;
} loop_watch;

/* A timer's callback gets the timer, and its owner (in which the timer is
 * embedded) finds itself with loop_owner(): there is no context pointer,
 * since there are as many timers as services. */
typedef struct loop_timer loop_timer;
typedef void (*loop_timer_fn)(loop_timer *t);
struct loop_timer {
    int64_t when;        /* deadline, ms */
    uint32_t heap_idx;   /* 0 = not armed; else index+1 in the heap */
    loop_timer_fn fn;
};
#define loop_owner(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

typedef struct loop_task {
    struct loop_task *next;
    unsigned gen;        /* run pass it was queued for */
    bool queued;
    loop_fn fn;
    void *ctx;
} loop_task;

/* Create the epoll instance.  Returns 0 or -1 with errno. */
int loop_init(void);

/* Initialise a watch for fd.  Does not register it. */
void loop_watch_init(loop_watch *w, int fd, loop_fd_fn fn, void *ctx);
/* Set the interest set (LOOP_IN|LOOP_OUT; 0 = none).  Registers the fd on
 * first use.  Returns 0, or -1 with errno (EPERM: fd cannot be polled,
 * e.g. a regular file). */
int loop_watch_set(loop_watch *w, uint32_t events);
/* Unregister (must be called before the fd is closed or reused). */
void loop_watch_del(loop_watch *w);

/* Static initialisers, or the _init functions at run time. */
#define LOOP_TIMER_INIT(fn_) { .when = 0, .heap_idx = 0, .fn = (fn_) }
#define LOOP_TASK_INIT(fn_, ctx_) { .next = 0, .gen = 0, .queued = false, .fn = (fn_), .ctx = (ctx_) }

void loop_timer_init(loop_timer *t, loop_timer_fn fn);
/* Arm (or re-arm) t to fire once at absolute time `when` ms.  Never
 * allocates while the armed timers fit the reserved room (below); beyond
 * it the heap grows, and false means it could not (t is not armed). */
bool loop_timer_at(loop_timer *t, int64_t when);
void loop_timer_cancel(loop_timer *t);
static inline bool loop_timer_armed(const loop_timer *t) { return t->heap_idx != 0; }
/* The deadline t was last armed for. */
static inline int64_t loop_timer_when(const loop_timer *t) { return t->when; }

/* Room in the deadline heap.  An object made at run time (a controller, a
 * service) reserves a slot for each of its timers before it may need them
 * (when it is created, or first started) and releases them when it goes,
 * so that arming a timer never needs memory: running out shows as an
 * error of the command that created or started the object.
 * The few timers of start-up modules (log, control socket) fit in a room
 * loop_init() sets aside.  reserve returns false (nothing reserved) when
 * the heap cannot grow; prealloc makes room for n more reservations now
 * (--service-pool: none of them will allocate later). */
bool loop_timer_reserve(unsigned n);
void loop_timer_release(unsigned n);
bool loop_timer_prealloc(unsigned n);

void loop_task_init(loop_task *k, loop_fn fn, void *ctx);
/* Run k once at the end of this (or the start of the next) iteration,
 * before the loop sleeps again.  Idempotent while queued. */
void loop_task_queue(loop_task *k);
void loop_task_cancel(loop_task *k);
static inline bool loop_task_queued(const loop_task *k) { return k->queued; }

/* Time cached at the start of the current iteration. */
int64_t loop_now(void);
/* Re-read the clock (after something slow). */
int64_t loop_now_update(void);

/* One iteration: wait for fds/timers (no wait when tasks are queued),
 * dispatch everything ready.  Returns 0, or -1 with errno when
 * epoll_wait failed for another reason than EINTR (then nothing was
 * dispatched: the caller decides, since waiting again would spin). */
int loop_run_once(void);
/* The same, waiting at most max_wait_ms (0: only what is ready
 * now; -1: as long as needed). */
int loop_poll(int max_wait_ms);

/* Number of registered watches and armed timers (for tests/statistics). */
unsigned loop_watch_count(void);

#endif
