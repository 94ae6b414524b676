/* svc_exits.h - a service's exit history (svc_exits.c): its last
 * SVC_EXITS_KEPT exits and how many since counting began, for
 * service.exits (docs/protocol.md, "Exit history").  For service.c only
 * (service_impl.h): a service that never exited has none of it.
 */
#ifndef SVC_EXITS_H
#define SVC_EXITS_H

#include <stdbool.h>
#include <stdint.h>

struct proto_line;
struct service;
struct state_out;
struct state_rec;
struct state_table;

/* Exits kept per service, newest first. */
#define SVC_EXITS_KEPT 5

/* A run of s ended: s->status, s->up_ms and s->down_ms describe it.
 * Counted and kept; a service that cannot get the memory loses its
 * history, never its exit. */
void svc_exits_note(struct service *s);
/* An operator asked for s up (service.want up): the count starts again
 * from 0 at now_ms; the exits kept stay. */
void svc_exits_reset(struct service *s, int64_t now_ms);
/* service.exits of s into l (begun here, not ended).  all: also for a
 * service that never exited (COUNT 0, SINCE "-"); otherwise false, with l
 * untouched, for one that never did. */
bool svc_exits_format(const struct service *s, struct proto_line *l, bool all);
/* s is deleted: its history goes. */
void svc_exits_delete(struct service *s);

/* Re-exec: the history of s as a record (none: nothing), and back (after
 * the service's own record; s: the service it names, or NULL). */
void svc_exits_save(const struct service *s, struct state_out *o);
bool svc_exits_restore(struct service *s, const struct state_rec *r, const char **err);
extern const struct state_table svc_exits_record, svc_exit_record;

#endif
