/* svc_ready.h - a service's readiness (svc_ready.c): notification
 * channels and messages, the fd store, main pids and orphans, the
 * cgroup's state.  For service.c and svc_child.c only (service_impl.h). */
#ifndef SVC_READY_H
#define SVC_READY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct cgroup;
struct service;
struct state_out;
struct state_rec;
struct state_table;

/* The service's run ended: readiness, status and the notify.fd channel
 * are forgotten (its MAINPID is remembered until that process is reaped). */
void svc_ready_down(struct service *s);
/* The service is deleted: everything of its extension goes. */
void svc_ready_delete(struct service *s);
/* A notify.fd pipe for the coming run; *child_fd gets the write end. */
bool svc_ready_pipe(struct service *s, int *child_fd);
/* The service's sd_notify socket (made on first use); its address. */
const char *svc_ready_socket(struct service *s);
/* The cgroup of s, opened on first use (with --cgroup); NULL otherwise. */
struct cgroup *svc_ready_cgroup(struct service *s, const char **err);
/* The statedump lines of s's readiness and cgroup, into buf (at most
 * size bytes); returns the length (0: none), or SIZE_MAX if they do not
 * fit. */
size_t svc_ready_dump(const struct service *s, char *buf, size_t size);
/* The service that announced pid with MAINPID= (forgotten now: the pid
 * was reaped, and is no longer its main pid either), or NULL. */
struct service *svc_ready_orphan(pid_t pid);
/* Re-exec: the readiness of s (which has an extension) as a record, and
 * back (after the service's own record): r is about s, the service it
 * names (NULL when there is none). */
void svc_ready_save(const struct service *s, struct state_out *o);
bool svc_ready_restore(struct service *s, const struct state_rec *r, const char **err);
extern const struct state_table svc_ready_record, svc_mainpid_record;

#endif
