/* sockpath.h - the default control socket path, shared by daemonproxy
 * (--default-socket) and dpctl, so that both find the same socket, and the
 * rule that keeps its fallback directory out of other users' hands.
 *
 * The path (docs/daemonproxy.1, docs/dpctl.1): $DAEMONPROXY_SOCKET if set
 * and not empty; else /run/daemonproxy.sock for root; else
 * $XDG_RUNTIME_DIR/daemonproxy.sock when that is an absolute path; else the
 * fallback /tmp/daemonproxy-UID/daemonproxy.sock.  Any user may create a
 * name in /tmp first, so the fallback directory is trusted only when
 * lstat() says it is a directory (not a symlink) owned by the euid and
 * closed to group and others.  The daemon creates it (0700) when missing;
 * a client never creates it.
 */
#ifndef SOCKPATH_H
#define SOCKPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Where the fallback directory lives outside the unit tests. */
#define SOCKPATH_TMP "/tmp"

/* The outcome of finding the default path. */
enum sockpath_result {
    SOCKPATH_OK = 0,        /* the path is in buf (its directory, if any, trusted or missing) */
    SOCKPATH_TOO_LONG,      /* over buf or a sockaddr_un */
    SOCKPATH_REFUSED,       /* the fallback directory fails the check, or cannot be made */
};

/* The rule itself, with its inputs given: sock and xdg are the values of
 * DAEMONPROXY_SOCKET and XDG_RUNTIME_DIR (NULL when unset), tmp the
 * directory of the fallback.  Writes the path into buf.  Returns 1 when it
 * is the fallback (its directory must be checked), 0 when not, or -1 with
 * errno ENAMETOOLONG when it does not fit in len or in a sockaddr_un. */
int sockpath_choose(const char *sock, const char *xdg, uid_t euid, const char *tmp,
                    char *buf, size_t len);

/* Check the directory of the fallback path for euid; with create, make it
 * (mode 0700) when missing.  Returns SOCKPATH_OK when it is trusted (or,
 * without create, missing: connect() then finds no daemon there), else
 * SOCKPATH_REFUSED with one line in msg that says what the user can do:
 * "refusing /tmp/daemonproxy-1000 for the default socket: owned by uid
 * 65534, not 1000; ask root to remove it, or set XDG_RUNTIME_DIR or
 * DAEMONPROXY_SOCKET" (their own: "remove it"; their own with a bad mode:
 * "chmod 700 it or remove it"). */
enum sockpath_result sockpath_check_dir(const char *path, uid_t euid, bool create,
                                        char *msg, size_t msglen);

/* daemonproxy --default-socket: the default path of this process into buf,
 * its fallback directory created or verified.  msg as above (also for
 * SOCKPATH_TOO_LONG). */
enum sockpath_result sockpath_for_daemon(char *buf, size_t len, char *msg, size_t msglen);

/* A client: the same path, its fallback directory verified, never created. */
enum sockpath_result sockpath_for_client(char *buf, size_t len, char *msg, size_t msglen);

#endif
