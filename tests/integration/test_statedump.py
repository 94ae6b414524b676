"""statedump in core scope: fd.state lines for the start-time handles
(docs/protocol.md: Handles, statedump), ordering, slow readers."""

import os
import shutil
import subprocess
import threading
import time

from dp import DPTest, TIMEOUT, binary

BASE = ['control.cmd', 'control.event', 'control.socket', 'notify.fd', 'null', 'stderr', 'stdin',
        'stdout']


PRELOAD_SRC = r'''
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void open_fds(void)
{
    int a = open("/dev/null", O_RDONLY | O_CLOEXEC), b = open("/dev/null", O_RDONLY);
    dup3(a, 40, O_CLOEXEC);
    dup2(b, 41);
    close(a);
    close(b);
}
'''


def names_of(lines):
    return [l.split('\t')[1] for l in lines if l.startswith('fd.state\t')]


class Statedump(DPTest):
    def check_base(self, lines, extra=()):
        fd_lines = [l for l in lines if l.startswith('fd.state\t')]
        self.assertEqual(len(fd_lines), len(lines), 'only fd.state lines expected: %r' % lines)
        names = names_of(fd_lines)
        self.assertEqual(names, sorted(names, key=lambda s: s.encode()), 'sorted by name')
        self.assertEqual(sorted(names), sorted(BASE + list(extra)))
        self.assertIn('fd.state\tnull\tspecial\tread,write\t/dev/null', fd_lines)
        # the placeholders, as the original describes them
        self.assertIn('fd.state\tcontrol.cmd\tspecial\twrite\tdaemonproxy command pipe', fd_lines)
        self.assertIn('fd.state\tcontrol.event\tspecial\tread\tdaemonproxy event stream',
                      fd_lines)
        self.assertIn('fd.state\tcontrol.socket\tspecial\tread,write\tdaemonproxy control socket',
                      fd_lines)
        self.assertIn('fd.state\tnotify.fd\tspecial\twrite\treadiness notification pipe', fd_lines)
        for l in fd_lines:
            f = l.split('\t')
            if f[1] in BASE:
                self.assertEqual(f[2], 'special', l)
                self.assertGreaterEqual(len(f), 4, l)
        return fd_lines

    def test_interactive_statedump(self):
        d = self.start()
        self.check_base(d.cmd('statedump'))

    def test_inherited_fd_listed(self):
        # a shell opens fd 5 and execs daemonproxy (same PID)
        d = self.start(prefix=['/bin/sh', '-c', 'exec "$@" 5</dev/null', 'sh'])
        lines = self.check_base(d.cmd('statedump'), extra=['fd_5'])
        self.assertTrue(any(l.startswith('fd.state\tfd_5\t') for l in lines), lines)

    def test_interactive_stdio_handles_are_dev_null(self):
        d = self.start()
        lines = self.check_base(d.cmd('statedump'))
        byname = {l.split('\t')[1]: l for l in lines}
        self.assertTrue(byname['stdin'].endswith('\t/dev/null'), byname['stdin'])
        self.assertTrue(byname['stdout'].endswith('\t/dev/null'), byname['stdout'])
        self.assertFalse(byname['stderr'].endswith('\t/dev/null'), byname['stderr'])

    def test_config_stdin_handle_is_dev_null(self):
        sock = self.path('cs.sock')
        d = self.start('-c', '-', interactive=False)
        d.send('socket.create\t-\t' + sock)
        d.close_stdin()
        c = self.connect(sock)
        lines = self.check_base(c.cmd('statedump'))
        byname = {l.split('\t')[1]: l for l in lines}
        self.assertTrue(byname['stdin'].endswith('\t/dev/null'), byname['stdin'])
        self.assertFalse(byname['stdout'].endswith('\t/dev/null'), byname['stdout'])

    def test_two_inherited_fds(self):
        a = os.open('/dev/null', os.O_RDONLY)
        b = os.open('/dev/null', os.O_RDONLY)
        try:
            d = self.start(pass_fds=(a, b))
            self.check_base(d.cmd('statedump'), extra=['fd_%d' % a, 'fd_%d' % b])
        finally:
            os.close(a)
            os.close(b)

    def test_close_on_exec_fd_at_start_is_not_inherited(self):
        # A preload library opens fd 40 close-on-exec and fd 41 without,
        # before main: only an fd without close-on-exec can have come
        # through exec, so only fd_41 is registered (valgrind's and
        # sanitizers' own fds are of the first kind).
        cc = shutil.which('cc') or shutil.which('gcc')
        with open(binary(), 'rb') as f:
            exe = f.read()
        if not cc or b'__asan_init' in exe or b'/ld-linux' not in exe:
            self.skipTest('needs cc and a dynamically linked, unsanitized daemonproxy')
        src = self.write_file('pre.c', PRELOAD_SRC)
        lib = self.path('pre.so')
        subprocess.run([cc, '-shared', '-fPIC', '-o', lib, src], check=True)
        env = dict(os.environ, LD_PRELOAD=lib)
        d = self.start(env=env)
        self.check_base(d.cmd('statedump'), extra=['fd_41'])

    def test_socket_and_config_modes(self):
        sock = self.path('sd.sock')
        d = self.start('-S', sock, interactive=False, stdin=subprocess.DEVNULL)
        c = self.connect(sock)
        self.check_base(c.cmd('statedump'))

    def test_statedump_is_reply_only(self):
        sock = self.path('r.sock')
        d = self.start('-S', sock)
        c = self.connect(sock)
        c.ping()
        self.check_base(c.cmd('statedump'))
        self.assertEqual(d.cmd(), [])

    def test_repeated_statedumps_in_order(self):
        d = self.start()
        cmds = []
        for i in range(20):
            cmds += ['statedump', 'echo\tafter-%d' % i]
        d.send(*cmds)
        for i in range(20):
            lines = []
            while True:
                l = d.readline()
                if l == 'after-%d' % i:
                    break
                lines.append(l)
            self.check_base(lines)

    def test_resumed_handle_dump_lists_each_handle_once_in_order(self):
        # "must work with any number of objects even when the output pipe
        # is slow": 8,000 handles (about 700 KB of fd.state lines) to a
        # reader that stops, so the handles' part resumes many times, each
        # turn after the last name sent.  (A change meanwhile would be
        # broadcast to this full stream too and overflow it: the protocol's
        # answer to that is "overflow" and a new statedump.)
        sock = self.path('slow.sock')
        d = self.start('-S', sock)
        n = 4000
        name = lambda i, end: 'h%04d%s.%s' % (i, 'x' * 20, end)
        cmds = ['fd.pipe\t%s\t%s' % (name(i, 'r'), name(i, 'w')) for i in range(n)]
        for k in range(0, n, 400):
            out = d.cmd(*cmds[k:k + 400])
            self.assertEqual([l for l in out if l.startswith('error')], [])
        c = self.connect(sock, rcvbuf=4096)
        c.ping()
        c.send('statedump', 'echo\tDUMP-END')
        c.sock.setblocking(True)
        c.sock.settimeout(TIMEOUT)
        raw = b''
        deadline = time.monotonic() + 60
        while not raw.endswith(b'DUMP-END\n'):
            self.assertLess(time.monotonic(), deadline, 'the dump did not end')
            chunk = c.sock.recv(4096)
            self.assertTrue(chunk, 'unexpected EOF')
            raw += chunk
        lines = raw.decode().split('\n')
        self.assertNotIn('overflow', lines)
        dumped = [l.split('\t')[1] for l in lines if l.startswith('fd.state\th')]
        self.assertEqual(dumped, sorted({name(i, e) for i in range(n) for e in 'rw'}))
        self.check_base([l for l in lines if l and not l.startswith('fd.state\th')][:-1])

    def test_slow_reader_gets_everything_in_order(self):
        sock = self.path('slow.sock')
        d = self.start('-S', sock, interactive=False, stdin=subprocess.DEVNULL)
        c = self.connect(sock, rcvbuf=4096)
        c.ping()
        n = 600
        cmds = []
        for i in range(n):
            cmds += ['statedump', 'echo\tS%d\t' % i + 'p' * 200]
        sender = threading.Thread(target=c.send, args=cmds, daemon=True)
        sender.start()
        # read slowly in small chunks
        c.sock.setblocking(True)
        raw = b''
        expected_end = ('S%d\t' % (n - 1) + 'p' * 200 + '\n').encode()
        deadline = time.monotonic() + 60
        while not raw.endswith(expected_end):
            self.assertLess(time.monotonic(), deadline, 'slow read did not complete')
            c.sock.settimeout(TIMEOUT)
            chunk = c.sock.recv(2048)
            self.assertTrue(chunk, 'unexpected EOF')
            raw += chunk
            time.sleep(0.001)
        lines = raw.decode('latin-1').split('\n')[:-1]
        self.assertNotIn('overflow', lines)
        i = 0
        block = []
        for l in lines:
            if l.startswith('S'):
                self.assertEqual(l, 'S%d\t' % i + 'p' * 200)
                self.check_base(block)
                block = []
                i += 1
            else:
                block.append(l)
        self.assertEqual(i, n)
        self.assertEqual(block, [])
        sender.join(TIMEOUT)
        self.assertFalse(sender.is_alive())
