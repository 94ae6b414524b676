"""docs/protocol.md, Readiness, the fd store and containment: Containment.

- Subreaper: a process that a service double-forks is reparented to
  daemonproxy (an ordinary process here; PID 1 is test_pid1_reap's), reaped
  by it and reported as `orphan TS PID exit CODE -` or `orphan TS PID signal
  SIGNAME -`, never as a service.
- MAINPID: an orphan whose pid a service announced with `MAINPID=` (sd_notify,
  `service.opts NAME notify`) names that service in its `orphan` event, also
  after the service's own process has gone down.
- A burst of 10,000 orphans exiting together: a reading controller gets
  exactly one `orphan` event for each of them, no `overflow`, and its echo
  sent in the middle of the burst is answered.
- Cgroups (`--cgroup DIR`, needs a writable cgroup v2 mount, so root): each
  service runs in DIR/NAME.service with everything it forks; `service.signal NAME SIG
  cgroup` reaches every process in it (SIGKILL too, after the main process
  has exited and left a grandchild behind); `service.cgroup NAME TS
  empty|populated` events and statedump lines; `service.delete` removes
  DIR/NAME.service.  Without `--cgroup`, `cgroup` is an error.
- Nested cgroups: a process the service moved into a cgroup two levels
  below its own (and that is no descendant of it) is still the service's:
  `service.signal ... cgroup` reaches it (SIGTERM one by one, SIGKILL
  through cgroup.kill), its notification and its MAINPID= are accepted,
  it keeps the cgroup populated, and `service.delete` removes the nested
  cgroups with the service's.

Every process a test causes is killed at cleanup (the daemon's children by
SvcTest, the rest by pid or through cgroup.kill), and every cgroup directory
is removed, also when a test fails.
"""

import errno
import fcntl
import os
import re
import resource
import shutil
import signal
import subprocess
import time

from dp import TIMEOUT, VALGRIND_DIR, Timeout, dec, new_marker, proc_stat_fields, wait_for
from svc_util import PY, SvcTest, children, cmdline, mono

HERE = os.path.dirname(os.path.abspath(__file__))
PROGS = os.path.join(HERE, 'progs')
CC = shutil.which('cc') or shutil.which('gcc') or shutil.which('clang')

F_SETPIPE_SZ = getattr(fcntl, 'F_SETPIPE_SZ', 1031)
ORPHAN_RE = re.compile(r'^orphan\t(\d+)\t(\d+)\t(exit|signal)\t([^\t]+)\t([^\t]+)$')
CGROUP_EV_RE = re.compile(r'^service\.cgroup\t([^\t]+)\t(\d+)\t(empty|populated)$')


def ppid(pid):
    """Parent pid of pid (None once it is gone)."""
    try:
        return int(proc_stat_fields(pid)[1])
    except (OSError, IndexError, ValueError):
        return None


def orphan_of(pid):
    """Predicate: the orphan event of pid."""
    def pred(line):
        m = ORPHAN_RE.match(line)
        return bool(m) and m.group(2) == str(pid)
    pred.__name__ = 'orphan event of pid %d' % pid
    return pred


def state_of(name, state):
    prefix = 'service.state\t%s\t%s\t' % (name, state)

    def pred(line):
        return line.startswith(prefix)
    pred.__name__ = 'service.state %s %s' % (name, state)
    return pred


def cgroup_event(name, what):
    def pred(line):
        m = CGROUP_EV_RE.match(line)
        return bool(m) and m.group(1) == name and m.group(3) == what
    pred.__name__ = 'service.cgroup %s %s' % (name, what)
    return pred


class ContainmentTest(SvcTest):

    def gather(self, io, preds, since=None, timeout=TIMEOUT):
        """Wait until each predicate of preds (a dict key -> predicate) has
        matched a line: first the lines io has read since index `since` of
        io.reader.seen (events an earlier expect() or cmd() passed over),
        then new ones.  Returns key -> its first matching line."""
        found = {}

        def match(line):
            for k, p in preds.items():
                if k not in found and p(line):
                    found[k] = line
        if since is not None:
            for line in io.reader.seen[since:]:
                match(line)
        deadline = time.monotonic() + timeout
        while len(found) < len(preds):
            try:
                line = io.readline(max(0.0, deadline - time.monotonic()))
            except Timeout:
                line = False
            if line is None or line is False:
                raise Timeout('%s waiting for %s; found %r; last lines %r' % (
                    'EOF' if line is None else 'timed out after %.1fs' % timeout,
                    sorted(map(str, set(preds) - set(found))), found, io.reader.seen[-20:]))
            match(line)
        return found

    def check_ts(self, ts, t0, t1):
        """ts (a string) is a whole CLOCK_MONOTONIC second between the
        readings t0 and t1 of the same clock (less one second: the loop
        may stamp with the time it woke up at)."""
        self.assertRegex(ts, r'^\d+$')
        self.assertLessEqual(int(t0) - 1, int(ts))
        self.assertLessEqual(int(ts), int(t1) + 1)

    def check_orphan(self, line, pid, reason, value, service='-'):
        m = ORPHAN_RE.match(line)
        self.assertIsNotNone(m, 'orphan event has 6 fields: %r' % line)
        self.assertEqual(m.groups()[1:], (str(pid), reason, value, service), line)
        return m

    def track_sleep(self, pid):
        """Kill pid at cleanup (once it runs `sleep 1000`, checked then)."""
        wait_for(lambda: cmdline(pid) == [b'sleep', b'1000'], msg='pid %d runs sleep 1000' % pid)
        self.kill_at_cleanup(pid, 'sleep')

    def no_service_state_for(self, io, pids):
        """No service.state line read so far carries one of pids."""
        pids = {str(p) for p in pids}
        bad = [l for l in io.reader.seen
               if l.startswith('service.state\t') and l.split('\t')[4] in pids]
        self.assertEqual(bad, [], 'orphans must never be reported as services')


