/* execattr.h - what a service runs as: the service.opts words user=,
 * group=, groups=, umask=, nice=, limit-RES=, no-new-privs, cwd= and caps=
 * (docs/protocol.md, "Execution attributes"), and the struct spawn_attr
 * that spawn.c applies from them in the child.
 *
 * Users and groups are looked up here, once, when the words are set: a
 * lookup may read files or ask a directory service, which has no place in
 * the child between clone and exec (it shares daemonproxy's memory and
 * must only make syscalls) nor in the loop at every start.  The ids found
 * are kept, and carried over a re-exec, so a service runs as what the
 * words meant when they were set.
 */
#ifndef EXECATTR_H
#define EXECATTR_H

#include <stdbool.h>
#include <stddef.h>

struct execattr;
struct spawn_attr;

/* Parse word into *a, which is made on the first attribute word.
 * Returns 1 when word is an attribute, 0 when it is no attribute word
 * (the caller knows the others), -1 when it is one but invalid (or
 * given twice, or out of memory): why in msg, which may stay empty. */
int execattr_parse(struct execattr **a, const char *word, char *msg, size_t msglen);

/* After the last word: look up the users and groups.  False when one is
 * unknown: *key names the word ("user", "group" or "groups"), why in msg. */
bool execattr_resolve(struct execattr *a, const char **key, char *msg, size_t msglen);

void execattr_free(struct execattr *a);

/* Call fn for each word, in the order of docs/protocol.md's table: the
 * words as given for users and groups, the canonical form of the rest. */
void execattr_each(const struct execattr *a, void (*fn)(void *ctx, const char *word),
                   void *ctx);

/* What the child applies (owned by a, valid while it is). */
const struct spawn_attr *execattr_spawn(const struct execattr *a);

/* The re-exec state: the ids the lookup found ("u=UID g=GID G=G1,G2",
 * each part only when it applies) into buf; and a from its words (TAB-
 * joined, as execattr_each gives them) and those ids, with no lookup.
 * NULL with *err on bad input or no memory. */
void execattr_ids(const struct execattr *a, char *buf, size_t size);
struct execattr *execattr_restore(const char *words, const char *ids, const char **err);

#endif
