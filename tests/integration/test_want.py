"""docs/protocol.md, "Desired state": `service.want→NAME→WANT→[WHY…]` records
who wants a service up, down or failed; the daemon gates every start but an
operator's `up` while it is down or failed, starts it on `up`, broadcasts
`service.want→NAME→WANT→BY→TS→WHY`, lists it in statedump (only when not
`-`), keeps it across a re-exec and a controller's going, and forgets it
with the service."""

import grp
import os
import shutil
import subprocess
import sys
import unittest

from dp import TIMEOUT, VALGRIND_DIR
from svc_util import SvcTest

SETPRIV = shutil.which('setpriv')
NOBODY = 65534
NOGROUP = 65534

# A socket client that sends its argv[2:] as lines, then an echo marker,
# and prints every line it got before the marker.
CLIENT = r'''
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(%(timeout)s)
s.sendall(''.join(l + '\n' for l in sys.argv[2:] + ['echo\tclient-done']).encode())
data = b''
while b'client-done\n' not in data:
    b = s.recv(4096)
    if not b:
        break
    data += b
print(data.decode(), end='')
''' % {'timeout': TIMEOUT}


def starts(prefix):
    return lambda l: l.startswith(prefix)


def wants(lines, name):
    return [l.split('\t') for l in lines if l.startswith('service.want\t%s\t' % name)]


def not_clock(lines):
    """lines without the events of "clock", the service that ticks every
    second while a test runs."""
    return [l for l in lines if not l.startswith('service.state\tclock\t')]


