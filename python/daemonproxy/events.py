"""Event lines parsed into typed, immutable objects.

:func:`parse_event` turns one line (without its newline) into an instance
of one of the classes below.  It never raises: a line it does not know, or
one whose fields do not fit its kind, becomes a :class:`RawEvent` that
keeps the line.  Every event can be turned back into its line with
``to_line()``; a field shown as ``-`` by the daemon is ``None`` here.

===============================  ==========================================
line                             class
===============================  ==========================================
``service.state``                :class:`ServiceState`
``service.args`` / ``.fds`` /    :class:`ServiceArgs`, :class:`ServiceFds`,
``.tags`` / ``.env`` / ``.opts`` :class:`ServiceTags`, :class:`ServiceEnv`,
                                 :class:`ServiceOpts`
``service.auto_up``              :class:`ServiceAutoUp`
``service.notify``               :class:`ServiceNotify`
``service.cgroup``               :class:`ServiceCgroup`
``service.want``                 :class:`ServiceWant`
``ctl.request`` (served)         :class:`CtlRequest`
``ctl.request`` (a reply)        :class:`CtlRequestId`
``ctl.reply``                    :class:`CtlReply`
``fd.state``                     :class:`FdState`
``signal``                       :class:`Signal`
``orphan``                       :class:`Orphan`
``overflow``                     :class:`Overflow`
``error`` / ``warning``          :class:`Error`, :class:`WarningEvent`
``log.filter`` (a reply)         :class:`LogFilter`
anything else (echo replies...)  :class:`RawEvent`
===============================  ==========================================

:class:`Resynced` is made by the library, never parsed: it follows the end
of a statedump that rebuilt the state mirror.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable, ClassVar, Dict, List, Optional, Tuple, Union

__all__ = [
    'Event', 'ServiceState', 'ServiceArgs', 'ServiceFds', 'ServiceTags', 'ServiceAutoUp',
    'ServiceEnv', 'ServiceOpts', 'ServiceNotify', 'ServiceCgroup', 'ServiceWant', 'FdState',
    'Signal', 'Orphan', 'CtlRequest', 'CtlRequestId', 'CtlReply', 'Overflow', 'Error',
    'WarningEvent', 'LogFilter', 'RawEvent', 'Resynced', 'EventsDropped',
    'parse_event', 'parse_fields', 'READINESS_STATES', 'DUMP_KINDS', 'WANTS', 'HELD_WANTS',
    'CTL_STATUSES',
]

if sys.version_info >= (3, 10):
    _event = dataclass(frozen=True, slots=True)
else:                                                   # pragma: no cover
    _event = dataclass(frozen=True)

#: The assignments of service.notify that set a readiness state.
READINESS_STATES = ('READY=1', 'RELOADING=1', 'STOPPING=1')

#: The kinds of line a statedump prints (its reply: handles, services,
#: signals); a Mirror applies each of them.
DUMP_KINDS = frozenset(('service.state', 'service.tags', 'service.args', 'service.fds',
                        'service.auto_up', 'service.env', 'service.opts', 'service.notify',
                        'service.cgroup', 'service.want', 'fd.state', 'signal'))

#: What ``service.want`` records (None for ``-``: no desire).
WANTS = ('up', 'down', 'failed')
#: The wants that keep a service from being started (docs/protocol.md,
#: "Desired state: a convention for controllers").
HELD_WANTS = ('down', 'failed')
#: The statuses of a ``ctl.reply``: ``info`` is progress, the others final.
CTL_STATUSES = ('ok', 'error', 'info')


def _dash(v: object) -> str:
    return '-' if v is None else str(v)


class Event:
    """Base class of every event.  ``kind`` is the first field of its line."""

    __slots__ = ()
    kind: ClassVar[str] = ''

    def fields(self) -> List[str]:
        """The fields of the line this event stands for."""
        raise NotImplementedError

    def to_line(self) -> str:
        """The line (without newline) this event stands for."""
        return '\t'.join(self.fields())


@_event
class ServiceState(Event):
    """``service.state→NAME→STATE→TS→PID→REASON→VALUE→UPTIME→DOWNTIME``.

    ``state`` is ``down``, ``start``, ``up`` or ``deleted``.  ``ts`` is the
    monotonic second of the change (of the pending start, for ``start``);
    ``reason`` is ``exit`` or ``signal`` and ``value`` the exit code (int)
    or the signal name (``'SIGKILL'``).  Fields that do not apply are None.
    """

    name: str
    state: str
    ts: Optional[int] = None
    pid: Optional[int] = None
    reason: Optional[str] = None
    value: Union[int, str, None] = None
    uptime: Optional[int] = None
    downtime: Optional[int] = None
    kind: ClassVar[str] = 'service.state'

    @property
    def running(self) -> bool:
        """True for ``up``."""
        return self.state == 'up'

    @property
    def exit_code(self) -> Optional[int]:
        """The exit code of the last run, if it exited."""
        return self.value if self.reason == 'exit' else None   # type: ignore[return-value]

    @property
    def signal(self) -> Optional[str]:
        """The signal that killed the last run, if one did."""
        return self.value if self.reason == 'signal' else None  # type: ignore[return-value]

    def fields(self) -> List[str]:
        return ['service.state', self.name, self.state, _dash(self.ts), _dash(self.pid),
                _dash(self.reason), _dash(self.value), _dash(self.uptime),
                _dash(self.downtime)]


@_event
class ServiceArgs(Event):
    """``service.args→NAME→ARG…``: the argv (empty: unset)."""

    name: str
    args: Tuple[str, ...] = ()
    kind: ClassVar[str] = 'service.args'

    def fields(self) -> List[str]:
        return ['service.args', self.name] + (list(self.args) or [''])


@_event
class ServiceFds(Event):
    """``service.fds→NAME→HANDLE…``: the handles that become fds 0, 1, …
    (``-``: a closed fd; empty: no fds at all)."""

    name: str
    fds: Tuple[str, ...] = ()
    kind: ClassVar[str] = 'service.fds'

    def fields(self) -> List[str]:
        return ['service.fds', self.name] + (list(self.fds) or [''])


@_event
class ServiceTags(Event):
    """``service.tags→NAME→TAG…``: free-form metadata."""

    name: str
    tags: Tuple[str, ...] = ()
    kind: ClassVar[str] = 'service.tags'

    def fields(self) -> List[str]:
        return ['service.tags', self.name] + (list(self.tags) or [''])


@_event
class ServiceEnv(Event):
    """``service.env→NAME→ENTRY…``: ``VAR=VALUE`` and ``-VAR`` entries."""

    name: str
    entries: Tuple[str, ...] = ()
    kind: ClassVar[str] = 'service.env'

    def fields(self) -> List[str]:
        return ['service.env', self.name] + (list(self.entries) or [''])

    def as_dict(self) -> Dict[str, Optional[str]]:
        """VAR -> VALUE, or None for a removed ``-VAR``."""
        out: Dict[str, Optional[str]] = {}
        for e in self.entries:
            if e.startswith('-'):
                out[e[1:]] = None
            else:
                k, _, v = e.partition('=')
                out[k] = v
        return out


@_event
class ServiceOpts(Event):
    """``service.opts→NAME→OPT…``: ``notify``, ``listen-fds``, ``fdstore=N``,
    and the execution attributes (``user=…``, ``limit-nofile=…``, …)."""

    name: str
    opts: Tuple[str, ...] = ()
    kind: ClassVar[str] = 'service.opts'

    def fields(self) -> List[str]:
        return ['service.opts', self.name] + (list(self.opts) or [''])


@_event
class ServiceAutoUp(Event):
    """``service.auto_up→NAME→INTERVAL→TRIGGER…``, or ``service.auto_up→NAME→-``
    when disabled (then ``interval`` is None and ``triggers`` empty)."""

    name: str
    interval: Optional[int] = None
    triggers: Tuple[str, ...] = ()
    kind: ClassVar[str] = 'service.auto_up'

    @property
    def enabled(self) -> bool:
        return bool(self.triggers)

    def fields(self) -> List[str]:
        if self.interval is None:
            return ['service.auto_up', self.name, '-']
        return ['service.auto_up', self.name, str(self.interval)] + list(self.triggers)


@_event
class ServiceNotify(Event):
    """``service.notify→NAME→TS→PID→ASSIGNMENT…``: a readiness message from a
    process of the service (``READY=1``, ``STATUS=…``, ``MAINPID=…``…), one
    assignment per field.  The statedump replay has the form
    ``service.notify→NAME→TS→PID→STATE→[STATUS=…]→[MAINPID=…]`` where STATE
    may be ``-``; that ``-`` is kept in ``assignments`` as is."""

    name: str
    ts: int
    pid: int
    assignments: Tuple[str, ...] = ()
    kind: ClassVar[str] = 'service.notify'

    def as_dict(self) -> Dict[str, str]:
        """VAR -> VALUE of the assignments (the last one wins)."""
        out: Dict[str, str] = {}
        for a in self.assignments:
            k, eq, v = a.partition('=')
            if eq:
                out[k] = v
        return out

    @property
    def readiness(self) -> Optional[str]:
        """The last of READY=1, RELOADING=1, STOPPING=1 in this message."""
        r = None
        for a in self.assignments:
            if a in READINESS_STATES:
                r = a
        return r

    @property
    def ready(self) -> bool:
        return self.readiness == 'READY=1'

    def fields(self) -> List[str]:
        return ['service.notify', self.name, str(self.ts), str(self.pid)] + list(self.assignments)


@_event
class ServiceCgroup(Event):
    """``service.cgroup→NAME→TS→empty|populated``."""

    name: str
    ts: int
    state: str
    kind: ClassVar[str] = 'service.cgroup'

    @property
    def populated(self) -> bool:
        return self.state == 'populated'

    def fields(self) -> List[str]:
        return ['service.cgroup', self.name, str(self.ts), self.state]


@_event
class ServiceWant(Event):
    """``service.want→NAME→WANT→BY→TS→WHY``: what is wanted of a service
    (docs/protocol.md, "Desired state").  ``want`` is ``'up'``,
    ``'down'``, ``'failed'`` or None (``-``: no desire, the record is
    gone); ``by`` who asked (``uid=N``, ``controller``, ``stdin``); ``ts``
    the monotonic second of the record; ``why`` free text (TABs kept, ``''``
    when none)."""

    name: str
    want: Optional[str]
    by: str
    ts: int
    why: str = ''
    kind: ClassVar[str] = 'service.want'

    @property
    def held(self) -> bool:
        """True for ``down`` and ``failed``: nothing may start it but an ``up``."""
        return self.want in HELD_WANTS

    def fields(self) -> List[str]:
        return ['service.want', self.name, _dash(self.want), self.by, str(self.ts), self.why]


@_event
class CtlRequest(Event):
    """``ctl.request→ID→BY→VERB→ARG…``: a request for a verb this
    connection serves (``ctl.serve``), to be answered with
    ``ctl.reply→ID→STATUS→TEXT`` (``Commands.ctl_reply``).  ``by`` is who
    asked, as for :class:`ServiceWant`."""

    id: int
    by: str
    verb: str
    args: Tuple[str, ...] = ()
    kind: ClassVar[str] = 'ctl.request'

    def fields(self) -> List[str]:
        return ['ctl.request', str(self.id), self.by, self.verb] + list(self.args)


@_event
class CtlRequestId(Event):
    """``ctl.request→ID→VERB``: the daemon's reply to our own
    ``ctl.request``: a controller serves VERB, and its replies will come
    as :class:`CtlReply` lines with this ID."""

    id: int
    verb: str
    kind: ClassVar[str] = 'ctl.request'

    def fields(self) -> List[str]:
        return ['ctl.request', str(self.id), self.verb]


@_event
class CtlReply(Event):
    """``ctl.reply→ID→STATUS→TEXT``: a controller's answer to request ID:
    ``status`` ``'info'`` (progress; more follow) or a final ``'ok'`` or
    ``'error'``; ``text`` its fields, TAB-joined."""

    id: int
    status: str
    text: str = ''
    kind: ClassVar[str] = 'ctl.reply'

    @property
    def final(self) -> bool:
        """True for ``ok`` and ``error``: the request is answered."""
        return self.status != 'info'

    def fields(self) -> List[str]:
        return ['ctl.reply', str(self.id), self.status] + ([self.text] if self.text else [])


@_event
class FdState(Event):
    """``fd.state→NAME→TYPE→FLAGS→DESCRIPTION``.  ``type`` is ``file``,
    ``pipe``, ``socket``, ``special`` or ``deleted`` (then ``flags`` and
    ``description`` are None).  For a pipe, ``description`` is the peer's
    name (``?`` once the peer is gone)."""

    name: str
    type: str
    flags: Optional[str] = None
    description: Optional[str] = None
    kind: ClassVar[str] = 'fd.state'

    @property
    def deleted(self) -> bool:
        return self.type == 'deleted'

    @property
    def flag_set(self) -> Tuple[str, ...]:
        return tuple(self.flags.split(',')) if self.flags else ()

    def fields(self) -> List[str]:
        if self.type == 'deleted':
            return ['fd.state', self.name, 'deleted']
        return ['fd.state', self.name, self.type, self.flags or '', self.description or '']


@_event
class Signal(Event):
    """``signal→SIGNAME→TS→COUNT``: daemonproxy received SIGNAME; ``count``
    is its pending count."""

    signal: str
    ts: int
    count: int
    kind: ClassVar[str] = 'signal'

    def fields(self) -> List[str]:
        return ['signal', self.signal, str(self.ts), str(self.count)]


@_event
class Orphan(Event):
    """``orphan→TS→PID→REASON→VALUE→SERVICE``: a process that was not a
    service's main process was reaped; ``service`` is the one that
    announced it with MAINPID=, else None."""

    ts: int
    pid: int
    reason: str
    value: Union[int, str]
    service: Optional[str] = None
    kind: ClassVar[str] = 'orphan'

    def fields(self) -> List[str]:
        return ['orphan', str(self.ts), str(self.pid), self.reason, str(self.value),
                _dash(self.service)]


@_event
class Overflow(Event):
    """``overflow``: events for this connection were lost."""

    kind: ClassVar[str] = 'overflow'

    def fields(self) -> List[str]:
        return ['overflow']


class _Message(Event):
    __slots__ = ()
    message: str

    @property
    def excerpt(self) -> Optional[str]:
        """The command excerpt of a reply (``..., for command "EXCERPT"``)."""
        i = self.message.rfind(', for command "')
        if i < 0 or not self.message.endswith('"'):
            return None
        return self.message[i + 15:-1]

    @property
    def text(self) -> str:
        """The message without its command excerpt."""
        i = self.message.rfind(', for command "')
        if i < 0 or not self.message.endswith('"'):
            return self.message
        return self.message[:i]

    def fields(self) -> List[str]:
        return [self.kind, self.message]


@_event
class Error(_Message):
    """``error→MESSAGE``: a command failed (a reply, with the command's
    excerpt), or something daemonproxy did on its own failed (broadcast)."""

    message: str
    kind: ClassVar[str] = 'error'


@_event
class WarningEvent(_Message):
    """``warning→MESSAGE`` (named so as not to shadow the builtin Warning)."""

    message: str
    kind: ClassVar[str] = 'warning'


@_event
class LogFilter(Event):
    """``log.filter→LEVEL``: the reply to log.filter."""

    level: str
    kind: ClassVar[str] = 'log.filter'

    def fields(self) -> List[str]:
        return ['log.filter', self.level]


@_event
class RawEvent(Event):
    """A line of no known kind (an echo reply, say), or a malformed one."""

    line: str
    kind: ClassVar[str] = ''

    def fields(self) -> List[str]:
        return self.line.split('\t')

    def to_line(self) -> str:
        return self.line


@_event
class Resynced(Event):
    """Made by the library, never sent by the daemon: a statedump has been
    read completely and the state mirror rebuilt from it (``generation``
    counts the rebuilds)."""

    generation: int = 0
    kind: ClassVar[str] = ''

    def fields(self) -> List[str]:
        return []

    def to_line(self) -> str:
        return ''


@_event
class EventsDropped(Event):
    """Made by the library, never sent by the daemon: ``count`` events were
    not queued for you because ``max_events`` unread ones were waiting
    already (you read them more slowly than they came, or a peer flooded
    the connection).  The state mirror applied every one of them, so it is
    still exact; only the history is lost.  It comes where the dropped
    events would have been."""

    count: int = 0
    kind: ClassVar[str] = ''

    def fields(self) -> List[str]:
        return []

    def to_line(self) -> str:
        return ''


# --- parsing ------------------------------------------------------------------
# One function per kind, given the split fields (and the whole line, or
# None); each returns None (or raises ValueError/IndexError) for a line
# that does not fit.

def _p_state(f: List[str], line: Optional[str]) -> Optional[Event]:
    if len(f) != 9:
        return None
    _, name, state, ts, pid, reason, value, up, down = f
    return ServiceState(
        name, state,
        None if ts == '-' else int(ts),
        None if pid == '-' else int(pid),
        None if reason == '-' else reason,
        None if value == '-' else (int(value) if reason == 'exit' else value),
        None if up == '-' else int(up),
        None if down == '-' else int(down))


def _list_parser(cls: type) -> Callable[[List[str], Optional[str]], Optional[Event]]:
    def parse(f: List[str], line: Optional[str]) -> Optional[Event]:
        n = len(f)
        if n < 2:
            return None
        if n == 3 and not f[2]:
            return cls(f[1], ())
        return cls(f[1], tuple(f[2:]))
    return parse


def _p_auto_up(f: List[str], line: Optional[str]) -> Optional[Event]:
    if len(f) < 3:
        return None
    if f[2] == '-':
        return ServiceAutoUp(f[1], None, ()) if len(f) == 3 else None
    return ServiceAutoUp(f[1], int(f[2]), tuple(f[3:]))


def _p_notify(f: List[str], line: Optional[str]) -> Optional[Event]:
    if len(f) < 4:
        return None
    return ServiceNotify(f[1], int(f[2]), int(f[3]), tuple(f[4:]))


def _p_cgroup(f: List[str], line: Optional[str]) -> Optional[Event]:
    if len(f) != 4:
        return None
    return ServiceCgroup(f[1], int(f[2]), f[3])


def _p_want(f: List[str], line: Optional[str]) -> Optional[Event]:
    if len(f) < 6 or f[2] not in WANTS and f[2] != '-':
        return None
    return ServiceWant(f[1], None if f[2] == '-' else f[2], f[3], int(f[4]), '\t'.join(f[5:]))


def _id(field: str) -> int:
    if not field.isdigit():
        raise ValueError(field)
    return int(field)


def _p_ctl_request(f: List[str], line: Optional[str]) -> Optional[Event]:
    if len(f) == 3:
        return CtlRequestId(_id(f[1]), f[2])
    if len(f) < 4:
        return None
    return CtlRequest(_id(f[1]), f[2], f[3], tuple(f[4:]))


def _p_ctl_reply(f: List[str], line: Optional[str]) -> Optional[Event]:
    if len(f) < 3 or f[2] not in CTL_STATUSES:
        return None
    return CtlReply(_id(f[1]), f[2], '\t'.join(f[3:]))


def _p_fd(f: List[str], line: Optional[str]) -> Optional[Event]:
    n = len(f)
    if n == 5:
        return FdState(f[1], f[2], f[3], f[4])
    if n == 3 and f[2] == 'deleted':
        return FdState(f[1], 'deleted')
    return None


def _p_signal(f: List[str], line: Optional[str]) -> Optional[Event]:
    if len(f) != 4:
        return None
    return Signal(f[1], int(f[2]), int(f[3]))


def _p_orphan(f: List[str], line: Optional[str]) -> Optional[Event]:
    if len(f) != 6:
        return None
    _, ts, pid, reason, value, svc = f
    return Orphan(int(ts), int(pid), reason, int(value) if reason == 'exit' else value,
                  None if svc == '-' else svc)


_OVERFLOW = Overflow()


def _p_overflow(f: List[str], line: Optional[str]) -> Optional[Event]:
    return _OVERFLOW if len(f) == 1 else None


def _message(f: List[str], line: Optional[str]) -> str:
    return '\t'.join(f[1:]) if line is None else line[len(f[0]) + 1:]


def _p_error(f: List[str], line: Optional[str]) -> Optional[Event]:
    return Error(_message(f, line)) if len(f) > 1 else None


def _p_warning(f: List[str], line: Optional[str]) -> Optional[Event]:
    return WarningEvent(_message(f, line)) if len(f) > 1 else None


def _p_log_filter(f: List[str], line: Optional[str]) -> Optional[Event]:
    return LogFilter(f[1]) if len(f) == 2 else None


_PARSERS: Dict[str, Callable[[List[str], Optional[str]], Optional[Event]]] = {
    'service.state': _p_state,
    'service.args': _list_parser(ServiceArgs),
    'service.fds': _list_parser(ServiceFds),
    'service.tags': _list_parser(ServiceTags),
    'service.env': _list_parser(ServiceEnv),
    'service.opts': _list_parser(ServiceOpts),
    'service.auto_up': _p_auto_up,
    'service.notify': _p_notify,
    'service.cgroup': _p_cgroup,
    'service.want': _p_want,
    'ctl.request': _p_ctl_request,
    'ctl.reply': _p_ctl_reply,
    'fd.state': _p_fd,
    'signal': _p_signal,
    'orphan': _p_orphan,
    'overflow': _p_overflow,
    'error': _p_error,
    'warning': _p_warning,
    'log.filter': _p_log_filter,
}


def parse_fields(fields: List[str], line: Optional[str] = None) -> Optional[Event]:
    """The Event of a line given as its fields (``line.split('\\t')``), or
    None if its kind is unknown or the fields do not fit it.  line, the
    whole line, saves joining the fields again (error and warning
    messages keep their TABs).  Never raises."""
    parse = _PARSERS.get(fields[0])
    if parse is None:
        return None
    try:
        return parse(fields, line)
    except (ValueError, IndexError):
        return None


def parse_event(line: str) -> Event:
    """Parse one line (a trailing newline is ignored) into its Event.

    Never raises: an unknown or malformed line becomes ``RawEvent(line)``.
    """
    if line.endswith('\n'):
        line = line[:-1]
    f = line.split('\t')
    parse = _PARSERS.get(f[0])     # parse_fields(), without a call: the hot path
    if parse is not None:
        try:
            ev = parse(f, line)
        except (ValueError, IndexError):
            ev = None
        if ev is not None:
            return ev
    return RawEvent(line)
