/* cmd_log.c - log.filter, log.dest (the following itself is log.c's). */
#include "cmd.h"
#include "protocol.h"
#include "controller.h"
#include "handle.h"
#include "log.h"

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

/* log.c keeps the name in a buffer of its own size. */
_Static_assert(LOG_DEST_NAME_MAX == HANDLE_NAME_MAX, "log.dest names a handle");

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
    int fd = handle_fd_by_name(argv[2]);
    /* Logging resumes when a handle of that name appears. */
    log_follow(argv[2], fd);
    if (fd < 0)
        ctl_warning(c, "handle '%s' does not exist (yet); logging paused until it does",
                    argv[2]);
    return 0;
}
