/* fdstore.c - a service's fd store (see fdstore.h). */
#include "fdstore.h"
#include "fmt.h"
#include "handle.h"
#include "state.h"
#include "sys.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

struct entry {
    char handle[HANDLE_NAME_MAX + 1];
    char fdname[HANDLE_NAME_MAX + 1];
};

struct fdstore {
    unsigned n, cap;
    struct entry e[];
};

static int find(const struct fdstore *st, const char *handle)
{
    for (unsigned i = 0; st && i < st->n; i++)
        if (strcmp(st->e[i].handle, handle) == 0)
            return (int)i;
    return -1;
}

static void drop(struct fdstore *st, unsigned i)
{
    memmove(&st->e[i], &st->e[i + 1], (st->n - i - 1) * sizeof st->e[0]);
    st->n--;
}

/* Whether the handle of e is still the store's: not deleted, not
 * replaced by a controller. */
static bool owned(const struct entry *e)
{
    struct handle *h = handle_by_name(e->handle);
    return h && handle_stored(h);
}

/* Forget entries whose handle is no longer the store's, so they neither
 * count nor come back. */
static void prune(struct fdstore *st)
{
    for (unsigned i = 0; st && i < st->n;) {
        if (owned(&st->e[i]))
            i++;
        else
            drop(st, i);
    }
}

static const char *access_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? "-" : (fl & O_ACCMODE) == O_RDWR ? "read,write"
         : (fl & O_ACCMODE) == O_WRONLY ? "write" : "read";
}

bool fdstore_name_valid(const char *fdname)
{
    size_t n = strlen(fdname);
    return handle_name_valid(fdname) && fdname[0] != '.' && fdname[n - 1] != '.' &&
           !sys_find(fdname, "..");
}

/* daemonproxy's own fds come first.  A store that took the last free fds
 * would leave daemonproxy unable to accept a client (every dpctl unanswered),
 * start a service or re-exec, so no fd is stored that leaves fewer than
 * a reserve free under its soft RLIMIT_NOFILE (which it raised to the hard
 * one at start).  The test is O(1): a received fd got the lowest free
 * number, so one numbered limit - reserve or more means fewer than
 * reserve are left.  The reserve, max(64, limit / 8): at once, a start
 * needs about 8 (pipes, a socketpair, a /proc file), a re-exec about 4
 * (the state file and the new binary's checks), a cgroup walk 3, and each
 * client being accepted one: 64 leaves room for all of those and a burst
 * of some 40 clients, and a limit raised for many clients keeps the same
 * share for them.  Returns the first fd number not to keep, and the
 * reason in *why. */
static int reserve_line(const char **why)
{
    static char msg[160];
    struct rlimit rl;
    long limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < INT_MAX
               ? (long)rl.rlim_cur : INT_MAX;
    long reserve = limit / 8 > 64 ? limit / 8 : 64;
    fmt_snprintf(msg, sizeof msg, "daemonproxy keeps %ld of its %ld fds (RLIMIT_NOFILE) free for "
             "clients, starts and re-execs", reserve, limit);
    *why = msg;
    return (int)(limit > reserve ? limit - reserve : 0);
}

/* Room for one more entry in *stp (created on first use), up to max. */
static bool grow(struct fdstore **stp, unsigned max)
{
    if (*stp && (*stp)->n < (*stp)->cap)
        return true;
    unsigned cap = *stp ? (*stp)->cap * 2 : 4;
    if (cap > max)
        cap = max;
    struct fdstore *g = realloc(*stp, sizeof *g + cap * sizeof g->e[0]);
    if (!g)
        return false;
    if (!*stp)
        g->n = 0;
    g->cap = cap;
    *stp = g;
    return true;
}

