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

from dp import TIMEOUT, VALGRIND_DIR, new_marker, wait_for
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

    def assert_state_intact(self, io, out=None):
        """The fixture defined before the fault is there, exactly (in out,
        or in a new statedump)."""
        if out is None:
            out = io.cmd('statedump')
        self.assertIn('fd.state\tfp.r\tpipe\tfrom\tfp.w', out)
        self.assertIn('fd.state\tfp.w\tpipe\tto\tfp.r', out)
        self.assertIn('service.args\tkeeper\tsleep\t3600', out)
        st = [l for l in out if l.startswith('service.state\tkeeper\t')]
        self.assertEqual(len(st), 1)
        self.assertEqual(st[0].split('\t')[2], 'up')
        return out

    def fixture(self, d):
        # (longer than any test may take, valgrind runs included)
        d.cmd('fd.pipe\tfp.r\tfp.w', 'service.args\tkeeper\tsleep\t3600')
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
        if VALGRIND_DIR:
            self.skipTest('valgrind itself needs free fds to run and exec a child')
        sock = self.path('s.sock')
        d = self.start('-S', sock, prefix=['prlimit', '--nofile=80:80'])
        d.ping()
        out = d.cmd(*['fd.pipe\tr%d\tw%d' % (i, i) for i in range(40)])
        errs = [l for l in out if l.startswith('error\t')]
        self.assertTrue(errs, 'some fd.pipe must fail')
        for e in errs:
            self.assertIn('pipe: Too many open files', e)
        # fd.open fails the same way once the last fds are gone
        out = d.cmd(*['fd.open\tfo%d\tread\t/dev/null' % i for i in range(3)])
        self.assertTrue(any(l.startswith('error\topen failed: Too many open files')
                            for l in out), out)
        # a service whose start needs a new fd (its control socketpair)
        d.cmd('service.args\tcs\tsleep\t30', 'service.fds\tcs\tnull\tcontrol.event\tnull')
        d.send('service.start\tcs')
        err = d.expect(lambda l: l.startswith('error\t'))
        self.assertIn('service cs: socketpair: Too many open files', err)
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
        out = d.cmd('fd.pipe\tnr\tnw', 'fd.open\tfo9\tread\t/dev/null')
        self.assertIn('fd.state\tnr\tpipe\tfrom\tnw', out)
        self.assertIn('fd.state\tfo9\tfile\tread\t/dev/null', out)
        self.start_svc(d, 'cs')
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


PRLIMIT, SETPRIV = shutil.which('prlimit'), shutil.which('setpriv')
SPARE_UID = 47110   # a uid with no processes: RLIMIT_NPROC counts them all


class ForkFailure(SvcTest):
    """RLIMIT_NPROC (as an unprivileged uid: root is exempt) makes clone
    fail.  The start is answered with an error, kept pending and retried; it
    succeeds once a process slot is free, and nothing else is disturbed."""

    def test_nproc_limit_retries_start(self):
        if not (PRLIMIT and SETPRIV and os.geteuid() == 0):
            self.skipTest('needs root, prlimit and setpriv for an unprivileged uid')
        if VALGRIND_DIR:
            self.skipTest('valgrind 3.19 itself crashes (SIGSEGV) when fork fails with EAGAIN')
        # daemonproxy itself + 2 children: the third start cannot fork
        d = self.start('-q', prefix=[PRLIMIT, '--nproc=3:3', SETPRIV,
                                     '--reuid=%d' % SPARE_UID, '--regid=%d' % SPARE_UID,
                                     '--clear-groups'])
        self.fixture(d)     # keeper: the first child
        d.cmd('service.args\tb\tsleep\t30', 'service.args\tc\tsleep\t30')
        self.start_svc(d, 'b')
        d.send('service.start\tc')
        err = d.expect(lambda l: l.startswith('error\t'))
        self.assertIn('service c: fork failed: Resource temporarily unavailable', err)
        # pending, not lost: statedump shows the retry
        self.assertEqual(self.dump_state(d, 'c')[2], 'start')
        self.assert_state_intact(d)
        # free a slot: the retry (after the 1 s minimum interval) succeeds
        d.cmd('service.signal\tb\tSIGKILL')
        self.expect_state(d, 'b', 'down')
        self.expect_state(d, 'c', 'up', timeout=TIMEOUT + 2)
        self.assert_state_intact(d)
        out = d.cmd('statedump')
        self.assertEqual([l.split('\t')[2] for l in out if l.startswith('service.state\tc\t')],
                         ['up'])
        self.assertEqual([l for l in out if l.startswith('error')], [])

    # the fixture and its check are Faults'
    fixture = Faults.fixture
    assert_state_intact = Faults.assert_state_intact


