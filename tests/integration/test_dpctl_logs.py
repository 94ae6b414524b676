"""dpctl logs and the log lines of dpctl status NAME (issue 21; docs/dpctl.1).

Log directories are made here as dplog makes them (the reader's rules of
the spec: `current`, rotated `@` + TAI64N label + `.s` files whose names
sort as their times; a rotation links current to its new name, then
renames a fresh current.tmp over current), so that every state a reader
can meet is made on purpose, the link instant of a rotation included; one
test runs the real dplog (dp.dplog_binary()) rotating under `logs -f`.

- all files in order, each record once: the link instant (current and the
  newest rotated name one file) and other names in DIR ignored;
- -n across files (0, inside current, across several files, more than
  there are), a last line without its newline;
- --since: RFC 3339 and TAI64N records, absolute (Z, an offset, local time
  under TZ) and relative times, a continued record going with its first
  piece, records without timestamps an error;
- -f across rotations done while following (one at a time, and two
  between two looks), each line exactly once and in order; a file
  deleted (dplog's keep) while it is read, and others before they are;
- NAME: through its log_dir= tag; no tag, a relative tag, an unknown
  NAME; a missing DIR, an unreadable DIR (as uid 65534) and current;
- escaping: on a terminal (a pty) control bytes as \\xNN and a backslash
  as \\\\, tab and bytes >= 0x80 as they are; the raw bytes through a pipe;
- dpctl status NAME: the last 5 records under "log:", escaped through a
  pipe too; a DIR it cannot read is one line, and status still succeeds;
- usage errors (exit 2, nothing read).
"""

import os
import pty
import re
import select
import shutil
import signal
import subprocess
import time
import unittest

import dp
from dp import TIMEOUT, LineReader, Timeout, wait_for
from test_dpctl import DPCTL, RUN_TIMEOUT, DpctlTest

TAI64 = 0x400000000000000a


