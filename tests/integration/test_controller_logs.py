"""dpcontroller's paired dplog against the real daemon and the real dplog
(issue 21, spec section 5): ``log = true`` writes the service's lines,
timestamped, into DIR/current and tags the service and its logger with
log_dir=DIR; restarts of the service and of the logger lose no line;
container mode prints ``NAME: line`` on daemonproxy's stdout; a
``[service.NAME.log]`` table with max_size rotates (and keep prunes).

dplog is found as daemonproxy finds any program: in its PATH, here the
directory of the dplog under test (dp.dplog_binary()).  Progress is
awaited in the files, never by sleeping."""

import os
import re
import signal
import subprocess
import sys
import unittest

from dp import TIMEOUT, dplog_binary, wait_for
from test_controller import HAVE_311, PYDIR, ControllerTest, conf_for

import daemonproxy as dpl                                      # noqa: E402

# SEP: ' ', or '+' for a piece of a line continued in the next record
RFC3339 = re.compile(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z[ +]')

# Writes TOTAL numbered lines ("line SEQ PAD") to stdout, recording each
# SEQ in DIR/written after it wrote it; SIGTERM is blocked across the
# pair, so a restarted writer continues exactly after the last line it
# wrote: every SEQ reaches the pipe once.
WRITER = r'''
import os, signal, sys, time
d, total, pace, pad = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
rec = os.path.join(d, 'written')
last = -1
try:
    with open(rec) as f:
        for line in f:
            if line.endswith('\n'):
                last = int(line)
except FileNotFoundError:
    pass
rfd = os.open(rec, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
with open(os.path.join(d, 'writers'), 'a') as f:
    f.write('%d\n' % os.getpid())
for seq in range(last + 1, total):
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    os.write(1, b'line %06d %s\n' % (seq, b'x' * pad))
    os.write(rfd, b'%d\n' % seq)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    time.sleep(pace)
os.close(os.open(os.path.join(d, 'done'), os.O_WRONLY | os.O_CREAT, 0o600))
time.sleep(1000)
'''


def read_dir(d):
    """The records of a dplog directory, as a reader reads them (spec
    1): the rotated @*.s files in name order, then current; and the
    size of each file."""
    names = sorted(n for n in os.listdir(d) if n.startswith('@') and n.endswith('.s'))
    records, sizes = [], {}
    for n in names + ['current']:
        try:
            with open(os.path.join(d, n), 'rb') as f:
                data = f.read()
        except FileNotFoundError:
            continue
        sizes[n] = len(data)
        records += data.decode().splitlines()
    return records, sizes


def texts(records):
    """The text of each timestamped record (asserting the timestamp)."""
    out = []
    for r in records:
        m = RFC3339.match(r)
        assert m, 'not an RFC 3339 record: %r' % r
        out.append(r[m.end():])
    return out


@unittest.skipUnless(HAVE_311, 'the controller needs Python 3.11 (tomllib)')
class Logs(ControllerTest):
    def boot_dplog(self, toml):
        """boot(), with the dplog under test in daemonproxy's PATH."""
        dplog = dplog_binary()
        self.assertTrue(os.access(dplog, os.X_OK), 'no dplog at %s ($DPLOG or beside the '
                        'daemonproxy under test)' % dplog)
        self.toml = self.write_file('services.toml', toml)
        sock = self.path('dp.sock')
        conf = self.write_file('ctl.conf', conf_for(sock, self.toml))
        env = dict(os.environ, PYTHONPATH=PYDIR,
                   PATH=os.path.dirname(os.path.abspath(dplog)) + ':' + os.environ['PATH'])
        self.d = self.start('-c', conf, interactive=False, stdin=subprocess.DEVNULL, env=env)
        self.c = dpl.Client.connect(sock, connect_timeout=TIMEOUT)
        self.on_cleanup(self.end_services)
        self.events = []

    def writer(self, name, total, pace=0.0, pad=0, log='log = true'):
        prog = self.write_file('writer.py', WRITER)
        return ('[service.%s]\nrun = ["%s", "%s", "%s", "%d", "%s", "%d"]\n%s\n'
                % (name, sys.executable, prog, self.tmp, total, pace, pad, log))

    def lines_in(self, d, n):
        """Wait until d holds n records; return their texts."""
        got = []

        def enough():
            got[:] = read_dir(d)[0] if os.path.exists(os.path.join(d, 'current')) else []
            return len(got) >= n
        wait_for(enough, timeout=TIMEOUT * 3, msg='%d records in %s' % (n, d))
        return texts(got)

    def pid_of(self, name, other_than=None):
        """name's pid once it runs (a run other than other_than's)."""
        def runs(m):
            s = m.service(name)
            return s is not None and s.running and s.pid != other_than
        self.c.wait_until(runs, timeout=TIMEOUT * 2)
        return self.c.mirror.service(name).pid

    def test_log_true_writes_timestamped_lines_and_tags_log_dir(self):
        logs = self.path('logs')
        self.boot_dplog('[controller]\nlog_dir = "%s"\n'
                        '[service.hello]\nrun = ["sh", "-c", "echo out; echo err >&2; '
                        'printf \'no newline\'; exec sleep 1000"]\nlog = true\n' % logs)
        d = os.path.join(logs, 'hello')
        self.assertEqual(self.lines_in(d, 2), ['out', 'err'])
        for name in ('hello', 'hello.log'):
            self.wait_up(name)
            self.assertIn('log_dir=' + d, self.c.mirror.service(name).tags, name)
        # the held partial line is written when the logger is told to stop
        os.kill(self.pid_of('hello.log'), signal.SIGTERM)
        self.assertEqual(self.lines_in(d, 3)[2], 'no newline')

    def test_restarts_of_service_and_logger_lose_no_line(self):
        total = 3000
        d = self.path('w-logs')
        self.boot_dplog(self.writer('w', total, 0.001,
                                    log='[service.w.log]\ndir = "%s"\nkeep = "all"' % d))
        self.lines_in(d, 300)
        logger = self.pid_of('w.log')
        os.kill(logger, signal.SIGTERM)
        self.pid_of('w.log', other_than=logger)          # restarted by the controller
        self.lines_in(d, 1000)
        writer = self.pid_of('w')
        os.kill(writer, signal.SIGTERM)
        self.pid_of('w', other_than=writer)
        wait_for(lambda: os.path.exists(self.path('done')), timeout=TIMEOUT * 6,
                 msg='the writer wrote all its lines')
        got = self.lines_in(d, total)
        self.assertEqual(len(self.read_lines('writers')), 2, 'the writer ran twice')
        want = ['line %06d ' % i for i in range(total)]
        self.assertEqual(len(got), total, 'no line lost or duplicated')
        self.assertEqual(got, want, 'every line once, in order')

    def test_reload_with_a_new_max_size_restarts_the_logger_only(self):
        total = 2000
        d = self.path('m-logs')
        log = '[service.m.log]\ndir = "%s"\nkeep = "all"' % d
        self.boot_dplog(self.writer('m', total, 0.001, log=log))
        self.lines_in(d, 200)
        writer, logger = self.pid_of('m'), self.pid_of('m.log')
        self.write_file('services.toml', self.writer('m', total, 0.001,
                                                     log=log + '\nmax_size = "8k"'))
        os.kill(self.d.pid, signal.SIGHUP)              # dpctl reload's way, by signal
        self.pid_of('m.log', other_than=logger)
        wait_for(lambda: os.path.exists(self.path('done')), timeout=TIMEOUT * 6,
                 msg='the writer wrote all its lines')
        got = self.lines_in(d, total)
        self.assertEqual(self.pid_of('m'), writer, 'the service was not restarted')
        self.assertEqual(self.read_lines('writers'), [str(writer)])
        self.assertEqual(got, ['line %06d ' % i for i in range(total)])
        # the first rotated file is what the first logger wrote (1 MiB
        # files): the new one rotated it, then kept its own within 8 KiB
        rotated = sorted(n for n in os.listdir(d) if n.endswith('.s'))
        self.assertGreater(len(rotated), 1, 'the new logger rotates at 8 KiB')
        self.assertTrue(all(os.path.getsize(os.path.join(d, n)) <= 8192 for n in rotated[1:]))

    def test_shutdown_loses_no_line_left_in_the_pipe(self):
        """The service's last words, written as it stops, may still be in
        the pipe when its logger is stopped (here surely: the logger is
        SIGSTOPped meanwhile): dplog reads them all before it exits."""
        n = 2000                                        # 22 KB: within the pipe's 64 KiB
        d = self.path('s-logs')
        last_words = ('import signal, sys, time\n'
                      'def bye(*a):\n'
                      '    sys.stdout.write("".join("last %%05d\\n" %% i for i in range(%d)))\n'
                      '    sys.stdout.flush()\n'
                      '    sys.exit(0)\n'
                      'signal.signal(signal.SIGTERM, bye)\n'
                      'print("up", flush=True)\n'
                      'time.sleep(1000)\n' % n)
        prog = self.write_file('last_words.py', last_words)
        self.boot_dplog('[service.s]\nrun = ["%s", "%s"]\n[service.s.log]\ndir = "%s"\n'
                        % (sys.executable, prog, d))
        self.assertEqual(self.lines_in(d, 1), ['up'])
        logger = self.pid_of('s.log')
        os.kill(logger, signal.SIGSTOP)
        try:
            os.kill(self.d.pid, signal.SIGTERM)
            self.expect_log('s.log: stopping (shutdown)')
        finally:
            os.kill(logger, signal.SIGCONT)
        self.assertEqual(self.d.wait(TIMEOUT * 2), 0)
        # daemonproxy is gone: the files are final
        got = texts(read_dir(d)[0])
        self.assertEqual(len(got), n + 1, 'lost in the pipe at the shutdown')
        self.assertEqual(got, ['up'] + ['last %05d' % i for i in range(n)])

    def read_lines(self, name):
        with open(self.path(name)) as f:
            return f.read().splitlines()

    def test_container_mode_prefixes_lines_on_stdout(self):
        self.boot_dplog('[controller]\nmain = "app"\n'
                        '[service.app]\nrun = ["sleep", "1000"]\n'
                        '[service.side]\nrun = ["sh", "-c", "echo hello; echo oops >&2; '
                        'exec sleep 1000"]\nlog = true\n')
        got = []
        while len(got) < 2:
            line = self.d.reader.readline(timeout=TIMEOUT * 2)
            if line.startswith('side'):
                got.append(line)
        self.assertEqual(got, ['side: hello', 'side: oops'])
        self.wait_up('side.log')
        self.assertFalse([t for t in self.c.mirror.service('side').tags
                          if t.startswith('log_dir=')], 'no files, no log_dir tag')

    def test_max_size_rotates_and_keep_prunes(self):
        total, size = 400, 4096
        d = self.path('r-logs')
        self.boot_dplog(self.writer('r', total, 0.0, 40, log='[service.r.log]\ndir = "%s"\n'
                                    'max_size = %d\nkeep = 2' % (d, size)))
        wait_for(lambda: os.path.exists(self.path('done')), timeout=TIMEOUT * 3,
                 msg='the writer wrote all its lines')
        last = 'line %06d ' % (total - 1) + 'x' * 40

        def settled():
            records, sizes = read_dir(d)
            return records and texts(records)[-1] == last and len(sizes) == 3
        wait_for(settled, timeout=TIMEOUT * 2, msg='the last line in current, 2 rotated files')
        records, sizes = read_dir(d)
        self.assertTrue(all(n <= size for n in sizes.values()), sizes)
        seqs = [int(t.split()[1]) for t in texts(records)]
        # 400 lines of 78 bytes are ~31 KiB: the oldest files are pruned,
        # what is kept is the end of the stream, in order, once each
        self.assertEqual(seqs, list(range(seqs[0], total)))
        self.assertGreater(seqs[0], 0)
        self.pid_of('r')
        self.assertIn('log_dir=' + d, self.c.mirror.service('r').tags)


if __name__ == '__main__':
    unittest.main()
