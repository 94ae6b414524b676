/* service.c - services: definitions, state machine, run queue, indexes
 * (service.h).
 *
 * A service is one fixed struct plus one string block holding
 * "name\0args\0fds\0tags\0", where args, fds and tags are kept TAB-joined
 * exactly as they appear in events, so reporting and dumping them is a
 * copy.  With --service-pool the string block lives in the pool block
 * behind the struct and never moves.
 */
#include "service.h"
#include "handle.h"
#include "log.h"
#include "loop.h"
#include "pool.h"
#include "protocol.h"
#include "signals.h"
#include "spawn.h"
#include "sys.h"
#include "tree.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SVC_DEFAULT_FDS "null\tnull\tnull"
#define SVC_POOL_DEFAULT_SIZE 512
#define SVC_POOL_MIN_SIZE 64
#define TRIG_ALWAYS 1u
/* Trigger bits after ALWAYS: 2 << k for control signal k (signals.h). */
_Static_assert(SIG_NCONTROL < 8, "triggers fit a byte");

struct service {
    struct tree_node node;      /* by name */
    /* UP: the next in the pid hash chain; START and due: the next in the
     * run queue.  A service is never in both. */
    struct service *link;
    loop_timer start_t;         /* a pending start in the future */
    void *attachment;           /* the listener's */
    char *str;                  /* name \0 args \0 fds \0 tags \0 */
    int64_t up_ms;              /* start of the current/last run */
    int64_t down_ms;            /* end of the last run; 0 = never ran */
    int64_t attempt_ms;         /* last spawn (MIN_INTERVAL base) */
    int64_t start_ms;           /* START: when it starts, or was due */
    pid_t pid;                  /* running pid, or the last one */
    int status;                 /* wait status of the last run */
    uint32_t interval;          /* auto-up MIN_INTERVAL, seconds */
    uint16_t args_off, fds_off, tags_off, str_len, str_cap;
    uint8_t state;              /* enum svc_state */
    uint8_t triggers;           /* TRIG_ALWAYS | 2 << k for control signal k */
    bool start_auto;            /* the pending start came from auto-up */
    bool queued;                /* in the run queue */
    bool timer_room;            /* holds its timer's room in the heap */
};

static const char *node_key(const struct tree_node *n);
static struct tree services = TREE_INIT(node_key);
static struct pool svc_mem;
static size_t svc_str_cap;      /* with a pool: the string room of each block */
static struct service **pid_tab;
static size_t pid_tab_size, n_sig_triggered;
static const struct svc_listener *listener;
static char spawn_argbuf[PROTO_LINE_MAX + 1];
static char *spawn_argv[PROTO_FIELDS_MAX + 1];
static int spawn_fds[PROTO_FIELDS_MAX];

static bool pid_tab_reserve(size_t want);
static void start_timer_cb(loop_timer *t);
static void auto_up_eval(struct service *s, bool command);

static const char *node_key(const struct tree_node *n)
{
    return ((const struct service *)n)->str;
}

const char *svc_name(const struct service *s) { return s->str; }
enum svc_state svc_state(const struct service *s) { return (enum svc_state)s->state; }
void *svc_attachment(const struct service *s) { return s->attachment; }
void svc_set_attachment(struct service *s, void *p) { s->attachment = p; }
void svc_set_listener(const struct svc_listener *l) { listener = l; }
static const char *svc_args(const struct service *s) { return s->str + s->args_off; }
static const char *svc_fds(const struct service *s) { return s->str + s->fds_off; }
static const char *svc_tags(const struct service *s) { return s->str + s->tags_off; }
static int64_t sec(int64_t ms) { return ms / 1000; }

void svc_pool(int64_t n, int64_t size)
{
    if (size == 0)
        size = SVC_POOL_DEFAULT_SIZE;
    if (size < SVC_POOL_MIN_SIZE) {
        log_warn("service pool object size %lld is below the minimum of %d; using %d",
                 (long long)size, SVC_POOL_MIN_SIZE, SVC_POOL_MIN_SIZE);
        size = SVC_POOL_MIN_SIZE;
    }
    if (size > 65535) {
        log_warn("service pool object size %lld is above the maximum of 65535; using 65535",
                 (long long)size);
        size = 65535;
    }
    /* The blocks, their pid index slots and their start timers' heap room:
     * nothing a pooled service does allocates later. */
    if (!pool_init(&svc_mem, (size_t)n, sizeof(struct service) + (size_t)size) ||
        !pid_tab_reserve((size_t)n) || !loop_timer_prealloc((unsigned)n))
        log_error("cannot allocate service pool of %lld x %lld", (long long)n, (long long)size);
    svc_str_cap = (size_t)size;
}

