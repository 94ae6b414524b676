"""The one connection to daemonproxy, in a thread of its own.

The library's Client is not thread-safe, so one thread owns it: it reads
events into the model, flushes the model's batches every FLUSH_INTERVAL,
and runs the actions the HTTP threads queue (:meth:`Feed.act`).  A lost
connection (daemon restarted, socket gone) is retried with a back-off
from 0.1 s to 5 s; each new connection starts with a statedump (the
library's resync), after which the model sends every SSE client a fresh
snapshot.

Actions go through the desired state exactly as ``dpctl start / stop /
restart`` (cli/main.c act()): start is ``service.want→NAME→up`` (and
``service.start`` for a pending start); stop is ``service.want→NAME→down``
then the stop_signal= tag's signal (SIGTERM) and SIGKILL to the process
group after the stop_timeout= tag's seconds (10); restart is a stop with
the reason "restart", then, once the run is over, want up (and a start if
it is pending).  The answer goes back once the commands are accepted; the
outcome shows in the events that follow.
"""

from __future__ import annotations

import queue
import traceback
import socket
import struct
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..client import Client
from ..errors import (
    CommandError, ConnectionClosed, DaemonProxyError, InvalidArgument, UntrustedSocket,
)
from ..events import EventsDropped, RawEvent, Resynced
from .model import FLUSH_INTERVAL, Model

__all__ = ['Feed', 'ActionError', 'VERBS']

VERBS = ('start', 'stop', 'restart')
_BACKOFF_MIN, _BACKOFF_MAX = 0.1, 5.0
_DEFAULT_STOP_TIMEOUT = 10.0
# The longest the feed waits for input before looking at its action queue
# when nothing else is due: an action waits at most this long to begin.
_POLL = 0.05
# The wait for a reply (a 10,000-service statedump on a busy box included).
_TIMEOUT = 30.0
# Events handled before the feed looks at the clock again: a flood never
# holds back the flushes and the actions.
_EVENTS_PER_TURN = 5000


