"""protocol.py: field checks, names, limits, excerpts (docs/protocol.md,
Lines and fields; Replies and errors)."""

import os
import re
import signal
import unittest

import _path
from daemonproxy import InvalidArgument
from daemonproxy import protocol as p

_path.check()


class Fields(unittest.TestCase):
    def test_control_characters_refused(self):
        for bad in ('a\tb', 'a\nb', 'a\0b', 'a\rb', '\x1f', '\x01x'):
            with self.subTest(bad=bad):
                with self.assertRaises(InvalidArgument):
                    p.check_field(bad)

    def test_invalid_argument_is_value_error(self):
        with self.assertRaises(ValueError):
            p.check_field('a\tb')

    def test_other_text_allowed(self):
        for ok in ('', ' ', 'a b', 'é ü', '\x7f', '#x', 'x=y'):
            self.assertEqual(p.check_field(ok), ok)

    def test_non_str_fields(self):
        self.assertEqual(p.check_field(42), '42')
        self.assertEqual(p.check_field(b'ab'), 'ab')
        import pathlib
        self.assertEqual(p.check_field(pathlib.Path('/tmp/x')), '/tmp/x')
        for bad in (True, None, 1.5, ['x']):
            with self.assertRaises(InvalidArgument):
                p.check_field(bad)

    def test_undecodable_bytes_round_trip(self):
        f = p.check_field(b'\xff\xfe')
        self.assertEqual(p.encode_command(['echo', f]), b'echo\t\xff\xfe\n')


class Names(unittest.TestCase):
    def test_valid(self):
        for ok in ('a', 'web', 'A-Z_a.z-09', 'x' * 31, '.', '-'):
            self.assertEqual(p.check_name(ok), ok)

    def test_invalid(self):
        for bad in ('', 'x' * 32, 'a b', 'a/b', 'é', 'a:b', 'a\tb', 'a,b'):
            with self.subTest(bad=bad):
                with self.assertRaises(InvalidArgument) as cm:
                    p.check_name(bad, 'service', 'service.args')
                self.assertIn('invalid service name', str(cm.exception))
                self.assertEqual(cm.exception.command, 'service.args')

    def test_handle_ref(self):
        self.assertEqual(p.check_handle_ref('-'), '-')
        self.assertEqual(p.check_handle_ref('null'), 'null')
        with self.assertRaises(InvalidArgument):
            p.check_handle_ref('a b')


class Lines(unittest.TestCase):
    def test_encode(self):
        self.assertEqual(p.encode_command(['service.args', 'a', 'sleep', 5]),
                         b'service.args\ta\tsleep\t5\n')
        self.assertEqual(p.encode_command(['service.args', 'a', '']), b'service.args\ta\t\n')

    def test_line_limit_counts_bytes_and_newline(self):
        # 'echo' TAB payload newline: 4 + 1 + n + 1 <= 4096
        self.assertEqual(len(p.encode_command(['echo', 'x' * 4090])), 4096)
        with self.assertRaises(InvalidArgument):
            p.encode_command(['echo', 'x' * 4091])
        # multi-byte characters count as their UTF-8 bytes
        with self.assertRaises(InvalidArgument):
            p.encode_command(['echo', 'é' * 2046])
        self.assertEqual(len(p.encode_command(['echo', 'é' * 2045])), 4096)

    def test_command_name(self):
        for bad in ([], [''], ['#x'], ['  '], ['a\tb']):
            with self.subTest(bad=bad):
                with self.assertRaises(InvalidArgument):
                    p.encode_command(bad)

    def test_check_command_returns_text(self):
        self.assertEqual(p.check_command(['service.start', 'a', 12]),
                         ('service.start', 'a', '12'))

    def test_excerpt(self):
        # docs/protocol.md, Replies and errors: TABs kept, as the original
        # daemonproxy quotes them (earlier releases of ours showed spaces)
        data = p.encode_command(['service.start', 'some-really-long-service-name-here'])
        self.assertEqual(p.command_excerpt(data), 'service.start\tsome-really-long...')
        self.assertEqual(p.command_excerpt(b'service.start\tw\n'), 'service.start\tw')
        self.assertEqual(p.command_excerpt(b'x' * 30), 'x' * 30)
        self.assertEqual(p.command_excerpt(b'x' * 31), 'x' * 30 + '...')
        self.assertEqual(p.command_excerpt(b'echo\ta\x01b\r'), 'echo\ta?b?')
        # the earlier form
        self.assertEqual(p.command_excerpt(data, tabs=False), 'service.start some-really-long...')
        self.assertEqual(p.command_excerpt(b'service.start\tw\n', tabs=False), 'service.start w')

    def test_split_join(self):
        self.assertEqual(p.split_line('a\t\tb'), ['a', '', 'b'])
        self.assertEqual(p.join_fields(['a', '', 'b']), 'a\t\tb')
        self.assertEqual(p.decode_line(b'a\xffb'), 'a\udcffb')


