"""The line format of the daemonproxy protocol: fields, limits, validation.

Pure functions, no I/O.  A command is a tuple of fields; :func:`encode_command`
checks and joins it into the bytes of one line.  The checks mirror what
the daemon itself refuses (see docs/protocol.md), so that a bad argument
raises :class:`~daemonproxy.errors.InvalidArgument` here, before anything
is sent, instead of an ``error`` line later.

Text is exchanged as UTF-8; bytes that are not valid UTF-8 are decoded with
``surrogateescape`` so that every line survives a round trip unchanged.
"""

from __future__ import annotations

import os
import re
import signal as _signal
import time
from typing import Iterable, List, Optional, Sequence, Tuple, Union

from .errors import InvalidArgument

__all__ = [
    'LINE_MAX', 'EVENT_LINE_MAX', 'NAME_MAX', 'CONTROL_SIGNALS', 'SIGNAL_NAMES', 'ENCODING',
    'ERRORS',
    'split_line', 'join_fields', 'check_command', 'encode_command', 'decode_line', 'check_field',
    'check_name', 'check_handle_ref', 'check_int', 'check_signal', 'check_control_signal',
    'check_trigger', 'check_env_entry', 'check_option', 'check_flags', 'command_excerpt',
    'check_verb', 'daemon_time', 'WHY_MAX', 'Field',
]

