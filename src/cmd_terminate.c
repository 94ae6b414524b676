/* cmd_terminate.c - terminate, terminate.exec_args, terminate.guard. */
#include "cmd.h"
#include "controller.h"
#include "sys.h"
#include "term.h"

#include <string.h>

int cmd_terminate(struct ctl *c, int argc, char **argv)
{
    int64_t code, guard;
    if (!sys_parse_int(argv[1], 0, 255, &code)) {
        ctl_error(c, "invalid exit code '%s' (expected 0..255)", argv[1]);
        return 0;
    }
    if (term_guarded()) {
        /* The guard exists so that daemonproxy never just disappears:
         * the right code only permits replacing it via exec-on-exit. */
        if (term_guard_has_code()) {
            if (argc < 3) {
                ctl_error(c, "exit guard is set: guard code required");
                return 0;
            }
            if (!sys_parse_int(argv[2], INT64_MIN, INT64_MAX, &guard) ||
                !term_guard_matches(guard)) {
                ctl_error(c, "incorrect guard code");
                return 0;
            }
        }
        if (!term_exec_set()) {
            ctl_error(c, "exit guard is set and no exec-on-exit args are configured "
                         "(see terminate.exec_args)");
            return 0;
        }
    }
    term_exit_asked((int)code, ctl_where(c));
}

int cmd_terminate_exec_args(struct ctl *c, int argc, char **argv)
{
    if (!term_set_exec(argc - 1, argv + 1))
        ctl_error(c, "unable to allocate exec args");
    return 0;
}

int cmd_terminate_guard(struct ctl *c, int argc, char **argv)
{
    int64_t code;
    bool plus = strcmp(argv[1], "+") == 0;
    if (!plus && strcmp(argv[1], "-") != 0) {
        ctl_error(c, "expected + or -, not '%s'", argv[1]);
        return 0;
    }
    if (!sys_parse_int(argv[2], INT64_MIN, INT64_MAX, &code) || code == 0) {
        ctl_error(c, "invalid guard code '%s' (a nonzero 64-bit integer)", argv[2]);
        return 0;
    }
    if (plus) {
        if (term_guard_has_code())
            ctl_error(c, "exit guard already set");
        else
            term_guard_set(code);
    } else if (term_guard_has_code()) {
        if (term_guard_matches(code))
            term_guard_clear();
        else
            ctl_error(c, "incorrect guard code");
    }
    return 0;
}
