/* cmd_log.c - log.filter. */
#include "cmd.h"
#include "controller.h"
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
