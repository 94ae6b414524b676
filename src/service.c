/* service.c - services: definitions, state machine, indexes (service.h).
 *
 * A service is one fixed struct plus one string block holding
 * "name\0args\0fds\0tags\0", where args, fds and tags are kept TAB-joined
 * exactly as they appear in events, so broadcasting and dumping them is a
 * copy.  With --service-pool the string block lives in the pool block
 * behind the struct and never moves.
 */
#include "service.h"
#include "controller.h"
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define SVC_DEFAULT_FDS "null\tnull\tnull"
#define SVC_POOL_DEFAULT_SIZE 512
#define SVC_POOL_MIN_SIZE 64
#define TRIG_ALWAYS 1u

/* Trigger bits after ALWAYS: 2 << k for control signal k (signals.h). */

struct service {
    struct tree_node node;      /* by name */
    struct service *pid_next;   /* pid hash chain while running */
    loop_timer start_t;         /* pending start */
    struct ctl *ctl;            /* service controller, while it lives */
    char *str;                  /* name \0 args \0 fds \0 tags \0 */
    int64_t up_ms;              /* start of the current/last run */
    int64_t down_ms;            /* end of the last run; 0 = never ran */
    int64_t attempt_ms;         /* last start attempt (MIN_INTERVAL base) */
    pid_t pid;                  /* running pid, or the last one */
    int status;                 /* wait status of the last run */
    uint32_t interval;          /* auto-up MIN_INTERVAL, seconds */
    uint16_t args_off, fds_off, tags_off, str_len, str_cap;
    uint8_t state;              /* enum svc_state */
    uint8_t triggers;           /* TRIG_ALWAYS | 2 << k for sig_control_nth(k) */
    bool start_auto;            /* the pending start came from auto-up */
};

static const char *node_key(const struct tree_node *n);
static struct tree services = TREE_INIT(node_key);
static struct pool svc_mem;
static struct service **pid_tab;
static size_t pid_tab_size, n_sig_triggered;
static char spawn_argbuf[PROTO_LINE_MAX + 1];
static char *spawn_argv[PROTO_FIELDS_MAX + 1];
static int spawn_fds[PROTO_FIELDS_MAX];

static bool pid_tab_reserve(size_t want);

static const char *node_key(const struct tree_node *n)
{
    return ((const struct service *)n)->str;
}

const char *svc_name(const struct service *s) { return s->str; }
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
    if (!pool_init(&svc_mem, (size_t)n, sizeof(struct service) + (size_t)size) ||
        !pid_tab_reserve((size_t)n))
        log_error("cannot allocate service pool of %lld x %lld", (long long)n, (long long)size);
    svc_mem.size = sizeof(struct service) + (size_t)size;
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
    if (!pid_tab_reserve(services.count + 1)) {
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
        s->str_cap = (uint16_t)(svc_mem.size - sizeof *s);
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
    loop_timer_init(&s->start_t, NULL, s);
    tree_insert(&services, &s->node);
    return s;
}

/* --- events ------------------------------------------------------------------ */

