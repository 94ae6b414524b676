/* cmd_signal.c - signal.clear. */
#include "cmd.h"
#include "controller.h"
#include "signals.h"
#include "sys.h"

int cmd_signal_clear(struct ctl *c, int argc, char **argv)
{
    int signo = sig_parse(argv[1]);
    if (!signo || sig_control_index(signo) < 0) {
        ctl_error(c, "invalid signal '%s' (expected %s)", argv[1], sig_control_list());
        return 0;
    }
    int64_t n;
    if (!sys_parse_int(argv[2], 0, INT64_MAX, &n)) {
        ctl_error(c, "invalid count '%s'", argv[2]);
        return 0;
    }
    sig_clear(signo, n);
    return 0;
}
