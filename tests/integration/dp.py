"""Harness for daemonproxy integration tests (Python 3 standard library only).

Starts the real binary as a subprocess (usually interactive, ``-i``), reads
its event lines with timeouts, talks to its control socket, captures its
log (stderr), gives each test a temporary directory, and at the end kills
only the processes the test started (by PID).

Nothing here sleeps for a fixed time to wait for daemonproxy: reads wait on
the pipe/socket with select(), and conditions without an event (a socket
file appearing, a process exiting) are polled with a deadline.
"""

import errno
import fcntl
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import termios
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def binary():
    """Path of the daemonproxy under test ($DAEMONPROXY or build-test/)."""
    return os.environ.get('DAEMONPROXY') or os.path.join(REPO, 'build-test', 'daemonproxy')


def dplog_binary():
    """Path of the dplog under test ($DPLOG, else the dplog beside the
    daemonproxy under test: build-test/dplog, or dplog-static beside
    daemonproxy-static)."""
    if os.environ.get('DPLOG'):
        return os.environ['DPLOG']
    d = binary()
    suffix = '-static' if d.endswith('-static') else ''
    return os.path.join(os.path.dirname(d), 'dplog' + suffix)


# Default wait for anything daemonproxy should do promptly (loaded 2-core box).
TIMEOUT = float(os.environ.get('DP_TIMEOUT', '10'))

# `make valgrind` runs the suite with $DAEMONPROXY a valgrind wrapper and
# DP_VALGRIND a directory: valgrind's lines on daemonproxy's stderr go to
# DIR/vg.PID.log instead of the captured log, and every daemon run is noted
# in DIR/run.PID (see tests/valgrind_summary.py).
VALGRIND_DIR = os.environ.get('DP_VALGRIND')
VALGRIND_LINE = re.compile(rb'^==(\d+)== ')


if VALGRIND_DIR:
    # Services of a daemonproxy that ended at EOF are orphaned; as a child
    # subreaper this process gets them back and can end them (kill_orphans).
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)    # PR_SET_CHILD_SUBREAPER


def kill_orphans(keep=()):
    """Kill (by process group) and reap every child of this process that
    is not in keep: the services left behind by daemons that exited."""
    me = str(os.getpid())
    for pid in os.listdir('/proc'):
        if not pid.isdigit() or int(pid) in keep:
            continue
        try:
            with open('/proc/%s/stat' % pid) as f:
                ppid = f.read().rsplit(')', 1)[1].split()[1]
        except (OSError, IndexError):
            continue
        if ppid != me:
            continue
        pid = int(pid)
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError, PermissionError):
            pass


def slow_binary():
    """True when daemonproxy runs under a sanitizer or valgrind: memory
    and speed figures of such a run mean nothing."""
    if VALGRIND_DIR:
        return True
    with open(binary(), 'rb') as f:
        return b'__asan_init' in f.read()

LOG_LINE_RE = re.compile(r'^(trace|debug|info|warning|error|fatal): ')


class Timeout(AssertionError):
    pass


def enc(s):
    if isinstance(s, bytes):
        return s
    return s.encode('latin-1')


def dec(b):
    return b.decode('latin-1')


def matcher(pat):
    """str -> exact line; compiled regex -> search; callable -> predicate."""
    if callable(pat) and not isinstance(pat, re.Pattern):
        return pat
    if isinstance(pat, re.Pattern):
        return lambda line: line is not None and pat.search(line) is not None
    return lambda line: line == pat


def describe(pat):
    if isinstance(pat, re.Pattern):
        return 're:%r' % pat.pattern
    if callable(pat):
        return getattr(pat, '__name__', 'predicate')
    return repr(pat)