def rfc3339(t):
    """dplog's RFC 3339 stamp for Unix time t."""
    us = int(round(t * 1e6))
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(us // 1000000)) + \
        '.%06dZ' % (us % 1000000)


def tai64n(t):
    ns = int(round(t * 1e9))
    return '@%016x%08x' % (TAI64 + ns // 1000000000, ns % 1000000000)


class LogDir:
    """A log directory written as dplog writes it."""

    def __init__(self, path):
        self.path = path
        os.makedirs(path, 0o750, exist_ok=True)
        self.last = None
        open(self.file('current'), 'ab').close()

    def file(self, name):
        return os.path.join(self.path, name)

    def append(self, data):
        with open(self.file('current'), 'ab') as f:
            f.write(data)

    def records(self, lines, stamp=rfc3339, t=None):
        """Append one record per text (bytes), stamped with t (default now)."""
        t = time.time() if t is None else t
        self.append(b''.join(stamp(t).encode() + b' ' + l + b'\n' for l in lines))

    def next_name(self):
        name = tai64n(time.time())
        if self.last is not None and name <= self.last:
            name = '@%024x' % (int(self.last[1:], 16) + 1)
        self.last = name
        return name + '.s'

    def link(self):
        """Step 2 of a rotation: current under its rotated name too."""
        name = self.next_name()
        os.link(self.file('current'), self.file(name))
        return name

    def replace(self):
        """Step 3: a fresh current."""
        tmp = self.file('current.tmp')
        open(tmp, 'wb').close()
        os.rename(tmp, self.file('current'))

    def rotate(self):
        name = self.link()
        self.replace()
        return name

    def rotated(self):
        return sorted(n for n in os.listdir(self.path) if re.match(r'^@[0-9a-f]{24}\.s$', n))


def text(out):
    """The texts of RFC 3339 records (bytes), without their stamps."""
    return [l[28:] for l in out.split(b'\n') if l]


class Logs(DpctlTest):
    def logdir(self, name='log'):
        return LogDir(self.path(name))

    def logs(self, *args, rc=0, **kw):
        r = self.dpctl('logs', *args, sock=kw.pop('sock', None), **kw)
        self.assertEqual(r.rc, rc, r)
        return r

    def numbered(self, d, start, stop):
        d.records([b'line %d' % i for i in range(start, stop)])

    # --- reading the whole directory ---------------------------------------
    def test_all_files_in_order_once(self):
        d = self.logdir()
        self.numbered(d, 0, 3)
        d.rotate()
        self.numbered(d, 3, 5)
        d.rotate()
        d.rotate()                      # an empty file
        self.numbered(d, 5, 8)
        # what readers ignore: a rotation half done, a processor's .u, the lock
        for name in ('current.tmp', '@400000006937f4fa00000000.u', 'lock', 'other'):
            with open(d.file(name), 'w') as f:
                f.write('2026-12-07T10:00:00.000000Z not a record\n')
        want = [b'line %d' % i for i in range(8)]
        self.assertEqual(text(self.logs('--dir', d.path).outb), want)
        # the link instant: current is also the newest rotated file
        d.link()
        self.assertEqual(text(self.logs('--dir', d.path).outb), want)
        self.assertEqual(text(self.logs('-n', 4, '--dir', d.path).outb), want[-4:])
        d.replace()
        self.numbered(d, 8, 9)
        self.assertEqual(text(self.logs('--dir', d.path).outb), want + [b'line 8'])

    def test_tail_across_files(self):
        d = self.logdir()
        n = 0
        for size in (5, 1, 0, 7, 3):
            self.numbered(d, n, n + size)
            n += size
            d.rotate()
        self.numbered(d, n, n + 2)
        n += 2
        everything = [b'line %d' % i for i in range(n)]
        for k in (0, 1, 2, 3, 5, 10, 11, 12, 16, n - 1, n, n + 1, 1000):
            got = text(self.logs('-n', k, '--dir', d.path).outb)
            self.assertEqual(got, everything[max(0, n - k):] if k else [], 'n=%d' % k)
        self.assertEqual(text(self.logs('-n3', '--dir', d.path).outb), everything[-3:])
        self.assertEqual(text(self.logs('--lines=3', '--dir=' + d.path).outb), everything[-3:])
        # a last line without its newline (a partial write) is a record, ended
        d.append(rfc3339(time.time()).encode() + b' partial')
        r = self.logs('-n', 2, '--dir', d.path)
        self.assertEqual(text(r.outb), [everything[-1], b'partial'])
        self.assertTrue(r.outb.endswith(b'partial\n'), r)

    # --- --since ------------------------------------------------------------
    def since_dir(self, stamp):
        d = self.logdir('since-' + stamp.__name__)
        now = time.time()
        for ago, txt in ((3 * 3600, b'3h'), (5400, b'90m'), (1800, b'30m'), (60, b'1m')):
            d.records([txt], stamp=stamp, t=now - ago)
            if ago == 5400:
                d.rotate()
        # a line split in two records: its first piece old, its rest new
        t = now - 7200
        d.append(stamp(t).encode() + b'+old first piece\n' + stamp(now).encode() +
                 b' and its rest\n')
        d.records([b'now'], stamp=stamp, t=now)
        return d

    def since(self, d, *args, **kw):
        out = self.logs('--since', *args, '--dir', d.path, **kw).outb
        return [re.split(rb'[ +]', l, 1)[1] for l in out.split(b'\n') if l]

    def test_since_relative(self):
        for stamp in (rfc3339, tai64n):
            d = self.since_dir(stamp)
            self.assertEqual(self.since(d, '1h'), [b'30m', b'1m', b'now'], stamp)
            self.assertEqual(self.since(d, '100m'), [b'90m', b'30m', b'1m', b'now'], stamp)
            self.assertEqual(self.since(d, '1h40m'), [b'90m', b'30m', b'1m', b'now'], stamp)
            self.assertEqual(self.since(d, '150m'), [b'90m', b'30m', b'1m', b'old first piece',
                                                     b'and its rest', b'now'], stamp)
            self.assertEqual(self.since(d, '1d')[0], b'3h', stamp)
            self.assertEqual(self.since(d, '10s'), [b'now'], stamp)
            # -n with it: of the last 4 records, those since TIME (a piece
            # of a line goes with its first piece)
            self.assertEqual(self.since(d, '1h', '-n', 4), [b'1m', b'now'], stamp)

    def test_since_absolute(self):
        d = self.logdir()
        base = 1796637600              # 2026-12-07T10:00:00Z
        for i in range(4):
            d.records([b'at %d' % i], t=base + i * 60 + 0.5)
            d.rotate()
        t = self.logdir('tai')
        for i in range(4):
            t.records([b'at %d' % i], stamp=tai64n, t=base + i * 60 + 0.5)
        for dd in (d, t):
            self.assertEqual(self.since(dd, '2026-12-07T10:01:00Z'), [b'at 1', b'at 2', b'at 3'])
            self.assertEqual(self.since(dd, '2026-12-07T10:01:00.5Z'), [b'at 1', b'at 2', b'at 3'])
            self.assertEqual(self.since(dd, '2026-12-07T10:01:00.500001Z'), [b'at 2', b'at 3'])
            self.assertEqual(self.since(dd, '2026-12-07T11:02:00+01:00'), [b'at 2', b'at 3'])
            self.assertEqual(self.since(dd, '2026-12-07t05:02:00-05:00'), [b'at 2', b'at 3'])
            self.assertEqual(self.since(dd, '2026-12-07 10:03:00Z'), [b'at 3'])
            self.assertEqual(self.since(dd, '2026-12-08T00:00:00Z'), [])
            # local time: TZ decides
            self.assertEqual(self.since(dd, '2026-12-07 10:02', env={'TZ': 'UTC0'}),
                             [b'at 2', b'at 3'])
            self.assertEqual(self.since(dd, '2026-12-07 05:02:00', env={'TZ': 'EST5'}),
                             [b'at 2', b'at 3'])
            self.assertEqual(self.since(dd, '2026-12-07', env={'TZ': 'UTC0'}),
                             [b'at 0', b'at 1', b'at 2', b'at 3'])

    def test_since_without_timestamps(self):
        d = self.logdir()
        d.append(b'plain line\nanother\n')
        r = self.logs('--since', '1h', '--dir', d.path, rc=1)
        self.assertIn('a record without a timestamp', r.err)
        self.assertIn(d.path + '/current', r.err)
        self.assertEqual(r.out, '')
        # without --since, they are printed as they are
        self.assertEqual(self.logs('--dir', d.path).outb, b'plain line\nanother\n')

    # --- -f -----------------------------------------------------------------
    def follower(self, *args, sock=None):
        p = self.dpctl_bg('logs', '-f', *args, sock=sock)
        return p, LineReader(p.stdout.fileno(), 'dpctl logs -f')

    def expect_lines(self, reader, want, p):
        got = []
        try:
            while len(got) < len(want):
                got.append(reader.readline().encode('latin-1')[28:])
        except Timeout:
            self.fail('dpctl logs -f printed %r, wanted %r (stderr: %r)'
                      % (got, want, p.stderr.read1() if p.poll() is not None else ''))
        self.assertEqual(got, want)

    def test_follow_across_rotations(self):
        """Rotations while dpctl waits, and while it is stopped (SIGSTOP):
        several rotations between two looks, and a look at the link
        instant (current and the newest rotated name one file)."""
        d = self.logdir()
        self.numbered(d, 0, 3)
        d.rotate()
        self.numbered(d, 3, 5)
        p, reader = self.follower('-n', 3, '--dir', d.path)
        self.expect_lines(reader, [b'line %d' % i for i in (2, 3, 4)], p)
        n = [5]

        def add(k):
            self.numbered(d, n[0], n[0] + k)
            n[0] += k

        def expect_since(start):
            self.expect_lines(reader, [b'line %d' % i for i in range(start, n[0])], p)
        for rnd in range(3):
            # appended, rotated, more: dpctl awake
            start = n[0]
            add(2)
            expect_since(start)
            start = n[0]
            add(2)
            d.rotate()
            add(1)
            expect_since(start)
            # three rotations while dpctl cannot look
            start = n[0]
            p.send_signal(signal.SIGSTOP)
            for _ in range(3):
                add(2)
                d.rotate()
            add(1)
            p.send_signal(signal.SIGCONT)
            expect_since(start)
            # dpctl looks at the link instant of a rotation
            start = n[0]
            p.send_signal(signal.SIGSTOP)
            add(1)
            d.rotate()
            add(1)
            d.link()
            p.send_signal(signal.SIGCONT)
            expect_since(start)
            start = n[0]
            p.send_signal(signal.SIGSTOP)
            add(1)          # still the linked file: written before the rename
            d.replace()
            add(2)
            p.send_signal(signal.SIGCONT)
            expect_since(start)
        self.assertEqual(reader.available(0.2), [], 'nothing more')
        self.assertIsNone(p.poll(), 'dpctl logs -f ended')
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(RUN_TIMEOUT), -signal.SIGTERM)

    def test_follow_ends_when_the_reader_goes_away(self):
        d = self.logdir()
        self.numbered(d, 0, 1)
        p, reader = self.follower('--dir', d.path)
        self.expect_lines(reader, [b'line 0'], p)
        p.stdout.close()
        self.assertEqual(p.wait(RUN_TIMEOUT), 1)

    def test_follow_before_current_exists(self):
        path = self.path('later')
        os.mkdir(path)
        p, reader = self.follower('--dir', path)
        d = LogDir(path)
        self.numbered(d, 0, 2)
        d.rotate()
        self.numbered(d, 2, 3)
        self.expect_lines(reader, [b'line 0', b'line 1', b'line 2'], p)

    def test_files_deleted_while_reading(self):
        """Rotated files deleted by dplog's keep: the one being read is read
        to its end (dpctl holds it open), those not opened yet are skipped,
        each without an error."""
        d = self.logdir()
        # each file far more than a pipe and dpctl's buffer hold
        per = 12000
        for f in range(5):
            d.records([b'file %d line %05d' % (f, i) for i in range(per)])
            d.rotate()
        d.records([b'current'])
        names = d.rotated()
        p = self.dpctl_bg('logs', '--dir', d.path, sock=None)
        first = os.path.realpath(d.file(names[0]))

        def holds_first():
            try:
                return any(os.readlink('/proc/%d/fd/%s' % (p.pid, fd)) == first
                           for fd in os.listdir('/proc/%d/fd' % p.pid))
            except OSError:
                return False
        wait_for(holds_first, TIMEOUT, 'dpctl reading the first file')
        for name in (names[0], names[2], names[3]):     # dplog's keep
            os.unlink(d.file(name))
        r = self.finish(p)
        self.assertEqual((r.rc, r.err), (0, ''), r)
        want = [b'file %d line %05d' % (f, i) for f in (0, 1, 4) for i in range(per)]
        self.assertEqual(text(r.outb), want + [b'current'])

    # --- the real dplog -------------------------------------------------------
    def test_real_dplog_rotating_under_follow(self):
        dplog = dp.dplog_binary()
        self.assertTrue(os.access(dplog, os.X_OK), 'no dplog at %s' % dplog)
        path = self.path('dplog')
        lg = subprocess.Popen([dplog, '-s', '4096', '-l', '1024', '-n', '3', path],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
        self.on_cleanup(lambda: (lg.kill(), lg.wait()))
        wait_for(lambda: os.path.exists(os.path.join(path, 'current')) or lg.poll() is not None,
                 TIMEOUT, 'dplog started')
        if lg.poll() is not None:
            self.fail('dplog exited %d: %r' % (lg.returncode, lg.stderr.read()))
        p, reader = self.follower('--dir', path)
        # batches smaller than a file: dplog keeps 3 rotated files, and
        # rotates at most once before dpctl has printed a batch
        n, total, batch = 0, 1200, 40
        while n < total:
            lg.stdin.write(b''.join(b'dplog line %06d padding to forty bytes\n' % i
                                    for i in range(n, n + batch)))
            lg.stdin.flush()
            if n == total // 2:
                lg.send_signal(signal.SIGALRM)      # rotate now
            want = [b'dplog line %06d padding to forty bytes' % i for i in range(n, n + batch)]
            self.expect_lines(reader, want, p)
            n += batch
        self.assertGreater(len(os.listdir(path)), 3, 'dplog rotated')
        lg.stdin.close()
        self.assertEqual(lg.wait(RUN_TIMEOUT), 0, lg.stderr.read())
        self.assertEqual(reader.available(0.2), [])

    # --- NAME: the log_dir= tag ---------------------------------------------
    def test_name_through_its_tag(self):
        d = self.logdir()
        self.numbered(d, 0, 3)
        dm = self.daemon()
        self.define(dm, 'web', ['sleep', '60'], tags=['x=1', 'log_dir=' + d.path])
        self.define(dm, 'plain', ['sleep', '60'], tags=['x=1'])
        self.define(dm, 'rel', ['sleep', '60'], tags=['log_dir=relative/dir'])
        r = self.logs('web', '-n', 2, sock=True)
        self.assertEqual(text(r.outb), [b'line 1', b'line 2'])
        r = self.logs('plain', sock=True, rc=1)
        self.assertIn('plain has no log_dir= tag', r.err)
        self.assertEqual(r.out, '')
        r = self.logs('rel', sock=True, rc=1)
        self.assertIn('log_dir=relative/dir is not an absolute path', r.err)
        r = self.logs('nosuch', sock=True, rc=3)
        self.assertIn("no such service 'nosuch'", r.err)
        # following, dpctl has left the daemon (it would not read its events)
        start = len(dm.log.snapshot())
        p, reader = self.follower('web', sock=True)
        self.expect_lines(reader, [b'line 0', b'line 1', b'line 2'], p)
        dm.log.expect(re.compile(r'client \d+: .*(closed|disconnect|EOF|gone)', re.I),
                      start=start)
        self.numbered(d, 3, 4)
        self.expect_lines(reader, [b'line 3'], p)

    def test_missing_and_unreadable(self):
        r = self.logs('--dir', self.path('none'), rc=1)
        self.assertEqual(r.err, 'dpctl: %s: cannot open: No such file or directory\n'
                         % self.path('none'), r)
        d = self.logdir()
        self.numbered(d, 0, 1)
        if os.geteuid() != 0:
            self.skipTest('needs root for a second uid')

        def nobody():
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        os.chmod(self.tmp, 0o755)
        os.chmod(d.path, 0o750)
        r = self.dpctl('--version', sock=None, preexec_fn=nobody)
        if r.rc != 0:
            self.skipTest('dpctl does not run as uid 65534: %r' % r)
        r = self.logs('--dir', d.path, rc=1, preexec_fn=nobody)
        self.assertEqual(r.err, 'dpctl: %s: cannot open: Permission denied\n' % d.path, r)
        os.chmod(d.path, 0o755)
        os.chmod(d.file('current'), 0o640)
        r = self.logs('--dir', d.path, rc=1, preexec_fn=nobody)
        self.assertEqual(r.err, 'dpctl: %s/current: cannot open: Permission denied\n' % d.path, r)
        # a FIFO named current would block a reader: refused
        os.unlink(d.file('current'))
        os.mkfifo(d.file('current'))
        r = self.logs('--dir', d.path, rc=1)
        self.assertEqual(r.err, 'dpctl: %s/current: cannot open: not a regular file\n' % d.path, r)

    # --- escaping ------------------------------------------------------------
    HOSTILE = b'esc \x1b[2J\x1b]0;title\x07 nul \x00 cr \r del \x7f back\\slash tab\tutf8 \xc3\xa9 raw \xff'
    ESCAPED = (b'esc \\x1b[2J\\x1b]0;title\\x07 nul \\x00 cr \\x0d del \\x7f back\\\\slash '
               b'tab\tutf8 \xc3\xa9 raw \xff')

    def on_pty(self, *args):
        """dpctl ARGS with stdout (and stderr) on a terminal: its output."""
        master, slave = pty.openpty()
        attrs = __import__('termios').tcgetattr(slave)
        attrs[1] &= ~__import__('termios').OPOST       # no \n -> \r\n
        __import__('termios').tcsetattr(slave, __import__('termios').TCSANOW, attrs)
        p = subprocess.Popen(self.argv(args, None), stdin=subprocess.DEVNULL, stdout=slave,
                             stderr=slave, env=self.env(None))
        os.close(slave)
        out = b''
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline:
            if not select.select([master], [], [], 1)[0]:
                if p.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:         # EIO: the terminal's last writer is gone
                break
            if not data:
                break
            out += data
        os.close(master)
        self.assertEqual(p.wait(RUN_TIMEOUT), 0, out)
        return out

    def test_escaping_on_a_terminal_only(self):
        d = self.logdir()
        d.records([self.HOSTILE, b'plain'])
        stamp = d.file('current')
        with open(stamp, 'rb') as f:
            stored = f.read()
        self.assertEqual(self.logs('--dir', d.path).outb, stored)
        got = self.on_pty('logs', '--dir', d.path)
        self.assertEqual(text(got), [self.ESCAPED, b'plain'])

    # --- dpctl status NAME ---------------------------------------------------
    def test_status_shows_the_last_records(self):
        d = self.logdir()
        self.numbered(d, 0, 4)
        d.rotate()
        d.records([b'line 4', self.HOSTILE, b'line 6'])
        dm = self.daemon()
        self.define(dm, 'web', ['sleep', '60'], tags=['log_dir=' + d.path])
        self.define(dm, 'gone', ['sleep', '60'], tags=['log_dir=' + self.path('none')])
        self.define(dm, 'plain', ['sleep', '60'])
        r = self.ok('status', 'web')
        i = r.lines.index('  log:      ' + d.path)
        self.assertEqual([l[:4] for l in r.lines[i + 1:]], ['    '] * 5, r)
        self.assertEqual([l[4 + 28:].encode('latin-1') for l in r.lines[i + 1:]],
                         [b'line 2', b'line 3', b'line 4', self.ESCAPED, b'line 6'])
        r = self.ok('status', 'gone')
        self.assertEqual(r.lines[-2:], ['  log:      ' + self.path('none'),
                                        '    (%s: cannot open: No such file or directory)'
                                        % self.path('none')], r)
        self.assertEqual(r.err, '')
        r = self.ok('status', 'plain')
        self.assertFalse(any(l.startswith('  log:') for l in r.lines), r)

    # --- usage ------------------------------------------------------------------
    def test_usage_errors(self):
        r = self.dpctl('logs', '--help', sock=None)
        self.assertEqual(r.rc, 0, r)
        for opt in ('-f', '-n N', '--since', '--dir'):
            self.assertIn(opt, r.out)
        d = self.logdir()
        for args in (['logs'], ['logs', 'web', '--dir', d.path], ['logs', 'a', 'b'],
                     ['logs', '-n', 'x', 'web'], ['logs', '-n', '-1', 'web'],
                     ['logs', '--since', 'yesterday', 'web'],
                     ['logs', '--since', '2026-13-01', 'web'], ['logs', 'web*'],
                     ['logs', '--dir', ''], ['status', '-n', '3'], ['status', '--since', '1h'],
                     ['status', '--dir', d.path], ['status', '-f'], ['-n', '3', 'logs', 'web']):
            r = self.dpctl(*args, sock=self.path('none.sock'))
            self.assertEqual(r.rc, 2, r)
            self.assertNotIn('none.sock', r.err, r)       # nothing was connected to


if __name__ == '__main__':
    unittest.main()
