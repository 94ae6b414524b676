/* controller.h - one controller: a command stream and optionally an event
 * stream, with framing, flow control, dispatch and statedump resumption.
 *
 * Kinds (PROTOCOL.md §4): the config file, interactive stdin/stdout, socket
 * clients and service controllers.  Each has a bounded output buffer that
 * only ever holds whole lines.  While it is nearly full the controller's
 * commands wait; events that do not fit are dropped and the controller is
 * flagged "overflowed" until its stream drains, when it gets one
 * "overflow" line.  RESET/CLOSE timeouts bound how long a stuck reader is
 * tolerated.
 */
#ifndef CONTROLLER_H
#define CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctl;

/* Upper bound of one controller's output buffer. */
#define CTL_OUT_MAX (64 * 1024)
#define CTL_RESET_TIMEOUT_DEFAULT 15
#define CTL_CLOSE_TIMEOUT_DEFAULT 30

enum ctl_kind {
    CTL_CONFIG,         /* -c FILE: commands only, errors to the log */
    CTL_INTERACTIVE,    /* -i: stdin/stdout; EOF or exit ends daemonproxy */
    CTL_CLIENT,         /* control-socket connection */
    CTL_SERVICE,        /* socketpair handed to a service */
};

/* Called when a controller goes away (owner bookkeeping, e.g. a service
 * controller's end). */
typedef void (*ctl_closed_fn)(void *owner, struct ctl *c);

/* Create a controller reading commands from in_fd and writing events to
 * out_fd (either may be -1; both may be the same socket).  The controller
 * owns the fds.  Returns NULL (errno set) on allocation failure. */
struct ctl *ctl_new(enum ctl_kind kind, int in_fd, int out_fd);

/* Close and free.  Safe to call from inside the controller's own command
 * handler: destruction is deferred until the handler returns. */
void ctl_close(struct ctl *c);

/* Stop reading commands (the `exit` command); the controller closes once
 * its pending output is written. */
void ctl_end_input(struct ctl *c);

/* The process at the other end is gone (a controller service ended). */
void ctl_drain(struct ctl *c);

void ctl_set_closed_cb(struct ctl *c, ctl_closed_fn fn, void *owner);
/* A short name for log lines ("config", "stdin", "client 5", ...). */
const char *ctl_name(const struct ctl *c);
/* The most recent fd received with SCM_RIGHTS on this controller (owned by
 * the caller after the call), or -1. */
int ctl_take_fd(struct ctl *c);

/* Replies to the controller whose command is running. */
void ctl_reply(struct ctl *c, const char *line, size_t len);
/* Reply with consecutive NUL-separated fields of a split command line
 * (len bytes from `fields`), as one TAB-joined line. */
void ctl_reply_fields(struct ctl *c, const char *fields, size_t len);
/* "error\tMSG, for command \"...\"" for the running command; also logged. */
void ctl_error(struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "warning\tMSG" for the running command; also logged at warning level. */
void ctl_warning(struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bytes free in c's output buffer (0 when it has no event stream). */
size_t ctl_out_room(const struct ctl *c);
/* True while c drops its output (see above). */
bool ctl_overflowed(const struct ctl *c);
/* True if c has an event stream (replies and events go somewhere). */
bool ctl_has_output(const struct ctl *c);

/* Send one event line (with its '\n') to every controller with an event
 * stream. */
void ctl_broadcast(const char *line, size_t len);

/* The same to every controller except `skip` (which got a reply instead). */
void ctl_broadcast_except(const char *line, size_t len, const struct ctl *skip);

/* conn.event_timeout for the running controller. */
void ctl_set_timeouts(struct ctl *c, int64_t reset_s, int64_t close_s);

/* Per-command statedump cursor, kept by the controller across CMD_WAIT. */
struct ctl_dump {
    int phase;          /* which object class is being listed */
    int sub;            /* line within the object */
    char last[256];     /* name of the last object fully listed */
    bool started;       /* false when a new statedump command begins */
};
struct ctl_dump *ctl_dump_state(struct ctl *c);

/* One last non-blocking write of every controller's pending output (on
 * exit, so that replies to the commands before `terminate` are not lost). */
void ctl_flush_all(void);


#endif