# ---------------------------------------------------------------------------

class Subreaper(ContainmentTest):

    def test_double_forked_processes_reaped_as_orphans(self):
        d = self.start()
        fifo = self.path('release')
        os.mkfifo(fifo, 0o600)
        pids = self.path('gc.pids')
        # main sh -> subshell -> {sleep, subshell waiting on the FIFO}; the
        # middle subshell exits at once, so both grandchildren are orphans
        script = ('( sleep 1000 & a=$!; (read x < %s; exit 7) & echo "$a $!" > %s.tmp; '
                  'mv %s.tmp %s ); exit 0' % (fifo, pids, pids, pids))
        self.define(d, 'df', ['sh', '-c', script])
        t0 = mono()
        main = self.start_svc(d, 'df')
        down = self.expect_state(d, 'df', 'down')
        self.assertEqual(down[4:7], [str(main), 'exit', '0'], down)
        sleeper, waiter = [int(x) for x in self.wait_text(pids).split()]
        self.track_sleep(sleeper)
        self.kill_at_cleanup(waiter)
        for gc in (sleeper, waiter):
            wait_for(lambda: ppid(gc) == d.pid, msg='pid %d reparented to daemonproxy %d (ppid %s)'
                     % (gc, d.pid, ppid(gc)))
        # nothing is reported for them while they run
        out = d.cmd()
        self.assertEqual([l for l in out if l.startswith('orphan\t')], [], out)
        # one ends on a signal ...
        os.kill(sleeper, signal.SIGTERM)
        line = d.expect(lambda l: l.startswith('orphan\t'))
        self.check_orphan(line, sleeper, 'signal', 'SIGTERM')
        self.check_ts(line.split('\t')[1], t0, mono())
        wait_for(lambda: not os.path.exists('/proc/%d' % sleeper), msg='pid %d reaped' % sleeper)
        # ... the other exits on its own, with a code
        fd = wait_for(lambda: self.open_writer(fifo), msg='the FIFO reader')
        os.write(fd, b'go\n')
        os.close(fd)
        line = d.expect(lambda l: l.startswith('orphan\t'))
        self.check_orphan(line, waiter, 'exit', '7')
        self.check_ts(line.split('\t')[1], t0, mono())
        wait_for(lambda: not os.path.exists('/proc/%d' % waiter), msg='pid %d reaped' % waiter)
        # never a service: no service.state for them, and the service's
        # last run is still its own main process
        st = self.dump_state(d, 'df')
        self.assertEqual(st[2:7], ['down', down[3], str(main), 'exit', '0'], st)
        self.no_service_state_for(d, (sleeper, waiter))
        self.assertEqual(children(d.pid), [], 'nothing left unreaped')

    @staticmethod
    def open_writer(path):
        try:
            return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno == errno.ENXIO:      # no reader yet
                return None
            raise

    def test_orphan_of_a_running_service(self):
        # a child of a service that is still up becomes an orphan when its
        # parent (not the service's main process) exits
        d = self.start()
        pidf = self.path('gc.pid')
        script = ('( sleep 1000 & echo $! > %s.tmp; mv %s.tmp %s ); exec sleep 1000'
                  % (pidf, pidf, pidf))
        self.define(d, 'up1', ['sh', '-c', script])
        main = self.start_svc(d, 'up1')
        gc = int(self.wait_text(pidf).strip())
        self.track_sleep(gc)
        wait_for(lambda: ppid(gc) == d.pid, msg='pid %d reparented to daemonproxy' % gc)
        os.kill(gc, signal.SIGKILL)
        self.check_orphan(d.expect(lambda l: l.startswith('orphan\t')), gc, 'signal', 'SIGKILL')
        # the service is untouched
        st = self.dump_state(d, 'up1')
        self.assertEqual(st[2], 'up', st)
        self.assertEqual(st[4], str(main), st)
        d.send('service.signal\tup1\tSIGTERM')
        self.assertEqual(self.expect_state(d, 'up1', 'down')[4:7],
                         [str(main), 'signal', 'SIGTERM'])
        self.no_service_state_for(d, (gc,))


# ---------------------------------------------------------------------------

# A notify service: forks a "daemon" (exec sleep), announces it with
# MAINPID= and READY=1, then exits 0 when daemonproxy relays SIGUSR1.
MAINPID_SVC = r'''
import os, signal, socket
signal.signal(signal.SIGUSR1, lambda *a: os._exit(0))
addr = os.environ['NOTIFY_SOCKET']
if addr.startswith('@'):
    addr = '\0' + addr[1:]
child = os.fork()
if child == 0:
    os.execvp('sleep', ['sleep', '1000'])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b'MAINPID=%d\nREADY=1' % child, addr)
while True:
    signal.pause()
'''