bool svc_name_valid(const char *name)
{
    return proto_name_valid(name, SVC_NAME_MAX);
}

struct service *svc_by_name(const char *name)
{
    return (struct service *)tree_find(&services, name);
}

struct service *svc_next_after(const char *name)
{
    return (struct service *)tree_next_after(&services, name);
}

/* --- strings ----------------------------------------------------------------- */

/* Rebuild the string block with one of args/fds/tags replaced by `val`
 * (n fields, TAB-joined).  which: 0 args, 1 fds, 2 tags. */
static bool set_strings(struct service *s, int which, int n, char **val, const char **err)
{
    const char *old[3] = { svc_args(s), svc_fds(s), svc_tags(s) };
    size_t name_len = strlen(s->str) + 1;
    size_t vlen = 0;
    for (int i = 0; i < n; i++)
        vlen += strlen(val[i]) + 1;
    if (n == 0)
        vlen = 1;
    size_t lens[3];
    for (int k = 0; k < 3; k++)
        lens[k] = k == which ? vlen : strlen(old[k]) + 1;
    size_t total = name_len + lens[0] + lens[1] + lens[2];
    if (total > 65535) {
        *err = "service definition too long";
        return false;
    }
    char tmp[3 * (PROTO_LINE_MAX + 1) + SVC_NAME_MAX + 1];
    if (total > sizeof tmp) {
        *err = "service definition too long";
        return false;
    }
    /* Assemble in a scratch buffer first: old strings point into s->str. */
    char *p = tmp;
    memcpy(p, s->str, name_len);
    p += name_len;
    uint16_t offs[3];
    for (int k = 0; k < 3; k++) {
        offs[k] = (uint16_t)(p - tmp);
        if (k == which) {
            for (int i = 0; i < n; i++) {
                size_t l = strlen(val[i]);
                memcpy(p, val[i], l);
                p += l;
                *p++ = i + 1 < n ? '\t' : '\0';
            }
            if (n == 0)
                *p++ = '\0';
        } else {
            memcpy(p, old[k], lens[k]);
            p += lens[k];
        }
    }
    if (pool_active(&svc_mem)) {
        if (total > s->str_cap) {
            *err = "unable to allocate: service definition exceeds the service pool object size";
            return false;
        }
    } else if (total > s->str_cap || total < s->str_cap / 2) {
        char *nb = realloc(s->str, total);
        if (!nb) {
            *err = "unable to allocate service strings";
            return false;
        }
        s->str = nb;
        s->str_cap = (uint16_t)total;
    }
    memcpy(s->str, tmp, total);
    s->args_off = offs[0];
    s->fds_off = offs[1];
    s->tags_off = offs[2];
    s->str_len = (uint16_t)total;
    return true;
}


struct service *svc_get_or_create(const char *name, const char **err)
{
    struct service *s = svc_by_name(name);
    if (s)
        return s;
    if (!svc_name_valid(name)) {
        *err = "invalid service name";
        return NULL;
    }
    if (!pid_tab_reserve(tree_count(&services) + 1)) {
        *err = "unable to allocate service (pid index)";
        return NULL;
    }
    size_t nl = strlen(name) + 1;
    size_t need = nl + 1 + sizeof SVC_DEFAULT_FDS + 1;
    if (pool_active(&svc_mem)) {
        s = pool_alloc(&svc_mem, sizeof *s + need);
        if (!s) {
            *err = "unable to allocate service (service pool exhausted)";
            return NULL;
        }
        memset(s, 0, sizeof *s);
        s->str = (char *)(s + 1);
        s->str_cap = (uint16_t)svc_str_cap;
    } else {
        s = calloc(1, sizeof *s);
        char *str = malloc(need);
        if (!s || !str) {
            free(s);
            free(str);
            *err = "unable to allocate service";
            return NULL;
        }
        s->str = str;
        s->str_cap = (uint16_t)need;
    }
    char *p = s->str;
    memcpy(p, name, nl);
    s->args_off = (uint16_t)nl;
    p[nl] = '\0';
    s->fds_off = (uint16_t)(nl + 1);
    memcpy(p + nl + 1, SVC_DEFAULT_FDS, sizeof SVC_DEFAULT_FDS);
    s->tags_off = (uint16_t)(nl + 1 + sizeof SVC_DEFAULT_FDS);
    p[s->tags_off] = '\0';
    s->str_len = (uint16_t)need;
    s->interval = 1;
    s->state = SVC_DOWN;
    loop_timer_init(&s->start_t, start_timer_cb);
    tree_insert(&services, &s->node);
    return s;
}

