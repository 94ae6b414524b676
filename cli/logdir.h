/* logdir.h - reading a log directory as dplog writes it (docs/dplog.1;
 * the reader's rules: `current`, rotated files "@" + TAI64N label + ".s"
 * whose names sort as their times, a rotation that links current to its
 * new name before a fresh current is renamed over it).
 *
 * A scan takes a snapshot: the rotated files in order, then `current`,
 * each file once (the link instant of a rotation shows one file under
 * two names).  Files are opened when asked for, so that reading the last
 * lines opens only the newest files; one deleted meanwhile (dplog keeps
 * N) is skipped.  Following, a rotation is seen as `current` naming
 * another file than the one read: read that one to its end, then scan
 * again, which yields the files rotated since and the new `current`:
 * nothing is read twice, nothing is left out.
 */
#ifndef DPCTL_LOGDIR_H
#define DPCTL_LOGDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct logdir;

/* Open the directory at path.  NULL with errno set (ENOENT, EACCES,
 * ENOTDIR, ENOMEM). */
struct logdir *logdir_open(const char *path);
void logdir_close(struct logdir *d);

/* Take the snapshot of the files to read next: at the first scan every
 * rotated file and `current`; at a later one the files rotated since the
 * last and the new `current`.  Returns how many (`current` last, when
 * there is one), or -1 with errno set (ENOTSUP: `current` is not a
 * regular file). */
ssize_t logdir_scan(struct logdir *d);

/* The last scan failed at opening `current` (not at listing). */
bool logdir_current_failed(const struct logdir *d);

/* File i of the last scan: its fd (opened now), or -1 when it is to be
 * skipped: errno ENOENT (deleted meanwhile) or 0 (a file already given);
 * any other errno is a failure (ENOTSUP: not a regular file).  The fd
 * stays the logdir's. */
int logdir_file(struct logdir *d, size_t i);

/* File i's name (for messages: "current", "@....s"). */
const char *logdir_name(const struct logdir *d, size_t i);

/* File i's size when it was opened (its end, for reading backwards). */
off_t logdir_size(const struct logdir *d, size_t i);

/* Whether file i of the last scan is `current`. */
bool logdir_is_current(const struct logdir *d, size_t i);

/* `current` now names another file than the last scan's (or exists now
 * and did not then): read the last scan's `current` to its end, then
 * scan again. */
bool logdir_rotated(struct logdir *d);

/* Something changed in the directory: an fd to poll for reading
 * (inotify), or -1 when there is none (then poll on a short timeout).
 * logdir_drain() takes the notices in after it was readable. */
int logdir_notify_fd(const struct logdir *d);
void logdir_drain(struct logdir *d);

#endif
