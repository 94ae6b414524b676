"""The three ways to reach daemonproxy, shared by the blocking and the
asyncio client: a control socket, the controller service's stdin/stdout,
and a ``daemonproxy -i`` child.  Only file descriptors and processes here;
no protocol.  A control socket is checked before it is used: see
:func:`check_peer`.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import subprocess
from typing import AbstractSet, Any, Callable, Optional, Sequence, Tuple

from .errors import UntrustedSocket
from .paths import TRUST_UID_ENV

__all__ = ['take_stdio', 'spawn_daemon', 'closer_of', 'check_peer']

_UCRED = struct.Struct('iII')       # struct ucred: pid_t pid, uid_t uid, gid_t gid


def closer_of(*files: Any) -> Callable[[], None]:
    """A function that closes fds or file objects, ignoring errors."""
    def close() -> None:
        for f in files:
            try:
                f.close() if hasattr(f, 'close') else os.close(f)
            except OSError:
                pass
    return close


def take_stdio(take: bool) -> Tuple[int, int, Optional[Callable[[], None]]]:
    """The controller service's connection: events on fd 0, commands on fd 1.

    With take, the connection moves to private fds, fd 0 becomes /dev/null
    and fd 1 a copy of fd 2 (stderr), so that a stray ``print()`` goes to
    the log instead of corrupting the command stream.  Returns (read fd,
    write fd, closer or None)."""
    if not take:
        return 0, 1, None
    rfd, wfd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    return rfd, wfd, closer_of(rfd, wfd)


def spawn_daemon(binary: str, args: Sequence[str], stderr: Any, env: Optional[dict],
                 cwd: Optional[str], pass_fds: Sequence[int]) -> subprocess.Popen:
    """Start ``binary -i ARGS…`` with pipes on its stdin and stdout."""
    proc = subprocess.Popen([binary, '-i'] + list(args), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=stderr, env=env, cwd=cwd,
                            pass_fds=tuple(pass_fds), close_fds=True)
    assert proc.stdin is not None and proc.stdout is not None
    return proc


def check_peer(sock: socket.socket, path: str, trusted: AbstractSet[int]) -> None:
    """Refuse the connected unix socket sock unless the process at the
    other end runs as one of the trusted uids (root, our own, the one we
    were told to trust: see :func:`~daemonproxy.paths.trusted_uids`).
    Called after connect() and before anything is sent: a socket file is
    anybody's to create where the directory lets them, and the commands we
    send may carry secrets.  Raises UntrustedSocket (sock is left open;
    the caller closes it)."""
    pid, uid, _ = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                _UCRED.size))
    if uid in trusted:
        return
    try:
        with open('/proc/%d/comm' % pid) as f:
            who = 'pid %d, "%s"' % (pid, f.read().strip())
    except OSError:
        who = 'pid %d' % pid
    raise UntrustedSocket(path, 'it is served by uid %d (%s), not by root or you; if that '
                          'daemon is yours to use, say so with trust_uid=%d or %s=%d'
                          % (uid, who, uid, TRUST_UID_ENV, uid), uid=uid, pid=pid)


READ_SIZE = 1 << 16


def read_some(fd: int) -> Optional[bytes]:
    """One non-blocking read: None if nothing is there yet, b'' at the end
    (a reset connection counts as the end)."""
    try:
        return os.read(fd, READ_SIZE)
    except BlockingIOError:
        return None
    except OSError as e:
        if e.errno not in (errno.ECONNRESET, errno.EPIPE):
            raise
        return b''


def write_some(fd: int, data: bytes) -> int:
    """One non-blocking write: how many bytes went out (0 if none could),
    or -1 if the peer is gone."""
    try:
        return os.write(fd, data)
    except BlockingIOError:
        return 0
    except OSError as e:
        if e.errno not in (errno.EPIPE, errno.ECONNRESET, errno.EBADF):
            raise
        return -1
