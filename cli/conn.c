/* conn.c - dpctl's connection to the control socket (see conn.h). */
#include "conn.h"
#include "dpctl.h"
#include "frame.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct conn {
    int fd;
    const char *path;
    char peer[120];         /* who serves the socket: "uid U (pid P, "comm")" */
    unsigned long nmarker;
    char marker[48];
    size_t marker_len;      /* strlen(marker) */
    bool eof_expected, eof;
    bool answered;          /* an echo marker came back: it speaks the protocol */
    struct frame in;        /* fixed: a peer cannot make us grow */
};

int64_t conn_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What to check, for the usual reasons a connect fails. */
static const char *connect_hint(const char *path, int err)
{
    struct stat st;
    if (err == ENOENT || err == ECONNREFUSED)
        return "is daemonproxy running with -S on this path? "
               "Give the path with -S or $DAEMONPROXY_SOCKET";
    if (err == EACCES || err == EPERM)
        return "only daemonproxy's user, root and its --socket-group may connect";
    if (err == ENOTSOCK || (stat(path, &st) == 0 && !S_ISSOCK(st.st_mode)))
        return "that path is not a socket";
    if (err == EAGAIN || err == ETIMEDOUT)
        return "daemonproxy does not accept connections; is it stopped or overloaded?";
    return "check the path given with -S or $DAEMONPROXY_SOCKET";
}

/* "uid U (pid P, "comm")": who listens, as SO_PEERCRED and /proc say. */
static void describe_peer(const struct ucred *cr, char *buf, size_t len)
{
    char path[64], comm[64], shown[48];
    ssize_t n = -1;
    snprintf(path, sizeof path, "/proc/%ld/comm", (long)cr->pid);
    int fd = cr->pid > 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        n = read(fd, comm, sizeof comm);
        close(fd);
    }
    if (n > 0 && comm[n - 1] == '\n')
        n--;
    if (n > 0)
        frame_escape(comm, (size_t)n, false, shown, sizeof shown);
    if (cr->pid <= 0)   /* in another pid namespace */
        snprintf(buf, len, "uid %lu", (unsigned long)cr->uid);
    else
        snprintf(buf, len, "uid %lu (pid %ld%s%s)", (unsigned long)cr->uid, (long)cr->pid,
                 n > 0 ? ", " : "", n > 0 ? shown : "");
}

/* The peer check: before a byte is sent, the socket must be served by
 * root, by us, or by the uid the user said to trust; anyone can listen on
 * a path we are told or guess, and would read what we send. */
static bool peer_trusted(int fd, const char *path, uid_t trust, char *desc, size_t len)
{
    struct ucred cr;
    socklen_t n = sizeof cr;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &n) < 0) {
        fprintf(stderr, "dpctl: refusing %s: cannot learn who serves it (SO_PEERCRED: %s)\n",
                path, strerror(errno));
        return false;
    }
    describe_peer(&cr, desc, len);
    if (cr.uid == 0 || cr.uid == geteuid() || (trust != CONN_TRUST_NONE && cr.uid == trust))
        return true;
    char also[40] = " or you";
    if (trust != CONN_TRUST_NONE)
        snprintf(also, sizeof also, ", you or uid %lu", (unsigned long)trust);
    fprintf(stderr, "dpctl: refusing %s: it is served by %s, not by root%s; "
            "if that daemon is yours to use, say so with --trust-uid %lu\n",
            path, desc, also, (unsigned long)cr.uid);
    return false;
}

struct conn *conn_open(const char *path, int64_t timeout_ms, uid_t trust)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "dpctl: cannot connect to %s: path too long for a unix socket\n", path);
        return NULL;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "dpctl: socket: %s\n", strerror(errno));
        return NULL;
    }
    /* connect() and write() on a unix socket honour the send timeout: a
     * daemon whose backlog is full cannot hang us. */
    struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int r;
    do
        r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        int e = errno == EINPROGRESS ? ETIMEDOUT : errno;
        fprintf(stderr, "dpctl: cannot connect to %s: %s (%s)\n", path, strerror(e),
                connect_hint(path, e));
        close(fd);
        return NULL;
    }
    struct conn *c = malloc(sizeof *c);
    if (!c) {
        close(fd);
        fprintf(stderr, "dpctl: out of memory\n");
        return NULL;
    }
    memset(c, 0, offsetof(struct conn, in));
    frame_init(&c->in);
    c->fd = fd;
    c->path = path;
    if (!peer_trusted(fd, path, trust, c->peer, sizeof c->peer)) {
        conn_close(c);
        return NULL;
    }
    return c;
}

const char *conn_path(const struct conn *c)
{
    return c->path;
}

void conn_close(struct conn *c)
{
    if (!c)
        return;
    close(c->fd);
    free(c);
}

/* What the peer did, for a message about a peer that never answered:
 * "; it never answered (its first bytes: "..."); the socket is served by
 * uid U (pid P, "comm")".  Empty once it has answered: a real daemonproxy
 * that goes away needs no portrait. */
static void what_we_found(const struct conn *c, char *buf, size_t len)
{
    char first[FRAME_EXCERPT_SIZE];
    frame_excerpt(&c->in, first, sizeof first);
    if (c->answered)
        buf[0] = '\0';
    else if (first[0])
        snprintf(buf, len, "; it never answered (its first bytes: %s); the socket is "
                 "served by %s", first, c->peer);
    else
        snprintf(buf, len, "; it never answered; the socket is served by %s", c->peer);
}

