/* cmd_request.c - ctl.serve, ctl.request, ctl.reply: requests addressed
 * to the controller (request.h; docs/protocol.md, "Requests"). */
#include "cmd.h"
#include "controller.h"
#include "request.h"
#include "svc_types.h"

int cmd_ctl_serve(struct ctl *c, int argc, char **argv)
{
    const char *err;
    if (!ctl_has_output(c))
        ctl_error(c, "ctl.serve needs an event stream (requests could not reach it)");
    else if (!req_serve(c, argc - 1, argv + 1, &err))
        ctl_error(c, "%s", err);
    return CMD_DONE;
}

int cmd_ctl_request(struct ctl *c, int argc, char **argv)
{
    char by[SVC_BY_MAX + 1], err[128];
    ctl_who(c, by, sizeof by);
    if (!req_ask(c, by, argv[1], argc - 2, argv + 2, err, sizeof err))
        ctl_error(c, "%s", err);
    return CMD_DONE;
}

int cmd_ctl_reply(struct ctl *c, int argc, char **argv)
{
    const char *err;
    if (!req_answer(c, argv[1], argv[2], argc - 3, argv + 3, &err))
        ctl_error(c, "%s", err);
    return CMD_DONE;
}