/* --- reports --------------------------------------------------------------------- */

static void report(enum svc_event ev, struct service *s, struct proto_line *l,
                   const void *cause)
{
    size_t n = proto_line_end(l);
    if (!listener)
        return;
    struct svc_report r = { .ev = ev, .s = s, .line = l->buf, .len = n, .cause = cause };
    listener->report(&r);
}

static void format_state(const struct service *s, struct proto_line *l, bool deleted)
{
    int64_t now = loop_now();
    proto_line_begin(l, "service.state");
    proto_line_add(l, s->str);
    if (deleted) {
        proto_line_add(l, "deleted");
        for (int i = 0; i < 6; i++)
            proto_line_add(l, "-");
        return;
    }
    switch (s->state) {
    case SVC_UP:
        proto_line_add(l, "up");
        proto_line_addi(l, sec(s->up_ms));
        proto_line_addi(l, s->pid);
        proto_line_add(l, "-");
        proto_line_add(l, "-");
        proto_line_addi(l, sec(now - s->up_ms));
        proto_line_add(l, "-");
        return;
    case SVC_START:
        proto_line_add(l, "start");
        proto_line_addi(l, sec(s->start_ms));      /* when it starts (or was due) */
        for (int i = 0; i < 5; i++)
            proto_line_add(l, "-");
        return;
    case SVC_DOWN:
        proto_line_add(l, "down");
        if (!s->down_ms) {
            for (int i = 0; i < 6; i++)
                proto_line_add(l, "-");
            return;
        }
        proto_line_addi(l, sec(s->down_ms));
        proto_line_addi(l, s->pid);
        if (WIFSIGNALED(s->status)) {
            proto_line_add(l, "signal");
            proto_line_add(l, sig_name(WTERMSIG(s->status)));
        } else {
            proto_line_add(l, "exit");
            proto_line_addi(l, WEXITSTATUS(s->status));
        }
        proto_line_addi(l, sec(s->down_ms - s->up_ms));
        proto_line_addi(l, sec(now - s->down_ms));
        return;
    }
}

static void format_field(const struct service *s, struct proto_line *l,
                         const char *event, const char *tsv)
{
    proto_line_begin(l, event);
    proto_line_add(l, s->str);
    proto_line_addtsv(l, tsv);
}

static void format_auto_up(const struct service *s, struct proto_line *l)
{
    proto_line_begin(l, "service.auto_up");
    proto_line_add(l, s->str);
    if (!s->triggers) {
        proto_line_add(l, "-");
        return;
    }
    proto_line_addi(l, s->interval);
    if (s->triggers & TRIG_ALWAYS)
        proto_line_add(l, "always");
    for (int k = 0; k < SIG_NCONTROL; k++)
        if (s->triggers & (2u << k))
            proto_line_add(l, sig_name(sig_control_nth(k)));
}

size_t svc_format_dump(const struct service *s, char *buf, size_t size)
{
    struct proto_line l;
    size_t pos = 0;
    for (int k = 0; k < 5; k++) {
        switch (k) {
        case 0: format_state(s, &l, false); break;
        case 1: format_field(s, &l, "service.tags", svc_tags(s)); break;
        case 2: format_field(s, &l, "service.args", svc_args(s)); break;
        case 3: format_field(s, &l, "service.fds", svc_fds(s)); break;
        case 4: format_auto_up(s, &l); break;
        }
        size_t n = proto_line_end(&l);
        if (pos + n > size)
            return 0;
        memcpy(buf + pos, l.buf, n);
        pos += n;
    }
    return pos;
}

