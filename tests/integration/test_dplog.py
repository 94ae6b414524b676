"""dplog, the logger (docs/dplog.1): records and time stamps, rotation by
size, KEEP, SIGALRM and SIGHUP, stops with a partial line, over-long lines,
binary bytes, the lock, directories it cannot use, a full disk, and the
prefixed copies.  Every test drives the real binary (dp.dplog_binary())
through its stdin and reads DIR the way docs/dplog.1 says a reader does."""

import calendar
import errno
import fcntl
import os
import re
import select
import signal
import subprocess
import threading
import time
import unittest

import dp
from dp import DPTest, LineReader, TIMEOUT, wait_for
from svc_util import SvcTest

RFC3339 = re.compile(rb'^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{6})Z$')
TAI64N = re.compile(rb'^@([0-9a-f]{16})([0-9a-f]{8})$')
ROTATED = re.compile(r'^@[0-9a-f]{24}\.s$')


def read_dir(d):
    """The bytes of DIR in order, as docs/dplog.1 says a reader reads them:
    current opened first, then the rotated files sorted, skipping the one
    that is current's inode and any already seen."""
    cur = os.open(os.path.join(d, 'current'), os.O_RDONLY)
    try:
        st = os.fstat(cur)
        seen = {(st.st_dev, st.st_ino)}
        out = []
        for name in sorted(n for n in os.listdir(d) if ROTATED.match(n)):
            try:
                fd = os.open(os.path.join(d, name), os.O_RDONLY)
            except FileNotFoundError:
                continue
            with os.fdopen(fd, 'rb') as f:
                s = os.fstat(f.fileno())
                if (s.st_dev, s.st_ino) in seen:
                    continue
                seen.add((s.st_dev, s.st_ino))
                out.append(f.read())
        with os.fdopen(os.dup(cur), 'rb') as f:
            out.append(f.read())
        return b''.join(out)
    finally:
        os.close(cur)


def records(data, stamp_len=27):
    """(stamp, sep, text) of each record of data."""
    assert data == b'' or data.endswith(b'\n'), data[-50:]
    out = []
    for rec in data.split(b'\n')[:-1]:
        out.append((rec[:stamp_len], rec[stamp_len:stamp_len + 1], rec[stamp_len + 1:]))
    return out


def rejoin(data, stamp_len=27, tail=False):
    """The lines the records of data hold ('+' records joined with the
    next); with tail, also what a '+' record at the end holds."""
    lines, cur = [], b''
    for stamp, sep, text in records(data, stamp_len):
        assert sep in (b' ', b'+'), (stamp, sep, text)
        cur += text
        if sep == b' ':
            lines.append(cur)
            cur = b''
    if tail:
        return lines, cur
    assert cur == b'', 'a continued record ends the data: %r' % cur[:80]
    return lines


def rfc3339_seconds(stamp):
    m = RFC3339.match(stamp)
    assert m, stamp
    y, mo, d, h, mi, s, us = (int(x) for x in m.groups())
    return calendar.timegm((y, mo, d, h, mi, s)) + us / 1e6


class Dplog:
    """One dplog run with stdin a pipe we write (or a given fd), stdout and
    stderr captured."""

    def __init__(self, test, args, stdin_fd=None, preexec_fn=None):
        self.test = test
        if stdin_fd is None:
            r, self.w = os.pipe()
        else:
            r, self.w = stdin_fd, None
        self.p = subprocess.Popen([dp.dplog_binary()] + list(args), stdin=r,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  preexec_fn=preexec_fn)
        if stdin_fd is None:
            os.close(r)
        self.out = LineReader(self.p.stdout.fileno(), 'dplog stdout')
        self.err = LineReader(self.p.stderr.fileno(), 'dplog stderr')
        test.addCleanup(self.cleanup)

    @property
    def pid(self):
        return self.p.pid

    def write(self, data):
        while data:
            n = os.write(self.w, data)
            data = data[n:]

    def close(self):
        if self.w is not None:
            os.close(self.w)
            self.w = None

    def signal(self, sig):
        self.p.send_signal(sig)

    def wait(self, timeout=TIMEOUT):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            raise dp.Timeout('dplog did not exit within %.1fs (stderr so far %r)'
                             % (timeout, self.err.available()))

    def finish(self, timeout=TIMEOUT):
        """Close stdin and wait for exit 0."""
        self.close()
        self.test.assertEqual(self.wait(timeout), 0, self.err.available())

    def cleanup(self):
        self.close()
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.p.stdout.close()
        self.p.stderr.close()


