"""The asyncio client.

:class:`AsyncClient` has the same methods as the blocking client, as
coroutines, over the same :class:`~daemonproxy.session.Session`: the
event loop watches the file descriptors (``add_reader``/``add_writer``)
and feeds the session; requests from several tasks may be in flight at
once (their replies come back in order)::

    async with await AsyncClient.connect('/run/daemonproxy.sock') as dp:
        await dp.service_args('web', 'httpd', '-f')
        await dp.service_start('web')
        async for ev in dp:
            print(ev)
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from typing import AbstractSet, Any, Awaitable, Callable, Iterable, List, Optional, Sequence, Union

from .commands import CommandKind, SignalLike, ctl_request_fields, warnings_of
from .core import ClientCore, expired, socket_target
from .errors import (
    CommandError, ConnectionClosed, ProtocolError, ReplyLost, Timeout, UntrustedSocket,
)
from .events import CtlReply, Event, ServiceState, WarningEvent
from .mirror import Mirror
from .protocol import Field
from .session import Request
from .transport import check_peer, closer_of, read_some, write_some

__all__ = ['AsyncClient']


class AsyncClient(ClientCore[Awaitable[List[WarningEvent]], Awaitable[Optional[str]],
                             Awaitable[List[Event]]]):
    """An asyncio connection to daemonproxy.

    Make one with ``await AsyncClient.connect(path)``, ``await
    AsyncClient.from_stdio()`` or ``await AsyncClient.spawn(binary)``; the
    options are those of :class:`~daemonproxy.client.Client`.  Every
    command method is a coroutine; ``async for event in client`` reads
    events until the connection ends.
    """

    def __init__(self, rfd: int, wfd: int, **kw: Any) -> None:
        self._loop = asyncio.get_running_loop()
        self._waiters: List[asyncio.Future] = []
        self._writing = False
        super().__init__(rfd, wfd, **kw)

    def _use_fds(self, rfd: int, wfd: int) -> None:
        super()._use_fds(rfd, wfd)
        self._writing = False
        self._loop.add_reader(rfd, self._on_readable)

    def _detach(self) -> None:
        if self._rfd >= 0:
            self._loop.remove_reader(self._rfd)
        if self._writing:
            self._loop.remove_writer(self._wfd)
            self._writing = False

    # --- ways to connect ----------------------------------------------------------

    @classmethod
    async def connect(cls, path: Optional[str] = None, *, connect_timeout: float = 0.0,
                      auto_reconnect: bool = False, sync: bool = True,
                      trust_uid: Union[int, str, None] = None,
                      **kw: Any) -> 'AsyncClient':
        """Connect to the control socket at path (default: the default
        socket path); see Client.connect, also for the peer check and
        ``trust_uid`` (UntrustedSocket before a byte is sent)."""
        path, trusted = socket_target(path, trust_uid)
        sock = await _connect_unix(path, connect_timeout, trusted)
        return await cls._over_socket(sock, path, trusted, auto_reconnect, kw)._synced(sync)

    @classmethod
    async def from_stdio(cls, *, take_stdio: bool = True, sync: bool = True,
                         **kw: Any) -> 'AsyncClient':
        """Run as daemonproxy's controller service (events on fd 0, commands
        on fd 1); see Client.from_stdio."""
        return await cls._over_stdio(take_stdio, kw)._synced(sync)

    @classmethod
    async def spawn(cls, binary: str = 'daemonproxy', args: Sequence[str] = (), *,
                    stderr: Any = None, env: Optional[dict] = None, cwd: Optional[str] = None,
                    pass_fds: Sequence[int] = (), sync: bool = True,
                    **kw: Any) -> 'AsyncClient':
        """Start ``binary -i ARGS…``; see Client.spawn."""
        c, proc = cls._over_child(binary, args, stderr, env, cwd, pass_fds, kw)
        c._closer = closer_of(proc.stdin, proc.stdout)
        return await c._synced(sync)

    async def _synced(self, sync: bool) -> 'AsyncClient':
        if sync and self.mirror is not None:
            await self.resync()
        return self

    # --- requests -------------------------------------------------------------------

    async def request(self, *fields: Field, timeout: Optional[float] = None) -> List[str]:
        """See Client.request."""
        return (await self._wait(self.session.request(fields), timeout)).reply

    async def send(self, *fields: Field) -> None:
        """Send one command without waiting for a reply."""
        self.session.send(fields)
        self._kick()

    async def send_many(self, commands: Iterable[Sequence[Field]]) -> None:
        """Send several commands in as few writes as the connection allows,
        without waiting for replies.  All or none: an invalid command
        raises InvalidArgument before anything is sent."""
        self.session.send_many(commands)
        self._kick()

    async def _command(self, fields: Sequence[Field],
                       post: Optional[Callable[[List[str]], Any]] = warnings_of,
                       kind: CommandKind = None) -> Any:
        return self._outcome(await self._wait(self._new_request(fields, kind), None), post)

    async def _wait(self, req: Request, timeout: Optional[float]) -> Request:
        t = self._timeout_or_default(timeout)
        deadline = time.monotonic() + t
        self._kick()
        while not req.done:
            if not await self._change(deadline) and not req.done:
                raise Timeout('no reply to %r within %.1fs' % (' '.join(req.fields)[:60], t))
        if req.exception is not None:
            raise req.exception
        return req

    async def resync(self, timeout: Optional[float] = None) -> None:
        """See Client.resync."""
        t = self._timeout_or_default(timeout)
        deadline = time.monotonic() + t
        while True:
            req = self.session.resync()
            try:
                await self._wait(req, max(0.0, deadline - time.monotonic()))
                return
            except ReplyLost:
                if expired(deadline):           # overflow after overflow: still a deadline
                    raise Timeout('no complete statedump within %.1fs (overflow)' % t) from None

    async def stop(self, name: str, timeout: float = 10.0, *, why: str = '',
                   sig: SignalLike = 'SIGTERM') -> ServiceState:
        """See Client.stop."""
        pid = self._stop_begin(name)
        await self.want(name, 'down', why)
        done = self._stopped(name, pid)
        if pid is not None and not done(self.mirror):       # type: ignore[arg-type]
            try:
                await self.service_signal(name, sig)
            except CommandError as e:
                if not self._signal_moot(e):
                    raise
        try:
            await self.wait_until(done, timeout)
        except Timeout:
            await self._kill(name)
            await self.wait_until(done)
        return self._stop_result(name)

    async def _kill(self, name: str) -> None:
        info = self.mirror.service(name) if self.mirror is not None else None
        for scope in ('cgroup' if info is not None and info.cgroup is not None else 'group',
                      None):
            try:
                await self.service_signal(name, 'SIGKILL', scope)
                return
            except CommandError as e:
                if self._signal_moot(e):
                    return          # else: no group (it left it): the process itself

    async def ctl_request(self, verb: str, *args: Field,
                          timeout: Optional[float] = None) -> List[CtlReply]:
        """See Client.ctl_request."""
        req = await self._wait(self.session.request(ctl_request_fields(verb, args)), None)
        call = self._ctl_call(req)
        try:
            await self._wait(call, timeout)
        finally:
            self.session.forget_call(call)
        return self._ctl_replies(call)

    async def fd_take(self, name: str, fd: int) -> List[WarningEvent]:
        """See Client.fd_take."""
        name = self._fd_take_check(name)
        deadline = time.monotonic() + self.timeout
        self._kick()
        while self._wbuf:
            if not await self._change(deadline):
                raise Timeout('cannot send to daemonproxy (not reading)')
        return warnings_of((await self._wait(self._send_with_fd(name, fd), None)).reply)

    # --- events ---------------------------------------------------------------------

    async def next_event(self, timeout: Optional[float] = None) -> Optional[Event]:
        """See Client.next_event."""
        q = self.session.events
        deadline = None if timeout is None else time.monotonic() + timeout
        while not q:
            if self.session.closed and not await self._reconnect_if_wanted():
                raise self.session.closed_error()
            if not await self._change(deadline):
                break
        return q.popleft() if q else None

    def __aiter__(self) -> 'AsyncClient':
        return self

    async def __anext__(self) -> Event:
        while True:
            try:
                ev = await self.next_event()
            except ConnectionClosed:
                raise StopAsyncIteration from None
            if ev is not None:
                return ev

    async def wait_for(self, predicate: Callable[[Event], bool],
                       timeout: Optional[float] = None) -> Event:
        """See Client.wait_for."""
        t = self._timeout_or_default(timeout)
        deadline = time.monotonic() + t
        while True:
            ev = await self.next_event(max(0.0, deadline - time.monotonic()))
            if ev is not None and predicate(ev):
                return ev
            if ev is None or expired(deadline):
                raise Timeout('no matching event within %.1fs' % t)

    async def wait_until(self, predicate: Callable[[Mirror], bool],
                         timeout: Optional[float] = None) -> None:
        """See Client.wait_until."""
        if self.mirror is None:
            raise ValueError('this client keeps no mirror')
        t = self._timeout_or_default(timeout)
        deadline = time.monotonic() + t
        while not predicate(self.mirror):
            if self.session.closed and not await self._reconnect_if_wanted():
                raise self.session.closed_error()
            if not await self._change(deadline) and not predicate(self.mirror):
                raise Timeout('mirror condition not met within %.1fs' % t)

    # --- I/O ------------------------------------------------------------------------

    async def _change(self, deadline: Optional[float]) -> bool:
        """Wait until input has been processed; False once the deadline has
        passed (even if input was processed: a peer that never stops
        sending must not keep a caller waiting), or the connection ended."""
        if self._closed:
            raise ConnectionClosed('the client is closed')
        if self.session.closed:
            return False
        fut = self._loop.create_future()
        self._waiters.append(fut)
        try:
            if deadline is None:
                await fut
            else:
                await asyncio.wait_for(fut, max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            return False
        finally:
            if fut in self._waiters:
                self._waiters.remove(fut)
        return not expired(deadline)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for f in waiters:
            if not f.done():
                f.set_result(None)

    def _on_readable(self) -> None:
        data = read_some(self._rfd)
        if data is None:
            return
        if not data:
            self._loop.remove_reader(self._rfd)
            self._rfd = -1
        try:
            self._received(data)
        except ProtocolError:
            self._wake()                # the waiters learn it from the session
            return
        try:
            self._kick()
        except ConnectionClosed:
            pass                    # the waiters learn it from the session
        self._wake()

    def _kick(self) -> None:
        """Write what the session has queued, as far as the fd takes it."""
        self._take_output()
        if self._wbuf and not self._writing:
            self._on_writable()
            if self._wbuf:
                self._loop.add_writer(self._wfd, self._on_writable)
                self._writing = True

    def _on_writable(self) -> None:
        self._wrote(write_some(self._wfd, self._wbuf))
        if not self._wbuf and self._writing:
            self._loop.remove_writer(self._wfd)
            self._writing = False

    def _hang_up(self) -> None:
        self._detach()
        self._rfd = -1
        super()._hang_up()

    async def _reconnect_if_wanted(self) -> bool:
        if not self._may_reconnect():
            return False
        try:
            await self.reconnect(self.reconnect_timeout)
        except UntrustedSocket:
            raise
        except (OSError, Timeout):
            return False
        return True

    async def reconnect(self, timeout: Optional[float] = None) -> None:
        """See Client.reconnect."""
        path, trusted = self._reconnect_target()
        sock = await _connect_unix(path, self._timeout_or_default(timeout), trusted)
        self._detach()
        self._adopt(sock)
        self._kick()

    async def close(self) -> None:
        """Close the connection (for a spawned daemonproxy: close its stdin
        and wait for it to exit, killing it after the timeout)."""
        if self._closed:
            return
        self._closed = True
        self._detach()
        self._wake()
        if self._closer is not None:
            self._closer()
        proc = self.process
        if proc is not None:
            try:
                await self._loop.run_in_executor(None, proc.wait, self.timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                await self._loop.run_in_executor(None, proc.wait)

    async def __aenter__(self) -> 'AsyncClient':
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


async def _connect_unix(path: str, timeout: float, trusted: AbstractSet[int]) -> socket.socket:
    """See client._connect_unix."""
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        s.setblocking(False)
        try:
            await loop.sock_connect(s, path)
            check_peer(s, path, trusted)
            return s
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)
        except BaseException:
            s.close()
            raise