static int lost(struct conn *c, const char *what, int err)
{
    char found[512];
    what_we_found(c, found, sizeof found);
    fprintf(stderr, "dpctl: connection to daemonproxy lost (%s: %s: %s)%s\n",
            c->path, what, err ? strerror(err) : "closed by the daemon", found);
    return DPCTL_LOST;
}

/* A line daemonproxy would never send: say so and stop. */
static int not_daemonproxy(struct conn *c, enum frame_next why)
{
    char first[FRAME_EXCERPT_SIZE], what[48];
    frame_excerpt(&c->in, first, sizeof first);
    if (why == FRAME_TOO_LONG)
        snprintf(what, sizeof what, "a line over %d bytes", FRAME_LINE_MAX);
    else
        snprintf(what, sizeof what, "a control byte 0x%02x", c->in.bad);
    fprintf(stderr, "dpctl: %s is not daemonproxy: it sent %s (its first bytes: %s); "
            "the socket is served by %s\n", c->path, what, first, c->peer);
    return DPCTL_NOCONNECT;
}

void conn_say_no_reply(const struct conn *c, double seconds)
{
    char first[FRAME_EXCERPT_SIZE];
    frame_excerpt(&c->in, first, sizeof first);
    if (c->in.bytes == 0)
        fprintf(stderr, "dpctl: no reply from daemonproxy within %gs: %s accepted the "
                "connection but sent nothing; the socket is served by %s\n",
                seconds, c->path, c->peer);
    else
        fprintf(stderr, "dpctl: no reply from daemonproxy within %gs: %s sent %llu bytes "
                "but not the answer (its first bytes: %s); the socket is served by %s\n",
                seconds, c->path, c->in.bytes, first, c->peer);
}

static int write_all(struct conn *c, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(c->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            if (errno == EPIPE && c->eof_expected)
                return DPCTL_OK;
            return lost(c, "write", errno == EAGAIN ? ETIMEDOUT : errno);
        }
        p += w;
        n -= (size_t)w;
    }
    return DPCTL_OK;
}

/* Send argv joined by TABs as one line and, with a marker, "echo<TAB>marker"
 * after it, all in one write. */
static int send_lines(struct conn *c, int argc, char *const *argv, const char *marker)
{
    size_t n = 1;
    for (int i = 0; i < argc; i++)
        n += strlen(argv[i]) + 1;
    if (marker)
        n += sizeof "echo\t\n" + strlen(marker);
    char stackbuf[4200], *line = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (!line) {
        fprintf(stderr, "dpctl: out of memory\n");
        return DPCTL_FAILED;
    }
    size_t at = 0;
    for (int i = 0; i < argc; i++) {
        size_t k = strlen(argv[i]);
        memcpy(line + at, argv[i], k);
        at += k;
        line[at++] = i + 1 < argc ? '\t' : '\n';
    }
    if (argc == 0)
        line[at++] = '\n';
    if (marker)
        at += (size_t)sprintf(line + at, "echo\t%s\n", marker);
    int rc = write_all(c, line, at);
    if (line != stackbuf)
        free(line);
    return rc;
}

int conn_send(struct conn *c, int argc, char *const *argv)
{
    return send_lines(c, argc, argv, NULL);
}

static char *next_marker(struct conn *c)
{
    int n = snprintf(c->marker, sizeof c->marker, "dpctl.%ld.%lu", (long)getpid(), ++c->nmarker);
    c->marker_len = (size_t)n;
    return c->marker;
}

const char *conn_send_marker(struct conn *c, int *rc)
{
    char *argv[] = { (char *)"echo", next_marker(c) };
    *rc = conn_send(c, 2, argv);
    return c->marker;
}

const char *conn_send_marked(struct conn *c, int argc, char *const *argv, int *rc)
{
    *rc = send_lines(c, argc, argv, next_marker(c));
    return c->marker;
}

void conn_expect_eof(struct conn *c)
{
    c->eof_expected = true;
}

bool conn_eof_seen(const struct conn *c)
{
    return c->eof;
}

int conn_read_line(struct conn *c, int64_t deadline_ms, char **line, size_t *len)
{
    for (;;) {
        enum frame_next next = frame_next(&c->in, line, len);
        if (next == FRAME_LINE) {
            if (!c->answered && *len == c->marker_len && strcmp(*line, c->marker) == 0)
                c->answered = true;
            return DPCTL_OK;
        }
        if (next != FRAME_NONE)
            return not_daemonproxy(c, next);
        if (c->eof)
            return DPCTL_LOST;
        /* Checked before every read, a buffer (at most two lines) apart:
         * a peer that never stops sending cannot keep us past it. */
        int64_t left = deadline_ms - conn_now_ms();
        if (left <= 0)
            return DPCTL_TIMEOUT;
        /* Read first, poll only when nothing is there: a statedump is
         * read a buffer after another, and each poll() before a read that
         * would not block was a system call for nothing. */
        size_t room;
        char *at = frame_space(&c->in, &room);
        ssize_t n = recv(c->fd, at, room, MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN) {
            struct pollfd p = { .fd = c->fd, .events = POLLIN };
            int r = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
            if (r < 0 && errno != EINTR) {
                c->eof = true;
                return lost(c, "poll", errno);
            }
            continue;       /* readable, or the deadline check above ends it */
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : 0;
            c->eof = true;
            if (!c->eof_expected || (e && e != ECONNRESET))
                lost(c, "read", e);
            return DPCTL_LOST;
        }
        frame_commit(&c->in, (size_t)n);
    }
}
