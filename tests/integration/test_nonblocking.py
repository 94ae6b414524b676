"""No command blocks the loop, and bursts of clients are all accepted.

daemonproxy is a single-threaded supervisor: one system call that blocks
freezes every service, controller and signal it looks after.

- `fd.open` of a FIFO (docs/protocol.md, fd.open): a plain open(2) of a FIFO for
  reading with no writer, or for writing with no reader, blocks until the
  other side appears.  The command must complete at once instead: `read`
  (and `read,write`, and a pty slave) succeed with the usual `fd.state`
  event; `write` with no reader fails promptly with ENXIO ("No such device
  or address").  If the open is done non-blocking to get there, the flag
  must not leak: a service given a handle opened without `nonblock` gets a
  blocking fd (it can read a line from the FIFO), and one opened with
  `nonblock` gets O_NONBLOCK.
- The control socket (`-S`): many clients connecting at the same moment
  (while daemonproxy is busy: here, stopped with SIGSTOP) must all get in.
  With a listen backlog of 128 connects 129+ fail with EAGAIN; 300 must
  succeed and each client must then be served.
"""

import os
import resource
import select
import signal
import socket
import time

from dp import TIMEOUT, Timeout
from svc_util import SvcTest

O_NONBLOCK = os.O_NONBLOCK


def excerpt(line):
    """The `for command "..."` part of an error reply (docs/protocol.md):
    TABs kept, as the original shows them."""
    shown = ''.join('?' if ord(c) < 0x20 and c != '\t' else c for c in line)
    return shown[:30] + ('...' if len(shown) > 30 else '')


def fdinfo_flags(text):
    for l in text.splitlines():
        if l.startswith('flags:'):
            return int(l.split()[1], 8)
    raise AssertionError('no flags: line in fdinfo %r' % text)


class FifoOpen(SvcTest):

    def setUp(self):
        super().setUp()
        self.fifo = self.path('fifo')
        os.mkfifo(self.fifo, 0o600)

    def cmd_prompt(self, d, line):
        """d.cmd(line), failing clearly if the echo after it never comes."""
        try:
            return d.cmd(line)
        except Timeout as e:
            self.fail('%r blocked daemonproxy: no answer to the echo after it (%s)' % (line, e))

    def open_ok(self, d, name, flags, path):
        """fd.open must complete (the echo after it comes back) with
        exactly its fd.state event."""
        out = self.cmd_prompt(d, 'fd.open\t%s\t%s\t%s' % (name, flags, path))
        self.assertEqual(out, ['fd.state\t%s\tfile\t%s\t%s' % (name, flags, path)])
        self.assertEqual(d.cmd1('echo\tstill-answering'), 'still-answering')
        self.assertIn('fd.state\t%s\tfile\t%s\t%s' % (name, flags, path), self.dump(d))

    def fdinfo_service(self, d, name, handle, then=''):
        """Start service NAME with HANDLE as fd 0: it writes its fd 0's
        fdinfo to NAME.fdinfo, then runs THEN.  Returns the fd 0 flags."""
        info = self.path(name + '.fdinfo')
        script = 'cat /proc/self/fdinfo/0 > %s.tmp && mv %s.tmp %s' % (info, info, info)
        if then:
            script += '; ' + then
        self.define(d, name, ['sh', '-c', script], fds=[handle, 'null', 'stderr'])
        self.start_svc(d, name)
        return fdinfo_flags(self.wait_text(info, lambda t: 'flags:' in t))

    def writer(self):
        """Our own write end of the FIFO (needs a reader to exist: the
        daemon's handle), blocking, closed at cleanup."""
        fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        self.on_cleanup(lambda: os.close(fd))
        os.set_blocking(fd, True)
        return fd

    def test_read_fifo_without_writer(self):
        d = self.start()
        self.open_ok(d, 'f', 'read', self.fifo)
        # our writer exists before the service reads, so its read waits
        # for data instead of seeing EOF
        w = self.writer()
        got = self.path('got')
        flags = self.fdinfo_service(d, 's', 'f', 'read l; printf "%%s\\n" "$l" > %s.tmp && '
                                    'mv %s.tmp %s' % (got, got, got))
        self.assertFalse(flags & O_NONBLOCK, 'fd 0 of the service has O_NONBLOCK (flags 0%o) '
                         'though the handle was opened without "nonblock"' % flags)
        os.write(w, b'through-the-fifo\n')
        self.assertEqual(self.wait_text(got), 'through-the-fifo\n')
        down = self.expect_state(d, 's', 'down')
        self.assertEqual(down[5:7], ['exit', '0'])
        self.assertEqual(d.cmd1('echo\tstill-answering'), 'still-answering')

    def test_read_nonblock_fifo(self):
        d = self.start()
        self.open_ok(d, 'f', 'read,nonblock', self.fifo)
        flags = self.fdinfo_service(d, 's', 'f')
        self.assertTrue(flags & O_NONBLOCK, 'a "nonblock" handle must reach the service with '
                        'O_NONBLOCK (flags 0%o)' % flags)

    def test_write_fifo_without_reader(self):
        d = self.start()
        line = 'fd.open\tf\twrite\t' + self.fifo
        out = self.cmd_prompt(d, line)
        self.assertEqual(out, ['error\topen failed: No such device or address, for command "%s"'
                               % excerpt(line)])
        self.assertEqual(d.cmd1('echo\tstill-answering'), 'still-answering')
        self.assertFalse([l for l in self.dump(d) if l.startswith('fd.state\tf\t')])

    def test_read_write_fifo(self):
        d = self.start()
        self.open_ok(d, 'f', 'read,write', self.fifo)

    def test_pty_slave(self):
        master, slave = os.openpty()
        self.on_cleanup(lambda: os.close(master))
        self.on_cleanup(lambda: os.close(slave))
        tty = os.ttyname(slave)
        d = self.start()
        self.open_ok(d, 'p', 'read,write', tty)
        flags = self.fdinfo_service(d, 's', 'p')
        self.assertFalse(flags & O_NONBLOCK, 'fd 0 (a pty slave opened without "nonblock") has '
                         'O_NONBLOCK (flags 0%o)' % flags)


