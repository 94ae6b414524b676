/* sockpath.c - the default control socket path (see sockpath.h).
 *
 * libc only: dpctl links this file and nothing else of the daemon.
 */
#include "sockpath.h"
#include "fmt.h"


#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SUN_PATH_LEN sizeof ((struct sockaddr_un *)0)->sun_path

int sockpath_choose(const char *sock, const char *xdg, uid_t euid, const char *tmp,
                    char *buf, size_t len)
{
    int n, fallback = 0;
    if (sock && *sock) {
        n = fmt_snprintf(buf, len, "%s", sock);
    } else if (euid == 0) {
        n = fmt_snprintf(buf, len, "/run/daemonproxy.sock");
    } else if (xdg && xdg[0] == '/') {
        n = fmt_snprintf(buf, len, "%s/daemonproxy.sock", xdg);
    } else {
        n = fmt_snprintf(buf, len, "%s/daemonproxy-%lu/daemonproxy.sock", tmp, (unsigned long)euid);
        fallback = 1;
    }
    /* The kernel wants the path and its NUL inside sun_path. */
    if (n < 0 || (size_t)n >= len || (size_t)n >= SUN_PATH_LEN) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return fallback;
}

/* Why dir may not hold euid's socket, or NULL when it may; *fix gets what
 * the user can do about it.  Another user can create any name in /tmp
 * before us, and a directory open to others lets them replace the socket
 * in it.  In the sticky /tmp only its owner (or root) may remove a name. */
static const char *untrusted(const struct stat *st, uid_t euid, char *why, size_t len,
                             const char **fix)
{
    *fix = st->st_uid == euid ? "remove it" : "ask root to remove it";
    if (S_ISLNK(st->st_mode))
        return "a symlink";
    if (!S_ISDIR(st->st_mode))
        return "not a directory";
    if (st->st_uid != euid) {
        fmt_snprintf(why, len, "owned by uid %lu, not %lu", (unsigned long)st->st_uid,
                 (unsigned long)euid);
        return why;
    }
    if (st->st_mode & 077) {
        *fix = "chmod 700 it or remove it";
        fmt_snprintf(why, len, "mode %04o, must not be open to group or others",
                 (unsigned)(st->st_mode & 07777));
        return why;
    }
    return NULL;
}

enum sockpath_result sockpath_check_dir(const char *path, uid_t euid, bool create,
                                        char *msg, size_t msglen)
{
    char dir[SUN_PATH_LEN], why[80];
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (n == 0 || n >= sizeof dir) {
        fmt_snprintf(msg, msglen, "no directory in the default socket path %s", path);
        return SOCKPATH_REFUSED;
    }
    memcpy(dir, path, n);
    dir[n] = '\0';
    struct stat st;
    int r = lstat(dir, &st);
    if (r < 0 && errno == ENOENT && create) {
        /* EEXIST: someone made it between the two calls; lstat says whose. */
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
            fmt_snprintf(msg, msglen, "cannot create %s for the default socket: %s; "
                     "set XDG_RUNTIME_DIR or DAEMONPROXY_SOCKET", dir, strerror(errno));
            return SOCKPATH_REFUSED;
        }
        r = lstat(dir, &st);
    }
    if (r < 0 && errno == ENOENT && !create)
        return SOCKPATH_OK;
    const char *fix = NULL;
    const char *bad = r < 0 ? strerror(errno) : untrusted(&st, euid, why, sizeof why, &fix);
    if (!bad)
        return SOCKPATH_OK;
    fmt_snprintf(msg, msglen, "refusing %s for the default socket: %s; %s%s"
             "set XDG_RUNTIME_DIR or DAEMONPROXY_SOCKET", dir, bad, fix ? fix : "",
             fix ? ", or " : "");
    return SOCKPATH_REFUSED;
}

static enum sockpath_result default_path(bool create, char *buf, size_t len, char *msg, size_t msglen)
{
    uid_t euid = geteuid();
    int r = sockpath_choose(getenv("DAEMONPROXY_SOCKET"), getenv("XDG_RUNTIME_DIR"), euid,
                            SOCKPATH_TMP, buf, len);
    if (r < 0) {
        fmt_snprintf(msg, msglen, "the default socket path is too long for a unix socket");
        return SOCKPATH_TOO_LONG;
    }
    return r ? sockpath_check_dir(buf, euid, create, msg, msglen) : SOCKPATH_OK;
}

enum sockpath_result sockpath_for_daemon(char *buf, size_t len, char *msg, size_t msglen)
{
    return default_path(true, buf, len, msg, msglen);
}

enum sockpath_result sockpath_for_client(char *buf, size_t len, char *msg, size_t msglen)
{
    return default_path(false, buf, len, msg, msglen);
}