def wait_for(cond, timeout=TIMEOUT, msg='condition', interval=0.02):
    """Poll cond() until truthy (returned) or raise Timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise Timeout('timed out after %.1fs waiting for %s' % (timeout, msg))
        time.sleep(interval)


# ---------------------------------------------------------------------------
# line reading

class LineReader:
    """Buffered line reader on a pipe or socket fd, with timeouts."""

    def __init__(self, fd, name='stream'):
        self.fd = fd
        self.name = name
        self.buf = b''
        self.eof = False
        self.seen = []          # every line returned, for diagnostics

    def _fill(self, deadline):
        """Read more bytes; False on timeout.  Sets eof."""
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while True:
            remain = max(0.0, deadline - time.monotonic())
            try:
                ready = poller.poll(int(remain * 1000 + 0.999))
            except InterruptedError:
                continue
            if not ready:
                return False
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                continue
            except OSError as e:
                if e.errno not in (errno.ECONNRESET, errno.EPIPE):
                    raise
                data = b''      # a reset peer is EOF for a line reader
            if not data:
                self.eof = True
            else:
                self.buf += data
            return True

    def _take(self, end, skip):
        """Remove buf[:skip] and return buf[:end] as a seen line."""
        line = dec(self.buf[:end])
        self.buf = self.buf[skip:]
        self.seen.append(line)
        return line

    def readline(self, timeout=TIMEOUT):
        """Next line without its newline; None at EOF (a partial final line
        is returned as is).  Raises Timeout."""
        deadline = time.monotonic() + timeout
        while True:
            i = self.buf.find(b'\n')
            if i >= 0:
                return self._take(i, i + 1)
            if self.eof:
                return self._take(len(self.buf), len(self.buf)) if self.buf else None
            if not self._fill(deadline):
                raise Timeout('%s: no complete line within %.1fs (partial %r; recent %r)'
                              % (self.name, timeout, self.buf[:200], self.seen[-5:]))

    def read_eof(self, timeout=TIMEOUT):
        """Read until EOF; returns the remaining lines.  Raises Timeout."""
        lines = []
        while True:
            line = self.readline(timeout)
            if line is None:
                return lines
            lines.append(line)

    def available(self, timeout=0.0):
        """Lines readable within timeout (possibly none), no Timeout."""
        lines = []
        deadline = time.monotonic() + timeout
        while True:
            i = self.buf.find(b'\n')
            if i >= 0:
                lines.append(self._take(i, i + 1))
                continue
            if self.eof or not self._fill(deadline):
                return lines


_marker_count = [0]


def new_marker(prefix='mark'):
    _marker_count[0] += 1
    return '%s-%d-%d' % (prefix, os.getpid(), _marker_count[0])


# DP_FUZZ_RECORD=DIR: keep what each test sends (the first 4 KiB of it per
# test) as a seed for the fuzz target (tests/fuzz/corpus, see its README).
_record = {'dir': os.environ.get('DP_FUZZ_RECORD'), 'name': None, 'size': 0}


def record(data):
    if not _record['dir'] or not _record['name'] or _record['size'] >= 4096:
        return
    data = data[:4096 - _record['size']]
    _record['size'] += len(data)
    with open(os.path.join(_record['dir'], _record['name']), 'ab') as f:
        f.write(data)


class LineIO:
    """Line API shared by the interactive daemon and socket clients.
    Subclasses provide self.reader (LineReader) and _write(bytes)."""

    def send(self, *lines):
        """Send each line (str) with a '\\n' appended."""
        data = b''.join(enc(l) + b'\n' for l in lines)
        record(data)
        self._write(data)

    def send_raw(self, data):
        record(enc(data))
        self._write(enc(data))

    def readline(self, timeout=TIMEOUT):
        return self.reader.readline(timeout)

    def eof_context(self):
        """What a failure at end of file should show besides (the daemon's
        exit and log)."""
        return ''

    def expect(self, pat, timeout=TIMEOUT):
        """Read lines until one matches pat; other lines are collected in
        self.skipped.  Returns the matching line; raises Timeout (or
        AssertionError at EOF)."""
        m = matcher(pat)
        self.skipped = []
        deadline = time.monotonic() + timeout
        while True:
            remain = max(0.0, deadline - time.monotonic())
            try:
                line = self.reader.readline(remain)
            except Timeout:
                raise Timeout('%s: timed out after %.1fs waiting for %s; skipped %r'
                              % (self.reader.name, timeout, describe(pat), self.skipped[-20:]))
            if line is None:
                raise AssertionError('%s: EOF while waiting for %s; skipped %r%s'
                                     % (self.reader.name, describe(pat), self.skipped[-20:],
                                        self.eof_context()))
            if m(line):
                return line
            self.skipped.append(line)

    def cmd(self, *lines, timeout=TIMEOUT):
        """Send the lines followed by an echo marker; return every line
        received before the marker (replies and any events)."""
        mark = new_marker()
        self.send(*(list(lines) + ['echo\t' + mark]))
        self.expect(mark, timeout)
        return list(self.skipped)

    def resync(self, timeout=TIMEOUT):
        """statedump the way a controller must after `overflow` (docs/protocol.md,
        Flow control): while events are discarded, so are replies, so a dump that meets
        an `overflow` line is asked for again.  Returns the lines of the
        first complete one."""
        deadline = time.monotonic() + timeout

        def until(mark, *cmds):
            self.send(*(list(cmds) + ['echo\t' + mark]))
            return self.expect(lambda l: l in (mark, 'overflow'),
                               max(0.1, deadline - time.monotonic())) == mark
        while True:
            # first an echo alone: once it is back, the rest of any earlier
            # (interrupted) dump has gone by
            if until(new_marker()) and until(new_marker(), 'statedump'):
                return list(self.skipped)

    def cmd1(self, line, timeout=TIMEOUT):
        """Like cmd for one command expected to give exactly one line."""
        out = self.cmd(line, timeout=timeout)
        if len(out) != 1:
            raise AssertionError('expected exactly one reply to %r, got %r' % (line, out))
        return out[0]

    def ping(self, timeout=TIMEOUT):
        """Echo round trip."""
        self.cmd(timeout=timeout)

    def read_eof(self, timeout=TIMEOUT):
        return self.reader.read_eof(timeout)


# ---------------------------------------------------------------------------
# log capture

def divert_valgrind(lines):
    """Append valgrind's lines to DIR/vg.PID.log; return the others."""
    rest = []
    for l in lines:
        m = VALGRIND_LINE.match(l)
        if not m:
            rest.append(l)
            continue
        with open(os.path.join(VALGRIND_DIR, 'vg.%s.log' % m.group(1).decode()), 'ab') as f:
            f.write(l + b'\n')
    return rest


