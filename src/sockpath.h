/* sockpath.h - the default control socket path, shared by daemonproxy
 * (--default-socket) and dpctl, so that both find the same socket.
 *
 * The rule (docs/daemonproxy.1, docs/dpctl.1): $DAEMONPROXY_SOCKET if set
 * and not empty; else /run/daemonproxy.sock for root; else
 * $XDG_RUNTIME_DIR/daemonproxy.sock when that is an absolute path; else
 * /tmp/daemonproxy-UID.sock.
 */
#ifndef SOCKPATH_H
#define SOCKPATH_H

#include <stddef.h>

/* Write the default path into buf.  Returns 0, or -1 with errno
 * ENAMETOOLONG when it does not fit in len or in a sockaddr_un. */
int sockpath_default(char *buf, size_t len);

#endif