def file_has(path, data):
    try:
        with open(path, 'rb') as f:
            return data in f.read()
    except FileNotFoundError:
        return False


class DplogTest(DPTest):
    def dplog(self, *args, **kw):
        return Dplog(self, args, **kw)

    def lines(self, n, width=60, tag='line'):
        return [(b'%s %06d ' % (tag.encode(), i)).ljust(width, b'.') for i in range(n)]

    def log_dir_with(self, name, data):
        """A new DIR holding one file, as an earlier dplog left it."""
        d = self.path('log')
        os.makedirs(d)
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)
        return d

    def rotated(self, d):
        try:
            return sorted(n for n in os.listdir(d) if ROTATED.match(n))
        except FileNotFoundError:
            return []


class Records(DplogTest):
    def test_rfc3339_one_stamp_per_read(self):
        d = self.path('log')
        before = time.time()
        p = self.dplog(d)
        p.write(b'first\nsecond\n')
        wait_for(lambda: file_has(os.path.join(d, 'current'), b'second\n'), msg='records')
        p.write(b'third')       # EOF with a partial line: written whole
        p.finish()
        after = time.time()
        recs = records(read_dir(d))
        self.assertEqual([(s, t) for _, s, t in recs],
                         [(b' ', b'first'), (b' ', b'second'), (b' ', b'third')])
        self.assertEqual(recs[0][0], recs[1][0], 'one time stamp per read(2)')
        for stamp, _, _ in recs:
            t = rfc3339_seconds(stamp)
            self.assertTrue(before - 1 <= t <= after + 1, (stamp, before, after))
        self.assertEqual(sorted(os.listdir(d)), ['current', 'lock'])
        self.assertEqual(os.stat(d).st_mode & 0o777, 0o750 & ~self.umask())
        self.assertEqual(os.stat(os.path.join(d, 'current')).st_mode & 0o777,
                         0o640 & ~self.umask())

    def umask(self):
        m = os.umask(0)
        os.umask(m)
        return m

    def test_tai64n_and_none(self):
        d = self.path('tai')
        before = time.time()
        p = self.dplog('-t', 'tai64n', d)
        p.write(b'hello\n\n')
        p.finish()
        recs = records(read_dir(d), 25)
        self.assertEqual([t for _, _, t in recs], [b'hello', b''])
        m = TAI64N.match(recs[0][0])
        self.assertTrue(m, recs)
        secs = int(m.group(1), 16) - 0x400000000000000a
        self.assertTrue(before - 1 <= secs <= time.time() + 1, secs)
        self.assertLess(int(m.group(2), 16), 10 ** 9)

        d = self.path('none')
        p = self.dplog('-t', 'none', '-l', '16', d)
        p.write(b'plain\n' + b'x' * 20 + b'\n')
        p.finish()
        self.assertEqual(read_dir(d), b'plain\n' + b'x' * 16 + b'\\\n' + b'xxxx\n')

    def test_over_long_lines_split_and_marked(self):
        d = self.path('log')
        p = self.dplog('-l', '100', d)
        euro = '\u20ac'.encode()
        long1 = b'a' * 99 + euro + b'b' * 150          # the euro straddles byte 100
        long2 = b'c' * 1000
        p.write(long1 + b'\n' + long2 + b'\nshort\n')
        p.finish()
        data = read_dir(d)
        recs = records(data)
        for _, sep, text in recs:
            self.assertLessEqual(len(text), 100)
        self.assertEqual(recs[0][1:], (b'+', b'a' * 99), 'cut before the euro sign')
        self.assertEqual(recs[1][2][:3], euro)
        self.assertEqual(rejoin(data), [long1, long2, b'short'])
        self.assertEqual([s for _, s, _ in recs].count(b'+'), 2 + 9)

    def test_binary_bytes_kept(self):
        d = self.path('log')
        p = self.dplog(d)
        garbage = [b'nul\x00in the middle', b'\x1b[31mred\x1b[0m', b'bad utf-8 \xff\xfe\xc3',
                   b'carriage\rreturn\r', b'\x01\x7f\x80\x9f', b'']
        p.write(b'\n'.join(garbage) + b'\n')
        p.finish()
        self.assertEqual(rejoin(read_dir(d)), garbage)

    def test_usage_errors(self):
        for args in (['-s', '100', self.path('x')], ['-n', 'many', self.path('x')],
                     ['-t', 'iso', self.path('x')], [], ['-l', '8k', '-s', '8k', self.path('x')]):
            p = subprocess.run([dp.dplog_binary()] + args, stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=TIMEOUT)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertTrue(p.stderr.startswith(b'dplog: '), p.stderr)
        self.assertFalse(os.path.exists(self.path('x')))
        p = subprocess.run([dp.dplog_binary(), '--help'], capture_output=True, timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0)
        self.assertIn(b'--line-max', p.stdout)


