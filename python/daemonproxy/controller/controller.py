"""The controller: events in, decisions out.

:class:`Controller` keeps a few sets (which services wait for a start,
which are starting, ready, stopping, given up) and reacts to each event
with one small named method.  Everything it must remember across its own
crash is kept in daemonproxy: the definition hash and the failure count in
each service's tags, pending (back-off) starts as the daemon's own timed
``service.start``, a shutdown in progress as a tag on the controller's
own service.  After a start or a resync, :meth:`reconcile` rebuilds the
sets from the mirror.
"""

from __future__ import annotations

import heapq
import os
import subprocess
import sys
import time
from typing import Callable, Dict, List, Literal, Optional, Set, Tuple

from ..errors import CommandError, ConnectionClosed
from ..events import Resynced, ServiceCgroup, ServiceNotify, ServiceState, Signal
from .config import Config, ConfigError, Service, load
from .policy import (
    backoff_delay, count_failure, define_commands, describe_exit, exit_code_of, make_tags,
    pipe_command, read_tags, should_restart,
)

__all__ = ['Controller', 'StopPurpose', 'log_line', 'env_has_chdir']

#: Why a service is being stopped, which decides what follows once it is
#: down: ``'shutdown'`` (the next shutdown step), ``'remove'`` (delete it:
#: no longer configured), ``'change'`` (define and start it again: its
#: definition changed).  Strings, as the log lines show them.
StopPurpose = Literal['shutdown', 'remove', 'change']

SHUTDOWN_TAG = 'dpc.shutdown='
KILL_GRACE = 2          # seconds after the shutdown deadline's SIGKILLs before terminate


def log_line(subject: str, message: str) -> None:
    """One timestamped line on stderr: ``2026-12-02T13:00:01 web: started``."""
    sys.stderr.write('%s %s: %s\n' % (time.strftime('%Y-%m-%dT%H:%M:%S'), subject, message))
    sys.stderr.flush()


_chdir_probe: Optional[bool] = None


def env_has_chdir() -> bool:
    """Whether /usr/bin/env understands -C (GNU coreutils 8.28+)."""
    global _chdir_probe
    if _chdir_probe is None:
        try:
            _chdir_probe = subprocess.run(['/usr/bin/env', '-C', '/', 'true'],
                                          stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL).returncode == 0
        except OSError:
            _chdir_probe = False
    return _chdir_probe


