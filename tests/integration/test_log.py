"""docs/protocol.md, The log: the log (format, log.filter, never blocking)."""

import fcntl
import os
import re
import shutil
import select
import subprocess
import time

from dp import DPTest, LOG_LINE_RE, TIMEOUT, wait_for


class Filter(DPTest):
    def test_show_default(self):
        d = self.start()
        self.assertEqual(d.cmd1('log.filter'), 'log.filter\tdebug')

    def test_plus_minus(self):
        d = self.start()
        self.assertEqual(d.cmd1('log.filter\t+'), 'log.filter\tinfo')
        self.assertEqual(d.cmd1('log.filter\t+'), 'log.filter\twarning')
        self.assertEqual(d.cmd1('log.filter\t-'), 'log.filter\tinfo')
        self.assertEqual(d.cmd1('log.filter\t-'), 'log.filter\tdebug')
        self.assertEqual(d.cmd1('log.filter\t-'), 'log.filter\ttrace')
        self.assertEqual(d.cmd1('log.filter\t-'), 'log.filter\tnone')
        self.assertEqual(d.cmd1('log.filter\t-'), 'log.filter\tnone')
        self.assertEqual(d.cmd1('log.filter'), 'log.filter\tnone')

    def test_set_each_level(self):
        d = self.start()
        for lvl in ('none', 'trace', 'debug', 'info', 'warning', 'error', 'fatal'):
            with self.subTest(level=lvl):
                self.assertEqual(d.cmd1('log.filter\t' + lvl), 'log.filter\t' + lvl)
                self.assertEqual(d.cmd1('log.filter'), 'log.filter\t' + lvl)
        self.assertEqual(d.cmd1('log.filter\t+'), 'log.filter\tfatal')

    def test_bad_level_is_error(self):
        d = self.start()
        for bad in ('bogus', 'INFOX', '++', ''):
            with self.subTest(arg=bad):
                self.assertCmdError(d, 'log.filter\t' + bad)
        self.assertEqual(d.cmd1('log.filter'), 'log.filter\tdebug')

    def test_filter_suppresses_level_and_below(self):
        d = self.start()
        d.cmd('log.filter\terror')
        d.cmd('zz_hidden_cmd')              # logged at error: suppressed
        d.cmd('log.filter\twarning')
        d.cmd('zz_shown_cmd')               # shown
        i = d.log.expect(lambda l: 'zz_shown_cmd' in l)
        self.assertTrue(d.log.snapshot()[i].startswith('error: '))
        self.assertEqual(d.log.find(lambda l: 'zz_hidden_cmd' in l), -1)

    def test_filter_none_shows_debug(self):
        d = self.start()
        d.cmd('log.filter\tnone')
        d.cmd('echo\tdebug-visible-marker')
        d.log.expect(lambda l: l.startswith('debug: ') and 'debug-visible-marker' in l)

    def test_log_line_format(self):
        d = self.start('-vv')
        d.cmd('echo\tx', 'bad_cmd_fmt', 'chdir\t/nonexistent-dp', 'log.filter\tbogus')
        d.close_stdin()
        self.assertEqual(d.wait(), 0)
        lines = d.log.wait_eof()
        self.assertTrue(lines)
        for l in lines:
            self.assertRegex(l, LOG_LINE_RE)


class NonBlocking(DPTest):
    def flood_errors(self, c, count, name_len=1000):
        """count unknown commands (each logged at error level) in batches,
        reading the replies."""
        name = 'q' * name_len
        batch = 50
        for start in range(0, count, batch):
            n = min(batch, count - start)
            c.send(*['%s%d' % (name, start + i) for i in range(n)])
            for i in range(n):
                line = c.readline()
                self.assertTrue(line.startswith('error\t'), line[:100])

    def test_full_stderr_pipe_never_blocks_and_counts_lost(self):
        r, w = os.pipe()
        self.on_cleanup(lambda: os.close(r))
        try:
            fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
        except OSError:
            pass
        sock = self.path('nb.sock')
        d = self.start('-S', sock, interactive=False, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=w)
        os.close(w)
        c = self.connect(sock)
        c.ping()
        self.flood_errors(c, 2000)
        t0 = time.monotonic()
        c.ping()
        self.assertLess(time.monotonic() - t0, 3.0, 'echo must be prompt while the log is blocked')
        self.assertTrue(d.alive())
        # drain the pipe: eventually daemonproxy reports the lost messages
        os.set_blocking(r, False)
        data = b''
        deadline = time.monotonic() + TIMEOUT
        found = None
        while time.monotonic() < deadline and not found:
            sel, _, _ = select.select([r], [], [], 0.2)
            if sel:
                try:
                    chunk = os.read(r, 65536)
                except BlockingIOError:
                    chunk = b''
                data += chunk
            for line in data.split(b'\n'):
                if b'lost' in line and b'log messages' in line:
                    found = line
                    break
        self.assertTrue(found, 'no "lost N log messages" line; tail %r' % data[-500:])
        self.assertRegex(found.decode('latin-1'), r'lost \d+ log messages')
        c.ping()

    def test_dev_full_keeps_working_without_spinning(self):
        full = os.open('/dev/full', os.O_WRONLY)
        sock = self.path('full.sock')
        d = self.start('-S', sock, interactive=False, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=full)
        os.close(full)
        c = self.connect(sock)
        c.ping()
        cpu0 = d.cpu_seconds()
        self.flood_errors(c, 300, name_len=100)
        # a couple of seconds of light activity while writes keep failing
        t_end = time.monotonic() + 2.0
        n = 0
        while time.monotonic() < t_end:
            self.assertEqual(c.cmd1('bad_cmd_%d' % n)[:6], 'error\t')
            n += 1
            time.sleep(0.05)
        cpu = d.cpu_seconds() - cpu0
        self.assertLess(cpu, 0.5, 'daemonproxy used %.2fs CPU with stderr on /dev/full' % cpu)
        self.assertTrue(d.alive())


