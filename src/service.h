/* service.h - service objects: definition (args, fds, tags, auto-up), the
 * state machine, and the name and pid indexes.
 *
 * States (docs/protocol.md, "service.state"):
 *
 *   SVC_DOWN   never started, or exited/killed (the last exit is kept)
 *   SVC_START  a start is pending: at a future time (service.start TS,
 *              auto-up waiting out MIN_INTERVAL, the retry after a failed
 *              fork), or due and waiting in the run queue for its turn
 *   SVC_UP     running with a pid
 *
 *          schedule              spawn                 reaped
 *   DOWN ------------> START -------------> UP -------------> DOWN
 *     ^                  |  spawn failed (ended)             (ended)
 *     +------------------+  cancelled, trigger gone
 *
 * A start a command asks for (service.start, service.auto_up whose trigger
 * holds) spawns within the command, after its `start` event.  Every other
 * start (auto-up after an exit or a signal, a timed start, a retry) waits
 * in the run queue, which spawns at most SVC_SPAWN_BATCH services per loop
 * iteration: a restart storm never keeps the loop from its controllers.
 * Restarts are delayed then, never lost, and MIN_INTERVAL counts from the
 * actual spawn.
 *
 * One function in service.c changes the state; it reports the change and,
 * when a run ended, re-evaluates auto-up.
 *
 * Reports: service.c knows no controller.  Everything it has to say goes
 * through one listener, which decides who hears it.
 */
#ifndef SERVICE_H
#define SERVICE_H

#include "svc_types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Spawns the run queue makes per loop iteration. */
#define SVC_SPAWN_BATCH 16

/* --- the listener (svc_types.h) --------------------------------------------- */

/* Where reports go (none until set). */
void svc_set_listener(const struct svc_listener *l);

/* One pointer of the listener's own per service (e.g. its controller);
 * service.c only stores it.  NULL when set. */
void *svc_attachment(const struct service *s);
/* False (nothing stored) when out of memory. */
bool svc_set_attachment(struct service *s, void *p);

/* --- definitions ------------------------------------------------------------ */

/* Preallocate n services with `size` bytes of strings each. */
void svc_pool(int64_t n, int64_t size);
/* Back to no pool, once there is no service (a testing seam, for the
 * restore fuzz target: daemonproxy keeps its pool for life). */
void svc_drop_pool(void);

bool svc_name_valid(const char *name);
struct service *svc_by_name(const char *name);
/* Find or create; NULL with *err set when the name is invalid or the
 * pool/allocator is exhausted. */
struct service *svc_get_or_create(const char *name, const char **err);
/* First service whose name sorts after name ("" = the first). */
struct service *svc_next_after(const char *name);
/* fn(s, ctx) for the services whose names sort after name, in order,
 * until it returns false: one search, then a step a service (a statedump
 * of 1,000 searched 1,000 times).  fn must not create or delete one. */
void svc_each_after(const char *name, bool (*fn)(struct service *s, void *ctx), void *ctx);
const char *svc_name(const struct service *s);
enum svc_state svc_state(const struct service *s);

/* True for a service.env entry: VAR=VALUE or -VAR. */
bool svc_env_entry_valid(const char *entry);

/* The words of a service.opts command, parsed, with the users and groups
 * they name looked up (execattr.h). */
struct svc_opts {
    unsigned flags;             /* SVC_OPT_* */
    unsigned fdstore;
    struct execattr *attr;      /* or NULL */
};
/* Parse n words into *o.  False with the error in err (o then holds
 * nothing to free). */
bool svc_opts_parse(int n, char *const *words, struct svc_opts *o, char *err, size_t errlen);
/* Set the options (o's attributes become s's) and report service.opts.
 * False with *err when out of memory (o's attributes freed). */
