/* service.c - services: objects, definitions, the state machine, the run
 * queue, the reaper and the name and pid indexes (service.h).  What a
 * child gets is svc_child.c; readiness is svc_ready.c; below them all,
 * service_impl.[ch], the inside they share (see there).
 *
 * A service is one fixed struct plus one string block holding
 * "name\0args\0fds\0tags\0env\0", where the lists are kept TAB-joined
 * exactly as they appear in events, so reporting and dumping them is a
 * copy.  With --service-pool the string block lives in the pool block
 * behind the struct and never moves.
 */
#include "service.h"
#include "fmt.h"
#include "service_impl.h"
#include "cgroup.h"
#include "execattr.h"
#include "fdstore.h"
#include "handle.h"
#include "log.h"
#include "pool.h"
#include "signals.h"
#include "state.h"
#include "svc_child.h"
#include "svc_exits.h"
#include "svc_ready.h"
#include "sys.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
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

static const char *node_key(const struct tree_node *n);
static struct tree services = TREE_INIT(node_key);
static struct pool svc_mem;
static size_t svc_str_cap;      /* with a pool: the string room of each block */
static struct service **pid_tab;
static size_t pid_tab_size, n_sig_triggered;

static bool pid_tab_reserve(size_t want);
/* svc_stop_starts(): daemonproxy is shutting down, nothing starts again. */
static bool starts_off;
static void start_timer_cb(loop_timer *t);
static void auto_up_eval(struct service *s, bool command);
static void backoff_count(struct service *s);
static const struct svc_desired *gate(const struct service *s);

static const char *node_key(const struct tree_node *n)
{
    return ((const struct service *)n)->str;
}

const char *svc_name(const struct service *s) { return s->str; }
enum svc_state svc_state(const struct service *s) { return (enum svc_state)s->state; }
void svc_set_listener(const struct svc_listener *l) { svc_listener_set(l); }
static const char *field(const struct service *s, enum svc_field f) { return svc_field(s, f); }
static const char *svc_args(const struct service *s) { return field(s, SVC_ARGS); }
static const char *svc_fds(const struct service *s) { return field(s, SVC_FDS); }

void *svc_attachment(const struct service *s) { return s->x ? s->x->attachment : NULL; }
static struct svc_desired *desired(const struct service *s)
{
    return s->x ? s->x->desired : NULL;
}

bool svc_set_attachment(struct service *s, void *p)
{
    if (p ? svc_ext(s) == NULL : s->x == NULL)
        return !p;
    s->x->attachment = p;
    return true;
}
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

