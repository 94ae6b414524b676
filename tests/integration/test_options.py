"""docs/daemonproxy.1, OPTIONS and EXIT STATUS: command-line options, exit codes, --help/--version,
--daemonize, -v/-q."""

import os
import re
import signal
import subprocess

from dp import (DPTest, VALGRIND_DIR, binary, dec, wait_for, proc_alive, proc_stat_fields,
                TIMEOUT)


class ModeAndBadOptions(DPTest):
    def test_no_mode_exits_2(self):
        code, out, err = self.run_dp([])
        self.assertEqual(code, 2)
        self.assertTrue(err.strip(), 'expected a message on stderr')

    def test_only_verbose_no_mode_exits_2(self):
        code, out, err = self.run_dp(['-v'])
        self.assertEqual(code, 2)
        self.assertTrue(err.strip())

    def test_unknown_long_option_exits_2_and_names_it(self):
        code, out, err = self.run_dp(['-i', '--bogus-option-xyz'])
        self.assertEqual(code, 2)
        self.assertIn('bogus-option-xyz', err)

    def test_unknown_short_option_exits_2_and_names_it(self):
        code, out, err = self.run_dp(['-i', '-Z'])
        self.assertEqual(code, 2)
        self.assertIn('Z', err)

    def test_config_without_argument_exits_2(self):
        code, out, err = self.run_dp(['-c'])
        self.assertEqual(code, 2)
        self.assertTrue(err.strip())

    def test_long_config_without_argument_exits_2(self):
        code, out, err = self.run_dp(['--config'])
        self.assertEqual(code, 2)

    def test_socket_without_argument_exits_2(self):
        code, out, err = self.run_dp(['-S'])
        self.assertEqual(code, 2)

    def test_exit_exec_without_argument_exits_2(self):
        code, out, err = self.run_dp(['-i', '-E'])
        self.assertEqual(code, 2)

    def test_config_missing_file_exits_3(self):
        code, out, err = self.run_dp(['-c', self.path('does-not-exist.conf')])
        self.assertEqual(code, 3)
        self.assertTrue(err.strip(), 'expected a message on stderr')

    def test_config_is_directory_fails(self):
        code, out, err = self.run_dp(['-c', self.tmp], timeout=5)
        self.assertIn(code, (2, 3))
        self.assertTrue(err.strip())

    def test_socket_unusable_path_exits_3(self):
        code, out, err = self.run_dp(['-S', self.path('no-such-dir/ctl.sock')])
        self.assertEqual(code, 3)

    def test_exit_guard_invalid_values_exit_2(self):
        for val in ('0', 'abc', '', '12x', '99999999999999999999999'):
            with self.subTest(val=val):
                code, out, err = self.run_dp(['-i', '--exit-guard', val])
                self.assertEqual(code, 2, 'exit-guard %r' % val)

    def test_exit_guard_without_argument_exits_2(self):
        code, out, err = self.run_dp(['-i', '--exit-guard'])
        self.assertEqual(code, 2)


class HelpVersion(DPTest):
    def check_help(self, opt):
        code, out, err = self.run_dp([opt])
        self.assertEqual(code, 1)
        self.assertIn('options', out)
        self.assertIn('--interactive', out)
        self.assertIn('--exit-exec', out)

    def test_help_long(self):
        self.check_help('--help')

    def test_help_short(self):
        self.check_help('-h')

    def check_version(self, opt):
        code, out, err = self.run_dp([opt])
        self.assertEqual(code, 1)
        lines = out.split('\n')
        self.assertRegex(lines[0], r'^daemonproxy version \d+\.\d+\.\d+')
        self.assertIn('build timestamp: ', out)
        self.assertIn('git HEAD:', out)
        self.assertRegex(out, r'(?m)Copyright \(C\) \d{4}-\d{4}')
        self.assertIn('LICENSE', out)

    def test_version_long(self):
        self.check_version('--version')

    def test_version_short(self):
        self.check_version('-V')


