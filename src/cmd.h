/* cmd.h - command handlers, one per protocol command (PROTOCOL.md §5).
 * The table that maps names to them is cmd_table.c. */
#ifndef CMD_H
#define CMD_H

#include "protocol.h"

int cmd_echo(struct ctl *c, int argc, char **argv);
int cmd_exit(struct ctl *c, int argc, char **argv);
int cmd_conn_event_timeout(struct ctl *c, int argc, char **argv);
int cmd_chdir(struct ctl *c, int argc, char **argv);
int cmd_statedump(struct ctl *c, int argc, char **argv);
int cmd_log_filter(struct ctl *c, int argc, char **argv);
int cmd_signal_clear(struct ctl *c, int argc, char **argv);
int cmd_socket_create(struct ctl *c, int argc, char **argv);
int cmd_socket_delete(struct ctl *c, int argc, char **argv);
int cmd_terminate(struct ctl *c, int argc, char **argv);
int cmd_terminate_exec_args(struct ctl *c, int argc, char **argv);
int cmd_terminate_guard(struct ctl *c, int argc, char **argv);

#endif
