"""daemonproxy.controller.policy: back-off arithmetic and restart policy as
pure functions, tags, the commands that define a service; and the
Controller's decisions on events, over a fake client (no daemon)."""

import sys
import unittest

import _path

_path.check()

from daemonproxy import Mirror, ServiceState, Signal                # noqa: E402
from daemonproxy.errors import CommandError                         # noqa: E402
from daemonproxy.events import ServiceNotify, ServiceTags           # noqa: E402

if sys.version_info >= (3, 11):
    from daemonproxy.controller.config import parse
    from daemonproxy.controller.controller import Controller
    from daemonproxy.controller.policy import (
        Intent, argv_of, backoff_delay, count_failure, define_commands,
        describe_exit, exit_code_of, fds_of, make_tags, read_tags, should_restart, stop_tags, unit_tags,
    )

NEED = unittest.skipUnless(sys.version_info >= (3, 11), 'the controller needs tomllib (3.11)')


@NEED
class Backoff(unittest.TestCase):
    def test_exponential_capped(self):
        self.assertEqual([backoff_delay(1, 60, n) for n in range(1, 9)],
                         [1, 2, 4, 8, 16, 32, 60, 60])
        self.assertEqual([backoff_delay(3, 10, n) for n in range(1, 5)], [3, 6, 10, 10])
        self.assertEqual(backoff_delay(1, 60, 0), 0)
        self.assertEqual(backoff_delay(0.25, 60, 1), 1, 'whole seconds, at least 1')
        self.assertEqual(backoff_delay(1, 60, 10 ** 6), 60, 'no overflow')

    def test_count_and_reset(self):
        self.assertEqual(count_failure(0, 0, 30), 1)
        self.assertEqual(count_failure(3, 29, 30), 4)
        self.assertEqual(count_failure(3, 30, 30), 1, 'a long enough run resets')
        self.assertEqual(count_failure(2, None, 30), 3)

    def test_policies(self):
        for policy, reason, value, want in [
                ('always', 'exit', 0, True), ('always', 'signal', 'SIGKILL', True),
                ('on-failure', 'exit', 0, False), ('on-failure', 'exit', 1, True),
                ('on-failure', 'signal', 'SIGSEGV', True), ('never', 'exit', 1, False),
                ('never', 'exit', 0, False)]:
            self.assertEqual(should_restart(policy, reason, value), want, (policy, value))

    def test_exit_codes(self):
        self.assertEqual(exit_code_of('exit', 42), 42)
        self.assertEqual(exit_code_of('signal', 'SIGTERM'), 143)
        self.assertEqual(exit_code_of('signal', 'SIGKILL'), 137)
        self.assertEqual(exit_code_of(None, None), 1)
        self.assertEqual(describe_exit('exit', 1), 'exit 1')
        self.assertEqual(describe_exit('signal', 'SIGKILL'), 'signal SIGKILL')


@NEED
class Definition(unittest.TestCase):
    def test_tags_round_trip(self):
        self.assertEqual(make_tags('abc', 3), ('dpc', 'dpc.hash=abc', 'dpc.fail=3'))
        self.assertEqual(read_tags(make_tags('abc', 3, stopping=True) + ('other',)),
                         Intent(True, 'abc', 3, True))
        self.assertEqual(read_tags(('x',)), Intent())

    def test_commands(self):
        cfg = parse({'service': {'web': {'run': ['httpd'], 'cwd': '/srv', 'log': ['cat'],
                                         'ready': 'fd', 'env': {'A': 'b'}},
                                 'db': {'run': ['db'], 'ready': 'notify', 'stdin': 'stderr'}}})
        web, db, lg = cfg.services['web'], cfg.services['db'], cfg.services['web.log']
        # cwd is daemonproxy's cwd= option, no chain-loader in the argv
        self.assertEqual(argv_of(web), ['httpd'])
        self.assertIn(('service.opts', 'web', 'cwd=/srv'), define_commands(web, fresh=True))
        self.assertEqual(fds_of(web), ['null', 'web.log.w', 'web.log.w', 'notify.fd'])
        self.assertEqual(fds_of(lg), ['web.log.r', 'stderr', 'stderr'])
        self.assertEqual(fds_of(db), ['stderr', 'stdout', 'stderr'])
        self.assertEqual(define_commands(db, fresh=True), [
            ('service.args', 'db', 'db'), ('service.fds', 'db', 'stderr', 'stdout', 'stderr'),
            ('service.opts', 'db', 'notify'), ('service.tags', 'db') + unit_tags(db)])
        full = define_commands(web, 2)
        self.assertIn(('service.env', 'web', 'A=b'), full)
        self.assertIn(('service.opts', 'web', 'cwd=/srv'), full)
        self.assertIn(('service.auto_up', 'web', '-'), full, 'never an auto_up of our own')
        self.assertEqual(full[-1], ('service.tags', 'web') + unit_tags(web, 2))
        self.assertEqual(stop_tags(web), ('stop_signal=SIGTERM', 'stop_timeout=10'))


