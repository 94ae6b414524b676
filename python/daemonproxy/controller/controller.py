"""The controller: events in, decisions out.

:class:`Controller` keeps one :class:`~.unit.Unit` per managed service,
each in one :class:`~.unit.Phase` that only :meth:`Controller.set_phase`
changes (and logs), and reacts to each event with one small named
method.  Everything it must remember across its own crash is kept in
daemonproxy: the definition hash and the failure count in each service's
tags, pending (back-off) starts as the daemon's own timed
``service.start``, a shutdown in progress as a tag on the controller's
own service.  After a start or a resync, :meth:`reconcile` sets the
phases again from the mirror.  The few things the daemon cannot time
for it are :class:`Timer` kinds, each with its handler in
:attr:`Controller.TIMER_HANDLERS`.  What operators want of a service
(``service.want``, held by daemonproxy: ``dpctl stop`` and ``start``) is
followed by the convention of docs/protocol.md ("Desired state: a
convention for controllers"): the methods under "desired state".
"""

from __future__ import annotations

import enum
import heapq
import os
import sys
import time
from typing import Callable, ClassVar, Dict, List, Optional, Set, Tuple

from ..errors import CommandError, ConnectionClosed, InvalidArgument, ReplyLost, Timeout
from ..events import (
    CtlRequest, Resynced, ServiceCgroup, ServiceNotify, ServiceState, ServiceWant, Signal,
)
from ..protocol import check_command
from .check import check_runnable
from .config import Config, ConfigError, Service, describe_start_limit, load
from .envfile import EnvFileError, read_env_files
from .policy import (
    backoff_delay, count_failure, define_commands, describe_exit, env_command, exit_code_of,
    over_start_limit, pipe_command, read_tags, recent_failures, should_restart, unit_tags,
)
from .requests import VERBS, reply_command, shutdown_code
from .unit import NEXT, Phase, StopPurpose, Unit

__all__ = ['Controller', 'Phase', 'StopPurpose', 'Timer', 'Unit', 'log_line']

SHUTDOWN_TAG = 'dpc.shutdown='
KILL_GRACE = 2          # seconds after the shutdown deadline's SIGKILLs before terminate
#: Waiting for a valid file: the first "still waiting" notice after this
#: many seconds, then at twice the interval each time, up to NOTICE_MAX.
NOTICE_FIRST = 30
NOTICE_MAX = 3600


class Timer(enum.Enum):
    """What the controller times itself (only what the daemon cannot time
    for it); each kind's handler is in :attr:`Controller.TIMER_HANDLERS`."""

    #: a ``ready = N`` service has been up N seconds (per service; lives in STARTING)
    READY = 'ready'
    #: a stop's signal had its stop_timeout: SIGKILL (per service; lives in STOPPING)
    KILL = 'kill'
    #: the shutdown deadline: SIGKILL to what is left (name: ``controller``)
    SHUTDOWN = 'shutdown'
    #: KILL_GRACE after the deadline: terminate anyway (name: ``controller``)
    TERMINATE = 'terminate'
    #: still waiting for a valid file: say so again (name: ``controller``)
    NOTICE = 'notice'
    #: start_timeout seconds after up, not ready yet: a failure (lives in STARTING)
    START_TIMEOUT = 'start_timeout'
    #: the back-off after a start that failed before the daemon's
    #: service.start (an env_file it could not read): try again (lives in STARTING)
    RETRY = 'retry'


#: The timers a phase owns: set_phase cancels them when a unit leaves the
#: phase, or enters it again (a new run, a new stop).
PHASE_TIMERS: Dict[Phase, Tuple[Timer, ...]] = {
    Phase.STARTING: (Timer.READY, Timer.START_TIMEOUT, Timer.RETRY),
    Phase.STOPPING: (Timer.KILL,),
}


def log_line(subject: str, message: str) -> None:
    """One timestamped line on stderr: ``2026-12-02T13:00:01 web: started``."""
    sys.stderr.write('%s %s: %s\n' % (time.strftime('%Y-%m-%dT%H:%M:%S'), subject, message))
    sys.stderr.flush()


