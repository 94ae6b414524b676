"""docs/protocol.md, Lines and fields, Replies and errors: the line protocol (framing, comments, errors, limits)
and the echo / chdir commands."""

import os

from dp import DPTest


class Echo(DPTest):
    def test_echo_args(self):
        d = self.start()
        d.send('echo\ta\tb')
        self.assertEqual(d.readline(), 'a\tb')
        d.send('echo\tsingle')
        self.assertEqual(d.readline(), 'single')

    def test_echo_alone_no_output(self):
        d = self.start()
        d.send('echo', 'echo\tafter')
        self.assertEqual(d.readline(), 'after')

    def test_echo_empty_fields_verbatim(self):
        d = self.start()
        d.send('echo\ta\t\tb')
        self.assertEqual(d.readline(), 'a\t\tb')
        d.send('echo\ta\t')
        self.assertEqual(d.readline(), 'a\t')

    def test_echo_high_bytes_verbatim(self):
        d = self.start()
        d.send('echo\t\xc3\xa9t\xe9\x7f')
        self.assertEqual(d.readline(), '\xc3\xa9t\xe9\x7f')

    def test_echo_many_fields(self):
        d = self.start()
        fields = [chr(97 + i % 26) for i in range(2000)]     # a 4004-byte line
        d.send('echo\t' + '\t'.join(fields))
        self.assertEqual(d.readline(), '\t'.join(fields))

    def test_commands_in_order_single_write(self):
        d = self.start()
        d.send(*['echo\t%d' % i for i in range(200)])
        for i in range(200):
            self.assertEqual(d.readline(), str(i))

    def test_line_split_across_writes(self):
        d = self.start()
        d.send_raw('ec')
        d.send_raw('ho\tpa')
        d.send_raw('rt\n')
        self.assertEqual(d.readline(), 'part')

    def test_echo_over_socket_is_reply_only(self):
        sock = self.path('e.sock')
        d = self.start('-S', sock)
        a = self.connect(sock)
        b = self.connect(sock)
        a.send('echo\tfor-a-only')
        self.assertEqual(a.readline(), 'for-a-only')
        self.assertEqual(b.cmd('echo\tfor-b'), ['for-b'])
        self.assertEqual(d.cmd(), [])


class Ignored(DPTest):
    def test_comments_and_blank_lines_ignored(self):
        d = self.start()
        d.send('# a comment', '#', '#echo\tx', '', ' ', '\t', '  \t  ', 'echo\tafter')
        self.assertEqual(d.readline(), 'after')

    def test_comment_not_logged_as_error(self):
        d = self.start()
        d.cmd('# comment', '   ', 'zz_flush_marker')
        d.log.expect(lambda l: 'zz_flush_marker' in l)
        self.assertEqual([l for l in d.log.snapshot() if l.startswith('error:')
                          and 'zz_flush_marker' not in l], [])


class Errors(DPTest):
    def test_unknown_command(self):
        d = self.start()
        d.send('no_such_cmd\targ')
        self.assertEqual(d.readline(), 'error\tUnknown command: no_such_cmd')
        d.log.expect(lambda l: l.startswith('error:') and 'unknown command no_such_cmd' in l)
        self.assertEqual(d.cmd1('echo\tstill'), 'still')

    def test_unknown_command_over_socket(self):
        sock = self.path('u.sock')
        d = self.start('-S', sock)
        c = self.connect(sock)
        c.send('frobnicate')
        self.assertEqual(c.readline(), 'error\tUnknown command: frobnicate')
        self.assertEqual(d.cmd(), [])

    def test_error_format_and_excerpt(self):
        # The excerpt is the command's first 30 bytes with its TABs, as the
        # original shows them (we used to show spaces).
        d = self.start()
        cmdline = 'chdir\t/nonexistent-dir-for-dp-tests/aaaaaaaaaaaaaaaaaaaa'
        line = d.cmd1(cmdline)
        self.assertError(line, 'chdir failed')
        self.assertTrue(line.endswith(', for command "%s..."' % cmdline[:30]), line)
        short = 'terminate\tnope'
        line = d.cmd1(short)
        self.assertTrue(line.startswith('error\t'), line)
        self.assertTrue(line.endswith(', for command "terminate\tnope"'), line)
        # the excerpt is the line as sent, even after a handler parsed it
        line = d.cmd1('fd.open\tf\twrite,bogus\t/x')
        self.assertTrue(line.endswith(', for command "fd.open\tf\twrite,bogus\t/x"'), line)
        # empty fields and a TAB at the end are TABs too
        line = d.cmd1('conn.event_timeout\t\t')
        self.assertTrue(line.endswith(', for command "conn.event_timeout\t\t"'), line)
        # the log shows the same text
        d.log.expect(lambda l: l == 'error: stdin: ' + line[len('error\t'):])

    def test_failed_command_logged_at_error(self):
        d = self.start()
        self.assertCmdError(d, 'chdir\t/nonexistent-dp-xyz', 'chdir failed')
        d.log.expect(lambda l: l.startswith('error:') and 'chdir failed' in l)

    def test_control_characters_rejected(self):
        # The error quotes the refused line: its TABs kept, every other
        # control character (NUL included) shown as '?'.
        d = self.start()
        for bad, shown in (('echo\ta\x01b', 'echo\ta?b'), ('echo\tx\r', 'echo\tx?'),
                           ('echo\x0bx', 'echo?x'), ('echo\t\x1b[0m', 'echo\t?[0m'),
                           ('echo\ta\x00b', 'echo\ta?b'), ('chdir\t/tmp\x02', 'chdir\t/tmp?'),
                           ('echo\t\t\x7f\x1f\tz\x0c', 'echo\t\t\x7f?\tz?'),
                           ('echo\t' + 'y' * 24 + '\x01\t\x02', 'echo\t' + 'y' * 24 + '?...')):
            with self.subTest(line=bad):
                out = d.cmd(bad)
                want = 'error\tinvalid control character in command, for command "%s"' % shown
                self.assertEqual(out, [want])
                # the log shows DEL as '?' too (log.c: no control
                # character but TAB reaches a reader's terminal)
                d.log.expect('error: stdin: ' + want[len('error\t'):].replace('\x7f', '?'))
        self.assertEqual(d.cmd1('echo\tok'), 'ok')

    def test_wrong_argument_counts(self):
        d = self.start()
        for line in ('chdir', 'chdir\ta\tb', 'conn.event_timeout', 'conn.event_timeout\t1',
                     'conn.event_timeout\t1\t2\t3', 'signal.clear', 'signal.clear\tSIGHUP',
                     'socket.create', 'socket.create\t-', 'terminate.guard\t+',
                     'log.filter\tinfo\tdebug'):
            with self.subTest(line=line):
                self.assertCmdError(d, line, 'argument')
        self.assertTrue(d.alive())


