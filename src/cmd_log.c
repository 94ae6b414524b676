/* cmd_log.c - log.filter. */
#include "cmd.h"
#include "protocol.h"
#include "controller.h"
#include "handle.h"
#include "log.h"
#include "state.h"

#include <string.h>

int cmd_log_filter(struct ctl *c, int argc, char **argv)
{
    if (argc > 1) {
        const char *a = argv[1];
        int level;
        if (strcmp(a, "+") == 0)
            level = log_filter() + 1;
        else if (strcmp(a, "-") == 0)
            level = log_filter() - 1;
        else if ((level = log_level_parse(a)) < 0) {
            ctl_error(c, "invalid log level '%s'", a);
            return 0;
        }
        log_set_filter(level);
    }
    struct proto_line l;
    proto_line_begin(&l, "log.filter");
    proto_line_add(&l, log_level_name(log_filter()));
    size_t n = proto_line_end(&l);
    ctl_reply(c, l.buf, n);
    return 0;
}

/* The handle name log.dest follows ("" = the default stderr). */
static char log_dest_name[HANDLE_NAME_MAX + 1];

void cmd_log_handle_changed(const char *name, int fd)
{
    if (log_dest_name[0] && strcmp(name, log_dest_name) == 0)
        log_set_fd(fd);
}

int cmd_log_dest(struct ctl *c, int argc, char **argv)
{
    if (strcmp(argv[1], "fd") != 0) {
        ctl_error(c, "unsupported log destination type '%s' (expected fd)", argv[1]);
        return 0;
    }
    if (!handle_name_valid(argv[2])) {
        ctl_error(c, "invalid handle name '%s'", argv[2]);
        return 0;
    }
    memcpy(log_dest_name, argv[2], strlen(argv[2]) + 1);
    struct handle *h = handle_by_name(argv[2]);
    if (!h || handle_fd(h) < 0) {
        /* Logging resumes when a handle of that name appears. */
        log_set_fd(-1);
        ctl_warning(c, "handle '%s' does not exist (yet); logging paused until it does",
                    argv[2]);
        return 0;
    }
    log_set_fd(handle_fd(h));
    return 0;
}

/* Re-exec: the handle log.dest follows (log.c restores the rest). */
void cmd_log_save(struct state_out *o)
{
    if (!log_dest_name[0])
        return;
    state_rec(o, "log.dest");
    state_str(o, log_dest_name);
    state_end(o);
}

bool cmd_log_restore(const struct state_rec *r, const char **err)
{
    const char *name = state_field(r, 0);
    if (!handle_name_valid(name)) {
        *err = "malformed log.dest record";
        return false;
    }
    memcpy(log_dest_name, name, strlen(name) + 1);
    struct handle *h = handle_by_name(name);
    if (h && handle_fd(h) >= 0)
        log_set_fd(handle_fd(h));
    return true;
}