class Values(unittest.TestCase):
    def test_int(self):
        self.assertEqual(p.check_int(5, 0, 10, 'n'), '5')
        self.assertEqual(p.check_int('7', 0, 10, 'n'), '7')
        for bad in (-1, 11, '1.5', 'a', '', True, 2.0):
            with self.subTest(bad=bad):
                with self.assertRaises(InvalidArgument):
                    p.check_int(bad, 0, 10, 'n')

    def test_signal(self):
        self.assertEqual(p.check_signal('TERM'), 'SIGTERM')
        self.assertEqual(p.check_signal('sigkill'), 'SIGKILL')
        self.assertEqual(p.check_signal(signal.SIGHUP), 'SIGHUP')
        self.assertEqual(p.check_signal(9), '9')
        self.assertEqual(p.check_signal('15'), '15')
        for bad in ('NOPE', '', 0, 999, 'SIG', 'TE RM', None):
            with self.subTest(bad=bad):
                with self.assertRaises(InvalidArgument):
                    p.check_signal(bad)

    def test_signal_exactly_the_daemons_table(self):
        # src/signals.c: names of its table only (any case, SIG optional),
        # numbers 1..SIGRTMAX; real-time signals and aliases by number
        self.assertEqual(len(p.SIGNAL_NAMES), 31)
        for name in p.SIGNAL_NAMES:
            self.assertEqual(p.check_signal(name[3:].lower()), name)
        self.assertEqual(p.check_signal(signal.SIGRTMIN), str(int(signal.SIGRTMIN)))
        self.assertEqual(p.check_signal(signal.SIGRTMAX), str(int(signal.SIGRTMAX)))
        self.assertEqual(p.check_signal(str(int(signal.SIGRTMAX))), str(int(signal.SIGRTMAX)))
        for bad in ('RTMIN', 'SIGRTMIN', 'SIGRTMAX', 'RTMIN+1', 'IOT', 'SIGPOLL', 'CLD',
                    '\u017figterm', 'SIGSIGTERM', int(signal.SIGRTMAX) + 1):
            with self.subTest(bad=bad):
                with self.assertRaises(InvalidArgument):
                    p.check_signal(bad)

    def test_control_signal_and_trigger(self):
        self.assertEqual(p.check_control_signal('hup'), 'SIGHUP')
        self.assertEqual(p.check_control_signal(signal.SIGUSR1), 'SIGUSR1')
        self.assertEqual(p.check_control_signal(int(signal.SIGINT)), 'SIGINT')
        with self.assertRaises(InvalidArgument):
            p.check_control_signal('SIGKILL')
        self.assertEqual(p.check_trigger('always'), 'always')
        self.assertEqual(p.check_trigger('SIGQUIT'), 'SIGQUIT')
        for bad in ('Always', 'SIGKILL', 'never'):
            with self.assertRaises(InvalidArgument):
                p.check_trigger(bad)

    def test_env_entry(self):
        for ok in ('A=1', 'A=', '-A', 'a_b=x=y', '_=1', 'X' * 255 + '=1'):
            self.assertEqual(p.check_env_entry(ok), ok)
        for bad in ('A', '=1', '1A=x', '-', '-1A', 'X' * 256 + '=1', 'A=\n'):
            with self.subTest(bad=bad):
                with self.assertRaises(InvalidArgument):
                    p.check_env_entry(bad)

    def test_option(self):
        for ok in ('notify', 'listen-fds', 'fdstore=1', 'fdstore=1024', 'user=www',
                   'user=33', 'group=www-data', 'groups=', 'groups=adm,27', 'umask=022',
                   'umask=0777', 'nice=-20', 'nice=19', 'limit-nofile=65536',
                   'limit-core=infinity', 'limit-nproc=100:200', 'limit-as=0:infinity',
                   'no-new-privs', 'cwd=/srv/www', 'cwd=rel', 'caps=cap_net_bind_service',
                   'caps=NET_RAW,cap_chown'):
            self.assertEqual(p.check_option(ok), ok)
        for bad in ('fdstore=0', 'fdstore=1025', 'fdstore=', 'Notify', 'x', 'user=', 'group=',
                    'groups=,', 'groups=a,', 'umask=8', 'umask=1000', 'umask=01777',
                    'nice=20', 'nice=-21', 'nice=', 'limit-bogus=1', 'limit-nofile=',
                    'limit-nofile=1:2:3', 'limit-nofile=-1', 'no-new-privs=1', 'cwd=',
                    'caps=', 'caps=a,', 'caps=cap-x', 'caps=cap_bogus'):
            with self.subTest(bad=bad), self.assertRaises(InvalidArgument):
                p.check_option(bad)

    def test_attribute_tables(self):
        # The names the library checks are the daemon's (src/execattr.c).
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'src',
                           'execattr.c')
        if not os.path.exists(src):
            self.skipTest('no daemon sources here')
        with open(src) as f:
            text = f.read()
        caps = text[text.index('cap_names[] = {'):]
        caps = caps[:caps.index('};')]
        self.assertEqual(tuple(re.findall(r'"([a-z_]+)"', caps)), p.CAPABILITIES)
        res = text[text.index('res_table[] = {'):]
        res = res[:res.index('};')]
        self.assertEqual(tuple(re.findall(r'"([a-z]+)"', res)), p.LIMIT_RESOURCES)

    def test_flags(self):
        self.assertEqual(p.check_flags('read,create', 'fd.open'), 'read,create')
        self.assertEqual(p.check_flags(['write', 'append'], 'fd.open'), 'write,append')
        self.assertEqual(p.check_flags(None, 'fd.pipe'), '')
        self.assertEqual(p.check_flags('tcp,listen=11', 'fd.socket'), 'tcp,listen=11')
        for cmd, bad in (('fd.open', 'bind'), ('fd.pipe', 'listen'), ('fd.pipe', 'mkdir'),
                         ('fd.socket', 'read'), ('fd.socket', 'listen=x')):
            with self.subTest(cmd=cmd, bad=bad):
                with self.assertRaises(InvalidArgument):
                    p.check_flags(bad, cmd)


