"""daemonproxy.controller: each service's one Unit and its Phase, moved only
by Controller.set_phase, which logs every move once and refuses (loudly)
the moves unit.NEXT does not allow; the Timer table and the timers a
phase owns.  Over the fake client of test_controller_policy (no daemon)."""

import sys
import unittest

import _path

_path.check()

from daemonproxy import ServiceState, Signal                        # noqa: E402
from daemonproxy.events import ServiceNotify                        # noqa: E402
from test_controller_policy import NEED, ControllerCase, FakeClient  # noqa: E402

if sys.version_info >= (3, 11):
    from daemonproxy.controller.config import parse
    from daemonproxy.controller.controller import PHASE_TIMERS, Controller, Timer
    from daemonproxy.controller.unit import NEXT, Phase


@NEED
class Phases(unittest.TestCase):
    def setUp(self):
        self.lines = []
        self.moves = []             # (name, old, new, why, lines it logged)
        self.dp = FakeClient()

    def controller(self, services, **ctl):
        cfg = parse({'controller': ctl, 'service': services}, 'f.toml')
        c = Controller(self.dp, cfg, log=lambda s, m: self.lines.append('%s: %s' % (s, m)))
        real = c.set_phase

        def spy(unit, phase, why):
            old, before = unit.phase, len(self.lines)
            ok = real(unit, phase, why)
            self.moves.append((unit.name, old, unit.phase, why, self.lines[before:]))
            return ok
        c.set_phase = spy
        self.phases = {}
        self.step(c, c.reconcile)
        return c

    def step(self, c, what, *args):
        """Run what(*args); every phase that changed meanwhile must have
        been set by set_phase (its last move for that unit)."""
        start = len(self.moves)
        what(*args)
        c.flush()
        last = {m[0]: m[2] for m in self.moves[start:]}
        now = {n: u.phase for n, u in c.units.items()}
        for name, phase in now.items():
            if phase != self.phases.get(name, Phase.STOPPED):
                self.assertEqual(last.get(name), phase, '%s changed outside set_phase' % name)
        self.phases = now

    def feed(self, c, ev):
        self.step(c, c.handle, self.dp.event(ev))

    def test_every_move_is_set_and_logged_once(self):
        c = self.controller({'db': {'run': ['db'], 'ready': 'notify'},
                             'web': {'run': ['web'], 'requires': ['db']},
                             'crash': {'run': ['x']},
                             'job': {'run': ['j'], 'restart': 'on-failure'},
                             'once': {'run': ['o'], 'restart': 'never'}})
        self.assertEqual({n: u.phase for n, u in c.units.items()},
                         {'db': Phase.STARTING, 'web': Phase.WAITING,
                          'crash': Phase.STARTING, 'job': Phase.STARTING,
                          'once': Phase.STARTING})
        self.feed(c, ServiceState('db', 'up', 100, 10))
        self.feed(c, ServiceNotify('db', 101, 10, ('READY=1',)))
        self.feed(c, ServiceState('web', 'up', 102, 11))
        self.feed(c, ServiceState('crash', 'up', 103, 11))
        self.feed(c, ServiceState('crash', 'down', 104, 12, 'exit', 1, 1, 0))   # STARTING again
        self.feed(c, ServiceState('job', 'up', 105, 11))
        self.feed(c, ServiceState('job', 'down', 106, 12, 'exit', 0, 1, 0))
        self.feed(c, ServiceState('once', 'up', 107, 11))
        self.feed(c, ServiceState('once', 'down', 108, 12, 'exit', 3, 1, 0))
        self.assertEqual({n: u.phase for n, u in c.units.items()},
                         {'db': Phase.READY, 'web': Phase.READY, 'crash': Phase.STARTING,
                          'job': Phase.FINISHED, 'once': Phase.GAVE_UP})
        self.feed(c, Signal('SIGTERM', 107, 1))
        self.assertEqual(c.units['web'].phase, Phase.STOPPING)
        self.assertEqual(c.units['web'].stop_purpose, 'shutdown')
        self.feed(c, ServiceState('web', 'down', 108, 11, 'signal', 'SIGTERM', 2, 0))
        self.feed(c, ServiceState('db', 'down', 109, 10, 'signal', 'SIGTERM', 2, 0))
        self.assertEqual(self.dp.sent[-1], ('terminate', '0'))
        self.assertEqual(c.units['db'].stop_purpose, None, 'a purpose outlives only STOPPING')
        seen = {(old, new) for _, old, new, _, _ in self.moves}
        self.assertGreaterEqual(len(seen), 8, seen)     # the scenario's kinds of move
        for name, old, new, why, logged in self.moves:
            self.assertEqual(logged, ['%s: %s' % (name, why)], (old, new))
        # today's lines are the moves' lines, word for word
        for line in ('db: starting (configured)', 'web: waiting (configured)', 'db: ready',
                     'web: starting (configured)',
                     'crash: exited (exit 1) after 1s; failure 1; next start in 1s',
                     'job: exited (exit 0) after 1s; restart=on-failure: finished',
                     'once: exited (exit 3) after 1s; restart=never: giving up',
                     'web: stopping (shutdown): SIGTERM to the group, SIGKILL after 10s',
                     'web: stopped', 'db: stopped'):
            self.assertEqual(self.lines.count(line), 1, line)

    def test_a_move_next_does_not_allow_is_refused_loudly(self):
        c = self.controller({'db': {'run': ['db'], 'ready': 'notify'}})
        self.feed(c, ServiceState('db', 'up', 100, 10))
        u = c.units['db']
        self.step(c, c.stop, 'db', 'change')
        n = len(self.lines)
        self.step(c, lambda: self.assertFalse(c.set_phase(u, Phase.READY, 'ready')))
        self.assertEqual(self.lines[n:],
                         ['db: BUG: no move from stopping to ready (ready); staying stopping'])
        self.assertEqual((u.phase, u.stop_purpose), (Phase.STOPPING, 'change'))
        # so a READY=1 that comes while a stop goes on leaves the stop alone
        self.feed(c, ServiceNotify('db', 101, 10, ('READY=1',)))
        self.assertEqual(u.phase, Phase.STOPPING)
        self.assertFalse(any('BUG' in line for line in self.lines[n + 1:]), self.lines)

    def test_next_allows_what_a_stop_needs(self):
        self.assertEqual(NEXT[Phase.STOPPING], {Phase.STOPPED, Phase.WAITING, Phase.STOPPING,
                                                Phase.HELD, Phase.FAILED})
        for p in Phase:
            self.assertIn(Phase.STOPPING, NEXT[p], 'any phase may be stopped')
            self.assertIn(p, NEXT[Phase.STOPPED], 'a stopped service may go anywhere')


