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

#include <stdbool.h>
#include <stddef.h>

struct ctl;

/* What a handler returns. */
enum {
    CMD_DONE = 0,   /* finished */
    CMD_WAIT,       /* call again with the same line once the controller has
                     * output room (statedump) */
    CMD_SPAWNED,    /* finished, and started a process: the controller counts
                     * it as many lines towards its share of a wakeup */
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
 * call its handler.  An unknown command or a wrong count is answered here
 * with an error (CMD_DONE).  After CMD_WAIT the caller runs the same
 * fields again. */
int cmd_run(struct ctl *c, int argc, char **argv);

int cmd_echo(struct ctl *c, int argc, char **argv);
int cmd_exit(struct ctl *c, int argc, char **argv);
int cmd_conn_event_timeout(struct ctl *c, int argc, char **argv);
int cmd_chdir(struct ctl *c, int argc, char **argv);
int cmd_statedump(struct ctl *c, int argc, char **argv);
int cmd_log_filter(struct ctl *c, int argc, char **argv);
int cmd_log_dest(struct ctl *c, int argc, char **argv);
/* Handle watch: keeps log.dest pointed at the handle of its name. */
void cmd_log_handle_changed(const char *name, int fd);
/* Re-exec (reexec.h): the handle log.dest names, and back. */
struct state_out;
struct state_rec;
void cmd_log_save(struct state_out *o);
bool cmd_log_restore(const struct state_rec *r, const char **err);
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