STRACE = shutil.which('strace')
WAIT_RE = re.compile(r'^epoll_p?wait\(.*\], \d+, (-?\d+)[,)].* = (-?\d+)')
TIME_RE = re.compile(r'^(\d+\.\d+) ')


def log_attempts(lines, tag):
    """From an strace -y (and -ttt, optionally) of write and epoll_wait:
    ('write', result, time) for each write to the fd strace shows as tag
    (e.g. '</dev/full>'), and ('wait', timeout, result, time) for each
    epoll_wait, in order (time None without -ttt)."""
    out = []
    for l in lines:
        t = TIME_RE.match(l)
        if t:
            l = l[t.end():]
        t = float(t.group(1)) if t else None
        if l.startswith(('write(', 'writev(')) and tag in l.split(',', 1)[0]:
            r = l.rsplit(' = ', 1)[-1].split()[0]
            # not "?" (unfinished at exit), nor a write of nothing: daemonproxy
            # never makes one, valgrind does at exit (make valgrind)
            if r.lstrip('-').isdigit() and r != '0':
                out.append(('write', int(r), t))
        else:
            m = WAIT_RE.match(l)
            if m:
                out.append(('wait', int(m.group(1)), int(m.group(2)), t))
    return out


class WritePacing(DPTest):
    """The log: a refused log write is retried only when the fd is writable or
    after ~0.5 s, never once per loop iteration; counted with strace."""

    def setUp(self):
        super().setUp()
        if not STRACE:
            self.skipTest('strace not installed')
        self.trace = self.path('trace.txt')

    def start_traced(self, stderr, calls='write,writev,pwrite64,pwritev', times=False):
        sock = self.path('trace.sock')
        # LeakSanitizer cannot run under ptrace: in a sanitizer build it
        # would abort at exit and turn a clean exit into code 4.
        env = dict(os.environ)
        env['ASAN_OPTIONS'] = ':'.join(filter(None, [env.get('ASAN_OPTIONS'), 'detect_leaks=0']))
        d = self.start('-S', sock, interactive=False, stdin=subprocess.DEVNULL, env=env,
                       stdout=subprocess.DEVNULL, stderr=stderr,
                       prefix=[STRACE, '-y', '-qq'] + (['-ttt'] if times else []) +
                       ['-e', 'trace=' + calls, '-o', self.trace])
        c = self.connect(sock)
        self.track_pid(c.peer_pid())   # the traced daemonproxy itself
        c.ping()
        return d, c

    def traced(self):
        try:
            with open(self.trace) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def finish(self, d, c):
        c.send('terminate\t0')
        self.assertEqual(d.wait(), 0)
        return self.traced()

    def wait_attempts(self, tag, n):
        """Wait until strace has seen n write attempts to the fd shown as tag."""
        def seen():
            return len([a for a in log_attempts(self.traced(), tag) if a[0] == 'write']) >= n
        wait_for(seen, msg='%d log write attempts to %s' % (n, tag))

    def check_retries(self, attempts, what):
        """After a refused write, the first retry comes as soon as the fd is
        reported writable (no timer in between: at once for /dev/full and a
        file, which poll() always calls writable); each later one when a
        timer of at most 0.5 s has expired (the original's LOG_RETRY_DELAY),
        as long as nothing else is logged."""
        writes = [i for i, a in enumerate(attempts) if a[0] == 'write']
        self.assertGreaterEqual(len(writes), 4, attempts)
        show = '%s: %r' % (what, attempts)
        for i in writes:
            self.assertLess(attempts[i][1], 0, 'every write fails: ' + show)
        first = [a for a in attempts[writes[0] + 1:writes[1]] if a[0] == 'wait']
        self.assertFalse([a for a in first if a[1] != 0 and a[2] == 0],
                         'the first retry must not wait for a timer: ' + show)
        for k in (1, 2):
            waits = [a for a in attempts[writes[k] + 1:writes[k + 1]] if a[0] == 'wait']
            self.assertTrue(waits, 'a later retry waits: ' + show)
            self.assertTrue(all(0 <= a[1] <= 500 for a in waits),
                            'retries at most 0.5 s apart: ' + show)
            self.assertEqual(waits[-1][2], 0, 'a later retry is due to the timer: ' + show)

    def test_first_retry_at_once_then_paced(self):
        # Every kind of destination that refuses writes while it says it is
        # writable: /dev/full (ENOSPC, cannot be polled), a regular file open
        # read-only (EBADF, cannot be polled), a pipe and a socket without
        # reader (EPIPE, polled: EPOLLERR).
        def dev_full():
            return os.open('/dev/full', os.O_WRONLY), '</dev/full>'

        def read_only_file():
            path = self.path('ro.log')
            with open(path, 'w'):
                pass
            return os.open(path, os.O_RDONLY), '<%s>' % path

        def closed_pipe():
            r, w = os.pipe()
            os.close(r)
            return w, '<pipe:[%d]>' % os.fstat(w).st_ino

        def closed_socket():
            import socket
            a, b = socket.socketpair()
            b.close()
            fd = a.detach()
            return fd, '<socket:[%d]>' % os.fstat(fd).st_ino

        for make in (dev_full, read_only_file, closed_pipe, closed_socket):
            with self.subTest(destination=make.__name__):
                fd, tag = make()
                d, c = self.start_traced(fd, 'write,epoll_wait,epoll_pwait')
                os.close(fd)
                self.assertEqual(c.cmd1('retry_%s' % make.__name__)[:6], 'error\t')
                self.wait_attempts(tag, 4)
                attempts = log_attempts(self.finish(d, c), tag)
                self.check_retries(attempts, make.__name__)

    def log_to_dev_full(self, count):
        """The original's t/283-log-dev-full.t: count unknown commands with
        the log on /dev/full, then log.dest to a new file, the filter to
        trace and an echo, in one go.  Returns the write attempts to
        /dev/full, the new file's text and the echo's marker."""
        full = os.open('/dev/full', os.O_WRONLY)
        d, c = self.start_traced(full, 'write,epoll_wait,epoll_pwait', times=True)
        os.close(full)
        for start in range(0, count, 100):
            n = min(100, count - start)
            c.send(*['invalid'] * n)
            for _ in range(n):
                self.assertEqual(c.readline(), 'error\tUnknown command: invalid')
        # the .t sleeps a second here: "at least 4 attempts" is what it sees
        self.wait_attempts('</dev/full>', 4)
        logf = self.path('new.log')
        mark = 'qwerty-%d' % os.getpid()
        self.assertEqual(c.cmd('fd.open\tlog.w\twrite,create\t' + logf),
                         ['fd.state\tlog.w\tfile\twrite,create\t' + logf])
        # what follows the switch comes in the same read: it finds the
        # buffer as the switch left it
        c.send('log.dest\tfd\tlog.w', 'log.filter\ttrace', 'echo\t' + mark)
        self.assertEqual(c.expect(mark), mark)
        attempts = log_attempts(self.finish(d, c), '</dev/full>')
        with open(logf) as f:
            return attempts, f.read(), mark

    def check_dev_full_attempts(self, attempts):
        writes = [a for a in attempts if a[0] == 'write']
        self.assertGreater(len(writes), 3, 'daemonproxy did retry the write')
        # The .t's "fewer than 10 in its ~1.5 s", as a rate that load can
        # only lower: after the first retry, one attempt per ~0.5 s at most.
        span = writes[-1][2] - writes[1][2]
        self.assertLessEqual(len(writes) - 2, 1 + span / 0.45,
                             'small number of attempts to write to fd 2 (%.2f s): %r'
                             % (span, writes))
        first, second = [i for i, a in enumerate(attempts) if a[0] == 'write'][:2]
        self.assertFalse([a for a in attempts[first:second] if a[0] == 'wait' and a[1] != 0
                          and a[2] == 0],
                         'the first retry must not wait for a timer: %r' % attempts)

    def test_dev_full_then_new_dest_no_overflow(self):
        attempts, text, mark = self.log_to_dev_full(5)
        self.check_dev_full_attempts(attempts)
        self.assertEqual(len(re.findall('unknown command', text, re.I)), 5, text)
        self.assertIn(mark, text)

    def test_dev_full_overflow_then_new_dest_gets_backlog_and_new_lines(self):
        attempts, text, mark = self.log_to_dev_full(500)
        self.assertRegex(text, r'lost \d+ log messages')
        # the switch wrote the backlog at once: what was logged right after
        # it found room (the filter change and the echo, at trace level)
        self.assertIn(mark, text)
        lines = text.splitlines()
        lost = [i for i, l in enumerate(lines) if re.search(r'lost \d+ log messages', l)]
        marks = [i for i, l in enumerate(lines) if mark in l]
        self.assertEqual(len(lost), 1, lines)
        self.assertLess(lost[0], marks[0], 'the count of what was lost comes before the '
                        'lines logged after the switch: %r' % lines[-6:])
        self.check_dev_full_attempts(attempts)

    def test_dev_full_retry_paced(self):
        full = os.open('/dev/full', os.O_WRONLY)
        d, c = self.start_traced(full)
        os.close(full)
        t_end = time.monotonic() + 2.0
        n = 0
        while time.monotonic() < t_end:
            c.cmd1('paced_bad_cmd_%d' % n)
            n += 1
            time.sleep(0.02)
        lines = self.finish(d, c)
        attempts = [l for l in lines if '</dev/full>' in l]
        self.assertGreater(n, 20)
        # about one attempt per 0.5 s (plus one per new burst at most a few)
        self.assertLessEqual(len(attempts), 10,
                             '%d write attempts to /dev/full for %d commands in 2 s:\n%s'
                             % (len(attempts), n, '\n'.join(attempts[:20])))

    def test_blocked_then_drained_pipe_few_writes(self):
        r, w = os.pipe()
        self.on_cleanup(lambda: os.close(r))
        ino = os.fstat(r).st_ino
        # fill the pipe completely before daemonproxy starts
        os.set_blocking(w, False)
        try:
            while True:
                os.write(w, b'#' * 4096)
        except BlockingIOError:
            pass
        try:
            while True:
                os.write(w, b'#')
        except BlockingIOError:
            pass
        os.set_blocking(w, True)
        d, c = self.start_traced(w)
        os.close(w)
        # many log lines while blocked, spread over many loop iterations
        for i in range(40):
            c.cmd('blocked_cmd_%d_%s' % (i, 'b' * 500))
        for i in range(10):
            c.send(*['overflowing_cmd_%d_%s' % (j, 'o' * 1000) for j in range(20)])
            for j in range(20):
                c.readline()
        # drain everything in big reads until the lost-messages line shows
        data = b''
        deadline = time.monotonic() + TIMEOUT
        while b'log messages' not in data:
            self.assertLess(time.monotonic(), deadline, 'no lost-messages line; tail %r' % data[-300:])
            if select.select([r], [], [], 0.2)[0]:
                data += os.read(r, 1 << 20)
        lines = self.finish(d, c)
        tag = '<pipe:[%d]>' % ino
        writes = [l for l in lines if tag in l]
        self.assertLess(len(writes), 6, '%d writes to the log pipe:\n%s'
                        % (len(writes), '\n'.join(w[:120] for w in writes)))

    def test_closed_pipe_paced_then_lost_count_on_new_dest(self):
        r, w = os.pipe()
        ino = os.fstat(w).st_ino
        os.close(r)             # the reader is gone: every write fails with EPIPE
        d, c = self.start_traced(w)
        os.close(w)
        t_end = time.monotonic() + 2.0
        n = 0
        while time.monotonic() < t_end:
            # long lines: more than the 16 KiB log buffer can keep
            self.assertEqual(c.cmd1('closed_pipe_bad_cmd_%d_%s' % (n, 'x' * 400))[:6], 'error\t')
            n += 1
            time.sleep(0.02)
        self.assertTrue(d.alive(), 'EPIPE must not kill daemonproxy')
        # what could not be written is counted and reported on the next
        # destination that works
        logf = self.path('after.log')
        self.assertEqual(c.cmd('fd.open\tlogf\twrite,create\t' + logf, 'log.dest\tfd\tlogf')
                         [1:], [])
        def lost_line():
            with open(logf) as f:
                return re.search(r'lost \d+ log messages', f.read())
        wait_for(lost_line, msg='lost-messages line in the new log destination')
        lines = self.finish(d, c)
        attempts = [l for l in lines if '<pipe:[%d]>' % ino in l]
        self.assertGreater(n, 20)
        self.assertLessEqual(len(attempts), 10,
                             '%d write attempts to a closed pipe for %d commands in 2 s:\n%s'
                             % (len(attempts), n, '\n'.join(attempts[:20])))