static void emit(struct proto_line *l)
{
    size_t n = proto_line_end(l);
    ctl_broadcast(l->buf, n);
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
        proto_line_addi(l, sec(s->start_t.when));   /* the pending start time */
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

static void emit_state(const struct service *s)
{
    struct proto_line l;
    format_state(s, &l, false);
    if (log_enabled(LOG_DEBUG))
        log_debug("%s", l.buf);
    emit(&l);
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

/* --- setters ----------------------------------------------------------------- */

bool svc_set(struct service *s, enum svc_field f, int n, char **vals, const char **err)
{
    static const char *const events[] = { "service.args", "service.fds", "service.tags" };
    static const char *(*const get[])(const struct service *) = { svc_args, svc_fds, svc_tags };
    if (!set_strings(s, (int)f, n, vals, err))
        return false;
    struct proto_line l;
    format_field(s, &l, events[f], get[f](s));
    emit(&l);
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

static void auto_up_eval(struct service *s);

void svc_set_auto_up(struct service *s, int64_t interval, unsigned triggers)
{
    if (interval > 0)
        s->interval = (uint32_t)interval;
    if ((s->triggers & ~TRIG_ALWAYS) && !(triggers & ~TRIG_ALWAYS))
        n_sig_triggered--;
    else if (!(s->triggers & ~TRIG_ALWAYS) && (triggers & ~TRIG_ALWAYS))
        n_sig_triggered++;
    s->triggers = (uint8_t)triggers;
    struct proto_line l;
    format_auto_up(s, &l);
    emit(&l);
    if (s->state == SVC_START && s->start_auto && !trigger_true(s))
        svc_cancel_start(s, &(const char *){ NULL });
    auto_up_eval(s);
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
            next = e->pid_next;
            size_t k = pid_slot(e->pid);
            e->pid_next = pid_tab[k];
            pid_tab[k] = e;
        }
    }
    free(old);
    return true;
}

static void pid_insert(struct service *s)
{
    size_t k = pid_slot(s->pid);
    s->pid_next = pid_tab[k];
    pid_tab[k] = s;
}

static struct service *pid_remove(pid_t pid)
{
    if (!pid_tab)
        return NULL;
    for (struct service **pp = &pid_tab[pid_slot(pid)]; *pp; pp = &(*pp)->pid_next) {
        if ((*pp)->pid == pid) {
            struct service *s = *pp;
            *pp = s->pid_next;
            s->pid_next = NULL;
            return s;
        }
    }
    return NULL;
}

/* --- starting ---------------------------------------------------------------- */

static void start_timer_cb(void *ctx);

/* A problem with service s.  Command errors go back to the controller c
 * that asked (or to everyone when nobody asked); start failures (`event`)
 * concern every controller, so the others get them as an error event. */
__attribute__((format(printf, 4, 5)))
static void report(struct service *s, struct ctl *c, bool event, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c)
        ctl_error(c, "service %s: %s", s->str, msg);
    else
        log_error("service %s: %s", s->str, msg);
    if (c && !event)
        return;
    struct proto_line l;
    proto_line_begin(&l, "error");
    proto_line_addf(&l, "service %s: %s", s->str, msg);
    size_t n = proto_line_end(&l);
    ctl_broadcast_except(l.buf, n, c);
}

/* Enter SVC_START for a start at when_ms (again, if the time changed). */
static void schedule(struct service *s, int64_t when_ms, bool automatic)
{
    bool same = s->state == SVC_START && sec(s->start_t.when) == sec(when_ms);
    s->start_auto = automatic;
    s->start_t.fn = start_timer_cb;
    s->start_t.ctx = s;
    loop_timer_at(&s->start_t, when_ms);
    s->state = SVC_START;
    if (!same)
        emit_state(s);
}

static void service_ctl_closed(void *owner, struct ctl *c)
{
    struct service *s = owner;
    if (s->ctl == c)
        s->ctl = NULL;
}

/* Resolve the fd list into spawn_fds.  *ctl_end gets the service side of a
 * fresh socketpair when a control.* name is used.  Returns the count, or -1
 * with a message. */
