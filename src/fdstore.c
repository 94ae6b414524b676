/* fdstore.c - a service's fd store (see fdstore.h). */
#include "fdstore.h"
#include "handle.h"
#include "log.h"
#include "state.h"
#include "sys.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Forget entries whose handle is gone (deleted, or replaced by another
 * kind of handle), so they neither count nor come back. */
static void prune(struct fdstore *st)
{
    for (unsigned i = 0; st && i < st->n;) {
        if (handle_by_name(st->e[i].handle))
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

int fdstore_put(struct fdstore **stp, const char *svc, unsigned max, const char *fdname,
                int *fds, int nfds)
{
    int kept = 0;
    prune(*stp);
    for (int k = 0; k < nfds; k++) {
        char name[HANDLE_NAME_MAX + 8], desc[64];
        int len = k == 0 ? snprintf(name, sizeof name, "%s.%s", svc, fdname)
                         : snprintf(name, sizeof name, "%s.%s.%d", svc, fdname, k + 1);
        const char *err = len > HANDLE_NAME_MAX ? "invalid handle name"
                        : handle_check_name(name);
        int at = err ? -1 : find(*stp, name);
        unsigned n = *stp ? (*stp)->n : 0;
        if (!err && at < 0 && n >= max)
            err = "the service's fd store is full";
        if (!err && at < 0 && (!*stp || n == (*stp)->cap)) {
            unsigned cap = *stp ? (*stp)->cap * 2 : 4;
            if (cap > max)
                cap = max;
            struct fdstore *g = realloc(*stp, sizeof *g + cap * sizeof g->e[0]);
            if (!g) {
                err = "unable to allocate";
            } else {
                if (!*stp)
                    g->n = 0;
                g->cap = cap;
                *stp = g;
            }
        }
        if (err) {
            log_warn("service %s: FDSTORE fd named '%s' refused: %s", svc, fdname, err);
            continue;       /* the caller closes it */
        }
        snprintf(desc, sizeof desc, "stored by %s", svc);
        int fd = fds[k];
        fds[k] = -1;
        if (!handle_set(name, fd, HANDLE_SPECIAL, access_flags(fd), desc, &err)) {
            log_warn("service %s: FDSTORE '%s': %s", svc, name, err);
            if (at >= 0)
                drop(*stp, (unsigned)at);   /* the old one was not replaced */
            continue;
        }
        if (at < 0) {
            /* Both fit: the handle name was checked, fdname is part of it. */
            struct entry *e = &(*stp)->e[(*stp)->n++];
            memcpy(e->handle, name, (size_t)len + 1);
            snprintf(e->fdname, sizeof e->fdname, "%.31s", fdname);
        }
        kept++;
    }
    return kept;
}

void fdstore_remove(struct fdstore *st, const char *svc, const char *fdname)
{
    (void)svc;
    for (unsigned i = 0; st && i < st->n;) {
        if (strcmp(st->e[i].fdname, fdname) != 0) {
            i++;
            continue;
        }
        struct handle *h = handle_by_name(st->e[i].handle);
        if (h)
            handle_delete(h);
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

void fdstore_free(struct fdstore *st)
{
    free(st);
}

/* --- re-exec ------------------------------------------------------------------ */

void fdstore_save(const struct fdstore *st, const char *svc, struct state_out *o)
{
    for (unsigned i = 0; st && i < st->n; i++) {
        state_rec(o, "service.fdstore");
        state_str(o, svc);
        state_str(o, st->e[i].handle);
        state_str(o, st->e[i].fdname);
        state_end(o);
    }
}

bool fdstore_restore(struct fdstore **stp, const char *handle, const char *fdname,
                     const char **err)
{
    if (!handle_name_valid(handle) || strlen(fdname) > HANDLE_NAME_MAX ||
        (*stp && (*stp)->n >= FDSTORE_MAX)) {
        *err = "malformed service.fdstore record";
        return false;
    }
    if (!*stp || (*stp)->n == (*stp)->cap) {
        unsigned cap = *stp ? (*stp)->cap * 2 : 4;
        struct fdstore *g = realloc(*stp, sizeof *g + cap * sizeof g->e[0]);
        if (!g) {
            *err = "out of memory";
            return false;
        }
        if (!*stp)
            g->n = 0;
        g->cap = cap;
        *stp = g;
    }
    struct entry *e = &(*stp)->e[(*stp)->n++];
    snprintf(e->handle, sizeof e->handle, "%s", handle);
    snprintf(e->fdname, sizeof e->fdname, "%s", fdname);
    return true;
}