class LogCapture:
    """Collects lines from a pipe (daemonproxy's stderr) in a thread."""

    def __init__(self, fileobj):
        self.f = fileobj
        self.lines = []
        self.eof = False
        self.cond = threading.Condition()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        partial = b''
        try:
            fd = self.f.fileno()
            while True:
                data = os.read(fd, 65536)
                if not data:
                    break
                partial += data
                *full, partial = partial.split(b'\n')
                if VALGRIND_DIR:
                    full = divert_valgrind(full)
                if full:
                    with self.cond:
                        self.lines.extend(dec(l) for l in full)
                        self.cond.notify_all()
        except (OSError, ValueError):
            pass
        with self.cond:
            if partial:
                self.lines.append(dec(partial))
            self.eof = True
            self.cond.notify_all()
        # The reader thread owns the pipe: closing it from another thread
        # while a read may still be issued could let this thread read from
        # an unrelated pipe that reused the fd number.
        try:
            self.f.close()
        except OSError:
            pass

    def snapshot(self):
        with self.cond:
            return list(self.lines)

    def text(self):
        return '\n'.join(self.snapshot())

    def find(self, pat, start=0):
        """Index of the first captured line >= start matching pat, or -1."""
        m = matcher(pat)
        with self.cond:
            for i in range(start, len(self.lines)):
                if m(self.lines[i]):
                    return i
        return -1

    def expect(self, pat, timeout=TIMEOUT, start=0):
        """Wait for a line matching pat (searching from index start);
        returns its index."""
        m = matcher(pat)
        deadline = time.monotonic() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.lines):
                    if m(self.lines[i]):
                        return i
                    i += 1
                if self.eof:
                    raise AssertionError('log EOF while waiting for %s; log:\n%s'
                                         % (describe(pat), '\n'.join(self.lines[-30:])))
                remain = deadline - time.monotonic()
                if remain <= 0:
                    raise Timeout('log: timed out after %.1fs waiting for %s; log:\n%s'
                                  % (timeout, describe(pat), '\n'.join(self.lines[-30:])))
                self.cond.wait(remain)

    def wait_eof(self, timeout=TIMEOUT):
        with self.cond:
            if not self.cond.wait_for(lambda: self.eof, timeout):
                raise Timeout('log: no EOF within %.1fs' % timeout)
        return self.snapshot()


