/* sockpath.c - the default control socket path (see sockpath.h). */
#include "sockpath.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/un.h>
#include <unistd.h>

int sockpath_default(char *buf, size_t len)
{
    const char *env = getenv("DAEMONPROXY_SOCKET");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (env && *env)
        n = snprintf(buf, len, "%s", env);
    else if (geteuid() == 0)
        n = snprintf(buf, len, "/run/daemonproxy.sock");
    else if (xdg && xdg[0] == '/')
        n = snprintf(buf, len, "%s/daemonproxy.sock", xdg);
    else
        n = snprintf(buf, len, "/tmp/daemonproxy-%lu.sock", (unsigned long)geteuid());
    /* The kernel wants the path and its NUL inside sun_path. */
    if (n < 0 || (size_t)n >= len || (size_t)n >= sizeof ((struct sockaddr_un *)0)->sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}
