"""Every kind of file descriptor a service can store or a client or parent
can hand to daemonproxy: made here, by name, so that a test (and a service
script importing this module) can give daemonproxy one of each.

make(tmpdir) returns ({kind: fd}, [objects to keep alive]).  Kinds the
kernel or our privileges do not allow are left out, never faked.
"""

import ctypes
import ctypes.util
import os
import pty
import select
import signal
import socket
import struct

_libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)


def _check(fd, what):
    if fd < 0:
        e = ctypes.get_errno()
        raise OSError(e, '%s: %s' % (what, os.strerror(e)))
    return fd


def _signalfd():
    mask = (ctypes.c_ulong * 16)()
    mask[0] = 1 << (signal.SIGUSR2 - 1)
    return _check(_libc.signalfd(-1, ctypes.byref(mask), os.O_CLOEXEC), "signalfd")


def _timerfd():
    fd = _check(_libc.timerfd_create(1, os.O_CLOEXEC), 'timerfd_create')  # CLOCK_MONOTONIC
    spec = struct.pack('llll', 1000, 0, 1000, 0)   # armed: 1000 s, every 1000 s
    buf = ctypes.create_string_buffer(spec)
    _check(_libc.timerfd_settime(fd, 0, buf, None), 'timerfd_settime')
    return fd


def _inotify(path):
    fd = _check(_libc.inotify_init1(os.O_CLOEXEC), 'inotify_init1')
    _check(_libc.inotify_add_watch(fd, path.encode(), 0x100), 'inotify_add_watch')  # IN_CREATE
    return fd


def _fanotify():
    return _check(_libc.fanotify_init(0x1, os.O_RDONLY), 'fanotify_init')  # FAN_CLOEXEC


def _mqueue():
    name = ('/dp-kind-%d' % os.getpid()).encode()
    fd = _check(_libc.mq_open(name, os.O_RDWR | os.O_CREAT, 0o600, None), 'mq_open')
    _libc.mq_unlink(name)
    return fd


def _sock(keep, family, kind, bind=None, listen=False, proto=0):
    s = socket.socket(family, kind, proto)
    if bind is not None:
        s.bind(bind)
    if listen:
        s.listen(4)
    keep.append(s)
    return s.fileno()


def _pair(keep, kind):
    a, b = socket.socketpair(socket.AF_UNIX, kind)
    keep += [a, b]
    return a.fileno()


def make(tmpdir):
    """One fd of every kind we can make here."""
    keep = []
    fds = {}

    def add(name, fn):
        try:
            fds[name] = fn()
        except (OSError, AttributeError, ValueError):
            pass    # not available to us here: the kind is left out

    plain = os.path.join(tmpdir, 'plain-file')
    with open(plain, 'w') as f:
        f.write('x')
    fifo = os.path.join(tmpdir, 'fifo')
    if not os.path.exists(fifo):
        os.mkfifo(fifo)
    add('opath-file', lambda: os.open(plain, os.O_PATH))
    add('opath-dir', lambda: os.open(tmpdir, os.O_PATH | os.O_DIRECTORY))
    add('opath-nofollow', lambda: os.open('/proc/self/exe', os.O_PATH | os.O_NOFOLLOW))
    add('directory', lambda: os.open(tmpdir, os.O_RDONLY | os.O_DIRECTORY))
    add('regular', lambda: os.open(plain, os.O_RDWR))
    add('devnull', lambda: os.open('/dev/null', os.O_RDWR))
    add('fifo', lambda: os.open(fifo, os.O_RDWR))
    r, w = os.pipe()
    fds['pipe-r'], fds['pipe-w'] = r, w
    m, s = pty.openpty()
    fds['pty-master'], fds['pty-slave'] = m, s

    def epoll():
        e = select.epoll()
        keep.append(e)
        return e.fileno()
    add('epoll', epoll)
    add('memfd', lambda: os.memfd_create('dp-kind'))
    add('eventfd', lambda: os.eventfd(0))
    add('pidfd', lambda: os.pidfd_open(os.getpid()))
    add('signalfd', _signalfd)
    add('timerfd', _timerfd)
    add('inotify', lambda: _inotify(tmpdir))
    add('fanotify', _fanotify)
    add('mqueue', _mqueue)
    add('unix-stream', lambda: _pair(keep, socket.SOCK_STREAM))
    add('unix-dgram', lambda: _pair(keep, socket.SOCK_DGRAM))
    add('unix-seqpacket', lambda: _pair(keep, socket.SOCK_SEQPACKET))
    add('unix-listen', lambda: _sock(keep, socket.AF_UNIX, socket.SOCK_STREAM,
                                     bind=os.path.join(tmpdir, 'kind.sock'), listen=True))
    add('unix-unbound', lambda: _sock(keep, socket.AF_UNIX, socket.SOCK_DGRAM))
    add('tcp4-listen', lambda: _sock(keep, socket.AF_INET, socket.SOCK_STREAM,
                                     bind=('127.0.0.1', 0), listen=True))
    add('tcp4-unbound', lambda: _sock(keep, socket.AF_INET, socket.SOCK_STREAM))
    add('udp4', lambda: _sock(keep, socket.AF_INET, socket.SOCK_DGRAM, bind=('127.0.0.1', 0)))
    add('tcp6-listen', lambda: _sock(keep, socket.AF_INET6, socket.SOCK_STREAM,
                                     bind=('::1', 0), listen=True))
    add('udp6', lambda: _sock(keep, socket.AF_INET6, socket.SOCK_DGRAM, bind=('::1', 0)))
    add('netlink', lambda: _sock(keep, socket.AF_NETLINK, socket.SOCK_RAW, bind=(0, 0)))
    add('packet', lambda: _sock(keep, socket.AF_PACKET, socket.SOCK_DGRAM))
    add('raw-icmp', lambda: _sock(keep, socket.AF_INET, socket.SOCK_RAW,
                                  proto=socket.IPPROTO_ICMP))
    return fds, keep
