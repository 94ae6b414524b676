"""docs/protocol.md, "Live re-exec": `reexec→[PATH]` replaces daemonproxy
with a new binary of itself.  What survives (services, pids, handles,
controllers with their unread input, signal counts, the log, the pidfile),
and what a failed attempt leaves (nothing changed, an error for every
controller).  The scale and stress cases are in test_reexec_scale."""

import os
import sys
import shutil
import signal
import time

from dp import TIMEOUT, VALGRIND_DIR, binary, exit_exec_args, read_exit_exec, wait_for
from svc_util import corrupting_wrapper, SvcTest, children, normalized, zombies_of


def starts(prefix):
    return lambda l: l.startswith(prefix)


class ReexecTest(SvcTest):
    def setUp(self):
        super().setUp()
        if VALGRIND_DIR:
            # the binary is valgrind's tool there, and the new process
            # would run without valgrind
            self.skipTest('a re-exec leaves valgrind')

    def reexec(self, io, path=None, others=()):
        """Send reexec, wait for the new process's event on io and on each
        of others; returns the event's fields."""
        io.send('reexec' + ('\t' + path if path else ''))
        ev = io.expect(lambda l: l.startswith('reexec\t') or l.startswith('error\t'))
        self.assertTrue(ev.startswith('reexec\t'), ev)
        for o in others:
            o.expect(lambda l: l.startswith('reexec\t'))
        return ev.split('\t')

    def exe(self, pid):
        return os.readlink('/proc/%d/exe' % pid)


