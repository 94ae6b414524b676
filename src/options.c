/* options.c - the command line (docs/daemonproxy.1, OPTIONS).  Pure: see
 * options.h. */
#include "options.h"
#include "fmt.h"
#include "sys.h"

#include <stdarg.h>
#include <string.h>

struct opt_def {
    char short_name;
    const char *long_name;
    bool has_arg;
};

static const struct opt_def opt_defs[] = {
    { 'c', "config", true },
    { 'i', "interactive", false },
    { 'S', "socket", true },
    { 0,   "default-socket", false },
    { 0,   "socket-group", true },
    { 0,   "cgroup", true },
    { 0,   "pidfile", true },
    { 'D', "daemonize", false },
    { 0,   "container", false },
    { 0,   "failsafe", true },
    { 0,   "exit-guard", true },
    { 'E', "exit-exec", true },
    { 0,   "fd-pool", true },
    { 0,   "service-pool", true },
    { 'M', "mlockall", false },
    { 'v', "verbose", false },
    { 'q', "quiet", false },
    { 'h', "help", false },
    { 'V', "version", false },
    { 0,   "restore", true },
    { 0,   "state-check", true },
};
#define NOPTS (sizeof opt_defs / sizeof opt_defs[0])

const char *opt_usage(void)
{
    return
    "Usage: daemonproxy [options]\n"
    "  daemonproxy [options] -c CONFIG_FILE   # static configuration\n"
    "  daemonproxy [options] -S PATH          # control via unix socket\n"
    "  daemonproxy [options] -i               # interactive experiments\n"
    "\n"
    "A proxy for process management: it reports every supervision event to a\n"
    "controller and carries out the controller's commands.\n"
    "\n"
    "Options:\n"
    /* The list of options is written once, in docs/daemonproxy.1 (OPTIONS,
     * between "BEGIN --help" and "END --help"); the Makefile makes this
     * header of it. */
#include "usage.h"
    "\n"
    "At least one of -i, -c, -S or --default-socket is required (PID 1 defaults to\n"
    "-c /etc/daemonproxy.conf).  See daemonproxy(1).\n";
}

static bool parse_size(const char *s, int64_t *out)
{
    char num[32];
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof num)
        return false;
    memcpy(num, s, n + 1);
    int64_t mult = 1;
    char last = num[n - 1];
    if (last == 'k' || last == 'K')
        mult = 1024;
    else if (last == 'm' || last == 'M')
        mult = 1024 * 1024;
    if (mult > 1)
        num[--n] = '\0';
    int64_t v;
    if (!sys_parse_int(num, 0, INT64_MAX / mult, &v))
        return false;
    *out = v * mult;
    return true;
}

bool opt_parse_pool(const char *s, int64_t *count, int64_t *size)
{
    char num[32];
    const char *x = strchr(s, 'x');
    size_t n = x ? (size_t)(x - s) : strlen(s);
    if (n == 0 || n >= sizeof num)
        return false;
    memcpy(num, s, n);
    num[n] = '\0';
    if (!sys_parse_int(num, 0, INT32_MAX, count))
        return false;
    *size = 0;
    if (x && !parse_size(x + 1, size))
        return false;
    return true;
}

__attribute__((format(printf, 3, 4)))
static enum opt_result fail(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fmt_vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
    return OPT_ERROR;
}

