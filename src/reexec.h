/* reexec.h - replacing daemonproxy with a new binary of itself while
 * everything carries on: the pid (so every service stays its child), the
 * handles at their fds, the control socket, the controllers' connections
 * with their unread input and unwritten output, the services' states and
 * pending starts, the signal counts, the log.
 *
 * The old process (the `reexec` command):
 *
 *   1. runs `NEW --state-check=VERSION --restore=FD` with the state as it
 *      is now in FD and every fd the state names inherited at its own
 *      number, and waits for it without blocking the loop: the new binary
 *      restores that state in its own process, as the re-exec will, drops
 *      it, and must print "daemonproxy-state VERSION ok" and exit 0, else
 *      nothing happens and every controller gets `error→reexec: ...`.
 *      (A binary from before this check reads only the version and
 *      ignores --restore: its answer still counts.)
 *   2. writes the state (state.h) to a memfd, clears close-on-exec on the
 *      fds it names, and execs `NEW --restore=FD` (plus the options the
 *      exit path needs before the state is read: --container,
 *      --exit-guard, --exit-exec).  If execve fails, the flags are put
 *      back and the daemon carries on unchanged.
 *
 * The new process (main, with --restore) loads the state, restores every
 * module from its records, and tells every controller
 * `reexec→VERSION→PATH`.  A state it cannot restore is fatal: it never
 * starts empty.
 */
#ifndef REEXEC_H
#define REEXEC_H

#include <stdbool.h>
#include <stddef.h>

struct ctl;

/* What main() set up from its options and a new process must set up the
 * same way before the state's records are restored. */
struct reexec_settings {
    const char *cgroup;         /* --cgroup DIR, or NULL */
    bool mlockall;
    bool container;             /* --container (passed on as an option) */
    bool daemonized;            /* the -D child */
};

/* At start: remember the settings (copied) and the binary to run by
 * default (this one, from /proc/self/exe). */
void reexec_init(const struct reexec_settings *s);

/* The reexec command: start replacing daemonproxy with path (NULL: the
 * default).  False with a message in err when it cannot even begin (the
 * rest of the outcome is broadcast). */
bool reexec_request(const char *path, char *err, size_t errlen);

/* --state-check=VERSION: print the answer; the exit status (0: this
 * binary restores that version).  unusable: why restoring the state that
 * came with it (--restore) failed, or NULL. */
int reexec_check(const char *version, const char *unusable);

/* The new process: read the state from fd (closed) and give main the
 * settings to apply.  False with *err when the state is unusable. */
bool reexec_load(int fd, struct reexec_settings *s, const char **err);

/* Called for each restored controller of a kind main owns (the config
 * file, stdin), so it can set its closed callback. */
typedef void (*reexec_ctl_fn)(struct ctl *c);

/* The state as a re-exec would write it now (a testing seam: the unit
 * test's round trip of every record). */
struct state_out;
void reexec_save(struct state_out *o);
extern const struct state_table reexec_record;      /* "reexec": the settings */

/* Restore every record after the settings.  False with *err (and a
 * half-restored daemon that must not go on) when a record is bad. */
bool reexec_restore(reexec_ctl_fn on_ctl, const char **err);

#endif