# ---------------------------------------------------------------------------
# the daemon process

class Daemon(LineIO):
    """A daemonproxy subprocess.  With interactive=True, '-i' is added and
    stdin/stdout are the controller."""

    def __init__(self, args=(), interactive=True, stdin=subprocess.PIPE,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(),
                 cwd=None, env=None, prefix=(), exe=None, **popen_kw):
        argv = list(prefix) + [exe or binary()] + (['-i'] if interactive else []) + list(args)
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr,
                                     pass_fds=tuple(pass_fds), cwd=cwd, env=env,
                                     close_fds=True, **popen_kw)
        self.pid = self.proc.pid
        self.reader = None
        self.log = None
        if stdout == subprocess.PIPE:
            self.reader = LineReader(self.proc.stdout.fileno(), 'daemon stdout')
        if stderr == subprocess.PIPE:
            self.log = LogCapture(self.proc.stderr)

    def _write(self, data):
        view = memoryview(data)
        while view:
            # fileno() each time: raises once cleanup closed stdin, so a
            # writer thread never writes into a reused fd number
            n = os.write(self.proc.stdin.fileno(), view)
            view = view[n:]

    def close_stdin(self):
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()

    def eof_context(self):
        try:
            code = self.proc.wait(2)
        except subprocess.TimeoutExpired:
            code = 'still running'
        log = self.log.text()[-3000:] if self.log else '(not captured)'
        return '\ndaemonproxy pid %d: exit %s; its log: %s' % (self.pid, code, log)

    def alive(self):
        return self.proc.poll() is None

    def wait(self, timeout=TIMEOUT):
        """Wait for exit; returns the exit status (negative = signal)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Timeout('daemonproxy pid %d did not exit within %.1fs' % (self.pid, timeout))

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def end_at_eof(self):
        """Valgrind runs: end daemonproxy normally where EOF does (-i,
        -c -), so valgrind gets to its leak check."""
        if self.alive() and self.proc.stdin and not self.proc.stdin.closed:
            self.close_stdin()
            try:
                self.proc.wait(TIMEOUT)
                self.ended = 'exited at EOF'
            except subprocess.TimeoutExpired:
                pass

    def cleanup(self):
        how = getattr(self, 'ended', 'exited')
        if VALGRIND_DIR and self.alive():
            self.end_at_eof()
            how = getattr(self, 'ended', 'killed')
        if VALGRIND_DIR:
            with open(os.path.join(VALGRIND_DIR, 'run.%d' % self.pid), 'w') as f:
                f.write('%s\t%s\t%s\n' % (how, self.proc.poll(),
                                          'stderr captured' if self.log else 'stderr elsewhere'))
        self.kill(signal.SIGKILL)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        files = [self.proc.stdin, self.proc.stdout]
        if self.log is None:
            files.append(self.proc.stderr)
        else:
            # closed by the capture thread at EOF (see LogCapture._run)
            self.log.t.join(2)
        for f in files:
            try:
                if f:
                    f.close()
            except OSError:
                pass

    # /proc helpers
    def rss_kb(self):
        return proc_rss_kb(self.pid)

    def cpu_seconds(self):
        return proc_cpu_seconds(self.pid)

    def fd_count(self):
        return len(os.listdir('/proc/%d/fd' % self.pid))


def proc_rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def proc_stat_fields(pid):
    with open('/proc/%d/stat' % pid) as f:
        s = f.read()
    # fields after the ")" of comm; index 0 is the state (field 3)
    return s[s.rindex(')') + 2:].split()


def proc_cpu_seconds(pid):
    fl = proc_stat_fields(pid)
    ticks = int(fl[11]) + int(fl[12])      # utime, stime (fields 14, 15)
    return ticks / os.sysconf('SC_CLK_TCK')


def proc_alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        return proc_stat_fields(pid)[0] != 'Z'
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


# ---------------------------------------------------------------------------
# control-socket client

class Client(LineIO):
    def __init__(self, path, timeout=TIMEOUT, rcvbuf=None):
        self.path = path
        deadline = time.monotonic() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            if rcvbuf:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            try:
                s.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                if time.monotonic() >= deadline:
                    raise Timeout('cannot connect to %s within %.1fs' % (path, timeout))
                time.sleep(0.02)
        self.sock = s
        self.reader = LineReader(s.fileno(), 'client %s' % os.path.basename(path))

    def _write(self, data):
        self.sock.sendall(data)

    def peer_pid(self):
        cred = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize('3i'))
        return struct.unpack('3i', cred)[0]

    def inq(self):
        """Bytes waiting to be read on the socket (FIONREAD)."""
        buf = fcntl.ioctl(self.sock.fileno(), termios.FIONREAD, b'\0\0\0\0')
        return struct.unpack('i', buf)[0] + len(self.reader.buf)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def try_connect(path):
    """True if a connection to path succeeds right now."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


