/* svc_child.c - everything a service's child gets (service_impl.h): its
 * argv, its fds (handles, the control.* channel, the notify.fd pipe, the
 * fd store), its environment (service.env, NOTIFY_SOCKET, LISTEN_*) and
 * its cgroup.  One child is prepared at a time: spawning is synchronous.
 *
 * A service that uses none of the extensions gets what it always got:
 * daemonproxy's environment as it is, and no allocation.
 */
#include "svc_child.h"
#include "fmt.h"
#include "service_impl.h"
#include "cgroup.h"
#include "execattr.h"
#include "fdstore.h"
#include "handle.h"
#include "log.h"
#include "svc_ready.h"
#include "sys.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* service.fds may list more than a child can be given: resolved, then refused. */
#define MAX_FDS (PROTO_FIELDS_MAX + FDSTORE_MAX)

extern char **environ;

static char argbuf[PROTO_LINE_MAX + 1] SYS_LARGE_BSS;
static char *argv_[PROTO_FIELDS_MAX + 1] SYS_LARGE_BSS;
static int fds[MAX_FDS] SYS_LARGE_BSS;
static const char *names[MAX_FDS] SYS_LARGE_BSS;  /* for LISTEN_FDNAMES */
static char namebuf[PROTO_LINE_MAX + 1] SYS_LARGE_BSS;
static int channel_end = -1;            /* the control.* socketpair's child end */
static int notify_end = -1;             /* the notify.fd pipe's write end */
static char **envp;                     /* one allocation, or NULL: environ */
static char *envlist[PROTO_FIELDS_MAX] SYS_LARGE_BSS; /* service.env, split */

/* Split the args into argv_. */
static void prepare_argv(const struct service *s)
{
    const char *args = svc_field(s, SVC_ARGS);
    memcpy(argbuf, args, strlen(args) + 1);
    int argc = 0;
    for (char *a = argbuf, *t; (t = strsep(&a, "\t")) != NULL;)
        argv_[argc++] = t;
    argv_[argc] = NULL;
}

/* Resolve service.fds into fds[] and names[]: handles by name, and the
 * placeholders (control.* through the listener, notify.fd a fresh pipe).
 * Returns the count, or -1 with a message. */
static int resolve_fds(struct service *s, char *msg, size_t msglen)
{
    memcpy(namebuf, svc_field(s, SVC_FDS), strlen(svc_field(s, SVC_FDS)) + 1);
    unsigned kinds = 0;
    int n = 0;
    for (char *p = namebuf, *name; (name = strsep(&p, "\t")) != NULL;) {
        if (!*name && !p && n == 0)
            break;                  /* an empty list */
        names[n] = name;
        if (strcmp(name, "-") == 0) {
            names[n] = "unknown";
            fds[n++] = -1;
            continue;
        }
        struct handle *h = strlen(name) <= HANDLE_NAME_MAX ? handle_by_name(name) : NULL;
        if (!h) {
            fmt_snprintf(msg, msglen, "no such handle '%.64s'", name);
            return -1;
        }
        enum handle_control hc = handle_control(h);
        if (hc == HCTL_NOTIFY) {
            if (notify_end < 0 && !svc_ready_pipe(s, &notify_end)) {
                fmt_snprintf(msg, msglen, "notify.fd: %s", sys_strerror(errno));
                return -1;
            }
            fds[n++] = notify_end;
        } else {
            fds[n++] = hc == HCTL_NONE ? handle_fd(h) : -2;    /* -2: the channel */
            if (hc != HCTL_NONE)
                kinds |= 1u << hc;
        }
    }
    if (kinds) {
        /* One channel serves every control.* name of the list. */
        channel_end = svc_listener_channel(s, kinds);
        if (channel_end < 0) {
            fmt_snprintf(msg, msglen, "socketpair: %s", sys_strerror(errno));
            return -1;
        }
        for (int i = 0; i < n; i++)
            if (fds[i] == -2)
                fds[i] = channel_end;
    }
    /* A controller's run (its restarts back off: service.c); the listener's
     * channel gave it its extension. */
    if (s->x)
        s->x->controller_run = kinds != 0;
    if (n > SPAWN_FDS_MAX) {
        fmt_snprintf(msg, msglen, "%d fds in service.fds: a child can be given at most %d", n,
                 SPAWN_FDS_MAX);
        return -1;
    }
    /* The fd store comes back after the listed fds, as far as they leave
     * room (the store accepts no more than that, but service.fds may have
     * grown since). */
    if (s->fdstore_max && s->x) {
        int stored = fdstore_list(s->x->store, fds + n, names + n, SPAWN_FDS_MAX - n);
        int left = fdstore_count(s->x->store) - stored;
        if (left > 0)
            log_warn("service %s: %d stored fds not handed back: with %d in service.fds, "
                     "a child can be given at most %d", s->str, left, n, SPAWN_FDS_MAX);
        n += stored;
    }
    return n;
}

