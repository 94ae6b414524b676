/* service.h - service objects: definition (args, fds, tags, auto-up), the
 * state machine, and the name and pid indexes.
 *
 * States (PROTOCOL.md §6):
 *
 *   SVC_DOWN   never started, or exited/killed (the last exit is kept)
 *   SVC_START  a start is pending at a future time (service.start TS, or
 *              auto-up waiting out MIN_INTERVAL, or a fork failure retry)
 *   SVC_UP     running with a pid
 *
 * Transitions happen only in service.c: svc_start() DOWN/START -> UP (or
 * -> DOWN when exec fails), the reaper UP -> DOWN, svc_schedule() DOWN ->
 * START, svc_cancel_start() START -> DOWN.  Every transition broadcasts
 * one service.state event and may re-evaluate auto-up.
 */
#ifndef SERVICE_H
#define SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct service;
struct ctl;

#define SVC_NAME_MAX 63

enum svc_state { SVC_DOWN, SVC_START, SVC_UP };

/* Preallocate n services with `size` bytes of strings each. */
void svc_pool(int64_t n, int64_t size);

bool svc_name_valid(const char *name);
struct service *svc_by_name(const char *name);
/* Find or create; NULL with *err set when the name is invalid or the
 * pool/allocator is exhausted. */
struct service *svc_get_or_create(const char *name, const char **err);
/* First service whose name sorts after name ("" = the first). */
struct service *svc_next_after(const char *name);
const char *svc_name(const struct service *s);

/* The TAB-joined lists of a service, in the order they are stored. */
enum svc_field { SVC_ARGS, SVC_FDS, SVC_TAGS };
/* Set one list from the n fields after NAME and broadcast its event
 * (service.args, service.fds or service.tags).  On failure returns false
 * with *err set and changes nothing. */
bool svc_set(struct service *s, enum svc_field f, int n, char **vals, const char **err);
/* interval < 0 keeps the current one; triggers is a bit set from
 * svc_trigger_parse(); 0 disables auto-up. */
void svc_set_auto_up(struct service *s, int64_t interval, unsigned triggers);
/* Parse one trigger name ("always", "SIGHUP", ...); 0 if invalid. */
unsigned svc_trigger_parse(const char *name);

/* Start now (when_ms <= now) or at when_ms.  `c` is the controller that
 * asked (errors are replied to it), or NULL (errors are broadcast).
 * Returns false if the service did not start or get scheduled. */
bool svc_start(struct service *s, int64_t when_ms, struct ctl *c);
bool svc_cancel_start(struct service *s, const char **err);
bool svc_signal(struct service *s, int signo, bool group, const char **err);
bool svc_delete(struct service *s, const char **err);

/* Format the five statedump lines of s into buf.  Returns the length, or
 * 0 if they do not fit in size. */
size_t svc_format_dump(const struct service *s, char *buf, size_t size);

/* SIGCHLD: reap exited children, at most a batch per call (the rest from
 * a loop task, so that restarts cannot keep the loop from other work). */
void svc_reap(void);
/* A control signal's count changed: re-evaluate signal triggers. */
void svc_signal_changed(int signo);
/* Log every running service (on exit). */
void svc_log_running(void);

#endif
