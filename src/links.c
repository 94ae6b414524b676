#include "links.h"
#include "cmd.h"
#include "controller.h"
#include "event.h"
#include "handle.h"
#include "log.h"
#include "request.h"
#include "service.h"
#include "shutdown.h"
#include "signals.h"
#include "svcctl.h"

/* A control signal's count changed: auto-up triggers, and the fail-safe. */
static void signal_counted(int signo)
{
    svc_signal_changed(signo);
    shutdown_signal(signo);
}

void links_set(void)
{
    event_set_sink(ctl_broadcast);
    ctl_set_dispatch(cmd_run);
    handle_set_watch_cb(log_follow_changed);
    log_set_lookup(handle_fd_by_name);
    svcctl_init();
    sig_set_count_cb(signal_counted);
    ctl_set_gone_listener(req_ctl_gone);
    svcctl_set_state_hook(shutdown_progress);
}
