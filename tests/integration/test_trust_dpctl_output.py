"""dpctl against sockets that are not daemonproxy's (issue 18, point 9;
docs/dpctl.1 DIAGNOSTICS).

Fake servers (test_trust_dpctl.FAKE_SERVER, run as our own uid so that the
peer check lets dpctl talk to them) that send an endless line, endless
short lines, services invented without end, binary bytes, an HTTP error,
a banner of their own protocol, nothing at all, or a greeting and a close.
For each, several dpctl commands run at once, each measured by wait4();
watch among them, which waits for an echo reply first as every command
does, so that it too ends by the reply bound and says what it found,
instead of waiting for ever on a socket that never speaks first:

- the exit code and the one message that says what dpctl found: "PATH is
  not daemonproxy: it sent a line over 8192 bytes" or "a control byte 0xNN"
  (exit 5), "no reply from daemonproxy within 5s: PATH accepted the
  connection but sent nothing" or "sent N bytes but not the answer" (exit
  4), "connection to daemonproxy lost (...); it never answered" (exit 6),
  "describes more services than dpctl can keep" (exit 1), each with the
  first bytes the peer sent (escaped) and who serves the socket (uid, pid,
  process name);
- the deadline: every run ends within a generous bound derived from its
  timeout, while data keeps coming;
- memory: the child's peak RSS stays under MAX_RSS_KB (no buffer grows
  with what the peer sends).  (A child's ru_maxrss starts from its
  parent's peak at exec: this process keeps small, and checks it.)

A line exactly as long as daemonproxy's longest is still accepted.
"""

import json
import os
import re
import resource
import subprocess
import tempfile
import time
import unittest

import dp
from test_trust_dpctl import DPCTL, FakeServer

USAGE_CODE, FAIL, TIMEDOUT, NOCONN, LOST = 2, 1, 4, 5, 6
REPLY_S = 5                 # dpctl's bound for a reply: -t, at least 5 s
BOUND_S = REPLY_S + 40      # a deadline, not a benchmark


def asan_build(path):
    with open(path, 'rb') as f:
        return b'__asan_init' in f.read()


# The peak RSS a dpctl may reach, whatever the peer sends: its fixed
# buffers and the model's budget (32 MiB), well below what an unbounded
# buffer reaches in a few seconds (hundreds of MB).  Sanitizers add their
# own shadow memory.
MAX_RSS_KB = (200 if dp.VALGRIND_DIR or asan_build(DPCTL) else 50) * 1024


class Measured:
    def __init__(self, args, rc, out, err, maxrss_kb, secs):
        self.args, self.rc, self.out, self.err = args, rc, out, err
        self.maxrss_kb, self.secs = maxrss_kb, secs

    def __repr__(self):
        return ('dpctl %r: exit %r, %d KB, %.1fs, stdout %r, stderr %r'
                % (self.args, self.rc, self.maxrss_kb, self.secs, self.out[-300:],
                   self.err[-600:]))


