/* fdstore.h - a service's fd store (docs/protocol.md, "The fd store").
 *
 * The fds a service hands over with FDSTORE=1 become named handles,
 * SERVICE.FDNAME (SERVICE.FDNAME.2, .3... for more in one message); the
 * store remembers which, in order, with their FDNAMEs, so that they can
 * be handed back at the next start.  The handles themselves live in the
 * registry like any other: a controller may delete one.
 *
 * Fds (the rule everywhere): a function never takes ownership of an fd it
 * is given unless its comment says it takes it; one that takes an fd owns
 * it from the call on and closes it itself, also when it fails.
 */
#ifndef FDSTORE_H
#define FDSTORE_H

#include <stdbool.h>

/* Largest fdstore=N. */
#define FDSTORE_MAX 1024

struct fdstore;

/* Store the nfds fds of one FDSTORE=1 message of service svc, named
 * fdname, in *st (created on first use), up to max entries.  Takes every
 * fd it keeps (sets fds[i] to -1); the caller closes the rest.  Returns
 * how many it kept; each one refused is logged. */
int fdstore_put(struct fdstore **st, const char *svc, unsigned max, const char *fdname,
                int *fds, int nfds);
/* FDSTOREREMOVE=1: delete the handles stored under fdname. */
void fdstore_remove(struct fdstore *st, const char *svc, const char *fdname);
/* The stored handles that still exist, in order: their fds and fdnames
 * (valid until the store changes), at most max.  Returns the count.
 * Entries whose handle was deleted are forgotten. */
int fdstore_list(struct fdstore *st, int *fds, const char **names, int max);
void fdstore_free(struct fdstore *st);

/* Re-exec: one record per entry of svc's store (its handles are saved as
 * handles); and one entry back, appended. */
struct state_out;
void fdstore_save(const struct fdstore *st, const char *svc, struct state_out *o);
bool fdstore_restore(struct fdstore **st, const char *handle, const char *fdname,
                     const char **err);

#endif
