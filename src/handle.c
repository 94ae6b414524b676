/* handle.c - the named-handle registry (see handle.h).
 *
 * One allocation per handle holds the struct and its strings (name, flags,
 * description), so a --fd-pool block is the whole cost of a handle.
 */
#include "handle.h"
#include "event.h"
#include "fmt.h"
#include "log.h"
#include "pool.h"
#include "protocol.h"
#include "state.h"
#include "sys.h"
#include "tree.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HANDLE_MIN_POOL 7

struct handle {
    struct tree_node node;          /* by name */
    struct handle *peer;            /* other end of a pipe, or NULL */
    int fd;
    unsigned char type;             /* enum handle_type */
    unsigned char control;          /* enum handle_control */
    bool is_const;
    bool stored;                    /* made by the fd store */
    const char *flags, *desc;       /* point into data[] */
    char data[];                    /* name \0 flags \0 desc \0 */
};

static const char *node_key(const struct tree_node *n);
static struct tree handles = TREE_INIT(node_key);
static struct pool handle_mem;
static void (*watch_cb)(const char *name, int fd);

static const char *node_key(const struct tree_node *n)
{
    return ((const struct handle *)n)->data;
}

const char *handle_name(const struct handle *h) { return h->data; }
int handle_fd(const struct handle *h) { return h->fd; }
enum handle_control handle_control(const struct handle *h) { return h->control; }
bool handle_stored(const struct handle *h) { return h->stored; }
void handle_mark_stored(struct handle *h) { h->stored = true; }
void handle_set_watch_cb(void (*fn)(const char *name, int fd)) { watch_cb = fn; }

bool handle_name_valid(const char *name)
{
    return proto_name_valid(name, HANDLE_NAME_MAX);
}

struct handle *handle_by_name(const char *name)
{
    return (struct handle *)tree_find(&handles, name);
}

int handle_fd_by_name(const char *name)
{
    struct handle *h = handle_by_name(name);
    return h ? handle_fd(h) : -1;
}

struct handle *handle_next_after(const char *name)
{
    return (struct handle *)tree_next_after(&handles, name);
}

void handle_each_after(const char *name, bool (*fn)(struct handle *h, void *ctx), void *ctx)
{
    struct tree_iter it;
    for (struct tree_node *n = tree_iter_after(&handles, name, &it); n; n = tree_iter_next(&it))
        if (!fn((struct handle *)n, ctx))
            return;
}

void handle_pool(int64_t n, int64_t size)
{
    if (n < HANDLE_MIN_POOL) {
        log_warn("fd pool of %lld is below the minimum of %d; using %d",
                 (long long)n, HANDLE_MIN_POOL, HANDLE_MIN_POOL);
        n = HANDLE_MIN_POOL;
    }
    if (size == 0)
        size = 128;
    if (size < 32) {
        log_warn("fd pool object size %lld is below the minimum of 32; using 32",
                 (long long)size);
        size = 32;
    }
    if (size > PATH_MAX) {
        log_warn("fd pool object size %lld is above the maximum of %d; using %d",
                 (long long)size, PATH_MAX, PATH_MAX);
        size = PATH_MAX;
    }
    /* The block holds the struct and its strings. */
    if (!pool_init(&handle_mem, (size_t)n, sizeof(struct handle) + (size_t)size))
        log_error("cannot allocate fd pool of %lld x %lld", (long long)n, (long long)size);
}

void handle_format_state(const struct handle *h, struct proto_line *l)
{
    proto_line_begin(l, "fd.state");
    proto_line_add(l, h->data);
    static const char *const type_names[] = { "special", "file", "pipe", "socket" };
    proto_line_add(l, type_names[h->type]);
    proto_line_add(l, h->flags);
    if (h->type == HANDLE_PIPE)
        proto_line_add(l, h->peer ? h->peer->data : "?");
    else
        proto_line_add(l, h->desc);
}

