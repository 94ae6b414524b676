"""Talk to daemonproxy, the process supervisor with no policy of its own.

daemonproxy keeps programs running and reports every change as a line of
TAB-separated fields; a *controller* decides what to do and sends commands
back (docs/protocol.md in the daemonproxy sources is the reference).  This
package is a controller toolkit, standard library only:

* **Connections.**  :class:`Client` (blocking) and :class:`AsyncClient`
  (asyncio) connect to a control socket (``Client.connect(path)``; no path:
  :func:`default_socket_path`), run as daemonproxy's controller service
  over stdin/stdout (``Client.from_stdio()``), or start a daemonproxy child
  with ``-i`` (``Client.spawn(binary)``).
* **Trust.**  Before sending a byte on a control socket, a client checks
  who listens there (SO_PEERCRED): root, the client's own user, or the
  ``trust_uid=`` it was given (default ``$DAEMONPROXY_TRUST_UID``); anyone
  else is refused with :class:`UntrustedSocket`.  And nothing the peer
  sends grows a buffer past one line (:data:`EVENT_LINE_MAX`) or keeps a
  call past its deadline: what daemonproxy never sends raises
  :class:`ProtocolError`.
* **Commands** are methods that check their arguments before anything is
  sent (:class:`InvalidArgument`, a ValueError) and raise
  :class:`CommandError` with the command and the daemon's message when it
  answers an error: ``service_args``, ``service_start``, ``fd_pipe``… one
  per command.  ``request(*fields)`` sends any command and returns its
  reply lines; ``send(*fields)`` sends one without waiting, and
  ``send_many(commands)`` sends several in one write (all or none).
* **Events** are typed, immutable objects (:class:`ServiceState`,
  :class:`FdState`, :class:`ServiceNotify`…; :func:`parse_event` never
  raises: unknown lines are :class:`RawEvent`).  Read them with
  ``next_event(timeout)``, by iterating the client, or with
  ``wait_for(predicate, timeout)``.
* **Desired state.**  ``want(name, 'down')`` records what is wanted of a
  service in daemonproxy (nothing starts it then but a want ``'up'``);
  ``stop(name, timeout)`` does that, signals it, and returns once it is
  down; ``start_in(name, seconds)`` starts it after a duration.
  ``ctl_request(verb)`` asks the controller that serves verb
  (``reload``...) and returns its replies.
* **The mirror** (``client.mirror``, a :class:`Mirror`) is a copy of the
  daemon's services (definition, state, readiness), handles and signals,
  filled by a statedump and kept current by events; it is rebuilt on its
  own after an ``overflow`` or a reconnect.

Example, against a daemonproxy started with ``-S /tmp/dp.sock``::

    import daemonproxy

    with daemonproxy.Client.connect('/tmp/dp.sock') as dp:
        dp.service_args('web', 'python3', '-m', 'http.server', '8000')
        dp.service_fds('web', 'null', 'stderr', 'stderr')
        dp.service_start('web')
        up = dp.wait_for(lambda ev: isinstance(ev, daemonproxy.ServiceState)
                         and ev.name == 'web' and ev.state == 'up')
        print('web runs as pid', up.pid)
        print(dp.mirror.services['web'].args)
        try:
            dp.service_start('nosuch')
        except daemonproxy.CommandError as e:
            print(e.message)        # no such service 'nosuch'

The same with asyncio::

    async with await daemonproxy.AsyncClient.connect('/tmp/dp.sock') as dp:
        await dp.service_start('web')
        async for ev in dp:
            print(ev)

Modules: :mod:`~daemonproxy.protocol` (fields, limits, validation, no
I/O), :mod:`~daemonproxy.events`, :mod:`~daemonproxy.mirror`,
:mod:`~daemonproxy.session` (the protocol state of a connection, no I/O),
:mod:`~daemonproxy.commands` (the command methods),
:mod:`~daemonproxy.core` (what both clients share),
:mod:`~daemonproxy.client` (blocking), :mod:`~daemonproxy.aio` (asyncio),
:mod:`~daemonproxy.errors`, :mod:`~daemonproxy.paths`.
"""

from __future__ import annotations

from .client import DEFAULT_TIMEOUT, Client
from .commands import LOG_LEVELS, Commands
from .errors import (
    CommandError, ConnectionClosed, ControllerError, DaemonProxyError, InvalidArgument,
    ProtocolError, ReplyLost, Timeout, UntrustedSocket,
)
from .events import (
    CtlReply, CtlRequest, CtlRequestId, Error, Event, EventsDropped, FdState, LogFilter, Orphan,
    Overflow, RawEvent, Resynced, ServiceArgs, ServiceAutoUp, ServiceCgroup, ServiceEnv,
    ServiceFds, ServiceNotify, ServiceOpts, ServiceState, ServiceTags, ServiceWant, Signal,
    WarningEvent, parse_event,
)
from .mirror import Mirror, ServiceInfo
from .paths import TRUST_UID_ENV, default_socket_path, trusted_uids
from .protocol import CONTROL_SIGNALS, EVENT_LINE_MAX, LINE_MAX, NAME_MAX, SIGNAL_NAMES
from .session import Request, Session

__version__ = '0.1.0'


def __getattr__(name: str):
    # AsyncClient is imported on first use: asyncio (and the ssl module it
    # loads) costs about 10 MB of RSS that a blocking controller never needs.
    if name == 'AsyncClient':
        from .aio import AsyncClient
        return AsyncClient
    raise AttributeError('module %r has no attribute %r' % (__name__, name))

__all__ = [
    'Client', 'AsyncClient', 'Commands', 'Session', 'Request', 'Mirror', 'ServiceInfo',
    'default_socket_path', 'trusted_uids', 'TRUST_UID_ENV', 'parse_event', 'DEFAULT_TIMEOUT',
    'LOG_LEVELS', 'CONTROL_SIGNALS', 'SIGNAL_NAMES', 'LINE_MAX', 'EVENT_LINE_MAX', 'NAME_MAX',
    'Event', 'ServiceState', 'ServiceArgs', 'ServiceFds', 'ServiceTags', 'ServiceAutoUp',
    'ServiceEnv', 'ServiceOpts', 'ServiceNotify', 'ServiceCgroup', 'ServiceWant', 'FdState',
    'Signal', 'Orphan', 'CtlRequest', 'CtlRequestId', 'CtlReply', 'Overflow', 'Error',
    'WarningEvent', 'LogFilter', 'RawEvent', 'Resynced', 'EventsDropped',
    'DaemonProxyError', 'InvalidArgument', 'CommandError', 'ControllerError', 'ReplyLost',
    'ConnectionClosed', 'UntrustedSocket', 'ProtocolError', 'Timeout',
]
