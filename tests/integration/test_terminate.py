"""terminate, terminate.guard and --exit-guard (docs/protocol.md, Commands; docs/daemonproxy.1, OPTIONS);
exit and EOF of the interactive controller."""

import os
import re
import signal
import subprocess

from dp import DPTest, exit_exec_args, read_exit_exec, proc_alive


class Terminate(DPTest):
    """A requested exit (the normal end of a container) is no error: it is
    logged at info, naming who asked, whatever the code; only failures are
    logged at fatal."""

    def check_log(self, d, code, who):
        lines = d.log.wait_eof()
        want = 'info: exiting with code %d, as asked by %s' % (code, who)
        self.assertTrue([l for l in lines if re.fullmatch(want, l)],
                        '%r not in the log:\n%s' % (want, '\n'.join(lines)))
        self.assertFalse([l for l in lines if l.startswith('fatal:')], lines)

    def test_terminate_exit_code(self):
        for code in (0, 7, 255):
            with self.subTest(code=code):
                d = self.start()
                d.ping()
                d.send('terminate\t%d' % code)
                self.assertEqual(d.wait(), code)
                self.check_log(d, code, 'stdin')

    def test_terminate_from_socket_client(self):
        sock = self.path('t.sock')
        d = self.start('-S', sock, interactive=False, stdin=subprocess.DEVNULL)
        c = self.connect(sock)
        c.ping()
        c.send('terminate\t9')
        self.assertEqual(d.wait(), 9)
        self.check_log(d, 9, r'client \d+')

    def test_terminate_from_config_file(self):
        conf = self.write_file('t.conf', 'echo\tignored\n\nterminate\t4\n')
        d = self.start('-c', conf, interactive=False, stdin=subprocess.DEVNULL)
        self.assertEqual(d.wait(), 4)
        self.check_log(d, 4, re.escape(conf) + ':3')

    def test_terminate_from_service_controller(self):
        d = self.start()
        d.cmd('service.args\tctl\tsh\t-c\tprintf "terminate\\t5\\n"',
              'service.fds\tctl\tnull\tcontrol.cmd\tstderr')
        d.send('service.start\tctl')
        self.assertEqual(d.wait(), 5)
        self.check_log(d, 5, r'service ctl \d+')

    def test_terminate_non_integer_is_error(self):
        d = self.start()
        for arg in ('abc', '', '1.5', '3x'):
            with self.subTest(arg=arg):
                self.assertCmdError(d, 'terminate\t' + arg)
        self.assertTrue(d.alive())

    def test_terminate_without_code_is_argument_error(self):
        d = self.start()
        self.assertCmdError(d, 'terminate', 'argument')
        self.assertTrue(d.alive())

    def test_terminate_too_many_arguments(self):
        d = self.start()
        self.assertCmdError(d, 'terminate\t1\t2\t3', 'argument')
        self.assertTrue(d.alive())

    def test_exec_on_exit_keeps_its_message(self):
        rec = self.path('x.rec')
        d = self.start('-E', '\t'.join(exit_exec_args(rec)))
        d.ping()
        d.send('terminate\t6')
        self.assertEqual(d.wait(), 0)
        code, msg, pid = read_exit_exec(rec)
        self.assertEqual((code, msg, pid), ('6', 'terminated by command', d.pid))
        self.check_log(d, 6, 'stdin')

    def test_failures_are_still_fatal(self):
        # a fatal signal (SIGABRT: valgrind keeps SIGSEGV to itself)
        d = self.start()
        d.ping()
        os.kill(d.pid, signal.SIGABRT)
        self.assertEqual(d.wait(), 4)
        self.assertIn('fatal: daemonproxy received a fatal signal', d.log.wait_eof())
        # an unusable environment
        code, out, err = self.run_dp(['-c', self.path('missing.conf')])
        self.assertEqual(code, 3)
        self.assertRegex(err, r'(?m)^fatal: cannot open config file ')


class InteractiveEnd(DPTest):
    def test_eof_exits_0(self):
        d = self.start()
        d.ping()
        d.close_stdin()
        self.assertEqual(d.wait(), 0)

    def test_eof_flushes_pending_replies(self):
        d = self.start()
        # 100 kB: fits the pipes and the output buffer, so sending cannot block
        d.send(*['echo\tline-%d\t' % i + 'z' * 500 for i in range(200)])
        d.close_stdin()
        self.assertEqual(d.read_eof(), ['line-%d\t' % i + 'z' * 500 for i in range(200)])
        self.assertEqual(d.wait(), 0)

    def test_exit_command_exits_0_and_skips_rest(self):
        d = self.start()
        d.ping()
        d.send('exit\nterminate\t7')
        self.assertEqual(d.wait(), 0)

    def test_partial_final_line_not_executed(self):
        d = self.start()
        d.ping()
        d.send_raw('terminate\t7')
        d.close_stdin()
        self.assertEqual(d.wait(), 0)

    def test_eof_exits_even_with_socket_clients(self):
        sock = self.path('e.sock')
        d = self.start('-S', sock)
        c = self.connect(sock)
        c.ping()
        d.close_stdin()
        self.assertEqual(d.wait(), 0)


