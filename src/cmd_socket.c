/* cmd_socket.c - socket.create, socket.delete: the listening control
 * socket (ctlsock.h). */
#include "cmd.h"
#include "controller.h"
#include "ctlsock.h"
#include "sys.h"

#include <errno.h>
#include <string.h>

int cmd_socket_create(struct ctl *c, int argc, char **argv)
{
    if (argv[1][0] && strcmp(argv[1], "-") != 0) {
        ctl_error(c, "invalid options '%s' (must be empty or -)", argv[1]);
        return 0;
    }
    const char *err;
    if (ctlsock_create(argv[2], &err) < 0)
        ctl_error(c, "%s: %s", err, sys_strerror(errno));
    return 0;
}

int cmd_socket_delete(struct ctl *c, int argc, char **argv)
{
    ctlsock_delete();
    return 0;
}
