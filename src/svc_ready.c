/* svc_ready.c - a service's readiness (service_impl.h; docs/protocol.md,
 * "Readiness, the fd store and containment"): its notification channels
 * and what arrives on them, the fd store, the main pid it announces and
 * the orphans tagged with it, and the state of its cgroup.
 */
#include "svc_ready.h"
#include "fmt.h"
#include "service_impl.h"
#include "cgroup.h"
#include "fdstore.h"
#include "log.h"
#include "notify.h"
#include "state.h"
#include "sys.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* How far up the parent chain a sender may be from the main process. */
#define DESCENT_MAX 64

static int64_t sec(int64_t ms) { return ms / 1000; }

/* --- main pids: who announced which, for tagging orphans ------------------ */

struct tag {
    pid_t pid;
    struct service *s;
};

static struct tag *tags;
static size_t ntags, tags_cap;

static void untag_service(const struct service *s)
{
    for (size_t i = 0; i < ntags;)
        if (tags[i].s == s)
            tags[i] = tags[--ntags];
        else
            i++;
}

static void add_tag(struct service *s, pid_t pid)
{
    if (ntags == tags_cap) {
        size_t cap = tags_cap ? tags_cap * 2 : 8;
        struct tag *t = realloc(tags, cap * sizeof *t);
        if (!t)
            return;     /* the orphan is reported untagged: nothing lost */
        tags = t;
        tags_cap = cap;
    }
    tags[ntags++] = (struct tag){ .pid = pid, .s = s };
}

/* MAINPID=pid of s: it replaces the one s announced before. */
static void tag(struct service *s, pid_t pid)
{
    untag_service(s);
    add_tag(s, pid);
}

/* The tag of pid, if s has one, is dropped. */
static void untag(const struct service *s, pid_t pid)
{
    for (size_t i = 0; i < ntags; i++) {
        if (tags[i].pid == pid && tags[i].s == s) {
            tags[i] = tags[--ntags];
            return;
        }
    }
}

/* The process s announced is gone: its pid is no longer the service's
 * main pid (another process may get it). */
static void forget_mainpid(struct service *s)
{
    s->x->mainpid = 0;
    s->x->mainpid_start = 0;
}

struct service *svc_ready_orphan(pid_t pid)
{
    for (size_t i = 0; i < ntags; i++) {
        if (tags[i].pid == pid) {
            struct service *s = tags[i].s;
            tags[i] = tags[--ntags];
            if (s->x && s->x->mainpid == pid)
                forget_mainpid(s);      /* the orphan event says so */
            return s;
        }
    }
    return NULL;
}

/* --- who belongs to the service ---------------------------------------------- */

/* When s's main process started (0 if that cannot be read): known for the
 * run once asked. */
static uint64_t main_start(struct service *s)
{
    pid_t pp;
    if (!s->x->main_start && !sys_proc_stat(s->pid, &pp, &s->x->main_start))
        s->x->main_start = 0;
    return s->x->main_start;
}

/* Whether pid is a process of s by where it is: a descendant of its main
 * process (a walk up the parents, which stops at one that started before
 * the main process: that can be no descendant) or in its cgroup's
 * subtree. */
static bool belongs(struct service *s, pid_t pid)
{
    uint64_t first = main_start(s), start;
    pid_t p = pid, pp;
    for (int i = 0; i < DESCENT_MAX && p > 1 && sys_proc_stat(p, &pp, &start); i++, p = pp) {
        if (p == s->pid)
            return true;
        if (start < first)
            break;
    }
    return s->x->cg && cgroup_contains(s->x->cg, pid);
}

/* Whether pid is the process s announced with MAINPID= (the same one: a
 * pid is someone else's once its process is gone). */
static bool announced(const struct service *s, pid_t pid)
{
    pid_t pp;
    uint64_t start;
    return s->x->mainpid && pid == s->x->mainpid && sys_proc_stat(pid, &pp, &start) &&
           start == s->x->mainpid_start;
}

/* The announced main pid, forgotten if its process is gone (without
 * being reaped by daemonproxy, which would have said so). */
static pid_t mainpid_alive(struct service *s)
{
    pid_t pid = s->x->mainpid;
    if (pid && !announced(s, pid)) {
        forget_mainpid(s);
        untag(s, pid);      /* whoever has the pid now is no orphan of s */
    }
    return s->x->mainpid;
}

/* --- notifications ------------------------------------------------------------- */

