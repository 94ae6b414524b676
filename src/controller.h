/* controller.h - one controller: a command stream and optionally an event
 * stream (outbuf.h), with framing, dispatch, and statedump resumption.
 *
 * Kinds (docs/protocol.md, "Controllers"): the config file, interactive
 * stdin/stdout, socket clients and service controllers.
 *
 * A controller's life (one enum in controller.c; each arrow is one call
 * of set_phase()):
 *
 *             EOF on input
 *   OPEN ----------------------> DRAINING ---------> FLUSHING ---------> CLOSED
 *     |   peer gone: the          (lines left      (output left    ^
 *     |   service ended, or        to execute)      to write)      |
 *     |   the event stream died ---^                   ^            |
 *     +--- `exit` ------------------------------------+            |
 *   any ---- ctl_close(): CLOSE timeout, a fatal error --------------+
 *
 *   OPEN      reads and executes commands.  Without a command stream it
 *             only lives for its events, until its reader goes away.
 *   DRAINING  reads nothing new, but executes every line already received
 *             and, when the peer is gone, every byte it had written that
 *             was not read yet: whatever a controller wrote before it
 *             went is executed, in order.
 *   FLUSHING  executes nothing more; writes what is pending, then closes.
 *   CLOSED    unlinked; freed at the end of the loop iteration.
 *
 * Fds (the rule everywhere): a function never takes ownership of an fd it
 * is given unless its comment says it takes it; one that takes an fd owns
 * it from the call on and closes it itself, also when it fails.  ctl_new
 * takes its fds.
 */
#ifndef CONTROLLER_H
#define CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctl;

enum ctl_kind {
    CTL_CONFIG,         /* -c FILE: commands only, errors to the log */
    CTL_INTERACTIVE,    /* -i: stdin/stdout; EOF or exit ends daemonproxy */
    CTL_CLIENT,         /* control-socket connection */
    CTL_SERVICE,        /* socketpair handed to a service */
};

/* --- the dispatcher ------------------------------------------------------ */

/* What running a command returns. */
enum ctl_run {
    CTL_RUN_DONE = 0,   /* finished */
    CTL_RUN_WAIT,       /* call again with the same fields once c has output
                         * room (statedump) */
    CTL_RUN_SPAWNED,    /* finished, and started a process: it counts as
                         * many lines towards c's share of a wakeup */
};

/* Runs one command line of c, split into argc fields (argv[0] is the
 * command's name); returns an enum ctl_run.  The controller knows no
 * command: main hands it the command table's (cmd_run), as redis's
 * event loop is handed its aeFileProc. */
typedef int (*ctl_dispatch_fn)(struct ctl *c, int argc, char **argv);
void ctl_set_dispatch(ctl_dispatch_fn fn);

/* Called when a controller goes away (owner bookkeeping). */
typedef void (*ctl_closed_fn)(void *owner, struct ctl *c);

/* A controller reading commands from in_fd and writing events to out_fd
 * (either may be -1; both may be the same socket).  Returns NULL (errno
 * set, the fds closed) on allocation failure. */
struct ctl *ctl_new(enum ctl_kind kind, int in_fd, int out_fd);

/* CLOSED now.  Safe from inside the controller's own command handler:
 * the memory is freed by a task. */
void ctl_close(struct ctl *c);

/* The `exit` command: FLUSHING. */
void ctl_end_input(struct ctl *c);

/* The process at the other end is gone (a controller service ended):
 * DRAINING, with nobody left to read the replies. */
void ctl_drain(struct ctl *c);

void ctl_set_closed_cb(struct ctl *c, ctl_closed_fn fn, void *owner);
/* Whether a closed callback is set: somebody's object is tied to c. */
bool ctl_has_closed_cb(const struct ctl *c);
/* A short name for log lines ("config", "stdin", "client 5", ...). */
const char *ctl_name(const struct ctl *c);
/* Where the running command comes from, for the log lines about it: the
 * name, or "FILE:LINE" for a config file given ctl_set_file (in a static
 * buffer, valid until the next call). */
const char *ctl_where(const struct ctl *c);
/* Who sent c's commands, as service.want records it: "uid=N" for a
 * control-socket client (SO_PEERCRED), "stdin" for -i, "controller" for a
 * config file or a controller service. */
void ctl_who(const struct ctl *c, char *buf, size_t size);
/* Name c's input after the file it reads (a copy is kept). */
void ctl_set_file(struct ctl *c, const char *path);
/* The most recent fd received with SCM_RIGHTS on this controller (owned by
 * the caller after the call), or -1. */
int ctl_take_fd(struct ctl *c);

/* Replies to the controller whose command is running. */
void ctl_reply(struct ctl *c, const char *line, size_t len);
/* Reply with the running command's fields from `from` (one of its argv)
 * to the end of its line, as one TAB-joined line. */
void ctl_reply_fields(struct ctl *c, const char *from);
/* "error\tMSG, for command \"...\"" for the running command; also logged. */
void ctl_error(struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "warning\tMSG" for the running command; also logged at warning level. */
void ctl_warning(struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bytes a reply may take now (0 without a live event stream, or while it
 * is overflowed). */
size_t ctl_out_room(const struct ctl *c);
/* True while c drops its output (see outbuf.h). */
bool ctl_overflowed(const struct ctl *c);
/* True if c has a live event stream (replies and events go somewhere). */
bool ctl_has_output(const struct ctl *c);

/* Send one line (with its '\n') to c alone, outside any command of c's
 * (a request addressed to it, a reply it is forwarded); dropped when c
 * has no live event stream. */
void ctl_send(struct ctl *c, const char *line, size_t len);

/* Who hears of every controller that closes, whatever its kind (one
 * listener, set by main: the request table), before its own closed
 * callback runs. */
typedef void (*ctl_gone_fn)(struct ctl *c);
void ctl_set_gone_listener(ctl_gone_fn fn);

/* True if a live controller exists (docs/protocol.md, "Shutdown"): one
 * still reading its commands that is a service controller, the
 * interactive stdin, or one serves() says serves requests. */
bool ctl_live_exists(bool (*serves)(const struct ctl *c));

/* Send one event line (with its '\n') to every controller with an event
 * stream. */
void ctl_broadcast(const char *line, size_t len);

/* The same to every controller except `skip` (which got a reply instead). */
void ctl_broadcast_except(const char *line, size_t len, const struct ctl *skip);

/* conn.event_timeout for c, in seconds. */
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
/* Close every controller at once (the fuzz targets' reset: daemonproxy
 * itself only ever ends them one at a time). */
void ctl_close_all(void);

/* Re-exec (reexec.h): every live controller as a record, with its fds,
 * the input it has not executed and the output it has not written; and
 * one back (NULL with *err NULL for a record that makes no controller).
 * A restored controller has no closed callback yet. */
struct state_out;
struct state_rec;
struct state_table;
void ctl_save(struct state_out *o);
struct ctl *ctl_restore(const struct state_rec *r, const char **err);
extern const struct state_table ctl_record, ctl_next_id_record;
struct ctl *ctl_by_id(unsigned id);
enum ctl_kind ctl_kind(const struct ctl *c);
unsigned ctl_id(const struct ctl *c);

#endif