class Guard(DPTest):
    def setUp(self):
        super().setUp()
        self.rec = self.path('g.rec')

    def test_exit_guard_option(self):
        d = self.start('--exit-guard', '42')
        self.assertCmdError(d, 'terminate\t0', 'guard code')
        self.assertCmdError(d, 'terminate\t0\t43', 'incorrect')
        self.assertCmdError(d, 'terminate\t0\t42', 'exec')
        self.assertTrue(d.alive())
        self.assertSilent(d, '\t'.join(['terminate.exec_args'] + exit_exec_args(self.rec)))
        d.send('terminate\t5\t42')
        self.assertEqual(d.wait(), 0)
        code, msg, pid = read_exit_exec(self.rec)
        self.assertEqual(code, '5')
        self.assertEqual(pid, d.pid)

    def test_exit_guard_64bit(self):
        big = '9223372036854775807'
        d = self.start('--exit-guard', big)
        self.assertCmdError(d, 'terminate\t0\t9223372036854775806', 'incorrect')
        self.assertCmdError(d, 'terminate\t0\t' + big, 'exec')
        self.assertSilent(d, 'terminate.guard\t-\t' + big)
        d.send('terminate\t8')
        self.assertEqual(d.wait(), 8)

    def test_exit_guard_negative_code(self):
        d = self.start('--exit-guard', '-5')
        self.assertCmdError(d, 'terminate\t0', 'guard code')
        self.assertSilent(d, 'terminate.guard\t-\t-5')
        d.send('terminate\t1')
        self.assertEqual(d.wait(), 1)

    def test_guard_with_exit_exec_option(self):
        d = self.start('--exit-guard', '11', '-E', '\t'.join(exit_exec_args(self.rec)))
        self.assertCmdError(d, 'terminate\t0', 'guard code')
        d.send('terminate\t0\t11')
        self.assertEqual(d.wait(), 0)
        code, msg, pid = read_exit_exec(self.rec)
        self.assertEqual(code, '0')

    def test_terminate_guard_command_lifecycle(self):
        d = self.start()
        self.assertSilent(d, 'terminate.guard\t+\t7')
        self.assertCmdError(d, 'terminate\t0', 'guard code')
        self.assertCmdError(d, 'terminate\t0\t8', 'incorrect')
        self.assertCmdError(d, 'terminate\t0\t7', 'exec')
        self.assertCmdError(d, 'terminate.guard\t+\t8')      # one is already set
        self.assertCmdError(d, 'terminate.guard\t+\t7')
        self.assertCmdError(d, 'terminate.guard\t-\t9', 'incorrect')
        self.assertTrue(d.alive())
        self.assertSilent(d, 'terminate.guard\t-\t7')
        d.send('terminate\t3')
        self.assertEqual(d.wait(), 3)

    def test_terminate_guard_clear_exit_guard_option(self):
        d = self.start('--exit-guard', '42')
        self.assertCmdError(d, 'terminate.guard\t-\t41', 'incorrect')
        self.assertSilent(d, 'terminate.guard\t-\t42')
        d.send('terminate\t3')
        self.assertEqual(d.wait(), 3)

    def test_terminate_guard_bad_arguments(self):
        d = self.start()
        self.assertCmdError(d, 'terminate.guard\t+\t0')
        self.assertCmdError(d, 'terminate.guard\t+\tabc')
        self.assertCmdError(d, 'terminate.guard\t*\t5')
        self.assertCmdError(d, 'terminate.guard\t+', 'argument')
        self.assertCmdError(d, 'terminate.guard', 'argument')
        # none of these set a guard
        d.send('terminate\t2')
        self.assertEqual(d.wait(), 2)

    def survives(self, d, c):
        # the socket controller still answers (several round trips, so the
        # loop has certainly seen stdin's EOF/exit), and the process lives
        for _ in range(3):
            c.ping()
        self.assertTrue(d.alive())
        self.assertTrue(proc_alive(d.pid))

    def test_guard_eof_does_not_exit(self):
        sock = self.path('g.sock')
        d = self.start('--exit-guard', '42', '-S', sock)
        c = self.connect(sock)
        c.ping()
        d.close_stdin()
        self.survives(d, c)
        d.kill(signal.SIGKILL)
        self.assertEqual(d.wait(), -signal.SIGKILL)

    def test_guard_exit_command_does_not_exit(self):
        sock = self.path('g2.sock')
        d = self.start('-S', sock)
        self.assertSilent(d, 'terminate.guard\t+\t5')
        c = self.connect(sock)
        d.send('exit')
        self.survives(d, c)
        # clearing the guard from the socket then terminating works
        self.assertEqual(c.cmd('terminate.guard\t-\t5'), [])
        c.send('terminate\t3')
        self.assertEqual(d.wait(), 3)