class Controller:
    """Runs the services of a config file over a connected Client (it uses
    the client's public API only: ``mirror``, ``send_many``,
    ``next_event``, ``terminate``, and ``request`` for the service.opts of
    a service with execution attributes)."""

    def __init__(self, dp, cfg: Config, log: Callable[[str, str], None] = log_line,
                 broken: Optional[List[str]] = None) -> None:
        self.dp = dp
        self.cfg = cfg
        self.log = log
        self.dependents = cfg.dependents()
        self.units: Dict[str, Unit] = {}        # name -> its record (see unit.py)
        self.pipes_made: Set[str] = set()
        self.timers: List[Tuple[float, int, Timer, str]] = []
        self.timer_due: Dict[Tuple[Timer, str], float] = {}
        self._seq = 0
        self.shutdown_code: Optional[int] = None
        self.own: Optional[str] = None          # our own service's name
        self.generation = -1
        self.terminated = False
        self.pending: List[Tuple[str, ...]] = []
        self.holding = False                    # hold_step() is running
        # Waiting for a valid file (its problems; cfg is then an empty
        # Config of the path): see the "waiting for a valid file" section.
        self.broken: Optional[List[str]] = broken
        self.notice_every = NOTICE_FIRST

    # --- the units and their phases ------------------------------------------------

    def unit(self, name: str) -> Unit:
        """name's record, made (in STOPPED) on first use."""
        u = self.units.get(name)
        if u is None:
            u = self.units[name] = Unit(name)
        return u

    def phase_of(self, name: str) -> Phase:
        u = self.units.get(name)
        return u.phase if u is not None else Phase.STOPPED

    def set_phase(self, unit: Unit, phase: Phase, why: str) -> bool:
        """Move unit to phase and log why, one line (``web: starting
        (configured)``): the only place a phase changes.  Every call is a
        transition, also to the same phase (an exit and its restart while
        STARTING): the timers the old phase owns are cancelled, and a stop
        purpose outlives only STOPPING.  A move that NEXT does not allow is
        a bug in the controller: it is logged (``BUG: ...``) and not made,
        and False returned; staying alive keeps the services running, and
        the line says where to look."""
        old = unit.phase
        if phase not in NEXT[old]:
            self.log(unit.name, 'BUG: no move from %s to %s (%s); staying %s'
                     % (old.value, phase.value, why, old.value))
            return False
        for kind in PHASE_TIMERS.get(old, ()):
            self.cancel_timer(kind, unit.name)
        if phase is not Phase.STOPPING:
            unit.stop_purpose = None
        unit.phase = phase
        self.log(unit.name, why)
        return True

    def waiting_names(self) -> List[str]:
        """The configured services in WAITING, in the file's order."""
        return [n for n in self.cfg.services if self.phase_of(n) is Phase.WAITING]

    def wait(self, unit: Unit, why: str, line: Optional[str] = None) -> None:
        """Put unit in WAITING (started by try_start with why); line: the
        log line, if not 'waiting (WHY)'."""
        if self.set_phase(unit, Phase.WAITING, line or 'waiting (%s)' % why):
            unit.start_why = why

    # --- sending ---------------------------------------------------------------------

    def send(self, *fields: str) -> None:
        """Queue one command; flush() sends the queue.  Nothing waits for a
        reply: what happened shows in the events (errors too); the one
        exception is define_attributes."""
        self.pending.append(fields)

    def flush(self) -> None:
        """Send the queued commands in one go (one write, not one per
        command: starting 1,000 services is a few writes)."""
        if not self.pending:
            return
        cmds, self.pending = self.pending, []
        self.dp.send_many(cmds)

    # --- timers (only for what the daemon cannot time for us) ------------------------

    def set_timer(self, kind: Timer, name: str, delay: float) -> None:
        when = time.monotonic() + delay
        self._seq += 1
        self.timer_due[(kind, name)] = when
        heapq.heappush(self.timers, (when, self._seq, kind, name))

    def cancel_timer(self, kind: Timer, name: str) -> None:
        self.timer_due.pop((kind, name), None)

    def next_timeout(self) -> Optional[float]:
        while self.timers and self.timer_due.get(self.timers[0][2:]) != self.timers[0][0]:
            heapq.heappop(self.timers)
        if not self.timers:
            return None
        return max(0.0, self.timers[0][0] - time.monotonic())

    def run_timers(self) -> None:
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            when, _, kind, name = heapq.heappop(self.timers)
            if self.timer_due.get((kind, name)) != when:
                continue
            del self.timer_due[(kind, name)]
            self.TIMER_HANDLERS[kind](self, name)

    # --- the main loop ---------------------------------------------------------------

    def run(self) -> int:
        """Reconcile, then handle events until daemonproxy closes the
        connection (after terminate, say).  Returns the exit status."""
        self.send('ctl.serve', *VERBS)
        self.flush()
        if self.broken is not None:
            self.wait_for_file()
        self.reconcile()
        self.flush()
        while True:
            try:
                ev = self.dp.next_event(self.next_timeout())
                if ev is not None:
                    self.handle(ev)
                self.run_timers()
                self.flush()
            except ConnectionClosed:
                self.log('controller', 'daemonproxy closed the connection; exiting')
                return 0

    def handle(self, ev) -> None:
        if isinstance(ev, ServiceState):
            self.on_state(ev)
        elif isinstance(ev, ServiceNotify):
            self.on_notify(ev)
        elif isinstance(ev, ServiceCgroup):
            self.on_cgroup(ev)
        elif isinstance(ev, Signal):
            self.on_signal(ev)
        elif isinstance(ev, ServiceWant):
            self.on_want(ev)
        elif isinstance(ev, CtlRequest):
            self.on_request(ev)
        elif isinstance(ev, Resynced) and ev.generation > self.generation:
            self.log('controller', 'resynced from a statedump')
            self.reconcile()

    # --- rebuilding the view from the daemon's state ---------------------------------

    def reconcile(self) -> None:
        """Set every phase again from the mirror: adopt what runs with the
        right definition, keep pending starts, start what never ran,
        apply the restart policy to what is down, remove what is ours
        but no longer configured, and continue a shutdown in progress."""
        m = self.dp.mirror
        self.generation = m.generation
        self.own = self.find_own_service()
        code = self.pending_shutdown_code()
        if code is not None:
            self.shutdown_code = code
        if self.shutdown_code is None:
            for sig in ('SIGTERM', 'SIGINT'):
                if sig in m.signals:
                    self.on_signal(m.signals[sig])
            if 'SIGHUP' in m.signals:
                self.send('signal.clear', 'SIGHUP', str(m.signals['SIGHUP'].count))
        for name, svc in self.cfg.services.items():
            self.adopt(name, svc)
        for info in list(m.services.values()):
            if info.name not in self.cfg.services and read_tags(info.tags).managed \
                    and self.phase_of(info.name) is not Phase.STOPPING:
                if self.shutdown_code is None and self.broken is None:
                    self.log(info.name, 'managed by the controller but not in %s: removing'
                             % self.cfg.path)
                    u = self.unit(info.name)
                    if u.removed is None:
                        u.removed = _placeholder(info.name)
                    self.stop(info.name, 'remove')
        if self.shutdown_code is not None:
            self.log('controller', 'continuing the shutdown in progress (exit code %d)'
                     % self.shutdown_code)
            self.drop_waiting()
            self.cancel_pending_starts()
            self.shutdown_step()
        else:
            self.honour_wants()
            self.try_start(self.waiting_names())

    def find_own_service(self) -> Optional[str]:
        me = os.getpid()
        for info in self.dp.mirror.services.values():
            if info.state.state == 'up' and info.state.pid == me:
                return info.name
        return None

    def pending_shutdown_code(self) -> Optional[int]:
        info = self.dp.mirror.service(self.own) if self.own else None
        for t in info.tags if info else ():
            if t.startswith(SHUTDOWN_TAG) and t[len(SHUTDOWN_TAG):].isdigit():
                return int(t[len(SHUTDOWN_TAG):])
        return None

    def adopt(self, name: str, svc: Service) -> None:
        """Take over what the daemon has under name, or define it."""
        info = self.dp.mirror.service(name)
        intent = read_tags(info.tags) if info else None
        u = self.unit(name)
        if u.phase is Phase.STOPPING:
            return                                      # a stop in progress goes on
        if info is None or not intent.managed or intent.hash != svc.hash:
            if info is not None and info.state.state in ('up', 'start'):
                self.log(name, 'running with another definition: restarting it')
                self.stop(name, 'change')
            else:
                self.define(svc, fresh=info is None)
                self.wait(u, 'configured')
            return
        u.failures = intent.failures
        u.fails = intent.fails
        # Same definition, but what the tags publish may have changed while
        # no controller ran (stop_timeout, log_dir=): dpctl reads them now.
        self.refresh_tags(name)
        st = info.state
        if st.state == 'up':
            self.set_phase(u, Phase.STARTING, 'adopted (pid %s, running since %ss)'
                           % (st.pid, st.ts))
            self.check_ready_on_up(name, st)
            if info.ready and svc.ready in ('notify', 'fd'):
                self.became_ready(name)
        elif info.held and st.state != 'up':
            u.handled = (st.pid, st.ts)                 # its exit is no failure
            if u.phase not in (Phase.HELD, Phase.FAILED):
                self.hold_phase(u, 'held since %s' % info.want_since)
        elif st.state == 'start':
            self.set_phase(u, Phase.STARTING, 'pending start at %s kept' % st.ts)
        elif st.pid is None:
            if u.phase is not Phase.WAITING:
                self.wait(u, 'configured')
        elif (st.pid, st.ts) != u.handled:
            self.on_exit(name, st, st.downtime or 0)
        elif u.phase not in (Phase.GAVE_UP, Phase.FINISHED, Phase.STOPPED, Phase.STARTING):
            self.set_phase(u, Phase.STARTING, 'down, its exit already handled: a start is due')

    # --- defining and starting -----------------------------------------------------

    def define(self, svc: Service, fresh: bool = False) -> None:
        handles = self.dp.mirror.handles
        if svc.log or svc.logger_of:
            read, _ = svc.pipe
            if read not in handles and read not in self.pipes_made:
                self.send(*pipe_command(self.cfg.services[svc.logger_of] if svc.logger_of
                                        else svc))
                self.pipes_made.add(read)
        u = self.unit(svc.name)
        cmds = define_commands(svc, u.failures, fresh, u.fails)
        if svc.env_file:
            cmds = [c for c in cmds if c[0] != 'service.env']
            cmds.insert(2, self.defined_env(svc))
        if svc.attributes():
            cmds = self.define_attributes(u, cmds)
        for cmd in cmds:
            self.send(*cmd)

    def define_attributes(self, u: Unit, cmds: List[Tuple[str, ...]]) -> List[Tuple[str, ...]]:
        """A service with execution attributes: its service.opts first,
        waiting for the reply (the one command the controller waits for:
        daemonproxy looks the names up then, and a refused service.opts
        changes nothing, so that a start would run the service as it ran
        before, or as daemonproxy's own user).  Refused: u.refused says
        why, its argv is unset instead of set, so that nothing (a dpctl
        start) runs it until it is defined again, and its tags carry no
        hash of a definition (unit_tags), so that a controller that
        starts later defines it again too.  Returns the other commands,
        to send."""
        opts = next(c for c in cmds if c[0] == 'service.opts')
        self.flush()
        try:
            self.dp.request(*opts)
            u.refused = None
        except CommandError as e:
            u.refused = e.message
        except (ReplyLost, Timeout) as e:
            u.refused = 'no reply to its service.opts (%s)' % e
        if u.refused is None:
            return [c for c in cmds if c is not opts]
        self.log(u.name, 'daemonproxy refused its execution attributes: %s' % u.refused)
        svc = self.cfg.services[u.name]
        return [('service.args', u.name) if c[0] == 'service.args' else
                ('service.tags', u.name) + unit_tags(svc, u.failures, u.fails, True)
                if c[0] == 'service.tags' else c for c in cmds if c is not opts]

    def defined_env(self, svc: Service) -> Tuple[str, ...]:
        """The service.env a service with env_file is defined with: the
        files as they are now, so that a start of daemonproxy's own
        (``dpctl start`` of an autostart = false service) has them too;
        only ``env`` if they cannot be read (our start then says why)."""
        try:
            return run_env(svc)
        except EnvFileError:
            return env_command(svc)

    def blocker(self, name: str) -> Optional[str]:
        """Why name cannot start yet (a service it waits for), or None."""
        svc = self.cfg.services[name]
        for r in svc.requires:
            if self.phase_of(r) not in (Phase.READY, Phase.FINISHED) or self.held(r):
                return r
        for a in svc.after:
            if self.phase_of(a) in (Phase.WAITING, Phase.STARTING):
                return a
        return None

    def try_start(self, names) -> None:
        """Start those of names that wait and whose dependencies allow."""
        for name in names:
            u = self.units.get(name)
            if u is None or u.phase is not Phase.WAITING or self.shutdown_code is not None:
                continue
            if self.held(name):
                self.hold_phase(u, 'not starting it')
                continue
            if not self.cfg.services[name].autostart and not self.wanted_up(name):
                self.set_phase(u, Phase.STOPPED, 'defined, not started: autostart = false '
                               '(dpctl start %s starts it)' % name)
                continue
            b = self.blocker(name)
            if b is None:
                self.start(u, u.start_why)
            elif self.phase_of(b) in (Phase.GAVE_UP, Phase.FAILED):
                self.give_up(u, 'not started: requires %s, which was given up' % b)
                u.given_up_for = b
                if name == self.cfg.main:
                    # it will never run: the container ends, as a failure
                    self.begin_shutdown(1, 'main service %s cannot start: %s was given up'
                                        % (name, b))

    def start(self, u: Unit, why: str) -> None:
        info = self.dp.mirror.service(u.name)
        if info is not None and info.state.state in ('up', 'start'):
            # started meanwhile (a want up: `dpctl restart` after our stop;
            # the mirror runs ahead of the events we handle): its events
            # follow, and a start of ours would be `already running`
            self.set_phase(u, Phase.STARTING, 'starting (%s): started already' % why)
            return
        if not self.prepare_start(u):
            return
        self.set_phase(u, Phase.STARTING, 'starting (%s)' % why)
        self.send('service.start', u.name)

    def wanted_up(self, name: str) -> bool:
        """Whether an operator wants name up (dpctl start): an autostart =
        false service is started by us only then (a restart for a changed
        definition too; dpctl start itself is daemonproxy's start)."""
        info = self.dp.mirror.service(name)
        return info is not None and info.want == 'up'

    def prepare_start(self, u: Unit) -> bool:
        """Before each start the controller makes (now or timed): read
        the service's env_file again and send the environment of the run
        (systemd reads EnvironmentFile= at each start too).  A file that
        cannot be read or parsed fails the start, as a failure of the
        restart policy (start_failed), and False is said.  A service whose
        execution attributes daemonproxy refused (define_attributes) is
        marked failed instead: no retry brings a user into /etc/passwd."""
        svc = self.cfg.services[u.name]
        if u.refused is not None:
            st = ServiceState(u.name, 'down', int(time.monotonic()), None, None, None, 0, 0)
            self.mark_failed(u, svc, st, 'not started',
                             'daemonproxy refused its execution attributes: %s' % u.refused)
            return False
        if not svc.env_file:
            return True
        try:
            self.send(*run_env(svc))
        except EnvFileError as e:
            self.start_failed(u, svc, 'env_file %s' % e)
            return False
        return True

    def start_failed(self, u: Unit, svc: Service, why: str) -> None:
        """A start failed before daemonproxy ran anything: a failure,
        counted and backed off as an exit (the retry is our own timer:
        the daemon's timed start would run with the old environment)."""
        ts = int(time.monotonic())
        st = ServiceState(u.name, 'down', ts, None, None, None, 0, 0)
        what = 'start failed (%s)' % why
        if svc.restart == 'never':
            self.not_restarted(u, svc, st, what, why)
            return
        u.failures = n = count_failure(u.failures, None, svc.backoff_reset)
        if self.start_limit_hit(u, svc, st, why, what):
            return
        delay = backoff_delay(svc.backoff_base, svc.backoff_max, n)
        self.set_phase(u, Phase.STARTING, '%s; failure %d; next try in %ds' % (what, n, delay))
        self.set_timer(Timer.RETRY, u.name, delay)
        self.send('service.tags', u.name, *unit_tags(svc, n, u.fails, u.refused is not None))

    def check_ready_on_up(self, name: str, st: ServiceState) -> None:
        svc = self.cfg.services[name]
        ready = svc.ready
        if svc.start_timeout is not None and (ready != 'up' or svc.type == 'oneshot'):
            self.set_timer(Timer.START_TIMEOUT, name, max(
                0.0, svc.start_timeout - max(0.0, time.monotonic() - (st.ts or 0))))
        if svc.type == 'oneshot':
            return                      # ready when it exits 0 (on_exit)
        if ready == 'up':
            self.became_ready(name)
        elif not isinstance(ready, str):
            left = ready - max(0.0, time.monotonic() - (st.ts or 0))
            if left <= 0:
                self.became_ready(name)
            else:
                self.set_timer(Timer.READY, name, left)

    def became_ready(self, name: str) -> None:
        """STARTING -> READY (a READY=1, a ready timer, an up with ready =
        "up"); in any other phase a late report changes nothing."""
        u = self.units.get(name)
        if u is None or u.phase is not Phase.STARTING:
            return
        self.set_phase(u, Phase.READY, 'ready')
        self.try_start(self.dependents.get(name, ()))

    def give_up(self, u: Unit, why: str) -> None:
        self.set_phase(u, Phase.GAVE_UP, why)
        self.try_start(self.dependents.get(u.name, ()))

    # --- events ----------------------------------------------------------------------

    def on_state(self, ev: ServiceState) -> None:
        name = ev.name
        stopping = self.phase_of(name) is Phase.STOPPING
        if name not in self.cfg.services and not stopping:
            return
        if ev.state == 'up':
            if not stopping:
                u = self.unit(name)
                if u.phase is not Phase.STARTING:
                    self.set_phase(u, Phase.STARTING, 'up (pid %s), not started by the controller'
                                   % ev.pid)
                self.check_ready_on_up(name, ev)
                if self.held(name) or any(self.held(r) for r in self.cfg.services[name].requires):
                    self.hold_step()            # a start raced a want down
        elif ev.state == 'down':
            info = self.dp.mirror.service(name)
            if stopping:
                if name == self.cfg.main and ev.pid is not None \
                        and self.shutdown_code is not None:
                    self.shutdown_code = exit_code_of(ev.reason, ev.value)
                    self.log(name, 'main service exited (%s): exit code %d'
                             % (describe_exit(ev.reason, ev.value), self.shutdown_code))
                if info is None or info.cgroup != 'populated':
                    self.finish_stop(name)
            elif ev.pid is not None and (ev.pid, ev.ts) != self.unit(name).handled:
                if info is not None and info.state.state != 'down':
                    return                  # restarted meanwhile: nothing to decide
                self.on_exit(name, ev, 0)

    def on_exit(self, name: str, st: ServiceState, downtime: int) -> None:
        """A managed service exited: restart it after a back-off, or not."""
        u = self.unit(name)
        u.handled = (st.pid, st.ts)
        svc = self.cfg.services[name]
        how = describe_exit(st.reason, st.value)
        if self.shutdown_code is not None:
            self.set_phase(u, Phase.STOPPED, 'exited (%s) during shutdown' % how)
            if name == self.cfg.main:
                self.shutdown_code = exit_code_of(st.reason, st.value)
            self.shutdown_step()
            return
        if self.held(name):
            self.hold_phase(u, 'exited (%s) after %ss; not restarted, not a failure' % (
                how, st.uptime))
            self.hold_step()
            return
        if svc.type == 'oneshot' and st.reason == 'exit' and st.value == 0:
            u.failures, u.fails = 0, ()
            self.set_phase(u, Phase.FINISHED, 'exited (%s) after %ss; oneshot: done'
                           % (how, st.uptime))
            self.refresh_tags(name)
            self.try_start(self.dependents.get(name, ()))
            if name == self.cfg.main:
                self.begin_shutdown(0, 'main service %s exited (%s)' % (name, how))
            return
        if not should_restart(svc.restart, st.reason, st.value):
            if st.reason == 'exit' and st.value == 0:
                self.set_phase(u, Phase.FINISHED, 'exited (%s) after %ss; restart=%s: finished'
                               % (how, st.uptime, svc.restart))
                self.try_start(self.dependents.get(name, ()))
            elif svc.type == 'oneshot':
                u.failures = count_failure(u.failures, None, svc.backoff_reset)
                self.mark_failed(u, svc, st, 'exited (%s) after %ss' % (how, st.uptime),
                                 'oneshot exited (%s); restart=%s' % (how, svc.restart))
                return
            else:
                self.give_up(u, 'exited (%s) after %ss; restart=%s: giving up'
                             % (how, st.uptime, svc.restart))
            if name == self.cfg.main:
                self.begin_shutdown(exit_code_of(st.reason, st.value),
                                    'main service %s exited (%s)' % (name, how))
            return
        self.restart_after(u, svc, st, how, 'exited (%s) after %ss' % (how, st.uptime),
                           count_failure(u.failures, st.uptime, svc.backoff_reset), downtime)

    def restart_after(self, u: Unit, svc: Service, st: ServiceState, how: str, what: str,
                      n: int, downtime: int) -> None:
        """A run that ended (st) was failure n in a row (what: the line's
        start): mark it failed at its start limit, else start it again
        after its back-off (as the daemon's timed start)."""
        name = u.name
        u.failures = n
        if self.start_limit_hit(u, svc, st, how, what):
            return
        if not self.prepare_start(u):
            return
        delay = backoff_delay(svc.backoff_base, svc.backoff_max, n)
        if downtime >= delay or st.ts is None:
            self.set_phase(u, Phase.STARTING, '%s; failure %d; starting again now' % (what, n))
            self.send('service.start', name)
        else:
            self.set_phase(u, Phase.STARTING, '%s; failure %d; next start in %ds'
                           % (what, n, delay))
            self.send('service.start', name, str(st.ts + delay))
        self.send('service.tags', name, *unit_tags(svc, n, u.fails, u.refused is not None))

    def on_notify(self, ev: ServiceNotify) -> None:
        svc = self.cfg.services.get(ev.name)
        if svc is not None and svc.ready in ('notify', 'fd') and 'READY=1' in ev.assignments:
            self.became_ready(ev.name)

    def on_cgroup(self, ev: ServiceCgroup) -> None:
        if ev.state == 'empty' and self.phase_of(ev.name) is Phase.STOPPING:
            info = self.dp.mirror.service(ev.name)
            if info is None or info.state.state == 'down':
                self.finish_stop(ev.name)

    def on_signal(self, ev: Signal) -> None:
        if ev.signal in ('SIGTERM', 'SIGINT'):
            self.begin_shutdown(self.cfg.exit_code, 'daemonproxy got %s' % ev.signal)
            self.send('signal.clear', ev.signal, str(ev.count))
        elif ev.signal == 'SIGHUP':
            self.send('signal.clear', ev.signal, str(ev.count))
            if self.shutdown_code is None:
                self.reload()

    # --- timers' handlers: TIMER_HANDLERS below names them --------------------------

    def on_timer_ready(self, name: str) -> None:
        info = self.dp.mirror.service(name)
        if info is not None and info.running:
            self.became_ready(name)

    def on_timer_kill(self, name: str) -> None:
        if self.phase_of(name) is not Phase.STOPPING:
            return
        info = self.dp.mirror.service(name)
        u = self.unit(name)
        if info is not None and info.pid is not None and info.pid != u.stop_pid:
            # the run it stopped ended and another began (dpctl restart's
            # want up) before we read the down: a SIGKILL by name would hit
            # the new run
            return
        scope = 'cgroup' if info is not None and info.cgroup is not None else 'group'
        self.log(name, 'still running after its stop timeout: SIGKILL (%s)' % scope)
        self.send('service.signal', name, 'SIGKILL', scope)

    def on_timer_shutdown(self, name: str) -> None:
        left = [n for n in self.managed_names()
                if self.phase_of(n) is Phase.STOPPING or self.running(n)]
        self.log('controller', 'shutdown deadline passed; SIGKILL to %d services: %s'
                 % (len(left), ' '.join(left[:10])))
        for n in left:
            u = self.unit(n)
            if u.phase is not Phase.STOPPING:
                self.set_phase(u, Phase.STOPPING, 'stopping (shutdown): the deadline passed')
            u.stop_purpose = 'shutdown'
            self.on_timer_kill(n)
        self.set_timer(Timer.TERMINATE, 'controller', KILL_GRACE)

    def on_timer_terminate(self, name: str) -> None:
        self.terminate()

    def on_timer_notice(self, name: str) -> None:
        """Still waiting for a valid file (see wait_for_file): say so, less
        and less often."""
        if self.broken is None or self.shutdown_code is not None:
            return
        self.notice_every = min(self.notice_every * 2, NOTICE_MAX)
        n = len(self.broken)
        self.log('controller', 'still waiting for a valid %s (%d problem%s; fix it, then: '
                 'dpctl reload); next notice in %ds'
                 % (self.cfg.path, n, '' if n == 1 else 's', self.notice_every))
        self.set_timer(Timer.NOTICE, 'controller', self.notice_every)

    def on_timer_start_timeout(self, name: str) -> None:
        """Up start_timeout seconds and not ready: stop it by its stop
        procedure; once down, that run counts as a failure (timed_out)."""
        svc = self.cfg.services.get(name)
        if svc is None or self.phase_of(name) is not Phase.STARTING or not self.running(name):
            return
        self.log(name, 'not ready within start_timeout %gs: a failure; stopping it'
                 % svc.start_timeout)
        self.stop(name, 'start-timeout')

    def on_timer_retry(self, name: str) -> None:
        u = self.units.get(name)
        if u is None or u.phase is not Phase.STARTING or self.shutdown_code is not None \
                or name not in self.cfg.services or self.held(name):
            return
        self.start(u, 'trying again')

    #: What each timer kind does when it fires: handler(controller, name).
    #: The functions of this class, bound once (a subclass that wants
    #: another handler puts its own table here).
    TIMER_HANDLERS: ClassVar[Dict[Timer, Callable[['Controller', str], None]]] = {
        Timer.READY: on_timer_ready,
        Timer.KILL: on_timer_kill,
        Timer.SHUTDOWN: on_timer_shutdown,
        Timer.TERMINATE: on_timer_terminate,
        Timer.NOTICE: on_timer_notice,
        Timer.START_TIMEOUT: on_timer_start_timeout,
        Timer.RETRY: on_timer_retry,
    }

    # --- stopping -------------------------------------------------------------------

    def stop(self, name: str, purpose: StopPurpose) -> None:
        """Stop name (purpose: see StopPurpose); finish_stop
        follows when it is down (and its cgroup empty)."""
        u = self.unit(name)
        svc = self.cfg.services.get(name) or u.removed or _placeholder(name)
        info = self.dp.mirror.service(name)
        state = info.state.state if info else 'down'
        if state == 'start':
            self.set_phase(u, Phase.STOPPING, 'pending start cancelled (%s)' % purpose)
            self.send('service.start', name, '-')
        elif state == 'up' and purpose == 'shutdown' and self.drains(svc):
            # dplog stops at SIGTERM with what it has read: what its service
            # wrote last may still be in the pipe, and daemonproxy's end
            # closes with it.  Its service is down: close the pipe's write
            # end instead, and dplog reads to the end and exits.
            self.set_phase(u, Phase.STOPPING, 'stopping (shutdown): %s closed, it exits at '
                           'the end of the pipe; SIGKILL after %ss'
                           % (svc.pipe[1], svc.stop_timeout))
            if svc.pipe[1] in self.dp.mirror.handles:      # (not after our own restart)
                self.send('fd.delete', svc.pipe[1])
            u.stop_pid = info.pid
            self.set_timer(Timer.KILL, name, svc.stop_timeout)
        elif state == 'up':
            # the whole process group (the service leads one), or the whole
            # cgroup: a stopped service leaves no child behind
            scope = 'cgroup' if info.cgroup is not None else 'group'
            self.set_phase(u, Phase.STOPPING, 'stopping (%s): %s to the %s, SIGKILL after %ss'
                           % (purpose, svc.stop_signal, scope, svc.stop_timeout))
            self.send('service.signal', name, svc.stop_signal, scope)
            u.stop_pid = info.pid
            self.set_timer(Timer.KILL, name, svc.stop_timeout)
        elif info is not None and info.cgroup == 'populated':
            self.set_phase(u, Phase.STOPPING,
                           'main process gone, cgroup populated: SIGKILL (cgroup)')
            self.send('service.signal', name, 'SIGKILL', 'cgroup')
        else:
            self.stopped(u, purpose)                # nothing to wait for
            return
        u.stop_purpose = purpose

    def drains(self, svc: Service) -> bool:
        """Whether svc is a dplog logger whose service is down: it can be
        stopped by the end of its pipe, losing nothing left in it."""
        of = self.cfg.services.get(svc.logger_of) if svc.logger_of else None
        return of is not None and of.dplog and not self.running(of.name)

    def finish_stop(self, name: str) -> None:
        """A STOPPING service is down (and its cgroup empty): what its stop
        was for follows."""
        u = self.units.get(name)
        if u is None or u.phase is not Phase.STOPPING or u.stop_purpose is None:
            return
        self.stopped(u, u.stop_purpose)

    def stopped(self, u: Unit, purpose: StopPurpose) -> None:
        name = u.name
        if purpose == 'shutdown':
            self.set_phase(u, Phase.STOPPED, 'stopped')
            self.shutdown_step()
        elif purpose == 'remove':
            self.set_phase(u, Phase.STOPPED, 'stopped and deleted (no longer configured)')
            self.send('service.delete', name)
            del self.units[name]
            if u.removed is not None and u.removed.logger_of:
                for h in u.removed.pipe:
                    self.send('fd.delete', h)
                    self.pipes_made.discard(h)
        elif purpose in ('wanted-down', 'dependency'):
            self.stopped_for_hold(u, purpose)
        elif purpose == 'start-timeout':
            self.timed_out(u)
        elif purpose == 'change':
            svc = self.cfg.services.get(name)
            if svc is not None and self.shutdown_code is None:
                u.failures = 0
                u.fails = ()
                self.define(svc)
                self.wait(u, 'definition changed')
                self.try_start([name])
            else:
                self.set_phase(u, Phase.STOPPED, 'stopped')
        if purpose != 'shutdown' and self.shutdown_code is not None:
            # a stop begun before the shutdown (a changed or removed
            # service) was one the shutdown waited for
            self.shutdown_step()

    def timed_out(self, u: Unit) -> None:
        """A run stopped for its start_timeout is down: a failure, whatever
        its exit (a service that exits 0 at SIGTERM was not ready either),
        for the restart policy (restart = "never": given up)."""
        name = u.name
        svc = self.cfg.services.get(name)
        info = self.dp.mirror.service(name)
        if svc is None or self.shutdown_code is not None or info is None:
            self.set_phase(u, Phase.STOPPED, 'stopped')
            return
        st = info.state
        u.handled = (st.pid, st.ts)
        if self.held(name):
            self.hold_phase(u, 'stopped; not ready within start_timeout, not a failure')
            self.hold_step()
            return
        self.set_phase(u, Phase.STOPPED, 'stopped (%s)' % describe_exit(st.reason, st.value))
        how = what = 'not ready within start_timeout %gs' % svc.start_timeout
        if svc.restart == 'never':
            self.not_restarted(u, svc, st, what, how)
            return
        # a run that never got ready is no healthy run, however long it took
        self.restart_after(u, svc, st, how, what,
                           count_failure(u.failures, None, svc.backoff_reset), 0)

    def not_restarted(self, u: Unit, svc: Service, st: ServiceState, what: str,
                      how: str) -> None:
        """A failure of a restart = "never" service that is not an exit
        (a start that failed, a start_timeout): given up, or for a
        oneshot, marked failed."""
        if svc.type == 'oneshot':
            u.failures = count_failure(u.failures, None, svc.backoff_reset)
            self.mark_failed(u, svc, st, what, how)
            return
        self.give_up(u, '%s; restart=never: giving up' % what)
        if u.name == self.cfg.main:
            self.begin_shutdown(1, 'main service %s: %s' % (u.name, how))

    def drop_waiting(self) -> None:
        """A shutdown began: what waits for a start will not get one."""
        for name in self.waiting_names():
            self.set_phase(self.units[name], Phase.STOPPED, 'not started (shutdown)')

    def cancel_pending_starts(self) -> None:
        for name in self.managed_names():
            info = self.dp.mirror.service(name)
            if info is not None and info.state.state == 'start' \
                    and self.phase_of(name) is not Phase.STOPPING:
                self.set_phase(self.unit(name), Phase.STOPPED,
                               'pending start cancelled (shutdown)')
                self.send('service.start', name, '-')

    def managed_names(self) -> List[str]:
        out = list(self.cfg.services)
        for info in self.dp.mirror.services.values():
            if info.name not in self.cfg.services and read_tags(info.tags).managed:
                out.append(info.name)
        return out

    # --- shutdown ----------------------------------------------------------------------

    def begin_shutdown(self, code: int, why: str) -> None:
        if self.shutdown_code is not None:
            return
        self.shutdown_code = code
        self.log('controller', 'shutting down (%s); exit code %d' % (why, code))
        if self.own is not None:
            info = self.dp.mirror.service(self.own)
            tags = tuple(t for t in (info.tags if info else ()) if not t.startswith(SHUTDOWN_TAG))
            self.send('service.tags', self.own, *(tags + (SHUTDOWN_TAG + str(code),)))
        self.set_timer(Timer.SHUTDOWN, 'controller', self.cfg.shutdown_timeout)
        self.drop_waiting()
        self.cancel_pending_starts()
        self.shutdown_step()

    def running(self, name: str) -> bool:
        info = self.dp.mirror.service(name)
        return info is not None and (info.state.state == 'up' or info.cgroup == 'populated')

    def shutdown_step(self) -> None:
        """Stop every service whose dependents are all down; terminate
        when nothing is left."""
        if self.shutdown_code is None or self.terminated:
            return
        left = [n for n in self.managed_names()
                if self.phase_of(n) is Phase.STOPPING or self.running(n)]
        if not left:
            self.terminate()
            return
        busy = set(left)
        for name in left:
            if self.phase_of(name) is Phase.STOPPING:
                continue
            if not any(d in busy for d in self.dependents.get(name, ())):
                self.stop(name, 'shutdown')

    def terminate(self) -> None:
        if self.terminated:
            return
        self.terminated = True
        code = self.shutdown_code or 0
        self.log('controller', 'everything stopped: terminate %d' % code)
        try:
            self.flush()
            self.dp.terminate(code)
        except CommandError as e:
            self.log('controller', 'terminate refused: %s (run daemonproxy with --container '
                     'or exec-on-exit args)' % e.message)
        except ConnectionClosed:
            pass

    # --- reload -----------------------------------------------------------------------

    def reload(self) -> Tuple[bool, str, List[str]]:
        """SIGHUP or a reload request: re-read the file and apply the
        difference.  Returns (ok, the text of the reply, warnings): a bad
        file changes nothing and the text lists its problems; warnings are
        what check_runnable finds in a good one (logged, not refused)."""
        try:
            new = load(self.cfg.path)
        except ConfigError as e:
            for p in e.problems:
                self.log('controller', 'reload: ' + p)
            self.log('controller', 'reload: bad file, keeping the running configuration')
            return False, '; '.join(e.problems), []
        warnings = self.warn_runnable(new, 'reload: ')
        if self.broken is not None:
            return True, self.load_first(new), warnings
        old = self.cfg
        self.log('controller', 'reload: %d services (was %d)'
                 % (len(new.services), len(old.services)))
        self.cfg = new
        self.dependents = new.dependents()
        changed = added = removed = 0
        for name, svc in old.services.items():
            if name not in new.services:
                removed += 1
                self.unit(name).removed = svc
                self.log(name, 'removed from the file')
                self.stop(name, 'remove')
        for name, svc in new.services.items():
            info = self.dp.mirror.service(name)
            u = self.unit(name)
            if name not in old.services and u.phase is not Phase.STOPPING:
                added += 1
                self.define(svc, fresh=info is None)
                self.wait(u, 'added by reload', 'added to the file')
            elif name in old.services and (old.services[name].hash != svc.hash
                                           or u.refused is not None):
                changed += 1
                if info is not None and info.state.state in ('up', 'start') \
                        or u.phase is Phase.STOPPING:       # a stop goes on, for the change
                    self.log(name, 'definition changed')
                    self.stop(name, 'change')
                else:
                    self.define(svc)
                    self.wait(u, 'definition changed', 'definition changed')
            elif name in old.services and u.phase is not Phase.STOPPING:
                self.refresh_tags(name)         # stop_timeout, start_limit… (policy only)
                if u.phase is Phase.STOPPED and svc.autostart \
                        and not old.services[name].autostart:
                    self.wait(u, 'autostart = true')
        self.try_start(self.waiting_names())
        return True, 'reloaded %s: %d changed, %d added, %d removed' % (
            new.path, changed, added, removed), warnings

    def warn_runnable(self, cfg: Config, prefix: str = '') -> List[str]:
        """Log what check_runnable finds in cfg, as warnings: the file is
        used all the same (a program may be installed, a directory
        mounted, later; its start then fails, and says why)."""
        warnings = ['warning: ' + p for p in check_runnable(cfg)]
        for w in warnings:
            self.log('controller', prefix + w)
        return warnings

    # --- waiting for a valid file -----------------------------------------------------
    #
    # A bad file at start: the controller says why once, then waits for a
    # reload (dpctl reload, SIGHUP) instead of exiting, which would only
    # have daemonproxy restart it, and log the same lines, every second.
    # Meanwhile it leaves alone what runs (a previous controller's
    # services), restarts nothing, and still honours SIGTERM, SIGINT and
    # a shutdown request: what runs is stopped (all at once: the file that
    # would order it is the bad one), then terminate.

    def wait_for_file(self) -> None:
        self.log('controller', 'refusing to start with a bad file: waiting for a valid %s '
                 '(fix it, then: dpctl reload, or SIGHUP to daemonproxy); what runs is left '
                 'alone' % self.cfg.path)
        self.set_timer(Timer.NOTICE, 'controller', self.notice_every)

    def load_first(self, cfg: Config) -> str:
        """The first valid file after a bad one: run it, as at start."""
        self.broken = None
        self.cancel_timer(Timer.NOTICE, 'controller')
        self.cfg = cfg
        self.dependents = cfg.dependents()
        self.log('controller', 'loaded %s (%d services)' % (cfg.path, len(cfg.services)))
        self.reconcile()
        return 'loaded %s: %d services' % (cfg.path, len(cfg.services))

    # --- requests (ctl.serve: reload, shutdown) -----------------------------------------

    def reply(self, req: CtlRequest, status: str, text: str = '') -> None:
        self.send(*reply_command(req, status, text))

    def on_request(self, req: CtlRequest) -> None:
        """A client asked (dpctl reload, dpctl shutdown): log who, act, and
        answer it with ctl.reply (info lines, then ok or error)."""
        self.log('controller', '%s asked: %s' % (req.by, ' '.join((req.verb,) + req.args)))
        if req.verb == 'reload':
            self.request_reload(req)
        elif req.verb == 'shutdown':
            self.request_shutdown(req)
        else:
            self.reply(req, 'error', 'dpcontroller does not serve %r (only %s)'
                       % (req.verb, ', '.join(VERBS)))

    def request_reload(self, req: CtlRequest) -> None:
        if req.args:
            self.reply(req, 'error', 'usage: reload (no arguments)')
        elif self.shutdown_code is not None:
            self.reply(req, 'error', 'shutting down (exit code %d): not reloading'
                       % self.shutdown_code)
        else:
            ok, text, warnings = self.reload()
            for w in warnings:
                self.reply(req, 'info', w)
            self.reply(req, 'ok' if ok else 'error', text)

    def request_shutdown(self, req: CtlRequest) -> None:
        code, why = shutdown_code(req.args, self.cfg.exit_code)
        if code is None:
            self.reply(req, 'error', why)
        elif self.shutdown_code is not None:
            self.reply(req, 'ok', 'shutting down already (exit code %d)' % self.shutdown_code)
        else:
            self.reply(req, 'ok', 'shutting down')
            self.begin_shutdown(code, 'asked by %s' % req.by)

    # --- desired state (docs/protocol.md, "a convention for controllers") ----------
    # 1. never start a service wanted down or failed; 2. on down: cancel our
    # restarts, stop it by our own procedure (what requires it first), no
    # failure counted, say who asked; 3. on up: the daemon started it, reset
    # the failure counts; 4. a start limit hit: mark it failed.

    def held(self, name: str) -> bool:
        """Whether name is wanted down or failed in daemonproxy."""
        info = self.dp.mirror.service(name)
        return info is not None and info.held

    def hold_phase(self, u: Unit, why: str) -> None:
        """Put a held unit that is down in HELD (FAILED for a want
        failed), the line naming who wants it so."""
        info = self.dp.mirror.service(u.name)
        if info is None:
            return
        failed = info.want == 'failed'
        self.set_phase(u, Phase.FAILED if failed else Phase.HELD, '%s; %s %s' % (
            why, 'marked failed' if failed else 'wanted down', _who(info.want_by,
                                                                    info.want_why)))

    def on_want(self, ev: ServiceWant) -> None:
        name = ev.name
        u = self.units.get(name)
        if name not in self.cfg.services or u is None:
            return
        if ev.want == 'failed' and u.phase is Phase.FAILED:
            return                                  # our own mark (start_limit_hit)
        self.log(name, 'wanted %s %s' % (ev.want or '- (no desire)', _who(ev.by, ev.why)))
        if self.shutdown_code is not None:
            return                                  # everything stops anyway
        if ev.held:
            if u.phase is Phase.STOPPING:
                return                  # stopped_for_hold / try_start look at the want later
            if self.running(name):
                self.hold_step()
            else:
                # a pending restart is cancelled by daemonproxy itself
                self.hold_phase(u, 'down')
        else:
            self.released(u, ev)

    def released(self, u: Unit, ev: ServiceWant) -> None:
        """Wanted up (daemonproxy starts it if it is down) or no desire
        any more (our policy decides again): fresh failure counts, and
        supervising resumes, for what was given up because of it too."""
        name = u.name
        if u.failures or u.fails:
            u.failures, u.fails = 0, ()
            self.refresh_tags(name)
        if u.refused is not None:
            # its execution attributes were refused (its argv unset: a
            # start of daemonproxy's own failed): define it again, so
            # that daemonproxy looks the names up again, and start it
            self.define(self.cfg.services[name])
            self.wait(u, 'wanted up: defined again' if ev.want == 'up' else 'no longer held')
            self.try_start([name])
        elif ev.want == 'up' and u.phase not in (Phase.STARTING, Phase.READY, Phase.STOPPING):
            # daemonproxy started it within the command (the mirror may
            # show it up already: it runs ahead of the events we handle):
            # never a second start of ours
            self.set_phase(u, Phase.STARTING, 'started by daemonproxy (wanted up); '
                           'failure count reset')
        elif u.phase in (Phase.HELD, Phase.FAILED):
            self.wait(u, 'no longer held')
            self.try_start([name])
        for other in self.units.values():
            if other.given_up_for == name and other.phase is Phase.GAVE_UP:
                other.given_up_for = None
                self.wait(other, '%s wanted up again' % name)
        self.try_start(self.waiting_names())

    def honour_wants(self) -> None:
        """At start and after a resync: what is wanted down stays (or
        gets) down."""
        for name in self.cfg.services:
            u = self.units.get(name)
            if u is None or u.phase in (Phase.STOPPING, Phase.HELD, Phase.FAILED) \
                    or not self.held(name) or self.running(name):
                continue
            info = self.dp.mirror.service(name)
            self.hold_phase(u, 'held since %s' % (info.want_since if info else '?'))
        self.hold_step()

    def requirers(self, name: str) -> List[str]:
        """The configured services that require name, directly."""
        return [n for n, svc in self.cfg.services.items() if name in svc.requires]

    def hold_todo(self) -> Dict[str, StopPurpose]:
        """What is to stop for the holds: each service that runs while
        wanted down, and what runs (or is starting) and requires it,
        directly or not."""
        todo: Dict[str, StopPurpose] = {}
        for name in self.cfg.services:
            if self.held(name) and self.running(name):
                todo[name] = 'wanted-down'
                stack = [name]
                while stack:
                    for r in self.requirers(stack.pop()):
                        if r not in todo and (self.running(r) or self.phase_of(r)
                                              is Phase.STARTING):
                            todo[r] = 'dependency'
                            stack.append(r)
        return todo

    def hold_step(self) -> None:
        """Stop what hold_todo() names, each once nothing that requires it
        runs: the shutdown's order, for a part of the graph.  Again while a
        stop ends at once (nothing ran): that may free the next one."""
        if self.shutdown_code is not None or self.holding:
            return
        self.holding = True
        try:
            again = True
            while again:
                again = False
                for name, purpose in self.hold_todo().items():
                    if self.phase_of(name) is Phase.STOPPING or any(
                            self.phase_of(r) is Phase.STOPPING or self.running(r)
                            for r in self.requirers(name)):
                        continue
                    self.stop(name, purpose)
                    again = again or self.phase_of(name) is not Phase.STOPPING
        finally:
            self.holding = False

    def stopped_for_hold(self, u: Unit, purpose: StopPurpose) -> None:
        """A stop for a hold is over: held (a want down), or waiting again
        (it requires what is held; or the want changed meanwhile)."""
        if purpose == 'wanted-down' and self.held(u.name):
            self.hold_phase(u, 'stopped')
        elif purpose == 'wanted-down':
            self.wait(u, 'wanted up again', 'stopped; wanted up again meanwhile')
            self.try_start([u.name])
        else:
            self.wait(u, 'what it requires is back',
                      'stopped: it requires a service wanted down; waiting for it')
            self.try_start([u.name])
        self.hold_step()

    def start_limit_hit(self, u: Unit, svc: Service, st: ServiceState, how: str,
                        what: Optional[str] = None) -> bool:
        """Count a failure in the start limit's window; at the limit, mark
        the service failed (FAILED, ``service.want→NAME→failed→REASON``)
        instead of restarting it, and say True.  what: the line's start
        (default: ``exited (HOW) after Ns``)."""
        if st.ts is not None:
            u.fails = recent_failures(u.fails, st.ts, svc.start_limit_interval) \
                if svc.start_limit_burst else ()
        if not over_start_limit(u.fails, svc.start_limit_burst):
            return False
        reason = '%d failures within %gs (start_limit %s); the last: %s' % (
            len(u.fails), svc.start_limit_interval, describe_start_limit(svc), how)
        if what is None:
            what = 'exited (%s) after %ss' % (how, st.uptime)
        self.mark_failed(u, svc, st, what, reason)
        return True

    def mark_failed(self, u: Unit, svc: Service, st: ServiceState, what: str,
                    reason: str) -> None:
        """Our policy gave up on u (what: the line's start; reason: why,
        for operators): FAILED, ``service.want→NAME→failed→REASON``, what
        requires it given up."""
        self.set_phase(u, Phase.FAILED, '%s; %s: %s; marked failed (dpctl start %s to '
                       'try again)' % (what, 'failure %d' % u.failures if u.failures else
                                       'failed', reason, u.name))
        self.send('service.want', u.name, 'failed', reason)
        self.send('service.tags', u.name, *unit_tags(svc, u.failures, u.fails,
                                                     u.refused is not None))
        self.try_start(self.dependents.get(u.name, ()))
        if u.name == self.cfg.main:
            self.begin_shutdown(exit_code_of(st.reason, st.value),
                                'main service %s failed (%s)' % (u.name, reason))

    def refresh_tags(self, name: str) -> None:
        """Send name's tags if the daemon's differ from ours (failure
        counts, stop_signal/stop_timeout of a changed policy)."""
        svc = self.cfg.services.get(name)
        info = self.dp.mirror.service(name)
        u = self.units.get(name)
        if svc is None or info is None or u is None:
            return
        tags = unit_tags(svc, u.failures, u.fails, u.refused is not None)
        if info.tags != tags:
            self.send('service.tags', name, *tags)


def run_env(svc: Service) -> Tuple[str, ...]:
    """The service.env of a run of svc with env_file: its files read
    now, then its env.  EnvFileError if a file cannot be read or parsed, or
    the daemon would refuse the line (4,096 bytes at most)."""
    cmd = env_command(svc, read_env_files(svc.env_file))
    try:
        check_command(cmd)
    except InvalidArgument as e:
        raise EnvFileError('%s: the daemon would refuse the environment: %s'
                           % (' '.join(svc.env_file), e)) from None
    return cmd


def _who(by: Optional[str], why: Optional[str]) -> str:
    """``by uid=1000 (maintenance)``: who wants it so, and why."""
    return 'by %s%s' % (by or '?', ' (%s)' % why.replace('\t', ' ') if why else '')


def _placeholder(name: str) -> Service:
    return Service(name, ('true',))