/* Whether pid is a process of s: its main process, the one it announced,
 * or one that belongs to it.  Only while it runs: readiness belongs to a
 * run. */
static bool owns(void *owner, pid_t pid)
{
    struct service *s = owner;
    if (s->state != SVC_UP)
        return false;
    if (pid == s->pid || (pid == s->x->mainpid && pid == mainpid_alive(s)))
        return true;
    return belongs(s, pid);
}

/* MAINPID=v of message m: the main process, the one announced before, or
 * a process that belongs to s, as systemd has it; anything else (another
 * service's, another user's, pid 1, a process that is gone) is refused
 * and said.  Returns whether it was taken. */
static bool take_mainpid(struct service *s, const struct notify_msg *m, const char *v)
{
    int64_t n;
    pid_t pp;
    uint64_t start;
    const char *why = NULL;
    if (!sys_parse_int(v, 1, INT_MAX, &n))
        why = "not a pid";
    else if (!sys_proc_stat((pid_t)n, &pp, &start))
        why = "no such process";
    else if (n != s->pid && !announced(s, (pid_t)n) && !belongs(s, (pid_t)n))
        why = "not a process of the service";
    if (why) {
        notify_refuse(m, "MAINPID=%.20s from pid %d refused: %s", v, (int)m->pid, why);
        return false;
    }
    struct svc_ext *x = s->x;
    x->mainpid = (pid_t)n;
    x->mainpid_start = start;
    if (n != s->pid)
        tag(s, (pid_t)n);       /* reaped as an orphan, with s's name */
    notify_forget(m->chan);     /* it may have been refused before */
    return true;
}

static void apply(struct service *s, const char *a)
{
    struct svc_ext *x = s->x;
    if (strcmp(a, "READY=1") == 0)
        x->readiness = RD_READY;
    else if (strcmp(a, "RELOADING=1") == 0)
        x->readiness = RD_RELOADING;
    else if (strcmp(a, "STOPPING=1") == 0)
        x->readiness = RD_STOPPING;
    else if (strncmp(a, "STATUS=", 7) == 0) {
        size_t n = strnlen(a, NOTIFY_ASSIGN_MAX);
        char *st = malloc(n + 1);
        if (st) {
            memcpy(st, a, n);
            st[n] = '\0';
            free(x->status);
            x->status = st;
        }
    }
}

/* The fd store part of a message: FDSTORE=1 keeps its fds, FDSTOREREMOVE=1
 * deletes by FDNAME.  Fds not taken are closed by the channel.  One limit
 * holds what is kept: fdstore=N, and what a child can be given
 * (SPAWN_FDS_MAX, service.fds first), so that a full store never makes a
 * start fail. */
static void store(struct service *s, struct notify_msg *m)
{
    const char *fdname = notify_get(m, "FDNAME");
    const char *st = notify_get(m, "FDSTORE");
    const char *rm = notify_get(m, "FDSTOREREMOVE");
    if (rm && strcmp(rm, "1") == 0 && fdname)
        fdstore_remove(s->x->store, fdname);
    if (m->nfds == 0)
        return;
    if (!st || strcmp(st, "1") != 0) {
        notify_refuse(m, "%d fds sent without FDSTORE=1; closed", m->nfds);
        return;
    }
    if (!s->fdstore_max) {
        notify_refuse(m, "FDSTORE without fdstore=N; %d fds closed", m->nfds);
        return;
    }
    int listed = svc_fds_listed(s);
    unsigned room = listed < SPAWN_FDS_MAX ? (unsigned)(SPAWN_FDS_MAX - listed) : 0;
    unsigned max = s->fdstore_max <= room ? s->fdstore_max : room;
    char full[128];
    if (max == s->fdstore_max)
        fmt_snprintf(full, sizeof full, "the fd store is full (fdstore=%u)", max);
    else
        fmt_snprintf(full, sizeof full, "a child can be given at most %d fds, and service.fds "
                 "has %d: the fd store holds %u", SPAWN_FDS_MAX, listed, max);
    const char *why;
    if (!fdname)
        fdname = "stored";
    int kept = fdstore_put(&s->x->store, s->str, max, full, fdname, m->fds, m->nfds, &why);
    if (kept < m->nfds)
        notify_refuse(m, "FDSTORE: %d of %d fds named '%.40s' refused: %s", m->nfds - kept,
                      m->nfds, fdname, why);
}