class FakeClient:
    """What the Controller uses of a Client: mirror, send_many, terminate."""

    def __init__(self):
        self.mirror = Mirror()
        self.mirror.begin_rebuild()
        self.mirror.end_rebuild()
        self.sent = []

    def send(self, *fields):
        self.sent.append(tuple(fields))

    def send_many(self, commands):
        # Controller.flush() sends its queue with one client.send_many()
        self.sent.extend(tuple(fields) for fields in commands)

    def terminate(self, code):
        self.sent.append(('terminate', str(code)))

    def request(self, *fields):
        # the one command the controller waits for: service.opts with
        # execution attributes; refuse: fields -> the daemon's error text
        self.sent.append(tuple(fields))
        why = getattr(self, 'refuse', {}).get(tuple(fields))
        if why is not None:
            raise CommandError(tuple(fields), why, 'error\t' + why)
        return []

    def event(self, ev):
        self.mirror.apply(ev)
        return ev


class ControllerCase(unittest.TestCase):
    """A Controller on a FakeClient, its log lines kept: the base of the
    in-process controller tests (here, test_controller_want, _phases)."""

    def setUp(self):
        self.lines = []
        self.dp = FakeClient()

    def controller(self, services, **ctl):
        cfg = parse({'controller': ctl, 'service': services}, 'f.toml')
        c = Controller(self.dp, cfg, log=lambda s, m: self.lines.append('%s: %s' % (s, m)))
        c.reconcile()
        c.flush()
        return c

    def feed(self, c, ev):
        c.handle(self.dp.event(ev))
        c.flush()


