/* svc_child.h - what a child of a service gets (svc_child.c): its argv,
 * fds, environment and cgroup.  For service.c only (service_impl.h). */
#ifndef SVC_CHILD_H
#define SVC_CHILD_H

#include <stdbool.h>
#include <stddef.h>

struct service;
struct spawn_req;

/* Everything a child of s gets, in r (argv, fds, env, cgroup).  Returns
 * false with a message when it cannot be prepared.  Then svc_child_done()
 * once the spawn is over (started or not). */
bool svc_child_prepare(struct service *s, struct spawn_req *r, char *msg, size_t msglen);
void svc_child_done(struct service *s, bool started);

#endif
