"""docs/protocol.md, "Readiness notification": what a stranger or a service
can do with a notify socket, and what it cannot (issue 18, points 5, 6, 11
and BARRIER=1).

- Refusals are summed up: per sender (a service's socket and a pid) the
  first 5 refusals of an interval are logged, then one line per interval
  says how many more.  A stranger flooding 50,000 datagrams gives 5 lines
  and summaries that add up to exactly what it sent; controllers' echoes
  are answered all along, the service's own messages still go through,
  and the daemon's CPU per datagram stays small (printed).  Every reason
  goes through the same limit: too long, not assignments, fds without
  FDSTORE=1, FDSTORE without fdstore=N, a bad FDNAME, a refused MAINPID=,
  a malformed barrier, and a sender the kernel gives no pid for (one in
  another pid namespace).
- BARRIER=1 with one fd (sd_notify_barrier, systemd-notify): the fd is
  closed, which the sender sees as end of file, and there is no event and
  no warning.  With other assignments or another number of fds, the whole
  message is dropped with a warning (as systemd does), its fds closed.
  The real systemd-notify, where installed, gives exactly one event.
- Fds that daemonproxy cannot receive (out of fds): the message is refused
  with the real cause (Too many open files, and the limit), not "more than
  253".
- MAINPID= is taken only for a process of the service (its main process,
  a descendant of it, or in its cgroup: see test_containment): another
  service's main process, pid 1, daemonproxy itself, a process of another
  uid, a pid that is gone, and what is not a pid are refused with a
  warning, left out of the event and of statedump, also when a descendant
  says so; and the wrongly named process's own messages stay refused.  A
  child of the main process is accepted.
"""

import os
import re
import shutil
import subprocess
import sys

from dp import TIMEOUT, VALGRIND_DIR, Timeout, slow_binary, wait_for
from svc_util import PY
from test_notify import NotifyBase, notify_lines, send_dgram

# The limit of docs/protocol.md: lines per sender and interval.
LOGGED = 5
INTERVAL = 5

SUMMARY_RE = re.compile(r'^warning: service ([^:]+): (\d+) more notifications '
                        r'(?:from pid (\d+)|without credentials) refused in the last (\d+) s$')

# A stranger: sends READY=1 to ADDR until it has sent LEAST datagrams and
# STOP exists; then writes the count to OUT.
FLOODER = r'''
import os, socket, sys
addr, stop, least, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
a = b'\0' + addr[1:].encode('latin-1')
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
n = 0
while n < least or not os.path.exists(stop):
    for _ in range(500):
        s.sendto(b'READY=1\nSTATUS=flood', a)
    n += 500
with open(out + '.tmp', 'w') as f:
    f.write(str(n))
os.rename(out + '.tmp', out)
'''

# Run as another uid: prints its pid, then for each line on stdin sends
# that line's text (with \n for newlines) to ADDR and prints "sent".
NOBODY = r'''
import os, socket, sys
a = b'\0' + sys.argv[1][1:].encode('latin-1')
print(os.getpid(), os.getuid(), flush=True)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for line in sys.stdin:
    s.sendto(line.rstrip('\n').replace('\\n', '\n').encode(), a)
    print('sent', flush=True)
'''


