"""docs/protocol.md, Service commands and Events: service.args / fds / tags / auto_up events, service.start
(now, at TS, cancel), service.state formats, service.delete, service.signal."""

import os
import signal

from dp import TIMEOUT, wait_for, proc_alive
from svc_util import SvcTest, mono, children, cmdline, wait_cmdline


class Definitions(SvcTest):
    def test_args_event_and_unset(self):
        d = self.start()
        self.assertEqual(d.cmd('service.args\tfoo\tsleep\t100'), ['service.args\tfoo\tsleep\t100'])
        self.assertEqual(d.cmd('service.args\tfoo\tsh\t-c\techo a  b\t'),
                         ['service.args\tfoo\tsh\t-c\techo a  b\t'])
        self.assertEqual(d.cmd('service.args\tfoo'), ['service.args\tfoo\t'])
        dump = self.dump(d)
        self.assertIn('service.args\tfoo\t', dump)

    def test_fds_event_unknown_handle_warning(self):
        d = self.start()
        self.assertEqual(d.cmd('service.fds\tfoo\tnull\tstderr\t-\tstdout'),
                         ['service.fds\tfoo\tnull\tstderr\t-\tstdout'])
        self.assertEqual(d.cmd('service.fds\tfoo'), ['service.fds\tfoo\t'])
        out = d.cmd('service.fds\tfoo\tnull\tno-such-handle\tstderr')
        self.assertIn('service.fds\tfoo\tnull\tno-such-handle\tstderr', out)
        warns = [l for l in out if l.startswith('warning\t')]
        self.assertEqual(len(warns), 1, out)
        self.assertEqual(len(out), 2, out)
        # accepted: statedump shows it
        self.assertIn('service.fds\tfoo\tnull\tno-such-handle\tstderr', self.dump(d))

    def test_new_service_defaults_in_dump(self):
        d = self.start()
        d.cmd('service.tags\tfresh\tt1')
        dump = self.dump(d)
        i = dump.index('service.state\tfresh\tdown\t-\t-\t-\t-\t-\t-')
        self.assertEqual(dump[i:i + 5], [
            'service.state\tfresh\tdown\t-\t-\t-\t-\t-\t-',
            'service.tags\tfresh\tt1',
            'service.args\tfresh\t',
            'service.fds\tfresh\tnull\tnull\tnull',
            'service.auto_up\tfresh\t-',
        ])

    def test_tags_event_and_unset(self):
        d = self.start()
        self.assertEqual(d.cmd('service.tags\tfoo\ta\tb=c\tx y'), ['service.tags\tfoo\ta\tb=c\tx y'])
        self.assertEqual(d.cmd('service.tags\tfoo'), ['service.tags\tfoo\t'])

    def test_auto_up_event_formats(self):
        d = self.start()
        # no args: setting triggers must not start anything
        self.assertEqual(d.cmd('service.auto_up\tfoo\t5\talways'),
                         ['service.auto_up\tfoo\t5\talways'])
        self.assertEqual(d.cmd('service.auto_up\tfoo\t3\tSIGHUP\tSIGUSR1'),
                         ['service.auto_up\tfoo\t3\tSIGHUP\tSIGUSR1'])
        self.assertEqual(d.cmd('service.auto_up\tfoo\t-\tSIGTERM'),
                         ['service.auto_up\tfoo\t3\tSIGTERM'], '- keeps the interval')
        self.assertEqual(d.cmd('service.auto_up\tfoo\t-'), ['service.auto_up\tfoo\t-'])
        self.assertEqual(d.cmd('service.auto_up\tfoo\t7'), ['service.auto_up\tfoo\t-'])
        self.assertEqual(d.cmd('service.auto_up\tfoo\t-\tSIGQUIT'),
                         ['service.auto_up\tfoo\t7\tSIGQUIT'])
        self.assertIn('service.auto_up\tfoo\t7\tSIGQUIT', self.dump(d))

    def test_invalid_definitions(self):
        d = self.start()
        for cmd in ['service.args\tbad/name\tsleep\t1',
                    'service.fds\tbad:name\tnull',
                    'service.tags\t\tx',
                    'service.auto_up\tfoo\t0\talways',
                    'service.auto_up\tfoo\t-1\talways',
                    'service.auto_up\tfoo\tabc\talways',
                    'service.auto_up\tfoo\t1\tSIGKILL',
                    'service.auto_up\tfoo\t1\tsometimes',
                    'service.auto_up\tfoo\t1\talways\tSIGSTOP']:
            out = d.cmd(cmd)
            self.assertEqual(len(out), 1, '%r -> %r' % (cmd, out))
            self.assertError(out[0])
        dump = self.dump(d)
        self.assertEqual([l for l in dump if l.startswith('service.')], [],
                         'failed commands create nothing')

    def test_events_reach_all_controllers(self):
        sock = self.path('all.sock')
        d = self.start('-S', sock)
        c = self.connect(sock)
        c.ping()
        sent = ['service.args\tfoo\tsleep\t5',
                'service.fds\tfoo\tnull\tno-such\tnull',
                'service.tags\tfoo\tbar',
                'service.auto_up\tfoo\t4\tSIGUSR2']
        out = d.cmd(*sent)
        self.assertEqual([l for l in out if not l.startswith('warning\t')], sent)
        # the other controller sees the broadcasts but not the warning reply
        self.assertEqual(c.cmd(), sent)
        # and vice versa
        self.assertEqual(c.cmd('service.args\tfoo'), ['service.args\tfoo\t'])
        d.expect('service.args\tfoo\t')


