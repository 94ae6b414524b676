/* logdir.h - dplog's directory: the lock, `current`, rotation, KEEP and
 * the recovery of a rotation cut short (dplog(1) FILES).
 *
 * Every file is opened relative to an O_DIRECTORY fd of DIR, with
 * O_NOFOLLOW and O_CLOEXEC.  Errors are not printed here: a function that
 * fails returns false (or NULL) with one line in err, "PATH: what: why",
 * which the caller prints after "dplog: ".
 */
#ifndef DPLOG_LOGDIR_H
#define DPLOG_LOGDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct logdir;

/* How long to wait, called while another dplog holds the lock: sleeps a
 * while (signals may end it early) and returns false to give up. */
typedef bool logdir_wait_fn(void);

/* Make DIR (mkdir -p: parents 0755, DIR 0750), take its lock (printing
 * "in use by another dplog (pid N)" once and calling wait until it is
 * free), put back a rotation cut short, and open `current` for appending.
 * keep: rotated files kept (-1: all).  NULL with err set, or with err ""
 * when wait gave up. */
struct logdir *logdir_open(const char *path, long keep, logdir_wait_fn *wait,
                           char *err, size_t errlen);

/* The same directory again (SIGHUP): d reopened in place when DIR is still
 * the directory d has (the lock kept), else a new one (locked) and d
 * closed.  On failure d is unchanged and still usable. */
bool logdir_reopen(struct logdir **d, logdir_wait_fn *wait, char *err, size_t errlen);

void logdir_close(struct logdir *d);

/* current's fd (O_APPEND), and its size: what it had when opened plus
 * what logdir_wrote added. */
int logdir_fd(const struct logdir *d);
uint64_t logdir_size(const struct logdir *d);
void logdir_wrote(struct logdir *d, size_t n);

/* The first bytes of current (up to n) into buf: how many, or -1. */
long logdir_head(const struct logdir *d, char *buf, size_t n);

/* "DIR/current", for messages. */
const char *logdir_current_path(const struct logdir *d);

/* Rotate (link current to a new @NAME.s strictly above every other,
 * replace current by a new empty file, delete the oldest beyond KEEP);
 * name_out (28 bytes, or NULL) gets the new name.  Resumable: after a
 * failure the next call does what is left, never linking twice. */
bool logdir_rotate(struct logdir *d, char *name_out, char *err, size_t errlen);

/* --- the processor (-p) ----------------------------------------------------
 * With it on, a rotation links current to @NAME.u instead; once a
 * processor has turned @NAME.u into `processed` (and perhaps `newstate`),
 * logdir_processed renames that to @NAME.s (and `state`), removes the .u
 * and applies KEEP.  A .u is invisible to readers meanwhile. */
void logdir_set_process(struct logdir *d, bool on);
int logdir_dirfd(const struct logdir *d);
bool logdir_processed(struct logdir *d, const char *name, char *err, size_t errlen);

/* The oldest @NAME.u still to process into name (28 bytes); a .u whose .s
 * exists already (processed, not yet removed) is removed.  False: none. */
bool logdir_unprocessed(struct logdir *d, char *name);

#endif
