"""docs/daemonproxy.1, OPTIONS: --pidfile PATH (an extension).  The file holds the pid of
the process that carries on (the daemon's, with -D), is written atomically before the loop
starts, is removed on a clean exit, and is left in place when exec-on-exit may hand the pid
to a new daemonproxy, on a fatal signal, or when it no longer holds our pid."""

import os
import re
import signal
import subprocess

from dp import (DPTest, VALGRIND_DIR, binary, dec, exit_exec_args, read_exit_exec, wait_for,
                proc_alive, TIMEOUT)


class PidfileTest(DPTest):
    def setUp(self):
        super().setUp()
        # The pidfile gets a directory of its own, so that a leftover
        # temporary file would show in its listing.
        self.dir = self.path('run')
        os.mkdir(self.dir)
        self.pidfile = os.path.join(self.dir, 'dp.pid')

    def read_pidfile(self):
        with open(self.pidfile) as f:
            return f.read()

    def assertHoldsPid(self, pid):
        self.assertEqual(self.read_pidfile(), '%d\n' % pid)
        self.assertEqual(os.listdir(self.dir), ['dp.pid'], 'a temporary file was left behind')

    def start_socket(self, *args, **kw):
        """daemonproxy -S with --pidfile; returns (daemon, client) once the
        loop runs (an echo answered), so the file has been written."""
        sock = self.path('ctl.sock')
        d = self.start('-S', sock, '--pidfile', self.pidfile, *args, interactive=False,
                       stdin=subprocess.DEVNULL, **kw)
        c = self.connect(sock)
        c.ping()
        return d, c

    def daemonize(self, *args, fails=False):
        """Run daemonproxy -D to the parent's exit; returns (code, stdout,
        stderr).  A child that starts keeps running, so under valgrind
        (which keeps a copy of stderr for its reports in the child) its
        stderr is not captured."""
        sock = self.path('ctl.sock')
        errpipe = subprocess.DEVNULL if VALGRIND_DIR and not fails else subprocess.PIPE
        p = subprocess.Popen([binary(), '-D', '-S', sock] + list(args),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errpipe)
        try:
            out, err = p.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            self.fail('daemonize parent (or the child holding its pipes) did not finish')
        return p.returncode, dec(out), dec(err or b'')


class Written(PidfileTest):
    def test_socket_mode_holds_daemon_pid(self):
        d, c = self.start_socket()
        self.assertEqual(c.peer_pid(), d.pid)
        self.assertHoldsPid(d.pid)

    def test_mode_0644_despite_umask(self):
        # daemonproxy's umask is 077, but a pidfile is for others to read.
        d, c = self.start_socket()
        self.assertEqual(oct(os.stat(self.pidfile).st_mode & 0o777), oct(0o644))

    def test_interactive_holds_pid(self):
        d = self.start('--pidfile=' + self.pidfile)
        d.ping()
        self.assertHoldsPid(d.pid)

    def test_replaces_a_stale_file(self):
        with open(self.pidfile, 'w') as f:
            f.write('999999999\n')
        d, c = self.start_socket()
        self.assertHoldsPid(d.pid)

    def test_daemonize_parent_prints_the_pid_in_the_file(self):
        code, out, err = self.daemonize('--pidfile', self.pidfile)
        self.assertEqual(code, 0, err)
        m = re.match(r'^(\d+)\n$', out)
        self.assertTrue(m, 'stdout should be the child PID, got %r' % out)
        pid = int(m.group(1))
        self.track_pid(pid)
        # Already there when the parent has exited: no waiting.
        self.assertHoldsPid(pid)
        c = self.connect(self.path('ctl.sock'))
        self.assertEqual(c.peer_pid(), pid)
        c.send('terminate\t0')
        wait_for(lambda: not os.path.exists(self.pidfile), msg='pidfile removed at exit')
        wait_for(lambda: not proc_alive(pid), msg='daemon to exit')