static int resolve_fds(struct service *s, int *ctl_fd, int *ctl_end,
                       unsigned *ctl_kinds, char *err, size_t errlen)
{
    const char *p = svc_fds(s);
    int n = 0;
    *ctl_fd = *ctl_end = -1;
    *ctl_kinds = 0;
    while (*p) {
        const char *e = strchr(p, '\t');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char name[HANDLE_NAME_MAX + 2];
        if (len == 1 && *p == '-') {
            spawn_fds[n++] = -1;
        } else {
            struct handle *h = NULL;
            if (len <= HANDLE_NAME_MAX) {
                memcpy(name, p, len);
                name[len] = '\0';
                h = handle_by_name(name);
            }
            if (!h) {
                snprintf(err, errlen, "no such handle '%.*s'", (int)(len > 64 ? 64 : len), p);
                goto fail;
            }
            enum handle_control hc = handle_control(h);
            if (hc != HCTL_NONE) {
                if (*ctl_fd < 0) {
                    int sv[2];
                    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
                        snprintf(err, errlen, "socketpair: %s", sys_strerror(errno));
                        goto fail;
                    }
                    *ctl_fd = sv[0];
                    *ctl_end = sv[1];
                }
                *ctl_kinds |= 1u << hc;
                spawn_fds[n++] = *ctl_end;
            } else {
                spawn_fds[n++] = handle_fd(h);
            }
        }
        p += len;
        if (*p == '\t')
            p++;
        else
            break;
    }
    return n;
fail:
    /* A control handle before the bad name already made the socketpair. */
    sys_close(*ctl_fd);
    sys_close(*ctl_end);
    *ctl_fd = *ctl_end = -1;
    return -1;
}

/* Turn the daemon side of the control socketpair into a controller. */
static void attach_controller(struct service *s, int fd, unsigned kinds)
{
    bool ev = kinds & ((1u << HCTL_EVENT) | (1u << HCTL_SOCKET));
    bool cmd = kinds & ((1u << HCTL_CMD) | (1u << HCTL_SOCKET));
    if (ev && !cmd)
        shutdown(fd, SHUT_RD);      /* the service may only read events */
    else if (cmd && !ev)
        shutdown(fd, SHUT_WR);      /* the service may only send commands */
    sys_set_nonblock(fd, true);
    struct ctl *c = ctl_new(CTL_SERVICE, cmd ? fd : -1, ev ? fd : -1);
    if (!c) {
        log_errno(LOG_ERROR, "service %s: controller", s->str);
        sys_close(fd);
        return;
    }
    s->ctl = c;
    ctl_set_closed_cb(c, service_ctl_closed, s);
}

static bool start_now(struct service *s, struct ctl *c)
{
    int64_t now = loop_now_update();
    loop_timer_cancel(&s->start_t);
    s->attempt_ms = now;
    const char *args = svc_args(s);
    size_t alen = strlen(args);
    memcpy(spawn_argbuf, args, alen + 1);
    int argc = 0;
    for (char *a = spawn_argbuf, *t; (t = strsep(&a, "\t")) != NULL;)
        spawn_argv[argc++] = t;
    spawn_argv[argc] = NULL;

    char err[300];
    int ctl_fd, ctl_end;
    unsigned kinds;
    int nfds = resolve_fds(s, &ctl_fd, &ctl_end, &kinds, err, sizeof err);
    if (nfds < 0) {
        report(s, c, true, "%s", err);
        /* Not started: leave a pending start, and let auto-up try again
         * after MIN_INTERVAL (the handle may be created meanwhile). */
        if (s->state != SVC_DOWN) {
            s->state = SVC_DOWN;
            emit_state(s);
        }
        auto_up_eval(s);
        return false;
    }
    struct spawn_req r = { .argv = spawn_argv, .fds = spawn_fds, .nfds = nfds };
    pid_t pid = spawn_start(&r);
    sys_close(ctl_end);
    if (pid < 0) {
        int e = errno;
        sys_close(ctl_fd);
        report(s, c, true, "fork failed: %s", sys_strerror(e));
        /* Retry: a transient process limit must not lose the service. */
        schedule(s, now + 1000 * (int64_t)(s->interval ? s->interval : 1), s->start_auto);
        return false;
    }
    s->pid = pid;
    s->up_ms = now;
    if (r.err) {
        /* The child already _exit(127)ed: collect it here so the reaper
         * never sees an unknown pid, and report why. */
        int st;
        spawn_collect(pid, &st);
        sys_close(ctl_fd);
        report(s, c, true, "%s %s failed: %s", r.step, spawn_argv[0], sys_strerror(r.err));
        s->status = st;
        s->down_ms = now;
        s->state = SVC_DOWN;
        emit_state(s);
        auto_up_eval(s);
        return false;
    }
    s->state = SVC_UP;
    pid_insert(s);
    emit_state(s);
    if (ctl_fd >= 0)
        attach_controller(s, ctl_fd, kinds);
    return true;
}

