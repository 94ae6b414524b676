#include "links.h"
#include "cmd.h"
#include "controller.h"
#include "event.h"
#include "handle.h"
#include "log.h"
#include "service.h"
#include "signals.h"
#include "svcctl.h"

void links_set(void)
{
    event_set_sink(ctl_broadcast);
    ctl_set_dispatch(cmd_run);
    handle_set_watch_cb(log_follow_changed);
    log_set_lookup(handle_fd_by_name);
    svcctl_init();
    sig_set_count_cb(svc_signal_changed);
}
