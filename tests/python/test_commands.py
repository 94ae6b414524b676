"""commands.py: one method per command of docs/protocol.md; arguments are
checked (InvalidArgument, a ValueError) before anything is sent."""

import signal
import unittest

import _path
from daemonproxy import Commands, InvalidArgument
from daemonproxy.commands import warnings_of
from daemonproxy.events import WarningEvent
from daemonproxy.protocol import check_command

_path.check()


class Fake(Commands):
    def __init__(self, reply=()):
        self.sent = []
        self.reply = list(reply)
        self.cleared = []

    def _command(self, fields, post=warnings_of, kind=None):
        check_command(fields)           # as the session does before queuing
        self.sent.append(('\t'.join(fields), kind))
        return post(self.reply) if post else []

    def _after_signal_clear(self, name, count):
        self.cleared.append((name, count))


GOOD = [
    (lambda c: c.echo('a', '', 'b'), 'echo\ta\t\tb'),
    (lambda c: c.statedump(), 'statedump'),
    (lambda c: c.exit(), 'exit'),
    (lambda c: c.conn_event_timeout(0, 2147483647), 'conn.event_timeout\t0\t2147483647'),
    (lambda c: c.chdir('/tmp'), 'chdir\t/tmp'),
    (lambda c: c.service_args('web', 'httpd', '-f', ''), 'service.args\tweb\thttpd\t-f\t'),
    (lambda c: c.service_args('web'), 'service.args\tweb'),
    (lambda c: c.service_fds('web', 'null', '-', 'stderr'), 'service.fds\tweb\tnull\t-\tstderr'),
    (lambda c: c.service_fds('web'), 'service.fds\tweb'),
    (lambda c: c.service_tags('web', 'a b', 'c'), 'service.tags\tweb\ta b\tc'),
    (lambda c: c.service_auto_up('web', 2, 'always', 'hup'),
     'service.auto_up\tweb\t2\talways\tSIGHUP'),
    (lambda c: c.service_auto_up('web', None), 'service.auto_up\tweb\t-'),
    (lambda c: c.service_auto_up('web', '-', signal.SIGUSR1), 'service.auto_up\tweb\t-\tSIGUSR1'),
    (lambda c: c.service_start('web'), 'service.start\tweb'),
    (lambda c: c.service_start('web', 1234), 'service.start\tweb\t1234'),
    (lambda c: c.service_start('web', '-'), 'service.start\tweb\t-'),
    (lambda c: c.service_signal('web', 'TERM'), 'service.signal\tweb\tSIGTERM'),
    (lambda c: c.service_signal('web', 9, 'group'), 'service.signal\tweb\t9\tgroup'),
    (lambda c: c.service_signal('web', signal.SIGKILL, 'cgroup'),
     'service.signal\tweb\tSIGKILL\tcgroup'),
    (lambda c: c.service_delete('web'), 'service.delete\tweb'),
    (lambda c: c.service_env('web', 'A=1', '-B'), 'service.env\tweb\tA=1\t-B'),
    (lambda c: c.service_env('web'), 'service.env\tweb'),
    (lambda c: c.service_opts('web', 'notify', 'fdstore=3'), 'service.opts\tweb\tnotify\tfdstore=3'),
    (lambda c: c.fd_pipe('r', 'w'), 'fd.pipe\tr\tw'),
    (lambda c: c.fd_pipe('r', 'w', ['unix', 'dgram']), 'fd.pipe\tr\tw\tunix,dgram'),
    (lambda c: c.fd_open('log', 'write,append,create', '/tmp/x.log'),
     'fd.open\tlog\twrite,append,create\t/tmp/x.log'),
    (lambda c: c.fd_socket('www', 'tcp,listen=11', '*:11203'),
     'fd.socket\twww\ttcp,listen=11\t*:11203'),
    (lambda c: c.fd_socket('s'), 'fd.socket\ts\t'),
    (lambda c: c.fd_delete('r'), 'fd.delete\tr'),
    (lambda c: c.log_filter(), 'log.filter'),
    (lambda c: c.log_filter('-'), 'log.filter\t-'),
    (lambda c: c.log_dest('logpipe'), 'log.dest\tfd\tlogpipe'),
    (lambda c: c.signal_clear('HUP', 1), 'signal.clear\tSIGHUP\t1'),
    (lambda c: c.socket_create('/tmp/dp.sock'), 'socket.create\t-\t/tmp/dp.sock'),
    (lambda c: c.socket_delete(), 'socket.delete'),
    (lambda c: c.terminate(3), 'terminate\t3'),
    (lambda c: c.terminate(0, -77), 'terminate\t0\t-77'),
    (lambda c: c.terminate_exec_args('/bin/sh', '-c', 'exit 0'),
     'terminate.exec_args\t/bin/sh\t-c\texit 0'),
    (lambda c: c.terminate_exec_args(), 'terminate.exec_args'),
    (lambda c: c.terminate_guard('+', 42), 'terminate.guard\t+\t42'),
]

