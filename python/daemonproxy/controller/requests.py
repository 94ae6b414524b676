"""Requests addressed to the controller (docs/protocol.md, "Addressing
the controller"), as pure functions: reading a ``ctl.request`` line,
the ``ctl.reply`` commands, the arguments of ``shutdown``.

dpcontroller answers ``ctl.serve→reload→shutdown`` at start; daemonproxy
then hands it each request as a private line
``ctl.request→ID→BY→VERB→[ARG…]`` and forwards its
``ctl.reply→ID→STATUS→[TEXT…]`` (STATUS ``info`` any number of times, then
``ok`` or ``error``) to the client that asked (``dpctl reload``,
``dpctl shutdown``).  The handlers are Controller.on_request and the
methods it calls; everything here is data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

__all__ = ['VERBS', 'CtlRequest', 'parse_request', 'reply_command', 'shutdown_code',
           'REPLY_TEXT_MAX']

#: The verbs dpcontroller serves (the fields of its ctl.serve).
VERBS: Tuple[str, ...] = ('reload', 'shutdown')

#: At most this many characters of text in one reply: the daemon's line
#: is 4,096 bytes, the ID and status are short, a character may be 4 bytes.
REPLY_TEXT_MAX = 900


@dataclass(frozen=True)
class CtlRequest:
    """One request to the controller: ``ctl.request→ID→BY→VERB→[ARG…]``."""

    id: str
    by: str             # who asked: uid=N (a socket client), stdin, controller
    verb: str
    args: Tuple[str, ...] = ()


def parse_request(ev: object) -> Optional[CtlRequest]:
    """The request an event carries, or None.  The library may know the
    line as its own event class or hand it over as a RawEvent; both give
    their line's fields.  The asker's own answer (``ctl.request→ID→VERB``,
    three fields) is not a request."""
    if getattr(ev, 'kind', None) not in ('', 'ctl.request'):
        return None
    fields = getattr(ev, 'fields', None)
    if fields is None:
        return None
    f = fields()
    if len(f) < 4 or f[0] != 'ctl.request' or not f[1].isdigit() or not f[3]:
        return None
    return CtlRequest(f[1], f[2], f[3], tuple(f[4:]))


def _one_line(text: str) -> str:
    """text as one protocol field: control characters (TAB, newline) become
    spaces, and a text longer than REPLY_TEXT_MAX is cut with a mark."""
    clean = ''.join(' ' if ord(c) < 0x20 or c == '\x7f' else c for c in text)
    if len(clean) > REPLY_TEXT_MAX:
        clean = clean[:REPLY_TEXT_MAX - 20] + ' ... (cut)'
    return clean


def reply_command(req: CtlRequest, status: str, text: str = '') -> Tuple[str, ...]:
    """The ``ctl.reply`` command for req (status: info, ok or error)."""
    return ('ctl.reply', req.id, status) + ((_one_line(text),) if text else ())


def shutdown_code(args: Tuple[str, ...], default: int) -> Tuple[Optional[int], str]:
    """``shutdown→[CODE]``'s exit code (default: the file's exit_code) and
    an empty string, or None and why the arguments are wrong."""
    if not args:
        return default, ''
    if len(args) == 1 and args[0].isdigit() and int(args[0]) <= 255:
        return int(args[0]), ''
    return None, 'usage: shutdown [CODE] (CODE: 0 to 255), not %r' % ' '.join(args)