class Paths(unittest.TestCase):
    def test_default_socket_path(self):
        from daemonproxy import default_socket_path as d
        self.assertEqual(d({'DAEMONPROXY_SOCKET': '/x.sock'}, 0), '/x.sock')
        self.assertEqual(d({'DAEMONPROXY_SOCKET': '/x.sock', 'XDG_RUNTIME_DIR': '/r'}, 1000),
                         '/x.sock')
        self.assertEqual(d({'DAEMONPROXY_SOCKET': ''}, 0), '/run/daemonproxy.sock')
        self.assertEqual(d({'XDG_RUNTIME_DIR': '/run/user/1000'}, 0), '/run/daemonproxy.sock')
        self.assertEqual(d({'XDG_RUNTIME_DIR': '/run/user/1000'}, 1000),
                         '/run/user/1000/daemonproxy.sock')
        # the fallback is a socket in a directory of the user's own (issue 18:
        # /tmp/daemonproxy-UID.sock was anybody's to create first)
        fallback = '/tmp/daemonproxy-1000/daemonproxy.sock'
        self.assertEqual(d({'XDG_RUNTIME_DIR': 'relative'}, 1000), fallback)
        self.assertEqual(d({'XDG_RUNTIME_DIR': ''}, 1000), fallback)
        self.assertEqual(d({}, 1000), fallback)

    def test_defaults_from_process(self):
        from daemonproxy import default_socket_path as d
        self.assertEqual(d(), d(os.environ, os.geteuid()))


if __name__ == '__main__':
    unittest.main()
