/* cmd.h - the command layer: the table of commands with their argument
 * rules, lookup and dispatch (cmd_table.c), and one handler per command
 * (cmd_*.c), as listed in docs/protocol.md, "Commands".
 *
 * A handler gets the controller that sent the command and the fields;
 * argv[0] is the command name and argc counts it.  Errors go back to that
 * controller with ctl_error(); events go to everyone through the modules
 * whose objects change.
 */
#ifndef CMD_H
#define CMD_H

#include "controller.h"

#include <stdbool.h>
#include <stddef.h>

/* What a handler returns: what the controller's dispatcher returns
 * (controller.h, enum ctl_run). */
enum {
    CMD_DONE = CTL_RUN_DONE,
    CMD_WAIT = CTL_RUN_WAIT,
    CMD_SPAWNED = CTL_RUN_SPAWNED,
};

typedef int (*cmd_fn)(struct ctl *c, int argc, char **argv);

struct cmd_def {
    const char *name;
    cmd_fn fn;
    int min_args;       /* not counting the command name */
    int max_args;       /* -1 = unlimited */
};

/* The command named name, or NULL. */
const struct cmd_def *cmd_find(const char *name);
/* The whole table, sorted by name (for tests). */
const struct cmd_def *cmd_table(size_t *n);

/* Run the command argv[0] for c: look it up, check the argument count,
 * call its handler.  argv are the fields of one line split in place
 * (proto_split): each right after the NUL that ends the one before.  An unknown command or a wrong count is answered here
 * with an error (CMD_DONE).  After CMD_WAIT the caller runs the same
 * fields again.  The controllers' dispatcher (ctl_set_dispatch, by main). */
int cmd_run(struct ctl *c, int argc, char **argv);

int cmd_echo(struct ctl *c, int argc, char **argv);
int cmd_exit(struct ctl *c, int argc, char **argv);
int cmd_conn_event_timeout(struct ctl *c, int argc, char **argv);
int cmd_chdir(struct ctl *c, int argc, char **argv);
int cmd_statedump(struct ctl *c, int argc, char **argv);
int cmd_log_filter(struct ctl *c, int argc, char **argv);
int cmd_log_dest(struct ctl *c, int argc, char **argv);
int cmd_reexec(struct ctl *c, int argc, char **argv);
int cmd_service_args(struct ctl *c, int argc, char **argv);
int cmd_service_fds(struct ctl *c, int argc, char **argv);
int cmd_service_tags(struct ctl *c, int argc, char **argv);
int cmd_service_env(struct ctl *c, int argc, char **argv);
int cmd_service_opts(struct ctl *c, int argc, char **argv);
int cmd_service_auto_up(struct ctl *c, int argc, char **argv);
int cmd_service_start(struct ctl *c, int argc, char **argv);
int cmd_service_signal(struct ctl *c, int argc, char **argv);
int cmd_service_delete(struct ctl *c, int argc, char **argv);
int cmd_service_want(struct ctl *c, int argc, char **argv);
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
int cmd_shutdown(struct ctl *c, int argc, char **argv);
int cmd_ctl_serve(struct ctl *c, int argc, char **argv);
int cmd_ctl_request(struct ctl *c, int argc, char **argv);
int cmd_ctl_reply(struct ctl *c, int argc, char **argv);

#endif