@NEED
class Decisions(ControllerCase):
    def starts(self):
        return [f[1:] for f in self.dp.sent if f[0] == 'service.start']

    def test_start_waits_for_readiness(self):
        c = self.controller({'db': {'run': ['db'], 'ready': 'notify'},
                             'web': {'run': ['web'], 'requires': ['db']}})
        self.assertEqual(self.starts(), [('db',)])
        self.feed(c, ServiceState('db', 'up', 100, 10))
        self.assertEqual(self.starts(), [('db',)], 'up is not ready for ready = "notify"')
        self.feed(c, ServiceNotify('db', 101, 10, ('READY=1',)))
        self.assertEqual(self.starts(), [('db',), ('web',)])

    def test_backoff_schedules_daemon_timer(self):
        c = self.controller({'crash': {'run': ['x'], 'backoff_base': 2}})
        for n, delay in [(1, 2), (2, 4), (3, 8)]:
            self.feed(c, ServiceState('crash', 'up', 100 * n, 10 + n))
            self.feed(c, ServiceState('crash', 'down', 100 * n, 10 + n, 'exit', 1, 0, 0))
            self.assertEqual(self.starts()[-1], ('crash', str(100 * n + delay)))
            self.assertIn(('service.tags', 'crash') + unit_tags(c.cfg.services['crash'], n,
                                                                (100 * n,)),
                          self.dp.sent)
        self.assertIn('crash: exited (exit 1) after 0s; failure 3; next start in 8s',
                      self.lines)
        # the same exit seen twice (event and resync) is decided once
        n = len(self.dp.sent)
        self.feed(c, ServiceState('crash', 'down', 300, 13, 'exit', 1, 0, 0))
        self.assertEqual(len(self.dp.sent), n)

    def test_never_gives_up_and_dependents_are_not_started(self):
        c = self.controller({'a': {'run': ['a'], 'restart': 'never', 'ready': 'notify'},
                             'b': {'run': ['b'], 'requires': ['a']}})
        self.feed(c, ServiceState('a', 'up', 5, 10))
        self.feed(c, ServiceState('a', 'down', 6, 10, 'exit', 1, 1, 0))
        self.assertEqual(self.starts(), [('a',)])
        self.assertIn('b: not started: requires a, which was given up', self.lines)

    def test_shutdown_in_reverse_order(self):
        c = self.controller({'db': {'run': ['db']}, 'web': {'run': ['web'], 'requires': ['db']}},
                            exit_code=3)
        self.feed(c, ServiceState('db', 'up', 1, 10))
        self.feed(c, ServiceState('web', 'up', 1, 11))
        self.feed(c, Signal('SIGTERM', 2, 1))
        sigs = [f for f in self.dp.sent if f[0] == 'service.signal']
        self.assertEqual(sigs, [('service.signal', 'web', 'SIGTERM', 'group')])
        self.assertIn(('signal.clear', 'SIGTERM', '1'), self.dp.sent)
        self.feed(c, ServiceState('web', 'down', 3, 11, 'signal', 'SIGTERM', 2, 0))
        sigs = [f for f in self.dp.sent if f[0] == 'service.signal']
        self.assertEqual(sigs[-1], ('service.signal', 'db', 'SIGTERM', 'group'))
        self.feed(c, ServiceState('db', 'down', 3, 10, 'exit', 0, 2, 0))
        self.assertEqual(self.dp.sent[-1], ('terminate', '3'))

    def test_adopt_running_service_with_same_hash(self):
        cfg = parse({'service': {'web': {'run': ['web']}}})
        self.dp.event(ServiceState('web', 'up', 1, 10))
        self.dp.event(ServiceTags('web', unit_tags(cfg.services['web'], 2)))
        self.controller({'web': {'run': ['web']}})
        self.assertEqual(self.dp.sent, [], 'a healthy service is left alone')
        self.assertTrue(any('adopted' in line for line in self.lines))

    def test_adopt_refreshes_stale_tags_only(self):
        # the same definition (hash), adopted after a controller restart,
        # but its published tags are older (no stop_timeout=, another
        # log_dir=): they are sent again, and nothing else is done to it
        cfg = parse({'service': {'web': {'run': ['web'], 'stop_timeout': 3,
                                         'log': {'dir': '/new/web'}}}})
        h = cfg.services['web'].hash
        self.dp.event(ServiceState('web', 'up', 1, 10))
        self.dp.event(ServiceTags('web', make_tags(h, 2) + ('log_dir=/old/web',)))
        self.dp.event(ServiceState('web.log', 'up', 2, 10))
        self.dp.event(ServiceTags('web.log', unit_tags(cfg.services['web.log'])))
        self.controller({'web': {'run': ['web'], 'stop_timeout': 3,
                                 'log': {'dir': '/new/web'}}})
        web = [f for f in self.dp.sent if f[1:2] == ('web',)]
        self.assertEqual(web, [('service.tags', 'web') + unit_tags(cfg.services['web'], 2)])
        self.assertIn('log_dir=/new/web', web[0])
        self.assertIn('stop_timeout=3', web[0])
        self.assertEqual([f for f in self.dp.sent if f[1:2] == ('web.log',)], [])

    def test_changed_definition_restarts(self):
        self.dp.event(ServiceState('web', 'up', 1, 10))
        self.dp.event(ServiceTags('web', make_tags('0000', 0)))
        self.controller({'web': {'run': ['web']}})
        self.assertIn(('service.signal', 'web', 'SIGTERM', 'group'), self.dp.sent)


if __name__ == '__main__':
    unittest.main()
