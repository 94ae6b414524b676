/* pidfile.h - --pidfile: a file holding daemonproxy's pid, for init
 * scripts and monitors that find a daemon by its pidfile.
 *
 * The file is written once the process that carries on exists (after
 * --daemonize's fork) and removed when daemonproxy exits cleanly.  It is
 * left in place when daemonproxy execs its exit-exec program (that may be
 * a new daemonproxy with the same pid) and on the fatal-signal path.
 * Only this module knows the path; it is remembered absolute, so a
 * controller's chdir does not move it.
 */
#ifndef PIDFILE_H
#define PIDFILE_H

#include <stdbool.h>

/* Write getpid() and a newline to path atomically (a temporary file in the
 * same directory, mode 0644, renamed over path) and remember path.  On
 * failure returns false with errno set and *err naming the step; nothing
 * is left behind and the remembered path is unchanged. */
bool pidfile_write(const char *path, const char **err);

/* The remembered path (absolute), or NULL: what a re-exec must hand on. */
const char *pidfile_path(void);

/* Remember path without writing it: after a re-exec the pid is the same
 * and the file is already there.  NULL forgets.  Out of memory forgets
 * too (the file is then left at exit, never wrongly removed). */
void pidfile_adopt(const char *path);

/* Unlink the remembered file if it still holds our pid (someone else's
 * pidfile at that path is left alone), and forget the path. */
void pidfile_remove(void);

#endif