SIG_RE = re.compile(r'^signal\t(SIG[A-Z0-9]+)\t(\d+)\t(\d+)$')
STORM = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT, signal.SIGTERM,
         signal.SIGQUIT)


class SignalStorm(SvcTest):
    """10,000 control signals.  The kernel merges a signal into one that is
    still pending, so fewer events than signals may arrive; but every event
    counts exactly one more than the last of its signal, statedump ends at
    the same counts, and a client that did not read during the storm loses
    nothing beyond its `overflow` line.  Services and handles are intact."""

    def check_counts(self, lines, last, allow_overflow=False):
        overflowed = False
        for l in lines:
            if l == 'overflow' and allow_overflow:
                overflowed = True
                continue
            m = SIG_RE.match(l)
            self.assertIsNotNone(m, 'unexpected line %r' % l)
            name, count = m.group(1), int(m.group(3))
            if overflowed:
                self.assertGreater(count, last.get(name, 0), l)
            else:
                self.assertEqual(count, last.get(name, 0) + 1, l)
            last[name] = count
        return overflowed

    def test_storm_of_10000_signals(self):
        sock = self.path('storm.sock')
        d = self.start('-q', '-S', sock)
        self.fixture(d)
        lazy = self.connect(sock)
        lazy.ping()
        last = {}
        for batch in range(20):
            for i in range(500):
                os.kill(d.pid, STORM[i % len(STORM)])
            self.check_counts(d.cmd(), last)
        # events of signals read after the last marker
        for _ in range(50):
            out = d.cmd()
            if not out:
                break
            self.check_counts(out, last)
        total = sum(last.values())
        print('signal storm: 10000 sent, %d delivered after merging (%s)'
              % (total, ', '.join('%s %d' % kv for kv in sorted(last.items()))))
        self.assertGreater(total, 0)
        self.assertLessEqual(total, 10000)
        dump = [l for l in self.assert_state_intact(d) if l.startswith('signal\t')]
        self.assertEqual({SIG_RE.match(l).group(1): int(SIG_RE.match(l).group(3)) for l in dump},
                         last, 'statedump counts = the last event of each signal')
        # the client that did not read: counts consistent up to an overflow
        # line, if it got one (its replies are discarded with the events
        # until then, so it resyncs as a controller must)
        lazy_last, lines = {}, []
        mark = new_marker()
        lazy.send('echo\t' + mark)
        while not lines or lines[-1] not in (mark, 'overflow'):
            lines.append(lazy.readline())
        overflowed = self.check_counts(lines[:-1] if lines[-1] == mark else lines, lazy_last,
                                       allow_overflow=True)
        if not overflowed:
            self.assertEqual(lazy_last, last)
        self.assertEqual(lazy.resync(), d.cmd('statedump'))

    fixture = Faults.fixture
    assert_state_intact = Faults.assert_state_intact


class StuckReaderChurn(SvcTest):
    """A client that never reads while services keep restarting: it is
    flagged (overflow) and closed after its CLOSE_TIMEOUT; the controller
    that does read sees every transition of every service, in order, and
    the state is exact afterwards."""

    N = 200

    def test_never_reading_client_while_services_churn(self):
        sock = self.path('churn.sock')
        d = self.start('-q', '-S', sock)
        self.fixture(d)
        stuck = self.connect(sock, rcvbuf=4096)
        self.assertEqual(stuck.cmd('conn.event_timeout\t1\t2'), [])
        n0 = d.fd_count()
        names = ['ch%03d' % i for i in range(self.N)]
        self.bulk(d, ['service.args\t%s\ttrue' % n for n in names])
        d.send(*['service.auto_up\t%s\t1\talways' % n for n in names])
        last, events = {}, 0
        # (under valgrind spawns are slow, and so are the events)
        deadline = time.monotonic() + (150 if VALGRIND_DIR else 30)
        while d.fd_count() >= n0:
            self.assertLess(time.monotonic(), deadline, 'the stuck client was never closed')
            line = d.readline()
            self.assertNotEqual(line, 'overflow', 'the reading controller overflowed')
            f = line.split('\t')
            if f[0] != 'service.state':
                continue
            self.assertNotEqual(last.get(f[1]), f[2], 'a transition of %s was lost' % f[1])
            last[f[1]], events = f[2], events + 1
        self.assertGreater(events, self.N * 3)
        # the stuck client got whole lines, then EOF (its `overflow` line
        # would only have come once it read again); most events were dropped
        lines = stuck.read_eof()
        for l in lines:
            self.assertTrue(l == 'overflow' or l.startswith('service.'), 'bad line %r' % l[:80])
        dropped = events - sum(l.startswith('service.state') for l in lines)
        self.assertGreater(dropped, 0, 'the stuck client cannot have received everything')
        # stop the churn; every service ends down, none lost
        d.send(*['service.auto_up\t%s\t1' % n for n in names])

        def churn_states():
            out = self.assert_state_intact(d, d.resync(TIMEOUT * 3))
            return [l.split('\t')[2] for l in out if l.startswith('service.state\tch')]
        wait_for(lambda: set(churn_states()) == {'down'}, msg='every churning service down')
        self.assertEqual(len(churn_states()), self.N)
        print('churn: %d transitions until the stuck client was closed, %d not sent to it'
              % (events, dropped))

    fixture = Faults.fixture
    assert_state_intact = Faults.assert_state_intact


