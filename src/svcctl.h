/* svcctl.h - what connects services to controllers.
 *
 * service.c reports to one listener and knows no controller; this is that
 * listener.  Every report becomes an event for the controllers; a failed
 * start goes to all of them except the one whose command asked for it,
 * which gets the error as the command's reply instead.
 *
 * A service whose fds name control.event, control.cmd or control.socket
 * gets, in their place, one end of a fresh socketpair, and a controller
 * lives at the other end (control.event alone: events only; control.cmd
 * alone: commands only).  It lives until the service closes it or its
 * process ends; then the controller executes, in order, every command the
 * service wrote before it ended, and closes.
 */
#ifndef SVCCTL_H
#define SVCCTL_H

#include <stdbool.h>

/* Become service.c's listener. */
void svcctl_init(void);
/* Called after a service's state changed or an orphan was reaped (the
 * shutdown waits for the last one). */
void svcctl_set_state_hook(void (*fn)(void));

/* Re-exec (reexec.h): which controller belongs to which service (saved
 * after the controllers, restored after them). */
struct state_out;
struct state_rec;
struct state_table;
void svcctl_save(struct state_out *o);
bool svcctl_restore(const struct state_rec *r, const char **err);
extern const struct state_table svcctl_record;

#endif
