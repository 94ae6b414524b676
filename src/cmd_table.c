/* cmd_table.c - the command table (one row per command, sorted by name; a
 * unit test checks the order), its lookup and dispatch.  Argument counts
 * exclude the command name; -1 = unlimited. */
#include "cmd.h"
#include "controller.h"
#include "log.h"
#include "protocol.h"
#include "sys.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static const struct cmd_def table[] = {
    { "chdir",              cmd_chdir,               1, 1 },
    { "conn.event_timeout", cmd_conn_event_timeout,  2, 2 },
    { "ctl.reply",          cmd_ctl_reply,           2, -1 },
    { "ctl.request",        cmd_ctl_request,         1, -1 },
    { "ctl.serve",          cmd_ctl_serve,           0, -1 },
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
    { "service.want",       cmd_service_want,        2, -1 },
    { "shutdown",           cmd_shutdown,            1, 3 },
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
 * search of strcmp()s: a small open-addressed index over the table, built
 * on first use.  A name's key is its last 8 bytes (all of it up to 8
 * bytes) as a number, read with at most two loads; a row with the same
 * key and length is the name if the name is 8 bytes or shorter, as those
 * sent most often are ("echo"): no string compare then, and otherwise
 * one of the bytes before the last 8 only. */
#define CMD_HASH_BITS 7
#define CMD_HASH_SLOTS (1u << CMD_HASH_BITS)
_Static_assert(TABLE_LEN < CMD_HASH_SLOTS / 2, "grow CMD_HASH_BITS");

/* Inlined even at -Os (the static build): a call would cost more. */
__attribute__((always_inline))
static inline uint64_t name_key(const char *name, size_t len)
{
    return len > 8 ? sys_word(name + len - 8, 8) : sys_word(name, len);
}

static unsigned key_slot(uint64_t key, size_t len)
{
    /* Fibonacci hashing: the top bits of a multiple by 2^64 / phi. */
    return (unsigned)(((key + len) * 0x9e3779b97f4a7c15ull) >> (64 - CMD_HASH_BITS));
}

/* The command named name[0..len). */
static const struct cmd_def *find(const char *name, size_t len)
{
    static unsigned char slots[CMD_HASH_SLOTS];     /* table index + 1 */
    static uint64_t keys[TABLE_LEN];
    static unsigned char lens[TABLE_LEN];
    static bool built;
    if (!built) {
        for (size_t i = 0; i < TABLE_LEN; i++) {
            size_t n = strlen(table[i].name);
            keys[i] = name_key(table[i].name, n);
            lens[i] = (unsigned char)n;
            unsigned k = key_slot(keys[i], n);
            while (slots[k])
                k = (k + 1) % CMD_HASH_SLOTS;
            slots[k] = (unsigned char)(i + 1);
        }
        built = true;
    }
    uint64_t key = name_key(name, len);
    for (unsigned k = key_slot(key, len); slots[k]; k = (k + 1) % CMD_HASH_SLOTS) {
        size_t i = slots[k] - 1u;
        if (keys[i] == key && lens[i] == len && (len <= 8 || !memcmp(table[i].name, name, len - 8)))
            return &table[i];
    }
    return NULL;
}

const struct cmd_def *cmd_find(const char *name)
{
    return find(name, strlen(name));
}

static const char *plural(int n) { return n == 1 ? "" : "s"; }

/* This one error has no "for command" excerpt (docs/protocol.md,
 * "Errors").  Not inlined: its 8 kB line would sit on the stack of every
 * command, 2 pages deeper (idle RSS, README "Footprint"). */
__attribute__((noinline))
static int unknown(struct ctl *c, const char *name)
{
    struct proto_line l;
    log_error("%s: unknown command %s", ctl_where(c), name);
    proto_line_begin(&l, "error");
    proto_line_addf(&l, "Unknown command: %s", name);
    size_t n = proto_line_end(&l);
    ctl_reply(c, l.buf, n);
    return CMD_DONE;
}

int cmd_run(struct ctl *c, int argc, char **argv)
{
    /* The fields are those of one split line, one after the other: the
     * name's length is known without a strlen() when more follow. */
    size_t len = argc > 1 ? (size_t)(argv[1] - argv[0] - 1) : strlen(argv[0]);
    const struct cmd_def *d = find(argv[0], len);
    if (!d)
        return unknown(c, argv[0]);
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