/* Whether environ entry e sets a variable that the service's environment
 * changes mention (VAR=... or -VAR), or one in also (NAME=, ...). */
static bool overridden(const char *e, char *const *list, int nlist, const char *const *also)
{
    size_t vl = strcspn(e, "=");
    for (int i = 0; i < nlist; i++) {
        const char *v = list[i][0] == '-' ? list[i] + 1 : list[i];
        if (strncmp(v, e, vl) == 0 && (v[vl] == '=' || v[vl] == '\0'))
            return true;
    }
    for (; *also; also++)
        if (strncmp(*also, e, vl + 1) == 0)
            return true;
    return false;
}

/* A child's environment, measured before it is built. */
struct env_plan {
    const char *list;           /* service.env, TAB-joined */
    const char *sock;           /* NOTIFY_SOCKET's value, or NULL */
    bool listen;                /* LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES */
    int nfds;                   /* the child's fds (names[] has them) */
    char listen_fds[32];        /* "LISTEN_FDS=N" */
    size_t nenv, nlist;         /* entries of environ, of list */
    size_t bytes;               /* the strings, after the pointers */
};

static void env_measure(struct env_plan *p)
{
    while (environ[p->nenv])
        p->nenv++;
    p->nlist = *p->list ? 1 : 0;
    for (const char *c = p->list; *c; c++)
        p->nlist += *c == '\t';
    p->bytes = strlen(p->list) + 1 + (p->sock ? strlen(p->sock) + 16 : 0);
    if (p->listen) {
        size_t names_len = 0;
        fmt_snprintf(p->listen_fds, sizeof p->listen_fds, "LISTEN_FDS=%d", p->nfds - 3);
        for (int i = 3; i < p->nfds; i++)
            names_len += strlen(names[i]) + 1;
        p->bytes += strlen(p->listen_fds) + 1 + 32 + sizeof "LISTEN_FDNAMES=" + names_len;
    }
}

/* Into v: environ without what service.env or the options set, then
 * service.env's VAR=VALUE entries (split into envlist, in str).  Returns
 * how many. */
static size_t env_merge(const struct env_plan *p, char **v, char *str)
{
    static const char *const ours[] = {
        "NOTIFY_SOCKET=", "LISTEN_FDS=", "LISTEN_PID=", "LISTEN_FDNAMES=", NULL,
    };
    static const char *const none[] = { NULL };
    const char *const *mine = p->sock || p->listen ? ours : none;
    char **lv = envlist;
    memcpy(str, p->list, strlen(p->list) + 1);
    size_t k = 0;
    for (char *q = str, *t; *str && (t = strsep(&q, "\t")) != NULL;)
        lv[k++] = t;
    size_t out = 0;
    for (size_t i = 0; i < p->nenv; i++)
        if (!overridden(environ[i], lv, (int)k, mine))
            v[out++] = environ[i];
    /* The options' variables win over service.env's. */
    for (size_t i = 0; i < k; i++)
        if (lv[i][0] != '-' && !overridden(lv[i], NULL, 0, mine))
            v[out++] = lv[i];
    return out;
}