class Controller:
    """Runs the services of a config file over a connected Client."""

    def __init__(self, dp, cfg: Config, log: Callable[[str, str], None] = log_line) -> None:
        self.dp = dp
        self.cfg = cfg
        self.log = log
        self.dependents = cfg.dependents()
        self.waiting: Dict[str, str] = {}       # name -> why it is to be started
        self.starting: Set[str] = set()         # started (or due), not ready yet
        self.ready: Set[str] = set()
        self.finished: Set[str] = set()         # exited 0 and not to be restarted
        self.gave_up: Set[str] = set()          # failed and not to be restarted
        self.stopping: Dict[str, StopPurpose] = {}      # name -> why it is stopping
        self.removed: Dict[str, Service] = {}   # definitions of services being removed
        self.failures: Dict[str, int] = {}
        self.handled: Dict[str, Tuple] = {}     # name -> (pid, ts) of the last exit handled
        self.pipes_made: Set[str] = set()
        self.timers: List[Tuple[float, int, str, str]] = []
        self.timer_due: Dict[Tuple[str, str], float] = {}
        self._seq = 0
        self.shutdown_code: Optional[int] = None
        self.own: Optional[str] = None          # our own service's name
        self.generation = -1
        self.terminated = False
        self.pending: List[Tuple[str, ...]] = []

    # --- sending ---------------------------------------------------------------------

    def send(self, *fields: str) -> None:
        """Queue one command; flush() sends the queue.  Nothing waits for a
        reply: what happened shows in the events (errors too)."""
        self.pending.append(fields)

    def flush(self) -> None:
        """Send the queued commands in one go (one write, not one per
        command: starting 1,000 services is a few writes)."""
        if not self.pending:
            return
        cmds, self.pending = self.pending, []
        for fields in cmds[:-1]:
            self.dp.session.send(fields)
        self.dp.send(*cmds[-1])                     # queues the last one and writes all

    # --- timers (only for what the daemon cannot time for us) ------------------------

    def set_timer(self, kind: str, name: str, delay: float) -> None:
        when = time.monotonic() + delay
        self._seq += 1
        self.timer_due[(kind, name)] = when
        heapq.heappush(self.timers, (when, self._seq, kind, name))

    def cancel_timer(self, kind: str, name: str) -> None:
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
            getattr(self, 'on_timer_' + kind)(name)

    # --- the main loop ---------------------------------------------------------------

    def run(self) -> int:
        """Reconcile, then handle events until daemonproxy closes the
        connection (after terminate, say).  Returns the exit status."""
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
        elif isinstance(ev, Resynced) and ev.generation > self.generation:
            self.log('controller', 'resynced from a statedump')
            self.reconcile()

    # --- rebuilding the view from the daemon's state ---------------------------------

    def reconcile(self) -> None:
        """Rebuild everything from the mirror: adopt what runs with the
        right definition, keep pending starts, start what never ran,
        apply the restart policy to what is down, remove what is ours
        but no longer configured, and continue a shutdown in progress."""
        m = self.dp.mirror
        self.generation = m.generation
        self.waiting.clear()
        self.starting.clear()
        self.ready.clear()
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
                    and info.name not in self.stopping:
                if self.shutdown_code is None:
                    self.log(info.name, 'managed by the controller but not in %s: removing'
                             % self.cfg.path)
                    self.removed.setdefault(info.name, _placeholder(info.name))
                    self.stop(info.name, 'remove')
        if self.shutdown_code is not None:
            self.log('controller', 'continuing the shutdown in progress (exit code %d)'
                     % self.shutdown_code)
            self.waiting.clear()
            self.cancel_pending_starts()
            self.shutdown_step()
        else:
            self.try_start(list(self.waiting))

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
        if name in self.stopping:
            return                                      # a stop in progress goes on
        if info is None or not intent.managed or intent.hash != svc.hash:
            if info is not None and info.state.state in ('up', 'start'):
                self.log(name, 'running with another definition: restarting it')
                self.stop(name, 'change')
            else:
                self.define(svc, fresh=info is None)
                self.waiting[name] = 'configured'
            return
        self.failures[name] = intent.failures
        st = info.state
        if st.state == 'up':
            self.log(name, 'adopted (pid %s, running since %ss)' % (st.pid, st.ts))
            self.starting.add(name)
            self.check_ready_on_up(name, st)
            if info.ready and svc.ready in ('notify', 'fd'):
                self.became_ready(name)
        elif st.state == 'start':
            self.log(name, 'pending start at %s kept' % st.ts)
            self.starting.add(name)
        elif st.pid is None:
            self.waiting[name] = 'configured'
        elif (name, st.pid, st.ts) != self.handled.get(name):
            self.on_exit(name, st, st.downtime or 0)
        elif name in self.gave_up or name in self.finished:
            pass
        else:
            self.starting.add(name)

    # --- defining and starting -----------------------------------------------------

    def define(self, svc: Service, fresh: bool = False) -> None:
        handles = self.dp.mirror.handles
        if svc.log or svc.logger_of:
            read, _ = svc.pipe
            if read not in handles and read not in self.pipes_made:
                self.send(*pipe_command(self.cfg.services[svc.logger_of] if svc.logger_of
                                        else svc))
                self.pipes_made.add(read)
        for cmd in define_commands(svc, self.failures.get(svc.name, 0),
                                   env_has_chdir() if svc.cwd else True, fresh):
            self.send(*cmd)

    def blocker(self, name: str) -> Optional[str]:
        """Why name cannot start yet (a service it waits for), or None."""
        svc = self.cfg.services[name]
        for r in svc.requires:
            if r not in self.ready and r not in self.finished:
                return r
        for a in svc.after:
            if a not in self.ready and (a in self.waiting or a in self.starting):
                return a
        return None

    def try_start(self, names) -> None:
        """Start those of names that wait and whose dependencies allow."""
        for name in names:
            if name not in self.waiting or self.shutdown_code is not None:
                continue
            b = self.blocker(name)
            if b is None:
                self.start(name, self.waiting.pop(name))
            elif b in self.gave_up:
                del self.waiting[name]
                self.log(name, 'not started: requires %s, which was given up' % b)
                self.give_up(name)

    def start(self, name: str, why: str) -> None:
        self.log(name, 'starting (%s)' % why)
        self.starting.add(name)
        self.gave_up.discard(name)
        self.finished.discard(name)
        self.send('service.start', name)

    def check_ready_on_up(self, name: str, st: ServiceState) -> None:
        ready = self.cfg.services[name].ready
        if ready == 'up':
            self.became_ready(name)
        elif not isinstance(ready, str):
            left = ready - max(0.0, time.monotonic() - (st.ts or 0))
            if left <= 0:
                self.became_ready(name)
            else:
                self.set_timer('ready', name, left)

    def became_ready(self, name: str) -> None:
        if name in self.ready:
            return
        self.ready.add(name)
        self.starting.discard(name)
        if self.dependents.get(name):
            self.log(name, 'ready')
        self.try_start(self.dependents.get(name, ()))

    def give_up(self, name: str) -> None:
        self.gave_up.add(name)
        self.starting.discard(name)
        self.try_start(self.dependents.get(name, ()))

    # --- events ----------------------------------------------------------------------

    def on_state(self, ev: ServiceState) -> None:
        name = ev.name
        if name not in self.cfg.services and name not in self.stopping:
            return
        if ev.state == 'up':
            if name in self.cfg.services and name not in self.stopping:
                self.check_ready_on_up(name, ev)
        elif ev.state == 'down':
            info = self.dp.mirror.service(name)
            if name in self.stopping:
                if name == self.cfg.main and ev.pid is not None \
                        and self.shutdown_code is not None:
                    self.shutdown_code = exit_code_of(ev.reason, ev.value)
                    self.log(name, 'main service exited (%s): exit code %d'
                             % (describe_exit(ev.reason, ev.value), self.shutdown_code))
                self.ready.discard(name)
                self.cancel_timer('ready', name)
                if info is None or info.cgroup != 'populated':
                    self.finish_stop(name)
            elif ev.pid is not None and (name, ev.pid, ev.ts) != self.handled.get(name):
                if info is not None and info.state.state != 'down':
                    return                  # restarted meanwhile: nothing to decide
                self.on_exit(name, ev, 0)

    def on_exit(self, name: str, st: ServiceState, downtime: int) -> None:
        """A managed service exited: restart it after a back-off, or not."""
        self.handled[name] = (name, st.pid, st.ts)
        self.ready.discard(name)
        self.cancel_timer('ready', name)
        svc = self.cfg.services[name]
        how = describe_exit(st.reason, st.value)
        if self.shutdown_code is not None:
            self.log(name, 'exited (%s) during shutdown' % how)
            if name == self.cfg.main:
                self.shutdown_code = exit_code_of(st.reason, st.value)
            self.shutdown_step()
            return
        if not should_restart(svc.restart, st.reason, st.value):
            self.starting.discard(name)
            if st.reason == 'exit' and st.value == 0:
                self.log(name, 'exited (%s) after %ss; restart=%s: finished'
                         % (how, st.uptime, svc.restart))
                self.finished.add(name)
                self.try_start(self.dependents.get(name, ()))
            else:
                self.log(name, 'exited (%s) after %ss; restart=%s: giving up'
                         % (how, st.uptime, svc.restart))
                self.give_up(name)
            if name == self.cfg.main:
                self.begin_shutdown(exit_code_of(st.reason, st.value),
                                    'main service %s exited (%s)' % (name, how))
            return
        n = count_failure(self.failures.get(name, 0), st.uptime, svc.backoff_reset)
        self.failures[name] = n
        delay = backoff_delay(svc.backoff_base, svc.backoff_max, n)
        self.starting.add(name)
        if downtime >= delay or st.ts is None:
            self.log(name, 'exited (%s) after %ss; failure %d; starting again now'
                     % (how, st.uptime, n))
            self.send('service.start', name)
        else:
            self.log(name, 'exited (%s) after %ss; failure %d; next start in %ds'
                     % (how, st.uptime, n, delay))
            self.send('service.start', name, str(st.ts + delay))
        self.send('service.tags', name, *make_tags(svc.hash, n))

    def on_notify(self, ev: ServiceNotify) -> None:
        svc = self.cfg.services.get(ev.name)
        if svc is not None and svc.ready in ('notify', 'fd') and 'READY=1' in ev.assignments:
            self.became_ready(ev.name)

    def on_cgroup(self, ev: ServiceCgroup) -> None:
        if ev.state == 'empty' and ev.name in self.stopping:
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

    def on_timer_ready(self, name: str) -> None:
        info = self.dp.mirror.service(name)
        if info is not None and info.running:
            self.became_ready(name)

    def on_timer_kill(self, name: str) -> None:
        if name not in self.stopping:
            return
        info = self.dp.mirror.service(name)
        scope = 'cgroup' if info is not None and info.cgroup is not None else 'group'
        self.log(name, 'still running after its stop timeout: SIGKILL (%s)' % scope)
        self.send('service.signal', name, 'SIGKILL', scope)

    def on_timer_shutdown(self, name: str) -> None:
        left = [n for n in self.managed_names() if n in self.stopping or self.running(n)]
        self.log('controller', 'shutdown deadline passed; SIGKILL to %d services: %s'
                 % (len(left), ' '.join(left[:10])))
        for n in left:
            self.stopping[n] = 'shutdown'
            self.on_timer_kill(n)
        self.set_timer('terminate', 'controller', KILL_GRACE)

    def on_timer_terminate(self, name: str) -> None:
        self.terminate()

    # --- stopping -------------------------------------------------------------------

    def stop(self, name: str, purpose: StopPurpose) -> None:
        """Stop name (purpose: see StopPurpose); finish_stop
        follows when it is down (and its cgroup empty)."""
        svc = self.cfg.services.get(name) or self.removed.get(name) or _placeholder(name)
        info = self.dp.mirror.service(name)
        self.stopping[name] = purpose
        self.waiting.pop(name, None)
        self.starting.discard(name)
        state = info.state.state if info else 'down'
        if state == 'start':
            self.log(name, 'pending start cancelled (%s)' % purpose)
            self.send('service.start', name, '-')
        elif state == 'up':
            # the whole process group (the service leads one), or the whole
            # cgroup: a stopped service leaves no child behind
            scope = 'cgroup' if info.cgroup is not None else 'group'
            self.log(name, 'stopping (%s): %s to the %s, SIGKILL after %ss'
                     % (purpose, svc.stop_signal, scope, svc.stop_timeout))
            self.send('service.signal', name, svc.stop_signal, scope)
            self.set_timer('kill', name, svc.stop_timeout)
        elif info is not None and info.cgroup == 'populated':
            self.log(name, 'main process gone, cgroup populated: SIGKILL (cgroup)')
            self.send('service.signal', name, 'SIGKILL', 'cgroup')
        else:
            self.finish_stop(name)

    def finish_stop(self, name: str) -> None:
        purpose = self.stopping.pop(name, None)
        self.cancel_timer('kill', name)
        if purpose is None:
            return
        if purpose == 'shutdown':
            self.log(name, 'stopped')
            self.shutdown_step()
        elif purpose == 'remove':
            old = self.removed.pop(name, None)
            self.log(name, 'stopped and deleted (no longer configured)')
            self.send('service.delete', name)
            self.failures.pop(name, None)
            if old is not None and old.logger_of:
                for h in old.pipe:
                    self.send('fd.delete', h)
                    self.pipes_made.discard(h)
        elif purpose == 'change':
            svc = self.cfg.services.get(name)
            if svc is not None and self.shutdown_code is None:
                self.failures[name] = 0
                self.define(svc)
                self.waiting[name] = 'definition changed'
                self.try_start([name])

    def cancel_pending_starts(self) -> None:
        for name in self.managed_names():
            info = self.dp.mirror.service(name)
            if info is not None and info.state.state == 'start' and name not in self.stopping:
                self.log(name, 'pending start cancelled (shutdown)')
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
        self.set_timer('shutdown', 'controller', self.cfg.shutdown_timeout)
        self.waiting.clear()
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
        left = [n for n in self.managed_names() if n in self.stopping or self.running(n)]
        if not left:
            self.terminate()
            return
        busy = set(left)
        for name in left:
            if name in self.stopping:
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

    def reload(self) -> None:
        """SIGHUP: re-read the file and apply the difference."""
        try:
            new = load(self.cfg.path)
        except ConfigError as e:
            for p in e.problems:
                self.log('controller', 'reload: ' + p)
            self.log('controller', 'reload: bad file, keeping the running configuration')
            return
        old = self.cfg
        self.log('controller', 'reload: %d services (was %d)'
                 % (len(new.services), len(old.services)))
        self.cfg = new
        self.dependents = new.dependents()
        for name, svc in old.services.items():
            if name not in new.services:
                self.removed[name] = svc
                self.waiting.pop(name, None)
                self.log(name, 'removed from the file')
                self.stop(name, 'remove')
        for name, svc in new.services.items():
            info = self.dp.mirror.service(name)
            if name not in old.services and name not in self.stopping:
                self.log(name, 'added to the file')
                self.define(svc, fresh=info is None)
                self.waiting[name] = 'added by reload'
            elif name in old.services and old.services[name].hash != svc.hash:
                self.log(name, 'definition changed')
                if info is not None and info.state.state in ('up', 'start'):
                    self.stop(name, 'change')
                else:
                    self.define(svc)
                    self.waiting[name] = 'definition changed'
        self.try_start(list(self.waiting))


def _placeholder(name: str) -> Service:
    return Service(name, ('true',))
