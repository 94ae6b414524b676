"""A mirror of daemonproxy's state, kept current from events.

The daemon's state is its services (definition, process state, readiness),
its handles and its pending signal counts.  A statedump lists all of it as
the events that would recreate it, and every change is broadcast as an
event, so applying a statedump and then every event in order keeps an
exact copy.  :class:`Mirror` does that: :meth:`Mirror.apply` takes each
event; :meth:`Mirror.begin_rebuild` / :meth:`Mirror.end_rebuild` bracket
a statedump (the clients do both for you, and resync after an
``overflow`` or a reconnect).

Three things are not announced by the daemon and are derived here the way
the daemon derives them: a pipe whose peer was deleted or replaced shows
``?`` as its peer, readiness (READY=1, STATUS=, MAINPID=) is forgotten
when a service goes down, and MAINPID= at the ``orphan`` event of that
process (the daemon reaped it: its pid may soon be another process's).  Signal counts drop without an event when some
controller sends ``signal.clear``: the mirror only knows of the clears
sent through its own client, so a count may be higher than the daemon's
until the next resync.

:meth:`Mirror.dump_lines` renders the mirror back into the lines a
statedump would print, in the same order.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from typing import Callable, Dict, Iterator, List, Optional, Set, Tuple

from .events import (
    DUMP_KINDS, HELD_WANTS, READINESS_STATES, Event, FdState, Orphan, ServiceArgs, ServiceAutoUp,
    ServiceCgroup, ServiceEnv, ServiceFds, ServiceNotify, ServiceOpts, ServiceState, ServiceTags,
    ServiceWant, Signal, parse_fields,
)
from .protocol import CONTROL_SIGNALS

__all__ = ['Mirror', 'ServiceInfo']

if sys.version_info >= (3, 10):
    _record = dataclass(slots=True)
else:                                                   # pragma: no cover
    _record = dataclass

_DEFAULT_FDS = ('null', 'null', 'null')
_INT_MAX = 2 ** 31 - 1


@_record
class ServiceInfo:
    """What the mirror knows of one service.

    ``state`` is its latest :class:`~daemonproxy.events.ServiceState`.
    The definition: ``args``, ``fds``, ``tags``, ``env``, ``opts`` (tuples
    of fields), ``interval`` and ``triggers`` (auto-up; interval None when
    disabled).  Readiness, for the current run only: ``readiness`` (the
    latest of ``'READY=1'``, ``'RELOADING=1'``, ``'STOPPING=1'``, or None),
    ``status`` (the text of the last STATUS=), ``mainpid``, ``notify_ts``
    and ``notify_pid`` (time and sender of the last message).
    ``cgroup`` is ``'empty'``, ``'populated'`` or None (no --cgroup).
    The desired state (docs/protocol.md, "Desired state"): ``want``
    (``'up'``, ``'down'``, ``'failed'``, or None: no desire), ``want_by``
    (who asked: ``uid=N``, ``controller``, ``stdin``), ``want_since`` (its
    monotonic second) and ``want_why`` (its text); all None without one.
    """

    name: str
    state: ServiceState
    args: Tuple[str, ...] = ()
    fds: Tuple[str, ...] = _DEFAULT_FDS
    tags: Tuple[str, ...] = ()
    interval: Optional[int] = None
    triggers: Tuple[str, ...] = ()
    env: Tuple[str, ...] = ()
    opts: Tuple[str, ...] = ()
    readiness: Optional[str] = None
    status: Optional[str] = None
    mainpid: Optional[int] = None
    notify_ts: Optional[int] = None
    notify_pid: Optional[int] = None
    cgroup: Optional[str] = None
    cgroup_ts: Optional[int] = None
    want: Optional[str] = None
    want_by: Optional[str] = None
    want_since: Optional[int] = None
    want_why: Optional[str] = None

    @property
    def running(self) -> bool:
        """True while the service's process runs (state ``up``)."""
        return self.state.state == 'up'

    @property
    def ready(self) -> bool:
        """True once the current run has sent READY=1 (and not since
        RELOADING=1 or STOPPING=1)."""
        return self.readiness == 'READY=1'

    @property
    def pid(self) -> Optional[int]:
        """The pid of the running process, else None."""
        return self.state.pid if self.state.state == 'up' else None

    @property
    def held(self) -> bool:
        """True while wanted ``down`` or ``failed``: nothing may start it
        but a ``service.want→NAME→up``."""
        return self.want in HELD_WANTS

    @property
    def auto_up(self) -> ServiceAutoUp:
        return ServiceAutoUp(self.name, self.interval if self.triggers else None, self.triggers)

    def forget_readiness(self) -> None:
        self.readiness = self.status = self.mainpid = self.notify_ts = self.notify_pid = None

    def dump_lines(self, now: Optional[int] = None) -> List[str]:
        """The lines a statedump prints for this service.  With ``now`` (a
        monotonic second), UPTIME of a running service and DOWNTIME of a
        stopped one are computed for that time, as the daemon does."""
        st = self.state
        if now is not None and st.ts is not None:
            if st.state == 'up':
                st = replace(st, uptime=max(0, now - st.ts))
            elif st.state == 'down':
                st = replace(st, downtime=max(0, now - st.ts))
        name = self.name
        out = [st.to_line(),
               ServiceTags(name, self.tags).to_line(),
               ServiceArgs(name, self.args).to_line(),
               ServiceFds(name, self.fds).to_line(),
               self.auto_up.to_line()]
        if self.env:
            out.append(ServiceEnv(name, self.env).to_line())
        if self.opts:
            out.append(ServiceOpts(name, self.opts).to_line())
        if self.want is not None:
            out.append(ServiceWant(name, self.want, self.want_by or '', self.want_since or 0,
                                   self.want_why or '').to_line())
        if self.state.state == 'up' and self.notify_ts is not None:
            f = ['service.notify', name, str(self.notify_ts), str(self.notify_pid),
                 self.readiness or '-']
            if self.status is not None:
                f.append('STATUS=' + self.status)
            if self.mainpid is not None:
                f.append('MAINPID=%d' % self.mainpid)
            out.append('\t'.join(f))
        if self.cgroup is not None:
            out.append('\t'.join(('service.cgroup', name, str(self.cgroup_ts), self.cgroup)))
        return out