# ---------------------------------------------------------------------------
# exit-exec helpers

def exit_exec_args(outfile):
    """An -E / terminate.exec_args argv (list) that records the exit code,
    its own PID and the error message in outfile."""
    script = ('printf "%s\\n%s\\n%s" "${DAEMONPROXY_EXITCODE-UNSET}" "$$" '
              '"${DAEMONPROXY_ERROR-UNSET}" > ' + outfile + '.tmp && mv ' +
              outfile + '.tmp ' + outfile)
    return ['/bin/sh', '-c', script]


def read_exit_exec(outfile, timeout=TIMEOUT):
    """Wait for the record written by exit_exec_args; returns
    (code, error, pid)."""
    wait_for(lambda: os.path.exists(outfile), timeout, 'exit-exec record %s' % outfile)
    with open(outfile) as f:
        code, pid, err = f.read().split('\n', 2)
    return code, err, int(pid)


# ---------------------------------------------------------------------------
# test base class

class DPTest(unittest.TestCase):
    """Base class: temp dir per test, process tracking and cleanup."""

    maxDiff = 4000

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='dpt')
        _record['name'], _record['size'] = self.id(), 0
        self._daemons = []
        self._pids = []
        self._closers = []
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        if VALGRIND_DIR:
            for d in self._daemons:
                d.end_at_eof()
            kill_orphans(keep={d.pid for d in self._daemons if d.alive()})
        for c in self._closers:
            try:
                c()
            except Exception:
                pass
        for d in self._daemons:
            d.cleanup()
        for pid in self._pids:
            kill_pid_if_ours(pid)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def write_file(self, name, content, mode='w'):
        p = self.path(name)
        with open(p, mode) as f:
            f.write(content)
        if name.endswith('.conf'):
            record(enc(content))
        return p

    def start(self, *args, **kw):
        """Start daemonproxy (interactive unless interactive=False)."""
        d = Daemon(args, **kw)
        self._daemons.append(d)
        return d

    def track_pid(self, pid):
        """Kill this PID (if still a daemonproxy) at cleanup."""
        self._pids.append(pid)

    def connect(self, path, **kw):
        c = Client(path, **kw)
        self._closers.append(c.close)
        return c

    def on_cleanup(self, fn):
        self._closers.append(fn)

    def run_dp(self, args, timeout=TIMEOUT, **kw):
        """Run daemonproxy to completion; returns (code, stdout, stderr)."""
        p = subprocess.Popen([binary()] + list(args), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise Timeout('daemonproxy %r did not finish within %.1fs' % (args, timeout))
        return p.returncode, dec(out), dec(err)

    # assertions
    def assertError(self, line, *substrings):
        self.assertTrue(line is not None and line.startswith('error\t'),
                        'expected an error line, got %r' % (line,))
        for s in substrings:
            self.assertIn(s, line)

    def assertCmdError(self, io, command, *substrings):
        """command must give exactly one reply, an error containing the
        substrings."""
        out = io.cmd(command)
        self.assertEqual(len(out), 1, 'expected one error reply to %r, got %r' % (command, out))
        self.assertError(out[0], *substrings)
        return out[0]

    def assertSilent(self, io, command):
        """command must succeed without any reply."""
        out = io.cmd(command)
        self.assertEqual(out, [], 'expected no reply to %r' % (command,))


def kill_pid_if_ours(pid):
    """SIGKILL pid if it still runs a daemonproxy (guards against reuse)."""
    try:
        exe = os.readlink('/proc/%d/exe' % pid)
    except OSError:
        return
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            cmd = f.read()
    except OSError:
        cmd = b''
    if 'daemonproxy' in exe or b'daemonproxy' in cmd:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
