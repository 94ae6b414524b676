/* fdstore.h - a service's fd store (docs/protocol.md, "The fd store").
 *
 * The fds a service hands over with FDSTORE=1 become named handles in a
 * namespace of their own: SERVICE..FDNAME (SERVICE..FDNAME.2, .3... for
 * more in one message).  An FDNAME has no ".." and neither starts nor ends
 * with '.', so the last ".." of such a name ends the service's name: no
 * two services' stored fds can share a name, and a service names none
 * that a controller would make (controllers may still make any name; the
 * store never replaces a handle it did not make, see handle_set_stored).
 * The store remembers its handles, in order, with their FDNAMEs, so that
 * they can be handed back at the next start.  The handles live in the
 * registry like any other: a controller may delete or replace one, and
 * then it is no longer the store's.
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

/* Pure: whether fdname may name stored fds (see above): 1-31 bytes of a
 * handle name's characters, no "..", no '.' at either end. */
bool fdstore_name_valid(const char *fdname);

/* Store the nfds fds of one FDSTORE=1 message of service svc, named
 * fdname, in *st (created on first use), as long as it holds at most max
 * entries (`full` says why when that is reached) and daemonproxy keeps a
 * reserve of free fds, max(64, RLIMIT_NOFILE / 8).  Takes every fd it
 * keeps (sets fds[i] to -1); the caller closes the rest.  Returns how many
 * it kept, and the reason it refused the first one it did not in *why. */
int fdstore_put(struct fdstore **st, const char *svc, unsigned max, const char *full,
                const char *fdname, int *fds, int nfds, const char **why);
/* FDSTOREREMOVE=1: delete the store's handles stored under fdname. */
void fdstore_remove(struct fdstore *st, const char *fdname);
/* The stored handles that are still the store's, in order: their fds and
 * fdnames (valid until the store changes), at most max.  Returns the
 * count.  Entries whose handle was deleted or replaced are forgotten. */
int fdstore_list(struct fdstore *st, int *fds, const char **names, int max);
/* How many handles are the store's (what fdstore_list would list). */
int fdstore_count(struct fdstore *st);
/* The service is deleted, and its store with it, as systemd flushes a
 * removed unit's: the handles that are still the store's are deleted
 * (fd.state NAME deleted each); those a controller replaced stay. */
void fdstore_delete(struct fdstore *st);

/* Re-exec: one record per entry of svc's store (its handles are saved as
 * handles, restored before); and one entry back, appended to *st (the
 * store of the service the record names: its first field), its handle
 * marked as the store's again. */
struct state_out;
struct state_rec;
struct state_table;
void fdstore_save(const struct fdstore *st, const char *svc, struct state_out *o);
bool fdstore_restore(const struct state_rec *r, struct fdstore **st, const char **err);
extern const struct state_table fdstore_record;     /* "service.fdstore" */

#endif
