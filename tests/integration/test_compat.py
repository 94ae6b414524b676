"""Details where daemonproxy must behave exactly like the original
(the protocol is a compatibility contract: controller scripts written for the
original keep working unchanged, so these lines must match byte for byte).

- Events, order: every start, an immediate `service.start` included, emits
  `service.state NAME start TS - - - - -` (TS the current monotonic second)
  before `up`; so do starts made by auto-up (the first one, each restart
  after an exit, and the one `service.auto_up` makes at once when its
  trigger is already true).  A controller that waits for `start` to learn
  that its command took effect would otherwise hang.
- Services: service names are 1..31 bytes, like handle names: service.args,
  service.fds, service.tags and service.auto_up accept 31 bytes and refuse
  32 (and 63) with an `error`, creating nothing.
- Errors: the `for command "..."` excerpt keeps the command's TABs, as the
  original's does (its t/119-service-resize.t matches
  `^error\t.*service.args\tx`); we showed spaces before.
- fd.socket without an address: the description field of `fd.state`
  is empty (not `-`), live and in statedump.
- The log: the default log destination is daemonproxy's standard error itself:
  log lines are written to fd 2 (checked with strace), not to a private
  copy under another fd number, so tools watching fd 2 of the process see
  them as the original's users expect.
"""

import os
import re
import shutil
import signal

from dp import wait_for
from svc_util import SvcTest, children, mono

STRACE = shutil.which('strace')


class StartEvents(SvcTest):

    def states(self, d, name, count=None, until=None):
        """Collect the service.state events of NAME (as field lists) until
        `until` states have been seen, or count events."""
        prefix = 'service.state\t%s\t' % name
        out = []
        while True:
            line = d.expect(lambda l: l.startswith(prefix))
            f = line.split('\t')
            self.assertEqual(len(f), 9, 'service.state has 9 fields: %r' % line)
            out.append(f)
            if count is not None and len(out) >= count:
                return out
            if until is not None and [x[2] for x in out].count(until[0]) >= until[1]:
                return out

    def check_start_line(self, f, lo=None, hi=None):
        self.assertEqual(f[2], 'start', f)
        self.assertRegex(f[3], r'^\d+$', 'start TS: %r' % f)
        self.assertEqual(f[4:], ['-'] * 5, 'start event fields: %r' % f)
        ts = int(f[3])
        if lo is not None:
            # taken between our two readings of the same clock (less one
            # second: a loop may stamp events with the time it woke up at)
            self.assertLessEqual(int(lo) - 1, ts, f)
            self.assertLessEqual(ts, hi, f)
        return ts

    def test_immediate_start_shows_start_then_up(self):
        d = self.start()
        self.define(d, 'x', ['sleep', '30'])
        t0 = mono()
        d.send('service.start\tx')
        st = self.states(d, 'x', until=('up', 1))
        t1 = mono()
        self.assertEqual([f[2] for f in st], ['start', 'up'],
                         'an immediate start must show start then up: %r' % st)
        ts = self.check_start_line(st[0], t0, t1)
        self.assertLessEqual(ts, int(st[1][3]))
        d.send('service.signal\tx\tSIGKILL')
        self.expect_state(d, 'x', 'down')

    def test_auto_up_restarts_show_start_up_down(self):
        d = self.start()
        self.define(d, 'x', ['sh', '-c', 'exit 3'])
        d.send('service.auto_up\tx\t1\talways')
        st = self.states(d, 'x', until=('down', 3))
        d.cmd('service.auto_up\tx\t1')         # no triggers: stop cycling
        seq = [f[2] for f in st]
        self.assertEqual(seq, ['start', 'up', 'down'] * 3, 'states of an auto-up service: %r'
                         % seq)
        for i in range(3):
            start, up, down = st[3 * i:3 * i + 3]
            ts = self.check_start_line(start)
            self.assertLessEqual(ts, int(up[3]), 'starts at or after its pending TS')
            self.assertEqual(down[4:7], [up[4], 'exit', '3'])

    def test_auto_up_with_true_trigger_starts_at_once(self):
        d = self.start()
        self.define(d, 'x', ['sleep', '30'])
        t0 = mono()
        d.send('service.auto_up\tx\t1\talways')
        st = self.states(d, 'x', until=('up', 1))
        t1 = mono()
        self.assertEqual([f[2] for f in st], ['start', 'up'], st)
        self.check_start_line(st[0], t0, t1)
        # a signal trigger whose count is already nonzero
        self.define(d, 'y', ['sleep', '30'])
        os.kill(d.pid, signal.SIGUSR1)
        d.expect(lambda l: l.startswith('signal\tSIGUSR1\t'))
        t0 = mono()
        d.send('service.auto_up\ty\t1\tSIGUSR1')
        st = self.states(d, 'y', until=('up', 1))
        t1 = mono()
        self.assertEqual([f[2] for f in st], ['start', 'up'], st)
        self.check_start_line(st[0], t0, t1)