class LongLines(DPTest):
    def test_exactly_4096_accepted(self):
        d = self.start()
        line = 'echo\t' + 'x' * 4090
        self.assertEqual(len(line) + 1, 4096)
        d.send(line)
        self.assertEqual(d.readline(), 'x' * 4090)

    def test_4097_rejected(self):
        d = self.start()
        d.send('echo\t' + 'x' * 4091, 'echo\tnext')
        self.assertEqual(d.readline(), 'error\tline too long')
        self.assertEqual(d.readline(), 'next')
        d.log.expect(lambda l: l.startswith('error:') and 'command exceeds buffer size' in l)

    def test_very_long_line_in_pieces(self):
        d = self.start()
        d.send_raw('echo\t')
        for _ in range(10):
            d.send_raw('y' * 3000)
        d.send_raw('\necho\tafter-long\n')
        self.assertEqual(d.readline(), 'error\tline too long')
        self.assertEqual(d.readline(), 'after-long')

    def test_long_line_then_lines_in_same_write(self):
        d = self.start()
        d.send_raw('terminate\t' + '9' * 9000 + '\necho\ta\necho\tb\n')
        self.assertEqual(d.readline(), 'error\tline too long')
        self.assertEqual(d.readline(), 'a')
        self.assertEqual(d.readline(), 'b')
        self.assertTrue(d.alive())

    def test_long_comment_silent_but_logged(self):
        d = self.start()
        d.send('#' + 'c' * 9000, 'zz_after_comment')
        self.assertEqual(d.readline(), 'error\tUnknown command: zz_after_comment')
        i = d.log.expect(lambda l: 'zz_after_comment' in l)
        before = d.log.snapshot()[:i]
        self.assertEqual(len([l for l in before if 'command exceeds buffer size' in l]), 1, before)

    def test_long_line_over_socket(self):
        sock = self.path('l.sock')
        d = self.start('-S', sock)
        c = self.connect(sock)
        c.send('echo\t' + 'z' * 5000, 'echo\tok')
        self.assertEqual(c.readline(), 'error\tline too long')
        self.assertEqual(c.readline(), 'ok')


class Chdir(DPTest):
    def test_chdir_missing_dir(self):
        d = self.start()
        self.assertCmdError(d, 'chdir\t' + self.path('missing'), 'chdir failed')

    def test_chdir_to_file(self):
        d = self.start()
        f = self.write_file('afile', 'x')
        self.assertCmdError(d, 'chdir\t' + f, 'chdir failed')

    def test_chdir_success_silent(self):
        d = self.start()
        self.assertSilent(d, 'chdir\t/tmp')
        self.assertEqual(d.cmd1('echo\tafter'), 'after')

    def test_chdir_affects_relative_paths(self):
        d = self.start(cwd='/')
        sub = self.path('sub')
        os.mkdir(sub)
        self.assertSilent(d, 'chdir\t' + sub)
        self.assertSilent(d, 'socket.create\t-\trel.sock')
        self.assertTrue(os.path.exists(os.path.join(sub, 'rel.sock')))
        c = self.connect(os.path.join(sub, 'rel.sock'))
        self.assertEqual(c.cmd1('echo\trel'), 'rel')
        # relative chdir
        os.mkdir(os.path.join(sub, 'deeper'))
        self.assertSilent(d, 'chdir\tdeeper')
        self.assertSilent(d, 'socket.create\t\trel2.sock')
        self.assertTrue(os.path.exists(os.path.join(sub, 'deeper', 'rel2.sock')))