#: The longest command line the daemon accepts, in bytes, newline included.
LINE_MAX = 4096
#: The longest line the daemon sends, in bytes, newline included: events
#: are cut to fit (echo replies are at most LINE_MAX).  A client refuses
#: longer ones (ProtocolError) instead of buffering them.
EVENT_LINE_MAX = 8192
#: Service and handle names: 1 to NAME_MAX bytes of ``A-Z a-z 0-9 . _ -``.
NAME_MAX = 31
#: The signals daemonproxy counts, in the order its statedump lists them.
CONTROL_SIGNALS = ('SIGINT', 'SIGHUP', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGQUIT')
#: Every signal name the daemon knows (its table in src/signals.c): the only
#: names service.signal accepts (with or without SIG, any case).  Other
#: signals, the real-time ones included, go by number.
SIGNAL_NAMES = CONTROL_SIGNALS + (
    'SIGSEGV', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGILL', 'SIGTRAP', 'SIGKILL', 'SIGPIPE',
    'SIGALRM', 'SIGSTKFLT', 'SIGCHLD', 'SIGCONT', 'SIGSTOP', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU',
    'SIGURG', 'SIGXCPU', 'SIGXFSZ', 'SIGVTALRM', 'SIGPROF', 'SIGWINCH', 'SIGIO', 'SIGPWR',
    'SIGSYS')
#: How text is encoded on the wire.
ENCODING = 'utf-8'
ERRORS = 'surrogateescape'

#: The length of the command excerpt in error lines.
EXCERPT_MAX = 30

Field = Union[str, int, 'os.PathLike[str]', bytes]

_NAME_RE = re.compile(r'[A-Za-z0-9._-]{1,%d}\Z' % NAME_MAX)
_CONTROL_RE = re.compile(r'[\x00-\x1f]')
_ENV_VAR_RE = re.compile(r'[^=0-9][^=]{0,254}\Z', re.S)

_FD_OPEN_FLAGS = frozenset(('read', 'write', 'append', 'create', 'trunc', 'truncate',
                            'nonblock', 'mkdir'))
_SOCKET_KIND_FLAGS = frozenset(('unix', 'inet', 'inet6', 'tcp', 'udp', 'stream', 'dgram',
                                'seqpacket'))
_FD_PIPE_FLAGS = _SOCKET_KIND_FLAGS | {'nonblock'}
_FD_SOCKET_FLAGS = _SOCKET_KIND_FLAGS | {'nonblock', 'mkdir', 'bind', 'listen'}
FLAG_SETS = {'fd.open': _FD_OPEN_FLAGS, 'fd.pipe': _FD_PIPE_FLAGS,
             'fd.socket': _FD_SOCKET_FLAGS}


def split_line(line: str) -> List[str]:
    """The fields of one line (without its newline)."""
    return line.split('\t')


def decode_line(raw: bytes) -> str:
    """Bytes of one line -> str (UTF-8, undecodable bytes kept as surrogates)."""
    return raw.decode(ENCODING, ERRORS)


def _text(value: Field, what: str, command: Optional[str]) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise InvalidArgument('%s: expected text or an integer, got %r' % (what, value), command)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return value.decode(ENCODING, ERRORS)
    if isinstance(value, os.PathLike):
        p = os.fspath(value)
        return p.decode(ENCODING, ERRORS) if isinstance(p, bytes) else p
    raise InvalidArgument('%s: expected text or an integer, got %s' % (what, type(value).__name__),
                          command)


def check_field(value: Field, what: str = 'field', command: Optional[str] = None) -> str:
    """``value`` as the text of one field: TABs, newlines, NUL and every
    other byte below 0x20 are refused (there is no quoting)."""
    s = _text(value, what, command)
    m = _CONTROL_RE.search(s)
    if m:
        raise InvalidArgument('%s %r contains the control character %r (TAB, newline and '
                              'bytes below 0x20 cannot be sent)' % (what, s[:60], m.group()),
                              command)
    return s


def join_fields(fields: Iterable[Field], command: Optional[str] = None) -> str:
    """Check each field and join them with TABs (no newline)."""
    return '\t'.join(check_field(f, 'argument', command) for f in fields)


def check_command(fields: Sequence[Field]) -> Tuple[str, ...]:
    """Check the fields of one command and return them as text.

    Raises InvalidArgument for an empty command name, a name the daemon
    would take for a comment (``#``) or a blank line, a control character
    in any field, or a line longer than LINE_MAX bytes.
    """
    if not fields:
        raise InvalidArgument('empty command')
    name = check_field(fields[0], 'command name')
    if not name or name[0] == '#' or not name.strip():
        raise InvalidArgument('invalid command name %r' % name)
    out = (name,) + tuple(check_field(f, 'argument', name) for f in fields[1:])
    n = sum(len(f.encode(ENCODING, ERRORS)) for f in out) + len(out)
    if n > LINE_MAX:
        raise InvalidArgument('line of %d bytes is longer than the %d the daemon accepts '
                              '(newline included)' % (n, LINE_MAX), name)
    return out


def encode_command(fields: Sequence[Field]) -> bytes:
    """The bytes of one command line, newline included (see check_command)."""
    return ('\t'.join(check_command(fields)) + '\n').encode(ENCODING, ERRORS)


def command_excerpt(data: bytes, tabs: bool = True) -> str:
    """The excerpt the daemon quotes in an error about the command line
    ``data`` (bytes, with or without its newline): its first 30 bytes with
    their TABs, as the original daemonproxy quotes them, any other control
    character shown as ``?``, and ``...`` if it was longer.  ``tabs=False``
    gives the form of daemonproxy releases that showed every control
    character, TABs included, as a space."""
    if data.endswith(b'\n'):
        data = data[:-1]
    if tabs:
        head = bytes(b if b >= 0x20 or b == 9 else 63 for b in data[:EXCERPT_MAX])
    else:
        head = bytes(32 if b < 0x20 else b for b in data[:EXCERPT_MAX])
    return head.decode(ENCODING, ERRORS) + ('...' if len(data) > EXCERPT_MAX else '')


def check_name(value: Field, what: str = 'service', command: Optional[str] = None) -> str:
    """A service or handle name: 1 to 31 bytes of ``A-Z a-z 0-9 . _ -``."""
    s = _text(value, what + ' name', command)
    if not _NAME_RE.match(s):
        raise InvalidArgument('invalid %s name %r (1 to %d bytes of A-Z a-z 0-9 . _ -)'
                              % (what, s[:60], NAME_MAX), command)
    return s


def check_handle_ref(value: Field, command: Optional[str] = None) -> str:
    """An entry of service.fds: a handle name, or ``-`` for a closed fd."""
    s = _text(value, 'handle name', command)
    return s if s == '-' else check_name(s, 'handle', command)


def check_int(value: Union[int, str], lo: int, hi: int, what: str,
              command: Optional[str] = None) -> str:
    """An integer within [lo, hi], as its decimal text."""
    if isinstance(value, bool):
        raise InvalidArgument('%s must be an integer, not %r' % (what, value), command)
    if isinstance(value, str):
        if not re.match(r'[+-]?[0-9]+\Z', value):
            raise InvalidArgument('%s must be an integer, not %r' % (what, value[:40]), command)
        value = int(value)
    if not isinstance(value, int):
        raise InvalidArgument('%s must be an integer, not %s' % (what, type(value).__name__),
                              command)
    if not lo <= value <= hi:
        raise InvalidArgument('%s %d out of range (%d to %d)' % (what, value, lo, hi), command)
    return str(value)


#: The longest WHY of a service.want, in bytes (its fields TAB-joined).
WHY_MAX = 255
#: A verb of ctl.serve / ctl.request: 1 to 32 of ``a-z 0-9 _ . -``.
_VERB_RE = re.compile(r'[a-z0-9_.-]{1,32}\Z')


def check_verb(value: Field, command: Optional[str] = None) -> str:
    """A verb a controller serves (``reload``): 1 to 32 bytes of
    ``a-z 0-9 _ . -``."""
    s = _text(value, 'verb', command)
    if not _VERB_RE.match(s):
        raise InvalidArgument('invalid verb %r (1 to 32 of a-z 0-9 _ . -)' % s, command)
    return s


def daemon_time() -> float:
    """The daemon's clock now, in seconds: its TS fields are whole seconds
    of CLOCK_MONOTONIC, the clock ``time.monotonic()`` reads on Linux (for
    a client on the daemon's host, in its time namespace: over its control
    socket, as its controller, or as its parent)."""
    return time.monotonic()


_SIGNAL_BY_BARE = {n[3:]: n for n in SIGNAL_NAMES}


def check_signal(value: Union[str, int, _signal.Signals], command: Optional[str] = None) -> str:
    """A signal for service.signal, exactly as the daemon takes it: a
    number (1 to SIGRTMAX), a ``signal.Signals``, or a name of
    SIGNAL_NAMES with or without ``SIG`` (any case; not aliases such as
    ``SIGIOT``, nor ``SIGRTMIN``: real-time signals go by number).
    Returned as the daemon's canonical ``SIGTERM`` form or a number."""
    if isinstance(value, _signal.Signals):
        return value.name if value.name in SIGNAL_NAMES else str(int(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return check_int(value, 1, _signal.SIGRTMAX, 'signal number', command)
    if isinstance(value, str) and value.isascii():     # the daemon's strcasecmp is ASCII
        if value.isdigit():
            return check_int(value, 1, _signal.SIGRTMAX, 'signal number', command)
        bare = value.upper()
        name = _SIGNAL_BY_BARE.get(bare[3:] if bare.startswith('SIG') else bare)
        if name is not None:
            return name
    raise InvalidArgument('invalid signal %r (a number from 1 to %d, or one of %s)'
                          % (value, _signal.SIGRTMAX, ' '.join(n[3:] for n in SIGNAL_NAMES)),
                          command)


def check_control_signal(value: Union[str, int, _signal.Signals],
                         command: Optional[str] = None) -> str:
    """One of the signals daemonproxy counts (CONTROL_SIGNALS), canonical form."""
    name = None
    try:
        s = check_signal(value, command)
        name = s if not s.isdigit() else _signal.Signals(int(s)).name
    except (InvalidArgument, ValueError):
        pass
    if name not in CONTROL_SIGNALS:
        raise InvalidArgument('invalid signal %r (expected one of %s)'
                              % (value, ' '.join(CONTROL_SIGNALS)), command)
    return name


def check_trigger(value: Union[str, int, _signal.Signals], command: Optional[str] = None) -> str:
    """An auto_up trigger: ``always`` or one of CONTROL_SIGNALS."""
    if value == 'always':
        return 'always'
    try:
        return check_control_signal(value, command)
    except InvalidArgument:
        raise InvalidArgument('invalid trigger %r (always, %s)'
                              % (value, ' '.join(CONTROL_SIGNALS)), command) from None


def check_env_entry(value: Field, command: Optional[str] = None) -> str:
    """``VAR=VALUE`` or ``-VAR``; VAR is 1 to 255 bytes, no ``=``, not
    starting with a digit."""
    s = check_field(value, 'environment entry', command)
    var = s[1:] if s.startswith('-') else s.split('=', 1)[0]
    ok = (s.startswith('-') or '=' in s) and _ENV_VAR_RE.match(var) is not None \
        and len(var.encode(ENCODING, ERRORS)) <= 255
    if not ok:
        raise InvalidArgument('invalid environment entry %r (VAR=VALUE or -VAR)' % s[:60], command)
    return s


#: The resources of ``limit-RES=`` (docs/protocol.md, "Execution attributes").
LIMIT_RESOURCES = ('as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue',
                   'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack')

#: The capabilities of ``caps=``, by number (capability(7)), without ``cap_``.
CAPABILITIES = (
    'chown', 'dac_override', 'dac_read_search', 'fowner', 'fsetid', 'kill', 'setgid',
    'setuid', 'setpcap', 'linux_immutable', 'net_bind_service', 'net_broadcast',
    'net_admin', 'net_raw', 'ipc_lock', 'ipc_owner', 'sys_module', 'sys_rawio',
    'sys_chroot', 'sys_ptrace', 'sys_pacct', 'sys_admin', 'sys_boot', 'sys_nice',
    'sys_resource', 'sys_time', 'sys_tty_config', 'mknod', 'lease', 'audit_write',
    'audit_control', 'setfcap', 'mac_override', 'mac_admin', 'syslog', 'wake_alarm',
    'block_suspend', 'audit_read', 'perfmon', 'bpf', 'checkpoint_restore')

_LIMIT_VALUE = r'(?:[0-9]+|infinity)'
_OPTION_RES = [re.compile(r) for r in (
    r'(?:notify|listen-fds|no-new-privs)\Z',
    r'(?:user|group|cwd)=[^\t\n\r]+\Z',
    r'groups=(?:[^,\t\n\r]+(?:,[^,\t\n\r]+)*)?\Z',
    r'umask=[0-7]{1,4}\Z',
    r'nice=[-+]?[0-9]{1,2}\Z',
    r'limit-(?:%s)=%s(?::%s)?\Z' % ('|'.join(LIMIT_RESOURCES), _LIMIT_VALUE, _LIMIT_VALUE),
    r'caps=[A-Za-z_]+(?:,[A-Za-z_]+)*\Z',
)]


def _in_range(option: str) -> bool:
    """umask= and nice= within their ranges (their form already checked)."""
    if option.startswith('umask='):
        return int(option[6:], 8) <= 0o777
    if option.startswith('nice='):
        return -20 <= int(option[5:]) <= 19
    if option.startswith('caps='):
        return all(c.lower().removeprefix('cap_') in CAPABILITIES
                   for c in option[5:].split(','))
    return True


def check_option(value: Field, command: Optional[str] = None) -> str:
    """A service option: ``notify``, ``listen-fds``, ``fdstore=N`` (1..1024),
    or an execution attribute (``user=``, ``group=``, ``groups=``, ``umask=``,
    ``nice=``, ``limit-RES=``, ``no-new-privs``, ``cwd=``, ``caps=``): its form
    is checked here, the names it gives and the rest by daemonproxy."""
    s = _text(value, 'option', command)
    m = re.match(r'fdstore=([0-9]+)\Z', s)
    if m and 1 <= int(m.group(1)) <= 1024:
        return s
    if any(r.match(s) for r in _OPTION_RES) and _in_range(s):
        return s
    raise InvalidArgument('invalid option %r (notify, listen-fds, fdstore=N with N 1 to 1024, '
                          'or user=, group=, groups=, umask=, nice=, limit-RES=, '
                          'no-new-privs, cwd=, caps=)' % s[:60], command)


def check_flags(value: Union[None, str, Iterable[str]], command: str) -> str:
    """A comma list of flags for fd.open, fd.pipe or fd.socket, given as a
    string (``'read,create'``) or an iterable of flags.  ``listen=N`` is
    accepted for fd.socket."""
    if value is None:
        return ''
    flags: Tuple[str, ...]
    if isinstance(value, str):
        flags = tuple(f for f in value.split(',') if f) if value else ()
    else:
        flags = tuple(_text(f, 'flag', command) for f in value)
    allowed = FLAG_SETS[command]
    for f in flags:
        if f in allowed:
            continue
        if command == 'fd.socket' and re.match(r'listen=[0-9]+\Z', f):
            continue
        raise InvalidArgument('invalid flag %r (one of %s)' % (f, ' '.join(sorted(allowed))),
                              command)
    return ','.join(flags)