/* A start of s failed: the message goes back to the caller (err, when
 * given) and is reported as an error event tagged with the caller's cause. */
__attribute__((format(printf, 5, 6)))
static void fail(struct service *s, const void *cause, char *err, size_t errlen,
                 const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (err)
        snprintf(err, errlen, "service %s: %s", s->str, msg);
    struct proto_line l;
    proto_line_begin(&l, "error");
    proto_line_addf(&l, "service %s: %s", s->str, msg);
    report(SVC_EV_FAILED, s, &l, cause);
}

/* --- pid index: chained hash ---------------------------------------------------
 *
 * The table is sized by the number of *defined* services (one slot each,
 * rounded up to a power of two) and grown when services are created, so
 * starting a service never allocates: running adds nothing. */

static size_t pid_slot(pid_t pid) { return ((size_t)pid * 2654435761u) & (pid_tab_size - 1); }

/* Make room for `want` services; false if the allocation failed. */
static bool pid_tab_reserve(size_t want)
{
    if (want <= pid_tab_size)
        return true;
    size_t nsize = pid_tab_size ? pid_tab_size : 64;
    while (nsize < want)
        nsize *= 2;
    struct service **nt = calloc(nsize, sizeof *nt);
    if (!nt)
        return false;
    struct service **old = pid_tab;
    size_t osize = pid_tab_size;
    pid_tab = nt;
    pid_tab_size = nsize;
    for (size_t i = 0; i < osize; i++) {
        for (struct service *e = old[i], *next; e; e = next) {
            next = e->link;
            size_t k = pid_slot(e->pid);
            e->link = pid_tab[k];
            pid_tab[k] = e;
        }
    }
    free(old);
    return true;
}

static void pid_insert(struct service *s)
{
    size_t k = pid_slot(s->pid);
    s->link = pid_tab[k];
    pid_tab[k] = s;
}

static struct service *pid_remove(pid_t pid)
{
    if (!pid_tab)
        return NULL;
    for (struct service **pp = &pid_tab[pid_slot(pid)]; *pp; pp = &(*pp)->link) {
        if ((*pp)->pid == pid) {
            struct service *s = *pp;
            *pp = s->link;
            s->link = NULL;
            return s;
        }
    }
    return NULL;
}

/* --- the state machine ------------------------------------------------------------ */

static void runq_remove(struct service *s);

/* The one place a service's state changes.  Leaving START drops the pending
 * start (timer or run queue); the new state is reported; when a run ended
 * (an exit, or a start that failed) auto-up may start it again.  A
 * cancellation is not an end: a controller that cancels a start must not
 * see auto-up undo it. */
static void set_state(struct service *s, enum svc_state st, bool ended)
{
    if (s->state == SVC_START && st != SVC_START) {
        loop_timer_cancel(&s->start_t);
        runq_remove(s);
    }
    s->state = (uint8_t)st;
    struct proto_line l;
    format_state(s, &l, false);
    if (log_enabled(LOG_DEBUG))
        log_debug("%s", l.buf);
    report(SVC_EV_STATE, s, &l, NULL);
    if (ended)
        auto_up_eval(s, false);
}

/* Enter START for a start at when_ms (reported again if its second
 * changed). */
static void enter_start(struct service *s, int64_t when_ms, bool automatic)
{
    bool same = s->state == SVC_START && sec(s->start_ms) == sec(when_ms);
    s->start_auto = automatic;
    s->start_ms = when_ms;
    if (!same)
        set_state(s, SVC_START, false);
}

/* --- the run queue: due starts, spawned SVC_SPAWN_BATCH per iteration ------- */

static struct service *runq_head, *runq_tail;
static void runq_cb(void *ctx);
static loop_task runq_task = LOOP_TASK_INIT(runq_cb, NULL);

static void runq_push(struct service *s)
{
    if (s->queued)
        return;
    s->queued = true;
    s->link = NULL;
    if (runq_tail)
        runq_tail->link = s;
    else
        runq_head = s;
    runq_tail = s;
    loop_task_queue(&runq_task);
}

