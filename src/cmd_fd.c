/* cmd_fd.c - fd.pipe, fd.open, fd.socket, fd.take, fd.delete. */
#include "cmd.h"
#include "controller.h"
#include "fmt.h"
#include "handle.h"
#include "sys.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define LISTEN_BACKLOG_DEFAULT 32

/* Socket flags shared by fd.pipe and fd.socket. */
struct sock_flags {
    int domain;         /* 0 = not given */
    int type;           /* 0 = not given */
    bool nonblock, mkdir, bind, listen, any_socket;
    int backlog;
};

/* Parse one flag word into f.  Returns false if unknown. */
static bool sock_flag(struct sock_flags *f, const char *w)
{
    int64_t n;
    if (strcmp(w, "unix") == 0)
        f->domain = AF_UNIX;
    else if (strcmp(w, "inet") == 0)
        f->domain = AF_INET;
    else if (strcmp(w, "inet6") == 0)
        f->domain = AF_INET6;
    else if (strcmp(w, "stream") == 0)
        f->type = SOCK_STREAM;
    else if (strcmp(w, "dgram") == 0)
        f->type = SOCK_DGRAM;
    else if (strcmp(w, "seqpacket") == 0)
        f->type = SOCK_SEQPACKET;
    else if (strcmp(w, "tcp") == 0) {
        f->type = SOCK_STREAM;
        if (!f->domain)
            f->domain = AF_INET;
    } else if (strcmp(w, "udp") == 0) {
        f->type = SOCK_DGRAM;
        if (!f->domain)
            f->domain = AF_INET;
    } else if (strcmp(w, "nonblock") == 0) {
        f->nonblock = true;
        return true;
    } else if (strcmp(w, "mkdir") == 0) {
        f->mkdir = true;
        return true;
    } else if (strcmp(w, "bind") == 0) {
        f->bind = true;
        return true;
    } else if (strcmp(w, "listen") == 0) {
        f->listen = f->bind = true;
        f->backlog = LISTEN_BACKLOG_DEFAULT;
        return true;
    } else if (strncmp(w, "listen=", 7) == 0 && sys_parse_int(w + 7, 0, INT_MAX, &n)) {
        f->listen = f->bind = true;
        f->backlog = (int)n;
        return true;
    } else {
        return false;
    }
    f->any_socket = true;
    return true;
}

/* Feed each word of a comma list to fn; returns the bad word (a static
 * copy) or NULL.  The list is left as it was: an error reply quotes the
 * command line. */
static const char *each_flag(char *list, bool (*fn)(void *ctx, const char *w), void *ctx)
{
    static char bad[64];
    for (char *w = list; w;) {
        char *comma = strchr(w, ',');
        if (comma)
            *comma = '\0';
        bool ok = !*w || fn(ctx, w);
        if (!ok)
            fmt_snprintf(bad, sizeof bad, "%s", w);
        if (comma)
            *comma = ',';
        if (!ok)
            return bad;
        w = comma ? comma + 1 : NULL;
    }
    return NULL;
}

static bool sock_flag_cb(void *ctx, const char *w) { return sock_flag(ctx, w); }

/* The checks every handle-creating command starts with: its flag list and
 * the name it defines.  Replies with the error and returns false. */
static bool check_args(struct ctl *c, char *flags, bool (*fn)(void *, const char *),
                       void *ctx, const char *name)
{
    const char *bad = flags ? each_flag(flags, fn, ctx) : NULL;
    const char *err = handle_check_name(name);
    if (bad)
        ctl_error(c, "invalid flag '%s'", bad);
    else if (err)
        ctl_error(c, "%s", err);
    return !bad && !err;
}

static const char *domain_name(int d)
{
    return d == AF_INET ? "inet" : d == AF_INET6 ? "inet6" : "unix";
}

static const char *type_name(int t)
{
    return t == SOCK_DGRAM ? "dgram" : t == SOCK_SEQPACKET ? "seqpacket" : "stream";
}

/* mkdir -p of the directory part of path, mode 0700. */
static int mkdir_parents(const char *path)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return 0;
}

/* --- fd.pipe ---------------------------------------------------------------- */