class Verbosity(DPTest):
    def filter_after(self, *opts):
        d = self.start(*opts)
        line = d.cmd1('log.filter')
        d.close_stdin()
        self.assertEqual(d.wait(), 0)
        return line

    def test_default_filter_is_debug(self):
        self.assertEqual(self.filter_after(), 'log.filter\tdebug')

    def test_v_lowers_filter(self):
        self.assertEqual(self.filter_after('-v'), 'log.filter\ttrace')

    def test_vv_bundled(self):
        self.assertEqual(self.filter_after('-vv'), 'log.filter\tnone')

    def test_verbose_long(self):
        self.assertEqual(self.filter_after('--verbose'), 'log.filter\ttrace')

    def test_q_raises_filter(self):
        self.assertEqual(self.filter_after('-q'), 'log.filter\tinfo')

    def test_qq_and_quiet_long(self):
        self.assertEqual(self.filter_after('-q', '--quiet'), 'log.filter\twarning')

    def test_v_and_q_cancel(self):
        self.assertEqual(self.filter_after('-v', '-q'), 'log.filter\tdebug')

    def test_v_logs_received_commands_at_debug(self):
        d = self.start('-v')
        d.cmd('echo\tverbose-marker-123')
        d.log.expect(lambda l: l.startswith('debug: ') and 'verbose-marker-123' in l)

    def test_default_hides_debug(self):
        d = self.start()
        d.cmd('echo\tdefault-marker-456', 'no_such_command_flush')
        d.log.expect(lambda l: 'no_such_command_flush' in l)
        d.close_stdin()
        self.assertEqual(d.wait(), 0)
        log = d.log.wait_eof()
        self.assertFalse([l for l in log if l.startswith('debug:')], log)
        self.assertFalse([l for l in log if 'default-marker-456' in l], log)

    def run_socket_mode(self, *opts):
        sock = self.path('q%d.sock' % len(opts))
        d = self.start('-S', sock, *opts)
        c = self.connect(sock)
        c.cmd('no_such_command_q')
        d.close_stdin()
        self.assertEqual(d.wait(), 0)
        return d.log.wait_eof()

    def test_q_hides_info_keeps_errors(self):
        log = self.run_socket_mode('-q')
        self.assertFalse([l for l in log if l.startswith('info:') or l.startswith('debug:')], log)
        self.assertTrue([l for l in log if l.startswith('error:') and 'no_such_command_q' in l], log)
        default = self.run_socket_mode()
        if not [l for l in default if l.startswith('info:')]:
            self.skipTest('no info-level message logged by default to check -q against')

    def test_warning_shown_by_q_hidden_by_qq(self):
        # -D with -i is ignored with a warning
        d = self.start('-D', '-q')
        d.ping()
        d.close_stdin()
        self.assertEqual(d.wait(), 0)
        log = d.log.wait_eof()
        self.assertTrue([l for l in log if l.startswith('warning:')], log)
        d = self.start('-D', '-qq')
        d.ping()
        d.close_stdin()
        self.assertEqual(d.wait(), 0)
        log = d.log.wait_eof()
        self.assertFalse([l for l in log if l.startswith('warning:')], log)


class Modes(DPTest):
    def test_bundled_ic(self):
        sock = self.path('ic.sock')
        conf = self.write_file('ic.conf', 'socket.create\t-\t%s\nbogus_from_config\n' % sock)
        d = self.start('-ic', conf, interactive=False)
        self.assertEqual(d.cmd1('echo\tinteractive-ok'), 'interactive-ok')
        d.log.expect(lambda l: l.startswith('error:') and 'unknown command bogus_from_config' in l)
        c = self.connect(sock)
        self.assertEqual(c.cmd1('echo\tsock-ok'), 'sock-ok')
        d.close_stdin()
        self.assertEqual(d.wait(), 0)

    def test_long_options(self):
        sock = self.path('long.sock')
        conf = self.write_file('long.conf', 'echo\tfrom-config\n')
        d = self.start('--interactive', '--config', conf, '--socket', sock, interactive=False)
        self.assertEqual(d.cmd1('echo\tx'), 'x')
        c = self.connect(sock)
        self.assertEqual(c.cmd1('echo\ty'), 'y')
        d.close_stdin()
        self.assertEqual(d.wait(), 0)

    def test_socket_option_creates_socket_mode_0600(self):
        sock = self.path('s.sock')
        d = self.start('-S', sock, interactive=False, stdin=subprocess.DEVNULL)
        c = self.connect(sock)
        self.assertEqual(c.cmd1('echo\thello'), 'hello')
        self.assertEqual(c.peer_pid(), d.pid)
        self.assertEqual(oct(os.stat(sock).st_mode & 0o777), oct(0o600))


