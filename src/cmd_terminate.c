/* cmd_terminate.c - terminate, terminate.exec_args, terminate.guard, and
 * shutdown (shutdown.h), which ends the same way. */
#include "cmd.h"
#include "controller.h"
#include "shutdown.h"
#include "sys.h"
#include "term.h"

#include <string.h>

/* The exit code and the guard rules, shared by terminate and shutdown:
 * false (answered) when daemonproxy may not exit.  guard_arg: the GUARD
 * field, or NULL. */
static bool exit_allowed(struct ctl *c, const char *code_arg, const char *guard_arg,
                         int64_t *code)
{
    int64_t guard;
    if (!sys_parse_int(code_arg, 0, 255, code)) {
        ctl_error(c, "invalid exit code '%s' (expected 0..255)", code_arg);
        return false;
    }
    if (!term_guarded())
        return true;
    /* The guard exists so that daemonproxy never just disappears: the
     * right code only permits replacing it via exec-on-exit. */
    if (term_guard_has_code()) {
        if (!guard_arg) {
            ctl_error(c, "exit guard is set: guard code required");
            return false;
        }
        if (!sys_parse_int(guard_arg, INT64_MIN, INT64_MAX, &guard) ||
            !term_guard_matches(guard)) {
            ctl_error(c, "incorrect guard code");
            return false;
        }
    }
    if (!term_exec_set()) {
        ctl_error(c, "exit guard is set and no exec-on-exit args are configured "
                     "(see terminate.exec_args)");
        return false;
    }
    return true;
}

int cmd_terminate(struct ctl *c, int argc, char **argv)
{
    int64_t code;
    if (!exit_allowed(c, argv[1], argc > 2 ? argv[2] : NULL, &code))
        return 0;
    term_exit_asked((int)code, ctl_where(c));
}

/* shutdown→CODE→[GRACE]→[GUARD]: an empty GRACE is the default. */
int cmd_shutdown(struct ctl *c, int argc, char **argv)
{
    int64_t code, grace = SHUTDOWN_GRACE_DEFAULT;
    if (argc > 2 && argv[2][0] && !sys_parse_int(argv[2], 0, 86400, &grace)) {
        ctl_error(c, "invalid grace '%s' (seconds, 0..86400)", argv[2]);
        return 0;
    }
    if (!exit_allowed(c, argv[1], argc > 3 ? argv[3] : NULL, &code))
        return 0;
    shutdown_begin((int)code, grace, ctl_where(c));
    return 0;
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