class Survives(ReexecTest):
    def test_state_pids_controllers_and_handles_survive(self):
        sock = self.path('s')
        d = self.start('-S', sock)
        c = self.connect(sock)
        d.cmd('service.args\tup1\tsleep\t1000',
              'service.args\tdone\tsh\t-c\texit 3',
              'service.args\tlater\tsleep\t1000',
              'service.tags\tup1\ta\tb',
              'service.env\tup1\tFOO=bar',
              'service.auto_up\tup1\t5\tSIGUSR1',
              'fd.pipe\tp.r\tp.w',
              'fd.open\tf\twrite,create\t' + self.path('file'),
              'log.filter\twarning',
              'conn.event_timeout\t30\t60')
        d.cmd('service.start\tup1', 'service.start\tdone')
        d.expect(starts('service.state\tdone\tdown\t'))
        now = int(time.clock_gettime(time.CLOCK_MONOTONIC))
        d.cmd('service.start\tlater\t%d' % (now + 500))
        os.kill(d.pid, signal.SIGHUP)
        d.expect(starts('signal\tSIGHUP\t'))
        before = d.resync()
        pid_up1 = [l for l in before if l.startswith('service.state\tup1\t')][0].split('\t')[4]

        ev = self.reexec(d, others=[c])
        self.assertEqual(len(ev), 3)
        self.assertEqual(ev[2], os.path.realpath(binary()))
        after = d.resync()
        self.assertEqual(normalized(after), normalized(before))
        self.assertIn('signal\tSIGHUP\t', '\n'.join(after))
        self.assertTrue(d.alive())
        self.assertEqual(self.exe(d.pid), os.path.realpath(binary()))
        # the service is still our child, by the same pid
        self.assertIn(int(pid_up1), children(d.pid))
        # the socket client and a new one both work; log.filter kept
        c.ping()
        self.connect(sock).ping()
        self.assertEqual(d.cmd1('log.filter'), 'log.filter\twarning')
        # the handles are the same open files
        d.cmd('service.args\tw\tsh\t-c\techo hello >&1',
              'service.fds\tw\tnull\tf\tnull', 'service.start\tw')
        wait_for(lambda: open(self.path('file')).read() == 'hello\n', TIMEOUT, 'write via f')

    def test_command_in_the_same_write_is_answered(self):
        """Commands already read and those sent while the exec happens are
        all answered, in order."""
        d = self.start()
        d.send('reexec', 'echo\tm1', 'service.args\tx\ttrue', 'echo\tm2')
        seen = []
        d.expect(lambda l: seen.append(l) or l == 'm2')
        self.assertIn('m1', seen)
        self.assertIn('service.args\tx\ttrue', seen)
        d.expect(lambda l: l.startswith('reexec\t'))
        d.send('echo\tm3')
        d.expect('m3')

    def test_partial_line_completed_after(self):
        sock = self.path('s')
        d = self.start('-S', sock)
        c = self.connect(sock)
        c.ping()
        c.send_raw('echo\tpart')
        self.reexec(d, others=[c])
        c.send_raw('ial\n')
        c.expect('partial')

    def test_statedump_waiting_for_room_resumes(self):
        """A statedump stopped half way by a reader that does not read
        (the command waits for room) is carried over and finishes in the
        new process: every object once, in order, then the echo after it."""
        sock = self.path('s')
        d = self.start('-S', sock)
        for k in range(0, 3000, 500):
            d.cmd(*['service.args\ts%04d\tsleep\t1000' % i for i in range(k, k + 500)])
        c = self.connect(sock, rcvbuf=4096)
        c.send('statedump', 'echo\tdump-end')
        wait_for(lambda: c.inq() > 0, TIMEOUT, 'the dump to start')
        self.reexec(d)
        got = []
        c.expect(lambda l: got.append(l) or l == 'dump-end', timeout=TIMEOUT * 3)
        self.assertEqual(len([l for l in got if l.startswith('reexec\t')]), 1)
        dump = [l for l in got[:-1] if not l.startswith('reexec\t')]
        self.assertEqual(normalized(dump), normalized(d.resync()))

    def test_exit_during_exec_reported_once(self):
        d = self.start()
        out = d.cmd('service.args\ts\tsleep\t1000', 'service.start\ts')
        up = [l for l in out if l.startswith('service.state\ts\tup\t')][0].split('\t')[4]
        d.send('service.signal\ts\tSIGKILL', 'reexec')
        lines = []
        d.expect(lambda l: lines.append(l) or l.startswith('reexec\t'))
        is_down = lambda l: l.startswith('service.state\ts\tdown\t')
        if not any(is_down(l) for l in lines):
            lines.append(d.expect(is_down))
        d.ping()
        lines += d.skipped
        downs = [l for l in lines if is_down(l)]
        self.assertEqual(len(downs), 1, downs)
        self.assertEqual(downs[0].split('\t')[4], up)
        self.assertEqual(downs[0].split('\t')[5:7], ['signal', 'SIGKILL'])
        self.assertEqual(zombies_of(d.pid), [])

    def test_no_fd_leaks_into_children(self):
        d = self.start()
        d.cmd('fd.pipe\tp.r\tp.w', 'fd.open\tf\twrite,create\t' + self.path('x'))
        self.reexec(d)
        out = self.path('fds')
        d.cmd('service.args\tls\tsh\t-c\texec ls /proc/self/fd > ' + out,
              'service.start\tls')
        d.expect(starts('service.state\tls\tdown\t'))
        names = sorted(open(out).read().split())
        # 0, 1, 2 and the directory ls reads
        self.assertEqual(len(names), 4, names)

    def test_timed_start_fires_after(self):
        d = self.start()
        now = int(time.clock_gettime(time.CLOCK_MONOTONIC))
        d.cmd('service.args\tt\tsleep\t1000', 'service.start\tt\t%d' % (now + 2))
        self.reexec(d)
        d.expect(starts('service.state\tt\tup\t'), timeout=TIMEOUT + 3)

    def test_log_destination_kept(self):
        """log.dest follows its handle in the new process: what it logs
        after the re-exec (the re-exec itself, then an error) goes there."""
        d = self.start()
        logf = self.path('log')
        d.cmd('fd.open\tlogf\twrite,create\t' + logf, 'log.dest\tfd\tlogf')
        self.reexec(d)
        d.cmd('no.such.command')
        wait_for(lambda: 'Unknown command' in open(logf).read() or
                 'unknown command' in open(logf).read(), TIMEOUT, 'the error in the log file')
        text = open(logf).read()
        self.assertIn('re-executed', text)
        self.assertLess(text.index('re-executed'), text.lower().index('unknown command'))

    def test_pools_kept(self):
        """--fd-pool and --service-pool: the new process allocates from
        pools of the same sizes, so the limits are where they were."""
        d = self.start('--fd-pool', '12', '--service-pool', '3x256')
        d.cmd('service.args\ta\ttrue', 'service.args\tb\ttrue', 'fd.pipe\tp.r\tp.w')
        self.reexec(d)
        d.cmd('service.args\tc\ttrue')
        self.assertCmdError(d, 'service.args\td\ttrue', 'service pool exhausted')
        self.assertCmdError(d, 'service.args\tc\t' + 'x' * 300, 'service pool object size')
        d.cmd('fd.pipe\tq.r\tq.w')
        self.assertCmdError(d, 'fd.pipe\tr.r\tr.w', 'unable to allocate')

    def test_pidfile_kept_then_removed(self):
        pf = self.path('dp.pid')
        d = self.start('--pidfile', pf)
        self.reexec(d)
        self.assertEqual(open(pf).read(), '%d\n' % d.pid)
        d.send('terminate\t0')
        self.assertEqual(d.wait(), 0)
        self.assertFalse(os.path.exists(pf))

    def test_twice_and_into_a_copy(self):
        copy = self.path('daemonproxy-new')
        shutil.copy(binary(), copy)
        d = self.start()
        ev = self.reexec(d, path=copy)
        self.assertEqual(ev[2], copy)
        self.assertEqual(self.exe(d.pid), copy)
        # again, to the default: the binary it now runs from
        ev = self.reexec(d)
        self.assertEqual(ev[2], copy)

    def test_exit_guard_and_exit_exec_carried(self):
        rec = self.path('exit.rec')
        d = self.start('--exit-guard', '77', '-E', '\t'.join(exit_exec_args(rec)))
        self.reexec(d)
        self.assertCmdError(d, 'terminate\t3', 'guard code required')
        d.send('terminate\t3\t77')
        self.assertEqual(d.wait(), 0)
        code, msg, pid = read_exit_exec(rec)
        self.assertEqual((code, pid), ('3', d.pid))