void svc_drop_pool(void)
{
    if (svc_next_after(""))
        abort();        /* a service still lives in a block */
    pool_destroy(&svc_mem);
    svc_str_cap = 0;
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

void svc_each_after(const char *name, bool (*fn)(struct service *s, void *ctx), void *ctx)
{
    struct tree_iter it;
    for (struct tree_node *n = tree_iter_after(&services, name, &it); n; n = tree_iter_next(&it))
        if (!fn((struct service *)n, ctx))
            return;
}

/* --- strings ----------------------------------------------------------------- */

/* Rebuild the string block with list `which` replaced by `val` (n
 * fields, TAB-joined). */
static bool set_strings(struct service *s, enum svc_field which, int n, char **val,
                        const char **err)
{
    size_t name_len = strlen(s->str) + 1;
    size_t vlen = 0;
    for (int i = 0; i < n; i++)
        vlen += strlen(val[i]) + 1;
    if (n == 0)
        vlen = 1;
    size_t lens[SVC_NFIELDS], total = name_len;
    for (int k = 0; k < SVC_NFIELDS; k++)
        total += lens[k] = k == (int)which ? vlen : strlen(field(s, k)) + 1;
    char tmp[SVC_NFIELDS * (PROTO_LINE_MAX + 1) + SVC_NAME_MAX + 1];
    if (total > 65535 || total > sizeof tmp) {
        *err = "service definition too long";
        return false;
    }
    /* Assemble in a scratch buffer first: old strings point into s->str. */
    char *p = tmp;
    memcpy(p, s->str, name_len);
    p += name_len;
    uint16_t offs[SVC_NFIELDS];
    for (int k = 0; k < SVC_NFIELDS; k++) {
        offs[k] = (uint16_t)(p - tmp);
        if (k == (int)which) {
            for (int i = 0; i < n; i++) {
                size_t l = strlen(val[i]);
                memcpy(p, val[i], l);
                p += l;
                *p++ = i + 1 < n ? '\t' : '\0';
            }
            if (n == 0)
                *p++ = '\0';
        } else {
            memcpy(p, field(s, k), lens[k]);
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
    memcpy(s->off, offs, sizeof offs);
    s->str_len = (uint16_t)total;
    return true;
}

/* A zeroed service with room for need bytes of strings (a pool block's
 * room with a pool), in no index yet. */
static struct service *svc_alloc(size_t need, const char **err)
{
    struct service *s;
    if (pool_active(&svc_mem)) {
        if (need > svc_str_cap) {
            *err = "unable to allocate: service definition exceeds the service pool object size";
            return NULL;
        }
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
    s->interval = 1;
    s->state = SVC_DOWN;
    loop_timer_init(&s->start_t, start_timer_cb);
    return s;
}

static void svc_free(struct service *s)
{
    if (pool_active(&svc_mem)) {
        pool_free(&svc_mem, s);
    } else {
        free(s->str);
        free(s);
    }
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
    /* "name\0" "\0" (args) SVC_DEFAULT_FDS "\0" (tags) "\0" (env) */
    size_t nl = strlen(name) + 1;
    size_t need = nl + 1 + sizeof SVC_DEFAULT_FDS + 2;
    if (!(s = svc_alloc(need, err)))
        return NULL;
    char *p = s->str;
    memcpy(p, name, nl);
    s->off[SVC_ARGS] = (uint16_t)nl;
    p[nl] = '\0';
    s->off[SVC_FDS] = (uint16_t)(nl + 1);
    memcpy(p + nl + 1, SVC_DEFAULT_FDS, sizeof SVC_DEFAULT_FDS);
    s->off[SVC_TAGS] = (uint16_t)(nl + 1 + sizeof SVC_DEFAULT_FDS);
    p[s->off[SVC_TAGS]] = '\0';
    s->off[SVC_ENV] = (uint16_t)(s->off[SVC_TAGS] + 1);
    p[s->off[SVC_ENV]] = '\0';
    s->str_len = (uint16_t)need;
    tree_insert(&services, &s->node);
    return s;
}

/* --- reports --------------------------------------------------------------------- */

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

static struct execattr *attr(const struct service *s)
{
    return s->x ? s->x->attr : NULL;
}

static bool has_opts(const struct service *s)
{
    return s->opts || s->fdstore_max || attr(s);
}

static void add_word(void *l, const char *word)
{
    proto_line_add(l, word);
}

static void format_opts(const struct service *s, struct proto_line *l)
{
    proto_line_begin(l, "service.opts");
    proto_line_add(l, s->str);
    if (!has_opts(s))
        proto_line_add(l, "");
    if (s->opts & SVC_OPT_NOTIFY)
        proto_line_add(l, "notify");
    if (s->opts & SVC_OPT_LISTEN_FDS)
        proto_line_add(l, "listen-fds");
    if (s->fdstore_max)
        proto_line_addf(l, "fdstore=%u", (unsigned)s->fdstore_max);
    if (attr(s))
        execattr_each(attr(s), add_word, l);
}

static void format_want(const struct service *s, struct proto_line *l, enum svc_want w,
                        const char *by, int64_t ms, const char *why)
{
    proto_line_begin(l, "service.want");
    proto_line_add(l, s->str);
    proto_line_add(l, svc_want_name(w));
    proto_line_add(l, by);
    proto_line_addi(l, sec(ms));
    proto_line_addtsv(l, why);
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
    const struct svc_desired *d = desired(s);
    for (int k = 0; k < 9; k++) {
        switch (k) {
        case 0: format_state(s, &l, false); break;
        case 1: format_field(s, &l, "service.tags", field(s, SVC_TAGS)); break;
        case 2: format_field(s, &l, "service.args", svc_args(s)); break;
        case 3: format_field(s, &l, "service.fds", svc_fds(s)); break;
        case 4: format_auto_up(s, &l); break;
        /* Extensions, only when in use: the original's five lines stay. */
        case 5:
            if (!field(s, SVC_ENV)[0])
                continue;
            format_field(s, &l, "service.env", field(s, SVC_ENV));
            break;
        case 6:
            if (!has_opts(s))
                continue;
            format_opts(s, &l);
            break;
        case 7:
            if (!d)
                continue;
            format_want(s, &l, d->want, d->by, d->ms, d->why);
            break;
        case 8:
            /* service.notify and service.cgroup stay last (svc_ready_dump) */
            if (!svc_exits_format(s, &l, false))
                continue;
            break;
        }
        size_t n = proto_line_end(&l);
        if (pos + n > size)
            return 0;
        memcpy(buf + pos, l.buf, n);
        pos += n;
    }
    size_t n = svc_ready_dump(s, buf + pos, size - pos);
    return n == SIZE_MAX ? 0 : pos + n;
}

void svc_format_exits(const struct service *s, struct proto_line *l)
{
    svc_exits_format(s, l, true);
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
    fmt_vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (err)
        fmt_snprintf(err, errlen, "service %s: %s", s->str, msg);
    struct proto_line l;
    proto_line_begin(&l, "error");
    proto_line_addf(&l, "service %s: %s", s->str, msg);
    svc_report(SVC_EV_FAILED, s, &l, cause);
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

static struct service *pid_find(pid_t pid)
{
    for (struct service *e = pid_tab ? pid_tab[pid_slot(pid)] : NULL; e; e = e->link)
        if (e->pid == pid)
            return e;
    return NULL;
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
    if (s->state == SVC_UP && st != SVC_UP)
        svc_ready_down(s);
    s->state = (uint8_t)st;
    struct proto_line l;
    format_state(s, &l, false);
    if (log_enabled(LOG_DEBUG))
        log_debug("%s", l.buf);
    svc_report(SVC_EV_STATE, s, &l, NULL);
    if (ended) {
        backoff_count(s);
        auto_up_eval(s, false);
    }
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

/* Spawn s, which is in START.  cause/err as for svc_start. */
static bool spawn(struct service *s, const void *cause, char *err, size_t errlen)
{
    int64_t now = loop_now_update();
    loop_timer_cancel(&s->start_t);
    runq_remove(s);
    s->attempt_ms = now;
    char msg[300];
    struct spawn_req r;
    if (!svc_child_prepare(s, &r, msg, sizeof msg)) {
        /* Not started; auto-up may try again after MIN_INTERVAL (a
         * missing handle may exist by then). */
        svc_child_done(s, false);
        fail(s, cause, err, errlen, "%s", msg);
        set_state(s, SVC_DOWN, true);
        return false;
    }
    pid_t pid = spawn_start(&r);
    int e = errno;
    svc_child_done(s, pid > 0 && !r.err);
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
        svc_exits_note(s);
        fail(s, cause, err, errlen, "%s %s failed: %s", spawn_stage_name(r.stage),
             r.argv[0], sys_strerror(r.err));
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
        fmt_snprintf(err, errlen, "service %s: already running", s->str);
        return false;
    }
    if (starts_off) {
        fmt_snprintf(err, errlen, "service %s: daemonproxy is shutting down", s->str);
        return false;
    }
    const struct svc_desired *d = gate(s);
    if (d) {
        /* Who asked and how to undo it, on one line (WHY's TABs as spaces). */
        char why[SVC_WHY_MAX + 4] = "";
        if (d->why[0]) {
            fmt_snprintf(why, sizeof why, " (%s)", d->why);
            for (char *p = why; *p; p++)
                if (*p == '\t')
                    *p = ' ';
        }
        fmt_snprintf(err, errlen, "service %s: %s by %s%s; to start it: dpctl start %s", s->str,
                     d->want == SVC_WANT_DOWN ? "wanted down" : "marked failed", d->by, why,
                     s->str);
        return false;
    }
    if (!svc_args(s)[0]) {
        fmt_snprintf(err, errlen, "service %s: no args configured", s->str);
        return false;
    }
    if (!timer_room(s)) {
        fmt_snprintf(err, errlen, "service %s: unable to allocate timer", s->str);
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

static void stop_start(struct tree_node *n, void *ctx)
{
    struct service *s = (struct service *)n;
    if (s->state == SVC_START)
        set_state(s, SVC_DOWN, false);
}

void svc_stop_starts(void)
{
    starts_off = true;
    tree_foreach(&services, stop_start, NULL);
}

void svc_starts_on(void) { starts_off = false; }

int svc_pid(const struct service *s)
{
    return s->state == SVC_UP ? (int)s->pid : 0;
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

bool svc_signal(struct service *s, int signo, enum svc_sig_target to, const char **err)
{
    if (to == SVC_SIG_CGROUP) {
        /* Every process in its cgroup, the main one gone or not. */
        if (!cgroup_enabled()) {
            *err = "no cgroups (start daemonproxy with --cgroup)";
            return false;
        }
        if (!s->x || !s->x->cg) {
            *err = "service has no cgroup (it never started)";
            return false;
        }
        if (cgroup_signal(s->x->cg, signo, err) < 0) {
            /* Some processes may have escaped it: never without a word. */
            log_warn("service %s: %s not sent to every process of its cgroup: %s", s->str,
                     sig_name(signo), *err);
            return false;
        }
        return true;
    }
    if (s->state != SVC_UP) {
        *err = "service is not running";
        return false;
    }
    bool group = to == SVC_SIG_GROUP;
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
    if (s->x && s->x->cg && cgroup_populated(s->x->cg)) {
        *err = "processes of the service remain in its cgroup (signal them with cgroup)";
        return false;
    }
    loop_timer_cancel(&s->start_t);
    runq_remove(s);
    struct proto_line l;
    format_state(s, &l, true);
    svc_report(SVC_EV_DELETED, s, &l, NULL);
    if (s->triggers & ~TRIG_ALWAYS)
        n_sig_triggered--;
    tree_remove(&services, &s->node);
    if (s->timer_room)
        loop_timer_release(1);
    svc_ready_delete(s);
    free(desired(s));
    svc_exits_delete(s);
    if (s->x)
        execattr_free(s->x->attr);
    free(s->x);
    svc_free(s);
    return true;
}

/* --- definitions -------------------------------------------------------------------- */

static const char *const field_events[SVC_NFIELDS] = {
    "service.args", "service.fds", "service.tags", "service.env",
};

bool svc_set(struct service *s, enum svc_field f, int n, char **vals, const char **err)
{
    if (!set_strings(s, f, n, vals, err))
        return false;
    struct proto_line l;
    format_field(s, &l, field_events[f], field(s, f));
    svc_report(SVC_EV_DEFINED, s, &l, NULL);
    return true;
}

bool svc_env_entry_valid(const char *e)
{
    const char *var = *e == '-' ? e + 1 : e;
    size_t n = strcspn(var, "=");
    if (n == 0 || n > 255 || (var[0] >= '0' && var[0] <= '9'))
        return false;
    return *e == '-' ? var[n] == '\0' : var[n] == '=';
}

/* One of the options of the first table (docs/protocol.md). */
static bool opt_parse(const char *w, struct svc_opts *o)
{
    int64_t n;
    if (strcmp(w, "notify") == 0)
        o->flags |= SVC_OPT_NOTIFY;
    else if (strcmp(w, "listen-fds") == 0)
        o->flags |= SVC_OPT_LISTEN_FDS;
    else if (strncmp(w, "fdstore=", 8) == 0 && sys_parse_int(w + 8, 1, FDSTORE_MAX, &n))
        o->fdstore = (unsigned)n;
    else
        return false;
    return true;
}

bool svc_opts_parse(int n, char *const *words, struct svc_opts *o, char *err, size_t errlen)
{
    *o = (struct svc_opts){ 0 };
    char why[200] = "";
    const char *bad = NULL, *key = NULL;
    for (int i = 0; i < n && !bad; i++)
        if (!opt_parse(words[i], o) && execattr_parse(&o->attr, words[i], why, sizeof why) != 1)
            bad = words[i];
    if (!bad && o->attr && !execattr_resolve(o->attr, &key, why, sizeof why)) {
        /* The word of the key whose lookup failed. */
        size_t kl = strlen(key);
        for (int i = 0; i < n && !bad; i++)
            if (strncmp(words[i], key, kl) == 0 && words[i][kl] == '=')
                bad = words[i];
    }
    if (!bad)
        return true;
    fmt_snprintf(err, errlen, "invalid option '%s'%s%s", bad, why[0] ? ": " : "", why);
    svc_opts_free(o);
    return false;
}

void svc_opts_free(struct svc_opts *o)
{
    execattr_free(o->attr);
    o->attr = NULL;
}

bool svc_set_opts(struct service *s, struct svc_opts *o, const char **err)
{
    if ((o->attr || s->x) && !svc_ext(s)) {
        svc_opts_free(o);
        *err = "unable to allocate a service's options";
        return false;
    }
    if (s->x) {
        execattr_free(s->x->attr);
        s->x->attr = o->attr;
        o->attr = NULL;
    }
    s->opts = (uint8_t)o->flags;
    s->fdstore_max = (uint16_t)o->fdstore;
    struct proto_line l;
    format_opts(s, &l);
    svc_report(SVC_EV_DEFINED, s, &l, NULL);
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
    return !starts_off && (!s->start_auto || trigger_true(s)) && svc_args(s)[0] && !gate(s);
}

/* --- a controller's restart back-off -----------------------------------------------
 *
 * A controller service (its run got a control.* channel) that keeps exiting soon
 * after it starts (a bad configuration, say) is restarted by auto-up with
 * a growing interval: MIN_INTERVAL after the first quick exit, as any
 * service, then doubling, up to BACKOFF_MAX_S.  It starts over once a run
 * lasted BACKOFF_RESET_MS, or on service.want up.  Every other service
 * keeps MIN_INTERVAL exactly.  Not kept across a re-exec: the new process
 * starts over. */
#define BACKOFF_RESET_MS 10000
#define BACKOFF_MAX_S 60

/* Seconds from a spawn of s to its next automatic one. */
static int64_t restart_interval(const struct service *s)
{
    int quick = s->x ? s->x->backoff : 0;
    if (quick <= 1)
        return s->interval;
    int64_t base = s->interval ? s->interval : 1;
    int shift = quick - 1;
    return shift >= 6 || (base << shift) > BACKOFF_MAX_S ? BACKOFF_MAX_S : base << shift;
}

/* A run of s ended: count a controller's quick exit, and log each step. */
static void backoff_count(struct service *s)
{
    if (!s->x || !s->x->controller_run || s->down_ms - s->up_ms >= BACKOFF_RESET_MS) {
        if (s->x)
            s->x->backoff = 0;
        return;
    }
    struct svc_ext *x = s->x;
    int64_t before = restart_interval(s);
    if (x->backoff < 8)
        x->backoff++;
    int64_t after = restart_interval(s);
    if (after > before && x->backoff > 1 && (s->triggers & TRIG_ALWAYS))
        log_warn("controller %s exited after %llds; next start in %llds", s->str,
                 (long long)((s->down_ms - s->up_ms) / 1000), (long long)after);
}

/* Auto-up: start s if it is down and a trigger holds, no sooner than
 * MIN_INTERVAL (a controller's back-off) after its last spawn.  A command's evaluation spawns at
 * once; every other waits its turn in the run queue. */
static void auto_up_eval(struct service *s, bool command)
{
    if (starts_off || s->state != SVC_DOWN || !trigger_true(s) || !svc_args(s)[0] || gate(s))
        return;
    int64_t now = loop_now_update();
    int64_t next = s->attempt_ms ? s->attempt_ms + 1000 * restart_interval(s) : now;
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
    svc_report(SVC_EV_DEFINED, s, &l, NULL);
    if (s->state == SVC_START && s->start_auto && !trigger_true(s))
        set_state(s, SVC_DOWN, false);
    auto_up_eval(s, true);
    return true;
}

/* --- the desired state --------------------------------------------------------------- */

static const char *const want_names[] = { "-", "up", "down", "failed" };
_Static_assert(sizeof want_names / sizeof *want_names == SVC_WANT_FAILED + 1, "want names");

int svc_want_parse(const char *word)
{
    for (int w = 0; w <= SVC_WANT_FAILED; w++)
        if (strcmp(word, want_names[w]) == 0)
            return w;
    return -1;
}

const char *svc_want_name(enum svc_want w) { return want_names[w]; }

bool svc_want_by_valid(const char *by)
{
    int64_t uid;
    if (strncmp(by, "uid=", 4) == 0)
        return by[4] >= '0' && by[4] <= '9' && sys_parse_int(by + 4, 0, UINT32_MAX, &uid);
    return strcmp(by, "controller") == 0 || strcmp(by, "stdin") == 0;
}

/* DOWN and FAILED gate every start but the one UP makes: auto-up, a
 * pending start whose time comes, service.start.  The gating record, or
 * NULL. */
static const struct svc_desired *gate(const struct service *s)
{
    const struct svc_desired *d = desired(s);
    return d && d->want != SVC_WANT_UP ? d : NULL;
}

/* Set s's record (w not NONE; allocated by the first).  False when out of
 * memory (nothing changed). */
static bool desired_set(struct service *s, enum svc_want w, const char *by, int64_t ms,
                        const char *why)
{
    struct svc_desired *d = desired(s);
    if (!d) {
        if (!svc_ext(s) || !(d = calloc(1, sizeof *d)))
            return false;
        s->x->desired = d;
    }
    d->want = (uint8_t)w;
    d->ms = ms;
    fmt_snprintf(d->by, sizeof d->by, "%s", by);
    fmt_snprintf(d->why, sizeof d->why, "%s", why);
    return true;
}

/* Record w, by and why as s's desire now and report service.want.  False
 * when out of memory (nothing changed). */
static bool record_want(struct service *s, enum svc_want w, const char *by, const char *why)
{
    int64_t now = loop_now_update();
    if (w == SVC_WANT_NONE) {
        free(desired(s));
        if (s->x)
            s->x->desired = NULL;
    } else if (!desired_set(s, w, by, now, why)) {
        return false;
    }
    struct proto_line l;
    format_want(s, &l, w, by, now, why);
    svc_report(SVC_EV_DEFINED, s, &l, NULL);
    return true;
}

bool svc_want(struct service *s, enum svc_want w, const char *by, int n, char **why,
              const void *cause, char *err, size_t errlen)
{
    char text[SVC_WHY_MAX + 1];
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        size_t k = strlen(why[i]);
        if (len + k + (i > 0) > SVC_WHY_MAX) {
            fmt_snprintf(err, errlen, "service %s: WHY longer than %d bytes", s->str,
                         SVC_WHY_MAX);
            return false;
        }
        if (i > 0)
            text[len++] = '\t';
        memcpy(text + len, why[i], k);
        len += k;
    }
    text[len] = '\0';
    const struct svc_desired *d = desired(s);
    bool same = w == SVC_WANT_NONE ? !d
              : d && d->want == w && strcmp(d->by, by) == 0 && strcmp(d->why, text) == 0;
    if (!same && !record_want(s, w, by, text)) {
        fmt_snprintf(err, errlen, "service %s: unable to allocate its desired state", s->str);
        return false;
    }
    /* What the desire does, each time it is asked (a second `up` starts a
     * service that went down since the first). */
    switch (w) {
    case SVC_WANT_DOWN:
    case SVC_WANT_FAILED:
        if (s->state == SVC_START)
            set_state(s, SVC_DOWN, false);      /* as service.start NAME - */
        return true;
    case SVC_WANT_UP:
        svc_exits_reset(s, loop_now());
        if (s->x)
            s->x->backoff = 0;
        return s->state != SVC_DOWN || svc_start(s, 0, cause, err, errlen);
    case SVC_WANT_NONE:
        auto_up_eval(s, true);
        return true;
    }
    return true;
}

/* --- reaping and triggers ------------------------------------------------------------ */

/* Exits handled per call.  Reaping is cheap (restarts wait in the run
 * queue), but a steady flood of exits must still leave the loop to its
 * other work: the rest waits for a task. */
#define SVC_REAP_BATCH 128

/* A process that was no service's main process: a double-forked child,
 * since daemonproxy is a subreaper (or PID 1). */
static void report_orphan(pid_t pid, int st)
{
    struct service *s = svc_ready_orphan(pid);
    struct proto_line l;
    proto_line_begin(&l, "orphan");
    proto_line_addi(&l, sec(loop_now()));
    proto_line_addi(&l, pid);
    if (WIFSIGNALED(st)) {
        proto_line_add(&l, "signal");
        proto_line_add(&l, sig_name(WTERMSIG(st)));
    } else {
        proto_line_add(&l, "exit");
        proto_line_addi(&l, WEXITSTATUS(st));
    }
    proto_line_add(&l, s ? s->str : "-");
    svc_report(SVC_EV_ORPHAN, s, &l, NULL);
}

static void reap_task_cb(void *ctx)
{
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
            report_orphan(pid, st);
            continue;
        }
        s->status = st;
        s->down_ms = loop_now_update();
        svc_exits_note(s);
        set_state(s, SVC_DOWN, true);
    }
    if (n == SVC_REAP_BATCH)
        loop_task_queue(&reap_task);
}

static void signal_eval(struct tree_node *n, void *ctx)
{
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
    const struct service *s = (const struct service *)n;
    if (s->state == SVC_UP)
        log_info("service '%s' running as pid %d", s->str, (int)s->pid);
}

void svc_log_running(void)
{
    tree_foreach(&services, log_running, NULL);
}

/* --- re-exec ------------------------------------------------------------------------- */

/* A service: its name, its lists (TAB-joined, as its string block holds
 * them), options, run state and clocks. */
struct svc_rec {
    struct state_val name, args, fds, tags, env;
    struct state_val opts, fdstore_max, state, pid, status, up_ms, down_ms, attempt_ms,
        start_ms, interval, triggers, start_auto, timer_room;
    /* appended: the desired state (want 0: none, the rest then empty) */
    struct state_val want, want_by, want_ms, want_why;
    /* appended: the execution attributes, their words (TAB-joined) and
     * the ids looked up for them (execattr.h); empty: none */
    struct state_val attr, attr_ids;
};

#define SVC_LIST_MAX (SVC_NFIELDS * PROTO_LINE_MAX)
/* "u=UID g=GID G=" and a groups= list's ids (the words' line holds at
 * most 2048 of them), or a user's (getgrouplist: at most 65536). */
#define ATTR_IDS_MAX (32 + 65536 * 11)
/* The words as execattr_each gives them may be longer than the command's
 * line: "cap_" before each capability name (41 of them), umask's 4 digits;
 * every other canonical form is as long as given or shorter. */
#define ATTR_WORDS_MAX (PROTO_LINE_MAX + 256)
static const struct state_def svc_defs[] = {
    STATE_STR(struct svc_rec, name, SVC_NAME_MAX),
    STATE_STR(struct svc_rec, args, SVC_LIST_MAX),
    STATE_STR(struct svc_rec, fds, SVC_LIST_MAX),
    STATE_STR(struct svc_rec, tags, SVC_LIST_MAX),
    STATE_STR(struct svc_rec, env, SVC_LIST_MAX),
    STATE_INT(struct svc_rec, opts, 0, 255, 0),
    STATE_INT(struct svc_rec, fdstore_max, 0, 65535, 0),
    STATE_INT(struct svc_rec, state, SVC_DOWN, SVC_UP, 0),
    STATE_INT(struct svc_rec, pid, 0, INT32_MAX, 0),
    STATE_INT(struct svc_rec, status, INT32_MIN, INT32_MAX, 0),
    STATE_INT(struct svc_rec, up_ms, 0, INT64_MAX, 0),
    STATE_INT(struct svc_rec, down_ms, 0, INT64_MAX, 0),
    STATE_INT(struct svc_rec, attempt_ms, 0, INT64_MAX, 0),
    STATE_INT(struct svc_rec, start_ms, 0, INT64_MAX, 0),
    STATE_INT(struct svc_rec, interval, 0, UINT32_MAX, 0),
    STATE_INT(struct svc_rec, triggers, 0, 255, 0),
    STATE_INT(struct svc_rec, start_auto, 0, 1, 0),
    STATE_INT(struct svc_rec, timer_room, 0, 1, 0),
    STATE_INT(struct svc_rec, want, SVC_WANT_NONE, SVC_WANT_FAILED, SVC_WANT_NONE),
    STATE_STR(struct svc_rec, want_by, SVC_BY_MAX),
    STATE_INT(struct svc_rec, want_ms, 0, INT64_MAX, 0),
    STATE_STR(struct svc_rec, want_why, SVC_WHY_MAX),
    STATE_STR(struct svc_rec, attr, ATTR_WORDS_MAX),
    STATE_STR(struct svc_rec, attr_ids, ATTR_IDS_MAX),
};
/* Every field up to timer_room was in the first version. */
STATE_RECORD(svc_record, "service", struct svc_rec, svc_defs, STATE_SLOTS(struct svc_rec) - 6, 0);

/* The record's lists in enum svc_field order. */
_Static_assert(SVC_ARGS == 0 && SVC_FDS == 1 && SVC_TAGS == 2 && SVC_ENV == 3 &&
               SVC_NFIELDS == 4, "svc_rec lists");
#define SVC_REC_LISTS(rec) { &(rec)->args, &(rec)->fds, &(rec)->tags, &(rec)->env }

/* The service pool (--service-pool), made before any service. */
struct svc_pool_rec {
    struct state_val count, size;
};

static const struct state_def svc_pool_defs[] = {
    STATE_INT(struct svc_pool_rec, count, 1, INT32_MAX, 0),
    STATE_INT(struct svc_pool_rec, size, SVC_POOL_MIN_SIZE, 65535, 0),
};
STATE_RECORD(svc_pool_record, "service.pool", struct svc_pool_rec, svc_pool_defs, 0, 0);

struct words {
    char *buf;
    size_t len;
    bool full;          /* a word did not fit (never, by ATTR_WORDS_MAX) */
};

static void join_word(void *ctx, const char *word)
{
    struct words *w = ctx;
    size_t n = strlen(word);
    if (w->full || w->len + 1 + n > ATTR_WORDS_MAX) {
        w->full = true;
        return;
    }
    if (w->len)
        w->buf[w->len++] = '\t';
    memcpy(w->buf + w->len, word, n + 1);
    w->len += n;
}

/* a's words, TAB-joined, and its ids (execattr_ids), allocated. */
static bool attr_texts(const struct execattr *a, char **words, char **ids)
{
    struct words w = { malloc(ATTR_WORDS_MAX + 1), 0, false };
    size_t ids_size = 40 + (size_t)execattr_spawn(a)->ngroups * 11;
    *ids = malloc(ids_size);
    if (!w.buf || !*ids) {
        free(w.buf);
        free(*ids);
        return false;
    }
    w.buf[0] = '\0';
    execattr_each(a, join_word, &w);
    if (w.full) {
        free(w.buf);
        free(*ids);
        return false;
    }
    execattr_ids(a, *ids, ids_size);
    *words = w.buf;
    return true;
}

static void save_one(struct tree_node *n, void *ctx)
{
    const struct service *s = (const struct service *)n;
    struct svc_rec rec = {
        .name.s = s->str, .opts.i = s->opts, .fdstore_max.i = s->fdstore_max,
        .state.i = s->state, .pid.i = s->pid, .status.i = s->status, .up_ms.i = s->up_ms,
        .down_ms.i = s->down_ms, .attempt_ms.i = s->attempt_ms, .start_ms.i = s->start_ms,
        .interval.i = s->interval, .triggers.i = s->triggers, .start_auto.i = s->start_auto,
        .timer_room.i = s->timer_room,
    };
    const struct svc_desired *d = desired(s);
    if (d) {
        rec.want.i = d->want;
        rec.want_by.s = d->by;
        rec.want_ms.i = d->ms;
        rec.want_why.s = d->why;
    }
    struct state_val *lists[] = SVC_REC_LISTS(&rec);
    for (int k = 0; k < SVC_NFIELDS; k++)
        lists[k]->s = field(s, k);
    char *words = NULL, *ids = NULL;
    if (attr(s) && !attr_texts(attr(s), &words, &ids)) {
        ((struct state_out *)ctx)->failed = true;   /* out of memory sticks */
        return;
    }
    rec.attr.s = words;
    rec.attr_ids.s = ids;
    state_write(ctx, &svc_record, &rec);
    free(words);
    free(ids);
    if (s->x) {
        svc_ready_save(s, ctx);
        svc_exits_save(s, ctx);
    }
}

void svc_save(struct state_out *o)
{
    if (pool_active(&svc_mem)) {
        struct svc_pool_rec rec = {
            .count.i = (int64_t)svc_mem.count, .size.i = (int64_t)svc_str_cap,
        };
        state_write(o, &svc_pool_record, &rec);
    }
    tree_foreach(&services, save_one, o);
}

static bool restore_pool(const struct state_rec *r, const char **err)
{
    struct svc_pool_rec rec;
    if (!state_read(r, &svc_pool_record, &rec, err))
        return false;
    /* One pool, made before any service (as for handles). */
    if (pool_active(&svc_mem) || svc_next_after("")) {
        *err = "record service.pool: a second one, or after a service";
        return false;
    }
    svc_pool(rec.count.i, rec.size.i);
    return true;
}

/* A service from the record's name and lists, which are TAB-joined
 * already, as its string block holds them: one allocation, one copy. */
static struct service *restore_new(const struct svc_rec *rec, const char **err)
{
    const struct state_val *lists[] = SVC_REC_LISTS(rec);
    size_t total = rec->name.len + 1;
    for (int k = 0; k < SVC_NFIELDS; k++)
        total += lists[k]->len + 1;
    if (!svc_name_valid(rec->name.s) || total > 65535) {
        *err = "record service: a bad name, or lists too long";
        return NULL;
    }
    if (!pid_tab_reserve(tree_count(&services) + 1)) {
        *err = "unable to allocate service (pid index)";
        return NULL;
    }
    struct service *s = svc_alloc(total, err);
    if (!s)
        return NULL;
    memcpy(s->str, rec->name.s, rec->name.len + 1);
    size_t at = rec->name.len + 1;
    for (int k = 0; k < SVC_NFIELDS; k++) {
        s->off[k] = (uint16_t)at;
        memcpy(s->str + at, lists[k]->s, lists[k]->len + 1);
        at += lists[k]->len + 1;
    }
    s->str_len = (uint16_t)total;
    if (tree_insert(&services, &s->node)) {
        svc_free(s);
        *err = "record service: a service twice";
        return NULL;
    }
    return s;
}

/* The record's options, run state and clocks into s. */
static void restore_run(struct service *s, const struct svc_rec *rec)
{
    s->opts = (uint8_t)rec->opts.i;
    s->fdstore_max = (uint16_t)rec->fdstore_max.i;
    s->state = (uint8_t)rec->state.i;
    s->pid = (pid_t)rec->pid.i;
    s->status = (int)rec->status.i;
    s->up_ms = rec->up_ms.i;
    s->down_ms = rec->down_ms.i;
    s->attempt_ms = rec->attempt_ms.i;
    s->start_ms = rec->start_ms.i;
    s->interval = (uint32_t)rec->interval.i;
    s->triggers = (uint8_t)rec->triggers.i;
    s->start_auto = rec->start_auto.i;
}

/* The record's desired state into s (none: nothing). */
static bool restore_want(struct service *s, const struct svc_rec *rec, const char **err)
{
    if (rec->want.i == SVC_WANT_NONE)
        return true;
    if (!svc_want_by_valid(rec->want_by.s)) {
        *err = "record service, field want_by: not uid=N, controller or stdin";
        return false;
    }
    if (memchr(rec->want_why.s, '\n', rec->want_why.len)) {
        *err = "record service, field want_why: a newline";
        return false;
    }
    if (!desired_set(s, (enum svc_want)rec->want.i, rec->want_by.s, rec->want_ms.i,
                     rec->want_why.s)) {
        *err = "unable to allocate a service's desired state";
        return false;
    }
    return true;
}

/* The record's execution attributes into s (none: nothing). */
static bool restore_attr(struct service *s, const struct svc_rec *rec, const char **err)
{
    if (!rec->attr.len)
        return true;
    if (!svc_ext(s)) {
        *err = "unable to allocate a service's attributes";
        return false;
    }
    s->x->attr = execattr_restore(rec->attr.s, rec->attr_ids.s ? rec->attr_ids.s : "", err);
    return s->x->attr != NULL;
}

/* Its place among the running, the signal-triggered and the pending. */
static void restore_links(struct service *s)
{
    if (s->triggers & ~TRIG_ALWAYS)
        n_sig_triggered++;
    if (s->state == SVC_UP)
        pid_insert(s);
    /* A pending start waits as it did; one that came due during the exec
     * joins the run queue. */
    if (s->state == SVC_START) {
        if (s->start_ms > loop_now_update())
            loop_timer_at(&s->start_t, s->start_ms);
        else
            runq_push(s);
    }
}

bool svc_restore(const struct state_rec *r, const char **err)
{
    if (strcmp(r->tag, "service.pool") == 0)
        return restore_pool(r, err);
    if (strcmp(r->tag, "service.exits") == 0)
        return svc_exits_restore(svc_by_name(state_field(r, 0)), r, err);
    if (strcmp(r->tag, "service") != 0)
        /* service.ready, .fdstore, .mainpid: the service's name first */
        return svc_ready_restore(svc_by_name(state_field(r, 0)), r, err);
    struct svc_rec rec;
    if (!state_read(r, &svc_record, &rec, err))
        return false;
    if (rec.state.i == SVC_UP && (rec.pid.i <= 0 || pid_find((pid_t)rec.pid.i))) {
        *err = "record service: running without a pid, or with another service's";
        return false;
    }
    struct service *s = restore_new(&rec, err);
    if (!s || !restore_want(s, &rec, err) || !restore_attr(s, &rec, err))
        return false;   /* a new service is down: nothing to undo */
    if ((rec.timer_room.i || rec.state.i == SVC_START) && !timer_room(s)) {
        *err = "unable to allocate timer";
        return false;
    }
    /* Whatever fails, fails before this: a service restored running is
     * in the pid index in the same step (or no exit would ever reach it). */
    restore_run(s, &rec);
    restore_links(s);
    return true;
}