static void broadcast_state(const struct handle *h)
{
    struct proto_line l;
    handle_format_state(h, &l);
    size_t n = proto_line_end(&l);
    event_emit(l.buf, n);
}

static void handle_free(struct handle *h)
{
    if (h->peer)
        h->peer->peer = NULL;
    if (h->fd >= 0)
        sys_close(h->fd);
    pool_free(&handle_mem, h);
}

/* Fill a block that has room for the strings behind the struct. */
static void init_handle(struct handle *h, const char *name, const char *flags, const char *desc)
{
    size_t ln = strlen(name) + 1, lf = strlen(flags) + 1, ld = strlen(desc) + 1;
    memset(h, 0, sizeof *h);
    memcpy(h->data, name, ln);
    memcpy(h->data + ln, flags, lf);
    memcpy(h->data + ln + lf, desc, ld);
    h->flags = h->data + ln;
    h->desc = h->data + ln + lf;
    h->fd = -1;
}

static struct handle *handle_alloc(const char *name, const char *flags, const char *desc,
                                   const char **err)
{
    size_t need = sizeof(struct handle) + strlen(name) + strlen(flags) + strlen(desc) + 3;
    struct handle *h = pool_alloc(&handle_mem, need);
    if (!h) {
        *err = pool_active(&handle_mem) && !pool_exhausted(&handle_mem)
            ? "handle description too long for the fd pool object size"
            : "unable to allocate file descriptor object";
        return NULL;
    }
    init_handle(h, name, flags, desc);
    return h;
}

const char *handle_check_name(const char *name)
{
    if (!handle_name_valid(name))
        return "invalid handle name";
    struct handle *old = handle_by_name(name);
    if (old && old->is_const)
        return "cannot replace a constant handle";
    return NULL;
}

/* Put h in the registry in place of any handle of the same name. */
static void install(struct handle *h)
{
    struct handle *old = handle_by_name(h->data);
    if (old) {
        tree_remove(&handles, &old->node);
        handle_free(old);
    }
    tree_insert(&handles, &h->node);
}

static void announce(struct handle *h)
{
    broadcast_state(h);
    if (watch_cb)
        watch_cb(h->data, h->fd);
}

static struct handle *set_one(const char *name, int fd, enum handle_type type,
                              const char *flags, const char *desc, bool stored,
                              const char **err)
{
    struct handle *h = NULL;
    if ((*err = handle_check_name(name)) == NULL)
        h = handle_alloc(name, flags, desc, err);
    if (!h) {
        sys_close(fd);
        return NULL;
    }
    h->fd = fd;
    h->type = (unsigned char)type;
    h->stored = stored;
    install(h);
    announce(h);
    return h;
}

struct handle *handle_set(const char *name, int fd, enum handle_type type,
                          const char *flags, const char *desc, const char **err)
{
    return set_one(name, fd, type, flags, desc, false, err);
}

struct handle *handle_set_stored(const char *name, int fd, const char *flags,
                                 const char *desc, const char **err)
{
    struct handle *old = handle_by_name(name);
    if (old && !old->stored) {
        *err = "a handle of that name exists that the fd store did not make";
        sys_close(fd);
        return NULL;
    }
    return set_one(name, fd, HANDLE_SPECIAL, flags, desc, true, err);
}

bool handle_set_pair(const char *rname, int rfd, const char *rflags,
                     const char *wname, int wfd, const char *wflags, const char **err)
{
    struct handle *r = NULL, *w = NULL;
    if (strcmp(rname, wname) == 0)
        *err = "the two ends need different names";
    else if ((*err = handle_check_name(rname)) == NULL &&
             (*err = handle_check_name(wname)) == NULL &&
             (r = handle_alloc(rname, rflags, "", err)) != NULL)
        w = handle_alloc(wname, wflags, "", err);
    if (!r || !w) {
        if (r)
            pool_free(&handle_mem, r);
        sys_close(rfd);
        sys_close(wfd);
        return false;
    }
    r->fd = rfd;
    w->fd = wfd;
    r->type = w->type = HANDLE_PIPE;
    install(r);
    install(w);
    r->peer = w;
    w->peer = r;
    announce(r);
    announce(w);
    return true;
}