class Refused(ReexecTest):
    """A re-exec that cannot happen leaves the daemon as it was."""

    def check_unharmed(self, d, before):
        self.assertTrue(d.alive())
        self.assertEqual(self.exe(d.pid), os.path.realpath(binary()))
        self.assertEqual(normalized(d.resync()), normalized(before))

    def setUp(self):
        super().setUp()
        self.d = self.start()
        self.d.cmd('service.args\ts\tsleep\t1000', 'service.start\ts', 'fd.pipe\tp.r\tp.w')
        self.before = self.d.resync()

    def script(self, name, body, mode=0o755):
        p = self.path(name)
        with open(p, 'w') as f:
            f.write('#!/bin/sh\n' + body)
        os.chmod(p, mode)
        return p

    def test_missing(self):
        self.assertCmdError(self.d, 'reexec\t' + self.path('nope'), 'reexec:',
                            'No such file')
        self.check_unharmed(self.d, self.before)

    def test_not_executable(self):
        p = self.script('noexec', 'exit 0\n', mode=0o644)
        self.assertCmdError(self.d, 'reexec\t' + p, 'reexec:', 'Permission denied')
        self.check_unharmed(self.d, self.before)

    def test_directory(self):
        self.assertCmdError(self.d, 'reexec\t' + self.tmp, 'reexec:', 'not a regular file')
        self.check_unharmed(self.d, self.before)

    def broadcast_error(self, path, *substrings):
        self.assertSilent(self.d, 'reexec\t' + path)
        err = self.d.expect(lambda l: l.startswith('error\treexec:'))
        for s in substrings:
            self.assertIn(s, err)
        self.assertNotIn('for command', err)
        return err

    def test_check_answer_wrong(self):
        p = self.script('true', 'exit 0\n')
        self.broadcast_error(p, 'does not restore state version', 'no answer')
        self.check_unharmed(self.d, self.before)

    def test_check_refuses(self):
        p = self.script('old', 'echo "daemonproxy-state 1 unsupported"; exit 1\n')
        self.broadcast_error(p, 'exit 1', 'unsupported')
        self.check_unharmed(self.d, self.before)

    def test_check_killed(self):
        p = self.script('dies', 'kill -9 $$\n')
        self.broadcast_error(p, 'signal SIGKILL')
        self.check_unharmed(self.d, self.before)

    def test_exec_fails_after_check(self):
        """The binary passes the check and is gone when the exec comes."""
        p = self.script('vanish', 'rm -f "$0"; echo "daemonproxy-state 1 ok"\n')
        self.broadcast_error(p, 'exec ', 'No such file')
        self.check_unharmed(self.d, self.before)

    def test_check_that_hangs_is_killed(self):
        """No answer within 10 s: the check is killed and the daemon carries
        on; the next re-exec works."""
        p = self.script('hang', 'exec sleep 1000\n')
        self.d.send('reexec\t' + p)
        err = self.d.expect(starts('error\treexec:'), timeout=TIMEOUT + 12)
        self.assertIn('did not answer --state-check within 10 s', err)
        self.check_unharmed(self.d, self.before)
        self.reexec(self.d)

    def test_answer_counts_even_if_the_pipe_stays_open(self):
        """A check that leaves a process holding its stdout has still
        answered once it exited with its line."""
        pidf = self.path('left.pid')
        p = self.script('leaves', 'case "$1" in --state-check=*) sleep 1000 & echo $! > %s; '
                        'echo "daemonproxy-state 1 ok"; exit 0;; esac\nexec %s "$@"\n'
                        % (pidf, binary()))
        self.d.send('reexec\t' + p)
        ev = self.d.expect(lambda l: l.startswith('reexec\t') or l.startswith('error\t'))
        wait_for(lambda: os.path.exists(pidf) and open(pidf).read().strip(), TIMEOUT, 'pid')
        left = int(open(pidf).read())
        self.on_cleanup(lambda: os.kill(left, signal.SIGKILL))
        self.assertTrue(ev.startswith('reexec\t'), ev)
        self.assertEqual(normalized(self.d.resync()), normalized(self.before))

    def test_one_at_a_time(self):
        p = self.script('slow', 'sleep 1; exit 1\n')
        self.d.send('reexec\t' + p)
        self.assertCmdError(self.d, 'reexec', 'already in progress')
        self.d.expect(lambda l: l.startswith('error\treexec:'))
        self.check_unharmed(self.d, self.before)

    def test_then_a_good_one(self):
        self.broadcast_error(self.script('true', 'exit 0\n'))
        self.reexec(self.d)
        self.assertEqual(normalized(self.d.resync()), normalized(self.before))


