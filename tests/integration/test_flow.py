"""docs/protocol.md, Flow control: bounded output buffers, commands waiting
while output is full, the overflow flag and line, conn.event_timeout."""

import fcntl
import os
import struct
import termios
import subprocess
import threading
import time

from dp import DPTest, TIMEOUT

PAYLOAD = 'x' * 4000
FLOOD = 'echo\t' + PAYLOAD


def flood_count():
    """Enough 4 kB replies to fill the kernel socket buffers (sized by
    net.core.wmem_default) and a 64 KiB output buffer with room to spare."""
    try:
        with open('/proc/sys/net/core/wmem_default') as f:
            wmem = int(f.read())
    except (OSError, ValueError):
        wmem = 212992
    return max(120, (2 * wmem + 256 * 1024) // 4001 + 20)


class EventTimeoutCommand(DPTest):
    GOOD = ('1\t2', '0\t0', '5\t5', '0\t2147483647', '2147483647\t2147483647', '15\t30')
    BAD = ('3\t2', '-1\t5', '1\t-1', '2147483648\t2147483648', '0\t2147483648', 'a\t5',
           '1\tb', '\t5', '1.5\t3', '1\t', '99999999999999999999\t99999999999999999999')

    def check(self, io):
        for args in self.GOOD:
            with self.subTest(args=args):
                self.assertSilent(io, 'conn.event_timeout\t' + args)
        for args in self.BAD:
            with self.subTest(args=args):
                self.assertCmdError(io, 'conn.event_timeout\t' + args)

    def test_values_interactive(self):
        self.check(self.start())

    def test_values_socket(self):
        p = self.path('et.sock')
        self.start('-S', p, interactive=False, stdin=subprocess.DEVNULL)
        self.check(self.connect(p))


class FlowControl(DPTest):
    def setup_pair(self, reset, close):
        p = self.path('flow.sock')
        d = self.start('-S', p, interactive=False, stdin=subprocess.DEVNULL)
        b = self.connect(p)
        b.ping()
        a = self.connect(p)
        self.assertEqual(a.cmd('conn.event_timeout\t%d\t%d' % (reset, close)), [])
        return p, d, a, b

    def flood(self, a, n, tail=()):
        """Send n large echo commands (and tail) from a thread; a does not
        read meanwhile."""
        state = {'error': None}

        def run():
            try:
                a.send(*([FLOOD] * n + list(tail)))
            except OSError as e:
                state['error'] = e
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t, state

    def prompt_ping(self, b, limit=3.0):
        t0 = time.monotonic()
        b.ping()
        self.assertLess(time.monotonic() - t0, limit, 'other client must be served promptly')

    def test_blocked_controller_commands_wait(self):
        p, d, a, b = self.setup_pair(20, 40)
        n = flood_count()
        t, st = self.flood(a, n, ['socket.delete', 'echo\tflood-done'])
        # wait until a's incoming data stops growing: daemonproxy is stuck on it
        stable, last = 0, -1
        deadline = time.monotonic() + 15
        while stable < 5:
            self.assertLess(time.monotonic(), deadline, 'output to the blocked client never settled')
            self.prompt_ping(b)
            time.sleep(0.1)
            q = a.inq()
            stable = stable + 1 if (q == last and q > 0) else 0
            last = q
        self.assertTrue(os.path.exists(p),
                        'socket.delete ran although the controller output buffer was full')
        # now read: everything arrives, complete and in order, no overflow
        for i in range(n):
            line = a.readline()
            self.assertEqual(line, PAYLOAD, 'line %d: %r' % (i, (line or '')[:60]))
        self.assertEqual(a.readline(), 'flood-done')
        self.assertFalse(os.path.exists(p), 'socket.delete runs in order once drained')
        t.join(TIMEOUT)
        self.assertFalse(t.is_alive())
        self.assertIsNone(st['error'])

    def test_overflow_flag_and_line(self):
        p, d, a, b = self.setup_pair(1, 30)
        rss0 = d.rss_kb()
        n = flood_count()
        t, st = self.flood(a, n, ['echo\tflood-done'])
        deadline = time.monotonic() + 20
        while t.is_alive():
            self.assertLess(time.monotonic(), deadline,
                            'daemonproxy stopped reading an overflowed controller')
            self.prompt_ping(b)
            t.join(0.2)
        self.assertIsNone(st['error'])
        growth = d.rss_kb() - rss0
        self.assertLess(growth, 4096, 'RSS grew by %d kB' % growth)
        # read everything: whole payload lines, then exactly one overflow
        before = 0
        while True:
            line = a.readline()
            if line == 'overflow':
                break
            self.assertEqual(line, PAYLOAD, 'unexpected line before overflow: %r' % (line or '')[:60])
            before += 1
        a.send('echo\tpost')
        after = 0
        while True:
            line = a.readline()
            if line == 'post':
                break
            self.assertIn(line, (PAYLOAD, 'flood-done'),
                          'unexpected line after overflow: %r' % (line or '')[:60])
            after += 1 if line == PAYLOAD else 0
        self.assertLess(before + after, n, 'some events must have been discarded')
        self.assertEqual(a.cmd1('echo\tnormal'), 'normal')
        self.assertTrue(d.alive())

    def test_close_timeout_closes_connection(self):
        p, d, a, b = self.setup_pair(1, 2)
        n0 = d.fd_count()
        t, st = self.flood(a, flood_count())
        deadline = time.monotonic() + 15
        while d.fd_count() >= n0:
            self.assertLess(time.monotonic(), deadline,
                            'blocked connection not closed after CLOSE_TIMEOUT')
            self.prompt_ping(b)
            time.sleep(0.05)
        self.prompt_ping(b)
        lines = a.read_eof()
        for l in lines:
            self.assertIn(l, (PAYLOAD, 'overflow'), 'incomplete line %r' % l[:60])
        t.join(TIMEOUT)
        self.assertTrue(d.alive())

    def test_many_stuck_clients_memory_bounded(self):
        p, d, a, b = self.setup_pair(30, 60)
        rss0 = d.rss_kb()
        stuck, threads = [], []
        for i in range(20):
            c = self.connect(p)
            c.ping()
            stuck.append(c)
            threads.append(self.flood(c, 80)[0])
        # wait until every stuck client's incoming data has settled
        last = None
        stable = 0
        deadline = time.monotonic() + 20
        while stable < 3:
            self.assertLess(time.monotonic(), deadline, 'stuck clients never settled')
            self.prompt_ping(b)
            time.sleep(0.1)
            q = [c.inq() for c in stuck]
            stable = stable + 1 if q == last else 0
            last = q
        growth = d.rss_kb() - rss0
        # 20 output buffers of at most 64 KiB each, plus input buffers
        self.assertLess(growth, 8192, 'RSS grew by %d kB for 20 stuck clients' % growth)
        for c in stuck:
            c.close()
        self.prompt_ping(b)
        self.assertTrue(d.alive())

    def test_reading_client_not_closed(self):
        # a client that keeps reading large replies is never flagged or closed
        p, d, a, b = self.setup_pair(1, 2)
        t_end = time.monotonic() + 2.5
        i = 0
        while time.monotonic() < t_end:
            a.send(*([FLOOD] * 20))
            for _ in range(20):
                self.assertEqual(a.readline(), PAYLOAD)
            i += 1
        self.assertEqual(a.cmd1('echo\tstill'), 'still')


class InteractiveFlow(DPTest):
    def test_blocked_interactive_stdout_does_not_block_others(self):
        p = self.path('if.sock')
        d = self.start('-S', p)
        b = self.connect(p)
        b.ping()
        state = {}

        def run():
            try:
                d.send(*([FLOOD] * 120 + ['echo\tflood-done']))
            except OSError as e:
                state['error'] = e
        t = threading.Thread(target=run, daemon=True)
        t.start()
        stable, last = 0, -1
        deadline = time.monotonic() + 15
        while stable < 5:
            self.assertLess(time.monotonic(), deadline, 'stdout never filled up')
            t0 = time.monotonic()
            b.ping()
            self.assertLess(time.monotonic() - t0, 3.0, 'socket client must be served promptly')
            time.sleep(0.1)
            buf = fcntl.ioctl(d.proc.stdout.fileno(), termios.FIONREAD, b'\0\0\0\0')
            q = struct.unpack('i', buf)[0]
            stable = stable + 1 if (q == last and q > 0) else 0
            last = q
        for i in range(120):
            self.assertEqual(d.readline(), PAYLOAD, 'line %d' % i)
        self.assertEqual(d.readline(), 'flood-done')
        t.join(TIMEOUT)
        self.assertFalse(t.is_alive())
        self.assertNotIn('error', state)
