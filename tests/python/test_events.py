"""events.py: every event form of docs/protocol.md parses into its class
and renders back to the same line; malformed lines become RawEvent."""

import random
import unittest

import _path
from daemonproxy import events as e
from daemonproxy.events import parse_event

_path.check()

T = '\t'


def line(*f):
    return T.join(f)


class EveryForm(unittest.TestCase):
    def check(self, text, cls, **attrs):
        ev = parse_event(text)
        self.assertIsInstance(ev, cls, text)
        for k, v in attrs.items():
            self.assertEqual(getattr(ev, k), v, '%s of %r' % (k, text))
        self.assertEqual(ev.to_line(), text)
        self.assertEqual(parse_event(text + '\n'), ev)
        return ev

    def test_service_state_forms(self):
        S = e.ServiceState
        ev = self.check(line('service.state', 'a', 'down', '-', '-', '-', '-', '-', '-'), S,
                        name='a', state='down', ts=None, pid=None, reason=None, value=None,
                        uptime=None, downtime=None)
        self.assertFalse(ev.running)
        self.check(line('service.state', 'a', 'start', '120', '-', '-', '-', '-', '-'), S,
                   state='start', ts=120)
        ev = self.check(line('service.state', 'a', 'up', '120', '4711', '-', '-', '3', '-'), S,
                        state='up', ts=120, pid=4711, uptime=3, downtime=None)
        self.assertTrue(ev.running)
        ev = self.check(line('service.state', 'a', 'down', '130', '4711', 'exit', '127', '10',
                             '0'), S, reason='exit', value=127, uptime=10, downtime=0)
        self.assertEqual(ev.exit_code, 127)
        self.assertIsNone(ev.signal)
        ev = self.check(line('service.state', 'a', 'down', '130', '4711', 'signal', 'SIGKILL',
                             '10', '5'), S, reason='signal', value='SIGKILL', downtime=5)
        self.assertEqual(ev.signal, 'SIGKILL')
        self.assertIsNone(ev.exit_code)
        self.check(line('service.state', 'a', 'deleted', '-', '-', '-', '-', '-', '-'), S,
                   state='deleted')

    def test_definition_lists(self):
        self.check(line('service.args', 'a', 'sh', '-c', 'date; sleep 2'), e.ServiceArgs,
                   args=('sh', '-c', 'date; sleep 2'))
        self.check(line('service.args', 'a', ''), e.ServiceArgs, args=())
        self.check(line('service.fds', 'a', 'null', '-', 'stderr'), e.ServiceFds,
                   fds=('null', '-', 'stderr'))
        self.check(line('service.fds', 'a', ''), e.ServiceFds, fds=())
        self.check(line('service.tags', 'a', 't1', '', 't3'), e.ServiceTags,
                   tags=('t1', '', 't3'))
        self.check(line('service.tags', 'a', ''), e.ServiceTags, tags=())
        ev = self.check(line('service.env', 'a', 'X=1', '-Y', 'Z=a=b'), e.ServiceEnv,
                        entries=('X=1', '-Y', 'Z=a=b'))
        self.assertEqual(ev.as_dict(), {'X': '1', 'Y': None, 'Z': 'a=b'})
        self.check(line('service.env', 'a', ''), e.ServiceEnv, entries=())
        self.check(line('service.opts', 'a', 'notify', 'listen-fds', 'fdstore=4'),
                   e.ServiceOpts, opts=('notify', 'listen-fds', 'fdstore=4'))
        self.check(line('service.opts', 'a', ''), e.ServiceOpts, opts=())

    def test_auto_up(self):
        ev = self.check(line('service.auto_up', 'a', '2', 'always', 'SIGHUP'), e.ServiceAutoUp,
                        interval=2, triggers=('always', 'SIGHUP'))
        self.assertTrue(ev.enabled)
        ev = self.check(line('service.auto_up', 'a', '-'), e.ServiceAutoUp, interval=None,
                        triggers=())
        self.assertFalse(ev.enabled)

    def test_notify_live_and_replay(self):
        ev = self.check(line('service.notify', 'web', '5120', '812', 'READY=1',
                             'STATUS=serving'), e.ServiceNotify,
                        name='web', ts=5120, pid=812, assignments=('READY=1', 'STATUS=serving'))
        self.assertTrue(ev.ready)
        self.assertEqual(ev.as_dict(), {'READY': '1', 'STATUS': 'serving'})
        ev = self.check(line('service.notify', 'web', '5120', '812', 'RELOADING=1'),
                        e.ServiceNotify)
        self.assertEqual(ev.readiness, 'RELOADING=1')
        self.assertFalse(ev.ready)
        # statedump replay: STATE may be '-', then STATUS= and MAINPID=
        ev = self.check(line('service.notify', 'web', '5120', '812', '-', 'STATUS=x y',
                             'MAINPID=900'), e.ServiceNotify,
                        assignments=('-', 'STATUS=x y', 'MAINPID=900'))
        self.assertIsNone(ev.readiness)
        self.assertEqual(ev.as_dict(), {'STATUS': 'x y', 'MAINPID': '900'})
        self.check(line('service.notify', 'web', '5120', '812'), e.ServiceNotify,
                   assignments=())

    def test_cgroup(self):
        ev = self.check(line('service.cgroup', 'web', '77', 'empty'), e.ServiceCgroup,
                        ts=77, state='empty')
        self.assertFalse(ev.populated)
        self.assertTrue(parse_event(line('service.cgroup', 'w', '7', 'populated')).populated)

    def test_fd_state(self):
        self.check(line('fd.state', 'null', 'special', 'read,write', '/dev/null'), e.FdState,
                   type='special', flags='read,write', description='/dev/null')
        ev = self.check(line('fd.state', 'x', 'pipe', 'unix,dgram,nonblock,to', 'y'),
                        e.FdState)
        self.assertEqual(ev.flag_set, ('unix', 'dgram', 'nonblock', 'to'))
        self.check(line('fd.state', 's', 'socket', 'unix,stream', ''), e.FdState,
                   description='')
        ev = self.check(line('fd.state', 'q', 'deleted'), e.FdState, type='deleted',
                        flags=None, description=None)
        self.assertTrue(ev.deleted)

    def test_signal_orphan_overflow(self):
        self.check(line('signal', 'SIGHUP', '1136', '2'), e.Signal, signal='SIGHUP', ts=1136,
                   count=2)
        self.check(line('orphan', '50', '4242', 'exit', '0', 'web'), e.Orphan,
                   ts=50, pid=4242, reason='exit', value=0, service='web')
        self.check(line('orphan', '50', '4242', 'signal', 'SIGTERM', '-'), e.Orphan,
                   reason='signal', value='SIGTERM', service=None)
        ev = self.check('overflow', e.Overflow)
        self.assertIs(ev, parse_event('overflow'))

    def test_error_warning(self):
        # the excerpt keeps the command's TABs, as the daemon quotes them
        ev = self.check(line('error', 'no such service \'x\', for command "service.start\tx"'),
                        e.Error)
        self.assertEqual(ev.text, "no such service 'x'")
        self.assertEqual(ev.excerpt, 'service.start\tx')
        ev = self.check(line('error', 'service w: exec /x failed: No such file'), e.Error)
        self.assertIsNone(ev.excerpt)
        self.assertEqual(ev.text, 'service w: exec /x failed: No such file')
        ev = self.check(line('warning', 'lost, for command "a"'), e.WarningEvent)
        self.assertEqual(ev.excerpt, 'a')
        self.assertEqual(parse_event(line('error', 'a', 'b')).message, 'a\tb')
        self.check(line('log.filter', 'debug'), e.LogFilter, level='debug')

    def test_raw(self):
        for text in ('hello', 'a\tb', '', 'service.foo\tx', 'ERROR\tx'):
            self.check(text, e.RawEvent, line=text)