/* O(queue length): only a cancelled or deleted start leaves from the middle. */
static void runq_remove(struct service *s)
{
    if (!s->queued)
        return;
    for (struct service **pp = &runq_head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->link) {
        if (*pp == s) {
            *pp = s->link;
            if (runq_tail == s)
                runq_tail = prev;
            break;
        }
    }
    s->link = NULL;
    s->queued = false;
}

/* Wait in START: on the timer for a future start, in the run queue for a
 * due one. */
static void schedule(struct service *s, int64_t when_ms, bool automatic)
{
    enter_start(s, when_ms, automatic);
    if (when_ms > loop_now_update()) {
        runq_remove(s);
        loop_timer_at(&s->start_t, when_ms);   /* cannot fail: the slot is reserved */
    } else {
        loop_timer_cancel(&s->start_t);
        runq_push(s);
    }
}

/* --- spawning ----------------------------------------------------------------------- */

/* Resolve the fd list into spawn_fds.  *child_end gets the fd the
 * listener made for control.* placeholders.  Returns the count, or -1 with
 * a message in msg. */
static int resolve_fds(struct service *s, int *child_end, char *msg, size_t msglen)
{
    *child_end = -1;
    unsigned kinds = 0;
    int n = 0;
    for (const char *p = svc_fds(s); *p;) {
        const char *e = strchr(p, '\t');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 1 && *p == '-') {
            spawn_fds[n++] = -1;
        } else {
            struct handle *h = NULL;
            if (len <= HANDLE_NAME_MAX) {
                char name[HANDLE_NAME_MAX + 1];
                memcpy(name, p, len);
                name[len] = '\0';
                h = handle_by_name(name);
            }
            if (!h) {
                snprintf(msg, msglen, "no such handle '%.*s'", (int)(len > 64 ? 64 : len), p);
                return -1;
            }
            enum handle_control hc = handle_control(h);
            spawn_fds[n++] = hc == HCTL_NONE ? handle_fd(h) : -2;  /* -2: the channel */
            if (hc != HCTL_NONE)
                kinds |= 1u << hc;
        }
        p += len;
        if (*p == '\t')
            p++;
    }
    if (kinds) {
        /* One channel serves every control.* name of the list. */
        *child_end = listener && listener->channel ? listener->channel(s, kinds) : -1;
        if (*child_end < 0) {
            snprintf(msg, msglen, "socketpair: %s",
                     sys_strerror(listener && listener->channel ? errno : ENOSYS));
            return -1;
        }
        for (int i = 0; i < n; i++)
            if (spawn_fds[i] == -2)
                spawn_fds[i] = *child_end;
    }
    return n;
}

/* Spawn s, which is in START.  cause/err as for svc_start. */
static bool spawn(struct service *s, const void *cause, char *err, size_t errlen)
{
    int64_t now = loop_now_update();
    loop_timer_cancel(&s->start_t);
    runq_remove(s);
    s->attempt_ms = now;
    const char *args = svc_args(s);
    memcpy(spawn_argbuf, args, strlen(args) + 1);
    int argc = 0;
    for (char *a = spawn_argbuf, *t; (t = strsep(&a, "\t")) != NULL;)
        spawn_argv[argc++] = t;
    spawn_argv[argc] = NULL;

    char msg[300];
    int child_end;
    int nfds = resolve_fds(s, &child_end, msg, sizeof msg);
    if (nfds < 0) {
        /* Not started; auto-up may try again after MIN_INTERVAL (the
         * handle may exist by then). */
        fail(s, cause, err, errlen, "%s", msg);
        set_state(s, SVC_DOWN, true);
        return false;
    }
    struct spawn_req r = { .argv = spawn_argv, .fds = spawn_fds, .nfds = nfds };
    pid_t pid = spawn_start(&r);
    int e = errno;
    sys_close(child_end);
    if (pid < 0) {
        fail(s, cause, err, errlen, "fork failed: %s", sys_strerror(e));
        /* Retry: a transient process limit must not lose the service. */
        schedule(s, now + 1000 * (int64_t)(s->interval ? s->interval : 1), s->start_auto);
        return false;
    }
    s->pid = pid;
    s->up_ms = now;
    if (r.err) {
        /* The child already _exit(127)ed: collect it here so the reaper
         * never sees an unknown pid, and report why. */
        spawn_collect(pid, &s->status);
        s->down_ms = now;
        fail(s, cause, err, errlen, "%s %s failed: %s", spawn_stage_name(r.stage),
             spawn_argv[0], sys_strerror(r.err));
        set_state(s, SVC_DOWN, true);
        return false;
    }
    pid_insert(s);
    set_state(s, SVC_UP, false);
    return true;
}