class NotDaemonproxy(dp.DPTest):
    def setUp(self):
        super().setUp()
        if not os.access(DPCTL, os.X_OK):
            self.fail('dpctl binary %s does not exist' % DPCTL)
        self.sock = self.path('fake.sock')

    def serve(self, mode):
        self.srv = FakeServer(self, mode, [self.sock])
        self.who = 'the socket is served by uid %d (pid %d, "%s")' % (
            os.geteuid(), self.srv.pid, self.srv.comm())
        return self.srv

    def run_all(self, runs):
        """Run each (args, show) at once, show False sending stdout to
        /dev/null; wait for all with wait4() by the bound.  Returns
        Measured results in order."""
        env = {k: v for k, v in os.environ.items()
               if k not in ('DAEMONPROXY_SOCKET', 'DAEMONPROXY_TRUST_UID')}
        if asan_build(DPCTL):
            # ASan keeps freed memory in a quarantine (256 MB): a dpctl that
            # allocates and frees per line would look like one that grows
            env['ASAN_OPTIONS'] = env.get('ASAN_OPTIONS', '') + ':quarantine_size_mb=1'
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.assertLess(own, MAX_RSS_KB * 4 // 5, 'this process is too big to measure a child')
        started = []
        for args, show in runs:
            out = tempfile.TemporaryFile()
            err = tempfile.TemporaryFile()
            p = subprocess.Popen([DPCTL, '-S', self.sock] + args, env=env,
                                 stdin=subprocess.DEVNULL,
                                 stdout=out if show else subprocess.DEVNULL, stderr=err)
            started.append((args, p, out, err, time.monotonic()))
        deadline = time.monotonic() + BOUND_S
        results = []
        for args, p, out, err, t0 in started:
            while True:
                pid, status, ru = os.wait4(p.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    p.kill()
                    os.wait4(p.pid, 0)
                    p.returncode = -9
                    self.fail('dpctl %r did not end within %ds' % (args, BOUND_S))
                time.sleep(0.02)
            p.returncode = os.waitstatus_to_exitcode(status)
            secs = time.monotonic() - t0
            texts = []
            for f in (out, err):
                f.seek(0)
                texts.append(f.read(1 << 20).decode('latin-1'))
                f.close()
            results.append(Measured(args, p.returncode, texts[0], texts[1], ru.ru_maxrss, secs))
        for r in results:
            self.assertLess(r.maxrss_kb, MAX_RSS_KB, r)
        return results

    def expect(self, runs, rc, err, out=''):
        """Every run ends with rc and stderr err (a str, or a regex)."""
        for r in self.run_all(runs):
            with self.subTest(args=r.args):
                self.assertEqual(r.rc, rc, r)
                if isinstance(err, re.Pattern):
                    self.assertRegex(r.err, err, r)
                else:
                    self.assertEqual(r.err, err, r)
                self.assertEqual(r.out, out, r)

    # the commands, each of which waits for a reply first (-t 1: for 5 s)
    REQUESTS = [(['-t', '1'] + a, True) for a in (
        ['status'], ['status', '--json'], ['send', 'echo', 'x'], ['dump'], ['wait', 'web', 'up'],
        ['start', 'web'], ['stop', 'web'], ['signal', 'HUP', 'web'], ['reexec'])]

    def requests(self, but=(), quiet=('send', 'dump')):
        """REQUESTS without the commands in but; those in quiet print to
        /dev/null (send and dump print every line before the reply)."""
        return [(a, a[2] not in quiet) for a, show in self.REQUESTS if a[2] not in but]

    # watch for -t, human and raw; each waits for its echo reply first, as
    # the commands above do (-t 1: for 5 s)
    WATCHES = [(['-t', '1', 'watch'], True), (['-t', '1', 'watch', '--raw'], True),
               (['-t', '0', 'watch', '--raw'], True)]
    # and until interrupted: its reply bound is the default -t, 10 s
    UNBOUNDED = [(['watch'], True), (['watch', '--raw'], True)]

    def test_endless_line(self):
        self.serve('endless')
        self.expect(self.REQUESTS + self.WATCHES + self.UNBOUNDED, NOCONN,
                    'dpctl: %s is not daemonproxy: it sent a line over 8192 bytes (its first '
                    'bytes: "%s"...); %s\n' % (self.sock, 'x' * 64, self.who))

    def test_endless_short_lines(self):
        """The marker never comes while lines keep coming: the reply bound
        still ends each wait, watch's too (it prints them all, to /dev/null
        here, meanwhile)."""
        self.serve('short')
        first = r'service\.state\\tweb\\tup\\t1\\t4242\\t-\\t-\\t5\\t-\\nservice'
        self.expect(self.requests() + [(a, False) for a, show in self.WATCHES], TIMEDOUT,
                    re.compile(
            r'^dpctl: no reply from daemonproxy within 5s: %s sent \d+ bytes but not the answer'
            r' \(its first bytes: "%s[^"]*"\.\.\.\); %s\n$'
            % (re.escape(self.sock), first, re.escape(self.who))))

    def test_services_invented_without_end(self):
        self.serve('invent')
        # (-t 30: the budget, not the reply bound, must end them)
        self.expect([(['-t', '30'] + a[2:], show) for a, show in
                     self.requests(but=['send', 'dump', 'signal', 'reexec'])], FAIL,
                    'dpctl: %s describes more services than dpctl can keep (over 32 MiB '
                    'of them); \'dpctl dump\' lists them all\n' % self.sock)
        # dump keeps no model: it prints them until the reply bound
        (r,) = self.run_all([(['-t', '1', 'dump'], False)])
        self.assertEqual(r.rc, TIMEDOUT, r)
        self.assertIn('no reply from daemonproxy within 5s', r.err)

    def test_binary(self):
        self.serve('binary')
        self.expect(self.REQUESTS + self.WATCHES + self.UNBOUNDED, NOCONN, re.compile(
            r'^dpctl: %s is not daemonproxy: it sent a control byte 0x00 \(its first bytes: '
            r'"\\x00\\x01\\x02[^"]*"\.\.\.\); %s\n$' % (re.escape(self.sock), re.escape(self.who))))

    def test_http(self):
        """An HTTP server waits for a request: watch's echo is one, and
        the answer shows what is there."""
        self.serve('http')
        self.expect(self.REQUESTS + self.WATCHES + self.UNBOUNDED, NOCONN,
                    'dpctl: %s is not daemonproxy: it sent a control byte 0x0d (its first '
                    'bytes: "HTTP/1.0 400 Bad Request\\r\\nContent-Type: text/plain\\r\\n\\r\\n"); '
                    '%s\n' % (self.sock, self.who))

    def test_banner(self):
        self.serve('banner')
        err = ('dpctl: no reply from daemonproxy within 5s: %s sent 30 bytes but not the '
               'answer (its first bytes: "* OK notdaemonproxy 1.0 ready\\n"); %s\n'
               % (self.sock, self.who))
        self.expect(self.requests(), TIMEDOUT, err)
        # watch shows the line as an event before it gives up
        for r in self.run_all(self.WATCHES):
            with self.subTest(args=r.args):
                self.assertEqual((r.rc, r.err), (TIMEDOUT, err), r)
                if '--raw' in r.args:
                    self.assertEqual(r.out, '* OK notdaemonproxy 1.0 ready\n', r)
                else:
                    self.assertRegex(r.out, r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +\* OK '
                                     r'notdaemonproxy 1\.0 ready\n$', r)

    def test_silence(self):
        self.serve('silent')
        said = ('dpctl: no reply from daemonproxy within %ss: ' + self.sock +
                ' accepted the connection but sent nothing; ' + self.who + '\n')
        self.expect(self.requests() + self.WATCHES, TIMEDOUT, said % 5)
        self.expect(self.UNBOUNDED, TIMEDOUT, said % 10)

    def test_greeting_and_close(self):
        self.serve('close')
        lost = re.compile(
            r'^dpctl: connection to daemonproxy lost \(%s: (read|write): [^)]+\); it never '
            r'answered( \(its first bytes: "\* BYE notdaemonproxy 1\.0\\n"\))?; %s\n$'
            % (re.escape(self.sock), re.escape(self.who)))
        self.expect(self.requests(), LOST, lost)
        # watch shows the greeting if it read it before its write failed
        for r in self.run_all([(a, True) for a, show in self.WATCHES if '--raw' in a]):
            with self.subTest(args=r.args):
                self.assertEqual(r.rc, LOST, r)
                self.assertRegex(r.err, lost, r)
                self.assertIn(r.out, ('', '* BYE notdaemonproxy 1.0\n'), r)

    def test_events_before_the_reply(self):
        """A peer that answers the echo: what came before the reply is
        shown as events, and watch follows the stream after it until -t."""
        self.serve('lead')
        for r in self.run_all([(['-t', '1', 'watch', '--raw'], True),
                               (['-t', '1', 'watch'], True)]):
            with self.subTest(args=r.args):
                self.assertEqual((r.rc, r.err), (0, ''), r)
                if '--raw' in r.args:
                    self.assertEqual(r.out, 'signal\tSIGHUP\t5\t1\nservice.tags\tweb\tbefore\n'
                                     'service.tags\tweb\tafter\n', r)
                else:
                    self.assertEqual([l.split('  ', 1)[1] for l in r.out.splitlines()],
                                     ['signal SIGHUP (pending 1)', 'web: tags before',
                                      'web: tags after'], r)

    def test_longest_line_is_accepted(self):
        self.serve('longest')
        (r,) = self.run_all([(['status', '--json'], True)])
        self.assertEqual((r.rc, r.err), (0, ''), r)
        (svc,) = json.loads(r.out)
        self.assertEqual(svc['status'], 'y' * (8191 - len('service.notify\tevil\t1\t4242\t'
                                                          'STATUS=')))


if __name__ == '__main__':
    unittest.main()