class _State:
    """One complete picture: the mirror's current one, or one being rebuilt."""

    __slots__ = ('services', 'handles', 'signals', 'refs')

    def __init__(self) -> None:
        self.services: Dict[str, ServiceInfo] = {}
        self.handles: Dict[str, FdState] = {}
        self.signals: Dict[str, Signal] = {}
        # pipe peers: name -> the pipes whose description names it
        self.refs: Dict[str, Set[str]] = {}


def _new_service(name: str) -> ServiceInfo:
    return ServiceInfo(name, ServiceState(name, 'down'))


class Mirror:
    """daemonproxy's services, handles and signals, kept current from events.

    ``services`` maps names to :class:`ServiceInfo`, ``handles`` names to
    their latest :class:`~daemonproxy.events.FdState`, ``signals`` signal
    names to their latest :class:`~daemonproxy.events.Signal` (pending
    counts above 0 only).  ``synced`` is True once a statedump has been
    applied completely and no ``overflow`` came since; ``generation``
    counts completed rebuilds.
    """

    def __init__(self) -> None:
        self._live = _State()
        self._target = self._live          # where apply() writes
        self.synced = False
        self.generation = 0
        # While a statedump rebuilds the picture: one tuple for every equal
        # definition value (services share their fds, options, often their
        # args): less memory, and fewer objects for the garbage collector.
        self._shared: Optional[Dict[tuple, tuple]] = None
        self._apply: Dict[type, Callable[[_State, Event], None]] = {
            ServiceState: self._on_state,
            ServiceArgs: self._on_args,
            ServiceFds: self._on_fds,
            ServiceTags: self._on_tags,
            ServiceEnv: self._on_env,
            ServiceOpts: self._on_opts,
            ServiceAutoUp: self._on_auto_up,
            ServiceNotify: self._on_notify,
            ServiceCgroup: self._on_cgroup,
            ServiceWant: self._on_want,
            Orphan: self._on_orphan,
            FdState: self._on_fd,
            Signal: self._on_signal,
        }

    # --- reading ----------------------------------------------------------

    @property
    def services(self) -> Dict[str, ServiceInfo]:
        return self._live.services

    @property
    def handles(self) -> Dict[str, FdState]:
        return self._live.handles

    @property
    def signals(self) -> Dict[str, Signal]:
        return self._live.signals

    def service(self, name: str) -> Optional[ServiceInfo]:
        """The service called name, or None."""
        return self._live.services.get(name)

    def __iter__(self) -> Iterator[ServiceInfo]:
        """The services, sorted by name."""
        s = self._live.services
        return (s[k] for k in sorted(s))

    def dump_lines(self, now: Optional[int] = None) -> List[str]:
        """The mirror as the lines a statedump prints, in the same order:
        handles, services (see ServiceInfo.dump_lines for ``now``),
        signals."""
        st = self._live
        out = [st.handles[k].to_line() for k in sorted(st.handles, key=_name_key)]
        for k in sorted(st.services, key=_name_key):
            out.extend(st.services[k].dump_lines(now))
        for name in CONTROL_SIGNALS:
            sig = st.signals.get(name)
            if sig is not None and sig.count > 0:
                out.append(sig.to_line())
        return out

    # --- keeping it current ----------------------------------------------

    def apply_fields(self, f: List[str]) -> bool:
        """Apply one line of a statedump given as its fields
        (``line.split('\\t')``): what ``apply(parse_event(line))`` does,
        without making event objects for the definition lines (for a
        statedump read only to rebuild the mirror: most of its lines).
        False, and nothing applied, if f is not a line a statedump prints
        (:data:`~daemonproxy.events.DUMP_KINDS`) or is malformed."""
        n = len(f)
        attr = _LIST_ATTRS.get(f[0])
        if attr is not None:
            if n < 2:
                return False
            value = () if n == 3 and not f[2] else tuple(f[2:])
            shared = self._shared
            if shared is not None:
                value = shared.setdefault(value, value)
            services = self._target.services
            s = services.get(f[1])
            if s is None:
                s = services[f[1]] = _new_service(f[1])
            setattr(s, attr, value)
            return True
        if f[0] == 'service.auto_up':
            if n < 3:
                return False
            if f[2] == '-':
                if n != 3:
                    return False
                interval = None
            else:
                try:
                    interval = int(f[2])
                except ValueError:
                    return False
            s = self._service(self._target, f[1])
            if interval is not None:
                s.interval = interval
            s.triggers = tuple(f[3:])
            return True
        if f[0] not in DUMP_KINDS:
            return False
        ev = parse_fields(f)
        if ev is None:
            return False
        self._apply[type(ev)](self._target, ev)
        return True

    def apply(self, ev: Event) -> None:
        """Apply one event (other kinds of event are ignored)."""
        fn = self._apply.get(type(ev))
        if fn is not None:
            fn(self._target, ev)

    def begin_rebuild(self) -> None:
        """A statedump starts: from now on events build a fresh picture."""
        self._target = _State()
        self._shared = {}

    def end_rebuild(self) -> None:
        """The statedump is complete: the fresh picture becomes current."""
        self._live = self._target
        self._shared = None
        self.synced = True
        self.generation += 1

    def abort_rebuild(self) -> None:
        """The statedump was cut short (overflow, lost connection)."""
        self._target = self._live
        self._shared = None
        self.synced = False

    def invalidate(self) -> None:
        """Events were lost: the picture is out of date until a rebuild."""
        self.synced = False

    @property
    def rebuilding(self) -> bool:
        return self._target is not self._live

    def clear_signal(self, name: str, count: int) -> None:
        """Our own ``signal.clear``: subtract count (stopping at 0)."""
        for st in {id(self._live): self._live, id(self._target): self._target}.values():
            sig = st.signals.get(name)
            if sig is None:
                continue
            left = sig.count - count
            if left > 0:
                st.signals[name] = replace(sig, count=left)
            else:
                del st.signals[name]

    # --- one handler per event type ----------------------------------------

    @staticmethod
    def _service(st: _State, name: str) -> ServiceInfo:
        s = st.services.get(name)
        if s is None:
            s = st.services[name] = _new_service(name)
        return s

    def _on_state(self, st: _State, ev: ServiceState) -> None:   # type: ignore[override]
        if ev.state == 'deleted':
            st.services.pop(ev.name, None)
            return
        s = st.services.get(ev.name)
        if s is None:
            st.services[ev.name] = ServiceInfo(ev.name, ev)
            return
        s.state = ev
        if ev.state != 'up':
            s.forget_readiness()

    def _on_args(self, st: _State, ev: ServiceArgs) -> None:
        self._service(st, ev.name).args = ev.args

    def _on_fds(self, st: _State, ev: ServiceFds) -> None:
        self._service(st, ev.name).fds = ev.fds

    def _on_tags(self, st: _State, ev: ServiceTags) -> None:
        self._service(st, ev.name).tags = ev.tags

    def _on_env(self, st: _State, ev: ServiceEnv) -> None:
        self._service(st, ev.name).env = ev.entries

    def _on_opts(self, st: _State, ev: ServiceOpts) -> None:
        self._service(st, ev.name).opts = ev.opts

    def _on_auto_up(self, st: _State, ev: ServiceAutoUp) -> None:
        s = self._service(st, ev.name)
        if ev.interval is not None:
            s.interval = ev.interval
        s.triggers = ev.triggers

    def _on_notify(self, st: _State, ev: ServiceNotify) -> None:
        s = st.services.get(ev.name)
        if s is None:
            return      # not yet listed by a statedump in progress: it will be
        s.notify_ts = ev.ts
        s.notify_pid = ev.pid
        for a in ev.assignments:
            if a in READINESS_STATES:
                s.readiness = a
            elif a.startswith('STATUS='):
                s.status = a[7:]
            elif a.startswith('MAINPID=') and a[8:].isdigit() and 2 <= int(a[8:]) <= _INT_MAX:
                s.mainpid = int(a[8:])

    def _on_cgroup(self, st: _State, ev: ServiceCgroup) -> None:
        s = st.services.get(ev.name)
        if s is not None:
            s.cgroup = ev.state
            s.cgroup_ts = ev.ts

    def _on_want(self, st: _State, ev: ServiceWant) -> None:
        s = st.services.get(ev.name)
        if s is None:
            return      # a want never creates a service
        if ev.want is None:
            s.want = s.want_by = s.want_since = s.want_why = None
        else:
            s.want, s.want_by, s.want_since, s.want_why = ev.want, ev.by, ev.ts, ev.why

    def _on_orphan(self, st: _State, ev: Orphan) -> None:
        s = st.services.get(ev.service) if ev.service else None
        if s is not None and s.mainpid == ev.pid:
            s.mainpid = None

    def _on_fd(self, st: _State, ev: FdState) -> None:
        name = ev.name
        handles, refs = st.handles, st.refs
        old = handles.get(name)
        if old is not None and old.type == 'pipe':
            peers = refs.get(old.description)           # type: ignore[arg-type]
            if peers is not None:
                peers.discard(name)
        # pipes whose peer was the old handle of this name lose their peer
        pointing = refs.pop(name, None)
        if pointing:
            keep = ev.description if ev.type == 'pipe' else None
            for p in pointing:
                if p == keep:
                    refs[name] = {p}
                else:
                    h = handles.get(p)
                    if h is not None and h.description == name:
                        handles[p] = replace(h, description='?')
        if ev.type == 'deleted':
            handles.pop(name, None)
            return
        handles[name] = ev
        if ev.type == 'pipe' and ev.description != '?':
            r = refs.get(ev.description)                # type: ignore[arg-type]
            if r is None:
                refs[ev.description] = {name}           # type: ignore[index]
            else:
                r.add(name)

    def _on_signal(self, st: _State, ev: Signal) -> None:
        if ev.count > 0:
            st.signals[ev.signal] = ev
        else:
            st.signals.pop(ev.signal, None)


_LIST_ATTRS = {'service.tags': 'tags', 'service.args': 'args', 'service.fds': 'fds',
               'service.env': 'env', 'service.opts': 'opts'}


def _name_key(name: str) -> bytes:
    # the daemon sorts names by their bytes
    return name.encode('utf-8', 'surrogateescape')
