/* ctlsock.h - the single listening control socket (-S, socket.create).
 * Each accepted connection becomes a CTL_CLIENT controller. */
#ifndef CTLSOCK_H
#define CTLSOCK_H

#include <stdbool.h>

/* Create the socket at path, replacing a previous one (closed and
 * unlinked) and a stale socket file at path.  Returns 0, or -1 with a
 * message in *err (static storage). */
int ctlsock_create(const char *path, const char **err);
/* Besides daemonproxy's own uid and root, let peers whose group (primary
 * or supplementary) is gid connect; the socket file becomes 0660 with that
 * group.  Resolve a group name or number; returns false if unknown. */
bool ctlsock_allow_group(const char *group);

/* Close and unlink; no-op if none. */
void ctlsock_delete(void);

/* Re-exec (reexec.h): the listening socket and --socket-group, and back. */
struct state_out;
struct state_rec;
struct state_table;
void ctlsock_save(struct state_out *o);
bool ctlsock_restore(const struct state_rec *r, const char **err);
extern const struct state_table ctlsock_record;

#endif