class CrashLoopStorm(SvcTest):
    """Thousands of services that exit at once and are restarted by
    auto-up: restarting them all takes longer than their MIN_INTERVAL.
    Restarts wait in a run queue that spawns at most 16 services per loop
    iteration (docs/protocol.md, Services), so a controller's command never
    waits behind more than one such batch, however slow spawning is.

    Measured without a clock: daemonproxy is stopped (SIGSTOP), a new
    client connects and sends an echo, and daemonproxy continues.  The
    client sees only events made after it was accepted, so the `up` events
    before its reply are exactly the spawns between its acceptance and its
    command: at most one batch."""

    N = 200 if VALGRIND_DIR else 1000
    ROUNDS = 30         # at least, and for at least 4 s
    BATCH = 16          # SVC_SPAWN_BATCH, documented

    def settle(self, io):
        """Wait until every command sent so far has run (its output may
        have overflowed meanwhile)."""
        while True:
            mark = new_marker()
            io.send('echo\t' + mark)
            if io.expect(lambda l: l in (mark, 'overflow'), TIMEOUT * 3) == mark:
                return

    def test_crash_looping_services_do_not_starve_controllers(self):
        sock = self.path('storm.sock')
        d = self.start('-q', '-S', sock)
        self.fixture(d)
        names = ['cl%04d' % i for i in range(self.N)]
        self.bulk(d, ['service.args\t%s\ttrue' % n for n in names], chunk=500)
        d.send(*['service.auto_up\t%s\t1\talways' % n for n in names])
        self.settle(d)
        up_re = re.compile(r'^service\.state\tcl\d{4}\tup\t')
        counts = []
        # rounds over a few seconds: the services restart once a second
        t_end = time.monotonic() + 4
        while len(counts) < self.ROUNDS or time.monotonic() < t_end:
            os.kill(d.pid, signal.SIGSTOP)
            try:
                c = self.connect(sock)
                mark = new_marker()
                c.send('echo\t' + mark)
            finally:
                os.kill(d.pid, signal.SIGCONT)
            c.expect(mark, TIMEOUT * 3)
            counts.append(sum(1 for l in c.skipped if up_re.match(l)))
            c.close()
            d.reader.available(0.05)    # space the rounds; keep d's stream moving
        print('crash loop: %d services, %d rounds: up events before the reply: max %d, '
              'mean %.1f, %d rounds with any'
              % (self.N, len(counts), max(counts), sum(counts) / len(counts),
                 sum(1 for n in counts if n)))
        self.assertGreater(sum(counts), 0, 'the storm was running')
        self.assertLessEqual(max(counts), self.BATCH, counts)
        d.send(*['service.auto_up\t%s\t1' % n for n in names])

        def loop_states():
            out = self.assert_state_intact(d, d.resync(TIMEOUT * 3))
            return [l.split('\t')[2] for l in out if l.startswith('service.state\tcl')]
        wait_for(lambda: set(loop_states()) == {'down'}, timeout=TIMEOUT * 3,
                 msg='every crash-looping service down')
        self.assertEqual(len(loop_states()), self.N)

    fixture = Faults.fixture
    assert_state_intact = Faults.assert_state_intact