class TrustBase(NotifyBase):

    def lines_since(self, d, mark):
        return d.log.snapshot()[mark:]

    def summaries(self, d, mark, name, pid=None):
        """(count, seconds) of every summary line of service NAME (from pid,
        or without credentials when pid is 0) since mark."""
        out = []
        for l in self.lines_since(d, mark):
            m = SUMMARY_RE.match(l)
            if m and m.group(1) == name and (m.group(3) or '0') == str(pid or 0):
                out.append((int(m.group(2)), int(m.group(4))))
        return out

    def expect_summed(self, d, mark, name, pid, logged_pat, total):
        """The refusals of (NAME, pid) since mark: exactly LOGGED lines
        matching logged_pat, then summaries adding up to total."""
        def full():
            return [l for l in self.lines_since(d, mark) if logged_pat.search(l)]
        try:
            wait_for(lambda: len(full()) + sum(n for n, _ in self.summaries(d, mark, name, pid))
                     >= total, TIMEOUT + 2 * INTERVAL,
                     '%d refusals of service %s, pid %s, logged or summed up' % (total, name, pid))
        except Timeout as e:
            raise Timeout('%s; log since: %r' % (e, self.lines_since(d, mark)[-12:]))
        self.assertEqual(len(full()), LOGGED, 'logged in full: %r' % full()[:8])
        sums = self.summaries(d, mark, name, pid)
        self.assertEqual(LOGGED + sum(n for n, _ in sums), total, sums)
        for _, secs in sums:
            self.assertGreaterEqual(secs, 1)
        return sums

    def nobody(self, addr):
        """A python process as uid 65534 (see NOBODY), or a reason why not."""
        if os.geteuid() != 0:
            return None, 'needs root to run a process as nobody'
        if not shutil.which('setpriv'):
            return None, 'setpriv not installed'
        code = self.script('nobody.py', NOBODY)
        os.chmod(self.tmp, 0o755)
        os.chmod(code, 0o644)
        for py in (PY, '/usr/bin/python3'):
            p = subprocess.Popen(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
                                  py, '-I', code, addr], cwd='/', stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            self.addCleanup(self.end_process, p)
            first = p.stdout.readline().split()
            if len(first) == 2 and first[1] == b'65534':
                return p, int(first[0])
        return None, 'cannot run python as nobody'

    @staticmethod
    def end_process(p):
        if p.poll() is None:
            p.kill()
        p.wait()
        for f in (p.stdin, p.stdout):
            if f:
                f.close()


# ---------------------------------------------------------------------------