class Removed(PidfileTest):
    def test_terminate_0_removes_it(self):
        d, c = self.start_socket()
        self.assertHoldsPid(d.pid)
        c.send('terminate\t0')
        self.assertEqual(d.wait(), 0)
        self.assertEqual(os.listdir(self.dir), [])

    def test_terminate_with_a_code_removes_it(self):
        d, c = self.start_socket()
        c.send('terminate\t7')
        self.assertEqual(d.wait(), 7)
        self.assertEqual(os.listdir(self.dir), [])

    def test_end_of_interactive_input_removes_it(self):
        d = self.start('--pidfile', self.pidfile)
        d.ping()
        self.assertHoldsPid(d.pid)
        d.close_stdin()
        self.assertEqual(d.wait(), 0)
        self.assertEqual(os.listdir(self.dir), [])

    def test_relative_path_survives_chdir(self):
        # Relative to the directory daemonproxy started in, whatever the
        # working directory is when it exits.
        d = self.start('--pidfile', 'dp.pid', cwd=self.dir)
        d.ping()
        self.assertHoldsPid(d.pid)
        self.assertSilent(d, 'chdir\t/')
        d.send('terminate\t0')
        self.assertEqual(d.wait(), 0)
        self.assertEqual(os.listdir(self.dir), [])


class Kept(PidfileTest):
    def test_exit_exec_keeps_it(self):
        # The exec'd program may be a new daemonproxy with the same pid.
        rec = self.path('exit.rec')
        for how in ('-E', 'terminate.exec_args'):
            with self.subTest(how=how):
                if how == '-E':
                    d, c = self.start_socket('-E', '\t'.join(exit_exec_args(rec)))
                else:
                    d, c = self.start_socket()
                    self.assertSilent(c, '\t'.join(['terminate.exec_args'] + exit_exec_args(rec)))
                c.send('terminate\t0')
                self.assertEqual(d.wait(), 0, 'the exit-exec script exits 0')
                code, msg, pid = read_exit_exec(rec)
                self.assertEqual((code, pid), ('0', d.pid))
                self.assertHoldsPid(d.pid)
                os.unlink(self.pidfile)
                os.unlink(rec)

    def test_not_removed_when_it_holds_another_pid(self):
        d, c = self.start_socket()
        self.assertHoldsPid(d.pid)
        # Another daemonproxy took the path over.
        with open(self.pidfile, 'w') as f:
            f.write('1\n')
        c.send('terminate\t0')
        self.assertEqual(d.wait(), 0)
        self.assertEqual(self.read_pidfile(), '1\n')
        log = d.log.wait_eof()
        self.assertTrue([l for l in log if 'no longer holds our pid' in l], log)

    def test_not_removed_when_it_holds_our_pid_and_more(self):
        d, c = self.start_socket()
        with open(self.pidfile, 'w') as f:
            f.write('%d\n%d\n' % (d.pid, d.pid))
        c.send('terminate\t0')
        self.assertEqual(d.wait(), 0)
        self.assertTrue(os.path.exists(self.pidfile))

    def test_fatal_signal_keeps_it(self):
        d, c = self.start_socket()
        os.kill(d.pid, signal.SIGABRT)
        self.assertEqual(d.wait(), 4)
        self.assertHoldsPid(d.pid)


class Unwritable(PidfileTest):
    def assertFailed(self, code, err, path):
        self.assertEqual(code, 3, err)
        self.assertIn('daemonproxy: cannot write pidfile %s: ' % path, err)

    def test_missing_directory_exits_3(self):
        path = self.path('no-such-dir/dp.pid')
        code, out, err = self.run_dp(['-S', self.path('ctl.sock'), '--pidfile', path])
        self.assertFailed(code, err, path)
        self.assertIn('No such file or directory', err)

    def test_missing_directory_with_daemonize_exits_3(self):
        path = self.path('no-such-dir/dp.pid')
        code, out, err = self.daemonize('--pidfile', path, fails=True)
        self.assertFailed(code, err, path)
        self.assertEqual(out, '', 'the parent prints no pid when the start failed')

    def test_rename_failure_leaves_no_temporary_file(self):
        # A directory at the path: the temporary file is written, the
        # rename fails, and the temporary file is removed again.
        os.mkdir(self.pidfile)
        code, out, err = self.run_dp(['-S', self.path('ctl.sock'), '--pidfile', self.pidfile])
        self.assertFailed(code, err, self.pidfile)
        self.assertEqual(os.listdir(self.dir), ['dp.pid'])

    def test_empty_path_exits_3(self):
        code, out, err = self.run_dp(['-S', self.path('ctl.sock'), '--pidfile', ''])
        self.assertFailed(code, err, '')
