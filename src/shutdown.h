/* shutdown.h - daemonproxy's own orderly end (the `shutdown` command)
 * and the SIGTERM fail-safe (docs/protocol.md, "Shutdown").
 *
 * A shutdown turns every start off (svc_stop_starts), sends SIGTERM to
 * every running service (its cgroup under --cgroup, else its process
 * group when it leads one, else its pid), SIGKILL to what is left after
 * GRACE seconds, and exits with its code through term_exit_asked() (the
 * exit guard was checked by the command) once no service runs and
 * daemonproxy has no child process left.
 *
 * The fail-safe: SIGTERM or SIGINT while no live controller exists
 * (controller.h, ctl_live_exists) starts a wait of --failsafe seconds;
 * if there is still none then, a shutdown with code 0 follows.
 */
#ifndef SHUTDOWN_H
#define SHUTDOWN_H

#include <stdbool.h>
#include <stdint.h>

/* GRACE when the command gives none, and the fail-safe's. */
#define SHUTDOWN_GRACE_DEFAULT 10
/* The fail-safe's wait by default (--failsafe), in seconds. */
#define SHUTDOWN_FAILSAFE_DEFAULT 5
/* After SIGKILL, how long a process may take to go (one stuck in the
 * kernel, say) before daemonproxy exits anyway, naming what is left. */
#define SHUTDOWN_KILL_WAIT 5

/* Begin (or, when one runs, only shorten its GRACE to grace_s from now:
 * its code stays).  who: for the log and DAEMONPROXY_ERROR. */
void shutdown_begin(int code, int64_t grace_s, const char *who);
bool shutdown_active(void);

/* The fail-safe's wait in seconds; -1: off (the signal is only an event). */
void shutdown_set_failsafe(int64_t seconds);

/* A control signal's count changed (signals.h's count callback). */
void shutdown_signal(int signo);
/* A service changed state or an orphan was reaped (svcctl's hook): the
 * shutdown may be complete. */
void shutdown_progress(void);

/* Back to no shutdown, starts allowed, the default fail-safe (a testing
 * seam: the fuzz targets' reset). */
void shutdown_reset(void);

/* Re-exec (reexec.h): the fail-safe's setting and a wait under way. */
struct state_out;
struct state_rec;
struct state_table;
void shutdown_save(struct state_out *o);
bool shutdown_restore(const struct state_rec *r, const char **err);
extern const struct state_table shutdown_record;
/* After every record is restored: the signal counts as they are now are
 * not news (a signal.clear must not look like a signal). */
void shutdown_restored(void);

#endif