static void notified(void *owner, struct notify_msg *m)
{
    struct service *s = owner;
    if (s->state != SVC_UP)
        return;
    struct svc_ext *x = s->x;
    mainpid_alive(s);
    /* MAINPID= first (the last one counts): one that is refused is left
     * out of the event, since controllers take what it says for the main
     * pid. */
    const char *mainpid = notify_get(m, "MAINPID");
    bool show_mainpid = mainpid && take_mainpid(s, m, mainpid);
    struct proto_line l;
    proto_line_begin(&l, "service.notify");
    proto_line_add(&l, s->str);
    proto_line_addi(&l, sec(loop_now()));
    proto_line_addi(&l, m->pid ? m->pid : s->pid);
    int shown = 0;
    for (int i = 0; i < m->nassign; i++) {
        if (!show_mainpid && strncmp(m->assign[i], "MAINPID=", 8) == 0)
            continue;
        proto_line_addn(&l, m->assign[i], strnlen(m->assign[i], NOTIFY_ASSIGN_MAX));
        apply(s, m->assign[i]);
        shown++;
    }
    if (shown) {
        x->notify_ms = loop_now();
        x->notify_pid = m->pid ? m->pid : s->pid;
        svc_report(SVC_EV_NOTIFY, s, &l, NULL);
    }
    store(s, m);
}

bool svc_ready_pipe(struct service *s, int *child_fd)
{
    struct svc_ext *x = svc_ext(s);
    if (!x) {
        errno = ENOMEM;
        return false;
    }
    notify_close(x->npipe);
    char name[48];
    fmt_snprintf(name, sizeof name, "service %s", s->str);
    x->npipe = notify_pipe_new(child_fd, name, notified, s);
    return x->npipe != NULL;
}

const char *svc_ready_socket(struct service *s)
{
    struct svc_ext *x = svc_ext(s);
    if (!x) {
        errno = ENOMEM;
        return NULL;
    }
    if (!x->nsock) {
        char name[48];
        fmt_snprintf(name, sizeof name, "service %s", s->str);
        x->nsock = notify_socket_new(x->nsock_addr, sizeof x->nsock_addr, name, notified,
                                     owns, s);
    } else {
        notify_forget(x->nsock);    /* a new run: new processes */
    }
    return x->nsock ? x->nsock_addr : NULL;
}

void svc_ready_down(struct service *s)
{
    struct svc_ext *x = s->x;
    if (!x)
        return;
    notify_close(x->npipe);
    x->npipe = NULL;
    free(x->status);
    x->status = NULL;
    x->readiness = RD_NONE;
    x->notify_ms = 0;
    x->notify_pid = 0;
    x->mainpid = 0;     /* its tag stays until that process is reaped */
    x->main_start = 0;
}

/* --- the cgroup ------------------------------------------------------------------ */

static void cgroup_changed(void *owner, bool populated)
{
    struct service *s = owner;
    s->x->cg_ms = loop_now();
    struct proto_line l;
    proto_line_begin(&l, "service.cgroup");
    proto_line_add(&l, s->str);
    proto_line_addi(&l, sec(loop_now()));
    proto_line_add(&l, populated ? "populated" : "empty");
    svc_report(SVC_EV_CGROUP, s, &l, NULL);
}

struct cgroup *svc_ready_cgroup(struct service *s, const char **err)
{
    struct svc_ext *x = svc_ext(s);
    if (!x) {
        *err = "out of memory";
        errno = ENOMEM;
        return NULL;
    }
    if (!x->cg) {
        /* NAME.service: never the name of a cgroup interface file
         * (cgroup.procs, cpu.max...), whatever the service is called. */
        char name[SVC_NAME_MAX + sizeof ".service"];
        fmt_snprintf(name, sizeof name, "%s.service", s->str);
        if ((x->cg = cgroup_open(name, cgroup_changed, s, err)) != NULL)
            x->cg_ms = loop_now();
    }
    return x->cg;
}

void svc_ready_delete(struct service *s)
{
    struct svc_ext *x = s->x;
    untag_service(s);
    if (!x)
        return;
    notify_close(x->npipe);
    notify_close(x->nsock);
    fdstore_delete(x->store);
    cgroup_close(x->cg, true);
    free(x->status);
}

/* --- statedump ---------------------------------------------------------------------- */

static bool put(struct proto_line *l, char *buf, size_t size, size_t *pos)
{
    size_t n = proto_line_end(l);
    if (*pos + n > size)
        return false;
    memcpy(buf + *pos, l->buf, n);
    *pos += n;
    return true;
}

