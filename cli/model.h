/* model.h - what dpctl knows of the daemon's services: built from a
 * statedump and kept current from events, so that every command decides
 * from the daemon's own lines, never from guesses.
 */
#ifndef DPCTL_MODEL_H
#define DPCTL_MODEL_H

#include <stdbool.h>
#include <stddef.h>

/* What only --json shows of a service: kept when the model keeps lists
 * (model_new(true)); the table needs none of it.  The list fields hold
 * the event's fields after NAME, TAB-joined ("" when empty). */
struct svc_json {
    long long uptime, downtime, mainpid;
    char *status;               /* last STATUS=, or NULL */
    char *args, *fds, *tags, *env, *opts;
    char *want;                 /* service.want: WANT, BY, TS, WHY...; NULL for "-" */
    char *exits;                /* service.exits: COUNT, SINCE, exits...; NULL: none seen */
};

/* The desired state (service.want), as struct svc keeps it. */
enum model_want { WANT_NONE, WANT_UP, WANT_DOWN, WANT_FAILED };

/* One service as the daemon last described it.  Numbers are -1 where the
 * daemon sent '-'; auto_up is NULL when disabled.  128 bytes: the table of
 * 1,000 services touches 31 pages for them where 200 bytes took 49, and
 * each page first touched costs about 10 us on a virtual machine. */
struct svc {
    char name[32];              /* service names are at most 31 bytes */
    char state[8];              /* up, down, start, deleted */
    long long ts, pid;
    /* The last exit: exit/signal and code/name ("SIGRTMIN+15" the
     * longest daemonproxy sends), or "": from service.state, else the
     * newest of service.exits (a pending restart's state has none). */
    char reason[8], value[12];
    unsigned changes;           /* service.state events seen so far */
    char notify[12];            /* READY=1, RELOADING=1, STOPPING=1, or "" */
    /* service.exits, which statedump has and no event: how many exits
     * since when (a monotonic second; -1: no history known). */
    unsigned exits;
    long long exits_since;
    char *auto_up;
    struct svc_json *json;      /* NULL unless the model keeps lists */
    bool notify_opt, notify_fd; /* the notification channels it has */
    bool controller;            /* its fds name control.event, .cmd or .socket */
    bool picked;                /* free for a command's use (dpctl's name lists) */
    signed char cgroup;         /* -1 none, 0 empty, 1 populated */
    unsigned char want;         /* enum model_want */
};
_Static_assert(sizeof(struct svc) <= 128, "struct svc: 128 bytes (see above)");

struct model;

/* What the model may hold, strings included: a daemon's description costs
 * a few hundred bytes per service, so this is room for about 100,000; a
 * peer that invents services without end must not make dpctl grow
 * without end. */
#define MODEL_BYTES_MAX ((size_t)32 << 20)

/* lists: keep what JSON shows besides the table (struct svc_json);
 * without it the model holds only what the table shows. */
struct model *model_new(bool lists);
void model_free(struct model *m);

/* Apply one line from the daemon (NUL-terminated, writable).  Returns the
 * service it concerned, or NULL if it was about none (or unparsable). */
struct svc *model_apply(struct model *m, char *line);

/* Something the daemon described was not kept: MODEL_BYTES_MAX was reached.
 * What the model says is then incomplete. */
bool model_full(const struct model *m);

/* The service named name, or NULL (deleted services are forgotten). */
struct svc *model_find(const struct model *m, const char *name);

/* All services sorted by name; *n gets the count.  The array is the
 * model's, valid until the next model_apply(). */
struct svc **model_sorted(struct model *m, size_t *n);

/* The service has a notification channel (notify option or notify.fd), so
 * "ready" means READY=1 rather than "up". */
bool svc_has_channel(const struct svc *s);
/* Up, and ready in the sense above. */
bool svc_ready(const struct svc *s);
/* The state for people: "stopped" or "failed" for a service that is down
 * because its want is down or failed, else the daemon's state. */
const char *svc_shown_state(const struct svc *s);

/* Split line in place at TABs into at most max fields; returns the count. */
int split_tabs(char *line, char **f, int max);

#endif
