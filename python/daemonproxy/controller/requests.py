"""Requests addressed to the controller (docs/protocol.md, "Requests to
the controller"), as pure functions: the ``ctl.reply`` commands, the
arguments of ``shutdown`` (the library parses the request lines into
``daemonproxy.CtlRequest`` events).

dpcontroller answers ``ctl.serve→reload→shutdown`` at start; daemonproxy
then hands it each request as a private line
``ctl.request→ID→BY→VERB→[ARG…]`` and forwards its
``ctl.reply→ID→STATUS→[TEXT…]`` (STATUS ``info`` any number of times, then
``ok`` or ``error``) to the client that asked (``dpctl reload``,
``dpctl shutdown``).  The handlers are Controller.on_request and the
methods it calls; everything here is data.
"""

from __future__ import annotations

from typing import Optional, Tuple

from ..events import CtlRequest

__all__ = ['VERBS', 'reply_command', 'shutdown_code', 'REPLY_TEXT_MAX']

#: The verbs dpcontroller serves (the fields of its ctl.serve).
VERBS: Tuple[str, ...] = ('reload', 'shutdown')

#: At most this many characters of text in one reply: the daemon's line
#: is 4,096 bytes, the ID and status are short, a character may be 4 bytes.
REPLY_TEXT_MAX = 900


def _one_line(text: str) -> str:
    """text as one protocol field: control characters (TAB, newline) become
    spaces, and a text longer than REPLY_TEXT_MAX is cut with a mark."""
    clean = ''.join(' ' if ord(c) < 0x20 or c == '\x7f' else c for c in text)
    if len(clean) > REPLY_TEXT_MAX:
        clean = clean[:REPLY_TEXT_MAX - 20] + ' ... (cut)'
    return clean


def reply_command(req: CtlRequest, status: str, text: str = '') -> Tuple[str, ...]:
    """The ``ctl.reply`` command for req (status: info, ok or error)."""
    return ('ctl.reply', str(req.id), status) + ((_one_line(text),) if text else ())


def shutdown_code(args: Tuple[str, ...], default: int) -> Tuple[Optional[int], str]:
    """``shutdown→[CODE]``'s exit code (default: the file's exit_code) and
    an empty string, or None and why the arguments are wrong."""
    if not args:
        return default, ''
    if len(args) == 1 and args[0].isdigit() and int(args[0]) <= 255:
        return int(args[0]), ''
    return None, 'usage: shutdown [CODE] (CODE: 0 to 255), not %r' % ' '.join(args)
