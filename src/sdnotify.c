/* sdnotify.c - notifying daemonproxy's own service manager (sdnotify.h). */
#include "sdnotify.h"
#include "fmt.h"
#include "log.h"
#include "sys.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

static struct sockaddr_un addr;
static socklen_t addr_len;          /* 0: no usable address */
static bool bad_value;              /* $NOTIFY_SOCKET was set but unusable */
static char bad_shown[64];
static char value_copy[sizeof addr.sun_path + 1];  /* as given, for a re-exec */

bool sdnotify_parse_addr(const char *s, struct sockaddr_un *sa, socklen_t *len)
{
    if (!s || (s[0] != '/' && s[0] != '@') || s[1] == '\0')
        return false;
    size_t n = strlen(s);
    /* A path needs its terminating NUL; an abstract name is counted by
     * length and has none, so it may use the whole of sun_path. */
    if (n > sizeof sa->sun_path - (s[0] == '/'))
        return false;
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, s, n);
    if (s[0] == '@')
        sa->sun_path[0] = '\0';
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (s[0] == '/'));
    return true;
}

void sdnotify_init(const char *value)
{
    addr_len = 0;
    bad_value = false;
    value_copy[0] = '\0';
    if (!value || !*value)
        return;
    fmt_snprintf(value_copy, sizeof value_copy, "%s", value);
    if (!sdnotify_parse_addr(value, &addr, &addr_len)) {
        addr_len = 0;
        bad_value = true;
        fmt_snprintf(bad_shown, sizeof bad_shown, "%s", value);
    }
}

bool sdnotify_enabled(void) { return addr_len > 0; }
const char *sdnotify_value(void) { return value_copy; }

void sdnotify_send(const char *msg)
{
    if (bad_value) {
        /* Said once: systemd itself never sets such a value. */
        log_warn("NOTIFY_SOCKET '%s' is not a unix socket address; not notifying", bad_shown);
        bad_value = false;
    }
    if (!addr_len)
        return;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_errno(LOG_WARN, "NOTIFY_SOCKET: socket");
        return;
    }
    /* MSG_DONTWAIT: the loop never waits for the manager.  systemd reads
     * its notification socket promptly and gives it a large queue, so a
     * full one means a manager that does not listen; logging is all that
     * can be done about it.  The kernel adds our credentials for a
     * receiver that asked for them (SO_PASSCRED). */
    struct iovec iov = { .iov_base = (void *)msg, .iov_len = strlen(msg) };
    struct msghdr m = {
        .msg_name = &addr, .msg_namelen = addr_len, .msg_iov = &iov, .msg_iovlen = 1,
    };
    if (sys_sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        log_errno(LOG_WARN, "NOTIFY_SOCKET: cannot notify the service manager");
    sys_close(fd);
}
