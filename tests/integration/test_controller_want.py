"""dpcontroller and the desired state (docs/protocol.md, "Desired state:
a convention for controllers"), against the real daemon:

- `service.want NAME down` under the controller: it stops the service
  and it stays down (no restart, no failure counted), the log names who
  asked; `up`: daemonproxy starts it, once (the controller sends no
  second start: no `already running` in the log);
- a crash loop hits its `start_limit`: `service.want NAME failed REASON`
  from the controller, a log line; `up` clears it and supervising resumes
  with fresh counts (up to the limit again);
- the controller crashes and the new one honours the want down it finds
  (no start, no failure counted).

Time passes by the daemon's clock: a `tick` service restarted every
second by auto-up (not the controller's) is counted, never slept on."""

import os

from test_controller import ControllerTest                 # puts python/ on the path
from daemonproxy import ServiceState, ServiceWant         # noqa: E402

BY = 'uid=%d' % os.getuid()


class WantTest(ControllerTest):
    def tick(self, n=3):
        """Let about n - 1 seconds pass on the daemon's clock: n starts of
        `tick` (auto-up every second, exits at once)."""
        if self.c.mirror.service('tick') is None:
            self.c.service_args('tick', 'true')
            self.c.service_auto_up('tick', 1, 'always')
        for _ in range(n):
            self.until_state('tick', 'up')

    def ups_after(self, name, index, states=('up', 'start')):
        """name's runs (and pending starts) among the events since index."""
        return [ev for ev in self.events[index:] if isinstance(ev, ServiceState)
                and ev.name == name and ev.state in states]

    def log_has(self, text):
        return any(text in line for line in self.d.log.snapshot())

    def web_wanted_down(self, why):
        """Boot with one service, web; want it down (why) once it runs;
        return once the controller has stopped it."""
        self.boot('''
[service.web]
run = ["sleep", "1000"]
backoff_base = 1
''')
        self.until_state('web', 'up')
        self.c.want('web', 'down', why)
        self.until_state('web', 'down')
        self.expect_log('web: stopped; wanted down by %s (%s)' % (BY, why))


class Want(WantTest):
    def test_down_sticks_and_up_starts_once(self):
        self.web_wanted_down('maintenance')
        down = len(self.events)
        self.expect_log('web: wanted down by %s (maintenance)' % BY)
        self.tick()
        self.assertEqual(self.ups_after('web', down), [], 'a stop that sticks')
        self.assertIn('dpc.fail=0', self.c.mirror.service('web').tags, 'not a failure')
        self.assertFalse(self.log_has('web: exited'), 'the stop is no exit to handle')

        self.c.want('web', 'up')
        self.until_state('web', 'up')
        up = len(self.events)
        self.expect_log('web: started by daemonproxy (wanted up)')
        self.tick()
        self.assertEqual(self.ups_after('web', up), [])
        self.assertEqual(len(self.ups_after('web', down, ('up',))), 1, 'started once')
        self.assertFalse(self.log_has('already running'))


class Limit(WantTest):
    def test_crash_loop_marked_failed_then_cleared(self):
        self.boot('''
[service.crash]
run = ["sh", "-c", "exit 3"]
backoff_base = 1
start_limit = "3/60s"
''')
        failed = self.until(lambda ev: isinstance(ev, ServiceWant) and ev.name == 'crash')
        self.assertEqual((failed.want, failed.by), ('failed', 'controller'))
        self.assertIn('3 failures within 60s (start_limit 3/60s)', failed.why)
        self.assertEqual(len(self.states('crash', 'up')), 3)
        self.expect_log('crash: exited (exit 3) after 0s; failure 3: 3 failures within 60s')
        self.expect_log('marked failed (dpctl start crash to try again)')
        self.tick(2)
        self.assertEqual(len(self.states('crash', 'up')), 3, 'not restarted')

        mark = len(self.d.log.snapshot())
        self.c.want('crash', 'up', 'fixed')
        self.until(lambda ev: isinstance(ev, ServiceWant) and ev.name == 'crash'
                   and ev.want == 'up')
        again = self.until(lambda ev: isinstance(ev, ServiceWant) and ev.name == 'crash')
        self.assertEqual(again.want, 'failed', 'supervised afresh, up to the limit again')
        self.assertEqual(len(self.states('crash', 'up')), 6)
        self.d.log.expect(lambda l: 'crash: exited (exit 3) after 0s; failure 1; next start '
                          'in 1s' in l, start=mark)


class Crash(WantTest):
    def test_a_new_controller_honours_a_want_down(self):
        self.web_wanted_down('not now')
        down = len(self.events)
        self.kill_controller()
        self.expect_log('web: held since')
        self.tick()
        self.assertEqual(self.ups_after('web', down), [])
        self.assertIn('dpc.fail=0', self.c.mirror.service('web').tags,
                      'the new controller counted no failure')
        self.assertEqual(self.c.mirror.service('web').want, 'down')