bool handle_delete(struct handle *h)
{
    if (h->is_const)
        return false;
    struct proto_line l;
    proto_line_begin(&l, "fd.state");
    proto_line_add(&l, h->data);
    proto_line_add(&l, "deleted");
    size_t n = proto_line_end(&l);
    tree_remove(&handles, &h->node);
    char name[HANDLE_NAME_MAX + 1];
    memcpy(name, h->data, strlen(h->data) + 1);
    handle_free(h);
    event_emit(l.buf, n);
    if (watch_cb)
        watch_cb(name, -1);
    return true;
}

void handle_drop_all(void)
{
    struct handle *h;
    while ((h = handle_next_after(""))) {
        char name[HANDLE_NAME_MAX + 1];
        memcpy(name, h->data, strlen(h->data) + 1);
        tree_remove(&handles, &h->node);
        handle_free(h);
        if (watch_cb)
            watch_cb(name, -1);
    }
    pool_destroy(&handle_mem);
}

/* --- start-time handles ---------------------------------------------------- */

static struct handle *add_special(const char *name, int fd, const char *flags,
                                  const char *desc, bool is_const, enum handle_control ctl)
{
    const char *err;
    struct handle *h = handle_alloc(name, flags, desc, &err);
    if (!h) {
        log_error("handle %s: %s", name, err);
        sys_close(fd);
        return NULL;
    }
    h->fd = fd;
    h->type = HANDLE_SPECIAL;
    h->is_const = is_const;
    h->control = (unsigned char)ctl;
    tree_insert(&handles, &h->node);
    return h;
}

static const char *access_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    switch (fl < 0 ? -1 : fl & O_ACCMODE) {
    case O_RDONLY: return "read";
    case O_WRONLY: return "write";
    case O_RDWR: return "read,write";
    default: return "-";
    }
}

static void describe(int fd, char *buf, size_t size)
{
    char path[40];
    fmt_snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, buf, size - 1);
    if (n <= 0)
        fmt_snprintf(buf, size, "fd %d", fd);
    else
        buf[n] = '\0';
}

/* An fd daemonproxy was started with, described by what it is.  The one
 * place with a PATH_MAX buffer on the start-up path, so that two are
 * never nested (each puts the calls below it a page deeper: idle RSS). */
static void add_inherited(const char *name, int fd)
{
    char desc[PATH_MAX];
    describe(fd, desc, sizeof desc);
    add_special(name, fd, access_flags(fd), desc, false, HCTL_NONE);
}

/* An inherited standard fd as a private close-on-exec dup (a closed one
 * becomes /dev/null). */
static void add_std(const char *name, int stdfd, int nullfd, bool redirect)
{
    int fd = -1;
    if (!redirect && fcntl(stdfd, F_GETFD) >= 0)
        fd = sys_dup_cloexec(stdfd, 3);
    if (fd < 0)
        fd = sys_dup_cloexec(nullfd, 3);
    add_inherited(name, fd);
}

/* The inherited fds found so far. */
struct fd_list {
    int *fds;
    size_t n, cap;
    int skip;
};

/* An fd that came through exec has close-on-exec clear: one that has it
 * set was opened inside this process before main (a preload library, a
 * sanitizer runtime, valgrind) and is not ours to hand out or close. */
static void add_if_inherited(int fd, void *ctx)
{
    struct fd_list *l = ctx;
    int fl = fcntl(fd, F_GETFD);
    if (fd == l->skip || fl < 0 || (fl & FD_CLOEXEC))
        return;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        int *a = realloc(l->fds, ncap * sizeof *a);
        if (!a)
            return;     /* not registered; still closed in children */
        l->fds = a;
        l->cap = ncap;
    }
    l->fds[l->n++] = fd;
}

