"""docs/protocol.md, "Live re-exec", at scale and under stress: `reexec`
with 1,000 running services, 1,000 handles, three kinds of controller, a
logger pipe under constant traffic and pending timed starts; the same as
PID 1 of a PID namespace; and 100 re-execs in a row while services
crash-loop.  The basic cases are in test_reexec."""

import collections
import os
import re
import signal
import statistics
import time

from dp import (TIMEOUT, VALGRIND_DIR, binary, exit_exec_args, new_marker, read_exit_exec,
                slow_binary, wait_for)
from svc_util import corrupting_wrapper, PID1_FINISH, PY, SvcTest, children, normalized, zombies_of
from test_pid1 import UNSHARE, can_unshare

# Under valgrind every spawn is a fork of a valgrind process: a tenth of
# the sizes keeps the same paths covered (as test_scale does).
SCALE = 10 if VALGRIND_DIR else 1
N_SERVICES = 1000 // SCALE
N_PIPES = 450 // SCALE          # pairs: two handles each
N_OPENS = 100 // SCALE          # so 2 * N_PIPES + N_OPENS handles in all
N_TIMED = 10
N_AUTO_UP = 100 // SCALE
CHUNK = 200
# Long tags (on the services, and on tag-only services when there are
# fewer than 1,000) make the statedump (about 1 MB) larger than what the
# kernel and the daemon's output buffer hold, so that a slow reader's dump
# is still going on when the exec happens.
TAG_PAD = 'x' * 1000
N_PADDED = max(0, 1000 - N_SERVICES)

REEXEC_EVENT = re.compile(r'^reexec\t')
# Under valgrind, /proc/self/exe (the default binary) is daemonproxy
# itself: re-exec into the valgrind wrapper instead, so that the restored
# process is checked as well.
REEXEC = 'reexec\t' + binary() if VALGRIND_DIR else 'reexec'


def fd_table(pid):
    """{fd: what it refers to} of a process, from /proc.  Under valgrind
    (whose fds sit at the top of the range, and which a re-exec leaves
    behind) only the fds below 10000."""
    out = {}
    d = '/proc/%d/fd' % pid
    for name in os.listdir(d):
        if VALGRIND_DIR and int(name) >= 10000:
            continue
        try:
            out[int(name)] = os.readlink(os.path.join(d, name))
        except OSError:
            pass
    return out


def settled_fd_table(pid):
    """fd_table(pid) once two readings in a row agree (a spawn holds a
    report pipe for an instant)."""
    box = [None]

    def same():
        t = fd_table(pid)
        ok = t == box[0]
        box[0] = t
        return ok
    wait_for(same, TIMEOUT, 'a stable fd table of %d' % pid)
    return box[0]


def start_time(pid):
    """When pid started (/proc/PID/stat field 22): the same number after an
    exec, a different one for a new process that got the same pid."""
    with open('/proc/%d/stat' % pid) as f:
        return int(f.read().rsplit(')', 1)[1].split()[19])


