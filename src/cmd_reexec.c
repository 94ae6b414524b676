/* cmd_reexec.c - reexec: daemonproxy replaced by a new binary, nothing
 * ended (reexec.h). */
#include "cmd.h"
#include "controller.h"
#include "reexec.h"
#include "shutdown.h"

int cmd_reexec(struct ctl *c, int argc, char **argv)
{
    char err[600];
    /* A shutdown's process groups and kill timer are not handed over:
     * it ends this process's life anyway. */
    if (shutdown_active())
        ctl_error(c, "reexec: daemonproxy is shutting down");
    else if (!reexec_request(argc > 1 && argv[1][0] ? argv[1] : NULL, err, sizeof err))
        ctl_error(c, "reexec: %s", err);
    return 0;
}
