/* svcctl.c - services to controllers (see svcctl.h). */
#include "svcctl.h"
#include "controller.h"
#include "handle.h"
#include "log.h"
#include "service.h"
#include "state.h"
#include "sys.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* The daemon's end of the channel of the start in progress (spawning is
 * synchronous: there is at most one), until the start's outcome is
 * reported. */
static int pending_fd = -1;
static unsigned pending_kinds;

static int channel(struct service *s, unsigned kinds)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    sys_close(pending_fd);
    pending_fd = sv[0];
    pending_kinds = kinds;
    return sv[1];
}

static void controller_closed(void *owner, struct ctl *c)
{
    struct service *s = owner;
    if (svc_attachment(s) == c)
        svc_set_attachment(s, NULL);
}

/* The service is up: a controller takes the daemon's end. */
static void attach(struct service *s)
{
    int fd = pending_fd;
    pending_fd = -1;
    bool ev = pending_kinds & ((1u << HCTL_EVENT) | (1u << HCTL_SOCKET));
    bool cmd = pending_kinds & ((1u << HCTL_CMD) | (1u << HCTL_SOCKET));
    if (ev && !cmd)
        shutdown(fd, SHUT_RD);      /* the service may only read events */
    else if (cmd && !ev)
        shutdown(fd, SHUT_WR);      /* the service may only send commands */
    sys_set_nonblock(fd, true);
    struct ctl *c = ctl_new(CTL_SERVICE, cmd ? fd : -1, ev ? fd : -1);
    if (!c) {
        log_errno(LOG_ERROR, "service %s: controller", svc_name(s));
        return;
    }
    if (!svc_set_attachment(s, c)) {
        log_error("service %s: controller: out of memory", svc_name(s));
        ctl_close(c);
        return;
    }
    ctl_set_closed_cb(c, controller_closed, s);
}

/* The service's process ended: its controller runs what it was sent and
 * goes.  It is detached first, since the service may be deleted before
 * the controller is done. */
static void detach(struct service *s)
{
    struct ctl *c = svc_attachment(s);
    svc_set_attachment(s, NULL);
    ctl_set_closed_cb(c, NULL, NULL);
    ctl_drain(c);
}

static void (*state_hook)(void);

void svcctl_set_state_hook(void (*fn)(void)) { state_hook = fn; }

static void report(const struct svc_report *r)
{
    switch (r->ev) {
    case SVC_EV_FAILED:
        sys_close(pending_fd);
        pending_fd = -1;
        if (!r->cause)      /* else the command's error reply logs it */
            log_error("%.*s", (int)(r->len - 7), r->line + 6);
        ctl_broadcast_except(r->line, r->len, r->cause);
        return;
    case SVC_EV_STATE:
        ctl_broadcast(r->line, r->len);
        if (svc_state(r->s) == SVC_UP && pending_fd >= 0)
            attach(r->s);
        else if (svc_state(r->s) == SVC_DOWN && svc_attachment(r->s))
            detach(r->s);
        if (state_hook)
            state_hook();
        return;
    case SVC_EV_DEFINED:
    case SVC_EV_DELETED:
    case SVC_EV_NOTIFY:
    case SVC_EV_CGROUP:
        ctl_broadcast(r->line, r->len);
        return;
    case SVC_EV_ORPHAN:
        ctl_broadcast(r->line, r->len);
        if (state_hook)
            state_hook();
        return;
    }
}

static const struct svc_listener listener = { .report = report, .channel = channel };

void svcctl_init(void)
{
    svc_set_listener(&listener);
}

/* --- re-exec ----------------------------------------------------------------- */

/* A running service and the controller its process talks through. */
struct svcctl_rec {
    struct state_val service, ctl;
};

static const struct state_def svcctl_defs[] = {
    STATE_STR(struct svcctl_rec, service, SVC_NAME_MAX),
    STATE_INT(struct svcctl_rec, ctl, 1, UINT32_MAX, 0),
};
STATE_RECORD(svcctl_record, "svcctl", struct svcctl_rec, svcctl_defs, 0, 0);

void svcctl_save(struct state_out *o)
{
    for (struct service *s = svc_next_after(""); s; s = svc_next_after(svc_name(s))) {
        struct ctl *c = svc_attachment(s);
        if (!c)
            continue;
        struct svcctl_rec rec = { .service.s = svc_name(s), .ctl.i = ctl_id(c) };
        state_write(o, &svcctl_record, &rec);
    }
}

bool svcctl_restore(const struct state_rec *r, const char **err)
{
    struct svcctl_rec rec;
    if (!state_read(r, &svcctl_record, &rec, err))
        return false;
    struct service *s = svc_by_name(rec.service.s);
    struct ctl *c = ctl_by_id((unsigned)rec.ctl.i);
    /* One running service and one service controller, each linked once:
     * its controller ends when the service does (detach), and a link to
     * a service that is down, or a second one, would outlive one of them. */
    if (!s || !c || ctl_kind(c) != CTL_SERVICE || svc_state(s) != SVC_UP ||
        svc_attachment(s) || ctl_has_closed_cb(c) || !svc_set_attachment(s, c)) {
        *err = "record svcctl: no such running service or service controller, or linked twice";
        return false;
    }
    ctl_set_closed_cb(c, controller_closed, s);
    return true;
}