class MainPid(ContainmentTest):

    def test_orphan_names_the_service_that_announced_it(self):
        d = self.start()
        script = self.script('mainpid.py', MAINPID_SVC)
        self.define(d, 'mp', [PY, script])
        out = d.cmd('service.opts\tmp\tnotify')
        self.assertEqual(out, ['service.opts\tmp\tnotify'])
        t0 = mono()
        since = len(d.reader.seen)
        main = self.start_svc(d, 'mp')
        line = self.gather(d, {'n': lambda l: l.startswith('service.notify\tmp\t')}, since)['n']
        f = line.split('\t')
        self.assertEqual(len(f), 6, line)
        self.check_ts(f[2], t0, mono())
        self.assertEqual(f[3], str(main), 'the sender is the main process: %r' % line)
        self.assertRegex(f[4], r'^MAINPID=\d+$', line)
        self.assertEqual(f[5], 'READY=1', line)
        child = int(f[4].split('=', 1)[1])
        self.track_sleep(child)
        self.assertEqual(ppid(child), main)
        # the announcing process exits; its child stays
        d.send('service.signal\tmp\tSIGUSR1')
        down = self.expect_state(d, 'mp', 'down')
        self.assertEqual(down[4:7], [str(main), 'exit', '0'], down)
        wait_for(lambda: ppid(child) == d.pid, msg='the announced pid reparented to daemonproxy')
        # ... until it is killed: an orphan of service mp
        out = d.cmd()
        self.assertEqual([l for l in out if l.startswith('orphan\t')], [], out)
        os.kill(child, signal.SIGKILL)
        self.check_orphan(d.expect(orphan_of(child)), child, 'signal', 'SIGKILL', 'mp')
        self.no_service_state_for(d, (child,))
        self.assertEqual(children(d.pid), [])


# ---------------------------------------------------------------------------

N_BURST = 1000 if VALGRIND_DIR else 10000


def tasks_now():
    """Tasks (threads) that exist on the machine now (/proc/loadavg)."""
    with open('/proc/loadavg') as f:
        return int(f.read().split()[3].split('/')[1])


def read_int(path):
    try:
        with open(path) as f:
            v = f.read().strip()
    except OSError:
        return None
    return None if v == 'max' else int(v)


def pids_limits():
    """(limit, current) of every pids controller level above this process,
    cgroup v1 and v2."""
    mounts = {}
    with open('/proc/self/mountinfo') as f:
        for line in f:
            pre, _, post = line.partition(' - ')
            fields, fs = pre.split(), post.split()
            if fs[0] == 'cgroup2':
                mounts['v2'] = (fields[3], unescape(fields[4]))
            elif fs[0] == 'cgroup' and 'pids' in fs[2].split(','):
                mounts['pids'] = (fields[3], unescape(fields[4]))
    out = []
    with open('/proc/self/cgroup') as f:
        for line in f:
            hid, ctrls, path = line.rstrip('\n').split(':', 2)
            key = 'v2' if hid == '0' else ('pids' if 'pids' in ctrls.split(',') else None)
            if key not in mounts:
                continue
            root, mnt = mounts[key]
            rel = os.path.relpath(path, root) if path.startswith(root) else path.lstrip('/')
            d = os.path.normpath(os.path.join(mnt, rel))
            while d.startswith(mnt):
                lim = read_int(os.path.join(d, 'pids.max'))
                cur = read_int(os.path.join(d, 'pids.current'))
                if lim is not None:
                    out.append((lim, cur or 0))
                if d == mnt:
                    break
                d = os.path.dirname(d)
    return out


def unescape(s):
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    return re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)), s)


def nproc_exempt():
    """RLIMIT_NPROC does not apply: real uid 0, CAP_SYS_RESOURCE or
    CAP_SYS_ADMIN (kernel/fork.c)."""
    if os.getuid() == 0:
        return True
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('CapEff:'):
                caps = int(line.split()[1], 16)
                return bool(caps & (1 << 24 | 1 << 21))
    return False


def burst_room(n):
    """None if this machine can hold n more processes, else why not."""
    margin = 2000
    with open('/proc/sys/kernel/pid_max') as f:
        pid_max = int(f.read())
    with open('/proc/sys/kernel/threads-max') as f:
        threads_max = int(f.read())
    now = tasks_now()
    if pid_max - now < n + margin:
        return 'kernel.pid_max is %d with %d tasks running' % (pid_max, now)
    if threads_max - now < n + margin:
        return 'kernel.threads-max is %d with %d tasks running' % (threads_max, now)
    soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    if soft != resource.RLIM_INFINITY and not nproc_exempt():
        mine = 0
        for p in os.listdir('/proc'):
            try:
                if p.isdigit() and os.stat('/proc/' + p).st_uid == os.getuid():
                    mine += len(os.listdir('/proc/%s/task' % p))
            except OSError:
                pass
        if soft - mine < n + margin:
            return 'RLIMIT_NPROC is %d with %d tasks of this uid' % (soft, mine)
    for lim, cur in pids_limits():
        if lim - cur < n + margin:
            return 'a pids cgroup limit of %d (%d in use)' % (lim, cur)
    with open('/proc/meminfo') as f:
        avail = dict(l.split(':', 1) for l in f).get('MemAvailable', '0 kB')
    avail_kb = int(avail.split()[0])
    need_kb = n * 64 + 256 * 1024       # about 30 kB per task, measured
    if avail_kb < need_kb:
        return 'MemAvailable is %d kB, want %d kB' % (avail_kb, need_kb)
    return None