/* The options' variables after the out entries of v, their strings at str;
 * *pid_slot gets where the child writes its pid.  Returns the count. */
static size_t env_add_options(const struct env_plan *p, char **v, size_t out, char *str,
                              char **pid_slot)
{
    if (p->sock) {
        v[out++] = str;
        str = stpcpy(stpcpy(str, "NOTIFY_SOCKET="), p->sock) + 1;
    }
    if (p->listen) {
        v[out++] = str;
        str = stpcpy(str, p->listen_fds) + 1;
        v[out++] = str;
        /* The child writes its own pid here, between clone and exec: 20
         * spaces hold any pid. */
        *pid_slot = str = stpcpy(str, "LISTEN_PID=");
        memset(str, ' ', 20);
        str[20] = '\0';
        str += 21;
        v[out++] = str;
        str = stpcpy(str, "LISTEN_FDNAMES=");
        for (int i = 3; i < p->nfds; i++)
            str = stpcpy(i > 3 ? stpcpy(str, ":") : str, names[i]);
    }
    return out;
}

/* The child's environment: daemonproxy's, changed by service.env, then
 * NOTIFY_SOCKET and LISTEN_* of the options.  *pid_slot gets where the
 * child writes its pid into LISTEN_PID.  False when out of memory. */
static bool prepare_env(struct service *s, int nfds, char **pid_slot, char *msg, size_t msglen)
{
    struct env_plan p = {
        .list = svc_field(s, SVC_ENV),
        .listen = (s->opts & SVC_OPT_LISTEN_FDS) && nfds > 3,
        .nfds = nfds,
    };
    bool notify = s->opts & SVC_OPT_NOTIFY;
    *pid_slot = NULL;
    if (!*p.list && !notify && !p.listen)
        return true;                /* environ as it is */
    if (notify && !(p.sock = svc_ready_socket(s))) {
        fmt_snprintf(msg, msglen, "notify socket: %s", sys_strerror(errno));
        return false;
    }
    env_measure(&p);
    char **v = malloc((p.nenv + p.nlist + 5) * sizeof *v + p.bytes);
    if (!v) {
        fmt_snprintf(msg, msglen, "environment: %s", sys_strerror(ENOMEM));
        return false;
    }
    char *str = (char *)(v + p.nenv + p.nlist + 5);
    size_t out = env_merge(&p, v, str);
    out = env_add_options(&p, v, out, str + strlen(p.list) + 1, pid_slot);
    v[out] = NULL;
    envp = v;
    return true;
}

bool svc_child_prepare(struct service *s, struct spawn_req *r, char *msg, size_t msglen)
{
    memset(r, 0, sizeof *r);
    r->cgroup_fd = -1;
    prepare_argv(s);
    r->argv = argv_;
    r->fds = fds;
    int n = resolve_fds(s, msg, msglen);
    if (n < 0)
        return false;
    r->nfds = n;
    if (cgroup_enabled()) {
        const char *err = NULL;
        struct cgroup *cg = svc_ready_cgroup(s, &err);
        if (!cg) {
            fmt_snprintf(msg, msglen, "cgroup: %s: %s", err, sys_strerror(errno));
            return false;
        }
        r->cgroup_fd = cgroup_procs_fd(cg);
    }
    if (!prepare_env(s, n, &r->pid_slot, msg, msglen))
        return false;
    r->envp = envp;
    if (s->x && s->x->attr)
        r->attr = execattr_spawn(s->x->attr);
    return true;
}

/* Whether it started is not needed here: the listener and svc_ready learn
 * the outcome from reports. */
void svc_child_done(struct service *s, bool started)
{
    sys_close(channel_end);
    sys_close(notify_end);
    channel_end = notify_end = -1;
    free(envp);
    envp = NULL;
}
