"""The exceptions raised by the daemonproxy library.

Every exception derives from :class:`DaemonProxyError`, so one ``except``
clause catches them all; each also derives from the built-in exception a
caller would naturally expect (``ValueError`` for a bad argument,
``TimeoutError``, ``ConnectionError``).
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

__all__ = [
    'DaemonProxyError', 'InvalidArgument', 'CommandError', 'ReplyLost',
    'ConnectionClosed', 'Timeout',
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


class ReplyLost(DaemonProxyError):
    """An ``overflow`` came while a command's reply was due: the daemon
    discarded output meanwhile, so the command ran (or will run) but its
    reply may be gone.  ``command`` is the tuple of fields sent."""

    def __init__(self, command: Sequence[str]) -> None:
        self.command = tuple(command)
        super().__init__('%s: reply lost (overflow)' % ' '.join(self.command)[:80])


class ConnectionClosed(DaemonProxyError, ConnectionError):
    """The connection to daemonproxy ended (end of file, reset, closed)."""


class Timeout(DaemonProxyError, TimeoutError):
    """Nothing suitable arrived before the deadline."""
