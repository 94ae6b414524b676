/* service_impl.h - the inside of a service, for the service module's own
 * files and nobody else.  The files call one way, each only those below:
 *
 *   service.c        objects, definitions, the state machine, run queue,
 *                    reaper (service.h)
 *   svc_child.c      what a child gets: its fds, its environment, its
 *                    cgroup (svc_child.h)
 *   svc_ready.c      readiness: notification channels and messages, the fd
 *                    store, main pids and orphans, the cgroup's state
 *                    (svc_ready.h)
 *   svc_exits.c      the exit history: the last exits, a count since
 *                    (svc_exits.h)
 *   service_impl.c   this header's functions: the struct's extension and
 *                    the listener, through which svc_ready.c and svc_child.c
 *                    report up without calling service.c
 *   svc_types.h      the words all of them use
 */
#ifndef SERVICE_IMPL_H
#define SERVICE_IMPL_H

#include "loop.h"
#include "protocol.h"
#include "spawn.h"
#include "svc_types.h"
#include "tree.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct notify_chan;
struct fdstore;
struct cgroup;
struct svc_exits;
struct execattr;

/* Readiness, the latest of READY=1, RELOADING=1, STOPPING=1. */
enum svc_readiness { RD_NONE, RD_READY, RD_RELOADING, RD_STOPPING };

/* The desired state an operator or a controller recorded (service.want),
 * allocated by the first one; NULL for "-". */
struct svc_desired {
    int64_t ms;                     /* when it was recorded */
    uint8_t want;                   /* enum svc_want, never NONE */
    char by[SVC_BY_MAX + 1];        /* who asked */
    char why[SVC_WHY_MAX + 1];      /* its WHY fields, TAB-joined */
};

/* What only some services need, allocated on first use (svc_ext()): the
 * listener's attachment, readiness, notification channels, the fd store,
 * the cgroup, the desired state, the exit history.  A service that uses
 * none of it costs one pointer. */
struct svc_ext {
    void *attachment;               /* the listener's */
    struct notify_chan *npipe;      /* notify.fd of the current run */
    struct notify_chan *nsock;      /* the sd_notify socket, kept across runs */
    char nsock_addr[16];            /* its NOTIFY_SOCKET ("@" and 5 hex digits) */
    struct fdstore *store;
    struct cgroup *cg;
    int64_t notify_ms;              /* the last notification (this run) */
    pid_t notify_pid;
    pid_t mainpid;                  /* MAINPID= of this run, 0 if none */
    uint64_t mainpid_start;         /* when that process started (sys_proc_stat) */
    uint64_t main_start;            /* when the main process started, 0: not known yet */
    int64_t cg_ms;                  /* when its cgroup last changed */
    uint8_t readiness;              /* enum svc_readiness */
    /* A controller service's quick exits in a row (service.c): here, not
     * in struct service, which one more byte would make 8 bytes bigger
     * for every service; a controller service has its extension anyway. */
    uint8_t backoff;
    bool controller_run;            /* its current/last run got a control.* channel */
    char *status;                   /* the last STATUS= of this run, or NULL */
    struct svc_desired *desired;    /* service.want, NULL: "-" */
    struct svc_exits *exits;        /* service.exits (svc_exits.c), NULL: never exited */
    struct execattr *attr;          /* what it runs as (service.opts), NULL: as daemonproxy */
};

struct service {
    struct tree_node node;      /* by name */
    /* UP: the next in the pid hash chain; START and due: the next in the
     * run queue.  A service is never in both. */
    struct service *link;
    loop_timer start_t;         /* a pending start in the future */
    struct svc_ext *x;          /* NULL until needed */
    char *str;                  /* name \0 args \0 fds \0 tags \0 env \0 */
    int64_t up_ms;              /* start of the current/last run */
    int64_t down_ms;            /* end of the last run; 0 = never ran */
    int64_t attempt_ms;         /* last spawn (MIN_INTERVAL base) */
    int64_t start_ms;           /* START: when it starts, or was due */
    pid_t pid;                  /* running pid, or the last one */
    int status;                 /* wait status of the last run */
    uint32_t interval;          /* auto-up MIN_INTERVAL, seconds */
    uint16_t off[SVC_NFIELDS];  /* where each list starts in str */
    uint16_t str_len, str_cap;
    uint16_t fdstore_max;       /* fdstore=N, 0 = none */
    uint8_t opts;               /* SVC_OPT_* */
    uint8_t state;              /* enum svc_state */
    uint8_t triggers;           /* TRIG_ALWAYS | 2 << k for control signal k */
    bool start_auto;            /* the pending start came from auto-up */
    bool queued;                /* in the run queue */
    bool timer_room;            /* holds its timer's room in the heap */
};

/* The list f of s (TAB-joined). */
static inline const char *svc_field(const struct service *s, enum svc_field f)
{
    return s->str + s->off[f];
}
/* How many fds service.fds gives a child (before the fd store's). */
int svc_fds_listed(const struct service *s);
/* s's extension, allocated if needed; NULL when out of memory. */
struct svc_ext *svc_ext(struct service *s);
/* The listener (service.h: svc_set_listener). */
void svc_listener_set(const struct svc_listener *l);
/* End l and hand it to the listener. */
void svc_report(enum svc_event ev, struct service *s, struct proto_line *l, const void *cause);
/* The listener's channel for control.* placeholders (-1 with errno). */
int svc_listener_channel(struct service *s, unsigned kinds);

#endif