class ActionError(Exception):
    """An action refused: status is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Pending:
    """A stop in progress: SIGKILL at kill_at if pid still runs; then, for
    a restart, want up once it is over."""

    __slots__ = ('name', 'pid', 'kill_at', 'restart', 'killed')

    def __init__(self, name: str, pid: Optional[int], kill_at: float, restart: bool) -> None:
        self.name, self.pid, self.kill_at, self.restart = name, pid, kill_at, restart
        self.killed = False


class Feed:
    def __init__(self, model: Model, socket_path: Optional[str],
                 connect: Callable[..., Client] = Client.connect) -> None:
        self.model = model
        self.path = socket_path
        self._connect = connect
        self._actions: 'queue.Queue[Tuple[str, str, queue.Queue]]' = queue.Queue()
        self._pending: List[_Pending] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='dpweb-feed', daemon=True)
        self.error: Optional[str] = None       # the last connection problem, for the log
        self.log: Callable[[str], None] = lambda msg: None

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)

    # --- from the HTTP threads ---------------------------------------------------

    def act(self, verb: str, name: str, timeout: float = 10.0) -> Dict[str, Any]:
        """Run the action in the feed thread; returns its answer or raises
        ActionError."""
        if verb not in VERBS:
            raise ActionError(404, 'no such action')
        answer: 'queue.Queue[Any]' = queue.Queue(1)
        self._actions.put((verb, name, answer))
        try:
            got = answer.get(timeout=timeout)
        except queue.Empty:
            raise ActionError(504, 'daemonproxy did not answer in time') from None
        if isinstance(got, ActionError):
            raise got
        return got

    # --- the thread ------------------------------------------------------------

    def _run(self) -> None:
        delay = _BACKOFF_MIN
        while not self._stop.is_set():
            try:
                c = self._connect(self.path, timeout=_TIMEOUT, sync=False)
            except UntrustedSocket as e:
                self._problem(str(e))
            except (OSError, DaemonProxyError) as e:
                self._problem('cannot connect to %s: %s' % (self.path, e))
            else:
                delay = _BACKOFF_MIN
                try:
                    self._serve(c)
                except (ConnectionClosed, OSError, DaemonProxyError) as e:
                    self._problem('connection to daemonproxy lost: %s' % e)
                except Exception:                   # a bug: said, then a new start
                    self._problem('internal error:\n' + traceback.format_exc())
                finally:
                    c.close()
                    self.model.set_connected(False)
                    self.model.flush()
                    self._pending.clear()
            self._fail_actions(ActionError(503, 'not connected to daemonproxy'))
            self._stop.wait(delay)
            delay = min(delay * 2, _BACKOFF_MAX)

    def _problem(self, msg: str) -> None:
        if msg != self.error:
            self.log(msg)
        self.error = msg

    def _serve(self, c: Client) -> None:
        model = self.model
        exits: Dict[str, str] = {}
        c.resync()                  # the statedump: its service.exits lines, then Resynced
        model.note_command()
        model.set_connected(True, _peer_pid(c))
        if self.error is not None:
            self.log('connected to %s' % self.path)
            self.error = None
        next_flush = time.monotonic() + FLUSH_INTERVAL
        while not self._stop.is_set():
            now = time.monotonic()
            wait = _POLL
            if model.pending:
                wait = min(wait, max(0.0, next_flush - now))
            ev = c.next_event(wait)
            budget = _EVENTS_PER_TURN
            while ev is not None:
                t = type(ev)
                if t is RawEvent:
                    if ev.line.startswith('service.exits\t'):        # type: ignore
                        exits[ev.line.split('\t', 2)[1]] = ev.line    # type: ignore
                elif t is Resynced:
                    model.resynced(c.mirror, exits)                  # type: ignore[arg-type]
                    exits = {}
                    model.flush()           # the new picture at once, not in 0.15 s
                    next_flush = time.monotonic() + FLUSH_INTERVAL
                elif t is EventsDropped:
                    model.refresh()         # the mirror has them all; rows from it
                else:
                    model.event(ev)
                budget -= 1
                ev = c.next_event(0) if budget > 0 else None
            now = time.monotonic()
            if now >= next_flush:
                model.flush()
                next_flush = now + FLUSH_INTERVAL
            self._pending_step(c)
            while True:
                try:
                    verb, name, answer = self._actions.get_nowait()
                except queue.Empty:
                    break
                try:
                    answer.put(self._action(c, verb, name))
                except ActionError as e:
                    answer.put(e)
                except CommandError as e:
                    answer.put(ActionError(409, e.message))
                except InvalidArgument as e:
                    answer.put(ActionError(400, str(e)))
                except BaseException:
                    # the connection failed meanwhile: answered, then a new one
                    answer.put(ActionError(503, 'connection to daemonproxy lost'))
                    raise

    def _fail_actions(self, err: ActionError) -> None:
        while True:
            try:
                _, _, answer = self._actions.get_nowait()
            except queue.Empty:
                return
            answer.put(err)

    # --- actions ---------------------------------------------------------------

    def _action(self, c: Client, verb: str, name: str) -> Dict[str, Any]:
        m = c.mirror
        if m is None or not m.synced:
            raise ActionError(503, 'not in sync with daemonproxy yet')
        info = m.service(name)
        if info is None:
            raise ActionError(404, 'no such service')
        why = 'restart' if verb == 'restart' else 'dpweb'
        if verb == 'start':
            self._want_up(c, name, why)
            return {'ok': True, 'action': verb, 'service': name}
        self._pending = [p for p in self._pending if p.name != name]
        c.want(name, 'down', why)
        self.model.note_command()
        pid = info.pid
        sig, timeout = _stop_tags(info.tags)
        if pid is not None:
            try:
                c.service_signal(name, sig)
            except CommandError as e:
                if not e.message.endswith('is not running'):
                    try:
                        c.service_signal(name, 'SIGTERM')   # a tag the daemon refuses
                    except CommandError:
                        pass
            self.model.note_command()
        self._pending.append(_Pending(name, pid, time.monotonic() + timeout, verb == 'restart'))
        self._pending_step(c)
        return {'ok': True, 'action': verb, 'service': name}

    def _want_up(self, c: Client, name: str, why: str) -> None:
        c.want(name, 'up', why)
        self.model.note_command()
        info = c.mirror.service(name) if c.mirror is not None else None
        if info is not None and info.state.state == 'start':
            try:
                c.service_start(name)
                self.model.note_command()
            except CommandError:
                pass            # the pending start came first

    def _pending_step(self, c: Client) -> None:
        if not self._pending or c.mirror is None:
            return
        now = time.monotonic()
        keep = []
        for p in self._pending:
            info = c.mirror.service(p.name)
            if info is None:
                continue
            over = p.pid is None or info.pid != p.pid
            if over and info.cgroup != 'populated':
                if p.restart:
                    try:
                        self._want_up(c, p.name, 'restart')
                    except CommandError:
                        pass
                continue
            if now >= p.kill_at and not p.killed:
                p.killed = True
                for scope in ('cgroup' if info.cgroup is not None else 'group', None):
                    try:
                        c.service_signal(p.name, 'SIGKILL', scope)
                        self.model.note_command()
                        break
                    except CommandError:
                        continue
            keep.append(p)
        self._pending = keep


def _stop_tags(tags) -> Tuple[str, float]:
    """The stop_signal= and stop_timeout= tags a controller publishes
    (docs/dpctl.1), else SIGTERM and 10 s."""
    sig, timeout = 'SIGTERM', _DEFAULT_STOP_TIMEOUT
    for t in tags:
        if t.startswith('stop_signal=') and len(t) > 12:
            sig = t[12:]
        elif t.startswith('stop_timeout='):
            try:
                v = float(t[13:])
                if 0 <= v <= 86400:
                    timeout = v
            except ValueError:
                pass
    return sig, timeout


_UCRED = struct.Struct('3i')


def _peer_pid(c: Client) -> Optional[int]:
    """The pid of the daemon at the other end of c (SO_PEERCRED)."""
    if c.sock is None:
        return None
    try:
        pid = _UCRED.unpack(c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                              _UCRED.size))[0]
    except OSError:
        return None
    return pid if pid > 0 else None
