/* cmd_service.c - service.args, service.fds, service.tags,
 * service.auto_up, service.start, service.signal, service.delete,
 * service.want, service.exits. */
#include "cmd.h"
#include "controller.h"
#include "handle.h"
#include "loop.h"
#include "protocol.h"
#include "service.h"
#include "signals.h"
#include "sys.h"

#include <string.h>

/* How far in the past a start timestamp may lie before it is a mistake. */
#define START_TS_PAST_MAX 100000

static struct service *existing(struct ctl *c, const char *name)
{
    struct service *s = svc_by_name(name);
    if (!s)
        ctl_error(c, "no such service '%s'", name);
    return s;
}

static struct service *get_or_create(struct ctl *c, const char *name)
{
    const char *err;
    struct service *s = svc_get_or_create(name, &err);
    if (!s)
        ctl_error(c, "%s", err);
    return s;
}

/* service.args / service.tags: set a list, creating the service. */
static int set_list(struct ctl *c, enum svc_field f, int argc, char **argv)
{
    const char *err;
    struct service *s = get_or_create(c, argv[1]);
    if (s && !svc_set(s, f, argc - 2, argv + 2, &err))
        ctl_error(c, "%s", err);
    return s ? 0 : -1;
}

int cmd_service_args(struct ctl *c, int argc, char **argv)
{
    set_list(c, SVC_ARGS, argc, argv);
    return 0;
}

int cmd_service_fds(struct ctl *c, int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "-") == 0)
            continue;
        if (!handle_name_valid(argv[i])) {
            ctl_error(c, "invalid handle name '%s'", argv[i]);
            return 0;
        }
    }
    if (set_list(c, SVC_FDS, argc, argv) < 0)
        return 0;
    /* Unknown names are allowed (they may be created before the start). */
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "-") != 0 && !handle_by_name(argv[i]))
            ctl_warning(c, "service %s: no handle named '%s' (yet)", argv[1], argv[i]);
    return 0;
}

int cmd_service_tags(struct ctl *c, int argc, char **argv)
{
    set_list(c, SVC_TAGS, argc, argv);
    return 0;
}

int cmd_service_env(struct ctl *c, int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        if (!svc_env_entry_valid(argv[i])) {
            ctl_error(c, "invalid environment entry '%s' (VAR=VALUE or -VAR)", argv[i]);
            return 0;
        }
    }
    set_list(c, SVC_ENV, argc, argv);
    return 0;
}

int cmd_service_opts(struct ctl *c, int argc, char **argv)
{
    struct svc_opts o;
    char msg[PROTO_LINE_MAX + 64];
    if (!svc_opts_parse(argc - 2, argv + 2, &o, msg, sizeof msg)) {
        ctl_error(c, "%s", msg);
        return 0;
    }
    struct service *s = get_or_create(c, argv[1]);
    const char *err;
    if (!s)
        svc_opts_free(&o);
    else if (!svc_set_opts(s, &o, &err))
        ctl_error(c, "%s", err);
    return 0;
}

int cmd_service_auto_up(struct ctl *c, int argc, char **argv)
{
    int64_t interval = -1;
    if (strcmp(argv[2], "-") != 0 && !sys_parse_int(argv[2], 1, UINT32_MAX, &interval)) {
        ctl_error(c, "invalid interval '%s' (an integer >= 1, or -)", argv[2]);
        return 0;
    }
    unsigned triggers = 0;
    for (int i = 3; i < argc; i++) {
        unsigned t = svc_trigger_parse(argv[i]);
        if (!t) {
            ctl_error(c, "invalid trigger '%s' (always, %s)", argv[i], sig_control_list());
            return 0;
        }
        triggers |= t;
    }
    struct service *s = get_or_create(c, argv[1]);
    const char *err;
    if (s && !svc_set_auto_up(s, interval, triggers, &err))
        ctl_error(c, "%s", err);
    return triggers ? CMD_SPAWNED : CMD_DONE;
}

int cmd_service_start(struct ctl *c, int argc, char **argv)
{
    struct service *s = existing(c, argv[1]);
    if (!s)
        return 0;
    if (argc > 2 && strcmp(argv[2], "-") == 0) {
        const char *err;
        if (!svc_cancel_start(s, &err))
            ctl_error(c, "%s", err);
        return 0;
    }
    int64_t when_ms = 0;
    if (argc > 2) {
        int64_t ts, now = loop_now_update() / 1000;
        if (!sys_parse_int(argv[2], 0, INT64_MAX / 1000, &ts) || ts < now - START_TS_PAST_MAX) {
            ctl_error(c, "invalid timestamp '%s'", argv[2]);
            return 0;
        }
        when_ms = ts * 1000;
    }
    char err[512];
    if (!svc_start(s, when_ms, c, err, sizeof err))
        ctl_error(c, "%s", err);
    return CMD_SPAWNED;
}

int cmd_service_signal(struct ctl *c, int argc, char **argv)
{
    struct service *s = existing(c, argv[1]);
    if (!s)
        return 0;
    int signo = sig_parse(argv[2]);
    if (!signo) {
        ctl_error(c, "invalid signal '%s'", argv[2]);
        return 0;
    }
    enum svc_sig_target to = SVC_SIG_PID;
    if (argc > 3) {
        if (strcmp(argv[3], "group") == 0) {
            to = SVC_SIG_GROUP;
        } else if (strcmp(argv[3], "cgroup") == 0) {
            to = SVC_SIG_CGROUP;
        } else {
            ctl_error(c, "invalid flag '%s' (expected group or cgroup)", argv[3]);
            return 0;
        }
    }
    const char *err;
    if (!svc_signal(s, signo, to, &err))
        ctl_error(c, "%s", err);
    return 0;
}

int cmd_service_delete(struct ctl *c, int argc, char **argv)
{
    struct service *s = existing(c, argv[1]);
    const char *err = NULL;     /* set when svc_delete fails (LTO cannot tell) */
    if (s && !svc_delete(s, &err))
        ctl_error(c, "%s", err);
    return 0;
}

int cmd_service_want(struct ctl *c, int argc, char **argv)
{
    int w = svc_want_parse(argv[2]);
    if (w < 0) {
        ctl_error(c, "invalid want '%s' (up, down, failed or -)", argv[2]);
        return 0;
    }
    struct service *s = existing(c, argv[1]);
    if (!s)
        return 0;
    char by[SVC_BY_MAX + 1], err[512];
    ctl_who(c, by, sizeof by);
    if (!svc_want(s, (enum svc_want)w, by, argc - 3, argv + 3, c, err, sizeof err))
        ctl_error(c, "%s", err);
    return w == SVC_WANT_UP || w == SVC_WANT_NONE ? CMD_SPAWNED : CMD_DONE;
}

/* The exit history, to the asker only (it is in statedump too). */
int cmd_service_exits(struct ctl *c, int argc, char **argv)
{
    if (!svc_name_valid(argv[1])) {
        ctl_error(c, "invalid service name '%s'", argv[1]);
        return 0;
    }
    struct service *s = existing(c, argv[1]);
    if (!s)
        return 0;
    struct proto_line l;
    svc_format_exits(s, &l);
    size_t n = proto_line_end(&l);
    ctl_reply(c, l.buf, n);
    return 0;
}