class Options(ReexecTest):
    """The two options a re-exec uses, run by hand."""

    def test_state_check(self):
        code, out, err = self.run_dp(['--state-check=1'])
        self.assertEqual((code, out), (0, 'daemonproxy-state 1 ok\n'))
        for bad in ('2', '0', 'x', ''):
            code, out, err = self.run_dp(['--state-check=' + bad])
            self.assertEqual(code, 1, bad)
            self.assertIn('daemonproxy-state %s unsupported' % bad, out)

    def test_restore_without_a_state(self):
        """--restore with an fd that is not open, or a file that is not a
        state: exit 4, loudly; with a non-number: a usage error (2)."""
        code, out, err = self.run_dp(['--restore=77'])
        self.assertEqual(code, 4)
        self.assertIn('re-exec: cannot load the state', err)
        empty = self.path('empty')
        open(empty, 'w').close()
        with open(empty) as f:
            code, out, err = self.run_dp(['--restore=%d' % f.fileno()], pass_fds=[f.fileno()])
        self.assertEqual(code, 4)
        self.assertIn('not a readable file', err)
        # read-only, so it is read rather than mapped: refused all the same
        junk = self.path('junk')
        with open(junk, 'w') as f:
            f.write('not a state\n')
        with open(junk) as f:
            code, out, err = self.run_dp(['--restore=%d' % f.fileno()], pass_fds=[f.fileno()])
        self.assertEqual(code, 4)
        self.assertIn('not a daemonproxy state', err)
        code, out, err = self.run_dp(['--restore=x'])
        self.assertEqual(code, 2)


class BadState(ReexecTest):
    """A new binary that passes the check but cannot restore the state it is
    given fails loudly: exit code 4, or exec-on-exit; it never starts
    empty."""

    def test_corrupted_state_is_fatal(self):
        rec = self.path('exit.rec')
        wrapper = corrupting_wrapper(self.path('corrupt'))
        d = self.start('-E', '\t'.join(exit_exec_args(rec)))
        out = d.cmd('service.args\ts\tsleep\t1000', 'service.start\ts')
        svc = int([l for l in out if l.startswith('service.state\ts\tup\t')][0].split('\t')[4])
        # the daemon is gone before cleanup could stop its service
        self.on_cleanup(lambda: os.kill(svc, signal.SIGKILL))
        d.send('reexec\t' + wrapper)
        self.assertEqual(d.wait(), 0)       # the exit-exec script's status
        code, msg, pid = read_exit_exec(rec)
        self.assertEqual((code, pid), ('4', d.pid))
        self.assertIn('re-exec: cannot', msg)
        d.log.expect(starts('daemonproxy: re-exec: cannot load the state: '))


NOTIFIER = r'''
import os, socket, sys, time
go, store = sys.argv[1], sys.argv[2]
a = os.environ['NOTIFY_SOCKET']
addr = b'\0' + a[1:].encode() if a.startswith('@') else a
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
if os.environ.get('LISTEN_FDS'):
    # a later run: the stored fd is handed back at fd 3
    with open(store + '.tmp', 'w') as f:
        f.write(os.readlink('/proc/self/fd/3'))
    os.rename(store + '.tmp', store + '.seen')
else:
    fd = os.open(store, os.O_RDONLY)
    s.sendmsg([b'FDSTORE=1\nFDNAME=kept'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                              fd.to_bytes(4, sys.byteorder))], 0, addr)
    s.sendto(b'STATUS=before', addr)
while not os.path.exists(go):
    time.sleep(0.02)
s.sendto(b'READY=1\nSTATUS=after', addr)
time.sleep(1000)
'''