static enum opt_result apply(const struct opt_def *d, const char *arg,
                             const char *shown, struct options *o,
                             char *errbuf, size_t errlen)
{
    switch (d->short_name) {
    case 'c': o->config = arg; return OPT_OK;
    case 'i': o->interactive = true; return OPT_OK;
    case 'S': o->socket_path = arg; return OPT_OK;
    case 'D': o->daemonize = true; return OPT_OK;
    case 'E': o->exit_exec = arg; return OPT_OK;
    case 'M': o->mlockall = true; return OPT_OK;
    case 'v': o->verbosity++; return OPT_OK;
    case 'q': o->verbosity--; return OPT_OK;
    case 'h': o->help = true; return OPT_OK;
    case 'V': o->version = true; return OPT_OK;
    default: break;
    }
    if (strcmp(d->long_name, "default-socket") == 0) {
        o->default_socket = true;
    } else if (strcmp(d->long_name, "socket-group") == 0) {
        o->socket_group = arg;
    } else if (strcmp(d->long_name, "container") == 0) {
        o->container = true;
    } else if (strcmp(d->long_name, "failsafe") == 0) {
        if (strcmp(arg, "off") == 0)
            o->failsafe = -1;
        else if (!sys_parse_int(arg, 0, 3600, &o->failsafe))
            return fail(errbuf, errlen, "Option %s requires seconds (0..3600) or off, not '%s'",
                        shown, arg);
        o->failsafe_set = true;
    } else if (strcmp(d->long_name, "cgroup") == 0) {
        o->cgroup = arg;
    } else if (strcmp(d->long_name, "pidfile") == 0) {
        o->pidfile = arg;
    } else if (strcmp(d->long_name, "restore") == 0) {
        int64_t fd;
        if (!sys_parse_int(arg, 0, INT32_MAX, &fd))
            return fail(errbuf, errlen, "Option %s requires an fd number, not '%s'", shown, arg);
        o->restore_fd = (int)fd;
    } else if (strcmp(d->long_name, "state-check") == 0) {
        o->state_check = arg;
    } else if (strcmp(d->long_name, "exit-guard") == 0) {
        if (!sys_parse_int(arg, INT64_MIN, INT64_MAX, &o->exit_guard) || o->exit_guard == 0)
            return fail(errbuf, errlen, "Option %s requires a nonzero integer, not '%s'",
                        shown, arg);
        o->exit_guard_set = true;
    } else if (strcmp(d->long_name, "fd-pool") == 0) {
        if (!opt_parse_pool(arg, &o->fd_pool_count, &o->fd_pool_size))
            return fail(errbuf, errlen, "Option %s: invalid pool size '%s' (want N or NxM)",
                        shown, arg);
        o->fd_pool_set = true;
    } else if (strcmp(d->long_name, "service-pool") == 0) {
        if (!opt_parse_pool(arg, &o->svc_pool_count, &o->svc_pool_size))
            return fail(errbuf, errlen, "Option %s: invalid pool size '%s' (want N or NxM)",
                        shown, arg);
        o->svc_pool_set = true;
    }
    return OPT_OK;
}

enum opt_result opt_parse(int argc, char **argv, struct options *o,
                          char *errbuf, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->restore_fd = -1;
    errbuf[0] = '\0';
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0')
            return fail(errbuf, errlen, "Unexpected argument: '%s'", a);
        if (a[1] == '-') {
            if (a[2] == '\0')
                return fail(errbuf, errlen, "Unexpected argument: '%s'", a);
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
            const struct opt_def *d = NULL;
            for (size_t k = 0; k < NOPTS; k++)
                if (strlen(opt_defs[k].long_name) == nlen &&
                    strncmp(opt_defs[k].long_name, name, nlen) == 0)
                    d = &opt_defs[k];
            if (!d)
                return fail(errbuf, errlen, "Unknown option: %s", a);
            const char *arg = NULL;
            if (d->has_arg) {
                if (eq)
                    arg = eq + 1;
                else if (i + 1 < argc)
                    arg = argv[++i];
                else
                    return fail(errbuf, errlen, "Option --%s requires an argument",
                                d->long_name);
            } else if (eq) {
                return fail(errbuf, errlen, "Option --%s takes no argument%s",
                            d->long_name, "");
            }
            char shown[32];
            fmt_snprintf(shown, sizeof shown, "--%s", d->long_name);
            if (apply(d, arg, shown, o, errbuf, errlen) != OPT_OK)
                return OPT_ERROR;
            continue;
        }
        /* Bundled short options: -ivc FILE, -cFILE, -vv. */
        for (const char *p = a + 1; *p; p++) {
            const struct opt_def *d = NULL;
            for (size_t k = 0; k < NOPTS; k++)
                if (opt_defs[k].short_name == *p)
                    d = &opt_defs[k];
            char shown[3] = { '-', *p, '\0' };
            if (!d)
                return fail(errbuf, errlen, "Unknown option: %s", shown);
            const char *arg = NULL;
            if (d->has_arg) {
                if (p[1]) {
                    arg = p + 1;
                } else if (i + 1 < argc) {
                    arg = argv[++i];
                } else {
                    return fail(errbuf, errlen, "Option %s requires an argument", shown);
                }
            }
            if (apply(d, arg, shown, o, errbuf, errlen) != OPT_OK)
                return OPT_ERROR;
            if (d->has_arg)
                break;
        }
    }
    return OPT_OK;
}