int cmd_fd_pipe(struct ctl *c, int argc, char **argv)
{
    struct sock_flags f = { 0 };
    if (argc > 3) {
        const char *bad = each_flag(argv[3], sock_flag_cb, &f);
        if (bad || f.bind || f.listen || f.mkdir) {
            ctl_error(c, "invalid flag '%s'", bad ? bad : "bind/listen/mkdir");
            return 0;
        }
    }
    const char *err = handle_check_name(argv[1]);
    if (!err)
        err = handle_check_name(argv[2]);
    if (err) {
        ctl_error(c, "%s", err);
        return 0;
    }
    int fds[2];
    char rflags[64], wflags[64];
    const char *nb = f.nonblock ? "nonblock," : "";
    if (f.any_socket) {
        int domain = f.domain ? f.domain : AF_UNIX, type = f.type ? f.type : SOCK_STREAM;
        if (socketpair(domain, type | SOCK_CLOEXEC | (f.nonblock ? SOCK_NONBLOCK : 0), 0, fds) < 0) {
            ctl_error(c, "socketpair: %s", sys_strerror(errno));
            return 0;
        }
        fmt_snprintf(rflags, sizeof rflags, "%s,%s,%sto", domain_name(domain), type_name(type), nb);
        memcpy(wflags, rflags, sizeof rflags);
    } else {
        if (pipe2(fds, O_CLOEXEC | (f.nonblock ? O_NONBLOCK : 0)) < 0) {
            ctl_error(c, "pipe: %s", sys_strerror(errno));
            return 0;
        }
        fmt_snprintf(rflags, sizeof rflags, "%sfrom", nb);
        fmt_snprintf(wflags, sizeof wflags, "%sto", nb);
    }
    if (!handle_set_pair(argv[1], fds[0], rflags, argv[2], fds[1], wflags, &err))
        ctl_error(c, "%s", err);
    return 0;
}

/* --- fd.open ---------------------------------------------------------------- */

struct open_flags {
    bool read, write, append, create, trunc, nonblock, mkdir;
};

static bool open_flag_cb(void *ctx, const char *w)
{
    struct open_flags *o = ctx;
    if (strcmp(w, "read") == 0) o->read = true;
    else if (strcmp(w, "write") == 0) o->write = true;
    else if (strcmp(w, "append") == 0) o->append = true;
    else if (strcmp(w, "create") == 0) o->create = true;
    else if (strcmp(w, "trunc") == 0 || strcmp(w, "truncate") == 0) o->trunc = true;
    else if (strcmp(w, "nonblock") == 0) o->nonblock = true;
    else if (strcmp(w, "mkdir") == 0) o->mkdir = true;
    else return false;
    return true;
}

int cmd_fd_open(struct ctl *c, int argc, char **argv)
{
    struct open_flags o = { 0 };
    const char *err;
    if (!check_args(c, argv[2], open_flag_cb, &o, argv[1]))
        return 0;
    if (!o.read && !o.write)
        o.read = !o.append;
    if (o.append)
        o.write = true;
    const char *path = argv[3];
    if (o.mkdir && mkdir_parents(path) < 0) {
        ctl_error(c, "mkdir failed: %s", sys_strerror(errno));
        return 0;
    }
    int fl = (o.read && o.write) ? O_RDWR : o.write ? O_WRONLY : O_RDONLY;
    fl |= (o.append ? O_APPEND : 0) | (o.create ? O_CREAT : 0) | (o.trunc ? O_TRUNC : 0) |
          O_NOCTTY;
    /* Opened non-blocking whatever was asked: a blocking open() waits for a
     * FIFO's other end or a tty's carrier, and no command may stop the
     * loop.  A FIFO for reading then opens at once, one for writing with no
     * reader fails (ENXIO).  The flag is then taken off again unless
     * `nonblock` was asked for: the fd is the services'. */
    int fd = sys_open(path, fl | O_NONBLOCK, 0600);
    if (fd >= 0 && !o.nonblock && sys_set_nonblock(fd, false) < 0) {
        sys_close(fd);
        fd = -1;
    }
    if (fd < 0) {
        ctl_error(c, "open failed: %s", sys_strerror(errno));
        return 0;
    }
    char flags[80];
    fmt_snprintf(flags, sizeof flags, "%s%s%s%s%s%s",
             (o.read && o.write) ? "read,write" : o.write ? "write" : "read",
             o.append ? ",append" : "", o.create ? ",create" : "", o.trunc ? ",trunc" : "",
             o.nonblock ? ",nonblock" : "", o.mkdir ? ",mkdir" : "");
    if (!handle_set(argv[1], fd, HANDLE_FILE, flags, path, &err))
        ctl_error(c, "%s", err);
    return 0;
}

/* --- fd.socket -------------------------------------------------------------- */

