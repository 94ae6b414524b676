"""docs/protocol.md, Signals: signal intake, signal events, signal.clear, statedump's
signal lines."""

import os
import re
import signal
import subprocess
import time

from dp import DPTest

SIG_RE = re.compile(r'^signal\t(SIG[A-Z0-9]+)\t(\d+)\t(\d+)$')
CONTROL = ('SIGINT', 'SIGHUP', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGQUIT')


def is_sig(name, count=None):
    def pred(line):
        m = SIG_RE.match(line)
        return bool(m) and m.group(1) == name and (count is None or int(m.group(3)) == count)
    pred.__name__ = 'signal %s count %s' % (name, count)
    return pred


class Signals(DPTest):
    def signal_lines(self, io):
        return [l for l in io.cmd('statedump') if l.startswith('signal\t')]

    def test_sighup_broadcast_to_all_controllers(self):
        sock = self.path('s.sock')
        d = self.start('-S', sock)
        a = self.connect(sock)
        b = self.connect(sock)
        for io in (d, a, b):
            io.ping()
        os.kill(d.pid, signal.SIGHUP)
        now = time.monotonic()
        for io in (d, a, b):
            line = io.expect(is_sig('SIGHUP'))
            m = SIG_RE.match(line)
            self.assertEqual(m.group(3), '1', line)
            self.assertLessEqual(abs(int(m.group(2)) - now), 5, 'TS should be CLOCK_MONOTONIC seconds')
        os.kill(d.pid, signal.SIGHUP)
        for io in (d, a, b):
            io.expect(is_sig('SIGHUP', 2))

    def test_every_control_signal_counted_and_survived(self):
        d = self.start()
        d.ping()
        for name in CONTROL:
            with self.subTest(sig=name):
                os.kill(d.pid, getattr(signal, name))
                line = d.expect(is_sig(name))
                self.assertEqual(SIG_RE.match(line).group(3), '1')
                self.assertEqual(d.cmd1('echo\talive'), 'alive')
                self.assertTrue(d.alive())
        lines = self.signal_lines(d)
        self.assertEqual(sorted(SIG_RE.match(l).group(1) for l in lines), sorted(CONTROL), lines)
        for l in lines:
            self.assertEqual(SIG_RE.match(l).group(3), '1', l)

    def test_statedump_and_signal_clear(self):
        d = self.start()
        d.ping()
        self.assertEqual(self.signal_lines(d), [])
        os.kill(d.pid, signal.SIGHUP)
        ev1 = d.expect(is_sig('SIGHUP', 1))
        os.kill(d.pid, signal.SIGHUP)
        ev2 = d.expect(is_sig('SIGHUP', 2))
        lines = self.signal_lines(d)
        self.assertEqual(len(lines), 1, lines)
        m = SIG_RE.match(lines[0])
        self.assertEqual((m.group(1), m.group(3)), ('SIGHUP', '2'))
        self.assertEqual(m.group(2), SIG_RE.match(ev2).group(2), 'TS is when it was last received')
        self.assertSilent(d, 'signal.clear\tSIGHUP\t1')
        lines = self.signal_lines(d)
        self.assertEqual(len(lines), 1, lines)
        self.assertEqual(SIG_RE.match(lines[0]).group(3), '1')
        self.assertSilent(d, 'signal.clear\tSIGHUP\t1')
        self.assertEqual(self.signal_lines(d), [])
        # next signal counts from 1 again
        os.kill(d.pid, signal.SIGHUP)
        d.expect(is_sig('SIGHUP', 1))

    def test_signal_clear_floor_zero(self):
        d = self.start()
        d.ping()
        os.kill(d.pid, signal.SIGUSR1)
        d.expect(is_sig('SIGUSR1', 1))
        self.assertSilent(d, 'signal.clear\tSIGUSR1\t100')
        self.assertEqual(self.signal_lines(d), [])
        self.assertSilent(d, 'signal.clear\tSIGUSR1\t1')
        os.kill(d.pid, signal.SIGUSR1)
        d.expect(is_sig('SIGUSR1', 1))

    def test_signal_clear_name_forms(self):
        d = self.start()
        d.ping()
        for _ in range(3):
            os.kill(d.pid, signal.SIGHUP)
            d.expect(is_sig('SIGHUP'))
        self.assertSilent(d, 'signal.clear\tHUP\t1')
        self.assertEqual(SIG_RE.match(self.signal_lines(d)[0]).group(3), '2')
        self.assertSilent(d, 'signal.clear\t%d\t1' % signal.SIGHUP)
        self.assertEqual(SIG_RE.match(self.signal_lines(d)[0]).group(3), '1')
        self.assertSilent(d, 'signal.clear\tSIGHUP\t1')
        self.assertEqual(self.signal_lines(d), [])

    def test_signal_clear_only_that_signal(self):
        d = self.start()
        d.ping()
        os.kill(d.pid, signal.SIGUSR2)
        d.expect(is_sig('SIGUSR2'))
        os.kill(d.pid, signal.SIGINT)
        d.expect(is_sig('SIGINT'))
        self.assertSilent(d, 'signal.clear\tSIGUSR2\t1')
        lines = self.signal_lines(d)
        self.assertEqual([SIG_RE.match(l).group(1) for l in lines], ['SIGINT'])

    def test_signal_clear_errors(self):
        d = self.start()
        for line in ('signal.clear\tSIGBOGUS\t1', 'signal.clear\tBOGUS\t1', 'signal.clear\t\t1',
                     'signal.clear\t999\t1', 'signal.clear\tSIGHUP\tabc',
                     'signal.clear\tSIGHUP\t', 'signal.clear\tSIGHUP\t1x',
                     'signal.clear\tSIGKILL\t1'):
            with self.subTest(line=line):
                self.assertCmdError(d, line)
        self.assertTrue(d.alive())

    def test_signals_over_socket_only_controllers(self):
        # -S only (no -i): the socket client gets the event
        sock = self.path('o.sock')
        d = self.start('-S', sock, interactive=False, stdin=subprocess.DEVNULL)
        c = self.connect(sock)
        c.ping()
        os.kill(d.pid, signal.SIGTERM)
        c.expect(is_sig('SIGTERM', 1))
        os.kill(d.pid, signal.SIGINT)
        c.expect(is_sig('SIGINT', 1))
        self.assertEqual(c.cmd1('echo\tok'), 'ok')
        self.assertTrue(d.alive())
        # a client connecting later sees them in statedump
        c2 = self.connect(sock)
        names = sorted(SIG_RE.match(l).group(1) for l in c2.cmd('statedump')
                       if l.startswith('signal\t'))
        self.assertEqual(names, ['SIGINT', 'SIGTERM'])
