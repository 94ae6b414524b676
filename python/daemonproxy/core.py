"""What the blocking and the asyncio client share.

:class:`ClientCore` holds the state of one connection (its
:class:`~daemonproxy.session.Session` and :class:`~daemonproxy.mirror.Mirror`,
the file descriptors, the bytes not written yet, how it was made) and
every step that does not wait: making a request, moving what the session
wants sent to the write buffer, handing received bytes to the session,
giving up a peer that is not daemonproxy, taking over a new socket after a
reconnect.  :class:`~daemonproxy.client.Client` waits with ``poll()``,
:class:`~daemonproxy.aio.AsyncClient` with the event loop; both subclass
this, so that a behaviour is written once.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from typing import (
    AbstractSet, Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar, Union,
)

from .commands import CommandKind, Commands, Events, Text, Warnings
from .errors import CommandError, ProtocolError
from .events import CtlReply, ServiceState
from .mirror import Mirror
from .paths import default_socket_path, trusted_uids
from .protocol import Field, check_name
from .session import MAX_EVENT_BYTES, MAX_EVENTS, Request, Session
from .transport import spawn_daemon, take_stdio

__all__ = ['ClientCore', 'DEFAULT_TIMEOUT', 'deadline_in', 'expired', 'socket_target']

#: Seconds a request waits for its reply unless told otherwise.
DEFAULT_TIMEOUT = 10.0

C = TypeVar('C', bound='ClientCore')


def deadline_in(timeout: Optional[float]) -> Optional[float]:
    """The monotonic time timeout seconds from now (None: no deadline)."""
    return None if timeout is None else time.monotonic() + timeout


def expired(deadline: Optional[float]) -> bool:
    """True once the deadline (a monotonic time, or None) has passed."""
    return deadline is not None and time.monotonic() >= deadline


def socket_target(path: Optional[str],
                  trust_uid: Union[int, str, None]) -> Tuple[str, AbstractSet[int]]:
    """The control socket to connect to (path, else the default one) and
    the uids trusted to serve it (see :func:`~daemonproxy.paths.trusted_uids`)."""
    trusted = trusted_uids(trust_uid)
    return path or default_socket_path(check=True), trusted


class ClientCore(Commands[Warnings, Text, Events]):
    """The connection state and the non-waiting steps of both clients (see
    :class:`~daemonproxy.client.Client` for the options)."""

    def __init__(self, rfd: int, wfd: int, *, mirror: bool = True, auto_resync: bool = True,
                 queue_events: bool = True, max_events: int = MAX_EVENTS,
                 max_event_bytes: int = MAX_EVENT_BYTES, timeout: float = DEFAULT_TIMEOUT,
                 closer: Optional[Callable[[], None]] = None) -> None:
        self.mirror: Optional[Mirror] = Mirror() if mirror else None
        self.session = Session(self.mirror, auto_resync=auto_resync, queue_events=queue_events,
                               max_events=max_events, max_event_bytes=max_event_bytes)
        self.timeout = timeout
        self.sock: Optional[socket.socket] = None
        self.path: Optional[str] = None
        self.process: Optional[subprocess.Popen] = None
        self.auto_reconnect = False
        self.reconnect_timeout = DEFAULT_TIMEOUT
        self._trusted: Optional[AbstractSet[int]] = None      # connect()'s trust
        self._closer = closer
        self._closed = False
        self._broken = False
        self._wbuf = b''
        self._use_fds(rfd, wfd)

    def _use_fds(self, rfd: int, wfd: int) -> None:
        self._rfd, self._wfd = rfd, wfd
        os.set_blocking(rfd, False)
        if wfd != rfd:
            os.set_blocking(wfd, False)

    # --- how a client is made -------------------------------------------------------

    @classmethod
    def _over_socket(cls: type[C], sock: socket.socket, path: str, trusted: AbstractSet[int],
                     auto_reconnect: bool, kw: Dict[str, Any]) -> C:
        c = cls(sock.fileno(), sock.fileno(), closer=sock.close, **kw)
        c.sock, c.path, c.auto_reconnect, c._trusted = sock, path, auto_reconnect, trusted
        return c

    @classmethod
    def _over_stdio(cls: type[C], take: bool, kw: Dict[str, Any]) -> C:
        rfd, wfd, close = take_stdio(take)
        return cls(rfd, wfd, closer=close, **kw)

    @classmethod
    def _over_child(cls: type[C], binary: str, args: Sequence[str], stderr: Any,
                    env: Optional[dict], cwd: Optional[str], pass_fds: Sequence[int],
                    kw: Dict[str, Any]) -> Tuple[C, subprocess.Popen]:
        proc = spawn_daemon(binary, args, stderr, env, cwd, pass_fds)
        c = cls(proc.stdout.fileno(), proc.stdin.fileno(), **kw)    # type: ignore[union-attr]
        c.process = proc
        return c, proc

    # --- requests -------------------------------------------------------------------

    def _new_request(self, fields: Sequence[Field], kind: CommandKind) -> Request:
        if kind == 'exit':
            return self.session.request_final(fields)
        return self.session.request(fields, kind)

    @staticmethod
    def _outcome(req: Request, post: Optional[Callable[[List[str]], Any]]) -> Any:
        return req.events if post is None else post(req.reply)

    def _after_signal_clear(self, name: str, count: int) -> None:
        if self.mirror is not None:
            self.mirror.clear_signal(name, count)

    def _timeout_or_default(self, timeout: Optional[float]) -> float:
        return self.timeout if timeout is None else timeout

    def _fd_take_check(self, name: str) -> str:
        name = check_name(name, 'handle', 'fd.take')
        if self.sock is None:
            raise ConnectionError('fd.take needs a control socket connection')
        return name

    def _send_with_fd(self, name: str, fd: int) -> Request:
        """Queue ``fd.take→NAME`` and send its first bytes with fd attached
        (the write buffer must be empty: the fd goes with these bytes)."""
        req = self.session.request(('fd.take', name))
        data = self.session.data_to_send()
        try:
            n = socket.send_fds(self.sock, [data], [fd])      # type: ignore[arg-type]
        except BlockingIOError:
            n = 0
        self._wbuf += data[n:] if n else data
        return req

    # --- steps of stop() and ctl_request() (the waits are each client's) ------------

    def _stop_begin(self, name: str) -> Optional[int]:
        """stop() checks: the pid of the run to stop (None if none runs)."""
        if self.mirror is None:
            raise ValueError('stop() needs a client that keeps a mirror')
        info = self.mirror.service(name)
        return info.pid if info is not None else None

    def _stopped(self, name: str, pid: Optional[int]) -> Callable[[Mirror], bool]:
        """The mirror condition of stop(): the run pid is over, and no
        process is left in the service's cgroup (with --cgroup)."""
        def done(m: Mirror) -> bool:
            info = m.service(name)
            return info is None or (info.pid is None or info.pid != pid) \
                and info.cgroup != 'populated'
        return done

    def _stop_result(self, name: str) -> ServiceState:
        info = self.mirror.service(name) if self.mirror is not None else None
        return info.state if info is not None else ServiceState(name, 'deleted')

    @staticmethod
    def _signal_moot(e: CommandError) -> bool:
        """A signal refused because the run is already over (a race with
        its exit): stop() goes on."""
        return e.message.endswith('is not running')

    @staticmethod
    def _ctl_call(req: Request) -> Request:
        """The call a ctl.request's reply opened."""
        if req.call is None:
            raise ProtocolError('no request ID in the reply to %s' % ' '.join(req.fields)[:60])
        return req.call

    @staticmethod
    def _ctl_replies(call: Request) -> List[CtlReply]:
        return [ev for ev in call.events if isinstance(ev, CtlReply)]

    # --- bytes in and out -----------------------------------------------------------

    def _take_output(self) -> None:
        """Move what the session queued to the write buffer."""
        out = self.session.data_to_send()
        if out:
            if self._broken or self.session.closed:
                raise self.session.closed_error()
            self._wbuf += out

    def _wrote(self, n: int) -> None:
        """n bytes of the write buffer went out (-1: the peer is gone)."""
        if n < 0:
            self._broken = True
            self._wbuf = b''
        else:
            self._wbuf = self._wbuf[n:]

    def _received(self, data: bytes) -> None:
        """Hand received bytes (b'': end of file) to the session.  A peer
        that is not daemonproxy is hung up on and ProtocolError raised."""
        if data:
            try:
                self.session.feed(data)
            except ProtocolError:
                self._hang_up()
                raise
        else:
            self._wbuf = b''
            self.session.feed_eof()

    def _hang_up(self) -> None:
        """The peer is not daemonproxy: close the connection, keep the
        client (its calls raise the session's ProtocolError)."""
        self._wbuf = b''
        self._broken = True
        closer, self._closer = self._closer, None
        if closer is not None:
            closer()

    # --- reconnecting ---------------------------------------------------------------

    def _may_reconnect(self) -> bool:
        return bool(self.auto_reconnect and self.path and not self._closed) and \
            self.session.failure is None

    def _reconnect_target(self) -> Tuple[str, AbstractSet[int]]:
        if not self.path:
            raise ConnectionError('only a control socket connection can reconnect')
        if self._trusted is None:
            self._trusted = trusted_uids()
        return self.path, self._trusted

    def _adopt(self, sock: socket.socket) -> None:
        """Carry on over sock, a new connection to the same socket: pending
        requests fail, a resync is queued."""
        if self.sock is not None:
            self.sock.close()
        self.sock = sock
        self._closer = sock.close
        self._wbuf = b''
        self._broken = False
        self.session.reset()
        self._use_fds(sock.fileno(), sock.fileno())
        if self.mirror is not None:
            self.session.resync()

    @property
    def closed(self) -> bool:
        """True once closed by us, or ended by daemonproxy."""
        return self._closed or self.session.closed

    def __repr__(self) -> str:
        where = self.path or ('pid %d' % self.process.pid if self.process else 'fds %d/%d'
                              % (self._rfd, self._wfd))
        return '<daemonproxy.%s %s%s>' % (type(self).__name__, where,
                                          ' closed' if self.closed else '')