class Readiness(ReexecTest):
    """Notification channels, the fd store and main pids are handed over:
    a service notifies through the same socket or pipe after the re-exec,
    and its stored fds come back at its next start."""

    def test_sd_notify_socket_and_fd_store(self):
        d = self.start()
        go, store = self.path('go'), self.path('stored')
        open(store, 'w').close()
        prog = self.path('notifier.py')
        with open(prog, 'w') as f:
            f.write(NOTIFIER)
        d.cmd('service.args\tn\t%s\t%s\t%s\t%s' % (sys.executable, prog, go, store),
              'service.opts\tn\tnotify\tfdstore=4\tlisten-fds', 'service.start\tn')
        d.expect(starts('fd.state\tn..kept\t'))
        d.expect(lambda l: l.startswith('service.notify\tn\t') and 'STATUS=before' in l)
        before = d.resync()
        self.assertIn('STATUS=before', '\n'.join(before))
        self.reexec(d)
        self.assertEqual(normalized(d.resync()), normalized(before))
        open(go, 'w').close()
        ev = d.expect(lambda l: l.startswith('service.notify\tn\t') and 'READY=1' in l)
        self.assertIn('STATUS=after', ev)
        # the next run gets the stored fd back
        d.cmd('service.signal\tn\tSIGKILL')
        d.expect(starts('service.state\tn\tdown\t'))
        os.unlink(go)
        d.cmd('service.start\tn')
        wait_for(lambda: os.path.exists(store + '.seen'), TIMEOUT, 'second run')
        self.assertEqual(open(store + '.seen').read(), store)

    def test_notify_fd_pipe(self):
        d = self.start()
        go = self.path('go')
        d.cmd('service.args\tp\tsh\t-c\twhile [ ! -e %s ]; do sleep 0.02; done; '
              'echo >&3; exec sleep 1000' % go,
              'service.fds\tp\tnull\tnull\tnull\tnotify.fd', 'service.start\tp')
        self.reexec(d)
        open(go, 'w').close()
        ev = d.expect(starts('service.notify\tp\t'))
        self.assertTrue(ev.endswith('\tREADY=1'), ev)


class Cgroup(ReexecTest):
    """--cgroup: the cgroups are reopened, so signalling a cgroup and its
    empty/populated events work after a re-exec, and a change during the
    exec is reported after it."""

    def setUp(self):
        from test_containment import cgroup2_mount, remove_cgroup_tree
        self.cg = None
        self.addCleanup(lambda: self.cg and remove_cgroup_tree(self.cg))
        super().setUp()
        found = cgroup2_mount()
        if not found or not os.access(found[0], os.W_OK):
            self.skipTest('no writable cgroup v2 mount (needs root)')
        cg = os.path.join(found[0], 'dpt-rx-%d-%s' % (os.getpid(), os.path.basename(self.tmp)))
        try:
            os.mkdir(cg)
        except OSError as e:
            self.skipTest('cannot create a cgroup: %s' % e)
        self.cg = cg
        if not os.path.exists(os.path.join(cg, 'cgroup.kill')):
            self.skipTest('no cgroup.kill (Linux < 5.14)')

    def test_cgroup_signal_and_events_after(self):
        d = self.start('--cgroup', self.cg)
        d.cmd('service.args\tc\tsh\t-c\tsleep 1000 & exec sleep 1000', 'service.start\tc')
        d.expect(starts('service.cgroup\tc\t'))
        self.reexec(d)
        d.cmd('service.signal\tc\tSIGKILL\tcgroup')
        d.expect(lambda l: l.startswith('service.cgroup\tc\t') and l.endswith('\tempty'))
        d.cmd('service.start\tc')
        d.expect(lambda l: l.startswith('service.cgroup\tc\t') and l.endswith('\tpopulated'))
        # emptied while the exec happens: reported after it
        d.send('service.signal\tc\tSIGKILL\tcgroup', 'reexec')
        lines = []
        d.expect(lambda l: lines.append(l) or l.startswith('reexec\t'))
        if not any(l.endswith('\tempty') for l in lines):
            d.expect(lambda l: l.startswith('service.cgroup\tc\t') and l.endswith('\tempty'))
