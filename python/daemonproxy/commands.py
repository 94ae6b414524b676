"""One method per command of the protocol, shared by both clients.

Each method checks its arguments (raising InvalidArgument, a ValueError,
before anything is sent), builds the command's fields and hands them to
``self._command``, which the blocking client runs at once and the asyncio
client returns as a coroutine.  So the same call reads
``client.service_start('web')`` in one and
``await client.service_start('web')`` in the other.

Unless said otherwise a method returns the warnings the daemon answered
(a list of WarningEvent, usually empty) and raises CommandError when the
daemon answers an error.

The return types are the class's three type parameters, one per shape of
result, because the same method returns a value in one client and a
coroutine in the other:

==============  ==============================  ===================================
parameter       :class:`~daemonproxy.Client`    :class:`~daemonproxy.AsyncClient`
==============  ==============================  ===================================
``Warnings``    ``List[WarningEvent]``          ``Awaitable[List[WarningEvent]]``
``Text``        ``Optional[str]``               ``Awaitable[Optional[str]]``
``Events``      ``List[Event]``                 ``Awaitable[List[Event]]``
==============  ==============================  ===================================

So a type checker knows that ``client.service_start('web')`` is a list
of warnings and ``await aclient.echo('x')`` a string or None.
"""

from __future__ import annotations

import math
import signal as _signal
from typing import (
    Any, Callable, Generic, Iterable, List, Literal, Optional, Sequence, TypeVar, Union,
)

from .errors import InvalidArgument
from .events import Event, LogFilter, WarningEvent, parse_event
from .protocol import (
    ENCODING, ERRORS, WHY_MAX, Field, check_control_signal, check_env_entry, check_field,
    check_flags, check_handle_ref, check_int, check_name, check_option, check_signal,
    check_trigger, check_verb, daemon_time,
)

__all__ = ['Commands', 'LOG_LEVELS', 'CommandKind', 'warnings_of', 'log_level_of',
           'parse_dump', 'ctl_request_fields', 'start_ts_in']

#: Log filter levels, least to most severe.
LOG_LEVELS = ('trace', 'debug', 'info', 'warning', 'error', 'fatal')

_INT32_MAX = 2 ** 31 - 1
_INT64_MIN, _INT64_MAX = -2 ** 63, 2 ** 63 - 1

SignalLike = Union[str, int, _signal.Signals]

#: How a command is sent: ``'dump'`` (statedump: its reply is its events),
#: ``'final'`` (the daemon may close the connection after it: end of file
#: means success), ``'exit'`` (no marker can follow: done at end of file);
#: None for any other command (see Session.request).
CommandKind = Optional[Literal['dump', 'final', 'exit']]

Warnings = TypeVar('Warnings')
Text = TypeVar('Text')
Events = TypeVar('Events')


def warnings_of(reply: List[str]) -> List[WarningEvent]:
    """The warnings among a command's reply lines."""
    out = []
    for line in reply:
        ev = parse_event(line)
        if isinstance(ev, WarningEvent):
            out.append(ev)
    return out


def log_level_of(reply: List[str]) -> Optional[str]:
    """The level a ``log.filter`` reply names, or None."""
    for line in reply:
        ev = parse_event(line)
        if isinstance(ev, LogFilter):
            return ev.level
    return None


def parse_dump(reply: List[str]) -> List[Event]:
    """The events of a statedump's reply lines."""
    return [parse_event(line) for line in reply]


