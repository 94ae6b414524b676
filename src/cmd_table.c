/* cmd_table.c - the command table (one row per command, sorted by name; a
 * unit test checks the order), its lookup and dispatch.  Argument counts
 * exclude the command name; -1 = unlimited. */
#include "cmd.h"
#include "controller.h"
#include "log.h"
#include "protocol.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static const struct cmd_def table[] = {
    { "chdir",              cmd_chdir,               1, 1 },
    { "conn.event_timeout", cmd_conn_event_timeout,  2, 2 },
    { "echo",               cmd_echo,                0, -1 },
    { "exit",               cmd_exit,                0, 0 },
    { "fd.delete",          cmd_fd_delete,           1, 1 },
    { "fd.open",            cmd_fd_open,             3, 3 },
    { "fd.pipe",            cmd_fd_pipe,             2, 3 },
    { "fd.socket",          cmd_fd_socket,           2, 3 },
    { "fd.take",            cmd_fd_take,             1, 1 },
    { "log.dest",           cmd_log_dest,            2, 2 },
    { "log.filter",         cmd_log_filter,          0, 1 },
    { "reexec",             cmd_reexec,              0, 1 },
    { "service.args",       cmd_service_args,        1, -1 },
    { "service.auto_up",    cmd_service_auto_up,     2, -1 },
    { "service.delete",     cmd_service_delete,      1, 1 },
    { "service.env",        cmd_service_env,         1, -1 },
    { "service.fds",        cmd_service_fds,         1, -1 },
    { "service.opts",       cmd_service_opts,        1, -1 },
    { "service.signal",     cmd_service_signal,      2, 3 },
    { "service.start",      cmd_service_start,       1, 2 },
    { "service.tags",       cmd_service_tags,        1, -1 },
    { "signal.clear",       cmd_signal_clear,        2, 2 },
    { "socket.create",      cmd_socket_create,       2, 2 },
    { "socket.delete",      cmd_socket_delete,       0, 0 },
    { "statedump",          cmd_statedump,           0, 0 },
    { "terminate",          cmd_terminate,           1, 2 },
    { "terminate.exec_args", cmd_terminate_exec_args, 0, -1 },
    { "terminate.guard",    cmd_terminate_guard,     2, 2 },
};
#define TABLE_LEN (sizeof table / sizeof table[0])

const struct cmd_def *cmd_table(size_t *n)
{
    *n = TABLE_LEN;
    return table;
}

/* Lookup runs once per line, so it is a hash probe rather than a binary
 * search of strcmp()s: FNV-1a into a small open-addressed index over the
 * table, built on first use. */
#define CMD_HASH_SLOTS 128
_Static_assert(TABLE_LEN < CMD_HASH_SLOTS / 2, "grow CMD_HASH_SLOTS");

static uint32_t name_hash(const char *s, size_t *len)
{
    uint32_t h = 2166136261u;
    const char *p = s;
    for (; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    *len = (size_t)(p - s);
    return h;
}

const struct cmd_def *cmd_find(const char *name)
{
    static unsigned char slots[CMD_HASH_SLOTS];     /* table index + 1 */
    static unsigned char lens[CMD_HASH_SLOTS];
    static bool built;
    size_t len;
    if (!built) {
        for (size_t i = 0; i < TABLE_LEN; i++) {
            uint32_t k = name_hash(table[i].name, &len) % CMD_HASH_SLOTS;
            while (slots[k])
                k = (k + 1) % CMD_HASH_SLOTS;
            slots[k] = (unsigned char)(i + 1);
            lens[k] = (unsigned char)len;
        }
        built = true;
    }
    uint32_t k = name_hash(name, &len) % CMD_HASH_SLOTS;
    for (; slots[k]; k = (k + 1) % CMD_HASH_SLOTS) {
        const struct cmd_def *d = &table[slots[k] - 1];
        if (lens[k] == len && memcmp(d->name, name, len) == 0)
            return d;
    }
    return NULL;
}

static const char *plural(int n) { return n == 1 ? "" : "s"; }

int cmd_run(struct ctl *c, int argc, char **argv)
{
    const struct cmd_def *d = cmd_find(argv[0]);
    if (!d) {
        /* This one error has no "for command" excerpt (docs/protocol.md,
         * "Errors"). */
        struct proto_line l;
        log_error("%s: unknown command %s", ctl_where(c), argv[0]);
        proto_line_begin(&l, "error");
        proto_line_addf(&l, "Unknown command: %s", argv[0]);
        size_t n = proto_line_end(&l);
        ctl_reply(c, l.buf, n);
        return CMD_DONE;
    }
    int nargs = argc - 1;
    if (nargs < d->min_args || (d->max_args >= 0 && nargs > d->max_args)) {
        if (d->min_args == d->max_args)
            ctl_error(c, "expected %d argument%s", d->min_args, plural(d->min_args));
        else if (nargs < d->min_args)
            ctl_error(c, "expected at least %d argument%s", d->min_args, plural(d->min_args));
        else
            ctl_error(c, "expected at most %d argument%s", d->max_args, plural(d->max_args));
        return CMD_DONE;
    }
    return d->fn(c, argc, argv);
}