class ConfigFileErrors(DPTest):
    """-c FILE: every error of the file is logged naming FILE:LINE (lines
    counted from 1, comments, blank and over-long lines included)."""

    def test_each_kind_of_error_names_file_and_line(self):
        conf = self.write_file('e.conf', '\n'.join([
            '# a comment',
            'echo\tok',
            '',
            'bogus_cmd',
            'service.start\tnope',
            'service.fds\tw\tnull\tno_such_handle',
            'chdir',
            'echo\ta\x01b',
            'echo\t' + 'x' * 5000,
            '#' + 'y' * 5000,
            'service.start\tnope2',
            'terminate\t0']))          # the last line has no newline
        code, out, err = self.run_dp(['-c', conf])
        self.assertEqual(code, 0, err)
        self.assertEqual(err.splitlines(), [l.replace('F:', conf + ':') for l in [
            'error: F:4: unknown command bogus_cmd',
            'error: F:5: no such service \'nope\', for command "service.start\tnope"',
            'warning: F:6: service w: no handle named \'no_such_handle\' (yet), '
            'for command "service.fds\tw\tnull\tno_such_han..."',
            'error: F:7: expected 1 argument, for command "chdir"',
            'error: F:8: invalid control character in command, for command "echo\ta?b"',
            'error: F:9: command exceeds buffer size',
            'error: F:10: command exceeds buffer size (comment)',
            'error: F:11: no such service \'nope2\', for command "service.start\tnope2"',
            'info: exiting with code 0, as asked by F:12']])

    def test_large_file_read_in_chunks(self):
        lines = ['echo\tline %d' % i for i in range(1, 5001)] + ['bogus_at_5001', 'terminate\t3']
        conf = self.write_file('big.conf', '\n'.join(lines) + '\n')
        code, out, err = self.run_dp(['-c', conf])
        self.assertEqual(code, 3, err)
        self.assertEqual(err.splitlines(), [
            'error: %s:5001: unknown command bogus_at_5001' % conf,
            'info: exiting with code 3, as asked by %s:5002' % conf])

    def test_stdin_config(self):
        p = subprocess.run([binary(), '-c', '-'], input=b'echo\n\nbogus\nterminate\t0\n',
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0)
        self.assertEqual(dec(p.stderr).splitlines(), [
            'error: <stdin>:3: unknown command bogus',
            'info: exiting with code 0, as asked by <stdin>:4'])

    def test_file_and_line_kept_across_a_reexec(self):
        """A config file still being read when it asks for a re-exec (a
        FIFO here, written in two parts) names FILE:LINE after it too."""
        if VALGRIND_DIR:
            self.skipTest('a re-exec leaves valgrind')
        fifo = self.path('conf.fifo')
        os.mkfifo(fifo)
        sock = self.path('s.sock')
        d = self.start('-c', fifo, '-S', sock, interactive=False, stdin=subprocess.DEVNULL)
        w = os.open(fifo, os.O_WRONLY)      # the daemon opens it for reading
        self.on_cleanup(lambda: os.close(w))
        c = self.connect(sock)
        c.ping()
        os.write(w, b'echo\tone\n# two\nreexec\n')
        c.expect(lambda l: l.startswith('reexec\t'))
        os.write(w, b'bogus_after_reexec\n')
        d.log.expect('error: %s:4: unknown command bogus_after_reexec' % fifo)

    def test_other_controllers_keep_their_names(self):
        conf = self.write_file('n.conf', 'bogus_in_file\n')
        d = self.start('-c', conf)
        d.log.expect('error: %s:1: unknown command bogus_in_file' % conf)
        self.assertEqual(d.cmd1('bogus_on_stdin'), 'error\tUnknown command: bogus_on_stdin')
        d.log.expect('error: stdin: unknown command bogus_on_stdin')