bool svc_start(struct service *s, int64_t when_ms, struct ctl *c)
{
    if (s->state == SVC_UP) {
        report(s, c, false, "already running");
        return false;
    }
    if (!svc_args(s)[0]) {
        report(s, c, false, "no args configured");
        return false;
    }
    if (when_ms > loop_now_update()) {
        schedule(s, when_ms, false);
        return true;
    }
    return start_now(s, c);
}

static void start_timer_cb(void *ctx)
{
    struct service *s = ctx;
    if (s->state != SVC_START)
        return;
    if ((s->start_auto && !trigger_true(s)) || !svc_args(s)[0]) {
        /* The trigger went away while we waited (signal.clear), or the
         * args were unset. */
        s->state = SVC_DOWN;
        emit_state(s);
        return;
    }
    start_now(s, NULL);
}

static void auto_up_eval(struct service *s)
{
    if (s->state != SVC_DOWN || !trigger_true(s) || !svc_args(s)[0])
        return;
    int64_t now = loop_now_update();
    int64_t next = s->attempt_ms ? s->attempt_ms + 1000 * (int64_t)s->interval : now;
    if (next <= now)
        start_now(s, NULL);
    else
        schedule(s, next, true);
}

bool svc_cancel_start(struct service *s, const char **err)
{
    if (s->state != SVC_START) {
        *err = "no pending start";
        return false;
    }
    loop_timer_cancel(&s->start_t);
    s->state = SVC_DOWN;
    emit_state(s);
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
    struct proto_line l;
    format_state(s, &l, true);
    emit(&l);
    if (s->triggers & ~TRIG_ALWAYS)
        n_sig_triggered--;
    tree_remove(&services, &s->node);
    if (pool_active(&svc_mem)) {
        pool_free(&svc_mem, s);
    } else {
        free(s->str);
        free(s);
    }
    return true;
}

/* --- reaping and triggers ------------------------------------------------------ */

/* Exits handled per wakeup.  A restart inside the loop can produce the next
 * exit before the loop ends: with thousands of crash-looping services (or
 * slow spawns) reaping would never return to the event loop, and no
 * controller would be served.  The rest waits for the next iteration. */
#define SVC_REAP_BATCH 128

static loop_task reap_task;

static void reap_task_cb(void *ctx)
{
    (void)ctx;
    svc_reap();
}

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
        s->state = SVC_DOWN;
        if (s->ctl)
            ctl_close(s->ctl);  /* the controller ends with its service */
        emit_state(s);
        auto_up_eval(s);
    }
    if (n == SVC_REAP_BATCH) {
        if (!reap_task.fn)
            loop_task_init(&reap_task, reap_task_cb, NULL);
        loop_task_queue(&reap_task);
    }
}

static void eval_tree(struct tree_node *n)
{
    /* In-order walk; auto_up_eval never inserts or removes services. */
    while (n) {
        eval_tree(n->left);
        struct service *s = (struct service *)n;
        if (s->triggers & ~TRIG_ALWAYS)
            auto_up_eval(s);
        n = n->right;
    }
}

void svc_signal_changed(int signo)
{
    (void)signo;
    if (n_sig_triggered && sig_count(signo) > 0)
        eval_tree(services.root);
}

static void log_tree(struct tree_node *n)
{
    while (n) {
        log_tree(n->left);
        struct service *s = (struct service *)n;
        if (s->state == SVC_UP)
            log_info("service '%s' running as pid %d", s->str, (int)s->pid);
        n = n->right;
    }
}

void svc_log_running(void)
{
    log_tree(services.root);
}
