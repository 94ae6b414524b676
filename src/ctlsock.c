/* ctlsock.c - the listening control socket (see ctlsock.h).
 *
 * Accepting stops while the process is out of fds (EMFILE/ENFILE) and is
 * retried from a timer, so a full fd table never turns into a busy loop on
 * a permanently readable listening socket.
 */
#include "ctlsock.h"
#include "controller.h"
#include "fmt.h"
#include "log.h"
#include "loop.h"
#include "state.h"
#include "sys.h"

#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define ACCEPT_BATCH 32
#define ACCEPT_RETRY_MS 250
#define CTLSOCK_BACKLOG 65535

static int ls_fd = -1;
static bool group_set;
static bool accept_failing;     /* log an fd shortage once, not per retry */
static gid_t group_gid;
static char *ls_path;
static loop_watch ls_watch;
static loop_timer ls_retry;

static void accept_ready(void *ctx, uint32_t ev);

bool ctlsock_allow_group(const char *group)
{
    int64_t n;
    struct group *gr = getgrnam(group);
    if (gr)
        group_gid = gr->gr_gid;
    else if (sys_parse_int(group, 0, UINT32_MAX - 1, &n))
        group_gid = (gid_t)n;
    else
        return false;
    group_set = true;
    return true;
}

/* Whether the peer's supplementary groups include group_gid.  A peer may
 * have up to NGROUPS_MAX (65536) of them: when they do not fit, the kernel
 * says ERANGE and how many bytes it needs, and we ask again with that. */
static bool peer_in_group(int fd)
{
    gid_t small[256], *groups = small;
    socklen_t len = sizeof small;
    int r;
    while ((r = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len)) < 0 &&
           errno == ERANGE && groups == small && len > sizeof small)
        if (!(groups = malloc(len)))
            return false;
    bool in = false;
    for (size_t i = 0; r == 0 && i < len / sizeof *groups && !in; i++)
        in = groups[i] == group_gid;
    if (groups != small)
        free(groups);
    return in;
}

/* Access control: only our own uid, root, and (with --socket-group) members
 * of that group may command daemonproxy.  The socket file's mode already
 * keeps others out; this holds even if someone loosens it. */
static bool peer_allowed(int fd, struct ucred *cr)
{
    socklen_t len = sizeof *cr;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cr, &len) < 0)
        return false;
    if (cr->uid == 0 || cr->uid == geteuid())
        return true;
    if (!group_set)
        return false;
    if (cr->gid == group_gid)
        return true;
    return peer_in_group(fd);
}

/* Refused connections in the log: a local user who can reach the socket
 * file (its mode loosened, say) must not be able to flood the log, so the
 * first REFUSED_LOGGED of an interval are logged in full, the rest counted
 * and summed up in one line when the interval ends (as notify.c does for
 * refused notifications). */
#define REFUSED_LOGGED 5
#define REFUSED_INTERVAL_MS 5000

static unsigned refused_logged;
static unsigned long refused_more;
static int64_t refused_since = -1;     /* -1: no interval running */
static void refused_summary(loop_timer *t);
static loop_timer refused_timer = LOOP_TIMER_INIT(refused_summary);

static void refused_summary(loop_timer *t)
{
    if (refused_more)
        log_warn("control socket: %lu more connections refused in the last %d s",
                 refused_more, REFUSED_INTERVAL_MS / 1000);
    refused_more = 0;
    refused_since = -1;
}

static void refused(const struct ucred *cr)
{
    int64_t now = loop_now();
    if (refused_since < 0) {
        refused_since = now;
        refused_logged = 0;
        loop_timer_at(&refused_timer, now + REFUSED_INTERVAL_MS);
    }
    if (refused_logged < REFUSED_LOGGED) {
        refused_logged++;
        log_warn("control socket: refused connection from uid %u gid %u pid %d",
                 (unsigned)cr->uid, (unsigned)cr->gid, (int)cr->pid);
    } else {
        refused_more++;
    }
}

static void accept_resume(loop_timer *t)
{
    if (ls_fd >= 0 && loop_watch_set(&ls_watch, LOOP_IN) == 0)
        accept_ready(NULL, LOOP_IN);
}

static void accept_ready(void *ctx, uint32_t ev)
{
    for (int i = 0; i < ACCEPT_BATCH && ls_fd >= 0; i++) {
        int fd = accept4(ls_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                if (!accept_failing)
                    log_errno(LOG_ERROR, "control socket: accept (retrying every %d ms)",
                              ACCEPT_RETRY_MS);
                accept_failing = true;
                loop_watch_set(&ls_watch, 0);
                loop_timer_at(&ls_retry, loop_now_update() + ACCEPT_RETRY_MS);
            }
            return;     /* EAGAIN, ECONNABORTED, ...: nothing now */
        }
        if (accept_failing)
            log_info("control socket: accepting again");
        accept_failing = false;
        struct ucred cr = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
        if (!peer_allowed(fd, &cr)) {
            refused(&cr);
            sys_close(fd);
            continue;
        }
        if (!ctl_new(CTL_CLIENT, fd, fd))     /* it closed fd */
            log_errno(LOG_ERROR, "control socket: new client");
    }
}

void ctlsock_delete(void)
{
    if (ls_fd < 0)
        return;
    loop_watch_del(&ls_watch);
    loop_timer_cancel(&ls_retry);
    sys_close(ls_fd);
    ls_fd = -1;
    if (ls_path) {
        unlink(ls_path);
        free(ls_path);
        ls_path = NULL;
    }
}

/* Whether the socket file at sa may be replaced: no process listens on it
 * any more (a connect is refused), or the listener is daemonproxy itself
 * (the credentials a connection reports are the listener's at listen(),
 * which a re-exec keeps).  Else false, with *err and errno EADDRINUSE. */