int fdstore_put(struct fdstore **stp, const char *svc, unsigned max, const char *full,
                const char *fdname, int *fds, int nfds, const char **why)
{
    int kept = 0;
    *why = NULL;
    if (!fdstore_name_valid(fdname)) {
        *why = "invalid FDNAME (1-31 of A-Z a-z 0-9 . _ -, no '..', no '.' at either end)";
        return 0;
    }
    prune(*stp);
    const char *low;
    int line = reserve_line(&low);
    for (int k = 0; k < nfds; k++) {
        char name[HANDLE_NAME_MAX + 16], desc[64];
        int len = k == 0 ? fmt_snprintf(name, sizeof name, "%s..%s", svc, fdname)
                         : fmt_snprintf(name, sizeof name, "%s..%s.%d", svc, fdname, k + 1);
        const char *err = fds[k] >= line ? low
                        : len > HANDLE_NAME_MAX ? "its handle name would be over 31 bytes"
                        : NULL;
        int at = err ? -1 : find(*stp, name);
        if (!err && at < 0 && (*stp ? (*stp)->n : 0) >= max)
            err = full;
        if (!err && at < 0 && !grow(stp, max))
            err = "out of memory";
        if (!err) {
            fmt_snprintf(desc, sizeof desc, "stored by %s", svc);
            int fd = fds[k];
            fds[k] = -1;
            if (handle_set_stored(name, fd, access_flags(fd), desc, &err)) {
                /* Both fit: the handle name was checked, fdname is part of it. */
                struct entry *e = &(*stp)->e[at < 0 ? (*stp)->n++ : (unsigned)at];
                memcpy(e->handle, name, (size_t)len + 1);
                memcpy(e->fdname, fdname, strlen(fdname) + 1);
            }
        }
        if (err && !*why)
            *why = err;
        kept += !err;
    }
    return kept;
}

void fdstore_remove(struct fdstore *st, const char *fdname)
{
    prune(st);
    for (unsigned i = 0; st && i < st->n;) {
        if (strcmp(st->e[i].fdname, fdname) != 0) {
            i++;
            continue;
        }
        handle_delete(handle_by_name(st->e[i].handle));
        drop(st, i);
    }
}

int fdstore_list(struct fdstore *st, int *fds, const char **names, int max)
{
    prune(st);
    int n = 0;
    for (unsigned i = 0; st && i < st->n && n < max; i++) {
        fds[n] = handle_fd(handle_by_name(st->e[i].handle));
        names[n++] = st->e[i].fdname;
    }
    return n;
}

int fdstore_count(struct fdstore *st)
{
    prune(st);
    return st ? (int)st->n : 0;
}

void fdstore_delete(struct fdstore *st)
{
    prune(st);
    for (unsigned i = 0; st && i < st->n; i++)
        handle_delete(handle_by_name(st->e[i].handle));
    free(st);
}

/* --- re-exec ------------------------------------------------------------------ */

/* An entry of a service's store: the handle and the name it was stored
 * under. */
struct fdstore_rec {
    struct state_val service, handle, fdname;
};

static const struct state_def fdstore_defs[] = {
    STATE_STR(struct fdstore_rec, service, STATE_ANY),
    STATE_STR(struct fdstore_rec, handle, STATE_ANY),
    STATE_STR(struct fdstore_rec, fdname, HANDLE_NAME_MAX),
};
STATE_RECORD(fdstore_record, "service.fdstore", struct fdstore_rec, fdstore_defs, 0, 0);

void fdstore_save(const struct fdstore *st, const char *svc, struct state_out *o)
{
    for (unsigned i = 0; st && i < st->n; i++) {
        if (!owned(&st->e[i]))
            continue;       /* deleted or replaced: not the store's */
        struct fdstore_rec rec = {
            .service.s = svc, .handle.s = st->e[i].handle, .fdname.s = st->e[i].fdname,
        };
        state_write(o, &fdstore_record, &rec);
    }
}

bool fdstore_restore(const struct state_rec *r, struct fdstore **stp, const char **err)
{
    struct fdstore_rec rec;
    if (!state_read(r, &fdstore_record, &rec, err))
        return false;
    if (*stp && (*stp)->n >= FDSTORE_MAX) {
        *err = "record service.fdstore: the store is full";
        return false;
    }
    struct handle *h = handle_by_name(rec.handle.s);
    if (!h)
        return true;    /* gone before the exec (an older binary saved it): forgotten */
    if (!grow(stp, FDSTORE_MAX)) {
        *err = "out of memory";
        return false;
    }
    handle_mark_stored(h);
    struct entry *e = &(*stp)->e[(*stp)->n++];
    fmt_snprintf(e->handle, sizeof e->handle, "%s", rec.handle.s);
    fmt_snprintf(e->fdname, sizeof e->fdname, "%s", rec.fdname.s);
    return true;
}
