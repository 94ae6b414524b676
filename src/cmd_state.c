/* cmd_state.c - statedump: every handle, then every service, then every
 * signal with a nonzero count.
 *
 * The dump is resumable: it emits whole objects while the controller's
 * output has room, remembers the last object's name, and returns CMD_WAIT;
 * the controller calls it again once its reader has drained some output.
 * Objects are listed in name order, so objects created or deleted in the
 * meantime are simply found or not found by "next after name".
 */
#include "cmd.h"
#include "protocol.h"
#include "controller.h"
#include "handle.h"
#include "service.h"
#include "signals.h"
#include "sys.h"

#include <string.h>

enum { PHASE_HANDLES, PHASE_SERVICES, PHASE_SIGNALS, PHASE_DONE };

/* Room for the lines of one service: the original's five and those of
 * extensions (env, opts, want, notify, cgroup, exits). */
static char dump_buf[11 * PROTO_EVENT_MAX] SYS_LARGE_BSS;

static void remember(struct ctl_dump *d, const char *name)
{
    size_t n = strlen(name);
    if (n >= sizeof d->last)
        n = sizeof d->last - 1;
    memcpy(d->last, name, n);
    d->last[n] = '\0';
}

/* One turn of the handles' or services' dump: nothing it calls creates
 * or deletes one (the replies are only queued), as handle_each_after()
 * and svc_each_after() require. */
struct dump_turn {
    struct ctl *c;
    struct ctl_dump *d;
    bool full;                  /* stopped for room: CMD_WAIT */
};

/* A line into the turn's output, or full when it has no room for it. */
static bool dump_line(struct dump_turn *t, const char *line, size_t n, const char *name)
{
    if (n > ctl_out_room(t->c)) {
        t->full = true;
        return false;
    }
    ctl_reply(t->c, line, n);
    remember(t->d, name);
    return true;
}

static bool dump_handle(struct handle *h, void *ctx)
{
    struct proto_line l;
    handle_format_state(h, &l);
    size_t n = proto_line_end(&l);
    return dump_line(ctx, l.buf, n, handle_name(h));
}

static bool dump_service(struct service *s, void *ctx)
{
    size_t n = svc_format_dump(s, dump_buf, sizeof dump_buf);
    return dump_line(ctx, dump_buf, n, svc_name(s));
}

int cmd_statedump(struct ctl *c, int argc, char **argv)
{
    /* Output that would be discarded anyway (no stream, or overflowed: the
     * controller must dump again after "overflow") is not produced. */
    if (!ctl_has_output(c) || ctl_overflowed(c))
        return 0;
    struct ctl_dump *d = ctl_dump_state(c);
    if (!d->started) {
        memset(d, 0, sizeof *d);
        d->started = true;
    }
    struct dump_turn t = { c, d, false };
    if (d->phase == PHASE_HANDLES) {
        handle_each_after(d->last, dump_handle, &t);
        if (t.full)
            return CMD_WAIT;
        d->phase = PHASE_SERVICES;
        d->last[0] = '\0';
    }
    if (d->phase == PHASE_SERVICES) {
        svc_each_after(d->last, dump_service, &t);
        if (t.full)
            return CMD_WAIT;
        d->phase = PHASE_SIGNALS;
        d->sub = 0;
    }
    for (; d->phase == PHASE_SIGNALS; d->sub++) {
        int signo = sig_control_nth(d->sub);
        if (!signo) {
            d->phase = PHASE_DONE;
            break;
        }
        if (sig_count(signo) == 0)
            continue;
        char line[64];
        size_t n = sig_format_event(signo, line, sizeof line);
        if (n > ctl_out_room(c))
            return CMD_WAIT;
        ctl_reply(c, line, n);
    }
    return 0;
}
