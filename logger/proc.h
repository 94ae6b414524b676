/* proc.h - dplog's processor (-p): `/bin/sh -c CMD` run on a rotated file,
 * svlogd's `!processor`.
 *
 * The child runs in DIR with stdin the rotated @NAME.u, stdout a new
 * `processed`, fd 4 `state` (read) and fd 5 `newstate` (written); stderr
 * is dplog's.  When it exits 0, logdir_processed() makes `processed` the
 * rotated file @NAME.s.
 */
#ifndef DPLOG_PROC_H
#define DPLOG_PROC_H

#include <sys/types.h>

/* Start the processor cmd on dirfd's file uname; its pid, or -1 with
 * errno (the fork failed).  A child that cannot set up its files exits
 * 111 after saying why on stderr. */
pid_t proc_start(int dirfd, const char *uname, const char *cmd);

#endif
