/* test_cmd.c - the command table (cmd.h): sorted, every name found by
 * cmd_find() and nothing else, and every command with its argument rule. */
#include "cmd.h"
#include "unit.h"

/* --- command table ------------------------------------------------------- */

static void test_cmd_table(void)
{
    size_t n = 0;
    const struct cmd_def *t = cmd_table(&n);
    CHECK(t != NULL);
    CHECK(n >= 25);

    bool sorted = true, findable = true, args_ok = true, fns = true;
    for (size_t i = 0; i < n; i++) {
        if (i && strcmp(t[i - 1].name, t[i].name) >= 0) {
            fprintf(stderr, "cmd table out of order: \"%s\" before \"%s\"\n",
                    t[i - 1].name, t[i].name);
            sorted = false;
        }
        if (cmd_find(t[i].name) != &t[i]) {
            fprintf(stderr, "cmd \"%s\" not found by cmd_find\n", t[i].name);
            findable = false;
        }
        if (t[i].min_args < 0 || (t[i].max_args != -1 && t[i].max_args < t[i].min_args)) {
            fprintf(stderr, "cmd \"%s\": bad argument range %d..%d\n",
                    t[i].name, t[i].min_args, t[i].max_args);
            args_ok = false;
        }
        if (!t[i].fn || !t[i].name[0])
            fns = false;
    }
    CHECK(sorted);
    CHECK(findable);
    CHECK(args_ok);
    CHECK(fns);

    const char *unknown[] = {
        "", "a", "zzz", "~", "ech", "echo2", "echo ", " echo", "ECHO", "Echo",
        "service", "service.", "fd", "fd.pipe2", "terminate.", "statedump\t",
        "signal", "log", "exit\n", "chdir/",
    };
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++)
        CHECK(cmd_find(unknown[i]) == NULL);

    /* Every command of docs/protocol.md, "Commands" with its argument rule. */
    static const struct { const char *name; int min, max; } spec[] = {
        { "echo", 0, -1 },
        { "statedump", 0, 0 },
        { "exit", 0, 0 },
        { "conn.event_timeout", 2, 2 },
        { "chdir", 1, 1 },
        { "service.args", 1, -1 },
        { "service.fds", 1, -1 },
        { "service.tags", 1, -1 },
        { "service.auto_up", 2, -1 },
        { "service.start", 1, 2 },
        { "service.signal", 2, 3 },
        { "service.delete", 1, 1 },
        { "service.want", 2, -1 },
        { "fd.pipe", 2, 3 },
        { "fd.open", 3, 3 },
        { "fd.socket", 2, 3 },
        { "fd.take", 1, 1 },
        { "fd.delete", 1, 1 },
        { "log.filter", 0, 1 },
        { "log.dest", 2, 2 },
        { "signal.clear", 2, 2 },
        { "socket.create", 2, 2 },
        { "socket.delete", 0, 0 },
        { "terminate", 1, 2 },
        { "terminate.exec_args", 0, -1 },
        { "terminate.guard", 2, 2 },
        { "shutdown", 1, 3 },
        { "ctl.serve", 0, -1 },
        { "ctl.request", 1, -1 },
        { "ctl.reply", 2, -1 },
    };
    for (size_t i = 0; i < sizeof spec / sizeof *spec; i++) {
        const struct cmd_def *d = cmd_find(spec[i].name);
        if (!CHECK(d != NULL)) {
            fprintf(stderr, "  missing command: %s\n", spec[i].name);
            continue;
        }
        CHECK_STREQ(d->name, spec[i].name);
        if (!CHECK_EQ(d->min_args, spec[i].min) || !CHECK_EQ(d->max_args, spec[i].max))
            fprintf(stderr, "  for command: %s\n", spec[i].name);
    }
}

UNIT_MAIN(test_cmd_table)