size_t svc_ready_dump(const struct service *s, char *buf, size_t size)
{
    static const char *const states[] = { "-", "READY=1", "RELOADING=1", "STOPPING=1" };
    const struct svc_ext *x = s->x;
    struct proto_line l;
    size_t pos = 0;
    if (!x)
        return 0;
    if (s->state == SVC_UP && x->notify_ms) {
        proto_line_begin(&l, "service.notify");
        proto_line_add(&l, s->str);
        proto_line_addi(&l, sec(x->notify_ms));
        proto_line_addi(&l, x->notify_pid);
        proto_line_add(&l, states[x->readiness]);
        if (x->status)
            proto_line_add(&l, x->status);
        /* Only while its process lives: a pid reused by another is not
         * the service's. */
        if (x->mainpid && announced(s, x->mainpid))
            proto_line_addf(&l, "MAINPID=%d", (int)x->mainpid);
        if (!put(&l, buf, size, &pos))
            return SIZE_MAX;
    }
    if (x->cg) {
        proto_line_begin(&l, "service.cgroup");
        proto_line_add(&l, s->str);
        proto_line_addi(&l, sec(x->cg_ms));
        proto_line_add(&l, cgroup_populated(x->cg) ? "populated" : "empty");
        if (!put(&l, buf, size, &pos))
            return SIZE_MAX;
    }
    return pos;
}

/* --- re-exec ------------------------------------------------------------------- */

/* A service's readiness, notification channels and cgroup.  The channels
 * are kernel objects the new process adopts: the pipe of this run (with
 * what it read of a line) and the socket kept across runs, whose address
 * the service already has.  The cgroup is a directory: reopened by name,
 * with the state the controllers last heard. */
struct ready_rec {
    struct state_val name, readiness, status, has_status, notify_ms, notify_pid, mainpid,
        cg_ms, npipe, npipe_seen, nsock, nsock_addr, cgroup, populated, mainpid_start;
};

static const struct state_def ready_defs[] = {
    STATE_STR(struct ready_rec, name, SVC_NAME_MAX),
    STATE_INT(struct ready_rec, readiness, RD_NONE, RD_STOPPING, 0),
    STATE_STR(struct ready_rec, status, STATE_ANY),
    STATE_INT(struct ready_rec, has_status, 0, 1, 0),
    STATE_INT(struct ready_rec, notify_ms, 0, INT64_MAX, 0),
    STATE_INT(struct ready_rec, notify_pid, 0, INT32_MAX, 0),
    STATE_INT(struct ready_rec, mainpid, 0, INT32_MAX, 0),
    STATE_INT(struct ready_rec, cg_ms, 0, INT64_MAX, 0),
    STATE_FD(struct ready_rec, npipe, true),
    STATE_INT(struct ready_rec, npipe_seen, 0, NOTIFY_MSG_MAX, 0),
    STATE_FD(struct ready_rec, nsock, true),
    STATE_STR(struct ready_rec, nsock_addr, STATE_FITS(((struct svc_ext *)0)->nsock_addr)),
    STATE_INT(struct ready_rec, cgroup, 0, 1, 0),
    STATE_INT(struct ready_rec, populated, 0, 1, 0),
    /* 0: from an older binary, which did not save it */
    STATE_INT(struct ready_rec, mainpid_start, 0, INT64_MAX, 0),
};
STATE_RECORD(svc_ready_record, "service.ready", struct ready_rec, ready_defs, 0, 0);

/* A main pid announced by an earlier run that is still alive: its orphans
 * are tagged with the service when they are reaped. */
struct mainpid_rec {
    struct state_val name, pid;
};

static const struct state_def mainpid_defs[] = {
    STATE_STR(struct mainpid_rec, name, SVC_NAME_MAX),
    STATE_INT(struct mainpid_rec, pid, 1, INT32_MAX, 0),
};
STATE_RECORD(svc_mainpid_record, "service.mainpid", struct mainpid_rec, mainpid_defs, 0, 0);

