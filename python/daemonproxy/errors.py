"""The exceptions raised by the daemonproxy library.

Every exception derives from :class:`DaemonProxyError`, so one ``except``
clause catches them all; each also derives from the built-in exception a
caller would naturally expect (``ValueError`` for a bad argument,
``TimeoutError``, ``ConnectionError``).
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

__all__ = [
    'DaemonProxyError', 'InvalidArgument', 'CommandError', 'ControllerError', 'ReplyLost',
    'ConnectionClosed', 'UntrustedSocket', 'ProtocolError', 'Timeout',
]


class DaemonProxyError(Exception):
    """Base class of every exception of this library."""


class InvalidArgument(DaemonProxyError, ValueError):
    """An argument the daemon would refuse (or could not even parse): a TAB,
    newline or other control character in a field, an invalid name, a
    number out of range, a line over 4,096 bytes.  Raised before anything
    is sent.

    ``command`` is the protocol command (``'service.args'``), or ``None``
    for a generic check.
    """

    def __init__(self, message: str, command: Optional[str] = None) -> None:
        super().__init__('%s: %s' % (command, message) if command else message)
        self.command = command
        self.message = message


class CommandError(DaemonProxyError):
    """The daemon answered a command with an ``error`` line.

    ``command`` is the tuple of fields sent, ``message`` the daemon's
    message without the ``, for command "..."`` excerpt, and ``line`` the
    whole error line as received.
    """

    def __init__(self, command: Sequence[str], message: str, line: str = '') -> None:
        self.command: Tuple[str, ...] = tuple(command)
        self.message = message
        self.line = line
        super().__init__('%s: %s' % (' '.join(self.command)[:80], message))


class ControllerError(CommandError):
    """The controller that serves a verb answered a ``ctl.request`` with
    ``ctl.reply→ID→error→TEXT`` (its own refusal, or the daemon's
    ``controller gone``).  ``message`` is TEXT; ``replies`` the
    :class:`~daemonproxy.events.CtlReply` lines of the request, the
    ``info`` ones first and this ``error`` last."""

    def __init__(self, command: Sequence[str], message: str, line: str = '',
                 replies: Sequence[object] = ()) -> None:
        super().__init__(command, message, line)
        self.replies = tuple(replies)


class ReplyLost(DaemonProxyError):
    """An ``overflow`` came while a command's reply was due: the daemon
    discarded output meanwhile, so the command ran (or will run) but its
    reply may be gone.  ``command`` is the tuple of fields sent."""

    def __init__(self, command: Sequence[str]) -> None:
        self.command = tuple(command)
        super().__init__('%s: reply lost (overflow)' % ' '.join(self.command)[:80])


class ConnectionClosed(DaemonProxyError, ConnectionError):
    """The connection to daemonproxy ended (end of file, reset, closed)."""


class UntrustedSocket(ConnectionClosed):
    """A socket the client will not talk to, refused before a single byte
    was sent (the connection, if any, is closed).

    Either the process at the other end runs as a uid that is neither root,
    nor the client's own effective uid, nor the one it was told to trust
    (``trust_uid=``, ``$DAEMONPROXY_TRUST_UID``): anybody may create a
    socket, and a command such as ``service.env`` can carry secrets.  Or
    the directory of the default socket, ``/tmp/daemonproxy-UID``, is not a
    directory of the client's own that nobody else may write to.

    ``path`` is the socket (or that directory), ``uid`` the peer's uid (or
    the directory's owner), ``pid`` the peer's pid (None for a directory),
    ``reason`` the message without the path.
    """

    def __init__(self, path: str, reason: str, uid: Optional[int] = None,
                 pid: Optional[int] = None, role: str = '') -> None:
        super().__init__('refusing %s%s: %s' % (path, ' ' + role if role else '', reason))
        self.path = path
        self.reason = reason
        self.uid = uid
        self.pid = pid


class ProtocolError(DaemonProxyError, ConnectionError):
    """What came from the peer cannot be daemonproxy's output: a line
    longer than the longest the daemon sends (EVENT_LINE_MAX bytes), or a
    control character other than TAB in a line.  The peer is not speaking
    daemonproxy's protocol (some other program listens on the socket, or
    the stream is corrupt); the client closes the connection and pending
    requests fail with this exception.  ``received`` holds the first bytes
    of what was refused."""

    def __init__(self, message: str, received: bytes = b'') -> None:
        super().__init__('%s: the peer is not speaking daemonproxy\'s protocol (received %r)'
                         % (message, received[:40]))
        self.message = message
        self.received = received[:40]


class Timeout(DaemonProxyError, TimeoutError):
    """Nothing suitable arrived before the deadline."""