class StartStop(SvcTest):
    def test_start_up_and_killed(self):
        d = self.start()
        d.cmd('service.args\ts\tsleep\t30')
        t0 = mono()
        d.send('service.start\ts')
        f = self.expect_state(d, 's', 'up')
        t1 = mono()
        self.assertEqual(f[5:], ['-', '-', '0', '-'])
        ts, pid = int(f[3]), int(f[4])
        self.assertTrue(int(t0) <= ts <= int(t1) + 1, (t0, ts, t1))
        self.assertEqual(wait_cmdline(pid), [b'sleep', b'30'])
        self.assertIn(pid, children(d.pid))
        # statedump shows the same
        st = self.dump_state(d, 's')
        self.assertEqual(st[2:5], ['up', str(ts), str(pid)])
        self.assertEqual(st[5:7], ['-', '-'])
        self.assertEqual(st[8], '-')
        d.send('service.signal\ts\tSIGKILL')
        f = self.expect_state(d, 's', 'down')
        self.assertEqual(f[4:6], [str(pid), 'signal'])
        self.assertEqual(f[6], 'SIGKILL')
        self.assertTrue(f[7].isdigit() and f[8] == '0', f)
        self.assertTrue(ts <= int(f[3]) <= int(mono()) + 1)
        wait_for(lambda: not proc_alive(pid), msg='service process gone')

    def test_exit_code(self):
        d = self.start()
        d.cmd('service.args\te\tsh\t-c\texit 3')
        d.send('service.start\te')
        up = self.expect_state(d, 'e', 'up')
        f = self.expect_state(d, 'e', 'down')
        self.assertEqual(f[4:7], [up[4], 'exit', '3'])
        self.assertEqual(f[7:], ['0', '0'])
        # restart after exit works, exit 0
        d.cmd('service.args\te\tsh\t-c\texit 0')
        d.send('service.start\te')
        self.expect_state(d, 'e', 'up')
        f = self.expect_state(d, 'e', 'down')
        self.assertEqual(f[5:7], ['exit', '0'])

    def test_never_started_dump(self):
        d = self.start()
        d.cmd('service.args\tn\tsleep\t1')
        self.assertIn('service.state\tn\tdown\t-\t-\t-\t-\t-\t-', self.dump(d))

    def test_start_at_future_ts_and_cancel(self):
        d = self.start()
        d.cmd('service.args\tlater\tsleep\t30', 'service.args\tnever\tsleep\t30')
        ts = int(mono()) + 2
        out = d.cmd('service.start\tlater\t%d' % ts, 'service.start\tnever\t%d' % ts)
        self.assertEqual(out, ['service.state\tlater\tstart\t%d\t-\t-\t-\t-\t-' % ts,
                               'service.state\tnever\tstart\t%d\t-\t-\t-\t-\t-' % ts])
        self.assertIn('service.state\tnever\tstart\t%d\t-\t-\t-\t-\t-' % ts, self.dump(d))
        self.assertEqual(d.cmd('service.start\tnever\t-'),
                         ['service.state\tnever\tdown\t-\t-\t-\t-\t-\t-'])
        # a second cancel has nothing to cancel
        self.assertCmdError(d, 'service.start\tnever\t-')
        f = self.expect_state(d, 'later', 'up', timeout=TIMEOUT + 3)
        self.assertGreaterEqual(mono(), ts, 'started before its time')
        self.assertGreaterEqual(int(f[3]), ts)
        self.assertLessEqual(int(f[3]), ts + 1)
        # 'never' did not start with it
        seen = list(d.skipped) + d.cmd()
        self.assertFalse([l for l in seen if l.startswith('service.state\tnever\t')], seen)
        self.assertIn('service.state\tnever\tdown\t-\t-\t-\t-\t-\t-', self.dump(d))

    def test_cancel_without_pending_start(self):
        d = self.start()
        d.cmd('service.args\tc\tsleep\t30')
        self.assertCmdError(d, 'service.start\tc\t-')
        self.start_svc(d, 'c')
        self.assertCmdError(d, 'service.start\tc\t-')

    def test_start_ts_in_past(self):
        d = self.start()
        d.cmd('service.args\tp\tsleep\t30')
        now = int(mono())
        self.assertCmdError(d, 'service.start\tp\t%d' % (now - 100010), 'invalid timestamp')
        self.assertCmdError(d, 'service.start\tp\tsoon')
        self.assertIn('service.state\tp\tdown\t-\t-\t-\t-\t-\t-', self.dump(d))
        # a timestamp in the recent past: starts now (`start` for now, then `up`)
        out = d.cmd('service.start\tp\t%d' % max(0, now - 5))
        self.assertEqual(len(out), 2, out)
        st = out[0].split('\t')
        self.assertEqual(st[:3] + st[4:], ['service.state', 'p', 'start', '-', '-', '-', '-', '-'])
        self.assertGreaterEqual(int(st[3]), now)
        self.assertTrue(out[1].startswith('service.state\tp\tup\t'), out)

    def test_start_errors(self):
        d = self.start()
        self.assertCmdError(d, 'service.start\tghost')
        d.cmd('service.tags\tnoargs\tx')
        self.assertCmdError(d, 'service.start\tnoargs', 'no args')
        d.cmd('service.args\trun\tsleep\t30')
        self.start_svc(d, 'run')
        self.assertCmdError(d, 'service.start\trun', 'already running')
        self.assertCmdError(d, 'service.start\trun\t%d' % (int(mono()) + 5), 'already running')

    def test_delete(self):
        d = self.start()
        d.cmd('service.args\tdel\tsleep\t30', 'service.tags\tdel\tt', 'service.fds\tdel\tnull',
              'service.auto_up\tdel\t9\tSIGHUP')
        pid = self.start_svc(d, 'del')
        self.assertCmdError(d, 'service.delete\tdel', 'service is running')
        d.send('service.signal\tdel\tKILL')
        self.expect_state(d, 'del', 'down')
        self.assertEqual(d.cmd('service.delete\tdel'),
                         ['service.state\tdel\tdeleted\t-\t-\t-\t-\t-\t-'])
        self.assertFalse([l for l in self.dump(d) if '\tdel\t' in l])
        self.assertCmdError(d, 'service.delete\tdel')
        # name reusable, with fresh defaults
        self.assertEqual(d.cmd('service.args\tdel\tsleep\t1'), ['service.args\tdel\tsleep\t1'])
        dump = self.dump(d)
        i = dump.index('service.state\tdel\tdown\t-\t-\t-\t-\t-\t-')
        self.assertEqual(dump[i + 1:i + 5], ['service.tags\tdel\t', 'service.args\tdel\tsleep\t1',
                                             'service.fds\tdel\tnull\tnull\tnull',
                                             'service.auto_up\tdel\t-'])

    def test_delete_pending_start(self):
        d = self.start()
        d.cmd('service.args\tdp\tsleep\t30')
        ts = int(mono()) + 2
        d.cmd('service.start\tdp\t%d' % ts)
        self.assertEqual(d.cmd('service.delete\tdp'),
                         ['service.state\tdp\tdeleted\t-\t-\t-\t-\t-\t-'])
        d.cmd('service.args\tmarker\tsleep\t30', 'service.start\tmarker\t%d' % ts)
        self.expect_state(d, 'marker', 'up', timeout=TIMEOUT + 3)
        self.assertFalse([l for l in d.skipped if '\tdp\t' in l], d.skipped)