/* The room of s's timer in the heap (see loop.h), taken the first time a
 * command starts s or gives it an auto-up rule: both can answer an error,
 * and only then may s need its timer (a timed start, auto-up, a retry).
 * A service that is only defined costs the heap nothing. */
static bool timer_room(struct service *s)
{
    if (!s->timer_room && loop_timer_reserve(1))
        s->timer_room = true;
    return s->timer_room;
}

bool svc_start(struct service *s, int64_t when_ms, const void *cause, char *err, size_t errlen)
{
    if (s->state == SVC_UP) {
        snprintf(err, errlen, "service %s: already running", s->str);
        return false;
    }
    if (!svc_args(s)[0]) {
        snprintf(err, errlen, "service %s: no args configured", s->str);
        return false;
    }
    if (!timer_room(s)) {
        snprintf(err, errlen, "service %s: unable to allocate timer", s->str);
        return false;
    }
    int64_t now = loop_now_update();
    if (when_ms > now) {
        schedule(s, when_ms, false);
        return true;
    }
    enter_start(s, now, false);
    return spawn(s, cause, err, errlen);
}

/* A start whose time came (timer) or whose turn came (run queue): the
 * trigger may have gone away meanwhile (signal.clear), or the args. */
static bool still_wanted(const struct service *s);

static void start_timer_cb(loop_timer *t)
{
    struct service *s = loop_owner(t, struct service, start_t);
    if (s->state != SVC_START)
        return;
    if (!still_wanted(s))
        set_state(s, SVC_DOWN, false);
    else
        runq_push(s);
}

static void runq_cb(void *ctx)
{
    (void)ctx;
    for (int n = 0; n < SVC_SPAWN_BATCH && runq_head; n++) {
        struct service *s = runq_head;
        runq_remove(s);
        if (!still_wanted(s))
            set_state(s, SVC_DOWN, false);
        else
            spawn(s, NULL, NULL, 0);
    }
    if (runq_head)
        loop_task_queue(&runq_task);
}

bool svc_cancel_start(struct service *s, const char **err)
{
    if (s->state != SVC_START) {
        *err = "no pending start";
        return false;
    }
    set_state(s, SVC_DOWN, false);
    return true;
}

bool svc_signal(struct service *s, int signo, bool group, const char **err)
{
    if (s->state != SVC_UP) {
        *err = "service is not running";
        return false;
    }
    if (group && getpgid(s->pid) != s->pid) {
        *err = "service does not lead a process group";
        return false;
    }
    if (kill(group ? -s->pid : s->pid, signo) < 0) {
        *err = sys_strerror(errno);
        return false;
    }
    return true;
}

bool svc_delete(struct service *s, const char **err)
{
    if (s->state == SVC_UP) {
        *err = "service is running";
        return false;
    }
    loop_timer_cancel(&s->start_t);
    runq_remove(s);
    struct proto_line l;
    format_state(s, &l, true);
    report(SVC_EV_DELETED, s, &l, NULL);
    if (s->triggers & ~TRIG_ALWAYS)
        n_sig_triggered--;
    tree_remove(&services, &s->node);
    if (s->timer_room)
        loop_timer_release(1);
    if (pool_active(&svc_mem)) {
        pool_free(&svc_mem, s);
    } else {
        free(s->str);
        free(s);
    }
    return true;
}

/* --- definitions -------------------------------------------------------------------- */

bool svc_set(struct service *s, enum svc_field f, int n, char **vals, const char **err)
{
    static const char *const events[] = { "service.args", "service.fds", "service.tags" };
    static const char *(*const get[])(const struct service *) = { svc_args, svc_fds, svc_tags };
    if (!set_strings(s, (int)f, n, vals, err))
        return false;
    struct proto_line l;
    format_field(s, &l, events[f], get[f](s));
    report(SVC_EV_DEFINED, s, &l, NULL);
    return true;
}

