/* cmd_table.c - the command table: one row per command, sorted by name
 * (proto_cmd_find() binary-searches it; a unit test checks the order).
 * Argument counts exclude the command name; -1 = unlimited. */
#include "cmd.h"

const struct cmd_def cmd_table[] = {
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
    { "service.args",       cmd_service_args,        1, -1 },
    { "service.auto_up",    cmd_service_auto_up,     2, -1 },
    { "service.delete",     cmd_service_delete,      1, 1 },
    { "service.fds",        cmd_service_fds,         1, -1 },
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
const size_t cmd_table_len = sizeof cmd_table / sizeof cmd_table[0];
