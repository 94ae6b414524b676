/* cmd_conn.c - commands about the controller connection and the process:
 * echo, exit, conn.event_timeout, chdir. */
#include "cmd.h"
#include "controller.h"
#include "sys.h"

#include <errno.h>
#include <unistd.h>

int cmd_echo(struct ctl *c, int argc, char **argv)
{
    if (argc >= 2)
        ctl_reply_fields(c, argv[1]);
    return 0;
}

int cmd_exit(struct ctl *c, int argc, char **argv)
{
    ctl_end_input(c);
    return 0;
}

int cmd_conn_event_timeout(struct ctl *c, int argc, char **argv)
{
    int64_t reset, close_s;
    if (!sys_parse_int(argv[1], 0, INT32_MAX, &reset) ||
        !sys_parse_int(argv[2], 0, INT32_MAX, &close_s)) {
        ctl_error(c, "invalid timeout: expected integers 0..2147483647");
        return 0;
    }
    if (reset > close_s) {
        ctl_error(c, "invalid timeout: RESET must not exceed CLOSE");
        return 0;
    }
    ctl_set_timeouts(c, reset, close_s);
    return 0;
}

int cmd_chdir(struct ctl *c, int argc, char **argv)
{
    if (chdir(argv[1]) < 0)
        ctl_error(c, "chdir failed: %s", sys_strerror(errno));
    return 0;
}