unsigned svc_trigger_parse(const char *name)
{
    if (strcmp(name, "always") == 0)
        return TRIG_ALWAYS;
    int k = sig_control_index(sig_parse(name));
    return k < 0 ? 0 : 2u << k;
}

static bool trigger_true(const struct service *s)
{
    if (s->triggers & TRIG_ALWAYS)
        return true;
    for (int k = 0; k < SIG_NCONTROL; k++)
        if ((s->triggers & (2u << k)) && sig_count(sig_control_nth(k)) > 0)
            return true;
    return false;
}

static bool still_wanted(const struct service *s)
{
    return (!s->start_auto || trigger_true(s)) && svc_args(s)[0];
}

/* Auto-up: start s if it is down and a trigger holds, no sooner than
 * MIN_INTERVAL after its last spawn.  A command's evaluation spawns at
 * once; every other waits its turn in the run queue. */
static void auto_up_eval(struct service *s, bool command)
{
    if (s->state != SVC_DOWN || !trigger_true(s) || !svc_args(s)[0])
        return;
    int64_t now = loop_now_update();
    int64_t next = s->attempt_ms ? s->attempt_ms + 1000 * (int64_t)s->interval : now;
    if (next > now || !command) {
        schedule(s, next > now ? next : now, true);
        return;
    }
    enter_start(s, now, true);
    spawn(s, NULL, NULL, 0);
}

bool svc_set_auto_up(struct service *s, int64_t interval, unsigned triggers,
                     const char **err)
{
    if (triggers && !timer_room(s)) {
        *err = "unable to allocate timer";
        return false;
    }
    if (interval > 0)
        s->interval = (uint32_t)interval;
    if ((s->triggers & ~TRIG_ALWAYS) && !(triggers & ~TRIG_ALWAYS))
        n_sig_triggered--;
    else if (!(s->triggers & ~TRIG_ALWAYS) && (triggers & ~TRIG_ALWAYS))
        n_sig_triggered++;
    s->triggers = (uint8_t)triggers;
    struct proto_line l;
    format_auto_up(s, &l);
    report(SVC_EV_DEFINED, s, &l, NULL);
    if (s->state == SVC_START && s->start_auto && !trigger_true(s))
        set_state(s, SVC_DOWN, false);
    auto_up_eval(s, true);
    return true;
}

/* --- reaping and triggers ------------------------------------------------------------ */

/* Exits handled per call.  Reaping is cheap (restarts wait in the run
 * queue), but a steady flood of exits must still leave the loop to its
 * other work: the rest waits for a task. */
#define SVC_REAP_BATCH 128

static void reap_task_cb(void *ctx)
{
    (void)ctx;
    svc_reap();
}

static loop_task reap_task = LOOP_TASK_INIT(reap_task_cb, NULL);

void svc_reap(void)
{
    int st, n = 0;
    pid_t pid;
    while (n < SVC_REAP_BATCH && (pid = spawn_reap(&st)) > 0) {
        n++;
        struct service *s = pid_remove(pid);
        if (!s) {
            log_debug("reaped pid %d (not a service)", (int)pid);
            continue;
        }
        s->status = st;
        s->down_ms = loop_now_update();
        set_state(s, SVC_DOWN, true);
    }
    if (n == SVC_REAP_BATCH)
        loop_task_queue(&reap_task);
}

static void signal_eval(struct tree_node *n, void *ctx)
{
    (void)ctx;
    struct service *s = (struct service *)n;
    if (s->triggers & ~TRIG_ALWAYS)
        auto_up_eval(s, false);     /* never inserts or removes services */
}

void svc_signal_changed(int signo)
{
    if (n_sig_triggered && sig_count(signo) > 0)
        tree_foreach(&services, signal_eval, NULL);
}

static void log_running(struct tree_node *n, void *ctx)
{
    (void)ctx;
    const struct service *s = (const struct service *)n;
    if (s->state == SVC_UP)
        log_info("service '%s' running as pid %d", s->str, (int)s->pid);
}

void svc_log_running(void)
{
    tree_foreach(&services, log_running, NULL);
}