class Signal(SvcTest):
    def test_signal_spellings(self):
        d = self.start()
        d.cmd('service.args\tt\tsleep\t30')
        for spelling in ('SIGTERM', 'TERM', '15'):
            self.start_svc(d, 't')
            self.assertSilent(d, 'service.signal\tt\t' + spelling)
            f = self.expect_state(d, 't', 'down')
            self.assertEqual(f[5:7], ['signal', 'SIGTERM'], spelling)
        self.start_svc(d, 't')
        self.assertSilent(d, 'service.signal\tt\tSIGUSR1')
        self.assertEqual(self.expect_state(d, 't', 'down')[5:7], ['signal', 'SIGUSR1'])

    def test_signal_errors(self):
        d = self.start()
        d.cmd('service.args\tt\tsleep\t30')
        self.assertCmdError(d, 'service.signal\tt\tSIGTERM')       # not running
        self.assertCmdError(d, 'service.signal\tghost\tSIGTERM')
        self.start_svc(d, 't')
        self.assertCmdError(d, 'service.signal\tt\tSIGBOGUS')
        self.assertCmdError(d, 'service.signal\tt\tNOPE')
        self.assertCmdError(d, 'service.signal\tt\t99999')
        self.assertCmdError(d, 'service.signal\tt\tSIGTERM\tgroupie')
        self.assertEqual(self.dump_state(d, 't')[2], 'up', 'errors did not signal it')

    def _grandchild(self, d, pid):
        def find():
            kids = [k for k in children(pid) if cmdline(k) == [b'sleep', b'30']]
            return kids[0] if kids else None
        g = wait_for(find, msg='sleep grandchild of %d' % pid)
        self.kill_at_cleanup(g, 'sleep')
        return g

    def test_signal_group(self):
        d = self.start()
        d.cmd('service.args\tg\tsh\t-c\tsleep 30 & wait')
        pid = self.start_svc(d, 'g')
        gc = self._grandchild(d, pid)
        self.assertSilent(d, 'service.signal\tg\tSIGTERM\tgroup')
        f = self.expect_state(d, 'g', 'down')
        self.assertEqual(f[5:7], ['signal', 'SIGTERM'])
        wait_for(lambda: not proc_alive(gc), msg='grandchild killed by group signal')

    def test_signal_without_group_spares_grandchild(self):
        d = self.start()
        d.cmd('service.args\tg\tsh\t-c\tsleep 30 & wait')
        pid = self.start_svc(d, 'g')
        gc = self._grandchild(d, pid)
        self.assertSilent(d, 'service.signal\tg\tSIGKILL')
        self.expect_state(d, 'g', 'down')
        self.assertTrue(proc_alive(gc), 'a plain signal goes to the service process only')
        os.kill(gc, signal.SIGKILL)


class ExitLog(SvcTest):
    def test_running_services_logged_on_exit(self):
        d = self.start()
        d.cmd('service.args\tstay\tsleep\t30', 'service.args\tstopped\tsh\t-c\texit 0')
        pid = self.start_svc(d, 'stay')
        self.kill_at_cleanup(pid, 'sleep')
        d.send('service.start\tstopped')
        self.expect_state(d, 'stopped', 'down')
        d.close_stdin()
        self.assertEqual(d.wait(), 0)
        log = d.log.wait_eof()
        self.assertTrue([l for l in log if "service 'stay' running as pid %d" % pid in l], log)
        self.assertFalse([l for l in log if "'stopped'" in l], log)