BAD = [
    lambda c: c.echo('a\tb'),
    lambda c: c.echo('x' * 4100),
    lambda c: c.conn_event_timeout(3, 2),
    lambda c: c.conn_event_timeout(-1, 2),
    lambda c: c.conn_event_timeout(0, 2 ** 31),
    lambda c: c.chdir(''),
    lambda c: c.chdir('/a\nb'),
    lambda c: c.service_args('no spaces'),
    lambda c: c.service_args('x' * 32, 'true'),
    lambda c: c.service_args('web', 'a\0b'),
    lambda c: c.service_args('web', 'x' * 4090),
    lambda c: c.service_fds('web', 'bad name'),
    lambda c: c.service_tags('web', 'a\nb'),
    lambda c: c.service_auto_up('web', 0, 'always'),
    lambda c: c.service_auto_up('web', 2 ** 32, 'always'),
    lambda c: c.service_auto_up('web', 1, 'SIGKILL'),
    lambda c: c.service_auto_up('web', 1, 'sometimes'),
    lambda c: c.service_start('web', -1),
    lambda c: c.service_start('web', 'soon'),
    lambda c: c.service_signal('web', 'NOSUCH'),
    lambda c: c.service_signal('web', 'TERM', 'pgrp'),
    lambda c: c.service_delete(''),
    lambda c: c.service_env('web', 'NOEQUALS'),
    lambda c: c.service_env('web', '1X=2'),
    lambda c: c.service_opts('web', 'fdstore=0'),
    lambda c: c.service_opts('web', 'bogus'),
    lambda c: c.fd_pipe('r', 'r'),
    lambda c: c.fd_pipe('r', 'w', 'listen'),
    lambda c: c.fd_open('f', 'read,bind', '/x'),
    lambda c: c.fd_open('f', 'read', ''),
    lambda c: c.fd_socket('s', 'unix,read'),
    lambda c: c.fd_delete('a/b'),
    lambda c: c.log_filter('verbose'),
    lambda c: c.log_dest('bad name'),
    lambda c: c.signal_clear('SIGKILL', 1),
    lambda c: c.signal_clear('SIGHUP', -1),
    lambda c: c.socket_create(''),
    lambda c: c.terminate(256),
    lambda c: c.terminate(0, 2 ** 63),
    lambda c: c.terminate_exec_args('a\tb'),
    lambda c: c.terminate_guard('+', 0),
    lambda c: c.terminate_guard('x', 1),
]


class Methods(unittest.TestCase):
    def test_lines(self):
        for fn, expected in GOOD:
            with self.subTest(expected=expected):
                c = Fake()
                fn(c)
                self.assertEqual(len(c.sent), 1)
                self.assertEqual(c.sent[0][0], expected)

    def test_every_command_has_a_method(self):
        commands = {'echo', 'statedump', 'exit', 'conn.event_timeout', 'chdir',
                    'service.args', 'service.fds', 'service.tags', 'service.auto_up',
                    'service.start', 'service.signal', 'service.delete', 'service.env',
                    'service.opts', 'fd.pipe', 'fd.open', 'fd.socket', 'fd.delete',
                    'log.filter', 'log.dest', 'signal.clear', 'socket.create', 'socket.delete',
                    'terminate', 'terminate.exec_args', 'terminate.guard'}
        covered = {line.split('\t')[0] for _, line in GOOD}
        self.assertEqual(commands - covered, set())
        for cmd in commands:
            self.assertTrue(hasattr(Commands, cmd.replace('.', '_')), cmd)

    def test_bad_arguments_raise_before_sending(self):
        for i, fn in enumerate(BAD):
            with self.subTest(i=i):
                c = Fake()
                with self.assertRaises(InvalidArgument):
                    fn(c)
                with self.assertRaises(ValueError):
                    fn(c)
                self.assertEqual(c.sent, [])

    def test_kinds(self):
        c = Fake()
        c.statedump()
        c.exit()
        c.terminate(0)
        self.assertEqual([k for _, k in c.sent], ['dump', 'exit', 'final'])

    def test_results(self):
        self.assertEqual(Fake(['a\t\tb']).echo('a', '', 'b'), 'a\t\tb')
        self.assertIsNone(Fake().echo())
        self.assertEqual(Fake(['log.filter\tinfo']).log_filter('+'), 'info')
        w = Fake(['warning\tservice w: no handle named \'x\' (yet), for command "x"'])
        self.assertEqual(w.service_fds('w', 'x'),
                         [WarningEvent('service w: no handle named \'x\' (yet), '
                                       'for command "x"')])
        self.assertEqual(Fake().service_start('w'), [])

    def test_signal_clear_tells_the_mirror(self):
        c = Fake()
        c.signal_clear(signal.SIGHUP, 2)
        self.assertEqual(c.cleared, [('SIGHUP', 2)])


if __name__ == '__main__':
    unittest.main()
