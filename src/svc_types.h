/* svc_types.h - the words of the service module, shared by its public
 * header (service.h) and its inside (service_impl.h): states, the lists
 * of a definition, options, and what a service reports to its listener.
 * Types only: it sits below every file of the service module, so that the
 * inside can use them without including the module's top (service.c's
 * header), which calls down into it.
 */
#ifndef SVC_TYPES_H
#define SVC_TYPES_H

#include <stddef.h>

struct service;

/* A service name is 1..31 bytes of [A-Za-z0-9._-], like a handle name. */
#define SVC_NAME_MAX 31

enum svc_state { SVC_DOWN, SVC_START, SVC_UP };

/* The TAB-joined lists of a service, in the order they are stored. */
enum svc_field { SVC_ARGS, SVC_FDS, SVC_TAGS, SVC_ENV, SVC_NFIELDS };

/* The desired state (service.want): who asked for a service to be up or
 * down.  NONE is an original controller's every service; DOWN and FAILED
 * gate every start but the one an operator's UP makes (docs/protocol.md,
 * "Desired state"). */
enum svc_want { SVC_WANT_NONE, SVC_WANT_UP, SVC_WANT_DOWN, SVC_WANT_FAILED };
/* Bytes of a want's WHY (its fields TAB-joined). */
#define SVC_WHY_MAX 255
/* Bytes of a want's BY: "uid=4294967295", "controller" or "stdin". */
#define SVC_BY_MAX 15

/* Options (service.opts). */
#define SVC_OPT_NOTIFY     1u   /* NOTIFY_SOCKET */
#define SVC_OPT_LISTEN_FDS 2u   /* LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES */

/* --- what a service reports, and to whom ------------------------------------ */

enum svc_event {
    SVC_EV_DEFINED,     /* service.args, .fds, .tags, .env, .opts, .auto_up or
                         * .want changed */
    SVC_EV_STATE,       /* service.state: start, up or down */
    SVC_EV_DELETED,     /* service.state NAME deleted */
    SVC_EV_FAILED,      /* a start failed: line is the error event */
    SVC_EV_NOTIFY,      /* service.notify: a readiness notification */
    SVC_EV_CGROUP,      /* service.cgroup: its cgroup became empty or populated */
    SVC_EV_ORPHAN,      /* orphan: a process that was no service's was reaped
                         * (s: the service that announced it as MAINPID, or NULL) */
};

struct svc_report {
    enum svc_event ev;
    struct service *s;
    const char *line;   /* the event line, '\n' included */
    size_t len;
    /* SVC_EV_FAILED: the `cause` svc_start() was given (NULL when the start
     * was not asked for by a caller), who also got the error returned. */
    const void *cause;
};

struct svc_listener {
    void (*report)(const struct svc_report *r);
    /* The fd list of s names control.* placeholders (kinds: a bit 1 << k
     * per enum handle_control k present).  Return the fd the child gets in
     * their place (the caller closes it after the spawn), or -1 with errno.
     * The SVC_EV_STATE report of `up`, or an SVC_EV_FAILED report, follows
     * in the same call. */
    int (*channel)(struct service *s, unsigned kinds);
};

#endif