class ClientBurst(SvcTest):
    CLIENTS = 300

    def setUp(self):
        super().setUp()
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        need = 2 * self.CLIENTS + 100
        if soft < need:
            if hard != resource.RLIM_INFINITY and hard < need:
                self.skipTest('RLIMIT_NOFILE hard limit %d < %d' % (hard, need))
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
            self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        try:
            with open('/proc/sys/net/core/somaxconn') as f:
                somaxconn = int(f.read())
        except (OSError, ValueError):
            somaxconn = None
        if somaxconn is not None and somaxconn < self.CLIENTS:
            self.skipTest('net.core.somaxconn is %d: no listen backlog can hold %d'
                          % (somaxconn, self.CLIENTS))

    def test_burst_of_300_clients(self):
        sock = self.path('burst.sock')
        d = self.start('-S', sock)
        self.connect(sock).ping()       # listening and answering
        socks = []
        self.on_cleanup(lambda: [s.close() for s in socks])
        failed = []
        os.kill(d.pid, signal.SIGSTOP)
        try:
            for i in range(self.CLIENTS):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.setblocking(False)
                socks.append(s)
                err = s.connect_ex(sock)
                if err:
                    failed.append((i, os.strerror(err)))
        finally:
            os.kill(d.pid, signal.SIGCONT)
        if failed:
            self.fail('%d of %d connects failed while daemonproxy was busy (first: #%d: %s)'
                      % (len(failed), self.CLIENTS, failed[0][0], failed[0][1]))
        for i, s in enumerate(socks):
            s.sendall(b'echo\tn%d\n' % i)
        pending = {s.fileno(): (i, s) for i, s in enumerate(socks)}
        bufs = {}
        poller = select.poll()
        for fd in pending:
            poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + TIMEOUT
        while pending:
            remain = deadline - time.monotonic()
            if remain <= 0:
                raise Timeout('%d of %d clients got no echo reply (e.g. #%s)'
                              % (len(pending), self.CLIENTS,
                                 sorted(i for i, _ in pending.values())[:10]))
            for fd, ev in poller.poll(int(remain * 1000) + 1):
                if fd not in pending:
                    continue
                i, s = pending[fd]
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                self.assertTrue(data, 'client #%d: EOF before its echo reply' % i)
                bufs[fd] = bufs.get(fd, b'') + data
                # other lines would be broadcast events: skip them
                if b'n%d' % i in bufs[fd].split(b'\n')[:-1]:
                    del pending[fd]
                    poller.unregister(fd)
        self.assertTrue(d.alive())
        self.assertEqual(d.cmd1('echo\tafter-burst'), 'after-burst')