bool svc_set_opts(struct service *s, struct svc_opts *o, const char **err);
/* Free what o holds (parsed, then not set). */
void svc_opts_free(struct svc_opts *o);
/* Set one list from the n fields after NAME and report its event
 * (service.args, service.fds or service.tags).  On failure returns false
 * with *err set and changes nothing. */
bool svc_set(struct service *s, enum svc_field f, int n, char **vals, const char **err);
/* interval < 0 keeps the current one; triggers is a bit set from
 * svc_trigger_parse(); 0 disables auto-up.  A trigger that holds starts a
 * service that is down, at once (this is a command).  False (nothing
 * changed, *err set) when out of memory. */
bool svc_set_auto_up(struct service *s, int64_t interval, unsigned triggers,
                     const char **err);
/* Parse one trigger name ("always", "SIGHUP", ...); 0 if invalid. */
unsigned svc_trigger_parse(const char *name);

/* --- actions ------------------------------------------------------------------ */

/* Start now (when_ms <= now: spawns before returning) or at when_ms.
 * Returns false with a message in err ("service NAME: ...") if the service
 * did not start or get scheduled; a failure of the start itself is also
 * reported (SVC_EV_FAILED) with `cause`, which service.c never looks into. */
bool svc_start(struct service *s, int64_t when_ms, const void *cause, char *err, size_t errlen);
bool svc_cancel_start(struct service *s, const char **err);
/* Shutting down: every pending start is cancelled, and nothing starts a
 * service again (svc_start fails, auto-up and timed starts do nothing),
 * for the rest of the process's life. */
void svc_stop_starts(void);
/* Starts allowed again (a testing seam: the fuzz targets' reset). */
void svc_starts_on(void);
/* The pid of a running service, or 0. */
int svc_pid(const struct service *s);
/* Whom service.signal reaches. */
enum svc_sig_target { SVC_SIG_PID, SVC_SIG_GROUP, SVC_SIG_CGROUP };
bool svc_signal(struct service *s, int signo, enum svc_sig_target to, const char **err);
bool svc_delete(struct service *s, const char **err);

/* --- the desired state (service.want) ------------------------------------------ */

/* "up", "down", "failed", "-" to enum svc_want; -1 if none of them. */
int svc_want_parse(const char *word);
const char *svc_want_name(enum svc_want w);
/* True for a BY service.want records: "uid=N", "controller", "stdin". */
bool svc_want_by_valid(const char *by);
/* Record what `by` wants of s, with why (n fields), broadcasting
 * service.want when the record changed, then act on it, as often as it is
 * asked: DOWN and FAILED cancel a pending start; UP starts s now if it is
 * down with no start pending (as svc_start: cause, err); NONE lets
 * auto-up decide again.  False with err set when the record was refused
 * (nothing changed) or UP's start failed (the record stands). */
bool svc_want(struct service *s, enum svc_want w, const char *by, int n, char **why,
              const void *cause, char *err, size_t errlen);

/* Format the statedump lines of s into buf (the five of the original, then
 * those of extensions in use).  Returns the length, or 0 if they do not
 * fit in size. */
size_t svc_format_dump(const struct service *s, char *buf, size_t size);

/* service.exits of s into l (begun, not ended): its exit history, also
 * when it has none (COUNT 0, SINCE "-"; docs/protocol.md, "Exit
 * history"). */
struct proto_line;
void svc_format_exits(const struct service *s, struct proto_line *l);

/* Re-exec (reexec.h): every service as records, and one record back
 * (services are restored into an empty registry). */
struct state_out;
struct state_rec;
struct state_table;
void svc_save(struct state_out *o);
bool svc_restore(const struct state_rec *r, const char **err);
extern const struct state_table svc_record, svc_pool_record;

/* SIGCHLD: reap exited children, at most a batch per call (the rest from
 * a loop task, so that exits cannot keep the loop from other work). */
void svc_reap(void);
/* A control signal's count changed: re-evaluate signal triggers. */
void svc_signal_changed(int signo);
/* Log every running service (on exit). */
void svc_log_running(void);

#endif
