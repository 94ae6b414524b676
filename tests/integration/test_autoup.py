"""docs/protocol.md, Services and Signals: service.auto_up, signal triggers: restarts, MIN_INTERVAL,
level-triggered signal counts, disabling."""

import os
import signal

from dp import TIMEOUT
from svc_util import SvcTest, mono


class AutoUp(SvcTest):
    def no_state_events(self, d, name, seconds):
        """Nothing happens to NAME for `seconds` (bounded negative check)."""
        lines = d.reader.available(seconds) + d.cmd()
        bad = [l for l in lines if l.startswith('service.state\t%s\t' % name)]
        self.assertEqual(bad, [], 'unexpected events for %s' % name)

    def test_always_restarts(self):
        d = self.start()
        d.cmd('service.args\ta\tsleep\t30')
        out = d.cmd('service.auto_up\ta\t1\talways')
        self.assertEqual(out[0], 'service.auto_up\ta\t1\talways')
        # every start, an immediate one too, is `start` then `up`
        self.assertTrue(out[1].startswith('service.state\ta\tstart\t'), out)
        self.assertTrue(out[2].startswith('service.state\ta\tup\t'), out)
        pid1 = int(out[2].split('\t')[4])
        d.send('service.signal\ta\tSIGKILL')
        down = self.expect_state(d, 'a', 'down')
        self.assertEqual(down[4:7], [str(pid1), 'signal', 'SIGKILL'])
        up = self.expect_state(d, 'a', 'up')
        self.assertNotEqual(up[4], str(pid1))
        # an exit (not a signal) restarts too
        d.send('service.args\ta\tsh\t-c\texit 4')
        d.send('service.signal\ta\tSIGTERM')
        self.expect_state(d, 'a', 'down')
        up = self.expect_state(d, 'a', 'up')
        down = self.expect_state(d, 'a', 'down')
        self.assertEqual(down[5:7], ['exit', '4'])
        self.expect_state(d, 'a', 'up')
        self.assertIn('service.auto_up\ta\t-', d.cmd('service.auto_up\ta\t-'))

    def test_min_interval(self):
        d = self.start()
        d.cmd('service.args\tq\tsh\t-c\texit 0')
        d.send('service.auto_up\tq\t2\talways')
        up0 = self.expect_state(d, 'q', 'up')
        ts0 = int(up0[3])
        self.expect_state(d, 'q', 'down')
        st = self.expect_state(d, 'q', 'start')
        self.assertEqual(st, ['service.state', 'q', 'start', str(ts0 + 2), '-', '-', '-', '-', '-'])
        self.assertFalse([l for l in d.skipped if l.startswith('service.state\tq\tup')])
        up1 = self.expect_state(d, 'q', 'up', timeout=TIMEOUT + 2)
        self.assertGreaterEqual(mono(), ts0 + 2)
        # the timer fires at the scheduled millisecond: allow one second of
        # slack when that lands just before a second boundary
        self.assertIn(int(up1[3]), (ts0 + 2, ts0 + 3), (up0, up1))
        self.assertIn('service.auto_up\tq\t-', d.cmd('service.auto_up\tq\t-'))

    def test_ran_longer_than_interval_restarts_at_once(self):
        d = self.start()
        d.cmd('service.args\tl\tsleep\t1.3')
        d.send('service.auto_up\tl\t1\talways')
        up0 = self.expect_state(d, 'l', 'up')
        down = self.expect_state(d, 'l', 'down', timeout=TIMEOUT + 2)
        self.assertEqual(down[5:7], ['exit', '0'])
        self.assertIn(down[7], ('1', '2'), 'UPTIME in whole seconds: %r' % down)
        self.assertEqual(down[8], '0')
        up1 = self.expect_state(d, 'l', 'up')
        starts = [l.split('\t') for l in d.skipped if l.startswith('service.state\tl\tstart')]
        # one start, due at once (its TS is the down's), not a delayed one
        self.assertEqual(len(starts), 1, d.skipped)
        self.assertEqual(starts[0][3], down[3], 'no delayed start expected: %r' % d.skipped)
        self.assertNotEqual(up0[4], up1[4])
        d.cmd('service.auto_up\tl\t-')

    def test_signal_trigger_level(self):
        d = self.start()
        d.cmd('service.args\ts\tsleep\t30')
        self.assertEqual(d.cmd('service.auto_up\ts\t1\tSIGUSR1'), ['service.auto_up\ts\t1\tSIGUSR1'])
        self.assertEqual(self.dump_state(d, 's')[2], 'down')
        os.kill(d.pid, signal.SIGUSR1)
        sig = d.expect(lambda l: l.startswith('signal\tSIGUSR1\t'))
        self.assertEqual(sig.split('\t')[3], '1')
        self.expect_state(d, 's', 'up')
        # level-triggered: while the count is > 0 it keeps restarting
        d.send('service.signal\ts\tSIGKILL')
        self.expect_state(d, 's', 'down')
        self.expect_state(d, 's', 'up', timeout=TIMEOUT + 1)
        # cleared: a kill is final
        self.assertSilent(d, 'signal.clear\tSIGUSR1\t1')
        self.assertFalse([l for l in self.dump(d) if l.startswith('signal\tSIGUSR1')])
        d.send('service.signal\ts\tSIGKILL')
        self.expect_state(d, 's', 'down')
        self.no_state_events(d, 's', 1.5)
        self.assertEqual(self.dump_state(d, 's')[2], 'down')

    def test_signal_clear_cancels_pending_auto_start(self):
        d = self.start()
        d.cmd('service.args\tc\tsh\t-c\texit 0')
        d.cmd('service.auto_up\tc\t2\tSIGHUP')
        os.kill(d.pid, signal.SIGHUP)
        self.expect_state(d, 'c', 'up')
        self.expect_state(d, 'c', 'down')
        st = self.expect_state(d, 'c', 'start')
        d.send('signal.clear\tSIGHUP\t5')
        lines = []
        while mono() < int(st[3]) + 1.2:
            lines += d.reader.available(0.2)
        lines += d.cmd()
        self.assertFalse([l for l in lines if l.startswith('service.state\tc\tup')], lines)
        self.assertEqual(self.dump_state(d, 'c')[2], 'down')

    def test_trigger_already_true_starts_at_once(self):
        d = self.start()
        d.ping()    # signal handling is set up
        os.kill(d.pid, signal.SIGUSR2)
        d.expect(lambda l: l.startswith('signal\tSIGUSR2\t'))
        d.cmd('service.args\tt\tsleep\t30')
        out = d.cmd('service.auto_up\tt\t1\tSIGUSR2')
        self.assertEqual(out[0], 'service.auto_up\tt\t1\tSIGUSR2')
        self.assertEqual(len(out), 3, out)
        self.assertTrue(out[1].startswith('service.state\tt\tstart\t'), out)
        self.assertTrue(out[2].startswith('service.state\tt\tup\t'), out)
        # always with args: also at once
        d.cmd('service.args\tu\tsleep\t30')
        out = d.cmd('service.auto_up\tu\t1\talways')
        self.assertTrue(out[1].startswith('service.state\tu\tstart\t'), out)
        self.assertTrue(out[2].startswith('service.state\tu\tup\t'), out)
        d.cmd('signal.clear\tSIGUSR2\t1')

    def test_disable(self):
        d = self.start()
        d.cmd('service.args\tx\tsleep\t30')
        d.send('service.auto_up\tx\t1\talways')
        self.expect_state(d, 'x', 'up')
        self.assertEqual(d.cmd('service.auto_up\tx\t-'), ['service.auto_up\tx\t-'])
        self.assertIn('service.auto_up\tx\t-', self.dump(d))
        d.send('service.signal\tx\tSIGKILL')
        self.expect_state(d, 'x', 'down')
        self.no_state_events(d, 'x', 1.5)

    def test_interval_dash_keeps_current(self):
        d = self.start()
        d.cmd('service.args\tk\tsh\t-c\texit 0')
        self.assertEqual(d.cmd('service.auto_up\tk\t3\tSIGINT'), ['service.auto_up\tk\t3\tSIGINT'])
        self.assertEqual(d.cmd('service.auto_up\tk\t-\tSIGQUIT'), ['service.auto_up\tk\t3\tSIGQUIT'])
        # functionally: the kept interval 3 spaces the restarts
        os.kill(d.pid, signal.SIGQUIT)
        up = self.expect_state(d, 'k', 'up')
        st = self.expect_state(d, 'k', 'start')
        self.assertEqual(int(st[3]), int(up[3]) + 3)
        d.cmd('service.auto_up\tk\t-')
        d.cmd('signal.clear\tSIGQUIT\t1')