@NEED
class Timers(ControllerCase):

    def test_each_kind_has_its_handler(self):
        self.assertEqual(set(Controller.TIMER_HANDLERS), set(Timer))
        for kind, fn in Controller.TIMER_HANDLERS.items():
            self.assertIs(fn, getattr(Controller, 'on_timer_' + kind.value), kind)

    def test_run_timers_dispatches_through_the_table(self):
        c = self.controller({'a': {'run': ['a']}})
        got = []
        c.TIMER_HANDLERS = {k: (lambda k: lambda ctl, name: got.append((k, name)))(k)
                            for k in Timer}
        for i, kind in enumerate(Timer):
            c.set_timer(kind, 'n%d' % i, -1.0 + i * 0.01)
        c.set_timer(Timer.KILL, 'cancelled', -2.0)
        c.cancel_timer(Timer.KILL, 'cancelled')
        c.run_timers()
        self.assertEqual(got, [(k, 'n%d' % i) for i, k in enumerate(Timer)])
        self.assertIsNone(c.next_timeout())

    def test_kill_timer_sigkills_a_stop_and_leaving_stopping_cancels_it(self):
        c = self.controller({'a': {'run': ['a'], 'stop_timeout': 5}})
        c.handle(self.dp.event(ServiceState('a', 'up', 100, 10)))
        c.stop('a', 'shutdown')
        self.assertIn((Timer.KILL, 'a'), c.timer_due)
        c.set_timer(Timer.KILL, 'a', -1.0)          # its 5 s are over
        c.run_timers()
        c.flush()
        self.assertEqual(self.dp.sent[-1], ('service.signal', 'a', 'SIGKILL', 'group'))
        c.set_timer(Timer.KILL, 'a', 60)
        c.handle(self.dp.event(ServiceState('a', 'down', 101, 10, 'signal', 'SIGKILL', 1, 0)))
        self.assertEqual(c.units['a'].phase, Phase.STOPPED)
        self.assertNotIn((Timer.KILL, 'a'), c.timer_due)

    def test_ready_timer_lives_in_starting(self):
        self.assertEqual(PHASE_TIMERS, {Phase.STARTING: (Timer.READY, Timer.START_TIMEOUT,
                                                          Timer.RETRY),
                                        Phase.STOPPING: (Timer.KILL,)})
        c = self.controller({'a': {'run': ['a'], 'ready': 30}})
        c.handle(self.dp.event(ServiceState('a', 'up', 10**10, 100)))
        self.assertIn((Timer.READY, 'a'), c.timer_due)
        c.handle(self.dp.event(ServiceState('a', 'down', 10**10 + 1, 100, 'exit', 1, 1, 0)))
        self.assertEqual(c.units['a'].phase, Phase.STARTING)      # the restart's run
        self.assertNotIn((Timer.READY, 'a'), c.timer_due, 'the old run\'s timer is gone')


if __name__ == '__main__':
    unittest.main()
