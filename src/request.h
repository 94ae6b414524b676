/* request.h - requests addressed to the controller (docs/protocol.md,
 * "Requests"): which connection serves which verb, and the requests on
 * their way from an asker to a server and back.
 *
 * A connection says it serves verbs (ctl.serve); any connection asks
 * (ctl.request) and gets an ID; the server is handed the request as a
 * private line and answers with ctl.reply lines (info ones, then one
 * final ok or error), each forwarded to the asker alone.  A server that
 * goes away, or stops serving the verb, has its pending requests answered
 * `error→controller gone`; an asker that goes away has its requests
 * forgotten.  The table knows controllers only through controller.h and
 * hears of every one that closes (req_ctl_gone, the gone listener).
 */
#ifndef REQUEST_H
#define REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctl;

/* A verb: 1..REQ_VERB_MAX bytes of [a-z0-9_.-]. */
#define REQ_VERB_MAX 32
/* Verbs served at once, by all connections together. */
#define REQ_VERBS_MAX 64
/* Pending requests of one asker, and of all askers. */
#define REQ_PER_ASKER 16
#define REQ_TOTAL 1024

bool req_verb_valid(const char *verb);

/* ctl.serve: c serves exactly the n verbs from now on (taking over any
 * another connection served; n == 0: none).  False with *err, nothing
 * changed, when a verb is invalid or there would be too many. */
bool req_serve(struct ctl *c, int n, char **verbs, const char **err);

/* True if c serves at least one verb (a live controller, docs/protocol.md
 * "Shutdown"). */
bool req_serves(const struct ctl *c);

/* ctl.request: hand the request for verb with its n args to its server
 * (as from `by`) and tell the asker its ID, as the command's reply.  False
 * with a message in err (nothing recorded) when no one serves verb, a limit
 * is reached or the server cannot take it. */
bool req_ask(struct ctl *asker, const char *by, const char *verb, int n, char **args,
             char *err, size_t errlen);

/* ctl.reply from c: forward status and the n text fields to the asker of
 * request id; a final status (ok, error) ends the request.  False with
 * *err when id is not a request c serves or status is not one. */
bool req_answer(struct ctl *c, const char *id, const char *status, int n, char **text,
                const char **err);

/* c is closing (the controllers' gone listener). */
void req_ctl_gone(struct ctl *c);

/* Pending requests now (for tests: a leak shows). */
size_t req_pending(void);

/* Re-exec (reexec.h): the next ID, the served verbs and the pending
 * requests, by controller id (restored after the controllers). */
struct state_out;
struct state_rec;
struct state_table;
void req_save(struct state_out *o);
bool req_restore(const struct state_rec *r, const char **err);
extern const struct state_table req_next_record, req_serve_record, req_pending_record;

/* Forget everything (the fuzz targets' reset). */
void req_reset(void);

#endif
