"""dplog (issue 21): 1,000,000 numbered lines go from a service through a
pipe daemonproxy holds into `dplog -s 1M -n all DIR`, while the writer,
the logger, or both are killed and restarted (by auto-up) every 100,000
lines and the files rotate: read back by the rules of dplog(1), "Reading a
log directory" (rotated files in name order, then current; '+' records
continued by the next), every number is there exactly once, in order, and
no file is over 1 MiB.

The writer batches 40 lines of 100 bytes into one write(2) of 4000 bytes,
atomic on a pipe (<= PIPE_BUF), and records in a counter file how many lines
it has written after each complete write; restarted, it resumes from there.
A SIGTERM ends it after the batch it is writing.  It never gets more than
half a round ahead of the test (it reads a gate file, the last line it may
write, before each batch): so every kill finds data flowing, and all nine
rounds come before the last line, however the box schedules the two.  A SIGKILL at a random
instant could fall between a write and its counter update (the restarted
writer would then write that batch again: the writer's duplicate, not
dplog's), so the SIGKILLs here hit the writer where the counter is exact:
blocked in a write on a full pipe (the logger stopped with SIGSTOP), when
nothing of the batch is in the pipe, or waiting at the test's gate.

The logger is stopped with SIGTERM, as a supervisor does: it must write
everything it has read and exit 0; what it has not read stays in the pipe
for the next dplog.

DPLOG_MILLION_LINES sets the count (default 1000000; the kills come at
every tenth of it).
"""

import os
import re
import signal
import sys

from dp import TIMEOUT, Timeout, dplog_binary, wait_for
from svc_util import SvcTest

LINES = int(os.environ.get('DPLOG_MILLION_LINES', '1000000'))
MAX_SIZE = 1048576
LINE_BYTES = 100
FILL = b'x' * (LINE_BYTES - 9)      # "%07d " + FILL + "\n" = 100 bytes
# The rounds, one every LINES/10 lines: which service gets which signal.
ROUNDS = [('logger', 'SIGTERM'), ('writer', 'SIGTERM'), ('both', 'SIGTERM'),
          ('logger', 'SIGTERM'), ('writer', 'SIGKILL'), ('both', 'SIGTERM'),
          ('logger', 'SIGTERM'), ('writer', 'SIGTERM'), ('both', 'SIGKILL')]
# Progress per round on a loaded 2-core box, under ASan, with a restart
# waiting for auto-up's MIN_INTERVAL of 1 s.
ROUND_TIMEOUT = max(TIMEOUT, 60)

WRITER = r'''
import os, signal, sys, time
counter, gate, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
FILL = b'x' * %d
PER_WRITE = 4096 // %d          # whole lines, <= PIPE_BUF: one atomic write
stop = []
signal.signal(signal.SIGTERM, lambda s, f: stop.append(s))
cfd = os.open(counter, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
gfd = os.open(gate, os.O_RDONLY | os.O_CLOEXEC)
n = int(os.pread(cfd, 32, 0) or b'0')
while not stop and n < total:
    limit = min(total, int(os.pread(gfd, 32, 0)))
    if n >= limit:              # the test has not caught up yet
        time.sleep(0.002)
        continue
    k = min(PER_WRITE, limit - n)
    batch = b''.join(b'%%07d %%s\n' %% (i, FILL) for i in range(n, n + k))
    # a SIGTERM meanwhile: the handler runs and the write goes on (PEP 475)
    if os.write(1, batch) != len(batch):
        sys.exit('writer: short write on the pipe')
    n += k
    os.pwrite(cfd, b'%%07d\n' %% n, 0)
while not stop:                 # all written: wait for the supervisor
    time.sleep(0.05)
''' % (len(FILL), LINE_BYTES)

NAME_RE = re.compile(r'@[0-9a-f]{24}\.s\Z')
STAMP_RE = re.compile(rb'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z')


def line(n):
    return b'%07d %s' % (n, FILL)


def read_dir(d):
    """[(name, bytes)] of DIR by the reader rules: the rotated files in
    name order (not the one that is current's inode), then current."""
    with open(os.path.join(d, 'current'), 'rb') as cur:
        st = os.fstat(cur.fileno())
        seen = {(st.st_dev, st.st_ino)}
        out = []
        for name in sorted(n for n in os.listdir(d) if NAME_RE.match(n)):
            try:
                f = open(os.path.join(d, name), 'rb')
            except FileNotFoundError:
                continue
            with f:
                fst = os.fstat(f.fileno())
                if (fst.st_dev, fst.st_ino) in seen:
                    continue
                seen.add((fst.st_dev, fst.st_ino))
                out.append((name, f.read()))
        out.append(('current', cur.read()))
    return out


