"""Hostile input and vanishing controllers (first part of the reliability
issue): garbage, NUL bytes, control characters, a 1 MB line and 100,000 TABs
from a socket client and a config file; a client killed in the middle of a
line and in the middle of a statedump.  Afterwards daemonproxy keeps serving
and its state is exact."""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

from dp import TIMEOUT, wait_for
from svc_util import SvcTest

GARBAGE_SEED = 20261123


def garbage():
    rnd = random.Random(GARBAGE_SEED)
    parts = [
        bytes(rnd.randrange(256) for _ in range(20000)),
        b'\0' * 5000 + b'\n',
        b'echo\tA\0B\n',
        b''.join(bytes([c]) for c in range(1, 32) if c not in (9, 10)) + b'\n',
        b'x' * (1 << 20) + b'\n',            # a 1 MB line
        b'echo' + b'\t' * 100000 + b'\n',     # 100,000 TABs (over-long)
        b'echo' + b'\t' * 4000 + b'\n',       # many empty fields, fits
        b'service.args\t' + b'\xff' * 40 + b'\tsleep\n',
        b'\r\n\t\t\n#\0comment\n',
    ]
    return b''.join(parts)


class Faults(SvcTest):

    def assert_state_intact(self, io):
        """The fixture defined before the fault is there, exactly."""
        out = io.cmd('statedump')
        self.assertIn('fd.state\tfp.r\tpipe\tfrom\tfp.w', out)
        self.assertIn('fd.state\tfp.w\tpipe\tto\tfp.r', out)
        self.assertIn('service.args\tkeeper\tsleep\t30', out)
        st = [l for l in out if l.startswith('service.state\tkeeper\t')]
        self.assertEqual(len(st), 1)
        self.assertEqual(st[0].split('\t')[2], 'up')
        return out

    def fixture(self, d):
        d.cmd('fd.pipe\tfp.r\tfp.w', 'service.args\tkeeper\tsleep\t30')
        self.start_svc(d, 'keeper')

    def test_garbage_from_socket_client(self):
        sock = self.path('s.sock')
        d = self.start('-S', sock)
        self.fixture(d)
        c = self.connect(sock)
        data = garbage()
        c.send_raw(data)
        c.send('echo\tstill-here')
        c.expect('still-here', timeout=TIMEOUT * 3)
        for line in c.skipped:
            # whatever came back is whole lines of printable fields
            self.assertFalse(re.search(r'[\x00-\x08\x0a-\x1f]', line), repr(line[:80]))
        self.assertIn('error\tline too long', c.skipped)
        self.assert_state_intact(d)
        self.assertTrue(d.alive())

    def test_garbage_config_file(self):
        conf = self.path('garbage.conf')
        with open(conf, 'wb') as f:
            f.write(garbage() + b'service.args\tafter\ttrue\n')
        d = self.start('-c', conf)
        wait_for(lambda: 'service.args\tafter\ttrue' in d.cmd('statedump'), TIMEOUT * 3,
                 'config read to its end')
        d.log.expect(re.compile('command exceeds buffer size'))
        self.assertTrue(d.alive())

    def test_client_killed_mid_line_and_mid_statedump(self):
        sock = self.path('s.sock')
        d = self.start('-S', sock)
        self.fixture(d)
        d.cmd(*['service.args\tbulk%04d\tsleep\t1000\t%s' % (i, 'x' * 200) for i in range(600)])
        script = self.write_file('killme.py', r'''
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1])
if sys.argv[2] == 'line':
    s.sendall(b'service.args\tkeeper\tthis-must-not')     # no newline
else:
    s.sendall(b'statedump\n')
    s.recv(100)                                            # the dump has begun
print('ready', flush=True)
time.sleep(60)
''')
        fds_before = d.fd_count()
        for mode in ('line', 'dump'):
            p = subprocess.Popen([sys.executable, script, sock, mode], stdout=subprocess.PIPE)
            self.track_pid(p.pid)
            self.assertEqual(p.stdout.readline().strip(), b'ready')
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
            p.stdout.close()
        out = self.assert_state_intact(d)
        self.assertEqual(len([l for l in out if l.startswith('service.state\tbulk')]), 600)
        # both dead clients' connections are closed again
        wait_for(lambda: d.fd_count() == fds_before, msg='client fds closed')
        c = self.connect(sock)
        c.ping()


class FdExhaustion(SvcTest):
    """A low RLIMIT_NOFILE: creating handles and accepting clients fail with
    clear errors, nothing spins, and everything recovers once fds are freed."""

    def test_fd_exhaustion_and_recovery(self):
        if not shutil.which('prlimit'):
            self.skipTest('prlimit not installed')
        sock = self.path('s.sock')
        d = self.start('-S', sock, prefix=['prlimit', '--nofile=80:80'])
        d.ping()
        out = d.cmd(*['fd.pipe\tr%d\tw%d' % (i, i) for i in range(40)])
        errs = [l for l in out if l.startswith('error\t')]
        self.assertTrue(errs, 'some fd.pipe must fail')
        for e in errs:
            self.assertIn('pipe: Too many open files', e)
        # a client cannot be accepted now; its connect still succeeds (backlog)
        c = self.connect(sock)
        c.send('echo\tqueued')
        d.log.expect(re.compile(r'control socket: accept .*Too many open files'))
        # no busy loop while the listening socket stays readable
        cpu0, t0 = d.cpu_seconds(), time.monotonic()
        wait_for(lambda: time.monotonic() - t0 >= 1.0, msg='one second of fd shortage')
        self.assertLess(d.cpu_seconds() - cpu0, 0.3)
        # services still start (they need no new fd in daemonproxy)
        d.cmd('service.args\tx\ttrue')
        self.start_svc(d, 'x')
        # free fds: the queued client is served, handles can be made again
        d.cmd(*['fd.delete\tr%d' % i for i in range(10)])
        c.expect('queued')
        out = d.cmd('fd.pipe\tnr\tnw')
        self.assertIn('fd.state\tnr\tpipe\tfrom\tnw', out)
        self.assertEqual(len(re.findall('accept .*Too many open files', d.log.text())), 1)


class Flood(SvcTest):
    """One client floods 1,000,000 commands; another client's echo keeps
    answering promptly, and the flood is answered completely."""

    def test_flood_does_not_starve_others(self):
        sock = self.path('s.sock')
        d = self.start('-q', '-S', sock)
        d.ping()
        n = 1000000
        flood = socket.socket(socket.AF_UNIX)
        flood.connect(sock)
        self.on_cleanup(flood.close)
        got = [0]

        def writer():
            flood.sendall(b'echo\tf\n' * n)

        def reader():
            while got[0] < n:
                b = flood.recv(1 << 16)
                if not b:
                    break
                got[0] += b.count(b'\n')

        tw = threading.Thread(target=writer, daemon=True)
        tr = threading.Thread(target=reader, daemon=True)
        tw.start()
        tr.start()
        other = self.connect(sock)
        worst = 0.0
        rounds = 0
        while tr.is_alive() and rounds < 2000:
            t0 = time.monotonic()
            other.ping()
            worst = max(worst, time.monotonic() - t0)
            rounds += 1
        tr.join(TIMEOUT * 6)
        tw.join(TIMEOUT)
        print('flood: %d echo round trips, worst %.1f ms' % (rounds, worst * 1e3))
        self.assertEqual(got[0], n, 'every flooded command answered')
        self.assertGreater(rounds, 0)
        self.assertLess(worst, 1.0, 'worst echo round trip during the flood: %.3f s' % worst)