def start_ts_in(seconds: float, now: Optional[float] = None) -> Optional[int]:
    """The TS of a ``service.start`` due in seconds (a duration; now: the
    daemon's clock, default :func:`~daemonproxy.protocol.daemon_time`), or
    None for a start now (seconds <= 0).  The daemon's TS counts whole
    seconds, so it is rounded up: never earlier than asked, at most a
    second later."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or seconds != seconds or seconds > 10 ** 9:
        raise InvalidArgument('a start delay must be a number of seconds, not %r'
                              % (seconds,), 'service.start')
    if seconds <= 0:
        return None
    return math.ceil((daemon_time() if now is None else now) + seconds)


def ctl_request_fields(verb: Field, args: Sequence[Field]) -> List[str]:
    """The fields of ``ctl.request→VERB→ARG…``, checked."""
    cmd = 'ctl.request'
    return [cmd, check_verb(verb, cmd)] + [check_field(a, 'argument', cmd) for a in args]


class Commands(Generic[Warnings, Text, Events]):
    """The command methods.  Subclasses implement :meth:`_command`."""

    def _command(self, fields: Sequence[Field],
                 post: Optional[Callable[[List[str]], Any]] = warnings_of,
                 kind: CommandKind = None) -> Any:
        """Send fields as one request; return post(reply lines), or for a
        statedump (post None) its events (in the asyncio client: a
        coroutine that does)."""
        raise NotImplementedError

    def _after_signal_clear(self, name: str, count: int) -> None:
        """Hook: our own signal.clear succeeded (the mirror adjusts)."""

    # --- connection and state --------------------------------------------------

    def echo(self, *args: Field) -> Text:
        """``echo→ARG…``: returns the echoed line (the arguments joined by
        TABs), or None when there are no arguments."""
        fields = ['echo'] + [check_field(a, 'argument', 'echo') for a in args]
        return self._command(fields, lambda r: r[0] if r else None)

    def statedump(self) -> Events:
        """``statedump``: returns the whole state as a list of events, and
        rebuilds the mirror from it."""
        return self._command(['statedump'], None, 'dump')

    def exit(self) -> Warnings:
        """``exit``: the daemon stops reading this connection's commands and
        closes it once its output is written (for ``-i``, daemonproxy then
        exits as at end of file).  Returns once the connection has closed."""
        return self._command(['exit'], warnings_of, 'exit')

    def conn_event_timeout(self, reset: int, close: int) -> Warnings:
        """``conn.event_timeout→RESET→CLOSE``: this connection's flow-control
        timeouts in seconds (0 to 2^31-1, reset <= close)."""
        cmd = 'conn.event_timeout'
        r = check_int(reset, 0, _INT32_MAX, 'RESET', cmd)
        c = check_int(close, 0, _INT32_MAX, 'CLOSE', cmd)
        if int(r) > int(c):
            raise InvalidArgument('RESET %s is greater than CLOSE %s' % (r, c), cmd)
        return self._command([cmd, r, c])

    def chdir(self, path: Field) -> Warnings:
        """``chdir→PATH``: change daemonproxy's working directory."""
        return self._command(['chdir', _nonempty(path, 'path', 'chdir')])

    # --- services ---------------------------------------------------------------

    def service_args(self, name: str, *args: Field) -> Warnings:
        """``service.args→NAME→ARG…``: set the argv (none: unset it).
        Creates the service if needed."""
        cmd = 'service.args'
        return self._command([cmd, check_name(name, 'service', cmd)]
                             + [check_field(a, 'argument', cmd) for a in args])

    def service_fds(self, name: str, *handles: str) -> Warnings:
        """``service.fds→NAME→HANDLE…``: the handles that become fds 0, 1, …
        (``'-'``: a closed fd).  A handle that does not exist yet gives a
        warning (returned)."""
        cmd = 'service.fds'
        return self._command([cmd, check_name(name, 'service', cmd)]
                             + [check_handle_ref(h, cmd) for h in handles])

    def service_tags(self, name: str, *tags: Field) -> Warnings:
        """``service.tags→NAME→TAG…``: free-form metadata."""
        cmd = 'service.tags'
        return self._command([cmd, check_name(name, 'service', cmd)]
                             + [check_field(t, 'tag', cmd) for t in tags])

    def service_auto_up(self, name: str, interval: Union[int, str, None],
                        *triggers: SignalLike) -> Warnings:
        """``service.auto_up→NAME→INTERVAL→TRIGGER…``: keep the service up
        while a trigger (``'always'`` or a signal among SIGINT SIGHUP SIGTERM
        SIGUSR1 SIGUSR2 SIGQUIT) holds, starts at least interval seconds
        apart (None or ``'-'``: keep the current interval).  No triggers
        disables auto-up."""
        cmd = 'service.auto_up'
        iv = '-' if interval is None or interval == '-' else \
            check_int(interval, 1, 2 ** 32 - 1, 'interval', cmd)  # type: ignore[arg-type]
        return self._command([cmd, check_name(name, 'service', cmd), iv]
                             + [check_trigger(t, cmd) for t in triggers])

    def service_start(self, name: str, ts: Union[int, str, None] = None) -> Warnings:
        """``service.start→NAME→[TS|-]``: start now; or at monotonic second
        ts; or with ts ``'-'`` cancel a pending start."""
        cmd = 'service.start'
        fields = [cmd, check_name(name, 'service', cmd)]
        if ts == '-':
            fields.append('-')
        elif ts is not None:
            fields.append(check_int(ts, 0, _INT64_MAX // 1000, 'timestamp', cmd))
        return self._command(fields)

    def start_in(self, name: str, seconds: float) -> Warnings:
        """``service.start→NAME→TS``: start the service in seconds (a
        duration, a float is fine; 0 or less: now).  The protocol's TS is a
        whole second of the daemon's monotonic clock: it is computed here,
        rounded up (so the start comes at most a second late, never
        early)."""
        ts = start_ts_in(seconds)
        return self.service_start(name, ts)

    def want(self, name: str, state: Optional[str], why: Field = '') -> Warnings:
        """``service.want→NAME→WANT→[WHY]``: record what is wanted of the
        service (docs/protocol.md, "Desired state"): ``'up'`` (start it if
        it is down; clears down and failed), ``'down'`` (nothing starts it
        but an up; daemonproxy does not stop it: see ``stop``),
        ``'failed'`` (a policy gave up: as down), or None / ``'-'`` (no
        desire).  why: free text for people and logs (at most 255 bytes,
        no TAB)."""
        cmd = 'service.want'
        w = '-' if state is None else state
        if w not in ('up', 'down', 'failed', '-'):
            raise InvalidArgument('invalid want %r (up, down, failed, - or None)' % (state,),
                                  cmd)
        fields = [cmd, check_name(name, 'service', cmd), w]
        text = check_field(why, 'why', cmd)
        if len(text.encode(ENCODING, ERRORS)) > WHY_MAX:
            raise InvalidArgument('why longer than %d bytes' % WHY_MAX, cmd)
        if text:
            fields.append(text)
        return self._command(fields)

    def service_signal(self, name: str, sig: SignalLike, scope: Optional[str] = None) -> Warnings:
        """``service.signal→NAME→SIGNAL→[group|cgroup]``: signal the
        service's process, or with scope ``'group'`` its process group, or
        with ``'cgroup'`` every process of its cgroup (needs --cgroup).
        sig: ``'SIGTERM'``, ``'TERM'``, a number or a ``signal.Signals``."""
        cmd = 'service.signal'
        fields = [cmd, check_name(name, 'service', cmd), check_signal(sig, cmd)]
        if scope is not None:
            if scope not in ('group', 'cgroup'):
                raise InvalidArgument("scope must be None, 'group' or 'cgroup', not %r"
                                      % (scope,), cmd)
            fields.append(scope)
        return self._command(fields)

    def service_delete(self, name: str) -> Warnings:
        """``service.delete→NAME``: forget a service that is not running."""
        cmd = 'service.delete'
        return self._command([cmd, check_name(name, 'service', cmd)])

    def service_env(self, name: str, *entries: Field) -> Warnings:
        """``service.env→NAME→ENTRY…``: ``'VAR=VALUE'`` sets VAR, ``'-VAR'``
        removes it from the inherited environment.  Replaces the list."""
        cmd = 'service.env'
        return self._command([cmd, check_name(name, 'service', cmd)]
                             + [check_env_entry(e, cmd) for e in entries])

    def service_opts(self, name: str, *opts: str) -> Warnings:
        """``service.opts→NAME→OPT…``: ``'notify'``, ``'listen-fds'``,
        ``'fdstore=N'``, and what the service runs as: ``'user=www'``,
        ``'group=…'``, ``'groups=…'``, ``'umask=027'``, ``'nice=N'``,
        ``'limit-nofile=65536'``, ``'no-new-privs'``, ``'cwd=DIR'``,
        ``'caps=cap_net_bind_service'``.  Replaces the set."""
        cmd = 'service.opts'
        return self._command([cmd, check_name(name, 'service', cmd)]
                             + [check_option(o, cmd) for o in opts])

    # --- handles ------------------------------------------------------------------

    def fd_pipe(self, read: str, write: str,
                flags: Union[None, str, Iterable[str]] = None) -> Warnings:
        """``fd.pipe→READ→WRITE→[FLAGS]``: a pipe (or, with socket flags
        such as ``'unix,stream'``, a socketpair); flags: a comma list or an
        iterable of ``nonblock unix inet inet6 tcp udp stream dgram
        seqpacket``."""
        cmd = 'fd.pipe'
        r, w = check_name(read, 'handle', cmd), check_name(write, 'handle', cmd)
        if r == w:
            raise InvalidArgument('the two ends need different names', cmd)
        fields = [cmd, r, w]
        fl = check_flags(flags, cmd)
        if fl:
            fields.append(fl)
        return self._command(fields)

    def fd_open(self, name: str, flags: Union[str, Iterable[str]], path: Field) -> Warnings:
        """``fd.open→NAME→FLAGS→PATH``: open a file; flags among ``read
        write append create trunc nonblock mkdir``."""
        cmd = 'fd.open'
        return self._command([cmd, check_name(name, 'handle', cmd), check_flags(flags, cmd),
                              _nonempty(path, 'path', cmd)])

    def fd_socket(self, name: str, flags: Union[None, str, Iterable[str]] = None,
                  addr: Optional[Field] = None) -> Warnings:
        """``fd.socket→NAME→FLAGS→[ADDR]``: a socket; flags among ``unix
        inet inet6 tcp udp stream dgram seqpacket nonblock mkdir bind
        listen listen=N``; addr a path (unix) or ``IP:PORT``/``*:PORT``."""
        cmd = 'fd.socket'
        fields = [cmd, check_name(name, 'handle', cmd), check_flags(flags, cmd)]
        if addr is not None:
            fields.append(check_field(addr, 'address', cmd))
        return self._command(fields)

    def fd_delete(self, name: str) -> Warnings:
        """``fd.delete→NAME``: close a handle."""
        cmd = 'fd.delete'
        return self._command([cmd, check_name(name, 'handle', cmd)])

    # --- log, signals, control socket -----------------------------------------------

    def log_filter(self, level: Optional[str] = None) -> Text:
        """``log.filter→[+|-|none|LEVEL]``: change (or just show) the log
        filter; returns the filter level now in force."""
        cmd = 'log.filter'
        fields = [cmd]
        if level is not None:
            if level not in ('+', '-', 'none') + LOG_LEVELS:
                raise InvalidArgument('invalid level %r (+, -, none, %s)'
                                      % (level, ', '.join(LOG_LEVELS)), cmd)
            fields.append(level)
        return self._command(fields, log_level_of)

    def log_dest(self, handle: str) -> Warnings:
        """``log.dest→fd→NAME``: send the log to a handle (it may not exist
        yet: then a warning is returned and logging waits for it)."""
        cmd = 'log.dest'
        return self._command([cmd, 'fd', check_name(handle, 'handle', cmd)])

    def signal_clear(self, sig: SignalLike, count: int = 1) -> Warnings:
        """``signal.clear→SIGNAL→COUNT``: lower a pending count (not below 0)."""
        cmd = 'signal.clear'
        name = check_control_signal(sig, cmd)
        n = check_int(count, 0, _INT64_MAX, 'count', cmd)

        def post(reply: List[str]) -> List[WarningEvent]:
            self._after_signal_clear(name, int(n))
            return warnings_of(reply)
        return self._command([cmd, name, n], post)

    def socket_create(self, path: Field) -> Warnings:
        """``socket.create→-→PATH``: create (or replace) the control socket."""
        cmd = 'socket.create'
        return self._command([cmd, '-', _nonempty(path, 'path', cmd)])

    def socket_delete(self) -> Warnings:
        """``socket.delete``: close and unlink the control socket."""
        return self._command(['socket.delete'])

    # --- addressing the controller (ctl.*) ----------------------------------------------

    def ctl_serve(self, *verbs: Field) -> Warnings:
        """``ctl.serve→VERB…``: this connection answers requests for these
        verbs (none: for no verb any more); a later ctl.serve of a verb by
        another connection takes it over.  Requests then come as
        :class:`~daemonproxy.events.CtlRequest` events; answer each with
        :meth:`ctl_reply`."""
        cmd = 'ctl.serve'
        return self._command([cmd] + [check_verb(v, cmd) for v in verbs])

    def ctl_reply(self, id: int, status: str, *text: Field) -> Warnings:
        """``ctl.reply→ID→STATUS→TEXT…``: answer request id: status
        ``'info'`` (progress, any number of them), then one final ``'ok'``
        or ``'error'``."""
        cmd = 'ctl.reply'
        if status not in ('ok', 'error', 'info'):
            raise InvalidArgument("status must be 'ok', 'error' or 'info', not %r" % (status,),
                                  cmd)
        return self._command([cmd, check_int(id, 0, _INT64_MAX, 'request ID', cmd), status]
                             + [check_field(t, 'text', cmd) for t in text])

    # --- termination ------------------------------------------------------------------

    def terminate(self, code: int = 0, guard: Optional[int] = None) -> Warnings:
        """``terminate→CODE→[GUARD]``: make daemonproxy exit with code (or
        exec its exec-on-exit program).  Returns once the connection has
        closed; raises CommandError if the daemon refuses (exit guard)."""
        cmd = 'terminate'
        fields = [cmd, check_int(code, 0, 255, 'exit code', cmd)]
        if guard is not None:
            fields.append(check_int(guard, _INT64_MIN, _INT64_MAX, 'guard code', cmd))
        return self._command(fields, warnings_of, 'final')

    def terminate_exec_args(self, *args: Field) -> Warnings:
        """``terminate.exec_args→ARG…``: the exec-on-exit argv (none: clear)."""
        cmd = 'terminate.exec_args'
        return self._command([cmd] + [check_field(a, 'argument', cmd) for a in args])

    def terminate_guard(self, action: str, code: int) -> Warnings:
        """``terminate.guard→+|-→CODE``: ``'+'`` sets the exit guard, ``'-'``
        clears it (code: a nonzero 64-bit integer)."""
        cmd = 'terminate.guard'
        if action not in ('+', '-'):
            raise InvalidArgument("action must be '+' or '-', not %r" % (action,), cmd)
        c = check_int(code, _INT64_MIN, _INT64_MAX, 'guard code', cmd)
        if c == '0':
            raise InvalidArgument('the guard code must not be 0', cmd)
        return self._command([cmd, action, c])


def _nonempty(value: Field, what: str, cmd: str) -> str:
    s = check_field(value, what, cmd)
    if not s:
        raise InvalidArgument('empty %s' % what, cmd)
    return s
