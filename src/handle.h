/* handle.h - named file handles: the registry, lookup by name, ordered
 * iteration for statedump, and the fd.state event of each.
 *
 * A handle owns one close-on-exec fd.  Names are 1-31 bytes of
 * [A-Za-z0-9._-].  The constants (null, control.event, control.cmd,
 * control.socket, notify.fd) can be neither replaced nor deleted. *
 * Fds (the rule everywhere): a function never takes ownership of an fd it
 * is given unless its comment says it takes it; one that takes an fd owns
 * it from the call on and closes it itself, also when it fails.
 * handle_set and handle_set_pair take theirs.
 */
#ifndef HANDLE_H
#define HANDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HANDLE_NAME_MAX 31

struct handle;

enum handle_type {
    HANDLE_SPECIAL,     /* null, control.*, stdin/stdout/stderr, fd_N */
    HANDLE_FILE,
    HANDLE_PIPE,
    HANDLE_SOCKET,
};

/* Placeholder handles (fd -1): the three of service controllers, and the
 * readiness notification pipe. */
enum handle_control { HCTL_NONE = 0, HCTL_EVENT, HCTL_CMD, HCTL_SOCKET, HCTL_NOTIFY };

/* True if name is a valid handle name. */
bool handle_name_valid(const char *name);

/* Register the start-time handles: null, control.*, stdin, stdout, stderr
 * and fd_N for every other inherited fd (made close-on-exec).  The
 * redirect flags point those standard handles at /dev/null (-i, -c -,
 * --daemonize).  private_fd (or -1) is daemonproxy's own and not registered.
 * Returns 0 or -1 (cannot open /dev/null). */
int handle_init(bool redirect_stdin, bool redirect_stdout, bool redirect_stderr,
                int private_fd);

/* Preallocate a pool of n handles of `size` bytes; no allocation after. */
void handle_pool(int64_t n, int64_t size);
/* Close and forget every handle, the constants too, and the pool: the
 * registry as a new process finds it before a restore (a testing seam, for
 * the restore fuzz target; daemonproxy itself never empties it). */
void handle_drop_all(void);

struct handle *handle_by_name(const char *name);
/* The fd of the handle named name, or -1 (none, or a placeholder). */
int handle_fd_by_name(const char *name);
/* First handle whose name sorts after `name` ("" = the first). */
struct handle *handle_next_after(const char *name);
/* fn(h, ctx) for the handles whose names sort after name, in order, until
 * it returns false: one search, then a step a handle (as svc_each_after).
 * fn must not create or delete one. */
void handle_each_after(const char *name, bool (*fn)(struct handle *h, void *ctx), void *ctx);
const char *handle_name(const struct handle *h);
int handle_fd(const struct handle *h);
enum handle_control handle_control(const struct handle *h);

/* Check that name may be (re)defined; NULL if so, else the reason. */
const char *handle_check_name(const char *name);
/* Create or replace handle name with fd (taken over) and broadcast its
 * fd.state.  type/flags/desc describe it.  On failure the fd is closed and
 * NULL returned with *err set. */
struct handle *handle_set(const char *name, int fd, enum handle_type type,
                          const char *flags, const char *desc,
                          const char **err);
/* The fd store's handle_set (fdstore.h): name becomes a "special" handle
 * marked as stored.  It never replaces a handle the fd store did not
 * make: that is refused (NULL, *err, the fd closed). */
struct handle *handle_set_stored(const char *name, int fd, const char *flags,
                                 const char *desc, const char **err);
/* Whether h was made by the fd store (and not replaced since); marking
 * says so of a restored handle (re-exec). */
bool handle_stored(const struct handle *h);
void handle_mark_stored(struct handle *h);
/* Both ends of a pipe or socketpair at once (all or nothing), linked so
 * each names the other in fd.state. */
bool handle_set_pair(const char *rname, int rfd, const char *rflags,
                     const char *wname, int wfd, const char *wflags,
                     const char **err);
/* Delete (close) a handle; broadcasts fd.state NAME deleted.
 * Constants are refused (returns false). */
bool handle_delete(struct handle *h);

/* Format the fd.state event of h into l (see protocol.h). */
struct proto_line;
void handle_format_state(const struct handle *h, struct proto_line *l);

/* Re-exec (reexec.h): every handle as a record, and one record back.
 * The handle tree is empty before the first restore. */
struct state_out;
struct state_rec;
struct state_table;
void handle_save(struct state_out *o);
bool handle_restore(const struct state_rec *r, const char **err);
extern const struct state_table handle_record, handle_pool_record;

/* Called when a handle with this name appears, is replaced or deleted
 * (fd -1), so the log destination can follow it. */
void handle_set_watch_cb(void (*fn)(const char *name, int fd));


#endif