void svc_ready_save(const struct service *s, struct state_out *o)
{
    const struct svc_ext *x = s->x;
    struct ready_rec rec = {
        .name.s = s->str, .readiness.i = x->readiness, .status.s = x->status,
        .has_status.i = x->status != NULL, .notify_ms.i = x->notify_ms,
        .notify_pid.i = x->notify_pid, .mainpid.i = x->mainpid, .cg_ms.i = x->cg_ms,
        .npipe.i = notify_chan_fd(x->npipe), .npipe_seen.i = (int64_t)notify_chan_seen(x->npipe),
        .nsock.i = notify_chan_fd(x->nsock), .nsock_addr.s = x->nsock ? x->nsock_addr : "",
        .cgroup.i = x->cg != NULL, .populated.i = x->cg && cgroup_populated(x->cg),
        .mainpid_start.i = (int64_t)x->mainpid_start,
    };
    state_write(o, &svc_ready_record, &rec);
    fdstore_save(x->store, s->str, o);
    for (size_t i = 0; i < ntags; i++) {
        if (tags[i].s != s || tags[i].pid == x->mainpid)
            continue;
        struct mainpid_rec m = { .name.s = s->str, .pid.i = tags[i].pid };
        state_write(o, &svc_mainpid_record, &m);
    }
}

static bool restore_channels(struct service *s, const struct ready_rec *rec, const char **err)
{
    struct svc_ext *x = s->x;
    int pfd = (int)rec->npipe.i, sfd = (int)rec->nsock.i;
    if ((sfd >= 0) != (rec->nsock_addr.len > 0)) {
        *err = "record service.ready: an sd_notify socket without its address, or the reverse";
        return false;
    }
    char name[48];
    fmt_snprintf(name, sizeof name, "service %s", s->str);
    if (pfd >= 0 &&
        !(x->npipe = notify_adopt(pfd, true, (size_t)rec->npipe_seen.i, name, notified, NULL, s))) {
        *err = "cannot adopt a notify.fd pipe";
        return false;
    }
    if (sfd >= 0) {
        memcpy(x->nsock_addr, rec->nsock_addr.s, rec->nsock_addr.len + 1);
        if (!(x->nsock = notify_adopt(sfd, false, 0, name, notified, owns, s))) {
            *err = "cannot adopt an sd_notify socket";
            return false;
        }
    }
    if (rec->cgroup.i) {
        int64_t cg_ms = x->cg_ms;
        if (!svc_ready_cgroup(s, err))
            return false;
        x->cg_ms = cg_ms;
        cgroup_assume(x->cg, rec->populated.i);
    }
    return true;
}

/* service.mainpid: a pid that s announced before, not reaped yet. */
static bool restore_mainpid(struct service *s, const struct state_rec *r, const char **err)
{
    struct mainpid_rec rec;
    if (!state_read(r, &svc_mainpid_record, &rec, err))
        return false;
    add_tag(s, (pid_t)rec.pid.i);
    return true;
}

static bool restore_ready(struct service *s, const struct state_rec *r, const char **err)
{
    struct ready_rec rec;
    if (!state_read(r, &svc_ready_record, &rec, err))
        return false;
    struct svc_ext *x = svc_ext(s);
    if (x->status || x->npipe || x->nsock) {
        *err = "record service.ready: a second record for the service";
        return false;
    }
    if (rec.has_status.i && !(x->status = strdup(rec.status.s))) {
        *err = "out of memory";
        return false;
    }
    x->readiness = (uint8_t)rec.readiness.i;
    x->notify_ms = rec.notify_ms.i;
    x->notify_pid = (pid_t)rec.notify_pid.i;
    x->mainpid = (pid_t)rec.mainpid.i;
    x->cg_ms = rec.cg_ms.i;
    if (x->mainpid)
        add_tag(s, x->mainpid);
    /* When the main pid's process started: from an older binary, which
     * did not save it, whoever has that pid now. */
    pid_t pp;
    x->mainpid_start = (uint64_t)rec.mainpid_start.i;
    if (x->mainpid && !x->mainpid_start && !sys_proc_stat(x->mainpid, &pp, &x->mainpid_start))
        x->mainpid_start = 0;
    return restore_channels(s, &rec, err);
}

bool svc_ready_restore(struct service *s, const struct state_rec *r, const char **err)
{
    if (!s || !svc_ext(s)) {
        /* the service's name is their first field */
        static char msg[96];
        fmt_snprintf(msg, sizeof msg, "record %s, field %s: no such service", r->tag,
                 strcmp(r->tag, "service.fdstore") == 0 ? "service" : "name");
        *err = msg;
        return false;
    }
    if (strcmp(r->tag, "service.fdstore") == 0)
        return fdstore_restore(r, &svc_ext(s)->store, err);
    if (strcmp(r->tag, "service.mainpid") == 0)
        return restore_mainpid(s, r, err);
    return restore_ready(s, r, err);
}