/* Every inherited fd > 2 but skip (before daemonproxy opened anything),
 * sorted; *out is malloc'd. */
static size_t inherited_fds(int **out, int skip)
{
    struct fd_list l = { .skip = skip };
    sys_each_fd(3, add_if_inherited, &l);
    if (l.n)
        sys_sort_ints(l.fds, l.n);
    *out = l.fds;
    return l.n;
}

int handle_init(bool redirect_stdin, bool redirect_stdout, bool redirect_stderr,
                int private_fd)
{
    tree_init(&handles, node_key);
    int *fds;
    size_t nfds = inherited_fds(&fds, private_fd);
    for (size_t i = 0; i < nfds; i++)
        sys_set_cloexec(fds[i], true);

    int nullfd = sys_open("/dev/null", O_RDWR, 0);
    if (nullfd < 0) {
        free(fds);
        return -1;
    }
    /* A closed standard fd must not be reused by the next open(). */
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && fd != nullfd)
            dup2(nullfd, fd);
    if (nullfd <= 2) {
        int moved = sys_dup_cloexec(nullfd, 3);
        nullfd = moved;     /* the low copy stays as the standard fd */
        if (nullfd < 0) {
            free(fds);
            return -1;
        }
    }
    add_special("null", nullfd, "read,write", "/dev/null", true, HCTL_NONE);
    /* Flags and descriptions as the original has them: the access the
     * service gets. */
    add_special("control.event", -1, "read", "daemonproxy event stream", true, HCTL_EVENT);
    add_special("control.cmd", -1, "write", "daemonproxy command pipe", true, HCTL_CMD);
    add_special("control.socket", -1, "read,write", "daemonproxy control socket", true,
                HCTL_SOCKET);
    /* An extension, so not from --fd-pool, whose minimum of 7 covers the
     * original's start handles. */
    static const char nn[] = "notify.fd", nf[] = "write", nd[] = "readiness notification pipe";
    struct handle *nh = malloc(sizeof *nh + sizeof nn + sizeof nf + sizeof nd);
    if (!nh) {
        free(fds);
        return -1;
    }
    init_handle(nh, nn, nf, nd);
    nh->type = HANDLE_SPECIAL;
    nh->is_const = true;
    nh->control = HCTL_NOTIFY;
    tree_insert(&handles, &nh->node);
    add_std("stdin", 0, nullfd, redirect_stdin);
    add_std("stdout", 1, nullfd, redirect_stdout);
    add_std("stderr", 2, nullfd, redirect_stderr);
    for (size_t i = 0; i < nfds; i++) {
        char name[16];
        fmt_snprintf(name, sizeof name, "fd_%d", fds[i]);
        add_inherited(name, fds[i]);
    }
    free(fds);
    return 0;
}

/* --- re-exec ----------------------------------------------------------------- */

/* A handle: its name, fd (-1 for the control ends, which a service
 * controller makes), kind and what it says of itself; a pipe's second end
 * names the first. */
struct handle_rec {
    struct state_val name, fd, type, control, is_const, flags, desc, peer;
};

static const struct state_def handle_defs[] = {
    STATE_STR(struct handle_rec, name, HANDLE_NAME_MAX),
    STATE_FD(struct handle_rec, fd, true),
    STATE_INT(struct handle_rec, type, HANDLE_SPECIAL, HANDLE_SOCKET, 0),
    STATE_INT(struct handle_rec, control, HCTL_NONE, HCTL_NOTIFY, 0),
    STATE_INT(struct handle_rec, is_const, 0, 1, 0),
    STATE_STR(struct handle_rec, flags, STATE_ANY),
    STATE_STR(struct handle_rec, desc, STATE_ANY),
    STATE_STR(struct handle_rec, peer, STATE_ANY),
};
STATE_RECORD(handle_record, "handle", struct handle_rec, handle_defs, 0, 0);