def proc_state(pid):
    """(state letter, ppid) from /proc/PID/stat, or None if it is gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            rest = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return None
    return rest[0], int(rest[1])


def ns_pid(host_pid):
    """The pid of host_pid in its innermost PID namespace (NSpid)."""
    with open('/proc/%d/status' % host_pid) as f:
        for line in f:
            if line.startswith('NSpid:'):
                return int(line.split()[-1])
    return None


def state_fields(dump, name):
    for l in dump:
        f = l.split('\t')
        if f[0] == 'service.state' and f[1] == name:
            return f
    return None


def up_pids(dump):
    """{name: pid} of every service a statedump shows up."""
    out = {}
    for l in dump:
        f = l.split('\t')
        if f[0] == 'service.state' and f[2] == 'up':
            out[f[1]] = int(f[4])
    return out


# A controller service (fds: control.event control.cmd stderr).  When it
# reads the `reexec` event it sends `service.tags MARKER seen`, which every
# other controller sees, so that they know its connection survived the
# exec; at EOF it notes it in EOF_FILE and exits.
CTL_SVC = r'''
import os, sys
marker, eof_file = sys.argv[1], sys.argv[2]
answer = ('service.tags\t%s\tseen\n' % marker).encode()
buf = b''
while True:
    data = os.read(0, 65536)
    if not data:
        with open(eof_file, 'w') as f:
            f.write('EOF\n')
        sys.exit(1)
    buf += data
    lines = buf.split(b'\n')
    buf = lines.pop()
    for line in lines:
        if line.startswith(b'reexec\t'):
            os.write(1, answer)
'''

# The writer of the logger pipe: numbered lines, one write(2) each, as
# fast as the shell goes, until it is killed.
WRITER = 'i=0; while :; do echo $i; i=$((i+1)); done'


class ReexecAtScale(SvcTest):
    """One `reexec` of a daemonproxy holding 1,000 running services, 1,000
    handles, pending timed starts, auto-up rules, a signal count, a logger
    pipe under constant traffic and four connections (-i, a socket client,
    a controller service, and a socket client in the middle of a slow
    statedump): the statedump is the same before and after (but for
    UPTIME and DOWNTIME), the daemon and every service keep their pids,
    every handle stays at its fd, every controller gets the `reexec` event
    and none sees EOF, the interrupted statedump completes, and the logger
    loses no line."""

    def test_everything_survives_one_reexec(self):
        sock = self.path('ctl.sock')
        logfile = self.path('logger.out')
        d = self.start('-S', sock)

        cmds = ['service.args\tsvc%04d\tsleep\t1000' % i for i in range(N_SERVICES)]
        cmds += ['fd.pipe\thp%03d.r\thp%03d.w' % (i, i) for i in range(N_PIPES)]
        cmds += ['fd.open\thn%03d\tread\t/dev/null' % i for i in range(N_OPENS)]
        self.bulk(d, cmds)
        # (few at a time: their echo must fit in the pipes while we write)
        self.bulk(d, ['service.tags\tsvc%04d\tn%d\t%s' % (i, i, TAG_PAD)
                      for i in range(N_SERVICES)] +
                  ['service.tags\tpad%04d\t%s' % (i, TAG_PAD) for i in range(N_PADDED)],
                  chunk=20)
        ups = 0
        for base in range(0, N_SERVICES, CHUNK):
            out = self.bulk(d, ['service.start\tsvc%04d' % i
                                for i in range(base, min(N_SERVICES, base + CHUNK))],
                            timeout=TIMEOUT * 6)
            ups += sum(1 for l in out if re.match(r'service\.state\tsvc\d+\tup\t', l))
        self.assertEqual(ups, N_SERVICES)
        # auto-up rules on running services (nothing happens) and on ones
        # whose trigger never fires
        self.bulk(d, ['service.auto_up\tsvc%04d\t5\talways' % i for i in range(N_AUTO_UP)] +
                  ['service.args\tidle%d\tsleep\t1000' % i for i in range(5)] +
                  ['service.auto_up\tidle%d\t3\tSIGUSR2' % i for i in range(5)])

        # timed starts a few hundred seconds ahead, on the daemon's clock
        now = int(state_fields(self.dump(d), 'svc0000')[3])
        self.bulk(d, ['service.args\ttimed%d\tsleep\t1000' % i for i in range(N_TIMED)] +
                  ['service.start\ttimed%d\t%d' % (i, now + 300 + i) for i in range(N_TIMED)])

        # a signal count
        os.kill(d.pid, signal.SIGHUP)
        d.expect(lambda l: l.startswith('signal\tSIGHUP\t'))

        # the logger pipe: writer -> log.w | log.r -> logger -> file
        self.bulk(d, ['fd.pipe\tlog.r\tlog.w',
                      'fd.open\tlogfile\twrite,create,append\t' + logfile,
                      'service.args\tlogger\tcat',
                      'service.fds\tlogger\tlog.r\tlogfile\tstderr',
                      'service.args\twriter\tsh\t-c\t' + WRITER,
                      'service.fds\twriter\tnull\tlog.w\tstderr'])
        self.start_svc(d, 'logger')
        self.start_svc(d, 'writer')

        # the controller service, and the marker it re-tags (tagged the
        # same way now, so that the statedump does not change)
        eof_file = self.path('ctl-eof')
        ctl_py = self.script('ctlsvc.py', CTL_SVC)
        self.bulk(d, ['service.tags\tmarker\tseen',
                      '\t'.join(['service.args', 'ctlsvc', PY, ctl_py, 'marker', eof_file]),
                      'service.fds\tctlsvc\tcontrol.event\tcontrol.cmd\tstderr'])
        self.start_svc(d, 'ctlsvc')

        c = self.connect(sock)
        c.ping()
        # lines written before the exec
        wait_for(lambda: os.path.getsize(logfile) > 0, TIMEOUT, 'the logger writing')

        before = d.resync(timeout=TIMEOUT * 3)
        self.assertEqual(len(up_pids(before)), N_SERVICES + 3)

        # a reader in the middle of a statedump (tiny socket buffer, not
        # reading): the rest of the dump, and its echo still unread, must
        # come from the new process
        slow = self.connect(sock, rcvbuf=4096)
        self.assertEqual(slow.cmd('conn.event_timeout\t300\t600'), [])
        fds_before = settled_fd_table(d.pid)
        started = start_time(d.pid)
        slow.send('statedump', 'echo\tdump-end')
        wait_for(lambda: slow.inq() > 0, TIMEOUT, 'the slow statedump to begin')

        size_at_exec = os.path.getsize(logfile)
        d.send(REEXEC)
        ev = d.expect(REEXEC_EVENT, timeout=TIMEOUT * 3).split('\t')
        seen = 'service.tags\tmarker\tseen'
        d.expect(seen)
        c.expect(REEXEC_EVENT)
        c.expect(seen)
        self.assertFalse(d.reader.eof)
        self.assertFalse(c.reader.eof)

        # the interrupted statedump, completed by the new process: the dump
        # from before with exactly the two events inserted somewhere
        rest = []
        while True:
            line = slow.readline(TIMEOUT * 3)
            self.assertIsNotNone(line, 'EOF on the slow reader; got %r' % rest[-5:])
            if line == 'dump-end':
                break
            rest.append(line)
        self.assertNotIn('overflow', rest)
        events = [l for l in rest if REEXEC_EVENT.match(l)]
        self.assertEqual(len(events), 1, 'the exec happened during the statedump: %r' % events)
        rest.remove(events[0])
        if rest.count(seen) == 1:
            # the controller service's event came after the dump
            slow.expect(seen)
            candidates = [rest]
        else:
            candidates = [rest[:i] + rest[i + 1:] for i, l in enumerate(rest) if l == seen]
        self.assertIn(normalized(before), [normalized(c) for c in candidates],
                      'the interrupted statedump is the one from before (plus the '
                      'controller service\'s service.tags event)')
        slow.ping()
        # the controller service saw the event after the exec: it is still
        # connected, never read EOF
        self.assertFalse(os.path.exists(eof_file))

        after = d.resync(timeout=TIMEOUT * 3)
        self.assertEqual(normalized(after), normalized(before))
        self.assertTrue(d.alive())
        self.assertEqual(start_time(d.pid), started, 'the same process')
        if not VALGRIND_DIR:
            self.assertEqual(os.readlink('/proc/%d/exe' % d.pid), ev[2])
        pids = up_pids(after)
        self.assertEqual(pids, up_pids(before))
        kids = set(children(d.pid))
        self.assertEqual(set(pids.values()) - kids, set(),
                         'services that are no longer the daemon\'s children')

        # every handle at its fd: pipes, sockets and files at the same
        # numbers; the rest (the loop's own fds, /dev/null copies) the same
        # in number and kind
        fds_after = settled_fd_table(d.pid)
        def fixed(table):
            return {fd: what for fd, what in table.items()
                    if not what.startswith('anon_inode:') and what != '/dev/null'}
        self.assertEqual(fixed(fds_after), fixed(fds_before))
        self.assertEqual(collections.Counter(fds_after.values()),
                         collections.Counter(fds_before.values()))

        # the logger: traffic went on through the exec; stop the writer,
        # then a last line through the (restored) log.w handle marks the end
        wait_for(lambda: os.path.getsize(logfile) > size_at_exec, TIMEOUT,
                 'logger traffic after the exec')
        is_down = lambda l: l.startswith('service.state\twriter\tdown\t')
        out = d.cmd('service.signal\twriter\tSIGTERM')
        self.assertEqual([l for l in out if not is_down(l)], [])
        if not out:
            d.expect(is_down)
        self.bulk(d, ['service.args\tend\tsh\t-c\techo END',
                      'service.fds\tend\tnull\tlog.w\tstderr', 'service.start\tend'])
        text = self.wait_text(logfile, lambda t: t.endswith('END\n'),
                              timeout=TIMEOUT * 3, msg='END in the logger file')
        lines = text.split('\n')[:-2]
        self.assertGreater(len(lines), 0)
        expect = [str(i) for i in range(len(lines))]
        if lines != expect:
            bad = next(i for i, (a, b) in enumerate(zip(lines, expect)) if a != b)
            self.fail('logger line %d is %r, expected %r (%d lines)'
                      % (bad, lines[bad], expect[bad], len(lines)))
        self.assertGreater(len(text.encode()), size_at_exec)

        # the controller service still reacts (its connection works both ways)
        d.send(REEXEC)
        d.expect(REEXEC_EVENT, timeout=TIMEOUT * 3)
        d.expect(seen)
        c.expect(REEXEC_EVENT)
        self.assertFalse(os.path.exists(eof_file))
        self.assertEqual(state_fields(self.dump(d), 'ctlsvc')[4], str(pids['ctlsvc']))




class ReexecAsPid1(SvcTest):
    """`reexec` of daemonproxy as PID 1 of a PID namespace (unshare --pid
    --fork --mount-proc; needs root): it stays PID 1 with the same host
    pid, its services keep running as its children, the statedump is the
    same, the implicit exit guard of PID 1 still holds, and at the end no
    process is left in the namespace."""

    def setUp(self):
        super().setUp()
        if not can_unshare('--mount-proc'):
            self.skipTest('unshare --pid --fork --mount-proc is not permitted here')

    def test_pid1_reexec(self):
        d = self.start(prefix=[UNSHARE, '--pid', '--fork', '--kill-child', '--mount-proc'])
        d.ping()
        host = wait_for(lambda: children(d.pid), TIMEOUT, 'the namespace\'s PID 1')
        self.assertEqual(len(host), 1)
        dp_pid = host[0]
        self.track_pid(dp_pid)
        self.assertEqual(ns_pid(dp_pid), 1)
        started = start_time(dp_pid)

        names = ['a', 'b', 'c']
        self.bulk(d, ['service.args\t%s\tsleep\t1000' % n for n in names] +
                  ['service.tags\ta\tx', 'service.auto_up\tb\t2\talways', 'fd.pipe\tp.r\tp.w'])
        for n in names:
            if n != 'b':            # b was started by its auto-up rule
                self.start_svc(d, n)
        before = d.resync()
        self.assertEqual(sorted(up_pids(before)), names)
        svc_host = sorted(children(dp_pid))
        self.assertEqual(len(svc_host), 3)

        d.send(REEXEC)
        ev = d.expect(lambda l: REEXEC_EVENT.match(l) or l.startswith('error\t'))
        self.assertTrue(REEXEC_EVENT.match(ev), ev)
        ev = ev.split('\t')
        after = d.resync()
        self.assertEqual(normalized(after), normalized(before))
        self.assertEqual(children(d.pid), [dp_pid], 'the same PID 1')
        self.assertEqual(start_time(dp_pid), started, 'the same process')
        self.assertEqual(ns_pid(dp_pid), 1)
        if not VALGRIND_DIR:
            self.assertEqual(os.readlink('/proc/%d/exe' % dp_pid), ev[2])
        # the services, and nothing else (the --state-check child is reaped)
        self.assertEqual(sorted(children(dp_pid)), svc_host)
        self.assertEqual(zombies_of(dp_pid), [])
        for p in svc_host:
            st = proc_state(p)
            self.assertTrue(st and st[0] in 'RS', 'service %d: %r' % (p, st))

        # still PID 1's implicit exit guard
        self.assertCmdError(d, 'terminate\t0', 'exec')

        # stop everything, then exit into a program that lists what is left
        self.bulk(d, ['service.auto_up\tb\t2'])
        for n in names:
            d.send('service.signal\t%s\tSIGKILL' % n)
            self.expect_state(d, n, 'down')
        left = self.path('left.txt')
        finish = self.script('finish.py', PID1_FINISH)
        self.assertSilent(d, '\t'.join(['terminate.exec_args', PY, finish, left]))
        d.send('terminate\t0')
        self.assertEqual(d.wait(), 0)
        with open(left) as f:
            procs = f.read().split()
        self.assertEqual(len(procs), 1, procs)
        self.assertTrue(procs[0].startswith('1:'), procs)


    def test_pid1_state_it_cannot_restore_takes_the_fatal_path(self):
        """As PID 1, a new binary that passes the check but cannot
        restore its state execs the exec-on-exit program (exit code 4), as
        PID 1 of the namespace: it never starts empty."""
        if VALGRIND_DIR:
            self.skipTest('the wrapper execs daemonproxy without valgrind')
        rec = self.path('exit.rec')
        wrapper = corrupting_wrapper(self.path('corrupt'))
        d = self.start('-E', '\t'.join(exit_exec_args(rec)),
                       prefix=[UNSHARE, '--pid', '--fork', '--kill-child', '--mount-proc'])
        d.ping()
        d.send('reexec\t' + wrapper)
        code, msg, pid = read_exit_exec(rec)
        self.assertEqual((code, pid), ('4', 1))
        self.assertIn('re-exec: cannot load the state', msg)


# Under valgrind each re-exec starts valgrind again (1.5 s or more) and
# each spawn forks a valgrind process.
N_REEXECS = 12 if VALGRIND_DIR else 100
N_CRASHERS = 5 if VALGRIND_DIR else 25


class ReexecLoopWithCrashLoop(SvcTest):
    """100 re-execs in a row (each waits for the `reexec` event) while 25
    services crash-loop (exit 3 at once, auto-up always, their restarts
    spread over the second): every run's exit is reported exactly once
    (each `up` PID gets one `down` with that PID, exit 3, before the next
    `up` of that service), no zombie is left, and the daemon's fd count is
    the same and its RSS about the same (within 256 kB) after re-exec 10
    and 100.  Under valgrind: 12 re-execs, 5 services, the least fd count
    of three readings, no RSS check."""

    def test_100_reexecs_during_crash_loop(self):
        d = self.start()
        self.bulk(d, ['service.args\tcrash%02d\tsh\t-c\texit 3' % i for i in range(N_CRASHERS)])
        lines = []

        def collect(pat):
            m = re.compile(pat)
            return lambda l: lines.append(l) or m.search(l) is not None

        def reexec():
            d.send(REEXEC)
            d.expect(collect(r'^reexec\t|^error\t|^overflow$'), timeout=TIMEOUT * 3)
            self.assertTrue(REEXEC_EVENT.match(lines[-1]), lines[-1])

        measured = {}
        for i in range(1, N_REEXECS + 1):
            if i <= N_CRASHERS:
                # one more crash-looper per re-exec: their starts are spread
                d.send('service.auto_up\tcrash%02d\t1\talways' % (i - 1))
            reexec()
            # three readings around each checkpoint: RSS right after an
            # exec varies by a hundred kB
            for point in (10, N_REEXECS):
                if point - 2 <= i <= point:
                    measured.setdefault(point, []).append(
                        (len(settled_fd_table(d.pid)), d.rss_kb()))
        self.assertFalse(d.reader.eof)

        # stop the loop, and wait until every run that began has ended
        mark = new_marker()
        d.send(*(['service.auto_up\tcrash%02d\t1' % i for i in range(N_CRASHERS)] +
                 ['echo\t' + mark]))
        d.expect(collect('^' + mark + '$'))
        running = set()

        def runs_left():
            running.clear()
            for l in lines:
                f = l.split('\t')
                if f[0] == 'service.state' and f[1].startswith('crash'):
                    if f[2] == 'up':
                        running.add(f[1])
                    elif f[2] == 'down':
                        running.discard(f[1])
            return running
        deadline = time.monotonic() + TIMEOUT * 3
        while runs_left():
            lines.append(d.expect(lambda l: True, max(0.1, deadline - time.monotonic())))
        d.ping()
        lines.extend(d.skipped)

        self.assertNotIn('overflow', lines)
        errors = [l for l in lines if l.startswith('error\t')]
        self.assertEqual(errors, [])
        self.assertEqual(sum(1 for l in lines if REEXEC_EVENT.match(l)), N_REEXECS)

        # every run: start, up PID, down PID exit 3, in that order, once
        exits = 0
        per = collections.defaultdict(list)
        for l in lines:
            f = l.split('\t')
            if f[0] == 'service.state' and f[1].startswith('crash'):
                per[f[1]].append(f)
        for name, evs in sorted(per.items()):
            prev, up, last_exit = 'down', None, None
            seen_pids = set()
            for f in evs:
                state, pid = f[2], f[4]
                what = '%s: %s after %s: %r' % (name, state, prev, f)
                if state == 'start':
                    self.assertEqual(prev, 'down', what)
                elif state == 'up':
                    self.assertEqual(prev, 'start', what)
                    self.assertNotIn(pid, seen_pids, '%s: pid %s up twice' % (name, pid))
                    seen_pids.add(pid)
                    up = pid
                elif state == 'down' and prev == 'up':
                    self.assertEqual(f[4:7], [up, 'exit', '3'], what)
                    last_exit = up
                    exits += 1
                else:
                    # a pending start cancelled (auto-up switched off): the
                    # down event repeats the last exit, it is not a new one
                    self.assertEqual((state, prev), ('down', 'start'), what)
                    self.assertEqual(f[4], last_exit, what)
                prev = state
            self.assertEqual(prev, 'down', '%s: a run without its down event' % name)
        self.assertGreaterEqual(exits, N_CRASHERS)

        self.assertEqual(zombies_of(d.pid), [])
        self.assertEqual(children(d.pid), [])
        what = 'fd counts after re-execs 8-10 and %d-%d' % (N_REEXECS - 2, N_REEXECS)
        if VALGRIND_DIR:
            # spawning forks there, and the parent holds a report pipe
            # until the child's exec, which takes long: the least of each
            # three readings
            self.assertEqual(min(n for n, _ in measured[10]),
                             min(n for n, _ in measured[N_REEXECS]), '%s: %r' % (what, measured))
        else:
            fds = [n for m in measured.values() for n, _ in m]
            self.assertEqual(fds, [fds[0]] * 6, what)
        if slow_binary():
            return          # memory figures of valgrind or ASan mean nothing
        rss10, rss100 = (statistics.median([r for _, r in measured[p]])
                         for p in (10, N_REEXECS))
        self.assertLessEqual(abs(rss100 - rss10), 256,
                             'RSS after re-exec 10: %d kB, after %d: %d kB'
                             % (rss10, N_REEXECS, rss100))
