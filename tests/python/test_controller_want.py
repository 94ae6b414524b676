"""dpcontroller follows the desired-state convention (docs/protocol.md,
"Desired state: a convention for controllers") and its start limits,
over the fake client of test_controller_policy (no daemon): a want down
stops a service (what requires it first) and keeps it down, with no
failure counted and who asked in the log; a want up is not followed by a
start of ours and resets the failure counts; a start limit hit marks the
service failed; a (re)started controller honours the wants it finds."""

import sys
import unittest

import _path

_path.check()

from daemonproxy import ServiceState, ServiceTags, ServiceWant      # noqa: E402
from daemonproxy.events import ServiceNotify                        # noqa: E402
from test_controller_policy import NEED, ControllerCase                # noqa: E402

if sys.version_info >= (3, 11):
    from daemonproxy.controller.config import DEFAULT_START_LIMIT, parse, parse_start_limit
    from daemonproxy.controller.policy import (
        over_start_limit, read_tags, recent_failures, unit_tags,
    )
    from daemonproxy.controller.unit import Phase


@NEED
class Limit(unittest.TestCase):
    def test_parse(self):
        self.assertEqual(parse_start_limit('5/60s'), (5, 60.0))
        self.assertEqual(parse_start_limit('3/2m'), (3, 120.0))
        self.assertEqual(parse_start_limit('none'), (0, 0.0))
        for bad in ('5', '0/10s', '5/0', '5/10d', 5, '101/1s'):
            self.assertIsNone(parse_start_limit(bad), bad)
        cfg = parse({'service': {'a': {'run': ['a']}, 'b': {'run': ['b'], 'start_limit': '2/1h'}}})
        self.assertEqual((cfg.services['a'].start_limit_burst,
                          cfg.services['a'].start_limit_interval), DEFAULT_START_LIMIT)
        self.assertEqual(cfg.services['b'].start_limit_interval, 3600)
        with self.assertRaises(Exception) as cm:
            parse({'service': {'a': {'run': ['a'], 'start_limit': 'often'}}}, 'f.toml')
        self.assertIn('f.toml: service.a.start_limit: must be "N/T"', str(cm.exception))

    def test_window(self):
        self.assertEqual(recent_failures((10, 50, 70), 100, 60), (50, 70, 100))
        self.assertTrue(over_start_limit((1, 2, 3), 3))
        self.assertFalse(over_start_limit((1, 2), 3))
        self.assertFalse(over_start_limit((1,) * 50, 0), '0: no limit')

    def test_tags(self):
        svc = parse({'service': {'a': {'run': ['a'], 'stop_timeout': 2.5,
                                       'stop_signal': 'INT'}}}).services['a']
        tags = unit_tags(svc, 2, (7, 9))
        self.assertEqual(tags[-3:], ('dpc.fails=7,9', 'stop_signal=SIGINT', 'stop_timeout=2.5'))
        self.assertEqual(read_tags(tags).fails, (7, 9))
        self.assertEqual(read_tags(tags).failures, 2)