def proc_wchan(pid):
    try:
        with open('/proc/%d/wchan' % pid) as f:
            return f.read()
    except OSError:
        return ''


class Million(SvcTest):
    def setUp(self):
        super().setUp()
        self.dplog = dplog_binary()
        self.assertTrue(os.access(self.dplog, os.X_OK), 'no dplog at %s' % self.dplog)
        self.counter = self.path('counter')
        self.gate = self.path('gate')
        self.logdir = self.path('log')
        self.pids = {}

    # --- the files the writer and the test share --------------------------
    def written(self):
        try:
            with open(self.counter, 'rb') as f:
                return int(f.read() or b'0')
        except (FileNotFoundError, ValueError):
            return 0

    def open_gate(self, limit):
        # fixed width, written in place: the writer preads it every batch
        fd = os.open(self.gate, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.pwrite(fd, b'%07d\n' % min(limit, LINES), 0)
        finally:
            os.close(fd)

    def context(self):
        return '; dplog stderr: %r; writer stderr: %r; daemonproxy log tail: %r' % (
            (self.read_text('dplog.err') or '')[-1500:],
            (self.read_text('writer.err') or '')[-1500:],
            self.d.log.text()[-1500:])

    # --- services ---------------------------------------------------------
    def send(self, *cmds):
        """Commands without an echo marker: a cmd() would swallow the
        events that come before its marker."""
        self.d.send(*cmds)

    def state(self, name, state):
        """The fields of the next `service.state NAME STATE` event, in the
        order they came for NAME (other lines wait in self.backlog)."""
        prefix = 'service.state\t%s\t%s\t' % (name, state)
        for i, l in enumerate(self.backlog):
            if l.startswith(prefix):
                del self.backlog[i]
                return l.split('\t')
        while True:
            try:
                l = self.d.readline(ROUND_TIMEOUT)
            except Timeout as e:
                raise Timeout('%s (waiting for %s %s)%s' % (e, name, state, self.context()))
            self.assertIsNotNone(l, 'daemonproxy ended%s' % self.context())
            self.assertFalse(l.startswith(('error\t', 'overflow')), l + self.context())
            if l.startswith(prefix):
                return l.split('\t')
            self.backlog.append(l)

    def wait_up(self, name):
        self.pids[name] = int(self.state(name, 'up')[4])

    def wait_down(self, name, sig):
        f = self.state(name, 'down')
        if sig == 'SIGKILL':
            self.assertEqual(f[5:7], ['signal', 'SIGKILL'], '%r%s' % (f, self.context()))
        else:
            # both handle SIGTERM: all read is written, then exit 0
            self.assertEqual(f[5:7], ['exit', '0'], '%s ended: %r%s' % (name, f, self.context()))

    def stop_writer_between_batches(self):
        """SIGSTOP the logger and wait until the writer is blocked in its
        write on the full pipe (nothing of that batch written yet) or
        waits at the gate: either way its counter is exact."""
        pid = self.pids['writer']
        os.kill(self.pids['logger'], signal.SIGSTOP)
        self.stopped = self.pids['logger']
        with open(self.gate, 'rb') as f:
            limit = int(f.read())
        wait_for(lambda: 'pipe_write' in proc_wchan(pid) or self.written() >= limit,
                 ROUND_TIMEOUT, 'the writer blocked on the full pipe or at the gate')

    def round(self, who, sig):
        victims = ['logger', 'writer'] if who == 'both' else [who]
        if sig == 'SIGKILL':
            self.stop_writer_between_batches()
            self.send('service.signal\twriter\tSIGKILL')
            self.wait_down('writer', 'SIGKILL')
            if who == 'both':       # delivered when it continues
                self.send('service.signal\tlogger\tSIGTERM')
            os.kill(self.stopped, signal.SIGCONT)
            if who == 'both':
                self.wait_down('logger', 'SIGTERM')
        else:
            self.send(*['service.signal\t%s\t%s' % (v, sig) for v in victims])
            for v in victims:
                self.wait_down(v, sig)
        for v in victims:
            self.wait_up(v)

    def test_million_lines_through_restarts(self):
        self.d = d = self.start()
        self.backlog = []
        self.write_file('writer.py', WRITER)
        step = LINES // 10
        self.open_gate(step + step // 2)
        d.cmd('fd.pipe\tlog.r\tlog.w',
              'fd.open\tdplog.err\twrite,create,append\t' + self.path('dplog.err'),
              'fd.open\twriter.err\twrite,create,append\t' + self.path('writer.err'))
        self.define(d, 'logger', [self.dplog, '-s', '1M', '-n', 'all', self.logdir],
                    fds=['log.r', 'null', 'dplog.err'])
        self.define(d, 'writer', [sys.executable, self.path('writer.py'), self.counter,
                                  self.gate, str(LINES)],
                    fds=['null', 'log.w', 'writer.err'])
        # both kept up by daemonproxy from here on
        self.send('service.auto_up\tlogger\t1\talways', 'service.auto_up\twriter\t1\talways')
        self.wait_up('logger')
        self.wait_up('writer')

        for k, (who, sig) in enumerate(ROUNDS, 1):
            wait_for(lambda: self.written() >= k * step, ROUND_TIMEOUT,
                     'line %d written (at %d)%s' % (k * step, self.written(), self.context()))
            self.round(who, sig)
            self.open_gate((k + 1) * step + step // 2)

        wait_for(lambda: self.written() == LINES, ROUND_TIMEOUT,
                 'all %d lines written (at %d)' % (LINES, self.written()))
        last = b' ' + line(LINES - 1) + b'\n'

        def logged_all():
            try:
                with open(os.path.join(self.logdir, 'current'), 'rb') as f:
                    f.seek(max(0, os.fstat(f.fileno()).st_size - len(last)))
                    return f.read() == last
            except FileNotFoundError:
                return False
        try:
            wait_for(logged_all, ROUND_TIMEOUT, 'the last line in current')
        except Timeout as e:
            raise Timeout('%s%s' % (e, self.context()))
        # the logger's last SIGTERM: it exits 0 with nothing left unwritten
        self.send('service.auto_up\tlogger\t-', 'service.signal\tlogger\tSIGTERM')
        self.wait_down('logger', 'SIGTERM')
        self.check_dir()
        self.assertEqual(self.read_text('writer.err'), '')

    # --- the directory ---------------------------------------------------------
    def check_dir(self):
        files = read_dir(self.logdir)
        for name, data in files:
            self.assertLessEqual(len(data), MAX_SIZE, name)
        # rotated in name order = written in that order: checked below by
        # the numbers following on across the files
        names = [n for n, _ in files[:-1]]
        self.assertGreaterEqual(len(names), LINES * LINE_BYTES // MAX_SIZE,
                                'rotated files (-n all keeps all): %r' % names[-3:])
        self.assertEqual(len(set(names)), len(names))
        expected, pending, where = 0, b'', None
        for name, data in files:
            self.assertTrue(data == b'' or data.endswith(b'\n'), '%s: a partial record' % name)
            for i, rec in enumerate(data.split(b'\n')[:-1]):
                stamp, sep, text = rec[:27], rec[27:28], rec[28:]
                if sep not in (b' ', b'+') or not STAMP_RE.match(stamp):
                    self.fail('%s record %d: not "RFC3339 SEP text": %r' % (name, i, rec[:80]))
                pending += text
                where = where or (name, i)
                if sep == b'+':     # continued in the next record
                    continue
                if pending != line(expected):
                    self.fail(self.mismatch(files, expected, where, pending))
                expected += 1
                pending, where = b'', None
        self.assertEqual(pending, b'', 'the last record continues')
        self.assertEqual(expected, LINES)

    def mismatch(self, files, expected, where, got):
        """Say what is wrong around the first line that is not the next
        number: which numbers are missing or doubled overall."""
        nums = []
        for _, data in files:
            nums += [int(m) for m in re.findall(rb'^.{27}[ +](\d{7}) ', data, re.M)]
        seen, dups = set(), []
        for n in nums:
            if n in seen:
                dups.append(n)
            seen.add(n)
        missing = [n for n in range(LINES) if n not in seen]
        return ('%s record %d: expected line %d, got %r; %d records; doubled %r...; '
                'missing %r...' % (where[0], where[1], expected, got[:40], len(nums),
                                   dups[:10], missing[:10]))
