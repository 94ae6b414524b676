#!/usr/bin/env python3
"""backoff_controller.py - restart crashed services with exponential back-off.

Run it as daemonproxy's controller service (see backoff.conf): events
arrive on stdin (control.event), commands go to stdout (control.cmd), and
its log goes to stderr.

Policy: a service without an auto_up rule that goes down is started again
BACKOFF_BASE seconds after it died, twice as long after each further
failure, at most BACKOFF_MAX seconds; a run of BACKOFF_RESET seconds or
more counts as healthy and starts the count over.  daemonproxy keeps the
time (`service.start NAME TS`), so the controller needs no timers.  If it
dies, daemonproxy restarts it and it picks up from a statedump (the
failure counts start over).
"""

import os
import sys

try:
    import daemonproxy
except ImportError:     # run from the source tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python'))
    import daemonproxy

from daemonproxy import CommandError, Resynced, ServiceState

BASE = int(os.environ.get('BACKOFF_BASE', '1'))
MAX = int(os.environ.get('BACKOFF_MAX', '60'))
RESET = int(os.environ.get('BACKOFF_RESET', '30'))

failures = {}           # service name -> failures in a row


def log(msg):
    print('backoff_controller: ' + msg, file=sys.stderr, flush=True)


def managed(svc):
    """Services daemonproxy does not restart itself, that have a program."""
    return svc is not None and not svc.triggers and bool(svc.args)


def next_delay(name, uptime):
    """Count this failure; return how long to wait before the next start."""
    if uptime is not None and uptime >= RESET:
        failures[name] = 0
    failures[name] = failures.get(name, 0) + 1
    return min(BASE * 2 ** (failures[name] - 1), MAX)


def restart(dp, name, down_ts, uptime, downtime):
    delay = next_delay(name, uptime)
    log('%s: down after %ss (failure %d): start again in %ds'
        % (name, uptime, failures[name], delay))
    try:
        if downtime is not None and downtime >= delay:
            dp.service_start(name)                  # already waited long enough
        else:
            dp.service_start(name, down_ts + delay)
    except CommandError as e:
        log('%s: cannot schedule a start: %s' % (name, e.message))


def on_down(dp, ev):
    svc = dp.mirror.service(ev.name)
    if not managed(svc) or svc.state.state != 'down':
        return                  # auto_up looks after it, or it moved on already
    restart(dp, ev.name, ev.ts, ev.uptime, 0)


def on_resync(dp):
    """A statedump rebuilt the mirror: schedule every managed service that
    is down after having run."""
    for svc in dp.mirror:
        st = svc.state
        if managed(svc) and st.state == 'down' and st.ts is not None:
            restart(dp, svc.name, st.ts, st.uptime, st.downtime)


def main():
    dp = daemonproxy.Client.from_stdio()
    log('started (base %ds, max %ds, reset after %ds up)' % (BASE, MAX, RESET))
    for ev in dp:
        if isinstance(ev, ServiceState):
            if ev.state == 'down' and ev.pid is not None:
                on_down(dp, ev)
            elif ev.state == 'deleted':
                failures.pop(ev.name, None)
        elif isinstance(ev, Resynced):
            on_resync(dp)
    log('daemonproxy closed the connection; exiting')


if __name__ == '__main__':
    main()
