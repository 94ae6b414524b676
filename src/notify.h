/* notify.h - readiness notification channels (docs/protocol.md,
 * "Readiness notification"): the read end of a service's notify.fd pipe
 * (s6 style: the first newline means ready) and a service's sd_notify
 * datagram socket (systemd style: newline-separated assignments, the
 * sender's pid from SCM_CREDENTIALS, fds for the fd store).
 *
 * A channel parses what arrives and hands each accepted message to its
 * owner.  Refused ones (a stranger's pid, too long, no credentials, not
 * assignments, fds that could not all be received, a malformed barrier)
 * are dropped, their fds closed, and said in the log through
 * notify_refuse(), which the owner uses too for what it refuses of a
 * message: whatever a sender does, the log gets at most a few lines per
 * sender and interval, and the CPU a flood costs stays near that of
 * receiving it.  Reading is bounded per wakeup, so a flood never holds
 * the loop.  BARRIER=1 with one fd (sd_notify_barrier) is answered by
 * closing the fd, and is no message.
 *
 * Fds (the rule everywhere): a function never takes ownership of an fd it
 * is given unless its comment says it takes it; one that takes an fd owns
 * it from the call on and closes it itself, also when it fails.  A
 * message's fds belong to the channel, which closes every one the owner
 * did not take (set to -1) when the callback returns.
 */
#ifndef NOTIFY_H
#define NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Longest message accepted (systemd's limit too). */
#define NOTIFY_MSG_MAX 4096
/* Longest assignment shown in an event. */
#define NOTIFY_ASSIGN_MAX 1024
/* Most fds one message can carry (the kernel's SCM_MAX_FD). */
#define NOTIFY_FDS_MAX 253
/* Most assignments one message can carry (each is at least "x=\n"). */
#define NOTIFY_ASSIGNS_MAX (NOTIFY_MSG_MAX / 3)

struct notify_chan;

struct notify_msg {
    struct notify_chan *chan;   /* where it arrived (for notify_refuse) */
    pid_t pid;                  /* the sender (0 for a notify.fd newline) */
    int nassign;
    char *assign[NOTIFY_ASSIGNS_MAX];   /* "VAR=VALUE", NUL-terminated */
    int nfds;
    int fds[NOTIFY_FDS_MAX];    /* received; -1 once taken */
};

/* Pure: split a message of len bytes in buf (buf has room for len + 1
 * bytes; NUL bytes become '?', lines are NUL-terminated in place) into its
 * assignments, lines of the form VAR=VALUE with a non-empty VAR.  Empty
 * lines are skipped; a line that is not an assignment, more than max
 * assignments or none at all make the whole message invalid (-1).
 * Returns the count. */
int notify_parse(char *buf, size_t len, char **assign, int max);

/* The value of VAR in the message's assignments, or NULL (the last one
 * wins, as systemd has it). */
const char *notify_get(const struct notify_msg *m, const char *var);

/* Pure: whether a parsed message with its fds is a barrier
 * (sd_notify_barrier: BARRIER=1 alone, with one fd, which the receiver
 * closes to answer): 1; 0 if it has no BARRIER=1; -1 if it has one with
 * other assignments or another number of fds (systemd drops the whole
 * message then). */
int notify_barrier(const struct notify_msg *m);

/* The owner's callback for an accepted message. */
typedef void (*notify_fn)(void *owner, struct notify_msg *m);
/* Whether pid is a process of the owner (sd_notify sockets only). */
typedef bool (*notify_pid_fn)(void *owner, pid_t pid);

/* A notify.fd pipe: *child_fd gets the write end (the caller gives it to
 * the child and closes it).  The first newline read becomes one message
 * "READY=1" with pid 0, after which (or at end of file, or after
 * NOTIFY_MSG_MAX bytes without a newline) the channel closes its end; the
 * owner still calls notify_close().  NULL with errno on failure.  name is
 * for log lines (copied). */
struct notify_chan *notify_pipe_new(int *child_fd, const char *name, notify_fn fn,
                                    void *owner);
/* An sd_notify socket, bound to an address in the abstract namespace that
 * the kernel picks; addr gets it as NOTIFY_SOCKET wants it ("@..."). */
struct notify_chan *notify_socket_new(char *addr, size_t addrlen, const char *name,
                                      notify_fn fn, notify_pid_fn owns, void *owner);
/* Close a channel (NULL: nothing); it is freed at the end of the loop
 * iteration, so a callback of it may close it. */
void notify_close(struct notify_chan *ch);

/* Say in the log what of message m is refused, "NAME: " and the text, as
 * the channel says its own refusals: the first few per sender and
 * interval in full, then one line per interval with how many more. */
void notify_refuse(const struct notify_msg *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The owner's processes changed (a new run): a sender refused as a
 * stranger is looked at again, not refused on sight. */
void notify_forget(struct notify_chan *ch);

/* Re-exec: a channel's fd (-1 once it closed its end) and, for a pipe,
 * the bytes it has read without a newline; and a channel around an fd
 * the previous process made (pipe or socket, as notify_*_new made it).
 * NULL with errno on failure (the fd is not taken then). */
int notify_chan_fd(const struct notify_chan *ch);
size_t notify_chan_seen(const struct notify_chan *ch);
struct notify_chan *notify_adopt(int fd, bool is_pipe, size_t seen, const char *name,
                                 notify_fn fn, notify_pid_fn owns, void *owner);

#endif
