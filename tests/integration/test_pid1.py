"""docs/daemonproxy.1, RUNNING AS PID 1: behaviour as PID 1 (implicit exit guard, default config
/etc/daemonproxy.conf, -D ignored).  Uses `unshare --pid --fork`; skipped
when that is not possible (not root, no namespaces)."""

import os
import shutil
import signal
import subprocess
import time

from dp import DPTest, VALGRIND_DIR, exit_exec_args, read_exit_exec, TIMEOUT

UNSHARE = shutil.which('unshare')
_ok = {}


def can_unshare(*extra):
    key = extra
    if key not in _ok:
        if not UNSHARE:
            _ok[key] = False
        else:
            try:
                r = subprocess.run([UNSHARE, '--pid', '--fork', '--kill-child'] + list(extra) + ['true'],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, timeout=TIMEOUT)
                _ok[key] = r.returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                _ok[key] = False
    return _ok[key]


class Pid1(DPTest):
    def setUp(self):
        super().setUp()
        if not can_unshare():
            self.skipTest('unshare --pid --fork not available')
        self.prefix = [UNSHARE, '--pid', '--fork', '--kill-child']

    def connect_track(self, sock, d):
        """Connect to the namespaced daemon's socket (watching that it has
        not died) and remember its real PID for cleanup."""
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(sock):
            if not d.alive():
                return None
            self.assertLess(time.monotonic(), deadline, 'socket %s never appeared' % sock)
            time.sleep(0.02)
        c = self.connect(sock)
        self.track_pid(c.peer_pid())
        return c

    def test_implicit_guard_terminate_needs_exec(self):
        rec = self.path('p1.rec')
        d = self.start(prefix=self.prefix)
        self.assertCmdError(d, 'terminate\t0', 'exec')
        self.assertCmdError(d, 'terminate\t3', 'exec')
        self.assertTrue(d.alive())
        self.assertSilent(d, '\t'.join(['terminate.exec_args'] + exit_exec_args(rec)))
        d.send('terminate\t0')
        code, msg, pid = read_exit_exec(rec)
        self.assertEqual(code, '0')
        self.assertEqual(pid, 1, 'daemonproxy should have been PID 1')

    def test_fatal_signal_execs_exit_exec(self):
        # PID 1 must never just vanish: a crash becomes exec-on-exit, code 4.
        if VALGRIND_DIR:
            self.skipTest('valgrind gives up on a SIGSEGV sent from outside the PID '
                          'namespace ("appears to have lost its siginfo")')
        rec, sock = self.path('p1sig.rec'), self.path('p1sig.sock')
        d = self.start('-S', sock, '-E', '\t'.join(exit_exec_args(rec)), prefix=self.prefix)
        c = self.connect_track(sock, d)
        self.assertIsNotNone(c, 'daemonproxy as PID 1 exited: %r' % (d.log.snapshot(),))
        os.kill(c.peer_pid(), signal.SIGSEGV)
        code, msg, pid = read_exit_exec(rec)
        self.assertEqual(code, '4')
        self.assertIn('SIGSEGV', msg)
        self.assertEqual(pid, 1, 'the exit-exec command should have replaced PID 1')

    def test_implicit_guard_eof_does_not_exit(self):
        sock = self.path('p1eof.sock')
        d = self.start('-S', sock, prefix=self.prefix)
        c = self.connect_track(sock, d)
        self.assertIsNotNone(c)
        d.close_stdin()
        for _ in range(3):
            c.ping()
        self.assertTrue(d.alive())
        self.assertError(c.cmd1('terminate\t0'), 'exec')

    def test_default_config_file(self):
        if not can_unshare('--mount'):
            self.skipTest('unshare --mount not available')
        upper, work = self.path('upper'), self.path('work')
        os.mkdir(upper)
        os.mkdir(work)
        sock = self.path('p1conf.sock')
        with open(os.path.join(upper, 'daemonproxy.conf'), 'w') as f:
            f.write('socket.create\t-\t%s\n' % sock)
        script = ('mount -t overlay overlay -o lowerdir=/etc,upperdir=%s,workdir=%s /etc '
                  '|| exit 99; exec "$@"' % (upper, work))
        d = self.start(interactive=False, stdin=subprocess.DEVNULL,
                       prefix=[UNSHARE, '--pid', '--fork', '--kill-child', '--mount',
                               '/bin/sh', '-c', script, 'sh'])
        c = self.connect_track(sock, d)
        if c is None:
            code = d.wait()
            if code == 99:
                self.skipTest('cannot overlay-mount /etc in a mount namespace')
            self.fail('daemonproxy as PID 1 exited with %s; log %r' % (code, d.log.snapshot()))
        self.assertEqual(c.cmd1('echo\tpid1-config'), 'pid1-config')
        self.assertError(c.cmd1('terminate\t0'), 'exec')
        self.assertTrue(d.alive())

    def test_daemonize_ignored_as_pid1(self):
        sock = self.path('p1d.sock')
        d = self.start('-D', '-S', sock, interactive=False, stdin=subprocess.DEVNULL,
                       prefix=self.prefix)
        c = self.connect_track(sock, d)
        self.assertIsNotNone(c, 'daemonproxy -D as PID 1 exited: %r' % (d.log.snapshot(),))
        self.assertEqual(c.cmd1('echo\tstill-pid1'), 'still-pid1')
        self.assertTrue(d.alive(), 'PID 1 must not fork away')
        d.log.expect(lambda l: l.startswith('warning:'))