class Umask(DPTest):
    def test_umask_077(self):
        d = self.start(umask=0o022)
        d.ping()
        with open('/proc/%d/status' % d.pid) as f:
            umask = [l.split()[1] for l in f if l.startswith('Umask:')]
        self.assertEqual(umask, ['0077'])


class Daemonize(DPTest):
    def test_daemonize_prints_pid_and_child_runs(self):
        sock = self.path('d.sock')
        # (valgrind keeps a copy of stderr for its own reports in the child)
        p = subprocess.Popen([binary(), '-D', '-S', sock], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL if VALGRIND_DIR else subprocess.PIPE)
        try:
            # EOF on both pipes also proves the child closed stdout/stderr
            out, err = p.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            self.fail('daemonize parent (or the child holding its stdout) did not finish')
        self.assertEqual(p.returncode, 0)
        m = re.match(r'^\s*(\d+)\s*$', dec(out))
        self.assertTrue(m, 'stdout should be the child PID, got %r' % out)
        pid = int(m.group(1))
        self.track_pid(pid)
        self.assertNotEqual(pid, p.pid)
        self.assertTrue(proc_alive(pid))
        c = self.connect(sock)
        self.assertEqual(c.cmd1('echo\tdaemon-ok'), 'daemon-ok')
        self.assertEqual(c.peer_pid(), pid)
        # setsid(): session leader
        self.assertEqual(int(proc_stat_fields(pid)[3]), pid)
        # stdin/stdout/stderr no longer our pipes
        for fd in (0, 1, 2):
            try:
                target = os.readlink('/proc/%d/fd/%d' % (pid, fd))
            except FileNotFoundError:
                continue
            self.assertFalse(target.startswith('pipe:'), 'fd %d still %s' % (fd, target))
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not proc_alive(pid), msg='daemonized child to die')

    def test_daemonize_ignored_with_interactive(self):
        d = self.start('-D')
        self.assertEqual(d.cmd1('echo\tstill-here'), 'still-here')
        d.log.expect(lambda l: l.startswith('warning:'))
        d.close_stdin()
        self.assertEqual(d.wait(), 0)


class DefaultSocket(DPTest):
    """--default-socket listens where dpctl looks (src/sockpath.h)."""

    def env_with(self, **kw):
        env = dict(os.environ)
        env.pop('DAEMONPROXY_SOCKET', None)
        env.update(kw)
        return env

    def test_listens_on_daemonproxy_socket(self):
        sock = self.path('dflt.sock')
        d = self.start('--default-socket', env=self.env_with(DAEMONPROXY_SOCKET=sock))
        d.ping()
        c = self.connect(sock)
        c.send('echo\tvia-default')
        c.expect('via-default')

    def test_with_socket_is_a_usage_error(self):
        code, out, err = self.run_dp(['--default-socket', '-S', self.path('x.sock')],
                                     env=self.env_with(DAEMONPROXY_SOCKET=self.path('y.sock')))
        self.assertEqual(code, 2)
        self.assertIn('exclude each other', err)
        self.assertFalse(os.path.exists(self.path('x.sock')))

    def test_path_too_long_is_a_usage_error(self):
        code, out, err = self.run_dp(['--default-socket'],
                                     env=self.env_with(DAEMONPROXY_SOCKET='/' + 'a' * 200))
        self.assertEqual(code, 2)
        self.assertIn('too long', err)

    def test_counts_as_a_mode(self):
        # Without -i/-c/-S it is enough: the daemon runs until killed.
        sock = self.path('mode.sock')
        d = self.start('--default-socket', interactive=False,
                       env=self.env_with(DAEMONPROXY_SOCKET=sock))
        wait_for(lambda: os.path.exists(sock), msg='socket created')
        c = self.connect(sock)
        c.ping()
        self.assertTrue(d.alive())