static bool stale(const struct sockaddr_un *sa, const char **err)
{
    static char why[128];
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = "socket";
        return false;
    }
    struct ucred cr = { .pid = 0 };
    socklen_t len = sizeof cr;
    /* Non-blocking: a unix connect either completes or fails at once. */
    int r = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
    int e = errno;
    if (r == 0 && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
        cr.pid = 0;
    sys_close(fd);
    if (r < 0 && (e == ECONNREFUSED || e == ENOENT))
        return true;        /* its process is gone (or so is the file) */
    if (r == 0 && cr.pid == getpid())
        return true;
    if (r == 0 || e == EAGAIN) {
        char comm[32];
        if (r == 0 && sys_proc_comm(cr.pid, comm, sizeof comm))
            fmt_snprintf(why, sizeof why, "a live socket of pid %d (%s) is there", (int)cr.pid,
                     comm);
        else if (r == 0)
            fmt_snprintf(why, sizeof why, "a live socket of pid %d is there", (int)cr.pid);
        else
            fmt_snprintf(why, sizeof why, "a live socket is there (its backlog is full)");
        errno = EADDRINUSE;
    } else {
        fmt_snprintf(why, sizeof why, "cannot tell whether the socket there is live");
        errno = e;
    }
    *err = why;
    return false;
}

int ctlsock_create(const char *path, const char **err)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof sa.sun_path) {
        *err = "socket path too long";
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa.sun_path, path, len + 1);
    /* Absolute: a `chdir` command must not make the unlink at
     * socket.delete (or the next socket.create) miss the file. */
    char *copy = sys_absolute(path);
    if (!copy) {
        *err = "cannot make the path absolute";
        return -1;
    }
    /* A leftover socket file of ours (a previous run, or our own socket
     * being replaced) is removed; a live one of another process is not
     * taken over, and anything else at the path makes bind() fail.  The
     * old socket keeps working until the new one is bound elsewhere. */
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_uid == geteuid()) {
        if (!stale(&sa, err)) {
            free(copy);
            return -1;
        }
        unlink(path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = "socket";
        free(copy);
        return -1;
    }
    /* The socket file is created 0600: only our uid (and root) may connect. */
    mode_t old = umask(0177);
    int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (r == 0 && group_set && (chown(path, (uid_t)-1, group_gid) < 0 || chmod(path, 0660) < 0)) {
        *err = "chown/chmod for --socket-group";
        int e = errno;
        unlink(path);
        sys_close(fd);
        free(copy);
        errno = e;
        return -1;
    }
    /* The largest backlog the kernel allows: it caps what we ask for at
     * net.core.somaxconn (4096 by default).  A burst of clients connecting
     * at once must not be refused.  (Not SOMAXCONN: musl's is still 128.) */
    if (r < 0 || listen(fd, CTLSOCK_BACKLOG) < 0) {
        *err = r < 0 ? "bind" : "listen";
        int e = errno;
        sys_close(fd);
        free(copy);
        errno = e;
        return -1;
    }
    /* The old socket's file may be the new one's, under any spelling
     * (relative, through a symlink): it must not be unlinked then. */
    struct stat old_st, new_st;
    if (ls_path && lstat(ls_path, &old_st) == 0 && lstat(path, &new_st) == 0 &&
        old_st.st_dev == new_st.st_dev && old_st.st_ino == new_st.st_ino) {
        free(ls_path);
        ls_path = NULL;
    }
    ctlsock_delete();
    ls_fd = fd;
    ls_path = copy;
    loop_watch_init(&ls_watch, fd, accept_ready, NULL);
    loop_timer_init(&ls_retry, accept_resume);
    loop_watch_set(&ls_watch, LOOP_IN);
    log_info("listening on %s", path);
    return 0;
}

/* --- re-exec ----------------------------------------------------------------- */

/* The listening socket (-1: none, only the group was set) and its group. */
struct ctlsock_rec {
    struct state_val fd, path, group_set, gid;
};

static const struct state_def ctlsock_defs[] = {
    STATE_FD(struct ctlsock_rec, fd, true),
    STATE_STR(struct ctlsock_rec, path, STATE_ANY),
    STATE_INT(struct ctlsock_rec, group_set, 0, 1, 0),
    STATE_INT(struct ctlsock_rec, gid, 0, UINT32_MAX, 0),
};
STATE_RECORD(ctlsock_record, "ctlsock", struct ctlsock_rec, ctlsock_defs, 0, 0);

void ctlsock_save(struct state_out *o)
{
    if (ls_fd < 0 && !group_set)
        return;
    struct ctlsock_rec rec = {
        .fd.i = ls_fd, .path.s = ls_path, .group_set.i = group_set, .gid.i = group_gid,
    };
    state_write(o, &ctlsock_record, &rec);
}

bool ctlsock_restore(const struct state_rec *r, const char **err)
{
    struct ctlsock_rec rec;
    if (!state_read(r, &ctlsock_record, &rec, err))
        return false;
    if (ls_fd >= 0) {
        *err = "record ctlsock: a second one";
        return false;
    }
    group_set = rec.group_set.i;
    group_gid = (gid_t)rec.gid.i;
    if (rec.fd.i < 0)
        return true;
    if (!(ls_path = strdup(rec.path.s))) {
        *err = "out of memory";
        return false;
    }
    ls_fd = (int)rec.fd.i;
    loop_watch_init(&ls_watch, ls_fd, accept_ready, NULL);
    loop_timer_init(&ls_retry, accept_resume);
    loop_watch_set(&ls_watch, LOOP_IN);
    return true;
}