/* The fd pool (--fd-pool), made before any handle. */
struct handle_pool_rec {
    struct state_val count, size;
};

static const struct state_def handle_pool_defs[] = {
    STATE_INT(struct handle_pool_rec, count, 1, INT32_MAX, 0),
    STATE_INT(struct handle_pool_rec, size, 1, INT32_MAX, 0),
};
STATE_RECORD(handle_pool_record, "handle.pool", struct handle_pool_rec, handle_pool_defs, 0, 0);

static void save_one(struct tree_node *n, void *ctx)
{
    const struct handle *h = (const struct handle *)n;
    struct handle_rec rec = {
        .name.s = h->data, .fd.i = h->fd, .type.i = h->type, .control.i = h->control,
        .is_const.i = h->is_const, .flags.s = h->flags, .desc.s = h->desc,
        .peer.s = h->peer ? h->peer->data : "",
    };
    state_write(ctx, &handle_record, &rec);
}

void handle_save(struct state_out *o)
{
    if (pool_active(&handle_mem)) {
        struct handle_pool_rec rec = {
            .count.i = (int64_t)handle_mem.count, .size.i = (int64_t)handle_mem.size,
        };
        state_write(o, &handle_pool_record, &rec);
    }
    tree_foreach(&handles, save_one, o);
}

static bool restore_pool(const struct state_rec *r, const char **err)
{
    struct handle_pool_rec rec;
    if (!state_read(r, &handle_pool_record, &rec, err))
        return false;
    /* One pool, made before any handle: the blocks of the handles
     * already there would not be the new pool's. */
    if (pool_active(&handle_mem) || handle_next_after("")) {
        *err = "record handle.pool: a second one, or after a handle";
        return false;
    }
    if (!pool_init(&handle_mem, (size_t)rec.count.i, (size_t)rec.size.i)) {
        *err = "cannot allocate the fd pool";
        return false;
    }
    return true;
}

/* Pipes come in pairs; the second end names the first, restored before
 * it, which must not have a peer yet (each end points at the other, and
 * only at it: deleting one clears the other's pointer). */
static bool restore_peer(struct handle *h, const char *name, const char **err)
{
    struct handle *peer = handle_by_name(name);
    if (!peer || peer == h)
        return true;
    if (peer->peer) {
        *err = "record handle, field peer: a third end of a pipe";
        return false;
    }
    h->peer = peer;
    peer->peer = h;
    return true;
}

bool handle_restore(const struct state_rec *r, const char **err)
{
    if (strcmp(r->tag, "handle.pool") == 0)
        return restore_pool(r, err);
    struct handle_rec rec;
    if (!state_read(r, &handle_record, &rec, err))
        return false;
    const char *name = rec.name.s, *flags = rec.flags.s, *desc = rec.desc.s;
    if (!handle_name_valid(name) || handle_by_name(name) ||
        (rec.fd.i < 0) != (rec.control.i != HCTL_NONE)) {
        *err = "record handle: a bad or second name, or an fd where none belongs";
        return false;
    }
    struct handle *h;
    if (rec.control.i == HCTL_NOTIFY) {
        /* Not from the pool, as at start (handle_init). */
        h = malloc(sizeof *h + strlen(name) + strlen(flags) + strlen(desc) + 3);
        if (h)
            init_handle(h, name, flags, desc);
        else
            *err = "unable to allocate file descriptor object";
    } else {
        h = handle_alloc(name, flags, desc, err);
    }
    if (!h)
        return false;
    h->fd = (int)rec.fd.i;
    h->type = (unsigned char)rec.type.i;
    h->control = (unsigned char)rec.control.i;
    h->is_const = rec.is_const.i;
    tree_insert(&handles, &h->node);
    return restore_peer(h, rec.peer.s, err);
}