class Malformed(unittest.TestCase):
    BAD = [
        'service.state\ta\tup\t1\t2\t-\t-\t0',              # 8 fields
        'service.state\ta\tup\tx\t2\t-\t-\t0\t-',           # ts not a number
        'service.state\ta\tdown\t1\t2\texit\tSIGX\t0\t0',   # exit code not a number
        'service.args',
        'service.auto_up\ta',
        'service.auto_up\ta\tx\talways',
        'service.auto_up\ta\t-\talways',
        'service.notify\ta\t1',
        'service.notify\ta\tx\t2',
        'service.cgroup\ta\t1',
        'fd.state\ta\tfile\tread',
        'fd.state\ta\tgone',
        'signal\tSIGHUP\t1',
        'signal\tSIGHUP\ta\t1',
        'orphan\t1\t2\texit\t0',
        'orphan\t1\t2\texit\tx\t-',
        'overflow\tx',
        'error',
        'warning',
        'log.filter',
    ]

    def test_malformed_lines_are_raw(self):
        for text in self.BAD:
            with self.subTest(text=text):
                ev = parse_event(text)
                self.assertIsInstance(ev, e.RawEvent)
                self.assertEqual(ev.line, text)

    def test_never_raises(self):
        rnd = random.Random(7)
        words = ['service.state', 'service.notify', 'fd.state', 'signal', 'orphan', 'error',
                 '-', '1', 'x', '', 'up', 'exit', 'deleted', '\udcff', 'service.auto_up']
        for _ in range(5000):
            text = '\t'.join(rnd.choice(words) for _ in range(rnd.randrange(1, 11)))
            ev = parse_event(text)
            self.assertIsInstance(ev, e.Event)
            self.assertEqual(ev.to_line(), text)


class Immutable(unittest.TestCase):
    def test_frozen_and_hashable(self):
        ev = parse_event('signal\tSIGHUP\t1\t1')
        with self.assertRaises(AttributeError):
            ev.count = 2
        self.assertEqual(len({ev, parse_event('signal\tSIGHUP\t1\t1')}), 1)

    def test_slots(self):
        import sys
        if sys.version_info >= (3, 10):
            ev = parse_event('signal\tSIGHUP\t1\t1')
            self.assertFalse(hasattr(ev, '__dict__'))

    def test_resynced(self):
        self.assertEqual(e.Resynced(3).generation, 3)
        self.assertEqual(e.Resynced().to_line(), '')


if __name__ == '__main__':
    unittest.main()
