/* sdnotify.h - daemonproxy telling its own service manager about itself
 * (systemd's Type=notify): READY=1 once the config file has been executed,
 * STOPPING=1 when it exits.  The services' notifications to daemonproxy
 * are another matter: see notify.h.
 *
 * main() captures $NOTIFY_SOCKET before it removes the variable from the
 * environment (services must not inherit it); from then on only this
 * module knows the address.  Sending is best effort: a failure is logged,
 * never fatal, and never blocks the loop.
 */
#ifndef SDNOTIFY_H
#define SDNOTIFY_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Pure: turn a NOTIFY_SOCKET value into an AF_UNIX address.  "/path" is a
 * path socket, "@name" an abstract one (the '@' becomes the leading NUL).
 * Returns false for anything else (empty, relative, "vsock:...", too long
 * for sun_path). */
bool sdnotify_parse_addr(const char *s, struct sockaddr_un *sa, socklen_t *len);

/* Remember value (the caller's $NOTIFY_SOCKET, or NULL) as the manager's
 * address.  An unusable value is logged when the first message is sent
 * (the log is not set up yet when this runs) and disables notification. */
void sdnotify_init(const char *value);

/* Whether a usable address was given. */
bool sdnotify_enabled(void);
/* The value sdnotify_init() was given ("" if none), for a re-exec. */
const char *sdnotify_value(void);

/* Send msg (newline-separated assignments, e.g. "READY=1\nSTATUS=...")
 * in one datagram.  Nothing without an address; failures are logged. */
void sdnotify_send(const char *msg);

#endif