@NEED
class Want(ControllerCase):

    def sent_since(self, n, kind=None):
        return [f for f in self.dp.sent[n:] if kind is None or f[0] == kind]

    def up(self, c, name, ts, pid):
        self.feed(c, ServiceState(name, 'up', ts, pid))

    def test_stop_timeout_kills_only_the_run_it_stopped(self):
        """dpctl restart: want down (we stop pid 10), its SIGKILL ends it,
        want up starts pid 11, and all that is in the mirror before we
        handle it: our stop's SIGKILL by name would hit pid 11."""
        c = self.controller({'a': {'run': ['a'], 'stop_timeout': 1}})
        self.up(c, 'a', 1, 10)
        self.feed(c, ServiceWant('a', 'down', 'uid=0', 2, 'restart'))
        self.assertIn(('service.signal', 'a', 'SIGTERM', 'group'), self.dp.sent)
        for ev in (ServiceState('a', 'down', 3, 10, 'signal', 'SIGKILL', 1, 0),
                   ServiceWant('a', 'up', 'uid=0', 3, 'restart'),
                   ServiceState('a', 'up', 3, 11)):
            self.dp.mirror.apply(ev)            # read, not yet handled
        n = len(self.dp.sent)
        c.on_timer_kill('a')
        c.flush()
        self.assertEqual(self.dp.sent[n:], [], 'no SIGKILL for the new run')
        # the same run still up when the timer fires: killed
        c2 = self.controller({'b': {'run': ['b'], 'stop_timeout': 1}})
        self.up(c2, 'b', 1, 20)
        self.feed(c2, ServiceWant('b', 'down', 'uid=0', 2, ''))
        c2.on_timer_kill('b')
        c2.flush()
        self.assertIn(('service.signal', 'b', 'SIGKILL', 'group'), self.dp.sent)

    def test_down_stops_requirers_first_and_sticks(self):
        c = self.controller({'db': {'run': ['db']}, 'web': {'run': ['web'], 'requires': ['db']},
                             'other': {'run': ['o'], 'after': ['db']}})
        self.up(c, 'db', 1, 10)
        self.up(c, 'other', 1, 12)
        self.up(c, 'web', 2, 11)
        n = len(self.dp.sent)
        self.feed(c, ServiceWant('db', 'down', 'uid=1000', 5, 'maintenance'))
        self.assertIn('db: wanted down by uid=1000 (maintenance)', self.lines)
        self.assertEqual(self.sent_since(n), [('service.signal', 'web', 'SIGTERM', 'group')],
                         'what requires it stops first; `after` is only an order')
        self.feed(c, ServiceState('web', 'down', 6, 11, 'signal', 'SIGTERM', 4, 0))
        self.assertEqual(self.sent_since(n)[1:], [('service.signal', 'db', 'SIGTERM', 'group')])
        self.feed(c, ServiceState('db', 'down', 6, 10, 'signal', 'SIGTERM', 5, 0))
        self.assertEqual(c.units['db'].phase, Phase.HELD)
        self.assertEqual(c.units['web'].phase, Phase.WAITING)
        self.assertEqual(c.units['other'].phase, Phase.READY)
        self.assertEqual(self.sent_since(n, 'service.start'), [], 'nothing restarted')
        self.assertEqual((c.units['db'].failures, c.units['web'].failures), (0, 0),
                         'no failure counted')
        self.assertIn('db: stopped; wanted down by uid=1000 (maintenance)', self.lines)

        # wanted up: daemonproxy starts it, we do not; what requires it follows
        n = len(self.dp.sent)
        self.feed(c, ServiceWant('db', 'up', 'uid=1000', 9))
        self.assertEqual(c.units['db'].phase, Phase.STARTING)
        self.up(c, 'db', 9, 20)
        self.assertEqual(self.sent_since(n, 'service.start'), [('service.start', 'web')])

    def test_down_while_a_restart_is_pending(self):
        c = self.controller({'a': {'run': ['a']}})
        self.up(c, 'a', 1, 10)
        self.feed(c, ServiceState('a', 'down', 2, 10, 'exit', 1, 1, 0))
        self.assertEqual(self.dp.sent[-2], ('service.start', 'a', '3'))
        self.dp.event(ServiceState('a', 'start', 3))
        n = len(self.dp.sent)
        # daemonproxy cancels the pending start itself: its want, then `down`
        self.feed(c, ServiceWant('a', 'down', 'uid=0', 2))
        self.feed(c, ServiceState('a', 'down', 2, 10, 'exit', 1, 1, 0))
        self.assertEqual(c.units['a'].phase, Phase.HELD)
        self.assertEqual(self.sent_since(n), [])

    def test_an_exit_while_wanted_down_is_no_failure(self):
        c = self.controller({'a': {'run': ['a']}})
        self.up(c, 'a', 1, 10)
        self.dp.event(ServiceWant('a', 'down', 'stdin', 2))     # not seen yet
        n = len(self.dp.sent)
        self.feed(c, ServiceState('a', 'down', 2, 10, 'exit', 1, 1, 0))
        self.assertEqual(c.units['a'].phase, Phase.HELD)
        self.assertEqual(c.units['a'].failures, 0)
        self.assertEqual(self.sent_since(n), [])

    def test_start_limit_marks_failed_and_up_clears(self):
        c = self.controller({'crash': {'run': ['x'], 'start_limit': '3/60s', 'ready': 'notify'},
                             'dep': {'run': ['d'], 'requires': ['crash']}})
        for ts in (100, 101, 103):
            self.up(c, 'crash', ts, ts)
            self.feed(c, ServiceState('crash', 'down', ts, ts, 'exit', 1, 0, 0))
        self.assertEqual(c.units['crash'].phase, Phase.FAILED)
        want = [f for f in self.dp.sent if f[0] == 'service.want']
        self.assertEqual(len(want), 1)
        self.assertEqual(want[0][:3], ('service.want', 'crash', 'failed'))
        self.assertIn('3 failures within 60s (start_limit 3/60s)', want[0][3])
        self.assertEqual([f for f in self.dp.sent if f[:2] == ('service.start', 'crash')][-1],
                         ('service.start', 'crash', '103'), 'no start after the third failure')
        self.assertEqual(c.units['dep'].phase, Phase.GAVE_UP)
        n, lines = len(self.dp.sent), len(self.lines)
        self.feed(c, ServiceWant('crash', 'failed', 'controller', 103, want[0][3]))
        self.assertEqual(self.lines[lines:], [], 'our own mark: nothing more to say')

        self.feed(c, ServiceWant('crash', 'up', 'uid=0', 200))
        self.assertEqual(self.sent_since(n, 'service.start'), [])
        self.assertEqual((c.units['crash'].failures, c.units['crash'].fails), (0, ()))
        self.assertEqual(c.units['dep'].phase, Phase.WAITING, 'revived with what it requires')
        self.up(c, 'crash', 200, 300)
        self.feed(c, ServiceState('crash', 'down', 201, 300, 'exit', 1, 1, 0))
        self.assertIn('crash: exited (exit 1) after 1s; failure 1; next start in 1s', self.lines)

    def test_a_new_controller_honours_the_wants(self):
        cfg = parse({'service': {'a': {'run': ['a']}, 'b': {'run': ['b']},
                                 'c': {'run': ['c']}}})
        for name, state in (('a', 'down'), ('b', 'up'), ('c', 'down')):
            self.dp.event(ServiceState(name, state, 1, 10 if state == 'up' else None))
            self.dp.event(ServiceTags(name, unit_tags(cfg.services[name])))
        self.dp.event(ServiceWant('a', 'down', 'uid=0', 1, 'x'))
        self.dp.event(ServiceWant('b', 'down', 'uid=0', 1))
        self.dp.event(ServiceWant('c', 'failed', 'controller', 1, 'limit'))
        c = self.controller({'a': {'run': ['a']}, 'b': {'run': ['b']}, 'c': {'run': ['c']}})
        self.assertEqual(self.dp.sent, [('service.signal', 'b', 'SIGTERM', 'group')])
        self.assertEqual((c.units['a'].phase, c.units['c'].phase), (Phase.HELD, Phase.FAILED))
        self.assertIn('a: held since 1; wanted down by uid=0 (x)', self.lines)
        n = len(self.dp.sent)
        self.feed(c, ServiceWant('a', None, 'uid=0', 2))
        self.assertEqual(self.sent_since(n), [('service.start', 'a')], 'no desire: ours again')

    def test_a_restart_racing_our_stop_gets_no_second_start(self):
        # dpctl restart: want down (we stop it), then want up as soon as it
        # is down; the daemon starts it before we handle the exit, and the
        # mirror shows all of it already
        c = self.controller({'a': {'run': ['a']}})
        self.up(c, 'a', 1, 10)
        self.feed(c, ServiceWant('a', 'down', 'uid=0', 2))
        self.assertEqual(c.units['a'].phase, Phase.STOPPING)
        n = len(self.dp.sent)
        later = [ServiceState('a', 'down', 3, 10, 'signal', 'SIGTERM', 2, 0),
                 ServiceWant('a', 'up', 'uid=0', 3), ServiceState('a', 'start', 3),
                 ServiceState('a', 'up', 3, 11)]
        for ev in later:
            self.dp.event(ev)
        for ev in later:
            c.handle(ev)
            c.flush()
        self.assertEqual(self.sent_since(n, 'service.start'), [])
        self.assertEqual(c.units['a'].phase, Phase.READY)

    def test_notify_service_wanted_up_is_not_started_twice(self):
        c = self.controller({'db': {'run': ['db'], 'ready': 'notify'}})
        self.up(c, 'db', 1, 10)
        self.feed(c, ServiceNotify('db', 1, 10, ('READY=1',)))
        self.feed(c, ServiceWant('db', 'down', 'uid=0', 2))
        self.feed(c, ServiceState('db', 'down', 3, 10, 'signal', 'SIGTERM', 2, 0))
        n = len(self.dp.sent)
        self.feed(c, ServiceWant('db', 'up', 'uid=0', 4))
        self.feed(c, ServiceState('db', 'up', 4, 11))
        self.feed(c, ServiceNotify('db', 4, 11, ('READY=1',)))
        self.assertEqual(c.units['db'].phase, Phase.READY)
        self.assertEqual(self.sent_since(n, 'service.start'), [])


if __name__ == '__main__':
    unittest.main()