class ServiceNames(SvcTest):
    COMMANDS = (
        ('service.args', ['true']),
        ('service.fds', ['null', 'null', 'null']),
        ('service.tags', ['t1']),
        ('service.auto_up', ['5', 'SIGUSR1']),
    )

    @staticmethod
    def name(cmd, length):
        return (cmd.split('.')[1].replace('_', '-') + '-' + 'n' * 64)[:length]

    def test_31_bytes_accepted(self):
        d = self.start()
        for cmd, rest in self.COMMANDS:
            name = self.name(cmd, 31)
            line = '\t'.join([cmd, name] + rest)
            out = d.cmd(line)
            self.assertIn(line, out, 'the change is broadcast')
            self.assertFalse([l for l in out if l.startswith(('error\t', 'warning\t'))], out)
        dump = self.dump(d)
        for cmd, rest in self.COMMANDS:
            self.assertTrue([l for l in dump if l.startswith('service.state\t%s\t'
                                                             % self.name(cmd, 31))], cmd)

    def test_32_and_63_bytes_refused(self):
        d = self.start()
        for length in (32, 63):
            for cmd, rest in self.COMMANDS:
                with self.subTest(command=cmd, length=length):
                    self.assertCmdError(d, '\t'.join([cmd, self.name(cmd, length)] + rest))
        created = sorted({l.split('\t')[1] for l in self.dump(d) if l.startswith('service.')})
        self.assertEqual(created, [], 'no service is created by a refused name')

    def test_error_excerpt_keeps_tabs(self):
        # the original's t/119-service-resize.t, byte for byte
        d = self.start()
        line = d.cmd1('service.args\t%s\t/bin/true' % ('x' * 32))
        self.assertRegex(line, r'^error\t.*service.args\tx')
        self.assertEqual(line, 'error\tinvalid service name, for command '
                               '"service.args\txxxxxxxxxxxxxxxxx..."')
        self.assertRegex(d.cmd1('service.args\t%s\t/bin/true' % ('x' * 31)),
                         r'^service.args\tx{31}\t')
        # every command's excerpt, whatever the error
        for cmd, rest in self.COMMANDS:
            with self.subTest(command=cmd):
                line = '\t'.join([cmd, self.name(cmd, 32)] + rest)
                out = d.cmd1(line)
                self.assertTrue(out.endswith(', for command "%s..."' % line[:30]), out)


class SocketWithoutAddress(SvcTest):
    def test_unbound_sockets_have_empty_description(self):
        d = self.start()
        self.assertEqual(d.cmd('fd.socket\ts1\tunix'), ['fd.state\ts1\tsocket\tunix,stream\t'])
        self.assertEqual(d.cmd('fd.socket\ts2\tudp'), ['fd.state\ts2\tsocket\tinet,dgram\t'])
        dump = self.dump(d)
        self.assertIn('fd.state\ts1\tsocket\tunix,stream\t', dump)
        self.assertIn('fd.state\ts2\tsocket\tinet,dgram\t', dump)


class LogOnFd2(SvcTest):
    def test_default_log_written_to_fd_2(self):
        if not STRACE:
            self.skipTest('strace not installed')
        trace = self.path('trace.txt')
        # LeakSanitizer cannot run under ptrace (see test_log.py)
        env = dict(os.environ)
        env['ASAN_OPTIONS'] = ':'.join(filter(None, [env.get('ASAN_OPTIONS'), 'detect_leaks=0']))
        d = self.start(env=env, prefix=[STRACE, '-f', '-qq', '-s', '256', '-e', 'trace=write',
                                        '-o', trace])
        for pid in wait_for(lambda: children(d.pid), msg='the traced daemonproxy'):
            self.track_pid(pid)
        word = 'zz_compat_unknown_cmd'
        out = d.cmd(word)
        self.assertEqual(len(out), 1)
        self.assertError(out[0], word)
        d.log.expect(lambda l: l.startswith('error: ') and 'unknown command ' + word in l)
        d.close_stdin()
        self.assertEqual(d.wait(), 0)
        with open(trace) as f:
            lines = f.read().splitlines()
        mine = [l for l in lines if word in l and 'unknown command' in l]
        self.assertTrue(mine, 'strace saw no write of the log line:\n%s' % '\n'.join(lines[-20:]))
        self.assertTrue([l for l in mine if re.search(r'\bwrite\(2, "error: [^"]*unknown command '
                                                      + word, l)],
                        'the log line must be written to fd 2 itself, not to a copy:\n%s'
                        % '\n'.join(mine))
