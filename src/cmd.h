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
int cmd_log_dest(struct ctl *c, int argc, char **argv);
/* Handle watch: keeps log.dest pointed at the handle of its name. */
void cmd_log_handle_changed(const char *name, int fd);
int cmd_service_args(struct ctl *c, int argc, char **argv);
int cmd_service_fds(struct ctl *c, int argc, char **argv);
int cmd_service_tags(struct ctl *c, int argc, char **argv);
int cmd_service_auto_up(struct ctl *c, int argc, char **argv);
int cmd_service_start(struct ctl *c, int argc, char **argv);
int cmd_service_signal(struct ctl *c, int argc, char **argv);
int cmd_service_delete(struct ctl *c, int argc, char **argv);
int cmd_fd_pipe(struct ctl *c, int argc, char **argv);
int cmd_fd_open(struct ctl *c, int argc, char **argv);
int cmd_fd_socket(struct ctl *c, int argc, char **argv);
int cmd_fd_take(struct ctl *c, int argc, char **argv);
int cmd_fd_delete(struct ctl *c, int argc, char **argv);
int cmd_signal_clear(struct ctl *c, int argc, char **argv);
int cmd_socket_create(struct ctl *c, int argc, char **argv);
int cmd_socket_delete(struct ctl *c, int argc, char **argv);
int cmd_terminate(struct ctl *c, int argc, char **argv);
int cmd_terminate_exec_args(struct ctl *c, int argc, char **argv);
int cmd_terminate_guard(struct ctl *c, int argc, char **argv);

#endif