def compile_prog(test, name):
    """Compile tests/integration/progs/NAME.c into the test's temp dir."""
    if not CC:
        test.skipTest('no C compiler (cc) to build progs/%s.c' % name)
    exe = test.path(name)
    r = subprocess.run([CC, '-O1', '-o', exe, os.path.join(PROGS, name + '.c')],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    test.assertEqual(r.returncode, 0, 'compiling progs/%s.c:\n%s' % (name, dec(r.stdout)))
    return exe


def take_lines(reader, timeout):
    """Every complete line that is or becomes readable (at least one, or
    Timeout), without LineReader's per-line copying: 10,000 lines at once."""
    if b'\n' not in reader.buf:
        deadline = time.monotonic() + timeout
        while b'\n' not in reader.buf:
            if reader.eof:
                raise AssertionError('%s: EOF (partial %r)' % (reader.name, reader.buf[:200]))
            if not reader._fill(deadline):
                raise Timeout('%s: nothing for %.1fs' % (reader.name, timeout))
    i = reader.buf.rfind(b'\n')
    data, reader.buf = reader.buf[:i], reader.buf[i + 1:]
    return dec(data).split('\n')


class OrphanBurst(ContainmentTest):

    def test_10000_orphans_exit_at_once(self):
        n = N_BURST
        why = burst_room(n)
        if why:
            self.skipTest('cannot hold %d more processes: %s' % (n, why))
        exe = compile_prog(self, 'orphan_burst')
        d = self.start()
        # Room in the event stream for the whole burst (10,000 lines of
        # about 40 bytes), as a controller that expects bursts would give
        # itself: whether a 64 KiB pipe overflows depends on how soon this
        # process's reader thread gets a CPU, which on a loaded 2-core box
        # is nothing daemonproxy controls (it happened in CI, with another
        # module's crash-loop storm running beside this one).
        try:
            fcntl.fcntl(d.proc.stdout.fileno(), F_SETPIPE_SZ, 1 << 20)
        except OSError:
            pass
        pidfile = self.path('burst.pids')
        self.define(d, 'burst', [exe, str(n), pidfile])
        main = self.start_svc(d, 'burst')
        text = self.wait_text(pidfile, timeout=TIMEOUT * 3,
                              msg='%d grandchildren created (%s)' % (n, pidfile))
        pids = [int(x) for x in text.split()]
        self.assertEqual(len(pids), n)
        self.assertEqual(len(set(pids)), n)
        parents = {}
        for p in pids:
            parents.setdefault(ppid(p), []).append(p)
        self.assertEqual(list(parents), [d.pid], 'all %d reparented to daemonproxy %d, '
                         'not %r' % (n, d.pid, sorted(k for k in parents if k != d.pid)))
        self.assertEqual([l for l in d.cmd() if l.startswith('orphan\t')], [])

        # release them all at once; echo once the first orphan has come
        d.send('service.signal\tburst\tSIGUSR1')
        mark = new_marker('burst')
        orphans = {}            # pid -> (value, service)
        dup, bad, others = [], [], []
        echo_at = None          # orphans received before the echo's answer
        echo_sent = False
        down = None
        while len(orphans) < n or echo_at is None or down is None:
            # a deadline on progress, not on the whole burst
            try:
                lines = take_lines(d.reader, TIMEOUT)
            except Timeout:
                self.fail('stalled: %d of %d orphan events, echo %s, down %r; last %r'
                          % (len(orphans), n, 'answered' if echo_at is not None else
                             ('sent' if echo_sent else 'not sent'), down, others[-10:]))
            for line in lines:
                m = ORPHAN_RE.match(line)
                if m:
                    pid = int(m.group(2))
                    if pid in orphans:
                        dup.append(line)
                    elif (m.group(3), m.group(4), m.group(5)) != ('exit', '0', '-'):
                        bad.append(line)
                    orphans[pid] = m.groups()[2:]
                    if not echo_sent:
                        d.send('echo\t' + mark)
                        echo_sent = True
                elif line == 'overflow':
                    self.fail('overflow after %d of %d orphan events' % (len(orphans), n))
                elif line == mark:
                    self.assertIsNone(echo_at, 'the echo is answered once')
                    echo_at = len(orphans)
                elif line.startswith('service.state\tburst\tdown\t'):
                    down = line.split('\t')
                else:
                    others.append(line)
        print('orphan burst: %d orphan events, the echo sent after the first answered after %d'
              % (n, echo_at))
        self.assertNotIn('overflow', others)
        self.assertEqual([l for l in others if l.startswith(('error', 'warning'))], [])
        self.assertEqual(dup, [], 'one orphan event per process')
        self.assertEqual(bad, [], 'each exited with status 0 and announced by no service')
        self.assertEqual(set(orphans), set(pids))
        self.assertEqual(down[4:7], [str(main), 'exit', '0'], down)
        # only orphan events and the service's own down: nothing for the
        # grandchildren as services
        self.assertEqual([l for l in others if l.startswith('service.state')], [], others[:20])
        self.assertEqual(children(d.pid), [], 'every orphan reaped, no zombie left')
        d.ping()


# ---------------------------------------------------------------------------

def cgroup2_mount():
    """(mount point, root) of the first cgroup v2 mount, or None."""
    with open('/proc/self/mountinfo') as f:
        for line in f:
            pre, _, post = line.partition(' - ')
            if post.split()[:1] == ['cgroup2']:
                fields = pre.split()
                return unescape(fields[4]), unescape(fields[3])
    return None


def cg_populated(path):
    try:
        with open(os.path.join(path, 'cgroup.events')) as f:
            for line in f:
                k, v = line.split()
                if k == 'populated':
                    return v == '1'
    except OSError:
        return False
    return False


def cg_procs(path):
    try:
        with open(os.path.join(path, 'cgroup.procs')) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def v2_cgroup_of(pid):
    """The cgroup v2 path of pid (the "0::" line), or None."""
    try:
        with open('/proc/%d/cgroup' % pid) as f:
            for line in f:
                if line.startswith('0::'):
                    return line[3:].rstrip('\n')
    except OSError:
        pass
    return None


def remove_cgroup_tree(top):
    """Kill every process under top, then remove top and every cgroup
    below it (bottom up, by directory fds: a service may nest deeper than
    a path can say).  For cleanup: never raises."""
    if not os.path.isdir(top):
        return
    try:
        with open(os.path.join(top, 'cgroup.kill'), 'w') as f:
            f.write('1')
    except OSError:
        for _, _, _, dfd in os.fwalk(top):
            try:
                with open(os.open('cgroup.procs', os.O_RDONLY, dir_fd=dfd)) as f:
                    pids = [int(x) for x in f.read().split()]
            except OSError:
                continue
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
    try:
        wait_for(lambda: not cg_populated(top), TIMEOUT, 'cgroup %s empty' % top)
    except Timeout:
        pass

    def rmdir(name, dir_fd=None):
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                os.rmdir(name, dir_fd=dir_fd)
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() >= deadline:
                    print('could not remove cgroup %s (%s below %s)' % (name, dir_fd, top))
                    return
                time.sleep(0.05)
    try:
        for _, dirs, _, dfd in os.fwalk(top, topdown=False):
            for name in dirs:
                rmdir(name, dfd)
    except OSError:
        pass
    rmdir(top)


class CgroupTest(ContainmentTest):
    """A cgroup v2 directory for --cgroup, made for the test and removed
    after it (skipped where that is not possible)."""

    def setUp(self):
        # registered before SvcTest's cleanup, so it runs after it: the
        # daemon is dead (no restart, no mkdir) when the tree is removed
        self.cg = None
        self.addCleanup(self._remove_cgroups)
        super().setUp()
        found = cgroup2_mount()
        if not found:
            self.skipTest('no cgroup v2 mount')
        mnt = found[0]
        if not os.access(mnt, os.W_OK):
            self.skipTest('cgroup v2 mount %s is not writable (needs root)' % mnt)
        name = 'dpt-%d-%s' % (os.getpid(), os.path.basename(self.tmp))
        cg = os.path.join(mnt, name)
        try:
            os.mkdir(cg)
        except OSError as e:
            self.skipTest('cannot create a cgroup in %s: %s' % (mnt, e))
        self.cg = cg
        self.cg_name = name
        if not os.path.exists(os.path.join(cg, 'cgroup.kill')):
            self.skipTest('no cgroup.kill (Linux < 5.14)')

    def _remove_cgroups(self):
        if self.cg:
            remove_cgroup_tree(self.cg)

    def start_cg(self):
        """daemonproxy -i --cgroup DIR, answering."""
        d = self.start('--cgroup', self.cg)
        try:
            d.ping()
        except (OSError, AssertionError) as e:
            if not d.alive():
                try:
                    d.log.wait_eof(TIMEOUT)
                except Timeout:
                    pass
            self.fail('daemonproxy --cgroup %s did not come up (%s: %s); exit status %s; log:\n%s'
                      % (self.cg, type(e).__name__, e, d.proc.poll(), d.log.text()))
        return d

    def in_cg(self, pid, svc):
        """pid's cgroup is DIR/svc (as /proc/PID/cgroup shows it)."""
        path = v2_cgroup_of(pid)
        return path is not None and path.endswith('/%s/%s.service' % (self.cg_name, svc))

    def assertInCgroup(self, pid, svc):
        self.assertTrue(self.in_cg(pid, svc), 'pid %d is in cgroup %r, not .../%s/%s.service'
                        % (pid, v2_cgroup_of(pid), self.cg_name, svc))
        self.assertIn(pid, cg_procs(os.path.join(self.cg, svc + '.service')))

    def dump_cgroup_line(self, dump, name):
        """The service.cgroup line of NAME in a statedump, checked to come
        after the service's other lines and before the next service's;
        None if there is none."""
        mine = [i for i, l in enumerate(dump) if l.startswith('service.cgroup\t%s\t' % name)]
        if not mine:
            return None
        self.assertEqual(len(mine), 1, dump)
        i = mine[0]
        own = [j for j, l in enumerate(dump) if l.startswith('service.') and
               not l.startswith('service.cgroup\t') and l.split('\t')[1] == name]
        self.assertTrue(own, dump)
        self.assertLess(max(own), i, 'service.cgroup comes after the service\'s other lines')
        nxt = [j for j, l in enumerate(dump) if j > min(own) and l.startswith('service.state\t')
               and l.split('\t')[1] != name]
        if nxt:
            self.assertLess(i, min(nxt), 'service.cgroup comes before the next service')
        m = CGROUP_EV_RE.match(dump[i])
        self.assertIsNotNone(m, dump[i])
        return m.group(3)

    def start_tree(self, d, name, exec_main=True):
        """Define and start NAME: sh double-forks two `sleep 1000`
        grandchildren, then execs `sleep 1000` (exec_main) or exits 0.
        Returns (main pid, [grandchild pids]); they are orphans once the
        middle subshell has exited."""
        pidf = self.path(name + '.pids')
        script = ('( sleep 1000 & a=$!; sleep 1000 & echo "$a $!" > %s.tmp; mv %s.tmp %s ); %s'
                  % (pidf, pidf, pidf, 'exec sleep 1000' if exec_main else 'exit 0'))
        self.define(d, name, ['sh', '-c', script])
        main = self.start_svc(d, name)
        gcs = [int(x) for x in self.wait_text(pidf).split()]
        for gc in gcs:
            self.track_sleep(gc)
            wait_for(lambda: ppid(gc) == d.pid, msg='pid %d reparented to daemonproxy' % gc)
        return main, gcs

    def dumped(self, dump, name):
        """The service.state fields of NAME in the statedump lines dump."""
        st = [l.split('\t') for l in dump if l.startswith('service.state\t%s\t' % name)]
        self.assertEqual(len(st), 1, dump)
        return st[0]


class Cgroups(CgroupTest):

    def test_service_runs_in_its_cgroup_and_signal_reaches_all(self):
        d = self.start_cg()
        svc_dir = os.path.join(self.cg, 'cg1.service')
        self.define(d, 'cg1', ['true'])
        self.define(d, 'never', ['true'])
        self.assertFalse(os.path.exists(svc_dir), 'created at the first start, not before')
        t0 = mono()
        since = len(d.reader.seen)
        main, gcs = self.start_tree(d, 'cg1')
        self.assertTrue(os.path.isdir(svc_dir))
        for pid in [main] + gcs:
            self.assertInCgroup(pid, 'cg1')
        line = self.gather(d, {'populated': cgroup_event('cg1', 'populated')}, since)['populated']
        self.check_ts(CGROUP_EV_RE.match(line).group(2), t0, mono())
        dump = self.dump(d)
        self.assertEqual(self.dump_cgroup_line(dump, 'cg1'), 'populated')
        self.assertIsNone(self.dump_cgroup_line(dump, 'never'),
                          'a service never started has no cgroup: %r' % dump)
        self.assertFalse(os.path.exists(os.path.join(self.cg, 'never.service')))

        # SIGTERM reaches every process in the cgroup
        since = len(d.reader.seen)
        out = d.cmd('service.signal\tcg1\tSIGTERM\tcgroup')
        self.assertEqual([l for l in out if l.startswith(('error', 'warning'))], [], out)
        preds = {'down': state_of('cg1', 'down'), 'empty': cgroup_event('cg1', 'empty')}
        for gc in gcs:
            preds[gc] = orphan_of(gc)
        found = self.gather(d, preds, since)
        down = found['down'].split('\t')
        self.assertEqual(down[4:7], [str(main), 'signal', 'SIGTERM'], down)
        for gc in gcs:
            self.check_orphan(found[gc], gc, 'signal', 'SIGTERM')
        self.check_ts(CGROUP_EV_RE.match(found['empty']).group(2), t0, mono())
        self.assertFalse(cg_populated(svc_dir))
        self.assertEqual(cg_procs(svc_dir), [])
        self.assertEqual(self.dump_cgroup_line(self.dump(d), 'cg1'), 'empty')
        self.no_service_state_for(d, gcs)

        # it runs in the same cgroup again, and delete removes it once empty
        self.define(d, 'cg1', ['sleep', '1000'])
        since = len(d.reader.seen)
        main = self.start_svc(d, 'cg1')
        self.assertInCgroup(main, 'cg1')
        self.gather(d, {'populated': cgroup_event('cg1', 'populated')}, since)
        since = len(d.reader.seen)
        d.send('service.signal\tcg1\tSIGKILL\tcgroup')
        found = self.gather(d, {'down': state_of('cg1', 'down'),
                                'empty': cgroup_event('cg1', 'empty')}, since)
        self.assertEqual(found['down'].split('\t')[4:7], [str(main), 'signal', 'SIGKILL'])
        self.assertTrue(os.path.isdir(svc_dir))
        out = d.cmd('service.delete\tcg1')
        self.assertIn('service.state\tcg1\tdeleted\t-\t-\t-\t-\t-\t-', out)
        self.assertFalse(os.path.exists(svc_dir), 'service.delete removes %s' % svc_dir)
        self.assertIsNone(self.dump_cgroup_line(self.dump(d), 'cg1'))

    def test_sigkill_after_main_exited_kills_what_remains(self):
        d = self.start_cg()
        svc_dir = os.path.join(self.cg, 'cg2.service')
        since = len(d.reader.seen)
        main, gcs = self.start_tree(d, 'cg2', exec_main=False)
        down = self.gather(d, {'down': state_of('cg2', 'down')}, since)['down'].split('\t')
        self.assertEqual(down[4:7], [str(main), 'exit', '0'], down)
        for gc in gcs:
            self.assertInCgroup(gc, 'cg2')
        # down, but its cgroup is still populated
        dump = self.dump(d)
        self.assertEqual(self.dumped(dump, 'cg2')[2], 'down')
        self.assertEqual(self.dump_cgroup_line(dump, 'cg2'), 'populated')
        self.assertTrue(cg_populated(svc_dir))
        self.assertEqual([l for l in d.reader.seen if cgroup_event('cg2', 'empty')(l)], [],
                         'no empty event while grandchildren run')

        # the command works on a down service whose cgroup holds processes
        since = len(d.reader.seen)
        out = d.cmd('service.signal\tcg2\tSIGKILL\tcgroup')
        self.assertEqual([l for l in out if l.startswith(('error', 'warning'))], [], out)
        preds = {'empty': cgroup_event('cg2', 'empty')}
        for gc in gcs:
            preds[gc] = orphan_of(gc)
        found = self.gather(d, preds, since)
        for gc in gcs:
            self.check_orphan(found[gc], gc, 'signal', 'SIGKILL')
        self.assertFalse(cg_populated(svc_dir))
        dump = self.dump(d)
        self.assertEqual(self.dump_cgroup_line(dump, 'cg2'), 'empty')
        self.assertEqual(self.dumped(dump, 'cg2')[2:5], ['down', down[3], str(main)])
        self.no_service_state_for(d, gcs)
        out = d.cmd('service.delete\tcg2')
        self.assertIn('service.state\tcg2\tdeleted\t-\t-\t-\t-\t-\t-', out)
        self.assertFalse(os.path.exists(svc_dir), 'service.delete removes %s' % svc_dir)

    def test_delete_refused_while_cgroup_populated(self):
        d = self.start_cg()
        svc_dir = os.path.join(self.cg, 'cg3.service')
        since = len(d.reader.seen)
        main, gcs = self.start_tree(d, 'cg3', exec_main=False)
        found = self.gather(d, {'down': state_of('cg3', 'down'),
                                'populated': cgroup_event('cg3', 'populated')}, since)
        down = found['down'].split('\t')
        self.assertEqual(down[4:7], [str(main), 'exit', '0'], down)
        for gc in gcs:
            self.assertInCgroup(gc, 'cg3')
        self.assertTrue(cg_populated(svc_dir))

        # down, but processes remain in its cgroup: delete is refused and
        # changes nothing
        self.assertCmdError(d, 'service.delete\tcg3',
                            'processes of the service remain in its cgroup')
        self.assertEqual([l for l in d.reader.seen if state_of('cg3', 'deleted')(l)], [])
        dump = self.dump(d)
        self.assertEqual(self.dumped(dump, 'cg3')[2:5], ['down', down[3], str(main)])
        self.assertEqual(self.dump_cgroup_line(dump, 'cg3'), 'populated')
        self.assertTrue(os.path.isdir(svc_dir))
        for gc in gcs:
            self.assertInCgroup(gc, 'cg3')

        # once the cgroup is empty, delete succeeds and removes it
        since = len(d.reader.seen)
        out = d.cmd('service.signal\tcg3\tSIGKILL\tcgroup')
        self.assertEqual([l for l in out if l.startswith(('error', 'warning'))], [], out)
        preds = {'empty': cgroup_event('cg3', 'empty')}
        for gc in gcs:
            preds[gc] = orphan_of(gc)
        found = self.gather(d, preds, since)
        for gc in gcs:
            self.check_orphan(found[gc], gc, 'signal', 'SIGKILL')
        self.assertFalse(cg_populated(svc_dir))
        out = d.cmd('service.delete\tcg3')
        self.assertEqual([l for l in out if l.startswith(('error', 'warning'))], [], out)
        self.assertIn('service.state\tcg3\tdeleted\t-\t-\t-\t-\t-\t-', out)
        self.assertFalse(os.path.exists(svc_dir), 'service.delete removes %s' % svc_dir)
        self.assertEqual([l for l in self.dump(d) if l.startswith('service.') and
                          l.split('\t')[1] == 'cg3'], [])


# Moves itself into the cgroup ARGV[1] (made if needed: a service's own
# nested cgroup), once it is no descendant of the service's main process
# (its parent has exited); then sends ARGV[3] (unless "-", with "\\n" for
# newlines and {pid} for its pid) to $NOTIFY_SOCKET, writes its pid to
# ARGV[2] and becomes `sleep 1000`.
NESTED = r'''
import os, socket, sys, time
cg, pidfile, msg = sys.argv[1], sys.argv[2], sys.argv[3]
parent = int(sys.argv[4])
while os.getppid() == parent:
    time.sleep(0.01)
os.makedirs(cg, exist_ok=True)
with open(os.path.join(cg, 'cgroup.procs'), 'w') as f:
    f.write('0')
if msg != '-':
    a = os.environ['NOTIFY_SOCKET']
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(msg.replace('\\n', '\n').replace('{pid}', str(os.getpid())).encode(),
             b'\0' + a[1:].encode())
with open(pidfile + '.tmp', 'w') as f:
    f.write(str(os.getpid()))
os.rename(pidfile + '.tmp', pidfile)
os.execvp('sleep', ['sleep', '1000'])
'''


class NestedCgroups(CgroupTest):
    """A service that makes cgroups below its own (two levels deep) and
    moves a process there does not escape: signals reach it (SIGTERM one
    by one, SIGKILL through cgroup.kill), it may notify (and be announced
    with MAINPID=), the cgroup stays populated while it runs, and
    service.delete removes the nested cgroups too."""

    def start_nested(self, d, name, msg='-', exec_main=True):
        """NAME: sh starts NESTED in the background from a subshell that
        exits at once, then execs `sleep 1000` (or exits).  Returns (main
        pid, nested pid)."""
        script = self.script('nested.py', NESTED)
        pidf = self.path(name + '.nested')
        nested_cg = os.path.join(self.cg, name + '.service', 'a', 'b')
        self.define(d, name, ['sh', '-c', '( %s %s %s %s \'%s\' $$ & ); %s'
                              % (PY, script, nested_cg, pidf, msg,
                                 'exec sleep 1000' if exec_main else 'exit 0')])
        self.assertEqual(d.cmd('service.opts\t%s\tnotify' % name), ['service.opts\t%s\tnotify' % name])
        main = self.start_svc(d, name)
        nested = int(self.wait_text(pidf))
        self.track_sleep(nested)
        self.assertEqual(ppid(nested), d.pid, 'reparented to daemonproxy: no descendant')
        self.assertTrue((v2_cgroup_of(nested) or '').endswith('/%s/%s.service/a/b'
                                                             % (self.cg_name, name)),
                        v2_cgroup_of(nested))
        return main, nested

    def test_signal_notify_and_delete_reach_nested_cgroups(self):
        d = self.start_cg()
        since = len(d.reader.seen)
        main, nested = self.start_nested(d, 'nest', 'MAINPID={pid}\\nSTATUS=from-nested')
        # a process of the service by its cgroup: its message, and its pid
        # as the main pid, are the service's
        line = self.gather(d, {'n': lambda l: l.startswith('service.notify\tnest\t')}, since)['n']
        self.assertEqual(line.split('\t')[3:], [str(nested), 'MAINPID=%d' % nested,
                                                'STATUS=from-nested'])
        # SIGTERM reaches it
        since = len(d.reader.seen)
        out = d.cmd('service.signal\tnest\tSIGTERM\tcgroup')
        self.assertEqual([l for l in out if l.startswith(('error', 'warning'))], [], out)
        found = self.gather(d, {'down': state_of('nest', 'down'), 'nested': orphan_of(nested),
                                'empty': cgroup_event('nest', 'empty')}, since)
        self.assertEqual(found['down'].split('\t')[4:7], [str(main), 'signal', 'SIGTERM'])
        self.check_orphan(found['nested'], nested, 'signal', 'SIGTERM', 'nest')
        # delete removes the service's cgroup with those below it
        svc_dir = os.path.join(self.cg, 'nest.service')
        self.assertTrue(os.path.isdir(os.path.join(svc_dir, 'a', 'b')))
        out = d.cmd('service.delete\tnest')
        self.assertIn('service.state\tnest\tdeleted\t-\t-\t-\t-\t-\t-', out)
        self.assertFalse(os.path.exists(svc_dir), 'service.delete removes %s' % svc_dir)
        self.assertEqual([l for l in d.log.snapshot() if 'rmdir' in l], [])

    def test_nested_process_keeps_it_populated(self):
        d = self.start_cg()
        since = len(d.reader.seen)
        main, nested = self.start_nested(d, 'nest2', exec_main=False)
        down = self.gather(d, {'down': state_of('nest2', 'down')}, since)['down'].split('\t')
        self.assertEqual(down[4:7], [str(main), 'exit', '0'])
        svc_dir = os.path.join(self.cg, 'nest2.service')
        self.assertEqual(self.dump_cgroup_line(self.dump(d), 'nest2'), 'populated')
        self.assertCmdError(d, 'service.delete\tnest2',
                            'processes of the service remain in its cgroup')
        # cgroup.kill empties the whole subtree; then delete removes it all
        since = len(d.reader.seen)
        out = d.cmd('service.signal\tnest2\tSIGKILL\tcgroup')
        self.assertEqual([l for l in out if l.startswith(('error', 'warning'))], [], out)
        found = self.gather(d, {'nested': orphan_of(nested),
                                'empty': cgroup_event('nest2', 'empty')}, since)
        self.check_orphan(found['nested'], nested, 'signal', 'SIGKILL')
        self.assertTrue(os.path.isdir(os.path.join(svc_dir, 'a', 'b')))
        out = d.cmd('service.delete\tnest2')
        self.assertIn('service.state\tnest2\tdeleted\t-\t-\t-\t-\t-\t-', out)
        self.assertFalse(os.path.exists(svc_dir), 'service.delete removes %s' % svc_dir)


class NoCgroup(ContainmentTest):

    def test_signal_cgroup_without_option_is_an_error(self):
        d = self.start()
        self.define(d, 'nc', ['sleep', '1000'])
        main = self.start_svc(d, 'nc')
        self.assertCmdError(d, 'service.signal\tnc\tSIGTERM\tcgroup')
        self.assertCmdError(d, 'service.signal\tnc\tSIGKILL\tcgroup')
        # nothing was signalled, and there is no cgroup to report
        st = self.dump_state(d, 'nc')
        self.assertEqual(st[2:5], ['up', st[3], str(main)], st)
        dump = self.dump(d)
        self.assertEqual([l for l in dump if l.startswith('service.cgroup')], [], dump)
        self.assertEqual([l for l in d.reader.seen if l.startswith('service.cgroup')], [])
        d.send('service.signal\tnc\tSIGTERM')
        self.assertEqual(self.expect_state(d, 'nc', 'down')[5:7], ['signal', 'SIGTERM'])