class Want(SvcTest):
    def want(self, io, name, *args):
        """service.want NAME ARGS…: the lines before the echo marker."""
        return io.cmd('\t'.join(('service.want', name) + args))

    def want_line(self, io, name):
        """The service.want line of NAME in a statedump (None if none)."""
        io.ping()       # past any event of it already sent
        got = wants(self.dump(io), name)
        self.assertLessEqual(len(got), 1, got)
        return got[0] if got else None

    def settle_down(self, d, lines, name):
        """lines: all d saw of NAME since its last state event waited for,
        up to the reply to a want down or failed.  A run that was up then
        still ends (daemonproxy does not stop it): wait for that down."""
        st = [l.split('\t')[2] for l in lines if l.startswith('service.state\t%s\t' % name)]
        if st and st[-1] == 'up':
            self.expect_state(d, name, 'down')

    def ticks(self, d, name, n):
        """Wait for n `up` events of the clock service NAME (auto-up 1
        always, exits at once): n - 1 of its MIN_INTERVALs pass meanwhile,
        as the daemon measures them.  Returns every line seen."""
        seen = []
        for _ in range(n):
            d.expect(lambda l: seen.append(l) or l.startswith('service.state\t%s\tup\t' % name),
                     timeout=TIMEOUT + 2)
        return seen

    # --- the values --------------------------------------------------------

    def test_each_value(self):
        d = self.start()
        self.define(d, 's', ['sleep', '1000'])
        # up: recorded, broadcast, and the daemon starts it within the command
        out = self.want(d, 's', 'up', 'operator', 'asked')
        w = wants(out, 's')
        self.assertEqual(len(w), 1, out)
        self.assertEqual(w[0][2:4], ['up', 'stdin'])
        self.assertEqual(w[0][5:], ['operator', 'asked'])
        ts = int(w[0][4])
        self.assertTrue(any(l.startswith('service.state\ts\tstart\t') for l in out), out)
        up = [l for l in out if l.startswith('service.state\ts\tup\t')]
        self.assertEqual(len(up), 1, out)
        pid = up[0].split('\t')[4]
        # up again while it runs: nothing changes, nothing is said
        self.assertEqual(self.want(d, 's', 'up', 'operator', 'asked'), [])
        # down: recorded, but the daemon does not signal it
        out = self.want(d, 's', 'down')
        w = wants(out, 's')
        self.assertEqual(len(w), 1, out)
        self.assertEqual(w[0][:4] + w[0][5:], ['service.want', 's', 'down', 'stdin', ''])
        self.assertGreaterEqual(int(w[0][4]), ts)
        self.assertFalse([l for l in out if l.startswith('service.state\ts\t')], out)
        self.assertEqual(self.dump_state(d, 's')[2:5], ['up', self.dump_state(d, 's')[3], pid])
        # failed: recorded
        out = self.want(d, 's', 'failed', 'start', 'limit', '5/60s')
        self.assertEqual(wants(out, 's')[0][2:4], ['failed', 'stdin'])
        self.assertEqual(wants(out, 's')[0][5:], ['start', 'limit', '5/60s'])
        self.assertEqual(self.want_line(d, 's')[5:], ['start', 'limit', '5/60s'])
        # -: forgotten; the event says who cleared it
        out = self.want(d, 's', '-')
        self.assertEqual(wants(out, 's')[0][2:4], ['-', 'stdin'])
        self.assertIsNone(self.want_line(d, 's'))
        # - again: nothing to say
        self.assertEqual(self.want(d, 's', '-'), [])
        # still running all along
        self.assertEqual(self.dump_state(d, 's')[2:5], ['up', self.dump_state(d, 's')[3], pid])

    def test_up_starts_a_stopped_service_each_time(self):
        d = self.start()
        self.define(d, 'j', ['sh', '-c', 'exit 0'])
        out = self.want(d, 'j', 'up')
        self.assertTrue(any(l.startswith('service.state\tj\tup\t') for l in out), out)
        self.expect_state(d, 'j', 'down')
        # the same want again: no new record, but it is started again
        out = self.want(d, 'j', 'up')
        self.assertEqual(wants(out, 'j'), [])
        self.assertTrue(any(l.startswith('service.state\tj\tup\t') for l in out), out)
        self.expect_state(d, 'j', 'down')
        # up with nothing to run: recorded, and the start's error
        d.cmd('service.tags\tnoargs\tt')
        out = self.want(d, 'noargs', 'up')
        self.assertEqual(wants(out, 'noargs')[0][2], 'up')
        self.assertError(out[-1], 'service noargs: no args configured')

    # --- the gate ----------------------------------------------------------

    def assertRefused(self, d, command, *substrings):
        """command gives exactly one reply, an error with the substrings;
        the clock's events, which may fall in between, are left out."""
        out = not_clock(d.cmd(command))
        self.assertEqual(len(out), 1, 'expected one error reply to %r, got %r' % (command, out))
        self.assertError(out[0], *substrings)

    def test_gate_against_auto_up_and_up_restores_the_rule(self):
        d = self.start()
        self.define(d, 'clock', ['sh', '-c', 'exit 0'], auto_up=[1, 'always'])
        self.define(d, 'crash', ['sh', '-c', 'exit 3'], auto_up=[1, 'always'])
        # crash-looping: a down, then a start of its own
        self.expect_state(d, 'crash', 'down')
        self.expect_state(d, 'crash', 'start')
        out = self.want(d, 'crash', 'down', 'maintenance')
        self.assertEqual(wants(out, 'crash')[0][2:4], ['down', 'stdin'])
        # a pending start is cancelled; a run that was up ends; then it
        # stays down
        self.settle_down(d, out, 'crash')
        self.assertEqual(self.dump_state(d, 'crash')[2], 'down')
        # three spawns of the clock: two of crash's MIN_INTERVALs
        seen = self.ticks(d, 'clock', 3) + d.cmd()
        late = [l for l in seen if l.startswith('service.state\tcrash\t')]
        self.assertEqual(late, [], 'crash started while wanted down')
        # the auto_up rule was never touched
        auto = [l for l in self.dump(d) if l.startswith('service.auto_up\tcrash\t')]
        self.assertEqual(auto, ['service.auto_up\tcrash\t1\talways'])
        # a start is refused, naming who asked, why, and the way back
        self.assertRefused(d, 'service.start\tcrash',
                            'service crash: wanted down by stdin (maintenance); '
                            'to start it: dpctl start crash')
        now = int(self.dump_state(d, 'clock')[3])
        self.assertRefused(d, 'service.start\tcrash\t%d' % (now + 100), 'wanted down by stdin')
        # so is one while it is failed
        self.want(d, 'crash', 'failed', 'gave', 'up')
        self.assertRefused(d, 'service.start\tcrash',
                            'service crash: marked failed by stdin (gave up); '
                            'to start it: dpctl start crash')
        # re-setting the same auto-up rule does not start it either
        out = not_clock(d.cmd('service.auto_up\tcrash\t1\talways'))
        self.assertEqual(out, ['service.auto_up\tcrash\t1\talways'])
        # up: started now, and the auto-up rule runs again as it was
        out = self.want(d, 'crash', 'up')
        self.assertTrue(any(l.startswith('service.state\tcrash\tup\t') for l in out), out)
        self.expect_state(d, 'crash', 'down')
        self.expect_state(d, 'crash', 'up', timeout=TIMEOUT + 2)
        auto = [l for l in self.dump(d) if l.startswith('service.auto_up\tcrash\t')]
        self.assertEqual(auto, ['service.auto_up\tcrash\t1\talways'])
        self.want(d, 'crash', 'down')
        self.want(d, 'clock', 'down')

    def test_pending_start_cancelled(self):
        d = self.start()
        # an auto-up start waiting out MIN_INTERVAL
        self.define(d, 'a', ['sh', '-c', 'exit 3'], auto_up=[1000, 'always'])
        self.expect_state(d, 'a', 'down')
        st = self.expect_state(d, 'a', 'start')
        # a timed start
        self.define(d, 'b', ['sleep', '1000'])
        out = d.cmd('service.start\tb\t%d' % (int(st[3]) + 500))
        self.assertTrue(out[0].startswith('service.state\tb\tstart\t'), out)
        for name in ('a', 'b'):
            out = self.want(d, name, 'down')
            self.assertEqual(wants(out, name)[0][2], 'down')
            downs = [l for l in out if l.startswith('service.state\t%s\t' % name)]
            self.assertEqual(len(downs), 1, out)
            self.assertTrue(downs[0].startswith('service.state\t%s\tdown\t' % name), downs)
        # failed cancels too
        self.want(d, 'b', '-')
        d.cmd('service.start\tb\t%d' % (int(st[3]) + 500))
        out = self.want(d, 'b', 'failed')
        self.assertTrue(any(l.startswith('service.state\tb\tdown\t') for l in out), out)
        # -: the gate is gone, and auto-up decides again (a's interval has
        # not passed: a start pending, not a spawn)
        out = self.want(d, 'a', '-')
        self.assertTrue(any(l.startswith('service.state\ta\tstart\t') for l in out), out)
        self.assertFalse(any(l.startswith('service.state\ta\tup\t') for l in out), out)
        # and service.start works again
        out = d.cmd('service.start\tb\t-', 'service.want\tb\t-', 'service.start\tb')
        self.assertTrue(any(l.startswith('service.state\tb\tup\t') for l in out), out)

    # --- who asked ---------------------------------------------------------

    def run_client(self, sock, *lines, as_nobody=False):
        client = self.write_file('client.py', CLIENT)
        os.chmod(client, 0o644)
        pre = [SETPRIV, '--reuid=%d' % NOBODY, '--regid=%d' % NOGROUP,
               '--clear-groups'] if as_nobody else []
        return subprocess.run(pre + [sys.executable, client, sock] + list(lines),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=TIMEOUT * 2, text=True).stdout

    @unittest.skipUnless(SETPRIV and os.geteuid() == 0, 'needs root and setpriv for a second uid')
    def test_by_socket_uid_and_connection_gone(self):
        os.chmod(self.tmp, 0o755)       # let the other uid reach the socket
        sock = self.path('s.sock')
        d = self.start('-S', sock, '--socket-group', grp.getgrgid(NOGROUP).gr_name)
        self.define(d, 'web', ['sleep', '1000'])
        d.ping()
        out = self.run_client(sock, 'service.want\tweb\tdown\tdeploy\t42', as_nobody=True)
        self.assertIn('service.want\tweb\tdown\tuid=%d\t' % NOBODY, out)
        ev = d.expect(starts('service.want\tweb\t')).split('\t')
        self.assertEqual(ev[2:4], ['down', 'uid=%d' % NOBODY])
        self.assertEqual(ev[5:], ['deploy', '42'])
        # the client is gone; the daemon holds it
        self.assertEqual(self.want_line(d, 'web'), ev)
        self.assertCmdError(d, 'service.start\tweb', 'wanted down by uid=%d (deploy 42)' % NOBODY)
        # root's client
        out = self.run_client(sock, 'service.want\tweb\tup')
        self.assertIn('service.want\tweb\tup\tuid=0\t', out)
        self.assertIn('service.state\tweb\tup\t', out)

    def test_by_controller_from_config(self):
        conf = self.write_file('dp.conf', 'service.args\tc\tsleep\t1000\n'
                               'service.want\tc\tdown\tfrom\tconfig\n')
        d = self.start('-c', conf)
        ev = d.expect(starts('service.want\tc\t')).split('\t')
        w = self.want_line(d, 'c')
        self.assertEqual(w, ev)
        self.assertEqual(w[2:4], ['down', 'controller'])
        self.assertEqual(w[5:], ['from', 'config'])

    # --- kept and forgotten ------------------------------------------------

    def test_survives_reexec(self):
        if VALGRIND_DIR:
            self.skipTest('a re-exec leaves valgrind')
        sock = self.path('s.sock')
        d = self.start('-S', sock)
        self.define(d, 'y', ['sleep', '1000'])
        self.define(d, 'clock', ['sh', '-c', 'exit 0'], auto_up=[1, 'always'])
        self.define(d, 'x', ['sh', '-c', 'exit 3'], auto_up=[1, 'always'])
        self.expect_state(d, 'x', 'start')
        c = self.connect(sock)
        c.cmd('service.want\tx\tfailed\trestart\tlimit', 'service.want\ty\tup')
        self.settle_down(d, d.cmd(), 'x')
        before = [self.want_line(d, 'x'), self.want_line(d, 'y')]
        self.assertEqual(before[0][3], 'uid=0')
        self.assertEqual(before[1][2:4], ['up', 'uid=0'])
        d.send('reexec')
        d.expect(starts('reexec\t'))
        self.assertEqual([self.want_line(d, 'x'), self.want_line(d, 'y')], before)
        # the gate still holds, against auto-up and service.start
        self.assertEqual(self.dump_state(d, 'x')[2], 'down')
        seen = self.ticks(d, 'clock', 2) + d.cmd()
        self.assertEqual([l for l in seen if l.startswith('service.state\tx\t')], [])
        self.assertRefused(d, 'service.start\tx', 'marked failed by uid=0 (restart limit)')
        # and the connection that asked still answers as the same uid
        out = c.cmd('service.want\tx\tdown')
        self.assertEqual(wants(out, 'x')[0][3], 'uid=0')
        self.want(d, 'clock', 'down')

    def test_statedump_and_delete(self):
        d = self.start()
        self.define(d, 'p', ['sleep', '1000'])
        self.define(d, 'q', ['sleep', '1000'])
        # an original controller's dump: no service.want line at all
        dump = self.dump(d)
        self.assertFalse([l for l in dump if l.startswith('service.want')], dump)
        self.want(d, 'p', 'down', 'why')
        dump = self.dump(d)
        self.assertEqual([l for l in dump if l.startswith('service.want')],
                         [l for l in dump if l.startswith('service.want\tp\tdown\tstdin\t')])
        # its place: after the service's own lines, before the next service
        names = [l.split('\t')[1] for l in dump if l.startswith('service.')]
        i = dump.index([l for l in dump if l.startswith('service.want')][0])
        self.assertTrue(dump[i - 1].startswith('service.auto_up\tp\t'), dump)
        self.assertEqual(names, sorted(names))
        # deleted: forgotten with it; the name comes back without it
        out = d.cmd('service.delete\tp')
        self.assertEqual(out, ['service.state\tp\tdeleted\t-\t-\t-\t-\t-\t-'])
        self.define(d, 'p', ['sleep', '1000'])
        self.assertIsNone(self.want_line(d, 'p'))
        out = d.cmd('service.start\tp')
        self.assertTrue(any(l.startswith('service.state\tp\tup\t') for l in out), out)

    # --- bad input ---------------------------------------------------------

    def test_bad_input(self):
        d = self.start()
        self.define(d, 'k', ['sleep', '1000'])
        self.assertCmdError(d, 'service.want\tk\tstop',
                            "invalid want 'stop' (up, down, failed or -)")
        self.assertCmdError(d, 'service.want\tk\tUP', "invalid want 'UP'")
        self.assertCmdError(d, 'service.want\tk\t', "invalid want ''")
        self.assertCmdError(d, 'service.want', 'expected at least 2 arguments')
        self.assertCmdError(d, 'service.want\tk', 'expected at least 2 arguments')
        self.assertCmdError(d, 'service.want\tnope\tdown', "no such service 'nope'")
        self.assertCmdError(d, 'service.want\tnope\tbogus', "invalid want 'bogus'")
        self.assertCmdError(d, 'service.want\tk\tdown\t' + 'w' * 256,
                            'service k: WHY longer than 255 bytes')
        self.assertCmdError(d, 'service.want\tk\tdown\t' + '\t'.join(['w' * 100] * 3),
                            'WHY longer than 255 bytes')
        # none of them recorded anything or created a service
        self.assertIsNone(self.want_line(d, 'k'))
        self.assertIsNone(self.dump_state(d, 'nope'))
        # 255 bytes exactly is fine
        out = self.want(d, 'k', 'down', 'w' * 255)
        self.assertEqual(wants(out, 'k')[0][5], 'w' * 255)
        self.assertTrue(d.alive())