class Refusals(TrustBase):

    def test_stranger_flood_is_summed_up_and_echo_stays_prompt(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify'])
        _, st, _ = self.up(d, 's')
        addr = st['env']['NOTIFY_SOCKET']
        self.notified(d, 's', 'STATUS=before')
        stop, out = self.path('stop'), self.path('sent')
        flooder = self.script('flooder.py', FLOODER)
        mark = self.log_mark(d)
        cpu0 = d.cpu_seconds()
        p = subprocess.Popen([PY, flooder, addr, stop, '50000', out])
        self.addCleanup(self.end_process, p)
        # it floods until told to stop: every echo is answered meanwhile
        for i in range(20):
            self.assertEqual(d.cmd1('echo\tduring-%d' % i), 'during-%d' % i)
        self.notified(d, 's', 'STATUS=during')
        self.assertIsNone(p.poll(), 'the flood went on during the echoes')
        open(stop, 'w').close()
        self.assertEqual(p.wait(TIMEOUT * 3), 0)
        sent = int(self.wait_text(out))
        self.assertGreaterEqual(sent, 50000)
        # datagrams are read in order: this comes after the whole flood
        self.notified(d, 's', 'STATUS=after')
        cpu = d.cpu_seconds() - cpu0
        print('notify flood: %d datagrams from a stranger, daemon CPU %.2f s (%.1f us each)'
              % (sent, cpu, cpu * 1e6 / sent))
        pat = re.compile(r'^warning: service s: notification from pid %d refused: '
                         r'not a process of the service$' % p.pid)
        self.expect_summed(d, mark, 's', p.pid, pat, sent)
        lines = self.lines_since(d, mark)
        self.assertLess(len(lines), 100, lines[:20])
        self.assertEqual([l for l in d.reader.seen if 'flood' in l], [], 'no flood event')
        if not slow_binary():
            # refused on sight: 0409af0 took 40-50 us each, and a line each
            self.assertLess(cpu, 1.0, '%d datagrams' % sent)

    def test_every_reason_goes_through_the_same_limit(self):
        d = self.daemon()
        n = 12
        cases = {       # service: (message, fds, options)
            'long': ('STATUS=' + 'x' * 5000, [], ['notify']),
            'junk': ('junk without an equals sign', [], ['notify']),
            'nostore': ('STATUS=with an fd', [['dup', 1]], ['notify', 'fdstore=2']),
            'nofdstore': ('FDSTORE=1\nFDNAME=x', [['dup', 1]], ['notify']),
            'badname': ('FDSTORE=1\nFDNAME=a..b', [['dup', 1]], ['notify', 'fdstore=2']),
            'mainpid': ('MAINPID=1\nSTATUS=m', [], ['notify']),
            'barrier': ('BARRIER=1', [], ['notify']),
        }
        pats = {
            'long': 'notification from pid %d refused: longer than 4096 bytes',
            'junk': 'notification from pid %d refused: not a list of assignments',
            'nostore': '1 fds sent without FDSTORE=1; closed',
            'nofdstore': 'FDSTORE without fdstore=N; 1 fds closed',
            'badname': "FDSTORE: 1 of 1 fds named 'a..b' refused: invalid FDNAME",
            'mainpid': 'MAINPID=1 from pid %d refused: not a process of the service',
            'barrier': 'notification from pid %d refused: BARRIER=1 with not exactly one fd',
        }
        pids = {}
        for name, (_, _, opts) in cases.items():
            self.agent(d, name, opts=opts)
            pids[name] = self.up(d, name)[0]
        base = self.warm(d, 'long')
        mark = self.log_mark(d)
        for name, (msg, fds, _) in cases.items():
            r = self.tell(name, 'spam', msg=msg, fds=fds, n=n)
            self.assertTrue(r.get('ok'), r)
        for name in cases:
            self.marker(d, name)
        for name in cases:
            pat = pats[name] % pids[name] if '%d' in pats[name] else pats[name]
            pat = re.compile('^warning: service %s: %s' % (re.escape(name), re.escape(pat)))
            self.expect_summed(d, mark, name, pids[name], pat, n)
        self.settle_fds(d, base, 'every refused fd closed')

    def test_sender_without_credentials(self):
        # a sender in an outer pid namespace has no pid in daemonproxy's
        unshare = shutil.which('unshare')
        if not unshare or os.geteuid() != 0:
            self.skipTest('needs root and unshare(1)')
        if subprocess.run([unshare, '--pid', '--fork', '--kill-child', 'true'],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode != 0:
            self.skipTest('unshare --pid --fork not available')
        env = {k: v for k, v in os.environ.items() if not k.startswith(('NOTIFY_', 'LISTEN_'))}
        d = self.d = self.start(prefix=[unshare, '--pid', '--fork', '--kill-child'], env=env)
        self.agent(d, 's', opts=['notify'])
        _, st, _ = self.up(d, 's')
        addr = st['env']['NOTIFY_SOCKET']
        mark = self.log_mark(d)
        for i in range(9):
            send_dgram(addr, b'READY=1\nSTATUS=outsider')
        self.marker(d, 's')
        pat = re.compile(r'^warning: service s: notification without the sender\'s '
                         r'credentials refused$')
        self.expect_summed(d, mark, 's', 0, pat, 9)
        self.assertEqual([l for l in d.reader.seen if 'outsider' in l], [])


class Barrier(TrustBase):

    def service(self):
        """A daemon with agent s up (with an fd store, so that fds are not
        refused for lack of one); its fd count once warm."""
        d = self.daemon()
        self.agent(d, 's', opts=['notify', 'fdstore=2'])
        self.up(d, 's')
        return d, self.warm(d, 's')

    def test_barrier_answered_silently(self):
        d, base = self.service()
        mark = self.log_mark(d)
        for _ in range(3):
            r = self.tell('s', 'barrier', msg='BARRIER=1', nfds=1, timeout=TIMEOUT)
            self.assertEqual(r.get('eof'), [True], 'the barrier fd was closed: %r' % r)
        self.marker(d, 's')      # the next event: there was none before it
        self.assertEqual(self.warnings_since(d, mark), [])
        self.assertEqual([l for l in d.reader.seen if 'BARRIER' in l], [])
        self.settle_fds(d, base, 'barrier fds closed')

    def test_malformed_barrier_dropped_with_a_warning(self):
        d, base = self.service()
        mark = self.log_mark(d)
        # systemd: "Extra notification messages sent with BARRIER=1,
        # ignoring everything" / "incorrect number of fds": the message is
        # dropped, its fds closed (so a waiting sender still wakes up)
        for msg, nfds in (('BARRIER=1\nREADY=1\nSTATUS=with-barrier', 1),
                          ('FDSTORE=1\nFDNAME=b\nBARRIER=1', 1),
                          ('BARRIER=1', 2), ('BARRIER=1', 0)):
            r = self.tell('s', 'barrier', msg=msg, nfds=nfds, timeout=TIMEOUT)
            self.assertEqual(r.get('eof'), [True] * nfds, '%r: %r' % (msg, r))
        self.marker(d, 's')
        self.assertEqual(len(self.warnings_since(d, mark)), 4, self.warnings_since(d, mark))
        for w in self.warnings_since(d, mark):
            self.assertIn('refused: BARRIER=1 with', w)
        self.assertEqual([l for l in d.reader.seen
                          if 'with-barrier' in l or l.endswith('\tstored by s')], [])
        st = notify_lines(self.dump(d), 's')
        self.assertEqual([l.split('\t')[4] for l in st], ['-'], 'READY=1 was dropped too')
        self.settle_fds(d, base, 'fds of dropped barriers closed')

    def test_systemd_notify(self):
        tool = shutil.which('systemd-notify')
        if not tool:
            self.skipTest('systemd-notify not installed')
        d = self.daemon()
        rc = self.path('rc')
        self.no_errors(d.cmd('service.args\tsn\tsh\t-c\t%s --ready --status=hello; echo $? > %s; '
                             'exec sleep 1000' % (tool, rc),
                             'service.opts\tsn\tnotify'))
        mark = self.log_mark(d)
        d.send('service.start\tsn')
        self.expect_state(d, 'sn', 'up')
        f = self.expect_notify(d, 'sn')
        self.assertEqual(f[4:], ['READY=1', 'STATUS=hello'])
        self.assertEqual(self.wait_text(rc, lambda t: t.endswith('\n')).strip(), '0',
                         'its barrier was answered')
        self.assertEqual(d.cmd1('echo\tdone'), 'done')
        self.assertEqual(notify_lines(d.reader.seen, 'sn'), ['\t'.join(f)], 'one event only')
        self.assertEqual(self.warnings_since(d, mark), [])


class FdsLost(TrustBase):

    def test_out_of_fds_says_so(self):
        if not shutil.which('prlimit'):
            self.skipTest('prlimit not installed')
        if VALGRIND_DIR:
            self.skipTest('valgrind keeps fds of its own below the limit, and the kernel '
                          'installs received ones above what valgrind lets through')
        env = {k: v for k, v in os.environ.items() if not k.startswith(('NOTIFY_', 'LISTEN_'))}
        d = self.d = self.start(prefix=['prlimit', '--nofile=100:100'], env=env)
        self.agent(d, 's', opts=['notify', 'fdstore=8'])
        self.up(d, 's')
        base = self.warm(d, 's')
        # use up daemonproxy's fds
        out = d.cmd(*['fd.pipe\tr%d\tw%d' % (i, i) for i in range(60)])
        made = [i for i in range(60) if 'fd.state\tr%d\tpipe\tfrom\tw%d' % (i, i) in out]
        self.assertLess(len(made), 60, 'some fd.pipe must fail')
        mark = self.log_mark(d)
        self.send_notify('s', 'FDSTORE=1\nFDNAME=many\nSTATUS=fds', fds=[['dup', 20]])
        self.expect_warnings(d, mark, 1, 'fds that could not be received')
        w = self.warnings_since(d, mark)
        self.assertEqual(len(w), 1, w)
        self.assertRegex(w[0], r'^warning: service s: notification from pid \d+ refused: its fds '
                         r'could not all be received: Too many open files '
                         r"\(daemonproxy's RLIMIT_NOFILE is \d+\)$")
        # refused whole, as systemd does: nothing stored, no event
        d.cmd(*['fd.delete\tr%d' % i for i in made] + ['fd.delete\tw%d' % i for i in made])
        self.marker(d, 's')
        self.assertEqual([l for l in d.reader.seen if 's..many' in l or 'STATUS=fds' in l], [])
        self.settle_fds(d, base, 'every received fd closed')


class MainPid(TrustBase):

    def test_mainpid_of_others_refused(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify'])
        self.agent(d, 't', opts=['notify'])
        spid, st, _ = self.up(d, 's')
        tpid, _, _ = self.up(d, 't')
        addr = st['env']['NOTIFY_SOCKET']
        gone = subprocess.Popen(['true'])
        gone.wait()
        cases = [('another-service', tpid), ('pid-1', 1), ('daemonproxy', d.pid),
                 ('gone', gone.pid), ('not-a-number', 'x12'), ('zero', 0), ('negative', -5)]
        nobody, npid = self.nobody(addr)
        if nobody:
            cases.append(('uid-65534', npid))
        else:
            print('MAINPID of another uid not tried: %s' % npid)
        # each from the main process of a service of its own (one sender
        # gets 5 lines an interval), and from s, whose processes they then try
        for i, (what, v) in enumerate(cases):
            name = 'm%d' % i
            self.agent(d, name, opts=['notify'])
            pid, _, _ = self.up(d, name)
            for who in (name, 's'):
                mark = self.log_mark(d)
                f = self.notified(d, who, 'MAINPID=%s\nSTATUS=%s' % (v, what), ['STATUS=' + what])
                self.expect_warnings(d, mark, 1, 'MAINPID of ' + what)
                w = self.warnings_since(d, mark)
                self.assertEqual(len(w), 1, w)
                self.assertRegex(w[0], r'^warning: service %s: MAINPID=%s from pid %d refused: '
                                 % (who, re.escape(str(v)), self.pids[who]))
                self.assertEqual(notify_lines(self.dump(d), who),
                                 ['\t'.join(['service.notify', who, f[2], str(self.pids[who]),
                                             '-', 'STATUS=' + what])], 'no MAINPID in statedump')
            if i == 3:
                self.kill_svc(d, 's')   # s has had its 5 lines: a new run, a new sender
                spid, st, _ = self.up(d, 's')
                self.assertEqual(st['env']['NOTIFY_SOCKET'], addr)
        # from a descendant of the service too
        mark = self.log_mark(d)
        r = self.tell('s', 'fork-notify', msg='MAINPID=%d\nSTATUS=from-child' % tpid)
        f = self.expect_notify(d, 's')
        self.assertEqual(f[3:], [str(r['sender']), 'STATUS=from-child'])
        self.expect_warnings(d, mark, 1, 'MAINPID from a descendant')
        # the wrongly named processes are no more the service's than before
        mark = self.log_mark(d)
        self.send_notify('t', 'READY=1\nSTATUS=t-as-s', addr=addr)
        n = 1
        if nobody:
            nobody.stdin.write(b'READY=1\\nSTATUS=nobody-as-s\n')
            nobody.stdin.flush()
            self.assertEqual(nobody.stdout.readline(), b'sent\n')
            n += 1
        self.assert_refused(d, 's', mark, n, 'messages of the wrongly named pids')
        self.assertEqual([l for l in d.reader.seen if '-as-s' in l], [])

    def test_own_child_accepted(self):
        d = self.daemon()
        self.agent(d, 's', opts=['notify'])
        spid, _, _ = self.up(d, 's')
        r = self.tell('s', 'fork-notify', msg='STATUS=child-here')
        child = r['sender']
        self.assertEqual(self.expect_notify(d, 's')[3:], [str(child), 'STATUS=child-here'])
        f = self.notified(d, 's', 'MAINPID=%d' % child)
        mark = self.log_mark(d)
        self.assertEqual(notify_lines(self.dump(d), 's'),
                         ['\t'.join(['service.notify', 's', f[2], str(spid), '-',
                                     'STATUS=child-here', 'MAINPID=%d' % child])])
        self.assertEqual(self.warnings_since(d, mark), [])


if __name__ == '__main__':
    import unittest
    unittest.main(argv=[sys.argv[0]])
