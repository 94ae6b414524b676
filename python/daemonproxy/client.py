"""The blocking client.

:class:`Client` moves bytes between a file descriptor pair and a
:class:`~daemonproxy.session.Session`, waiting with ``poll()`` and a
deadline; everything protocol-related happens in the session.  It is not
thread-safe: use one client per thread, or the asyncio client.
"""

from __future__ import annotations

import select
import socket
import subprocess
import time
from typing import AbstractSet, Any, Callable, Iterable, Iterator, List, Optional, Sequence, Union

from .commands import CommandKind, SignalLike, ctl_request_fields, warnings_of
from .core import DEFAULT_TIMEOUT, ClientCore, deadline_in, expired, socket_target
from .errors import CommandError, ConnectionClosed, ReplyLost, Timeout, UntrustedSocket
from .events import CtlReply, Event, ServiceState, WarningEvent
from .mirror import Mirror
from .protocol import Field
from .session import Request
from .transport import check_peer, closer_of, read_some, write_some

__all__ = ['Client', 'DEFAULT_TIMEOUT']


def _remaining_ms(deadline: Optional[float]) -> int:
    if deadline is None:
        return -1
    return max(0, int((deadline - time.monotonic()) * 1000 + 0.999))


class Client(ClientCore[List[WarningEvent], Optional[str], List[Event]]):
    """A blocking connection to daemonproxy.

    Make one with :meth:`connect` (a control socket), :meth:`from_stdio`
    (running as daemonproxy's controller service) or :meth:`spawn` (a
    daemonproxy child with ``-i``).  Then call the command methods
    (``service_start('web')`` …, see :class:`~daemonproxy.commands.Commands`),
    :meth:`request` for any command, and read events with
    :meth:`next_event`, iteration or :meth:`wait_for`.

    ``Client(rfd, wfd, ...)`` takes these keyword options (the
    constructors pass theirs on): ``mirror`` (default True) keeps
    :attr:`mirror`, a :class:`~daemonproxy.mirror.Mirror`, current; the
    constructors fill it with a statedump before returning (``sync=False``
    skips that), and it is rebuilt after every ``overflow``
    (``auto_resync``) and reconnect.  ``queue_events=False`` keeps no event
    queue (for a client that only looks at the mirror); otherwise at most
    ``max_events`` unread events (and ``max_event_bytes`` of their lines)
    wait in it, and an :class:`~daemonproxy.events.EventsDropped` stands
    for those that came while it was full.  ``timeout`` is the default
    wait for replies; ``closer`` is called by :meth:`close`.

    Every wait ends at its deadline, even while data keeps coming, and no
    more than one line's worth of a partial line is ever buffered: a peer
    that sends what daemonproxy never would (an over-long line, binary)
    gets :class:`~daemonproxy.errors.ProtocolError` and the connection is
    closed.
    """

    # --- ways to connect ----------------------------------------------------------

    @classmethod
    def connect(cls, path: Optional[str] = None, *, connect_timeout: float = 0.0,
                auto_reconnect: bool = False, sync: bool = True,
                trust_uid: Union[int, str, None] = None, **kw: Any) -> 'Client':
        """Connect to the control socket at path (default:
        :func:`~daemonproxy.paths.default_socket_path`).  With
        connect_timeout, a missing or refusing socket is retried that long.
        With auto_reconnect, a closed connection is reconnected (for up to
        ``reconnect_timeout`` seconds) and the mirror resynced.

        Before anything is sent, the process that listens on the socket
        must run as root, as our effective uid, or as ``trust_uid`` (a uid
        or a user name; default: ``$DAEMONPROXY_TRUST_UID``, for a daemon
        of another user that lets us in with ``--socket-group``).  Else
        :class:`~daemonproxy.errors.UntrustedSocket` (a ConnectionClosed)
        is raised, and also when the default socket's directory
        ``/tmp/daemonproxy-UID`` is not the user's own 0700 directory."""
        path, trusted = socket_target(path, trust_uid)
        sock = _connect_unix(path, connect_timeout, trusted)
        return cls._over_socket(sock, path, trusted, auto_reconnect, kw)._synced(sync)

    @classmethod
    def from_stdio(cls, *, take_stdio: bool = True, sync: bool = True, **kw: Any) -> 'Client':
        """Run as daemonproxy's controller service: events on fd 0
        (``control.event``), commands on fd 1 (``control.cmd``).

        With take_stdio (the default) the connection moves to private fds
        and fd 0 becomes /dev/null and fd 1 a copy of fd 2 (stderr), so a
        stray ``print()`` goes to the log instead of corrupting the command
        stream."""
        return cls._over_stdio(take_stdio, kw)._synced(sync)

    @classmethod
    def spawn(cls, binary: str = 'daemonproxy', args: Sequence[str] = (), *,
              stderr: Any = None, env: Optional[dict] = None, cwd: Optional[str] = None,
              pass_fds: Sequence[int] = (), sync: bool = True, **kw: Any) -> 'Client':
        """Start ``binary -i ARGS…`` and talk to it over its stdin/stdout.

        stderr (daemonproxy's log) is inherited unless given (a file,
        ``subprocess.PIPE``, ``subprocess.DEVNULL``).  :meth:`close` closes
        its stdin, so that it exits, and waits for it (killing it if it
        takes longer than the timeout)."""
        c, proc = cls._over_child(binary, args, stderr, env, cwd, pass_fds, kw)

        def close() -> None:
            closer_of(proc.stdin, proc.stdout)()
            try:
                proc.wait(c.timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        c._closer = close
        return c._synced(sync)

    def _synced(self, sync: bool) -> 'Client':
        if sync and self.mirror is not None:
            self.resync()
        return self

    # --- requests -------------------------------------------------------------------

    def request(self, *fields: Field, timeout: Optional[float] = None) -> List[str]:
        """Send one command followed by an echo marker; return the reply
        lines received before the marker (events received meanwhile go to
        the event queue and the mirror).  Raises CommandError if the daemon
        answered an error, ReplyLost if an overflow discarded the reply,
        Timeout, ConnectionClosed."""
        return self._wait(self.session.request(fields), timeout).reply

    def send(self, *fields: Field) -> None:
        """Send one command without waiting for anything (its errors
        arrive as Error events)."""
        self.session.send(fields)
        self._flush(deadline_in(self.timeout))

    def send_many(self, commands: Iterable[Sequence[Field]]) -> None:
        """Send several commands, each a sequence of fields, in as few
        writes as the connection allows, without waiting for replies (their
        errors arrive as Error events).  All or none: an invalid command
        raises InvalidArgument before anything is sent."""
        self.session.send_many(commands)
        self._flush(deadline_in(self.timeout))

    def _command(self, fields: Sequence[Field],
                 post: Optional[Callable[[List[str]], Any]] = warnings_of,
                 kind: CommandKind = None) -> Any:
        return self._outcome(self._wait(self._new_request(fields, kind), None), post)

    def _wait(self, req: Request, timeout: Optional[float]) -> Request:
        t = self._timeout_or_default(timeout)
        deadline = deadline_in(t)
        while not req.done:
            if not self._step(deadline) and not req.done:
                raise Timeout('no reply to %r within %.1fs' % (' '.join(req.fields)[:60], t))
        if req.exception is not None:
            raise req.exception
        return req

    def resync(self, timeout: Optional[float] = None) -> None:
        """Rebuild the mirror from a statedump now (retried if an overflow
        cuts it short).  The clients do this on their own after an overflow
        or a reconnect; call it to make sure the mirror is complete."""
        t = self._timeout_or_default(timeout)
        deadline = deadline_in(t)
        while True:
            req = self.session.resync()
            try:
                self._wait(req, None if deadline is None else max(0.0, deadline - time.monotonic()))
                return
            except ReplyLost:
                if expired(deadline):           # overflow after overflow: still a deadline
                    raise Timeout('no complete statedump within %.1fs (overflow)' % t) from None

    def stop(self, name: str, timeout: float = 10.0, *, why: str = '',
             sig: SignalLike = 'SIGTERM') -> ServiceState:
        """Stop the service and keep it stopped: ``service.want→NAME→down``
        (with why), sig (default SIGTERM) to its process, and SIGKILL to
        its process group (its cgroup under --cgroup) if it still runs
        after timeout seconds.  Returns its state once it is down (and its
        cgroup empty): the exit it made.  Raises CommandError (no such
        service), Timeout if even SIGKILL did not end it within the
        client's timeout.  ``want(name, 'up')`` brings it back."""
        pid = self._stop_begin(name)
        self.want(name, 'down', why)
        done = self._stopped(name, pid)
        if pid is not None and not done(self.mirror):       # type: ignore[arg-type]
            try:
                self.service_signal(name, sig)
            except CommandError as e:
                if not self._signal_moot(e):
                    raise
        try:
            self.wait_until(done, timeout)
        except Timeout:
            self._kill(name)
            self.wait_until(done)
        return self._stop_result(name)

    def _kill(self, name: str) -> None:
        info = self.mirror.service(name) if self.mirror is not None else None
        for scope in ('cgroup' if info is not None and info.cgroup is not None else 'group',
                      None):
            try:
                self.service_signal(name, 'SIGKILL', scope)
                return
            except CommandError as e:
                if self._signal_moot(e):
                    return          # else: no group (it left it): the process itself

    def ctl_request(self, verb: str, *args: Field,
                    timeout: Optional[float] = None) -> List[CtlReply]:
        """``ctl.request→VERB→ARG…``: ask the controller that serves verb
        (``reload``, ``shutdown``…) and wait up to timeout seconds (default:
        the client's) for its final answer.  Returns its replies, the
        ``info`` ones first and the final ``ok`` last.  Raises
        ControllerError when it answers ``error`` (also ``controller
        gone``), CommandError when no controller serves verb, Timeout."""
        req = self._wait(self.session.request(ctl_request_fields(verb, args)), None)
        call = self._ctl_call(req)
        try:
            self._wait(call, timeout)
        finally:
            self.session.forget_call(call)
        return self._ctl_replies(call)

    def fd_take(self, name: str, fd: int) -> List[WarningEvent]:
        """``fd.take→NAME``: pass fd (SCM_RIGHTS) to daemonproxy as handle
        NAME.  Control socket connections only."""
        name = self._fd_take_check(name)
        self._flush(deadline_in(self.timeout))
        return warnings_of(self._wait(self._send_with_fd(name, fd), None).reply)

    # --- events ---------------------------------------------------------------------

    def next_event(self, timeout: Optional[float] = None) -> Optional[Event]:
        """The next event: waits up to timeout seconds (None: for ever) and
        returns None if none came.  Raises ConnectionClosed at end of file
        once every event received has been returned."""
        q = self.session.events
        if q:
            return q.popleft()
        deadline = deadline_in(timeout)
        while not q:
            if self.session.closed and not self._reconnect_if_wanted():
                raise self.session.closed_error()
            if not self._step(deadline):
                break
        return q.popleft() if q else None

    def __iter__(self) -> Iterator[Event]:
        """Events as they come, until the connection ends."""
        while True:
            try:
                ev = self.next_event()
            except ConnectionClosed:
                return
            if ev is not None:
                yield ev

    def events(self, timeout: float = 0.0) -> List[Event]:
        """The events that arrive within timeout seconds (possibly none);
        returns early as soon as at least one is there."""
        ev = self.next_event(timeout)
        if ev is None:
            return []
        out = [ev]
        q = self.session.events
        while q:
            out.append(q.popleft())
        return out

    def wait_for(self, predicate: Callable[[Event], bool],
                 timeout: Optional[float] = None) -> Event:
        """Read events until predicate(event) is true and return that event
        (the events before it are consumed).  Raises Timeout (default wait:
        the client's timeout) or ConnectionClosed."""
        t = self._timeout_or_default(timeout)
        deadline = time.monotonic() + t
        while True:
            ev = self.next_event(max(0.0, deadline - time.monotonic()))
            if ev is not None and predicate(ev):
                return ev
            if ev is None or expired(deadline):
                raise Timeout('no matching event within %.1fs' % t)

    def wait_until(self, predicate: Callable[[Mirror], bool],
                   timeout: Optional[float] = None) -> None:
        """Process input until predicate(mirror) is true (events stay
        queued).  Raises Timeout or ConnectionClosed."""
        if self.mirror is None:
            raise ValueError('this client keeps no mirror')
        t = self._timeout_or_default(timeout)
        deadline = time.monotonic() + t
        while not predicate(self.mirror):
            if self.session.closed and not self._reconnect_if_wanted():
                raise self.session.closed_error()
            if not self._step(deadline) and not predicate(self.mirror):
                raise Timeout('mirror condition not met within %.1fs' % t)

    # --- I/O ----------------------------------------------------------------------

    def _flush(self, deadline: Optional[float]) -> None:
        """Write everything queued, reading meanwhile (the daemon stops
        reading our commands while we do not read its output)."""
        while self._wbuf or self.session.wants_write:
            if not self._step(deadline) and (self._wbuf or self.session.wants_write):
                raise Timeout('cannot send to daemonproxy (not reading)')

    def _step(self, deadline: Optional[float]) -> bool:
        """Wait for input or room to write until the deadline, handle what
        is ready.  False once the deadline has passed (whether or not
        something was handled: a peer that never stops sending must not
        keep a caller waiting past its deadline), or the connection ended
        for good."""
        if self._closed:
            raise ConnectionClosed('the client is closed')
        self._take_output()
        if self.session.closed:
            return False if not self._reconnect_if_wanted() else True
        p = select.poll()
        if self._wbuf and self._wfd != self._rfd:
            p.register(self._wfd, select.POLLOUT)
            p.register(self._rfd, select.POLLIN)
        elif self._wbuf:
            p.register(self._rfd, select.POLLIN | select.POLLOUT)
        else:
            p.register(self._rfd, select.POLLIN)
        while True:
            try:
                ready = p.poll(_remaining_ms(deadline))
                break
            except InterruptedError:
                continue
        if not ready:
            return False
        for fd, ev in ready:
            if ev & select.POLLOUT and self._wbuf:
                self._wrote(write_some(self._wfd, self._wbuf))
            if fd == self._rfd and ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                data = read_some(self._rfd)
                if data is not None:
                    self._received(data)
        return not expired(deadline)

    def _reconnect_if_wanted(self) -> bool:
        if not self._may_reconnect():
            return False
        try:
            self.reconnect(self.reconnect_timeout)
        except UntrustedSocket:
            raise
        except (OSError, Timeout):
            return False
        return True

    def reconnect(self, timeout: Optional[float] = None) -> None:
        """Connect again to the same control socket (retrying for up to
        timeout seconds), then resync the mirror.  Pending requests fail
        with ConnectionClosed."""
        path, trusted = self._reconnect_target()
        self._adopt(_connect_unix(path, self._timeout_or_default(timeout), trusted))

    def close(self) -> None:
        """Close the connection (for a spawned daemonproxy: close its stdin
        and wait for it to exit)."""
        if self._closed:
            return
        self._closed = True
        if self._closer is not None:
            self._closer()

    def __enter__(self) -> 'Client':
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _connect_unix(path: str, timeout: float, trusted: AbstractSet[int]) -> socket.socket:
    """A connected unix stream socket whose peer runs as a trusted uid; a
    missing or refusing socket is retried until timeout."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            s.connect(path)
            check_peer(s, path, trusted)
            return s
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if time.monotonic() >= deadline:
                raise
            time.sleep(delay)       # polling for a socket file: no event to wait on
            delay = min(delay * 2, 0.2)
        except BaseException:
            s.close()
            raise