class Rotation(DplogTest):
    def test_size_bound_names_and_reader(self):
        d = self.path('log')
        p = self.dplog('-s', '4096', '-n', 'all', d)
        lines = self.lines(600)
        for i in range(0, 600, 50):         # several reads, several chunks
            p.write(b''.join(l + b'\n' for l in lines[i:i + 50]))
        p.finish()
        names = self.rotated(d)
        self.assertGreaterEqual(len(names), 600 * 88 // 4096 - 1)
        for n in names + ['current']:
            self.assertLessEqual(os.path.getsize(os.path.join(d, n)), 4096, n)
            self.assertTrue(os.path.getsize(os.path.join(d, n)) > 4096 - 88 or n == 'current', n)
        self.assertEqual(sorted(os.listdir(d)), sorted(names + ['current', 'lock']))
        self.assertEqual(rejoin(read_dir(d)), lines)
        # the names are the order of the records
        last = b''
        for n in names:
            with open(os.path.join(d, n), 'rb') as f:
                first = f.readline()
            self.assertLess(last, first[28:])
            last = first[28:]

    def test_keep(self):
        d = self.path('log')
        p = self.dplog('-s', '4096', '-n', '2', d)
        lines = self.lines(400)
        p.write(b''.join(l + b'\n' for l in lines))
        p.finish()
        self.assertEqual(len(self.rotated(d)), 2)
        kept = rejoin(read_dir(d))
        self.assertGreater(len(kept), 2 * (4096 // 88))
        self.assertEqual(kept, lines[-len(kept):])

    def test_keep_zero(self):
        d = self.path('log')
        p = self.dplog('-s', '4096', '-n', '0', d)
        p.write(b''.join(l + b'\n' for l in self.lines(200)))
        p.finish()
        self.assertEqual(self.rotated(d), [])
        self.assertEqual(rejoin(read_dir(d)), self.lines(200)[-len(rejoin(read_dir(d))):])

    def test_sigalrm_rotates(self):
        d = self.path('log')
        cur = os.path.join(d, 'current')
        p = self.dplog(d)
        p.write(b'before\n')
        wait_for(lambda: file_has(cur, b'before\n'), msg='before in current')
        p.signal(signal.SIGALRM)
        wait_for(lambda: len(self.rotated(d)) == 1 and os.path.getsize(cur) == 0,
                 msg='a rotation')
        p.signal(signal.SIGALRM)            # current is empty: no rotation
        p.write(b'after\n')
        wait_for(lambda: file_has(cur, b'after\n'), msg='after in current')
        self.assertEqual(len(self.rotated(d)), 1)
        p.signal(signal.SIGALRM)
        wait_for(lambda: len(self.rotated(d)) == 2, msg='a second rotation')
        p.finish()
        names = self.rotated(d)
        self.assertLess(names[0], names[1])
        self.assertEqual(rejoin(read_dir(d)), [b'before', b'after'])

    def test_age(self):
        d = self.path('log')
        p = self.dplog('-a', '1s', d)
        p.write(b'old\n')
        wait_for(lambda: len(self.rotated(d)) == 1, msg='a rotation by age, no input meanwhile')
        p.write(b'new\n')
        p.finish()
        self.assertEqual(rejoin(read_dir(d)), [b'old', b'new'])
        with open(os.path.join(d, self.rotated(d)[0]), 'rb') as f:
            self.assertEqual(rejoin(f.read()), [b'old'])

    def test_age_of_an_old_current(self):
        """The age is the first record's, also when an earlier dplog wrote it."""
        d = self.log_dir_with('current', b'2020-01-01T00:00:00.000000Z from 2020\n')
        p = self.dplog('-a', '1h', d)
        wait_for(lambda: len(self.rotated(d)) == 1, msg='a rotation at start')
        p.write(b'now\n')
        p.finish()
        self.assertEqual(rejoin(read_dir(d)), [b'from 2020', b'now'])
        self.assertEqual(len(self.rotated(d)), 1)

    def test_stdin_a_regular_file(self):
        src = self.write_file('input', ''.join('file line %d\n' % i for i in range(3000)))
        d = self.path('log')
        with open(src, 'rb') as f:
            p = subprocess.run([dp.dplog_binary(), '-s', '64k', d], stdin=f,
                               capture_output=True, timeout=TIMEOUT)
        self.assertEqual((p.returncode, p.stderr), (0, b''))
        self.assertEqual(rejoin(read_dir(d)), [b'file line %d' % i for i in range(3000)])

    def test_sighup_reopens_a_moved_directory(self):
        d = self.path('log')
        p = self.dplog(d)
        p.write(b'one\n')
        wait_for(lambda: file_has(os.path.join(d, 'current'), b'one\n'), msg='one')
        os.rename(d, self.path('old'))
        p.signal(signal.SIGHUP)
        wait_for(lambda: os.path.exists(os.path.join(d, 'current')), msg='a new DIR/current')
        p.write(b'two\n')
        p.finish()
        self.assertEqual(rejoin(read_dir(self.path('old'))), [b'one'])
        self.assertEqual(rejoin(read_dir(d)), [b'two'])
        with open(os.path.join(d, 'lock')) as f:
            self.assertEqual(f.read(), '%d\n' % p.pid)

    def test_recovery_of_a_cut_rotation(self):
        d = self.log_dir_with('current', b'2026-12-07T23:03:12.123456Z old\n')
        # a rotation that stopped between its link and its rename
        os.link(os.path.join(d, 'current'), os.path.join(d, '@400000006b173b3a075bcd15.s'))
        with open(os.path.join(d, 'current.tmp'), 'wb') as f:
            f.write(b'junk')
        p = self.dplog(d)
        p.write(b'new\n')
        p.finish()
        self.assertFalse(os.path.exists(os.path.join(d, 'current.tmp')))
        self.assertEqual(rejoin(read_dir(d)), [b'old', b'new'])
        self.assertEqual(self.rotated(d), ['@400000006b173b3a075bcd15.s'])


class Processor(DplogTest):
    def test_each_rotated_file_processed(self):
        d = self.path('log')
        p = self.dplog('-s', '4096', '-n', 'all', '-p', 'tr a-z A-Z; echo done >&5', d)
        lines = self.lines(300, tag='proc')
        p.write(b''.join(l + b'\n' for l in lines))
        p.finish()              # waits for the processor at work
        names = os.listdir(d)
        self.assertEqual([n for n in names if n.endswith('.u')], [])
        self.assertNotIn('processed', names)
        self.assertGreater(len(self.rotated(d)), 4)
        got = rejoin(read_dir(d))
        n = len(got) - len(rejoin(open(os.path.join(d, 'current'), 'rb').read()))
        self.assertEqual(got[:n], [l.upper() for l in lines[:n]], 'the rotated files, processed')
        self.assertEqual(got[n:], lines[n:], 'current, as written')
        with open(os.path.join(d, 'state'), 'rb') as f:
            self.assertEqual(f.read(), b'done\n')

    def test_a_failed_processor_runs_again(self):
        d = self.path('log')
        flag = self.path('failed-once')
        p = self.dplog('-p', 'if [ -e %s ]; then cat; else touch %s; exit 3; fi' % (flag, flag), d)
        p.write(b'first\n')
        wait_for(lambda: file_has(os.path.join(d, 'current'), b'first\n'), msg='first')
        p.signal(signal.SIGALRM)
        self.assertRegex(p.err.readline(),
                         r'^dplog: processor for %s/@[0-9a-f]{24}\.u failed \(exit 3\); '
                         r'again in 1s$' % d)
        wait_for(lambda: len(self.rotated(d)) == 1, msg='processed the second time')
        p.write(b'second\n')
        p.finish()
        self.assertEqual(rejoin(read_dir(d)), [b'first', b'second'])
        self.assertEqual([n for n in os.listdir(d) if n.endswith('.u')], [])

    def test_left_unprocessed_is_processed_at_start(self):
        d = self.log_dir_with('@400000006b173b3a075bcd15.u',
                              b'2026-12-07T23:03:12.123456Z left behind\n')
        p = self.dplog('-p', 'tr a-z A-Z', d)
        wait_for(lambda: self.rotated(d) == ['@400000006b173b3a075bcd15.s'], msg='processed')
        p.write(b'new\n')
        p.finish()
        self.assertEqual(rejoin(read_dir(d)), [b'LEFT BEHIND', b'new'])
        self.assertNotIn('@400000006b173b3a075bcd15.u', os.listdir(d))


class Stops(DplogTest):
    def test_sigterm_holds_partial_line_for_the_next_dplog(self):
        d = self.path('log')
        r, w = os.pipe()
        self.on_cleanup(lambda: os.close(w))
        first = self.dplog(d, stdin_fd=r)
        os.write(w, b'complete\npart')     # one atomic write: one read
        wait_for(lambda: file_has(os.path.join(d, 'current'), b'complete\n'), msg='complete')
        first.signal(signal.SIGTERM)
        self.assertEqual(first.wait(), 0)
        recs = records(read_dir(d))
        self.assertEqual(recs[-1][1:], (b'+', b'part'))
        second = self.dplog(d, stdin_fd=r)
        os.close(r)
        os.write(w, b'ial\nnext\n')
        wait_for(lambda: file_has(os.path.join(d, 'current'), b'next\n'), msg='next')
        second.signal(signal.SIGINT)
        self.assertEqual(second.wait(), 0)
        self.assertEqual(rejoin(read_dir(d)), [b'complete', b'partial', b'next'])

    def test_sigterm_while_flowing(self):
        """A writer that never pauses: the stop is still seen, and what
        was read is written."""
        d = self.path('log')
        p = self.dplog(d)
        stop = threading.Event()
        sent = []

        def writer():
            i = 0
            try:
                while not stop.is_set():
                    chunk = b''.join(b'n %07d\n' % (i + k) for k in range(100))
                    p.write(chunk)
                    sent.append(chunk)
                    i += 100
            except OSError:
                pass
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        wait_for(lambda: os.path.exists(os.path.join(d, 'current'))
                 and os.path.getsize(os.path.join(d, 'current')) > 100000, msg='some records')
        p.signal(signal.SIGTERM)
        self.assertEqual(p.wait(), 0)
        stop.set()
        p.close()
        t.join(TIMEOUT)
        got = rejoin(read_dir(d))
        # every record is a whole, numbered line, in order, none twice
        self.assertEqual(got, [b'n %07d' % i for i in range(len(got))])


class Lock(DplogTest):
    def test_two_dplogs_one_directory(self):
        d = self.path('log')
        cur = os.path.join(d, 'current')
        a = self.dplog(d)
        a.write(b'a1\n')
        wait_for(lambda: file_has(cur, b'a1\n'), msg='a1')
        b = self.dplog(d)
        b.write(b'b1\n')
        line = b.err.readline()
        self.assertEqual(line, 'dplog: %s: in use by another dplog (pid %d); '
                               'waiting for it to exit' % (d, a.pid))
        a.write(b'a2\n')
        wait_for(lambda: file_has(cur, b'a2\n'), msg='a2')
        self.assertEqual(rejoin(read_dir(d)), [b'a1', b'a2'], 'the second wrote nothing')
        a.finish()
        wait_for(lambda: file_has(cur, b'b1\n'), msg='b1 after the first exits')
        with open(os.path.join(d, 'lock')) as f:
            self.assertEqual(f.read(), '%d\n' % b.pid)
        b.write(b'b2\n')
        b.finish()
        self.assertEqual(rejoin(read_dir(d)), [b'a1', b'a2', b'b1', b'b2'])
        self.assertEqual(b.err.available(), [], 'said once')

    def test_sigterm_while_waiting_for_the_lock(self):
        d = self.path('log')
        a = self.dplog(d)
        wait_for(lambda: file_has(os.path.join(d, 'lock'), b'%d\n' % a.pid), msg='the lock')
        b = self.dplog(d)
        b.write(b'unread\n')
        self.assertIn('in use by another dplog', b.err.readline())
        b.signal(signal.SIGTERM)
        self.assertEqual(b.wait(), 0)
        a.finish()
        self.assertEqual(read_dir(d), b'')


def as_nobody():
    os.setgroups([])
    os.setresgid(65534, 65534, 65534)
    os.setresuid(65534, 65534, 65534)


@unittest.skipUnless(os.geteuid() == 0, 'needs root for a second uid')
class Unusable(DplogTest):
    def setUp(self):
        super().setUp()
        os.chmod(self.tmp, 0o755)
        self.root = self.path('rootdir')
        os.mkdir(self.root, 0o755)

    def run_nobody(self, d):
        p = subprocess.run([dp.dplog_binary(), d], input=b'x\n', capture_output=True,
                           preexec_fn=as_nobody, timeout=TIMEOUT)
        return p.returncode, p.stderr

    def test_unwritable_directory(self):
        code, err = self.run_nobody(self.root)
        self.assertEqual(code, 1, err)
        self.assertEqual(err, b'dplog: %s: cannot write: Permission denied\n' % self.root.encode())
        self.assertEqual(os.listdir(self.root), [])

    def test_uncreatable_directory(self):
        d = os.path.join(self.root, 'sub', 'log')
        code, err = self.run_nobody(d)
        self.assertEqual(code, 1, err)
        self.assertEqual(err, b'dplog: %s/sub: cannot create: Permission denied\n'
                         % self.root.encode())
        self.assertFalse(os.path.exists(os.path.join(self.root, 'sub')))

    def run_here(self, d):
        p = subprocess.run([dp.dplog_binary(), d], input=b'secret\n', capture_output=True,
                           timeout=TIMEOUT)
        return p.returncode, p.stderr

    def test_directory_of_another_user(self):
        # Made in advance by another local user (under /tmp, say): that user
        # could read, delete or replace the logs; refused, nothing written.
        d = os.path.join(self.root, 'theirs')
        os.mkdir(d, 0o755)
        os.chown(d, 65534, 65534)
        code, err = self.run_here(d)
        self.assertEqual(code, 1, err)
        self.assertEqual(err, b'dplog: %s: owned by uid 65534, not by uid %d or root: refusing it '
                         b'for logs (chown it, or choose another directory)\n'
                         % (d.encode(), os.geteuid()))
        self.assertEqual(os.listdir(d), [])

    def test_world_writable_directory(self):
        d = os.path.join(self.root, 'open')
        os.mkdir(d)
        os.chmod(d, 0o1777)
        code, err = self.run_here(d)
        self.assertEqual(code, 1, err)
        self.assertEqual(err, b'dplog: %s: writable by any user: refusing it for logs '
                         b'(chmod o-w, or choose another directory)\n' % d.encode())
        self.assertEqual(os.listdir(d), [])


@unittest.skipUnless(os.geteuid() == 0, 'needs root to mount a tmpfs')
class DiskFull(DplogTest):
    def full_disk(self):
        """A 1 MB tmpfs with dplog running in it, then filled up: (dplog,
        DIR, the filler's path)."""
        mnt = self.path('mnt')
        os.mkdir(mnt)
        p = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt],
                           capture_output=True)
        if p.returncode != 0:
            self.skipTest('mount refused: %s' % p.stderr.decode().strip())
        self.addCleanup(subprocess.run, ['umount', '-l', mnt])
        d = os.path.join(mnt, 'log')
        log = self.dplog('-s', '256k', '-n', 'all', d)
        wait_for(lambda: os.path.exists(os.path.join(d, 'current')), msg='current')
        filler = os.path.join(mnt, 'filler')
        with open(filler, 'wb', buffering=0) as f:
            try:
                while True:
                    f.write(b'\0' * 4096)
            except OSError as e:
                self.assertEqual(e.errno, errno.ENOSPC)
        return log, d, filler

    def full_message(self, d):
        return (r'^dplog: %s/current: No space left on device; holding \d+ bytes, '
                r'reading no more until they are written \(retrying\)$' % d)

    def test_back_pressure_and_no_loss(self):
        log, d, filler = self.full_disk()
        lines = self.lines(4000, width=79, tag='full')
        data = b''.join(l + b'\n' for l in lines)
        fcntl.fcntl(log.w, fcntl.F_SETFL, fcntl.fcntl(log.w, fcntl.F_GETFL) | os.O_NONBLOCK)
        sent = 0
        blocked = False
        deadline = time.monotonic() + TIMEOUT
        while sent < len(data) and not blocked:
            try:
                sent += os.write(log.w, data[sent:sent + 4096])
            except BlockingIOError:
                # dplog reads no more: the pipe stays full
                if select.select([], [log.w], [], 0.5)[1] == []:
                    blocked = True
            self.assertLess(time.monotonic(), deadline, 'the writer was never held back')
        self.assertTrue(blocked)
        self.assertLess(sent, len(data))
        self.assertRegex(log.err.readline(), self.full_message(d))
        os.unlink(filler)
        self.assertRegex(log.err.readline(),
                         r'^dplog: %s/current: writing again \(after \d+s\)$' % d)
        while sent < len(data):
            select.select([], [log.w], [], TIMEOUT)
            try:
                sent += os.write(log.w, data[sent:sent + 65536])
            except BlockingIOError:
                pass
        log.finish()
        self.assertEqual(log.err.available(), [], 'said once')
        self.assertEqual(rejoin(read_dir(d)), lines)

    def test_sigterm_while_held_shows_the_records(self):
        log, d, filler = self.full_disk()
        lines = self.lines(10, tag='held')
        log.write(b''.join(l + b'\n' for l in lines) + b'part')
        self.assertRegex(log.err.readline(), self.full_message(d))
        log.signal(signal.SIGTERM)
        self.assertEqual(log.wait(), 0)
        self.assertRegex(log.err.readline(), r'^dplog: %s/current: stopping with \d+ bytes not '
                                             r'written; here they are:$' % d)
        held = records(b''.join(dp.enc(l) + b'\n' for l in log.err.read_eof()))
        self.assertEqual([(s, t) for _, s, t in held],
                         [(b' ', l) for l in lines] + [(b'+', b'part')])
        self.assertEqual(os.path.getsize(os.path.join(d, 'current')), 0)


class Prefix(DplogTest):
    def test_stdout_alone(self):
        p = self.dplog('-o', 'web', '-l', '16')
        p.write(b'hello\n' + b'x' * 20 + b'\nlast')
        p.close()
        self.assertEqual(p.out.read_eof(), ['web: hello', 'web+ ' + 'x' * 16, 'web: xxxx',
                                            'web: last'])
        self.assertEqual(p.wait(), 0)
        self.assertEqual(p.err.read_eof(), [])

    def test_sigterm_while_stdout_is_full(self):
        """Nobody reads the copies: the file goes on until dplog stops
        reading; at SIGTERM the copies it holds are shown on stderr and
        current gets everything read."""
        d = self.path('log')
        p = self.dplog('-o', 'app', d)
        lines = self.lines(4000, width=99, tag='full')
        data = b''.join(l + b'\n' for l in lines)
        fcntl.fcntl(p.w, fcntl.F_SETFL, fcntl.fcntl(p.w, fcntl.F_GETFL) | os.O_NONBLOCK)
        sent = 0
        while sent < len(data):
            try:
                sent += os.write(p.w, data[sent:sent + 4096])
            except BlockingIOError:
                if select.select([], [p.w], [], 0.5)[1] == []:
                    break       # dplog reads no more: stdout is full
        self.assertLess(sent, len(data))
        p.signal(signal.SIGTERM)
        self.assertEqual(p.wait(), 0)
        written, part = rejoin(read_dir(d), tail=True)
        self.assertEqual(written, lines[:len(written)])
        self.assertTrue(lines[len(written)].startswith(part))
        copies = p.p.stdout.read()          # a copy may end half written ...
        header, held = p.p.stderr.read().split(b'\n', 1)     # ... and go on here
        self.assertRegex(header, rb'^dplog: stdout: stopping with \d+ bytes not written; '
                                 rb'here they are:$')
        # (the copies stopped there: the partial line went to current alone)
        self.assertEqual((copies + held).split(b'\n')[:-1], [b'app: ' + l for l in written])

    def test_stderr_with_a_directory(self):
        d = self.path('log')
        p = self.dplog('-e', 'db', d)
        p.write(b'one\ntwo\n')
        self.assertEqual(p.err.readline(), 'db: one')
        self.assertEqual(p.err.readline(), 'db: two')
        p.finish()
        self.assertEqual(rejoin(read_dir(d)), [b'one', b'two'])
        self.assertEqual(p.out.read_eof(), [])


class UnderDaemonproxy(SvcTest):
    def test_logger_service_stopped_mid_line(self):
        """dplog as a service reading a pipe daemonproxy holds: stopped
        with half a line read, the next run writes the rest."""
        d = self.path('log')
        cur = os.path.join(d, 'current')
        dpd = self.start()
        dpd.cmd('fd.pipe\tlog.r\tlog.w',
                'service.args\tlog\t%s\t%s' % (dp.dplog_binary(), d),
                'service.fds\tlog\tlog.r\tstderr\tstderr',
                'service.args\tapp\tprintf\tone\\ntwo\\npar',
                'service.fds\tapp\tnull\tlog.w\tstderr',
                'service.args\tapp2\tprintf\ttial\\nthree\\n',
                'service.fds\tapp2\tnull\tlog.w\tstderr')
        dpd.send('service.start\tlog')
        self.expect_state(dpd, 'log', 'up')
        dpd.send('service.start\tapp')
        self.expect_state(dpd, 'app', 'down')
        wait_for(lambda: file_has(cur, b'two\n'), msg='two')
        dpd.send('service.signal\tlog\tSIGTERM')
        down = self.expect_state(dpd, 'log', 'down')
        self.assertEqual(down[5:7], ['exit', '0'])
        self.assertEqual(records(read_dir(d))[-1][1:], (b'+', b'par'))
        dpd.send('service.start\tapp2')
        self.expect_state(dpd, 'app2', 'down')
        dpd.send('service.start\tlog')
        wait_for(lambda: file_has(cur, b'three\n'), msg='three')
        self.assertEqual(rejoin(read_dir(d)), [b'one', b'two', b'partial', b'three'])


if __name__ == '__main__':
    unittest.main()