/* Parse ADDR for f->domain into sa.  Returns the address length or 0. */
static socklen_t parse_addr(const struct sock_flags *f, const char *addr,
                            struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (f->domain == AF_UNIX) {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        size_t n = strlen(addr);
        if (n == 0 || n >= sizeof un->sun_path)
            return 0;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, addr, n + 1);
        return (socklen_t)sizeof *un;
    }
    const char *colon = strrchr(addr, ':');
    int64_t port;
    if (!colon || !sys_parse_int(colon + 1, 0, 65535, &port))
        return 0;
    char host[INET6_ADDRSTRLEN + 2];
    size_t hl = (size_t)(colon - addr);
    if (hl >= sizeof host)
        return 0;
    memcpy(host, addr, hl);
    host[hl] = '\0';
    char *h = host;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        h++;
    }
    bool any = strcmp(h, "*") == 0 || *h == '\0';
    if (f->domain == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        if (any)
            in->sin_addr.s_addr = htonl(INADDR_ANY);
        else if (inet_pton(AF_INET, h, &in->sin_addr) != 1)
            return 0;
        return (socklen_t)sizeof *in;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    if (any)
        in6->sin6_addr = in6addr_any;
    else if (inet_pton(AF_INET6, h, &in6->sin6_addr) != 1)
        return 0;
    return (socklen_t)sizeof *in6;
}

int cmd_fd_socket(struct ctl *c, int argc, char **argv)
{
    struct sock_flags f = { 0 };
    const char *err;
    if (!check_args(c, argv[2], sock_flag_cb, &f, argv[1]))
        return 0;
    if (!f.domain)
        f.domain = AF_UNIX;
    if (!f.type)
        f.type = SOCK_STREAM;
    const char *addr = argc > 3 ? argv[3] : "";
    if (*addr)
        f.bind = true;
    struct sockaddr_storage ss;
    socklen_t alen = 0;
    if (f.bind && (alen = parse_addr(&f, addr, &ss)) == 0) {
        ctl_error(c, "invalid address '%s'", addr);
        return 0;
    }
    int fd = socket(f.domain, f.type | SOCK_CLOEXEC | (f.nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) {
        ctl_error(c, "socket: %s", sys_strerror(errno));
        return 0;
    }
    const char *step = NULL;
    if (f.bind) {
        int one = 1;
        if (f.domain != AF_UNIX)
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (f.domain == AF_UNIX && f.mkdir && mkdir_parents(addr) < 0)
            step = "mkdir";
        else if (bind(fd, (struct sockaddr *)&ss, alen) < 0)
            step = "bind";
        else if (f.listen && listen(fd, f.backlog) < 0)
            step = "listen";
    }
    if (step) {
        ctl_error(c, "%s: %s", step, sys_strerror(errno));
        sys_close(fd);
        return 0;
    }
    char flags[96], lbuf[24] = "";
    if (f.listen)
        fmt_snprintf(lbuf, sizeof lbuf, ",listen=%d", f.backlog);
    fmt_snprintf(flags, sizeof flags, "%s,%s%s%s%s%s", domain_name(f.domain), type_name(f.type),
             f.bind ? ",bind" : "", lbuf, f.mkdir ? ",mkdir" : "", f.nonblock ? ",nonblock" : "");
    /* Not bound: an empty description, as the original has it. */
    if (!handle_set(argv[1], fd, HANDLE_SOCKET, flags, addr, &err))
        ctl_error(c, "%s", err);
    return 0;
}

/* --- fd.take / fd.delete ----------------------------------------------------- */

int cmd_fd_take(struct ctl *c, int argc, char **argv)
{
    const char *err;
    if (!check_args(c, NULL, NULL, NULL, argv[1]))
        return 0;
    int fd = ctl_take_fd(c);
    if (fd < 0) {
        ctl_error(c, "no file descriptor was received (send one with SCM_RIGHTS)");
        return 0;
    }
    char desc[64];
    fmt_snprintf(desc, sizeof desc, "received from %s", ctl_name(c));
    int fl = fcntl(fd, F_GETFL);
    const char *acc = fl < 0 ? "-" : (fl & O_ACCMODE) == O_RDWR ? "read,write"
                    : (fl & O_ACCMODE) == O_WRONLY ? "write" : "read";
    if (!handle_set(argv[1], fd, HANDLE_SPECIAL, acc, desc, &err))
        ctl_error(c, "%s", err);
    return 0;
}

int cmd_fd_delete(struct ctl *c, int argc, char **argv)
{
    struct handle *h = handle_by_name(argv[1]);
    if (!h)
        ctl_error(c, "no such handle '%s'", argv[1]);
    else if (!handle_delete(h))
        ctl_error(c, "cannot delete constant handle '%s'", argv[1]);
    return 0;
}
